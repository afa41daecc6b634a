// SPDX-License-Identifier: GPL-2.0
/*
 * dm-unionblk: a per-tenant copy-on-write block device over a shared
 * read-only base.
 *
 * Chunks the tenant never wrote are read from the base.  The first write to
 * a chunk copies it up into the tenant's own COW store; a discard turns a
 * chunk into a whiteout that reads as zeroes and never shows the base's
 * data again.  The store's metadata (dm-unionblk-metadata.c) is journaled
 * and checksummed; FLUSH and FUA wait for its commit.
 *
 * Locking: tc->lock (the store's lock, shared with the metadata layer,
 * which publishes mapping entries under it) protects the deferred lists
 * and the copy-up table; the I/O epochs are lock-free (ub_epoch_begin).
 * map reads the mapping without locks.  Everything that changes metadata
 * runs in the tenant's own worker, so one tenant's commit or full store
 * never stalls another.
 */

#include "dm-unionblk-metadata.h"
#include "dm-unionblk-format.h"
#include "dm-unionblk-compat.h"

#include <linux/module.h>
#include <linux/init.h>
#include <linux/blkdev.h>
#include <linux/bio.h>
#include <linux/device-mapper.h>
#include <linux/dm-kcopyd.h>
#include <linux/hash.h>
#include <linux/list.h>
#include <linux/mempool.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include <linux/wait.h>

#define DM_MSG_PREFIX "unionblk"

#define UB_COMMIT_PERIOD	HZ		/* jiffies between commits */
#define UB_NOSPACE_TIMEOUT	(60 * HZ)	/* queued writes give up */
#define UB_CU_HASH_BITS		8		/* copy-up table buckets */
#define UB_MIN_CU		64		/* copy-ups kept in reserve */
#define UB_DISCARD_CHUNKS	1024		/* chunks per discard bio */

/*
 * Metadata state: write -> read_only -> fail, never back without a
 * reload.  read_only: a commit failed or metadata did not verify; reads
 * and rewrites of mapped chunks go on, nothing new is mapped, a flush
 * retries the commit.  fail: that retry failed too; every bio fails.
 */
enum ub_mode {
	UB_MODE_WRITE,
	UB_MODE_READ_ONLY,
	UB_MODE_FAIL,
};

/*
 * A COW store open by a mapped device.  A table reload opens the same
 * store again while the old table is live, so both share one metadata
 * handle; only the active table's worker touches it.
 */
struct ub_store {
	struct list_head list;		/* in ub_stores, under ub_stores_lock */
	dev_t dev;
	struct mapped_device *owner;
	struct dm_table *table;		/* of the newest user */
	dev_t base_dev;
	sector_t base_sectors;
	unsigned int refs;		/* under ub_stores_lock */
	struct ub_metadata *md;
	spinlock_t lock;		/* publishes mapping entries */
	bool read_only;
};

static LIST_HEAD(ub_stores);
static DEFINE_MUTEX(ub_stores_lock);

struct ub_copyup {
	struct hlist_node hash;		/* in tc->cu_hash, under tc->lock */
	struct list_head list;		/* on tc->cu_done/cu_copied */
	struct ub_c *tc;
	u64 vchunk;
	u32 dchunk;
	u32 old_entry;
	struct bio *bio;		/* the write it serves, or NULL */
	struct bio_list waiters;	/* writes to the chunk, under lock */
	int error;
	unsigned int step;		/* kcopyd steps still to run */
	struct completion *done;	/* synchronous copy-up */
	bool pooled;			/* from tc->cu_pool */
};

struct ub_c {
	struct dm_target *ti;
	struct dm_dev *store_dev;
	struct dm_dev *base_dev;
	struct ub_store *store;
	struct ub_metadata *md;		/* store->md, worker only */
	spinlock_t *lock;		/* &store->lock */

	sector_t base_sectors;
	sector_t store_sectors;		/* worker: size last seen */
	u32 chunk_sectors;
	unsigned int chunk_shift;

	/* Features, as given in the table */
	bool format;
	u32 table_chunk_sectors;	/* 0 when not given */
	bool ro_feature;
	bool ro;			/* ro_feature or a read-only table */
	bool no_discard;
	bool queue_if_no_space;
	bool no_space_given;
	u64 low_water;			/* chunks; 0 = no event */

	enum ub_mode mode;		/* written by the worker only */
	bool low_water_signalled;	/* worker */
	bool out_of_space;		/* worker */
	bool suspended;			/* between postsuspend and resume */
	int last_commit_error;		/* worker */

	struct workqueue_struct *wq;
	struct work_struct worker;
	struct delayed_work waker;
	struct delayed_work nospace_timeout;
	struct dm_kcopyd_client *kcopyd;
	mempool_t cu_pool;

	/* Under *lock */
	struct bio_list deferred;
	struct bio_list commit_bios;	/* ended, wait for the next commit */
	struct list_head cu_done;	/* copy-up writes that ended */
	struct list_head cu_copied;	/* kcopyd steps that ended */
	struct hlist_head cu_hash[1 << UB_CU_HASH_BITS];
	struct bio_list nospace;	/* writes waiting for space */
	bool commit_requested;		/* commit, or flush when clean */
	bool periodic_commit;		/* commit if dirty */

	/*
	 * Store I/O epochs: a data chunk freed by a whiteout is reused only
	 * after every store bio that may have looked up its old mapping has
	 * ended.  epoch is flipped by the commit (worker), which then
	 * waits for the old epoch to drain.
	 */
	unsigned int epoch;
	atomic_t inflight[2];
	wait_queue_head_t inflight_wait;
};

struct ub_per_bio {
	struct ub_copyup *cu;		/* copy-up this write carries */
	unsigned int epoch;
	bool counted;			/* holds inflight[epoch] */
	bool commit_after;		/* FUA: end only after a commit */
};

static struct kmem_cache *ub_cu_cache;

/*
 * -----------------------------------------------------------------
 * Helpers
 * -----------------------------------------------------------------
 */
static struct ub_per_bio *ub_pb(struct bio *bio)
{
	return dm_per_bio_data(bio, sizeof(struct ub_per_bio));
}

static u64 ub_chunk_of(struct ub_c *tc, sector_t sector)
{
	return sector >> tc->chunk_shift;
}

static sector_t ub_chunk_offset(struct ub_c *tc, sector_t sector)
{
	return sector & (tc->chunk_sectors - 1);
}

static const char *ub_mode_name(enum ub_mode mode)
{
	switch (mode) {
	case UB_MODE_WRITE:
		return "ok";
	case UB_MODE_READ_ONLY:
		return "read_only";
	case UB_MODE_FAIL:
		return "fail";
	}
	return "unknown";
}

static void ub_wake_worker(struct ub_c *tc)
{
	queue_work(tc->wq, &tc->worker);
}

static void ub_defer_bio(struct ub_c *tc, struct bio *bio)
{
	unsigned long flags;

	spin_lock_irqsave(tc->lock, flags);
	bio_list_add(&tc->deferred, bio);
	spin_unlock_irqrestore(tc->lock, flags);
	ub_wake_worker(tc);
}

static void ub_requeue_list(struct ub_c *tc, struct bio_list *bios)
{
	unsigned long flags;

	if (bio_list_empty(bios))
		return;
	spin_lock_irqsave(tc->lock, flags);
	bio_list_merge(&tc->deferred, bios);
	spin_unlock_irqrestore(tc->lock, flags);
	bio_list_init(bios);
	ub_wake_worker(tc);
}

static void ub_end_bio(struct bio *bio, blk_status_t status)
{
	bio->bi_status = status;
	bio_endio(bio);
}

