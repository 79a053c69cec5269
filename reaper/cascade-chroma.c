/* Chroma, written (see cascade.h), and the vector half of a reap run.
 * Chroma keeps its catalog in memory, so chroma.sqlite3 is changed only
 * while no other process has it open; otherwise the vector work is
 * journalled as deferred and the store is left exactly as it was. Rows go
 * children before parents in one exclusive transaction; the FTS index
 * loses exactly the rows whose rowid is a deleted embedding's id (never a
 * rebuild, which would renumber rowids); then each VECTOR segment's
 * directory is removed, fd-relatively below vector_db. */
#include "reaper/cascade.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/failpoint.h"
#include "reaper/apply-internal.h"
#include "reaper/vectors.h"

struct chroma_rw {
	sqlite3 *db;
	char *err;
	bool in_tx;
};

const char *chroma_rw_errmsg(const struct chroma_rw *c)
{
	return c && c->err ? c->err : "no error";
}

static int c_fail(struct chroma_rw *c, int r, const char *what)
{
	free(c->err);
	if (asprintf(&c->err, "chroma: %s: %s", what, c->db ? sqlite3_errmsg(c->db) : "") < 0)
		c->err = NULL;
	return r;
}

/* Another process with the file open: 1 yes (or cannot tell), 0 no. */
static int held_by_other(const char *file, char **ret_who)
{
	char real[PATH_MAX];
	DIR *proc;
	struct dirent *de;
	int held = 0;

	if (!realpath(file, real))
		return 0;
	proc = opendir("/proc");
	if (!proc)
		return 1;
	while (!held && (de = readdir(proc))) {
		char dir[64], link[PATH_MAX];
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0 || pid == (long)getpid())
			continue;
		snprintf(dir, sizeof dir, "/proc/%ld/fd", pid);
		DIR *fds = opendir(dir);
		if (!fds) {
			if (errno == EACCES) { /* cannot see its files: assume the worst */
				held = 1;
				if (asprintf(ret_who, "pid %ld (not inspectable)", pid) < 0)
					*ret_who = NULL;
			}
			continue;
		}
		struct dirent *fe;
		while (!held && (fe = readdir(fds))) {
			char path[384];
			snprintf(path, sizeof path, "%s/%s", dir, fe->d_name);
			ssize_t n = readlink(path, link, sizeof link - 1);
			if (n <= 0)
				continue;
			link[n] = 0;
			if (streq(link, real)) {
				held = 1;
				if (asprintf(ret_who, "pid %ld", pid) < 0)
					*ret_who = NULL;
			}
		}
		closedir(fds);
	}
	closedir(proc);
	return held;
}

int chroma_rw_open(const char *vector_dir, struct chroma_rw **ret, char **ret_error)
{
	_cleanup_free_ char *file = NULL, *who = NULL;
	struct chroma_rw *c;
	int rc;

	if (asprintf(&file, "%s/chroma.sqlite3", vector_dir) < 0)
		return -ENOMEM;
	if (access(file, F_OK) < 0)
		return -ENOENT;
	if (held_by_other(file, &who)) {
		if (ret_error && asprintf(ret_error, "%s is open in %s: vector work deferred", file,
					  who ? who : "another process") < 0)
			*ret_error = NULL;
		return -EBUSY;
	}
	c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	rc = sqlite3_open_v2(file, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(c->db, 0);
		rc = sqlite3_exec(c->db, "BEGIN EXCLUSIVE", NULL, NULL, NULL);
	}
	if (rc != SQLITE_OK) {
		int r = (rc & 0xff) == SQLITE_BUSY ? -EBUSY : -EIO;
		if (ret_error && asprintf(ret_error, "%s: %s%s", file, sqlite3_errmsg(c->db),
					  r == -EBUSY ? ": vector work deferred" : "") < 0)
			*ret_error = NULL;
		chroma_rw_close(c);
		return r;
	}
	c->in_tx = true;
	*ret = c;
	return 0;
}

void chroma_rw_close(struct chroma_rw *c)
{
	if (!c)
		return;
	if (c->in_tx)
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close_v2(c->db);
	free(c->err);
	free(c);
}

