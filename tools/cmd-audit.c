/* fsdctl audit: brings the catalog up to date with a quick-check scan of
 * every root (unless --no-scan), compares it with the reference sources
 * and vector stores, and reports orphans, pending files, dangling and
 * unreferenced rows, changed files, duplicates and orphaned vectors. The
 * application's database is opened read-only; only the catalog changes
 * (the scan, and the run record). Exit 0 clean, 1 findings, 2 error. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog/scan.h"
#include "common/log.h"
#include "common/util.h"
#include "reaper/audit.h"
#include "tools/commands.h"
#include "tools/report.h"

enum {
	OPT_NO_SCAN = OPT_COMMON_LAST + 1,
	OPT_CATEGORY,
	OPT_NOW,
};

struct audit_args {
	bool no_scan;
	unsigned categories;
	int64_t now_ns;
};

static void help(void)
{
	printf("usage: fsdctl audit [--no-scan] [--json] [--category C[,C...]] [--now EPOCH]\n\n"
	       "Compares the files under the roots with the application's database and\n"
	       "vector stores, and reports what does not match. Changes nothing but the\n"
	       "catalog; the application's database is opened read-only.\n\n"
	       "  --no-scan          audit the catalog as it is, without a quick-check scan first\n"
	       "  --category C       only these categories (repeatable, or comma-separated):\n"
	       "                     orphan pending unowned-referenced dangling unreferenced\n"
	       "                     changed duplicate\n"
	       "                     vector-collection vector-dir vector-rows vector-unknown\n"
	       "                     (vector: the first three)\n"
	       "  --now EPOCH        judge ages and grace periods at this time (seconds)\n"
	       "  -j, --json         JSON report (docs/json.md)\n\n"
	       "Exit codes: 0 clean, 1 findings, 2 error (the audit is then incomplete).\n");
}

static int parse_categories(const char *arg, unsigned *mask)
{
	_cleanup_free_ char *copy = strdup(arg);
	char *save = NULL;

	if (!copy)
		return log_error_errno(-ENOMEM, "Out of memory");
	for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		if (streq(t, "vector")) {
			*mask |= 1u << AUDIT_VECTOR_COLLECTION | 1u << AUDIT_VECTOR_DIR |
				 1u << AUDIT_VECTOR_ROWS;
			continue;
		}
		int c = audit_category_from_string(t);
		if (c < 0)
			return log_error_errno(-EINVAL, "Unknown category '%s'; 'fsdctl audit --help' "
							"lists them", t);
		*mask |= 1u << c;
	}
	return 0;
}

static int parse_now(const char *arg, int64_t *ret)
{
	char *end = NULL;
	errno = 0;
	long long s = strtoll(arg, &end, 10);
	if (errno || end == arg || *end || s < 0 || s > INT64_MAX / 1000000000LL)
		return log_error_errno(-EINVAL, "--now wants seconds since the epoch, not '%s'", arg);
	*ret = (int64_t)s * 1000000000LL;
	return 0;
}

static int parse_args(struct fsdctl *ctx, int argc, char **argv, struct audit_args *a)
{
	static const struct option opts[] = {
		FSDCTL_COMMON_LONGOPTS,
		{"no-scan", no_argument, NULL, OPT_NO_SCAN},
		{"category", required_argument, NULL, OPT_CATEGORY},
		{"now", required_argument, NULL, OPT_NOW},
		{},
	};
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, FSDCTL_COMMON_SHORTOPTS, opts, NULL)) >= 0) {
		r = 0;
		if (c == 'h') {
			help();
			return 0;
		}
		if (c == OPT_NO_SCAN)
			a->no_scan = true;
		else if (c == OPT_CATEGORY)
			r = parse_categories(optarg, &a->categories);
		else if (c == OPT_NOW)
			r = parse_now(optarg, &a->now_ns);
		else if ((r = fsdctl_common_option(ctx, c, optarg)) == 0)
			return -EINVAL; /* getopt printed why */
		if (r < 0)
			return r;
	}
	if (optind < argc)
		return log_error_errno(-EINVAL, "audit takes no arguments ('%s')", argv[optind]);
	return 1;
}

