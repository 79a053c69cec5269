/* fsdctl's shared context: the options every subcommand accepts, and the
 * loading of configuration and catalog that most of them need. Each
 * subcommand lives in tools/cmd-<name>.c and returns an exit code. */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "catalog/catalog.h"
#include "common/config.h"

/* Exit codes, as diff and fsck use them. */
enum {
	EXIT_CLEAN = 0,
	EXIT_FINDINGS = 1,
	EXIT_ERROR = 2,
};

struct fsdctl {
	const char *config_path;
	const char *preset;
	const char *data_dir;
	const char *catalog_path;
	bool json;
	int verbose;
	struct config *cfg;   /* after fsdctl_load_config() */
	struct catalog *cat;  /* after fsdctl_open_catalog() */
};

/* Long options every subcommand accepts; put FSDCTL_COMMON_LONGOPTS
 * first in the command's table and pass unknown codes to
 * fsdctl_common_option(). Short options: -c config, -C catalog, -j json,
 * -v verbose, -q quiet. */
enum {
	OPT_PRESET = 0x1000,
	OPT_DATA_DIR,
	OPT_COMMON_LAST,
};
#define FSDCTL_COMMON_SHORTOPTS "c:C:jvqh"
#define FSDCTL_COMMON_LONGOPTS                                                                     \
	{"config", required_argument, NULL, 'c'}, {"catalog", required_argument, NULL, 'C'},       \
		{"preset", required_argument, NULL, OPT_PRESET},                                   \
		{"data-dir", required_argument, NULL, OPT_DATA_DIR},                               \
		{"json", no_argument, NULL, 'j'}, {"verbose", no_argument, NULL, 'v'},             \
		{"quiet", no_argument, NULL, 'q'}, {"help", no_argument, NULL, 'h'}

/* Handles a common option. Returns 1 if it was one, 0 if not, and -EINVAL
 * (after printing a message) for a bad value. 'h' is left to the command. */
int fsdctl_common_option(struct fsdctl *ctx, int opt, const char *arg);

/* Loads --config FILE, or --preset NAME with --data-dir DIR, or the
 * FSD_CONFIG environment variable, or /etc/fsd/fsd.conf. Prints the
 * parser's messages and returns -EINVAL on a bad config. */
int fsdctl_load_config(struct fsdctl *ctx);
/* Opens the catalog (--catalog, the config's [catalog] path, or the
 * default place), creating it unless `readonly`. Loads config first. */
int fsdctl_open_catalog(struct fsdctl *ctx, bool readonly);

/* JSON output (tools/output.c). json_print_string() prints a JSON string
 * literal; bytes that are not valid UTF-8 become U+FFFD there. Names that
 * must round-trip use json_print_name_field(): `"field":"..."` and, only
 * when the bytes are not valid UTF-8, `,"field_base64":"..."` with the
 * exact bytes (documented in docs/json.md). */
void json_print_string(FILE *f, const char *s, size_t len);
void json_print_name_field(FILE *f, const char *field, const char *s, size_t len);
bool utf8_is_valid(const char *s, size_t len);
/* Prints bytes for a terminal/table: printable UTF-8 as is, everything
 * else (control bytes, newlines, invalid UTF-8) as \xNN, and a backslash
 * as "\\", so every name is one unambiguous line. */
void text_print_name(FILE *f, const char *s, size_t len);

typedef int (*fsdctl_cmd_fn)(struct fsdctl *ctx, int argc, char **argv);
