/* fsd-mkdemo's plumbing: the seeded random generator, back-dated file
 * writing under the data directory, the manifest of expected findings and
 * small SQLite helpers. Determinism matters more than speed here, but the
 * bench sizes (hundreds of thousands of files) still have to be quick, so
 * files are written with one open/write/utimensat each and no fsync. */
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "common/util.h"
#include "tests/gen/gen.h"

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void rng_seed(struct rng *r, uint64_t seed)
{
	for (size_t i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t rng_range(struct rng *r, uint64_t lo, uint64_t hi)
{
	return lo + rng_next(r) % (hi - lo + 1);
}

void rng_hex(struct rng *r, char *out, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	uint64_t x = 0;

	for (size_t i = 0; i < n; i++) {
		if (i % 16 == 0)
			x = rng_next(r);
		out[i] = hex[x & 15];
		x >>= 4;
	}
	out[n] = 0;
}

void rng_uuid(struct rng *r, char out[GEN_UUID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t b[16];
	uint64_t a = rng_next(r), c = rng_next(r);
	size_t o = 0;

	memcpy(b, &a, 8);
	memcpy(b + 8, &c, 8);
	b[6] = (b[6] & 0x0f) | 0x40; /* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80; /* RFC 4122 variant */
	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 15];
	}
	out[o] = 0;
}

int gen_mkdirs(struct gen *g, const char *rel)
{
	_cleanup_free_ char *p = strdup(rel);

	if (!p)
		return -ENOMEM;
	for (char *s = p;; s++) {
		if (*s != '/' && *s)
			continue;
		char c = *s;
		*s = 0;
		if (*p && mkdirat(g->dirfd, p, 0755) < 0 && errno != EEXIST)
			return negative_errno();
		if (!c)
			return 0;
		*s = c;
	}
}

static int mkparents(struct gen *g, const char *rel, size_t rel_len)
{
	const char *slash = memrchr(rel, '/', rel_len);
	_cleanup_free_ char *dir = NULL;

	if (!slash)
		return 0;
	dir = strndup(rel, slash - rel);
	if (!dir)
		return -ENOMEM;
	return gen_mkdirs(g, dir);
}

static int date_file(struct gen *g, const char *name, int64_t age)
{
	struct timespec ts[2] = {
		{.tv_sec = g->now - age, .tv_nsec = 0},
		{.tv_sec = g->now - age, .tv_nsec = 0},
	};

	if (utimensat(g->dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return negative_errno();
	return 0;
}

int gen_write_bytes(struct gen *g, const char *rel, size_t rel_len, const void *data,
		    size_t size, int64_t age)
{
	_cleanup_free_ char *name = strndup(rel, rel_len);
	_cleanup_close_ int fd = -1;
	int r;

	/* Names may hold any byte but NUL; a name with an embedded NUL
	 * cannot exist, so the generator never asks for one. */
	if (!name || strlen(name) != rel_len)
		return name ? -EINVAL : -ENOMEM;
	r = mkparents(g, rel, rel_len);
	if (r < 0)
		return r;
	fd = openat(g->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return negative_errno();
	r = loop_write(fd, data, size);
	if (r < 0)
		return r;
	return date_file(g, name, age);
}

int gen_write_file(struct gen *g, const char *rel, size_t rel_len, const char *head,
		   size_t size, int64_t age)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t hl = head ? strlen(head) : 0;

	if (size < hl + 16)
		size = hl + 16;
	buf = malloc(size);
	if (!buf)
		return -ENOMEM;
	if (hl)
		memcpy(buf, head, hl);
	/* Seeded filler: every file differs from every other, except the
	 * duplicates the generator writes on purpose with gen_write_bytes. */
	for (size_t i = hl; i < size; i += 8) {
		uint64_t x = rng_next(&g->rng);
		memcpy(buf + i, &x, MIN((size_t)8, size - i));
	}
	return gen_write_bytes(g, rel, rel_len, buf, size, age);
}

static bool utf8_seq(const unsigned char *s, size_t len, size_t *ret_n)
{
	size_t n;
	uint32_t cp;

	if (s[0] < 0xc2 || s[0] > 0xf4)
		return false;
	n = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	if (n > len)
		return false;
	cp = s[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return false;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0))
		return false;
	*ret_n = n;
	return true;
}

char *gen_escape(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	char *out = malloc(len * 4 + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t n;

		if (u[i] == '\\') {
			*o++ = '\\';
			*o++ = '\\';
			i++;
		} else if (u[i] >= 0x20 && u[i] < 0x7f) {
			*o++ = (char)u[i++];
		} else if (u[i] >= 0x80 && utf8_seq(u + i, len - i, &n)) {
			memcpy(o, u + i, n);
			o += n;
			i += n;
		} else {
			o += sprintf(o, "\\x%02x", u[i++]);
		}
	}
	*o = 0;
	return out;
}

int manifest_add(struct gen *g, const char *category, const char *root, const char *item,
		 size_t item_len)
{
	struct manifest *m = &g->manifest;
	_cleanup_free_ char *esc = gen_escape(item, item_len);
	char *line;

	if (!esc)
		return -ENOMEM;
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 256;
		char **l = realloc(m->lines, cap * sizeof(char *));
		if (!l)
			return -ENOMEM;
		m->lines = l;
		m->cap = cap;
	}
	if (asprintf(&line, "%s\t%s\t%s", category, root, esc) < 0)
		return -ENOMEM;
	m->lines[m->n++] = line;
	return 0;
}

static int cmp_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int manifest_write(struct gen *g, const char *path)
{
	struct manifest *m = &g->manifest;
	_cleanup_fclose_ FILE *f = fopen(path, "we");

	if (!f)
		return negative_errno();
	qsort(m->lines, m->n, sizeof(char *), cmp_line);
	for (size_t i = 0; i < m->n; i++)
		fprintf(f, "%s\n", m->lines[i]);
	if (fflush(f) != 0 || ferror(f))
		return negative_errno();
	return 0;
}

void manifest_done(struct manifest *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->lines[i]);
	free(m->lines);
	*m = (struct manifest){0};
}

