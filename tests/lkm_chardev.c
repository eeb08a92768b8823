// SPDX-License-Identifier: GPL-2.0
/* Guest test of lkm_chardev: file semantics, ioctls, sysfs, concurrency. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <linux/lkm_chardev.h>
#include <linux/userfaultfd.h>

#include "lkmtest.h"

#define MOD "lkm_chardev"
#define DEV(n) "/dev/lkm_chardev" #n
#define SYS(n, attr) "/sys/class/lkmkit/lkm_chardev" #n "/" attr
#define CAP 65536

static long dev_size(int fd)
{
	__u64 size;

	return ioctl(fd, LKM_CHARDEV_GET_SIZE, &size) ? -errno : (long)size;
}

static void test_parameters(void)
{
	static const struct refusal bad[] = {
		{ "devices=0", "devices must be an integer in 1..64, got '0'" },
		{ "devices=65", "devices must be an integer in 1..64, got '65'" },
		{ "capacity=4095",
		  "capacity must be an integer in 4096..67108864, got '4095'" },
		{ "capacity=67108865",
		  "capacity must be an integer in 4096..67108864, got '67108865'" },
	};

	refused_loads(MOD, bad, ARRAY_SIZE(bad));
	ktap_ok(!path_exists(DEV(0)) && !path_exists("/sys/class/lkmkit"),
		"refused loads leave no node and no class");
}

static void test_nodes(void)
{
	struct stat st0, st3;

	ktap_eq(mod_load(MOD, "devices=4 capacity=65536"), 0,
		"load devices=4 capacity=65536");
	ktap_ok(path_exists(DEV(0)) && path_exists(DEV(3)) && !path_exists(DEV(4)),
		"exactly /dev/lkm_chardev0..3 exist");
	ktap_ok(!stat(DEV(0), &st0) && !stat(DEV(3), &st3) &&
		S_ISCHR(st0.st_mode) && major(st0.st_rdev) == major(st3.st_rdev) &&
		minor(st3.st_rdev) == minor(st0.st_rdev) + 3,
		"the nodes are character devices of one major, consecutive minors");
	ktap_eq(file_long(SYS(2, "size")), 0, "sysfs size starts at 0");
	ktap_eq(file_long(SYS(2, "capacity")), CAP, "sysfs capacity is 65536");
	ktap_ok(file_mode(SYS(0, "size")) == 0444 &&
		file_mode(SYS(0, "capacity")) == 0444 &&
		file_mode(SYS(0, "stats")) == 0444,
		"sysfs attributes are read-only (0444)");
	ktap_eq(file_write(SYS(0, "size"), "1"), -EACCES, "sysfs size refuses writes");
}

static void test_file_semantics(void)
{
	char buf[256], zeros[100] = { 0 };
	int fd = open_dev(DEV(2), O_RDWR);

	ktap_ok(fd >= 0, "open /dev/lkm_chardev2 read-write");
	ktap_eq(rw(write(fd, "hello", 5)), 5, "write 5 bytes");
	ktap_eq(file_long(SYS(2, "size")), 5, "sysfs size is 5");
	ktap_eq(rw(read(fd, buf, sizeof(buf))), 0, "read at the end of data gives 0");
	ktap_eq(lseek(fd, 0, SEEK_SET), 0, "SEEK_SET 0");
	ktap_ok(read(fd, buf, sizeof(buf)) == 5 && !memcmp(buf, "hello", 5),
		"read back gives exactly \"hello\"");
	ktap_eq(lseek(fd, 0, SEEK_END), 5, "SEEK_END 0 is the data size");
	ktap_eq(lseek(fd, -2, SEEK_CUR), 3, "SEEK_CUR -2");
	ktap_ok(read(fd, buf, 1) == 1 && buf[0] == 'l', "reads at the new position");
	ktap_eq(rw(lseek(fd, -1, SEEK_SET)), -EINVAL, "SEEK_SET -1 gives EINVAL");
	ktap_eq(rw(lseek(fd, -100, SEEK_CUR)), -EINVAL, "SEEK_CUR past 0 gives EINVAL");
	ktap_eq(rw(lseek(fd, -6, SEEK_END)), -EINVAL, "SEEK_END past 0 gives EINVAL");
	ktap_eq(lseek(fd, 0, SEEK_CUR), 4, "a refused seek leaves the position");
	ktap_eq(rw(lseek(fd, 0, 42)), -EINVAL, "an unknown whence gives EINVAL");

	ktap_eq(rw(pwrite(fd, "X", 1, 105)), 1, "write past the end leaves a gap");
	ktap_eq(dev_size(fd), 106, "the gap grows the size to 106");
	ktap_ok(pread(fd, buf, 100, 5) == 100 && !memcmp(buf, zeros, 100),
		"the gap reads as zeros");
	ktap_ok(pread(fd, buf, 10, 105) == 1 && buf[0] == 'X',
		"data after the gap reads back");
	/* generic_file_llseek_size(): all is data, the one hole is at the end. */
	ktap_eq(lseek(fd, 5, SEEK_DATA), 5, "SEEK_DATA in the gap stays there: it is data");
	ktap_eq(lseek(fd, 5, SEEK_HOLE), 106, "SEEK_HOLE goes to the end of the data");
	ktap_ok(rw(lseek(fd, 106, SEEK_DATA)) == -ENXIO &&
		rw(lseek(fd, 106, SEEK_HOLE)) == -ENXIO,
		"SEEK_DATA and SEEK_HOLE at the end give ENXIO");

	ktap_eq(rw(pwrite(fd, "0123456789", 10, CAP - 3)), 3,
		"a write that does not fit stores the bytes that fit");
	ktap_eq(rw(pwrite(fd, "z", 1, CAP)), -ENOSPC, "a write at capacity gives ENOSPC");
	ktap_eq(rw(pwrite(fd, "z", 1, CAP + 4096)), -ENOSPC,
		"a write beyond capacity gives ENOSPC");
	ktap_eq(dev_size(fd), CAP, "size stops at capacity");
	ktap_ok(pread(fd, buf, 10, CAP - 3) == 3 && !memcmp(buf, "012", 3),
		"read at the end of a full device stops at capacity");
	ktap_eq(rw(pwrite(fd, "", 0, CAP)), 0, "a zero-length write gives 0");
	ktap_eq(rw(read(fd, buf, 0)), 0, "a zero-length read gives 0");
	ktap_eq(lseek(fd, (off_t)1 << 40, SEEK_SET), (off_t)1 << 40,
		"seeking far beyond the data is allowed");
	ktap_eq(rw(read(fd, buf, 10)), 0, "and reads 0 there");
	close(fd);
}

