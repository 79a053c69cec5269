/* fsdctl reap: brings the catalog up to date (quick-check scan), builds
 * the plan from the rules, and prints it: every action with its rule and
 * reason, totals per rule. Changes nothing unless --apply: then, under the
 * reaper lock and past the circuit breaker (or --force), applies it with
 * journal, quarantine and cascades. Exit 0: nothing to do / all done;
 * 1: a plan with actions (dry run), or some actions failed or deferred;
 * 2: an error, the breaker refused, or another reaper holds the lock. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog/scan.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/util.h"
#include "reaper/apply.h"
#include "tools/commands.h"

enum {
	OPT_APPLY = OPT_COMMON_LAST + 1,
	OPT_FORCE,
	OPT_EXPIRE_ROWS,
	OPT_NO_SCAN,
	OPT_NOW,
	OPT_BATCH,
	OPT_KEEP,
};

struct reap_args {
	bool apply, force, no_scan;
	const char *expire_rows;
	int64_t now_ns;
	unsigned batch;
	int64_t keep_ns;
};

static void help(void)
{
	printf("usage: fsdctl reap [--apply [--force]] [--expire-rows AGE] [--json] [--no-scan]\n\n"
	       "Plans what the rules would remove and prints each action with its rule and\n"
	       "reason. Nothing changes without --apply.\n\n"
	       "  --apply            act: quarantine or unlink files, delete their rows and\n"
	       "                     vectors, journalled and recoverable\n"
	       "  --force            apply even when the circuit breaker refuses (a source\n"
	       "                     failed or shrank, or the plan exceeds max-delete)\n"
	       "  --expire-rows AGE  also reap owner rows no live reference holds, older\n"
	       "                     than AGE, with their files and vectors\n"
	       "  --no-scan          plan from the catalog as it is\n"
	       "  --batch N          actions per transaction (default 500)\n"
	       "  --quarantine-keep AGE  purge quarantined files older than AGE (default 7d)\n"
	       "  --now EPOCH        judge ages at this time (seconds)\n"
	       "  -j, --json         JSON plan and result (docs/rules.md)\n\n"
	       "Exit codes: 0 nothing to do or all done, 1 plan has actions (dry run) or some\n"
	       "actions failed or were deferred, 2 error or refused.\n");
}

static int parse_args(struct fsdctl *ctx, int argc, char **argv, struct reap_args *a)
{
	static const struct option options[] = {
		FSDCTL_COMMON_LONGOPTS,
		{"apply", no_argument, NULL, OPT_APPLY},
		{"force", no_argument, NULL, OPT_FORCE},
		{"expire-rows", required_argument, NULL, OPT_EXPIRE_ROWS},
		{"no-scan", no_argument, NULL, OPT_NO_SCAN},
		{"now", required_argument, NULL, OPT_NOW},
		{"batch", required_argument, NULL, OPT_BATCH},
		{"quarantine-keep", required_argument, NULL, OPT_KEEP},
		{},
	};
	int c, r = 0;

	while ((c = getopt_long(argc, argv, FSDCTL_COMMON_SHORTOPTS, options, NULL)) >= 0) {
		if (c == 'h') {
			help();
			return 0;
		} else if (c == OPT_APPLY) {
			a->apply = true;
		} else if (c == OPT_FORCE) {
			a->force = true;
		} else if (c == OPT_NO_SCAN) {
			a->no_scan = true;
		} else if (c == OPT_EXPIRE_ROWS) {
			a->expire_rows = optarg;
		} else if (c == OPT_NOW) {
			char *end;
			long long s = strtoll(optarg, &end, 10);
			if (*end || end == optarg)
				return log_error_errno(-EINVAL, "--now '%s': expected epoch seconds",
						       optarg);
			a->now_ns = s * 1000000000LL;
		} else if (c == OPT_BATCH) {
			a->batch = (unsigned)strtoul(optarg, NULL, 10);
			if (a->batch == 0 || a->batch > 100000)
				return log_error_errno(-EINVAL, "--batch '%s': expected 1-100000",
						       optarg);
		} else if (c == OPT_KEEP) {
			if (parse_duration(optarg, &a->keep_ns) < 0)
				return log_error_errno(-EINVAL, "--quarantine-keep '%s': expected a "
								"duration such as 7d", optarg);
		} else if ((r = fsdctl_common_option(ctx, c, optarg)) == 0) {
			return -EINVAL;
		}
		if (r < 0)
			return r;
	}
	if (optind < argc)
		return log_error_errno(-EINVAL, "reap takes no arguments ('%s')", argv[optind]);
	if (a->force && !a->apply)
		return log_error_errno(-EINVAL, "--force only makes sense with --apply");
	return 1;
}

/* --expire-rows AGE: a rule over every upload root that has a source. */
static int add_expire_rule(struct fsdctl *ctx, struct rules *rs, const char *age)
{
	_cleanup_free_ char *text = NULL, *msg = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	bool any = false;

	if (!f)
		return -ENOMEM;
	fputs("roots =", f);
	for (size_t i = 0; i < ctx->cfg->n_roots; i++) {
		const struct config_root *root = &ctx->cfg->roots[i];
		if (root->source && root->key != KEY_NONE) {
			fprintf(f, " %s", root->name);
			any = true;
		}
	}
	fprintf(f, "\nexpire-rows = %s\n", age);
	fclose(f);
	if (!any)
		return log_error_errno(-EINVAL, "--expire-rows: no root has a source to expire rows of");
	int r = rules_add_text(rs, ctx->cfg, "expire-rows", text, &msg);
	if (r < 0)
		return log_error_errno(r, "--expire-rows %s: %s", age, msg ? msg : "invalid");
	return 0;
}

