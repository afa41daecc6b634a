// SPDX-License-Identifier: GPL-2.0
/*
 * unionblk check on crafted stores: each test builds one state with the
 * library's writers or raw block surgery and proves check reports it
 * (or stays clean) with the right words.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ubtest.h"

#define T	struct ubt *t = *state

/* A store with a few mappings and whiteouts committed at seq 2. */
static void make_basic(struct ubt *t, struct ub_meta *m)
{
	ubt_format(t, 0, 0, 0);
	ubt_meta(t, m);
	m->map[0] = 1;		/* chunk 0 -> data 0 */
	m->map[1] = 2;
	m->map[2] = UB_MAP_WHITEOUT;
	m->map[1020] = 11;	/* second map block */
	m->map[1023] = UB_MAP_WHITEOUT;
	m->alloc_cursor = 11;
	ubt_commit(t, m, 2);
}

static void format_then_check_is_clean(void **state)
{
	struct ub_diag d;
	T;

	ubt_format(t, 0, 0, 0);
	assert_int_equal(ubt_check(t, t->base, &d), 0);
	assert_int_equal(d.warnings, 0);
	ub_diag_free(&d);
}

static void mapped_chunks_and_whiteouts_check_clean(void **state)
{
	struct ub_check_summary sum;
	struct ub_store *s;
	struct ub_meta m;
	struct ub_diag d;
	T;

	make_basic(t, &m);
	ub_diag_init(&d);
	assert_int_equal(ub_open(t->store, t->base, 0, &s, &d), 0);
	assert_int_equal(ub_check(s, &sum, &d), 0);
	assert_int_equal(d.errors, 0);
	assert_int_equal(sum.mapped_chunks, 3);
	assert_int_equal(sum.whiteout_chunks, 2);
	assert_int_equal(sum.bitmap_set, 3);
	assert_int_equal(s->st.seq, 2);
	assert_int_equal(s->st.slot, 0);
	ub_close(s);
	ub_diag_free(&d);
	ub_meta_free(&m);
}

static void journal_replay_applies_committed_slot(void **state)
{
	uint8_t imgs[2 * UB_BLOCK_SIZE], raw[UB_BLOCK_SIZE];
	struct ub_layout l;
	uint64_t homes[2];
	struct ub_store *s;
	struct ub_meta m;
	struct ub_diag d;
	uint32_t e;
	T;

	make_basic(t, &m);
	ubt_layout(t, &l, NULL);
	m.map[5] = 101;		/* chunk 5 -> data 100 */
	ubt_map_image(t, &m, 0, 3, imgs);
	ubt_bitmap_image(t, &m, 0, 3, imgs + UB_BLOCK_SIZE);
	homes[0] = l.map_start;
	homes[1] = l.bitmap_start;
	ubt_write_txn(t, 3, 2, homes, imgs, 4, 2);

	assert_int_equal(ubt_check(t, t->base, &d), 0);
	assert_int_equal(d.warnings, 0);
	ub_diag_free(&d);
	ub_diag_init(&d);
	assert_int_equal(ub_open(t->store, NULL, 0, &s, &d), 0);
	assert_int_equal(s->st.seq, 3);
	assert_int_equal(s->st.slot, 1);
	assert_int_equal(s->st.mapped_chunks, 4);
	assert_int_equal(ub_map_entry(s, 5, &e, &d), 0);
	assert_int_equal(e, 101);
	ub_close(s);
	/* the home itself was not written: replay is in memory only */
	ubt_read_block(t, l.map_start, raw);
	assert_int_equal(ub_le32(raw + 32 + 5 * 4), 0);
	ub_diag_free(&d);
	ub_meta_free(&m);
}

static void torn_slot_is_ignored_with_warning(void **state)
{
	uint8_t img[UB_BLOCK_SIZE];
	struct ub_layout l;
	struct ub_store *s;
	struct ub_meta m;
	struct ub_diag d;
	uint64_t home;
	uint32_t e;
	T;

	make_basic(t, &m);
	ubt_layout(t, &l, NULL);
	m.map[5] = 101;
	ubt_map_image(t, &m, 0, 3, img);
	img[100] ^= 0xff;	/* the image did not make it */
	home = l.map_start;
	ubt_write_txn(t, 3, 1, &home, img, 4, 2);

	assert_int_equal(ubt_check(t, t->base, &d), 0);
	assert_true(ubt_has(&d, UB_WARN, "journal slot 1"));
	assert_true(ubt_has(&d, UB_WARN, "image 0"));
	assert_true(ubt_has(&d, UB_WARN, "checksum mismatch"));
	ub_diag_free(&d);
	ub_diag_init(&d);
	assert_int_equal(ub_open(t->store, NULL, 0, &s, &d), 0);
	assert_int_equal(s->st.seq, 2);
	assert_int_equal(ub_map_entry(s, 5, &e, &d), 0);
	assert_int_equal(e, 0);
	ub_close(s);
	ub_diag_free(&d);
	ub_meta_free(&m);
}