/*
 * Offsets past 2 and 4 GiB. A 32-bit program (built with
 * _FILE_OFFSET_BITS=64) hands them to the kernel in two 32-bit halves:
 * none may wrap around onto the data at the start of the device.
 */
static void test_large_offsets(void)
{
	const off_t g2 = (off_t)1 << 31, g4 = (off_t)1 << 32;
	char buf[16];
	int fd = open_dev(DEV(2), O_RDWR | O_TRUNC);

	ktap_ok(fd >= 0 && write(fd, "large", 5) == 5, "/dev/lkm_chardev2 holds \"large\"");
	ktap_eq(lseek(fd, g2 + 3, SEEK_SET), g2 + 3, "SEEK_SET past 2 GiB");
	ktap_eq(lseek(fd, g2, SEEK_CUR), g4 + 3, "SEEK_CUR on past 4 GiB");
	ktap_eq(rw(read(fd, buf, sizeof(buf))), 0, "a read there gives 0, not the data at 3");
	ktap_eq(rw(pread(fd, buf, sizeof(buf), g4)), 0,
		"a pread at 4 GiB gives 0, not the data at 0");
	ktap_eq(rw(pwrite(fd, "X", 1, g4)), -ENOSPC, "a pwrite at 4 GiB gives ENOSPC");
	ktap_ok(pread(fd, buf, sizeof(buf), 0) == 5 && !memcmp(buf, "large", 5),
		"and leaves the data at 0 as it was");
	ktap_eq(rw(lseek(fd, -g4, SEEK_END)), -EINVAL, "SEEK_END back 4 GiB gives EINVAL");
	ktap_eq(rw(lseek(fd, g4, SEEK_DATA)), -ENXIO, "SEEK_DATA at 4 GiB gives ENXIO");
	close(fd);
}

static void test_open_flags(void)
{
	char buf[64];
	int fd;

	fd = open_dev(DEV(1), O_WRONLY | O_TRUNC);
	ktap_ok(fd >= 0 && write(fd, "first", 5) == 5, "> writes \"first\"");
	close(fd);
	fd = open_dev(DEV(1), O_WRONLY | O_APPEND);
	ktap_ok(fd >= 0 && lseek(fd, 0, SEEK_SET) == 0 &&
		write(fd, "+more", 5) == 5, ">> appends \"+more\" even after a seek to 0");
	close(fd);
	ktap_ok(file_read(DEV(1), buf, sizeof(buf)) == 0 &&
		!strcmp(buf, "first+more"), "the device holds \"first+more\"");
	fd = open_dev(DEV(1), O_RDONLY | O_TRUNC);
	ktap_ok(fd >= 0 && file_long(SYS(1, "size")) == 10,
		"O_TRUNC on a read-only open opens and keeps the data");
	close(fd);
	fd = open_dev(DEV(1), O_WRONLY | O_TRUNC);
	ktap_ok(fd >= 0 && write(fd, "new", 3) == 3, "> again writes \"new\"");
	close(fd);
	ktap_ok(file_read(DEV(1), buf, sizeof(buf)) == 0 && !strcmp(buf, "new"),
		"O_TRUNC replaced the contents with \"new\"");
	ktap_eq(file_long(SYS(0, "size")), 0, "the other devices are untouched");
}

/*
 * GET_STATS takes the size of the caller's structure from the request: a
 * newer program's larger structure gets the known fields and zeros, a
 * structure smaller than the first version is refused.
 */
