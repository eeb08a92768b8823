// SPDX-License-Identifier: GPL-2.0
/* Guest test of lkm_hello: messages, parameters, validation, clean unload. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lkmtest.h"

#define MOD "lkm_hello"
#define PARAMS "/sys/module/lkm_hello/parameters/"

static char buf[4096];

static const char *param(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), PARAMS "%s", name);
	if (file_read(path, buf, sizeof(buf)))
		return "(unreadable)";
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

static bool in_proc_modules(void)
{
	static char mods[1 << 16];

	return file_read("/proc/modules", mods, sizeof(mods)) == 0 &&
	       strstr(mods, MOD " ");
}

static void test_defaults(void)
{
	kmsg_mark();
	ktap_eq(mod_load(MOD, NULL), 0, "load with default parameters");
	ktap_eq(kmsg_count("lkm_hello: Hello, world!"), 1,
		"logs \"Hello, world!\" once");
	ktap_ok(in_proc_modules(), "listed in /proc/modules");
	ktap_ok(!strcmp(param("whom"), "world"), "whom defaults to world");
	ktap_ok(!strcmp(param("howmany"), "1"), "howmany defaults to 1");
	ktap_ok(!strcmp(param("verbose"), "N"), "verbose defaults to N");
	ktap_ok(!strcmp(param("ids"), ""), "ids defaults to empty");
	ktap_eq(file_mode(PARAMS "whom"), 0644, "whom is mode 0644");
	ktap_eq(file_mode(PARAMS "howmany"), 0644, "howmany is mode 0644");
	ktap_eq(file_mode(PARAMS "verbose"), 0644, "verbose is mode 0644");
	ktap_eq(file_mode(PARAMS "ids"), 0444, "ids is mode 0444");
	ktap_ok(!strcmp(param("../version"), LKMKIT_VERSION),
		"/sys/module/lkm_hello/version is " LKMKIT_VERSION);
}

/*
 * A run-time write of value to parameter name is refused with EINVAL, the
 * kernel log says why in exactly one line (reason), and the old value
 * (was) stays: three results.
 */
static void refused_at_runtime(const char *name, const char *value,
			       const char *reason, const char *was)
{
	char path[128];

	snprintf(path, sizeof(path), PARAMS "%s", name);
	kmsg_mark();
	ktap_eq(file_write(path, value), -EINVAL,
		"runtime %s=%s is refused with EINVAL", name, value);
	ktap_eq(kmsg_count(reason), 1, "dmesg says \"%s\" once", reason);
	ktap_ok(!strcmp(param(name), was), "%s keeps its old value %s", name, was);
}

static void test_runtime_writes(void)
{
	char longname[80];

	ktap_eq(file_write(PARAMS "howmany", "5"), 0, "runtime howmany=5");
	ktap_ok(!strcmp(param("howmany"), "5"), "howmany reads back 5");

	refused_at_runtime("howmany", "1000",
			   "howmany must be an integer in 0..64, got '1000'", "5");
	ktap_eq(file_write(PARAMS "howmany", "-1"), -EINVAL,
		"runtime howmany=-1 is refused");
	ktap_eq(file_write(PARAMS "howmany", "many"), -EINVAL,
		"runtime howmany=many is refused");
	ktap_eq(file_write(PARAMS "howmany", "64"), 0, "runtime howmany=64");

	memset(longname, 'x', 65);
	longname[65] = '\0';
	ktap_eq(file_write(PARAMS "whom", longname), -EINVAL,
		"runtime whom of 65 bytes is refused with EINVAL");
	ktap_ok(!strcmp(param("whom"), "world"), "whom keeps its old value");
	ktap_ok(file_write(PARAMS "whom", "Gr\xc3\xbc\xc3\x9f \xe4\xb8\x96\xe7\x95\x8c\n") == 0 &&
		!strcmp(param("whom"), "Gr\xc3\xbc\xc3\x9f \xe4\xb8\x96\xe7\x95\x8c"),
		"runtime whom in UTF-8 is taken and reads back");
	ktap_eq(file_write(PARAMS "whom", "kernel\n"), 0, "runtime whom=kernel");
	ktap_ok(!strcmp(param("whom"), "kernel"), "whom reads back kernel");
	/* An empty whom is what "echo > whom" writes. */
	refused_at_runtime("whom", "\n", "whom must be 1..64 bytes long, got 0",
			   "kernel");
	refused_at_runtime("whom", "ab\ncd", "whom must not hold control characters",
			   "kernel");
	ktap_eq(file_write(PARAMS "verbose", "Y"), 0, "runtime verbose=Y");
	refused_at_runtime("verbose", "maybe",
			   "verbose must be Y, N, 1, 0, on or off, got 'maybe'", "Y");
	ktap_eq(file_write(PARAMS "ids", "1"), -EACCES,
		"ids is read-only at run time");
}

