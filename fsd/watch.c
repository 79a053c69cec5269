/* The inotify watcher: one watch per directory of every root, kept as a
 * tree of small nodes (parent, name) so that a directory rename is one
 * pointer change and no descriptor is held per directory. Events become
 * catalog changes (renames keep identity, removals mark rows gone) or
 * hashing jobs; a new directory is watched and then scanned at once, so
 * files created before its watch existed are not missed. A lost event
 * queue (IN_Q_OVERFLOW) re-walks the roots, re-syncing the watches, and
 * rescans them with the quick check. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "catalog/scan.h"
#include "common/failpoint.h"
#include "common/log.h"
#include "common/util.h"
#include "fsd/fsd.h"

#define WATCH_MASK                                                                                 \
	(IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_DELETE_SELF |   \
	 IN_MOVE_SELF | IN_ATTRIB | IN_ONLYDIR | IN_EXCL_UNLINK)
/* How long the first half of a rename waits for its second half. */
#define MOVE_WAIT_NS (5 * 1000 * 1000LL)

struct wnode {
	struct wnode *parent, *child, *sibling;
	struct wnode *hnext; /* wd map chain */
	int wd;
	uint32_t gen; /* walk generation that last saw it */
	size_t root;
	char name[]; /* "" for a root */
};

struct pending_move {
	uint32_t cookie;
	bool isdir;
	size_t root;
	int64_t t;
	char *path;
	size_t len;
};

struct watch_tree {
	int fd;
	struct wnode **map; /* wd -> node, chained */
	size_t n_map;
	uint64_t n_nodes;
	uint32_t gen;
	struct wnode **tops; /* one per root, or NULL */
	size_t n_tops;
	struct pending_move *moves;
	size_t n_moves;
};

int watch_tree_new(struct daemon *d, struct watch_tree **ret)
{
	struct watch_tree *wt = calloc(1, sizeof *wt);
	if (!wt)
		return -ENOMEM;
	wt->n_map = 1024;
	wt->map = calloc(wt->n_map, sizeof *wt->map);
	wt->n_tops = d->n_roots;
	wt->tops = calloc(MAX(d->n_roots, 1), sizeof *wt->tops);
	wt->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (wt->fd < 0 || !wt->map || !wt->tops) {
		int r = wt->fd < 0 ? negative_errno() : -ENOMEM;
		watch_tree_free(wt);
		return r;
	}
	*ret = wt;
	return 0;
}

static void node_free_tree(struct wnode *n)
{
	while (n) {
		struct wnode *next = n->sibling;
		node_free_tree(n->child);
		free(n);
		n = next;
	}
}

void watch_tree_free(struct watch_tree *wt)
{
	if (!wt)
		return;
	for (size_t i = 0; i < wt->n_tops; i++)
		node_free_tree(wt->tops[i]);
	for (size_t i = 0; i < wt->n_moves; i++)
		free(wt->moves[i].path);
	free(wt->moves);
	free(wt->tops);
	free(wt->map);
	if (wt->fd >= 0)
		close(wt->fd);
	free(wt);
}

int watch_tree_fd(const struct watch_tree *wt)
{
	return wt->fd;
}

uint64_t watch_count(const struct watch_tree *wt)
{
	return wt->n_nodes;
}

bool watch_pending(const struct watch_tree *wt)
{
	return wt->n_moves > 0;
}

unsigned watch_queued_bytes(const struct watch_tree *wt)
{
	int n = 0;
	if (ioctl(wt->fd, FIONREAD, &n) < 0)
		return 0;
	return (unsigned)n;
}

static struct wnode *map_get(struct watch_tree *wt, int wd)
{
	struct wnode *n = wt->map[(size_t)wd & (wt->n_map - 1)];
	while (n && n->wd != wd)
		n = n->hnext;
	return n;
}

/* Doubles the wd map when it holds twice as many nodes as buckets. */
static void map_grow(struct watch_tree *wt)
{
	size_t n = wt->n_map * 2;
	struct wnode **m = calloc(n, sizeof *m);
	if (!m)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < wt->n_map; i++)
		for (struct wnode *x = wt->map[i], *next; x; x = next) {
			next = x->hnext;
			x->hnext = m[(size_t)x->wd & (n - 1)];
			m[(size_t)x->wd & (n - 1)] = x;
		}
	free(wt->map);
	wt->map = m;
	wt->n_map = n;
}

static void map_put(struct watch_tree *wt, struct wnode *n)
{
	struct wnode **b = &wt->map[(size_t)n->wd & (wt->n_map - 1)];
	n->hnext = *b;
	*b = n;
	if (++wt->n_nodes > 2 * wt->n_map)
		map_grow(wt);
}

