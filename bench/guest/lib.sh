# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# The benchmark's library, on the machine that runs it: the VM guest (by
# default) or a real host (bench/run --host).  bench/run assembles each
# part (bench/guest/NNN-*.sh) into one script: the parameters of the run,
# this file, the fio job files of bench/jobs and the part, so that a part
# needs nothing else.  What a part measures goes to $BENCH_OUT:
#
#   records.jsonl      one JSON object a line (record), read by bench/report
#   fio/<name>.json    fio's own JSON output, one file per fio run
#
# In the VM the part ends by printing $BENCH_OUT as a base64 tar between
# BENCH-ARCHIVE-BEGIN/END lines, which bench/run cuts out of the
# harness's output.
#
# The devices (the VM's by default; bench/run --host passes others):
#   BENCH_BASE_DEV   the shared base (bench-base, a linear map of its
#                    first BENCH_BASE_MB, is what every configuration uses)
#   BENCH_STORE_DEV  COW stores, dm-snapshot exception stores, the dm-thin
#                    pool: every configuration's writes land here
#   BENCH_AUX_DEV    metadata images (metadata part), overlayfs upper
#                    filesystem (files part)
#
# The parameters (BENCH_*_MB, BENCH_NR_IOS, the configurations of each
# part...) come from bench/run, which documents them.
#
# Process creation costs tens of milliseconds under TCG: the code below
# keeps forks out of loops and timed sections (bash builtins, one awk or
# dmsetup call for many devices).

set -eu

: "${BENCH_PART:?}" "${BENCH_MODE:?}" "${BENCH_OUT:?}"
BENCH_BASE_DEV=${BENCH_BASE_DEV:-/dev/vda}
BENCH_STORE_DEV=${BENCH_STORE_DEV:-/dev/vdd}
BENCH_AUX_DEV=${BENCH_AUX_DEV:-/dev/vdc}
BENCH_EMIT=${BENCH_EMIT:-0}

BENCH_JOBS=$BENCH_OUT/jobs		# the fio job files
BENCH_WORK=$BENCH_OUT/work		# scratch, not part of the results
RECORDS=$BENCH_OUT/records.jsonl
MNT=/mnt/bench				# mount points live under here

BASE_SECTORS=$((BENCH_BASE_MB * 2048))
STORE_SECTORS=$((BENCH_STORE_MB * 2048))
REGION=${BENCH_REGION_MB}m
THIN_META_SECTORS=131072		# 64 MiB pool metadata, at the store's start
THIN_BLOCK=128				# dm-thin block: 64 KiB, in sectors

mkdir -p "$BENCH_OUT/fio" "$BENCH_JOBS" "$BENCH_WORK" "$MNT"
export DM_DISABLE_UDEV=1

# ---- output ---------------------------------------------------------------

# say MSG...: progress, with the seconds since the part began.
BENCH_T0=${EPOCHREALTIME/./}
say() {
	local us=${EPOCHREALTIME/./}
	printf 'bench %s [%4ds] %s\n' "$BENCH_PART" $(((us - BENCH_T0) / 1000000)) "$*"
}

# now_us: microseconds since the epoch (a builtin, no fork).
now_us() {
	echo "${EPOCHREALTIME/./}"
}

