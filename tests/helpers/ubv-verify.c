// SPDX-License-Identifier: GPL-2.0
/*
 * ubverify verify: check a device after a crash against the state file a
 * run left behind; ubverify dump-state: print a state file.
 *
 * The rule (ubv-state.h): each sector must hold its block's durable state
 * D, or a stamp of this sector and seed newer than D, or the content of a
 * journalled discard/zero-out newer than D.  When the run ended cleanly
 * (its final checkpoint was written) nothing newer than D exists, so the
 * device must hold exactly D.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "stamp.h"
#include "ubv-state.h"
#include "ubverify.h"

/* Per block, the newest journalled intent of each content kind. */
struct intents {
	uint64_t *zero;		/* ST_ZERO */
	uint64_t *init;		/* ST_INIT */
	uint64_t *any;		/* ST_ANY */
};

struct verify_counts {
	uint64_t durable;	/* held D */
	uint64_t newer;		/* held a later write */
	uint64_t intent;	/* held a later discard/zero-out */
	uint64_t bad;
};

static void intents_build(const struct ubv_state *s, struct intents *in)
{
	uint64_t i, b, *arr, gen;

	in->zero = xcalloc(s->hdr.nr_blocks, sizeof(uint64_t));
	in->init = xcalloc(s->hdr.nr_blocks, sizeof(uint64_t));
	in->any = xcalloc(s->hdr.nr_blocks, sizeof(uint64_t));
	for (i = 0; i < s->nr_jrecs; i++) {
		const struct ubv_jrec *r = &s->jrecs[i];

		if (r->type != UBV_JREC_INTENT)
			continue;
		switch (st_kind(r->state)) {
		case ST_ZERO:
			arr = in->zero;
			break;
		case ST_INIT:
			arr = in->init;
			break;
		case ST_ANY:
			arr = in->any;
			break;
		default:
			continue;
		}
		gen = st_gen(r->state);
		for (b = r->start; b < r->start + r->count; b++)
			if (gen > arr[b])
				arr[b] = gen;
	}
}

static void intents_free(struct intents *in)
{
	free(in->zero);
	free(in->init);
	free(in->any);
}

/*
 * Check one sector against durable state st of its block b.  Returns the
 * state the sector was found in (for --adopt), or st after a mismatch.
 */
static uint64_t verify_sector(struct checkctx *cc, const struct ubv_state *s,
			      const struct intents *in, uint64_t b,
			      uint64_t st, uint64_t sector, const void *data,
			      const void *base, struct verify_counts *n)
{
	bool final = s->hdr.flags & UBV_STATE_FINAL;
	enum init_mode init = (enum init_mode)s->hdr.init_mode;
	uint64_t gen = st_gen(st);
	struct found f;
	char ebuf[192];

	stamp_decode(data, base, &f);
	if (state_matches(st, init, cc->seed, sector, &f)) {
		n->durable++;
		return st;
	}
	if (!final) {
		if (f.kind == FOUND_STAMP && f.seed == cc->seed &&
		    f.sector == sector && f.gen > gen) {
			n->newer++;
			return st_make(ST_STAMP, f.gen);
		}
		n->intent++;
		if (in->zero[b] > gen && f.kind == FOUND_ZERO)
			return st_make(ST_ZERO, in->zero[b]);
		if (in->init[b] > gen &&
		    state_matches(st_make(ST_INIT, 0), init, cc->seed,
				  sector, &f))
			return st_make(ST_INIT, in->init[b]);
		if (in->any[b] > gen)
			return st_make(ST_ANY, in->any[b]);
		n->intent--;
	}
	describe_state(ebuf, sizeof(ebuf), st, init);
	if (!final)
		strncat(ebuf, " (durable) or a later write",
			sizeof(ebuf) - strlen(ebuf) - 1);
	report_mismatch(cc, sector, ebuf, &f,
			diagnose(st, init, cc->seed, sector, &f));
	n->bad++;
	return st;
}

/*
 * Fold a sector's found state into its block's: sectors that disagree (a
 * torn block) leave the block undefined until it is written again.
 */
static void adopt_sector(uint64_t *block_st, bool first, uint64_t found)
{
	uint64_t gen;

	if (first || *block_st == found)
		goto set;
	gen = st_gen(*block_st) > st_gen(found) ? st_gen(*block_st) :
						  st_gen(found);
	found = st_make(ST_ANY, gen);
set:
	*block_st = found;
}

static const char verify_usage[] =
"usage: ubverify verify DEV --state FILE [--expect-base BASEDEV] [--adopt]\n"
"\n"
"Check DEV after a crash (or a clean end) of 'ubverify run --state FILE'.\n"
"Each sector must hold what the last completed flush (or a completed FUA\n"
"write) made durable, or data of a request issued after it; never older\n"
"data, base data where a durable write exists, or another sector's data.\n"
"After a clean end the device must match the model exactly.\n"
"\n"
"  --state FILE           the run's state file (required)\n"
"  --expect-base BASEDEV  the base the run was given (required when the\n"
"                         run used --expect-base)\n"
"  --max-errors N         mismatches to print (default 10)\n"
"  --adopt                when DEV verifies, rewrite FILE to describe what\n"
"                         DEV holds now, as a clean end, so that 'run\n"
"                         --initial-state FILE' can go on from it\n";

