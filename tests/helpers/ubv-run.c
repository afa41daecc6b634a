// SPDX-License-Identifier: GPL-2.0
/*
 * ubverify run: random reads, writes, discards and zero-outs on a device,
 * every read checked against an exact model.
 *
 * The model holds one state per block of --align bytes (stamp.h).  A
 * request locks its block range (a range lock, so requests on disjoint
 * ranges run in parallel), takes a new generation, does its I/O and stores
 * the new states before unlocking.  Per block, generations therefore grow
 * in issue order and a read always knows the exact expected content.
 *
 * Durability (with --state): a checkpoint copies the model, then flushes
 * the device (fdatasync: REQ_PREFLUSH), then writes the copy to the state
 * file.  Every state in the copy had completed before the flush was issued,
 * so it is durable once the flush returns.  Discards and zero-outs are
 * journalled before they are issued, FUA writes after they complete; see
 * ubv-state.h for the rule "ubverify verify" applies after a crash.
 *
 * --hammer CHUNK: all threads write disjoint slices of the same chunk at
 * the same moment (the copy-up race of a COW target), then verify it:
 * thread 0 the whole chunk, the others their slices, concurrently; rounds
 * are separated by barriers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "stamp.h"
#include "ubv-state.h"
#include "ubverify.h"

#define RUN_MAX_THREADS	256
#define DEFAULT_MAX_IO	(1U << 20)	/* bytes */
#define DEFAULT_READ_PCT 40

struct run_opts {
	const char *dev_path;
	const char *state_path;
	const char *base_path;
	const char *snapshot_dir;
	const char *ckpt_cmd;	/* run after each checkpoint */
	const char *initial_state; /* clean-end state: the starting model */
	uint64_t seed;
	uint64_t ops;
	uint64_t size;		/* bytes; 0: the device's size */
	uint64_t min_io;	/* bytes */
	uint64_t max_io;	/* bytes */
	uint64_t align;		/* bytes: model block and I/O granularity */
	unsigned int read_pct;
	unsigned int discard_pct;
	unsigned int zero_pct;
	unsigned int fua_pct;
	uint64_t flush_every;	/* ops between checkpoints; 0: at the end */
	unsigned int threads;
	enum init_mode init;
	enum st_kind discard_kind;	/* what a discarded block reads as */
	uint64_t hammer;	/* chunk bytes; 0: off */
	bool disjoint;
	uint64_t crash_after;	/* ops; 0: off */
	uint64_t time_limit;	/* seconds; 0: none */
	bool final_verify;
	unsigned int max_errors;
	bool verbose;
	bool have_seed;
	bool have_align;
	bool have_init;
};

struct run_stats {
	uint64_t reads;
	uint64_t writes;
	uint64_t fua;
	uint64_t discards;
	uint64_t zeroes;
	uint64_t flushes;
	uint64_t sectors_checked;
};

/* Threads wait here until no other thread holds an overlapping range. */
struct range_lock {
	pthread_mutex_t mutex;
	pthread_cond_t cond;		/* signalled on every unlock */
	unsigned int nr;
	struct {
		uint64_t start, end;	/* blocks, [start, end) */
		bool held;
	} *slot;			/* one per thread, under mutex */
};

struct run {
	const struct run_opts *o;
	struct dev dev;
	int dsync_fd;			/* O_DSYNC descriptor for FUA writes */
	struct dev base;		/* fd -1 unless --expect-base */
	uint64_t nr_blocks;
	unsigned int block_sectors;
	uint64_t *model;		/* atomic; stable under the range lock */
	uint64_t *snap;			/* under ckpt_lock */
	char *snap_buf;			/* under ckpt_lock: --snapshot-dir */
	uint64_t next_gen;		/* atomic */
	uint64_t ops_started;		/* atomic */
	uint64_t ops_done;		/* atomic */
	int failed;			/* atomic: 0 or an EXIT_* code */
	struct range_lock rl;
	pthread_mutex_t ckpt_lock;	/* one checkpoint at a time */
	uint64_t ckpts;			/* under ckpt_lock */
	struct ubv_state state;
	bool have_state;
	struct ubv_state prev;		/* --initial-state */
	bool have_prev;
	struct checkctx cc;
	struct run_stats st;		/* atomic adds */
	struct timespec deadline;
	pthread_barrier_t barrier;	/* --hammer rounds */
	bool hammer_go;			/* set by thread 0 before a barrier */
	uint64_t hammer_chunk;		/* likewise */
	struct rng hammer_rng;		/* thread 0 only */
};

struct worker {
	struct run *r;
	unsigned int id;
	struct rng rng;
	char *buf;
	char *base_buf;
	uint64_t lo, hi;		/* blocks this thread may touch */
	pthread_t thread;
};

#define STAT_ADD(r, field, n) \
	__atomic_add_fetch(&(r)->st.field, (n), __ATOMIC_RELAXED)

/* ------------------------------------------------------------- locking */

static void rl_init(struct range_lock *rl, unsigned int nr)
{
	pthread_mutex_init(&rl->mutex, NULL);
	pthread_cond_init(&rl->cond, NULL);
	rl->nr = nr;
	rl->slot = xcalloc(nr, sizeof(*rl->slot));
}

