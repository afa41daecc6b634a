// SPDX-License-Identifier: GPL-2.0
/*
 * dm-unionblk metadata: mapping table, allocation bitmap and journal of a
 * COW store.  See dm-unionblk-metadata.h for the contract and
 * docs/format.md for the layout and the commit protocol.
 *
 * Metadata blocks are cached with dm-bufio.  A block changed by the running
 * transaction stays held (pinned) and is never marked dirty until its
 * journal copy is durable, so dm-bufio can neither evict the change nor
 * write it home early.
 */

#include "dm-unionblk-metadata.h"
#include "dm-unionblk-format.h"
#include "dm-unionblk-compat.h"

#include <linux/device-mapper.h>
#include <linux/dm-bufio.h>
#include <linux/dm-io.h>
#include <linux/crc32c.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/xarray.h>
#include <linux/ktime.h>
#include <linux/sched/mm.h>

#define DM_MSG_PREFIX "unionblk"

#define UB_TXN_MAX		128	/* blocks pinned by one transaction */
#define UB_BUFIO_RESERVED	16	/* buffers dm-bufio keeps in reserve */
#define UB_STAGE_BLOCKS		16	/* journal blocks written per I/O */

/* Values kept in md->busy for data chunks that are not free */
#define UB_BUSY_RESERVED	1	/* handed to a copy-up in flight */
#define UB_BUSY_QUARANTINE	2	/* freed, awaiting commit */

/* Per-buffer state in dm-bufio's aux area */
struct ub_buf_aux {
	u8 verified;		/* contents checked since read */
	u8 in_txn;		/* pinned by the running transaction */
};

struct ub_metadata {
	struct block_device *bdev;
	struct dm_bufio_client *bufio;
	struct dm_io_client *io;
	spinlock_t *publish_lock;	/* pairs with readers in map */
	bool read_only;

	/* Geometry, fixed at format */
	u32 chunk_sectors;
	u32 journal_blocks;
	u64 capacity_chunks;
	struct ub_layout layout;

	/* Store size, may grow on reload */
	sector_t store_sectors;
	u64 data_chunks;

	/* Committed state, then changed by the running transaction */
	u64 seq;			/* last committed transaction */
	u64 mapped_chunks;
	u64 whiteout_chunks;
	u64 alloc_cursor;
	u32 jflags;
	bool counters_dirty;
	bool failed;			/* a checkpoint failed: no more commits */

	/* The running transaction: held buffers and their blocks */
	unsigned int txn_max;
	unsigned int txn_nr;
	u64 txn_block[UB_TXN_MAX];
	struct dm_buffer *txn_buf[UB_TXN_MAX];

	/* Journal writes are staged here, UB_STAGE_BLOCKS at a time */
	u8 *stage;

	/* Journal images replayed read-only stay pinned here */
	unsigned int nr_pinned;
	struct dm_buffer **pinned;

	/* Data chunks that are neither free nor mapped */
	struct xarray busy;
	u64 nr_reserved;
	u64 nr_quarantined;
};

/*
 * -----------------------------------------------------------------
 * Block checksums and verification
 * -----------------------------------------------------------------
 */
static u32 ub_block_csum(const void *block)
{
	return ~crc32c(~0U, (const u8 *)block + 8, UB_BLOCK_SIZE - 8);
}

static bool ub_block_is_zero(const void *block)
{
	return !memchr_inv(block, 0, UB_BLOCK_SIZE);
}

static void ub_block_seal(void *block, u64 seq)
{
	struct ub_block_header *h = block;

	h->seq = cpu_to_le64(seq);
	h->csum = cpu_to_le32(ub_block_csum(block));
}

/*
 * A block is good when it carries our magic, the expected type, its own
 * address and a valid checksum, and was written by a committed
 * transaction.  An all-zero map or bitmap block was never written.
 */
static int ub_block_check(const void *block, u64 blocknr, u32 type,
			  u64 max_seq)
{
	const struct ub_block_header *h = block;

	if (le32_to_cpu(h->magic) != UB_BLOCK_MAGIC ||
	    le32_to_cpu(h->type) != type ||
	    le64_to_cpu(h->blocknr) != blocknr ||
	    le32_to_cpu(h->csum) != ub_block_csum(block) ||
	    le64_to_cpu(h->seq) > max_seq)
		return -EILSEQ;
	return 0;
}

static u32 ub_block_type_of(struct ub_metadata *md, u64 blocknr)
{
	if (blocknr >= md->layout.bitmap_start)
		return UB_BT_BITMAP;
	return UB_BT_MAP;
}

static int ub_verify_buffer(struct ub_metadata *md, struct dm_buffer *b,
			    void *data, u64 blocknr)
{
	struct ub_buf_aux *aux = dm_bufio_get_aux_data(b);
	int r;

	if (READ_ONCE(aux->verified))
		return 0;
	if (ub_block_is_zero(data)) {
		WRITE_ONCE(aux->verified, 1);
		return 0;
	}
	r = ub_block_check(data, blocknr, ub_block_type_of(md, blocknr),
			   md->seq);
	if (r) {
		DMERR_LIMIT("%pg: metadata block %llu does not verify",
			    md->bdev, blocknr);
		return r;
	}
	WRITE_ONCE(aux->verified, 1);
	return 0;
}

static void ub_bufio_alloc_cb(struct dm_buffer *b)
{
	struct ub_buf_aux *aux = dm_bufio_get_aux_data(b);

	aux->verified = 0;
	aux->in_txn = 0;
}

/* Read and verify a map or bitmap block; the caller releases it. */
static void *ub_read_block(struct ub_metadata *md, u64 blocknr,
			   struct dm_buffer **bp)
{
	void *data;
	int r;