static const struct option verify_options[] = {
	{ "adopt", no_argument, NULL, 'a' },
	{ "state", required_argument, NULL, 's' },
	{ "expect-base", required_argument, NULL, 'b' },
	{ "max-errors", required_argument, NULL, 'e' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_verify(int argc, char **argv)
{
	const char *cmd = argv[0], *state_path = NULL, *base_path = NULL;
	uint64_t max_err = UBV_MAX_ERRORS, *durable, chunk_blocks, b, n, i;
	struct verify_counts cnt = { 0 };
	struct ubv_state s;
	struct intents in;
	struct checkctx cc;
	struct dev d, base = { .fd = -1 };
	uint64_t *found = NULL, max_gen = 0;
	bool adopt = false;
	char *buf, *base_buf;
	int c, e = EXIT_ERROR;

	while ((c = getopt_long(argc, argv, "h", verify_options, NULL)) != -1) {
		switch (c) {
		case 's':
			state_path = optarg;
			break;
		case 'b':
			base_path = optarg;
			break;
		case 'a':
			adopt = true;
			break;
		case 'e':
			if (!parse_u64(optarg, &max_err) || max_err > 1000000)
				return usage_error(cmd, "bad --max-errors '%s'",
						   optarg);
			break;
		case 'h':
			fputs(verify_usage, stdout);
			return EXIT_OK;
		default:
			return usage_error(cmd, "%s", "bad option");
		}
	}
	if (optind + 1 != argc)
		return usage_error(cmd, "%s", "expected exactly one DEV");
	if (!state_path)
		return usage_error(cmd, "%s", "--state is required");

	if (state_load(&s, state_path))
		return EXIT_ERROR;
	if (s.hdr.init_mode == INIT_BASE && !base_path) {
		error("%s: the run checked against a base; give --expect-base",
		      state_path);
		goto out_state;
	}
	if (base_path && s.hdr.init_mode != INIT_BASE)
		warn("%s: the run had no --expect-base; ignoring %s",
		     state_path, base_path);
	if (dev_open(&d, argv[optind], DEV_DIRECT))
		goto out_state;
	if (d.size < s.hdr.size) {
		error("%s: device has %llu bytes, the state covers %llu",
		      d.path, (unsigned long long)d.size,
		      (unsigned long long)s.hdr.size);
		goto out_dev;
	}
	if (s.hdr.init_mode == INIT_BASE &&
	    dev_open(&base, base_path, 0))
		goto out_dev;

	durable = state_durable(&s);
	intents_build(&s, &in);
	checkctx_init(&cc, d.path, s.hdr.seed,
		      (enum init_mode)s.hdr.init_mode,
		      (unsigned int)max_err);
	if (adopt)
		found = xcalloc(s.hdr.nr_blocks, sizeof(*found));
	buf = xmalloc_aligned(UBV_CHUNK);
	base_buf = xmalloc_aligned(UBV_CHUNK);
	chunk_blocks = UBV_CHUNK / s.hdr.block_size;
	e = EXIT_OK;
	for (b = 0; b < s.hdr.nr_blocks; b += n) {
		uint64_t bs = s.hdr.block_size >> SECTOR_SHIFT;
		bool with_base = base.fd >= 0;

		n = s.hdr.nr_blocks - b < chunk_blocks ? s.hdr.nr_blocks - b :
							 chunk_blocks;
		if (read_with_base(&d, with_base ? &base : NULL, buf,
				   base_buf, b * s.hdr.block_size,
				   n * s.hdr.block_size)) {
			e = EXIT_ERROR;
			break;
		}
		for (i = 0; i < n * bs; i++) {
			uint64_t at = i << SECTOR_SHIFT, blk = b + i / bs, st;

			st = verify_sector(&cc, &s, &in, blk, durable[blk],
					   b * bs + i, buf + at,
					   with_base ? base_buf + at : NULL,
					   &cnt);
			if (found)
				adopt_sector(&found[blk], !(i % bs), st);
			if (st_gen(st) > max_gen)
				max_gen = st_gen(st);
		}
	}
	if (e == EXIT_OK) {
		printf("%s: %s: %llu sectors against checkpoint %llu (%llu ops%s): %llu durable, %llu newer writes, %llu newer discards/zero-outs; %s\n",
		       prog_name, d.path,
		       (unsigned long long)(s.hdr.size >> SECTOR_SHIFT),
		       (unsigned long long)s.hdr.ckpt_seq,
		       (unsigned long long)s.hdr.ops_done,
		       s.hdr.flags & UBV_STATE_FINAL ? ", clean end" : "",
		       (unsigned long long)cnt.durable,
		       (unsigned long long)cnt.newer,
		       (unsigned long long)cnt.intent,
		       cnt.bad ? "MISMATCH" : "ok");
		if (cnt.bad)
			e = EXIT_MISMATCH;
	}
	/*
	 * Requests issued after the checkpoint may have taken generations
	 * above any found; skip far past them so none is ever reused.
	 */
	if (e == EXIT_OK && found) {
		uint64_t next = s.hdr.next_gen > max_gen ? s.hdr.next_gen :
							   max_gen + 1;

		if (state_adopt(&s, found, next + (1ULL << 32)))
			e = EXIT_ERROR;
		else
			printf("%s: %s: now describes %s as it is (clean end)\n",
			       prog_name, state_path, d.path);
	}
	free(found);
	free(buf);
	free(base_buf);
	free(durable);
	intents_free(&in);
	dev_close(&base);
out_dev:
	dev_close(&d);
out_state:
	state_close(&s);
	return e;
}

/* ---------------------------------------------------------- dump-state */

static const char dump_usage[] =
"usage: ubverify dump-state FILE [--blocks]\n"
"\n"
"Print a state file's header and a count of durable states per kind.\n"
"--blocks also lists every run of blocks with the same durable state\n"
"(\"block FIRST-LAST: STATE\") and every journal record.\n";

static const struct option dump_options[] = {
	{ "blocks", no_argument, NULL, 'b' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_dump_state(int argc, char **argv)
{
	const char *cmd = argv[0];
	uint64_t counts[4] = { 0 }, *d, b, first, i, nint = 0;
	enum init_mode init;
	bool blocks = false;
	struct ubv_state s;
	char desc[192];
	int c;

	while ((c = getopt_long(argc, argv, "h", dump_options, NULL)) != -1) {
		switch (c) {
		case 'b':
			blocks = true;
			break;
		case 'h':
			fputs(dump_usage, stdout);
			return EXIT_OK;
		default:
			return usage_error(cmd, "%s", "bad option");
		}
	}
	if (optind + 1 != argc)
		return usage_error(cmd, "%s", "expected exactly one FILE");
	if (state_load(&s, argv[optind]))
		return EXIT_ERROR;
	init = (enum init_mode)s.hdr.init_mode;
	d = state_durable(&s);
	for (b = 0; b < s.hdr.nr_blocks; b++)
		counts[st_kind(d[b])]++;
	for (i = 0; i < s.nr_jrecs; i++)
		nint += s.jrecs[i].type == UBV_JREC_INTENT;
	printf("state file: %s\n", argv[optind]);
	printf("seed: %llu\n", (unsigned long long)s.hdr.seed);
	printf("size: %llu bytes (%llu blocks of %u bytes)\n",
	       (unsigned long long)s.hdr.size,
	       (unsigned long long)s.hdr.nr_blocks, s.hdr.block_size);
	printf("initial content: %s\n", init_mode_name(init));
	printf("checkpoint: %llu (after %llu ops, next gen %llu)%s\n",
	       (unsigned long long)s.hdr.ckpt_seq,
	       (unsigned long long)s.hdr.ops_done,
	       (unsigned long long)s.hdr.next_gen,
	       s.hdr.flags & UBV_STATE_FINAL ? ", clean end" : "");
	printf("journal: %llu records (%llu intent, %llu durable)\n",
	       (unsigned long long)s.nr_jrecs, (unsigned long long)nint,
	       (unsigned long long)(s.nr_jrecs - nint));
	printf("durable states: %llu initial, %llu stamp, %llu zero, %llu any\n",
	       (unsigned long long)counts[ST_INIT],
	       (unsigned long long)counts[ST_STAMP],
	       (unsigned long long)counts[ST_ZERO],
	       (unsigned long long)counts[ST_ANY]);
	if (blocks) {
		for (first = 0, b = 1; b <= s.hdr.nr_blocks; b++) {
			if (b < s.hdr.nr_blocks && d[b] == d[first])
				continue;
			describe_state(desc, sizeof(desc), d[first], init);
			printf("block %llu-%llu: %s\n",
			       (unsigned long long)first,
			       (unsigned long long)b - 1, desc);
			first = b;
		}
		for (i = 0; i < s.nr_jrecs; i++) {
			const struct ubv_jrec *r = &s.jrecs[i];

			describe_state(desc, sizeof(desc), r->state, init);
			printf("record %llu: %s block %llu-%llu: %s\n",
			       (unsigned long long)i,
			       r->type == UBV_JREC_INTENT ? "intent" : "durable",
			       (unsigned long long)r->start,
			       (unsigned long long)(r->start + r->count - 1),
			       desc);
		}
	}
	free(d);
	state_close(&s);
	return EXIT_OK;
}
