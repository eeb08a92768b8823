// SPDX-License-Identifier: GPL-2.0
/*
 * faults - allocation-failure injection into every module: the N-th
 * allocation made by module code fails, for N = 1, 2, ... until the load,
 * or an operation that allocates, goes through without reaching it.
 *
 *   /tests/faults [-s MAX] MODULE...
 *
 * It uses the kernel's fail-nth (/proc/thread-self/fail-nth: the N-th
 * fault-injection point the thread passes fails) with failslab and
 * fail_page_alloc, and their stack-trace filter: only an allocation with a
 * return address in the module area on its stack counts, so that the
 * kernel's own loader, which allocates far more, is left alone. A failed
 * load must return ENOMEM and leave nothing behind (lkm_leftovers()), and
 * a normal load must work after it; a failed operation must return ENOMEM
 * or store a prefix, as README.md promises, and change no data stored
 * before. kmemleak (tests/guest-init scans after the program) and the
 * count of live objects allocated by module code (module_objects())
 * catch what a failure path forgets to free.
 *
 * Without -s every N is tried. -s MAX tries at most MAX per operation, of
 * its allocations (counted first, with fail-nth set past the end): half of
 * them dense at the start, where init's steps each allocate a little (N =
 * 1, 2, 4, 8...), and the rest spread evenly over the remainder, where one
 * call makes many (one device after another), the last allocation
 * included. make check stays short; make soak tries them all.
 *
 * One thread per module: on the debug kernel every unload sleeps for
 * seconds (DEBUG_KOBJECT_RELEASE), and modules load side by side.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/lkm_chardev.h>

#include "lkmtest.h"

#define DBG "/sys/kernel/debug/"
/* Far more allocations than any operation makes: fail-nth as a counter. */
#define COUNT_ALL 1000000
/* Problems shown in full per operation; the rest are counted. */
#define SHOWN 5

static long max_tries;		/* -s: tries per operation, 0 for all */

struct sweep;

/* One operation under fault injection. */
struct op {
	const char *name;
	/* Sets up the state the operation starts from (not under injection). */
	void (*prepare)(struct sweep *s);
	/* The operation itself, under injection: >= 0 or -errno. */
	long (*run)(struct sweep *s);
	/*
	 * NULL when the result and the state after it are as documented, else
	 * why not. Sets s->outcome. Undoes what prepare and run did.
	 */
	const char *(*judge)(struct sweep *s, long ret);
};

enum outcome { DONE, ENOMEM_, PREFIX, OTHER };

/* A module: how its load is swept, and its operations. */
struct target {
	const char *name;
	const char *load_params;	/* for the load's sweep */
	const char *op_params;		/* loaded so for its operations */
	const struct op *ops;
	int nops;
};

struct sweep {
	const struct target *t;
	pid_t tid;
	int nth;			/* this thread's fail-nth */
	struct kmsg_reader log;
	enum outcome outcome;
	int fd;
	long before[4];
	char why[1024], where[160];
	long faults;			/* over every operation */
	/* The current operation's tally, and its faults by call site: last. */
	long allocs, tried, fired, enomem, prefix, absorbed, silent, problems;
	struct site {
		char name[160];
		long n;
	} sites[16];
	int nsites;
};

/* ---------------------------------------------------------------- fail-nth */

static bool knob(const char *dir, const char *name, const char *value)
{
	char path[128];

	snprintf(path, sizeof(path), DBG "%s/%s", dir, name);
	return file_write(path, value) == 0;
}

/* The lowest address module code can have, from the kernel's own end. */
static unsigned long module_area_start(void)
{
	/* MODULES_VADDR: __START_KERNEL_map plus 512 MiB, or 1 GiB with KASLR. */
	unsigned long start = 0xffffffffa0000000UL, end = 0, addr;
	char line[256], type, sym[128];
	FILE *f;

	file_write("/proc/sys/kernel/kptr_restrict", "0");
	f = fopen("/proc/kallsyms", "r");
	if (!f)
		ktap_bail("cannot read /proc/kallsyms");
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx %c %127s", &addr, &type, sym) == 3 &&
		    !strcmp(sym, "_end") && !strchr(line, '[')) {
			end = addr;
			break;
		}
	fclose(f);
	if (!end)
		ktap_bail("no _end in /proc/kallsyms");
	/* A randomised kernel may lie above 0xffffffffa0000000. */
	return end > start ? (end + 0xfffff) & ~0xfffffUL : start;
}

