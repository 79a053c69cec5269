/* Settling the journal: recovery after a crash, quarantine retention,
 * and restore. Each reads the actions it needs first (copies), then acts
 * on them one by one, so that no journal cursor is open while the journal
 * is written.
 *
 * Recovery rules, from the ordering in apply.c (journal commit before app
 * commit): a `planned` action never reached the app database, so a file
 * found in quarantine goes back; a `moved` action with rows is complete
 * if its owner row is gone (the app commit happened) and goes back if the
 * row is still there; an unlink (quarantine = no) found done is done. */
#include "reaper/apply.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/failpoint.h"
#include "reaper/apply-internal.h"

struct act {
	int64_t id, run_id;
	enum journal_state state;
	char *kind, *root, *root_path, *path, *qpath, *key, *source;
	size_t path_len;
	struct fs_identity fid;
	bool quarantine;
	uint64_t rows;
	int64_t ended_ns;
};

struct acts {
	struct act *v;
	size_t n, cap;
};

static void acts_free(struct acts *l)
{
	for (size_t i = 0; i < l->n; i++) {
		struct act *x = &l->v[i];
		free(x->kind), free(x->root), free(x->root_path), free(x->path), free(x->qpath);
		free(x->key), free(x->source);
	}
	free(l->v);
	*l = (struct acts){0};
}

static char *dup0(const char *s, size_t n)
{
	char *d;
	if (!s)
		return NULL;
	d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = 0;
	}
	return d;
}

static int collect(const struct journal_action *ja, void *ud)
{
	struct acts *l = ud;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		struct act *nv = realloc(l->v, cap * sizeof *nv);
		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = cap;
	}
	struct act *x = &l->v[l->n++];
	*x = (struct act){
		.id = ja->id, .run_id = ja->run_id, .state = ja->state, .path_len = ja->path_len,
		.fid = {.ino = ja->ino, .dev = ja->dev, .size = ja->size, .mtime_ns = ja->mtime_ns},
		.quarantine = ja->quarantine, .rows = ja->rows, .ended_ns = ja->ended_ns,
	};
	x->kind = ja->kind ? strdup(ja->kind) : NULL;
	x->root = ja->root ? strdup(ja->root) : NULL;
	x->root_path = ja->root_path ? strdup(ja->root_path) : NULL;
	x->path = dup0(ja->path, ja->path_len);
	x->qpath = dup0(ja->qpath, ja->qpath_len);
	x->key = ja->key ? strdup(ja->key) : NULL;
	x->source = ja->source ? strdup(ja->source) : NULL;
	return 0;
}

static size_t root_index(const struct config *cfg, const char *name)
{
	for (size_t i = 0; name && i < cfg->n_roots; i++)
		if (streq(cfg->roots[i].name, name))
			return i;
	return (size_t)-1;
}

static size_t source_index(const struct config *cfg, const char *name)
{
	for (size_t i = 0; name && i < cfg->n_sources; i++)
		if (streq(cfg->sources[i].name, name))
			return i;
	return (size_t)-1;
}

static bool is_file_kind(const char *kind)
{
	return kind && (streq(kind, "remove-file") || streq(kind, "remove-file-rows"));
}

/* Whether the action's owner rows are gone: 1 gone, 0 still there, <0
 * unknown (source unavailable). Actions without rows count as gone. */
static int rows_gone(struct apply *a, const struct act *x)
{
	struct appdb *app = NULL;
	size_t si;
	int r;

	if (!x->key || (!streq(x->kind, "remove-file-rows") && !streq(x->kind, "remove-rows")))
		return 1;
	si = source_index(a->cfg, x->source);
	if (si == (size_t)-1)
		return -ENOENT;
	r = apply_source(a, si, &app, NULL);
	if (r < 0)
		return r;
	r = appdb_key_exists(app, x->key);
	return r < 0 ? r : !r;
}

