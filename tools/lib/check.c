// SPDX-License-Identifier: GPL-2.0
/*
 * The full consistency check.  It reads metadata only: the mapping table
 * (one pass, twice if a data chunk is mapped more than once) and the
 * bitmap, and keeps one bit per data chunk, so its memory and time are
 * proportional to the metadata, not to the data.
 *
 * Invariants: every map and bitmap block is all zeroes or valid (magic,
 * type, checksum, home, seq not above the committed seq); entries past
 * the capacity are zero; every mapping names a data chunk the store
 * has; no data chunk is mapped twice; a bitmap bit is set iff its data
 * chunk is mapped exactly once; the journal counters equal the map.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libunionblk.h"

struct check_ctx {
	struct ub_store *s;
	struct ub_diag *d;
	struct ub_check_summary *sum;
	uint8_t *seen;		/* data chunk referenced at least once */
	uint8_t *dup;		/* data chunk referenced twice or more */
	uint64_t ndup;
	/* second pass: owners of doubly mapped chunks */
	struct owner *own;
	uint64_t nown, aown;
};

struct owner {
	uint64_t data;
	uint64_t chunk;
};

static inline bool bit_test(const uint8_t *b, uint64_t i)
{
	return b[i >> 3] & (1U << (i & 7));
}

static inline void bit_set(uint8_t *b, uint64_t i)
{
	b[i >> 3] |= 1U << (i & 7);
}

static int check_map_block(void *ctx, uint64_t idx, uint64_t first,
			   const uint32_t *e, uint32_t nr, uint32_t tail,
			   enum ub_blk_status st, uint64_t seq, const char *why)
{
	struct check_ctx *c = ctx;
	struct ub_store *s = c->s;
	uint32_t i;

	(void)seq;
	if (st == UB_BLK_BAD || st == UB_BLK_FUTURE) {
		ub_problem(c->d, UB_ERR,
			   "map block %" PRIu64 " (chunks %" PRIu64 "-%" PRIu64 "): %s",
			   idx, first, first + UB_MAP_ENTRIES - 1, why);
		c->sum->map_blocks_bad++;
		if (st == UB_BLK_BAD)
			return 0;
	}
	if (st == UB_BLK_ZERO)
		return 0;
	if (tail)
		ub_problem(c->d, UB_ERR,
			   "map block %" PRIu64 " (chunks %" PRIu64 "-%" PRIu64 "): %u non-zero entries beyond the capacity (%" PRIu64 " chunks)",
			   idx, first, first + UB_MAP_ENTRIES - 1, tail,
			   s->capacity);
	for (i = 0; i < nr; i++) {
		uint64_t dc;

		if (e[i] == UB_MAP_UNMAPPED)
			continue;
		if (e[i] == UB_MAP_WHITEOUT) {
			c->sum->whiteout_chunks++;
			continue;
		}
		c->sum->mapped_chunks++;
		dc = (uint64_t)e[i] - 1;
		if (dc >= s->data_chunks) {
			ub_problem(c->d, UB_ERR,
				   "chunk %" PRIu64 ": mapped to data chunk %" PRIu64 ", beyond the store's %" PRIu64 " data chunks",
				   first + i, dc, s->data_chunks);
			continue;
		}
		if (bit_test(c->seen, dc)) {
			if (!bit_test(c->dup, dc)) {
				bit_set(c->dup, dc);
				c->ndup++;
			}
		} else {
			bit_set(c->seen, dc);
		}
	}
	return 0;
}

static int collect_owners(void *ctx, uint64_t idx, uint64_t first,
			  const uint32_t *e, uint32_t nr, uint32_t tail,
			  enum ub_blk_status st, uint64_t seq, const char *why)
{
	struct check_ctx *c = ctx;
	uint32_t i;

