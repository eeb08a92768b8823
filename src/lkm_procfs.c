// SPDX-License-Identifier: GPL-2.0
/*
 * lkm_procfs - a /proc interface: /proc/lkm_procfs/{message,stats,records}.
 *
 * message  (0644) a small file anyone may read and root may write, up to
 *          max_message bytes. Writes land at the file position like on a
 *          regular file (O_TRUNC empties it first, so "echo hi >" replaces
 *          it; O_APPEND writes at the end, so ">>" appends); one that
 *          would pass max_message is refused whole with
 *          EINVAL. Each open file reads a snapshot taken at its first read,
 *          so a reader never sees half of a concurrent write, whatever its
 *          buffer size.
 * stats    (0444) counters of the message file, "key: value" lines.
 * records  (0444) `records` generated lines, streamed page by page by a
 *          seq_file iterator rather than built whole.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/init.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/rwsem.h>
#include <linux/seq_file.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "lkm_param.h"

static int max_message = 4096;
lkm_param_range(max_message, 1, SZ_1M, 0, 0444);
MODULE_PARM_DESC(max_message, "Largest message in bytes (1..1048576, default 4096)");

static int records = 100;
lkm_param_range(records, 0, 1000000, 0, 0444);
MODULE_PARM_DESC(records, "Lines in /proc/lkm_procfs/records (0..1000000, default 100)");

static DECLARE_RWSEM(message_lock);
static char *message;			/* max_message bytes */
static size_t message_len;

static atomic64_t opens, reads, writes, bytes_read, bytes_written;
static struct proc_dir_entry *proc_dir;

static int message_show(struct seq_file *m, void *v)
{
	down_read(&message_lock);
	seq_write(m, message, message_len);
	up_read(&message_lock);
	return 0;
}

static int message_open(struct inode *inode, struct file *file)
{
	if ((file->f_flags & O_TRUNC) && (file->f_mode & FMODE_WRITE)) {
		down_write(&message_lock);
		message_len = 0;
		up_write(&message_lock);
	}
	atomic64_inc(&opens);
	return single_open(file, message_show, NULL);
}

/* read_iter, as seq_file wants, so that splice() and sendfile() work too. */
static ssize_t message_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	ssize_t ret = seq_read_iter(iocb, to);

	if (ret >= 0) {
		atomic64_inc(&reads);
		atomic64_add(ret, &bytes_read);
	}
	return ret;
}

static ssize_t message_write(struct file *file, const char __user *buf,
			     size_t count, loff_t *ppos)
{
	loff_t pos = *ppos;
	char *data;

	if (!count)
		return 0;
	if (count > max_message)
		return -EINVAL;
	/* Copy first, so that a bad pointer leaves the message untouched. */
	data = vmemdup_user(buf, count);
	if (IS_ERR(data))
		return PTR_ERR(data);

	down_write(&message_lock);
	/* procfs leaves O_APPEND to us: a shell's ">>" appends. */
	if (file->f_flags & O_APPEND)
		pos = message_len;
	if (pos < 0 || pos > max_message || count > max_message - pos) {
		up_write(&message_lock);
		kvfree(data);
		return -EINVAL;
	}
	if (pos > message_len)
		memset(message + message_len, 0, pos - message_len);
	memcpy(message + pos, data, count);
	message_len = max_t(size_t, message_len, pos + count);
	up_write(&message_lock);
	kvfree(data);

	*ppos = pos + count;
	atomic64_inc(&writes);
	atomic64_add(count, &bytes_written);
	return count;
}

static const struct proc_ops message_ops = {
	.proc_open	= message_open,
	.proc_read_iter	= message_read_iter,
	.proc_write	= message_write,
	.proc_lseek	= seq_lseek,
	.proc_release	= single_release,
};

static int stats_show(struct seq_file *m, void *v)
{
	size_t len;

	down_read(&message_lock);
	len = message_len;
	up_read(&message_lock);
	seq_printf(m, "opens: %lld\n", atomic64_read(&opens));
	seq_printf(m, "reads: %lld\n", atomic64_read(&reads));
	seq_printf(m, "writes: %lld\n", atomic64_read(&writes));
	seq_printf(m, "bytes_read: %lld\n", atomic64_read(&bytes_read));
	seq_printf(m, "bytes_written: %lld\n", atomic64_read(&bytes_written));
	seq_printf(m, "message_bytes: %zu\n", len);
	return 0;
}
DEFINE_PROC_SHOW_ATTRIBUTE(stats);

/*
 * The iterator's cursor is the seq_file position itself: record *pos is
 * generated when shown, so no listing is ever held in memory.
 */
static void *records_start(struct seq_file *m, loff_t *pos)
{
	return *pos < records ? pos : NULL;
}

static void *records_next(struct seq_file *m, void *v, loff_t *pos)
{
	++*pos;
	return *pos < records ? pos : NULL;
}

static void records_stop(struct seq_file *m, void *v)
{
}

static int records_show(struct seq_file *m, void *v)
{
	loff_t i = *(loff_t *)v;

	seq_printf(m, "record %lld of %d: square %lld\n", i, records, i * i);
	return 0;
}

static const struct seq_operations records_seq_ops = {
	.start	= records_start,
	.next	= records_next,
	.stop	= records_stop,
	.show	= records_show,
};

static int __init lkm_procfs_init(void)
{
	message = kvzalloc(max_message, GFP_KERNEL);
	if (!message)
		return -ENOMEM;

	proc_dir = proc_mkdir("lkm_procfs", NULL);
	if (!proc_dir)
		goto err;
	if (!proc_create("message", 0644, proc_dir, &message_ops) ||
	    !proc_create("stats", 0444, proc_dir, &stats_proc_ops) ||
	    !proc_create_seq("records", 0444, proc_dir, &records_seq_ops))
		goto err_remove;
	return 0;

err_remove:
	proc_remove(proc_dir);
err:
	kvfree(message);
	return -ENOMEM;
}

static void __exit lkm_procfs_exit(void)
{
	/* Waits for running calls; open files get EIO from now on. */
	proc_remove(proc_dir);
	kvfree(message);
}

module_init(lkm_procfs_init);
module_exit(lkm_procfs_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("lkmkit developers");
MODULE_DESCRIPTION("A /proc interface: a writable message, statistics and a streamed listing");
MODULE_VERSION(LKMKIT_VERSION);