static void torn_first_transaction_is_a_warning(void **state)
{
	uint8_t img[UB_BLOCK_SIZE], hdr[UB_BLOCK_SIZE];
	struct ub_layout l;
	struct ub_meta m;
	struct ub_diag d;
	uint64_t home;
	uint32_t jb;
	T;

	ubt_format(t, 0, 0, 0);
	ubt_meta(t, &m);
	ubt_layout(t, &l, &jb);
	m.map[0] = 1;
	ubt_map_image(t, &m, 0, 1, img);
	home = l.map_start;
	ubt_write_txn(t, 1, 1, &home, img, 1, 0);
	/* tear the header itself */
	ubt_read_block(t, ub_journal_slot(l.journal_start, jb, 1), hdr);
	hdr[40] ^= 1;
	ubt_write_block(t, ub_journal_slot(l.journal_start, jb, 1), hdr);

	assert_int_equal(ubt_check(t, t->base, &d), 0);
	assert_true(ubt_has(&d, UB_WARN, "torn first transaction ignored"));
	ub_diag_free(&d);
	ub_meta_free(&m);
}

static void lost_journal_is_an_error(void **state)
{
	uint8_t hdr[UB_BLOCK_SIZE];
	struct ub_layout l;
	struct ub_store *s;
	struct ub_meta m;
	struct ub_diag d;
	uint32_t jb;
	T;

	make_basic(t, &m);	/* seq 2 in slot 0 */
	ubt_layout(t, &l, &jb);
	ubt_read_block(t, ub_journal_slot(l.journal_start, jb, 0), hdr);
	hdr[50] ^= 1;
	ubt_write_block(t, ub_journal_slot(l.journal_start, jb, 0), hdr);

	assert_true(ubt_check(t, NULL, &d) > 0);
	assert_true(ubt_has(&d, UB_ERR, "committed state is lost"));
	/* the homes now carry seq 2 above the (fresh) committed seq 0 */
	assert_true(ubt_has(&d, UB_ERR, "seq 2 beyond the committed seq 0"));
	ub_diag_free(&d);
	/* readers refuse such a store */
	ub_diag_init(&d);
	assert_int_equal(ub_open(t->store, NULL, 0, &s, &d), -EUCLEAN);
	assert_non_null(strstr(d.err, "committed state is lost"));
	ub_diag_free(&d);
	ub_meta_free(&m);
}

static void older_valid_slot_is_not_replayed(void **state)
{
	uint8_t img[UB_BLOCK_SIZE];
	struct ub_layout l;
	struct ub_store *s;
	struct ub_meta m;
	struct ub_diag d;
	uint64_t home;
	uint32_t e;
	T;

	make_basic(t, &m);
	ubt_commit(t, &m, 4);	/* slot 0, seq 4 */
	ubt_layout(t, &l, NULL);
	m.map[7] = 500;
	ubt_map_image(t, &m, 0, 3, img);
	home = l.map_start;
	ubt_write_txn(t, 3, 1, &home, img, 4, 2);	/* slot 1, older */

	assert_int_equal(ubt_check(t, t->base, &d), 0);
	ub_diag_free(&d);
	ub_diag_init(&d);
	assert_int_equal(ub_open(t->store, NULL, 0, &s, &d), 0);
	assert_int_equal(s->st.seq, 4);
	assert_int_equal(s->slot[1].state, UB_SLOT_VALID);
	assert_int_equal(ub_map_entry(s, 7, &e, &d), 0);
	assert_int_equal(e, 0);
	ub_close(s);
	ub_diag_free(&d);
	ub_meta_free(&m);
}

