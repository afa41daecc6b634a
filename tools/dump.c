// SPDX-License-Identifier: GPL-2.0
/* unionblk dump and restore: the metadata as text, and back. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unionblk.h"

#define MAX_DUMP_BYTES	(1ULL << 31)

int cmd_dump(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	enum ub_dump_format fmt = UB_DUMP_JSON;
	const char *output = NULL;
	struct ub_store *s = NULL;
	struct ub_diag d;
	FILE *out = stdout;
	int c, r;

	opterr = 0;
	while ((c = next_opt(argc, argv, ":f:o:h", opts)) != -1) {
		if (c == 'f') {
			if (!strcmp(optarg, "json"))
				fmt = UB_DUMP_JSON;
			else if (!strcmp(optarg, "xml"))
				fmt = UB_DUMP_XML;
			else
				usage_error("--format %s: json or xml", optarg);
		} else if (c == 'o') {
			output = optarg;
		}
	}
	if (optind != argc - 1)
		usage_error("dump takes one STORE");

	ub_diag_init(&d);
	r = ub_open(argv[optind], NULL, 0, &s, &d);
	if (r) {
		error(r, "dump: %s", d.err);
		goto out;
	}
	warn_problems(&d);
	if (output) {
		out = fopen(output, "w");
		if (!out) {
			r = error(-errno, "dump: %s: %s", output, strerror(errno));
			goto out;
		}
	}
	r = ub_dump(s, out, fmt, &d);
	if (r)
		error(r, "dump: %s", d.err);
	if (output && fclose(out) == EOF && !r)
		r = error(-errno, "dump: %s: %s", output, strerror(errno));
out:
	ub_close(s);
	ub_diag_free(&d);
	return r;
}

/* Whole file (or standard input for "-") into memory. */
static int slurp(const char *path, char **bufp, size_t *lenp)
{
	size_t len = 0, alloc = 1 << 16;
	char *buf = malloc(alloc), *nb;
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
	ssize_t n;

	if (fd < 0 || !buf) {
		int e = fd < 0 ? errno : ENOMEM;

		free(buf);
		return error(-e, "restore: %s: %s", path, strerror(e));
	}
	for (;;) {
		if (len == alloc) {
			if (alloc >= MAX_DUMP_BYTES) {
				free(buf);
				if (fd)
					close(fd);
				return error(-EFBIG, "restore: %s: larger than %llu bytes",
					     path, MAX_DUMP_BYTES);
			}
			alloc *= 2;
			nb = realloc(buf, alloc);
			if (!nb) {
				free(buf);
				if (fd)
					close(fd);
				return error(-ENOMEM, "restore: out of memory");
			}
			buf = nb;
		}
		n = read(fd, buf + len, alloc - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			free(buf);
			if (fd)
				close(fd);
			return error(-e, "restore: %s: %s", path, strerror(e));
		}
		if (n == 0)
			break;
		len += n;
	}
	if (fd)
		close(fd);
	*bufp = buf;
	*lenp = len;
	return 0;
}

int cmd_restore(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct ub_write_stats ws;
	struct ub_meta m = { 0 };
	struct ub_store *old = NULL;
	struct ub_diag d, od;
	const char *file, *path;
	bool force = false, dry = false, blk, busy;
	uint64_t size = 0;
	char *buf = NULL;
	size_t len = 0;
	int c, r, fd;

	opterr = 0;
	while ((c = next_opt(argc, argv, ":fnh", opts)) != -1) {
		if (c == 'f')
			force = true;
		else if (c == 'n')
			dry = true;
	}
	if (optind != argc - 2)
		usage_error("restore takes a dump FILE and a STORE");
	file = argv[optind];
	path = argv[optind + 1];

	ub_diag_init(&d);
	ub_diag_init(&od);
	r = slurp(file, &buf, &len);
	if (r)
		goto out;
	r = ub_open_dev(path, false, &fd, &blk, &busy, &d);
	if (!r) {
		r = ub_fd_size(fd, &size, &blk);
		close(fd);
		if (r)
			r = ub_fail(&d, r, "%s: %s", path, strerror(-r));
	}
	if (r) {
		error(r, "restore: %s", d.err);
		goto out;
	}
	r = ub_dump_parse(buf, len, ub_max_capacity(size), &m, &d);
	if (r) {
		error(r, "restore: %s: %s", file, d.err);
		goto out;
	}
	/* never replace a different store by accident */
	if (!force && !ub_open(path, NULL, UB_OPEN_TOLERANT, &old, &od) &&
	    memcmp(old->sb.uuid, m.sb.uuid, 16)) {
		char a[37], b[37];

		ub_uuid_unparse(old->sb.uuid, a);
		ub_uuid_unparse(m.sb.uuid, b);
		r = error(-EEXIST, "restore: %s holds store %s, the dump is of %s; use --force to replace it",
			  path, a, b);
		goto out;
	}
	ub_close(old);
	old = NULL;
	r = ub_meta_restore(path, &m, dry, &ws, &d);
	if (r) {
		error(r, "restore: %s", d.err);
		goto out;
	}
	printf("%s: %s %" PRIu64 " chunks mapped, %" PRIu64 " whiteouts, seq %" PRIu64 " (%" PRIu64 " metadata blocks)\n",
	       path, dry ? "would restore" : "restored", m.mapped_chunks,
	       m.whiteout_chunks, m.seq, ws.blocks_changed);
out:
	ub_close(old);
	ub_meta_free(&m);
	free(buf);
	ub_diag_free(&d);
	ub_diag_free(&od);
	return r;
}
