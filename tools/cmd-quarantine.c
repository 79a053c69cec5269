/* fsdctl quarantine list|restore|purge: what the reaper holds in
 * quarantine (from which run, by which rule, why), giving it back (file
 * and saved rows; never over a file recreated since), and removing it for
 * good. Restore and purge take the reaper lock. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/parse.h"
#include "common/util.h"
#include "reaper/apply.h"
#include "reaper/journal.h"
#include "tools/commands.h"

enum {
	OPT_RUN = OPT_COMMON_LAST + 1,
	OPT_OLDER,
	OPT_ALL,
};

struct q_args {
	const char *verb;
	int64_t run;
	int64_t older_ns;
	bool all;
	int64_t *ids;
	size_t n_ids;
};

static void help(void)
{
	printf("usage: fsdctl quarantine list [--run N] [--json]\n"
	       "       fsdctl quarantine restore (--run N | ID...)\n"
	       "       fsdctl quarantine purge (--older-than AGE | --run N | --all | ID...)\n\n"
	       "Files the reaper moved aside stay in <root>/.fsd-quarantine/<run>/ until\n"
	       "purged. Restore puts back the file and the app-database rows removed with\n"
	       "it, and refuses to overwrite a file created at that path since.\n");
}

static int parse_args(struct fsdctl *ctx, int argc, char **argv, struct q_args *a)
{
	static const struct option options[] = {
		FSDCTL_COMMON_LONGOPTS,
		{"run", required_argument, NULL, OPT_RUN},
		{"older-than", required_argument, NULL, OPT_OLDER},
		{"all", no_argument, NULL, OPT_ALL},
		{},
	};
	int c, r = 0;

	while ((c = getopt_long(argc, argv, FSDCTL_COMMON_SHORTOPTS, options, NULL)) >= 0) {
		if (c == 'h') {
			help();
			return 0;
		} else if (c == OPT_RUN) {
			a->run = strtoll(optarg, NULL, 10);
			if (a->run <= 0)
				return log_error_errno(-EINVAL, "--run '%s': expected a run number",
						       optarg);
		} else if (c == OPT_OLDER) {
			if (parse_duration(optarg, &a->older_ns) < 0)
				return log_error_errno(-EINVAL, "--older-than '%s': expected a "
								"duration such as 7d", optarg);
		} else if (c == OPT_ALL) {
			a->all = true;
		} else if ((r = fsdctl_common_option(ctx, c, optarg)) == 0) {
			return -EINVAL;
		}
		if (r < 0)
			return r;
	}
	if (optind >= argc)
		return log_error_errno(-EINVAL, "quarantine: expected list, restore or purge");
	a->verb = argv[optind++];
	a->ids = calloc((size_t)(argc - optind) + 1, sizeof *a->ids);
	if (!a->ids)
		return -ENOMEM;
	for (; optind < argc; optind++) {
		char *end;
		a->ids[a->n_ids] = strtoll(argv[optind], &end, 10);
		if (*end || a->ids[a->n_ids] <= 0)
			return log_error_errno(-EINVAL, "'%s' is not an action id (see 'fsdctl "
							"quarantine list')", argv[optind]);
		a->n_ids++;
	}
	return 1;
}

struct list_ctx {
	struct fsdctl *ctx;
	unsigned n;
	uint64_t bytes;
};

static int list_one(const struct journal_action *ja, void *ud)
{
	struct list_ctx *l = ud;
	char b[32], t[64];

	if (l->ctx->json) {
		printf("%s{\"id\":%lld,\"run\":%lld,\"root\":", l->n ? "," : "",
		       (long long)ja->id, (long long)ja->run_id);
		json_print_string(stdout, strempty(ja->root), strlen(strempty(ja->root)));
		putchar(',');
		json_print_name_field(stdout, "path", ja->path, ja->path_len);
		putchar(',');
		json_print_name_field(stdout, "quarantine_path", ja->qpath, ja->qpath_len);
		printf(",\"size\":%lld,\"rows\":%llu,\"removed\":\"%s\",\"rule\":", (long long)ja->size,
		       (unsigned long long)ja->rows, format_time(t, sizeof t, ja->ended_ns));
		json_print_string(stdout, strempty(ja->rule), strlen(strempty(ja->rule)));
		printf(",\"reason\":");
		json_print_string(stdout, strempty(ja->reason), strlen(strempty(ja->reason)));
		putchar('}');
	} else {
		if (l->n == 0)
			printf("%6s %5s %10s %5s  %-20s %-22s %s\n", "ID", "RUN", "SIZE", "ROWS",
			       "REMOVED", "RULE", "ROOT/PATH");
		printf("%6lld %5lld %10s %5llu  %-20s %-22s %s/", (long long)ja->id,
		       (long long)ja->run_id, format_bytes(b, sizeof b, (uint64_t)ja->size),
		       (unsigned long long)ja->rows, format_time(t, sizeof t, ja->ended_ns),
		       strempty(ja->rule), strempty(ja->root));
		text_print_name(stdout, ja->path, ja->path_len);
		printf("\n%68s%s\n", "", strempty(ja->reason));
	}
	l->n++;
	l->bytes += (uint64_t)ja->size;
	return 0;
}

static int q_list(struct fsdctl *ctx, const struct q_args *a)
{
	_cleanup_(journal_closep) struct journal *j = NULL;
	struct journal_filter f = {.run_id = a->run, .quarantined = true};
	struct list_ctx l = {.ctx = ctx};
	char b[32];
	int r = journal_open(catalog_path(ctx->cat), &j);

	if (r < 0)
		return log_error_errno(r, "%s", journal_errmsg(j));
	if (ctx->json)
		printf("{\"quarantine\":[");
	r = journal_foreach(j, &f, list_one, &l);
	if (r < 0)
		return log_error_errno(r, "%s", journal_errmsg(j));
	if (ctx->json)
		printf("],\"files\":%u,\"bytes\":%llu}\n", l.n, (unsigned long long)l.bytes);
	else
		printf("%s%u files, %s held in quarantine.\n", l.n ? "\n" : "", l.n,
		       format_bytes(b, sizeof b, l.bytes));
	return 0;
}

static int report(int64_t id, const char *root, const char *path, size_t len, int error,
		  const char *why, void *ud)
{
	unsigned *failed = ud;
	if (error == 0) {
		printf("restored %lld: %s/", (long long)id, root);
		text_print_name(stdout, path, len);
		putchar('\n');
		return 0;
	}
	fprintf(stderr, "not restored %lld: %s/", (long long)id, root);
	text_print_name(stderr, path, len);
	fprintf(stderr, ": %s\n", why ? why : strerror(-error));
	(*failed)++;
	return 1;
}

typedef int (*q_each_fn)(struct fsdctl *ctx, struct reaper_lock *lock,
			 const struct journal_filter *f, unsigned *failed);

static int do_restore(struct fsdctl *ctx, struct reaper_lock *lock, const struct journal_filter *f,
		      unsigned *failed)
{
	struct reaper_restore_cb cb = {.report = report, .ud = failed};
	return reaper_restore(lock, ctx->cfg, catalog_path(ctx->cat), f, &cb);
}

static int do_purge(struct fsdctl *ctx, struct reaper_lock *lock, const struct journal_filter *f,
		    unsigned *failed)
{
	uint64_t n = 0, bytes = 0;
	char b[32];
	int r = reaper_purge(lock, ctx->cfg, catalog_path(ctx->cat), f, &n, &bytes);
	if (r >= 0)
		printf("Purged %llu files, %s.\n", (unsigned long long)n,
		       format_bytes(b, sizeof b, bytes));
	return r;
}

static int q_act(struct fsdctl *ctx, const struct q_args *a, q_each_fn fn)
{
	_cleanup_(reaper_lock_releasep) struct reaper_lock *lock = NULL;
	_cleanup_free_ char *holder = NULL;
	unsigned failed = 0;
	int r = reaper_lock_take(catalog_path(ctx->cat), &lock, &holder);

	if (r == -EBUSY)
		return log_error_errno(r, "Another reaper is running on this catalog: %s",
				       strempty(holder));
	if (r < 0)
		return log_error_errno(r, "Failed to take the reaper lock: %m");
	if (a->n_ids == 0) {
		struct journal_filter f = {.run_id = a->run};
		if (a->older_ns)
			f.ended_before = now_ns() - a->older_ns;
		r = fn(ctx, lock, &f, &failed);
	}
	for (size_t i = 0; i < a->n_ids && r >= 0; i++) {
		struct journal_filter f = {.id = a->ids[i]};
		r = fn(ctx, lock, &f, &failed);
	}
	if (r < 0)
		return log_error_errno(r, "Failed: %m");
	return failed ? 1 : 0;
}

int cmd_quarantine(struct fsdctl *ctx, int argc, char **argv)
{
	struct q_args a = {0};
	int r = parse_args(ctx, argc, argv, &a);

	if (r <= 0) {
		free(a.ids);
		return r < 0 ? EXIT_ERROR : EXIT_CLEAN;
	}
	if (fsdctl_open_catalog(ctx, true) < 0) {
		free(a.ids);
		return EXIT_ERROR;
	}
	if (streq(a.verb, "list"))
		r = q_list(ctx, &a);
	else if (streq(a.verb, "restore") && (a.run || a.n_ids))
		r = q_act(ctx, &a, do_restore);
	else if (streq(a.verb, "restore"))
		r = log_error_errno(-EINVAL, "restore needs --run N or action ids");
	else if (streq(a.verb, "purge") && (a.run || a.n_ids || a.all || a.older_ns))
		r = q_act(ctx, &a, do_purge);
	else if (streq(a.verb, "purge"))
		r = log_error_errno(-EINVAL, "purge needs --older-than AGE, --run N, --all or ids");
	else
		r = log_error_errno(-EINVAL, "quarantine: unknown '%s'; expected list, restore or "
					     "purge", a.verb);
	free(a.ids);
	return r < 0 ? EXIT_ERROR : r > 0 ? EXIT_FINDINGS : EXIT_CLEAN;
}