static void map_block_with_future_seq_is_error(void **state)
{
	uint8_t blk[UB_BLOCK_SIZE];
	struct ub_layout l;
	struct ub_meta m;
	struct ub_diag d;
	T;

	make_basic(t, &m);
	ubt_layout(t, &l, NULL);
	ubt_read_block(t, l.map_start + 1, blk);
	ub_put_le64(blk + 16, 9);
	ubt_recsum(blk);
	ubt_write_block(t, l.map_start + 1, blk);

	assert_int_equal(ubt_check(t, t->base, &d), 1);
	assert_true(ubt_has(&d, UB_ERR,
			    "map block 1 (chunks 1016-2031): seq 9 beyond the committed seq 2"));
	ub_diag_free(&d);
	ub_meta_free(&m);
}

static void entry_beyond_data_chunks_is_error(void **state)
{
	struct ub_meta m;
	struct ub_diag d;
	T;

	make_basic(t, &m);
	ubt_poke_entry(t, 3, 5001);
	assert_true(ubt_check(t, t->base, &d) >= 1);
	assert_true(ubt_has(&d, UB_ERR,
			    "chunk 3: mapped to data chunk 5000, beyond the store's 1024 data chunks"));
	assert_true(ubt_has(&d, UB_ERR, "counters: mapped_chunks is 3, the map has 4"));
	ub_diag_free(&d);
	ub_meta_free(&m);
}

static void double_mapping_is_error(void **state)
{
	struct ub_meta m;
	struct ub_diag d;
	T;

	make_basic(t, &m);
	ubt_poke_entry(t, 1017, 2);	/* data chunk 1 again */
	assert_true(ubt_check(t, t->base, &d) >= 1);
	assert_true(ubt_has(&d, UB_ERR,
			    "data chunk 1 mapped 2 times: chunks 1, 1017"));
	ub_diag_free(&d);
	ub_meta_free(&m);
}

static void bitmap_mismatch_is_error(void **state)
{
	struct ub_meta m;
	struct ub_diag d;
	T;

	make_basic(t, &m);
	ubt_flip_bitmap(t, 50);		/* leaked */
	ubt_flip_bitmap(t, 10);		/* chunk 1020's data: now free */
	assert_int_equal(ubt_check(t, t->base, &d), 2);
	assert_true(ubt_has(&d, UB_ERR,
			    "bitmap block 0: data chunk 50 marked allocated but not mapped (leaked)"));
	assert_true(ubt_has(&d, UB_ERR,
			    "bitmap block 0: data chunk 10 mapped but marked free"));
	ub_diag_free(&d);
	ub_meta_free(&m);
}

static void counter_mismatch_is_error(void **state)
{
	struct ub_meta m;
	struct ub_diag d;
	T;

	make_basic(t, &m);
	ubt_write_txn(t, 3, 0, NULL, NULL, 7, 1);
	assert_int_equal(ubt_check(t, t->base, &d), 2);
	assert_true(ubt_has(&d, UB_ERR, "counters: mapped_chunks is 7, the map has 3"));
	assert_true(ubt_has(&d, UB_ERR, "counters: whiteout_chunks is 1, the map has 2"));
	ub_diag_free(&d);
	ub_meta_free(&m);
}

static void bad_superblock_falls_back_to_copy(void **state)
{
	uint8_t blk[UB_BLOCK_SIZE];
	struct ub_store *s;
	struct ub_meta m;
	struct ub_diag d;
	T;

	make_basic(t, &m);
	ubt_read_block(t, 0, blk);
	blk[200] ^= 1;
	ubt_write_block(t, 0, blk);
	assert_int_equal(ubt_check(t, t->base, &d), 1);
	assert_true(ubt_has(&d, UB_ERR,
			    "superblock (block 0): checksum mismatch; using the copy at block 1"));
	ub_diag_free(&d);
	ub_diag_init(&d);
	assert_int_equal(ub_open(t->store, t->base, 0, &s, &d), 0);
	assert_int_equal(s->sb_block, 1);
	assert_int_equal(s->st.seq, 2);
	ub_close(s);
	ub_diag_free(&d);
	ub_meta_free(&m);
}

static void both_superblocks_bad_cannot_open(void **state)
{
	uint8_t blk[UB_BLOCK_SIZE];
	struct ub_store *s;
	struct ub_diag d;
	T;

	ubt_format(t, 0, 0, 0);
	memset(blk, 0, sizeof(blk));
	ubt_write_block(t, 0, blk);
	ubt_read_block(t, 1, blk);
	blk[8] ^= 1;
	ubt_write_block(t, 1, blk);
	ub_diag_init(&d);
	assert_int_equal(ub_open(t->store, NULL, UB_OPEN_TOLERANT, &s, &d),
			 -EUCLEAN);
	assert_non_null(strstr(d.err, "no valid superblock: block 0: bad block magic 0x00000000; block 1: checksum mismatch"));
	ub_diag_free(&d);
}

