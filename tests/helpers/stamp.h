/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Stamped sectors and the per-block model states that say what a sector
 * should hold.
 *
 * Every 512-byte sector ubverify writes is a stamp:
 *
 *   offset  size  field
 *        0     8  magic     STAMP_MAGIC
 *        8     8  sector    the sector the data was written to
 *       16     8  gen       write generation (one per write request)
 *       24     8  seed      the run's seed
 *       32     4  csum      CRC-32C of the 512 bytes with csum = 0
 *       36     4  reserved  0
 *       40   472  fill      pseudo-random, a function of (seed, sector, gen)
 *
 * All fields are little-endian.  A sector can thus be checked without the
 * data that was written, and data found in the wrong place says where it
 * came from.
 */
#ifndef UB_HELPERS_STAMP_H
#define UB_HELPERS_STAMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STAMP_MAGIC	0x31504d5453564255ULL	/* "UBVSTMP1" on disk */
#define STAMP_HDR_SIZE	40			/* bytes before the fill */
#define STAMP_FILL_GEN	1			/* gen used by "fill" */
#define STAMP_FIRST_GEN	2			/* first gen used by "run" */

void stamp_make(void *sector_buf, uint64_t seed, uint64_t sector,
		uint64_t gen);

/* What a sector was found to hold. */
enum found_kind {
	FOUND_STAMP,		/* a stamp whose checksum verifies */
	FOUND_DAMAGED,		/* stamp magic, but the checksum fails */
	FOUND_ZERO,		/* 512 zero bytes */
	FOUND_OTHER,		/* anything else */
};

struct found {
	enum found_kind kind;
	bool is_base;		/* equal to the base device's sector */
	uint64_t sector;	/* STAMP/DAMAGED: the header's claim */
	uint64_t gen;
	uint64_t seed;
	unsigned char head[8];	/* OTHER: first bytes, for the report */
};

/* base_buf: the base device's bytes for this sector, or NULL. */
void stamp_decode(const void *sector_buf, const void *base_buf,
		  struct found *f);

/*
 * A model state, one u64 per block: a kind in the top bits and the
 * generation of the request that produced it in the rest.  Every request
 * takes a new generation, so generations order the states of one block.
 */
enum st_kind {
	ST_INIT = 0,		/* initial content (never written, or reverted) */
	ST_STAMP = 1,		/* stamp(seed, sector, gen) */
	ST_ZERO = 2,		/* zeroes: discard or zero-out */
	ST_ANY = 3,		/* content undefined: anything goes */
};

#define ST_KIND_SHIFT	61
#define ST_GEN_MASK	((1ULL << ST_KIND_SHIFT) - 1)

static inline uint64_t st_make(enum st_kind kind, uint64_t gen)
{
	return ((uint64_t)kind << ST_KIND_SHIFT) | (gen & ST_GEN_MASK);
}

static inline enum st_kind st_kind(uint64_t st)
{
	return (enum st_kind)(st >> ST_KIND_SHIFT);
}

static inline uint64_t st_gen(uint64_t st)
{
	return st & ST_GEN_MASK;
}

/* What ST_INIT means: how the device looked before the first write. */
enum init_mode {
	INIT_UNCHECKED = 0,	/* unknown: not checked */
	INIT_ZERO = 1,		/* all zeroes */
	INIT_BASE = 2,		/* equal to a base device, given at run time */
};

const char *init_mode_name(enum init_mode m);

/* Does what was found satisfy state st for this sector? */
bool state_matches(uint64_t st, enum init_mode init, uint64_t seed,
		   uint64_t sector, const struct found *f);

/*
 * Human descriptions for mismatch reports.  describe_found() says what the
 * bytes are; diagnose() names the likely failure ("another sector's data",
 * "stale generation", "non-zero after discard", ...).
 */
void describe_state(char *buf, size_t len, uint64_t st, enum init_mode init);
void describe_found(char *buf, size_t len, const struct found *f);
const char *diagnose(uint64_t st, enum init_mode init, uint64_t seed,
		     uint64_t sector, const struct found *f);

#endif
