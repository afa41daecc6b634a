// SPDX-License-Identifier: GPL-2.0
/*
 * Metadata blocks: the common header, the checksum, and the one place
 * that decides whether a map or bitmap block is valid.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "libunionblk.h"

#define HDR_MAGIC	offsetof(struct ub_block_header, magic)
#define HDR_CSUM	offsetof(struct ub_block_header, csum)
#define HDR_BLOCKNR	offsetof(struct ub_block_header, blocknr)
#define HDR_SEQ		offsetof(struct ub_block_header, seq)
#define HDR_TYPE	offsetof(struct ub_block_header, type)

_Static_assert(sizeof(struct ub_block_header) == 32, "header size");
_Static_assert(sizeof(struct ub_superblock) <= UB_BLOCK_SIZE, "sb size");
_Static_assert(sizeof(struct ub_map_block) == UB_BLOCK_SIZE, "map size");
_Static_assert(sizeof(struct ub_bitmap_block) == UB_BLOCK_SIZE, "bm size");
_Static_assert(sizeof(struct ub_journal_header) == 80, "journal size");

uint32_t ub_block_csum(const void *blk)
{
	return ub_crc32c((const uint8_t *)blk + 8, UB_BLOCK_SIZE - 8);
}

void ub_block_finish(void *blk, uint64_t blocknr, uint64_t seq,
		     uint32_t type)
{
	uint8_t *b = blk;

	ub_put_le32(b + HDR_MAGIC, UB_BLOCK_MAGIC);
	ub_put_le64(b + HDR_BLOCKNR, blocknr);
	ub_put_le64(b + HDR_SEQ, seq);
	ub_put_le32(b + HDR_TYPE, type);
	ub_put_le32(b + HDR_CSUM, ub_block_csum(b));
}

bool ub_block_is_zero(const void *blk)
{
	const uint64_t *p = blk;
	size_t i;

	for (i = 0; i < UB_BLOCK_SIZE / 8; i++)
		if (p[i])
			return false;
	return true;
}

static const char *type_name(uint32_t type)
{
	switch (type) {
	case UB_BT_SUPER:
		return "superblock";
	case UB_BT_JOURNAL:
		return "journal header";
	case UB_BT_MAP:
		return "map";
	case UB_BT_BITMAP:
		return "bitmap";
	}
	return "unknown";
}

enum ub_blk_status ub_meta_block_status(const void *blk, uint64_t home,
					uint32_t type, uint64_t max_seq,
					char *why, size_t whylen)
{
	const uint8_t *b = blk;
	uint32_t v;
	uint64_t seq;

	if (ub_block_is_zero(b))
		return UB_BLK_ZERO;
	v = ub_le32(b + HDR_MAGIC);
	if (v != UB_BLOCK_MAGIC) {
		snprintf(why, whylen, "bad magic 0x%08x", v);
		return UB_BLK_BAD;
	}
	v = ub_le32(b + HDR_CSUM);
	if (v != ub_block_csum(b)) {
		snprintf(why, whylen, "checksum mismatch");
		return UB_BLK_BAD;
	}
	v = ub_le32(b + HDR_TYPE);
	if (v != type) {
		snprintf(why, whylen, "type %u (%s), expected %u (%s)", v,
			 type_name(v), type, type_name(type));
		return UB_BLK_BAD;
	}
	if (ub_le64(b + HDR_BLOCKNR) != home) {
		snprintf(why, whylen,
			 "block number %" PRIu64 ", expected %" PRIu64,
			 ub_le64(b + HDR_BLOCKNR), home);
		return UB_BLK_BAD;
	}
	seq = ub_le64(b + HDR_SEQ);
	if (seq > max_seq) {
		snprintf(why, whylen,
			 "seq %" PRIu64 " beyond the committed seq %" PRIu64,
			 seq, max_seq);
		return UB_BLK_FUTURE;
	}
	return UB_BLK_OK;
}
