/* The reaper's journal: every action of every reap run, written before it
 * happens and updated after, and the app-database rows saved before they
 * are deleted (so that a restore can put them back). It is its own small
 * SQLite database next to the catalog (`<catalog>.reaper`, WAL,
 * synchronous=FULL), owned by this module: its commits must reach the disk
 * before the rename they announce, independently of the catalog's batched
 * scanner transactions, and its schema evolves with the reaper alone.
 * Runs themselves are recorded in the catalog's runs table. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

struct journal;

enum journal_state {
	JOURNAL_PLANNED,     /* written before acting */
	JOURNAL_MOVED,       /* the file is in quarantine (or unlinked); rows saved, delete pending */
	JOURNAL_DONE,        /* complete */
	JOURNAL_FAILED,      /* not done: the re-check or an operation failed (error says why) */
	JOURNAL_SKIPPED,     /* not done: the file changed or became referenced since planning */
	JOURNAL_ROLLED_BACK, /* undone by recovery after a crash */
	JOURNAL_RESTORED,    /* given back by quarantine restore */
	JOURNAL_PURGED,      /* quarantined file removed for good */
	JOURNAL_DEFERRED,    /* vector work left for later (the store was open) */
	_JOURNAL_STATE_MAX,
};

struct journal_action {
	int64_t id;
	int64_t run_id;
	enum journal_state state;
	const char *kind; /* plan_kind_to_string() */
	const char *rule;
	const char *reason;
	const char *root;      /* root name, or NULL */
	const char *root_path; /* the root's path at the time */
	const char *path;      /* relative to the root (bytes) */
	size_t path_len;
	const char *qpath; /* quarantine path relative to the root, or NULL (unlinked) */
	size_t qpath_len;
	const char *key;
	const char *source;
	const char *store, *target;
	int64_t size, mtime_ns;
	uint64_t ino, dev;
	bool quarantine;
	uint64_t rows; /* rows deleted */
	const char *error;
	int64_t ended_ns;
};

/* One saved app-database row: `table` and n columns (names and values as
 * SQLite gives them: type codes 1 int, 2 float, 3 text, 4 blob, 5 null). */
struct journal_value {
	const char *name;
	int type;
	int64_t i;
	double f;
	const void *p; /* text or blob */
	size_t len;
};

int journal_open(const char *catalog_path, struct journal **ret);
void journal_close(struct journal *j); /* accepts NULL */
const char *journal_errmsg(const struct journal *j);

int journal_begin(struct journal *j);
int journal_commit(struct journal *j);
int journal_rollback(struct journal *j);

/* Inserts an action (state from a->state); *ret_id its id. */
int journal_add(struct journal *j, const struct journal_action *a, int64_t *ret_id);
/* Sets state (and error, rows, ended time when given). */
int journal_set_state(struct journal *j, int64_t id, enum journal_state s, const char *error,
		      uint64_t rows);
int journal_save_row(struct journal *j, int64_t action_id, unsigned seq, const char *table,
		     const struct journal_value *v, size_t n);
/* Saved rows of an action in reverse order of saving (parents first, as
 * they must be re-inserted); strings valid during the callback. */
int journal_rows_foreach(struct journal *j, int64_t action_id,
			 int (*cb)(const char *table, const struct journal_value *v, size_t n,
				   void *ud),
			 void *ud);

/* Actions matching a filter, oldest first; the callback's strings are valid
 * during the call; a negative return stops with it. */
struct journal_filter {
	int64_t run_id;       /* 0: any */
	int64_t id;           /* 0: any */
	unsigned states;      /* 1 << enum journal_state; 0: any */
	bool quarantined;     /* only actions holding a quarantined file */
	bool restorable;      /* done actions holding a quarantined file or saved rows */
	int64_t ended_before; /* 0: any; else ended_ns < this */
};
int journal_foreach(struct journal *j, const struct journal_filter *f,
		    int (*cb)(const struct journal_action *a, void *ud), void *ud);

const char *journal_state_to_string(enum journal_state s);

/* What applying runs saw unreferenced, per root: each file and since when
 * (0: since before there was any record, the mtime decides). It restarts
 * an unreferenced file's grace clock when the file was referenced in
 * between. *ret_seen says whether the root has a record at all. */
int journal_unref_load(struct journal *j, const char *root, bool *ret_seen,
		       int (*cb)(const char *path, size_t len, int64_t since_ns, void *ud),
		       void *ud);
struct journal_unref {
	const char *root;
	const char *path;
	size_t path_len;
	int64_t since_ns;
};
/* Replaces the records of `roots` (NULL-terminated) with v[], in one
 * transaction of its own. */
int journal_unref_store(struct journal *j, char *const *roots, const struct journal_unref *v,
			size_t n);

DEFINE_TRIVIAL_CLEANUP_FUNC(struct journal *, journal_close);
