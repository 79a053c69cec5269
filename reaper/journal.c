/* The reaper's journal database (see journal.h). Every write is bound
 * parameters; paths are stored as BLOBs so any byte survives; saved rows
 * keep SQLite's own value types, so a restored row is the row that was
 * deleted, byte for byte. */
#include "reaper/journal.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JOURNAL_SCHEMA 1

struct journal {
	sqlite3 *db;
	char *err;
	/* The statements every action runs, prepared once. */
	sqlite3_stmt *add, *set_state, *save_row;
};

static const char *const state_names[_JOURNAL_STATE_MAX] = {
	[JOURNAL_PLANNED] = "planned",         [JOURNAL_MOVED] = "moved",
	[JOURNAL_DONE] = "done",               [JOURNAL_FAILED] = "failed",
	[JOURNAL_SKIPPED] = "skipped",         [JOURNAL_ROLLED_BACK] = "rolled-back",
	[JOURNAL_RESTORED] = "restored",       [JOURNAL_PURGED] = "purged",
	[JOURNAL_DEFERRED] = "deferred",
};

const char *journal_state_to_string(enum journal_state s)
{
	return s < _JOURNAL_STATE_MAX ? state_names[s] : "?";
}

static int j_fail(struct journal *j, int rc, const char *what)
{
	free(j->err);
	if (asprintf(&j->err, "journal: %s: %s", what, sqlite3_errmsg(j->db)) < 0)
		j->err = NULL;
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EBADMSG;
	default:
		return -EIO;
	}
}

const char *journal_errmsg(const struct journal *j)
{
	return j && j->err ? j->err : "journal: no error";
}

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT);"
	"CREATE TABLE IF NOT EXISTS actions("
	" id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, state INTEGER NOT NULL,"
	" kind TEXT NOT NULL, rule TEXT, reason TEXT, root TEXT, root_path TEXT, path BLOB,"
	" qpath BLOB, key TEXT, source TEXT, store TEXT, target TEXT, size INTEGER,"
	" mtime_ns INTEGER, ino INTEGER, dev INTEGER, quarantine INTEGER, rows INTEGER,"
	" error TEXT, ended_ns INTEGER);"
	"CREATE INDEX IF NOT EXISTS actions_state ON actions(state);"
	"CREATE INDEX IF NOT EXISTS actions_run ON actions(run_id);"
	"CREATE TABLE IF NOT EXISTS saved_rows("
	" action_id INTEGER NOT NULL, seq INTEGER NOT NULL, tbl TEXT NOT NULL, col INTEGER NOT NULL,"
	" name TEXT NOT NULL, value, PRIMARY KEY(action_id, seq, col));"
	"CREATE TABLE IF NOT EXISTS unref(root TEXT NOT NULL, path BLOB NOT NULL,"
	" since_ns INTEGER NOT NULL, PRIMARY KEY(root, path));"
	"CREATE TABLE IF NOT EXISTS unref_roots(root TEXT PRIMARY KEY);"
	"INSERT OR IGNORE INTO meta VALUES('schema', '1');";