static void superblock_fields_are_validated(void **state)
{
	uint8_t blk[UB_BLOCK_SIZE];
	struct ub_superblock *sb = (void *)blk;
	struct ub_diag d;
	T;

	ubt_format(t, 0, 0, 0);
	ubt_read_block(t, 0, blk);
	sb->chunk_sectors = htole32(12);
	ubt_recsum(blk);
	ubt_write_block(t, 0, blk);
	assert_int_equal(ubt_check(t, NULL, &d), 1);
	assert_true(ubt_has(&d, UB_ERR, "chunk_sectors 12 is not a power of two in [8, 2048]"));
	ub_diag_free(&d);

	ubt_read_block(t, 1, blk);
	sb->hdr.blocknr = 0;
	sb->map_start = htole64(le64toh(sb->map_start) + 1);
	ubt_recsum(blk);
	ubt_write_block(t, 0, blk);
	assert_int_equal(ubt_check(t, NULL, &d), 1);
	assert_true(ubt_has(&d, UB_ERR, "map_start 19, the layout gives 18"));
	ub_diag_free(&d);

	ubt_read_block(t, 1, blk);
	sb->hdr.blocknr = 0;
	sb->capacity_chunks = htole64(1ULL << 40);
	ubt_recsum(blk);
	ubt_write_block(t, 0, blk);
	assert_int_equal(ubt_check(t, NULL, &d), 1);
	assert_true(ubt_has(&d, UB_ERR, "capacity_chunks 1099511627776 outside"));
	ub_diag_free(&d);
}

static void store_too_small_for_layout_is_rejected(void **state)
{
	struct ub_store *s;
	struct ub_diag d;
	T;

	ubt_format(t, 0, 0, 0);
	assert_int_equal(truncate(t->store, 40960), 0);
	ub_diag_init(&d);
	assert_int_equal(ub_open(t->store, NULL, 0, &s, &d), -EUCLEAN);
	assert_non_null(strstr(d.err, "not below the store size"));
	ub_diag_free(&d);
}

static void wrong_base_is_error(void **state)
{
	struct ub_store *s;
	struct ub_diag d;
	T;

	ubt_format(t, 0, 0, 0);
	ubt_make_file(t->other, t->base_bytes, false);	/* zeroes */
	assert_int_equal(ubt_check(t, t->other, &d), 1);
	assert_true(ubt_has(&d, UB_ERR, "fingerprint"));
	assert_true(ubt_has(&d, UB_ERR, "a different or modified base"));
	ub_diag_free(&d);
	ubt_make_file(t->other, t->base_bytes + 4096, true);
	assert_int_equal(ubt_check(t, t->other, &d), 1);
	assert_true(ubt_has(&d, UB_ERR, "size 8200 sectors, the store was formatted over 8192"));
	ub_diag_free(&d);
	/* read-only users refuse a wrong base outright */
	ub_diag_init(&d);
	assert_int_equal(ub_open(t->store, t->other, 0, &s, &d), -EUCLEAN);
	ub_diag_free(&d);
}

static void bad_map_block_names_its_chunks(void **state)
{
	uint8_t blk[UB_BLOCK_SIZE];
	struct ub_layout l;
	struct ub_meta m;
	struct ub_diag d;
	T;

	make_basic(t, &m);
	ubt_layout(t, &l, NULL);
	ubt_read_block(t, l.map_start + 1, blk);
	blk[2000] ^= 4;
	ubt_write_block(t, l.map_start + 1, blk);
	assert_true(ubt_check(t, t->base, &d) >= 1);
	assert_true(ubt_has(&d, UB_ERR, "map block 1 (chunks 1016-2031): checksum mismatch"));
	/* its data chunk is now referenced by nobody */
	assert_true(ubt_has(&d, UB_ERR, "data chunk 10 marked allocated but not mapped"));
	ub_diag_free(&d);
	ub_meta_free(&m);
}

