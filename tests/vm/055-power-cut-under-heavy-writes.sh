#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Power cuts: the guest is reset (vm_crash_reboot) at a random moment of
# heavy writes on two tenants (ubverify with four threads, discards, FUA
# and flushes on one; fio on the other), twice.  After each boot both
# stores check clean, activate, and everything the first tenant flushed
# before the cut reads back (ubverify verify, then --adopt to go on).
# make stress repeats this test to reach 20 cuts (tests/stress.mk): the
# harness allows a test only a few reboots per run.
# timeout: 300
. /tests/lib/guest.sh
. /tests/lib/unionblk.sh
. /tests/lib/reliability.sh

require_target unionblk
require_cmd ubverify unionblk fio

CUTS=2
BASE_SZ=$((64 << 11))
S=/mnt/s

ub_linear bs "$BASE_DEV" 0 $BASE_SZ
BASE=$(dm_dev bs)
mkdir -p $S
if [ "$UNIONBLK_PHASE" = 1 ]; then
	run ubverify fill "$BASE" --seed 550 >/dev/null
	mkfs.ext4 -q "$BIG_DEV"
	mount "$BIG_DEV" $S
	ub_create t1 "$STORE_DEV" "$BASE" 1 format
	ub_create t2 "$STORE2_DEV" "$BASE" 3 format chunk_size 128
	run ubverify run "$(dm_dev t1)" --seed 551 --ops 300 --size 64M \
		--max-io 256k --flush-every 50 --expect-base "$BASE" \
		--state $S/t1.state >/dev/null
	echo 0 >$S/cuts
	echo 0 >$S/verified
else
	mount "$BIG_DEV" $S
	n=$(cat $S/cuts)
	echo "# after power cut $n"
	for st in "$STORE_DEV" "$STORE2_DEV"; do
		run unionblk check "$st" --base "$BASE" || fail "store $st not clean after power cut $n"
	done
	ub_create t1 "$STORE_DEV" "$BASE"
	ub_create t2 "$STORE2_DEV" "$BASE"
	run ubverify verify "$(dm_dev t1)" --state $S/t1.state \
		--expect-base "$BASE" --adopt >"$PWD/verify" 2>&1 ||
		{ cat "$PWD/verify"; fail "data flushed before power cut $n lost or changed"; }
	cat "$PWD/verify"
	v=$(grep -o '[0-9]* durable' "$PWD/verify" | cut -d ' ' -f 1)
	echo $(($(cat $S/verified) + ${v:-0})) >$S/verified
	run dd if="$(dm_dev t2)" of=/dev/null bs=1M iflag=direct status=none
fi

cuts=$(cat $S/cuts)
if [ "$cuts" -lt $CUTS ]; then
	echo $((cuts + 1)) >$S/cuts
	sync -f $S/cuts
	ubverify run "$(dm_dev t1)" --initial-state $S/t1.state --ops 10000000 \
		--time 60 --size 64M --max-io 256k --threads 4 --read-pct 20 \
		--discard-pct 10 --fua-pct 5 --flush-every 40 \
		--expect-base "$BASE" --state $S/t1.state >/dev/null 2>&1 &
	fio --name=load --filename="$(dm_dev t2)" --direct=1 --ioengine=libaio \
		--iodepth=16 --rw=randrw --bsrange=4k-256k --size=64M \
		--time_based --runtime=60 --output=/dev/null &
	sleep $((3 + RANDOM % 6))
	echo "# power cut $((cuts + 1)) of $CUTS"
	vm_crash_reboot
fi

verified=$(cat $S/verified)
dmsetup remove t1 t2
umount $S
dmsetup remove bs
echo "# $cuts power cuts survived, $verified durable sectors verified after them"
ub_figure power_cuts "$cuts"
ub_figure power_cut_sectors_verified "$verified"
echo PASS