static int read_all(const char *path, char **ret)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;

	if (!f)
		return negative_errno();
	if (getdelim(&buf, &len, 0, f) < 0 && !feof(f))
		return negative_errno();
	if (!buf && !(buf = strdup("")))
		return -ENOMEM;
	*ret = TAKE_PTR(buf);
	return 0;
}

int gen_exec_file(sqlite3 *db, const char *path)
{
	_cleanup_free_ char *sql = NULL;
	char *err = NULL;
	int r = read_all(path, &sql);

	if (r < 0) {
		fprintf(stderr, "fsd-mkdemo: cannot read %s: %s\n", path, strerror(-r));
		return r;
	}
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		fprintf(stderr, "fsd-mkdemo: %s: %s\n", path, err ? err : "?");
		sqlite3_free(err);
		return -EIO;
	}
	return 0;
}

sqlite3_stmt *gen_prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "fsd-mkdemo: cannot prepare \"%s\": %s\n", sql, sqlite3_errmsg(db));
		return NULL;
	}
	return st;
}

int gen_run_texts(sqlite3_stmt *st, int n, const char *const *v)
{
	int rc;

	for (int i = 0; i < n; i++)
		sqlite3_bind_text(st, i + 1, v[i], -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		fprintf(stderr, "fsd-mkdemo: \"%s\": %s\n", sqlite3_sql(st),
			sqlite3_errmsg(sqlite3_db_handle(st)));
		return -EIO;
	}
	return 0;
}

int gen_run(sqlite3_stmt *st, int n, ...)
{
	const char *v[32];
	va_list ap;

	if (n > (int)ELEMENTSOF(v))
		return -E2BIG;
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		v[i] = va_arg(ap, const char *);
	va_end(ap);
	return gen_run_texts(st, n, v);
}
