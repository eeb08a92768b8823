// SPDX-License-Identifier: GPL-2.0
/* Guest test of lkm_workqueue: counting, ticks, jobs, stats, unload. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lkmtest.h"

#define MOD "lkm_workqueue"
#define SUBMIT "/proc/lkm_workqueue/submit"
#define STATS "/proc/lkm_workqueue/stats"

static long stat_value(const char *key)
{
	return file_key(STATS, key);
}

static int submit(const char *text)
{
	return file_write(SUBMIT, text);
}

/* Waits up to 20 s for every queued job to finish; true when they did. */
static bool settle(void)
{
	long until = now_ms() + 20000;

	while (stat_value("in_flight") != 0 && now_ms() < until)
		usleep(10 * 1000);
	return stat_value("in_flight") == 0;
}

/* Writes len bytes from buf to submit in one write: the result or -errno. */
static long submit_raw(const void *buf, size_t len)
{
	int fd = open_dev(SUBMIT, O_WRONLY);
	long ret = fd < 0 ? fd : rw(write(fd, buf, len));

	if (fd >= 0)
		close(fd);
	return ret;
}

static void test_parameters(void)
{
	static const struct refusal bad[] = {
		{ "count=-1", "count must be an integer in 0..10000, got '-1'" },
		{ "count=10001", "count must be an integer in 0..10000, got '10001'" },
		{ "interval_ms=5", "interval_ms must be 0 or an integer in 10..60000, got '5'" },
		{ "interval_ms=60001",
		  "interval_ms must be 0 or an integer in 10..60000, got '60001'" },
		{ "interval_ms=often",
		  "interval_ms must be 0 or an integer in 10..60000, got 'often'" },
	};

	refused_loads(MOD, bad, ARRAY_SIZE(bad));
	ktap_ok(!path_exists("/proc/lkm_workqueue"), "refused loads leave nothing in /proc");
}

/* Waits up to ms for the tick counter to reach at least want. */
static bool ticks_reach(long want, long ms)
{
	long until = now_ms() + ms;

	while (stat_value("ticks") < want && now_ms() < until)
		usleep(10 * 1000);
	return stat_value("ticks") >= want;
}

/* The highest N of the "count=N" lines logged since the mark, or -1. */
static long last_count(bool *lost)
{
	static const char tag[] = "lkm_workqueue: count=";
	const char *p = kmsg_since_mark(lost);
	long last = -1;

	while ((p = strstr(p, tag))) {
		p += strlen(tag);
		if (atol(p) > last)
			last = atol(p);
	}
	return last;
}

static void test_counting(void)
{
	char line[32];
	int i, missing = 0, round, bad;
	long t, start, last;
	bool lost;

	kmsg_mark();
	ktap_eq(mod_load(MOD, NULL), 0, "load with defaults");
	ktap_ok(kmsg_wait("count=10\n", 20000), "the self-requeueing work reaches count=10");
	for (i = 0; i <= 10; i++) {
		snprintf(line, sizeof(line), "lkm_workqueue: count=%d\n", i);
		missing += kmsg_count(line) != 1;
	}
	ktap_eq(missing, 0, "it logged count=0 .. count=10, each once");
	/*
	 * A count=11 would be queued the moment count=10 was logged. Two more
	 * ticks (1000 ms apart) of the same workqueue later it would have run.
	 */
	t = stat_value("ticks");
	ktap_ok(t >= 0 && ticks_reach(t + 2, 20000) && !kmsg_seen("count=11\n"),
		"and stopped there (two ticks later, no count=11)");
	ktap_eq(file_mode(SUBMIT), 0200, "submit is mode 0200");
	ktap_eq(file_mode(STATS), 0444, "stats is mode 0444");
	ktap_eq(mod_unload(MOD), 0, "unload");

	kmsg_mark();
	start = now_ms();
	ktap_eq(mod_load(MOD, "count=0 interval_ms=0"), 0, "load count=0 interval_ms=0");
	ktap_ok(kmsg_wait("count=0\n", 5000), "count=0 logs count=0");
	/* A default tick would come 1000 ms after the load: watch 1600 ms. */
	while (now_ms() < start + 1600 && stat_value("ticks") == 0)
		usleep(20 * 1000);
	ktap_ok(!kmsg_seen("count=1\n"), "and nothing after it");
	ktap_eq(stat_value("ticks"), 0, "interval_ms=0: no tick at all in 1.6 s");
	ktap_eq(mod_unload(MOD), 0, "unload");

	kmsg_mark();
	ktap_eq(mod_load(MOD, "count=1000"), 0, "load count=1000");
	ktap_ok(kmsg_wait("count=1000\n", 20000), "it counts up to count=1000");
	ktap_eq(mod_unload(MOD), 0, "unload");

	/*
	 * Unloading cancels the counting and waits for a running step, so
	 * every count= line there will ever be is in the log when the unload
	 * returns. Whether the unload comes in the middle is a race (a loaded
	 * host may not have run the first step yet, a fast kernel may have
	 * run all 10000): up to 5 rounds, until one lands in the middle.
	 * Counting to 10000 floods the log: the oldest lines may be gone.
	 */
	for (round = 0, bad = 0, last = -1; round < 5 && (last < 0 || last >= 10000);
	     round++) {
		kmsg_mark();
		bad += mod_load(MOD, "count=10000") != 0;
		bad += mod_unload(MOD) != 0;
		last = last_count(&lost);
		ktap_diag("round %d: the last count logged before the unload: %ld%s",
			  round + 1, last, lost ? " (older lines were overwritten)" : "");
	}
	ktap_eq(bad, 0, "load count=10000 and unload at once, %d round(s)", round);
	ktap_ok(last >= 0 && last < 10000, "an unload came in the middle and stopped the count");
	usleep(200 * 1000);
	ktap_eq(last_count(&lost), last, "and nothing was counted after it returned");
}

