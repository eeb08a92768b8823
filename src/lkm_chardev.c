// SPDX-License-Identifier: GPL-2.0
/*
 * lkm_chardev - /dev/lkm_chardev0..N-1, each holding a buffer that behaves
 * like a small regular file: read and write at the file position, a gap
 * reads as zeros, O_APPEND appends, O_TRUNC empties, llseek moves.
 *
 * Data lives in pages allocated as they are first written and indexed by
 * an xarray, so an idle device costs almost nothing however large its
 * capacity. Each device has a rw_semaphore: a write holds it exclusively
 * for the whole call, so no reader sees half of it, while readers share it.
 * File operations take it killably: a copy stuck on a user page fault
 * (say, a buffer on a hung FUSE mount) can hold it a long time.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/capability.h>
#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/init.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/rwsem.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <linux/xarray.h>
#include <linux/lkm_chardev.h>

#include "lkm_compat.h"
#include "lkm_param.h"

static int devices = 1;
lkm_param_range(devices, 1, 64, 0, 0444);
MODULE_PARM_DESC(devices, "Number of devices /dev/lkm_chardevN (1..64, default 1)");

static int capacity = SZ_1M;
lkm_param_range(capacity, SZ_4K, SZ_64M, 0, 0444);
MODULE_PARM_DESC(capacity, "Bytes each device can hold (4096..67108864, default 1048576)");

struct chardev {
	struct rw_semaphore lock;	/* guards pages and size */
	struct xarray pages;		/* page index -> page, NULL reads as zeros */
	loff_t size;
	atomic64_t opens, reads, writes, bytes_read, bytes_written;
};

static dev_t first_devt;
static struct cdev cdev;
static struct class *lkmkit_class;
static struct chardev *chardevs;

static void chardev_clear(struct chardev *d)
{
	unsigned long idx;
	void *page;

	xa_for_each(&d->pages, idx, page)
		free_page((unsigned long)page);
	xa_destroy(&d->pages);
	d->size = 0;
}

static int chardev_open(struct inode *inode, struct file *file)
{
	struct chardev *d = &chardevs[iminor(inode) - MINOR(first_devt)];

	file->private_data = d;
	/* What a shell's ">" relies on: opening for writing with O_TRUNC. */
	if ((file->f_flags & O_TRUNC) && (file->f_mode & FMODE_WRITE)) {
		if (down_write_killable(&d->lock))
			return -EINTR;
		chardev_clear(d);
		up_write(&d->lock);
	}
	atomic64_inc(&d->opens);
	return 0;
}

/*
 * read_iter and write_iter rather than read and write: after a fault in the
 * user's buffer the iov_iter copies leave the rest of the destination alone,
 * where copy_from_user() would zero it, wiping data the write never reached.
 */
static ssize_t chardev_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct chardev *d = iocb->ki_filp->private_data;
	loff_t pos = iocb->ki_pos;
	size_t count = 0, done = 0;

	if (down_read_killable(&d->lock))
		return -EINTR;
	if (pos < d->size)
		count = min_t(loff_t, iov_iter_count(to), d->size - pos);
	while (done < count) {
		size_t off = offset_in_page(pos + done);
		size_t chunk = min(count - done, PAGE_SIZE - off);
		void *page = xa_load(&d->pages, (pos + done) >> PAGE_SHIFT);
		size_t copied;

		if (page)
			copied = copy_to_iter(page + off, chunk, to);
		else	/* never written: a gap */
			copied = iov_iter_zero(chunk, to);
		done += copied;
		if (copied < chunk)
			break;
	}
	up_read(&d->lock);

	if (count && !done)
		return -EFAULT;
	iocb->ki_pos = pos + done;
	atomic64_inc(&d->reads);
	atomic64_add(done, &d->bytes_read);
	return done;
}

/*
 * The page for index idx, allocated (zeroed) on its first write; *fresh
 * says whether it was, so that a write that stores nothing in it can give
 * it back.
 */
