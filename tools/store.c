// SPDX-License-Identifier: GPL-2.0
/* unionblk format, check and repair: a store's life outside the kernel. */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "unionblk.h"

/* ------------------------------------------------------------------ */
/* format                                                              */

int cmd_format(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "base", required_argument, NULL, 'b' },
		{ "chunk-size", required_argument, NULL, 'c' },
		{ "capacity", required_argument, NULL, 's' },
		{ "tenant", required_argument, NULL, 't' },
		{ "base-name", required_argument, NULL, 'n' },
		{ "journal-blocks", required_argument, NULL, 'J' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct ub_format_opts o = { 0 };
	struct ub_store *s;
	struct ub_diag d;
	uint64_t v;
	char uuid[37], sz[32];
	int c, r;

	opterr = 0;
	while ((c = next_opt(argc, argv, ":b:c:s:t:n:J:fh", opts)) != -1) {
		switch (c) {
		case 'b':
			o.base = optarg;
			break;
		case 'c':
			v = parse_size_or_die("--chunk-size", optarg);
			if (v < 4096 || v > (1 << 20) || (v & (v - 1)))
				usage_error("--chunk-size %s: a power of two from 4k to 1m",
					    optarg);
			o.chunk_sectors = v >> UB_SECTOR_SHIFT;
			break;
		case 's':
			o.capacity_bytes = parse_size_or_die("--capacity", optarg);
			if (!o.capacity_bytes)
				usage_error("--capacity must be above zero");
			break;
		case 't':
			o.tenant = optarg;
			break;
		case 'n':
			o.base_name = optarg;
			break;
		case 'J':
			v = parse_size_or_die("--journal-blocks", optarg);
			if (v < UB_MIN_JOURNAL_BLOCKS || v > UB_MAX_JOURNAL_BLOCKS)
				usage_error("--journal-blocks %s: from %d to %d",
					    optarg, UB_MIN_JOURNAL_BLOCKS,
					    UB_MAX_JOURNAL_BLOCKS);
			o.journal_blocks = v;
			break;
		case 'f':
			o.force = true;
			break;
		}
	}
	if (optind != argc - 1)
		usage_error("format takes one STORE");
	if (!o.base)
		usage_error("format needs --base BASE");

	ub_diag_init(&d);
	r = ub_format(argv[optind], &o, &d);
	if (r) {
		error(r, "format: %s", d.err);
		goto out;
	}
	r = ub_open(argv[optind], NULL, 0, &s, &d);
	if (r) {
		error(r, "format: reopening: %s", d.err);
		goto out;
	}
	ub_uuid_unparse(s->sb.uuid, uuid);
	printf("%s: formatted over %s\n", s->path, o.base);
	printf("  uuid %s, %" PRIu64 " chunks of %u bytes (%s virtual)\n", uuid,
	       s->capacity, s->chunk_bytes,
	       human_size(ub_virtual_bytes(s), sz, sizeof(sz)));
	printf("  metadata %s, %" PRIu64 " data chunks, base fingerprint 0x%08x\n",
	       human_size(s->lay.data_start << UB_SECTOR_SHIFT, sz, sizeof(sz)),
	       s->data_chunks, le32toh(s->sb.base_fingerprint));
	if (s->data_chunks < s->capacity)
		printf("  note: room for %" PRIu64 " of %" PRIu64 " chunks to be copied up\n",
		       s->data_chunks, s->capacity);
	ub_close(s);
out:
	ub_diag_free(&d);
	return r;
}

/* ------------------------------------------------------------------ */
/* check                                                               */

static const char *base_state(const struct ub_store *s)
{
	if (!s->base_checked)
		return "not checked";
	return s->base_matches ? "matches" : "mismatch";
}

static void check_json(const char *path, const struct ub_store *s,
		       const struct ub_check_summary *sum,
		       const struct ub_diag *d)
{
	json_object *o = json_object_new_object();
	char uuid[37];

	json_object_object_add(o, "store", json_object_new_string(path));
	json_object_object_add(o, "clean", json_object_new_boolean(!d->errors));
	json_object_object_add(o, "errors", json_object_new_uint64(d->errors));
	json_object_object_add(o, "warnings",
			       json_object_new_uint64(d->warnings));
	json_object_object_add(o, "problems", problems_json(d));
	json_object_object_add(o, "problems_not_shown",
			       json_object_new_uint64(d->dropped));
	if (s) {
		ub_uuid_unparse(s->sb.uuid, uuid);
		json_object_object_add(o, "uuid", json_object_new_string(uuid));
		json_object_object_add(o, "superblock_block",
				       json_object_new_int(s->sb_block));
		json_object_object_add(o, "seq", json_object_new_uint64(s->st.seq));
		json_object_object_add(o, "journal_slot",
				       json_object_new_int(s->st.slot));
		json_object_object_add(o, "chunk_bytes",
				       json_object_new_uint64(s->chunk_bytes));
		json_object_object_add(o, "capacity_chunks",
				       json_object_new_uint64(s->capacity));
		json_object_object_add(o, "data_start_sector",
				       json_object_new_uint64(s->lay.data_start));
		json_object_object_add(o, "data_chunks",
				       json_object_new_uint64(s->data_chunks));
		json_object_object_add(o, "mapped_chunks",
				       json_object_new_uint64(sum->mapped_chunks));
		json_object_object_add(o, "whiteout_chunks",
				       json_object_new_uint64(sum->whiteout_chunks));
		json_object_object_add(o, "bitmap_set",
				       json_object_new_uint64(sum->bitmap_set));
		json_object_object_add(o, "base",
				       json_object_new_string(base_state(s)));
	}
	json_print(o);
}

