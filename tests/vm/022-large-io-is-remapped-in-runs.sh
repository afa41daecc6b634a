#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Large bios are remapped in runs, not one chunk at a time: with 4 KiB
# chunks a 1 MiB read of unwritten chunks reaches the base as a few bios
# (not 256), a 1 MiB read or rewrite of chunks written in order reaches
# the store as a few bios, and a read that crosses mapped, whited-out
# and unwritten chunks returns each part from the right place.
. /tests/lib/guest.sh
. /tests/lib/unionblk.sh

require_target unionblk

MIB=$((1 << 20))

# bios DEV: reads or writes (r|w) the disk behind DEV has taken, counting
# merged ones (what dm sent it, before the elevator merged them).
bios() {
	local name f
	name=$(basename "$(readlink -f "$1")")
	read -r -a f <"/sys/block/$name/stat"
	case $2 in
	r) echo $((f[0] + f[1])) ;;
	w) echo $((f[4] + f[5])) ;;
	esac
}

# at_most WHAT N BEFORE AFTER: fewer than N bios between the two counts.
at_most() {
	local n=$(($4 - $3))
	echo "# $1: $n bios"
	[ "$n" -le "$2" ] || fail "$1 took $n bios (at most $2 expected: not remapped in runs)"
}

run dd if=/dev/urandom of=/tmp/pattern bs=1M count=8 status=none
run dd if=/tmp/pattern of="$BASE_DEV" bs=1M oflag=direct status=none
ub_create t1 "$STORE_DEV" "$BASE_DEV" 3 format chunk_size 8
dev=$(dm_dev t1)
# Warm the mapping block, so every bio below is mapped in map
run dd if="$dev" of=/dev/null bs=4k count=1 iflag=direct status=none

# 1 MiB of unwritten chunks: a run on the base
b0=$(bios "$BASE_DEV" r)
dd if="$dev" of=/tmp/read1 bs=1M count=1 iflag=direct status=none ||
	fail "1 MiB read of unwritten chunks failed"
b1=$(bios "$BASE_DEV" r)
cmp -n $MIB /tmp/read1 /tmp/pattern || fail "unwritten chunks do not read the base"
at_most "1 MiB read of unwritten chunks" 8 "$b0" "$b1"

# 1 MiB written in order at 2 MiB: consecutive data chunks in the store
run dd if=/dev/urandom of=/tmp/blob bs=1M count=1 status=none
run dd if=/tmp/blob of="$dev" bs=1M seek=2 oflag=direct status=none
# Commit the new mapping now: the commit every second would add its own
# I/O to the counts below
run dmsetup message t1 0 commit
s0=$(bios "$STORE_DEV" r)
dd if="$dev" of=/tmp/read2 bs=1M skip=2 count=1 iflag=direct status=none ||
	fail "1 MiB read of written chunks failed"
s1=$(bios "$STORE_DEV" r)
cmp /tmp/read2 /tmp/blob || fail "written chunks read back wrong"
at_most "1 MiB read of chunks written in order" 8 "$s0" "$s1"

# Rewriting them is a run too
run dd if=/dev/urandom of=/tmp/blob2 bs=1M count=1 status=none
w0=$(bios "$STORE_DEV" w)
run dd if=/tmp/blob2 of="$dev" bs=1M seek=2 oflag=direct status=none
w1=$(bios "$STORE_DEV" w)
at_most "1 MiB rewrite of chunks written in order" 8 "$w0" "$w1"

# One read across every kind: 4 chunks written backwards (not consecutive
# in the store), a whiteout of 4 chunks, unwritten chunks, then the start
# of the run written above.  Expected content built alongside.
off=$((2 * MIB - 64 * 1024))	# 64 KiB before the written run
cp /tmp/pattern /tmp/expect
run dd if=/tmp/blob2 of=/tmp/expect bs=1M seek=2 conv=notrunc status=none
for i in 3 2 1 0; do
	run dd if=/dev/urandom of=/tmp/c bs=4k count=1 status=none
	run dd if=/tmp/c of="$dev" bs=4k seek=$((off / 4096 + i)) oflag=direct status=none
	run dd if=/tmp/c of=/tmp/expect bs=4k seek=$((off / 4096 + i)) conv=notrunc status=none
done
run blkdiscard -o $((off + 16384)) -l 16384 "$dev"
run dd if=/dev/zero of=/tmp/expect bs=4k seek=$((off / 4096 + 4)) count=4 conv=notrunc status=none
cmp <(dd if="$dev" bs=64k skip=$((off / 65536)) count=4 iflag=direct status=none) \
	<(dd if=/tmp/expect bs=64k skip=$((off / 65536)) count=4 status=none) ||
	fail "a read across written, whited-out and unwritten chunks is wrong"

# The same after reactivation (the mapping read from the store)
run dmsetup remove t1
ub_create t1 "$STORE_DEV" "$BASE_DEV"
cmp -n $((8 * MIB)) "$(dm_dev t1)" /tmp/expect ||
	fail "the tenant differs from the model after reactivation"
run dmsetup remove t1
