#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Fuzzing the target's constructor and message parser from userspace:
# random and hostile tables (argument counts, feature lists, numbers at
# and past every limit, several segments, devices that are missing, too
# small, the same, in use, stacked, unformatted or holding garbage) made
# with create and with reload (which shares an open store), and random
# messages.  Each table is either accepted, and then reads, reports a
# table line that is accepted again and a well-formed status, and is
# removed; or refused, with a named error in the kernel log (never
# "Unknown error").  Known messages succeed, others fail; a live tenant
# beside the fuzzing keeps its data, every store stays clean, and the
# kernel log has no Oops or WARNING.  A table holds up to seven
# well-formed segments before its fuzzed one, so that one call
# constructs (and on refusal unwinds) several targets.  make check:
# 1 minute of cases (150 to 250 tables under TCG) on each kernel, and
# at least 100; UNIONBLK_STRESS=1: 20,000 cases or 90 minutes, and at
# least 5,000.  A slow kernel (the debug kernel: a case takes seconds)
# fuzzes longer rather than fewer cases; the timeout bounds it.
# timeout: 420
. /tests/lib/guest.sh
. /tests/lib/unionblk.sh
. /tests/lib/reliability.sh

require_target unionblk
require_cmd ubverify unionblk

CASES=$(ub_pick 3000 20000)
# Stop earlier than CASES after this long (longer on a slow debug
# kernel), but not before MIN_CASES
SECS=$(($(ub_pick 60 5400) * ${UNIONBLK_TIMEOUT_SCALE:-1}))
MIN_CASES=$(ub_pick 100 5000)
SEED=${UNIONBLK_FUZZ_SEED:-$((RANDOM * 32768 + RANDOM))}
RANDOM=$SEED
echo "# seed $SEED (UNIONBLK_FUZZ_SEED=$SEED repeats this run)"
MB=2048			# sectors per MiB

cleanup() {
	dmsetup remove fzc fzr fz2 L 2>/dev/null
	dmsetup remove sA sB sZ sG sT sL sP0 sP1 sP2 sP3 sP4 sP5 sP6 sQ0 sQ1 sQ2 sQ3 sQ4 sQ5 sQ6 b7 b8 bs 2>/dev/null
}
trap cleanup EXIT

