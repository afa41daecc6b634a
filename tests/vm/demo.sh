#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The guest side of `make demo`: what a person watches.  Each step prints
# the command it runs ("$ cmd"), then its output.  Grow it as unionblk
# grows; the disks are those of the tests (docs/testing.md).

. /tests/lib/guest.sh

# step CMD...: print and run one command of the demo.
step() {
	echo
	echo "\$ $(cmdline "$@")"
	"$@"
}

echo "unionblk demo on Linux $(uname -r)"
echo "disks: base $BASE_DEV, COW stores $STORE_DEV and $STORE2_DEV"

step modinfo dm-unionblk
step grep -w dm_unionblk /proc/modules
step dmsetup targets
dmsetup targets | grep -q '^unionblk ' || fail "the unionblk target is not registered"

say() {
	echo
	echo "== $*"
}

# The shared base: an ext4 filesystem holding a small site
sectors=$(dev_sectors "$BASE_DEV")
say "A shared, read-only base: an ext4 filesystem with a small web site"
step mkfs.ext4 -q -L base "$BASE_DEV"
mkdir -p /mnt/base
mount "$BASE_DEV" /mnt/base
mkdir -p /mnt/base/www
for p in index about contact; do echo "<h1>$p, version 1</h1>" >"/mnt/base/www/$p.html"; done
umount /mnt/base

say "Two tenants over the one base, each with its own empty COW store"
step dmsetup create tenant1 --table "0 $sectors unionblk $STORE_DEV $BASE_DEV 1 format"
step dmsetup create tenant2 --table "0 $sectors unionblk $STORE2_DEV $BASE_DEV 1 format"
step dmsetup table tenant1
step dmsetup status tenant1 tenant2

say "Each tenant mounts the base's filesystem and changes it on its own"
mkdir -p /mnt/t1 /mnt/t2
step mount /dev/mapper/tenant1 /mnt/t1
step mount /dev/mapper/tenant2 /mnt/t2
step sh -c 'echo "<h1>tenant one was here</h1>" > /mnt/t1/www/index.html'
step rm /mnt/t2/www/about.html
step sh -c 'echo "new page" > /mnt/t2/www/news.html'
step sync
step ls /mnt/t1/www /mnt/t2/www
step cat /mnt/t1/www/index.html /mnt/t2/www/index.html

say "Only the changed chunks were copied up into each store"
step dmsetup status tenant1 tenant2

say "fstrim turns freed blocks into whiteouts: metadata only, space reclaimed"
step fstrim -v /mnt/t2
step dmsetup status tenant2
step umount /mnt/t1 /mnt/t2

say "The base was never written (read with debugfs: the tenants hold it open)"
step e2fsck -fn "$BASE_DEV"
step debugfs -R "cat /www/index.html" "$BASE_DEV"
step debugfs -R "ls /www" "$BASE_DEV"

say "Deactivate, check a store offline, reactivate: every byte is still there"
step dmsetup remove tenant1
if command -v unionblk >/dev/null; then
	step unionblk check "$STORE_DEV" --base "$BASE_DEV"
	step unionblk delta "$STORE_DEV"
fi
step dmsetup create tenant1 --table "0 $sectors unionblk $STORE_DEV $BASE_DEV"
mount /dev/mapper/tenant1 /mnt/t1
step cat /mnt/t1/www/index.html
umount /mnt/t1

say "Freeze tenant1 into a read-only layer; stack tenant3 on top of it"
step dmsetup reload tenant1 --table "0 $sectors unionblk $STORE_DEV $BASE_DEV 1 ro"
step dmsetup resume tenant1
step dmsetup create tenant3 --table "0 $sectors unionblk $BIG_DEV /dev/mapper/tenant1 1 format"
mkdir -p /mnt/t3
mount /dev/mapper/tenant3 /mnt/t3
step cat /mnt/t3/www/index.html
umount /mnt/t3
step dmsetup status
step dmsetup remove tenant3 tenant2 tenant1
echo
echo "unionblk: one shared base, a small COW store per tenant, changes kept apart."
