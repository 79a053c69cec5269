/* Reference sources on real SQLite files: owners in bytewise key order
 * (text and integer keys), the union of live queries, key-shaped tokens
 * in JSON text, random-order checks, removal in one transaction, and the
 * failures that must fail closed: a missing database, a locked one, bad
 * SQL, keys out of order, writes on a read-only handle. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "reaper/refs-internal.h"

static char dir[] = "/tmp/fsd-test-refs.XXXXXX";
static char db_path[512];
static char url[600];

#define U1 "0a1b2c3d-0000-4000-8000-000000000001"
#define U2 "0a1b2c3d-0000-4000-8000-000000000002"
#define U3 "0a1b2c3d-0000-4000-8000-000000000003"
#define U4 "0a1b2c3d-0000-4000-8000-000000000004"
#define U5 "0a1b2c3d-0000-4000-8000-000000000005"

static void exec_sql(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *err = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
	sqlite3_close(db);
}

/* A small Open WebUI-shaped database: owners are `file` rows; chat_file
 * and knowledge_file hold keys; chat JSON holds more. U5 is held by none. */
static int setup(void **state)
{
	static int n;
	if (n++ == 0)
		assert_non_null(mkdtemp(dir));
	snprintf(db_path, sizeof(db_path), "%s/webui-%d.db", dir, n);
	snprintf(url, sizeof(url), "sqlite://%s", db_path);
	exec_sql(db_path,
		 "CREATE TABLE file (id VARCHAR NOT NULL PRIMARY KEY, path TEXT, created_at BIGINT);"
		 "CREATE TABLE chat_file (id TEXT PRIMARY KEY, file_id TEXT NOT NULL);"
		 "CREATE TABLE knowledge_file (id TEXT PRIMARY KEY, file_id TEXT NOT NULL);"
		 "CREATE TABLE chat (id TEXT PRIMARY KEY, chat JSON);"
		 "CREATE TABLE num (id INTEGER PRIMARY KEY, path TEXT);"
		 "INSERT INTO file VALUES"
		 " ('" U3 "', '/app/backend/data/uploads/" U3 "_c.pdf', 300),"
		 " ('" U1 "', '/app/backend/data/uploads/" U1 "_a.pdf', 100),"
		 " ('" U5 "', '/app/backend/data/uploads/" U5 "_e.pdf', NULL),"
		 " ('" U2 "', NULL, 200),"
		 " ('" U4 "', '/app/backend/data/uploads/" U4 "_d.pdf', 400),"
		 " ('B', '/x/B', 1), ('a', '/x/a', 2), ('A', '/x/A', 3);"
		 "INSERT INTO chat_file VALUES ('c1', '" U1 "'), ('c2', '" U1 "'), ('c3', 'zz');"
		 "INSERT INTO knowledge_file VALUES ('k1', '" U2 "'), ('k2', 'A');"
		 "INSERT INTO chat VALUES ('h1', '{\"files\":[{\"id\":\"" U3 "\",\"type\":\"file\"}]}'),"
		 " ('h2', 'see /api/v1/files/0A1B2C3D-0000-4000-8000-000000000004/content'),"
		 " ('h3', NULL), ('h4', 'not-a-uuid 0a1b2c3d-0000-4000-8000-00000000000'),"
		 " ('h5', '{\"id\":\"ffffffff-0000-4000-8000-00000000000f\"}');"
		 "INSERT INTO num VALUES (9, 'n9'), (10, 'n10'), (100, 'n100');");
	return 0;
}

static struct config_source src_default(void)
{
	static char *live[] = {(char *)"SELECT file_id FROM chat_file",
			       (char *)"SELECT file_id FROM knowledge_file;", NULL};
	static char *live_text[] = {(char *)"SELECT chat FROM chat", NULL};
	return (struct config_source){
		.name = (char *)"webui",
		.url = url,
		.owners = (char *)"SELECT id, path, created_at FROM file",
		.live = live,
		.live_text = live_text,
		.busy_timeout_ms = 200,
	};
}

static struct refsource *open_ok(const struct config_source *src, unsigned flags)
{
	struct refsource *rs = NULL;
	char *err = NULL;
	int r = refsource_open(src, flags, &rs, &err);
	if (r < 0)
		fail_msg("open: %d %s", r, err);
	return rs;
}

