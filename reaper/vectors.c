/* Chroma, read strictly read-only: which collections exist and which of
 * them belong to no live row, which index directories in vector_db/ belong
 * to no segment, and which embeddings rows belong to no segment. Table
 * and column names are those of chromadb 1.5.9's migrations
 * (tests/fixtures/chroma-1.5.9): collections(id, name), segments(id,
 * scope, collection), embeddings(id, segment_id, ...). The whole audit is
 * read inside one read transaction, so it sees one consistent snapshot
 * even while Chroma writes (WAL or rollback journal alike).
 *
 * Fail closed: findings are gathered first and handed to the caller only
 * when every query and every liveness answer succeeded; on any error the
 * caller gets the error and no finding at all. */
#include "reaper/vectors.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "common/util.h"

#define STORE_FILE "chroma.sqlite3"
#define BUSY_TIMEOUT_MS 5000
#define MAX_DIR_DEPTH 8

struct vectors {
	char *dir;        /* the vector_db directory */
	int dirfd;
	sqlite3 *db;
	char **patterns;  /* copies of the config's collection patterns */
	size_t n_patterns;
	char errmsg[512];
};

struct finding_list {
	struct vector_finding *f;
	size_t n, cap;
};

static int set_error(struct vectors *vs, int r, const char *fmt, ...) _printf_(3, 4);
static int set_error(struct vectors *vs, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vs->errmsg, sizeof(vs->errmsg), fmt, ap);
	va_end(ap);
	return r;
}

static int errno_from_sqlite(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_PERM:
	case SQLITE_AUTH:
	case SQLITE_READONLY:
		return -EACCES;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EBADMSG;
	case SQLITE_ERROR:
		return -EPROTO; /* no such table or column: not a Chroma store we know */
	default:
		return -EIO;
	}
}

static int sql_error(struct vectors *vs, int rc, const char *what)
{
	return set_error(vs, errno_from_sqlite(rc) ?: -EIO, "%s/" STORE_FILE ": %s: %s", vs->dir,
			 what, sqlite3_errmsg(vs->db));
}

bool vectors_is_uuid(const char *s)
{
	for (size_t i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	}
	return s[36] == 0;
}

int vectors_pattern_match(const char *pattern, const char *name, char *buf, size_t bufsz)
{
	const char *brace = strstr(pattern, "{}");
	size_t pre, post, len = strlen(name), keylen;

	if (!brace) {
		keylen = len;
		if (!streq(pattern, name))
			return 0;
		name = pattern;
	} else if (brace == pattern && !brace[2]) {
		/* The bare "{}" would match every name: only uuid-shaped names
		 * (Open WebUI's knowledge ids) are taken as keys. */
		if (!vectors_is_uuid(name))
			return 0;
		keylen = len;
	} else {
		pre = brace - pattern;
		post = strlen(brace + 2);
		if (len <= pre + post || strncmp(name, pattern, pre) != 0 ||
		    strcmp(name + len - post, brace + 2) != 0)
			return 0;
		keylen = len - pre - post;
		name += pre;
	}
	if (keylen >= bufsz)
		return -ENOBUFS;
	memcpy(buf, name, keylen);
	buf[keylen] = 0;
	return 1;
}

static int check_patterns(const struct config_vectors *v)
{
	for (size_t i = 0; i < v->n_collections; i++) {
		const char *p = v->collections[i].pattern, *b;
		if (isempty(p))
			return -EINVAL;
		b = strstr(p, "{}");
		if (b && strstr(b + 2, "{}"))
			return -EINVAL;
	}
	return 0;
}

/* A WAL store with no -wal file is closed by everyone (SQLite removes the
 * -wal on the last close). Opening it, even read-only, would create -wal
 * and -shm files beside it: files the application did not make, and a
 * failure when we may read the store but not write its directory. Such a
 * store is read as immutable instead: nothing else is writing it. */
