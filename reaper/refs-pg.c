/* The PostgreSQL backend of reference sources (libpq): one connection per
 * run, read-only unless the reaper asks to write (default_transaction_
 * read_only), with the source's busy timeout as lock_timeout so that a
 * table locked by another session fails with -EBUSY instead of waiting.
 * Streams (owners, live, live-text) are server-side cursors fetched in
 * batches, so several can be open at once on the one connection and a
 * million rows never sit in memory; they need a transaction, which a
 * snapshot provides or, outside one, the first cursor opens and the last
 * one to close commits. Statements take their one parameter as $1 (a
 * configured `:key` is rewritten to $1, outside quotes). */
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reaper/refs-internal.h"

#define FETCH_ROWS 2000
/* pg_type OIDs of the text-like types: text, varchar, bpchar, name */
#define OID_TEXT 25
#define OID_VARCHAR 1043
#define OID_BPCHAR 1042
#define OID_NAME 19

struct pg {
	PGconn *conn;
	unsigned cursor_seq;
	unsigned open_cursors;
	bool implicit_txn; /* opened for cursors outside a snapshot */
};

struct refs_stmt {
	struct refsource *rs;
	char *sql;
	char *what;
	int ncols, nparams;
	bool key_text;
	PGresult *res; /* the current batch */
	int row, nrows;
	bool cursor, done;
	char cursor_name[32];
	int64_t changes;
};

static struct pg *pg_of(const struct refsource *rs)
{
	return rs->db;
}

static int sqlstate_to_errno(const char *state)
{
	if (!state)
		return -EIO;
	if (streq(state, "55P03") || streq(state, "57014") || streq(state, "40001") ||
	    streq(state, "40P01"))
		return -EBUSY;
	if (streq(state, "25006"))
		return -EROFS;
	if (streq(state, "3D000"))
		return -ENOENT;
	if (startswith(state, "28") || startswith(state, "42501"))
		return -EACCES;
	if (startswith(state, "08"))
		return -ECONNRESET;
	if (startswith(state, "42") || startswith(state, "22") || startswith(state, "0A"))
		return -EINVAL;
	return -EIO;
}

/* The server's first line, without its trailing newline. */
static const char *first_line(const char *msg, char *buf, size_t n)
{
	snprintf(buf, n, "%s", msg ? msg : "unknown error");
	buf[strcspn(buf, "\n")] = 0;
	return buf;
}

static int fail_res(struct refsource *rs, PGresult *res, const char *what)
{
	char buf[512];
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (!msg)
		msg = res ? PQresultErrorMessage(res) : PQerrorMessage(pg_of(rs)->conn);
	int r = res ? sqlstate_to_errno(PQresultErrorField(res, PG_DIAG_SQLSTATE)) : -ECONNRESET;
	first_line(msg, buf, sizeof(buf));
	if (res)
		PQclear(res);
	if (r == -EBUSY)
		return refs_fail(rs, r, "%s: database '%s' is locked (still busy after %d ms): %s",
				 what, rs->path, refs_busy_ms(rs), buf);
	return refs_fail(rs, r, "%s: %s", what, buf);
}

/* Runs `sql` expecting `ok`; on success returns the result (or clears it
 * when ret is NULL). */
static int pg_call(struct refsource *rs, const char *sql, const char *what, ExecStatusType ok,
		   PGresult **ret)
{
	PGresult *res = PQexec(pg_of(rs)->conn, sql);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	/* a command list ending in a query ("BEGIN; SELECT 1") is a command too */
	if (st != ok && !(ok == PGRES_COMMAND_OK && st == PGRES_TUPLES_OK))
		return fail_res(rs, res, what);
	if (ret)
		*ret = res;
	else
		PQclear(res);
	return 0;
}

static int pg_exec(struct refsource *rs, const char *sql, const char *what)
{
	return pg_call(rs, sql, what, PGRES_COMMAND_OK, NULL);
}

/* Clean-up (CLOSE, COMMIT of an implicit transaction) must not replace
 * the message of the error that led to it. */
static void pg_exec_quiet(struct refsource *rs, const char *sql)
{
	PQclear(PQexec(pg_of(rs)->conn, sql));
}

/* The URL with its password left out, for messages. */
static char *url_for_messages(const char *url)
{
	const char *start = strstr(url, "://"), *at, *colon;
	if (!start)
		return strdup(url);
	start += 3;
	at = strchr(start, '@');
	colon = at ? memchr(start, ':', (size_t)(at - start)) : NULL;
	char *out = NULL;
	if (!colon)
		return strdup(url);
	if (asprintf(&out, "%.*s%s", (int)(colon - url), url, at) < 0)
		return NULL;
	return out;
}

