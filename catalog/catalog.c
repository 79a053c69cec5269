/* The catalog behind catalog.h: one SQLite database in WAL mode holding
 * roots, files, runs and key/value state, created and upgraded in place by
 * an ordered list of migrations (see docs/catalog.md). Paths and directory
 * names are stored as BLOBs so that every byte the kernel allows survives
 * and compares bytewise; each file row also carries its parent directory
 * so that the scanner can load one directory with one indexed query. */
#include "catalog/catalog.h"

#include <assert.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "catalog/catalog-internal.h"
#include "common/log.h"
#include "common/util.h"

/* 'fsd1': marks the file as a catalog, so that pointing --catalog at an
 * application's database is refused instead of being "migrated". */
#define CATALOG_APPLICATION_ID 0x66736431

/* Migrations, oldest first. Each one runs in its own transaction together
 * with the bump of PRAGMA user_version to its number; a catalog at version
 * N gets every step above N. To change the schema, append a step (never
 * edit a released one) and raise CATALOG_SCHEMA_VERSION in catalog.h. */
struct migration {
	int version;
	const char *sql;
};

static const struct migration migrations[] = {
	{1, "CREATE TABLE roots ("
	    " id INTEGER PRIMARY KEY,"
	    " name TEXT NOT NULL UNIQUE,"
	    " path TEXT NOT NULL,"
	    " created_ns INTEGER NOT NULL,"
	    " scanned_ns INTEGER NOT NULL DEFAULT 0,"
	    " key_spec TEXT NOT NULL DEFAULT '');"
	    "CREATE TABLE files ("
	    " id INTEGER PRIMARY KEY,"
	    " root_id INTEGER NOT NULL REFERENCES roots(id) ON DELETE CASCADE,"
	    " path BLOB NOT NULL,"
	    " dir BLOB NOT NULL,"
	    " key TEXT,"
	    " size INTEGER NOT NULL,"
	    " mtime_ns INTEGER NOT NULL,"
	    " ctime_ns INTEGER NOT NULL,"
	    " ino INTEGER NOT NULL,"
	    " dev INTEGER NOT NULL,"
	    " mode INTEGER NOT NULL,"
	    " hash BLOB CHECK (hash IS NULL OR length(hash) = 16),"
	    " first_seen_ns INTEGER NOT NULL,"
	    " last_seen_ns INTEGER NOT NULL,"
	    " gone_ns INTEGER,"
	    " state INTEGER NOT NULL DEFAULT 0,"
	    " flags INTEGER NOT NULL DEFAULT 0,"
	    " error INTEGER NOT NULL DEFAULT 0);"
	    "CREATE UNIQUE INDEX files_path ON files(root_id, path);"
	    /* Covering: key order is the audit's merge order, and keys are
	     * random relative to the table's order, so a narrow index would
	     * cost one random table lookup per row. */
	    "CREATE INDEX files_key ON files(root_id, key, path, size, mtime_ns, ctime_ns, ino,"
	    " dev, mode, hash, first_seen_ns, last_seen_ns, state, flags, error);"
	    "CREATE INDEX files_hash ON files(hash);"
	    "CREATE INDEX files_dir ON files(root_id, dir) WHERE state <> 1;"
	    "CREATE TABLE runs ("
	    " id INTEGER PRIMARY KEY,"
	    " kind TEXT NOT NULL,"
	    " started_ns INTEGER NOT NULL,"
	    " ended_ns INTEGER,"
	    " files INTEGER NOT NULL DEFAULT 0,"
	    " bytes INTEGER NOT NULL DEFAULT 0,"
	    " hashed INTEGER NOT NULL DEFAULT 0,"
	    " bytes_hashed INTEGER NOT NULL DEFAULT 0,"
	    " errors INTEGER NOT NULL DEFAULT 0,"
	    " findings INTEGER NOT NULL DEFAULT 0,"
	    " outcome TEXT NOT NULL DEFAULT 'running',"
	    " error TEXT,"
	    " detail TEXT);"
	    "CREATE INDEX runs_kind ON runs(kind, started_ns);"
	    "CREATE TABLE state (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"},
};

static_assert(ELEMENTSOF(migrations) == CATALOG_SCHEMA_VERSION,
	      "CATALOG_SCHEMA_VERSION must name the last migration");

/* The columns of a file row, in the order fill_file() reads them; all of
 * them are in files_key, which makes key order a covering index scan. */
#define FILE_COLUMNS                                                                               \
	"f.id, f.root_id, f.path, f.key, f.size, f.mtime_ns, f.ctime_ns, f.ino, f.dev, f.mode,"    \
	" f.hash, f.first_seen_ns, f.last_seen_ns, f.state, f.flags, f.error"

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

