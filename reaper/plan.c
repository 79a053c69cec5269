/* The planner (see plan.h). Per-file rules (older-than, unreferenced,
 * expire-rows) decide as each file arrives; rules that need the whole
 * root (keep-*, max-size, min-free) collect candidates and decide at the
 * root's end. A file gets at most one action: the first rule, in config
 * order, that would remove it. Every action carries a reason built here,
 * in the operator's terms. */
#include "reaper/plan.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/parse.h"
#include "reaper/retain.h"

struct cand {
	struct plan_file f; /* strings owned */
	int64_t t_ns;       /* the rule's timestamp */
	char *group;
};

struct collect {
	struct cand *v;
	size_t n, cap;
	uint64_t total_bytes; /* every matching file, removable or not (max-size) */
};

struct row_key {
	char *key;
	size_t rule;
	bool taken; /* a file with this key is planned with its rows */
};

struct planner {
	struct row_key *rows; /* keys row rules selected, sorted once files come */
	size_t n_rows, cap_rows;
	bool rows_sorted;
	const struct config *cfg;
	const struct rules *rs;
	int64_t now;
	struct plan *pl;
	size_t cap;
	/* the current root */
	size_t root;
	int64_t root_id;
	uint64_t fs_free, fs_size;
	bool refs_failed;
	size_t root_start; /* first action of the current root */
	struct collect *col; /* one per rule */
};

static struct row_key *row_selected(struct planner *p, const struct plan_file *f);
static int plan_with_rows(struct planner *p, struct row_key *rk, const struct plan_file *f);

static const char *const kind_names[_PLAN_KIND_MAX] = {
	[PLAN_REMOVE_FILE] = "remove-file",
	[PLAN_REMOVE_FILE_ROWS] = "remove-file-rows",
	[PLAN_REMOVE_ROWS] = "remove-rows",
	[PLAN_REMOVE_COLLECTION] = "remove-collection",
	[PLAN_REMOVE_VECTOR_DIR] = "remove-vector-dir",
	[PLAN_REMOVE_VECTOR_ROWS] = "remove-vector-rows",
};

const char *plan_kind_to_string(enum plan_kind k)
{
	return k < _PLAN_KIND_MAX ? kind_names[k] : "?";
}

int planner_new(const struct config *cfg, const struct rules *rs, int64_t now_ns,
		struct planner **ret)
{
	_cleanup_free_ struct planner *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	p->pl = calloc(1, sizeof *p->pl);
	p->col = calloc(rs->n + 1, sizeof *p->col);
	if (!p->pl || !p->col) {
		free(p->pl);
		free(p->col);
		return -ENOMEM;
	}
	p->pl->rules = calloc(rs->n + 1, sizeof *p->pl->rules);
	p->pl->roots = calloc(cfg->n_roots + 1, sizeof *p->pl->roots);
	p->pl->n_rules = rs->n;
	p->pl->n_roots = cfg->n_roots;
	p->pl->now_ns = now_ns;
	p->cfg = cfg;
	p->rs = rs;
	p->now = now_ns;
	p->root = (size_t)-1;
	if (!p->pl->rules || !p->pl->roots) {
		plan_free(p->pl);
		free(p->col);
		return -ENOMEM;
	}
	*ret = TAKE_PTR(p);
	return 0;
}

static void cand_done(struct cand *c)
{
	free((char *)c->f.path);
	free((char *)c->f.key);
	free(c->group);
}

static void collect_reset(struct collect *c)
{
	for (size_t i = 0; i < c->n; i++)
		cand_done(&c->v[i]);
	free(c->v);
	*c = (struct collect){0};
}

void planner_free(struct planner *p)
{
	if (!p)
		return;
	for (size_t i = 0; p->col && i < p->rs->n; i++)
		collect_reset(&p->col[i]);
	free(p->col);
	for (size_t i = 0; i < p->n_rows; i++)
		free(p->rows[i].key);
	free(p->rows);
	plan_free(p->pl);
	free(p);
}

static void action_done(struct plan_action *a)
{
	free(a->path);
	free(a->key);
	free(a->store);
	free(a->target);
	free(a->reason);
}

