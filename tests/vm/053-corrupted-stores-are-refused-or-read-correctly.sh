#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Corrupted stores: small formatted stores holding data (4 KiB and 64 KiB
# chunks) get random damage in their superblocks, journal slots, mapping
# table, bitmap or padding (bytes changed, blocks zeroed, filled with
# garbage, replaced by an older version, the journal slots swapped) or
# are cut short, and are activated in the kernel, read-write or
# read-only.  Each is either refused with a named error (never "Unknown
# error"), or activates and reads back exactly what was written, except
# that reads of chunks whose metadata does not verify may fail with EIO
# once the tenant reports the problem in its status; a third of the
# read-write ones also take new writes, which must not disturb old data.
# A damaged block that still verifies (all zeroes, which reads as "never
# written", or an older version of itself: a lost metadata write) cannot
# be detected by the format: such cases are counted, not failed.  Never
# an Oops or a WARNING.  make check: 200 stores; UNIONBLK_STRESS=1: 4000.
# timeout: 480
. /tests/lib/guest.sh
. /tests/lib/unionblk.sh
. /tests/lib/reliability.sh

require_target unionblk
require_cmd ubverify unionblk

STORES=$(ub_pick 200 4000)
SEED=${UNIONBLK_FUZZ_SEED:-$((RANDOM * 32768 + RANDOM))}
RANDOM=$SEED
echo "# seed $SEED (UNIONBLK_FUZZ_SEED=$SEED repeats this run)"
NB=32			# stores per batch
BASE_SZ=$((4 << 11))	# sectors: base and tenant, 4 MiB
STORE_SZ=$((5 << 11))	# sectors: each store, 5 MiB
W=$PWD

