/* The audit (see audit.h): runs the passes in order, per source the
 * merge of catalog keys with owner rows (audit-merge.c), then changed
 * files, duplicate groups (audit-dups.c, on a second thread while the
 * merge runs) and the vector stores, and holds what they share: counting
 * and reporting findings, failing a part closed, placing an application's
 * paths under the roots, and the sources opened once per run. Everything
 * is streamed: memory holds one key's group of files at a time (plus one
 * duplicate group), never the tables. */
#include "reaper/audit-internal.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>

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
	[AUDIT_UNOWNED_REFERENCED] = "unowned-referenced",
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

bool audit_wanted(const struct audit *a, enum audit_category c)
{
	return a->mask & (1u << c);
}

int audit_emit(struct audit *a, const struct audit_finding *f, uint64_t bytes)
{
	if (!audit_wanted(a, f->category))
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

/* Parts fail on their own (audit_fail() reports them); only an abort ends the run. */
int audit_pass_result(struct audit *a, int r)
{
	if (r == -ENOMEM && !a->abort)
		a->abort = r;
	return a->abort;
}

int audit_fail(struct audit *a, int r, const char *fmt, ...)
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
	/* An error (no memory) protects: when in doubt, keep. */
	return config_globs_match(root->protect, path) != 0;
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
bool audit_locate_fast(const struct audit *a, const char *path,
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
int audit_file_exists_below(struct audit *a, const struct config_root *root, const char *rel)
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

int audit_file_exists_abs(const char *path)
{
	struct stat st;
	if (lstat(path, &st) == 0)
		return S_ISREG(st.st_mode);
	return errno != ENOENT && errno != ENOTDIR;
}

/* ---- sources ---- */

struct refsource *audit_source_get(struct audit *a, const char *name, const char **ret_name)
{
	const struct config_source *src = name ? config_find_source(a->cfg, name) : NULL;
	if (!src && !name && a->cfg->n_sources == 1)
		src = &a->cfg->sources[0];
	if (!src) {
		audit_fail(a, -EINVAL, "source '%s' is not configured", strempty(name));
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
		audit_fail(a, r, "%s", msg ? msg : strerror(-r));
	}
	return a->rs[i];
}



/* ---- groups of files ---- */

int audit_key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, MIN(alen, blen));
	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

int audit_buf_set(char **p, size_t *cap, const char *s, size_t len)
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

int audit_group_add(struct group *g, const struct config_root *root, const struct catalog_file *f)
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
	if (audit_buf_set(&gf->path, &gf->path_cap, f->path, f->path_len) < 0)
		return -ENOMEM;
	gf->root = root;
	gf->path_len = f->path_len;
	gf->size = f->size;
	gf->mtime_ns = f->mtime_ns;
	g->n++;
	return 0;
}

void audit_group_done(struct group *g)
{
	for (size_t i = 0; i < g->cap; i++)
		free(g->f[i].path);
	free(g->f);
	free(g->key);
}

const struct config_root *audit_root_by_id(const struct audit *a, int64_t id)
{
	for (size_t i = 0; i < a->cfg->n_roots; i++)
		if (a->root_ids[i] == id)
			return &a->cfg->roots[i];
	return NULL;
}

/* ---- catalog-only passes ---- */

static int pass_changed(struct audit *a)
{
	struct catalog_query q = {.order = CATALOG_ORDER_PATH, .state = -1, .changed_only = true};
	struct catalog_cursor *cur = NULL;
	const struct catalog_file *cf;
	int r;

	r = catalog_cursor_open(a->cat, &q, &cur);
	while (r >= 0 && (r = catalog_cursor_next(cur, &cf)) > 0) {
		const struct config_root *root = audit_root_by_id(a, cf->root_id);
		if (!root || cf->state == CATALOG_GONE)
			continue;
		struct audit_finding f = {
			.category = AUDIT_CHANGED, .root = root->name, .path = cf->path,
			.path_len = cf->path_len, .key = cf->key, .size = cf->size,
			.mtime_ns = cf->mtime_ns, .created_s = -1, .hash = &cf->hash,
		};
		r = audit_emit(a, &f, (uint64_t)MAX(cf->size, 0));
	}
	catalog_cursor_free(cur);
	if (r < 0 && r != -ENOMEM && !a->abort)
		audit_fail(a, r, "catalog: %s", catalog_errmsg(a->cat));
	return audit_pass_result(a, r);
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
	return audit_emit(p->a, &f, vf->bytes);
}

static int pass_vectors(struct audit *a, const struct config_vectors *v)
{
	struct vpass p = {.a = a, .v = v};
	struct vectors *vs = NULL;
	int r;

	p.rs = audit_source_get(a, v->source, &p.source);
	if (!p.rs)
		return a->abort;
	r = vectors_open(v, &vs);
	if (r == -ENOENT)
		return 0; /* no store yet: nothing to audit */
	if (r < 0) {
		audit_fail(a, r, "vector store '%s': cannot open '%s': %s", v->name, strempty(v->path),
		     strerror(-r));
		return audit_pass_result(a, r);
	}
	p.sets = calloc(v->n_collections + 1, sizeof(*p.sets));
	if (!p.sets)
		r = -ENOMEM;
	else
		r = vectors_audit(vs, vector_alive, &p, vector_finding, &p);
	if (r < 0 && r != -ENOMEM && !a->abort)
		audit_fail(a, r, "vector store '%s': %s", v->name, p.error ? p.error : vectors_errmsg(vs));
	for (size_t i = 0; p.sets && i < v->n_collections; i++)
		refkeys_free(p.sets[i]);
	free(p.sets);
	free(p.error);
	vectors_free(vs);
	return audit_pass_result(a, r);
}

/* ---- the run ---- */

static int find_roots(struct audit *a)
{
	for (size_t i = 0; i < a->cfg->n_roots; i++) {
		int r = catalog_root_find(a->cat, a->cfg->roots[i].name, &a->root_ids[i]);
		if (r == -ENOENT) {
			a->root_ids[i] = 0;
			audit_fail(a, r, "root '%s' is not in the catalog yet (run 'fsdctl scan')",
			     a->cfg->roots[i].name);
		} else if (r < 0) {
			audit_fail(a, r, "catalog: %s", catalog_errmsg(a->cat));
			return audit_pass_result(a, r) ? a->abort : r;
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
	if (audit_wanted(a, AUDIT_DUPLICATE))
		beside = audit_dup_start(a, &job);
	if (audit_wanted(a, AUDIT_ORPHAN) || audit_wanted(a, AUDIT_PENDING) || audit_wanted(a, AUDIT_DANGLING) ||
	    audit_wanted(a, AUDIT_UNREFERENCED) || audit_wanted(a, AUDIT_UNOWNED_REFERENCED))
		for (size_t i = 0; i < a->cfg->n_sources && r >= 0; i++)
			r = audit_pass_source(a, &a->cfg->sources[i]);
	if (r >= 0 && audit_wanted(a, AUDIT_CHANGED))
		r = pass_changed(a);
	if (beside) {
		int k = audit_dup_finish(a, &job);
		if (r >= 0)
			r = k;
	} else if (r >= 0 && audit_wanted(a, AUDIT_DUPLICATE))
		r = audit_pass_duplicates(a);
	if (audit_wanted(a, AUDIT_VECTOR_COLLECTION) || audit_wanted(a, AUDIT_VECTOR_DIR) ||
	    audit_wanted(a, AUDIT_VECTOR_ROWS) || audit_wanted(a, AUDIT_VECTOR_UNKNOWN))
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