static void map_del(struct watch_tree *wt, struct wnode *n)
{
	struct wnode **p = &wt->map[(size_t)n->wd & (wt->n_map - 1)];
	while (*p && *p != n)
		p = &(*p)->hnext;
	if (*p) {
		*p = n->hnext;
		wt->n_nodes--;
	}
}

static void node_unlink(struct watch_tree *wt, struct wnode *n)
{
	struct wnode **p = n->parent ? &n->parent->child : &wt->tops[n->root];
	while (*p && *p != n)
		p = &(*p)->sibling;
	if (*p)
		*p = n->sibling;
	n->sibling = NULL;
	n->parent = NULL;
}

/* Removes a node and everything below it, with their watches. */
static void node_drop(struct watch_tree *wt, struct wnode *n, bool rm_watch)
{
	node_unlink(wt, n);
	while (n->child)
		node_drop(wt, n->child, rm_watch);
	map_del(wt, n);
	if (rm_watch)
		(void)inotify_rm_watch(wt->fd, n->wd);
	free(n);
}

static struct wnode *node_child(struct wnode *parent, const char *name, size_t len)
{
	for (struct wnode *c = parent->child; c; c = c->sibling)
		if (strlen(c->name) == len && memcmp(c->name, name, len) == 0)
			return c;
	return NULL;
}

/* The node of a directory path below a root, or NULL. */
static struct wnode *node_lookup(struct watch_tree *wt, size_t root, const char *path, size_t len)
{
	struct wnode *n = root < wt->n_tops ? wt->tops[root] : NULL;
	size_t i = 0;
	while (n && i < len) {
		const char *slash = memchr(path + i, '/', len - i);
		size_t l = slash ? (size_t)(slash - (path + i)) : len - i;
		n = node_child(n, path + i, l);
		i += l + 1;
	}
	return n;
}

/* The node's path relative to its root, plus "/name" if name is given;
 * malloc'd. */
static char *node_path(const struct wnode *n, const char *name, size_t name_len, size_t *ret_len)
{
	size_t len = name ? name_len : 0;
	for (const struct wnode *p = n; p && p->parent; p = p->parent)
		len += strlen(p->name) + 1;
	char *s = malloc(len + 1);
	if (!s)
		return NULL;
	size_t end = len;
	s[end] = 0;
	if (name) {
		end -= name_len;
		memcpy(s + end, name, name_len);
	}
	for (const struct wnode *p = n; p && p->parent; p = p->parent) {
		if (end < len)
			s[--end] = '/';
		size_t l = strlen(p->name);
		end -= l;
		memcpy(s + end, p->name, l);
	}
	/* a leading '/' only appears when the name hangs directly off a root */
	if (end > 0) {
		memmove(s, s + end, len - end + 1);
		len -= end;
	}
	*ret_len = len;
	return s;
}

/* The scanner's exclusions: config_globs_match() tests the path and each
 * directory above it, as the scanner never descends into an excluded
 * directory. Out of memory counts as excluded: the next scan decides. */
bool root_excluded(const struct config_root *r, const char *path)
{
	const char *q = startswith(path, FSD_QUARANTINE_DIR);
	if (q && (*q == '\0' || *q == '/'))
		return true;
	return config_globs_match(r->exclude, path) != 0;
}

static void exhausted(struct daemon *d, struct droot *r)
{
	if (!r->exhausted_logged)
		log_warning("Out of inotify watches (fs.inotify.max_user_watches) while watching "
			    "root '%s' (%s): changes there are found by quick-check scans every "
			    "rescan-interval instead. Raise the sysctl and reload to watch it again.",
			    r->cfg->name, r->cfg->path);
	r->exhausted_logged = true;
	r->degraded = true;
	if (r->next_rescan_ns == 0)
		r->next_rescan_ns = mono_ns() + d->set.rescan_interval_ns;
}

/* Watches the directory open at `fd`, as child `name` of `parent` (a
 * root's top when parent is NULL). Returns the node, or NULL with -errno
 * in *ret_err. */
