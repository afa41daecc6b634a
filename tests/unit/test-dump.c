// SPDX-License-Identifier: GPL-2.0
/* dump -> restore -> dump gives the same text; bad dumps are refused. */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ubtest.h"

#define T	struct ubt *t = *state

static void make_store(struct ubt *t)
{
	struct ub_meta m;
	uint64_t v;

	ubt_format(t, 0, 0, 0);
	ubt_meta(t, &m);
	for (v = 0; v < 40; v++)
		m.map[v] = v + 1;		/* one run */
	for (v = 100; v < 110; v++)
		m.map[v] = 300 - v;		/* descending: runs of 1 */
	m.map[50] = UB_MAP_WHITEOUT;
	m.map[51] = UB_MAP_WHITEOUT;
	m.map[1023] = UB_MAP_WHITEOUT;
	m.alloc_cursor = 40;
	ubt_commit(t, &m, 11);
	ub_meta_free(&m);
}

static char *dump_text(struct ubt *t, enum ub_dump_format fmt, size_t *len)
{
	struct ub_store *s;
	struct ub_diag d;
	char *buf = NULL;
	FILE *f;

	*len = 0;
	ub_diag_init(&d);
	if (ub_open(t->store, NULL, 0, &s, &d))
		fail_msg("open: %s", d.err);
	f = open_memstream(&buf, len);
	assert_non_null(f);
	if (ub_dump(s, f, fmt, &d))
		fail_msg("dump: %s", d.err);
	fclose(f);
	ub_close(s);
	ub_diag_free(&d);
	return buf;
}

static int restore_text(struct ubt *t, const char *text, struct ub_diag *d)
{
	struct ub_meta m;
	int r;

	ub_diag_init(d);
	r = ub_dump_parse(text, strlen(text), ub_max_capacity(8u << 20), &m, d);
	if (r)
		return r;
	r = ub_meta_restore(t->store, &m, false, NULL, d);
	ub_meta_free(&m);
	return r;
}

static void round_trip(struct ubt *t, enum ub_dump_format fmt)
{
	struct ub_diag d;
	size_t l1, l2;
	char *a, *b;

	make_store(t);
	a = dump_text(t, fmt, &l1);
	/* restore onto a wiped store */
	ubt_make_file(t->store, 8u << 20, false);
	if (restore_text(t, a, &d))
		fail_msg("restore: %s", d.err);
	ub_diag_free(&d);
	b = dump_text(t, fmt, &l2);
	assert_int_equal(l1, l2);
	assert_string_equal(a, b);
	assert_int_equal(ubt_check(t, t->base, &d), 0);
	assert_int_equal(d.warnings, 0);
	ub_diag_free(&d);
	free(a);
	free(b);
}

static void json_dump_restore_dump_is_identical(void **state)
{
	round_trip(*state, UB_DUMP_JSON);
}

static void xml_dump_restore_dump_is_identical(void **state)
{
	round_trip(*state, UB_DUMP_XML);
}

static void json_and_xml_restore_the_same_store(void **state)
{
	struct ub_diag d;
	size_t l1, l2, lx;
	char *a, *x, *b;
	T;

	make_store(t);
	a = dump_text(t, UB_DUMP_JSON, &l1);
	x = dump_text(t, UB_DUMP_XML, &lx);
	ubt_make_file(t->store, 8u << 20, false);
	assert_int_equal(restore_text(t, x, &d), 0);
	ub_diag_free(&d);
	b = dump_text(t, UB_DUMP_JSON, &l2);
	assert_string_equal(a, b);
	free(a);
	free(b);
	free(x);
}

static void dump_lists_runs(void **state)
{
	size_t len;
	char *a;
	T;

	make_store(t);
	a = dump_text(t, UB_DUMP_JSON, &len);
	assert_non_null(strstr(a, "[0, 0, 40]"));
	assert_non_null(strstr(a, "[100, 199, 1]"));
	assert_non_null(strstr(a, "[50, 2]"));
	assert_non_null(strstr(a, "[1023, 1]"));
	assert_non_null(strstr(a, "\"seq\": 11"));
	assert_non_null(strstr(a, "\"tenant_name\": \"tenant-a\""));
	free(a);
}

static void odd_names_survive_as_hex(void **state)
{
	uint8_t blk[UB_BLOCK_SIZE];
	struct ub_superblock *sb = (void *)blk;
	struct ub_diag d;
	size_t l1, l2;
	char *a, *b;
	int k;
	T;

	make_store(t);
	for (k = 0; k < 2; k++) {
		ubt_read_block(t, k, blk);
		memcpy(sb->tenant_name, "a\"<&\n\xff", 6);
		memcpy(sb->base_name, "x&y<z>\"q'", 9);
		ubt_recsum(blk);
		ubt_write_block(t, k, blk);
	}
	for (k = 0; k < 2; k++) {
		enum ub_dump_format fmt = k ? UB_DUMP_XML : UB_DUMP_JSON;

		a = dump_text(t, fmt, &l1);
		assert_non_null(strstr(a, "tenant_name_hex"));
		assert_int_equal(restore_text(t, a, &d), 0);
		ub_diag_free(&d);
		b = dump_text(t, fmt, &l2);
		assert_string_equal(a, b);
		free(a);
		free(b);
	}
}

