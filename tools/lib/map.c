// SPDX-License-Identifier: GPL-2.0
/*
 * The mapping table as the target sees it after replay: walking it block
 * by block, runs of changed chunks, and reading the virtual device.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "libunionblk.h"

#define WALK_BATCH	64	/* map blocks read per pread */
#define HDR_SEQ_OFF	16

static void decode_entries(const uint8_t *blk, uint32_t *e)
{
	const uint8_t *p = blk + sizeof(struct ub_block_header);
	uint32_t i;

	for (i = 0; i < UB_MAP_ENTRIES; i++)
		e[i] = ub_le32(p + 4 * i);
}

int ub_map_walk(struct ub_store *s, ub_map_fn fn, void *ctx,
		struct ub_diag *d)
{
	uint8_t *batch = malloc((size_t)WALK_BATCH * UB_BLOCK_SIZE);
	uint32_t *e = malloc(UB_MAP_ENTRIES * sizeof(*e));
	uint64_t i, j, n;
	char why[192];
	int r = 0;

	if (!batch || !e) {
		r = ub_fail(d, -ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < s->lay.map_blocks; i += n) {
		n = s->lay.map_blocks - i;
		if (n > WALK_BATCH)
			n = WALK_BATCH;
		r = ub_pread(s->fd, batch, n * UB_BLOCK_SIZE,
			     (s->lay.map_start + i) * UB_BLOCK_SIZE);
		if (r) {
			r = ub_fail(d, r, "%s: reading map blocks %" PRIu64 "-%" PRIu64 ": %s",
				    s->path, i, i + n - 1, strerror(-r));
			goto out;
		}
		for (j = 0; j < n; j++) {
			uint64_t idx = i + j, home = s->lay.map_start + idx;
			uint64_t first = idx * UB_MAP_ENTRIES;
			const uint8_t *blk = ub_journal_image(s, home);
			enum ub_blk_status st;
			uint32_t nr, tail = 0, t;

			if (!blk)
				blk = batch + j * UB_BLOCK_SIZE;
			why[0] = '\0';
			st = ub_meta_block_status(blk, home, UB_BT_MAP,
						  s->st.seq, why, sizeof(why));
			if (st == UB_BLK_OK || st == UB_BLK_FUTURE)
				decode_entries(blk, e);
			else
				memset(e, 0, UB_MAP_ENTRIES * sizeof(*e));
			nr = UB_MAP_ENTRIES;
			if (s->capacity - first < nr)
				nr = s->capacity - first;
			for (t = nr; t < UB_MAP_ENTRIES; t++)
				if (e[t])
					tail++;
			r = fn(ctx, idx, first, e, nr, tail, st,
			       st == UB_BLK_ZERO ? 0 : ub_le64(blk + HDR_SEQ_OFF),
			       why);
			if (r)
				goto out;
		}
	}
out:
	free(batch);
	free(e);
	return r;
}

static int load_cache(struct ub_store *s, uint64_t idx, struct ub_diag *d)
{
	uint8_t blk[UB_BLOCK_SIZE];
	uint64_t home = s->lay.map_start + idx;
	enum ub_blk_status st;
	char why[192];
	int r;

	if (s->cache_valid && s->cache_idx == idx)
		return 0;
	s->cache_valid = false;
	r = ub_get_block(s, home, blk, d);
	if (r)
		return r;
	st = ub_meta_block_status(blk, home, UB_BT_MAP, s->st.seq, why,
				  sizeof(why));
	if (st == UB_BLK_BAD || st == UB_BLK_FUTURE) {
		uint64_t first = idx * UB_MAP_ENTRIES;

		return ub_fail(d, -EUCLEAN,
			       "map block %" PRIu64 " (chunks %" PRIu64 "-%" PRIu64 "): %s",
			       idx, first, first + UB_MAP_ENTRIES - 1, why);
	}
	if (st == UB_BLK_ZERO)
		memset(s->cache_entries, 0, sizeof(s->cache_entries));
	else
		decode_entries(blk, s->cache_entries);
	s->cache_idx = idx;
	s->cache_valid = true;
	return 0;
}

int ub_map_entry(struct ub_store *s, uint64_t v, uint32_t *entry,
		 struct ub_diag *d)
{
	int r;

