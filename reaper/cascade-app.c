/* The application database, written (see cascade.h). The remove
 * statements are the operator's SQL, run unchanged with :key bound; the
 * rows they would delete are first read with the same WHERE clause
 * (`DELETE FROM t WHERE c` read as `SELECT * FROM t WHERE c`), inside the
 * same transaction, so what the journal keeps is exactly what went. */
#include "reaper/cascade.h"

#include <ctype.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "reaper/refs.h"

struct rmstmt {
	char *table;  /* as written (may be quoted) */
	sqlite3_stmt *del, *sel, *exists;
};

struct appdb {
	const struct config_source *src;
	sqlite3 *db;
	struct rmstmt *rm;
	size_t n_rm;
	char *err;
	bool borrowed; /* the connection is a reference source's */
};

static int a_fail(struct appdb *a, int r, const char *what)
{
	free(a->err);
	if (asprintf(&a->err, "source '%s': %s: %s", a->src->name, what,
		     a->db ? sqlite3_errmsg(a->db) : "no database") < 0)
		a->err = NULL;
	return r;
}

static int a_fail_db(struct appdb *a, int rc, const char *what)
{
	int r = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED ? -EBUSY
		: (rc & 0xff) == SQLITE_CONSTRAINT				 ? -EEXIST
		: (rc & 0xff) == SQLITE_CANTOPEN				 ? -ENOENT
										 : -EIO;
	return a_fail(a, r, what);
}

const char *appdb_errmsg(const struct appdb *a)
{
	return a && a->err ? a->err : "no error";
}

const struct config_source *appdb_source(const struct appdb *a)
{
	return a->src;
}

/* "DELETE FROM <table> WHERE <cond>" -> table and cond (pointers into s). */
static int split_delete(const char *s, char **ret_table, const char **ret_cond)
{
	const char *p = s, *t, *w;
	while (isspace((unsigned char)*p))
		p++;
	if (strncasecmp(p, "DELETE", 6) != 0)
		return -EINVAL;
	p += 6;
	while (isspace((unsigned char)*p))
		p++;
	if (strncasecmp(p, "FROM", 4) != 0 || !isspace((unsigned char)p[4]))
		return -EINVAL;
	p += 4;
	while (isspace((unsigned char)*p))
		p++;
	t = p;
	if (*p == '"' || *p == '`' || *p == '[') {
		char close = *p == '[' ? ']' : *p;
		p = strchr(p + 1, close);
		if (!p)
			return -EINVAL;
		p++;
	} else {
		while (*p && (isalnum((unsigned char)*p) || *p == '_' || *p == '.'))
			p++;
	}
	if (p == t)
		return -EINVAL;
	w = p;
	while (isspace((unsigned char)*w))
		w++;
	if (strncasecmp(w, "WHERE", 5) != 0 || !isspace((unsigned char)w[5]))
		return -EINVAL;
	*ret_table = strndup(t, (size_t)(p - t));
	*ret_cond = w + 5;
	return *ret_table ? 0 : -ENOMEM;
}

