// SPDX-License-Identifier: GPL-2.0
/* Guest test of lkm_misc: blocking FIFO, O_NONBLOCK, poll, signals, stress. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "lkmtest.h"

#define MOD "lkm_misc"
#define PIPE "/dev/lkm_pipe"
#define FIFO 4096

/*
 * A gigabyte: far beyond any buffer here, yet within the address space so
 * that the VFS's own access_ok() lets it through to the driver (global, so
 * the compiler does not object).
 */
size_t huge_len = 1UL << 30;

static int pipe_open(int flags)
{
	return open_dev(PIPE, flags);
}

static int waiting(int fd)
{
	int n;

	return ioctl(fd, FIONREAD, &n) ? -errno : n;
}

static short poll_events(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };

	return poll(&p, 1, 0) < 0 ? -1 : p.revents;
}

/* Empties the FIFO without blocking; returns the bytes drained. */
static long drain(void)
{
	static char buf[FIFO];
	long total = 0;
	ssize_t n;
	int nb = pipe_open(O_RDONLY | O_NONBLOCK);

	while ((n = read(nb, buf, sizeof(buf))) > 0)
		total += n;
	close(nb);
	return total;
}

static void test_parameters(void)
{
	static const struct refusal bad[] = {
		{ "fifo_size=5000",
		  "fifo_size must be a power of two in 4096..16777216, got '5000'" },
		{ "fifo_size=2048",
		  "fifo_size must be a power of two in 4096..16777216, got '2048'" },
		{ "fifo_size=33554432",
		  "fifo_size must be a power of two in 4096..16777216, got '33554432'" },
		{ "fifo_size=big",
		  "fifo_size must be a power of two in 4096..16777216, got 'big'" },
	};

	refused_loads(MOD, bad, ARRAY_SIZE(bad));
	ktap_ok(!path_exists(PIPE), "refused loads leave no node");
	ktap_eq(mod_load(MOD, "fifo_size=16777216"), 0, "the largest FIFO (16 MiB) loads");
	ktap_eq(mod_unload(MOD), 0, "and unloads");
}

