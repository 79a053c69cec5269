/* The audit's per-source merge: one key-ordered cursor per root that
 * names the source, merged with the source's key-ordered owner rows and
 * its live references. A key held by files and no row makes orphans (or
 * pending files) when nothing live holds it, and unowned-referenced files
 * when something does; a row makes a dangling row when its file is not on
 * disk and an unreferenced one when nothing live holds it. Every step has
 * a larger key than the one before, so the live checks of unowned groups
 * and of owner rows come in the ascending order refsource_live_check()
 * requires. Memory holds one key's files at a time. */
#include <string.h>

#include "reaper/audit-internal.h"

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

static int rcursor_next(struct merge *m, struct rcursor *c)
{
	const struct catalog_file *f;
	int r;

	while ((r = catalog_cursor_next(c->cur, &f)) > 0) {
		if (f->state == CATALOG_GONE || !f->key)
			continue;
		size_t len = strlen(f->key);
		if (c->prev && audit_key_cmp(f->key, len, c->prev, c->prev_len) < 0)
			return audit_fail(m->a, -EBADMSG, "catalog: keys of root '%s' are out of order at '%s'",
				    c->root->name, f->key);
		if (audit_buf_set(&c->prev, &c->prev_cap, f->key, len) < 0)
			return -ENOMEM;
		c->prev_len = len;
		c->key_len = len;
		c->f = f;
		return 1;
	}
	c->f = NULL;
	if (r < 0)
		return audit_fail(m->a, r, "catalog: %s", catalog_errmsg(m->a->cat));
	return 0;
}

static int owner_next(struct merge *m)
{
	int r = refsource_owners_next(m->own, &m->o);
	if (r <= 0)
		m->o = NULL;
	if (r < 0)
		return audit_fail(m->a, r, "%s", refsource_errmsg(m->rs));
	return r;
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
	audit_group_done(&m->g);
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
			return audit_fail(a, -ENOENT, "source '%s' not audited: root '%s' is not in the catalog",
				    m->source, root->name);
		struct catalog_query q = {.root_id = a->root_ids[i], .order = CATALOG_ORDER_KEY,
					  .state = -1, .keyed_only = true};
		struct rcursor *c = &m->rc[m->n_rc++];
		c->root = root;
		int r = catalog_cursor_open(a->cat, &q, &c->cur);
		if (r < 0)
			return audit_fail(a, r, "catalog: %s", catalog_errmsg(a->cat));
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
		audit_fail(a, r, "%s", refsource_errmsg(m->rs));
		m->rs = NULL; /* nothing to end */
		return r;
	}
	r = refsource_owners_open(m->rs, &m->own);
	if (r < 0)
		return audit_fail(a, r, "%s", refsource_errmsg(m->rs));
	r = owner_next(m);
	if (r < 0)
		return r;
	if (audit_wanted(a, AUDIT_UNREFERENCED) || audit_wanted(a, AUDIT_ORPHAN) ||
	    audit_wanted(a, AUDIT_PENDING) || audit_wanted(a, AUDIT_UNOWNED_REFERENCED)) {
		r = refsource_live_open(m->rs, &m->live);
		if (r < 0)
			return audit_fail(a, r, "%s", refsource_errmsg(m->rs));
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
		if (c->f && (!k || audit_key_cmp(c->f->key, c->key_len, k, kl) < 0)) {
			k = c->f->key;
			kl = c->key_len;
		}
	}
	if (m->o && (!k || audit_key_cmp(m->o->key, m->o->key_len, k, kl) < 0)) {
		k = m->o->key;
		kl = m->o->key_len;
	}
	*ret = k;
	*ret_len = kl;
	return k != NULL;
}

static bool at_key(const struct group *g, const char *key, size_t len)
{
	return audit_key_cmp(key, len, g->key, g->key_len) == 0;
}

static int group_collect(struct merge *m)
{
	m->g.n = 0;
	for (size_t i = 0; i < m->n_rc; i++) {
		struct rcursor *c = &m->rc[i];
		while (c->f && at_key(&m->g, c->f->key, c->key_len)) {
			int r = audit_group_add(&m->g, c->root, c->f);
			if (r < 0)
				return r;
			r = rcursor_next(m, c);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* Does a live reference hold the group's key? Asked once per group, and
 * only when there is a file to judge. Without live references opened
 * (only dangling rows wanted) nothing that depends on the answer is
 * reported anyway. */
static int group_live(struct merge *m)
{
	if (!m->live)
		return 0;
	int r = refsource_live_check(m->live, m->g.key, m->g.key_len);
	if (r < 0)
		return audit_fail(m->a, r, "%s", refsource_errmsg(m->rs));
	return r;
}

/* Files that no row owns. A live reference to the key (a chat that still
 * names a file whose row is gone) keeps them, as the reaper does: they
 * are unowned-referenced, whatever their age, never orphans. */
static int report_unowned(struct merge *m)
{
	struct audit *a = m->a;
	int live = -1;

	for (size_t i = 0; i < m->g.n; i++) {
		const struct gfile *gf = &m->g.f[i];
		if (audit_root_protects(gf->root, gf->path))
			continue;
		if (live < 0 && (live = group_live(m)) < 0)
			return live;
		bool young = a->now_ns - gf->mtime_ns < a->cfg->grace_ns;
		struct audit_finding f = {
			.category = live ? AUDIT_UNOWNED_REFERENCED : young ? AUDIT_PENDING : AUDIT_ORPHAN,
			.root = gf->root->name,
			.path = gf->path,
			.path_len = gf->path_len,
			.key = m->g.key,
			.size = gf->size,
			.mtime_ns = gf->mtime_ns,
			.source = m->source,
			.created_s = -1,
		};
		int r = audit_emit(a, &f, (uint64_t)MAX(gf->size, 0));
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
	if (o->path && o->path_len && audit_locate_fast(m->a, o->path, &p->root, &p->rel))
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
	p->present = p->root ? audit_file_exists_below(m->a, p->root, p->rel) : audit_file_exists_abs(p->rel);
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
		r = audit_emit(a, &f, 0);
		if (r < 0)
			return r;
	}
	if (!m->live)
		return 0;
	r = refsource_live_check(m->live, o->key, o->key_len);
	if (r < 0)
		return audit_fail(a, r, "%s", refsource_errmsg(m->rs));
	if (r > 0)
		return 0;
	struct audit_finding f = owner_finding(m, o, &p, AUDIT_UNREFERENCED);
	return audit_emit(a, &f, (uint64_t)MAX(f.size, 0));
}

static int merge_step(struct merge *m, const char *key, size_t len)
{
	int r = audit_buf_set(&m->g.key, &m->g.key_cap, key, len);
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

int audit_pass_source(struct audit *a, const struct config_source *src)
{
	struct merge m = {.a = a};
	const char *key;
	size_t len;
	int r;

	m.rs = audit_source_get(a, src->name, &m.source);
	if (!m.rs)
		return a->abort; /* reported */
	r = merge_open(&m);
	while (r >= 0 && merge_min_key(&m, &key, &len))
		r = merge_step(&m, key, len);
	merge_done(&m);
	return audit_pass_result(a, r);
}

