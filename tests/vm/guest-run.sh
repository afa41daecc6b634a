#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The runner inside the VM guest, started by /init (tests/vm/guest-init).
# It loads the modules, then runs the tests that /etc/unionblk/run.conf
# names, and reports on the harness channel (the second serial port, read
# by tests/vm/run on the host):
#
#   UNIONBLK-BOOT <uname -r>       the runner started
#   UNIONBLK-READY                 modules loaded, disks present
#   UNIONBLK-BEGIN <n> <test> <s>  test <n> starts, guest timeout <s>
#   UNIONBLK-OUT <line>            a line the test printed
#   UNIONBLK-END <n> <status>      the test ended; cleanup and checks follow
#   ok <n> - <kernel> <test> ...   the result, in TAP, with "# " lines
#   not ok <n> - ...               after it (dmesg, leftovers, status)
#   UNIONBLK-REBOOT <test>         sent by vm_crash_reboot (tests/lib)
#   UNIONBLK-DONE                  all tests ran
#
# run.conf sets UNIONBLK_MODE (test or demo), UNIONBLK_KERNEL (the series),
# UNIONBLK_TESTS (test names, in order), UNIONBLK_FIRST (TAP number of the
# first), UNIONBLK_PHASE (phase of the first, >1 after vm_crash_reboot),
# UNIONBLK_TEST_TIMEOUT (seconds), UNIONBLK_TIMEOUT_SCALE (every timeout
# times this), UNIONBLK_MODULE (load dm-unionblk) and UNIONBLK_BOOT_KMSG (a
# line for the kernel log before the first test: the harness self-test of
# the boot log check).

set -u
# shellcheck source=/dev/null
. /etc/unionblk/run.conf

export UNIONBLK_CONSOLE=/dev/ttyS1
export UNIONBLK_KERNEL
# Tests that run for a set time stretch it on a slow (debug) kernel
export UNIONBLK_TIMEOUT_SCALE=${UNIONBLK_TIMEOUT_SCALE:-1}
TEST_DIR=/tests/run
DISKS="vda vdb vdc vdd"

# What in dmesg fails a test.
DMESG_BAD='BUG:|WARNING:|Oops|general protection fault|hung task|blocked for more than|Kernel panic|UBSAN:|KASAN:|list_(add|del) corruption|refcount_t:'

stty -F "$UNIONBLK_CONSOLE" raw -echo 2>/dev/null
exec 3>"$UNIONBLK_CONSOLE"

say() {
	printf '%s\n' "$*" >&3
}

# comment PREFIX: copy stdin to the channel as TAP diagnostics.
comment() {
	sed "s/^/# $1/" >&3
}

load_modules() {
	local m err

	# hung_task_timeout_secs: the kernel's 120 s, scaled like the
	# timeouts on a slow (debug) kernel, where 30 fio jobs can wait
	# minutes for their turn; 30 s left a loaded host little margin
	echo $((120 * UNIONBLK_TIMEOUT_SCALE)) \
		>/proc/sys/kernel/hung_task_timeout_secs 2>/dev/null
	while read -r m; do
		modprobe -q "$m" || say "# modprobe $m failed"
	done </etc/unionblk-modules
	depmod -a
	if [ "$UNIONBLK_MODULE" = 1 ]; then
		if ! err=$(modprobe dm-unionblk 2>&1); then
			say "# loading dm-unionblk failed:"
			printf '%s\n' "$err" | comment ""
			dmesg | tail -n 20 | comment "dmesg: "
		fi
	fi
	for m in $DISKS; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			[ -b "/dev/$m" ] && break
			sleep 1
		done
		[ -b "/dev/$m" ] || say "# /dev/$m did not appear"
	done
}

# wipe_disks: zero the disks (they are sparse files on the host, and
# qemu turns a discard into a hole, which reads as zeroes).
wipe_disks() {
	local d
	for d in $DISKS; do
		blkdiscard -f "/dev/$d" 2>/dev/null ||
			say "# blkdiscard /dev/$d failed"
	done
}

