/* The file rows of the catalog: upsert and lookup by byte path, gone and
 * rename over whole subtrees (a subtree D is the BLOB range [D/, D0)), the
 * per-directory queries the scanner uses, cursors in path, key and hash
 * order, and per-root statistics. */
#include <string.h>

#include "catalog/catalog-db.h"
#include "catalog/catalog-internal.h"

struct catalog_cursor {
	struct catalog *c;
	sqlite3_stmt *stmt;
	/* Read after stmt: the keyed half of a key-ordered cursor whose
	 * first half (stmt) holds the rows without a key. */
	sqlite3_stmt *next_stmt;
	struct catalog_file f;
	/* Each root's last complete scan, for see_scanned(). */
	int64_t *root_ids, *scanned_ns;
	size_t n_roots;
};

/* ---- files ---- */

static size_t dir_len_of(const char *path, size_t len)
{
	const char *slash = memrchr(path, '/', len);
	return slash ? (size_t)(slash - path) : 0;
}

static void fill_file(sqlite3_stmt *s, struct catalog_file *f)
{
	*f = (struct catalog_file){
		.id = sqlite3_column_int64(s, 0),
		.root_id = sqlite3_column_int64(s, 1),
		.path = sqlite3_column_blob(s, 2),
		.path_len = (size_t)sqlite3_column_bytes(s, 2),
		.key = (const char *)sqlite3_column_text(s, 3),
		.size = sqlite3_column_int64(s, 4),
		.mtime_ns = sqlite3_column_int64(s, 5),
		.ctime_ns = sqlite3_column_int64(s, 6),
		.ino = (uint64_t)sqlite3_column_int64(s, 7),
		.dev = (uint64_t)sqlite3_column_int64(s, 8),
		.mode = (uint32_t)sqlite3_column_int64(s, 9),
		.first_seen_ns = sqlite3_column_int64(s, 11),
		.last_seen_ns = sqlite3_column_int64(s, 12),
		.state = (enum catalog_state)sqlite3_column_int(s, 13),
		.flags = (unsigned)sqlite3_column_int(s, 14),
		.error = sqlite3_column_int(s, 15),
	};
	if (!f->path)
		f->path = "";
	if (sqlite3_column_bytes(s, 10) == CATALOG_HASH_SIZE) {
		f->hashed = true;
		memcpy(f->hash.b, sqlite3_column_blob(s, 10), CATALOG_HASH_SIZE);
	}
}

/* A present row was seen by the last complete scan of its root: an
 * unchanged file is not rewritten by a rescan, so its own last_seen_ns
 * lags behind. */
static void see_scanned(struct catalog_file *f, int64_t scanned_ns)
{
	if (f->state == CATALOG_PRESENT && scanned_ns > f->last_seen_ns)
		f->last_seen_ns = scanned_ns;
}

static int root_scanned_ns(struct catalog *c, int64_t root_id, int64_t *ret)
{
	sqlite3_stmt *s;
	int r, rc;

	r = cdb_cached(c, ST_ROOT_SCANNED, &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, root_id);
	rc = sqlite3_step(s);
	*ret = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : cdb_sqlerr(c, rc);
}