/* The quick-check scan: the audit is only as true as the catalog. */
static int scan_roots(struct fsdctl *ctx)
{
	struct scan_options o = {.progress = isatty(STDERR_FILENO)};

	for (size_t i = 0; i < ctx->cfg->n_roots; i++) {
		const struct config_root *root = &ctx->cfg->roots[i];
		struct scan_stats st = {};
		int64_t id;
		int r = catalog_root_ensure(ctx->cat, root->name, root->path, &id);
		if (r < 0)
			return log_error_errno(r, "Failed to record root '%s' in the catalog: %s",
					       root->name, catalog_errmsg(ctx->cat));
		r = scan_root(ctx->cat, id, root, &o, &st);
		if (r < 0)
			return log_error_errno(r, "Failed to scan root '%s' (%s): %m", root->name,
					       root->path);
		log_debug("Scanned root '%s': %llu files, %llu hashed", root->name,
			  (unsigned long long)st.files, (unsigned long long)st.hashed);
	}
	return 0;
}

/* The report, and the first failure's words for the run record. */
struct audit_out {
	struct report *rep;
	char *first_error;
};

static int out_finding(const struct audit_finding *f, void *ud)
{
	struct audit_out *o = ud;
	return report_finding(f, o->rep);
}

static void out_error(int error, const char *message, void *ud)
{
	struct audit_out *o = ud;
	if (!o->first_error)
		o->first_error = strdup(message);
	report_error(error, message, o->rep);
}

static void record_run(struct fsdctl *ctx, int64_t run_id, const struct audit_totals *t, int r,
		       const char *error)
{
	_cleanup_free_ char *detail = report_totals_json(t);
	struct catalog_run run = {
		.id = run_id,
		.ended_ns = now_ns(),
		.findings = t->findings,
		.errors = t->errors + (r < 0 && t->errors == 0),
		.outcome = r < 0 ? "failed" : t->findings ? "findings" : "ok",
		.error = r < 0 ? (error ? error : strerror(-r)) : NULL,
		.detail = detail,
	};
	int k = catalog_run_end(ctx->cat, &run);
	if (k < 0)
		log_warning_errno(k, "Failed to record the audit in the catalog, ignoring: %s",
				  catalog_errmsg(ctx->cat));
}

static int audit_and_report(struct fsdctl *ctx, const struct audit_args *a,
			    struct audit_totals *t, char **ret_error)
{
	struct audit_out out = {};
	int r = report_new(stdout, ctx->json, ctx->cfg, a->now_ns, a->categories, &out.rep);
	if (r < 0)
		return log_error_errno(r, "Failed to start the report: %m");
	struct audit_options o = {.now_ns = a->now_ns, .categories = a->categories};
	struct audit_sink sink = {.finding = out_finding, .error = out_error, .ud = &out};
	r = audit_run(ctx->cat, ctx->cfg, &o, &sink, t);
	int k = report_finish(out.rep, t, r >= 0);
	report_free(out.rep);
	if (k < 0 && r >= 0)
		r = log_error_errno(k, "Failed to write the report: %m");
	*ret_error = out.first_error;
	return r;
}

int cmd_audit(struct fsdctl *ctx, int argc, char **argv)
{
	struct audit_args a = {};
	struct audit_totals t = {};
	_cleanup_free_ char *error = NULL;
	int64_t run_id = 0;
	int r;

	r = parse_args(ctx, argc, argv, &a);
	if (r <= 0)
		return r < 0 ? EXIT_ERROR : EXIT_CLEAN;
	if (a.now_ns == 0)
		a.now_ns = now_ns();
	if (fsdctl_open_catalog(ctx, false) < 0)
		return EXIT_ERROR;
	r = catalog_run_begin(ctx->cat, "audit", &run_id);
	if (r < 0)
		return log_error_errno(r, "Failed to record the audit in the catalog: %s",
				       catalog_errmsg(ctx->cat)),
		       EXIT_ERROR;
	if (!a.no_scan)
		r = scan_roots(ctx);
	if (r >= 0)
		r = audit_and_report(ctx, &a, &t, &error);
	record_run(ctx, run_id, &t, r, error);
	if (r < 0)
		return EXIT_ERROR;
	return t.findings ? EXIT_FINDINGS : EXIT_CLEAN;
}
