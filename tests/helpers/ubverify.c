// SPDX-License-Identifier: GPL-2.0
/*
 * ubverify: a model-based block device exerciser and verifier.
 *
 * This file holds the command table and dispatch, the sector checker that
 * every command shares, and the simple commands: fill, check-fill and
 * stamp.  "run" lives in ubv-run.c; "verify" and "dump-state" in
 * ubv-verify.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "stamp.h"
#include "ubverify.h"

#define UBV_VERSION	"1.0"

/* ------------------------------------------------------------- checker */

void checkctx_init(struct checkctx *c, const char *dev_path, uint64_t seed,
		   enum init_mode init, unsigned int max_errors)
{
	memset(c, 0, sizeof(*c));
	c->dev_path = dev_path;
	c->seed = seed;
	c->init = init;
	c->max_errors = max_errors;
	pthread_mutex_init(&c->lock, NULL);
}

void report_mismatch(struct checkctx *c, uint64_t sector,
		     const char *expected, const struct found *f,
		     const char *diagnosis)
{
	char fbuf[192];

	describe_found(fbuf, sizeof(fbuf), f);
	pthread_mutex_lock(&c->lock);
	c->mismatches++;
	if (c->mismatches <= c->max_errors)
		fprintf(stderr,
			"%s: %s: sector %llu (byte %llu): expected %s; found %s: %s\n",
			prog_name, c->dev_path, (unsigned long long)sector,
			(unsigned long long)sector << SECTOR_SHIFT, expected,
			fbuf, diagnosis);
	else if (c->mismatches == (uint64_t)c->max_errors + 1)
		fprintf(stderr, "%s: %s: further mismatches not shown\n",
			prog_name, c->dev_path);
	pthread_mutex_unlock(&c->lock);
}

bool check_sector(struct checkctx *c, uint64_t sector, uint64_t st,
		  const void *data, const void *base)
{
	struct found f;
	char ebuf[128];

	stamp_decode(data, base, &f);
	if (state_matches(st, c->init, c->seed, sector, &f))
		return true;
	describe_state(ebuf, sizeof(ebuf), st, c->init);
	report_mismatch(c, sector, ebuf, &f,
			diagnose(st, c->init, c->seed, sector, &f));
	return false;
}

int read_with_base(struct dev *d, struct dev *base, void *buf,
		   void *base_buf, uint64_t off, uint64_t len)
{
	uint64_t have;
	int r;

	r = ub_pread(d->fd, buf, len, off);
	if (r)
		return error("%s: read of %llu bytes at byte %llu failed: %s",
			     d->path, (unsigned long long)len,
			     (unsigned long long)off, strerror(-r));
	if (!base || base->fd < 0)
		return 0;
	have = off >= base->size ? 0 :
	       (base->size - off < len ? base->size - off : len);
	memset((char *)base_buf + have, 0, len - have);
	if (!have)
		return 0;
	r = ub_pread(base->fd, base_buf, have, off);
	if (r)
		return error("%s: read of %llu bytes at byte %llu failed: %s",
			     base->path, (unsigned long long)have,
			     (unsigned long long)off, strerror(-r));
	return 0;
}

/* ---------------------------------------------------------------- fill */

static const char fill_usage[] =
"usage: ubverify fill DEV --seed S [--size BYTES] [--gen G]\n"
"       ubverify check-fill DEV --seed S [--size BYTES] [--gen G]\n"
"\n"
"fill writes a stamp to every 512-byte sector of DEV (or of its first\n"
"BYTES), all with generation G (default 1) and seed S, and flushes.\n"
"check-fill reads them back and reports every sector that is not the\n"
"stamp fill would have written there.  With --size, fill creates a\n"
"missing image file and grows a short one.\n"
"\n"
"  --seed S        seed of the stamps (required)\n"
"  --size BYTES    bytes to cover (default: the whole device); k/M/G/T\n"
"  --gen G         generation to stamp (default 1)\n"
"  --max-errors N  mismatches to print (default 10)\n";

