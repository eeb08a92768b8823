// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz - a fuzzing of every module bounded in time: its parameters and its
 * ioctls, SECONDS for each module, all modules at once.
 *
 *   /tests/fuzz [-S SEED] SECONDS MODULE...
 *
 * Parameters: random values (empty, huge, negative, non-numeric,
 * overlong, with control bytes, and numbers at and around the valid
 * range) given to each parameter at load time, and written to it through
 * /sys/module/<module>/parameters/. A load either fails with EINVAL (or
 * ERANGE, ENOSPC) and leaves nothing, or works with every value valid; a
 * write is refused, the old value staying, or stored valid. The valid
 * values come from README.md (rules[] below): a parameter of a module with
 * no rule there fails the run, so that a new one cannot go unfuzzed.
 *
 * ioctls, on each of the module's files (lkm_info()): random requests,
 * which must give ENOTTY unless they are ours; and our requests
 * (include/uapi/linux/lkm_chardev.h, FIONREAD on /dev/lkm_pipe) with
 * argument pointers that are NULL, unmapped, read-only, misaligned,
 * crossing into an unmapped page or kernel addresses: EFAULT, or the
 * right answer for a misaligned one, and the data held never changes.
 *
 * Afterwards every module works as documented (lkm_smoke()) and unloads
 * leaving nothing; the host judges the console for kernel reports. Each
 * module's random choices follow from SEED (printed), so a run can be
 * repeated with -S.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/lkm_chardev.h>

#include "lkmtest.h"

/* What README.md says each parameter takes. */
enum kind { INT, STR, BOOL, INTS };
#define ZERO_OK	1	/* 0 too, besides min..max */
#define POW2	2	/* a power of two */

static const struct rule {
	const char *module, *param;
	enum kind kind;
	long min, max;		/* INT: values; STR: bytes; INTS: how many */
	int flags;
} rules[] = {
	{ "lkm_hello", "whom", STR, 1, 64, 0 },
	{ "lkm_hello", "howmany", INT, 0, 64, 0 },
	{ "lkm_hello", "verbose", BOOL, 0, 0, 0 },
	{ "lkm_hello", "ids", INTS, 0, 8, 0 },
	{ "lkm_chardev", "devices", INT, 1, 64, 0 },
	{ "lkm_chardev", "capacity", INT, 4096, 67108864, 0 },
	{ "lkm_misc", "fifo_size", INT, 4096, 16777216, POW2 },
	{ "lkm_procfs", "max_message", INT, 1, 1048576, 0 },
	{ "lkm_procfs", "records", INT, 0, 1000000, 0 },
	{ "lkm_workqueue", "count", INT, 0, 10000, 0 },
	{ "lkm_workqueue", "interval_ms", INT, 10, 60000, ZERO_OK },
};

#define MAX_PARAMS 16

struct fuzzer {
	const struct lkm_info *m;
	unsigned long long rnd;
	long seconds;
	const struct rule *params[MAX_PARAMS];
	int nparams;
	/* Tallies. */
	long loads, loaded, writes, stored, ioctls, ours, clears;
	int problems;
	char why[1024];
};

static unsigned long long seed;

/* xorshift64*: each thread its own sequence, from the seed. */
static unsigned long long rnd(struct fuzzer *f)
{
	f->rnd ^= f->rnd >> 12;
	f->rnd ^= f->rnd << 25;
	f->rnd ^= f->rnd >> 27;
	return f->rnd * 2685821657736338717ULL;
}

static long below(struct fuzzer *f, long n)
{
	return n > 0 ? (long)(rnd(f) % n) : 0;
}

/* One problem: said in full for the first few, counted always. */
static void __printf(2, 3) problem(struct fuzzer *f, const char *fmt, ...)
{
	va_list ap;

	if (++f->problems > 5)
		return;
	va_start(ap, fmt);
	vsnprintf(f->why, sizeof(f->why), fmt, ap);
	va_end(ap);
	ktap_diag("PROBLEM: %s: %s", f->m->name, f->why);
}

/* ---------------------------------------------------------------- values */

