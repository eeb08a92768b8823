// SPDX-License-Identifier: GPL-2.0
/*
 * trinity - the trinity system-call fuzzer (Debian's package) against the
 * files of every module, SECONDS a run: one run for the modules' devices,
 * one for each module's directory of /proc or /sys, one after the other.
 *
 *   /tests/trinity SECONDS MODULE...
 *
 * trinity runs as the unprivileged user nobody (65534), every system call
 * but fanotify_init and fanotify_mark (Debian's kernels taint on fanotify
 * permission events by design, and trinity stops at any new taint), with
 * a run's files as its only victims (its "pseudo" file descriptors, which
 * must stay on) and every other kind of file descriptor off, so that its
 * calls land on them. It takes one victim path (-V), whose walk stays on
 * one filesystem: the devices' run has copies of the device nodes in one
 * directory, with group nogroup (65534) and mode 0660, as the package's
 * udev rules give them group lkmkit (nobody is a member); /proc and /sys
 * files keep theirs. Runs side by side took minutes to set themselves up
 * under emulation; one alone takes seconds.
 *
 * A run must hold files of each of its modules open (trinity opens its
 * victims up front and its calls take those descriptors), make system
 * calls and not be stopped by a taint (trinity stops when it sees one);
 * one that ends early for a reason of trinity's own (its lock watchdog,
 * impatient on a slow guest) says why and counts what it did. Then each
 * module works as documented (lkm_smoke()), unloads and leaves nothing.
 * The host judges the console for kernel reports. trinity's own output is
 * /tmp/trinity-<run>.log in the guest; its last lines are shown when
 * something failed.
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
#define VICTIMS "/tmp/trinity-devices"
#define DEVICE_COPIES 8

/*
 * Calls fn(pid, arg) for each process of the guest but this one; returns
 * how many calls returned true.
 */
static int each_process(bool (*fn)(const char *pid, void *arg), void *arg)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		if (e->d_name[0] >= '1' && e->d_name[0] <= '9' && atoi(e->d_name) != getpid())
			n += fn(e->d_name, arg);
	if (d)
		closedir(d);
	return n;
}

/* A process of user nobody. */
static bool is_nobody(const char *pid, void *arg)
{
	char path[300], buf[2048], *uid;

	(void)arg;
	snprintf(path, sizeof(path), "/proc/%s/status", pid);
	if (file_read(path, buf, sizeof(buf)))
		return false;
	uid = strstr(buf, "\nUid:\t");
	return uid && atoi(uid + 6) == NOBODY;
}

