// SPDX-License-Identifier: GPL-2.0
/* lkmtest.c - KTAP output, module loading and file helpers for guest tests. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lkmtest.h"

void *bad_ptr = (void *)8;

static int ktap_planned, ktap_run, ktap_failed;
static const char *ktap_suite;
static pthread_mutex_t ktap_lock = PTHREAD_MUTEX_INITIALIZER;

void ktap_begin(const char *suite, int planned)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	ktap_suite = suite;
	ktap_planned = planned;
	printf("KTAP version 1\n# suite: %s\n1..%d\n", suite, planned);
}

static bool ktap_vresult(bool cond, const char *fmt, va_list ap)
{
	char desc[512], *c;

	/* A description is one line, whatever values it shows. */
	vsnprintf(desc, sizeof(desc), fmt, ap);
	for (c = desc; *c; c++)
		if (*c == '\n')
			*c = ' ';
	pthread_mutex_lock(&ktap_lock);
	ktap_run++;
	if (!cond)
		ktap_failed++;
	printf("%sok %d %s\n", cond ? "" : "not ", ktap_run, desc);
	fflush(stdout);
	pthread_mutex_unlock(&ktap_lock);
	return cond;
}

bool ktap_ok(bool cond, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cond = ktap_vresult(cond, fmt, ap);
	va_end(ap);
	return cond;
}

bool ktap_int_eq(long got, long want, const char *fmt, ...)
{
	va_list ap;
	bool cond = got == want;

	if (!cond)
		ktap_diag("got %ld (%s), want %ld (%s)", got,
			  got < 0 ? strerror((int)-got) : "-",
			  want, want < 0 ? strerror((int)-want) : "-");
	va_start(ap, fmt);
	cond = ktap_vresult(cond, fmt, ap);
	va_end(ap);
	return cond;
}

void ktap_skip(const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	ktap_ok(true, "# SKIP %s", why);
}

void ktap_diag(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&ktap_lock);
	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	pthread_mutex_unlock(&ktap_lock);
}

int ktap_end(void)
{
	if (ktap_run != ktap_planned)
		ktap_diag("%s: planned %d checks, ran %d", ktap_suite,
			  ktap_planned, ktap_run);
	ktap_diag("%s: %d failed of %d", ktap_suite, ktap_failed, ktap_run);
	return ktap_failed || ktap_run != ktap_planned;
}

void ktap_bail(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&ktap_lock);
	fputs("Bail out! ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	printf("# %s: bailed out after %d of %d checks\n", ktap_suite,
	       ktap_run, ktap_planned);
	fflush(stdout);
	/* The lock stays held: no other thread adds a result after this. */
	exit(2);
}

int mod_load(const char *name, const char *params)
{
	char path[256];
	int fd, ret;

	snprintf(path, sizeof(path), LKM_MODDIR "/%s.ko", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, params ? params : "", 0);
	ret = ret ? -errno : 0;
	close(fd);
	return ret;
}

int mod_unload(const char *name)
{
	return syscall(SYS_delete_module, name, O_NONBLOCK) ? -errno : 0;
}

bool mod_loaded(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "/sys/module/%s", name);
	return path_exists(path);
}

void refused_loads(const char *module, const struct refusal *bad, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		kmsg_mark();
		ktap_eq(mod_load(module, bad[i].params), -EINVAL,
			"loading %s with %.60s gives EINVAL", module, bad[i].params);
		ktap_eq(kmsg_count(bad[i].why), 1, "dmesg says why, once: \"%s\"",
			bad[i].why);
		ktap_ok(!mod_loaded(module), "nothing stays loaded after %.60s",
			bad[i].params);
	}
}

long rw(ssize_t n)
{
	return n < 0 ? -errno : n;
}