static const char *const specials[] = {
	"", "0", "1", "-1", "2", "63", "64", "65", "4095", "4096", "4097", "8192",
	"65536", "1048576", "1048577", "16777216", "16777217", "67108864",
	"2147483647", "2147483648", "-2147483648", "-2147483649", "4294967296",
	"99999999999999999999999999999", "-99999999999999999999", "0x1000", "0x",
	"0x7fffffff", "0xffffffffffffffff", "010", "08", "0b101", "1e3", "+5",
	" 5", "5 ", "5\n", "\n", "5\n\n", "-0", "00000000000000000064", "1,2",
	"abc", "Y", "N", "y", "n", "yes", "no", "on", "off", "true", "false",
	"\x01", "a\x1f\x62", "\x7f", "\xff\xfe", "\xc3\xa9t\xc3\xa9", "%s%s%n",
	"\\", "\"", "'", "\"quoted value\"", "=", "a=b", ",", ",,", "1,,2",
	"1,2,3,4,5,6,7,8", "1,2,3,4,5,6,7,8,9", "1,-2,3,-4,5,-6,7,-8",
};

/* A random value for rule r into buf. */
static const char *value(struct fuzzer *f, const struct rule *r, char *buf, size_t size)
{
	long i, len;

	switch (below(f, 6)) {
	case 0:
	case 1:
		return specials[below(f, ARRAY_SIZE(specials))];
	case 2: {
		/* At and around the ends of the range, or anywhere in it. */
		long ends[] = { r->min - 1, r->min, r->min + 1, r->max - 1, r->max,
				r->max + 1, r->min + below(f, r->max - r->min + 1) };

		snprintf(buf, size, below(f, 4) ? "%ld" : "%#lx",
			 ends[below(f, ARRAY_SIZE(ends))]);
		return buf;
	}
	case 3:
		snprintf(buf, size, "%lld", (long long)rnd(f) >> below(f, 64));
		return buf;
	case 4:
		/* Random bytes, none NUL: controls, UTF-8 fragments, separators. */
		len = below(f, 300);
		for (i = 0; i < len && i < (long)size - 1; i++)
			buf[i] = 1 + below(f, 255);
		buf[i] = '\0';
		return buf;
	default:
		/* Overlong: one character, up to 5000 times. */
		len = below(f, 5000);
		if (len > (long)size - 1)
			len = size - 1;
		memset(buf, "x9,-\n "[below(f, 6)], len);
		buf[len] = '\0';
		return buf;
	}
}

/* Whether text (as sysfs shows it, a newline at the end) is valid for r. */
static bool valid(const struct rule *r, const char *text)
{
	size_t len = strcspn(text, "\n"), i, n = 0;
	const char *p = text;
	char *end;
	long v;

	/* An empty array shows as nothing at all, not even a newline. */
	if (r->kind == INTS && !text[0])
		return true;
	if (text[len] != '\n' || text[len + 1])
		return false;
	switch (r->kind) {
	case INT:
		errno = 0;
		v = strtol(text, &end, 10);
		if (errno || end == text || *end != '\n')
			return false;
		if (v == 0 && (r->flags & ZERO_OK))
			return true;
		return v >= r->min && v <= r->max &&
		       (!(r->flags & POW2) || !(v & (v - 1)));
	case STR:
		for (i = 0; i < len; i++)
			if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
				return false;
		return (long)len >= r->min && (long)len <= r->max;
	case BOOL:
		return !strcmp(text, "Y\n") || !strcmp(text, "N\n");
	case INTS:
		if (len == 0)
			return true;
		while (p < text + len) {
			errno = 0;
			v = strtol(p, &end, 10);
			if (errno || end == p || v < -2147483648L || v > 2147483647L ||
			    (*end != ',' && *end != '\n'))
				return false;
			n++;
			p = end + 1;
		}
		return (long)n <= r->max;
	}
	return false;
}

/* ---------------------------------------------------------------- parameters */

/* The parameters of the module, from its .ko ("parmtype=name:type"), with their rules. */
static bool find_params(struct fuzzer *f)
{
	char path[256], *ko;
	long n = -1, i, j;
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), LKM_MODDIR "/%s.ko", f->m->name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st))
		return false;
	ko = malloc(st.st_size + 1);
	if (ko)
		n = read(fd, ko, st.st_size);
	close(fd);
	for (i = 0; n > 9 && i < n - 9; i++) {
		const char *name = ko + i + 9;
		size_t len;

		if (memcmp(ko + i, "parmtype=", 9))
			continue;
		len = strcspn(name, ":");
		for (j = 0; j < (long)ARRAY_SIZE(rules); j++)
			if (!strcmp(rules[j].module, f->m->name) &&
			    strlen(rules[j].param) == len && !memcmp(rules[j].param, name, len))
				break;
		if (j == ARRAY_SIZE(rules)) {
			problem(f, "parameter %.*s has no rule in rules[]", (int)len, name);
			continue;
		}
		if (f->nparams < MAX_PARAMS)
			f->params[f->nparams++] = &rules[j];
	}
	free(ko);
	return f->nparams > 0;
}