void plan_free(struct plan *pl)
{
	if (!pl)
		return;
	for (size_t i = 0; i < pl->n_actions; i++)
		action_done(&pl->actions[i]);
	free(pl->actions);
	free(pl->rules);
	free(pl->roots);
	free(pl);
}

static char *memdup0(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = 0;
	}
	return d;
}

/* Appends an action; takes `reason` (malloc'd). */
static int push(struct planner *p, struct plan_action *a, char *reason)
{
	struct plan *pl = p->pl;
	if (!reason)
		return -ENOMEM;
	if (pl->n_actions == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 256;
		struct plan_action *nv = realloc(pl->actions, cap * sizeof *nv);
		if (!nv) {
			free(reason);
			return -ENOMEM;
		}
		pl->actions = nv;
		p->cap = cap;
	}
	a->reason = reason;
	pl->actions[pl->n_actions++] = *a;
	struct plan_rule_total *t = &pl->rules[a->rule];
	t->actions++;
	t->rows += a->kind == PLAN_REMOVE_FILE_ROWS || a->kind == PLAN_REMOVE_ROWS;
	t->vectors += a->kind >= PLAN_REMOVE_COLLECTION ? MAX(a->rows, 1) : 0;
	if (a->path) {
		t->files++;
		t->bytes += (uint64_t)a->size;
		pl->files++;
		pl->bytes += (uint64_t)a->size;
		if (a->root < pl->n_roots) {
			pl->roots[a->root].actions++;
			pl->roots[a->root].bytes += (uint64_t)a->size;
		}
	} else if (a->kind >= PLAN_REMOVE_COLLECTION) {
		t->bytes += (uint64_t)a->size;
		pl->bytes += (uint64_t)a->size;
	}
	return 0;
}

