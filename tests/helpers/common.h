/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared plumbing for the test helpers: error reporting, option values,
 * device access, checksums and a seeded pseudo-random generator.
 *
 * Convention: functions return 0 (or a count) on success and a negative
 * errno on failure; error() prints "<prog>: <what>: <why>" and returns -1
 * so that callers can write "return error(...)".
 */
#ifndef UB_HELPERS_COMMON_H
#define UB_HELPERS_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "libunionblk.h"

#define SECTOR_SIZE	512		/* bytes */
#define SECTOR_SHIFT	9
#define IO_ALIGN	4096		/* buffer alignment for O_DIRECT, bytes */

/* Exit codes shared by every helper. */
#define EXIT_OK		0		/* everything verified */
#define EXIT_MISMATCH	1		/* data did not match the model */
#define EXIT_ERROR	2		/* usage, I/O or format error */

extern const char *prog_name;

int error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void *xmalloc_aligned(size_t size);
void *xcalloc(size_t n, size_t size);

/* "4096", "4k", "1M", "2G" (binary multiples); false on junk or overflow. */
bool parse_size(const char *s, uint64_t *out);
bool parse_u64(const char *s, uint64_t *out);
/* An integer percentage 0..100. */
bool parse_pct(const char *s, unsigned int *out);

/* An opened device or image file. */
struct dev {
	const char *path;
	int fd;
	bool is_bdev;		/* block device: use ioctls */
	bool direct;		/* opened with O_DIRECT */
	uint64_t size;		/* bytes */
	unsigned int lbs;	/* logical block size: O_DIRECT granularity */
};

/* How dev_open() opens a path. */
#define DEV_RW		(1U << 0)	/* read-write, else read-only */
#define DEV_DIRECT	(1U << 1)	/* O_DIRECT, buffered if refused */
#define DEV_CREATE	(1U << 2)	/* create a missing regular file */

/*
 * Open path as flags say.  A file system that refuses O_DIRECT is opened
 * buffered with a warning.
 */
int dev_open(struct dev *d, const char *path, unsigned int flags);
void dev_close(struct dev *d);
/* Grow a regular file to size bytes; refuse a block device that is smaller. */
int dev_ensure_size(struct dev *d, uint64_t size);

/*
 * Whole-buffer positional I/O is libunionblk's ub_pread()/ub_pwrite():
 * short transfers retried, EOF is -EIO.
 */

/* Make [off, off+len) read as zeroes: BLKZEROOUT, fallocate, or writes. */
int dev_zero_range(struct dev *d, uint64_t off, uint64_t len);
/* Discard [off, off+len): BLKDISCARD, or a punched hole in a file. */
int dev_discard_range(struct dev *d, uint64_t off, uint64_t len);

/*
 * CRC-32C (Castagnoli), standard init and final inversion, chained:
 * crc32c(crc32c(0, a, n), b, m) is the CRC of a then b.  libunionblk's.
 */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/* splitmix64 mixing and a xoshiro256** stream, both seeded by a u64. */
uint64_t mix64(uint64_t x);
struct rng {
	uint64_t s[4];
};
void rng_seed(struct rng *r, uint64_t seed);
uint64_t rng_next(struct rng *r);
/* Uniform in [0, n); n > 0. */
uint64_t rng_below(struct rng *r, uint64_t n);

bool is_zero(const void *buf, size_t len);

/*
 * Run "sh -c cmd" with the NAME=VALUE strings of env (NULL-terminated)
 * added to the environment; its exit status (128+N for signal N), or -1.
 */
int run_shell(const char *cmd, char *const *env);

#endif