/* Move to a worse metadata mode, never back; raise a dm event. */
static void ub_set_mode(struct ub_c *tc, enum ub_mode mode, const char *why)
{
	if (mode <= tc->mode)
		return;
	DMERR("%s: metadata now %s: %s",
	      dm_table_device_name(tc->ti->table), ub_mode_name(mode), why);
	WRITE_ONCE(tc->mode, mode);
	ub_md_set_needs_check(tc->md);
	dm_table_event(tc->ti->table);
}

/* A metadata lookup failed: corrupt metadata makes the tenant read-only. */
static void ub_metadata_error(struct ub_c *tc, int r)
{
	if (r == -EILSEQ)
		ub_set_mode(tc, UB_MODE_READ_ONLY, "metadata block does not verify");
	else
		ub_md_set_needs_check(tc->md);
}

/*
 * -----------------------------------------------------------------
 * Store I/O epochs
 * -----------------------------------------------------------------
 */
static void ub_epoch_end(struct ub_c *tc, unsigned int e)
{
	if (atomic_dec_and_test(&tc->inflight[e]) &&
	    wq_has_sleeper(&tc->inflight_wait))
		wake_up(&tc->inflight_wait);
}

static unsigned int ub_epoch_begin(struct ub_c *tc)
{
	unsigned int e;

	for (;;) {
		e = READ_ONCE(tc->epoch);
		atomic_inc(&tc->inflight[e]);
		/* Pairs with the barrier in ub_epoch_drain() */
		smp_mb__after_atomic();
		if (likely(READ_ONCE(tc->epoch) == e))
			return e;
		/* The epoch flipped under us: count in the new one */
		ub_epoch_end(tc, e);
	}
}

/*
 * Wait for every store bio begun before now.  A bio counts itself in the
 * epoch it read, then reads the epoch again: it either sees the flip and
 * counts again in the new epoch, or its count is seen here.  Worker.
 */
static void ub_epoch_drain(struct ub_c *tc)
{
	unsigned int old = tc->epoch;

	/* Mappings changed before the flip are seen by the new epoch */
	smp_mb();
	WRITE_ONCE(tc->epoch, old ^ 1);
	/* Pairs with ub_epoch_begin(): see its count, or it sees the flip */
	smp_mb();
	wait_event(tc->inflight_wait, !atomic_read(&tc->inflight[old]));
}

/*
 * -----------------------------------------------------------------
 * Copy-up table
 * -----------------------------------------------------------------
 */
static struct hlist_head *ub_cu_bucket(struct ub_c *tc, u64 vchunk)
{
	return &tc->cu_hash[hash_64(vchunk, UB_CU_HASH_BITS)];
}

/* Caller holds *lock. */
static struct ub_copyup *ub_cu_find(struct ub_c *tc, u64 vchunk)
{
	struct ub_copyup *cu;

	hlist_for_each_entry(cu, ub_cu_bucket(tc, vchunk), hash)
		if (cu->vchunk == vchunk)
			return cu;
	return NULL;
}

/* Park a write behind a copy-up of its chunk; false when there is none. */
static bool ub_wait_for_copyup(struct ub_c *tc, u64 vchunk, struct bio *bio)
{
	struct ub_copyup *cu;
	unsigned long flags;

	spin_lock_irqsave(tc->lock, flags);
	cu = ub_cu_find(tc, vchunk);
	if (cu)
		bio_list_add(&cu->waiters, bio);
	spin_unlock_irqrestore(tc->lock, flags);
	return cu;
}

/* Remove a copy-up from the table and requeue what waited on it. */
static void ub_cu_retire(struct ub_c *tc, struct ub_copyup *cu)
{
	struct bio_list waiters;
	unsigned long flags;

	spin_lock_irqsave(tc->lock, flags);
	hlist_del(&cu->hash);
	waiters = cu->waiters;
	spin_unlock_irqrestore(tc->lock, flags);
	ub_requeue_list(tc, &waiters);
	if (cu->pooled)
		mempool_free(cu, &tc->cu_pool);
}

/*
 * -----------------------------------------------------------------
 * Commit
 * -----------------------------------------------------------------
 */

/*
 * Make everything completed so far durable: commit the metadata when it
 * changed, else just flush the store.  Chunks freed by the transaction
 * become allocatable once no store bio can still use their old mapping.
 * Worker.
 */
static int ub_commit(struct ub_c *tc)
{
	bool dirty = ub_md_dirty(tc->md);
	int r;

	if (tc->mode == UB_MODE_FAIL)
		r = -EIO;
	else if (tc->ro || tc->store->read_only)
		r = dirty ? -EROFS : 0;
	else if (dirty)
		r = ub_md_commit(tc->md);
	else
		r = blkdev_issue_flush(tc->store_dev->bdev);
	tc->last_commit_error = r;
	if (r) {
		if (ub_md_failed(tc->md))
			ub_set_mode(tc, UB_MODE_FAIL, "metadata checkpoint failed");
		else if (dirty && tc->mode == UB_MODE_READ_ONLY)
			ub_set_mode(tc, UB_MODE_FAIL, "metadata commit failed again");
		else if (dirty && tc->mode == UB_MODE_WRITE)
			ub_set_mode(tc, UB_MODE_READ_ONLY, "metadata commit failed");
		return r;
	}
	if (tc->mode == UB_MODE_FAIL || tc->ro || tc->store->read_only)
		return 0;
	if (ub_md_has_quarantine(tc->md)) {
		ub_epoch_drain(tc);
		ub_md_release_quarantine(tc->md);
		/* Freed space may let queued writes go on */
		ub_requeue_list(tc, &tc->nospace);
	}
	return 0;
}

/* Make room in the transaction for one more metadata operation. */
static int ub_txn_room(struct ub_c *tc)
{
	if (ub_md_txn_room(tc->md) >= UB_MD_OP_BLOCKS)
		return 0;
	return ub_commit(tc);
}

/*
 * -----------------------------------------------------------------
 * Space
 * -----------------------------------------------------------------
 */
static void ub_check_low_water(struct ub_c *tc)
{
	struct ub_md_stats s;

	if (!tc->low_water)
		return;
	ub_md_get_stats(tc->md, &s);
	if (s.free_chunks < tc->low_water) {
		if (!tc->low_water_signalled) {
			tc->low_water_signalled = true;
			DMWARN("%s: free chunks %llu below low water mark %llu",
			       dm_table_device_name(tc->ti->table),
			       s.free_chunks, tc->low_water);
			dm_table_event(tc->ti->table);
		}
	} else {
		tc->low_water_signalled = false;
	}
}

/* The store device may have grown under us (an extended LV). */
static bool ub_store_grew(struct ub_c *tc)
{
	sector_t now = bdev_nr_sectors(tc->store_dev->bdev);
	struct ub_md_stats before, after;
	char *error;

	if (now <= tc->store_sectors)
		return false;
	tc->store_sectors = now;
	ub_md_get_stats(tc->md, &before);
	if (ub_md_resize(tc->md, now, &error))
		return false;
	ub_md_get_stats(tc->md, &after);
	return after.free_chunks > before.free_chunks;
}

/* Allocate a data chunk, or handle running out of space. */
static int ub_alloc(struct ub_c *tc, u32 *dchunk)
{
	int r = ub_md_alloc(tc->md, dchunk);

	if (r == -ENOSPC && ub_store_grew(tc))
		r = ub_md_alloc(tc->md, dchunk);
	if (r == -ENOSPC && !tc->out_of_space) {
		tc->out_of_space = true;
		DMWARN("%s: COW store is full", dm_table_device_name(tc->ti->table));
		dm_table_event(tc->ti->table);
	} else if (!r) {
		tc->out_of_space = false;
		ub_check_low_water(tc);
	}
	return r;
}