_printf_(1, 2) static char *fmt(const char *f, ...)
{
	char *s = NULL;
	va_list ap;
	va_start(ap, f);
	if (vasprintf(&s, f, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

static int push_file(struct planner *p, size_t rule, const struct plan_file *f,
		     enum plan_kind kind, char *reason)
{
	const struct rule *r = &p->rs->v[rule];
	struct plan_action a = {
		.kind = kind, .rule = rule, .root = p->root, .root_id = p->root_id,
		.path_len = f->path_len, .size = f->size, .mtime_ns = f->mtime_ns,
		.ino = f->ino, .dev = f->dev, .quarantine = r->quarantine,
	};
	a.path = memdup0(f->path, f->path_len);
	a.key = f->key ? strdup(f->key) : NULL;
	if (!a.path || (f->key && !a.key)) {
		free(a.path);
		free(a.key);
		free(reason);
		return -ENOMEM;
	}
	int k = push(p, &a, reason);
	if (k < 0) {
		free(a.path);
		free(a.key);
	}
	return k;
}

int planner_root_begin(struct planner *p, size_t root_index, int64_t root_id, uint64_t fs_free,
		       uint64_t fs_size, bool refs_failed)
{
	if (root_index >= p->cfg->n_roots || p->root != (size_t)-1)
		return -EINVAL;
	p->root = root_index;
	p->root_id = root_id;
	p->fs_free = fs_free;
	p->fs_size = fs_size;
	p->refs_failed = refs_failed;
	p->root_start = p->pl->n_actions;
	return 0;
}

int planner_root_abort(struct planner *p)
{
	struct plan *pl = p->pl;

	if (p->root == (size_t)-1)
		return -EINVAL;
	for (size_t i = p->root_start; i < pl->n_actions; i++) {
		struct plan_action *a = &pl->actions[i];
		struct plan_rule_total *t = &pl->rules[a->rule];
		t->actions--;
		t->rows -= a->kind == PLAN_REMOVE_FILE_ROWS;
		t->files--;
		t->bytes -= (uint64_t)a->size;
		pl->files--;
		pl->bytes -= (uint64_t)a->size;
		pl->roots[p->root].actions--;
		pl->roots[p->root].bytes -= (uint64_t)a->size;
		pl->skipped_failed++;
		action_done(a);
	}
	pl->n_actions = p->root_start;
	for (size_t i = 0; i < p->rs->n; i++)
		collect_reset(&p->col[i]);
	p->root = (size_t)-1;
	return 0;
}

static int64_t time_of(const struct plan_file *f, enum rule_time t)
{
	switch (t) {
	case RULE_TIME_ATIME:
		return f->atime_ns ? f->atime_ns : f->mtime_ns;
	case RULE_TIME_CTIME:
		return f->ctime_ns;
	case RULE_TIME_BTIME:
		return f->btime_ns ? f->btime_ns : f->mtime_ns;
	default:
		return f->mtime_ns;
	}
}

static const char *age(char *buf, size_t n, int64_t ns)
{
	return format_duration(buf, n, ns < 0 ? 0 : ns);
}

/* Which file-level conditions of rule r hold; fills *reason when all do.
 * Returns 1 remove, 0 not this rule, <0 error. */
static int judge_file(struct planner *p, const struct rule *r, const struct plan_file *f,
		      enum plan_kind *kind, char **reason)
{
	char a1[32], a2[32];
	int64_t t = time_of(f, r->timestamp);

	if (r->has_older_than && p->now - t < r->older_than_ns)
		return 0;
	if (r->unreferenced) {
		/* By mtime, as the audit judges (an upload is written before its
		 * row commits), and from when reap runs first saw it unreferenced
		 * if it was referenced before that. */
		int64_t since = MAX(f->mtime_ns, f->unref_since_ns);
		if (f->ref != PLAN_REF_NONE || !f->key)
			return 0;
		if (p->now - since < r->grace_ns) {
			p->pl->kept_by_grace++;
			return 0;
		}
		*kind = PLAN_REMOVE_FILE;
		*reason = fmt("no row owns key '%s' and nothing refers to it; %s for %s (grace %s)",
			      f->key, since > f->mtime_ns ? "unreferenced" : "unchanged",
			      age(a1, sizeof a1, p->now - since), age(a2, sizeof a2, r->grace_ns));
		return *reason ? 1 : -ENOMEM;
	}
	if (r->has_expire_rows) {
		int64_t born = f->owner_created_ns ? f->owner_created_ns : f->mtime_ns;
		if (f->ref != PLAN_REF_OWNED_DEAD || p->now - born < r->expire_rows_ns)
			return 0;
		*kind = PLAN_REMOVE_FILE_ROWS;
		*reason = fmt("owner row '%s' is referenced by nothing live; created %s ago "
			      "(expire-rows %s)",
			      f->key, age(a1, sizeof a1, p->now - born),
			      age(a2, sizeof a2, r->expire_rows_ns));
		return *reason ? 1 : -ENOMEM;
	}
	if (r->has_older_than && !r->has_keep && !r->max_size && !r->min_free &&
	    !r->min_free_percent) {
		*kind = PLAN_REMOVE_FILE;
		*reason = fmt("%s %s ago (older-than %s)", rule_time_to_string(r->timestamp),
			      age(a1, sizeof a1, p->now - t), age(a2, sizeof a2, r->older_than_ns));
		return *reason ? 1 : -ENOMEM;
	}
	return 0;
}

static bool is_group_rule(const struct rule *r)
{
	return r->has_keep || r->max_size || r->min_free || r->min_free_percent;
}

static int collect(struct planner *p, size_t rule, const struct plan_file *f)
{
	const struct rule *r = &p->rs->v[rule];
	struct collect *c = &p->col[rule];
	struct cand k = {.f = *f, .t_ns = time_of(f, r->order == RULE_ORDER_LRU ? RULE_TIME_ATIME
										: r->timestamp)};

	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct cand *nv = realloc(c->v, cap * sizeof *nv);
		if (!nv)
			return -ENOMEM;
		c->v = nv;
		c->cap = cap;
	}
	k.f.path = memdup0(f->path, f->path_len);
	k.f.key = f->key ? strdup(f->key) : NULL;
	if (!k.f.path || (f->key && !k.f.key) || rule_group_of(r, k.f.path, &k.group) < 0) {
		cand_done(&k);
		return -ENOMEM;
	}
	c->v[c->n++] = k;
	return 0;
}

static bool under_quarantine(const struct plan_file *f)
{
	size_t l = strlen(REAPER_QUARANTINE_DIR);
	return f->path_len >= l && memcmp(f->path, REAPER_QUARANTINE_DIR, l) == 0 &&
	       (f->path_len == l || f->path[l] == '/');
}

int planner_add_file(struct planner *p, const struct plan_file *f)
{
	const struct config_root *root;

	if (p->root == (size_t)-1)
		return -EINVAL;
	root = &p->cfg->roots[p->root];
	p->pl->roots[p->root].files_present++;
	if (under_quarantine(f) || rules_path_protected(p->rs, root, f->path))
		return 0;
	if (p->refs_failed || f->ref == PLAN_REF_FAILED) {
		p->pl->skipped_failed++;
		return 0;
	}
	struct row_key *rk = row_selected(p, f);
	if (rk && !rk->taken && f->ref != PLAN_REF_HELD && root->key != KEY_NONE)
		return plan_with_rows(p, rk, f);
	for (size_t i = 0; i < p->rs->n; i++) {
		const struct rule *r = &p->rs->v[i];
		enum plan_kind kind;
		char *reason = NULL;
		int k;

		if (!rule_applies_to_root(r, root) || !rule_matches_path(r, f->path))
			continue;
		if (is_group_rule(r))
			p->col[i].total_bytes += (uint64_t)f->size;
		if (f->ref == PLAN_REF_HELD)
			continue; /* counted toward quotas, never removed */
		if (f->ref == PLAN_REF_OWNED_DEAD && !r->has_expire_rows)
			continue; /* an owner row holds it: only expire-rows takes both */
		if (is_group_rule(r)) {
			if (r->has_older_than && p->now - time_of(f, r->timestamp) < r->older_than_ns)
				continue;
			k = collect(p, i, f);
			if (k < 0)
				return k;
			continue;
		}
		k = judge_file(p, r, f, &kind, &reason);
		if (k < 0)
			return k;
		if (k > 0)
			return push_file(p, i, f, kind, reason);
	}
	return 0;
}

static int cmp_cand_group_time(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	int c = strcmp(x->group, y->group);
	if (c)
		return c;
	if (x->t_ns != y->t_ns)
		return x->t_ns < y->t_ns ? -1 : 1;
	return strcmp(x->f.path, y->f.path);
}

/* True when an earlier action of this run already takes the file. */
static bool already_planned(const struct planner *p, const struct cand *c)
{
	/* Actions of this root are at the end of the list; group rules run
	 * after per-file ones, so a linear scan back over this root is enough
	 * for the small candidate sets these rules see. */
	for (size_t i = p->pl->n_actions; i-- > 0;) {
		const struct plan_action *a = &p->pl->actions[i];
		if (a->root != p->root || !a->path)
			break;
		if (a->path_len == c->f.path_len && memcmp(a->path, c->f.path, a->path_len) == 0)
			return true;
	}
	return false;
}

static int decide_keep_group(struct planner *p, size_t rule, struct cand *v, size_t n)
{
	const struct rule *r = &p->rs->v[rule];
	_cleanup_free_ struct retain_item *it = calloc(n ? n : 1, sizeof *it);
	int k;

	if (!it)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		it[i] = (struct retain_item){.time_ns = v[i].t_ns, .index = i};
	k = retain_decide(&r->keep, it, n, p->now);
	if (k < 0)
		return k;
	for (size_t i = 0; i < n; i++) {
		const struct cand *c = &v[it[i].index];
		char a1[32];
		if (it[i].kept_by != RETAIN_DROP || already_planned(p, c))
			continue;
		k = push_file(p, rule, &c->f, PLAN_REMOVE_FILE,
			      fmt("backup of group '%s' from %s ago is kept by no bucket "
				  "(%zu of %zu newer in the group)",
				  c->group, age(a1, sizeof a1, p->now - c->t_ns), i, n));
		if (k < 0)
			return k;
	}
	return 0;
}

static int decide_keep(struct planner *p, size_t rule)
{
	struct collect *c = &p->col[rule];
	size_t start = 0;

	if (c->n == 0)
		return 0;
	qsort(c->v, c->n, sizeof *c->v, cmp_cand_group_time);
	for (size_t i = 1; i <= c->n; i++) {
		if (i < c->n && streq(c->v[i].group, c->v[start].group))
			continue;
		int k = decide_keep_group(p, rule, c->v + start, i - start);
		if (k < 0)
			return k;
		start = i;
	}
	return 0;
}

/* max-size and min-free: remove oldest (or least recently used) first
 * until `excess` bytes are freed. */
static int decide_quota(struct planner *p, size_t rule, uint64_t excess, const char *why)
{
	struct collect *c = &p->col[rule];
	const struct rule *r = &p->rs->v[rule];
	uint64_t freed = 0;

	if (c->n == 0)
		return 0;
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].group), c->v[i].group = strdup("");
	qsort(c->v, c->n, sizeof *c->v, cmp_cand_group_time);
	for (size_t i = 0; i < c->n && freed < excess; i++) {
		char a1[32];
		if (already_planned(p, &c->v[i]))
			continue;
		int k = push_file(p, rule, &c->v[i].f, PLAN_REMOVE_FILE,
				  fmt("%s; %s first, this one %s %s ago", why,
				      r->order == RULE_ORDER_LRU ? "least recently used" : "oldest",
				      r->order == RULE_ORDER_LRU ? "used" : "written",
				      age(a1, sizeof a1, p->now - c->v[i].t_ns)));
		if (k < 0)
			return k;
		freed += (uint64_t)c->v[i].f.size;
	}
	return 0;
}

