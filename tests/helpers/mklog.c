// SPDX-License-Identifier: GPL-2.0
/*
 * mklog: write a synthetic dm-log-writes log (log-writes.h) from a script,
 * and the device images replaying it should produce, for replay-log's
 * self-tests.  The images are computed here, independently of replay-log:
 * an in-memory device, initially zero, with discards as zeroes.
 *
 * Script (stdin), one entry per line; SECTOR and NR in log blocks:
 *
 *   write SECTOR NR [flush] [fua] [meta]
 *   discard SECTOR NR
 *   flush
 *   mark NAME
 *   # comment
 *
 * Each 512 bytes of written data start with "MKLG", the entry index (le32)
 * and the device byte offset (le64), then a byte pattern of the entry.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "log-writes.h"

#define MAX_LINE	1024

struct mk_entry {
	uint64_t sector;
	uint64_t nr;
	uint64_t flags;
	char *mark;
};

static const char usage_text[] =
"usage: mklog LOG [--block-size B] [--dev-size BYTES] [--expect PREFIX]\n"
"             [--uncounted-tail] < SCRIPT\n"
"\n"
"Write a dm-log-writes log to LOG from SCRIPT (see mklog.c).  With\n"
"--expect, also write the device images replay should give:\n"
"PREFIX.flush-K after the K-th flush point, PREFIX.mark-NAME after a mark,\n"
"PREFIX.final after the last counted entry (all --dev-size bytes).\n"
"--uncounted-tail makes the super count entries only up to the last FUA\n"
"or mark, as the kernel does while the target is live.\n";

static void fill_data(unsigned char *p, uint64_t len, uint64_t index,
		      uint64_t dev_off)
{
	uint64_t u;
	uint32_t idx = htole32((uint32_t)index);
	uint64_t off;

	for (u = 0; u < len; u += SECTOR_SIZE) {
		memset(p + u, (int)((index * 7 + u / SECTOR_SIZE) & 0xff),
		       SECTOR_SIZE);
		memcpy(p + u, "MKLG", 4);
		memcpy(p + u + 4, &idx, 4);
		off = htole64(dev_off + u);
		memcpy(p + u + 8, &off, 8);
	}
}

static int write_image(const char *prefix, const char *suffix,
		       const unsigned char *img, uint64_t size)
{
	char *path;
	int fd, r;

	if (asprintf(&path, "%s.%s", prefix, suffix) < 0)
		die("out of memory");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = error("%s: cannot create: %s", path, strerror(errno));
		free(path);
		return r;
	}
	r = ub_pwrite(fd, img, size, 0);
	if (r)
		error("%s: cannot write: %s", path, strerror(-r));
	close(fd);
	free(path);
	return r ? -1 : 0;
}

static int parse_script(FILE *in, struct mk_entry **out, uint64_t *nr_out)
{
	char line[MAX_LINE], *tok, *save;
	struct mk_entry *v = NULL, e;
	uint64_t n = 0, cap = 0, lineno = 0;

	while (fgets(line, sizeof(line), in)) {
		lineno++;
		tok = strtok_r(line, " \t\n", &save);
		if (!tok || tok[0] == '#')
			continue;
		memset(&e, 0, sizeof(e));
		if (!strcmp(tok, "write") || !strcmp(tok, "discard")) {
			bool discard = tok[0] == 'd';
			char *s = strtok_r(NULL, " \t\n", &save);
			char *c = strtok_r(NULL, " \t\n", &save);

			if (!parse_u64(s, &e.sector) || !parse_u64(c, &e.nr) ||
			    !e.nr)
				return error("script line %llu: expected '%s SECTOR NR'",
					     (unsigned long long)lineno,
					     tok);
			if (discard)
				e.flags = LW_DISCARD;
			while ((tok = strtok_r(NULL, " \t\n", &save))) {
				if (discard)
					return error("script line %llu: discard takes no flags",
						     (unsigned long long)
						     lineno);
				if (!strcmp(tok, "flush"))
					e.flags |= LW_FLUSH;
				else if (!strcmp(tok, "fua"))
					e.flags |= LW_FUA;
				else if (!strcmp(tok, "meta"))
					e.flags |= LW_METADATA;
				else
					return error("script line %llu: unknown flag '%s'",
						     (unsigned long long)
						     lineno, tok);
			}
		} else if (!strcmp(tok, "flush")) {
			e.flags = LW_FLUSH;
		} else if (!strcmp(tok, "mark")) {
			tok = strtok_r(NULL, " \t\n", &save);
			if (!tok)
				return error("script line %llu: mark needs a NAME",
					     (unsigned long long)lineno);
			e.flags = LW_MARK;
			e.mark = strdup(tok);
		} else {
			return error("script line %llu: unknown entry '%s'",
				     (unsigned long long)lineno, tok);
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			v = realloc(v, cap * sizeof(*v));
			if (!v)
				die("out of memory");
		}
		v[n++] = e;
	}
	*out = v;
	*nr_out = n;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "block-size", required_argument, NULL, 'b' },
		{ "dev-size", required_argument, NULL, 'd' },
		{ "expect", required_argument, NULL, 'e' },
		{ "uncounted-tail", no_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t bs = 512, dev_size = 1 << 20, nr, counted, i, pos, flushes = 0;
	const char *prefix = NULL, *path;
	bool uncounted = false;
	struct mk_entry *v;
	struct lw_super sb;
	struct lw_entry le;
	unsigned char *blk, *data, *img = NULL;
	char name[64];
	int fd, c, r;

	prog_name = "mklog";
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (!parse_size(optarg, &bs) || bs < LW_MIN_BLOCK ||
			    bs > LW_MAX_BLOCK || (bs & (bs - 1)))
				die("bad --block-size '%s'", optarg);
			break;
		case 'd':
			if (!parse_size(optarg, &dev_size) || !dev_size)
				die("bad --dev-size '%s'", optarg);
			break;
		case 'e':
			prefix = optarg;
			break;
		case 'u':
			uncounted = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_OK;
		default:
			fputs(usage_text, stderr);
			return EXIT_ERROR;
		}
	}
	if (optind + 1 != argc) {
		fputs(usage_text, stderr);
		return EXIT_ERROR;
	}
	path = argv[optind];
	if (parse_script(stdin, &v, &nr))
		return EXIT_ERROR;
	counted = nr;
	if (uncounted)
		while (counted && !(v[counted - 1].flags & (LW_FUA | LW_MARK)))
			counted--;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die("%s: cannot create: %s", path, strerror(errno));
	blk = xmalloc_aligned(bs);
	if (prefix) {
		img = xcalloc(1, dev_size);
	}
	memset(blk, 0, bs);
	sb.magic = htole64(LW_MAGIC);
	sb.version = htole64(LW_VERSION);
	sb.nr_entries = htole64(counted);
	sb.sectorsize = htole32((uint32_t)bs);
	memcpy(blk, &sb, sizeof(sb));
	r = ub_pwrite(fd, blk, bs, 0);
	pos = bs;
	for (i = 0; i < nr && !r; i++) {
		struct mk_entry *e = &v[i];
		uint64_t dlen = (e->flags & LW_DISCARD) ? 0 : e->nr * bs;
		uint64_t doff = e->sector * bs;

		memset(blk, 0, bs);
		le.sector = htole64(e->sector);
		le.nr_sectors = htole64(e->nr);
		le.flags = htole64(e->flags);
		le.data_len = htole64(e->mark ? strlen(e->mark) : 0);
		memcpy(blk, &le, sizeof(le));
		if (e->mark)
			memcpy(blk + sizeof(le), e->mark, strlen(e->mark));
		r = ub_pwrite(fd, blk, bs, pos);
		pos += bs;
		if (r)
			break;
		data = NULL;
		if (dlen) {
			data = xmalloc_aligned(dlen);
			fill_data(data, dlen, i, doff);
			r = ub_pwrite(fd, data, dlen, pos);
			pos += dlen;
		}
		if (img && i < counted && e->nr) {
			if (doff + e->nr * bs > dev_size)
				die("entry %llu is past --dev-size",
				    (unsigned long long)i);
			if (data)
				memcpy(img + doff, data, dlen);
			else
				memset(img + doff, 0, e->nr * bs);
		}
		free(data);
		if (!img || i >= counted)
			continue;
		if (e->flags & (LW_FLUSH | LW_FUA)) {
			snprintf(name, sizeof(name), "flush-%llu",
				 (unsigned long long)++flushes);
			if (write_image(prefix, name, img, dev_size))
				return EXIT_ERROR;
		}
		if (e->mark) {
			snprintf(name, sizeof(name), "mark-%s", e->mark);
			if (write_image(prefix, name, img, dev_size))
				return EXIT_ERROR;
		}
	}
	if (r)
		die("%s: cannot write: %s", path, strerror(-r));
	if (close(fd) < 0)
		die("%s: cannot close: %s", path, strerror(errno));
	if (img && write_image(prefix, "final", img, dev_size))
		return EXIT_ERROR;
	return EXIT_OK;
}
