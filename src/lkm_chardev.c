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
 * (say, a buffer on a hung FUSE mount) can hold it a long time. (Threads
 * sharing the stuck writer's open file wait first for the VFS's file
 * position lock, which is not killable, as on a regular file.)
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/capability.h>
#include <linux/cdev.h>
#include <linux/completion.h>
#include <linux/device.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/init.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/rwsem.h>
#include <linux/sizes.h>
#include <linux/percpu.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/u64_stats_sync.h>
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <linux/xarray.h>
#include <linux/lkm_chardev.h>

#include "lkm_compat.h"
#include "lkm_param.h"

#define MAX_DEVICES	64

static int devices = 1;
lkm_param_range(devices, 1, MAX_DEVICES, 0, 0444);
MODULE_PARM_DESC(devices, "Number of devices /dev/lkm_chardevN (1..64, default 1)");

static int capacity = SZ_1M;
lkm_param_range(capacity, SZ_4K, SZ_64M, 0, 0444);
MODULE_PARM_DESC(capacity, "Bytes each device can hold (4096..67108864, default 1048576)");

enum chardev_stat {
	STAT_OPENS,
	STAT_READS,
	STAT_WRITES,
	STAT_BYTES_READ,
	STAT_BYTES_WRITTEN,
	NR_STATS
};

/*
 * The counters are per CPU, as the kernel keeps hot statistics (network
 * devices' among them): a shared counter would be one more cache line that
 * every read and write moves between CPUs.
 */
struct chardev_pcpu_stats {
	u64_stats_t v[NR_STATS];
	struct u64_stats_sync syncp;
};

/*
 * One per device, allocated: the cdev and the device are kobjects, whose
 * last reference may be dropped after the module let go of them (with
 * CONFIG_DEBUG_KOBJECT_RELEASE, seconds later), so they must not live in
 * the module's static memory. The device's release frees it all.
 *
 * What every read and write touches comes first and starts a cache line
 * of its own, so that it shares none with the device's kobjects, whose
 * reference counts change on every open and close.
 */
struct chardev {
	struct rw_semaphore lock ____cacheline_aligned_in_smp;	/* guards pages, size */
	struct xarray pages;		/* page index -> page, NULL reads as zeros */
	loff_t size;
	struct chardev_pcpu_stats __percpu *stats;

	/* The counters since the last LKM_CHARDEV_RESET_STATS: v - base. */
	spinlock_t stats_lock ____cacheline_aligned_in_smp;
	u64 stats_base[NR_STATS];
	struct device dev;
	struct cdev cdev;
};

static dev_t first_devt;
static struct chardev *chardevs[MAX_DEVICES];

/*
 * Each device and the class hold one count until their release has run:
 * those callbacks are this module's code, so unloading waits for them.
 * The first count is init's own, dropped by the teardown.
 */
static atomic_t unreleased = ATOMIC_INIT(1);

/*
 * A loading module's devices can be opened before init returns; should
 * init then fail, it would wait for that file's close and free the module
 * under it. So no open succeeds until every device is there.
 */
static bool ready;
static DECLARE_COMPLETION(all_released);

static void chardev_clear(struct chardev *d)
{
	unsigned long idx;
	void *page;

	xa_for_each(&d->pages, idx, page)
		free_page((unsigned long)page);
	xa_destroy(&d->pages);
	d->size = 0;
}

/* Counts one call of kind `call` and, unless it is NR_STATS, n bytes. */
static void chardev_count(struct chardev *d, enum chardev_stat call,
			  enum chardev_stat bytes, size_t n)
{
	struct chardev_pcpu_stats *s = get_cpu_ptr(d->stats);

	u64_stats_update_begin(&s->syncp);
	u64_stats_inc(&s->v[call]);
	if (bytes < NR_STATS)
		u64_stats_add(&s->v[bytes], n);
	u64_stats_update_end(&s->syncp);
	put_cpu_ptr(d->stats);
}

/* Every counter's sum over the CPUs; the caller holds stats_lock. */
static void chardev_sum(struct chardev *d, u64 sum[NR_STATS])
{
	int cpu, i;

	lockdep_assert_held(&d->stats_lock);
	memset(sum, 0, NR_STATS * sizeof(*sum));
	for_each_possible_cpu(cpu) {
		const struct chardev_pcpu_stats *s = per_cpu_ptr(d->stats, cpu);
		u64 v[NR_STATS];
		unsigned int start;

		do {
			start = u64_stats_fetch_begin(&s->syncp);
			for (i = 0; i < NR_STATS; i++)
				v[i] = u64_stats_read(&s->v[i]);
		} while (u64_stats_fetch_retry(&s->syncp, start));
		for (i = 0; i < NR_STATS; i++)
			sum[i] += v[i];
	}
}

/*
 * The counters as users see them. A reset cannot zero other CPUs'
 * counters under their feet, so it records where they stood instead:
 * they only grow, so what was counted since never comes out negative.
 */
