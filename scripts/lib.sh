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
# The debug kernel's detectors each have their words: KASAN, UBSAN,
# lockdep (its reports are no WARN, so panic_on_warn lets them pass),
# debugobjects (ODEBUG) and kmemleak.
console_clean() {
	! grep -nE 'BUG:|WARNING:|Oops|KFENCE|Call Trace|Kernel panic|general protection|list_(add|del) corruption|Poison overwritten|Redzone|Object padding|KASAN|UBSAN|ODEBUG|possible (circular|recursive) locking|inconsistent lock state|irq lock inversion|suspicious RCU usage|lock held when returning|held lock freed|bad unlock balance|unreferenced object|suspected memory leak|blocked for more than' "$1" >&2
}

# The stack dumps that fault injection provokes on purpose (failslab's and
# fail_page_alloc's own, verbose=2, and the allocation-failure warnings
# that follow an injected failure) are no kernel problem: strip_provoked
# LOG prints LOG without their dump lines (CPU:, Hardware name:, Call
# Trace:, the frames, up to </TASK>), one dump for each header line seen
# (two threads' dumps may follow two headers). Any other line stays, a
# report printed in between included.
strip_provoked() {
	awk '{ msg = $0; sub(/\r$/, "", msg); sub(/^\[ *[0-9.]+\] /, "", msg) }
		msg ~ /FAULT_INJECTION: forcing a failure|vmalloc error: |page allocation failure: / {
			dumps++; print; next }
		dumps && msg ~ /^(CPU: |Tainted: |Hardware name: |Call Trace:| <\/?TASK>$| (\? )?[A-Za-z0-9_.]+\+0x[0-9a-f]+\/0x[0-9a-f]+( \[[A-Za-z0-9_]+\])?$)/ {
			if (msg ~ /<\/TASK>/) dumps--; next }
		{ print }' "$1"
}

# early_crash LOG: the guest kernel died while booting, before any lkmkit
# module was loaded or test ran: a kernel problem line with no lkm_ line
# before it. Seen with 7.2 under software emulation ("Oops: int3" in
# sched_clock_cpu as the boot patches its static keys), or init_watch
# killed it: such a boot tells nothing about lkmkit, and is run again
# once, openly.
early_crash() {
	awk '/[Cc]ommand line:/ { next }
		/lkm_/ { exit }
		/BUG:|WARNING:|Oops|Kernel panic|^lkmkit harness: (no init process|the guest ended)/ {
			crash = 1; exit
		}
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
	say "   the kernel crashed or hung while booting, before any lkmkit code ran" \
		"(log: $log.early-crash); booting again"
	"$@"
}

# Taint bits other than O (4096, out-of-tree) and E (8192, unsigned) fail.
taint_ok() {
	[ $(($1 & ~(4096 | 8192))) -eq 0 ]
}

# logged LOG COMMAND...: COMMAND's output to $LOGS/LOG, shown on failure.
logged() {
	local log=${LOGS:?}/$1
	shift
	"$@" >"$log" 2>&1 || { cat "$log" >&2; return 1; }
}

# git_tree DIR: whether DIR is the top of a git checkout (not a directory
# inside one, such as an unpacked tarball under build/).
git_tree() {
	[ "$(git -C "$1" rev-parse --show-toplevel 2>/dev/null)" = "$1" ]
}

# ---------------------------------------------------------------- packages

