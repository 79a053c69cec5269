/* Inside the audit: the run's state and the pieces its passes share.
 * audit.c runs the passes (and holds the catalog-only and vector ones),
 * audit-merge.c the per-source merge, audit-dups.c the duplicate groups.
 * Nothing here is for use outside reaper/audit*.c. */
#pragma once

#include <pthread.h>
#include <stdio.h>

#include "reaper/audit.h"
#include "reaper/refs.h"

struct audit {
	struct catalog *cat;
	const struct config *cfg;
	const struct audit_sink *sink;
	struct audit_totals *t;
	unsigned mask;
	int64_t now_ns;
	int64_t *root_ids;        /* per config root */
	int *root_fds;            /* per config root, opened on demand, -1 */
	struct refsource **rs;    /* per config source, opened on demand */
	int *rs_error;            /* per config source: its open failed with this */
	int first_error;
	int abort;                /* the sink stopped us, or memory ran out */
	struct app_prefix *prefix; /* per config root */
};

/* The application path that a root's directory has, through the map the
 * config would choose, so that an owner's path is placed under its root
 * by comparing bytes, without building the host path (a million times). */
struct app_prefix {
	char *p; /* NULL: none */
	size_t len;
	int map; /* index into cfg->maps, -1: the identity (no map applies) */
};


/* One catalog file of a key group or a duplicate group, copied out of
 * the cursor. */
struct gfile {
	const struct config_root *root;
	char *path;
	size_t path_len, path_cap;
	int64_t size, mtime_ns;
};

/* The catalog files that share one key. */
struct group {
	char *key;
	size_t key_len, key_cap;
	struct gfile *f;
	size_t n, cap;
};

/* The duplicates pass beside the merge: it reads the catalog through a
 * second, read-only connection on the other core, and spools what it
 * finds, so the findings still come out in the audit's order. */
struct dup_job {
	const struct audit *a;
	const char *catalog;
	FILE *spool;
	pthread_t thread;
	int r;
	char *error;
};

bool audit_wanted(const struct audit *a, enum audit_category c);
/* Counts and reports a finding; a sink's refusal aborts the run. */
int audit_emit(struct audit *a, const struct audit_finding *f, uint64_t bytes);
/* A part failed: counted, reported through the sink, remembered. */
int audit_fail(struct audit *a, int r, const char *fmt, ...) _printf_(3, 4);
/* Parts fail on their own; only an abort (or no memory) ends the run. */
int audit_pass_result(struct audit *a, int r);

bool audit_locate_fast(const struct audit *a, const char *path,
		       const struct config_root **ret_root, const char **ret_rel);
int audit_file_exists_below(struct audit *a, const struct config_root *root, const char *rel);
int audit_file_exists_abs(const char *path);
struct refsource *audit_source_get(struct audit *a, const char *name, const char **ret_name);
const struct config_root *audit_root_by_id(const struct audit *a, int64_t id);

int audit_key_cmp(const char *a, size_t alen, const char *b, size_t blen);
int audit_buf_set(char **p, size_t *cap, const char *s, size_t len);
int audit_group_add(struct group *g, const struct config_root *root, const struct catalog_file *f);
void audit_group_done(struct group *g);

int audit_pass_source(struct audit *a, const struct config_source *src);
int audit_pass_duplicates(struct audit *a);
/* The duplicates pass on another thread and catalog connection; false
 * when it cannot start (then run audit_pass_duplicates()). */
bool audit_dup_start(struct audit *a, struct dup_job *j);
int audit_dup_finish(struct audit *a, struct dup_job *j);