/* The quick-check scan; the quarantine directory is never catalogued. */
static int scan_roots(struct fsdctl *ctx)
{
	struct scan_options o = {.progress = isatty(STDERR_FILENO)};

	for (size_t i = 0; i < ctx->cfg->n_roots; i++) {
		struct config_root root = ctx->cfg->roots[i];
		_cleanup_strv_free_ char **exclude = NULL;
		struct scan_stats st = {0};
		int64_t id;
		int r;

		for (char **g = root.exclude; g && *g; g++)
			if (strv_extend(&exclude, *g) < 0)
				return -ENOMEM;
		if (strv_extend(&exclude, REAPER_QUARANTINE_DIR) < 0)
			return -ENOMEM;
		root.exclude = exclude;
		r = catalog_root_ensure(ctx->cat, root.name, root.path, &id);
		if (r < 0)
			return log_error_errno(r, "Failed to record root '%s' in the catalog: %s",
					       root.name, catalog_errmsg(ctx->cat));
		r = scan_root(ctx->cat, id, &root, &o, &st);
		if (r < 0)
			log_warning_errno(r, "Failed to scan root '%s' (%s), its files stay as "
					     "catalogued: %m", root.name, root.path);
	}
	return 0;
}

static const char *root_name(const struct config *cfg, const struct plan_action *pa)
{
	return pa->root < cfg->n_roots ? cfg->roots[pa->root].name : NULL;
}

static void print_target_text(const struct config *cfg, const struct plan_action *pa)
{
	const char *root = root_name(cfg, pa);
	if (pa->path) {
		printf("%s/", root ? root : "?");
		text_print_name(stdout, pa->path, pa->path_len);
	} else if (pa->store) {
		printf("%s:", pa->store);
		text_print_name(stdout, pa->key ? pa->key : pa->target,
				strlen(pa->key ? pa->key : pa->target));
	} else if (pa->key) {
		printf("key ");
		text_print_name(stdout, pa->key, strlen(pa->key));
	}
}