static void expect_refused(struct ubt *t, const char *text, const char *why)
{
	struct ub_meta m;
	struct ub_diag d;

	(void)t;
	ub_diag_init(&d);
	assert_true(ub_dump_parse(text, strlen(text), ub_max_capacity(8u << 20),
				  &m, &d) < 0);
	if (!strstr(d.err, why))
		fail_msg("expected \"%s\", got \"%s\"", why, d.err);
	assert_null(m.map);
}

#define SB "\"superblock\": { \"version\": 1, \"flags\": 0, \"chunk_sectors\": 8, \"journal_blocks\": 8, \"capacity_chunks\": 1024, \"base_sectors\": 8192, \"base_fingerprint\": \"0x1\", \"uuid\": \"11223344-5566-4788-99aa-bbccddeeff00\", \"base_uuid\": \"00000000-0000-0000-0000-000000000000\", \"tenant_name\": \"\", \"base_name\": \"\", \"created\": 1 }"
#define ST(m, w) "\"state\": { \"seq\": 3, \"flags\": 0, \"mapped_chunks\": " #m ", \"whiteout_chunks\": " #w ", \"alloc_cursor\": 0 }"

static void bad_dumps_are_refused(void **state)
{
	T;

	expect_refused(t, "", "neither JSON nor XML");
	expect_refused(t, "{", "not valid JSON");
	expect_refused(t, "{ \"unionblk_dump\": 2 }", "not a unionblk dump");
	expect_refused(t, "{ \"unionblk_dump\": 1, " SB ", " ST(2, 0)
		       ", \"mappings\": [[0, 0, 1], [0, 5, 1]] }",
		       "chunk 0 listed twice");
	expect_refused(t, "{ \"unionblk_dump\": 1, " SB ", " ST(1, 0)
		       ", \"mappings\": [[1024, 0, 1]] }",
		       "outside the capacity");
	expect_refused(t, "{ \"unionblk_dump\": 1, " SB ", " ST(1, 0)
		       ", \"mappings\": [[1000, 0, 100]] }",
		       "outside the capacity");
	expect_refused(t, "{ \"unionblk_dump\": 1, " SB ", " ST(5, 0)
		       ", \"mappings\": [[0, 0, 1]] }",
		       "state says 5 mapped");
	expect_refused(t, "{ \"unionblk_dump\": 1, " SB ", " ST(1, 0)
		       ", \"mappings\": [[0, -1, 1]] }", "not a number");
	expect_refused(t, "{ \"unionblk_dump\": 1, " SB ", " ST(1, 0)
		       ", \"mappings\": [[0, 4294967294, 1]] }", "out of range");
	expect_refused(t, "{ \"unionblk_dump\": 1, " SB ", " ST(0, 0)
		       ", \"extra\": 1 }", "unknown key");
	expect_refused(t, "{ \"unionblk_dump\": 1, \"superblock\": { \"version\": 1, \"chunk_sectors\": 8, \"journal_blocks\": 8, \"capacity_chunks\": 99999999999 } }",
		       "capacity_chunks 99999999999 outside");
	expect_refused(t, "{ \"unionblk_dump\": 1, \"superblock\": { \"version\": 1, \"chunk_sectors\": 0, \"journal_blocks\": 8, \"capacity_chunks\": 1 } }",
		       "chunk_sectors 0");
	expect_refused(t, "{ \"unionblk_dump\": 1, \"superblock\": { \"version\": 1, \"chunk_sectors\": 8, \"journal_blocks\": 1025, \"capacity_chunks\": 1 } }",
		       "journal_blocks 1025 outside [8, 1024]");
	expect_refused(t, "<unionblk_dump version=\"1\"><mapping virt=\"0\" data=\"0\" count=\"1\"/></unionblk_dump>",
		       "<mapping> before <state>");
	expect_refused(t, "<!DOCTYPE x [<!ENTITY a \"b\">]><unionblk_dump version=\"1\"/>",
		       "DOCTYPE");
	expect_refused(t, "<unionblk_dump version=\"1\">", "not valid XML");
	expect_refused(t, "<unionblk_dump version=\"1\"></unionblk_dump>",
		       "without <superblock>");
}

static void restore_refuses_layout_bigger_than_store(void **state)
{
	struct ub_meta m;
	struct ub_diag d;
	const char *text = "{ \"unionblk_dump\": 1, \"superblock\": { \"version\": 1, \"flags\": 0, \"chunk_sectors\": 8, \"journal_blocks\": 1024, \"capacity_chunks\": 1024, \"uuid\": \"11223344-5566-4788-99aa-bbccddeeff00\" }, "
			   ST(0, 0) " }";
	T;

	ubt_format(t, 0, 0, 0);
	ub_diag_init(&d);
	assert_int_equal(ub_dump_parse(text, strlen(text), ub_max_capacity(8u << 20),
				       &m, &d), 0);
	assert_true(ub_meta_restore(t->store, &m, false, NULL, &d) < 0);
	assert_non_null(strstr(d.err, "not below the store size"));
	ub_meta_free(&m);
	ub_diag_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(json_dump_restore_dump_is_identical),
		cmocka_unit_test(xml_dump_restore_dump_is_identical),
		cmocka_unit_test(json_and_xml_restore_the_same_store),
		cmocka_unit_test(dump_lists_runs),
		cmocka_unit_test(odd_names_survive_as_hex),
		cmocka_unit_test(bad_dumps_are_refused),
		cmocka_unit_test(restore_refuses_layout_bigger_than_store),
	};

	return cmocka_run_group_tests_name("dump", tests, ubt_setup,
					   ubt_teardown);
}