static bool rl_busy(struct range_lock *rl, unsigned int id, uint64_t start,
		    uint64_t end)
{
	unsigned int i;

	for (i = 0; i < rl->nr; i++)
		if (i != id && rl->slot[i].held && start < rl->slot[i].end &&
		    rl->slot[i].start < end)
			return true;
	return false;
}

static void rl_lock(struct range_lock *rl, unsigned int id, uint64_t start,
		    uint64_t end)
{
	pthread_mutex_lock(&rl->mutex);
	while (rl_busy(rl, id, start, end))
		pthread_cond_wait(&rl->cond, &rl->mutex);
	rl->slot[id].start = start;
	rl->slot[id].end = end;
	rl->slot[id].held = true;
	pthread_mutex_unlock(&rl->mutex);
}

static void rl_unlock(struct range_lock *rl, unsigned int id)
{
	pthread_mutex_lock(&rl->mutex);
	rl->slot[id].held = false;
	pthread_cond_broadcast(&rl->cond);
	pthread_mutex_unlock(&rl->mutex);
}

/* ------------------------------------------------------------- helpers */

static void run_fail(struct run *r, int code)
{
	int zero = 0;

	__atomic_compare_exchange_n(&r->failed, &zero, code, false,
				    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

static bool run_stopping(struct run *r)
{
	struct timespec now;

	if (__atomic_load_n(&r->failed, __ATOMIC_SEQ_CST))
		return true;
	if (!r->o->time_limit)
		return false;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > r->deadline.tv_sec ||
	       (now.tv_sec == r->deadline.tv_sec &&
		now.tv_nsec >= r->deadline.tv_nsec);
}

static void model_set(struct run *r, uint64_t b, uint64_t n, uint64_t st)
{
	uint64_t i;

	for (i = 0; i < n; i++)
		__atomic_store_n(&r->model[b + i], st, __ATOMIC_RELEASE);
}

static uint64_t model_get(struct run *r, uint64_t b)
{
	return __atomic_load_n(&r->model[b], __ATOMIC_ACQUIRE);
}

/* ------------------------------------------------------------ requests */

static int do_write(struct worker *w, uint64_t b, uint64_t n, bool fua)
{
	struct run *r = w->r;
	const struct run_opts *o = r->o;
	uint64_t off = b * o->align, len = n * o->align;
	uint64_t first = off >> SECTOR_SHIFT, i, gen;
	int e;

	rl_lock(&r->rl, w->id, b, b + n);
	gen = __atomic_fetch_add(&r->next_gen, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < len >> SECTOR_SHIFT; i++)
		stamp_make(w->buf + (i << SECTOR_SHIFT), o->seed, first + i,
			   gen);
	e = ub_pwrite(fua ? r->dsync_fd : r->dev.fd, w->buf, len, off);
	if (e) {
		rl_unlock(&r->rl, w->id);
		error("%s: %swrite of %llu bytes at byte %llu failed: %s",
		      o->dev_path, fua ? "FUA " : "", (unsigned long long)len,
		      (unsigned long long)off, strerror(-e));
		return EXIT_ERROR;
	}
	model_set(r, b, n, st_make(ST_STAMP, gen));
	if (fua && r->have_state &&
	    state_log(&r->state, UBV_JREC_DURABLE, st_make(ST_STAMP, gen),
		      b, n)) {
		rl_unlock(&r->rl, w->id);
		return EXIT_ERROR;
	}
	rl_unlock(&r->rl, w->id);
	STAT_ADD(r, writes, 1);
	if (fua)
		STAT_ADD(r, fua, 1);
	return 0;
}

static int do_trim(struct worker *w, uint64_t b, uint64_t n, bool discard)
{
	struct run *r = w->r;
	const struct run_opts *o = r->o;
	uint64_t off = b * o->align, len = n * o->align, st;
	int e;

	rl_lock(&r->rl, w->id, b, b + n);
	st = st_make(discard ? o->discard_kind : ST_ZERO,
		     __atomic_fetch_add(&r->next_gen, 1, __ATOMIC_SEQ_CST));
	/* Journalled first: after a crash the blocks may hold st. */
	if (r->have_state &&
	    state_log(&r->state, UBV_JREC_INTENT, st, b, n)) {
		rl_unlock(&r->rl, w->id);
		return EXIT_ERROR;
	}
	e = discard ? dev_discard_range(&r->dev, off, len) :
		      dev_zero_range(&r->dev, off, len);
	if (e) {
		rl_unlock(&r->rl, w->id);
		if (discard && e == -EOPNOTSUPP)
			error("%s: discard is not supported; use --discard-pct 0",
			      o->dev_path);
		else
			error("%s: %s of %llu bytes at byte %llu failed: %s",
			      o->dev_path, discard ? "discard" : "zero-out",
			      (unsigned long long)len,
			      (unsigned long long)off, strerror(-e));
		return EXIT_ERROR;
	}
	model_set(r, b, n, st);
	rl_unlock(&r->rl, w->id);
	if (discard)
		STAT_ADD(r, discards, 1);
	else
		STAT_ADD(r, zeroes, 1);
	return 0;
}

/* Check len bytes at off, read into buf (and base_buf), against the model. */
static uint64_t check_blocks(struct run *r, const char *buf,
			     const char *base_buf, uint64_t b, uint64_t n)
{
	uint64_t first = b * r->block_sectors, i, bad = 0;
	uint64_t nr = n * r->block_sectors;

	for (i = 0; i < nr; i++) {
		uint64_t st = model_get(r, b + i / r->block_sectors);

		if (!check_sector(&r->cc, first + i, st,
				  buf + (i << SECTOR_SHIFT),
				  base_buf ? base_buf + (i << SECTOR_SHIFT) :
					     NULL))
			bad++;
	}
	STAT_ADD(r, sectors_checked, nr);
	return bad;
}

static int do_read(struct worker *w, uint64_t b, uint64_t n)
{
	struct run *r = w->r;
	uint64_t off = b * r->o->align, len = n * r->o->align, bad;
	bool base = r->base.fd >= 0;

	rl_lock(&r->rl, w->id, b, b + n);
	if (read_with_base(&r->dev, base ? &r->base : NULL, w->buf,
			   w->base_buf, off, len)) {
		rl_unlock(&r->rl, w->id);
		return EXIT_ERROR;
	}
	bad = check_blocks(r, w->buf, base ? w->base_buf : NULL, b, n);
	rl_unlock(&r->rl, w->id);
	STAT_ADD(r, reads, 1);
	return bad ? EXIT_MISMATCH : 0;
}

/* --------------------------------------------------------- checkpoints */

static int save_snapshot(struct run *r)
{
	char *path;
	uint64_t off, len;
	int fd, e = 0;

	if (asprintf(&path, "%s/ckpt-%llu.img", r->o->snapshot_dir,
		     (unsigned long long)r->ckpts) < 0)
		die("out of memory");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		error("%s: cannot create: %s", path, strerror(errno));
		free(path);
		return EXIT_ERROR;
	}
	for (off = 0; off < r->o->size && !e; off += len) {
		len = r->o->size - off < UBV_CHUNK ? r->o->size - off :
						      UBV_CHUNK;
		e = ub_pread(r->dev.fd, r->snap_buf, len, off);
		if (e) {
			error("%s: read at byte %llu failed: %s",
			      r->o->dev_path, (unsigned long long)off,
			      strerror(-e));
			break;
		}
		e = ub_pwrite(fd, r->snap_buf, len, off);
		if (e)
			error("%s: write failed: %s", path, strerror(-e));
	}
	close(fd);
	free(path);
	return e ? EXIT_ERROR : 0;
}

/* Run --checkpoint-cmd; checkpoints wait for it (ckpt_lock is held). */
static int checkpoint_cmd(struct run *r, bool final)
{
	char ckpt[48], fin[32], *state = NULL;
	char *env[] = { ckpt, fin, NULL, NULL };
	int st;

	snprintf(ckpt, sizeof(ckpt), "UBV_CHECKPOINT=%llu",
		 (unsigned long long)r->ckpts);
	snprintf(fin, sizeof(fin), "UBV_FINAL=%d", final);
	if (r->o->state_path) {
		if (asprintf(&state, "UBV_STATE=%s", r->o->state_path) < 0)
			die("out of memory");
		env[2] = state;
	}
	st = run_shell(r->o->ckpt_cmd, env);
	free(state);
	if (st) {
		if (st > 0)
			error("--checkpoint-cmd failed with status %d at checkpoint %llu",
			      st, (unsigned long long)r->ckpts);
		return EXIT_ERROR;
	}
	return 0;
}

/*
 * Copy the model, flush the device, record the copy.  The copy is taken
 * before the flush is issued, so it holds only completed states.
 */
static int checkpoint(struct run *r, bool final)
{
	uint64_t b, next_gen, done;
	int e = 0;

	pthread_mutex_lock(&r->ckpt_lock);
	for (b = 0; b < r->nr_blocks; b++)
		r->snap[b] = model_get(r, b);
	next_gen = __atomic_load_n(&r->next_gen, __ATOMIC_SEQ_CST);
	done = __atomic_load_n(&r->ops_done, __ATOMIC_SEQ_CST);
	if (fdatasync(r->dev.fd) < 0) {
		error("%s: flush failed: %s", r->o->dev_path, strerror(errno));
		e = EXIT_ERROR;
		goto out;
	}
	r->ckpts++;
	STAT_ADD(r, flushes, 1);
	if (r->have_state &&
	    state_checkpoint(&r->state, r->snap, next_gen, done, final)) {
		e = EXIT_ERROR;
		goto out;
	}
	if (r->o->verbose)
		fprintf(stderr, "%s: %s: checkpoint %llu after %llu ops\n",
			prog_name, r->o->dev_path,
			(unsigned long long)r->ckpts,
			(unsigned long long)done);
	if (r->o->snapshot_dir)
		e = save_snapshot(r);
	if (!e && r->o->ckpt_cmd)
		e = checkpoint_cmd(r, final);
out:
	pthread_mutex_unlock(&r->ckpt_lock);
	return e;
}

/* ------------------------------------------------------------- workers */

/* A log-uniform length in blocks within [min_io, max_io] and span. */
static uint64_t pick_len(struct worker *w, uint64_t span)
{
	const struct run_opts *o = w->r->o;
	uint64_t minb = o->min_io / o->align, maxb = o->max_io / o->align;
	uint64_t len, room;
	unsigned int steps = 0;

	if (maxb > span)
		maxb = span;
	if (minb > maxb)
		minb = maxb;
	while ((minb << (steps + 1)) <= maxb)
		steps++;
	len = minb << rng_below(&w->rng, steps + 1);
	room = maxb - len + 1 < len ? maxb - len + 1 : len;
	return len + rng_below(&w->rng, room);
}

static void *random_worker(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->r;
	const struct run_opts *o = r->o;
	uint64_t n, b, len, span = w->hi - w->lo;
	unsigned int p;
	int e;

	while (!run_stopping(r)) {
		n = __atomic_fetch_add(&r->ops_started, 1, __ATOMIC_SEQ_CST);
		if (n >= o->ops || (o->crash_after && n >= o->crash_after))
			break;
		len = pick_len(w, span);
		b = w->lo + rng_below(&w->rng, span - len + 1);
		p = (unsigned int)rng_below(&w->rng, 100);
		if (p < o->read_pct)
			e = do_read(w, b, len);
		else if ((p -= o->read_pct) < o->discard_pct)
			e = do_trim(w, b, len, true);
		else if ((p -= o->discard_pct) < o->zero_pct)
			e = do_trim(w, b, len, false);
		else
			e = do_write(w, b, len,
				     rng_below(&w->rng, 100) < o->fua_pct);
		if (e) {
			run_fail(r, e);
			break;
		}
		__atomic_add_fetch(&r->ops_done, 1, __ATOMIC_SEQ_CST);
		if (o->flush_every && (n + 1) % o->flush_every == 0) {
			e = checkpoint(r, false);
			if (e) {
				run_fail(r, e);
				break;
			}
		}
	}
	return NULL;
}

/* One request on a sub-range of this thread's slice of the chunk. */
static int hammer_slice(struct worker *w, uint64_t b, uint64_t n)
{
	const struct run_opts *o = w->r->o;
	uint64_t sub;
	unsigned int p;

	if (rng_below(&w->rng, 2)) {
		sub = 1 + rng_below(&w->rng, n);
		b += rng_below(&w->rng, n - sub + 1);
		n = sub;
	}
	p = (unsigned int)rng_below(&w->rng, 100);
	if (p < o->discard_pct)
		return do_trim(w, b, n, true);
	if (p - o->discard_pct < o->zero_pct)
		return do_trim(w, b, n, false);
	return do_write(w, b, n, rng_below(&w->rng, 100) < o->fua_pct);
}

static void *hammer_worker(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->r;
	const struct run_opts *o = r->o;
	uint64_t chunk_blocks = o->hammer / o->align;
	uint64_t slice = chunk_blocks / o->threads;
	uint64_t nr_chunks = r->nr_blocks / chunk_blocks;
	uint64_t rounds = o->ops / o->threads ? o->ops / o->threads : 1;
	uint64_t round, b, n;
	int e;

	for (round = 0;; round++) {
		/* Thread 0 decides for everyone, so all reach each barrier. */
		if (!w->id) {
			r->hammer_go = !run_stopping(r) && round < rounds &&
				       !(o->crash_after &&
					 round * o->threads >= o->crash_after);
			r->hammer_chunk = rng_below(&r->hammer_rng, nr_chunks);
		}
		pthread_barrier_wait(&r->barrier);
		if (!r->hammer_go)
			break;
		b = r->hammer_chunk * chunk_blocks + w->id * slice;
		n = w->id == o->threads - 1 ?
		    chunk_blocks - w->id * slice : slice;
		__atomic_add_fetch(&r->ops_started, 1, __ATOMIC_SEQ_CST);
		e = hammer_slice(w, b, n);
		if (!e)
			__atomic_add_fetch(&r->ops_done, 1, __ATOMIC_SEQ_CST);
		/* A flush racing with the other threads' copy-ups. */
		if (!e && !w->id && o->flush_every &&
		    (round + 1) % o->flush_every == 0)
			e = checkpoint(r, false);
		if (e)
			run_fail(r, e);
		pthread_barrier_wait(&r->barrier);
		/* Thread 0 reads the whole chunk, the others their slice. */
		e = w->id ? do_read(w, b, n) :
			    do_read(w, r->hammer_chunk * chunk_blocks,
				    chunk_blocks);
		if (e)
			run_fail(r, e);
		pthread_barrier_wait(&r->barrier);
	}
	return NULL;
}

/* --------------------------------------------------------- final check */

static int final_verify(struct run *r)
{
	uint64_t chunk_blocks = UBV_CHUNK / r->o->align, b, n, bad = 0;
	bool base = r->base.fd >= 0;
	char *buf = xmalloc_aligned(UBV_CHUNK);
	char *base_buf = xmalloc_aligned(UBV_CHUNK);
	int e = 0;

	for (b = 0; b < r->nr_blocks; b += n) {
		n = r->nr_blocks - b < chunk_blocks ? r->nr_blocks - b :
						      chunk_blocks;
		if (read_with_base(&r->dev, base ? &r->base : NULL, buf,
				   base_buf, b * r->o->align,
				   n * r->o->align)) {
			e = EXIT_ERROR;
			break;
		}
		bad += check_blocks(r, buf, base ? base_buf : NULL, b, n);
	}
	free(buf);
	free(base_buf);
	return e ? e : (bad ? EXIT_MISMATCH : 0);
}

/* ------------------------------------------------------------- options */

static const char run_usage[] =
"usage: ubverify run DEV --seed S --ops N [options]\n"
"\n"
"Random I/O on DEV with O_DIRECT; every read is checked against a model of\n"
"what each block must hold.  Stops after N requests (or --time), flushes,\n"
"then reads the whole device back (unless --no-final-verify).\n"
"\n"
"  --seed S             seed for stamps and request choice (required)\n"
"  --ops N              requests to issue (required)\n"
"  --size BYTES         bytes of DEV to use (default: all); a missing\n"
"                       image file is created, a short one grown\n"
"  --align BYTES        I/O granularity and model block (default 512)\n"
"  --min-io BYTES       smallest request (default: --align)\n"
"  --max-io BYTES       largest request (default 1M)\n"
"  --read-pct P         percentage of reads (default 40)\n"
"  --discard-pct P      percentage of discards (BLKDISCARD; default 0)\n"
"  --zero-pct P         percentage of zero-outs (BLKZEROOUT; default 0)\n"
"                       the rest are writes\n"
"  --fua-pct P          percentage of writes made O_DSYNC (FUA; default 0)\n"
"  --flush-every K      checkpoint (fdatasync) every K requests, or every\n"
"                       K rounds with --hammer (default: only at the end)\n"
"  --threads T          concurrent threads (default 1); ranges may overlap\n"
"  --disjoint           give each thread its own slice of the device\n"
"  --hammer CHUNK       each round, all threads write disjoint slices of one\n"
"                       CHUNK-byte chunk at once, then verify it (copy-up races)\n"
"  --state FILE         record durable states for 'ubverify verify'\n"
"  --expect-base BASEDEV  unwritten blocks must equal BASEDEV's bytes\n"
"  --expect-zero        unwritten blocks must read as zeroes\n"
"  --initial-state FILE start from the model of a clean-end state file\n"
"                       (a finished run, or 'verify --adopt' after a\n"
"                       crash): same seed, size, align and base; the\n"
"                       generations continue\n"
"  --discard-reads zero|initial|any\n"
"                       what a discarded block reads as (default zero)\n"
"  --crash-after N      stop after N requests with no final flush or\n"
"                       check, as if power failed (host crash emulation)\n"
"  --checkpoint-cmd CMD\n"
"                       after each checkpoint is recorded, run 'sh -c CMD'\n"
"                       with UBV_CHECKPOINT=K, UBV_FINAL=0|1 and UBV_STATE\n"
"                       set (e.g. copy the state, mark a dm-log-writes log);\n"
"                       I/O goes on meanwhile, the next checkpoint waits\n"
"  --snapshot-dir DIR   copy the device to DIR/ckpt-K.img at checkpoint K\n"
"                       (tests of the crash rule; needs --threads 1)\n"
"  --time SECONDS       stop after this long even if N is not reached\n"
"  --no-final-verify    skip the whole-device read at the end\n"
"  --max-errors N       mismatches to print (default 10)\n"
"  --verbose            report each checkpoint\n"
"\n"
"Stamps carry generations from 2 up (fill uses 1): use a different seed\n"
"for a base filled with 'ubverify fill'.\n";

enum {
	OPT_SEED = 256, OPT_OPS, OPT_SIZE, OPT_ALIGN, OPT_MIN_IO, OPT_MAX_IO,
	OPT_READ, OPT_DISCARD, OPT_ZERO, OPT_FUA, OPT_FLUSH, OPT_THREADS,
	OPT_DISJOINT, OPT_HAMMER, OPT_STATE, OPT_BASE, OPT_EXPECT_ZERO,
	OPT_DISCARD_READS, OPT_CRASH, OPT_SNAPSHOT, OPT_TIME, OPT_NO_FINAL,
	OPT_MAX_ERRORS, OPT_VERBOSE, OPT_CKPT_CMD, OPT_INITIAL,
};

static const struct option run_options[] = {
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "ops", required_argument, NULL, OPT_OPS },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "align", required_argument, NULL, OPT_ALIGN },
	{ "min-io", required_argument, NULL, OPT_MIN_IO },
	{ "max-io", required_argument, NULL, OPT_MAX_IO },
	{ "read-pct", required_argument, NULL, OPT_READ },
	{ "discard-pct", required_argument, NULL, OPT_DISCARD },
	{ "zero-pct", required_argument, NULL, OPT_ZERO },
	{ "fua-pct", required_argument, NULL, OPT_FUA },
	{ "flush-every", required_argument, NULL, OPT_FLUSH },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "disjoint", no_argument, NULL, OPT_DISJOINT },
	{ "hammer", required_argument, NULL, OPT_HAMMER },
	{ "state", required_argument, NULL, OPT_STATE },
	{ "expect-base", required_argument, NULL, OPT_BASE },
	{ "expect-zero", no_argument, NULL, OPT_EXPECT_ZERO },
	{ "discard-reads", required_argument, NULL, OPT_DISCARD_READS },
	{ "crash-after", required_argument, NULL, OPT_CRASH },
	{ "snapshot-dir", required_argument, NULL, OPT_SNAPSHOT },
	{ "checkpoint-cmd", required_argument, NULL, OPT_CKPT_CMD },
	{ "initial-state", required_argument, NULL, OPT_INITIAL },
	{ "time", required_argument, NULL, OPT_TIME },
	{ "no-final-verify", no_argument, NULL, OPT_NO_FINAL },
	{ "max-errors", required_argument, NULL, OPT_MAX_ERRORS },
	{ "verbose", no_argument, NULL, OPT_VERBOSE },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/*
 * Take seed, size, align and initial-content mode from the clean-end state
 * prev (--initial-state); options given too must agree.  0, or -1 after an
 * error message.
 */
