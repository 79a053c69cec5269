/* The reaper's filesystem and journal pieces on real files: the lock is
 * exclusive and names its holder, quarantine moves only the planned file
 * and never through a symlink, restore never overwrites, purge prunes,
 * and saved rows come back byte for byte with their types. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reaper/journal.h"
#include "reaper/lock.h"
#include "reaper/quarantine.h"

static char dir[] = "/tmp/test-quarantine.XXXXXX";

static void path_of(char *buf, size_t n, const char *rel)
{
	snprintf(buf, n, "%s/%s", dir, rel);
}

static void write_file(const char *rel, const char *text)
{
	char p[512];
	path_of(p, sizeof p, rel);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static bool exists(const char *rel)
{
	char p[512];
	struct stat st;
	path_of(p, sizeof p, rel);
	return lstat(p, &st) == 0;
}

static struct fs_identity ident(const char *rel)
{
	char p[512];
	struct stat st;
	path_of(p, sizeof p, rel);
	assert_int_equal(lstat(p, &st), 0);
	return (struct fs_identity){.ino = st.st_ino, .dev = st.st_dev, .size = st.st_size,
				    .mtime_ns = st.st_mtim.tv_sec * 1000000000LL +
						st.st_mtim.tv_nsec};
}

static void test_lock(void **state)
{
	char cat[512];
	struct reaper_lock *a = NULL, *b = NULL;
	char *holder = NULL;

	path_of(cat, sizeof cat, "catalog.db");
	assert_int_equal(reaper_lock_take(cat, &a, NULL), 0);
	assert_int_equal(reaper_lock_take(cat, &b, &holder), -EBUSY);
	assert_null(b);
	assert_non_null(holder);
	char want[32];
	snprintf(want, sizeof want, "pid %d ", (int)getpid());
	assert_non_null(strstr(holder, want));
	free(holder);
	reaper_lock_release(a);
	assert_int_equal(reaper_lock_take(cat, &b, NULL), 0);
	reaper_lock_release(b);
}

static void test_quarantine_and_restore(void **state)
{
	struct qroot *q = NULL;
	char *qp = NULL;

	mkdir(dir, 0700);
	char r[512];
	path_of(r, sizeof r, "root");
	mkdir(r, 0755);
	path_of(r, sizeof r, "root/a");
	mkdir(r, 0755);
	write_file("root/a/f.txt", "hello");
	struct fs_identity id = ident("root/a/f.txt");
	path_of(r, sizeof r, "root");
	assert_int_equal(qroot_open(r, NULL, &q), 0);
	assert_int_equal(quarantine_path(7, "a/f.txt", 7, &qp, NULL), 0);
	assert_string_equal(qp, ".fsd-quarantine/7/a/f.txt");

	/* A changed file is refused. */
	struct fs_identity other = id;
	other.size++;
	assert_int_equal(qroot_quarantine(q, "a/f.txt", qp, &other), -ESTALE);
	assert_int_equal(qroot_quarantine(q, "a/f.txt", qp, &id), 0);
	assert_false(exists("root/a/f.txt"));
	assert_true(exists("root/.fsd-quarantine/7/a/f.txt"));
	assert_int_equal(ident("root/.fsd-quarantine/7/a/f.txt").ino, id.ino);

	/* Restore refuses to overwrite a file recreated since. */
	write_file("root/a/f.txt", "new");
	assert_int_equal(qroot_restore(q, qp, "a/f.txt", &id), -EEXIST);
	path_of(r, sizeof r, "root/a/f.txt");
	unlink(r);
	assert_int_equal(qroot_restore(q, qp, "a/f.txt", &id), 0);
	assert_true(exists("root/a/f.txt"));

	/* Purge, then the empty directories go. */
	assert_int_equal(qroot_quarantine(q, "a/f.txt", qp, &id), 0);
	assert_int_equal(qroot_purge(q, qp), 0);
	assert_int_equal(qroot_purge(q, qp), -ENOENT);
	assert_int_equal(qroot_prune(q), 0);
	assert_false(exists("root/.fsd-quarantine/7"));
	assert_true(exists("root/.fsd-quarantine"));
	free(qp);
	qroot_close(q);
}

