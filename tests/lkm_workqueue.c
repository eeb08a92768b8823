// SPDX-License-Identifier: GPL-2.0
/* Guest test of lkm_workqueue: counting, ticks, jobs, stats, unload. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* Waits up to ms for text to appear in the kernel log since the mark. */
static bool kmsg_wait(const char *text, long ms)
{
	long until = now_ms() + ms;

	while (!kmsg_seen(text) && now_ms() < until)
		usleep(10 * 1000);
	return kmsg_seen(text);
}

static void test_parameters(void)
{
	static const char *const bad[][2] = {
		{ "count=-1", "count must be an integer in 0..10000, got '-1'" },
		{ "count=10001", "got '10001'" },
		{ "interval_ms=5", "interval_ms must be 0 or an integer in 10..60000, got '5'" },
		{ "interval_ms=60001", "got '60001'" },
		{ "interval_ms=often", "got 'often'" },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		kmsg_mark();
		ktap_eq(mod_load(MOD, bad[i][0]), -EINVAL, "load with %s gives EINVAL",
			bad[i][0]);
		ktap_ok(kmsg_seen(bad[i][1]), "dmesg explains %s", bad[i][0]);
	}
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
	int i, missing = 0;
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
	 * Unloading waits for a running step, so every count= line there will
	 * ever be is in the log when the unload returns. Counting to 10000
	 * floods the log, so the oldest lines may be gone: the newest remain.
	 */
	kmsg_mark();
	ktap_eq(mod_load(MOD, "count=10000"), 0, "load count=10000");
	ktap_eq(mod_unload(MOD), 0, "unload in the middle of counting");
	last = last_count(&lost);
	ktap_diag("the last count logged before the unload: %ld%s", last,
		  lost ? " (older lines were overwritten)" : "");
	ktap_ok(last < 10000, "unload stopped the count early");
}

static void test_ticks(void)
{
	long t0, t1, start, elapsed;

	ktap_eq(mod_load(MOD, "count=0 interval_ms=50"), 0, "load interval_ms=50");
	/*
	 * Time the first ten ticks rather than count ticks in a fixed time,
	 * which a loaded host would make fail. Ticks are at least 48 ms apart
	 * (13 jiffies at HZ=250 whose first is partial), so n ticks take at
	 * least (n - 1) * 48 ms; bound it at 45 ms for rounding elsewhere.
	 */
	start = now_ms();
	t0 = stat_value("ticks");
	while ((t1 = stat_value("ticks")) - t0 < 10 && now_ms() < start + 20000)
		usleep(5 * 1000);
	elapsed = now_ms() - start;
	ktap_diag("%ld ticks at interval_ms=50 in %ld ms", t1 - t0, elapsed);
	ktap_ok(t0 >= 0 && t1 - t0 >= 10 && (t1 - t0 - 1) * 45 <= elapsed,
		"it ticks, no more often than every 50 ms");
}

static int write_submit(void *text)
{
	return submit(text);
}

static void test_jobs(void)
{
	static const char *const bad[] = {
		"0", "10001", "-5", "lots", "", "12abc", "99999999999999999999",
	};
	long before, queued, min, avg, max;
	unsigned int i;

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
	{
		int fd = open(SUBMIT, O_WRONLY);
		long n = write(fd, bad_ptr, 3);

		ktap_eq(n < 0 ? -errno : n, -EFAULT, "a bad pointer gives EFAULT");
		close(fd);
	}
	ktap_ok(queued >= 10100 && stat_value("queued") == queued,
		"refused submissions queued nothing");
	min = stat_value("latency_us_min");
	avg = stat_value("latency_us_avg");
	max = stat_value("latency_us_max");
	ktap_diag("latency_us min %ld, avg %ld, max %ld", min, avg, max);
	ktap_ok(min >= 0 && min <= avg && avg <= max && max > 0,
		"latency: 0 <= min <= avg <= max, max > 0");
	ktap_eq(as_nobody(write_submit, "1"), -EACCES, "a non-root user cannot submit");
}

/* 8 threads each submit 50 batches of 100 jobs at once. */
static void *submitter(void *arg)
{
	long *failed = arg;
	int i;

	for (i = 0; i < 50; i++)
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
	ktap_eq(sum, 0, "8 threads submitted 400 batches without an error");
	ktap_ok(settle(), "all 40000 jobs finish");
	ktap_eq(stat_value("completed") - before, 40000, "completed grows by exactly 40000");
}

static void test_unload_busy(void)
{
	int round, fails = 0;
	long pending = 0;

	ktap_eq(mod_unload(MOD), 0, "unload");
	for (round = 0; round < 5; round++) {
		fails += mod_load(MOD, "interval_ms=10") != 0;
		fails += submit("10000") || submit("10000") || submit("10000");
		pending += stat_value("in_flight");
		fails += mod_unload(MOD) != 0;
	}
	ktap_diag("jobs still in flight at the unloads: %ld", pending);
	ktap_eq(fails, 0, "5 rounds of load, 30000 jobs, unload at once");
	ktap_ok(pending > 0, "the unloads did find jobs in flight");
	ktap_ok(!mod_loaded(MOD) && !path_exists("/proc/lkm_workqueue"),
		"nothing is left behind");
}

int main(void)
{
	ktap_begin("lkm_workqueue", 56);
	test_parameters();
	test_counting();
	test_ticks();
	test_jobs();
	test_concurrent_submit();
	test_unload_busy();
	return ktap_end();
}
