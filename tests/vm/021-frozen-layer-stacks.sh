#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A tenant reloaded with `ro` is a frozen layer: writes fail, reads go on,
# and it can be the base of another tenant, so layers stack as dm devices.
. /tests/lib/guest.sh
. /tests/lib/unionblk.sh

require_target unionblk
S=$(dev_sectors "$BASE_DEV")
dd if=/dev/urandom of=/tmp/base bs=1M count=8 status=none
dd if=/tmp/base of="$BASE_DEV" bs=1M oflag=direct status=none

ub_create l1 "$STORE_DEV" "$BASE_DEV" 1 format
echo "layer one" | dd of="$(dm_dev l1)" bs=4096 seek=1 conv=sync oflag=direct status=none
# Freeze it by reload: the live store stays open, now read-only
dmsetup reload l1 --table "0 $S unionblk $STORE_DEV $BASE_DEV 1 ro"
dmsetup resume l1
[ "$(ub_status_field l1 mode)" = ro ] || fail "l1 is not ro: $(dmsetup status l1)"
if dd if=/dev/zero of="$(dm_dev l1)" bs=4096 count=1 oflag=direct status=none 2>/dev/null; then
	fail "a write to a frozen layer succeeded"
fi
blockdev --flushbufs "$(dm_dev l1)" || fail "a flush of a frozen layer failed"

# A second tenant over the frozen layer
ub_create l2 "$STORE2_DEV" "$(dm_dev l1)" 1 format
l2=$(dm_dev l2)
[ "$(dd if="$l2" bs=4096 skip=1 count=1 status=none | head -c 9)" = "layer one" ] ||
	fail "l2 does not see l1's write"
cmp -n 4096 "$l2" /tmp/base || fail "l2 does not see the base through l1"
echo "layer two" | dd of="$l2" bs=4096 seek=1 conv=sync oflag=direct status=none
[ "$(dd if="$(dm_dev l1)" bs=4096 skip=1 count=1 status=none | head -c 9)" = "layer one" ] ||
	fail "l2's write reached l1"
[ "$(dd if="$l2" bs=4096 skip=1 count=1 status=none | head -c 9)" = "layer two" ] ||
	fail "l2 lost its write"
dmsetup remove l2 l1

# Opened read-only from the start, the frozen store is never written
before=$(dd if="$STORE_DEV" bs=1M count=4 status=none | sha256sum)
dmsetup create l1 --readonly --table "0 $S unionblk $STORE_DEV $BASE_DEV"
[ "$(ub_status_field l1 mode)" = ro ] || fail "read-only table is not ro"
[ "$(dd if="$(dm_dev l1)" bs=4096 skip=1 count=1 status=none | head -c 9)" = "layer one" ] ||
	fail "read-only activation lost data"
dmsetup remove l1
after=$(dd if="$STORE_DEV" bs=1M count=4 status=none | sha256sum)
[ "$before" = "$after" ] || fail "a read-only activation wrote the store"
echo PASS
