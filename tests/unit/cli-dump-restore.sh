#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# dump -> restore -> dump is the identity; read and delta follow a dump.
. "$(dirname "$0")/../lib/tap.sh"
U=${UNIONBLK:?set UNIONBLK to the unionblk binary}
D=$(mktemp -d "${TMPDIR:-/tmp}/ub-cli.XXXXXX")
trap 'rm -rf "$D"' EXIT
cd "$D" || exit 1

head -c $((4 << 20)) /dev/urandom > base.img
truncate -s 8M store.img
"$U" format store.img --base base.img --tenant t1 >/dev/null

# give the store mappings by editing a dump: chunks 0-1 -> data 0-1,
# chunk 5 -> data 7, chunk 9 whiteout, at seq 3
"$U" dump store.img > d0.json
sed -e 's/"seq": 0, "flags": 0, "mapped_chunks": 0, "whiteout_chunks": 0, "alloc_cursor": 0/"seq": 3, "flags": 0, "mapped_chunks": 3, "whiteout_chunks": 1, "alloc_cursor": 8/' \
    -e 's/"mappings": \[\]/"mappings": [ [0, 0, 2], [5, 7, 1] ]/' \
    -e 's/"whiteouts": \[\]/"whiteouts": [ [9, 1] ]/' d0.json > d1.json
t "restore of an edited dump" "$U" restore d1.json store.img
t "the restored store checks clean" "$U" check store.img --base base.img
t "dump -> restore -> dump is identical (json)" bash -c "'$U' dump store.img > a.json && '$U' restore a.json store.img >/dev/null && '$U' dump store.img > b.json && cmp a.json b.json"
t "dump -> restore -> dump is identical (xml)" bash -c "'$U' dump --format xml store.img > a.xml && '$U' restore a.xml store.img >/dev/null && '$U' dump -f xml store.img | cmp - a.xml"
t "restore onto a blank image reproduces the dump" bash -c "truncate -s 8M blank.img && '$U' restore a.json blank.img >/dev/null && '$U' dump blank.img | cmp - a.json"
t "restore reads standard input" bash -c "'$U' restore - blank.img < a.xml >/dev/null && '$U' dump blank.img | cmp - a.json"
t "restore refuses another store without --force (3)" bash -c "truncate -s 8M other.img && '$U' format other.img --base base.img >/dev/null; '$U' restore a.json other.img; [ \$? -eq 3 ]"
t "restore --force replaces another store" bash -c "'$U' restore --force a.json other.img >/dev/null && '$U' dump other.img | cmp - a.json"
t "restore refuses a corrupt dump (3)" bash -c "sed 's/\"mapped_chunks\": 3/\"mapped_chunks\": 4/' a.json > bad.json; '$U' restore bad.json store.img 2>err; [ \$? -eq 3 ] && grep -q 'state says 4 mapped' err"
t "restore refuses a store too small (3)" bash -c "truncate -s 64k tiny.img; '$U' restore --force a.json tiny.img; [ \$? -eq 3 ]"

# read: chunks 0,1 from data chunks 0,1; 5 from data 7; 9 zero; rest base
for dc in 0 1 7; do
	head -c 4096 /dev/urandom > "chunk$dc"
done
# where data chunk 0 lives, as check --json reports it
ds=$("$U" check --json store.img | sed -n 's/.*"data_start_sector": \([0-9]*\).*/\1/p')
data_start_blk=$((ds / 8))
for dc in 0 1 7; do
	dd if="chunk$dc" of=store.img bs=4096 seek=$((data_start_blk + dc)) conv=notrunc status=none
done
{
	cat chunk0 chunk1
	dd if=base.img bs=4096 skip=2 count=3 status=none
	cat chunk7
	dd if=base.img bs=4096 skip=6 count=3 status=none
	head -c 4096 /dev/zero
	dd if=base.img bs=4096 skip=10 status=none
} > expect.img
t "read assembles the virtual device" bash -c "'$U' read store.img --base base.img > got.img && cmp got.img expect.img"
t "read --offset/--length reads a window" bash -c "'$U' read store.img --base base.img --offset 4000 --length 30000 | cmp - <(dd if=expect.img bs=1 skip=4000 count=30000 status=none)"
t "read past the end fails (3)" expect_rc 3 "$U" read store.img --base base.img --offset 5M -o x.img
t "delta lists mapped and whiteout ranges" bash -c "'$U' delta store.img | awk 'NR>1{print \$1,\$2,\$3}' | tr '\n' ';' | grep -qx 'mapped 0 2;mapped 5 1;whiteout 9 1;'"
t "delta --json gives the same ranges" bash -c "'$U' delta --json store.img | tr -d ' \n' | grep -q '\"ranges\":\[{\"type\":\"mapped\",\"chunk\":0,\"chunks\":2,\"offset\":0,\"length\":8192}'"
t_done