pkg_installed() {
	[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

# Installs the named Debian packages that are missing (needs root). Jobs
# side by side take turns: apt-get update and install lock apt's lists and
# dpkg, and a second job would fail rather than wait.
need_pkgs() {
	local missing=() p
	for p in "$@"; do
		pkg_installed "$p" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "missing packages (run as root to install): ${missing[*]}"
	mkdir -p "$LKM_CACHE"
	(
		flock 9
		missing=()
		for p in "$@"; do
			pkg_installed "$p" || missing+=("$p")
		done
		[ ${#missing[@]} -eq 0 ] && exit 0
		install_pkgs "${missing[@]}"
	) 9>"$LKM_CACHE/apt.lock" || exit 1
}

install_pkgs() {
	local log
	say "installing: $*"
	# dpkg's progress is noise in a test run: shown only on failure.
	log=$(mktemp)
	if [ -z "${LKM_APT_UPDATED:-}" ]; then
		apt-get update -qq >"$log" 2>&1 ||
			{ cat "$log" >&2; rm -f "$log"; die "apt-get update failed"; }
		export LKM_APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
		--no-install-recommends "$@" </dev/null >"$log" 2>&1 ||
		{ cat "$log" >&2; rm -f "$log"; die "apt-get install $* failed"; }
	rm -f "$log"
}

host_tools() {
	need_pkgs make gcc gcc-multilib libc6-dev kmod cpio gzip xz-utils busybox-static \
		qemu-system-x86 sparse shellcheck tmux gnuplot-nox mandoc man-db bash-completion "$@"
}

# Prints the path of checkpatch.pl, taken once from Debian's kernel source
# into the machine's cache (unpacking it from the 140 MB tarball costs
# 10 s of CPU, which a fresh clone paid each run).
checkpatch() {
	local tarball pkg dir
	need_pkgs linux-source || return 1
	tarball=$(ls /usr/src/linux-source-*.tar.xz | sort -V | tail -1)
	pkg=$(basename "$tarball" .tar.xz)
	dir=$LKM_CACHE/checkpatch/$pkg-$(dpkg-query -W -f='${Version}' "$pkg") || return 1
	mkdir -p "$LKM_CACHE/checkpatch"
	(
		flock 9
		[ -f "$dir.ready" ] && exit 0
		rm -rf "$dir" && mkdir -p "$dir" &&
			tar -xJf "$tarball" -C "$dir" --strip-components=1 --wildcards \
				'*/scripts/checkpatch.pl' '*/scripts/spelling.txt' \
				'*/scripts/const_structs.checkpatch' &&
			touch "$dir.ready"
	) 9>"$LKM_CACHE/checkpatch/lock" || return 1
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

# This machine's apt source files: /etc/apt/sources.list (a Debian
# installer writes it) and /etc/apt/sources.list.d/*.sources (deb822).
host_sources() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources; do
		[ ! -s "$f" ] || echo "$f"
	done
}

# release_sources RELEASE DIR: DIR's apt sources are this machine's, its
# codename replaced by RELEASE (so RELEASE, -updates and -security, in
# either format), and RELEASE-backports.
release_sources() {
	local host f
	host=$(. /etc/os-release && echo "$VERSION_CODENAME")
	[ -n "$host" ] || { say "no VERSION_CODENAME in /etc/os-release"; return 1; }
	rm -f "$2/etc/apt/sources.list"
	host_sources | while read -r f; do
		sed "s/\b$host\b/$1/g" "$f" >"$2$f" || return 1
	done || return 1
	echo "deb $(debian_mirror) $1-backports main" \
		>"$2/etc/apt/sources.list.d/$1-backports.list"
}

# Build roots for kernels this Debian 12 host has no headers for, cached
# between runs under $LKM_CACHE: one chroot per Debian suite, refreshed
# once a day. The cache is machine-wide, so that every checkout on the
# machine (CI runs in a fresh clone) reuses it; make clean keeps it, make
# distclean removes it.
LKM_CACHE=${LKM_CACHE:-/var/cache/lkmkit}

# minbase_copy SUITE DIR [ARCH]: DIR becomes a copy of a pristine
# `debootstrap --variant=minbase --arch=ARCH SUITE` (amd64 unless given),
# made once (and again after a week) under $LKM_CACHE/minbase/: a suite's
# build root and the packaging test's system of that release are both
# copies, so each release is debootstrapped once, not once per use.
minbase_copy() {
	local suite=$1 arch=${3:-amd64} name dir mirror
	name=$(arch_name "$suite" "$arch")
	dir=$LKM_CACHE/minbase/$name
	mkdir -p "$LKM_CACHE/minbase"
	(
		flock 9
		[ -z "$(find "$dir.ready" -mtime +7 2>/dev/null)" ] || rm -f "$dir.ready"
		if [ ! -f "$dir.ready" ]; then
			need_pkgs debootstrap
			foreign_arch "$arch" || exit 1
			mirror=$(debian_mirror)
			say "debootstrapping $name (minbase, one to three minutes)"
			rm -rf "$dir"
			debootstrap --arch="$arch" --variant=minbase "$suite" "$dir" "$mirror" \
				>"$dir.log" 2>&1 || { tail -20 "$dir.log" >&2; exit 1; }
			touch "$dir.ready"
		fi
		rm -rf "$2" && cp -a "$dir" "$2"
	) 9>"$LKM_CACHE/minbase/$name.lock"
}

# arch_name NAME ARCH: the cache's name of NAME's ARCH variant: NAME itself
# for amd64, this machine's own, and NAME-ARCH for another.
arch_name() {
	if [ "$2" = amd64 ]; then echo "$1"; else echo "$1-$2"; fi
}

# arch_facts ARCH: what differs between the architectures of tests/kernels,
# in one place: QARCH (QEMU's name of ARCH), QPKG (the Debian package of its
# system emulator), QMACHINE (the emulated machine and CPU), QCONSOLE (the
# guest's serial console), QKTAP (the device of the guest's second line,
# guest-init's KTAP channel: the second UART, or a virtio console on a
# machine with one UART). arm64: QEMU's virt machine with every feature of its "max" CPU
# (the 16K-page kernels need it), pointer authentication in QEMU's own
# cheap algorithm rather than the architected one, which costs the
# emulated guest dearly.
arch_facts() {
	case $1 in
	amd64) QARCH=x86_64 QPKG=qemu-system-x86 QMACHINE=() QCONSOLE=ttyS0 QKTAP=ttyS1 ;;
	arm64)
		QARCH=aarch64 QPKG=qemu-system-arm QCONSOLE=ttyAMA0 QKTAP=hvc0
		QMACHINE=(-M virt -cpu "max,pauth-impdef=on")
		;;
	*) say "no architecture $1 in arch_facts"; return 1 ;;
	esac
}

# foreign_arch ARCH: this machine runs ARCH's programs, as a build root of
# ARCH needs: through qemu-user-static, whose binfmt_misc handler (with
# the F flag, so that it works inside chroots) is registered here when
# the system did not do it (a container's init does not). Nothing to do
# for amd64.
foreign_arch() {
	local q fs=/proc/sys/fs/binfmt_misc
	[ "$1" != amd64 ] || return 0
	arch_facts "$1" || return 1
	q=$QARCH
	[ -e "$fs/qemu-$q" ] && return
	need_pkgs qemu-user-static
	[ -e "$fs/register" ] || mount -t binfmt_misc binfmt_misc "$fs" ||
		{ say "cannot mount binfmt_misc"; return 1; }
	# Two jobs may register at once: the second's write fails.
	cat "/usr/lib/binfmt.d/qemu-$q.conf" >"$fs/register" 2>/dev/null
	[ -e "$fs/qemu-$q" ] || { say "cannot register qemu-$q-static with binfmt_misc"; return 1; }
}

# suite_root SUITE [ARCH]: prints the path of the suite's chroot of ARCH
# (amd64 unless given), creating or refreshing it first; several runs at
# once wait for each other. A release's root has the apt sources of
# release_sources (its -updates, -security and -backports: Debian 12's
# 6.12 comes from -security); sid's has sid alone, experimental's sid and
# experimental.
suite_root() {
	local suite=$1 arch=${2:-amd64} name root base
	name=$(arch_name "$suite" "$arch")
	root=$LKM_CACHE/roots/$name
	base=${suite%-backports}
	base=${base/experimental/sid}
	mkdir -p "$LKM_CACHE/roots"
	(
		flock 9
		foreign_arch "$arch" || exit 1
		if [ ! -f "$root/.lkmkit-ready" ]; then
			say "creating the $name build root (a few minutes)"
			minbase_copy "$base" "$root" "$arch" || exit 1
			if [ "$base" != sid ]; then
				release_sources "$base" "$root"
			elif [ "$suite" != sid ]; then
				echo "deb $(debian_mirror) $suite main" \
					>"$root/etc/apt/sources.list.d/$suite.list"
			fi || exit 1
			refresh_root "$root" "$suite" "$arch" || exit 1
		elif [ -n "$(find "$root/.lkmkit-ready" -mmin +1440)" ]; then
			say "refreshing the $name build root (once a day)"
			refresh_root "$root" "$suite" "$arch" || exit 1
		fi
	) 9>"$LKM_CACHE/roots/$name.lock" || return 1
	echo "$root"
}

# refresh_root ROOT SUITE ARCH brings a suite root up to date, so that a
# new kernel in the suite is seen: the build tools from the release itself,
# and from the suite the headers metapackage of every tests/kernels line of
# ARCH built in this root; a root of another architecture than this
# machine's also has busybox-static, for its guests' initramfs.
refresh_root() {
	local root=$1 suite=$2 arch=$3 headers target apt build=(gcc make libc6-dev sparse)
	mapfile -t headers < <(awk -v s="$suite" -v a="$arch" \
		'$1 !~ /^#/ && $2 == s && $5 == a { print "linux-headers-" $3 }' \
		"$TOP/tests/kernels" | sort -u)
	[ ${#headers[@]} -gt 0 ] || headers=("linux-headers-$arch")
	[ "$arch" = amd64 ] || build+=(busybox-static)
	# The headers of a backports or experimental line come from that suite,
	# those of a release's from the release and its updates, the newest.
	target=
	[[ $suite != *-backports && $suite != experimental ]] || target=$suite
	# The mirror may be a dated snapshot whose Release files have expired.
	# The downloaded packages stay (autoclean drops those the suite no
	# longer has): the packaging test of the release installs the same.
	# The headers pull in their kernel image, whose initramfs nothing here
	# boots (INITRD=No): under qemu-user, an arm64 root took over ten
	# minutes making one.
	apt=(in_root "$root" env DEBIAN_FRONTEND=noninteractive INITRD=No apt-get -y -qq)
	{
		in_root "$root" apt-get update -qq -o Acquire::Check-Valid-Until=false &&
			"${apt[@]}" upgrade &&
			"${apt[@]}" --no-install-recommends install "${build[@]}" &&
			"${apt[@]}" ${target:+-t "$target"} install "${headers[@]}" &&
			in_root "$root" apt-get -qq autoclean
	} >"$root.refresh.log" 2>&1 || { tail -20 "$root.refresh.log" >&2; return 1; }
	sparse_from_sid "$root" || return 1
	touch "$root/.lkmkit-ready"
}

# sparse_from_sid ROOT: newer kernels (7.3 is one) use __typeof_unqual__ under
# sparse too (compiler_types.h), which the sparse of Debian 13 (0.6.4)
# cannot parse: each of its errors fails the build. A root whose own sparse
# fails so runs sid's instead (0.6.5~rc1 today, linked against libc alone),
# from /usr/local/bin, ahead of /usr/bin in PATH: the package of the root's
# architecture, which the root's apt downloads with a source list of sid
# alone and package lists of its own, so that nothing else in the root
# ever sees sid. Where sid's does not run (Debian 12's glibc is too old
# for it) the root's own stays: Debian 12's kernels, 6.1 and 6.12, do not
# use __typeof_unqual__ under sparse, and a kernel that does fails its
# build on sparse's errors, visibly.
sparse_from_sid() {
	local root=$1 probe=/tmp/lkmkit-typeof-unqual.c out apt deb
	echo 'int f(void) { const int a = 1; return (__typeof_unqual__(a))a; }' >"$root$probe"
	# sparse exits 0 even on errors: judge by what it prints.
	out=$(chroot "$root" /usr/bin/sparse "$probe" 2>&1)
	if ! grep -q error <<<"$out"; then
		rm -f "$root/usr/local/bin/sparse" "$root$probe"
		return 0
	fi
	apt=(apt-get -qq -o APT::Sandbox::User=root -o Acquire::Check-Valid-Until=false
		-o Dir::Etc::SourceList=/etc/apt/lkmkit-sid.list
		-o Dir::Etc::SourceParts=/etc/apt/lkmkit-sid.list.d
		-o Dir::State::Lists=/var/lib/apt/lkmkit-sid-lists)
	mkdir -p "$root/etc/apt/lkmkit-sid.list.d" "$root/var/lib/apt/lkmkit-sid-lists/partial" \
		"$root/tmp/lkmkit-sparse"
	echo "deb $(debian_mirror) sid main" >"$root/etc/apt/lkmkit-sid.list"
	rm -f "$root"/tmp/lkmkit-sparse/*.deb
	in_root "$root" "${apt[@]}" update &&
		in_root "$root" sh -c 'cd /tmp/lkmkit-sparse && "$@" download sparse' - "${apt[@]}" &&
		deb=$(ls "$root"/tmp/lkmkit-sparse/sparse_*.deb) &&
		dpkg -x "$deb" "$root/tmp/lkmkit-sparse/x" &&
		install -m 755 "$root/tmp/lkmkit-sparse/x/usr/bin/sparse" "$root/usr/local/bin/sparse" &&
		out=$(chroot "$root" /usr/local/bin/sparse "$probe" 2>&1) &&
		! grep error <<<"$out" >&2 ||
		{
			say "sid's sparse does not run in $root: its own stays"
			rm -f "$root/usr/local/bin/sparse"
		}
	rm -rf "$root$probe" "$root/tmp/lkmkit-sparse"
}

# in_root ROOT COMMAND...: runs a command in a chroot with /proc mounted
# (objtool needs it), unmounting it however the command ends.
# The mount is the command's own (a mount namespace of its own), so that
# jobs side by side in one root neither share nor unmount each other's.
in_root() {
	unshare --mount --propagation private sh -c \
		'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"' "$@"
}

# The tools a release builds its packages with, in a build root.
DEB_TOOLS=(build-essential dpkg-dev debhelper dh-dkms fakeroot lintian)

# deb_tools ROOT SUITE: the release's own tools, not backports', in the
# suite's build root, under its lock (a kernel's job may be refreshing it).
deb_tools() {
	(
		flock 9 &&
			in_root "$1" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				-o DPkg::Lock::Timeout=600 --no-install-recommends "${DEB_TOOLS[@]}"
	) 9>"$LKM_CACHE/roots/$2.lock"
}

# deb_in_root SUITE OUT: the source package and the .debs built from the
# release tarball by dpkg-buildpackage in the build root of SUITE (its
# release's own debhelper and dpkg), into OUT/.
deb_in_root() {
	local root dir
	root=$(suite_root "$1") && deb_tools "$root" "$1" || return 1
	dir=$(mktemp -d "$root/tmp/lkmkit-deb.XXXXXX")
	tar -xzf "$BUILD/lkmkit-$VERSION.tar.gz" -C "$dir" &&
		in_root "$root" sh -c "cd '${dir#"$root"}/lkmkit-$VERSION' && dpkg-buildpackage -us -uc" &&
		rm -rf "$2" && mkdir -p "$2" && find "$dir" -maxdepth 1 -type f -exec cp {} "$2/" \;
	local ret=$?
	rm -rf "$dir"
	return $ret
}

# ---------------------------------------------------------------- matrix

# matrix STAGE...: prints "name root meta" for each kernel of the matrix
# in one of the STAGEs (check, compile, next) that $KERNELS and $ARCHS
# select (all when empty; names separated by spaces or commas).
matrix() {
	local want=" ${KERNELS:+${KERNELS//,/ }} " archs=" ${ARCHS:+${ARCHS//,/ }} "
	local stages=" $* " name root meta stage arch
	while read -r name root meta stage arch; do
		case $name in '' | '#'*) continue ;; esac
		[[ $stages == *" $stage "* ]] || continue
		[ -z "${KERNELS:-}" ] || [[ $want == *" $name "* ]] || continue
		[ -z "${ARCHS:-}" ] || [[ $archs == *" $arch "* ]] || continue
		echo "$name $root $meta"
	done <"$TOP/tests/kernels"
}

# kernel_stage NAME, kernel_arch NAME: the stage and the architecture of
# NAME's line in tests/kernels (kernel_column NAME N: its Nth column).
kernel_column() {
	awk -v n="$1" -v c="$2" '$1 == n { print $c; exit }' "$TOP/tests/kernels"
}
kernel_stage() { kernel_column "$1" 4; }
kernel_arch() { kernel_column "$1" 5; }

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

# Dies unless every name in KERNELS, ARCHS and MODULES names a kernel or
# an architecture of tests/kernels and a module of src/: a typo must not
# quietly select less.
check_selection() {
	local k ks=${KERNELS:-} as=${ARCHS:-} known
	known=$(awk '$1 !~ /^#/ && NF { print $1 }' "$TOP/tests/kernels")
	for k in ${ks//,/ }; do
		grep -qx -- "$k" <<<"$known" ||
			die "no kernel $k in tests/kernels (have: $(echo $known))"
	done
	known=$(awk '$1 !~ /^#/ && NF { print $5 }' "$TOP/tests/kernels" | sort -u)
	for k in ${as//,/ }; do
		grep -qx -- "$k" <<<"$known" ||
			die "no architecture $k in tests/kernels (have: $(echo $known))"
	done
	modules >/dev/null
}

# kernel_version ROOT META: the exact version of a matrix line's Debian
# kernel, read from its headers metapackage without installing anything
# (a suite's build root is made if it is missing); empty for a kernel the
# project builds itself.
kernel_version() {
	local deps kroot
	case $1 in
	build) return 0 ;;
	host)
		if pkg_installed "linux-headers-$2"; then
			deps=$(dpkg-query -W -f='${Depends}' "linux-headers-$2")
		else
			deps=$(apt-cache show --no-all-versions "linux-headers-$2" 2>/dev/null |
				sed -n 's/^Depends: //p')
		fi
		;;
	*)
		kroot=$(suite_root "$1") || return 1
		deps=$(chroot "$kroot" dpkg-query -W -f='${Depends}' "linux-headers-$2")
		;;
	esac
	deps=$(grep -o 'linux-headers-[^ ,]*' <<<"$deps" | head -1)
	echo "${deps#linux-headers-}"
}

# newer_kernel A B: version A is newer than B, by their upstream part
# (6.1.0-40-amd64 is 6.1.0, 7.3.4+deb13-amd64 is 7.3.4, 7.4-rc3 is 7.4,
# older than 7.4.0).
newer_kernel() {
	local a=${1%%[-+~]*} b=${2%%[-+~]*}
	[ "$a" != "$b" ] && [ "$(printf '%s\n%s\n' "$a" "$b" | sort -V | tail -1)" = "$a" ]
}

# newest_kernel [all]: prints "version name root meta" of the newest
# kernel by version among the amd64 "check" lines that $KERNELS selects,
# of Debian's generic flavour (meta amd64 or X.Y-amd64; with "all", of any
# flavour and of every amd64 line); the first such line on a tie.
newest_kernel() {
	local name root meta v best=
	while read -r name root meta; do
		[ "$(kernel_arch "$name")" = amd64 ] || continue
		[ "${1:-}" = all ] || [[ $meta =~ ^([0-9.]+-)?amd64$ ]] || continue
		v=$(kernel_version "$root" "$meta") || return 1
		[ -n "$v" ] || continue
		[ -n "$best" ] && ! newer_kernel "$v" "${best%% *}" ||
			best="$v $name $root $meta"
	done < <(if [ "${1:-}" = all ]; then KERNELS='' matrix check; else matrix check; fi)
	[ -n "$best" ] && echo "$best"
}

# kmemleak_ran KTAP-LOG MODULES: the guest scanned after the programs,
# each of MODULES (comma-separated) among them, and reported its count;
# ktap.awk judges what the scans found.
kmemleak_ran() {
	local m who
	who=$(grep -v '^# lkmkit: kmemleak scans ' "$1" |
		sed -n 's/^# lkmkit: kmemleak \([^ ]*\) [0-9]*\r*$/\1/p' | tail -1)
	for m in ${2//,/ }; do
		[[ ,$who, == *,$m,* ]] ||
			{ say "no kmemleak scan after $m (log: $1)"; return 1; }
	done
}

# has_options KCONFIG OPTION...: the kernel has every option =y ("-": none).
has_options() {
	local config=$1 o
	shift
	for o in "$@"; do
		[ "$o" = - ] || grep -qx "$o=y" "$config" || return 1
	done
}

# reliability_programs KCONFIG check|soak: the programs of tests/reliability
# that this kernel has the options for ($PROGRAMS picks some), with their
# figures of make check or of make soak, as guest-init takes them:
# NAME:ARG,... ("-s N" for faults' "N"; nothing for "all" or "-").
reliability_programs() {
	local name check soak needs arg list=
	while read -r name check soak needs; do
		case $name in '' | '#'*) continue ;; esac
		[ -z "${PROGRAMS:-}" ] || [[ ,$PROGRAMS, == *,$name,* ]] || continue
		# shellcheck disable=SC2086 # needs is a list
		has_options "$1" $needs || continue
		arg=$check
		[ "$2" = check ] || arg=$soak
		case $name:$arg in
		*:all | *:-) arg= ;;
		faults:*) arg=-s:$arg ;;
		esac
		list+=${list:+,}$name${arg:+:$arg}
	done <"$TOP/tests/reliability"
	echo "$list"
}

# Sets KROOT (filesystem root holding the headers), KVER (exact version),
# KDIR (headers, inside KROOT), VMLINUZ and KCONFIG for one matrix line,
# installing the packages it needs first (building the kernel, for root
# "build"); KAPPEND (more of the kernel command line) and KMEM (the
# guest's memory, MiB); KARCH (the line's architecture), and BUSYBOX and
# TESTS, the busybox and the test programs' directory its initramfs takes.
kernel_setup() {
	local root=$2 meta=$3 dir
	KAPPEND=
	KMEM=1024
	KARCH=$(kernel_arch "$1")
	arch_facts "$KARCH" || return 1
	BUSYBOX=/bin/busybox
	TESTS=$BUILD/tests
	if [ "$KARCH" != amd64 ]; then
		[ "$root" != host ] && [ "$root" != build ] ||
			{ say "kernel $1: an $KARCH line needs a suite's root, not $root"; return 1; }
		need_pkgs "$QPKG" || return 1
	fi
	case $root in
	host)
		KROOT=/
		need_pkgs "linux-image-$meta" "linux-headers-$meta"
		KVER=$(dpkg-query -W -f='${Depends}' "linux-headers-$meta" |
			grep -o 'linux-headers-[^ ,]*' | head -1)
		KVER=${KVER#linux-headers-}
		KDIR=/usr/src/linux-headers-$KVER
		VMLINUZ=/boot/vmlinuz-$KVER
		KCONFIG=/boot/config-$KVER
		;;
	build)
		dir=$("$TOP/scripts/debug-kernel" "$TOP/tests/$meta.config") || return 1
		KROOT=/
		KDIR=$dir/build
		KVER=$(cat "$KDIR/include/config/kernel.release")
		VMLINUZ=$dir/bzImage
		KCONFIG=$KDIR/.config
		# A KASAN report ends the run as an oops does; every message
		# reaches the serial console, whatever a test set with dmesg -n.
		# 512 MiB: KASAN's shadow (an eighth), its quarantine (a
		# thirty-second) and kmemleak's objects fit, and each kmemleak scan
		# reads all of memory's struct pages and the shadow (x86's KASAN
		# allocates it from memblock, which registers it with kmemleak): a
		# scan, some 19 in a run, took 23 s against 31 s at 1 GiB.
		KAPPEND="kasan.fault=panic ignore_loglevel"
		KMEM=512
		;;
	*)
		KROOT=$(suite_root "$root" "$KARCH") || return 1
		if [ "$KARCH" != amd64 ]; then
			BUSYBOX=$KROOT/bin/busybox
			TESTS=$BUILD/tests-$KARCH
		fi
		KVER=$(chroot "$KROOT" dpkg-query -W -f='${Depends}' "linux-headers-$meta" |
			grep -o 'linux-headers-[^ ,]*' | head -1)
		KVER=${KVER#linux-headers-}
		KDIR=/usr/src/linux-headers-$KVER
		[ -n "$KVER" ] && kernel_image "$KROOT" "$KVER" || return 1
		;;
	esac
	[ -n "$KVER" ] && [ -d "$KROOT$KDIR" ] && [ -f "$VMLINUZ" ] || {
		say "kernel $1: no headers or image for linux-headers-$meta ($KVER)"
		return 1
	}
	ktap_drivers
}

# ktap_drivers: sets KPRELOAD, the kernel's own modules that the guest
# loads first (in this order) for its KTAP channel where its kernel has the
# drivers as modules: Debian's arm64 6.1 has virtio_pci and virtio_console
# so, 6.12 and later have them built in.
ktap_drivers() {
	local tree=$LKM_CACHE/kernels/$KVER m want=()
	KPRELOAD=()
	[ "${QKTAP:-}" = hvc0 ] || return 0
	for m in virtio_pci virtio_console; do
		! grep -qx "CONFIG_${m^^}=m" "$KCONFIG" || want+=("$m")
	done
	[ ${#want[@]} -gt 0 ] || return 0
	tree=$(ls -d "$tree"/lib/modules/"$KVER" "$tree"/usr/lib/modules/"$KVER" 2>/dev/null | head -1)
	mapfile -t KPRELOAD < <(kernel_modules "$tree" "${want[@]}" | awk '!seen[$0]++')
	[ ${#KPRELOAD[@]} -ge ${#want[@]} ] || { say "no ${want[*]} in $tree"; return 1; }
}

# kernel_modules DIR NAME...: the paths of the modules NAME... of the
# kernel module tree DIR, each after those it depends on (modinfo's
# "depends": the tree of an unpacked package has no modules.dep).
kernel_modules() {
	local dir=$1 m path dep
	shift
	for m in "$@"; do
		path=$(find "$dir" -name "$m.ko" | head -1)
		[ -n "$path" ] || { say "no module $m in $dir"; return 1; }
		for dep in $(modinfo -F depends "$path" | tr , ' '); do
			kernel_modules "$dir" "$dep" || return 1
		done
		echo "$path"
	done
}

# kernel_image ROOT KVER: takes the kernel image and config of KVER out of
# its packages (downloaded with ROOT's apt, never installed) into the cache;
# sets VMLINUZ and KCONFIG. Debian's 6.18 and later kernels split the image
# into linux-binary-KVER (vmlinuz) and linux-base-KVER (config).
kernel_image() {
	local root=$1 kver=$2 dir=$LKM_CACHE/kernels/$2 pkgs deb
	VMLINUZ=$dir/usr/lib/modules/$kver/vmlinuz
	KCONFIG=$dir/usr/lib/modules/$kver/config
	[ -f "$VMLINUZ" ] && return
	mkdir -p "$LKM_CACHE/kernels"
	# Jobs side by side may want the same kernel: one fetches it.
	(
		flock 9
		if [ ! -f "$VMLINUZ" ]; then
			pkgs="linux-binary-$kver linux-base-$kver"
			chroot "$root" apt-cache show "linux-binary-$kver" >/dev/null 2>&1 ||
				pkgs="linux-image-$kver"
			rm -rf "$dir"
			mkdir -p "$dir"
			# Into the root's apt cache, where they stay: the packaging test's
			# system of the same release installs this kernel from there.
			# shellcheck disable=SC2086
			chroot "$root" sh -c "cd /var/cache/apt/archives && apt-get download -qq -o APT::Sandbox::User=root $pkgs" >&2 ||
				{ say "cannot download $pkgs"; exit 1; }
			for deb in $pkgs; do
				dpkg -x "$(ls "$root/var/cache/apt/archives/${deb}"_*.deb | tail -1)" "$dir" ||
					exit 1
			done
			# The older layout: /boot/vmlinuz-KVER and /boot/config-KVER.
			mkdir -p "$(dirname "$VMLINUZ")"
			[ -f "$VMLINUZ" ] || ln -sf "$dir/boot/vmlinuz-$kver" "$VMLINUZ"
			[ -f "$KCONFIG" ] || ln -sf "$dir/boot/config-$kver" "$KCONFIG"
		fi
	) 9>"$LKM_CACHE/kernels/$kver.lock" && [ -f "$VMLINUZ" ]
}

# ---------------------------------------------------------------- building

# Newer kernels' Makefiles run scripts/checker-valid.sh before sparse and
# quietly skip sparse without it; Debian's headers lack the script.
provide_checker_valid() {
	local srctree
	srctree=$(sed -n 's/^include \(\/.*\)\/Makefile$/\1/p' "$KROOT$KDIR/Makefile" | head -1)
	srctree=$KROOT${srctree:-$KDIR}
	if grep -q checker-valid.sh "$srctree/Makefile" &&
		[ ! -e "$srctree/scripts/checker-valid.sh" ]; then
		# Two flavours' jobs share the common headers: one installs it.
		install -m 755 "$TOP/scripts/checker-valid.sh" "$srctree/scripts/" 2>/dev/null ||
			[ -e "$srctree/scripts/checker-valid.sh" ]
	fi
}

# inputs_key COMMAND...: a key for a build whose inputs COMMAND prints
# (file hashes, versions, package lists, the code that builds).
inputs_key() {
	"$@" | sha256sum | cut -c1-16
}

# built_cached KEY DIR: DIR gets the files of an earlier build with the
# same KEY, from $LKM_CACHE/builds/ (a build that failed or warned is never
# stored there), and DIR/cached says when it was built.
# cache_built KEY FILE... stores the files under KEY. Builds unused for a
# week go.
built_cached() {
	local c=$LKM_CACHE/builds/$1
	[ -f "$c/.complete" ] || return 1
	mkdir -p "$2" && cp "$c"/* "$2/" && touch "$c/.complete" &&
		date -r "$c" '+%F %R' >"$2/cached"
}
cache_built() {
	local c=$LKM_CACHE/builds/$1
	mkdir -p "$LKM_CACHE/builds"
	find "$LKM_CACHE/builds" -mindepth 2 -maxdepth 2 -name .complete -mtime +7 \
		-printf '%h\0' | xargs -0r rm -rf
	shift
	rm -rf "$c.tmp" && mkdir -p "$c.tmp" && cp "$@" "$c.tmp/" && touch "$c.tmp/.complete" &&
		rm -rf "$c" && mv "$c.tmp" "$c"
}

# The inputs of build_modules for the kernel of kernel_setup: the sources
# it copies, the kernel's headers, every package of the root that builds
# (its compiler, sparse, the headers), sid's sparse where it runs, and the
# code.
modules_inputs() {
	(cd "$TOP" && find src include VERSION -type f -print0 | LC_ALL=C sort -z |
		xargs -0 sha256sum) &&
		echo "$KVER $KROOT $KDIR" &&
		chroot "$KROOT" dpkg-query -W &&
		{ [ ! -f "$KROOT$KDIR/.config" ] || sha256sum "$KROOT$KDIR/.config"; } &&
		{ [ ! -f "$KROOT/usr/local/bin/sparse" ] || sha256sum "$KROOT/usr/local/bin/sparse"; } &&
		declare -f build_modules provide_checker_valid
}

# Builds every module for the kernel set up by kernel_setup into $1/, with
# W=1 and sparse (C=2). Prints the log on failure; any compiler, sparse or
# modpost warning fails. A build of the same inputs (modules_inputs) that
# passed before is taken from the cache instead: under qemu-user an arm64
# build takes a minute of CPU.
build_modules() {
	local out=$1 tree log key
	key=modules-$(inputs_key modules_inputs) || return 1
	rm -f "$out/cached"
	built_cached "$key" "$out" && return
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
	cache_built "$key" "$out"/*.ko "$log"
}

# once_per_run STAMP WHAT COMMAND...: COMMAND once for the jobs of one make
# check (the same LKM_RUN) that need it side by side: the first runs it,
# the others wait for it and take its result (a failure too, saying so,
# WHAT naming it). STAMP.lock and STAMP hold the turn and the result.
# Without LKM_RUN (a stage script run alone) it runs.
once_per_run() {
	local stamp=$1 what=$2
	shift 2
	[ -n "${LKM_RUN:-}" ] || { "$@"; return; }
	mkdir -p "$(dirname "$stamp")"
	(
		flock 9
		case $(cat "$stamp" 2>/dev/null) in
		"$LKM_RUN ok") exit 0 ;;
		"$LKM_RUN failed") say "$what failed in another job"; exit 1 ;;
		esac
		if "$@"; then
			echo "$LKM_RUN ok" >"$stamp"
		else
			echo "$LKM_RUN failed" >"$stamp"
			exit 1
		fi
	) 9>"$stamp.lock"
}

# modules_once DIR: build_modules DIR once for the jobs of one make check
# that test one kernel side by side.
modules_once() {
	once_per_run "$1/built.run" "the build for $KVER (log: $1/build.log)" build_modules "$1"
}

# The module tests that also run as 32-bit programs (NAME-32) on the
# guests whose kernel runs them (IA32_EMULATION): those of the modules
# with ioctls and file offsets, whose compat paths differ.
TESTS_32="lkm_chardev lkm_misc"

# build_tests [DIR [ARCH ROOT]]: builds the in-guest test programs as
# static binaries for ARCH (amd64 unless given; another by the gcc of
# ROOT, a build root of that architecture: Debian's cross compilers
# conflict with gcc-multilib) into DIR (by default $BUILD/tests/):
# every tests/*.c but the helpers' lkmtest.c, that is each module's tests
# (lkm_<module>.c) and the reliability programs (scripts/reliability);
# on amd64 those of $TESTS_32 again with -m32 as NAME-32 (gcc-multilib's
# i386 libraries), with 64-bit file offsets as any 32-bit program should.
build_tests() {
	local t name out=${1:-$BUILD/tests} arch=${2:-amd64} root=${3:-} src=$TOP cc=(gcc) dst key
	local flags=(-static -O2 -Wall -Wextra -Werror -pthread -DLKMKIT_VERSION="\"$VERSION\"")
	# A program that fails to build must not be replaced by its last build.
	rm -rf "$out"
	mkdir -p "$out"
	dst=$out
	if [ "$arch" != amd64 ]; then
		# Under qemu-user a build takes a minute and a half of CPU: one of
		# the same sources by the same root comes from the cache.
		key=tests-$(inputs_key tests_inputs "$root") || return 1
		built_cached "$key" "$out" && return
		# The sources in the root, the programs built there.
		src=$(mktemp -d "$root/tmp/lkmkit-tests.XXXXXX") || return 1
		mkdir -p "$src/out" "$src/include" "$src/utils"
		cp -r "$TOP/tests" "$src/"
		cp -r "$TOP/include/uapi" "$src/include/"
		cp "$TOP/utils/lkmctl.c" "$src/utils/"
		cc=(chroot "$root" gcc)
		dst=${src#"$root"}/out
		src=${src#"$root"}
	fi
	flags+=(-I"$src/include/uapi")
	for t in "$TOP"/tests/*.c; do
		name=$(basename "$t" .c)
		[ "$name" != lkmtest ] || continue
		"${cc[@]}" "${flags[@]}" -o "$dst/$name" "$src/tests/$name.c" "$src/tests/lkmtest.c" ||
			return 1
		[ "$arch" = amd64 ] && [[ " $TESTS_32 " == *" $name "* ]] || continue
		gcc -m32 -D_FILE_OFFSET_BITS=64 "${flags[@]}" -o "$out/$name-32" \
			"$t" "$TOP/tests/lkmtest.c" || return 1
	done
	# The control tool, for tests/ctl.c: the same source the package builds.
	"${cc[@]}" -static -O2 -Wall -Wextra -Werror -DLKMKIT_VERSION="\"$VERSION\"" \
		-I"$src/include/uapi" -o "$dst/lkmctl" "$src/utils/lkmctl.c" || return 1
	if [ "$arch" != amd64 ]; then
		mv "$root$dst"/* "$out/" && rm -rf "$root${dst%/out}" && cache_built "$key" "$out"/*
	fi
}

# tests_inputs ROOT: the inputs of build_tests in ROOT: the sources it
# compiles (tests/*.[ch], include/, lkmctl.c), VERSION, the root's packages
# and the code; not the rest of tests/ (the guests' scripts, the matrix).
tests_inputs() {
	(cd "$TOP" && find tests -maxdepth 1 -name '*.[ch]' -print0 &&
		find include utils/lkmctl.c VERSION -type f -print0) |
		LC_ALL=C sort -z | (cd "$TOP" && xargs -0 sha256sum) && chroot "$1" dpkg-query -W &&
		declare -f build_tests
}

# tests_once DIR ARCH ROOT: build_tests DIR ARCH ROOT once for the jobs of
# one make check that boot ARCH's kernels.
tests_once() {
	once_per_run "$1.run" "the $2 test programs' build" build_tests "$@"
}

# ---------------------------------------------------------------- booting

# Packs $1 (an initramfs file) from the modules in $2/, the test programs
# in $3/ (by default those of kernel_setup's TESTS; "" for none), busybox
# (kernel_setup's BUSYBOX, of the kernel's architecture) and the guest's
# init, which reads its job from the kernel command line
# (lkmkit.mode=check|reliability|plant|run|demo, lkmkit.modules=a,b).
pack_initramfs() {
	local img=$1 kos=$2 tests=${3-${TESTS:-$BUILD/tests}} dir n ko
	# Another architecture's programs are built when a boot needs them.
	if [ "${KARCH:-amd64}" != amd64 ] && [ "$tests" = "${TESTS:-}" ]; then
		tests_once "$TESTS" "$KARCH" "$KROOT" || return 1
	fi
	dir=$(dirname "$img")/initramfs
	rm -rf "$dir"
	mkdir -p "$dir"/{bin,dev,proc,sys,tmp,tests,lib/modules/lkmkit}
	cp "${BUSYBOX:-/bin/busybox}" "$dir/bin/busybox"
	cp "$TOP/tests/guest-init" "$dir/init"
	chmod 755 "$dir/init"
	cp "$kos"/*.ko "$dir/lib/modules/lkmkit/"
	# The kernel's own modules guest-init loads first, numbered in order.
	n=10
	for ko in ${KPRELOAD[@]+"${KPRELOAD[@]}"}; do
		mkdir -p "$dir/lib/modules/preload"
		cp "$ko" "$dir/lib/modules/preload/$n-$(basename "$ko")"
		n=$((n + 1))
	done
	[ -z "$tests" ] || cp "$tests"/* "$dir/tests/"
	(cd "$dir" && find . | cpio -o -H newc --quiet | gzip -1) >"$img"
}

# The command line every guest boots with: any warning, oops, hang or
# slab/KFENCE report is fatal, so a kernel bug cannot pass unnoticed.
boot_cmdline() {
	local cmd="console=${QCONSOLE:-ttyS0} panic=-1 panic_on_warn=1 oops=panic"
	cmd+=" softlockup_panic=1 hung_task_panic=1 panic_on_taint=0x20"
	# BOOT_PLAIN (make bench): allocations cost what they cost users.
	if [ -n "${BOOT_PLAIN:-}" ]; then
		cmd+=" kfence.sample_interval=0"
	else
		cmd+=" slub_debug=FZPU"
		grep -q '^CONFIG_KFENCE=y' "$KCONFIG" 2>/dev/null &&
			cmd+=" kfence.sample_interval=10"
	fi
	echo "$cmd${KAPPEND:+ $KAPPEND}"
}

# qemu_boot INITRAMFS APPEND [QEMU ARGS...]: boots the kernel of kernel_setup,
# killed after $BOOT_TIMEOUT seconds when that is set, and watched by
# init_watch when $BOOT_WATCH names the file its console goes to.
# The guest's serial lines are the QEMU ARGS' -serial options: the first
# its console, the second the KTAP channel (guest-init's lkmkit.ktap). A
# machine with one UART (arm64's virt) gets the second as a virtio console
# instead (QKTAP hvc0), on PCI: Debian's arm64 kernels have virtio-mmio
# as a module only.
qemu_boot() {
	local initrd=$1 append=$2 args=() serials=0
	shift 2
	arch_facts "${KARCH:-amd64}" || return 1
	while [ $# -gt 0 ]; do
		[ "$1" = -serial ] && serials=$((serials + 1))
		if [ "$1" = -serial ] && [ $serials -eq 2 ] && [ "$QKTAP" = hvc0 ]; then
			# shellcheck disable=SC2054 # QEMU's option values have commas
			args+=(-chardev "${2/#file:/file,id=ktap,path=}"
				-device virtio-serial-pci -device virtconsole,chardev=ktap)
			append+=" lkmkit.ktap=$QKTAP"
			shift 2
			continue
		fi
		args+=("$1")
		shift
	done
	${BOOT_WATCH:+init_watch "$BOOT_WATCH" "${BOOT_INIT_DEADLINE:-300}"} \
		${BOOT_TIMEOUT:+timeout "$BOOT_TIMEOUT"} "qemu-system-$QARCH" "${QMACHINE[@]}" \
		-m "${KMEM:-1024}" -smp 2 -no-reboot -nodefaults \
		-kernel "$VMLINUZ" -initrd "$initrd" \
		-append "$(boot_cmdline) $append" "${args[@]}"
}

# init_watch LOG DEADLINE COMMAND...: runs COMMAND, a guest whose console
# goes to LOG, and kills it when its kernel has not started init within
# DEADLINE seconds, saying so in LOG (a line early_crash knows). Seen with
# 7.3.4 under emulation on a loaded host: silence after "smp: Brought up
# 1 node, 2 CPUs", until the boot's timeout half an hour later. A kernel
# stuck before init tells nothing about lkmkit; it is booted again, and
# soon. Init starts within a minute even for the debug kernel on a busy
# host (the slowest seen: 63 s).
init_watch() {
	local log=$1 deadline=$2 pid start=$SECONDS
	shift 2
	"$@" &
	pid=$!
	while kill -0 "$pid" 2>/dev/null && ! grep -q 'Run /init as init process' "$log" 2>/dev/null; do
		if [ $((SECONDS - start)) -ge "$deadline" ]; then
			kill "$pid"
			wait "$pid"
			printf "\nlkmkit harness: no init process after %s s, guest killed\n" "$deadline" >>"$log"
			return 124
		fi
		sleep 1
	done
	wait "$pid" && return
	set -- $?
	# Seen with 7.2.13 under emulation: the console silent after "clocksource:
	# Switched to clocksource tsc" and QEMU gone (-no-reboot makes a triple
	# fault its end), where 7.2's boot patches its static keys.
	grep -q 'Run /init as init process' "$log" 2>/dev/null ||
		printf "\nlkmkit harness: the guest ended before its init process started\n" >>"$log"
	return "$1"
}

# ---------------------------------------------------------------- lanes

# Jobs run side by side, at most $LKM_JOBS at a time (by default two per
# CPU): a guest under emulation keeps a CPU busy only part of the time
# (its tests sleep, the debug kernel's delayed kobject releases and
# kmemleak's scans wait, udev settles), and so do apt and dkms. Three per
# CPU were slower: the same run took 29 minutes of CPU instead of 22 to
# 27, the guests thrashing each other's caches. A job is a shell function
# run in a subshell; what it says goes to its log, shown whole, under its
# name and time, when it ends; its results join ours.
LKM_JOBS=${LKM_JOBS:-$((2 * $(nproc)))}
declare -A job_of=()

# job NAME COMMAND...: starts COMMAND as job NAME once a lane is free.
job() {
	local name=$1 dir=$BUILD/jobs/${1// /-}
	shift
	while [ ${#job_of[@]} -ge "$LKM_JOBS" ]; do job_reap; done
	rm -rf "$dir"
	mkdir -p "$dir"
	(
		passed=0 failed=0 skipped=0 start=$SECONDS
		"$@"
		# The CPU time of the job's processes (times' second line).
		times >"$dir/times"
		echo "$passed $failed $skipped $((SECONDS - start)) $(cpu_seconds "$dir/times")" \
			>"$dir/counts"
	) >"$dir/log" 2>&1 </dev/null &
	job_of[$!]=$name
}

# cpu_seconds TIMES: user plus system seconds of the children, from the
# output of the times builtin ("0m1.250s 0m0.500s" on its second line).
cpu_seconds() {
	sed -n 2p "$1" | awk '{ t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] }
		printf "%d\n", t }'
}

# job_reap: waits for a job to end, shows its log and counts its results.
job_reap() {
	local pid name p f s t c dir
	wait -n -p pid
	name=${job_of[$pid]}
	unset "job_of[$pid]"
	dir=$BUILD/jobs/${name// /-}
	if read -r p f s t c <"$dir/counts" 2>/dev/null; then
		say "== $name: $p passed, $f failed ($((t / 60)) min $((t % 60)) s, CPU $((c / 60)) min $((c % 60)) s)"
	else
		p=0 f=1 s=0
		say "== $name: FAIL: the job died (log: $dir/log)"
	fi
	cat "$dir/log" >&2
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((${skipped:-0} + s))
}

# jobs_wait: waits for every job started.
jobs_wait() {
	while [ ${#job_of[@]} -gt 0 ]; do job_reap; done
}
