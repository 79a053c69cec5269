/* Applying a plan (see apply.h): the only code that removes anything.
 *
 * Per batch of file actions (one root, so at most one source):
 *   1. journal every action as planned, commit (fsync);
 *   2. open one transaction on the source's one connection (BEGIN
 *      IMMEDIATE): no writer can add a reference until we commit, so the
 *      re-check and the removal are atomic;
 *   3. per action: re-check references and identity, quarantine or
 *      unlink, save and delete the owner rows; journal it as moved;
 *   4. commit the journal, then the app database, then mark done.
 * A crash anywhere leaves the journal ahead of the app database, which
 * is what recovery (recover.c) relies on. With dry_run the same path runs
 * with every effect left out. */
#include "reaper/apply.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/failpoint.h"
#include "reaper/apply-internal.h"
#include "reaper/cascade.h"
#include "reaper/journal.h"
#include "reaper/quarantine.h"
#include "reaper/refs.h"

#define DEFAULT_BATCH 500

void reaper_result_done(struct reaper_result *r)
{
	free(r->error);
	r->error = NULL;
}

void apply_note_error(struct reaper_result *res, const char *fmt, ...)
{
	va_list ap;
	if (res->error)
		return;
	va_start(ap, fmt);
	if (vasprintf(&res->error, fmt, ap) < 0)
		res->error = NULL;
	va_end(ap);
}

static void apply_done(struct apply *a)
{
	for (size_t i = 0; a->qroots && i < a->cfg->n_roots; i++)
		qroot_close(a->qroots[i]);
	free(a->qroots);
	free(a->qroot_err);
	apply_sources_done(a);
}

static int apply_init(struct apply *a)
{
	size_t nr = a->cfg->n_roots + 1;
	a->qroots = calloc(nr, sizeof *a->qroots);
	a->qroot_err = calloc(nr, sizeof *a->qroot_err);
	if (!a->qroots || !a->qroot_err)
		return -ENOMEM;
	return apply_sources_init(a);
}

int apply_sources_init(struct apply *a)
{
	size_t ns = a->cfg->n_sources + 1;
	bool dry = a->o && a->o->dry_run;

	a->srcs = a->o ? a->o->sources : NULL;
	if (!a->srcs) {
		int r = reaper_sources_new(a->cfg, !dry, &a->own_srcs);
		if (r < 0)
			return r;
		a->srcs = a->own_srcs;
	}
	a->apps = calloc(ns, sizeof *a->apps);
	a->app_err = calloc(ns, sizeof *a->app_err);
	return a->apps && a->app_err ? 0 : -ENOMEM;
}

/* The appdbs first: their statements live on the sources' connections. */
void apply_sources_done(struct apply *a)
{
	for (size_t i = 0; a->apps && i < a->cfg->n_sources; i++)
		appdb_close(a->apps[i]);
	free(a->apps);
	free(a->app_err);
	a->apps = NULL;
	a->app_err = NULL;
	reaper_sources_free(TAKE_PTR(a->own_srcs));
	a->srcs = NULL;
}

struct qroot *apply_qroot(struct apply *a, size_t ri)
{
	const struct config_root *root = &a->cfg->roots[ri];
	if (a->qroots[ri] || a->qroot_err[ri])
		return a->qroots[ri];
	int r = qroot_open(root->path, root->marker, &a->qroots[ri]);
	if (r < 0) {
		a->qroot_err[ri] = r;
		apply_note_error(a->res, "root '%s' (%s): %s%s", root->name, root->path,
				 strerror(-r),
				 r == -ENOENT && root->marker ? " (marker missing: unmounted?)" : "");
	}
	return a->qroots[ri];
}

/* The source's handle (the run's one connection to it) and the removal
 * working on that same connection. */
int apply_source(struct apply *a, size_t si, struct appdb **ret_app, struct refsource **ret_ref)
{
	struct refsource *ref = NULL;
	const char *msg = NULL;
	char *err = NULL;
	int r;

	if (a->app_err[si])
		return a->app_err[si];
	r = reaper_sources_get(a->srcs, si, &ref, &msg);
	if (r >= 0 && !a->apps[si]) {
		r = appdb_open_on(ref, &a->apps[si], &err);
		msg = err;
	}
	if (r < 0) {
		apply_note_error(a->res, "%s", msg ? msg : strerror(-r));
		free(err);
		a->app_err[si] = r;
		return r;
	}
	*ret_app = a->apps[si];
	if (ret_ref)
		*ret_ref = ref;
	return 0;
}