int catalog_file_upsert(struct catalog *c, const struct catalog_file *f)
{
	sqlite3_stmt *s;
	int64_t now = now_ns();
	int r;

	if (memchr(f->path, '\0', f->path_len))
		return cdb_seterr(c, -EINVAL, "path contains a NUL byte");
	r = cdb_cached(c, ST_UPSERT, &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, f->root_id);
	/* Static: the statement is stepped and reset before this returns, so
	 * SQLite need not copy the path twice per row. */
	sqlite3_bind_blob64(s, 2, f->path_len ? f->path : "", f->path_len, SQLITE_STATIC);
	sqlite3_bind_blob64(s, 3, f->path_len ? f->path : "", dir_len_of(f->path, f->path_len),
			    SQLITE_STATIC);
	if (f->key)
		sqlite3_bind_text(s, 4, f->key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, f->size);
	sqlite3_bind_int64(s, 6, f->mtime_ns);
	sqlite3_bind_int64(s, 7, f->ctime_ns);
	sqlite3_bind_int64(s, 8, (int64_t)f->ino);
	sqlite3_bind_int64(s, 9, (int64_t)f->dev);
	sqlite3_bind_int64(s, 10, f->mode);
	if (f->hashed)
		sqlite3_bind_blob(s, 11, f->hash.b, CATALOG_HASH_SIZE, SQLITE_STATIC);
	sqlite3_bind_int64(s, 12, f->first_seen_ns ?: (f->last_seen_ns ?: now));
	sqlite3_bind_int64(s, 13, f->last_seen_ns ?: now);
	if (f->state == CATALOG_GONE)
		sqlite3_bind_int64(s, 14, now);
	sqlite3_bind_int(s, 15, f->state);
	sqlite3_bind_int(s, 16, (int)f->flags);
	sqlite3_bind_int(s, 17, f->error);
	r = cdb_step_done(c, s);
	return r < 0 ? r : 0;
}

static int copy_out(const struct catalog_file *f, struct catalog_file *ret, char *buf,
		    size_t bufsz)
{
	size_t key_len = f->key ? strlen(f->key) + 1 : 0;

	if (f->path_len + 1 + key_len > bufsz)
		return -ENOBUFS;
	*ret = *f;
	memcpy(buf, f->path, f->path_len);
	buf[f->path_len] = '\0';
	ret->path = buf;
	if (f->key) {
		memcpy(buf + f->path_len + 1, f->key, key_len);
		ret->key = buf + f->path_len + 1;
	}
	return 0;
}

int catalog_file_get(struct catalog *c, int64_t root_id, const char *path, size_t path_len,
		     struct catalog_file *ret, char *buf, size_t bufsz)
{
	struct catalog_file f;
	sqlite3_stmt *s;
	int r, rc;

	r = cdb_cached(c, ST_GET, &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, root_id);
	cdb_bind_bytes(s, 2, path, path_len);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		r = -ENOENT;
	else if (rc != SQLITE_ROW)
		r = cdb_sqlerr(c, rc);
	else {
		fill_file(s, &f);
		r = copy_out(&f, ret, buf, bufsz);
	}
	sqlite3_reset(s);
	int64_t scanned;
	if (r >= 0 && (r = root_scanned_ns(c, root_id, &scanned)) >= 0)
		see_scanned(ret, scanned);
	return r;
}

int catalog_file_set_key(struct catalog *c, int64_t id, const char *key)
{
	sqlite3_stmt *s;
	int r;

	r = cdb_cached(c, ST_SET_KEY, &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, id);
	if (key)
		sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
	r = cdb_step_done(c, s);
	return r < 0 ? r : 0;
}

/* The bounds of everything below directory `p`: [p + "/", p + "0"),
 * since '0' is the byte after '/'. Returns -ENOMEM or 0. */
static int subtree_bounds(const char *p, size_t n, char **ret_lo, char **ret_hi)
{
	char *lo = malloc(n + 2), *hi = malloc(n + 2);

	if (!lo || !hi) {
		free(lo);
		free(hi);
		return -ENOMEM;
	}
	memcpy(lo, p, n);
	memcpy(hi, p, n);
	lo[n] = '/';
	hi[n] = '0';
	*ret_lo = lo;
	*ret_hi = hi;
	return 0;
}

