/* fsd-mkdemo's vector store: vector_db/chroma.sqlite3 built by applying
 * chromadb 1.5.9's own migrations in the order chromadb applies them, then
 * filled the way Chroma fills it for Open WebUI: per collection one VECTOR
 * segment (an HNSW index directory named after the segment id) and one
 * METADATA segment holding the embeddings, their metadata and the
 * trigram full-text index whose rowid is the embedding's id. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "common/util.h"
#include "tests/gen/gen.h"

#define DEFAULT_DB "00000000-0000-0000-0000-000000000000"
#define DIMENSION 384
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

static const char *const migration_dirs[] = {"embeddings_queue", "sysdb", "metadb"};

enum {
	ST_COLLECTION,
	ST_COLLECTION_META,
	ST_SEGMENT,
	ST_EMBEDDING,
	ST_META_STR,
	ST_META_INT,
	ST_FTS,
	ST_MAX_SEQ,
	ST_QUEUE,
	_ST_MAX,
};

static const char *const statements[_ST_MAX] = {
	[ST_COLLECTION] = "INSERT INTO collections (id, name, dimension, database_id, config_json_str) "
			  "VALUES (?1, ?2, " STRINGIFY(DIMENSION) ", '" DEFAULT_DB "', ?3)",
	[ST_COLLECTION_META] = "INSERT INTO collection_metadata (collection_id, key, str_value) "
			       "VALUES (?1, ?2, ?3)",
	[ST_SEGMENT] = "INSERT INTO segments (id, type, scope, collection) VALUES (?1, ?2, ?3, ?4)",
	[ST_EMBEDDING] = "INSERT INTO embeddings (segment_id, embedding_id, seq_id, created_at) "
			 "VALUES (?1, ?2, ?3, ?4)",
	[ST_META_STR] = "INSERT INTO embedding_metadata (id, key, string_value) VALUES (?1, ?2, ?3)",
	[ST_META_INT] = "INSERT INTO embedding_metadata (id, key, int_value) VALUES (?1, ?2, ?3)",
	[ST_FTS] = "INSERT INTO embedding_fulltext_search (rowid, string_value) VALUES (?1, ?2)",
	[ST_MAX_SEQ] = "INSERT OR REPLACE INTO max_seq_id (segment_id, seq_id) VALUES (?1, ?2)",
	[ST_QUEUE] = "INSERT INTO embeddings_queue (created_at, operation, topic, id, encoding, metadata) "
		     "VALUES (?1, 0, ?2, ?3, 'FLOAT32', ?4)",
};

static sqlite3_stmt *st[_ST_MAX];
static int64_t seq_id;

static int apply_migrations(struct gen *g)
{
	for (size_t i = 0; i < ELEMENTSOF(migration_dirs); i++) {
		_cleanup_free_ char *dir = NULL;
		struct dirent **names = NULL;
		int n, r = 0;

		if (asprintf(&dir, "%s/chroma-1.5.9/%s", g->fixtures, migration_dirs[i]) < 0)
			return -ENOMEM;
		n = scandir(dir, &names, NULL, alphasort);
		if (n < 0) {
			fprintf(stderr, "fsd-mkdemo: cannot read %s: %m\n", dir);
			return negative_errno();
		}
		for (int j = 0; j < n; j++) {
			_cleanup_free_ char *path = NULL;
			if (r >= 0 && strstr(names[j]->d_name, ".sql")) {
				if (asprintf(&path, "%s/%s", dir, names[j]->d_name) < 0)
					r = -ENOMEM;
				else
					r = gen_exec_file(g->chroma, path);
			}
			free(names[j]);
		}
		free(names);
		if (r < 0)
			return r;
	}
	return 0;
}

int gen_chroma_open(struct gen *g)
{
	_cleanup_free_ char *path = NULL;
	int r;

	r = gen_mkdirs(g, "vector_db");
	if (r < 0)
		return r;
	if (asprintf(&path, "%s/vector_db/chroma.sqlite3", g->dir) < 0)
		return -ENOMEM;
	if (sqlite3_open_v2(path, &g->chroma, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		fprintf(stderr, "fsd-mkdemo: cannot create %s: %s\n", path, sqlite3_errmsg(g->chroma));
		return -EIO;
	}
	r = apply_migrations(g);
	if (r < 0)
		return r;
	if (sqlite3_exec(g->chroma, "PRAGMA synchronous=OFF; BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return -EIO;
	for (size_t i = 0; i < _ST_MAX; i++)
		if (!(st[i] = gen_prepare(g->chroma, statements[i])))
			return -EIO;
	return 0;
}

static int bind_run(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "fsd-mkdemo: chroma: %s\n", sqlite3_errmsg(sqlite3_db_handle(s)));
		return -EIO;
	}
	return 0;
}

/* HNSW index files as chromadb's hnswlib persists them; the sizes follow
 * the embedding count so the directory's bytes mean something. */