static void test_basics(void)
{
	static char buf[2 * FIFO], in[2 * FIFO];	/* far below the stack */
	struct stat st;
	int i, fd, nb;

	ktap_eq(mod_load(MOD, "fifo_size=4096"), 0, "load fifo_size=4096");
	ktap_ok(!stat(PIPE, &st) && S_ISCHR(st.st_mode) && major(st.st_rdev) == 10,
		"/dev/lkm_pipe is a misc character device (major 10)");
	fd = pipe_open(O_RDWR);
	nb = pipe_open(O_RDWR | O_NONBLOCK);
	ktap_ok(fd >= 0 && nb >= 0, "open blocking and non-blocking descriptors");
	ktap_eq(rw(read(nb, buf, 10)), -EAGAIN, "O_NONBLOCK read of an empty FIFO gives EAGAIN");
	ktap_eq(poll_events(fd), POLLOUT, "poll on empty: writable, not readable");
	ktap_eq(rw(read(fd, buf, 0)), 0, "a zero-length read returns 0 at once");
	ktap_eq(rw(write(fd, buf, 0)), 0, "a zero-length write returns 0");
	ktap_eq(rw(lseek(fd, 0, SEEK_SET)), -ESPIPE, "seeking gives ESPIPE");

	ktap_eq(rw(write(fd, "hello, pipe", 11)), 11, "write 11 bytes");
	ktap_eq(waiting(fd), 11, "FIONREAD says 11");
	ktap_eq(poll_events(fd), POLLIN,
		"poll: readable, not writable (fewer than PIPE_BUF bytes free)");
	ktap_eq(rw(write(nb, buf, PIPE_BUF)), -EAGAIN,
		"an O_NONBLOCK write of PIPE_BUF bytes that cannot go in whole: EAGAIN");
	ktap_eq(waiting(fd), 11, "and none of it went in");
	ktap_eq(rw(write(nb, "!", 1)), 1, "a 1-byte O_NONBLOCK write fits");
	ktap_eq(rw(read(fd, in, 1)), 1, "read back its room");
	ktap_ok(read(fd, in, sizeof(in)) == 11 && !memcmp(in, "ello, pipe!", 11),
		"a large read returns the 11 bytes there");

	for (i = 0; i < (int)sizeof(buf); i++)
		buf[i] = (char)(i * 13);
	ktap_eq(rw(write(nb, buf, sizeof(buf))), FIFO,
		"O_NONBLOCK write of 8 KiB into 4 KiB stores 4 KiB");
	ktap_eq(rw(write(nb, buf, 1)), -EAGAIN, "O_NONBLOCK write when full gives EAGAIN");
	ktap_eq(poll_events(fd), POLLIN, "poll on full: readable, not writable");
	ktap_eq(rw(read(fd, in, 1000)), 1000, "read 1000 of them");
	ktap_ok(read(fd, in + 1000, sizeof(in) - 1000) == FIFO - 1000 &&
		!memcmp(in, buf, FIFO), "the rest follows, bytes in order");

	ktap_eq(rw(write(fd, bad_ptr, 10)), -EFAULT, "write from a bad pointer gives EFAULT");
	ktap_eq(waiting(fd), 0, "and stores nothing");
	ktap_eq(rw(write(fd, "keep", 4)), 4, "write 4 bytes");
	ktap_eq(rw(read(fd, bad_ptr, 4)), -EFAULT, "read into a bad pointer gives EFAULT");
	ktap_ok(waiting(fd) == 4 && read(fd, in, 10) == 4 && !memcmp(in, "keep", 4),
		"and consumes nothing");
	ktap_eq(ioctl(fd, FIONREAD, bad_ptr) ? -errno : 0, -EFAULT,
		"FIONREAD into a bad pointer gives EFAULT");
	ktap_eq(ioctl(fd, _IO('x', 1)) ? -errno : 0, -ENOTTY, "an unknown ioctl gives ENOTTY");
	ktap_eq(rw(write(nb, buf, huge_len)), FIFO,
		"a huge O_NONBLOCK write stores what fits");
	ktap_eq(rw(read(nb, in, huge_len)), FIFO, "a huge read returns what is there");
	close(nb);
	close(fd);
}

/*
 * Blocking: a thread blocks, the test waits until it is asleep in its read
 * or write (a fixed sleep could end before the thread got there), checks it
 * has not returned, then frees it.
 */
#define ASLEEP_MS 20000

/* The blocked thread's buffer. */
static char bbuf[3 * FIFO];

static pthread_t start(struct blocked *b, int fd, bool writer, size_t len)
{
	return blocked_start(b, fd, writer, bbuf, len);
}

static bool asleep(struct blocked *b)
{
	return blocked_asleep(b, ASLEEP_MS);
}

/*
 * A signal is only sure to interrupt a thread asleep in the call: sent
 * before, it would be handled first and the call would block for good.
 */
static void must_sleep(struct blocked *b)
{
	if (!asleep(b) && !b->returned)
		ktap_bail("cannot signal a thread that is not asleep in the call");
}

static atomic_int signals;

static void on_signal(int sig)
{
	(void)sig;
	signals++;
}

/* Signals a thread asleep in its call and waits for the handler to run. */
static bool interrupt(struct blocked *b, pthread_t t)
{
	int before = signals;
	long until = now_ms() + ASLEEP_MS;

	must_sleep(b);
	pthread_kill(t, SIGUSR1);
	while (signals == before && now_ms() < until)
		usleep(1000);
	return signals != before;
}

/*
 * Reads up to len bytes through reads of up to chunk bytes, as long as
 * data keeps coming within ASLEEP_MS; returns the count read.
 */
static long read_all(int fd, char *buf, long len, long chunk)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	long got = 0;
	ssize_t n;

	while (got < len && poll(&p, 1, ASLEEP_MS) == 1 &&
	       (n = read(fd, buf + got, len - got < chunk ? len - got : chunk)) > 0)
		got += n;
	return got;
}

