/* Unit tests for reaper/vectors.c on real Chroma stores: each test builds
 * vector_db/chroma.sqlite3 from chromadb 1.5.9's migrations in
 * tests/fixtures, fills it the way Chroma does, and checks what the
 * reader finds, that it fails closed, and that it never writes. */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "common/util.h"
#include "reaper/vectors.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct vectors *, vectors_free);

#define KB_ALIVE "11111111-1111-4111-8111-111111111111"
#define KB_DEAD "22222222-2222-4222-8222-222222222222"
#define ORPHAN_DIR "33333333-3333-4333-8333-333333333333"
#define GONE_SEG "44444444-4444-4444-8444-444444444444"

struct store {
	char dir[64];
	sqlite3 *db;
	int next_id;
};

static void exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
}

static void exec_file(sqlite3 *db, const char *path)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	_cleanup_free_ char *sql = NULL;
	size_t n = 0;

	assert_non_null(f);
	assert_true(getdelim(&sql, &n, 0, f) > 0);
	exec(db, sql);
}

static void migrate(sqlite3 *db)
{
	static const char *const dirs[] = {"embeddings_queue", "sysdb", "metadb"};
	const char *top = getenv("FSD_TOP") ?: ".";

	for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
		char path[512];
		struct dirent **names;
		int n;

		snprintf(path, sizeof(path), "%s/tests/fixtures/chroma-1.5.9/%s", top, dirs[i]);
		n = scandir(path, &names, NULL, alphasort);
		assert_true(n > 0);
		for (int j = 0; j < n; j++) {
			if (strstr(names[j]->d_name, ".sql")) {
				char file[1024];
				snprintf(file, sizeof(file), "%s/%s", path, names[j]->d_name);
				exec_file(db, file);
			}
			free(names[j]);
		}
		free(names);
	}
}

static void write_file(const char *path, size_t size)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	_cleanup_free_ char *buf = calloc(1, size + 1);

	assert_true(fd >= 0);
	assert_int_equal(loop_write(fd, buf, size), 0);
}

static void index_dir(struct store *s, const char *id, size_t a, size_t b)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", s->dir, id);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/%s/header.bin", s->dir, id);
	write_file(path, a);
	snprintf(path, sizeof(path), "%s/%s/data_level0.bin", s->dir, id);
	write_file(path, b);
}

static void embeddings(struct store *s, const char *segment, int n)
{
	for (int i = 0; i < n; i++) {
		_cleanup_free_ char *sql = NULL;
		int id = ++s->next_id;
		assert_true(asprintf(&sql,
				     "INSERT INTO embeddings (id, segment_id, embedding_id, seq_id) "
				     "VALUES (%d, '%s', 'e%d', %d);"
				     "INSERT INTO embedding_metadata (id, key, string_value) "
				     "VALUES (%d, 'chroma:document', 'text %d');"
				     "INSERT INTO embedding_fulltext_search (rowid, string_value) "
				     "VALUES (%d, 'text %d');",
				     id, segment, id, id, id, id, id, id) > 0);
		exec(s->db, sql);
	}
}

/* A collection with a VECTOR and a METADATA segment named <tag>-v/-m
 * turned into uuids; `dir` creates the VECTOR segment's index directory. */
static void collection(struct store *s, int tag, const char *name, int n, bool dir)
{
	_cleanup_free_ char *sql = NULL;
	char cid[40], vseg[40], mseg[40];

	snprintf(cid, sizeof(cid), "c%07d-0000-4000-8000-000000000000", tag);
	snprintf(vseg, sizeof(vseg), "a%07d-0000-4000-8000-000000000000", tag);
	snprintf(mseg, sizeof(mseg), "b%07d-0000-4000-8000-000000000000", tag);
	assert_true(asprintf(&sql,
			     "INSERT INTO collections (id, name, dimension, database_id) "
			     "VALUES ('%s', '%s', 384, '00000000-0000-0000-0000-000000000000');"
			     "INSERT INTO segments (id, type, scope, collection) VALUES "
			     "('%s', 'urn:chroma:segment/vector/hnsw-local-persisted', 'VECTOR', '%s'),"
			     "('%s', 'urn:chroma:segment/metadata/sqlite', 'METADATA', '%s');",
			     cid, name, vseg, cid, mseg, cid) > 0);
	exec(s->db, sql);
	embeddings(s, mseg, n);
	if (dir)
		index_dir(s, vseg, 100, 1000 * n);
}