static const struct option fill_options[] = {
	{ "seed", required_argument, NULL, 's' },
	{ "size", required_argument, NULL, 'z' },
	{ "gen", required_argument, NULL, 'g' },
	{ "max-errors", required_argument, NULL, 'e' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int usage_error(const char *cmd, const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: %s: ", prog_name, cmd);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry '%s %s --help'.\n", prog_name, cmd);
	return EXIT_ERROR;
}

static int do_fill(int argc, char **argv, bool check)
{
	const char *cmd = argv[0];
	uint64_t seed = 0, size = 0, gen = STAMP_FILL_GEN, max_err = 10;
	bool have_seed = false;
	uint64_t off, len, i, bad = 0;
	struct checkctx cc;
	struct dev d;
	char *buf;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", fill_options, NULL)) != -1) {
		switch (c) {
		case 's':
			if (!parse_u64(optarg, &seed))
				return usage_error(cmd, "bad --seed '%s'", optarg);
			have_seed = true;
			break;
		case 'z':
			if (!parse_size(optarg, &size) || !size ||
			    size % SECTOR_SIZE)
				return usage_error(cmd,
					"bad --size '%s' (a non-zero multiple of 512)",
					optarg);
			break;
		case 'g':
			if (!parse_u64(optarg, &gen) || !gen ||
			    gen > ST_GEN_MASK)
				return usage_error(cmd, "bad --gen '%s'", optarg);
			break;
		case 'e':
			if (!parse_u64(optarg, &max_err) || max_err > 1000000)
				return usage_error(cmd, "bad --max-errors '%s'",
						   optarg);
			break;
		case 'h':
			fputs(fill_usage, stdout);
			return EXIT_OK;
		default:
			return usage_error(cmd, "%s", "bad option");
		}
	}
	if (optind + 1 != argc)
		return usage_error(cmd, "%s", "expected exactly one DEV");
	if (!have_seed)
		return usage_error(cmd, "%s", "--seed is required");

	if (dev_open(&d, argv[optind],
		     check ? DEV_DIRECT :
		     DEV_RW | DEV_DIRECT | (size ? DEV_CREATE : 0)))
		return EXIT_ERROR;
	if (!size)
		size = d.size - d.size % SECTOR_SIZE;
	if (!size) {
		error("%s: device is empty; give --size", d.path);
		goto bad;
	}
	if (check && size > d.size) {
		error("%s: device has %llu bytes, --size asks for %llu",
		      d.path, (unsigned long long)d.size,
		      (unsigned long long)size);
		goto bad;
	}
	if (!check && dev_ensure_size(&d, size))
		goto bad;

	checkctx_init(&cc, d.path, seed, INIT_UNCHECKED, (unsigned int)max_err);
	buf = xmalloc_aligned(UBV_CHUNK);
	for (off = 0; off < size; off += len) {
		uint64_t first = off >> SECTOR_SHIFT;

		len = size - off < UBV_CHUNK ? size - off : UBV_CHUNK;
		if (check) {
			r = read_with_base(&d, NULL, buf, NULL, off, len);
			if (r)
				goto bad_buf;
			for (i = 0; i < len >> SECTOR_SHIFT; i++)
				if (!check_sector(&cc, first + i,
						  st_make(ST_STAMP, gen),
						  buf + (i << SECTOR_SHIFT),
						  NULL))
					bad++;
			continue;
		}
		for (i = 0; i < len >> SECTOR_SHIFT; i++)
			stamp_make(buf + (i << SECTOR_SHIFT), seed, first + i,
				   gen);
		r = ub_pwrite(d.fd, buf, len, off);
		if (r) {
			error("%s: write of %llu bytes at byte %llu failed: %s",
			      d.path, (unsigned long long)len,
			      (unsigned long long)off, strerror(-r));
			goto bad_buf;
		}
	}
	if (!check && fdatasync(d.fd) < 0) {
		error("%s: flush failed: %s", d.path, strerror(errno));
		goto bad_buf;
	}
	free(buf);
	dev_close(&d);
	if (bad) {
		printf("%s: %s: %llu of %llu sectors do not match (seed %llu gen %llu)\n",
		       prog_name, argv[optind], (unsigned long long)bad,
		       (unsigned long long)(size >> SECTOR_SHIFT),
		       (unsigned long long)seed, (unsigned long long)gen);
		return EXIT_MISMATCH;
	}
	printf("%s: %s: %s %llu sectors (seed %llu gen %llu)\n", prog_name,
	       argv[optind], check ? "verified" : "filled",
	       (unsigned long long)(size >> SECTOR_SHIFT),
	       (unsigned long long)seed, (unsigned long long)gen);
	return EXIT_OK;
bad_buf:
	free(buf);
bad:
	dev_close(&d);
	return EXIT_ERROR;
}

static int cmd_fill(int argc, char **argv)
{
	return do_fill(argc, argv, false);
}

static int cmd_check_fill(int argc, char **argv)
{
	return do_fill(argc, argv, true);
}