static void test_owners_sorted(void **state)
{
	struct config_source src = src_default();
	_cleanup_(refsource_closep) struct refsource *rs = open_ok(&src, 0);
	_cleanup_(refsource_owners_freep) struct refsource_owners *it = NULL;
	const struct refsource_owner *o;
	const char *want[] = {U1, U2, U3, U4, U5, "A", "B", "a"};
	size_t n = 0;

	assert_int_equal(refsource_owners_open(rs, &it), 0);
	while (refsource_owners_next(it, &o) == 1) {
		assert_true(n < ELEMENTSOF(want));
		assert_string_equal(o->key, want[n]);
		assert_int_equal(o->key_len, strlen(want[n]));
		if (n == 0) {
			assert_string_equal(o->path, "/app/backend/data/uploads/" U1 "_a.pdf");
			assert_int_equal(o->created_s, 100);
		}
		if (n == 1)
			assert_null(o->path);
		if (n == 4)
			assert_int_equal(o->created_s, -1);
		n++;
	}
	assert_int_equal(n, ELEMENTSOF(want));
	struct refsource_stats st;
	refsource_get_stats(rs, &st);
	assert_int_equal(st.owners, 8);
}

static void test_owners_integer_keys(void **state)
{
	struct config_source src = src_default();
	src.owners = (char *)"SELECT id, path FROM num";
	_cleanup_(refsource_closep) struct refsource *rs = open_ok(&src, 0);
	_cleanup_(refsource_owners_freep) struct refsource_owners *it = NULL;
	const struct refsource_owner *o;
	const char *want[] = {"10", "100", "9"};
	size_t n = 0;

	assert_int_equal(refsource_owners_open(rs, &it), 0);
	while (refsource_owners_next(it, &o) == 1) {
		assert_string_equal(o->key, want[n]);
		assert_int_equal(o->created_s, -1);
		n++;
	}
	assert_int_equal(n, 3);
}

static void test_live_merge_and_text(void **state)
{
	struct config_source src = src_default();
	_cleanup_(refsource_closep) struct refsource *rs = open_ok(&src, 0);
	_cleanup_(refsource_owners_freep) struct refsource_owners *it = NULL;
	_cleanup_(refsource_live_freep) struct refsource_live *l = NULL;
	const struct refsource_owner *o;
	/* U1 chat_file, U2 knowledge_file, U3 JSON id, U4 URL (upper case),
	 * A knowledge_file; U5, B, a held by nothing. */
	const int want[] = {1, 1, 1, 1, 0, 1, 0, 0};
	size_t n = 0;

	assert_int_equal(refsource_snapshot_begin(rs), 0);
	assert_int_equal(refsource_owners_open(rs, &it), 0);
	assert_int_equal(refsource_live_open(rs, &l), 0);
	while (refsource_owners_next(it, &o) == 1) {
		int r = refsource_live_check(l, o->key, o->key_len);
		if (r != want[n])
			fail_msg("key %s: live %d, expected %d", o->key, r, want[n]);
		n++;
	}
	assert_int_equal(n, 8);
	/* keys go backwards: refused, not answered */
	assert_int_equal(refsource_live_check(l, "0", 1), -EINVAL);
	refsource_live_free(TAKE_PTR(l));
	refsource_owners_free(TAKE_PTR(it));
	assert_int_equal(refsource_snapshot_end(rs), 0);

	struct refsource_stats st;
	refsource_get_stats(rs, &st);
	assert_int_equal(st.owners_live, 5);
	assert_int_equal(st.live_text_rows, 5);
	assert_int_equal(st.live_tokens, 3); /* U3, U4 and one that is no owner's */
}

/* Past the token limit, only tokens that are owner keys are kept: the
 * same answers, fewer tokens held. */
static void test_tokens_narrowed(void **state)
{
	struct config_source src = src_default();
	_cleanup_(refsource_closep) struct refsource *rs = open_ok(&src, 0);
	size_t saved = refs_token_limit;
	struct refsource_stats st;

	refs_token_limit = 1;
	assert_int_equal(refsource_snapshot_begin(rs), 0);
	assert_int_equal(refsource_is_live(rs, U3, strlen(U3)), 1);
	assert_int_equal(refsource_is_live(rs, U4, strlen(U4)), 1);
	assert_int_equal(refsource_is_live(rs, U5, strlen(U5)), 0);
	assert_int_equal(refsource_is_live(rs, "ffffffff-0000-4000-8000-00000000000f", 36), 0);
	assert_int_equal(refsource_snapshot_end(rs), 0);
	refs_token_limit = saved;
	refsource_get_stats(rs, &st);
	assert_int_equal(st.live_tokens, 2);
}

