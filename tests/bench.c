// SPDX-License-Identifier: GPL-2.0
/*
 * bench - the measurements of make bench, run in the guest (scripts/bench).
 *
 *   bench [-s] [-r REPS] MODULE...
 *
 * Each figure times a path of lkmkit (A) and its peer in the same kernel
 * (B: a tmpfs file, a pipe, the same computation in user space)
 * alternately, A B A B ..., REPS times (5 by default), and reports the
 * median of the ratios A/B, rates (higher is better), with their minimum
 * and maximum. Under emulation absolute times mean little; the ratio of two
 * paths measured side by side in one guest does. -s is make check's short
 * form: one repetition of small sizes, so that the benchmark cannot rot;
 * its timings judge nothing.
 *
 * Output: KTAP (one result per figure: it ran and its results are sane)
 * and, for scripts/bench, one line per figure:
 *   # bench-figure: ID MEDIAN MIN MAX A B UNIT TARGET DESCRIPTION
 * where A and B are the median rates in UNIT and TARGET the ratio the
 * project holds (0: none), and "# bench-info: KEY VALUE" lines.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <linux/lkm_chardev.h>

#include "lkmtest.h"

#define KIB 1024L
#define MIB (1024L * 1024)
#define MAX_REPS 31

static int reps = 5;
static bool shortform;

/* The sizes of a figure's work: the full benchmark's, or -s's. */
static long data_size;		/* chardev and tmpfs file bytes */
static long pipe_bytes;		/* streamed through the FIFO / pipe */
static long one_byte_ops;	/* 1-byte transfers, 1-byte preads */
static int record_lines;	/* lkm_procfs records= */
static int wq_jobs;		/* jobs submitted to lkm_workqueue */

#define TMPFILE "/tmp/bench-peer"
#define TMPFILE2 "/tmp/bench-peer2"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void *xmalloc(size_t n)
{
	void *p = aligned_alloc(4096, (n + 4095) & ~4095UL);

	if (!p)
		ktap_bail("out of memory (%zu bytes)", n);
	memset(p, 0x5a, n);	/* faulted in: no page fault is timed */
	return p;
}

static int xopen(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC, 0600);

	if (fd < 0)
		ktap_bail("open %s: %s", path, strerror(errno));
	return fd;
}

/* ------------------------------------------------------------ figures */

/*
 * A figure: ours() and peer() each do the same work and return its rate
 * in the figure's unit (or a negative value on an error, which fails it).
 */
struct figure {
	const char *id, *what, *unit;
	double (*ours)(struct figure *f);
	double (*peer)(struct figure *f);
	double target;		/* the ratio held, 0 for none */
	long block;		/* for the figures that take one */
	int fd[2];		/* ours, peer: set up by the group */
	int cpu;		/* the writer's CPU, for the transfers */
};

static int sort_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), sort_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void measure(struct figure *f)
{
	double ratio[MAX_REPS], a[MAX_REPS], b[MAX_REPS], mid, lo, hi;
	bool sane = true;
	int i;

	for (i = 0; i < reps; i++) {
		a[i] = f->ours(f);
		b[i] = f->peer(f);
		if (!(a[i] > 0) || !(b[i] > 0)) {
			sane = false;
			break;
		}
		ratio[i] = a[i] / b[i];
	}
	if (!ktap_ok(sane, "bench %s: %s", f->id, f->what))
		return;
	mid = median(ratio, reps);
	lo = ratio[0];
	hi = ratio[reps - 1];
	printf("# bench-figure: %s %.3f %.3f %.3f %.6g %.6g %s %.2f %s\n", f->id, mid, lo,
	       hi, median(a, reps), median(b, reps), f->unit, f->target, f->what);
	fflush(stdout);
}

/* ----------------------------------------------------- lkm_chardev */

static char *buf;		/* data_size bytes, any figure's buffer */
static char *src;		/* data_size bytes, memcpy's source */

/* Reads or writes data_size bytes of fd from offset 0, block bytes a call. */
static double stream(int fd, long block, bool write)
{
	double t = now();
	long off;

	for (off = 0; off < data_size; off += block) {
		ssize_t n = write ? pwrite(fd, buf + off, block, off)
				  : pread(fd, buf + off, block, off);

		if (n != block)
			return -1;
	}
	return data_size / (now() - t) / MIB;
}

static double read_ours(struct figure *f) { return stream(f->fd[0], f->block, false); }
static double read_peer(struct figure *f) { return stream(f->fd[1], f->block, false); }
static double write_ours(struct figure *f) { return stream(f->fd[0], f->block, true); }
static double write_peer(struct figure *f) { return stream(f->fd[1], f->block, true); }

