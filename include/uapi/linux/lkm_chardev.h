/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * lkm_chardev.h - the ioctl interface of /dev/lkm_chardevN.
 *
 * Every request operates on the device the file descriptor refers to.
 */
#ifndef _UAPI_LINUX_LKM_CHARDEV_H
#define _UAPI_LINUX_LKM_CHARDEV_H

#include <linux/ioctl.h>
#include <linux/types.h>

/*
 * Counters since the module was loaded (or since LKM_CHARDEV_RESET_STATS).
 *
 * The structure may grow, at its end only. LKM_CHARDEV_GET_STATS carries
 * the size a program was built with (the ioctl request's size field): the
 * module fills the fields both know and zeroes any the program has beyond
 * them, so a program keeps working with newer modules, and a newer
 * program with older ones (back to lkmkit 0.2). A size below
 * LKM_CHARDEV_STATS_SIZE_VER0 gives EINVAL.
 */
struct lkm_chardev_stats {
	__u64 opens;
	__u64 reads;		/* read() calls that returned data or 0 */
	__u64 writes;		/* write() calls that stored data */
	__u64 bytes_read;
	__u64 bytes_written;
};

#define LKM_CHARDEV_STATS_SIZE_VER0	40	/* the five fields above */

/*
 * 0xC7 is unassigned in the kernel's
 * Documentation/userspace-api/ioctl/ioctl-number.rst (checked in 6.12,
 * 7.2 and 7.3-rc); these requests use numbers 1 to 5.
 */
#define LKM_CHARDEV_IOC_MAGIC	0xC7

/* Bytes of data held (the end of the furthest write). */
#define LKM_CHARDEV_GET_SIZE	_IOR(LKM_CHARDEV_IOC_MAGIC, 1, __u64)
/* The most the device can hold (the capacity module parameter). */
#define LKM_CHARDEV_GET_CAPACITY _IOR(LKM_CHARDEV_IOC_MAGIC, 2, __u64)
/* Drops all data; needs a descriptor open for writing (else EBADF). */
#define LKM_CHARDEV_CLEAR	_IO(LKM_CHARDEV_IOC_MAGIC, 3)
#define LKM_CHARDEV_GET_STATS	_IOR(LKM_CHARDEV_IOC_MAGIC, 4, struct lkm_chardev_stats)
/* Zeroes the counters; needs CAP_SYS_ADMIN (else EPERM). */
#define LKM_CHARDEV_RESET_STATS	_IO(LKM_CHARDEV_IOC_MAGIC, 5)

#endif /* _UAPI_LINUX_LKM_CHARDEV_H */