/* A write found no free chunk: queue it or fail it, per the table. */
static void ub_no_space(struct ub_c *tc, struct bio *bio)
{
	if (!tc->queue_if_no_space) {
		ub_end_bio(bio, BLK_STS_NOSPC);
		return;
	}
	if (READ_ONCE(tc->suspended)) {
		/* dm core requeues it on a noflush suspend */
		ub_end_bio(bio, BLK_STS_DM_REQUEUE);
		return;
	}
	bio_list_add(&tc->nospace, bio);
	if (!delayed_work_pending(&tc->nospace_timeout))
		queue_delayed_work(tc->wq, &tc->nospace_timeout,
				   UB_NOSPACE_TIMEOUT);
}

static void ub_nospace_timeout(struct work_struct *ws)
{
	struct ub_c *tc = container_of(to_delayed_work(ws), struct ub_c,
				       nospace_timeout);
	struct bio *bio;

	/* Runs on tc->wq, never at the same time as the worker */
	while ((bio = bio_list_pop(&tc->nospace)))
		ub_end_bio(bio, BLK_STS_NOSPC);
}

/*
 * -----------------------------------------------------------------
 * Copy-up
 * -----------------------------------------------------------------
 */
static void ub_remap_store(struct ub_c *tc, struct bio *bio, u32 dchunk)
{
	bio_set_dev(bio, tc->store_dev->bdev);
	bio->bi_iter.bi_sector = ub_md_data_sector(tc->md, dchunk) +
				 ub_chunk_offset(tc, bio->bi_iter.bi_sector);
}

static void ub_kcopyd_done(int read_err, unsigned long write_err, void *context)
{
	struct ub_copyup *cu = context;
	struct ub_c *tc = cu->tc;
	unsigned long flags;

	if (read_err || write_err)
		cu->error = -EIO;
	if (cu->done) {
		complete(cu->done);
		return;
	}
	spin_lock_irqsave(tc->lock, flags);
	list_add_tail(&cu->list, &tc->cu_copied);
	spin_unlock_irqrestore(tc->lock, flags);
	ub_wake_worker(tc);
}

/*
 * Start the next kcopyd step that fills data chunk cu->dchunk with what
 * the chunk reads as now: the base's data, zeroes past the base end or
 * for a whiteout, both for a chunk that straddles the base end.
 */
static void ub_cu_fill(struct ub_c *tc, struct ub_copyup *cu)
{
	sector_t start = cu->vchunk << tc->chunk_shift;
	struct dm_io_region to = {
		.bdev = tc->store_dev->bdev,
		.sector = ub_md_data_sector(tc->md, cu->dchunk),
		.count = tc->chunk_sectors,
	};
	struct dm_io_region from = {
		.bdev = tc->base_dev->bdev,
		.sector = start,
		.count = tc->chunk_sectors,
	};

	if (cu->old_entry == UB_MAP_WHITEOUT || start >= tc->base_sectors) {
		cu->step = 0;
		dm_kcopyd_zero(tc->kcopyd, 1, &to, 0, ub_kcopyd_done, cu);
		return;
	}
	if (start + tc->chunk_sectors > tc->base_sectors) {
		/* Straddles the base end: zero it all, then copy the head */
		if (cu->step == 2) {
			cu->step = 1;
			dm_kcopyd_zero(tc->kcopyd, 1, &to, 0, ub_kcopyd_done, cu);
			return;
		}
		from.count = tc->base_sectors - start;
		to.count = from.count;
	}
	cu->step = 0;
	dm_kcopyd_copy(tc->kcopyd, &from, 1, &to, 0, ub_kcopyd_done, cu);
}

/*
 * Start tracking a copy-up.  cu is NULL to take one from the pool without
 * waiting (only the worker returns them, so it must never wait for one),
 * or the caller's own.
 */
static struct ub_copyup *ub_cu_new(struct ub_c *tc, struct ub_copyup *cu,
				   u64 vchunk, u32 entry, u32 dchunk,
				   struct bio *bio)
{
	unsigned long flags;
	bool pooled = !cu;

	if (pooled) {
		cu = mempool_alloc(&tc->cu_pool, GFP_NOWAIT);
		if (!cu)
			return NULL;
	}
	memset(cu, 0, sizeof(*cu));
	cu->pooled = pooled;
	cu->tc = tc;
	cu->vchunk = vchunk;
	cu->dchunk = dchunk;
	cu->old_entry = entry;
	cu->bio = bio;
	cu->step = 2;
	bio_list_init(&cu->waiters);
	spin_lock_irqsave(tc->lock, flags);
	hlist_add_head(&cu->hash, ub_cu_bucket(tc, vchunk));
	spin_unlock_irqrestore(tc->lock, flags);
	return cu;
}

/* Send the write a copy-up serves to its new home. */
static void ub_cu_submit_write(struct ub_c *tc, struct ub_copyup *cu)
{
	struct bio *bio = cu->bio;
	struct ub_per_bio *pb = ub_pb(bio);

	pb->cu = cu;
	pb->epoch = ub_epoch_begin(tc);
	pb->counted = true;
	ub_remap_store(tc, bio, cu->dchunk);
	dm_submit_bio_remap(bio, NULL);
}

/*
 * A write to a chunk the store does not hold: reserve a data chunk, fill
 * it unless the write covers all of it, write, and map it once the write
 * ended (ub_cu_finish).  A write covering the whole chunk never reads the
 * base.  Worker.
 */
static void ub_copyup(struct ub_c *tc, struct bio *bio, u64 vchunk, u32 entry)
{
	struct ub_copyup *cu;
	unsigned long flags;
	u32 dchunk;
	int r;

	r = ub_alloc(tc, &dchunk);
	if (r == -ENOSPC) {
		ub_no_space(tc, bio);
		return;
	}
	if (r) {
		ub_metadata_error(tc, r);
		ub_end_bio(bio, errno_to_blk_status(r));
		return;
	}
	cu = ub_cu_new(tc, NULL, vchunk, entry, dchunk, bio);
	if (!cu) {
		/* Retried when a copy-up in flight ends and wakes us */
		ub_md_unreserve(tc->md, dchunk);
		spin_lock_irqsave(tc->lock, flags);
		bio_list_add(&tc->deferred, bio);
		spin_unlock_irqrestore(tc->lock, flags);
		return;
	}
	if (bio->bi_iter.bi_size == tc->chunk_sectors << SECTOR_SHIFT)
		ub_cu_submit_write(tc, cu);
	else
		ub_cu_fill(tc, cu);
}

/* A kcopyd step ended: run the next, or send the write.  Worker. */
static void ub_cu_copied(struct ub_c *tc, struct ub_copyup *cu)
{
	if (cu->error) {
		DMERR_LIMIT("%s: copy-up of chunk %llu failed",
			    dm_table_device_name(tc->ti->table), cu->vchunk);
		ub_md_unreserve(tc->md, cu->dchunk);
		ub_end_bio(cu->bio, BLK_STS_IOERR);
		ub_cu_retire(tc, cu);
		return;
	}
	if (cu->step) {
		ub_cu_fill(tc, cu);
		return;
	}
	ub_cu_submit_write(tc, cu);
}

/*
 * The write of a copy-up ended: map the chunk, then end the write (after
 * the next commit for FUA) and let the writes that waited go.  Worker.
 */
static void ub_cu_finish(struct ub_c *tc, struct ub_copyup *cu,
			 struct bio_list *commit_wait)
{
	struct bio *bio = cu->bio;
	int r = cu->error;

