/* What the catalog's own files (catalog.c, catalog-files.c,
 * catalog-runs.c) share: the handle, the cached statements, and the
 * helpers that translate SQLite's results at the module's edge. SQLite
 * types appear here and nowhere outside catalog/. */
#pragma once

#include <sqlite3.h>

#include "catalog/catalog.h"
#include "common/util.h"

/* Statements prepared once and reused: the scanner calls these per file
 * or per directory. */
enum {
	ST_UPSERT,
	ST_GET,
	ST_DIR_LOAD,
	ST_DIR_SEEK,
	ST_SET_KEY,
	ST_ROOT_SCANNED,
	_ST_MAX,
};

/* The columns of a file row, in the order fill_file() reads them; all of
 * them are in files_key, which makes key order a covering index scan. */
#define FILE_COLUMNS                                                                               \
	"f.id, f.root_id, f.path, f.key, f.size, f.mtime_ns, f.ctime_ns, f.ino, f.dev, f.mode,"    \
	" f.hash, f.first_seen_ns, f.last_seen_ns, f.state, f.flags, f.error"

struct catalog {
	sqlite3 *db;
	char *path;
	bool readonly;
	sqlite3_stmt *st[_ST_MAX];
	char errmsg[512];
};

static inline void finalizep(sqlite3_stmt **s)
{
	sqlite3_finalize(*s);
}
#define _cleanup_finalize_ _cleanup_(finalizep)

/* Sets the handle's message; returns r. */
int cdb_seterr(struct catalog *c, int r, const char *fmt, ...) _printf_(3, 4);
/* Translates a SQLite result code to -errno and keeps SQLite's message. */
int cdb_sqlerr(struct catalog *c, int rc);
int cdb_exec(struct catalog *c, const char *sql);
int cdb_prepare(struct catalog *c, const char *sql, sqlite3_stmt **ret);
/* A statement of statement_sql[], prepared once, reset and unbound. */
int cdb_cached(struct catalog *c, int which, sqlite3_stmt **ret);
/* Binds bytes as a BLOB (a zero-length one too, never NULL). */
int cdb_bind_bytes(sqlite3_stmt *s, int i, const void *p, size_t n);
/* Steps a statement to its end; returns the rows changed or -errno. */
int cdb_step_done(struct catalog *c, sqlite3_stmt *s);
/* The first column of the first row of a query without parameters. */
int cdb_pragma_int(struct catalog *c, const char *sql, int64_t *ret);