static int nobody_count(void)
{
	return each_process(is_nobody, NULL);
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
	execle("/bin/trinity", "trinity", "-q", "-l", "off", "-C", "4", "-V", victim,
	       "-x", "fanotify_init", "-x", "fanotify_mark",
	       "--disable-fds=sockets,pipes,perf,epoll,eventfd,timerfd,testfile,memfd,drm",
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

/*
 * A run of trinity: its victim path and the modules whose files are in
 * it, each with the path prefix its files have in a process's open files.
 */
struct run {
	const char *victim;
	char log[64];
	int n;
	const struct lkm_info *mods[16];
	char held_as[16][96];
	bool seen[16];
	pid_t pid;
	int status;
	bool done;
};

/* Waits until deadline for the run to end; true when it did. */
static bool reap(struct run *r, long deadline)
{
	while (!r->done) {
		if (waitpid(r->pid, &r->status, WNOHANG) > 0) {
			r->done = true;
			break;
		}
		if (now_ms() >= deadline)
			break;
		usleep(100 * 1000);
	}
	return r->done;
}

/* A process of process group *pgrp. */
static bool in_group(const char *pid, void *pgrp)
{
	char path[300], stat[512], *p;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	if (file_read(path, stat, sizeof(stat)))
		return false;
	/* pid (comm) state ppid pgrp ...: comm may hold spaces. */
	p = strrchr(stat, ')');
	return p && atol(p + 4 + strcspn(p + 4, " ")) == *(pid_t *)pgrp;
}

/* How many processes are in process group pgrp (trinity and its children). */
static int group_size(pid_t pgrp)
{
	return each_process(in_group, &pgrp);
}

/*
 * Marks each module of run r that process pid (trinity, its children:
 * nobody else opens them) has a file of open.
 */
static bool holds_victims(const char *pid, void *run)
{
	struct run *r = run;
	char path[528], link[300];
	struct dirent *f;
	DIR *fds;
	ssize_t len;
	int i;

	snprintf(path, sizeof(path), "/proc/%s/fd", pid);
	fds = opendir(path);
	while (fds && (f = readdir(fds))) {
		snprintf(path, sizeof(path), "/proc/%s/fd/%s", pid, f->d_name);
		len = readlink(path, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		for (i = 0; i < r->n; i++)
			if (!strncmp(link, r->held_as[i], strlen(r->held_as[i])))
				r->seen[i] = true;
	}
	if (fds)
		closedir(fds);
	return false;
}

/*
 * Runs trinity for seconds once it has set itself up: until it has forked
 * its watchdog and a child (up to five minutes), which is no fuzzing.
 * Looks five times a second at the files it holds (holds_victims()).
 * True when it was still running at the end, and so stopped by us.
 */
static bool fuzz(struct run *r, long seconds)
{
	long until = now_ms() + 300 * 1000, start = now_ms(), end;
	bool ready;

	r->pid = fork();
	if (r->pid == 0)
		child(r->victim, r->log);
	if (r->pid < 0)
		ktap_bail("fork: %s", strerror(errno));
	while (!(ready = group_size(r->pid) >= 3) && !reap(r, now_ms()) && now_ms() < until)
		usleep(200 * 1000);
	ktap_diag("trinity on %s: %s after %ld ms of set-up", r->victim,
		  ready ? "fuzzing" : "not fuzzing", now_ms() - start);
	end = now_ms() + seconds * 1000;
	while (!r->done && now_ms() < end) {
		each_process(holds_victims, r);
		reap(r, now_ms() + 200 < end ? now_ms() + 200 : end);
	}
	if (r->done)
		return false;
	/* trinity ends its children and says what it did. */
	kill(r->pid, SIGINT);
	if (!reap(r, now_ms() + 20000))
		kill(-r->pid, SIGKILL);
	reap(r, now_ms() + 5000);
	return true;
}

/*
 * Judges a run from its log and what it held: true when it had files of
 * each of its modules open, made calls, and no taint stopped it.
 */
static bool judge(struct run *r, long seconds, bool stopped, bool killed)
{
	static char text[1 << 20];
	char missed[256] = "";
	long ran;
	bool ok;
	int i, held = 0;

	text[0] = '\0';
	file_read(r->log, text, sizeof(text));
	ran = last_figure(text, "Ran ");
	for (i = 0; i < r->n; i++) {
		held += r->seen[i];
		if (!r->seen[i])
			snprintf(missed + strlen(missed), sizeof(missed) - strlen(missed), " %s",
				 r->mods[i]->name);
	}
	ktap_diag("figure: trinity: %ld system calls in %ld s on %s", ran, seconds, r->victim);
	ok = ktap_ok(killed && !strstr(text, "kernel became tainted") && ran > 0 && held == r->n,
		     "trinity on %s held files of %d of %d modules open, made %ld calls, no taint stopped it%s%s",
		     r->victim, held, r->n, ran, held < r->n ? "; none of" : "", missed);
	if (!ok || !stopped) {
		if (!stopped)
			ktap_diag("trinity ended before its %ld s:", seconds);
		show_tail(text);
	}
	return ok;
}

/*
 * The run a module's files go to: a device, copied into VICTIMS (the
 * devices' run), with group nogroup and mode 0660, as the package's udev
 * rules give them group lkmkit; a directory of /proc or /sys, its own.
 * trinity's walk of its victim path stays on one filesystem, links to
 * another included, so the devices need copies of their own there.
 */
static void add_victim(struct run *runs, int *nruns, const struct lkm_info *m)
{
	bool dev = !strncmp(m->victim, "/dev/", 5);
	/* main() made runs[0] the devices' run, if there are devices. */
	struct run *r = dev ? &runs[0] : &runs[(*nruns)++];
	char *as = r->held_as[r->n], path[128];
	struct stat st;
	int i;

	if (stat(m->victim, &st))
		ktap_bail("no %s: %s", m->victim, strerror(errno));
	r->mods[r->n++] = m;
	snprintf(r->log, sizeof(r->log), "/tmp/trinity-%d.log", (int)(r - runs));
	if (!dev) {
		/* The directory or a file in it: trinity picks among both. */
		r->victim = m->victim;
		snprintf(as, sizeof(r->held_as[0]), "%s", m->victim);
		return;
	}
	r->victim = VICTIMS;
	snprintf(as, sizeof(r->held_as[0]), VICTIMS "/%s-", m->name);
	/*
	 * trinity opens as many descriptors up front as it has files, each of
	 * a file it picks at random: copies enough that each device gets some.
	 */
	for (i = 0; i < DEVICE_COPIES; i++) {
		snprintf(path, sizeof(path), "%s%d", as, i);
		if (mknod(path, S_IFCHR | 0660, st.st_rdev) || chown(path, 0, NOBODY))
			ktap_bail("cannot make %s: %s", path, strerror(errno));
	}
}

int main(int argc, char **argv)
{
	static struct run runs[16];
	bool killed, stopped;
	char buf[512];
	const char *why;
	long seconds;
	int i, n = argc - 2, ret, nruns = 0, devices = 0;

	if (argc < 3 || atol(argv[1]) < 1 || n > 16) {
		fprintf(stderr, "usage: trinity SECONDS MODULE...\n");
		return 2;
	}
	seconds = atol(argv[1]);
	for (i = 0; i < n; i++)
		devices += !strncmp(lkm_info(argv[i + 2])->victim, "/dev/", 5);
	ktap_begin("trinity", n + (n - devices) + !!devices);
	if (access("/bin/trinity", X_OK))
		ktap_bail("no /bin/trinity in this guest");
	mkdir(HOME, 0755);
	if (chown(HOME, NOBODY, NOBODY))
		ktap_bail("cannot give " HOME " to nobody");
	if (mkdir(VICTIMS, 0755) && errno != EEXIST)
		ktap_bail("cannot make " VICTIMS ": %s", strerror(errno));
	/* The devices' run first, whatever the order of the modules. */
	if (devices)
		runs[nruns++].victim = VICTIMS;
	for (i = 0; i < n; i++) {
		const struct lkm_info *m = lkm_info(argv[i + 2]);

		ret = mod_load(m->name, NULL);
		if (ret)
			ktap_bail("cannot load %s: %s", m->name, strerror(-ret));
		add_victim(runs, &nruns, m);
	}
	for (i = 0; i < nruns; i++) {
		stopped = fuzz(&runs[i], seconds);
		killed = kill_nobody();
		judge(&runs[i], seconds, stopped, killed);
	}
	for (i = 0; i < n; i++) {
		const char *name = argv[i + 2];

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
