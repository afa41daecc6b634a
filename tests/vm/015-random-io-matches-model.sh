#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Random reads, writes (whole and partial chunks, FUA), discards and
# write-zeroes on a tenant match a model byte for byte, at 4 KiB and
# 64 KiB chunks, before and after reactivation; fio verify=crc32c agrees.
. /tests/lib/guest.sh
. /tests/lib/unionblk.sh

require_target unionblk
require_cmd ubverify fio
run ubverify fill "$BASE_DEV" --seed 7 --size 64M

model_run() {	# model_run NAME STORE CHUNK_SECTORS SEED
	local name=$1 store=$2 chunk=$3 seed=$4 dev
	ub_create "$name" "$store" "$BASE_DEV" 3 format chunk_size "$chunk"
	dev=$(dm_dev "$name")
	run ubverify run "$dev" --seed "$seed" --ops 3000 --size 64M \
		--max-io 256k --discard-pct 10 --zero-pct 5 --fua-pct 10 \
		--flush-every 100 --expect-base "$BASE_DEV" --state "/tmp/$name.state"
	run dmsetup status "$name"
	run dmsetup remove "$name"
	ub_create "$name" "$store" "$BASE_DEV"
	run ubverify verify "$(dm_dev "$name")" --state "/tmp/$name.state" \
		--expect-base "$BASE_DEV"
}
model_run t4k "$STORE_DEV" 8 11
model_run t64k "$STORE2_DEV" 128 12

# fio's own verification, over chunks both tenants left unmapped
for t in t4k t64k; do
	run fio --name=verify --filename="$(dm_dev $t)" --direct=1 \
		--ioengine=libaio --iodepth=8 --rw=randwrite --bsrange=512-128k \
		--offset=128M --size=32M --verify=crc32c --verify_fatal=1 \
		--randrepeat=0 --output-format=terse >/dev/null
done
dmsetup remove t4k t64k
echo PASS
