# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# The kernel matrix of the VM harness.  For a kernel series ("6.1",
# "6.12") kernel_prepare finds the Debian kernel ABI from the meta
# packages, unpacks that kernel's image into the cache and provides a
# kbuild dir for it; kernel_build_module builds dm-unionblk.ko against it.
#
# A series whose Debian suite is the host's own uses the host's apt (the
# headers are installed on the host); any other suite gets a minimal
# debootstrap build root in the cache, with its own apt sources and state,
# where the headers are installed and the module is built (Debian 13's
# headers need gcc-14, which Debian 12 does not have).  The host's apt
# sources are never changed.
#
# Cache layout, under $UNIONBLK_CACHE:
#   roots/<suite>/           build root of a suite other than the host's
#   kernels/<abi>/image/     the unpacked linux-image-<abi> package
#   logs/                    logs of debootstrap and apt runs
#
# Sourced after tests/lib/host.sh.

KERNEL_SERIES_ALL="6.1 6.12"
DEBIAN_MIRROR=${UNIONBLK_MIRROR:-http://deb.debian.org/debian}

# kernel_suite SERIES: the Debian suite whose kernel is SERIES.
kernel_suite() {
	case $1 in
	6.1) echo bookworm ;;
	6.12) echo trixie ;;
	*) return 1 ;;
	esac
}

host_suite() {
	(. /etc/os-release && printf '%s\n' "${VERSION_CODENAME:-}")
}

# broot_run ROOT CMD...: run CMD chrooted into the build root ROOT, with
# /dev, /proc and /sys mounted in a private mount namespace, so the mounts
# go away with CMD whatever happens to it.
broot_run() {
	local root=$1
	shift
	# shellcheck disable=SC2016 # the inner shell expands
	unshare --mount --propagation private sh -c '
		r=$1; shift
		mount --bind /dev "$r/dev" &&
		mount -t proc proc "$r/proc" &&
		mount -t sysfs sysfs "$r/sys" || exit 1
		exec chroot "$r" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
			PATH=/usr/sbin:/usr/bin:/sbin:/bin \
			DEBIAN_FRONTEND=noninteractive "$@"' sh "$root" "$@"
}

# kapt CMD...: run an apt/dpkg command where the kernel's packages live:
# the build root of its suite, or the host.
kapt() {
	if [ -n "$K_ROOT" ]; then
		broot_run "$K_ROOT" "$@"
	else
		"$@"
	fi
}

# logged NAME CMD...: run CMD with its output in $UNIONBLK_CACHE/logs/NAME;
# on failure show the end of the log.
logged() {
	local log=$UNIONBLK_CACHE/logs/$1
	shift
	mkdir -p "${log%/*}"
	if ! "$@" >"$log" 2>&1; then
		note "failed: $* (log: $log)"
		tail -n 20 "$log" | sed 's/^/  | /' >&2
		return 1
	fi
}

# Packages of a build root: kbuild's needs (perl for W=1's kernel-doc),
# kmod and xz for the modules.  The headers package pulls in its compiler.
BROOT_PKGS="make gcc libc6-dev perl kmod xz-utils ca-certificates"

# broot_ensure SUITE: create the build root for SUITE unless it exists, and
# install BROOT_PKGS in it when the list has changed since.
broot_ensure() {
	local root=$UNIONBLK_CACHE/roots/$1

	if [ -e "$root/.unionblk-complete" ]; then
		[ "$(cat "$root/.unionblk-complete")" = "$BROOT_PKGS" ] && return 0
		# shellcheck disable=SC2086 # a list of package names
		logged "broot-pkgs-$1.log" broot_run "$root" apt-get install -y \
			$BROOT_PKGS || return 1
		printf '%s\n' "$BROOT_PKGS" >"$root/.unionblk-complete"
		return 0
	fi
	is_root || die "creating the Debian $1 build root needs root (debootstrap, chroot)"
	note "creating a Debian $1 build root in $root (debootstrap; once)"
	rm -rf "$root.tmp"
	mkdir -p "${root%/*}"
	logged "debootstrap-$1.log" debootstrap --variant=minbase \
		--include="${BROOT_PKGS// /,}" \
		"$1" "$root.tmp" "$DEBIAN_MIRROR" || return 1
	printf '%s\n' 'APT::Install-Recommends "false";' \
		'APT::Install-Suggests "false";' \
		>"$root.tmp/etc/apt/apt.conf.d/90unionblk"
	logged "apt-update-$1.log" broot_run "$root.tmp" apt-get update || return 1
	printf '%s\n' "$BROOT_PKGS" >"$root.tmp/.unionblk-complete"
	rm -rf "$root"
	mv "$root.tmp" "$root"
}