int chroma_rw_commit(struct chroma_rw *c)
{
	int rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return c_fail(c, -EIO, "commit");
	c->in_tx = false;
	return 0;
}

static bool table_exists(struct chroma_rw *c, const char *name)
{
	sqlite3_stmt *st = NULL;
	bool yes = false;
	if (sqlite3_prepare_v2(c->db, "SELECT 1 FROM sqlite_master WHERE name = ?", -1, &st,
			       NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	yes = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return yes;
}

/* Runs one statement with a text parameter; returns rows changed. */
static int run1(struct chroma_rw *c, const char *table, const char *sql, const char *arg)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (table && !table_exists(c, table))
		return 0;
	rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return c_fail(c, -EIO, sql);
	sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return c_fail(c, -EIO, sql);
	return sqlite3_changes(c->db);
}

int chroma_rw_delete_segment_rows(struct chroma_rw *c, const char *seg)
{
	static const struct {
		const char *table, *sql;
	} steps[] = {
		{"embedding_fulltext_search", "DELETE FROM embedding_fulltext_search WHERE rowid IN"
					      " (SELECT id FROM embeddings WHERE segment_id = ?1)"},
		{"embedding_metadata_array", "DELETE FROM embedding_metadata_array WHERE id IN"
					     " (SELECT id FROM embeddings WHERE segment_id = ?1)"},
		{"embedding_metadata", "DELETE FROM embedding_metadata WHERE id IN"
				       " (SELECT id FROM embeddings WHERE segment_id = ?1)"},
	};
	int r, n;

	for (size_t i = 0; i < ELEMENTSOF(steps); i++)
		if ((r = run1(c, steps[i].table, steps[i].sql, seg)) < 0)
			return r;
	n = run1(c, "embeddings", "DELETE FROM embeddings WHERE segment_id = ?1", seg);
	if (n < 0)
		return n;
	if ((r = run1(c, "segment_metadata", "DELETE FROM segment_metadata WHERE segment_id = ?1",
		      seg)) < 0 ||
	    (r = run1(c, "max_seq_id", "DELETE FROM max_seq_id WHERE segment_id = ?1", seg)) < 0)
		return r;
	return n;
}

static int segments_of(struct chroma_rw *c, const char *coll, char ***all, char ***vector)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(c->db, "SELECT id, scope FROM segments WHERE collection = ?",
				    -1, &st, NULL), r = 0;
	if (rc != SQLITE_OK)
		return c_fail(c, -EIO, "listing segments");
	sqlite3_bind_text(st, 1, coll, -1, SQLITE_STATIC);
	while (r >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		const char *scope = (const char *)sqlite3_column_text(st, 1);
		if (!id)
			continue;
		r = strv_extend(all, id);
		if (r >= 0 && scope && streq(scope, "VECTOR"))
			r = strv_extend(vector, id);
	}
	sqlite3_finalize(st);
	return r;
}

/* The collection's id from its id or name; -ENOENT when neither. */
static int collection_id(struct chroma_rw *c, const char *id_or_name, char **ret)
{
	sqlite3_stmt *st = NULL;
	int r = -ENOENT;
	if (sqlite3_prepare_v2(c->db, "SELECT id FROM collections WHERE id = ?1 OR name = ?1",
			       -1, &st, NULL) != SQLITE_OK)
		return c_fail(c, -EIO, "finding a collection");
	sqlite3_bind_text(st, 1, id_or_name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*ret = strdup((const char *)sqlite3_column_text(st, 0));
		r = *ret ? 0 : -ENOMEM;
	}
	sqlite3_finalize(st);
	return r;
}

int chroma_rw_delete_collection(struct chroma_rw *c, const char *id_or_name, char ***segments)
{
	_cleanup_strv_free_ char **all = NULL;
	_cleanup_free_ char *id = NULL, *topic = NULL;
	int r, total = 0;

	r = collection_id(c, id_or_name, &id);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	r = segments_of(c, id, &all, segments);
	for (char **s = all; r >= 0 && s && *s; s++) {
		r = chroma_rw_delete_segment_rows(c, *s);
		total += r > 0 ? r : 0;
	}
	if (r < 0)
		return r;
	if (asprintf(&topic, "persistent://default/default/%s", id) < 0)
		return -ENOMEM;
	if ((r = run1(c, "segments", "DELETE FROM segments WHERE collection = ?1", id)) < 0 ||
	    (r = run1(c, "collection_metadata",
		      "DELETE FROM collection_metadata WHERE collection_id = ?1", id)) < 0 ||
	    (r = run1(c, "embeddings_queue", "DELETE FROM embeddings_queue WHERE topic = ?1",
		      topic)) < 0 ||
	    (r = run1(c, "collections", "DELETE FROM collections WHERE id = ?1", id)) < 0)
		return r;
	return total;
}

