#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Crash replay: the COW store of a tenant is logged with dm-log-writes
# under a random workload of writes, FUA writes, discards, write-zeroes
# and flushes, and the log is replayed to every flush and FUA point, each
# a state a power cut could leave.  At every point `unionblk check` finds
# the store clean, the tenant activates on it (read-only), and every
# write acknowledged before the point reads back exactly while nothing
# else changed: ubverify verify against the state of the last checkpoint
# marked in the log before the point.  Points before the format completed
# hold an unformatted or a clean store.  make check: one round of 320
# requests, at least 400 points (056 adds at least 100 more: 500 crash
# points a run); UNIONBLK_STRESS=1: 16 rounds of 660 requests,
# alternating 4 KiB and 64 KiB chunks, at least 10,000 points (a round
# makes about 1.3 points a request with 4 KiB chunks, 0.8 with 64 KiB:
# about 11,000).
# timeout: 900
# kernels: 6.1
# (make check runs it on 6.1 only, to stay within its time budget; it
# passes on 6.12 too, and make stress runs it on every kernel of KERNELS)
. /tests/lib/guest.sh
. /tests/lib/unionblk.sh
. /tests/lib/reliability.sh

require_target unionblk
require_target log-writes
require_cmd ubverify replay-log unionblk xxd

ROUNDS=$(ub_pick 1 16)
# UNIONBLK_050_ROUNDS="12": only those rounds (their seeds and chunk
# sizes as in the full run), to repeat a failure; no minimum of points
PICKED=${UNIONBLK_050_ROUNDS:-}
OPS=$(ub_pick 320 660)
MIN_POINTS=$(ub_pick 400 10000)
BASE_SZ=$((4 << 11))	# sectors: the base and the tenant, 4 MiB
MARK_START=$((9 << 10))	# sectors: checkpoint markers in the store's tail
STORE_SZ=$((13 << 10))	# sectors: the COW store, 6.5 MiB
NSLOTS=64		# points checked per batch
LOG_DEV=$STORE2_DEV
W=$PWD

# On a failure, remove the many devices in a few dmsetup calls
cleanup() {
	local pts
	pts=$(dmsetup ls 2>/dev/null | awk '/^ub_pt/ { print $1 }')
	# shellcheck disable=SC2086 # a list of names
	[ -z "$pts" ] || dmsetup remove $pts
	dmsetup remove t lw 2>/dev/null
	ub_slots_remove $NSLOTS 2>/dev/null
	dmsetup remove rp st bs 2>/dev/null
}
trap cleanup EXIT

ub_linear bs "$BASE_DEV" 0 $BASE_SZ
ub_linear st "$STORE_DEV" 0 $STORE_SZ
ub_linear rp "$STORE_DEV" $STORE_SZ $STORE_SZ
BASE=$(dm_dev bs)
run ubverify fill "$BASE" --seed 500 >/dev/null
ub_slots_create $NSLOTS $STORE_SZ

# How a point finds its state.  ubverify runs one thread and checkpoints
# every 4 requests (fdatasync); after each, --checkpoint-cmd keeps the
# state file as a hard link st.<C> and marks the log by writing a block
# of the store's tail, past the tenant's data chunks, through the
# dm-log-writes device (fsync: the log holds it right after the
# checkpoint's flush and before any later request).  A point takes the
# state of the last marker before it.  The hard link keeps collecting
# records until checkpoint C+1 renames a new file over the name: the
# intents of every discard and zero-out issued before a point between
# the two markers (they may have reached the store), and the FUA writes
# acknowledged in that interval, which for a point early in the interval
# need not be there yet.

# ub_state_intents_only IN OUT: IN without its DURABLE records (FUA writes
# acknowledged after the checkpoint), keeping its INTENT records.
ub_state_intents_only() {
	local joff
	joff=$(busybox od -An -t u8 -j 72 -N 8 "$1" | tr -d ' ')
	{
		head -c "$joff" "$1"
		tail -c +$((joff + 1)) "$1" | xxd -p -c 32 |
			{ grep '^01000000' || true; } | xxd -r -p
	} >"$2.$BASHPID"
	mv -f "$2.$BASHPID" "$2"
}

