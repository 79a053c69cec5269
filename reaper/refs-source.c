/* Reference sources, whatever the database: opening by URL, snapshots,
 * the sorted owner stream, the live merge, random-order probes and the
 * reaper's removal, over the statement interface of refs-internal.h.
 * Every configured query is wrapped, not rewritten: the owners and live
 * queries become `WITH q(c1, ...) AS (<query>) SELECT ... ORDER BY 1
 * <bytewise>`, so the database sorts them in memcmp order and fsd merges
 * them as streams. The order is checked row by row anyway: a merge over a
 * stream that is not really sorted would call referenced keys dead, so
 * any disorder is an error, never a silent mismatch. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reaper/refs-internal.h"

#define DEFAULT_BUSY_MS 5000

/* The last key seen on a stream, to prove the stream is sorted. */
struct keybuf {
	char *p;
	size_t len, cap;
	bool set;
};

struct refsource_owners {
	struct refsource *rs;
	struct refs_stmt *st;
	int ncols;
	struct keybuf prev;
	struct refsource_owner row;
};

struct live_cursor {
	struct refs_stmt *st;
	unsigned index;
	bool done;
	struct keybuf cur; /* the cursor's current key */
};

struct refsource_live {
	struct refsource *rs;
	struct live_cursor *cur;
	size_t n;
	struct refkeys *tokens;
	struct keybuf last;
};

int refs_fail(struct refsource *rs, int r, const char *fmt, ...)
{
	char *msg = NULL, *full = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (asprintf(&full, "source '%s': %s", rs->src->name, msg ? msg : "out of memory") < 0)
		full = NULL;
	free(msg);
	free(rs->err);
	rs->err = full;
	return r;
}

int refs_busy_ms(const struct refsource *rs)
{
	return rs->src->busy_timeout_ms > 0 ? rs->src->busy_timeout_ms : DEFAULT_BUSY_MS;
}

const char *refsource_errmsg(const struct refsource *rs)
{
	return rs->err ? rs->err : "no error";
}

const struct config_source *refsource_config(const struct refsource *rs)
{
	return rs->src;
}

void *refsource_sqlite_db(struct refsource *rs)
{
	return rs->be == &refs_sqlite_backend ? rs->db : NULL;
}

void refsource_get_stats(const struct refsource *rs, struct refsource_stats *ret)
{
	*ret = rs->stats;
}

/* ---- keys in order ---- */

static int key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, MIN(alen, blen));
	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int keybuf_set(struct keybuf *kb, const char *key, size_t len)
{
	if (len + 1 > kb->cap) {
		size_t cap = MAX(len + 1, 2 * kb->cap);
		char *p = realloc(kb->p, cap);
		if (!p)
			return -ENOMEM;
		kb->p = p;
		kb->cap = cap;
	}
	memcpy(kb->p, key, len);
	kb->p[len] = 0;
	kb->len = len;
	kb->set = true;
	return 0;
}

/* Records `key` as the stream's newest; -EDOM if it sorts before the last. */
static int keybuf_advance(struct keybuf *kb, const char *key, size_t len)
{
	if (kb->set && key_cmp(key, len, kb->p, kb->len) < 0)
		return -EDOM;
	return keybuf_set(kb, key, len);
}

/* ---- wrapping queries ---- */

/* The query as configured, without trailing blanks and semicolons. */
static char *sql_trim(const char *sql)
{
	size_t n = strlen(sql);
	while (n > 0 && (sql[n - 1] == ';' || sql[n - 1] == ' ' || sql[n - 1] == '\n' ||
			 sql[n - 1] == '\t' || sql[n - 1] == '\r'))
		n--;
	return strndup(sql, n);
}

/* Expands %K (the key expression), %O (the backend's bytewise ordering)
 * and %P (its parameter placeholder) in a template of fixed SQL. */
