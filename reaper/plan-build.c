/* Feeding the planner (see apply.h): the catalog's files of each root,
 * merged in key order with the root's reference source (owner rows and
 * live checks as sorted streams, so a million rows cost no memory), the
 * vector stores' findings, and the keys of row rules. It only reads. A
 * source, root or store that fails is written down and left out. */
#include "reaper/apply.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "reaper/cascade.h"
#include "reaper/journal.h"
#include "reaper/refs.h"
#include "reaper/vectors.h"

/* What the last applying run saw unreferenced under one root. */
struct hist_entry {
	char *path;
	size_t len;
	int64_t since;
};

struct hist {
	struct hist_entry *v;
	size_t n, cap;
	bool seen;
};

struct build {
	struct journal *j; /* history of unreferenced files; NULL: none */
	struct catalog *cat;
	const struct config *cfg;
	const struct rules *rs;
	int64_t now;
	struct planner *p;
	struct reaper_inputs *in;
	struct reaper_sources *srcs; /* the run's, or our own read-only ones */
};

void reaper_inputs_free(struct reaper_inputs *in)
{
	if (!in)
		return;
	for (size_t i = 0; i < in->n_sources; i++)
		free(in->sources[i].message);
	free(in->sources);
	strv_free(in->problems);
	for (size_t i = 0; i < in->n_unref; i++)
		free((char *)in->unref[i].path);
	free(in->unref);
	strv_free(in->unref_roots);
	free(in);
}

_printf_(2, 3) static void problem(struct build *b, const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) >= 0) {
		(void)strv_extend(&b->in->problems, s);
		free(s);
	}
	va_end(ap);
}

static size_t source_index(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_sources; i++)
		if (streq(cfg->sources[i].name, name))
			return i;
	return (size_t)-1;
}

static void source_failed(struct build *b, size_t i, int r, const char *msg)
{
	struct reaper_source_status *s = &b->in->sources[i];
	if (s->error)
		return;
	s->error = r;
	s->message = strdup(msg ? msg : "failed");
}

/* The source's handle, or NULL when it failed (now or before). */
static struct refsource *source_get(struct build *b, size_t i)
{
	struct refsource *src = NULL;
	const char *err = NULL;
	int r;

	if (b->in->sources[i].error)
		return NULL;
	r = reaper_sources_get(b->srcs, i, &src, &err);
	if (r < 0) {
		source_failed(b, i, r, err);
		return NULL;
	}
	return src;
}

static int key_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, MIN(al, bl));
	return c ? c : (al > bl) - (al < bl);
}

static bool needs_stat(const struct build *b, const struct config_root *root)
{
	for (size_t i = 0; i < b->rs->n; i++) {
		const struct rule *r = &b->rs->v[i];
		if (rule_applies_to_root(r, root) &&
		    (r->timestamp == RULE_TIME_ATIME || r->timestamp == RULE_TIME_BTIME ||
		     (r->max_size && r->order == RULE_ORDER_LRU) ||
		     ((r->min_free || r->min_free_percent) && r->order == RULE_ORDER_LRU)))
			return true;
	}
	return false;
}

/* atime and btime are not in the catalog: read them when a rule asks. */
static void stat_times(int rootfd, struct plan_file *pf)
{
	struct statx stx;
	if (rootfd < 0 || statx(rootfd, pf->path, AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC,
				STATX_ATIME | STATX_BTIME, &stx) < 0)
		return;
	pf->atime_ns = (int64_t)stx.stx_atime.tv_sec * 1000000000LL + stx.stx_atime.tv_nsec;
	if (stx.stx_mask & STATX_BTIME)
		pf->btime_ns = (int64_t)stx.stx_btime.tv_sec * 1000000000LL + stx.stx_btime.tv_nsec;
}

static void file_to_plan(const struct catalog_file *f, struct plan_file *pf)
{
	*pf = (struct plan_file){
		.path = f->path, .path_len = f->path_len, .key = f->key, .size = f->size,
		.mtime_ns = f->mtime_ns, .ctime_ns = f->ctime_ns, .ino = f->ino, .dev = f->dev,
		.first_seen_ns = f->first_seen_ns, .ref = PLAN_REF_UNKNOWN,
	};
}

struct merge {
	struct refsource_owners *ow;
	struct refsource_live *live;
	const struct refsource_owner *cur; /* NULL at the end */
	bool started;
};

