// SPDX-License-Identifier: GPL-2.0
/*
 * lkm_workqueue - deferred work on a dedicated workqueue.
 *
 *  - At load, a work item requeues itself to count from 0 to `count`,
 *    logging each step.
 *  - A delayed work item ticks every `interval_ms` (0: never).
 *  - Writing N to /proc/lkm_workqueue/submit queues N independent jobs,
 *    run in parallel by one work item per CPU (see struct batch).
 *  - /proc/lkm_workqueue/stats reports jobs queued, completed and in
 *    flight, ticks, and the queue-to-run latency of the jobs (min, avg,
 *    max, p50, p99).
 *
 * Unloading removes the /proc files first (so no job can be submitted
 * any more), cancels the two self-requeueing items, and destroys the
 * workqueue, which first lets the runners finish every job still queued.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/bitops.h>
#include <linux/cpumask.h>
#include <linux/ctype.h>
#include <linux/init.h>
#include <linux/jiffies.h>
#include <linux/ktime.h>
#include <linux/limits.h>
#include <linux/math64.h>
#include <linux/minmax.h>
#include <linux/module.h>
#include <linux/overflow.h>
#include <linux/proc_fs.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>

#include "lkm_param.h"

#define MAX_SUBMIT	10000

static int count = 10;
lkm_param_range(count, 0, 10000, 0, 0444);
MODULE_PARM_DESC(count, "The self-requeueing work counts from 0 to this (0..10000, default 10)");

static int interval_ms = 1000;
lkm_param_range(interval_ms, 10, 60000, LKM_RANGE_ZERO_OK, 0444);
MODULE_PARM_DESC(interval_ms, "Period of the tick in ms (0 = off, or 10..60000, default 1000)");

static struct workqueue_struct *wq;
static struct proc_dir_entry *proc_dir;

static void count_fn(struct work_struct *work);
static DECLARE_WORK(count_work, count_fn);
static int count_step;		/* only count_fn touches it, one run at a time */

static void tick_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(tick_work, tick_fn);
static atomic64_t ticks;

/*
 * A submission of N jobs is one batch, a single allocation: its runners,
 * one work item per online CPU (or per job, if fewer), take the jobs in
 * turn by index until none is left, and the last runner to finish frees
 * it. Queueing one work item per job made the submitting write() spend
 * longer queueing and waking workers than the jobs took to run.
 */
struct batch;

struct runner {
	struct work_struct work;
	struct batch *batch;
};

struct batch {
	atomic_t next;			/* the next job to take */
	atomic_t running;		/* runners not done; the last frees it */
	unsigned int jobs;
	ktime_t submitted;
	struct runner runners[];
};

/*
 * The queue-to-run latency of jobs, in microseconds, as a histogram with
 * eight buckets per power of two (below 16 one per value), so that p50
 * and p99 cost an increment per job and are right to within an eighth.
 * Latencies from 2^32 us (71 minutes) on share the last bucket.
 */
#define LAT_EXACT	16
#define LAT_SUB_BITS	3
#define LAT_BUCKETS	(LAT_EXACT + (32 - 4) * (1 << LAT_SUB_BITS))

static unsigned int lat_bucket(u32 us)
{
	unsigned int msb;

	if (us < LAT_EXACT)
		return us;
	msb = fls(us) - 1;	/* 4..31 */
	return LAT_EXACT + ((msb - 4) << LAT_SUB_BITS) +
	       ((us >> (msb - LAT_SUB_BITS)) & ((1 << LAT_SUB_BITS) - 1));
}

/* The largest latency that falls in bucket b. */
static u64 lat_bucket_max(unsigned int b)
{
	unsigned int msb, sub;

	if (b < LAT_EXACT)
		return b;
	msb = (b - LAT_EXACT) / (1 << LAT_SUB_BITS) + 4;
	sub = (b - LAT_EXACT) % (1 << LAT_SUB_BITS);
	return (((u64)(1 << LAT_SUB_BITS) + sub + 1) << (msb - LAT_SUB_BITS)) - 1;
}

