/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ubverify internals shared by its commands: checking sectors against
 * model states and reporting mismatches.
 */
#ifndef UB_HELPERS_UBVERIFY_H
#define UB_HELPERS_UBVERIFY_H

#include <pthread.h>
#include <stdint.h>

#include "common.h"
#include "stamp.h"

#define UBV_CHUNK	(1U << 20)	/* bytes read per verification read */
#define UBV_MAX_ERRORS	10		/* mismatches printed by default */

/* Checking context: what is expected and where mismatches are counted. */
struct checkctx {
	const char *dev_path;
	uint64_t seed;
	enum init_mode init;
	unsigned int max_errors;	/* print at most this many */
	uint64_t mismatches;		/* under lock */
	pthread_mutex_t lock;		/* serialises reports */
};

void checkctx_init(struct checkctx *c, const char *dev_path, uint64_t seed,
		   enum init_mode init, unsigned int max_errors);

/*
 * Check one sector against model state st; report and count a mismatch.
 * base: the base device's bytes for the sector (NULL unless INIT_BASE).
 */
bool check_sector(struct checkctx *c, uint64_t sector, uint64_t st,
		  const void *data, const void *base);

/* Print one mismatch (thread-safe, limited to max_errors lines). */
void report_mismatch(struct checkctx *c, uint64_t sector,
		     const char *expected, const struct found *f,
		     const char *diagnosis);

/*
 * Read len bytes at off from d into buf and, when base is open, the same
 * range of the base into base_buf (zeroes past the base's end).
 */
int read_with_base(struct dev *d, struct dev *base, void *buf,
		   void *base_buf, uint64_t off, uint64_t len);

/* Print "ubverify: CMD: <fmt with arg>" and a --help hint; EXIT_ERROR. */
int usage_error(const char *cmd, const char *fmt, const char *arg);

int cmd_run(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_dump_state(int argc, char **argv);

#endif
