#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# 1,000 tenant devices (250 in make check) over one base work at once:
# each reads the base and
# keeps its own write; one full tenant does not stop the others.
# timeout: 900
# kernels: 6.1
. /tests/lib/guest.sh
. /tests/lib/unionblk.sh

require_target unionblk
# 1,000 tenants take 14 minutes under TCG on a busy 2-core host: make
# check runs 250 of them, on 6.1 only (the "kernels" line above; the
# debug kernel is a 6.1 too), to keep within its time budget; with
# UNIONBLK_STRESS=1 (the wrapper tests/stress.sh writes, which has no
# "kernels" line) all 1,000 run, on every kernel.
if [ "${UNIONBLK_STRESS:-0}" = 1 ]; then
	N=1000
else
	N=250
fi
B=$((16 << 11))			# a 16 MiB base
per=$((1 << 11))		# 1 MiB store each
dd if=/dev/urandom of=/tmp/base bs=1M count=16 status=none
dd if=/tmp/base of="$BASE_DEV" bs=1M oflag=direct status=none
dmsetup create base --table "0 $B linear $BASE_DEV 0"

stores="" tenants=""
for i in $(seq 1 $N); do
	stores+="s$i,,,,0 $per linear $BIG_DEV $(((i - 1) * per));"
	tenants+="u$i,,,,0 $B unionblk /dev/mapper/s$i /dev/mapper/base 1 format;"
done
start=$(date +%s)
dmsetup create --concise "${stores%;}"
dmsetup create --concise "${tenants%;}"
echo "# $N tenants created in $(($(date +%s) - start)) s"
[ "$(dmsetup ls --target unionblk | wc -l)" = $N ] || fail "expected $N tenants"
free -m | sed 's/^/# /'

for i in $(seq 1 $N); do
	printf 'tenant %-8d' "$i" | dd of="/dev/mapper/u$i" bs=4096 seek=$((i % 4096)) \
		conv=sync oflag=direct status=none
done
# Fill tenant 1's store completely: writes fail with ENOSPC
if dd if=/dev/zero of=/dev/mapper/u1 bs=64k oflag=direct status=none 2>/dev/null; then
	fail "writing past a full store succeeded"
fi
[ "$(ub_status_field u1 space)" = full ] || fail "u1 is not full"
for i in $(seq 2 $N); do
	got=$(dd if="/dev/mapper/u$i" bs=4096 skip=$((i % 4096)) count=1 status=none | head -c 15)
	[ "$got" = "$(printf 'tenant %-8d' "$i")" ] || fail "tenant $i lost its write: '$got'"
done
# One status call for all: every other tenant has space and ok metadata
dmsetup status --target unionblk >/tmp/status
[ "$(grep -c ' ok rw ok ' /tmp/status)" = $((N - 1)) ] ||
	fail "tenants other than u1 affected: $(grep -v ' ok rw ok ' /tmp/status | head -n 3)"
grep -q '^u1: .* ok rw full ' /tmp/status || fail "u1 status: $(grep '^u1:' /tmp/status)"

cmp -n 4096 "/dev/mapper/u$N" /tmp/base || fail "tenant $N does not read the base"
echo "the others still write" | dd of="/dev/mapper/u$((N / 2))" bs=4096 seek=4000 conv=sync oflag=direct status=none
dmsetup remove_all || fail "removing the tenants failed"

echo PASS