int catalog_file_gone(struct catalog *c, int64_t root_id, const char *path, size_t path_len,
		      bool recursive, int64_t now)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	_cleanup_free_ char *lo = NULL, *hi = NULL;
	int r;

	if (recursive && path_len == 0)
		r = cdb_prepare(c, "UPDATE files SET state = 1, gone_ns = ?2"
			       " WHERE root_id = ?1 AND state <> 1", &s);
	else if (recursive)
		r = cdb_prepare(c, "UPDATE files SET state = 1, gone_ns = ?2 WHERE root_id = ?1"
			       " AND state <> 1 AND (path = ?3 OR (path >= ?4 AND path < ?5))", &s);
	else
		r = cdb_prepare(c, "UPDATE files SET state = 1, gone_ns = ?2"
			       " WHERE root_id = ?1 AND state <> 1 AND path = ?3", &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, root_id);
	sqlite3_bind_int64(s, 2, now);
	if (recursive && path_len == 0)
		return cdb_step_done(c, s);
	cdb_bind_bytes(s, 3, path, path_len);
	if (recursive) {
		r = subtree_bounds(path, path_len, &lo, &hi);
		if (r < 0)
			return r;
		cdb_bind_bytes(s, 4, lo, path_len + 1);
		cdb_bind_bytes(s, 5, hi, path_len + 1);
	}
	return cdb_step_done(c, s);
}

/* Drops the rows a rename lands on: the target path, and with `recursive`
 * everything below it, as rename(2) replaces what was there. */
static int rename_clear_target(struct catalog *c, int64_t root_id, const char *to, size_t to_len,
			       bool recursive)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	_cleanup_free_ char *lo = NULL, *hi = NULL;
	int r;

	r = subtree_bounds(to, to_len, &lo, &hi);
	if (r < 0)
		return r;
	r = cdb_prepare(c, "DELETE FROM files WHERE root_id = ?1 AND (path = ?2"
		       " OR (?3 AND path >= ?4 AND path < ?5))", &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, root_id);
	cdb_bind_bytes(s, 2, to, to_len);
	sqlite3_bind_int(s, 3, recursive);
	cdb_bind_bytes(s, 4, lo, to_len + 1);
	cdb_bind_bytes(s, 5, hi, to_len + 1);
	return cdb_step_done(c, s);
}

static int rename_exact(struct catalog *c, int64_t root_id, const char *from, size_t from_len,
			const char *to, size_t to_len)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	int r;

	r = cdb_prepare(c, "UPDATE files SET path = ?3, dir = ?4 WHERE root_id = ?1 AND path = ?2", &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, root_id);
	cdb_bind_bytes(s, 2, from, from_len);
	cdb_bind_bytes(s, 3, to, to_len);
	cdb_bind_bytes(s, 4, to, dir_len_of(to, to_len));
	return cdb_step_done(c, s);
}

/* Rewrites the prefix of every row below `from`. The concatenation is
 * cast back to BLOB so that paths keep comparing bytewise. */
static int rename_below(struct catalog *c, int64_t root_id, const char *from, size_t from_len,
			const char *to, size_t to_len)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	_cleanup_free_ char *lo = NULL, *hi = NULL;
	int r;

	r = subtree_bounds(from, from_len, &lo, &hi);
	if (r < 0)
		return r;
	r = cdb_prepare(c, "UPDATE files SET path = CAST(?2 || substr(path, ?3) AS BLOB),"
		       " dir = CAST(?2 || substr(dir, ?3) AS BLOB)"
		       " WHERE root_id = ?1 AND path >= ?4 AND path < ?5", &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, root_id);
	cdb_bind_bytes(s, 2, to, to_len);
	sqlite3_bind_int64(s, 3, (int64_t)from_len + 1);
	cdb_bind_bytes(s, 4, lo, from_len + 1);
	cdb_bind_bytes(s, 5, hi, from_len + 1);
	return cdb_step_done(c, s);
}

int catalog_file_rename(struct catalog *c, int64_t root_id, const char *from, size_t from_len,
			const char *to, size_t to_len, bool recursive)
{
	int r, n;

	if (from_len == 0 || to_len == 0)
		return cdb_seterr(c, -EINVAL, "cannot rename the root itself");
	if (from_len == to_len && memcmp(from, to, to_len) == 0)
		return 0;
	if (recursive && to_len > from_len && memcmp(to, from, from_len) == 0 &&
	    to[from_len] == '/')
		return cdb_seterr(c, -EINVAL, "cannot move a directory below itself");
	r = rename_clear_target(c, root_id, to, to_len, recursive);
	if (r < 0)
		return r;
	n = rename_exact(c, root_id, from, from_len, to, to_len);
	if (n < 0 || !recursive)
		return n;
	r = rename_below(c, root_id, from, from_len, to, to_len);
	return r < 0 ? r : n + r;
}