static char *expand(const struct refs_backend *be, const char *tmpl, const char *key)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (!f)
		return NULL;
	for (const char *p = tmpl; *p; p++) {
		if (p[0] == '%' && p[1] == 'K')
			fputs(key, f);
		else if (p[0] == '%' && p[1] == 'O')
			fputs(be->order_bytewise, f);
		else if (p[0] == '%' && p[1] == 'P')
			fputs(be->param, f);
		else {
			fputc(*p, f);
			continue;
		}
		p++;
	}
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* Prepares `WITH q(c1..cn) AS (<sql>) SELECT <select> FROM q <rest>`,
 * where the key column c1 is cast to TEXT unless it already is text (a
 * cast would keep the database from using the key's index). */
static int prepare_wrapped(struct refsource *rs, const char *sql, const char *what,
			   int min_cols, int max_cols, const char *select, const char *rest,
			   struct refs_stmt **ret, int *ret_ncols)
{
	const struct refs_backend *be = rs->be;
	_cleanup_free_ char *trimmed = sql_trim(sql), *cols = NULL, *wrapped = NULL;
	struct refs_stmt *raw = NULL;
	size_t len = 0;
	int r;

	if (!trimmed)
		return -ENOMEM;
	r = be->prepare(rs, trimmed, what, &raw);
	if (r < 0)
		return r;
	int n = be->ncols(raw), nparams = be->nparams(raw);
	bool text = be->key_is_text(raw);
	be->finalize(raw);
	if (n < min_cols || n > max_cols)
		return refs_fail(rs, -EINVAL, "%s: yields %d columns, expected %d to %d", what, n,
				 min_cols, max_cols);
	if (nparams > 0)
		return refs_fail(rs, -EINVAL, "%s: must not take parameters", what);

	FILE *f = open_memstream(&cols, &len);
	if (!f)
		return -ENOMEM;
	for (int i = 1; i <= n; i++)
		fprintf(f, "%sc%d", i > 1 ? ", " : "", i);
	fclose(f);

	const char *key = text ? "c1" : "CAST(c1 AS TEXT)";
	_cleanup_free_ char *sel = expand(be, select, key), *tail = expand(be, rest, key);
	if (!sel || !tail)
		return -ENOMEM;
	if (asprintf(&wrapped, "WITH q(%s) AS (\n%s\n) SELECT %s FROM q %s", cols, trimmed, sel,
		     tail) < 0)
		return -ENOMEM;
	r = be->prepare(rs, wrapped, what, ret);
	if (r >= 0 && ret_ncols)
		*ret_ncols = n;
	return r;
}

/* ---- open and close ---- */

static int pick_backend(struct refsource *rs)
{
	const char *url = rs->src->url;

	if (isempty(url))
		return refs_fail(rs, -EINVAL, "no database url");
	if (startswith(url, "postgresql://") || startswith(url, "postgres://")) {
		rs->be = &refs_pg_backend;
		return 0;
	}
	const char *p = startswith(url, "sqlite://");
	if (!p || p[0] != '/')
		return refs_fail(rs, -EINVAL, "url '%s' is not sqlite:///ABSOLUTE/PATH or "
					      "postgresql://...", url);
	rs->be = &refs_sqlite_backend;
	rs->path = strdup(p);
	return rs->path ? 0 : -ENOMEM;
}

int refsource_open(const struct config_source *src, unsigned flags, struct refsource **ret,
		   char **ret_error)
{
	struct refsource *rs = calloc(1, sizeof(*rs));
	int r;

	if (!rs)
		return -ENOMEM;
	rs->src = src;
	rs->flags = flags;
	r = pick_backend(rs);
	if (r >= 0)
		r = rs->be->connect(rs);
	if (r >= 0) {
		r = refscan_new(src->key_pattern, &rs->scan);
		if (r < 0)
			r = refs_fail(rs, r, "key-pattern '%s' is not a valid regular expression",
				      src->key_pattern);
	}
	if (r < 0) {
		if (ret_error)
			*ret_error = TAKE_PTR(rs->err);
		refsource_close(rs);
		return r;
	}
	*ret = rs;
	return 0;
}

static void finalize_probes(struct refsource *rs)
{
	if (rs->live_probes)
		for (size_t i = 0; rs->src->live && rs->src->live[i]; i++)
			rs->be->finalize(rs->live_probes[i]);
	free(rs->live_probes);
	rs->live_probes = NULL;
	if (rs->be)
		rs->be->finalize(rs->owner_probe);
	rs->owner_probe = NULL;
}

void refsource_close(struct refsource *rs)
{
	if (!rs)
		return;
	finalize_probes(rs);
	if (rs->db && rs->in_snapshot)
		rs->be->exec(rs, "ROLLBACK", "closing");
	if (rs->db)
		rs->be->disconnect(rs);
	refkeys_free(rs->tokens);
	refscan_free(rs->scan);
	free(rs->path);
	free(rs->err);
	free(rs);
}

/* ---- snapshots ---- */

int refsource_snapshot_begin(struct refsource *rs)
{
	bool rw = rs->flags & REFSOURCE_READWRITE;

	if (rs->in_snapshot)
		return refs_fail(rs, -EBUSY, "a snapshot is already open");
	refkeys_free(TAKE_PTR(rs->tokens));
	int r = rs->be->exec(rs, rw ? rs->be->begin_write : rs->be->begin_read,
			     "beginning a snapshot");
	if (r < 0)
		return r;
	rs->in_snapshot = true;
	return 0;
}

static int snapshot_finish(struct refsource *rs, const char *sql)
{
	if (!rs->in_snapshot)
		return refs_fail(rs, -EINVAL, "no snapshot is open");
	refkeys_free(TAKE_PTR(rs->tokens));
	rs->in_snapshot = false;
	int r = rs->be->exec(rs, sql, "ending a snapshot");
	if (r < 0)
		rs->be->exec(rs, "ROLLBACK", "ending a snapshot");
	return r;
}

int refsource_snapshot_end(struct refsource *rs)
{
	return snapshot_finish(rs, "COMMIT");
}

int refsource_snapshot_rollback(struct refsource *rs)
{
	return snapshot_finish(rs, "ROLLBACK");
}

/* ---- owners ---- */

int refsource_owners_open(struct refsource *rs, struct refsource_owners **ret)
{
	_cleanup_(refsource_owners_freep) struct refsource_owners *it = NULL;
	int r;

	if (isempty(rs->src->owners))
		return refs_fail(rs, -EINVAL, "no owners query");
	it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->rs = rs;
	r = prepare_wrapped(rs, rs->src->owners, "owners query", 1, 3, "%K, *", "ORDER BY %K%O",
			    &it->st, &it->ncols);
	if (r >= 0)
		r = rs->be->run(it->st, NULL, 0);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(it);
	return 0;
}

int refsource_owners_next(struct refsource_owners *it, const struct refsource_owner **ret)
{
	const struct refs_backend *be = it->rs->be;
	struct refsource *rs = it->rs;
	struct refsource_owner *o = &it->row;

	for (;;) {
		int r = be->step(it->st);
		if (r <= 0)
			return r;
		/* column 0 is the key as text, then the query's own columns */
		o->key = be->column(it->st, 0, &o->key_len);
		if (!o->key) {
			rs->stats.owners_null++;
			continue;
		}
		r = keybuf_advance(&it->prev, o->key, o->key_len);
		if (r == -EDOM)
			return refs_fail(rs, -EINVAL, "owners query: keys are not in bytewise order "
						      "at '%s' (cast the key to TEXT)", o->key);
		if (r < 0)
			return r;
		o->path = it->ncols >= 2 ? be->column(it->st, 2, &o->path_len) : NULL;
		if (!o->path)
			o->path_len = 0;
		if (it->ncols < 3 || !be->column_int(it->st, 3, &o->created_s))
			o->created_s = -1;
		rs->stats.owners++;
		*ret = o;
		return 1;
	}
}

void refsource_owners_free(struct refsource_owners *it)
{
	if (!it)
		return;
	it->rs->be->finalize(it->st);
	free(it->prev.p);
	free(it);
}

/* ---- live references ---- */

size_t refs_token_limit = (size_t)1 << 20;

/* The live-text tokens being collected. A chat holds far more uuids
 * (messages, models) than file ids, so past refs_token_limit the set is
 * narrowed to the tokens that are owner keys, and from then on only those
 * are kept: memory stays bounded by the owners, not by the chat history. */
struct token_set {
	struct refsource *rs;
	struct refkeys *keys;
	struct refkeys *owners; /* set once narrowed: normalised owner keys */
};

/* Runs the owners query once: every owner key, normalised, into `owners`,
 * and those already among the tokens into `kept`. */
static int tokens_intersect(struct refsource *rs, const struct refkeys *tokens,
			    struct refkeys *owners, struct refkeys *kept)
{
	const struct refs_backend *be = rs->be;
	_cleanup_free_ char *sql = sql_trim(rs->src->owners);
	struct refs_stmt *st = NULL;
	char buf[512];
	int r;

	if (!sql)
		return -ENOMEM;
	r = be->prepare(rs, sql, "owners query", &st);
	if (r >= 0)
		r = be->run(st, NULL, 0);
	while (r >= 0 && (r = be->step(st)) > 0) {
		size_t len;
		const char *key = be->column(st, 0, &len);
		int n = key ? refscan_normalize(rs->scan, key, len, buf, sizeof(buf)) : -ENOBUFS;
		if (n < 0)
			continue;
		r = refkeys_add(owners, buf, (size_t)n);
		if (r >= 0 && refkeys_contains(tokens, buf, (size_t)n))
			r = refkeys_add(kept, buf, (size_t)n);
	}
	be->finalize(st);
	return r < 0 ? r : 0;
}

static int tokens_narrow(struct token_set *t)
{
	_cleanup_(refkeys_freep) struct refkeys *owners = NULL, *kept = NULL;
	int r = refkeys_new(&owners);
	if (r >= 0)
		r = refkeys_new(&kept);
	if (r >= 0)
		r = tokens_intersect(t->rs, t->keys, owners, kept);
	if (r < 0)
		return r;
	refkeys_free(t->keys);
	t->keys = TAKE_PTR(kept);
	t->owners = TAKE_PTR(owners);
	return 0;
}

static int add_token(const char *tok, size_t len, void *ud)
{
	struct token_set *t = ud;

	if (t->owners && !refkeys_contains(t->owners, tok, len))
		return 0;
	int r = refkeys_add(t->keys, tok, len);
	if (r < 0)
		return r;
	if (!t->owners && refkeys_size(t->keys) > refs_token_limit)
		return tokens_narrow(t);
	return 0;
}

static int scan_live_text(struct refsource *rs, unsigned index, struct token_set *into)
{
	const struct refs_backend *be = rs->be;
	_cleanup_free_ char *what = NULL;
	struct refs_stmt *st = NULL;
	int r;

	if (asprintf(&what, "live-text query #%u", index + 1) < 0)
		return -ENOMEM;
	r = be->prepare(rs, rs->src->live_text[index], what, &st);
	if (r >= 0)
		r = be->run(st, NULL, 0);
	while (r >= 0 && (r = be->step(st)) > 0) {
		for (int c = 0; c < be->ncols(st) && r >= 0; c++) {
			size_t len;
			const char *s = be->column(st, c, &len);
			if (s)
				r = refscan_text(rs->scan, s, len, add_token, into);
		}
		rs->stats.live_text_rows++;
	}
	be->finalize(st);
	return r;
}

static int load_tokens(struct refsource *rs, struct refkeys **ret)
{
	struct token_set t = {.rs = rs};
	int r = refkeys_new(&t.keys);

	for (unsigned i = 0; r >= 0 && rs->src->live_text && rs->src->live_text[i]; i++)
		r = scan_live_text(rs, i, &t);
	refkeys_free(t.owners);
	if (r < 0) {
		refkeys_free(t.keys);
		return r;
	}
	rs->stats.live_tokens = refkeys_size(t.keys);
	*ret = t.keys;
	return 0;
}

/* Moves a live cursor to its next distinct key. */
static int live_cursor_step(struct refsource *rs, struct live_cursor *c)
{
	for (;;) {
		int r = rs->be->step(c->st);
		if (r == 0)
			c->done = true;
		if (r <= 0)
			return r;
		size_t len;
		const char *key = rs->be->column(c->st, 0, &len);
		if (!key || (c->cur.set && key_cmp(key, len, c->cur.p, c->cur.len) == 0))
			continue;
		r = keybuf_advance(&c->cur, key, len);
		if (r == -EDOM)
			return refs_fail(rs, -EINVAL, "live query #%u: keys are not in bytewise order "
						      "at '%s' (cast the key to TEXT)", c->index + 1, key);
		if (r < 0)
			return r;
		rs->stats.live_rows++;
		return 1;
	}
}

static int live_cursor_open(struct refsource *rs, unsigned index, struct live_cursor *c)
{
	_cleanup_free_ char *what = NULL;
	int r;

	if (asprintf(&what, "live query #%u", index + 1) < 0)
		return -ENOMEM;
	c->index = index;
	r = prepare_wrapped(rs, rs->src->live[index], what, 1, 64, "%K",
			    "WHERE c1 IS NOT NULL ORDER BY %K%O", &c->st, NULL);
	if (r >= 0)
		r = rs->be->run(c->st, NULL, 0);
	if (r < 0)
		return r;
	return live_cursor_step(rs, c);
}

int refsource_live_open(struct refsource *rs, struct refsource_live **ret)
{
	_cleanup_(refsource_live_freep) struct refsource_live *l = calloc(1, sizeof(*l));
	size_t n = strv_length(rs->src->live);
	int r;

	if (!l)
		return -ENOMEM;
	l->rs = rs;
	l->cur = calloc(n + 1, sizeof(*l->cur));
	if (!l->cur)
		return -ENOMEM;
	r = load_tokens(rs, &l->tokens);
	if (r < 0)
		return r;
	for (; l->n < n; l->n++) {
		r = live_cursor_open(rs, (unsigned)l->n, &l->cur[l->n]);
		if (r < 0) {
			l->n++;
			return r;
		}
	}
	*ret = TAKE_PTR(l);
	return 0;
}

static int tokens_hold(const struct refsource *rs, const struct refkeys *tokens, const char *key,
		       size_t len)
{
	char buf[512];

	if (!tokens || refkeys_size(tokens) == 0)
		return 0;
	int n = refscan_normalize(rs->scan, key, len, buf, sizeof(buf));
	if (n < 0) /* longer than any token a text could hold for it */
		return 0;
	return refkeys_contains(tokens, buf, (size_t)n);
}

int refsource_live_check(struct refsource_live *l, const char *key, size_t key_len)
{
	struct refsource *rs = l->rs;
	bool live = false;
	int r;

	r = keybuf_advance(&l->last, key, key_len);
	if (r == -EDOM)
		return refs_fail(rs, -EINVAL, "live keys checked out of order at '%s'", key);
	if (r < 0)
		return r;
	for (size_t i = 0; i < l->n; i++) {
		struct live_cursor *c = &l->cur[i];
		while (!c->done && key_cmp(c->cur.p, c->cur.len, key, key_len) < 0)
			if ((r = live_cursor_step(rs, c)) < 0)
				return r;
		if (!c->done && key_cmp(c->cur.p, c->cur.len, key, key_len) == 0)
			live = true;
	}
	if (!live)
		live = tokens_hold(rs, l->tokens, key, key_len);
	if (live)
		rs->stats.owners_live++;
	return live;
}

void refsource_live_free(struct refsource_live *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		l->rs->be->finalize(l->cur[i].st);
		free(l->cur[i].cur.p);
	}
	free(l->cur);
	refkeys_free(l->tokens);
	free(l->last.p);
	free(l);
}

