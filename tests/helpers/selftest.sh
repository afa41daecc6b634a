#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host self-tests for ubverify, replay-log and mklog, on image files.
# Prints TAP; ends with "N passed, M failed"; exits 1 if any failed.
#
# Run from tests/helpers after "make" (or via "make check").

set -u
cd "$(dirname "$0")" || exit 2
UBV=./ubverify
RL=./replay-log
MK=./mklog
for p in $UBV $RL $MK; do
	[ -x $p ] || { echo "Bail out! $p not built (run make)"; exit 2; }
done

T=$(mktemp -d "${TMPDIR:-/var/tmp}/ub-helpers.XXXXXX") || exit 2
trap 'rm -rf "$T"' EXIT

n=0
failed=0

pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() {
	n=$((n + 1)); failed=$((failed + 1))
	echo "not ok $n - $1"
	[ -s "$T/out" ] && sed -n '1,20s/^/#   /p' "$T/out"
}

# check DESC CMD...: CMD must exit 0.
check() {
	local desc=$1; shift
	if "$@" >"$T/out" 2>&1; then pass "$desc"; else fail "$desc"; fi
}

# check_fails DESC STATUS PATTERN CMD...: CMD must exit with STATUS and
# print a line matching PATTERN (grep -E).
check_fails() {
	local desc=$1 want=$2 pat=$3 rc; shift 3
	"$@" >"$T/out" 2>&1
	rc=$?
	if [ $rc -eq "$want" ] && grep -qE -- "$pat" "$T/out"; then
		pass "$desc"
	else
		echo "exit status $rc, wanted $want and /$pat/" >>"$T/out"
		fail "$desc"
	fi
}

# Sector and generation of the first durable stamp with gen > $2.
first_stamp_block() {
	$UBV dump-state "$1" --blocks |
		awk -v min="$2" '$3 == "stamp" && $5 > min {
			split($2, a, "-"); print a[1], $5; exit }'
}

# First block whose durable state is zeroes, and its generation.
first_zero_block() {
	$UBV dump-state "$1" --blocks |
		awk '$1 == "block" && $3 == "zeroes" && /discarded\/zeroed/ {
			split($2, a, "-"); g = $NF; gsub(/[^0-9]/, "", g);
			print a[1], g; exit }'
}

copy_sector() {	# copy_sector FROM TO SECTOR
	dd if="$1" of="$2" bs=512 skip="$3" seek="$3" count=1 conv=notrunc \
		status=none
}

# ---------------------------------------------------------------- ubverify

for c in run verify fill check-fill stamp dump-state; do
	check_fails "ubverify $c --help prints its usage" 0 "^usage: ubverify" \
		$UBV $c --help
done
check_fails "ubverify without a command fails with usage" 2 "^usage:" $UBV
check_fails "run without --seed names the missing option" 2 \
	"--seed and --ops are required" $UBV run "$T/x.img" --ops 1
check_fails "run on a missing file without --size names the file" 2 \
	"$T/nofile.img: cannot open" $UBV run "$T/nofile.img" --seed 1 --ops 1

check "fill stamps every sector" $UBV fill "$T/fill.img" --seed 11 --size 4M
check "check-fill accepts its own fill" $UBV check-fill "$T/fill.img" --seed 11
cp "$T/fill.img" "$T/fill2.img"
copy_sector "$T/fill.img" "$T/fill2.img" 10
dd if="$T/fill.img" of="$T/fill2.img" bs=512 skip=10 seek=20 count=1 \
	conv=notrunc status=none
check_fails "check-fill catches another sector's data" 1 \
	"sector 20 .*found stamp of sector 10 .*another sector's data" \
	$UBV check-fill "$T/fill2.img" --seed 11
cp "$T/fill.img" "$T/fill3.img"
printf 'X' | dd of="$T/fill3.img" bs=1 seek=$((30 * 512 + 100)) conv=notrunc \
	status=none
check_fails "check-fill catches a torn sector by its checksum" 1 \
	"sector 30 .*damaged stamp" $UBV check-fill "$T/fill3.img" --seed 11
check_fails "check-fill catches data of another seed" 1 \
	"different seed" $UBV check-fill "$T/fill.img" --seed 12 --max-errors 1

