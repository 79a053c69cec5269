/* Reference sources on SQLite: one connection per run, opened read-only
 * (a mode=ro URI plus PRAGMA query_only) unless the reaper asks to write.
 * Every configured query is wrapped, not rewritten: the owners and live
 * queries become `WITH q(c1, ...) AS (<query>) SELECT ... ORDER BY 1
 * COLLATE BINARY`, so the database sorts them in memcmp order and fsd
 * merges them as streams. The order is checked row by row anyway: a
 * merge over a stream that is not really sorted would call referenced
 * keys dead, so any disorder is an error, never a silent mismatch. */
#include <errno.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "reaper/refs.h"

#define DEFAULT_BUSY_MS 5000

struct refsource {
	const struct config_source *src;
	unsigned flags;
	sqlite3 *db;
	char *path;
	char *err;
	bool in_snapshot;
	struct refscan *scan;
	struct refkeys *tokens;     /* live-text tokens for is_live(); per snapshot */
	sqlite3_stmt **live_stmts;  /* is_live(): one per live query */
	sqlite3_stmt *owner_stmt;   /* is_owner() */
	struct refsource_stats stats;
};

/* The last key seen on a stream, to prove the stream is sorted. */
struct keybuf {
	char *p;
	size_t len, cap;
	bool set;
};

struct refsource_owners {
	struct refsource *rs;
	sqlite3_stmt *st;
	int ncols;
	struct keybuf prev;
	struct refsource_owner row;
};

struct live_cursor {
	sqlite3_stmt *st;
	unsigned index;
	bool done;
	struct keybuf cur; /* the cursor's current key */
};

struct refsource_live {
	struct refsource *rs;
	struct live_cursor *cur;
	size_t n;
	struct refkeys *tokens;
	struct keybuf last;
};

static int rs_fail(struct refsource *rs, int r, const char *fmt, ...) _printf_(3, 4);
static int rs_fail(struct refsource *rs, int r, const char *fmt, ...)
{
	char *msg = NULL, *full = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (asprintf(&full, "source '%s': %s", rs->src->name, msg ? msg : "out of memory") < 0)
		full = NULL;
	free(msg);
	free(rs->err);
	rs->err = full;
	return r;
}

static int sqlite_to_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
		return -EBADMSG;
	case SQLITE_IOERR:
	case SQLITE_FULL:
		return -EIO;
	default:
		return -EINVAL;
	}
}

/* Fails with the database's own message, naming what was being run. */
static int rs_fail_db(struct refsource *rs, int rc, const char *what)
{
	int r = sqlite_to_errno(rc);
	if (r == -EBUSY)
		return rs_fail(rs, r, "%s: database '%s' is locked (still busy after %d ms): %s",
			       what, rs->path, rs->src->busy_timeout_ms > 0 ?
			       rs->src->busy_timeout_ms : DEFAULT_BUSY_MS,
			       sqlite3_errmsg(rs->db));
	return rs_fail(rs, r, "%s: %s", what, sqlite3_errmsg(rs->db));
}

const char *refsource_errmsg(const struct refsource *rs)
{
	return rs->err ? rs->err : "no error";
}

const struct config_source *refsource_config(const struct refsource *rs)
{
	return rs->src;
}

void refsource_get_stats(const struct refsource *rs, struct refsource_stats *ret)
{
	*ret = rs->stats;
}

/* ---- keys in order ---- */

static int key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, MIN(alen, blen));
	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int keybuf_set(struct keybuf *kb, const char *key, size_t len)
{
	if (len + 1 > kb->cap) {
		size_t cap = MAX(len + 1, 2 * kb->cap);
		char *p = realloc(kb->p, cap);
		if (!p)
			return -ENOMEM;
		kb->p = p;
		kb->cap = cap;
	}
	memcpy(kb->p, key, len);
	kb->p[len] = 0;
	kb->len = len;
	kb->set = true;
	return 0;
}