static void test_blocking(void)
{
	static struct blocked b;
	struct sigaction sa = { 0 };
	char buf[3 * FIFO];
	long got = 0;
	ssize_t n;
	pthread_t t;
	int i, fd = pipe_open(O_RDWR);

	if (fd < 0)
		ktap_bail("cannot open " PIPE ": %s", strerror(-fd));
	t = start(&b, fd, false, 100);
	ktap_ok(asleep(&b) && !b.returned, "a read of an empty FIFO blocks");
	ktap_eq(rw(write(fd, "x", 1)), 1, "a writer writes one byte");
	pthread_join(t, NULL);
	ktap_ok(b.result == 1 && bbuf[0] == 'x', "the blocked reader wakes with it");

	for (i = 0; i < (int)sizeof(bbuf); i++)
		bbuf[i] = (char)(i % 251);
	t = start(&b, fd, true, sizeof(bbuf));
	ktap_ok(asleep(&b) && !b.returned && waiting(fd) == FIFO,
		"a 12 KiB write into a 4 KiB FIFO fills it and blocks");
	got = read_all(fd, buf, sizeof(buf), 1000);
	pthread_join(t, NULL);
	ktap_ok(b.result == (long)sizeof(bbuf) && got == (long)sizeof(buf) &&
		!memcmp(buf, bbuf, sizeof(buf)),
		"it completes as a reader drains, all 12 KiB in order");

	/* A signal without SA_RESTART interrupts blocked readers and writers. */
	sa.sa_handler = on_signal;
	if (sigaction(SIGUSR1, &sa, NULL))
		ktap_bail("sigaction failed");
	t = start(&b, fd, false, 10);
	interrupt(&b, t);
	pthread_join(t, NULL);
	ktap_eq(b.result, -EINTR, "a signal interrupts a blocked reader with EINTR");

	ktap_eq(rw(write(fd, bbuf, FIFO - 10)), FIFO - 10, "fill all but 10 bytes");
	t = start(&b, fd, true, 100);
	ktap_ok(asleep(&b) && !b.returned && waiting(fd) == FIFO - 10,
		"a 100-byte write (up to PIPE_BUF) waits for room for all of it");
	interrupt(&b, t);
	pthread_join(t, NULL);
	ktap_eq(b.result, -EINTR, "a signal gives it EINTR, none of it written");
	t = start(&b, fd, true, PIPE_BUF + 100);
	ktap_ok(asleep(&b) && !b.returned && waiting(fd) == FIFO - 10,
		"a larger write waits for PIPE_BUF bytes of room too");
	interrupt(&b, t);
	pthread_join(t, NULL);
	ktap_eq(b.result, -EINTR, "a signal gives it EINTR, none of it written");
	ktap_eq(drain(), FIFO - 10, "nothing was lost or added");
	t = start(&b, fd, true, sizeof(bbuf));
	ktap_ok(asleep(&b) && !b.returned && waiting(fd) == FIFO,
		"a 12 KiB write into the empty FIFO stores 4 KiB and waits");
	interrupt(&b, t);
	pthread_join(t, NULL);
	ktap_eq(b.result, FIFO, "a signal returns the 4 KiB written so far");
	t = start(&b, fd, true, 100);
	interrupt(&b, t);
	pthread_join(t, NULL);
	ktap_eq(b.result, -EINTR, "a writer that wrote nothing gets EINTR");
	ktap_eq(drain(), FIFO, "nothing was lost or added: the FIFO holds 4096");

	/* With SA_RESTART the calls restart, as on a pipe. */
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGUSR1, &sa, NULL))
		ktap_bail("sigaction failed");
	t = start(&b, fd, false, 10);
	ktap_ok(interrupt(&b, t) && asleep(&b) && !b.returned,
		"with SA_RESTART the reader goes back to waiting");
	n = write(fd, "ok", 2);
	pthread_join(t, NULL);
	ktap_ok(n == 2 && b.result == 2 && !memcmp(bbuf, "ok", 2),
		"and returns the data when it comes");

	memset(buf, 'w', FIFO);
	ktap_eq(rw(write(fd, buf, FIFO)), FIFO, "fill the FIFO");
	memset(bbuf, 'r', 100);
	t = start(&b, fd, true, 100);
	ktap_ok(interrupt(&b, t) && asleep(&b) && !b.returned,
		"with SA_RESTART a writer that wrote nothing goes back to waiting");
	got = read_all(fd, buf, FIFO + 100, FIFO + 100);
	pthread_join(t, NULL);
	ktap_ok(b.result == 100 && got == FIFO + 100 &&
		buf[FIFO - 1] == 'w' && buf[FIFO] == 'r' && buf[FIFO + 99] == 'r',
		"and writes all of its 100 bytes once there is room");
	close(fd);
}

