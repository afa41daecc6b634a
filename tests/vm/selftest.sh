#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Self-tests of the VM harness, run on the host: the harness runs a set of
# guest tests written here, each made to end one way (pass, fail, skip, a
# WARNING in dmesg, a timeout, a panic, a crash-reboot, a hung runner), and
# this script checks that each ending is reported as it must be.  Prints
# TAP.  Uses the first kernel of KERNELS (default 6.1); about 3 minutes.

# The guest tests' bodies expand in the guest; result and has run
# through check.
# shellcheck disable=SC2016,SC2317
set -u
VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
kernel=${KERNELS:-6.1}
kernel=${kernel%% *}

tdir=$(mktemp -d /tmp/unionblk-selftest.XXXXXX)
trap 'rm -rf "$tdir"' EXIT

# guest_test NAME BODY: write the guest test tdir/NAME.sh.
guest_test() {
	printf '#!/bin/bash\n. /tests/lib/guest.sh\n%s\n' "$2" >"$tdir/$1.sh"
}

guest_test 001-pass 'echo "all is well"'
guest_test 002-fail 'echo "selftest: this output must be shown"; false'
guest_test 003-skip 'skip "selftest skips"'
guest_test 004-warning \
	'echo "WARNING: CPU: 0 PID: 1 at selftest.c:1 selftest+0x0/0x0" >/dev/kmsg'
guest_test 005-timeout '# timeout: 5
sleep 600'
guest_test 006-leftovers 'dmsetup create selftest --table "0 8 zero"
sleep 600 &'
guest_test 007-panic 'echo "selftest: panicking now"; echo c >/proc/sysrq-trigger'
guest_test 008-runs-after-panic 'true'
guest_test 009-crash-reboot 'if [ "$UNIONBLK_PHASE" = 1 ]; then
	echo stamp-before-crash | dd of=$BASE_DEV oflag=direct,sync status=none
	vm_crash_reboot
fi
[ "$UNIONBLK_PHASE" = 2 ] || fail "phase is $UNIONBLK_PHASE"
head -c 18 $BASE_DEV | grep -q stamp-before-crash || fail "the stamp is gone"'
guest_test 010-disks-are-zeroed 'cmp -n 1048576 $BASE_DEV /dev/zero'
# The test stops the runner (the parent of its parent, timeout), so the
# guest lives on but reports nothing more.
guest_test 011-hang '# timeout: 5
kill -STOP "$(awk "{ print \$4 }" /proc/$PPID/stat)"; sleep 600'

out=$tdir/harness.out
start=$SECONDS
UNIONBLK_TEST_TIMEOUT=60 UNIONBLK_HANG_MARGIN=60 UNIONBLK_RUN_ALL='' TESTS='' \
	bash "$VM_DIR/run" --kernel "$kernel" --tests-dir "$tdir" --no-module \
	>"$out" 2>&1
harness_rc=$?

n=0
failed=0
# check DESC CMD...: one TAP line: ok when CMD succeeds.
check() {
	local desc=$1
	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n - harness: $desc"
	else
		echo "not ok $n - harness: $desc"
		failed=1
	fi
}

# result TEST: the harness's TAP line for TEST, and the "#" lines after it.
result() {
	awk -v t="$kernel $1" '
		/^(not )?ok / { on = (index($0, t) > 0) }
		on && (/^(not )?ok / || /^#/)' "$out"
}

has() {
	grep -qE "$2" <<<"$(result "$1")"
}

check "a passing test is ok" has 001-pass '^ok .* 001-pass$'
check "a failing test is not ok" has 002-fail '^not ok .* 002-fail$'
check "a failing test's output is shown" has 002-fail 'this output must be shown'
check "exit status 77 is a skip with its reason" \
	has 003-skip '^ok .* 003-skip # SKIP selftest skips$'
check "a WARNING in dmesg fails the test" has 004-warning '^not ok .* 004-warning$'
check "the WARNING is shown" has 004-warning 'WARNING: CPU: 0 PID: 1 at selftest'
check "a test past its timeout fails" has 005-timeout 'timed out after 5s'
check "leftover processes and devices are reported" \
	has 006-leftovers 'left processes running'
check "a panic fails the running test, naming it" \
	has 007-panic 'guest panicked during 007-panic: Kernel panic'
check "the harness boots again and runs the tests after a panic" \
	has 008-runs-after-panic '^ok .* 008-runs-after-panic$'
check "a crash-reboot keeps the disks and reruns the test in phase 2" \
	has 009-crash-reboot '^ok .* 009-crash-reboot$'
check "the disks are zeroed between tests" \
	has 010-disks-are-zeroed '^ok .* 010-disks-are-zeroed$'
check "a guest that stops making progress is reported hung" \
	has 011-hang 'guest hung during 011-hang'
check "every test has a result" \
	test "$(grep -cE '^(not )?ok ' "$out")" -eq 11
check "the harness fails when a test failed" test "$harness_rc" -ne 0
# A report in the kernel log before the first test (a debug kernel's
# KASAN report at boot, say) fails the run though every test passes.
UNIONBLK_BOOT_KMSG='BUG: selftest report at boot' TESTS=001-pass \
	bash "$VM_DIR/run" --kernel "$kernel" --tests-dir "$tdir" --no-module \
	>"$tdir/boot.out" 2>&1
boot_rc=$?
check "a report at boot is a failed result, with the report" \
	grep -qE '^not ok .* boot 1: the kernel log has a report' "$tdir/boot.out"
check "the report is shown" grep -q 'BUG: selftest report at boot' "$tdir/boot.out"
check "the test of that boot still passes" \
	grep -qE '^ok .* 001-pass$' "$tdir/boot.out"
check "the harness fails the run" test "$boot_rc" -ne 0
check "a clean boot has no such result" \
	test "$(grep -c ' boot [0-9]*: the kernel log' "$out")" -eq 0

echo "# harness self-test took $((SECONDS - start))s on $kernel"

if [ $failed = 1 ]; then
	echo "# the harness printed:"
	sed 's/^/# | /' "$out" "$tdir/boot.out"
fi
exit $failed