	if (!r) {
		r = ub_txn_room(tc);
		if (!r)
			r = ub_md_install(tc->md, cu->vchunk, cu->dchunk);
		if (r)
			ub_metadata_error(tc, r);
	}
	if (r) {
		ub_md_unreserve(tc->md, cu->dchunk);
		ub_end_bio(bio, errno_to_blk_status(r));
	} else if (bio->bi_opf & REQ_FUA) {
		bio_list_add(commit_wait, bio);
	} else {
		ub_end_bio(bio, BLK_STS_OK);
	}
	ub_cu_retire(tc, cu);
}

/*
 * Copy a chunk up and wait for it, for write-zeroes into part of a chunk.
 * Returns the data chunk now mapped.  Worker.
 */
static int ub_copyup_sync(struct ub_c *tc, u64 vchunk, u32 entry, u32 *dchunk)
{
	DECLARE_COMPLETION_ONSTACK(done);
	struct ub_copyup cu_on_stack, *cu;
	int r;

	r = ub_alloc(tc, dchunk);
	if (r)
		return r;
	cu = ub_cu_new(tc, &cu_on_stack, vchunk, entry, *dchunk, NULL);
	cu->done = &done;
	do {
		reinit_completion(&done);
		ub_cu_fill(tc, cu);
		wait_for_completion_io(&done);
	} while (!cu->error && cu->step);

	r = cu->error;
	if (!r)
		r = ub_txn_room(tc);
	if (!r)
		r = ub_md_install(tc->md, vchunk, *dchunk);
	if (r)
		ub_md_unreserve(tc->md, *dchunk);
	ub_cu_retire(tc, cu);
	return r;
}

/*
 * -----------------------------------------------------------------
 * Routing reads and writes
 * -----------------------------------------------------------------
 */
enum ub_route {
	UB_ROUTE_REMAPPED,	/* bio points at its device, submit it */
	UB_ROUTE_DONE,		/* ended or parked */
	UB_ROUTE_DEFER,		/* needs the worker */
};

/*
 * Map: trim a bio that goes to the worker to its first chunk.  The worker
 * cannot split bios, and a copy-up serves one chunk.
 */
static void ub_trim_to_chunk(struct ub_c *tc, struct bio *bio)
{
	sector_t left = tc->chunk_sectors -
			ub_chunk_offset(tc, bio->bi_iter.bi_sector);

	if (bio_sectors(bio) > left)
		dm_accept_partial_bio(bio, left);
}

/*
 * Route a read or write.  In map (may_block false) it takes the run of
 * chunks the bio starts with that go to one place (data chunks that
 * follow each other in the store, or all from the base, or all zeroes)
 * and leaves the rest of the bio to dm core; a metadata block that is not
 * cached, and any write that needs a copy-up, go to the worker with the
 * bio trimmed to one chunk.  In the worker bios span one chunk at most,
 * and the copy-up starts here.
 */
static enum ub_route ub_route(struct ub_c *tc, struct bio *bio, bool may_block)
{
	struct ub_per_bio *pb = ub_pb(bio);
	sector_t sector = bio->bi_iter.bi_sector;
	u64 vchunk = ub_chunk_of(tc, sector);
	u64 nchunks = ub_chunk_of(tc, bio_end_sector(bio) - 1) - vchunk + 1;
	bool write = op_is_write(bio_op(bio));
	unsigned int e;
	u64 run = 1;
	u32 entry;
	int r;

	if (may_block && nchunks > 1) {
		/* Cannot happen: map trims what it defers */
		DMERR_LIMIT("%s: deferred bio spans %llu chunks",
			    dm_table_device_name(tc->ti->table), nchunks);
		ub_end_bio(bio, BLK_STS_IOERR);
		return UB_ROUTE_DONE;
	}

	/* Count the bio before the lookup: see ub_epoch_drain() */
	e = ub_epoch_begin(tc);
	if (may_block)
		r = ub_md_lookup(tc->md, vchunk, &entry);
	else
		r = ub_md_lookup_run_nowait(tc->md, vchunk, nchunks, &entry,
					    &run);
	if (r == -EWOULDBLOCK) {
		ub_epoch_end(tc, e);
		ub_trim_to_chunk(tc, bio);
		return UB_ROUTE_DEFER;
	}
	if (r == -ERANGE) {
		/* Past the mapping capacity: cannot happen for a valid table */
		ub_epoch_end(tc, e);
		ub_end_bio(bio, BLK_STS_IOERR);
		return UB_ROUTE_DONE;
	}
	if (r) {
		ub_epoch_end(tc, e);
		goto metadata_error;
	}
	if (run < nchunks && (!write || ub_entry_is_mapped(entry)))
		dm_accept_partial_bio(bio, ((vchunk + run) << tc->chunk_shift) -
				      sector);

	if (ub_entry_is_mapped(entry)) {
		pb->epoch = e;
		pb->counted = true;
		/* FUA: the mapping may not be durable yet */
		if (write && (bio->bi_opf & REQ_FUA)) {
			/*
			 * Pairs with ub_publish_entry(): the transaction
			 * that installed this entry is dirty or committed.
			 */
			smp_rmb();
			if (ub_md_dirty(tc->md))
				pb->commit_after = true;
		}
		ub_remap_store(tc, bio, entry - 1);
		return UB_ROUTE_REMAPPED;
	}
	ub_epoch_end(tc, e);

	if (!write) {
		if (entry == UB_MAP_WHITEOUT || sector >= tc->base_sectors) {
			zero_fill_bio(bio);
			bio_endio(bio);
			return UB_ROUTE_DONE;
		}
		bio_set_dev(bio, tc->base_dev->bdev);
		return UB_ROUTE_REMAPPED;
	}

	if (!may_block) {
		ub_trim_to_chunk(tc, bio);
		return UB_ROUTE_DEFER;
	}
	if (READ_ONCE(tc->mode) != UB_MODE_WRITE) {
		ub_end_bio(bio, BLK_STS_IOERR);
		return UB_ROUTE_DONE;
	}
	if (ub_wait_for_copyup(tc, vchunk, bio))
		return UB_ROUTE_DONE;
	ub_copyup(tc, bio, vchunk, entry);
	return UB_ROUTE_DONE;

metadata_error:
	if (may_block)
		ub_metadata_error(tc, r);
	ub_end_bio(bio, BLK_STS_IOERR);
	return UB_ROUTE_DONE;
}

/*
 * -----------------------------------------------------------------
 * Discard and write-zeroes
 * -----------------------------------------------------------------
 */

/*
 * Zero part of a chunk.  A chunk the store does not hold is copied up
 * first; for a discard, which is advisory, a full store skips that.
 * Worker.
 */
static int ub_zero_part(struct ub_c *tc, u64 vchunk, sector_t offset,
			sector_t len, bool discard)
{
	u32 entry, dchunk;
	int r;

	r = ub_md_lookup(tc->md, vchunk, &entry);
	if (r)
		return r;
	if (entry == UB_MAP_WHITEOUT)
		return 0;
	if (entry == UB_MAP_UNMAPPED) {
		/* Past the base end it reads as zeroes already */
		if ((vchunk << tc->chunk_shift) >= tc->base_sectors)
			return 0;
		r = ub_copyup_sync(tc, vchunk, entry, &dchunk);
		if (r == -ENOSPC && discard)
			return 0;
		if (r)
			return r;
	} else {
		dchunk = entry - 1;
	}
	return blkdev_issue_zeroout(tc->store_dev->bdev,
				    ub_md_data_sector(tc->md, dchunk) + offset,
				    len, GFP_NOIO, 0);
}

/*
 * A discard or write-zeroes: whole chunks become whiteouts (metadata
 * only, their space freed); the parts of partial chunks are zeroed, so a
 * discarded range always reads as zeroes (see ub_zero_part for the one
 * exception, a discard into a full store).  Worker.
 */
