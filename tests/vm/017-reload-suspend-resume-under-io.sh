#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Suspend/resume, table reloads (same table, then a bigger tenant) and
# commit messages while I/O runs lose nothing; the tenant grows by reload.
. /tests/lib/guest.sh
. /tests/lib/unionblk.sh

require_target unionblk
require_cmd ubverify
S=$(dev_sectors "$BASE_DEV")
run ubverify fill "$BASE_DEV" --seed 41 --size 64M
# Format with room for a tenant twice the base
dmsetup create t --table "0 $((S * 2)) unionblk $STORE_DEV $BASE_DEV 1 format"
dmsetup remove t
dmsetup create t --table "0 $S unionblk $STORE_DEV $BASE_DEV"
dev=$(dm_dev t)

ubverify run "$dev" --seed 42 --ops 1000000 --time 40 --size 64M \
	--threads 2 --max-io 128k --discard-pct 5 --flush-every 50 \
	--expect-base "$BASE_DEV" --state /tmp/t.state >/tmp/ubv.log 2>&1 &
ubv=$!
for i in $(seq 1 8); do
	sleep 2
	dmsetup suspend t
	sleep 0.5
	dmsetup resume t
	dmsetup message t 0 commit
	dmsetup reload t --table "0 $S unionblk $STORE_DEV $BASE_DEV"
	dmsetup resume t
	dmsetup message t 0 low_water $((i * 10))
done
wait $ubv || { cat /tmp/ubv.log; fail "I/O under suspend/reload failed"; }
tail -n 3 /tmp/ubv.log

# Grow the tenant by reload: the old part keeps its data, the new reads zeroes
dmsetup reload t --table "0 $((S * 2)) unionblk $STORE_DEV $BASE_DEV"
dmsetup resume t
[ "$(dev_sectors "$dev")" = $((S * 2)) ] || fail "tenant did not grow"
cmp -n 1048576 <(dd if="$dev" bs=1M skip=$((S / 2048 + 8)) count=1 status=none) /dev/zero ||
	fail "grown part is not zeroes"
echo grown | dd of="$dev" bs=4096 seek=$((S / 8 + 10)) oflag=direct conv=sync status=none
dmsetup remove t
dmsetup create t --table "0 $((S * 2)) unionblk $STORE_DEV $BASE_DEV"
run ubverify verify "$(dm_dev t)" --state /tmp/t.state --expect-base "$BASE_DEV"
[ "$(dd if="$(dm_dev t)" bs=4096 skip=$((S / 8 + 10)) count=1 status=none | head -c 5)" = grown ] ||
	fail "write to the grown part lost"
dmsetup remove t
echo PASS