# FUA order.  dm-log-writes logs a FUA write when it completes but a
# plain write only at the next flush, so a plain write logged after an
# overlapping FUA write may have completed before the FUA write was
# issued: a chunk's copy-up, then the FUA write into it, which the log
# puts the other way round (replaying it shows the base where the
# acknowledged FUA write was); or after it completed: a later write.
# Both are states the store could hold.  The replay applies the FUA
# write's data again after such a plain write ("FUA last", the copy-up
# case; UB_REPLAY_HOOK), and a point that does not verify that way is
# verified again in log order, the plain write's data put back over
# the sectors where the two orders differ.  A point may hold pairs of
# both kinds (a copy-up in one chunk, a later write in another), so it
# also holds when no tenant sector is wrong in both orders: ubverify
# checks each sector on its own, and a sector no ambiguous pair covers
# reads the same in both.

# fua_order: from the log's entry list, for each flush point entry E,
# "new E FUA SECTOR COUNT" runs of sectors that the plain writes since
# the previous point made ambiguous (the FUA write's data goes back over
# them), and "act E PLAIN SECTOR COUNT" runs of sectors still ambiguous
# at E (no write covered them since) with the plain write's entry.
fua_order() {
	awk '
	{
		idx = $1 + 0; s = $3 + 0; n = $5 + 0; f = $6
		if (f ~ /MARK/)
			next
		if (f ~ /FLUSH/) {
			fl0 = fl1; fl1 = idx
			# FUA writes before the flush before last are ordered
			k = 0
			for (j = 1; j <= nf; j++)
				if (fa[j] > fl0) {
					k++; fa[k] = fa[j]; fs[k] = fs[j]; fe[k] = fe[j]
				}
			nf = k
		}
		if (n > 0) {
			for (x = s; x < s + n; x++)
				if (x in amb) {
					delete amb[x]; delete plain[x]; delete fresh[x]; na--
				}
			if (f ~ /FUA/) {
				nf++; fa[nf] = idx; fs[nf] = s; fe[nf] = s + n
			} else {
				for (j = 1; j <= nf; j++) {
					lo = s > fs[j] ? s : fs[j]
					hi = s + n < fe[j] ? s + n : fe[j]
					for (x = lo; x < hi; x++) {
						if (!(x in amb))
							na++
						amb[x] = fa[j]; plain[x] = idx; fresh[x] = 1
					}
				}
			}
		}
		if (na > 0 && $0 ~ /flush-point/)
			for (x in amb) {
				if (x in fresh)
					print "new", idx, amb[x], x
				print "act", idx, plain[x], x
				delete fresh[x]
			}
	}' "$W/r/list" | sort -k 1,1 -k 2,2n -k 3,3n -k 4,4n |
	awk '$1 == t && $2 == e && $3 == a && $4 == s + n { n++; next }
		n { print t, e, a, s, n }
		{ t = $1; e = $2; a = $3; s = $4; n = 1 }
		END { if (n) print t, e, a, s, n }'
}

# fua_prepare: the files the FUA-order replay and check need: each
# entry's data alone on a file of the store's size (fua.<entry>), the
# runs to apply at each point (new.<E>: "FUA SECTOR COUNT"), and
# $W/r/active ("E PLAIN SECTOR COUNT").
fua_prepare() {
	local a
	fua_order >"$W/r/order"
	awk -v d="$W/r" '$1 == "new" { print $3, $4, $5 > (d "/new." $2) }
		$1 == "act" { print $2, $3, $4, $5 > (d "/active") }' "$W/r/order"
	touch "$W/r/active"
	for a in $(awk '{ print $3 }' "$W/r/order" | sort -un); do
		truncate -s $((STORE_SZ * 512)) "$W/r/fua.$a"
		replay-log --log "$LOG_DEV" --replay "$W/r/fua.$a" \
			--start-entry "$a" --limit 1 >/dev/null ||
			fail "cannot replay log entry $a alone"
	done
}

# put_runs N FILE: write the entries' data of the runs in FILE ("ENTRY
# SECTOR COUNT") into slot N.  Coreutils dd: busybox dd's buffer for
# 512-byte blocks is not aligned for O_DIRECT, and it then writes
# through the page cache, where the target under the slot (a table
# holds it open, so closing it does not write back) would not see it.
put_runs() {
	local a s c
	while read -r a s c; do
		dd if="$W/r/fua.$a" of="/dev/mapper/$UB_SLOT_PREFIX$1" bs=512 \
			skip="$s" seek="$s" count="$c" oflag=direct \
			conv=notrunc,fsync status=none || return 1
	done <"$2"
}

