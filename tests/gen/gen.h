/* fsd-mkdemo's shared state: the seeded generator, the output directory,
 * the two databases being built and the expected audit findings (the
 * manifest). Everything the demo contains is derived from the seed and
 * the --now clock, so two runs with the same arguments build the same
 * data directory. Internal to tests/gen/; not a library interface. */
#pragma once

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GEN_UUID_LEN 36
#define DAY (24 * 3600LL)
#define HOUR 3600LL

/* xoshiro256** seeded by splitmix64: small, fast and identical everywhere. */
struct rng {
	uint64_t s[4];
};

struct manifest {
	char **lines;
	size_t n, cap;
};

struct gen {
	const char *dir;          /* DATA_DIR as given */
	int dirfd;                /* O_PATH-free directory fd of DATA_DIR */
	const char *fixtures;     /* tests/fixtures */
	const char *app_prefix;   /* what the app calls DATA_DIR in file.path */
	const char *upload_root;  /* root name used in manifest lines */
	const char *vector_root;  /* vector store name used in manifest lines */
	uint64_t seed;
	int64_t now;              /* epoch seconds everything is dated against */
	uint64_t bulk_files;      /* uploads on disk beyond the crafted mix */
	uint64_t bulk_rows;       /* file rows beyond the crafted mix */
	struct rng rng;
	sqlite3 *db;              /* webui.db */
	sqlite3 *chroma;          /* vector_db/chroma.sqlite3 */
	struct manifest manifest;
};

/* gen-util.c */
void rng_seed(struct rng *r, uint64_t seed);
uint64_t rng_next(struct rng *r);
uint64_t rng_range(struct rng *r, uint64_t lo, uint64_t hi); /* [lo, hi] */
void rng_uuid(struct rng *r, char out[GEN_UUID_LEN + 1]);
void rng_hex(struct rng *r, char *out, size_t n); /* n hex digits + NUL */

/* Creates every missing directory of `rel` (a relative directory path). */
int gen_mkdirs(struct gen *g, const char *rel);
/* Writes a file of `size` bytes: `head` first, then seeded filler that
 * makes every file's content unique, and dates it `age` seconds before
 * --now. Parent directories are created. */
int gen_write_file(struct gen *g, const char *rel, size_t rel_len, const char *head,
		   size_t size, int64_t age);
/* Writes exactly `data` (used for deliberate duplicates). */
int gen_write_bytes(struct gen *g, const char *rel, size_t rel_len, const void *data,
		    size_t size, int64_t age);

/* Manifest lines: "category\troot\titem", item escaped (see gen_escape). */
int manifest_add(struct gen *g, const char *category, const char *root, const char *item,
		 size_t item_len);
int manifest_write(struct gen *g, const char *path);
void manifest_done(struct manifest *m);
/* Escapes bytes the way fsdctl prints names: printable UTF-8 as is,
 * control bytes and invalid UTF-8 as \xNN, a backslash as "\\".
 * Returns a malloc'd string or NULL. */
char *gen_escape(const char *s, size_t len);

/* Runs a file of SQL statements from the fixtures directory. */
int gen_exec_file(sqlite3 *db, const char *path);
/* Prepares or fails loudly (the generator's SQL is fixed). */
sqlite3_stmt *gen_prepare(sqlite3 *db, const char *sql);
/* Binds text arguments 1..n (NULL binds NULL), steps, resets. */
int gen_run(sqlite3_stmt *st, int n, ...);
int gen_run_texts(sqlite3_stmt *st, int n, const char *const *v);

/* gen-webui.c: webui.db and the upload files. */
int gen_webui(struct gen *g);

/* gen-chroma.c: vector_db/. */
struct gen_collection {
	const char *name;       /* collection name */
	const char *file_id;    /* metadata file_id of its chunks, or NULL */
	unsigned embeddings;    /* rows in its METADATA segment */
	bool with_dir;          /* the VECTOR segment's index directory exists */
};
int gen_chroma_open(struct gen *g);
int gen_chroma_collection(struct gen *g, const struct gen_collection *c,
			  char ret_id[GEN_UUID_LEN + 1]);
/* An index directory that belongs to no segment. */
int gen_chroma_orphan_dir(struct gen *g, char ret_id[GEN_UUID_LEN + 1]);
/* Embeddings whose segment does not exist. */
int gen_chroma_orphan_rows(struct gen *g, unsigned n, char ret_segment[GEN_UUID_LEN + 1]);
int gen_chroma_close(struct gen *g);

/* gen-cache.c: cache/. */
int gen_cache(struct gen *g);

/* Turns one live upload's content rotten after a scan (--bit-rot). */
int gen_bit_rot(const char *dir);
#define GEN_BIT_ROT_SUFFIX "_handbook.pdf"