static void test_stats_sizes(int fd)
{
	struct newer {
		struct lkm_chardev_stats st;
		__u64 later[2];
	} big;
	struct older {
		__u64 v[4];
	} small;

	memset(&big, 0xff, sizeof(big));
	ktap_ok(!ioctl(fd, _IOR(LKM_CHARDEV_IOC_MAGIC, 4, struct newer), &big) &&
		big.st.opens == 4 && big.st.writes == 1 && big.st.bytes_read == 10 &&
		!big.later[0] && !big.later[1],
		"GET_STATS into a larger structure fills the known fields, zeroes the rest");
	ktap_eq(ioctl(fd, _IOR(LKM_CHARDEV_IOC_MAGIC, 4, struct older), &small) ?
		-errno : 0, -EINVAL, "GET_STATS into a structure of 32 bytes gives EINVAL");
	ktap_eq(ioctl(fd, _IOW(LKM_CHARDEV_IOC_MAGIC, 4, struct lkm_chardev_stats),
		      &big) ? -errno : 0, -ENOTTY,
		"GET_STATS's number as a write request gives ENOTTY");
}

static int reset_stats(void *arg)
{
	int fd = open_dev(DEV(0), O_RDONLY), ret;

	(void)arg;
	if (fd < 0)
		return fd;
	ret = ioctl(fd, LKM_CHARDEV_RESET_STATS) ? -errno : 0;
	close(fd);
	return ret;
}

static void test_ioctls(void)
{
	struct lkm_chardev_stats st;
	char buf[16];
	__u64 val;
	int i, fd = open_dev(DEV(0), O_RDWR), ro;

	ktap_eq(ioctl(fd, LKM_CHARDEV_RESET_STATS) ? -errno : 0, 0, "RESET_STATS as root");
	/* Four opens since the reset: this one and three more. */
	ro = open_dev(DEV(0), O_RDONLY);
	ktap_ok(ro >= 0, "open it read-only too");
	for (i = 0; i < 3; i++)
		close(open_dev(DEV(0), O_WRONLY));
	ktap_ok(write(fd, "abcdef", 6) == 6 && pread(fd, buf, 4, 0) == 4 &&
		pread(fd, buf, 16, 0) == 6, "one write, two reads");
	ktap_ok(!ioctl(fd, LKM_CHARDEV_GET_STATS, &st) && st.opens == 4 &&
		st.writes == 1 && st.reads == 2 && st.bytes_written == 6 &&
		st.bytes_read == 10, "GET_STATS counts opens, writes, reads and bytes");
	ktap_ok(!ioctl(fd, LKM_CHARDEV_GET_SIZE, &val) && val == 6, "GET_SIZE is 6");
	ktap_ok(!ioctl(fd, LKM_CHARDEV_GET_CAPACITY, &val) && val == CAP,
		"GET_CAPACITY is 65536");
	ktap_ok(file_key(SYS(0, "stats"), "writes") == 1 &&
		file_key(SYS(0, "stats"), "reads") == 2 &&
		file_key(SYS(0, "stats"), "bytes_written") == 6 &&
		file_key(SYS(0, "stats"), "bytes_read") == 10 &&
		file_key(SYS(0, "stats"), "opens") == 4 &&
		file_long(SYS(0, "size")) == 6, "sysfs stats and size agree with the ioctls");
	ktap_ok(file_long(SYS(0, "statistics/opens")) == 4 &&
		file_long(SYS(0, "statistics/reads")) == 2 &&
		file_long(SYS(0, "statistics/writes")) == 1 &&
		file_long(SYS(0, "statistics/bytes_read")) == 10 &&
		file_long(SYS(0, "statistics/bytes_written")) == 6,
		"sysfs statistics/ has the same counters, one value a file");
	ktap_ok(file_mode(SYS(0, "statistics/opens")) == 0444 &&
		file_mode(SYS(0, "statistics/bytes_written")) == 0444 &&
		file_write(SYS(0, "statistics/reads"), "0") == -EACCES,
		"the statistics/ files are read-only");
	test_stats_sizes(fd);
	ktap_ok(ro >= 0 && ioctl(ro, LKM_CHARDEV_CLEAR) == -1 && errno == EBADF,
		"CLEAR on a read-only descriptor gives EBADF");
	ktap_eq(ioctl(fd, LKM_CHARDEV_CLEAR), 0, "CLEAR on a writable descriptor");
	ktap_eq(dev_size(fd), 0, "CLEAR empties the device");
	ktap_eq(ioctl(fd, _IO(LKM_CHARDEV_IOC_MAGIC, 99)) ? -errno : 0, -ENOTTY,
		"an unknown ioctl gives ENOTTY");
	ktap_eq(ioctl(fd, TCGETS, buf) ? -errno : 0, -ENOTTY,
		"a tty ioctl gives ENOTTY");
	ktap_eq(ioctl(fd, LKM_CHARDEV_GET_SIZE, bad_ptr) ? -errno : 0, -EFAULT,
		"GET_SIZE into a bad pointer gives EFAULT");
	ktap_eq(ioctl(fd, LKM_CHARDEV_GET_STATS, bad_ptr) ? -errno : 0, -EFAULT,
		"GET_STATS into a bad pointer gives EFAULT");
	chmod(DEV(0), 0666);	/* the device's mode is not under test here */
	ktap_eq(as_nobody(reset_stats, NULL), -EPERM,
		"RESET_STATS without CAP_SYS_ADMIN gives EPERM");

	ktap_ok(pwrite(fd, "keep", 4, 0) == 4, "write \"keep\"");
	ktap_eq(rw(write(fd, bad_ptr, 10)), -EFAULT, "write from a bad pointer gives EFAULT");
	ktap_eq(rw(pread(fd, bad_ptr, 4, 0)), -EFAULT, "read into a bad pointer gives EFAULT");
	ktap_ok(dev_size(fd) == 4 && pread(fd, buf, 16, 0) == 4 &&
		!memcmp(buf, "keep", 4), "a faulting write stores nothing, loses nothing");
	close(ro);
	close(fd);
}