# verify_as N STATE TAG: verify tenant ub_pt<N> against STATE, every
# mismatch listed in $W/out.N.TAG.  Status as ubverify's: 0 verified,
# 1 mismatch, 2 error.
verify_as() {
	ubverify verify "/dev/mapper/ub_pt$1" --state "$2" \
		--expect-base "$BASE" --max-errors 1000000 </dev/null \
		>"$W/out.$1.$3" 2>&1
}

# bad_sectors FILE: the tenant sectors a verify output reports wrong.
bad_sectors() {
	grep -o ': sector [0-9]* (byte' "$1" | awk '{ print $2 }' | sort
}

# durable FILE: "N durable" from a verify output.
durable() {
	grep -o '[0-9]* durable' "$1"
}

# verify_point N FLUSH ENTRY CKPT: check slot N, and verify the
# read-only tenant ub_pt<N> over it against checkpoint CKPT: first with
# the FUA records of its interval ("strict"), else without them
# ("interval", see "How a point finds its state").  Where FUA order is
# ambiguous ($W/pp.N), the slot holds the FUA writes last; when that
# does not verify, the plain writes' data is put back ("log-order"), and
# if neither does, the point still holds when no sector is wrong in
# both ("mixed": each ambiguous sector holds one order's data).  Prints
# how, and the durable sectors.
verify_point() {
	local n=$1 k=$2 e=$3 c=$4 pp=$W/pp.$1 m f rc both=""
	local st=$W/r/st.$4 nd=$W/r/nodur.$4
	local -A frc=()

	if ! unionblk check "/dev/mapper/$UB_SLOT_PREFIX$n" --base "$BASE" \
		>"$W/out.$n" 2>&1 </dev/null; then
		echo "FAIL point $k (log entry $e): unionblk check:"
		cat "$W/out.$n"
		return 1
	fi
	for m in strict interval; do
		f=$st
		if [ $m = interval ]; then
			[ -e "$nd" ] || ub_state_intents_only "$st" "$nd"
			f=$nd
		fi
		rc=0
		verify_as "$n" "$f" "$m.fua" || rc=$?
		if [ $rc = 0 ]; then
			echo "$m $(durable "$W/out.$n.$m.fua")"
			return 0
		fi
		frc[$m]=$rc
	done
	if [ -s "$pp" ]; then
		put_runs "$n" "$pp" ||
			{ echo "FAIL point $k: cannot put back the runs of $pp"; return 1; }
		for m in strict interval; do
			f=$st
			[ $m = strict ] || f=$nd
			rc=0
			verify_as "$n" "$f" "$m.log" || rc=$?
			if [ $rc = 0 ]; then
				echo "$m $(durable "$W/out.$n.$m.log") log-order"
				return 0
			fi
			# only mismatches, in both orders
			if [ "$rc" != 1 ] || [ "${frc[$m]}" != 1 ]; then
				continue
			fi
			both=$(comm -12 <(bad_sectors "$W/out.$n.$m.fua") \
				<(bad_sectors "$W/out.$n.$m.log") | tr '\n' ' ')
			if [ -z "$both" ]; then
				echo "$m $(durable "$W/out.$n.$m.log") mixed"
				return 0
			fi
		done
	fi
	echo "FAIL point $k (log entry $e), against checkpoint $c:"
	if [ -s "$pp" ]; then
		echo "with the FUA writes last:"
		head -n 20 "$W/out.$n.interval.fua"
		echo "in log order (plain entry, sector, count):"
		cat "$pp"
		head -n 20 "$W/out.$n.interval.log"
		echo "tenant sectors wrong in both orders: ${both:-(not compared)}"
	else
		head -n 20 "$W/out.$n.interval.fua"
	fi
	return 1
}

# verify_share PLAN PART: verify every other point of PLAN from PART (0
# or 1), so that two run at once.
verify_share() {
	local i=0 n k e c
	while read -r n k e c; do
		if [ $((i++ % 2)) = "$2" ] && [ "$c" != - ]; then
			verify_point "$n" "$k" "$e" "$c" || return 1
		fi
	done <"$1"
}

