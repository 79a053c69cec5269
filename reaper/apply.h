/* Reaping: building a plan from the catalog, the reference sources and the
 * vector stores (plan-build.c, read-only), and applying it (apply.c, the
 * one place that removes anything). Applying journals each action before
 * it happens, re-checks identity and references inside one snapshot of
 * the application database, quarantines or unlinks, deletes rows with
 * their values saved, then vector entries, and records the run in the
 * catalog. reaper_recover() completes or rolls back what a crash left. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "common/config.h"
#include "reaper/journal.h"
#include "reaper/lock.h"
#include "reaper/plan.h"
#include "reaper/rules.h"

/* How each reference source stood while planning (the breaker's input). */
struct reaper_source_status {
	const char *name;
	int error;     /* 0, or the -errno that made it fail */
	char *message; /* why it failed */
	uint64_t owners, live_rows;          /* this run */
	uint64_t last_owners, last_live_rows; /* last good run (0: none) */
	double min_ratio;
	bool shrank; /* below min_ratio of the last good run */
};

struct reaper_inputs {
	struct reaper_source_status *sources;
	size_t n_sources;
	char **problems; /* other parts that failed: roots, vector stores (messages) */
	/* Every unreferenced file of the roots with an unreferenced rule, as
	 * this plan saw it; applying records it so that the next run can tell
	 * a file that was referenced in between (its grace clock restarts). */
	struct journal_unref *unref; /* paths owned */
	size_t n_unref, cap_unref;
	char **unref_roots;
};

void reaper_inputs_free(struct reaper_inputs *in); /* accepts NULL */

/* The reference sources of one run: each source's database opened once,
 * on first use, and the same connection handed to planning and applying
 * (owners, live streams, re-checks, saved rows and removals alike), so
 * a run holds one connection per source, never one per step or file.
 * readwrite for a run that applies, read-only for a dry run. A source
 * that failed to open stays failed for the run (same error, same
 * message). */
struct refsource;
struct reaper_sources;
int reaper_sources_new(const struct config *cfg, bool readwrite, struct reaper_sources **ret);
void reaper_sources_free(struct reaper_sources *s); /* accepts NULL */
bool reaper_sources_writable(const struct reaper_sources *s);
/* The handle of cfg->sources[i]; <0 and *ret_error (owned by s) when it
 * cannot be opened, now or at an earlier call. */
int reaper_sources_get(struct reaper_sources *s, size_t i, struct refsource **ret,
		       const char **ret_error);
/* The handle if it is open, NULL otherwise (never opens). */
struct refsource *reaper_sources_peek(const struct reaper_sources *s, size_t i);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct reaper_sources *, reaper_sources_free);

/* Builds the plan. Failures of a source, a root or a store are not fatal:
 * what depends on them is left out of the plan (fail closed) and the
 * failure is described in *ret_inputs. Returns <0 only for the catalog
 * or memory. */
int reaper_build_plan(struct catalog *cat, const struct config *cfg, const struct rules *rs,
		      int64_t now_ns, struct plan **ret_plan, struct reaper_inputs **ret_inputs);
/* The same, reading the references through `srcs` (kept open for the
 * apply that follows); NULL: read-only handles of its own. */
int reaper_build_plan_on(struct catalog *cat, const struct config *cfg, const struct rules *rs,
			 int64_t now_ns, struct reaper_sources *srcs, struct plan **ret_plan,
			 struct reaper_inputs **ret_inputs);

/* The circuit breaker: a reason to refuse (malloc'd) in *ret_why, 1
 * tripped, 0 fine. */
int reaper_breaker(const struct plan *pl, const struct reaper_inputs *in,
		   const struct config *cfg, const struct rules *rs, char **ret_why);

struct reaper_result {
	int64_t run_id;
	uint64_t actions, files, bytes, rows, vectors;
	uint64_t skipped;  /* changed or referenced again since planning */
	uint64_t failed;   /* an operation failed */
	uint64_t deferred; /* vector work left for later */
	char *error;       /* first failure, for the run record */
};
void reaper_result_done(struct reaper_result *r);

struct reaper_options {
	bool dry_run;    /* re-check everything, change nothing, journal nothing */
	unsigned batch;  /* actions per journal/app-database transaction; 0 = 500 */
	int64_t quarantine_keep_ns; /* purge quarantined files older than this; 0 = 7d, <0 never */
	/* The run's sources, shared with the planner (read-write unless
	 * dry_run); NULL: apply opens its own, one connection per source. */
	struct reaper_sources *sources;
};

/* Applies a plan under the reaper lock (which the caller holds: it is
 * never taken here). Recovers unfinished actions first. Returns 0 when
 * every action was done or skipped, 1 when some failed or were deferred,
 * <0 when the run could not proceed (journal, catalog). */
int reaper_apply(struct reaper_lock *lock, struct catalog *cat, const struct config *cfg,
		 const struct rules *rs, const struct plan *pl, const struct reaper_inputs *in,
		 const struct reaper_options *o, struct reaper_result *res);

struct reaper_recovery {
	uint64_t completed, rolled_back, failed, pending;
};
/* Completes or rolls back every action a crash left unfinished; for the
 * daemon's start and every reap. Actions it cannot settle yet (their
 * source or root unavailable) stay pending and are counted. */
int reaper_recover(struct reaper_lock *lock, const struct config *cfg, const char *catalog_path,
		   struct reaper_recovery *ret);

/* Quarantine commands. The filter selects journal actions (a run, an
 * action id, ended before a time); only files still held in quarantine
 * are considered. */
int reaper_purge(struct reaper_lock *lock, const struct config *cfg, const char *catalog_path,
		 const struct journal_filter *f, uint64_t *ret_n, uint64_t *ret_bytes);

struct reaper_restore_cb {
	/* Called per action: error 0 restored, else why not. Return <0 to
	 * stop, >0 to count it as failed, 0 to go on. */
	int (*report)(int64_t id, const char *root, const char *path, size_t path_len, int error,
		      const char *why, void *ud);
	void *ud;
};
/* Restores files and their saved rows; never overwrites a file recreated
 * since. Returns 1 if some could not be restored. */
int reaper_restore(struct reaper_lock *lock, const struct config *cfg, const char *catalog_path,
		   const struct journal_filter *f, struct reaper_restore_cb *cb);
