# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Block workloads, one tenant: each configuration of BENCH_BLOCK_CONFIGS
# over the same base, on the same store device.  Each group of workloads
# starts on a fresh tenant:
#
#   1. randread-4k (cold read-through), seqread-1m (read-through),
#      firstwrite-4k (one 4 KiB write into each 64 KiB: all copy-ups),
#      rewrite-4k (the same writes again: chunks already held)
#   2. seqwrite-1m (sequential first write of whole chunks)
#   3. mixed-4k-70-30
#
# raw runs all six on bench-base itself (its writes overwrite base data
# with other data: the configurations after it read a base just as full).
# All of it BENCH_ROUNDS times, the order of the configurations rotated
# each round; bench/report takes the median.  The store space each
# configuration used is recorded after each group (first round).

record_env
base_up
fill_base
make_firstwrite_log "$BENCH_WORK/firstwrite.iolog" "$BENCH_REGION_MB"
VARS=(IOLOG="$BENCH_WORK/firstwrite.iolog" NR_IOS="$BENCH_NR_IOS")

# shellcheck disable=SC2086 # lists of configurations
for ((ROUND = 1; ROUND <= BENCH_ROUNDS; ROUND++)); do
	for cfg in $(rotate $ROUND $BLOCK_CONFIGS raw); do
		if [ "$cfg" = raw ]; then
			bench_fio raw 1 "randread-4k seqread-1m firstwrite-4k rewrite-4k seqwrite-1m mixed-4k-70-30" \
				DEV=/dev/mapper/bench-base "${VARS[@]}"
			continue
		fi
		tenants_up "$cfg" 1
		bench_fio "$cfg" 1 "randread-4k seqread-1m firstwrite-4k rewrite-4k" \
			DEV="$(tenant_dev "$cfg")" "${VARS[@]}"
		record_space "$cfg" 1 firstwrite-rewrite
		tenants_down "$cfg" 1

		tenants_up "$cfg" 1
		bench_fio "$cfg" 1 seqwrite-1m DEV="$(tenant_dev "$cfg")"
		record_space "$cfg" 1 seqwrite
		tenants_down "$cfg" 1

		tenants_up "$cfg" 1
		bench_fio "$cfg" 1 mixed-4k-70-30 DEV="$(tenant_dev "$cfg")" "${VARS[@]}"
		record_space "$cfg" 1 mixed
		tenants_down "$cfg" 1
	done
done