static int pg_settings(struct refsource *rs)
{
	char sql[160];
	snprintf(sql, sizeof(sql), "SET lock_timeout = %d; SET application_name = 'fsd'%s",
		 refs_busy_ms(rs),
		 rs->flags & REFSOURCE_READWRITE ? "" : "; SET default_transaction_read_only = on");
	return pg_call(rs, sql, "opening", PGRES_COMMAND_OK, NULL);
}

static int pg_connect(struct refsource *rs)
{
	struct pg *pg = calloc(1, sizeof(*pg));
	char buf[512];

	if (!pg)
		return -ENOMEM;
	rs->db = pg;
	rs->path = url_for_messages(rs->src->url);
	if (!rs->path)
		return -ENOMEM;
	pg->conn = PQconnectdb(rs->src->url);
	if (!pg->conn)
		return -ENOMEM;
	if (PQstatus(pg->conn) != CONNECTION_OK) {
		const char *msg = first_line(PQerrorMessage(pg->conn), buf, sizeof(buf));
		int r = strstr(msg, "does not exist") ? -ENOENT
			: strstr(msg, "authentication") ? -EACCES : -ECONNREFUSED;
		return refs_fail(rs, r, "cannot connect to database '%s': %s", rs->path, msg);
	}
	return pg_settings(rs);
}

static void pg_disconnect(struct refsource *rs)
{
	struct pg *pg = pg_of(rs);
	if (pg)
		PQfinish(pg->conn);
	free(pg);
	rs->db = NULL;
}