/*
 * failslab fails only the caches marked for it (cache-filter): every one
 * but the debug kernel's own bookkeeping, which kmemleak and debugobjects
 * allocate beside each allocation, module code on the stack, and quietly
 * do without when it fails: sweeping it would try every allocation twice.
 */
static bool failslab_caches(void)
{
	static const char *const spared[] = {
		"kmemleak_object", "kmemleak_scan_area", "debug_objects_cache",
	};
	char path[300];
	struct dirent *e;
	int marked = 0;
	size_t i;
	DIR *d = opendir("/sys/kernel/slab");

	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.' || e->d_type != DT_DIR)
			continue;
		for (i = 0; i < ARRAY_SIZE(spared); i++)
			if (!strcmp(e->d_name, spared[i]))
				break;
		snprintf(path, sizeof(path), "/sys/kernel/slab/%s/failslab", e->d_name);
		if (!file_write(path, i < ARRAY_SIZE(spared) ? "0" : "1"))
			marked += i == ARRAY_SIZE(spared);
	}
	if (d)
		closedir(d);
	ktap_diag("fault injection: failslab fails %d slab caches", marked);
	return marked > 0 && knob("failslab", "cache-filter", "Y");
}

/*
 * Sets failslab and fail_page_alloc to fail only through fail-nth and only
 * with module code on the stack, and every other fault-injection point
 * never: fail-nth counts each of them, and only allocations are swept.
 */
static bool fault_setup(void)
{
	static const char *const allocs[] = { "failslab", "fail_page_alloc" };
	/* MODULES_END: the fixmap starts there. */
	static const char module_end[] = "0xffffffffff000000";
	char start[32], path[300];
	struct dirent *e;
	bool ok = true;
	size_t i;
	DIR *d;

	if (!path_exists(DBG "failslab"))
		mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	if (!path_exists("/proc/thread-self/fail-nth") ||
	    !path_exists(DBG "failslab/require-start") ||
	    !path_exists(DBG "fail_page_alloc/require-start")) {
		ktap_diag("no fail-nth, or no stack-trace filter in failslab and fail_page_alloc");
		return false;
	}
	snprintf(start, sizeof(start), "0x%lx", module_area_start());
	ktap_diag("fault injection: allocations from module code, %s..%s", start,
		  module_end);
	d = opendir(DBG);
	while (d && (e = readdir(d))) {
		snprintf(path, sizeof(path), DBG "%s/require-start", e->d_name);
		if (e->d_name[0] == '.' || !path_exists(path))
			continue;
		for (i = 0; i < ARRAY_SIZE(allocs); i++)
			if (!strcmp(e->d_name, allocs[i]))
				break;
		if (i == ARRAY_SIZE(allocs)) {
			/* An empty range: no stack ever matches. */
			ok &= knob(e->d_name, "require-start", "0") &&
			      knob(e->d_name, "require-end", "0");
			continue;
		}
		/* Only fail-nth fails, never chance; a stack dump for "where". */
		ok &= knob(e->d_name, "probability", "0") &&
		      knob(e->d_name, "task-filter", "N") &&
		      knob(e->d_name, "verbose", "2") &&
		      knob(e->d_name, "stacktrace-depth", "32") &&
		      knob(e->d_name, "reject-start", "0") &&
		      knob(e->d_name, "reject-end", "0") &&
		      knob(e->d_name, "require-start", start) &&
		      knob(e->d_name, "require-end", module_end) &&
		      /* By default both exempt GFP_KERNEL, which may sleep. */
		      knob(e->d_name, "ignore-gfp-wait", "N");
	}
	if (d)
		closedir(d);
	/* fail_page_alloc exempts single pages and highmem by default. */
	ok &= knob("fail_page_alloc", "min-order", "0") &&
	      knob("fail_page_alloc", "ignore-gfp-highmem", "N") &&
	      failslab_caches();
	if (!ok)
		ktap_diag("cannot set the fault-injection knobs in " DBG);
	return ok;
}

static void nth_set(struct sweep *s, long n)
{
	char buf[24];
	int len = snprintf(buf, sizeof(buf), "%ld", n);

	if (pwrite(s->nth, buf, len, 0) != len)
		ktap_bail("cannot write fail-nth: %s", strerror(errno));
}