# A clean single-threaded run with every request kind, then verify.
check "run: reads, writes, FUA, discards, zero-outs, flushes" \
	$UBV run "$T/a.img" --size 8M --seed 1 --ops 3000 --expect-zero \
	--discard-pct 8 --zero-pct 8 --fua-pct 10 --flush-every 100 \
	--state "$T/a.state"
check_fails "verify after a clean end: exact match" 0 "clean end.*; ok" \
	$UBV verify "$T/a.img" --state "$T/a.state"

read -r blk gen < <(first_stamp_block "$T/a.state" 10)
cp "$T/a.img" "$T/a1.img"
$UBV stamp "$T/a1.img" --sector "$blk" --seed 1 --gen "$gen" \
	--as-sector $((blk + 1))
check_fails "verify catches another sector's data" 1 \
	"sector $blk .*another sector's data" \
	$UBV verify "$T/a1.img" --state "$T/a.state"

cp "$T/a.img" "$T/a2.img"
$UBV stamp "$T/a2.img" --sector "$blk" --seed 1 --gen $((gen - 1))
check_fails "verify catches a stale generation" 1 \
	"sector $blk .*expected stamp gen $gen; .*stale generation" \
	$UBV verify "$T/a2.img" --state "$T/a.state"

read -r zblk zgen < <(first_zero_block "$T/a.state")
cp "$T/a.img" "$T/a3.img"
$UBV stamp "$T/a3.img" --sector "$zblk" --seed 1 --gen $((zgen - 1))
check_fails "verify catches non-zero data after a discard" 1 \
	"sector $zblk .*non-zero after discard" \
	$UBV verify "$T/a3.img" --state "$T/a.state"

cp "$T/a.img" "$T/a4.img"
printf 'junk' | dd of="$T/a4.img" bs=1 seek=$((zblk * 512)) conv=notrunc \
	status=none
check_fails "verify catches garbage after a discard" 1 \
	"non-zero after discard" $UBV verify "$T/a4.img" --state "$T/a.state"

# Against a base: unwritten blocks must be base content.
check "fill a base image" $UBV fill "$T/base.img" --seed 100 --size 8M
cp "$T/base.img" "$T/b.img"
check "run with --expect-base, 4 threads on overlapping ranges" \
	$UBV run "$T/b.img" --seed 2 --ops 4000 --threads 4 --max-io 128k \
	--discard-pct 5 --zero-pct 5 --fua-pct 10 --flush-every 200 \
	--expect-base "$T/base.img" --state "$T/b.state"
check "verify with --expect-base after a clean end" \
	$UBV verify "$T/b.img" --state "$T/b.state" --expect-base "$T/base.img"
check_fails "verify refuses a base run without --expect-base" 2 \
	"give --expect-base" $UBV verify "$T/b.img" --state "$T/b.state"
read -r blk gen < <(first_stamp_block "$T/b.state" 2)
cp "$T/b.img" "$T/b1.img"
copy_sector "$T/base.img" "$T/b1.img" "$blk"
check_fails "verify catches stale base content where a write was durable" 1 \
	"sector $blk .*stale base content" \
	$UBV verify "$T/b1.img" --state "$T/b.state" --expect-base "$T/base.img"

$UBV fill "$T/base2.img" --seed 101 --size 8M >/dev/null
cp "$T/base.img" "$T/b2.img"
check_fails "run's reads catch a device that is not the base it claims" 1 \
	"expected base content.*MISMATCH|expected base content" \
	$UBV run "$T/b2.img" --seed 3 --ops 200 --expect-base "$T/base2.img" \
	--no-final-verify

cp "$T/base.img" "$T/c.img"
check "run --disjoint with 4 threads" \
	$UBV run "$T/c.img" --seed 4 --ops 2000 --threads 4 --disjoint \
	--discard-pct 5 --flush-every 100 --expect-base "$T/base.img"
cp "$T/base.img" "$T/d.img"
check "run --hammer: 8 threads on slices of one 4k chunk, with flushes" \
	$UBV run "$T/d.img" --seed 5 --ops 4000 --threads 8 --hammer 4k \
	--fua-pct 5 --discard-pct 5 --flush-every 20 \
	--expect-base "$T/base.img" --state "$T/d.state"
check "verify after a --hammer run" \
	$UBV verify "$T/d.img" --state "$T/d.state" --expect-base "$T/base.img"
