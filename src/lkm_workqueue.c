// SPDX-License-Identifier: GPL-2.0
/*
 * lkm_workqueue - deferred work on a dedicated workqueue.
 *
 *  - At load, a work item requeues itself to count from 0 to `count`,
 *    logging each step.
 *  - A delayed work item ticks every `interval_ms` (0: never).
 *  - Writing N to /proc/lkm_workqueue/submit queues N independent jobs,
 *    each allocated on its own and freed by itself when done.
 *  - /proc/lkm_workqueue/stats reports jobs queued, completed and in
 *    flight, ticks, and the queue-to-run latency of the jobs.
 *
 * Unloading removes the /proc files first (so no job can be submitted
 * any more), cancels the two self-requeueing items, and destroys the
 * workqueue, which first runs every job still queued.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/ctype.h>
#include <linux/init.h>
#include <linux/jiffies.h>
#include <linux/ktime.h>
#include <linux/limits.h>
#include <linux/math64.h>
#include <linux/module.h>
#include <linux/proc_fs.h>
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

struct job {
	struct work_struct work;
	ktime_t queued_at;
};

static DEFINE_SPINLOCK(stats_lock);
static struct {
	u64 queued, completed;
	u64 lat_min, lat_max, lat_sum;	/* microseconds */
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

static void job_fn(struct work_struct *work)
{
	struct job *job = container_of(work, struct job, work);
	u64 lat = ktime_us_delta(ktime_get(), job->queued_at);
	u32 x = lat + 1;	/* any non-zero seed */
	int i;

	kfree(job);
	/* The job's "work": a short, bounded xorshift run. */
	for (i = 0; i < 1000; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
	}

	spin_lock(&stats_lock);
	stats.completed++;
	stats.lat_min = min(stats.lat_min, lat);
	stats.lat_max = max(stats.lat_max, lat);
	stats.lat_sum += lat;
	stats.result ^= x;
	spin_unlock(&stats_lock);
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
	struct job **jobs;
	unsigned int n, i;
	int ret;

	ret = submit_parse(buf, len, &n);
	if (ret)
		return ret;

	/* Allocate all before queueing any: a submission is all or nothing. */
	jobs = kvmalloc_array(n, sizeof(*jobs), GFP_KERNEL);
	if (!jobs)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		jobs[i] = kmalloc(sizeof(**jobs), GFP_KERNEL);
		if (!jobs[i]) {
			while (i--)
				kfree(jobs[i]);
			kvfree(jobs);
			return -ENOMEM;
		}
		INIT_WORK(&jobs[i]->work, job_fn);
	}

	spin_lock(&stats_lock);
	stats.queued += n;
	spin_unlock(&stats_lock);
	for (i = 0; i < n; i++) {
		jobs[i]->queued_at = ktime_get();
		queue_work(wq, &jobs[i]->work);
	}
	kvfree(jobs);
	return len;
}

static const struct proc_ops submit_ops = {
	.proc_write	= submit_write,
	.proc_lseek	= noop_llseek,
};

static int stats_show(struct seq_file *m, void *v)
{
	u64 queued, completed, lat_min, lat_max, lat_sum;

	spin_lock(&stats_lock);
	queued = stats.queued;
	completed = stats.completed;
	lat_min = completed ? stats.lat_min : 0;
	lat_max = stats.lat_max;
	lat_sum = stats.lat_sum;
	spin_unlock(&stats_lock);

	seq_printf(m, "queued: %llu\n", queued);
	seq_printf(m, "completed: %llu\n", completed);
	seq_printf(m, "in_flight: %llu\n", queued - completed);
	seq_printf(m, "ticks: %lld\n", atomic64_read(&ticks));
	seq_printf(m, "latency_us_min: %llu\n", lat_min);
	seq_printf(m, "latency_us_avg: %llu\n",
		   completed ? div64_u64(lat_sum, completed) : 0);
	seq_printf(m, "latency_us_max: %llu\n", lat_max);
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