static void *chardev_page(struct chardev *d, pgoff_t idx, bool *fresh)
{
	void *page = xa_load(&d->pages, idx);
	int err;

	*fresh = !page;
	if (page)
		return page;
	/* Charged to the writer's memory cgroup, as tmpfs pages are. */
	page = (void *)get_zeroed_page(GFP_KERNEL_ACCOUNT);
	if (!page)
		return ERR_PTR(-ENOMEM);
	err = xa_err(xa_store(&d->pages, idx, page, GFP_KERNEL));
	if (err) {
		free_page((unsigned long)page);
		return ERR_PTR(err);
	}
	return page;
}

static ssize_t chardev_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	struct chardev *d = iocb->ki_filp->private_data;
	size_t count = iov_iter_count(from), done = 0;
	loff_t pos;
	int ret = -EFAULT;

	if (!count)
		return 0;

	if (down_write_killable(&d->lock))
		return -EINTR;
	pos = (iocb->ki_flags & IOCB_APPEND) ? d->size : iocb->ki_pos;
	if (pos >= capacity) {
		up_write(&d->lock);
		return -ENOSPC;
	}
	count = min_t(loff_t, count, capacity - pos);
	while (done < count) {
		pgoff_t idx = (pos + done) >> PAGE_SHIFT;
		size_t off = offset_in_page(pos + done);
		size_t chunk = min(count - done, PAGE_SIZE - off);
		size_t copied;
		bool fresh;
		void *page = chardev_page(d, idx, &fresh);

		if (IS_ERR(page)) {
			ret = PTR_ERR(page);
			break;
		}
		copied = copy_from_iter(page + off, chunk, from);
		done += copied;
		if (copied < chunk) {
			/* A faulting buffer must not pin pages it never filled. */
			if (fresh && !copied)
				free_page((unsigned long)xa_erase(&d->pages, idx));
			break;
		}
	}
	/* Pages past the size stay all zeros, so a later gap reads as zeros. */
	if (done && pos + done > d->size)
		d->size = pos + done;
	up_write(&d->lock);

	if (!done)
		return ret;
	iocb->ki_pos = pos + done;
	atomic64_inc(&d->writes);
	atomic64_add(done, &d->bytes_written);
	return done;
}

static loff_t chardev_llseek(struct file *file, loff_t offset, int whence)
{
	struct chardev *d = file->private_data;
	loff_t size;

	if (down_read_killable(&d->lock))
		return -EINTR;
	size = d->size;
	up_read(&d->lock);
	/* Like a regular file: anywhere from 0 on, negative results EINVAL. */
	return generic_file_llseek_size(file, offset, whence, MAX_LFS_FILESIZE,
					size);
}

static void chardev_get_stats(struct chardev *d, struct lkm_chardev_stats *st)
{
	st->opens = atomic64_read(&d->opens);
	st->reads = atomic64_read(&d->reads);
	st->writes = atomic64_read(&d->writes);
	st->bytes_read = atomic64_read(&d->bytes_read);
	st->bytes_written = atomic64_read(&d->bytes_written);
}

static long chardev_ioctl(struct file *file, unsigned int cmd,
			  unsigned long arg)
{
	struct chardev *d = file->private_data;
	void __user *uarg = (void __user *)arg;
	struct lkm_chardev_stats st;
	u64 val;

	switch (cmd) {
	case LKM_CHARDEV_GET_SIZE:
		if (down_read_killable(&d->lock))
			return -EINTR;
		val = d->size;
		up_read(&d->lock);
		return put_user(val, (u64 __user *)uarg);
	case LKM_CHARDEV_GET_CAPACITY:
		val = capacity;
		return put_user(val, (u64 __user *)uarg);
	case LKM_CHARDEV_CLEAR:
		if (!(file->f_mode & FMODE_WRITE))
			return -EBADF;
		if (down_write_killable(&d->lock))
			return -EINTR;
		chardev_clear(d);
		up_write(&d->lock);
		return 0;
	case LKM_CHARDEV_GET_STATS:
		chardev_get_stats(d, &st);
		return copy_to_user(uarg, &st, sizeof(st)) ? -EFAULT : 0;
	case LKM_CHARDEV_RESET_STATS:
		/* The counters are shared by every user of the device. */
		if (!capable(CAP_SYS_ADMIN))
			return -EPERM;
		atomic64_set(&d->opens, 0);
		atomic64_set(&d->reads, 0);
		atomic64_set(&d->writes, 0);
		atomic64_set(&d->bytes_read, 0);
		atomic64_set(&d->bytes_written, 0);
		return 0;
	default:
		return -ENOTTY;
	}
}

