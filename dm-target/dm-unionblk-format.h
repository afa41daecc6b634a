/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-unionblk on-disk format: the one definition of a COW store's layout,
 * shared by the kernel target (dm-target/) and the userspace tools (tools/).
 * docs/format.md describes it byte by byte; keep the two in step.
 *
 * All multi-byte fields are little-endian.  Metadata is addressed in 4 KiB
 * metadata blocks; data is addressed in chunks of chunk_sectors sectors.
 *
 *   block 0                superblock
 *   block 1                superblock copy (read when block 0 is invalid)
 *   journal_start          journal slot 0 (journal_blocks blocks)
 *   + journal_blocks       journal slot 1
 *   map_start              mapping table: one __le32 per virtual chunk
 *   bitmap_start           allocation bitmap: one bit per data chunk
 *   data_start (sectors)   data chunks, chunk-aligned, to the end of the store
 *
 * Commit protocol (why a crash at any instant is safe): metadata blocks are
 * never written in place before the transaction that changed them is
 * durable in the journal.  A commit flushes the store (making the data of
 * every completed copy-up and the previous checkpoint durable), writes the
 * changed blocks and a header listing their home addresses into the journal
 * slot not used by the previous commit, flushes again, and only then writes
 * the blocks to their homes.  Activation replays the newest journal slot
 * whose header and images all verify; replay is idempotent.
 */
#ifndef DM_UNIONBLK_FORMAT_H
#define DM_UNIONBLK_FORMAT_H

#include <linux/types.h>

#ifndef __KERNEL__
#ifndef __packed
#define __packed __attribute__((packed))
#endif
#endif

#define UB_BLOCK_SIZE		4096		/* metadata block, bytes */
#define UB_BLOCK_SHIFT		12
#define UB_BLOCK_SECTORS	8		/* metadata block, sectors */
#define UB_SECTOR_SHIFT		9

#define UB_SB_MAGIC		0x6b6c426e6f696e55ULL	/* "UnionBlk" */
#define UB_BLOCK_MAGIC		0x6b6c4255U		/* "UBlk" */
#define UB_FORMAT_VERSION	1

#define UB_MIN_CHUNK_SECTORS	8		/* 4 KiB */
#define UB_MAX_CHUNK_SECTORS	2048		/* 1 MiB */
#define UB_DEFAULT_CHUNK_SECTORS 8

#define UB_DEFAULT_JOURNAL_BLOCKS 256		/* per slot, header included */
#define UB_MIN_JOURNAL_BLOCKS	8
#define UB_MAX_JOURNAL_BLOCKS	1024		/* larger ones are refused */

#define UB_SB_BLOCK		0
#define UB_SB_COPY_BLOCK	1
#define UB_JOURNAL_START	2

/* Base fingerprint: crc32c over UB_FP_SAMPLES samples of UB_FP_SAMPLE_SIZE */
#define UB_FP_SAMPLES		16
#define UB_FP_SAMPLE_SIZE	4096		/* bytes */

enum ub_block_type {
	UB_BT_SUPER = 1,
	UB_BT_JOURNAL = 2,
	UB_BT_MAP = 3,
	UB_BT_BITMAP = 4,
};

/*
 * Every metadata block starts with this header.  csum is the standard
 * CRC-32C of bytes [8, UB_BLOCK_SIZE) of the block.  blocknr is the
 * block's home address (for a journal image: the home it replays to);
 * seq is the transaction that last wrote it, never above the committed
 * sequence.  A mapping or bitmap block that is all zeroes has never been
 * written and reads as "all unmapped" / "all free".
 */
struct ub_block_header {
	__le32 magic;
	__le32 csum;
	__le64 blocknr;
	__le64 seq;
	__le32 type;			/* enum ub_block_type */
	__le32 reserved;
} __packed;

#define UB_NAME_LEN		64

/* Superblock flags */
#define UB_SB_F_RO		(1U << 0)	/* frozen layer: never written */

struct ub_superblock {
	struct ub_block_header hdr;	/* type UB_BT_SUPER, seq 0 */
	__le64 magic;			/* UB_SB_MAGIC */
	__le32 version;			/* UB_FORMAT_VERSION */
	__le32 flags;			/* UB_SB_F_* */
	__le32 chunk_sectors;		/* power of two, 8..2048 */
	__le32 journal_blocks;		/* blocks per journal slot */
	__le64 capacity_chunks;		/* virtual chunks the table maps */
	__le64 journal_start;		/* block of journal slot 0 */
	__le64 map_start;		/* first mapping block */
	__le64 map_blocks;
	__le64 bitmap_start;		/* first bitmap block */
	__le64 bitmap_blocks;
	__le64 data_start;		/* sector of data chunk 0 */
	__le64 base_sectors;		/* size of the base at format */
	__le32 base_fingerprint;	/* ub_fingerprint() of the base */
	__le32 reserved0;
	__u8 uuid[16];			/* this store */
	__u8 base_uuid[16];		/* base identity stamp, zero if none */
	char tenant_name[UB_NAME_LEN];	/* NUL-padded, may be empty */
	char base_name[UB_NAME_LEN];	/* NUL-padded, may be empty */
	__le64 created;			/* seconds since the epoch */
} __packed;

