/* The scanner (scan.h). One walking thread reads each directory of a root
 * fd-relatively (getdents64 + statx with AT_SYMLINK_NOFOLLOW), compares it
 * with that directory's catalog rows loaded in one query, and hands the
 * files that need reading to a pool of hashing threads through a bounded
 * queue (scan-pool.c). Results come back to the walking thread, which
 * alone writes the catalog, in batched transactions. Memory holds one
 * directory listing per level of the current path plus the queue, never
 * the tree.
 *
 * Safety: directories are opened with O_NOFOLLOW relative to their
 * parent and checked again once open; mount points (another device,
 * another mount id, or STATX_ATTR_MOUNT_ROOT, which catches bind mounts of
 * the same filesystem) are not entered; symlinks and special files are
 * never opened. */
#include "catalog/scan.h"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <sys/sysmacros.h>

#include "catalog/catalog-internal.h"
#include "catalog/key.h"
#include "catalog/scan-internal.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/util.h"

/* A commit rewrites every page the batch dirtied (the hash index is
 * random-ordered, so nearly all of it): fewer, larger batches cost far
 * less. The time bound keeps other writers' waits short. */
#define BATCH_ROWS 50000
#define BATCH_NS (500 * 1000000LL)
#define PROGRESS_NS (100 * 1000000LL)
#define DEPTH_MAX 512
#define DEFER_INDEXES_MIN 20000

struct scan {
	struct catalog *c;
	int64_t root_id;
	const struct config_root *root;
	const struct scan_options *o;
	struct scan_stats st;
	struct keyer *keyer;
	bool rekey, bulk, dropped_indexes;
	uint64_t defer_at;
	struct fsid fs;
	unsigned pending;
	int64_t batch_start, last_progress;
	struct pool pool;
	char path[PATH_MAX + 1];
	size_t path_len;
};

/* One directory's listing and rows, sorted by name for a merge. */
struct entry {
	size_t name; /* offset into names */
	size_t len;
	unsigned char type; /* DT_* from getdents64 */
};
struct listing {
	char *names;
	size_t names_len, names_cap;
	struct entry *e;
	size_t n, cap;
};

struct rows {
	struct listing names; /* the rows' file names, in path order */
	struct old *old;
	char **keys; /* only when re-keying */
	int64_t *ids;
	size_t n, cap;
	size_t dir_len;
	bool want_keys;
};

/* ---- catalog writes (walking thread only) ---- */

static int batch_flush(struct scan *s)
{
	int r;

	if (!catalog_in_transaction(s->c))
		return 0;
	r = catalog_commit(s->c);
	s->pending = 0;
	if (r < 0)
		return r;
	if (s->o->cancel && *s->o->cancel)
		return -ECANCELED;
	return 0;
}

/* Every write goes through here: a transaction is opened lazily, so an
 * unchanged tree takes no write lock at all, and closed after BATCH_ROWS
 * rows or BATCH_NS, whichever comes first. */
static int batch_before_write(struct scan *s)
{
	int r;

	if (catalog_in_transaction(s->c))
		return 0;
	r = catalog_begin(s->c);
	if (r < 0)
		return r;
	s->batch_start = mono_ns();
	return 0;
}

static int batch_after_write(struct scan *s)
{
	if (++s->pending >= BATCH_ROWS || mono_ns() - s->batch_start >= BATCH_NS)
		return batch_flush(s);
	return 0;
}

static int batch_tick(struct scan *s)
{
	if (catalog_in_transaction(s->c) && mono_ns() - s->batch_start >= BATCH_NS)
		return batch_flush(s);
	if (s->o->cancel && *s->o->cancel)
		return -ECANCELED;
	return 0;
}

static int write_file(struct scan *s, const struct catalog_file *f)
{
	int r = batch_before_write(s);
	if (r < 0)
		return r;
	r = catalog_file_upsert(s->c, f);
	if (r < 0)
		return r;
	return batch_after_write(s);
}

static int write_gone(struct scan *s, const char *path, size_t len, bool recursive)
{
	int r = batch_before_write(s);
	if (r < 0)
		return r;
	r = catalog_file_gone(s->c, s->root_id, path, len, recursive, now_ns());
	if (r < 0)
		return r;
	s->st.gone += (uint64_t)r;
	return batch_after_write(s);
}