int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "base", required_argument, NULL, 'b' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct ub_check_summary sum = { 0 };
	const char *base = NULL, *path;
	struct ub_store *s = NULL;
	struct ub_diag d;
	bool json = false;
	int c, r;

	opterr = 0;
	while ((c = next_opt(argc, argv, ":b:jh", opts)) != -1) {
		if (c == 'b')
			base = optarg;
		else if (c == 'j')
			json = true;
	}
	if (optind != argc - 1)
		usage_error("check takes one STORE");
	path = argv[optind];

	ub_diag_init(&d);
	r = ub_open(path, base, UB_OPEN_TOLERANT, &s, &d);
	if (r == -EUCLEAN) {
		/* the store itself is unreadable: that is its problem */
		ub_problem(&d, UB_ERR, "%s", d.err);
		r = 0;
	} else if (r) {
		error(r, "check: %s", d.err);
		goto out;
	} else {
		r = ub_check(s, &sum, &d);
		if (r) {
			error(r, "check: %s", d.err);
			goto out;
		}
	}

	if (json) {
		check_json(path, s, &sum, &d);
	} else {
		print_problems(stdout, &d, NULL);
		if (d.errors)
			printf("%s: %" PRIu64 " error%s, %" PRIu64 " warning%s\n",
			       path, d.errors, d.errors == 1 ? "" : "s",
			       d.warnings, d.warnings == 1 ? "" : "s");
		else
			printf("%s: clean%s\n", path,
			       d.warnings ? " (with warnings)" : "");
		if (s) {
			printf("  seq %" PRIu64 " (journal slot %d), %" PRIu64 " mapped, %" PRIu64 " whiteout, %" PRIu64 " of %" PRIu64 " data chunks allocated\n",
			       s->st.seq, s->st.slot, sum.mapped_chunks,
			       sum.whiteout_chunks, sum.bitmap_set,
			       s->data_chunks);
			printf("  base %s\n", base_state(s));
		}
	}
	r = d.errors ? UB_RC_PROBLEMS : 0;
out:
	ub_close(s);
	ub_diag_free(&d);
	return r;
}

/* ------------------------------------------------------------------ */
/* repair                                                              */

static void default_backup(const struct ub_store *s, char *buf, size_t len)
{
	char uuid[37], ts[32];
	time_t now = time(NULL);
	struct tm tm;

	ub_uuid_unparse(s->sb.uuid, uuid);
	localtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y%m%d-%H%M%S", &tm);
	snprintf(buf, len, "unionblk-backup-%s-%s.img", uuid, ts);
}