# apt_refresh: apt-get update where the kernel's packages live.
apt_refresh() {
	if [ -z "$K_ROOT" ] && ! is_root; then
		note "cannot refresh the host's package lists as a user; as root run: apt-get update"
		return 1
	fi
	logged "apt-update-$K_SUITE.log" kapt apt-get update
}

# meta_dep META: the package that the meta package META depends on, e.g.
# linux-image-amd64 -> linux-image-6.1.0-56-amd64.
meta_dep() {
	kapt apt-cache show --no-all-versions "$1" 2>/dev/null |
		sed -n 's/^Depends: *\([^ ,]*\).*/\1/p' | head -n 1
}

# kernel_resolve_abi: set K_ABI from the image and headers meta packages.
kernel_resolve_abi() {
	local img hdr

	img=$(meta_dep linux-image-amd64)
	hdr=$(meta_dep linux-headers-amd64)
	if [ -z "$img" ] || [ -z "$hdr" ]; then
		apt_refresh || return 1
		img=$(meta_dep linux-image-amd64)
		hdr=$(meta_dep linux-headers-amd64)
	fi
	if [ -z "$img" ] || [ -z "$hdr" ]; then
		die "no linux-image-amd64/linux-headers-amd64 in the $K_SUITE package lists"
	fi
	K_ABI=${img#linux-image-}
	[ "$hdr" = "linux-headers-$K_ABI" ] ||
		die "$K_SUITE meta packages disagree: $img vs $hdr"
}

# kernel_fetch_image: download and unpack linux-image-$K_ABI, once.
kernel_fetch_image() {
	local dir=$UNIONBLK_CACHE/kernels/$K_ABI
	local pkg=linux-image-$K_ABI dl=/var/cache/unionblk-dl

	K_IMAGE=$dir/image
	K_VMLINUZ=$K_IMAGE/boot/vmlinuz-$K_ABI
	[ -e "$dir/.complete" ] && return 0
	note "fetching $pkg"
	rm -rf "$dir"
	mkdir -p "$dir/dl"
	if [ -n "$K_ROOT" ]; then
		# shellcheck disable=SC2016 # the inner shell expands
		logged "download-$K_ABI.log" broot_run "$K_ROOT" sh -c \
			'rm -rf "$1" && mkdir -p "$1" && cd "$1" &&
			 apt-get download -o APT::Sandbox::User=root "$2"' \
			sh "$dl" "$pkg" || return 1
		mv "$K_ROOT$dl"/*.deb "$dir/dl/"
	else
		(cd "$dir/dl" && logged "download-$K_ABI.log" apt-get download \
			-o APT::Sandbox::User=root "$pkg") || return 1
	fi
	dpkg-deb -x "$dir"/dl/*.deb "$K_IMAGE" || return 1
	# Debian 13 ships the modules in /usr/lib/modules only.
	[ -e "$K_IMAGE/lib" ] || ln -s usr/lib "$K_IMAGE/lib"
	[ -e "$K_VMLINUZ" ] || die "$pkg has no /boot/vmlinuz-$K_ABI"
	depmod -b "$K_IMAGE" "$K_ABI" || return 1
	rm -rf "$dir/dl"
	touch "$dir/.complete"
}

# kernel_headers: install linux-headers-$K_ABI and set K_KDIR (a path in
# the build root when there is one).
kernel_headers() {
	local pkg=linux-headers-$K_ABI

	K_KDIR=/usr/src/$pkg
	# shellcheck disable=SC2016 # a dpkg-query format, not an expansion
	kapt dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null |
		grep -q 'install ok installed' && return 0
	if [ -z "$K_ROOT" ] && ! is_root; then
		note "missing kernel headers; as root run:"
		note "  apt-get install -y --no-install-recommends $pkg"
		return 1
	fi
	note "installing $pkg${K_ROOT:+ in the $K_SUITE build root}"
	logged "headers-$K_ABI.log" kapt apt-get install -y \
		--no-install-recommends "$pkg"
}

_kernel_prepare() {
	if [ "$K_SUITE" = "$(host_suite)" ]; then
		K_ROOT=
	else
		broot_ensure "$K_SUITE" || return 1
		K_ROOT=$UNIONBLK_CACHE/roots/$K_SUITE
	fi
	if [ -n "${UNIONBLK_REFRESH:-}" ]; then
		apt_refresh || return 1
	fi
	kernel_resolve_abi || return 1
	if kernel_headers && kernel_fetch_image; then
		return 0
	fi
	# Stale package lists name a kernel the mirror no longer has.
	note "retrying with fresh package lists"
	apt_refresh && kernel_resolve_abi && kernel_headers && kernel_fetch_image
}

# kernel_custom DIR: a kernel built outside the matrix, ready in DIR (as
# tests/debug-kernel.sh leaves it): DIR/abi its release, DIR/image its
# modules_install tree with boot/vmlinuz-<release>, DIR/build its kbuild
# tree, DIR/.complete.
kernel_custom() {
	[ -e "$1/.complete" ] || die "no complete kernel in $1"
	K_SUITE=custom K_ROOT=
	K_ABI=$(cat "$1/abi")
	K_IMAGE=$1/image
	K_VMLINUZ=$K_IMAGE/boot/vmlinuz-$K_ABI
	K_KDIR=$1/build
}

# kernel_prepare SERIES: make the kernel of SERIES ready and set
#   K_SUITE           the Debian suite of SERIES
#   K_ABI             the kernel release (uname -r), e.g. 6.1.0-56-amd64
#   K_ROOT            the build root, empty when the host builds
#   K_KDIR            the kbuild dir (inside K_ROOT when there is one)
#   K_IMAGE K_VMLINUZ the unpacked image and its kernel
# With UNIONBLK_KERNEL_DIR set, SERIES only names the kernel in the
# results and the kernel is the one in that directory (kernel_custom).
kernel_prepare() {
	if [ -n "${UNIONBLK_KERNEL_DIR:-}" ]; then
		kernel_custom "$UNIONBLK_KERNEL_DIR"
		return
	fi
	K_SUITE=$(kernel_suite "$1") ||
		die "unknown kernel series '$1' (known: $KERNEL_SERIES_ALL)"
	with_cache_lock _kernel_prepare
}

# kernel_build_module OUTDIR: build dm-unionblk.ko for the prepared kernel
# from a copy of the source tree, with W=1, through the top Makefile's
# "module" target (which runs dm-target/compat-probe.sh first).  Leaves
# OUTDIR/dm-unionblk.ko and OUTDIR/build.log.
kernel_build_module() {
	local out=$1 bdir rc

	if [ -n "$K_ROOT" ]; then
		mkdir -p "$K_ROOT/tmp"
		bdir=$(mktemp -d "$K_ROOT/tmp/unionblk-build.XXXXXX")
	else
		bdir=$(mktemp -d "$out/build.XXXXXX")
	fi
	tar -C "$UNIONBLK_TOP" -cf - --exclude='*.o' --exclude='*.ko' \
		--exclude='*.mod' --exclude='*.mod.c' --exclude='.*.cmd' \
		--exclude='compat-probed.h' \
		Makefile Kbuild dm-target | tar -C "$bdir" -xf - || return 1
	if [ -n "$K_ROOT" ]; then
		broot_run "$K_ROOT" make -C "${bdir#"$K_ROOT"}" module \
			KDIR="$K_KDIR" W=1 >"$out/build.log" 2>&1
	else
		make -C "$bdir" module KDIR="$K_KDIR" W=1 >"$out/build.log" 2>&1
	fi
	rc=$?
	[ $rc -eq 0 ] && cp "$bdir/dm-unionblk.ko" "$out/" || rc=1
	rm -rf "$bdir"
	return $rc
}
