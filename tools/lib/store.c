// SPDX-License-Identifier: GPL-2.0
/*
 * Opening a store: pick a valid superblock, derive and validate the
 * geometry, find the committed journal transaction and keep its images
 * to overlay the home blocks (replay in memory; nothing is written).
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libunionblk.h"

#define JH_SIZE		sizeof(struct ub_journal_header)

int ub_sb_validate(const void *blk, uint64_t blocknr, uint64_t store_bytes,
		   char *why, size_t n)
{
	const struct ub_superblock *sb = blk;
	uint32_t v, cs, jb;
	uint64_t cap;
	struct ub_layout l;

	v = le32toh(sb->hdr.magic);
	if (v != UB_BLOCK_MAGIC) {
		snprintf(why, n, "bad block magic 0x%08x", v);
		return -EUCLEAN;
	}
	if (le32toh(sb->hdr.csum) != ub_block_csum(blk)) {
		snprintf(why, n, "checksum mismatch");
		return -EUCLEAN;
	}
	if (le32toh(sb->hdr.type) != UB_BT_SUPER) {
		snprintf(why, n, "block type %u, expected %u",
			 le32toh(sb->hdr.type), UB_BT_SUPER);
		return -EUCLEAN;
	}
	if (le64toh(sb->hdr.blocknr) != blocknr) {
		snprintf(why, n, "block number %" PRIu64 ", expected %" PRIu64,
			 (uint64_t)le64toh(sb->hdr.blocknr), blocknr);
		return -EUCLEAN;
	}
	if (le64toh(sb->hdr.seq) != 0) {
		snprintf(why, n, "seq %" PRIu64 ", expected 0",
			 (uint64_t)le64toh(sb->hdr.seq));
		return -EUCLEAN;
	}
	if (le64toh(sb->magic) != UB_SB_MAGIC) {
		snprintf(why, n, "bad superblock magic 0x%016" PRIx64,
			 (uint64_t)le64toh(sb->magic));
		return -EUCLEAN;
	}
	v = le32toh(sb->version);
	if (v != UB_FORMAT_VERSION) {
		snprintf(why, n, "unsupported format version %u", v);
		return -EUCLEAN;
	}
	cs = le32toh(sb->chunk_sectors);
	if (cs < UB_MIN_CHUNK_SECTORS || cs > UB_MAX_CHUNK_SECTORS ||
	    (cs & (cs - 1))) {
		snprintf(why, n,
			 "chunk_sectors %u is not a power of two in [%u, %u]",
			 cs, UB_MIN_CHUNK_SECTORS, UB_MAX_CHUNK_SECTORS);
		return -EUCLEAN;
	}
	jb = le32toh(sb->journal_blocks);
	if (jb < UB_MIN_JOURNAL_BLOCKS || jb > UB_MAX_JOURNAL_BLOCKS) {
		snprintf(why, n, "journal_blocks %u outside [%u, %u]", jb,
			 UB_MIN_JOURNAL_BLOCKS, UB_MAX_JOURNAL_BLOCKS);
		return -EUCLEAN;
	}
	cap = le64toh(sb->capacity_chunks);
	if (cap == 0 || cap > UB_MAP_MAX_DATA_CHUNKS) {
		snprintf(why, n, "capacity_chunks %" PRIu64
			 " outside [1, %llu]", cap, UB_MAP_MAX_DATA_CHUNKS);
		return -EUCLEAN;
	}
	ub_compute_layout(cap, cs, jb, &l);
#define CHECK_FIELD(f)							\
	do {								\
		if (le64toh(sb->f) != l.f) {				\
			snprintf(why, n, #f " %" PRIu64			\
				 ", the layout gives %" PRIu64,		\
				 (uint64_t)le64toh(sb->f), (uint64_t)l.f); \
			return -EUCLEAN;				\
		}							\
	} while (0)
	CHECK_FIELD(journal_start);
	CHECK_FIELD(map_start);
	CHECK_FIELD(map_blocks);
	CHECK_FIELD(bitmap_start);
	CHECK_FIELD(bitmap_blocks);
	CHECK_FIELD(data_start);
#undef CHECK_FIELD
	if (l.data_start >= store_bytes >> UB_SECTOR_SHIFT) {
		snprintf(why, n, "data_start sector %" PRIu64
			 " not below the store size (%" PRIu64 " sectors)",
			 (uint64_t)l.data_start, store_bytes >> UB_SECTOR_SHIFT);
		return -EUCLEAN;
	}
	return 0;
}

/* The two superblock copies differ only in blocknr and csum. */
static bool sb_copies_equal(const uint8_t *b0, const uint8_t *b1)
{
	size_t bn = offsetof(struct ub_block_header, blocknr);

	if (memcmp(b0, b1, 4))
		return false;
	return !memcmp(b0 + bn + 8, b1 + bn + 8, UB_BLOCK_SIZE - bn - 8);
}

