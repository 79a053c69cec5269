/* Unit tests of the catalog API on real SQLite files in a scratch
 * directory: upsert and lookup of byte paths, cursor orders, recursive
 * gone and rename, runs, state, migrations from an empty file, refusal of
 * newer, foreign and corrupt files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "catalog/catalog-internal.h"
#include "catalog/catalog.h"
#include "catalog/hash.h"
#include "common/util.h"

struct fixture {
	char dir[64];
	char path[128];
	struct catalog *c;
	int64_t root;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test-catalog.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->path, sizeof(fx->path), "%s/sub/catalog.db", fx->dir);
	assert_int_equal(catalog_open(fx->path, 0, &fx->c), 0);
	assert_int_equal(catalog_root_ensure(fx->c, "uploads", "/srv/uploads", &fx->root), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[160];

	catalog_close(fx->c);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

static void add(struct fixture *fx, const char *path, size_t len, const char *key, uint8_t h,
		int64_t size)
{
	struct catalog_file f = {
		.root_id = fx->root,
		.path = path,
		.path_len = len,
		.key = key,
		.size = size,
		.mtime_ns = 1000,
		.ctime_ns = 2000,
		.ino = 42,
		.dev = 7,
		.mode = 0100644,
		.hashed = h != 0,
	};
	memset(f.hash.b, h, sizeof(f.hash.b));
	assert_int_equal(catalog_file_upsert(fx->c, &f), 0);
}
#define ADD(fx, p, key, h, size) add(fx, p, strlen(p), key, h, size)

static int get_state(struct fixture *fx, const char *path)
{
	struct catalog_file f;
	char buf[512];
	int r = catalog_file_get(fx->c, fx->root, path, strlen(path), &f, buf, sizeof(buf));
	return r < 0 ? r : (int)f.state;
}

static void test_upsert_get_bytes(void **state)
{
	struct fixture *fx = *state;
	static const char weird[] = "dir with space/new\nline\xff\xfe.bin";
	struct catalog_file f;
	char buf[256];

	add(fx, weird, sizeof(weird) - 1, "k1", 0xab, 10);
	assert_int_equal(catalog_file_get(fx->c, fx->root, weird, sizeof(weird) - 1, &f, buf,
					  sizeof(buf)),
			 0);
	assert_int_equal(f.path_len, sizeof(weird) - 1);
	assert_memory_equal(f.path, weird, sizeof(weird) - 1);
	assert_string_equal(f.key, "k1");
	assert_true(f.hashed);
	assert_int_equal(f.hash.b[15], 0xab);
	assert_int_equal(f.size, 10);
	assert_int_equal(f.ino, 42);
	assert_int_equal(f.mode, 0100644);
	int64_t first = f.first_seen_ns;

	/* A second upsert replaces the data but keeps first_seen. */
	add(fx, weird, sizeof(weird) - 1, NULL, 0, 20);
	assert_int_equal(catalog_file_get(fx->c, fx->root, weird, sizeof(weird) - 1, &f, buf,
					  sizeof(buf)),
			 0);
	assert_int_equal(f.size, 20);
	assert_null(f.key);
	assert_false(f.hashed);
	assert_int_equal(f.first_seen_ns, first);

	assert_int_equal(catalog_file_get(fx->c, fx->root, weird, sizeof(weird) - 1, &f, buf, 8),
			 -ENOBUFS);
	assert_int_equal(catalog_file_get(fx->c, fx->root, "nope", 4, &f, buf, sizeof(buf)),
			 -ENOENT);
	/* A path is bytes: "a" and "a\xff" are different rows. */
	add(fx, "a\xff", 2, NULL, 0, 1);
	assert_int_equal(catalog_file_get(fx->c, fx->root, "a", 1, &f, buf, sizeof(buf)), -ENOENT);
}

static void collect(struct fixture *fx, const struct catalog_query *q, char *out, size_t n)
{
	struct catalog_cursor *cur;
	const struct catalog_file *f;
	int r;

	out[0] = '\0';
	assert_int_equal(catalog_cursor_open(fx->c, q, &cur), 0);
	while ((r = catalog_cursor_next(cur, &f)) > 0) {
		strncat(out, f->path, n - strlen(out) - 2);
		strcat(out, ";");
	}
	assert_int_equal(r, 0);
	catalog_cursor_free(cur);
}

