#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A new tenant reads the base; writes land in the COW store, never in the
# base, and survive deactivate/reactivate; status counts what was mapped.
. /tests/lib/guest.sh
. /tests/lib/unionblk.sh

require_target unionblk

# A base with a recognisable pattern in its first 16 MiB
run dd if=/dev/urandom of=/tmp/pattern bs=1M count=16 status=none
run dd if=/tmp/pattern of="$BASE_DEV" bs=1M oflag=direct status=none
base_sum=$(sha256sum <"$BASE_DEV")

ub_create t1 "$STORE_DEV" "$BASE_DEV" 1 format
dev=$(dm_dev t1)
[ "$(dev_sectors "$dev")" = "$(dev_sectors "$BASE_DEV")" ] ||
	fail "tenant size differs from the base"

# Unwritten chunks read through to the base
cmp -n $((16 << 20)) "$dev" /tmp/pattern || fail "tenant does not read the base"
ub_status_field t1 used | grep -q '^0/' || fail "fresh tenant has used chunks"

# Whole-chunk write, partial write (copy-up merge) and a write past 16 MiB
run dd if=/dev/zero bs=4096 count=1 seek=3 of="$dev" oflag=direct status=none
printf 'tenant-data' | dd of="$dev" bs=1 seek=$((40960 + 100)) conv=notrunc status=none
run dd if=/dev/urandom of=/tmp/blob bs=64k count=4 status=none
run dd if=/tmp/blob of="$dev" bs=64k seek=300 oflag=direct status=none
sync

expect_chunk() {	# expect_chunk DEV OFFSET LEN FILE FILE_OFFSET
	cmp -n "$3" <(dd if="$1" bs=1 skip="$2" count="$3" status=none) \
		<(dd if="$4" bs=1 skip="$5" count="$3" status=none) ||
		fail "$1 at $2 differs"
}
verify_tenant() {
	local d=$1
	cmp -n 4096 <(dd if="$d" bs=4096 skip=3 count=1 status=none) /dev/zero ||
		fail "whole-chunk write lost"
	[ "$(dd if="$d" bs=1 skip=$((40960 + 100)) count=11 status=none)" = tenant-data ] ||
		fail "partial write lost"
	expect_chunk "$d" 40960 100 /tmp/pattern 40960
	expect_chunk "$d" $((40960 + 111)) $((4096 - 111)) /tmp/pattern $((40960 + 111))
	cmp -n $((256 << 10)) <(dd if="$d" bs=64k skip=300 count=4 status=none) /tmp/blob ||
		fail "64 KiB writes lost"
	expect_chunk "$d" 0 12288 /tmp/pattern 0
}
verify_tenant "$dev"

used=$(ub_status_field t1 used)
[ "${used%%/*}" = $((1 + 1 + 64)) ] || fail "expected 66 used chunks, status says $used"
[ "$(sha256sum <"$BASE_DEV")" = "$base_sum" ] || fail "the base was written"

run dmsetup message t1 0 commit
run dmsetup remove t1
ub_create t1 "$STORE_DEV" "$BASE_DEV"
verify_tenant "$(dm_dev t1)"
[ "$(ub_status_field t1 used)" = "$used" ] || fail "used chunks changed over reactivation"
run dmsetup status t1
run dmsetup remove t1
echo "PASS"