/* The copy limit: the same bytes, block by block, by memcpy. */
static double copy_peer(struct figure *f)
{
	double t = now();
	long off;

	for (off = 0; off < data_size; off += f->block)
		memcpy(buf + off, src + off, f->block);
	/* A use of buf, so that the copies are not optimised away. */
	if (buf[data_size - 1] != src[data_size - 1])
		return -1;
	return data_size / (now() - t) / MIB;
}

/* First writes: into an emptied device, and into a truncated file. */
static double first_ours(struct figure *f)
{
	if (ioctl(f->fd[0], LKM_CHARDEV_CLEAR))
		return -1;
	return stream(f->fd[0], f->block, true);
}

static double first_peer(struct figure *f)
{
	if (ftruncate(f->fd[1], 0))
		return -1;
	return stream(f->fd[1], f->block, true);
}

static double pread1(int fd)
{
	double t = now();
	long i;
	char c;

	for (i = 0; i < one_byte_ops; i++)
		if (pread(fd, &c, 1, (i * 4099) % data_size) != 1)
			return -1;
	return one_byte_ops / (now() - t);
}

static double pread1_ours(struct figure *f) { return pread1(f->fd[0]); }
static double pread1_peer(struct figure *f) { return pread1(f->fd[1]); }

/* Readers on CPUs of their own, each streaming its fd in 64 KiB blocks. */
struct reader {
	int fd, cpu;
	long bytes;
	char *buf;
};

static void *reader_fn(void *arg)
{
	struct reader *r = arg;
	long off, block = 64 * KIB;

	pin(r->cpu);
	r->bytes = 0;
	for (off = 0; off < data_size; off += block) {
		if (pread(r->fd, r->buf + off, block, off) != block)
			return NULL;
		r->bytes += block;
	}
	return NULL;
}

static double readers(const int *fds, int n)
{
	struct reader r[2];
	double t;
	int i;

	for (i = 0; i < n; i++)
		r[i] = (struct reader){ .fd = fds[i], .cpu = i,
					.buf = i ? src : buf };
	t = now();
	run_threads(n, reader_fn, r, sizeof(r[0]));
	t = now() - t;
	for (i = 0; i < n; i++)
		if (r[i].bytes != data_size)
			return -1;
	return n * data_size / t / MIB;
}

static int dev[2];		/* /dev/lkm_chardev0 and 1 */
static int dev0_again;		/* /dev/lkm_chardev0 opened a second time */

/*
 * Each reader has an open file of its own, so that what they share is the
 * device: on one open file, two threads' preads would also contend for
 * its reference count, which the VFS takes for each call.
 */
static double shared_ours(struct figure *f __attribute__((unused)))
{
	int fds[2] = { dev[0], dev0_again };

	return readers(fds, 2);
}

static double shared_peer(struct figure *f __attribute__((unused))) { return readers(dev, 2); }
static double two_ours(struct figure *f __attribute__((unused))) { return readers(dev, 2); }
static double two_peer(struct figure *f __attribute__((unused))) { return readers(dev, 1); }

static void fill(int fd)
{
	if (pwrite(fd, src, data_size, 0) != data_size)
		ktap_bail("filling a file of %ld bytes: %s", data_size, strerror(errno));
}

