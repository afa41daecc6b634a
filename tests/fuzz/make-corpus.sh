#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Regenerate the fuzz seed corpus: small stores (1 MiB, 8-block journal,
# 64 chunks of 4 KiB over the harness's 256 KiB base) made with the real
# CLI, valid ones and corrupt ones, plus dumps.  Run via `make -C tools
# corpus`; the result is committed.
#   make-corpus.sh UNIONBLK_BINARY OUTDIR
set -eu
U=${1:?unionblk binary}
OUT=${2:?output directory}
here=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d "${TMPDIR:-/tmp}/ub-corpus.XXXXXX")
trap 'rm -rf "$W"' EXIT
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

cc -O2 -o "$W/img2seed" "$here/img2seed.c"
S="$W/img2seed"
cd "$W"
"$S" --base > base.img

fresh() {
	rm -f store.img
	truncate -s 1M store.img
	"$U" format store.img --base base.img --journal-blocks 8 \
		--tenant fuzz --base-name seed --force >/dev/null
}
seed() {	# seed NAME CTRL
	"$S" "$2" < store.img > "$OUT/$1"
}
poke() {	# poke OFFSET HEXBYTES
	printf "$(echo "$2" | sed 's/\(..\)/\\x\1/g')" |
		dd of=store.img bs=1 seek="$1" conv=notrunc status=none
}

fresh
seed fresh 0
"$U" dump store.img > fresh.json

# mappings, whiteouts, seq 3
sed -e 's/"seq": 0, "flags": 0, "mapped_chunks": 0, "whiteout_chunks": 0, "alloc_cursor": 0/"seq": 3, "flags": 0, "mapped_chunks": 6, "whiteout_chunks": 2, "alloc_cursor": 9/' \
    -e 's/"mappings": \[\]/"mappings": [ [0, 0, 4], [10, 8, 1], [63, 5, 1] ]/' \
    -e 's/"whiteouts": \[\]/"whiteouts": [ [20, 2] ]/' fresh.json > mapped.json
"$U" restore mapped.json store.img >/dev/null
seed mapped 0
cp store.img mapped.img
"$U" dump --format xml store.img > mapped.xml
"$U" dump store.img > mapped-canonical.json
"$S" --text 0 < mapped-canonical.json > "$OUT/dump-json"
"$S" --text 0 < mapped.json > "$OUT/dump-json-edited"
"$S" --text 0 < mapped.xml > "$OUT/dump-xml"
seed mapped-repair 16

# a journal slot holding images: repair of a flipped bitmap bit commits
# through the journal (block 19 is the bitmap, bit for data chunk 40)
poke $((19 * 4096 + 32 + 5)) 01
seed bitmap-leak 1
"$U" repair --no-backup store.img >/dev/null
seed journaled 0
cp store.img journaled.img

# torn journal slot (slot 0 header is block 2; seq 4 is in slot 0)
poke $((2 * 4096 + 200)) ff
seed torn-slot 0
seed torn-slot-fixed 1

# primary superblock damaged: the copy is used
cp mapped.img store.img
poke 100 ff
seed bad-sb 0

# double mapping, out-of-range entry (map block is block 18), fixed csums
cp mapped.img store.img
poke $((18 * 4096 + 32 + 4 * 30)) 02000000
seed double-map 17
cp mapped.img store.img
poke $((18 * 4096 + 32 + 4 * 31)) ffff0000
seed out-of-range 17

# counters that disagree: fix the journal header's csum in the harness
cp journaled.img store.img
poke $((2 * 4096 + 40)) 63
seed counters 17

# shortened stores
cp mapped.img store.img
seed short-store 6
seed short-store-repair 22

echo "corpus: $(ls "$OUT" | wc -l) seeds in $OUT"
