#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# On a kernel with kmemleak (make check-debug), nothing that the tests
# before this one allocated in device-mapper or the unionblk target is
# left unreferenced: two kmemleak scans report no object whose
# allocation backtrace passes through dm, dm-bufio, dm-kcopyd or
# dm-unionblk.  Runs last; skipped on kernels without kmemleak.
# timeout: 300
. /tests/lib/guest.sh
. /tests/lib/reliability.sh

K=/sys/kernel/debug/kmemleak
grep -q ' /sys/kernel/debug debugfs ' /proc/mounts ||
	mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null || true
[ -e $K ] || skip "kernel $(uname -r) has no kmemleak (CONFIG_DEBUG_KMEMLEAK is not set; make check-debug runs this test on a kernel with it)"
# A kmemleak kernel booted with kmemleak=off, or one whose kmemleak
# turned itself off (out of memory for its metadata), refuses commands
echo scan >$K 2>/dev/null || skip "kmemleak is present but disabled in $(uname -r) (kmemleak=off, or it turned itself off)"
# kmemleak reports objects older than 5 seconds; scan twice as its
# documentation advises, so that transient references do not count.
echo scan >$K
sleep 6
echo scan >$K
cat $K >"$PWD/leaks"
: >"$PWD/ours"
awk -v out="$PWD/ours" '
	/^unreferenced object/ { if (r != "") flush(); r = $0 "\n"; next }
	{ r = r $0 "\n" }
	END { if (r != "") flush() }
	function flush() {
		n++
		if (r ~ /(dm_|dm-|unionblk|ub_[a-z]|bufio|kcopyd)/) {
			printf "%s", r > out
			m++
		}
		r = ""
	}
	END { printf "# kmemleak: %d unreferenced objects, %d in device-mapper or unionblk\n", n, m }
' "$PWD/leaks"
ub_figure kmemleak_unreferenced "$(grep -c '^unreferenced object' "$PWD/leaks" || true)"
ub_figure kmemleak_unreferenced_dm "$(grep -c '^unreferenced object' "$PWD/ours" || true)"
if [ -s "$PWD/ours" ]; then
	head -n 80 "$PWD/ours"
	fail "kmemleak reports leaks in device-mapper or unionblk"
fi
echo PASS