int open_dev(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int write_all(int fd, const void *buf, size_t len)
{
	ssize_t n = write(fd, buf, len);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

/*
 * /dev/kmsg hands every reader each record once; a reader opened and moved
 * to the end by kmsg_mark() sees exactly what was logged after the mark.
 * The text grows as needed: nothing read is ever dropped.
 */
static int kmsg_fd = -1;
static char *kmsg_text;
static size_t kmsg_len, kmsg_size;
static bool kmsg_lost;

void kmsg_mark(void)
{
	if (kmsg_fd >= 0)
		close(kmsg_fd);
	kmsg_fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (kmsg_fd < 0 || lseek(kmsg_fd, 0, SEEK_END) < 0)
		ktap_bail("cannot read /dev/kmsg: %s", strerror(errno));
	kmsg_len = 0;
	if (kmsg_text)
		kmsg_text[0] = '\0';
	kmsg_lost = false;
}

/* Appends msg and a newline to the text, growing it. */
static void kmsg_append(const char *msg)
{
	size_t len = strlen(msg);

	if (kmsg_len + len + 2 > kmsg_size) {
		size_t size = kmsg_size ? kmsg_size : 1 << 16;
		char *text;

		while (kmsg_len + len + 2 > size)
			size *= 2;
		text = realloc(kmsg_text, size);
		if (!text)
			ktap_bail("no memory for %zu bytes of kernel log", size);
		kmsg_text = text;
		kmsg_size = size;
	}
	memcpy(kmsg_text + kmsg_len, msg, len);
	kmsg_len += len;
	kmsg_text[kmsg_len++] = '\n';
	kmsg_text[kmsg_len] = '\0';
}

/* Appends the message part of every record logged since the mark. */
const char *kmsg_since_mark(bool *lost)
{
	char rec[8192];
	ssize_t n;

	if (kmsg_fd < 0)
		ktap_bail("kernel log read before any mark");
	for (;;) {
		char *msg, *end;

		n = read(kmsg_fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE) {
			/* Overwritten before we read them: the next read goes on. */
			if (!kmsg_lost)
				ktap_diag("kernel log records were overwritten unread");
			kmsg_lost = true;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			ktap_bail("reading /dev/kmsg: %s", strerror(errno));
		if (n <= 0)
			break;
		rec[n] = '\0';
		msg = strchr(rec, ';');
		if (!msg)
			continue;
		msg++;
		end = strchr(msg, '\n');
		if (end)
			*end = '\0';
		kmsg_append(msg);
	}
	if (lost)
		*lost = kmsg_lost;
	return kmsg_text ? kmsg_text : "";
}

bool kmsg_wait(const char *text, long ms)
{
	long until = now_ms() + ms;

	while (!kmsg_seen(text) && now_ms() < until)
		usleep(10 * 1000);
	return kmsg_seen(text);
}

bool kmsg_seen(const char *needle)
{
	return kmsg_count(needle) > 0;
}

int kmsg_count(const char *needle)
{
	bool lost;
	const char *p = kmsg_since_mark(&lost);
	int n = 0;

	if (lost)
		ktap_bail("the kernel log lost records: cannot count \"%s\"", needle);
	while ((p = strstr(p, needle))) {
		n++;
		p += strlen(needle);
	}
	return n;
}

int file_read(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	buf[n] = '\0';
	close(fd);
	return 0;
}

int file_write(const char *path, const char *text)
{
	int ret, fd = open_dev(path, O_WRONLY);

	if (fd < 0)
		return fd;
	ret = write_all(fd, text, strlen(text));
	close(fd);
	return ret;
}

long file_long(const char *path)
{
	char buf[64];
	int ret = file_read(path, buf, sizeof(buf));

	return ret ? ret : strtol(buf, NULL, 0);
}

long file_key(const char *path, const char *key)
{
	char buf[4096], *line, *save;
	size_t len = strlen(key);

	if (file_read(path, buf, sizeof(buf)))
		return -1;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (!strncmp(line, key, len) && line[len] == ':')
			return atol(line + len + 1);
	return -1;
}

int file_mode(const char *path)
{
	struct stat st;

	return stat(path, &st) ? -errno : (int)(st.st_mode & 07777);
}

bool path_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

int as_nobody(int (*fn)(void *arg), void *arg)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534))
			_exit(255);
		_exit(-fn(arg) & 0xff);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -ECHILD;
	return -WEXITSTATUS(status);
}

