// SPDX-License-Identifier: GPL-2.0
/*
 * Writing metadata safely.  Two protocols:
 *
 * - Journal (AUTO, when the changed blocks fit in a slot): exactly the
 *   target's commit: images and a header carrying the new counters go
 *   to the slot not holding the committed transaction, a flush makes
 *   them durable, then the blocks are written home and flushed.  A crash
 *   before the header is durable leaves the old transaction in force; a
 *   crash after it replays the new one.
 *
 * - Full rewrite (restore, big repairs): the superblocks are zeroed and
 *   flushed first, then the journal and metadata regions are rewritten
 *   and flushed, then the superblock copy at block 1 and the one at
 *   block 0.  A crash in between leaves no valid superblock, so nothing
 *   activates a half-written store; the caller's backup (repair) or
 *   dump (restore) recreates it.
 *
 * Blocks are compared with what is on disk at their home, not with the
 * replayed view, so that images of the committed transaction that have
 * not reached their homes yet are carried into the new one.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libunionblk.h"

#define HDR_SIZE	sizeof(struct ub_block_header)
#define JH_SIZE		sizeof(struct ub_journal_header)
#define BATCH		64

void ub_meta_free(struct ub_meta *m)
{
	free(m->map);
	m->map = NULL;
}

void ub_meta_count(const struct ub_meta *m, uint64_t *mapped,
		   uint64_t *whiteouts)
{
	uint64_t v, nm = 0, nw = 0;

	for (v = 0; v < m->capacity; v++) {
		if (m->map[v] == UB_MAP_WHITEOUT)
			nw++;
		else if (m->map[v] != UB_MAP_UNMAPPED)
			nm++;
	}
	*mapped = nm;
	*whiteouts = nw;
}

int ub_meta_validate(const struct ub_meta *m, uint64_t data_chunks,
		     struct ub_diag *d)
{
	uint8_t *seen;
	uint64_t v, nm = 0, nw = 0;
	int r = 0;

	if (m->capacity != le64toh(m->sb.capacity_chunks))
		return ub_fail(d, -EINVAL,
			       "map has %" PRIu64 " entries, the superblock says %" PRIu64 " chunks",
			       m->capacity, (uint64_t)le64toh(m->sb.capacity_chunks));
	seen = calloc(1, data_chunks / 8 + 1);
	if (!seen)
		return ub_fail(d, -ENOMEM, "out of memory");
	for (v = 0; v < m->capacity; v++) {
		uint64_t dc;

		if (m->map[v] == UB_MAP_UNMAPPED)
			continue;
		if (m->map[v] == UB_MAP_WHITEOUT) {
			nw++;
			continue;
		}
		nm++;
		dc = (uint64_t)m->map[v] - 1;
		if (dc >= data_chunks) {
			r = ub_fail(d, -ERANGE,
				    "chunk %" PRIu64 ": data chunk %" PRIu64 " beyond the store's %" PRIu64 " data chunks",
				    v, dc, data_chunks);
			goto out;
		}
		if (seen[dc / 8] & (1U << (dc % 8))) {
			r = ub_fail(d, -EINVAL,
				    "chunk %" PRIu64 ": data chunk %" PRIu64 " is mapped more than once",
				    v, dc);
			goto out;
		}
		seen[dc / 8] |= 1U << (dc % 8);
	}
	if (nm != m->mapped_chunks || nw != m->whiteout_chunks) {
		r = ub_fail(d, -EINVAL,
			    "counters say %" PRIu64 " mapped and %" PRIu64 " whiteout chunks, the map has %" PRIu64 " and %" PRIu64,
			    m->mapped_chunks, m->whiteout_chunks, nm, nw);
		goto out;
	}
	if (m->seq == 0 && (nm || nw || m->alloc_cursor || m->jflags)) {
		r = ub_fail(d, -EINVAL,
			    "seq 0 is the freshly formatted state: it has no mappings, flags or allocation cursor");
		goto out;
	}
out:
	free(seen);
	return r;
}

/* ------------------------------------------------------------------ */
/* Building blocks                                                     */

struct writer {
	int fd;
	bool blk;
	const char *path;
	uint64_t size_bytes;
	struct ub_layout lay;
	uint32_t journal_blocks;
	uint64_t data_chunks;
	const struct ub_meta *m;
	uint64_t seq;
	uint8_t *bitmap;	/* bitmap_blocks * UB_BITMAP_BITS bits */
};

