/* Tests of the scanner's library entry points on real trees: scan_root()
 * statistics, scan_path() on a file, a subtree and a vanished path, key
 * re-derivation after the root's key setting changes, a directory that
 * turns into a file, and argument checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "catalog/catalog.h"
#include "catalog/scan.h"
#include "common/util.h"

struct fixture {
	char dir[64];
	char tree[96];
	char db[96];
	struct catalog *c;
	struct config_root root;
	int64_t root_id;
};

static void put(struct fixture *fx, const char *rel, const char *text)
{
	char p[256], cmd[320];
	snprintf(p, sizeof(p), "%s/%s", fx->tree, rel);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", p);
	assert_int_equal(system(cmd), 0);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(loop_write(fd, text, strlen(text)), 0);
	close(fd);
}

/* Runs a shell command in the tree. */
static void sh(struct fixture *fx, const char *script)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "cd '%s' && %s", fx->tree, script);
	assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test-scan.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->tree, sizeof(fx->tree), "%s/tree", fx->dir);
	snprintf(fx->db, sizeof(fx->db), "%s/catalog.db", fx->dir);
	assert_int_equal(mkdir(fx->tree, 0755), 0);
	put(fx, "a/one.txt", "one");
	put(fx, "a/b/two.txt", "two");
	put(fx, "1234_three.txt", "three");
	fx->root = (struct config_root){
		.name = (char *)"t",
		.path = fx->tree,
		.key = KEY_BASENAME,
		.one_file_system = true,
	};
	assert_int_equal(catalog_open(fx->db, 0, &fx->c), 0);
	assert_int_equal(catalog_root_ensure(fx->c, "t", fx->tree, &fx->root_id), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];

	catalog_close(fx->c);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

static int row(struct fixture *fx, const char *path, struct catalog_file *f, char *buf)
{
	return catalog_file_get(fx->c, fx->root_id, path, strlen(path), f, buf, 512);
}

static void scan(struct fixture *fx, struct scan_stats *st)
{
	struct scan_options o = {.threads = 2};
	assert_int_equal(scan_root(fx->c, fx->root_id, &fx->root, &o, st), 0);
}

static void test_scan_root_counts(void **state)
{
	struct fixture *fx = *state;
	struct scan_stats st;
	struct catalog_file f;
	char buf[512];

	scan(fx, &st);
	assert_int_equal(st.files, 3);
	assert_int_equal(st.added, 3);
	/* The first load builds the hash and key indexes at its end. */
	char cmd[256];
	snprintf(cmd, sizeof(cmd),
		 "test \"$(sqlite3 '%s' \"SELECT count(*) FROM sqlite_master WHERE name IN"
		 " ('files_hash', 'files_key')\")\" = 2", fx->db);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(st.hashed, 3);
	assert_int_equal(st.bytes, 11);
	assert_int_equal(st.dirs, 3);
	assert_int_equal(row(fx, "a/b/two.txt", &f, buf), 0);
	assert_string_equal(f.key, "two.txt");
	assert_true(f.hashed);
	assert_true(f.last_seen_ns >= f.first_seen_ns);

	scan(fx, &st);
	assert_int_equal(st.unchanged, 3);
	assert_int_equal(st.hashed, 0);
	/* A complete scan counts as having seen every present row. */
	int64_t before = f.last_seen_ns;
	assert_int_equal(row(fx, "a/b/two.txt", &f, buf), 0);
	assert_true(f.last_seen_ns > before);
}

static void test_scan_path(void **state)
{
	struct fixture *fx = *state;
	struct scan_options o = {.threads = 1};
	struct scan_stats st;
	struct catalog_file f;
	char buf[512];

	scan(fx, &st);
	put(fx, "a/b/new.txt", "new");
	put(fx, "a/one.txt", "ONE!");
	sh(fx, "rm -r a/b/two.txt");

	/* One file. */
	assert_int_equal(scan_path(fx->c, fx->root_id, &fx->root, "a/one.txt", &o, &st), 0);
	assert_int_equal(st.updated, 1);
	assert_int_equal(st.hashed, 1);
	assert_int_equal(row(fx, "a/b/new.txt", &f, buf), -ENOENT);
	/* A subtree: the new file, and the one that vanished from it. */
	assert_int_equal(scan_path(fx->c, fx->root_id, &fx->root, "a/b", &o, &st), 0);
	assert_int_equal(st.added, 1);
	assert_int_equal(st.gone, 1);
	assert_int_equal(row(fx, "a/b/two.txt", &f, buf), 0);
	assert_int_equal(f.state, CATALOG_GONE);
	/* A path that is gone entirely, with everything below it. */
	sh(fx, "rm -r a");
	assert_int_equal(scan_path(fx->c, fx->root_id, &fx->root, "a", &o, &st), 0);
	assert_int_equal(st.gone, 2);
	/* Below a parent that is gone too. */
	assert_int_equal(scan_path(fx->c, fx->root_id, &fx->root, "a/b/c", &o, &st), 0);

	assert_int_equal(scan_path(fx->c, fx->root_id, &fx->root, "../etc", &o, &st), -EINVAL);
	assert_int_equal(scan_path(fx->c, fx->root_id, &fx->root, "/abs", &o, &st), -EINVAL);
	assert_int_equal(scan_path(fx->c, fx->root_id, &fx->root, "a/./b", &o, &st), -EINVAL);
}