/* `:key` becomes $1, outside quoted strings and identifiers. */
static char *rewrite_params(const char *sql)
{
	char *out = NULL;
	size_t len = 0;
	char quote = 0;
	FILE *f = open_memstream(&out, &len);
	if (!f)
		return NULL;
	for (const char *p = sql; *p; p++) {
		if (quote) {
			if (*p == quote)
				quote = 0;
		} else if (*p == '\'' || *p == '"')
			quote = *p;
		else if (startswith(p, ":key") && !(p[4] == '_' || (p[4] >= '0' && p[4] <= '9') ||
						      ((p[4] | 0x20) >= 'a' && (p[4] | 0x20) <= 'z'))) {
			fputs("$1", f);
			p += 3;
			continue;
		}
		fputc(*p, f);
	}
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

static bool oid_is_text(Oid t)
{
	return t == OID_TEXT || t == OID_VARCHAR || t == OID_BPCHAR || t == OID_NAME;
}

/* Describes the statement through an unnamed server-side prepare: this
 * checks the SQL and tells columns, parameters and the key's type. */
static int pg_describe(struct refs_stmt *s)
{
	PGconn *conn = pg_of(s->rs)->conn;
	PGresult *res = PQprepare(conn, "", s->sql, 0, NULL);
	if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
		return fail_res(s->rs, res, s->what);
	PQclear(res);
	res = PQdescribePrepared(conn, "");
	if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
		return fail_res(s->rs, res, s->what);
	s->ncols = PQnfields(res);
	s->nparams = PQnparams(res);
	s->key_text = s->ncols > 0 && oid_is_text(PQftype(res, 0));
	PQclear(res);
	return 0;
}

static void pg_finalize(struct refs_stmt *s);

static int pg_prepare(struct refsource *rs, const char *sql, const char *what,
		      struct refs_stmt **ret)
{
	struct refs_stmt *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	s->rs = rs;
	s->sql = rewrite_params(sql);
	s->what = strdup(what);
	if (!s->sql || !s->what) {
		pg_finalize(s);
		return -ENOMEM;
	}
	r = pg_describe(s);
	if (r < 0) {
		pg_finalize(s);
		return r;
	}
	*ret = s;
	return 0;
}

static int pg_ncols(struct refs_stmt *s)
{
	return s->ncols;
}

static int pg_nparams(struct refs_stmt *s)
{
	return s->nparams;
}

static bool pg_key_is_text(struct refs_stmt *s)
{
	return s->key_text;
}

static void pg_reset(struct refs_stmt *s)
{
	struct pg *pg = pg_of(s->rs);
	char sql[64];

	PQclear(s->res);
	s->res = NULL;
	s->row = s->nrows = 0;
	if (!s->cursor)
		return;
	s->cursor = false;
	snprintf(sql, sizeof(sql), "CLOSE %s", s->cursor_name);
	pg_exec_quiet(s->rs, sql);
	if (--pg->open_cursors == 0 && pg->implicit_txn) {
		pg->implicit_txn = false;
		pg_exec_quiet(s->rs, "COMMIT");
	}
}

/* A query without parameters that yields rows streams through a cursor. */
static int pg_open_cursor(struct refs_stmt *s)
{
	struct pg *pg = pg_of(s->rs);
	_cleanup_free_ char *sql = NULL;
	int r;

	if (PQtransactionStatus(pg->conn) == PQTRANS_IDLE) {
		r = pg_exec(s->rs, "BEGIN", s->what);
		if (r < 0)
			return r;
		pg->implicit_txn = true;
	}
	snprintf(s->cursor_name, sizeof(s->cursor_name), "fsd_c%u", ++pg->cursor_seq);
	if (asprintf(&sql, "DECLARE %s NO SCROLL CURSOR FOR %s", s->cursor_name, s->sql) < 0)
		return -ENOMEM;
	r = pg_exec(s->rs, sql, s->what);
	if (r < 0)
		return r;
	s->cursor = true;
	pg->open_cursors++;
	return 0;
}

static int pg_run(struct refs_stmt *s, const char *param, size_t len)
{
	pg_reset(s);
	s->done = false;
	s->changes = 0;
	if (!param && s->nparams == 0 && s->ncols > 0)
		return pg_open_cursor(s);
	_cleanup_free_ char *value = param ? strndup(param, len) : NULL;
	const char *values[1] = {value};
	if (param && !value)
		return -ENOMEM;
	PGresult *res = PQexecParams(pg_of(s->rs)->conn, s->sql, param ? 1 : 0, NULL, values,
				     NULL, NULL, 0);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
		return fail_res(s->rs, res, s->what);
	s->res = res;
	s->nrows = PQntuples(res);
	s->row = -1;
	s->changes = strtoll(PQcmdTuples(res), NULL, 10);
	s->done = true; /* no more batches */
	return 0;
}

static int pg_fetch(struct refs_stmt *s)
{
	char sql[64];
	PQclear(s->res);
	s->res = NULL;
	snprintf(sql, sizeof(sql), "FETCH %d FROM %s", FETCH_ROWS, s->cursor_name);
	int r = pg_call(s->rs, sql, s->what, PGRES_TUPLES_OK, &s->res);
	if (r < 0)
		return r;
	s->nrows = PQntuples(s->res);
	s->row = -1;
	if (s->nrows < FETCH_ROWS)
		s->done = true;
	return 0;
}

static int pg_step(struct refs_stmt *s)
{
	if (s->res && s->row + 1 < s->nrows) {
		s->row++;
		return 1;
	}
	if (!s->cursor || s->done)
		return 0;
	int r = pg_fetch(s);
	if (r < 0)
		return r;
	if (s->nrows == 0)
		return 0;
	s->row = 0;
	return 1;
}

static const char *pg_column(struct refs_stmt *s, int col, size_t *ret_len)
{
	if (!s->res || s->row < 0 || PQgetisnull(s->res, s->row, col)) {
		*ret_len = 0;
		return NULL;
	}
	*ret_len = (size_t)PQgetlength(s->res, s->row, col);
	return PQgetvalue(s->res, s->row, col);
}

static bool pg_column_int(struct refs_stmt *s, int col, int64_t *ret)
{
	size_t len;
	const char *v = pg_column(s, col, &len);
	if (!v)
		return false;
	*ret = strtoll(v, NULL, 10);
	return true;
}

static int64_t pg_changes(struct refs_stmt *s)
{
	return s->changes;
}

static void pg_finalize(struct refs_stmt *s)
{
	if (!s)
		return;
	pg_reset(s);
	free(s->sql);
	free(s->what);
	free(s);
}

const struct refs_backend refs_pg_backend = {
	.connect = pg_connect,
	.disconnect = pg_disconnect,
	.exec = pg_exec,
	.prepare = pg_prepare,
	.ncols = pg_ncols,
	.nparams = pg_nparams,
	.key_is_text = pg_key_is_text,
	.run = pg_run,
	.step = pg_step,
	.column = pg_column,
	.column_int = pg_column_int,
	.changes = pg_changes,
	.reset = pg_reset,
	.finalize = pg_finalize,
	.order_bytewise = " COLLATE \"C\"",
	.param = "$1",
	/* the snapshot is taken by the first query, so make one */
	.begin_read = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT 1",
	.begin_write = "BEGIN ISOLATION LEVEL REPEATABLE READ",
};