/* ---- random-order checks ---- */

static int probe(struct refsource *rs, struct refs_stmt *st, const char *key, size_t len)
{
	int r = rs->be->run(st, key, len);
	if (r >= 0)
		r = rs->be->step(st);
	rs->be->reset(st);
	return r;
}

static int prepare_live_probes(struct refsource *rs)
{
	size_t n = strv_length(rs->src->live);

	if (rs->live_probes)
		return 0;
	rs->live_probes = calloc(n + 1, sizeof(*rs->live_probes));
	if (!rs->live_probes)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *what = NULL;
		if (asprintf(&what, "live query #%zu", i + 1) < 0)
			return -ENOMEM;
		int r = prepare_wrapped(rs, rs->src->live[i], what, 1, 64, "1",
					"WHERE %K = %P LIMIT 1", &rs->live_probes[i], NULL);
		if (r < 0) {
			finalize_probes(rs);
			return r;
		}
	}
	return 0;
}

int refsource_is_live(struct refsource *rs, const char *key, size_t key_len)
{
	int r = prepare_live_probes(rs);
	if (r < 0)
		return r;
	for (size_t i = 0; rs->src->live && rs->src->live[i]; i++) {
		r = probe(rs, rs->live_probes[i], key, key_len);
		if (r != 0)
			return r;
	}
	if (!rs->tokens) {
		r = load_tokens(rs, &rs->tokens);
		if (r < 0)
			return r;
	}
	return tokens_hold(rs, rs->tokens, key, key_len);
}

