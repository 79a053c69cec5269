/* mkaudit: the data for the audit benchmark. Writes, under DIR, an Open
 * WebUI-shaped app database (webui.db, the real schema) with ROWS `file`
 * rows, a catalog (catalog.db) with ROWS keyed files in an upload root,
 * and the config naming both (fsd.conf). One row in a hundred owns no
 * catalog file (dangling), one file in a hundred has no row (orphan);
 * 90% of the rows are held by chat_file rows, 5% by file ids in chat JSON
 * (live-text), the rest by nothing (unreferenced). The files exist only
 * in the catalog, so the audit is measured with --no-scan:
 *
 *   fsdctl audit --no-scan -c DIR/fsd.conf
 *
 * usage: mkaudit [-n ROWS] [-S SEED] [--schema FILE] DIR */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "catalog/catalog.h"
#include "common/log.h"
#include "common/util.h"

#define KEY_LEN 36
#define APP "/app/backend/data"
#define NOW_S 1795435200LL

struct gen {
	const char *dir;
	const char *schema;
	size_t rows;
	uint64_t seed;
	char (*keys)[KEY_LEN + 1]; /* sorted: rows + orphans */
	size_t n_keys;
	size_t n_rows, n_files; /* as written */
};

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static int key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, KEY_LEN);
}

static int make_keys(struct gen *g)
{
	uint64_t s = g->seed;
	g->n_keys = g->rows + g->rows / 100;
	g->keys = calloc(g->n_keys, sizeof(*g->keys));
	if (!g->keys)
		return -ENOMEM;
	for (size_t i = 0; i < g->n_keys; i++) {
		uint64_t a = splitmix64(&s), b = splitmix64(&s);
		snprintf(g->keys[i], sizeof(g->keys[i]), "%08x-%04x-4%03x-8%03x-%012" PRIx64,
			 (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff,
			 (unsigned)(b >> 52), (uint64_t)(b & 0xffffffffffffULL));
	}
	qsort(g->keys, g->n_keys, sizeof(*g->keys), key_cmp);
	return 0;
}

/* Index i's fate: a row (i % 101 != 100) or an orphan file; a row with
 * its file unless i % 100 == 7. */
static bool is_row(size_t i) { return i % 101 != 100; }
static bool has_file(size_t i) { return !is_row(i) || i % 100 != 7; }

static int exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		log_error("SQL failed: %s", err ? err : "?");
		sqlite3_free(err);
		return -EIO;
	}
	return 0;
}

static int load_schema(sqlite3 *db, const char *path)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	_cleanup_free_ char *text = NULL;
	size_t len = 0;

	if (!f)
		return log_error_errno(negative_errno(), "Failed to open schema %s: %m", path);
	FILE *m = open_memstream(&text, &len);
	if (!m)
		return -ENOMEM;
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, m);
	fclose(m);
	return exec(db, text);
}