static const char *const statement_sql[_ST_MAX] = {
	[ST_UPSERT] = "INSERT INTO files(root_id, path, dir, key, size, mtime_ns, ctime_ns, ino, dev,"
		      " mode, hash, first_seen_ns, last_seen_ns, gone_ns, state, flags, error)"
		      " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
		      " ON CONFLICT(root_id, path) DO UPDATE SET key = excluded.key,"
		      " size = excluded.size, mtime_ns = excluded.mtime_ns,"
		      " ctime_ns = excluded.ctime_ns, ino = excluded.ino, dev = excluded.dev,"
		      " mode = excluded.mode, hash = excluded.hash,"
		      " last_seen_ns = excluded.last_seen_ns, gone_ns = excluded.gone_ns,"
		      " state = excluded.state, flags = excluded.flags, error = excluded.error",
	[ST_GET] = "SELECT " FILE_COLUMNS " FROM files f WHERE f.root_id = ?1 AND f.path = ?2",
	/* Without statistics the planner would rather walk the whole root in
	 * path order than sort one directory's rows. */
	[ST_DIR_LOAD] = "SELECT " FILE_COLUMNS " FROM files f INDEXED BY files_dir"
			" WHERE f.root_id = ?1 AND f.dir = ?2"
			" AND f.state <> 1 ORDER BY f.path",
	[ST_DIR_SEEK] = "SELECT dir FROM files INDEXED BY files_dir WHERE root_id = ?1 AND state <> 1"
			" AND dir >= ?2 AND dir < ?3 ORDER BY dir LIMIT 1",
	[ST_SET_KEY] = "UPDATE files SET key = ?2 WHERE id = ?1",
	[ST_ROOT_SCANNED] = "SELECT scanned_ns FROM roots WHERE id = ?1",
};

struct catalog {
	sqlite3 *db;
	char *path;
	bool readonly;
	sqlite3_stmt *st[_ST_MAX];
	char errmsg[512];
};

/* Why the last catalog_open() of this thread failed: the handle that held
 * the message is gone by then. */
static _Thread_local char open_errmsg[512];

struct catalog_cursor {
	struct catalog *c;
	sqlite3_stmt *stmt;
	struct catalog_file f;
	/* Each root's last complete scan, for see_scanned(). */
	int64_t *root_ids, *scanned_ns;
	size_t n_roots;
};

static int seterr(struct catalog *c, int r, const char *fmt, ...) _printf_(3, 4);
static int seterr(struct catalog *c, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
	va_end(ap);
	return r;
}

static int errno_of_sqlite(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EBADMSG;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	case SQLITE_TOOBIG:
	case SQLITE_RANGE:
		return -E2BIG;
	case SQLITE_INTERRUPT:
		return -ECANCELED;
	default:
		return -EIO;
	}
}

/* Translates a SQLite failure at the module edge and keeps its message. */
static int sqlerr(struct catalog *c, int rc)
{
	int r = errno_of_sqlite(rc);

	if (r == -EBADMSG)
		return seterr(c, r, "%s: not a usable catalog: %s", c->path, sqlite3_errmsg(c->db));
	return seterr(c, r, "%s", sqlite3_errmsg(c->db));
}

static int exec(struct catalog *c, const char *sql)
{
	int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : sqlerr(c, rc);
}

static int prepare(struct catalog *c, const char *sql, sqlite3_stmt **ret)
{
	int rc = sqlite3_prepare_v2(c->db, sql, -1, ret, NULL);
	return rc == SQLITE_OK ? 0 : sqlerr(c, rc);
}

static void finalizep(sqlite3_stmt **s)
{
	sqlite3_finalize(*s);
}
#define _cleanup_finalize_ _cleanup_(finalizep)

/* A cached statement, reset and with its bindings cleared. */
static int cached(struct catalog *c, int which, sqlite3_stmt **ret)
{
	int rc;

	if (!c->st[which]) {
		rc = sqlite3_prepare_v3(c->db, statement_sql[which], -1, SQLITE_PREPARE_PERSISTENT, &c->st[which],
					NULL);
		if (rc != SQLITE_OK)
			return sqlerr(c, rc);
	}
	sqlite3_reset(c->st[which]);
	sqlite3_clear_bindings(c->st[which]);
	*ret = c->st[which];
	return 0;
}

/* Binds bytes as a BLOB; a zero-length one must not become NULL. */
static int bind_bytes(sqlite3_stmt *s, int i, const void *p, size_t n)
{
	return sqlite3_bind_blob64(s, i, n ? p : "", n, SQLITE_TRANSIENT);
}

/* Runs a statement that returns no rows to use; returns changes or -errno. */
static int step_done(struct catalog *c, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW)
		rc = SQLITE_DONE;
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return sqlerr(c, rc);
	return sqlite3_changes(c->db);
}

static int pragma_int(struct catalog *c, const char *sql, int64_t *ret)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	int r, rc;

	r = prepare(c, sql, &s);
	if (r < 0)
		return r;
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? seterr(c, -EIO, "%s returned nothing", sql) : sqlerr(c, rc);
	*ret = sqlite3_column_int64(s, 0);
	return 0;
}

static int mkdir_parents(const char *path)
{
	_cleanup_free_ char *p = strdup(path);

	if (!p)
		return -ENOMEM;
	for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	return 0;
}

/* Refuses files that are some other program's database, and catalogs
 * written by a newer fsd, before anything is written to them. */
