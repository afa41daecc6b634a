#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make stress`: the reliability tests (tests/vm/050-069) and the
# 1,000-tenant test (tests/vm/020) in their long versions, then the
# power-cut test again and again, on KERNELS (default 6.1).  The tests
# read UNIONBLK_STRESS=1; the harness passes no environment to the
# guest, so each test runs through a wrapper in a tests directory of its
# own (tests/vm/run --tests-dir) that exports it and raises the test's
# timeout.  The harness lets a test reboot the guest only a couple of
# times per run, so the power-cut test (two cuts a run) is run
# UNIONBLK_POWER_CUT_RUNS times (default 10: 20 cuts).
#
# Ends with "N passed, M failed" over all runs and the figures the tests
# report ("# figure: NAME VALUE"), which docs/reliability.md quotes; the
# whole output is kept in $UNIONBLK_CACHE/stress-<date>.log.  Takes hours.
#
#   STRESS_TESTS="050 052"  only these (default: 020 and all of 050-069
#                           but 055); "none": only the power cuts

set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
# shellcheck source=tests/lib/host.sh
. tests/lib/host.sh

KERNELS=${KERNELS:-6.1}
RUNS=${UNIONBLK_POWER_CUT_RUNS:-10}
LOG=$UNIONBLK_CACHE/stress-$(date +%Y%m%d-%H%M%S).log
mkdir -p "$UNIONBLK_CACHE"

# Timeouts of the long versions, seconds
declare -A TIMEOUT=([020]=2400 [050]=9000 [051]=2400 [052]=6000 [053]=5400 [054]=1800
	[055]=900 [056]=5400 [069]=600)

dir=$(mktemp -d /tmp/unionblk-stress.XXXXXX)
trap 'rm -rf "$dir"' EXIT
all=""
for f in tests/vm/020-*.sh tests/vm/0[56][0-9]-*.sh; do
	[ -e "$f" ] || continue
	name=${f##*/}
	n=${name%%-*}
	cat >"$dir/$name" <<WRAP
#!/bin/bash
# The long version of tests/vm/$name (tests/stress.sh).
# timeout: ${TIMEOUT[$n]:-3600}
export UNIONBLK_STRESS=1
echo "# the long version (UNIONBLK_STRESS=1)"
exec bash /tests/vm/$name
WRAP
	[ "$n" = 055 ] || all="$all $n"
done
tests=${STRESS_TESTS:-$all}

make tools >/dev/null && make -C tests/helpers >/dev/null ||
	die "building tools/ and tests/helpers/ failed"

{
	echo "# make stress on $KERNELS: $tests, then 055 x $RUNS"
	for k in $KERNELS; do
		# shellcheck disable=SC2086 # a list of test numbers
		[ "$tests" = none ] ||
			TESTS="$tests" UNIONBLK_VERBOSE=1 bash tests/vm/run \
				--kernel "$k" --tests-dir "$dir"
		for ((i = 1; i <= RUNS; i++)); do
			TESTS=055 UNIONBLK_VERBOSE=1 bash tests/vm/run --kernel "$k" \
				--tests-dir "$dir"
		done
	done
} 2>&1 | tee "$LOG" | grep -v '^#   '

echo "# figures (summed over runs):"
sed -n 's/^#   # figure: //p' "$LOG" |
	awk '{ s[$1] += $2 } END { for (k in s) printf "#   %s %d\n", k, s[k] }' | sort
pass=$(grep -c '^ok ' "$LOG")
fail=$(grep -c '^not ok ' "$LOG")
echo "# log: $LOG"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