static int adopt_initial_state(struct run_opts *o, struct ubv_state *prev)
{
	const char *path = o->initial_state;
	const struct ubv_state_header *h = &prev->hdr;

	if (state_load(prev, path))
		return -1;
	if (!(h->flags & UBV_STATE_FINAL))
		return error("%s: not from a clean end, so the device's content is not known exactly; run 'ubverify verify --adopt' first",
			     path);
	if (o->have_seed && o->seed != h->seed)
		return error("%s: --seed %llu differs from the state's %llu",
			     path, (unsigned long long)o->seed,
			     (unsigned long long)h->seed);
	if (o->have_align && o->align != h->block_size)
		return error("%s: --align %llu differs from the state's %u",
			     path, (unsigned long long)o->align,
			     h->block_size);
	if (o->size && o->size != h->size)
		return error("%s: --size %llu differs from the state's %llu",
			     path, (unsigned long long)o->size,
			     (unsigned long long)h->size);
	if (o->have_init && o->init != (enum init_mode)h->init_mode)
		return error("%s: the state's initial content is %s, not %s",
			     path, init_mode_name(h->init_mode),
			     init_mode_name(o->init));
	if (h->init_mode == INIT_BASE && !o->base_path)
		return error("%s: the state was made with a base; give --expect-base",
			     path);
	o->seed = h->seed;
	o->align = h->block_size;
	o->size = h->size;
	o->init = (enum init_mode)h->init_mode;
	return 0;
}

