# SPDX-License-Identifier: GPL-2.0
#
# Developers and DKMS build through this same Makefile.
#   make                    build every module for the running kernel
#   make KVER=6.12.1-amd64  build for another installed kernel's headers
#   make KDIR=/path         build against any prepared kernel tree
#   make check              boot-test every kernel of the matrix (see README)
#   make run                boot the newest kernel with the modules loaded
#   make clean / distclean  remove build output / and the caches too
#   make help               this list; scripts/<name> --help for the scripts
#
#   make check-compile      build for every kernel of the matrix, boot nothing
#   make check-next         the next kernel (experimental's): report only
#   make check-arm64        boot every arm64 kernel of the matrix (make check
#                           builds them all and boots one)
#   make check-packaging    the packaging stage of make check alone
#   make soak               the reliability stage at length: hours (README)
#   make bench              how fast: ratios against the kernel's peers (README)
#   make dist, deb, rpm     the source tarball and the packages, in build/
#   make repo               signed APT and DNF repositories with prebuilt
#                           modules, in build/repo/ (README: REPO_KEY=, ...)
#   make release VERSION=X.Y.Z   bump every version, commit, tag (README)
#   make dkms-install       as root: DKMS builds and installs for KVER
#   make dkms-uninstall     as root: undoes make dkms-install
#   make lkmctl             the control tool, utils/lkmctl (CFLAGS, LDFLAGS)
#   make install-utils      lkmctl, its manual page and bash completion
#   make install-man        the modules' manual pages (sections 4, 5, 7)
#   make install-dev        the ioctl header, <linux/lkm_chardev.h>

KVER ?= $(shell uname -r)
KDIR ?= /lib/modules/$(KVER)/build
SRC  := $(CURDIR)/src
VERSION := $(shell cat $(CURDIR)/VERSION)

# Selections for the test targets, passed on to the scripts.
export KERNELS ARCHS MODULES LKM_JOBS
export REPO_KEY REPO_URL MODULES_KEY MODULES_CERT

.PHONY: all help modules clean distclean check check-compile check-next check-arm64 run \
	install-dkms-src \
	dist deb rpm repo dkms-install dkms-uninstall

all: modules

help:
	@sed -n '3,/^[^#]/ { /^#/!q; s/^# \{0,1\}//p }' $(firstword $(MAKEFILE_LIST))

modules:
	$(MAKE) -C $(KDIR) M=$(SRC) modules

# The machine-wide cache of build roots, kernel images, the debug kernel and
# the packaging test's Debian systems (minutes to make again), shared by
# every checkout on the machine: clean keeps it, distclean removes it too.
LKM_CACHE ?= /var/cache/lkmkit
export LKM_CACHE

clean:
	rm -rf build
	rm -f utils/lkmctl
	rm -f $(addprefix $(SRC)/,*.o .*.o *.ko *.mod *.mod.c .*.cmd Module.symvers modules.order)
	rm -rf $(SRC)/.tmp_versions

distclean: clean
	rm -rf $(LKM_CACHE)

check:
	scripts/check

check-compile:
	scripts/check --compile-only

check-next:
	scripts/check --next

check-arm64:
	ARCHS=arm64 scripts/check --boot-all

run:
	scripts/run

# The DKMS source tree, /usr/src/lkmkit-VERSION: only what building needs.
# The .deb, the .rpm and dkms-install all install it through this target.
DKMS_SRC = $(DESTDIR)/usr/src/lkmkit-$(VERSION)
install-dkms-src:
	install -d $(DKMS_SRC)/src $(DKMS_SRC)/include/uapi/linux
	install -m 644 Makefile VERSION dkms.conf $(DKMS_SRC)/
	install -m 644 src/Kbuild src/*.c src/*.h $(DKMS_SRC)/src/
	install -m 644 include/uapi/linux/*.h $(DKMS_SRC)/include/uapi/linux/

# lkmctl, built with the flags a distribution passes (dpkg-buildflags,
# RPM's %optflags and %build_ldflags) on top of the warnings it is clean of.
CFLAGS ?= -O2 -g
.PHONY: lkmctl install-utils install-man install-dev
lkmctl: utils/lkmctl
utils/lkmctl: utils/lkmctl.c include/uapi/linux/lkm_chardev.h VERSION
	$(CC) $(CPPFLAGS) $(CFLAGS) -Wall -Wextra -Iinclude/uapi \
		-DLKMKIT_VERSION='"$(VERSION)"' $(LDFLAGS) -o $@ utils/lkmctl.c

# The manual pages $(1), gzipped as man-db reads them.
PREFIX ?= /usr
define install_man
	for page in $(1); do \
		sect=$${page##*.}; \
		install -D -m 644 $$page $(DESTDIR)$(PREFIX)/share/man/man$$sect/$${page#man/} && \
		gzip -9nf $(DESTDIR)$(PREFIX)/share/man/man$$sect/$${page#man/} || exit 1; \
	done
endef

# What lkmkit-utils holds: lkmctl, its page and its bash completion.
install-utils: utils/lkmctl
	install -D -m 755 utils/lkmctl $(DESTDIR)$(PREFIX)/bin/lkmctl
	install -D -m 644 utils/lkmctl.bash-completion \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/lkmctl
	$(call install_man,man/*.1)

# The modules' pages (sections 4, 5 and 7) go with lkmkit-dkms: man
# lkm_chardev answers wherever the modules are installed.
install-man:
	$(call install_man,man/*.[457])

# What lkmkit-dev holds: the ioctl interface, where programs include it
# from (<linux/lkm_chardev.h>).
install-dev:
	install -D -m 644 include/uapi/linux/lkm_chardev.h \
		$(DESTDIR)$(PREFIX)/include/linux/lkm_chardev.h

dist deb rpm dkms-install dkms-uninstall:
	KVER=$(KVER) scripts/package $@

# Signed APT and DNF repositories with prebuilt modules (scripts/repo).
repo: deb rpm
	scripts/repo

# VERSION= on the command line is the new version (RELEASE_KEY= signs).
.PHONY: release
release:
ifneq ($(origin VERSION),command line)
	$(error make release VERSION=X.Y.Z: the new version is missing)
endif
	scripts/release $(VERSION)

# The packaging stage of make check alone: both packages built, linted and
# proven in booted Debian 12 and 13 systems (scripts/e2e, tests/releases;
# RELEASES=trixie runs one). PACKAGING=0 or 1 makes
# make check skip or run it whatever KERNELS and MODULES say.
export PACKAGING RELEASES E2E_BOOTS
.PHONY: check-packaging
check-packaging:
	scripts/e2e

# The reliability stage of make check with its soak figures (tests/reliability):
# 1000 load/unload cycles of every module, a minute of each fuzzer, every
# allocation of the fault sweeps; KERNELS= and MODULES= narrow it as they do
# make check. Hours under emulation (README.md, "Reliability").
.PHONY: soak
soak:
	scripts/reliability --soak

# The benchmark (scripts/bench): the newest kernel, or those KERNELS=
# names; build/bench/results.json and build/bench/ratios.png.
.PHONY: bench
bench:
	scripts/bench