static void print_plan_text(const struct config *cfg, const struct rules *rs,
			    const struct plan *pl)
{
	char b[32];

	if (pl->n_actions)
		printf("%-18s %-24s %10s  %s\n", "ACTION", "RULE", "SIZE", "TARGET / REASON");
	for (size_t i = 0; i < pl->n_actions; i++) {
		const struct plan_action *pa = &pl->actions[i];
		printf("%-18s %-24s %10s  ", plan_kind_to_string(pa->kind), rs->v[pa->rule].name,
		       pa->size ? format_bytes(b, sizeof b, (uint64_t)pa->size) : "-");
		print_target_text(cfg, pa);
		printf("%s\n%56s%s\n", pa->path && !pa->quarantine ? " (unlink)" : "", "",
		       pa->reason);
	}
	if (pl->n_actions)
		printf("\n");
	printf("%-24s %8s %8s %10s %8s %8s\n", "RULE", "ACTIONS", "FILES", "BYTES", "ROWS",
	       "VECTORS");
	for (size_t i = 0; i < pl->n_rules; i++) {
		const struct plan_rule_total *t = &pl->rules[i];
		printf("%-24s %8llu %8llu %10s %8llu %8llu\n", rs->v[i].name,
		       (unsigned long long)t->actions, (unsigned long long)t->files,
		       format_bytes(b, sizeof b, t->bytes), (unsigned long long)t->rows,
		       (unsigned long long)t->vectors);
	}
	printf("\nPlan: %zu actions, %llu files, %s to free", pl->n_actions,
	       (unsigned long long)pl->files, format_bytes(b, sizeof b, pl->bytes));
	if (pl->kept_by_grace)
		printf("; %llu unreferenced files still within their grace period",
		       (unsigned long long)pl->kept_by_grace);
	printf(".\n");
}

static void json_u(const char *name, uint64_t v, bool comma)
{
	printf("\"%s\":%llu%s", name, (unsigned long long)v, comma ? "," : "");
}

static void print_action_json(const struct config *cfg, const struct rules *rs,
			      const struct plan_action *pa)
{
	const char *root = root_name(cfg, pa);
	printf("{\"kind\":\"%s\",\"rule\":", plan_kind_to_string(pa->kind));
	json_print_string(stdout, rs->v[pa->rule].name, strlen(rs->v[pa->rule].name));
	if (root) {
		printf(",\"root\":");
		json_print_string(stdout, root, strlen(root));
	}
	if (pa->path) {
		putchar(',');
		json_print_name_field(stdout, "path", pa->path, pa->path_len);
		printf(",\"quarantine\":%s,\"mtime_ns\":%lld", pa->quarantine ? "true" : "false",
		       (long long)pa->mtime_ns);
	}
	if (pa->key) {
		printf(",\"key\":");
		json_print_string(stdout, pa->key, strlen(pa->key));
	}
	if (pa->store) {
		printf(",\"store\":");
		json_print_string(stdout, pa->store, strlen(pa->store));
		printf(",\"target\":");
		json_print_string(stdout, pa->target, strlen(pa->target));
		printf(",\"embeddings\":%llu", (unsigned long long)pa->rows);
	}
	printf(",\"size\":%lld,\"reason\":", (long long)pa->size);
	json_print_string(stdout, pa->reason, strlen(pa->reason));
	putchar('}');
}

static void print_plan_json(const struct config *cfg, const struct rules *rs,
			    const struct plan *pl, const struct reaper_inputs *in)
{
	printf("{\"plan\":{\"actions\":[");
	for (size_t i = 0; i < pl->n_actions; i++) {
		if (i)
			putchar(',');
		print_action_json(cfg, rs, &pl->actions[i]);
	}
	printf("],\"rules\":[");
	for (size_t i = 0; i < pl->n_rules; i++) {
		const struct plan_rule_total *t = &pl->rules[i];
		printf("%s{\"name\":", i ? "," : "");
		json_print_string(stdout, rs->v[i].name, strlen(rs->v[i].name));
		putchar(',');
		json_u("actions", t->actions, true);
		json_u("files", t->files, true);
		json_u("bytes", t->bytes, true);
		json_u("rows", t->rows, true);
		json_u("vectors", t->vectors, false);
		putchar('}');
	}
	printf("],\"totals\":{");
	json_u("actions", pl->n_actions, true);
	json_u("files", pl->files, true);
	json_u("bytes", pl->bytes, true);
	json_u("within_grace", pl->kept_by_grace, false);
	printf("}},\"problems\":[");
	for (char **p = in->problems; p && *p; p++) {
		if (p != in->problems)
			putchar(',');
		json_print_string(stdout, *p, strlen(*p));
	}
	printf("],\"sources\":[");
	for (size_t i = 0; i < in->n_sources; i++) {
		const struct reaper_source_status *s = &in->sources[i];
		printf("%s{\"name\":", i ? "," : "");
		json_print_string(stdout, s->name, strlen(s->name));
		printf(",\"ok\":%s,", s->error ? "false" : "true");
		json_u("owners", s->owners, true);
		json_u("live", s->live_rows, true);
		json_u("last_owners", s->last_owners, true);
		json_u("last_live", s->last_live_rows, false);
		if (s->message) {
			printf(",\"error\":");
			json_print_string(stdout, s->message, strlen(s->message));
		}
		putchar('}');
	}
	putchar(']');
}

