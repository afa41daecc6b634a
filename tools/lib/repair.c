// SPDX-License-Identifier: GPL-2.0
/*
 * Repair: rebuild consistent metadata from what survives.  Kept: every
 * map block that verifies (also one whose seq is above the committed
 * seq, i.e. written after a commit whose journal slot was lost).
 * Dropped, each reported: map blocks that do not verify (their chunks
 * read from the base again), entries past the capacity, entries naming
 * a data chunk the store does not have, and every entry of a data chunk
 * mapped more than once (nothing tells which owner is right).  The
 * bitmap and the counters are recomputed; the new seq is above every
 * seq seen so the result is a new transaction.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "libunionblk.h"

struct repair_ctx {
	struct ub_store *s;
	struct ub_meta *m;
	struct ub_repair_stats *rs;
	struct ub_diag *d;
	uint64_t max_seq;
};

static int repair_block(void *ctx, uint64_t idx, uint64_t first,
			const uint32_t *e, uint32_t nr, uint32_t tail,
			enum ub_blk_status st, uint64_t seq, const char *why)
{
	struct repair_ctx *c = ctx;
	uint64_t last = first + UB_MAP_ENTRIES - 1;

	if (st == UB_BLK_BAD) {
		ub_problem(c->d, UB_INFO,
			   "map block %" PRIu64 " (chunks %" PRIu64 "-%" PRIu64 "): %s: dropped, its chunks read from the base again",
			   idx, first, last, why);
		c->rs->blocks_dropped++;
		c->rs->entries_dropped += nr;
		return 0;
	}
	if (st == UB_BLK_ZERO)
		return 0;
	if (st == UB_BLK_FUTURE) {
		ub_problem(c->d, UB_INFO,
			   "map block %" PRIu64 " (chunks %" PRIu64 "-%" PRIu64 "): %s: kept",
			   idx, first, last, why);
		if (seq > c->max_seq)
			c->max_seq = seq;
	}
	if (tail) {
		ub_problem(c->d, UB_INFO,
			   "map block %" PRIu64 " (chunks %" PRIu64 "-%" PRIu64 "): %u entries beyond the capacity cleared",
			   idx, first, last, tail);
		c->rs->entries_cleared += tail;
	}
	memcpy(c->m->map + first, e, (size_t)nr * sizeof(*e));
	return 0;
}

int ub_repair_plan(struct ub_store *s, struct ub_meta *m,
		   struct ub_repair_stats *rs, struct ub_diag *d)
{
	struct ub_repair_stats local;
	struct repair_ctx c = { .s = s, .m = m, .d = d };
	uint8_t *seen = NULL, *dup = NULL;
	uint64_t v, bytes = s->data_chunks / 8 + 1;
	int k, r;

	if (!rs)
		rs = &local;
	memset(rs, 0, sizeof(*rs));
	memset(m, 0, sizeof(*m));
	c.rs = rs;
	m->sb = s->sb;
	m->capacity = s->capacity;
	m->map = calloc(s->capacity, sizeof(*m->map));
	seen = calloc(1, bytes);
	dup = calloc(1, bytes);
	if (!m->map || !seen || !dup) {
		r = ub_fail(d, -ENOMEM, "out of memory for %" PRIu64 " chunks",
			    s->capacity);
		goto out;
	}

	c.max_seq = s->st.seq;
	for (k = 0; k < 2; k++)
		if (s->slot[k].state == UB_SLOT_VALID &&
		    s->slot[k].seq > c.max_seq)
			c.max_seq = s->slot[k].seq;
	r = ub_map_walk(s, repair_block, &c, d);
	if (r)
		goto out;

	/* entries naming data chunks the store does not have */
	for (v = 0; v < m->capacity; v++) {
		uint32_t e = m->map[v];
		uint64_t dc;

		if (!ub_entry_is_mapped(e))
			continue;
		dc = (uint64_t)e - 1;
		if (dc >= s->data_chunks) {
			ub_problem(d, UB_INFO,
				   "chunk %" PRIu64 ": data chunk %" PRIu64 " beyond the store's %" PRIu64 " data chunks: unmapped",
				   v, dc, s->data_chunks);
			m->map[v] = UB_MAP_UNMAPPED;
			rs->entries_cleared++;
			continue;
		}
		if (seen[dc / 8] & (1U << (dc % 8)))
			dup[dc / 8] |= 1U << (dc % 8);
		seen[dc / 8] |= 1U << (dc % 8);
	}
	/* every owner of a doubly mapped data chunk */
	for (v = 0; v < m->capacity; v++) {
		uint32_t e = m->map[v];
		uint64_t dc;

		if (!ub_entry_is_mapped(e))
			continue;
		dc = (uint64_t)e - 1;
		if (!(dup[dc / 8] & (1U << (dc % 8))))
			continue;
		ub_problem(d, UB_INFO,
			   "chunk %" PRIu64 ": data chunk %" PRIu64 " is mapped more than once: unmapped",
			   v, dc);
		m->map[v] = UB_MAP_UNMAPPED;
		rs->entries_cleared++;
	}

	ub_meta_count(m, &m->mapped_chunks, &m->whiteout_chunks);
	m->alloc_cursor = s->st.alloc_cursor <= s->data_chunks ?
			  s->st.alloc_cursor : 0;
	/* needs_check is answered by this repair; unknown flags are dropped */
	m->jflags = 0;
	m->seq = c.max_seq + 1;
	if (s->st.slot >= 0 && m->seq % 2 == (uint64_t)s->st.slot)
		m->seq++;
	if (s->sb_bad[0] || s->sb_bad[1] || s->sb_copies_differ)
		ub_problem(d, UB_INFO, "superblock: both copies rewritten from block %d",
			   s->sb_block);
	r = 0;
out:
	free(seen);
	free(dup);
	if (r)
		ub_meta_free(m);
	return r;
}