static void progress(struct scan *s, bool last)
{
	char b[32];
	int64_t now;

	if (!s->o->progress)
		return;
	now = mono_ns();
	if (!last && now - s->last_progress < PROGRESS_NS)
		return;
	s->last_progress = now;
	fprintf(stderr, "\r\033[K%s: %" PRIu64 " files, %" PRIu64 " dirs, %" PRIu64 " hashed (%s)%s",
		s->root->name, s->st.files, s->st.dirs, s->st.hashed,
		format_bytes(b, sizeof(b), s->st.bytes_hashed), last ? "\r\033[K" : "");
	fflush(stderr);
}

static int derive_key(struct scan *s, const char *path, size_t len,
		      const struct catalog_hash *h, char *buf)
{
	int r = keyer_derive(s->keyer, path, len, h, buf, KEY_MAX);
	return r > 0 ? r : 0; /* a name too long for a key has none */
}

static void file_from(struct scan *s, const struct job *j, const struct meta *m,
		      struct catalog_file *f)
{
	*f = (struct catalog_file){
		.root_id = s->root_id,
		.path = j->path,
		.path_len = j->path_len,
		.size = m->size,
		.mtime_ns = m->mtime_ns,
		.ctime_ns = m->ctime_ns,
		.ino = m->ino,
		.dev = m->dev,
		.mode = m->mode,
	};
}

static bool meta_equal(const struct meta *a, const struct meta *b)
{
	return a->size == b->size && a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns &&
	       a->ino == b->ino && a->mode == b->mode && a->dev == b->dev;
}

/* A file could not be read: its row says so, and the error. */
static int apply_unreadable(struct scan *s, struct job *j)
{
	struct catalog_file f;
	char key[KEY_MAX];

	s->st.errors++;
	file_from(s, j, &j->seen, &f);
	f.state = CATALOG_UNREADABLE;
	f.error = j->error;
	f.flags = j->old.flags;
	f.key = derive_key(s, j->path, j->path_len, NULL, key) ? key : NULL;
	return write_file(s, &f);
}

/* A file that was listed and is no longer there (or no longer a regular
 * file) by the time a worker opened it. */
static int apply_vanished(struct scan *s, struct job *j)
{
	struct catalog_file f;

	if (j->old.exists)
		return write_gone(s, j->path, j->path_len, false);
	if (!j->seen.mode)
		return 0; /* gone before anything of it was seen but its name */
	file_from(s, j, &j->seen, &f);
	f.state = CATALOG_GONE;
	f.error = j->error;
	return write_file(s, &f);
}

static int apply_hashed(struct scan *s, struct job *j)
{
	const struct old *o = &j->old;
	struct catalog_file f;
	bool same_content = o->hashed && memcmp(o->hash.b, j->hash.b, CATALOG_HASH_SIZE) == 0;

	s->st.hashed++;
	s->st.bytes_hashed += j->bytes;
	file_from(s, j, &j->got, &f);
	f.hashed = true;
	f.hash = j->hash;
	f.flags = o->flags;
	if (o->exists && o->hashed && !same_content && o->m.size == j->got.size &&
	    o->m.mtime_ns == j->got.mtime_ns) {
		f.flags |= CATALOG_FLAG_CHANGED;
		s->st.mismatches++;
	} else if (o->m.size != j->got.size || o->m.mtime_ns != j->got.mtime_ns)
		f.flags &= ~(unsigned)CATALOG_FLAG_CHANGED;
	f.key = j->key;
	if (o->exists && same_content && o->state == CATALOG_PRESENT && f.flags == o->flags &&
	    meta_equal(&o->m, &j->got) && !s->rekey) {
		s->st.unchanged++;
		return 0;
	}
	if (o->exists)
		s->st.updated++;
	else
		s->st.added++;
	if (s->bulk && !s->dropped_indexes && s->st.added >= s->defer_at) {
		int r = batch_before_write(s);
		if (r < 0 || (r = catalog_defer_indexes(s->c)) < 0)
			return r;
		s->dropped_indexes = true;
		log_debug("scan: %" PRIu64 " new rows: the hash and key indexes are built at the end",
			  s->st.added);
	}
	return write_file(s, &f);
}