cleanup() {
	local d
	for d in uc cs; do
		# shellcheck disable=SC2046 # a list of names
		set -- $(dmsetup ls 2>/dev/null | awk -v p="^${d}[0-9]" '$1 ~ p { print $1 }')
		[ $# = 0 ] || dmsetup remove "$@"
	done
	dmsetup remove t bs 2>/dev/null
}
trap cleanup EXIT

ub_linear bs "$BASE_DEV" 0 $BASE_SZ
BASE=$(dm_dev bs)
run ubverify fill "$BASE" --seed 900 >/dev/null

# u64 FILE OFFSET: a little-endian u64 of FILE.
u64() {
	busybox od -An -t u8 -j "$2" -N 8 "$1" | tr -d ' '
}

# Two pristine stores, made by the kernel: variant 0 with 4 KiB chunks
# (with an older copy of its metadata, for "stale" damage), variant 1
# with 64 KiB chunks.  For each: its metadata image, layout, state file,
# and the tenant's content as a reference image.
for v in 0 1; do
	chunk=$((v ? 128 : 8))
	dmsetup create st --table "0 $STORE_SZ linear $BIG_DEV $((v * STORE_SZ))"
	ub_create t "$(dm_dev st)" "$BASE" 3 format chunk_size $chunk
	run ubverify run "$(dm_dev t)" --seed $((901 + v)) --ops 300 --size 4M \
		--max-io 64k --discard-pct 10 --zero-pct 5 --flush-every 20 \
		--expect-base "$BASE" --state "$W/v$v.state" >/dev/null
	dmsetup remove t
	ds=$(u64 /dev/mapper/st 104)
	MB_V[v]=$(((ds + 7) / 8))	# metadata blocks
	dd if=/dev/mapper/st of="$W/old$v.meta" bs=4096 count="${MB_V[v]}" iflag=direct status=none
	ub_create t "$(dm_dev st)" "$BASE"
	run ubverify run "$(dm_dev t)" --initial-state "$W/v$v.state" --ops 300 \
		--size 4M --max-io 64k --discard-pct 10 --zero-pct 5 --flush-every 20 \
		--expect-base "$BASE" --state "$W/v$v.state" >/dev/null
	dd if="$(dm_dev t)" of="$W/ref$v" bs=1M iflag=direct status=none
	dmsetup remove t
	run unionblk check "$(dm_dev st)" --base "$BASE"
	dd if=/dev/mapper/st of="$W/meta$v" bs=4096 count="${MB_V[v]}" iflag=direct status=none
	dd if=/dev/mapper/st of="$W/store$v" bs=1M iflag=direct status=none
	dmsetup remove st
	m=$W/meta$v
	JS_V[v]=$(u64 "$m" 64)
	JB_V[v]=$(busybox od -An -t u4 -j 52 -N 4 "$m" | tr -d ' ')
	MAP_V[v]=$(u64 "$m" 72)
	MAPN_V[v]=$(u64 "$m" 80)
	BMP_V[v]=$(u64 "$m" 88)
	BMPN_V[v]=$(u64 "$m" 96)
	DS_V[v]=$ds
	CHUNK_V[v]=$chunk
	# The newest journal slot: the higher seq in the two headers
	s0=$(u64 "$m" $((JS_V[v] * 4096 + 16)))
	s1=$(u64 "$m" $(((JS_V[v] + JB_V[v]) * 4096 + 16)))
	NEW_V[v]=$((s1 > s0 ? 1 : 0))
	echo "# variant $v: ${chunk}-sector chunks, journal at ${JS_V[v]} (2 x ${JB_V[v]}, seqs $s0 $s1), map ${MAP_V[v]}+${MAPN_V[v]}, bitmap ${BMP_V[v]}+${BMPN_V[v]}, data at sector $ds"
done

# ---- damage ------------------------------------------------------------------

# flip FILE BLOCK N: change N random bytes of block BLOCK of FILE (xor
# with a random non-zero value).
flip() {
	local off b x oct
	for ((x = 0; x < $3; x++)); do
		off=$(($2 * 4096 + RANDOM % 4096))
		b=$(busybox od -An -t u1 -j "$off" -N 1 "$1" | tr -d ' ')
		printf -v oct '%03o' $((b ^ (1 + RANDOM % 255)))
		# shellcheck disable=SC2059 # an octal escape
		printf "\\$oct" | busybox dd of="$1" bs=1 seek="$off" conv=notrunc 2>/dev/null
	done
}

# block_op FILE BLOCK zero|garbage|stale V: replace block BLOCK.
block_op() {
	local src
	case $3 in
	zero) src=/dev/zero ;;
	garbage) src=/dev/urandom ;;
	stale) busybox dd if="$W/old$4.meta" of="$1" bs=4096 skip="$2" seek="$2" \
		count=1 conv=notrunc 2>/dev/null; return ;;
	esac
	busybox dd if="$src" of="$1" bs=4096 seek="$2" count=1 conv=notrunc 2>/dev/null
}