static void map_block_at_wrong_home_is_error(void **state)
{
	uint8_t blk[UB_BLOCK_SIZE];
	struct ub_layout l;
	struct ub_meta m;
	struct ub_diag d;
	T;

	make_basic(t, &m);
	ubt_layout(t, &l, NULL);
	ubt_read_block(t, l.map_start, blk);
	ubt_write_block(t, l.map_start + 1, blk);
	assert_true(ubt_check(t, t->base, &d) >= 1);
	assert_true(ubt_has(&d, UB_ERR, "map block 1 (chunks 1016-2031): block number 18, expected 19"));
	ub_diag_free(&d);
	/* and a bitmap block where a map block belongs */
	ubt_read_block(t, l.bitmap_start, blk);
	ubt_write_block(t, l.map_start, blk);
	assert_true(ubt_check(t, t->base, &d) >= 1);
	assert_true(ubt_has(&d, UB_ERR, "map block 0 (chunks 0-1015): type 4 (bitmap), expected 3 (map)"));
	ub_diag_free(&d);
	ub_meta_free(&m);
}

static void entries_beyond_capacity_are_error(void **state)
{
	struct ub_meta m;
	struct ub_diag d;
	T;

	make_basic(t, &m);
	ubt_poke_entry(t, 1030, UB_MAP_WHITEOUT);	/* capacity is 1024 */
	assert_int_equal(ubt_check(t, t->base, &d), 1);
	assert_true(ubt_has(&d, UB_ERR, "1 non-zero entries beyond the capacity (1024 chunks)"));
	ub_diag_free(&d);
	ub_meta_free(&m);
}

static void superblock_copies_that_differ_are_error(void **state)
{
	uint8_t blk[UB_BLOCK_SIZE];
	struct ub_superblock *sb = (void *)blk;
	struct ub_diag d;
	T;

	ubt_format(t, 0, 0, 0);
	ubt_read_block(t, 1, blk);
	strcpy(sb->tenant_name, "mallory");
	ubt_recsum(blk);
	ubt_write_block(t, 1, blk);
	assert_int_equal(ubt_check(t, t->base, &d), 1);
	assert_true(ubt_has(&d, UB_ERR, "superblock copies at blocks 0 and 1 differ"));
	ub_diag_free(&d);
}

static void journal_image_outside_map_region_invalidates_slot(void **state)
{
	uint8_t img[UB_BLOCK_SIZE];
	struct ub_layout l;
	struct ub_meta m;
	struct ub_diag d;
	uint64_t home;
	T;

	make_basic(t, &m);
	ubt_layout(t, &l, NULL);
	ubt_map_image(t, &m, 0, 3, img);
	home = l.bitmap_start;		/* a map image aimed at the bitmap */
	ub_block_finish(img, home, 3, UB_BT_MAP);
	ubt_write_txn(t, 3, 1, &home, img, 3, 2);
	assert_int_equal(ubt_check(t, t->base, &d), 0);
	assert_true(ubt_has(&d, UB_WARN, "outside the map region"));
	ub_diag_free(&d);
	ub_meta_free(&m);
}

static void journal_nr_blocks_above_capacity_invalidates_slot(void **state)
{
	struct ub_meta m;
	struct ub_diag d;
	uint8_t hdr[UB_BLOCK_SIZE];
	struct ub_layout l;
	uint32_t jb;
	T;

	make_basic(t, &m);
	ubt_layout(t, &l, &jb);
	ubt_write_txn(t, 3, 0, NULL, NULL, 3, 2);
	ubt_read_block(t, ub_journal_slot(l.journal_start, jb, 1), hdr);
	ub_put_le32(hdr + 32, 0xffffffff);
	ubt_recsum(hdr);
	ubt_write_block(t, ub_journal_slot(l.journal_start, jb, 1), hdr);
	assert_int_equal(ubt_check(t, t->base, &d), 0);
	assert_true(ubt_has(&d, UB_WARN, "nr_blocks 4294967295 above the slot capacity 7"));
	ub_diag_free(&d);
	ub_meta_free(&m);
}

static void journal_header_records_data_chunks(void **state)
{
	struct ub_store *s;
	struct ub_meta m;
	struct ub_diag d;
	T;

	make_basic(t, &m);
	ub_diag_init(&d);
	assert_int_equal(ub_open(t->store, NULL, 0, &s, &d), 0);
	assert_int_equal(s->st.data_chunks, 1024);
	assert_int_equal(s->data_chunks, 1024);
	ub_close(s);
	ub_diag_free(&d);
	/* the store shrinks below a mapped data chunk: error and warning */
	assert_int_equal(truncate(t->store, (21 + 8) * 4096), 0);
	assert_true(ubt_check(t, NULL, &d) >= 1);
	assert_true(ubt_has(&d, UB_WARN, "1024 data chunks at the last commit, now 8 (the store shrank)"));
	assert_true(ubt_has(&d, UB_ERR, "chunk 1020: mapped to data chunk 10, beyond the store's 8 data chunks"));
	ub_diag_free(&d);
	ub_meta_free(&m);
	ubt_make_file(t->store, 8u << 20, false);
}

