// SPDX-License-Identifier: GPL-2.0
/* Test helpers: see ubtest.h. */
#define _GNU_SOURCE
#include <endian.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ubtest.h"

#define BASE_BYTES	(4u << 20)	/* 1024 chunks of 4 KiB */
#define STORE_BYTES	(8u << 20)

uint8_t ubt_base_byte(uint64_t off)
{
	return (uint8_t)((off * 2654435761u) >> 13) ^ (uint8_t)(off >> 12);
}

void ubt_make_file(const char *path, uint64_t bytes, bool pattern)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	uint8_t buf[65536];
	uint64_t off;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)bytes), 0);
	if (pattern) {
		for (off = 0; off < bytes; off += sizeof(buf)) {
			size_t n = bytes - off < sizeof(buf) ? bytes - off : sizeof(buf);
			size_t i;

			for (i = 0; i < n; i++)
				buf[i] = ubt_base_byte(off + i);
			assert_int_equal(ub_pwrite(fd, buf, n, off), 0);
		}
	}
	close(fd);
}

int ubt_setup(void **state)
{
	struct ubt *t = calloc(1, sizeof(*t));
	const char *tmp = getenv("TMPDIR");

	if (!t)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "%s/ubtest.XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(t->dir))
		return -1;
	snprintf(t->base, sizeof(t->base), "%s/base.img", t->dir);
	snprintf(t->store, sizeof(t->store), "%s/store.img", t->dir);
	snprintf(t->other, sizeof(t->other), "%s/other", t->dir);
	t->base_bytes = BASE_BYTES;
	ubt_make_file(t->base, BASE_BYTES, true);
	ubt_make_file(t->store, STORE_BYTES, false);
	*state = t;
	return 0;
}

int ubt_teardown(void **state)
{
	struct ubt *t = *state;
	char cmd[400];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
	if (system(cmd))
		return -1;
	free(t);
	return 0;
}

void ubt_format(struct ubt *t, uint64_t capacity_bytes, uint32_t chunk_sectors,
		uint32_t journal_blocks)
{
	static const uint8_t uuid[16] = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
					  0x47, 0x88, 0x99, 0xaa, 0xbb, 0xcc,
					  0xdd, 0xee, 0xff, 0x00 };
	struct ub_format_opts o = {
		.base = t->base,
		.capacity_bytes = capacity_bytes,
		.chunk_sectors = chunk_sectors,
		.journal_blocks = journal_blocks ? journal_blocks : 8,
		.tenant = "tenant-a",
		.base_name = "debian-12",
		.force = true,
		.uuid = uuid,
		.created = 1700000000,
	};
	struct ub_diag d;

	ub_diag_init(&d);
	ubt_make_file(t->store, STORE_BYTES, false);
	if (ub_format(t->store, &o, &d))
		fail_msg("format: %s", d.err);
	ub_diag_free(&d);
}

void ubt_meta(struct ubt *t, struct ub_meta *m)
{
	struct ub_store *s;
	struct ub_diag d;

	ub_diag_init(&d);
	if (ub_open(t->store, NULL, UB_OPEN_TOLERANT, &s, &d))
		fail_msg("open: %s", d.err);
	memset(m, 0, sizeof(*m));
	m->sb = s->sb;
	m->capacity = s->capacity;
	m->map = calloc(s->capacity, sizeof(*m->map));
	assert_non_null(m->map);
	ub_close(s);
	ub_diag_free(&d);
}

void ubt_commit(struct ubt *t, struct ub_meta *m, uint64_t seq)
{
	struct ub_diag d;

	m->seq = seq;
	ub_meta_count(m, &m->mapped_chunks, &m->whiteout_chunks);
	ub_diag_init(&d);
	if (ub_meta_restore(t->store, m, false, NULL, &d))
		fail_msg("commit: %s", d.err);
	ub_diag_free(&d);
}

void ubt_dump_diag(const struct ub_diag *d)
{
	size_t i;

	for (i = 0; i < d->nr; i++)
		fprintf(stderr, "# %s: %s\n", ub_sev_name(d->p[i].sev),
			d->p[i].msg);
	if (d->err[0])
		fprintf(stderr, "# err: %s\n", d->err);
}

uint64_t ubt_check(struct ubt *t, const char *base, struct ub_diag *d)
{
	struct ub_store *s;
	int r;

	ub_diag_init(d);
	r = ub_open(t->store, base, UB_OPEN_TOLERANT, &s, d);
	if (r) {
		ub_problem(d, UB_ERR, "%s", d->err);
		return d->errors;
	}
	r = ub_check(s, NULL, d);
	ub_close(s);
	if (r)
		fail_msg("check: %s", d->err);
	if (getenv("UBTEST_VERBOSE"))
		ubt_dump_diag(d);
	return d->errors;
}

bool ubt_has(const struct ub_diag *d, enum ub_sev sev, const char *text)
{
	size_t i;

	for (i = 0; i < d->nr; i++)
		if (d->p[i].sev == sev && strstr(d->p[i].msg, text))
			return true;
	ubt_dump_diag(d);
	fprintf(stderr, "# expected a %s containing \"%s\"\n", ub_sev_name(sev),
		text);
	return false;
}