check "run and verify with --align 4096" \
	bash -c "$UBV run '$T/e.img' --size 8M --align 4096 --seed 6 --ops 1000 \
	--zero-pct 10 --state '$T/e.state' --expect-zero >/dev/null &&
	$UBV verify '$T/e.img' --state '$T/e.state'"
check_fails "run --time bounds a run that asks for too many ops" 0 "ok$" \
	timeout 60 $UBV run "$T/f.img" --size 1M --seed 7 --ops 1000000000 \
	--time 1 --no-final-verify

# Crash emulation: stop without a final flush; checkpoint images show
# what a device that lost every unflushed write would hold.
mkdir -p "$T/snap"
check "run --crash-after with checkpoint snapshots" \
	$UBV run "$T/g.img" --size 4M --seed 8 --ops 1000 --expect-zero \
	--discard-pct 10 --zero-pct 5 --flush-every 100 --crash-after 950 \
	--state "$T/g.state" --snapshot-dir "$T/snap"
last=$(ls "$T/snap" | sed 's/ckpt-\(.*\)\.img/\1/' | sort -n | tail -1)
check_fails "verify after a crash: unflushed writes may survive" 0 \
	"[1-9][0-9]* newer writes, [1-9][0-9]* newer discards.*; ok" \
	$UBV verify "$T/g.img" --state "$T/g.state"
check "verify after a crash: unflushed writes may be lost" \
	$UBV verify "$T/snap/ckpt-$last.img" --state "$T/g.state"
cp "$T/g.img" "$T/g1.img"
for s in $(seq 3 37 8191); do copy_sector "$T/snap/ckpt-$last.img" "$T/g1.img" $s; done
check "verify after a crash: any per-sector mix of the two is accepted" \
	$UBV verify "$T/g1.img" --state "$T/g.state"
check_fails "verify after a crash: the previous checkpoint is stale" 1 \
	"MISMATCH" $UBV verify "$T/snap/ckpt-$((last - 1)).img" --state "$T/g.state"
s=$(cmp -l "$T/snap/ckpt-$((last - 1)).img" "$T/snap/ckpt-$last.img" |
	awk '{ print int(($1 - 1) / 512); exit }')
cp "$T/g.img" "$T/g2.img"
copy_sector "$T/snap/ckpt-$((last - 1)).img" "$T/g2.img" "$s"
check_fails "verify after a crash: one sector from before the last flush is caught" 1 \
	"sector $s .*(stale|lost|non-zero after discard)" \
	$UBV verify "$T/g2.img" --state "$T/g.state"

rm -rf "$T/snap"; mkdir -p "$T/snap"
check "run --crash-after with FUA writes" \
	$UBV run "$T/h.img" --size 4M --seed 9 --ops 500 --expect-zero \
	--fua-pct 50 --read-pct 0 --flush-every 100 --crash-after 480 \
	--state "$T/h.state" --snapshot-dir "$T/snap"
check_fails "verify after a crash: a lost FUA write is caught" 1 \
	"\\(durable\\) or a later write.*(stale|lost)" \
	$UBV verify "$T/snap/ckpt-4.img" --state "$T/h.state"
check "verify after a crash: FUA writes that survived are accepted" \
	$UBV verify "$T/h.img" --state "$T/h.state"

rm -rf "$T/snap"; mkdir -p "$T/snap" "$T/states"
check "run --checkpoint-cmd keeps a copy of the state at every checkpoint" \
	$UBV run "$T/k.img" --size 2M --seed 10 --ops 600 --expect-zero \
	--discard-pct 10 --flush-every 100 --snapshot-dir "$T/snap" \
	--state "$T/k.state" \
	--checkpoint-cmd "cp \"\$UBV_STATE\" '$T/states/'\$UBV_CHECKPOINT"
ok_all=1
for k in 1 2 3 4 5 6 7; do
	$UBV verify "$T/snap/ckpt-$k.img" --state "$T/states/$k" \
		>"$T/out" 2>&1 || ok_all=0
done
if [ $ok_all = 1 ] && [ -f "$T/states/7" ] && [ ! -f "$T/states/8" ]; then
	pass "each checkpoint's image verifies against that checkpoint's state"