# pre_format_point N FLUSH ENTRY: a point before the first checkpoint of
# the round, while the kernel formatted the store: the store is either
# still unformatted (and refused as such), or clean and activates, or,
# between the two superblock writes, has only the copy (block 1): check
# reports block 0 and the target activates on the copy.
pre_format_point() {
	local n=$1 slot=/dev/mapper/$UB_SLOT_PREFIX$1 err
	if unionblk check "$slot" --base "$BASE" >"$W/out.$n" 2>&1 </dev/null ||
		{ grep -q 'superblock (block 0): .*using the copy at block 1' "$W/out.$n" &&
		  grep -q ': 1 error, 0 warnings' "$W/out.$n" &&
		  SB_COPY_POINTS=$((SB_COPY_POINTS + 1)); }; then
		dmsetup create ub_pre --readonly \
			--table "0 $BASE_SZ unionblk $slot $BASE 1 ro" ||
			fail "point $2 (entry $3): clean store does not activate"
		dmsetup remove ub_pre
		return 0
	fi
	err=$(ub_ctr_error "0 $BASE_SZ unionblk $slot $BASE 1 ro")
	[ "$err" = "COW store is not formatted (use the format feature)" ] && return 0
	cat "$W/out.$n"
	fail "point $2 (entry $3): a half-formatted store: '$err'"
}