static const struct file_operations chardev_fops = {
	.owner		= THIS_MODULE,
	.open		= chardev_open,
	.read_iter	= chardev_read_iter,
	.write_iter	= chardev_write_iter,
	.llseek		= chardev_llseek,
	.unlocked_ioctl	= chardev_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};

/* sysfs: /sys/class/lkmkit/lkm_chardevN/{size,capacity,stats} */

static ssize_t size_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	struct chardev *d = dev_get_drvdata(dev);
	loff_t size;

	if (down_read_killable(&d->lock))
		return -EINTR;
	size = d->size;
	up_read(&d->lock);
	return sysfs_emit(buf, "%lld\n", size);
}
static DEVICE_ATTR_RO(size);

static ssize_t capacity_show(struct device *dev, struct device_attribute *attr,
			     char *buf)
{
	return sysfs_emit(buf, "%d\n", capacity);
}
static DEVICE_ATTR_RO(capacity);

static ssize_t stats_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	struct lkm_chardev_stats st;

	chardev_get_stats(dev_get_drvdata(dev), &st);
	return sysfs_emit(buf,
			  "opens: %llu\nreads: %llu\nwrites: %llu\nbytes_read: %llu\nbytes_written: %llu\n",
			  st.opens, st.reads, st.writes, st.bytes_read,
			  st.bytes_written);
}
static DEVICE_ATTR_RO(stats);

static struct attribute *chardev_attrs[] = {
	&dev_attr_size.attr,
	&dev_attr_capacity.attr,
	&dev_attr_stats.attr,
	NULL
};
ATTRIBUTE_GROUPS(chardev);

static void chardev_destroy_devices(int n)
{
	while (n--)
		device_destroy(lkmkit_class, first_devt + n);
}

static int __init lkm_chardev_init(void)
{
	struct device *dev;
	int i, ret;

	ret = alloc_chrdev_region(&first_devt, 0, devices, "lkm_chardev");
	if (ret)
		return ret;

	chardevs = kcalloc(devices, sizeof(*chardevs), GFP_KERNEL);
	if (!chardevs) {
		ret = -ENOMEM;
		goto err_region;
	}
	for (i = 0; i < devices; i++) {
		init_rwsem(&chardevs[i].lock);
		xa_init(&chardevs[i].pages);
	}

	lkmkit_class = lkm_class_create("lkmkit");
	if (IS_ERR(lkmkit_class)) {
		ret = PTR_ERR(lkmkit_class);
		goto err_free;
	}

	/* The minors must work before their nodes appear. */
	cdev_init(&cdev, &chardev_fops);
	cdev.owner = THIS_MODULE;
	ret = cdev_add(&cdev, first_devt, devices);
	if (ret)
		goto err_class;

	for (i = 0; i < devices; i++) {
		dev = device_create_with_groups(lkmkit_class, NULL,
						first_devt + i, &chardevs[i],
						chardev_groups, "lkm_chardev%d", i);
		if (IS_ERR(dev)) {
			ret = PTR_ERR(dev);
			pr_err("cannot create lkm_chardev%d: %d\n", i, ret);
			chardev_destroy_devices(i);
			goto err_cdev;
		}
	}
	pr_info("%d device(s) of %d bytes, major %d\n", devices, capacity,
		MAJOR(first_devt));
	return 0;

err_cdev:
	cdev_del(&cdev);
err_class:
	class_destroy(lkmkit_class);
err_free:
	kfree(chardevs);
err_region:
	unregister_chrdev_region(first_devt, devices);
	return ret;
}

static void __exit lkm_chardev_exit(void)
{
	int i;

	chardev_destroy_devices(devices);
	cdev_del(&cdev);
	class_destroy(lkmkit_class);
	for (i = 0; i < devices; i++)
		chardev_clear(&chardevs[i]);
	kfree(chardevs);
	unregister_chrdev_region(first_devt, devices);
}

module_init(lkm_chardev_init);
module_exit(lkm_chardev_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("lkmkit developers");
MODULE_DESCRIPTION("Multi-instance character device holding a file-like buffer");
MODULE_VERSION(LKMKIT_VERSION);