static void chardev_figures(void)
{
	static const long blocks[] = { 4 * KIB, 64 * KIB, MIB };
	static const char *const names[] = { "4k", "64k", "1m" };
	char params[64], id[64], what[160];
	int tmp, i;

	snprintf(params, sizeof(params), "devices=2 capacity=%ld", data_size);
	if (mod_load("lkm_chardev", params))
		ktap_bail("cannot load lkm_chardev %s", params);
	dev[0] = xopen("/dev/lkm_chardev0", O_RDWR);
	dev[1] = xopen("/dev/lkm_chardev1", O_RDWR);
	dev0_again = xopen("/dev/lkm_chardev0", O_RDONLY);
	tmp = xopen(TMPFILE, O_RDWR | O_CREAT | O_TRUNC);
	fill(dev[0]);
	fill(dev[1]);
	fill(tmp);

	for (i = 0; i < 3; i++) {
		struct figure f = { .fd = { dev[0], tmp }, .block = blocks[i],
				    .unit = "MiB/s", .target = 1.0 };

		snprintf(id, sizeof(id), "chardev.read.%s", names[i]);
		snprintf(what, sizeof(what),
			 "lkm_chardev sequential read, %s blocks, vs a tmpfs file", names[i]);
		f.id = id;
		f.what = what;
		f.ours = read_ours;
		f.peer = read_peer;
		measure(&f);

		snprintf(id, sizeof(id), "chardev.write.%s", names[i]);
		snprintf(what, sizeof(what),
			 "lkm_chardev sequential overwrite, %s blocks, vs a tmpfs file", names[i]);
		f.ours = write_ours;
		f.peer = write_peer;
		measure(&f);

		snprintf(id, sizeof(id), "chardev.read.%s.memcpy", names[i]);
		snprintf(what, sizeof(what),
			 "lkm_chardev sequential read, %s blocks, vs memcpy, the copy limit",
			 names[i]);
		f.ours = read_ours;
		f.peer = copy_peer;
		f.target = 0;
		measure(&f);
	}

	measure(&(struct figure){ .id = "chardev.first-write.64k",
		.what = "lkm_chardev first write (emptied), 64k blocks, vs a truncated tmpfs file",
		.unit = "MiB/s", .ours = first_ours, .peer = first_peer, .target = 1.0,
		.block = 64 * KIB, .fd = { dev[0], tmp } });
	/* The devices and the file hold data again for the figures below. */
	fill(dev[0]);
	fill(tmp);
	measure(&(struct figure){ .id = "chardev.overwrite-vs-first.64k",
		.what = "lkm_chardev overwrite vs first write, 64k blocks",
		.unit = "MiB/s", .ours = write_ours, .peer = first_ours,
		.block = 64 * KIB, .fd = { dev[0], dev[0] } });
	fill(dev[0]);
	measure(&(struct figure){ .id = "chardev.pread-1",
		.what = "lkm_chardev 1-byte pread calls vs a tmpfs file",
		.unit = "calls/s", .ours = pread1_ours, .peer = pread1_peer, .target = 1.0,
		.fd = { dev[0], tmp } });
	measure(&(struct figure){ .id = "chardev.two-readers",
		.what = "lkm_chardev two readers on one device vs on two devices, 64k blocks",
		.unit = "MiB/s", .ours = shared_ours, .peer = shared_peer, .target = 0.9 });
	measure(&(struct figure){ .id = "chardev.two-threads",
		.what = "lkm_chardev two readers on two devices vs one reader, 64k blocks",
		.unit = "MiB/s", .ours = two_ours, .peer = two_peer });

	close(dev[0]);
	close(dev[1]);
	close(dev0_again);
	close(tmp);
	unlink(TMPFILE);
	mod_unload("lkm_chardev");
}

/* -------------------------------------------------------- lkm_misc */

struct transfer {
	int fd, cpu;
	long block, bytes;
	bool write;
	long done;
};

static void *transfer_fn(void *arg)
{
	struct transfer *x = arg;
	char *p = x->write ? src : buf;

	pin(x->cpu);
	x->done = 0;
	while (x->done < x->bytes) {
		long want = x->block < x->bytes - x->done ? x->block : x->bytes - x->done;
		ssize_t n = x->write ? write(x->fd, p, want) : read(x->fd, p, want);

		if (n <= 0)
			return NULL;
		x->done += n;
	}
	return NULL;
}

/*
 * Streams `bytes` from a writer to a reader through fd[0] (write) and
 * fd[1] (read), block bytes a call, the reader on CPU 0 and the writer on
 * CPU `wcpu`.
 */
static double through(const int fd[2], long block, long bytes, int wcpu, double unit)
{
	struct transfer x[2] = {
		{ .fd = fd[0], .cpu = wcpu, .block = block, .bytes = bytes, .write = true },
		{ .fd = fd[1], .cpu = 0, .block = block, .bytes = bytes },
	};
	double t = now();

	run_threads(2, transfer_fn, x, sizeof(x[0]));
	t = now() - t;
	if (x[0].done != bytes || x[1].done != bytes)
		return -1;
	return bytes / t / unit;
}

static int misc_fd[2], pipe_fd[2];

static double misc_stream(struct figure *f)
{
	return through(misc_fd, f->block, f->block == 1 ? one_byte_ops : pipe_bytes,
		       f->cpu, f->block == 1 ? 1 : MIB);
}

static double pipe_stream(struct figure *f)
{
	return through(pipe_fd, f->block, f->block == 1 ? one_byte_ops : pipe_bytes,
		       f->cpu, f->block == 1 ? 1 : MIB);
}