static void test_never_through_symlinks(void **state)
{
	struct qroot *q = NULL;
	char r[512], t[512];

	path_of(r, sizeof r, "outside");
	mkdir(r, 0755);
	write_file("outside/g.txt", "outside");
	struct fs_identity id = ident("outside/g.txt");
	path_of(r, sizeof r, "root/link");
	path_of(t, sizeof t, "outside");
	assert_int_equal(symlink(t, r), 0);
	path_of(r, sizeof r, "root");
	assert_int_equal(qroot_open(r, NULL, &q), 0);
	int k = qroot_quarantine(q, "link/g.txt", ".fsd-quarantine/8/link/g.txt", &id);
	assert_true(k == -ELOOP || k == -ENOTDIR);
	assert_true(exists("outside/g.txt"));
	/* A symlink as the file itself is not a regular file: refused too. */
	path_of(t, sizeof t, "outside/g.txt");
	path_of(r, sizeof r, "root/s.txt");
	assert_int_equal(symlink(t, r), 0);
	assert_int_equal(qroot_unlink(q, "s.txt", &id), -ESTALE);
	assert_true(exists("outside/g.txt"));
	qroot_close(q);
	/* Refusals of whole roots. */
	assert_int_equal(qroot_open("/", NULL, &q), -EINVAL);
	assert_int_equal(qroot_open("relative", NULL, &q), -EINVAL);
	path_of(r, sizeof r, "root");
	assert_int_equal(qroot_open(r, ".marker", &q), -ENOENT);
}

struct rows_seen {
	int n;
};

static int check_row(const char *table, const struct journal_value *v, size_t n, void *ud)
{
	struct rows_seen *s = ud;
	/* Parents first: the row saved last comes back first. */
	if (s->n++ == 0) {
		assert_string_equal(table, "file");
		assert_int_equal(n, 4);
		assert_string_equal(v[0].name, "id");
		assert_int_equal(v[0].type, 3);
		assert_memory_equal(v[0].p, "k1", 2);
		assert_int_equal(v[1].type, 1);
		assert_int_equal(v[1].i, -42);
		assert_int_equal(v[2].type, 4);
		assert_int_equal(v[2].len, 3);
		assert_memory_equal(v[2].p, "\0\xff\n", 3);
		assert_int_equal(v[3].type, 5);
	} else {
		assert_string_equal(table, "chat_file");
	}
	return 0;
}

static void test_journal_rows(void **state)
{
	struct journal *j = NULL;
	char cat[512];
	int64_t id = 0;
	path_of(cat, sizeof cat, "catalog.db");
	assert_int_equal(journal_open(cat, &j), 0);
	struct journal_action a = {.run_id = 3, .state = JOURNAL_PLANNED, .kind = "remove-file-rows",
				   .path = "x\ny", .path_len = 3, .key = "k1", .quarantine = true};
	assert_int_equal(journal_begin(j), 0);
	assert_int_equal(journal_add(j, &a, &id), 0);
	struct journal_value child[1] = {{.name = "file_id", .type = 3, .p = "k1", .len = 2}};
	struct journal_value row[4] = {
		{.name = "id", .type = 3, .p = "k1", .len = 2},
		{.name = "created_at", .type = 1, .i = -42},
		{.name = "data", .type = 4, .p = "\0\xff\n", .len = 3},
		{.name = "meta", .type = 5},
	};
	assert_int_equal(journal_save_row(j, id, 0, "chat_file", child, 1), 0);
	assert_int_equal(journal_save_row(j, id, 1, "file", row, 4), 0);
	assert_int_equal(journal_set_state(j, id, JOURNAL_MOVED, NULL, 2), 0);
	assert_int_equal(journal_commit(j), 0);
	struct rows_seen s = {0};
	assert_int_equal(journal_rows_foreach(j, id, check_row, &s), 0);
	assert_int_equal(s.n, 2);
	journal_close(j);
}

static int teardown(void **state)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quarantine_and_restore),
		cmocka_unit_test(test_never_through_symlinks),
		cmocka_unit_test(test_lock),
		cmocka_unit_test(test_journal_rows),
	};
	if (!mkdtemp(dir))
		return 1;
	return cmocka_run_group_tests(tests, NULL, teardown);
}
