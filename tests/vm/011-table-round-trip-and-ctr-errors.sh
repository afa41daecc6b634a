#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `dmsetup table` reproduces the ctr line, and every bad table is refused
# with its own error string in the kernel log.
. /tests/lib/guest.sh
. /tests/lib/unionblk.sh

require_target unionblk
S=$(dev_sectors "$BASE_DEV")
majmin() { printf '%d:%d' "$(stat -c '%t' "$1" | sed 's/^/0x/')" "$(stat -c '%T' "$1" | sed 's/^/0x/')"; }
store=$(majmin "$STORE_DEV")
base=$(majmin "$BASE_DEV")

check_table() {	# check_table FEATURES...: create, compare table, remove
	local want="0 $S unionblk $store $base${*:+ $*}"
	dmsetup create rt --table "0 $S unionblk $STORE_DEV $BASE_DEV${*:+ $*}" ||
		fail "table refused: $*"
	got=$(dmsetup table rt)
	[ "$got" = "$want" ] || fail "table round trip: want '$want', got '$got'"
	dmsetup remove rt
}
check_table 2 format no_discard
check_table
check_table 1 error_if_no_space
check_table 1 queue_if_no_space
check_table 3 no_discard low_water 100
check_table 1 ro
check_table 4 format ro no_discard queue_if_no_space

# A store formatted with 64 KiB chunks reports them
dd if=/dev/zero of="$STORE2_DEV" bs=1M count=8 oflag=direct status=none
dmsetup create c64 --table "0 $S unionblk $STORE2_DEV $BASE_DEV 3 format chunk_size 128"
[ "$(ub_status_field c64 chunk_sectors)" = 128 ] || fail "chunk size not 128"
dmsetup remove c64

expect_error() {	# expect_error "ERROR" TABLE-TAIL
	local err
	err=$(ub_ctr_error "0 $S unionblk $2")
	echo "# $2 -> $err"
	[ "$err" = "$1" ] || fail "table '$2': want error '$1', got '$err'"
}
expect_error "Invalid argument count: need <cow_dev> <base_dev>" "$STORE_DEV"
expect_error "Error opening COW store device" "/dev/nonexistent $BASE_DEV"
expect_error "Error opening base device" "$STORE_DEV /dev/nonexistent"
expect_error "COW store and base must be different devices" "$BASE_DEV $BASE_DEV"
expect_error "Invalid number of feature arguments" "$STORE_DEV $BASE_DEV 10 ro"
expect_error "Unrecognised unionblk feature requested" "$STORE_DEV $BASE_DEV 1 frobnicate"
expect_error "Duplicate unionblk feature requested" "$STORE_DEV $BASE_DEV 2 ro ro"
expect_error "Conflicting or duplicate no-space features" "$STORE_DEV $BASE_DEV 2 queue_if_no_space error_if_no_space"
expect_error "Feature chunk_size needs a value" "$STORE_DEV $BASE_DEV 2 format chunk_size"
expect_error "Invalid chunk_size: must be 8 to 2048 sectors" "$STORE_DEV $BASE_DEV 3 format chunk_size 4"
expect_error "Invalid chunk_size: must be 8 to 2048 sectors" "$STORE_DEV $BASE_DEV 3 format chunk_size 4096"
expect_error "Invalid chunk_size: must be a power of two" "$STORE_DEV $BASE_DEV 3 format chunk_size 24"
expect_error "Feature chunk_size needs format" "$STORE_DEV $BASE_DEV 2 chunk_size 16"
expect_error "Feature low_water needs a value" "$STORE_DEV $BASE_DEV 1 low_water"
expect_error "Invalid low_water: must be a positive number of chunks" "$STORE_DEV $BASE_DEV 2 low_water x"
expect_error "Invalid low_water: must be a positive number of chunks" "$STORE_DEV $BASE_DEV 2 low_water 0"
# An all-zero store without format, and a store holding something else
dd if=/dev/zero of="$STORE2_DEV" bs=1M count=8 oflag=direct status=none
expect_error "COW store is not formatted (use the format feature)" "$STORE2_DEV $BASE_DEV"
echo "not a store" | dd of="$STORE2_DEV" conv=notrunc status=none
expect_error "COW store has no valid unionblk superblock" "$STORE2_DEV $BASE_DEV 1 format"
# A store too small for its metadata
dd if=/dev/zero of="$STORE2_DEV" bs=1M count=8 oflag=direct status=none
dmsetup create tiny --table "0 64 linear $STORE2_DEV 0"
expect_error "COW store is too small for its metadata" "$(dm_dev tiny) $BASE_DEV 1 format"
# A tenant larger than the mapping capacity of its store
err=$(ub_ctr_error "0 $((S * 2)) unionblk $STORE_DEV $BASE_DEV")
[ "$err" = "Tenant is larger than the COW store's mapping capacity" ] || fail "capacity: got '$err'"
# A store already used by another device
dmsetup create owner --table "0 $S unionblk $STORE_DEV $BASE_DEV"
expect_error "COW store is already in use by another device" "$STORE_DEV $BASE_DEV"
dmsetup remove owner
dmsetup remove tiny
echo PASS
