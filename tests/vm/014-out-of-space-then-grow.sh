#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A full store fails new writes with ENOSPC (or queues them), stays
# consistent, raises events at the low-water mark and when full, and after
# the store grows writing continues with nothing lost.
. /tests/lib/guest.sh
. /tests/lib/unionblk.sh

require_target unionblk
S=$(dev_sectors "$BASE_DEV")
small=$((4 << 11))	# 4 MiB store: metadata plus a few hundred chunks
dmsetup create store --table "0 $small linear $STORE_DEV 0"
store=$(dm_dev store)
ub_create t "$store" "$BASE_DEV" 3 format low_water 100
dev=$(dm_dev t)
total=$(ub_status_field t used | cut -d/ -f2)
echo "# store holds $total chunks"
[ "$total" -gt 100 ] || fail "store too small: $total chunks"
ev0=$(dmsetup info -c --noheadings -o events t)

# Fill it: the write past the end fails with ENOSPC
dd if=/dev/urandom of=/tmp/data bs=4096 count=$((total + 64)) status=none
if dd if=/tmp/data of="$dev" bs=4096 count=$((total + 64)) oflag=direct status=none 2>/tmp/err; then
	fail "writing past a full store succeeded"
fi
cat /tmp/err
grep -q "No space left on device" /tmp/err || fail "expected ENOSPC"
[ "$(ub_status_field t space)" = full ] || fail "status does not say full: $(dmsetup status t)"
[ "$(ub_status_field t state)" = ok ] || fail "metadata not ok when full: $(dmsetup status t)"
ev1=$(dmsetup info -c --noheadings -o events t)
[ "$ev1" -ge $((ev0 + 2)) ] || fail "expected low-water and full events ($ev0 -> $ev1)"
cmp -n $((total * 4096)) "$dev" /tmp/data || fail "data written before the store filled is wrong"

# Grow the store under the live tenant: writing continues
dmsetup suspend store
dmsetup reload store --table "0 $((small * 2)) linear $STORE_DEV 0"
dmsetup resume store
dd if=/tmp/data of="$dev" bs=4096 count=64 skip="$total" seek="$total" oflag=direct status=none ||
	fail "writing after the store grew failed"
cmp -n $(((total + 64) * 4096)) "$dev" /tmp/data || fail "data lost over the grow"

# queue_if_no_space: a write waits for space, then completes
dmsetup reload t --table "0 $S unionblk $store $BASE_DEV 1 queue_if_no_space"
dmsetup resume t
total2=$(ub_status_field t used | cut -d/ -f2)
used2=$(ub_status_field t used | cut -d/ -f1)
need=$((total2 - used2 + 16))
dd if=/dev/urandom of=/tmp/data2 bs=4096 count=$need status=none
start=$((total + 64))
dd if=/tmp/data2 of="$dev" bs=4096 seek=$start oflag=direct status=none &
writer=$!
sleep 3
kill -0 $writer 2>/dev/null || fail "the write did not wait for space"
dmsetup suspend store
dmsetup reload store --table "0 $((small * 3)) linear $STORE_DEV 0"
dmsetup resume store
wait $writer || fail "the queued write failed after the store grew"
cmp -n $((need * 4096)) <(dd if="$dev" bs=4096 skip=$start count=$need status=none) /tmp/data2 ||
	fail "queued write lost"
cmp -n $(((total + 64) * 4096)) "$dev" /tmp/data || fail "earlier data lost"

dmsetup remove t
if command -v unionblk >/dev/null; then
	run unionblk check "$store" --base "$BASE_DEV" || fail "check after out-of-space"
fi
dmsetup remove store
echo PASS
