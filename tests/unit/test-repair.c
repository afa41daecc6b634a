// SPDX-License-Identifier: GPL-2.0
/*
 * unionblk repair: every corruption check reports is rebuilt into a
 * store that checks clean, keeping what survives and reporting the rest.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ubtest.h"

#define T	struct ubt *t = *state

static void make_basic(struct ubt *t, struct ub_meta *m)
{
	ubt_format(t, 0, 0, 0);
	ubt_meta(t, m);
	m->map[0] = 1;
	m->map[1] = 2;
	m->map[2] = UB_MAP_WHITEOUT;
	m->map[1020] = 11;
	m->map[1023] = UB_MAP_WHITEOUT;
	m->alloc_cursor = 11;
	ubt_commit(t, m, 2);
}

/* Repair t->store; returns what it wrote; plan problems kept in *plan. */
static struct ub_write_stats repair(struct ubt *t, bool dry,
				    struct ub_repair_stats *rs,
				    struct ub_diag *plan)
{
	struct ub_write_stats ws;
	struct ub_store *s;
	struct ub_meta m;
	struct ub_diag d;

	ub_diag_init(&d);
	ub_diag_init(plan);
	if (ub_open(t->store, NULL, UB_OPEN_TOLERANT | UB_OPEN_RW, &s, &d))
		fail_msg("open: %s", d.err);
	if (ub_repair_plan(s, &m, rs, plan))
		fail_msg("plan: %s", plan->err);
	if (ub_meta_write(s, &m, UB_WRITE_AUTO, dry, &ws, plan))
		fail_msg("write: %s", plan->err);
	ub_meta_free(&m);
	ub_close(s);
	ub_diag_free(&d);
	return ws;
}

static void assert_clean(struct ubt *t)
{
	struct ub_diag d;

	assert_int_equal(ubt_check(t, t->base, &d), 0);
	if (d.warnings)
		ubt_dump_diag(&d);
	assert_int_equal(d.warnings, 0);
	ub_diag_free(&d);
}

static uint32_t entry(struct ubt *t, uint64_t v)
{
	struct ub_store *s;
	struct ub_diag d;
	uint32_t e = 0xdead;

	ub_diag_init(&d);
	assert_int_equal(ub_open(t->store, NULL, 0, &s, &d), 0);
	assert_int_equal(ub_map_entry(s, v, &e, &d), 0);
	ub_close(s);
	ub_diag_free(&d);
	return e;
}

static void repair_of_clean_store_writes_nothing(void **state)
{
	struct ub_repair_stats rs;
	struct ub_write_stats ws;
	struct ub_meta m;
	struct ub_diag plan;
	T;

	make_basic(t, &m);
	ws = repair(t, true, &rs, &plan);
	assert_int_equal(ws.blocks_changed, 0);
	assert_false(ws.journaled);
	assert_false(ws.sb_rewritten);
	assert_int_equal(plan.nr, 0);
	ub_diag_free(&plan);
	ub_meta_free(&m);
}

static void repair_drops_bad_map_block(void **state)
{
	uint8_t blk[UB_BLOCK_SIZE];
	struct ub_repair_stats rs;
	struct ub_write_stats ws;
	struct ub_layout l;
	struct ub_meta m;
	struct ub_diag plan;
	T;

	make_basic(t, &m);
	ubt_layout(t, &l, NULL);
	ubt_read_block(t, l.map_start + 1, blk);
	blk[3000] ^= 1;
	ubt_write_block(t, l.map_start + 1, blk);
	ws = repair(t, false, &rs, &plan);
	assert_true(ws.journaled);
	assert_int_equal(rs.blocks_dropped, 1);
	assert_true(ubt_has(&plan, UB_INFO,
			    "map block 1 (chunks 1016-2031): checksum mismatch: dropped"));
	assert_clean(t);
	assert_int_equal(entry(t, 1020), 0);
	assert_int_equal(entry(t, 1), 2);
	ub_diag_free(&plan);
	ub_meta_free(&m);
}

static void repair_unmaps_out_of_range_entry(void **state)
{
	struct ub_repair_stats rs;
	struct ub_meta m;
	struct ub_diag plan;
	T;

	make_basic(t, &m);
	ubt_poke_entry(t, 3, 9999);
	repair(t, false, &rs, &plan);
	assert_int_equal(rs.entries_cleared, 1);
	assert_true(ubt_has(&plan, UB_INFO, "chunk 3: data chunk 9998 beyond the store's 1024 data chunks: unmapped"));
	assert_clean(t);
	assert_int_equal(entry(t, 3), 0);
	ub_diag_free(&plan);
	ub_meta_free(&m);
}