static void test_ticks(void)
{
	long t0, t1, start, elapsed;

	ktap_eq(mod_load(MOD, "count=0 interval_ms=50"), 0, "load interval_ms=50");
	/*
	 * Ticks in 3 s: 60 at interval_ms=50. Never more than one per 40 ms
	 * (50 ms rounded to jiffies, less one partial jiffy, at any HZ from
	 * 100 up), plus the one that may start the window. Never fewer than
	 * half: each tick is queued again after it ran, so a slow emulated
	 * guest runs late, but not by 50 ms a tick.
	 */
	t0 = stat_value("ticks");
	start = now_ms();
	usleep(3000 * 1000);
	t1 = stat_value("ticks");
	elapsed = now_ms() - start;
	ktap_diag("%ld ticks at interval_ms=50 in %ld ms", t1 - t0, elapsed);
	ktap_ok(t0 >= 0 && t1 - t0 <= elapsed / 40 + 1,
		"it ticks no more often than every 50 ms (at most %ld)", elapsed / 40 + 1);
	ktap_ok(t0 >= 0 && t1 - t0 >= elapsed / 100,
		"and at least half as often (at least %ld)", elapsed / 100);
}

static int write_submit(void *text)
{
	return submit(text);
}

static void test_jobs(void)
{
	static const char *const bad[] = {
		"0", "10001", "-5", "lots", "", "12abc", "99999999999999999999",
		"+5", " 5", "5 ", "5\n\n", "0x10", "00000000000000001",
		/* a number in the first 34 bytes, garbage after them */
		"0000000000000000000000000000000005x", "100\n..............................!",
	};
	long before, queued, min, avg, max, p50, p99, n, pg = sysconf(_SC_PAGESIZE);
	unsigned int i;
	char *map;

	before = stat_value("completed");
	queued = stat_value("queued");
	ktap_eq(submit("100\n"), 0, "submit 100 jobs");
	ktap_ok(settle(), "they all finish");
	ktap_eq(stat_value("completed") - before, 100, "completed grows by exactly 100");
	ktap_eq(stat_value("queued") - queued, 100, "queued grows by exactly 100");
	before = stat_value("completed");
	ktap_eq(submit("10000"), 0, "submit the most at once, 10000");
	ktap_ok(settle(), "they all finish");
	ktap_eq(stat_value("completed") - before, 10000, "completed grows by exactly 10000");
	queued = stat_value("queued");
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		ktap_eq(submit(bad[i]), -EINVAL, "submitting \"%s\" gives EINVAL", bad[i]);
	ktap_eq(submit_raw("5\0", 2), -EINVAL, "a NUL after the number gives EINVAL");
	ktap_eq(submit_raw(bad_ptr, 3), -EFAULT, "a bad pointer gives EFAULT");
	map = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		   -1, 0);
	if (map == MAP_FAILED || mprotect(map + pg, pg, PROT_NONE))
		ktap_bail("no buffer that runs into an inaccessible page");
	memcpy(map + pg - 2, "5\n", 2);
	ktap_eq(submit_raw(map + pg - 2, 10), -EFAULT,
		"\"5\\n\" whose last 8 bytes are unmapped gives EFAULT");
	memset(map, '0', pg);
	n = submit_raw(map + pg - 5, 100);
	ktap_ok(n == -EINVAL || n == -EFAULT,
		"a 100-byte write running into an unmapped page gives EINVAL or EFAULT");
	munmap(map, 2 * pg);
	ktap_ok(queued >= 10100 && stat_value("queued") == queued,
		"refused submissions queued nothing");
	before = stat_value("completed");
	ktap_ok(submit("7") == 0 && submit("0007\n") == 0 && settle() &&
		stat_value("completed") - before == 14,
		"\"7\" and \"0007\\n\" are taken: 14 jobs run");
	min = stat_value("latency_us_min");
	avg = stat_value("latency_us_avg");
	max = stat_value("latency_us_max");
	ktap_diag("latency_us min %ld, avg %ld, max %ld", min, avg, max);
	ktap_ok(min >= 0 && min <= avg && avg <= max && max > 0,
		"latency: 0 <= min <= avg <= max, max > 0");
	p50 = stat_value("latency_us_p50");
	p99 = stat_value("latency_us_p99");
	ktap_diag("latency_us p50 %ld, p99 %ld", p50, p99);
	ktap_ok(min >= 0 && min <= p50 && p50 <= p99 && p99 <= max,
		"latency: min <= p50 <= p99 <= max");
	ktap_eq(as_nobody(write_submit, "1"), -EACCES, "a non-root user cannot submit");
}

