/* Cascades: what goes with a file. The application database's rows (the
 * source's `remove` statements, run with :key bound, children first, one
 * transaction per batch, each row's values handed to the caller before it
 * is deleted so that the journal can keep them), and the vector store's
 * entries (Chroma: a dead collection's rows children-before-parents in one
 * transaction, then its VECTOR segment directories). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"
#include "reaper/journal.h"

/* ---- application database (cascade-app.c) ---- */

struct appdb;

/* A read-write connection to the source's database (sqlite:// only for
 * now; -EPROTONOSUPPORT otherwise). Every remove statement must have the
 * shape `DELETE FROM table WHERE ...` so that its rows can be saved
 * first: -EINVAL with a message otherwise. */
int appdb_open(const struct config_source *src, struct appdb **ret, char **ret_error);
/* The same on the connection of a reference source (read-write for a
 * run that removes): the run's one connection. Its transactions are then
 * the source's (refsource_snapshot_begin/end); appdb_begin/commit still
 * work when no snapshot is open. `rs` must outlive the appdb. */
struct refsource;
int appdb_open_on(struct refsource *rs, struct appdb **ret, char **ret_error);
void appdb_close(struct appdb *a); /* accepts NULL */
const char *appdb_errmsg(const struct appdb *a);
const struct config_source *appdb_source(const struct appdb *a);

int appdb_begin(struct appdb *a); /* BEGIN IMMEDIATE: writers wait for us, readers do not */
int appdb_commit(struct appdb *a);
int appdb_rollback(struct appdb *a);

typedef int (*appdb_save_fn)(unsigned seq, const char *table, const struct journal_value *v,
			     size_t n, void *ud);
/* Saves (through `save`) then deletes every row the remove statements
 * select for `key`, in order. Returns the rows deleted in total. */
int appdb_remove_key(struct appdb *a, const char *key, appdb_save_fn save, void *ud);
/* 1 if the last remove statement (the owner table) still selects rows for
 * key, 0 if not. */
int appdb_key_exists(struct appdb *a, const char *key);
/* Puts a saved row back (INSERT, never REPLACE: -EEXIST on a conflict). */
int appdb_insert_row(struct appdb *a, const char *table, const struct journal_value *v,
		     size_t n);
/* Runs a row rule's query (one column of keys; :cutoff bound to epoch
 * seconds when the query has it); *ret is a NULL-terminated strv. */
int appdb_query_keys(struct appdb *a, const char *sql, int64_t cutoff_s, char ***ret);

DEFINE_TRIVIAL_CLEANUP_FUNC(struct appdb *, appdb_close);

/* ---- Chroma (cascade-chroma.c) ---- */

struct chroma_rw;

/* Opens vector_db/chroma.sqlite3 for writing only if no other process
 * has it open: -EBUSY (and a message naming the holder) when one does. The
 * test is twofold: /proc/<pid>/fd of every other process is searched for
 * the file (a process that cannot be inspected counts as a holder: fail
 * closed), and the database is then locked with BEGIN EXCLUSIVE and a
 * zero busy timeout, which also catches a process that opens it in
 * between. The exclusive transaction stays open until commit/rollback. */
int chroma_rw_open(const char *vector_dir, struct chroma_rw **ret, char **ret_error);
void chroma_rw_close(struct chroma_rw *c); /* rolls back what was not committed */
int chroma_rw_commit(struct chroma_rw *c);
const char *chroma_rw_errmsg(const struct chroma_rw *c);
/* Deletes a collection by id or name (rows of every table that hangs off
 * it, children first; the FTS rows by rowid, never a rebuild) and appends
 * the ids of its VECTOR segments to *segments. Returns embeddings deleted,
 * 0 when there is no such collection. */
int chroma_rw_delete_collection(struct chroma_rw *c, const char *id_or_name, char ***segments);
/* Deletes the embeddings (and their metadata/FTS rows) of a segment that
 * no longer exists. Returns rows deleted. */
int chroma_rw_delete_segment_rows(struct chroma_rw *c, const char *segment_id);

DEFINE_TRIVIAL_CLEANUP_FUNC(struct chroma_rw *, chroma_rw_close);