static void repair_unmaps_every_owner_of_double_mapping(void **state)
{
	struct ub_repair_stats rs;
	struct ub_meta m;
	struct ub_diag plan;
	T;

	make_basic(t, &m);
	ubt_poke_entry(t, 7, 2);
	repair(t, false, &rs, &plan);
	assert_int_equal(rs.entries_cleared, 2);
	assert_true(ubt_has(&plan, UB_INFO, "chunk 1: data chunk 1 is mapped more than once: unmapped"));
	assert_true(ubt_has(&plan, UB_INFO, "chunk 7: data chunk 1 is mapped more than once: unmapped"));
	assert_clean(t);
	assert_int_equal(entry(t, 1), 0);
	assert_int_equal(entry(t, 7), 0);
	assert_int_equal(entry(t, 0), 1);
	ub_diag_free(&plan);
	ub_meta_free(&m);
}

static void repair_rebuilds_bitmap(void **state)
{
	struct ub_repair_stats rs;
	struct ub_meta m;
	struct ub_diag plan;
	T;

	make_basic(t, &m);
	ubt_flip_bitmap(t, 50);
	ubt_flip_bitmap(t, 0);
	repair(t, false, &rs, &plan);
	assert_int_equal(rs.entries_cleared, 0);
	assert_clean(t);
	assert_int_equal(entry(t, 0), 1);
	ub_diag_free(&plan);
	ub_meta_free(&m);
}

static void repair_recomputes_counters(void **state)
{
	struct ub_repair_stats rs;
	struct ub_store *s;
	struct ub_meta m;
	struct ub_diag plan, d;
	T;

	make_basic(t, &m);
	ubt_write_txn(t, 3, 0, NULL, NULL, 70, 10);
	repair(t, false, &rs, &plan);
	assert_clean(t);
	ub_diag_init(&d);
	assert_int_equal(ub_open(t->store, NULL, 0, &s, &d), 0);
	assert_int_equal(s->st.mapped_chunks, 3);
	assert_int_equal(s->st.whiteout_chunks, 2);
	assert_int_equal(s->st.seq, 4);
	ub_close(s);
	ub_diag_free(&d);
	ub_diag_free(&plan);
	ub_meta_free(&m);
}

static void repair_rewrites_bad_superblock_from_copy(void **state)
{
	uint8_t blk[UB_BLOCK_SIZE], blk1[UB_BLOCK_SIZE];
	struct ub_repair_stats rs;
	struct ub_write_stats ws;
	struct ub_meta m;
	struct ub_diag plan;
	T;

	make_basic(t, &m);
	ubt_read_block(t, 0, blk);
	memset(blk + 100, 0x55, 50);
	ubt_write_block(t, 0, blk);
	ws = repair(t, false, &rs, &plan);
	assert_true(ws.sb_rewritten);
	assert_true(ubt_has(&plan, UB_INFO, "superblock: both copies rewritten from block 1"));
	assert_clean(t);
	ubt_read_block(t, 0, blk);
	ubt_read_block(t, 1, blk1);
	assert_int_equal(ub_sb_validate(blk, 0, 8u << 20, (char[160]){ 0 }, 160), 0);
	assert_memory_equal(blk + 40, blk1 + 40, UB_BLOCK_SIZE - 40);
	ub_diag_free(&plan);
	ub_meta_free(&m);
}

static void repair_after_lost_journal_keeps_surviving_blocks(void **state)
{
	uint8_t hdr[UB_BLOCK_SIZE];
	struct ub_repair_stats rs;
	struct ub_layout l;
	struct ub_meta m;
	struct ub_diag plan;
	uint32_t jb;
	T;

	make_basic(t, &m);
	ubt_layout(t, &l, &jb);
	ubt_read_block(t, ub_journal_slot(l.journal_start, jb, 0), hdr);
	hdr[60] ^= 1;
	ubt_write_block(t, ub_journal_slot(l.journal_start, jb, 0), hdr);
	repair(t, false, &rs, &plan);
	assert_true(ubt_has(&plan, UB_INFO, "seq 2 beyond the committed seq 0: kept"));
	assert_clean(t);
	assert_int_equal(entry(t, 0), 1);
	assert_int_equal(entry(t, 1020), 11);
	assert_int_equal(entry(t, 1023), UB_MAP_WHITEOUT);
	ub_diag_free(&plan);
	ub_meta_free(&m);
}

static void repair_clears_torn_slot(void **state)
{
	uint8_t img[UB_BLOCK_SIZE];
	struct ub_repair_stats rs;
	struct ub_write_stats ws;
	struct ub_layout l;
	struct ub_meta m;
	struct ub_diag plan, d;
	uint64_t home;
	T;

	make_basic(t, &m);
	ubt_layout(t, &l, NULL);
	ubt_map_image(t, &m, 0, 3, img);
	img[77] ^= 1;
	home = l.map_start;
	ubt_write_txn(t, 3, 1, &home, img, 3, 2);
	assert_int_equal(ubt_check(t, t->base, &d), 0);
	assert_int_equal(d.warnings, 1);
	ub_diag_free(&d);
	ws = repair(t, false, &rs, &plan);
	assert_true(ws.journaled);
	assert_clean(t);
	ub_diag_free(&plan);
	ub_meta_free(&m);
}