	data = dm_bufio_read(md->bufio, blocknr, bp);
	if (IS_ERR(data))
		return data;
	r = ub_verify_buffer(md, *bp, data, blocknr);
	if (r) {
		dm_bufio_release(*bp);
		return ERR_PTR(r);
	}
	return data;
}

/*
 * -----------------------------------------------------------------
 * The running transaction
 * -----------------------------------------------------------------
 */

/*
 * Pin a block into the running transaction and return its data for
 * modification.  The caller has checked ub_md_txn_room().
 */
static void *ub_txn_get(struct ub_metadata *md, u64 blocknr)
{
	struct dm_buffer *b;
	struct ub_buf_aux *aux;
	struct ub_block_header *h;
	void *data;

	data = ub_read_block(md, blocknr, &b);
	if (IS_ERR(data))
		return data;
	aux = dm_bufio_get_aux_data(b);
	if (aux->in_txn) {
		/* Already pinned once: drop this extra hold */
		dm_bufio_release(b);
		return data;
	}
	if (WARN_ON_ONCE(md->txn_nr >= md->txn_max)) {
		dm_bufio_release(b);
		return ERR_PTR(-ENOSPC);
	}
	h = data;
	if (!h->magic) {
		/* First write of a never-written block */
		h->magic = cpu_to_le32(UB_BLOCK_MAGIC);
		h->type = cpu_to_le32(ub_block_type_of(md, blocknr));
		h->blocknr = cpu_to_le64(blocknr);
	}
	aux->in_txn = 1;
	md->txn_block[md->txn_nr] = blocknr;
	md->txn_buf[md->txn_nr] = b;
	WRITE_ONCE(md->txn_nr, md->txn_nr + 1);
	return data;
}

unsigned int ub_md_txn_room(struct ub_metadata *md)
{
	return md->txn_max - md->txn_nr;
}

bool ub_md_dirty(struct ub_metadata *md)
{
	return READ_ONCE(md->txn_nr) || READ_ONCE(md->counters_dirty);
}

/*
 * -----------------------------------------------------------------
 * Mapping table
 * -----------------------------------------------------------------
 */
static u64 ub_map_block_of(struct ub_metadata *md, u64 vchunk)
{
	return md->layout.map_start + div_u64(vchunk, UB_MAP_ENTRIES);
}

static unsigned int ub_map_index_of(u64 vchunk)
{
	u32 rem;

	div_u64_rem(vchunk, UB_MAP_ENTRIES, &rem);
	return rem;
}

/* A mapped entry must point inside the data area. */
static int ub_entry_check(struct ub_metadata *md, u32 entry)
{
	if (ub_entry_is_mapped(entry) && entry - 1 >= md->data_chunks) {
		DMERR_LIMIT("%pg: mapping entry %u is past the data area",
			    md->bdev, entry);
		return -EILSEQ;
	}
	return 0;
}

/*
 * The entry of vchunk, and in *run how many chunks from vchunk on (at
 * most max_chunks, within one mapping block) continue its run:
 * consecutive data chunks for a mapped entry, the same entry for an
 * unmapped or whited-out one.  *run is at least 1 on success.  Only the
 * worker verifies blocks (it may be changing one): a block not yet
 * verified is -EWOULDBLOCK like one not cached.
 */
int ub_md_lookup_run_nowait(struct ub_metadata *md, u64 vchunk,
			    u64 max_chunks, u32 *entry, u64 *run)
{
	u64 blocknr = ub_map_block_of(md, vchunk);
	unsigned int idx = ub_map_index_of(vchunk);
	struct ub_map_block *mb;
	struct dm_buffer *b;
	u32 first, step;
	u64 i, n;
	int r;

	if (vchunk >= md->capacity_chunks)
		return -ERANGE;
	mb = dm_bufio_get(md->bufio, blocknr, &b);
	if (!mb)
		return -EWOULDBLOCK;
	if (IS_ERR(mb))
		return PTR_ERR(mb);
	if (!READ_ONCE(((struct ub_buf_aux *)dm_bufio_get_aux_data(b))->verified)) {
		dm_bufio_release(b);
		return -EWOULDBLOCK;
	}
	first = le32_to_cpu(READ_ONCE(mb->entry[idx]));
	r = ub_entry_check(md, first);
	n = min3(max_chunks, (u64)(UB_MAP_ENTRIES - idx),
		 md->capacity_chunks - vchunk);
	step = ub_entry_is_mapped(first);
	for (i = 1; !r && i < n; i++) {
		u32 e = le32_to_cpu(READ_ONCE(mb->entry[idx + i]));

		if (e != first + step * i || (step && e - 1 >= md->data_chunks))
			break;
	}
	dm_bufio_release(b);
	if (r)
		return r;
	*entry = first;
	*run = i;
	return 0;
}

int ub_md_lookup(struct ub_metadata *md, u64 vchunk, u32 *entry)
{
	struct ub_map_block *mb;
	struct dm_buffer *b;

	if (vchunk >= md->capacity_chunks)
		return -ERANGE;
	mb = ub_read_block(md, ub_map_block_of(md, vchunk), &b);
	if (IS_ERR(mb))
		return PTR_ERR(mb);
	*entry = le32_to_cpu(READ_ONCE(mb->entry[ub_map_index_of(vchunk)]));
	dm_bufio_release(b);
	return ub_entry_check(md, *entry);
}

static void ub_publish_entry(struct ub_metadata *md, struct ub_map_block *mb,
			     u64 vchunk, u32 value)
{
	unsigned long flags;

	/*
	 * The block joined the transaction (ub_md_dirty() true) before the
	 * entry can be seen: pairs with smp_rmb() in the target's map.
	 */
	smp_wmb();
	spin_lock_irqsave(md->publish_lock, flags);
	WRITE_ONCE(mb->entry[ub_map_index_of(vchunk)], cpu_to_le32(value));
	spin_unlock_irqrestore(md->publish_lock, flags);
}

