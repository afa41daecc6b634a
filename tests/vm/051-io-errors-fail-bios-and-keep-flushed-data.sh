#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Fault injection with dm-flakey and dm-error under the COW store and the
# base: the tenant fails the bios a fault touches (EIO, never an Oops),
# goes read_only when a commit fails and fail when it fails again
# (docs/target.md), in read_only still rewrites the chunks it holds but
# maps nothing new, stays in fail until reloaded, and after the fault is
# cleared and the tenant reactivated everything flushed before the fault
# reads back and the store checks clean.  Faults: store writes failing
# (error_writes), the store failing all I/O in up/down cycles under
# load, the store replaced by dm-error, base reads failing, each under
# activation, and the store silently dropping writes (drop_writes: the
# store is what it was when the drops began).  UNIONBLK_STRESS=1: 40
# up/down cycles (which can write every chunk, so the base and drop
# faults start again from a new store).
# timeout: 420
. /tests/lib/guest.sh
. /tests/lib/unionblk.sh
. /tests/lib/reliability.sh

require_target unionblk
require_target flakey
require_target error
require_cmd ubverify unionblk

CYCLES=$(ub_pick 4 40)
BASE_SZ=$((8 << 11))	# sectors: base and tenant, 8 MiB: 2048 chunks
STORE_SZ=$((16 << 11))
W=$PWD
FAULTS=0

cleanup() {
	dmsetup remove t 2>/dev/null
	dmsetup remove st bs 2>/dev/null
}
trap cleanup EXIT

# flakey_table DEV LEN UP DOWN [FEATURE...]
flakey_table() {
	local dev=$1 len=$2 up=$3 down=$4
	shift 4
	echo "0 $len flakey $dev 0 $up $down${1:+ $# $*}"
}

# set_dev NAME TABLE: replace the table of NAME under live I/O.
set_dev() {
	dmsetup suspend --noflush "$1"
	dmsetup reload "$1" --table "$2"
	dmsetup resume "$1"
}
healthy_store() { set_dev st "$(flakey_table "$STORE_DEV" $STORE_SZ 3600 0)"; }
failing_writes() {
	set_dev st "$(flakey_table "$STORE_DEV" $STORE_SZ 0 3600 error_writes)"
	FAULTS=$((FAULTS + 1))
}

# reactivate WHAT: a fresh table over the healed store comes up ok, or
# needs_check when a commit after the error recorded that in the store.
reactivate() {
	dmsetup remove t
	run unionblk check "$(dm_dev st)" --base "$BASE" >"$W/check" ||
		{ cat "$W/check"; fail "store not clean after $1"; }
	ub_create t "$(dm_dev st)" "$BASE"
	case $(ub_status_field t state) in
	ok) ;;
	needs_check)
		grep -q needs_check "$W/check" ||
			fail "needs_check after reactivation, but not in the store: $(dmsetup status t)" ;;
	*) fail "not ok after reactivation: $(dmsetup status t)" ;;
	esac
}

state() { ub_status_field t state; }
state_is() {	# state_is STATE...: the metadata state is one of them
	local s
	s=$(state)
	for want in "$@"; do
		[ "$s" = "$want" ] && return 0
	done
	fail "metadata state is '$s', want one of: $* ($(dmsetup status t))"
}

