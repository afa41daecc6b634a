#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Crash replay under ext4: a tenant carries ext4, its COW store is logged
# with dm-log-writes while files are written, some fsynced (file and
# directory), some not, some deleted; then the log is replayed to every
# flush and FUA point.  At every point the store checks clean, the
# tenant activates, ext4 mounts (replaying its journal), every file
# fsynced before the point is there with its exact content, and after
# unmounting e2fsck -fn finds nothing to fix.  make check: 15 files,
# at least 100 points (with 050's 400: 500 crash points a run);
# UNIONBLK_STRESS=1: 200 files (150 gave 914 points: about 6 a file).
# timeout: 600
# kernels: 6.1
# (make check runs it on 6.1 only, to stay within its time budget; it
# passes on 6.12 too, and make stress runs it on every kernel of KERNELS)
. /tests/lib/guest.sh
. /tests/lib/unionblk.sh
. /tests/lib/reliability.sh

require_target unionblk
require_target log-writes
require_cmd ubverify replay-log unionblk mkfs.ext4 e2fsck sha256sum

FILES=$(ub_pick 15 200)
MIN_POINTS=$(ub_pick 100 1000)
BASE_SZ=$((16 << 11))	# sectors: base and tenant, 16 MiB
MARK_START=$((17 << 11))	# sectors: file markers in the store's tail
STORE_SZ=$((24 << 11))	# sectors: the COW store
NSLOTS=48
LOG_DEV=$STORE2_DEV
W=$PWD