static void misc_figures(void)
{
	static const struct { const char *id, *what; long block; int cpu; } figs[] = {
		{ "misc.stream-64k.1cpu", "lkm_pipe 64k transfers vs pipe(2), one vCPU",
		  64 * KIB, 0 },
		{ "misc.stream-64k.2cpu", "lkm_pipe 64k transfers vs pipe(2), two vCPUs",
		  64 * KIB, 1 },
		{ "misc.bytes.1cpu", "lkm_pipe 1-byte transfers vs pipe(2), one vCPU", 1, 0 },
		{ "misc.bytes.2cpu", "lkm_pipe 1-byte transfers vs pipe(2), two vCPUs", 1, 1 },
	};
	size_t i;
	int p[2];

	if (mod_load("lkm_misc", "fifo_size=65536"))
		ktap_bail("cannot load lkm_misc");
	misc_fd[0] = xopen("/dev/lkm_pipe", O_WRONLY);
	misc_fd[1] = xopen("/dev/lkm_pipe", O_RDONLY);
	if (pipe2(p, O_CLOEXEC) || fcntl(p[1], F_SETPIPE_SZ, 65536) != 65536)
		ktap_bail("a pipe of 65536 bytes: %s", strerror(errno));
	pipe_fd[0] = p[1];
	pipe_fd[1] = p[0];
	for (i = 0; i < ARRAY_SIZE(figs); i++)
		measure(&(struct figure){ .id = figs[i].id, .what = figs[i].what,
			.unit = figs[i].block == 1 ? "bytes/s" : "MiB/s",
			.ours = misc_stream, .peer = pipe_stream, .target = 1.0,
			.block = figs[i].block, .cpu = figs[i].cpu });
	close(p[0]);
	close(p[1]);
	close(misc_fd[0]);
	close(misc_fd[1]);
	mod_unload("lkm_misc");
}

/* ------------------------------------------------------ lkm_procfs */

static char *records_text;	/* what /proc/lkm_procfs/records must hold */
static long records_len;

static double read_all(const char *path, long *total)
{
	double t = now();
	int fd = xopen(path, O_RDONLY);
	ssize_t n;

	*total = 0;
	while ((n = read(fd, buf, 64 * KIB)) > 0)
		*total += n;
	close(fd);
	if (n < 0)
		return -1;
	return *total / (now() - t) / MIB;
}

static double records_ours(struct figure *f __attribute__((unused)))
{
	long n;
	double r = read_all("/proc/lkm_procfs/records", &n);

	return n == records_len ? r : -1;
}

static double records_peer(struct figure *f __attribute__((unused)))
{
	long n;
	double r = read_all(TMPFILE, &n);

	return n == records_len ? r : -1;
}

/*
 * The file holds the text, whatever the reads' sizes: odd ones, as a
 * person's tools may use, cross every seq_file buffer boundary.
 */
static bool records_same(void)
{
	static const long sizes[] = { 1, 7, 100, 4096, 4095, 65536, 1000000 };
	int fd = xopen("/proc/lkm_procfs/records", O_RDONLY);
	char *got = xmalloc(records_len + 1);
	long off = 0, want;
	ssize_t n;
	int i;

	for (i = 0;; i++) {
		want = sizes[i % ARRAY_SIZE(sizes)];
		if (want > records_len + 1 - off)
			want = records_len + 1 - off;
		n = read(fd, got + off, want);
		if (n <= 0)
			break;
		off += n;
	}
	close(fd);
	n = !n && off == records_len && !memcmp(got, records_text, records_len);
	free(got);
	return n;
}

static void procfs_figures(void)
{
	char params[32];
	long i, len = 0;
	int fd;

	records_text = xmalloc((size_t)record_lines * 64);
	for (i = 0; i < record_lines; i++)
		len += sprintf(records_text + len, "record %ld of %d: square %ld\n",
			       i, record_lines, i * i);
	records_len = len;
	snprintf(params, sizeof(params), "records=%d", record_lines);
	if (mod_load("lkm_procfs", params))
		ktap_bail("cannot load lkm_procfs %s", params);
	fd = xopen(TMPFILE, O_WRONLY | O_CREAT | O_TRUNC);
	if (write_all(fd, records_text, records_len))
		ktap_bail("writing %s", TMPFILE);
	close(fd);
	ktap_ok(records_same(), "bench: /proc/lkm_procfs/records holds the %d lines of the text",
		record_lines);
	measure(&(struct figure){ .id = "procfs.records",
		.what = "/proc/lkm_procfs/records streamed in 64k reads vs a tmpfs file",
		.unit = "MiB/s", .ours = records_ours, .peer = records_peer, .target = 0.2 });
	unlink(TMPFILE);
	free(records_text);
	mod_unload("lkm_procfs");
}

/* --------------------------------------------------- lkm_workqueue */