static struct wnode *watch_dir(struct daemon *d, size_t root, struct wnode *parent,
			       const char *name, int fd, int *ret_err)
{
	struct watch_tree *wt = d->wt;
	char proc[64];

	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	int wd = FAILPOINT("daemon-add-watch");
	if (wd == 0)
		wd = inotify_add_watch(wt->fd, proc, WATCH_MASK);
	else
		errno = -wd;
	if (wd < 0) {
		*ret_err = negative_errno();
		return NULL;
	}
	struct wnode *n = map_get(wt, wd);
	if (n && (n->parent != parent || !streq(n->name, name) || n->root != root)) {
		/* the same directory under a new name: a rename we did not see */
		map_del(wt, n);
		node_unlink(wt, n);
		struct wnode *m = realloc(n, sizeof *n + strlen(name) + 1);
		if (!m) {
			node_drop(wt, n, true);
			*ret_err = -ENOMEM;
			return NULL;
		}
		n = m;
		for (struct wnode *c = n->child; c; c = c->sibling)
			c->parent = n;
		strcpy(n->name, name);
		goto attach;
	}
	if (n) {
		n->gen = wt->gen;
		return n;
	}
	n = calloc(1, sizeof *n + strlen(name) + 1);
	if (!n) {
		*ret_err = -ENOMEM;
		return NULL;
	}
	n->wd = wd;
	strcpy(n->name, name);
attach:
	n->root = root;
	n->gen = wt->gen;
	n->parent = parent;
	if (parent) {
		n->sibling = parent->child;
		parent->child = n;
	} else {
		n->sibling = wt->tops[root];
		wt->tops[root] = n;
	}
	map_put(wt, n);
	return n;
}

/* Walks the directory open at `fd` (path `rel`), watching every
 * subdirectory that is not excluded and not on another filesystem. */