	if (v >= s->capacity)
		return ub_fail(d, -ERANGE, "chunk %" PRIu64 " beyond the capacity (%" PRIu64 " chunks)",
			       v, s->capacity);
	r = load_cache(s, v / UB_MAP_ENTRIES, d);
	if (r)
		return r;
	*entry = s->cache_entries[v % UB_MAP_ENTRIES];
	return 0;
}

/* ------------------------------------------------------------------ */

struct delta_ctx {
	ub_range_fn fn;
	void *ctx;
	struct ub_diag *d;
	bool open;
	enum ub_range_type type;
	uint64_t start, len;
};

static int delta_emit(struct delta_ctx *c)
{
	int r = 0;

	if (c->open)
		r = c->fn(c->ctx, c->type, c->start, c->len);
	c->open = false;
	return r;
}

static int delta_block(void *ctx, uint64_t idx, uint64_t first,
		       const uint32_t *e, uint32_t nr, uint32_t tail,
		       enum ub_blk_status st, uint64_t seq, const char *why)
{
	struct delta_ctx *c = ctx;
	uint32_t i;
	int r;

	(void)tail;
	(void)seq;
	if (st == UB_BLK_BAD || st == UB_BLK_FUTURE)
		return ub_fail(c->d, -EUCLEAN,
			       "map block %" PRIu64 " (chunks %" PRIu64 "-%" PRIu64 "): %s",
			       idx, first, first + UB_MAP_ENTRIES - 1, why);
	if (st == UB_BLK_ZERO)
		return delta_emit(c);
	for (i = 0; i < nr; i++) {
		enum ub_range_type t;

		if (e[i] == UB_MAP_UNMAPPED) {
			r = delta_emit(c);
			if (r)
				return r;
			continue;
		}
		t = e[i] == UB_MAP_WHITEOUT ? UB_RANGE_WHITEOUT : UB_RANGE_MAPPED;
		if (c->open && c->type == t && c->start + c->len == first + i) {
			c->len++;
			continue;
		}
		r = delta_emit(c);
		if (r)
			return r;
		c->open = true;
		c->type = t;
		c->start = first + i;
		c->len = 1;
	}
	return 0;
}

int ub_delta_walk(struct ub_store *s, ub_range_fn fn, void *ctx,
		  struct ub_diag *d)
{
	struct delta_ctx c = { .fn = fn, .ctx = ctx, .d = d };
	int r;

	r = ub_map_walk(s, delta_block, &c, d);
	if (r)
		return r;
	return delta_emit(&c);
}

/* ------------------------------------------------------------------ */

uint64_t ub_virtual_bytes(const struct ub_store *s)
{
	return s->capacity * s->chunk_bytes;
}

static int read_base(struct ub_store *s, uint64_t off, uint8_t *buf,
		     size_t len, struct ub_diag *d)
{
	size_t n = 0;
	int r;

	if (s->base_fd < 0)
		return ub_fail(d, -EINVAL,
			       "reading unmapped chunks needs the base (--base)");
	if (off < s->base_bytes) {
		n = s->base_bytes - off < len ? s->base_bytes - off : len;
		r = ub_pread(s->base_fd, buf, n, off);
		if (r)
			return ub_fail(d, r, "%s: reading at %" PRIu64 ": %s",
				       s->base_path, off, strerror(-r));
	}
	memset(buf + n, 0, len - n);
	return 0;
}

int ub_read_virtual(struct ub_store *s, uint64_t off, void *buf, size_t len,
		    struct ub_diag *d)
{
	uint64_t end = ub_virtual_bytes(s);
	uint8_t *p = buf;
	int r;

	if (off > end || len > end - off)
		return ub_fail(d, -ERANGE,
			       "range %" PRIu64 "+%zu beyond the virtual device (%" PRIu64 " bytes)",
			       off, len, end);
	while (len) {
		uint64_t v = off / s->chunk_bytes;
		uint64_t in = off % s->chunk_bytes;
		size_t n = s->chunk_bytes - in;
		uint32_t e;

		if (n > len)
			n = len;
		r = ub_map_entry(s, v, &e, d);
		if (r)
			return r;
		if (e == UB_MAP_UNMAPPED) {
			r = read_base(s, off, p, n, d);
		} else if (e == UB_MAP_WHITEOUT) {
			memset(p, 0, n);
		} else {
			uint64_t dc = (uint64_t)e - 1;
			uint64_t at = (s->lay.data_start << UB_SECTOR_SHIFT) +
				      dc * s->chunk_bytes + in;

			if (dc >= s->data_chunks)
				return ub_fail(d, -EUCLEAN,
					       "chunk %" PRIu64 ": mapped to data chunk %" PRIu64 ", beyond the store's %" PRIu64 " data chunks",
					       v, dc, s->data_chunks);
			r = ub_pread(s->fd, p, n, at);
			if (r)
				r = ub_fail(d, r, "%s: reading data chunk %" PRIu64 ": %s",
					    s->path, dc, strerror(-r));
		}
		if (r)
			return r;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}
