/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The on-disk format of a dm-log-writes log (drivers/md/dm-log-writes.c,
 * Documentation/admin-guide/device-mapper/log-writes.rst), as read by
 * replay-log and written by mklog.
 *
 * The log is a sequence of blocks of the logged device's logical block
 * size B (the super's sectorsize):
 *
 *   block 0            super (struct lw_super, rest zero)
 *   then, per entry:   one block: struct lw_entry, then for a mark its
 *                      name (data_len bytes, no NUL), rest zero;
 *                      then nr_sectors blocks of data, unless DISCARD
 *
 * Entry sectors and counts are in units of B.  nr_entries in the super is
 * rewritten after every FUA or mark entry and when the target is removed
 * (which logs a last mark, "dm-log-writes-end"); entries logged after the
 * last such update are not counted and cannot be replayed.  All fields
 * are little-endian.
 *
 * The target logs a write only once a flush has covered it, so the log
 * is in the order data became durable: a FLUSH entry follows every write
 * it flushed, a FUA entry is logged at completion.  Replaying entries
 * 0..K for a K that is a FLUSH or FUA entry therefore gives one state the
 * device could have been in after a power failure.
 */
#ifndef UB_HELPERS_LOG_WRITES_H
#define UB_HELPERS_LOG_WRITES_H

#include <stdint.h>

#define LW_MAGIC	0x6a736677736872ULL
#define LW_VERSION	1ULL

#define LW_FLUSH	(1ULL << 0)	/* REQ_PREFLUSH */
#define LW_FUA		(1ULL << 1)	/* REQ_FUA */
#define LW_DISCARD	(1ULL << 2)	/* a discard: no data follows */
#define LW_MARK		(1ULL << 3)	/* a mark: name in the entry block */
#define LW_METADATA	(1ULL << 4)	/* REQ_META */
#define LW_KNOWN_FLAGS	(LW_FLUSH | LW_FUA | LW_DISCARD | LW_MARK | \
			 LW_METADATA)

#define LW_MIN_BLOCK	512
#define LW_MAX_BLOCK	65536

struct lw_super {
	uint64_t magic;
	uint64_t version;
	uint64_t nr_entries;
	uint32_t sectorsize;	/* B, bytes */
} __attribute__((packed));

struct lw_entry {
	uint64_t sector;	/* first block written, units of B */
	uint64_t nr_sectors;	/* blocks, units of B */
	uint64_t flags;		/* LW_* */
	uint64_t data_len;	/* mark: name length; else 0 */
} __attribute__((packed));

#endif
