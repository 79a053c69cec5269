/* Roots, runs and key/value state in the catalog: the small tables that
 * name what is scanned, record every scan, verify, audit and reap, and
 * keep what a reaper or daemon must remember between runs. */
#include "catalog/catalog-db.h"
#include "catalog/catalog-internal.h"

/* ---- roots ---- */

int catalog_root_ensure(struct catalog *c, const char *name, const char *path, int64_t *ret_id)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	int r, rc;

	r = cdb_prepare(c, "INSERT INTO roots(name, path, created_ns) VALUES(?1, ?2, ?3)"
		       " ON CONFLICT(name) DO UPDATE SET path = excluded.path RETURNING id", &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now_ns());
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW)
		return cdb_sqlerr(c, rc);
	int64_t id = sqlite3_column_int64(s, 0);
	rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		return cdb_sqlerr(c, rc);
	if (ret_id)
		*ret_id = id;
	return 0;
}

static int select_one_int(struct catalog *c, const char *sql, const char *text, int64_t *ret)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	int r, rc;

	r = cdb_prepare(c, sql, &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, text, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return cdb_sqlerr(c, rc);
	*ret = sqlite3_column_int64(s, 0);
	return 0;
}

int catalog_root_find(struct catalog *c, const char *name, int64_t *ret_id)
{
	return select_one_int(c, "SELECT id FROM roots WHERE name = ?1", name, ret_id);
}

int catalog_root_scanned(struct catalog *c, int64_t root_id, int64_t scanned_ns,
			 const char *key_spec)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	int r;

	r = cdb_prepare(c, "UPDATE roots SET scanned_ns = ?2, key_spec = ?3 WHERE id = ?1", &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, root_id);
	sqlite3_bind_int64(s, 2, scanned_ns);
	sqlite3_bind_text(s, 3, key_spec, -1, SQLITE_STATIC);
	r = cdb_step_done(c, s);
	return r < 0 ? r : (r == 0 ? -ENOENT : 0);
}

/* Steps a bound one-row query and copies its first column (NULL reads
 * as ""): -ENOENT when there is no row. */
static int step_text(struct catalog *c, sqlite3_stmt *s, char **ret)
{
	int rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return cdb_sqlerr(c, rc);
	char *v = strdup((const char *)sqlite3_column_text(s, 0) ?: "");
	if (!v)
		return -ENOMEM;
	*ret = v;
	return 0;
}

int catalog_root_key_spec(struct catalog *c, int64_t root_id, char **ret)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	int r;

	r = cdb_prepare(c, "SELECT key_spec FROM roots WHERE id = ?1", &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, root_id);
	return step_text(c, s, ret);
}

int catalog_root_has_rows(struct catalog *c, int64_t root_id)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	int r, rc;

	r = cdb_prepare(c, "SELECT 1 FROM files WHERE root_id = ?1 LIMIT 1", &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, root_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc == SQLITE_ROW;
	return cdb_sqlerr(c, rc);
}

/* ---- runs ---- */

int catalog_run_begin(struct catalog *c, const char *kind, int64_t *ret_id)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	int r;

	r = cdb_prepare(c, "INSERT INTO runs(kind, started_ns) VALUES(?1, ?2)", &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now_ns());
	r = cdb_step_done(c, s);
	if (r < 0)
		return r;
	if (ret_id)
		*ret_id = sqlite3_last_insert_rowid(c->db);
	return 0;
}

int catalog_run_end(struct catalog *c, const struct catalog_run *r)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	int k;

	k = cdb_prepare(c, "UPDATE runs SET ended_ns = ?2, files = ?3, bytes = ?4, hashed = ?5,"
		       " bytes_hashed = ?6, errors = ?7, findings = ?8, outcome = ?9, error = ?10,"
		       " detail = ?11 WHERE id = ?1", &s);
	if (k < 0)
		return k;
	sqlite3_bind_int64(s, 1, r->id);
	sqlite3_bind_int64(s, 2, r->ended_ns ?: now_ns());
	sqlite3_bind_int64(s, 3, (int64_t)r->files);
	sqlite3_bind_int64(s, 4, (int64_t)r->bytes);
	sqlite3_bind_int64(s, 5, (int64_t)r->hashed);
	sqlite3_bind_int64(s, 6, (int64_t)r->bytes_hashed);
	sqlite3_bind_int64(s, 7, (int64_t)r->errors);
	sqlite3_bind_int64(s, 8, (int64_t)r->findings);
	sqlite3_bind_text(s, 9, r->outcome ?: "ok", -1, SQLITE_STATIC);
	if (r->error)
		sqlite3_bind_text(s, 10, r->error, -1, SQLITE_STATIC);
	if (r->detail)
		sqlite3_bind_text(s, 11, r->detail, -1, SQLITE_STATIC);
	k = cdb_step_done(c, s);
	return k < 0 ? k : (k == 0 ? -ENOENT : 0);
}

static void fill_run(sqlite3_stmt *s, struct catalog_run *r)
{
	*r = (struct catalog_run){
		.id = sqlite3_column_int64(s, 0),
		.kind = (const char *)sqlite3_column_text(s, 1),
		.started_ns = sqlite3_column_int64(s, 2),
		.ended_ns = sqlite3_column_int64(s, 3),
		.files = (uint64_t)sqlite3_column_int64(s, 4),
		.bytes = (uint64_t)sqlite3_column_int64(s, 5),
		.hashed = (uint64_t)sqlite3_column_int64(s, 6),
		.bytes_hashed = (uint64_t)sqlite3_column_int64(s, 7),
		.errors = (uint64_t)sqlite3_column_int64(s, 8),
		.findings = (uint64_t)sqlite3_column_int64(s, 9),
		.outcome = (const char *)sqlite3_column_text(s, 10),
		.error = (const char *)sqlite3_column_text(s, 11),
		.detail = (const char *)sqlite3_column_text(s, 12),
	};
}

int catalog_runs_foreach(struct catalog *c, const char *kind, unsigned limit,
			 int (*cb)(const struct catalog_run *r, void *ud), void *ud)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	struct catalog_run run;
	int r, rc;

	r = cdb_prepare(c, "SELECT id, kind, started_ns, ended_ns, files, bytes, hashed, bytes_hashed,"
		       " errors, findings, outcome, error, detail FROM runs"
		       " WHERE ?1 IS NULL OR kind = ?1 ORDER BY started_ns DESC, id DESC LIMIT ?2", &s);
	if (r < 0)
		return r;
	if (kind)
		sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, limit ? (int64_t)limit : -1);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		fill_run(s, &run);
		r = cb(&run, ud);
		if (r < 0)
			return r;
	}
	return rc == SQLITE_DONE ? 0 : cdb_sqlerr(c, rc);
}

/* ---- key/value state ---- */

int catalog_state_set(struct catalog *c, const char *name, const char *value)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	int r;

	r = cdb_prepare(c, "INSERT INTO state(name, value) VALUES(?1, ?2)"
		       " ON CONFLICT(name) DO UPDATE SET value = excluded.value", &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
	r = cdb_step_done(c, s);
	return r < 0 ? r : 0;
}

int catalog_state_get(struct catalog *c, const char *name, char **ret)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	int r;

	r = cdb_prepare(c, "SELECT value FROM state WHERE name = ?1", &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	return step_text(c, s, ret);
}