/* ---- the vector half of a run ---- */

/* A NULL-terminated string list that grows by doubling (strv_extend
 * rescans the list on every call, quadratic for a run's 100k keys). */
struct list {
	char **v;
	size_t n, cap;
};

static int list_add(struct list *l, const char *s)
{
	if (l->n + 2 > l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		char **nv = realloc(l->v, cap * sizeof *nv);
		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n] = strdup(s);
	if (!l->v[l->n])
		return -ENOMEM;
	l->v[++l->n] = NULL;
	return 0;
}

struct vwork {
	const struct config_vectors *v;
	struct list collections; /* ids or names */
	struct list dirs;        /* orphan directories */
	struct list segrows;     /* segments whose rows are orphans */
	int64_t *ids;       /* journal ids, in the order above */
	size_t n;
	uint64_t bytes; /* index directories' size, as planned */
};

static bool is_row_action(const struct journal_action *ja)
{
	return streq(ja->kind, "remove-file-rows") || streq(ja->kind, "remove-rows");
}

static int collect_key(const struct journal_action *ja, void *ud)
{
	if (!ja->key || !is_row_action(ja))
		return 0;
	return list_add(ud, ja->key);
}

/* The collections that owner rows removed in this run leave dead, by the
 * store's patterns whose query is the owners ("file-{}"). */
static int cascaded(struct apply *a, const struct config_vectors *v, struct list *out)
{
	struct list keys = {0};
	struct journal_filter f = {.run_id = a->run_id, .states = 1u << JOURNAL_DONE};
	int r = journal_foreach(a->j, &f, collect_key, &keys);

	for (size_t p = 0; r >= 0 && p < v->n_collections; p++) {
		const char *pat = v->collections[p].pattern, *brace = strstr(pat, "{}");
		if (!streq(v->collections[p].query, "owners") || !brace)
			continue;
		for (char **k = keys.v; r >= 0 && k && *k; k++) {
			char *name = NULL;
			if (asprintf(&name, "%.*s%s%s", (int)(brace - pat), pat, *k, brace + 2) < 0) {
				r = -ENOMEM;
				break;
			}
			r = list_add(out, name);
			free(name);
		}
	}
	strv_free(keys.v);
	return r;
}

static int gather(struct apply *a, struct vwork *w)
{
	int r = 0;
	for (size_t i = 0; i < a->pl->n_actions && r >= 0; i++) {
		const struct plan_action *pa = &a->pl->actions[i];
		if (pa->kind < PLAN_REMOVE_COLLECTION || !pa->store || !streq(pa->store, w->v->name))
			continue;
		w->bytes += (uint64_t)MAX(pa->size, 0);
		if (pa->kind == PLAN_REMOVE_COLLECTION)
			r = list_add(&w->collections, pa->target);
		else if (pa->kind == PLAN_REMOVE_VECTOR_DIR)
			r = list_add(&w->dirs, pa->target);
		else
			r = list_add(&w->segrows, pa->target);
	}
	if (r >= 0 && !a->o->dry_run)
		r = cascaded(a, w->v, &w->collections);
	w->n = w->collections.n + w->dirs.n + w->segrows.n;
	return r;
}

static int journal_all(struct apply *a, struct vwork *w, enum journal_state s, const char *why)
{
	char **lists[3] = {w->collections.v, w->dirs.v, w->segrows.v};
	static const char *const kinds[3] = {"remove-collection", "remove-vector-dir",
					     "remove-vector-rows"};
	size_t k = 0;
	int r = journal_begin(a->j);

	for (size_t l = 0; l < 3 && r >= 0; l++)
		for (char **p = lists[l]; r >= 0 && p && *p; p++, k++) {
			struct journal_action ja = {.run_id = a->run_id, .state = s, .kind = kinds[l],
						    .store = w->v->name, .target = *p,
						    .rule = "vectors", .reason = why};
			r = journal_add(a->j, &ja, &w->ids[k]);
		}
	if (r < 0) {
		journal_rollback(a->j);
		return r;
	}
	return journal_commit(a->j);
}