static DEFINE_SPINLOCK(stats_lock);
static struct {
	u64 queued, completed;
	u64 lat_min, lat_max, lat_sum;	/* microseconds */
	u64 lat_hist[LAT_BUCKETS];
	u32 result;			/* every job's result, so none is optimised away */
} stats = { .lat_min = U64_MAX };

static void count_fn(struct work_struct *work)
{
	pr_info("count=%d\n", count_step);
	/* cancel_work_sync() at unload stops this chain even mid-count. */
	if (count_step++ < count)
		queue_work(wq, work);
}

static void tick_fn(struct work_struct *work)
{
	atomic64_inc(&ticks);
	queue_delayed_work(wq, &tick_work, msecs_to_jiffies(interval_ms));
}

/* A job's "work": a short, bounded xorshift run. */
static u32 job(u32 x)
{
	int i;

	for (i = 0; i < 1000; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
	}
	return x;
}

/*
 * Jobs a runner does between two looks at the scheduler, and between two
 * updates of the statistics (so `completed` moves while a batch runs).
 */
#define RUNNER_CHUNK	64

static void runner_fn(struct work_struct *work)
{
	struct runner *r = container_of(work, struct runner, work);
	struct batch *b = r->batch;
	u32 lat[RUNNER_CHUNK];
	unsigned int i, n;

	do {
		u64 sum = 0, lo = U64_MAX, hi = 0;
		u32 result = 0;

		for (n = 0; n < RUNNER_CHUNK; n++) {
			if (atomic_fetch_inc(&b->next) >= b->jobs)
				break;
			lat[n] = min_t(u64, ktime_us_delta(ktime_get(), b->submitted),
				       U32_MAX);
			result ^= job(lat[n] + 1);	/* any non-zero seed */
			sum += lat[n];
			lo = min_t(u64, lo, lat[n]);
			hi = max_t(u64, hi, lat[n]);
		}
		if (!n)
			break;

		spin_lock(&stats_lock);
		stats.completed += n;
		stats.lat_min = min(stats.lat_min, lo);
		stats.lat_max = max(stats.lat_max, hi);
		stats.lat_sum += sum;
		stats.result ^= result;
		for (i = 0; i < n; i++)
			stats.lat_hist[lat_bucket(lat[i])]++;
		spin_unlock(&stats_lock);
		cond_resched();
	} while (n == RUNNER_CHUNK);

	if (atomic_dec_and_test(&b->running))
		kfree(b);
}

/*
 * The one form submit takes: decimal digits and at most one newline, in
 * no more than SUBMIT_MAX_LEN bytes (room for a few leading zeros). The
 * whole write is read and judged, so nothing after the number (a second
 * line, a NUL, garbage) can pass unseen, and a length limit keeps that
 * cheap.
 */
#define SUBMIT_MAX_LEN	16

static int submit_parse(const char __user *buf, size_t len, unsigned int *n)
{
	char text[SUBMIT_MAX_LEN + 1];
	size_t digits = len, i;

	if (!len || len > SUBMIT_MAX_LEN)
		return -EINVAL;
	if (copy_from_user(text, buf, len))
		return -EFAULT;
	if (text[len - 1] == '\n')
		digits--;
	if (!digits)
		return -EINVAL;
	for (i = 0; i < digits; i++)
		if (!isdigit(text[i]))
			return -EINVAL;
	text[digits] = '\0';
	/* Digits only by now: a value too large for an int fails too. */
	if (kstrtouint(text, 10, n) || *n < 1 || *n > MAX_SUBMIT)
		return -EINVAL;
	return 0;
}

static ssize_t submit_write(struct file *file, const char __user *buf,
			    size_t len, loff_t *ppos)
{
	unsigned int n, runners, i;
	struct batch *b;
	int ret;

	ret = submit_parse(buf, len, &n);
	if (ret)
		return ret;

	/* One allocation: a submission is all or nothing. */
	runners = min(n, num_online_cpus());
	b = kzalloc(struct_size(b, runners, runners), GFP_KERNEL);
	if (!b)
		return -ENOMEM;
	b->jobs = n;
	atomic_set(&b->running, runners);
	for (i = 0; i < runners; i++) {
		b->runners[i].batch = b;
		INIT_WORK(&b->runners[i].work, runner_fn);
	}

	spin_lock(&stats_lock);
	stats.queued += n;
	spin_unlock(&stats_lock);
	b->submitted = ktime_get();
	for (i = 0; i < runners; i++)
		queue_work(wq, &b->runners[i].work);
	return len;
}