/* Records `key` as the stream's newest; -EDOM if it sorts before the last. */
static int keybuf_advance(struct keybuf *kb, const char *key, size_t len)
{
	if (kb->set && key_cmp(key, len, kb->p, kb->len) < 0)
		return -EDOM;
	return keybuf_set(kb, key, len);
}

/* ---- wrapping queries ---- */

static bool decl_is_text(const char *decl)
{
	if (!decl || strcasestr(decl, "INT"))
		return false;
	return strcasestr(decl, "CHAR") || strcasestr(decl, "CLOB") || strcasestr(decl, "TEXT");
}

/* The query as configured, without trailing blanks and semicolons. */
static char *sql_trim(const char *sql)
{
	size_t n = strlen(sql);
	while (n > 0 && (sql[n - 1] == ';' || sql[n - 1] == ' ' || sql[n - 1] == '\n' ||
			 sql[n - 1] == '\t' || sql[n - 1] == '\r'))
		n--;
	return strndup(sql, n);
}

static int prepare(struct refsource *rs, const char *sql, const char *what, sqlite3_stmt **ret)
{
	const char *tail = NULL;
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(rs->db, sql, -1, &st, &tail);
	if (rc != SQLITE_OK)
		return rs_fail_db(rs, rc, what);
	if (!st)
		return rs_fail(rs, -EINVAL, "%s: the query is empty", what);
	while (tail && (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == ';'))
		tail++;
	if (tail && *tail) {
		sqlite3_finalize(st);
		return rs_fail(rs, -EINVAL, "%s: more than one statement", what);
	}
	*ret = st;
	return 0;
}

static char *subst_key(const char *tmpl, const char *key)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (!f)
		return NULL;
	for (const char *p = tmpl; *p; p++) {
		if (p[0] == '%' && p[1] == 'K') {
			fputs(key, f);
			p++;
		} else
			fputc(*p, f);
	}
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* Prepares `WITH q(c1..cn) AS (<sql>) SELECT <select> FROM q <rest>`,
 * where the key column c1 is cast to TEXT unless it already has text
 * affinity (a cast would keep SQLite from using the key's index). A "%K"
 * in select/rest stands for that key expression. */
static int prepare_wrapped(struct refsource *rs, const char *sql, const char *what,
			   int min_cols, int max_cols, const char *select, const char *rest,
			   sqlite3_stmt **ret, int *ret_ncols)
{
	_cleanup_free_ char *trimmed = sql_trim(sql), *cols = NULL, *wrapped = NULL;
	sqlite3_stmt *raw = NULL;
	int r;

	if (!trimmed)
		return -ENOMEM;
	r = prepare(rs, trimmed, what, &raw);
	if (r < 0)
		return r;
	int n = sqlite3_column_count(raw);
	bool text = decl_is_text(sqlite3_column_decltype(raw, 0));
	int nparams = sqlite3_bind_parameter_count(raw);
	sqlite3_finalize(raw);
	if (n < min_cols || n > max_cols)
		return rs_fail(rs, -EINVAL, "%s: yields %d columns, expected %d to %d", what, n,
			       min_cols, max_cols);
	if (nparams > 0)
		return rs_fail(rs, -EINVAL, "%s: must not take parameters", what);

	size_t len = 0;
	FILE *f = open_memstream(&cols, &len);
	if (!f)
		return -ENOMEM;
	for (int i = 1; i <= n; i++)
		fprintf(f, "%sc%d", i > 1 ? ", " : "", i);
	fclose(f);

	const char *key = text ? "c1" : "CAST(c1 AS TEXT)";
	_cleanup_free_ char *sel = subst_key(select, key), *tail = subst_key(rest, key);
	if (!sel || !tail)
		return -ENOMEM;
	if (asprintf(&wrapped, "WITH q(%s) AS (\n%s\n) SELECT %s FROM q %s", cols, trimmed, sel,
		     tail) < 0)
		return -ENOMEM;
	r = prepare(rs, wrapped, what, ret);
	if (r >= 0 && ret_ncols)
		*ret_ncols = n;
	return r;
}

/* ---- open and close ---- */

static char *uri_for(const char *path, bool rw)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (!f)
		return NULL;
	fputs("file:", f);
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if (*p == '%' || *p == '?' || *p == '#' || *p <= ' ' || *p >= 0x7f)
			fprintf(f, "%%%02X", *p);
		else
			fputc(*p, f);
	}
	fputs(rw ? "?mode=rw" : "?mode=ro", f);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