/* --------------------------------------------------------------- stamp */

static const char stamp_usage[] =
"usage: ubverify stamp DEV --sector N --seed S --gen G [--as-sector M]\n"
"\n"
"Write one stamp at sector N of DEV, as if generation G of a run with seed\n"
"S had written it to sector M (default N).  For fault injection in tests:\n"
"--as-sector forges another sector's data, a lower --gen a stale write.\n";

static const struct option stamp_options[] = {
	{ "sector", required_argument, NULL, 'n' },
	{ "as-sector", required_argument, NULL, 'a' },
	{ "seed", required_argument, NULL, 's' },
	{ "gen", required_argument, NULL, 'g' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int cmd_stamp(int argc, char **argv)
{
	const char *cmd = argv[0];
	uint64_t sector = 0, as = 0, seed = 0, gen = 0;
	bool have_sector = false, have_as = false, have_seed = false;
	bool have_gen = false;
	struct dev d;
	char *buf;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", stamp_options, NULL)) != -1) {
		switch (c) {
		case 'n':
			have_sector = parse_u64(optarg, &sector);
			if (!have_sector)
				return usage_error(cmd, "bad --sector '%s'", optarg);
			break;
		case 'a':
			have_as = parse_u64(optarg, &as);
			if (!have_as)
				return usage_error(cmd, "bad --as-sector '%s'",
						   optarg);
			break;
		case 's':
			have_seed = parse_u64(optarg, &seed);
			if (!have_seed)
				return usage_error(cmd, "bad --seed '%s'", optarg);
			break;
		case 'g':
			have_gen = parse_u64(optarg, &gen);
			if (!have_gen)
				return usage_error(cmd, "bad --gen '%s'", optarg);
			break;
		case 'h':
			fputs(stamp_usage, stdout);
			return EXIT_OK;
		default:
			return usage_error(cmd, "%s", "bad option");
		}
	}
	if (optind + 1 != argc)
		return usage_error(cmd, "%s", "expected exactly one DEV");
	if (!have_sector || !have_seed || !have_gen)
		return usage_error(cmd, "%s",
				   "--sector, --seed and --gen are required");
	if (dev_open(&d, argv[optind], DEV_RW))
		return EXIT_ERROR;
	if ((sector + 1) << SECTOR_SHIFT > d.size) {
		error("%s: sector %llu is past the end", d.path,
		      (unsigned long long)sector);
		dev_close(&d);
		return EXIT_ERROR;
	}
	buf = xmalloc_aligned(SECTOR_SIZE);
	stamp_make(buf, seed, have_as ? as : sector, gen);
	r = ub_pwrite(d.fd, buf, SECTOR_SIZE, sector << SECTOR_SHIFT);
	if (!r && fsync(d.fd) < 0)
		r = -errno;
	free(buf);
	dev_close(&d);
	if (r) {
		error("%s: cannot write sector %llu: %s", argv[optind],
		      (unsigned long long)sector, strerror(-r));
		return EXIT_ERROR;
	}
	return EXIT_OK;
}

/* ------------------------------------------------------------ dispatch */

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *synopsis;
};

/* Sorted by name. */
static const struct command commands[] = {
	{ "check-fill", cmd_check_fill,
	  "check-fill DEV --seed S [--size BYTES] [--gen G]" },
	{ "dump-state", cmd_dump_state, "dump-state FILE [--blocks]" },
	{ "fill", cmd_fill, "fill DEV --seed S [--size BYTES] [--gen G]" },
	{ "run", cmd_run, "run DEV --seed S --ops N [options]" },
	{ "stamp", cmd_stamp,
	  "stamp DEV --sector N --seed S --gen G [--as-sector M]" },
	{ "verify", cmd_verify,
	  "verify DEV --state FILE [--expect-base BASEDEV] [--adopt]" },
};

static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: %s <command> [options]\n\n", prog_name);
	fprintf(out, "Commands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %s %s\n", prog_name, commands[i].synopsis);
	fprintf(out,
		"\n'%s <command> --help' describes a command's options.\n"
		"Exit status: 0 verified, 1 data mismatch, 2 usage, I/O or format error.\n",
		prog_name);
}

int main(int argc, char **argv)
{
	size_t i;

	prog_name = "ubverify";
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) {
		usage(stderr);
		return EXIT_ERROR;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("%s %s\n", prog_name, UBV_VERSION);
		return EXIT_OK;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "%s: '%s' is not a command\n", prog_name, argv[1]);
	usage(stderr);
	return EXIT_ERROR;
}
