#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# format, check and repair through the CLI on image files.
. "$(dirname "$0")/../lib/tap.sh"
U=${UNIONBLK:?set UNIONBLK to the unionblk binary}
D=$(mktemp -d "${TMPDIR:-/tmp}/ub-cli.XXXXXX")
trap 'rm -rf "$D"' EXIT
cd "$D" || exit 1

head -c $((4 << 20)) /dev/urandom > base.img
truncate -s 8M store.img

t "format writes a store" "$U" format store.img --base base.img --tenant alice --base-name deb12
t "check of a fresh store is clean (0)" bash -c "'$U' check store.img --base base.img | grep -q 'store.img: clean'"
t "check --json reports clean" bash -c "'$U' check --json store.img | grep -q '\"clean\": true'"
t "format refuses an existing store (3)" expect_rc 3 "$U" format store.img --base base.img
t "format --force overwrites it" "$U" format store.img --base base.img --force --chunk-size 8k
t "format refuses a store that is too small (3)" bash -c "truncate -s 100k small.img; ! '$U' format small.img --base base.img 2>&1 | grep -q never; '$U' format small.img --base base.img; [ \$? -eq 3 ]"

# a different base: size and fingerprint
head -c $((4 << 20)) /dev/urandom > other.img
t "check with the wrong base fails (1)" expect_rc 1 "$U" check store.img --base other.img
t "the wrong base is named in one line" bash -c "'$U' check store.img --base other.img | grep -q 'fingerprint 0x.*a different or modified base'"
t "read refuses the wrong base (3)" expect_rc 3 "$U" read store.img --base other.img -o out.img

# corrupt the primary superblock
"$U" format store.img --base base.img --force >/dev/null
printf 'X' | dd of=store.img bs=1 seek=300 conv=notrunc status=none
t "a bad superblock is an error (1)" expect_rc 1 "$U" check store.img
t "check names the bad copy and the fallback" bash -c "'$U' check store.img | grep -q 'error: superblock (block 0): checksum mismatch; using the copy at block 1'"
t "repair --dry-run writes nothing" bash -c "s=\$(md5sum < store.img); '$U' repair --dry-run store.img >/dev/null; [ \"\$s\" = \"\$(md5sum < store.img)\" ]"
t "repair saves a backup first" bash -c "'$U' repair store.img --backup bk.img | grep -q 'saved the old metadata to bk.img' && [ -s bk.img ]"
t "after repair check is clean" "$U" check store.img --base base.img
t "the backup holds the old metadata" bash -c "cmp -n \$(stat -c %s bk.img) bk.img store.img >/dev/null; [ \$? -eq 1 ] && dd if=bk.img bs=4096 skip=1 count=1 status=none | cmp -s - <(dd if=store.img bs=4096 skip=1 count=1 status=none)"
t "repair of a clean store has nothing to do" bash -c "'$U' repair store.img --no-backup | grep -q 'nothing to repair'"
t "repair refuses an existing backup file (3)" bash -c "printf X | dd of=store.img bs=1 seek=300 conv=notrunc status=none; '$U' repair store.img --backup bk.img; [ \$? -eq 3 ]"
t "--backup and --no-backup conflict (2)" expect_rc 2 "$U" repair store.img --backup x --no-backup
t "repair --no-backup fixes it without a file" bash -c "'$U' repair store.img --no-backup >/dev/null && '$U' check store.img"
t "repair --json reports the result" bash -c "printf X | dd of=store.img bs=1 seek=300 conv=notrunc status=none; '$U' repair --json --no-backup store.img | grep -q '\"clean\": true'"

# both superblocks gone: check says so, repair cannot
dd if=/dev/zero of=store.img bs=4096 count=2 conv=notrunc status=none
t "no valid superblock is an error (1)" bash -c "'$U' check store.img | grep -q 'no valid superblock'; [ \${PIPESTATUS[0]} -eq 1 ]"
t "repair without a superblock fails (3)" expect_rc 3 "$U" repair store.img --no-backup
t_done