static int decide_group_rule(struct planner *p, size_t rule)
{
	const struct rule *r = &p->rs->v[rule];
	struct collect *c = &p->col[rule];
	char b1[32], b2[32], why[128];

	if (r->has_keep)
		return decide_keep(p, rule);
	if (r->max_size && c->total_bytes > r->max_size) {
		snprintf(why, sizeof why, "root holds %s, over max-size %s",
			 format_bytes(b1, sizeof b1, c->total_bytes),
			 format_bytes(b2, sizeof b2, r->max_size));
		return decide_quota(p, rule, c->total_bytes - r->max_size, why);
	}
	uint64_t want = r->min_free;
	if (r->min_free_percent)
		want = p->fs_size / 100 * r->min_free_percent;
	if (want && p->fs_free < want) {
		snprintf(why, sizeof why, "filesystem has %s free, below min-free %s",
			 format_bytes(b1, sizeof b1, p->fs_free), format_bytes(b2, sizeof b2, want));
		return decide_quota(p, rule, want - p->fs_free, why);
	}
	return 0;
}

int planner_root_end(struct planner *p)
{
	int r = 0;

	if (p->root == (size_t)-1)
		return -EINVAL;
	for (size_t i = 0; i < p->rs->n && r >= 0; i++)
		if (rule_applies_to_root(&p->rs->v[i], &p->cfg->roots[p->root]) &&
		    is_group_rule(&p->rs->v[i]))
			r = decide_group_rule(p, i);
	for (size_t i = 0; i < p->rs->n; i++)
		collect_reset(&p->col[i]);
	p->root = (size_t)-1;
	return r;
}