else
	fail "each checkpoint's image verifies against that checkpoint's state"
fi
check_fails "a failing --checkpoint-cmd stops the run" 2 \
	"checkpoint-cmd failed with status 4 at checkpoint 1" \
	$UBV run "$T/k.img" --seed 10 --ops 600 --flush-every 100 \
	--checkpoint-cmd "exit 4"

# Going on after a run: from a clean end, or from a crash via --adopt.
cp "$T/g.img" "$T/g-used.img"
check_fails "a fresh model on a used device fails (other run's data)" 1 \
	"different seed" $UBV run "$T/g-used.img" --seed 80 --ops 300 \
	--expect-zero --max-errors 1
check_fails "--initial-state refuses a state that did not end cleanly" 2 \
	"not from a clean end" $UBV run "$T/g.img" --initial-state "$T/g.state" \
	--ops 10
cp "$T/g.img" "$T/g-cont.img"
cp "$T/g.state" "$T/g-adopt.state"
check_fails "verify --adopt after a crash rewrites the state as a clean end" 0 \
	"now describes" $UBV verify "$T/g-cont.img" --state "$T/g-adopt.state" --adopt
check "run --initial-state goes on from the adopted state" \
	$UBV run "$T/g-cont.img" --initial-state "$T/g-adopt.state" --ops 1000 \
	--discard-pct 10 --flush-every 100 --threads 2 --state "$T/g-next.state"
check_fails "verify after the continued run" 0 "clean end.*; ok" \
	$UBV verify "$T/g-cont.img" --state "$T/g-next.state"
check_fails "--initial-state refuses a conflicting --seed" 2 \
	"--seed 5 differs from the state's 8" $UBV run "$T/g-cont.img" \
	--initial-state "$T/g-next.state" --seed 5 --ops 10

cp "$T/g.state" "$T/g-torn.state"
printf 'torn' >>"$T/g-torn.state"
check "verify ignores a torn journal record at the end of the state" \
	$UBV verify "$T/g.img" --state "$T/g-torn.state"
cp "$T/g.state" "$T/g-bad.state"
printf 'X' | dd of="$T/g-bad.state" bs=1 seek=20 conv=notrunc status=none
check_fails "verify rejects a corrupt state file and names it" 2 \
	"$T/g-bad.state: state file header checksum mismatch" \
	$UBV verify "$T/g.img" --state "$T/g-bad.state"
truncate -s 1M "$T/small.img"
check_fails "verify rejects a device smaller than the state" 2 \
	"device has 1048576 bytes" $UBV verify "$T/small.img" --state "$T/g.state"

# ---------------------------------------------------------------- replay-log

cat >"$T/script" <<'EOF'
write 0 8
write 16 4 meta
flush
write 8 8 fua
discard 0 4
mark one
write 100 2
flush
write 200 16 flush fua
mark two
write 300 1
write 40 3
EOF
check "mklog writes a log and the expected images" \
	$MK "$T/log" --dev-size 256k --expect "$T/exp" <"$T/script"
check_fails "replay-log --help prints its usage" 0 "^usage: replay-log" $RL --help
check_fails "replay-log --list shows every entry with its flush point" 0 \
	"^8: sector 200 nr 16 FLUSH\|FUA flush-point 4$" $RL --log "$T/log" --list
check_fails "replay-log --count-flushes" 0 "^4$" $RL --log "$T/log" --count-flushes
check_fails "replay-log --find-marks" 0 "^9 two$" $RL --log "$T/log" --find-marks

truncate -s 256k "$T/dev"
ok_all=1
for k in 1 2 3 4; do
	$RL --log "$T/log" --replay "$T/dev" --from-flush $((k - 1)) \
		--to-flush $k >"$T/out" 2>&1 || ok_all=0
	cmp -s "$T/dev" "$T/exp.flush-$k" || ok_all=0
done
$RL --log "$T/log" --replay "$T/dev" --from-flush 4 >"$T/out" 2>&1 || ok_all=0
cmp -s "$T/dev" "$T/exp.final" || ok_all=0
if [ $ok_all = 1 ]; then
	pass "incremental replay matches the image at every flush point"
else
	fail "incremental replay matches the image at every flush point"
fi

