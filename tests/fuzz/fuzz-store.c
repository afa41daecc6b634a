// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness for the metadata parser, check, repair and the dump
 * parser.  Build: clang -fsanitize=fuzzer,address,undefined (make fuzz).
 *
 * Input: one control byte, then either a store image as sparse records
 * or (control bit 5) the text of a dump.
 *   control bit 0     recompute the checksum of every block that starts
 *                     with UB_BLOCK_MAGIC, so mutations reach the checks
 *                     behind the checksum
 *   control bits 1-3  the store is 1 MiB - n * 60 KiB (- 1000 bytes if n
 *                     is odd): sizes that cut the layout short
 *   control bit 4     also repair for real and require the result to
 *                     check clean and to dump/parse/restore identically
 *   records           u8 block, u8 offset/16, le16 length, bytes: placed
 *                     at block * 4096 + offset in a zeroed image
 * The base is 256 KiB of a fixed pattern (tests/fuzz/img2seed.c --base).
 *
 * Properties checked beyond "no crash, no leak, no UB": a store that
 * repair rewrote checks clean; a dump of it parses and restores to a
 * store whose dump is the same text.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "libunionblk.h"

#define IMG_BYTES	(1u << 20)
#define BASE_BYTES	(256u << 10)

static int base_fd = -1;
static char base_path[64];

static uint8_t base_byte(uint64_t i)
{
	return (uint8_t)(i * 131 + (i >> 9));
}

static void make_base(void)
{
	static uint8_t buf[BASE_BYTES];
	uint64_t i;

	base_fd = memfd_create("base", 0);
	if (base_fd < 0)
		abort();
	for (i = 0; i < BASE_BYTES; i++)
		buf[i] = base_byte(i);
	if (ub_pwrite(base_fd, buf, BASE_BYTES, 0))
		abort();
	snprintf(base_path, sizeof(base_path), "/proc/self/fd/%d", base_fd);
}

static int new_image(const uint8_t *img, size_t size, char *path, size_t len)
{
	int fd = memfd_create("store", 0);

	if (fd < 0)
		abort();
	if (ftruncate(fd, (off_t)size) || ub_pwrite(fd, img, size, 0))
		abort();
	snprintf(path, len, "/proc/self/fd/%d", fd);
	return fd;
}

static int null_range(void *ctx, enum ub_range_type t, uint64_t a, uint64_t n)
{
	(void)ctx;
	(void)t;
	(void)a;
	(void)n;
	return 0;
}

static char *dump_str(struct ub_store *s, enum ub_dump_format fmt, size_t *len)
{
	struct ub_diag d;
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	ub_diag_init(&d);
	if (!f)
		abort();
	if (ub_dump(s, f, fmt, &d)) {
		fclose(f);
		free(buf);
		ub_diag_free(&d);
		return NULL;
	}
	fclose(f);
	ub_diag_free(&d);
	return buf;
}

/*
 * Restore text to a fresh image of size.  The result must open, check
 * clean, and dump as text when text is itself a dump (canonical), else
 * as a text that round-trips.
 */
static void restore_round_trip(const char *text, size_t len, size_t size,
			       enum ub_dump_format fmt, bool canonical)
{
	struct ub_store *s;
	struct ub_meta m;
	struct ub_diag d;
	char path[64], *again;
	size_t alen;
	int fd;

	ub_diag_init(&d);
	if (ub_dump_parse(text, len, ub_max_capacity(size), &m, &d))
		goto out;
	fd = new_image((const uint8_t *)"", 0, path, sizeof(path));
	if (ftruncate(fd, (off_t)size))
		abort();
	if (ub_meta_restore(path, &m, false, NULL, &d)) {
		ub_meta_free(&m);
		close(fd);
		goto out;
	}
	ub_meta_free(&m);
	if (ub_open(path, NULL, 0, &s, &d))
		__builtin_trap();	/* a restored store must open */
	if (ub_check(s, NULL, &d) || d.errors)
		__builtin_trap();	/* ... and check clean */
	again = dump_str(s, fmt, &alen);
	if (!again)
		__builtin_trap();
	if (canonical && (alen != len || memcmp(again, text, len)))
		__builtin_trap();	/* ... and dump the same */
	ub_close(s);
	close(fd);
	if (!canonical)
		restore_round_trip(again, alen, size, fmt, true);
	free(again);
out:
	ub_diag_free(&d);
}

