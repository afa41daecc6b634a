# SPDX-License-Identifier: GPL-2.0
#
# unionblk: per-tenant copy-on-write block devices over one shared
# read-only base (a device-mapper target and its CLI).
#
#   make            build the kernel module and the tools
#   make module     build dm-unionblk.ko against KDIR
#   make tools      build tools/unionblk
#   make check      everything: host tests, then VM tests on each kernel
#   make demo       boot a VM, load the module, show it working
#   make install    install the module (DKMS), the CLI, the udev rule and
#                   the man pages
#   make clean      remove build products
#
# KDIR is the kbuild dir of the target kernel; W=1 adds extra warnings.
# KVER is the kernel `make install` has DKMS build for (default: running).
# Variables for check and demo (KERNELS, TESTS, ...): docs/testing.md.

KDIR ?= /lib/modules/$(shell uname -r)/build
DESTDIR ?=
PREFIX ?= /usr
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
UDEVRULESDIR ?= /lib/udev/rules.d
PACKAGE := unionblk
VERSION := $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' dkms.conf 2>/dev/null)
DKMS_SRC = $(DESTDIR)/usr/src/$(PACKAGE)-$(VERSION)
MAN_PAGES := $(wildcard docs/man/*.[1-8])
DKMS_KVER = $(if $(KVER),-k $(KVER))

.PHONY: all module tools check demo install install-dkms install-tools \
	install-udev install-man uninstall clean

all: module tools

module:
	@test -d "$(KDIR)" || { \
		echo "No kbuild dir at $(KDIR)."; \
		echo "Install the headers of the kernel to build for (Debian:"; \
		echo "apt-get install linux-headers-$$(uname -r)) or set KDIR=."; \
		echo "Where modules cannot be loaded, 'make demo' and 'make check'"; \
		echo "build and run the module in a VM instead."; \
		exit 1; }
	@if [ -f dm-target/compat-probe.sh ]; then \
		echo "  PROBE   $(KDIR)"; \
		sh dm-target/compat-probe.sh "$(KDIR)" || exit 1; \
	fi
	$(MAKE) -C "$(KDIR)" M="$(CURDIR)" modules

tools:
	@if [ -f tools/Makefile ]; then \
		$(MAKE) -C tools; \
	else \
		echo "tools/Makefile not there yet: skipping the tools"; \
	fi

check:
	bash tests/run-all.sh

demo: tools
	bash tests/vm/run --demo

# The module is installed through DKMS, which rebuilds it for every kernel
# installed later; the source goes to /usr/src/unionblk-<version>.
install: install-dkms install-tools install-udev install-man

install-dkms:
	@command -v dkms >/dev/null || { \
		echo "dkms is not installed; as root run:"; \
		echo "  apt-get install dkms linux-headers-$$(uname -r)"; \
		exit 1; }
	rm -rf "$(DKMS_SRC)"
	mkdir -p "$(DKMS_SRC)/dm-target"
	cp Makefile Kbuild dkms.conf "$(DKMS_SRC)/"
	cp dm-target/*.c dm-target/*.h "$(DKMS_SRC)/dm-target/"
	if [ -f dm-target/compat-probe.sh ]; then \
		cp dm-target/compat-probe.sh "$(DKMS_SRC)/dm-target/"; fi
	rm -f "$(DKMS_SRC)/dm-target/compat-probed.h"
	if [ -n "$$(dkms status -m $(PACKAGE) -v $(VERSION))" ]; then \
		dkms remove -m $(PACKAGE) -v $(VERSION) --all; fi
	dkms add -m $(PACKAGE) -v $(VERSION)
	dkms build -m $(PACKAGE) -v $(VERSION) $(DKMS_KVER)
	dkms install -m $(PACKAGE) -v $(VERSION) $(DKMS_KVER)

install-tools: tools
	@if [ -x tools/unionblk ]; then \
		install -D -m 0755 tools/unionblk "$(DESTDIR)$(SBINDIR)/unionblk"; \
	else \
		echo "tools/unionblk not built: not installing the CLI"; \
	fi

install-udev:
	install -D -m 0644 udev/60-unionblk.rules \
		"$(DESTDIR)$(UDEVRULESDIR)/60-unionblk.rules"

install-man:
	@for m in $(MAN_PAGES); do \
		sec=$${m##*.}; \
		echo "install -D -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$sec/$${m##*/}"; \
		install -D -m 0644 "$$m" "$(DESTDIR)$(MANDIR)/man$$sec/$${m##*/}" || exit 1; \
	done

uninstall:
	if command -v dkms >/dev/null && \
		[ -n "$$(dkms status -m $(PACKAGE) -v $(VERSION))" ]; then \
		dkms remove -m $(PACKAGE) -v $(VERSION) --all; fi
	rm -rf "$(DKMS_SRC)"
	rm -f "$(DESTDIR)$(SBINDIR)/unionblk" \
		"$(DESTDIR)$(UDEVRULESDIR)/60-unionblk.rules" \
		$(foreach m,$(MAN_PAGES),"$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m))")

clean:
	@if [ -d "$(KDIR)" ]; then $(MAKE) -C "$(KDIR)" M="$(CURDIR)" clean; fi
	rm -f dm-target/*.o dm-target/.*.cmd dm-target/compat-probed.h \
		*.o *.ko *.mod *.mod.c .*.cmd Module.symvers modules.order
	rm -rf .tmp_versions
	@if [ -f tools/Makefile ]; then $(MAKE) -C tools clean; fi
	@if [ -f tests/helpers/Makefile ]; then $(MAKE) -C tests/helpers clean; fi

# The kernel's checkpatch.pl is not packaged by Debian: point CHECKPATCH at
# a copy (scripts/checkpatch.pl of a kernel tree).  Ignored: kzalloc_obj
# (newer than the kernels we build for) and, in the header the userspace
# tools share, the packed attribute and BIT() that userspace lacks.
CHECKPATCH ?= $(firstword $(wildcard $(HOME)/.cache/unionblk/checkpatch/scripts/checkpatch.pl) checkpatch.pl)
CHECKPATCH_IGNORE := ALLOC_WITH_SIZEOF,PREFER_DEFINED_ATTRIBUTE_MACRO,BIT_MACRO

.PHONY: checkpatch
checkpatch:
	@command -v "$(CHECKPATCH)" >/dev/null || [ -f "$(CHECKPATCH)" ] || { \
		echo "checkpatch.pl not found: set CHECKPATCH=/path/to/linux/scripts/checkpatch.pl"; \
		exit 1; }
	perl "$(CHECKPATCH)" --no-tree --strict --ignore $(CHECKPATCH_IGNORE) \
		-f dm-target/*.c dm-target/dm-unionblk-*.h

-include bench/bench.mk
-include tests/stress.mk