static void test_cursor_orders(void **state)
{
	struct fixture *fx = *state;
	char out[512];

	ADD(fx, "b", "k2", 2, 1);
	ADD(fx, "a/x", "k3", 1, 1);
	ADD(fx, "a y", "k1", 1, 1);
	ADD(fx, "c", NULL, 3, 1);
	ADD(fx, "d", "k0", 0, 1);

	collect(fx, &(struct catalog_query){.root_id = fx->root, .state = -1}, out, sizeof(out));
	assert_string_equal(out, "a y;a/x;b;c;d;");
	collect(fx, &(struct catalog_query){.order = CATALOG_ORDER_KEY, .state = -1, .keyed_only = true},
		out, sizeof(out));
	assert_string_equal(out, "d;a y;b;a/x;");
	/* Key order over every row of a root: those without a key first. */
	ADD(fx, "0 nokey", NULL, 4, 1);
	collect(fx, &(struct catalog_query){.root_id = fx->root, .order = CATALOG_ORDER_KEY, .state = -1},
		out, sizeof(out));
	assert_string_equal(out, "0 nokey;c;d;a y;b;a/x;");
	assert_int_equal(catalog_file_gone(fx->c, fx->root, "0 nokey", 7, false, now_ns()), 1);
	collect(fx, &(struct catalog_query){.root_id = fx->root, .order = CATALOG_ORDER_KEY, .state = 0},
		out, sizeof(out));
	assert_string_equal(out, "c;d;a y;b;a/x;");
	assert_int_equal(catalog_forget_gone(fx->c, INT64_MAX), 1);
	collect(fx, &(struct catalog_query){.order = CATALOG_ORDER_HASH, .state = 0,
					    .duplicates_only = true},
		out, sizeof(out));
	assert_string_equal(out, "a y;a/x;");
	/* A gone duplicate is no duplicate. */
	assert_int_equal(catalog_file_gone(fx->c, fx->root, "a/x", 3, false, now_ns()), 1);
	collect(fx, &(struct catalog_query){.order = CATALOG_ORDER_HASH, .state = -1,
					    .duplicates_only = true},
		out, sizeof(out));
	assert_string_equal(out, "");
	collect(fx, &(struct catalog_query){.state = CATALOG_GONE}, out, sizeof(out));
	assert_string_equal(out, "a/x;");
}

static void test_gone_recursive(void **state)
{
	struct fixture *fx = *state;

	ADD(fx, "d/a", NULL, 1, 1);
	ADD(fx, "d/s/b", NULL, 1, 1);
	ADD(fx, "d.txt", NULL, 1, 1);
	ADD(fx, "d0", NULL, 1, 1);
	ADD(fx, "dd/c", NULL, 1, 1);
	assert_int_equal(catalog_file_gone(fx->c, fx->root, "d", 1, true, now_ns()), 2);
	assert_int_equal(get_state(fx, "d/a"), CATALOG_GONE);
	assert_int_equal(get_state(fx, "d/s/b"), CATALOG_GONE);
	assert_int_equal(get_state(fx, "d.txt"), CATALOG_PRESENT);
	assert_int_equal(get_state(fx, "d0"), CATALOG_PRESENT);
	assert_int_equal(get_state(fx, "dd/c"), CATALOG_PRESENT);
	/* Already gone rows are not counted again. */
	assert_int_equal(catalog_file_gone(fx->c, fx->root, "d", 1, true, now_ns()), 0);

	struct catalog_root_stats st;
	assert_int_equal(catalog_root_stats(fx->c, fx->root, &st), 0);
	assert_int_equal(st.files, 3);
	assert_int_equal(st.gone, 2);

	/* Forgetting drops gone rows older than the cut only. */
	assert_int_equal(catalog_forget_gone(fx->c, 0), 0);
	assert_int_equal(catalog_forget_gone(fx->c, now_ns() + 1), 2);
	assert_int_equal(get_state(fx, "d/a"), -ENOENT);

	assert_int_equal(catalog_file_gone(fx->c, fx->root, "", 0, true, now_ns()), 3);
}

static int count_len8(const struct catalog_file *g, void *ud)
{
	(*(int *)ud)++;
	return g->path_len == 8 ? 0 : -EINVAL;
}