/*
 * A user buffer that ends at an inaccessible page: a transfer across the
 * boundary moves the bytes before it and must leave the device's other
 * bytes alone (copy_from_user() would zero the rest of its destination).
 */
static void test_faults(void)
{
	long pg = sysconf(_SC_PAGESIZE), n;
	char data[300], buf[300], *map;
	struct iovec iov[2];
	int i, fd = open_dev(DEV(2), O_RDWR | O_TRUNC);

	map = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED || mprotect(map + pg, pg, PROT_NONE))
		ktap_bail("no buffer that runs into an inaccessible page: %s",
			  strerror(errno));
	memset(map, 'n', pg);
	memset(data, 'k', sizeof(data));
	ktap_eq(rw(write(fd, data, sizeof(data))), sizeof(data), "write 300 bytes of 'k'");

	ktap_eq(rw(pwrite(fd, bad_ptr, 10, 0)), -EFAULT,
		"a write over data from a bad pointer gives EFAULT");
	ktap_ok(pread(fd, buf, sizeof(buf), 0) == sizeof(buf) &&
		!memcmp(buf, data, sizeof(buf)), "and leaves the data intact");

	n = rw(pwrite(fd, map + pg - 100, 200, 50));
	ktap_diag("a write of 200 bytes faulting after 100 returned %ld", n);
	ktap_ok(n > 0 && n <= 100, "a write that faults part way is short");
	for (i = 0; i < (int)sizeof(data); i++)
		data[i] = i >= 50 && i < 50 + n ? 'n' : 'k';
	ktap_ok(pread(fd, buf, sizeof(buf), 0) == sizeof(buf) &&
		!memcmp(buf, data, sizeof(buf)),
		"it stored the bytes before the fault and kept every other byte");
	ktap_eq(dev_size(fd), sizeof(data), "the size is unchanged");

	n = rw(pread(fd, map + pg - 100, 200, 0));
	ktap_ok(n > 0 && n <= 100 && !memcmp(map + pg - 100, data, n),
		"a read that faults part way is short and correct");
	munmap(map, 2 * pg);

	iov[0] = (struct iovec){ memcpy(buf, "ab", 2), 2 };
	iov[1] = (struct iovec){ memcpy(buf + 2, "cde", 3), 3 };
	ktap_eq(rw(pwritev(fd, iov, 2, 0)), 5, "pwritev of two buffers");
	memset(buf, 0, sizeof(buf));
	iov[0].iov_base = buf + 10;
	iov[1].iov_base = buf + 20;
	ktap_ok(preadv(fd, iov, 2, 0) == 5 && !memcmp(buf + 10, "ab", 2) &&
		!memcmp(buf + 20, "cde", 3), "preadv into two buffers");
	iov[0].iov_base = "XY";
	iov[1].iov_base = bad_ptr;
	ktap_ok(pwritev(fd, iov, 2, 0) == 2 && pread(fd, buf, 5, 0) == 5 &&
		!memcmp(buf, "XYcde", 5), "pwritev with a bad second buffer stores the first");

	iov[0] = (struct iovec){ memcpy(buf, "12", 2), 2 };
	iov[1] = (struct iovec){ memcpy(buf + 2, "345", 3), 3 };
	ktap_ok(lseek(fd, 200, SEEK_SET) == 200 && writev(fd, iov, 2) == 5 &&
		lseek(fd, 0, SEEK_CUR) == 205 && pread(fd, buf + 10, 7, 199) == 7 &&
		!memcmp(buf + 10, "k12345k", 7),
		"writev writes at the file position and moves it");
	memset(buf, 0, sizeof(buf));
	iov[0].iov_base = buf + 10;
	iov[1].iov_base = buf + 20;
	ktap_ok(lseek(fd, 201, SEEK_SET) == 201 && readv(fd, iov, 2) == 5 &&
		lseek(fd, 0, SEEK_CUR) == 206 && !memcmp(buf + 10, "23", 2) &&
		!memcmp(buf + 20, "45k", 3),
		"readv reads at the file position and moves it");
	close(fd);
}

size_t huge = 1UL << 30;