/* Payload of map block idx; returns whether any entry is non-zero. */
static bool build_map(const struct writer *w, uint64_t idx, uint8_t *blk)
{
	uint64_t first = idx * UB_MAP_ENTRIES, v;
	uint8_t *p = blk + HDR_SIZE;
	bool any = false;
	uint32_t i;

	memset(blk, 0, UB_BLOCK_SIZE);
	for (i = 0; i < UB_MAP_ENTRIES; i++) {
		v = first + i;
		if (v >= w->m->capacity)
			break;
		if (w->m->map[v]) {
			ub_put_le32(p + 4 * i, w->m->map[v]);
			any = true;
		}
	}
	return any;
}

static bool build_bitmap(const struct writer *w, uint64_t idx, uint8_t *blk)
{
	const size_t bytes = UB_BITMAP_BITS / 8;
	const uint8_t *src = w->bitmap + idx * bytes;
	size_t i;

	memset(blk, 0, HDR_SIZE);
	memcpy(blk + HDR_SIZE, src, bytes);
	for (i = 0; i < bytes; i++)
		if (src[i])
			return true;
	return false;
}

static int make_bitmap(struct writer *w, struct ub_diag *d)
{
	uint64_t v;

	w->bitmap = calloc(w->lay.bitmap_blocks ? w->lay.bitmap_blocks : 1,
			   UB_BITMAP_BITS / 8);
	if (!w->bitmap)
		return ub_fail(d, -ENOMEM, "out of memory");
	for (v = 0; v < w->m->capacity; v++) {
		uint32_t e = w->m->map[v];
		uint64_t dc;

		if (!ub_entry_is_mapped(e))
			continue;
		dc = (uint64_t)e - 1;
		w->bitmap[dc / 8] |= 1U << (dc % 8);
	}
	return 0;
}

/* Home block and builder of the i-th metadata block (map then bitmap). */
static uint64_t meta_home(const struct writer *w, uint64_t i)
{
	return i < w->lay.map_blocks ? w->lay.map_start + i :
	       w->lay.bitmap_start + (i - w->lay.map_blocks);
}

static bool build_meta(const struct writer *w, uint64_t i, uint8_t *blk,
		       uint32_t *type)
{
	if (i < w->lay.map_blocks) {
		*type = UB_BT_MAP;
		return build_map(w, i, blk);
	}
	*type = UB_BT_BITMAP;
	return build_bitmap(w, i - w->lay.map_blocks, blk);
}

static void build_sb(const struct ub_meta *m, uint64_t blocknr, uint8_t *blk)
{
	memset(blk, 0, UB_BLOCK_SIZE);
	memcpy(blk, &m->sb, sizeof(m->sb));
	ub_block_finish(blk, blocknr, 0, UB_BT_SUPER);
}

static void build_jheader(const struct writer *w, uint64_t h, uint32_t nr,
			  const uint64_t *homes, uint8_t *blk)
{
	struct ub_journal_header *jh = (void *)blk;
	uint32_t i;

	memset(blk, 0, UB_BLOCK_SIZE);
	jh->nr_blocks = htole32(nr);
	jh->flags = htole32(w->m->jflags);
	jh->mapped_chunks = htole64(w->m->mapped_chunks);
	jh->whiteout_chunks = htole64(w->m->whiteout_chunks);
	jh->alloc_cursor = htole64(w->m->alloc_cursor);
	jh->data_chunks = htole64(w->data_chunks);
	for (i = 0; i < nr; i++)
		ub_put_le64(blk + JH_SIZE + 8 * (size_t)i, homes[i]);
	ub_block_finish(blk, h, w->seq, UB_BT_JOURNAL);
}

static int wr(struct writer *w, const void *buf, size_t len, uint64_t block,
	      struct ub_diag *d)
{
	int r = ub_pwrite(w->fd, buf, len, block * UB_BLOCK_SIZE);

	if (r)
		return ub_fail(d, r, "%s: writing block %" PRIu64 ": %s",
			       w->path, block, strerror(-r));
	return 0;
}

static int flush(struct writer *w, struct ub_diag *d)
{
	int r = ub_flush(w->fd, w->blk);

	if (r)
		return ub_fail(d, r, "%s: flush: %s", w->path, strerror(-r));
	return 0;
}

/* ------------------------------------------------------------------ */
/* Full rewrite                                                        */

static int write_full(struct writer *w, bool dry_run,
		      struct ub_write_stats *ws, struct ub_diag *d)
{
	uint64_t nmeta = w->lay.map_blocks + w->lay.bitmap_blocks, i;
	uint64_t meta_end = w->lay.data_start << UB_SECTOR_SHIFT;
	uint8_t *blk = calloc(1, UB_BLOCK_SIZE);
	int r = 0;