size_t apply_source_of_root(const struct config *cfg, size_t ri)
{
	const struct config_root *root = &cfg->roots[ri];
	if (!root->source || root->key == KEY_NONE)
		return (size_t)-1;
	for (size_t i = 0; i < cfg->n_sources; i++)
		if (streq(cfg->sources[i].name, root->source))
			return i;
	return (size_t)-1;
}

/* ---- one batch of file actions ---- */

struct item {
	const struct plan_action *pa;
	int64_t id;
	char *qpath;
	size_t qpath_len;
	enum journal_state state;
	uint64_t rows;
};

struct save_ctx {
	struct journal *j;
	int64_t id;
};

static int save_row(unsigned seq, const char *table, const struct journal_value *v, size_t n,
		    void *ud)
{
	struct save_ctx *c = ud;
	return c->j ? journal_save_row(c->j, c->id, seq, table, v, n) : 0;
}

static int journal_planned(struct apply *a, struct item *it, size_t n)
{
	const struct config_root *root = &a->cfg->roots[it[0].pa->root];
	int r = journal_begin(a->j);
	for (size_t i = 0; i < n && r >= 0; i++) {
		const struct plan_action *pa = it[i].pa;
		if (pa->quarantine) {
			r = quarantine_path(a->run_id, pa->path, pa->path_len, &it[i].qpath,
					    &it[i].qpath_len);
			if (r < 0)
				break;
		}
		struct journal_action ja = {
			.run_id = a->run_id, .state = JOURNAL_PLANNED,
			.kind = plan_kind_to_string(pa->kind), .rule = a->rs->v[pa->rule].name,
			.reason = pa->reason, .root = root->name, .root_path = root->path,
			.path = pa->path, .path_len = pa->path_len, .qpath = it[i].qpath,
			.qpath_len = it[i].qpath_len, .key = pa->key, .source = root->source,
			.size = pa->size, .mtime_ns = pa->mtime_ns, .ino = pa->ino, .dev = pa->dev,
			.quarantine = pa->quarantine,
		};
		r = journal_add(a->j, &ja, &it[i].id);
	}
	if (r < 0) {
		journal_rollback(a->j);
		return r;
	}
	return journal_commit(a->j);
}

/* 1 still removable, 0 referenced again (skip), <0 error. */
static int recheck_refs(struct refsource *ref, const struct plan_action *pa)
{
	int r;
	if (!ref || !pa->key)
		return 1;
	r = refsource_is_live(ref, pa->key, strlen(pa->key));
	if (r != 0)
		return r < 0 ? r : 0;
	if (pa->kind == PLAN_REMOVE_FILE_ROWS)
		return 1;
	r = refsource_is_owner(ref, pa->key, strlen(pa->key));
	return r < 0 ? r : !r;
}

static int act_one(struct apply *a, struct qroot *q, struct appdb *app, struct refsource *ref,
		   struct item *it)
{
	const struct plan_action *pa = it->pa;
	struct fs_identity id = {.ino = pa->ino, .dev = pa->dev, .size = pa->size,
				 .mtime_ns = pa->mtime_ns};
	int r;

	r = recheck_refs(ref, pa);
	if (r <= 0) {
		it->state = r == 0 ? JOURNAL_SKIPPED : JOURNAL_FAILED;
		return r == 0 ? -EADDRINUSE : r;
	}
	if (a->o->dry_run) {
		r = qroot_check(q, pa->path, &id);
		return r == 1 ? 0 : r == 0 ? -ESTALE : r;
	}
	r = FAILPOINT("reap-before-move");
	if (r >= 0)
		r = pa->quarantine ? qroot_quarantine(q, pa->path, it->qpath, &id)
				   : qroot_unlink(q, pa->path, &id);
	if (r < 0)
		return r;
	r = FAILPOINT("reap-after-move");
	if (r >= 0 && pa->kind == PLAN_REMOVE_FILE_ROWS) {
		struct save_ctx sc = {.j = a->j, .id = it->id};
		r = appdb_remove_key(app, pa->key, save_row, &sc);
		if (r >= 0)
			it->rows = (uint64_t)r;
	}
	if (r < 0 && pa->quarantine) /* put the file back: its rows stay */
		(void)qroot_restore(q, it->qpath, pa->path, &id);
	return r < 0 ? r : 0;
}

