#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Chunk-aligned discards and write-zeroes become whiteouts: they read as
# zeroes (never the base again), free the store's space for reuse and
# survive reactivation; partial ones zero exactly their range.
. /tests/lib/guest.sh
. /tests/lib/unionblk.sh

require_target unionblk
require_cmd blkdiscard

dd if=/dev/urandom of=/tmp/pattern bs=1M count=4 status=none
dd if=/tmp/pattern of="$BASE_DEV" bs=1M oflag=direct status=none
ub_create t "$STORE_DEV" "$BASE_DEV" 1 format
dev=$(dm_dev t)

# 8 chunks written by the tenant
dd if=/dev/urandom of=/tmp/mine bs=4096 count=8 status=none
dd if=/tmp/mine of="$dev" bs=4096 oflag=direct status=none
dmsetup message t 0 commit
[ "$(ub_status_field t used)" = "8/$(ub_status_field t used | cut -d/ -f2)" ] ||
	fail "expected 8 used chunks: $(dmsetup status t)"

zeroes() {	# zeroes OFFSET LEN: the range reads as zeroes
	cmp -n "$2" <(dd if="$dev" iflag=skip_bytes,count_bytes skip="$1" count="$2" bs=4096 status=none) /dev/zero ||
		fail "range $1+$2 is not zeroes"
}
same() {	# same OFFSET LEN FILE FILE_OFFSET
	cmp -n "$2" <(dd if="$dev" iflag=skip_bytes,count_bytes skip="$1" count="$2" bs=4096 status=none) \
		<(dd if="$3" iflag=skip_bytes,count_bytes skip="$4" count="$2" bs=4096 status=none) ||
		fail "range $1+$2 differs from $3"
}

# Whole mapped chunks 0-3: whiteouts, space freed
run blkdiscard -o 0 -l 16384 "$dev"
zeroes 0 16384
same 16384 16384 /tmp/mine 16384
# Whole unmapped chunks 100-101 (base data): whiteouts too
run blkdiscard -o $((100 * 4096)) -l 8192 "$dev"
zeroes $((100 * 4096)) 8192
dmsetup message t 0 commit
used=$(ub_status_field t used)
[ "${used%%/*}" = 4 ] || fail "discard did not free chunks: $(dmsetup status t)"
[ "$(ub_status_field t whiteouts)" = 6 ] || fail "expected 6 whiteouts: $(dmsetup status t)"

# Partial discard of a mapped chunk zeroes its range only
run blkdiscard -o $((5 * 4096 + 512)) -l 1024 "$dev"
same $((5 * 4096)) 512 /tmp/mine $((5 * 4096))
zeroes $((5 * 4096 + 512)) 1024
same $((5 * 4096 + 1536)) 2560 /tmp/mine $((5 * 4096 + 1536))

# Partial write-zeroes of an unmapped chunk: copied up, range zeroed
run blkdiscard -z -o $((200 * 4096 + 1024)) -l 2048 "$dev"
same $((200 * 4096)) 1024 /tmp/pattern $((200 * 4096))
zeroes $((200 * 4096 + 1024)) 2048
same $((200 * 4096 + 3072)) 1024 /tmp/pattern $((200 * 4096 + 3072))
# Whole-chunk write-zeroes: a whiteout
run blkdiscard -z -o $((300 * 4096)) -l 4096 "$dev"
zeroes $((300 * 4096)) 4096

# Freed chunks are reused: write 4 new chunks, used grows back by 4 only
dd if=/dev/urandom of=/tmp/more bs=4096 count=4 status=none
dd if=/tmp/more of="$dev" bs=4096 seek=0 oflag=direct status=none
dmsetup message t 0 commit
used2=$(ub_status_field t used)
[ "${used2%%/*}" = $((4 + 1 + 4)) ] || fail "expected 9 used chunks: $(dmsetup status t)"

# Everything holds over reactivation
dmsetup remove t
ub_create t "$STORE_DEV" "$BASE_DEV"
dev=$(dm_dev t)
same 0 16384 /tmp/more 0
zeroes $((100 * 4096)) 8192
zeroes $((5 * 4096 + 512)) 1024
zeroes $((200 * 4096 + 1024)) 2048
zeroes $((300 * 4096)) 4096
same $((400 * 4096)) 4096 /tmp/pattern $((400 * 4096))
[ "$(ub_status_field t whiteouts)" = 3 ] || fail "expected 3 whiteouts after rewrite: $(dmsetup status t)"
dmsetup remove t
echo PASS