# damage V FILE: damage metadata image FILE of variant V at random; sets
# LEN (the store's length, maybe cut) and DESC, and KIND (flip, zero,
# garbage, stale, swap, cut).
damage() {
	local v=$1 f=$2 js=${JS_V[$1]} jb=${JB_V[$1]} blk what r
	local newest=$((JS_V[$1] + NEW_V[$1] * JB_V[$1]))
	local older=$((JS_V[$1] + (1 - NEW_V[$1]) * JB_V[$1]))
	LEN=$STORE_SZ
	r=$((RANDOM % 100))
	if [ $r -lt 10 ]; then
		blk=0 what="superblock"
	elif [ $r -lt 15 ]; then
		blk=1 what="superblock copy"
	elif [ $r -lt 20 ]; then
		KIND=$(pick flip zero garbage)
		case $KIND in
		flip) flip "$f" 0 2; flip "$f" 1 2 ;;
		*) block_op "$f" 0 "$KIND" "$v"; block_op "$f" 1 "$KIND" "$v" ;;
		esac
		DESC="$KIND: both superblocks"
		return
	elif [ $r -lt 30 ]; then
		blk=$newest what="newest journal header"
	elif [ $r -lt 35 ]; then
		blk=$older what="older journal header"
	elif [ $r -lt 50 ]; then
		blk=$((newest + 1 + RANDOM % 4)) what="newest journal image"
	elif [ $r -lt 55 ]; then
		blk=$((js + RANDOM % (2 * jb))) what="journal block"
	elif [ $r -lt 72 ]; then
		blk=$((MAP_V[v] + RANDOM % MAPN_V[v])) what="map block"
	elif [ $r -lt 82 ]; then
		blk=$((BMP_V[v] + RANDOM % BMPN_V[v])) what="bitmap block"
	elif [ $r -lt 85 ]; then
		KIND=swap
		busybox dd if="$f" of="$W/swap.$BASHPID" bs=4096 skip="$js" count="$jb" 2>/dev/null
		busybox dd if="$f" of="$f" bs=4096 skip=$((js + jb)) seek="$js" count="$jb" conv=notrunc 2>/dev/null
		busybox dd if="$W/swap.$BASHPID" of="$f" bs=4096 seek=$((js + jb)) conv=notrunc 2>/dev/null
		DESC="swap: the two journal slots"
		return
	elif [ $r -lt 88 ] && [ $((BMP_V[v] + BMPN_V[v])) -lt "${MB_V[v]}" ]; then
		blk=$((BMP_V[v] + BMPN_V[v] + RANDOM % (MB_V[v] - BMP_V[v] - BMPN_V[v])))
		what="padding"
	else
		KIND="cut"
		LEN=$((RANDOM % 4 ? RANDOM % STORE_SZ : RANDOM % (DS_V[v] + 64)))
		[ "$LEN" -gt 0 ] || LEN=1
		DESC="cut: store of $LEN sectors"
		return
	fi
	KIND=$(pick flip flip flip zero garbage stale)
	[ "$v" = 0 ] || [ "$KIND" != stale ] || KIND=flip
	case $KIND in
	flip) flip "$f" "$blk" $((1 + RANDOM % 3)) ;;
	*) block_op "$f" "$blk" "$KIND" "$v" ;;
	esac
	DESC="$KIND: $what (block $blk)"
}

pick() {
	local a=("$@")
	echo "${a[RANDOM % ${#a[@]}]}"
}

# ---- checking ----------------------------------------------------------------

# region_check I V: read the tenant uc<I> one mapping block's worth of
# chunks at a time; a region that reads must equal the reference.
# Prints the number of regions that failed to read.
region_check() {
	local i=$1 v=$2 rb off total=$((BASE_SZ * 512)) bad=0 n
	rb=$((1016 * CHUNK_V[v] * 512))
	for ((off = 0; off < total; off += rb)); do
		n=$(((total - off < rb ? total - off : rb) / 4096))
		if busybox dd if="/dev/mapper/uc$i" of="$W/got.$i" bs=4096 \
			skip=$((off / 4096)) count="$n" iflag=direct 2>/dev/null; then
			cmp -n $((n * 4096)) -i "0:$off" "$W/got.$i" "$W/ref$v" \
				>/dev/null 2>&1 || return 1
		else
			bad=$((bad + 1))
		fi
	done
	echo "$bad"
}

