// SPDX-License-Identifier: GPL-2.0
/*
 * replay-log: replay a dm-log-writes log onto a device, entry by entry, up
 * to a chosen point: the K-th flush/FUA entry, a mark, or a count.
 *
 * Crash points are the flush points: entries with FLUSH or FUA.  A test
 * walks them incrementally on one device:
 *
 *   n=$(replay-log --log L --count-flushes)
 *   for k in $(seq 1 $n); do
 *       replay-log --log L --replay DEV --from-flush $((k-1)) --to-flush $k
 *       cp DEV crash.img; check crash.img
 *   done
 *
 * or in one process with --exec, which runs a command at every flush
 * point.  Finding a start point reads only entry headers, never data.
 * log-writes.h describes the format.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "log-writes.h"

#define COPY_BUF_SIZE	(1U << 20)	/* bytes copied per read/write */

/* A log being read: position of the next entry and what it holds. */
struct log {
	struct dev dev;
	uint32_t bs;		/* block size B, bytes */
	uint64_t nr_entries;
	uint64_t next;		/* index of the entry at pos */
	uint64_t pos;		/* byte offset of the next entry */
	uint64_t flushes;	/* flush points passed */
};

/* One decoded entry. */
struct entry {
	uint64_t index;
	uint64_t off;		/* byte offset of its header in the log */
	uint64_t sector;	/* units of B */
	uint64_t nr;		/* units of B */
	uint64_t flags;
	uint64_t data_off;	/* byte offset of its data in the log */
	uint64_t flush_point;	/* K if it is the K-th flush point, else 0 */
	char mark[LW_MAX_BLOCK];
};

enum discard_mode { DISCARD_ZERO, DISCARD_DISCARD, DISCARD_SKIP };

struct options {
	const char *log_path;
	const char *replay_path;
	const char *start_mark;
	const char *end_mark;
	const char *exec_cmd;
	uint64_t limit;		/* entries to replay; 0: no limit */
	uint64_t start_entry;
	uint64_t from_flush;
	uint64_t to_flush;	/* 0: no limit */
	bool have_limit;
	bool list;
	bool find_marks;
	bool count_flushes;
	bool verbose;
	enum discard_mode discard;
};

/* ------------------------------------------------------------- reading */

static int log_open(struct log *l, const char *path)
{
	unsigned char *blk;
	struct lw_super sb;
	int r;

	memset(l, 0, sizeof(*l));
	if (dev_open(&l->dev, path, 0))
		return -1;
	blk = xmalloc_aligned(LW_MIN_BLOCK);
	r = ub_pread(l->dev.fd, blk, LW_MIN_BLOCK, 0);
	if (r) {
		free(blk);
		return error("%s: cannot read the log super block: %s", path,
			     r == -EIO ? "log too short" : strerror(-r));
	}
	memcpy(&sb, blk, sizeof(sb));
	free(blk);
	if (le64toh(sb.magic) != LW_MAGIC)
		return error("%s: not a dm-log-writes log (bad magic %#llx)",
			     path, (unsigned long long)le64toh(sb.magic));
	if (le64toh(sb.version) != LW_VERSION)
		return error("%s: log version %llu, replay-log reads %llu",
			     path, (unsigned long long)le64toh(sb.version),
			     (unsigned long long)LW_VERSION);
	l->bs = le32toh(sb.sectorsize);
	if (l->bs < LW_MIN_BLOCK || l->bs > LW_MAX_BLOCK ||
	    (l->bs & (l->bs - 1)))
		return error("%s: bad log block size %u", path, l->bs);
	l->nr_entries = le64toh(sb.nr_entries);
	l->pos = l->bs;
	return 0;
}