static int check_identity(struct catalog *c, int64_t *ret_version)
{
	int64_t app_id, version, tables;
	int r;

	r = pragma_int(c, "PRAGMA application_id", &app_id);
	if (r < 0)
		return r;
	r = pragma_int(c, "PRAGMA user_version", &version);
	if (r < 0)
		return r;
	r = pragma_int(c, "SELECT count(*) FROM sqlite_master", &tables);
	if (r < 0)
		return r;
	if (app_id != CATALOG_APPLICATION_ID && (app_id != 0 || version != 0 || tables != 0))
		return seterr(c, -EBADMSG,
			      "%s: not an fsd catalog (a SQLite database of another program)",
			      c->path);
	if (version > CATALOG_SCHEMA_VERSION)
		return seterr(c, -EPROTONOSUPPORT,
			      "%s: catalog schema version %" PRId64
			      " is newer than this fsd supports (%d)",
			      c->path, version, CATALOG_SCHEMA_VERSION);
	*ret_version = version;
	return 0;
}

static int migrate_one(struct catalog *c, const struct migration *m)
{
	char sql[128];
	int64_t version;
	int r;

	r = exec(c, "BEGIN IMMEDIATE");
	if (r < 0)
		return r;
	/* Another process may have upgraded while we waited for the lock. */
	r = pragma_int(c, "PRAGMA user_version", &version);
	if (r < 0 || version >= m->version)
		goto out;
	r = exec(c, m->sql);
	if (r < 0)
		goto out;
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d; PRAGMA application_id = %d",
		 m->version, CATALOG_APPLICATION_ID);
	r = exec(c, sql);
	if (r < 0)
		goto out;
	return exec(c, "COMMIT");
out:
	sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	if (r < 0)
		return seterr(c, r, "%s: migration to schema version %d failed: %s", c->path,
			      m->version, c->errmsg);
	return 0;
}