static const char *const vector_what[] = {
	"collection whose owning row is gone",
	"index directory of no segment",
	"embeddings of a segment that no longer exists",
};

int planner_add_vector(struct planner *p, const char *store, int kind, const char *collection,
		       const char *id, const char *key, uint64_t embeddings, uint64_t bytes)
{
	unsigned want = kind == 0 ? RULE_VECTORS_DEAD : RULE_VECTORS_ORPHANS;

	if (kind < 0 || kind > 2)
		return 0; /* unknown collections are never reaped */
	for (size_t i = 0; i < p->rs->n; i++) {
		const struct rule *r = &p->rs->v[i];
		if (!(r->vectors & want) || (r->store && !streq(r->store, store)))
			continue;
		struct plan_action a = {
			.kind = (enum plan_kind)(PLAN_REMOVE_COLLECTION + kind), .rule = i,
			.root = (size_t)-1, .rows = embeddings, .size = (int64_t)bytes,
		};
		a.store = strdup(store);
		a.target = strdup(id ? id : "");
		a.key = collection ? strdup(collection) : NULL;
		char *reason = fmt("%s%s%s%s%s", vector_what[kind], collection ? " ('" : "",
				   collection ? collection : "", collection ? "'" : "",
				   collection ? (key ? ", its key is not live)" : ")") : "");
		if (!a.store || !a.target || (collection && !a.key)) {
			free(a.store), free(a.target), free(a.key), free(reason);
			return -ENOMEM;
		}
		int k = push(p, &a, reason);
		if (k < 0)
			free(a.store), free(a.target), free(a.key);
		return k;
	}
	return 0;
}

