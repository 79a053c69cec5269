/* fsdctl scan: brings the catalog in line with the roots on disk (a quick
 * check: unchanged files are not read), and records the run. The code is
 * shared with fsdctl verify, which re-reads every file and lists those
 * whose content changed while size and mtime did not. A root that cannot
 * be scanned is an error (exit 2) but the other roots are still scanned. */
#include "tools/cmd-scan.h"

#include <inttypes.h>
#include <signal.h>

#include "catalog/hash.h"
#include "catalog/scan.h"
#include "common/log.h"
#include "common/parse.h"
#include "tools/commands.h"

struct root_result {
	const struct config_root *root;
	int64_t id;
	int error; /* 0 or -errno */
	struct scan_stats st;
};

static volatile int cancelled;

static void on_signal(int sig)
{
	cancelled = 1;
}

static void usage(FILE *f, bool verify)
{
	if (verify)
		fprintf(f, "usage: fsdctl verify [OPTIONS] [ROOT...]\n\n"
			   "Re-reads and re-hashes every file of the configured roots (or the named\n"
			   "ones) and lists the files whose content changed while their size and\n"
			   "mtime did not (bit rot, or a writer that restored the mtime).\n");
	else
		fprintf(f, "usage: fsdctl scan [OPTIONS] [ROOT...]\n\n"
			   "Walks the configured roots (or the named ones) and brings the catalog\n"
			   "in line: new files are hashed, changed ones re-hashed, vanished ones\n"
			   "marked gone. Files whose size, mtime, ctime and inode are unchanged are\n"
			   "not read again.\n");
	fprintf(f, "\n  -t, --threads N   hashing threads (default: one per CPU)\n"
		   "      --progress    a progress line on stderr (default: if it is a terminal)\n"
		   "      --no-progress\n"
		   "  -c, --config FILE, -C, --catalog PATH, -j, --json, -v, -q: see fsdctl --help\n\n"
		   "Exit codes: 0 done, %s2 a root or the catalog failed.\n",
		verify ? "1 changed files found, " : "");
}

enum {
	OPT_PROGRESS = OPT_COMMON_LAST,
	OPT_NO_PROGRESS,
};

