// SPDX-License-Identifier: GPL-2.0
/*
 * Shared plumbing for the test helpers; see common.h for the contract.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

#define ZERO_BUF_SIZE	(1 << 20)	/* bytes per zeroing write */

const char *prog_name = "helper";

/* -------------------------------------------------------------- errors */

static void vreport(const char *prefix, const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: %s", prog_name, prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport("", fmt, ap);
	va_end(ap);
	return -1;
}

void warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport("warning: ", fmt, ap);
	va_end(ap);
}

void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport("", fmt, ap);
	va_end(ap);
	exit(EXIT_ERROR);
}

void *xmalloc_aligned(size_t size)
{
	void *p;

	if (posix_memalign(&p, IO_ALIGN, size ? size : IO_ALIGN))
		die("out of memory allocating %zu bytes", size);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		die("out of memory allocating %zu x %zu bytes", n, size);
	return p;
}

/* ------------------------------------------------------------- parsing */

bool parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return false;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

bool parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned int shift = 0;

	if (!s || !*s || *s == '-')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return false;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K':
		shift = 10;
		break;
	case 'm': case 'M':
		shift = 20;
		break;
	case 'g': case 'G':
		shift = 30;
		break;
	case 't': case 'T':
		shift = 40;
		break;
	default:
		return false;
	}
	if (*end && end[1] && strcmp(end + 1, "iB") && strcmp(end + 1, "B"))
		return false;
	if (shift && v > (UINT64_MAX >> shift))
		return false;
	*out = (uint64_t)v << shift;
	return true;
}

bool parse_pct(const char *s, unsigned int *out)
{
	uint64_t v;

	if (!parse_u64(s, &v) || v > 100)
		return false;
	*out = (unsigned int)v;
	return true;
}

/* ------------------------------------------------------------- devices */

int dev_open(struct dev *d, const char *path, unsigned int how)
{
	int flags = (how & DEV_RW ? O_RDWR : O_RDONLY) | O_CLOEXEC;
	bool want_direct = how & DEV_DIRECT;
	struct stat st;

	memset(d, 0, sizeof(*d));
	d->path = path;
	d->fd = -1;
	if ((how & DEV_CREATE) && (how & DEV_RW) && stat(path, &st) < 0 &&
	    errno == ENOENT)
		flags |= O_CREAT;
	if (want_direct) {
		d->fd = open(path, flags | O_DIRECT, 0644);
		if (d->fd >= 0) {
			d->direct = true;
		} else if (errno == EINVAL) {
			warn("%s: O_DIRECT refused, using buffered I/O", path);
		} else {
			return error("%s: cannot open: %s", path,
				     strerror(errno));
		}
	}
	if (d->fd < 0) {
		d->fd = open(path, flags, 0644);
		if (d->fd < 0)
			return error("%s: cannot open: %s", path,
				     strerror(errno));
	}
	if (fstat(d->fd, &st) < 0) {
		error("%s: cannot stat: %s", path, strerror(errno));
		goto bad;
	}
	d->lbs = SECTOR_SIZE;
	if (S_ISBLK(st.st_mode)) {
		int lbs;

		d->is_bdev = true;
		if (!ioctl(d->fd, BLKSSZGET, &lbs) && lbs > SECTOR_SIZE)
			d->lbs = (unsigned int)lbs;
		if (ioctl(d->fd, BLKGETSIZE64, &d->size) < 0) {
			error("%s: cannot read device size: %s", path,
			      strerror(errno));
			goto bad;
		}
	} else if (S_ISREG(st.st_mode)) {
		d->size = (uint64_t)st.st_size;
	} else {
		error("%s: not a block device or regular file", path);
		goto bad;
	}
	return 0;
bad:
	close(d->fd);
	d->fd = -1;
	return -1;
}

void dev_close(struct dev *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

int dev_ensure_size(struct dev *d, uint64_t size)
{
	if (d->size >= size)
		return 0;
	if (d->is_bdev)
		return error("%s: device has %llu bytes, %llu needed", d->path,
			     (unsigned long long)d->size,
			     (unsigned long long)size);
	if (ftruncate(d->fd, (off_t)size) < 0)
		return error("%s: cannot grow to %llu bytes: %s", d->path,
			     (unsigned long long)size, strerror(errno));
	d->size = size;
	return 0;
}

static int write_zeroes(struct dev *d, uint64_t off, uint64_t len)
{
	static void *zeroes;
	int r;

	if (!zeroes) {
		zeroes = xmalloc_aligned(ZERO_BUF_SIZE);
		memset(zeroes, 0, ZERO_BUF_SIZE);
	}
	while (len) {
		size_t n = len < ZERO_BUF_SIZE ? (size_t)len : ZERO_BUF_SIZE;

		r = ub_pwrite(d->fd, zeroes, n, off);
		if (r)
			return r;
		off += n;
		len -= n;
	}
	return 0;
}

static bool unsupported(int err)
{
	return err == EOPNOTSUPP || err == ENOTTY || err == EINVAL ||
	       err == ENOSYS;
}

int dev_zero_range(struct dev *d, uint64_t off, uint64_t len)
{
	if (d->is_bdev) {
		uint64_t range[2] = { off, len };

		if (!ioctl(d->fd, BLKZEROOUT, range))
			return 0;
		if (!unsupported(errno))
			return -errno;
		return write_zeroes(d, off, len);
	}
	if (!fallocate(d->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
		       (off_t)off, (off_t)len))
		return 0;
	if (!unsupported(errno))
		return -errno;
	if (!fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		       (off_t)off, (off_t)len))
		return 0;
	if (!unsupported(errno))
		return -errno;
	return write_zeroes(d, off, len);
}

int dev_discard_range(struct dev *d, uint64_t off, uint64_t len)
{
	if (d->is_bdev) {
		uint64_t range[2] = { off, len };

		if (!ioctl(d->fd, BLKDISCARD, range))
			return 0;
		return -errno;
	}
	if (!fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		       (off_t)off, (off_t)len))
		return 0;
	if (!unsupported(errno))
		return -errno;
	return dev_zero_range(d, off, len);
}

/* -------------------------------------------------------------- crc32c */

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
	return ~ub_crc32c_update(~crc, buf, len);
}

/* -------------------------------------------------------------- random */

uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

void rng_seed(struct rng *r, uint64_t seed)
{
	int i;

	for (i = 0; i < 4; i++) {
		seed = mix64(seed);
		r->s[i] = seed;
	}
	if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3]))
		r->s[0] = 1;
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

uint64_t rng_below(struct rng *r, uint64_t n)
{
	/* Rejection sampling keeps the result unbiased. */
	uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
	uint64_t v;

	do {
		v = rng_next(r);
	} while (v >= limit);
	return v % n;
}

int run_shell(const char *cmd, char *const *env)
{
	pid_t pid;
	int status;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return error("cannot fork to run '%s': %s", cmd,
			     strerror(errno));
	if (!pid) {
		for (; env && *env; env++)
			putenv(*env);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		fprintf(stderr, "%s: cannot run /bin/sh: %s\n", prog_name,
			strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return error("waitpid: %s", strerror(errno));
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

bool is_zero(const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len && ((uintptr_t)p & 7)) {
		if (*p++)
			return false;
		len--;
	}
	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		if (v)
			return false;
		p += 8;
		len -= 8;
	}
	while (len--)
		if (*p++)
			return false;
	return true;
}