static const char *param_path(const struct fuzzer *f, const struct rule *r, char *buf,
			      size_t size)
{
	snprintf(buf, size, "/sys/module/%s/parameters/%s", f->m->name, r->param);
	return buf;
}

/* Every parameter of the loaded module reads back valid. */
static bool all_valid(struct fuzzer *f, const char *after)
{
	char path[256], text[8192];
	int i;

	for (i = 0; i < f->nparams; i++) {
		param_path(f, f->params[i], path, sizeof(path));
		if (file_read(path, text, sizeof(text)) || !valid(f->params[i], text)) {
			problem(f, "%s reads '%.80s' after %.200s", f->params[i]->param,
				text, after);
			return false;
		}
	}
	return true;
}

static bool refusal_ok(long ret)
{
	return ret == -EINVAL || ret == -ERANGE || ret == -ENOSPC;
}

/* A load with a random value for one parameter. */
static void fuzz_load(struct fuzzer *f)
{
	static __thread char val[8192], args[8300];
	const struct rule *r = f->params[below(f, f->nparams)];
	char left[512];
	const char *why;
	int ret;

	value(f, r, val, sizeof(val));
	/* Quoted half the time: the value may then hold spaces. */
	snprintf(args, sizeof(args), below(f, 2) ? "%s=%s" : "%s=\"%s\"", r->param, val);
	f->loads++;
	ret = mod_load(f->m->name, args);
	if (ret == 0) {
		f->loaded++;
		all_valid(f, args);
		why = lkm_smoke(f->m->name, left, sizeof(left));
		if (why)
			problem(f, "after loading with %.200s: %s", args, why);
		ret = mod_unload(f->m->name);
		if (ret)
			problem(f, "unload after %.200s: %s", args, strerror(-ret));
	} else if (!refusal_ok(ret)) {
		problem(f, "loading with %.200s gives %s", args, strerror(-ret));
	}
	if (*lkm_leftovers(f->m->name, left, sizeof(left)))
		problem(f, "loading with %.200s (%s) leaves %s", args,
			ret ? strerror(-ret) : "then unloading", left);
}

/* A run-time write of a random value to one parameter of the loaded module. */
static void fuzz_write(struct fuzzer *f)
{
	static __thread char val[8192], old[8192], now[8192];
	const struct rule *r = f->params[below(f, f->nparams)];
	char path[256];
	int ret;

	param_path(f, r, path, sizeof(path));
	if (file_read(path, old, sizeof(old)))
		return;
	value(f, r, val, sizeof(val));
	f->writes++;
	ret = file_write(path, val);
	if (file_read(path, now, sizeof(now))) {
		problem(f, "%s cannot be read after a write", r->param);
		return;
	}
	if (ret == 0) {
		f->stored++;
		if (!valid(r, now))
			problem(f, "%s=%.80s is stored as '%.80s'", r->param, val, now);
	} else if (strcmp(now, old)) {
		problem(f, "%s changes from '%.80s' to '%.80s' on a refused write (%s)",
			r->param, old, now, strerror(-ret));
	} else if (!refusal_ok(ret) && ret != -EACCES) {
		problem(f, "writing %s=%.80s gives %s", r->param, val, strerror(-ret));
	}
}

/* ---------------------------------------------------------------- ioctls */

/* Argument pointers: each thread's own pages, set up once. */
struct pages {
	char *rw;		/* 32 KiB: the largest _IOC_SIZE fits, misaligned too */
	char *ro;		/* a read-only page */
	char *hole;		/* an unmapped page, right after a writable one */
};

