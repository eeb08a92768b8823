// SPDX-License-Identifier: GPL-2.0
/*
 * trinity - the trinity system-call fuzzer (Debian's package) against the
 * files of each module, SECONDS for every module, all at once: one trinity
 * per module (trinity takes one victim path).
 *
 *   /tests/trinity SECONDS MODULE...
 *
 * trinity runs as the unprivileged user nobody (65534), every system call
 * but fanotify_init and fanotify_mark (Debian's kernels taint on fanotify
 * permission events by design, and trinity stops at any new taint), with
 * the module's files as its only victims (-V, one path a run: the device,
 * or the module's directory of /proc or /sys) and every other kind of file
 * descriptor off, so that its calls land on them. The device nodes get
 * group nogroup (65534) and mode 0660, as the package's udev rules give
 * them group lkmkit: nobody is a member; /proc and /sys files keep theirs.
 *
 * A run must make system calls and not be stopped by a taint (trinity
 * stops when it sees one); one that ends early for a reason of trinity's
 * own (its lock watchdog, impatient on a slow guest) says why and counts
 * what it did. Then the module works as documented (lkm_smoke()), unloads and leaves
 * nothing. The host judges the console for kernel reports. trinity's own
 * output is /tmp/trinity-<module>.log in the guest; its last lines are
 * shown when something failed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lkmtest.h"

#define NOBODY 65534
#define HOME "/tmp/trinity"

/* Every process of user nobody: how many there are. */
static int nobody_count(void)
{
	char path[300], buf[2048], *uid;
	struct dirent *e;
	DIR *d = opendir("/proc");
	int n = 0;

	while (d && (e = readdir(d))) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/status", e->d_name);
		if (file_read(path, buf, sizeof(buf)))
			continue;
		uid = strstr(buf, "\nUid:\t");
		if (uid && atoi(uid + 6) == NOBODY)
			n++;
	}
	if (d)
		closedir(d);
	return n;
}

/*
 * Ends every process of user nobody, trinity's children included, however
 * they left its process group: kill(-1) from that user reaches them all.
 */
static bool kill_nobody(void)
{
	long until = now_ms() + 30000;
	pid_t pid;

	while (nobody_count() && now_ms() < until) {
		pid = fork();
		if (pid == 0) {
			if (setresgid(NOBODY, NOBODY, NOBODY) || setresuid(NOBODY, NOBODY, NOBODY))
				_exit(1);
			kill(-1, SIGKILL);
			_exit(0);
		}
		if (pid > 0)
			waitpid(pid, NULL, 0);
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		usleep(100 * 1000);
	}
	return !nobody_count();
}

static void child(const char *victim, const char *log)
{
	static const gid_t group = NOBODY;
	static char *const env[] = { "HOME=" HOME, "PATH=/bin", "TERM=dumb", NULL };
	struct rlimit nproc = { 512, 512 }, core = { 0, 0 };
	struct rlimit fsize = { 64 << 20, 64 << 20 };
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 || chdir(HOME) ||
	    setpgid(0, 0) || setrlimit(RLIMIT_NPROC, &nproc) ||
	    setrlimit(RLIMIT_CORE, &core) || setrlimit(RLIMIT_FSIZE, &fsize) ||
	    setgroups(1, &group) || setresgid(NOBODY, NOBODY, NOBODY) ||
	    setresuid(NOBODY, NOBODY, NOBODY))
		_exit(126);
	execle("/bin/trinity", "trinity", "-q", "-l", "off", "-C", "2", "-V", victim,
	       "-x", "fanotify_init", "-x", "fanotify_mark",
	       "--disable-fds=sockets,pipes,perf,epoll,eventfd,pseudo,timerfd,testfile,memfd,drm",
	       (char *)NULL, env);
	_exit(127);
}

/* The value after "key" on the last line of text holding it, or -1. */
static long last_figure(const char *text, const char *key)
{
	const char *p = NULL, *q = text;

	while ((q = strstr(q, key))) {
		p = q;
		q++;
	}
	return p ? atol(p + strlen(key)) : -1;
}

/* Shows the last lines of trinity's log, each a diagnostic line. */
static void show_tail(const char *text)
{
	const char *p = text + strlen(text), *end;
	int lines = 0;

	while (p > text && lines <= 12)
		if (*--p == '\n')
			lines++;
	for (; *p; p = *end ? end + 1 : end) {
		end = p + strcspn(p, "\n");
		if (end > p)
			ktap_diag("trinity: %.*s", (int)(end - p), p);
	}
}

/* One trinity per module, all at once, and what each of them did. */
struct run {
	const struct lkm_info *m;
	pid_t pid;
	int status;
	bool done, early;
	char log[96];
};

static void start(struct run *r)
{
	snprintf(r->log, sizeof(r->log), "/tmp/trinity-%s.log", r->m->name);
	r->pid = fork();
	if (r->pid == 0)
		child(r->m->victim, r->log);
	if (r->pid < 0)
		ktap_bail("fork: %s", strerror(errno));
}

/* Waits until deadline for the runs still going; true when all ended. */
static bool reap(struct run *runs, int n, long deadline)
{
	int i, left;

	do {
		for (i = 0, left = 0; i < n; i++) {
			if (!runs[i].done && waitpid(runs[i].pid, &runs[i].status, WNOHANG) > 0)
				runs[i].done = true;
			left += !runs[i].done;
		}
		if (left)
			usleep(100 * 1000);
	} while (left && now_ms() < deadline);
	return !left;
}

