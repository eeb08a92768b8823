// SPDX-License-Identifier: GPL-2.0
/* Guest test of lkm_procfs: message file semantics, stats, records, unload. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lkmtest.h"

#define MOD "lkm_procfs"
#define DIR "/proc/lkm_procfs"
#define MESSAGE DIR "/message"
#define STATS DIR "/stats"
#define RECORDS DIR "/records"

/* Reads fd to its end through reads of `chunk` bytes; returns the length. */
static long slurp_fd(int fd, char *buf, size_t size, size_t chunk)
{
	long total = 0;
	ssize_t n = 0;

	if (fd < 0)
		return -EBADF;
	while ((size_t)total < size &&
	       (n = read(fd, buf + total, chunk < size - total ? chunk : size - total)) > 0)
		total += n;
	return n < 0 ? -errno : total;
}

/* Reads a whole file through reads of `chunk` bytes; returns its length. */
static long slurp(const char *path, char *buf, size_t size, size_t chunk)
{
	long total;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	total = slurp_fd(fd, buf, size, chunk);
	close(fd);
	return total;
}

/* Replaces the message the way a shell's ">" does. */
static long put_message(const void *text, size_t len)
{
	long ret;
	int fd = open(MESSAGE, O_WRONLY | O_TRUNC | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	ret = rw(write(fd, text, len));
	close(fd);
	return ret;
}

static bool message_is(const char *want)
{
	static char buf[1 << 16];
	long n = slurp(MESSAGE, buf, sizeof(buf), sizeof(buf));

	return n == (long)strlen(want) && !memcmp(buf, want, n);
}

static long stat_value(const char *key)
{
	return file_key(STATS, key);
}

static void test_parameters(void)
{
	static const struct refusal bad[] = {
		{ "max_message=0", "max_message must be an integer in 1..1048576, got '0'" },
		{ "max_message=1048577",
		  "max_message must be an integer in 1..1048576, got '1048577'" },
		{ "records=-1", "records must be an integer in 0..1000000, got '-1'" },
		{ "records=1000001",
		  "records must be an integer in 0..1000000, got '1000001'" },
	};

	refused_loads(MOD, bad, ARRAY_SIZE(bad));
	ktap_ok(!path_exists(DIR), "refused loads leave nothing in /proc");
}

static void test_message(void)
{
	static char big[4097];
	char buf[64];
	int i, fd;

	ktap_eq(mod_load(MOD, NULL), 0, "load with defaults");
	ktap_eq(file_mode(MESSAGE), 0644, "message is mode 0644");
	ktap_eq(file_mode(STATS), 0444, "stats is mode 0444");
	ktap_eq(file_mode(RECORDS), 0444, "records is mode 0444");
	ktap_ok(message_is(""), "the message starts empty");

	ktap_eq(put_message("hello, proc\n", 12), 12, "write a 12-byte message");
	ktap_ok(message_is("hello, proc\n"), "reading returns it");
	ktap_eq(slurp(MESSAGE, buf, sizeof(buf), 1), 12,
		"a reader with a 1-byte buffer gets all 12 bytes");
	ktap_ok(!memcmp(buf, "hello, proc\n", 12), "in order");
	ktap_ok(put_message("bye", 3) == 3 && message_is("bye"),
		"O_TRUNC then write replaces it (a shell's >)");

	fd = open(MESSAGE, O_WRONLY | O_TRUNC);
	ktap_ok(write(fd, "he", 2) == 2 && write(fd, "ll", 2) == 2 &&
		write(fd, "o!", 2) == 2, "a message written in 2-byte chunks");
	close(fd);
	ktap_ok(message_is("hello!"), "assembles like a file: \"hello!\"");
	fd = open(MESSAGE, O_WRONLY);
	ktap_ok(write(fd, "J", 1) == 1 && message_is("Jello!"),
		"a write at offset 0 without O_TRUNC overwrites in place");
	ktap_ok(lseek(fd, 8, SEEK_SET) == 8 && write(fd, "?", 1) == 1 &&
		stat_value("message_bytes") == 9,
		"a write past the end leaves a gap");
	close(fd);
	ktap_ok(slurp(MESSAGE, buf, sizeof(buf), 64) == 9 && buf[6] == 0 &&
		buf[7] == 0 && buf[8] == '?', "the gap reads as zeros");
	fd = open(MESSAGE, O_RDONLY);
	ktap_ok(lseek(fd, 6, SEEK_SET) == 6 && read(fd, buf, 64) == 3 && buf[2] == '?',
		"reads at an offset after lseek");
	ktap_ok(lseek(fd, 2, SEEK_SET) == 2 && lseek(fd, 3, SEEK_CUR) == 5 &&
		read(fd, buf, 64) == 4 && buf[0] == '!' && buf[3] == '?',
		"SEEK_CUR moves on from the position");
	ktap_eq(rw(lseek(fd, 0, SEEK_END)), -EINVAL, "SEEK_END is refused with EINVAL");
	close(fd);
	ktap_ok(put_message("hello\n", 6) == 6, "write \"hello\\n\"");
	fd = open(MESSAGE, O_WRONLY | O_APPEND);
	ktap_ok(write(fd, "more\n", 5) == 5 && write(fd, "!", 1) == 1 &&
		message_is("hello\nmore\n!"), "O_APPEND writes append (a shell's >>)");
	close(fd);
	fd = open(MESSAGE, O_WRONLY | O_APPEND);
	ktap_eq(rw(write(fd, big, 4090)), -EINVAL,
		"an append that would pass max_message gives EINVAL");
	close(fd);
	ktap_ok(message_is("hello\nmore\n!"), "and stores nothing");

	memset(big, 'm', sizeof(big));
	ktap_eq(put_message("keep", 4), 4, "write \"keep\"");
	fd = open(MESSAGE, O_WRONLY);
	ktap_eq(rw(write(fd, big, 4097)), -EINVAL,
		"a 4097-byte message (max_message 4096) gives EINVAL");
	ktap_eq(lseek(fd, 4000, SEEK_SET), 4000, "seek the writer to 4000");
	ktap_eq(rw(write(fd, big, 100)), -EINVAL,
		"a write there ending past max_message gives EINVAL");
	ktap_eq(rw(write(fd, bad_ptr, 10)), -EFAULT, "a bad pointer gives EFAULT");
	ktap_eq(rw(pwrite(fd, "pw", 2, 0)), -ESPIPE, "pwrite gives ESPIPE");
	close(fd);
	ktap_ok(message_is("keep"), "refused writes store nothing");
	fd = open(MESSAGE, O_RDONLY);
	ktap_eq(rw(read(fd, bad_ptr, 10)), -EFAULT, "reading into a bad pointer gives EFAULT");
	close(fd);
	ktap_eq(put_message(big, 4096), 4096, "a message of exactly max_message is accepted");
	ktap_eq(slurp(MESSAGE, big, sizeof(big), 7), 4096, "and reads back whole in 7-byte reads");
	for (i = 0; i < 4096 && big[i] == 'm'; i++)
		;
	ktap_eq(i, 4096, "every byte intact");
	ktap_eq(put_message("", 0), 0, "an empty write returns 0");
	ktap_ok(message_is(""), "O_TRUNC with no write leaves an empty message");

	/* The snapshot is taken at the first read and kept to the end. */
	fd = open(MESSAGE, O_RDONLY);
	ktap_ok(put_message("old text", 8) == 8 && read(fd, buf, 1) == 1 && buf[0] == 'o',
		"a reader reads the first byte of \"old text\"");
	ktap_ok(put_message("NEW MESSAGE", 11) == 11 && message_is("NEW MESSAGE"),
		"the message is rewritten meanwhile");
	ktap_ok(slurp_fd(fd, buf, sizeof(buf), 1) == 7 && !memcmp(buf, "ld text", 7),
		"the reader reads on to the end of its old snapshot");
	close(fd);
}

static void test_stats(void)
{
	char buf[1024];
	long o, r, w, bw;

	ktap_ok(file_read(STATS, buf, sizeof(buf)) == 0 && strstr(buf, "opens: ") &&
		strstr(buf, "\nreads: ") && strstr(buf, "\nwrites: ") &&
		strstr(buf, "\nbytes_read: ") && strstr(buf, "\nbytes_written: ") &&
		strstr(buf, "\nmessage_bytes: "), "stats has every key as \"key: value\"");
	o = stat_value("opens");
	r = stat_value("reads");
	w = stat_value("writes");
	bw = stat_value("bytes_written");
	put_message("0123456789", 10);
	message_is("0123456789");
	ktap_ok(stat_value("opens") == o + 2 && stat_value("writes") == w + 1 &&
		stat_value("bytes_written") == bw + 10 && stat_value("reads") > r &&
		stat_value("message_bytes") == 10, "the counters follow the message file");
}

static int open_for_write(void *path)
{
	int fd = open(path, O_WRONLY);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static int read_message(void *arg)
{
	char buf[64];

	(void)arg;
	return slurp(MESSAGE, buf, sizeof(buf), 64) < 0 ? -EIO : 0;
}

/* Reads a file; 0 when it starts with the text it should, else -errno or -EIO. */
static int read_start(void *arg)
{
	const char *const *what = arg;	/* a path and the text it starts with */
	static char buf[8192];
	long n = slurp(what[0], buf, sizeof(buf) - 1, sizeof(buf));

	if (n < 0)
		return n;
	return n >= (long)strlen(what[1]) && !memcmp(buf, what[1], strlen(what[1])) ?
	       0 : -EIO;
}

static void test_permissions(void)
{
	static const char *const stats[] = { STATS, "opens: " };
	static const char *const records[] = {
		RECORDS, "record 0 of 100: square 0\nrecord 1 of 100: square 1\n",
	};

	ktap_eq(as_nobody(open_for_write, MESSAGE), -EACCES,
		"a non-root user cannot write the message");
	ktap_eq(as_nobody(open_for_write, STATS), -EACCES,
		"a non-root user cannot open stats for writing");
	ktap_eq(as_nobody(read_message, NULL), 0, "a non-root user can read the message");
	ktap_eq(as_nobody(read_start, (void *)stats), 0, "a non-root user can read stats");
	ktap_eq(as_nobody(read_start, (void *)records), 0, "a non-root user can read records");
}

/*
 * Reads records through `chunk`-byte reads, checking each line as it comes
 * against the one expected, without holding the listing: the test streams
 * as the module does.
 */
static bool records_are(long total, size_t chunk)
{
	static char buf[1 << 16];
	char want[96];
	size_t have = 0;
	long line = 0;
	ssize_t n;
	bool ok = true;
	int fd = open(RECORDS, O_RDONLY | O_CLOEXEC);

	while (ok && (n = read(fd, buf + have, chunk < sizeof(buf) - have ?
					chunk : sizeof(buf) - have)) > 0) {
		char *start = buf, *end;

		have += n;
		while (ok && (end = memchr(start, '\n', buf + have - start))) {
			int len = sprintf(want, "record %ld of %ld: square %lld\n",
					  line, total, (long long)line * line);

			ok = line < total && end + 1 - start == len &&
			     !memcmp(start, want, len);
			start = end + 1;
			line++;
		}
		have -= start - buf;
		memmove(buf, start, have);
	}
	close(fd);
	if (line != total || have)
		ktap_diag("records: %ld lines, %zu bytes left over", line, have);
	return ok && n == 0 && line == total && !have;
}

/*
 * Copies a whole file with sendfile(2) into a tmpfs file, and reads the
 * copy into buf: its length, or -errno.
 */
static long sendfile_copy(const char *path, char *buf, size_t size)
{
	static const char copy[] = "/tmp/lkm_procfs.copy";
	int in = open(path, O_RDONLY | O_CLOEXEC);
	int out = open(copy, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	long total = 0, ret;
	ssize_t n = 0;

	if (in < 0 || out < 0) {
		ret = -errno;
	} else {
		while ((n = sendfile(out, in, NULL, 1 << 20)) > 0)
			total += n;
		ret = n < 0 ? -errno : rw(pread(out, buf, size, 0)) == total ? total : -EIO;
	}
	close(in);
	close(out);
	unlink(copy);
	return ret;
}

/* sendfile(2) gives what read(2) gives. */
static bool sendfile_ok(const char *path)
{
	static char by_read[1 << 16], by_sendfile[1 << 16];
	long n = slurp(path, by_read, sizeof(by_read), sizeof(by_read));
	long m = sendfile_copy(path, by_sendfile, sizeof(by_sendfile));

	if (n != m)
		ktap_diag("%s: read gives %ld bytes, sendfile %ld", path, n, m);
	return n > 0 && n == m && !memcmp(by_read, by_sendfile, n);
}

static void test_records(void)
{
	static char buf[2 << 20];

	ktap_ok(sendfile_ok(RECORDS), "sendfile copies records, as read does");
	ktap_ok(put_message("sent\n", 5) == 5 && sendfile_ok(MESSAGE),
		"sendfile copies the message, as read does");

	ktap_ok(records_are(100, 4096), "records lists exactly records 0..99, one per line");
	ktap_ok(records_are(100, 5), "the same through 5-byte reads");
	ktap_ok(records_are(100, 1), "the same through 1-byte reads");
	ktap_eq(mod_unload(MOD), 0, "unload");

	ktap_eq(mod_load(MOD, "records=0"), 0, "load records=0");
	ktap_ok(records_are(0, 4096), "records=0 lists nothing");
	ktap_eq(mod_unload(MOD), 0, "unload");

	ktap_eq(mod_load(MOD, "records=1000000 max_message=1048576"), 0,
		"load records=1000000 max_message=1048576");
	ktap_ok(records_are(1000000, 1 << 16),
		"a million records stream out whole and in order");
	memset(buf, 'M', 1 << 20);
	ktap_eq(put_message(buf, 1 << 20), 1 << 20, "a 1 MiB message is accepted");
	ktap_eq(slurp(MESSAGE, buf + (1 << 20), 1 << 20, 1 << 20), 1 << 20,
		"and reads back 1 MiB");
	ktap_ok(!memcmp(buf, buf + (1 << 20), 1 << 20), "intact");
}

/*
 * Writers store whole messages of one repeated letter, all of the same
 * length, at offset 0; readers (some through a 1-byte buffer) must only
 * ever see one letter.
 */
#define MSG_LEN 3000

struct worker {
	int id;
	long done;
	long torn;
	long errors;
};

static long stress_until;

static void *message_worker(void *arg)
{
	struct worker *w = arg;
	char buf[MSG_LEN + 1];
	int i, fd;

	while (now_ms() < stress_until) {
		if (w->id < 4) {
			memset(buf, 'a' + (w->id * 5 + w->done) % 26, MSG_LEN);
			fd = open(MESSAGE, O_WRONLY);
			if (write(fd, buf, MSG_LEN) != MSG_LEN)
				w->errors++;
			close(fd);
		} else {
			long n = slurp(MESSAGE, buf, sizeof(buf), w->id == 4 ? 1 : 4096);

			if (n != MSG_LEN) {
				w->errors++;
			} else {
				for (i = 1; i < MSG_LEN && buf[i] == buf[0]; i++)
					;
				w->torn += i < MSG_LEN;
			}
		}
		w->done++;
	}
	return NULL;
}

static void test_threads(void)
{
	struct worker w[8];
	long torn = 0, errors = 0, writes = 0, reads = 0, before;
	char buf[MSG_LEN];
	int i;

	memset(buf, 'z', MSG_LEN);
	put_message(buf, MSG_LEN);
	before = stat_value("writes");
	for (i = 0; i < 8; i++)
		w[i] = (struct worker){ .id = i };
	stress_until = now_ms() + 3000;
	run_threads(8, message_worker, w, sizeof(w[0]));
	for (i = 0; i < 8; i++) {
		torn += w[i].torn;
		errors += w[i].errors;
		*(i < 4 ? &writes : &reads) += w[i].done;
	}
	ktap_diag("%ld message writes, %ld whole reads", writes, reads);
	ktap_ok(writes > 0 && reads > 0 && !errors,
		"4 writers and 4 readers ran for 3 s without an error");
	ktap_eq(torn, 0, "no reader ever saw a mixed message");
	ktap_eq(stat_value("writes") - before, writes, "stats counted every write");
}

static void test_unload_with_readers(void)
{
	int fds[3], i;
	char buf[16];
	static const char *const paths[] = { MESSAGE, STATS, RECORDS };

	for (i = 0; i < 3; i++) {
		fds[i] = open(paths[i], O_RDONLY);
		read(fds[i], buf, 4);
	}
	ktap_eq(mod_unload(MOD), 0, "unload succeeds with readers holding files open");
	ktap_ok(!path_exists(DIR), "/proc/lkm_procfs is gone");
	for (i = 0; i < 3; i++)
		ktap_eq(rw(read(fds[i], buf, sizeof(buf))), -EIO,
			"a later read of %s gets EIO", paths[i]);
	for (i = 0; i < 3; i++)
		close(fds[i]);
	ktap_eq(mod_load(MOD, NULL), 0, "load again");
	ktap_ok(message_is(""), "a new load starts with an empty message");
	ktap_eq(mod_unload(MOD), 0, "unload");
}

int main(void)
{
	ktap_begin("lkm_procfs", 83);
	test_parameters();
	test_message();
	test_stats();
	test_permissions();
	test_records();
	test_threads();
	test_unload_with_readers();
	return ktap_end();
}
