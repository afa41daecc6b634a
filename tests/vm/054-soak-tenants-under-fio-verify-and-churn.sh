#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Soak: tenants over one shared base under fio with verify=crc32c, while
# at random they are suspended and resumed, reloaded, frozen (reloaded
# with ro: writes fail, fio's read-back verifies), removed and
# reactivated from their stores, and new tenants are created.  No fio
# verify error, every store clean, the kernel log clean, and the module
# unloads at the end (and is loaded again for the tests after this one).
# make check: 32 tenants (30 at first, 2 created during the soak) for 2
# minutes; UNIONBLK_STRESS=1: 48 for 10; make check-debug: 10 for 2.
# timeout: 600
# kernels: 6.1
# (make check runs it on 6.1 only, to stay within its time budget; it
# passes on 6.12 too, and make stress runs it on every kernel of KERNELS)
. /tests/lib/guest.sh
. /tests/lib/unionblk.sh
. /tests/lib/reliability.sh

require_target unionblk
require_cmd fio unionblk flock

TENANTS=$(ub_pick 32 48)
# On a debug kernel (KASAN, lockdep, kmemleak; the harness scales its
# timeouts) tenant I/O under TCG runs about 50 times slower: 10 tenants
# took 845 s there, 32 ran past the timeout with fio waiting minutes
# for each I/O.  10 tenants there, still suspended, reloaded, frozen,
# removed and created.
[ "${UNIONBLK_TIMEOUT_SCALE:-1}" -gt 1 ] && TENANTS=10
SOAK=$(ub_pick 120 600)		# seconds
BASE_SZ=$((32 << 11))		# sectors: base and tenants, 32 MiB
STORE_SZ=$((40 << 11))		# sectors: each store (48 fit on $BIG_DEV)
W=$PWD

cleanup() {
	local i
	: >"$W/stop"
	# shellcheck disable=SC2046 # a list of pids
	kill $(jobs -p) 2>/dev/null
	wait 2>/dev/null
	for ((i = 0; i < TENANTS; i++)); do
		dmsetup remove "t$i" 2>/dev/null
	done
	for ((i = 0; i < TENANTS; i++)); do
		dmsetup remove "s$i" 2>/dev/null
	done
	dmsetup remove bs 2>/dev/null
	dmsetup targets | grep -q '^unionblk ' || modprobe dm-unionblk
}
trap cleanup EXIT

ub_linear bs "$BASE_DEV" 0 $BASE_SZ
BASE=$(dm_dev bs)
dd if=/dev/urandom of="$BASE" bs=1M count=32 oflag=direct status=none
for ((i = 0; i < TENANTS; i++)); do
	ub_linear "s$i" "$BIG_DEV" $((i * STORE_SZ)) $STORE_SZ
done

table() {	# table I [ro]: tenant I's table
	echo "0 $BASE_SZ unionblk /dev/mapper/s$1 $BASE${2:+ 1 $2}"
}

# fio_job I SEED [verify_only]: 2 MiB of random writes of 4 to 64 KiB,
# read back and verified (crc32c); with verify_only, only the read-back
# of what the job with SEED wrote.  Appends fio's terse line to fio.I.
# Niced, so that the churn gets the CPU it needs to keep its pace while
# thirty jobs run under TCG.
fio_job() {
	fio --nice=10 --name="t$1" --filename="/dev/mapper/t$1" --direct=1 \
		--ioengine=libaio --iodepth=4 --rw=randwrite --bsrange=4k-64k \
		--size=32M --io_size=2M --verify=crc32c --verify_fatal=1 \
		--randrepeat=1 --randseed="$2" ${3:+--verify_only} \
		--output-format=terse >>"$W/fio.$1" 2>>"$W/fio.$1.err"
}

