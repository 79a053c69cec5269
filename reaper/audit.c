/* The audit (see audit.h): per source, a merge of the catalog's keyed
 * files (one key-ordered cursor per root that names the source) with the
 * source's key-ordered owner rows; then changed files and duplicate
 * groups straight from the catalog; then the vector stores. Everything is
 * streamed: memory holds one key's group of files and rows at a time
 * (plus one duplicate group), never the tables. Each source's streams are
 * all opened, and their first rows read, before anything that depends on
 * them is reported, so a missing table or a locked database reports
 * nothing rather than "everything is an orphan". */
#include "reaper/audit.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <pthread.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "reaper/refs.h"

static const char *const category_names[_AUDIT_CATEGORY_MAX] = {
	[AUDIT_ORPHAN] = "orphan",
	[AUDIT_PENDING] = "pending",
	[AUDIT_DANGLING] = "dangling",
	[AUDIT_UNREFERENCED] = "unreferenced",
	[AUDIT_CHANGED] = "changed",
	[AUDIT_DUPLICATE] = "duplicate",
	[AUDIT_VECTOR_COLLECTION] = "vector-collection",
	[AUDIT_VECTOR_DIR] = "vector-dir",
	[AUDIT_VECTOR_ROWS] = "vector-rows",
	[AUDIT_VECTOR_UNKNOWN] = "vector-unknown",
};

const char *audit_category_to_string(enum audit_category c)
{
	return c < _AUDIT_CATEGORY_MAX ? category_names[c] : NULL;
}

int audit_category_from_string(const char *s)
{
	for (int i = 0; i < _AUDIT_CATEGORY_MAX; i++)
		if (streq(s, category_names[i]))
			return i;
	return -EINVAL;
}

bool audit_category_is_finding(enum audit_category c)
{
	return c != AUDIT_PENDING && c != AUDIT_VECTOR_UNKNOWN;
}

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

static bool wanted(const struct audit *a, enum audit_category c)
{
	return a->mask & (1u << c);
}

static int emit(struct audit *a, const struct audit_finding *f, uint64_t bytes)
{
	if (!wanted(a, f->category))
		return 0;
	a->t->count[f->category]++;
	a->t->bytes[f->category] += bytes;
	if (audit_category_is_finding(f->category))
		a->t->findings++;
	int r = a->sink->finding ? a->sink->finding(f, a->sink->ud) : 0;
	if (r < 0 && !a->abort)
		a->abort = r;
	return r;
}

/* Parts fail on their own (fail() reports them); only an abort ends the run. */
static int pass_result(struct audit *a, int r)
{
	if (r == -ENOMEM && !a->abort)
		a->abort = r;
	return a->abort;
}

static int fail(struct audit *a, int r, const char *fmt, ...) _printf_(3, 4);
static int fail(struct audit *a, int r, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	a->t->errors++;
	if (a->first_error == 0)
		a->first_error = r;
	if (a->sink->error)
		a->sink->error(r, msg ? msg : "out of memory", a->sink->ud);
	return r;
}

/* ---- paths ---- */

bool audit_root_protects(const struct config_root *root, const char *path)
{
	_cleanup_free_ char *prefix = strdup(path);
	if (!prefix)
		return true; /* when in doubt, protect */
	for (char **g = root->protect; g && *g; g++) {
		if (fnmatch(*g, path, 0) == 0)
			return true;
		for (char *s = strchr(prefix, '/'); s; s = strchr(s + 1, '/')) {
			*s = 0;
			bool m = fnmatch(*g, prefix, 0) == 0;
			*s = '/';
			if (m)
				return true;
		}
	}
	return false;
}

static bool has_dot_component(const char *p)
{
	for (const char *s = p; s; s = strchr(s, '/')) {
		if (*s == '/')
			s++;
		if ((s[0] == '.' && (s[1] == '/' || !s[1])) ||
		    (s[0] == '.' && s[1] == '.' && (s[2] == '/' || !s[2])))
			return true;
	}
	return false;
}

int audit_locate(const struct config *cfg, const char *app_path,
		 const struct config_root **ret_root, char **ret_rel)
{
	_cleanup_free_ char *host = NULL;
	const struct config_root *best = NULL;
	size_t best_len = 0;
	int r;

	r = config_map_path(cfg, app_path, &host);
	if (r < 0)
		return r;
	if (host[0] != '/')
		return -ENOENT;
	for (size_t i = 0; i < cfg->n_roots && !has_dot_component(host); i++) {
		const struct config_root *root = &cfg->roots[i];
		size_t l = strlen(root->path);
		if (l > best_len && strncmp(host, root->path, l) == 0 && host[l] == '/' && host[l + 1]) {
			best = root;
			best_len = l;
		}
	}
	char *rel = strdup(best ? host + best_len + 1 : host);
	if (!rel)
		return -ENOMEM;
	*ret_root = best;
	*ret_rel = rel;
	return 0;
}

