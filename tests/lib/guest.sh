# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash disable=SC2034 # variables for the tests
#
# Helpers for VM tests (tests/vm/NNN-name.sh); a test starts with
#
#	. /tests/lib/guest.sh
#
# It runs under `set -eu`: the first failing command fails the test.
# Exit status: 0 pass, 77 skip, anything else fail.  What the test prints
# is shown when it fails.  docs/testing.md describes the guest: disks,
# environment, programs.

set -eu

UNIONBLK_CONSOLE=${UNIONBLK_CONSOLE:-/dev/ttyS1}
UNIONBLK_PHASE=${UNIONBLK_PHASE:-1}

# The disks: all four are zeroed before each test (see docs/testing.md).
BASE_DEV=/dev/vda	# 512 MiB, the shared read-only base
STORE_DEV=/dev/vdb	# 512 MiB, a COW store
STORE2_DEV=/dev/vdc	# 512 MiB, a second COW store
BIG_DEV=/dev/vdd	# 2 GiB, scratch

# skip WHY...: end the test as skipped.
skip() {
	echo "SKIP: $*"
	exit 77
}

# fail WHY...: end the test as failed.
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# cmdline ARG...: the command as one would type it (an argument with
# blanks in single quotes).
cmdline() {
	local a s=""
	for a in "$@"; do
		case $a in
		*[[:space:]]* | "") s+=" '$a'" ;;
		*) s+=" $a" ;;
		esac
	done
	printf '%s\n' "${s# }"
}

# run CMD...: print CMD, as "# CMD", then run it.
run() {
	echo "# $(cmdline "$@")"
	"$@"
}

# require_cmd CMD...: skip unless every CMD is in the guest.
require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || skip "no $c in the guest"
	done
}

# require_target NAME: skip unless device-mapper has target NAME.
require_target() {
	dmsetup targets | grep -q "^$1 " || skip "no dm target $1"
}

# dev_sectors DEV: the size of DEV in 512-byte sectors.
dev_sectors() {
	blockdev --getsz "$1"
}

# dm_dev NAME: the device node of dm device NAME.  Without udev dmsetup
# makes the /dev/mapper nodes itself; mknodes repairs a missing one.
dm_dev() {
	[ -b "/dev/mapper/$1" ] || dmsetup mknodes "$1" >/dev/null
	echo "/dev/mapper/$1"
}

# expect_fail CMD...: run CMD and fail the test if it succeeds.
expect_fail() {
	if "$@"; then
		fail "expected to fail: $*"
	fi
}

# vm_crash_reboot: reset the guest at once, without syncing or unmounting
# (a power cut for everything not yet written to the virtual disks), and
# run this test again after the reboot, on the same disks, with
# UNIONBLK_PHASE one higher.  Code after the call never runs.
vm_crash_reboot() {
	echo "UNIONBLK-REBOOT ${UNIONBLK_TEST:-}" >"$UNIONBLK_CONSOLE"
	sleep 1		# let the serial line drain
	echo b >/proc/sysrq-trigger
	sleep 60
	fail "the guest did not reset"
}