static void test_random_checks(void **state)
{
	struct config_source src = src_default();
	_cleanup_(refsource_closep) struct refsource *rs = open_ok(&src, 0);
	const char *keys[] = {U5, U4, "zz", U1, "nope"};
	bool live[5];

	assert_int_equal(refsource_snapshot_begin(rs), 0);
	assert_int_equal(refsource_live_batch(rs, keys, 5, live), 0);
	assert_false(live[0]);
	assert_true(live[1]);
	assert_true(live[2]);
	assert_true(live[3]);
	assert_false(live[4]);
	assert_int_equal(refsource_is_owner(rs, U5, strlen(U5)), 1);
	assert_int_equal(refsource_is_owner(rs, "zz", 2), 0);
	assert_int_equal(refsource_snapshot_end(rs), 0);
}

static int count_tokens(const char *tok, size_t len, void *ud)
{
	struct refkeys *k = ud;
	return refkeys_add(k, tok, len) < 0 ? -ENOMEM : 0;
}

static void test_token_scanning(void **state)
{
	_cleanup_(refscan_freep) struct refscan *s = NULL;
	_cleanup_(refkeys_freep) struct refkeys *k = NULL;
	const char *text = "{\"id\":\"" U1 "\"} /api/v1/files/" U2 "/content "
			   "file-" U3 ", " U1 "_x.pdf DEADBEEF-0000-4000-8000-00000000000A";
	char buf[64];

	assert_int_equal(refscan_new(NULL, &s), 0);
	assert_int_equal(refkeys_new(&k), 0);
	assert_int_equal(refscan_text(s, text, strlen(text), count_tokens, k), 0);
	assert_int_equal(refkeys_size(k), 4);
	assert_true(refkeys_contains(k, U2, strlen(U2)));
	assert_true(refkeys_contains(k, "deadbeef-0000-4000-8000-00000000000a", 36));
	assert_false(refkeys_contains(k, U4, strlen(U4)));
	assert_int_equal(refscan_normalize(s, "ABC", 3, buf, sizeof(buf)), 3);
	assert_string_equal(buf, "abc");
	refscan_free(TAKE_PTR(s));

	/* an ERE: the first group is the token; a NUL byte splits the text */
	refkeys_free(TAKE_PTR(k));
	assert_int_equal(refkeys_new(&k), 0);
	assert_int_equal(refscan_new("doc:([0-9]+)", &s), 0);
	const char bin[] = "doc:12 doc:34\0doc:56 doc:x";
	assert_int_equal(refscan_text(s, bin, sizeof(bin) - 1, count_tokens, k), 0);
	assert_int_equal(refkeys_size(k), 3);
	assert_true(refkeys_contains(k, "56", 2));
	assert_int_equal(refscan_normalize(s, "ABC", 3, buf, sizeof(buf)), 3);
	assert_string_equal(buf, "ABC");
	refscan_free(TAKE_PTR(s));
	assert_int_equal(refscan_new("(unclosed", &s), -EINVAL);
}

static void test_refkeys_many(void **state)
{
	_cleanup_(refkeys_freep) struct refkeys *k = NULL;
	char key[32];

	assert_int_equal(refkeys_new(&k), 0);
	for (int i = 0; i < 100000; i++) {
		int n = snprintf(key, sizeof(key), "key-%d", i);
		assert_int_equal(refkeys_add(k, key, (size_t)n), 1);
	}
	assert_int_equal(refkeys_add(k, "key-7", 5), 0);
	assert_int_equal(refkeys_size(k), 100000);
	for (int i = 0; i < 100000; i += 7) {
		int n = snprintf(key, sizeof(key), "key-%d", i);
		assert_true(refkeys_contains(k, key, (size_t)n));
	}
	assert_false(refkeys_contains(k, "key-100000", 10));
}