/* The map config_map_path() applies to `path`: the longest `from` that is
 * a prefix at a '/' boundary ("/" matches everything), or -1. */
static int chosen_map(const struct config *cfg, const char *path)
{
	int best = -1;
	size_t best_len = 0;
	for (size_t i = 0; i < cfg->n_maps; i++) {
		const char *from = cfg->maps[i].from;
		size_t l = streq(from, "/") ? 0 : strlen(from);
		if (strncmp(path, from, l) != 0 || (path[l] != '/' && path[l] != 0))
			continue;
		if (best < 0 || l > best_len) {
			best = (int)i;
			best_len = l;
		}
	}
	return best;
}

static int prefixes_init(struct audit *a)
{
	const struct config *cfg = a->cfg;
	for (size_t i = 0; i < cfg->n_roots; i++) {
		const char *rp = cfg->roots[i].path;
		struct app_prefix *ap = &a->prefix[i];
		ap->map = -1;
		for (size_t m = 0; m < cfg->n_maps; m++) {
			const char *from = cfg->maps[m].from, *to = cfg->maps[m].to;
			size_t tl = streq(to, "/") ? 0 : strlen(to);
			if (strncmp(rp, to, tl) != 0 || rp[tl] != '/')
				continue;
			free(ap->p);
			if (asprintf(&ap->p, "%s%s", streq(from, "/") ? "" : from, rp + tl) < 0)
				return -ENOMEM;
			ap->map = (int)m;
			/* the prefix is only right if the config maps it back this way */
			if (chosen_map(cfg, ap->p) != (int)m)
				ap->map = -2;
			break;
		}
		if (ap->map == -1 && !(ap->p = strdup(rp)))
			return -ENOMEM;
		ap->len = ap->p ? strlen(ap->p) : 0;
	}
	return 0;
}

/* audit_locate() for the common case, without allocating: the root whose
 * application prefix is the longest one of `path` under the same map, and
 * the rest as its relative path. false: use audit_locate(). */
static bool locate_fast(const struct audit *a, const char *path,
			const struct config_root **ret_root, const char **ret_rel)
{
	int m = chosen_map(a->cfg, path);
	const struct app_prefix *best = NULL;
	size_t bi = 0;

	for (size_t i = 0; i < a->cfg->n_roots; i++) {
		const struct app_prefix *ap = &a->prefix[i];
		if (!ap->p || ap->map != m || (best && ap->len <= best->len))
			continue;
		if (strncmp(path, ap->p, ap->len) == 0 && path[ap->len] == '/' && path[ap->len + 1]) {
			best = ap;
			bi = i;
		}
	}
	if (!best || has_dot_component(path + best->len + 1) || strstr(path, "//"))
		return false;
	*ret_root = &a->cfg->roots[bi];
	*ret_rel = path + best->len + 1;
	return true;
}

static int root_index(const struct audit *a, const struct config_root *root)
{
	return (int)(root - a->cfg->roots);
}

