/* Quarantine and removal under a root (see quarantine.h). The directory
 * fds of the last parent and the last quarantine directory are cached, so
 * reaping a flat uploads directory costs one fstatat and one renameat2 per
 * file. A cached fd stays valid if the directory is renamed or replaced by
 * a symlink after it was opened: the operation then applies to the
 * directory that was checked, never to whatever the name points at now. */
#include "reaper/quarantine.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/failpoint.h"
#include "reaper/plan.h"

struct dircache {
	char *path; /* relative directory path ("" = the root) */
	int fd;
};

struct qroot {
	int fd;
	dev_t dev;
	struct dircache parent, qdir;
};

static void dircache_drop(struct dircache *c)
{
	free(c->path);
	if (c->fd >= 0)
		close(c->fd);
	c->path = NULL;
	c->fd = -1;
}

int qroot_open(const char *path, const char *marker, struct qroot **ret)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	if (!path || path[0] != '/')
		return -EINVAL;
	if (streq(path, "/"))
		return -EINVAL;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (marker && faccessat(fd, marker, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		return -ENOENT;
	struct qroot *q = calloc(1, sizeof *q);
	if (!q)
		return -ENOMEM;
	q->fd = TAKE_FD(fd);
	q->dev = st.st_dev;
	q->parent.fd = q->qdir.fd = -1;
	*ret = q;
	return 0;
}

void qroot_close(struct qroot *q)
{
	if (!q)
		return;
	dircache_drop(&q->parent);
	dircache_drop(&q->qdir);
	close(q->fd);
	free(q);
}

int qroot_fd(const struct qroot *q)
{
	return q->fd;
}

int quarantine_path(int64_t run_id, const char *path, size_t len, char **ret, size_t *ret_len)
{
	char *s = NULL;
	int n = asprintf(&s, "%s/%lld/%.*s", REAPER_QUARANTINE_DIR, (long long)run_id, (int)len,
			 path);
	if (n < 0)
		return -ENOMEM;
	*ret = s;
	if (ret_len)
		*ret_len = (size_t)n;
	return 0;
}

/* One component at a time, O_NOFOLLOW, same device: the fallback when the
 * kernel has no openat2. With `create`, missing directories are made. */
static int walk_dirs(struct qroot *q, const char *dir, bool create)
{
	_cleanup_free_ char *copy = strdup(dir);
	_cleanup_close_ int fd = fcntl(q->fd, F_DUPFD_CLOEXEC, 3);
	char *save = NULL;

	if (!copy || fd < 0)
		return copy ? negative_errno() : -ENOMEM;
	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		struct stat st;
		if (streq(c, "..") || streq(c, "."))
			return -EINVAL;
		if (create && mkdirat(fd, c, 0700) < 0 && errno != EEXIST)
			return negative_errno();
		int nfd = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0)
			return negative_errno();
		close(fd);
		fd = nfd;
		if (fstat(fd, &st) < 0)
			return negative_errno();
		if (st.st_dev != q->dev)
			return -EXDEV;
	}
	return TAKE_FD(fd);
}

static int open_beneath(struct qroot *q, const char *dir)
{
	static bool no_openat2;
	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV,
	};

	if (!*dir) {
		int fd = fcntl(q->fd, F_DUPFD_CLOEXEC, 3);
		return fd < 0 ? negative_errno() : fd;
	}
	if (!no_openat2) {
		long fd = syscall(SYS_openat2, q->fd, dir, &how, sizeof how);
		if (fd >= 0)
			return (int)fd;
		if (errno != ENOSYS)
			return negative_errno();
		no_openat2 = true;
	}
	return walk_dirs(q, dir, false);
}

/* The fd of the directory holding `path`'s last component, cached. */
static int parent_fd(struct qroot *q, struct dircache *c, const char *path, bool create,
		     const char **ret_leaf)
{
	const char *slash = strrchr(path, '/');
	_cleanup_free_ char *dir = strndup(path, slash ? (size_t)(slash - path) : 0);
	int fd;

	if (!dir)
		return -ENOMEM;
	*ret_leaf = slash ? slash + 1 : path;
	if (!**ret_leaf)
		return -EINVAL;
	if (c->path && streq(c->path, dir))
		return c->fd;
	fd = create ? walk_dirs(q, dir, true) : open_beneath(q, dir);
	if (fd < 0)
		return fd;
	dircache_drop(c);
	c->path = TAKE_PTR(dir);
	c->fd = fd;
	return fd;
}

