# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# The guest's root filesystem, an initramfs made of three cpio archives
# that the kernel unpacks one over the other:
#
#   base     busybox (with its applet links), bash, every file listed in
#            tests/vm/guest-bins.txt with the libraries it links, and the
#            kernel's modules the tests need (with their dependencies),
#            uncompressed.  Cached per kernel ABI; rebuilt when the list,
#            this file or a listed program changes.
#   overlay  what this checkout built: /init, /tests (tests/vm, tests/lib),
#            dm-unionblk.ko in /lib/modules/<abi>/extra, tools/unionblk as
#            /usr/sbin/unionblk, tests/helpers/* in /tests/helpers, the udev
#            rule.  Made once per run.
#   conf     /etc/unionblk/run.conf: what this boot runs.  Made per boot.
#
# Sourced after tests/lib/host.sh and tests/vm/kernel.sh.

VM_DIR=${VM_DIR:-$UNIONBLK_TOP/tests/vm}

# Modules the guest can always load, and the ones loaded when present.
GUEST_MODULES_REQUIRED="virtio_pci virtio_blk dm-mod"
GUEST_MODULES_OPTIONAL="dm-bufio dm-snapshot dm-thin-pool dm-flakey
	dm-log-writes dm-delay dm-zero dm-persistent-data brd loop ext4 overlay
	libcrc32c crc32c_generic crc32c-intel"

# guest_bins: the files listed in guest-bins.txt (comments and blank lines
# dropped).
guest_bins() {
	sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$VM_DIR/guest-bins.txt"
}

# stage_path STAGE PATH: where PATH goes in STAGE: its directory resolved
# as on the host (/lib -> /usr/lib), its name kept (so a library keeps
# its soname and a multi-call program the name it is called by).
stage_path() {
	printf '%s%s/%s\n' "$1" "$(realpath -m "$(dirname "$2")")" "${2##*/}"
}

# stage_file STAGE PATH [DEST]: copy PATH (followed if a link) into STAGE,
# as DEST when given, and for a dynamic ELF program or library every
# library it needs.
stage_file() {
	local stage=$1 src=$2 dst lib

	[ -e "$src" ] || { note "guest image: $src is missing"; return 1; }
	if [ -n "${3:-}" ]; then
		dst=$stage$3
	else
		dst=$(stage_path "$stage" "$src")
	fi
	[ -e "$dst" ] && return 0
	mkdir -p "${dst%/*}"
	cp -L --preserve=mode "$src" "$dst" || return 1
	# ldd prints "name => /path (addr)" and "/path (addr)" for the loader.
	ldd "$src" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 }
		$1 ~ /^\// { print $1 }' | while read -r lib; do
		stage_file "$stage" "$lib" || exit 1
	done
}

# stage_skeleton STAGE: directories, the host's /bin, /lib... links (the
# same usr-merge as the host, so library paths printed by ldd resolve),
# and the few files in /etc the programs expect.
stage_skeleton() {
	local stage=$1 d

	mkdir -p "$stage"/{dev,proc,sys,tmp,run,mnt,root,etc,var/tmp,tests} \
		"$stage"/usr/{bin,sbin,lib,lib64}
	for d in bin sbin lib lib64; do
		if [ -L "/$d" ]; then
			ln -s "$(readlink "/$d")" "$stage/$d"
		else
			mkdir -p "$stage/$d"
		fi
	done
	printf 'root:x:0:0:root:/root:/bin/bash\n' >"$stage/etc/passwd"
	printf 'root:x:0:\ndisk:x:6:\n' >"$stage/etc/group"
	ln -s /proc/self/mounts "$stage/etc/mtab"
}

# stage_modules STAGE: the modules of GUEST_MODULES_* and their
# dependencies, decompressed, and their modules.dep; the list of those the
# kernel has, for the guest to load, in /etc/unionblk-modules.
stage_modules() {
	local stage=$1 mod deps ko rel dst
	local mdir=$stage/usr/lib/modules/$K_ABI

	mkdir -p "$mdir"
	: >"$stage/etc/unionblk-modules"
	for mod in $GUEST_MODULES_REQUIRED $GUEST_MODULES_OPTIONAL; do
		if ! deps=$(modprobe -d "$K_IMAGE" -S "$K_ABI" \
			--show-depends "$mod" 2>/dev/null); then
			case " $GUEST_MODULES_REQUIRED " in
			*" $mod "*) note "kernel $K_ABI has no module $mod"
				return 1 ;;
			esac
			continue
		fi
		echo "$mod" >>"$stage/etc/unionblk-modules"
		while read -r ko; do
			rel=${ko#*/lib/modules/"$K_ABI"/}
			dst=$mdir/${rel%.[gx]z}
			dst=${dst%.zst}
			[ -e "$dst" ] && continue
			mkdir -p "${dst%/*}"
			case $ko in
			*.xz) xz -dc "$ko" >"$dst" ;;
			*.zst) zstd -qdc "$ko" >"$dst" ;;
			*.gz) gzip -dc "$ko" >"$dst" ;;
			*) cp "$ko" "$dst" ;;
			esac || return 1
		done < <(awk '$1 == "insmod" { print $2 }' <<<"$deps")
	done
	cp "$K_IMAGE/lib/modules/$K_ABI"/modules.{builtin,builtin.modinfo,order} \
		"$mdir/" &&
		depmod -b "$stage" "$K_ABI"
}