static void ub_process_discard(struct ub_c *tc, struct bio *bio)
{
	bool discard = bio_op(bio) == REQ_OP_DISCARD;
	sector_t sector = bio->bi_iter.bi_sector;
	sector_t end = bio_end_sector(bio);
	u64 vchunk;
	int r = 0;

	if (READ_ONCE(tc->mode) != UB_MODE_WRITE) {
		ub_end_bio(bio, BLK_STS_IOERR);
		return;
	}
	/* Wait for copy-ups in the range: the bio is redone from the start */
	for (vchunk = ub_chunk_of(tc, sector);
	     vchunk <= ub_chunk_of(tc, end - 1); vchunk++)
		if (ub_wait_for_copyup(tc, vchunk, bio))
			return;

	while (sector < end && !r) {
		sector_t offset = ub_chunk_offset(tc, sector);
		sector_t len = min_t(sector_t, end - sector,
				     tc->chunk_sectors - offset);
		bool freed;

		vchunk = ub_chunk_of(tc, sector);
		if (len == tc->chunk_sectors) {
			r = ub_txn_room(tc);
			if (!r)
				r = ub_md_whiteout(tc->md, vchunk, &freed);
		} else {
			r = ub_zero_part(tc, vchunk, offset, len, discard);
		}
		sector += len;
	}
	if (r == -ENOSPC) {
		ub_end_bio(bio, BLK_STS_NOSPC);
		return;
	}
	if (r)
		ub_metadata_error(tc, r);
	ub_end_bio(bio, errno_to_blk_status(r));
}

/*
 * -----------------------------------------------------------------
 * The worker
 * -----------------------------------------------------------------
 */
static void ub_process_bio(struct ub_c *tc, struct bio *bio,
			   struct bio_list *flush_wait, bool *need_commit)
{
	if (bio->bi_opf & REQ_PREFLUSH) {
		if (!bio_sectors(bio)) {
			bio_list_add(flush_wait, bio);
			*need_commit = true;
			return;
		}
		/* dm core splits these; be safe if one gets here */
		if (ub_commit(tc)) {
			ub_end_bio(bio, BLK_STS_IOERR);
			return;
		}
		bio->bi_opf &= ~REQ_PREFLUSH;
	}
	switch (bio_op(bio)) {
	case REQ_OP_DISCARD:
	case REQ_OP_WRITE_ZEROES:
		ub_process_discard(tc, bio);
		return;
	default:
		break;
	}
	if (ub_route(tc, bio, true) == UB_ROUTE_REMAPPED)
		dm_submit_bio_remap(bio, NULL);
	/* UB_ROUTE_DEFER cannot come back with may_block */
}

static void ub_end_list(struct bio_list *bios, int r)
{
	struct bio *bio;

	while ((bio = bio_list_pop(bios)))
		ub_end_bio(bio, errno_to_blk_status(r));
}

static void ub_do_worker(struct work_struct *ws)
{
	struct ub_c *tc = container_of(ws, struct ub_c, worker);
	struct bio_list bios, flush_wait, commit_wait;
	struct list_head done, copied;
	struct ub_copyup *cu, *tmp;
	struct blk_plug plug;
	bool need_commit, periodic;
	struct bio *bio;
	unsigned long flags;

	bio_list_init(&flush_wait);
	bio_list_init(&commit_wait);
	INIT_LIST_HEAD(&done);
	INIT_LIST_HEAD(&copied);

	spin_lock_irqsave(tc->lock, flags);
	bios = tc->deferred;
	bio_list_init(&tc->deferred);
	bio_list_merge(&commit_wait, &tc->commit_bios);
	bio_list_init(&tc->commit_bios);
	list_splice_init(&tc->cu_done, &done);
	list_splice_init(&tc->cu_copied, &copied);
	need_commit = tc->commit_requested;
	tc->commit_requested = false;
	periodic = tc->periodic_commit;
	tc->periodic_commit = false;
	spin_unlock_irqrestore(tc->lock, flags);

	/* Writes held for space: hand back on suspend, retry on growth */
	if (!bio_list_empty(&tc->nospace)) {
		if (READ_ONCE(tc->suspended)) {
			while ((bio = bio_list_pop(&tc->nospace)))
				ub_end_bio(bio, BLK_STS_DM_REQUEUE);
		} else if (ub_store_grew(tc)) {
			bio_list_merge(&bios, &tc->nospace);
			bio_list_init(&tc->nospace);
		}
	}

	blk_start_plug(&plug);
	list_for_each_entry_safe(cu, tmp, &done, list)
		ub_cu_finish(tc, cu, &commit_wait);
	list_for_each_entry_safe(cu, tmp, &copied, list)
		ub_cu_copied(tc, cu);
	while ((bio = bio_list_pop(&bios)))
		ub_process_bio(tc, bio, &flush_wait, &need_commit);
	blk_finish_plug(&plug);

	if (!bio_list_empty(&commit_wait) || (periodic && ub_md_dirty(tc->md)))
		need_commit = true;
	if (need_commit) {
		int r = ub_commit(tc);

		ub_end_list(&flush_wait, r);
		ub_end_list(&commit_wait, r);
	}
}

/* Commit every UB_COMMIT_PERIOD so that a crash loses little. */
static void ub_do_waker(struct work_struct *ws)
{
	struct ub_c *tc = container_of(to_delayed_work(ws), struct ub_c, waker);
	unsigned long flags;

	spin_lock_irqsave(tc->lock, flags);
	tc->periodic_commit = true;
	spin_unlock_irqrestore(tc->lock, flags);
	ub_wake_worker(tc);
	queue_delayed_work(tc->wq, &tc->waker, UB_COMMIT_PERIOD);
}

/*
 * -----------------------------------------------------------------
 * Shared stores
 * -----------------------------------------------------------------
 */

/*
 * Open the COW store, or share it with the table being replaced.  A
 * store is refused to a second mapped device.
 */
static int ub_store_get(struct ub_c *tc, const struct ub_md_open_args *args,
			char **error)
{
	struct mapped_device *owner = dm_table_get_md(tc->ti->table);
	dev_t dev = tc->store_dev->bdev->bd_dev;
	struct ub_md_open_args a = *args;
	struct ub_store *s;
	int r;

	mutex_lock(&ub_stores_lock);
	list_for_each_entry(s, &ub_stores, list) {
		if (s->dev != dev)
			continue;
		if (s->owner != owner) {
			*error = "COW store is already in use by another device";
			r = -EBUSY;
			goto out;
		}
		if (s->table == tc->ti->table) {
			*error = "COW store is used twice in one table";
			r = -EBUSY;
			goto out;
		}
		if (s->base_dev != tc->base_dev->bdev->bd_dev ||
		    s->base_sectors != args->base_sectors) {
			*error = "COW store belongs to a different base";
			r = -EINVAL;
			goto out;
		}
		if (args->chunk_sectors &&
		    args->chunk_sectors != ub_md_chunk_sectors(s->md)) {
			*error = "COW store chunk size differs from the table";
			r = -EINVAL;
			goto out;
		}
		if (s->read_only && !args->read_only) {
			*error = "COW store is open read-only: remove the device to write it";
			r = -EROFS;
			goto out;
		}
		s->refs++;
		s->table = tc->ti->table;
		tc->store = s;
		r = 0;
		goto out;
	}

	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s) {
		*error = "Cannot allocate COW store";
		r = -ENOMEM;
		goto out;
	}
	spin_lock_init(&s->lock);
	a.publish_lock = &s->lock;
	r = ub_md_open(&a, &s->md, error);
	if (r) {
		kfree(s);
		goto out;
	}
	s->dev = dev;
	s->owner = owner;
	s->table = tc->ti->table;
	s->base_dev = tc->base_dev->bdev->bd_dev;
	s->base_sectors = args->base_sectors;
	s->refs = 1;
	s->read_only = args->read_only;
	list_add(&s->list, &ub_stores);
	tc->store = s;