#define WQ_STATS "/proc/lkm_workqueue/stats"
#define WQ_SUBMIT "/proc/lkm_workqueue/submit"

/* The module's job, in user space: the same xorshift run. */
/* Where the results go, so that the compiler cannot drop the work. */
unsigned int job_sink;

static unsigned int job(unsigned int x)
{
	int i;

	for (i = 0; i < 1000; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
	}
	return x;
}

static double user_jobs(struct figure *f __attribute__((unused)))
{
	unsigned int sink = 0;
	double t = now();
	int i;

	for (i = 0; i < wq_jobs; i++)
		sink ^= job(i + 1);
	job_sink = sink;
	return wq_jobs / (now() - t);
}

/* Submits the jobs; returns the write's rate, *all the completion's. */
static double submit(double *all)
{
	long before = file_key(WQ_STATS, "completed");
	char n[16];
	double t = now(), w;
	int fd = xopen(WQ_SUBMIT, O_WRONLY);

	snprintf(n, sizeof(n), "%d", wq_jobs);
	if (write(fd, n, strlen(n)) != (ssize_t)strlen(n)) {
		close(fd);
		return -1;
	}
	w = now() - t;
	close(fd);
	while (file_key(WQ_STATS, "completed") < before + wq_jobs) {
		if (now() - t > 120)
			return -1;
		usleep(1000);
	}
	*all = wq_jobs / (now() - t);
	return wq_jobs / w;
}

static double wq_write(struct figure *f __attribute__((unused)))
{
	double all;

	return submit(&all);
}

static double wq_complete(struct figure *f __attribute__((unused)))
{
	double all;

	return submit(&all) > 0 ? all : -1;
}

static void workqueue_figures(void)
{
	static const char *const keys[] = { "latency_us_min", "latency_us_avg",
		"latency_us_max", "latency_us_p50", "latency_us_p99" };
	size_t i;

	if (mod_load("lkm_workqueue", "count=0 interval_ms=0"))
		ktap_bail("cannot load lkm_workqueue");
	/* The target: three times the 0.77 of 0.2.0's one work item a job. */
	measure(&(struct figure){ .id = "workqueue.submit",
		.what = "lkm_workqueue the submitting write() vs the jobs' work in user space",
		.unit = "jobs/s", .ours = wq_write, .peer = user_jobs, .target = 2.3 });
	measure(&(struct figure){ .id = "workqueue.complete",
		.what = "lkm_workqueue submit to all completed vs the jobs' work in user space",
		.unit = "jobs/s", .ours = wq_complete, .peer = user_jobs, .target = 0.67 });
	for (i = 0; i < ARRAY_SIZE(keys); i++) {
		long v = file_key(WQ_STATS, keys[i]);

		if (v >= 0)
			printf("# bench-info: workqueue.%s %ld\n", keys[i], v);
	}
	mod_unload("lkm_workqueue");
}

int main(int argc, char **argv)
{
	bool want[4] = { false };
	int opt, i, planned = 0;

	while ((opt = getopt(argc, argv, "sr:")) != -1) {
		switch (opt) {
		case 's':
			shortform = true;
			reps = 1;
			break;
		case 'r':
			reps = atoi(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (reps < 1 || reps > MAX_REPS || optind == argc) {
usage:
		fprintf(stderr, "usage: %s [-s] [-r REPS (1..%d)] MODULE...\n", argv[0], MAX_REPS);
		return 2;
	}
	for (i = optind; i < argc; i++) {
		static const char *const mods[] = { "lkm_chardev", "lkm_misc", "lkm_procfs",
						    "lkm_workqueue" };
		size_t j;

		for (j = 0; j < ARRAY_SIZE(mods); j++)
			want[j] |= !strcmp(argv[i], mods[j]);
	}
	data_size = shortform ? MIB : 16 * MIB;
	pipe_bytes = shortform ? MIB : 16 * MIB;
	one_byte_ops = shortform ? 2000 : 50000;
	record_lines = shortform ? 10000 : 1000000;
	wq_jobs = shortform ? 1000 : 10000;
	planned = want[0] * 14 + want[1] * 4 + want[2] * 2 + want[3] * 2;

	ktap_begin("bench", planned);
	ktap_diag("%d repetition(s) of each figure%s", reps, shortform ? ", short form" : "");
	buf = xmalloc(data_size);
	src = xmalloc(data_size);
	pin(0);
	if (want[0])
		chardev_figures();
	if (want[1])
		misc_figures();
	if (want[2])
		procfs_figures();
	if (want[3])
		workqueue_figures();
	return ktap_end();
}