/* The reference state of a key: owners and live checks advance in order. */
static int resolve(struct merge *m, const char *key, struct plan_file *pf)
{
	size_t kl = strlen(key);
	int r;

	if (!m->started) {
		m->started = true;
		r = refsource_owners_next(m->ow, &m->cur);
		if (r <= 0)
			m->cur = NULL;
		if (r < 0)
			return r;
	}
	while (m->cur && key_cmp(m->cur->key, m->cur->key_len, key, kl) < 0) {
		r = refsource_owners_next(m->ow, &m->cur);
		if (r <= 0)
			m->cur = NULL;
		if (r < 0)
			return r;
	}
	bool owned = m->cur && key_cmp(m->cur->key, m->cur->key_len, key, kl) == 0;
	r = refsource_live_check(m->live, key, kl);
	if (r < 0)
		return r;
	if (r > 0)
		pf->ref = PLAN_REF_HELD;
	else
		pf->ref = owned ? PLAN_REF_OWNED_DEAD : PLAN_REF_NONE;
	if (owned && m->cur->created_s > 0)
		pf->owner_created_ns = m->cur->created_s * 1000000000LL;
	return 0;
}

static int hist_add(const char *path, size_t len, int64_t since, void *ud)
{
	struct hist *h = ud;
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 64;
		struct hist_entry *nv = realloc(h->v, cap * sizeof *nv);
		if (!nv)
			return -ENOMEM;
		h->v = nv;
		h->cap = cap;
	}
	h->v[h->n].path = malloc(len + 1);
	if (!h->v[h->n].path)
		return -ENOMEM;
	memcpy(h->v[h->n].path, path, len);
	h->v[h->n].path[len] = 0;
	h->v[h->n].len = len;
	h->v[h->n++].since = since;
	return 0;
}

static int cmp_hist(const void *x, const void *y)
{
	const struct hist_entry *a = x, *b = y;
	int c = memcmp(a->path, b->path, MIN(a->len, b->len));
	return c ? c : (a->len > b->len) - (a->len < b->len);
}

static void hist_done(struct hist *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->v[i].path);
	free(h->v);
	*h = (struct hist){0};
}

static bool tracks_unref(const struct rules *rs, const struct config_root *root)
{
	for (size_t i = 0; i < rs->n; i++)
		if (rs->v[i].unreferenced && rule_applies_to_root(&rs->v[i], root))
			return true;
	return false;
}

/* Since when this unreferenced file counts as unreferenced, and its
 * record for the next run. */
static int hist_note(struct build *b, struct hist *h, const char *root, struct plan_file *pf)
{
	struct hist_entry k = {.path = (char *)pf->path, .len = pf->path_len};
	struct hist_entry *e = h->n ? bsearch(&k, h->v, h->n, sizeof *h->v, cmp_hist) : NULL;
	struct reaper_inputs *in = b->in;

	pf->unref_since_ns = e ? e->since : h->seen ? b->now : 0;
	if (in->n_unref == in->cap_unref) {
		size_t cap = in->cap_unref ? 2 * in->cap_unref : 256;
		struct journal_unref *nv = realloc(in->unref, cap * sizeof *nv);
		if (!nv)
			return -ENOMEM;
		in->unref = nv;
		in->cap_unref = cap;
	}
	char *p = malloc(pf->path_len + 1);
	if (!p)
		return -ENOMEM;
	memcpy(p, pf->path, pf->path_len);
	p[pf->path_len] = 0;
	in->unref[in->n_unref++] = (struct journal_unref){
		.root = root, .path = p, .path_len = pf->path_len, .since_ns = pf->unref_since_ns};
	return 0;
}