static int insert_rows(struct gen *g, sqlite3 *db)
{
	sqlite3_stmt *file = NULL, *cf = NULL, *chat = NULL;
	char path[256], json[64 * 1024];
	size_t jlen = 0, in_json = 0;
	int r = 0;

	sqlite3_prepare_v2(db, "INSERT INTO file (id, user_id, filename, path, created_at, meta)"
			       " VALUES (?1, 'u', ?2, ?3, ?4, '{}')", -1, &file, NULL);
	sqlite3_prepare_v2(db, "INSERT INTO chat_file (id, user_id, chat_id, file_id, created_at,"
			       " updated_at) VALUES (?1, 'u', 'c', ?2, 0, 0)", -1, &cf, NULL);
	sqlite3_prepare_v2(db, "INSERT INTO chat (id, user_id, title, chat, meta)"
			       " VALUES (?1, 'u', 't', ?2, '{}')", -1, &chat, NULL);
	if (!file || !cf || !chat)
		return log_error_errno(-EIO, "prepare: %s", sqlite3_errmsg(db));
	for (size_t i = 0; i < g->n_keys && r >= 0; i++) {
		if (!is_row(i))
			continue;
		const char *k = g->keys[i];
		snprintf(path, sizeof(path), APP "/uploads/%s_file%zu.bin", k, i);
		sqlite3_bind_text(file, 1, k, KEY_LEN, SQLITE_STATIC);
		sqlite3_bind_text(file, 2, path + strlen(APP "/uploads/") + KEY_LEN + 1, -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(file, 3, path, -1, SQLITE_STATIC);
		sqlite3_bind_int64(file, 4, NOW_S - 86400 * (int64_t)(i % 365));
		if (sqlite3_step(file) != SQLITE_DONE)
			r = -EIO;
		sqlite3_reset(file);
		g->n_rows++;
		unsigned fate = (unsigned)(splitmix64(&g->seed) % 100);
		if (fate < 90) {
			char id[32];
			snprintf(id, sizeof(id), "cf%zu", i);
			sqlite3_bind_text(cf, 1, id, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(cf, 2, k, KEY_LEN, SQLITE_STATIC);
			if (sqlite3_step(cf) != SQLITE_DONE)
				r = -EIO;
			sqlite3_reset(cf);
		} else if (fate < 95) {
			/* ten files per chat, as Open WebUI writes them */
			jlen += (size_t)snprintf(json + jlen, sizeof(json) - jlen,
						 "%s{\"type\":\"file\",\"id\":\"%s\",\"url\":"
						 "\"/api/v1/files/%s\"}",
						 in_json ? "," : "{\"files\":[", k, k);
			if (++in_json == 10) {
				char id[32];
				jlen += (size_t)snprintf(json + jlen, sizeof(json) - jlen, "]}");
				snprintf(id, sizeof(id), "chat%zu", i);
				sqlite3_bind_text(chat, 1, id, -1, SQLITE_TRANSIENT);
				sqlite3_bind_text(chat, 2, json, (int)jlen, SQLITE_STATIC);
				if (sqlite3_step(chat) != SQLITE_DONE)
					r = -EIO;
				sqlite3_reset(chat);
				jlen = in_json = 0;
			}
		}
	}
	if (r < 0)
		log_error("insert: %s", sqlite3_errmsg(db));
	sqlite3_finalize(file);
	sqlite3_finalize(cf);
	sqlite3_finalize(chat);
	return r;
}

static int make_app_db(struct gen *g)
{
	char path[4096];
	sqlite3 *db = NULL;
	int r;

	snprintf(path, sizeof(path), "%s/webui.db", g->dir);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		return log_error_errno(-EIO, "Failed to create %s", path);
	r = exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF");
	if (r >= 0)
		r = load_schema(db, g->schema);
	if (r >= 0)
		r = exec(db, "BEGIN");
	if (r >= 0)
		r = insert_rows(g, db);
	if (r >= 0)
		r = exec(db, "COMMIT");
	sqlite3_close(db);
	return r;
}

static int make_catalog(struct gen *g)
{
	char path[4096], rel[128], root[4096];
	struct catalog *c = NULL;
	int64_t root_id;
	uint64_t s = g->seed ^ 0xabcdef;
	int r;

	snprintf(path, sizeof(path), "%s/catalog.db", g->dir);
	snprintf(root, sizeof(root), "%s/uploads", g->dir);
	r = catalog_open(path, 0, &c);
	if (r < 0)
		return log_error_errno(r, "Failed to create catalog %s: %m", path);
	r = catalog_root_ensure(c, "uploads", root, &root_id);
	for (size_t i = 0; i < g->n_keys && r >= 0; i++) {
		if (i % 50000 == 0 && (r = catalog_begin(c)) < 0)
			break;
		if (has_file(i)) {
			int n = snprintf(rel, sizeof(rel), "%s_file%zu.bin", g->keys[i], i);
			struct catalog_file f = {
				.root_id = root_id, .path = rel, .path_len = (size_t)n,
				.key = g->keys[i], .size = (int64_t)(splitmix64(&s) % 100000),
				.mtime_ns = (NOW_S - 86400 * 30) * 1000000000LL, .ino = i + 1,
				.dev = 1, .mode = 0100644, .hashed = true,
			};
			f.ctime_ns = f.mtime_ns;
			uint64_t h[2] = {splitmix64(&s), splitmix64(&s)};
			memcpy(f.hash.b, h, sizeof(h));
			r = catalog_file_upsert(c, &f);
			g->n_files++;
		}
		if (r >= 0 && (i % 50000 == 49999 || i + 1 == g->n_keys))
			r = catalog_commit(c);
	}
	if (r < 0)
		log_error_errno(r, "Failed to fill the catalog: %s", catalog_errmsg(c));
	catalog_close(c);
	return r;
}

static int write_config(struct gen *g)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/fsd.conf", g->dir);
	_cleanup_fclose_ FILE *f = fopen(path, "we");
	if (!f)
		return log_error_errno(negative_errno(), "Failed to write %s: %m", path);
	fprintf(f,
		"# audit benchmark: %zu file rows, %zu catalog files (bench/mkaudit.c)\n"
		"[catalog]\npath = %s/catalog.db\n\n"
		"[defaults]\ngrace = 24h\n\n"
		"[paths]\nmap = " APP " => %s\n\n"
		"[source webui]\nurl = sqlite://%s/webui.db\n"
		"owners = SELECT id, path, created_at FROM file\n"
		"live = SELECT file_id FROM chat_file\n"
		"live-text = SELECT chat FROM chat\n\n"
		"[root uploads]\npath = %s/uploads\nclass = upload\nkey = regex\n"
		"key-regex = ^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})_\n"
		"source = webui\n",
		g->n_rows, g->n_files, g->dir, g->dir, g->dir, g->dir);
	return ferror(f) ? -EIO : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"schema", required_argument, NULL, 's'},
		{},
	};
	struct gen g = {.rows = 1000000, .seed = 1, .schema = "tests/fixtures/open-webui/schema-sqlite.sql"};
	char up[4096];
	int c;

	while ((c = getopt_long(argc, argv, "n:S:", opts, NULL)) >= 0) {
		if (c == 'n')
			g.rows = strtoull(optarg, NULL, 10);
		else if (c == 'S')
			g.seed = strtoull(optarg, NULL, 10);
		else if (c == 's')
			g.schema = optarg;
		else
			return 2;
	}
	if (optind + 1 != argc || g.rows == 0) {
		fprintf(stderr, "usage: mkaudit [-n ROWS] [-S SEED] [--schema FILE] DIR\n");
		return 2;
	}
	g.dir = argv[optind];
	snprintf(up, sizeof(up), "%s/uploads", g.dir);
	if ((mkdir(g.dir, 0755) < 0 && errno != EEXIST) || (mkdir(up, 0755) < 0 && errno != EEXIST))
		return log_error_errno(negative_errno(), "Failed to create %s: %m", up), 1;
	if (make_keys(&g) < 0 || make_app_db(&g) < 0 || make_catalog(&g) < 0 || write_config(&g) < 0)
		return 1;
	free(g.keys);
	printf("fsdctl audit --no-scan -c %s/fsd.conf\n", g.dir);
	return 0;
}
