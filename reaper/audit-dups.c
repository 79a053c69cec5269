/* The audit's duplicate groups: present, hashed, non-empty files that
 * share a content hash, grouped in the catalog's hash order. The pass can
 * run on its own thread and catalog connection beside the merge; its
 * findings are spooled then and reported after the merge, in order. */
#include <stdlib.h>
#include <string.h>

#include "reaper/audit-internal.h"

struct dupgroup {
	struct group g;
	struct catalog_hash hash;
	uint64_t number;
};

/* Where duplicate findings go: audit_emit() in this thread, or a spool file
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
		const struct config_root *root = audit_root_by_id(a, cf->root_id);
		if (!root || !cf->hashed || cf->size <= 0 || cf->state != CATALOG_PRESENT)
			continue;
		if (d.g.n && memcmp(&d.hash, &cf->hash, sizeof(d.hash)) != 0)
			r = dup_flush(&d, out, ud);
		d.hash = cf->hash;
		if (r >= 0)
			r = audit_group_add(&d.g, root, cf);
	}
	if (r >= 0)
		r = dup_flush(&d, out, ud);
	catalog_cursor_free(cur);
	audit_group_done(&d.g);
	return r;
}

static int emit_dup(void *ud, const struct audit_finding *f, uint64_t bytes)
{
	struct audit *a = ud;
	if (f->group_index == 0 && audit_wanted(a, AUDIT_DUPLICATE))
		a->t->groups++;
	return audit_emit(a, f, bytes);
}

int audit_pass_duplicates(struct audit *a)
{
	int r = dup_scan(a, a->cat, emit_dup, a);
	if (r < 0 && r != -ENOMEM && !a->abort)
		audit_fail(a, r, "catalog: %s", catalog_errmsg(a->cat));
	return audit_pass_result(a, r);
}

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

bool audit_dup_start(struct audit *a, struct dup_job *j)
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
int audit_dup_finish(struct audit *a, struct dup_job *j)
{
	int r;

	pthread_join(j->thread, NULL);
	if (j->r == -ENOENT || j->r == -EACCES || j->r == -EPROTONOSUPPORT) /* no second connection */
		r = a->abort ? a->abort : audit_pass_duplicates(a);
	else if (j->r < 0) {
		if (!a->abort && j->r != -ENOMEM)
			audit_fail(a, j->r, "catalog: %s", j->error ? j->error : strerror(-j->r));
		r = audit_pass_result(a, j->r);
	} else
		r = a->abort ? a->abort : audit_pass_result(a, dup_replay(a, j->spool));
	fclose(j->spool);
	free(j->error);
	return r;
}

