/* The catalog behind catalog.h: one SQLite database in WAL mode holding
 * roots, files, runs and key/value state, created and upgraded in place by
 * an ordered list of migrations (see docs/catalog.md). This file opens,
 * checks, migrates and configures it and runs its transactions; the rows
 * are handled in catalog-files.c and catalog-runs.c. Paths and directory
 * names are stored as BLOBs so that every byte the kernel allows survives
 * and compares bytewise; each file row also carries its parent directory
 * so that the scanner can load one directory with one indexed query. */
#include "catalog/catalog.h"

#include <assert.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "catalog/catalog-db.h"
#include "catalog/catalog-internal.h"
#include "common/log.h"
#include "common/util.h"

/* The oldest schema a read-only open accepts without migrating: versions
 * 2 and 3 only redefined indexes. Raise it when a migration changes a
 * table. */
#define CATALOG_READABLE_VERSION 1

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
	    "CREATE INDEX files_key ON files(root_id, key);"
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
	/* A covering key index: key order is the audit's merge order, and keys
	 * are random relative to the table's order, so the narrow index cost
	 * one random table lookup per row (3-5 s for a million rows). */
	{2, "DROP INDEX IF EXISTS files_key;"
	    "CREATE INDEX files_key ON files(root_id, key, path, size, mtime_ns, ctime_ns, ino,"
	    " dev, mode, hash, first_seen_ns, last_seen_ns, state, flags, error);"},
	/* Partial indexes: each holds only the rows its queries ask for. A
	 * lookup by hash wants present, hashed files (the duplicates pass then
	 * groups from the index alone instead of reading every row's state at
	 * random), key order wants keyed rows (a keyless root's rows cost
	 * nothing on insert), and the changed-files pass finds its few rows
	 * without a table scan. Queries must repeat the WHERE terms. */
	{3, "DROP INDEX IF EXISTS files_hash;"
	    "CREATE INDEX files_hash ON files(hash) WHERE state = 0 AND hash IS NOT NULL;"
	    "DROP INDEX IF EXISTS files_key;"
	    "CREATE INDEX files_key ON files(root_id, key, path, size, mtime_ns, ctime_ns, ino,"
	    " dev, mode, hash, first_seen_ns, last_seen_ns, state, flags, error)"
	    " WHERE key IS NOT NULL;"
	    "CREATE INDEX IF NOT EXISTS files_changed ON files(root_id, path) WHERE (flags & 1) <> 0;"},
};

static_assert(ELEMENTSOF(migrations) == CATALOG_SCHEMA_VERSION,
	      "CATALOG_SCHEMA_VERSION must name the last migration");

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

/* Why the last catalog_open() of this thread failed: the handle that held
 * the message is gone by then. */
static _Thread_local char open_errmsg[512];

int cdb_seterr(struct catalog *c, int r, const char *fmt, ...)
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
int cdb_sqlerr(struct catalog *c, int rc)
{
	int r = errno_of_sqlite(rc);

	if (r == -EBADMSG)
		return cdb_seterr(c, r, "%s: not a usable catalog: %s", c->path, sqlite3_errmsg(c->db));
	return cdb_seterr(c, r, "%s", sqlite3_errmsg(c->db));
}

int cdb_exec(struct catalog *c, const char *sql)
{
	int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : cdb_sqlerr(c, rc);
}

int cdb_prepare(struct catalog *c, const char *sql, sqlite3_stmt **ret)
{
	int rc = sqlite3_prepare_v2(c->db, sql, -1, ret, NULL);
	return rc == SQLITE_OK ? 0 : cdb_sqlerr(c, rc);
}


/* A cached statement, reset and with its bindings cleared. */
int cdb_cached(struct catalog *c, int which, sqlite3_stmt **ret)
{
	int rc;

	if (!c->st[which]) {
		rc = sqlite3_prepare_v3(c->db, statement_sql[which], -1, SQLITE_PREPARE_PERSISTENT, &c->st[which],
					NULL);
		if (rc != SQLITE_OK)
			return cdb_sqlerr(c, rc);
	}
	sqlite3_reset(c->st[which]);
	sqlite3_clear_bindings(c->st[which]);
	*ret = c->st[which];
	return 0;
}

