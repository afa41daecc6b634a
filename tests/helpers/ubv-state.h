/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ubverify's state file: what a device may hold after a crash.
 *
 * The file is a checkpoint followed by a journal:
 *
 *   header    128 bytes (struct ubv_state_header)
 *   blocks    nr_blocks x le64: each block's model state (stamp.h) as of
 *             the last completed flush, the "durable state"
 *   journal   32-byte records (struct ubv_jrec) appended since
 *
 * A new checkpoint is written to FILE.tmp, fsynced, and renamed over FILE
 * (then the directory is fsynced), so FILE is always one whole checkpoint.
 * Journal records are appended with fdatasync; a torn last record fails
 * its checksum and is ignored (its request was never issued).
 *
 * Records:
 *   INTENT   written before a discard or zero-out is issued: blocks
 *            [start, start+count) may hold state from now on.  Writes need
 *            none: a stamp names its own sector and generation.
 *   DURABLE  written after a FUA write completed: the blocks hold state
 *            durably (until a later generation overwrites them).
 *
 * Crash rule (ubverify verify): let D be a block's durable state, the
 * newest generation among the checkpoint and the DURABLE records covering
 * it.  Each sector of the block must hold D, or a stamp of this sector and
 * seed with a generation above D's, or the state of an INTENT record
 * covering it with a generation above D's.  Per block, generations grow in
 * the order requests were issued (a block is locked from taking a
 * generation to completing the request), so "above D's" means "issued
 * after D completed": anything older is stale.
 */
#ifndef UB_HELPERS_UBV_STATE_H
#define UB_HELPERS_UBV_STATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "stamp.h"

#define UBV_STATE_MAGIC		0x4554415453564255ULL	/* "UBVSTATE" */
#define UBV_STATE_VERSION	1
#define UBV_STATE_HDR_SIZE	128			/* bytes */
#define UBV_JREC_SIZE		32			/* bytes */

#define UBV_STATE_FINAL		(1U << 0)	/* run ended cleanly */

enum ubv_jrec_type {
	UBV_JREC_INTENT = 1,
	UBV_JREC_DURABLE = 2,
};

/* On-disk header, little-endian. */
struct ubv_state_header {
	uint64_t magic;
	uint32_t version;
	uint32_t header_size;
	uint64_t seed;
	uint64_t size;		/* bytes of the device the model covers */
	uint32_t block_size;	/* bytes per model block */
	uint32_t init_mode;	/* enum init_mode */
	uint64_t nr_blocks;
	uint64_t ckpt_seq;	/* checkpoints taken; 0: none yet */
	uint64_t next_gen;	/* generation counter when taken */
	uint64_t ops_done;	/* requests completed when taken */
	uint64_t journal_off;	/* byte offset of the first record */
	uint32_t blocks_csum;	/* CRC-32C of the block array */
	uint32_t flags;		/* UBV_STATE_* */
	uint8_t reserved[36];
	uint32_t header_csum;	/* CRC-32C of the bytes before it */
} __attribute__((packed));

/* On-disk journal record, little-endian. */
struct ubv_jrec {
	uint32_t type;		/* enum ubv_jrec_type */
	uint32_t csum;		/* CRC-32C of the record with csum = 0 */
	uint64_t state;		/* model state (kind and generation) */
	uint64_t start;		/* first block */
	uint64_t count;		/* blocks */
} __attribute__((packed));

/* An open state file, in host byte order. */
struct ubv_state {
	char *path;
	char *tmp_path;
	int fd;			/* FILE, for appends; -1 when loaded only */
	struct ubv_state_header hdr;
	uint64_t *blocks;	/* loaded checkpoint (state_load only) */
	struct ubv_jrec *jrecs;	/* every record of the current file */
	uint64_t nr_jrecs;
	uint64_t jrecs_cap;
	uint64_t append_off;	/* where the next record goes */
	pthread_mutex_t lock;	/* serialises appends and checkpoints */
};

/*
 * Create FILE for a new run and write checkpoint 0: the states in
 * initial[] (NULL: every block ST_INIT) and the run's first generation.
 * May block (fsync).
 */
int state_create(struct ubv_state *s, const char *path, uint64_t seed,
		 uint64_t size, uint32_t block_size, enum init_mode init,
		 const uint64_t *initial, uint64_t next_gen);

/*
 * Write a checkpoint whose durable states are snap[] (one per block).
 * The caller has flushed the device after taking snap and before calling.
 * Records made redundant by snap are dropped.  Thread-safe; may block.
 */
int state_checkpoint(struct ubv_state *s, const uint64_t *snap,
		     uint64_t next_gen, uint64_t ops_done, bool final);

/* Append one record durably.  Thread-safe; may block. */
int state_log(struct ubv_state *s, enum ubv_jrec_type type, uint64_t st,
	      uint64_t start, uint64_t count);

/* Read FILE: header, checkpoint and the journal's valid records. */
int state_load(struct ubv_state *s, const char *path);

/*
 * Fold the DURABLE records into a copy of the checkpoint: the durable
 * state of every block.  Returns a malloc'd array of nr_blocks entries.
 */
uint64_t *state_durable(const struct ubv_state *s);

/*
 * Replace FILE by a clean-end checkpoint holding states[] exactly, with no
 * journal: what "verify --adopt" found on the device.  May block.
 */
int state_adopt(struct ubv_state *s, const uint64_t *states,
		uint64_t next_gen);

void state_close(struct ubv_state *s);

#endif
