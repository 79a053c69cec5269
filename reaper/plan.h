/* The planner: a pure function of catalog entries (with their references
 * already resolved), vector-store findings, rules and the clock, giving a
 * list of actions, each with the rule and a reason an operator can read.
 * It never plans a protected file, a file any owner or live reference
 * holds, an unreferenced file younger than its grace period, or anything
 * under a root whose reference source failed. It touches no disk and no
 * database: the caller feeds it (reaper/reap.c does, from the catalog and
 * the sources), root by root, and memory holds only the actions and the
 * candidates of rules that must see a whole root (keep-*, max-size,
 * min-free). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/util.h"
#include "reaper/rules.h"

/* The quarantine lives at the top of each root (same filesystem, so a
 * removal is one rename); nothing below it is ever planned. */
#define REAPER_QUARANTINE_DIR FSD_QUARANTINE_DIR /* common/config.h */

enum plan_kind {
	PLAN_REMOVE_FILE,       /* a file (to quarantine, or unlinked) */
	PLAN_REMOVE_FILE_ROWS,  /* a file and its owner rows (source remove statements) */
	PLAN_REMOVE_ROWS,       /* owner rows by key (row rules), with their file if any */
	PLAN_REMOVE_COLLECTION, /* a dead vector collection (rows, then its index dirs) */
	PLAN_REMOVE_VECTOR_DIR, /* an orphan index directory */
	PLAN_REMOVE_VECTOR_ROWS, /* embeddings whose segment is gone */
	_PLAN_KIND_MAX,
};

/* How the references stand for one catalog file. */
enum plan_ref {
	PLAN_REF_NONE,       /* no owner row, no live reference */
	PLAN_REF_OWNED_DEAD, /* an owner row exists, no live reference holds it */
	PLAN_REF_HELD,       /* an owner row is held live, or the key is live */
	PLAN_REF_UNKNOWN,    /* no key, or the root has no source */
	PLAN_REF_FAILED,     /* the source failed: never planned (fail closed) */
};

/* One catalog file as the planner sees it; strings are copied. */
struct plan_file {
	const char *path;
	size_t path_len;
	const char *key; /* NULL: none */
	int64_t size;
	int64_t mtime_ns, ctime_ns, atime_ns, btime_ns; /* atime/btime: 0 when unknown */
	uint64_t ino, dev;
	int64_t first_seen_ns;
	enum plan_ref ref;
	int64_t owner_created_ns; /* PLAN_REF_OWNED_DEAD: the row's creation, 0 unknown */
	/* PLAN_REF_NONE: since when reap runs have seen it unreferenced (the
	 * grace clock restarts when a file was referenced in between); 0:
	 * no history, the mtime alone decides. */
	int64_t unref_since_ns;
};

struct plan_action {
	enum plan_kind kind;
	size_t rule;      /* index into the rules */
	size_t root;      /* index into cfg->roots; (size_t)-1 for vector/row actions without one */
	int64_t root_id;  /* catalog root id, 0 when none */
	char *path;       /* relative to the root (bytes), or NULL */
	size_t path_len;
	char *key;        /* owner key, or NULL */
	char *store;      /* vector store name */
	char *target;     /* collection name / directory / segment id */
	int64_t size, mtime_ns;
	uint64_t ino, dev;
	uint64_t rows;    /* expected rows (vectors: embeddings) */
	bool quarantine;
	char *reason;
};

struct plan_rule_total {
	uint64_t actions, files, bytes, rows, vectors;
};

struct plan_root_total {
	uint64_t files_present; /* the root's present files, for max-delete percentages */
	uint64_t actions, bytes;
};

struct plan {
	struct plan_action *actions;
	size_t n_actions;
	struct plan_rule_total *rules; /* one per rule */
	struct plan_root_total *roots; /* one per cfg root */
	size_t n_rules, n_roots;
	uint64_t bytes, files, kept_by_grace, skipped_failed;
	int64_t now_ns;
};

struct planner;

int planner_new(const struct config *cfg, const struct rules *rs, int64_t now_ns,
		struct planner **ret);
void planner_free(struct planner *p); /* accepts NULL */

/* Root by root: begin, each present file, end. fs_free/fs_size are the
 * root filesystem's free and total bytes (for min-free); refs_failed says
 * the root's source failed. */
int planner_root_begin(struct planner *p, size_t root_index, int64_t root_id, uint64_t fs_free,
		       uint64_t fs_size, bool refs_failed);
int planner_add_file(struct planner *p, const struct plan_file *f);
int planner_root_end(struct planner *p);
/* Drops what was planned for the current root and ends it: its source
 * failed half-way, so none of it may be trusted (fail closed). */
int planner_root_abort(struct planner *p);

/* A vector finding of store `store` (see reaper/vectors.h kinds, passed as
 * plain values so that the planner does not depend on the reader). */
int planner_add_vector(struct planner *p, const char *store, int kind, const char *collection,
		       const char *id, const char *key, uint64_t embeddings, uint64_t bytes);
/* A key that a row rule selected. */
int planner_add_row_key(struct planner *p, size_t rule, const char *key);

/* Hands over the plan; the planner is spent. */
int planner_finish(struct planner *p, struct plan **ret);
void plan_free(struct plan *pl); /* accepts NULL */

const char *plan_kind_to_string(enum plan_kind k);

/* The circuit breaker's plan half: actions per root above the rules'
 * max-delete (count or percent of the root's present files). The default,
 * when no rule sets one, is 50% of a root that holds at least 20 files.
 * Writes the first offending root's index to *ret_root; 1 tripped, 0 ok. */
int plan_breaker_max_delete(const struct plan *pl, const struct config *cfg,
			    const struct rules *rs, size_t *ret_root);
/* The breaker's source half: a source whose count fell below min_ratio of
 * its last good run (last == 0: no history, always fine). */
bool breaker_ratio_ok(uint64_t last, uint64_t now, double min_ratio);

DEFINE_TRIVIAL_CLEANUP_FUNC(struct planner *, planner_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct plan *, plan_free);
