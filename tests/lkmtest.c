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
	static char name[64];

	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(name, sizeof(name), "%s%s", suite, sizeof(long) == 4 ? "-32" : "");
	ktap_suite = name;
	ktap_planned = planned;
	printf("KTAP version 1\n# suite: %s\n1..%d\n", name, planned);
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

bool ktap_int_eq(long long got, long long want, const char *fmt, ...)
{
	va_list ap;
	bool cond = got == want;

	if (!cond)
		ktap_diag("got %lld (%s), want %lld (%s)", got,
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

/*
 * ---------------------------------------------------------------------
 * The reliability programs' helpers (see lkmtest.h). Their headers come
 * here rather than at the top, so that this part stays one block.
 */
#include <dirent.h>
#include <limits.h>
#include <sys/ioctl.h>
#include <linux/lkm_chardev.h>

static const char *const hello_files[] = {
	"/sys/module/lkm_hello/parameters/whom",
	"/sys/module/lkm_hello/parameters/howmany", NULL
};

static const char *const chardev_files[] = { "/dev/lkm_chardev0", NULL };

static const char *const chardev_traces[] = {
	"/dev/lkm_chardev*", "/sys/class/lkmkit", "/proc/devices:lkm_chardev", NULL
};

static const char *const misc_files[] = { "/dev/lkm_pipe", NULL };

static const char *const misc_traces[] = {
	"/dev/lkm_pipe", "/sys/class/misc/lkm_pipe", "/proc/misc:lkm_pipe", NULL
};

static const char *const procfs_files[] = {
	"/proc/lkm_procfs/message", "/proc/lkm_procfs/stats",
	"/proc/lkm_procfs/records", NULL
};

static const char *const procfs_traces[] = { "/proc/lkm_procfs", NULL };

static const char *const workqueue_files[] = {
	"/proc/lkm_workqueue/submit", "/proc/lkm_workqueue/stats", NULL
};

static const char *const workqueue_traces[] = {
	"/proc/lkm_workqueue", "/sys/devices/virtual/workqueue/lkm_workqueue", NULL
};

static const char *const no_traces[] = { NULL };

static const struct lkm_info lkm_infos[] = {
	{ "lkm_hello",
	  "whom=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef howmany=64 verbose=1 ids=1,2,3,4,5,6,7,-8",
	  hello_files, "/sys/module/lkm_hello/parameters", no_traces },
	{ "lkm_chardev", "devices=64 capacity=67108864",
	  chardev_files, "/dev/lkm_chardev0", chardev_traces },
	{ "lkm_misc", "fifo_size=16777216", misc_files, "/dev/lkm_pipe", misc_traces },
	{ "lkm_procfs", "max_message=1048576 records=1000000",
	  procfs_files, "/proc/lkm_procfs", procfs_traces },
	{ "lkm_workqueue", "count=10000 interval_ms=10",
	  workqueue_files, "/proc/lkm_workqueue", workqueue_traces },
};

const struct lkm_info *lkm_info(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(lkm_infos); i++)
		if (!strcmp(lkm_infos[i].name, name))
			return &lkm_infos[i];
	ktap_bail("no module %s in lkmtest.c's lkm_infos", name);
}

/* Appends an item to the comma-separated list in buf. */
static void __printf(3, 4) list_add(char *buf, size_t size, const char *fmt, ...)
{
	size_t len = strlen(buf);
	va_list ap;

	if (len + 3 >= size)
		return;
	if (len) {
		memcpy(buf + len, ", ", 3);
		len += 2;
	}
	va_start(ap, fmt);
	vsnprintf(buf + len, size - len, fmt, ap);
	va_end(ap);
}

/* Whether a line of file path holds word. */
static bool file_has_word(const char *path, const char *word)
{
	static __thread char text[1 << 16];

	return !file_read(path, text, sizeof(text)) && strstr(text, word);
}

/* Whether /proc/modules lists module name (a line starts with its name). */
static bool in_proc_modules(const char *name)
{
	static __thread char text[1 << 16];
	size_t len = strlen(name);
	const char *p = text;

	if (file_read("/proc/modules", text, sizeof(text)))
		return false;
	while (p) {
		if (!strncmp(p, name, len) && p[len] == ' ')
			return true;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return false;
}

/* Adds to buf each entry of dir whose name starts with prefix. */
static void list_prefixed(const char *dir, const char *prefix, char *buf,
			  size_t size)
{
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, prefix, strlen(prefix)))
			list_add(buf, size, "%s/%s", dir, e->d_name);
	closedir(d);
}

