// SPDX-License-Identifier: GPL-2.0
/*
 * ubverify's state file; ubv-state.h describes the format and the rule
 * that ubverify verify applies with it.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "ubv-state.h"

#define STATE_IO_BLOCKS	65536		/* blocks per write */

_Static_assert(sizeof(struct ubv_state_header) == UBV_STATE_HDR_SIZE,
	       "state header size");
_Static_assert(sizeof(struct ubv_jrec) == UBV_JREC_SIZE, "record size");

/* ------------------------------------------------------------ encoding */

static void header_to_disk(const struct ubv_state_header *h,
			   struct ubv_state_header *d)
{
	memset(d, 0, sizeof(*d));
	d->magic = htole64(h->magic);
	d->version = htole32(h->version);
	d->header_size = htole32(h->header_size);
	d->seed = htole64(h->seed);
	d->size = htole64(h->size);
	d->block_size = htole32(h->block_size);
	d->init_mode = htole32(h->init_mode);
	d->nr_blocks = htole64(h->nr_blocks);
	d->ckpt_seq = htole64(h->ckpt_seq);
	d->next_gen = htole64(h->next_gen);
	d->ops_done = htole64(h->ops_done);
	d->journal_off = htole64(h->journal_off);
	d->blocks_csum = htole32(h->blocks_csum);
	d->flags = htole32(h->flags);
	d->header_csum = htole32(crc32c(0, d, offsetof(struct ubv_state_header,
						       header_csum)));
}

static int header_from_disk(const struct ubv_state_header *d,
			    struct ubv_state_header *h, const char *path)
{
	uint32_t csum = crc32c(0, d, offsetof(struct ubv_state_header,
					      header_csum));

	if (le64toh(d->magic) != UBV_STATE_MAGIC)
		return error("%s: not a ubverify state file (bad magic)",
			     path);
	if (le32toh(d->version) != UBV_STATE_VERSION)
		return error("%s: state file version %u, this ubverify reads %u",
			     path, le32toh(d->version), UBV_STATE_VERSION);
	if (le32toh(d->header_csum) != csum)
		return error("%s: state file header checksum mismatch", path);
	memset(h, 0, sizeof(*h));
	h->magic = le64toh(d->magic);
	h->version = le32toh(d->version);
	h->header_size = le32toh(d->header_size);
	h->seed = le64toh(d->seed);
	h->size = le64toh(d->size);
	h->block_size = le32toh(d->block_size);
	h->init_mode = le32toh(d->init_mode);
	h->nr_blocks = le64toh(d->nr_blocks);
	h->ckpt_seq = le64toh(d->ckpt_seq);
	h->next_gen = le64toh(d->next_gen);
	h->ops_done = le64toh(d->ops_done);
	h->journal_off = le64toh(d->journal_off);
	h->blocks_csum = le32toh(d->blocks_csum);
	h->flags = le32toh(d->flags);
	if (h->header_size != UBV_STATE_HDR_SIZE || !h->block_size ||
	    h->block_size % SECTOR_SIZE || h->init_mode > INIT_BASE ||
	    h->nr_blocks != h->size / h->block_size ||
	    h->journal_off != h->header_size + h->nr_blocks * 8)
		return error("%s: state file header is inconsistent", path);
	return 0;
}

static void jrec_to_disk(const struct ubv_jrec *r, struct ubv_jrec *d)
{
	d->type = htole32(r->type);
	d->csum = 0;
	d->state = htole64(r->state);
	d->start = htole64(r->start);
	d->count = htole64(r->count);
	d->csum = htole32(crc32c(0, d, sizeof(*d)));
}

static bool jrec_from_disk(const struct ubv_jrec *d, struct ubv_jrec *r)
{
	struct ubv_jrec tmp = *d;

	tmp.csum = 0;
	if (le32toh(d->csum) != crc32c(0, &tmp, sizeof(tmp)))
		return false;
	r->type = le32toh(d->type);
	r->csum = 0;
	r->state = le64toh(d->state);
	r->start = le64toh(d->start);
	r->count = le64toh(d->count);
	return r->type == UBV_JREC_INTENT || r->type == UBV_JREC_DURABLE;
}

static void jrec_push(struct ubv_state *s, const struct ubv_jrec *r)
{
	if (s->nr_jrecs == s->jrecs_cap) {
		s->jrecs_cap = s->jrecs_cap ? 2 * s->jrecs_cap : 256;
		s->jrecs = realloc(s->jrecs, s->jrecs_cap * sizeof(*r));
		if (!s->jrecs)
			die("out of memory for %llu journal records",
			    (unsigned long long)s->jrecs_cap);
	}
	s->jrecs[s->nr_jrecs++] = *r;
}