/* Read the header of the next entry; 1 at the end of the log. */
static int log_next(struct log *l, struct entry *e, unsigned char *blk)
{
	struct lw_entry le;
	uint64_t len, data;
	int r;

	if (l->next >= l->nr_entries)
		return 1;
	r = ub_pread(l->dev.fd, blk, l->bs, l->pos);
	if (r)
		return error("%s: cannot read entry %llu at byte %llu: %s",
			     l->dev.path, (unsigned long long)l->next,
			     (unsigned long long)l->pos,
			     r == -EIO ? "log truncated" : strerror(-r));
	memcpy(&le, blk, sizeof(le));
	e->index = l->next;
	e->off = l->pos;
	e->sector = le64toh(le.sector);
	e->nr = le64toh(le.nr_sectors);
	e->flags = le64toh(le.flags);
	len = le64toh(le.data_len);
	e->data_off = l->pos + l->bs;
	e->mark[0] = '\0';
	if (e->flags & ~LW_KNOWN_FLAGS)
		return error("%s: entry %llu at byte %llu has unknown flags %#llx",
			     l->dev.path, (unsigned long long)e->index,
			     (unsigned long long)e->off,
			     (unsigned long long)e->flags);
	if (e->flags & LW_MARK) {
		if (len >= l->bs - sizeof(le))
			return error("%s: entry %llu: mark of %llu bytes does not fit",
				     l->dev.path, (unsigned long long)e->index,
				     (unsigned long long)len);
		memcpy(e->mark, blk + sizeof(le), len);
		e->mark[len] = '\0';
	}
	data = (e->flags & LW_DISCARD) ? 0 : e->nr;
	if (data > (UINT64_MAX - e->data_off) / l->bs ||
	    e->sector > UINT64_MAX / l->bs - e->nr)
		return error("%s: entry %llu at byte %llu is corrupt (size overflows)",
			     l->dev.path, (unsigned long long)e->index,
			     (unsigned long long)e->off);
	if (!l->dev.is_bdev && e->data_off + data * l->bs > l->dev.size)
		return error("%s: entry %llu at byte %llu: data runs past the end of the log",
			     l->dev.path, (unsigned long long)e->index,
			     (unsigned long long)e->off);
	e->flush_point = 0;
	if (e->flags & (LW_FLUSH | LW_FUA))
		e->flush_point = ++l->flushes;
	l->pos = e->data_off + data * l->bs;
	l->next++;
	return 0;
}

static void flags_str(uint64_t flags, char *buf, size_t len)
{
	static const char *const names[] = {
		"FLUSH", "FUA", "DISCARD", "MARK", "METADATA",
	};
	size_t i;

	buf[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(flags & (1ULL << i)))
			continue;
		if (buf[0])
			strncat(buf, "|", len - strlen(buf) - 1);
		strncat(buf, names[i], len - strlen(buf) - 1);
	}
	if (!buf[0])
		snprintf(buf, len, "WRITE");
}

/* ----------------------------------------------------------- replaying */

static int apply_entry(struct log *l, struct dev *d, const struct entry *e,
		       enum discard_mode mode, char *buf)
{
	uint64_t off = e->sector * l->bs, len = e->nr * l->bs, done, n;
	int r;

	if (!len)
		return 0;
	if (d->is_bdev && (off > d->size || len > d->size - off))
		return error("%s: entry %llu writes bytes %llu-%llu, past the end of the device",
			     d->path, (unsigned long long)e->index,
			     (unsigned long long)off,
			     (unsigned long long)(off + len - 1));
	if (e->flags & LW_DISCARD) {
		if (mode == DISCARD_SKIP)
			return 0;
		r = mode == DISCARD_ZERO ? dev_zero_range(d, off, len) :
					   dev_discard_range(d, off, len);
		if (r)
			return error("%s: entry %llu: %s of %llu bytes at byte %llu failed: %s",
				     d->path, (unsigned long long)e->index,
				     mode == DISCARD_ZERO ? "zero-out" : "discard",
				     (unsigned long long)len,
				     (unsigned long long)off, strerror(-r));
		return 0;
	}
	for (done = 0; done < len; done += n) {
		n = len - done < COPY_BUF_SIZE ? len - done : COPY_BUF_SIZE;
		r = ub_pread(l->dev.fd, buf, n, e->data_off + done);
		if (r)
			return error("%s: entry %llu: cannot read data at byte %llu: %s",
				     l->dev.path, (unsigned long long)e->index,
				     (unsigned long long)(e->data_off + done),
				     r == -EIO ? "log truncated" : strerror(-r));
		r = ub_pwrite(d->fd, buf, n, off + done);
		if (r)
			return error("%s: entry %llu: write at byte %llu failed: %s",
				     d->path, (unsigned long long)e->index,
				     (unsigned long long)(off + done),
				     strerror(-r));
	}
	return 0;
}