static void repair_checkpoints_committed_images(void **state)
{
	uint8_t imgs[2 * UB_BLOCK_SIZE], raw[UB_BLOCK_SIZE];
	struct ub_repair_stats rs;
	struct ub_layout l;
	uint64_t homes[2];
	struct ub_meta m;
	struct ub_diag plan;
	T;

	make_basic(t, &m);
	ubt_layout(t, &l, NULL);
	m.map[5] = 101;
	ubt_map_image(t, &m, 0, 3, imgs);
	ubt_bitmap_image(t, &m, 0, 3, imgs + UB_BLOCK_SIZE);
	homes[0] = l.map_start;
	homes[1] = l.bitmap_start;
	ubt_write_txn(t, 3, 2, homes, imgs, 4, 2);
	ubt_poke_entry(t, 1021, 5000);	/* something to repair elsewhere */
	repair(t, false, &rs, &plan);
	assert_clean(t);
	/* slot 1 (seq 3) is superseded by seq 4 in slot 0: its image must
	 * have reached home */
	ubt_read_block(t, l.map_start, raw);
	assert_int_equal(ub_le32(raw + 32 + 5 * 4), 101);
	assert_int_equal(entry(t, 5), 101);
	assert_int_equal(entry(t, 1021), 0);
	ub_diag_free(&plan);
	ub_meta_free(&m);
}

static void repair_rewrites_fully_when_journal_too_small(void **state)
{
	uint8_t blk[UB_BLOCK_SIZE];
	struct ub_repair_stats rs;
	struct ub_write_stats ws;
	struct ub_layout l;
	struct ub_meta m;
	struct ub_diag plan;
	uint64_t i;
	T;

	ubt_format(t, 64u << 20, 0, 8);	/* 16384 chunks, 17 map blocks */
	ubt_meta(t, &m);
	for (i = 0; i < 17; i++)
		m.map[i * UB_MAP_ENTRIES] = i + 1;
	ubt_commit(t, &m, 2);
	ubt_layout(t, &l, NULL);
	for (i = 0; i < 10; i++) {
		ubt_read_block(t, l.map_start + i, blk);
		blk[1000] ^= 1;
		ubt_write_block(t, l.map_start + i, blk);
	}
	ws = repair(t, false, &rs, &plan);
	assert_true(ws.full);
	assert_int_equal(rs.blocks_dropped, 10);
	assert_clean(t);
	assert_int_equal(entry(t, 16 * UB_MAP_ENTRIES), 17);
	assert_int_equal(entry(t, 0), 0);
	ub_diag_free(&plan);
	ub_meta_free(&m);
}

static void backup_holds_the_metadata_region(void **state)
{
	struct ub_store *s;
	struct ub_meta m;
	struct ub_diag d;
	uint8_t *a, *b;
	uint64_t len;
	int fd;
	T;

	make_basic(t, &m);
	ub_diag_init(&d);
	assert_int_equal(ub_open(t->store, NULL, 0, &s, &d), 0);
	unlink(t->other);
	assert_int_equal(ub_backup_metadata(s, t->other, &d), 0);
	/* never over an existing file */
	assert_int_equal(ub_backup_metadata(s, t->other, &d), -EEXIST);
	len = s->lay.data_start << 9;
	ub_close(s);
	a = malloc(len);
	b = malloc(len);
	fd = open(t->store, O_RDONLY);
	assert_int_equal(ub_pread(fd, a, len, 0), 0);
	close(fd);
	fd = open(t->other, O_RDONLY);
	assert_int_equal(ub_pread(fd, b, len, 0), 0);
	assert_int_equal(lseek(fd, 0, SEEK_END), (off_t)len);
	close(fd);
	assert_memory_equal(a, b, len);
	free(a);
	free(b);
	unlink(t->other);
	ub_diag_free(&d);
	ub_meta_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(repair_of_clean_store_writes_nothing),
		cmocka_unit_test(repair_drops_bad_map_block),
		cmocka_unit_test(repair_unmaps_out_of_range_entry),
		cmocka_unit_test(repair_unmaps_every_owner_of_double_mapping),
		cmocka_unit_test(repair_rebuilds_bitmap),
		cmocka_unit_test(repair_recomputes_counters),
		cmocka_unit_test(repair_rewrites_bad_superblock_from_copy),
		cmocka_unit_test(repair_after_lost_journal_keeps_surviving_blocks),
		cmocka_unit_test(repair_clears_torn_slot),
		cmocka_unit_test(repair_checkpoints_committed_images),
		cmocka_unit_test(repair_rewrites_fully_when_journal_too_small),
		cmocka_unit_test(backup_holds_the_metadata_region),
	};

	return cmocka_run_group_tests_name("repair", tests, ubt_setup,
					   ubt_teardown);
}
