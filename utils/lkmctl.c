// SPDX-License-Identifier: GPL-2.0
/*
 * lkmctl - the control tool of the lkmkit modules.
 *
 * Everything goes through the modules' own interfaces: the ioctls of
 * <linux/lkm_chardev.h>, FIONREAD on /dev/lkm_pipe, the /proc files, and
 * /sys/module for what is loaded with which parameters. Exit status: 0
 * done, 1 an operation failed, 2 a usage error. Messages go to standard
 * error, each naming the file, the reason and, where there is one, the
 * fix.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/lkm_chardev.h>

#ifndef LKMKIT_VERSION
#define LKMKIT_VERSION "unknown"
#endif

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

#define EXIT_FAIL	1
#define EXIT_USAGE	2

#define CHARDEV_FMT	"/dev/lkm_chardev%u"
#define PIPE_DEV	"/dev/lkm_pipe"
#define PROCFS_DIR	"/proc/lkm_procfs"
#define WQ_DIR		"/proc/lkm_workqueue"
#define MAX_DEVICES	64

static const char *const modules[] = {
	"lkm_hello", "lkm_chardev", "lkm_misc", "lkm_procfs", "lkm_workqueue",
};

static bool json;

/* ------------------------------------------------------------ output */

static void __attribute__((format(printf, 1, 2))) err(const char *fmt, ...)
{
	va_list ap;

	fputs("lkmctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* A JSON string, escaped as RFC 8259 asks. */
static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c == '\n')
			fputs("\\n", stdout);
		else if (c == '\t')
			fputs("\\t", stdout);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* ------------------------------------------------------ the modules */

static bool loaded(const char *module)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/module/%s/initstate", module);
	return access(path, F_OK) == 0;
}

/*
 * Reads a file of up to size - 1 bytes into buf, to its end (a /proc file
 * may come in several reads), without its final newline; 0 or -errno.
 */
static int read_text(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), e = 0;
	size_t len = 0;
	ssize_t n = 1;

	if (fd < 0)
		return -errno;
	while (len < size - 1 && n > 0) {
		n = read(fd, buf + len, size - 1 - len);
		if (n > 0)
			len += n;
		else if (n < 0)
			e = -errno;
	}
	close(fd);
	buf[len] = '\0';
	if (len && buf[len - 1] == '\n')
		buf[len - 1] = '\0';
	return e;
}

static int param(const char *module, const char *name, char *buf, size_t size)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/module/%s/parameters/%s", module, name);
	return read_text(path, buf, size);
}

/* Says how to load a module that is not loaded; returns EXIT_FAIL. */
static int not_loaded(const char *module, const char *what)
{
	err("%s: no such file: %s is not loaded (load it with: modprobe %s)",
	    what, module, module);
	return EXIT_FAIL;
}

/* A message for a failed open of path, with the fix where there is one. */
static int open_failed(const char *path, int e)
{
	if (e == EACCES || e == EPERM)
		err("%s: permission denied: add yourself to the lkmkit group (%s)",
		    path, "usermod -aG lkmkit $USER, then log in again");
	else
		err("%s: %s", path, strerror(e));
	return EXIT_FAIL;
}

/* The files a loaded module offers, as glob(7) patterns. */
static const char *const module_files[] = {
	"", "/dev/lkm_chardev[0-9]*", "/dev/lkm_pipe", "/proc/lkm_procfs/*",
	"/proc/lkm_workqueue/*",
};

/* Prints the files of module i: a JSON list, or an indented text line. */
static void status_files(size_t i)
{
	glob_t g = { 0 };
	size_t k;

	if (module_files[i][0])
		glob(module_files[i], 0, NULL, &g);
	if (json) {
		fputs(", \"files\": [", stdout);
		for (k = 0; k < g.gl_pathc; k++) {
			fputs(k ? ", " : "", stdout);
			json_str(g.gl_pathv[k]);
		}
		putchar(']');
	} else if (g.gl_pathc) {
		fputs("  files:", stdout);
		for (k = 0; k < g.gl_pathc; k++)
			printf(" %s", g.gl_pathv[k]);
		putchar('\n');
	}
	globfree(&g);
}

