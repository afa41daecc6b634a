#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# On a kernel with kmemleak (make check-debug), nothing that the tests
# before this one allocated in device-mapper or the unionblk target is
# left unreferenced: two kmemleak scans report no object whose
# allocation backtrace passes through dm, dm-bufio, dm-kcopyd or
# dm-unionblk.  Runs last; skipped on kernels without kmemleak.
# timeout: 300
. /tests/lib/guest.sh

K=/sys/kernel/debug/kmemleak
[ -e $K ] || skip "no kmemleak in this kernel"
# kmemleak reports objects older than 5 seconds; scan twice as its
# documentation advises, so that transient references do not count.
echo scan >$K
sleep 6
echo scan >$K
cat $K >"$PWD/leaks"
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
if [ -s "$PWD/ours" ]; then
	head -n 80 "$PWD/ours"
	fail "kmemleak reports leaks in device-mapper or unionblk"
fi
echo PASS
