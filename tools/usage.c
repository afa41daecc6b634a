// SPDX-License-Identifier: GPL-2.0
/* Messages, usage errors, sizes and output helpers shared by commands. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "unionblk.h"

static void vreport(const char *prefix, const char *fmt, va_list ap)
{
	fflush(stdout);
	fprintf(stderr, "%s: %s", progname, prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int error(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport("", fmt, ap);
	va_end(ap);
	return err < 0 ? err : -EINVAL;
}

void warning(const char *fmt, ...)
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
	exit(UB_EXIT_FAILURE);
}

void usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport("", fmt, ap);
	va_end(ap);
	if (current_cmd)
		fprintf(stderr, "Try '%s %s --help' for more information.\n",
			progname, current_cmd->name);
	else
		fprintf(stderr, "Try '%s --help' for more information.\n",
			progname);
	exit(UB_EXIT_USAGE);
}

void print_cmd_help(const struct cmd *c, FILE *out)
{
	fprintf(out, "\nUsage:\n %s %s\n\n%s.\n", progname, c->synopsis,
		c->summary);
	if (c->help && *c->help)
		fprintf(out, "\nOptions:\n%s", c->help);
	fprintf(out, " -h, --help               display this help\n");
	fprintf(out, "\nSee unionblk(8) for exit codes and details.\n");
}

/* Bytes, with an optional binary suffix: k, m, g, t (KiB, MiB, ...). */
int parse_size(const char *s, uint64_t *out)
{
	unsigned int shift = 0;
	uint64_t v;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -EINVAL;
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
		return -EINVAL;
	}
	if (*end) {
		end++;
		if (!strcmp(end, "iB") || !strcmp(end, "B"))
			end += strlen(end);
		if (*end)
			return -EINVAL;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

uint64_t parse_size_or_die(const char *opt, const char *s)
{
	uint64_t v;

	if (parse_size(s, &v))
		usage_error("invalid %s argument: '%s'", opt, s);
	return v;
}

const char *human_size(uint64_t b, char *buf, size_t len)
{
	static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)b;
	int u = 0;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " B", b);
	else
		snprintf(buf, len, "%.1f %s", v, unit[u]);
	return buf;
}

void print_problems(FILE *out, const struct ub_diag *d, const char *prefix)
{
	size_t i;

	for (i = 0; i < d->nr; i++)
		fprintf(out, "%s%s: %s\n", prefix ? prefix : "",
			ub_sev_name(d->p[i].sev), d->p[i].msg);
	if (d->dropped)
		fprintf(out, "%s... and %" PRIu64 " more problems not shown\n",
			prefix ? prefix : "", d->dropped);
}

/* Problems met while opening a store for another purpose: to stderr. */
void warn_problems(const struct ub_diag *d)
{
	size_t i;

	for (i = 0; i < d->nr; i++)
		warning("%s", d->p[i].msg);
}

json_object *problems_json(const struct ub_diag *d)
{
	json_object *a = json_object_new_array();
	size_t i;

	for (i = 0; i < d->nr; i++) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "severity",
				       json_object_new_string(ub_sev_name(d->p[i].sev)));
		json_object_object_add(o, "message",
				       json_object_new_string(d->p[i].msg));
		json_object_array_add(a, o);
	}
	return a;
}

void json_print(json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
					    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

/* getopt_long with the conventions every command shares. */
int next_opt(int argc, char **argv, const char *shortopts,
		    const struct option *longopts)
{
	int c = getopt_long(argc, argv, shortopts, longopts, NULL);

	if (c == 'h') {
		print_cmd_help(current_cmd, stdout);
		exit(UB_EXIT_OK);
	}
	if (c == '?')
		usage_error("unrecognized option '%s'", argv[optind - 1]);
	if (c == ':')
		usage_error("option '%s' requires an argument",
			    argv[optind - 1]);
	return c;
}