int planner_add_row_key(struct planner *p, size_t rule, const char *key)
{
	if (rule >= p->rs->n || p->rows_sorted)
		return -EINVAL;
	if (p->n_rows == p->cap_rows) {
		size_t cap = p->cap_rows ? 2 * p->cap_rows : 64;
		struct row_key *nv = realloc(p->rows, cap * sizeof *nv);
		if (!nv)
			return -ENOMEM;
		p->rows = nv;
		p->cap_rows = cap;
	}
	p->rows[p->n_rows] = (struct row_key){.key = strdup(key), .rule = rule};
	if (!p->rows[p->n_rows].key)
		return -ENOMEM;
	p->n_rows++;
	return 0;
}

static int cmp_row_key(const void *a, const void *b)
{
	return strcmp(((const struct row_key *)a)->key, ((const struct row_key *)b)->key);
}

/* The row rule that selected this file's key on the root's source, if
 * any: the file then goes with its rows, in the same run. */
static struct row_key *row_selected(struct planner *p, const struct plan_file *f)
{
	const char *src = p->cfg->roots[p->root].source;
	struct row_key k = {.key = (char *)f->key};

	if (p->n_rows == 0 || !f->key || !src)
		return NULL;
	if (!p->rows_sorted) {
		qsort(p->rows, p->n_rows, sizeof *p->rows, cmp_row_key);
		p->rows_sorted = true;
	}
	struct row_key *hit = bsearch(&k, p->rows, p->n_rows, sizeof *p->rows, cmp_row_key);
	if (!hit || !streq_ptr(p->rs->v[hit->rule].source, src))
		return NULL;
	return hit;
}

static int plan_with_rows(struct planner *p, struct row_key *rk, const struct plan_file *f)
{
	rk->taken = true;
	return push_file(p, rk->rule, f, PLAN_REMOVE_FILE_ROWS,
			 fmt("its owner row '%s' is selected by the rule's rows query on source "
			     "'%s'; the file goes with it",
			     f->key, p->rs->v[rk->rule].source));
}

static int push_row_actions(struct planner *p)
{
	for (size_t i = 0; i < p->n_rows; i++) {
		struct row_key *rk = &p->rows[i];
		if (rk->taken)
			continue;
		struct plan_action a = {.kind = PLAN_REMOVE_ROWS, .rule = rk->rule,
					.root = (size_t)-1, .quarantine = true};
		char *reason = fmt("selected by the rule's rows query on source '%s'",
				   p->rs->v[rk->rule].source);
		a.key = TAKE_PTR(rk->key);
		int k = push(p, &a, reason);
		if (k < 0) {
			free(a.key);
			return k;
		}
	}
	return 0;
}

int planner_finish(struct planner *p, struct plan **ret)
{
	if (p->root != (size_t)-1)
		return -EINVAL;
	int r = push_row_actions(p);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(p->pl);
	planner_free(p);
	return 0;
}

bool breaker_ratio_ok(uint64_t last, uint64_t now, double min_ratio)
{
	if (last == 0 || min_ratio <= 0)
		return true;
	return (double)now >= (double)last * min_ratio;
}

int plan_breaker_max_delete(const struct plan *pl, const struct config *cfg,
			    const struct rules *rs, size_t *ret_root)
{
	for (size_t i = 0; i < pl->n_roots; i++) {
		const struct plan_root_total *t = &pl->roots[i];
		uint64_t limit = UINT64_MAX;
		bool configured = false;

		for (size_t k = 0; k < rs->n; k++) {
			const struct rule *r = &rs->v[k];
			if (!rule_applies_to_root(r, &cfg->roots[i]))
				continue;
			if (r->max_delete)
				limit = MIN(limit, r->max_delete), configured = true;
			if (r->max_delete_percent)
				limit = MIN(limit, t->files_present * r->max_delete_percent / 100),
				configured = true;
		}
		if (!configured && t->files_present >= 20)
			limit = t->files_present / 2;
		if (t->actions > limit) {
			*ret_root = i;
			return 1;
		}
	}
	return 0;
}
