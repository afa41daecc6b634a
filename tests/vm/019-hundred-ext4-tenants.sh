#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# 100 tenants over one ext4 base, each mounted with ext4 at once: each sees
# the base's files plus only its own changes, and its filesystem is clean.
. /tests/lib/guest.sh
. /tests/lib/unionblk.sh

require_target unionblk
require_cmd mkfs.ext4 e2fsck
N=100
S=$(dev_sectors "$BASE_DEV")
per=$(($(dev_sectors "$BIG_DEV") / N))

# The base: an ext4 filesystem with a small CMS-like tree
run mkfs.ext4 -q -b 4096 "$BASE_DEV"
mkdir -p /mnt/base
mount "$BASE_DEV" /mnt/base
mkdir -p /mnt/base/www/app
for f in $(seq 1 50); do echo "base file $f" >/mnt/base/www/app/page$f.php; done
umount /mnt/base

table=""
for i in $(seq 1 $N); do
	table+="st$i,,,,0 $per linear $BIG_DEV $(((i - 1) * per));"
done
dmsetup create --concise "${table%;}"
start=$(date +%s)
for i in $(seq 1 $N); do
	dmsetup create "t$i" --table "0 $S unionblk /dev/mapper/st$i $BASE_DEV 1 format"
	mkdir -p "/mnt/t$i"
	mount -t ext4 "/dev/mapper/t$i" "/mnt/t$i"
	echo "tenant $i" >"/mnt/t$i/www/app/tenant.txt"
	echo "changed by $i" >"/mnt/t$i/www/app/page1.php"
	rm "/mnt/t$i/www/app/page2.php"
done
echo "# $N tenants created and mounted in $(($(date +%s) - start)) s"
dmsetup ls --target unionblk | wc -l | grep -qx "$N" || fail "expected $N tenants"

for i in $(seq 1 $N); do
	d=/mnt/t$i/www/app
	[ "$(cat $d/tenant.txt)" = "tenant $i" ] || fail "tenant $i lost its file"
	[ "$(cat $d/page1.php)" = "changed by $i" ] || fail "tenant $i sees another's change"
	[ ! -e $d/page2.php ] || fail "tenant $i: deleted file is back"
	[ "$(cat $d/page3.php)" = "base file 3" ] || fail "tenant $i lost a base file"
	umount "/mnt/t$i"
done
for i in 1 37 $N; do
	run e2fsck -fn "/dev/mapper/t$i" >/dev/null || fail "tenant $i filesystem not clean"
done
for i in $(seq 1 $N); do dmsetup remove "t$i" "st$i"; done
# The base is untouched
run e2fsck -fn "$BASE_DEV" >/dev/null
mount -o ro "$BASE_DEV" /mnt/base
[ "$(cat /mnt/base/www/app/page1.php)" = "base file 1" ] || fail "base changed"
[ ! -e /mnt/base/www/app/tenant.txt ] || fail "a tenant wrote the base"
umount /mnt/base
echo PASS