/* 8 threads each submit 25 batches of 100 jobs at once. */
static void *submitter(void *arg)
{
	long *failed = arg;
	int i;

	for (i = 0; i < 25; i++)
		*failed += submit("100") != 0;
	return NULL;
}

static void test_concurrent_submit(void)
{
	long failed[8] = { 0 }, before = stat_value("completed"), sum = 0;
	int i;

	run_threads(8, submitter, failed, sizeof(failed[0]));
	for (i = 0; i < 8; i++)
		sum += failed[i];
	ktap_eq(sum, 0, "8 threads submitted 200 batches without an error");
	ktap_ok(settle(), "all 20000 jobs finish");
	ktap_eq(stat_value("completed") - before, 20000, "completed grows by exactly 20000");
}

/*
 * The workers must lag behind the submits, whatever the kernel's speed (a
 * debug kernel's workers keep up with one submitter): while the jobs are
 * queued, a real-time thread holds each other CPU and the submitter is
 * real-time too, so no worker runs until the submit is done. (10000 jobs
 * a round: the debug kernel takes a minute to run 40000.)
 */
static int spinning, spin_stop;	/* only through __atomic builtins */

static void *cpu_hog(void *arg)
{
	struct sched_param sp = { .sched_priority = 1 };
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(*(int *)arg, &set);
	if (sched_setaffinity(0, sizeof(set), &set) ||
	    sched_setscheduler(0, SCHED_FIFO, &sp))
		ktap_diag("cannot hold CPU %d: %s", *(int *)arg, strerror(errno));
	__atomic_add_fetch(&spinning, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&spin_stop, __ATOMIC_SEQ_CST))
		;
	return NULL;
}

/* Queues 10000 jobs with no worker running; in_flight after it, or -1. */
static long submit_held(void)
{
	struct sched_param rt = { .sched_priority = 1 }, normal = { 0 };
	int cpus = sysconf(_SC_NPROCESSORS_ONLN), cpu[64], i, bad = 0;
	pthread_t t[64];
	cpu_set_t set, all;
	long pending;

	if (cpus > 64)
		cpus = 64;
	sched_getaffinity(0, sizeof(all), &all);
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	__atomic_store_n(&spinning, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&spin_stop, 0, __ATOMIC_SEQ_CST);
	bad |= sched_setaffinity(0, sizeof(set), &set) ||
	       sched_setscheduler(0, SCHED_FIFO, &rt);
	for (i = 1; i < cpus; i++) {
		cpu[i] = i;
		pthread_create(&t[i], NULL, cpu_hog, &cpu[i]);
	}
	while (__atomic_load_n(&spinning, __ATOMIC_SEQ_CST) < cpus - 1)
		usleep(1000);
	bad |= submit("10000");
	pending = stat_value("in_flight");
	__atomic_store_n(&spin_stop, 1, __ATOMIC_SEQ_CST);
	for (i = 1; i < cpus; i++)
		pthread_join(t[i], NULL);
	bad |= sched_setscheduler(0, SCHED_OTHER, &normal) ||
	       sched_setaffinity(0, sizeof(all), &all);
	return bad ? -1 : pending;
}

static void test_unload_busy(void)
{
	int round, fails = 0;
	long pending = 0, p;

	ktap_eq(mod_unload(MOD), 0, "unload");
	for (round = 0; round < 3; round++) {
		fails += mod_load(MOD, "interval_ms=10") != 0;
		p = submit_held();
		fails += p < 0;
		pending += p > 0 ? p : 0;
		fails += mod_unload(MOD) != 0;
	}
	ktap_diag("jobs still in flight at the unloads: %ld", pending);
	ktap_eq(fails, 0, "3 rounds of load, 10000 jobs, unload at once");
	ktap_ok(pending > 0, "the unloads did find jobs in flight");
	ktap_ok(!mod_loaded(MOD) && !path_exists("/proc/lkm_workqueue"),
		"nothing is left behind");
}

int main(void)
{
	ktap_begin("lkm_workqueue", 75);
	test_parameters();
	test_counting();
	test_ticks();
	test_jobs();
	test_concurrent_submit();
	test_unload_busy();
	return ktap_end();
}
