# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# File level: a CMS-like tree (many small files) on ext4, used by one
# tenant: ext4 on a block tenant of each configuration of BENCH_FS_CONFIGS
# over the base filesystem, against overlayfs (the base filesystem mounted
# read-only as the lower layer, the upper an ext4 filesystem of its own on
# BENCH_AUX_DEV), and raw: ext4 on a plain device (a copy of the base
# filesystem on BENCH_AUX_DEV).  Phases, each timed with its sync:
#
#   read     read every file, caches dropped first
#   create   BENCH_FILES_DIRS x BENCH_FILES_PER_DIR new files (tree/new)
#   modify   BENCH_FILES_WRITES 4 KiB overwrites in random files of
#            tree/mod (a third of the tree)
#   delete   rm -rf tree/del (a third)
#
# BENCH_FILES_ROUNDS rounds, the configurations rotated.  In the first: the
# space the tenant's changes take, and whether a modified file keeps its
# inode number (through the copy-up, and over a remount).  Last (with
# BENCH_FILES_SHARE), page-cache sharing: the growth of the page cache
# when a second tenant reads the tree a first one has read (two unionblk
# tenants, two overlayfs mounts over one lower layer).

DIRS=$BENCH_FILES_DIRS
FILES=$BENCH_FILES_PER_DIR
# shellcheck disable=SC2054 # -E takes a comma-separated list
MKFS=(mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0)

record_env

# The fixed cost in every timed phase below that runs fio: starting fio
# for nothing.
t0=$(now_us)
fio --name=noop --ioengine=null --size=4k --thread --output-format=terse >/dev/null
record fio_startup ms=$((($(now_us) - t0) / 1000))

# The base filesystem and its tree.
base_up
"${MKFS[@]}" /dev/mapper/bench-base
mkdir -p "$MNT/base"
mount /dev/mapper/bench-base "$MNT/base"
dirs=()
for sub in keep mod del; do
	for ((i = 0; i < DIRS; i++)); do dirs+=("$MNT/base/tree/$sub/d$i"); done
done
mkdir -p "${dirs[@]}"
for sub in keep mod del; do
	bench_fio "populate-$sub" 1 files-populate \
		TREE="$MNT/base/tree" SUB=$sub DIRS="$DIRS" FILES="$FILES"
done
umount "$MNT/base"

# overlay_mount N DIR: overlay N (its own upper and work directories on
# the upper filesystem) over the base filesystem, on DIR.
overlay_mount() {
	mkdir -p "$MNT/upper/u$1" "$MNT/upper/w$1"
	mount -t overlay overlay -o "lowerdir=$MNT/lower,upperdir=$MNT/upper/u$1,workdir=$MNT/upper/w$1" "$2"
}

# fs_up CONFIG: the tenant's filesystem of CONFIG mounted on $MNT/t.
fs_up() {
	mkdir -p "$MNT/t"
	case $1 in
	raw)
		dd if=/dev/mapper/bench-base of="$BENCH_AUX_DEV" bs=4M \
			count=$((BENCH_BASE_MB / 4)) oflag=direct status=none
		mount "$BENCH_AUX_DEV" "$MNT/t" ;;
	overlay)
		mkdir -p "$MNT/lower" "$MNT/upper"
		mount -o ro /dev/mapper/bench-base "$MNT/lower"
		"${MKFS[@]}" "$BENCH_AUX_DEV"
		mount "$BENCH_AUX_DEV" "$MNT/upper"
		mkdir "$MNT/upper/u0"
		upper_used0=$(fs_used "$MNT/upper")
		overlay_mount 0 "$MNT/t" ;;
	*)
		tenants_up "$1" 1
		mount /dev/mapper/bench-t0 "$MNT/t" ;;
	esac
}

# fs_remount CONFIG: unmount the tenant's filesystem and mount it again.
fs_remount() {
	umount "$MNT/t"
	case $1 in
	raw) mount "$BENCH_AUX_DEV" "$MNT/t" ;;
	overlay) overlay_mount 0 "$MNT/t" ;;
	*) mount /dev/mapper/bench-t0 "$MNT/t" ;;
	esac
}

# fs_down CONFIG
fs_down() {
	umount "$MNT/t"
	case $1 in
	raw) ;;
	overlay) umount "$MNT/upper" "$MNT/lower" ;;
	*) tenants_down "$1" 1 ;;
	esac
}

# fs_used DIR: bytes used in the filesystem holding DIR.
fs_used() {
	# shellcheck disable=SC2046 # three numbers
	set -- $(stat -f -c '%b %f %S' "$1")
	echo $((($1 - $2) * $3))
}