static const struct proc_ops submit_ops = {
	.proc_write	= submit_write,
	.proc_lseek	= noop_llseek,
};

/* The latency below which a share `per_mille` of the jobs ran. */
static u64 lat_quantile(const u64 *hist, u64 total, unsigned int per_mille)
{
	u64 want = div_u64(total * per_mille + 999, 1000), seen = 0;
	unsigned int b;

	for (b = 0; b < LAT_BUCKETS; b++) {
		seen += hist[b];
		if (seen >= want)
			return lat_bucket_max(b);
	}
	return 0;
}

static int stats_show(struct seq_file *m, void *v)
{
	u64 queued, completed, lat_min, lat_max, lat_sum, p50, p99;

	spin_lock(&stats_lock);
	queued = stats.queued;
	completed = stats.completed;
	lat_min = completed ? stats.lat_min : 0;
	lat_max = stats.lat_max;
	lat_sum = stats.lat_sum;
	p50 = completed ? lat_quantile(stats.lat_hist, completed, 500) : 0;
	p99 = completed ? lat_quantile(stats.lat_hist, completed, 990) : 0;
	spin_unlock(&stats_lock);

	seq_printf(m, "queued: %llu\n", queued);
	seq_printf(m, "completed: %llu\n", completed);
	seq_printf(m, "in_flight: %llu\n", queued - completed);
	seq_printf(m, "ticks: %lld\n", atomic64_read(&ticks));
	seq_printf(m, "latency_us_min: %llu\n", lat_min);
	seq_printf(m, "latency_us_avg: %llu\n",
		   completed ? div64_u64(lat_sum, completed) : 0);
	seq_printf(m, "latency_us_max: %llu\n", lat_max);
	/* Bucket bounds: clamp them into what was seen. */
	seq_printf(m, "latency_us_p50: %llu\n", clamp(p50, lat_min, lat_max));
	seq_printf(m, "latency_us_p99: %llu\n", clamp(p99, lat_min, lat_max));
	return 0;
}
DEFINE_PROC_SHOW_ATTRIBUTE(stats);

static int __init lkm_workqueue_init(void)
{
	/*
	 * WQ_UNBOUND: the jobs are independent CPU work with nothing tied to
	 * the CPU that queued them, so let the scheduler run them wherever
	 * there is room. No WQ_MEM_RECLAIM: nothing here runs on the memory
	 * reclaim path. max_active 0 takes the default concurrency.
	 */
	wq = alloc_workqueue("lkm_workqueue", WQ_UNBOUND, 0);
	if (!wq)
		return -ENOMEM;

	proc_dir = proc_mkdir("lkm_workqueue", NULL);
	if (!proc_dir ||
	    !proc_create("submit", 0200, proc_dir, &submit_ops) ||
	    !proc_create("stats", 0444, proc_dir, &stats_proc_ops)) {
		proc_remove(proc_dir);
		destroy_workqueue(wq);
		return -ENOMEM;
	}

	queue_work(wq, &count_work);
	if (interval_ms)
		queue_delayed_work(wq, &tick_work, msecs_to_jiffies(interval_ms));
	return 0;
}

static void __exit lkm_workqueue_exit(void)
{
	proc_remove(proc_dir);
	cancel_delayed_work_sync(&tick_work);
	cancel_work_sync(&count_work);
	destroy_workqueue(wq);
}

module_init(lkm_workqueue_init);
module_exit(lkm_workqueue_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("lkmkit developers");
MODULE_DESCRIPTION("Deferred work: self-requeueing, periodic and on-demand jobs");
MODULE_VERSION(LKMKIT_VERSION);