static void test_rename(void **state)
{
	struct fixture *fx = *state;
	struct catalog_file f;
	char buf[256];

	ADD(fx, "old/a", "ka", 5, 1);
	ADD(fx, "old/s/b\xff", NULL, 6, 1);
	ADD(fx, "old.keep", NULL, 7, 1);
	ADD(fx, "new/stale", NULL, 8, 1);
	assert_int_equal(catalog_file_get(fx->c, fx->root, "old/a", 5, &f, buf, sizeof(buf)), 0);
	int64_t id = f.id;

	assert_int_equal(catalog_file_rename(fx->c, fx->root, "old", 3, "new", 3, true), 2);
	assert_int_equal(catalog_file_get(fx->c, fx->root, "new/a", 5, &f, buf, sizeof(buf)), 0);
	assert_int_equal(f.id, id);
	assert_int_equal(f.hash.b[0], 5);
	assert_string_equal(f.key, "ka");
	assert_int_equal(get_state(fx, "new/s/b\xff"), CATALOG_PRESENT);
	assert_int_equal(get_state(fx, "old/a"), -ENOENT);
	assert_int_equal(get_state(fx, "old.keep"), CATALOG_PRESENT);
	/* What the rename landed on is replaced. */
	assert_int_equal(get_state(fx, "new/stale"), -ENOENT);

	/* The directory index follows the rename. */
	int n = 0;
	assert_int_equal(catalog_dir_load(fx->c, fx->root, "new/s", 5, count_len8, &n), 0);
	assert_int_equal(n, 1);

	assert_int_equal(catalog_file_rename(fx->c, fx->root, "new/a", 5, "top", 3, false), 1);
	assert_int_equal(get_state(fx, "top"), CATALOG_PRESENT);
	assert_int_equal(catalog_file_rename(fx->c, fx->root, "new", 3, "new/x", 5, true), -EINVAL);
}

static int add_name(const char *name, size_t len, void *ud)
{
	char *out = ud;
	strncat(out, name, len);
	strcat(out, ";");
	return 0;
}

static int count_row(const struct catalog_file *f, void *ud)
{
	(*(int *)ud)++;
	return 0;
}

static void test_dir_queries(void **state)
{
	struct fixture *fx = *state;
	char out[256] = "";
	int n = 0;

	ADD(fx, "top.txt", NULL, 1, 1);
	ADD(fx, "x/f", NULL, 1, 1);
	ADD(fx, "x y/f", NULL, 1, 1);
	ADD(fx, "x/deep/er/f", NULL, 1, 1);
	ADD(fx, "x-1/a/f", NULL, 1, 1);
	ADD(fx, "y/f", NULL, 1, 1);
	ADD(fx, "z/f", NULL, 1, 1);
	assert_int_equal(catalog_file_gone(fx->c, fx->root, "z/f", 3, false, now_ns()), 1);

	assert_int_equal(catalog_dir_children(fx->c, fx->root, "", 0, add_name, out), 0);
	assert_string_equal(out, "x;x y;x-1;x;y;");
	out[0] = '\0';
	assert_int_equal(catalog_dir_children(fx->c, fx->root, "x", 1, add_name, out), 0);
	assert_string_equal(out, "deep;");
	assert_int_equal(catalog_dir_load(fx->c, fx->root, "", 0, count_row, &n), 0);
	assert_int_equal(n, 1);
	n = 0;
	assert_int_equal(catalog_dir_load(fx->c, fx->root, "x", 1, count_row, &n), 0);
	assert_int_equal(n, 1);
}

static int run_cb(const struct catalog_run *r, void *ud)
{
	char *out = ud;
	strcat(out, r->kind);
	strcat(out, ":");
	strcat(out, r->outcome);
	strcat(out, ";");
	return 0;
}

static void test_runs_and_state(void **state)
{
	struct fixture *fx = *state;
	int64_t a, b;
	char out[256] = "", *v = NULL;

	assert_int_equal(catalog_run_begin(fx->c, "scan", &a), 0);
	assert_int_equal(catalog_run_begin(fx->c, "audit", &b), 0);
	assert_int_equal(catalog_run_end(fx->c, &(struct catalog_run){.id = a, .files = 3,
								     .outcome = "ok",
								     .detail = "{\"x\":1}"}),
			 0);
	assert_int_equal(catalog_runs_foreach(fx->c, NULL, 0, run_cb, out), 0);
	assert_string_equal(out, "audit:running;scan:ok;");
	out[0] = '\0';
	assert_int_equal(catalog_runs_foreach(fx->c, "scan", 1, run_cb, out), 0);
	assert_string_equal(out, "scan:ok;");
	assert_int_equal(catalog_run_end(fx->c, &(struct catalog_run){.id = 999}), -ENOENT);

	assert_int_equal(catalog_state_get(fx->c, "owners", &v), -ENOENT);
	assert_int_equal(catalog_state_set(fx->c, "owners", "10"), 0);
	assert_int_equal(catalog_state_set(fx->c, "owners", "12"), 0);
	assert_int_equal(catalog_state_get(fx->c, "owners", &v), 0);
	assert_string_equal(v, "12");
	free(v);
}