const char *lkm_leftovers(const char *name, char *buf, size_t size)
{
	const struct lkm_info *m = lkm_info(name);
	const char *const *t;
	char path[PATH_MAX], word[64];

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/sys/module/%s", name);
	if (path_exists(path))
		list_add(buf, size, "%s", path);
	if (in_proc_modules(name))
		list_add(buf, size, "its line of /proc/modules");
	for (t = m->traces; *t; t++) {
		const char *colon = strchr(*t, ':');
		size_t len = strlen(*t);

		if (colon) {
			snprintf(path, sizeof(path), "%.*s", (int)(colon - *t), *t);
			if (file_has_word(path, colon + 1))
				list_add(buf, size, "%s in %s", colon + 1, path);
		} else if ((*t)[len - 1] == '*') {
			const char *slash = strrchr(*t, '/');

			snprintf(path, sizeof(path), "%.*s", (int)(slash - *t), *t);
			snprintf(word, sizeof(word), "%.*s", (int)(len - 2 - (slash - *t)),
				 slash + 1);
			list_prefixed(path, word, buf, size);
		} else if (path_exists(*t)) {
			list_add(buf, size, "%s", *t);
		}
	}
	return buf;
}

/* The smoke checks: each returns NULL or what failed. */

static const char *smoke_hello(void)
{
	static const char whom[] = "/sys/module/lkm_hello/parameters/whom";
	char buf[128];

	if (file_write(whom, "smoke\n") || file_read(whom, buf, sizeof(buf)) ||
	    strcmp(buf, "smoke\n"))
		return "whom=smoke does not read back";
	if (file_write("/sys/module/lkm_hello/parameters/howmany", "3") ||
	    file_long("/sys/module/lkm_hello/parameters/howmany") != 3)
		return "howmany=3 does not read back";
	if (file_write("/sys/module/lkm_hello/parameters/howmany", "65") != -EINVAL)
		return "howmany=65 is not refused with EINVAL";
	return NULL;
}

static const char *smoke_chardev(void)
{
	static const char text[] = "lkmkit smoke\n";
	const char *why = NULL;
	char buf[64];
	__u64 size = 1;
	int fd = open("/dev/lkm_chardev0", O_RDWR | O_TRUNC | O_CLOEXEC);

	if (fd < 0)
		return "cannot open /dev/lkm_chardev0 with O_TRUNC";
	if (write(fd, text, sizeof(text) - 1) != sizeof(text) - 1)
		why = "a write is not stored whole";
	else if (pread(fd, buf, sizeof(buf), 0) != sizeof(text) - 1 ||
		 memcmp(buf, text, sizeof(text) - 1))
		why = "what was written does not read back";
	else if (ioctl(fd, LKM_CHARDEV_GET_SIZE, &size) || size != sizeof(text) - 1)
		why = "LKM_CHARDEV_GET_SIZE is not the size written";
	else if (file_long("/sys/class/lkmkit/lkm_chardev0/size") != sizeof(text) - 1)
		why = "sysfs size is not the size written";
	else if (ioctl(fd, LKM_CHARDEV_CLEAR) || ioctl(fd, LKM_CHARDEV_GET_SIZE, &size) ||
		 size)
		why = "LKM_CHARDEV_CLEAR does not empty it";
	else if (read(fd, buf, sizeof(buf)) != 0)
		why = "a read after CLEAR is not end of file";
	close(fd);
	return why;
}