# phase CONFIG NAME CMD...: run CMD and sync, record the wall time.
phase() {
	local cfg=$1 name=$2 t0 ms
	shift 2
	t0=$(now_us)
	"$@"
	sync
	ms=$((($(now_us) - t0) / 1000))
	record files config="$cfg" phase="$name" round="$ROUND" ms=$ms
	say "round $ROUND, files $name $cfg: $ms ms"
}

# files_create CONFIG TREE: the create phase: the directories, then the
# files.
files_create() {
	local dirs=() i
	for ((i = 0; i < DIRS; i++)); do dirs+=("$2/new/d$i"); done
	mkdir "$2/new" "${dirs[@]}"
	bench_fio "$1" 1 files-create TREE="$2" DIRS="$DIRS" FILES="$FILES"
}

# files_run CONFIG: the phases on a fresh tenant of CONFIG.
files_run() {
	local cfg=$1 tree=$MNT/t/tree f ino0 ino1 ino2 opts
	fs_up "$cfg"
	f=$tree/mod/d0/f0
	ino0=$(stat -c %d:%i "$f")
	drop_caches
	phase "$cfg" read bench_fio "$cfg" 1 files-read TREE="$tree"
	phase "$cfg" create files_create "$cfg" "$tree"
	phase "$cfg" modify bench_fio "$cfg" 1 files-modify \
		TREE="$tree" IO_SIZE=$((BENCH_FILES_WRITES * 4))k
	phase "$cfg" delete rm -rf "$tree/del"
	if [ "$ROUND" = 1 ]; then
		opts=$(awk -v m="$MNT/t" '$2 == m { print $3 " " $4 }' /proc/mounts)
		record mount config="$cfg" options="$opts"
		if [ "$cfg" = overlay ]; then
			# The module's defaults behind the inode and NFS behaviour.
			local p v kv=()
			for p in /sys/module/overlay/parameters/*; do
				[ -r "$p" ] && read -r v <"$p" && kv+=("${p##*/}=$v")
			done
			record overlay_params "${kv[@]}"
		fi
		echo appended >>"$f"
		sync
		ino1=$(stat -c %d:%i "$f")
		case $cfg in
		overlay)
			record space config=overlay tenants=1 after=files \
				total_bytes=$(($(fs_used "$MNT/upper") - upper_used0)) ;;
		raw) ;;
		*)
			record_space "$cfg" 1 files ;;
		esac
		fs_remount "$cfg"
		ino2=$(stat -c %d:%i "$f")
		record inode config="$cfg" before="$ino0" after_copy_up="$ino1" \
			after_remount="$ino2"
	fi
	fs_down "$cfg"
}

# shellcheck disable=SC2086 # lists of configurations
for ((ROUND = 1; ROUND <= BENCH_FILES_ROUNDS; ROUND++)); do
	for cfg in $(rotate $ROUND $BENCH_FS_CONFIGS overlay raw); do
		files_run "$cfg"
	done
done

# Page-cache sharing (BENCH_FILES_SHARE): two tenants read the same tree
# one after the other.
[ "$BENCH_FILES_SHARE" = 1 ] || exit 0
share_run() {
	local cfg=$1 c0 c1 c2 i
	drop_caches
	c0=$(meminfo_kb Cached)
	bench_fio "$cfg-first" 2 files-read TREE="$MNT/p0/tree"
	c1=$(meminfo_kb Cached)
	bench_fio "$cfg-second" 2 files-read TREE="$MNT/p1/tree"
	c2=$(meminfo_kb Cached)
	record pagecache config="$cfg" first_kb=$((c1 - c0)) second_kb=$((c2 - c1))
	for i in 0 1; do umount "$MNT/p$i"; done
}
ROUND=1
mkdir -p "$MNT/p0" "$MNT/p1"
tenants_up ub4k 2
mount /dev/mapper/bench-t0 "$MNT/p0"
mount /dev/mapper/bench-t1 "$MNT/p1"
share_run ub4k
tenants_down ub4k 2
mkdir -p "$MNT/lower" "$MNT/upper"
mount -o ro /dev/mapper/bench-base "$MNT/lower"
"${MKFS[@]}" "$BENCH_AUX_DEV"
mount "$BENCH_AUX_DEV" "$MNT/upper"
overlay_mount 0 "$MNT/p0"
overlay_mount 1 "$MNT/p1"
share_run overlay
umount "$MNT/upper" "$MNT/lower"