# freeze I SEED: reload tenant I with ro: it says so, refuses writes, and
# what fio wrote last reads back; then writable again.
freeze() {
	dmsetup reload "t$1" --table "$(table "$1" ro)"
	dmsetup resume "t$1"
	[ "$(ub_status_field "t$1" mode)" = ro ] || { echo "t$1 not ro when frozen"; return 1; }
	if dd if=/dev/zero of="/dev/mapper/t$1" bs=4096 count=1 oflag=direct status=none 2>/dev/null; then
		echo "t$1: a write succeeded while frozen"
		return 1
	fi
	fio_job "$1" "$2" verify_only || { echo "t$1: read-back failed while frozen"; return 1; }
	dmsetup reload "t$1" --table "$(table "$1")"
	dmsetup resume "t$1"
	echo "frozen t$1" >>"$W/events"
}

# recycle I SEED: remove tenant I, check its store, activate it again,
# read back what fio wrote last.
recycle() {
	dmsetup remove "t$1"
	unionblk check "/dev/mapper/s$1" --base "$BASE" >"$W/check.$1" 2>&1 ||
		{ cat "$W/check.$1"; return 1; }
	dmsetup create "t$1" --table "$(table "$1")"
	dm_dev "t$1" >/dev/null
	fio_job "$1" "$2" verify_only || { echo "t$1: read-back failed after reactivation"; return 1; }
	echo "recycled t$1" >>"$W/events"
}

# take_request I SEED: do the freeze or removal the controller asked of
# tenant I (req.I), if any; SEED is the fio job that wrote last.  Taken
# by a rename: a request made meanwhile is not lost.
take_request() {
	local act=
	if mv "$W/req.$1" "$W/req.$1.taken" 2>/dev/null; then
		act=$(cat "$W/req.$1.taken")
	fi
	case $act in
	freeze | remove)
		(
			flock 9
			if [ "$act" = freeze ]; then
				freeze "$1" "$2"
			else
				recycle "$1" "$2"
			fi
		) 9>"$W/lock.$1" ;;
	esac
}

# worker I: fio jobs on tenant I until told to stop; between jobs, and
# once more after the stop (the controller asks before it stops), the
# request of the controller.
worker() {
	local i=$1 j=0 seed
	while [ ! -e "$W/stop" ]; do
		j=$((j + 1))
		seed=$((i * 100000 + j))
		fio_job "$i" "$seed" || { echo "t$i: fio job $j failed:"; tail -n 5 "$W/fio.$i.err"; return 1; }
		take_request "$i" "$seed" || return 1
	done
	[ $j = 0 ] || take_request "$i" "$seed"
}

start_worker() {	# start_worker I: tenant I's worker, in the background
	worker "$1" >"$W/worker.$1" 2>&1 &
	PIDS[$1]=$!
}
start_tenant() {	# start_tenant I: format its store, start its worker
	ub_create "t$1" "/dev/mapper/s$1" "$BASE" 1 format >/dev/null
	dm_dev "t$1" >/dev/null
	start_worker "$1"
}

# All but two tenants at once, formatting their stores, in one dmsetup
# call (one by one, under TCG, takes minutes); the other two are created
# during the soak
live=$((TENANTS - 2))
t=""
for ((i = 0; i < live; i++)); do
	t+="t$i,,,rw,$(table "$i" format);"
done
echo "# dmsetup create --concise: t0 to t$((live - 1)), formatting their stores"
dmsetup create --concise "${t%;}"
dmsetup mknodes
for ((i = 0; i < live; i++)); do
	dm_dev "t$i" >/dev/null
	start_worker "$i"