/* Binds bytes as a BLOB; a zero-length one must not become NULL. */
int cdb_bind_bytes(sqlite3_stmt *s, int i, const void *p, size_t n)
{
	return sqlite3_bind_blob64(s, i, n ? p : "", n, SQLITE_TRANSIENT);
}

/* Runs a statement that returns no rows to use; returns changes or -errno. */
int cdb_step_done(struct catalog *c, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW)
		rc = SQLITE_DONE;
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return cdb_sqlerr(c, rc);
	return sqlite3_changes(c->db);
}

int cdb_pragma_int(struct catalog *c, const char *sql, int64_t *ret)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	int r, rc;

	r = cdb_prepare(c, sql, &s);
	if (r < 0)
		return r;
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? cdb_seterr(c, -EIO, "%s returned nothing", sql) : cdb_sqlerr(c, rc);
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

	r = cdb_pragma_int(c, "PRAGMA application_id", &app_id);
	if (r < 0)
		return r;
	r = cdb_pragma_int(c, "PRAGMA user_version", &version);
	if (r < 0)
		return r;
	r = cdb_pragma_int(c, "SELECT count(*) FROM sqlite_master", &tables);
	if (r < 0)
		return r;
	if (app_id != CATALOG_APPLICATION_ID && (app_id != 0 || version != 0 || tables != 0))
		return cdb_seterr(c, -EBADMSG,
			      "%s: not an fsd catalog (a SQLite database of another program)",
			      c->path);
	if (version > CATALOG_SCHEMA_VERSION)
		return cdb_seterr(c, -EPROTONOSUPPORT,
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

	r = cdb_exec(c, "BEGIN IMMEDIATE");
	if (r < 0)
		return r;
	/* Another process may have upgraded while we waited for the lock. */
	r = cdb_pragma_int(c, "PRAGMA user_version", &version);
	if (r < 0 || version >= m->version)
		goto out;
	r = cdb_exec(c, m->sql);
	if (r < 0)
		goto out;
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d; PRAGMA application_id = %d",
		 m->version, CATALOG_APPLICATION_ID);
	r = cdb_exec(c, sql);
	if (r < 0)
		goto out;
	return cdb_exec(c, "COMMIT");
out:
	sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	if (r < 0)
		return cdb_seterr(c, r, "%s: migration to schema version %d failed: %s", c->path,
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
	"CREATE INDEX IF NOT EXISTS files_hash ON files(hash) WHERE state = 0 AND hash IS NOT NULL",
	"CREATE INDEX IF NOT EXISTS files_key ON files(root_id, key, path, size, mtime_ns, ctime_ns,"
	" ino, dev, mode, hash, first_seen_ns, last_seen_ns, state, flags, error)"
	" WHERE key IS NOT NULL",
};

/* Builds any deferrable index that is missing: after a bulk load, or
 * when a process died during one. */
