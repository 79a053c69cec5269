/* Shared by the parts of apply: the run's state and the helpers that
 * open roots and sources once per run. */
#pragma once

#include "reaper/apply.h"
#include "reaper/cascade.h"
#include "reaper/journal.h"
#include "reaper/quarantine.h"
#include "reaper/refs.h"

struct apply {
	struct catalog *cat;
	const struct config *cfg;
	const struct rules *rs;
	const struct plan *pl;
	const struct reaper_inputs *in;
	const struct reaper_options *o;
	struct reaper_result *res;
	struct journal *j;
	int64_t run_id;
	struct qroot **qroots; /* per cfg root, opened on first use */
	int *qroot_err;
	/* The run's sources (the caller's, or own_srcs): one connection per
	 * source, shared by re-checks, saved rows and removals. */
	struct reaper_sources *srcs, *own_srcs;
	struct appdb **apps; /* per cfg source: the removal, on that connection */
	int *app_err;
};

void apply_note_error(struct reaper_result *res, const char *fmt, ...) _printf_(2, 3);
struct qroot *apply_qroot(struct apply *a, size_t root_index);
int apply_source(struct apply *a, size_t source_index, struct appdb **ret_app,
		 struct refsource **ret_ref);
size_t apply_source_of_root(const struct config *cfg, size_t root_index);
/* Sets up a->srcs (o->sources, or its own: read-write unless dry_run),
 * a->apps and a->app_err; apply_sources_done() undoes it. */
int apply_sources_init(struct apply *a);
void apply_sources_done(struct apply *a);

/* recover.c */
int apply_recover(struct apply *a, struct reaper_recovery *ret);
/* apply-rows.c: row-rule actions */
int apply_rows(struct apply *a);
/* cascade-chroma.c: vector actions and the collections of removed owners */
int apply_vectors(struct apply *a);
/* quarantine retention */
int apply_purge(struct apply *a, int64_t keep_ns);