# check_store I: verify accepted tenant uc<I> (variant V_OF[I]); prints a
# result line: "exact", "detected", "limit <why>" or "FAIL <why>".
check_store() {
	local i=$1 v=${V_OF[$1]} k=${KIND_OF[$1]} r st bad
	if ubverify verify "/dev/mapper/uc$i" --state "$W/v$v.state" \
		--expect-base "$BASE" >"$W/out.$i" 2>&1 </dev/null; then
		r=exact
	elif grep -q MISMATCH "$W/out.$i"; then
		r="silent $(grep -m 1 'sector' "$W/out.$i")"
	else
		bad=$(region_check "$i" "$v") || bad=
		st=$(ub_status_field "uc$i" state)
		if [ -z "$bad" ]; then
			r="silent: readable data differs"
		elif [ "$bad" -gt 0 ] && [ "$st" != ok ]; then
			r=detected
		else
			r="FAIL read error with metadata state $st: $(tail -n 2 "$W/out.$i")"
		fi
	fi
	# New writes (read-write tenants, a third of them) keep old data
	if [ "$r" = exact ] && [ "${RW_OF[$i]}" = rw ] && ((i % 3 == 0)); then
		if ! ubverify run "/dev/mapper/uc$i" --initial-state "$W/v$v.state" \
			--ops 60 --max-io 64k --read-pct 30 --expect-base "$BASE" \
			--state "$W/w.$i" >"$W/out.$i" 2>&1 </dev/null; then
			st=$(ub_status_field "uc$i" state)
			if grep -q MISMATCH "$W/out.$i"; then
				r="silent after writes: $(grep -m 1 sector "$W/out.$i")"
			elif [ "$st" != ok ]; then
				r=detected
			else
				r="FAIL writes failed with metadata state ok: $(tail -n 2 "$W/out.$i")"
			fi
		fi
		: >"$W/dirty.$i"
	fi
	case $r in
	silent*)
		# undetectable by the format: a block that verifies (all
		# zeroes: never written; or an older version of itself);
		# say whether the offline check at least finds it
		case $k in
		zero | stale)
			if unionblk check "/dev/mapper/cs$i" --base "$BASE" >/dev/null 2>&1; then
				r="limit unionblk check finds nothing:${r#silent}"
			else
				r="limit unionblk check reports it:${r#silent}"
			fi ;;
		*) r="FAIL ${r#silent }" ;;
		esac ;;
	esac
	echo "$i $r"
}

check_share() {	# check_share PART: every other accepted store
	local i
	for i in "${ACCEPTED[@]}"; do
		[ $((i % 2)) = "$1" ] || continue
		check_store "$i"
	done
}

