/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lkmtest.h - the helpers every in-guest test program shares.
 *
 * Test programs run as root inside the QEMU guest and print KTAP: a
 * header, the plan declared up front, one "ok"/"not ok" line per check.
 * The host counts the lines and fails the run when the plan and the
 * results disagree, so a program that dies half way is a failure.
 */
#ifndef LKMTEST_H
#define LKMTEST_H

#include <stdbool.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define __printf(a, b) __attribute__((format(printf, a, b)))

/* Where the guest's init puts the modules under test. */
#define LKM_MODDIR "/lib/modules/lkmkit"

/* A 32-bit build of a program is a suite of its own, SUITE-32. */
void ktap_begin(const char *suite, int planned);
/* Records one check; returns cond so callers can stop early on failure. */
bool ktap_ok(bool cond, const char *fmt, ...) __printf(2, 3);
void ktap_diag(const char *fmt, ...) __printf(1, 2);
/* Records a check that cannot run here, saying why: "ok N # SKIP why". */
void ktap_skip(const char *fmt, ...) __printf(1, 2);
/* Prints the fail count and returns the exit status for main(). */
int ktap_end(void);
/*
 * For a step that is no check of the module but that the checks after it
 * need: prints "Bail out!" and exits, so the plan goes unmet and the suite
 * fails rather than passing checks that never ran as they should.
 */
void ktap_bail(const char *fmt, ...) __printf(1, 2) __attribute__((noreturn));

/*
 * Checks that an int-returning call gave the expected value (or -errno),
 * compared in 64 bits: a 32-bit program's file offsets are 64-bit too.
 */
#define ktap_eq(got, want, ...) ktap_int_eq((long long)(got), (long long)(want), __VA_ARGS__)
bool ktap_int_eq(long long got, long long want, const char *fmt, ...) __printf(3, 4);

/* An address no process maps, for EFAULT checks (opaque to the compiler). */
extern void *bad_ptr;

/* Module loading through the syscalls, to see the exact errno: 0 or -errno. */
int mod_load(const char *name, const char *params);
int mod_unload(const char *name);
bool mod_loaded(const char *name);

/*
 * Loads that must be refused: for each of the n, loading module with
 * params gives EINVAL, the kernel log holds the module's own line saying
 * why exactly once, and nothing stays loaded (three results each).
 */
struct refusal {
	const char *params;
	const char *why;
};

void refused_loads(const char *module, const struct refusal *bad, size_t n);

/* A system call's result as a value: what it returned, or -errno. */
long rw(ssize_t n);
/* open(2), close-on-exec: the descriptor or -errno. */
int open_dev(const char *path, int flags);
/* Writes all len bytes in one write(2): 0, -errno, or -EIO when short. */
int write_all(int fd, const void *buf, size_t len);

/*
 * Kernel log: mark the current end, then look for text printed since.
 * kmsg_seen() and kmsg_count() bail out when the kernel overwrote records
 * logged since the mark before they were read: an answer from a partial
 * log could pass a check it should fail.
 */
void kmsg_mark(void);
bool kmsg_seen(const char *needle);
int kmsg_count(const char *needle);
/*
 * Every message logged since the mark, one a line; *lost says whether some
 * were overwritten before they could be read (the oldest go first).
 */
const char *kmsg_since_mark(bool *lost);
/* Waits up to ms for text to appear in the kernel log since the mark. */
bool kmsg_wait(const char *text, long ms);

/*
 * Whole-file helpers: 0 or -errno; file_read NUL-terminates, file_write
 * takes a short write for a failure (-EIO).
 */
int file_read(const char *path, char *buf, size_t size);
int file_write(const char *path, const char *text);
long file_long(const char *path);
int file_mode(const char *path);
/* The value of a "key: value" line of a file, or -1. */
long file_key(const char *path, const char *key);
bool path_exists(const char *path);

/*
 * Runs fn(arg) in a child process that has dropped root for uid/gid 65534
 * and returns what fn returned (0 or -errno, as an exit status carries it).
 */
int as_nobody(int (*fn)(void *arg), void *arg);

/* A short-lived worker pool: runs fn(i, arg) in n threads and joins them. */
void run_threads(int n, void *(*fn)(void *), void *args, size_t argsize);

/*
 * A thread blocked in one read(2) or write(2) of len bytes of buf, for
 * tests that wait for it to sleep, then signal or free it.
 */
struct blocked {
	int fd;
	bool writer;
	char *buf;
	size_t len;
	atomic_int tid;			/* set as the thread starts */
	atomic_bool returned;
	long result;			/* what the call returned, or -errno */
};

pthread_t blocked_start(struct blocked *b, int fd, bool writer, char *buf,
			size_t len);
/* Whether the thread got asleep in its call within ms (it says why not). */
bool blocked_asleep(struct blocked *b, long ms);

/* Monotonic milliseconds, for bounded loops. */
long now_ms(void);