static void test_big_transfer(void)
{
	static char out[CAP], in[CAP];
	int i, fd = open_dev(DEV(3), O_RDWR);

	for (i = 0; i < CAP; i++)
		out[i] = (char)(i * 7 + i / 251);
	ktap_eq(rw(write(fd, out, CAP)), CAP, "one write fills the whole 64 KiB device");
	ktap_ok(pread(fd, in, CAP, 0) == CAP && !memcmp(in, out, CAP),
		"one read returns all 64 KiB intact");
	ktap_ok(pread(fd, in + 1, 10000, 3001) == 10000 &&
		!memcmp(in + 1, out + 3001, 10000), "an unaligned read across pages is intact");
	/*
	 * Only what the device holds, or has room for, is copied, so 64 KiB
	 * buffers do (huge is global so the compiler does not object).
	 */
	memset(in, 0, CAP);
	ktap_eq(rw(pread(fd, in, huge, 0)), CAP, "a 1 GiB read returns the 64 KiB held");
	ktap_ok(!memcmp(in, out, CAP), "and they are intact");
	ktap_eq(rw(pwrite(fd, out, huge, 0)), CAP, "a 1 GiB write stores what fits");
	close(fd);
}

/*
 * Stress: writers overwrite the device with blocks of one repeated byte
 * while readers check every block they read is uniform (no torn write);
 * appenders add records that must all be there, whole, at the end.
 */
#define BLOCK 12288	/* three pages, so a torn write would show */
#define REC 32
#define APPENDS 200	/* 8 x 200 x 32 bytes fit in the 64 KiB device */

struct worker {
	int id;
	long iterations;
	long torn;
	long errors;
};

static long stress_until;

static void *overwriter(void *arg)
{
	struct worker *w = arg;
	char block[BLOCK];
	int fd = open_dev(DEV(0), O_WRONLY);

	while (now_ms() < stress_until) {
		memset(block, 'a' + (w->iterations + w->id) % 26, BLOCK);
		if (pwrite(fd, block, BLOCK, 0) != BLOCK)
			w->errors++;
		w->iterations++;
	}
	close(fd);
	return NULL;
}

static void *checker(void *arg)
{
	struct worker *w = arg;
	char block[BLOCK];
	int i, fd = open_dev(DEV(0), O_RDONLY);

	while (now_ms() < stress_until) {
		if (pread(fd, block, BLOCK, 0) != BLOCK) {
			w->errors++;
			continue;
		}
		for (i = 1; i < BLOCK; i++)
			if (block[i] != block[0])
				break;
		w->torn += i < BLOCK;
		w->iterations++;
	}
	close(fd);
	return NULL;
}

static void *appender(void *arg)
{
	struct worker *w = arg;
	char rec[REC + 1];
	int i, fd = open_dev(DEV(1), O_WRONLY | O_APPEND);

	for (i = 0; i < APPENDS; i++) {
		/* "w03-000042-" then padding up to a final '|': REC bytes. */
		snprintf(rec, sizeof(rec), "w%02d-%06d-%*s", w->id, i, REC - 11, "|");
		if (write(fd, rec, REC) != REC)
			w->errors++;
		w->iterations++;
	}
	close(fd);
	return NULL;
}

/* Threads 0..3 overwrite, 4..7 check. */
static void *overwriter_or_checker(void *arg)
{
	struct worker *w = arg;

	return w->id < 4 ? overwriter(arg) : checker(arg);
}

static void test_stress(void)
{
	static char all[8 * APPENDS * REC];
	struct lkm_chardev_stats st;
	struct worker w[8];
	long torn = 0, errors = 0, reads = 0, writes = 0, bad = 0;
	char block[BLOCK];
	int counts[8] = { 0 }, i, fd;

	/* Readers may run before any writer: give them a whole block already. */
	memset(block, 'a', BLOCK);
	fd = open_dev(DEV(0), O_WRONLY | O_TRUNC);
	ktap_ok(write(fd, block, BLOCK) == BLOCK, "fill the stress device with one block");
	close(fd);
	for (i = 0; i < 8; i++)
		w[i] = (struct worker){ .id = i };
	stress_until = now_ms() + 3000;
	run_threads(8, overwriter_or_checker, w, sizeof(w[0]));
	for (i = 0; i < 8; i++) {
		torn += w[i].torn;
		errors += w[i].errors;
		*(i < 4 ? &writes : &reads) += w[i].iterations;
	}
	ktap_diag("%ld overwrites, %ld checked reads", writes, reads);
	ktap_ok(writes > 0 && reads > 0 && !errors,
		"4 writers and 4 readers ran for 3 s without an error");
	ktap_eq(torn, 0, "no reader saw a torn write");

	for (i = 0; i < 8; i++)
		w[i] = (struct worker){ .id = i };
	fd = open_dev(DEV(1), O_WRONLY | O_TRUNC);
	ktap_eq(ioctl(fd, LKM_CHARDEV_RESET_STATS) ? -errno : 0, 0,
		"reset the counters of the appenders' device");
	run_threads(8, appender, w, sizeof(w[0]));
	for (i = 0; i < 8; i++)
		errors += w[i].errors;
	/* The counters are per CPU: their sums must miss nothing. */
	ktap_ok(ioctl(fd, LKM_CHARDEV_GET_STATS, &st) == 0 && st.opens == 8 &&
		st.writes == 8 * APPENDS && st.bytes_written == 8 * APPENDS * REC &&
		st.reads == 0, "the counters add up: 8 opens, %d writes of %d bytes",
		8 * APPENDS, REC);
	close(fd);
	ktap_eq(file_long(SYS(1, "size")), 8 * APPENDS * REC,
		"8 appenders stored every byte");
	fd = open_dev(DEV(1), O_RDONLY);
	ktap_eq(rw(read(fd, all, sizeof(all))), (long)sizeof(all),
		"read all appended records");
	close(fd);
	for (i = 0; i < 8 * APPENDS; i++) {
		const char *r = all + i * REC;
		int id, seq;

		if (sscanf(r, "w%2d-%6d-", &id, &seq) != 2 || id < 0 || id > 7 ||
		    seq != counts[id]++ || r[REC - 1] != '|')
			bad++;
	}
	ktap_ok(!bad && !errors,
		"every record is whole, in order per writer, exactly once");
}