static void test_rekey(void **state)
{
	struct fixture *fx = *state;
	struct scan_stats st;
	struct catalog_file f;
	char buf[512];

	scan(fx, &st);
	assert_int_equal(row(fx, "1234_three.txt", &f, buf), 0);
	assert_string_equal(f.key, "1234_three.txt");
	/* A new key setting re-keys unchanged files without reading them. */
	fx->root.key = KEY_REGEX;
	fx->root.key_regex = (char *)"^([0-9]+)_";
	scan(fx, &st);
	assert_int_equal(st.hashed, 0);
	assert_int_equal(row(fx, "1234_three.txt", &f, buf), 0);
	assert_string_equal(f.key, "1234");
	assert_int_equal(row(fx, "a/one.txt", &f, buf), 0);
	assert_null(f.key);
	fx->root.key = KEY_HASH;
	scan(fx, &st);
	assert_int_equal(row(fx, "a/one.txt", &f, buf), 0);
	assert_non_null(f.key);
	assert_int_equal(strlen(f.key), 32);
}

/* A root that was never scanned to the end is not re-keyed for nothing,
 * but rows that a partial scan left with another key setting are. */
static void test_rekey_after_partial(void **state)
{
	struct fixture *fx = *state;
	struct scan_options o = {.threads = 2};
	struct scan_stats st;
	struct catalog_file f;
	char buf[512];

	assert_int_equal(scan_path(fx->c, fx->root_id, &fx->root, "1234_three.txt", &o, &st), 0);
	assert_int_equal(row(fx, "1234_three.txt", &f, buf), 0);
	assert_string_equal(f.key, "1234_three.txt");
	fx->root.key = KEY_REGEX;
	fx->root.key_regex = (char *)"^([0-9]+)_";
	scan(fx, &st);
	assert_int_equal(st.added, 2);
	assert_int_equal(st.hashed, 2);
	assert_int_equal(row(fx, "1234_three.txt", &f, buf), 0);
	assert_string_equal(f.key, "1234");
	assert_int_equal(row(fx, "a/one.txt", &f, buf), 0);
	assert_null(f.key);
}

static void test_dir_becomes_file(void **state)
{
	struct fixture *fx = *state;
	struct scan_stats st;
	struct catalog_file f;
	char buf[512];

	scan(fx, &st);
	sh(fx, "rm -r a && echo now-a-file > a");
	scan(fx, &st);
	assert_int_equal(st.gone, 2);
	assert_int_equal(st.added, 1);
	assert_int_equal(row(fx, "a", &f, buf), 0);
	assert_int_equal(f.state, CATALOG_PRESENT);
	assert_int_equal(row(fx, "a/b/two.txt", &f, buf), 0);
	assert_int_equal(f.state, CATALOG_GONE);
	/* And back: the file row is gone, the directory's rows present. */
	sh(fx, "rm a && mkdir -p a/b && echo two > a/b/two.txt");
	scan(fx, &st);
	assert_int_equal(row(fx, "a", &f, buf), 0);
	assert_int_equal(f.state, CATALOG_GONE);
	assert_int_equal(row(fx, "a/b/two.txt", &f, buf), 0);
	assert_int_equal(f.state, CATALOG_PRESENT);
}

static void test_root_refused(void **state)
{
	struct fixture *fx = *state;
	struct scan_stats st = {.files = 77};
	struct catalog_file f;
	char buf[512];

	scan(fx, &st);
	fx->root.marker = (char *)".mounted";
	assert_int_equal(scan_root(fx->c, fx->root_id, &fx->root, NULL, &st), -ENOENT);
	assert_int_equal(st.files, 3);
	/* Nothing was marked gone for a refused root. */
	assert_int_equal(row(fx, "a/one.txt", &f, buf), 0);
	assert_int_equal(f.state, CATALOG_PRESENT);
	put(fx, ".mounted", "");
	assert_int_equal(scan_root(fx->c, fx->root_id, &fx->root, NULL, &st), 0);
	fx->root.path = (char *)"/nonexistent/fsd-test";
	assert_int_equal(scan_root(fx->c, fx->root_id, &fx->root, NULL, &st), -ENOENT);
	fx->root.path = fx->tree;
	put(fx, "plain", "x");
	char p[160];
	snprintf(p, sizeof(p), "%s/plain", fx->tree);
	fx->root.path = p;
	assert_int_equal(scan_root(fx->c, fx->root_id, &fx->root, NULL, &st), -ENOTDIR);
	fx->root.path = fx->tree;
}

/* A load large enough to defer the hash and key indexes builds them at
 * its end, and the catalog answers as before. */
static void test_large_load(void **state)
{
	struct fixture *fx = *state;
	struct scan_stats st;
	char p[160], cmd[256];

	snprintf(p, sizeof(p), "%s/many", fx->tree);
	assert_int_equal(mkdir(p, 0755), 0);
	for (int i = 0; i < 20100; i++) {
		snprintf(p, sizeof(p), "%s/many/f%05d", fx->tree, i);
		int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		assert_true(fd >= 0);
		assert_int_equal(loop_write(fd, i % 2 ? "odd" : "even", i % 2 ? 3 : 4), 0);
		close(fd);
	}
	scan(fx, &st);
	assert_int_equal(st.added, 20103);
	snprintf(cmd, sizeof(cmd),
		 "test \"$(sqlite3 '%s' \"SELECT count(*) FROM sqlite_master WHERE name IN"
		 " ('files_hash', 'files_key')\")\" = 2", fx->db);
	assert_int_equal(system(cmd), 0);

	struct catalog_cursor *cur;
	const struct catalog_file *f;
	int n = 0, r;
	assert_int_equal(catalog_cursor_open(fx->c,
					     &(struct catalog_query){.order = CATALOG_ORDER_HASH,
								     .state = 0,
								     .duplicates_only = true},
					     &cur),
			 0);
	while ((r = catalog_cursor_next(cur, &f)) > 0)
		n++;
	assert_int_equal(r, 0);
	catalog_cursor_free(cur);
	assert_int_equal(n, 20100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_scan_root_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rekey, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rekey_after_partial, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dir_becomes_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_load, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