static bool closed_wal_store(struct vectors *vs)
{
	_cleanup_close_ int fd = openat(vs->dirfd, STORE_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	uint8_t header[20];
	struct stat st;

	if (fd < 0 || pread(fd, header, sizeof(header), 0) != (ssize_t)sizeof(header))
		return false;
	if (header[18] != 2 || header[19] != 2) /* file format versions 2: WAL */
		return false;
	return fstatat(vs->dirfd, STORE_FILE "-wal", &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT;
}

/* "file:" URI with the path percent-encoded, so a '?' or '#' in a
 * directory name cannot turn into URI syntax. */
static int store_uri(const char *dir, bool immutable, char **ret)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = strlen(dir);
	char *uri = malloc(5 + 3 * (len + 1 + strlen(STORE_FILE)) + 16), *o = uri;
	_cleanup_free_ char *path = NULL;

	if (!uri || asprintf(&path, "%s/%s", dir, STORE_FILE) < 0) {
		free(uri);
		return -ENOMEM;
	}
	o = stpcpy(o, "file:");
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if (isalnum(*p) || strchr("/-._~", *p)) {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	strcpy(o, immutable ? "?mode=ro&immutable=1" : "?mode=ro");
	*ret = uri;
	return 0;
}

void vectors_free(struct vectors *vs)
{
	if (!vs)
		return;
	sqlite3_close_v2(vs->db);
	if (vs->dirfd >= 0)
		close(vs->dirfd);
	strv_free(vs->patterns);
	free(vs->dir);
	free(vs);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct vectors *, vectors_free);

const char *vectors_errmsg(const struct vectors *vs)
{
	return vs && vs->errmsg[0] ? vs->errmsg : "no error";
}

static int open_store(struct vectors *vs)
{
	_cleanup_free_ char *uri = NULL;
	sqlite3_stmt *st = NULL;
	struct stat s;
	int rc, r;

	if (fstatat(vs->dirfd, STORE_FILE, &s, AT_SYMLINK_NOFOLLOW) < 0)
		return negative_errno();
	if (!S_ISREG(s.st_mode))
		return -EBADMSG;
	r = store_uri(vs->dir, closed_wal_store(vs), &uri);
	if (r < 0)
		return r;
	rc = sqlite3_open_v2(uri, &vs->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
	if (rc != SQLITE_OK)
		return errno_from_sqlite(rc) ?: -EIO;
	sqlite3_busy_timeout(vs->db, BUSY_TIMEOUT_MS);
	/* Prepared only, never run: proves the tables and columns exist. */
	rc = sqlite3_prepare_v2(vs->db,
				"SELECT c.id, c.name, s.id, s.scope, s.collection, e.segment_id "
				"FROM collections c, segments s, embeddings e LIMIT 0",
				-1, &st, NULL);
	sqlite3_finalize(st);
	return rc == SQLITE_OK ? 0 : errno_from_sqlite(rc) ?: -EIO;
}

int vectors_open(const struct config_vectors *v, struct vectors **ret)
{
	_cleanup_(vectors_freep) struct vectors *vs = NULL;
	int r;

	if (!v || isempty(v->path))
		return -EINVAL;
	if (v->type && !streq(v->type, "chroma"))
		return -EOPNOTSUPP;
	r = check_patterns(v);
	if (r < 0)
		return r;
	vs = calloc(1, sizeof(*vs));
	if (!vs)
		return -ENOMEM;
	vs->dirfd = -1;
	vs->dir = strdup(v->path);
	if (!vs->dir)
		return -ENOMEM;
	for (size_t i = 0; i < v->n_collections; i++)
		if (strv_extend(&vs->patterns, v->collections[i].pattern) < 0)
			return -ENOMEM;
	vs->n_patterns = v->n_collections;
	vs->dirfd = open(v->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (vs->dirfd < 0)
		return negative_errno();
	r = open_store(vs);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(vs);
	return 0;
}

/* Apparent size of a directory tree, without following symlinks or
 * leaving the tree; what removing it would free. */
static int tree_bytes(int dfd, int depth, uint64_t *bytes)
{
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (depth > MAX_DIR_DEPTH)
		return -ELOOP;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return negative_errno();
	}
	while (r >= 0 && (errno = 0, de = readdir(d))) {
		struct stat st;
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = errno == ENOENT ? 0 : negative_errno();
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			int fd = openat(dirfd(d), de->d_name,
					O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			r = fd < 0 ? (errno == ENOENT ? 0 : negative_errno()) : tree_bytes(fd, depth + 1, bytes);
		} else {
			*bytes += (uint64_t)st.st_size;
		}
	}
	if (r >= 0 && errno)
		r = negative_errno();
	closedir(d);
	return r;
}

/* Size of vector_db/<name>/; 0 and false when it is not a directory. */
static int dir_bytes(struct vectors *vs, const char *name, bool *ret_exists, uint64_t *ret_bytes)
{
	int fd = openat(vs->dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	uint64_t bytes = 0;
	int r;

	if (fd < 0) {
		if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
			return set_error(vs, negative_errno(), "%s/%s: %m", vs->dir, name);
		*ret_exists = false;
		*ret_bytes = 0;
		return 0;
	}
	r = tree_bytes(fd, 0, &bytes);
	if (r < 0)
		return set_error(vs, r, "%s/%s: cannot measure: %s", vs->dir, name, strerror(-r));
	*ret_exists = true;
	*ret_bytes = bytes;
	return 0;
}

static void findings_done(struct finding_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free((char *)l->f[i].collection);
		free((char *)l->f[i].id);
		free((char *)l->f[i].key);
	}
	free(l->f);
	*l = (struct finding_list){0};
}

static int findings_add(struct finding_list *l, enum vector_finding_kind kind,
			const char *collection, const char *id, const char *key)
{
	struct vector_finding *f;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		f = realloc(l->f, cap * sizeof(*f));
		if (!f)
			return -ENOMEM;
		l->f = f;
		l->cap = cap;
	}
	f = &l->f[l->n];
	*f = (struct vector_finding){.kind = kind};
	if ((collection && !(f->collection = strdup(collection))) || (id && !(f->id = strdup(id))) ||
	    (key && !(f->key = strdup(key)))) {
		free((char *)f->collection);
		free((char *)f->id);
		return -ENOMEM;
	}
	l->n++;
	return 0;
}

static int prepare(struct vectors *vs, const char *sql, sqlite3_stmt **ret)
{
	int rc = sqlite3_prepare_v2(vs->db, sql, -1, ret, NULL);

	return rc == SQLITE_OK ? 0 : sql_error(vs, rc, "prepare");
}

/* Embeddings and index bytes of one collection, over all its segments. */
static int collection_usage(struct vectors *vs, struct vector_finding *f)
{
	sqlite3_stmt *st = NULL;
	int rc = SQLITE_DONE, r;

	r = prepare(vs, "SELECT s.id, s.scope, (SELECT count(*) FROM embeddings e WHERE e.segment_id = s.id) "
			"FROM segments s WHERE s.collection = ?1 ORDER BY s.id", &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, f->id, -1, SQLITE_STATIC);
	while (r >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *seg = (const char *)sqlite3_column_text(st, 0);
		const char *scope = (const char *)sqlite3_column_text(st, 1);
		uint64_t bytes = 0;
		bool exists;

		f->embeddings += (uint64_t)sqlite3_column_int64(st, 2);
		if (seg && streq_ptr(scope, "VECTOR") && vectors_is_uuid(seg)) {
			r = dir_bytes(vs, seg, &exists, &bytes);
			f->bytes += bytes;
		}
	}
	if (r >= 0 && rc != SQLITE_DONE)
		r = sql_error(vs, rc, "segments of a collection");
	sqlite3_finalize(st);
	return r;
}

static int match_collection(struct vectors *vs, const char *name, size_t *ret_index, char *key,
			    size_t keysz)
{
	for (size_t i = 0; i < vs->n_patterns; i++) {
		int m = vectors_pattern_match(vs->patterns[i], name, key, keysz);
		if (m < 0)
			return set_error(vs, m, "collection name too long: %s", name);
		if (m > 0) {
			*ret_index = i;
			return 1;
		}
	}
	return 0;
}

static int judge_collection(struct vectors *vs, const char *id, const char *name,
			    vectors_alive_fn alive, void *alive_ud, struct finding_list *l)
{
	char key[1024];
	size_t index = 0;
	int r = match_collection(vs, name, &index, key, sizeof(key));

	if (r < 0)
		return r;
	if (r == 0)
		return findings_add(l, VECTOR_UNKNOWN, name, id, NULL);
	r = alive(index, key, alive_ud);
	if (r < 0)
		return set_error(vs, r, "cannot tell whether collection %s is alive: %s", name,
				 strerror(-r));
	return r > 0 ? 0 : findings_add(l, VECTOR_DEAD_COLLECTION, name, id, key);
}

static int find_collections(struct vectors *vs, vectors_alive_fn alive, void *alive_ud,
			    struct finding_list *l)
{
	sqlite3_stmt *st = NULL;
	int rc = SQLITE_DONE, r;

	r = prepare(vs, "SELECT id, name FROM collections ORDER BY name, id", &st);
	while (r >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		const char *name = (const char *)sqlite3_column_text(st, 1);
		if (!id || !name)
			continue;
		r = judge_collection(vs, id, name, alive, alive_ud, l);
	}
	if (r >= 0 && rc != SQLITE_DONE)
		r = sql_error(vs, rc, "collections");
	sqlite3_finalize(st);
	for (size_t i = 0; r >= 0 && i < l->n; i++)
		r = collection_usage(vs, &l->f[i]);
	return r;
}

static int is_segment(struct vectors *vs, sqlite3_stmt *st, const char *id)
{
	int rc;

	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : sql_error(vs, rc, "segments");
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* uuid-shaped directories in vector_db/, sorted so reports are stable. */
static int list_uuid_dirs(struct vectors *vs, char ***ret)
{
	_cleanup_strv_free_ char **names = NULL;
	int fd = openat(vs->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (fd < 0 || !(d = fdopendir(fd))) {
		r = set_error(vs, negative_errno(), "%s: %m", vs->dir);
		if (fd >= 0)
			close(fd);
		return r;
	}
	while (r >= 0 && (errno = 0, de = readdir(d))) {
		struct stat st;
		if (!vectors_is_uuid(de->d_name) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
			continue;
		r = strv_extend(&names, de->d_name);
	}
	if (r >= 0 && errno)
		r = set_error(vs, negative_errno(), "%s: %m", vs->dir);
	closedir(d);
	if (r < 0)
		return r;
	if (names)
		qsort(names, strv_length(names), sizeof(char *), cmp_name);
	*ret = TAKE_PTR(names);
	return 0;
}

static int find_orphan_dirs(struct vectors *vs, struct finding_list *l)
{
	_cleanup_strv_free_ char **names = NULL;
	sqlite3_stmt *st = NULL;
	int r = list_uuid_dirs(vs, &names);

	if (r >= 0)
		r = prepare(vs, "SELECT 1 FROM segments WHERE id = ?1", &st);
	for (char **n = names; r >= 0 && n && *n; n++) {
		bool exists;
		uint64_t bytes;

		r = is_segment(vs, st, *n);
		if (r != 0)
			continue;
		r = dir_bytes(vs, *n, &exists, &bytes);
		if (r >= 0 && exists) {
			r = findings_add(l, VECTOR_ORPHAN_DIR, NULL, *n, NULL);
			if (r >= 0)
				l->f[l->n - 1].bytes = bytes;
		}
	}
	sqlite3_finalize(st);
	return r < 0 ? r : 0;
}

static int find_orphan_rows(struct vectors *vs, struct finding_list *l)
{
	sqlite3_stmt *st = NULL;
	int rc = SQLITE_DONE, r;

	r = prepare(vs, "SELECT segment_id, count(*) FROM embeddings "
			"WHERE segment_id NOT IN (SELECT id FROM segments) "
			"GROUP BY segment_id ORDER BY segment_id", &st);
	while (r >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *seg = (const char *)sqlite3_column_text(st, 0);
		r = findings_add(l, VECTOR_ORPHAN_ROWS, NULL, seg ? seg : "", NULL);
		if (r >= 0)
			l->f[l->n - 1].embeddings = (uint64_t)sqlite3_column_int64(st, 1);
	}
	if (r >= 0 && rc != SQLITE_DONE)
		r = sql_error(vs, rc, "embeddings");
	sqlite3_finalize(st);
	return r;
}

/* One read transaction around all queries: one snapshot of the store. */
static int begin_read(struct vectors *vs)
{
	int rc = sqlite3_exec(vs->db, "BEGIN", NULL, NULL, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_exec(vs->db, "SELECT count(*) FROM collections", NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : sql_error(vs, rc, "begin");
}

static void end_read(struct vectors *vs)
{
	if (!sqlite3_get_autocommit(vs->db))
		sqlite3_exec(vs->db, "ROLLBACK", NULL, NULL, NULL);
}

int vectors_audit(struct vectors *vs, vectors_alive_fn alive, void *alive_ud,
		  int (*cb)(const struct vector_finding *f, void *ud), void *ud)
{
	struct finding_list l = {0};
	int r;

	if (!vs || !alive || !cb)
		return -EINVAL;
	vs->errmsg[0] = 0;
	r = begin_read(vs);
	if (r >= 0)
		r = find_collections(vs, alive, alive_ud, &l);
	if (r >= 0)
		r = find_orphan_dirs(vs, &l);
	if (r >= 0)
		r = find_orphan_rows(vs, &l);
	end_read(vs);
	for (size_t i = 0; r >= 0 && i < l.n; i++)
		r = cb(&l.f[i], ud);
	findings_done(&l);
	return r < 0 ? r : 0;
}

int vectors_list_collections(struct vectors *vs,
			     int (*cb)(const struct vector_collection *c, void *ud), void *ud)
{
	sqlite3_stmt *st = NULL;
	int rc = SQLITE_DONE, r;

	if (!vs || !cb)
		return -EINVAL;
	r = prepare(vs, "SELECT c.id, c.name, (SELECT count(*) FROM embeddings e JOIN segments s "
			"ON e.segment_id = s.id WHERE s.collection = c.id) "
			"FROM collections c ORDER BY c.name, c.id", &st);
	while (r >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct vector_collection c = {
			.id = (const char *)sqlite3_column_text(st, 0),
			.name = (const char *)sqlite3_column_text(st, 1),
			.embeddings = (uint64_t)sqlite3_column_int64(st, 2),
		};
		if (c.id && c.name)
			r = cb(&c, ud);
	}
	if (r >= 0 && rc != SQLITE_DONE)
		r = sql_error(vs, rc, "collections");
	sqlite3_finalize(st);
	return r < 0 ? r : 0;
}

int vectors_list_segments(struct vectors *vs, const char *collection_id,
			  int (*cb)(const struct vector_segment *s, void *ud), void *ud)
{
	sqlite3_stmt *st = NULL;
	int rc = SQLITE_DONE, r;

	if (!vs || !cb)
		return -EINVAL;
	r = prepare(vs, "SELECT id, collection, scope, type FROM segments "
			"WHERE ?1 IS NULL OR collection = ?1 ORDER BY collection, scope, id", &st);
	if (r >= 0 && collection_id)
		sqlite3_bind_text(st, 1, collection_id, -1, SQLITE_STATIC);
	while (r >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct vector_segment s = {
			.id = (const char *)sqlite3_column_text(st, 0),
			.collection = (const char *)sqlite3_column_text(st, 1),
			.scope = (const char *)sqlite3_column_text(st, 2),
			.type = (const char *)sqlite3_column_text(st, 3),
		};
		if (!s.id || !s.collection || !s.scope)
			continue;
		if (streq(s.scope, "VECTOR") && vectors_is_uuid(s.id))
			r = dir_bytes(vs, s.id, &s.dir_exists, &s.bytes);
		if (r >= 0)
			r = cb(&s, ud);
	}
	if (r >= 0 && rc != SQLITE_DONE)
		r = sql_error(vs, rc, "segments");
	sqlite3_finalize(st);
	return r < 0 ? r : 0;
}

const char *vectors_path(const struct vectors *vs)
{
	return vs->dir;
}