/*
 * One open file shared by threads, or by a parent and its child, without
 * O_APPEND: like a regular file, each write() lands at its own position
 * and each read() takes bytes no other read() took. Records of SREC bytes
 * name their writer and sequence number, or their index.
 */
#define SREC 16
#define SRECS 200	/* per writer */

struct shared {
	int fd;
	int id;
	int report;	/* readers write the indices they read here */
	long errors;
};

static void shared_write(struct shared *w)
{
	char rec[SREC + 1];
	int i;

	for (i = 0; i < SRECS; i++) {
		snprintf(rec, sizeof(rec), "w%d-%04d---------", w->id, i);
		w->errors += write_all(w->fd, rec, SREC) != 0;
	}
}

static void shared_read(struct shared *r)
{
	char rec[SREC + 1] = "";
	int index;
	ssize_t n;

	while ((n = read(r->fd, rec, SREC)) == SREC) {
		index = atoi(rec + 1);
		r->errors += write_all(r->report, &index, sizeof(index)) != 0;
	}
	r->errors += n != 0;
}

static void *shared_writer(void *arg)
{
	shared_write(arg);
	return NULL;
}

static void *shared_reader(void *arg)
{
	shared_read(arg);
	return NULL;
}

/* Runs n workers on fd: threads, or this process and n - 1 children. */
static long shared_run(int fd, int n, bool fork_them, bool writers, int report)
{
	struct shared w[4];
	long errors = 0;
	int i, status;
	pid_t pid[4];

	for (i = 0; i < n; i++)
		w[i] = (struct shared){ .fd = fd, .id = i, .report = report };
	if (!fork_them) {
		run_threads(n, writers ? shared_writer : shared_reader, w, sizeof(w[0]));
		for (i = 0; i < n; i++)
			errors += w[i].errors;
		return errors;
	}
	for (i = 1; i < n; i++) {
		pid[i] = fork();
		if (pid[i] == 0) {
			writers ? shared_write(&w[i]) : shared_read(&w[i]);
			_exit(w[i].errors ? 1 : 0);
		}
	}
	writers ? shared_write(&w[0]) : shared_read(&w[0]);
	errors = w[0].errors;
	for (i = 1; i < n; i++)
		errors += pid[i] < 0 || waitpid(pid[i], &status, 0) != pid[i] ||
			  !WIFEXITED(status) || WEXITSTATUS(status);
	return errors;
}

static void test_shared_writes(bool fork_them)
{
	static char all[4 * SRECS * SREC];
	const char *how = fork_them ? "a parent and its child" : "4 threads";
	int n = fork_them ? 2 : 4, i, id, seq, bad = 0;
	int seen[4][SRECS] = { { 0 } };
	long total = (long)n * SRECS * SREC, errors;
	int fd = open_dev(DEV(1), O_RDWR | O_TRUNC);

	errors = shared_run(fd, n, fork_them, true, -1);
	ktap_ok(fd >= 0 && !errors, "%s wrote %d records each through one open file",
		how, SRECS);
	ktap_eq(lseek(fd, 0, SEEK_CUR), total,
		"the shared position advanced by the sum of the writes (%s)", how);
	if (rw(pread(fd, all, total, 0)) != total)
		bad = 1;
	for (i = 0; !bad && i < total / SREC; i++) {
		if (sscanf(all + i * SREC, "w%d-%4d-", &id, &seq) != 2 ||
		    id < 0 || id >= n || seq < 0 || seq >= SRECS) {
			bad = 1;
			break;
		}
		seen[id][seq]++;
	}
	for (id = 0; !bad && id < n; id++)
		for (seq = 0; seq < SRECS; seq++)
			bad |= seen[id][seq] != 1;
	ktap_ok(!bad, "every record is there exactly once: none overwrote another (%s)",
		how);
	close(fd);
}

static void test_shared_reads(bool fork_them)
{
	static char all[4 * SRECS * SREC + 1];
	const char *how = fork_them ? "a parent and its child" : "4 threads";
	int n = 4 * SRECS, i, index, report[2], bad = 0, got = 0;
	static int seen[4 * SRECS];
	int fd = open_dev(DEV(1), O_RDWR | O_TRUNC);
	long errors;

	for (i = 0; i < n; i++)
		snprintf(all + i * SREC, SREC + 1, "r%07d--------", i);
	if (fd < 0 || write_all(fd, all, (size_t)n * SREC) || lseek(fd, 0, SEEK_SET) ||
	    pipe(report))
		ktap_bail("cannot set up the shared reads: %s", strerror(errno));
	errors = shared_run(fd, fork_them ? 2 : 4, fork_them, false, report[1]);
	close(report[1]);
	memset(seen, 0, sizeof(seen));
	while (read(report[0], &index, sizeof(index)) == sizeof(index)) {
		got++;
		if (index < 0 || index >= n || seen[index]++)
			bad++;
	}
	close(report[0]);
	ktap_diag("%s read %d records of %d through one open file", how, got, n);
	ktap_ok(!errors && !bad && got == n,
		"no two reads returned the same bytes, and all were read (%s)", how);
	close(fd);
}