static int write_index_dir(struct gen *g, const char *segment, unsigned embeddings, int64_t age)
{
	static const struct {
		const char *name;
		size_t per_item, base;
	} files[] = {
		{"header.bin", 0, 100},
		{"data_level0.bin", DIMENSION * 4 + 8 + 132, 0},
		{"length.bin", 4, 0},
		{"link_lists.bin", 0, 16},
		{"index_metadata.pickle", 40, 96},
	};
	char path[128];

	for (size_t i = 0; i < ELEMENTSOF(files); i++) {
		int len = snprintf(path, sizeof(path), "vector_db/%s/%s", segment, files[i].name);
		size_t size = files[i].base + files[i].per_item * (embeddings ? embeddings : 1);
		int r = gen_write_file(g, path, len, NULL, size, age);
		if (r < 0)
			return r;
	}
	return 0;
}

static int add_embedding(struct gen *g, const char *segment, const char *name,
			 const char *file_id, unsigned chunk)
{
	char eid[GEN_UUID_LEN + 1], doc[160], ts[32];
	sqlite3_int64 row;
	int r;

	rng_uuid(&g->rng, eid);
	snprintf(ts, sizeof(ts), "%lld", (long long)(g->now - 7 * DAY));
	sqlite3_bind_text(st[ST_EMBEDDING], 1, segment, -1, SQLITE_STATIC);
	sqlite3_bind_text(st[ST_EMBEDDING], 2, eid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st[ST_EMBEDDING], 3, ++seq_id);
	sqlite3_bind_text(st[ST_EMBEDDING], 4, "2026-01-01 00:00:00", -1, SQLITE_STATIC);
	r = bind_run(st[ST_EMBEDDING]);
	if (r < 0)
		return r;
	row = sqlite3_last_insert_rowid(g->chroma);
	snprintf(doc, sizeof(doc), "chunk %u of %s: the quick brown fox %llx", chunk, name,
		 (unsigned long long)rng_next(&g->rng));

	sqlite3_bind_int64(st[ST_META_STR], 1, row);
	sqlite3_bind_text(st[ST_META_STR], 2, "chroma:document", -1, SQLITE_STATIC);
	sqlite3_bind_text(st[ST_META_STR], 3, doc, -1, SQLITE_STATIC);
	if ((r = bind_run(st[ST_META_STR])) < 0)
		return r;
	sqlite3_bind_int64(st[ST_FTS], 1, row);
	sqlite3_bind_text(st[ST_FTS], 2, doc, -1, SQLITE_STATIC);
	if ((r = bind_run(st[ST_FTS])) < 0)
		return r;
	if (file_id) {
		sqlite3_bind_int64(st[ST_META_STR], 1, row);
		sqlite3_bind_text(st[ST_META_STR], 2, "file_id", -1, SQLITE_STATIC);
		sqlite3_bind_text(st[ST_META_STR], 3, file_id, -1, SQLITE_STATIC);
		if ((r = bind_run(st[ST_META_STR])) < 0)
			return r;
	}
	sqlite3_bind_int64(st[ST_META_INT], 1, row);
	sqlite3_bind_text(st[ST_META_INT], 2, "start_index", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st[ST_META_INT], 3, (sqlite3_int64)chunk * 1000);
	return bind_run(st[ST_META_INT]);
}