/* ------------------------------------------------------------- writing */

static int fsync_dir_of(const char *path)
{
	char *copy = strdup(path);
	int fd, r = 0;

	if (!copy)
		return -ENOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	free(copy);
	return r;
}

/* Is record r implied by the durable states in snap? */
static bool jrec_redundant(const struct ubv_jrec *r, const uint64_t *snap)
{
	uint64_t b;

	for (b = r->start; b < r->start + r->count; b++)
		if (st_gen(snap[b]) < st_gen(r->state))
			return false;
	return true;
}

/*
 * Write header, blocks and records to FILE.tmp, then rename it over FILE.
 * Called with s->lock held (or before any thread exists).
 */
static int write_checkpoint(struct ubv_state *s, const uint64_t *snap)
{
	struct ubv_state_header dh;
	uint64_t *buf = NULL;
	uint64_t b, n, i, kept = 0;
	uint32_t csum = 0;
	off_t off;
	int fd, r;

	fd = open(s->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return error("%s: cannot create: %s", s->tmp_path,
			     strerror(errno));
	buf = xcalloc(STATE_IO_BLOCKS, sizeof(*buf));
	off = UBV_STATE_HDR_SIZE;
	for (b = 0; b < s->hdr.nr_blocks; b += n) {
		n = s->hdr.nr_blocks - b;
		if (n > STATE_IO_BLOCKS)
			n = STATE_IO_BLOCKS;
		for (i = 0; i < n; i++)
			buf[i] = htole64(snap[b + i]);
		csum = crc32c(csum, buf, n * 8);
		r = ub_pwrite(fd, buf, n * 8, (uint64_t)off);
		if (r)
			goto bad_io;
		off += (off_t)(n * 8);
	}
	/* Keep the records that still say something; rewrite them. */
	for (i = 0; i < s->nr_jrecs; i++) {
		struct ubv_jrec d;

		if (jrec_redundant(&s->jrecs[i], snap))
			continue;
		s->jrecs[kept++] = s->jrecs[i];
		jrec_to_disk(&s->jrecs[i], &d);
		r = ub_pwrite(fd, &d, sizeof(d), (uint64_t)off);
		if (r)
			goto bad_io;
		off += (off_t)sizeof(d);
	}
	s->nr_jrecs = kept;
	s->hdr.blocks_csum = csum;
	header_to_disk(&s->hdr, &dh);
	r = ub_pwrite(fd, &dh, sizeof(dh), 0);
	if (r)
		goto bad_io;
	if (fsync(fd) < 0) {
		r = -errno;
		goto bad_io;
	}
	if (rename(s->tmp_path, s->path) < 0) {
		r = -errno;
		error("%s: cannot rename to %s: %s", s->tmp_path, s->path,
		      strerror(errno));
		goto bad;
	}
	r = fsync_dir_of(s->path);
	if (r) {
		error("%s: cannot fsync its directory: %s", s->path,
		      strerror(-r));
		goto bad;
	}
	if (s->fd >= 0)
		close(s->fd);
	s->fd = fd;
	s->append_off = (uint64_t)off;
	free(buf);
	return 0;
bad_io:
	error("%s: cannot write: %s", s->tmp_path, strerror(-r));
bad:
	close(fd);
	free(buf);
	return r < 0 ? r : -EIO;
}

static int state_init_paths(struct ubv_state *s, const char *path)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	s->path = strdup(path);
	if (!s->path || asprintf(&s->tmp_path, "%s.tmp", path) < 0)
		die("out of memory");
	return 0;
}

int state_create(struct ubv_state *s, const char *path, uint64_t seed,
		 uint64_t size, uint32_t block_size, enum init_mode init,
		 const uint64_t *initial, uint64_t next_gen)
{
	uint64_t *snap;
	int r;

	state_init_paths(s, path);
	s->hdr.magic = UBV_STATE_MAGIC;
	s->hdr.version = UBV_STATE_VERSION;
	s->hdr.header_size = UBV_STATE_HDR_SIZE;
	s->hdr.seed = seed;
	s->hdr.size = size;
	s->hdr.block_size = block_size;
	s->hdr.init_mode = init;
	s->hdr.nr_blocks = size / block_size;
	s->hdr.journal_off = UBV_STATE_HDR_SIZE + s->hdr.nr_blocks * 8;
	s->hdr.next_gen = next_gen;
	if (initial)
		return write_checkpoint(s, initial);
	snap = xcalloc(s->hdr.nr_blocks, sizeof(*snap));
	r = write_checkpoint(s, snap);	/* all zero: ST_INIT, gen 0 */
	free(snap);
	return r;
}

