# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Metadata: activation time and kernel memory against the number of
# mapped chunks (BENCH_META_CHUNKS), for unionblk (4 KiB chunks),
# dm-snapshot (persistent, 4 KiB chunks) and dm-thin (64 KiB blocks, an
# external origin), and the metadata bytes per mapped chunk.
#
# A million mapped 4 KiB chunks are 4 GiB of data (64 GiB for dm-thin's
# blocks): more than the VM's disks hold, and far too slow to write under
# TCG.  So the stores are made offline, with their metadata on
# BENCH_AUX_DEV and their data area on dm-zero (activation never reads
# data):
#
#   unionblk     unionblk format, then unionblk restore of a dump mapping
#                virtual chunks 0..N-1 to data chunks 0..N-1 (checked with
#                unionblk check); the tenant is 4 GiB (1M chunks) for
#                every N
#   dm-snapshot  the persistent exception store's header and N exceptions
#                (none consecutive, see snap_meta in bench/run), made by
#                bench/run on the host; the COW device is a dm table that
#                maps the header and the metadata areas onto BENCH_AUX_DEV
#                and the data chunks between them onto dm-zero; the origin
#                is 4 GiB (bench-base, then zeroes)
#   dm-thin      thin_restore on the host of one thin device mapping
#                blocks 0..N-1 to data blocks 0..N-1; the pool's data
#                device is dm-zero (64 GiB), the thin device 64 GiB with
#                bench-base (then zeroes) as its external origin
#
# Activation is `dmsetup create` (dm-thin: the pool and the thin device),
# BENCH_META_REPEAT times for each point.  Its time is taken twice: the
# wall time of dmsetup, and the kernel's time in the TABLE_LOAD and
# DEV_SUSPEND (resume) ioctls, from the function_graph tracer when the
# kernel has it.  Memory is the change in /proc/meminfo (MemFree, Slab,
# VmallocUsed) and in dm-bufio's current_allocated_bytes from before to
# after, caches dropped before.

record_env
base_up

TRACE=""
for t in /sys/kernel/tracing /sys/kernel/debug/tracing; do
	if [ -w "$t/current_tracer" ] &&
		grep -q function_graph "$t/available_tracers" 2>/dev/null; then
		TRACE=$t
		break
	fi
done

# trace_setup: the function_graph tracer on the two dm ioctls that load a
# table and resume a device, and nothing else (set_ftrace_filter: patching
# every function of the kernel would take minutes under TCG).  Only when
# the tracer is idle (nop, as in the VM): on a host that is tracing
# something, the kernel time is not measured rather than the host's
# tracing disturbed.  trace_end puts back what trace_setup changed.
# trace_start / trace_stop: the kernel time (us), "LOAD_US RESUME_US".
TRACE_SAVED=""
trace_setup() {
	local cur depth on tail=""
	[ -n "$TRACE" ] || return 0
	read -r cur <"$TRACE/current_tracer"
	if [ "$cur" != nop ] || [ -n "$(grep -v '^#' "$TRACE/set_ftrace_filter")" ]; then
		say "the tracer is in use ($cur): no kernel times"
		TRACE=""
		return 0
	fi
	read -r depth <"$TRACE/max_graph_depth"
	read -r on <"$TRACE/tracing_on"
	[ -r "$TRACE/options/funcgraph-tail" ] && read -r tail <"$TRACE/options/funcgraph-tail"
	TRACE_SAVED="$depth $on $tail"
	echo 0 >"$TRACE/tracing_on"
	if ! echo 'table_load dev_suspend' >"$TRACE/set_ftrace_filter" ||
		! echo function_graph >"$TRACE/current_tracer"; then
		trace_end
		TRACE=""
		return 0
	fi
	echo 1 >"$TRACE/max_graph_depth"
	# A call interrupted by a context switch is printed as "name() {" and
	# "} /* name */"; the tail comment names the function on the line
	# with the duration.
	[ -w "$TRACE/options/funcgraph-tail" ] &&
		echo 1 >"$TRACE/options/funcgraph-tail"
	return 0
}
trace_start() {
	[ -n "$TRACE" ] || return 0
	echo >"$TRACE/trace"
	echo 1 >"$TRACE/tracing_on"
}
trace_stop() {
	local line load=0 resume=0 us
	if [ -z "$TRACE" ]; then
		echo "-1 -1"
		return 0
	fi
	echo 0 >"$TRACE/tracing_on"
	while IFS= read -r line; do
		[[ $line =~ ([0-9]+)(\.[0-9]+)?\ us\ *\|[^a-z_]*(table_load|dev_suspend) ]] ||
			continue
		us=${BASH_REMATCH[1]}
		case ${BASH_REMATCH[3]} in
		table_load) load=$((load + us)) ;;
		dev_suspend) resume=$((resume + us)) ;;
		esac
	done <"$TRACE/trace"
	echo "$load $resume"
}
trace_end() {
	local depth on tail
	[ -n "$TRACE" ] && [ -n "$TRACE_SAVED" ] || return 0
	read -r depth on tail <<<"$TRACE_SAVED"
	echo nop >"$TRACE/current_tracer"
	echo >"$TRACE/set_ftrace_filter"
	echo "$depth" >"$TRACE/max_graph_depth"
	[ -n "$tail" ] && echo "$tail" >"$TRACE/options/funcgraph-tail"
	echo "$on" >"$TRACE/tracing_on"
	TRACE_SAVED=""
}