/*
 * -----------------------------------------------------------------
 * Allocation bitmap
 * -----------------------------------------------------------------
 */
static int ub_bitmap_update(struct ub_metadata *md, u32 dchunk, bool set)
{
	struct ub_bitmap_block *bb;
	u32 bit;
	u64 blk = div_u64_rem(dchunk, UB_BITMAP_BITS, &bit);

	bb = ub_txn_get(md, md->layout.bitmap_start + blk);
	if (IS_ERR(bb))
		return PTR_ERR(bb);
	if (set == !!test_bit_le(bit, bb->bits)) {
		DMERR_LIMIT("%pg: bitmap bit of data chunk %u already %s",
			    md->bdev, dchunk, set ? "set" : "clear");
		md->jflags |= UB_J_F_NEEDS_CHECK;
		return -EILSEQ;
	}
	if (set)
		__set_bit_le(bit, bb->bits);
	else
		__clear_bit_le(bit, bb->bits);
	return 0;
}

static u64 ub_free_chunks(struct ub_metadata *md)
{
	u64 used = md->mapped_chunks + md->nr_reserved + md->nr_quarantined;

	return used < md->data_chunks ? md->data_chunks - used : 0;
}

int ub_md_alloc(struct ub_metadata *md, u32 *dchunk)
{
	u64 scanned = 0, d = md->alloc_cursor;
	struct ub_bitmap_block *bb;
	struct dm_buffer *b;
	int r;

	if (md->read_only)
		return -EROFS;
	if (!ub_free_chunks(md))
		return -ENOSPC;
	if (d >= md->data_chunks)
		d = 0;

	while (scanned < md->data_chunks) {
		u32 bit;
		u64 blk = div_u64_rem(d, UB_BITMAP_BITS, &bit);
		u64 end = min_t(u64, UB_BITMAP_BITS,
				md->data_chunks - blk * UB_BITMAP_BITS);
		unsigned long next;

		bb = ub_read_block(md, md->layout.bitmap_start + blk, &b);
		if (IS_ERR(bb))
			return PTR_ERR(bb);
		for (next = find_next_zero_bit_le(bb->bits, end, bit);
		     next < end;
		     next = find_next_zero_bit_le(bb->bits, end, next + 1)) {
			u64 cand = blk * UB_BITMAP_BITS + next;

			if (xa_load(&md->busy, cand))
				continue;
			dm_bufio_release(b);
			r = xa_insert(&md->busy, cand,
				      xa_mk_value(UB_BUSY_RESERVED), GFP_NOIO);
			if (r)
				return r;
			md->nr_reserved++;
			md->alloc_cursor = cand + 1;
			WRITE_ONCE(md->counters_dirty, true);
			*dchunk = cand;
			return 0;
		}
		dm_bufio_release(b);
		scanned += end - bit;
		d = blk * UB_BITMAP_BITS + end;
		if (d >= md->data_chunks)
			d = 0;
	}

	/* The counters promised a free chunk that the bitmap lacks */
	DMERR_LIMIT("%pg: allocation bitmap disagrees with the counters",
		    md->bdev);
	md->jflags |= UB_J_F_NEEDS_CHECK;
	return -ENOSPC;
}

void ub_md_unreserve(struct ub_metadata *md, u32 dchunk)
{
	if (xa_erase(&md->busy, dchunk))
		md->nr_reserved--;
}

int ub_md_install(struct ub_metadata *md, u64 vchunk, u32 dchunk)
{
	struct ub_map_block *mb;
	u32 old;
	int r;

	if (md->read_only)
		return -EROFS;
	mb = ub_txn_get(md, ub_map_block_of(md, vchunk));
	if (IS_ERR(mb))
		return PTR_ERR(mb);
	old = le32_to_cpu(mb->entry[ub_map_index_of(vchunk)]);
	if (ub_entry_is_mapped(old)) {
		DMERR_LIMIT("%pg: chunk %llu is already mapped", md->bdev,
			    vchunk);
		return -EEXIST;
	}
	r = ub_bitmap_update(md, dchunk, true);
	if (r)
		return r;
	ub_publish_entry(md, mb, vchunk, dchunk + 1);
	ub_md_unreserve(md, dchunk);
	md->mapped_chunks++;
	if (old == UB_MAP_WHITEOUT)
		md->whiteout_chunks--;
	WRITE_ONCE(md->counters_dirty, true);
	return 0;
}

int ub_md_whiteout(struct ub_metadata *md, u64 vchunk, bool *freed)
{
	struct ub_map_block *mb;
	u32 old;
	int r;

	*freed = false;
	if (md->read_only)
		return -EROFS;
	mb = ub_txn_get(md, ub_map_block_of(md, vchunk));
	if (IS_ERR(mb))
		return PTR_ERR(mb);
	old = le32_to_cpu(mb->entry[ub_map_index_of(vchunk)]);
	if (old == UB_MAP_WHITEOUT)
		return 0;
	if (old != UB_MAP_UNMAPPED) {
		u32 d = old - 1;

		if (d >= md->data_chunks) {
			md->jflags |= UB_J_F_NEEDS_CHECK;
			return -EILSEQ;
		}
		r = xa_insert(&md->busy, d, xa_mk_value(UB_BUSY_QUARANTINE),
			      GFP_NOIO);
		if (r)
			return r;
		r = ub_bitmap_update(md, d, false);
		if (r) {
			xa_erase(&md->busy, d);
			return r;
		}
		md->nr_quarantined++;
		md->mapped_chunks--;
		*freed = true;
	}
	ub_publish_entry(md, mb, vchunk, UB_MAP_WHITEOUT);
	md->whiteout_chunks++;
	WRITE_ONCE(md->counters_dirty, true);
	return 0;
}