	if (!blk)
		return ub_fail(d, -ENOMEM, "out of memory");
	ws->journaled = false;
	ws->full = true;
	ws->sb_rewritten = true;
	ws->blocks_changed = 0;
	if (!dry_run) {
		/* 1. no valid superblock while the rest is inconsistent */
		r = wr(w, blk, UB_BLOCK_SIZE, UB_SB_BLOCK, d);
		if (!r)
			r = wr(w, blk, UB_BLOCK_SIZE, UB_SB_COPY_BLOCK, d);
		if (!r)
			r = flush(w, d);
		/* 2. journal, map, bitmap and padding read as zeroes */
		if (!r) {
			r = ub_zero_range(w->fd, w->blk,
					  UB_JOURNAL_START * UB_BLOCK_SIZE,
					  meta_end - UB_JOURNAL_START * UB_BLOCK_SIZE);
			if (r)
				r = ub_fail(d, r, "%s: zeroing the metadata region: %s",
					    w->path, strerror(-r));
		}
		if (r)
			goto out;
	}
	/* 3. every block that is not all zeroes */
	for (i = 0; i < nmeta; i++) {
		uint32_t type;

		if (!build_meta(w, i, blk, &type))
			continue;
		ws->blocks_changed++;
		if (dry_run)
			continue;
		ub_block_finish(blk, meta_home(w, i), w->seq, type);
		r = wr(w, blk, UB_BLOCK_SIZE, meta_home(w, i), d);
		if (r)
			goto out;
	}
	if (dry_run)
		goto out;
	/* 4. the committed state: an empty transaction carrying the counters */
	if (w->seq) {
		uint64_t h = ub_journal_slot(w->lay.journal_start,
					     w->journal_blocks, w->seq % 2);

		build_jheader(w, h, 0, NULL, blk);
		r = wr(w, blk, UB_BLOCK_SIZE, h, d);
		if (r)
			goto out;
	}
	r = flush(w, d);
	if (r)
		goto out;
	/* 5. superblocks last: the copy, then the primary */
	build_sb(w->m, UB_SB_COPY_BLOCK, blk);
	r = wr(w, blk, UB_BLOCK_SIZE, UB_SB_COPY_BLOCK, d);
	if (r)
		goto out;
	build_sb(w->m, UB_SB_BLOCK, blk);
	r = wr(w, blk, UB_BLOCK_SIZE, UB_SB_BLOCK, d);
	if (!r)
		r = flush(w, d);
out:
	free(blk);
	return r;
}

/* ------------------------------------------------------------------ */
/* Journal transaction                                                 */

static bool same_geometry(const struct ub_superblock *a,
			  const struct ub_superblock *b)
{
	return a->chunk_sectors == b->chunk_sectors &&
	       a->journal_blocks == b->journal_blocks &&
	       a->capacity_chunks == b->capacity_chunks;
}

/*
 * Collect the blocks whose home differs from the new content, up to
 * max; returns the count (max + 1 when there are more).
 */
static int collect_changed(struct writer *w, struct ub_store *s, uint32_t max,
			   uint8_t *imgs, uint64_t *homes, uint64_t *count,
			   struct ub_diag *d)
{
	uint64_t nmeta = w->lay.map_blocks + w->lay.bitmap_blocks, i, j, n;
	uint8_t *batch = malloc((size_t)BATCH * UB_BLOCK_SIZE);
	uint8_t *blk = malloc(UB_BLOCK_SIZE);
	uint64_t nr = 0;
	char why[192];
	int r = 0;