static int apply_one(struct scan *s, struct job *j)
{
	switch (j->res) {
	case RES_VANISHED:
		return apply_vanished(s, j);
	case RES_SKIP:
		s->st.skipped++;
		return j->old.exists ? write_gone(s, j->path, j->path_len, false) : 0;
	default:
		break;
	}
	s->st.files++;
	s->st.bytes += (uint64_t)j->seen.size;
	switch (j->res) {
	case RES_UNCHANGED:
		s->st.unchanged++;
		return 0;
	case RES_OK:
		return apply_hashed(s, j);
	default:
		return apply_unreadable(s, j);
	}
}

/* Before the walker blocks on the pool: a batch that has been open for a
 * while is committed, so that other writers are not kept waiting for as
 * long as the hashing of a few large files takes. */
static int batch_before_wait(struct scan *s)
{
	if (catalog_in_transaction(s->c) && mono_ns() - s->batch_start >= BATCH_NS / 5)
		return batch_flush(s);
	return 0;
}

static int apply_results(struct scan *s, bool wait)
{
	int r = 0;

	for (;;) {
		if (wait && (r = batch_before_wait(s)) < 0)
			return r;
		struct job *j = scan_pool_take_done(&s->pool, wait);
		if (!j)
			return r;
		while (j) {
			struct job *next = j->next;
			int k = apply_one(s, j);
			if (k < 0 && r == 0)
				r = k;
			scan_dirref_put(j->dir);
			free(j->key);
			free(j);
			j = next;
		}
		if (r < 0 || !wait)
			return r;
	}
}

/* Queues the file that s->path names (its last component is `name`). */
static int queue_job(struct scan *s, struct dirref *d, const char *name, size_t name_len,
		     const struct meta *seen, const struct old *old)
{
	struct pool *p = &s->pool;
	struct job *j = calloc(1, sizeof(*j) + s->path_len + 1);
	int r;

	if (!j)
		return -ENOMEM;
	memcpy(j->path, s->path, s->path_len);
	j->path_len = s->path_len;
	j->name_off = s->path_len - name_len;
	if (seen)
		j->seen = *seen;
	if (old)
		j->old = *old;
	atomic_fetch_add(&d->refs, 1);
	j->dir = d;

	/* Results are applied before queueing more, so that they never pile up. */
	r = apply_results(s, false);
	if (scan_pool_full(p)) {
		int k = batch_before_wait(s);
		if (k < 0 && r >= 0)
			r = k;
	}
	scan_pool_push(p, j);
	return r;
}

/* ---- the walk ---- */

static int listing_add(struct listing *l, const char *name, size_t len, unsigned char type)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct entry *e = realloc(l->e, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		l->e = e;
		l->cap = cap;
	}
	if (l->names_len + len + 1 > l->names_cap) {
		size_t cap = MAX(l->names_cap * 2, l->names_len + len + 1 + 4096);
		char *n = realloc(l->names, cap);
		if (!n)
			return -ENOMEM;
		l->names = n;
		l->names_cap = cap;
	}
	memcpy(l->names + l->names_len, name, len);
	l->names[l->names_len + len] = '\0';
	l->e[l->n++] = (struct entry){.name = l->names_len, .len = len, .type = type};
	l->names_len += len + 1;
	return 0;
}

static void listing_done(struct listing *l)
{
	free(l->names);
	free(l->e);
	*l = (struct listing){0};
}

static const char *listing_name(const struct listing *l, size_t i)
{
	return l->names + l->e[i].name;
}

static _Thread_local const char *sort_names;
static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	return strcmp(sort_names + x->name, sort_names + y->name);
}

static void listing_sort(struct listing *l)
{
	if (l->n < 2)
		return;
	sort_names = l->names;
	qsort(l->e, l->n, sizeof(*l->e), cmp_entry);
}