static int same_file(int dfd, const char *leaf, const struct fs_identity *id)
{
	struct stat st;
	if (fstatat(dfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode))
		return 0;
	return (uint64_t)st.st_ino == id->ino && (uint64_t)st.st_dev == id->dev &&
	       st.st_size == id->size &&
	       (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec == id->mtime_ns;
}

int qroot_check(struct qroot *q, const char *path, const struct fs_identity *id)
{
	const char *leaf;
	int dfd = parent_fd(q, &q->parent, path, false, &leaf);
	if (dfd < 0)
		return dfd == -ENOTDIR ? -ENOENT : dfd;
	return same_file(dfd, leaf, id);
}

int qroot_quarantine(struct qroot *q, const char *path, const char *qpath,
		     const struct fs_identity *id)
{
	const char *leaf, *qleaf;
	int dfd, qfd, r;

	dfd = parent_fd(q, &q->parent, path, false, &leaf);
	if (dfd < 0)
		return dfd;
	r = same_file(dfd, leaf, id);
	if (r <= 0)
		return r == 0 ? -ESTALE : r;
	r = FAILPOINT("reap-before-rename");
	if (r < 0)
		return r;
	qfd = parent_fd(q, &q->qdir, qpath, true, &qleaf);
	if (qfd < 0)
		return qfd;
	if (renameat2(dfd, leaf, qfd, qleaf, RENAME_NOREPLACE) < 0)
		return negative_errno();
	return 0;
}

int qroot_unlink(struct qroot *q, const char *path, const struct fs_identity *id)
{
	const char *leaf;
	int dfd = parent_fd(q, &q->parent, path, false, &leaf);
	int r;

	if (dfd < 0)
		return dfd;
	r = same_file(dfd, leaf, id);
	if (r <= 0)
		return r == 0 ? -ESTALE : r;
	r = FAILPOINT("reap-before-unlink");
	if (r < 0)
		return r;
	return unlinkat(dfd, leaf, 0) < 0 ? negative_errno() : 0;
}

int qroot_restore(struct qroot *q, const char *qpath, const char *path,
		  const struct fs_identity *id)
{
	const char *leaf, *qleaf;
	int qfd, dfd, r;

	qfd = parent_fd(q, &q->qdir, qpath, false, &qleaf);
	if (qfd < 0)
		return qfd;
	if (id) {
		r = same_file(qfd, qleaf, id);
		if (r <= 0)
			return r == 0 ? -ESTALE : r;
	}
	/* Directories on the way back may have been removed since: recreate
	 * them, but only as real directories below the root. */
	dfd = parent_fd(q, &q->parent, path, true, &leaf);
	if (dfd < 0)
		return dfd;
	if (renameat2(qfd, qleaf, dfd, leaf, RENAME_NOREPLACE) < 0)
		return negative_errno();
	return 0;
}

int qroot_purge(struct qroot *q, const char *qpath)
{
	const char *leaf;
	int qfd = parent_fd(q, &q->qdir, qpath, false, &leaf);

	if (qfd < 0)
		return qfd == -ENOTDIR ? -ENOENT : qfd;
	return unlinkat(qfd, leaf, 0) < 0 ? negative_errno() : 0;
}

/* Post-order: removes the empty directories below dfd; returns whether
 * dfd itself ended up empty. */
static bool prune_dir(int dfd, unsigned depth)
{
	int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	bool empty = true;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	while ((de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		int cfd = de->d_type == DT_DIR && depth < 64
				  ? openat(dfd, de->d_name,
					   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
				  : -1;
		bool gone = cfd >= 0 && prune_dir(cfd, depth + 1) &&
			    unlinkat(dfd, de->d_name, AT_REMOVEDIR) == 0;
		if (cfd >= 0)
			close(cfd);
		if (!gone)
			empty = false;
	}
	closedir(d);
	return empty;
}

int qroot_prune(struct qroot *q)
{
	_cleanup_close_ int fd = openat(q->fd, REAPER_QUARANTINE_DIR,
					O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : negative_errno();
	dircache_drop(&q->qdir);
	(void)prune_dir(fd, 0);
	return 0;
}

static int remove_children(int dfd, dev_t dev, unsigned depth)
{
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (depth > 64)
		return -ELOOP;
	int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return negative_errno();
	}
	while ((de = readdir(d))) {
		struct stat st;
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (st.st_dev != dev) {
				r = -EXDEV;
				continue;
			}
			int cfd = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
							   O_CLOEXEC);
			if (cfd < 0)
				continue;
			int k = remove_children(cfd, dev, depth + 1);
			close(cfd);
			if (k < 0 && r == 0)
				r = k;
			if (unlinkat(dfd, de->d_name, AT_REMOVEDIR) < 0 && r == 0)
				r = negative_errno();
		} else if (unlinkat(dfd, de->d_name, 0) < 0 && r == 0) {
			r = negative_errno();
		}
	}
	closedir(d);
	return r;
}

int qroot_remove_tree(struct qroot *q, const char *path)
{
	_cleanup_close_ int fd = open_beneath(q, path);
	const char *leaf;
	int r, pfd;

	if (fd < 0)
		return fd;
	r = remove_children(fd, q->dev, 0);
	if (r < 0)
		return r;
	pfd = parent_fd(q, &q->parent, path, false, &leaf);
	if (pfd < 0)
		return pfd;
	return unlinkat(pfd, leaf, AT_REMOVEDIR) < 0 ? negative_errno() : 0;
}