void run_threads(int n, void *(*fn)(void *), void *args, size_t argsize)
{
	pthread_t tid[64];
	int i;

	if (n > 64)
		n = 64;
	for (i = 0; i < n; i++) {
		if (pthread_create(&tid[i], NULL, fn, (char *)args + i * argsize)) {
			/* The plan then goes unmet, which fails the suite. */
			ktap_diag("pthread_create failed");
			exit(1);
		}
	}
	for (i = 0; i < n; i++)
		pthread_join(tid[i], NULL);
}

long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether thread tid is in one of the n system calls nrs[] (from its syscall file). */
static bool in_syscall(const char *dir, const long *nrs, size_t n)
{
	char path[96], buf[512], *end;
	size_t i;
	long nr;

	snprintf(path, sizeof(path), "%s/syscall", dir);
	/* "running" when it runs, -1 when it sleeps outside a system call. */
	if (file_read(path, buf, sizeof(buf)))
		return false;
	nr = strtol(buf, &end, 10);
	if (end == buf || (*end != ' ' && *end != '\n'))
		return false;
	for (i = 0; i < n; i++)
		if (nrs[i] == nr)
			return true;
	return false;
}

static bool blocked_in(pid_t tid, const char *states, const long *nrs, size_t n)
{
	char dir[64], path[96], buf[1024], *p;

	/* /proc/TID is there for every thread, of this process or another. */
	snprintf(dir, sizeof(dir), "/proc/%d", (int)tid);
	if (!in_syscall(dir, nrs, n))
		return false;
	snprintf(path, sizeof(path), "%s/stat", dir);
	if (file_read(path, buf, sizeof(buf)))
		return false;
	/* "tid (comm) S ...": the name may hold anything, even ") ". */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2] || !strchr(states, p[2]))
		return false;
	/* Still the same call: it did not return and sleep in the next. */
	return in_syscall(dir, nrs, n);
}

bool wait_asleep(pid_t tid, const long *nrs, size_t n, long ms)
{
	return wait_blocked(tid, "S", nrs, n, ms);
}

bool wait_blocked(pid_t tid, const char *states, const long *nrs, size_t n,
		  long ms)
{
	long until = now_ms() + ms;

	while (!blocked_in(tid, states, nrs, n)) {
		if (now_ms() >= until)
			return false;
		usleep(2 * 1000);
	}
	return true;
}

static void *blocked_io(void *arg)
{
	struct blocked *b = arg;

	b->tid = gettid();
	b->result = rw(b->writer ? write(b->fd, b->buf, b->len) :
		       read(b->fd, b->buf, b->len));
	b->returned = true;
	return NULL;
}

pthread_t blocked_start(struct blocked *b, int fd, bool writer, char *buf,
			size_t len)
{
	pthread_t t;

	b->fd = fd;
	b->writer = writer;
	b->buf = buf;
	b->len = len;
	b->tid = 0;
	b->returned = false;
	if (pthread_create(&t, NULL, blocked_io, b))
		ktap_bail("pthread_create failed");
	return t;
}

bool blocked_asleep(struct blocked *b, long ms)
{
	static const long in_read[] = { SYS_read }, in_write[] = { SYS_write };
	long until = now_ms() + ms;

	while (!b->tid && !b->returned && now_ms() < until)
		usleep(1000);
	if (b->tid && wait_asleep(b->tid, b->writer ? in_write : in_read, 1,
				  until - now_ms()))
		return true;
	ktap_diag("the %s thread %s", b->writer ? "writer" : "reader",
		  b->returned ? "returned" : "did not fall asleep in time");
	return false;
}