int catalog_forget_gone(struct catalog *c, int64_t before_ns)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	int r;

	r = cdb_prepare(c, "DELETE FROM files WHERE state = 1 AND gone_ns < ?1", &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, before_ns);
	return cdb_step_done(c, s);
}

/* ---- directories (for the scanner) ---- */

int catalog_dir_load(struct catalog *c, int64_t root_id, const char *dir, size_t dir_len,
		     int (*cb)(const struct catalog_file *f, void *ud), void *ud)
{
	struct catalog_file f;
	sqlite3_stmt *s;
	int r, rc;

	r = cdb_cached(c, ST_DIR_LOAD, &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, root_id);
	cdb_bind_bytes(s, 2, dir, dir_len);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		fill_file(s, &f);
		r = cb(&f, ud);
		if (r < 0) {
			sqlite3_reset(s);
			return r;
		}
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : cdb_sqlerr(c, rc);
}

/* The smallest dir in [lo, hi) of the root's rows that are not gone.
 * Returns 1 and copies it into *buf (grown as needed), 0 if none. */
static int dir_seek(struct catalog *c, int64_t root_id, const char *lo, size_t lo_len,
		    const char *hi, size_t hi_len, char **buf, size_t *len)
{
	sqlite3_stmt *s;
	int r, rc;

	r = cdb_cached(c, ST_DIR_SEEK, &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, root_id);
	cdb_bind_bytes(s, 2, lo, lo_len);
	cdb_bind_bytes(s, 3, hi, hi_len);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(s, 0);
		char *p = realloc(*buf, n + 2);
		if (!p) {
			sqlite3_reset(s);
			return -ENOMEM;
		}
		memcpy(p, sqlite3_column_blob(s, 0) ?: "", n);
		*buf = p;
		*len = n;
		r = 1;
	} else
		r = rc == SQLITE_DONE ? 0 : cdb_sqlerr(c, rc);
	sqlite3_reset(s);
	return r;
}

/* A skip scan over the dir index: each child directory costs one or two
 * index seeks, however many rows lie below it. Invariant: every dir below
 * `lo` has been accounted for. The smallest dir e >= lo names child C;
 * C's subtree [C/, C0) is skipped, except that when e is C itself, names
 * sorting between C and "C/" (C followed by a byte below '/') come first.
 * That order can report C a second time after such names; callers
 * de-duplicate. */
int catalog_dir_children(struct catalog *c, int64_t root_id, const char *dir, size_t dir_len,
			 int (*cb)(const char *name, size_t len, void *ud), void *ud)
{
	/* Above every path (PATH_MAX bytes) that can be stored. */
	static const char top[4097] = {[0 ... 4096] = (char)0xff};
	_cleanup_free_ char *lo = NULL, *hi = NULL, *e = NULL, *probe = NULL;
	size_t plen = dir_len ? dir_len + 1 : 0, lo_len, elen = 0, plen2 = 0;
	int r;

	r = subtree_bounds(dir, dir_len, &lo, &hi);
	if (r < 0)
		return r;
	/* Children of the top level: everything but "" itself, i.e. >= "\0". */
	lo_len = dir_len ? plen : 1;
	if (!dir_len)
		lo[0] = '\0';
	for (;;) {
		r = dir_seek(c, root_id, lo, lo_len, dir_len ? hi : top, dir_len ? plen : sizeof(top),
			     &e, &elen);
		if (r <= 0)
			return r;
		const char *name = e + plen, *slash = memchr(name, '/', elen - plen);
		size_t clen = slash ? (size_t)(slash - e) : elen;
		r = cb(name, clen - plen, ud);
		if (r < 0)
			return r;
		char *nlo = realloc(lo, elen + 2);
		if (!nlo)
			return -ENOMEM;
		lo = nlo;
		memcpy(lo, e, elen);
		if (clen == elen) {
			/* e is C: probe (C, "C/") with lo = C + "\0", hi = C + "/". */
			lo[elen] = '\0';
			memcpy(e + elen, "/", 1);
			r = dir_seek(c, root_id, lo, elen + 1, e, elen + 1, &probe, &plen2);
			if (r < 0)
				return r;
			if (r > 0) {
				nlo = realloc(lo, plen2 + 1);
				if (!nlo)
					return -ENOMEM;
				lo = nlo;
				memcpy(lo, probe, plen2);
				lo_len = plen2;
				continue;
			}
		}
		lo[clen] = '0';
		lo_len = clen + 1;
	}
}