/*
 * Faulting small writes, over and over, while another thread watches
 * FIONREAD and poll: as such a write stores nothing, they must never
 * report a byte.
 */
struct fault_loop {
	int fd;
	char *buf;
	long until;
	long writes;
};

static void *faulting_writer(void *arg)
{
	struct fault_loop *f = arg;

	while (now_ms() < f->until) {
		if (write(f->fd, f->buf, 200) >= 0)
			break;
		f->writes++;
	}
	return NULL;
}

static void test_no_false_promises(int fd, char *buf)
{
	struct fault_loop f = { .fd = fd, .buf = buf, .until = now_ms() + 1500 };
	long looks = 0, lies = 0;
	pthread_t t;

	if (pthread_create(&t, NULL, faulting_writer, &f))
		ktap_bail("pthread_create failed");
	while (now_ms() < f.until) {
		lies += waiting(fd) != 0 || (poll_events(fd) & POLLIN);
		looks++;
	}
	pthread_join(t, NULL);
	ktap_diag("%ld faulting writes, %ld looks at FIONREAD and poll", f.writes, looks);
	ktap_ok(f.writes > 0 && looks > 0 && !lies,
		"FIONREAD and poll never report the bytes of a write that faults");
}

/*
 * A buffer whose second page is inaccessible: a write across the boundary
 * stores some of the bytes before it, in order, and returns their count; a
 * read across it takes exactly the bytes it delivered. How many is the
 * architecture's: copy_from_user() and copy_to_user() may stop short of a
 * fault (uaccess.h allows it, as long as they copy something when they
 * can), and arm64's do, x86's do not.
 */
static void test_partial_fault(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	char in[200], out[200], *map;
	int i, fd = pipe_open(O_RDWR | O_NONBLOCK);
	ssize_t n;

	map = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fd < 0 || map == MAP_FAILED || mprotect(map + pg, pg, PROT_NONE))
		ktap_bail("no buffer that runs into an inaccessible page");
	for (i = 0; i < 100; i++)
		map[pg - 100 + i] = (char)('A' + i % 26);
	ktap_eq(rw(write(fd, map + pg - 100, 200)), -EFAULT,
		"a write of 200 bytes (up to PIPE_BUF) faulting after 100: EFAULT");
	ktap_eq(waiting(fd), 0, "and none of it is stored");
	n = write(fd, map + pg - 100, PIPE_BUF + 100);
	ktap_diag("figure: a write faulting after 100 bytes stored %zd", n);
	ktap_ok(n > 0 && n <= 100,
		"a larger write faulting after 100 bytes returns 1 to 100");
	ktap_ok(n > 0 && waiting(fd) == n && read(fd, in, sizeof(in)) == n &&
		!memcmp(in, map + pg - 100, n),
		"and stored exactly those bytes, the first of the buffer");

	for (i = 0; i < (int)sizeof(in); i++)
		in[i] = (char)('a' + i % 26);
	ktap_eq(rw(write(fd, in, sizeof(in))), sizeof(in), "write 200 bytes");
	n = read(fd, map + pg - 100, sizeof(in));
	ktap_diag("figure: a read into a buffer faulting after 100 bytes took %zd", n);
	ktap_ok(n > 0 && n <= 100,
		"a read of 200 bytes into a buffer faulting after 100 returns 1 to 100");
	ktap_ok(n > 0 && !memcmp(map + pg - 100, in, n) && waiting(fd) == 200 - n,
		"it took exactly those bytes: FIONREAD says the rest are left");
	ktap_ok(n > 0 && read(fd, out, sizeof(out)) == 200 - n &&
		!memcmp(out, in + n, 200 - n),
		"the rest follow, in order");
	test_no_false_promises(fd, map + pg - 100);
	munmap(map, 2 * pg);
	close(fd);
}

