/* The audit: disk (as the catalog knows it), the application's database
 * (reference sources) and the vector stores, compared. A pure function of
 * catalog, references, configuration and the clock `now`: it reads the
 * sources read-only, writes nothing, and streams each finding to a
 * callback, so a million findings need no memory.
 *
 * Per source, one merge in key order over the catalog's keyed files of the
 * roots that name the source and the source's sorted owner rows yields:
 * orphan files (no owner row and no live reference, older than the
 * grace period by mtime), pending files (the same, younger),
 * unowned-referenced files (no owner row, but a live reference still
 * holds the key: never reaped, whatever their age), dangling rows (the
 * row's file is not on disk) and unreferenced rows (no live reference
 * holds the row). Then changed files and duplicates from the catalog
 * alone, then the vector stores. Protected files and roots without a key are never orphans.
 *
 * Fail closed: when a source fails, nothing that depends on it is
 * reported (an error is, through the sink), the rest of the audit goes on,
 * and audit_run() returns that error at the end. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "common/config.h"
#include "reaper/vectors.h"

enum audit_category {
	AUDIT_ORPHAN,         /* file owned by no row, past the grace period */
	AUDIT_PENDING,        /* file owned by no row, younger than the grace period: not a finding */
	AUDIT_DANGLING,       /* owner row whose file is not on disk */
	AUDIT_UNREFERENCED,   /* owner row that no live reference holds */
	AUDIT_CHANGED,        /* content changed while size and mtime did not */
	AUDIT_DUPLICATE,      /* one file of a group with the same content hash */
	AUDIT_VECTOR_COLLECTION, /* a collection whose owning row is gone */
	AUDIT_VECTOR_DIR,        /* an index directory that belongs to no segment */
	AUDIT_VECTOR_ROWS,       /* embeddings whose segment is gone */
	AUDIT_VECTOR_UNKNOWN,    /* a collection no pattern explains: listed, not a finding */
	AUDIT_UNOWNED_REFERENCED, /* file owned by no row whose key a live reference still holds */
	_AUDIT_CATEGORY_MAX,
};

#define AUDIT_ALL_CATEGORIES ((1u << _AUDIT_CATEGORY_MAX) - 1)

const char *audit_category_to_string(enum audit_category c); /* "orphan", "vector-dir", ... */
int audit_category_from_string(const char *s);                /* -EINVAL */
/* Pending files and unknown collections are reported but are not findings
 * (they do not make the exit code 1). */
bool audit_category_is_finding(enum audit_category c);

struct audit_finding {
	enum audit_category category;
	const char *root;  /* root name; NULL when the path is under no root */
	const char *path;  /* relative to root; else an absolute host path; else the app's path */
	size_t path_len;   /* paths are bytes: any byte but NUL */
	const char *key;   /* reference key, or NULL */
	int64_t size;      /* bytes on disk; -1 unknown (e.g. dangling) */
	int64_t mtime_ns;  /* files; 0 unknown */

	/* dangling, unreferenced */
	const char *source;   /* source name (also for vector findings) */
	const char *app_path; /* the path as the app's database stores it, or NULL */
	int64_t created_s;    /* the row's created column, epoch seconds; -1 unknown */
	const char *reason;   /* dangling: why the file counts as missing */

	/* duplicates: files of one group come together, the group's first
	 * (the one kept) with group_index 0 */
	uint64_t group;            /* 1, 2, ... */
	unsigned group_size;       /* files in the group */
	unsigned group_index;      /* position in the group */
	const struct catalog_hash *hash;

	/* vectors */
	const char *store; /* [vectors NAME] */
	enum vector_finding_kind vector_kind;
	const char *collection;
	const char *vector_id;
	uint64_t embeddings;
};

struct audit_totals {
	uint64_t count[_AUDIT_CATEGORY_MAX];
	uint64_t bytes[_AUDIT_CATEGORY_MAX]; /* duplicates: reclaimable bytes, size * (n - 1) */
	uint64_t findings;                   /* sum over the categories that are findings */
	uint64_t groups;                     /* duplicate groups */
	uint64_t errors;                     /* parts that failed (see the sink's error callback) */
};

struct audit_sink {
	/* Strings are valid during the call; a negative return stops the audit with it. */
	int (*finding)(const struct audit_finding *f, void *ud);
	/* A part of the audit failed and was skipped: `message` names the
	 * source or store and says why. May be NULL. */
	void (*error)(int error, const char *message, void *ud);
	void *ud;
};

struct audit_options {
	int64_t now_ns;      /* the clock: grace periods and ages are judged against it */
	unsigned categories; /* 1 << enum audit_category; 0 = all */
};

/* Runs the audit. `totals` (zeroed here) is filled even when a part
 * fails. Returns 0 when every part ran, else the first part's -errno
 * (-ENOENT, -EBUSY, -EINVAL from a source; -EBADMSG from the catalog...)
 * after finishing the parts that did not depend on it. A root that the
 * catalog does not know gives -ENOENT (run a scan first). */
int audit_run(struct catalog *cat, const struct config *cfg, const struct audit_options *o,
	      const struct audit_sink *sink, struct audit_totals *totals);

/* Where an application path lives on this host: maps it through the
 * config's prefix maps and finds the root holding it. *ret_root is NULL
 * when no root holds it (then *ret_rel is the absolute host path).
 * *ret_rel is malloc'd. -ENOENT when the path cannot be mapped. */
int audit_locate(const struct config *cfg, const char *app_path,
		 const struct config_root **ret_root, char **ret_rel);

/* True if a protect glob of the root matches the relative path or one of
 * its leading directories. */
bool audit_root_protects(const struct config_root *root, const char *path);
