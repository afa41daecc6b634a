/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The unionblk command: one command table (unionblk.c), one file per
 * subject (store.c: format/check/repair, dump.c: dump/restore, delta.c,
 * read.c), shared helpers in usage.c.  Commands return 0, UB_RC_PROBLEMS
 * when a store they looked at is not clean, or a negative errno; main()
 * turns that into the documented exit code.
 */
#ifndef UNIONBLK_H
#define UNIONBLK_H

#include <stdint.h>
#include <stdio.h>
#include <json-c/json.h>

#include "libunionblk.h"

/* Exit codes (docs/man/unionblk.8, EXIT STATUS) */
#define UB_EXIT_OK		0	/* success; check: no errors */
#define UB_EXIT_PROBLEMS	1	/* the store has (or still has) errors */
#define UB_EXIT_USAGE		2	/* bad command line */
#define UB_EXIT_FAILURE		3	/* could not do it: I/O, refused, bad input */

#define UB_RC_PROBLEMS		1	/* a command's "store not clean" */

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *synopsis;
	const char *summary;
	const char *help;		/* options, one per line */
};

extern const char *progname;
extern const struct cmd *current_cmd;

/* usage.c */
struct option;
/* getopt_long; handles --help, unknown options, missing arguments. */
int next_opt(int argc, char **argv, const char *shortopts,
	     const struct option *longopts);
int error(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void print_cmd_help(const struct cmd *c, FILE *out);
int parse_size(const char *s, uint64_t *out);
uint64_t parse_size_or_die(const char *opt, const char *s);
void print_problems(FILE *out, const struct ub_diag *d, const char *prefix);
void warn_problems(const struct ub_diag *d);
json_object *problems_json(const struct ub_diag *d);
void json_print(json_object *o);
const char *human_size(uint64_t bytes, char *buf, size_t len);

/* The commands */
int cmd_check(int argc, char **argv);
int cmd_delta(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_format(int argc, char **argv);
int cmd_read(int argc, char **argv);
int cmd_repair(int argc, char **argv);
int cmd_restore(int argc, char **argv);

#endif /* UNIONBLK_H */