static void exercise(const char *path, bool do_repair)
{
	struct ub_write_stats ws;
	struct ub_check_summary sum;
	struct ub_store *s;
	struct ub_meta m;
	struct ub_diag d;
	uint8_t buf[8192];
	char *text;
	size_t len;
	FILE *null;

	ub_diag_init(&d);
	if (!ub_open(path, base_path, 0, &s, &d)) {
		uint64_t vb = ub_virtual_bytes(s);

		ub_delta_walk(s, null_range, NULL, &d);
		ub_read_virtual(s, 0, buf, vb < sizeof(buf) ? vb : sizeof(buf), &d);
		if (vb > 5000)
			ub_read_virtual(s, vb - 5000, buf, 5000, &d);
		null = fopen("/dev/null", "w");
		ub_dump(s, null, UB_DUMP_XML, &d);
		fclose(null);
		ub_close(s);
	}
	ub_diag_free(&d);

	ub_diag_init(&d);
	d.limit = 100;
	if (ub_open(path, base_path, UB_OPEN_TOLERANT | UB_OPEN_RW, &s, &d))
		goto out;
	ub_check(s, &sum, &d);
	if (ub_repair_plan(s, &m, NULL, &d) == 0) {
		if (ub_meta_write(s, &m, UB_WRITE_AUTO, !do_repair, &ws, &d))
			do_repair = false;
		ub_meta_free(&m);
	} else {
		do_repair = false;
	}
	ub_close(s);
	if (!do_repair)
		goto out;

	ub_diag_free(&d);
	ub_diag_init(&d);
	if (ub_open(path, NULL, 0, &s, &d))
		__builtin_trap();	/* repair must leave a store that opens */
	if (ub_check(s, NULL, &d) || d.errors)
		__builtin_trap();	/* ... and checks clean */
	text = dump_str(s, UB_DUMP_JSON, &len);
	if (!text)
		__builtin_trap();
	restore_round_trip(text, len, s->size_bytes, UB_DUMP_JSON, true);
	free(text);
	ub_close(s);
out:
	ub_diag_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *img;
	size_t imgsize, i;
	char path[64];
	uint8_t ctrl;
	int fd;

	if (base_fd < 0)
		make_base();
	if (!img)
		img = malloc(IMG_BYTES);
	if (size < 1)
		return 0;
	ctrl = data[0];
	data++;
	size--;
	imgsize = IMG_BYTES - ((ctrl >> 1) & 7) * (60u << 10) -
		  (((ctrl >> 1) & 1) ? 1000 : 0);

	if (ctrl & 0x20) {
		restore_round_trip((const char *)data, size, imgsize,
				   size && data[0] == '<' ? UB_DUMP_XML :
				   UB_DUMP_JSON, false);
		return 0;
	}

	memset(img, 0, IMG_BYTES);
	i = 0;
	while (i + 4 <= size) {
		size_t at = (size_t)data[i] * UB_BLOCK_SIZE + data[i + 1] * 16u;
		size_t len = data[i + 2] | (size_t)data[i + 3] << 8;

		i += 4;
		if (len > size - i)
			len = size - i;
		if (at < imgsize) {
			size_t n = imgsize - at < len ? imgsize - at : len;

			memcpy(img + at, data + i, n);
		}
		i += len;
	}
	if (ctrl & 1) {
		for (i = 0; i + UB_BLOCK_SIZE <= imgsize; i += UB_BLOCK_SIZE)
			if (ub_le32(img + i) == UB_BLOCK_MAGIC)
				ub_put_le32(img + i + 4, ub_block_csum(img + i));
	}
	fd = new_image(img, imgsize, path, sizeof(path));
	exercise(path, ctrl & 0x10);
	close(fd);
	return 0;
}