static int migrate(struct catalog *c, int64_t version)
{
	for (size_t i = 0; i < ELEMENTSOF(migrations); i++) {
		if (migrations[i].version <= version)
			continue;
		int r = migrate_one(c, &migrations[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The secondary indexes a first load may drop and build afterwards; each
 * entry must match the newest migration's definition of that index. */
static const char *const deferrable_indexes[] = {
	"CREATE INDEX IF NOT EXISTS files_hash ON files(hash)",
	"CREATE INDEX IF NOT EXISTS files_key ON files(root_id, key, path, size, mtime_ns, ctime_ns,"
	" ino, dev, mode, hash, first_seen_ns, last_seen_ns, state, flags, error)",
};

/* Builds any deferrable index that is missing: after a bulk load, or
 * when a process died during one. */
static int ensure_indexes(struct catalog *c)
{
	for (size_t i = 0; i < ELEMENTSOF(deferrable_indexes); i++) {
		int r = exec(c, deferrable_indexes[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

static int setup_connection(struct catalog *c)
{
	int r;

	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, 5000);
	r = exec(c, "PRAGMA foreign_keys = ON; PRAGMA cache_size = -32768");
	if (r < 0 || c->readonly)
		return r;
	/* Set before any write so that the creating transaction is already
	 * WAL; the mode is persistent in the file. */
	r = exec(c, "PRAGMA journal_mode = WAL");
	if (r < 0)
		return r;
	return exec(c, "PRAGMA synchronous = NORMAL");
}

static int open_db(struct catalog *c, unsigned flags)
{
	int oflags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	struct stat st;
	int r, rc;

	if (flags & CATALOG_OPEN_READONLY) {
		if (stat(c->path, &st) < 0)
			return seterr(c, -errno, "%s: %s", c->path, strerror(errno));
		oflags = SQLITE_OPEN_READONLY;
	} else {
		r = mkdir_parents(c->path);
		if (r < 0)
			return seterr(c, r, "%s: cannot create its directory: %s", c->path,
				      strerror(-r));
	}
	if (stat(c->path, &st) == 0 && !S_ISREG(st.st_mode))
		return seterr(c, -EBADMSG, "%s: not a regular file", c->path);
	rc = sqlite3_open_v2(c->path, &c->db, oflags, NULL);
	if (rc != SQLITE_OK)
		return c->db ? sqlerr(c, rc)
			     : seterr(c, -ENOMEM, "%s: cannot open: out of memory", c->path);
	return 0;
}

int catalog_open(const char *path, unsigned flags, struct catalog **ret)
{
	struct catalog *c;
	int64_t version = 0;
	int r;

	open_errmsg[0] = '\0';
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->readonly = flags & CATALOG_OPEN_READONLY;
	c->path = strdup(path);
	if (!c->path) {
		r = -ENOMEM;
		goto fail;
	}
	r = open_db(c, flags);
	if (r < 0)
		goto fail;
	/* Identity first: a corrupt file or another program's database is
	 * refused before the journal mode or anything else is written. */
	r = check_identity(c, &version);
	if (r < 0)
		goto fail;
	r = setup_connection(c);
	if (r < 0)
		goto fail;
	if (version < CATALOG_SCHEMA_VERSION && c->readonly) {
		r = seterr(c, -EBADMSG, "%s: catalog schema version %" PRId64 " needs an upgrade to %d;"
			   " open it writable once (fsdctl scan)", path, version, CATALOG_SCHEMA_VERSION);
		goto fail;
	}
	r = migrate(c, version);
	if (r >= 0 && !c->readonly)
		r = ensure_indexes(c);
	if (r < 0)
		goto fail;
	*ret = c;
	return 0;
fail:
	log_debug("catalog: %s", c->errmsg);
	snprintf(open_errmsg, sizeof(open_errmsg), "%s", c->errmsg);
	catalog_close(c);
	return r;
}

void catalog_close(struct catalog *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < _ST_MAX; i++)
		sqlite3_finalize(c->st[i]);
	if (c->db) {
		if (!sqlite3_get_autocommit(c->db))
			sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_close_v2(c->db);
	}
	free(c->path);
	free(c);
}

const char *catalog_errmsg(const struct catalog *c)
{
	return c ? c->errmsg : open_errmsg;
}

const char *catalog_path(const struct catalog *c)
{
	return c->path;
}

int catalog_schema_version(struct catalog *c)
{
	int64_t v;
	int r = pragma_int(c, "PRAGMA user_version", &v);
	return r < 0 ? r : (int)v;
}

int catalog_begin(struct catalog *c)
{
	if (!sqlite3_get_autocommit(c->db))
		return seterr(c, -EBUSY, "a transaction is already open");
	return exec(c, "BEGIN IMMEDIATE");
}

int catalog_commit(struct catalog *c)
{
	return exec(c, "COMMIT");
}

int catalog_rollback(struct catalog *c)
{
	return exec(c, "ROLLBACK");
}

int catalog_bulk_begin(struct catalog *c, int64_t *ret_rows)
{
	int r;

	/* Checkpoints sync the database file; during a bulk load they would
	 * stall the only writer every few thousand rows. */
	r = exec(c, "PRAGMA wal_autocheckpoint = 65536");
	if (r < 0)
		return r;
	/* The highest id: an upper bound of the row count, from the B-tree's
	 * edge rather than a count of every row. */
	return pragma_int(c, "SELECT coalesce(max(id), 0) FROM files", ret_rows);
}

int catalog_defer_indexes(struct catalog *c)
{
	bool own = sqlite3_get_autocommit(c->db);
	int r;

	if (own && (r = exec(c, "BEGIN IMMEDIATE")) < 0)
		return r;
	r = exec(c, "DROP INDEX IF EXISTS files_hash; DROP INDEX IF EXISTS files_key");
	if (own)
		r = r < 0 ? (sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL), r)
			  : exec(c, "COMMIT");
	return r;
}

int catalog_bulk_end(struct catalog *c, bool dropped)
{
	int r = 0;

	if (dropped)
		r = ensure_indexes(c);
	int k = exec(c, "PRAGMA wal_autocheckpoint = 1000");
	if (r >= 0)
		r = k;
	/* Fold the WAL back in once; a busy reader only postpones it. */
	k = exec(c, "PRAGMA wal_checkpoint(PASSIVE)");
	return r < 0 ? r : (k == -EBUSY ? 0 : k);
}

bool catalog_in_transaction(struct catalog *c)
{
	return !sqlite3_get_autocommit(c->db);
}

/* ---- roots ---- */

int catalog_root_ensure(struct catalog *c, const char *name, const char *path, int64_t *ret_id)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	int r, rc;

	r = prepare(c, "INSERT INTO roots(name, path, created_ns) VALUES(?1, ?2, ?3)"
		       " ON CONFLICT(name) DO UPDATE SET path = excluded.path RETURNING id", &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now_ns());
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW)
		return sqlerr(c, rc);
	int64_t id = sqlite3_column_int64(s, 0);
	rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		return sqlerr(c, rc);
	if (ret_id)
		*ret_id = id;
	return 0;
}

static int select_one_int(struct catalog *c, const char *sql, const char *text, int64_t *ret)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	int r, rc;

	r = prepare(c, sql, &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, text, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return sqlerr(c, rc);
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

	r = prepare(c, "UPDATE roots SET scanned_ns = ?2, key_spec = ?3 WHERE id = ?1", &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, root_id);
	sqlite3_bind_int64(s, 2, scanned_ns);
	sqlite3_bind_text(s, 3, key_spec, -1, SQLITE_STATIC);
	r = step_done(c, s);
	return r < 0 ? r : (r == 0 ? -ENOENT : 0);
}

int catalog_root_key_spec(struct catalog *c, int64_t root_id, char **ret)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	int r, rc;

	r = prepare(c, "SELECT key_spec FROM roots WHERE id = ?1", &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, root_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return sqlerr(c, rc);
	char *v = strdup((const char *)sqlite3_column_text(s, 0) ?: "");
	if (!v)
		return -ENOMEM;
	*ret = v;
	return 0;
}

/* ---- files ---- */

static size_t dir_len_of(const char *path, size_t len)
{
	const char *slash = memrchr(path, '/', len);
	return slash ? (size_t)(slash - path) : 0;
}

static void fill_file(sqlite3_stmt *s, struct catalog_file *f)
{
	*f = (struct catalog_file){
		.id = sqlite3_column_int64(s, 0),
		.root_id = sqlite3_column_int64(s, 1),
		.path = sqlite3_column_blob(s, 2),
		.path_len = (size_t)sqlite3_column_bytes(s, 2),
		.key = (const char *)sqlite3_column_text(s, 3),
		.size = sqlite3_column_int64(s, 4),
		.mtime_ns = sqlite3_column_int64(s, 5),
		.ctime_ns = sqlite3_column_int64(s, 6),
		.ino = (uint64_t)sqlite3_column_int64(s, 7),
		.dev = (uint64_t)sqlite3_column_int64(s, 8),
		.mode = (uint32_t)sqlite3_column_int64(s, 9),
		.first_seen_ns = sqlite3_column_int64(s, 11),
		.last_seen_ns = sqlite3_column_int64(s, 12),
		.state = (enum catalog_state)sqlite3_column_int(s, 13),
		.flags = (unsigned)sqlite3_column_int(s, 14),
		.error = sqlite3_column_int(s, 15),
	};
	if (!f->path)
		f->path = "";
	if (sqlite3_column_bytes(s, 10) == CATALOG_HASH_SIZE) {
		f->hashed = true;
		memcpy(f->hash.b, sqlite3_column_blob(s, 10), CATALOG_HASH_SIZE);
	}
}

/* A present row was seen by the last complete scan of its root: an
 * unchanged file is not rewritten by a rescan, so its own last_seen_ns
 * lags behind. */
static void see_scanned(struct catalog_file *f, int64_t scanned_ns)
{
	if (f->state == CATALOG_PRESENT && scanned_ns > f->last_seen_ns)
		f->last_seen_ns = scanned_ns;
}

static int root_scanned_ns(struct catalog *c, int64_t root_id, int64_t *ret)
{
	sqlite3_stmt *s;
	int r, rc;

	r = cached(c, ST_ROOT_SCANNED, &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, root_id);
	rc = sqlite3_step(s);
	*ret = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sqlerr(c, rc);
}

int catalog_file_upsert(struct catalog *c, const struct catalog_file *f)
{
	sqlite3_stmt *s;
	int64_t now = now_ns();
	int r;

	if (memchr(f->path, '\0', f->path_len))
		return seterr(c, -EINVAL, "path contains a NUL byte");
	r = cached(c, ST_UPSERT, &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, f->root_id);
	bind_bytes(s, 2, f->path, f->path_len);
	bind_bytes(s, 3, f->path, dir_len_of(f->path, f->path_len));
	if (f->key)
		sqlite3_bind_text(s, 4, f->key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, f->size);
	sqlite3_bind_int64(s, 6, f->mtime_ns);
	sqlite3_bind_int64(s, 7, f->ctime_ns);
	sqlite3_bind_int64(s, 8, (int64_t)f->ino);
	sqlite3_bind_int64(s, 9, (int64_t)f->dev);
	sqlite3_bind_int64(s, 10, f->mode);
	if (f->hashed)
		sqlite3_bind_blob(s, 11, f->hash.b, CATALOG_HASH_SIZE, SQLITE_STATIC);
	sqlite3_bind_int64(s, 12, f->first_seen_ns ?: (f->last_seen_ns ?: now));
	sqlite3_bind_int64(s, 13, f->last_seen_ns ?: now);
	if (f->state == CATALOG_GONE)
		sqlite3_bind_int64(s, 14, now);
	sqlite3_bind_int(s, 15, f->state);
	sqlite3_bind_int(s, 16, (int)f->flags);
	sqlite3_bind_int(s, 17, f->error);
	r = step_done(c, s);
	return r < 0 ? r : 0;
}

static int copy_out(const struct catalog_file *f, struct catalog_file *ret, char *buf,
		    size_t bufsz)
{
	size_t key_len = f->key ? strlen(f->key) + 1 : 0;

	if (f->path_len + 1 + key_len > bufsz)
		return -ENOBUFS;
	*ret = *f;
	memcpy(buf, f->path, f->path_len);
	buf[f->path_len] = '\0';
	ret->path = buf;
	if (f->key) {
		memcpy(buf + f->path_len + 1, f->key, key_len);
		ret->key = buf + f->path_len + 1;
	}
	return 0;
}

int catalog_file_get(struct catalog *c, int64_t root_id, const char *path, size_t path_len,
		     struct catalog_file *ret, char *buf, size_t bufsz)
{
	struct catalog_file f;
	sqlite3_stmt *s;
	int r, rc;

	r = cached(c, ST_GET, &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, root_id);
	bind_bytes(s, 2, path, path_len);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		r = -ENOENT;
	else if (rc != SQLITE_ROW)
		r = sqlerr(c, rc);
	else {
		fill_file(s, &f);
		r = copy_out(&f, ret, buf, bufsz);
	}
	sqlite3_reset(s);
	int64_t scanned;
	if (r >= 0 && (r = root_scanned_ns(c, root_id, &scanned)) >= 0)
		see_scanned(ret, scanned);
	return r;
}

int catalog_file_set_key(struct catalog *c, int64_t id, const char *key)
{
	sqlite3_stmt *s;
	int r;

	r = cached(c, ST_SET_KEY, &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, id);
	if (key)
		sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
	r = step_done(c, s);
	return r < 0 ? r : 0;
}

/* The bounds of everything below directory `p`: [p + "/", p + "0"),
 * since '0' is the byte after '/'. Returns -ENOMEM or 0. */
static int subtree_bounds(const char *p, size_t n, char **ret_lo, char **ret_hi)
{
	char *lo = malloc(n + 2), *hi = malloc(n + 2);

	if (!lo || !hi) {
		free(lo);
		free(hi);
		return -ENOMEM;
	}
	memcpy(lo, p, n);
	memcpy(hi, p, n);
	lo[n] = '/';
	hi[n] = '0';
	*ret_lo = lo;
	*ret_hi = hi;
	return 0;
}

int catalog_file_gone(struct catalog *c, int64_t root_id, const char *path, size_t path_len,
		      bool recursive, int64_t now)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	_cleanup_free_ char *lo = NULL, *hi = NULL;
	int r;

	if (recursive && path_len == 0)
		r = prepare(c, "UPDATE files SET state = 1, gone_ns = ?2"
			       " WHERE root_id = ?1 AND state <> 1", &s);
	else if (recursive)
		r = prepare(c, "UPDATE files SET state = 1, gone_ns = ?2 WHERE root_id = ?1"
			       " AND state <> 1 AND (path = ?3 OR (path >= ?4 AND path < ?5))", &s);
	else
		r = prepare(c, "UPDATE files SET state = 1, gone_ns = ?2"
			       " WHERE root_id = ?1 AND state <> 1 AND path = ?3", &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, root_id);
	sqlite3_bind_int64(s, 2, now);
	if (recursive && path_len == 0)
		return step_done(c, s);
	bind_bytes(s, 3, path, path_len);
	if (recursive) {
		r = subtree_bounds(path, path_len, &lo, &hi);
		if (r < 0)
			return r;
		bind_bytes(s, 4, lo, path_len + 1);
		bind_bytes(s, 5, hi, path_len + 1);
	}
	return step_done(c, s);
}

/* Drops the rows a rename lands on: the target path, and with `recursive`
 * everything below it, as rename(2) replaces what was there. */
static int rename_clear_target(struct catalog *c, int64_t root_id, const char *to, size_t to_len,
			       bool recursive)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	_cleanup_free_ char *lo = NULL, *hi = NULL;
	int r;

	r = subtree_bounds(to, to_len, &lo, &hi);
	if (r < 0)
		return r;
	r = prepare(c, "DELETE FROM files WHERE root_id = ?1 AND (path = ?2"
		       " OR (?3 AND path >= ?4 AND path < ?5))", &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, root_id);
	bind_bytes(s, 2, to, to_len);
	sqlite3_bind_int(s, 3, recursive);
	bind_bytes(s, 4, lo, to_len + 1);
	bind_bytes(s, 5, hi, to_len + 1);
	return step_done(c, s);
}

static int rename_exact(struct catalog *c, int64_t root_id, const char *from, size_t from_len,
			const char *to, size_t to_len)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	int r;

	r = prepare(c, "UPDATE files SET path = ?3, dir = ?4 WHERE root_id = ?1 AND path = ?2", &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, root_id);
	bind_bytes(s, 2, from, from_len);
	bind_bytes(s, 3, to, to_len);
	bind_bytes(s, 4, to, dir_len_of(to, to_len));
	return step_done(c, s);
}

