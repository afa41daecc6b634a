#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make check-debug`: build (once, cached) a debug kernel from Debian's
# linux-source-6.1 (the source of the 6.1 kernel of the matrix), with
# KASAN, PROVE_LOCKING (lockdep), DEBUG_ATOMIC_SLEEP and kmemleak
# (tests/vm/debug.config), then run the VM tests on it.  Every report of
# these fails the test it happens in: the guest runner fails a test whose
# kernel log has "KASAN:", "BUG:" (sleeping in atomic context) or
# "WARNING:" (lockdep), and tests/vm/069-no-kmemleak-reports.sh runs last
# and fails on a kmemleak report in a device-mapper or unionblk path.
#
#   tests/debug-kernel.sh config   fetch, unpack and configure (minutes)
#   tests/debug-kernel.sh build    only build the kernel (if not cached)
#   tests/debug-kernel.sh run      build if needed, run the VM tests
#   tests/debug-kernel.sh path     print the kernel's directory
#
# TESTS selects VM tests as for `make check`.  The build takes hours on
# two cores (a defconfig-sized kernel, every file instrumented by KASAN)
# and about 4 GiB of disk; it is cached in
# $UNIONBLK_CACHE/debug-kernel/<version>-<config hash>/, so later runs
# start at once.  The tests run about three times slower than on the
# stock kernel.  Needs: the host's apt (bookworm) for linux-source-6.1,
# and the kernel build dependencies (UNIONBLK_DEBUG_PKGS).

set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
# shellcheck source=tests/lib/host.sh
. tests/lib/host.sh

UNIONBLK_DEBUG_PKGS="build-essential bc bison flex libelf-dev libssl-dev
	rsync xz-utils cpio kmod"
SRC_PKG=${UNIONBLK_DEBUG_SRC_PKG:-linux-source-6.1}
FRAGMENT=tests/vm/debug.config
JOBS=${UNIONBLK_DEBUG_JOBS:-$(nproc)}

src_version() {
	apt-cache show --no-all-versions "$SRC_PKG" 2>/dev/null |
		sed -n 's/^Version: //p' | head -n 1
}

# kdir: the cache directory of the kernel this fragment and source make.
kdir() {
	local v key
	v=$(src_version)
	[ -n "$v" ] || die "no $SRC_PKG in the host's package lists (apt-get update?)"
	key=$(cat "$FRAGMENT" tests/debug-kernel.sh | sha256sum | cut -c1-12)
	echo "$UNIONBLK_CACHE/debug-kernel/$v-$key"
}

# config_check CONFIG: every option of the fragment is set as asked.
config_check() {
	local line sym want bad=0
	while read -r line; do
		case $line in
		CONFIG_*=*) sym=${line%%=*} want=$line ;;
		"# CONFIG_"*" is not set") sym=${line#\# } sym=${sym%% *} want=$line ;;
		*) continue ;;
		esac
		if ! grep -qxF "$want" "$1"; then
			note "debug kernel config: want '$want', have '$(grep -E "^(# )?${sym}[= ]" "$1")'"
			bad=1
		fi
	done <"$FRAGMENT"
	return $bad
}

# _configure DIR: Debian's source unpacked in DIR/build and configured.
_configure() {
	local dir=$1 deb tree
	[ -e "$dir/.configured" ] && return 0
	rm -rf "$dir"
	mkdir -p "$dir/dl"
	note "fetching $SRC_PKG $(src_version)"
	(cd "$dir/dl" && apt-get download -o APT::Sandbox::User=root "$SRC_PKG") ||
		return 1
	deb=$(ls "$dir"/dl/*.deb)
	dpkg-deb -x "$deb" "$dir/dl/x" || return 1
	tree=$(ls "$dir"/dl/x/usr/src/linux-source-*.tar.*)
	note "unpacking ${tree##*/}"
	mkdir -p "$dir/build"
	tar -C "$dir/build" --strip-components=1 -xf "$tree" || return 1
	rm -rf "$dir/dl"

	note "configuring: x86_64 defconfig, kvm_guest.config, $FRAGMENT"
	make -C "$dir/build" -s defconfig kvm_guest.config >/dev/null || return 1
	"$dir/build/scripts/kconfig/merge_config.sh" -m -O "$dir/build" \
		"$dir/build/.config" "$FRAGMENT" >"$dir/merge.log" 2>&1 || return 1
	make -C "$dir/build" -s olddefconfig || return 1
	config_check "$dir/build/.config" || return 1
	touch "$dir/.configured"
}

# _build DIR: the kernel built and installed into DIR/image.
_build() {
	local dir=$1 abi
	[ -e "$dir/.complete" ] && return 0
	# shellcheck disable=SC2086 # a list of package names
	pkgs_ensure $UNIONBLK_DEBUG_PKGS || return 1
	_configure "$dir" || return 1
	note "building the debug kernel with $JOBS jobs (hours on two cores; log: $dir/build.log)"
	make -C "$dir/build" -j"$JOBS" bzImage modules >"$dir/build.log" 2>&1 ||
		{ tail -n 30 "$dir/build.log" >&2; return 1; }
	abi=$(make -C "$dir/build" -s kernelrelease)
	make -C "$dir/build" -s modules_install INSTALL_MOD_PATH="$dir/image" \
		INSTALL_MOD_STRIP=1 DEPMOD=/sbin/depmod >>"$dir/build.log" 2>&1 || return 1
	mkdir -p "$dir/image/boot"
	cp "$dir/build/arch/x86/boot/bzImage" "$dir/image/boot/vmlinuz-$abi"
	cp "$dir/build/.config" "$dir/image/boot/config-$abi"
	rm -f "$dir/image/lib/modules/$abi/build" "$dir/image/lib/modules/$abi/source"
	echo "$abi" >"$dir/abi"
	date -u +%FT%TZ >"$dir/.complete"
	note "debug kernel $abi ready in $dir"
}

# locked FUNCTION: FUNCTION DIR under a lock of its own (not the cache
# lock: the build takes hours and `make check` must not wait for it).
locked() {
	local dir
	dir=$(kdir) || return 1
	mkdir -p "${dir%/*}"
	(
		flock 8 || exit 1
		"$1" "$dir"
	) 8>"${dir%/*}/build.lock"
}

case ${1:-run} in
config)
	locked _configure ;;
build)
	locked _build ;;
path)
	kdir ;;
run)
	locked _build || die "building the debug kernel failed"
	UNIONBLK_KERNEL_DIR=$(kdir) exec bash tests/vm/run --kernel debug ;;
*)
	die "usage: tests/debug-kernel.sh [config|build|run|path]" ;;
esac
