// SPDX-License-Identifier: GPL-2.0
/*
 * Dump and restore: the committed metadata of a store as JSON or XML,
 * and back.  A dump holds the static superblock fields, the committed
 * state (seq, flags, counters, allocation cursor) and the mapping table
 * as runs; the layout, the bitmap and the checksums are derived.  So
 * dump -> restore -> dump gives the same text.
 *
 *   { "unionblk_dump": 1,
 *     "superblock": { "version": 1, "flags": 0, "chunk_sectors": 8, ... },
 *     "state": { "seq": 7, "flags": 0, "mapped_chunks": 3, ... },
 *     "mappings": [ [virt, data, count], ... ],
 *     "whiteouts": [ [virt, count], ... ] }
 *
 *   <unionblk_dump version="1">
 *     <superblock version="1" flags="0" chunk_sectors="8" .../>
 *     <state seq="7" .../>
 *     <mapping virt="0" data="0" count="3"/>
 *     <whiteout virt="9" count="1"/>
 *   </unionblk_dump>
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <expat.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "libunionblk.h"

#define DUMP_VERSION	1

uint64_t ub_max_capacity(uint64_t size_bytes)
{
	uint64_t c = size_bytes / UB_BLOCK_SIZE * UB_MAP_ENTRIES;

	return c < UB_MAP_MAX_DATA_CHUNKS ? c : UB_MAP_MAX_DATA_CHUNKS;
}

/* ------------------------------------------------------------------ */
/* Names: a string when printable ASCII, else hex                      */

static bool name_printable(const char *n, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)n[i] < 0x20 || (unsigned char)n[i] > 0x7e)
			return false;
	return true;
}

/* Length up to the padding; bytes after the first NUL count too. */
static size_t name_len(const char n[UB_NAME_LEN])
{
	size_t len = UB_NAME_LEN;

	while (len && !n[len - 1])
		len--;
	return len;
}