/*
 * "A process waiting for the lock can always be killed": a writer holds
 * the device's lock while its copy waits on a user page that a
 * userfaultfd never serves; a reader of the device waiting for the lock
 * must still die at once on SIGKILL.
 */
static void test_killable(void)
{
	static const long rd[] = { SYS_read };
	long pg = sysconf(_SC_PAGESIZE), start;
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct uffdio_zeropage zero = { 0 };
	struct blocked w;
	int uffd, fd, status = 0;
	char *page;
	pthread_t writer;
	pid_t reader;
	char buf[8];

	uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	page = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	reg.range.start = (unsigned long)page;
	reg.range.len = pg;
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) || page == MAP_FAILED ||
	    ioctl(uffd, UFFDIO_REGISTER, &reg))
		ktap_bail("no userfaultfd to hold a page fault: %s", strerror(errno));
	fd = open_dev(DEV(2), O_WRONLY);
	if (fd < 0)
		ktap_bail("cannot open " DEV(2) ": %s", strerror(-fd));
	writer = blocked_start(&w, fd, true, page, 100);
	ktap_ok(blocked_asleep(&w, 10000),
		"a writer waits on a userfaultfd page, holding the device's lock");

	reader = fork();
	if (reader == 0) {
		int fd = open_dev(DEV(2), O_RDONLY);

		_exit(fd >= 0 && read(fd, buf, sizeof(buf)) >= 0 ? 0 : 1);
	}
	ktap_ok(reader > 0 && wait_blocked(reader, "D", rd, 1, 10000),
		"a reader of the device waits for the lock");
	kill(reader, SIGKILL);
	start = now_ms();
	while (waitpid(reader, &status, WNOHANG) == 0 && now_ms() < start + 1000)
		usleep(5000);
	ktap_diag("the reader died %ld ms after SIGKILL", now_ms() - start);
	ktap_ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		"SIGKILL ends the waiting reader within a second");

	zero.range = reg.range;
	ioctl(uffd, UFFDIO_ZEROPAGE, &zero);
	pthread_join(writer, NULL);
	/* A reader the signal did not end gets the lock now: reap it. */
	if (!WIFSIGNALED(status))
		waitpid(reader, &status, 0);
	ktap_eq(w.result, 100, "the writer completes once the page is served");
	close(fd);
	close(uffd);
	munmap(page, pg);
}

/* Fills a device with 32 MiB through fd; 0 or -errno. */
static int fill_32m(int fd)
{
	static char chunk[1 << 20];
	int i;

	memset(chunk, 'f', sizeof(chunk));
	for (i = 0; i < 32; i++)
		if (rw(pwrite(fd, chunk, sizeof(chunk), (off_t)i << 20)) != sizeof(chunk))
			return -EIO;
	return 0;
}

/*
 * Free memory once it is past mark_kb (above it or below it), waiting up
 * to 5 s: the kernel folds its per-CPU page counters about once a second.
 */
static long mem_past(bool above, long mark_kb)
{
	long until = now_ms() + 5000, kb;

	do {
		kb = mem_free_total_kb();
		if (above ? kb > mark_kb : kb < mark_kb)
			break;
		usleep(100000);
	} while (now_ms() < until);
	return kb;
}

/*
 * What a device holds is given back: 32 MiB written show in free memory
 * and come back after CLEAR, after O_TRUNC, and after unload (at least
 * 24 MiB of it: the rest of the system moves too). Called with the module
 * loaded with capacity=67108864.
 */
#define MIB24_KB 24576

static void test_memory_returned(void)
{
	long full, after;
	int fd = open_dev(DEV(0), O_RDWR);

	after = mem_free_total_kb();
	ktap_ok(!fill_32m(fd) && dev_size(fd) == 32 << 20, "write 32 MiB to a device");
	full = mem_past(false, after - MIB24_KB);
	ktap_eq(ioctl(fd, LKM_CHARDEV_CLEAR), 0, "CLEAR");
	after = mem_past(true, full + MIB24_KB);
	ktap_diag("free: %ld KiB with 32 MiB, %ld KiB after CLEAR", full, after);
	ktap_ok(after > full + MIB24_KB, "CLEAR gives the 32 MiB back");
	close(fd);

	fd = open_dev(DEV(0), O_RDWR);
	ktap_ok(!fill_32m(fd), "write 32 MiB again");
	close(fd);
	full = mem_past(false, after - MIB24_KB);
	fd = open_dev(DEV(0), O_WRONLY | O_TRUNC);
	after = mem_past(true, full + MIB24_KB);
	ktap_diag("free: %ld KiB with 32 MiB, %ld KiB after O_TRUNC", full, after);
	ktap_ok(fd >= 0 && after > full + MIB24_KB, "opening with O_TRUNC gives them back");
	ktap_ok(!fill_32m(fd), "write 32 MiB once more");
	close(fd);
	full = mem_past(false, after - MIB24_KB);
	ktap_eq(mod_unload(MOD), 0, "unload with 32 MiB held");
	after = mem_past(true, full + MIB24_KB);
	ktap_diag("free: %ld KiB with 32 MiB, %ld KiB after the unload", full, after);
	ktap_ok(after > full + MIB24_KB, "unloading gives them back");
}