static int root_fd(struct audit *a, const struct config_root *root)
{
	int i = root_index(a, root);
	if (a->root_fds[i] == -1) {
		a->root_fds[i] = open(root->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (a->root_fds[i] < 0)
			a->root_fds[i] = -2;
	}
	return a->root_fds[i];
}

/* 1: a file is there; 0: provably nothing is; a path through a symlink
 * or any other doubt counts as there, so doubt never reports a row. */
static int file_exists_below(struct audit *a, const struct config_root *root, const char *rel)
{
	struct open_how how = {
		.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	struct stat st;
	int dfd = root_fd(a, root);

	if (dfd < 0)
		return 1;
	int fd = (int)syscall(SYS_openat2, dfd, rel, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		return fstatat(dfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
		       (errno != ENOENT && errno != ENOTDIR);
	if (fd < 0)
		return errno != ENOENT && errno != ENOTDIR;
	int r = fstat(fd, &st) == 0 ? S_ISREG(st.st_mode) : 1;
	close(fd);
	return r;
}

static int file_exists_abs(const char *path)
{
	struct stat st;
	if (lstat(path, &st) == 0)
		return S_ISREG(st.st_mode);
	return errno != ENOENT && errno != ENOTDIR;
}

/* ---- sources ---- */

static struct refsource *source_get(struct audit *a, const char *name, const char **ret_name)
{
	const struct config_source *src = name ? config_find_source(a->cfg, name) : NULL;
	if (!src && !name && a->cfg->n_sources == 1)
		src = &a->cfg->sources[0];
	if (!src) {
		fail(a, -EINVAL, "source '%s' is not configured", strempty(name));
		return NULL;
	}
	size_t i = (size_t)(src - a->cfg->sources);
	*ret_name = src->name;
	if (a->rs[i] || a->rs_error[i])
		return a->rs[i];
	_cleanup_free_ char *msg = NULL;
	int r = refsource_open(src, 0, &a->rs[i], &msg);
	if (r < 0) {
		a->rs_error[i] = r;
		fail(a, r, "%s", msg ? msg : strerror(-r));
	}
	return a->rs[i];
}


/* ---- the per-source merge ---- */

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

struct rcursor {
	const struct config_root *root;
	struct catalog_cursor *cur;
	const struct catalog_file *f; /* current row, NULL at the end */
	size_t key_len;               /* of f->key */
	char *prev;                   /* the previous key, to prove the order */
	size_t prev_len, prev_cap;
};

struct merge {
	struct audit *a;
	const char *source;
	struct refsource *rs;
	struct rcursor *rc;
	size_t n_rc;
	struct refsource_owners *own;
	const struct refsource_owner *o; /* current owner row, NULL at the end */
	struct refsource_live *live;
	struct group g;
};

static int key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, MIN(alen, blen));
	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int buf_set(char **p, size_t *cap, const char *s, size_t len)
{
	if (len + 1 > *cap) {
		size_t ncap = MAX(len + 1, 2 * *cap);
		char *n = realloc(*p, ncap);
		if (!n)
			return -ENOMEM;
		*p = n;
		*cap = ncap;
	}
	memcpy(*p, s, len);
	(*p)[len] = 0;
	return 0;
}

static int rcursor_next(struct merge *m, struct rcursor *c)
{
	const struct catalog_file *f;
	int r;

	while ((r = catalog_cursor_next(c->cur, &f)) > 0) {
		if (f->state == CATALOG_GONE || !f->key)
			continue;
		size_t len = strlen(f->key);
		if (c->prev && key_cmp(f->key, len, c->prev, c->prev_len) < 0)
			return fail(m->a, -EBADMSG, "catalog: keys of root '%s' are out of order at '%s'",
				    c->root->name, f->key);
		if (buf_set(&c->prev, &c->prev_cap, f->key, len) < 0)
			return -ENOMEM;
		c->prev_len = len;
		c->key_len = len;
		c->f = f;
		return 1;
	}
	c->f = NULL;
	if (r < 0)
		return fail(m->a, r, "catalog: %s", catalog_errmsg(m->a->cat));
	return 0;
}

static int owner_next(struct merge *m)
{
	int r = refsource_owners_next(m->own, &m->o);
	if (r <= 0)
		m->o = NULL;
	if (r < 0)
		return fail(m->a, r, "%s", refsource_errmsg(m->rs));
	return r;
}

static int group_add(struct group *g, const struct config_root *root, const struct catalog_file *f)
{
	if (g->n == g->cap) {
		size_t cap = MAX(4, 2 * g->cap);
		struct gfile *n = realloc(g->f, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		memset(n + g->cap, 0, (cap - g->cap) * sizeof(*n));
		g->f = n;
		g->cap = cap;
	}
	struct gfile *gf = &g->f[g->n];
	if (buf_set(&gf->path, &gf->path_cap, f->path, f->path_len) < 0)
		return -ENOMEM;
	gf->root = root;
	gf->path_len = f->path_len;
	gf->size = f->size;
	gf->mtime_ns = f->mtime_ns;
	g->n++;
	return 0;
}

static void group_done(struct group *g)
{
	for (size_t i = 0; i < g->cap; i++)
		free(g->f[i].path);
	free(g->f);
	free(g->key);
}

static void merge_done(struct merge *m)
{
	for (size_t i = 0; i < m->n_rc; i++) {
		catalog_cursor_free(m->rc[i].cur);
		free(m->rc[i].prev);
	}
	free(m->rc);
	refsource_live_free(m->live);
	refsource_owners_free(m->own);
	if (m->rs)
		refsource_snapshot_end(m->rs);
	group_done(&m->g);
}

static int merge_open_roots(struct merge *m)
{
	struct audit *a = m->a;
	m->rc = calloc(a->cfg->n_roots + 1, sizeof(*m->rc));
	if (!m->rc)
		return -ENOMEM;
	for (size_t i = 0; i < a->cfg->n_roots; i++) {
		const struct config_root *root = &a->cfg->roots[i];
		if (root->key == KEY_NONE || !streq_ptr(root->source, m->source))
			continue;
		if (a->root_ids[i] <= 0)
			return fail(a, -ENOENT, "source '%s' not audited: root '%s' is not in the catalog",
				    m->source, root->name);
		struct catalog_query q = {.root_id = a->root_ids[i], .order = CATALOG_ORDER_KEY,
					  .state = -1, .keyed_only = true};
		struct rcursor *c = &m->rc[m->n_rc++];
		c->root = root;
		int r = catalog_cursor_open(a->cat, &q, &c->cur);
		if (r < 0)
			return fail(a, r, "catalog: %s", catalog_errmsg(a->cat));
		r = rcursor_next(m, c);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Opens every stream and reads its first row before anything is reported. */
static int merge_open(struct merge *m)
{
	struct audit *a = m->a;
	int r;

	r = refsource_snapshot_begin(m->rs);
	if (r < 0) {
		fail(a, r, "%s", refsource_errmsg(m->rs));
		m->rs = NULL; /* nothing to end */
		return r;
	}
	r = refsource_owners_open(m->rs, &m->own);
	if (r < 0)
		return fail(a, r, "%s", refsource_errmsg(m->rs));
	r = owner_next(m);
	if (r < 0)
		return r;
	if (wanted(a, AUDIT_UNREFERENCED)) {
		r = refsource_live_open(m->rs, &m->live);
		if (r < 0)
			return fail(a, r, "%s", refsource_errmsg(m->rs));
	}
	return merge_open_roots(m);
}

/* The smallest current key over the catalog cursors and the owners. */
static bool merge_min_key(struct merge *m, const char **ret, size_t *ret_len)
{
	const char *k = NULL;
	size_t kl = 0;

	for (size_t i = 0; i < m->n_rc; i++) {
		const struct rcursor *c = &m->rc[i];
		if (c->f && (!k || key_cmp(c->f->key, c->key_len, k, kl) < 0)) {
			k = c->f->key;
			kl = c->key_len;
		}
	}
	if (m->o && (!k || key_cmp(m->o->key, m->o->key_len, k, kl) < 0)) {
		k = m->o->key;
		kl = m->o->key_len;
	}
	*ret = k;
	*ret_len = kl;
	return k != NULL;
}

static bool at_key(const struct group *g, const char *key, size_t len)
{
	return key_cmp(key, len, g->key, g->key_len) == 0;
}

static int group_collect(struct merge *m)
{
	m->g.n = 0;
	for (size_t i = 0; i < m->n_rc; i++) {
		struct rcursor *c = &m->rc[i];
		while (c->f && at_key(&m->g, c->f->key, c->key_len)) {
			int r = group_add(&m->g, c->root, c->f);
			if (r < 0)
				return r;
			r = rcursor_next(m, c);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int report_unowned(struct merge *m)
{
	struct audit *a = m->a;
	for (size_t i = 0; i < m->g.n; i++) {
		const struct gfile *gf = &m->g.f[i];
		if (audit_root_protects(gf->root, gf->path))
			continue;
		bool young = a->now_ns - gf->mtime_ns < a->cfg->grace_ns;
		struct audit_finding f = {
			.category = young ? AUDIT_PENDING : AUDIT_ORPHAN,
			.root = gf->root->name,
			.path = gf->path,
			.path_len = gf->path_len,
			.key = m->g.key,
			.size = gf->size,
			.mtime_ns = gf->mtime_ns,
			.source = m->source,
			.created_s = -1,
		};
		int r = emit(a, &f, (uint64_t)MAX(gf->size, 0));
		if (r < 0)
			return r;
	}
	return 0;
}

/* Where an owner row's file is. *ret_file is its catalog entry when the
 * catalog has it; ret_root/ret_rel say where the row points (NULL root:
 * an absolute host path; NULL rel: nowhere on this host). */
struct owner_place {
	const struct gfile *file;
	const struct config_root *root;
	const char *rel;
	char *rel_owned;
	const char *reason;
	bool present;
};

static int owner_locate(struct merge *m, const struct refsource_owner *o, struct owner_place *p)
{
	int r = -ENOENT;

	*p = (struct owner_place){.file = m->g.n ? &m->g.f[0] : NULL, .present = m->g.n > 0,
				  .reason = "no file has its key"};
	if (o->path && o->path_len && locate_fast(m->a, o->path, &p->root, &p->rel))
		r = 0;
	else if (o->path && o->path_len) {
		r = audit_locate(m->a->cfg, o->path, &p->root, &p->rel_owned);
		p->rel = p->rel_owned;
	}
	if (r == -ENOENT) /* no path, or one that is not on this host (s3://...) */
		return 0;
	if (r < 0)
		return r;
	p->file = NULL;
	for (size_t i = 0; p->root && i < m->g.n; i++)
		if (m->g.f[i].root == p->root && streq(m->g.f[i].path, p->rel)) {
			p->file = &m->g.f[i];
			p->present = true;
			return 0;
		}
	p->reason = "no file at its recorded path";
	p->present = p->root ? file_exists_below(m->a, p->root, p->rel) : file_exists_abs(p->rel);
	return 0;
}

static struct audit_finding owner_finding(struct merge *m, const struct refsource_owner *o,
					  const struct owner_place *p, enum audit_category c)
{
	struct audit_finding f = {
		.category = c,
		.key = o->key,
		.size = -1,
		.source = m->source,
		.app_path = o->path,
		.created_s = o->created_s,
	};
	if (p->file) {
		f.root = p->file->root->name;
		f.path = p->file->path;
		f.path_len = p->file->path_len;
		f.size = p->file->size;
		f.mtime_ns = p->file->mtime_ns;
	} else if (p->rel) {
		f.root = p->root ? p->root->name : NULL;
		f.path = p->rel;
		f.path_len = strlen(p->rel);
	} else if (o->path) {
		f.path = o->path;
		f.path_len = o->path_len;
	}
	return f;
}

static int report_owner(struct merge *m, const struct refsource_owner *o)
{
	struct audit *a = m->a;
	_cleanup_free_ char *rel = NULL;
	struct owner_place p;
	int r;

	r = owner_locate(m, o, &p);
	rel = p.rel_owned;
	if (r < 0)
		return r;
	if (!p.present) {
		struct audit_finding f = owner_finding(m, o, &p, AUDIT_DANGLING);
		f.reason = p.reason;
		r = emit(a, &f, 0);
		if (r < 0)
			return r;
	}
	if (!m->live)
		return 0;
	r = refsource_live_check(m->live, o->key, o->key_len);
	if (r < 0)
		return fail(a, r, "%s", refsource_errmsg(m->rs));
	if (r > 0)
		return 0;
	struct audit_finding f = owner_finding(m, o, &p, AUDIT_UNREFERENCED);
	return emit(a, &f, (uint64_t)MAX(f.size, 0));
}

static int merge_step(struct merge *m, const char *key, size_t len)
{
	int r = buf_set(&m->g.key, &m->g.key_cap, key, len);
	if (r < 0)
		return r;
	m->g.key_len = len;
	r = group_collect(m);
	if (r < 0)
		return r;
	if (!m->o || !at_key(&m->g, m->o->key, m->o->key_len))
		return report_unowned(m);
	while (m->o && at_key(&m->g, m->o->key, m->o->key_len)) {
		r = report_owner(m, m->o);
		if (r < 0)
			return r;
		r = owner_next(m);
		if (r < 0)
			return r;
	}
	return 0;
}

static int pass_source(struct audit *a, const struct config_source *src)
{
	struct merge m = {.a = a};
	const char *key;
	size_t len;
	int r;

	m.rs = source_get(a, src->name, &m.source);
	if (!m.rs)
		return a->abort; /* reported */
	r = merge_open(&m);
	while (r >= 0 && merge_min_key(&m, &key, &len))
		r = merge_step(&m, key, len);
	merge_done(&m);
	return pass_result(a, r);
}

/* ---- catalog-only passes ---- */

static const struct config_root *root_by_id(const struct audit *a, int64_t id)
{
	for (size_t i = 0; i < a->cfg->n_roots; i++)
		if (a->root_ids[i] == id)
			return &a->cfg->roots[i];
	return NULL;
}

static int pass_changed(struct audit *a)
{
	struct catalog_query q = {.order = CATALOG_ORDER_PATH, .state = -1, .changed_only = true};
	struct catalog_cursor *cur = NULL;
	const struct catalog_file *cf;
	int r;

	r = catalog_cursor_open(a->cat, &q, &cur);
	while (r >= 0 && (r = catalog_cursor_next(cur, &cf)) > 0) {
		const struct config_root *root = root_by_id(a, cf->root_id);
		if (!root || cf->state == CATALOG_GONE)
			continue;
		struct audit_finding f = {
			.category = AUDIT_CHANGED, .root = root->name, .path = cf->path,
			.path_len = cf->path_len, .key = cf->key, .size = cf->size,
			.mtime_ns = cf->mtime_ns, .created_s = -1, .hash = &cf->hash,
		};
		r = emit(a, &f, (uint64_t)MAX(cf->size, 0));
	}
	catalog_cursor_free(cur);
	if (r < 0 && r != -ENOMEM && !a->abort)
		fail(a, r, "catalog: %s", catalog_errmsg(a->cat));
	return pass_result(a, r);
}

struct dupgroup {
	struct group g;
	struct catalog_hash hash;
	uint64_t number;
};

/* Where duplicate findings go: emit() in this thread, or a spool file
 * when the pass runs beside the merge. */
typedef int (*dup_out_fn)(void *ud, const struct audit_finding *f, uint64_t bytes);

static int dup_flush(struct dupgroup *d, dup_out_fn out, void *ud)
{
	struct group *g = &d->g;
	int r = 0;

	if (g->n >= 2)
		d->number++;
	for (size_t i = 0; g->n >= 2 && i < g->n && r >= 0; i++) {
		struct audit_finding f = {
			.category = AUDIT_DUPLICATE, .root = g->f[i].root->name, .path = g->f[i].path,
			.path_len = g->f[i].path_len, .size = g->f[i].size,
			.mtime_ns = g->f[i].mtime_ns, .created_s = -1, .group = d->number,
			.group_size = (unsigned)g->n, .group_index = (unsigned)i, .hash = &d->hash,
		};
		r = out(ud, &f, i > 0 ? (uint64_t)g->f[i].size : 0);
	}
	g->n = 0;
	return r;
}

/* Groups the catalog's duplicates; reads nothing of `a` but the roots. */
static int dup_scan(const struct audit *a, struct catalog *cat, dup_out_fn out, void *ud)
{
	struct catalog_query q = {.order = CATALOG_ORDER_HASH, .state = CATALOG_PRESENT,
				  .duplicates_only = true};
	struct catalog_cursor *cur = NULL;
	const struct catalog_file *cf;
	struct dupgroup d = {};
	int r;

	r = catalog_cursor_open(cat, &q, &cur);
	while (r >= 0 && (r = catalog_cursor_next(cur, &cf)) > 0) {
		const struct config_root *root = root_by_id(a, cf->root_id);
		if (!root || !cf->hashed || cf->size <= 0 || cf->state != CATALOG_PRESENT)
			continue;
		if (d.g.n && memcmp(&d.hash, &cf->hash, sizeof(d.hash)) != 0)
			r = dup_flush(&d, out, ud);
		d.hash = cf->hash;
		if (r >= 0)
			r = group_add(&d.g, root, cf);
	}
	if (r >= 0)
		r = dup_flush(&d, out, ud);
	catalog_cursor_free(cur);
	group_done(&d.g);
	return r;
}

static int emit_dup(void *ud, const struct audit_finding *f, uint64_t bytes)
{
	struct audit *a = ud;
	if (f->group_index == 0 && wanted(a, AUDIT_DUPLICATE))
		a->t->groups++;
	return emit(a, f, bytes);
}

static int pass_duplicates(struct audit *a)
{
	int r = dup_scan(a, a->cat, emit_dup, a);
	if (r < 0 && r != -ENOMEM && !a->abort)
		fail(a, r, "catalog: %s", catalog_errmsg(a->cat));
	return pass_result(a, r);
}

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

struct dup_rec {
	uint32_t root, path_len, group_size, group_index;
	int64_t size, mtime_ns;
	uint64_t group, bytes;
	struct catalog_hash hash;
};

static int spool_dup(void *ud, const struct audit_finding *f, uint64_t bytes)
{
	struct dup_job *j = ud;
	const struct config_root *root = config_find_root(j->a->cfg, f->root);
	struct dup_rec rec = {
		.root = (uint32_t)(root - j->a->cfg->roots), .path_len = (uint32_t)f->path_len,
		.group_size = f->group_size, .group_index = f->group_index, .size = f->size,
		.mtime_ns = f->mtime_ns, .group = f->group, .bytes = bytes, .hash = *f->hash,
	};
	if (fwrite(&rec, sizeof(rec), 1, j->spool) != 1 ||
	    fwrite(f->path, 1, f->path_len, j->spool) != f->path_len)
		return -EIO;
	return 0;
}

static void *dup_thread(void *p)
{
	struct dup_job *j = p;
	struct catalog *c = NULL;

	j->r = catalog_open(j->catalog, CATALOG_OPEN_READONLY, &c);
	if (j->r >= 0) {
		j->r = dup_scan(j->a, c, spool_dup, j);
		if (j->r < 0)
			j->error = strdup(catalog_errmsg(c));
	}
	catalog_close(c);
	return NULL;
}

static bool dup_job_start(struct audit *a, struct dup_job *j)
{
	*j = (struct dup_job){.a = a, .catalog = catalog_path(a->cat)};
	if (!j->catalog || !(j->spool = tmpfile()))
		return false;
	if (pthread_create(&j->thread, NULL, dup_thread, j) != 0) {
		fclose(j->spool);
		return false;
	}
	return true;
}

static int dup_replay(struct audit *a, FILE *spool)
{
	struct dup_rec rec;
	_cleanup_free_ char *path = NULL;
	size_t cap = 0;
	int r = 0;

	rewind(spool);
	while (r >= 0 && fread(&rec, sizeof(rec), 1, spool) == 1) {
		if (rec.path_len + 1 > cap) {
			char *n = realloc(path, rec.path_len + 1);
			if (!n)
				return -ENOMEM;
			path = n;
			cap = rec.path_len + 1;
		}
		if (fread(path, 1, rec.path_len, spool) != rec.path_len)
			return -EIO;
		path[rec.path_len] = 0;
		struct audit_finding f = {
			.category = AUDIT_DUPLICATE, .root = a->cfg->roots[rec.root].name,
			.path = path, .path_len = rec.path_len, .size = rec.size,
			.mtime_ns = rec.mtime_ns, .created_s = -1, .group = rec.group,
			.group_size = rec.group_size, .group_index = rec.group_index,
			.hash = &rec.hash,
		};
		r = emit_dup(a, &f, rec.bytes);
	}
	return r;
}

/* Waits for the job and reports what it found; when it could not run,
 * runs the pass here instead. */
static int dup_job_finish(struct audit *a, struct dup_job *j)
{
	int r;

	pthread_join(j->thread, NULL);
	if (j->r == -ENOENT || j->r == -EACCES || j->r == -EPROTONOSUPPORT) /* no second connection */
		r = a->abort ? a->abort : pass_duplicates(a);
	else if (j->r < 0) {
		if (!a->abort && j->r != -ENOMEM)
			fail(a, j->r, "catalog: %s", j->error ? j->error : strerror(-j->r));
		r = pass_result(a, j->r);
	} else
		r = a->abort ? a->abort : pass_result(a, dup_replay(a, j->spool));
	fclose(j->spool);
	free(j->error);
	return r;
}

/* ---- vector stores ---- */

struct vpass {
	struct audit *a;
	const struct config_vectors *v;
	const char *source;
	struct refsource *rs;
	struct refkeys **sets; /* per pattern, loaded on first use */
	char *error;
};

static int vector_alive(size_t index, const char *key, void *ud)
{
	struct vpass *p = ud;
	if (index >= p->v->n_collections)
		return -EINVAL;
	if (!p->sets[index]) {
		const char *q = p->v->collections[index].query;
		const struct config_source *src = refsource_config(p->rs);
		bool owners = isempty(q) || streq(q, "owners");
		char what[64];
		snprintf(what, sizeof(what), "query of collection pattern '%s'",
			 p->v->collections[index].pattern);
		int r = refkeys_new(&p->sets[index]);
		if (r >= 0)
			r = refsource_query_keys(p->rs, owners ? src->owners : q,
						 owners ? "owners query" : what, p->sets[index]);
		if (r < 0) {
			if (!p->error)
				p->error = strdup(refsource_errmsg(p->rs));
			refkeys_free(TAKE_PTR(p->sets[index]));
			return r;
		}
	}
	return refkeys_contains(p->sets[index], key, strlen(key));
}

static int vector_finding(const struct vector_finding *vf, void *ud)
{
	static const enum audit_category categories[] = {
		[VECTOR_DEAD_COLLECTION] = AUDIT_VECTOR_COLLECTION,
		[VECTOR_ORPHAN_DIR] = AUDIT_VECTOR_DIR,
		[VECTOR_ORPHAN_ROWS] = AUDIT_VECTOR_ROWS,
		[VECTOR_UNKNOWN] = AUDIT_VECTOR_UNKNOWN,
	};
	struct vpass *p = ud;
	if ((unsigned)vf->kind >= ELEMENTSOF(categories))
		return -EINVAL;
	struct audit_finding f = {
		.category = categories[vf->kind],
		.key = vf->key,
		.size = (int64_t)vf->bytes,
		.source = p->source,
		.created_s = -1,
		.store = p->v->name,
		.vector_kind = vf->kind,
		.collection = vf->collection,
		.vector_id = vf->id,
		.embeddings = vf->embeddings,
	};
	return emit(p->a, &f, vf->bytes);
}

static int pass_vectors(struct audit *a, const struct config_vectors *v)
{
	struct vpass p = {.a = a, .v = v};
	struct vectors *vs = NULL;
	int r;

	p.rs = source_get(a, v->source, &p.source);
	if (!p.rs)
		return a->abort;
	r = vectors_open(v, &vs);
	if (r == -ENOENT)
		return 0; /* no store yet: nothing to audit */
	if (r < 0) {
		fail(a, r, "vector store '%s': cannot open '%s': %s", v->name, strempty(v->path),
		     strerror(-r));
		return pass_result(a, r);
	}
	p.sets = calloc(v->n_collections + 1, sizeof(*p.sets));
	if (!p.sets)
		r = -ENOMEM;
	else
		r = vectors_audit(vs, vector_alive, &p, vector_finding, &p);
	if (r < 0 && r != -ENOMEM && !a->abort)
		fail(a, r, "vector store '%s': %s", v->name, p.error ? p.error : vectors_errmsg(vs));
	for (size_t i = 0; p.sets && i < v->n_collections; i++)
		refkeys_free(p.sets[i]);
	free(p.sets);
	free(p.error);
	vectors_free(vs);
	return pass_result(a, r);
}

/* ---- the run ---- */

static int find_roots(struct audit *a)
{
	for (size_t i = 0; i < a->cfg->n_roots; i++) {
		int r = catalog_root_find(a->cat, a->cfg->roots[i].name, &a->root_ids[i]);
		if (r == -ENOENT) {
			a->root_ids[i] = 0;
			fail(a, r, "root '%s' is not in the catalog yet (run 'fsdctl scan')",
			     a->cfg->roots[i].name);
		} else if (r < 0) {
			fail(a, r, "catalog: %s", catalog_errmsg(a->cat));
			return pass_result(a, r) ? a->abort : r;
		}
	}
	return 0;
}

static int audit_passes(struct audit *a)
{
	struct dup_job job;
	bool beside = false;
	int r = find_roots(a);
	if (r < 0)
		return r;
	if (wanted(a, AUDIT_DUPLICATE))
		beside = dup_job_start(a, &job);
	if (wanted(a, AUDIT_ORPHAN) || wanted(a, AUDIT_PENDING) || wanted(a, AUDIT_DANGLING) ||
	    wanted(a, AUDIT_UNREFERENCED))
		for (size_t i = 0; i < a->cfg->n_sources && r >= 0; i++)
			r = pass_source(a, &a->cfg->sources[i]);
	if (r >= 0 && wanted(a, AUDIT_CHANGED))
		r = pass_changed(a);
	if (beside) {
		int k = dup_job_finish(a, &job);
		if (r >= 0)
			r = k;
	} else if (r >= 0 && wanted(a, AUDIT_DUPLICATE))
		r = pass_duplicates(a);
	if (wanted(a, AUDIT_VECTOR_COLLECTION) || wanted(a, AUDIT_VECTOR_DIR) ||
	    wanted(a, AUDIT_VECTOR_ROWS) || wanted(a, AUDIT_VECTOR_UNKNOWN))
		for (size_t i = 0; i < a->cfg->n_vectors && r >= 0; i++)
			r = pass_vectors(a, &a->cfg->vectors[i]);
	return r;
}

int audit_run(struct catalog *cat, const struct config *cfg, const struct audit_options *o,
	      const struct audit_sink *sink, struct audit_totals *totals)
{
	struct audit a = {
		.cat = cat,
		.cfg = cfg,
		.sink = sink,
		.t = totals,
		.mask = o->categories ? o->categories : AUDIT_ALL_CATEGORIES,
		.now_ns = o->now_ns,
	};
	int r = -ENOMEM;

	memset(totals, 0, sizeof(*totals));
	a.root_ids = calloc(cfg->n_roots + 1, sizeof(*a.root_ids));
	a.root_fds = calloc(cfg->n_roots + 1, sizeof(*a.root_fds));
	a.rs = calloc(cfg->n_sources + 1, sizeof(*a.rs));
	a.rs_error = calloc(cfg->n_sources + 1, sizeof(*a.rs_error));
	a.prefix = calloc(cfg->n_roots + 1, sizeof(*a.prefix));
	if (a.root_ids && a.root_fds && a.rs && a.rs_error && a.prefix) {
		for (size_t i = 0; i < cfg->n_roots; i++)
			a.root_fds[i] = -1;
		r = prefixes_init(&a);
		if (r >= 0)
			r = audit_passes(&a);
	}
	for (size_t i = 0; a.prefix && i < cfg->n_roots; i++)
		free(a.prefix[i].p);
	free(a.prefix);
	for (size_t i = 0; a.root_fds && i < cfg->n_roots; i++)
		if (a.root_fds[i] >= 0)
			close(a.root_fds[i]);
	for (size_t i = 0; a.rs && i < cfg->n_sources; i++)
		refsource_close(a.rs[i]);
	free(a.root_ids);
	free(a.root_fds);
	free(a.rs);
	free(a.rs_error);
	if (r < 0)
		return r;
	return a.abort ? a.abort : a.first_error;
}