/* Rewrites the prefix of every row below `from`. The concatenation is
 * cast back to BLOB so that paths keep comparing bytewise. */
static int rename_below(struct catalog *c, int64_t root_id, const char *from, size_t from_len,
			const char *to, size_t to_len)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	_cleanup_free_ char *lo = NULL, *hi = NULL;
	int r;

	r = subtree_bounds(from, from_len, &lo, &hi);
	if (r < 0)
		return r;
	r = prepare(c, "UPDATE files SET path = CAST(?2 || substr(path, ?3) AS BLOB),"
		       " dir = CAST(?2 || substr(dir, ?3) AS BLOB)"
		       " WHERE root_id = ?1 AND path >= ?4 AND path < ?5", &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, root_id);
	bind_bytes(s, 2, to, to_len);
	sqlite3_bind_int64(s, 3, (int64_t)from_len + 1);
	bind_bytes(s, 4, lo, from_len + 1);
	bind_bytes(s, 5, hi, from_len + 1);
	return step_done(c, s);
}

int catalog_file_rename(struct catalog *c, int64_t root_id, const char *from, size_t from_len,
			const char *to, size_t to_len, bool recursive)
{
	int r, n;

	if (from_len == 0 || to_len == 0)
		return seterr(c, -EINVAL, "cannot rename the root itself");
	if (from_len == to_len && memcmp(from, to, to_len) == 0)
		return 0;
	if (recursive && to_len > from_len && memcmp(to, from, from_len) == 0 &&
	    to[from_len] == '/')
		return seterr(c, -EINVAL, "cannot move a directory below itself");
	r = rename_clear_target(c, root_id, to, to_len, recursive);
	if (r < 0)
		return r;
	n = rename_exact(c, root_id, from, from_len, to, to_len);
	if (n < 0 || !recursive)
		return n;
	r = rename_below(c, root_id, from, from_len, to, to_len);
	return r < 0 ? r : n + r;
}