/* Writes "late" once the waiter is asleep in one of the given calls. */
struct late {
	int fd;
	pid_t waiter;
	const long *nrs;
	size_t n;
	bool waited;
};

/*
 * The system calls a waiter sleeps in: arm64 has only the newer of each
 * pair, which its libc's poll(), select() and epoll_wait() call.
 */
static const long in_poll[] = {
#ifdef SYS_poll
	SYS_poll,
#endif
	SYS_ppoll
};

static const long in_select[] = {
#ifdef SYS_select
	SYS_select,
#endif
	SYS_pselect6
};

static const long in_epoll[] = {
#ifdef SYS_epoll_wait
	SYS_epoll_wait,
#endif
	SYS_epoll_pwait, SYS_epoll_pwait2
};

static void *late_writer(void *arg)
{
	struct late *l = arg;

	l->waited = wait_asleep(l->waiter, l->nrs, l->n, ASLEEP_MS);
	if (!l->waited)
		ktap_diag("the waiter did not fall asleep in time");
	return (void *)(long)write(l->fd, "late", 4);
}

static pthread_t late(struct late *l, int fd, const long *nrs, size_t n)
{
	pthread_t t;

	*l = (struct late){ .fd = fd, .waiter = gettid(), .nrs = nrs, .n = n };
	if (pthread_create(&t, NULL, late_writer, l))
		ktap_bail("pthread_create failed");
	return t;
}

static void test_readiness(void)
{
	struct epoll_event ev = { .events = EPOLLIN }, out;
	struct pollfd pfd;
	struct timeval tv = { 0, 0 };
	struct late l;
	fd_set rd, wr;
	pthread_t t;
	char buf[FIFO];
	int n, fd = pipe_open(O_RDWR), ep = epoll_create1(EPOLL_CLOEXEC);

	/* The waits outlast the writer's ASLEEP_MS: a failure cannot hang. */
	ktap_ok(!epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), "epoll accepts the device");
	ktap_eq(epoll_wait(ep, &out, 1, 0), 0, "epoll: empty FIFO is not readable");
	t = late(&l, fd, in_epoll, ARRAY_SIZE(in_epoll));
	n = epoll_wait(ep, &out, 1, 2 * ASLEEP_MS);
	pthread_join(t, NULL);
	ktap_ok(n == 1 && (out.events & EPOLLIN) && l.waited,
		"a blocked epoll_wait wakes when a writer writes");
	ktap_ok(read(fd, buf, sizeof(buf)) == 4, "the data is there");

	t = late(&l, fd, in_select, ARRAY_SIZE(in_select));
	FD_ZERO(&rd);
	FD_SET(fd, &rd);
	n = select(fd + 1, &rd, NULL, NULL, &(struct timeval){ 2 * ASLEEP_MS / 1000, 0 });
	pthread_join(t, NULL);
	ktap_ok(n == 1 && FD_ISSET(fd, &rd) && l.waited,
		"a blocked select wakes when a writer writes");
	drain();

	t = late(&l, fd, in_poll, ARRAY_SIZE(in_poll));
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	n = poll(&pfd, 1, 2 * ASLEEP_MS);
	pthread_join(t, NULL);
	ktap_ok(n == 1 && (pfd.revents & POLLIN) && l.waited,
		"a blocked poll wakes when a writer writes");
	drain();

	memset(buf, 'f', sizeof(buf));
	ktap_ok(write(fd, buf, FIFO) == FIFO, "fill the FIFO");
	FD_ZERO(&wr);
	FD_SET(fd, &wr);
	ktap_eq(select(fd + 1, NULL, &wr, NULL, &tv), 0, "select: a full FIFO is not writable");
	ev.events = EPOLLOUT;
	epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
	ktap_eq(epoll_wait(ep, &out, 1, 0), 0, "epoll: a full FIFO is not writable");
	ktap_ok(read(fd, buf, 1) == 1 && epoll_wait(ep, &out, 1, 0) == 0,
		"epoll: one free byte is not writable (fewer than PIPE_BUF)");
	ktap_ok(read(fd, buf, FIFO - 1) == FIFO - 1 &&
		epoll_wait(ep, &out, 1, 1000) == 1 && (out.events & EPOLLOUT),
		"epoll: writable again once PIPE_BUF bytes are free");
	drain();
	close(ep);
	close(fd);
}

