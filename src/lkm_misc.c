// SPDX-License-Identifier: GPL-2.0
/*
 * lkm_misc - /dev/lkm_pipe, a misc device that is one blocking FIFO shared
 * by every opener, with the semantics of a kernel pipe that never reaches
 * end of file:
 *
 *  - read returns what is there (at least one byte), blocking while empty;
 *  - a write of up to PIPE_BUF bytes goes in whole, never interleaved with
 *    another writer's bytes: it waits until there is room for all of it;
 *  - a larger write goes in steps, each waiting for PIPE_BUF bytes of room
 *    (or the rest, if less), so it cannot starve small writers by taking
 *    every byte a reader frees; it returns once all of it is written, or
 *    early with the count written so far when a signal arrives;
 *  - O_NONBLOCK turns waiting into EAGAIN; poll/select/epoll report
 *    readable while not empty and writable while PIPE_BUF bytes are free
 *    (so that the write poll promises cannot block);
 *  - FIONREAD tells how many bytes are waiting.
 *
 * One mutex guards the kfifo, so copies to and from user space (which may
 * sleep on a page fault) happen under it; the wait queues are separate so
 * that readers wake only writers and writers wake only readers. Wait
 * conditions, poll and FIONREAD only look at the fill level, without the
 * mutex: a copy stuck on a page fault must not block them.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kfifo.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/limits.h>
#include <linux/poll.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <asm/ioctls.h>

#include "lkm_param.h"

static int fifo_size = SZ_64K;
lkm_param_range(fifo_size, SZ_4K, SZ_16M, LKM_RANGE_POW2, 0444);
MODULE_PARM_DESC(fifo_size, "FIFO size in bytes (power of two, 4096..16777216, default 65536)");

static DEFINE_MUTEX(fifo_lock);
static struct kfifo fifo;
static void *fifo_buf;
static DECLARE_WAIT_QUEUE_HEAD(readers);
static DECLARE_WAIT_QUEUE_HEAD(writers);

/*
 * Bytes in the FIFO, read without fifo_lock: a snapshot. A reader and a
 * writer may both run between the two loads, hence the bound.
 */
static unsigned int fifo_used(void)
{
	unsigned int out = READ_ONCE(fifo.kfifo.out);

	/* out before in: out only grows and in never falls below it. */
	smp_rmb();
	return min(READ_ONCE(fifo.kfifo.in) - out, kfifo_size(&fifo));
}

static unsigned int fifo_room(void)
{
	return kfifo_size(&fifo) - fifo_used();
}

static ssize_t pipe_read(struct file *file, char __user *buf, size_t count,
			 loff_t *ppos)
{
	unsigned int copied;
	int ret;

	if (!count)
		return 0;
	for (;;) {
		if (mutex_lock_interruptible(&fifo_lock))
			return -ERESTARTSYS;
		if (!kfifo_is_empty(&fifo))
			break;
		mutex_unlock(&fifo_lock);
		if (file->f_flags & O_NONBLOCK)
			return -EAGAIN;
		if (wait_event_interruptible(readers, fifo_used()))
			return -ERESTARTSYS;
	}
	/* On a fault this consumes only what reached user space. */
	ret = kfifo_to_user(&fifo, buf, count, &copied);
	mutex_unlock(&fifo_lock);

	if (!copied)
		return ret;
	wake_up_interruptible_poll(&writers, EPOLLOUT | EPOLLWRNORM);
	return copied;
}

static ssize_t pipe_write(struct file *file, const char __user *buf,
			  size_t count, loff_t *ppos)
{
	unsigned int copied;
	size_t done = 0;
	int ret = 0;

	while (done < count) {
		/* fifo_size is at least PIPE_BUF: every step fits once drained. */
		unsigned int need = min_t(size_t, count - done, PIPE_BUF);

		if (mutex_lock_interruptible(&fifo_lock)) {
			ret = -ERESTARTSYS;
			break;
		}
		if (kfifo_avail(&fifo) < need) {
			mutex_unlock(&fifo_lock);
			if (file->f_flags & O_NONBLOCK) {
				ret = -EAGAIN;
				break;
			}
			ret = wait_event_interruptible(writers, fifo_room() >= need);
			if (ret)
				break;
			continue;
		}
		ret = kfifo_from_user(&fifo, buf + done, count - done, &copied);
		/* A small write that faulted stores nothing: it is all or none. */
		if (ret && count <= PIPE_BUF) {
			fifo.kfifo.in -= copied;
			copied = 0;
		}
		mutex_unlock(&fifo_lock);

		done += copied;
		if (copied)
			wake_up_interruptible_poll(&readers, EPOLLIN | EPOLLRDNORM);
		if (ret)
			break;
	}
	if (!done)
		return ret;
	return done;
}

static __poll_t pipe_poll(struct file *file, poll_table *wait)
{
	__poll_t mask = 0;

	poll_wait(file, &readers, wait);
	poll_wait(file, &writers, wait);
	if (fifo_used())
		mask |= EPOLLIN | EPOLLRDNORM;
	if (fifo_room() >= PIPE_BUF)
		mask |= EPOLLOUT | EPOLLWRNORM;
	return mask;
}

static long pipe_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	if (cmd != FIONREAD)
		return -ENOTTY;
	return put_user(fifo_used(), (int __user *)arg);
}

static const struct file_operations pipe_fops = {
	.owner		= THIS_MODULE,
	.open		= nonseekable_open,
	.read		= pipe_read,
	.write		= pipe_write,
	.poll		= pipe_poll,
	.unlocked_ioctl	= pipe_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};

static struct miscdevice pipe_dev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "lkm_pipe",
	.fops	= &pipe_fops,
};

static int __init lkm_misc_init(void)
{
	int ret;

	fifo_buf = kvmalloc(fifo_size, GFP_KERNEL);
	if (!fifo_buf)
		return -ENOMEM;
	ret = kfifo_init(&fifo, fifo_buf, fifo_size);
	if (ret)
		goto err_free;
	ret = misc_register(&pipe_dev);
	if (ret)
		goto err_free;
	pr_info("/dev/%s ready, %d byte FIFO\n", pipe_dev.name, fifo_size);
	return 0;

err_free:
	kvfree(fifo_buf);
	return ret;
}

static void __exit lkm_misc_exit(void)
{
	misc_deregister(&pipe_dev);
	kvfree(fifo_buf);
}

module_init(lkm_misc_init);
module_exit(lkm_misc_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("lkmkit developers");
MODULE_DESCRIPTION("Misc device /dev/lkm_pipe: a blocking FIFO with poll");
MODULE_VERSION(LKMKIT_VERSION);