int journal_open(const char *catalog_path, struct journal **ret)
{
	_cleanup_free_ char *path = NULL;
	struct journal *j;
	int rc;

	if (asprintf(&path, "%s.reaper", catalog_path) < 0)
		return -ENOMEM;
	j = calloc(1, sizeof *j);
	if (!j)
		return -ENOMEM;
	rc = sqlite3_open_v2(path, &j->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_busy_timeout(j->db, 10000);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(j->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL,
				  NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(j->db, schema, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		int r = j_fail(j, rc, path);
		*ret = j; /* the caller reads the message, then closes */
		return r;
	}
	*ret = j;
	return 0;
}

void journal_close(struct journal *j)
{
	if (!j)
		return;
	sqlite3_finalize(j->add);
	sqlite3_finalize(j->set_state);
	sqlite3_finalize(j->save_row);
	sqlite3_close_v2(j->db);
	free(j->err);
	free(j);
}

static int exec(struct journal *j, const char *sql)
{
	int rc = sqlite3_exec(j->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : j_fail(j, rc, sql);
}

int journal_begin(struct journal *j)
{
	return exec(j, "BEGIN IMMEDIATE");
}
int journal_commit(struct journal *j)
{
	return exec(j, "COMMIT");
}
int journal_rollback(struct journal *j)
{
	return exec(j, "ROLLBACK");
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

static void bind_blob(sqlite3_stmt *st, int i, const char *s, size_t n)
{
	if (s)
		sqlite3_bind_blob64(st, i, s, n, SQLITE_TRANSIENT);
}

/* The cached statement, prepared on first use, reset and unbound. */
static int cached(struct journal *j, sqlite3_stmt **st, const char *sql, const char *what)
{
	if (*st) {
		sqlite3_reset(*st);
		sqlite3_clear_bindings(*st);
		return 0;
	}
	int rc = sqlite3_prepare_v3(j->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
	return rc == SQLITE_OK ? 0 : j_fail(j, rc, what);
}

static int step_reset(struct journal *j, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	int r = rc == SQLITE_DONE ? 0 : j_fail(j, rc, what);
	sqlite3_reset(st);
	return r;
}

static int step_done(struct journal *j, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	int r = rc == SQLITE_DONE ? 0 : j_fail(j, rc, what);
	sqlite3_finalize(st);
	return r;
}

int journal_add(struct journal *j, const struct journal_action *a, int64_t *ret_id)
{
	int r = cached(j, &j->add,
		       "INSERT INTO actions(run_id, state, kind, rule, reason, root, root_path, path,"
		       " qpath, key, source, store, target, size, mtime_ns, ino, dev, quarantine,"
		       " rows) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
		       "adding an action");
	sqlite3_stmt *st = j->add;
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, a->run_id);
	sqlite3_bind_int(st, 2, a->state);
	bind_text(st, 3, a->kind);
	bind_text(st, 4, a->rule);
	bind_text(st, 5, a->reason);
	bind_text(st, 6, a->root);
	bind_text(st, 7, a->root_path);
	bind_blob(st, 8, a->path, a->path_len);
	bind_blob(st, 9, a->qpath, a->qpath_len);
	bind_text(st, 10, a->key);
	bind_text(st, 11, a->source);
	bind_text(st, 12, a->store);
	bind_text(st, 13, a->target);
	sqlite3_bind_int64(st, 14, a->size);
	sqlite3_bind_int64(st, 15, a->mtime_ns);
	sqlite3_bind_int64(st, 16, (int64_t)a->ino);
	sqlite3_bind_int64(st, 17, (int64_t)a->dev);
	sqlite3_bind_int(st, 18, a->quarantine);
	sqlite3_bind_int64(st, 19, (int64_t)a->rows);
	r = step_reset(j, st, "adding an action");
	if (r >= 0 && ret_id)
		*ret_id = sqlite3_last_insert_rowid(j->db);
	return r;
}

int journal_set_state(struct journal *j, int64_t id, enum journal_state s, const char *error,
		      uint64_t rows)
{
	int r = cached(j, &j->set_state,
		       "UPDATE actions SET state = ?, error = coalesce(?, error),"
		       " rows = max(rows, ?), ended_ns = ? WHERE id = ?",
		       "updating an action");
	sqlite3_stmt *st = j->set_state;
	if (r < 0)
		return r;
	sqlite3_bind_int(st, 1, s);
	bind_text(st, 2, error);
	sqlite3_bind_int64(st, 3, (int64_t)rows);
	sqlite3_bind_int64(st, 4, now_ns());
	sqlite3_bind_int64(st, 5, id);
	return step_reset(j, st, "updating an action");
}

static void bind_value(sqlite3_stmt *st, int i, const struct journal_value *v)
{
	switch (v->type) {
	case SQLITE_INTEGER:
		sqlite3_bind_int64(st, i, v->i);
		break;
	case SQLITE_FLOAT:
		sqlite3_bind_double(st, i, v->f);
		break;
	case SQLITE_TEXT:
		sqlite3_bind_text64(st, i, v->p, v->len, SQLITE_TRANSIENT, SQLITE_UTF8);
		break;
	case SQLITE_BLOB:
		sqlite3_bind_blob64(st, i, v->p, v->len, SQLITE_TRANSIENT);
		break;
	default:
		sqlite3_bind_null(st, i);
	}
}

int journal_save_row(struct journal *j, int64_t action_id, unsigned seq, const char *table,
		     const struct journal_value *v, size_t n)
{
	int r = cached(j, &j->save_row, "INSERT INTO saved_rows VALUES(?,?,?,?,?,?)",
		       "saving a row"), rc;
	sqlite3_stmt *st = j->save_row;

	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r >= 0; i++) {
		sqlite3_bind_int64(st, 1, action_id);
		sqlite3_bind_int(st, 2, (int)seq);
		sqlite3_bind_text(st, 3, table, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 4, (int)i);
		sqlite3_bind_text(st, 5, v[i].name, -1, SQLITE_STATIC);
		bind_value(st, 6, &v[i]);
		rc = sqlite3_step(st);
		r = rc == SQLITE_DONE ? 0 : j_fail(j, rc, "saving a row");
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	return r;
}

static void column_value(sqlite3_stmt *st, int c, struct journal_value *v)
{
	v->type = sqlite3_column_type(st, c);
	v->i = sqlite3_column_int64(st, c);
	v->f = sqlite3_column_double(st, c);
	v->p = v->type == SQLITE_BLOB ? sqlite3_column_blob(st, c)
				      : (const void *)sqlite3_column_text(st, c);
	v->len = (size_t)sqlite3_column_bytes(st, c);
}

/* Emits one saved row (all columns with one seq) per callback. */
int journal_rows_foreach(struct journal *j, int64_t action_id,
			 int (*cb)(const char *table, const struct journal_value *v, size_t n,
				   void *ud),
			 void *ud)
{
	sqlite3_stmt *st = NULL;
	struct journal_value v[256];
	char *names[256] = {0};
	_cleanup_free_ char *table = NULL;
	int cur_seq = -1, rc, r = 0;
	size_t n = 0;

	rc = sqlite3_prepare_v2(j->db,
				"SELECT seq, tbl, col, name, value FROM saved_rows WHERE action_id = ?"
				" ORDER BY seq DESC, col",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return j_fail(j, rc, "reading saved rows");
	sqlite3_bind_int64(st, 1, action_id);
	/* Values must outlive the step that brings the next row: copy them. */
	for (;;) {
		rc = sqlite3_step(st);
		int seq = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -2;
		if (n > 0 && seq != cur_seq) {
			r = cb(table, v, n, ud);
			for (size_t i = 0; i < n; i++) {
				free(names[i]);
				free((void *)v[i].p);
			}
			n = 0;
			if (r < 0)
				break;
		}
		if (rc != SQLITE_ROW)
			break;
		if (n == ELEMENTSOF(v)) {
			r = -E2BIG;
			break;
		}
		cur_seq = seq;
		free(table);
		table = strdup((const char *)sqlite3_column_text(st, 1));
		names[n] = strdup((const char *)sqlite3_column_text(st, 3));
		column_value(st, 4, &v[n]);
		void *copy = malloc(v[n].len + 1);
		if (copy && v[n].p)
			memcpy(copy, v[n].p, v[n].len);
		if (copy)
			((char *)copy)[v[n].len] = 0;
		v[n].p = v[n].type == SQLITE_TEXT || v[n].type == SQLITE_BLOB ? copy : (free(copy), NULL);
		v[n].name = names[n];
		n++;
		if (!table || !names[n - 1]) {
			r = -ENOMEM;
			break;
		}
	}
	for (size_t i = 0; i < n; i++) {
		free(names[i]);
		free((void *)v[i].p);
	}
	if (r >= 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = j_fail(j, rc, "reading saved rows");
	sqlite3_finalize(st);
	return r;
}

static void row_to_action(sqlite3_stmt *st, struct journal_action *a)
{
	*a = (struct journal_action){
		.id = sqlite3_column_int64(st, 0),
		.run_id = sqlite3_column_int64(st, 1),
		.state = (enum journal_state)sqlite3_column_int(st, 2),
		.kind = (const char *)sqlite3_column_text(st, 3),
		.rule = (const char *)sqlite3_column_text(st, 4),
		.reason = (const char *)sqlite3_column_text(st, 5),
		.root = (const char *)sqlite3_column_text(st, 6),
		.root_path = (const char *)sqlite3_column_text(st, 7),
		.path = sqlite3_column_blob(st, 8),
		.path_len = (size_t)sqlite3_column_bytes(st, 8),
		.qpath = sqlite3_column_blob(st, 9),
		.qpath_len = (size_t)sqlite3_column_bytes(st, 9),
		.key = (const char *)sqlite3_column_text(st, 10),
		.source = (const char *)sqlite3_column_text(st, 11),
		.store = (const char *)sqlite3_column_text(st, 12),
		.target = (const char *)sqlite3_column_text(st, 13),
		.size = sqlite3_column_int64(st, 14),
		.mtime_ns = sqlite3_column_int64(st, 15),
		.ino = (uint64_t)sqlite3_column_int64(st, 16),
		.dev = (uint64_t)sqlite3_column_int64(st, 17),
		.quarantine = sqlite3_column_int(st, 18),
		.rows = (uint64_t)sqlite3_column_int64(st, 19),
		.error = (const char *)sqlite3_column_text(st, 20),
		.ended_ns = sqlite3_column_int64(st, 21),
	};
}

int journal_foreach(struct journal *j, const struct journal_filter *f,
		    int (*cb)(const struct journal_action *a, void *ud), void *ud)
{
	sqlite3_stmt *st = NULL;
	int rc, r = 0;

	rc = sqlite3_prepare_v2(
		j->db,
		"SELECT id, run_id, state, kind, rule, reason, root, root_path, path, qpath, key,"
		" source, store, target, size, mtime_ns, ino, dev, quarantine, rows, error, ended_ns"
		" FROM actions WHERE (?1 = 0 OR run_id = ?1) AND (?2 = 0 OR id = ?2)"
		" AND (?3 = 0 OR ((1 << state) & ?3) != 0)"
		" AND (?4 = 0 OR (quarantine = 1 AND qpath IS NOT NULL AND state = ?5))"
		" AND (?6 = 0 OR coalesce(ended_ns, 0) < ?6)"
		" AND (?7 = 0 OR (state = ?5 AND ((quarantine = 1 AND qpath IS NOT NULL)"
		"                 OR kind = 'remove-rows'))) ORDER BY id",
		-1, &st, NULL);
	if (rc != SQLITE_OK)
		return j_fail(j, rc, "listing actions");
	sqlite3_bind_int64(st, 1, f ? f->run_id : 0);
	sqlite3_bind_int64(st, 2, f ? f->id : 0);
	sqlite3_bind_int64(st, 3, f ? f->states : 0);
	sqlite3_bind_int(st, 4, f && f->quarantined);
	sqlite3_bind_int(st, 5, JOURNAL_DONE);
	sqlite3_bind_int64(st, 6, f ? f->ended_before : 0);
	sqlite3_bind_int(st, 7, f && f->restorable);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct journal_action a;
		row_to_action(st, &a);
		r = cb(&a, ud);
		if (r < 0)
			break;
	}
	if (r >= 0 && rc != SQLITE_DONE)
		r = j_fail(j, rc, "listing actions");
	sqlite3_finalize(st);
	return r;
}

int journal_unref_load(struct journal *j, const char *root, bool *ret_seen,
		       int (*cb)(const char *path, size_t len, int64_t since_ns, void *ud),
		       void *ud)
{
	sqlite3_stmt *st = NULL;
	int rc, r = 0;

	rc = sqlite3_prepare_v2(j->db, "SELECT 1 FROM unref_roots WHERE root = ?", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return j_fail(j, rc, "reading unreferenced files");
	sqlite3_bind_text(st, 1, root, -1, SQLITE_STATIC);
	*ret_seen = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	rc = sqlite3_prepare_v2(j->db, "SELECT path, since_ns FROM unref WHERE root = ?", -1, &st,
				NULL);
	if (rc != SQLITE_OK)
		return j_fail(j, rc, "reading unreferenced files");
	sqlite3_bind_text(st, 1, root, -1, SQLITE_STATIC);
	while (r >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
		r = cb(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0),
		       sqlite3_column_int64(st, 1), ud);
	if (r >= 0 && rc != SQLITE_DONE)
		r = j_fail(j, rc, "reading unreferenced files");
	sqlite3_finalize(st);
	return r;
}

static int unref_forget(struct journal *j, char *const *roots)
{
	static const char *const sql[] = {"DELETE FROM unref WHERE root = ?",
					   "INSERT OR IGNORE INTO unref_roots VALUES(?)"};
	int r = 0;
	for (char *const *p = roots; r >= 0 && p && *p; p++)
		for (size_t i = 0; r >= 0 && i < ELEMENTSOF(sql); i++) {
			sqlite3_stmt *st = NULL;
			int rc = sqlite3_prepare_v2(j->db, sql[i], -1, &st, NULL);
			if (rc != SQLITE_OK)
				return j_fail(j, rc, sql[i]);
			sqlite3_bind_text(st, 1, *p, -1, SQLITE_STATIC);
			r = step_done(j, st, sql[i]);
		}
	return r;
}

int journal_unref_store(struct journal *j, char *const *roots, const struct journal_unref *v,
			size_t n)
{
	sqlite3_stmt *st = NULL;
	int r = journal_begin(j), rc;

	if (r >= 0)
		r = unref_forget(j, roots);
	if (r >= 0) {
		rc = sqlite3_prepare_v2(j->db, "INSERT OR REPLACE INTO unref VALUES(?, ?, ?)", -1,
					&st, NULL);
		r = rc == SQLITE_OK ? 0 : j_fail(j, rc, "recording unreferenced files");
	}
	for (size_t i = 0; r >= 0 && i < n; i++) {
		sqlite3_bind_text(st, 1, v[i].root, -1, SQLITE_STATIC);
		sqlite3_bind_blob64(st, 2, v[i].path, v[i].path_len, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, v[i].since_ns);
		rc = sqlite3_step(st);
		r = rc == SQLITE_DONE ? 0 : j_fail(j, rc, "recording unreferenced files");
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	if (r < 0) {
		journal_rollback(j);
		return r;
	}
	return journal_commit(j);
}
