/* The audit's merge on a small catalog (filled row by row, no scan) and a
 * real SQLite app database: every category with its exact items, the
 * grace period against a fixed clock, protect globs, paths that map into
 * a root, outside every root or nowhere (s3://), category selection,
 * unowned files that a live reference still holds, and failing closed
 * when the owners query breaks. */
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

#include "catalog/catalog.h"
#include "common/util.h"
#include "common/config.h"
#include "reaper/audit.h"

#define S 1000000000LL
#define H (3600 * S)
#define NOW (1795435200LL * S)

#define U1 "11111111-0000-4000-8000-000000000000"
#define U2 "22222222-0000-4000-8000-000000000000"
#define U3 "33333333-0000-4000-8000-000000000000"
#define U4 "44444444-0000-4000-8000-000000000000"
#define U5 "55555555-0000-4000-8000-000000000000"
#define U6 "66666666-0000-4000-8000-000000000000"
#define U7 "77777777-0000-4000-8000-000000000000"
#define U8 "88888888-0000-4000-8000-000000000000"
#define U9 "99999999-0000-4000-8000-000000000000"
#define APP "/app/backend/data/uploads/"

static char dir[] = "/tmp/fsd-test-audit.XXXXXX";

struct fixture {
	struct config *cfg;
	struct catalog *cat;
	char lines[64][512]; /* "category root:path key" per finding */
	size_t n;
	char errors[8][512];
	size_t n_errors;
};

static void exec_sql(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *err = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
	sqlite3_close(db);
}

static void add_file(struct fixture *fx, const char *root, const char *path, const char *key,
		     int64_t size, int64_t mtime_ns, int state, unsigned flags, uint8_t hash_byte)
{
	int64_t root_id;
	assert_int_equal(catalog_root_find(fx->cat, root, &root_id), 0);
	struct catalog_file f = {
		.root_id = root_id, .path = path, .path_len = strlen(path), .key = key,
		.size = size, .mtime_ns = mtime_ns, .ctime_ns = mtime_ns, .ino = 1, .dev = 1,
		.mode = 0100644, .hashed = hash_byte != 0, .first_seen_ns = mtime_ns,
		.last_seen_ns = NOW, .state = state, .flags = flags,
	};
	memset(f.hash.b, hash_byte, sizeof(f.hash.b));
	assert_int_equal(catalog_file_upsert(fx->cat, &f), 0);
}

static const char config_fmt[] =
	"[defaults]\ngrace = 24h\n"
	"[paths]\nmap = /app/backend/data => %s/data\n"
	"[source webui]\nurl = sqlite://%s/data/webui.db\n"
	"owners = %s\n"
	"live = SELECT file_id FROM chat_file\n"
	"live-text = SELECT chat FROM chat\n"
	"busy-timeout = 200ms\n"
	"[root uploads]\npath = %s/data/uploads\nclass = upload\nkey = regex\n"
	"key-regex = ^([0-9a-f-]{36})([_.]|$)\nsource = webui\nprotect = keep/**\n"
	"[root cache]\npath = %s/data/cache\nclass = cache\nkey = none\n";

static struct config *load_config(const char *owners)
{
	_cleanup_free_ char *text = NULL;
	struct config *cfg = NULL;
	char *err = NULL;

	assert_true(asprintf(&text, config_fmt, dir, dir, owners, dir, dir) > 0);
	if (config_load_string(text, "test.conf", &cfg, &err) < 0)
		fail_msg("config: %s", err);
	return cfg;
}

