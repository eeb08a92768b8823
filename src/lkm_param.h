/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lkm_param.h - range-checked integer module parameters, shared by every
 * lkmkit module.
 *
 *	static int howmany = 1;
 *	lkm_param_range(howmany, 0, 64, 0, 0644);
 *	MODULE_PARM_DESC(howmany, "...");
 *
 * A value outside the range is refused with EINVAL and one line in the
 * kernel log, whether it comes at load time (the load fails) or later
 * through /sys/module/<module>/parameters/ (the old value stays).
 *
 * Include it after defining pr_fmt, so the message names the module.
 */
#ifndef LKM_PARAM_H
#define LKM_PARAM_H

#include <linux/kernel.h>
#include <linux/log2.h>
#include <linux/moduleparam.h>
#include <linux/string.h>
#include <linux/sysfs.h>

#define LKM_RANGE_ZERO_OK	BIT(0)	/* 0 is valid too (e.g. "disabled") */
#define LKM_RANGE_POW2		BIT(1)	/* the value must be a power of two */

struct lkm_range {
	int *value;
	int min;
	int max;
	unsigned int flags;
};

static inline int lkm_range_set(const char *val, const struct kernel_param *kp)
{
	const struct lkm_range *r = kp->arg;
	int n;

	if (kstrtoint(val, 0, &n))
		goto bad;
	if (n == 0 && (r->flags & LKM_RANGE_ZERO_OK))
		goto good;
	if (n < r->min || n > r->max)
		goto bad;
	if ((r->flags & LKM_RANGE_POW2) && !is_power_of_2(n))
		goto bad;
good:
	*r->value = n;
	return 0;
bad:
	pr_err("%s must be %s%s in %d..%d, got '%.*s'\n", kp->name,
	       r->flags & LKM_RANGE_ZERO_OK ? "0 or " : "",
	       r->flags & LKM_RANGE_POW2 ? "a power of two" : "an integer",
	       r->min, r->max, (int)min_t(size_t, strcspn(val, "\n"), 32), val);
	return -EINVAL;
}

static inline int lkm_range_get(char *buf, const struct kernel_param *kp)
{
	const struct lkm_range *r = kp->arg;

	return sysfs_emit(buf, "%d\n", *r->value);
}

static const struct kernel_param_ops lkm_range_ops __maybe_unused = {
	.set	= lkm_range_set,
	.get	= lkm_range_get,
};

#define lkm_param_range(name, lo, hi, fl, perm)				\
	static struct lkm_range __lkm_range_##name = {			\
		.value = &(name), .min = (lo), .max = (hi), .flags = (fl),	\
	};								\
	module_param_cb(name, &lkm_range_ops, &__lkm_range_##name, perm); \
	__MODULE_PARM_TYPE(name, "int")

#endif /* LKM_PARAM_H */
