// SPDX-License-Identifier: GPL-2.0
/* unionblk read: the tenant's virtual device, assembled offline. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unionblk.h"

#define READ_BUF	(1 << 20)

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= n;
	}
	return 0;
}

int cmd_read(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "base", required_argument, NULL, 'b' },
		{ "offset", required_argument, NULL, 'O' },
		{ "length", required_argument, NULL, 'l' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *base = NULL, *output = NULL;
	uint64_t off = 0, len = 0, end;
	bool have_len = false;
	struct ub_store *s = NULL;
	struct ub_diag d;
	uint8_t *buf = NULL;
	int c, r, fd = 1;

	opterr = 0;
	while ((c = next_opt(argc, argv, ":b:O:l:o:h", opts)) != -1) {
		switch (c) {
		case 'b':
			base = optarg;
			break;
		case 'O':
			off = parse_size_or_die("--offset", optarg);
			break;
		case 'l':
			len = parse_size_or_die("--length", optarg);
			have_len = true;
			break;
		case 'o':
			output = optarg;
			break;
		}
	}
	if (optind != argc - 1)
		usage_error("read takes one STORE");
	if (!base)
		usage_error("read needs --base BASE");
	if (!output && isatty(1))
		usage_error("refusing to write binary data to a terminal; redirect or use --output");

	ub_diag_init(&d);
	r = ub_open(argv[optind], base, 0, &s, &d);
	if (r) {
		error(r, "read: %s", d.err);
		goto out;
	}
	warn_problems(&d);
	end = ub_virtual_bytes(s);
	if (off > end) {
		r = error(-ERANGE, "read: offset %" PRIu64 " beyond the virtual device (%" PRIu64 " bytes)",
			  off, end);
		goto out;
	}
	if (!have_len)
		len = end - off;
	if (len > end - off) {
		r = error(-ERANGE, "read: %" PRIu64 "+%" PRIu64 " beyond the virtual device (%" PRIu64 " bytes)",
			  off, len, end);
		goto out;
	}
	if (output) {
		fd = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			r = error(-errno, "read: %s: %s", output, strerror(errno));
			goto out;
		}
	}
	buf = malloc(READ_BUF);
	if (!buf) {
		r = error(-ENOMEM, "read: out of memory");
		goto out;
	}
	while (len) {
		size_t n = len < READ_BUF ? len : READ_BUF;

		r = ub_read_virtual(s, off, buf, n, &d);
		if (r) {
			error(r, "read: %s", d.err);
			goto out;
		}
		r = write_all(fd, buf, n);
		if (r) {
			error(r, "read: writing: %s", strerror(-r));
			goto out;
		}
		off += n;
		len -= n;
	}
	if (output && fsync(fd) < 0 && errno != EINVAL)
		r = error(-errno, "read: %s: %s", output, strerror(errno));
out:
	if (fd > 1)
		close(fd);
	free(buf);
	ub_close(s);
	ub_diag_free(&d);
	return r;
}