/* Make DEV durable and run --exec at flush point e; an exit code. */
static int exec_at_flush(const char *cmd, struct dev *d,
			 const struct entry *e)
{
	char entry[48], flush[48];
	char *env[] = { entry, flush, NULL };
	int r;

	if (fsync(d->fd) < 0) {
		error("%s: fsync failed: %s", d->path, strerror(errno));
		return EXIT_ERROR;
	}
	snprintf(entry, sizeof(entry), "REPLAY_ENTRY=%llu",
		 (unsigned long long)e->index);
	snprintf(flush, sizeof(flush), "REPLAY_FLUSH=%llu",
		 (unsigned long long)e->flush_point);
	r = run_shell(cmd, env);
	if (r < 0)
		return EXIT_ERROR;
	if (r > 0) {
		error("--exec failed with status %d at flush point %llu (entry %llu)",
		      r, (unsigned long long)e->flush_point,
		      (unsigned long long)e->index);
		return EXIT_MISMATCH;
	}
	return 0;
}

/* Is e the first entry to replay?  Entries before it are only read. */
static bool at_start(const struct options *o, const struct entry *prev)
{
	if (o->start_mark)
		return prev && (prev->flags & LW_MARK) &&
		       !strcmp(prev->mark, o->start_mark);
	if (o->from_flush)
		return prev && prev->flush_point == o->from_flush;
	return (prev ? prev->index + 1 : 0) >= o->start_entry;
}

static int replay(const struct options *o)
{
	struct log l;
	struct dev d = { .fd = -1 };
	struct entry *e, *prev;
	unsigned char *blk = NULL;
	char *buf = NULL, fl[64];
	uint64_t replayed = 0, first = 0;
	bool started, stop = false;
	int r, ret = EXIT_ERROR;

	if (log_open(&l, o->log_path))
		return EXIT_ERROR;
	if (o->replay_path && dev_open(&d, o->replay_path, DEV_RW))
		goto out;
	e = xcalloc(2, sizeof(*e));
	prev = NULL;
	blk = xmalloc_aligned(l.bs);
	if (o->replay_path)
		buf = xmalloc_aligned(COPY_BUF_SIZE);
	started = !o->start_mark && !o->from_flush && !o->start_entry;
	if (o->list)
		printf("# %s: %llu entries, block size %u\n", o->log_path,
		       (unsigned long long)l.nr_entries, l.bs);

	for (;;) {
		struct entry *cur = prev == &e[0] ? &e[1] : &e[0];

		r = log_next(&l, cur, blk);
		if (r < 0)
			goto out_free;
		if (r > 0)
			break;
		if (!started && at_start(o, prev)) {
			started = true;
			first = cur->index;
		}
		prev = cur;
		if (o->list) {
			flags_str(cur->flags, fl, sizeof(fl));
			printf("%llu: sector %llu nr %llu %s",
			       (unsigned long long)cur->index,
			       (unsigned long long)cur->sector,
			       (unsigned long long)cur->nr, fl);
			if (cur->flags & LW_MARK)
				printf(" mark %s", cur->mark);
			if (cur->flush_point)
				printf(" flush-point %llu",
				       (unsigned long long)cur->flush_point);
			putchar('\n');
		}
		if (o->find_marks && (cur->flags & LW_MARK))
			printf("%llu %s\n", (unsigned long long)cur->index,
			       cur->mark);
		if (started && o->have_limit && replayed >= o->limit)
			stop = true;
		/* Listing needs the whole log; replaying can end here. */
		if (stop && !o->list && !o->find_marks && !o->count_flushes)
			break;
		if (!started || !o->replay_path || stop)
			continue;

		if (apply_entry(&l, &d, cur, o->discard, buf))
			goto out_free;
		replayed++;
		if (o->verbose) {
			flags_str(cur->flags, fl, sizeof(fl));
			fprintf(stderr, "%s: replayed entry %llu (%s)\n",
				prog_name, (unsigned long long)cur->index, fl);
		}
		if (cur->flush_point && o->exec_cmd) {
			ret = exec_at_flush(o->exec_cmd, &d, cur);
			if (ret)
				goto out_free;
			ret = EXIT_ERROR;
		}
		if ((o->have_limit && replayed >= o->limit) ||
		    (o->to_flush && cur->flush_point == o->to_flush) ||
		    (o->end_mark && (cur->flags & LW_MARK) &&
		     !strcmp(cur->mark, o->end_mark)))
			stop = true;
		if (stop && !o->list && !o->find_marks && !o->count_flushes)
			break;
	}

	if (o->count_flushes)
		printf("%llu\n", (unsigned long long)l.flushes);
	if (o->replay_path) {
		if (!started) {
			error("%s: start point not found (%s)", o->log_path,
			      o->start_mark ? "no such mark" :
			      o->from_flush ? "too few flush points" :
					      "too few entries");
			goto out_free;
		}
		if (!stop && (o->to_flush || o->end_mark)) {
			error("%s: end point not found (%s)", o->log_path,
			      o->end_mark ? "no such mark after the start" :
					    "too few flush points");
			goto out_free;
		}
		if (fsync(d.fd) < 0) {
			error("%s: fsync failed: %s", d.path, strerror(errno));
			goto out_free;
		}
		if (o->verbose)
			fprintf(stderr, "%s: replayed %llu entries from entry %llu\n",
				prog_name, (unsigned long long)replayed,
				(unsigned long long)first);
	}
	ret = EXIT_OK;
out_free:
	free(e);
	free(blk);
	free(buf);
out:
	dev_close(&d);
	dev_close(&l.dev);
	return ret;
}