cleanup() {
	local d
	umount /mnt/e 2>/dev/null
	for d in /mnt/p*; do umount "$d" 2>/dev/null; done
	# shellcheck disable=SC2046 # a list of names
	set -- $(dmsetup ls 2>/dev/null | awk '/^ub_e[0-9]/ { print $1 }')
	[ $# = 0 ] || dmsetup remove "$@"
	dmsetup remove t lw 2>/dev/null
	ub_slots_remove $NSLOTS 2>/dev/null
	dmsetup remove rp st bs 2>/dev/null
}
trap cleanup EXIT

ub_linear bs "$BASE_DEV" 0 $BASE_SZ
ub_linear st "$STORE_DEV" 0 $STORE_SZ
ub_linear rp "$STORE_DEV" $STORE_SZ $STORE_SZ
BASE=$(dm_dev bs)
dd if=/dev/urandom of="$BASE" bs=1M count=16 oflag=direct status=none
ub_slots_create $NSLOTS $STORE_SZ

# A tenant with a fresh ext4, unmounted; the log starts from this store
ub_create t "$(dm_dev st)" "$BASE" 1 format
run mkfs.ext4 -q -b 4096 "$(dm_dev t)"
dmsetup remove t
dd if="$(dm_dev st)" of="$(dm_dev rp)" bs=1M iflag=direct oflag=direct status=none

dmsetup create lw --table "0 $STORE_SZ log-writes $(dm_dev st) $LOG_DEV"
ub_create t "$(dm_dev lw)" "$BASE"
mkdir -p /mnt/e "$W/m"
mount "$(dm_dev t)" /mnt/e
mkdir /mnt/e/d0 /mnt/e/d1 /mnt/e/d2
sync -f /mnt/e
: >"$W/m/0"
# File i (1..FILES): written, fsynced with its directory when i is not a
# multiple of 3; then marker i in the log, and manifest i lists every
# fsynced file so far with its hash.  Unsynced files come and go.
for ((i = 1; i <= FILES; i++)); do
	d=d$((i % 3))
	head -c $((1024 + RANDOM * 2)) /dev/urandom >"$W/f"
	if ((i % 3)); then
		dd if="$W/f" of="/mnt/e/$d/f$i" bs=64k conv=fsync status=none
		sync "/mnt/e/$d"
		(cd "$W" && sha256sum f) | sed "s| f\$| $d/f$i|" >>"$W/m/cur"
	else
		cp "$W/f" "/mnt/e/$d/n$i"
		[ $i -lt 6 ] || rm -f "/mnt/e/d$(((i - 3) % 3))/n$((i - 3))"
	fi
	cp "$W/m/cur" "$W/m/$i" 2>/dev/null || : >"$W/m/$i"
	ubverify stamp "$(dm_dev lw)" --sector $((MARK_START + 8 * i)) --seed 1 --gen 1 >/dev/null
done
umount /mnt/e
dmsetup remove t
dmsetup remove lw

replay-log --log "$LOG_DEV" --list >"$W/list"
MARK_E=() MARK_I=()
while read -r e i; do
	MARK_E+=("$e")
	MARK_I+=("$i")
done < <(awk -v m=$MARK_START '$2 == "sector" && $3 >= m && $5 > 0 {
	print $1 + 0, int(($3 - m) / 8) }' "$W/list")
[ ${#MARK_E[@]} = "$FILES" ] || fail "${#MARK_E[@]} markers in the log, want $FILES"

# check_fs N MANIFEST: mount tenant ub_e<N>, compare the files, unmount,
# fsck.
check_fs() {
	local n=$1 dev=/dev/mapper/ub_e$1 mnt=/mnt/p$1
	mkdir -p "$mnt"
	mount -t ext4 "$dev" "$mnt" 2>&1 || { echo "FAIL mount"; return 1; }
	if [ -s "$2" ] && ! (cd "$mnt" && sha256sum -c --quiet "$2" 2>&1); then
		umount "$mnt"
		echo "FAIL fsynced files differ"
		return 1
	fi
	umount "$mnt"
	e2fsck -fn "$dev" >"$W/fsck.$n" 2>&1 || { cat "$W/fsck.$n"; echo "FAIL e2fsck"; return 1; }
}

check_share() {	# check_share PLAN PART
	local i=0 n k e c
	while read -r n k e c; do
		[ $((i++ % 2)) = "$2" ] || continue
		if ! unionblk check "/dev/mapper/$UB_SLOT_PREFIX$n" --base "$BASE" \
			>"$W/out.$n" 2>&1 </dev/null; then
			cat "$W/out.$n"
			echo "FAIL point $k: unionblk check"
			return 1
		fi
	done <"$1"
}
fs_share() {
	local i=0 n k e c
	while read -r n k e c; do
		[ $((i++ % 2)) = "$2" ] || continue
		check_fs "$n" "$W/m/$c" </dev/null >"$W/fs.$n" 2>&1 ||
			{ echo "point $k (entry $e, after file $c):"; cat "$W/fs.$n"; return 1; }
	done <"$1"
}

check_points() {
	local n k e c table="" names=() plan=$W/plan p0 p1 bad=0
	: >"$plan"
	while read -r n k e; do
		while [ "$mi" -lt ${#MARK_E[@]} ] && [ "${MARK_E[mi]}" -lt "$e" ]; do
			mi=$((mi + 1))
		done
		c=0
		[ "$mi" = 0 ] || c=${MARK_I[mi - 1]}
		echo "$n $k $e $c" >>"$plan"
		table+="ub_e$n,,,rw,0 $BASE_SZ unionblk /dev/mapper/$UB_SLOT_PREFIX$n $BASE;"
		names+=("ub_e$n")
	done <"$1"
	# The stores as replayed, then the file systems (which write)
	check_share "$plan" 0 >"$W/res0" 2>&1 &
	p0=$!
	check_share "$plan" 1 >"$W/res1" 2>&1 &
	p1=$!
	wait "$p0" || bad=1
	wait "$p1" || bad=1
	[ $bad = 0 ] || { cat "$W/res0" "$W/res1"; fail "a replayed store is not clean"; }
	dmsetup create --concise "${table%;}" || fail "a replayed store does not activate"
	dmsetup mknodes
	fs_share "$plan" 0 >"$W/res0" 2>&1 &
	p0=$!
	fs_share "$plan" 1 >"$W/res1" 2>&1 &
	p1=$!
	wait "$p0" || bad=1
	wait "$p1" || bad=1
	[ $bad = 0 ] || { cat "$W/res0" "$W/res1"; fail "ext4 lost fsynced data or is inconsistent at a crash point"; }
	dmsetup remove "${names[@]}"
}

mi=0
t0=$(ub_now)
ub_replay "$LOG_DEV" "$(dm_dev rp)" $NSLOTS "$W" check_points
trap - EXIT
ub_slots_remove $NSLOTS
dmsetup remove rp st bs
echo "# $UB_REPLAY_POINTS crash points under ext4 with $FILES files ($(grep -c . "$W/m/cur") fsynced): each store clean, fsynced files intact, e2fsck clean; $(($(ub_now) - t0))s"
ub_figure ext4_crash_points "$UB_REPLAY_POINTS"
ub_figure ext4_files_fsynced "$(grep -c . "$W/m/cur")"
[ "$UB_REPLAY_POINTS" -ge "$MIN_POINTS" ] || fail "only $UB_REPLAY_POINTS crash points (want $MIN_POINTS)"
echo PASS