static int parse_url(struct refsource *rs)
{
	const char *url = rs->src->url, *p;

	if (isempty(url))
		return rs_fail(rs, -EINVAL, "no database url");
	if (startswith(url, "postgresql://") || startswith(url, "postgres://"))
		return rs_fail(rs, -EPROTONOSUPPORT, "PostgreSQL sources are not supported yet");
	p = startswith(url, "sqlite://");
	if (!p || p[0] != '/')
		return rs_fail(rs, -EINVAL, "url '%s' is not sqlite:///ABSOLUTE/PATH", url);
	rs->path = strdup(p);
	return rs->path ? 0 : -ENOMEM;
}

static int connect_db(struct refsource *rs)
{
	bool rw = rs->flags & REFSOURCE_READWRITE;
	struct stat st;
	int rc;

	if (stat(rs->path, &st) < 0)
		return rs_fail(rs, negative_errno(), "database '%s': %s", rs->path,
			       errno == ENOENT ? "no such file" : strerror(errno));
	if (!S_ISREG(st.st_mode))
		return rs_fail(rs, -EINVAL, "database '%s' is not a regular file", rs->path);
	_cleanup_free_ char *uri = uri_for(rs->path, rw);
	if (!uri)
		return -ENOMEM;
	rc = sqlite3_open_v2(uri, &rs->db,
			     (rw ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY) | SQLITE_OPEN_URI |
				     SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK)
		return rs_fail(rs, sqlite_to_errno(rc), "cannot open database '%s': %s", rs->path,
			       rs->db ? sqlite3_errmsg(rs->db) : sqlite3_errstr(rc));
	sqlite3_extended_result_codes(rs->db, 1);
	sqlite3_busy_timeout(rs->db, rs->src->busy_timeout_ms > 0 ? rs->src->busy_timeout_ms
								  : DEFAULT_BUSY_MS);
	if (!rw) {
		rc = sqlite3_exec(rs->db, "PRAGMA query_only = 1", NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			return rs_fail_db(rs, rc, "opening");
	}
	/* SQLite opens lazily: read the schema now, so that a locked, foreign
	 * or unreadable file is reported here and not by the first query. */
	rc = sqlite3_exec(rs->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		_cleanup_free_ char *what = NULL;
		if (asprintf(&what, "database '%s'", rs->path) < 0)
			return -ENOMEM;
		return rs_fail_db(rs, rc, what);
	}
	return 0;
}

int refsource_open(const struct config_source *src, unsigned flags, struct refsource **ret,
		   char **ret_error)
{
	struct refsource *rs = calloc(1, sizeof(*rs));
	int r;

	if (!rs)
		return -ENOMEM;
	rs->src = src;
	rs->flags = flags;
	r = parse_url(rs);
	if (r >= 0)
		r = connect_db(rs);
	if (r >= 0) {
		r = refscan_new(src->key_pattern, &rs->scan);
		if (r < 0)
			r = rs_fail(rs, r, "key-pattern '%s' is not a valid regular expression",
				    src->key_pattern);
	}
	if (r < 0) {
		if (ret_error)
			*ret_error = TAKE_PTR(rs->err);
		refsource_close(rs);
		return r;
	}
	*ret = rs;
	return 0;
}

static void finalize_live_stmts(struct refsource *rs)
{
	if (!rs->live_stmts)
		return;
	for (size_t i = 0; rs->src->live && rs->src->live[i]; i++)
		sqlite3_finalize(rs->live_stmts[i]);
	free(rs->live_stmts);
	rs->live_stmts = NULL;
}

void refsource_close(struct refsource *rs)
{
	if (!rs)
		return;
	finalize_live_stmts(rs);
	sqlite3_finalize(rs->owner_stmt);
	if (rs->db && rs->in_snapshot)
		sqlite3_exec(rs->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close_v2(rs->db);
	refkeys_free(rs->tokens);
	refscan_free(rs->scan);
	free(rs->path);
	free(rs->err);
	free(rs);
}

/* ---- snapshots ---- */

int refsource_snapshot_begin(struct refsource *rs)
{
	bool rw = rs->flags & REFSOURCE_READWRITE;
	int rc;

	if (rs->in_snapshot)
		return rs_fail(rs, -EBUSY, "a snapshot is already open");
	refkeys_free(TAKE_PTR(rs->tokens));
	rc = sqlite3_exec(rs->db, rw ? "BEGIN IMMEDIATE" : "BEGIN", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return rs_fail_db(rs, rc, "beginning a snapshot");
	/* A deferred transaction takes its read snapshot at the first read. */
	rc = sqlite3_exec(rs->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_exec(rs->db, "ROLLBACK", NULL, NULL, NULL);
		return rs_fail_db(rs, rc, "beginning a snapshot");
	}
	rs->in_snapshot = true;
	return 0;
}

static int snapshot_finish(struct refsource *rs, const char *sql)
{
	if (!rs->in_snapshot)
		return rs_fail(rs, -EINVAL, "no snapshot is open");
	refkeys_free(TAKE_PTR(rs->tokens));
	int rc = sqlite3_exec(rs->db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		int r = rs_fail_db(rs, rc, "ending a snapshot");
		if (sqlite3_get_autocommit(rs->db))
			rs->in_snapshot = false;
		return r;
	}
	rs->in_snapshot = false;
	return 0;
}

int refsource_snapshot_end(struct refsource *rs)
{
	return snapshot_finish(rs, "COMMIT");
}

int refsource_snapshot_rollback(struct refsource *rs)
{
	return snapshot_finish(rs, "ROLLBACK");
}

/* ---- owners ---- */

int refsource_owners_open(struct refsource *rs, struct refsource_owners **ret)
{
	_cleanup_(refsource_owners_freep) struct refsource_owners *it = NULL;
	int r;

	if (isempty(rs->src->owners))
		return rs_fail(rs, -EINVAL, "no owners query");
	it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->rs = rs;
	r = prepare_wrapped(rs, rs->src->owners, "owners query", 1, 3, "%K, *",
			    "ORDER BY 1 COLLATE BINARY", &it->st, &it->ncols);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(it);
	return 0;
}

static const char *column_bytes(sqlite3_stmt *st, int col, size_t *ret_len)
{
	const char *s = (const char *)sqlite3_column_text(st, col);
	*ret_len = s ? (size_t)sqlite3_column_bytes(st, col) : 0;
	return s;
}

int refsource_owners_next(struct refsource_owners *it, const struct refsource_owner **ret)
{
	struct refsource *rs = it->rs;
	struct refsource_owner *o = &it->row;

	for (;;) {
		int rc = sqlite3_step(it->st);
		if (rc == SQLITE_DONE)
			return 0;
		if (rc != SQLITE_ROW)
			return rs_fail_db(rs, rc, "owners query");
		/* column 0 is the key as text, then the query's own columns */
		o->key = column_bytes(it->st, 0, &o->key_len);
		if (!o->key) {
			rs->stats.owners_null++;
			continue;
		}
		int r = keybuf_advance(&it->prev, o->key, o->key_len);
		if (r == -EDOM)
			return rs_fail(rs, -EINVAL, "owners query: keys are not in bytewise order "
						    "at '%s' (cast the key to TEXT)", o->key);
		if (r < 0)
			return r;
		o->path = it->ncols >= 2 ? column_bytes(it->st, 2, &o->path_len) : NULL;
		if (!o->path)
			o->path_len = 0;
		o->created_s = it->ncols >= 3 && sqlite3_column_type(it->st, 3) != SQLITE_NULL
				       ? sqlite3_column_int64(it->st, 3)
				       : -1;
		rs->stats.owners++;
		*ret = o;
		return 1;
	}
}

void refsource_owners_free(struct refsource_owners *it)
{
	if (!it)
		return;
	sqlite3_finalize(it->st);
	free(it->prev.p);
	free(it);
}

/* ---- live references ---- */

static int add_token(const char *tok, size_t len, void *ud)
{
	int r = refkeys_add(ud, tok, len);
	return r < 0 ? r : 0;
}

static int scan_live_text(struct refsource *rs, unsigned index, struct refkeys *into)
{
	_cleanup_free_ char *what = NULL;
	sqlite3_stmt *st = NULL;
	int r, rc;

	if (asprintf(&what, "live-text query #%u", index + 1) < 0)
		return -ENOMEM;
	r = prepare(rs, rs->src->live_text[index], what, &st);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int c = 0; c < sqlite3_column_count(st); c++) {
			size_t len;
			const char *s = column_bytes(st, c, &len);
			if (s && (r = refscan_text(rs->scan, s, len, add_token, into)) < 0)
				goto out;
		}
		rs->stats.live_text_rows++;
	}
	r = rc == SQLITE_DONE ? 0 : rs_fail_db(rs, rc, what);
out:
	sqlite3_finalize(st);
	return r;
}

static int load_tokens(struct refsource *rs, struct refkeys **ret)
{
	_cleanup_(refkeys_freep) struct refkeys *k = NULL;
	int r = refkeys_new(&k);
	if (r < 0)
		return r;
	for (unsigned i = 0; rs->src->live_text && rs->src->live_text[i]; i++) {
		r = scan_live_text(rs, i, k);
		if (r < 0)
			return r;
	}
	rs->stats.live_tokens = refkeys_size(k);
	*ret = TAKE_PTR(k);
	return 0;
}

/* Moves a live cursor to its next distinct key. */
static int live_cursor_step(struct refsource *rs, struct live_cursor *c)
{
	for (;;) {
		int rc = sqlite3_step(c->st);
		if (rc == SQLITE_DONE) {
			c->done = true;
			return 0;
		}
		if (rc != SQLITE_ROW)
			return rs_fail_db(rs, rc, "live query");
		size_t len;
		const char *key = column_bytes(c->st, 0, &len);
		if (!key || (c->cur.set && key_cmp(key, len, c->cur.p, c->cur.len) == 0))
			continue;
		int r = keybuf_advance(&c->cur, key, len);
		if (r == -EDOM)
			return rs_fail(rs, -EINVAL, "live query #%u: keys are not in bytewise order "
						    "at '%s' (cast the key to TEXT)", c->index + 1, key);
		if (r < 0)
			return r;
		rs->stats.live_rows++;
		return 1;
	}
}

static int live_cursor_open(struct refsource *rs, unsigned index, struct live_cursor *c)
{
	_cleanup_free_ char *what = NULL;
	int r;

	if (asprintf(&what, "live query #%u", index + 1) < 0)
		return -ENOMEM;
	c->index = index;
	r = prepare_wrapped(rs, rs->src->live[index], what, 1, 64, "%K",
			    "WHERE c1 IS NOT NULL ORDER BY 1 COLLATE BINARY", &c->st, NULL);
	if (r < 0)
		return r;
	return live_cursor_step(rs, c);
}

int refsource_live_open(struct refsource *rs, struct refsource_live **ret)
{
	_cleanup_(refsource_live_freep) struct refsource_live *l = calloc(1, sizeof(*l));
	size_t n = strv_length(rs->src->live);
	int r;

	if (!l)
		return -ENOMEM;
	l->rs = rs;
	l->cur = calloc(n + 1, sizeof(*l->cur));
	if (!l->cur)
		return -ENOMEM;
	r = load_tokens(rs, &l->tokens);
	if (r < 0)
		return r;
	for (; l->n < n; l->n++) {
		r = live_cursor_open(rs, (unsigned)l->n, &l->cur[l->n]);
		if (r < 0) {
			l->n++;
			return r;
		}
	}
	*ret = TAKE_PTR(l);
	return 0;
}

static int tokens_hold(const struct refsource *rs, const struct refkeys *tokens, const char *key,
		       size_t len)
{
	char buf[512];

	if (!tokens || refkeys_size(tokens) == 0)
		return 0;
	int n = refscan_normalize(rs->scan, key, len, buf, sizeof(buf));
	if (n < 0) /* longer than any token a text could hold for it */
		return 0;
	return refkeys_contains(tokens, buf, (size_t)n);
}

int refsource_live_check(struct refsource_live *l, const char *key, size_t key_len)
{
	struct refsource *rs = l->rs;
	bool live = false;
	int r;

	r = keybuf_advance(&l->last, key, key_len);
	if (r == -EDOM)
		return rs_fail(rs, -EINVAL, "live keys checked out of order at '%s'", key);
	if (r < 0)
		return r;
	for (size_t i = 0; i < l->n; i++) {
		struct live_cursor *c = &l->cur[i];
		while (!c->done && key_cmp(c->cur.p, c->cur.len, key, key_len) < 0)
			if ((r = live_cursor_step(rs, c)) < 0)
				return r;
		if (!c->done && key_cmp(c->cur.p, c->cur.len, key, key_len) == 0)
			live = true;
	}
	if (!live)
		live = tokens_hold(rs, l->tokens, key, key_len);
	if (live)
		rs->stats.owners_live++;
	return live;
}

void refsource_live_free(struct refsource_live *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		sqlite3_finalize(l->cur[i].st);
		free(l->cur[i].cur.p);
	}
	free(l->cur);
	refkeys_free(l->tokens);
	free(l->last.p);
	free(l);
}

