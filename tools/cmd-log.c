/* fsdctl log: the history of runs the catalog recorded (reaps by
 * default; --all for scans and audits too), newest first, and with --run
 * N every journalled action of that reap run. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/parse.h"
#include "common/util.h"
#include "reaper/journal.h"
#include "tools/commands.h"

enum {
	OPT_ALL = OPT_COMMON_LAST + 1,
	OPT_LIMIT,
	OPT_RUN,
};

struct log_ctx {
	struct fsdctl *ctx;
	unsigned n;
};

static void help(void)
{
	printf("usage: fsdctl log [--all] [--limit N] [--run N] [--json]\n\n"
	       "Lists recorded runs, newest first: reaps, or with --all every kind. With\n"
	       "--run N, the journalled actions of that reap run and their outcome.\n");
}

static void json_str(const char *name, const char *v)
{
	printf(",\"%s\":", name);
	if (v)
		json_print_string(stdout, v, strlen(v));
	else
		printf("null");
}

static int run_one(const struct catalog_run *r, void *ud)
{
	struct log_ctx *l = ud;
	char t1[64], b[32], d[32];

	if (l->ctx->json) {
		printf("%s{\"id\":%lld", l->n ? "," : "", (long long)r->id);
		json_str("kind", r->kind);
		json_str("started", format_time(t1, sizeof t1, r->started_ns));
		printf(",\"duration_ns\":%lld,\"files\":%llu,\"bytes\":%llu,\"errors\":%llu,"
		       "\"findings\":%llu",
		       (long long)(r->ended_ns ? r->ended_ns - r->started_ns : 0),
		       (unsigned long long)r->files, (unsigned long long)r->bytes,
		       (unsigned long long)r->errors, (unsigned long long)r->findings);
		json_str("outcome", r->outcome);
		json_str("error", r->error);
		printf(",\"detail\":%s}", r->detail && *r->detail == '{' ? r->detail : "null");
	} else {
		if (l->n == 0)
			printf("%5s %-7s %-20s %8s %-8s %8s %10s  %s\n", "RUN", "KIND", "STARTED",
			       "TOOK", "OUTCOME", "FILES", "BYTES", "DETAIL");
		printf("%5lld %-7s %-20s %8s %-8s %8llu %10s  %s\n", (long long)r->id, r->kind,
		       format_time(t1, sizeof t1, r->started_ns),
		       r->ended_ns ? format_duration(d, sizeof d, r->ended_ns - r->started_ns) : "-",
		       strempty(r->outcome), (unsigned long long)r->files,
		       format_bytes(b, sizeof b, r->bytes), strempty(r->detail));
		if (r->error)
			printf("%6s error: %s\n", "", r->error);
	}
	l->n++;
	return 0;
}

static int action_one(const struct journal_action *ja, void *ud)
{
	struct log_ctx *l = ud;
	if (l->ctx->json) {
		printf("%s{\"id\":%lld,\"state\":\"%s\"", l->n ? "," : "", (long long)ja->id,
		       journal_state_to_string(ja->state));
		json_str("kind", ja->kind);
		json_str("rule", ja->rule);
		json_str("root", ja->root);
		if (ja->path) {
			putchar(',');
			json_print_name_field(stdout, "path", ja->path, ja->path_len);
		}
		json_str("key", ja->key);
		json_str("target", ja->target);
		printf(",\"rows\":%llu", (unsigned long long)ja->rows);
		json_str("reason", ja->reason);
		json_str("error", ja->error);
		putchar('}');
	} else {
		printf("%6lld %-12s %-18s %-22s ", (long long)ja->id,
		       journal_state_to_string(ja->state), strempty(ja->kind), strempty(ja->rule));
		if (ja->path) {
			printf("%s/", strempty(ja->root));
			text_print_name(stdout, ja->path, ja->path_len);
		} else {
			printf("%s", ja->target ? ja->target : strempty(ja->key));
		}
		if (ja->error)
			printf(" (%s)", ja->error);
		putchar('\n');
	}
	l->n++;
	return 0;
}

static int show_run(struct fsdctl *ctx, int64_t run)
{
	_cleanup_(journal_closep) struct journal *j = NULL;
	struct journal_filter f = {.run_id = run};
	struct log_ctx l = {.ctx = ctx};
	int r = journal_open(catalog_path(ctx->cat), &j);
	if (r < 0)
		return log_error_errno(r, "%s", journal_errmsg(j));
	if (ctx->json)
		printf("{\"run\":%lld,\"actions\":[", (long long)run);
	r = journal_foreach(j, &f, action_one, &l);
	if (ctx->json)
		printf("]}\n");
	else
		printf("%u actions in run %lld.\n", l.n, (long long)run);
	return r < 0 ? log_error_errno(r, "%s", journal_errmsg(j)) : 0;
}

int cmd_log(struct fsdctl *ctx, int argc, char **argv)
{
	static const struct option options[] = {
		FSDCTL_COMMON_LONGOPTS,
		{"all", no_argument, NULL, OPT_ALL},
		{"limit", required_argument, NULL, OPT_LIMIT},
		{"run", required_argument, NULL, OPT_RUN},
		{},
	};
	struct log_ctx l = {.ctx = ctx};
	unsigned limit = 50;
	bool all = false;
	int64_t run = 0;
	int c, r;

	while ((c = getopt_long(argc, argv, FSDCTL_COMMON_SHORTOPTS, options, NULL)) >= 0) {
		if (c == 'h') {
			help();
			return EXIT_CLEAN;
		} else if (c == OPT_ALL) {
			all = true;
		} else if (c == OPT_LIMIT) {
			limit = (unsigned)strtoul(optarg, NULL, 10);
		} else if (c == OPT_RUN) {
			run = strtoll(optarg, NULL, 10);
		} else if (fsdctl_common_option(ctx, c, optarg) == 0) {
			return EXIT_ERROR;
		}
	}
	if (fsdctl_open_catalog(ctx, true) < 0)
		return EXIT_ERROR;
	if (run > 0)
		return show_run(ctx, run) < 0 ? EXIT_ERROR : EXIT_CLEAN;
	if (ctx->json)
		printf("{\"runs\":[");
	r = catalog_runs_foreach(ctx->cat, all ? NULL : "reap", limit, run_one, &l);
	if (ctx->json)
		printf("]}\n");
	else if (l.n == 0)
		printf("No %sruns recorded yet.\n", all ? "" : "reap ");
	if (r < 0)
		return log_error_errno(r, "Failed to read the runs: %s", catalog_errmsg(ctx->cat)),
		       EXIT_ERROR;
	return EXIT_CLEAN;
}
