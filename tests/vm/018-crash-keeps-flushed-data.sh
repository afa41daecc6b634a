#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Crash emulation: after a workload with flushes, the store starts
# dropping every write (dm-flakey drop_writes, as a power cut loses all
# later I/O) while the tenant keeps writing and commits; then the tenant
# is reactivated on the intact store.  Everything flushed before the cut
# reads back exactly, nothing reads another chunk's or stale base data,
# and the offline checker finds the store clean.  Then the same over a
# guest reset in the middle of writes (every uncommitted metadata change
# lost), checked after the reboot.
. /tests/lib/guest.sh
. /tests/lib/unionblk.sh

require_target unionblk
require_target flakey
require_cmd ubverify
SS=$(dev_sectors "$STORE_DEV")

if [ "$UNIONBLK_PHASE" = 1 ]; then
	run ubverify fill "$BASE_DEV" --seed 51 --size 64M
	dmsetup create st --table "0 $SS flakey $STORE_DEV 0 3600 0"
	ub_create t "$(dm_dev st)" "$BASE_DEV" 1 format
	run ubverify run "$(dm_dev t)" --seed 52 --ops 2000 --size 64M \
		--max-io 128k --discard-pct 10 --fua-pct 5 --flush-every 40 \
		--expect-base "$BASE_DEV" --state /tmp/a.state

	# The cut: from now on every write to the store is lost
	dmsetup suspend --noflush st
	dmsetup reload st --table "0 $SS flakey $STORE_DEV 0 0 3600 1 drop_writes"
	dmsetup resume st
	ubverify run "$(dm_dev t)" --seed 53 --ops 1500 --size 64M --read-pct 0 \
		--max-io 128k --discard-pct 10 --flush-every 40 --no-final-verify \
		>/dev/null || true
	dmsetup message t 0 commit
	dmsetup remove t
	dmsetup remove st

	# Back on the intact store: the state of the last flush before the cut
	if command -v unionblk >/dev/null; then
		run unionblk check "$STORE_DEV" --base "$BASE_DEV" || fail "store not clean after the cut"
	fi
	ub_create t "$STORE_DEV" "$BASE_DEV"
	run ubverify verify "$(dm_dev t)" --state /tmp/a.state --expect-base "$BASE_DEV"

	# A guest reset in the middle of writes: the state file lives on a
	# filesystem on the scratch disk, which survives the reset
	mkfs.ext4 -q "$BIG_DEV"
	mkdir -p /mnt/s
	mount "$BIG_DEV" /mnt/s
	ubverify run "$(dm_dev t)" --initial-state /tmp/a.state --ops 1200 --crash-after 1000 \
		--size 64M --max-io 128k --discard-pct 10 --flush-every 25 \
		--expect-base "$BASE_DEV" --state /mnt/s/b.state
	sync -f /mnt/s/b.state
	vm_crash_reboot
fi

# Phase 2, after the reset
mkdir -p /mnt/s
mount "$BIG_DEV" /mnt/s
if command -v unionblk >/dev/null; then
	run unionblk check "$STORE_DEV" --base "$BASE_DEV" || fail "store not clean after the reset"
fi
ub_create t "$STORE_DEV" "$BASE_DEV"
run ubverify verify "$(dm_dev t)" --state /mnt/s/b.state --expect-base "$BASE_DEV"
dmsetup remove t
umount /mnt/s
echo PASS
