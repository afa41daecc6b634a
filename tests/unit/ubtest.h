/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the libunionblk unit tests: temporary image files, stores
 * crafted through the library's own writers, and raw block surgery with
 * checksums recomputed, so each test builds exactly the state it needs.
 */
#ifndef UBTEST_H
#define UBTEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "libunionblk.h"

struct ubt {
	char dir[256];
	char base[300];
	char store[300];
	char other[300];	/* spare file name */
	uint64_t base_bytes;
};

/* cmocka group setup/teardown: a temp dir with base.img and store.img. */
int ubt_setup(void **state);
int ubt_teardown(void **state);

/* Deterministic base content: byte i of the base is ubt_base_byte(i). */
uint8_t ubt_base_byte(uint64_t off);
void ubt_make_file(const char *path, uint64_t bytes, bool pattern);

/* Format t->store over t->base (capacity 0: the base's size). */
void ubt_format(struct ubt *t, uint64_t capacity_bytes, uint32_t chunk_sectors,
		uint32_t journal_blocks);
/* An empty ub_meta for the store as formatted (map all unmapped). */
void ubt_meta(struct ubt *t, struct ub_meta *m);
/* Write m to the store (full rewrite), counters taken from the map. */
void ubt_commit(struct ubt *t, struct ub_meta *m, uint64_t seq);

/* Open, check; returns the number of errors.  d is left for inspection. */
uint64_t ubt_check(struct ubt *t, const char *base, struct ub_diag *d);
/* Does some problem of severity sev contain text? */
bool ubt_has(const struct ub_diag *d, enum ub_sev sev, const char *text);
void ubt_dump_diag(const struct ub_diag *d);

/* Raw blocks of the store. */
void ubt_read_block(struct ubt *t, uint64_t blocknr, void *buf);
void ubt_write_block(struct ubt *t, uint64_t blocknr, const void *buf);
/* Re-checksum a block in place (keeping its header fields). */
void ubt_recsum(void *blk);
/* Layout of the store as formatted. */
void ubt_layout(struct ubt *t, struct ub_layout *l, uint32_t *journal_blocks);
/* Set map entry of chunk v directly in its home block (re-checksummed). */
void ubt_poke_entry(struct ubt *t, uint64_t v, uint32_t entry);
/* Flip bit of data chunk dc in the bitmap home block. */
void ubt_flip_bitmap(struct ubt *t, uint64_t dc);
/*
 * Write a journal transaction seq into slot seq % 2 with the given
 * images (full blocks, finished by the caller) and counters; the homes
 * are NOT written, as after a crash right after the commit.
 */
void ubt_write_txn(struct ubt *t, uint64_t seq, uint32_t nr,
		   const uint64_t *homes, const uint8_t *imgs,
		   uint64_t mapped, uint64_t whiteouts);
/* Build the map block image for block idx of m with the given seq. */
void ubt_map_image(struct ubt *t, const struct ub_meta *m, uint64_t idx,
		   uint64_t seq, uint8_t *blk);
void ubt_bitmap_image(struct ubt *t, const struct ub_meta *m, uint64_t idx,
		      uint64_t seq, uint8_t *blk);

#endif /* UBTEST_H */