/* ---- random-order checks ---- */

static int probe(struct refsource *rs, sqlite3_stmt *st, const char *key, size_t len,
		 const char *what)
{
	int rc = sqlite3_bind_text(st, 1, key, (int)len, SQLITE_TRANSIENT);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return rs_fail_db(rs, rc, what);
}

static int prepare_live_stmts(struct refsource *rs)
{
	size_t n = strv_length(rs->src->live);
	int r;

	if (rs->live_stmts)
		return 0;
	rs->live_stmts = calloc(n + 1, sizeof(sqlite3_stmt *));
	if (!rs->live_stmts)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *what = NULL;
		if (asprintf(&what, "live query #%zu", i + 1) < 0)
			return -ENOMEM;
		r = prepare_wrapped(rs, rs->src->live[i], what, 1, 64, "1",
				    "WHERE c1 = ?1 LIMIT 1", &rs->live_stmts[i], NULL);
		if (r < 0) {
			finalize_live_stmts(rs);
			return r;
		}
	}
	return 0;
}

int refsource_is_live(struct refsource *rs, const char *key, size_t key_len)
{
	int r = prepare_live_stmts(rs);
	if (r < 0)
		return r;
	for (size_t i = 0; rs->src->live && rs->src->live[i]; i++) {
		r = probe(rs, rs->live_stmts[i], key, key_len, "live query");
		if (r != 0)
			return r;
	}
	if (!rs->tokens) {
		r = load_tokens(rs, &rs->tokens);
		if (r < 0)
			return r;
	}
	return tokens_hold(rs, rs->tokens, key, key_len);
}