static const char *skip_reason(int r)
{
	switch (r) {
	case -EADDRINUSE:
		return "referenced again since planning";
	case -ESTALE:
		return "changed since planning (inode, size or mtime)";
	case -ENOENT:
		return "gone since planning";
	case -ELOOP:
	case -ENOTDIR:
		return "a symlink or a non-directory on the way (refusing to follow)";
	case -EXDEV:
		return "on another filesystem";
	default:
		return NULL;
	}
}

static int act_all(struct apply *a, struct qroot *q, struct appdb *app, struct refsource *ref,
		   struct item *it, size_t n)
{
	int r = 0;
	for (size_t i = 0; i < n && r >= 0; i++) {
		int k = FAILPOINT("reap-action");
		if (k >= 0)
			k = act_one(a, q, app, ref, &it[i]);
		const char *why = skip_reason(k);
		if (k >= 0)
			it[i].state = JOURNAL_MOVED;
		else if (why)
			it[i].state = JOURNAL_SKIPPED;
		else
			it[i].state = JOURNAL_FAILED;
		if (k < 0 && !why)
			apply_note_error(a->res, "%s: %s", it[i].pa->path,
					 app && k != -ESTALE ? appdb_errmsg(app) : strerror(-k));
		if (!a->o->dry_run)
			r = journal_set_state(a->j, it[i].id, it[i].state,
					      k < 0 ? (why ? why : strerror(-k)) : NULL, it[i].rows);
	}
	return r;
}

static void count(struct apply *a, const struct item *it, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (it[i].state == JOURNAL_SKIPPED)
			a->res->skipped++;
		else if (it[i].state != JOURNAL_MOVED && it[i].state != JOURNAL_DONE)
			a->res->failed++;
		else {
			a->res->actions++;
			a->res->files++;
			a->res->bytes += (uint64_t)it[i].pa->size;
			a->res->rows += it[i].rows;
		}
	}
}

static int mark_done(struct apply *a, struct item *it, size_t n)
{
	int r = journal_begin(a->j);
	for (size_t i = 0; i < n && r >= 0; i++)
		if (it[i].state == JOURNAL_MOVED) {
			r = journal_set_state(a->j, it[i].id, JOURNAL_DONE, NULL, it[i].rows);
			it[i].state = JOURNAL_DONE;
		}
	if (r < 0) {
		journal_rollback(a->j);
		return r;
	}
	return journal_commit(a->j);
}

