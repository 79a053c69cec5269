/* Reference sources: an application's database seen as sets of keys. A
 * [source NAME] names a database and queries: `owners` yields the rows
 * that own files (key, path[, created]), `live` queries yield keys still
 * in use, `live-text` queries yield text (JSON) that is scanned for tokens
 * shaped like keys. One struct refsource is one database connection, kept
 * for a whole run (audit, plan or apply), never one per file.
 *
 * Streams, not sets: the owners come as an iterator sorted by key
 * bytewise (memcmp order, the order of catalog's CATALOG_ORDER_KEY), and
 * the `live` keys are checked by a merge against sorted database cursors,
 * so a million rows cost no more memory than one. Only live-text tokens
 * are held, as 64-bit hashes in a compact table (struct refkeys); a hash
 * collision can only make a key look alive, never dead.
 *
 * The connection is read-only unless REFSOURCE_READWRITE is passed (SQLite:
 * a `mode=ro` URI and `PRAGMA query_only`; PostgreSQL:
 * default_transaction_read_only). Errors are -errno and leave a
 * message naming the source, the query and the database's own words in
 * refsource_errmsg():
 *   -ENOENT  the database file does not exist
 *   -EBUSY   the database stayed locked past the source's busy timeout
 *   -EINVAL  a query failed (SQL error, wrong columns, keys out of order)
 *   -EROFS   a write (refsource_remove) on a read-only handle
 * Callers fail closed: after an error nothing that depends on the source
 * may be reported or planned as unreferenced. Nothing here logs above debug.
 * A handle and its iterators belong to one thread at a time. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/util.h"

struct refsource;
struct refsource_owners;
struct refsource_live;
struct refkeys;

enum {
	REFSOURCE_READWRITE = 1 << 0, /* allow refsource_remove(); default is read-only */
};

/* Opens the source's database (sqlite:///ABSOLUTE/PATH or a libpq URL,
 * postgresql://...) and checks that it answers (-ECONNREFUSED, -EACCES,
 * -ENOENT for a database that does not exist).
 * `src` must outlive the handle. On failure, if ret_error is not NULL, it
 * gets a malloc'd message naming the source and the database. */
int refsource_open(const struct config_source *src, unsigned flags, struct refsource **ret,
		   char **ret_error);
void refsource_close(struct refsource *rs); /* accepts NULL */
const char *refsource_errmsg(const struct refsource *rs);
const struct config_source *refsource_config(const struct refsource *rs);
/* The connection itself (a sqlite3 *) of a sqlite:// source, NULL for
 * any other database: the reaper's removal (cascade-app.c) runs on it, so
 * that a run's re-checks, saved rows and deletes share one connection and
 * one transaction per batch (refsource_snapshot_begin on a read-write
 * handle is BEGIN IMMEDIATE). Owned by the handle; never close it. */
void *refsource_sqlite_db(struct refsource *rs);

/* A consistent snapshot: every query between begin and end sees the same
 * database state (SQLite: one transaction, BEGIN IMMEDIATE on a read-write
 * handle so that a re-check and the removal it allows are atomic;
 * PostgreSQL: REPEATABLE READ). Cursors must be freed before end, which
 * commits; rollback undoes any refsource_remove() done inside. Nesting is
 * -EBUSY. */
int refsource_snapshot_begin(struct refsource *rs);
int refsource_snapshot_end(struct refsource *rs);
int refsource_snapshot_rollback(struct refsource *rs);

/* One row of the owners query. Strings are valid until the next
 * refsource_owners_next() or _free(). The key is never NULL (rows with a
 * NULL key are skipped and counted in stats.owners_null). */
struct refsource_owner {
	const char *key;
	size_t key_len;
	const char *path; /* the application's path as stored, or NULL */
	size_t path_len;
	int64_t created_s; /* third column, epoch seconds; -1 if absent or NULL */
};

/* Streams the owners sorted by key bytewise; equal keys may repeat. A key
 * out of order is -EINVAL (e.g. integer keys: cast them to TEXT). */
int refsource_owners_open(struct refsource *rs, struct refsource_owners **ret);
/* 1 and *ret set: a row; 0: the end; <0: an error (see refsource_errmsg). */
int refsource_owners_next(struct refsource_owners *it, const struct refsource_owner **ret);
void refsource_owners_free(struct refsource_owners *it); /* accepts NULL */