	(void)idx;
	(void)tail;
	(void)seq;
	(void)why;
	if (st != UB_BLK_OK && st != UB_BLK_FUTURE)
		return 0;
	for (i = 0; i < nr; i++) {
		uint64_t dc;

		if (!ub_entry_is_mapped(e[i]))
			continue;
		dc = (uint64_t)e[i] - 1;
		if (dc >= c->s->data_chunks || !bit_test(c->dup, dc))
			continue;
		if (c->nown == c->aown) {
			uint64_t n = c->aown ? c->aown * 2 : 64;
			struct owner *o = realloc(c->own, n * sizeof(*o));

			if (!o)
				return ub_fail(c->d, -ENOMEM, "out of memory");
			c->own = o;
			c->aown = n;
		}
		c->own[c->nown].data = dc;
		c->own[c->nown].chunk = first + i;
		c->nown++;
	}
	return 0;
}

static int owner_cmp(const void *a, const void *b)
{
	const struct owner *x = a, *y = b;

	if (x->data != y->data)
		return x->data < y->data ? -1 : 1;
	return x->chunk < y->chunk ? -1 : x->chunk > y->chunk;
}

static int report_doubles(struct check_ctx *c)
{
	uint64_t i, j;
	int r;

	r = ub_map_walk(c->s, collect_owners, c, c->d);
	if (r)
		return r;
	qsort(c->own, c->nown, sizeof(*c->own), owner_cmp);
	for (i = 0; i < c->nown; i = j) {
		char list[256];
		size_t len = 0;

		for (j = i; j < c->nown && c->own[j].data == c->own[i].data; j++) {
			if (len < sizeof(list) - 40)
				len += snprintf(list + len, sizeof(list) - len,
						"%s%" PRIu64, j > i ? ", " : "",
						c->own[j].chunk);
			else if (len < sizeof(list) - 4)
				len += snprintf(list + len, sizeof(list) - len,
						", ...");
		}
		ub_problem(c->d, UB_ERR,
			   "data chunk %" PRIu64 " mapped %" PRIu64 " times: chunks %s",
			   c->own[i].data, j - i, list);
	}
	c->sum->double_mapped = c->ndup;
	return 0;
}

static int check_bitmap(struct check_ctx *c)
{
	struct ub_store *s = c->s;
	uint8_t blk[UB_BLOCK_SIZE];
	const size_t bytes = UB_BITMAP_BITS / 8;
	const uint8_t *bits = blk + sizeof(struct ub_block_header);
	uint64_t idx;
	char why[192];
	int r;

	for (idx = 0; idx < s->lay.bitmap_blocks; idx++) {
		uint64_t home = s->lay.bitmap_start + idx;
		uint64_t first = idx * UB_BITMAP_BITS;
		enum ub_blk_status st;
		size_t j;

		r = ub_get_block(s, home, blk, c->d);
		if (r)
			return r;
		st = ub_meta_block_status(blk, home, UB_BT_BITMAP, s->st.seq,
					  why, sizeof(why));
		if (st == UB_BLK_BAD || st == UB_BLK_FUTURE) {
			c->sum->bitmap_blocks_bad++;
			ub_problem(c->d, UB_ERR,
				   "bitmap block %" PRIu64 " (data chunks %" PRIu64 "-%" PRIu64 "): %s",
				   idx, first, first + UB_BITMAP_BITS - 1, why);
			if (st == UB_BLK_BAD)
				continue;
		}
		if (st == UB_BLK_ZERO)
			memset(blk, 0, sizeof(blk));
		for (j = 0; j < bytes; j++) {
			uint64_t dc0 = first + 8 * j;
			uint8_t want = 0, have = bits[j], diff, skip = 0;
			unsigned int b;

			c->sum->bitmap_set += __builtin_popcount(have);
			if (dc0 < s->data_chunks) {
				want = c->seen[dc0 >> 3];
				skip = c->dup[dc0 >> 3];
				if (s->data_chunks - dc0 < 8) {
					uint8_t valid = (1U << (s->data_chunks - dc0)) - 1;

					want &= valid;
				}
			}
			diff = (want ^ have) & ~skip;
			if (!diff)
				continue;
			for (b = 0; b < 8; b++) {
				uint64_t dc = dc0 + b;

				if (!(diff & (1U << b)))
					continue;
				if (dc >= s->data_chunks)
					ub_problem(c->d, UB_ERR,
						   "bitmap block %" PRIu64 ": data chunk %" PRIu64 " marked allocated, beyond the store's %" PRIu64 " data chunks",
						   idx, dc, s->data_chunks);
				else if (have & (1U << b))
					ub_problem(c->d, UB_ERR,
						   "bitmap block %" PRIu64 ": data chunk %" PRIu64 " marked allocated but not mapped (leaked)",
						   idx, dc);
				else
					ub_problem(c->d, UB_ERR,
						   "bitmap block %" PRIu64 ": data chunk %" PRIu64 " mapped but marked free",
						   idx, dc);
			}
		}
	}
	return 0;
}

