// SPDX-License-Identifier: GPL-2.0
/*
 * cycles - load/unload cycles of every module with its largest parameters
 * (lkm_info()), each load used a little before the unload, and then slab
 * usage and free memory back where they started.
 *
 *   /tests/cycles COUNT MODULE...
 *
 * One thread per module, all cycling at once, after one cycle each that
 * takes first-load effects out of the figures. After all the cycles, no
 * more slab objects that module code allocated are live than before
 * (module_objects(): a leak of one object in any cycle shows, and what
 * the kernel keeps for itself, a worker thread it started, a file it
 * frees after an RCU grace period, does not), and free memory is no
 * more than 2 MiB below where it started: each load takes 16 MiB in
 * lkm_misc, 1 MiB in lkm_procfs (its message, which it is given to fill),
 * and is given 4 MiB to hold in lkm_chardev, so that a module which keeps
 * what it had shows within 3 cycles (make check's count: a lkm_procfs
 * that kept its message lost 3044 KiB in them, 2084 KiB in 2).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lkmtest.h"

#define FREE_TOL_KB 2048

static long count;
static pthread_barrier_t ready;

struct cycler {
	const struct lkm_info *m;
	long done, ms;
	char why[512];
};

static char mib[1 << 20];

/*
 * Writes len bytes of mib to path, n times over, from pos on (-1: with
 * write()): 0 or -errno.
 */
static int put(const char *path, int flags, size_t len, int n, off_t pos)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | flags), ret = 0, i;
	ssize_t done;

	if (fd < 0)
		return -errno;
	for (i = 0; i < n && !ret; i++) {
		done = pos < 0 ? write(fd, mib, len) : pwrite(fd, mib, len, pos + i * len);
		if (done != (ssize_t)len)
			ret = done < 0 ? -errno : -EIO;
	}
	close(fd);
	return ret;
}

/* Uses the loaded module a little, so that its unload has things to free. */
static int use(const char *name)
{
	if (!strcmp(name, "lkm_chardev"))
		/* 4 MiB at the end of the last device, 64 MiB each. */
		return put("/dev/lkm_chardev63", 0, sizeof(mib), 4, 60 << 20);
	if (!strcmp(name, "lkm_misc"))
		/* Left in the FIFO at unload. */
		return put("/dev/lkm_pipe", O_NONBLOCK, 65536, 1, -1);
	if (!strcmp(name, "lkm_procfs"))
		return put("/proc/lkm_procfs/message", O_TRUNC, sizeof(mib), 1, -1);
	if (!strcmp(name, "lkm_workqueue"))
		/* Still in flight when the unload comes. */
		return file_write("/proc/lkm_workqueue/submit", "1000");
	return 0;
}

static void *cycle(void *arg)
{
	struct cycler *c = arg;
	const char *name = c->m->name;
	long i, start;
	int ret = 0;

	if (!mod_load(name, c->m->largest))
		mod_unload(name);
	pthread_barrier_wait(&ready);
	pthread_barrier_wait(&ready);
	start = now_ms();
	for (i = 0; i < count; i++) {
		ret = mod_load(name, c->m->largest);
		if (ret) {
			snprintf(c->why, sizeof(c->why), "load %ld: %s", i + 1, strerror(-ret));
			break;
		}
		ret = use(name);
		if (ret) {
			snprintf(c->why, sizeof(c->why), "using load %ld: %s", i + 1,
				 strerror(-ret));
			break;
		}
		ret = mod_unload(name);
		if (ret) {
			snprintf(c->why, sizeof(c->why), "unload %ld: %s", i + 1, strerror(-ret));
			break;
		}
		c->done++;
	}
	c->ms = now_ms() - start;
	if (ret && mod_loaded(name))
		mod_unload(name);
	return NULL;
}

/* After the cycles, a load with defaults works, and its unload leaves nothing. */
static const char *after(const char *name, char *buf, size_t size)
{
	const char *why;
	int ret = mod_load(name, NULL);

	if (ret) {
		snprintf(buf, size, "a load with defaults gives %s", strerror(-ret));
		return buf;
	}
	why = lkm_smoke(name, buf, size);
	ret = mod_unload(name);
	if (!why && ret) {
		snprintf(buf, size, "its unload gives %s", strerror(-ret));
		why = buf;
	}
	if (!why && *lkm_leftovers(name, buf, size))
		why = buf;
	return why;
}

int main(int argc, char **argv)
{
	static struct slab_usage before, later;
	static struct cycler c[16];
	pthread_t tid[16];
	long free0, free1, objs0, objs1;
	char buf[1024];
	const char *why;
	int i, n = argc - 2, grown;

	if (argc < 3 || atol(argv[1]) < 1 || n > 16) {
		fprintf(stderr, "usage: cycles COUNT MODULE...\n");
		return 2;
	}
	count = atol(argv[1]);
	memset(mib, 'c', sizeof(mib));
	ktap_begin("cycles", 2 * n + 2);
	pthread_barrier_init(&ready, NULL, n + 1);
	for (i = 0; i < n; i++) {
		c[i].m = lkm_info(argv[i + 2]);
		if (pthread_create(&tid[i], NULL, cycle, &c[i]))
			ktap_bail("pthread_create failed");
	}
	pthread_barrier_wait(&ready);
	mem_settle(10000);
	if (slab_usage_read(&before))
		ktap_bail("cannot read /proc/slabinfo");
	objs0 = module_objects(buf, sizeof(buf));
	if (objs0 < 0)
		ktap_bail("cannot read the slab allocation traces: %s", strerror(-objs0));
	free0 = mem_free_total_kb();
	pthread_barrier_wait(&ready);
	for (i = 0; i < n; i++) {
		pthread_join(tid[i], NULL);
		ktap_ok(c[i].done == count, "%s: %ld of %ld load/unload cycles with %s%s%s",
			c[i].m->name, c[i].done, count, c[i].m->largest,
			c[i].why[0] ? ": " : "", c[i].why);
		ktap_diag("figure: cycles %s: %ld in %ld.%ld s, %ld ms each", c[i].m->name,
			  c[i].done, c[i].ms / 1000, c[i].ms % 1000 / 100,
			  c[i].done ? c[i].ms / c[i].done : 0);
	}
	mem_settle(10000);
	if (slab_usage_read(&later))
		ktap_bail("cannot read /proc/slabinfo");
	free1 = mem_free_total_kb();
	objs1 = module_objects_after(objs0, buf, sizeof(buf));
	ktap_ok(objs1 >= 0 && objs1 <= objs0,
		"no more objects allocated by module code are live after the cycles: %ld, %ld before%s%s",
		objs1, objs0, objs1 > objs0 ? "; " : "", objs1 > objs0 ? buf : "");
	ktap_ok(free1 > free0 - FREE_TOL_KB,
		"free memory is back within %d KiB: %ld KiB before, %ld KiB after",
		FREE_TOL_KB, free0, free1);
	ktap_diag("figure: cycles: slab %+ld KiB, free memory %+ld KiB after %ld cycles of each",
		  (later.bytes - before.bytes) / 1024, free1 - free0, count);
	grown = slab_grown(&before, &later, 4, buf, sizeof(buf));
	ktap_diag("slab caches with more than 4 objects more: %s", grown ? buf : "none");
	for (i = 0; i < n; i++) {
		why = after(c[i].m->name, buf, sizeof(buf));
		ktap_ok(!why, "%s: works after the cycles, and its unload leaves nothing%s%s",
			c[i].m->name, why ? ": " : "", why ? why : "");
	}
	return ktap_end();
}