/*
 * Waits up to ms for thread tid of this process to be asleep
 * (interruptibly, state S) inside one of the n system calls nrs[]; true
 * when it is. A thread seen so is past any point where a signal or a
 * wake-up could still slip by unnoticed.
 */
bool wait_asleep(pid_t tid, const long *nrs, size_t n, long ms);
/*
 * The same for any thread of any process, in any of the states given
 * ("S", "D", "SD": D is where killable waits sleep).
 */
bool wait_blocked(pid_t tid, const char *states, const long *nrs, size_t n,
		  long ms);

#endif /* LKMTEST_H */

#ifndef LKMTEST_RELIABILITY_H
#define LKMTEST_RELIABILITY_H

/*
 * ---------------------------------------------------------------------
 * What the reliability programs share (tests/faults.c, cycles.c, fuzz.c,
 * trinity.c). They run one thread per module: every helper below may be
 * called from several threads at once, each busy with its own module.
 */

/* What the programs know of each module. */
struct lkm_info {
	const char *name;
	/* Its parameters at their largest, for load/unload cycles. */
	const char *largest;
	/* Its files for the ioctl fuzzer (NULL-terminated); trinity's victim. */
	const char *const *files;
	const char *victim;
	/*
	 * What a load creates besides /sys/module/<name>, for lkm_leftovers():
	 * "/dir/prefix*" (an entry of /dir whose name starts with prefix),
	 * "/path" (exists), "/file:word" (a line of file holds word).
	 */
	const char *const *traces;
};

/* The entry of module name; bails out for a module it does not know. */
const struct lkm_info *lkm_info(const char *name);

/*
 * What module name left behind once unloaded or refused: its
 * /sys/module and /proc/modules entries, /dev nodes, /proc and /sys
 * entries, class, /proc/devices and /proc/misc lines. "" when nothing;
 * else a list in buf.
 */
const char *lkm_leftovers(const char *name, char *buf, size_t size);

/*
 * A short functional check of loaded module name, as README.md documents
 * it: NULL when it works, else what did not (in buf).
 */
const char *lkm_smoke(const char *name, char *buf, size_t size);

/*
 * Free memory in KiB, with the pages freed to per-CPU lists (MemFree
 * leaves them out until they drain): MemFree plus /proc/zoneinfo's
 * pagesets.
 */
long mem_free_total_kb(void);

/* Slab usage, from /proc/slabinfo. */
#define SLAB_CACHES_MAX 1024
struct slab_usage {
	int n;
	long bytes;			/* objects in use times their size */
	struct slab_cache {
		char name[48];
		long objs, size;
	} cache[SLAB_CACHES_MAX];
};

/* Fills u; 0 or -errno. The caches of kmemleak and debugobjects are left out. */
int slab_usage_read(struct slab_usage *u);
/*
 * The caches holding more than tol objects more in b than in a, as
 * "name +N" in buf; returns how many.
 */
int slab_grown(const struct slab_usage *a, const struct slab_usage *b,
	       long tol, char *buf, size_t size);
/*
 * The slab objects that module code allocated and that are still live:
 * guests boot with slub_debug=U, so the allocator keeps each object's
 * allocation stack, and /sys/kernel/debug/slab/<cache>/alloc_traces
 * groups the live objects by it. A stack holds module code when a frame
 * names a module ("f+0x1/0x2 [lkm_x]") or is a bare address, code that no
 * symbol covers any more: a module since unloaded (the guest runs no one
 * else's). Unlike a cache's total, nothing the kernel does for itself
 * counts, nor what its pools keep for later (vmalloc's areas, the nodes
 * idr_preload() sets aside). Returns the count or -errno, and its sites
 * in buf.
 */
long module_objects(char *buf, size_t size);
/*
 * module_objects() once no more than before are live, or after 10 s of
 * settling (mem_settle()) if more still are: a free that the kernel
 * defers (to an RCU grace period, a worker) is no leak. In that case
 * each site's allocation stack is shown as diagnostics.
 */
long module_objects_after(long before, char *buf, size_t size);
/*
 * Lets freed memory come back before it is measured: drops clean caches,
 * shrinks every slab cache (which empties KASAN's quarantine of it) and
 * waits, for up to max_ms, until slab usage stops falling (RCU and the
 * debug kernel's delayed kobject releases free seconds late).
 */
void mem_settle(long max_ms);

/*
 * A kernel log reader of one thread's own (kmsg_mark() and friends share
 * one): kmsg_open() starts at the current end, kmsg_read() returns every
 * message logged since, one a line, and *lost whether some were
 * overwritten unread. kmsg_open() on an open reader starts it again.
 */
struct kmsg_reader {
	int fd;
	char *text;
	size_t len, size;
	bool lost;
};

void kmsg_open(struct kmsg_reader *r);
const char *kmsg_read(struct kmsg_reader *r, bool *lost);
void kmsg_close(struct kmsg_reader *r);

#endif /* LKMTEST_RELIABILITY_H */