static void test_transactions(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(catalog_begin(fx->c), 0);
	assert_int_equal(catalog_begin(fx->c), -EBUSY);
	ADD(fx, "tx", NULL, 1, 1);
	assert_int_equal(catalog_rollback(fx->c), 0);
	assert_int_equal(get_state(fx, "tx"), -ENOENT);
	assert_int_equal(catalog_begin(fx->c), 0);
	ADD(fx, "tx", NULL, 1, 1);
	assert_int_equal(catalog_commit(fx->c), 0);
	assert_int_equal(get_state(fx, "tx"), CATALOG_PRESENT);
}

static void sql(const char *path, const char *stmt)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, stmt, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static int count_indexes(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int n;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
					    " AND name IN ('files_path', 'files_key', 'files_hash', 'files_dir')",
					    -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static bool key_index_covers(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	bool covers;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_master WHERE name = 'files_key'",
					    -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	covers = strstr((const char *)sqlite3_column_text(st, 0), "first_seen_ns") != NULL;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return covers;
}

/* Schema 3: the hash, key and changed indexes hold only their rows. */
static bool indexes_partial(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int n;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
					    " AND name IN ('files_key', 'files_hash', 'files_changed')"
					    " AND sql LIKE '% WHERE %'",
					    -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n == 3;
}

/* Whether SQLite's plan for `query` mentions `what`. */
static bool plan_uses(const char *path, const char *query, const char *what)
{
	char q[1024];
	sqlite3 *db;
	sqlite3_stmt *st;
	bool found = false;

	snprintf(q, sizeof(q), "EXPLAIN QUERY PLAN %s", query);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW)
		if (strstr((const char *)sqlite3_column_text(st, 3), what))
			found = true;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return found;
}

static void write_file(const char *path, const void *data, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(loop_write(fd, data, n), 0);
	close(fd);
}

static void test_migrations(void **state)
{
	struct fixture *fx = *state;
	struct catalog *c = NULL;
	char p[192];

	/* An empty file (version 0) is created in place. */
	snprintf(p, sizeof(p), "%s/empty.db", fx->dir);
	write_file(p, "", 0);
	assert_int_equal(catalog_open(p, 0, &c), 0);
	assert_int_equal(catalog_schema_version(c), CATALOG_SCHEMA_VERSION);
	catalog_close(c);

	/* Reopening an up-to-date catalog keeps its rows. */
	ADD(fx, "kept", NULL, 1, 1);
	catalog_close(fx->c);
	assert_int_equal(catalog_open(fx->path, 0, &fx->c), 0);
	assert_int_equal(get_state(fx, "kept"), CATALOG_PRESENT);
	assert_int_equal(catalog_open(fx->path, CATALOG_OPEN_READONLY, &c), 0);
	catalog_close(c);

	/* A process that died during a first load left the deferred indexes
	 * dropped: the next open builds them again. */
	catalog_close(fx->c);
	fx->c = NULL;
	sql(fx->path, "DROP INDEX files_hash; DROP INDEX files_key");
	assert_int_equal(catalog_open(fx->path, 0, &fx->c), 0);
	assert_int_equal(count_indexes(fx->path), 4);

	/* A version 1 catalog (narrow key index) is upgraded in place. */
	ADD(fx, "v1 row", "k", 1, 1);
	catalog_close(fx->c);
	fx->c = NULL;
	sql(fx->path, "DROP INDEX files_key; CREATE INDEX files_key ON files(root_id, key);"
		      " PRAGMA user_version = 1");
	/* Read-only, it is read as it is. */
	assert_int_equal(catalog_open(fx->path, CATALOG_OPEN_READONLY, &c), 0);
	assert_int_equal(catalog_schema_version(c), 1);
	catalog_close(c);
	assert_int_equal(catalog_open(fx->path, 0, &fx->c), 0);
	assert_int_equal(catalog_schema_version(fx->c), CATALOG_SCHEMA_VERSION);
	assert_int_equal(get_state(fx, "v1 row"), CATALOG_PRESENT);
	assert_int_equal(count_indexes(fx->path), 4);
	assert_true(key_index_covers(fx->path));
	assert_true(indexes_partial(fx->path));

	/* A version 2 catalog (full hash and key indexes): read as it is
	 * read-only, upgraded to partial indexes when opened writable. */
	catalog_close(fx->c);
	fx->c = NULL;
	sql(fx->path, "DROP INDEX files_key; DROP INDEX files_hash; DROP INDEX files_changed;"
		      " CREATE INDEX files_hash ON files(hash);"
		      " CREATE INDEX files_key ON files(root_id, key, path, size, mtime_ns, ctime_ns,"
		      " ino, dev, mode, hash, first_seen_ns, last_seen_ns, state, flags, error);"
		      " PRAGMA user_version = 2");
	assert_int_equal(catalog_open(fx->path, CATALOG_OPEN_READONLY, &c), 0);
	assert_int_equal(catalog_schema_version(c), 2);
	catalog_close(c);
	assert_false(indexes_partial(fx->path));
	assert_int_equal(catalog_open(fx->path, 0, &fx->c), 0);
	assert_int_equal(catalog_schema_version(fx->c), 3);
	assert_int_equal(get_state(fx, "v1 row"), CATALOG_PRESENT);
	assert_true(key_index_covers(fx->path));
	assert_true(indexes_partial(fx->path));
	assert_true(plan_uses(fx->path, "SELECT hash FROM files WHERE state = 0 AND hash IS NOT NULL"
					" GROUP BY hash HAVING count(*) > 1", "INDEX files_hash"));
	assert_true(plan_uses(fx->path, "SELECT f.id, f.path, f.key, f.hash, f.state FROM files f WHERE f.root_id = 1 AND f.key IS NOT NULL"
					" ORDER BY f.root_id, f.key, f.path", "COVERING INDEX files_key"));
	assert_true(plan_uses(fx->path, "SELECT * FROM files f WHERE 1 AND (f.flags & 1) <> 0"
					" ORDER BY f.root_id, f.path", "INDEX files_changed"));

	/* Written by a newer fsd: refused, and left as it was. */
	snprintf(p, sizeof(p), "%s/newer.db", fx->dir);
	assert_int_equal(catalog_open(p, 0, &c), 0);
	catalog_close(c);
	sql(p, "PRAGMA user_version = 99");
	assert_int_equal(catalog_open(p, 0, &c), -EPROTONOSUPPORT);

	/* Some other program's database. */
	snprintf(p, sizeof(p), "%s/webui.db", fx->dir);
	sql(p, "CREATE TABLE file (id TEXT PRIMARY KEY)");
	assert_int_equal(catalog_open(p, 0, &c), -EBADMSG);

	snprintf(p, sizeof(p), "%s/missing.db", fx->dir);
	assert_int_equal(catalog_open(p, CATALOG_OPEN_READONLY, &c), -ENOENT);
}