static int status(void)
{
	size_t i;

	if (json)
		fputs("{\"modules\": [", stdout);
	for (i = 0; i < ARRAY_SIZE(modules); i++) {
		const char *m = modules[i];
		char path[PATH_MAX], version[64] = "", value[256];
		struct dirent **names;
		int n, j, shown;

		if (json)
			printf("%s{\"name\": ", i ? ", " : "");
		if (json)
			json_str(m);
		if (!loaded(m)) {
			if (json)
				fputs(", \"loaded\": false}", stdout);
			else
				printf("%s: not loaded (modprobe %s)\n", m, m);
			continue;
		}
		snprintf(path, sizeof(path), "/sys/module/%s/version", m);
		read_text(path, version, sizeof(version));
		if (json) {
			fputs(", \"loaded\": true, \"version\": ", stdout);
			json_str(version);
			fputs(", \"parameters\": {", stdout);
		} else {
			printf("%s: loaded, version %s\n", m, version);
		}
		snprintf(path, sizeof(path), "/sys/module/%s/parameters", m);
		n = scandir(path, &names, NULL, alphasort);
		for (j = 0, shown = 0; j < n; j++) {
			const char *p = names[j]->d_name;

			if (p[0] != '.' && param(m, p, value, sizeof(value)) == 0) {
				if (json) {
					printf("%s", shown++ ? ", " : "");
					json_str(p);
					fputs(": ", stdout);
					json_str(value);
				} else {
					printf("  %s=%s\n", p, value);
				}
			}
			free(names[j]);
		}
		if (n >= 0)
			free(names);
		if (json)
			putchar('}');
		status_files(i);
		if (json)
			putchar('}');
	}
	if (json)
		puts("]}");
	return 0;
}

/* ------------------------------------------------------- lkm_chardev */

/* Parses a device number; -1 if it is not one. */
static long device_number(const char *s)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno || end == s || *end || n < 0 || n >= MAX_DEVICES || s[0] == '+' ||
	    s[0] == ' ')
		return -1;
	return n;
}

