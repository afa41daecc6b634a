#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Concurrent writes into one chunk while it is being copied up all land
# (no lost write), and concurrent reads never see half-copied data, at
# 4 KiB and 64 KiB chunks.
. /tests/lib/guest.sh
. /tests/lib/unionblk.sh

require_target unionblk
require_cmd ubverify
run ubverify fill "$BASE_DEV" --seed 21 --size 64M

ub_create r4k "$STORE_DEV" "$BASE_DEV" 1 format
ub_create r64k "$STORE2_DEV" "$BASE_DEV" 3 format chunk_size 128

# Threads write disjoint slices of one chunk at once, round after round
run ubverify run "$(dm_dev r4k)" --seed 31 --ops 300 --threads 4 \
	--hammer 4096 --size 64M --expect-base "$BASE_DEV"
run ubverify run "$(dm_dev r64k)" --seed 32 --ops 300 --threads 8 \
	--hammer 65536 --size 64M --expect-base "$BASE_DEV"
# Overlapping random reads and writes from several threads, on a fresh
# tenant (the model starts from the base)
ub_create r3 "$BIG_DEV" "$BASE_DEV" 3 format chunk_size 128
run ubverify run "$(dm_dev r3)" --seed 33 --ops 4000 --threads 4 \
	--size 64M --max-io 64k --read-pct 50 --expect-base "$BASE_DEV"
dmsetup remove r4k r64k r3
echo PASS