static int settle(struct apply *a, struct act *x, enum journal_state s, const char *why,
		  struct reaper_recovery *st)
{
	if (s == JOURNAL_DONE)
		st->completed++;
	else if (s == JOURNAL_ROLLED_BACK)
		st->rolled_back++;
	else
		st->failed++;
	return journal_set_state(a->j, x->id, s, why, 0);
}

static int recover_file(struct apply *a, struct act *x, struct reaper_recovery *st)
{
	size_t ri = root_index(a->cfg, x->root);
	struct qroot *q = ri == (size_t)-1 ? NULL : apply_qroot(a, ri);
	int at_orig, in_q = 0, gone;

	if (!q) {
		st->pending++;
		return 0;
	}
	at_orig = qroot_check(q, x->path, &x->fid);
	if (x->qpath)
		in_q = qroot_check(q, x->qpath, &x->fid);
	if (at_orig == 1)
		return settle(a, x, JOURNAL_ROLLED_BACK, "interrupted before the move", st);
	gone = x->state == JOURNAL_MOVED ? rows_gone(a, x) : 0;
	if (gone < 0) {
		st->pending++;
		return 0;
	}
	if (x->state == JOURNAL_MOVED && gone)
		return settle(a, x, JOURNAL_DONE, "completed after an interruption", st);
	if (in_q == 1) {
		int r = qroot_restore(q, x->qpath, x->path, &x->fid);
		if (r < 0)
			return settle(a, x, JOURNAL_FAILED,
				      "interrupted; left in quarantine (original place taken)", st);
		return settle(a, x, JOURNAL_ROLLED_BACK, "interrupted; moved back", st);
	}
	if (!x->quarantine)
		return settle(a, x, JOURNAL_DONE, "unlinked before an interruption", st);
	return settle(a, x, JOURNAL_FAILED, "interrupted; the file is neither in place nor in "
					    "quarantine (removed by someone else)", st);
}

static int recover_one(struct apply *a, struct act *x, struct reaper_recovery *st)
{
	int r = FAILPOINT("reap-recover");
	if (r < 0)
		return r;
	if (is_file_kind(x->kind))
		return recover_file(a, x, st);
	if (streq(x->kind, "remove-rows")) {
		int gone = x->state == JOURNAL_MOVED ? rows_gone(a, x) : 0;
		if (gone < 0) {
			st->pending++;
			return 0;
		}
		return settle(a, x, gone ? JOURNAL_DONE : JOURNAL_ROLLED_BACK,
			      "settled after an interruption", st);
	}
	/* Vector work is transactional in the store and re-planned from
	 * scratch next time. */
	return settle(a, x, JOURNAL_FAILED, "interrupted; re-planned by the next run", st);
}

int apply_recover(struct apply *a, struct reaper_recovery *ret)
{
	struct journal_filter f = {.states = 1u << JOURNAL_PLANNED | 1u << JOURNAL_MOVED};
	struct reaper_recovery st = {0};
	struct acts l = {0};
	int r = journal_foreach(a->j, &f, collect, &l);

	for (size_t i = 0; i < l.n && r >= 0; i++) {
		r = journal_begin(a->j);
		if (r < 0)
			break;
		r = recover_one(a, &l.v[i], &st);
		if (r >= 0)
			r = journal_commit(a->j);
		else
			journal_rollback(a->j);
	}
	acts_free(&l);
	if (ret)
		*ret = st;
	return r;
}

/* A context for the journal-only commands (no plan, no catalog). */
static int standalone(const struct config *cfg, const char *catalog_path, struct apply *a,
		      struct reaper_result *res, struct reaper_options *o)
{
	*a = (struct apply){.cfg = cfg, .res = res, .o = o};
	a->qroots = calloc(cfg->n_roots + 1, sizeof *a->qroots);
	a->qroot_err = calloc(cfg->n_roots + 1, sizeof *a->qroot_err);
	if (!a->qroots || !a->qroot_err)
		return -ENOMEM;
	int r = apply_sources_init(a);
	if (r < 0)
		return r;
	return journal_open(catalog_path, &a->j);
}

