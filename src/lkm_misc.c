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
 * The kfifo is used as it is designed to be used without a lock: by one
 * reader and one writer at a time. Readers take fifo_read_lock, a mutex, as
 * they copy straight from the FIFO to user space (which may sleep on a
 * page fault); a writer first copies its bytes from user space into a
 * bounce buffer, with no lock held, then puts them in under fifo_write_lock, a
 * spinlock, so that a write of up to PIPE_BUF bytes goes in whole or not
 * at all and a fault never leaves half a write in the FIFO. `fill` counts
 * the bytes put in and not yet taken out: a writer adds after its bytes
 * are in, a reader subtracts after it took them (release), and each reads
 * it (acquire) before touching the kfifo, so to the reader `fill` is
 * never more than the bytes there, and to a writer the room it implies is
 * never more than the space free. Wait conditions, poll and FIONREAD look
 * at `fill` alone, without a lock: a copy stuck on a page fault must not
 * block them; they never count a byte that was not put in whole. The wait
 * queues are separate, so that readers wake only writers and writers wake
 * only readers, and like a pipe(2), nobody pays for a wakeup when nobody
 * waits (see wake()).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kfifo.h>
#include <linux/limits.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <asm/ioctls.h>

#include "lkm_param.h"

static int fifo_size = SZ_64K;
lkm_param_range(fifo_size, SZ_4K, SZ_16M, LKM_RANGE_POW2, 0444);
MODULE_PARM_DESC(fifo_size, "FIFO size in bytes (power of two, 4096..16777216, default 65536)");

static struct kfifo fifo;
static void *fifo_buf;
static DEFINE_MUTEX(fifo_read_lock);
static DEFINE_SPINLOCK(fifo_write_lock);
static atomic_t fill;
static DECLARE_WAIT_QUEUE_HEAD(readers);
static DECLARE_WAIT_QUEUE_HEAD(writers);

static unsigned int fifo_room(void)
{
	return kfifo_size(&fifo) - atomic_read_acquire(&fill);
}

/*
 * Wakes whoever waits on q, and costs next to nothing when nobody does:
 * the common case of a reader that keeps up. wq_has_sleeper()'s barrier
 * orders the change of `fill` before the look at the queue; it pairs
 * with the one a waiter has between joining the queue and testing its
 * condition (in prepare_to_wait_event(), and in pipe_poll()), so either
 * the waiter sees the change or we see the waiter.
 */
static void wake(struct wait_queue_head *q, __poll_t key)
{
	if (wq_has_sleeper(q))
		wake_up_interruptible_poll(q, key);
}

static ssize_t pipe_read(struct file *file, char __user *buf, size_t count,
			 loff_t *ppos)
{
	unsigned int copied;
	int ret;

	if (!count)
		return 0;
	for (;;) {
		/* Empty: wait before taking the lock, not after. */
		if (!atomic_read(&fill)) {
			if (file->f_flags & O_NONBLOCK)
				return -EAGAIN;
			if (wait_event_interruptible(readers, atomic_read(&fill)))
				return -ERESTARTSYS;
		}
		if (mutex_lock_interruptible(&fifo_read_lock))
			return -ERESTARTSYS;
		if (atomic_read(&fill))
			break;
		/* Another reader took it all. */
		mutex_unlock(&fifo_read_lock);
	}
	/*
	 * Only bytes `fill` counts: a writer may be half way through putting
	 * more in. On a fault this takes only what reached user space.
	 */
	ret = kfifo_to_user(&fifo, buf,
			    min_t(size_t, count, atomic_read_acquire(&fill)),
			    &copied);
	/* The bytes are read before the space is handed back to writers. */
	atomic_sub_return_release(copied, &fill);
	mutex_unlock(&fifo_read_lock);

	if (!copied)
		return ret;
	wake(&writers, EPOLLOUT | EPOLLWRNORM);
	return copied;
}

/* Puts n bytes in the FIFO if there is room for all of them. */
static bool fifo_put(const void *data, unsigned int n)
{
	bool room;

	spin_lock(&fifo_write_lock);
	room = fifo_room() >= n;
	if (room) {
		WARN_ON_ONCE(kfifo_in(&fifo, data, n) != n);
		/* The bytes are in before a reader can see them counted. */
		atomic_add_return_release(n, &fill);
	}
	spin_unlock(&fifo_write_lock);
	return room;
}

/*
 * Writes of up to this many bytes bounce through the stack rather than an
 * allocation: most writes to a pipe are small, and for them the kmalloc()
 * and kfree() cost as much as the rest of the call.
 */
#define SMALL_WRITE	128

static ssize_t pipe_write(struct file *file, const char __user *buf,
			  size_t count, loff_t *ppos)
{
	char small[SMALL_WRITE], *bounce = small;
	size_t done = 0;
	int ret = 0;

	if (!count)
		return 0;
	if (count > sizeof(small)) {
		bounce = kmalloc(min_t(size_t, count, PIPE_BUF), GFP_KERNEL);
		if (!bounce)
			return -ENOMEM;
	}
	while (done < count) {
		/* fifo_size is at least PIPE_BUF: every step fits once drained. */
		unsigned int step = min_t(size_t, count - done, PIPE_BUF);
		unsigned int got = step - copy_from_user(bounce, buf + done, step);

		/* A small write that faults stores nothing: it is all or none. */
		if (!got || (got < step && count <= PIPE_BUF)) {
			ret = -EFAULT;
			break;
		}
		while (!fifo_put(bounce, got)) {
			if (file->f_flags & O_NONBLOCK) {
				ret = -EAGAIN;
				break;
			}
			ret = wait_event_interruptible(writers, fifo_room() >= got);
			if (ret)
				break;
		}
		if (ret)
			break;
		done += got;
		wake(&readers, EPOLLIN | EPOLLRDNORM);
		if (got < step) {
			ret = -EFAULT;
			break;
		}
	}
	if (bounce != small)
		kfree(bounce);
	if (!done)
		return ret;
	return done;
}

static __poll_t pipe_poll(struct file *file, poll_table *wait)
{
	__poll_t mask = 0;

	poll_wait(file, &readers, wait);
	poll_wait(file, &writers, wait);
	/* On the queues before the tests: pairs with the barrier in wake(). */
	smp_mb();
	if (atomic_read(&fill))
		mask |= EPOLLIN | EPOLLRDNORM;
	if (fifo_room() >= PIPE_BUF)
		mask |= EPOLLOUT | EPOLLWRNORM;
	return mask;
}

static long pipe_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	if (cmd != FIONREAD)
		return -ENOTTY;
	return put_user(atomic_read(&fill), (int __user *)arg);
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
