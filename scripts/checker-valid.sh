#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# checker-valid.sh CHECKER [FLAGS...]: prints 1 when the checker (sparse)
# runs and parses current kernel C, 0 otherwise. Kernels from 6.1x call
# this from their Makefile before honouring C=1/C=2, but Debian's header
# packages do not ship it; lkmkit's harness installs this one in its place
# (scripts/lib.sh), so that sparse runs instead of being skipped.
command -v "$1" >/dev/null 2>&1 || { echo 0; exit 0; }
tmp=$(mktemp) || exit 1
trap 'rm -f "$tmp"' EXIT
printf 'static inline int f(void *p) { return _Generic(p, void *: 1, default: 0); }\n' >"$tmp"
# sparse exits 0 even on errors: judge by what it prints.
if "$@" "$tmp" 2>&1 | grep -q error; then echo 0; else echo 1; fi