bool ub_md_has_quarantine(struct ub_metadata *md)
{
	return md->nr_quarantined != 0;
}

void ub_md_release_quarantine(struct ub_metadata *md)
{
	unsigned long index;
	void *entry;

	if (!md->nr_quarantined)
		return;
	xa_for_each(&md->busy, index, entry) {
		if (xa_to_value(entry) == UB_BUSY_QUARANTINE) {
			xa_erase(&md->busy, index);
			md->nr_quarantined--;
		}
	}
}

/*
 * -----------------------------------------------------------------
 * Journal and commit
 * -----------------------------------------------------------------
 */
static int ub_io(struct ub_metadata *md, blk_opf_t opf, void *data,
		 u64 blocknr, unsigned int nr_blocks)
{
	struct dm_io_region where = {
		.bdev = md->bdev,
		.sector = blocknr * UB_BLOCK_SECTORS,
		.count = (sector_t)nr_blocks * UB_BLOCK_SECTORS,
	};
	struct dm_io_request req = {
		.bi_opf = opf,
		.notify.fn = NULL,
		.client = md->io,
	};

	if (is_vmalloc_addr(data)) {
		req.mem.type = DM_IO_VMA;
		req.mem.ptr.vma = data;
	} else {
		req.mem.type = DM_IO_KMEM;
		req.mem.ptr.addr = data;
	}
	return ub_compat_dm_io(&req, 1, &where, NULL);
}

static void ub_fill_journal_header(struct ub_metadata *md,
				   struct ub_journal_header *jh, u64 blocknr,
				   u64 seq, unsigned int nr)
{
	unsigned int i;

	memset(jh, 0, UB_BLOCK_SIZE);
	jh->hdr.magic = cpu_to_le32(UB_BLOCK_MAGIC);
	jh->hdr.type = cpu_to_le32(UB_BT_JOURNAL);
	jh->hdr.blocknr = cpu_to_le64(blocknr);
	jh->nr_blocks = cpu_to_le32(nr);
	jh->flags = cpu_to_le32(md->jflags);
	jh->mapped_chunks = cpu_to_le64(md->mapped_chunks);
	jh->whiteout_chunks = cpu_to_le64(md->whiteout_chunks);
	jh->alloc_cursor = cpu_to_le64(md->alloc_cursor);
	jh->data_chunks = cpu_to_le64(md->data_chunks);
	for (i = 0; i < nr; i++)
		jh->home[i] = cpu_to_le64(md->txn_block[i]);
	ub_block_seal(jh, seq);
}

/* Write the pinned blocks home and unpin them. */
static int ub_checkpoint(struct ub_metadata *md)
{
	unsigned int i;
	int r;

	for (i = 0; i < md->txn_nr; i++)
		dm_bufio_mark_buffer_dirty(md->txn_buf[i]);
	r = dm_bufio_write_dirty_buffers(md->bufio);
	for (i = 0; i < md->txn_nr; i++) {
		struct ub_buf_aux *aux = dm_bufio_get_aux_data(md->txn_buf[i]);

		aux->in_txn = 0;
		dm_bufio_release(md->txn_buf[i]);
	}
	WRITE_ONCE(md->txn_nr, 0);
	return r;
}

/*
 * Write the journal slot: header and images, UB_STAGE_BLOCKS at a time
 * through the stage buffer.  The header's and each image's checksum and
 * seq make a torn slot detectable, so the pieces need no ordering.
 */
static int ub_write_journal(struct ub_metadata *md, u64 slot, u64 seq)
{
	unsigned int i, n, nr = md->txn_nr;
	u64 at = slot;
	int r;

	ub_fill_journal_header(md, (struct ub_journal_header *)md->stage,
			       slot, seq, nr);
	n = 1;
	for (i = 0; i < nr; i++) {
		void *data = dm_bufio_get_block_data(md->txn_buf[i]);

		ub_block_seal(data, seq);
		memcpy(md->stage + (size_t)n * UB_BLOCK_SIZE, data,
		       UB_BLOCK_SIZE);
		if (++n == UB_STAGE_BLOCKS) {
			r = ub_io(md, REQ_OP_WRITE | REQ_SYNC, md->stage, at, n);
			if (r)
				return r;
			at += n;
			n = 0;
		}
	}
	if (n)
		return ub_io(md, REQ_OP_WRITE | REQ_SYNC, md->stage, at, n);
	return 0;
}

int ub_md_commit(struct ub_metadata *md)
{
	u64 seq = md->seq + 1;
	u64 slot = ub_journal_slot(md->layout.journal_start,
				   md->journal_blocks, seq & 1);
	int r;

	if (md->read_only)
		return -EROFS;
	if (md->failed)
		return -EIO;
	if (!ub_md_dirty(md))
		return 0;

	/* Data of completed copy-ups and the last checkpoint first */
	r = blkdev_issue_flush(md->bdev);
	if (!r)
		r = ub_write_journal(md, slot, seq);
	if (!r)
		r = blkdev_issue_flush(md->bdev);
	if (r) {
		DMERR("%pg: journal write of transaction %llu failed: %d",
		      md->bdev, seq, r);
		return r;
	}

	/* Committed: the journal now holds transaction seq */
	md->seq = seq;
	WRITE_ONCE(md->counters_dirty, false);
	r = ub_checkpoint(md);
	if (r) {
		/*
		 * dm-bufio dropped the blocks it could not write: only a
		 * replay from the journal at the next activation gets them
		 * back, so nothing may be read or written before that.
		 */
		md->failed = true;
		DMERR("%pg: checkpoint of transaction %llu failed: %d",
		      md->bdev, seq, r);
	}
	return r;
}