/* What is left of the count, and the count set to 0 (nothing armed). */
static long nth_take(struct sweep *s)
{
	char buf[24];
	ssize_t n = pread(s->nth, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		ktap_bail("cannot read fail-nth: %s", strerror(errno));
	buf[n] = '\0';
	nth_set(s, 0);
	return atol(buf);
}

/* The name of the function of a stack frame line " func+0x1/0x2 [mod]". */
static void frame_func(const char *line, char *out, size_t size)
{
	size_t len;

	while (*line == ' ')
		line++;
	len = strcspn(line, "+\n ");
	snprintf(out, size, "%.*s", (int)len, line);
}

/*
 * Where this thread's fault struck, from the kernel log since it was armed:
 * failslab and fail_page_alloc dump the stack (verbose=2), in a block that
 * starts with "CPU: n ... PID: tid" and ends with "</TASK>". Its first
 * frame in the module's code and the frame it called name the call site:
 * "lkm_chardev_init>device_create". "silent" when the allocation asked not
 * to warn (__GFP_NOWARN: no dump at all).
 */
static void fault_site(struct sweep *s)
{
	char pid[32], tag[64], caller[64] = "", callee[64] = "";
	const char *log = kmsg_read(&s->log, NULL), *p, *line;

	snprintf(pid, sizeof(pid), " PID: %d ", (int)s->tid);
	snprintf(tag, sizeof(tag), " [%s]", s->t->name);
	snprintf(s->where, sizeof(s->where), "silent");
	for (p = strstr(log, pid); p; p = strstr(p + 1, pid)) {
		line = p;
		while (line > log && line[-1] != '\n')
			line--;
		if (!strncmp(line, "CPU: ", 5))
			break;
	}
	if (!p)
		return;
	for (line = strchr(p, '\n'); line && *++line; line = strchr(line, '\n')) {
		if (!strncmp(line, " </TASK>", 8))
			break;
		/* Frames are " func+0x../0x.."; " ? func" ones are unreliable. */
		if (line[0] != ' ' || line[1] == '?' || line[1] == '<' ||
		    !memchr(line, '+', strcspn(line, "\n")))
			continue;
		if (memmem(line, strcspn(line, "\n"), tag, strlen(tag))) {
			frame_func(line, caller, sizeof(caller));
			break;
		}
		frame_func(line, callee, sizeof(callee));
	}
	snprintf(s->where, sizeof(s->where), "%s>%s", caller[0] ? caller : "?",
		 callee[0] ? callee : "?");
}

/* Counts one fault at its call site. */
static void site_count(struct sweep *s)
{
	int i;

	for (i = 0; i < s->nsites; i++)
		if (!strcmp(s->sites[i].name, s->where))
			break;
	if (i == ARRAY_SIZE(s->sites))
		i--;	/* the last one stands for the rest */
	if (i == s->nsites) {
		snprintf(s->sites[i].name, sizeof(s->sites[i].name), "%s", s->where);
		s->sites[i].n = 0;
		s->nsites++;
	}
	s->sites[i].n++;
}

/* The call sites as "site N, site N". */
static const char *sites(struct sweep *s, char *buf, size_t size)
{
	size_t len = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < s->nsites && len < size; i++)
		len += snprintf(buf + len, size - len, "%s%s %ld", i ? ", " : "",
				s->sites[i].name, s->sites[i].n);
	return buf;
}

/* ---------------------------------------------------------------- loads */

static void load_prepare(struct sweep *s)
{
	if (mod_loaded(s->t->name))
		mod_unload(s->t->name);
}

static long load_run(struct sweep *s)
{
	return mod_load(s->t->name, s->t->load_params);
}

/* Unloads the module: NULL, or why that or what it left is wrong. */
static const char *unload_clean(struct sweep *s)
{
	char left[512];
	int ret = mod_unload(s->t->name);

	if (ret) {
		snprintf(s->why, sizeof(s->why), "unload gives %s", strerror(-ret));
		return s->why;
	}
	if (*lkm_leftovers(s->t->name, left, sizeof(left))) {
		snprintf(s->why, sizeof(s->why), "unload leaves %s", left);
		return s->why;
	}
	return NULL;
}