static int parse_args(struct fsdctl *ctx, int argc, char **argv, bool verify,
		      struct scan_options *o)
{
	static const struct option opts[] = {
		FSDCTL_COMMON_LONGOPTS,
		{"threads", required_argument, NULL, 't'},
		{"progress", no_argument, NULL, OPT_PROGRESS},
		{"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
		{},
	};
	int c;

	o->progress = isatty(STDERR_FILENO);
	optind = 0;
	while ((c = getopt_long(argc, argv, FSDCTL_COMMON_SHORTOPTS "t:", opts, NULL)) >= 0) {
		int r = fsdctl_common_option(ctx, c, optarg);
		if (r < 0)
			return r;
		if (r > 0)
			continue;
		switch (c) {
		case 't': {
			char *end;
			unsigned long n = strtoul(optarg, &end, 10);
			if (*end || n == 0 || n > 64)
				return log_error_errno(-EINVAL, "--threads takes 1 to 64, not '%s'",
						       optarg);
			o->threads = (unsigned)n;
			break;
		}
		case OPT_PROGRESS:
			o->progress = true;
			break;
		case OPT_NO_PROGRESS:
			o->progress = false;
			break;
		case 'h':
			usage(stdout, verify);
			return 1;
		default:
			usage(stderr, verify);
			return -EINVAL;
		}
	}
	return 0;
}

/* The roots to scan: every configured one, or those named. Unknown names
 * are reported and remembered as an error. */
static int pick_roots(struct fsdctl *ctx, int argc, char **argv, struct root_result **ret,
		      size_t *ret_n)
{
	size_t n = optind < argc ? (size_t)(argc - optind) : ctx->cfg->n_roots, k = 0;
	struct root_result *rr = calloc(MAX(n, 1u), sizeof(*rr));
	int r = 0;

	if (!rr)
		return log_error_errno(-ENOMEM, "Out of memory.");
	for (size_t i = 0; i < n; i++) {
		const struct config_root *root = optind < argc
							 ? config_find_root(ctx->cfg, argv[optind + (int)i])
							 : &ctx->cfg->roots[i];
		if (!root) {
			r = log_error_errno(-ENOENT, "No root '%s' in %s.", argv[optind + (int)i],
					    ctx->cfg->file ?: "the configuration");
			continue;
		}
		rr[k++].root = root;
	}
	*ret = rr;
	*ret_n = k;
	return r;
}

static void scan_one_root(struct fsdctl *ctx, struct root_result *rr, const struct scan_options *o)
{
	int r = catalog_root_ensure(ctx->cat, rr->root->name, rr->root->path, &rr->id);

	if (r >= 0)
		r = scan_root(ctx->cat, rr->id, rr->root, o, &rr->st);
	rr->error = r < 0 ? r : 0;
	if (r == -ENOENT && !isempty(rr->root->marker) && access(rr->root->path, F_OK) == 0)
		log_error("Root '%s': marker '%s' is missing in %s; refusing to scan it.",
			  rr->root->name, rr->root->marker, rr->root->path);
	else if (r == -ECANCELED)
		log_error("Root '%s': scan interrupted.", rr->root->name);
	else if (r < 0 && r != -EBADMSG && r != -EBUSY && r != -ENOSPC && r != -EIO)
		log_error_errno(r, "Root '%s' (%s): cannot scan: %m", rr->root->name, rr->root->path);
	else if (r < 0)
		log_error_errno(r, "Root '%s': catalog error: %s", rr->root->name,
				catalog_errmsg(ctx->cat));
}

static void add_stats(struct scan_stats *t, const struct scan_stats *s)
{
	t->dirs += s->dirs;
	t->files += s->files;
	t->bytes += s->bytes;
	t->added += s->added;
	t->updated += s->updated;
	t->unchanged += s->unchanged;
	t->gone += s->gone;
	t->hashed += s->hashed;
	t->bytes_hashed += s->bytes_hashed;
	t->mismatches += s->mismatches;
	t->errors += s->errors;
	t->skipped += s->skipped;
}

static void json_stats(FILE *f, const struct scan_stats *s)
{
	fprintf(f,
		"\"dirs\":%" PRIu64 ",\"files\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"new\":%" PRIu64
		",\"changed\":%" PRIu64 ",\"unchanged\":%" PRIu64 ",\"gone\":%" PRIu64
		",\"hashed\":%" PRIu64 ",\"bytes_hashed\":%" PRIu64 ",\"mismatches\":%" PRIu64
		",\"errors\":%" PRIu64 ",\"skipped\":%" PRIu64,
		s->dirs, s->files, s->bytes, s->added, s->updated, s->unchanged, s->gone, s->hashed,
		s->bytes_hashed, s->mismatches, s->errors, s->skipped);
}

static void json_roots(FILE *f, const struct root_result *rr, size_t n)
{
	fputs("\"roots\":[", f);
	for (size_t i = 0; i < n; i++) {
		fputs(i ? ",{\"name\":" : "{\"name\":", f);
		json_print_string(f, rr[i].root->name, strlen(rr[i].root->name));
		fputs(",\"path\":", f);
		json_print_string(f, rr[i].root->path, strlen(rr[i].root->path));
		fputs(",\"error\":", f);
		if (rr[i].error) {
			const char *e = strerror(-rr[i].error);
			json_print_string(f, e, strlen(e));
		} else
			fputs("null", f);
		fputc(',', f);
		json_stats(f, &rr[i].st);
		fputc('}', f);
	}
	fputc(']', f);
}

/* The run's detail column: the per-root counters as JSON. */
static char *run_detail(const struct root_result *rr, size_t n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fputc('{', f);
	json_roots(f, rr, n);
	fputc('}', f);
	fclose(f);
	return buf;
}

static void text_line(const char *name, const struct scan_stats *s, int error, bool verify)
{
	char b1[32], b2[32];

	if (error) {
		printf("%-16s error: %s\n", name, strerror(-error));
		return;
	}
	printf("%-16s %8" PRIu64 " files %10s  %6" PRIu64 " new %6" PRIu64 " changed %6" PRIu64
	       " gone  %8" PRIu64 " hashed %10s  %" PRIu64 " errors",
	       name, s->files, format_bytes(b1, sizeof(b1), s->bytes), s->added, s->updated,
	       s->gone, s->hashed, format_bytes(b2, sizeof(b2), s->bytes_hashed), s->errors);
	if (verify)
		printf("  %" PRIu64 " mismatches", s->mismatches);
	putchar('\n');
}

static void print_summary(struct fsdctl *ctx, const struct root_result *rr, size_t n,
			  const struct scan_stats *total, int64_t run_id, int64_t elapsed,
			  bool verify)
{
	if (ctx->json) {
		printf("{\"kind\":\"%s\",\"run\":%" PRId64 ",\"seconds\":%.3f,", verify ? "verify" : "scan",
		       run_id, (double)elapsed / 1e9);
		json_roots(stdout, rr, n);
		fputs(",\"total\":{", stdout);
		json_stats(stdout, total);
		fputs("}", stdout);
		return; /* verify appends its list and closes the object */
	}
	for (size_t i = 0; i < n; i++)
		text_line(rr[i].root->name, &rr[i].st, rr[i].error, verify);
	if (n > 1)
		text_line("total", total, 0, verify);
	printf("%s %zu root%s in %.2f s\n", verify ? "verified" : "scanned", n, n == 1 ? "" : "s",
	       (double)elapsed / 1e9);
}

/* fsdctl verify's findings: every file flagged as changed, per root. */
static int print_changed(struct fsdctl *ctx, const struct root_result *rr, size_t n,
			 uint64_t *ret_count)
{
	uint64_t count = 0;
	int r = 0;

	if (ctx->json)
		fputs(",\"changed_files\":[", stdout);
	for (size_t i = 0; i < n && r >= 0; i++) {
		struct catalog_cursor *cur = NULL;
		const struct catalog_file *f;
		if (rr[i].error)
			continue;
		r = catalog_cursor_open(ctx->cat,
					&(struct catalog_query){.root_id = rr[i].id,
								.state = CATALOG_PRESENT,
								.changed_only = true},
					&cur);
		while (r >= 0 && (r = catalog_cursor_next(cur, &f)) > 0) {
			char hex[33];
			hash_to_hex(&f->hash, hex);
			if (ctx->json) {
				fputs(count ? ",{\"root\":" : "{\"root\":", stdout);
				json_print_string(stdout, rr[i].root->name, strlen(rr[i].root->name));
				fputc(',', stdout);
				json_print_name_field(stdout, "path", f->path, f->path_len);
				printf(",\"size\":%" PRId64 ",\"hash\":\"%s\"}", f->size, hex);
			} else {
				printf("changed: %s/", rr[i].root->name);
				text_print_name(stdout, f->path, f->path_len);
				printf("  (%" PRId64 " bytes, now %s)\n", f->size, hex);
			}
			count++;
		}
		catalog_cursor_free(cur);
	}
	if (ctx->json)
		printf("],\"changed_count\":%" PRIu64, count);
	*ret_count = count;
	return r < 0 ? log_error_errno(r, "Failed to list changed files: %s",
				       catalog_errmsg(ctx->cat))
		     : 0;
}

static int record_run(struct fsdctl *ctx, int64_t run_id, const struct root_result *rr, size_t n,
		      const struct scan_stats *t, int first_error, uint64_t findings)
{
	_cleanup_free_ char *detail = run_detail(rr, n);
	struct catalog_run run = {
		.id = run_id,
		.files = t->files,
		.bytes = t->bytes,
		.hashed = t->hashed,
		.bytes_hashed = t->bytes_hashed,
		.errors = t->errors + (first_error ? 1 : 0),
		.findings = findings,
		.outcome = first_error == -ECANCELED ? "interrupted"
			   : first_error	     ? "failed"
			   : findings		     ? "findings"
						     : "ok",
		.error = first_error ? strerror(-first_error) : NULL,
		.detail = detail,
	};
	int r = catalog_run_end(ctx->cat, &run);
	if (r < 0)
		return log_error_errno(r, "Failed to record the run: %s", catalog_errmsg(ctx->cat));
	return 0;
}

static int open_catalog(struct fsdctl *ctx)
{
	int r = fsdctl_open_catalog(ctx, false);

	/* The catalog's own account of what is wrong with the file. */
	if (r < 0 && !isempty(catalog_errmsg(NULL)))
		log_error("%s", catalog_errmsg(NULL));
	return r;
}

int fsdctl_scan_command(struct fsdctl *ctx, int argc, char **argv, bool verify)
{
	struct scan_options o = {.verify = verify, .cancel = &cancelled};
	_cleanup_free_ struct root_result *rr = NULL;
	struct scan_stats total = {0};
	uint64_t findings = 0;
	int64_t run_id = 0, start = mono_ns();
	size_t n = 0;
	int r, first_error;

	r = parse_args(ctx, argc, argv, verify, &o);
	if (r != 0)
		return r > 0 ? EXIT_CLEAN : EXIT_ERROR;
	if (open_catalog(ctx) < 0)
		return EXIT_ERROR;
	first_error = pick_roots(ctx, argc, argv, &rr, &n);
	if (!rr)
		return EXIT_ERROR;
	r = catalog_run_begin(ctx->cat, verify ? "verify" : "scan", &run_id);
	if (r < 0)
		return log_error_errno(r, "Failed to record the run: %s", catalog_errmsg(ctx->cat)),
		       EXIT_ERROR;
	/* The first signal stops the scan at its next batch (what was found
	 * is kept and the run recorded as interrupted); a second one kills. */
	struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESETHAND};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	for (size_t i = 0; i < n && !cancelled; i++) {
		scan_one_root(ctx, &rr[i], &o);
		add_stats(&total, &rr[i].st);
		if (rr[i].error && !first_error)
			first_error = rr[i].error;
	}
	print_summary(ctx, rr, n, &total, run_id, mono_ns() - start, verify);
	if (verify && (r = print_changed(ctx, rr, n, &findings)) < 0 && !first_error)
		first_error = r;
	if (ctx->json)
		puts("}");
	if (record_run(ctx, run_id, rr, n, &total, first_error, findings) < 0 && !first_error)
		first_error = -EIO;
	fflush(stdout);
	return first_error ? EXIT_ERROR : findings ? EXIT_FINDINGS : EXIT_CLEAN;
}

int cmd_scan(struct fsdctl *ctx, int argc, char **argv)
{
	return fsdctl_scan_command(ctx, argc, argv, false);
}