/* Mapping table entries */
#define UB_MAP_UNMAPPED		0U		/* read from the base */
#define UB_MAP_WHITEOUT		0xffffffffU	/* reads as zeroes */
/* any other value v: the chunk lives in data chunk v - 1 */
#define UB_MAP_MAX_DATA_CHUNKS	0xfffffffeULL

#define UB_MAP_ENTRIES	((UB_BLOCK_SIZE - sizeof(struct ub_block_header)) / 4)
#define UB_BITMAP_BITS	((UB_BLOCK_SIZE - sizeof(struct ub_block_header)) * 8)

struct ub_map_block {
	struct ub_block_header hdr;	/* type UB_BT_MAP */
	__le32 entry[UB_MAP_ENTRIES];
} __packed;

struct ub_bitmap_block {
	struct ub_block_header hdr;	/* type UB_BT_BITMAP */
	__u8 bits[UB_BITMAP_BITS / 8];	/* bit i of byte j: chunk 8j + i */
} __packed;

/* Journal header flags */
#define UB_J_F_NEEDS_CHECK	(1U << 0)	/* an error was seen: run check */

/*
 * A journal slot: this header, then nr_blocks block images in order, each
 * a full metadata block whose header names its home and carries the
 * slot's seq.  The header is also the store's dynamic superblock: the
 * counters below are those of the state after the transaction.
 */
struct ub_journal_header {
	struct ub_block_header hdr;	/* type UB_BT_JOURNAL, seq = txn */
	__le32 nr_blocks;		/* images following the header */
	__le32 flags;			/* UB_J_F_* */
	__le64 mapped_chunks;		/* entries that own a data chunk */
	__le64 whiteout_chunks;		/* UB_MAP_WHITEOUT entries */
	__le64 alloc_cursor;		/* allocator's next search start */
	__le64 data_chunks;		/* usable data chunks at commit */
	__le64 reserved;
	__le64 home[];			/* home block of each image */
} __packed;

#define UB_JOURNAL_MAX_IMAGES \
	((UB_BLOCK_SIZE - sizeof(struct ub_journal_header)) / 8)

/* The layout a superblock describes, computed the same way everywhere. */
struct ub_layout {
	__u64 journal_start;
	__u64 map_start;
	__u64 map_blocks;
	__u64 bitmap_start;
	__u64 bitmap_blocks;
	__u64 data_start;		/* sectors */
};

/* A mapping entry that names a data chunk: neither unmapped nor a whiteout. */
static inline int ub_entry_is_mapped(__u32 entry)
{
	return entry != UB_MAP_UNMAPPED && entry != UB_MAP_WHITEOUT;
}

static inline __u64 ub_div_round_up(__u64 n, __u64 d)
{
	return (n + d - 1) / d;
}

static inline void ub_compute_layout(__u64 capacity_chunks,
				     __u32 chunk_sectors,
				     __u32 journal_blocks,
				     struct ub_layout *l)
{
	__u64 meta_end;

	l->journal_start = UB_JOURNAL_START;
	l->map_start = l->journal_start + 2ULL * journal_blocks;
	l->map_blocks = ub_div_round_up(capacity_chunks, UB_MAP_ENTRIES);
	l->bitmap_start = l->map_start + l->map_blocks;
	l->bitmap_blocks = ub_div_round_up(capacity_chunks, UB_BITMAP_BITS);
	meta_end = (l->bitmap_start + l->bitmap_blocks) * UB_BLOCK_SECTORS;
	l->data_start = ub_div_round_up(meta_end, chunk_sectors) *
			chunk_sectors;
}

/* Journal slot header block for slot 0 or 1. */
static inline __u64 ub_journal_slot(__u64 journal_start,
				    __u32 journal_blocks, unsigned int slot)
{
	return journal_start + (__u64)slot * journal_blocks;
}

/*
 * Journal slot size a new store gets by default: room for every metadata
 * block of a small store, UB_DEFAULT_JOURNAL_BLOCKS for a large one.
 */
static inline __u32 ub_default_journal_blocks(__u64 capacity_chunks)
{
	__u64 meta = ub_div_round_up(capacity_chunks, UB_MAP_ENTRIES) +
		     ub_div_round_up(capacity_chunks, UB_BITMAP_BITS) + 1;
	__u32 jb = 2 * UB_MIN_JOURNAL_BLOCKS;

	while (jb < meta && jb < UB_DEFAULT_JOURNAL_BLOCKS)
		jb *= 2;
	return jb;
}

/* Largest transaction a journal slot holds, in blocks. */
static inline __u32 ub_journal_capacity(__u32 journal_blocks)
{
	__u32 n = journal_blocks - 1;

	return n < UB_JOURNAL_MAX_IMAGES ? n : UB_JOURNAL_MAX_IMAGES;
}

/*
 * Byte offset of fingerprint sample i of a base of base_bytes bytes (a
 * multiple of 512): evenly spaced and 4 KiB aligned, the first at 0 and
 * the last ending exactly at the end of the base.
 */
static inline __u64 ub_fp_sample_offset(__u64 base_bytes, unsigned int i)
{
	__u64 span;

	if (base_bytes <= UB_FP_SAMPLE_SIZE)
		return 0;
	span = base_bytes - UB_FP_SAMPLE_SIZE;
	if (i == UB_FP_SAMPLES - 1)
		return span;
	return (span / (UB_FP_SAMPLES - 1) * i) & ~(__u64)(UB_FP_SAMPLE_SIZE - 1);
}

#endif /* DM_UNIONBLK_FORMAT_H */
