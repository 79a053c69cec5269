/* The SQLite backend of reference sources: one connection per run,
 * opened read-only (a mode=ro URI plus PRAGMA query_only) unless the
 * reaper asks to write, with the source's busy timeout. A WAL database
 * opens read-only too, reading alongside the application's writer. SQLite
 * result codes become -errno here, with SQLite's own words in the
 * message: busy or locked is -EBUSY, a bad query -EINVAL. */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "reaper/refs-internal.h"

struct refs_stmt {
	struct refsource *rs;
	sqlite3_stmt *st;
	char *what;
	int key_param; /* index of :key, or 1 */
};

static sqlite3 *db_of(const struct refsource *rs)
{
	return rs->db;
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
static int fail_db(struct refsource *rs, int rc, const char *what)
{
	int r = sqlite_to_errno(rc);
	if (r == -EBUSY)
		return refs_fail(rs, r, "%s: database '%s' is locked (still busy after %d ms): %s",
				 what, rs->path, refs_busy_ms(rs), sqlite3_errmsg(db_of(rs)));
	return refs_fail(rs, r, "%s: %s", what, sqlite3_errmsg(db_of(rs)));
}

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

static int sq_exec(struct refsource *rs, const char *sql, const char *what)
{
	int rc = sqlite3_exec(db_of(rs), sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : fail_db(rs, rc, what);
}

/* A WAL database can only be read with its -shm file: read-only, SQLite
 * cannot create one in a directory it may not write. Say so, rather than
 * SQLite's "unable to open database file". */
static bool wal_without_shm(const char *path)
{
	unsigned char hdr[20];
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	_cleanup_free_ char *shm = NULL;

	if (fd < 0 || loop_read(fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr))
		return false;
	if (hdr[18] != 2 || hdr[19] != 2 || asprintf(&shm, "%s-shm", path) < 0)
		return false;
	return access(shm, F_OK) < 0 && errno == ENOENT;
}

static int sq_connect(struct refsource *rs)
{
	bool rw = rs->flags & REFSOURCE_READWRITE;
	sqlite3 *db = NULL;
	struct stat st;
	int rc;

	if (stat(rs->path, &st) < 0)
		return refs_fail(rs, negative_errno(), "database '%s': %s", rs->path,
				 errno == ENOENT ? "no such file" : strerror(errno));
	if (!S_ISREG(st.st_mode))
		return refs_fail(rs, -EINVAL, "database '%s' is not a regular file", rs->path);
	_cleanup_free_ char *uri = uri_for(rs->path, rw);
	if (!uri)
		return -ENOMEM;
	rc = sqlite3_open_v2(uri, &db,
			     (rw ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY) | SQLITE_OPEN_URI |
				     SQLITE_OPEN_NOMUTEX,
			     NULL);
	rs->db = db;
	if (rc != SQLITE_OK)
		return refs_fail(rs, sqlite_to_errno(rc), "cannot open database '%s': %s", rs->path,
				 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, refs_busy_ms(rs));
	if (!rw && (rc = sq_exec(rs, "PRAGMA query_only = 1", "opening")) < 0)
		return rc;
	/* SQLite opens lazily: read the schema now, so that a locked, foreign
	 * or unreadable file is reported here and not by the first query. */
	_cleanup_free_ char *what = NULL;
	if (asprintf(&what, "database '%s'", rs->path) < 0)
		return -ENOMEM;
	rc = sq_exec(rs, "SELECT count(*) FROM sqlite_master", what);
	if (rc == -EACCES && !rw && wal_without_shm(rs->path))
		return refs_fail(rs, rc, "database '%s' is in WAL mode and has no -shm file, which "
					 "a read-only reader cannot create here: let fsd write to "
					 "its directory, or audit while the application holds it open",
				 rs->path);
	return rc;
}

static void sq_disconnect(struct refsource *rs)
{
	sqlite3_close_v2(db_of(rs));
	rs->db = NULL;
}

static int sq_prepare(struct refsource *rs, const char *sql, const char *what,
		      struct refs_stmt **ret)
{
	const char *tail = NULL;
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db_of(rs), sql, -1, &st, &tail);
	if (rc != SQLITE_OK)
		return fail_db(rs, rc, what);
	if (!st)
		return refs_fail(rs, -EINVAL, "%s: the query is empty", what);
	while (tail && (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == ';'))
		tail++;
	struct refs_stmt *s = calloc(1, sizeof(*s));
	if (tail && *tail) {
		sqlite3_finalize(st);
		free(s);
		return refs_fail(rs, -EINVAL, "%s: more than one statement", what);
	}
	if (!s || !(s->what = strdup(what))) {
		sqlite3_finalize(st);
		free(s);
		return -ENOMEM;
	}
	s->rs = rs;
	s->st = st;
	s->key_param = sqlite3_bind_parameter_index(st, ":key");
	if (s->key_param <= 0)
		s->key_param = 1;
	*ret = s;
	return 0;
}

static int sq_ncols(struct refs_stmt *s)
{
	return sqlite3_column_count(s->st);
}

static int sq_nparams(struct refs_stmt *s)
{
	return sqlite3_bind_parameter_count(s->st);
}

static bool sq_key_is_text(struct refs_stmt *s)
{
	const char *decl = sqlite3_column_decltype(s->st, 0);
	if (!decl || strcasestr(decl, "INT"))
		return false;
	return strcasestr(decl, "CHAR") || strcasestr(decl, "CLOB") || strcasestr(decl, "TEXT");
}

static int sq_run(struct refs_stmt *s, const char *param, size_t len)
{
	sqlite3_reset(s->st);
	if (!param)
		return 0;
	int rc = sqlite3_bind_text(s->st, s->key_param, param, (int)len, SQLITE_TRANSIENT);
	return rc == SQLITE_OK ? 0 : fail_db(s->rs, rc, s->what);
}

static int sq_step(struct refs_stmt *s)
{
	int rc = sqlite3_step(s->st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return fail_db(s->rs, rc, s->what);
}

static const char *sq_column(struct refs_stmt *s, int col, size_t *ret_len)
{
	const char *p = (const char *)sqlite3_column_text(s->st, col);
	*ret_len = p ? (size_t)sqlite3_column_bytes(s->st, col) : 0;
	return p;
}

static bool sq_column_int(struct refs_stmt *s, int col, int64_t *ret)
{
	if (sqlite3_column_type(s->st, col) == SQLITE_NULL)
		return false;
	*ret = sqlite3_column_int64(s->st, col);
	return true;
}

static int64_t sq_changes(struct refs_stmt *s)
{
	return sqlite3_changes(db_of(s->rs));
}

static void sq_reset(struct refs_stmt *s)
{
	sqlite3_reset(s->st);
	sqlite3_clear_bindings(s->st);
}

static void sq_finalize(struct refs_stmt *s)
{
	if (!s)
		return;
	sqlite3_finalize(s->st);
	free(s->what);
	free(s);
}

const struct refs_backend refs_sqlite_backend = {
	.connect = sq_connect,
	.disconnect = sq_disconnect,
	.exec = sq_exec,
	.prepare = sq_prepare,
	.ncols = sq_ncols,
	.nparams = sq_nparams,
	.key_is_text = sq_key_is_text,
	.run = sq_run,
	.step = sq_step,
	.column = sq_column,
	.column_int = sq_column_int,
	.changes = sq_changes,
	.reset = sq_reset,
	.finalize = sq_finalize,
	.order_bytewise = " COLLATE BINARY",
	.param = "?1",
	/* a deferred transaction takes its read snapshot at the first read */
	.begin_read = "BEGIN; SELECT count(*) FROM sqlite_master",
	.begin_write = "BEGIN IMMEDIATE",
};