bool ub_md_failed(struct ub_metadata *md)
{
	return READ_ONCE(md->failed);
}

void ub_md_set_needs_check(struct ub_metadata *md)
{
	if (!(md->jflags & UB_J_F_NEEDS_CHECK)) {
		md->jflags |= UB_J_F_NEEDS_CHECK;
		WRITE_ONCE(md->counters_dirty, true);
	}
}

/*
 * -----------------------------------------------------------------
 * Open, format, recovery
 * -----------------------------------------------------------------
 */
static int ub_base_fingerprint(struct ub_metadata *md, struct block_device *base,
			       sector_t base_sectors, u32 *fp)
{
	u64 bytes = (u64)base_sectors << SECTOR_SHIFT;
	unsigned int len = min_t(u64, bytes, UB_FP_SAMPLE_SIZE);
	u32 crc = ~0U;
	unsigned int i;
	void *buf;
	int r = 0;

	buf = kmalloc(UB_FP_SAMPLE_SIZE, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	for (i = 0; i < UB_FP_SAMPLES; i++) {
		struct dm_io_region where = {
			.bdev = base,
			.sector = ub_fp_sample_offset(bytes, i) >> SECTOR_SHIFT,
			.count = len >> SECTOR_SHIFT,
		};
		struct dm_io_request req = {
			.bi_opf = REQ_OP_READ,
			.mem.type = DM_IO_KMEM,
			.mem.ptr.addr = buf,
			.client = md->io,
		};

		r = ub_compat_dm_io(&req, 1, &where, NULL);
		if (r)
			break;
		crc = crc32c(crc, buf, len);
	}
	kfree(buf);
	*fp = ~crc;
	return r;
}

static bool ub_sb_valid(const struct ub_superblock *sb, u64 blocknr)
{
	struct ub_layout l;
	u32 cs = le32_to_cpu(sb->chunk_sectors);
	u32 jb = le32_to_cpu(sb->journal_blocks);
	u64 cap = le64_to_cpu(sb->capacity_chunks);

	if (ub_block_check(sb, blocknr, UB_BT_SUPER, 0) ||
	    le64_to_cpu(sb->magic) != UB_SB_MAGIC ||
	    le32_to_cpu(sb->version) != UB_FORMAT_VERSION)
		return false;
	if (cs < UB_MIN_CHUNK_SECTORS || cs > UB_MAX_CHUNK_SECTORS ||
	    !is_power_of_2(cs) || jb < UB_MIN_JOURNAL_BLOCKS ||
	    jb > UB_MAX_JOURNAL_BLOCKS || !cap || cap > UB_MAP_MAX_DATA_CHUNKS)
		return false;
	ub_compute_layout(cap, cs, jb, &l);
	return le64_to_cpu(sb->journal_start) == l.journal_start &&
	       le64_to_cpu(sb->map_start) == l.map_start &&
	       le64_to_cpu(sb->map_blocks) == l.map_blocks &&
	       le64_to_cpu(sb->bitmap_start) == l.bitmap_start &&
	       le64_to_cpu(sb->bitmap_blocks) == l.bitmap_blocks &&
	       le64_to_cpu(sb->data_start) == l.data_start;
}

static int ub_format(struct ub_metadata *md, const struct ub_md_open_args *a,
		     struct ub_superblock *sb, char **error)
{
	u32 cs = a->chunk_sectors ? a->chunk_sectors : UB_DEFAULT_CHUNK_SECTORS;
	u64 cap = a->capacity_chunks;
	struct ub_layout l;
	u32 fp, jb;
	int r;

	if (!cap || cap > UB_MAP_MAX_DATA_CHUNKS) {
		*error = "Tenant is too large for a COW store";
		return -EINVAL;
	}
	jb = ub_default_journal_blocks(cap);
	ub_compute_layout(cap, cs, jb, &l);
	if (a->store_sectors < l.data_start + cs) {
		*error = "COW store is too small for its metadata";
		return -ENOSPC;
	}
	r = ub_base_fingerprint(md, a->base, a->base_sectors, &fp);
	if (r) {
		*error = "Error reading base device";
		return r;
	}

	/* Journal, mapping table and bitmap start out as zeroes */
	r = blkdev_issue_zeroout(md->bdev, UB_JOURNAL_START * UB_BLOCK_SECTORS,
				 l.data_start - UB_JOURNAL_START * UB_BLOCK_SECTORS,
				 GFP_KERNEL, 0);
	/* The zeroes must be durable before a superblock points at them */
	if (!r)
		r = blkdev_issue_flush(md->bdev);
	if (r)
		goto bad_io;

	memset(sb, 0, UB_BLOCK_SIZE);
	sb->hdr.magic = cpu_to_le32(UB_BLOCK_MAGIC);
	sb->hdr.type = cpu_to_le32(UB_BT_SUPER);
	sb->magic = cpu_to_le64(UB_SB_MAGIC);
	sb->version = cpu_to_le32(UB_FORMAT_VERSION);
	sb->chunk_sectors = cpu_to_le32(cs);
	sb->journal_blocks = cpu_to_le32(jb);
	sb->capacity_chunks = cpu_to_le64(cap);
	sb->journal_start = cpu_to_le64(l.journal_start);
	sb->map_start = cpu_to_le64(l.map_start);
	sb->map_blocks = cpu_to_le64(l.map_blocks);
	sb->bitmap_start = cpu_to_le64(l.bitmap_start);
	sb->bitmap_blocks = cpu_to_le64(l.bitmap_blocks);
	sb->data_start = cpu_to_le64(l.data_start);
	sb->base_sectors = cpu_to_le64(a->base_sectors);
	sb->base_fingerprint = cpu_to_le32(fp);
	get_random_bytes(sb->uuid, sizeof(sb->uuid));
	sb->created = cpu_to_le64(ktime_get_real_seconds());

	/* The copy first: a torn block 0 then leaves a valid copy */
	sb->hdr.blocknr = cpu_to_le64(UB_SB_COPY_BLOCK);
	ub_block_seal(sb, 0);
	r = ub_io(md, REQ_OP_WRITE | REQ_FUA, sb, UB_SB_COPY_BLOCK, 1);
	if (r)
		goto bad_io;
	sb->hdr.blocknr = cpu_to_le64(UB_SB_BLOCK);
	ub_block_seal(sb, 0);
	r = ub_io(md, REQ_OP_WRITE | REQ_FUA, sb, UB_SB_BLOCK, 1);
	if (r)
		goto bad_io;
	DMINFO("%pg: formatted COW store, %u-sector chunks, %llu chunks capacity",
	       md->bdev, cs, cap);
	return 0;

bad_io:
	*error = "Error formatting COW store";
	return r;
}

/* Read the superblock, or its copy; format an all-zero store if asked. */
static int ub_load_super(struct ub_metadata *md, const struct ub_md_open_args *a,
			 struct ub_superblock *sb, char **error)
{
	bool zero0, zero1;
	u8 *buf = (u8 *)sb;
	int r;

	r = ub_io(md, REQ_OP_READ, buf, UB_SB_BLOCK, 1);
	if (r)
		goto bad_io;
	if (ub_sb_valid(sb, UB_SB_BLOCK))
		return 0;
	zero0 = ub_block_is_zero(buf);

	r = ub_io(md, REQ_OP_READ, buf, UB_SB_COPY_BLOCK, 1);
	if (r)
		goto bad_io;
	if (ub_sb_valid(sb, UB_SB_COPY_BLOCK)) {
		DMWARN("%pg: superblock invalid, using its copy", md->bdev);
		return 0;
	}
	zero1 = ub_block_is_zero(buf);

	if (zero0 && zero1) {
		if (!a->format) {
			*error = "COW store is not formatted (use the format feature)";
			return -EINVAL;
		}
		if (a->read_only) {
			*error = "Cannot format a read-only COW store";
			return -EROFS;
		}
		r = ub_format(md, a, sb, error);
		if (r)
			return r;
		if (ub_sb_valid(sb, UB_SB_BLOCK))
			return 0;
		*error = "Formatted COW store superblock does not verify";
		return -EIO;
	}
	*error = "COW store has no valid unionblk superblock";
	return -EINVAL;

bad_io:
	*error = "Error reading COW store superblock";
	return r;
}

/*
 * Verify journal slot k into buf ((journal_blocks) blocks); returns the
 * number of images or a negative error.  A zero header gives -ENOENT.
 */
static int ub_read_slot(struct ub_metadata *md, unsigned int k, u8 *buf)
{
	u64 start = ub_journal_slot(md->layout.journal_start,
				    md->journal_blocks, k);
	struct ub_journal_header *jh = (struct ub_journal_header *)buf;
	u64 seq, home, map_end = md->layout.map_start + md->layout.map_blocks;
	u64 bitmap_end = md->layout.bitmap_start + md->layout.bitmap_blocks;
	unsigned int i, nr;
	int r;

	r = ub_io(md, REQ_OP_READ, buf, start, 1);
	if (r)
		return r;
	if (ub_block_is_zero(buf))
		return -ENOENT;
	if (ub_block_check(buf, start, UB_BT_JOURNAL, U64_MAX))
		return -EILSEQ;
	seq = le64_to_cpu(jh->hdr.seq);
	nr = le32_to_cpu(jh->nr_blocks);
	if ((seq & 1) != k || nr > ub_journal_capacity(md->journal_blocks))
		return -EILSEQ;
	if (nr) {
		r = ub_io(md, REQ_OP_READ, buf + UB_BLOCK_SIZE, start + 1, nr);
		if (r)
			return r;
	}
	for (i = 0; i < nr; i++) {
		u8 *img = buf + (size_t)(i + 1) * UB_BLOCK_SIZE;
		u32 type;

		home = le64_to_cpu(jh->home[i]);
		if (home >= md->layout.map_start && home < map_end)
			type = UB_BT_MAP;
		else if (home >= md->layout.bitmap_start && home < bitmap_end)
			type = UB_BT_BITMAP;
		else
			return -EILSEQ;
		if (ub_block_check(img, home, type, seq) ||
		    le64_to_cpu(((struct ub_block_header *)img)->seq) != seq)
			return -EILSEQ;
	}
	return nr;
}

/*
 * Whether a home block of the slot to replay already holds a newer
 * committed version: then a later transaction committed and its journal
 * slot was damaged afterwards (a crash never leaves homes newer than the
 * newest valid slot), and replaying would silently undo it.
 */
static int ub_homes_newer(struct ub_metadata *md, struct ub_journal_header *jh,
			  unsigned int nr, u8 *scratch)
{
	u64 seq = le64_to_cpu(jh->hdr.seq);
	unsigned int i;
	int r;

	for (i = 0; i < nr; i++) {
		u64 home = le64_to_cpu(jh->home[i]);
		struct ub_block_header *h = (struct ub_block_header *)scratch;

		r = ub_io(md, REQ_OP_READ, scratch, home, 1);
		if (r)
			return r;
		if (!ub_block_check(scratch, home, le32_to_cpu(h->type),
				    U64_MAX) && le64_to_cpu(h->seq) > seq)
			return 1;
	}
	return 0;
}

/*
 * Find the newest fully valid journal slot, replay its images and take
 * its counters.  Replaying an already checkpointed transaction rewrites
 * identical blocks, so this is safe after any crash.
 */
static int ub_recover(struct ub_metadata *md, char **error)
{
	size_t slot_bytes = ((size_t)ub_journal_capacity(md->journal_blocks) + 1) *
			    UB_BLOCK_SIZE;
	struct ub_journal_header *jh;
	u8 *buf[2];
	int nr[2], best = -1;
	unsigned int k, i;
	int r = 0;

	buf[0] = kvmalloc(slot_bytes, GFP_KERNEL);
	buf[1] = kvmalloc(slot_bytes, GFP_KERNEL);
	if (!buf[0] || !buf[1]) {
		r = -ENOMEM;
		*error = "Cannot allocate journal buffer";
		goto out;
	}
	for (k = 0; k < 2; k++) {
		nr[k] = ub_read_slot(md, k, buf[k]);
		if (nr[k] < 0 && nr[k] != -ENOENT && nr[k] != -EILSEQ) {
			r = nr[k];
			*error = "Error reading COW store journal";
			goto out;
		}
		if (nr[k] == -EILSEQ)
			DMWARN("%pg: journal slot %u is torn, ignored",
			       md->bdev, k);
		if (nr[k] < 0)
			continue;
		jh = (struct ub_journal_header *)buf[k];
		if (best < 0 || le64_to_cpu(jh->hdr.seq) >
		    le64_to_cpu(((struct ub_journal_header *)buf[best])->hdr.seq))
			best = k;
	}
	if (best < 0) {
		md->seq = 0;
		goto out;
	}

	jh = (struct ub_journal_header *)buf[best];
	if (nr[!best] == -EILSEQ) {
		r = ub_homes_newer(md, jh, nr[best], buf[!best]);
		if (r) {
			*error = r < 0 ? "Error reading COW store metadata" :
				 "COW store journal is damaged: run unionblk check";
			r = r < 0 ? r : -EILSEQ;
			goto out;
		}
	}
	md->seq = le64_to_cpu(jh->hdr.seq);
	md->mapped_chunks = le64_to_cpu(jh->mapped_chunks);
	md->whiteout_chunks = le64_to_cpu(jh->whiteout_chunks);
	md->alloc_cursor = le64_to_cpu(jh->alloc_cursor);
	md->jflags = le32_to_cpu(jh->flags);
	md->data_chunks = min(le64_to_cpu(jh->data_chunks), md->capacity_chunks);
	if (md->mapped_chunks > md->capacity_chunks ||
	    md->whiteout_chunks > md->capacity_chunks) {
		r = -EILSEQ;
		*error = "COW store journal counters are out of range";
		goto out;
	}
	if (md->read_only && nr[best]) {
		md->pinned = kcalloc(nr[best], sizeof(*md->pinned), GFP_KERNEL);
		if (!md->pinned) {
			r = -ENOMEM;
			*error = "Cannot allocate journal buffer";
			goto out;
		}
	}
	for (i = 0; i < nr[best]; i++) {
		u64 home = le64_to_cpu(jh->home[i]);
		struct dm_buffer *b;
		void *data = dm_bufio_new(md->bufio, home, &b);

		if (IS_ERR(data)) {
			r = PTR_ERR(data);
			*error = "Cannot replay COW store journal";
			goto out;
		}
		memcpy(data, buf[best] + (size_t)(i + 1) * UB_BLOCK_SIZE,
		       UB_BLOCK_SIZE);
		if (md->read_only) {
			md->pinned[md->nr_pinned++] = b;
		} else {
			dm_bufio_mark_buffer_dirty(b);
			dm_bufio_release(b);
		}
	}
	if (!md->read_only && nr[best]) {
		r = dm_bufio_write_dirty_buffers(md->bufio);
		if (!r)
			r = blkdev_issue_flush(md->bdev);
		if (r)
			*error = "Error replaying COW store journal";
	}
out:
	kvfree(buf[0]);
	kvfree(buf[1]);
	return r;
}

static u64 ub_data_chunks_for(struct ub_metadata *md, sector_t store_sectors)
{
	u64 n;

	if (store_sectors <= md->layout.data_start)
		return 0;
	n = div_u64(store_sectors - md->layout.data_start, md->chunk_sectors);
	return min(n, md->capacity_chunks);
}

/* Whether any data chunk in [from, to) is allocated in the bitmap. */
static int ub_any_allocated(struct ub_metadata *md, u64 from, u64 to)
{
	while (from < to) {
		u32 bit;
		u64 blk = div_u64_rem(from, UB_BITMAP_BITS, &bit);
		u64 end = min_t(u64, UB_BITMAP_BITS,
				to - blk * UB_BITMAP_BITS);
		struct ub_bitmap_block *bb;
		struct dm_buffer *b;
		unsigned long next;

		bb = ub_read_block(md, md->layout.bitmap_start + blk, &b);
		if (IS_ERR(bb))
			return PTR_ERR(bb);
		next = find_next_bit_le(bb->bits, end, bit);
		dm_bufio_release(b);
		if (next < end)
			return 1;
		from = blk * UB_BITMAP_BITS + end;
	}
	return 0;
}

int ub_md_resize(struct ub_metadata *md, sector_t store_sectors, char **error)
{
	u64 n = ub_data_chunks_for(md, store_sectors);
	int r;

	if (n < md->data_chunks) {
		r = ub_any_allocated(md, n, md->data_chunks);
		if (r) {
			*error = r < 0 ? "Error reading COW store bitmap" :
				 "COW store is smaller than its allocated chunks";
			return r < 0 ? r : -EINVAL;
		}
	}
	if (n == 0) {
		*error = "COW store is too small for its metadata";
		return -ENOSPC;
	}
	if (n != md->data_chunks) {
		md->data_chunks = n;
		WRITE_ONCE(md->counters_dirty, !md->read_only);
		if (md->alloc_cursor >= n)
			md->alloc_cursor = 0;
	}
	md->store_sectors = store_sectors;
	return 0;
}

int ub_md_open(const struct ub_md_open_args *a, struct ub_metadata **mdp,
	       char **error)
{
	struct ub_metadata *md;
	struct ub_superblock *sb;
	u32 fp;
	int r;

	md = kzalloc(sizeof(*md), GFP_KERNEL);
	sb = kmalloc(UB_BLOCK_SIZE, GFP_KERNEL);
	if (!md || !sb) {
		r = -ENOMEM;
		*error = "Cannot allocate COW store metadata";
		goto bad_alloc;
	}
	md->bdev = a->store;
	md->read_only = a->read_only;
	md->publish_lock = a->publish_lock;
	xa_init(&md->busy);

	md->io = dm_io_client_create();
	if (IS_ERR(md->io)) {
		r = PTR_ERR(md->io);
		md->io = NULL;
		*error = "Cannot create dm-io client";
		goto bad_alloc;
	}

	r = ub_load_super(md, a, sb, error);
	if (r)
		goto bad_super;

	md->chunk_sectors = le32_to_cpu(sb->chunk_sectors);
	md->journal_blocks = le32_to_cpu(sb->journal_blocks);
	md->capacity_chunks = le64_to_cpu(sb->capacity_chunks);
	ub_compute_layout(md->capacity_chunks, md->chunk_sectors,
			  md->journal_blocks, &md->layout);
	md->txn_max = min_t(u32, UB_TXN_MAX,
			    ub_journal_capacity(md->journal_blocks));

	if (a->chunk_sectors && a->chunk_sectors != md->chunk_sectors) {
		r = -EINVAL;
		*error = "COW store chunk size differs from the table";
		goto bad_super;
	}
	if (le64_to_cpu(sb->base_sectors) != a->base_sectors) {
		r = -EINVAL;
		*error = "COW store belongs to a different base: size differs";
		goto bad_super;
	}
	r = ub_base_fingerprint(md, a->base, a->base_sectors, &fp);
	if (r) {
		*error = "Error reading base device";
		goto bad_super;
	}
	if (fp != le32_to_cpu(sb->base_fingerprint)) {
		r = -EINVAL;
		*error = "COW store belongs to a different base: content differs";
		goto bad_super;
	}
	if (!md->read_only && (le32_to_cpu(sb->flags) & UB_SB_F_RO)) {
		r = -EROFS;
		*error = "COW store is a frozen layer: activate it with ro";
		goto bad_super;
	}

	md->stage = kvmalloc(UB_STAGE_BLOCKS * UB_BLOCK_SIZE, GFP_KERNEL);
	if (!md->stage) {
		r = -ENOMEM;
		*error = "Cannot allocate journal buffer";
		goto bad_super;
	}

	md->bufio = dm_bufio_client_create(md->bdev, UB_BLOCK_SIZE,
					   UB_BUFIO_RESERVED,
					   sizeof(struct ub_buf_aux),
					   ub_bufio_alloc_cb, NULL, 0);
	if (IS_ERR(md->bufio)) {
		r = PTR_ERR(md->bufio);
		md->bufio = NULL;
		*error = "Cannot create metadata cache";
		goto bad_super;
	}

	r = ub_recover(md, error);
	if (r)
		goto bad_recover;

	/*
	 * The journal header records how many data chunks the store had at
	 * the last commit (none when fresh); a smaller store must not cut
	 * off allocated ones.
	 */
	r = ub_md_resize(md, a->store_sectors, error);
	if (r)
		goto bad_recover;
	if (md->mapped_chunks > md->data_chunks) {
		r = -EILSEQ;
		*error = "COW store counts more mapped chunks than it holds";
		goto bad_recover;
	}
	if (md->alloc_cursor >= md->data_chunks)
		md->alloc_cursor = 0;
	WRITE_ONCE(md->counters_dirty, false);

	kfree(sb);
	*mdp = md;
	return 0;

bad_recover:
	while (md->nr_pinned)
		dm_bufio_release(md->pinned[--md->nr_pinned]);
	kfree(md->pinned);
	dm_bufio_client_destroy(md->bufio);
bad_super:
	kvfree(md->stage);
	dm_io_client_destroy(md->io);
bad_alloc:
	kfree(sb);
	kfree(md);
	return r;
}

void ub_md_close(struct ub_metadata *md)
{
	unsigned int i;

	for (i = 0; i < md->txn_nr; i++) {
		struct ub_buf_aux *aux = dm_bufio_get_aux_data(md->txn_buf[i]);

		aux->in_txn = 0;
		dm_bufio_release(md->txn_buf[i]);
	}
	while (md->nr_pinned)
		dm_bufio_release(md->pinned[--md->nr_pinned]);
	kfree(md->pinned);
	dm_bufio_client_destroy(md->bufio);
	kvfree(md->stage);
	dm_io_client_destroy(md->io);
	xa_destroy(&md->busy);
	kfree(md);
}

void ub_md_get_stats(struct ub_metadata *md, struct ub_md_stats *s)
{
	s->chunk_sectors = md->chunk_sectors;
	s->capacity_chunks = md->capacity_chunks;
	s->data_chunks = md->data_chunks;
	s->mapped_chunks = md->mapped_chunks;
	s->whiteout_chunks = md->whiteout_chunks;
	s->free_chunks = ub_free_chunks(md);
	s->seq = md->seq;
	s->needs_check = md->jflags & UB_J_F_NEEDS_CHECK;
}

u32 ub_md_chunk_sectors(struct ub_metadata *md)
{
	return md->chunk_sectors;
}

u64 ub_md_capacity(struct ub_metadata *md)
{
	return md->capacity_chunks;
}

sector_t ub_md_data_sector(struct ub_metadata *md, u32 dchunk)
{
	return md->layout.data_start + (sector_t)dchunk * md->chunk_sectors;
}
