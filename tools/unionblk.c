// SPDX-License-Identifier: GPL-2.0
/*
 * unionblk: manage dm-unionblk COW stores offline.  The command table
 * below is the one list of commands; each lives in a file named for its
 * subject.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "unionblk.h"

const char *progname = "unionblk";
const struct cmd *current_cmd;

static int cmd_help(int argc, char **argv);

static const struct cmd commands[] = {
	{ "check", cmd_check, "check STORE [--base BASE] [--json]",
	  "Verify every invariant of a store's metadata (reads no data)",
	  " -b, --base BASE          also check the base's size and fingerprint\n"
	  " -j, --json               print the result as JSON\n" },
	{ "delta", cmd_delta, "delta STORE [--json]",
	  "List the ranges of chunks the tenant changed: mapped and whiteout",
	  " -j, --json               print the ranges as JSON\n" },
	{ "dump", cmd_dump, "dump STORE [--format json|xml] [--output FILE]",
	  "Write the committed metadata of a store as JSON or XML",
	  " -f, --format FMT         json (default) or xml\n"
	  " -o, --output FILE        write to FILE instead of standard output\n" },
	{ "format", cmd_format,
	  "format STORE --base BASE [--chunk-size N] [--capacity SIZE] [--tenant NAME] [--base-name NAME] [--force]",
	  "Create an empty COW store on STORE over the read-only BASE",
	  " -b, --base BASE          the shared read-only base (required)\n"
	  " -c, --chunk-size N       copy-on-write unit, 4k..1m, power of two (default 4k)\n"
	  " -s, --capacity SIZE      virtual size (default: the size of the base)\n"
	  " -t, --tenant NAME        tenant name recorded in the superblock (<= 63 bytes)\n"
	  " -n, --base-name NAME     base name recorded in the superblock (<= 63 bytes)\n"
	  " -J, --journal-blocks N   blocks per journal slot, 8..1024 (default: as the kernel)\n"
	  " -f, --force              overwrite an existing unionblk store\n" },
	{ "help", cmd_help, "help [COMMAND]", "Show help for unionblk or a command",
	  "" },
	{ "read", cmd_read,
	  "read STORE --base BASE [--offset N] [--length N] [--output FILE]",
	  "Read the tenant's virtual device offline, as the target would",
	  " -b, --base BASE          the base the store was formatted over (required)\n"
	  " -O, --offset N           start at byte N (default 0; suffixes k, m, g, t)\n"
	  " -l, --length N           read N bytes (default: to the end)\n"
	  " -o, --output FILE        write to FILE instead of standard output\n" },
	{ "repair", cmd_repair,
	  "repair STORE [--backup FILE] [--no-backup] [--dry-run]",
	  "Rebuild consistent metadata from what survives, reporting what is lost",
	  " -B, --backup FILE        save the old metadata region to FILE first\n"
	  "                          (default: ./unionblk-backup-UUID-TIME.img)\n"
	  "     --no-backup          write without saving the old metadata\n"
	  " -n, --dry-run            report what would be done, write nothing\n"
	  " -j, --json               print the result as JSON\n" },
	{ "restore", cmd_restore, "restore FILE STORE [--force] [--dry-run]",
	  "Write the metadata in a dump (JSON or XML; - for standard input) to STORE",
	  " -f, --force              overwrite a different unionblk store\n"
	  " -n, --dry-run            validate the dump against STORE, write nothing\n" },
};

#define NR_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct cmd *find_cmd(const char *name)
{
	size_t i;

	for (i = 0; i < NR_COMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "\nUsage:\n %s [--help | --version] COMMAND [ARGS]\n\n",
		progname);
	fprintf(out, "Manage dm-unionblk copy-on-write stores offline.\n\n");
	fprintf(out, "Commands:\n");
	for (i = 0; i < NR_COMMANDS; i++)
		fprintf(out, " %-9s %s\n", commands[i].name,
			commands[i].summary);
	fprintf(out, "\nOptions:\n");
	fprintf(out, " -h, --help     display this help\n");
	fprintf(out, " -V, --version  display version\n");
	fprintf(out, "\nRun '%s help COMMAND' for a command's options.\n",
		progname);
	fprintf(out, "Exit status: 0 success, 1 store has errors, 2 usage error, 3 failure.\n");
	fprintf(out, "See unionblk(8) for details.\n");
}

static int cmd_help(int argc, char **argv)
{
	const struct cmd *c;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		if (argc > 1) {
			print_cmd_help(current_cmd, stdout);
			return 0;
		}
		usage(stdout);
		return 0;
	}
	if (argc > 2)
		usage_error("help takes one command name");
	c = find_cmd(argv[1]);
	if (!c)
		usage_error("unknown command '%s'", argv[1]);
	print_cmd_help(c, stdout);
	return 0;
}

int main(int argc, char **argv)
{
	const struct cmd *c;
	int r;

	if (argc < 2) {
		usage(stderr);
		return UB_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return UB_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("%s %s (on-disk format %d)\n", progname, UB_LIB_VERSION,
		       UB_FORMAT_VERSION);
		return UB_EXIT_OK;
	}
	c = find_cmd(argv[1]);
	if (!c)
		usage_error("unknown command '%s'", argv[1]);
	current_cmd = c;
	r = c->fn(argc - 1, argv + 1);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		error(-errno, "writing standard output: %s", strerror(errno));
		return UB_EXIT_FAILURE;
	}
	if (r < 0)
		return UB_EXIT_FAILURE;
	if (r == UB_RC_PROBLEMS)
		return UB_EXIT_PROBLEMS;
	return UB_EXIT_OK;
}
