#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The kernel target and the userspace tools read the same on-disk format:
# a store made by `unionblk format` activates; after the tenant writes
# whole chunks, partial chunks across a chunk boundary, and discards, and
# the device is removed, `unionblk check` finds the store clean and
# `unionblk read` assembles exactly what the device read back; a store
# whose metadata was wiped and rebuilt by `unionblk restore` from a dump
# activates again, reads the same, and keeps working.
# timeout: 600
. /tests/lib/guest.sh
. /tests/lib/unionblk.sh

require_target unionblk
require_cmd unionblk blkdiscard cmp sha256sum

CB=4096				# chunk size the store is formatted with
SEG=$((16 << 20))		# compare in 16 MiB segments
SECTORS=$(dev_sectors "$BASE_DEV")
BYTES=$((128 << 20))		# compared: every write below lands in here
TABLE="0 $SECTORS unionblk $STORE_DEV $BASE_DEV 0"

activate() {
	echo "# dmsetup create t --table '$TABLE'"
	dmsetup create t --table "$TABLE"
	dev=$(dm_dev t)
}

# sums SOURCE...: sha256 of each 16 MiB segment of the virtual device;
# SOURCE is "dev" (the active device) or "tools" (unionblk read).
sums() {
	local off=0
	while [ "$off" -lt "$BYTES" ]; do
		if [ "$1" = dev ]; then
			dd if="$dev" bs=1M iflag=direct,skip_bytes skip="$off" \
				count=$((SEG >> 20)) status=none | sha256sum
		else
			unionblk read "$STORE_DEV" --base "$BASE_DEV" \
				--offset "$off" --length "$SEG" | sha256sum
		fi
		off=$((off + SEG))
	done
}

# check_clean: unionblk check must exit 0 and say clean.
check_clean() {
	local out
	if ! out=$(unionblk check "$STORE_DEV" --base "$BASE_DEV"); then
		printf '%s\n' "$out"
		fail "unionblk check found problems $*"
	fi
	printf '%s\n' "$out"
	grep -q ": clean" <<<"$out" || fail "check did not say clean $*"
}

# 16 MiB of base data; the rest of the base stays zeroes
dd if=/dev/urandom of=/tmp/base16 bs=1M count=16 status=none
dd if=/tmp/base16 of="$BASE_DEV" bs=1M oflag=direct status=none

run unionblk format "$STORE_DEV" --base "$BASE_DEV" --tenant t040 \
	--base-name vda --chunk-size $CB
check_clean "right after format"
activate

# whole chunks 256-271 (1 MiB)
dd if=/dev/urandom of=/tmp/whole bs=$CB count=16 status=none
dd if=/tmp/whole of="$dev" bs=$CB seek=256 oflag=direct status=none
# a partial chunk: one sector inside chunk 1280 (copy-up of base data)
dd if=/dev/urandom of="$dev" bs=512 seek=$((1280 * 8 + 2)) count=1 \
	oflag=direct status=none
# partial chunks across a boundary: last sector of 1535, first two of 1536
dd if=/dev/urandom of="$dev" bs=512 seek=$((1536 * 8 - 1)) count=3 \
	oflag=direct status=none
# a chunk where the base is zeroes (past the 16 MiB of data)
dd if=/dev/urandom of="$dev" bs=$CB seek=25600 count=1 oflag=direct status=none
# discards: whole unmapped chunks 512-519, a whole mapped chunk 256,
# and part of mapped chunk 257
run blkdiscard -o $((512 * CB)) -l $((8 * CB)) "$dev"
run blkdiscard -o $((256 * CB)) -l $CB "$dev"
run blkdiscard -o $((257 * CB + 1024)) -l 1024 "$dev"
sync
blockdev --flushbufs "$dev"
dmsetup message t 0 commit 2>/dev/null || true
echo "# status: $(dmsetup status t)"

sums dev >/tmp/sums.dev
dmsetup remove t

check_clean "after the kernel wrote"
sums tools >/tmp/sums.tools
if ! cmp -s /tmp/sums.dev /tmp/sums.tools; then
	paste /tmp/sums.dev /tmp/sums.tools | awk '$1 != $3 {
		printf "segment %d (bytes %d-): device %s tools %s\n",
		NR - 1, (NR - 1) * 16777216, substr($1, 1, 12), substr($3, 1, 12) }'
	fail "unionblk read differs from what the device read back"
fi
echo "# unionblk read matches the device in all $(wc -l </tmp/sums.dev) segments"

# delta names what the tenant changed
unionblk delta "$STORE_DEV" | tee /tmp/delta
has_range() {	# has_range TYPE FIRST COUNT
	awk -v t="$1" -v f="$2" -v n="$3" '$1 == t && $2 == f && $3 == n { ok = 1 }
		END { exit !ok }' /tmp/delta || fail "delta lacks $1 $2+$3"
}
has_range whiteout 256 1
has_range mapped 257 15
has_range mapped 1280 1
has_range mapped 1535 2
has_range mapped 25600 1
has_range whiteout 512 8

# dump, wipe the metadata region, restore, and the kernel takes it back
unionblk dump "$STORE_DEV" >/tmp/dump.json
unionblk dump --format xml "$STORE_DEV" >/tmp/dump.xml
ds=$(unionblk check --json "$STORE_DEV" |
	sed -n 's/.*"data_start_sector": *\([0-9]*\).*/\1/p')
[ -n "$ds" ] || fail "no data_start_sector in check --json"
run dd if=/dev/zero of="$STORE_DEV" bs=512 count="$ds" oflag=direct status=none
if unionblk check "$STORE_DEV" >/tmp/wiped; then
	fail "check passed a store without metadata"
fi
grep -q "no valid superblock" /tmp/wiped || fail "wiped store: $(cat /tmp/wiped)"
run unionblk restore /tmp/dump.xml "$STORE_DEV"
check_clean "after restore"
unionblk dump "$STORE_DEV" | cmp - /tmp/dump.json ||
	fail "dump after restore differs from the dump before"

activate
sums dev >/tmp/sums.dev2
cmp -s /tmp/sums.dev /tmp/sums.dev2 ||
	fail "the restored store reads differently through the kernel"
# and keeps working: one more chunk, through a reload
dd if=/dev/urandom of="$dev" bs=$CB seek=3000 count=1 oflag=direct status=none
sync
sums dev >/tmp/sums.dev3
dmsetup remove t
check_clean "after writing to the restored store"
sums tools >/tmp/sums.tools3
cmp -s /tmp/sums.dev3 /tmp/sums.tools3 ||
	fail "unionblk read differs after writing to the restored store"
unionblk delta "$STORE_DEV" >/tmp/delta
has_range mapped 3000 1
echo PASS