static int add_segment(struct gen *g, const char *collection, const char *scope, char id[])
{
	const char *type = streq(scope, "VECTOR") ? "urn:chroma:segment/vector/hnsw-local-persisted"
						  : "urn:chroma:segment/metadata/sqlite";

	rng_uuid(&g->rng, id);
	return gen_run(st[ST_SEGMENT], 4, id, type, scope, collection);
}

static int add_queue_row(struct gen *g, const char *collection)
{
	char topic[96], eid[GEN_UUID_LEN + 1];

	rng_uuid(&g->rng, eid);
	snprintf(topic, sizeof(topic), "persistent://default/default/%s", collection);
	return gen_run(st[ST_QUEUE], 4, "2026-01-01 00:00:00", topic, eid, "{\"source\": \"demo\"}");
}

int gen_chroma_collection(struct gen *g, const struct gen_collection *c,
			  char ret_id[GEN_UUID_LEN + 1])
{
	char id[GEN_UUID_LEN + 1], vseg[GEN_UUID_LEN + 1], mseg[GEN_UUID_LEN + 1], seq[24];
	int r;

	rng_uuid(&g->rng, id);
	r = gen_run(st[ST_COLLECTION], 3, id, c->name,
		    "{\"hnsw_configuration\": {\"space\": \"l2\", \"ef_construction\": 100}}");
	if (r >= 0)
		r = gen_run(st[ST_COLLECTION_META], 3, id, "hnsw:space", "cosine");
	if (r >= 0)
		r = add_segment(g, id, "VECTOR", vseg);
	if (r >= 0)
		r = add_segment(g, id, "METADATA", mseg);
	for (unsigned i = 0; r >= 0 && i < c->embeddings; i++)
		r = add_embedding(g, mseg, c->name, c->file_id, i);
	if (r < 0)
		return r;
	snprintf(seq, sizeof(seq), "%lld", (long long)seq_id);
	r = gen_run(st[ST_MAX_SEQ], 2, mseg, seq);
	if (r >= 0)
		r = add_queue_row(g, id);
	if (r >= 0 && c->with_dir)
		r = write_index_dir(g, vseg, c->embeddings, 7 * DAY);
	if (r >= 0 && ret_id)
		memcpy(ret_id, id, GEN_UUID_LEN + 1);
	return r;
}

int gen_chroma_orphan_dir(struct gen *g, char ret_id[GEN_UUID_LEN + 1])
{
	char id[GEN_UUID_LEN + 1];
	int r;

	rng_uuid(&g->rng, id);
	r = write_index_dir(g, id, 12, 30 * DAY);
	if (r >= 0)
		memcpy(ret_id, id, GEN_UUID_LEN + 1);
	return r;
}

int gen_chroma_orphan_rows(struct gen *g, unsigned n, char ret_segment[GEN_UUID_LEN + 1])
{
	char seg[GEN_UUID_LEN + 1];
	int r = 0;

	/* A segment id that was never inserted: what old Chroma versions
	 * left behind after deleting a collection. */
	rng_uuid(&g->rng, seg);
	for (unsigned i = 0; r >= 0 && i < n; i++)
		r = add_embedding(g, seg, "a collection deleted long ago", NULL, i);
	if (r >= 0)
		memcpy(ret_segment, seg, GEN_UUID_LEN + 1);
	return r;
}

int gen_chroma_close(struct gen *g)
{
	int r = 0;

	for (size_t i = 0; i < _ST_MAX; i++) {
		sqlite3_finalize(st[i]);
		st[i] = NULL;
	}
	if (!g->chroma)
		return 0;
	if (sqlite3_exec(g->chroma, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "fsd-mkdemo: chroma commit: %s\n", sqlite3_errmsg(g->chroma));
		r = -EIO;
	}
	sqlite3_close(g->chroma);
	g->chroma = NULL;
	return r;
}