static int setup(void **state)
{
	static bool made;
	char path[600];
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!made) {
		assert_non_null(mkdtemp(dir));
		snprintf(path, sizeof(path), "mkdir -p %s/data/uploads %s/data/cache", dir, dir);
		assert_int_equal(system(path), 0);
		snprintf(path, sizeof(path), "%s/data/webui.db", dir);
		exec_sql(path,
			 "CREATE TABLE file (id VARCHAR PRIMARY KEY, path TEXT, created_at BIGINT);"
			 "CREATE TABLE chat_file (id TEXT PRIMARY KEY, file_id TEXT);"
			 "CREATE TABLE chat (id TEXT PRIMARY KEY, chat JSON);"
			 "INSERT INTO file VALUES"
			 " ('" U1 "', '" APP U1 "_a.pdf', 1795000000),"
			 " ('" U2 "', '" APP U2 "_b.pdf', 1795100000),"
			 " ('" U3 "', '" APP U3 "_c.pdf', 1795200000),"
			 " ('" U4 "', '/srv/elsewhere/" U4 "_d.pdf', NULL),"
			 " ('" U5 "', 's3://bucket/" U5 "_e.pdf', 1795300000),"
			 " ('" U9 "', '" APP U9 "_gone.pdf', 1795400000);"
			 "INSERT INTO chat_file VALUES ('c1', '" U1 "'), ('c2', '" U5 "');"
			 "INSERT INTO chat VALUES ('h1', '{\"files\":[{\"id\":\"" U3 "\"}]}');");
		made = true;
	}
	snprintf(path, sizeof(path), "%s/catalog-%p.db", dir, (void *)fx);
	assert_int_equal(catalog_open(path, 0, &fx->cat), 0);
	fx->cfg = load_config("SELECT id, path, created_at FROM file");
	for (size_t i = 0; i < fx->cfg->n_roots; i++) {
		int64_t id;
		assert_int_equal(catalog_root_ensure(fx->cat, fx->cfg->roots[i].name,
						     fx->cfg->roots[i].path, &id),
				 0);
	}
	int64_t old = NOW - 48 * H, young = NOW - 2 * H;
	assert_int_equal(catalog_begin(fx->cat), 0);
	add_file(fx, "uploads", U1 "_a.pdf", U1, 100, old, CATALOG_PRESENT, 0, 0xd1);
	add_file(fx, "uploads", U2 "_b.pdf", U2, 200, old, CATALOG_PRESENT, 0, 0x02);
	add_file(fx, "uploads", U3 "_other.pdf", U3, 300, old, CATALOG_PRESENT, 0, 0x03);
	add_file(fx, "uploads", U5 "_e.pdf", U5, 500, old, CATALOG_PRESENT, 0, 0x05);
	add_file(fx, "uploads", U6 "_orphan.pdf", U6, 600, old, CATALOG_PRESENT, 0, 0x06);
	add_file(fx, "uploads", U7 "_new.pdf", U7, 700, young, CATALOG_PRESENT, 0, 0x07);
	add_file(fx, "uploads", "keep/" U8 "_x.pdf", U8, 800, old, CATALOG_PRESENT, 0, 0x08);
	add_file(fx, "uploads", "notes.txt", NULL, 10, old, CATALOG_PRESENT, 0, 0x09);
	add_file(fx, "uploads", U9 "_gone.pdf", U9, 900, old, CATALOG_GONE, 0, 0x0a);
	add_file(fx, "cache", "c1", NULL, 50, old, CATALOG_PRESENT, CATALOG_FLAG_CHANGED, 0x0b);
	add_file(fx, "cache", "d1", NULL, 100, old, CATALOG_PRESENT, 0, 0xd1);
	add_file(fx, "cache", "d2", NULL, 100, old, CATALOG_PRESENT, 0, 0xd1);
	add_file(fx, "cache", "empty1", NULL, 0, old, CATALOG_PRESENT, 0, 0xee);
	add_file(fx, "cache", "empty2", NULL, 0, old, CATALOG_PRESENT, 0, 0xee);
	assert_int_equal(catalog_commit(fx->cat), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	catalog_close(fx->cat);
	config_free(fx->cfg);
	free(fx);
	return 0;
}

static int collect(const struct audit_finding *f, void *ud)
{
	struct fixture *fx = ud;
	assert_true(fx->n < ELEMENTSOF(fx->lines));
	snprintf(fx->lines[fx->n++], sizeof(fx->lines[0]), "%s %s:%s %s%s%s",
		 audit_category_to_string(f->category), f->root ? f->root : "-",
		 f->path ? f->path : "-", f->key ? f->key : "-", f->reason ? " / " : "",
		 f->reason ? f->reason : "");
	return 0;
}

static void collect_error(int error, const char *message, void *ud)
{
	struct fixture *fx = ud;
	assert_true(fx->n_errors < ELEMENTSOF(fx->errors));
	snprintf(fx->errors[fx->n_errors++], sizeof(fx->errors[0]), "%s", message);
}

