# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# unionblk helpers for VM tests; source after guest.sh.

# ub_create NAME STORE BASE [FEATURE-ARGS...]: a tenant as large as BASE.
ub_create() {
	local name=$1 store=$2 base=$3 table
	shift 3
	table="0 $(dev_sectors "$base") unionblk $store $base${*:+ $*}"
	echo "# dmsetup create $name --table '$table'"
	dmsetup create "$name" --table "$table"
}

# ub_status_field NAME FIELD: one field of the tenant's INFO status:
# chunk_sectors used whiteouts state mode space seq.
ub_status_field() {
	local s field=$2
	s=$(dmsetup status "$1") || return 1
	# <start> <len> unionblk <chunk> <used>/<total> <wo> <state> <mode> <space> <seq>
	# shellcheck disable=SC2086
	set -- $s
	case $field in
	chunk_sectors) echo "$4" ;;
	used) echo "$5" ;;
	whiteouts) echo "$6" ;;
	state) echo "$7" ;;
	mode) echo "$8" ;;
	space) echo "$9" ;;
	seq) echo "${10}" ;;
	esac
}

# ub_ctr_error TABLE: try to create a device with TABLE, expect refusal,
# print the target's error string from the kernel log.
ub_ctr_error() {
	local mark="ub-ctr-$RANDOM$RANDOM"
	echo "$mark" >/dev/kmsg
	if dmsetup create ub_ctr_probe --table "$1" 2>/dev/null; then
		dmsetup remove ub_ctr_probe
		echo "ACCEPTED"
		return 0
	fi
	dmsetup remove ub_ctr_probe 2>/dev/null || true
	dmesg | sed -n "/$mark/,\$p" | sed -n -e 's/ (-E[A-Z0-9]*)$//' -e 's/.*unionblk: //p' | tail -n 1
}