int refsource_live_batch(struct refsource *rs, const char *const *keys, size_t n, bool *ret_live)
{
	for (size_t i = 0; i < n; i++) {
		int r = refsource_is_live(rs, keys[i], strlen(keys[i]));
		if (r < 0)
			return r;
		ret_live[i] = r > 0;
	}
	return 0;
}

int refsource_is_owner(struct refsource *rs, const char *key, size_t key_len)
{
	if (!rs->owner_probe) {
		if (isempty(rs->src->owners))
			return refs_fail(rs, -EINVAL, "no owners query");
		int r = prepare_wrapped(rs, rs->src->owners, "owners query", 1, 3, "1",
					"WHERE %K = %P LIMIT 1", &rs->owner_probe, NULL);
		if (r < 0)
			return r;
	}
	return probe(rs, rs->owner_probe, key, key_len);
}

int refsource_query_keys(struct refsource *rs, const char *sql, const char *what,
			 struct refkeys *into)
{
	const struct refs_backend *be = rs->be;
	struct refs_stmt *st = NULL;
	int r;

	r = be->prepare(rs, sql, what, &st);
	if (r >= 0)
		r = be->run(st, NULL, 0);
	while (r >= 0 && (r = be->step(st)) > 0) {
		size_t len;
		const char *key = be->column(st, 0, &len);
		if (key && (r = refkeys_add(into, key, len)) < 0)
			break;
	}
	be->finalize(st);
	return r < 0 ? r : 0;
}