/* Parse argv into o; returns -1 to go on, or an exit code. */
static int parse_run_options(int argc, char **argv, struct run_opts *o,
			     struct ubv_state *prev)
{
	const char *cmd = argv[0];
	bool have_ops = false;
	uint64_t v;
	int c;

	memset(o, 0, sizeof(*o));
	o->align = SECTOR_SIZE;
	o->max_io = DEFAULT_MAX_IO;
	o->read_pct = DEFAULT_READ_PCT;
	o->threads = 1;
	o->discard_kind = ST_ZERO;
	o->final_verify = true;
	o->max_errors = UBV_MAX_ERRORS;

	while ((c = getopt_long(argc, argv, "h", run_options, NULL)) != -1) {
		switch (c) {
		case OPT_SEED:
			if (!parse_u64(optarg, &o->seed))
				return usage_error(cmd, "bad --seed '%s'", optarg);
			o->have_seed = true;
			break;
		case OPT_OPS:
			if (!parse_u64(optarg, &o->ops))
				return usage_error(cmd, "bad --ops '%s'", optarg);
			have_ops = true;
			break;
		case OPT_SIZE:
			if (!parse_size(optarg, &o->size) || !o->size)
				return usage_error(cmd, "bad --size '%s'", optarg);
			break;
		case OPT_ALIGN:
			if (!parse_size(optarg, &o->align) ||
			    o->align < SECTOR_SIZE || o->align > UBV_CHUNK ||
			    (o->align & (o->align - 1)))
				return usage_error(cmd,
					"bad --align '%s' (a power of two, 512 to 1M)",
					optarg);
			o->have_align = true;
			break;
		case OPT_MIN_IO:
			if (!parse_size(optarg, &o->min_io) || !o->min_io)
				return usage_error(cmd, "bad --min-io '%s'", optarg);
			break;
		case OPT_MAX_IO:
			if (!parse_size(optarg, &o->max_io) || !o->max_io)
				return usage_error(cmd, "bad --max-io '%s'", optarg);
			break;
		case OPT_READ:
			if (!parse_pct(optarg, &o->read_pct))
				return usage_error(cmd, "bad --read-pct '%s'", optarg);
			break;
		case OPT_DISCARD:
			if (!parse_pct(optarg, &o->discard_pct))
				return usage_error(cmd, "bad --discard-pct '%s'",
						   optarg);
			break;
		case OPT_ZERO:
			if (!parse_pct(optarg, &o->zero_pct))
				return usage_error(cmd, "bad --zero-pct '%s'", optarg);
			break;
		case OPT_FUA:
			if (!parse_pct(optarg, &o->fua_pct))
				return usage_error(cmd, "bad --fua-pct '%s'", optarg);
			break;
		case OPT_FLUSH:
			if (!parse_u64(optarg, &o->flush_every))
				return usage_error(cmd, "bad --flush-every '%s'",
						   optarg);
			break;
		case OPT_THREADS:
			if (!parse_u64(optarg, &v) || !v || v > RUN_MAX_THREADS)
				return usage_error(cmd,
					"bad --threads '%s' (1 to 256)", optarg);
			o->threads = (unsigned int)v;
			break;
		case OPT_DISJOINT:
			o->disjoint = true;
			break;
		case OPT_HAMMER:
			if (!parse_size(optarg, &o->hammer) || !o->hammer)
				return usage_error(cmd, "bad --hammer '%s'", optarg);
			break;
		case OPT_STATE:
			o->state_path = optarg;
			break;
		case OPT_BASE:
			o->base_path = optarg;
			o->init = INIT_BASE;
			o->have_init = true;
			break;
		case OPT_EXPECT_ZERO:
			o->init = INIT_ZERO;
			o->have_init = true;
			break;
		case OPT_DISCARD_READS:
			if (!strcmp(optarg, "zero"))
				o->discard_kind = ST_ZERO;
			else if (!strcmp(optarg, "initial"))
				o->discard_kind = ST_INIT;
			else if (!strcmp(optarg, "any"))
				o->discard_kind = ST_ANY;
			else
				return usage_error(cmd,
					"bad --discard-reads '%s' (zero, initial or any)",
					optarg);
			break;
		case OPT_CRASH:
			if (!parse_u64(optarg, &o->crash_after) ||
			    !o->crash_after)
				return usage_error(cmd, "bad --crash-after '%s'",
						   optarg);
			break;
		case OPT_SNAPSHOT:
			o->snapshot_dir = optarg;
			break;
		case OPT_CKPT_CMD:
			o->ckpt_cmd = optarg;
			break;
		case OPT_INITIAL:
			o->initial_state = optarg;
			break;
		case OPT_TIME:
			if (!parse_u64(optarg, &o->time_limit))
				return usage_error(cmd, "bad --time '%s'", optarg);
			break;
		case OPT_NO_FINAL:
			o->final_verify = false;
			break;
		case OPT_MAX_ERRORS:
			if (!parse_u64(optarg, &v) || v > 1000000)
				return usage_error(cmd, "bad --max-errors '%s'",
						   optarg);
			o->max_errors = (unsigned int)v;
			break;
		case OPT_VERBOSE:
			o->verbose = true;
			break;
		case 'h':
			fputs(run_usage, stdout);
			return EXIT_OK;
		default:
			return usage_error(cmd, "%s", "bad option");
		}
	}
	if (optind + 1 != argc)
		return usage_error(cmd, "%s", "expected exactly one DEV");
	o->dev_path = argv[optind];
	if (!have_ops || (!o->have_seed && !o->initial_state))
		return usage_error(cmd, "%s", "--seed and --ops are required");
	if (o->initial_state && adopt_initial_state(o, prev))
		return EXIT_ERROR;
	if (!o->min_io)
		o->min_io = o->align;
	if (o->min_io % o->align || o->max_io % o->align)
		return usage_error(cmd, "%s",
				   "--min-io and --max-io must be multiples of --align");
	if (o->min_io > o->max_io)
		return usage_error(cmd, "%s", "--min-io is above --max-io");
	if (o->read_pct + o->discard_pct + o->zero_pct > 100)
		return usage_error(cmd, "%s",
				   "--read-pct, --discard-pct and --zero-pct add up to more than 100");
	if (o->hammer && (o->hammer % o->align ||
			  o->hammer / o->align < o->threads ||
			  o->hammer > 64 * (uint64_t)UBV_CHUNK))
		return usage_error(cmd, "%s",
				   "--hammer must be a multiple of --align, at least --threads blocks, at most 64M");
	if (o->hammer && o->disjoint)
		return usage_error(cmd, "%s",
				   "--hammer and --disjoint conflict");
	if (o->snapshot_dir && o->threads != 1)
		return usage_error(cmd, "%s", "--snapshot-dir needs --threads 1");
	if (o->discard_kind == ST_INIT && o->init == INIT_UNCHECKED &&
	    o->discard_pct)
		warn("--discard-reads initial without --expect-base or --expect-zero: discarded blocks go unchecked");
	return -1;
}