static void test_corrupt(void **state)
{
	struct fixture *fx = *state;
	struct catalog *c = NULL;
	char p[192], junk[8192];
	struct stat st;

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 7 + 3);
	snprintf(p, sizeof(p), "%s/junk.db", fx->dir);
	write_file(p, junk, sizeof(junk));
	assert_int_equal(catalog_open(p, 0, &c), -EBADMSG);
	assert_null(c);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, sizeof(junk));

	/* A real catalog whose header is damaged. */
	snprintf(p, sizeof(p), "%s/damaged.db", fx->dir);
	assert_int_equal(catalog_open(p, 0, &c), 0);
	catalog_close(c);
	int fd = open(p, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "garbage!garbage!", 16, 0), 16);
	close(fd);
	assert_int_equal(catalog_open(p, 0, &c), -EBADMSG);
}

static void test_errmsg(void **state)
{
	struct fixture *fx = *state;
	char junk[4096];

	memset(junk, 'x', sizeof(junk));
	char p[192];
	snprintf(p, sizeof(p), "%s/junk2.db", fx->dir);
	write_file(p, junk, sizeof(junk));
	/* A failed open leaves its message for catalog_errmsg(NULL). */
	struct catalog *c = NULL;
	assert_int_equal(catalog_open(p, 0, &c), -EBADMSG);
	assert_non_null(strstr(catalog_errmsg(NULL), "junk2.db: not a usable catalog"));
	assert_string_equal(catalog_path(fx->c), fx->path);
	assert_string_equal(catalog_errmsg(fx->c), "");
	assert_int_equal(catalog_file_gone(fx->c, fx->root, "x", 1, false, 0), 0);
	struct catalog_file f = {.root_id = 999, .path = "x", .path_len = 1};
	assert_true(catalog_file_upsert(fx->c, &f) < 0);
	assert_non_null(strstr(catalog_errmsg(fx->c), "FOREIGN KEY"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_upsert_get_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cursor_orders, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gone_recursive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dir_queries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_runs_and_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errmsg, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