/* ---- removal (the reaper's) ---- */

static int remove_all(struct refsource *rs, struct refs_stmt **st, size_t m,
		      const char *const *keys, size_t n)
{
	int deleted = 0;
	for (size_t k = 0; k < n; k++)
		for (size_t i = 0; i < m; i++) {
			int r = rs->be->run(st[i], keys[k], strlen(keys[k]));
			if (r >= 0)
				while ((r = rs->be->step(st[i])) > 0)
					;
			int64_t changed = rs->be->changes(st[i]);
			rs->be->reset(st[i]);
			if (r < 0)
				return r;
			if (i == m - 1)
				deleted += (int)changed;
		}
	return deleted;
}

static int prepare_removes(struct refsource *rs, struct refs_stmt **st, size_t m)
{
	for (size_t i = 0; i < m; i++) {
		char what[64];
		snprintf(what, sizeof(what), "remove statement #%zu", i + 1);
		int r = rs->be->prepare(rs, rs->src->remove[i], what, &st[i]);
		if (r < 0)
			return r;
		if (rs->be->nparams(st[i]) != 1)
			return refs_fail(rs, -EINVAL, "%s: needs exactly one parameter, :key", what);
	}
	return 0;
}

int refsource_remove(struct refsource *rs, const char *const *keys, size_t n)
{
	size_t m = strv_length(rs->src->remove);
	bool own = !rs->in_snapshot;
	int r;

	if (!(rs->flags & REFSOURCE_READWRITE))
		return refs_fail(rs, -EROFS, "opened read-only, cannot remove rows");
	if (m == 0)
		return refs_fail(rs, -EINVAL, "no remove statements configured");
	_cleanup_free_ struct refs_stmt **st = calloc(m, sizeof(*st));
	if (!st)
		return -ENOMEM;
	r = prepare_removes(rs, st, m);
	if (r >= 0 && own) {
		r = rs->be->exec(rs, rs->be->begin_write, "beginning removal");
		own = r >= 0;
	}
	if (r >= 0)
		r = remove_all(rs, st, m, keys, n);
	for (size_t i = 0; i < m; i++)
		rs->be->finalize(st[i]);
	if (own) {
		int k = rs->be->exec(rs, r >= 0 ? "COMMIT" : "ROLLBACK", "ending removal");
		if (k < 0 && r >= 0) {
			r = k;
			rs->be->exec(rs, "ROLLBACK", "ending removal");
		}
	}
	return r;
}
