/* The scanner: walks one root fd-relatively (never following symlinks,
 * never leaving the root's filesystem, skipping excluded paths), and brings
 * the catalog in line with what it finds. Files whose size, mtime, ctime
 * and inode are unchanged are not read again (quick-check); the rest are
 * hashed by worker threads while the walking thread alone writes the
 * catalog, in batched transactions. Memory is bounded by the largest
 * directory, not by the tree. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "common/config.h"

struct scan_options {
	unsigned threads; /* hashing workers; 0 = one per CPU */
	bool verify;      /* re-hash everything; mismatches with unchanged size+mtime get CATALOG_FLAG_CHANGED */
	bool progress;    /* a progress line on stderr (callers pass isatty(2)) */
	volatile int *cancel; /* if set and non-zero, stop at the next batch with -ECANCELED */
};

struct scan_stats {
	uint64_t dirs;
	uint64_t files;      /* regular files seen */
	uint64_t bytes;      /* their total size */
	uint64_t added;      /* new in the catalog */
	uint64_t updated;    /* changed metadata or content */
	uint64_t unchanged;  /* passed quick-check */
	uint64_t gone;       /* in the catalog, no longer on disk */
	uint64_t hashed;     /* files read and hashed */
	uint64_t bytes_hashed;
	uint64_t mismatches; /* verify: content differs, size+mtime do not */
	uint64_t errors;     /* unreadable files or directories (recorded, not fatal) */
	uint64_t skipped;    /* excluded, symlinks, special files, other filesystems */
};

/* Scans `root` (root_id from catalog_root_ensure()). Fails only for the
 * root itself (missing, not a directory, marker missing: -ENOENT/-ENOTDIR)
 * or the catalog; per-file problems are counted in stats->errors and
 * recorded on the file's row. */
int scan_root(struct catalog *c, int64_t root_id, const struct config_root *root,
	      const struct scan_options *o, struct scan_stats *ret_stats);

/* Scans a single path below the root (a file or a directory subtree),
 * as the watcher does for a new directory. */
int scan_path(struct catalog *c, int64_t root_id, const struct config_root *root,
	      const char *relpath, const struct scan_options *o, struct scan_stats *ret_stats);
