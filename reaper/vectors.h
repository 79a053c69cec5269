/* Vector stores as fsd sees them: which collections exist, which belong to
 * no live row, and which index directories or rows no longer belong to any
 * collection. Chroma (vector_db/chroma.sqlite3) is read strictly
 * read-only here; removing is the reaper's job. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"

struct vectors;

enum vector_finding_kind {
	VECTOR_DEAD_COLLECTION, /* its pattern's key is not live (e.g. file-<id> with no file row) */
	VECTOR_ORPHAN_DIR,      /* index directory named like a segment id with no such segment */
	VECTOR_ORPHAN_ROWS,     /* embeddings whose segment is gone */
	VECTOR_UNKNOWN,         /* a collection that matches no pattern: never reaped, reported */
};

struct vector_finding {
	enum vector_finding_kind kind;
	const char *collection; /* name, or NULL */
	const char *id;         /* collection id, directory name or segment id */
	const char *key;        /* the key the pattern extracted, or NULL */
	uint64_t embeddings;    /* rows that would go */
	uint64_t bytes;         /* bytes on disk (index directory) */
};

/* Opens the store described by `v`; `keys_alive` is asked, per pattern
 * query, whether a key is alive (the caller answers from the reference
 * source). -ENOENT: no store at the path; -EBUSY never (read-only). */
int vectors_open(const struct config_vectors *v, struct vectors **ret);
void vectors_free(struct vectors *vs); /* accepts NULL */
const char *vectors_errmsg(const struct vectors *vs);

/* Decides whether `key` is alive for pattern index `pattern_index`
 * (an index into v->collections). Returns 1 alive, 0 dead, <0 error
 * (then nothing is reported as dead: fail closed). */
typedef int (*vectors_alive_fn)(size_t pattern_index, const char *key, void *ud);

/* Reports every finding to `cb` (strings valid during the call). */
int vectors_audit(struct vectors *vs, vectors_alive_fn alive, void *alive_ud,
		  int (*cb)(const struct vector_finding *f, void *ud), void *ud);

/* Besides -ENOENT, vectors_open() returns -EOPNOTSUPP for a type other
 * than "chroma", -EINVAL for an empty pattern or one with two "{}",
 * -EPROTO when the file lacks Chroma's tables, -EBADMSG when it is not a
 * database. vectors_audit() reads within one read transaction and hands
 * out findings only after every query and every `alive` answer succeeded.
 * Collections are visited in name order; dead and unknown ones carry
 * their embeddings and the bytes of their VECTOR segments' directories. */

/* Listing, for the reaper and for reports. Strings are valid during the
 * call; a negative return from `cb` stops the walk and is returned. */
struct vector_collection {
	const char *id;
	const char *name;
	uint64_t embeddings; /* rows over all its segments */
};

struct vector_segment {
	const char *id;
	const char *collection; /* collection id */
	const char *scope;      /* "VECTOR" or "METADATA" */
	const char *type;       /* e.g. "urn:chroma:segment/vector/hnsw-local-persisted" */
	bool dir_exists;        /* VECTOR: vector_db/<id>/ is present (Chroma creates it lazily) */
	uint64_t bytes;         /* VECTOR: apparent size of that directory */
};

int vectors_list_collections(struct vectors *vs,
			     int (*cb)(const struct vector_collection *c, void *ud), void *ud);
/* All segments, or those of one collection id. */
int vectors_list_segments(struct vectors *vs, const char *collection_id,
			  int (*cb)(const struct vector_segment *s, void *ud), void *ud);
/* The vector_db directory the store was opened from. */
const char *vectors_path(const struct vectors *vs);

/* Matches a collection name against a pattern and extracts the key:
 * "file-{}" matches "file-<anything non-empty>"; the bare "{}" matches
 * only uuid-shaped names (8-4-4-4-12 hex digits), since it would
 * otherwise claim every collection ("knowledge-bases", "web-search-...");
 * a pattern without "{}" matches exactly that name and the key is the
 * name. Returns 1 and the NUL-terminated key in buf, 0 for no match,
 * -ENOBUFS. The first matching pattern of a store decides. */
int vectors_pattern_match(const char *pattern, const char *name, char *buf, size_t bufsz);
bool vectors_is_uuid(const char *s);