int ub_check(struct ub_store *s, struct ub_check_summary *sum,
	     struct ub_diag *d)
{
	struct ub_check_summary local;
	struct check_ctx c = { .s = s, .d = d };
	size_t bytes = (size_t)((s->data_chunks + 7) / 8) + 1;
	uint32_t f;
	int r;

	if (!sum)
		sum = &local;
	memset(sum, 0, sizeof(*sum));
	c.sum = sum;
	c.seen = calloc(1, bytes);
	c.dup = calloc(1, bytes);
	if (!c.seen || !c.dup) {
		r = ub_fail(d, -ENOMEM, "out of memory for %zu bytes", bytes);
		goto out;
	}

	f = le32toh(s->sb.flags);
	if (f & ~UB_SB_F_RO)
		ub_problem(d, UB_WARN, "superblock: unknown flags 0x%x",
			   f & ~UB_SB_F_RO);
	if (s->st.flags & UB_J_F_NEEDS_CHECK)
		ub_problem(d, UB_WARN,
			   "journal: the target saw an error and asked for a check (flag needs_check)");
	if (s->st.flags & ~UB_J_F_NEEDS_CHECK)
		ub_problem(d, UB_WARN, "journal: unknown flags 0x%x",
			   s->st.flags & ~UB_J_F_NEEDS_CHECK);

	if (!s->data_chunks)
		ub_problem(d, UB_ERR,
			   "store: no room for a single data chunk after the metadata (%" PRIu64 " bytes)",
			   s->size_bytes);
	if (s->st.slot >= 0 && s->st.data_chunks > s->data_chunks)
		ub_problem(d, UB_WARN,
			   "store: %" PRIu64 " data chunks at the last commit, now %" PRIu64 " (the store shrank)",
			   s->st.data_chunks, s->data_chunks);

	r = ub_map_walk(s, check_map_block, &c, d);
	if (r)
		goto out;
	if (c.ndup) {
		r = report_doubles(&c);
		if (r)
			goto out;
	}
	r = check_bitmap(&c);
	if (r)
		goto out;

	if (s->st.mapped_chunks != sum->mapped_chunks)
		ub_problem(d, UB_ERR,
			   "counters: mapped_chunks is %" PRIu64 ", the map has %" PRIu64,
			   s->st.mapped_chunks, sum->mapped_chunks);
	if (s->st.whiteout_chunks != sum->whiteout_chunks)
		ub_problem(d, UB_ERR,
			   "counters: whiteout_chunks is %" PRIu64 ", the map has %" PRIu64,
			   s->st.whiteout_chunks, sum->whiteout_chunks);
	if (s->st.alloc_cursor > s->data_chunks)
		ub_problem(d, UB_WARN,
			   "counters: alloc_cursor %" PRIu64 " beyond the store's %" PRIu64 " data chunks",
			   s->st.alloc_cursor, s->data_chunks);
	r = 0;
out:
	free(c.seen);
	free(c.dup);
	free(c.own);
	return r;
}