int catalog_forget_gone(struct catalog *c, int64_t before_ns)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	int r;

	r = prepare(c, "DELETE FROM files WHERE state = 1 AND gone_ns < ?1", &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, before_ns);
	return step_done(c, s);
}

/* ---- directories (for the scanner) ---- */

int catalog_dir_load(struct catalog *c, int64_t root_id, const char *dir, size_t dir_len,
		     int (*cb)(const struct catalog_file *f, void *ud), void *ud)
{
	struct catalog_file f;
	sqlite3_stmt *s;
	int r, rc;

	r = cached(c, ST_DIR_LOAD, &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, root_id);
	bind_bytes(s, 2, dir, dir_len);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		fill_file(s, &f);
		r = cb(&f, ud);
		if (r < 0) {
			sqlite3_reset(s);
			return r;
		}
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : sqlerr(c, rc);
}

/* The smallest dir in [lo, hi) of the root's rows that are not gone.
 * Returns 1 and copies it into *buf (grown as needed), 0 if none. */
static int dir_seek(struct catalog *c, int64_t root_id, const char *lo, size_t lo_len,
		    const char *hi, size_t hi_len, char **buf, size_t *len)
{
	sqlite3_stmt *s;
	int r, rc;

	r = cached(c, ST_DIR_SEEK, &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, root_id);
	bind_bytes(s, 2, lo, lo_len);
	bind_bytes(s, 3, hi, hi_len);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(s, 0);
		char *p = realloc(*buf, n + 2);
		if (!p) {
			sqlite3_reset(s);
			return -ENOMEM;
		}
		memcpy(p, sqlite3_column_blob(s, 0) ?: "", n);
		*buf = p;
		*len = n;
		r = 1;
	} else
		r = rc == SQLITE_DONE ? 0 : sqlerr(c, rc);
	sqlite3_reset(s);
	return r;
}