int refsource_live_batch(struct refsource *rs, const char *const *keys, size_t n, bool *ret_live)
{
	for (size_t i = 0; i < n; i++) {
		int r = refsource_is_live(rs, keys[i], strlen(keys[i]));
		if (r < 0)
			return r;
		ret_live[i] = r > 0;
	}
	return 0;
}

int refsource_is_owner(struct refsource *rs, const char *key, size_t key_len)
{
	if (!rs->owner_stmt) {
		if (isempty(rs->src->owners))
			return rs_fail(rs, -EINVAL, "no owners query");
		int r = prepare_wrapped(rs, rs->src->owners, "owners query", 1, 3, "1",
					"WHERE c1 = ?1 LIMIT 1", &rs->owner_stmt, NULL);
		if (r < 0)
			return r;
	}
	return probe(rs, rs->owner_stmt, key, key_len, "owners query");
}

int refsource_query_keys(struct refsource *rs, const char *sql, const char *what,
			 struct refkeys *into)
{
	sqlite3_stmt *st = NULL;
	int r, rc;

	r = prepare(rs, sql, what, &st);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		size_t len;
		const char *key = column_bytes(st, 0, &len);
		if (key && (r = refkeys_add(into, key, len)) < 0)
			break;
	}
	if (r >= 0)
		r = rc == SQLITE_DONE ? 0 : rs_fail_db(rs, rc, what);
	sqlite3_finalize(st);
	return r;
}