out:
	mutex_unlock(&ub_stores_lock);
	return r;
}

/* Drop a store; the last user commits and closes it. */
static void ub_store_put(struct ub_c *tc)
{
	struct ub_store *s = tc->store;
	bool last;

	/* The lock is held over the close: nobody opens a closing store */
	mutex_lock(&ub_stores_lock);
	last = !--s->refs;
	if (last) {
		list_del(&s->list);
		if (!s->read_only && tc->mode != UB_MODE_FAIL &&
		    ub_md_commit(s->md))
			DMERR("%s: final commit failed",
			      dm_table_device_name(tc->ti->table));
		ub_md_close(s->md);
		kfree(s);
	}
	mutex_unlock(&ub_stores_lock);
}

/*
 * -----------------------------------------------------------------
 * Constructor
 * -----------------------------------------------------------------
 */
static int ub_parse_features(struct dm_arg_set *as, struct ub_c *tc,
			     struct dm_target *ti)
{
	static const struct dm_arg _args[] = {
		{0, 9, "Invalid number of feature arguments"},
	};
	static const struct dm_arg _chunk = {
		UB_MIN_CHUNK_SECTORS, UB_MAX_CHUNK_SECTORS,
		"Invalid chunk_size: must be 8 to 2048 sectors"
	};
	unsigned int argc, value;
	const char *name;
	int r;

	if (!as->argc)
		return 0;
	r = dm_read_arg_group(_args, as, &argc, &ti->error);
	if (r)
		return r;

	while (argc) {
		name = dm_shift_arg(as);
		argc--;

		if (!strcasecmp(name, "ro")) {
			if (tc->ro_feature)
				goto duplicate;
			tc->ro_feature = true;
		} else if (!strcasecmp(name, "format")) {
			if (tc->format)
				goto duplicate;
			tc->format = true;
		} else if (!strcasecmp(name, "no_discard")) {
			if (tc->no_discard)
				goto duplicate;
			tc->no_discard = true;
		} else if (!strcasecmp(name, "error_if_no_space") ||
			   !strcasecmp(name, "queue_if_no_space")) {
			if (tc->no_space_given) {
				ti->error = "Conflicting or duplicate no-space features";
				return -EINVAL;
			}
			tc->no_space_given = true;
			tc->queue_if_no_space = !strcasecmp(name, "queue_if_no_space");
		} else if (!strcasecmp(name, "chunk_size")) {
			if (tc->table_chunk_sectors)
				goto duplicate;
			if (!argc) {
				ti->error = "Feature chunk_size needs a value";
				return -EINVAL;
			}
			r = dm_read_arg(&_chunk, as, &value, &ti->error);
			argc--;
			if (r)
				return r;
			if (!is_power_of_2(value)) {
				ti->error = "Invalid chunk_size: must be a power of two";
				return -EINVAL;
			}
			tc->table_chunk_sectors = value;
		} else if (!strcasecmp(name, "low_water")) {
			if (tc->low_water)
				goto duplicate;
			if (!argc) {
				ti->error = "Feature low_water needs a value";
				return -EINVAL;
			}
			if (kstrtou64(dm_shift_arg(as), 10, &tc->low_water) ||
			    !tc->low_water)
				goto bad_low_water;
			argc--;
		} else {
			ti->error = "Unrecognised unionblk feature requested";
			return -EINVAL;
		}
	}
	if (tc->table_chunk_sectors && !tc->format) {
		ti->error = "Feature chunk_size needs format";
		return -EINVAL;
	}
	return 0;

duplicate:
	ti->error = "Duplicate unionblk feature requested";
	return -EINVAL;
bad_low_water:
	ti->error = "Invalid low_water: must be a positive number of chunks";
	return -EINVAL;
}

/*
 * Construct a tenant device:
 *
 *   <cow_dev> <base_dev> [<#feature args> [<feature>]*]
 *
 * features:
 *   format                 format the COW store if it is all zeroes
 *   chunk_size <sectors>   chunk size when formatting (8..2048, power of 2)
 *   ro                     frozen layer: writes fail, the store is not written
 *   no_discard             do not pass discards down or make whiteouts
 *   error_if_no_space      fail writes when the store is full (default)
 *   queue_if_no_space      hold them up to 60 s for the store to grow
 *   low_water <chunks>     raise a dm event when fewer chunks are free
 */
static int ub_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct dm_arg_set as = { .argc = argc, .argv = argv };
	struct ub_md_open_args args = { 0 };
	bool writable = dm_table_get_mode(ti->table) & UB_OPEN_WRITE;
	struct ub_c *tc;
	char *error = NULL;
	int r;

	if (argc < 2) {
		ti->error = "Invalid argument count: need <cow_dev> <base_dev>";
		return -EINVAL;
	}
	tc = kzalloc(sizeof(*tc), GFP_KERNEL);
	if (!tc) {
		ti->error = "Cannot allocate unionblk context";
		return -ENOMEM;
	}
	tc->ti = ti;
	ti->private = tc;

	dm_consume_args(&as, 2);
	r = ub_parse_features(&as, tc, ti);
	if (r)
		goto bad_features;
	tc->ro = tc->ro_feature || !writable;

	r = dm_get_device(ti, argv[0], tc->ro ? dm_table_get_mode(ti->table) &
			  ~UB_OPEN_WRITE : dm_table_get_mode(ti->table),
			  &tc->store_dev);
	if (r) {
		ti->error = "Error opening COW store device";
		goto bad_features;
	}
	r = dm_get_device(ti, argv[1], dm_table_get_mode(ti->table) &
			  ~UB_OPEN_WRITE, &tc->base_dev);
	if (r) {
		ti->error = "Error opening base device";
		goto bad_base;
	}
	if (tc->store_dev->bdev == tc->base_dev->bdev) {
		ti->error = "COW store and base must be different devices";
		r = -EINVAL;
		goto bad_store;
	}
	tc->base_sectors = bdev_nr_sectors(tc->base_dev->bdev);
	if (tc->base_sectors < UB_BLOCK_SECTORS) {
		ti->error = "Base device is smaller than 4 KiB";
		r = -EINVAL;
		goto bad_store;
	}

	args.store = tc->store_dev->bdev;
	args.store_sectors = bdev_nr_sectors(args.store);
	args.base = tc->base_dev->bdev;
	args.base_sectors = tc->base_sectors;
	args.format = tc->format;
	args.chunk_sectors = tc->table_chunk_sectors;
	args.read_only = tc->ro;
	/* Capacity when formatting: the larger of tenant and base */
	tc->chunk_sectors = tc->table_chunk_sectors ? : UB_DEFAULT_CHUNK_SECTORS;
	args.capacity_chunks = DIV_ROUND_UP_SECTOR_T(max(ti->len, tc->base_sectors),
						     tc->chunk_sectors);
	r = ub_store_get(tc, &args, &error);
	if (r) {
		ti->error = error;
		goto bad_store;
	}
	tc->md = tc->store->md;
	tc->lock = &tc->store->lock;
	tc->chunk_sectors = ub_md_chunk_sectors(tc->md);
	tc->chunk_shift = __ffs(tc->chunk_sectors);

	if (DIV_ROUND_UP_SECTOR_T(ti->len, tc->chunk_sectors) >
	    ub_md_capacity(tc->md)) {
		ti->error = "Tenant is larger than the COW store's mapping capacity";
		r = -EINVAL;
		goto bad_capacity;
	}

	tc->kcopyd = dm_kcopyd_client_create(NULL);
	if (IS_ERR(tc->kcopyd)) {
		r = PTR_ERR(tc->kcopyd);
		ti->error = "Cannot create kcopyd client";
		goto bad_capacity;
	}
	r = mempool_init_slab_pool(&tc->cu_pool, UB_MIN_CU, ub_cu_cache);
	if (r) {
		ti->error = "Cannot allocate copy-up pool";
		goto bad_pool;
	}
	/* Ordered: the worker and the timers never run at the same time */
	tc->wq = alloc_ordered_workqueue("kunionblkd/%s", WQ_MEM_RECLAIM,
					 dm_table_device_name(ti->table));
	if (!tc->wq) {
		r = -ENOMEM;
		ti->error = "Cannot create workqueue";
		goto bad_wq;
	}
	INIT_WORK(&tc->worker, ub_do_worker);
	INIT_DELAYED_WORK(&tc->waker, ub_do_waker);
	INIT_DELAYED_WORK(&tc->nospace_timeout, ub_nospace_timeout);
	bio_list_init(&tc->deferred);
	bio_list_init(&tc->commit_bios);
	bio_list_init(&tc->nospace);
	INIT_LIST_HEAD(&tc->cu_done);
	INIT_LIST_HEAD(&tc->cu_copied);
	atomic_set(&tc->inflight[0], 0);
	atomic_set(&tc->inflight[1], 0);
	init_waitqueue_head(&tc->inflight_wait);

	ti->num_flush_bios = 1;
	ti->flush_supported = true;
	ti->per_io_data_size = sizeof(struct ub_per_bio);
	if (!tc->no_discard && !tc->ro) {
		ti->num_discard_bios = 1;
		ti->discards_supported = true;
		ti->num_write_zeroes_bios = 1;
		ub_compat_split_discards(ti);
	}
	return 0;

