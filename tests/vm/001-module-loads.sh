#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# dm-unionblk.ko loads, device-mapper lists the "unionblk" target, and a
# unionblk device over the base disk with a freshly formatted COW store
# can be created, read and removed.

. /tests/lib/guest.sh

run dmsetup targets
dmsetup targets | grep -q '^unionblk ' || fail "dmsetup targets does not list unionblk"

sectors=$(dev_sectors "$BASE_DEV")
table="0 $sectors unionblk $STORE_DEV $BASE_DEV 1 format"
run dmsetup create ub001 --table "$table"
dev=$(dm_dev ub001)
run dmsetup table ub001
run dmsetup status ub001
[ "$(dev_sectors "$dev")" = "$sectors" ] || fail "$dev is not $sectors sectors long"
run dd if="$dev" of=/dev/null bs=1M count=4 status=none
run dmsetup remove ub001
[ ! -e "$dev" ] || fail "$dev is still there after remove"