/* ---- removal (the reaper's) ---- */

static int remove_one(struct refsource *rs, sqlite3_stmt *st, const char *key, unsigned index)
{
	int idx = sqlite3_bind_parameter_index(st, ":key");
	int rc = sqlite3_bind_text(st, idx > 0 ? idx : 1, key, -1, SQLITE_TRANSIENT);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		char what[64];
		snprintf(what, sizeof(what), "remove statement #%u", index + 1);
		return rs_fail_db(rs, rc, what);
	}
	return sqlite3_changes(rs->db);
}

static int remove_all(struct refsource *rs, sqlite3_stmt **st, size_t m, const char *const *keys,
		      size_t n)
{
	int deleted = 0;
	for (size_t k = 0; k < n; k++)
		for (size_t i = 0; i < m; i++) {
			int r = remove_one(rs, st[i], keys[k], (unsigned)i);
			if (r < 0)
				return r;
			if (i == m - 1)
				deleted += r;
		}
	return deleted;
}

static int prepare_removes(struct refsource *rs, sqlite3_stmt **st, size_t m)
{
	for (size_t i = 0; i < m; i++) {
		char what[64];
		snprintf(what, sizeof(what), "remove statement #%zu", i + 1);
		int r = prepare(rs, rs->src->remove[i], what, &st[i]);
		if (r < 0)
			return r;
		if (sqlite3_bind_parameter_count(st[i]) != 1)
			return rs_fail(rs, -EINVAL, "%s: needs exactly one parameter, :key", what);
	}
	return 0;
}