static void test_unload(const char *bye)
{
	kmsg_mark();
	ktap_eq(mod_unload(MOD), 0, "unload");
	ktap_ok(kmsg_seen(bye), "unload logs \"%s\"", bye);
	ktap_ok(!mod_loaded(MOD), "/sys/module/lkm_hello is gone");
	ktap_ok(!in_proc_modules(), "gone from /proc/modules");
}

static void test_all_parameters(void)
{
	kmsg_mark();
	ktap_eq(mod_load(MOD, "whom=tux howmany=3 verbose=1 ids=4,-5,6"), 0,
		"load with every parameter set");
	ktap_eq(kmsg_count("lkm_hello: Hello, tux!"), 3,
		"howmany=3 logs three greetings to tux");
	ktap_ok(kmsg_seen("ids[0] = 4") && kmsg_seen("ids[1] = -5") &&
		kmsg_seen("ids[2] = 6") && !kmsg_seen("ids[3]"),
		"verbose logs exactly the three ids");
	ktap_ok(!strcmp(param("ids"), "4,-5,6"), "ids reads back 4,-5,6");
	ktap_ok(!strcmp(param("verbose"), "Y"), "verbose reads back Y");
	ktap_eq(mod_load(MOD, NULL), -EEXIST, "a second load gives EEXIST");
	test_unload("Goodbye, tux.");
	ktap_eq(mod_unload(MOD), -ENOENT, "unloading again gives ENOENT");

	kmsg_mark();
	ktap_eq(mod_load(MOD, "howmany=0 whom=quiet"), 0, "load with howmany=0");
	ktap_ok(!kmsg_seen("Hello,"), "howmany=0 logs no greeting");
	ktap_ok(!kmsg_seen("ids["), "verbose off logs no ids");
	ktap_eq(mod_unload(MOD), 0, "unload after howmany=0");
}

static void test_invalid_loads(void)
{
	char arg[128];
	const struct refusal bad[] = {
		{ "howmany=1000", "howmany must be an integer in 0..64, got '1000'" },
		{ "howmany=65", "howmany must be an integer in 0..64, got '65'" },
		{ "howmany=-1", "howmany must be an integer in 0..64, got '-1'" },
		{ "howmany=lots", "howmany must be an integer in 0..64, got 'lots'" },
		{ arg, "whom must be 1..64 bytes long, got 65" },
		{ "whom=", "whom must be 1..64 bytes long, got 0" },
		{ "whom=a\x01b", "whom must not hold control characters" },
		{ "ids=1,2,3,4,5,6,7,8,9",
		  "ids must be up to 8 integers separated by commas, got '1,2,3,4,5,6,7,8,9'" },
		{ "ids=1,x", "ids must be up to 8 integers separated by commas, got '1,x'" },
		{ "verbose=maybe", "verbose must be Y, N, 1, 0, on or off, got 'maybe'" },
	};

	memcpy(arg, "whom=", 5);
	memset(arg + 5, 'a', 65);
	arg[70] = '\0';
	refused_loads(MOD, bad, ARRAY_SIZE(bad));

	kmsg_mark();
	ktap_eq(mod_load(MOD, "verbose=1 ids=1,2,3,4,5,6,7,-8"), 0,
		"loading with exactly 8 ids works");
	ktap_ok(!strcmp(param("ids"), "1,2,3,4,5,6,7,-8") && kmsg_seen("ids[7] = -8"),
		"all 8 are kept and logged");
	ktap_eq(mod_unload(MOD), 0, "unload after the 8 ids");

	arg[69] = '\0';		/* exactly 64 bytes of name */
	kmsg_mark();
	ktap_eq(mod_load(MOD, arg), 0, "whom of exactly 64 bytes is accepted");
	ktap_eq(mod_unload(MOD), 0, "unload after the 64-byte whom");
}

int main(void)
{
	ktap_begin("lkm_hello", 90);
	test_defaults();
	test_runtime_writes();
	test_unload("Goodbye, kernel.");
	test_all_parameters();
	test_invalid_loads();
	return ktap_end();
}