	if (!batch || !blk) {
		r = ub_fail(d, -ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < nmeta; i += n) {
		uint64_t home0 = meta_home(w, i);

		/* a batch never spans the map/bitmap boundary */
		n = nmeta - i;
		if (i < w->lay.map_blocks && w->lay.map_blocks - i < n)
			n = w->lay.map_blocks - i;
		if (n > BATCH)
			n = BATCH;
		r = ub_pread(s->fd, batch, n * UB_BLOCK_SIZE,
			     home0 * UB_BLOCK_SIZE);
		if (r) {
			r = ub_fail(d, r, "%s: reading block %" PRIu64 ": %s",
				    s->path, home0, strerror(-r));
			goto out;
		}
		for (j = 0; j < n; j++) {
			const uint8_t *cur = batch + j * UB_BLOCK_SIZE;
			uint64_t home = home0 + j;
			enum ub_blk_status st;
			uint32_t type;
			bool any = build_meta(w, i + j, blk, &type);

			st = ub_meta_block_status(cur, home, type, w->seq, why,
						  sizeof(why));
			if (st == UB_BLK_ZERO && !any)
				continue;
			if (st == UB_BLK_OK &&
			    !memcmp(cur + HDR_SIZE, blk + HDR_SIZE,
				    UB_BLOCK_SIZE - HDR_SIZE))
				continue;
			if (nr < max) {
				ub_block_finish(blk, home, w->seq, type);
				memcpy(imgs + nr * UB_BLOCK_SIZE, blk,
				       UB_BLOCK_SIZE);
				homes[nr] = home;
			}
			nr++;
			if (nr > max)
				goto out;
		}
	}
out:
	*count = nr;
	free(batch);
	free(blk);
	return r;
}

static bool counters_equal(const struct ub_store *s, const struct ub_meta *m)
{
	return (s->st.slot < 0 || s->st.data_chunks == s->data_chunks) &&
	       s->st.mapped_chunks == m->mapped_chunks &&
	       s->st.whiteout_chunks == m->whiteout_chunks &&
	       s->st.alloc_cursor == m->alloc_cursor &&
	       s->st.flags == m->jflags;
}

static int write_journaled(struct writer *w, struct ub_store *s, bool dry_run,
			   struct ub_write_stats *ws, struct ub_diag *d)
{
	uint32_t cap = ub_journal_capacity(w->journal_blocks);
	uint8_t *imgs = malloc(((size_t)cap + 1) * UB_BLOCK_SIZE);
	uint64_t *homes = calloc(cap + 1, sizeof(*homes));
	uint8_t *blk = malloc(UB_BLOCK_SIZE);
	bool sb_dirty;
	uint64_t nr, h, i;
	unsigned int k;
	int r;

	if (!imgs || !homes || !blk) {
		r = ub_fail(d, -ENOMEM, "out of memory");
		goto out;
	}
	r = collect_changed(w, s, cap, imgs, homes, &nr, d);
	if (r)
		goto out;
	if (nr > cap) {
		r = 1;		/* does not fit: caller goes full */
		goto out;
	}
	ws->blocks_changed = nr;
	sb_dirty = s->sb_bad[0] || s->sb_bad[1] || s->sb_copies_differ ||
		   memcmp(&s->sb.magic, &w->m->sb.magic,
			  sizeof(s->sb) - offsetof(struct ub_superblock, magic));
	ws->sb_rewritten = sb_dirty;
	k = w->seq % 2;
	ws->journaled = nr || !counters_equal(s, w->m) ||
			s->slot[!k].state == UB_SLOT_INVALID ||
			s->slot[k].state == UB_SLOT_INVALID;
	if (dry_run)
		goto out;

	if (ws->journaled) {
		h = ub_journal_slot(w->lay.journal_start, w->journal_blocks, k);
		if (nr) {
			r = wr(w, imgs, nr * UB_BLOCK_SIZE, h + 1, d);
			if (r)
				goto out;
		}
		build_jheader(w, h, nr, homes, blk);
		r = wr(w, blk, UB_BLOCK_SIZE, h, d);
		if (!r)
			r = flush(w, d);
		if (r)
			goto out;
		/* committed: now the homes */
		for (i = 0; i < nr; i++) {
			r = wr(w, imgs + i * UB_BLOCK_SIZE, UB_BLOCK_SIZE,
			       homes[i], d);
			if (r)
				goto out;
		}
		/* a torn slot left beside the new commit is cleared */
		if (s->slot[!k].state == UB_SLOT_INVALID) {
			memset(blk, 0, UB_BLOCK_SIZE);
			r = wr(w, blk, UB_BLOCK_SIZE, s->slot[!k].blocknr, d);
			if (r)
				goto out;
		}
		r = flush(w, d);
		if (r)
			goto out;
	}
	if (sb_dirty) {
		build_sb(w->m, UB_SB_COPY_BLOCK, blk);
		r = wr(w, blk, UB_BLOCK_SIZE, UB_SB_COPY_BLOCK, d);
		if (!r)
			r = flush(w, d);
		if (r)
			goto out;
		build_sb(w->m, UB_SB_BLOCK, blk);
		r = wr(w, blk, UB_BLOCK_SIZE, UB_SB_BLOCK, d);
		if (!r)
			r = flush(w, d);
	}
out:
	free(imgs);
	free(homes);
	free(blk);
	return r;
}

/* ------------------------------------------------------------------ */

static int writer_init(struct writer *w, int fd, bool blk, const char *path,
		       uint64_t size_bytes, const struct ub_meta *m,
		       struct ub_diag *d)
{
	uint8_t *sbblk = malloc(UB_BLOCK_SIZE);
	char why[192];
	int r;