static void pages_map(struct pages *p)
{
	char *m = mmap(NULL, 48 << 10, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	if (m == MAP_FAILED)
		ktap_bail("mmap: %s", strerror(errno));
	p->rw = m;
	p->ro = m + (32 << 10);
	p->hole = m + (44 << 10);
	if (mprotect(p->ro, 4096, PROT_READ) || munmap(p->hole, 4096))
		ktap_bail("mprotect/munmap: %s", strerror(errno));
}

enum { NUL, UNMAPPED, HOLE, RO, KERNEL, KERNEL2, TOP, CROSSING, ALIGNED, ODD };
#define BAD_KINDS CROSSING	/* the kinds before it are never writable */

static void *arg_of(struct pages *p, int kind, size_t size)
{
	switch (kind) {
	case NUL:
		return NULL;
	case UNMAPPED:
		return bad_ptr;
	case HOLE:
		return p->hole;
	case RO:
		return p->ro;
	case KERNEL:
		return (void *)0xffffffff81000000UL;	/* kernel text */
	case KERNEL2:
		return (void *)0xffff888000001000UL;	/* the direct map */
	case TOP:
		return (void *)-8L;
	case CROSSING:
		/* Its last bytes in the unmapped page that follows. */
		return p->hole - size / 2;
	case ALIGNED:
		return p->rw;
	default:
		return p->rw + 1 + (size & 2);
	}
}

/*
 * The requests the VFS answers before any driver (fs/ioctl.c): the FIO*
 * ones (FIONBIO, FIOCLEX...), FIBMAP, FIGETBSZ, and the FS_IOC_*, FI*
 * ones of types 'f', 'X', 'v', 0x15 and 0x94, whatever their numbers.
 */
static bool generic(unsigned int cmd)
{
	static const unsigned int fio[] = {
		FIONBIO, FIONCLEX, FIOCLEX, FIOASYNC, FIOQSIZE, FIONREAD, 1, 2,
	};
	unsigned int type = _IOC_TYPE(cmd);
	size_t i;

	if (type == 'f' || type == 'X' || type == 'v' || type == 0x15 || type == 0x94)
		return true;
	for (i = 0; i < ARRAY_SIZE(fio); i++)
		if (fio[i] == cmd)
			return true;
	return false;
}

/* The module's own requests, exercised with every kind of pointer below. */
static const unsigned int chardev_cmds[] = {
	LKM_CHARDEV_GET_SIZE, LKM_CHARDEV_GET_CAPACITY, LKM_CHARDEV_CLEAR,
	LKM_CHARDEV_GET_STATS, LKM_CHARDEV_RESET_STATS,
};

static bool ours(const char *path, unsigned int cmd)
{
	size_t i;

	if (!strncmp(path, "/dev/lkm_chardev", 16)) {
		for (i = 0; i < ARRAY_SIZE(chardev_cmds); i++)
			if (cmd == chardev_cmds[i])
				return true;
		/* GET_STATS of any size: the structure may grow (the uapi header). */
		return _IOC_TYPE(cmd) == LKM_CHARDEV_IOC_MAGIC;
	}
	return !strcmp(path, "/dev/lkm_pipe") && cmd == FIONREAD;
}

/* A random request: anything, any magic with small numbers, or ours changed. */
static unsigned int random_cmd(struct fuzzer *f)
{
	unsigned int dir = below(f, 4), size = below(f, 1 << 14);

	switch (below(f, 3)) {
	case 0:
		return rnd(f);
	case 1:
		return _IOC(dir, below(f, 256), below(f, 32), size);
	default:
		return _IOC(dir, LKM_CHARDEV_IOC_MAGIC, below(f, 16), below(f, 2) ? size : 8);
	}
}

/* The data each device file starts the ioctl phase with, and must end with. */
static char pattern[4096];

/*
 * A CLEAR, ret its result: the device is empty afterwards, and takes the
 * pattern again. The random requests build one now and then (about one in
 * six million: in a run or two of a hundred), and it is legal: without this
 * the data check below would blame the module for it.
 */
static void cleared(struct fuzzer *f, int fd, long ret)
{
	__u64 size = 1;

	f->clears++;
	if (ret)
		problem(f, "CLEAR gives %s", strerror(-ret));
	else if (rw(ioctl(fd, LKM_CHARDEV_GET_SIZE, &size)) || size)
		problem(f, "CLEAR leaves %llu bytes", (unsigned long long)size);
	if (rw(pwrite(fd, pattern, sizeof(pattern), 0)) != sizeof(pattern))
		problem(f, "cannot store the data again after a CLEAR");
}

/* Random requests on fd, open on path: ENOTTY unless ours. */
static void fuzz_random_ioctls(struct fuzzer *f, struct pages *p, const char *path,
			       int fd, long until)
{
	long i;

	for (i = 0; i < 1000 || now_ms() < until; i++) {
		unsigned int cmd = random_cmd(f);
		int kind = below(f, ODD + 2);
		void *arg;
		long ret;

		if (generic(cmd))
			continue;
		/*
		 * Ours may write _IOC_SIZE bytes where arg points: only to
		 * pointers that fault or to the pages meant for it.
		 */
		arg = kind <= ODD ? arg_of(p, kind, _IOC_SIZE(cmd)) :
			ours(path, cmd) ? p->rw : (void *)(long)rnd(f);
		f->ioctls++;
		ret = rw(ioctl(fd, cmd, arg));
		if (!ours(path, cmd) && ret != -ENOTTY)
			problem(f, "ioctl %#x on %s gives %ld, not ENOTTY", cmd, path, ret);
		if (cmd == LKM_CHARDEV_CLEAR && ours(path, cmd))
			cleared(f, fd, ret);
	}
}

/* lkm_chardev's requests with every kind of pointer; the data never changes. */
static void fuzz_chardev_args(struct fuzzer *f, struct pages *p, int fd)
{
	struct lkm_chardev_stats st;
	size_t i, sizes[] = { 8, 8, 0, sizeof(st), 0 };
	int kind;
	__u64 size = 0;

	for (i = 0; i < ARRAY_SIZE(chardev_cmds); i++) {
		for (kind = NUL; kind <= ODD; kind++) {
			unsigned int cmd = chardev_cmds[i];
			void *arg = arg_of(p, kind, sizes[i]);
			long ret, want = !sizes[i] || kind >= ALIGNED ? 0 : -EFAULT;

			/* CLEAR would drop the data this checks: fuzz_ioctls, last. */
			if (cmd == LKM_CHARDEV_CLEAR)
				continue;
			f->ours++;
			ret = rw(ioctl(fd, cmd, arg));
			if (ret != want)
				problem(f, "ioctl %#x with pointer kind %d gives %ld, not %ld",
					cmd, kind, ret, want);
			if (ret || kind < ALIGNED || !sizes[i])
				continue;
			memcpy(&size, arg, 8);
			if (cmd == LKM_CHARDEV_GET_SIZE && size != 4096)
				problem(f, "GET_SIZE through a misaligned pointer gives %llu",
					(unsigned long long)size);
			if (cmd == LKM_CHARDEV_GET_CAPACITY && size != 1048576)
				problem(f, "GET_CAPACITY through a misaligned pointer gives %llu",
					(unsigned long long)size);
		}
	}
}

/* FIONREAD on /dev/lkm_pipe with every kind of pointer. */
static void fuzz_pipe_args(struct fuzzer *f, struct pages *p, int fd)
{
	int kind, n;

	for (kind = NUL; kind <= ODD; kind++) {
		void *arg = arg_of(p, kind, sizeof(int));
		long ret, want = kind < ALIGNED ? -EFAULT : 0;

		f->ours++;
		ret = rw(ioctl(fd, FIONREAD, arg));
		if (ret != want)
			problem(f, "FIONREAD with pointer kind %d gives %ld, not %ld", kind,
				ret, want);
		/* Only the pages meant for it hold an answer. */
		if (ret || kind < ALIGNED)
			continue;
		memcpy(&n, arg, sizeof(n));
		if (n != 5)
			problem(f, "FIONREAD through a misaligned pointer gives %d, not 5", n);
	}
}

static int open_file(const char *path)
{
	int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	return fd;
}

static void fuzz_ioctls(struct fuzzer *f, long until)
{
	static __thread char back[8192];
	const char *const *file;
	struct pages p;
	long share;
	int n = 0, fd;

	pages_map(&p);
	for (file = f->m->files; *file; file++)
		n++;
	share = (until - now_ms()) / (n ? n : 1);
	for (file = f->m->files; *file; file++) {
		bool dev = !strncmp(*file, "/dev/", 5), chardev = strstr(*file, "chardev");

		fd = open_file(*file);
		if (fd < 0) {
			problem(f, "cannot open %s: %s", *file, strerror(errno));
			continue;
		}
		if (dev && rw(write(fd, chardev ? pattern : "fuzz!", chardev ? 4096 : 5)) !=
		    (chardev ? 4096 : 5))
			problem(f, "cannot store the data of %s", *file);
		fuzz_random_ioctls(f, &p, *file, fd, now_ms() + share);
		if (chardev)
			fuzz_chardev_args(f, &p, fd);
		else if (dev)
			fuzz_pipe_args(f, &p, fd);
		if (chardev && (rw(pread(fd, back, sizeof(back), 0)) != 4096 ||
				memcmp(back, pattern, 4096)))
			problem(f, "the data of %s changed under the ioctls", *file);
		/* Its argument is not used: not even a bad one matters. */
		if (chardev) {
			f->ours++;
			cleared(f, fd, rw(ioctl(fd, LKM_CHARDEV_CLEAR, bad_ptr)));
		}
		if (dev && !chardev && (rw(read(fd, back, sizeof(back))) != 5 ||
					memcmp(back, "fuzz!", 5)))
			problem(f, "the bytes waiting in %s changed under the ioctls", *file);
		close(fd);
	}
	munmap(p.rw, 44 << 10);
}

/* ---------------------------------------------------------------- a module */

/*
 * Runs step until ms have passed, and at least min times: on the debug
 * kernel one load and unload alone can take seconds.
 */
static void for_a_while(struct fuzzer *f, void (*step)(struct fuzzer *f), long ms, long min)
{
	long until = now_ms() + ms, i;

	for (i = 0; i < min || now_ms() < until; i++)
		step(f);
}

static void *fuzz_module(void *arg)
{
	struct fuzzer *f = arg;
	long ms = f->seconds * 1000;
	char buf[512];
	const char *why;
	int ret;

	if (!find_params(f))
		problem(f, "no parameters found in its .ko");
	/* 40% of the time on loads, 20% on run-time writes, 40% on ioctls. */
	if (f->nparams)
		for_a_while(f, fuzz_load, ms * 2 / 5, 3);
	ret = mod_load(f->m->name, !strcmp(f->m->name, "lkm_chardev") ? "devices=2" : NULL);
	if (ret) {
		problem(f, "cannot load it after the fuzzing: %s", strerror(-ret));
		return NULL;
	}
	/* Writable parameters or not: the others must refuse. */
	if (f->nparams)
		for_a_while(f, fuzz_write, ms / 5, 50);
	all_valid(f, "the run-time writes");
	fuzz_ioctls(f, now_ms() + ms * 2 / 5);
	why = lkm_smoke(f->m->name, buf, sizeof(buf));
	if (why)
		problem(f, "after the fuzzing: %s", why);
	ret = mod_unload(f->m->name);
	if (ret)
		problem(f, "unload after the fuzzing: %s", strerror(-ret));
	if (*lkm_leftovers(f->m->name, buf, sizeof(buf)))
		problem(f, "its unload leaves %s", buf);
	return NULL;
}

int main(int argc, char **argv)
{
	static struct fuzzer fz[16];
	pthread_t tid[16];
	char params[128];
	long seconds;
	int i, n, opt;

	seed = (unsigned long long)now_ms() * 0x9e3779b97f4a7c15ULL ^ getpid();
	while ((opt = getopt(argc, argv, "S:")) != -1) {
		if (opt != 'S')
			return 2;
		seed = strtoull(optarg, NULL, 0);
	}
	n = argc - optind - 1;
	if (n < 1 || n > 16 || atol(argv[optind]) < 1) {
		fprintf(stderr, "usage: fuzz [-S SEED] SECONDS MODULE...\n");
		return 2;
	}
	seconds = atol(argv[optind]);
	memset(pattern, 'p', sizeof(pattern));
	ktap_begin("fuzz", n);
	ktap_diag("fuzz: seed %#llx (fuzz -S %#llx repeats the choices)", seed, seed);
	for (i = 0; i < n; i++) {
		fz[i].m = lkm_info(argv[optind + 1 + i]);
		fz[i].seconds = seconds;
		fz[i].rnd = seed ^ (0x2545f4914f6cdd1dULL * (i + 1));
		if (pthread_create(&tid[i], NULL, fuzz_module, &fz[i]))
			ktap_bail("pthread_create failed");
	}
	for (i = 0; i < n; i++) {
		struct fuzzer *f = &fz[i];

		pthread_join(tid[i], NULL);
		ktap_ok(!f->problems, "%s: %ld s of fuzzing, %d problems, works after it",
			f->m->name, seconds, f->problems);
		snprintf(params, sizeof(params), "%ld loads (%ld taken), %ld writes (%ld stored)",
			 f->loads, f->loaded, f->writes, f->stored);
		ktap_diag("figure: fuzz %s: %s, %ld ioctls (%ld ours with bad pointers, %ld CLEAR)",
			  f->m->name, params, f->ioctls + f->ours, f->ours, f->clears);
	}
	return ktap_end();
}