# held_chunk: a chunk the store maps (from the committed metadata:
# commit first).
held_chunk() {
	unionblk delta "$(dm_dev st)" 2>/dev/null | awk '$1 == "mapped" { print $2; exit }'
}
# get_free N: FREE=(the last N chunks the store knows nothing of), from
# one read of the committed metadata (commit first); fewer than N fails
# the test (40 cycles of 3 can write every chunk).
get_free() {
	mapfile -t FREE < <(unionblk delta "$(dm_dev st)" 2>/dev/null |
		awk -v n="$1" 'NR > 1 { for (i = $2; i < $2 + $3; i++) c[i] = 1 }
		END { for (i = 2047; i >= 0 && n > 0; i--) if (!(i in c)) { print i; n-- } }')
	[ ${#FREE[@]} -eq "$1" ] ||
		fail "$1 unwritten chunks needed, found ${#FREE[@]}: ${FREE[*]}"
}
# read_chunk CHUNK FILE, write_chunk CHUNK FILE: one 4 KiB chunk of the
# tenant, from or to a file.
read_chunk() {
	dd if="$TDEV" of="$2" bs=4096 skip="$1" count=1 iflag=direct \
		status=none 2>/dev/null
}
write_chunk() {
	dd if="$2" of="$TDEV" bs=4096 seek="$1" count=1 oflag=direct \
		status=none 2>/dev/null
}
# base_back CHUNK: write the base's bytes to CHUNK of the tenant (a whole
# chunk: no base read); the tenant then reads what the model expects.
base_back() {
	dd if="$BASE_DEV" of="$TDEV" bs=4096 skip="$1" seek="$1" count=1 \
		iflag=direct oflag=direct status=none
}

dmsetup create bs --table "$(flakey_table "$BASE_DEV" $BASE_SZ 3600 0)"
dmsetup create st --table "$(flakey_table "$STORE_DEV" $STORE_SZ 3600 0)"
BASE=$(dm_dev bs)
run ubverify fill "$BASE" --seed 510 >/dev/null
ub_create t "$(dm_dev st)" "$BASE" 1 format
TDEV=$(dm_dev t)
ubv() {	# ubv ARGS...: ubverify run on the tenant with the common options
	ubverify run "$TDEV" --size 8M --max-io 64k --discard-pct 5 \
		--zero-pct 5 --fua-pct 5 --expect-base "$BASE" "$@" </dev/null
}
run ubv --seed 511 --ops 400 --flush-every 20 --state "$W/a.state" >/dev/null
dmsetup message t 0 commit

echo "# 1. store writes fail: the bios fail, a commit fails (read_only),"
echo "#    fails again (fail); the store heals, the tenant stays failed"
h=$(held_chunk)
get_free 2
u=${FREE[0]} u2=${FREE[1]}
echo "# held chunk $h, free chunks $u $u2"
read_chunk "$h" "$W/h.before"
failing_writes
run blkdiscard -o $((u * 4096)) -l 4096 "$TDEV"	# dirty: a whiteout
expect_fail write_chunk "$u2" "$W/h.before"	# a copy-up write fails
expect_fail dmsetup message t 0 commit
state_is read_only fail
# The periodic commit (every second) also retries while the whiteout
# keeps the metadata dirty, so the tenant may go from read_only to fail
# at any moment here: a read that fails must find it in fail.
if [ "$(state)" = read_only ]; then
	if read_chunk "$h" "$W/h.now"; then
		cmp "$W/h.before" "$W/h.now" || fail "held chunk reads wrong in read_only"
	else
		[ "$(state)" = fail ] ||
			fail "read of a held chunk failed in read_only ($(dmsetup status t))"
		echo "# a periodic commit failed the tenant before the read"
	fi
	expect_fail dmsetup message t 0 commit
fi
state_is fail
expect_fail read_chunk "$h" "$W/h.now"
expect_fail write_chunk "$h" "$W/h.before"
healthy_store
state_is fail
dmsetup message t 0 commit 2>/dev/null && fail "a failed tenant committed"
reactivate "failing writes"
run ubverify verify "$TDEV" --state "$W/a.state" --expect-base "$BASE"

echo "# 2. one failed commit, then the store heals: read_only rewrites the"
echo "#    chunks it holds, maps nothing new, commits again; a reload ends it"
# The store fails writes one second in three (flakey up 2 s, down 1 s)
# while whiteouts keep the metadata dirty: the first periodic commit in
# a down second fails (read_only), the next, a second later, falls in an
# up second and succeeds; in read_only nothing new is mapped, so nothing
# is dirty after it and the state holds still while the store heals.
# The edge of a down second can also fall inside one commit (its
# checkpoint fails: straight to fail) or leave the retry in the same down
# second (a second failure: fail); then the tenant is reactivated and the
# fault injected again, three times at most.
ALLFREE=()
for ((try = 1; ; try++)); do
	get_free 20
	ALLFREE+=("${FREE[@]}")
	set_dev st "$(flakey_table "$STORE_DEV" $STORE_SZ 2 1 error_writes)"
	FAULTS=$((FAULTS + 1))
	for c in "${FREE[@]}"; do
		blkdiscard -o $((c * 4096)) -l 4096 "$TDEV" 2>/dev/null || true
		sleep 0.2
	done &
	dirtier=$!
	for ((k = 0; k < 40; k++)); do
		case $(state) in
		ok | needs_check) sleep 0.3 ;;
		*) break ;;
		esac
	done
	sleep 2
	kill $dirtier 2>/dev/null
	wait $dirtier 2>/dev/null || true
	healthy_store
	if [ "$(state)" != fail ] || [ "$try" -ge 3 ]; then
		break
	fi
	echo "# try $try: fail, not read_only (a commit met the edge of a down second); again"
	reactivate "a commit that failed twice"
done
state_is read_only
read_chunk "$h" "$W/h.now" || fail "read of held chunk $h failed in read_only"
write_chunk "$h" "$W/h.now" || fail "rewrite of held chunk $h failed in read_only"
expect_fail base_back "$u2"
run dmsetup message t 0 commit
state_is read_only
reactivate "read_only"
for c in "${ALLFREE[@]}"; do	# the whiteouts that were committed
	base_back "$c"
done
run ubverify verify "$TDEV" --state "$W/a.state" --expect-base "$BASE"

echo "# 3. the store fails all I/O one second in two, under load ($CYCLES times)"
for ((c = 1; c <= CYCLES; c++)); do
	set_dev st "$(flakey_table "$STORE_DEV" $STORE_SZ 1 1)"
	FAULTS=$((FAULTS + 1))
	ubv --initial-state "$W/a.state" --ops 100000 --time 5 --threads 2 \
		--flush-every 10 --state "$W/c.state" >"$W/out" 2>&1 || true
	echo "# cycle $c: $(grep -m 1 -o 'failed: .*' "$W/out" || tail -n 1 "$W/out")"
	dmsetup remove t 2>/dev/null || { sleep 1; dmsetup remove t; }
	healthy_store
	run unionblk check "$(dm_dev st)" --base "$BASE" || fail "store not clean after cycle $c"
	ub_create t "$(dm_dev st)" "$BASE"
	run ubverify verify "$TDEV" --state "$W/c.state" --expect-base "$BASE" --adopt
	cp "$W/c.state" "$W/a.state"
done

echo "# 4. the store replaced by dm-error: every bio fails; activation on"
echo "#    it is refused"
dmsetup message t 0 commit
h=$(held_chunk)
set_dev st "0 $STORE_SZ error"
FAULTS=$((FAULTS + 1))
expect_fail read_chunk "$h" "$W/x"
expect_fail base_back 2047
dmsetup remove t
err=$(ub_ctr_error "0 $BASE_SZ unionblk $(dm_dev st) $BASE")
echo "# activation on dm-error: $err"
[ "$err" = "Error reading COW store superblock" ] || fail "activation on dm-error: '$err'"
FAULTS=$((FAULTS + 1))
healthy_store
ub_create t "$(dm_dev st)" "$BASE"
run ubverify verify "$TDEV" --state "$W/a.state" --expect-base "$BASE"

# The cycles of 3 may have written every chunk (the long version does):
# 5 and 6 start again from a new store, with unwritten chunks
dmsetup remove t
run dd if=/dev/zero of="$(dm_dev st)" bs=1M count=$((STORE_SZ >> 11)) \
	oflag=direct status=none
ub_create t "$(dm_dev st)" "$BASE" 1 format
run ubv --seed 512 --ops 400 --flush-every 20 --state "$W/a.state" >/dev/null

echo "# 5. base reads fail: reads and copy-ups of base chunks fail, the"
echo "#    store stays ok, whole-chunk writes and held chunks go on;"
echo "#    activation over the failing base is refused"
dmsetup message t 0 commit
h=$(held_chunk)
get_free 1
u=${FREE[0]}
set_dev bs "$(flakey_table "$BASE_DEV" $BASE_SZ 0 3600)"
FAULTS=$((FAULTS + 1))
expect_fail read_chunk "$u" "$W/x"
expect_fail dd if="$W/h.before" of="$TDEV" bs=512 seek=$((u * 8 + 1)) count=1 \
	oflag=direct status=none
run base_back "$u"
run read_chunk "$h" "$W/x"
run read_chunk "$u" "$W/x"
run dmsetup message t 0 commit
state_is ok needs_check
dmsetup remove t
err=$(ub_ctr_error "0 $BASE_SZ unionblk $(dm_dev st) $BASE")
echo "# activation over a failing base: $err"
[ "$err" = "Error reading base device" ] || fail "activation over a failing base: '$err'"
FAULTS=$((FAULTS + 1))
set_dev bs "$(flakey_table "$BASE_DEV" $BASE_SZ 3600 0)"
ub_create t "$(dm_dev st)" "$BASE"
run ubverify verify "$TDEV" --state "$W/a.state" --expect-base "$BASE"

echo "# 6. the store drops writes and says they succeeded (drop_writes): the"
echo "#    tenant cannot tell; torn down before the fault clears, it comes"
echo "#    back as it was when the drops began, clean, every flushed byte there"
run ubv --initial-state "$W/a.state" --ops 200 --flush-every 10 \
	--state "$W/d.state" >/dev/null
run dmsetup message t 0 commit
s0=$(state)	# ok, or needs_check since the base errors of 5
h=$(held_chunk)
get_free 4
set_dev st "$(flakey_table "$STORE_DEV" $STORE_SZ 0 3600 drop_writes)"
FAULTS=$((FAULTS + 1))
head -c 4096 /dev/urandom >"$W/junk"
run write_chunk "$h" "$W/junk"			# a rewrite in place
for c in "${FREE[@]}"; do			# copy-ups: partial writes
	run dd if="$W/junk" of="$TDEV" bs=512 seek=$((c * 8 + 3)) count=2 \
		oflag=direct status=none
done
run blkdiscard -o $((FREE[0] * 4096)) -l 4096 "$TDEV"	# a whiteout
run dmsetup message t 0 commit		# "succeeds": the commit is dropped
state_is "$s0"
dmsetup remove t			# and so is the last commit
healthy_store
run unionblk check "$(dm_dev st)" --base "$BASE" ||
	fail "store not clean after dropped writes"
ub_create t "$(dm_dev st)" "$BASE"
state_is "$s0"
run ubverify verify "$TDEV" --state "$W/d.state" --expect-base "$BASE" --adopt

trap - EXIT
dmsetup remove t
run unionblk check "$(dm_dev st)" --base "$BASE"
dmsetup remove st bs
echo "# $FAULTS faults injected"
ub_figure faults_injected "$FAULTS"
echo PASS