static const char *load_judge(struct sweep *s, long ret)
{
	char left[512];
	const char *why;
	int again;

	s->outcome = ret == 0 ? DONE : ret == -ENOMEM ? ENOMEM_ : OTHER;
	if (ret == 0) {
		/* Fired but loaded: a fallback (kvmalloc) or an ignored failure. */
		why = lkm_smoke(s->t->name, s->why, sizeof(s->why));
		return why ? why : unload_clean(s);
	}
	if (*lkm_leftovers(s->t->name, left, sizeof(left))) {
		snprintf(s->why, sizeof(s->why), "the failed load (%s) leaves %s",
			 strerror(-ret), left);
		return s->why;
	}
	if (ret != -ENOMEM) {
		snprintf(s->why, sizeof(s->why), "the load fails with %s, not ENOMEM",
			 strerror(-ret));
		return s->why;
	}
	/* Nothing of the failed load may stand in the next one's way. */
	again = mod_load(s->t->name, s->t->load_params);
	if (again) {
		snprintf(s->why, sizeof(s->why), "a normal load after it fails: %s",
			 strerror(-again));
		return s->why;
	}
	why = lkm_smoke(s->t->name, s->why, sizeof(s->why));
	return why ? why : unload_clean(s);
}

/* ---------------------------------------------------------------- operations */

static char old_data[300000], new_data[300000], got[600000];

/* Whether the ret of an operation is ENOMEM or success, and says so. */
static const char *enomem_or_done(struct sweep *s, long ret, const char *what)
{
	s->outcome = ret >= 0 ? DONE : ret == -ENOMEM ? ENOMEM_ : OTHER;
	if (s->outcome != OTHER)
		return NULL;
	snprintf(s->why, sizeof(s->why), "%s gives %s", what, strerror(-ret));
	return s->why;
}

/* Classifies the result of a write of len bytes. */
static const char *write_outcome(struct sweep *s, long ret, long len)
{
	if (ret == len)
		s->outcome = DONE;
	else if (ret > 0 && ret < len)
		s->outcome = PREFIX;
	else if (ret == -ENOMEM)
		s->outcome = ENOMEM_;
	else
		s->outcome = OTHER;
	if (s->outcome != OTHER)
		return NULL;
	snprintf(s->why, sizeof(s->why), "the write of %ld gives %ld (%s)", len, ret,
		 ret < 0 ? strerror(-ret) : "-");
	return s->why;
}

static void fill(char *buf, size_t len, int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = 'a' + (i * 7 + seed) % 26;
}

/*
 * lkm_chardev: a write that grows the data into fresh pages (and the
 * xarray into new nodes: index 63 and on), over data already stored.
 */
#define CD_OLD	5000
#define CD_POS	(63 * 4096 + 2000)
#define CD_LEN	(3 * 4096 + 100)

static void chardev_prepare(struct sweep *s)
{
	s->fd = open("/dev/lkm_chardev0", O_RDWR | O_TRUNC | O_CLOEXEC);
	fill(old_data, CD_OLD, 1);
	fill(new_data, CD_LEN, 2);
	if (s->fd < 0 || pwrite(s->fd, old_data, CD_OLD, 0) != CD_OLD)
		ktap_bail("lkm_chardev: cannot store the starting data");
}

static long chardev_run(struct sweep *s)
{
	return rw(pwrite(s->fd, new_data, CD_LEN, CD_POS));
}

static const char *chardev_judge(struct sweep *s, long ret)
{
	long stored = ret > 0 ? ret : 0, size = stored ? CD_POS + stored : CD_OLD;
	const char *why = write_outcome(s, ret, CD_LEN);
	__u64 now = 0;
	long i;

	if (!why && (ioctl(s->fd, LKM_CHARDEV_GET_SIZE, &now) || (long)now != size)) {
		snprintf(s->why, sizeof(s->why), "size %llu after the write of %ld, not %ld",
			 (unsigned long long)now, ret, size);
		why = s->why;
	}
	if (!why && rw(pread(s->fd, got, sizeof(got), 0)) != size) {
		snprintf(s->why, sizeof(s->why), "cannot read the %ld bytes back", size);
		why = s->why;
	}
	for (i = 0; !why && i < size; i++) {
		char want = i < CD_OLD ? old_data[i] : i < CD_POS ? 0 : new_data[i - CD_POS];

		if (got[i] != want) {
			snprintf(s->why, sizeof(s->why),
				 "byte %ld is %d, not %d, after the write of %ld", i,
				 got[i], want, ret);
			why = s->why;
		}
	}
	close(s->fd);
	return why;
}