rm -f "$T/dev"; truncate -s 256k "$T/dev"
check "replay of the whole log matches the final image" \
	bash -c "$RL --log '$T/log' --replay '$T/dev' && cmp '$T/dev' '$T/exp.final'"
rm -f "$T/dev"; truncate -s 256k "$T/dev"
check "--end-mark stops after the mark" \
	bash -c "$RL --log '$T/log' --replay '$T/dev' --end-mark one &&
	cmp '$T/dev' '$T/exp.mark-one'"
check "--start-mark continues from a mark" \
	bash -c "$RL --log '$T/log' --replay '$T/dev' --start-mark one \
	--end-mark two && cmp '$T/dev' '$T/exp.mark-two'"
rm -f "$T/dev"; truncate -s 256k "$T/dev"
check "--limit and --start-entry split a replay" \
	bash -c "$RL --log '$T/log' --replay '$T/dev' --limit 2 &&
	cmp '$T/dev' '$T/exp.flush-1' &&
	$RL --log '$T/log' --replay '$T/dev' --start-entry 2 &&
	cmp '$T/dev' '$T/exp.final'"
rm -f "$T/dev"; truncate -s 256k "$T/dev"
check_fails "--exec runs a check at every flush point" 0 "^checked 4$" \
	$RL --log "$T/log" --replay "$T/dev" \
	--exec "cmp '$T/dev' '$T/exp.flush-'\$REPLAY_FLUSH && echo checked \$REPLAY_FLUSH"
rm -f "$T/dev"; truncate -s 256k "$T/dev"
check_fails "--exec failure stops the replay with status 1" 1 \
	"status 3 at flush point 2 \(entry 3\)" \
	$RL --log "$T/log" --replay "$T/dev" \
	--exec "[ \$REPLAY_FLUSH -lt 2 ] || exit 3"
rm -f "$T/dev"; truncate -s 256k "$T/dev"
$RL --log "$T/log" --replay "$T/dev" --discard skip --to-flush 3 >/dev/null 2>&1
check_fails "--discard skip leaves discarded data in place" 1 "differ" \
	cmp "$T/dev" "$T/exp.flush-3"
check_fails "--to-flush past the last flush point fails" 2 \
	"end point not found \(too few flush points\)" \
	$RL --log "$T/log" --replay "$T/dev" --to-flush 9
check_fails "--end-mark of a missing mark fails" 2 "end point not found" \
	$RL --log "$T/log" --replay "$T/dev" --end-mark nosuch

check "a log with 4096-byte blocks replays" \
	bash -c "$MK '$T/log4k' --block-size 4096 --dev-size 2M \
	--expect '$T/exp4k' <'$T/script' && truncate -s 2M '$T/dev4k' &&
	$RL --log '$T/log4k' --replay '$T/dev4k' --to-flush 2 &&
	cmp '$T/dev4k' '$T/exp4k.flush-2' &&
	$RL --log '$T/log4k' --replay '$T/dev4k' --from-flush 2 &&
	cmp '$T/dev4k' '$T/exp4k.final'"
rm -f "$T/dev"; truncate -s 256k "$T/dev"
check "entries the super does not count are not replayed" \
	bash -c "$MK '$T/logu' --uncounted-tail --dev-size 256k \
	--expect '$T/expu' <'$T/script' &&
	$RL --log '$T/logu' --list | grep -q '^# .*: 10 entries' &&
	$RL --log '$T/logu' --replay '$T/dev' && cmp '$T/dev' '$T/expu.final' &&
	cmp '$T/expu.final' '$T/exp.mark-two'"

printf 'not a log at all' >"$T/junk.log"
truncate -s 4k "$T/junk.log"
check_fails "a file that is not a log is rejected by name" 2 \
	"$T/junk.log: not a dm-log-writes log" $RL --log "$T/junk.log" --list
head -c 3000 "$T/log" >"$T/short.log"
check_fails "a truncated log is reported with the entry" 2 \
	"short.log: entry [0-9]+ .*(past the end of the log|log truncated)" \
	$RL --log "$T/short.log" --replay "$T/dev"
check_fails "conflicting end options are refused" 2 "conflict" \
	$RL --log "$T/log" --replay "$T/dev" --limit 1 --to-flush 1

echo "1..$n"
echo "# $((n - failed)) passed, $failed failed"
[ $failed -eq 0 ]