static void catalog_forget(struct apply *a, const struct item *it, size_t n)
{
	if (catalog_begin(a->cat) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		if (it[i].state == JOURNAL_DONE)
			(void)catalog_file_gone(a->cat, it[i].pa->root_id, it[i].pa->path,
						it[i].pa->path_len, false, now_ns());
	if (catalog_commit(a->cat) < 0)
		catalog_rollback(a->cat);
}

/* One transaction on the source's one connection: BEGIN IMMEDIATE on a
 * read-write handle, so the re-checks read the very state the deletes
 * act on and no writer can add a reference until we commit. */
static int lock_source(struct apply *a, size_t si, struct appdb **app, struct refsource **ref)
{
	int r;
	if (si == (size_t)-1)
		return 0;
	r = apply_source(a, si, app, ref);
	if (r < 0)
		return r;
	r = refsource_snapshot_begin(*ref);
	if (r < 0)
		apply_note_error(a->res, "%s", refsource_errmsg(*ref));
	return r;
}

static int unlock_source(struct apply *a, struct refsource *ref, bool commit)
{
	int r;
	if (!ref)
		return 0;
	r = commit ? refsource_snapshot_end(ref) : refsource_snapshot_rollback(ref);
	if (r < 0)
		apply_note_error(a->res, "%s", refsource_errmsg(ref));
	return r;
}

static void fail_items(struct apply *a, struct item *it, size_t n, int r)
{
	for (size_t i = 0; i < n; i++) {
		it[i].state = JOURNAL_FAILED;
		if (!a->o->dry_run && it[i].id)
			(void)journal_set_state(a->j, it[i].id, JOURNAL_FAILED, strerror(-r), 0);
	}
}

static int run_batch(struct apply *a, struct item *it, size_t n)
{
	size_t ri = it[0].pa->root;
	size_t si = apply_source_of_root(a->cfg, ri);
	struct appdb *app = NULL;
	struct refsource *ref = NULL;
	struct qroot *q;
	int r;

	if (!a->o->dry_run) {
		r = journal_planned(a, it, n);
		if (r < 0)
			return r; /* the journal is our safety: stop the run */
		r = FAILPOINT("reap-after-journal");
		if (r < 0)
			return r;
	}
	/* Opened (and its marker checked) only now, right before acting. */
	q = apply_qroot(a, ri);
	r = q ? lock_source(a, si, &app, &ref) : a->qroot_err[ri];
	if (r < 0) {
		fail_items(a, it, n, r);
		count(a, it, n);
		return 0; /* this root or source is out; others may go on */
	}
	r = a->o->dry_run ? 0 : journal_begin(a->j);
	if (r >= 0)
		r = act_all(a, q, app, ref, it, n);
	if (r >= 0 && !a->o->dry_run)
		r = journal_commit(a->j);
	if (r >= 0)
		r = FAILPOINT("reap-after-moved");
	if (r < 0) {
		/* The journal could not record what happened: recovery will
		 * find out from the disk and the app database. */
		if (!a->o->dry_run)
			journal_rollback(a->j);
		unlock_source(a, ref, false);
		return r;
	}
	r = unlock_source(a, ref, !a->o->dry_run);
	if (r >= 0)
		r = FAILPOINT("reap-after-commit");
	if (r < 0)
		return r; /* recovery settles the moved actions */
	if (!a->o->dry_run) {
		r = mark_done(a, it, n);
		if (r < 0)
			return r;
		catalog_forget(a, it, n);
	}
	count(a, it, n);
	return 0;
}

static bool is_file_action(const struct plan_action *pa)
{
	return pa->kind == PLAN_REMOVE_FILE || pa->kind == PLAN_REMOVE_FILE_ROWS;
}

static int cmp_root_ino(const void *x, const void *y)
{
	const struct plan_action *a = *(const struct plan_action *const *)x;
	const struct plan_action *b = *(const struct plan_action *const *)y;
	if (a->root != b->root)
		return a->root < b->root ? -1 : 1;
	if (a->ino != b->ino)
		return a->ino < b->ino ? -1 : 1;
	return a < b ? -1 : a > b;
}

/* File actions root by root in inode order: the inode table is then
 * walked mostly forward, as a directory-order unlink would (key order is
 * random on disk and makes every rename a seek). */
static const struct plan_action **file_actions(const struct plan *pl, size_t *ret_n)
{
	const struct plan_action **v = calloc(pl->n_actions + 1, sizeof *v);
	size_t n = 0;
	if (!v)
		return NULL;
	for (size_t i = 0; i < pl->n_actions; i++)
		if (is_file_action(&pl->actions[i]))
			v[n++] = &pl->actions[i];
	qsort(v, n, sizeof *v, cmp_root_ino);
	*ret_n = n;
	return v;
}

static int apply_files(struct apply *a)
{
	unsigned batch = a->o->batch ? a->o->batch : DEFAULT_BATCH;
	_cleanup_free_ struct item *it = calloc(batch, sizeof *it);
	size_t n = 0, nv = 0;
	_cleanup_free_ const struct plan_action **v = file_actions(a->pl, &nv);
	int r = 0;

	if (!it || !v)
		return -ENOMEM;
	for (size_t i = 0; i <= nv && r >= 0; i++) {
		const struct plan_action *pa = i < nv ? v[i] : NULL;
		if (n > 0 && (!pa || n == batch || pa->root != it[0].pa->root)) {
			r = run_batch(a, it, n);
			for (size_t k = 0; k < n; k++)
				free(it[k].qpath);
			memset(it, 0, n * sizeof *it);
			n = 0;
		}
		if (pa)
			it[n++] = (struct item){.pa = pa};
	}
	for (size_t k = 0; k < n; k++)
		free(it[k].qpath);
	return r;
}

static void save_source_counts(struct apply *a)
{
	for (size_t i = 0; a->in && i < a->in->n_sources; i++) {
		const struct reaper_source_status *s = &a->in->sources[i];
		char name[256], val[32];
		if (s->error || (!s->owners && !s->live_rows))
			continue;
		snprintf(name, sizeof name, "reaper.source.%s.owners", s->name);
		snprintf(val, sizeof val, "%llu", (unsigned long long)s->owners);
		(void)catalog_state_set(a->cat, name, val);
		snprintf(name, sizeof name, "reaper.source.%s.live", s->name);
		snprintf(val, sizeof val, "%llu", (unsigned long long)s->live_rows);
		(void)catalog_state_set(a->cat, name, val);
	}
}

static int record_run(struct apply *a, int outcome_r)
{
	_cleanup_free_ char *detail = NULL;
	struct reaper_result *res = a->res;
	if (asprintf(&detail,
		     "{\"actions\":%llu,\"files\":%llu,\"bytes\":%llu,\"rows\":%llu,"
		     "\"vectors\":%llu,\"skipped\":%llu,\"failed\":%llu,\"deferred\":%llu,"
		     "\"planned\":%zu}",
		     (unsigned long long)res->actions, (unsigned long long)res->files,
		     (unsigned long long)res->bytes, (unsigned long long)res->rows,
		     (unsigned long long)res->vectors, (unsigned long long)res->skipped,
		     (unsigned long long)res->failed, (unsigned long long)res->deferred,
		     a->pl->n_actions) < 0)
		detail = NULL;
	struct catalog_run run = {
		.id = a->run_id, .ended_ns = now_ns(), .files = res->files, .bytes = res->bytes,
		.errors = res->failed, .findings = res->actions,
		.outcome = outcome_r < 0 ? "failed"
			   : res->failed || res->deferred ? "partial" : "ok",
		.error = res->error, .detail = detail,
	};
	return catalog_run_end(a->cat, &run);
}

int reaper_apply(struct reaper_lock *lock, struct catalog *cat, const struct config *cfg,
		 const struct rules *rs, const struct plan *pl, const struct reaper_inputs *in,
		 const struct reaper_options *o, struct reaper_result *res)
{
	struct apply a = {.cat = cat, .cfg = cfg, .rs = rs, .pl = pl, .in = in, .o = o,
			  .res = res};
	int r;

	if (!lock)
		return -ENOLCK;
	*res = (struct reaper_result){0};
	r = apply_init(&a);
	if (r >= 0 && !o->dry_run) {
		r = journal_open(catalog_path(cat), &a.j);
		if (r < 0)
			apply_note_error(res, "%s", journal_errmsg(a.j));
		if (r >= 0)
			r = apply_recover(&a, NULL);
		if (r >= 0 && in && in->unref_roots)
			r = journal_unref_store(a.j, in->unref_roots, in->unref, in->n_unref);
		if (r >= 0)
			r = catalog_run_begin(cat, "reap", &a.run_id);
		res->run_id = a.run_id;
	}
	if (r >= 0)
		r = apply_files(&a);
	if (r >= 0)
		r = apply_rows(&a);
	if (r >= 0)
		r = apply_vectors(&a);
	if (r >= 0 && !o->dry_run)
		r = apply_purge(&a, o->quarantine_keep_ns);
	if (!o->dry_run && a.run_id) {
		if (r >= 0 && !res->failed)
			save_source_counts(&a);
		if (r < 0)
			apply_note_error(res, "%s", strerror(-r));
		(void)record_run(&a, r);
	}
	apply_done(&a);
	journal_close(a.j);
	if (r < 0)
		return r;
	return res->failed || res->deferred ? 1 : 0;
}