/* ---- cursors and statistics ---- */

static const char *order_sql(enum catalog_order o)
{
	switch (o) {
	case CATALOG_ORDER_KEY:
		return " ORDER BY f.root_id, f.key, f.path";
	case CATALOG_ORDER_HASH:
		return " ORDER BY f.hash, f.root_id, f.path";
	default:
		return " ORDER BY f.root_id, f.path";
	}
}

/* Which rows of a key-ordered query a statement reads. files_key holds
 * keyed rows only (a partial index), so a query that wants the rows
 * without a key too is run as two: those first (NULL sorts first), in
 * path order, then the keyed ones from the index. */
enum key_part { KEY_ALL, KEY_NULL, KEY_SET };

/* The statement is assembled from fixed fragments only; every value is
 * a bound parameter. The WHERE terms repeat those of the partial indexes
 * (files_hash, files_key, files_changed) so that the planner can use them. */
static void cursor_sql(const struct catalog_query *q, enum key_part part, char *buf, size_t n)
{
	snprintf(buf, n, "SELECT " FILE_COLUMNS " FROM files f WHERE 1%s%s%s%s%s%s",
		 q->root_id ? " AND f.root_id = :root" : "", q->state >= 0 ? " AND f.state = :state" : "",
		 q->changed_only ? " AND (f.flags & 1) <> 0" : "",
		 q->keyed_only || part == KEY_SET ? " AND f.key IS NOT NULL"
		 : part == KEY_NULL		  ? " AND f.key IS NULL"
						  : "",
		 !q->duplicates_only ? ""
		 : q->root_id ? " AND f.state = 0 AND f.hash IS NOT NULL AND f.hash IN (SELECT hash FROM files"
				" WHERE state = 0 AND hash IS NOT NULL AND root_id = :root"
				" GROUP BY hash HAVING count(*) > 1)"
			      : " AND f.state = 0 AND f.hash IS NOT NULL AND f.hash IN (SELECT hash FROM files"
				" WHERE state = 0 AND hash IS NOT NULL GROUP BY hash HAVING count(*) > 1)",
		 part == KEY_NULL ? order_sql(CATALOG_ORDER_PATH) : order_sql(q->order));
}

static int cursor_prepare(struct catalog *c, const struct catalog_query *q, enum key_part part,
			  sqlite3_stmt **ret)
{
	char sql[2048];
	int r, i;

	cursor_sql(q, part, sql, sizeof(sql));
	r = cdb_prepare(c, sql, ret);
	if (r < 0)
		return r;
	i = sqlite3_bind_parameter_index(*ret, ":root");
	if (i > 0)
		sqlite3_bind_int64(*ret, i, q->root_id);
	i = sqlite3_bind_parameter_index(*ret, ":state");
	if (i > 0)
		sqlite3_bind_int(*ret, i, q->state);
	return 0;
}