declare -A RESULTS=() ERRORS=()
N=0 LIMIT_DESC=() FAILS=()
t0=$(ub_now)
while [ $N -lt "$STORES" ]; do
	# A batch of slots, each a variant's pristine store, then damaged
	table=""
	for ((i = 0; i < NB; i++)); do
		v=$((i % 2))
		V_OF[i]=$v
		cp "$W/meta$v" "$W/m.$i"
		KIND=""
		damage "$v" "$W/m.$i"
		DESC_OF[i]=$DESC
		KIND_OF[i]=$KIND
		table+="cs$i,,,rw,0 $LEN linear $BIG_DEV $((i * STORE_SZ));"
	done
	dmsetup create --concise "${table%;}"
	dmsetup mknodes
	for ((i = 0; i < NB; i++)); do
		v=${V_OF[i]}
		# (through $BIG_DEV itself: the slot may be cut short)
		if [ $N = 0 ] || [ -e "$W/dirty.$i" ]; then
			busybox dd if="$W/store$v" of="$BIG_DEV" bs=1M \
				seek=$((i * STORE_SZ / 2048)) oflag=direct conv=notrunc \
				2>/dev/null || fail "cannot write store $i"
			rm -f "$W/dirty.$i"
		fi
		busybox dd if="$W/m.$i" of="$BIG_DEV" bs=4096 \
			seek=$((i * STORE_SZ / 8)) oflag=direct conv=notrunc \
			2>/dev/null || fail "cannot write store $i"
	done

	# Activate them all, a dmsetup call up to each refusal
	ACCEPTED=()
	i=0
	while [ $i -lt $NB ]; do
		table=""
		for ((j = i; j < NB; j++)); do
			RW_OF[j]=$(((j / 2) % 2 ? 1 : 0))
			if [ "${RW_OF[j]}" = 1 ]; then
				RW_OF[j]=ro
				table+="uc$j,,,ro,0 $BASE_SZ unionblk /dev/mapper/cs$j $BASE 1 ro;"
			else
				RW_OF[j]=rw
				table+="uc$j,,,rw,0 $BASE_SZ unionblk /dev/mapper/cs$j $BASE;"
			fi
		done
		mark=$(ub_dmesg_mark)
		if dmsetup create --concise "${table%;}" 2>/dev/null; then
			for ((; i < NB; i++)); do ACCEPTED+=("$i"); done
			break
		fi
		made=" $(dmsetup ls | awk '/^uc[0-9]/ { printf "%s ", $1 }')"
		while [[ $made == *" uc$i "* ]]; do
			ACCEPTED+=("$i")
			i=$((i + 1))
		done
		err=$(ub_dmesg_since "$mark" | sed -n 's/.*table: [0-9:]*: unionblk: //p' | tail -n 1)
		err=${err%% (-*}
		[ -n "$err" ] || err="(refused before the target: $(ub_dmesg_since "$mark" | tail -n 1))"
		[ "$err" != "Unknown error" ] || fail "store $i (${DESC_OF[i]}) refused with no error string"
		ERRORS[$err]=$((${ERRORS[$err]:-0} + 1))
		RESULTS[refused]=$((${RESULTS[refused]:-0} + 1))
		i=$((i + 1))
	done
	dmsetup mknodes

	if [ ${#ACCEPTED[@]} -gt 0 ]; then
		check_share 0 >"$W/res0" 2>&1 &
		p0=$!
		check_share 1 >"$W/res1" 2>&1 &
		p1=$!
		wait "$p0" || true
		wait "$p1" || true
		while read -r i r; do
			case $r in
			FAIL*)
				FAILS+=("variant ${V_OF[i]}, ${RW_OF[i]}, ${DESC_OF[i]}: ${r#FAIL }")
				dmsetup status "uc$i" ;;
			limit*)
				r2=${r#limit }
				LIMIT_DESC+=("${DESC_OF[i]%(block*} (${RW_OF[i]}; ${r2%%:*})") ;;
			esac
			RESULTS[${r%% *}]=$((${RESULTS[${r%% *}]:-0} + 1))
		done < <(cat "$W/res0" "$W/res1")
		[ "$(cat "$W/res0" "$W/res1" | wc -l)" = ${#ACCEPTED[@]} ] || {
			cat "$W/res0" "$W/res1"
			fail "a check of an accepted store did not finish"
		}
		names=()
		for i in "${ACCEPTED[@]}"; do names+=("uc$i"); done
		dmsetup remove "${names[@]}"
	fi
	names=()
	for ((i = 0; i < NB; i++)); do names+=("cs$i"); done
	dmsetup remove "${names[@]}"
	N=$((N + NB))
done
trap - EXIT
dmsetup remove bs

secs=$(($(ub_now) - t0))
echo "# refusals:"
for e in "${!ERRORS[@]}"; do echo "#   ${ERRORS[$e]} $e"; done | sort -rn
echo "# undetectable damage that changed data (format limit):"
[ ${#LIMIT_DESC[@]} = 0 ] ||
	printf '%s\n' "${LIMIT_DESC[@]}" | sort | uniq -c | sed 's/^ */#   /'
echo "# $N damaged stores in ${secs}s: ${RESULTS[refused]:-0} refused, ${RESULTS[exact]:-0} read exactly, ${RESULTS[detected]:-0} reported the damage and failed the reads it touched, ${RESULTS[limit]:-0} changed data undetected (zeroed or stale metadata block), ${#FAILS[@]} returned wrong data for damage that does not verify"
ub_figure corrupted_stores "$N"
if [ ${#FAILS[@]} -gt 0 ]; then
	printf '# wrong data: %s\n' "${FAILS[@]}"
	fail "${#FAILS[@]} damaged stores activated and returned wrong data without an error"
fi
[ "${RESULTS[refused]:-0}" -gt 0 ] && [ "${RESULTS[exact]:-0}" -gt 0 ] ||
	fail "the damage did not exercise both refusal and activation"
echo PASS