static void rw_block(struct ubt *t, uint64_t blocknr, void *buf, bool write)
{
	int fd = open(t->store, O_RDWR);

	assert_true(fd >= 0);
	if (write)
		assert_int_equal(ub_pwrite(fd, buf, UB_BLOCK_SIZE,
					   blocknr * UB_BLOCK_SIZE), 0);
	else
		assert_int_equal(ub_pread(fd, buf, UB_BLOCK_SIZE,
					  blocknr * UB_BLOCK_SIZE), 0);
	close(fd);
}

void ubt_read_block(struct ubt *t, uint64_t blocknr, void *buf)
{
	rw_block(t, blocknr, buf, false);
}

void ubt_write_block(struct ubt *t, uint64_t blocknr, const void *buf)
{
	rw_block(t, blocknr, (void *)buf, true);
}

void ubt_recsum(void *blk)
{
	ub_put_le32((uint8_t *)blk + 4, ub_block_csum(blk));
}

void ubt_layout(struct ubt *t, struct ub_layout *l, uint32_t *jb)
{
	struct ub_superblock sb;
	uint8_t blk[UB_BLOCK_SIZE];

	ubt_read_block(t, 0, blk);
	memcpy(&sb, blk, sizeof(sb));
	ub_compute_layout(le64toh(sb.capacity_chunks), le32toh(sb.chunk_sectors),
			  le32toh(sb.journal_blocks), l);
	if (jb)
		*jb = le32toh(sb.journal_blocks);
}

void ubt_poke_entry(struct ubt *t, uint64_t v, uint32_t entry)
{
	struct ub_layout l;
	uint8_t blk[UB_BLOCK_SIZE];
	uint64_t home;

	ubt_layout(t, &l, NULL);
	home = l.map_start + v / UB_MAP_ENTRIES;
	ubt_read_block(t, home, blk);
	if (ub_block_is_zero(blk))
		ub_block_finish(blk, home, 0, UB_BT_MAP);
	ub_put_le32(blk + sizeof(struct ub_block_header) +
		    4 * (v % UB_MAP_ENTRIES), entry);
	ubt_recsum(blk);
	ubt_write_block(t, home, blk);
}

void ubt_flip_bitmap(struct ubt *t, uint64_t dc)
{
	struct ub_layout l;
	uint8_t blk[UB_BLOCK_SIZE];
	uint64_t home, bit = dc % UB_BITMAP_BITS;

	ubt_layout(t, &l, NULL);
	home = l.bitmap_start + dc / UB_BITMAP_BITS;
	ubt_read_block(t, home, blk);
	if (ub_block_is_zero(blk))
		ub_block_finish(blk, home, 0, UB_BT_BITMAP);
	blk[sizeof(struct ub_block_header) + bit / 8] ^= 1U << (bit % 8);
	ubt_recsum(blk);
	ubt_write_block(t, home, blk);
}

void ubt_write_txn(struct ubt *t, uint64_t seq, uint32_t nr,
		   const uint64_t *homes, const uint8_t *imgs,
		   uint64_t mapped, uint64_t whiteouts)
{
	struct ub_layout l;
	uint8_t blk[UB_BLOCK_SIZE];
	struct ub_journal_header *jh = (void *)blk;
	uint32_t jb, i;
	uint64_t h;

	ubt_layout(t, &l, &jb);
	h = ub_journal_slot(l.journal_start, jb, seq % 2);
	for (i = 0; i < nr; i++)
		ubt_write_block(t, h + 1 + i, imgs + (size_t)i * UB_BLOCK_SIZE);
	memset(blk, 0, sizeof(blk));
	jh->nr_blocks = htole32(nr);
	jh->mapped_chunks = htole64(mapped);
	jh->whiteout_chunks = htole64(whiteouts);
	jh->alloc_cursor = htole64(mapped);
	for (i = 0; i < nr; i++)
		ub_put_le64(blk + sizeof(*jh) + 8 * i, homes[i]);
	ub_block_finish(blk, h, seq, UB_BT_JOURNAL);
	ubt_write_block(t, h, blk);
}

void ubt_map_image(struct ubt *t, const struct ub_meta *m, uint64_t idx,
		   uint64_t seq, uint8_t *blk)
{
	struct ub_layout l;
	uint64_t v;
	uint32_t i;

	ubt_layout(t, &l, NULL);
	memset(blk, 0, UB_BLOCK_SIZE);
	for (i = 0; i < UB_MAP_ENTRIES; i++) {
		v = idx * UB_MAP_ENTRIES + i;
		if (v < m->capacity)
			ub_put_le32(blk + sizeof(struct ub_block_header) + 4 * i,
				    m->map[v]);
	}
	ub_block_finish(blk, l.map_start + idx, seq, UB_BT_MAP);
}

void ubt_bitmap_image(struct ubt *t, const struct ub_meta *m, uint64_t idx,
		      uint64_t seq, uint8_t *blk)
{
	struct ub_layout l;
	uint8_t *bits = blk + sizeof(struct ub_block_header);
	uint64_t v;

	ubt_layout(t, &l, NULL);
	memset(blk, 0, UB_BLOCK_SIZE);
	for (v = 0; v < m->capacity; v++) {
		uint32_t e = m->map[v];
		uint64_t dc;

		if (e == UB_MAP_UNMAPPED || e == UB_MAP_WHITEOUT)
			continue;
		dc = (uint64_t)e - 1;
		if (dc / UB_BITMAP_BITS != idx)
			continue;
		dc %= UB_BITMAP_BITS;
		bits[dc / 8] |= 1U << (dc % 8);
	}
	ub_block_finish(blk, l.bitmap_start + idx, seq, UB_BT_BITMAP);
}