static void hex_encode(const char *n, size_t len, char *out)
{
	size_t i;

	for (i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", (unsigned char)n[i]);
	out[2 * len] = '\0';
}

static int hex_decode(const char *in, char n[UB_NAME_LEN])
{
	size_t len = strlen(in), i;

	if (len % 2 || len / 2 > UB_NAME_LEN)
		return -1;
	memset(n, 0, UB_NAME_LEN);
	for (i = 0; i < len / 2; i++) {
		unsigned int v;

		if (sscanf(in + 2 * i, "%2x", &v) != 1 ||
		    !strchr("0123456789abcdefABCDEF", in[2 * i]) ||
		    !strchr("0123456789abcdefABCDEF", in[2 * i + 1]))
			return -1;
		n[i] = (char)v;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Dump                                                                */

struct run {
	bool open;
	bool whiteout;
	uint64_t virt, data, count;
};

struct dump_ctx {
	struct ub_store *s;
	enum ub_dump_format fmt;
	FILE *out;
	struct ub_diag *d;
	struct run map, wo;
	bool want_map, want_wo;	/* JSON: one kind per pass */
	uint64_t nr_out;
};

static void emit_run(struct dump_ctx *c, struct run *r)
{
	if (!r->open)
		return;
	r->open = false;
	if (c->fmt == UB_DUMP_XML) {
		if (r->whiteout)
			fprintf(c->out,
				"  <whiteout virt=\"%" PRIu64 "\" count=\"%" PRIu64 "\"/>\n",
				r->virt, r->count);
		else
			fprintf(c->out,
				"  <mapping virt=\"%" PRIu64 "\" data=\"%" PRIu64 "\" count=\"%" PRIu64 "\"/>\n",
				r->virt, r->data, r->count);
		return;
	}
	fprintf(c->out, "%s\n    ", c->nr_out++ ? "," : "");
	if (r->whiteout)
		fprintf(c->out, "[%" PRIu64 ", %" PRIu64 "]", r->virt, r->count);
	else
		fprintf(c->out, "[%" PRIu64 ", %" PRIu64 ", %" PRIu64 "]",
			r->virt, r->data, r->count);
}

static int dump_block(void *ctx, uint64_t idx, uint64_t first,
		      const uint32_t *e, uint32_t nr, uint32_t tail,
		      enum ub_blk_status st, uint64_t seq, const char *why)
{
	struct dump_ctx *c = ctx;
	uint32_t i;

	(void)tail;
	(void)seq;
	if (st == UB_BLK_BAD || st == UB_BLK_FUTURE)
		return ub_fail(c->d, -EUCLEAN,
			       "map block %" PRIu64 " (chunks %" PRIu64 "-%" PRIu64 "): %s",
			       idx, first, first + UB_MAP_ENTRIES - 1, why);
	for (i = 0; i < nr; i++) {
		uint64_t v = first + i;

		if (e[i] == UB_MAP_UNMAPPED)
			continue;
		if (e[i] == UB_MAP_WHITEOUT) {
			if (!c->want_wo)
				continue;
			if (c->wo.open && c->wo.virt + c->wo.count == v) {
				c->wo.count++;
				continue;
			}
			emit_run(c, &c->wo);
			c->wo = (struct run){ true, true, v, 0, 1 };
			continue;
		}
		if (!c->want_map)
			continue;
		if (c->map.open && c->map.virt + c->map.count == v &&
		    c->map.data + c->map.count == (uint64_t)e[i] - 1) {
			c->map.count++;
			continue;
		}
		emit_run(c, &c->map);
		c->map = (struct run){ true, false, v, (uint64_t)e[i] - 1, 1 };
	}
	return 0;
}

static void xml_attr_name(FILE *out, const char *key, const char n[UB_NAME_LEN])
{
	size_t len = name_len(n), i;
	char hex[2 * UB_NAME_LEN + 1];

	if (!name_printable(n, len)) {
		hex_encode(n, len, hex);
		fprintf(out, " %s_hex=\"%s\"", key, hex);
		return;
	}
	fprintf(out, " %s=\"", key);
	for (i = 0; i < len; i++) {
		switch (n[i]) {
		case '&':
			fputs("&amp;", out);
			break;
		case '<':
			fputs("&lt;", out);
			break;
		case '>':
			fputs("&gt;", out);
			break;
		case '"':
			fputs("&quot;", out);
			break;
		default:
			fputc(n[i], out);
		}
	}
	fputc('"', out);
}

static void json_name(json_object *o, const char *key,
		      const char n[UB_NAME_LEN])
{
	size_t len = name_len(n);
	char hex[2 * UB_NAME_LEN + 1], k[32];

	if (name_printable(n, len)) {
		json_object_object_add(o, key, json_object_new_string_len(n, len));
		return;
	}
	hex_encode(n, len, hex);
	snprintf(k, sizeof(k), "%s_hex", key);
	json_object_object_add(o, k, json_object_new_string(hex));
}

static void json_sb_state(struct ub_store *s, FILE *out)
{
	const struct ub_superblock *sb = &s->sb;
	char uuid[37], buuid[37], fp[16];
	json_object *o;

	ub_uuid_unparse(sb->uuid, uuid);
	ub_uuid_unparse(sb->base_uuid, buuid);
	snprintf(fp, sizeof(fp), "0x%08x", le32toh(sb->base_fingerprint));
	o = json_object_new_object();
	json_object_object_add(o, "version",
			       json_object_new_uint64(le32toh(sb->version)));
	json_object_object_add(o, "flags",
			       json_object_new_uint64(le32toh(sb->flags)));
	json_object_object_add(o, "chunk_sectors",
			       json_object_new_uint64(le32toh(sb->chunk_sectors)));
	json_object_object_add(o, "journal_blocks",
			       json_object_new_uint64(le32toh(sb->journal_blocks)));
	json_object_object_add(o, "capacity_chunks",
			       json_object_new_uint64(le64toh(sb->capacity_chunks)));
	json_object_object_add(o, "base_sectors",
			       json_object_new_uint64(le64toh(sb->base_sectors)));
	json_object_object_add(o, "base_fingerprint", json_object_new_string(fp));
	json_object_object_add(o, "uuid", json_object_new_string(uuid));
	json_object_object_add(o, "base_uuid", json_object_new_string(buuid));
	json_name(o, "tenant_name", sb->tenant_name);
	json_name(o, "base_name", sb->base_name);
	json_object_object_add(o, "created",
			       json_object_new_uint64(le64toh(sb->created)));
	fprintf(out, "  \"superblock\": %s,\n",
		json_object_to_json_string_ext(o, JSON_C_TO_STRING_SPACED |
					       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);

	o = json_object_new_object();
	json_object_object_add(o, "seq", json_object_new_uint64(s->st.seq));
	json_object_object_add(o, "flags", json_object_new_uint64(s->st.flags));
	json_object_object_add(o, "mapped_chunks",
			       json_object_new_uint64(s->st.mapped_chunks));
	json_object_object_add(o, "whiteout_chunks",
			       json_object_new_uint64(s->st.whiteout_chunks));
	json_object_object_add(o, "alloc_cursor",
			       json_object_new_uint64(s->st.alloc_cursor));
	fprintf(out, "  \"state\": %s,\n",
		json_object_to_json_string_ext(o, JSON_C_TO_STRING_SPACED));
	json_object_put(o);
}

static void xml_sb_state(struct ub_store *s, FILE *out)
{
	const struct ub_superblock *sb = &s->sb;
	char uuid[37], buuid[37];

	ub_uuid_unparse(sb->uuid, uuid);
	ub_uuid_unparse(sb->base_uuid, buuid);
	fprintf(out, "<unionblk_dump version=\"%d\">\n", DUMP_VERSION);
	fprintf(out, "  <superblock version=\"%u\" flags=\"%u\" chunk_sectors=\"%u\" journal_blocks=\"%u\" capacity_chunks=\"%" PRIu64 "\" base_sectors=\"%" PRIu64 "\" base_fingerprint=\"0x%08x\" uuid=\"%s\" base_uuid=\"%s\"",
		le32toh(sb->version), le32toh(sb->flags),
		le32toh(sb->chunk_sectors), le32toh(sb->journal_blocks),
		(uint64_t)le64toh(sb->capacity_chunks),
		(uint64_t)le64toh(sb->base_sectors),
		le32toh(sb->base_fingerprint), uuid, buuid);
	xml_attr_name(out, "tenant_name", sb->tenant_name);
	xml_attr_name(out, "base_name", sb->base_name);
	fprintf(out, " created=\"%" PRIu64 "\"/>\n",
		(uint64_t)le64toh(sb->created));
	fprintf(out, "  <state seq=\"%" PRIu64 "\" flags=\"%u\" mapped_chunks=\"%" PRIu64 "\" whiteout_chunks=\"%" PRIu64 "\" alloc_cursor=\"%" PRIu64 "\"/>\n",
		s->st.seq, s->st.flags, s->st.mapped_chunks,
		s->st.whiteout_chunks, s->st.alloc_cursor);
}

/* One walk over the map emitting the kinds c wants. */
static int dump_pass(struct dump_ctx *c, bool map, bool wo)
{
	int r;

	c->want_map = map;
	c->want_wo = wo;
	c->nr_out = 0;
	r = ub_map_walk(c->s, dump_block, c, c->d);
	if (r)
		return r;
	emit_run(c, &c->map);
	emit_run(c, &c->wo);
	return 0;
}

int ub_dump(struct ub_store *s, FILE *out, enum ub_dump_format fmt,
	    struct ub_diag *d)
{
	struct dump_ctx c = { .s = s, .fmt = fmt, .out = out, .d = d };
	int r;

	if (fmt == UB_DUMP_XML) {
		xml_sb_state(s, out);
		r = dump_pass(&c, true, true);
		if (r)
			return r;
		fprintf(out, "</unionblk_dump>\n");
	} else {
		fprintf(out, "{\n  \"unionblk_dump\": %d,\n", DUMP_VERSION);
		json_sb_state(s, out);
		fprintf(out, "  \"mappings\": [");
		r = dump_pass(&c, true, false);
		if (r)
			return r;
		fprintf(out, "%s],\n  \"whiteouts\": [", c.nr_out ? "\n  " : "");
		r = dump_pass(&c, false, true);
		if (r)
			return r;
		fprintf(out, "%s]\n}\n", c.nr_out ? "\n  " : "");
	}
	if (fflush(out) == EOF || ferror(out))
		return ub_fail(d, -EIO, "writing the dump: %s", strerror(errno));
	return 0;
}

/* ------------------------------------------------------------------ */
/* Parse: both syntaxes fill the same fields through these setters      */

struct parse_ctx {
	struct ub_meta *m;
	struct ub_diag *d;
	uint64_t max_capacity;
	bool have_sb, have_state;
	int err;
};

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	*v = strtoull(s, &end, 0);
	return (errno || *end) ? -1 : 0;
}

/* One superblock or state field by name; value as text or number. */
static int set_field(struct parse_ctx *p, bool sb, const char *key,
		     const char *sval, bool have_num, uint64_t num)
{
	struct ub_meta *m = p->m;
	struct ub_superblock *s = &m->sb;
	uint64_t v = num;
	uint8_t u[16];

	if (sb && (!strcmp(key, "uuid") || !strcmp(key, "base_uuid"))) {
		if (!sval || ub_uuid_parse(sval, u))
			return ub_fail(p->d, -EINVAL, "superblock: bad %s", key);
		memcpy(!strcmp(key, "uuid") ? s->uuid : s->base_uuid, u, 16);
		return 0;
	}
	if (sb && (!strcmp(key, "tenant_name") || !strcmp(key, "base_name"))) {
		char *dst = key[0] == 't' ? s->tenant_name : s->base_name;
		size_t len = sval ? strlen(sval) : 0;

		if (!sval || len > UB_NAME_LEN)
			return ub_fail(p->d, -EINVAL, "superblock: %s too long or not a string", key);
		memset(dst, 0, UB_NAME_LEN);
		memcpy(dst, sval, len);
		return 0;
	}
	if (sb && (!strcmp(key, "tenant_name_hex") || !strcmp(key, "base_name_hex"))) {
		char *dst = key[0] == 't' ? s->tenant_name : s->base_name;

		if (!sval || hex_decode(sval, dst))
			return ub_fail(p->d, -EINVAL, "superblock: bad %s", key);
		return 0;
	}
	if (!have_num && parse_u64(sval, &v))
		return ub_fail(p->d, -EINVAL, "%s: %s is not a number",
			       sb ? "superblock" : "state", key);
#define U32(f)								\
	if (!strcmp(key, #f)) {						\
		if (v > UINT32_MAX)					\
			return ub_fail(p->d, -ERANGE, "%s out of range", #f); \
		s->f = htole32((uint32_t)v);				\
		return 0;						\
	}
#define U64(f)								\
	if (!strcmp(key, #f)) {						\
		s->f = htole64(v);					\
		return 0;						\
	}
	if (sb) {
		U32(version)
		U32(flags)
		U32(chunk_sectors)
		U32(journal_blocks)
		U32(base_fingerprint)
		U64(capacity_chunks)
		U64(base_sectors)
		U64(created)
	} else {
		if (!strcmp(key, "seq")) {
			m->seq = v;
			return 0;
		}
		if (!strcmp(key, "flags")) {
			if (v > UINT32_MAX)
				return ub_fail(p->d, -ERANGE, "state flags out of range");
			m->jflags = (uint32_t)v;
			return 0;
		}
		if (!strcmp(key, "mapped_chunks")) {
			m->mapped_chunks = v;
			return 0;
		}
		if (!strcmp(key, "whiteout_chunks")) {
			m->whiteout_chunks = v;
			return 0;
		}
		if (!strcmp(key, "alloc_cursor")) {
			m->alloc_cursor = v;
			return 0;
		}
	}
#undef U32
#undef U64
	return ub_fail(p->d, -EINVAL, "%s: unknown field \"%s\"",
		       sb ? "superblock" : "state", key);
}

/* After the superblock: allocate the map. */
static int start_map(struct parse_ctx *p)
{
	struct ub_meta *m = p->m;
	uint64_t cap = le64toh(m->sb.capacity_chunks);

	if (m->map)
		return ub_fail(p->d, -EINVAL, "more than one superblock");
	uint32_t cs = le32toh(m->sb.chunk_sectors);
	uint32_t jb = le32toh(m->sb.journal_blocks);
	struct ub_layout l;

	if (le32toh(m->sb.version) != UB_FORMAT_VERSION)
		return ub_fail(p->d, -EINVAL, "superblock: unsupported format version %u",
			       le32toh(m->sb.version));
	if (cs < UB_MIN_CHUNK_SECTORS || cs > UB_MAX_CHUNK_SECTORS ||
	    (cs & (cs - 1)))
		return ub_fail(p->d, -EINVAL,
			       "superblock: chunk_sectors %u is not a power of two in [%u, %u]",
			       cs, UB_MIN_CHUNK_SECTORS, UB_MAX_CHUNK_SECTORS);
	if (jb < UB_MIN_JOURNAL_BLOCKS || jb > UB_MAX_JOURNAL_BLOCKS)
		return ub_fail(p->d, -EINVAL,
			       "superblock: journal_blocks %u outside [%u, %u]",
			       jb, UB_MIN_JOURNAL_BLOCKS, UB_MAX_JOURNAL_BLOCKS);
	if (cap == 0 || cap > p->max_capacity)
		return ub_fail(p->d, -ERANGE,
			       "capacity_chunks %" PRIu64 " outside [1, %" PRIu64 "] for this store",
			       cap, p->max_capacity);
	ub_compute_layout(cap, cs, jb, &l);
	m->sb.journal_start = htole64(l.journal_start);
	m->sb.map_start = htole64(l.map_start);
	m->sb.map_blocks = htole64(l.map_blocks);
	m->sb.bitmap_start = htole64(l.bitmap_start);
	m->sb.bitmap_blocks = htole64(l.bitmap_blocks);
	m->sb.data_start = htole64(l.data_start);
	m->capacity = cap;
	m->map = calloc(cap, sizeof(*m->map));
	if (!m->map)
		return ub_fail(p->d, -ENOMEM, "out of memory for %" PRIu64 " chunks", cap);
	p->have_sb = true;
	return 0;
}

static int add_run(struct parse_ctx *p, bool whiteout, uint64_t virt,
		   uint64_t data, uint64_t count)
{
	struct ub_meta *m = p->m;
	uint64_t i;

	if (!m->map)
		return ub_fail(p->d, -EINVAL, "mapping before the superblock");
	if (count == 0 || virt >= m->capacity || count > m->capacity - virt)
		return ub_fail(p->d, -ERANGE,
			       "%s %" PRIu64 "+%" PRIu64 " outside the capacity (%" PRIu64 " chunks)",
			       whiteout ? "whiteout" : "mapping", virt, count,
			       m->capacity);
	if (!whiteout && (data >= UB_MAP_MAX_DATA_CHUNKS ||
			  count > UB_MAP_MAX_DATA_CHUNKS - data))
		return ub_fail(p->d, -ERANGE,
			       "mapping %" PRIu64 ": data chunk %" PRIu64 "+%" PRIu64 " out of range",
			       virt, data, count);
	for (i = 0; i < count; i++) {
		if (m->map[virt + i])
			return ub_fail(p->d, -EINVAL,
				       "chunk %" PRIu64 " listed twice", virt + i);
		m->map[virt + i] = whiteout ? UB_MAP_WHITEOUT :
			(uint32_t)(data + i + 1);
	}
	return 0;
}

/* ---- JSON ---- */

static int json_u64(json_object *v, uint64_t *out)
{
	if (!json_object_is_type(v, json_type_int))
		return -1;
	if (json_object_get_int64(v) < 0)
		return -1;
	*out = json_object_get_uint64(v);
	return 0;
}

static int json_section(struct parse_ctx *p, json_object *o, bool sb)
{
	if (!json_object_is_type(o, json_type_object))
		return ub_fail(p->d, -EINVAL, "\"%s\" is not an object",
			       sb ? "superblock" : "state");
	json_object_object_foreach(o, key, val) {
		uint64_t num = 0;
		int r;

		if (json_object_is_type(val, json_type_string))
			r = set_field(p, sb, key, json_object_get_string(val),
				      false, 0);
		else if (!json_u64(val, &num))
			r = set_field(p, sb, key, NULL, true, num);
		else
			r = ub_fail(p->d, -EINVAL, "%s: bad value for \"%s\"",
				    sb ? "superblock" : "state", key);
		if (r)
			return r;
	}
	return 0;
}

static int json_runs(struct parse_ctx *p, json_object *a, bool whiteout)
{
	size_t i, n, want = whiteout ? 2 : 3;

	if (!json_object_is_type(a, json_type_array))
		return ub_fail(p->d, -EINVAL, "\"%s\" is not an array",
			       whiteout ? "whiteouts" : "mappings");
	n = json_object_array_length(a);
	for (i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);
		uint64_t v[3] = { 0, 0, 0 };
		size_t j;
		int r;

		if (!json_object_is_type(e, json_type_array) ||
		    json_object_array_length(e) != want)
			return ub_fail(p->d, -EINVAL, "%s[%zu]: expected %zu numbers",
				       whiteout ? "whiteouts" : "mappings", i, want);
		for (j = 0; j < want; j++)
			if (json_u64(json_object_array_get_idx(e, j), &v[j]))
				return ub_fail(p->d, -EINVAL, "%s[%zu]: not a number",
					       whiteout ? "whiteouts" : "mappings", i);
		if (whiteout)
			r = add_run(p, true, v[0], 0, v[1]);
		else
			r = add_run(p, false, v[0], v[1], v[2]);
		if (r)
			return r;
	}
	return 0;
}

static int parse_json(struct parse_ctx *p, const char *buf, size_t len)
{
	struct json_tokener *tok = json_tokener_new_ex(64);
	json_object *root = NULL, *o;
	uint64_t ver;
	int r;

	if (!tok)
		return ub_fail(p->d, -ENOMEM, "out of memory");
	if (len > INT32_MAX) {
		r = ub_fail(p->d, -EFBIG, "dump too big");
		goto out;
	}
	root = json_tokener_parse_ex(tok, buf, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success) {
		r = ub_fail(p->d, -EINVAL, "not valid JSON: %s (at byte %zu)",
			    json_tokener_error_desc(json_tokener_get_error(tok)),
			    json_tokener_get_parse_end(tok));
		goto out;
	}
	if (json_tokener_get_parse_end(tok) < len &&
	    strspn(buf + json_tokener_get_parse_end(tok), " \t\r\n") !=
	    len - json_tokener_get_parse_end(tok)) {
		r = ub_fail(p->d, -EINVAL, "trailing data after the JSON dump");
		goto out;
	}
	if (!json_object_is_type(root, json_type_object) ||
	    !json_object_object_get_ex(root, "unionblk_dump", &o) ||
	    json_u64(o, &ver) || ver != DUMP_VERSION) {
		r = ub_fail(p->d, -EINVAL, "not a unionblk dump (version %d)",
			    DUMP_VERSION);
		goto out;
	}
	if (!json_object_object_get_ex(root, "superblock", &o)) {
		r = ub_fail(p->d, -EINVAL, "no \"superblock\"");
		goto out;
	}
	r = json_section(p, o, true);
	if (!r)
		r = start_map(p);
	if (r)
		goto out;
	if (!json_object_object_get_ex(root, "state", &o)) {
		r = ub_fail(p->d, -EINVAL, "no \"state\"");
		goto out;
	}
	r = json_section(p, o, false);
	if (r)
		goto out;
	p->have_state = true;
	if (json_object_object_get_ex(root, "mappings", &o)) {
		r = json_runs(p, o, false);
		if (r)
			goto out;
	}
	if (json_object_object_get_ex(root, "whiteouts", &o)) {
		r = json_runs(p, o, true);
		if (r)
			goto out;
	}
	json_object_object_foreach(root, key, val) {
		(void)val;
		if (strcmp(key, "unionblk_dump") && strcmp(key, "superblock") &&
		    strcmp(key, "state") && strcmp(key, "mappings") &&
		    strcmp(key, "whiteouts")) {
			r = ub_fail(p->d, -EINVAL, "unknown key \"%s\"", key);
			goto out;
		}
	}
	r = 0;
out:
	json_object_put(root);
	json_tokener_free(tok);
	return r;
}

/* ---- XML ---- */

struct xml_ctx {
	struct parse_ctx *p;
	XML_Parser xp;
	int depth;
	bool root_seen;
};

static void xml_stop(struct xml_ctx *x, int err)
{
	if (!x->p->err)
		x->p->err = err;
	XML_StopParser(x->xp, XML_FALSE);
}

static const char *xml_get(const XML_Char **attr, const char *name)
{
	for (; attr[0]; attr += 2)
		if (!strcmp(attr[0], name))
			return attr[1];
	return NULL;
}

static void XMLCALL xml_start(void *data, const XML_Char *el,
			      const XML_Char **attr)
{
	struct xml_ctx *x = data;
	struct parse_ctx *p = x->p;
	int r = 0;

	x->depth++;
	if (x->depth == 1) {
		const char *v = xml_get(attr, "version");

		if (strcmp(el, "unionblk_dump") || !v || strcmp(v, "1"))
			r = ub_fail(p->d, -EINVAL, "not a unionblk dump (version %d)",
				    DUMP_VERSION);
		x->root_seen = true;
	} else if (x->depth > 2) {
		r = ub_fail(p->d, -EINVAL, "unexpected element <%s>", el);
	} else if (!strcmp(el, "superblock") || !strcmp(el, "state")) {
		bool sb = el[1] == 'u';

		if (sb ? p->have_sb : p->have_state) {
			r = ub_fail(p->d, -EINVAL, "more than one <%s>", el);
		} else if (!sb && !p->have_sb) {
			r = ub_fail(p->d, -EINVAL, "<state> before <superblock>");
		} else {
			for (; !r && attr[0]; attr += 2)
				r = set_field(p, sb, attr[0], attr[1], false, 0);
			if (!r && sb)
				r = start_map(p);
			if (!r && !sb)
				p->have_state = true;
		}
	} else if (!strcmp(el, "mapping") || !strcmp(el, "whiteout")) {
		bool wo = el[0] == 'w';
		const char *sv = xml_get(attr, "virt");
		const char *sd = xml_get(attr, "data");
		const char *sc = xml_get(attr, "count");
		uint64_t v, dch = 0, cnt;
		size_t nattr = 0;

		for (; attr[nattr]; nattr += 2)
			;
		if (parse_u64(sv, &v) || parse_u64(sc, &cnt) ||
		    (!wo && parse_u64(sd, &dch)) ||
		    nattr / 2 != (wo ? 2U : 3U))
			r = ub_fail(p->d, -EINVAL, "bad <%s> at line %lu", el,
				    (unsigned long)XML_GetCurrentLineNumber(x->xp));
		else if (!p->have_state)
			r = ub_fail(p->d, -EINVAL, "<%s> before <state>", el);
		else
			r = add_run(p, wo, v, dch, cnt);
	} else {
		r = ub_fail(p->d, -EINVAL, "unknown element <%s>", el);
	}
	if (r)
		xml_stop(x, r);
}

static void XMLCALL xml_end(void *data, const XML_Char *el)
{
	struct xml_ctx *x = data;

	(void)el;
	x->depth--;
}

static void XMLCALL xml_text(void *data, const XML_Char *s, int len)
{
	struct xml_ctx *x = data;
	int i;

	for (i = 0; i < len; i++)
		if (!strchr(" \t\r\n", s[i])) {
			xml_stop(x, ub_fail(x->p->d, -EINVAL,
					    "unexpected text in the dump"));
			return;
		}
}

/* No DTDs, no entities: a dump is plain elements and attributes. */
static void XMLCALL xml_doctype(void *data, const XML_Char *name,
				const XML_Char *sysid, const XML_Char *pubid,
				int has_internal)
{
	struct xml_ctx *x = data;

	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal;
	xml_stop(x, ub_fail(x->p->d, -EINVAL, "a dump has no DOCTYPE"));
}

static int parse_xml(struct parse_ctx *p, const char *buf, size_t len)
{
	struct xml_ctx x = { .p = p };
	enum XML_Status st;
	int r = 0;

	if (len > INT32_MAX)
		return ub_fail(p->d, -EFBIG, "dump too big");
	x.xp = XML_ParserCreate("UTF-8");
	if (!x.xp)
		return ub_fail(p->d, -ENOMEM, "out of memory");
	XML_SetUserData(x.xp, &x);
	XML_SetElementHandler(x.xp, xml_start, xml_end);
	XML_SetCharacterDataHandler(x.xp, xml_text);
	XML_SetStartDoctypeDeclHandler(x.xp, xml_doctype);
	st = XML_Parse(x.xp, buf, (int)len, XML_TRUE);
	if (p->err)
		r = p->err;
	else if (st != XML_STATUS_OK)
		r = ub_fail(p->d, -EINVAL, "not valid XML: %s at line %lu",
			    XML_ErrorString(XML_GetErrorCode(x.xp)),
			    (unsigned long)XML_GetCurrentLineNumber(x.xp));
	else if (!p->have_sb || !p->have_state)
		r = ub_fail(p->d, -EINVAL, "dump without <superblock> or <state>");
	XML_ParserFree(x.xp);
	return r;
}

int ub_dump_parse(const char *buf, size_t len, uint64_t max_capacity,
		  struct ub_meta *m, struct ub_diag *d)
{
	struct parse_ctx p = { .m = m, .d = d, .max_capacity = max_capacity };
	size_t i = 0;
	int r;

	memset(m, 0, sizeof(*m));
	/* defaults a dump must override */
	m->sb.magic = htole64(UB_SB_MAGIC);
	while (i < len && strchr(" \t\r\n", buf[i]))
		i++;
	if (i < len && buf[i] == '{')
		r = parse_json(&p, buf, len);
	else if (i < len && buf[i] == '<')
		r = parse_xml(&p, buf, len);
	else
		r = ub_fail(d, -EINVAL, "not a unionblk dump (neither JSON nor XML)");
	if (!r) {
		uint64_t nm, nw;

		ub_meta_count(m, &nm, &nw);
		if (nm != m->mapped_chunks || nw != m->whiteout_chunks)
			r = ub_fail(d, -EINVAL,
				    "state says %" PRIu64 " mapped and %" PRIu64 " whiteout chunks, the dump lists %" PRIu64 " and %" PRIu64,
				    m->mapped_chunks, m->whiteout_chunks, nm, nw);
	}
	if (r)
		ub_meta_free(m);
	return r;
}