int refsource_remove(struct refsource *rs, const char *const *keys, size_t n)
{
	size_t m = strv_length(rs->src->remove);
	bool own = !rs->in_snapshot;
	int r;

	if (!(rs->flags & REFSOURCE_READWRITE))
		return rs_fail(rs, -EROFS, "opened read-only, cannot remove rows");
	if (m == 0)
		return rs_fail(rs, -EINVAL, "no remove statements configured");
	_cleanup_free_ sqlite3_stmt **st = calloc(m, sizeof(*st));
	if (!st)
		return -ENOMEM;
	r = prepare_removes(rs, st, m);
	if (r >= 0 && own) {
		int rc = sqlite3_exec(rs->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		r = rc == SQLITE_OK ? 0 : rs_fail_db(rs, rc, "beginning removal");
		own = r >= 0;
	}
	if (r >= 0)
		r = remove_all(rs, st, m, keys, n);
	for (size_t i = 0; i < m; i++)
		sqlite3_finalize(st[i]);
	if (own) {
		int rc = sqlite3_exec(rs->db, r >= 0 ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
		if (rc != SQLITE_OK && r >= 0) {
			r = rs_fail_db(rs, rc, "committing removal");
			sqlite3_exec(rs->db, "ROLLBACK", NULL, NULL, NULL);
		}
	}
	return r;
}
