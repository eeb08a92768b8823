// SPDX-License-Identifier: GPL-2.0
/*
 * lkm_faulty - a test-only module with planted faults, one per load, that
 * proves make check's judge sees each kind of report the debug kernel
 * makes and can tell which module made it (scripts/planted). Never
 * packaged nor installed.
 *
 *   insmod lkm_faulty.ko plant=leak    kmalloc()s dropped: kmemleak
 *   insmod lkm_faulty.ko plant=abba    two locks taken in both orders: lockdep
 *   insmod lkm_faulty.ko plant=sleep   might_sleep() under a spinlock
 *   insmod lkm_faulty.ko plant=oob     a read past a kmalloc()ed buffer: KASAN
 *
 * Each fault is in a function of its own (faulty_leak() ...), named in the
 * report the judge must find. The load succeeds whatever the fault, so
 * that the module, its symbols with it, is still there when a report names
 * it (kmemleak's come at the next scan).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>

static char *plant = "";
module_param(plant, charp, 0444);
MODULE_PARM_DESC(plant, "The fault to plant at load: leak, abba, sleep or oob");

/* The size of the buffer read past, a parameter so no compiler sees through it. */
static int oob_size = 16;
module_param(oob_size, int, 0444);
MODULE_PARM_DESC(oob_size, "Bytes of the buffer plant=oob reads one byte past (default 16)");

static DEFINE_MUTEX(faulty_lock_a);
static DEFINE_MUTEX(faulty_lock_b);
static DEFINE_SPINLOCK(faulty_spinlock);

/*
 * Allocations nothing points to once this returns. Several: a pointer
 * left in a stack slot or a register could hide the last one.
 */
static noinline void faulty_leak(void)
{
	int i;

	for (i = 0; i < 8; i++) {
		char *p = kmalloc(64 + 32 * i, GFP_KERNEL);

		if (p)
			memset(p, 0x5a, 64 + 32 * i);
	}
}

/* A then B, later B then A: a deadlock waiting for two threads to meet. */
static noinline void faulty_abba(void)
{
	mutex_lock(&faulty_lock_a);
	mutex_lock(&faulty_lock_b);
	mutex_unlock(&faulty_lock_b);
	mutex_unlock(&faulty_lock_a);

	mutex_lock(&faulty_lock_b);
	mutex_lock(&faulty_lock_a);
	mutex_unlock(&faulty_lock_a);
	mutex_unlock(&faulty_lock_b);
}

/* What may sleep, called with a spinlock held. */
static noinline void faulty_sleep(void)
{
	spin_lock(&faulty_spinlock);
	might_sleep();
	spin_unlock(&faulty_spinlock);
}

/* One byte read past the end of a buffer. */
static noinline void faulty_oob(void)
{
	char *p = kmalloc(oob_size, GFP_KERNEL);

	if (!p)
		return;
	pr_info("the byte past the buffer: %d\n", READ_ONCE(p[oob_size]));
	kfree(p);
}

static const struct {
	const char *name;
	void (*fn)(void);
} plants[] = {
	{ "leak", faulty_leak },
	{ "abba", faulty_abba },
	{ "sleep", faulty_sleep },
	{ "oob", faulty_oob },
};

static int __init lkm_faulty_init(void)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(plants); i++) {
		if (strcmp(plant, plants[i].name))
			continue;
		pr_info("planting %s\n", plant);
		plants[i].fn();
		return 0;
	}
	pr_info("no fault planted (plant=%s)\n", plant);
	return 0;
}

static void __exit lkm_faulty_exit(void)
{
}

module_init(lkm_faulty_init);
module_exit(lkm_faulty_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("lkmkit developers");
MODULE_DESCRIPTION("Test-only: planted faults that make check's judge must catch");
