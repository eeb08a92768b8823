# SPDX-License-Identifier: GPL-2.0
#
# Developers and DKMS build through this same Makefile.
#   make                    build every module for the running kernel
#   make KVER=6.12.1-amd64  build for another installed kernel's headers
#   make KDIR=/path         build against any prepared kernel tree
#   make check              boot-test every kernel of the matrix (see README)
#   make run                boot the newest kernel with the modules loaded

KVER ?= $(shell uname -r)
KDIR ?= /lib/modules/$(KVER)/build
SRC  := $(CURDIR)/src

# Selections for the test targets, passed on to the scripts.
export KERNELS MODULES

.PHONY: all modules clean check check-compile run

all: modules

modules:
	$(MAKE) -C $(KDIR) M=$(SRC) modules

clean:
	rm -rf build
	rm -f $(addprefix $(SRC)/,*.o *.ko *.mod *.mod.c .*.cmd Module.symvers modules.order)
	rm -rf $(SRC)/.tmp_versions

check:
	scripts/check

check-compile:
	scripts/check --compile-only

run:
	scripts/run