static const char *smoke_misc(void)
{
	const char *why = NULL;
	char buf[4096];
	int n = -1, fd = open("/dev/lkm_pipe", O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return "cannot open /dev/lkm_pipe";
	while (read(fd, buf, sizeof(buf)) > 0)
		;	/* what an earlier user left */
	if (write(fd, "smoke", 5) != 5)
		why = "a 5-byte write is not stored whole";
	else if (ioctl(fd, FIONREAD, &n) || n != 5)
		why = "FIONREAD is not the 5 bytes waiting";
	else if (read(fd, buf, sizeof(buf)) != 5 || memcmp(buf, "smoke", 5))
		why = "the 5 bytes do not read back";
	else if (read(fd, buf, sizeof(buf)) != -1 || errno != EAGAIN)
		why = "a read of the empty FIFO with O_NONBLOCK is not EAGAIN";
	close(fd);
	return why;
}

static const char *smoke_procfs(void)
{
	static const char msg[] = "/proc/lkm_procfs/message";
	char buf[256], want[64];
	long records = file_long("/sys/module/lkm_procfs/parameters/records");
	long max = file_long("/sys/module/lkm_procfs/parameters/max_message");
	/* "smoke", or as much of it as max_message lets the message hold. */
	int len = max > 0 && max < 5 ? (int)max : 5;
	int fd = open(msg, O_WRONLY | O_TRUNC | O_CLOEXEC);
	bool wrote = fd >= 0 && write(fd, "smoke", len) == len;

	if (fd >= 0)
		close(fd);
	if (!wrote)
		return "a message write is not stored";
	if (file_read(msg, buf, sizeof(buf)) || strncmp(buf, "smoke", len) || buf[len])
		return "the message does not read back";
	if (file_key("/proc/lkm_procfs/stats", "message_bytes") != len)
		return "stats message_bytes is not what was written";
	if (file_read("/proc/lkm_procfs/records", buf, sizeof(buf)))
		return "records cannot be read";
	snprintf(want, sizeof(want), "record 0 of %ld: square 0\n", records);
	if (records > 0 ? strncmp(buf, want, strlen(want)) : buf[0] != '\0')
		return "records does not start as documented";
	return NULL;
}

static const char *smoke_workqueue(void)
{
	static const char stats[] = "/proc/lkm_workqueue/stats";
	long until = now_ms() + 30000, done = file_key(stats, "completed");

	if (done < 0)
		return "cannot read stats";
	if (file_write("/proc/lkm_workqueue/submit", "10"))
		return "submitting 10 jobs fails";
	while (file_key(stats, "in_flight") != 0 && now_ms() < until)
		usleep(10 * 1000);
	if (file_key(stats, "completed") != done + 10)
		return "the 10 jobs did not complete in 30 s";
	return NULL;
}

const char *lkm_smoke(const char *name, char *buf, size_t size)
{
	static const struct {
		const char *name;
		const char *(*fn)(void);
	} smokes[] = {
		{ "lkm_hello", smoke_hello },
		{ "lkm_chardev", smoke_chardev },
		{ "lkm_misc", smoke_misc },
		{ "lkm_procfs", smoke_procfs },
		{ "lkm_workqueue", smoke_workqueue },
	};
	const char *why = "no smoke check for it in lkmtest.c";
	size_t i;

	for (i = 0; i < ARRAY_SIZE(smokes); i++)
		if (!strcmp(smokes[i].name, name))
			why = smokes[i].fn();
	if (!why)
		return NULL;
	snprintf(buf, size, "%s: %s", name, why);
	return buf;
}

long mem_free_total_kb(void)
{
	FILE *f = fopen("/proc/zoneinfo", "r");
	long pages = 0, n, kb = file_key("/proc/meminfo", "MemFree");
	char line[256];

	if (!f || kb < 0)
		ktap_bail("cannot read /proc/zoneinfo or /proc/meminfo");
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, " count: %ld", &n) == 1)
			pages += n;
	fclose(f);
	return kb + pages * (sysconf(_SC_PAGESIZE) / 1024);
}