static int run(struct fixture *fx, unsigned mask, struct audit_totals *t)
{
	struct audit_options o = {.now_ns = NOW, .categories = mask};
	struct audit_sink sink = {.finding = collect, .error = collect_error, .ud = fx};
	return audit_run(fx->cat, fx->cfg, &o, &sink, t);
}

static void assert_lines(struct fixture *fx, const char *const *want, size_t n)
{
	for (size_t i = 0; i < fx->n; i++)
		print_message("# got: %s\n", fx->lines[i]);
	assert_int_equal(fx->n, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(fx->lines[i], want[i]);
}

static void test_every_category(void **state)
{
	struct fixture *fx = *state;
	struct audit_totals t;
	char ext[600];
	snprintf(ext, sizeof(ext), "dangling -:/srv/elsewhere/" U4 "_d.pdf " U4
		 " / no file at its recorded path");
	char ext_unref[600];
	snprintf(ext_unref, sizeof(ext_unref), "unreferenced -:/srv/elsewhere/" U4 "_d.pdf " U4);
	const char *want[] = {
		"unreferenced uploads:" U2 "_b.pdf " U2,
		"dangling uploads:" U3 "_c.pdf " U3 " / no file at its recorded path",
		ext,
		ext_unref,
		"orphan uploads:" U6 "_orphan.pdf " U6,
		"pending uploads:" U7 "_new.pdf " U7,
		"dangling uploads:" U9 "_gone.pdf " U9 " / no file at its recorded path",
		"unreferenced uploads:" U9 "_gone.pdf " U9,
		"changed cache:c1 -",
		"duplicate uploads:" U1 "_a.pdf -",
		"duplicate cache:d1 -",
		"duplicate cache:d2 -",
	};

	assert_int_equal(run(fx, 0, &t), 0);
	assert_lines(fx, want, ELEMENTSOF(want));
	assert_int_equal(fx->n_errors, 0);
	assert_int_equal(t.count[AUDIT_ORPHAN], 1);
	assert_int_equal(t.bytes[AUDIT_ORPHAN], 600);
	assert_int_equal(t.count[AUDIT_PENDING], 1);
	assert_int_equal(t.count[AUDIT_DANGLING], 3);
	assert_int_equal(t.count[AUDIT_UNREFERENCED], 3);
	assert_int_equal(t.bytes[AUDIT_UNREFERENCED], 200);
	assert_int_equal(t.count[AUDIT_CHANGED], 1);
	assert_int_equal(t.count[AUDIT_DUPLICATE], 3);
	assert_int_equal(t.bytes[AUDIT_DUPLICATE], 200);
	assert_int_equal(t.groups, 1);
	/* pending is not a finding */
	assert_int_equal(t.findings, 1 + 3 + 3 + 1 + 3);
}

static void test_grace_and_clock(void **state)
{
	struct fixture *fx = *state;
	struct audit_totals t;
	struct audit_options o = {.now_ns = NOW + 23 * H, .categories = 1u << AUDIT_ORPHAN};
	struct audit_sink sink = {.finding = collect, .error = collect_error, .ud = fx};

	/* 25h later, the young file (2h old) is 25h old: an orphan too */
	assert_int_equal(audit_run(fx->cat, fx->cfg, &o, &sink, &t), 0);
	assert_int_equal(t.count[AUDIT_ORPHAN], 2);
	assert_int_equal(t.count[AUDIT_PENDING], 0); /* not selected */
	assert_int_equal(fx->n, 2);
}

static void test_fail_closed(void **state)
{
	struct fixture *fx = *state;
	struct audit_totals t;

	config_free(fx->cfg);
	fx->cfg = load_config("SELECT id, path, created_at FROM files");
	assert_int_equal(run(fx, 0, &t), -EINVAL);
	/* nothing that depends on the source, but the catalog's own findings */
	for (size_t i = 0; i < fx->n; i++)
		assert_true(strncmp(fx->lines[i], "changed", 7) == 0 ||
			    strncmp(fx->lines[i], "duplicate", 9) == 0);
	assert_int_equal(t.count[AUDIT_ORPHAN] + t.count[AUDIT_DANGLING] +
				 t.count[AUDIT_UNREFERENCED] + t.count[AUDIT_PENDING],
			 0);
	assert_int_equal(t.count[AUDIT_CHANGED], 1);
	assert_int_equal(fx->n_errors, 1);
	assert_non_null(strstr(fx->errors[0], "source 'webui': owners query"));
	assert_non_null(strstr(fx->errors[0], "no such table: files"));
	assert_int_equal(t.errors, 1);
}

static void test_missing_app_db(void **state)
{
	struct fixture *fx = *state;
	struct audit_totals t;
	char from[600], to[600];

	snprintf(from, sizeof(from), "%s/data/webui.db", dir);
	snprintf(to, sizeof(to), "%s/data/webui.db.away", dir);
	assert_int_equal(rename(from, to), 0);
	int r = run(fx, 1u << AUDIT_ORPHAN | 1u << AUDIT_DANGLING, &t);
	assert_int_equal(rename(to, from), 0);
	assert_int_equal(r, -ENOENT);
	assert_int_equal(fx->n, 0);
	assert_int_equal(fx->n_errors, 1);
	assert_non_null(strstr(fx->errors[0], "webui.db"));
}

static void test_unknown_root_fails_closed(void **state)
{
	struct fixture *fx = *state;
	struct audit_totals t;
	char path[600];

	/* a catalog that never saw the roots: no orphans, no dangling rows */
	catalog_close(fx->cat);
	snprintf(path, sizeof(path), "%s/empty-%p.db", dir, (void *)fx);
	assert_int_equal(catalog_open(path, 0, &fx->cat), 0);
	assert_int_equal(run(fx, 0, &t), -ENOENT);
	assert_int_equal(t.count[AUDIT_DANGLING], 0);
	assert_int_equal(fx->n, 0);
	assert_non_null(strstr(fx->errors[0], "root 'uploads' is not in the catalog"));
}

static void test_locate_and_protect(void **state)
{
	struct fixture *fx = *state;
	const struct config_root *root = NULL;
	char *rel = NULL;
	char want[600];

	assert_int_equal(audit_locate(fx->cfg, APP "x/y.pdf", &root, &rel), 0);
	assert_string_equal(root->name, "uploads");
	assert_string_equal(rel, "x/y.pdf");
	free(rel);
	assert_int_equal(audit_locate(fx->cfg, "/app/backend/data/uploads/../webui.db", &root, &rel),
			 0);
	assert_null(root); /* never resolved into a root through ".." */
	snprintf(want, sizeof(want), "%s/data/uploads/../webui.db", dir);
	assert_string_equal(rel, want);
	free(rel);
	assert_int_equal(audit_locate(fx->cfg, "s3://bucket/x", &root, &rel), -ENOENT);

	const struct config_root *up = config_find_root(fx->cfg, "uploads");
	assert_true(audit_root_protects(up, "keep/a"));
	assert_true(audit_root_protects(up, "keep/a/b/c"));
	assert_false(audit_root_protects(up, "keeper/a"));
	assert_false(audit_root_protects(up, "x/keep/a"));
}

/* Unowned keys between owned ones: each group's live check falls
 * between the owners' checks, in the order the live cursors require, and
 * a live reference (a link row or a chat's JSON) makes an unowned file
 * unowned-referenced whatever its age, never an orphan or pending. */
#define K1A "1a111111-0000-4000-8000-000000000000"
#define K2A "2a222222-0000-4000-8000-000000000000"
#define K3A "3a333333-0000-4000-8000-000000000000"
#define K5A "5a555555-0000-4000-8000-000000000000"
#define K6A "6a666666-0000-4000-8000-000000000000"

static void test_unowned_referenced(void **state)
{
	struct fixture *fx = *state;
	struct audit_totals t;
	char db[600];
	const char *want[] = {
		"unowned-referenced uploads:" K1A "_ref.pdf " K1A,
		"unreferenced uploads:" U2 "_b.pdf " U2,
		"orphan uploads:" K2A "_dead.pdf " K2A,
		"unowned-referenced uploads:" K3A "_young.pdf " K3A,
		"unreferenced -:/srv/elsewhere/" U4 "_d.pdf " U4,
		"unowned-referenced uploads:" K5A "_ref.pdf " K5A,
		"orphan uploads:" U6 "_orphan.pdf " U6,
		"pending uploads:" U7 "_new.pdf " U7,
		"unreferenced uploads:" U9 "_gone.pdf " U9,
	};

	snprintf(db, sizeof(db), "%s/data/webui.db", dir);
	exec_sql(db, "INSERT INTO chat_file VALUES ('x1', '" K1A "'), ('x5', '" K5A "');"
		     "INSERT INTO chat VALUES ('x3', '{\"files\":[{\"id\":\"" K3A "\"}]}');");
	assert_int_equal(catalog_begin(fx->cat), 0);
	add_file(fx, "uploads", K1A "_ref.pdf", K1A, 11, NOW - 48 * H, CATALOG_PRESENT, 0, 0x11);
	add_file(fx, "uploads", K2A "_dead.pdf", K2A, 22, NOW - 48 * H, CATALOG_PRESENT, 0, 0x12);
	add_file(fx, "uploads", K3A "_young.pdf", K3A, 33, NOW - 1 * H, CATALOG_PRESENT, 0, 0x13);
	add_file(fx, "uploads", K5A "_ref.pdf", K5A, 55, NOW - 48 * H, CATALOG_PRESENT, 0, 0x15);
	add_file(fx, "uploads", "keep/" K6A "_ref.pdf", K6A, 66, NOW - 48 * H, CATALOG_PRESENT, 0,
		 0x16);
	assert_int_equal(catalog_commit(fx->cat), 0);

	int r = run(fx, 1u << AUDIT_ORPHAN | 1u << AUDIT_PENDING | 1u << AUDIT_UNOWNED_REFERENCED |
				1u << AUDIT_UNREFERENCED,
		    &t);
	assert_int_equal(r, 0);
	assert_int_equal(fx->n_errors, 0);
	assert_lines(fx, want, ELEMENTSOF(want));
	assert_int_equal(t.count[AUDIT_UNOWNED_REFERENCED], 3);
	assert_int_equal(t.bytes[AUDIT_UNOWNED_REFERENCED], 11 + 33 + 55);
	assert_int_equal(t.count[AUDIT_ORPHAN], 2);
	assert_int_equal(t.count[AUDIT_PENDING], 1);
	/* a finding: everything but the pending file */
	assert_int_equal(t.findings, 3 + 2 + 3);

	/* Only orphans asked for: the live references still decide. */
	fx->n = 0;
	assert_int_equal(run(fx, 1u << AUDIT_ORPHAN, &t), 0);
	assert_lines(fx, (const char *const[]){"orphan uploads:" K2A "_dead.pdf " K2A,
					       "orphan uploads:" U6 "_orphan.pdf " U6},
		     2);
	assert_int_equal(t.count[AUDIT_UNOWNED_REFERENCED], 0);

	exec_sql(db, "DELETE FROM chat_file WHERE id IN ('x1', 'x5'); DELETE FROM chat WHERE id = 'x3';");
}

static void test_categories(void **state)
{
	assert_string_equal(audit_category_to_string(AUDIT_VECTOR_UNKNOWN), "vector-unknown");
	assert_int_equal(audit_category_from_string("dangling"), AUDIT_DANGLING);
	assert_int_equal(audit_category_from_string("nope"), -EINVAL);
	assert_false(audit_category_is_finding(AUDIT_PENDING));
	assert_false(audit_category_is_finding(AUDIT_VECTOR_UNKNOWN));
	assert_true(audit_category_is_finding(AUDIT_VECTOR_DIR));
	assert_string_equal(audit_category_to_string(AUDIT_VECTOR_COLLECTION), "vector-collection");
	assert_string_equal(audit_category_to_string(AUDIT_UNOWNED_REFERENCED), "unowned-referenced");
	assert_int_equal(audit_category_from_string("unowned-referenced"), AUDIT_UNOWNED_REFERENCED);
	assert_true(audit_category_is_finding(AUDIT_UNOWNED_REFERENCED));
	/* the enum only grows at its end */
	assert_int_equal(AUDIT_VECTOR_UNKNOWN, 9);
	assert_int_equal(AUDIT_UNOWNED_REFERENCED, 10);
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
		cmocka_unit_test_setup_teardown(test_every_category, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grace_and_clock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fail_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_app_db, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_root_fails_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_locate_and_protect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unowned_referenced, setup, teardown),
		cmocka_unit_test(test_categories),
	};
	return cmocka_run_group_tests(tests, NULL, teardown_all);
}