static void chardev_stats(struct chardev *d, u64 v[NR_STATS])
{
	int i;

	spin_lock(&d->stats_lock);
	chardev_sum(d, v);
	for (i = 0; i < NR_STATS; i++)
		v[i] -= d->stats_base[i];
	spin_unlock(&d->stats_lock);
}

static void chardev_reset_stats(struct chardev *d)
{
	spin_lock(&d->stats_lock);
	chardev_sum(d, d->stats_base);
	spin_unlock(&d->stats_lock);
}

static void lkmkit_released(void)
{
	if (atomic_dec_and_test(&unreleased))
		complete(&all_released);
}

static void chardev_release(struct device *dev)
{
	struct chardev *d = container_of(dev, struct chardev, dev);

	chardev_clear(d);
	free_percpu(d->stats);
	kfree(d);
	lkmkit_released();
}

static int chardev_open(struct inode *inode, struct file *file)
{
	struct chardev *d = container_of(inode->i_cdev, struct chardev, cdev);

	/* Pairs with the release in init: a device seen ready is whole. */
	if (!smp_load_acquire(&ready))
		return -ENXIO;
	file->private_data = d;
	/*
	 * A regular file's position is updated atomically when threads or
	 * processes share one open file: the VFS does it for files that ask,
	 * and a character device must ask, or concurrent read()s and write()s
	 * through the description would use the same position.
	 */
	file->f_mode |= FMODE_ATOMIC_POS;
	/* What a shell's ">" relies on: opening for writing with O_TRUNC. */
	if ((file->f_flags & O_TRUNC) && (file->f_mode & FMODE_WRITE)) {
		if (down_write_killable(&d->lock))
			return -EINTR;
		chardev_clear(d);
		up_write(&d->lock);
	}
	chardev_count(d, STAT_OPENS, NR_STATS, 0);
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
	chardev_count(d, STAT_READS, STAT_BYTES_READ, done);
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
	chardev_count(d, STAT_WRITES, STAT_BYTES_WRITTEN, done);
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

/*
 * LKM_CHARDEV_GET_STATS: the request carries the size of the caller's
 * structure (see the UAPI header), so that the structure can grow at its
 * end. The caller gets the fields both sides know; any it knows and we do
 * not are zeroed.
 */
static long chardev_ioctl_stats(struct chardev *d, void __user *uarg,
				size_t usize)
{
	struct lkm_chardev_stats st;
	size_t n = min(usize, sizeof(st));
	u64 v[NR_STATS];

	chardev_stats(d, v);
	st = (struct lkm_chardev_stats){
		.opens = v[STAT_OPENS],
		.reads = v[STAT_READS],
		.writes = v[STAT_WRITES],
		.bytes_read = v[STAT_BYTES_READ],
		.bytes_written = v[STAT_BYTES_WRITTEN],
	};

	BUILD_BUG_ON(sizeof(st) < LKM_CHARDEV_STATS_SIZE_VER0);
	if (usize < LKM_CHARDEV_STATS_SIZE_VER0)
		return -EINVAL;
	if (copy_to_user(uarg, &st, n))
		return -EFAULT;
	if (usize > n && clear_user(uarg + n, usize - n))
		return -EFAULT;
	return 0;
}

static long chardev_ioctl(struct file *file, unsigned int cmd,
			  unsigned long arg)
{
	struct chardev *d = file->private_data;
	void __user *uarg = (void __user *)arg;
	u64 val;

	if (_IOC_TYPE(cmd) == LKM_CHARDEV_IOC_MAGIC &&
	    _IOC_NR(cmd) == _IOC_NR(LKM_CHARDEV_GET_STATS) &&
	    _IOC_DIR(cmd) == _IOC_READ)
		return chardev_ioctl_stats(d, uarg, _IOC_SIZE(cmd));

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
	case LKM_CHARDEV_RESET_STATS:
		/* The counters are shared by every user of the device. */
		if (!capable(CAP_SYS_ADMIN))
			return -EPERM;
		chardev_reset_stats(d);
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

/*
 * sysfs, under /sys/class/lkmkit/lkm_chardevN/: size and capacity, and
 * the counters one value a file in statistics/ (as network devices have
 * theirs). The multi-line "stats" file of lkmkit 0.1 stays for one more
 * release, deprecated, so that scripts reading it have time to move.
 */
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
	struct chardev *d = dev_get_drvdata(dev);
	u64 v[NR_STATS];

	chardev_stats(d, v);
	return sysfs_emit(buf,
			  "opens: %llu\nreads: %llu\nwrites: %llu\nbytes_read: %llu\nbytes_written: %llu\n",
			  v[STAT_OPENS], v[STAT_READS], v[STAT_WRITES],
			  v[STAT_BYTES_READ], v[STAT_BYTES_WRITTEN]);
}
static DEVICE_ATTR_RO(stats);

static struct attribute *chardev_attrs[] = {
	&dev_attr_size.attr,
	&dev_attr_capacity.attr,
	&dev_attr_stats.attr,
	NULL
};

static const struct attribute_group chardev_group = {
	.attrs = chardev_attrs,
};

/* A counter's attribute carries the counter's index. */
static ssize_t stat_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	struct chardev *d = dev_get_drvdata(dev);
	unsigned long i = (unsigned long)container_of(attr, struct dev_ext_attribute,
						      attr)->var;
	u64 v[NR_STATS];

	chardev_stats(d, v);
	return sysfs_emit(buf, "%llu\n", v[i]);
}