static int watch_walk(struct daemon *d, size_t root, struct wnode *node, int fd, const char *rel,
		      dev_t dev)
{
	struct droot *r = &d->roots[root];
	int dfd = dup(fd);
	if (dfd < 0)
		return negative_errno();
	DIR *dir = fdopendir(dfd);
	if (!dir) {
		close(dfd);
		return negative_errno();
	}
	int ret = 0;
	struct dirent *de;
	while (!r->degraded && (de = readdir(dir))) {
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		_cleanup_free_ char *sub = NULL;
		if (asprintf(&sub, "%s%s%s", rel, *rel ? "/" : "", de->d_name) < 0) {
			ret = -ENOMEM;
			break;
		}
		if (root_excluded(r->cfg, sub))
			continue;
		_cleanup_close_ int cfd =
			openat(fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		struct stat st;
		if (cfd < 0 || fstat(cfd, &st) < 0)
			continue; /* gone, a symlink, or unreadable: the scanner records it */
		if (r->cfg->one_file_system && st.st_dev != dev)
			continue;
		int err = 0;
		struct wnode *c = watch_dir(d, root, node, de->d_name, cfd, &err);
		if (!c) {
			if (err == -ENOSPC) {
				exhausted(d, r);
				break;
			}
			d->n.watch_errors++;
			log_debug_errno(err, "Cannot watch '%s' in root '%s': %m", sub, r->cfg->name);
			continue;
		}
		int k = watch_walk(d, root, c, cfd, sub, dev);
		if (k < 0 && ret == 0)
			ret = k;
	}
	closedir(dir);
	return ret;
}

/* Drops the nodes of a root that the last walk did not see. */
static void sweep(struct watch_tree *wt, struct wnode *n)
{
	struct wnode *c = n->child;
	while (c) {
		struct wnode *next = c->sibling;
		if (c->gen != wt->gen)
			node_drop(wt, c, true);
		else
			sweep(wt, c);
		c = next;
	}
}

int watch_root(struct daemon *d, struct droot *r)
{
	struct watch_tree *wt = d->wt;
	size_t root = (size_t)(r - d->roots);
	struct stat st;
	int err = 0;

	wt->gen++;
	if (r->fd < 0 || fstat(r->fd, &st) < 0)
		return -ENOENT;
	_cleanup_close_ int fd = openat(r->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	r->degraded = false;
	struct wnode *top = watch_dir(d, root, NULL, "", fd, &err);
	if (!top) {
		if (err == -ENOSPC)
			exhausted(d, r);
		return err;
	}
	r->lost = false;
	int k = watch_walk(d, root, top, fd, "", st.st_dev);
	if (!r->degraded)
		sweep(wt, top);
	return k;
}

/* A path below a root has gone (deleted, or moved out of the roots). */
static int path_gone(struct daemon *d, size_t root, const char *path, size_t len, bool isdir)
{
	int r = daemon_txn(d);
	if (r < 0)
		return r;
	r = catalog_file_gone(d->cat, d->roots[root].id, path, len, isdir, now_ns());
	if (r < 0)
		return log_warning_errno(r, "Failed to record '%s' as gone: %s", path,
					 catalog_errmsg(d->cat));
	d->n.gone += (uint64_t)r;
	d->txn_ops++;
	if (isdir) {
		struct wnode *n = node_lookup(d->wt, root, path, len);
		if (n && n->parent)
			node_drop(d->wt, n, true);
	}
	return 0;
}

/* A new directory (created or moved in): watch it and what is below it,
 * then scan it, since files may have been created before the watch. */
static int dir_appeared(struct daemon *d, struct wnode *parent, const char *name, const char *path)
{
	struct droot *r = &d->roots[parent->root];
	int err = 0;

	if (r->degraded)
		return daemon_scan_path(d, r, path);
	_cleanup_close_ int fd = open_beneath(r->fd, path, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return 0; /* gone again already; its removal event follows */
	struct stat st, rst;
	if (fstat(fd, &st) < 0 || fstat(r->fd, &rst) < 0)
		return 0;
	if (r->cfg->one_file_system && st.st_dev != rst.st_dev)
		return 0;
	d->wt->gen++;
	struct wnode *n = watch_dir(d, parent->root, parent, name, fd, &err);
	if (!n) {
		if (err == -ENOSPC)
			exhausted(d, r);
		else
			d->n.watch_errors++;
	} else
		(void)watch_walk(d, parent->root, n, fd, path, rst.st_dev);
	return daemon_scan_path(d, r, path);
}

static int file_changed(struct daemon *d, size_t root, const char *path, size_t len)
{
	struct droot *r = &d->roots[root];
	return hashq_add(d->hq, root, r->fd, path, len);
}

/* The second half of a rename, with its first half `m`. */
static int moved(struct daemon *d, struct pending_move *m, struct wnode *to_dir, const char *name,
		 const char *to, size_t to_len, bool isdir)
{
	size_t root = to_dir->root;
	int r;

	if (m->root != root) {
		r = path_gone(d, m->root, m->path, m->len, isdir);
		return isdir ? dir_appeared(d, to_dir, name, to) : file_changed(d, root, to, to_len);
	}
	r = daemon_txn(d);
	if (r < 0)
		return r;
	r = catalog_file_rename(d->cat, d->roots[root].id, m->path, m->len, to, to_len, isdir);
	if (r < 0)
		log_warning_errno(r, "Failed to record rename of '%s' to '%s': %s", m->path, to,
				  catalog_errmsg(d->cat));
	d->txn_ops++;
	d->n.renames++;
	if (!isdir) {
		/* Not in the catalog yet, or a newer version still being hashed. */
		if (r <= 0 || hashq_contains(d->hq, root, m->path, m->len))
			return file_changed(d, root, to, to_len);
		return 0;
	}
	struct wnode *n = node_lookup(d->wt, root, m->path, m->len);
	if (n && n->parent) {
		map_del(d->wt, n);
		node_unlink(d->wt, n);
		struct wnode *renamed = realloc(n, sizeof *n + strlen(name) + 1);
		if (!renamed)
			renamed = n; /* keeps its old name; the next walk corrects it */
		else
			strcpy(renamed->name, name);
		for (struct wnode *c = renamed->child; c; c = c->sibling)
			c->parent = renamed;
		renamed->root = root;
		renamed->parent = to_dir;
		renamed->sibling = to_dir->child;
		to_dir->child = renamed;
		map_put(d->wt, renamed);
	}
	/* Files under it whose hashing is still under way carry the old path:
	 * their results will not match, so the new place is scanned. */
	if (hashq_any_under(d->hq, root, m->path, m->len))
		return daemon_scan_path(d, &d->roots[root], to);
	return 0;
}

static struct pending_move *move_take(struct watch_tree *wt, uint32_t cookie)
{
	for (size_t i = 0; i < wt->n_moves; i++)
		if (wt->moves[i].cookie == cookie)
			return &wt->moves[i];
	return NULL;
}

static void move_remove(struct watch_tree *wt, struct pending_move *m)
{
	free(m->path);
	*m = wt->moves[--wt->n_moves];
}

static int move_add(struct watch_tree *wt, uint32_t cookie, size_t root, char *path, size_t len,
		    bool isdir)
{
	struct pending_move *v = realloc(wt->moves, (wt->n_moves + 1) * sizeof *v);
	if (!v)
		return -ENOMEM;
	wt->moves = v;
	v[wt->n_moves++] = (struct pending_move){
		.cookie = cookie, .isdir = isdir, .root = root, .t = mono_ns(), .path = path, .len = len,
	};
	return 0;
}

void watch_flush_moves(struct daemon *d, bool all)
{
	struct watch_tree *wt = d->wt;
	int64_t now = mono_ns();

	for (size_t i = 0; i < wt->n_moves;) {
		struct pending_move *m = &wt->moves[i];
		if (!all && now - m->t < MOVE_WAIT_NS) {
			i++;
			continue;
		}
		(void)path_gone(d, m->root, m->path, m->len, m->isdir);
		move_remove(wt, m);
	}
}

static void root_lost(struct daemon *d, struct wnode *top)
{
	struct droot *r = &d->roots[top->root];
	log_warning("Root '%s' (%s) was removed or moved away; checking it again every "
		    "rescan-interval.",
		    r->cfg->name, r->cfg->path);
	r->lost = true;
	r->next_rescan_ns = mono_ns() + d->set.rescan_interval_ns;
	node_drop(d->wt, top, true);
}

static void overflowed(struct daemon *d)
{
	d->n.overflows++;
	log_warning("The inotify event queue overflowed (fs.inotify.max_queued_events); "
		    "rescanning every root so that no change is lost.");
	watch_flush_moves(d, true);
	for (size_t i = 0; i < d->n_roots; i++) {
		d->roots[i].rescan = true;
		d->roots[i].rewatch = true;
	}
}

/* Whether the new name `name` in directory node `n` is one more link to
 * an existing file. */
static bool is_hard_link(struct daemon *d, struct wnode *n, const char *name)
{
	struct stat st;
	size_t len;
	_cleanup_free_ char *path = node_path(n, name, strlen(name), &len);
	if (!path)
		return false;
	return fstatat(d->roots[n->root].fd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISREG(st.st_mode) && st.st_nlink > 1;
}

static int handle_event(struct daemon *d, const struct inotify_event *ev)
{
	struct watch_tree *wt = d->wt;
	bool isdir = ev->mask & IN_ISDIR;

	d->n.events++;
	if (ev->mask & IN_Q_OVERFLOW) {
		overflowed(d);
		return 0;
	}
	struct wnode *n = map_get(wt, ev->wd);
	if (!n)
		return 0;
	if (ev->mask & IN_IGNORED) {
		if (n->parent)
			node_drop(wt, n, false);
		else
			root_lost(d, n);
		return 0;
	}
	if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
		if (!n->parent)
			root_lost(d, n);
		return 0;
	}
	if (ev->len == 0)
		return 0;
	size_t name_len = strnlen(ev->name, ev->len), len;
	/* A new file is recorded when it is closed after writing (or moved
	 * in); its creation alone needs nothing, unless it is a hard link,
	 * which no write will follow. */
	if ((ev->mask & (IN_CREATE | IN_ISDIR)) == IN_CREATE && !is_hard_link(d, n, ev->name))
		return 0;
	char *path = node_path(n, ev->name, name_len, &len);
	if (!path)
		return -ENOMEM;
	if (root_excluded(d->roots[n->root].cfg, path)) {
		free(path);
		return 0;
	}
	int r = 0;
	if (ev->mask & IN_MOVED_FROM) {
		r = move_add(wt, ev->cookie, n->root, path, len, isdir);
		if (r == 0)
			return 0;
	} else if (ev->mask & IN_MOVED_TO) {
		struct pending_move *m = move_take(wt, ev->cookie);
		if (m) {
			r = moved(d, m, n, ev->name, path, len, isdir);
			move_remove(wt, m);
		} else if (isdir)
			r = dir_appeared(d, n, ev->name, path);
		else
			r = file_changed(d, n->root, path, len);
	} else if (ev->mask & IN_DELETE)
		r = path_gone(d, n->root, path, len, isdir);
	else if (isdir && (ev->mask & IN_CREATE))
		r = dir_appeared(d, n, ev->name, path);
	else if (!isdir && (ev->mask & (IN_CLOSE_WRITE | IN_ATTRIB | IN_CREATE)))
		r = file_changed(d, n->root, path, len); /* IN_CREATE: a hard link */
	free(path);
	return r;
}

int watch_dispatch(struct daemon *d)
{
	char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n = read(d->wt->fd, buf, sizeof buf);
	if (n < 0)
		return errno == EAGAIN ? -EAGAIN : negative_errno();
	int ret = 0;
	for (char *p = buf; p < buf + n;) {
		const struct inotify_event *ev = (const struct inotify_event *)p;
		int r = handle_event(d, ev);
		if (r < 0 && ret == 0)
			ret = r;
		p += sizeof *ev + ev->len;
	}
	return ret;
}