/* Binary search; the listing must be sorted. */
static bool listing_has(const struct listing *l, const char *name, size_t len)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const char *m = listing_name(l, mid);
		size_t mlen = l->e[mid].len;
		int c = memcmp(m, name, MIN(mlen, len));
		if (c == 0)
			c = mlen < len ? -1 : mlen > len ? 1 : 0;
		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static int read_dir(int fd, struct listing *l)
{
	_Alignas(struct dirent64) char buf[32768];
	ssize_t n;

	while ((n = getdents64(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(void *)(buf + off);
			off += d->d_reclen;
			if (streq(d->d_name, ".") || streq(d->d_name, ".."))
				continue;
			int r = listing_add(l, d->d_name, strlen(d->d_name), d->d_type);
			if (r < 0)
				return r;
		}
	}
	if (n < 0)
		return -errno;
	listing_sort(l);
	return 0;
}

static int rows_grow(struct rows *rw)
{
	size_t cap = rw->cap ? rw->cap * 2 : 64;
	struct old *o = realloc(rw->old, cap * sizeof(*o));

	if (!o)
		return -ENOMEM;
	rw->old = o;
	int64_t *ids = realloc(rw->ids, cap * sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	rw->ids = ids;
	if (rw->want_keys) {
		char **k = realloc(rw->keys, cap * sizeof(*k));
		if (!k)
			return -ENOMEM;
		rw->keys = k;
	}
	rw->cap = cap;
	return 0;
}

static int rows_add(const struct catalog_file *f, void *ud)
{
	struct rows *rw = ud;
	size_t skip = rw->dir_len ? rw->dir_len + 1 : 0;
	int r;

	if (f->path_len <= skip)
		return 0;
	if (rw->n == rw->cap && (r = rows_grow(rw)) < 0)
		return r;
	if (rw->want_keys) {
		rw->keys[rw->n] = f->key ? strdup(f->key) : NULL;
		if (f->key && !rw->keys[rw->n])
			return -ENOMEM;
	}
	r = listing_add(&rw->names, f->path + skip, f->path_len - skip, DT_REG);
	if (r < 0) {
		if (rw->want_keys)
			free(rw->keys[rw->n]);
		return r;
	}
	rw->old[rw->n] = (struct old){
		.exists = true,
		.hashed = f->hashed,
		.hash = f->hash,
		.m = {f->size, f->mtime_ns, f->ctime_ns, f->ino, f->dev, f->mode},
		.state = f->state,
		.flags = f->flags,
	};
	rw->ids[rw->n++] = f->id;
	return 0;
}

static void rows_done(struct rows *rw)
{
	for (size_t i = 0; i < rw->n && rw->keys; i++)
		free(rw->keys[i]);
	free(rw->keys);
	free(rw->old);
	free(rw->ids);
	listing_done(&rw->names);
}

/* The meaning of config_globs_match() (fsd.conf(5)): globs with a '/'
 * match the relative path with '*' crossing '/', globs without match the
 * name. Leading directories need no test here: an excluded directory is
 * never entered, so only the entry itself is matched, without copying. */
static bool excluded(struct scan *s, const char *name)
{
	if (s->path_len == strlen(FSD_QUARANTINE_DIR) &&
	    memcmp(s->path, FSD_QUARANTINE_DIR, s->path_len) == 0)
		return true;
	for (char **g = s->root->exclude; g && *g; g++) {
		if (fnmatch(*g, strchr(*g, '/') ? s->path : name, 0) == 0)
			return true;
	}
	return false;
}

static int path_push(struct scan *s, const char *name, size_t len, size_t *saved)
{
	size_t need = s->path_len + (s->path_len ? 1 : 0) + len;

	if (need > PATH_MAX)
		return -ENAMETOOLONG;
	*saved = s->path_len;
	if (s->path_len)
		s->path[s->path_len++] = '/';
	memcpy(s->path + s->path_len, name, len);
	s->path_len += len;
	s->path[s->path_len] = '\0';
	return 0;
}

static void path_pop(struct scan *s, size_t saved)
{
	s->path_len = saved;
	s->path[saved] = '\0';
}

static int walk_dir(struct scan *s, struct dirref *d, int depth);

/* A regular file found on disk and stat'ed by the walker (m), or listed as
 * one and left for a hashing thread to stat (m NULL), with its row if it
 * has one. */
static int visit_file(struct scan *s, struct dirref *d, const char *name, size_t len,
		      const struct meta *m, const struct old *old, int64_t id, const char *old_key)
{
	char key[KEY_MAX];

	if (!s->o->verify && old && scan_quick_same(old, m)) {
		s->st.files++;
		s->st.bytes += (uint64_t)m->size;
		s->st.unchanged++;
		if (!s->rekey)
			return 0;
		int k = derive_key(s, s->path, s->path_len, &old->hash, key);
		if (streq_ptr(k ? key : NULL, old_key))
			return 0;
		int r = batch_before_write(s);
		if (r < 0)
			return r;
		r = catalog_file_set_key(s->c, id, k ? key : NULL);
		return r < 0 ? r : batch_after_write(s);
	}
	return queue_job(s, d, name, len, m, old);
}


/* Marks the row of `name` in the current directory gone. */
static int gone_child(struct scan *s, const char *name, size_t len, bool recursive)
{
	size_t saved;
	int r;

	if (path_push(s, name, len, &saved) < 0)
		return 0;
	r = write_gone(s, s->path, s->path_len, recursive);
	path_pop(s, saved);
	return r;
}

/* One entry of the listing; s->path names it. Returns whether it is a
 * regular file that stays in the catalog. */
static int visit_entry(struct scan *s, struct dirref *d, const char *name, size_t len,
		       unsigned char type, const struct rows *rw, ssize_t row,
		       struct listing *subdirs, bool *ret_file)
{
	const struct old *old = row >= 0 ? &rw->old[row] : NULL;
	struct statx sx;
	struct meta m;
	int r;

	if (excluded(s, name)) {
		s->st.skipped++;
		return 0;
	}
	/* A file that will be read anyway (new, or verify) is left to a
	 * hashing thread whole, statx included: the walker's time is what
	 * bounds a first scan. Files with a row are stat'ed here, since most
	 * pass the quick-check and a round trip through the queue costs more
	 * than the statx. The hashing thread's statx decides what the entry
	 * is (a race can turn it into something else). */
	if (type == DT_REG && !s->rekey && (!old || s->o->verify)) {
		*ret_file = true;
		return queue_job(s, d, name, len, NULL, old);
	}
	if (type != DT_REG && type != DT_DIR && type != DT_UNKNOWN) {
		s->st.skipped++;
		return 0;
	}
	r = scan_statx(d->fd, name, &sx);
	if (r < 0) {
		/* ENOENT: deleted since it was listed, nothing to record. */
		if (r != -ENOENT)
			s->st.errors++;
		return 0;
	}
	if (scan_is_mount_point(&s->fs, &sx) || !(S_ISDIR(sx.stx_mode) || S_ISREG(sx.stx_mode))) {
		s->st.skipped++;
		return 0;
	}
	if (S_ISDIR(sx.stx_mode))
		return listing_add(subdirs, name, len, DT_DIR);
	*ret_file = true;
	scan_meta_from_statx(&sx, &m);
	return visit_file(s, d, name, len, &m, old, row >= 0 ? rw->ids[row] : 0,
			  row >= 0 && rw->keys ? rw->keys[row] : NULL);
}

/* Merges the sorted listing with the directory's sorted rows: rows with
 * no regular file of their name on disk are gone; files are compared and
 * maybe queued; directories to descend are collected into `subdirs`. */
static int visit_entries(struct scan *s, struct dirref *d, const struct listing *l,
			 const struct rows *rw, struct listing *subdirs)
{
	size_t j = 0, saved;
	int r = 0;

	for (size_t i = 0; i < l->n && r >= 0; i++) {
		const char *name = listing_name(l, i);
		size_t len = l->e[i].len;
		ssize_t row = -1;
		bool file = false;

		for (; j < rw->n && strcmp(listing_name(&rw->names, j), name) < 0 && r >= 0; j++)
			r = gone_child(s, listing_name(&rw->names, j), rw->names.e[j].len, false);
		if (r < 0)
			break;
		if (j < rw->n && streq(listing_name(&rw->names, j), name))
			row = (ssize_t)j++;
		if (path_push(s, name, len, &saved) < 0) {
			s->st.errors++;
			continue;
		}
		r = visit_entry(s, d, name, len, l->e[i].type, rw, row, subdirs, &file);
		if (row >= 0 && !file && r >= 0)
			r = write_gone(s, s->path, s->path_len, false);
		path_pop(s, saved);
		progress(s, false);
	}
	for (; j < rw->n && r >= 0; j++)
		r = gone_child(s, listing_name(&rw->names, j), rw->names.e[j].len, false);
	return r;
}

struct children_ctx {
	struct scan *s;
	const struct listing *subdirs;
	int r;
};

/* A subdirectory the catalog knows and the disk no longer has (or that
 * is now excluded, a mount point or a symlink): all rows below are gone. */
static int child_cb(const char *name, size_t len, void *ud)
{
	struct children_ctx *cc = ud;
	struct scan *s = cc->s;
	size_t saved;
	int r;

	if (listing_has(cc->subdirs, name, len))
		return 0;
	if (path_push(s, name, len, &saved) < 0)
		return 0;
	r = write_gone(s, s->path, s->path_len, true);
	path_pop(s, saved);
	return r;
}

static int open_subdir(struct scan *s, int dfd, const char *name, struct dirref **ret)
{
	struct statx sx;
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return -errno;
	/* Re-check what was opened: it may have been swapped since the statx. */
	if (statx(fd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_MNT_ID, &sx) < 0 ||
	    scan_is_mount_point(&s->fs, &sx)) {
		close(fd);
		return -EXDEV;
	}
	*ret = scan_dirref_new(fd);
	if (!*ret) {
		close(fd);
		return -ENOMEM;
	}
	return 0;
}

static int descend(struct scan *s, struct dirref *d, const struct listing *subdirs, int depth)
{
	int r = 0;

	for (size_t i = 0; i < subdirs->n && r >= 0; i++) {
		const char *name = listing_name(subdirs, i);
		struct dirref *child = NULL;
		size_t saved;

		if (path_push(s, name, subdirs->e[i].len, &saved) < 0) {
			s->st.errors++;
			continue;
		}
		r = depth >= DEPTH_MAX ? -ELOOP : open_subdir(s, d->fd, name, &child);
		if (r == -ENOENT || r == -ENOTDIR || r == -ELOOP || r == -EXDEV) {
			/* Vanished or replaced since it was listed. */
			if (r == -ELOOP && depth >= DEPTH_MAX)
				s->st.errors++;
			else
				s->st.skipped++;
			r = write_gone(s, s->path, s->path_len, true);
		} else if (r < 0) {
			/* Unreadable: its rows are kept as they were. */
			log_debug("scan: cannot open '%s': %s", s->path, strerror(-r));
			s->st.errors++;
			r = 0;
		} else {
			r = walk_dir(s, child, depth + 1);
			scan_dirref_put(child);
		}
		path_pop(s, saved);
	}
	return r;
}

static int walk_dir(struct scan *s, struct dirref *d, int depth)
{
	struct listing l = {0}, subdirs = {0};
	struct rows rw = {.dir_len = s->path_len, .want_keys = s->rekey};
	int r;

	s->st.dirs++;
	r = read_dir(d->fd, &l);
	if (r < 0) {
		log_debug("scan: cannot read '%s': %s", s->path, strerror(-r));
		s->st.errors++;
		listing_done(&l);
		return 0;
	}
	r = catalog_dir_load(s->c, s->root_id, s->path, s->path_len, rows_add, &rw);
	if (r >= 0)
		r = visit_entries(s, d, &l, &rw, &subdirs);
	rows_done(&rw);
	listing_done(&l);
	if (r >= 0) {
		listing_sort(&subdirs);
		struct children_ctx cc = {.s = s, .subdirs = &subdirs};
		r = catalog_dir_children(s->c, s->root_id, s->path, s->path_len, child_cb, &cc);
	}
	if (r >= 0)
		r = batch_tick(s);
	if (r >= 0)
		r = descend(s, d, &subdirs, depth);
	listing_done(&subdirs);
	return r;
}

/* ---- entry points ---- */

static int open_root(struct scan *s, int *ret_fd)
{
	struct statx sx;
	int fd = open(s->root->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return -errno;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_INO | STATX_MNT_ID, &sx) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	s->fs.dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
	s->fs.have_mnt_id = sx.stx_mask & STATX_MNT_ID;
	s->fs.mnt_id = sx.stx_mnt_id;
	if (!isempty(s->root->marker) &&
	    faccessat(fd, s->root->marker, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
		close(fd);
		return -ENOENT;
	}
	*ret_fd = fd;
	return 0;
}

static void key_spec(const struct config_root *root, char *buf, size_t n)
{
	snprintf(buf, n, "%s:%s", key_kind_to_string(root->key),
		 root->key == KEY_REGEX ? strempty(root->key_regex) : "");
}

static int scan_setup(struct scan *s, struct catalog *c, int64_t root_id,
		      const struct config_root *root, const struct scan_options *o)
{
	_cleanup_free_ char *old_spec = NULL;
	char spec[1024];
	long n;
	int r;

	*s = (struct scan){.c = c, .root_id = root_id, .root = root, .o = o};
	r = keyer_new(root, &s->keyer);
	if (r < 0)
		return r;
	key_spec(root, spec, sizeof(spec));
	r = catalog_root_key_spec(c, root_id, &old_spec);
	if (r < 0)
		return r;
	/* A root without rows has no keys to redo: re-keying there would
	 * only make the walker stat every file itself instead of handing the
	 * new ones to the hashing threads. A root that was never scanned to
	 * the end (empty spec) may hold rows of an interrupted scan, made
	 * with whatever derivation was configured then. */
	s->rekey = !streq(old_spec, spec);
	if (s->rekey && isempty(old_spec)) {
		r = catalog_root_has_rows(c, root_id);
		if (r < 0)
			return r;
		s->rekey = r > 0;
	}
	n = o->threads ? (long)o->threads : sysconf(_SC_NPROCESSORS_ONLN);
	s->fs.one_fs = root->one_file_system;
	return scan_pool_start(&s->pool, (unsigned)MIN(MAX(n, 1L), 64L), &s->fs, s->keyer, o->verify);
}

static int scan_finish(struct scan *s, int r, bool complete, int64_t started)
{
	int64_t t0 = mono_ns(), t1;
	char spec[1024];
	int k;

	k = apply_results(s, true);
	if (r >= 0)
		r = k;
	if (r >= 0 && s->o->cancel && *s->o->cancel)
		r = -ECANCELED;
	scan_pool_stop(&s->pool);
	scan_log_thread_cpu("walking thread");
	t1 = mono_ns();
	if (r >= 0 && complete) {
		key_spec(s->root, spec, sizeof(spec));
		r = batch_before_write(s);
		if (r >= 0)
			r = catalog_root_scanned(s->c, s->root_id, started, spec);
	}
	/* What an interrupted scan found is true: keep it. */
	if (catalog_in_transaction(s->c)) {
		k = r >= 0 || r == -ECANCELED ? catalog_commit(s->c) : catalog_rollback(s->c);
		if (r >= 0)
			r = k;
	}
	if (s->bulk) {
		int64_t t2 = mono_ns();
		k = catalog_bulk_end(s->c, s->dropped_indexes);
		if (r >= 0)
			r = k;
		log_debug("scan: after the walk, %.3fs for the last results, %.3fs for the last"
			  " commit, %.3fs for indexes and checkpoint", (double)(t1 - t0) / 1e9,
			  (double)(t2 - t1) / 1e9, (double)(mono_ns() - t2) / 1e9);
	}
	progress(s, true);
	keyer_free(s->keyer);
	return r;
}

int scan_root(struct catalog *c, int64_t root_id, const struct config_root *root,
	      const struct scan_options *o, struct scan_stats *ret_stats)
{
	static const struct scan_options defaults = {0};
	struct scan *s = malloc(sizeof(*s));
	int64_t started = now_ns();
	int fd = -1, r;

	if (!s)
		return -ENOMEM;
	o = o ?: &defaults;
	r = scan_setup(s, c, root_id, root, o);
	if (r < 0) {
		scan_pool_stop(&s->pool);
		keyer_free(s->keyer);
		free(s);
		return r;
	}
	r = open_root(s, &fd);
	/* Whole-root scans defer WAL checkpoints (scan_path() is too small
	 * to gain from it, and the daemon calls it often). */
	if (r >= 0) {
		int64_t rows = 0;
		r = catalog_bulk_begin(c, &rows);
		s->bulk = r >= 0;
		/* Past this many new rows, building the hash and key indexes
		 * again by sorting everything beats inserting into them. */
		s->defer_at = (uint64_t)MAX(rows / 8, (int64_t)DEFER_INDEXES_MIN);
		if (r < 0)
			fd = (close(fd), -1);
	}
	if (r >= 0) {
		struct dirref *d = scan_dirref_new(fd);
		if (!d) {
			close(fd);
			r = -ENOMEM;
		} else {
			r = walk_dir(s, d, 0);
			scan_dirref_put(d);
		}
	}
	bool root_ok = fd >= 0;
	r = scan_finish(s, r, root_ok, started);
	if (ret_stats && root_ok)
		*ret_stats = s->st;
	free(s);
	return r;
}

/* Opens the directory holding `rel`'s last component, one component at a
 * time with the same checks as the walk, and leaves s->path naming it. */
static int open_parent(struct scan *s, int rootfd, const char *rel, struct dirref **ret,
		       const char **ret_last)
{
	struct dirref *d = scan_dirref_new(rootfd);
	const char *p = rel;
	size_t saved;
	int r;

	if (!d) {
		close(rootfd);
		return -ENOMEM;
	}
	for (const char *slash; (slash = strchr(p, '/')); p = slash + 1) {
		_cleanup_free_ char *name = strndup(p, (size_t)(slash - p));
		struct dirref *child = NULL;
		if (!name) {
			scan_dirref_put(d);
			return -ENOMEM;
		}
		r = path_push(s, name, strlen(name), &saved);
		if (r >= 0)
			r = open_subdir(s, d->fd, name, &child);
		scan_dirref_put(d);
		if (r < 0)
			return r;
		d = child;
	}
	*ret = d;
	*ret_last = p;
	return 0;
}

static bool relpath_ok(const char *rel)
{
	if (isempty(rel) || rel[0] == '/' || rel[strlen(rel) - 1] == '/' || strstr(rel, "//"))
		return false;
	for (const char *p = rel; p; p = strchr(p, '/') ? strchr(p, '/') + 1 : NULL)
		if (startswith(p, "./") || startswith(p, "../") || streq(p, ".") || streq(p, ".."))
			return false;
	return true;
}

/* The last component of a scan_path(): a file, a subtree, or nothing. */
static int scan_one(struct scan *s, struct dirref *d, const char *name)
{
	_cleanup_free_ char *buf = NULL;
	struct listing subdirs = {0};
	struct catalog_file f;
	struct statx sx;
	struct meta m;
	size_t saved, len = strlen(name);
	int r;

	r = path_push(s, name, len, &saved);
	if (r < 0)
		return r;
	r = excluded(s, name) ? -ENOENT : scan_statx(d->fd, name, &sx);
	if (r == -ENOENT || (r >= 0 && (scan_is_mount_point(&s->fs, &sx) ||
					!(S_ISDIR(sx.stx_mode) || S_ISREG(sx.stx_mode)))))
		return write_gone(s, s->path, s->path_len, true);
	if (r < 0)
		return r;
	if (S_ISDIR(sx.stx_mode)) {
		/* Any row at this path as a file is gone; the subtree is walked. */
		r = write_gone(s, s->path, s->path_len, false);
		path_pop(s, saved);
		if (r >= 0)
			r = listing_add(&subdirs, name, len, DT_DIR);
		if (r >= 0)
			r = descend(s, d, &subdirs, 0);
		listing_done(&subdirs);
		return r;
	}
	scan_meta_from_statx(&sx, &m);
	buf = malloc(2 * PATH_MAX + KEY_MAX);
	if (!buf)
		return -ENOMEM;
	r = catalog_file_get(s->c, s->root_id, s->path, s->path_len, &f, buf, 2 * PATH_MAX + KEY_MAX);
	if (r == -ENOENT)
		return visit_file(s, d, name, len, &m, NULL, 0, NULL);
	if (r < 0)
		return r;
	struct old o = {
		.exists = true,
		.hashed = f.hashed,
		.hash = f.hash,
		.m = {f.size, f.mtime_ns, f.ctime_ns, f.ino, f.dev, f.mode},
		.state = f.state,
		.flags = f.flags,
	};
	return visit_file(s, d, name, len, &m, &o, f.id, f.key);
}

int scan_path(struct catalog *c, int64_t root_id, const struct config_root *root,
	      const char *relpath, const struct scan_options *o, struct scan_stats *ret_stats)
{
	static const struct scan_options defaults = {0};
	struct dirref *d = NULL;
	const char *last = NULL;
	struct scan *s;
	int fd = -1, r;

	if (isempty(relpath))
		return scan_root(c, root_id, root, o, ret_stats);
	if (!relpath_ok(relpath))
		return -EINVAL;
	s = malloc(sizeof(*s));
	if (!s)
		return -ENOMEM;
	r = scan_setup(s, c, root_id, root, o ?: &defaults);
	if (r < 0) {
		scan_pool_stop(&s->pool);
		keyer_free(s->keyer);
		free(s);
		return r;
	}
	r = open_root(s, &fd);
	if (r >= 0)
		r = open_parent(s, fd, relpath, &d, &last);
	/* A parent that is missing or not a directory: nothing below exists. */
	if (r == -ENOENT || r == -ENOTDIR || r == -ELOOP || r == -EXDEV) {
		s->path_len = 0;
		r = write_gone(s, relpath, strlen(relpath), true);
	} else if (r >= 0)
		r = scan_one(s, d, last);
	scan_dirref_put(d);
	r = scan_finish(s, r, false, 0);
	if (ret_stats && r >= 0)
		*ret_stats = s->st;
	free(s);
	return r;
}