static void test_missing_db(void **state)
{
	struct config_source src = src_default();
	char missing[600];
	struct refsource *rs = NULL;
	char *err = NULL;

	snprintf(missing, sizeof(missing), "sqlite://%s/nothing/webui.db", dir);
	src.url = missing;
	assert_int_equal(refsource_open(&src, 0, &rs, &err), -ENOENT);
	assert_null(rs);
	assert_non_null(err);
	assert_non_null(strstr(err, "source 'webui'"));
	assert_non_null(strstr(err, "/nothing/webui.db"));
	free(err);

	struct stat st;
	char parent[600];
	snprintf(parent, sizeof(parent), "%s/nothing", dir);
	assert_int_equal(stat(parent, &st), -1); /* nothing was created */
}

static void test_locked_db(void **state)
{
	struct config_source src = src_default();
	sqlite3 *holder = NULL;
	struct refsource *rs = NULL;
	char *err = NULL;

	/* rollback-journal mode: an exclusive lock keeps readers out */
	assert_int_equal(sqlite3_open(db_path, &holder), SQLITE_OK);
	assert_int_equal(sqlite3_exec(holder, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(refsource_open(&src, 0, &rs, &err), -EBUSY);
	assert_non_null(err);
	assert_non_null(strstr(err, "locked"));
	assert_non_null(strstr(err, "webui"));
	free(err);
	assert_int_equal(sqlite3_exec(holder, "COMMIT", NULL, NULL, NULL), SQLITE_OK);

	/* locked after opening: the query fails with -EBUSY, not "no rows" */
	rs = open_ok(&src, 0);
	_cleanup_(refsource_owners_freep) struct refsource_owners *it = NULL;
	const struct refsource_owner *o;
	assert_int_equal(sqlite3_exec(holder, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
	int r = refsource_owners_open(rs, &it);
	if (r >= 0)
		r = refsource_owners_next(it, &o);
	assert_int_equal(r, -EBUSY);
	assert_non_null(strstr(refsource_errmsg(rs), "locked"));
	sqlite3_exec(holder, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(holder);
	refsource_owners_free(TAKE_PTR(it));
	refsource_close(rs);
}

static void test_bad_sql(void **state)
{
	struct config_source src = src_default();
	static char *bad_live[] = {(char *)"SELECT file_id FROM chat_file",
				   (char *)"SELECT nope FROM knowledge_file", NULL};
	_cleanup_(refsource_owners_freep) struct refsource_owners *it = NULL;
	_cleanup_(refsource_live_freep) struct refsource_live *l = NULL;

	src.owners = (char *)"SELECT id, path FROM files";
	struct refsource *rs = open_ok(&src, 0);
	assert_int_equal(refsource_owners_open(rs, &it), -EINVAL);
	assert_non_null(strstr(refsource_errmsg(rs), "source 'webui': owners query"));
	assert_non_null(strstr(refsource_errmsg(rs), "no such table: files"));

	src.owners = (char *)"SELECT id, path, created_at, 1, 2 FROM file";
	assert_int_equal(refsource_owners_open(rs, &it), -EINVAL);
	assert_non_null(strstr(refsource_errmsg(rs), "5 columns"));

	src.owners = (char *)"SELECT id FROM file WHERE id = ?";
	assert_int_equal(refsource_owners_open(rs, &it), -EINVAL);
	assert_non_null(strstr(refsource_errmsg(rs), "parameters"));

	src.owners = (char *)"SELECT id, path FROM file; DELETE FROM file";
	assert_int_equal(refsource_owners_open(rs, &it), -EINVAL);
	assert_non_null(strstr(refsource_errmsg(rs), "more than one statement"));

	src.live = bad_live;
	assert_int_equal(refsource_live_open(rs, &l), -EINVAL);
	assert_non_null(strstr(refsource_errmsg(rs), "live query #2"));
	assert_non_null(strstr(refsource_errmsg(rs), "no such column: nope"));
	refsource_close(rs);
}

static void test_readonly(void **state)
{
	struct config_source src = src_default();
	static char *removes[] = {(char *)"DELETE FROM chat_file WHERE file_id = :key",
				  (char *)"DELETE FROM file WHERE id = :key", NULL};
	src.remove = removes;
	const char *keys[] = {U1, U5};
	struct stat before, after;

	assert_int_equal(stat(db_path, &before), 0);
	struct refsource *rs = open_ok(&src, 0);
	assert_int_equal(refsource_remove(rs, keys, 2), -EROFS);
	refsource_close(rs);
	assert_int_equal(stat(db_path, &after), 0);
	assert_int_equal(before.st_size, after.st_size);
	assert_int_equal(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
	assert_int_equal(before.st_mtim.tv_sec, after.st_mtim.tv_sec);

	/* read-write: both statements for both keys, one transaction */
	rs = open_ok(&src, REFSOURCE_READWRITE);
	assert_int_equal(refsource_remove(rs, keys, 2), 2);
	assert_int_equal(refsource_is_owner(rs, U1, strlen(U1)), 0);
	assert_int_equal(refsource_is_live(rs, U1, strlen(U1)), 0);
	assert_int_equal(refsource_is_owner(rs, U2, strlen(U2)), 1);

	/* inside a snapshot, rolled back: nothing happened */
	const char *k2[] = {U2};
	assert_int_equal(refsource_snapshot_begin(rs), 0);
	assert_int_equal(refsource_remove(rs, k2, 1), 1);
	assert_int_equal(refsource_is_owner(rs, U2, strlen(U2)), 0);
	assert_int_equal(refsource_snapshot_rollback(rs), 0);
	assert_int_equal(refsource_is_owner(rs, U2, strlen(U2)), 1);
	refsource_close(rs);
}

/* WAL, as Open WebUI runs it: a read-only handle reads while a writer
 * holds the database open with uncheckpointed changes in the -wal. */
static void test_wal_readonly(void **state)
{
	struct config_source src = src_default();
	sqlite3 *writer = NULL;
	const struct refsource_owner *o;
	size_t n = 0;

	assert_int_equal(sqlite3_open(db_path, &writer), SQLITE_OK);
	assert_int_equal(sqlite3_exec(writer, "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;"
					      "INSERT INTO file VALUES ('w', '/x/w', 5);"
					      "BEGIN IMMEDIATE; INSERT INTO file VALUES ('x', '/x/x', 6);",
				     NULL, NULL, NULL),
			 SQLITE_OK);
	struct refsource *rs = open_ok(&src, 0);
	_cleanup_(refsource_owners_freep) struct refsource_owners *it = NULL;
	assert_int_equal(refsource_owners_open(rs, &it), 0);
	while (refsource_owners_next(it, &o) == 1)
		n++;
	assert_int_equal(n, 9); /* the committed 'w', not the open 'x' */
	refsource_owners_free(TAKE_PTR(it));
	refsource_close(rs);
	sqlite3_exec(writer, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(writer);
}

static void test_bad_url(void **state)
{
	struct config_source src = src_default();
	struct refsource *rs = NULL;
	char *err = NULL;

	/* nothing listens there: refused, and the password stays out of the message */
	src.url = (char *)"postgresql://fsd:secret@/webui?host=/nonexistent&port=1";
	assert_int_equal(refsource_open(&src, 0, &rs, &err), -ECONNREFUSED);
	assert_non_null(strstr(err, "postgresql://fsd@/webui"));
	assert_null(strstr(err, "secret"));
	free(TAKE_PTR(err));
	src.url = (char *)"mysql://x";
	assert_int_equal(refsource_open(&src, 0, &rs, &err), -EINVAL);
	assert_non_null(strstr(err, "mysql://x"));
	free(err);
}

static int teardown_all(void **state)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_owners_sorted, setup),
		cmocka_unit_test_setup(test_owners_integer_keys, setup),
		cmocka_unit_test_setup(test_live_merge_and_text, setup),
		cmocka_unit_test_setup(test_random_checks, setup),
		cmocka_unit_test_setup(test_tokens_narrowed, setup),
		cmocka_unit_test(test_token_scanning),
		cmocka_unit_test(test_refkeys_many),
		cmocka_unit_test_setup(test_missing_db, setup),
		cmocka_unit_test_setup(test_locked_db, setup),
		cmocka_unit_test_setup(test_bad_sql, setup),
		cmocka_unit_test_setup(test_readonly, setup),
		cmocka_unit_test_setup(test_wal_readonly, setup),
		cmocka_unit_test_setup(test_bad_url, setup),
	};
	return cmocka_run_group_tests(tests, NULL, teardown_all);
}