# The base, two tiny bases (below and at 4 KiB) and stores of every kind
ub_linear bs "$BASE_DEV" 0 $((8 * MB))
ub_linear b7 "$BASE_DEV" $((16 * MB)) 7
ub_linear b8 "$BASE_DEV" $((17 * MB)) 8
BASE=$(dm_dev bs)
S=$(dev_sectors "$BASE")
run ubverify fill "$BASE" --seed 700 >/dev/null
ub_linear sA "$STORE_DEV" 0 $((16 * MB))	# formatted, 4 KiB chunks
ub_linear sB "$STORE_DEV" $((16 * MB)) $((16 * MB))	# 64 KiB chunks, room for 2x
ub_linear sZ "$STORE_DEV" $((32 * MB)) $((16 * MB))	# all zeroes
ub_linear sG "$STORE_DEV" $((48 * MB)) $((16 * MB))	# garbage
ub_linear sT "$STORE_DEV" $((64 * MB)) 64	# too small for metadata
ub_linear sL "$STORE2_DEV" 0 $((16 * MB))	# the live tenant's
# For the well-formed segments before a fuzzed one: sP* for create, sQ*
# for reload (the inactive table being replaced holds them: sQ<even>
# always read-only, sQ<odd> always read-write, so that they fit it)
for i in 0 1 2 3 4 5 6; do
	for p in P:17 Q:24; do
		ub_linear "s${p%:*}$i" "$STORE2_DEV" $(((${p#*:} + i) * MB)) $MB
		ub_create f "$(dm_dev "s${p%:*}$i")" "$BASE" 1 format >/dev/null
		dmsetup remove f
	done
done
ub_create f "$(dm_dev sA)" "$BASE" 1 format
dmsetup remove f
dmsetup create f --table "0 $((2 * S)) unionblk $(dm_dev sB) $BASE 3 format chunk_size 128"
dmsetup remove f
head -c 65536 /dev/urandom | dd of="$(dm_dev sG)" oflag=direct status=none
printf 'UBlk' | dd of="$(dm_dev sG)" bs=1 seek=4096 conv=notrunc status=none

# The live tenant: data written before the fuzzing, checked after it
ub_create L "$(dm_dev sL)" "$BASE" 1 format
run ubverify run "$(dm_dev L)" --seed 701 --ops 300 --size 8M --max-io 64k \
	--discard-pct 10 --flush-every 50 --expect-base "$BASE" \
	--state "$PWD/L.state" >/dev/null

# ---- generators ------------------------------------------------------------
# No command substitution here: each would fork, and under TCG a fork
# costs more than the kernel call the case is about.

pick() {	# pick WORD...: one of the words, in REPLY
	local a=("$@")
	REPLY=${a[RANDOM % ${#a[@]}]}
}
# (not the live tenant itself: an accepted "format" could write over it)
DEVS=("$(dm_dev sA)" "$(dm_dev sB)" "$(dm_dev sZ)" "$(dm_dev sG)" "$(dm_dev sT)"
	"$BASE" "$(dm_dev b7)" "$(dm_dev b8)" "$(dm_dev sL)" "$(dm_dev sP0)"
	"$BASE_DEV" /dev/nonexistent /dev/null 253:250 0:0 8:0 abc - /)
NUMS=(0 1 2 7 8 9 16 24 100 128 512 1024 2048 2049 4096 65535 4294967295
	4294967296 9223372036854775807 18446744073709551615
	18446744073709551616 -1 -8 007 0x10 1e3 8k " " x)
FEATS=(format ro no_discard error_if_no_space queue_if_no_space chunk_size
	low_water RO Format no_space chunk_size=8 '' 'format,ro')
LENS=("$S" "$S" "$S" $((S - 1)) $((S + 1)) $((S - 8)) 8 1 $((2 * S))
	$((4 * S)) 4294967296 9223372036854775807)
STORES=("$(dm_dev sA)" "$(dm_dev sA)" "$(dm_dev sB)" "$(dm_dev sZ)")

# gen_args: the arguments after "unionblk" of one fuzzed segment, in ARGS.
gen_args() {
	local a=() f=() n i j t
	case $((RANDOM % 10)) in
	0 | 1)	# random tokens
		for ((i = RANDOM % 7; i > 0; i--)); do
			pick "${DEVS[@]}" "${NUMS[@]}" "${FEATS[@]}"
			a+=("$REPLY")
		done ;;
	2 | 3)	# devices, then a random count and random features
		pick "${DEVS[@]}"; a=("$REPLY")
		pick "${DEVS[@]}"; a+=("$REPLY")
		pick "${NUMS[@]}"; a+=("$REPLY")
		for ((i = RANDOM % 5; i > 0; i--)); do
			pick "${FEATS[@]}" "${NUMS[@]}"
			a+=("$REPLY")
		done ;;
	*)	# mostly well-formed: a store, the base, valid features
		pick "${STORES[@]}"; a=("$REPLY" "$BASE")
		((RANDOM % 3)) || f+=(format)
		((RANDOM % 4)) || f+=(ro)
		((RANDOM % 4)) || f+=(no_discard)
		((RANDOM % 5)) || { pick error_if_no_space queue_if_no_space; f+=("$REPLY"); }
		((RANDOM % 5)) || { pick 8 16 128 2048 8; f+=(chunk_size "$REPLY"); }
		((RANDOM % 5)) || { pick 1 10 1000 4294967295; f+=(low_water "$REPLY"); }
		((RANDOM % 8)) || { pick "${FEATS[@]}"; f+=("$REPLY"); }
		if [ ${#f[@]} -gt 0 ]; then
			# shuffle, and sometimes miscount
			n=${#f[@]}
			((RANDOM % 6)) || { pick 0 $((n + 1)) $((n - 1)) 99; n=$REPLY; }
			a+=("$n")
			for ((i = 0; i < ${#f[@]}; i++)); do
				j=$((RANDOM % ${#f[@]})) t=${f[i]}
				f[i]=${f[j]}
				f[j]=$t
			done
			a+=("${f[@]}")
		fi ;;
	esac
	ARGS="${a[*]}"
}

# gen_table P|Q: in TABLE, up to 7 well-formed segments over stores of
# their own (sP* or sQ*: constructed before the fuzzed one, destroyed
# again when it is refused), then one fuzzed segment; NSEG counts them.
gen_table() {
	local start=0 i k=$((RANDOM % 8)) len ro
	TABLE=""
	for ((i = 0; i < k; i++)); do
		if [ "$1" = P ]; then
			ro=$((RANDOM % 2))
		else
			ro=$((i % 2 == 0))
		fi
		if [ $ro = 1 ]; then
			TABLE+="$start $S unionblk /dev/mapper/s$1$i $BASE 1 ro"$'\n'
		else
			TABLE+="$start $S unionblk /dev/mapper/s$1$i $BASE"$'\n'
		fi
		start=$((start + S))
	done
	pick "${LENS[@]}"
	len=$REPLY
	[ "$k" = 0 ] || { pick "$S" 8 2048; len=$REPLY; }
	gen_args
	TABLE+="$start $len unionblk $ARGS"
	NSEG=$((k + 1))
}

# ---- checks ----------------------------------------------------------------

# accepted NAME: an accepted table reads, prints a table line of unionblk
# segments that is accepted again (by reload, sharing the stores), and a
# status of the documented shape; then it is removed.
accepted() {
	local name=$1 got st
	dd if="/dev/mapper/$name" of=/dev/null bs=4096 count=1 iflag=direct \
		status=none 2>/dev/null || true
	got=$(dmsetup table "$name") || fail "table of accepted '$TABLE' unreadable"
	[[ $got == "0 "*" unionblk "* ]] || fail "table of '$TABLE' reads back as '$got'"
	st=$(dmsetup status "$name")
	# <start> <len> unionblk <chunk> <used>/<total> <wo> <state> <mode> <space> <seq>
	[[ $st =~ ^([0-9]+\ [0-9]+\ unionblk\ [0-9]+\ [0-9]+/[0-9]+\ [0-9]+\ (ok|needs_check|read_only|fail)\ (rw|ro)\ (ok|low|full)\ [0-9]+($'\n'|$))+$ ]] ||
		fail "status of '$TABLE' is '$st'"
	if ((RANDOM % 3 == 0)); then
		dmsetup reload "$name" <<<"$got" ||
			fail "the table '$got' printed for '$TABLE' is refused"
	fi
	dmsetup remove "$name"
}

# kernel_errors MARK: the target's errors in the kernel log since MARK
# (read every 50 cases: reading the log per case would cost more than
# the case, and the ring buffer must still hold the mark); none may be
# "Unknown error" (ti->error unset).
KERR=()
kernel_errors() {
	local log
	ub_dmesg_has "$1"
	log=$(ub_dmesg_since "$1" | sed -n 's/.*table: [0-9:]*: unionblk: //p')
	if grep -q 'Unknown error' <<<"$log"; then
		fail "a table was refused without an error string: $(grep 'Unknown error' <<<"$log" | head -n 3)"
	fi
	[ -z "$log" ] || mapfile -t -O ${#KERR[@]} KERR < <(sed 's/ (-[A-Z0-9]*)$//' <<<"$log")
}

N_TABLES=0 N_ACCEPTED=0 N_REFUSED=0 N_SEGS=0 N_MSGS=0
t0=$(ub_now)
dmsetup create fzr --notable
mark=$(ub_dmesg_mark)
while [ $N_TABLES -lt "$CASES" ] &&
	{ [ $N_TABLES -lt "$MIN_CASES" ] || [ $(($(ub_now) - t0)) -lt "$SECS" ]; }; do
	way=$((RANDOM % 2))
	if [ $way = 1 ]; then gen_table P; else gen_table Q; fi
	N_TABLES=$((N_TABLES + 1))
	N_SEGS=$((N_SEGS + NSEG))
	if ((N_TABLES % 50 == 0)); then
		kernel_errors "$mark"
		mark=$(ub_dmesg_mark)
	fi
	if [ $way = 1 ]; then
		if dmsetup create fzc <<<"$TABLE" 2>/dev/null; then
			N_ACCEPTED=$((N_ACCEPTED + 1))
			accepted fzc
		else
			N_REFUSED=$((N_REFUSED + 1))
			# dmsetup removes the device it made for a refused table
			[ ! -e /dev/mapper/fzc ] || dmsetup remove fzc 2>/dev/null || true
		fi
	else
		# A reload: the new table is built while the old inactive
		# one still holds its stores, then replaces it
		if dmsetup reload fzr <<<"$TABLE" 2>/dev/null; then
			N_ACCEPTED=$((N_ACCEPTED + 1))
			if ((RANDOM % 8 == 0)); then
				dmsetup resume fzr
				dd if="$(dm_dev fzr)" of=/dev/null bs=4096 count=1 \
					iflag=direct status=none 2>/dev/null || true
				dmsetup message fzr 0 commit 2>/dev/null || true
				# a live table would hold its stores from now on
				dmsetup remove fzr
				dmsetup create fzr --notable
			fi
		else
			N_REFUSED=$((N_REFUSED + 1))
		fi
	fi

	# A message to the live tenant now and then
	if ((RANDOM % 4 == 0)); then
		N_MSGS=$((N_MSGS + 1))
		# docs/target.md: commit, low_water <chunks> (0: off);
		# names are matched without case, numbers in decimal
		case $((RANDOM % 8)) in
		0) pick commit COMMIT Commit; msg=$REPLY; ok=1 ;;
		1) pick 0 1 5 1000 4294967296 18446744073709551615; msg="low_water $REPLY"; ok=1 ;;
		2) pick -1 x 1e3 0x10 18446744073709551616 +; msg="low_water $REPLY"; ok=0 ;;
		3) pick commit low_water; msg=$REPLY; pick 1 x commit; msg+=" $REPLY 2"; ok=0 ;;
		4) pick frobnicate mark low-water commitx low_water; msg=$REPLY; ok=0 ;;
		5) msg=x$(head -c $((RANDOM % 3000 + 1)) /dev/urandom | tr -dc 'a-z0-9 ' | head -c 2000); ok=0 ;;
		6) pick "${NUMS[@]}"; msg=$REPLY; pick "${FEATS[@]}"; msg+=" $REPLY"; ok=0 ;;
		*) msg="commit"; ok=1 ;;
		esac
		if dmsetup message L 0 "$msg" >/dev/null 2>&1; then
			[ $ok = 1 ] || fail "message '$msg' accepted"
		else
			[ $ok = 0 ] || fail "message '$msg' refused"
		fi
	fi
done
dmsetup remove fzr
kernel_errors "$mark"
secs=$(($(ub_now) - t0))

# A live tenant has kept its data, every store is clean
run ubverify verify "$(dm_dev L)" --state "$PWD/L.state" --expect-base "$BASE"
dmsetup remove L
for s in sA sB sL sP0 sP1 sP2 sP3 sP4 sP5 sP6 sQ0 sQ1 sQ2 sQ3 sQ4 sQ5 sQ6; do
	run unionblk check "$(dm_dev $s)" || fail "store $s not clean after fuzzing"
done
unionblk check "$(dm_dev sZ)" >/dev/null 2>&1 || [ -z "$(tr -d '\0' <"$(dm_dev sZ)" | head -c 1)" ] ||
	fail "store sZ is neither unformatted nor clean"
trap - EXIT
dmsetup remove sA sB sZ sG sT sL sP0 sP1 sP2 sP3 sP4 sP5 sP6 sQ0 sQ1 sQ2 sQ3 sQ4 sQ5 sQ6 b7 b8 bs

echo "# kernel errors seen:"
printf '%s\n' "${KERR[@]}" | sort | uniq -c | sort -rn | sed 's/^/#   /'
echo "# $N_TABLES tables ($N_SEGS segments constructed or refused): $N_ACCEPTED accepted, $N_REFUSED refused; $N_MSGS messages; ${secs}s"
ub_figure fuzz_tables "$N_TABLES"
ub_figure fuzz_segments "$N_SEGS"
ub_figure fuzz_messages "$N_MSGS"
ub_figure fuzz_refused "$N_REFUSED"
ub_figure fuzz_kernel_errors "${#KERR[@]}"
[ "$N_ACCEPTED" -gt 0 ] && [ "$N_REFUSED" -gt 0 ] || fail "the fuzzer did not exercise both outcomes"
# Most refusals are the target's (the others are dm core's checks of
# lengths and segments): none in the log means the log was not read
[ "${#KERR[@]}" -gt 0 ] || fail "$N_REFUSED tables refused, but no unionblk error in the kernel log"
echo PASS
