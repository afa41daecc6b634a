#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# What `make check` runs, in order, all in TAP:
#
#   1. the Debian packages the build and the VM harness need: installed
#      when root, else the apt-get line to run is printed and the run stops
#   2. builds: tools/ and tests/helpers/ (each when its Makefile exists)
#   3. host tests: make -C tools check
#   4. shellcheck of the shell scripts
#   5. the VM harness's self-tests (tests/vm/selftest.sh)
#   6. the VM tests on each kernel of KERNELS (tests/vm/run), each of which
#      builds dm-unionblk.ko for its kernel first
#
# It ends with one line, "N passed, M failed" (", K skipped" when some
# were), counting every TAP result line of every step, and exits non-zero
# when anything failed or nothing ran.  Variables: docs/testing.md.

set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
# shellcheck source=tests/lib/host.sh
. tests/lib/host.sh

LOG=$(mktemp /tmp/unionblk-check.XXXXXX)
trap 'rm -f "$LOG"' EXIT
export UNIONBLK_RUN_ALL=1
START=$SECONDS

# step NAME CMD...: run one step, its output to stdout and to the log, and
# time it.  A step that fails without a "not ok" of its own gets one.
step() {
	local name=$1 start=$SECONDS before rc
	shift
	before=$(grep -c '^not ok' "$LOG")
	echo "# == $name"
	# A step's own "N passed, M failed" becomes a comment: the last line
	# of the run is the only such line.
	"$@" 2>&1 | sed -u -E 's/^[0-9]+ passed, [0-9]+ failed/# &/' |
		tee -a "$LOG"
	rc=${PIPESTATUS[0]}
	if [ "$rc" -ne 0 ] && [ "$(grep -c '^not ok' "$LOG")" -eq "$before" ]; then
		echo "not ok - $name: exited with status $rc" | tee -a "$LOG"
	fi
	echo "# $name: $((SECONDS - start))s"
}

# tap_cmd DESC CMD...: one TAP line for CMD; its output shown on failure.
tap_cmd() {
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then
		echo "ok - $desc"
	else
		echo "not ok - $desc"
		printf '%s\n' "$out" | tail -n 60 | sed 's/^/# | /'
	fi
}

build() {
	if [ -f tools/Makefile ]; then
		tap_cmd "build tools (make tools)" make tools
	else
		echo "ok - build tools # SKIP no tools/Makefile"
	fi
	if [ -f tests/helpers/Makefile ]; then
		tap_cmd "build test helpers (make -C tests/helpers)" \
			make -C tests/helpers
	fi
}

# has_target DIR TARGET: DIR/Makefile has a rule for TARGET (make -q
# exits 2 only when it has none).
has_target() {
	[ -f "$1/Makefile" ] || return 1
	make -q -C "$1" "$2" >/dev/null 2>&1
	[ $? -lt 2 ]
}

host_tests() {
	if has_target tools check; then
		make -s -C tools check
	else
		echo "ok - host tests # SKIP tools/Makefile has no check target"
	fi
	if has_target tests/helpers check; then
		make -s -C tests/helpers check
	fi
}

lint() {
	local files
	files=$(ls tests/run-all.sh .ci/run tests/vm/run tests/vm/guest-init \
		tests/vm/*.sh tests/lib/*.sh dm-target/*.sh 2>/dev/null)
	# shellcheck disable=SC2086 # a list of file names
	tap_cmd "shellcheck -S warning of the shell scripts" \
		shellcheck -x -S warning $files
}

summary() {
	local pass fail skip line
	skip=$(grep -ciE '^ok\b.*# skip' "$LOG")
	pass=$(($(grep -cE '^ok\b' "$LOG") - skip))
	fail=$(grep -cE '^not ok\b' "$LOG")
	echo "# total: $((SECONDS - START))s"
	line="$pass passed, $fail failed"
	[ "$skip" -gt 0 ] && line="$line, $skip skipped"
	echo "$line"
	[ "$fail" -eq 0 ] && [ $((pass + skip)) -gt 0 ]
}

# shellcheck disable=SC2086 # a list of package names
if ! pkgs_ensure $UNIONBLK_HOST_PKGS; then
	echo "not ok - the Debian packages make check needs are installed" >>"$LOG"
	echo "not ok - the Debian packages make check needs are installed"
	summary
	exit 1
fi

step "build" build
step "host tests" host_tests
step "shellcheck" lint
if [ "${UNIONBLK_SELFTEST:-1}" != 0 ]; then
	step "VM harness self-tests" bash tests/vm/selftest.sh
fi
for k in ${KERNELS:-6.1 6.12}; do
	step "VM tests on $k" env KERNELS="$k" bash tests/vm/run
done
summary