int slab_usage_read(struct slab_usage *u)
{
	FILE *f = fopen("/proc/slabinfo", "r");
	char line[512];

	if (!f)
		return -errno;
	u->n = 0;
	u->bytes = 0;
	while (fgets(line, sizeof(line), f) && u->n < SLAB_CACHES_MAX) {
		struct slab_cache *c = &u->cache[u->n];
		long total;

		if (sscanf(line, "%47s %ld %ld %ld", c->name, &c->objs, &total,
			   &c->size) != 4)
			continue;	/* the two header lines */
		/*
		 * The debug kernel's bookkeeping follows every other allocation,
		 * and debugobjects refills its pool in its own time.
		 */
		if (!strncmp(c->name, "kmemleak_", 9) ||
		    !strcmp(c->name, "debug_objects_cache"))
			continue;
		u->bytes += c->objs * c->size;
		u->n++;
	}
	fclose(f);
	return 0;
}

int slab_grown(const struct slab_usage *a, const struct slab_usage *b,
	       long tol, char *buf, size_t size)
{
	int i, j, n = 0;

	buf[0] = '\0';
	for (j = 0; j < b->n; j++) {
		long before = 0;

		for (i = 0; i < a->n; i++)
			if (!strcmp(a->cache[i].name, b->cache[j].name))
				before = a->cache[i].objs;
		if (b->cache[j].objs - before <= tol)
			continue;
		list_add(buf, size, "%s +%ld", b->cache[j].name,
			 b->cache[j].objs - before);
		n++;
	}
	return n;
}

/* A frame of an alloc_traces line: module code, loaded or gone. */
static bool module_frame(const char *frame)
{
	frame += strspn(frame, " ");
	return !strncmp(frame, "0x", 2) || strchr(frame, '[');
}

/*
 * A frame of an allocation for the kernel's own pools, which keep what
 * they take for later calls, whoever's call filled them: the per-CPU
 * radix tree nodes that idr_preload() (kernfs, for a sysfs file of ours)
 * sets aside.
 */
static bool pool_frame(const char *frame)
{
	return strstr(frame, "__radix_tree_preload+");
}

/*
 * Adds the live objects of module code in one alloc_traces file to *n,
 * and their sites to buf; with show, each such site's lines as diagnostics.
 */
static int module_objects_in(const char *path, bool show, long *n, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	char *line = NULL, site[160] = "", loc[2048] = "";
	size_t cap = 0, used = 0;
	long count = 0;
	bool ours = false, pool = false;

	if (!f)
		return -errno;
	for (;;) {
		bool more = getline(&line, &cap, f) > 0;
		char *p;

		if (more)
			line[strcspn(line, "\n")] = '\0';
		/* "  COUNT SITE age=...", then its stack, a frame a line. */
		if (!more || (line[0] == ' ' && line[strspn(line, " ")] != '0' &&
			      strtol(line, &p, 10) > 0 && *p == ' ')) {
			if (ours && !pool) {
				*n += count;
				list_add(buf, size, "%ld at %s", count, site);
				if (show)
					ktap_diag("%s: %s", path, loc);
			}
			if (!more)
				break;
			count = strtol(line, &p, 10);
			p += strspn(p, " ");
			snprintf(site, sizeof(site), "%.*s", (int)strcspn(p, " "), p);
			ours = module_frame(site);
			pool = pool_frame(site);
			used = 0;
		} else {
			pool = pool || pool_frame(line);
			if (!ours && module_frame(line)) {
				ours = true;
				snprintf(site, sizeof(site), "%s", line + strspn(line, " "));
			}
		}
		if (used < sizeof(loc))
			used += snprintf(loc + used, sizeof(loc) - used, "%s%s", used ? " < " : "",
					 line + strspn(line, " "));
	}
	free(line);
	fclose(f);
	return 0;
}

