/* The catalog: what fsd knows about the files under its roots, and the
 * record of every run. SQLite (WAL) behind an opaque handle; no SQLite
 * type leaves this module. Errors are -errno; catalog_errmsg() keeps the
 * last database message. Nothing here logs above debug.
 *
 * Paths are relative to their root and are bytes: any name the kernel
 * accepts (newlines, invalid UTF-8) round-trips. Strings handed out by a
 * cursor stay valid until the next catalog_cursor_next() or _free(). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CATALOG_HASH_SIZE 16
#define CATALOG_SCHEMA_VERSION 3

struct catalog;
struct catalog_cursor;

struct catalog_hash {
	uint8_t b[CATALOG_HASH_SIZE]; /* XXH3-128, canonical (big-endian) byte order */
};

enum catalog_state {
	CATALOG_PRESENT = 0,
	CATALOG_GONE = 1,       /* was seen, no longer on disk */
	CATALOG_UNREADABLE = 2, /* on disk, could not be read (error holds the errno) */
};

enum catalog_file_flags {
	/* Content hash differed from the catalog while size and mtime had not
	 * changed: bit rot, or a writer that restored the mtime. */
	CATALOG_FLAG_CHANGED = 1 << 0,
};

struct catalog_file {
	int64_t id;
	int64_t root_id;
	const char *path; /* relative to the root; NUL-terminated too, but may contain any byte but NUL */
	size_t path_len;
	const char *key; /* reference key derived from the path/hash, or NULL */
	int64_t size;
	int64_t mtime_ns;
	int64_t ctime_ns;
	uint64_t ino;
	uint64_t dev;
	uint32_t mode;
	bool hashed;
	struct catalog_hash hash;
	int64_t first_seen_ns;
	int64_t last_seen_ns;
	enum catalog_state state;
	unsigned flags; /* enum catalog_file_flags */
	int error;      /* errno of the last failure to read it, 0 if none */
};

enum {
	CATALOG_OPEN_READONLY = 1 << 0, /* fail with -ENOENT if it does not exist */
};

/* Opens (creating parent directories and the file if needed) and migrates
 * the catalog at `path`. A file that is not a catalog or is corrupt gives
 * -EBADMSG (the message says what was wrong); a catalog written by a newer
 * fsd gives -EPROTONOSUPPORT. */
int catalog_open(const char *path, unsigned flags, struct catalog **ret);
void catalog_close(struct catalog *c); /* accepts NULL */
/* With NULL: the message of this thread's last failed catalog_open(). */
const char *catalog_errmsg(const struct catalog *c);
const char *catalog_path(const struct catalog *c);
/* Caps this connection's page cache (32 MiB by default, for bulk scans
 * and audits); a long-running daemon trades a little speed for memory. */
int catalog_set_cache_size(struct catalog *c, size_t bytes);
int catalog_schema_version(struct catalog *c);

/* Writes in between are one transaction (batch them: thousands of rows
 * per transaction, not one per file). */
int catalog_begin(struct catalog *c);
int catalog_commit(struct catalog *c);
int catalog_rollback(struct catalog *c);

/* Roots: the name is the identity; the path is updated if it changed. */
int catalog_root_ensure(struct catalog *c, const char *name, const char *path, int64_t *ret_id);
int catalog_root_find(struct catalog *c, const char *name, int64_t *ret_id); /* -ENOENT */

/* Files. upsert inserts or replaces by (root_id, path); f->id is ignored.
 * first_seen is kept from an existing row. */
int catalog_file_upsert(struct catalog *c, const struct catalog_file *f);
/* Looks a file up; the strings in *ret are copied into `buf` (size `bufsz`),
 * -ENOBUFS if it is too small, -ENOENT if there is no such row. */
int catalog_file_get(struct catalog *c, int64_t root_id, const char *path, size_t path_len,
		     struct catalog_file *ret, char *buf, size_t bufsz);
/* Marks a file, or with `recursive` everything below a directory path too,
 * as gone. Returns the number of rows changed. */
int catalog_file_gone(struct catalog *c, int64_t root_id, const char *path, size_t path_len,
		      bool recursive, int64_t now_ns);
/* Renames a file, or with `recursive` a directory and everything below it,
 * keeping identity (id, first_seen, hash). Returns rows changed. */
int catalog_file_rename(struct catalog *c, int64_t root_id, const char *from, size_t from_len,
			const char *to, size_t to_len, bool recursive);
/* Deletes rows (not files) that have been gone for longer than `older_than_ns`. */
int catalog_forget_gone(struct catalog *c, int64_t before_ns);

enum catalog_order {
	CATALOG_ORDER_PATH, /* root, path (bytewise) */
	CATALOG_ORDER_KEY,  /* root, key (bytewise), path */
	CATALOG_ORDER_HASH, /* hash, root, path */
};

struct catalog_query {
	int64_t root_id; /* 0: every root */
	enum catalog_order order;
	int state;            /* -1: any state, else enum catalog_state */
	bool duplicates_only; /* hashed present files whose hash occurs more than once */
	bool changed_only;    /* files with CATALOG_FLAG_CHANGED */
	bool keyed_only;      /* files with a key */
};

int catalog_cursor_open(struct catalog *c, const struct catalog_query *q,
			struct catalog_cursor **ret);
/* 1 and *ret set: a row; 0: the end; <0: an error. */
int catalog_cursor_next(struct catalog_cursor *cur, const struct catalog_file **ret);
void catalog_cursor_free(struct catalog_cursor *cur); /* accepts NULL */

struct catalog_root_stats {
	int64_t root_id;
	uint64_t files, bytes, hashed, gone, unreadable, changed;
};
int catalog_root_stats(struct catalog *c, int64_t root_id, struct catalog_root_stats *ret);

/* Runs: every scan, verify, audit and reap is recorded. */
struct catalog_run {
	int64_t id;
	const char *kind; /* "scan", "verify", "audit", "reap", ... */
	int64_t started_ns, ended_ns;
	uint64_t files, bytes, hashed, bytes_hashed, errors, findings;
	const char *outcome; /* "running", "ok", "findings", "failed", "interrupted" */
	const char *error;
	const char *detail; /* free-form JSON with counters of the run kind */
};
int catalog_run_begin(struct catalog *c, const char *kind, int64_t *ret_id);
/* Fills in the end: r->id names the run; kind and started_ns are ignored. */
int catalog_run_end(struct catalog *c, const struct catalog_run *r);
/* Newest first; the callback's strings are valid during the call. Return
 * a negative value from cb to stop with that error. */
int catalog_runs_foreach(struct catalog *c, const char *kind, unsigned limit,
			 int (*cb)(const struct catalog_run *r, void *ud), void *ud);

/* Key/value state that a reaper or daemon keeps between runs (e.g. a
 * reference source's last good row counts). */
int catalog_state_set(struct catalog *c, const char *name, const char *value);
int catalog_state_get(struct catalog *c, const char *name, char **ret); /* -ENOENT */
