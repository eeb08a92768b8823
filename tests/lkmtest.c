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
	pthread_mutex_lock(&ktap_lock);
	ktap_run++;
	if (!cond)
		ktap_failed++;
	printf("%sok %d ", cond ? "" : "not ", ktap_run);
	vprintf(fmt, ap);
	putchar('\n');
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

/*
 * /dev/kmsg hands every reader each record once; a reader opened and moved
 * to the end by kmsg_mark() sees exactly what was logged after the mark.
 */
static int kmsg_fd = -1;
static char kmsg_text[1 << 16];

void kmsg_mark(void)
{
	if (kmsg_fd >= 0)
		close(kmsg_fd);
	kmsg_fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	lseek(kmsg_fd, 0, SEEK_END);
	kmsg_text[0] = '\0';
}

/* Appends the message part of every record logged since the mark. */
static const char *kmsg_since_mark(void)
{
	char rec[2048];
	size_t len = strlen(kmsg_text);
	ssize_t n;

	while ((n = read(kmsg_fd, rec, sizeof(rec) - 1)) > 0 ||
	       (n < 0 && errno == EPIPE)) {
		char *msg, *end;

		if (n < 0)
			continue;	/* overwritten records: keep reading */
		rec[n] = '\0';
		msg = strchr(rec, ';');
		if (!msg)
			continue;
		msg++;
		end = strchr(msg, '\n');
		if (end)
			*end = '\0';
		if (len + strlen(msg) + 2 < sizeof(kmsg_text))
			len += sprintf(kmsg_text + len, "%s\n", msg);
	}
	return kmsg_text;
}

bool kmsg_seen(const char *needle)
{
	return kmsg_count(needle) > 0;
}

int kmsg_count(const char *needle)
{
	const char *p = kmsg_since_mark();
	int n = 0;

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
	ssize_t n;
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	n = n < 0 ? -errno : 0;
	close(fd);
	return n;
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