static int load_scanned(struct catalog_cursor *cur)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	int r, rc;

	r = cdb_prepare(cur->c, "SELECT id, scanned_ns FROM roots", &s);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		size_t n = cur->n_roots + 1;
		int64_t *ids = realloc(cur->root_ids, n * sizeof(int64_t));
		if (ids)
			cur->root_ids = ids;
		int64_t *ns = realloc(cur->scanned_ns, n * sizeof(int64_t));
		if (ns)
			cur->scanned_ns = ns;
		if (!ids || !ns)
			return -ENOMEM;
		cur->root_ids[cur->n_roots] = sqlite3_column_int64(s, 0);
		cur->scanned_ns[cur->n_roots++] = sqlite3_column_int64(s, 1);
	}
	return rc == SQLITE_DONE ? 0 : cdb_sqlerr(cur->c, rc);
}

int catalog_cursor_open(struct catalog *c, const struct catalog_query *q,
			struct catalog_cursor **ret)
{
	/* Split only within one root: across roots, NULL keys would have to
	 * come between one root's keyed rows and the next root's. */
	bool split = q->order == CATALOG_ORDER_KEY && !q->keyed_only && q->root_id;
	_cleanup_finalize_ sqlite3_stmt *s = NULL, *s2 = NULL;
	int r;

	r = cursor_prepare(c, q, split ? KEY_NULL : KEY_ALL, &s);
	if (r >= 0 && split)
		r = cursor_prepare(c, q, KEY_SET, &s2);
	if (r < 0)
		return r;
	struct catalog_cursor *cur = calloc(1, sizeof(*cur));
	if (!cur)
		return -ENOMEM;
	cur->c = c;
	cur->stmt = TAKE_PTR(s);
	cur->next_stmt = TAKE_PTR(s2);
	r = load_scanned(cur);
	if (r < 0) {
		catalog_cursor_free(cur);
		return r;
	}
	*ret = cur;
	return 0;
}

int catalog_cursor_next(struct catalog_cursor *cur, const struct catalog_file **ret)
{
	int rc = sqlite3_step(cur->stmt);

	if (rc == SQLITE_DONE && cur->next_stmt) {
		sqlite3_finalize(cur->stmt);
		cur->stmt = TAKE_PTR(cur->next_stmt);
		rc = sqlite3_step(cur->stmt);
	}
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return cdb_sqlerr(cur->c, rc);
	fill_file(cur->stmt, &cur->f);
	for (size_t i = 0; i < cur->n_roots; i++)
		if (cur->root_ids[i] == cur->f.root_id)
			see_scanned(&cur->f, cur->scanned_ns[i]);
	*ret = &cur->f;
	return 1;
}

void catalog_cursor_free(struct catalog_cursor *cur)
{
	if (!cur)
		return;
	sqlite3_finalize(cur->stmt);
	sqlite3_finalize(cur->next_stmt);
	free(cur->root_ids);
	free(cur->scanned_ns);
	free(cur);
}

int catalog_root_stats(struct catalog *c, int64_t root_id, struct catalog_root_stats *ret)
{
	_cleanup_finalize_ sqlite3_stmt *s = NULL;
	int r, rc;

	r = cdb_prepare(c, "SELECT count(*) FILTER (WHERE state <> 1),"
		       " coalesce(sum(size) FILTER (WHERE state <> 1), 0),"
		       " count(*) FILTER (WHERE state = 0 AND hash IS NOT NULL),"
		       " count(*) FILTER (WHERE state = 1),"
		       " count(*) FILTER (WHERE state = 2),"
		       " count(*) FILTER (WHERE state <> 1 AND (flags & 1) <> 0)"
		       " FROM files WHERE root_id = ?1", &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, root_id);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW)
		return cdb_sqlerr(c, rc);
	*ret = (struct catalog_root_stats){
		.root_id = root_id,
		.files = (uint64_t)sqlite3_column_int64(s, 0),
		.bytes = (uint64_t)sqlite3_column_int64(s, 1),
		.hashed = (uint64_t)sqlite3_column_int64(s, 2),
		.gone = (uint64_t)sqlite3_column_int64(s, 3),
		.unreadable = (uint64_t)sqlite3_column_int64(s, 4),
		.changed = (uint64_t)sqlite3_column_int64(s, 5),
	};
	return 0;
}