static void print_result(struct fsdctl *ctx, const struct reaper_result *res, const char *refused)
{
	char b[32];
	if (ctx->json) {
		printf(",\"applied\":{");
		json_u("run", (uint64_t)res->run_id, true);
		json_u("actions", res->actions, true);
		json_u("files", res->files, true);
		json_u("bytes", res->bytes, true);
		json_u("rows", res->rows, true);
		json_u("vectors", res->vectors, true);
		json_u("skipped", res->skipped, true);
		json_u("failed", res->failed, true);
		json_u("deferred", res->deferred, false);
		if (res->error || refused) {
			const char *e = refused ? refused : res->error;
			printf(",\"error\":");
			json_print_string(stdout, e, strlen(e));
		}
		printf("}");
		return;
	}
	printf("Applied (run %lld): %llu actions, %llu files, %s freed, %llu rows, %llu vectors; "
	       "%llu skipped, %llu failed, %llu deferred.\n",
	       (long long)res->run_id, (unsigned long long)res->actions,
	       (unsigned long long)res->files, format_bytes(b, sizeof b, res->bytes),
	       (unsigned long long)res->rows, (unsigned long long)res->vectors,
	       (unsigned long long)res->skipped, (unsigned long long)res->failed,
	       (unsigned long long)res->deferred);
	if (res->error)
		log_warning("First problem: %s", res->error);
}

static void report_problems(const struct reaper_inputs *in)
{
	for (char **p = in->problems; p && *p; p++)
		log_warning("%s", *p);
	for (size_t i = 0; i < in->n_sources; i++)
		if (in->sources[i].error)
			log_warning("Source '%s' failed, nothing that depends on it is planned: %s",
				    in->sources[i].name, strempty(in->sources[i].message));
}

/* Taken before planning, so that what a crashed run left is settled
 * (moved back or completed) before the catalog is read again. */
static int lock_and_recover(struct fsdctl *ctx, struct reaper_lock **ret)
{
	_cleanup_free_ char *holder = NULL;
	struct reaper_recovery rec = {0};
	int r = reaper_lock_take(catalog_path(ctx->cat), ret, &holder);

	if (r == -EBUSY)
		return log_error_errno(r, "Another reaper is running on this catalog: %s",
				       strempty(holder));
	if (r < 0)
		return log_error_errno(r, "Failed to take the reaper lock: %m");
	r = reaper_recover(*ret, ctx->cfg, catalog_path(ctx->cat), &rec);
	if (r < 0)
		return log_error_errno(r, "Failed to recover the journal: %m");
	if (rec.completed || rec.rolled_back || rec.failed)
		log_notice("Settled an interrupted run: %llu completed, %llu rolled back, %llu "
			   "failed.", (unsigned long long)rec.completed,
			   (unsigned long long)rec.rolled_back, (unsigned long long)rec.failed);
	if (rec.pending)
		log_warning("%llu interrupted actions cannot be settled yet (root or source "
			    "unavailable).", (unsigned long long)rec.pending);
	return 0;
}