static void standalone_done(struct apply *a)
{
	for (size_t i = 0; a->qroots && i < a->cfg->n_roots; i++)
		qroot_close(a->qroots[i]);
	apply_sources_done(a);
	free(a->qroots), free(a->qroot_err);
	journal_close(a->j);
}

int reaper_recover(struct reaper_lock *lock, const struct config *cfg, const char *catalog_path,
		   struct reaper_recovery *ret)
{
	struct reaper_result res = {0};
	struct reaper_options o = {0};
	struct apply a;
	int r;

	if (!lock)
		return -ENOLCK;
	r = standalone(cfg, catalog_path, &a, &res, &o);
	if (r >= 0)
		r = apply_recover(&a, ret);
	standalone_done(&a);
	reaper_result_done(&res);
	return r;
}

/* ---- purge ---- */

static int cmp_ino(const void *x, const void *y)
{
	const struct act *a = x, *b = y;
	if (a->fid.ino != b->fid.ino)
		return a->fid.ino < b->fid.ino ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

static int purge_list(struct apply *a, struct acts *l, uint64_t *ret_n, uint64_t *ret_bytes)
{
	int r = 0;
	size_t in_tx = 0;

	/* In inode order: unlinking walks the inode table forward. */
	if (l->n > 1)
		qsort(l->v, l->n, sizeof *l->v, cmp_ino);

	for (size_t i = 0; i < l->n && r >= 0; i++) {
		struct act *x = &l->v[i];
		size_t ri = root_index(a->cfg, x->root);
		struct qroot *q = ri == (size_t)-1 ? NULL : apply_qroot(a, ri);
		if (!q || !x->qpath)
			continue;
		int k = qroot_purge(q, x->qpath);
		if (k < 0 && k != -ENOENT)
			continue;
		if (in_tx == 0 && (r = journal_begin(a->j)) < 0)
			break;
		r = journal_set_state(a->j, x->id, JOURNAL_PURGED,
				      k == -ENOENT ? "already gone from quarantine" : NULL, 0);
		/* The unlink happened: count it, and commit in batches. */
		if (++in_tx == 500 && r >= 0) {
			r = journal_commit(a->j);
			in_tx = 0;
		}
		if (ret_n)
			(*ret_n)++;
		if (ret_bytes)
			*ret_bytes += (uint64_t)x->fid.size;
	}
	if (in_tx > 0) {
		if (r >= 0)
			r = journal_commit(a->j);
		else
			journal_rollback(a->j);
	}
	for (size_t i = 0; i < a->cfg->n_roots; i++)
		if (a->qroots[i])
			(void)qroot_prune(a->qroots[i]);
	return r;
}

int apply_purge(struct apply *a, int64_t keep_ns)
{
	struct journal_filter f = {.quarantined = true};
	struct acts l = {0};
	int r;

	if (keep_ns < 0)
		return 0;
	f.ended_before = now_ns() - (keep_ns ? keep_ns : 7 * 86400LL * 1000000000LL);
	r = journal_foreach(a->j, &f, collect, &l);
	if (r >= 0)
		r = purge_list(a, &l, NULL, NULL);
	acts_free(&l);
	return r;
}

int reaper_purge(struct reaper_lock *lock, const struct config *cfg, const char *catalog_path,
		 const struct journal_filter *f, uint64_t *ret_n, uint64_t *ret_bytes)
{
	struct reaper_result res = {0};
	struct reaper_options o = {0};
	struct journal_filter ff = *f;
	struct acts l = {0};
	struct apply a;
	int r;

	if (!lock)
		return -ENOLCK;
	ff.quarantined = true;
	r = standalone(cfg, catalog_path, &a, &res, &o);
	if (r >= 0)
		r = journal_foreach(a.j, &ff, collect, &l);
	if (r >= 0)
		r = purge_list(&a, &l, ret_n, ret_bytes);
	acts_free(&l);
	standalone_done(&a);
	reaper_result_done(&res);
	return r;
}

/* ---- restore ---- */

static int put_row(const char *table, const struct journal_value *v, size_t n, void *ud)
{
	return appdb_insert_row(ud, table, v, n);
}

static int restore_one(struct apply *a, struct act *x, struct reaper_restore_cb *cb)
{
	size_t ri = root_index(a->cfg, x->root);
	struct qroot *q = ri == (size_t)-1 ? NULL : apply_qroot(a, ri);
	struct appdb *app = NULL;
	bool rows = x->rows > 0 && x->source;
	/* Rows-only actions (row rules) are named by their key. */
	const char *droot = x->qpath ? x->root : "rows of key";
	const char *dpath = x->qpath ? x->path : strempty(x->key);
	size_t dlen = x->qpath ? x->path_len : strlen(dpath);
	int r;

	if (!q && x->qpath)
		return cb->report(x->id, droot, dpath, dlen, -ENOENT,
				  a->res->error ? a->res->error : "root unavailable", cb->ud);
	if (rows) {
		size_t si = source_index(a->cfg, x->source);
		r = si == (size_t)-1 ? -ENOENT : apply_source(a, si, &app, NULL);
		if (r >= 0)
			r = appdb_begin(app);
		if (r >= 0)
			r = journal_rows_foreach(a->j, x->id, put_row, app);
		if (r < 0) {
			const char *why = app ? appdb_errmsg(app) : "source unavailable";
			if (app)
				appdb_rollback(app);
			return cb->report(x->id, droot, dpath, dlen, r, why, cb->ud);
		}
	}
	r = x->qpath ? qroot_restore(q, x->qpath, x->path, &x->fid) : 0;
	if (r < 0) {
		if (app)
			appdb_rollback(app);
		return cb->report(x->id, droot, dpath, dlen, r,
				  r == -EEXIST ? "a file has been created at that path since; "
						 "refusing to overwrite it"
				  : r == -ESTALE ? "the quarantined file has changed"
						 : strerror(-r),
				  cb->ud);
	}
	if (app && (r = appdb_commit(app)) < 0) {
		if (x->qpath)
			(void)qroot_quarantine(q, x->path, x->qpath, &x->fid);
		return cb->report(x->id, droot, dpath, dlen, r, appdb_errmsg(app),
				  cb->ud);
	}
	r = journal_begin(a->j);
	if (r >= 0)
		r = journal_set_state(a->j, x->id, JOURNAL_RESTORED, NULL, 0);
	if (r >= 0)
		r = journal_commit(a->j);
	if (r < 0)
		return r;
	return cb->report(x->id, droot, dpath, dlen, 0, NULL, cb->ud);
}

int reaper_restore(struct reaper_lock *lock, const struct config *cfg, const char *catalog_path,
		   const struct journal_filter *f, struct reaper_restore_cb *cb)
{
	struct reaper_result res = {0};
	struct reaper_options o = {0};
	struct journal_filter ff = *f;
	struct acts l = {0};
	struct apply a;
	int r, failed = 0;

	if (!lock)
		return -ENOLCK;
	ff.restorable = true;
	r = standalone(cfg, catalog_path, &a, &res, &o);
	if (r >= 0)
		r = journal_foreach(a.j, &ff, collect, &l);
	for (size_t i = 0; i < l.n && r >= 0; i++) {
		int k = restore_one(&a, &l.v[i], cb);
		if (k < 0)
			r = k;
		else if (k > 0)
			failed++;
	}
	acts_free(&l);
	standalone_done(&a);
	reaper_result_done(&res);
	return r < 0 ? r : failed > 0;
}
