/* Row-rule actions: owner rows selected by a rule's query, removed with
 * the source's remove statements, one transaction per batch, each row's
 * values journalled first. Like file actions, the journal commits before
 * the app database, so recovery can tell a finished removal (rows gone)
 * from an interrupted one (rows still there). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/failpoint.h"
#include "reaper/apply-internal.h"

#define ROW_BATCH 500

struct rsave {
	struct journal *j;
	int64_t id;
};

static int save(unsigned seq, const char *table, const struct journal_value *v, size_t n,
		void *ud)
{
	struct rsave *s = ud;
	return journal_save_row(s->j, s->id, seq, table, v, n);
}

static int journal_batch(struct apply *a, const struct plan_action **v, size_t n, int64_t *ids)
{
	int r = journal_begin(a->j);
	for (size_t i = 0; i < n && r >= 0; i++) {
		const struct rule *rule = &a->rs->v[v[i]->rule];
		struct journal_action ja = {
			.run_id = a->run_id, .state = JOURNAL_PLANNED, .kind = "remove-rows",
			.rule = rule->name, .reason = v[i]->reason, .key = v[i]->key,
			.source = rule->source,
		};
		r = journal_add(a->j, &ja, &ids[i]);
	}
	if (r < 0) {
		journal_rollback(a->j);
		return r;
	}
	return journal_commit(a->j);
}

static int remove_batch(struct apply *a, struct appdb *app, const struct plan_action **v,
			size_t n, int64_t *ids, uint64_t *rows)
{
	int r = appdb_begin(app);
	if (r >= 0)
		r = journal_begin(a->j);
	for (size_t i = 0; i < n && r >= 0; i++) {
		struct rsave s = {.j = a->j, .id = ids[i]};
		int k = appdb_remove_key(app, v[i]->key, save, &s);
		if (k < 0) {
			r = k;
			break;
		}
		rows[i] = (uint64_t)k;
		r = journal_set_state(a->j, ids[i], JOURNAL_MOVED, NULL, rows[i]);
	}
	if (r >= 0)
		r = journal_commit(a->j);
	else
		journal_rollback(a->j);
	if (r >= 0)
		r = FAILPOINT("reap-rows-before-commit");
	if (r >= 0)
		r = appdb_commit(app);
	if (r < 0) {
		apply_note_error(a->res, "%s", appdb_errmsg(app));
		appdb_rollback(app);
	}
	return r;
}

static int finish_batch(struct apply *a, size_t n, const int64_t *ids, const uint64_t *rows,
			bool ok)
{
	int r = journal_begin(a->j);
	for (size_t i = 0; i < n && r >= 0; i++)
		r = journal_set_state(a->j, ids[i], ok ? JOURNAL_DONE : JOURNAL_FAILED,
				      ok ? NULL : "the app database refused the removal",
				      ok ? rows[i] : 0);
	if (r < 0) {
		journal_rollback(a->j);
		return r;
	}
	r = journal_commit(a->j);
	for (size_t i = 0; ok && i < n; i++) {
		a->res->actions++;
		a->res->rows += rows[i];
	}
	if (!ok)
		a->res->failed += n;
	return r;
}

static int rows_of_rule(struct apply *a, size_t rule)
{
	const struct plan_action *v[ROW_BATCH];
	int64_t ids[ROW_BATCH];
	uint64_t rows[ROW_BATCH];
	size_t si = (size_t)-1, n = 0;
	struct appdb *app = NULL;
	int r = 0;

	for (size_t i = 0; i < a->cfg->n_sources; i++)
		if (streq(a->cfg->sources[i].name, a->rs->v[rule].source))
			si = i;
	if (si == (size_t)-1 || apply_source(a, si, &app, NULL) < 0)
		return 0;
	for (size_t i = 0; i <= a->pl->n_actions && r >= 0; i++) {
		const struct plan_action *pa = i < a->pl->n_actions ? &a->pl->actions[i] : NULL;
		if (pa && (pa->kind != PLAN_REMOVE_ROWS || pa->rule != rule))
			continue;
		if (pa)
			v[n++] = pa;
		if (n == 0 || (pa && n < ROW_BATCH))
			continue;
		memset(rows, 0, sizeof rows);
		r = journal_batch(a, v, n, ids);
		if (r < 0)
			break;
		int k = remove_batch(a, app, v, n, ids, rows);
		r = finish_batch(a, n, ids, rows, k >= 0);
		n = 0;
	}
	return r;
}

int apply_rows(struct apply *a)
{
	int r = 0;
	if (a->o->dry_run)
		return 0;
	for (size_t i = 0; i < a->rs->n && r >= 0; i++)
		if (a->rs->v[i].rows)
			r = rows_of_rule(a, i);
	return r;
}