static const struct op chardev_ops[] = {
	{ "load", load_prepare, load_run, load_judge },
	{ "a write growing the data", chardev_prepare, chardev_run, chardev_judge },
};

/* lkm_misc: a large write into the FIFO, all of which fits. */
#define PIPE_LEN 40000

static void pipe_prepare(struct sweep *s)
{
	char buf[4096];

	s->fd = open("/dev/lkm_pipe", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (s->fd < 0)
		ktap_bail("lkm_misc: cannot open /dev/lkm_pipe");
	while (read(s->fd, buf, sizeof(buf)) > 0)
		;
	fill(new_data, PIPE_LEN, 3);
}

static long pipe_run(struct sweep *s)
{
	return rw(write(s->fd, new_data, PIPE_LEN));
}

static const char *pipe_judge(struct sweep *s, long ret)
{
	const char *why = write_outcome(s, ret, PIPE_LEN);
	long n, total = 0;

	while ((n = read(s->fd, got + total, sizeof(got) - total)) > 0)
		total += n;
	if (!why && (total != (ret > 0 ? ret : 0) || memcmp(got, new_data, total))) {
		snprintf(s->why, sizeof(s->why),
			 "%ld bytes read back after a write of %ld, or not those written",
			 total, ret);
		why = s->why;
	}
	close(s->fd);
	return why;
}

static const struct op misc_ops[] = {
	{ "load", load_prepare, load_run, load_judge },
	{ "a large write", pipe_prepare, pipe_run, pipe_judge },
};

/*
 * lkm_procfs: message writes (small: kmalloc; large: kvmalloc, which may
 * fall back to vmalloc), refused whole or stored whole. Its opens and
 * reads allocate too, but in the seq_file code the VFS calls (or that the
 * module tail-calls): with no module code on the stack, and no module
 * error path to take, they are not the module's allocations.
 */
#define MSG "/proc/lkm_procfs/message"
#define MSG_OLD 100
#define MSG_POS 50

static void message_set(void)
{
	int fd = open(MSG, O_WRONLY | O_TRUNC | O_CLOEXEC);

	fill(old_data, MSG_OLD, 4);
	if (fd < 0 || write(fd, old_data, MSG_OLD) != MSG_OLD)
		ktap_bail("lkm_procfs: cannot set the starting message");
	close(fd);
}

static long msg_len(struct sweep *s)
{
	return s->before[0];
}

static void message_prepare(struct sweep *s, long len)
{
	message_set();
	s->before[0] = len;
	fill(new_data, len, 5);
	s->fd = open(MSG, O_WRONLY | O_CLOEXEC);
	if (s->fd < 0 || lseek(s->fd, MSG_POS, SEEK_SET) != MSG_POS)
		ktap_bail("lkm_procfs: cannot open the message for writing");
}

static void small_prepare(struct sweep *s)
{
	message_prepare(s, 200);
}

static void large_prepare(struct sweep *s)
{
	message_prepare(s, 262144);
}

static long message_run(struct sweep *s)
{
	return rw(write(s->fd, new_data, msg_len(s)));
}

/* Reads the whole message into got; its length or -errno. */
static long message_get(void)
{
	long n, total = 0;
	int fd = open(MSG, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while ((n = read(fd, got + total, sizeof(got) - total)) > 0)
		total += n;
	close(fd);
	return n < 0 ? -errno : total;
}

static const char *message_judge(struct sweep *s, long ret)
{
	long len = msg_len(s);
	bool stored = ret == len;
	const char *why = write_outcome(s, ret, len);

	close(s->fd);
	if (why)
		return why;
	/* README: a write is stored whole or refused whole. */
	if (s->outcome == PREFIX) {
		snprintf(s->why, sizeof(s->why), "the write of %ld stored %ld", len, ret);
		return s->why;
	}
	/* Refused, the message is the old one; stored, the old one's start and it. */
	if (message_get() != (stored ? MSG_POS + len : MSG_OLD) ||
	    memcmp(got, old_data, stored ? MSG_POS : MSG_OLD) ||
	    (stored && memcmp(got + MSG_POS, new_data, len))) {
		snprintf(s->why, sizeof(s->why), "the message is not as the write of %ld left it",
			 ret);
		return s->why;
	}
	return NULL;
}

static const struct op procfs_ops[] = {
	{ "load", load_prepare, load_run, load_judge },
	{ "a message write of 200 bytes", small_prepare, message_run, message_judge },
	{ "a message write of 256 KiB", large_prepare, message_run, message_judge },
};

/* lkm_workqueue: submissions, all or nothing. */
#define WQ_STATS "/proc/lkm_workqueue/stats"

static bool wq_settle(void)
{
	long until = now_ms() + 30000;

	while (file_key(WQ_STATS, "in_flight") != 0 && now_ms() < until)
		usleep(10 * 1000);
	return file_key(WQ_STATS, "in_flight") == 0;
}

static void submit_prepare(struct sweep *s)
{
	if (!wq_settle())
		ktap_bail("lkm_workqueue: jobs still in flight after 30 s");
	s->before[0] = file_key(WQ_STATS, "queued");
	s->before[1] = file_key(WQ_STATS, "completed");
}

static long submit_jobs(struct sweep *s)
{
	char n[16];

	snprintf(n, sizeof(n), "%ld", s->before[2]);
	return file_write("/proc/lkm_workqueue/submit", n);
}

static void submit3_prepare(struct sweep *s)
{
	submit_prepare(s);
	s->before[2] = 3;
}

static void submit600_prepare(struct sweep *s)
{
	submit_prepare(s);
	/* 600 pointers pass a page: kvmalloc_array() falls back to vmalloc. */
	s->before[2] = 600;
}

static const char *submit_judge(struct sweep *s, long ret)
{
	const char *why = enomem_or_done(s, ret, "the submission");
	long n = ret == 0 ? s->before[2] : 0;

	if (!why && !wq_settle())
		why = "its jobs are still in flight after 30 s";
	if (!why && (file_key(WQ_STATS, "queued") != s->before[0] + n ||
		     file_key(WQ_STATS, "completed") != s->before[1] + n)) {
		snprintf(s->why, sizeof(s->why),
			 "queued and completed did not grow by %ld after a submission of %ld (%s)",
			 n, s->before[2], ret ? strerror(-ret) : "done");
		why = s->why;
	}
	return why;
}

static const struct op workqueue_ops[] = {
	{ "load", load_prepare, load_run, load_judge },
	{ "a submission of 3 jobs", submit3_prepare, submit_jobs, submit_judge },
	{ "a submission of 600 jobs", submit600_prepare, submit_jobs, submit_judge },
};

/* lkm_hello: a run-time write of whom, which param_set_charp() copies. */
#define WHOM "/sys/module/lkm_hello/parameters/whom"

static void whom_prepare(struct sweep *s)
{
	s->fd = -1;
	if (file_write(WHOM, "before"))
		ktap_bail("lkm_hello: cannot set whom");
}

static long whom_run(struct sweep *s)
{
	(void)s;
	return file_write(WHOM, "after-the-fault");
}

static const char *whom_judge(struct sweep *s, long ret)
{
	const char *why = enomem_or_done(s, ret, "the write of whom");
	char buf[128];

	if (!why && (file_read(WHOM, buf, sizeof(buf)) ||
		     strcmp(buf, ret ? "before\n" : "after-the-fault\n"))) {
		snprintf(s->why, sizeof(s->why), "whom is '%.64s' after the write (%s)",
			 buf, ret ? strerror(-ret) : "done");
		why = s->why;
	}
	return why;
}

static const struct op hello_ops[] = {
	{ "load", load_prepare, load_run, load_judge },
	{ "a write of whom", whom_prepare, whom_run, whom_judge },
};

static const struct target targets[] = {
	/* whom: param_set_charp() allocates while the load parses it. */
	{ "lkm_hello", "whom=sweep", NULL, hello_ops, ARRAY_SIZE(hello_ops) },
	/* Two devices: the failure of the second undoes the first. */
	{ "lkm_chardev", "devices=2", "devices=1", chardev_ops, ARRAY_SIZE(chardev_ops) },
	{ "lkm_misc", NULL, NULL, misc_ops, ARRAY_SIZE(misc_ops) },
	/* A message of more than a page: kvzalloc() falls back to vmalloc. */
	{ "lkm_procfs", "max_message=65536", "max_message=1048576", procfs_ops,
	  ARRAY_SIZE(procfs_ops) },
	{ "lkm_workqueue", NULL, NULL, workqueue_ops, ARRAY_SIZE(workqueue_ops) },
};

/* ---------------------------------------------------------------- sweeping */

/* One try: the operation with its n-th allocation failing (0: none). */
static const char *try(struct sweep *s, const struct op *op, long n, bool *fired)
{
	const char *why;
	long ret, left;

	op->prepare(s);
	kmsg_open(&s->log);
	nth_set(s, n ? n : COUNT_ALL);
	ret = op->run(s);
	left = nth_take(s);
	*fired = n && left == 0;
	if (!n)
		s->allocs = COUNT_ALL - left;
	why = op->judge(s, ret);
	if (!n && !why && ret < 0) {
		snprintf(s->why, sizeof(s->why), "it fails with no fault: %s",
			 strerror(-ret));
		why = s->why;
	}
	return why;
}

static void tally(struct sweep *s, const struct op *op, long n, bool fired,
		  const char *why)
{
	static const char *const names[] = { "done", "ENOMEM", "a prefix", "?" };

	s->tried++;
	if (fired) {
		s->fired++;
		fault_site(s);
		if (!strcmp(s->where, "silent"))
			s->silent++;
		else
			site_count(s);
		s->enomem += s->outcome == ENOMEM_;
		s->prefix += s->outcome == PREFIX;
		s->absorbed += s->outcome == DONE;
		ktap_diag("%s %s, fault %ld: %s at %s", s->t->name, op->name, n,
			  s->outcome == DONE ? "absorbed" : names[s->outcome], s->where);
	}
	if (why && ++s->problems <= SHOWN)
		ktap_diag("PROBLEM: %s %s, fault %ld%s: %s", s->t->name, op->name, n,
			  fired ? "" : " (not reached)", why);
}

/* The outcomes of the faults, "(N ENOMEM, N prefix, N absorbed, N silent)". */
static const char *outcomes(struct sweep *s, char *buf, size_t size)
{
	snprintf(buf, size, "(%ld ENOMEM, %ld prefix, %ld absorbed, %ld silent)",
		 s->enomem, s->prefix, s->absorbed, s->silent);
	return buf;
}

/*
 * The i-th of tries positions for -s: 1, 2, 4 ... for the first half, then
 * evenly up to allocs. A position at or below the one before means skip.
 */
static long position(long i, long tries, long allocs)
{
	long dense = tries / 2, lo = 1L << (dense - 1);

	if (i < dense)
		return 1L << i;
	return lo + (i - dense + 1) * (allocs - lo) / (tries - dense);
}

/* Sweeps one operation; true when every try went as documented. */
static bool sweep_op(struct sweep *s, const struct op *op)
{
	const char *why;
	long n, i, tries;
	char at[1024], outs[128];
	bool fired, sampled;

	memset(&s->allocs, 0, sizeof(*s) - offsetof(struct sweep, allocs));
	/* With nothing failing, the count of allocations it makes. */
	why = try(s, op, 0, &fired);
	if (why) {
		s->problems++;
		ktap_diag("PROBLEM: %s %s, without faults: %s", s->t->name, op->name, why);
		return false;
	}
	/*
	 * Every N until one is past the last allocation (the count may differ
	 * from run to run: a bound guards against one that never ends), or
	 * -s's MAX of them (position()).
	 */
	sampled = max_tries && s->allocs > max_tries;
	tries = sampled ? max_tries : 2 * s->allocs + 16;
	for (i = 0, n = 0; i < tries; i++) {
		if (sampled && position(i, tries, s->allocs) <= n)
			continue;
		n = sampled ? position(i, tries, s->allocs) : i + 1;
		why = try(s, op, n, &fired);
		tally(s, op, n, fired, why);
		if (!sampled && !fired)
			break;
	}
	if (!sampled && fired) {
		s->problems++;
		ktap_diag("PROBLEM: %s %s: still allocating after %ld faults", s->t->name,
			  op->name, tries);
	}
	s->faults += s->fired;
	ktap_diag("figure: faults %s %s: %ld injected in %ld allocations%s %s%s%s",
		  s->t->name, op->name, s->fired, s->allocs,
		  sampled ? ", sampled" : "", outcomes(s, outs, sizeof(outs)),
		  s->nsites ? "; at " : "", sites(s, at, sizeof(at)));
	return !s->problems;
}

static pthread_barrier_t ready;

static void *sweep_module(void *arg)
{
	struct sweep *s = arg;
	const struct target *t = s->t;
	const char *why;
	char buf[512];
	int i, ret;
	bool ok;
	long start;

	s->tid = syscall(SYS_gettid);
	s->nth = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	if (s->nth < 0)
		ktap_bail("cannot open /proc/thread-self/fail-nth");
	/* Once through, so that first-load effects are out of the slab figures. */
	if (!mod_loaded(t->name) && !mod_load(t->name, t->load_params))
		mod_unload(t->name);
	pthread_barrier_wait(&ready);
	pthread_barrier_wait(&ready);
	start = now_ms();
	ok = sweep_op(s, &t->ops[0]);
	ktap_ok(ok, "%s: each failed load: ENOMEM, nothing left, a normal load works after it",
		t->name);
	ret = mod_load(t->name, t->op_params);
	if (ret)
		ktap_bail("%s: cannot load it for its operations: %s", t->name, strerror(-ret));
	for (i = 1; i < t->nops; i++) {
		ok = sweep_op(s, &t->ops[i]);
		ktap_ok(ok, "%s: %s fails cleanly or goes through, whichever allocation fails",
			t->name, t->ops[i].name);
	}
	why = lkm_smoke(t->name, buf, sizeof(buf));
	if (!why)
		why = unload_clean(s);
	ktap_ok(!why && s->faults > 0, "%s: %ld faults injected, then it works and unloads (%s)",
		t->name, s->faults, why ? why : "ok");
	ktap_diag("figure: faults %s: %ld injected in %ld s", t->name, s->faults,
		  (now_ms() - start + 500) / 1000);
	kmsg_close(&s->log);
	close(s->nth);
	return NULL;
}

int main(int argc, char **argv)
{
	static struct slab_usage before, after;
	static struct sweep sweeps[ARRAY_SIZE(targets)];
	char grown[1024];
	long objs0, objs1;
	int i, j, n = 0, planned = 2, opt;
	pthread_t tid[ARRAY_SIZE(targets)];
	long start = now_ms();

	while ((opt = getopt(argc, argv, "s:")) != -1) {
		max_tries = opt == 's' ? atol(optarg) : -1;
		if (max_tries < 0 || max_tries == 1) {
			fprintf(stderr, "usage: faults [-s MAX (2 or more)] MODULE...\n");
			return 2;
		}
	}
	for (i = optind; i < argc; i++) {
		for (j = 0; j < (int)ARRAY_SIZE(targets); j++)
			if (!strcmp(targets[j].name, argv[i]))
				break;
		if (j == ARRAY_SIZE(targets)) {
			fprintf(stderr, "faults: no sweep for module %s\n", argv[i]);
			return 2;
		}
		sweeps[n++].t = &targets[j];
		planned += targets[j].nops + 1;
	}
	ktap_begin("faults", planned);
	if (!ktap_ok(fault_setup(), "failslab and fail_page_alloc fail module allocations only"))
		ktap_bail("no fault injection in this kernel");
	pthread_barrier_init(&ready, NULL, n + 1);
	for (i = 0; i < n; i++)
		if (pthread_create(&tid[i], NULL, sweep_module, &sweeps[i]))
			ktap_bail("pthread_create failed");
	pthread_barrier_wait(&ready);
	mem_settle(10000);
	if (slab_usage_read(&before))
		ktap_bail("cannot read /proc/slabinfo");
	objs0 = module_objects(grown, sizeof(grown));
	if (objs0 < 0)
		ktap_bail("cannot read the slab allocation traces: %s", strerror(-objs0));
	pthread_barrier_wait(&ready);
	for (i = 0; i < n; i++)
		pthread_join(tid[i], NULL);
	mem_settle(10000);
	if (slab_usage_read(&after))
		ktap_bail("cannot read /proc/slabinfo");
	objs1 = module_objects_after(objs0, grown, sizeof(grown));
	ktap_ok(objs1 >= 0 && objs1 <= objs0,
		"no more objects allocated by module code are live after the sweeps: %ld, %ld before%s%s",
		objs1, objs0, objs1 > objs0 ? "; " : "", objs1 > objs0 ? grown : "");
	ktap_diag("figure: faults: slab %+ld KiB after the sweeps, %ld s in all",
		  (after.bytes - before.bytes) / 1024, (now_ms() - start + 500) / 1000);
	slab_grown(&before, &after, 4, grown, sizeof(grown));
	ktap_diag("slab caches with more than 4 objects more: %s", grown[0] ? grown : "none");
	return ktap_end();
}