bad_wq:
	mempool_exit(&tc->cu_pool);
bad_pool:
	dm_kcopyd_client_destroy(tc->kcopyd);
bad_capacity:
	ub_store_put(tc);
bad_store:
	dm_put_device(ti, tc->base_dev);
bad_base:
	dm_put_device(ti, tc->store_dev);
bad_features:
	kfree(tc);
	return r;
}

static void ub_dtr(struct dm_target *ti)
{
	struct ub_c *tc = ti->private;

	cancel_delayed_work_sync(&tc->waker);
	flush_workqueue(tc->wq);
	cancel_delayed_work_sync(&tc->nospace_timeout);
	ub_nospace_timeout(&tc->nospace_timeout.work);
	destroy_workqueue(tc->wq);
	mempool_exit(&tc->cu_pool);
	dm_kcopyd_client_destroy(tc->kcopyd);
	ub_store_put(tc);
	dm_put_device(ti, tc->base_dev);
	dm_put_device(ti, tc->store_dev);
	kfree(tc);
}

/*
 * -----------------------------------------------------------------
 * Map and end_io
 * -----------------------------------------------------------------
 */
/*
 * Map: with nothing to commit, a flush only needs to reach the store, and
 * a FUA write to a chunk the store holds can go straight there.  Every
 * write completed before the flush was issued changed the metadata, if
 * it did, before it completed (copy-ups are mapped, whiteouts made, then
 * the bio ends), so a clean transaction means it is all committed.
 */
static bool ub_flush_passes(struct ub_c *tc)
{
	return !tc->ro && !tc->store->read_only &&
	       READ_ONCE(tc->mode) == UB_MODE_WRITE &&
	       !ub_md_failed(tc->md) && !ub_md_dirty(tc->md);
}

static int ub_map(struct dm_target *ti, struct bio *bio)
{
	struct ub_c *tc = ti->private;
	struct ub_per_bio *pb = ub_pb(bio);
	enum req_op op = bio_op(bio);
	sector_t sector;

	memset(pb, 0, sizeof(*pb));
	bio->bi_iter.bi_sector = dm_target_offset(ti, bio->bi_iter.bi_sector);
	sector = bio->bi_iter.bi_sector;

	if (READ_ONCE(tc->mode) == UB_MODE_FAIL)
		return DM_MAPIO_KILL;
	if (op_is_write(op) && bio_sectors(bio) &&
	    (tc->ro || op == REQ_OP_SECURE_ERASE))
		return DM_MAPIO_KILL;

	/* Nothing to read or write (an empty FUA write): nothing to do */
	if ((op == REQ_OP_READ || op == REQ_OP_WRITE) && !bio_sectors(bio) &&
	    !(bio->bi_opf & REQ_PREFLUSH)) {
		bio_endio(bio);
		return DM_MAPIO_SUBMITTED;
	}

	/* Reads and writes stop at the base end: beyond it is all zeroes */
	if ((op == REQ_OP_READ || op == REQ_OP_WRITE) &&
	    !(bio->bi_opf & REQ_PREFLUSH) &&
	    sector < tc->base_sectors && bio_end_sector(bio) > tc->base_sectors)
		dm_accept_partial_bio(bio, tc->base_sectors - sector);

	if ((bio->bi_opf & REQ_PREFLUSH) && !bio_sectors(bio) &&
	    ub_flush_passes(tc)) {
		bio_set_dev(bio, tc->store_dev->bdev);
		return DM_MAPIO_REMAPPED;
	}
	if ((bio->bi_opf & REQ_PREFLUSH) ||
	    ((bio->bi_opf & REQ_FUA) && !ub_flush_passes(tc)) ||
	    op == REQ_OP_DISCARD || op == REQ_OP_WRITE_ZEROES) {
		if ((op == REQ_OP_READ || op == REQ_OP_WRITE) &&
		    bio_sectors(bio))
			ub_trim_to_chunk(tc, bio);
		ub_defer_bio(tc, bio);
		return DM_MAPIO_SUBMITTED;
	}
	if (op != REQ_OP_READ && op != REQ_OP_WRITE)
		return DM_MAPIO_KILL;

	switch (ub_route(tc, bio, false)) {
	case UB_ROUTE_REMAPPED:
		return DM_MAPIO_REMAPPED;
	case UB_ROUTE_DEFER:
		ub_defer_bio(tc, bio);
		return DM_MAPIO_SUBMITTED;
	default:
		return DM_MAPIO_SUBMITTED;
	}
}

static int ub_end_io(struct dm_target *ti, struct bio *bio,
		     blk_status_t *error)
{
	struct ub_c *tc = ti->private;
	struct ub_per_bio *pb = ub_pb(bio);
	unsigned long flags;

	if (pb->counted) {
		pb->counted = false;
		ub_epoch_end(tc, pb->epoch);
	}
	if (pb->cu) {
		struct ub_copyup *cu = pb->cu;

		pb->cu = NULL;
		if (*error)
			cu->error = blk_status_to_errno(*error);
		spin_lock_irqsave(tc->lock, flags);
		list_add_tail(&cu->list, &tc->cu_done);
		spin_unlock_irqrestore(tc->lock, flags);
		ub_wake_worker(tc);
		return DM_ENDIO_INCOMPLETE;
	}
	if (pb->commit_after) {
		pb->commit_after = false;
		if (*error)
			return DM_ENDIO_DONE;
		spin_lock_irqsave(tc->lock, flags);
		bio_list_add(&tc->commit_bios, bio);
		spin_unlock_irqrestore(tc->lock, flags);
		ub_wake_worker(tc);
		return DM_ENDIO_INCOMPLETE;
	}
	return DM_ENDIO_DONE;
}

/*
 * -----------------------------------------------------------------
 * Status and messages
 * -----------------------------------------------------------------
 */

/*
 * INFO: <chunk_sectors> <used_chunks>/<total_chunks> <whiteout_chunks>
 *       <metadata_state> <mode> <space> <transaction_id>
 *
 * metadata_state: ok, needs_check, read_only or fail.
 * mode: rw, or ro for a frozen layer.
 * space: ok, low (below the low water mark) or full.
 */
