# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Host-side helpers shared by tests/run-all.sh and the VM harness
# (tests/vm/run): logging, the cache and its lock, and the check for the
# Debian packages the build and the harness need.

UNIONBLK_TOP=${UNIONBLK_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
UNIONBLK_CACHE=${UNIONBLK_CACHE:-${HOME:-/root}/.cache/unionblk}

# Packages the host needs: the module and tools build, the VM harness and
# every program that goes into the guest image (tests/vm/guest-bins.txt);
# the benchmark's report and metadata images (jq, gnuplot-nox,
# thin-provisioning-tools: bench/run).
# shellcheck disable=SC2034 # used by tests/run-all.sh
UNIONBLK_HOST_PKGS="make gcc libc6-dev pkg-config bash coreutils diffutils
	util-linux kmod cpio xz-utils zstd busybox-static qemu-system-x86
	debootstrap dmsetup udev e2fsprogs fio xxd libdevmapper-dev libjson-c-dev
	libcmocka-dev shellcheck jq gnuplot-nox thin-provisioning-tools"
# What the tools build with (expat, clang for the fuzzer): one list, theirs.
_ub_depends="$(dirname "${BASH_SOURCE[0]}")/../../tools/DEPENDS"
if [ -r "$_ub_depends" ]; then
	UNIONBLK_HOST_PKGS="$UNIONBLK_HOST_PKGS $(sed -e 's/#.*//' "$_ub_depends" | xargs)"
fi

# Progress messages go to stderr so that stdout stays pure TAP.
note() { printf '%s\n' "unionblk: $*" >&2; }
die() { note "$*"; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# pkgs_missing PKG...: print the packages of the list that are not installed.
pkgs_missing() {
	local p
	for p in "$@"; do
		# shellcheck disable=SC2016 # a dpkg-query format, not an expansion
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
			grep -q 'install ok installed' || printf '%s\n' "$p"
	done
}

# pkgs_ensure PKG...: install what is missing when root; otherwise print
# the exact command to run and fail.
pkgs_ensure() {
	local missing line
	missing=$(pkgs_missing "$@" | tr '\n' ' ')
	[ -n "${missing// /}" ] || return 0
	line="apt-get install -y --no-install-recommends ${missing% }"
	if ! is_root; then
		note "missing Debian packages; as root run:"
		note "  apt-get update && $line"
		return 1
	fi
	note "installing missing Debian packages:"
	note "  $line"
	# shellcheck disable=SC2086 # $missing is a list of package names
	apt-get update -qq >&2 &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $missing >&2
}

# with_cache_lock CMD...: run CMD (a function) holding the cache lock, so
# that two runs on one machine never build the same cache entry at once.
with_cache_lock() {
	mkdir -p "$UNIONBLK_CACHE" || return 1
	{
		flock 9 || return 1
		"$@"
	} 9>"$UNIONBLK_CACHE/.lock"
}
