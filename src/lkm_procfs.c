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
 * records  (0444) `records` generated lines, streamed by a seq_file
 *          iterator rather than built whole.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/bitops.h>
#include <linux/init.h>
#include <linux/math.h>
#include <linux/math64.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/rwsem.h>
#include <linux/seq_file.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/stddef.h>
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
 * The listing is made in blocks of lines, each block one element of the
 * seq_file iterator, formatted straight into the seq_file's buffer: a
 * million lines through seq_printf(), one format string parsed and one
 * iterator step a line, streamed at 0.015 times the speed of reading as
 * many bytes from tmpfs (make bench; 0.23 now). The iterator's cursor is
 * the block's index: its lines are generated when shown, so no listing
 * is held in memory.
 */
#define RECORDS_PER_BLOCK	32

/* " of N: square ", the part of every line that does not change. */
static char records_middle[24];
static unsigned int records_middle_len;

/* "00" "01" ... "99": two digits at a time. */
static char digit_pairs[200] __ro_after_init;

/*
 * Writes v in decimal at p and returns the end: the digits counted first
 * (log10 from log2, then one comparison), then written from the last,
 * two at a time, straight into place.
 */
static char *put_decimal(char *p, u64 v)
{
	static const u64 pow10[20] = {
		1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL,
		10000000ULL, 100000000ULL, 1000000000ULL, 10000000000ULL,
		100000000000ULL, 1000000000000ULL, 10000000000000ULL,
		100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL,
		100000000000000000ULL, 1000000000000000000ULL,
		10000000000000000000ULL,
	};
	unsigned int t, n;
	char *e;
	u32 r;

	if (v < 10) {
		*p = '0' + v;
		return p + 1;
	}
	t = (fls64(v) * 1233) >> 12;	/* 1233 / 4096 is about log10(2) */
	n = t + (v >= pow10[t]);
	e = p + n;
	while (v >= 100) {
		v = div_u64_rem(v, 100, &r);
		e -= 2;
		memcpy(e, &digit_pairs[2 * r], 2);
	}
	if (v >= 10)
		memcpy(e - 2, &digit_pairs[2 * v], 2);
	else
		e[-1] = '0' + v;
	return p + n;
}

static loff_t records_blocks(void)
{
	return DIV_ROUND_UP(records, RECORDS_PER_BLOCK);
}

static void *records_start(struct seq_file *m, loff_t *pos)
{
	return *pos < records_blocks() ? pos : NULL;
}

static void *records_next(struct seq_file *m, void *v, loff_t *pos)
{
	++*pos;
	return *pos < records_blocks() ? pos : NULL;
}

static void records_stop(struct seq_file *m, void *v)
{
}

/*
 * What comes before the square on line i, "record i of N: square ", is
 * kept from line to line and counted up in place: only the square is
 * converted for each line.
 */
struct records_prefix {
	char text[40];		/* copied whole, then cut at len */
	unsigned int len;
	unsigned int digits_end;	/* where i ends in text */
};

static void records_prefix_set(struct records_prefix *pre, u64 i)
{
	char *p;

	memcpy(pre->text, "record ", 7);
	p = put_decimal(pre->text + 7, i);
	pre->digits_end = p - pre->text;
	memcpy(p, records_middle, records_middle_len);
	pre->len = pre->digits_end + records_middle_len;
}

/* From line i's prefix to line i + 1's. */
static void records_prefix_next(struct records_prefix *pre, u64 i)
{
	char *d = pre->text + pre->digits_end - 1;

	while (*d == '9')
		*d-- = '0';
	if (*d == ' ')	/* one more digit: 99 -> 100 */
		records_prefix_set(pre, i + 1);
	else
		++*d;
}

/* The most a line takes: its prefix as a whole, 13 digits and a newline. */
#define RECORD_MAX	(sizeof_field(struct records_prefix, text) + 13 + 1)

static int records_show(struct seq_file *m, void *v)
{
	u64 i = *(loff_t *)v * RECORDS_PER_BLOCK;
	u64 end = min_t(u64, i + RECORDS_PER_BLOCK, records);
	struct records_prefix pre = {};	/* no stale bytes past len */
	char *buf, *p;

	/* Too little room for a whole block: seq_file retries it in a new buffer. */
	if (seq_get_buf(m, &buf) < RECORDS_PER_BLOCK * RECORD_MAX) {
		seq_commit(m, -1);
		return 0;
	}
	/* Line i: "record %llu of %d: square %llu\n" */
	records_prefix_set(&pre, i);
	for (p = buf; i < end; i++) {
		memcpy(p, pre.text, sizeof(pre.text));
		p = put_decimal(p + pre.len, i * i);
		*p++ = '\n';
		records_prefix_next(&pre, i);
	}
	seq_commit(m, p - buf);
	return 0;
}

static const struct seq_operations records_seq_ops = {
	.start	= records_start,
	.next	= records_next,
	.stop	= records_stop,
	.show	= records_show,
};

/*
 * seq_read_iter() fills one buffer per read() call and returns it, so a
 * page-sized buffer turns a program's 64 KiB read into sixteen calls,
 * each paying to format a line that no longer fits. Records are made for
 * streaming: give each open file a buffer of that size up front, as
 * single_open_size() does (seq_release() frees it).
 */
#define RECORDS_BUF	SZ_64K

static int records_open(struct inode *inode, struct file *file)
{
	struct seq_file *m;
	char *buf;
	int ret;

	buf = kvmalloc(RECORDS_BUF, GFP_KERNEL_ACCOUNT);
	if (!buf)
		return -ENOMEM;
	ret = seq_open(file, &records_seq_ops);
	if (ret) {
		kvfree(buf);
		return ret;
	}
	m = file->private_data;
	m->buf = buf;
	m->size = RECORDS_BUF;
	return 0;
}

static const struct proc_ops records_ops = {
	.proc_open	= records_open,
	.proc_read_iter	= seq_read_iter,
	.proc_lseek	= seq_lseek,
	.proc_release	= seq_release,
};

static int __init lkm_procfs_init(void)
{
	int i;

	for (i = 0; i < 100; i++) {
		digit_pairs[2 * i] = '0' + i / 10;
		digit_pairs[2 * i + 1] = '0' + i % 10;
	}
	records_middle_len = scnprintf(records_middle, sizeof(records_middle),
				       " of %d: square ", records);
	message = kvzalloc(max_message, GFP_KERNEL);
	if (!message)
		return -ENOMEM;

	proc_dir = proc_mkdir("lkm_procfs", NULL);
	if (!proc_dir)
		goto err;
	if (!proc_create("message", 0644, proc_dir, &message_ops) ||
	    !proc_create("stats", 0444, proc_dir, &stats_proc_ops) ||
	    !proc_create("records", 0444, proc_dir, &records_ops))
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