# cleanup RUN: remove what test RUN left: processes, mounts, dm devices,
# loop devices.  Prints a line for each kind of leftover.
cleanup() {
	local run=$1 p pids="" mnts env

	# Builtins only: a fork per process costs seconds under TCG.
	for p in /proc/[0-9]*; do
		mapfile -d '' -t env 2>/dev/null <"$p/environ" || continue
		case " ${env[*]} " in
		*" UNIONBLK_TEST_RUN=$run "*) pids="$pids ${p#/proc/}" ;;
		esac
	done
	if [ -n "$pids" ]; then
		echo "left processes running:$pids (killed)"
		# shellcheck disable=SC2086 # a list of pids
		kill -9 $pids 2>/dev/null
		sleep 1
	fi
	mnts=$(awk '$2 ~ "^/(mnt|tmp/)" { print $2 }' /proc/mounts | sort -r)
	if [ -n "$mnts" ]; then
		echo "left mounts:" "${mnts//$'\n'/ }" "(unmounted)"
		for p in $mnts; do
			umount -l "$p"
		done
	fi
	if dmsetup ls 2>/dev/null | grep -qv '^No devices found'; then
		echo "left dm devices:" "$(dmsetup ls | awk '{ printf "%s ", $1 }')(removed)"
		dmsetup remove_all --force >/dev/null 2>&1
	fi
	if [ -n "$(losetup -a)" ]; then
		echo "left loop devices (detached)"
		losetup -D
	fi
}

# run_test N NAME PHASE: run one test and report it in TAP.
run_test() {
	local n=$1 t=$2 phase=$3 file=$TEST_DIR/$2.sh
	local to out dir rc bad left why marker pw apid

	to=$(sed -n 's/^# timeout: *\([0-9][0-9]*\).*/\1/p' "$file" | head -n 1)
	to=$((${to:-$UNIONBLK_TEST_TIMEOUT} * UNIONBLK_TIMEOUT_SCALE))
	out=/tmp/harness/out.$n
	dir=/tmp/harness/work.$n
	mkdir -p /tmp/harness "$dir"
	[ "$phase" = 1 ] && wipe_disks
	marker="unionblk-harness: begin test $n ($t)"
	echo "$marker" >/dev/kmsg
	say "UNIONBLK-BEGIN $n $t $to"

	# The test's output goes through awk to the channel as it comes, and
	# to $out; leftover processes of the test holding the pipe are killed
	# by cleanup, so awk always ends.
	: >"$out"
	exec {pw}> >(awk -v f="$out" \
		'{ print "UNIONBLK-OUT " $0; print $0 > f; fflush() }' >&3)
	apid=$!
	(cd "$dir" && UNIONBLK_TEST_RUN=$n UNIONBLK_TEST=$t \
		UNIONBLK_PHASE=$phase exec timeout -k 10 "$to" \
		bash "$file") >&"$pw" 2>&1 </dev/null
	rc=$?
	exec {pw}>&-
	say "UNIONBLK-END $n $rc"
	left=$(cleanup "$n")
	wait "$apid"
	bad=$(dmesg | awk -v m="$marker" 'f; index($0, m) { f = 1 }' |
		grep -E "$DMESG_BAD")
	case $rc in
	0) why= ;;
	77) why= ;;
	124 | 137) why="timed out after ${to}s" ;;
	*) why="exit status $rc" ;;
	esac
	if [ -z "$why" ] && [ -z "$bad" ]; then
		if [ $rc = 77 ]; then
			say "ok $n - $UNIONBLK_KERNEL $t # SKIP $(sed -n 's/^SKIP: //p' "$out" | tail -n 1)"
		else
			say "ok $n - $UNIONBLK_KERNEL $t"
		fi
	else
		say "not ok $n - $UNIONBLK_KERNEL $t"
		[ -n "$why" ] && say "# $why"
		if [ -n "$bad" ]; then
			say "# the kernel log has:"
			printf '%s\n' "$bad" | head -n 20 | comment "  "
			say "# kernel log since the test began (last 60 lines):"
			dmesg | awk -v m="$marker" 'f; index($0, m) { f = 1 }' |
				tail -n 60 | comment "dmesg: "
		fi
	fi
	[ -n "$left" ] && printf '%s\n' "$left" | comment "harness: test "
	rm -rf "$out" "$dir"
}

say "UNIONBLK-BOOT $(uname -r)"
load_modules
[ -n "${UNIONBLK_BOOT_KMSG:-}" ] && echo "$UNIONBLK_BOOT_KMSG" >/dev/kmsg
say "UNIONBLK-READY"

if [ "$UNIONBLK_MODE" = demo ]; then
	wipe_disks
	(cd /tmp && bash /tests/vm/demo.sh) >&3 2>&1 </dev/null
	say "UNIONBLK-DEMO-END $?"
else
	n=$UNIONBLK_FIRST
	phase=$UNIONBLK_PHASE
	for t in $UNIONBLK_TESTS; do
		run_test "$n" "$t" "$phase"
		phase=1
		n=$((n + 1))
	done
fi
say "UNIONBLK-DONE"