bufio_bytes() {
	local b=0
	[ -r /sys/module/dm_bufio/parameters/current_allocated_bytes ] &&
		read -r b </sys/module/dm_bufio/parameters/current_allocated_bytes
	echo "$b"
}

# activate TARGET N REP NAME TABLE [NAME TABLE]...: create the devices
# (the tables, one after the other) and record the time and memory it
# took, as repetition REP.
activate() {
	local target=$1 n=$2 rep=$3 m0 m1 b0 b1 t0 t1 k
	shift 3
	drop_caches
	sleep 1
	read -r -a m0 <<<"$(meminfo_kb MemFree Slab SUnreclaim VmallocUsed)"
	b0=$(bufio_bytes)
	trace_start
	t0=$(now_us)
	while [ $# -gt 0 ]; do
		dmsetup create "$1" --table "$2"
		shift 2
	done
	t1=$(now_us)
	read -r -a k <<<"$(trace_stop)"
	sync
	read -r -a m1 <<<"$(meminfo_kb MemFree Slab SUnreclaim VmallocUsed)"
	b1=$(bufio_bytes)
	record activation target="$target" mapped="$n" rep="$rep" \
		wall_us=$((t1 - t0)) load_us="${k[0]}" resume_us="${k[1]}" \
		memfree_kb=$((m0[0] - m1[0])) slab_kb=$((m1[1] - m0[1])) \
		sunreclaim_kb=$((m1[2] - m0[2])) vmalloc_kb=$((m1[3] - m0[3])) \
		bufio_kb=$(((b1 - b0) / 1024))
	say "activate $target $n ($rep): $(((t1 - t0) / 1000)) ms wall, kernel ${k[0]}+${k[1]} us"
}

# payload NAME: the data that bench/run appended to this script for NAME
# (base64 of xz), decoded.
payload() {
	awk -v n="__BENCH_PAYLOAD__ $1" '$0 == n { f = 1; next }
		/^__BENCH_PAYLOAD__ / { f = 0 } f' "$0" | base64 -d | xz -dc
}

# The 4 GiB and 64 GiB bases: bench-base, then zeroes.
V4G=8388608
V64G=134217728
dm_create bench-base4g "0 $BASE_SECTORS linear /dev/mapper/bench-base 0
$BASE_SECTORS $((V4G - BASE_SECTORS)) zero"
dm_create bench-base64g "0 $BASE_SECTORS linear /dev/mapper/bench-base 0
$BASE_SECTORS $((V64G - BASE_SECTORS)) zero"

trace_setup
part_end_hook() {
	trace_end
}

# The floor: what creating any device costs (a linear map).
for ((r = 1; r <= BENCH_META_REPEAT; r++)); do
	activate linear 0 "$r" bench-linear "0 $BASE_SECTORS linear /dev/mapper/bench-base 0"
	dm_remove bench-linear
done

UB_META=131072		# sectors of BENCH_AUX_DEV for unionblk's metadata
for n in $BENCH_META_CHUNKS; do
	# -- unionblk
	zero_head "$BENCH_AUX_DEV" 64
	dm_create bench-ubstore "0 $UB_META linear $BENCH_AUX_DEV 0
$UB_META $((V4G + 2048)) zero"
	unionblk format /dev/mapper/bench-ubstore --base /dev/mapper/bench-base4g \
		--chunk-size 4k --tenant bench >/dev/null
	unionblk dump /dev/mapper/bench-ubstore | sed \
		-e "s/\"seq\": 0,/\"seq\": 1,/" \
		-e "s/\"mapped_chunks\": 0,/\"mapped_chunks\": $n,/" \
		-e "s/\"alloc_cursor\": 0 /\"alloc_cursor\": $n /" \
		-e "s/\"mappings\": \[\]/\"mappings\": [[0, 0, $n]]/" \
		>"$BENCH_WORK/ub.json"
	unionblk restore "$BENCH_WORK/ub.json" /dev/mapper/bench-ubstore --force >/dev/null
	unionblk check /dev/mapper/bench-ubstore --base /dev/mapper/bench-base4g >/dev/null
	blockdev --flushbufs /dev/mapper/bench-ubstore
	for ((r = 1; r <= BENCH_META_REPEAT; r++)); do
		activate unionblk "$n" "$r" bench-ub "0 $V4G unionblk /dev/mapper/bench-ubstore /dev/mapper/bench-base4g"
		# shellcheck disable=SC2046
		set -- $(dmsetup status bench-ub)
		[ "${5%/*}" = "$n" ] || { echo "unionblk maps ${5%/*}, not $n" >&2; exit 1; }
		[ $r = "$BENCH_META_REPEAT" ] || dm_remove bench-ub
	done
	record metadata target=unionblk mapped="$n" chunk_bytes=4096 \
		virtual_chunks=$((V4G / 8)) \
		meta_bytes=$(($(le64 /dev/mapper/bench-ubstore 104) * 512)) \
		journal_bytes=$(($(le32 /dev/mapper/bench-ubstore 52) * 2 * 4096))
	dm_remove bench-ub bench-ubstore

	# -- dm-snapshot
	payload "snap-$n" | dd of="$BENCH_AUX_DEV" bs=1M oflag=direct \
		iflag=fullblock conv=notrunc status=none
	awk -v n="$n" -v aux="$BENCH_AUX_DEV" 'BEGIN {
		epa = 256; areas = int((n + epa - 1) / epa) + 1
		print "0 8 linear " aux " 0"
		for (a = 0; a < areas; a++) {
			s = (1 + a * (epa + 1)) * 8
			print s " 8 linear " aux " " (1 + a) * 8
			print s + 8 " " epa * 8 " zero"
		}
	}' >"$BENCH_WORK/snapcow.table"
	dmsetup create bench-snapcow <"$BENCH_WORK/snapcow.table"
	for ((r = 1; r <= BENCH_META_REPEAT; r++)); do
		activate dm-snapshot "$n" "$r" bench-snap "0 $V4G snapshot /dev/mapper/bench-base4g /dev/mapper/bench-snapcow P 8"
		[ $r = "$BENCH_META_REPEAT" ] || dm_remove bench-snap
	done
	# shellcheck disable=SC2046 # <allocated>/<total> <metadata>
	set -- $(dmsetup status bench-snap)
	record metadata target=dm-snapshot mapped="$n" chunk_bytes=4096 \
		virtual_chunks=$((V4G / 8)) meta_bytes=$(($5 * 512))
	dm_remove bench-snap bench-snapcow

	# -- dm-thin
	payload "thin-$n" | dd of="$BENCH_AUX_DEV" bs=1M oflag=direct \
		iflag=fullblock conv=notrunc status=none
	dm_create bench-tmeta "0 $THIN_META_SECTORS linear $BENCH_AUX_DEV 0"
	dm_create bench-tdata "0 $V64G zero"
	for ((r = 1; r <= BENCH_META_REPEAT; r++)); do
		activate dm-thin "$n" "$r" \
			bench-pool "0 $V64G thin-pool /dev/mapper/bench-tmeta /dev/mapper/bench-tdata $THIN_BLOCK 0" \
			bench-thin "0 $V64G thin /dev/mapper/bench-pool 0 /dev/mapper/bench-base64g"
		[ $r = "$BENCH_META_REPEAT" ] || dm_remove bench-thin bench-pool
	done
	# shellcheck disable=SC2046 # <trans> <meta used>/<total> <data used>/<total>
	set -- $(dmsetup status bench-pool)
	[ "${6%/*}" = "$n" ] || { echo "dm-thin maps ${6%/*}, not $n" >&2; exit 1; }
	record metadata target=dm-thin mapped="$n" chunk_bytes=65536 \
		virtual_chunks=$((V64G / THIN_BLOCK)) meta_bytes=$((${5%/*} * 4096))
	dm_remove bench-thin bench-pool bench-tmeta bench-tdata
done