/* ------------------------------------------------------------- options */

static const char usage_text[] =
"usage: replay-log --log LOGDEV --replay DEV [start] [end] [options]\n"
"       replay-log --log LOGDEV [--list] [--find-marks] [--count-flushes]\n"
"\n"
"Replay a dm-log-writes log onto DEV in log order.  Entries are numbered\n"
"from 0; flush points (entries with FLUSH or FUA) from 1.  Replaying up to\n"
"a flush point gives a state the device could have had after a crash.\n"
"\n"
"Start (default: entry 0; entries before it are skipped, not replayed):\n"
"  --start-entry N      first entry to replay\n"
"  --from-flush K       start after the K-th flush point (0: at the start)\n"
"  --start-mark NAME    start after the mark NAME\n"
"End (default: the last entry the super block counts):\n"
"  --limit N            replay at most N entries\n"
"  --to-flush K         stop after the K-th flush point\n"
"  --end-mark NAME      stop after the mark NAME\n"
"Other:\n"
"  --list               print every entry: index, sector and count (in log\n"
"                       blocks), flags, mark name, flush point number\n"
"  --find-marks         print \"INDEX NAME\" for every mark\n"
"  --count-flushes      print the number of flush points\n"
"  --discard zero|discard|skip\n"
"                       replay discards as zero-outs (default), as\n"
"                       discards, or not at all\n"
"  --exec CMD           at each replayed flush point, fsync DEV and run\n"
"                       'sh -c CMD' with REPLAY_ENTRY and REPLAY_FLUSH set;\n"
"                       a non-zero status stops the replay (exit 1)\n"
"  --verbose            report each replayed entry on stderr\n"
"\n"
"Exit status: 0 done, 1 an --exec command failed, 2 usage, I/O or log error.\n";

enum {
	OPT_LOG = 256, OPT_REPLAY, OPT_LIMIT, OPT_START_ENTRY, OPT_FROM_FLUSH,
	OPT_START_MARK, OPT_TO_FLUSH, OPT_END_MARK, OPT_LIST, OPT_FIND_MARKS,
	OPT_COUNT_FLUSHES, OPT_DISCARD, OPT_EXEC, OPT_VERBOSE,
};

