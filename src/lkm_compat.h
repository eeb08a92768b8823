/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lkm_compat.h - the one place where kernel-version differences live.
 *
 * Each shim names the kernel version and the upstream change that needs it.
 * Module sources use only the lkm_* names below and never test
 * LINUX_VERSION_CODE themselves.
 */
#ifndef LKM_COMPAT_H
#define LKM_COMPAT_H

#include <linux/version.h>
#include <linux/device.h>

/*
 * v6.4: the driver core takes const struct class pointers (class_register(),
 * struct device's class, a class's release callback), so that a class can
 * be a static const object; 6.1 still writes to it.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 4, 0)
#define lkm_class_const	const
#else
#define lkm_class_const
#endif

#endif /* LKM_COMPAT_H */
