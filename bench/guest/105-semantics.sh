# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Semantics behind docs/comparison.md, observed rather than quoted:
#
#   discard   what a discarded chunk reads back as (zeroes, the base, the
#             old data, or discard refused), and whether it frees store
#             space, for unionblk, dm-snapshot and dm-thin (external
#             origin)
#   nospace   what happens when the store fills: 16 MiB written to a
#             tenant whose store holds 8 MiB (unionblk: its default
#             error_if_no_space; dm-snapshot; dm-thin with
#             error_if_no_space, since its default queues I/O for 60 s;
#             overlayfs with a 16 MiB upper filesystem): how far the write
#             got and how it failed, the status afterwards, and whether
#             reading and rewriting what was written still work.

SEM_CONFIGS="ub4k snap4k thin"
record_env
base_up
# Base data where the probes look: 32 MiB of it.
dd if=/dev/urandom of=/dev/mapper/bench-base bs=1M count=32 oflag=direct status=none
head -c 65536 /dev/urandom >"$BENCH_WORK/pattern"
head -c 4096 /dev/zero >"$BENCH_WORK/zero4k"

# used CONFIG: the store's used chunks or sectors, from the status line.
used() {
	# shellcheck disable=SC2046 # the fields of a status line
	case $1 in
	thin) set -- $(dmsetup status bench-pool); echo "${6%/*} blocks" ;;
	ub*) set -- $(dmsetup status bench-t0); echo "${5%/*} chunks" ;;
	snap*) set -- $(dmsetup status bench-t0); echo "${4%/*} sectors" ;;
	esac
}

# first4k DEV: what the first 4 KiB of DEV hold: zeroes, base, written, or
# other (or error).
first4k() {
	local f=$BENCH_WORK/got
	dd if="$1" of="$f" bs=4096 count=1 iflag=direct status=none 2>/dev/null ||
		{ echo error; return 0; }
	if cmp -s "$f" "$BENCH_WORK/zero4k"; then echo zeroes
	elif cmp -s -n 4096 "$f" "$BENCH_WORK/pattern"; then echo written
	elif cmp -s -n 4096 "$f" /dev/mapper/bench-base; then echo base
	else echo other; fi
}

# ---- discard ---------------------------------------------------------------
for cfg in $SEM_CONFIGS; do
	tenants_up "$cfg" 1
	dev=/dev/mapper/bench-t0
	dd if="$BENCH_WORK/pattern" of="$dev" bs=64k count=1 oflag=direct status=none
	sync
	before=$(used "$cfg")
	if out=$(blkdiscard -o 0 -l 65536 "$dev" 2>&1); then
		how=discarded
	else
		how="refused: ${out##*: }"
	fi
	dmsetup message "$(if [ "$cfg" = thin ]; then echo bench-pool; else echo bench-t0; fi)" 0 commit >/dev/null 2>&1 || true
	sync
	record discard config="$cfg" discard="$how" reads_back="$(first4k "$dev")" \
		used_before="$before" used_after="$(used "$cfg")"
	say "discard $cfg: $how"
	tenants_down "$cfg" 1
done

# ---- out of space ----------------------------------------------------------
# small CONFIG: a tenant of CONFIG over bench-base whose store holds 8 MiB
# of data (unionblk: 8 MiB plus its metadata region).
small_up() {
	local meta
	store_reset 1
	case $1 in
	ub4k)
		# The metadata region for this tenant's capacity, then 8 MiB.
		meta=$(( (2 + 2 * 256 + BASE_SECTORS / 8 / 1016 + 2 + 1) * 8 ))
		dm_create bench-s0 "0 $((meta + 16384)) linear $BENCH_STORE_DEV 0"
		dm_create bench-t0 "0 $BASE_SECTORS unionblk /dev/mapper/bench-s0 /dev/mapper/bench-base 3 format chunk_size 8" ;;
	snap4k)
		dm_create bench-s0 "0 16384 linear $BENCH_STORE_DEV 0"
		dm_create bench-t0 "0 $BASE_SECTORS snapshot /dev/mapper/bench-base /dev/mapper/bench-s0 P 8" ;;
	thin)
		dm_create bench-tmeta "0 8192 linear $BENCH_STORE_DEV 0"
		dm_create bench-tdata "0 16384 linear $BENCH_STORE_DEV 8192"
		dm_create bench-pool "0 16384 thin-pool /dev/mapper/bench-tmeta /dev/mapper/bench-tdata $THIN_BLOCK 0 1 error_if_no_space"
		dmsetup message bench-pool 0 "create_thin 0"
		dm_create bench-t0 "0 $BASE_SECTORS thin /dev/mapper/bench-pool 0 /dev/mapper/bench-base" ;;
	esac
}
small_down() {
	dm_remove bench-t0 bench-s0 bench-pool bench-tmeta bench-tdata
}

for cfg in $SEM_CONFIGS overlay; do
	if [ "$cfg" = overlay ]; then
		mkdir -p "$MNT/lower" "$MNT/upper" "$MNT/t"
		mkfs.ext4 -q -F /dev/mapper/bench-base
		mount -o ro /dev/mapper/bench-base "$MNT/lower"
		dm_create bench-s0 "0 32768 linear $BENCH_AUX_DEV 0"
		mkfs.ext4 -q -F /dev/mapper/bench-s0
		mount /dev/mapper/bench-s0 "$MNT/upper"
		mkdir "$MNT/upper/u" "$MNT/upper/w"
		mount -t overlay overlay -o "lowerdir=$MNT/lower,upperdir=$MNT/upper/u,workdir=$MNT/upper/w" "$MNT/t"
		target=$MNT/t/big
		flags=(oflag=direct)
	else
		small_up "$cfg"
		target=/dev/mapper/bench-t0
		flags=(oflag=direct conv=notrunc)
	fi
	t0=$(now_us)
	if out=$(timeout 120 dd if=/dev/urandom of="$target" bs=1M count=16 "${flags[@]}" 2>&1); then
		how=completed
	else
		how=$(grep -m1 -v 'records\|copied' <<<"$out" | sed 's/.*: //')
	fi
	ms=$((($(now_us) - t0) / 1000))
	copied=$(grep -m1 'copied' <<<"$out" | cut -d' ' -f1)
	if [ "$cfg" = overlay ]; then
		status=$(df -k "$MNT/upper" | awk 'NR == 2 { print $4 " KiB free" }')
		rd=$(dd if="$target" of=/dev/null bs=4096 count=1 status=none 2>/dev/null && echo ok || echo failed)
		wr=$(dd if=/dev/zero of="$target" bs=4096 count=1 conv=notrunc status=none 2>/dev/null && echo ok || echo failed)
		umount "$MNT/t" "$MNT/upper" "$MNT/lower"
		dm_remove bench-s0
	else
		status=$(dmsetup status "$(if [ "$cfg" = thin ]; then echo bench-pool; else echo bench-t0; fi)" | cut -d' ' -f4-)
		rd=$(dd if="$target" of=/dev/null bs=4096 count=1 iflag=direct status=none 2>/dev/null && echo ok || echo failed)
		wr=$(dd if=/dev/zero of="$target" bs=4096 count=1 oflag=direct conv=notrunc status=none 2>/dev/null && echo ok || echo failed)
		small_down
	fi
	record nospace config="$cfg" write="$how" bytes_written="${copied:-0}" \
		ms=$ms status="$status" read_after="$rd" rewrite_after="$wr"
	say "nospace $cfg: $how after ${copied:-0} bytes; status $status"
done
