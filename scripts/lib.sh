# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# lib.sh - what `make check`, `make check-compile` and `make run` share:
# installing their tools, reading the kernel matrix, building the modules
# and test programs for a kernel, packing an initramfs and booting it.

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
VERSION=$(cat "$TOP/VERSION")

say() { printf '%s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# Every script that sources this answers -h and --help with its header
# comment (sourced without arguments, this file sees the script's).
case ${1:-} in
-h | --help)
	sed -n '2,/^[^#]/ { /^# SPDX/d; /^# shellcheck/d; /^#/!q; s/^# \{0,1\}//p }' "$0" |
		sed '/./,$!d'
	exit 0
	;;
esac

# ---------------------------------------------------------------- results

# result OK|FAIL DESCRIPTION: counts one result, and says a failure.
passed=0
failed=0
result() {
	if [ "$1" = OK ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		say "FAIL: ${RESULT_PREFIX:-}$2"
	fi
}

# check DESCRIPTION COMMAND...: one result from a command's status, which
# it returns too.
check() {
	local desc=$1
	shift
	if "$@"; then
		result OK "$desc"
	else
		result FAIL "$desc"
		return 1
	fi
}

not() { ! "$@"; }

# A guest's console log must hold no sign of a kernel problem.
console_clean() {
	! grep -nE 'BUG:|WARNING:|Oops|KFENCE|Call Trace|Kernel panic|general protection|list_(add|del) corruption|Poison overwritten|Redzone|Object padding' "$1" >&2
}

# early_crash LOG: the guest kernel died while booting, before any lkmkit
# module was loaded or test ran: a kernel problem line with no lkm_ line
# before it. Seen with 7.2 under software emulation ("Oops: int3" in
# sched_clock_cpu as the boot patches its static keys): such a boot tells
# nothing about lkmkit, and is run again once, openly.
early_crash() {
	awk '/[Cc]ommand line:/ { next }
		/lkm_/ { exit }
		/BUG:|WARNING:|Oops|Kernel panic/ { crash = 1; exit }
		END { exit !crash }' "$1"
}

# again_after_early_crash LOG COMMAND...: runs COMMAND, and once more if
# it failed with an early crash in LOG (kept as LOG.early-crash).
again_after_early_crash() {
	local log=$1
	shift
	"$@" && return 0
	early_crash "$log" || return 1
	cp "$log" "$log.early-crash"
	say "   the kernel crashed while booting, before any lkmkit code ran" \
		"(log: $log.early-crash); booting again"
	"$@"
}

# Taint bits other than O (4096, out-of-tree) and E (8192, unsigned) fail.
taint_ok() {
	[ $(($1 & ~(4096 | 8192))) -eq 0 ]
}

# ---------------------------------------------------------------- packages

pkg_installed() {
	[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

# Installs the named Debian packages that are missing (needs root).
need_pkgs() {
	local missing=() p log
	for p in "$@"; do
		pkg_installed "$p" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "missing packages (run as root to install): ${missing[*]}"
	say "installing: ${missing[*]}"
	# dpkg's progress is noise in a test run: shown only on failure.
	log=$(mktemp)
	if [ -z "${LKM_APT_UPDATED:-}" ]; then
		apt-get update -qq >"$log" 2>&1 ||
			{ cat "$log" >&2; rm -f "$log"; die "apt-get update failed"; }
		export LKM_APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
		--no-install-recommends "${missing[@]}" </dev/null >"$log" 2>&1 ||
		{ cat "$log" >&2; rm -f "$log"; die "apt-get install ${missing[*]} failed"; }
	rm -f "$log"
}

host_tools() {
	need_pkgs make gcc libc6-dev kmod cpio gzip xz-utils busybox-static \
		qemu-system-x86 sparse shellcheck tmux "$@"
}

# Prints the path of checkpatch.pl, taken once from Debian's kernel source.
checkpatch() {
	local dir=$BUILD/tools tarball
	if [ ! -f "$dir/scripts/checkpatch.pl" ]; then
		need_pkgs linux-source
		tarball=$(ls /usr/src/linux-source-*.tar.xz | sort -V | tail -1)
		mkdir -p "$dir"
		tar -xJf "$tarball" -C "$dir" --strip-components=1 --wildcards \
			'*/scripts/checkpatch.pl' '*/scripts/spelling.txt' \
			'*/scripts/const_structs.checkpatch' || return 1
	fi
	echo "$dir/scripts/checkpatch.pl"
}

# The Debian mirror this machine's apt uses (never written into the repo).
debian_mirror() {
	local uri
	uri=$(awk '/^URIs:/ && $2 !~ /security/ { print $2; exit }' \
		/etc/apt/sources.list.d/*.sources 2>/dev/null)
	[ -n "$uri" ] || uri=$(awk '$1 == "deb" && $2 !~ /security/ { print $2; exit }' \
		/etc/apt/sources.list 2>/dev/null)
	[ -n "$uri" ] || die "no Debian mirror in this machine's apt sources"
	echo "$uri"
}

# Build roots for kernels this Debian 12 host has no headers for, cached
# between runs under $LKM_CACHE: one chroot per Debian suite, refreshed
# once a day. The cache is machine-wide, so that every checkout on the
# machine (CI runs in a fresh clone) reuses it; make clean keeps it, make
# distclean removes it.
LKM_CACHE=${LKM_CACHE:-/var/cache/lkmkit}

# suite_root SUITE: prints the path of the suite's chroot, creating or
# refreshing it first; several runs at once wait for each other.
suite_root() {
	local suite=$1 root=$LKM_CACHE/roots/$1 mirror
	mkdir -p "$LKM_CACHE/roots"
	(
		flock 9
		if [ ! -f "$root/.lkmkit-ready" ]; then
			need_pkgs debootstrap
			mirror=$(debian_mirror)
			say "creating the $suite build root (debootstrap, a few minutes)"
			rm -rf "$root"
			# experimental is no full suite: it sits on top of sid.
			debootstrap --variant=minbase \
				--include=gcc,make,libc6-dev,sparse,linux-headers-amd64 \
				"${suite/experimental/sid}" "$root" "$mirror" >"$root.log" 2>&1 ||
				{ tail -20 "$root.log" >&2; exit 1; }
			[ "$suite" != experimental ] ||
				echo "deb $mirror experimental main" \
					>"$root/etc/apt/sources.list.d/experimental.list"
			refresh_root "$root" "$suite" || exit 1
		elif [ -n "$(find "$root/.lkmkit-ready" -mmin +1440)" ]; then
			say "refreshing the $suite build root (once a day)"
			refresh_root "$root" "$suite" || exit 1
		fi
	) 9>"$LKM_CACHE/roots/$suite.lock" || return 1
	echo "$root"
}

# Brings a suite root up to date, so that a new kernel in the suite is seen.
refresh_root() {
	local root=$1 suite=$2
	# The mirror may be a dated snapshot whose Release files have expired.
	{
		in_root "$root" apt-get update -qq -o Acquire::Check-Valid-Until=false &&
			in_root "$root" env DEBIAN_FRONTEND=noninteractive \
				apt-get -y -qq upgrade &&
			in_root "$root" env DEBIAN_FRONTEND=noninteractive \
				apt-get -y -qq -t "$suite" install linux-headers-amd64
	} >"$root.refresh.log" 2>&1 || { tail -20 "$root.refresh.log" >&2; return 1; }
	touch "$root/.lkmkit-ready"
}

# in_root ROOT COMMAND...: runs a command in a chroot with /proc mounted
# (objtool needs it), unmounting it however the command ends.
in_root() {
	local root=$1 ret
	shift
	mount -t proc proc "$root/proc" || return 1
	chroot "$root" "$@"
	ret=$?
	umount "$root/proc"
	return $ret
}

# ---------------------------------------------------------------- matrix

# Prints "name root meta" for each kernel of the matrix in stage $1 (check
# or next) that $KERNELS selects (all when empty; names separated by spaces
# or commas).
matrix() {
	local want=" ${KERNELS:+${KERNELS//,/ }} " name root meta stage
	while read -r name root meta stage; do
		case $name in '' | '#'*) continue ;; esac
		[ "$stage" = "$1" ] || continue
		[ -z "${KERNELS:-}" ] || [[ $want == *" $name "* ]] || continue
		echo "$name $root $meta"
	done <"$TOP/tests/kernels"
}

# The modules to test: every src/lkm_*.c, or those $MODULES names.
modules() {
	local m all
	all=$(cd "$TOP/src" && ls lkm_*.c | sed 's/\.c$//')
	if [ -z "${MODULES:-}" ]; then
		echo "$all"
		return
	fi
	for m in ${MODULES//,/ }; do
		grep -qx "$m" <<<"$all" || die "no module $m (have: $(echo $all))"
		echo "$m"
	done
}

# Dies unless every name in KERNELS and MODULES names a kernel of
# tests/kernels and a module of src/: a typo must not quietly select less.
check_selection() {
	local k ks=${KERNELS:-} known
	known=$(awk '$1 !~ /^#/ && NF { print $1 }' "$TOP/tests/kernels")
	for k in ${ks//,/ }; do
		grep -qx -- "$k" <<<"$known" ||
			die "no kernel $k in tests/kernels (have: $(echo $known))"
	done
	modules >/dev/null
}

# Sets KROOT (filesystem root holding the headers), KVER (exact version),
# KDIR (headers, inside KROOT), VMLINUZ and KCONFIG for one matrix line,
# installing the packages it needs first.
kernel_setup() {
	local root=$2 meta=$3
	case $root in
	host)
		KROOT=/
		need_pkgs "linux-image-$meta" "linux-headers-$meta"
		KVER=$(dpkg-query -W -f='${Depends}' "linux-headers-$meta" |
			grep -o 'linux-headers-[^ ,]*' | head -1)
		KVER=${KVER#linux-headers-}
		VMLINUZ=/boot/vmlinuz-$KVER
		KCONFIG=/boot/config-$KVER
		;;
	*)
		KROOT=$(suite_root "$root") || return 1
		KVER=$(chroot "$KROOT" dpkg-query -W -f='${Depends}' "linux-headers-$meta" |
			grep -o 'linux-headers-[^ ,]*' | head -1)
		KVER=${KVER#linux-headers-}
		[ -n "$KVER" ] && kernel_image "$KROOT" "$KVER" || return 1
		;;
	esac
	KDIR=/usr/src/linux-headers-$KVER
	[ -n "$KVER" ] && [ -d "$KROOT$KDIR" ] && [ -f "$VMLINUZ" ] || {
		say "kernel $1: no headers or image for linux-headers-$meta ($KVER)"
		return 1
	}
}

# kernel_image ROOT KVER: takes the kernel image and config of KVER out of
# its packages (downloaded with ROOT's apt, never installed) into the cache;
# sets VMLINUZ and KCONFIG. Debian's 6.18 and later kernels split the image
# into linux-binary-KVER (vmlinuz) and linux-base-KVER (config).
kernel_image() {
	local root=$1 kver=$2 dir=$LKM_CACHE/kernels/$2 pkgs deb
	VMLINUZ=$dir/usr/lib/modules/$kver/vmlinuz
	KCONFIG=$dir/usr/lib/modules/$kver/config
	if [ ! -f "$VMLINUZ" ]; then
		pkgs="linux-binary-$kver linux-base-$kver"
		chroot "$root" apt-cache show "linux-binary-$kver" >/dev/null 2>&1 ||
			pkgs="linux-image-$kver"
		rm -rf "$root/tmp/kernel-debs" "$dir"
		mkdir -p "$root/tmp/kernel-debs" "$dir"
		# shellcheck disable=SC2086
		chroot "$root" sh -c "cd /tmp/kernel-debs && apt-get download -qq -o APT::Sandbox::User=root $pkgs" >&2 ||
			{ say "cannot download $pkgs"; return 1; }
		for deb in "$root"/tmp/kernel-debs/*.deb; do
			dpkg -x "$deb" "$dir"
		done
		rm -rf "$root/tmp/kernel-debs"
		# The older layout: /boot/vmlinuz-KVER and /boot/config-KVER.
		mkdir -p "$(dirname "$VMLINUZ")"
		[ -f "$VMLINUZ" ] || ln -sf "$dir/boot/vmlinuz-$kver" "$VMLINUZ"
		[ -f "$KCONFIG" ] || ln -sf "$dir/boot/config-$kver" "$KCONFIG"
	fi
	[ -f "$VMLINUZ" ]
}

# ---------------------------------------------------------------- building

# Newer kernels' Makefiles run scripts/checker-valid.sh before sparse and
# quietly skip sparse without it; Debian's headers lack the script.
provide_checker_valid() {
	local srctree
	srctree=$(sed -n 's/^include \(.*\)\/Makefile$/\1/p' "$KROOT$KDIR/Makefile" | head -1)
	srctree=$KROOT${srctree:-$KDIR}
	if grep -q checker-valid.sh "$srctree/Makefile" &&
		[ ! -e "$srctree/scripts/checker-valid.sh" ]; then
		install -m 755 "$TOP/scripts/checker-valid.sh" "$srctree/scripts/"
	fi
}

# Builds every module for the kernel set up by kernel_setup into $1/, with
# W=1 and sparse (C=2). Prints the log on failure; any compiler, sparse or
# modpost warning fails.
build_modules() {
	local out=$1 tree log
	# Kbuild writes next to the sources: build a private copy, inside the
	# root that has the headers.
	mkdir -p "$out" "$KROOT/tmp"
	tree=$(mktemp -d "$KROOT/tmp/lkmkit.XXXXXX")
	log=$out/build.log
	cp -r "$TOP/src" "$TOP/include" "$TOP/VERSION" "$tree/"
	provide_checker_valid
	if [ "$KROOT" = / ]; then
		make -j"$(nproc)" -C "$KDIR" M="$tree/src" W=1 C=2 modules
	else
		in_root "$KROOT" make -j"$(nproc)" -C "$KDIR" M="${tree#"$KROOT"}/src" W=1 C=2 \
			modules
	fi >"$log" 2>&1 || { cat "$log" >&2; rm -rf "$tree"; return 1; }
	if grep -iE 'warning:|error:|not available or not up to date' "$log" >&2; then
		say "build for $KVER has warnings (full log: $log)"
		rm -rf "$tree"
		return 1
	fi
	rm -f "$out"/*.ko
	cp "$tree"/src/*.ko "$out/"
	rm -rf "$tree"
}

# Builds the in-guest test programs as static binaries into $BUILD/tests/.
build_tests() {
	local t out=$BUILD/tests
	# A program that fails to build must not be replaced by its last build.
	rm -rf "$out"
	mkdir -p "$out"
	for t in "$TOP"/tests/lkm_*.c; do
		gcc -static -O2 -Wall -Wextra -Werror -pthread \
			-DLKMKIT_VERSION="\"$VERSION\"" -I"$TOP/include/uapi" \
			-o "$out/$(basename "$t" .c)" "$t" "$TOP/tests/lkmtest.c" ||
			return 1
	done
}

# ---------------------------------------------------------------- booting

# Packs $1 (an initramfs file) from the modules in $2/, the test programs,
# busybox and the guest's init, which reads its job from the kernel command
# line (lkmkit.mode=check|run|demo, lkmkit.modules=a,b).
pack_initramfs() {
	local img=$1 kos=$2 dir
	dir=$(dirname "$img")/initramfs
	rm -rf "$dir"
	mkdir -p "$dir"/{bin,dev,proc,sys,tmp,tests,lib/modules/lkmkit}
	cp /bin/busybox "$dir/bin/busybox"
	cp "$TOP/tests/guest-init" "$dir/init"
	chmod 755 "$dir/init"
	cp "$kos"/*.ko "$dir/lib/modules/lkmkit/"
	cp "$BUILD"/tests/lkm_* "$dir/tests/"
	(cd "$dir" && find . | cpio -o -H newc --quiet | gzip -1) >"$img"
}

# The command line every guest boots with: any warning, oops, hang or
# slab/KFENCE report is fatal, so a kernel bug cannot pass unnoticed.
boot_cmdline() {
	local cmd="console=ttyS0 panic=-1 panic_on_warn=1 oops=panic"
	cmd+=" softlockup_panic=1 hung_task_panic=1 panic_on_taint=0x20"
	cmd+=" slub_debug=FZPU"
	grep -q '^CONFIG_KFENCE=y' "$KCONFIG" 2>/dev/null &&
		cmd+=" kfence.sample_interval=10"
	echo "$cmd"
}

# qemu_boot INITRAMFS APPEND [QEMU ARGS...]: boots the kernel of kernel_setup,
# killed after $BOOT_TIMEOUT seconds when that is set.
qemu_boot() {
	local initrd=$1 append=$2
	shift 2
	${BOOT_TIMEOUT:+timeout "$BOOT_TIMEOUT"} qemu-system-x86_64 -m 1024 -smp 2 -no-reboot -nodefaults \
		-kernel "$VMLINUZ" -initrd "$initrd" \
		-append "$(boot_cmdline) $append" "$@"
}
