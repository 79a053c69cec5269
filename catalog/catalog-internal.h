/* Catalog calls that only the catalog module itself (the scanner) uses:
 * loading one directory's rows in one query, finding the subdirectories
 * the catalog knows below a directory, and remembering per root when it
 * was last fully scanned and with which key derivation. Not part of the
 * public contract; the schema behind them may change with migrations. */
#pragma once

#include "catalog/catalog.h"

/* Calls cb for each row (any state but gone) whose parent directory is
 * exactly `dir` ("" for the root's top level), in path order. f->path is
 * the full relative path. A negative return from cb stops with that error. */
int catalog_dir_load(struct catalog *c, int64_t root_id, const char *dir, size_t dir_len,
		     int (*cb)(const struct catalog_file *f, void *ud), void *ud);

/* Calls cb with the name (one path component) of every subdirectory of
 * `dir` that holds, at any depth, a row that is not gone. A name may be
 * reported twice (callers de-duplicate); memory does not grow with the
 * subtree, and each child costs one or two index seeks. */
int catalog_dir_children(struct catalog *c, int64_t root_id, const char *dir, size_t dir_len,
			 int (*cb)(const char *name, size_t len, void *ud), void *ud);

/* Per-root bookkeeping of the scanner. A complete scan at `scanned_ns`
 * means every row still present was seen then: last_seen_ns reads as at
 * least that, so an unchanged file costs no write. `key_spec` identifies
 * the key derivation the stored keys were made with ("" if none yet). */
int catalog_root_scanned(struct catalog *c, int64_t root_id, int64_t scanned_ns,
			 const char *key_spec);
int catalog_root_key_spec(struct catalog *c, int64_t root_id, char **ret);
/* 1 if the root has any file row (in any state), 0 if none. */
int catalog_root_has_rows(struct catalog *c, int64_t root_id);

/* Sets only the key of one row (after a change of key derivation). */
int catalog_file_set_key(struct catalog *c, int64_t id, const char *key);

/* Around a whole-root scan: WAL checkpoints are deferred (the WAL may
 * grow to 256 MiB) until catalog_bulk_end(). *ret_rows gets an estimate
 * of the number of file rows. */
int catalog_bulk_begin(struct catalog *c, int64_t *ret_rows);
/* Drops the hash and key indexes for the rest of a large load: random
 * inserts into them cost more than building them once by sorting, which
 * catalog_bulk_end() with `dropped` does (and catalog_open() after a crash
 * in between). Inside the caller's transaction if one is open. */
int catalog_defer_indexes(struct catalog *c);
int catalog_bulk_end(struct catalog *c, bool dropped);

/* True while a transaction from catalog_begin() is open. */
bool catalog_in_transaction(struct catalog *c);