/* Opens /dev/lkm_chardevN, or says why not; -1 then. */
static int chardev_open(unsigned int n, int flags, char *path, size_t size)
{
	char value[32];
	int fd;

	snprintf(path, size, CHARDEV_FMT, n);
	if (!loaded("lkm_chardev")) {
		not_loaded("lkm_chardev", path);
		return -1;
	}
	fd = open(path, flags | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	if (errno == ENOENT && param("lkm_chardev", "devices", value, sizeof(value)) == 0)
		err("%s: no such device: lkm_chardev is loaded with devices=%s", path, value);
	else
		open_failed(path, errno);
	return -1;
}

struct chardev_info {
	__u64 size, capacity;
	struct lkm_chardev_stats stats;
};

static int chardev_query(int fd, const char *path, struct chardev_info *info)
{
	if (ioctl(fd, LKM_CHARDEV_GET_SIZE, &info->size) ||
	    ioctl(fd, LKM_CHARDEV_GET_CAPACITY, &info->capacity) ||
	    ioctl(fd, LKM_CHARDEV_GET_STATS, &info->stats)) {
		err("%s: ioctl: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static void chardev_print(const char *path, const struct chardev_info *i, bool stats)
{
	unsigned long long v[] = {
		i->stats.opens, i->stats.reads, i->stats.writes,
		i->stats.bytes_read, i->stats.bytes_written,
	};
	static const char *const names[] = {
		"opens", "reads", "writes", "bytes_read", "bytes_written",
	};
	size_t k;

	if (json) {
		fputs("{\"device\": ", stdout);
		json_str(path);
		printf(", \"size\": %llu, \"capacity\": %llu",
		       (unsigned long long)i->size, (unsigned long long)i->capacity);
		for (k = 0; stats && k < ARRAY_SIZE(v); k++)
			printf(", \"%s\": %llu", names[k], v[k]);
		putchar('}');
		return;
	}
	printf("%s: size %llu, capacity %llu\n", path, (unsigned long long)i->size,
	       (unsigned long long)i->capacity);
	for (k = 0; stats && k < ARRAY_SIZE(v); k++)
		printf("%s%s %llu%s", k ? ", " : "  ", names[k], v[k],
		       k + 1 < ARRAY_SIZE(v) ? "" : "\n");
}

static int chardev_list(void)
{
	char path[PATH_MAX];
	struct chardev_info info;
	int n, fd, ret = 0, shown = 0;

	if (!loaded("lkm_chardev"))
		return not_loaded("lkm_chardev", "/dev/lkm_chardev*");
	if (json)
		fputs("{\"devices\": [", stdout);
	for (n = 0; n < MAX_DEVICES; n++) {
		snprintf(path, sizeof(path), CHARDEV_FMT, n);
		if (access(path, F_OK))
			break;
		fd = chardev_open(n, O_RDONLY, path, sizeof(path));
		if (fd < 0 || chardev_query(fd, path, &info)) {
			ret = EXIT_FAIL;
		} else {
			if (json && shown++)
				fputs(", ", stdout);
			chardev_print(path, &info, false);
		}
		if (fd >= 0)
			close(fd);
	}
	if (json)
		puts("]}");
	return ret;
}

static int chardev_cmd(int argc, char **argv)
{
	static const char *const sub[] = { "info", "clear", "stats", "reset-stats" };
	struct chardev_info info;
	char path[PATH_MAX];
	size_t which;
	long n;
	int fd, ret = 0;

	if (argc == 1 && !strcmp(argv[0], "list"))
		return chardev_list();
	for (which = 0; which < ARRAY_SIZE(sub); which++)
		if (argc == 2 && !strcmp(argv[0], sub[which]))
			break;
	if (argc != 2 || which == ARRAY_SIZE(sub)) {
		err("usage: lkmctl chardev list | info N | clear N | stats N | reset-stats N");
		return EXIT_USAGE;
	}
	n = device_number(argv[1]);
	if (n < 0) {
		err("%s: not a device number (0..%d)", argv[1], MAX_DEVICES - 1);
		return EXIT_USAGE;
	}
	fd = chardev_open(n, which == 1 ? O_WRONLY : O_RDONLY, path, sizeof(path));
	if (fd < 0)
		return EXIT_FAIL;
	switch (which) {
	case 0:
	case 2:
		ret = chardev_query(fd, path, &info) ? EXIT_FAIL : 0;
		if (!ret) {
			chardev_print(path, &info, which == 2);
			if (json)
				putchar('\n');
		}
		break;
	case 1:
		if (ioctl(fd, LKM_CHARDEV_CLEAR)) {
			err("%s: clear: %s", path, strerror(errno));
			ret = EXIT_FAIL;
		}
		break;
	case 3:
		if (ioctl(fd, LKM_CHARDEV_RESET_STATS)) {
			if (errno == EPERM)
				err("%s: reset-stats: %s", path,
				    "operation not permitted: only root may reset the counters");
			else
				err("%s: reset-stats: %s", path, strerror(errno));
			ret = EXIT_FAIL;
		}
		break;
	}
	close(fd);
	return ret;
}

/* ---------------------------------------------------------- lkm_misc */

static int pipe_cmd(int argc, char **argv)
{
	char capacity[32] = "";
	int fd, waiting;

	if (argc != 1 || strcmp(argv[0], "info")) {
		err("usage: lkmctl pipe info");
		return EXIT_USAGE;
	}
	if (!loaded("lkm_misc"))
		return not_loaded("lkm_misc", PIPE_DEV);
	/* O_NONBLOCK: a descriptor to ask, not to read with. */
	fd = open(PIPE_DEV, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return open_failed(PIPE_DEV, errno);
	if (ioctl(fd, FIONREAD, &waiting)) {
		err("%s: FIONREAD: %s", PIPE_DEV, strerror(errno));
		close(fd);
		return EXIT_FAIL;
	}
	close(fd);
	param("lkm_misc", "fifo_size", capacity, sizeof(capacity));
	if (json)
		printf("{\"device\": \"%s\", \"bytes_waiting\": %d, \"capacity\": %s}\n",
		       PIPE_DEV, waiting, capacity[0] ? capacity : "null");
	else
		printf("%s: %d bytes waiting, capacity %s\n", PIPE_DEV, waiting, capacity);
	return 0;
}

/* -------------------------------------------------------- lkm_procfs */

/* Copies path to standard output; counts its lines if *lines. */
static int cat(const char *path, long *lines)
{
	char buf[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return open_failed(path, errno);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (lines) {
			char *p = buf;

			while ((p = memchr(p, '\n', buf + n - p))) {
				++*lines;
				p++;
			}
		} else if (fwrite(buf, 1, n, stdout) != (size_t)n) {
			break;
		}
	}
	close(fd);
	if (n < 0) {
		err("%s: %s", path, strerror(errno));
		return EXIT_FAIL;
	}
	return 0;
}

static int message_cmd(int argc, char **argv)
{
	const char *path = PROCFS_DIR "/message";
	bool set = argc == 2 && !strcmp(argv[0], "set");
	bool clear = argc == 1 && !strcmp(argv[0], "clear");
	size_t len;
	int fd;

	if (!(argc == 0 || (argc == 1 && !strcmp(argv[0], "get")) || set || clear)) {
		err("usage: lkmctl message [get | set TEXT | clear]");
		return EXIT_USAGE;
	}
	if (!loaded("lkm_procfs"))
		return not_loaded("lkm_procfs", path);
	if (!set && !clear) {
		size_t size = (1 << 20) + 1;	/* the largest max_message, and a NUL */
		char *text;
		int ret;

		if (!json)
			return cat(path, NULL);
		text = malloc(size);
		if (!text) {
			err("out of memory");
			return EXIT_FAIL;
		}
		ret = read_text(path, text, size);
		if (ret) {
			free(text);
			return open_failed(path, -ret);
		}
		fputs("{\"message\": ", stdout);
		json_str(text);
		puts("}");
		free(text);
		return 0;
	}
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0) {
		if (errno == EACCES)
			err("%s: permission denied: only root may change the message", path);
		else
			err("%s: %s", path, strerror(errno));
		return EXIT_FAIL;
	}
	if (set) {
		len = strlen(argv[1]);
		if (write(fd, argv[1], len) != (ssize_t)len) {
			char max[32] = "?";

			param("lkm_procfs", "max_message", max, sizeof(max));
			if (errno == EINVAL)
				err("%s: %zu bytes do not fit: %s=%s", path, len,
				    "lkm_procfs is loaded with max_message", max);
			else
				err("%s: %s", path, strerror(errno));
			close(fd);
			return EXIT_FAIL;
		}
	}
	close(fd);
	return 0;
}

static int records_cmd(int argc, char **argv)
{
	const char *path = PROCFS_DIR "/records";
	long lines = 0;
	int ret;

	if (argc > 1 || (argc == 1 && strcmp(argv[0], "--count"))) {
		err("usage: lkmctl records [--count]");
		return EXIT_USAGE;
	}
	if (!loaded("lkm_procfs"))
		return not_loaded("lkm_procfs", path);
	if (!argc)
		return cat(path, NULL);
	ret = cat(path, &lines);
	if (!ret)
		printf(json ? "{\"records\": %ld}\n" : "%ld\n", lines);
	return ret;
}

/* ----------------------------------------------------- lkm_workqueue */

struct stat_line {
	char key[64];
	unsigned long long value;
};

/* The "key: value" lines of path, at most max; their count, or -errno. */
static int read_stats(const char *path, struct stat_line *s, int max)
{
	char text[4096], *line, *save;
	int ret = read_text(path, text, sizeof(text)), n = 0;

	if (ret)
		return ret;
	for (line = strtok_r(text, "\n", &save); line && n < max;
	     line = strtok_r(NULL, "\n", &save))
		if (sscanf(line, "%63[^:]: %llu", s[n].key, &s[n].value) == 2)
			n++;
	return n;
}

static long long stat_of(const struct stat_line *s, int n, const char *key)
{
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(s[i].key, key))
			return s[i].value;
	return -1;
}

static void print_stats(const char *what, const struct stat_line *s, int n)
{
	int i;

	if (json)
		printf("{\"file\": \"%s\"", what);
	for (i = 0; i < n; i++) {
		if (json) {
			fputs(", ", stdout);
			json_str(s[i].key);
			printf(": %llu", s[i].value);
		} else {
			printf("%s: %llu\n", s[i].key, s[i].value);
		}
	}
	if (json)
		puts("}");
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Waits until no job is in flight, or timeout seconds; 0 when done. */
static int wq_wait(unsigned long jobs, double timeout)
{
	struct stat_line s[16];
	bool bar = isatty(STDERR_FILENO) && !json;
	double start = now();
	long long left;
	int n;

	for (;;) {
		n = read_stats(WQ_DIR "/stats", s, 16);
		left = n > 0 ? stat_of(s, n, "in_flight") : -1;
		if (left < 0) {
			err("%s/stats: cannot read in_flight", WQ_DIR);
			return EXIT_FAIL;
		}
		if (bar) {
			long long done = (long long)jobs - left;
			int width = 40, filled;

			if (done < 0)
				done = 0;
			filled = (int)(width * done / (long long)jobs);
			fprintf(stderr, "\r[%-*.*s] %lld/%lu", width, filled,
				"########################################", done, jobs);
		}
		if (!left)
			break;
		if (timeout > 0 && now() - start > timeout) {
			if (bar)
				fputc('\n', stderr);
			err("%s: %lld jobs still in flight after %g s", WQ_DIR, left, timeout);
			return EXIT_FAIL;
		}
		poll(NULL, 0, 10);
	}
	if (bar)
		fputc('\n', stderr);
	return 0;
}

static int wq_cmd(int argc, char **argv)
{
	const char *submit = WQ_DIR "/submit";
	struct stat_line s[16];
	double timeout = 0;
	unsigned long jobs;
	char *end;
	int fd, n;

	if (argc == 1 && !strcmp(argv[0], "stats")) {
		if (!loaded("lkm_workqueue"))
			return not_loaded("lkm_workqueue", WQ_DIR "/stats");
		n = read_stats(WQ_DIR "/stats", s, 16);
		if (n < 0)
			return open_failed(WQ_DIR "/stats", -n);
		print_stats(WQ_DIR "/stats", s, n);
		return 0;
	}
	if (argc < 2 || argc > 4 || strcmp(argv[0], "submit") ||
	    (argc >= 3 && strcmp(argv[2], "--wait"))) {
		err("usage: lkmctl wq submit N [--wait [TIMEOUT]] | wq stats");
		return EXIT_USAGE;
	}
	errno = 0;
	jobs = strtoul(argv[1], &end, 10);
	if (errno || *end || end == argv[1] || argv[1][0] == '-' || !jobs || jobs > 10000) {
		err("%s: not a number of jobs (1..10000)", argv[1]);
		return EXIT_USAGE;
	}
	if (argc == 4) {
		timeout = strtod(argv[3], &end);
		if (*end || end == argv[3] || !(timeout > 0)) {
			err("%s: not a timeout in seconds", argv[3]);
			return EXIT_USAGE;
		}
	}
	if (!loaded("lkm_workqueue"))
		return not_loaded("lkm_workqueue", submit);
	fd = open(submit, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == EACCES)
			err("%s: permission denied: only root may submit jobs", submit);
		else
			err("%s: %s", submit, strerror(errno));
		return EXIT_FAIL;
	}
	if (dprintf(fd, "%lu", jobs) < 0) {
		err("%s: %s", submit, strerror(errno));
		close(fd);
		return EXIT_FAIL;
	}
	close(fd);
	if (argc >= 3 && wq_wait(jobs, timeout))
		return EXIT_FAIL;
	if (json)
		printf("{\"submitted\": %lu}\n", jobs);
	return 0;
}

/* ----------------------------------------------------------- metrics */

static void metric(const char *name, const char *type, const char *help)
{
	printf("# HELP lkmkit_%s %s\n# TYPE lkmkit_%s %s\n", name, help, name, type);
}

/*
 * Every counter in the Prometheus text format, for node_exporter's
 * textfile collector: what cannot be read is left out, never invented.
 */
static int metrics(void)
{
	static const struct {
		const char *field, *name, *help;
	} cd[] = {
		{ "opens", "chardev_opens_total", "Opens of the device." },
		{ "reads", "chardev_reads_total", "read() calls on the device." },
		{ "writes", "chardev_writes_total", "write() calls that stored data." },
		{ "bytes_read", "chardev_read_bytes_total", "Bytes read from the device." },
		{ "bytes_written", "chardev_written_bytes_total", "Bytes written to the device." },
	};
	struct stat_line s[16];
	char path[PATH_MAX], value[32];
	size_t i, k;
	int n, fd, waiting;

	metric("module_loaded", "gauge", "Whether the module is loaded.");
	for (i = 0; i < ARRAY_SIZE(modules); i++)
		printf("lkmkit_module_loaded{module=\"%s\"} %d\n", modules[i], loaded(modules[i]));

	for (k = 0; loaded("lkm_chardev") && k < ARRAY_SIZE(cd); k++) {
		metric(cd[k].name, "counter", cd[k].help);
		for (n = 0; n < MAX_DEVICES; n++) {
			struct chardev_info info;
			const __u64 *v;

			snprintf(path, sizeof(path), CHARDEV_FMT, n);
			if (access(path, F_OK))
				break;
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			if (!ioctl(fd, LKM_CHARDEV_GET_STATS, &info.stats)) {
				v = (const __u64 *)&info.stats + k;
				printf("lkmkit_%s{device=\"lkm_chardev%d\"} %llu\n", cd[k].name, n,
				       (unsigned long long)*v);
			}
			close(fd);
		}
	}

	fd = loaded("lkm_misc") ? open(PIPE_DEV, O_RDONLY | O_NONBLOCK | O_CLOEXEC) : -1;
	if (fd >= 0 && !ioctl(fd, FIONREAD, &waiting)) {
		metric("pipe_waiting_bytes", "gauge", "Bytes waiting in /dev/lkm_pipe.");
		printf("lkmkit_pipe_waiting_bytes %d\n", waiting);
	}
	if (fd >= 0)
		close(fd);
	if (loaded("lkm_misc") && !param("lkm_misc", "fifo_size", value, sizeof(value))) {
		metric("pipe_capacity_bytes", "gauge", "Capacity of /dev/lkm_pipe.");
		printf("lkmkit_pipe_capacity_bytes %s\n", value);
	}

	n = loaded("lkm_procfs") ? read_stats(PROCFS_DIR "/stats", s, 16) : -1;
	for (i = 0; n > 0 && i < (size_t)n; i++) {
		bool gauge = !strcmp(s[i].key, "message_bytes");

		snprintf(path, sizeof(path), "procfs_message_%s%s", s[i].key,
			 gauge ? "" : "_total");
		if (gauge)
			snprintf(path, sizeof(path), "procfs_message_bytes");
		metric(path, gauge ? "gauge" : "counter", "lkm_procfs's /proc/lkm_procfs/stats.");
		printf("lkmkit_%s %llu\n", path, s[i].value);
	}

	n = loaded("lkm_workqueue") ? read_stats(WQ_DIR "/stats", s, 16) : -1;
	for (i = 0; n > 0 && i < (size_t)n; i++) {
		bool counter = !strcmp(s[i].key, "queued") || !strcmp(s[i].key, "completed") ||
			       !strcmp(s[i].key, "ticks");

		snprintf(path, sizeof(path), "workqueue_%s%s", s[i].key, counter ? "_total" : "");
		metric(path, counter ? "counter" : "gauge",
		       "lkm_workqueue's /proc/lkm_workqueue/stats.");
		printf("lkmkit_%s %llu\n", path, s[i].value);
	}
	return 0;
}

/* -------------------------------------------------------------- main */

static const char usage[] =
	"usage: lkmctl [--json] COMMAND [ARGS]\n"
	"\n"
	"  status                    the lkmkit modules: loaded, version, parameters, files\n"
	"  chardev list              the devices /dev/lkm_chardevN, size and capacity\n"
	"  chardev info N            device N: size and capacity\n"
	"  chardev stats N           device N: its counters\n"
	"  chardev clear N           drop device N's data\n"
	"  chardev reset-stats N     zero device N's counters (root)\n"
	"  pipe info                 /dev/lkm_pipe: bytes waiting and capacity\n"
	"  message [get]             /proc/lkm_procfs/message\n"
	"  message set TEXT          replace it (root)\n"
	"  message clear             empty it (root)\n"
	"  records [--count]         /proc/lkm_procfs/records, or how many lines\n"
	"  wq submit N [--wait [TIMEOUT]]\n"
	"                            queue N jobs (root); wait until none is in\n"
	"                            flight, at most TIMEOUT seconds\n"
	"  wq stats                  /proc/lkm_workqueue/stats\n"
	"  metrics                   every counter, in the Prometheus text format\n"
	"\n"
	"  --json      one JSON document on standard output\n"
	"  --help      this text; --version: lkmkit's version\n"
	"\n"
	"Exit status: 0 done, 1 an operation failed, 2 a usage error.\n"
	"See lkmctl(1).\n";

/*
 * lkmctl COMMAND --help: the lines of the usage about COMMAND (and their
 * continuation lines), or all of it for a command it does not know.
 */
static int command_help(const char *cmd)
{
	const char *line = usage, *end;
	size_t len = strlen(cmd);
	bool ours = false, any = false;

	for (; *line; line = end + 1) {
		end = strchr(line, '\n');
		if (!end)
			break;
		if (!strncmp(line, "    ", 4) && line[4] == ' ')
			;	/* a continuation: as the line before it */
		else
			ours = !strncmp(line, "  ", 2) && !strncmp(line + 2, cmd, len) &&
			       line[2 + len] == ' ';
		if (ours) {
			if (!any)
				printf("usage: lkmctl [--json] %s ...\n\n", cmd);
			any = true;
			fwrite(line, 1, end - line + 1, stdout);
		}
	}
	if (!any)
		fputs(usage, stdout);
	else
		puts("\nSee lkmctl --help and lkmctl(1).");
	return 0;
}

int main(int argc, char **argv)
{
	int i = 1;

	for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
			continue;
		}
		if (!strcmp(argv[i], "--help")) {
			fputs(usage, stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--version")) {
			printf("lkmctl (lkmkit) %s\n", LKMKIT_VERSION);
			return 0;
		}
		err("unknown option %s (see lkmctl --help)", argv[i]);
		return EXIT_USAGE;
	}
	if (i == argc) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	if (i + 1 < argc && !strcmp(argv[i + 1], "--help"))
		return command_help(argv[i]);
	if (!strcmp(argv[i], "status") && argc == i + 1)
		return status();
	if (!strcmp(argv[i], "chardev"))
		return chardev_cmd(argc - i - 1, argv + i + 1);
	if (!strcmp(argv[i], "pipe"))
		return pipe_cmd(argc - i - 1, argv + i + 1);
	if (!strcmp(argv[i], "message"))
		return message_cmd(argc - i - 1, argv + i + 1);
	if (!strcmp(argv[i], "records"))
		return records_cmd(argc - i - 1, argv + i + 1);
	if (!strcmp(argv[i], "wq"))
		return wq_cmd(argc - i - 1, argv + i + 1);
	if (!strcmp(argv[i], "metrics") && argc == i + 1)
		return metrics();
	err("%s: unknown command (see lkmctl --help)", argv[i]);
	return EXIT_USAGE;
}