/* The demo store: every kind of finding once, plus live collections. */
static int setup(void **state)
{
	struct store *s = calloc(1, sizeof(*s));
	char path[128];

	snprintf(s->dir, sizeof(s->dir), "/tmp/fsd-test-vectors.XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(path, sizeof(path), "%s/chroma.sqlite3", s->dir);
	assert_int_equal(sqlite3_open(path, &s->db), SQLITE_OK);
	migrate(s->db);
	exec(s->db, "BEGIN");
	collection(s, 1, "file-aaaa", 2, true);             /* alive */
	collection(s, 2, "file-bbbb", 3, true);             /* dead: row gone */
	collection(s, 3, KB_ALIVE, 4, false);               /* alive knowledge base */
	collection(s, 4, KB_DEAD, 5, true);                 /* dead knowledge base */
	collection(s, 5, "user-memory-alice", 1, false);    /* living user */
	collection(s, 6, "user-memory-dave", 2, false);     /* deleted user */
	collection(s, 7, "knowledge-bases", 1, false);      /* no pattern: unknown */
	collection(s, 8, "web-search-0123abcd", 1, false);  /* no pattern: unknown */
	embeddings(s, GONE_SEG, 3);                         /* rows of a gone segment */
	exec(s->db, "COMMIT");
	index_dir(s, ORPHAN_DIR, 10, 20);                   /* no such segment */
	snprintf(path, sizeof(path), "%s/not-a-segment", s->dir);
	assert_int_equal(mkdir(path, 0755), 0);             /* not uuid-shaped: ignored */
	snprintf(path, sizeof(path), "%s/55555555-5555-4555-8555-555555555555", s->dir);
	write_file(path, 7);                                /* a file, not a directory: ignored */
	snprintf(path, sizeof(path), "%s/66666666-6666-4666-8666-666666666666", s->dir);
	assert_int_equal(symlink("/tmp", path), 0);         /* a symlink: never followed */
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct store *s = *state;
	char cmd[128];

	sqlite3_close(s->db);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
	assert_int_equal(system(cmd), 0);
	free(s);
	return 0;
}

static struct config_collection patterns[] = {
	{.pattern = (char *)"file-{}", .query = (char *)"owners"},
	{.pattern = (char *)"{}", .query = (char *)"SELECT id FROM knowledge"},
	{.pattern = (char *)"user-memory-{}", .query = (char *)"SELECT id FROM user"},
};

static struct config_vectors config_for(struct store *s)
{
	return (struct config_vectors){
		.name = (char *)"chroma",
		.type = (char *)"chroma",
		.path = s->dir,
		.collections = patterns,
		.n_collections = ELEMENTSOF(patterns),
	};
}

struct alive_ctx {
	const char *fail_key; /* answer -EIO for this key */
	unsigned asked;
};

static int alive(size_t index, const char *key, void *ud)
{
	static const char *const live[] = {"aaaa", KB_ALIVE, "alice"};
	struct alive_ctx *c = ud;

	c->asked++;
	if (c->fail_key && streq(key, c->fail_key))
		return -EIO;
	assert_true(index < ELEMENTSOF(live));
	return streq(key, live[index]);
}

struct collected {
	char lines[32][160];
	size_t n;
	int stop_with;
};

static int collect(const struct vector_finding *f, void *ud)
{
	static const char *const kinds[] = {"dead", "dir", "rows", "unknown"};
	struct collected *c = ud;

	if (c->stop_with)
		return c->stop_with;
	assert_true(c->n < ELEMENTSOF(c->lines));
	snprintf(c->lines[c->n++], sizeof(c->lines[0]), "%s %s %s %s %llu %llu", kinds[f->kind],
		 f->collection ?: "-", f->key ?: "-", f->kind == VECTOR_DEAD_COLLECTION ? "id" : f->id,
		 (unsigned long long)f->embeddings, (unsigned long long)f->bytes);
	return 0;
}

static void test_pattern_match(void **state)
{
	char key[64];

	assert_int_equal(vectors_pattern_match("file-{}", "file-abc", key, sizeof(key)), 1);
	assert_string_equal(key, "abc");
	assert_int_equal(vectors_pattern_match("file-{}", "file-", key, sizeof(key)), 0);
	assert_int_equal(vectors_pattern_match("file-{}", "files-abc", key, sizeof(key)), 0);
	assert_int_equal(vectors_pattern_match("{}", KB_ALIVE, key, sizeof(key)), 1);
	assert_string_equal(key, KB_ALIVE);
	assert_int_equal(vectors_pattern_match("{}", "knowledge-bases", key, sizeof(key)), 0);
	assert_int_equal(vectors_pattern_match("{}", "file-" KB_ALIVE, key, sizeof(key)), 0);
	assert_int_equal(vectors_pattern_match("{}", KB_ALIVE "x", key, sizeof(key)), 0);
	assert_int_equal(vectors_pattern_match("{}-x", "k-x", key, sizeof(key)), 1);
	assert_string_equal(key, "k");
	assert_int_equal(vectors_pattern_match("knowledge-bases", "knowledge-bases", key, sizeof(key)), 1);
	assert_string_equal(key, "knowledge-bases");
	assert_int_equal(vectors_pattern_match("user-memory-{}", "user-memory-0123456789", key, 4),
			 -ENOBUFS);
	assert_true(vectors_is_uuid("c9745ed1-d9f2-4741-86be-6d2e6f8de32d"));
	assert_false(vectors_is_uuid("c9745ed1-d9f2-4741-86be-6d2e6f8de32"));
	assert_false(vectors_is_uuid("c9745ed1xd9f2-4741-86be-6d2e6f8de32d"));
	assert_false(vectors_is_uuid("g9745ed1-d9f2-4741-86be-6d2e6f8de32d"));
}

/* What the demo store holds, exactly: three dead collections with their
 * rows and index bytes, two unknown ones, one orphan directory, one gone
 * segment's rows. The living user's memories and the live file and
 * knowledge base are not reported. */
static void test_audit_findings(void **state)
{
	struct store *s = *state;
	struct config_vectors v = config_for(s);
	_cleanup_(vectors_freep) struct vectors *vs = NULL;
	struct alive_ctx a = {0};
	struct collected c = {0};

	assert_int_equal(vectors_open(&v, &vs), 0);
	assert_int_equal(vectors_audit(vs, alive, &a, collect, &c), 0);
	assert_int_equal(a.asked, 6);
	assert_int_equal(c.n, 7);
	assert_string_equal(c.lines[0], "dead " KB_DEAD " " KB_DEAD " id 5 5100");
	assert_string_equal(c.lines[1], "dead file-bbbb bbbb id 3 3100");
	assert_string_equal(c.lines[2], "unknown knowledge-bases - c0000007-0000-4000-8000-000000000000 1 0");
	assert_string_equal(c.lines[3], "dead user-memory-dave dave id 2 0");
	assert_string_equal(c.lines[4], "unknown web-search-0123abcd - c0000008-0000-4000-8000-000000000000 1 0");
	assert_string_equal(c.lines[5], "dir - - " ORPHAN_DIR " 0 30");
	assert_string_equal(c.lines[6], "rows - - " GONE_SEG " 3 0");
}

/* One liveness answer fails: the audit fails and reports nothing dead. */
static void test_fail_closed(void **state)
{
	struct store *s = *state;
	struct config_vectors v = config_for(s);
	_cleanup_(vectors_freep) struct vectors *vs = NULL;
	struct alive_ctx a = {.fail_key = "dave"};
	struct collected c = {0};

	assert_int_equal(vectors_open(&v, &vs), 0);
	assert_int_equal(vectors_audit(vs, alive, &a, collect, &c), -EIO);
	assert_int_equal(c.n, 0);
	assert_non_null(strstr(vectors_errmsg(vs), "user-memory-dave"));

	/* A caller's error stops the walk and comes back unchanged. */
	a.fail_key = NULL;
	c.stop_with = -ECANCELED;
	assert_int_equal(vectors_audit(vs, alive, &a, collect, &c), -ECANCELED);
}

/* A broken store is an error, never "everything is dead". */
static void test_open_errors(void **state)
{
	struct store *s = *state;
	struct config_vectors v = config_for(s);
	struct vectors *vs = NULL;
	char path[128];
	sqlite3 *db;
	int fd;

	v.path = (char *)"/nonexistent/vector_db";
	assert_int_equal(vectors_open(&v, &vs), -ENOENT);
	v.path = s->dir;
	v.type = (char *)"pgvector";
	assert_int_equal(vectors_open(&v, &vs), -EOPNOTSUPP);
	v.type = (char *)"chroma";
	patterns[0].pattern = (char *)"file-{}-{}";
	assert_int_equal(vectors_open(&v, &vs), -EINVAL);
	patterns[0].pattern = (char *)"file-{}";
	assert_null(vs);

	/* An empty directory: no store. */
	snprintf(path, sizeof(path), "%s/not-a-segment", s->dir);
	v.path = path;
	assert_int_equal(vectors_open(&v, &vs), -ENOENT);

	/* A SQLite file without Chroma's tables. */
	snprintf(path, sizeof(path), "%s/not-a-segment/chroma.sqlite3", s->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	exec(db, "CREATE TABLE collections (id TEXT)");
	sqlite3_close(db);
	snprintf(path, sizeof(path), "%s/not-a-segment", s->dir);
	assert_int_equal(vectors_open(&v, &vs), -EPROTO);

	/* Not a database at all. */
	snprintf(path, sizeof(path), "%s/not-a-segment/chroma.sqlite3", s->dir);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(loop_write(fd, "this is not a database, not at all, no.......", 45), 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/not-a-segment", s->dir);
	assert_int_equal(vectors_open(&v, &vs), -EBADMSG);
	assert_null(vs);
}

static int list_dir(const char *dir, char *buf, size_t len)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	size_t o = 0;

	for (int i = 0; i < n; i++) {
		struct stat st;
		char p[512];
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]->d_name);
		lstat(p, &st);
		o += snprintf(buf + o, len - o, "%s:%lld:%lld.%09ld\n", names[i]->d_name,
			      (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
		free(names[i]);
	}
	free(names);
	return n;
}

/* Reading changes nothing: same files, sizes and mtimes afterwards, in
 * rollback-journal mode (no -journal, -wal or -shm appears). */
static void test_read_only(void **state)
{
	struct store *s = *state;
	struct config_vectors v = config_for(s);
	struct alive_ctx a = {0};
	struct collected c = {0};
	char before[4096], after[4096];
	struct vectors *vs = NULL;

	sqlite3_close(s->db);
	s->db = NULL;
	list_dir(s->dir, before, sizeof(before));
	assert_int_equal(vectors_open(&v, &vs), 0);
	assert_int_equal(vectors_audit(vs, alive, &a, collect, &c), 0);
	vectors_free(vs);
	list_dir(s->dir, after, sizeof(after));
	assert_string_equal(before, after);
}

/* A WAL store nobody has open: reading it must not leave -wal and -shm
 * files behind (they would be ours, and the application could not open
 * its own store any more). */
static void test_read_only_closed_wal(void **state)
{
	struct store *s = *state;
	struct config_vectors v = config_for(s);
	struct alive_ctx a = {0};
	struct collected c = {0};
	char before[4096], after[4096];
	struct vectors *vs = NULL;

	exec(s->db, "PRAGMA journal_mode=WAL");
	sqlite3_close(s->db);
	s->db = NULL;
	list_dir(s->dir, before, sizeof(before));
	assert_null(strstr(before, "-wal"));
	assert_int_equal(vectors_open(&v, &vs), 0);
	assert_int_equal(vectors_audit(vs, alive, &a, collect, &c), 0);
	assert_int_equal(c.n, 7);
	vectors_free(vs);
	list_dir(s->dir, after, sizeof(after));
	assert_string_equal(before, after);
}

/* WAL, with Chroma holding the store open and writing: the reader sees
 * committed rows still in the -wal, not a writer's open transaction, and
 * is not blocked by it. */
static void test_wal_concurrent_writer(void **state)
{
	struct store *s = *state;
	struct config_vectors v = config_for(s);
	_cleanup_(vectors_freep) struct vectors *vs = NULL;
	struct alive_ctx a = {0};
	struct collected c = {0};

	exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0");
	collection(s, 9, "file-cccc", 2, false); /* committed, only in the -wal */
	exec(s->db, "BEGIN IMMEDIATE");
	collection(s, 10, "file-dddd", 2, false); /* not committed */

	assert_int_equal(vectors_open(&v, &vs), 0);
	assert_int_equal(vectors_audit(vs, alive, &a, collect, &c), 0);
	assert_int_equal(c.n, 8);
	assert_string_equal(c.lines[2], "dead file-cccc cccc id 2 0");
	for (size_t i = 0; i < c.n; i++)
		assert_null(strstr(c.lines[i], "dddd"));
	exec(s->db, "COMMIT");
}

struct seg_count {
	unsigned segments, with_dir, vector;
	uint64_t bytes, embeddings;
	unsigned collections;
};

static int count_segment(const struct vector_segment *seg, void *ud)
{
	struct seg_count *n = ud;

	n->segments++;
	n->vector += streq(seg->scope, "VECTOR");
	n->with_dir += seg->dir_exists;
	n->bytes += seg->bytes;
	return 0;
}

static int count_collection(const struct vector_collection *col, void *ud)
{
	struct seg_count *n = ud;

	n->collections++;
	n->embeddings += col->embeddings;
	return 0;
}

static void test_listing(void **state)
{
	struct store *s = *state;
	struct config_vectors v = config_for(s);
	_cleanup_(vectors_freep) struct vectors *vs = NULL;
	struct seg_count n = {0}, one = {0};

	assert_int_equal(vectors_open(&v, &vs), 0);
	assert_string_equal(vectors_path(vs), s->dir);
	assert_int_equal(vectors_list_collections(vs, count_collection, &n), 0);
	assert_int_equal(n.collections, 8);
	assert_int_equal(n.embeddings, 2 + 3 + 4 + 5 + 1 + 2 + 1 + 1);
	assert_int_equal(vectors_list_segments(vs, NULL, count_segment, &n), 0);
	assert_int_equal(n.segments, 16);
	assert_int_equal(n.vector, 8);
	assert_int_equal(n.with_dir, 3);
	assert_int_equal(n.bytes, 2100 + 3100 + 5100);
	assert_int_equal(vectors_list_segments(vs, "c0000002-0000-4000-8000-000000000000",
					       count_segment, &one), 0);
	assert_int_equal(one.segments, 2);
	assert_int_equal(one.bytes, 3100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pattern_match),
		cmocka_unit_test_setup_teardown(test_audit_findings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fail_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only_closed_wal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_concurrent_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listing, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