int cmd_repair(int argc, char **argv)
{
	enum { OPT_NO_BACKUP = 256 };
	static const struct option opts[] = {
		{ "backup", required_argument, NULL, 'B' },
		{ "no-backup", no_argument, NULL, OPT_NO_BACKUP },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct ub_check_summary sum;
	struct ub_repair_stats rs;
	struct ub_write_stats ws;
	struct ub_meta m = { 0 };
	struct ub_store *s = NULL;
	struct ub_diag found, plan, after;
	const char *backup = NULL, *path;
	char defbackup[128];
	bool no_backup = false, dry = false, json = false;
	json_object *jo;
	int c, r;

	opterr = 0;
	while ((c = next_opt(argc, argv, ":B:njh", opts)) != -1) {
		switch (c) {
		case 'B':
			backup = optarg;
			break;
		case OPT_NO_BACKUP:
			no_backup = true;
			break;
		case 'n':
			dry = true;
			break;
		case 'j':
			json = true;
			break;
		}
	}
	if (optind != argc - 1)
		usage_error("repair takes one STORE");
	if (backup && no_backup)
		usage_error("--backup and --no-backup conflict");
	path = argv[optind];

	ub_diag_init(&found);
	ub_diag_init(&plan);
	ub_diag_init(&after);
	r = ub_open(path, NULL, UB_OPEN_TOLERANT | (dry ? 0 : UB_OPEN_RW), &s,
		    &found);
	if (r) {
		error(r, "repair: %s%s", found.err, r == -EUCLEAN ?
		      " (nothing to rebuild from: restore a dump or a backup)" : "");
		goto out;
	}
	r = ub_check(s, &sum, &found);
	if (r) {
		error(r, "repair: %s", found.err);
		goto out;
	}
	r = ub_repair_plan(s, &m, &rs, &plan);
	if (r) {
		error(r, "repair: %s", plan.err);
		goto out;
	}
	r = ub_meta_write(s, &m, UB_WRITE_AUTO, true, &ws, &plan);
	if (r) {
		error(r, "repair: %s", plan.err);
		goto out;
	}
	if (!ws.blocks_changed && !ws.journaled && !ws.sb_rewritten) {
		if (json) {
			jo = json_object_new_object();
			json_object_object_add(jo, "store", json_object_new_string(path));
			json_object_object_add(jo, "changed", json_object_new_boolean(0));
			json_object_object_add(jo, "found", problems_json(&found));
			json_print(jo);
		} else {
			print_problems(stdout, &found, NULL);
			printf("%s: nothing to repair\n", path);
		}
		r = 0;
		goto out;
	}
	if (!json) {
		print_problems(stdout, &found, "found ");
		print_problems(stdout, &plan, dry ? "would " : "");
		printf("%s: %s %" PRIu64 " metadata blocks%s%s, seq %" PRIu64 "\n",
		       path, dry ? "would write" : "writing", ws.blocks_changed,
		       ws.full ? " (full rewrite, superblocks last)" :
		       ws.journaled ? " in one journal transaction" : "",
		       ws.sb_rewritten ? " and both superblocks" : "", m.seq);
	}
	if (dry) {
		r = 0;
		goto out;
	}

	if (!no_backup) {
		if (!backup) {
			default_backup(s, defbackup, sizeof(defbackup));
			backup = defbackup;
		}
		r = ub_backup_metadata(s, backup, &plan);
		if (r) {
			error(r, "repair: backup: %s (nothing written)", plan.err);
			goto out;
		}
		if (!json)
			printf("saved the old metadata to %s; to undo: dd if=%s of=%s conv=notrunc,fsync\n",
			       backup, backup, path);
	}
	r = ub_meta_write(s, &m, UB_WRITE_AUTO, false, &ws, &plan);
	if (r) {
		error(r, "repair: %s%s%s", plan.err,
		      no_backup ? "" : "; the old metadata is in ",
		      no_backup ? "" : backup);
		goto out;
	}
	ub_close(s);
	s = NULL;

	r = ub_open(path, NULL, UB_OPEN_TOLERANT, &s, &after);
	if (!r)
		r = ub_check(s, &sum, &after);
	if (r) {
		error(r, "repair: checking the result: %s", after.err);
		goto out;
	}
	if (json) {
		jo = json_object_new_object();
		json_object_object_add(jo, "store", json_object_new_string(path));
		json_object_object_add(jo, "changed", json_object_new_boolean(1));
		json_object_object_add(jo, "found", problems_json(&found));
		json_object_object_add(jo, "actions", problems_json(&plan));
		json_object_object_add(jo, "blocks_written",
				       json_object_new_uint64(ws.blocks_changed));
		json_object_object_add(jo, "journaled",
				       json_object_new_boolean(ws.journaled));
		json_object_object_add(jo, "seq", json_object_new_uint64(m.seq));
		json_object_object_add(jo, "backup", backup ?
				       json_object_new_string(backup) : NULL);
		json_object_object_add(jo, "entries_lost",
				       json_object_new_uint64(rs.entries_cleared));
		json_object_object_add(jo, "map_blocks_dropped",
				       json_object_new_uint64(rs.blocks_dropped));
		json_object_object_add(jo, "clean",
				       json_object_new_boolean(!after.errors));
		json_object_object_add(jo, "remaining", problems_json(&after));
		json_print(jo);
	} else if (after.errors) {
		print_problems(stdout, &after, "still ");
		printf("%s: repaired, but %" PRIu64 " errors remain\n", path,
		       after.errors);
	} else {
		printf("%s: repaired and clean (%" PRIu64 " map blocks dropped, %" PRIu64 " entries unmapped)\n",
		       path, rs.blocks_dropped, rs.entries_cleared);
	}
	r = after.errors ? UB_RC_PROBLEMS : 0;
out:
	ub_meta_free(&m);
	ub_close(s);
	ub_diag_free(&found);
	ub_diag_free(&plan);
	ub_diag_free(&after);
	return r;
}
