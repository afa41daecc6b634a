#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Run the host tests and add up their TAP: the cmocka unit test binaries
# ($UNIT_BINS), the CLI scripts tests/unit/cli-*.sh (with $UNIONBLK), and
# a bounded fuzz run ($FUZZ_BIN, $FUZZ_RUNS).  Ends with the line
# "N passed, M failed" and exits non-zero when anything failed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
passed=0
failed=0
skipped=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# run NAME CMD...: echo its TAP, count its ok / not ok lines
run() {
	local name=$1 rc
	shift
	echo "# --- $name"
	"$@" >"$log" 2>&1
	rc=$?
	cat "$log"
	local ok nok skip
	ok=$(grep -cE '^ok ' "$log")
	skip=$(grep -cE '^ok .*# (SKIP|skip)' "$log")
	nok=$(grep -cE '^not ok ' "$log")
	passed=$((passed + ok - skip))
	skipped=$((skipped + skip))
	failed=$((failed + nok))
	if [ "$rc" -ne 0 ] && [ "$nok" -eq 0 ]; then
		echo "not ok - $name exited with status $rc"
		failed=$((failed + 1))
	fi
}

export CMOCKA_MESSAGE_OUTPUT=TAP
for t in ${UNIT_BINS:-}; do
	run "$(basename "$t")" "$t"
done

if [ -n "${UNIONBLK:-}" ]; then
	for t in "$root"/tests/unit/cli-*.sh; do
		[ -e "$t" ] || continue
		run "$(basename "$t")" bash "$t"
	done
fi

if [ -n "${FUZZ_BIN:-}" ] && [ -x "${FUZZ_BIN}" ]; then
	run fuzz-smoke bash "$root/tests/fuzz/run-smoke.sh" "$FUZZ_BIN" \
		"${FUZZ_RUNS:-20000}"
fi

if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