# cpio_pack DIR OUT: a newc archive of DIR's contents, owned by root.
cpio_pack() {
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort |
		cpio --quiet -o -H newc -R 0:0) >"$2"
}

_initramfs_base() {
	local out=$1 stage f a

	[ -e "$out" ] && return 0
	note "building the guest base image for $K_ABI"
	stage=$(mktemp -d "$UNIONBLK_CACHE/initramfs/stage.XXXXXX")
	stage_skeleton "$stage"
	stage_file "$stage" /bin/bash || return 1
	guest_bins >"$stage/etc/unionblk-guest-bins"
	while read -r f; do
		stage_file "$stage" "$f" || return 1
	done <"$stage/etc/unionblk-guest-bins"
	# busybox last: its applets fill in what the real programs leave.
	f=$(command -v busybox)
	stage_file "$stage" "$f" || return 1
	for a in $("$f" --list-full); do
		[ -e "$stage/$a" ] || [ -L "$stage/$a" ] ||
			ln -s "$f" "$stage/$a"
	done
	stage_modules "$stage" || return 1
	rm -f "$UNIONBLK_CACHE/initramfs/$K_ABI"-*.cpio
	cpio_pack "$stage" "$out.tmp" && mv "$out.tmp" "$out"
	rm -rf "$stage"
}

# initramfs_base: print the path of the cached base archive for K_ABI,
# building it first when needed.
initramfs_base() {
	local key out

	key=$({
		printf '%s\n' "$K_ABI" "$GUEST_MODULES_REQUIRED $GUEST_MODULES_OPTIONAL"
		cat "$VM_DIR/guest-bins.txt" "$VM_DIR/initramfs.sh"
		guest_bins | while read -r f; do ls -lL "$f" 2>&1; done
	} | sha256sum | cut -c1-16)
	out=$UNIONBLK_CACHE/initramfs/$K_ABI-$key.cpio
	mkdir -p "${out%/*}"
	with_cache_lock _initramfs_base "$out" || return 1
	printf '%s\n' "$out"
}

# initramfs_overlay OUT TESTDIR KO: the per-run archive.  TESTDIR holds
# the tests to run (tests/vm, or a self-test's directory), KO is the
# built dm-unionblk.ko or empty.
initramfs_overlay() {
	local out=$1 testdir=$2 ko=$3 stage f

	stage=$(mktemp -d "${out%/*}/overlay.XXXXXX")
	mkdir -p "$stage/tests/vm" "$stage/tests/lib" "$stage/tests/run" \
		"$stage/etc/unionblk"
	cp "$VM_DIR/guest-init" "$stage/init"
	cp "$VM_DIR"/*.sh "$stage/tests/vm/"
	cp "$UNIONBLK_TOP"/tests/lib/*.sh "$stage/tests/lib/"
	cp "$testdir"/[0-9][0-9][0-9]-*.sh "$stage/tests/run/" 2>/dev/null
	if [ -n "$ko" ]; then
		mkdir -p "$stage/usr/lib/modules/$K_ABI/extra"
		cp "$ko" "$stage/usr/lib/modules/$K_ABI/extra/"
	fi
	if [ -x "$UNIONBLK_TOP/tools/unionblk" ]; then
		stage_file "$stage" "$UNIONBLK_TOP/tools/unionblk" \
			/usr/sbin/unionblk || return 1
	fi
	for f in "$UNIONBLK_TOP"/tests/helpers/*; do
		if [ ! -f "$f" ] || [ ! -x "$f" ]; then
			continue
		fi
		stage_file "$stage" "$f" "/tests/helpers/${f##*/}" || return 1
	done
	mkdir -p "$stage/usr/lib/udev/rules.d"
	cp "$UNIONBLK_TOP/udev/60-unionblk.rules" "$stage/usr/lib/udev/rules.d/"
	cpio_pack "$stage" "$out"
	rm -rf "$stage"
}

# initramfs_boot OUT BASE OVERLAY CONF...: the image of one boot: the base,
# the overlay and a run.conf holding the lines CONF.
initramfs_boot() {
	local out=$1 base=$2 overlay=$3 stage
	shift 3
	stage=$(mktemp -d "${out%/*}/conf.XXXXXX")
	mkdir -p "$stage/etc/unionblk"
	printf '%s\n' "$@" >"$stage/etc/unionblk/run.conf"
	cat "$base" "$overlay" >"$out"
	cpio_pack "$stage" "$out.conf" && cat "$out.conf" >>"$out"
	rm -rf "$stage" "$out.conf"
}