# record KIND KEY=VALUE...: append one JSON object to records.jsonl.  A
# value that reads as a number is written as one.
record() {
	local kind=$1 kv k v out
	shift
	out="{\"part\":\"$BENCH_PART\",\"kind\":\"$kind\""
	for kv in "$@"; do
		k=${kv%%=*}
		v=${kv#*=}
		v=${v//$'\n'/ }
		if [[ $v =~ ^-?(0|[1-9][0-9]*)(\.[0-9]+)?$ ]]; then
			out+=",\"$k\":$v"
		else
			v=${v//\\/\\\\}
			out+=",\"$k\":\"${v//\"/\\\"}\""
		fi
	done
	printf '%s}\n' "$out" >>"$RECORDS"
}

# emit: print $BENCH_OUT (without the scratch) as a base64 tar.gz between
# markers; bench/run unpacks it into the run's raw/ directory.
emit() {
	rm -rf "$BENCH_WORK"
	echo "BENCH-ARCHIVE-BEGIN $BENCH_PART"
	tar -C "$BENCH_OUT" -cf - . | gzip -c | base64
	echo "BENCH-ARCHIVE-END $BENCH_PART"
}

# part_end: the EXIT trap: remove what is left, send the results (also
# those of a part that failed half-way).  A part can add to it by defining
# part_end_hook.
part_end() {
	local rc=$?
	set +e
	cd /
	declare -F part_end_hook >/dev/null && part_end_hook
	awk -v m="$MNT" 'index($2, m) == 1 { print $2 }' /proc/mounts |
		sort -r | while read -r p; do umount "$p"; done
	cleanup_dm
	record end status=$rc seconds=$((($(now_us) - BENCH_T0) / 1000000))
	[ "$BENCH_EMIT" = 1 ] && emit
	say "done, status $rc"
	exit $rc
}
trap part_end EXIT

# record_env: what the run ran on.
record_env() {
	local k v mem="" cpus=0 model=""
	while read -r k v; do
		[ "$k" = MemTotal: ] && mem=${v% kB}
	done </proc/meminfo
	while IFS=: read -r k v; do
		case $k in
		processor*) cpus=$((cpus + 1)) ;;
		"model name"*) model=${v# } ;;
		esac
	done </proc/cpuinfo
	record env kernel="$(uname -r)" cpus=$cpus mem_kb="$mem" \
		cpu_model="$model" fio="$(fio --version)" mode="$BENCH_MODE" \
		base_mb="$BENCH_BASE_MB" store_mb="$BENCH_STORE_MB" \
		region_mb="$BENCH_REGION_MB" nr_ios="$BENCH_NR_IOS" \
		where="$BENCH_WHERE"
}

# ---- devices --------------------------------------------------------------

# dm_create NAME TABLE: create a dm device.
dm_create() {
	dmsetup create "$1" --table "$2"
	[ -b "/dev/mapper/$1" ] || dmsetup mknodes "$1"
}

# dm_create_many SPEC: several devices in one dmsetup call (--concise:
# "name,,,rw,table[;name,,,rw,table]...").
dm_create_many() {
	local d
	dmsetup create --concise "$1"
	for d in ${1//;/ }; do
		d=${d%%,*}
		[ -b "/dev/mapper/$d" ] || { dmsetup mknodes; break; }
	done
}

# cleanup_dm: remove every dm device of the benchmark (bench-*), and only
# those: on a real host other devices are none of its business.
cleanup_dm() {
	local pass names n
	for pass in 1 2 3 4 5 6; do
		names=$(dmsetup ls 2>/dev/null | awk '$1 ~ /^bench-/ { print $1 }')
		[ -n "$names" ] || return 0
		for n in $names; do
			dmsetup remove "$n" >/dev/null 2>&1 || true
		done
		[ $pass -gt 3 ] && sleep 1
	done
	echo "bench: dm devices left: $names" >&2
}

# dm_remove NAME...: remove dm devices (one dmsetup call), retrying while
# one is still busy.
dm_remove() {
	local names=() n i
	for i in 1 2 3 4 5 6; do
		names=()
		for n in "$@"; do
			dmsetup info "$n" >/dev/null 2>&1 && names+=("$n")
		done
		[ ${#names[@]} -gt 0 ] || return 0
		if [ $i = 6 ]; then
			dmsetup remove "${names[@]}"
			return
		fi
		dmsetup remove "${names[@]}" 2>/dev/null && return 0
		sleep 1
	done
}

# zero_head DEV [MIB]: zero the first MIB (default 1) MiB of DEV: enough
# for every format the benchmark uses to see a new, empty store (unionblk
# formats a store whose two superblocks are zero, dm-snapshot one whose
# header chunk is, dm-thin a pool whose metadata superblock is).
zero_head() {
	dd if=/dev/zero of="$1" bs=1M count="${2:-1}" oflag=direct \
		conv=notrunc status=none
}

# store_reset SLICES: make the store device's SLICES slices (of equal size)
# new, empty stores.  In the VM one discard zeroes it all (qemu punches a
# hole in the disk's file); a real disk need not read back zeroes after a
# discard, so there each slice's head is written with zeroes.
store_reset() {
	local n=$1 slice i
	if [ "$BENCH_WHERE" = vm ]; then
		blkdiscard -f -l $((STORE_SECTORS * 512)) "$BENCH_STORE_DEV" 2>/dev/null
		return 0
	fi
	slice=$((STORE_SECTORS / n / 2048))
	for ((i = 0; i < n; i++)); do
		dd if=/dev/zero of="$BENCH_STORE_DEV" bs=1M seek=$((i * slice)) \
			count=1 oflag=direct conv=notrunc status=none
	done
}

# base_up: bench-base, the first BENCH_BASE_MB of the base device.
base_up() {
	dm_create bench-base "0 $BASE_SECTORS linear $BENCH_BASE_DEV 0"
}

# drop_caches: write back and drop the page cache, dentries and inodes.
drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# ---- configurations -------------------------------------------------------
#
# A configuration is one way of giving a tenant a private writable view of
# bench-base:
#
#   raw      bench-base itself (the physical limit; written only last)
#   ub4k     unionblk, 4 KiB chunks   (format chunk_size 8)
#   ub64k    unionblk, 64 KiB chunks  (format chunk_size 128)
#   snap4k   dm-snapshot, persistent exception store, 4 KiB chunks
#   snap64k  dm-snapshot, persistent exception store, 64 KiB chunks
#   thin     dm-thin: pool with 64 KiB blocks, a thin device with
#            bench-base as its external origin
#
# Every store lives on BENCH_STORE_DEV, mapped directly (one linear map, no
# deeper stacking) at the same offsets for every configuration.

BLOCK_CONFIGS=$BENCH_BLOCK_CONFIGS
ROUND=1			# the round of the measurements (of BENCH_ROUNDS)

# tenants_up CONFIG K: K fresh tenants of CONFIG over bench-base, named
# bench-t0 .. bench-t<K-1> (raw: none, the jobs use bench-base).  The store
# is split into K equal slices; dm-thin has one pool for all K.
tenants_up() {
	local cfg=$1 k=$2 i spec="" slice off table
	[ "$cfg" = raw ] && return 0
	if [ "$cfg" = thin ]; then
		store_reset 1
		slice=$(((STORE_SECTORS - THIN_META_SECTORS) / 2048 * 2048))
		dm_create_many "bench-tmeta,,,rw,0 $THIN_META_SECTORS linear $BENCH_STORE_DEV 0;bench-tdata,,,rw,0 $slice linear $BENCH_STORE_DEV $THIN_META_SECTORS"
		dm_create bench-pool "0 $slice thin-pool /dev/mapper/bench-tmeta /dev/mapper/bench-tdata $THIN_BLOCK 0"
		for ((i = 0; i < k; i++)); do
			dmsetup message bench-pool 0 "create_thin $i"
			spec+="${spec:+;}bench-t$i,,,rw,0 $BASE_SECTORS thin /dev/mapper/bench-pool $i /dev/mapper/bench-base"
		done
		dm_create_many "$spec"
		return 0
	fi
	store_reset "$k"
	slice=$((STORE_SECTORS / k / 2048 * 2048))
	for ((i = 0; i < k; i++)); do
		off=$((i * slice))
		spec+="${spec:+;}bench-s$i,,,rw,0 $slice linear $BENCH_STORE_DEV $off"
	done
	dm_create_many "$spec"
	spec=""
	for ((i = 0; i < k; i++)); do
		case $cfg in
		ub4k) table="unionblk /dev/mapper/bench-s$i /dev/mapper/bench-base 3 format chunk_size 8" ;;
		ub64k) table="unionblk /dev/mapper/bench-s$i /dev/mapper/bench-base 3 format chunk_size 128" ;;
		snap4k) table="snapshot /dev/mapper/bench-base /dev/mapper/bench-s$i P 8" ;;
		snap64k) table="snapshot /dev/mapper/bench-base /dev/mapper/bench-s$i P 128" ;;
		*) echo "unknown configuration $cfg" >&2; return 1 ;;
		esac
		spec+="${spec:+;}bench-t$i,,,rw,0 $BASE_SECTORS $table"
	done
	dm_create_many "$spec"
}

