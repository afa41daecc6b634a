// SPDX-License-Identifier: GPL-2.0
/*
 * Format: a new, empty store over a base.  The metadata region is
 * zeroed (all map and bitmap blocks "never written", both journal slots
 * empty: seq 0), then the superblock copy at block 1 and the primary at
 * block 0 are written, each after a flush, so a crash leaves either no
 * store or a complete one.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "libunionblk.h"

int ub_format_layout(uint64_t capacity_chunks, uint32_t chunk_sectors,
		     uint32_t journal_blocks, struct ub_layout *l,
		     struct ub_diag *d)
{
	if (chunk_sectors < UB_MIN_CHUNK_SECTORS ||
	    chunk_sectors > UB_MAX_CHUNK_SECTORS ||
	    (chunk_sectors & (chunk_sectors - 1)))
		return ub_fail(d, -EINVAL,
			       "chunk size %u bytes: must be a power of two from %u to %u bytes",
			       chunk_sectors << UB_SECTOR_SHIFT,
			       UB_MIN_CHUNK_SECTORS << UB_SECTOR_SHIFT,
			       UB_MAX_CHUNK_SECTORS << UB_SECTOR_SHIFT);
	if (journal_blocks < UB_MIN_JOURNAL_BLOCKS ||
	    journal_blocks > UB_MAX_JOURNAL_BLOCKS)
		return ub_fail(d, -EINVAL, "journal of %u blocks: from %u to %u",
			       journal_blocks, UB_MIN_JOURNAL_BLOCKS,
			       UB_MAX_JOURNAL_BLOCKS);
	if (capacity_chunks == 0 || capacity_chunks > UB_MAP_MAX_DATA_CHUNKS)
		return ub_fail(d, -ERANGE,
			       "capacity of %" PRIu64 " chunks: must be from 1 to %llu",
			       capacity_chunks, UB_MAP_MAX_DATA_CHUNKS);
	ub_compute_layout(capacity_chunks, chunk_sectors, journal_blocks, l);
	return 0;
}

static bool same_file(int a, int b)
{
	struct stat sa, sb;

	if (fstat(a, &sa) || fstat(b, &sb))
		return false;
	if (S_ISBLK(sa.st_mode) && S_ISBLK(sb.st_mode))
		return sa.st_rdev == sb.st_rdev;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int set_name(char dst[UB_NAME_LEN], const char *src, const char *what,
		    struct ub_diag *d)
{
	memset(dst, 0, UB_NAME_LEN);
	if (!src)
		return 0;
	if (strlen(src) > UB_NAME_LEN - 1)
		return ub_fail(d, -ENAMETOOLONG, "%s \"%s\": at most %d bytes",
			       what, src, UB_NAME_LEN - 1);
	memcpy(dst, src, strlen(src));
	return 0;
}

int ub_format(const char *path, const struct ub_format_opts *o,
	      struct ub_diag *d)
{
	struct ub_superblock *sb;
	struct ub_layout l;
	uint8_t *blk = NULL, *old = NULL;
	uint64_t base_bytes, store_bytes, cap, need;
	uint32_t cs = o->chunk_sectors ? o->chunk_sectors : UB_DEFAULT_CHUNK_SECTORS;
	uint32_t jb = o->journal_blocks;
	uint32_t fp;
	bool bblk, sblk, busy;
	int bfd = -1, fd = -1, r, k;

	if (!o->base)
		return ub_fail(d, -EINVAL, "a base is required");
	r = ub_open_dev(o->base, false, &bfd, &bblk, &busy, d);
	if (r)
		return r;
	r = ub_fd_size(bfd, &base_bytes, &bblk);
	if (r) {
		r = ub_fail(d, r, "%s: %s", o->base, strerror(-r));
		goto out;
	}
	if (base_bytes < UB_FP_SAMPLE_SIZE) {
		r = ub_fail(d, -EINVAL, "%s: base too small (%" PRIu64 " bytes, at least %u)",
			    o->base, base_bytes, UB_FP_SAMPLE_SIZE);
		goto out;
	}
	/* the kernel sees whole sectors of the base */
	r = ub_fingerprint(bfd, base_bytes >> UB_SECTOR_SHIFT << UB_SECTOR_SHIFT,
			   &fp, d);
	if (r)
		goto out;

	cap = ub_div_round_up(o->capacity_bytes ? o->capacity_bytes : base_bytes,
			      (uint64_t)cs << UB_SECTOR_SHIFT);
	if (!jb)
		jb = ub_default_journal_blocks(cap);
	r = ub_format_layout(cap, cs, jb, &l, d);
	if (r)
		goto out;

	r = ub_open_dev(path, true, &fd, &sblk, &busy, d);
	if (r)
		goto out;
	if (same_file(fd, bfd)) {
		r = ub_fail(d, -EINVAL, "%s: the store and the base are the same", path);
		goto out;
	}
	r = ub_fd_size(fd, &store_bytes, &sblk);
	if (r) {
		r = ub_fail(d, r, "%s: %s", path, strerror(-r));
		goto out;
	}
	need = (l.data_start + cs) << UB_SECTOR_SHIFT;
	if (store_bytes < need) {
		r = ub_fail(d, -ENOSPC,
			    "%s: %" PRIu64 " bytes, too small: the metadata for %" PRIu64 " chunks and one data chunk need %" PRIu64 " bytes",
			    path, store_bytes, cap, need);
		goto out;
	}

	blk = calloc(1, UB_BLOCK_SIZE);
	old = malloc(UB_BLOCK_SIZE);
	if (!blk || !old) {
		r = ub_fail(d, -ENOMEM, "out of memory");
		goto out;
	}
	for (k = 0; k < 2 && !o->force; k++) {
		r = ub_pread(fd, old, UB_BLOCK_SIZE, (uint64_t)k * UB_BLOCK_SIZE);
		if (r) {
			r = ub_fail(d, r, "%s: %s", path, strerror(-r));
			goto out;
		}
		if (ub_le64(old + offsetof(struct ub_superblock, magic)) ==
		    UB_SB_MAGIC) {
			r = ub_fail(d, -EEXIST,
				    "%s already holds a unionblk store (superblock at block %d); use --force to overwrite it",
				    path, k);
			goto out;
		}
	}

	/* 1. everything before the data reads as zeroes */
	r = ub_zero_range(fd, sblk, 0, l.data_start << UB_SECTOR_SHIFT);
	if (!r)
		r = ub_flush(fd, sblk);
	if (r) {
		r = ub_fail(d, r, "%s: zeroing the metadata region: %s", path,
			    strerror(-r));
		goto out;
	}

	sb = (void *)blk;
	sb->magic = htole64(UB_SB_MAGIC);
	sb->version = htole32(UB_FORMAT_VERSION);
	sb->flags = 0;
	sb->chunk_sectors = htole32(cs);
	sb->journal_blocks = htole32(jb);
	sb->capacity_chunks = htole64(cap);
	sb->journal_start = htole64(l.journal_start);
	sb->map_start = htole64(l.map_start);
	sb->map_blocks = htole64(l.map_blocks);
	sb->bitmap_start = htole64(l.bitmap_start);
	sb->bitmap_blocks = htole64(l.bitmap_blocks);
	sb->data_start = htole64(l.data_start);
	sb->base_sectors = htole64(base_bytes >> UB_SECTOR_SHIFT);
	sb->base_fingerprint = htole32(fp);
	if (o->uuid) {
		memcpy(sb->uuid, o->uuid, 16);
	} else {
		if (getrandom(sb->uuid, 16, 0) != 16) {
			r = ub_fail(d, -errno, "getrandom: %s", strerror(errno));
			goto out;
		}
		sb->uuid[6] = (sb->uuid[6] & 0x0f) | 0x40;	/* v4 */
		sb->uuid[8] = (sb->uuid[8] & 0x3f) | 0x80;
	}
	r = set_name(sb->tenant_name, o->tenant, "tenant name", d);
	if (!r)
		r = set_name(sb->base_name, o->base_name, "base name", d);
	if (r)
		goto out;
	sb->created = htole64(o->created ? o->created : (uint64_t)time(NULL));

	/* 2. the copy, then the primary */
	for (k = UB_SB_COPY_BLOCK; k >= UB_SB_BLOCK; k--) {
		ub_block_finish(blk, k, 0, UB_BT_SUPER);
		r = ub_pwrite(fd, blk, UB_BLOCK_SIZE, (uint64_t)k * UB_BLOCK_SIZE);
		if (!r)
			r = ub_flush(fd, sblk);
		if (r) {
			r = ub_fail(d, r, "%s: writing the superblock: %s", path,
				    strerror(-r));
			goto out;
		}
	}
	r = 0;
out:
	free(blk);
	free(old);
	if (fd >= 0)
		close(fd);
	if (bfd >= 0)
		close(bfd);
	return r;
}