#define CHARDEV_STAT_ATTR(_name, _index)				\
	static struct dev_ext_attribute dev_attr_stat_##_name = {	\
		.attr = __ATTR(_name, 0444, stat_show, NULL),		\
		.var = (void *)(unsigned long)(_index),			\
	}

CHARDEV_STAT_ATTR(opens, STAT_OPENS);
CHARDEV_STAT_ATTR(reads, STAT_READS);
CHARDEV_STAT_ATTR(writes, STAT_WRITES);
CHARDEV_STAT_ATTR(bytes_read, STAT_BYTES_READ);
CHARDEV_STAT_ATTR(bytes_written, STAT_BYTES_WRITTEN);

static struct attribute *chardev_stat_attrs[] = {
	&dev_attr_stat_opens.attr.attr,
	&dev_attr_stat_reads.attr.attr,
	&dev_attr_stat_writes.attr.attr,
	&dev_attr_stat_bytes_read.attr.attr,
	&dev_attr_stat_bytes_written.attr.attr,
	NULL
};

static const struct attribute_group chardev_stat_group = {
	.name = "statistics",
	.attrs = chardev_stat_attrs,
};

static const struct attribute_group *chardev_groups[] = {
	&chardev_group,
	&chardev_stat_group,
	NULL
};

static void lkmkit_class_release(lkm_class_const struct class *cls)
{
	lkmkit_released();
}

static lkm_class_const struct class lkmkit_class = {
	.name		= "lkmkit",
	.dev_groups	= chardev_groups,
	.class_release	= lkmkit_class_release,
};

static int chardev_create(int i)
{
	struct chardev *d;
	int cpu, ret;

	d = kzalloc(sizeof(*d), GFP_KERNEL);
	if (!d)
		return -ENOMEM;
	d->stats = alloc_percpu(struct chardev_pcpu_stats);
	if (!d->stats) {
		kfree(d);
		return -ENOMEM;
	}
	for_each_possible_cpu(cpu)
		u64_stats_init(&per_cpu_ptr(d->stats, cpu)->syncp);
	spin_lock_init(&d->stats_lock);
	init_rwsem(&d->lock);
	/* Charged to the writer's memory cgroup, like the data pages. */
	xa_init_flags(&d->pages, XA_FLAGS_ACCOUNT);

	device_initialize(&d->dev);
	atomic_inc(&unreleased);	/* from here on, put_device() frees d */
	d->dev.class = &lkmkit_class;
	d->dev.devt = first_devt + i;
	d->dev.release = chardev_release;
	dev_set_drvdata(&d->dev, d);
	ret = dev_set_name(&d->dev, "lkm_chardev%d", i);
	if (ret)
		goto err_put;

	cdev_init(&d->cdev, &chardev_fops);
	d->cdev.owner = THIS_MODULE;
	/* The minor works before its node appears (device_add's uevent). */
	ret = cdev_device_add(&d->cdev, &d->dev);
	if (ret)
		goto err_put;
	chardevs[i] = d;
	return 0;

err_put:
	pr_err("cannot create lkm_chardev%d: %d\n", i, ret);
	put_device(&d->dev);
	return ret;
}

/* Removes the devices, then waits for their releases and the class's. */
static void lkm_chardev_teardown(int n)
{
	while (n--) {
		cdev_device_del(&chardevs[n]->cdev, &chardevs[n]->dev);
		put_device(&chardevs[n]->dev);
		chardevs[n] = NULL;
	}
	class_unregister(&lkmkit_class);
	lkmkit_released();	/* the count lkm_chardev_init() started with */
	wait_for_completion(&all_released);
	unregister_chrdev_region(first_devt, devices);
}

static int __init lkm_chardev_init(void)
{
	int i, ret;

	ret = alloc_chrdev_region(&first_devt, 0, devices, "lkm_chardev");
	if (ret)
		return ret;

	ret = class_register(&lkmkit_class);
	if (ret) {
		unregister_chrdev_region(first_devt, devices);
		return ret;
	}
	atomic_inc(&unreleased);

	for (i = 0; i < devices; i++) {
		ret = chardev_create(i);
		if (ret) {
			lkm_chardev_teardown(i);
			return ret;
		}
	}
	/* Every device is added before any open may succeed. */
	smp_store_release(&ready, true);
	pr_info("%d device(s) of %d bytes, major %d\n", devices, capacity,
		MAJOR(first_devt));
	return 0;
}

static void __exit lkm_chardev_exit(void)
{
	lkm_chardev_teardown(devices);
}

module_init(lkm_chardev_init);
module_exit(lkm_chardev_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("lkmkit developers");
MODULE_DESCRIPTION("Multi-instance character device holding a file-like buffer");
MODULE_VERSION(LKMKIT_VERSION);