/* The live references, for checking keys in ascending order: runs the
 * live-text queries (tokens into a hash table) and opens one sorted,
 * distinct cursor per live query. */
int refsource_live_open(struct refsource *rs, struct refsource_live **ret);
/* Is `key` held by any live reference? Keys must come in non-decreasing
 * bytewise order (the owners' order). 1 live, 0 not, <0 error. */
int refsource_live_check(struct refsource_live *l, const char *key, size_t key_len);
void refsource_live_free(struct refsource_live *l); /* accepts NULL */

/* Random-order checks for the reaper's re-check before each removal: one
 * bound-parameter query per live query, plus the live-text tokens (loaded
 * once per snapshot). Run it inside a snapshot. 1 live, 0 not, <0 error. */
int refsource_is_live(struct refsource *rs, const char *key, size_t key_len);
/* ret_live[i] for keys[i] (NUL-terminated); stops at the first error. */
int refsource_live_batch(struct refsource *rs, const char *const *keys, size_t n, bool *ret_live);
/* Is `key` an owner right now (a bound-parameter query over the owners)?
 * 1 yes, 0 no, <0 error. */
int refsource_is_owner(struct refsource *rs, const char *key, size_t key_len);

/* Counters of this handle's streams since it was opened; the reaper's
 * circuit breaker compares owners and owners_live with the last good run. */
struct refsource_stats {
	uint64_t owners;         /* owner rows streamed (with a key) */
	uint64_t owners_null;    /* owner rows skipped for a NULL key */
	uint64_t owners_live;    /* owner rows found live by refsource_live_check() */
	uint64_t live_rows;      /* distinct keys read from live queries */
	uint64_t live_text_rows; /* rows of text scanned */
	uint64_t live_tokens;    /* distinct key-shaped tokens found in them */
};
void refsource_get_stats(const struct refsource *rs, struct refsource_stats *ret);

/* Runs `sql` (one column of keys, no parameters) and adds every key to
 * `into`; `what` names the query in error messages. */
int refsource_query_keys(struct refsource *rs, const char *sql, const char *what,
			 struct refkeys *into);

/* Runs the source's `remove` statements for each key (bound as :key, or
 * ?1), in config order, all keys in ONE transaction: its own, or the open
 * snapshot's (then snapshot_end commits it); -EROFS without
 * REFSOURCE_READWRITE. Returns the number of rows deleted by the last
 * statement (the owner rows). On error its own transaction is rolled back. */
int refsource_remove(struct refsource *rs, const char *const *keys, size_t n);

/* A compact set of keys: 64-bit hashes in an open-addressing table
 * (8 bytes a slot, grows at 50% load). contains() may answer a false
 * "yes" (probability ~n/2^64), never a false "no". */
int refkeys_new(struct refkeys **ret);
void refkeys_free(struct refkeys *k); /* accepts NULL */
int refkeys_add(struct refkeys *k, const char *key, size_t len); /* 1 added, 0 present, -ENOMEM */
bool refkeys_contains(const struct refkeys *k, const char *key, size_t len);
size_t refkeys_size(const struct refkeys *k);

/* Key-shaped tokens in text: the source's key-pattern ("uuid" default: the
 * 8-4-4-4-12 hex shape, case-insensitive, reported lowercase; otherwise a
 * POSIX ERE whose first group, or whole match, is the token). */
struct refscan;
int refscan_new(const char *key_pattern, struct refscan **ret); /* -EINVAL bad ERE */
void refscan_free(struct refscan *s);                            /* accepts NULL */
/* Calls cb for every token in text[0..len); stops on a negative return. */
int refscan_text(const struct refscan *s, const char *text, size_t len,
		 int (*cb)(const char *tok, size_t tok_len, void *ud), void *ud);
/* The form a key takes for matching tokens (uuid: lowercased) into buf;
 * returns the length or -ENOBUFS. */
int refscan_normalize(const struct refscan *s, const char *key, size_t len, char *buf,
		      size_t bufsz);

DEFINE_TRIVIAL_CLEANUP_FUNC(struct refsource *, refsource_close);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct refsource_owners *, refsource_owners_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct refsource_live *, refsource_live_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct refkeys *, refkeys_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct refscan *, refscan_free);