/*
 * Writes of up to PIPE_BUF bytes are atomic: four writers, each writing
 * records of its own size filled with its own letter, into a FIFO mostly
 * too full for a whole record. The reader must find only whole records.
 */
static long stress_until;
static const int rec_size[4] = { 1, 100, 1000, PIPE_BUF };
static long rec_written[4];
static atomic_int rec_writers_left;

static void *record_writer(void *arg)
{
	int w = *(int *)arg, fd = pipe_open(O_WRONLY);
	char rec[PIPE_BUF];

	memset(rec, 'a' + w, sizeof(rec));
	while (now_ms() < stress_until &&
	       write(fd, rec, rec_size[w]) == rec_size[w])
		rec_written[w]++;
	close(fd);
	atomic_fetch_sub(&rec_writers_left, 1);
	return NULL;
}

static void test_atomic_writes(void)
{
	static const int ids[4] = { 0, 1, 2, 3 };
	long rec_read[4] = { 0 }, left = 0, torn = 0;
	int fd = pipe_open(O_RDONLY | O_NONBLOCK), cur = 0, i;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	unsigned int seed = 1;
	pthread_t t[4];
	char buf[3000];

	stress_until = now_ms() + 2000;
	atomic_store(&rec_writers_left, 4);
	for (i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, record_writer, (void *)&ids[i]);
	for (;;) {
		/* Odd-sized reads, so the reader cuts records anywhere. */
		ssize_t j, n = read(fd, buf, 1 + rand_r(&seed) % sizeof(buf));

		if (n < 0 && errno == EAGAIN) {
			if (!atomic_load(&rec_writers_left) && !waiting(fd))
				break;
			poll(&pfd, 1, 100);
			continue;
		}
		if (n <= 0)
			break;
		for (j = 0; j < n; j++) {
			if (!left) {	/* a record starts: its letter says whose */
				cur = buf[j] - 'a';
				if (cur < 0 || cur > 3) {
					torn++;
					cur = 0;
					continue;
				}
				left = rec_size[cur];
			}
			torn += buf[j] != 'a' + cur;
			if (!--left)
				rec_read[cur]++;
		}
	}
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	close(fd);
	ktap_diag("records of 1, 100, 1000, 4096 bytes written: %ld %ld %ld %ld",
		  rec_written[0], rec_written[1], rec_written[2], rec_written[3]);
	ktap_ok(!torn && !left && rec_written[1] > 0 && rec_written[2] > 0 &&
		rec_written[3] > 0, "writes of up to PIPE_BUF bytes are never torn");
	ktap_ok(!memcmp(rec_read, rec_written, sizeof(rec_read)),
		"every record written was read once");
}

/*
 * Stress: 4 writers and 4 readers on both CPUs for 3 s. Every byte value
 * written is counted, and so is every byte value read: the two histograms
 * must match exactly once the FIFO is drained.
 */
struct party {
	int id;
	unsigned long hist[256];
	long bytes;
	long errors;
};

static atomic_bool writers_done;
/*
 * Each writer moves 256 KiB, however long it takes (a debug kernel on a
 * loaded host moves less than 1 MB in 3 s): the limit only ends a hang.
 */