static long module_objects_show(bool show, char *buf, size_t size)
{
	char path[300];
	struct dirent *e;
	DIR *d = opendir("/sys/kernel/debug/slab");
	long n = 0;
	int ret = 0;

	buf[0] = '\0';
	if (!d)
		return -errno;
	while ((e = readdir(d)) && !ret) {
		/*
		 * vmalloc's own bookkeeping: a vfree leaves the area's object to
		 * a lazy purge, or keeps it for reuse, with the stack of the
		 * vmalloc that made it.
		 */
		if (e->d_name[0] == '.' || !strcmp(e->d_name, "vmap_area"))
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/debug/slab/%s/alloc_traces", e->d_name);
		ret = module_objects_in(path, show, &n, buf, size);
	}
	closedir(d);
	return ret ? ret : n;
}

long module_objects(char *buf, size_t size)
{
	return module_objects_show(false, buf, size);
}

long module_objects_after(long before, char *buf, size_t size)
{
	long n = -1;
	int i;

	for (i = 0; i < 10; i++) {
		if (i)
			sleep(1);
		mem_settle(10000);
		n = module_objects(buf, size);
		if (n <= before)
			return n;
	}
	return n < 0 ? n : module_objects_show(true, buf, size);
}

/*
 * Shrinks every slab cache: frees its empty slabs, and on a KASAN kernel
 * takes its objects out of the quarantine, which holds freed objects back
 * (up to 1/32 of memory) and would count them as in use.
 */
static void slab_shrink_all(void)
{
	char path[300];
	struct dirent *e;
	DIR *d = opendir("/sys/kernel/slab");

	while (d && (e = readdir(d))) {
		/* Merged caches' aliases are symbolic links to the one cache. */
		if (e->d_name[0] == '.' || e->d_type != DT_DIR)
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/slab/%s/shrink", e->d_name);
		file_write(path, "1");
	}
	if (d)
		closedir(d);
}

void mem_settle(long max_ms)
{
	static struct slab_usage u;
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	long until = now_ms() + max_ms, last = -1;

	pthread_mutex_lock(&lock);
	for (;;) {
		sync();
		file_write("/proc/sys/vm/drop_caches", "3");
		slab_shrink_all();
		if (slab_usage_read(&u))
			break;
		/* Stable: less than 16 KiB freed in the last half second. */
		if (last >= 0 && u.bytes > last - 16384)
			break;
		last = u.bytes;
		if (now_ms() >= until)
			break;
		usleep(500 * 1000);
	}
	pthread_mutex_unlock(&lock);
}

void kmsg_open(struct kmsg_reader *r)
{
	if (r->fd > 0)
		close(r->fd);
	r->fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (r->fd < 0 || lseek(r->fd, 0, SEEK_END) < 0)
		ktap_bail("cannot read /dev/kmsg: %s", strerror(errno));
	r->len = 0;
	if (r->text)
		r->text[0] = '\0';
	r->lost = false;
}

const char *kmsg_read(struct kmsg_reader *r, bool *lost)
{
	char rec[8192];
	ssize_t n;

	for (;;) {
		char *msg, *end;
		size_t len;

		n = read(r->fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE) {
			r->lost = true;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
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
		len = strlen(msg);
		if (r->len + len + 2 > r->size) {
			size_t size = r->size ? r->size : 1 << 16;
			char *text;

			while (r->len + len + 2 > size)
				size *= 2;
			text = realloc(r->text, size);
			if (!text)
				ktap_bail("no memory for %zu bytes of kernel log", size);
			r->text = text;
			r->size = size;
		}
		memcpy(r->text + r->len, msg, len);
		r->len += len;
		r->text[r->len++] = '\n';
		r->text[r->len] = '\0';
	}
	if (lost)
		*lost = r->lost;
	return r->text ? r->text : "";
}

void kmsg_close(struct kmsg_reader *r)
{
	if (r->fd > 0)
		close(r->fd);
	free(r->text);
	memset(r, 0, sizeof(*r));
}