# check_points FILE: the callback of ub_replay, for one batch of slots.
check_points() {
	local n k e c table="" names=() bad=0 p0 p1 t0 t1 t2
	local plan=$W/plan

	: >"$plan"
	while read -r n k e; do
		while [ "$mi" -lt ${#MARK_E[@]} ] && [ "${MARK_E[mi]}" -lt "$e" ]; do
			mi=$((mi + 1))
		done
		c=-
		[ "$mi" -gt 0 ] && c=${MARK_C[mi - 1]}
		echo "$n $k $e $c" >>"$plan"
		if [ "$c" = - ]; then
			pre_format_point "$n" "$k" "$e"
			PRE_POINTS=$((PRE_POINTS + 1))
			continue
		fi
		table+="ub_pt$n,,,ro,0 $BASE_SZ unionblk /dev/mapper/$UB_SLOT_PREFIX$n $BASE 1 ro;"
		names+=("ub_pt$n")
	done <"$1"
	[ ${#names[@]} -gt 0 ] || return 0
	# The ambiguous FUA order of this batch's points, a file per slot
	rm -f "$W"/pp.*
	awk -v d="$W" 'NR == FNR { slot[$3] = $1; next }
		($1 in slot) { print $2, $3, $4 > (d "/pp." slot[$1]) }' \
		"$1" "$W/r/active"
	FUA_ORDER=$((FUA_ORDER + $(find "$W" -maxdepth 1 -name 'pp.*' | wc -l)))

	# Activate the whole batch in one dmsetup call
	t0=$(ub_now)
	if ! dmsetup create --concise "${table%;}" >"$W/create.log" 2>&1; then
		cat "$W/create.log"
		for n in "${names[@]}"; do
			dmsetup info "$n" >/dev/null 2>&1 && continue
			grep "^${n#ub_pt} " "$plan"
			dmesg | tail -n 5
			break
		done
		fail "a replayed crash point does not activate (slot, flush, entry, checkpoint above)"
	fi
	dmsetup mknodes
	t1=$(ub_now)

	verify_share "$plan" 0 >"$W/res0" 2>&1 &
	p0=$!
	verify_share "$plan" 1 >"$W/res1" 2>&1 &
	p1=$!
	wait "$p0" || bad=1
	wait "$p1" || bad=1
	if [ $bad = 1 ]; then
		# each half's first failure, whole: both orders' verify output
		for f in "$W/res0" "$W/res1"; do
			sed -n '/^FAIL/,$p' "$f" | head -n 60
		done
		cp "$plan" "$W/res0" "$W/res1" "$W/r/"
		ub_keep_evidence "$W/r"
		fail "a replayed crash point lost acknowledged data or changed other data"
	fi
	LOG_ORDER=$((LOG_ORDER + $(cat "$W/res0" "$W/res1" | grep -c 'log-order' || true)))
	MIXED=$((MIXED + $(cat "$W/res0" "$W/res1" | grep -c ' mixed$' || true)))
	STRICT=$((STRICT + $(cat "$W/res0" "$W/res1" | grep -c '^strict' || true)))
	INTERVAL=$((INTERVAL + $(cat "$W/res0" "$W/res1" | grep -c '^interval' || true)))
	SECTORS=$((SECTORS + $(cat "$W/res0" "$W/res1" | awk '{ s += $2 } END { print s + 0 }')))
	t2=$(ub_now)
	dmsetup remove "${names[@]}"
	echo "# batch of ${#names[@]}: activation $((t1 - t0))s, check and verify $((t2 - t1))s, removal $(($(ub_now) - t2))s"
}

TOTAL=0 STRICT=0 INTERVAL=0 FUA_ORDER=0 LOG_ORDER=0 MIXED=0 PRE_POINTS=0 SB_COPY_POINTS=0 SECTORS=0 CKPTS=0
start=$(ub_now)
for r in ${PICKED:-$(seq 1 "$ROUNDS")}; do
	chunk=$((r % 2 ? 8 : 128))	# 4 KiB, then 64 KiB chunks
	rm -rf "$W/r"
	mkdir "$W/r"
	if [ $r -gt 1 ]; then
		blkdiscard -z "$(dm_dev st)"
		blkdiscard -z "$(dm_dev rp)"
	fi
	dmsetup create lw --table "0 $STORE_SZ log-writes $(dm_dev st) $LOG_DEV"
	ub_create t "$(dm_dev lw)" "$BASE" 3 format chunk_size $chunk
	# Each checkpoint (fdatasync) is marked in the log and its state
	# file kept (see "How a point finds its state" above).
	run ubverify run "$(dm_dev t)" --seed $((600 + r)) --ops "$OPS" \
		--size 4M --max-io 64k --discard-pct 10 --zero-pct 5 \
		--fua-pct 10 --flush-every 4 --expect-base "$BASE" </dev/null \
		--state "$W/r/state" --checkpoint-cmd \
		"ln -f \"\$UBV_STATE\" $W/r/st.\$UBV_CHECKPOINT && ubverify stamp $(dm_dev lw) --sector \$(($MARK_START + 8 * \$UBV_CHECKPOINT)) --seed 1 --gen 1 >/dev/null"
	dmsetup remove t
	dmsetup remove lw
	echo "# round $r: workload done, $(($(ub_now) - start))s so far"

	replay-log --log "$LOG_DEV" --list >"$W/r/list"
	MARK_E=() MARK_C=()
	while read -r e c; do
		MARK_E+=("$e")
		MARK_C+=("$c")
	done < <(awk -v m=$MARK_START '$2 == "sector" && $3 >= m && $5 > 0 {
		print $1 + 0, int(($3 - m) / 8) }' "$W/r/list")
	[ ${#MARK_E[@]} -gt 0 ] || fail "no checkpoint markers in the log"
	fua_prepare
	CKPTS=$((CKPTS + ${#MARK_E[@]}))
	mi=0
	# Busybox dd (a dynamic dd costs a tenth of a second to start): its
	# 512-byte writes go through the page cache (see put_runs), so
	# fsync them before the point is copied.
	# shellcheck disable=SC2034 # read by ub_replay
	UB_REPLAY_HOOK="if [ -e $W/r/new.\$REPLAY_ENTRY ]; then
		while read -r a s c; do
			busybox dd if=$W/r/fua.\$a of=$(dm_dev rp) bs=512 skip=\$s seek=\$s count=\$c oflag=direct conv=notrunc,fsync 2>/dev/null || exit 2
		done <$W/r/new.\$REPLAY_ENTRY
	fi"
	ub_replay "$LOG_DEV" "$(dm_dev rp)" $NSLOTS "$W/r" check_points
	echo "# round $r (chunk $chunk sectors): $UB_REPLAY_POINTS crash points, ${#MARK_E[@]} checkpoints; ${UB_REPLAY_SECS}s replaying, ${UB_CHECK_SECS}s checking; $(($(ub_now) - start))s so far"
	TOTAL=$((TOTAL + UB_REPLAY_POINTS))
done
run ubverify check-fill "$BASE" --seed 500
trap - EXIT
ub_slots_remove $NSLOTS
dmsetup remove rp st bs

echo "# $TOTAL crash points replayed: $STRICT verified with the FUA records of their checkpoint, $INTERVAL with its flush alone ($FUA_ORDER with the order of a FUA write and an overlapping plain write ambiguous in the log, $LOG_ORDER of which held in log order, $MIXED with each order in some sectors, the others with the FUA write last), $PRE_POINTS during the format ($SB_COPY_POINTS with only the superblock copy); $SECTORS durable sectors verified; $CKPTS checkpoints; $(($(ub_now) - start))s"
ub_figure crash_points "$TOTAL"
ub_figure crash_points_verified $((STRICT + INTERVAL))
ub_figure crash_sectors_verified "$SECTORS"
[ -n "$PICKED" ] || [ "$TOTAL" -ge "$MIN_POINTS" ] || fail "only $TOTAL crash points (want $MIN_POINTS)"
[ $((STRICT + INTERVAL)) -gt 0 ] || fail "no point was verified"
echo PASS