int ub_read_block(struct ub_store *s, uint64_t blocknr, void *buf,
		  struct ub_diag *d)
{
	int r;

	if (blocknr >= s->size_bytes / UB_BLOCK_SIZE)
		return ub_fail(d, -EIO,
			       "%s: block %" PRIu64 " is beyond the end of the store",
			       s->path, blocknr);
	r = ub_pread(s->fd, buf, UB_BLOCK_SIZE, blocknr * UB_BLOCK_SIZE);
	if (r)
		return ub_fail(d, r, "%s: reading block %" PRIu64 ": %s",
			       s->path, blocknr, strerror(-r));
	return 0;
}

const void *ub_journal_image(const struct ub_store *s, uint64_t blocknr)
{
	uint32_t lo = 0, hi = s->nr_images;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (s->img_home[mid] == blocknr)
			return s->img + (size_t)mid * UB_BLOCK_SIZE;
		if (s->img_home[mid] < blocknr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int ub_get_block(struct ub_store *s, uint64_t blocknr, void *buf,
		 struct ub_diag *d)
{
	const void *img = ub_journal_image(s, blocknr);

	if (img) {
		memcpy(buf, img, UB_BLOCK_SIZE);
		return 0;
	}
	return ub_read_block(s, blocknr, buf, d);
}

/* ------------------------------------------------------------------ */
/* Journal                                                             */

struct slot_data {
	uint8_t *hdr;		/* header block */
	uint8_t *img;		/* nr_blocks images */
};

static bool in_region(uint64_t b, uint64_t start, uint64_t count)
{
	return b >= start && b - start < count;
}

/* Read and validate slot k; images kept in sd when valid. */
static int load_slot(struct ub_store *s, unsigned int k, struct slot_data *sd,
		     struct ub_diag *d)
{
	struct ub_slot *sl = &s->slot[k];
	const struct ub_journal_header *jh;
	uint64_t h = ub_journal_slot(s->lay.journal_start, s->journal_blocks, k);
	uint32_t i, nr, cap = ub_journal_capacity(s->journal_blocks);
	char why[160];
	int r;

	sl->blocknr = h;
	sd->hdr = malloc(UB_BLOCK_SIZE);
	if (!sd->hdr)
		return ub_fail(d, -ENOMEM, "out of memory");
	r = ub_read_block(s, h, sd->hdr, d);
	if (r)
		return r;
	if (ub_block_is_zero(sd->hdr)) {
		sl->state = UB_SLOT_EMPTY;
		return 0;
	}
	sl->state = UB_SLOT_INVALID;
	jh = (const void *)sd->hdr;
	if (le32toh(jh->hdr.magic) != UB_BLOCK_MAGIC) {
		snprintf(sl->why, sizeof(sl->why), "bad magic 0x%08x",
			 le32toh(jh->hdr.magic));
		return 0;
	}
	if (le32toh(jh->hdr.csum) != ub_block_csum(sd->hdr)) {
		snprintf(sl->why, sizeof(sl->why), "checksum mismatch");
		return 0;
	}
	if (le32toh(jh->hdr.type) != UB_BT_JOURNAL) {
		snprintf(sl->why, sizeof(sl->why), "block type %u, expected %u",
			 le32toh(jh->hdr.type), UB_BT_JOURNAL);
		return 0;
	}
	if (le64toh(jh->hdr.blocknr) != h) {
		snprintf(sl->why, sizeof(sl->why),
			 "block number %" PRIu64 ", expected %" PRIu64,
			 (uint64_t)le64toh(jh->hdr.blocknr), h);
		return 0;
	}
	sl->seq = le64toh(jh->hdr.seq);
	if (sl->seq % 2 != k) {
		snprintf(sl->why, sizeof(sl->why),
			 "seq %" PRIu64 " does not belong in slot %u", sl->seq, k);
		return 0;
	}
	nr = le32toh(jh->nr_blocks);
	sl->nr_blocks = nr;
	if (nr > cap) {
		snprintf(sl->why, sizeof(sl->why),
			 "nr_blocks %u above the slot capacity %u", nr, cap);
		return 0;
	}
	if (nr) {
		sd->img = malloc((size_t)nr * UB_BLOCK_SIZE);
		if (!sd->img)
			return ub_fail(d, -ENOMEM, "out of memory");
		if ((h + 1 + nr) > s->size_bytes / UB_BLOCK_SIZE)
			return ub_fail(d, -EIO, "%s: journal slot %u beyond the end of the store",
				       s->path, k);
		r = ub_pread(s->fd, sd->img, (size_t)nr * UB_BLOCK_SIZE,
			     (h + 1) * UB_BLOCK_SIZE);
		if (r)
			return ub_fail(d, r, "%s: reading journal slot %u: %s",
				       s->path, k, strerror(-r));
	}
	for (i = 0; i < nr; i++) {
		const uint8_t *img = sd->img + (size_t)i * UB_BLOCK_SIZE;
		uint64_t home = ub_le64(sd->hdr + JH_SIZE + 8 * (size_t)i);
		uint32_t type = ub_le32(img + offsetof(struct ub_block_header,
						      type));
		enum ub_blk_status st;

		if (type == UB_BT_MAP &&
		    !in_region(home, s->lay.map_start, s->lay.map_blocks)) {
			snprintf(sl->why, sizeof(sl->why),
				 "image %u: home %" PRIu64 " outside the map region",
				 i, home);
			return 0;
		}
		if (type == UB_BT_BITMAP &&
		    !in_region(home, s->lay.bitmap_start, s->lay.bitmap_blocks)) {
			snprintf(sl->why, sizeof(sl->why),
				 "image %u: home %" PRIu64 " outside the bitmap region",
				 i, home);
			return 0;
		}
		if (type != UB_BT_MAP && type != UB_BT_BITMAP)
			type = UB_BT_MAP;	/* reported as wrong type */
		st = ub_meta_block_status(img, home, type, UINT64_MAX, why,
					  sizeof(why));
		if (st == UB_BLK_ZERO) {
			snprintf(sl->why, sizeof(sl->why),
				 "image %u (home %" PRIu64 ") is all zeroes", i,
				 home);
			return 0;
		}
		if (st != UB_BLK_OK) {
			snprintf(sl->why, sizeof(sl->why),
				 "image %u (home %" PRIu64 "): %s", i, home, why);
			return 0;
		}
		if (ub_le64(img + offsetof(struct ub_block_header, seq)) !=
		    sl->seq) {
			snprintf(sl->why, sizeof(sl->why),
				 "image %u (home %" PRIu64 "): seq %" PRIu64
				 ", expected %" PRIu64, i, home,
				 ub_le64(img + offsetof(struct ub_block_header, seq)),
				 sl->seq);
			return 0;
		}
	}
	sl->state = UB_SLOT_VALID;
	return 0;
}

struct img_ref {
	uint64_t home;
	uint32_t idx;
};

static int img_cmp(const void *a, const void *b)
{
	const struct img_ref *x = a, *y = b;

	if (x->home != y->home)
		return x->home < y->home ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Keep the winner's images sorted by home; a later image of a home wins. */
static int adopt_images(struct ub_store *s, struct slot_data *sd, uint32_t nr,
			struct ub_diag *d)
{
	struct img_ref *refs;
	uint32_t i, n = 0;

	if (!nr)
		return 0;
	refs = calloc(nr, sizeof(*refs));
	s->img_home = calloc(nr, sizeof(*s->img_home));
	s->img = malloc((size_t)nr * UB_BLOCK_SIZE);
	if (!refs || !s->img_home || !s->img) {
		free(refs);
		return ub_fail(d, -ENOMEM, "out of memory");
	}
	for (i = 0; i < nr; i++) {
		refs[i].home = ub_le64(sd->hdr + JH_SIZE + 8 * (size_t)i);
		refs[i].idx = i;
	}
	qsort(refs, nr, sizeof(*refs), img_cmp);
	for (i = 0; i < nr; i++) {
		if (i + 1 < nr && refs[i + 1].home == refs[i].home)
			continue;
		s->img_home[n] = refs[i].home;
		memcpy(s->img + (size_t)n * UB_BLOCK_SIZE,
		       sd->img + (size_t)refs[i].idx * UB_BLOCK_SIZE,
		       UB_BLOCK_SIZE);
		n++;
	}
	s->nr_images = n;
	free(refs);
	return 0;
}

static int load_journal(struct ub_store *s, unsigned int flags,
			struct ub_diag *d)
{
	struct slot_data sd[2] = { { 0 }, { 0 } };
	bool tolerant = flags & UB_OPEN_TOLERANT;
	int k, win = -1, r;

	for (k = 0; k < 2; k++) {
		r = load_slot(s, k, &sd[k], d);
		if (r)
			goto out;
	}
	if (s->slot[0].state == UB_SLOT_VALID &&
	    s->slot[1].state == UB_SLOT_VALID &&
	    s->slot[0].seq == s->slot[1].seq) {
		if (!tolerant) {
			r = ub_fail(d, -EUCLEAN,
				    "%s: journal slots 0 and 1 both hold seq %" PRIu64,
				    s->path, s->slot[0].seq);
			goto out;
		}
		ub_problem(d, UB_ERR, "journal: slots 0 and 1 both hold seq %" PRIu64,
			   s->slot[0].seq);
	}
	for (k = 0; k < 2; k++)
		if (s->slot[k].state == UB_SLOT_VALID &&
		    (win < 0 || s->slot[k].seq > s->slot[win].seq))
			win = k;

	for (k = 0; k < 2; k++) {
		struct ub_slot *sl = &s->slot[k];

		if (sl->state != UB_SLOT_INVALID)
			continue;
		if (win >= 0 || k == 1) {
			ub_problem(d, UB_WARN,
				   "journal slot %d (block %" PRIu64 "): %s transaction ignored: %s",
				   k, sl->blocknr, win >= 0 ? "torn or stale" :
				   "torn first", sl->why);
			continue;
		}
		if (!tolerant) {
			r = ub_fail(d, -EUCLEAN,
				    "%s: journal slot 0 (block %" PRIu64 "): %s, and no slot is valid: the committed state is lost",
				    s->path, sl->blocknr, sl->why);
			goto out;
		}
		ub_problem(d, UB_ERR,
			   "journal slot 0 (block %" PRIu64 "): %s, and no slot is valid: the committed state is lost",
			   sl->blocknr, sl->why);
	}

	memset(&s->st, 0, sizeof(s->st));
	s->st.slot = win;
	if (win >= 0) {
		const struct ub_journal_header *jh = (const void *)sd[win].hdr;

		s->st.seq = s->slot[win].seq;
		s->st.flags = le32toh(jh->flags);
		s->st.mapped_chunks = le64toh(jh->mapped_chunks);
		s->st.whiteout_chunks = le64toh(jh->whiteout_chunks);
		s->st.alloc_cursor = le64toh(jh->alloc_cursor);
		s->st.data_chunks = le64toh(jh->data_chunks);
		r = adopt_images(s, &sd[win], s->slot[win].nr_blocks, d);
		if (r)
			goto out;
	}
	r = 0;
out:
	for (k = 0; k < 2; k++) {
		free(sd[k].hdr);
		free(sd[k].img);
	}
	return r;
}

/* ------------------------------------------------------------------ */
/* Base                                                                */

static int open_base(struct ub_store *s, const char *base, struct ub_diag *d)
{
	bool busy;
	int r;

	s->base_path = strdup(base);
	if (!s->base_path)
		return ub_fail(d, -ENOMEM, "out of memory");
	r = ub_open_dev(base, false, &s->base_fd, &s->base_blkdev, &busy, d);
	if (r)
		return r;
	r = ub_fd_size(s->base_fd, &s->base_bytes, &s->base_blkdev);
	if (r)
		return ub_fail(d, r, "%s: %s", base, strerror(-r));
	/* like the kernel, see whole sectors only (a loop device would) */
	s->base_bytes &= ~(uint64_t)((1 << UB_SECTOR_SHIFT) - 1);
	if (s->base_bytes < UB_FP_SAMPLE_SIZE)
		return ub_fail(d, -EINVAL,
			       "%s: base too small (%" PRIu64 " bytes, at least %u)",
			       base, s->base_bytes, UB_FP_SAMPLE_SIZE);
	return 0;
}

int ub_check_base(struct ub_store *s, struct ub_diag *d)
{
	uint64_t want_sectors = le64toh(s->sb.base_sectors);
	uint32_t want_fp = le32toh(s->sb.base_fingerprint), fp;
	int r;

	if (s->base_fd < 0)
		return ub_fail(d, -EINVAL, "no base given");
	s->base_checked = true;
	s->base_matches = false;
	if (s->base_bytes >> UB_SECTOR_SHIFT != want_sectors) {
		snprintf(s->base_why, sizeof(s->base_why),
			 "base %s: size %" PRIu64 " sectors, the store was formatted over %" PRIu64,
			 s->base_path, s->base_bytes >> UB_SECTOR_SHIFT,
			 want_sectors);
		ub_problem(d, UB_ERR, "%s", s->base_why);
		return 0;
	}
	r = ub_fingerprint(s->base_fd, s->base_bytes, &fp, d);
	if (r)
		return r;
	if (fp != want_fp) {
		snprintf(s->base_why, sizeof(s->base_why),
			 "base %s: fingerprint 0x%08x, the store expects 0x%08x (a different or modified base)",
			 s->base_path, fp, want_fp);
		ub_problem(d, UB_ERR, "%s", s->base_why);
		return 0;
	}
	s->base_matches = true;
	return 0;
}

/* ------------------------------------------------------------------ */

void ub_close(struct ub_store *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	if (s->base_fd >= 0)
		close(s->base_fd);
	free(s->path);
	free(s->base_path);
	free(s->img_home);
	free(s->img);
	free(s);
}

int ub_open(const char *path, const char *base, unsigned int flags,
	    struct ub_store **out, struct ub_diag *d)
{
	bool tolerant = flags & UB_OPEN_TOLERANT;
	uint8_t *blk[2] = { NULL, NULL };
	struct ub_store *s;
	uint64_t store_sectors;
	int k, r;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return ub_fail(d, -ENOMEM, "out of memory");
	s->fd = -1;
	s->base_fd = -1;
	s->rw = flags & UB_OPEN_RW;
	s->path = strdup(path);
	if (!s->path) {
		r = ub_fail(d, -ENOMEM, "out of memory");
		goto fail;
	}
	r = ub_open_dev(path, s->rw, &s->fd, &s->blkdev, &s->busy, d);
	if (r)
		goto fail;
	if (s->busy)
		ub_problem(d, UB_WARN,
			   "%s is in use (an active table?): what it reads may change under it",
			   path);
	r = ub_fd_size(s->fd, &s->size_bytes, &s->blkdev);
	if (r) {
		r = ub_fail(d, r, "%s: %s", path, strerror(-r));
		goto fail;
	}
	if (s->size_bytes < 2 * UB_BLOCK_SIZE) {
		r = ub_fail(d, -EUCLEAN,
			    "%s: too small to hold a unionblk store (%" PRIu64 " bytes)",
			    path, s->size_bytes);
		goto fail;
	}

	for (k = 0; k < 2; k++) {
		blk[k] = malloc(UB_BLOCK_SIZE);
		if (!blk[k]) {
			r = ub_fail(d, -ENOMEM, "out of memory");
			goto fail;
		}
		r = ub_read_block(s, k, blk[k], d);
		if (r)
			goto fail;
		s->sb_bad[k] = ub_sb_validate(blk[k], k, s->size_bytes,
					      s->sb_why[k],
					      sizeof(s->sb_why[k])) != 0;
	}
	if (s->sb_bad[0] && s->sb_bad[1]) {
		r = ub_fail(d, -EUCLEAN,
			    "%s: no valid superblock: block 0: %s; block 1: %s",
			    path, s->sb_why[0], s->sb_why[1]);
		goto fail;
	}
	s->sb_block = s->sb_bad[0] ? 1 : 0;
	memcpy(&s->sb, blk[s->sb_block], sizeof(s->sb));
	if (s->sb_bad[0])
		ub_problem(d, UB_ERR,
			   "superblock (block 0): %s; using the copy at block 1",
			   s->sb_why[0]);
	else if (s->sb_bad[1])
		ub_problem(d, UB_ERR, "superblock copy (block 1): %s",
			   s->sb_why[1]);
	else if (!sb_copies_equal(blk[0], blk[1])) {
		s->sb_copies_differ = true;
		ub_problem(d, UB_ERR,
			   "superblock copies at blocks 0 and 1 differ; using block 0");
	}

	s->chunk_sectors = le32toh(s->sb.chunk_sectors);
	s->chunk_bytes = s->chunk_sectors << UB_SECTOR_SHIFT;
	s->journal_blocks = le32toh(s->sb.journal_blocks);
	s->capacity = le64toh(s->sb.capacity_chunks);
	ub_compute_layout(s->capacity, s->chunk_sectors, s->journal_blocks,
			  &s->lay);
	s->meta_blocks = s->lay.bitmap_start + s->lay.bitmap_blocks;
	store_sectors = s->size_bytes >> UB_SECTOR_SHIFT;
	s->data_chunks = (store_sectors - s->lay.data_start) / s->chunk_sectors;
	if (s->data_chunks > s->capacity)
		s->data_chunks = s->capacity;

	r = load_journal(s, flags, d);
	if (r)
		goto fail;

	if (base) {
		r = open_base(s, base, d);
		if (r)
			goto fail;
		r = ub_check_base(s, d);
		if (r)
			goto fail;
		if (!s->base_matches && !tolerant) {
			r = ub_fail(d, -EUCLEAN, "%s", s->base_why);
			goto fail;
		}
	}
	free(blk[0]);
	free(blk[1]);
	*out = s;
	return 0;
fail:
	free(blk[0]);
	free(blk[1]);
	ub_close(s);
	return r;
}