static int feed_root(struct build *b, size_t ri, int64_t root_id, struct refsource *src,
		     int rootfd, struct hist *h)
{
	const struct config_root *root = &b->cfg->roots[ri];
	struct catalog_query q = {.root_id = root_id, .state = CATALOG_PRESENT,
				  .order = src ? CATALOG_ORDER_KEY : CATALOG_ORDER_PATH};
	struct catalog_cursor *cur = NULL;
	struct merge m = {0};
	const struct catalog_file *f;
	bool want_stat = needs_stat(b, root);
	int r;

	r = catalog_cursor_open(b->cat, &q, &cur);
	if (r < 0)
		return r;
	if (src) {
		r = refsource_owners_open(src, &m.ow);
		if (r >= 0)
			r = refsource_live_open(src, &m.live);
		if (r < 0)
			r = -EPROTO; /* the source's failure, not the catalog's */
	}
	while (r >= 0 && (r = catalog_cursor_next(cur, &f)) > 0) {
		struct plan_file pf;
		file_to_plan(f, &pf);
		if (src && f->key)
			r = resolve(&m, f->key, &pf);
		if (r < 0) {
			r = -EPROTO; /* the source's failure, not the catalog's */
			break;
		}
		if (want_stat)
			stat_times(rootfd, &pf);
		if (h && pf.ref == PLAN_REF_NONE && pf.key && (r = hist_note(b, h, root->name, &pf)) < 0)
			break;
		r = planner_add_file(b->p, &pf);
	}
	refsource_live_free(m.live);
	refsource_owners_free(m.ow);
	catalog_cursor_free(cur);
	return r;
}