/* ------------------------------------------------------------- command */

/* Open the devices and the state file; 0, or -1 after an error message. */
static int run_setup(struct run *r, struct run_opts *o)
{
	if (dev_open(&r->dev, o->dev_path, DEV_RW | DEV_DIRECT |
		     (o->size ? DEV_CREATE : 0)))
		return -1;
	if (r->dev.direct && o->align < r->dev.lbs)
		return error("%s: --align %llu is below the device's logical block size %u",
			     o->dev_path, (unsigned long long)o->align,
			     r->dev.lbs);
	if (!o->size)
		o->size = r->dev.size - r->dev.size % o->align;
	if (!o->size)
		return error("%s: device is empty; give --size", o->dev_path);
	if (o->size % o->align)
		return error("%s: --size is not a multiple of --align",
			     o->dev_path);
	if (dev_ensure_size(&r->dev, o->size))
		return -1;
	if (o->fua_pct) {
		r->dsync_fd = open(o->dev_path, O_RDWR | O_DSYNC | O_CLOEXEC |
				   (r->dev.direct ? O_DIRECT : 0));
		if (r->dsync_fd < 0)
			return error("%s: cannot open with O_DSYNC: %s",
				     o->dev_path, strerror(errno));
	}
	if (o->base_path && dev_open(&r->base, o->base_path, 0))
		return -1;
	r->nr_blocks = o->size / o->align;
	r->block_sectors = (unsigned int)(o->align >> SECTOR_SHIFT);
	if (o->hammer && o->size < o->hammer)
		return error("%s: device is smaller than one --hammer chunk",
			     o->dev_path);
	if (o->disjoint && r->nr_blocks < o->threads)
		return error("%s: fewer blocks than threads for --disjoint",
			     o->dev_path);
	if (r->have_prev)
		r->model = state_durable(&r->prev);
	else
		r->model = xcalloc(r->nr_blocks, sizeof(*r->model));
	r->snap = xcalloc(r->nr_blocks, sizeof(*r->snap));
	if (o->snapshot_dir)
		r->snap_buf = xmalloc_aligned(UBV_CHUNK);
	r->next_gen = r->have_prev ? r->prev.hdr.next_gen : STAMP_FIRST_GEN;
	rl_init(&r->rl, o->threads);
	pthread_mutex_init(&r->ckpt_lock, NULL);
	checkctx_init(&r->cc, o->dev_path, o->seed, o->init, o->max_errors);
	rng_seed(&r->hammer_rng, o->seed ^ 0x68616d6d6572ULL);
	if (o->state_path) {
		if (state_create(&r->state, o->state_path, o->seed, o->size,
				 (uint32_t)o->align, o->init,
				 r->have_prev ? r->model : NULL, r->next_gen))
			return -1;
		r->have_state = true;
	}
	clock_gettime(CLOCK_MONOTONIC, &r->deadline);
	r->deadline.tv_sec += (time_t)o->time_limit;
	return 0;
}

