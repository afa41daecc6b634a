// SPDX-License-Identifier: GPL-2.0
/*
 * Raw I/O on stores and bases, which may be block devices or image
 * files.  Short reads are errors: a store never ends inside a structure
 * the superblock describes, and if it does the caller says which.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libunionblk.h"

int ub_pread(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;	/* past the end */
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

int ub_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

int ub_fd_size(int fd, uint64_t *bytes, bool *blk)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode)) {
		uint64_t sz;

		if (ioctl(fd, BLKGETSIZE64, &sz) < 0)
			return -errno;
		*bytes = sz;
		*blk = true;
		return 0;
	}
	if (!S_ISREG(st.st_mode))
		return -ENOTBLK;
	*bytes = (uint64_t)st.st_size;
	*blk = false;
	return 0;
}

static int zero_by_writing(int fd, uint64_t off, uint64_t len)
{
	size_t bufsz = 1 << 20;
	uint8_t *zero = calloc(1, bufsz);
	int r = 0;

	if (!zero)
		return -ENOMEM;
	while (len) {
		size_t n = len < bufsz ? len : bufsz;

		r = ub_pwrite(fd, zero, n, off);
		if (r)
			break;
		off += n;
		len -= n;
	}
	free(zero);
	return r;
}

int ub_zero_range(int fd, bool blk, uint64_t off, uint64_t len)
{
	if (!len)
		return 0;
	if (blk) {
		uint64_t range[2] = { off, len };

		if (ioctl(fd, BLKZEROOUT, range) == 0)
			return 0;
		return zero_by_writing(fd, off, len);
	}
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)off, (off_t)len) == 0)
		return 0;
	if (fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
		      (off_t)off, (off_t)len) == 0)
		return 0;
	return zero_by_writing(fd, off, len);
}

int ub_flush(int fd, bool blk)
{
	if (fsync(fd) < 0)
		return -errno;
	if (blk)
		(void)ioctl(fd, BLKFLSBUF, 0);
	return 0;
}

int ub_open_dev(const char *path, bool rw, int *fdp, bool *blk, bool *busy,
		struct ub_diag *d)
{
	struct stat st;
	int fd, flags = (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC;

	*busy = false;
	if (stat(path, &st) < 0)
		return ub_fail(d, -errno, "%s: %s", path, strerror(errno));
	*blk = S_ISBLK(st.st_mode);
	if (!*blk && !S_ISREG(st.st_mode))
		return ub_fail(d, -ENOTBLK,
			       "%s: not a block device or regular file", path);
	if (*blk) {
		fd = open(path, flags | O_EXCL);
		if (fd < 0 && errno == EBUSY) {
			if (rw)
				return ub_fail(d, -EBUSY,
					       "%s: device is in use (an active device-mapper table or a mount?)",
					       path);
			*busy = true;
			fd = open(path, flags);
		}
	} else {
		fd = open(path, flags);
	}
	if (fd < 0)
		return ub_fail(d, -errno, "%s: %s", path, strerror(errno));
	/* The target writes around the page cache: drop what we may hold. */
	if (*blk)
		(void)ioctl(fd, BLKFLSBUF, 0);
	*fdp = fd;
	return 0;
}
