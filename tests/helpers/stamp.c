// SPDX-License-Identifier: GPL-2.0
/*
 * Stamped sectors: making them, recognising them, and explaining a sector
 * that does not hold what the model says.  See stamp.h for the layout.
 */
#include <endian.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "stamp.h"

#define FILL_WORDS	((SECTOR_SIZE - STAMP_HDR_SIZE) / 8)
#define CSUM_OFFSET	32

static void put64(unsigned char *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static uint32_t sector_csum(const unsigned char *p)
{
	static const unsigned char zero[4];
	uint32_t c;

	c = crc32c(0, p, CSUM_OFFSET);
	c = crc32c(c, zero, 4);
	return crc32c(c, p + CSUM_OFFSET + 4, SECTOR_SIZE - CSUM_OFFSET - 4);
}

void stamp_make(void *sector_buf, uint64_t seed, uint64_t sector,
		uint64_t gen)
{
	unsigned char *p = sector_buf;
	uint64_t key = mix64(seed ^ mix64(sector ^ mix64(gen)));
	uint32_t csum;
	int i;

	put64(p, STAMP_MAGIC);
	put64(p + 8, sector);
	put64(p + 16, gen);
	put64(p + 24, seed);
	memset(p + 32, 0, 8);
	for (i = 0; i < FILL_WORDS; i++)
		put64(p + STAMP_HDR_SIZE + 8 * i,
		      mix64(key + (uint64_t)i * 0xd1b54a32d192ed03ULL));
	csum = htole32(sector_csum(p));
	memcpy(p + CSUM_OFFSET, &csum, 4);
}

void stamp_decode(const void *sector_buf, const void *base_buf,
		  struct found *f)
{
	const unsigned char *p = sector_buf;
	uint32_t csum;

	memset(f, 0, sizeof(*f));
	f->is_base = base_buf && !memcmp(sector_buf, base_buf, SECTOR_SIZE);
	if (get64(p) == STAMP_MAGIC) {
		memcpy(&csum, p + CSUM_OFFSET, 4);
		f->sector = get64(p + 8);
		f->gen = get64(p + 16);
		f->seed = get64(p + 24);
		f->kind = le32toh(csum) == sector_csum(p) ?
			  FOUND_STAMP : FOUND_DAMAGED;
		return;
	}
	if (is_zero(p, SECTOR_SIZE)) {
		f->kind = FOUND_ZERO;
		return;
	}
	f->kind = FOUND_OTHER;
	memcpy(f->head, p, sizeof(f->head));
}

const char *init_mode_name(enum init_mode m)
{
	switch (m) {
	case INIT_ZERO:
		return "zero";
	case INIT_BASE:
		return "base";
	case INIT_UNCHECKED:
	default:
		return "unchecked";
	}
}

bool state_matches(uint64_t st, enum init_mode init, uint64_t seed,
		   uint64_t sector, const struct found *f)
{
	switch (st_kind(st)) {
	case ST_STAMP:
		return f->kind == FOUND_STAMP && f->seed == seed &&
		       f->sector == sector && f->gen == st_gen(st);
	case ST_ZERO:
		return f->kind == FOUND_ZERO;
	case ST_INIT:
		if (init == INIT_ZERO)
			return f->kind == FOUND_ZERO;
		if (init == INIT_BASE)
			return f->is_base;
		return true;
	case ST_ANY:
	default:
		return true;
	}
}

void describe_state(char *buf, size_t len, uint64_t st, enum init_mode init)
{
	unsigned long long gen = st_gen(st);

	switch (st_kind(st)) {
	case ST_STAMP:
		snprintf(buf, len, "stamp gen %llu", gen);
		break;
	case ST_ZERO:
		snprintf(buf, len, "zeroes (discarded/zeroed at gen %llu)",
			 gen);
		break;
	case ST_INIT:
		if (init == INIT_BASE)
			snprintf(buf, len, "base content");
		else if (init == INIT_ZERO)
			snprintf(buf, len, "zeroes (initial content)");
		else
			snprintf(buf, len, "initial content (unchecked)");
		if (gen)
			snprintf(buf + strlen(buf), len - strlen(buf),
				 " (reverted at gen %llu)", gen);
		break;
	case ST_ANY:
	default:
		snprintf(buf, len, "anything (undefined since gen %llu)", gen);
		break;
	}
}

void describe_found(char *buf, size_t len, const struct found *f)
{
	const unsigned char *h = f->head;

	switch (f->kind) {
	case FOUND_STAMP:
		snprintf(buf, len, "stamp of sector %llu gen %llu seed %llu",
			 (unsigned long long)f->sector,
			 (unsigned long long)f->gen,
			 (unsigned long long)f->seed);
		break;
	case FOUND_DAMAGED:
		snprintf(buf, len,
			 "damaged stamp (bad checksum) claiming sector %llu gen %llu seed %llu",
			 (unsigned long long)f->sector,
			 (unsigned long long)f->gen,
			 (unsigned long long)f->seed);
		break;
	case FOUND_ZERO:
		snprintf(buf, len, "zeroes");
		break;
	case FOUND_OTHER:
	default:
		snprintf(buf, len,
			 "unrecognised data %02x %02x %02x %02x %02x %02x %02x %02x ...",
			 h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]);
		break;
	}
	if (f->is_base && f->kind != FOUND_ZERO)
		snprintf(buf + strlen(buf), len - strlen(buf),
			 " (= base content)");
}

const char *diagnose(uint64_t st, enum init_mode init, uint64_t seed,
		     uint64_t sector, const struct found *f)
{
	enum st_kind k = st_kind(st);
	uint64_t gen = st_gen(st);

	if (k == ST_ZERO && f->kind != FOUND_ZERO) {
		if (f->kind == FOUND_STAMP && f->seed == seed &&
		    f->sector == sector && f->gen < gen)
			return "non-zero after discard: an older write of this sector came back";
		if (f->is_base)
			return "non-zero after discard: base content came back";
		if (f->kind == FOUND_STAMP && f->seed == seed &&
		    f->sector != sector)
			return "non-zero after discard: another sector's data";
		return "non-zero after discard";
	}
	if (f->kind == FOUND_DAMAGED)
		return "damaged stamp: torn or corrupted sector";
	if (f->kind == FOUND_STAMP && f->seed == seed && f->sector != sector)
		return "another sector's data (misdirected read or write)";
	if (f->is_base && !(k == ST_INIT && init == INIT_BASE))
		return k == ST_STAMP ?
		       "stale base content: a write of this sector was lost" :
		       "base content where it does not belong";
	if (f->kind == FOUND_STAMP && f->seed != seed)
		return "data of another run or device (different seed)";
	if (f->kind == FOUND_STAMP && k == ST_STAMP) {
		if (f->gen < gen)
			return "stale generation: an older write of this sector";
		return "generation newer than the model: unexpected write";
	}
	if (f->kind == FOUND_STAMP)
		return "write data where none should be";
	if (f->kind == FOUND_ZERO)
		return k == ST_STAMP ? "zeroes: a write of this sector was lost" :
		       "zeroes where data was expected";
	return "unrecognised data";
}
