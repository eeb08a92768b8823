// SPDX-License-Identifier: GPL-2.0
/*
 * lkm_hello - load/unload messages and validated module parameters.
 *
 * Every writable parameter goes through a setter that checks the value
 * before storing it, so a bad value is refused with EINVAL both at load
 * time (the load fails) and at run time through
 * /sys/module/lkm_hello/parameters/ (the old value stays). Integer ranges
 * are checked by the shared lkm_param.h.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/string.h>

#include "lkm_param.h"

#define HELLO_MAX_HOWMANY	64
#define HELLO_MAX_WHOM		64
#define HELLO_MAX_IDS		8

static char *whom = "world";
static int howmany = 1;
static bool verbose;
static int ids[HELLO_MAX_IDS];
static unsigned int nr_ids;

static int whom_set(const char *val, const struct kernel_param *kp)
{
	char name[HELLO_MAX_WHOM + 1];
	size_t len = strlen(val), i;

	if (len && val[len - 1] == '\n')	/* as "echo" writes to sysfs */
		len--;
	if (len == 0 || len > HELLO_MAX_WHOM) {
		pr_err("whom must be 1..%d bytes long, got %zu\n",
		       HELLO_MAX_WHOM, len);
		return -EINVAL;
	}
	for (i = 0; i < len; i++) {
		/* ASCII controls only: bytes from 0x80 on may be UTF-8. */
		if ((unsigned char)val[i] < 0x20 || val[i] == 0x7f) {
			pr_err("whom must not hold control characters\n");
			return -EINVAL;
		}
	}
	memcpy(name, val, len);
	name[len] = '\0';
	return param_set_charp(name, kp);
}

static const struct kernel_param_ops whom_ops = {
	.set	= whom_set,
	.get	= param_get_charp,
	.free	= param_free_charp,
};

/* param_set_bool() refuses quietly at run time: say why, like the rest. */
static int verbose_set(const char *val, const struct kernel_param *kp)
{
	int ret = param_set_bool(val, kp);

	if (ret)
		pr_err("verbose must be Y, N, 1, 0, on or off, got '%.*s'\n",
		       (int)min_t(size_t, strcspn(val, "\n"), 32), val);
	return ret;
}

static const struct kernel_param_ops verbose_ops = {
	.flags	= KERNEL_PARAM_OPS_FL_NOARG,	/* a bare "verbose" means Y */
	.set	= verbose_set,
	.get	= param_get_bool,
};

module_param_cb(whom, &whom_ops, &whom, 0644);
__MODULE_PARM_TYPE(whom, "charp");
MODULE_PARM_DESC(whom, "Who to greet (1..64 bytes, default \"world\")");
lkm_param_range(howmany, 0, HELLO_MAX_HOWMANY, 0, 0644);
MODULE_PARM_DESC(howmany, "How many greetings to log at load (0..64, default 1)");
module_param_cb(verbose, &verbose_ops, &verbose, 0644);
__MODULE_PARM_TYPE(verbose, "bool");
MODULE_PARM_DESC(verbose, "Also log the ids at load (default off)");
/*
 * ids is an ordinary int array parameter, whose setter only says why when
 * it refuses a value: the kernel's own line names neither the limit nor
 * the rule.
 */
static const struct kparam_array ids_array = {
	.max		= HELLO_MAX_IDS,
	.elemsize	= sizeof(ids[0]),
	.num		= &nr_ids,
	.ops		= &param_ops_int,
	.elem		= ids,
};

static int ids_set(const char *val, const struct kernel_param *kp)
{
	char shown[33];	/* the array setter cuts val up at its commas */
	int ret;

	strscpy(shown, val, sizeof(shown));
	ret = param_array_ops.set(val, kp);
	if (ret)
		pr_err("ids must be up to %d integers separated by commas, got '%.*s'\n",
		       HELLO_MAX_IDS, (int)strcspn(shown, "\n"), shown);
	return ret;
}

static int ids_get(char *buffer, const struct kernel_param *kp)
{
	return param_array_ops.get(buffer, kp);
}

static void ids_free(void *arg)
{
	param_array_ops.free(arg);
}

static const struct kernel_param_ops ids_ops = {
	.set	= ids_set,
	.get	= ids_get,
	.free	= ids_free,
};

__module_param_call(MODULE_PARAM_PREFIX, ids, &ids_ops, .arr = &ids_array,
		    0444, -1, 0);
__MODULE_PARM_TYPE(ids, "array of int");
MODULE_PARM_DESC(ids, "Up to 8 comma-separated integers, logged when verbose");

static int __init lkm_hello_init(void)
{
	int i;

	/* The parameter files exist, and can be written, before init runs. */
	kernel_param_lock(THIS_MODULE);
	for (i = 0; i < howmany; i++)
		pr_info("Hello, %s!\n", whom);
	if (verbose)
		for (i = 0; i < nr_ids; i++)
			pr_info("ids[%d] = %d\n", i, ids[i]);
	kernel_param_unlock(THIS_MODULE);
	return 0;
}

static void __exit lkm_hello_exit(void)
{
	/* whom may be rewritten through sysfs until the module is gone. */
	kernel_param_lock(THIS_MODULE);
	pr_info("Goodbye, %s.\n", whom);
	kernel_param_unlock(THIS_MODULE);
}

module_init(lkm_hello_init);
module_exit(lkm_hello_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("lkmkit developers");
MODULE_DESCRIPTION("Greets on load and unload; validated module parameters");
MODULE_VERSION(LKMKIT_VERSION);