#define STRESS_BYTES	(256 * 1024)

static void *writer(void *arg)
{
	struct party *p = arg;
	unsigned int seed = p->id * 7919 + 1;
	unsigned char buf[8192];
	int fd = pipe_open(O_WRONLY);

	while (p->bytes < STRESS_BYTES && now_ms() < stress_until) {
		size_t i, len = 1 + rand_r(&seed) % sizeof(buf);

		for (i = 0; i < len; i++)
			buf[i] = rand_r(&seed);
		if (write(fd, buf, len) != (ssize_t)len) {
			p->errors++;
			continue;
		}
		for (i = 0; i < len; i++)
			p->hist[buf[i]]++;
		p->bytes += len;
	}
	close(fd);
	return NULL;
}

static void *reader(void *arg)
{
	struct party *p = arg;
	unsigned int seed = p->id;
	unsigned char buf[8192];
	int fd = pipe_open(O_RDONLY | O_NONBLOCK);
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	for (;;) {
		ssize_t i, n = read(fd, buf, 1 + rand_r(&seed) % sizeof(buf));

		if (n < 0 && errno == EAGAIN) {
			if (writers_done && waiting(fd) == 0)
				break;
			poll(&pfd, 1, 100);
			continue;
		}
		if (n <= 0) {
			p->errors++;
			break;
		}
		for (i = 0; i < n; i++)
			p->hist[buf[i]]++;
		p->bytes += n;
	}
	close(fd);
	return NULL;
}

static void *stress_writers_then_flag(void *arg)
{
	run_threads(4, writer, arg, sizeof(struct party));
	writers_done = true;
	return NULL;
}

static void test_stress(void)
{
	static struct party p[8];
	unsigned long hw[256] = { 0 }, hr[256] = { 0 };
	long wrote = 0, read_ = 0, errors = 0;
	pthread_t t;
	int i, v;

	for (i = 0; i < 8; i++)
		p[i] = (struct party){ .id = i };
	stress_until = now_ms() + 120 * 1000;
	writers_done = false;
	pthread_create(&t, NULL, stress_writers_then_flag, p);
	run_threads(4, reader, p + 4, sizeof(p[0]));
	pthread_join(t, NULL);
	for (i = 0; i < 8; i++) {
		for (v = 0; v < 256; v++)
			(i < 4 ? hw : hr)[v] += p[i].hist[v];
		*(i < 4 ? &wrote : &read_) += p[i].bytes;
		errors += p[i].errors;
	}
	ktap_diag("stress: %ld bytes written, %ld read", wrote, read_);
	ktap_ok(wrote >= 4 * STRESS_BYTES && !errors,
		"4 writers and 4 readers moved 1 MiB without an error");
	ktap_eq(read_, wrote, "every byte written was read, none twice");
	ktap_ok(!memcmp(hw, hr, sizeof(hw)),
		"the byte-value histograms of both ends match");
}

static void test_unload(void)
{
	int fd = pipe_open(O_RDONLY);

	ktap_eq(mod_unload(MOD), -EWOULDBLOCK, "unload while open is refused");
	close(fd);
	ktap_eq(mod_unload(MOD), 0, "unload after the last close");
	ktap_ok(!path_exists(PIPE), "/dev/lkm_pipe is gone");
	ktap_eq(mod_load(MOD, NULL), 0, "load with the default 64 KiB FIFO");
	fd = pipe_open(O_RDWR | O_NONBLOCK);
	{
		static char big[65536 + 1];

		ktap_eq(rw(write(fd, big, sizeof(big))), 65536, "the default FIFO holds 64 KiB");
	}
	close(fd);
	ktap_eq(mod_unload(MOD), 0, "unload with data still queued");
}

int main(void)
{
	ktap_begin("lkm_misc", 97);
	test_parameters();
	test_basics();
	test_blocking();
	test_partial_fault();
	test_readiness();
	test_atomic_writes();
	test_stress();
	test_unload();
	return ktap_end();
}
