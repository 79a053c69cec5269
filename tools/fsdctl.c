/* fsdctl: the command table and the options and loading shared by every
 * subcommand. Each subcommand is tools/cmd-<name>.c. */
#include "tools/fsdctl.h"

#include <sys/stat.h>

#include "common/log.h"
#include "common/util.h"
#include "tools/commands.h"

static const struct {
	const char *name;
	fsdctl_cmd_fn fn;
	const char *help;
} commands[] = {
#define FSDCTL_COMMAND(name, fn, help) {name, fn, help},
#include "tools/commands.def"
#undef FSDCTL_COMMAND
};

static void usage(FILE *f)
{
	fprintf(f, "usage: fsdctl COMMAND [OPTIONS]\n\n"
		   "Audits and reaps the files an application leaves behind.\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < ELEMENTSOF(commands); i++)
		fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\nOptions every command takes:\n"
		   "  -c, --config FILE     configuration file (default $FSD_CONFIG, /etc/fsd/fsd.conf)\n"
		   "      --preset NAME     built-in configuration instead of a file (open-webui)\n"
		   "      --data-dir DIR    the application's data directory, for --preset\n"
		   "  -C, --catalog PATH    catalog database (default: from the config)\n"
		   "  -j, --json            machine-readable output (docs/json.md)\n"
		   "  -v, --verbose / -q, --quiet\n\n"
		   "Exit codes: 0 clean, 1 findings, 2 error.\n"
		   "See fsdctl(1) and fsd.conf(5).\n");
}

int fsdctl_common_option(struct fsdctl *ctx, int opt, const char *arg)
{
	switch (opt) {
	case 'c':
		ctx->config_path = arg;
		return 1;
	case 'C':
		ctx->catalog_path = arg;
		return 1;
	case OPT_PRESET:
		ctx->preset = arg;
		return 1;
	case OPT_DATA_DIR:
		ctx->data_dir = arg;
		return 1;
	case 'j':
		ctx->json = true;
		return 1;
	case 'v':
		ctx->verbose++;
		log_set_max_level(LOG_DEBUG);
		return 1;
	case 'q':
		log_set_max_level(LOG_WARNING);
		return 1;
	default:
		return 0;
	}
}

static int print_config_error(int r, const char *what, char *msg)
{
	if (msg) {
		fprintf(stderr, "%s", msg);
		if (*msg && msg[strlen(msg) - 1] != '\n')
			fputc('\n', stderr);
		free(msg);
		return r;
	}
	return log_error_errno(r, "Failed to load %s: %m", what);
}

int fsdctl_load_config(struct fsdctl *ctx)
{
	char *msg = NULL;
	int r;

	if (ctx->cfg)
		return 0;
	if (ctx->preset) {
		if (ctx->config_path)
			return log_error_errno(-EINVAL, "--preset and --config exclude each other");
		if (!ctx->data_dir)
			return log_error_errno(-EINVAL, "--preset %s needs --data-dir DIR",
					       ctx->preset);
		r = config_load_preset(ctx->preset, ctx->data_dir, &ctx->cfg, &msg);
		return r < 0 ? print_config_error(r, "preset", msg) : 0;
	}
	if (ctx->data_dir)
		return log_error_errno(-EINVAL, "--data-dir goes with --preset NAME");
	const char *path = ctx->config_path;
	if (!path)
		path = getenv("FSD_CONFIG");
	if (!path)
		path = "/etc/fsd/fsd.conf";
	r = config_load(path, &ctx->cfg, &msg);
	if (r == -ENOENT && !msg && !ctx->config_path)
		return log_error_errno(r, "No configuration: pass --config FILE or "
					  "--preset open-webui --data-dir DIR (%s: %m)", path);
	return r < 0 ? print_config_error(r, path, msg) : 0;
}

int fsdctl_open_catalog(struct fsdctl *ctx, bool readonly)
{
	_cleanup_free_ char *def = NULL;
	const char *path = ctx->catalog_path;
	int r;

	if (ctx->cat)
		return 0;
	r = fsdctl_load_config(ctx);
	if (r < 0)
		return r;
	if (!path)
		path = ctx->cfg->catalog;
	if (!path) {
		r = config_default_catalog(ctx->cfg, &def);
		if (r < 0)
			return log_error_errno(r, "Failed to find a place for the catalog: %m");
		path = def;
	}
	r = catalog_open(path, readonly ? CATALOG_OPEN_READONLY : 0, &ctx->cat);
	if (r == -ENOENT && readonly)
		return log_error_errno(r, "No catalog at '%s' yet: run 'fsdctl scan' first", path);
	if (r < 0) {
		const char *why = catalog_errmsg(NULL);
		return log_error_errno(r, "Failed to open catalog '%s': %s", path,
				       isempty(why) ? strerror(-r) : why);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct fsdctl ctx = {0};
	int r = EXIT_ERROR;

	log_set_ident("fsdctl");
	if (argc < 2) {
		usage(stderr);
		return EXIT_ERROR;
	}
	if (streq(argv[1], "-h") || streq(argv[1], "--help") || streq(argv[1], "help")) {
		usage(stdout);
		return EXIT_CLEAN;
	}
	for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
		if (!streq(argv[1], commands[i].name))
			continue;
		r = commands[i].fn(&ctx, argc - 1, argv + 1);
		goto out;
	}
	log_error("Unknown command '%s'; 'fsdctl --help' lists them.", argv[1]);
out:
	catalog_close(ctx.cat);
	config_free(ctx.cfg);
	return r;
}