	if (!sbblk)
		return ub_fail(d, -ENOMEM, "out of memory");
	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->blk = blk;
	w->path = path;
	w->size_bytes = size_bytes;
	w->m = m;
	w->seq = m->seq;
	build_sb(m, UB_SB_BLOCK, sbblk);
	r = ub_sb_validate(sbblk, UB_SB_BLOCK, size_bytes, why, sizeof(why));
	free(sbblk);
	if (r)
		return ub_fail(d, r, "%s: the superblock to write is not valid for this store: %s",
			       path, why);
	w->journal_blocks = le32toh(m->sb.journal_blocks);
	ub_compute_layout(le64toh(m->sb.capacity_chunks),
			  le32toh(m->sb.chunk_sectors), w->journal_blocks,
			  &w->lay);
	w->data_chunks = ((size_bytes >> UB_SECTOR_SHIFT) - w->lay.data_start) /
			 le32toh(m->sb.chunk_sectors);
	if (w->data_chunks > m->capacity)
		w->data_chunks = m->capacity;
	r = ub_meta_validate(m, w->data_chunks, d);
	if (r)
		return r;
	return make_bitmap(w, d);
}

int ub_meta_write(struct ub_store *s, const struct ub_meta *m,
		  enum ub_write_mode mode, bool dry_run,
		  struct ub_write_stats *ws, struct ub_diag *d)
{
	struct ub_write_stats local;
	struct writer w;
	int r;

	if (!ws)
		ws = &local;
	memset(ws, 0, sizeof(*ws));
	if (!s->rw && !dry_run)
		return ub_fail(d, -EROFS, "%s: opened read-only", s->path);
	r = writer_init(&w, s->fd, s->blkdev, s->path, s->size_bytes, m, d);
	if (r)
		goto out;
	if (mode == UB_WRITE_AUTO && same_geometry(&s->sb, &m->sb) &&
	    m->seq > s->st.seq &&
	    (s->st.slot < 0 || m->seq % 2 != (uint64_t)s->st.slot)) {
		r = write_journaled(&w, s, dry_run, ws, d);
		if (r <= 0)
			goto out;
	}
	r = write_full(&w, dry_run, ws, d);
out:
	free(w.bitmap);
	return r;
}

int ub_meta_restore(const char *path, const struct ub_meta *m, bool dry_run,
		    struct ub_write_stats *ws, struct ub_diag *d)
{
	struct ub_write_stats local;
	struct writer w = { 0 };
	uint64_t size;
	bool blk, busy;
	int fd = -1, r;

	if (!ws)
		ws = &local;
	memset(ws, 0, sizeof(*ws));
	r = ub_open_dev(path, !dry_run, &fd, &blk, &busy, d);
	if (r)
		return r;
	r = ub_fd_size(fd, &size, &blk);
	if (r) {
		r = ub_fail(d, r, "%s: %s", path, strerror(-r));
		goto out;
	}
	r = writer_init(&w, fd, blk, path, size, m, d);
	if (r)
		goto out;
	r = write_full(&w, dry_run, ws, d);
out:
	free(w.bitmap);
	close(fd);
	return r;
}

int ub_backup_metadata(struct ub_store *s, const char *path,
		       struct ub_diag *d)
{
	uint64_t len = s->lay.data_start << UB_SECTOR_SHIFT, off = 0;
	size_t bufsz = 1 << 20;
	uint8_t *buf = malloc(bufsz);
	int fd, r = 0;

	if (!buf)
		return ub_fail(d, -ENOMEM, "out of memory");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = ub_fail(d, -errno, "%s: %s", path, strerror(errno));
		free(buf);
		return r;
	}
	while (off < len) {
		size_t n = len - off < bufsz ? len - off : bufsz;

		r = ub_pread(s->fd, buf, n, off);
		if (r) {
			r = ub_fail(d, r, "%s: reading metadata at %" PRIu64 ": %s",
				    s->path, off, strerror(-r));
			break;
		}
		r = ub_pwrite(fd, buf, n, off);
		if (r) {
			r = ub_fail(d, r, "%s: %s", path, strerror(-r));
			break;
		}
		off += n;
	}
	if (!r && fsync(fd) < 0)
		r = ub_fail(d, -errno, "%s: fsync: %s", path, strerror(errno));
	close(fd);
	if (r)
		unlink(path);
	free(buf);
	return r;
}