static int plan_root(struct build *b, size_t ri)
{
	const struct config_root *root = &b->cfg->roots[ri];
	struct refsource *src = NULL;
	size_t si = (size_t)-1;
	struct statvfs sv = {0};
	int64_t root_id;
	int r, fd;

	if (root->marker) {
		_cleanup_free_ char *m = NULL;
		if (asprintf(&m, "%s/%s", root->path, root->marker) < 0)
			return -ENOMEM;
		if (faccessat(AT_FDCWD, m, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
			problem(b, "root '%s': marker '%s' is missing (not mounted?): nothing is "
				   "planned there", root->name, m);
			return 0;
		}
	}
	r = catalog_root_find(b->cat, root->name, &root_id);
	if (r == -ENOENT) {
		problem(b, "root '%s' is not in the catalog yet: run 'fsdctl scan' first", root->name);
		return 0;
	}
	if (r < 0)
		return r;
	if (root->source && root->key != KEY_NONE) {
		si = source_index(b->cfg, root->source);
		if (si != (size_t)-1)
			src = source_get(b, si);
	}
	bool failed = root->source && root->key != KEY_NONE && !src;
	struct hist h = {0};
	bool track = !failed && src && tracks_unref(b->rs, root);
	size_t unref_start = b->in->n_unref;
	if (track && b->j) {
		r = journal_unref_load(b->j, root->name, &h.seen, hist_add, &h);
		if (r < 0)
			h.seen = false; /* no usable history: the mtime decides */
		if (h.n > 1)
			qsort(h.v, h.n, sizeof *h.v, cmp_hist);
	}
	(void)statvfs(root->path, &sv);
	fd = open(root->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r = planner_root_begin(b->p, ri, root_id, (uint64_t)sv.f_bavail * sv.f_frsize,
			       (uint64_t)sv.f_blocks * sv.f_frsize, failed);
	if (r >= 0)
		r = feed_root(b, ri, root_id, failed ? NULL : src, fd, track ? &h : NULL);
	if (fd >= 0)
		close(fd);
	hist_done(&h);
	if (r >= 0 && track)
		r = strv_extend(&b->in->unref_roots, root->name);
	if (r < 0) {
		/* Nothing of this root may be recorded either. */
		for (size_t i = unref_start; i < b->in->n_unref; i++)
			free((char *)b->in->unref[i].path);
		b->in->n_unref = unref_start;
	}
	if (r == -EPROTO) {
		source_failed(b, si, r, refsource_errmsg(src));
		return planner_root_abort(b->p);
	}
	if (r < 0) {
		planner_root_abort(b->p);
		return r;
	}
	return planner_root_end(b->p);
}

/* ---- vector stores ---- */

struct alive_ctx {
	struct build *b;
	const struct config_vectors *v;
	struct refsource *src;
	struct refkeys **sets; /* one per pattern, loaded on first use */
};

static int alive(size_t pi, const char *key, void *ud)
{
	struct alive_ctx *a = ud;
	const char *query = a->v->collections[pi].query;
	if (!a->src)
		return -EIO;
	if (streq(query, "owners"))
		return refsource_is_owner(a->src, key, strlen(key));
	if (!a->sets[pi]) {
		int r = refkeys_new(&a->sets[pi]);
		if (r >= 0)
			r = refsource_query_keys(a->src, query, a->v->collections[pi].pattern,
						 a->sets[pi]);
		if (r < 0)
			return r;
	}
	return refkeys_contains(a->sets[pi], key, strlen(key));
}

struct vec_ctx {
	struct build *b;
	const char *store;
};

static int on_vector(const struct vector_finding *f, void *ud)
{
	struct vec_ctx *c = ud;
	return planner_add_vector(c->b->p, c->store, (int)f->kind, f->collection, f->id, f->key,
				  f->embeddings, f->bytes);
}

static bool store_wanted(const struct rules *rs, const char *name)
{
	for (size_t i = 0; i < rs->n; i++)
		if (rs->v[i].vectors && (!rs->v[i].store || streq(rs->v[i].store, name)))
			return true;
	return false;
}

static int plan_store(struct build *b, const struct config_vectors *v)
{
	struct alive_ctx a = {.b = b, .v = v};
	struct vec_ctx c = {.b = b, .store = v->name};
	struct vectors *vs = NULL;
	size_t si = v->source ? source_index(b->cfg, v->source) : (size_t)-1;
	int r;

	if (!store_wanted(b->rs, v->name))
		return 0;
	if (si == (size_t)-1 || !(a.src = source_get(b, si))) {
		problem(b, "vector store '%s': its source is unavailable; vectors left alone",
			v->name);
		return 0;
	}
	r = vectors_open(v, &vs);
	if (r == -ENOENT) {
		return 0; /* no store there: nothing to reap */
	}
	if (r < 0) {
		problem(b, "vector store '%s': %s", v->name, vs ? vectors_errmsg(vs) : strerror(-r));
		vectors_free(vs);
		return 0;
	}
	a.sets = calloc(v->n_collections + 1, sizeof *a.sets);
	r = a.sets ? vectors_audit(vs, alive, &a, on_vector, &c) : -ENOMEM;
	if (r < 0 && r != -ENOMEM)
		problem(b, "vector store '%s': %s", v->name, vectors_errmsg(vs));
	for (size_t i = 0; a.sets && i < v->n_collections; i++)
		refkeys_free(a.sets[i]);
	free(a.sets);
	vectors_free(vs);
	return r == -ENOMEM ? r : 0;
}

/* ---- row rules ---- */

static int plan_row_rule(struct build *b, size_t ri)
{
	const struct rule *r = &b->rs->v[ri];
	size_t si = source_index(b->cfg, r->source);
	_cleanup_strv_free_ char **keys = NULL;
	struct refsource *src;
	struct appdb *a = NULL;
	char *err = NULL;
	int k;

	if (si == (size_t)-1)
		return 0;
	src = source_get(b, si);
	if (!src) {
		problem(b, "rule '%s': %s", r->name, strempty(b->in->sources[si].message));
		return 0;
	}
	k = appdb_open_on(src, &a, &err);
	if (k >= 0)
		k = appdb_query_keys(a, r->rows, (b->now - r->rows_age_ns) / 1000000000LL, &keys);
	if (k < 0) {
		problem(b, "rule '%s': %s", r->name, err ? err : a ? appdb_errmsg(a) : strerror(-k));
		free(err);
		appdb_close(a);
		return 0;
	}
	appdb_close(a);
	for (char **p = keys; *p && k >= 0; p++)
		k = planner_add_row_key(b->p, ri, *p);
	return k;
}

static void record_sources(struct build *b)
{
	for (size_t i = 0; i < b->cfg->n_sources; i++) {
		struct reaper_source_status *s = &b->in->sources[i];
		struct refsource_stats st = {0};
		_cleanup_free_ char *n1 = NULL, *n2 = NULL, *v1 = NULL, *v2 = NULL;

		s->name = b->cfg->sources[i].name;
		s->min_ratio = b->cfg->sources[i].min_ratio;
		if (!reaper_sources_peek(b->srcs, i))
			continue;
		refsource_get_stats(reaper_sources_peek(b->srcs, i), &st);
		s->owners = st.owners;
		s->live_rows = st.live_rows + st.live_tokens;
		if (asprintf(&n1, "reaper.source.%s.owners", s->name) < 0 ||
		    asprintf(&n2, "reaper.source.%s.live", s->name) < 0)
			continue;
		if (catalog_state_get(b->cat, n1, &v1) >= 0)
			s->last_owners = strtoull(v1, NULL, 10);
		if (catalog_state_get(b->cat, n2, &v2) >= 0)
			s->last_live_rows = strtoull(v2, NULL, 10);
		s->shrank = !breaker_ratio_ok(s->last_owners, s->owners, s->min_ratio) ||
			    !breaker_ratio_ok(s->last_live_rows, s->live_rows, s->min_ratio);
	}
}

static int build_all(struct build *b)
{
	int r = 0;
	for (size_t i = 0; i < b->rs->n && r >= 0; i++)
		if (b->rs->v[i].rows)
			r = plan_row_rule(b, i);
	for (size_t i = 0; i < b->cfg->n_roots && r >= 0; i++) {
		const struct config_root *root = &b->cfg->roots[i];
		bool used = false;
		/* A root is read when a rule binds it, or when a row rule removes
		 * rows of its source (their files go in the same run). */
		for (size_t k = 0; k < b->rs->n; k++)
			used |= rule_applies_to_root(&b->rs->v[k], root) ||
				(b->rs->v[k].rows && root->source &&
				 streq_ptr(b->rs->v[k].source, root->source));
		if (used)
			r = plan_root(b, i);
	}
	for (size_t i = 0; i < b->cfg->n_vectors && r >= 0; i++)
		r = plan_store(b, &b->cfg->vectors[i]);
	return r;
}

int reaper_build_plan(struct catalog *cat, const struct config *cfg, const struct rules *rs,
		      int64_t now_ns, struct plan **ret_plan, struct reaper_inputs **ret_inputs)
{
	return reaper_build_plan_on(cat, cfg, rs, now_ns, NULL, ret_plan, ret_inputs);
}

int reaper_build_plan_on(struct catalog *cat, const struct config *cfg, const struct rules *rs,
			 int64_t now_ns, struct reaper_sources *srcs, struct plan **ret_plan,
			 struct reaper_inputs **ret_inputs)
{
	struct build b = {.cat = cat, .cfg = cfg, .rs = rs, .now = now_ns, .srcs = srcs};
	_cleanup_(reaper_sources_freep) struct reaper_sources *own = NULL;
	struct plan *pl = NULL;
	int r = 0;

	if (!b.srcs) {
		r = reaper_sources_new(cfg, false, &own);
		b.srcs = own;
	}
	b.in = calloc(1, sizeof *b.in);
	if (b.in)
		b.in->sources = calloc(cfg->n_sources + 1, sizeof *b.in->sources);
	if (r < 0 || !b.in || !b.in->sources) {
		r = -ENOMEM;
		goto out;
	}
	b.in->n_sources = cfg->n_sources;
	if (journal_open(catalog_path(cat), &b.j) < 0) {
		journal_close(b.j);
		b.j = NULL; /* no history: grace by mtime alone */
	}
	r = planner_new(cfg, rs, now_ns, &b.p);
	if (r >= 0)
		r = build_all(&b);
	record_sources(&b);
	if (r >= 0)
		r = planner_finish(TAKE_PTR(b.p), &pl);
out:
	planner_free(b.p);
	journal_close(b.j);
	if (r < 0) {
		reaper_inputs_free(b.in);
		return r;
	}
	*ret_plan = pl;
	*ret_inputs = b.in;
	return 0;
}

int reaper_breaker(const struct plan *pl, const struct reaper_inputs *in,
		   const struct config *cfg, const struct rules *rs, char **ret_why)
{
	size_t root;
	char *why = NULL;

	for (size_t i = 0; i < in->n_sources; i++) {
		const struct reaper_source_status *s = &in->sources[i];
		if (s->error && asprintf(&why, "source '%s' failed: %s", s->name,
					 strempty(s->message)) >= 0)
			goto tripped;
		if (s->shrank &&
		    asprintf(&why,
			     "source '%s' shrank: %llu owner rows and %llu live keys now, %llu and "
			     "%llu at the last good run (min-ratio %.2f)",
			     s->name, (unsigned long long)s->owners,
			     (unsigned long long)s->live_rows, (unsigned long long)s->last_owners,
			     (unsigned long long)s->last_live_rows, s->min_ratio) >= 0)
			goto tripped;
	}
	if (plan_breaker_max_delete(pl, cfg, rs, &root) > 0 &&
	    asprintf(&why, "the plan removes %llu of %llu files in root '%s', over max-delete",
		     (unsigned long long)pl->roots[root].actions,
		     (unsigned long long)pl->roots[root].files_present, cfg->roots[root].name) >= 0)
		goto tripped;
	return 0;
tripped:
	*ret_why = why;
	return 1;
}
