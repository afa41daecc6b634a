// SPDX-License-Identifier: GPL-2.0
/* unionblk delta: what a tenant changed, as ranges of chunks. */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>

#include "unionblk.h"

struct delta_out {
	const struct ub_store *s;
	json_object *ranges;
	uint64_t nr, mapped, whiteout;
};

static int print_range(void *ctx, enum ub_range_type type, uint64_t first,
		       uint64_t nr)
{
	struct delta_out *o = ctx;
	uint64_t cb = o->s->chunk_bytes;
	const char *name = type == UB_RANGE_MAPPED ? "mapped" : "whiteout";

	o->nr++;
	if (type == UB_RANGE_MAPPED)
		o->mapped += nr;
	else
		o->whiteout += nr;
	if (o->ranges) {
		json_object *r = json_object_new_object();

		json_object_object_add(r, "type", json_object_new_string(name));
		json_object_object_add(r, "chunk", json_object_new_uint64(first));
		json_object_object_add(r, "chunks", json_object_new_uint64(nr));
		json_object_object_add(r, "offset",
				       json_object_new_uint64(first * cb));
		json_object_object_add(r, "length",
				       json_object_new_uint64(nr * cb));
		json_object_array_add(o->ranges, r);
		return 0;
	}
	printf("%-9s %12" PRIu64 " %10" PRIu64 " %16" PRIu64 " %14" PRIu64 "\n",
	       name, first, nr, first * cb, nr * cb);
	return 0;
}

int cmd_delta(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct delta_out o = { 0 };
	struct ub_store *s = NULL;
	struct ub_diag d;
	bool json = false;
	json_object *root = NULL;
	int c, r;

	opterr = 0;
	while ((c = next_opt(argc, argv, ":jh", opts)) != -1)
		if (c == 'j')
			json = true;
	if (optind != argc - 1)
		usage_error("delta takes one STORE");

	ub_diag_init(&d);
	r = ub_open(argv[optind], NULL, 0, &s, &d);
	if (r) {
		error(r, "delta: %s", d.err);
		goto out;
	}
	warn_problems(&d);
	o.s = s;
	if (json)
		o.ranges = json_object_new_array();
	else
		printf("%-9s %12s %10s %16s %14s\n", "TYPE", "CHUNK", "CHUNKS",
		       "OFFSET", "LENGTH");
	r = ub_delta_walk(s, print_range, &o, &d);
	if (r) {
		json_object_put(o.ranges);
		error(r, "delta: %s", d.err);
		goto out;
	}
	if (json) {
		root = json_object_new_object();
		json_object_object_add(root, "store",
				       json_object_new_string(s->path));
		json_object_object_add(root, "chunk_bytes",
				       json_object_new_uint64(s->chunk_bytes));
		json_object_object_add(root, "capacity_chunks",
				       json_object_new_uint64(s->capacity));
		json_object_object_add(root, "seq", json_object_new_uint64(s->st.seq));
		json_object_object_add(root, "mapped_chunks",
				       json_object_new_uint64(o.mapped));
		json_object_object_add(root, "whiteout_chunks",
				       json_object_new_uint64(o.whiteout));
		json_object_object_add(root, "ranges", o.ranges);
		json_print(root);
	}
out:
	ub_close(s);
	ub_diag_free(&d);
	return r;
}