static int set_all(struct apply *a, struct vwork *w, enum journal_state s, const char *why)
{
	int r = journal_begin(a->j);
	for (size_t i = 0; i < w->n && r >= 0; i++)
		r = journal_set_state(a->j, w->ids[i], s, why, 0);
	if (r < 0) {
		journal_rollback(a->j);
		return r;
	}
	return journal_commit(a->j);
}

static int delete_rows(struct apply *a, struct chroma_rw *c, struct vwork *w, char ***dirs)
{
	int r = 0;
	for (char **p = w->collections.v; r >= 0 && p && *p; p++) {
		r = chroma_rw_delete_collection(c, *p, dirs);
		a->res->vectors += r > 0 ? (uint64_t)r : 0;
	}
	for (char **p = w->segrows.v; r >= 0 && p && *p; p++) {
		r = chroma_rw_delete_segment_rows(c, *p);
		a->res->vectors += r > 0 ? (uint64_t)r : 0;
	}
	if (r >= 0)
		r = FAILPOINT("reap-chroma-before-commit");
	return r < 0 ? r : chroma_rw_commit(c);
}

static void remove_dirs(struct apply *a, const char *path, char **dirs)
{
	struct qroot *q = NULL;
	if (!dirs || qroot_open(path, NULL, &q) < 0)
		return;
	for (char **d = dirs; *d; d++) {
		if (strchr(*d, '/') || streq(*d, "..") || streq(*d, "."))
			continue; /* a segment id is one name; anything else is not ours */
		int r = qroot_remove_tree(q, *d);
		if (r < 0 && r != -ENOENT)
			apply_note_error(a->res, "removing %s/%s: %s", path, *d, strerror(-r));
	}
	qroot_close(q);
}

static int store_run(struct apply *a, struct vwork *w)
{
	_cleanup_strv_free_ char **vecdirs = NULL;
	struct chroma_rw *c = NULL;
	char *why = NULL;
	int r;

	if (w->n == 0 || a->o->dry_run)
		return 0;
	w->ids = calloc(w->n, sizeof *w->ids);
	if (!w->ids)
		return -ENOMEM;
	r = chroma_rw_open(w->v->path, &c, &why);
	if (r == -EBUSY) {
		a->res->deferred += w->n;
		r = journal_all(a, w, JOURNAL_DEFERRED, why);
		free(why);
		return r;
	}
	free(why);
	if (r == -ENOENT)
		return 0;
	r = r < 0 ? r : journal_all(a, w, JOURNAL_PLANNED, "dead or orphaned vectors");
	if (r >= 0)
		r = delete_rows(a, c, w, &vecdirs);
	if (r < 0) {
		apply_note_error(a->res, "%s", chroma_rw_errmsg(c));
		chroma_rw_close(c);
		a->res->failed += w->n;
		return w->ids[0] ? set_all(a, w, JOURNAL_FAILED, "vector store refused") : 0;
	}
	chroma_rw_close(c);
	remove_dirs(a, w->v->path, vecdirs);
	remove_dirs(a, w->v->path, w->dirs.v);
	a->res->actions += w->n;
	a->res->bytes += w->bytes;
	return set_all(a, w, JOURNAL_DONE, NULL);
}

int apply_vectors(struct apply *a)
{
	int r = 0;
	for (size_t i = 0; i < a->cfg->n_vectors && r >= 0; i++) {
		struct vwork w = {.v = &a->cfg->vectors[i]};
		if (!streq_ptr(w.v->type, "chroma"))
			continue;
		r = gather(a, &w);
		if (r >= 0)
			r = store_run(a, &w);
		strv_free(w.collections.v);
		strv_free(w.dirs.v);
		strv_free(w.segrows.v);
		free(w.ids);
	}
	return r;
}
