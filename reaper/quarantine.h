/* The reaper's hands on the filesystem: everything under a root is reached
 * fd-relatively from the root's directory fd, never following a symlink
 * and never leaving the root's filesystem (openat2 with RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV, or a component walk with
 * O_NOFOLLOW and a device check where openat2 is missing). A removal is a
 * rename into `<root>/.fsd-quarantine/<run>/<relpath>` with
 * RENAME_NOREPLACE (same filesystem, atomic, metadata kept), or an unlink
 * for rules with `quarantine = no`; each first re-checks that the file is
 * still the one planned (inode, device, size, mtime). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/util.h"

struct fs_identity {
	uint64_t ino, dev;
	int64_t size, mtime_ns;
};

struct qroot;

/* Opens a root for removals: it must be an absolute directory other than
 * "/", and its marker (if configured) must exist; -ENOTDIR, -EINVAL,
 * -ENOENT ("unmounted") otherwise. */
int qroot_open(const char *path, const char *marker, struct qroot **ret);
void qroot_close(struct qroot *q); /* accepts NULL */
int qroot_fd(const struct qroot *q);

/* Relative quarantine path of `path` for run `run_id` (malloc'd). */
int quarantine_path(int64_t run_id, const char *path, size_t len, char **ret, size_t *ret_len);

/* Is the file at `path` the one described? 1 yes, 0 no (changed, or not a
 * regular file), -ENOENT gone, <0 error (e.g. -ELOOP a symlink on the way). */
int qroot_check(struct qroot *q, const char *path, const struct fs_identity *id);

/* Moves path -> qpath after the identity check. -ESTALE changed since
 * planning, -ENOENT gone, -EEXIST qpath taken. */
int qroot_quarantine(struct qroot *q, const char *path, const char *qpath,
		     const struct fs_identity *id);
/* Unlinks path after the identity check (quarantine = no). */
int qroot_unlink(struct qroot *q, const char *path, const struct fs_identity *id);
/* Moves qpath back to path (creating its directories); -EEXIST when a file
 * has been created at path since (never overwritten). */
int qroot_restore(struct qroot *q, const char *qpath, const char *path,
		  const struct fs_identity *id);
/* Unlinks a quarantined file. -ENOENT if already gone. */
int qroot_purge(struct qroot *q, const char *qpath);
/* Removes the empty directories below the quarantine's top. */
int qroot_prune(struct qroot *q);
/* Removes a directory tree below the root (fd-relative, no symlinks
 * followed: a symlink inside is unlinked, not entered). */
int qroot_remove_tree(struct qroot *q, const char *path);

DEFINE_TRIVIAL_CLEANUP_FUNC(struct qroot *, qroot_close);
