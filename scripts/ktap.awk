# SPDX-License-Identifier: GPL-2.0
#
# ktap.awk - judges a guest's KTAP log (see tests/lkmtest.c for the writer).
#
#   awk -v who=6.12 -v expect="lkm_hello lkm_misc" -f ktap.awk ktap.log
#
# Prints "passed failed skipped tainted" on stdout and one line per failure
# on stderr. Besides "not ok" lines, these fail: a suite whose results and
# plan disagree (its program crashed or hung), a program's non-zero exit
# status, a suite in `expect` that never started, and a log without the
# guest's final "done" line. A kmemleak line (the guest's scans after each
# program, where the kernel has kmemleak) is one result: it passes with 0
# unreferenced objects; the scans' total is said on stderr. A failure is
# shown with the diagnostic lines that came before it since the previous
# result (the first few, indented), where a program says why.

function fail(msg) {
	printf "FAIL: %s: %s\n", who, msg > "/dev/stderr"
	f++
}

function close_suite() {
	if (suite != "" && ran != plan)
		fail(sprintf("%s: planned %d checks, ran %d", suite, plan, ran))
	suite = ""
}

{ sub(/\r$/, "") }
/^KTAP version/ { close_suite(); suite = "?"; plan = -1; ran = 0; f0 = f; next }
/^# suite: / { suite = $3; seen[suite] = 1; next }
/^1\.\.[0-9]+$/ { plan = substr($0, 4) + 0; next }
/^# / && $2 != "lkmkit:" && $2 != "suite:" && $2 != "figure:" { if (nwhy++ < 8) why[nwhy] = $0; next }
/^(not )?ok [0-9]+/ && suite == "" { fail("result outside a suite: " $0); nwhy = 0; next }
/^ok [0-9]+.*# SKIP/ { s++; ran++; printf "SKIP: %s: %s: %s\n", who, suite, $0 > "/dev/stderr"; nwhy = 0; next }
/^ok [0-9]+/ { p++; ran++; nwhy = 0; next }
/^not ok [0-9]+/ {
	ran++
	fail(suite ": " $0)
	for (i = 1; i <= nwhy && i <= 8; i++)
		printf "   %s\n", why[i] > "/dev/stderr"
	if (nwhy > 8)
		printf "   # (%d more lines in the log)\n", nwhy - 8 > "/dev/stderr"
	nwhy = 0
	next
}
# A failing program exits non-zero: that is news only when nothing failed.
/^# lkmkit: exit / { close_suite(); if ($5 != "0" && f == f0) fail($4 ": exit status " $5); next }
/^# lkmkit: kmemleak scans / { scans = $5; next }
/^# lkmkit: kmemleak / {
	close_suite()
	if ($5 == "0")
		p++
	else if ($5 ~ /^[0-9]+$/)
		fail($4 ": kmemleak: " $5 " unreferenced objects (backtraces in the console log)")
	else
		fail($4 ": kmemleak: the scan failed")
	next
}
/^# lkmkit: tainted / { tainted = $4 + 0; next }
/^# lkmkit: done$/ { done = 1 }

END {
	close_suite()
	n = split(expect, want, " ")
	for (i = 1; i <= n; i++)
		if (!(want[i] in seen))
			fail(want[i] ": no results (test program missing or dead)")
	if (!done)
		fail("the guest did not finish its tests")
	if (scans != "")
		printf "   %s: kmemleak: %d scans\n", who, scans > "/dev/stderr"
	print p + 0, f + 0, s + 0, tainted + 0
}