static void slot_zero_with_seq_zero_is_accepted_like_the_kernel(void **state)
{
	struct ub_store *s;
	struct ub_diag d;
	T;

	ubt_format(t, 0, 0, 0);
	ubt_write_txn(t, 0, 0, NULL, NULL, 0, 0);
	assert_int_equal(ubt_check(t, t->base, &d), 0);
	assert_int_equal(d.warnings, 0);
	ub_diag_free(&d);
	ub_diag_init(&d);
	assert_int_equal(ub_open(t->store, NULL, 0, &s, &d), 0);
	assert_int_equal(s->st.slot, 0);
	assert_int_equal(s->st.seq, 0);
	ub_close(s);
	ub_diag_free(&d);
}

static void check_of_million_mapped_chunks_is_fast(void **state)
{
	struct ub_format_opts o = { 0 };
	struct ub_check_summary sum;
	struct timespec a, b;
	struct ub_store *s;
	struct ub_meta m;
	struct ub_diag d;
	uint64_t v, n = 1000000;
	double secs;
	T;

	ubt_make_file(t->other, 4ULL << 30, false);	/* sparse base */
	ubt_make_file(t->store, 5ULL << 30, false);
	o.base = t->other;
	o.force = true;
	ub_diag_init(&d);
	assert_int_equal(ub_format(t->store, &o, &d), 0);
	ubt_meta(t, &m);
	for (v = 0; v < n; v++)		/* scattered: a permutation */
		m.map[v] = (uint32_t)((v * 7919) % n) + 1;
	m.alloc_cursor = n;
	ubt_commit(t, &m, 9);

	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(ub_open(t->store, NULL, 0, &s, &d), 0);
	assert_int_equal(ub_check(s, &sum, &d), 0);
	ub_close(s);
	clock_gettime(CLOCK_MONOTONIC, &b);
	secs = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
	fprintf(stderr, "# check of %llu mapped chunks: %.3f s\n",
		(unsigned long long)n, secs);
	assert_int_equal(d.errors, 0);
	assert_int_equal(sum.mapped_chunks, n);
	assert_int_equal(sum.bitmap_set, n);
	assert_true(secs < 2.0);
	ub_diag_free(&d);
	ub_meta_free(&m);
	ubt_make_file(t->store, 8u << 20, false);
	unlink(t->other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(format_then_check_is_clean),
		cmocka_unit_test(mapped_chunks_and_whiteouts_check_clean),
		cmocka_unit_test(journal_replay_applies_committed_slot),
		cmocka_unit_test(torn_slot_is_ignored_with_warning),
		cmocka_unit_test(torn_first_transaction_is_a_warning),
		cmocka_unit_test(lost_journal_is_an_error),
		cmocka_unit_test(older_valid_slot_is_not_replayed),
		cmocka_unit_test(map_block_with_future_seq_is_error),
		cmocka_unit_test(entry_beyond_data_chunks_is_error),
		cmocka_unit_test(double_mapping_is_error),
		cmocka_unit_test(bitmap_mismatch_is_error),
		cmocka_unit_test(counter_mismatch_is_error),
		cmocka_unit_test(bad_superblock_falls_back_to_copy),
		cmocka_unit_test(both_superblocks_bad_cannot_open),
		cmocka_unit_test(superblock_fields_are_validated),
		cmocka_unit_test(store_too_small_for_layout_is_rejected),
		cmocka_unit_test(wrong_base_is_error),
		cmocka_unit_test(bad_map_block_names_its_chunks),
		cmocka_unit_test(map_block_at_wrong_home_is_error),
		cmocka_unit_test(entries_beyond_capacity_are_error),
		cmocka_unit_test(superblock_copies_that_differ_are_error),
		cmocka_unit_test(journal_image_outside_map_region_invalidates_slot),
		cmocka_unit_test(journal_nr_blocks_above_capacity_invalidates_slot),
		cmocka_unit_test(journal_header_records_data_chunks),
		cmocka_unit_test(slot_zero_with_seq_zero_is_accepted_like_the_kernel),
		cmocka_unit_test(check_of_million_mapped_chunks_is_fast),
	};

	return cmocka_run_group_tests_name("check", tests, ubt_setup,
					   ubt_teardown);
}
