/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-unionblk metadata: the COW store's mapping table, allocation bitmap
 * and journal behind an opaque handle.  The on-disk layout is in
 * dm-unionblk-format.h and docs/format.md.
 *
 * Calling contexts: functions marked "worker" must be called from the one
 * thread that owns the store's metadata (the target's worker, or ctr/dtr
 * and the suspend hooks while no worker runs); they may block.  Functions
 * marked "safe in map" issue no I/O, but may sleep on dm-bufio's lock.
 *
 * In read-only mode nothing is ever written to the store: modifying calls
 * return -EROFS and a journal that needs replay is replayed into pinned
 * cache buffers only.
 */
#ifndef DM_UNIONBLK_METADATA_H
#define DM_UNIONBLK_METADATA_H

#include <linux/types.h>
#include <linux/blkdev.h>
#include <linux/spinlock.h>

struct ub_metadata;

struct ub_md_open_args {
	struct block_device *store;
	sector_t store_sectors;
	struct block_device *base;
	sector_t base_sectors;
	/* Format an all-zero store instead of refusing it */
	bool format;
	/* 0: any (open) or the default (format) */
	u32 chunk_sectors;
	/* Virtual chunks the mapping table must hold when formatting */
	u64 capacity_chunks;
	bool read_only;
	/* Taken around every mapping entry update; readers hold it too */
	spinlock_t *publish_lock;
};

struct ub_md_stats {
	u32 chunk_sectors;
	u64 capacity_chunks;
	u64 data_chunks;	/* usable chunks in the store */
	u64 mapped_chunks;
	u64 whiteout_chunks;
	u64 free_chunks;	/* allocatable now */
	u64 seq;		/* last committed transaction */
	bool needs_check;
};

/*
 * Open (or, when asked and the store is all zeroes, format) a COW store,
 * verify it belongs to the base and replay its journal.  Reads a bounded
 * amount of metadata, whatever the number of mapped chunks.  On failure
 * *error is a static string for ti->error.  Worker.
 */
int ub_md_open(const struct ub_md_open_args *args, struct ub_metadata **mdp,
	       char **error);

/* Release the handle.  Does not commit: call ub_md_commit first.  Worker. */
void ub_md_close(struct ub_metadata *md);

void ub_md_get_stats(struct ub_metadata *md, struct ub_md_stats *stats);
u32 ub_md_chunk_sectors(struct ub_metadata *md);
u64 ub_md_capacity(struct ub_metadata *md);

/*
 * Look up the mapping entry (UB_MAP_*) of a virtual chunk.
 * ub_md_lookup_run_nowait() is safe in map, never under a spinlock: it
 * returns -EWOULDBLOCK when the metadata block is not cached or not yet
 * verified, and in *run the length of the run of chunks vchunk starts
 * (at most max_chunks): data chunks that follow each other in the store,
 * or all unmapped, or all whiteouts.  ub_md_lookup() may block reading
 * metadata (worker).  Both return -EIO for a block that cannot be read,
 * and -EILSEQ for one that does not verify or an entry past the data area.
 */
int ub_md_lookup_run_nowait(struct ub_metadata *md, u64 vchunk,
			    u64 max_chunks, u32 *entry, u64 *run);
int ub_md_lookup(struct ub_metadata *md, u64 vchunk, u32 *entry);

/* Blocks the running transaction can still take.  Worker. */
unsigned int ub_md_txn_room(struct ub_metadata *md);
#define UB_MD_OP_BLOCKS 2	/* blocks one install or whiteout may dirty */

/*
 * Reserve a free data chunk for a copy-up.  -ENOSPC when none is free.
 * A reserved chunk is neither free nor mapped until ub_md_install() or
 * ub_md_unreserve().  Worker.
 */
int ub_md_alloc(struct ub_metadata *md, u32 *dchunk);
void ub_md_unreserve(struct ub_metadata *md, u32 dchunk);

/*
 * Map virtual chunk vchunk to the reserved data chunk dchunk in the
 * running transaction.  Needs UB_MD_OP_BLOCKS of room.  Worker.
 */
int ub_md_install(struct ub_metadata *md, u64 vchunk, u32 dchunk);

/*
 * Turn a virtual chunk into a whiteout.  A data chunk it owned is freed,
 * but held back from allocation until ub_md_release_quarantine() after
 * the transaction commits.  *freed is set when one was.  Needs
 * UB_MD_OP_BLOCKS of room.  Worker.
 */
int ub_md_whiteout(struct ub_metadata *md, u64 vchunk, bool *freed);

/* Chunks freed by committed transactions become allocatable.  Worker. */
bool ub_md_has_quarantine(struct ub_metadata *md);
void ub_md_release_quarantine(struct ub_metadata *md);

/* Whether there is anything to commit. */
bool ub_md_dirty(struct ub_metadata *md);

/*
 * Make the running transaction durable: flush the store (data written by
 * completed copy-ups), write the changed blocks to the journal, flush, then
 * write them home.  On error nothing acknowledged is lost on disk, but the
 * handle must not be written again (the caller goes read-only).  Worker.
 */
int ub_md_commit(struct ub_metadata *md);

/*
 * Whether a checkpoint failed: dm-bufio dropped blocks it could not write,
 * so the cached metadata is no longer trustworthy until a reactivation
 * replays the journal.
 */
bool ub_md_failed(struct ub_metadata *md);

/* Record that an error was seen; persisted by the next commit. */
void ub_md_set_needs_check(struct ub_metadata *md);

/*
 * The store device changed size (a reload with a grown or shrunk store).
 * Refuses a shrink that would cut off allocated chunks.  Worker.
 */
int ub_md_resize(struct ub_metadata *md, sector_t store_sectors,
		 char **error);

/* Sector of data chunk dchunk on the store. */
sector_t ub_md_data_sector(struct ub_metadata *md, u32 dchunk);

#endif /* DM_UNIONBLK_METADATA_H */