int state_checkpoint(struct ubv_state *s, const uint64_t *snap,
		     uint64_t next_gen, uint64_t ops_done, bool final)
{
	int r;

	pthread_mutex_lock(&s->lock);
	s->hdr.ckpt_seq++;
	s->hdr.next_gen = next_gen;
	s->hdr.ops_done = ops_done;
	s->hdr.flags = final ? UBV_STATE_FINAL : 0;
	r = write_checkpoint(s, snap);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int state_adopt(struct ubv_state *s, const uint64_t *states,
		uint64_t next_gen)
{
	int r;

	pthread_mutex_lock(&s->lock);
	s->nr_jrecs = 0;
	s->hdr.ckpt_seq++;
	s->hdr.next_gen = next_gen;
	s->hdr.flags = UBV_STATE_FINAL;
	r = write_checkpoint(s, states);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int state_log(struct ubv_state *s, enum ubv_jrec_type type, uint64_t st,
	      uint64_t start, uint64_t count)
{
	struct ubv_jrec rec = {
		.type = type, .state = st, .start = start, .count = count,
	};
	struct ubv_jrec d;
	int r;

	jrec_to_disk(&rec, &d);
	pthread_mutex_lock(&s->lock);
	r = ub_pwrite(s->fd, &d, sizeof(d), s->append_off);
	if (!r && fdatasync(s->fd) < 0)
		r = -errno;
	if (!r) {
		s->append_off += sizeof(d);
		jrec_push(s, &rec);
	}
	pthread_mutex_unlock(&s->lock);
	if (r)
		return error("%s: cannot append a journal record: %s",
			     s->path, strerror(-r));
	return 0;
}

/* ------------------------------------------------------------- reading */

int state_load(struct ubv_state *s, const char *path)
{
	struct ubv_state_header dh;
	uint64_t b, csum = 0, off;
	struct ubv_jrec d, rec;
	int fd, r;

	state_init_paths(s, path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error("%s: cannot open: %s", path, strerror(errno));
	r = ub_pread(fd, &dh, sizeof(dh), 0);
	if (r) {
		error("%s: cannot read the header: %s", path,
		      r == -EIO ? "file too short" : strerror(-r));
		goto bad;
	}
	if (header_from_disk(&dh, &s->hdr, path)) {
		r = -EINVAL;
		goto bad;
	}
	s->blocks = xcalloc(s->hdr.nr_blocks, sizeof(*s->blocks));
	r = ub_pread(fd, s->blocks, s->hdr.nr_blocks * 8,
		       UBV_STATE_HDR_SIZE);
	if (r) {
		error("%s: cannot read the checkpoint: %s", path,
		      r == -EIO ? "file truncated" : strerror(-r));
		goto bad;
	}
	csum = crc32c(0, s->blocks, s->hdr.nr_blocks * 8);
	if (csum != s->hdr.blocks_csum) {
		r = error("%s: checkpoint checksum mismatch", path);
		goto bad;
	}
	for (b = 0; b < s->hdr.nr_blocks; b++)
		s->blocks[b] = le64toh(s->blocks[b]);
	/* Records up to the end or the first torn one. */
	for (off = s->hdr.journal_off;; off += sizeof(d)) {
		if (ub_pread(fd, &d, sizeof(d), off))
			break;
		if (!jrec_from_disk(&d, &rec))
			break;
		if (rec.start > s->hdr.nr_blocks ||
		    rec.count > s->hdr.nr_blocks - rec.start) {
			r = error("%s: journal record at byte %llu is out of range",
				  path, (unsigned long long)off);
			goto bad;
		}
		jrec_push(s, &rec);
	}
	s->append_off = off;
	close(fd);
	return 0;
bad:
	close(fd);
	return r < 0 ? r : -EINVAL;
}

uint64_t *state_durable(const struct ubv_state *s)
{
	uint64_t *d = xcalloc(s->hdr.nr_blocks, sizeof(*d));
	uint64_t i, b;

	memcpy(d, s->blocks, s->hdr.nr_blocks * sizeof(*d));
	for (i = 0; i < s->nr_jrecs; i++) {
		const struct ubv_jrec *r = &s->jrecs[i];

		if (r->type != UBV_JREC_DURABLE)
			continue;
		for (b = r->start; b < r->start + r->count; b++)
			if (st_gen(r->state) > st_gen(d[b]))
				d[b] = r->state;
	}
	return d;
}

void state_close(struct ubv_state *s)
{
	if (s->fd >= 0)
		close(s->fd);
	free(s->path);
	free(s->tmp_path);
	free(s->blocks);
	free(s->jrecs);
	pthread_mutex_destroy(&s->lock);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}