done
# The operations come in a fixed order of ten (3 suspends, 2 reloads, 2
# freezes, a commit, a removal, a creation), each on a random tenant, so
# that even the few a busy TCG guest gets through in two minutes cover
# every kind.
ORDER=(0 6 3 8 9 1 5 4 7 2)
declare -A DID=()
t0=$(ub_now)
n=0
while [ $(($(ub_now) - t0)) -lt "$SOAK" ]; do
	sleep $((1 + RANDOM % 3))
	for ((i = 0; i < live; i++)); do
		kill -0 "${PIDS[i]}" 2>/dev/null || { cat "$W/worker.$i"; fail "worker of t$i stopped"; }
	done
	i=$((RANDOM % live))
	case ${ORDER[n++ % 10]} in
	0 | 1 | 2)
		(
			flock 9
			dmsetup suspend "t$i"
			sleep "0.$((RANDOM % 5))"
			dmsetup resume "t$i"
		) 9>"$W/lock.$i"
		DID[suspend]=$((${DID[suspend]:-0} + 1)) ;;
	3 | 4)
		(
			flock 9
			dmsetup reload "t$i" --table "$(table "$i")"
			dmsetup resume "t$i"
		) 9>"$W/lock.$i"
		DID[reload]=$((${DID[reload]:-0} + 1)) ;;
	5)
		( flock 9; dmsetup message "t$i" 0 commit ) 9>"$W/lock.$i"
		DID[commit]=$((${DID[commit]:-0} + 1)) ;;
	6 | 7)
		# one request at a time per tenant, none overwritten
		[ -e "$W/req.$i" ] || {
			echo freeze >"$W/req.$i"
			DID[freeze_asked]=$((${DID[freeze_asked]:-0} + 1))
		} ;;
	8)
		[ -e "$W/req.$i" ] || {
			echo remove >"$W/req.$i"
			DID[remove_asked]=$((${DID[remove_asked]:-0} + 1))
		} ;;
	9)
		if [ $live -lt "$TENANTS" ]; then
			start_tenant $live
			live=$((live + 1))
			DID[create]=$((${DID[create]:-0} + 1))
		fi ;;
	esac
done
: >"$W/stop"
for ((i = 0; i < live; i++)); do
	wait "${PIDS[i]}" || { cat "$W/worker.$i"; fail "tenant t$i failed"; }
done
secs=$(($(ub_now) - t0))

# Every store clean, every tenant's last data there
for ((i = 0; i < live; i++)); do
	dmsetup remove "t$i"
	run unionblk check "/dev/mapper/s$i" --base "$BASE" >/dev/null ||
		fail "store of t$i not clean"
done
for ((i = 0; i < TENANTS; i++)); do
	dmsetup remove "s$i"
done
dmsetup remove bs
trap - EXIT

# The module unloads cleanly, and comes back for the tests after this one
mark=$(ub_dmesg_mark)
run rmmod dm_unionblk
dmsetup targets | grep -q '^unionblk ' && fail "unionblk still registered after rmmod"
run modprobe dm-unionblk
ub_dmesg_bad "$mark" "rmmod"

jobs_done=$(cat "$W"/fio.[0-9]* | grep -c '^3;' || true)
kib=$(cat "$W"/fio.[0-9]* | awk -F';' '/^3;/ { s += $6 } END { print s + 0 }')
echo "# ${secs}s, $live tenants: $jobs_done fio jobs verified $((kib / 1024)) MiB; $(grep -c frozen "$W/events" 2>/dev/null || true) freezes, $(grep -c recycled "$W/events" 2>/dev/null || true) removals and reactivations; $(for k in "${!DID[@]}"; do printf '%s %s, ' "$k" "${DID[$k]}"; done)"
ub_figure soak_seconds "$secs"
ub_figure soak_tenants "$live"
ub_figure soak_mib_verified $((kib / 1024))
ub_figure soak_fio_jobs_verified "$jobs_done"
ub_figure soak_churn_ops $(($(cat "$W/events" 2>/dev/null | wc -l) + ${DID[suspend]:-0} + ${DID[reload]:-0} + ${DID[commit]:-0} + ${DID[create]:-0}))
[ "$jobs_done" -gt 0 ] || fail "no fio job completed"
# A freeze or a removal asked for is done after the tenant's current fio
# job, at the latest when the workers stop
[ "${DID[freeze_asked]:-0}" = 0 ] || grep -q frozen "$W/events" ||
	fail "${DID[freeze_asked]} freezes asked for, none done"
[ "${DID[remove_asked]:-0}" = 0 ] || grep -q recycled "$W/events" ||
	fail "${DID[remove_asked]} removals asked for, none done"
echo PASS