/*
 * The largest values: 64 devices of 64 MiB, 4 GiB in all, load in a guest
 * of 1 GiB or less, which they could not if the memory were taken up front.
 */
static void test_limits(void)
{
	long before = mem_free_total_kb(), after, pg, faults;
	long psz = sysconf(_SC_PAGESIZE), pages = 67108864 / psz;
	bool ok;
	int fd, fd2;

	ktap_eq(mod_load(MOD, "devices=64 capacity=67108864"), 0,
		"load devices=64 capacity=67108864 (4 GiB in all, more than the guest has)");
	ktap_ok(path_exists(DEV(63)) && !path_exists(DEV(64)) &&
		file_long(SYS(63, "capacity")) == 67108864,
		"/dev/lkm_chardev63 is the last, of capacity 64 MiB");
	fd = open_dev(DEV(63), O_RDWR);
	ok = rw(pwrite(fd, "e", 1, 67108863)) == 1 &&
	     rw(pwrite(fd, "e", 1, 67108864)) == -ENOSPC && dev_size(fd) == 67108864;
	after = mem_free_total_kb();
	ktap_diag("free: %ld KiB before the load, %ld KiB after it and a write at 64 MiB",
		  before, after);
	ktap_ok(ok && before > 0 && after > before - 16384,
		"its last byte takes a write, the next ENOSPC, no memory taken up front");

	/*
	 * Each write, one a page of the 64 MiB (16384 of 4 KiB, 4096 of 16
	 * KiB), faults before storing a byte: no page may stay behind.
	 */
	fd2 = open_dev(DEV(62), O_RDWR);
	mem_settle(5000);
	before = mem_free_total_kb();
	for (pg = 0, faults = 0; pg < pages; pg++)
		faults += rw(pwrite(fd2, bad_ptr, 1, pg * psz)) == -EFAULT;
	/* KASAN's quarantine keeps what each failed write freed: empty it. */
	mem_settle(5000);
	after = mem_free_total_kb();
	ktap_diag("free: %ld KiB before %ld faulting writes, %ld KiB after",
		  before, pages, after);
	ktap_ok(faults == pages && dev_size(fd2) == 0 && after > before - 16384,
		"a faulting write to each page of 64 MiB keeps no memory, size stays 0");
	if (fd2 >= 0)
		close(fd2);
	if (fd >= 0)
		close(fd);
	test_memory_returned();
}

/*
 * A kernel with CONFIG_DEBUG_KOBJECT_RELEASE runs kobject releases 1 to 4
 * s after the last put, and logs each delay. lkm_chardev's releases are
 * its own code: the unload must wait for them, and nothing may happen
 * later (the guest panics on any report).
 */
static void test_unload_releases(void)
{
	long start, took;

	kmsg_mark();
	start = now_ms();
	ktap_eq(mod_unload(MOD), 0, "unload after the last close");
	took = now_ms() - start;
	if (!kmsg_seen("'lkm_chardev0' (") || !kmsg_seen("(delayed ")) {
		ktap_skip("this kernel releases kobjects at once: nothing to wait for");
		return;
	}
	sleep(5);
	ktap_diag("the unload took %ld ms with delayed releases", took);
	ktap_ok(took >= 1000 && !mod_loaded(MOD),
		"the unload waited for the delayed releases, and 5 s later all is well");
}

static void test_unload(void)
{
	int fd = open_dev(DEV(0), O_RDONLY);

	ktap_eq(mod_unload(MOD), -EWOULDBLOCK, "unload while a device is open is refused");
	ktap_ok(path_exists(DEV(0)), "and the device stays");
	close(fd);
	test_unload_releases();
	ktap_ok(!path_exists(DEV(0)) && !path_exists(DEV(3)) &&
		!path_exists("/sys/class/lkmkit"), "the nodes and the class are gone");
	ktap_eq(mod_load(MOD, NULL), 0, "load again with defaults");
	ktap_ok(path_exists(DEV(0)) && !path_exists(DEV(1)),
		"the default is one device");
	ktap_eq(file_long(SYS(0, "capacity")), 1048576, "the default capacity is 1 MiB");
	ktap_eq(mod_unload(MOD), 0, "unload");
	test_limits();
}

int main(void)
{
	ktap_begin("lkm_chardev", 149);
	test_parameters();
	test_nodes();
	test_file_semantics();
	test_large_offsets();
	test_open_flags();
	test_ioctls();
	test_faults();
	test_big_transfer();
	test_stress();
	test_shared_writes(false);
	test_shared_writes(true);
	test_shared_reads(false);
	test_shared_reads(true);
	test_killable();
	test_unload();
	return ktap_end();
}