/* How many processes are in process group pgrp (a run's trinity and its children). */
static int group_size(pid_t pgrp)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	char path[300], stat[512], *p;
	int n = 0;

	while (d && (e = readdir(d))) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		if (file_read(path, stat, sizeof(stat)))
			continue;
		/* pid (comm) state ppid pgrp ...: comm may hold spaces. */
		p = strrchr(stat, ')');
		if (p && atol(p + 4 + strcspn(p + 4, " ")) == pgrp)
			n++;
	}
	if (d)
		closedir(d);
	return n;
}

/*
 * Waits, for up to five minutes, until each trinity has forked its
 * watchdog and a child: its set-up (a few seconds alone, a minute on a
 * loaded host under emulation) is no fuzzing, and the seconds count from
 * the end of it.
 */
static void wait_fuzzing(struct run *runs, int n)
{
	long until = now_ms() + 300 * 1000, start = now_ms();
	int i, ready;

	do {
		for (i = 0, ready = 0; i < n; i++)
			ready += runs[i].done || group_size(runs[i].pid) >= 3;
		if (ready < n)
			usleep(200 * 1000);
	} while (ready < n && now_ms() < until && !reap(runs, n, now_ms()));
	ktap_diag("trinity: %d of %d fuzzing after %ld ms of set-up", ready, n,
		  now_ms() - start);
}

/* Runs them for seconds, marking those that ended before. */
static void fuzz_all(struct run *runs, int n, long seconds)
{
	int i;

	for (i = 0; i < n; i++)
		start(&runs[i]);
	wait_fuzzing(runs, n);
	reap(runs, n, now_ms() + seconds * 1000);
	for (i = 0; i < n; i++) {
		runs[i].early = runs[i].done;
		/* trinity ends its children and says what it did. */
		if (!runs[i].done)
			kill(runs[i].pid, SIGINT);
	}
	if (!reap(runs, n, now_ms() + 20000))
		for (i = 0; i < n; i++)
			if (!runs[i].done)
				kill(-runs[i].pid, SIGKILL);
	reap(runs, n, now_ms() + 5000);
}

/* Judges one run from its log: true when it made calls and no taint stopped it. */
static bool judge(struct run *r, long seconds, bool killed)
{
	static char text[1 << 20];
	long ran;
	bool ok;

	text[0] = '\0';
	file_read(r->log, text, sizeof(text));
	ran = last_figure(text, "Ran ");
	ktap_diag("figure: trinity %s: %ld system calls in %ld s on %s", r->m->name, ran,
		  seconds, r->m->victim);
	ok = ktap_ok(killed && !strstr(text, "kernel became tainted") && ran > 0,
		     "%s: trinity made %ld calls against %s, no taint stopped it",
		     r->m->name, ran, r->m->victim);
	if (!ok || r->early) {
		if (r->early)
			ktap_diag("trinity against %s ended before its %ld s:", r->m->victim,
				  seconds);
		show_tail(text);
	}
	return ok;
}

/* The module's device nodes, group nogroup and mode 0660, as udev makes them. */
static void open_to_group(const char *victim)
{
	if (strncmp(victim, "/dev/", 5))
		return;
	if (chown(victim, 0, NOBODY) || chmod(victim, 0660))
		ktap_bail("cannot give %s to group %d", victim, NOBODY);
}

int main(int argc, char **argv)
{
	static struct run runs[16];
	bool killed;
	char buf[512];
	const char *why;
	long seconds;
	int i, n = argc - 2, ret;

	if (argc < 3 || atol(argv[1]) < 1 || n > 16) {
		fprintf(stderr, "usage: trinity SECONDS MODULE...\n");
		return 2;
	}
	seconds = atol(argv[1]);
	ktap_begin("trinity", 2 * n);
	if (access("/bin/trinity", X_OK))
		ktap_bail("no /bin/trinity in this guest");
	mkdir(HOME, 0755);
	if (chown(HOME, NOBODY, NOBODY))
		ktap_bail("cannot give " HOME " to nobody");
	for (i = 0; i < n; i++) {
		runs[i].m = lkm_info(argv[i + 2]);
		ret = mod_load(runs[i].m->name, NULL);
		if (ret)
			ktap_bail("cannot load %s: %s", runs[i].m->name, strerror(-ret));
		open_to_group(runs[i].m->victim);
	}
	fuzz_all(runs, n, seconds);
	killed = kill_nobody();
	for (i = 0; i < n; i++) {
		const char *name = runs[i].m->name;

		judge(&runs[i], seconds, killed);
		why = lkm_smoke(name, buf, sizeof(buf));
		ret = mod_unload(name);
		if (!why && ret) {
			snprintf(buf, sizeof(buf), "its unload gives %s", strerror(-ret));
			why = buf;
		}
		if (!why && *lkm_leftovers(name, buf, sizeof(buf)))
			why = buf;
		ktap_ok(!why, "%s: works after trinity, unloads, leaves nothing%s%s", name,
			why ? ": " : "", why ? why : "");
		if (mod_loaded(name))
			mod_unload(name);
	}
	return ktap_end();
}
