// SPDX-License-Identifier: GPL-2.0
/*
 * The virtual device read offline: mapped chunks from the store,
 * whiteouts as zeroes, the rest from the base, zeroes past its end; and
 * the changed-chunk ranges (delta).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ubtest.h"

#define T	struct ubt *t = *state
#define CB	4096u

static uint8_t data_byte(uint64_t dc, uint64_t i)
{
	return (uint8_t)(0x5a ^ dc ^ (i * 7));
}

/* Fill data chunk dc of the store with its pattern. */
static void fill_data(struct ubt *t, uint64_t dc)
{
	struct ub_layout l;
	uint8_t buf[CB];
	uint64_t i;
	int fd;

	ubt_layout(t, &l, NULL);
	for (i = 0; i < CB; i++)
		buf[i] = data_byte(dc, i);
	fd = open(t->store, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(ub_pwrite(fd, buf, CB, (l.data_start << 9) + dc * CB), 0);
	close(fd);
}

static void expected(struct ubt *t, const struct ub_meta *m, uint64_t base_bytes,
		     uint8_t *out)
{
	uint64_t v, i;

	(void)t;
	for (v = 0; v < m->capacity; v++) {
		for (i = 0; i < CB; i++) {
			uint64_t off = v * CB + i;
			uint8_t b;

			if (m->map[v] == UB_MAP_WHITEOUT)
				b = 0;
			else if (m->map[v])
				b = data_byte(m->map[v] - 1, i);
			else
				b = off < base_bytes ? ubt_base_byte(off) : 0;
			out[off] = b;
		}
	}
}

static void virtual_read_assembles_store_base_and_zeroes(void **state)
{
	struct ub_store *s;
	struct ub_meta m;
	struct ub_diag d;
	uint8_t *want, *got;
	uint64_t size, off;
	T;

	ubt_format(t, 6u << 20, 0, 0);	/* 1536 chunks over a 1024-chunk base */
	ubt_meta(t, &m);
	m.map[0] = 4;
	m.map[1] = 1;
	m.map[2] = UB_MAP_WHITEOUT;
	m.map[1100] = 2;		/* past the base end, copied up */
	m.map[1535] = UB_MAP_WHITEOUT;
	fill_data(t, 3);
	fill_data(t, 0);
	fill_data(t, 1);
	ubt_commit(t, &m, 1);

	size = m.capacity * CB;
	want = malloc(size);
	got = malloc(size);
	expected(t, &m, t->base_bytes, want);
	ub_diag_init(&d);
	assert_int_equal(ub_open(t->store, t->base, 0, &s, &d), 0);
	assert_int_equal(ub_virtual_bytes(s), size);
	assert_int_equal(ub_read_virtual(s, 0, got, size, &d), 0);
	assert_memory_equal(want, got, size);
	/* unaligned pieces across chunk boundaries */
	for (off = 1; off < size; off += 777777) {
		size_t n = size - off < 9000 ? size - off : 9000;

		assert_int_equal(ub_read_virtual(s, off, got, n, &d), 0);
		assert_memory_equal(want + off, got, n);
	}
	assert_int_equal(ub_read_virtual(s, size - 10, got, 11, &d), -ERANGE);
	ub_close(s);
	ub_diag_free(&d);
	free(want);
	free(got);
	ub_meta_free(&m);
}

static void partial_last_chunk_of_base_reads_zero_tail(void **state)
{
	struct ub_store *s;
	struct ub_diag d;
	uint8_t got[CB];
	uint64_t bb = 16384 + 1000, i;
	T;

	ubt_make_file(t->base, bb, true);
	ubt_format(t, 0, 0, 0);
	ub_diag_init(&d);
	assert_int_equal(ub_open(t->store, t->base, 0, &s, &d), 0);
	assert_int_equal(s->capacity, 5);
	assert_int_equal(ub_read_virtual(s, 16384, got, CB, &d), 0);
	for (i = 0; i < CB; i++)
		/* the base is 33 whole sectors: 512 bytes of chunk 4 */
		assert_int_equal(got[i], i < 512 ? ubt_base_byte(16384 + i) : 0);
	ub_close(s);
	ub_diag_free(&d);
	ubt_make_file(t->base, t->base_bytes, true);
}

static void read_needs_a_base_for_unmapped_chunks(void **state)
{
	struct ub_store *s;
	struct ub_diag d;
	uint8_t got[CB];
	T;

	ubt_format(t, 0, 0, 0);
	ub_diag_init(&d);
	assert_int_equal(ub_open(t->store, NULL, 0, &s, &d), 0);
	assert_int_equal(ub_read_virtual(s, 0, got, CB, &d), -EINVAL);
	assert_non_null(strstr(d.err, "needs the base"));
	ub_close(s);
	ub_diag_free(&d);
}

static void read_of_entry_beyond_data_fails(void **state)
{
	struct ub_store *s;
	struct ub_diag d;
	uint8_t got[CB];
	T;

	ubt_format(t, 0, 0, 0);
	ubt_poke_entry(t, 4, 100000);
	ub_diag_init(&d);
	assert_int_equal(ub_open(t->store, t->base, 0, &s, &d), 0);
	assert_int_equal(ub_read_virtual(s, 4 * CB, got, CB, &d), -EUCLEAN);
	assert_non_null(strstr(d.err, "chunk 4: mapped to data chunk 99999"));
	ub_close(s);
	ub_diag_free(&d);
}

struct range {
	enum ub_range_type type;
	uint64_t first, nr;
};

struct ranges {
	struct range r[16];
	int n;
};

static int collect(void *ctx, enum ub_range_type type, uint64_t first,
		   uint64_t nr)
{
	struct ranges *rs = ctx;

	assert_true(rs->n < 16);
	rs->r[rs->n++] = (struct range){ type, first, nr };
	return 0;
}

static void delta_lists_runs_of_mapped_and_whiteout(void **state)
{
	struct ranges rs = { .n = 0 };
	struct ub_store *s;
	struct ub_meta m;
	struct ub_diag d;
	uint64_t v;
	T;

	ubt_format(t, 0, 0, 0);
	ubt_meta(t, &m);
	for (v = 1010; v < 1020; v++)	/* across the map block boundary */
		m.map[v] = 2000 - v;
	m.map[1020] = UB_MAP_WHITEOUT;
	m.map[1021] = UB_MAP_WHITEOUT;
	m.map[1022] = 5;
	m.map[0] = UB_MAP_WHITEOUT;
	ubt_commit(t, &m, 1);
	ub_diag_init(&d);
	assert_int_equal(ub_open(t->store, NULL, 0, &s, &d), 0);
	assert_int_equal(ub_delta_walk(s, collect, &rs, &d), 0);
	assert_int_equal(rs.n, 4);
	assert_int_equal(rs.r[0].type, UB_RANGE_WHITEOUT);
	assert_int_equal(rs.r[0].first, 0);
	assert_int_equal(rs.r[0].nr, 1);
	assert_int_equal(rs.r[1].type, UB_RANGE_MAPPED);
	assert_int_equal(rs.r[1].first, 1010);
	assert_int_equal(rs.r[1].nr, 10);
	assert_int_equal(rs.r[2].type, UB_RANGE_WHITEOUT);
	assert_int_equal(rs.r[2].first, 1020);
	assert_int_equal(rs.r[2].nr, 2);
	assert_int_equal(rs.r[3].type, UB_RANGE_MAPPED);
	assert_int_equal(rs.r[3].first, 1022);
	assert_int_equal(rs.r[3].nr, 1);
	ub_close(s);
	ub_diag_free(&d);
	ub_meta_free(&m);
}

static void delta_fails_on_bad_map_block(void **state)
{
	struct ranges rs = { .n = 0 };
	uint8_t blk[UB_BLOCK_SIZE];
	struct ub_layout l;
	struct ub_store *s;
	struct ub_diag d;
	T;

	ubt_format(t, 0, 0, 0);
	ubt_poke_entry(t, 3, 4);
	ubt_layout(t, &l, NULL);
	ubt_read_block(t, l.map_start, blk);
	blk[9] ^= 1;
	ubt_write_block(t, l.map_start, blk);
	ub_diag_init(&d);
	assert_int_equal(ub_open(t->store, NULL, 0, &s, &d), 0);
	assert_int_equal(ub_delta_walk(s, collect, &rs, &d), -EUCLEAN);
	assert_non_null(strstr(d.err, "map block 0 (chunks 0-1015): checksum mismatch"));
	ub_close(s);
	ub_diag_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(virtual_read_assembles_store_base_and_zeroes),
		cmocka_unit_test(partial_last_chunk_of_base_reads_zero_tail),
		cmocka_unit_test(read_needs_a_base_for_unmapped_chunks),
		cmocka_unit_test(read_of_entry_beyond_data_fails),
		cmocka_unit_test(delta_lists_runs_of_mapped_and_whiteout),
		cmocka_unit_test(delta_fails_on_bad_map_block),
	};

	return cmocka_run_group_tests_name("read", tests, ubt_setup,
					   ubt_teardown);
}