static int prepare_rm(struct appdb *a, const char *sql, struct rmstmt *m)
{
	const char *cond;
	_cleanup_free_ char *sel = NULL, *ex = NULL;
	int r = split_delete(sql, &m->table, &cond);

	if (r < 0) {
		free(a->err);
		if (asprintf(&a->err,
			     "source '%s': remove statement '%s': expected DELETE FROM table "
			     "WHERE ... (so that its rows can be saved first)",
			     a->src->name, sql) < 0)
			a->err = NULL;
		return r;
	}
	if (asprintf(&sel, "SELECT * FROM %s WHERE %s", m->table, cond) < 0 ||
	    asprintf(&ex, "SELECT 1 FROM %s WHERE %s LIMIT 1", m->table, cond) < 0)
		return -ENOMEM;
	if (sqlite3_prepare_v2(a->db, sql, -1, &m->del, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(a->db, sel, -1, &m->sel, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(a->db, ex, -1, &m->exists, NULL) != SQLITE_OK)
		return a_fail(a, -EINVAL, sql);
	return 0;
}

static int open_db(struct appdb *a)
{
	const char *path = startswith(a->src->url, "sqlite://");
	int rc;

	if (!path)
		return a_fail(a, -EPROTONOSUPPORT, "only sqlite:// sources can be written yet");
	if (access(path, F_OK) < 0)
		return a_fail(a, -ENOENT, path);
	rc = sqlite3_open_v2(path, &a->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK)
		return a_fail_db(a, rc, path);
	sqlite3_busy_timeout(a->db, a->src->busy_timeout_ms > 0 ? a->src->busy_timeout_ms : 5000);
	return 0;
}

void appdb_close(struct appdb *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n_rm; i++) {
		sqlite3_finalize(a->rm[i].del);
		sqlite3_finalize(a->rm[i].sel);
		sqlite3_finalize(a->rm[i].exists);
		free(a->rm[i].table);
	}
	free(a->rm);
	if (!a->borrowed) {
		if (a->db && !sqlite3_get_autocommit(a->db))
			sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_close_v2(a->db);
	}
	free(a->err);
	free(a);
}

static int appdb_new(const struct config_source *src, struct refsource *rs, struct appdb **ret,
		     char **ret_error)
{
	struct appdb *a = calloc(1, sizeof *a);
	size_t n = strv_length(src->remove);
	int r;

	if (!a)
		return -ENOMEM;
	a->src = src;
	a->rm = calloc(n + 1, sizeof *a->rm);
	r = a->rm ? 0 : -ENOMEM;
	if (r >= 0 && rs) {
		a->borrowed = true;
		a->db = refsource_sqlite_db(rs);
		if (!a->db)
			r = a_fail(a, -EPROTONOSUPPORT, "only sqlite:// sources can be written yet");
	} else if (r >= 0)
		r = open_db(a);
	for (size_t i = 0; r >= 0 && i < n; i++, a->n_rm++)
		r = prepare_rm(a, src->remove[i], &a->rm[i]);
	if (r < 0) {
		if (ret_error && a->err)
			*ret_error = strdup(a->err);
		appdb_close(a);
		return r;
	}
	*ret = a;
	return 0;
}

int appdb_open(const struct config_source *src, struct appdb **ret, char **ret_error)
{
	return appdb_new(src, NULL, ret, ret_error);
}

int appdb_open_on(struct refsource *rs, struct appdb **ret, char **ret_error)
{
	return appdb_new(refsource_config(rs), rs, ret, ret_error);
}

static int exec(struct appdb *a, const char *sql)
{
	int rc = sqlite3_exec(a->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : a_fail_db(a, rc, sql);
}

int appdb_begin(struct appdb *a)
{
	return exec(a, "BEGIN IMMEDIATE");
}
int appdb_commit(struct appdb *a)
{
	return exec(a, "COMMIT");
}
int appdb_rollback(struct appdb *a)
{
	if (sqlite3_get_autocommit(a->db))
		return 0;
	return exec(a, "ROLLBACK");
}

static void bind_key(sqlite3_stmt *st, const char *key)
{
	int i = sqlite3_bind_parameter_index(st, ":key");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	sqlite3_bind_text(st, i > 0 ? i : 1, key, -1, SQLITE_TRANSIENT);
}

static void read_value(sqlite3_stmt *st, int c, struct journal_value *v)
{
	v->name = sqlite3_column_name(st, c);
	v->type = sqlite3_column_type(st, c);
	v->i = sqlite3_column_int64(st, c);
	v->f = sqlite3_column_double(st, c);
	v->p = v->type == SQLITE_BLOB ? sqlite3_column_blob(st, c)
				      : (const void *)sqlite3_column_text(st, c);
	v->len = (size_t)sqlite3_column_bytes(st, c);
}

static int save_rows(struct appdb *a, struct rmstmt *m, const char *key, unsigned *seq,
		     appdb_save_fn save, void *ud)
{
	int rc, r = 0, n = sqlite3_column_count(m->sel);
	_cleanup_free_ struct journal_value *v = calloc((size_t)n + 1, sizeof *v);

	if (!v)
		return -ENOMEM;
	bind_key(m->sel, key);
	while ((rc = sqlite3_step(m->sel)) == SQLITE_ROW) {
		for (int c = 0; c < n; c++)
			read_value(m->sel, c, &v[c]);
		r = save ? save((*seq)++, m->table, v, (size_t)n, ud) : 0;
		if (r < 0)
			break;
	}
	if (r >= 0 && rc != SQLITE_DONE)
		r = a_fail_db(a, rc, "reading rows to save");
	sqlite3_reset(m->sel);
	return r;
}

static int remove_all(struct appdb *a, const char *key, appdb_save_fn save, void *ud)
{
	unsigned seq = 0;
	int total = 0;

	for (size_t i = 0; i < a->n_rm; i++) {
		int r = save_rows(a, &a->rm[i], key, &seq, save, ud);
		if (r < 0)
			return r;
		bind_key(a->rm[i].del, key);
		int rc = sqlite3_step(a->rm[i].del);
		sqlite3_reset(a->rm[i].del);
		if (rc != SQLITE_DONE)
			return a_fail_db(a, rc, "removing rows");
		total += sqlite3_changes(a->db);
	}
	return total;
}

/* One key is all or nothing inside the batch's transaction: a savepoint
 * undoes the child rows already deleted when a later statement fails. */
int appdb_remove_key(struct appdb *a, const char *key, appdb_save_fn save, void *ud)
{
	int r;

	if (a->n_rm == 0)
		return a_fail(a, -EINVAL, "no remove statements configured");
	r = exec(a, "SAVEPOINT fsd_key");
	if (r < 0)
		return r;
	r = remove_all(a, key, save, ud);
	if (r < 0) {
		sqlite3_exec(a->db, "ROLLBACK TO fsd_key", NULL, NULL, NULL);
		sqlite3_exec(a->db, "RELEASE fsd_key", NULL, NULL, NULL);
		return r;
	}
	int k = exec(a, "RELEASE fsd_key");
	return k < 0 ? k : r;
}

int appdb_key_exists(struct appdb *a, const char *key)
{
	if (a->n_rm == 0)
		return a_fail(a, -EINVAL, "no remove statements configured");
	sqlite3_stmt *st = a->rm[a->n_rm - 1].exists;
	bind_key(st, key);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : a_fail_db(a, rc, "checking a row");
}

/* Identifiers come from the database's own column names: quoted, with
 * embedded quotes doubled. Values are always bound. */
static int quote_ident(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	return fputc('"', f) == EOF ? -EIO : 0;
}

static int insert_sql(const char *table, const struct journal_value *v, size_t n, char **ret)
{
	size_t len = 0;
	FILE *f = open_memstream(ret, &len);
	if (!f)
		return -ENOMEM;
	fprintf(f, "INSERT INTO %s (", table); /* as written in the remove statement */
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputc(',', f);
		quote_ident(f, v[i].name);
	}
	fputs(") VALUES (", f);
	for (size_t i = 0; i < n; i++)
		fputs(i ? ",?" : "?", f);
	fputc(')', f);
	return fclose(f) == 0 ? 0 : -ENOMEM;
}

int appdb_insert_row(struct appdb *a, const char *table, const struct journal_value *v,
		     size_t n)
{
	_cleanup_free_ char *sql = NULL;
	sqlite3_stmt *st = NULL;
	int r = insert_sql(table, v, n, &sql), rc;

	if (r < 0)
		return r;
	rc = sqlite3_prepare_v2(a->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return a_fail_db(a, rc, "preparing a restore");
	for (size_t i = 0; i < n; i++) {
		int k = (int)i + 1;
		if (v[i].type == SQLITE_INTEGER)
			sqlite3_bind_int64(st, k, v[i].i);
		else if (v[i].type == SQLITE_FLOAT)
			sqlite3_bind_double(st, k, v[i].f);
		else if (v[i].type == SQLITE_TEXT)
			sqlite3_bind_text64(st, k, v[i].p, v[i].len, SQLITE_TRANSIENT, SQLITE_UTF8);
		else if (v[i].type == SQLITE_BLOB)
			sqlite3_bind_blob64(st, k, v[i].p, v[i].len, SQLITE_TRANSIENT);
	}
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : a_fail_db(a, rc, "restoring a row");
}

/* Appends to a NULL-terminated list whose length the caller keeps
 * (amortised doubling: a rows query may yield a million keys). */
static int keys_add(char ***v, size_t *n, const char *s)
{
	if ((*n & (*n + 1)) == 0 || *n < 15) { /* n + 1 a power of two: grow */
		char **nv = realloc(*v, (2 * *n + 17) * sizeof *nv);
		if (!nv)
			return -ENOMEM;
		*v = nv;
	}
	(*v)[*n] = strdup(s);
	if (!(*v)[*n])
		return -ENOMEM;
	(*v)[++*n] = NULL;
	return 0;
}

int appdb_query_keys(struct appdb *a, const char *sql, int64_t cutoff_s, char ***ret)
{
	_cleanup_strv_free_ char **keys = NULL;
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(a->db, sql, -1, &st, NULL), r = 0;
	size_t n = 0;
	int ci;

	if (rc != SQLITE_OK)
		return a_fail_db(a, rc, "preparing a rows query");
	ci = sqlite3_bind_parameter_index(st, ":cutoff");
	if (ci > 0)
		sqlite3_bind_int64(st, ci, cutoff_s);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		if (k && (r = keys_add(&keys, &n, k)) < 0)
			break;
	}
	sqlite3_finalize(st);
	if (r < 0)
		return r;
	if (rc != SQLITE_DONE)
		return a_fail_db(a, rc, "running a rows query");
	if (!keys && !(keys = calloc(1, sizeof(char *))))
		return -ENOMEM;
	*ret = TAKE_PTR(keys);
	return 0;
}
