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
 * v6.4: class_create() lost its owner argument (commit 1aaba11da9aa,
 * "driver core: class: remove module * from class_create()").
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 4, 0)
#define lkm_class_create(name)	class_create(name)
#else
#define lkm_class_create(name)	class_create(THIS_MODULE, name)
#endif

#endif /* LKM_COMPAT_H */
