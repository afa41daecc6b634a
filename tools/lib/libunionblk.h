/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libunionblk: read, check, format, dump, restore and repair dm-unionblk
 * COW stores from userspace.  The on-disk layout is the one in
 * dm-target/dm-unionblk-format.h; this library interprets it exactly as
 * the kernel target does (docs/format.md).
 *
 * Conventions: every function returns 0 (or a non-negative count) on
 * success and a negative errno on failure; when it fails and a struct
 * ub_diag was passed, diag->err names exactly what is wrong.  Problems
 * found in a store (as opposed to failures of the call) are collected in
 * the diag's problem list.  Nothing here trusts a field read from disk:
 * every allocation is bounded by the size of the store itself.
 */
#ifndef LIBUNIONBLK_H
#define LIBUNIONBLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dm-unionblk-format.h"

#define UB_LIB_VERSION		"0.1.0"

/* ------------------------------------------------------------------ */
/* crc32c.c: CRC-32C (Castagnoli)                                      */

/* Raw register update: no inversion in or out. */
uint32_t ub_crc32c_update(uint32_t crc, const void *p, size_t len);
/* Standard CRC-32C: ~ub_crc32c_update(~0, p, len). */
uint32_t ub_crc32c(const void *p, size_t len);
/* Same as ub_crc32c() but always the portable table code. */
uint32_t ub_crc32c_sw(const void *p, size_t len);

/* ------------------------------------------------------------------ */
/* diag.c: what went wrong, and the problems a store has               */

enum ub_sev {
	UB_WARN,		/* worth knowing, the store is still consistent */
	UB_ERR,			/* the store is not clean */
	UB_INFO,		/* what repair did or would do */
};

struct ub_problem {
	enum ub_sev sev;
	char *msg;
};

#define UB_DIAG_DEFAULT_LIMIT	10000

struct ub_diag {
	char err[512];		/* why the last failed call failed */
	struct ub_problem *p;	/* problems kept, in the order found */
	size_t nr;
	size_t alloc;
	size_t limit;		/* keep at most this many (0: default) */
	uint64_t errors;	/* counted even past the limit */
	uint64_t warnings;
	uint64_t infos;
	uint64_t dropped;	/* problems counted but not kept */
};

