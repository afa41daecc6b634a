// SPDX-License-Identifier: GPL-2.0
/* unionblk format: geometry, names, and what it refuses. */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ubtest.h"

#define T	struct ubt *t = *state

static int format(struct ubt *t, struct ub_format_opts *o, struct ub_diag *d)
{
	ub_diag_init(d);
	o->base = t->base;
	return ub_format(t->store, o, d);
}

static void format_records_geometry_and_names(void **state)
{
	struct ub_format_opts o = { .chunk_sectors = 128,
				    .capacity_bytes = 1ULL << 30,
				    .tenant = "alice", .base_name = "img-42" };
	struct ub_layout l;
	struct ub_store *s;
	struct ub_diag d;
	char name[65];
	uint32_t fp;
	T;

	ubt_make_file(t->store, 8u << 20, false);
	assert_int_equal(format(t, &o, &d), 0);
	assert_int_equal(ub_open(t->store, t->base, 0, &s, &d), 0);
	assert_int_equal(s->chunk_bytes, 65536);
	assert_int_equal(s->capacity, 16384);
	/* the kernel's default: room for all 19 metadata blocks */
	assert_int_equal(s->journal_blocks, 32);
	assert_int_equal(ub_default_journal_blocks(16384), 32);
	ub_compute_layout(16384, 128, 32, &l);
	assert_int_equal(s->lay.data_start, l.data_start);
	assert_int_equal(s->data_chunks, ((8u << 20) / 512 - l.data_start) / 128);
	assert_int_equal(le64toh(s->sb.base_sectors), t->base_bytes / 512);
	assert_int_equal(ub_fingerprint(s->base_fd, s->base_bytes, &fp, &d), 0);
	assert_int_equal(le32toh(s->sb.base_fingerprint), fp);
	ub_name_get(s->sb.tenant_name, name);
	assert_string_equal(name, "alice");
	ub_name_get(s->sb.base_name, name);
	assert_string_equal(name, "img-42");
	ub_close(s);
	ub_diag_free(&d);
}

static void format_refuses_existing_store_without_force(void **state)
{
	struct ub_format_opts o = { 0 };
	struct ub_diag d;
	T;

	ubt_make_file(t->store, 8u << 20, false);
	assert_int_equal(format(t, &o, &d), 0);
	ub_diag_free(&d);
	assert_int_equal(format(t, &o, &d), -EEXIST);
	assert_non_null(strstr(d.err, "already holds a unionblk store"));
	ub_diag_free(&d);
	o.force = true;
	assert_int_equal(format(t, &o, &d), 0);
	ub_diag_free(&d);
}

static void format_refuses_store_too_small(void **state)
{
	struct ub_format_opts o = { 0 };
	struct ub_layout l;
	struct ub_diag d;
	T;

	/* 1024 chunks: 2 + 2*16 + 2 + 1 blocks of metadata, + one chunk */
	ub_compute_layout(1024, 8, ub_default_journal_blocks(1024), &l);
	assert_int_equal(l.data_start, 37 * 8);
	ubt_make_file(t->store, 37 * 4096 + 4095, false);
	assert_int_equal(format(t, &o, &d), -ENOSPC);
	assert_non_null(strstr(d.err, "too small"));
	ub_diag_free(&d);
	ubt_make_file(t->store, 37 * 4096 + 4096, false);
	assert_int_equal(format(t, &o, &d), 0);
	ub_diag_free(&d);
	ubt_make_file(t->store, 8u << 20, false);
}

static void format_rejects_bad_arguments(void **state)
{
	struct ub_format_opts o = { .chunk_sectors = 24 };
	char name[80];
	struct ub_diag d;
	T;

	ubt_make_file(t->store, 8u << 20, false);
	assert_int_equal(format(t, &o, &d), -EINVAL);
	assert_non_null(strstr(d.err, "power of two"));
	ub_diag_free(&d);
	o.chunk_sectors = 4096;
	assert_int_equal(format(t, &o, &d), -EINVAL);
	ub_diag_free(&d);
	o.chunk_sectors = 0;
	memset(name, 'x', 64);
	name[64] = '\0';
	o.tenant = name;
	assert_int_equal(format(t, &o, &d), -ENAMETOOLONG);
	ub_diag_free(&d);
	name[63] = '\0';
	assert_int_equal(format(t, &o, &d), 0);
	ub_diag_free(&d);
}

static void format_refuses_tiny_base_and_same_file(void **state)
{
	struct ub_format_opts o = { .force = true };
	struct ub_diag d;
	T;

	ubt_make_file(t->other, 4095, true);
	ub_diag_init(&d);
	o.base = t->other;
	assert_int_equal(ub_format(t->store, &o, &d), -EINVAL);
	assert_non_null(strstr(d.err, "base too small"));
	ub_diag_free(&d);
	o.base = t->store;
	assert_int_equal(ub_format(t->store, &o, &d), -EINVAL);
	assert_non_null(strstr(d.err, "the same"));
	ub_diag_free(&d);
	unlink(t->other);
}

static void format_over_old_store_forgets_its_mappings(void **state)
{
	struct ub_format_opts o = { .force = true };
	struct ub_store *s;
	struct ub_meta m;
	struct ub_diag d;
	uint32_t e;
	T;

	ubt_format(t, 0, 0, 0);
	ubt_meta(t, &m);
	m.map[3] = 9;
	ubt_commit(t, &m, 5);
	ub_meta_free(&m);
	assert_int_equal(format(t, &o, &d), 0);
	ub_diag_free(&d);
	assert_int_equal(ubt_check(t, t->base, &d), 0);
	ub_diag_free(&d);
	ub_diag_init(&d);
	assert_int_equal(ub_open(t->store, NULL, 0, &s, &d), 0);
	assert_int_equal(s->st.seq, 0);
	assert_int_equal(ub_map_entry(s, 3, &e, &d), 0);
	assert_int_equal(e, 0);
	ub_close(s);
	ub_diag_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(format_records_geometry_and_names),
		cmocka_unit_test(format_refuses_existing_store_without_force),
		cmocka_unit_test(format_refuses_store_too_small),
		cmocka_unit_test(format_rejects_bad_arguments),
		cmocka_unit_test(format_refuses_tiny_base_and_same_file),
		cmocka_unit_test(format_over_old_store_forgets_its_mappings),
	};

	return cmocka_run_group_tests_name("format", tests, ubt_setup,
					   ubt_teardown);
}