static void run_teardown(struct run *r)
{
	if (r->have_state)
		state_close(&r->state);
	if (r->have_prev)
		state_close(&r->prev);
	if (r->dsync_fd >= 0)
		close(r->dsync_fd);
	dev_close(&r->base);
	dev_close(&r->dev);
	free(r->model);
	free(r->snap);
	free(r->snap_buf);
	free(r->rl.slot);
}

static void print_summary(struct run *r, const char *verdict)
{
	struct run_stats *s = &r->st;

	printf("%s: %s: %llu ops: %llu reads, %llu writes (%llu FUA), %llu discards, %llu zero-outs, %llu flushes; %llu sectors checked; %s\n",
	       prog_name, r->o->dev_path,
	       (unsigned long long)r->ops_done, (unsigned long long)s->reads,
	       (unsigned long long)s->writes, (unsigned long long)s->fua,
	       (unsigned long long)s->discards, (unsigned long long)s->zeroes,
	       (unsigned long long)s->flushes,
	       (unsigned long long)s->sectors_checked, verdict);
}

int cmd_run(int argc, char **argv)
{
	struct run_opts o;
	struct run r;
	struct worker *w;
	uint64_t bufsize;
	unsigned int i;
	int e;

	memset(&r, 0, sizeof(r));
	e = parse_run_options(argc, argv, &o, &r.prev);
	r.have_prev = o.initial_state && r.prev.path;
	if (e >= 0) {
		if (r.have_prev)
			state_close(&r.prev);
		return e;
	}
	r.o = &o;
	r.dsync_fd = -1;
	r.base.fd = -1;
	r.dev.fd = -1;
	e = run_setup(&r, &o);
	if (e) {
		run_teardown(&r);
		return EXIT_ERROR;
	}

	bufsize = o.max_io > o.hammer ? o.max_io : o.hammer;
	w = xcalloc(o.threads, sizeof(*w));
	if (o.hammer)
		pthread_barrier_init(&r.barrier, NULL, o.threads);
	for (i = 0; i < o.threads; i++) {
		w[i].r = &r;
		w[i].id = i;
		/* A continued run must not repeat its predecessor's choices. */
		rng_seed(&w[i].rng, (o.seed * 0x100000001b3ULL + i) ^
			 mix64(r.next_gen));
		w[i].buf = xmalloc_aligned(bufsize);
		w[i].base_buf = xmalloc_aligned(bufsize);
		w[i].lo = o.disjoint ? r.nr_blocks * i / o.threads : 0;
		w[i].hi = o.disjoint ? r.nr_blocks * (i + 1) / o.threads :
				       r.nr_blocks;
		if (pthread_create(&w[i].thread, NULL,
				   o.hammer ? hammer_worker : random_worker,
				   &w[i]))
			die("cannot start thread %u", i);
	}
	for (i = 0; i < o.threads; i++) {
		pthread_join(w[i].thread, NULL);
		free(w[i].buf);
		free(w[i].base_buf);
	}
	free(w);

	e = r.failed;
	if (!e && o.crash_after && r.ops_started >= o.crash_after) {
		print_summary(&r, "stopped as if by a crash (no final flush)");
		run_teardown(&r);
		return EXIT_OK;
	}
	if (!e)
		e = checkpoint(&r, true);
	if (!e && o.final_verify)
		e = final_verify(&r);
	print_summary(&r, e == EXIT_MISMATCH ? "MISMATCH" :
			  e ? "ERROR" : "ok");
	run_teardown(&r);
	return e;
}