/* A skip scan over the dir index: each child directory costs one or two
 * index seeks, however many rows lie below it. Invariant: every dir below
 * `lo` has been accounted for. The smallest dir e >= lo names child C;
 * C's subtree [C/, C0) is skipped, except that when e is C itself, names
 * sorting between C and "C/" (C followed by a byte below '/') come first.
 * That order can report C a second time after such names; callers
 * de-duplicate. */
int catalog_dir_children(struct catalog *c, int64_t root_id, const char *dir, size_t dir_len,
			 int (*cb)(const char *name, size_t len, void *ud), void *ud)
{
	/* Above every path (PATH_MAX bytes) that can be stored. */
	static const char top[4097] = {[0 ... 4096] = (char)0xff};
	_cleanup_free_ char *lo = NULL, *hi = NULL, *e = NULL, *probe = NULL;
	size_t plen = dir_len ? dir_len + 1 : 0, lo_len, elen = 0, plen2 = 0;
	int r;

	r = subtree_bounds(dir, dir_len, &lo, &hi);
	if (r < 0)
		return r;
	/* Children of the top level: everything but "" itself, i.e. >= "\0". */
	lo_len = dir_len ? plen : 1;
	if (!dir_len)
		lo[0] = '\0';
	for (;;) {
		r = dir_seek(c, root_id, lo, lo_len, dir_len ? hi : top, dir_len ? plen : sizeof(top),
			     &e, &elen);
		if (r <= 0)
			return r;
		const char *name = e + plen, *slash = memchr(name, '/', elen - plen);
		size_t clen = slash ? (size_t)(slash - e) : elen;
		r = cb(name, clen - plen, ud);
		if (r < 0)
			return r;
		char *nlo = realloc(lo, elen + 2);
		if (!nlo)
			return -ENOMEM;
		lo = nlo;
		memcpy(lo, e, elen);
		if (clen == elen) {
			/* e is C: probe (C, "C/") with lo = C + "\0", hi = C + "/". */
			lo[elen] = '\0';
			memcpy(e + elen, "/", 1);
			r = dir_seek(c, root_id, lo, elen + 1, e, elen + 1, &probe, &plen2);
			if (r < 0)
				return r;
			if (r > 0) {
				nlo = realloc(lo, plen2 + 1);
				if (!nlo)
					return -ENOMEM;
				lo = nlo;
				memcpy(lo, probe, plen2);
				lo_len = plen2;
				continue;
			}
		}
		lo[clen] = '0';
		lo_len = clen + 1;
	}
}

/* ---- cursors and statistics ---- */

static const char *order_sql(enum catalog_order o)
{
	switch (o) {
	case CATALOG_ORDER_KEY:
		return " ORDER BY f.root_id, f.key, f.path";
	case CATALOG_ORDER_HASH:
		return " ORDER BY f.hash, f.root_id, f.path";
	default:
		return " ORDER BY f.root_id, f.path";
	}
}

/* The statement is assembled from fixed fragments only; every value is
 * a bound parameter. */
static void cursor_sql(const struct catalog_query *q, char *buf, size_t n)
{
	snprintf(buf, n, "SELECT " FILE_COLUMNS " FROM files f WHERE 1%s%s%s%s%s%s",
		 q->root_id ? " AND f.root_id = :root" : "", q->state >= 0 ? " AND f.state = :state" : "",
		 q->changed_only ? " AND (f.flags & 1) <> 0" : "",
		 q->keyed_only ? " AND f.key IS NOT NULL" : "",
		 !q->duplicates_only ? ""
		 : q->root_id ? " AND f.state = 0 AND f.hash IN (SELECT hash FROM files"
				" WHERE state = 0 AND hash IS NOT NULL AND root_id = :root"
				" GROUP BY hash HAVING count(*) > 1)"
			      : " AND f.state = 0 AND f.hash IN (SELECT hash FROM files"
				" WHERE state = 0 AND hash IS NOT NULL GROUP BY hash HAVING count(*) > 1)",
		 order_sql(q->order));
}