# tenants_down CONFIG K: remove the tenants and their stores.
tenants_down() {
	local cfg=$1 k=$2 i names=()
	[ "$cfg" = raw ] && return 0
	for ((i = 0; i < k; i++)); do names+=("bench-t$i"); done
	dm_remove "${names[@]}"
	if [ "$cfg" = thin ]; then
		dm_remove bench-pool bench-tmeta bench-tdata
		return 0
	fi
	names=()
	for ((i = 0; i < k; i++)); do names+=("bench-s$i"); done
	dm_remove "${names[@]}"
}

# tenant_dev CONFIG: the device of tenant 0 (raw: bench-base).
tenant_dev() {
	if [ "$1" = raw ]; then
		echo /dev/mapper/bench-base
	else
		echo /dev/mapper/bench-t0
	fi
}

# le64 DEV OFFSET: the little-endian 64-bit number at byte OFFSET of DEV.
le64() {
	od -An -t u8 -j "$2" -N 8 "$1" | tr -d ' '
}

# le32 DEV OFFSET: the little-endian 32-bit number at byte OFFSET of DEV.
le32() {
	od -An -t u4 -j "$2" -N 4 "$1" | tr -d ' '
}

# record_space CONFIG K AFTER: what K tenants of CONFIG use of the store
# device after workload AFTER: data and metadata bytes, from the targets'
# status lines (and unionblk's superblock for its metadata region).
record_space() {
	local cfg=$1 k=$2 after=$3 i s data=0 meta=0 chunks=0 f
	[ "$ROUND" = 1 ] || return 0	# the same in every round
	case $cfg in
	raw) return 0 ;;
	thin)
		# <start> <len> thin-pool <trans> <used meta>/<total meta>
		# <used data>/<total data> ...
		# shellcheck disable=SC2046 # the fields of one status line
		set -- $(dmsetup status bench-pool)
		meta=$((${5%/*} * 4096))
		data=$((${6%/*} * THIN_BLOCK * 512))
		chunks=${6%/*}
		;;
	ub*)
		for ((i = 0; i < k; i++)); do
			# <chunk_sectors> <used>/<total> <whiteouts> ...
			# shellcheck disable=SC2046
			set -- $(dmsetup status "bench-t$i")
			chunks=$((chunks + ${5%/*}))
			data=$((data + ${5%/*} * $4 * 512))
		done
		# The metadata region ends at data_start (sectors, byte 104 of
		# the superblock); the K stores have the same layout.
		meta=$(($(le64 /dev/mapper/bench-s0 104) * 512 * k))
		;;
	snap*)
		for ((i = 0; i < k; i++)); do
			# <allocated>/<total> <metadata sectors>
			# shellcheck disable=SC2046
			set -- $(dmsetup status "bench-t$i")
			f=${4%/*}
			meta=$((meta + $5 * 512))
			data=$((data + (f - $5) * 512))
		done
		if [ "$cfg" = snap4k ]; then f=4096; else f=65536; fi
		chunks=$((data / f))
		;;
	esac
	s=$((data + meta))
	record space config="$cfg" tenants="$k" after="$after" \
		data_bytes=$data meta_bytes=$meta total_bytes=$s chunks=$chunks
}

# ---- fio ------------------------------------------------------------------

# bench_fio CONFIG TENANTS "WORKLOAD..." [VAR=VALUE...]: run the job files
# WORKLOAD.fio one after the other in one fio process (fio runs the job
# files of one command line in sequence), with the variables in its
# environment (the job files use ${VAR}); keep its JSON as
# fio/<part>-<config>-<tenants>-<first workload>.json and record each
# workload (its job in the JSON has the workload's name).  One process for
# several workloads: starting fio takes seconds under TCG.
bench_fio() {
	local cfg=$1 k=$2 wls=$3 t0 t1 name out w jobs=()
	shift 3
	for w in $wls; do jobs+=("$BENCH_JOBS/$w.fio"); done
	name=$BENCH_PART-$cfg-$k-${wls%% *}-r$ROUND
	out=$BENCH_OUT/fio/$name.json
	t0=$(now_us)
	if ! env REGION="$REGION" "$@" fio --output-format=json \
		--output="$out" "${jobs[@]}" >"$BENCH_WORK/fio.err" 2>&1; then
		cat "$BENCH_WORK/fio.err" "$out" >&2
		return 1
	fi
	t1=$(now_us)
	for w in $wls; do
		record fio workload="$w" config="$cfg" tenants="$k" round="$ROUND" \
			file="fio/$name.json" wall_ms=$(((t1 - t0) / 1000))
	done
	say "round $ROUND, $cfg x$k: $wls: $(((t1 - t0) / 1000)) ms"
}

# rotate N WORD...: the words, starting with the N-th (from 1) and
# wrapping around: round N runs the configurations in this order, so that
# none always runs first or last.
rotate() {
	local n=$1 w=()
	shift
	w=("$@")
	n=$(((n - 1) % ${#w[@]}))
	echo "${w[@]:n}" "${w[@]:0:n}"
}

# make_firstwrite_log FILE REGION_MB: a fio replay log of 4 KiB writes, one
# at the start of each 64 KiB of the region, in a shuffled order (fixed
# seed).  The file name in it is replaced by replay_redirect.
make_firstwrite_log() {
	awk -v n=$(($2 * 16)) 'BEGIN {
		srand(5)
		for (i = 0; i < n; i++) a[i] = i
		for (i = n - 1; i > 0; i--) {
			j = int(rand() * (i + 1)); t = a[i]; a[i] = a[j]; a[j] = t
		}
		f = "/dev/bench-target"
		print "fio version 2 iolog"; print f " add"; print f " open"
		for (i = 0; i < n; i++) print f " write " a[i] * 65536 " 4096"
		print f " close"
	}' >"$1"
}

# fill_base: write incompressible data over the benchmark's region of the
# base (the rest reads as zeroes).
fill_base() {
	bench_fio raw 1 base-fill DEV=/dev/mapper/bench-base
}

# meminfo_kb FIELD...: print the fields of /proc/meminfo (kB), in order.
meminfo_kb() {
	local k v _ f out=()
	declare -A m
	while read -r k v _; do m[${k%:}]=$v; done </proc/meminfo
	for f in "$@"; do out+=("${m[$f]:-0}"); done
	echo "${out[*]}"
}