void ub_diag_init(struct ub_diag *d);
void ub_diag_free(struct ub_diag *d);
void ub_diag_clear_err(struct ub_diag *d);
/* Set d->err (if d) and return err, which must be negative. */
int ub_fail(struct ub_diag *d, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void ub_problem(struct ub_diag *d, enum ub_sev sev, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
const char *ub_sev_name(enum ub_sev sev);

/* ------------------------------------------------------------------ */
/* io.c: devices and image files                                       */

int ub_pread(int fd, void *buf, size_t len, uint64_t off);
int ub_pwrite(int fd, const void *buf, size_t len, uint64_t off);
/* Size in bytes of a block device or regular file; *blk tells which. */
int ub_fd_size(int fd, uint64_t *bytes, bool *blk);
/* Make [off, off+len) read as zeroes (BLKZEROOUT, punch hole, writes). */
int ub_zero_range(int fd, bool blk, uint64_t off, uint64_t len);
/* Make every write so far durable (fsync; BLKFLSBUF on devices). */
int ub_flush(int fd, bool blk);
/* Open a store or base; rw opens block devices exclusively.  *busy is
 * set when a read-only open found the device claimed (e.g. active). */
int ub_open_dev(const char *path, bool rw, int *fd, bool *blk, bool *busy,
		struct ub_diag *d);

/* ------------------------------------------------------------------ */
/* block.c: metadata blocks                                            */

static inline uint32_t ub_le32(const void *p)
{
	const uint8_t *b = p;

	return (uint32_t)b[0] | (uint32_t)b[1] << 8 |
	       (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static inline uint64_t ub_le64(const void *p)
{
	const uint8_t *b = p;

	return (uint64_t)ub_le32(b) | (uint64_t)ub_le32(b + 4) << 32;
}

static inline void ub_put_le32(void *p, uint32_t v)
{
	uint8_t *b = p;

	b[0] = v;
	b[1] = v >> 8;
	b[2] = v >> 16;
	b[3] = v >> 24;
}

static inline void ub_put_le64(void *p, uint64_t v)
{
	ub_put_le32(p, (uint32_t)v);
	ub_put_le32((uint8_t *)p + 4, (uint32_t)(v >> 32));
}

/* CRC-32C of bytes [8, UB_BLOCK_SIZE) of a metadata block. */
uint32_t ub_block_csum(const void *blk);
/* Fill in the common header (magic, blocknr, seq, type) and checksum. */
void ub_block_finish(void *blk, uint64_t blocknr, uint64_t seq,
		     uint32_t type);
bool ub_block_is_zero(const void *blk);

enum ub_blk_status {
	UB_BLK_OK = 0,		/* valid */
	UB_BLK_ZERO = 1,	/* all zeroes: never written */
	UB_BLK_FUTURE = 2,	/* valid except seq above the committed seq */
	UB_BLK_BAD = -1,	/* not a valid block of this kind; see why */
};

/*
 * Classify a map or bitmap block read from (or replaying to) home block
 * @home.  why (at least 128 bytes) says what is wrong when not OK/ZERO.
 */
enum ub_blk_status ub_meta_block_status(const void *blk, uint64_t home,
					uint32_t type, uint64_t max_seq,
					char *why, size_t whylen);

/* ------------------------------------------------------------------ */
/* store.c: an open store                                              */

#define UB_OPEN_RW		(1U << 0)
/* Record structural problems instead of failing (check, repair). */
#define UB_OPEN_TOLERANT	(1U << 1)

enum ub_slot_state {
	UB_SLOT_EMPTY,		/* header block all zeroes */
	UB_SLOT_VALID,
	UB_SLOT_INVALID,	/* torn, stale or corrupt; see why */
};

struct ub_slot {
	enum ub_slot_state state;
	uint64_t blocknr;	/* header block */
	uint64_t seq;		/* as read (meaningful when VALID) */
	uint32_t nr_blocks;
	char why[192];
};

/* The committed dynamic state: the winning journal header's counters. */
struct ub_state {
	uint64_t seq;		/* 0: freshly formatted */
	int slot;		/* slot holding it, -1: none */
	uint32_t flags;		/* UB_J_F_* */
	uint64_t mapped_chunks;
	uint64_t whiteout_chunks;
	uint64_t alloc_cursor;
	uint64_t data_chunks;	/* usable data chunks at that commit */
};

struct ub_store {
	char *path;
	int fd;
	bool rw;
	bool blkdev;
	bool busy;		/* block device claimed by someone else */
	uint64_t size_bytes;

	char *base_path;	/* NULL: no base given */
	int base_fd;
	bool base_blkdev;
	uint64_t base_bytes;
	bool base_checked;	/* size and fingerprint compared */
	bool base_matches;
	char base_why[320];	/* how it does not match */

	struct ub_superblock sb;	/* the copy in use, as on disk */
	int sb_block;			/* 0 or 1 */
	bool sb_bad[2];
	char sb_why[2][192];
	bool sb_copies_differ;

	/* geometry, host order, validated */
	uint32_t chunk_sectors;
	uint32_t chunk_bytes;
	uint32_t journal_blocks;
	uint64_t capacity;	/* virtual chunks */
	uint64_t data_chunks;	/* usable data chunks */
	struct ub_layout lay;
	uint64_t meta_blocks;	/* blocks before data_start */

	struct ub_slot slot[2];
	struct ub_state st;

	/* images of the committed transaction, sorted by home, unique */
	uint32_t nr_images;
	uint64_t *img_home;
	uint8_t *img;

	/* one cached map block for virtual reads */
	uint64_t cache_idx;
	bool cache_valid;
	uint32_t cache_entries[UB_MAP_ENTRIES];
};

int ub_open(const char *path, const char *base, unsigned int flags,
	    struct ub_store **out, struct ub_diag *d);
void ub_close(struct ub_store *s);
/* Compare the base with the superblock; fills base_checked/matches. */
int ub_check_base(struct ub_store *s, struct ub_diag *d);

/* Read metadata block @blocknr as on disk / as after journal replay. */
int ub_read_block(struct ub_store *s, uint64_t blocknr, void *buf,
		  struct ub_diag *d);
int ub_get_block(struct ub_store *s, uint64_t blocknr, void *buf,
		 struct ub_diag *d);
/* The replayed image for @blocknr, or NULL. */
const void *ub_journal_image(const struct ub_store *s, uint64_t blocknr);

/* Validate a superblock found at @blocknr of a store of store_bytes. */
int ub_sb_validate(const void *blk, uint64_t blocknr, uint64_t store_bytes,
		   char *why, size_t whylen);

/* ------------------------------------------------------------------ */
/* fingerprint.c                                                       */

int ub_fingerprint(int fd, uint64_t bytes, uint32_t *fp, struct ub_diag *d);

/* ------------------------------------------------------------------ */
/* map.c: the mapping table                                            */

/*
 * Called for each map block in order.  entries (host order) holds
 * nr_entries entries for chunks first_chunk.. (the last block is cut at
 * the capacity); tail_nonzero counts non-zero entries past the capacity.
 * status is the block's ub_blk_status; for BAD entries is all zeroes.
 * A non-zero return stops the walk and is returned.
 */
typedef int (*ub_map_fn)(void *ctx, uint64_t idx, uint64_t first_chunk,
			 const uint32_t *entries, uint32_t nr_entries,
			 uint32_t tail_nonzero, enum ub_blk_status status,
			 uint64_t block_seq, const char *why);
int ub_map_walk(struct ub_store *s, ub_map_fn fn, void *ctx,
		struct ub_diag *d);

/* Entry of virtual chunk v, with the block's status. */
int ub_map_entry(struct ub_store *s, uint64_t v, uint32_t *entry,
		 struct ub_diag *d);

enum ub_range_type {
	UB_RANGE_MAPPED,
	UB_RANGE_WHITEOUT,
};

/* Runs of mapped / whiteout chunks in order; fails on an invalid block. */
typedef int (*ub_range_fn)(void *ctx, enum ub_range_type type,
			   uint64_t first_chunk, uint64_t nr_chunks);
int ub_delta_walk(struct ub_store *s, ub_range_fn fn, void *ctx,
		  struct ub_diag *d);

uint64_t ub_virtual_bytes(const struct ub_store *s);
/* Read the tenant's device: store, base, or zeroes, chunk by chunk. */
int ub_read_virtual(struct ub_store *s, uint64_t off, void *buf, size_t len,
		    struct ub_diag *d);

/* ------------------------------------------------------------------ */
/* check.c                                                             */

struct ub_check_summary {
	uint64_t map_blocks_bad;
	uint64_t bitmap_blocks_bad;
	uint64_t mapped_chunks;		/* entries owning a data chunk */
	uint64_t whiteout_chunks;
	uint64_t bitmap_set;		/* bits set in the bitmap */
	uint64_t double_mapped;		/* data chunks with 2+ owners */
};

/* Check every invariant; problems go to d.  Returns 0 or -errno (I/O). */
int ub_check(struct ub_store *s, struct ub_check_summary *sum,
	     struct ub_diag *d);

/* ------------------------------------------------------------------ */
/* meta.c: whole metadata in memory, and writing it safely             */

struct ub_meta {
	struct ub_superblock sb;	/* static part, as on disk */
	uint64_t capacity;
	uint64_t seq;
	uint32_t jflags;
	uint64_t mapped_chunks;
	uint64_t whiteout_chunks;
	uint64_t alloc_cursor;
	uint32_t *map;			/* capacity entries, host order */
};

void ub_meta_free(struct ub_meta *m);
/* Count mapped and whiteout entries of m->map. */
void ub_meta_count(const struct ub_meta *m, uint64_t *mapped,
		   uint64_t *whiteouts);
/*
 * Check that m can be written to s: same layout as the superblock
 * describes, entries in range and no data chunk mapped twice, counters
 * equal to the map.  Fails naming the first problem.
 */
int ub_meta_validate(const struct ub_meta *m, uint64_t data_chunks,
		     struct ub_diag *d);

enum ub_write_mode {
	UB_WRITE_AUTO,		/* one journal transaction if it fits */
	UB_WRITE_FULL,		/* rewrite all metadata, superblocks last */
};

struct ub_write_stats {
	uint64_t blocks_changed;	/* map + bitmap blocks written */
	bool journaled;			/* committed through the journal */
	bool full;			/* full rewrite, superblocks last */
	bool sb_rewritten;
};

/*
 * Make the store hold m.  AUTO commits the changed blocks as journal
 * transaction m->seq (which must be above every seq on disk) when they
 * fit in a slot; otherwise, and for FULL, the superblocks are
 * invalidated first, every metadata block is written, and the
 * superblocks are written last, with flushes between.  dry_run only
 * computes the statistics.
 */
int ub_meta_write(struct ub_store *s, const struct ub_meta *m,
		  enum ub_write_mode mode, bool dry_run,
		  struct ub_write_stats *ws, struct ub_diag *d);

/*
 * Write m to the store or image at path with the full-rewrite protocol,
 * whatever it held before (restore).  The store must be big enough for
 * the layout m's superblock describes.
 */
int ub_meta_restore(const char *path, const struct ub_meta *m, bool dry_run,
		    struct ub_write_stats *ws, struct ub_diag *d);

/* Save the metadata region [0, data_start) to a new file. */
int ub_backup_metadata(struct ub_store *s, const char *path,
		       struct ub_diag *d);

/* ------------------------------------------------------------------ */
/* repair.c                                                            */

struct ub_repair_stats {
	uint64_t entries_dropped;	/* entries lost with bad blocks */
	uint64_t blocks_dropped;
	uint64_t entries_cleared;	/* out of range or double mapped */
	bool changed;
};

/*
 * Build consistent metadata from what survives in s (opened TOLERANT):
 * bad map blocks dropped, out-of-range and double-mapped entries
 * unmapped, the bitmap and counters recomputed, seq above anything seen.
 * Each thing not kept is reported (UB_INFO) in d.
 */
int ub_repair_plan(struct ub_store *s, struct ub_meta *m,
		   struct ub_repair_stats *rs, struct ub_diag *d);

/* ------------------------------------------------------------------ */
/* format.c                                                            */

struct ub_format_opts {
	const char *base;		/* required */
	uint32_t chunk_sectors;		/* 0: default */
	uint64_t capacity_bytes;	/* 0: the base size */
	uint32_t journal_blocks;	/* 0: default */
	const char *tenant;
	const char *base_name;
	bool force;
	const uint8_t *uuid;		/* NULL: random */
	uint64_t created;		/* 0: now */
};

int ub_format(const char *path, const struct ub_format_opts *o,
	      struct ub_diag *d);
/* Would a store with this geometry fit? Fills layout; for tools/tests. */
int ub_format_layout(uint64_t capacity_chunks, uint32_t chunk_sectors,
		     uint32_t journal_blocks, struct ub_layout *l,
		     struct ub_diag *d);

/* ------------------------------------------------------------------ */
/* dump.c: dump and restore                                            */

enum ub_dump_format {
	UB_DUMP_JSON,
	UB_DUMP_XML,
};

int ub_dump(struct ub_store *s, FILE *out, enum ub_dump_format fmt,
	    struct ub_diag *d);
/*
 * Parse a dump (JSON or XML, detected by its first character) into m.
 * Refuses a capacity above max_capacity (bound it by the target's size),
 * overlapping or out-of-range runs.  m->map is allocated; free it with
 * ub_meta_free().
 */
int ub_dump_parse(const char *buf, size_t len, uint64_t max_capacity,
		  struct ub_meta *m, struct ub_diag *d);
/* Most virtual chunks a store of size_bytes can describe. */
uint64_t ub_max_capacity(uint64_t size_bytes);

/* ------------------------------------------------------------------ */
/* util */

void ub_uuid_unparse(const uint8_t uuid[16], char out[37]);
int ub_uuid_parse(const char *in, uint8_t uuid[16]);
/* Copy a NUL-padded on-disk name into a C string (at most 64 bytes). */
void ub_name_get(const char name[UB_NAME_LEN], char out[UB_NAME_LEN + 1]);

#endif /* LIBUNIONBLK_H */
