# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Many tenants over one base at once: BENCH_TENANTS (1, 8, 32) tenants of
# each configuration of BENCH_TENANT_CONFIGS (the store device split into
# equal slices; dm-thin: one pool), all running the same job together,
# the jobs of BENCH_TENANT_JOBS one after the other, each for
# BENCH_TENANT_RUNTIME seconds (a fixed number of I/Os per tenant would
# measure fio starting 32 threads under TCG more than the I/O).  The
# aggregate IOPS of K tenants over one tenant's is the per-tenant
# throughput over its share (1/K) of the one-tenant figure.  raw: K jobs
# on bench-base.  BENCH_TENANT_ROUNDS rounds, the configurations rotated.

record_env
base_up
fill_base
jobs=""
for j in $BENCH_TENANT_JOBS; do jobs+="${jobs:+ }tenants-$j"; done

# shellcheck disable=SC2086 # lists of configurations
for ((ROUND = 1; ROUND <= BENCH_TENANT_ROUNDS; ROUND++)); do
	for cfg in $(rotate $ROUND $BENCH_TENANT_CONFIGS raw); do
		for k in $BENCH_TENANTS; do
			tenants_up "$cfg" "$k"
			if [ "$cfg" = raw ]; then
				fmt=bench-base
			else
				fmt='bench-t$jobnum'
			fi
			bench_fio "$cfg" "$k" "$jobs" TENANT_DIR=/dev/mapper \
				TENANT_FMT="$fmt" TENANTS="$k" \
				RUNTIME="$BENCH_TENANT_RUNTIME"
			record_space "$cfg" "$k" tenants
			tenants_down "$cfg" "$k"
		done
	done
done
