#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A COW store activated over a different or changed base is refused with
# a clear error, and the store is left as it was.
. /tests/lib/guest.sh
. /tests/lib/unionblk.sh

require_target unionblk
S=$(dev_sectors "$BASE_DEV")
dd if=/dev/urandom of="$BASE_DEV" bs=1M count=4 oflag=direct status=none
ub_create t "$STORE_DEV" "$BASE_DEV" 1 format
echo data | dd of="$(dm_dev t)" oflag=direct,sync bs=4096 conv=sync status=none
dmsetup remove t
before=$(dd if="$STORE_DEV" bs=1M count=4 status=none | sha256sum)

# Another base of the same size
dd if=/dev/urandom of="$BIG_DEV" bs=1M count=4 oflag=direct status=none
dmsetup create other --table "0 $S linear $BIG_DEV 0"
err=$(ub_ctr_error "0 $S unionblk $STORE_DEV $(dm_dev other)")
[ "$err" = "COW store belongs to a different base: content differs" ] || fail "other base: '$err'"

# The same base, shorter
dmsetup create short --table "0 $((S - 8)) linear $BASE_DEV 0"
err=$(ub_ctr_error "0 $((S - 8)) unionblk $STORE_DEV $(dm_dev short)")
[ "$err" = "COW store belongs to a different base: size differs" ] || fail "short base: '$err'"

# The same base with its first block changed (where a filesystem's
# superblock lives)
printf 'X' | dd of="$BASE_DEV" bs=1 seek=100 conv=notrunc status=none
sync
err=$(ub_ctr_error "0 $S unionblk $STORE_DEV $BASE_DEV")
[ "$err" = "COW store belongs to a different base: content differs" ] || fail "changed base: '$err'"

after=$(dd if="$STORE_DEV" bs=1M count=4 status=none | sha256sum)
[ "$before" = "$after" ] || fail "a refused activation changed the store"
dmsetup remove other short
echo PASS