static int do_apply(struct fsdctl *ctx, const struct reap_args *a, struct reaper_lock *lock,
		    const struct rules *rs, const struct plan *pl, const struct reaper_inputs *in,
		    struct reaper_sources *srcs)
{
	_cleanup_free_ char *why = NULL;
	struct reaper_options o = {.batch = a->batch, .quarantine_keep_ns = a->keep_ns,
				   .sources = srcs};
	struct reaper_result res = {0};
	int r;

	if (reaper_breaker(pl, in, ctx->cfg, rs, &why) > 0 && !a->force) {
		if (ctx->json) {
			print_result(ctx, &res, why);
			printf("}\n");
		}
		log_error("Refusing to apply: %s. Check the sources, or pass --force.", why);
		return EXIT_ERROR;
	}
	r = reaper_apply(lock, ctx->cat, ctx->cfg, rs, pl, in, &o, &res);
	print_result(ctx, &res, NULL);
	if (ctx->json)
		printf("}\n");
	if (r < 0)
		log_error_errno(r, "Reaping stopped: %s", res.error ? res.error : strerror(-r));
	reaper_result_done(&res);
	return r < 0 ? EXIT_ERROR : r > 0 ? EXIT_FINDINGS : EXIT_CLEAN;
}

static int load_rules(struct fsdctl *ctx, const struct reap_args *a, struct rules **ret)
{
	_cleanup_free_ char *msg = NULL;
	int r = rules_parse(ctx->cfg, ret, &msg);
	if (r < 0) {
		if (msg)
			fprintf(stderr, "%s%s", msg, *msg && msg[strlen(msg) - 1] != '\n' ? "\n" : "");
		else
			log_error_errno(r, "Failed to read the rules: %m");
		return r;
	}
	if (a->expire_rows && (r = add_expire_rule(ctx, *ret, a->expire_rows)) < 0) {
		rules_free(*ret);
		*ret = NULL;
	}
	return r;
}

int cmd_reap(struct fsdctl *ctx, int argc, char **argv)
{
	_cleanup_(reaper_lock_releasep) struct reaper_lock *lock = NULL;
	_cleanup_(reaper_sources_freep) struct reaper_sources *srcs = NULL;
	struct reap_args a = {0};
	struct rules *rs = NULL;
	struct plan *pl = NULL;
	struct reaper_inputs *in = NULL;
	int r, ret = EXIT_ERROR;

	r = parse_args(ctx, argc, argv, &a);
	if (r <= 0)
		return r < 0 ? EXIT_ERROR : EXIT_CLEAN;
	if (!a.now_ns)
		a.now_ns = now_ns();
	if (fsdctl_open_catalog(ctx, false) < 0 || load_rules(ctx, &a, &rs) < 0)
		goto out;
	if (a.apply && lock_and_recover(ctx, &lock) < 0)
		goto out;
	if (!a.no_scan && scan_roots(ctx) < 0)
		goto out;
	/* One connection per source for the whole run: planning, re-checks
	 * and removals share it (read-write only when applying). */
	r = reaper_sources_new(ctx->cfg, a.apply, &srcs);
	if (r >= 0)
		r = reaper_build_plan_on(ctx->cat, ctx->cfg, rs, a.now_ns, srcs, &pl, &in);
	if (r < 0) {
		log_error_errno(r, "Failed to build the plan: %s", catalog_errmsg(ctx->cat));
		goto out;
	}
	report_problems(in);
	if (ctx->json)
		print_plan_json(ctx->cfg, rs, pl, in);
	else
		print_plan_text(ctx->cfg, rs, pl);
	if (a.apply) {
		ret = do_apply(ctx, &a, lock, rs, pl, in, srcs);
	} else {
		if (ctx->json)
			printf("}\n");
		else if (pl->n_actions)
			printf("Dry run: nothing was changed; pass --apply to act.\n");
		ret = pl->n_actions ? EXIT_FINDINGS : EXIT_CLEAN;
	}
out:
	plan_free(pl);
	reaper_inputs_free(in);
	rules_free(rs);
	return ret;
}