static const struct option long_options[] = {
	{ "log", required_argument, NULL, OPT_LOG },
	{ "replay", required_argument, NULL, OPT_REPLAY },
	{ "limit", required_argument, NULL, OPT_LIMIT },
	{ "start-entry", required_argument, NULL, OPT_START_ENTRY },
	{ "from-flush", required_argument, NULL, OPT_FROM_FLUSH },
	{ "start-mark", required_argument, NULL, OPT_START_MARK },
	{ "to-flush", required_argument, NULL, OPT_TO_FLUSH },
	{ "end-mark", required_argument, NULL, OPT_END_MARK },
	{ "list", no_argument, NULL, OPT_LIST },
	{ "find-marks", no_argument, NULL, OPT_FIND_MARKS },
	{ "count-flushes", no_argument, NULL, OPT_COUNT_FLUSHES },
	{ "discard", required_argument, NULL, OPT_DISCARD },
	{ "exec", required_argument, NULL, OPT_EXEC },
	{ "verbose", no_argument, NULL, OPT_VERBOSE },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static int bad_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", prog_name);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry '%s --help'.\n", prog_name);
	return EXIT_ERROR;
}

int main(int argc, char **argv)
{
	struct options o = { .discard = DISCARD_ZERO };
	int c, starts;

	prog_name = "replay-log";
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt_long(argc, argv, "hv", long_options, NULL)) != -1) {
		switch (c) {
		case OPT_LOG:
			o.log_path = optarg;
			break;
		case OPT_REPLAY:
			o.replay_path = optarg;
			break;
		case OPT_LIMIT:
			if (!parse_u64(optarg, &o.limit))
				return bad_usage("bad --limit '%s'", optarg);
			o.have_limit = true;
			break;
		case OPT_START_ENTRY:
			if (!parse_u64(optarg, &o.start_entry))
				return bad_usage("bad --start-entry '%s'", optarg);
			break;
		case OPT_FROM_FLUSH:
			if (!parse_u64(optarg, &o.from_flush))
				return bad_usage("bad --from-flush '%s'", optarg);
			break;
		case OPT_START_MARK:
			o.start_mark = optarg;
			break;
		case OPT_TO_FLUSH:
			if (!parse_u64(optarg, &o.to_flush) || !o.to_flush)
				return bad_usage("bad --to-flush '%s' (counts from 1)",
						 optarg);
			break;
		case OPT_END_MARK:
			o.end_mark = optarg;
			break;
		case OPT_LIST:
			o.list = true;
			break;
		case OPT_FIND_MARKS:
			o.find_marks = true;
			break;
		case OPT_COUNT_FLUSHES:
			o.count_flushes = true;
			break;
		case OPT_DISCARD:
			if (!strcmp(optarg, "zero"))
				o.discard = DISCARD_ZERO;
			else if (!strcmp(optarg, "discard"))
				o.discard = DISCARD_DISCARD;
			else if (!strcmp(optarg, "skip"))
				o.discard = DISCARD_SKIP;
			else
				return bad_usage("bad --discard '%s' (zero, discard or skip)",
						 optarg);
			break;
		case OPT_EXEC:
			o.exec_cmd = optarg;
			break;
		case 'v':
		case OPT_VERBOSE:
			o.verbose = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_OK;
		case 'V':
			printf("%s 1.0\n", prog_name);
			return EXIT_OK;
		default:
			return bad_usage("%s", "bad option");
		}
	}
	if (optind != argc)
		return bad_usage("unexpected argument '%s'", argv[optind]);
	if (!o.log_path)
		return bad_usage("%s", "--log is required");
	if (!o.replay_path && !o.list && !o.find_marks && !o.count_flushes)
		return bad_usage("%s",
				 "nothing to do: give --replay, --list, --find-marks or --count-flushes");
	starts = !!o.start_entry + !!o.from_flush + !!o.start_mark;
	if (starts > 1)
		return bad_usage("%s",
				 "--start-entry, --from-flush and --start-mark conflict");
	if ((o.to_flush && o.end_mark) || (o.have_limit && o.end_mark) ||
	    (o.have_limit && o.to_flush))
		return bad_usage("%s",
				 "--limit, --to-flush and --end-mark conflict");
	if (o.to_flush && o.to_flush <= o.from_flush)
		return bad_usage("%s", "--to-flush must be after --from-flush");
	if (!o.replay_path && (starts || o.have_limit || o.to_flush ||
			       o.end_mark || o.exec_cmd))
		return bad_usage("%s",
				 "start, end and --exec options need --replay");
	return replay(&o);
}