static void ub_status(struct dm_target *ti, status_type_t type,
		      unsigned int status_flags, char *result,
		      unsigned int maxlen)
{
	struct ub_c *tc = ti->private;
	unsigned int sz = 0, nr_features;
	struct ub_md_stats s;
	const char *state;

	switch (type) {
	case STATUSTYPE_INFO:
		ub_md_get_stats(tc->md, &s);
		state = ub_mode_name(READ_ONCE(tc->mode));
		if (tc->mode == UB_MODE_WRITE && s.needs_check)
			state = "needs_check";
		DMEMIT("%u %llu/%llu %llu %s %s %s %llu", s.chunk_sectors,
		       s.mapped_chunks, s.data_chunks, s.whiteout_chunks, state,
		       tc->ro ? "ro" : "rw",
		       !s.free_chunks ? "full" :
		       (tc->low_water && s.free_chunks < tc->low_water) ?
		       "low" : "ok", s.seq);
		break;

	case STATUSTYPE_TABLE:
		nr_features = tc->format + 2 * !!tc->table_chunk_sectors +
			      tc->ro_feature + tc->no_discard + tc->no_space_given +
			      2 * !!tc->low_water;
		DMEMIT("%s %s", tc->store_dev->name, tc->base_dev->name);
		if (!nr_features)
			break;
		DMEMIT(" %u", nr_features);
		if (tc->format)
			DMEMIT(" format");
		if (tc->table_chunk_sectors)
			DMEMIT(" chunk_size %u", tc->table_chunk_sectors);
		if (tc->ro_feature)
			DMEMIT(" ro");
		if (tc->no_discard)
			DMEMIT(" no_discard");
		if (tc->no_space_given)
			DMEMIT(" %s", tc->queue_if_no_space ?
			       "queue_if_no_space" : "error_if_no_space");
		if (tc->low_water)
			DMEMIT(" low_water %llu", tc->low_water);
		break;

	case STATUSTYPE_IMA:
		DMEMIT_TARGET_NAME_VERSION(ti->type);
		DMEMIT(",cow_dev=%s,base_dev=%s,chunk_sectors=%u,ro=%c;",
		       tc->store_dev->name, tc->base_dev->name,
		       tc->chunk_sectors, tc->ro ? 'y' : 'n');
		break;
	}
}

/*
 * Messages:
 *   commit               commit the metadata now
 *   low_water <chunks>   set the low water mark (0: none)
 */
static int ub_message(struct dm_target *ti, unsigned int argc, char **argv,
		      char *result, unsigned int maxlen)
{
	struct ub_c *tc = ti->private;
	unsigned long flags;
	u64 value;

	if (argc == 1 && !strcasecmp(argv[0], "commit")) {
		if (tc->suspended) {
			DMERR("%s: commit: device is suspended",
			      dm_table_device_name(ti->table));
			return -EBUSY;
		}
		spin_lock_irqsave(tc->lock, flags);
		tc->commit_requested = true;
		spin_unlock_irqrestore(tc->lock, flags);
		ub_wake_worker(tc);
		flush_work(&tc->worker);
		return tc->last_commit_error;
	}
	if (argc == 2 && !strcasecmp(argv[0], "low_water")) {
		if (kstrtou64(argv[1], 10, &value)) {
			DMERR("%s: low_water: invalid number '%s'",
			      dm_table_device_name(ti->table), argv[1]);
			return -EINVAL;
		}
		tc->low_water = value;
		tc->low_water_signalled = false;
		return 0;
	}
	DMERR("%s: unsupported message '%s'", dm_table_device_name(ti->table),
	      argc ? argv[0] : "");
	return -EINVAL;
}

static int ub_iterate_devices(struct dm_target *ti,
			      iterate_devices_callout_fn fn, void *data)
{
	struct ub_c *tc = ti->private;
	int r;

	r = fn(ti, tc->base_dev, 0, min(ti->len, tc->base_sectors), data);
	if (r)
		return r;
	return fn(ti, tc->store_dev, 0, bdev_nr_sectors(tc->store_dev->bdev),
		  data);
}

static void ub_io_hints(struct dm_target *ti, struct queue_limits *limits)
{
	struct ub_c *tc = ti->private;
	unsigned int chunk_bytes = tc->chunk_sectors << SECTOR_SHIFT;

	limits->io_opt = chunk_bytes;
	if (tc->no_discard || tc->ro)
		return;
	limits->discard_granularity = chunk_bytes;
	limits->max_hw_discard_sectors = tc->chunk_sectors * UB_DISCARD_CHUNKS;
	limits->max_discard_sectors = limits->max_hw_discard_sectors;
}

/*
 * -----------------------------------------------------------------
 * Suspend and resume
 * -----------------------------------------------------------------
 */
static void ub_presuspend(struct dm_target *ti)
{
	struct ub_c *tc = ti->private;

	/*
	 * Writes held for space go back to dm core, which requeues them on
	 * a noflush suspend and fails them otherwise; the worker does it.
	 */
	WRITE_ONCE(tc->suspended, true);
	cancel_delayed_work_sync(&tc->nospace_timeout);
	ub_wake_worker(tc);
	flush_workqueue(tc->wq);
}

static void ub_presuspend_undo(struct dm_target *ti)
{
	struct ub_c *tc = ti->private;

	WRITE_ONCE(tc->suspended, false);
}

static void ub_postsuspend(struct dm_target *ti)
{
	struct ub_c *tc = ti->private;

	cancel_delayed_work_sync(&tc->waker);
	flush_workqueue(tc->wq);
	ub_commit(tc);
}

static int ub_preresume(struct dm_target *ti)
{
	struct ub_c *tc = ti->private;
	char *error;
	int r;

	tc->store_sectors = bdev_nr_sectors(tc->store_dev->bdev);
	r = ub_md_resize(tc->md, tc->store_sectors, &error);
	if (r)
		DMERR("%s: %s", dm_table_device_name(ti->table), error);
	return r;
}

static void ub_resume(struct dm_target *ti)
{
	struct ub_c *tc = ti->private;

	WRITE_ONCE(tc->suspended, false);
	tc->out_of_space = false;
	queue_delayed_work(tc->wq, &tc->waker, UB_COMMIT_PERIOD);
	ub_wake_worker(tc);
}

static struct target_type unionblk_target = {
	.name = "unionblk",
	.version = {1, 0, 0},
	.features = 0,
	.module = THIS_MODULE,
	.ctr = ub_ctr,
	.dtr = ub_dtr,
	.map = ub_map,
	.end_io = ub_end_io,
	.presuspend = ub_presuspend,
	.presuspend_undo = ub_presuspend_undo,
	.postsuspend = ub_postsuspend,
	.preresume = ub_preresume,
	.resume = ub_resume,
	.status = ub_status,
	.message = ub_message,
	.iterate_devices = ub_iterate_devices,
	.io_hints = ub_io_hints,
};

static int __init dm_unionblk_init(void)
{
	int r;

	ub_cu_cache = KMEM_CACHE(ub_copyup, 0);
	if (!ub_cu_cache)
		return -ENOMEM;
	r = dm_register_target(&unionblk_target);
	if (r) {
		DMERR("register failed %d", r);
		kmem_cache_destroy(ub_cu_cache);
	}
	return r;
}

static void __exit dm_unionblk_exit(void)
{
	dm_unregister_target(&unionblk_target);
	kmem_cache_destroy(ub_cu_cache);
}

module_init(dm_unionblk_init);
module_exit(dm_unionblk_exit);

MODULE_DESCRIPTION(DM_NAME " per-tenant copy-on-write over a shared base");
MODULE_AUTHOR("unionblk developers");
MODULE_LICENSE("GPL");
