#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A bounded fuzz run for `make check`: RUNS inputs (at most 60 s) from
# the committed seed corpus, new inputs kept in a temporary directory.
# Prints one TAP line.
FUZZ_BIN=${1:?fuzzer binary}
RUNS=${2:-20000}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/ub-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

if "$FUZZ_BIN" -runs="$RUNS" -max_total_time=60 -max_len=65536 -timeout=10 \
	-rss_limit_mb=2048 -artifact_prefix="$work/" -print_final_stats=1 \
	"$work" "$here/corpus" >"$work/log" 2>&1; then
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
	echo "ok 1 - fuzz-store: ${execs:-?} inputs from the seed corpus, no crash, leak or UB"
else
	echo "not ok 1 - fuzz-store found a problem"
	tail -40 "$work/log" | sed 's/^/# /'
	for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
		[ -e "$a" ] && echo "# artifact: $(basename "$a") ($(od -An -tx1 "$a" | head -3 | tr -s ' '))"
	done
fi
echo "1..1"
