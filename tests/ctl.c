// SPDX-License-Identifier: GPL-2.0
/*
 * Guest test of lkmctl (utils/lkmctl.c, /tests/lkmctl here): every
 * command, with and without --json, against the real modules, each
 * answer compared with what the module says through its raw interface
 * (the ioctls, FIONREAD, the /proc and /sys files), and the error paths:
 * a module not loaded, a bad device number, a user who may not, bad
 * arguments. Loads and unloads the modules itself.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <grp.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/lkm_chardev.h>

#include "lkmtest.h"

#define LKMCTL "/tests/lkmctl"

/* What a run of lkmctl printed, and how it ended. */
struct run {
	char out[1 << 16], err[4096];
	int status;		/* the exit status, or -1 if it did not exit */
};

static struct run r;

static void drain(int fd, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;

	while (len < size - 1 && (n = read(fd, buf + len, size - 1 - len)) > 0)
		len += n;
	buf[len] = '\0';
	close(fd);
}

/* Runs lkmctl with args (NULL-ended), as nobody if asked; fills r. */
static int ctl_as(bool nobody, const char *const *args)
{
	char *argv[16] = { "lkmctl" };
	int out[2], err[2], status, i;
	pid_t pid;

	for (i = 0; args[i] && i < 14; i++)
		argv[i + 1] = (char *)args[i];
	if (pipe(out) || pipe(err))
		ktap_bail("pipe: %s", strerror(errno));
	pid = fork();
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(err[1], 2);
		if (nobody && (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
			       setresuid(65534, 65534, 65534)))
			_exit(127);
		execv(LKMCTL, argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	/* Small outputs only, but read both before waiting, in order. */
	drain(out[0], r.out, sizeof(r.out));
	drain(err[0], r.err, sizeof(r.err));
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		ktap_bail("cannot run %s", LKMCTL);
	r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	return r.status;
}

#define ctl(...) ctl_as(false, (const char *const[]){ __VA_ARGS__, NULL })
#define ctl_nobody(...) ctl_as(true, (const char *const[]){ __VA_ARGS__, NULL })

/* ------------------------------------------------ a JSON validator */

/* RFC 8259, enough to say whether a document is one JSON value. */
static const char *json_value(const char *p, int depth);

static const char *json_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static const char *json_string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	while (*p != '"') {
		if ((unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\') {
			p++;
			if (*p == 'u') {
				int i;

				for (i = 1; i <= 4; i++)
					if (!isxdigit((unsigned char)p[i]))
						return NULL;
				p += 4;
			} else if (!strchr("\"\\/bfnrt", *p) || !*p) {
				return NULL;
			}
		}
		p++;
	}
	return p + 1;
}

static const char *json_number(const char *p)
{
	const char *start;

	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (isdigit((unsigned char)*p))
		while (isdigit((unsigned char)*p))
			p++;
	else
		return NULL;
	if (*p == '.') {
		start = ++p;
		while (isdigit((unsigned char)*p))
			p++;
		if (p == start)
			return NULL;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		start = p;
		while (isdigit((unsigned char)*p))
			p++;
		if (p == start)
			return NULL;
	}
	return p;
}

static const char *json_list(const char *p, int depth, char close, bool members)
{
	p = json_ws(p + 1);
	if (*p == close)
		return p + 1;
	for (;;) {
		if (members) {
			p = json_string(json_ws(p));
			if (!p)
				return NULL;
			p = json_ws(p);
			if (*p++ != ':')
				return NULL;
		}
		p = json_value(p, depth + 1);
		if (!p)
			return NULL;
		p = json_ws(p);
		if (*p == close)
			return p + 1;
		if (*p++ != ',')
			return NULL;
	}
}

static const char *json_value(const char *p, int depth)
{
	p = json_ws(p);
	if (depth > 32)
		return NULL;
	switch (*p) {
	case '{':
		return json_list(p, depth, '}', true);
	case '[':
		return json_list(p, depth, ']', false);
	case '"':
		return json_string(p);
	case 't':
		return strncmp(p, "true", 4) ? NULL : p + 4;
	case 'f':
		return strncmp(p, "false", 5) ? NULL : p + 5;
	case 'n':
		return strncmp(p, "null", 4) ? NULL : p + 4;
	default:
		return json_number(p);
	}
}

static bool is_json(const char *doc)
{
	const char *end = json_value(doc, 0);

	return end && !*json_ws(end);
}

/* The number after "key": in a JSON document, or -1. */
static long long json_num(const char *doc, const char *key)
{
	char pat[80];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = strstr(doc, pat);
	return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

/* ------------------------------------------------------------ tests */

static void test_usage(void)
{
	char want[64];

	snprintf(want, sizeof(want), "lkmctl (lkmkit) %s\n", LKMKIT_VERSION);
	ktap_ok(ctl("--version") == 0 && !strcmp(r.out, want), "--version: %s", LKMKIT_VERSION);
	ktap_ok(ctl("--help") == 0 && strstr(r.out, "chardev reset-stats N") &&
		strstr(r.out, "wq submit N") && strstr(r.out, "metrics"),
		"--help: exit 0, every command");
	ktap_ok(ctl("chardev", "--help") == 0 && strstr(r.out, "usage: lkmctl") &&
		strstr(r.out, "chardev reset-stats N") && !strstr(r.out, "wq stats"),
		"a command's --help: that command's lines");
	ktap_ok(ctl_as(false, (const char *const[]){ NULL }) == 2 && strstr(r.err, "usage:"),
		"no command: usage on standard error, exit 2");
	ktap_ok(ctl("frobnicate") == 2 && strstr(r.err, "frobnicate: unknown command"),
		"an unknown command: exit 2, named");
	ktap_ok(ctl("--frob", "status") == 2 && strstr(r.err, "unknown option --frob"),
		"an unknown option: exit 2, named");
	ktap_ok(ctl("chardev", "info") == 2 && ctl("chardev", "info", "x") == 2 &&
		ctl("chardev", "info", "-1") == 2 && ctl("chardev", "info", "64") == 2 &&
		ctl("wq", "submit", "0") == 2 && ctl("wq", "submit", "10001") == 2 &&
		ctl("wq", "submit", "5", "--wait", "soon") == 2 &&
		ctl("records", "--all") == 2 && ctl("pipe") == 2,
		"bad arguments: exit 2");
}

static void test_not_loaded(void)
{
	ktap_ok(ctl("status") == 0 &&
		strstr(r.out, "lkm_chardev: not loaded (modprobe lkm_chardev)"),
		"status: says a module is not loaded and how to load it");
	ktap_ok(ctl("--json", "status") == 0 && is_json(r.out) &&
		strstr(r.out, "\"loaded\": false"), "status --json: valid, loaded false");
	ktap_ok(ctl("chardev", "list") == 1 &&
		strstr(r.err, "lkm_chardev is not loaded (load it with: modprobe lkm_chardev)"),
		"chardev list without the module: exit 1, how to load it");
	ktap_ok(ctl("pipe", "info") == 1 && strstr(r.err, "modprobe lkm_misc"),
		"pipe info without the module: exit 1");
	ktap_ok(ctl("wq", "stats") == 1 && strstr(r.err, "modprobe lkm_workqueue"),
		"wq stats without the module: exit 1");
	ktap_ok(ctl("metrics") == 0 && strstr(r.out, "lkmkit_module_loaded{module=\"lkm_misc\"} 0"),
		"metrics: the modules not loaded are 0");
}

/* The raw figures of /dev/lkm_chardevN through the ioctls. */
static bool raw_chardev(int n, __u64 *size, __u64 *cap, struct lkm_chardev_stats *st)
{
	char path[32];
	int fd;
	bool ok;

	snprintf(path, sizeof(path), "/dev/lkm_chardev%d", n);
	fd = open(path, O_RDONLY);
	ok = fd >= 0 && !ioctl(fd, LKM_CHARDEV_GET_SIZE, size) &&
	     !ioctl(fd, LKM_CHARDEV_GET_CAPACITY, cap) &&
	     !ioctl(fd, LKM_CHARDEV_GET_STATS, st);
	if (fd >= 0)
		close(fd);
	return ok;
}

static void test_chardev(void)
{
	struct lkm_chardev_stats st;
	__u64 size, cap;
	char want[128];

	if (mod_load("lkm_chardev", "devices=2 capacity=65536"))
		ktap_bail("cannot load lkm_chardev");
	if (file_write("/dev/lkm_chardev1", "hello, lkmctl"))
		ktap_bail("cannot write /dev/lkm_chardev1");
	ktap_ok(raw_chardev(1, &size, &cap, &st) && size == 13 && cap == 65536,
		"the raw interface: device 1 holds 13 of 65536 bytes");
	snprintf(want, sizeof(want), "/dev/lkm_chardev1: size %llu, capacity %llu\n",
		 (unsigned long long)size, (unsigned long long)cap);
	ktap_ok(ctl("chardev", "info", "1") == 0 && !strcmp(r.out, want), "chardev info 1: %s",
		"size and capacity as the ioctls say");
	ktap_ok(ctl("chardev", "list") == 0 && strstr(r.out, "/dev/lkm_chardev0: size 0,") &&
		strstr(r.out, want), "chardev list: both devices");
	ktap_ok(ctl("--json", "chardev", "list") == 0 && is_json(r.out) &&
		strstr(r.out, "\"device\": \"/dev/lkm_chardev1\", \"size\": 13, ") &&
		strstr(r.out, "\"size\": 13, \"capacity\": 65536"),
		"chardev list --json: valid, the same figures");
	raw_chardev(1, &size, &cap, &st);
	ktap_ok(ctl("--json", "chardev", "stats", "1") == 0 && is_json(r.out) &&
		json_num(r.out, "writes") == (long long)st.writes &&
		json_num(r.out, "bytes_written") == (long long)st.bytes_written &&
		json_num(r.out, "reads") == (long long)st.reads &&
		/* lkmctl's own open is counted before it asks */
		json_num(r.out, "opens") == (long long)st.opens + 1,
		"chardev stats --json 1: the counters GET_STATS gives");
	ktap_ok(ctl("chardev", "stats", "1") == 0 && strstr(r.out, "bytes_written 13"),
		"chardev stats 1: the same in text");
	ktap_ok(ctl("chardev", "reset-stats", "1") == 0 && raw_chardev(1, &size, &cap, &st) &&
		st.writes == 0 && st.bytes_written == 0, "chardev reset-stats 1: zeroed");
	ktap_ok(ctl("chardev", "clear", "1") == 0 && raw_chardev(1, &size, &cap, &st) &&
		size == 0, "chardev clear 1: the device is empty");
	ktap_ok(ctl("chardev", "info", "3") == 1 &&
		strstr(r.err, "/dev/lkm_chardev3: no such device: ") &&
		strstr(r.err, ": lkm_chardev is loaded with devices=2\n"),
		"chardev info 3 of 2: exit 1, says devices=2");
	ktap_ok(ctl_nobody("chardev", "info", "0") == 1 &&
		strstr(r.err, "/dev/lkm_chardev0: permission denied: ") &&
		strstr(r.err, ": add yourself to the lkmkit group"),
		"as another user: exit 1, says to join the lkmkit group");
	ktap_ok(ctl("metrics") == 0 &&
		strstr(r.out, "lkmkit_chardev_opens_total{device=\"lkm_chardev1\"}") &&
		strstr(r.out, "lkmkit_module_loaded{module=\"lkm_chardev\"} 1"),
		"metrics: the devices' counters");
	ktap_ok(ctl("status") == 0 &&
		strstr(r.out, "lkm_chardev: loaded, version " LKMKIT_VERSION "\n") &&
		strstr(r.out, "  devices=2\n") && strstr(r.out, "  capacity=65536\n") &&
		strstr(r.out, "  files: /dev/lkm_chardev0 /dev/lkm_chardev1\n"),
		"status: version, parameters and devices");
	ktap_ok(ctl("--json", "chardev", "info", "1") == 0 && is_json(r.out) &&
		json_num(r.out, "size") == 0 && json_num(r.out, "capacity") == 65536,
		"chardev info --json 1: valid, the same figures");
	mod_unload("lkm_chardev");
}

static void test_pipe(void)
{
	int fd, waiting = -1;

	if (mod_load("lkm_misc", NULL))
		ktap_bail("cannot load lkm_misc");
	fd = open("/dev/lkm_pipe", O_WRONLY);
	ktap_ok(fd >= 0 && write(fd, "12345", 5) == 5, "5 bytes into /dev/lkm_pipe");
	ioctl(fd, FIONREAD, &waiting);
	ktap_ok(ctl("pipe", "info") == 0 &&
		!strcmp(r.out, "/dev/lkm_pipe: 5 bytes waiting, capacity 65536\n") && waiting == 5,
		"pipe info: 5 bytes waiting as FIONREAD says, capacity 65536");
	ktap_ok(ctl("--json", "pipe", "info") == 0 && is_json(r.out) &&
		json_num(r.out, "bytes_waiting") == 5 && json_num(r.out, "capacity") == 65536,
		"pipe info --json: valid, the same");
	close(fd);
	mod_unload("lkm_misc");
}

static void test_procfs(void)
{
	static char raw[1 << 16];
	int ret;

	if (mod_load("lkm_procfs", "records=100"))
		ktap_bail("cannot load lkm_procfs");
	ktap_ok(ctl("message", "set", "hi \"there\"") == 0 &&
		!file_read("/proc/lkm_procfs/message", raw, sizeof(raw)) &&
		!strcmp(raw, "hi \"there\""), "message set: the file holds it");
	ktap_ok(ctl("message") == 0 && !strcmp(r.out, "hi \"there\""), "message: prints it");
	ktap_ok(ctl("--json", "message", "get") == 0 && is_json(r.out) &&
		strstr(r.out, "\"message\": \"hi \\\"there\\\"\""),
		"message --json: valid, escaped");
	ktap_ok(ctl("message", "clear") == 0 &&
		!file_read("/proc/lkm_procfs/message", raw, sizeof(raw)) && !raw[0],
		"message clear: empty");
	ktap_ok(ctl_nobody("message", "set", "x") == 1 &&
		strstr(r.err, "permission denied: only root may change the message"),
		"message set as another user: exit 1, says who may");
	ret = file_read("/proc/lkm_procfs/records", raw, sizeof(raw));
	ktap_ok(!ret && ctl("records") == 0 && !strcmp(r.out, raw),
		"records: the file's text");
	ktap_ok(ctl("records", "--count") == 0 && !strcmp(r.out, "100\n") &&
		ctl("--json", "records", "--count") == 0 && is_json(r.out) &&
		json_num(r.out, "records") == 100, "records --count: 100, and in JSON");
	mod_unload("lkm_procfs");
}

static void test_workqueue(void)
{
	long before;

	if (mod_load("lkm_workqueue", "count=0 interval_ms=0"))
		ktap_bail("cannot load lkm_workqueue");
	before = file_key("/proc/lkm_workqueue/stats", "completed");
	ktap_ok(ctl("wq", "submit", "500", "--wait", "120") == 0 &&
		file_key("/proc/lkm_workqueue/stats", "completed") == before + 500 &&
		file_key("/proc/lkm_workqueue/stats", "in_flight") == 0,
		"wq submit 500 --wait: returns once all 500 completed");
	ktap_ok(ctl("--json", "wq", "stats") == 0 && is_json(r.out) &&
		json_num(r.out, "queued") == file_key("/proc/lkm_workqueue/stats", "queued") &&
		json_num(r.out, "latency_us_p99") ==
			file_key("/proc/lkm_workqueue/stats", "latency_us_p99"),
		"wq stats --json: valid, the stats file's figures");
	ktap_ok(ctl("wq", "stats") == 0 && strstr(r.out, "completed: 500\n"), "wq stats: text");
	ktap_ok(ctl_nobody("wq", "submit", "1") == 1 &&
		strstr(r.err, "permission denied: only root may submit jobs"),
		"wq submit as another user: exit 1");
	ktap_ok(ctl("metrics") == 0 && strstr(r.out, "lkmkit_workqueue_completed_total 500\n") &&
		strstr(r.out, "# TYPE lkmkit_workqueue_completed_total counter\n"),
		"metrics: the workqueue's counters, typed");
	ktap_ok(ctl("--json", "wq", "submit", "5") == 0 && is_json(r.out) &&
		json_num(r.out, "submitted") == 5, "wq submit --json: valid");
	mod_unload("lkm_workqueue");
}

/* Every line of the metrics is a comment or "name{labels} value". */
static void test_metrics_format(void)
{
	char *line, *save, *copy;
	int bad = 0, samples = 0;

	if (mod_load("lkm_hello", NULL) || mod_load("lkm_chardev", NULL) ||
	    mod_load("lkm_misc", NULL) ||
	    mod_load("lkm_procfs", NULL) || mod_load("lkm_workqueue", "interval_ms=0"))
		ktap_bail("cannot load the modules");
	ktap_ok(ctl("--json", "status") == 0 && is_json(r.out) &&
		!strstr(r.out, "\"loaded\": false") && strstr(r.out, "\"/dev/lkm_pipe\"") &&
		strstr(r.out, "\"/proc/lkm_workqueue/stats\""),
		"status --json with the modules loaded: valid, their files");
	ktap_ok(ctl("metrics") == 0, "metrics with every module loaded");
	copy = strdup(r.out);
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		const char *p = line;

		if (!strncmp(line, "# HELP lkmkit_", 14) || !strncmp(line, "# TYPE lkmkit_", 14))
			continue;
		if (strncmp(p, "lkmkit_", 7))
			goto bad;
		while (isalnum((unsigned char)*p) || *p == '_')
			p++;
		if (*p == '{') {
			p = strchr(p, '}');
			if (!p)
				goto bad;
			p++;
		}
		if (*p++ != ' ' || !isdigit((unsigned char)*p))
			goto bad;
		while (isdigit((unsigned char)*p))
			p++;
		if (!*p) {
			samples++;
			continue;
		}
bad:
		ktap_diag("not a sample: %s", line);
		bad++;
	}
	free(copy);
	ktap_ok(!bad && samples >= 20, "metrics: %d samples, every line well formed", samples);
	mod_unload("lkm_workqueue");
	mod_unload("lkm_procfs");
	mod_unload("lkm_misc");
	mod_unload("lkm_chardev");
	mod_unload("lkm_hello");
}

int main(void)
{
	ktap_begin("ctl", 45);
	if (access(LKMCTL, X_OK))
		ktap_bail("no %s in this guest", LKMCTL);
	test_usage();
	test_not_loaded();
	test_chardev();
	test_pipe();
	test_procfs();
	test_workqueue();
	test_metrics_format();
	return ktap_end();
}