static int ensure_indexes(struct catalog *c)
{
	for (size_t i = 0; i < ELEMENTSOF(deferrable_indexes); i++) {
		int r = cdb_exec(c, deferrable_indexes[i]);
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
	r = cdb_exec(c, "PRAGMA foreign_keys = ON; PRAGMA cache_size = -32768");
	if (r < 0 || c->readonly)
		return r;
	/* Set before any write so that the creating transaction is already
	 * WAL; the mode is persistent in the file. */
	r = cdb_exec(c, "PRAGMA journal_mode = WAL");
	if (r < 0)
		return r;
	return cdb_exec(c, "PRAGMA synchronous = NORMAL");
}

static int open_db(struct catalog *c, unsigned flags)
{
	/* No mutex per connection: a handle is used by one thread at a time
	 * (the audit's second pass opens its own), and SQLite's serialized
	 * mode costs a lock and unlock in every step and column call. */
	int oflags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	struct stat st;
	int r, rc;

	if (flags & CATALOG_OPEN_READONLY) {
		if (stat(c->path, &st) < 0)
			return cdb_seterr(c, -errno, "%s: %s", c->path, strerror(errno));
		oflags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX;
	} else {
		r = mkdir_parents(c->path);
		if (r < 0)
			return cdb_seterr(c, r, "%s: cannot create its directory: %s", c->path,
				      strerror(-r));
	}
	if (stat(c->path, &st) == 0 && !S_ISREG(st.st_mode))
		return cdb_seterr(c, -EBADMSG, "%s: not a regular file", c->path);
	rc = sqlite3_open_v2(c->path, &c->db, oflags, NULL);
	if (rc != SQLITE_OK)
		return c->db ? cdb_sqlerr(c, rc)
			     : cdb_seterr(c, -ENOMEM, "%s: cannot open: out of memory", c->path);
	return 0;
}

/* SQLite's allocation statistics take a global mutex in every malloc and
 * free; nothing here reads them (sqlite3_memory_used(), a soft heap limit).
 * The setting only takes before SQLite initializes: a process that used
 * SQLite first keeps its own. */
static void sqlite_config_once(void)
{
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int catalog_open(const char *path, unsigned flags, struct catalog **ret)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct catalog *c;
	int64_t version = 0;
	int r;

	pthread_once(&once, sqlite_config_once);
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
	/* A read-only handle cannot migrate; it can read any version whose
	 * tables and columns are those this code queries. */
	if (version < CATALOG_READABLE_VERSION && c->readonly) {
		r = cdb_seterr(c, -EBADMSG, "%s: catalog schema version %" PRId64 " needs an upgrade to %d;"
			   " open it writable once (fsdctl scan)", path, version, CATALOG_SCHEMA_VERSION);
		goto fail;
	}
	if (!c->readonly) {
		r = migrate(c, version);
		if (r >= 0)
			r = ensure_indexes(c);
	}
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
	int r = cdb_pragma_int(c, "PRAGMA user_version", &v);
	return r < 0 ? r : (int)v;
}

int catalog_begin(struct catalog *c)
{
	if (!sqlite3_get_autocommit(c->db))
		return cdb_seterr(c, -EBUSY, "a transaction is already open");
	return cdb_exec(c, "BEGIN IMMEDIATE");
}

int catalog_commit(struct catalog *c)
{
	return cdb_exec(c, "COMMIT");
}

int catalog_rollback(struct catalog *c)
{
	return cdb_exec(c, "ROLLBACK");
}

int catalog_bulk_begin(struct catalog *c, int64_t *ret_rows)
{
	int r;

	/* Checkpoints sync the database file; during a bulk load they would
	 * stall the only writer every few thousand rows. */
	r = cdb_exec(c, "PRAGMA wal_autocheckpoint = 65536");
	if (r < 0)
		return r;
	/* The highest id: an upper bound of the row count, from the B-tree's
	 * edge rather than a count of every row. */
	return cdb_pragma_int(c, "SELECT coalesce(max(id), 0) FROM files", ret_rows);
}

int catalog_defer_indexes(struct catalog *c)
{
	bool own = sqlite3_get_autocommit(c->db);
	int r;

	if (own && (r = cdb_exec(c, "BEGIN IMMEDIATE")) < 0)
		return r;
	r = cdb_exec(c, "DROP INDEX IF EXISTS files_hash; DROP INDEX IF EXISTS files_key");
	if (own)
		r = r < 0 ? (sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL), r)
			  : cdb_exec(c, "COMMIT");
	return r;
}

int catalog_bulk_end(struct catalog *c, bool dropped)
{
	int r = 0;

	int64_t t = mono_ns();
	if (dropped)
		r = ensure_indexes(c);
	log_debug("catalog: indexes built in %.3fs", (double)(mono_ns() - t) / 1e9);
	int k = cdb_exec(c, "PRAGMA wal_autocheckpoint = 1000");
	if (r >= 0)
		r = k;
	/* Fold the WAL back in once; a busy reader only postpones it. */
	k = cdb_exec(c, "PRAGMA wal_checkpoint(PASSIVE)");
	return r < 0 ? r : (k == -EBUSY ? 0 : k);
}

bool catalog_in_transaction(struct catalog *c)
{
	return !sqlite3_get_autocommit(c->db);
}

int catalog_set_cache_size(struct catalog *c, size_t bytes)
{
	char sql[64];

	/* A negative cache_size is a size in KiB rather than in pages. */
	snprintf(sql, sizeof sql, "PRAGMA cache_size = -%zu", MAX(bytes / 1024, (size_t)64));
	return cdb_exec(c, sql);
}