static int load_scanned(struct catalog_cursor *cur)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	int r, rc;

	r = prepare(cur->c, "SELECT id, scanned_ns FROM roots", &s);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		size_t n = cur->n_roots + 1;
		int64_t *ids = realloc(cur->root_ids, n * sizeof(int64_t));
		if (ids)
			cur->root_ids = ids;
		int64_t *ns = realloc(cur->scanned_ns, n * sizeof(int64_t));
		if (ns)
			cur->scanned_ns = ns;
		if (!ids || !ns)
			return -ENOMEM;
		cur->root_ids[cur->n_roots] = sqlite3_column_int64(s, 0);
		cur->scanned_ns[cur->n_roots++] = sqlite3_column_int64(s, 1);
	}
	return rc == SQLITE_DONE ? 0 : sqlerr(cur->c, rc);
}

int catalog_cursor_open(struct catalog *c, const struct catalog_query *q,
			struct catalog_cursor **ret)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	char sql[2048];
	int r, i;

	cursor_sql(q, sql, sizeof(sql));
	r = prepare(c, sql, &s);
	if (r < 0)
		return r;
	i = sqlite3_bind_parameter_index(s, ":root");
	if (i > 0)
		sqlite3_bind_int64(s, i, q->root_id);
	i = sqlite3_bind_parameter_index(s, ":state");
	if (i > 0)
		sqlite3_bind_int(s, i, q->state);
	struct catalog_cursor *cur = calloc(1, sizeof(*cur));
	if (!cur)
		return -ENOMEM;
	cur->c = c;
	cur->stmt = TAKE_PTR(s);
	r = load_scanned(cur);
	if (r < 0) {
		catalog_cursor_free(cur);
		return r;
	}
	*ret = cur;
	return 0;
}

int catalog_cursor_next(struct catalog_cursor *cur, const struct catalog_file **ret)
{
	int rc = sqlite3_step(cur->stmt);

	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return sqlerr(cur->c, rc);
	fill_file(cur->stmt, &cur->f);
	for (size_t i = 0; i < cur->n_roots; i++)
		if (cur->root_ids[i] == cur->f.root_id)
			see_scanned(&cur->f, cur->scanned_ns[i]);
	*ret = &cur->f;
	return 1;
}

void catalog_cursor_free(struct catalog_cursor *cur)
{
	if (!cur)
		return;
	sqlite3_finalize(cur->stmt);
	free(cur->root_ids);
	free(cur->scanned_ns);
	free(cur);
}

int catalog_root_stats(struct catalog *c, int64_t root_id, struct catalog_root_stats *ret)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	int r, rc;

	r = prepare(c, "SELECT count(*) FILTER (WHERE state <> 1),"
		       " coalesce(sum(size) FILTER (WHERE state <> 1), 0),"
		       " count(*) FILTER (WHERE state = 0 AND hash IS NOT NULL),"
		       " count(*) FILTER (WHERE state = 1),"
		       " count(*) FILTER (WHERE state = 2),"
		       " count(*) FILTER (WHERE state <> 1 AND (flags & 1) <> 0)"
		       " FROM files WHERE root_id = ?1", &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, root_id);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW)
		return sqlerr(c, rc);
	*ret = (struct catalog_root_stats){
		.root_id = root_id,
		.files = (uint64_t)sqlite3_column_int64(s, 0),
		.bytes = (uint64_t)sqlite3_column_int64(s, 1),
		.hashed = (uint64_t)sqlite3_column_int64(s, 2),
		.gone = (uint64_t)sqlite3_column_int64(s, 3),
		.unreadable = (uint64_t)sqlite3_column_int64(s, 4),
		.changed = (uint64_t)sqlite3_column_int64(s, 5),
	};
	return 0;
}

/* ---- runs ---- */

int catalog_run_begin(struct catalog *c, const char *kind, int64_t *ret_id)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	int r;

	r = prepare(c, "INSERT INTO runs(kind, started_ns) VALUES(?1, ?2)", &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now_ns());
	r = step_done(c, s);
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

	k = prepare(c, "UPDATE runs SET ended_ns = ?2, files = ?3, bytes = ?4, hashed = ?5,"
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
	k = step_done(c, s);
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

	r = prepare(c, "SELECT id, kind, started_ns, ended_ns, files, bytes, hashed, bytes_hashed,"
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
	return rc == SQLITE_DONE ? 0 : sqlerr(c, rc);
}

/* ---- key/value state ---- */

int catalog_state_set(struct catalog *c, const char *name, const char *value)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	int r;

	r = prepare(c, "INSERT INTO state(name, value) VALUES(?1, ?2)"
		       " ON CONFLICT(name) DO UPDATE SET value = excluded.value", &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
	r = step_done(c, s);
	return r < 0 ? r : 0;
}

int catalog_state_get(struct catalog *c, const char *name, char **ret)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	int r, rc;

	r = prepare(c, "SELECT value FROM state WHERE name = ?1", &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return sqlerr(c, rc);
	char *v = strdup((const char *)sqlite3_column_text(s, 0) ?: "");
	if (!v)
		return -ENOMEM;
	*ret = v;
	return 0;
}
