# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Helpers for the reliability tests (tests/vm/05x-*.sh): the quick or the
# stress size of a test, small dm devices, crash replay from a
# dm-log-writes log, and the figures docs/reliability.md quotes.  Source
# after guest.sh and unionblk.sh.

# `make stress` (tests/stress.mk) runs these tests with UNIONBLK_STRESS=1:
# the long versions.  `make check` runs the short ones.
UB_STRESS=${UNIONBLK_STRESS:-0}

# ub_pick QUICK STRESS: the value for this run.
ub_pick() {
	if [ "$UB_STRESS" = 1 ]; then echo "$2"; else echo "$1"; fi
}

# ub_figure NAME VALUE: a figure of this run, as a TAP comment
# ("# figure: crash_points 612"); tests/stress.mk collects them.
ub_figure() {
	echo "# figure: $1 $2"
}

# ub_now: seconds since the epoch (with microseconds, from bash).
ub_now() {
	echo "${EPOCHREALTIME%.*}"
}

# ub_linear NAME DEV START LEN: a dm-linear slice of DEV (sectors).
ub_linear() {
	dmsetup create "$1" --table "0 $4 linear $2 $3"
	dm_dev "$1" >/dev/null
}

# ub_dmesg_mark: a marker in the kernel log; ub_dmesg_since MARK prints
# the kernel log after it.
ub_dmesg_mark() {
	local m="ub-mark-$RANDOM$RANDOM"
	echo "$m" >/dev/kmsg
	echo "$m"
}
ub_dmesg_since() {
	dmesg | awk -v m="$1" 'f; index($0, m) { f = 1 }'
}

# ub_dmesg_has MARK: fail unless the kernel log still holds MARK (a log
# that overflowed its ring buffer since would hide what came after it).
ub_dmesg_has() {
	dmesg | grep -qF "$1" ||
		fail "the kernel log no longer holds the mark $1: its ring buffer overflowed"
}

# ub_dmesg_bad MARK: fail if the kernel log since MARK has an oops,
# BUG, WARNING or the like (the harness checks this too, after the test;
# this names the step that caused it).
ub_dmesg_bad() {
	local bad
	ub_dmesg_has "$1"
	bad=$(ub_dmesg_since "$1" | grep -E 'BUG:|WARNING:|Oops|general protection fault|UBSAN:|KASAN:|list_(add|del) corruption|refcount_t:|blocked for more than') || return 0
	printf '%s\n' "$bad" | head -n 20
	fail "kernel log reports a problem after: ${2:-?}"
}

# ub_keep_evidence DIR...: on a failure, save DIR (a tar of it) at 1 GiB
# into $BIG_DEV, for a run with UNIONBLK_KEEP=1 (which keeps the disk
# images): on the host, `dd if=vdd.img bs=1M skip=1024 | tar -t`.
ub_keep_evidence() {
	tar -cf - "$@" 2>/dev/null |
		dd of="$BIG_DEV" bs=1M seek=1024 conv=fsync status=none || true
	echo "# evidence: tar at 1 GiB of $BIG_DEV (keep the disks with UNIONBLK_KEEP=1)"
}

# ---- crash replay ---------------------------------------------------------
#
# A workload runs on a tenant whose COW store is a dm-log-writes device;
# the log then holds every write the store saw, and each flush or FUA
# write is a point where power could have failed with exactly what the
# log holds before it on the disk.  ub_replay replays the log onto a
# replay device one flush point at a time and copies each point's image
# into a "slot", a dm-linear slice of $BIG_DEV; when the slots are full
# (and at the end) a callback checks them all, so that the expensive
# dmsetup calls are made once per batch of points, not once per point.

UB_SLOT_PREFIX=ub_slot

# ub_slots_create N SECTORS: N slots of SECTORS each on $BIG_DEV, named
# ub_slot0 .. ub_slot<N-1>, in one dmsetup call.
ub_slots_create() {
	local n=$1 sz=$2 i t=""
	[ $((n * sz)) -le "$(dev_sectors "$BIG_DEV")" ] ||
		fail "$n slots of $sz sectors do not fit on $BIG_DEV"
	for ((i = 0; i < n; i++)); do
		t+="$UB_SLOT_PREFIX$i,,,rw,0 $sz linear $BIG_DEV $((i * sz));"
	done
	dmsetup create --concise "${t%;}"
	dmsetup mknodes
}

# ub_slots_remove N: remove the slots.
ub_slots_remove() {
	local i names=()
	for ((i = 0; i < $1; i++)); do
		names+=("$UB_SLOT_PREFIX$i")
	done
	dmsetup remove "${names[@]}"
}

# ub_replay LOG REPLAY NSLOTS DIR CALLBACK: replay LOG (a dm-log-writes
# log device) onto REPLAY flush point by flush point, REPLAY holding
# what the logged device held when the log began.  Point after point is
# copied to the slots; each time NSLOTS are full, and at the end,
# CALLBACK is called with a file of lines "SLOT FLUSH ENTRY" (slot
# number, flush point number from 1, log entry index of the flush); it
# fails the test (fail) when a point is wrong.  UB_REPLAY_HOOK, when set,
# is shell code run at every point before the copy (sh, with
# REPLAY_ENTRY and REPLAY_FLUSH set), to adjust REPLAY.
# Sets UB_REPLAY_POINTS to the number of points, UB_REPLAY_SECS and
# UB_CHECK_SECS to the seconds spent replaying and in CALLBACK.
ub_replay() {
	local log=$1 rp=$2 nslots=$3 dir=$4 cb=$5 from=0 rc cmd last t
	local pending=$dir/pending full=$dir/full

	UB_REPLAY_POINTS=0 UB_REPLAY_SECS=0 UB_CHECK_SECS=0
	# Run by replay-log (sh -c) at every flush point, REPLAY fsynced;
	# shell builtins and static busybox only: a dynamic program costs
	# a tenth of a second to start under TCG.
	cmd="${UB_REPLAY_HOOK:-:} &&
		read -r n <$dir/count &&
		busybox dd if=$rp of=/dev/mapper/$UB_SLOT_PREFIX\$n bs=1M iflag=direct oflag=direct 2>/dev/null &&
		echo \"\$n \$REPLAY_FLUSH \$REPLAY_ENTRY\" >>$pending &&
		echo \$((n + 1)) >$dir/count || exit 2
		[ \$((n + 1)) -lt $nslots ] || { : >$full; exit 1; }"
	while :; do
		: >"$pending"
		echo 0 >"$dir/count"
		rm -f "$full"
		t=$(ub_now)
		rc=0
		replay-log --log "$log" --replay "$rp" --from-flush "$from" \
			--exec "$cmd" >"$dir/replay.log" 2>&1 || rc=$?
		if [ $rc != 0 ] && [ ! -e "$full" ]; then
			cat "$dir/replay.log"
			fail "replay-log failed (status $rc) after flush point $from"
		fi
		if [ -s "$pending" ]; then
			UB_REPLAY_POINTS=$((UB_REPLAY_POINTS + $(wc -l <"$pending")))
			UB_REPLAY_SECS=$((UB_REPLAY_SECS + $(ub_now) - t))
			t=$(ub_now)
			"$cb" "$pending"
			UB_CHECK_SECS=$((UB_CHECK_SECS + $(ub_now) - t))
		fi
		[ -e "$full" ] || break
		read -r _ last _ < <(tail -n 1 "$pending")
		from=$last
	done
}
