/* Reading fsd's configuration: inih splits the text into sections and
 * "key = value" lines, a line-counting reader around it gives every key
 * its line number and recognises continuation lines, and the typed
 * sections ([catalog], [defaults], [paths], [root], [source], [vectors])
 * are then checked key by key, collecting every problem as
 * "FILE:LINE: [section] key: what was wrong" instead of stopping at the
 * first. [rule NAME] and [daemon] sections are handed on raw. Nothing here
 * touches the disk except reading the config file itself. */
#include "common/config.h"

#include <ctype.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <ini.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <regex.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "common/parse.h"
#include "common/util.h"

#define CONFIG_MAX_SIZE (1024 * 1024)
#define CONFIG_MAX_LINE 65536
#define PRINT_WRAP 4000 /* config_print() splits longer SQL over continuation lines */

struct parse_error {
	int line;
	size_t seq;
	char *text; /* the whole line of output, "FILE:LINE: ...\n" */
};

/* The first indented line that continued the value of section `sec`'s
 * key number `kv`: only SQL values may span lines. */
struct continuation {
	size_t sec, kv;
	int line;
};

struct parser {
	const char *origin;
	const char *text;
	size_t len;
	size_t pos;
	int line;
	bool line_is_kv;   /* the current line should reach the handler */
	bool line_handled; /* ... and did */
	bool line_indented;
	bool have_prev_kv; /* a key seen since the last section header */
	struct config_section *secs;
	size_t n_secs;
	struct parse_error *errors;
	size_t n_errors;
	struct continuation *conts;
	size_t n_conts;
	bool oom;
};

static const char *const class_names[_ROOT_CLASS_MAX] = {
    [ROOT_UPLOAD] = "upload", [ROOT_CACHE] = "cache", [ROOT_LOG] = "log",
    [ROOT_BACKUP] = "backup", [ROOT_TEMP] = "temp",
};
static const char *const key_names[_KEY_KIND_MAX] = {
    [KEY_NONE] = "none",   [KEY_PATH] = "path", [KEY_BASENAME] = "basename",
    [KEY_REGEX] = "regex", [KEY_HASH] = "hash",
};

const char *root_class_to_string(enum root_class c)
{
	return (unsigned)c < _ROOT_CLASS_MAX ? class_names[c] : NULL;
}

int root_class_from_string(const char *s)
{
	for (int i = 0; s && i < _ROOT_CLASS_MAX; i++)
		if (streq(s, class_names[i]))
			return i;
	return -EINVAL;
}

const char *key_kind_to_string(enum key_kind k)
{
	return (unsigned)k < _KEY_KIND_MAX ? key_names[k] : NULL;
}

int key_kind_from_string(const char *s)
{
	for (int i = 0; s && i < _KEY_KIND_MAX; i++)
		if (streq(s, key_names[i]))
			return i;
	return -EINVAL;
}

/* ---- error collection ---- */

/* Each message is built in its own memory stream and kept with its line,
 * so that the report comes out in file order whatever the order of the
 * checks. */
static FILE *err_begin(struct parser *p, int line, char **buf, size_t *len)
{
	FILE *f = open_memstream(buf, len);
	if (!f) {
		p->oom = true;
		return NULL;
	}
	if (line > 0)
		fprintf(f, "%s:%d: ", p->origin, line);
	else
		fprintf(f, "%s: ", p->origin);
	return f;
}

static void err_end(struct parser *p, int line, FILE *f, char **bufp)
{
	fputc('\n', f);
	bool bad = ferror(f);
	int r = fclose(f);
	char *buf = *bufp; /* only valid after the stream is closed */
	if (r != 0 || bad) {
		free(buf);
		p->oom = true;
		return;
	}
	struct parse_error *ne = realloc(p->errors, (p->n_errors + 1) * sizeof *ne);
	if (!ne) {
		free(buf);
		p->oom = true;
		return;
	}
	p->errors = ne;
	ne[p->n_errors] = (struct parse_error){line, p->n_errors, buf};
	p->n_errors++;
}

_printf_(3, 4) static void perr(struct parser *p, int line, const char *fmt, ...)
{
	char *buf = NULL;
	size_t len;
	va_list ap;

	FILE *f = err_begin(p, line, &buf, &len);
	if (!f)
		return;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	err_end(p, line, f, &buf);
}

static void sec_label(FILE *f, const struct config_section *s)
{
	if (s->name)
		fprintf(f, "[%s %s]", s->type, s->name);
	else
		fprintf(f, "[%s]", s->type);
}

/* "FILE:LINE: [root uploads] class: " + message. kv may be NULL: then the
 * section's own line and no key. */
_printf_(4, 5) static void kv_err(struct parser *p, const struct config_section *s,
				  const struct config_kv *kv, const char *fmt, ...)
{
	int line = kv ? kv->line : s->line;
	char *buf = NULL;
	size_t len;
	va_list ap;

	FILE *f = err_begin(p, line, &buf, &len);
	if (!f)
		return;
	sec_label(f, s);
	if (kv)
		fprintf(f, " %s: ", kv->key);
	else
		fputs(": ", f);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	err_end(p, line, f, &buf);
}

/* Levenshtein distance, capped: only for "did you mean" on short words. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[64];

	if (la >= 63 || lb >= 63)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			row[j] = MIN(MIN(row[j] + 1, row[j - 1] + 1), diag + cost);
			diag = up;
		}
	}
	return row[lb];
}

static const char *did_you_mean(const char *word, const char *const *choices, size_t n)
{
	const char *best = NULL;
	size_t best_d = 3;

	for (size_t i = 0; i < n; i++) {
		size_t d = edit_distance(word, choices[i]);
		if (d < best_d) {
			best_d = d;
			best = choices[i];
		}
	}
	return best;
}

/* ---- raw sections: the inih glue ---- */

static void section_done(struct config_section *s)
{
	for (size_t i = 0; i < s->n_kv; i++) {
		free(s->kv[i].key);
		free(s->kv[i].value);
	}
	free(s->kv);
	free(s->type);
	free(s->name);
}

static void *grow(void *arr, size_t *n, size_t size)
{
	char *na = realloc(arr, (*n + 1) * size);
	if (!na)
		return NULL;
	memset(na + *n * size, 0, size);
	(*n)++;
	return na;
}

static bool valid_name(const char *s)
{
	if (!isalnum((unsigned char)*s))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
			return false;
	return true;
}

/* A section header line "[type name]" (leading blanks already skipped). */
static void header_begin(struct parser *p, const char *line, size_t len)
{
	const char *end = memchr(line, ']', len);
	if (!end) {
		perr(p, p->line, "section header without ']': expected [TYPE] or [TYPE NAME]");
		return;
	}
	const char *a = line + 1;
	while (a < end && isspace((unsigned char)*a))
		a++;
	const char *b = a;
	while (b < end && !isspace((unsigned char)*b))
		b++;
	const char *c = b;
	while (c < end && isspace((unsigned char)*c))
		c++;
	const char *d = end;
	while (d > c && isspace((unsigned char)d[-1]))
		d--;
	if (a == b) {
		perr(p, p->line, "empty section header: expected [TYPE] or [TYPE NAME]");
		return;
	}
	struct config_section *ns = grow(p->secs, &p->n_secs, sizeof *ns);
	if (!ns) {
		p->oom = true;
		return;
	}
	p->secs = ns;
	struct config_section *s = &ns[p->n_secs - 1];
	s->line = p->line;
	s->type = strndup(a, (size_t)(b - a));
	if (c < d)
		s->name = strndup(c, (size_t)(d - c));
	if (!s->type || (c < d && !s->name))
		p->oom = true;
}

/* inih finished the previous line without calling the handler although
 * it held neither a header, a comment nor a blank: inih's syntax error. */
static void line_finish(struct parser *p)
{
	if (p->line_is_kv && !p->line_handled)
		perr(p, p->line, "expected 'key = value', a [section] header or a # comment");
	p->line_is_kv = p->line_handled = false;
}

static void line_classify(struct parser *p, const char *s, size_t len)
{
	if (p->line == 1 && len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
		s += 3;
		len -= 3;
	}
	size_t i = 0;
	while (i < len && isspace((unsigned char)s[i]))
		i++;
	p->line_indented = i > 0;
	if (i == len || s[i] == '#' || s[i] == ';')
		return;
	/* inih's order: an indented line after a key continues it, even one
	 * that looks like a header. */
	if (s[i] == '[' && !(p->line_indented && p->have_prev_kv)) {
		p->have_prev_kv = false;
		header_begin(p, s + i, len - i);
		return;
	}
	p->line_is_kv = true;
}

static char *reader(char *str, int num, void *stream)
{
	struct parser *p = stream;

	line_finish(p);
	if (p->pos >= p->len)
		return NULL;
	const char *s = p->text + p->pos;
	const char *nl = memchr(s, '\n', p->len - p->pos);
	size_t len = nl ? (size_t)(nl - s) + 1 : p->len - p->pos;
	p->pos += len;
	p->line++;
	if (len + 1 > (size_t)num) {
		perr(p, p->line, "line longer than %d bytes", num - 2);
		memcpy(str, "\n", 2);
		return str;
	}
	memcpy(str, s, len);
	str[len] = '\0';
	line_classify(p, s, len);
	return str;
}

static int append_continuation(struct parser *p, struct config_section *s, const char *value)
{
	struct config_kv *kv = &s->kv[s->n_kv - 1];
	size_t a = strlen(kv->value), b = strlen(value);
	char *v = realloc(kv->value, a + b + 2);
	if (!v)
		return -ENOMEM;
	if (a > 0)
		v[a++] = ' ';
	memcpy(v + a, value, b + 1);
	kv->value = v;
	return 0;
}

static int note_continuation(struct parser *p, size_t sec, size_t kv)
{
	if (p->n_conts > 0 && p->conts[p->n_conts - 1].sec == sec &&
	    p->conts[p->n_conts - 1].kv == kv)
		return 0;
	struct continuation *nc = grow(p->conts, &p->n_conts, sizeof *nc);
	if (!nc)
		return -ENOMEM;
	p->conts = nc;
	nc[p->n_conts - 1] = (struct continuation){sec, kv, p->line};
	return 0;
}

static int continued_at(const struct parser *p, const struct config_section *s, size_t kv)
{
	for (size_t i = 0; i < p->n_conts; i++)
		if (&p->secs[p->conts[i].sec] == s && p->conts[i].kv == kv)
			return p->conts[i].line;
	return 0;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parser *p = user;

	p->line_handled = true;
	if (p->n_secs == 0) {
		perr(p, p->line, "'%s' outside any section: put it under a [section] header", name);
		return 1;
	}
	struct config_section *s = &p->secs[p->n_secs - 1];
	if (p->line_indented && p->have_prev_kv && s->n_kv > 0) {
		if (append_continuation(p, s, value) < 0 ||
		    note_continuation(p, p->n_secs - 1, s->n_kv - 1) < 0)
			p->oom = true;
		return 1;
	}
	struct config_kv *nkv = grow(s->kv, &s->n_kv, sizeof *nkv);
	if (!nkv) {
		p->oom = true;
		return 1;
	}
	s->kv = nkv;
	struct config_kv *kv = &nkv[s->n_kv - 1];
	kv->key = strdup(name);
	kv->value = strdup(value);
	kv->line = p->line;
	if (!kv->key || !kv->value)
		p->oom = true;
	p->have_prev_kv = true;
	return 1;
}

static pthread_mutex_t ini_lock = PTHREAD_MUTEX_INITIALIZER;

/* inih's switches are process globals in Debian's build: set them for our
 * parse and put them back. One heap line buffer of CONFIG_MAX_LINE bytes
 * (growing it would hand the reader partial lines), no inline comments
 * so that SQL and regexes may hold ';'. */
static int parse_raw(struct parser *p)
{
	pthread_mutex_lock(&ini_lock);
	bool use_stack = ini_use_stack, realloc_ok = ini_allow_realloc;
	bool inline_comments = ini_allow_inline_comments, multiline = ini_allow_multiline;
	bool stop = ini_stop_on_first_error;
	int max_line = ini_max_line, initial = ini_initial_alloc;
	ini_use_stack = false;
	ini_allow_realloc = false;
	ini_initial_alloc = CONFIG_MAX_LINE;
	ini_max_line = CONFIG_MAX_LINE;
	ini_allow_inline_comments = false;
	ini_allow_multiline = true;
	ini_stop_on_first_error = false;
	int r = ini_parse_stream(reader, p, handler, p);
	ini_use_stack = use_stack;
	ini_allow_realloc = realloc_ok;
	ini_max_line = max_line;
	ini_initial_alloc = initial;
	ini_allow_inline_comments = inline_comments;
	ini_allow_multiline = multiline;
	ini_stop_on_first_error = stop;
	pthread_mutex_unlock(&ini_lock);
	if (r == -2 || p->oom)
		return -ENOMEM;
	return 0;
}

/* ---- values ---- */

static bool has_dotdot(const char *path)
{
	for (const char *s = path; (s = strstr(s, "..")); s += 2)
		if ((s == path || s[-1] == '/') && (s[2] == '\0' || s[2] == '/'))
			return true;
	return false;
}

/* Collapses "//" and "/./" and drops a trailing '/'; refuses "..". */
static int normalize_path(const char *in, char **ret)
{
	size_t n = strlen(in);
	char *out = malloc(n + 2);
	size_t o = 0;

	if (!out)
		return -ENOMEM;
	if (has_dotdot(in)) {
		free(out);
		return -EINVAL;
	}
	for (const char *s = in; *s;) {
		if (*s == '/') {
			s++;
			continue;
		}
		const char *e = strchrnul(s, '/');
		if (!(e - s == 1 && *s == '.')) {
			if (o > 0 || in[0] == '/')
				out[o++] = '/';
			memcpy(out + o, s, (size_t)(e - s));
			o += (size_t)(e - s);
		}
		s = e;
	}
	if (o == 0)
		out[o++] = in[0] == '/' ? '/' : '.';
	out[o] = '\0';
	*ret = out;
	return 0;
}

static int set_string(char **field, const char *value)
{
	char *v = strdup(value);
	if (!v)
		return -ENOMEM;
	free(*field);
	*field = v;
	return 0;
}

/* An absolute path value, normalised; errors name what was expected. */
static void set_abs_path(struct parser *p, const struct config_section *s,
			 const struct config_kv *kv, char **field)
{
	char *norm = NULL;

	if (kv->value[0] != '/') {
		kv_err(p, s, kv, "expected an absolute path, got '%s'", kv->value);
		return;
	}
	int r = normalize_path(kv->value, &norm);
	if (r == -EINVAL) {
		kv_err(p, s, kv, "'..' is not allowed in a path, got '%s'", kv->value);
		return;
	}
	if (r < 0) {
		p->oom = true;
		return;
	}
	free(*field);
	*field = norm;
}

static void set_str(struct parser *p, const struct config_section *s, const struct config_kv *kv,
		    char **field)
{
	if (isempty(kv->value)) {
		kv_err(p, s, kv, "empty value");
		return;
	}
	if (set_string(field, kv->value) < 0)
		p->oom = true;
}

static void add_strv(struct parser *p, const struct config_section *s, const struct config_kv *kv,
		     char ***field)
{
	if (isempty(kv->value)) {
		kv_err(p, s, kv, "empty value");
		return;
	}
	if (strv_extend(field, kv->value) < 0)
		p->oom = true;
}

/* A glob over paths relative to a root. */
static void add_glob(struct parser *p, const struct config_section *s, const struct config_kv *kv,
		     char ***field)
{
	if (kv->value[0] == '/') {
		kv_err(p, s, kv, "expected a pattern relative to the root, got '%s'", kv->value);
		return;
	}
	add_strv(p, s, kv, field);
}

static bool is_select(const char *sql)
{
	while (isspace((unsigned char)*sql) || *sql == '(')
		sql++;
	return strncasecmp(sql, "SELECT", 6) == 0 || strncasecmp(sql, "WITH", 4) == 0 ||
	       strncasecmp(sql, "VALUES", 6) == 0;
}

/* One SQL statement, as a malloc'd copy: a trailing ';' is dropped, any
 * other ';' outside quotes is refused, since the database would compile
 * the first statement and silently ignore the rest. */
static char *sql_statement(struct parser *p, const struct config_section *s,
			   const struct config_kv *kv, const char *sql)
{
	size_t n = strlen(sql);
	char quote = 0;

	while (n > 0 && (sql[n - 1] == ';' || isspace((unsigned char)sql[n - 1])))
		n--;
	for (size_t i = 0; i < n; i++) {
		if (quote) {
			if (sql[i] == quote)
				quote = 0;
		} else if (sql[i] == '\'' || sql[i] == '"')
			quote = sql[i];
		else if (sql[i] == ';') {
			kv_err(p, s, kv,
			       "one SQL statement per value (repeat the key for more), "
			       "got '%s'",
			       sql);
			return NULL;
		}
	}
	if (n == 0) {
		kv_err(p, s, kv, "empty value");
		return NULL;
	}
	char *out = strndup(sql, n);
	if (!out)
		p->oom = true;
	return out;
}

static void add_sql(struct parser *p, const struct config_section *s, const struct config_kv *kv,
		    char ***strv, char **single)
{
	char *sql = sql_statement(p, s, kv, kv->value);
	if (!sql)
		return;
	if (strv) {
		if (strv_extend(strv, sql) < 0)
			p->oom = true;
		free(sql);
	} else {
		free(*single);
		*single = sql;
	}
}

static void add_select(struct parser *p, const struct config_section *s, const struct config_kv *kv,
		       char ***strv, char **single)
{
	if (!is_select(kv->value)) {
		kv_err(p, s, kv, "expected a SELECT statement, got '%s'", kv->value);
		return;
	}
	add_sql(p, s, kv, strv, single);
}

static bool check_regex(struct parser *p, const struct config_section *s,
			const struct config_kv *kv)
{
	regex_t re;
	int r = regcomp(&re, kv->value, REG_EXTENDED);
	if (r != 0) {
		char msg[256];
		regerror(r, &re, msg, sizeof msg);
		kv_err(p, s, kv, "expected a POSIX extended regular expression, got '%s': %s",
		       kv->value, msg);
		return false;
	}
	regfree(&re);
	return true;
}

/* ---- typed sections: a key table per section type ---- */

struct key_def {
	const char *name;
	bool multi;
	void (*set)(struct parser *p, void *obj, const struct config_section *s,
		    const struct config_kv *kv);
	bool sql; /* may span lines */
};

/* Runs each key of `s` through its setter; unknown keys and repeated
 * single-valued keys are errors. */
static void parse_keys(struct parser *p, const struct config_section *s, const struct key_def *defs,
		       size_t n_defs, void *obj)
{
	int first[32] = {0};
	const char *names[32];

	for (size_t i = 0; i < n_defs; i++)
		names[i] = defs[i].name;
	for (size_t k = 0; k < s->n_kv; k++) {
		const struct config_kv *kv = &s->kv[k];
		size_t i = 0;
		while (i < n_defs && !streq(defs[i].name, kv->key))
			i++;
		if (i == n_defs) {
			const char *m = did_you_mean(kv->key, names, n_defs);
			if (m)
				kv_err(p, s, kv, "unknown key; did you mean '%s'?", m);
			else
				kv_err(p, s, kv, "unknown key");
			continue;
		}
		if (first[i] && !defs[i].multi) {
			kv_err(p, s, kv,
			       "given twice (first at line %d); only one value is allowed",
			       first[i]);
			continue;
		}
		if (!first[i])
			first[i] = kv->line;
		int cont = defs[i].sql ? 0 : continued_at(p, s, k);
		if (cont) {
			/* Most likely an indented key swallowed into this value. */
			struct config_kv at = *kv;
			at.line = cont;
			kv_err(p, s, &at,
			       "this indented line continues the value of '%s'; only SQL may span "
			       "lines: start every key at the beginning of its line",
			       kv->key);
			continue;
		}
		defs[i].set(p, obj, s, kv);
	}
}

/* [catalog] */
static void catalog_path(struct parser *p, void *obj, const struct config_section *s,
			 const struct config_kv *kv)
{
	struct config *c = obj;
	if (startswith(kv->value, "postgresql://") || startswith(kv->value, "postgres://"))
		set_str(p, s, kv, &c->catalog);
	else
		set_abs_path(p, s, kv, &c->catalog);
}
static const struct key_def catalog_keys[] = {
    {"path", false, catalog_path, false},
};

/* [defaults] */
static void defaults_grace(struct parser *p, void *obj, const struct config_section *s,
			   const struct config_kv *kv)
{
	struct config *c = obj;
	int64_t ns;
	/* Zero would let an upload go before the row that owns it commits. */
	if (parse_duration(kv->value, &ns) < 0 || ns <= 0)
		kv_err(p, s, kv, "expected a duration above zero such as 24h, 90m or 7d, got '%s'",
		       kv->value);
	else
		c->grace_ns = ns;
}
static const struct key_def defaults_keys[] = {
    {"grace", false, defaults_grace, false},
};

/* [paths] map = FROM => TO */
static void paths_map(struct parser *p, void *obj, const struct config_section *s,
		      const struct config_kv *kv)
{
	struct config *c = obj;
	const char *arrow = strstr(kv->value, "=>");
	_cleanup_free_ char *from = NULL, *to = NULL, *nfrom = NULL, *nto = NULL;

	if (!arrow) {
		kv_err(p, s, kv, "expected 'APP_PATH => HOST_PATH', got '%s'", kv->value);
		return;
	}
	const char *a = kv->value, *b = arrow;
	while (b > a && isspace((unsigned char)b[-1]))
		b--;
	const char *t = arrow + 2;
	while (isspace((unsigned char)*t))
		t++;
	from = strndup(a, (size_t)(b - a));
	to = strdup(t);
	if (!from || !to) {
		p->oom = true;
		return;
	}
	if (from[0] != '/' || to[0] != '/') {
		kv_err(p, s, kv, "expected two absolute paths 'APP_PATH => HOST_PATH', got '%s'",
		       kv->value);
		return;
	}
	if (normalize_path(from, &nfrom) < 0 || normalize_path(to, &nto) < 0) {
		kv_err(p, s, kv, "'..' is not allowed in a path, got '%s'", kv->value);
		return;
	}
	for (size_t i = 0; i < c->n_maps; i++)
		if (streq(c->maps[i].from, nfrom)) {
			kv_err(p, s, kv, "%s is mapped twice (first at line %d)", nfrom,
			       c->maps[i].line);
			return;
		}
	struct config_map *nm = grow(c->maps, &c->n_maps, sizeof *nm);
	if (!nm) {
		p->oom = true;
		return;
	}
	c->maps = nm;
	nm[c->n_maps - 1] = (struct config_map){TAKE_PTR(nfrom), TAKE_PTR(nto), kv->line};
}
static const struct key_def paths_keys[] = {
    {"map", true, paths_map, false},
};

/* [root NAME] */
static void root_path(struct parser *p, void *obj, const struct config_section *s,
		      const struct config_kv *kv)
{
	struct config_root *r = obj;
	set_abs_path(p, s, kv, &r->path);
	if (r->path && streq(r->path, "/")) {
		kv_err(p, s, kv,
		       "the root directory '/' cannot be a root: name the directory "
		       "the application writes to");
		free(r->path);
		r->path = NULL;
	}
}
static void root_class(struct parser *p, void *obj, const struct config_section *s,
		       const struct config_kv *kv)
{
	struct config_root *r = obj;
	int v = root_class_from_string(kv->value);
	if (v < 0)
		kv_err(p, s, kv, "expected upload|cache|log|backup|temp, got '%s'", kv->value);
	else
		r->class = (enum root_class)v;
}
static void root_key(struct parser *p, void *obj, const struct config_section *s,
		     const struct config_kv *kv)
{
	struct config_root *r = obj;
	int v = key_kind_from_string(kv->value);
	if (v < 0)
		kv_err(p, s, kv, "expected none|path|basename|regex|hash, got '%s'", kv->value);
	else
		r->key = (enum key_kind)v;
}
static void root_key_regex(struct parser *p, void *obj, const struct config_section *s,
			   const struct config_kv *kv)
{
	struct config_root *r = obj;
	if (check_regex(p, s, kv))
		set_str(p, s, kv, &r->key_regex);
}
static void root_source(struct parser *p, void *obj, const struct config_section *s,
			const struct config_kv *kv)
{
	set_str(p, s, kv, &((struct config_root *)obj)->source);
}
static void root_exclude(struct parser *p, void *obj, const struct config_section *s,
			 const struct config_kv *kv)
{
	add_glob(p, s, kv, &((struct config_root *)obj)->exclude);
}
static void root_protect(struct parser *p, void *obj, const struct config_section *s,
			 const struct config_kv *kv)
{
	add_glob(p, s, kv, &((struct config_root *)obj)->protect);
}
static void root_marker(struct parser *p, void *obj, const struct config_section *s,
			const struct config_kv *kv)
{
	struct config_root *r = obj;
	if (kv->value[0] == '/' || has_dotdot(kv->value))
		kv_err(p, s, kv, "expected a path relative to the root, without '..', got '%s'",
		       kv->value);
	else
		set_str(p, s, kv, &r->marker);
}
static void root_one_fs(struct parser *p, void *obj, const struct config_section *s,
			const struct config_kv *kv)
{
	struct config_root *r = obj;
	if (parse_bool(kv->value, &r->one_file_system) < 0)
		kv_err(p, s, kv, "expected yes|no, got '%s'", kv->value);
}
static const struct key_def root_keys[] = {
    {"path", false, root_path, false},
    {"class", false, root_class, false},
    {"key", false, root_key, false},
    {"key-regex", false, root_key_regex, false},
    {"source", false, root_source, false},
    {"exclude", true, root_exclude, false},
    {"protect", true, root_protect, false},
    {"marker", false, root_marker, false},
    {"one-file-system", false, root_one_fs, false},
};

/* [source NAME] */
static void source_url(struct parser *p, void *obj, const struct config_section *s,
		       const struct config_kv *kv)
{
	struct config_source *src = obj;
	const char *rest = startswith(kv->value, "sqlite://");
	if (rest && rest[0] == '/' && rest[1] && !has_dotdot(rest))
		set_str(p, s, kv, &src->url);
	else if (rest)
		kv_err(p, s, kv, "expected sqlite:///ABSOLUTE/PATH (three slashes), got '%s'",
		       kv->value);
	else if (startswith(kv->value, "postgresql://") || startswith(kv->value, "postgres://"))
		set_str(p, s, kv, &src->url);
	else
		kv_err(p, s, kv, "expected sqlite:///ABSOLUTE/PATH or postgresql://..., got '%s'",
		       kv->value);
}
static void source_owners(struct parser *p, void *obj, const struct config_section *s,
			  const struct config_kv *kv)
{
	add_select(p, s, kv, NULL, &((struct config_source *)obj)->owners);
}
static void source_live(struct parser *p, void *obj, const struct config_section *s,
			const struct config_kv *kv)
{
	add_select(p, s, kv, &((struct config_source *)obj)->live, NULL);
}
static void source_live_text(struct parser *p, void *obj, const struct config_section *s,
			     const struct config_kv *kv)
{
	add_select(p, s, kv, &((struct config_source *)obj)->live_text, NULL);
}
static void source_key_pattern(struct parser *p, void *obj, const struct config_section *s,
			       const struct config_kv *kv)
{
	struct config_source *src = obj;
	if (streq(kv->value, "uuid") || check_regex(p, s, kv))
		set_str(p, s, kv, &src->key_pattern);
}
static void source_remove(struct parser *p, void *obj, const struct config_section *s,
			  const struct config_kv *kv)
{
	struct config_source *src = obj;
	if (!strstr(kv->value, ":key") && !strstr(kv->value, "?1")) {
		kv_err(p, s, kv,
		       "the statement must use :key (the owner key being removed), "
		       "got '%s'",
		       kv->value);
		return;
	}
	add_sql(p, s, kv, &src->remove, NULL);
}
static void source_min_ratio(struct parser *p, void *obj, const struct config_section *s,
			     const struct config_kv *kv)
{
	struct config_source *src = obj;
	char *end;
	errno = 0;
	double v = strtod(kv->value, &end);
	if (end != kv->value && *end == '%' && end[1] == '\0') {
		v /= 100;
		end++;
	}
	if (errno || end == kv->value || *end || !(v >= 0 && v <= 1))
		kv_err(p, s, kv, "expected a fraction between 0 and 1 (or 0%%-100%%), got '%s'",
		       kv->value);
	else
		src->min_ratio = v;
}
static void source_busy_timeout(struct parser *p, void *obj, const struct config_section *s,
				const struct config_kv *kv)
{
	struct config_source *src = obj;
	int64_t ns;
	if (parse_duration(kv->value, &ns) < 0 || ns / 1000000 > INT_MAX)
		kv_err(p, s, kv, "expected a duration such as 5s or 500ms, got '%s'", kv->value);
	else
		src->busy_timeout_ms = (int)(ns / 1000000);
}
static const struct key_def source_keys[] = {
    {"url", false, source_url, false},
    {"owners", false, source_owners, true},
    {"live", true, source_live, true},
    {"live-text", true, source_live_text, true},
    {"key-pattern", false, source_key_pattern, false},
    {"remove", true, source_remove, true},
    {"min-ratio", false, source_min_ratio, false},
    {"busy-timeout", false, source_busy_timeout, false},
};

/* [vectors NAME] */
static void vectors_type(struct parser *p, void *obj, const struct config_section *s,
			 const struct config_kv *kv)
{
	struct config_vectors *v = obj;
	if (!streq(kv->value, "chroma") && !streq(kv->value, "pgvector"))
		kv_err(p, s, kv, "expected chroma|pgvector, got '%s'", kv->value);
	else
		set_str(p, s, kv, &v->type);
}
static void vectors_path(struct parser *p, void *obj, const struct config_section *s,
			 const struct config_kv *kv)
{
	set_abs_path(p, s, kv, &((struct config_vectors *)obj)->path);
}
static void vectors_url(struct parser *p, void *obj, const struct config_section *s,
			const struct config_kv *kv)
{
	struct config_vectors *v = obj;
	if (startswith(kv->value, "postgresql://") || startswith(kv->value, "postgres://"))
		set_str(p, s, kv, &v->url);
	else
		kv_err(p, s, kv, "expected postgresql://..., got '%s'", kv->value);
}
static void vectors_source(struct parser *p, void *obj, const struct config_section *s,
			   const struct config_kv *kv)
{
	set_str(p, s, kv, &((struct config_vectors *)obj)->source);
}
/* collection = PATTERN QUERY, where PATTERN holds one "{}" and QUERY is
 * "owners" or a SELECT. */
static void vectors_collection(struct parser *p, void *obj, const struct config_section *s,
			       const struct config_kv *kv)
{
	struct config_vectors *v = obj;
	const char *sp = kv->value;
	while (*sp && !isspace((unsigned char)*sp))
		sp++;
	const char *q = sp;
	while (isspace((unsigned char)*q))
		q++;
	const char *hole = strstr(kv->value, "{}");
	if (!hole || hole >= sp || (strstr(hole + 2, "{}") && strstr(hole + 2, "{}") < sp) || !*q) {
		kv_err(p, s, kv,
		       "expected 'PATTERN QUERY' with one {} in PATTERN standing for a "
		       "key and QUERY 'owners' or a SELECT, got '%s'",
		       kv->value);
		return;
	}
	if (!streq(q, "owners") && !is_select(q)) {
		kv_err(p, s, kv,
		       "expected 'owners' or a SELECT statement after the pattern, got '%s'", q);
		return;
	}
	_cleanup_free_ char *query = streq(q, "owners") ? strdup(q) : sql_statement(p, s, kv, q);
	if (!query) {
		if (streq(q, "owners"))
			p->oom = true;
		return; /* sql_statement() reported it */
	}
	struct config_collection *nc = grow(v->collections, &v->n_collections, sizeof *nc);
	if (!nc) {
		p->oom = true;
		return;
	}
	v->collections = nc;
	struct config_collection *col = &nc[v->n_collections - 1];
	col->pattern = strndup(kv->value, (size_t)(sp - kv->value));
	col->query = TAKE_PTR(query);
	col->line = kv->line;
	if (!col->pattern || !col->query)
		p->oom = true;
}
static const struct key_def vectors_keys[] = {
    {"type", false, vectors_type, false},
    {"path", false, vectors_path, false},
    {"url", false, vectors_url, false},
    {"source", false, vectors_source, false},
    {"collection", true, vectors_collection, true},
};

/* ---- section dispatch and cross-checks ---- */

enum sec_kind {
	SEC_CATALOG,
	SEC_DEFAULTS,
	SEC_PATHS,
	SEC_ROOT,
	SEC_SOURCE,
	SEC_VECTORS,
	SEC_RULE,
	SEC_DAEMON
};

static const struct {
	const char *type;
	bool named;
} sec_types[] = {
    [SEC_CATALOG] = {"catalog", false}, [SEC_DEFAULTS] = {"defaults", false},
    [SEC_PATHS] = {"paths", false},	[SEC_ROOT] = {"root", true},
    [SEC_SOURCE] = {"source", true},	[SEC_VECTORS] = {"vectors", true},
    [SEC_RULE] = {"rule", true},	[SEC_DAEMON] = {"daemon", false},
};

static int sec_kind_of(struct parser *p, const struct config_section *s)
{
	const char *names[ELEMENTSOF(sec_types)];

	for (size_t i = 0; i < ELEMENTSOF(sec_types); i++) {
		names[i] = sec_types[i].type;
		if (!streq(s->type, sec_types[i].type))
			continue;
		if (sec_types[i].named && !s->name) {
			kv_err(p, s, NULL, "needs a name: [%s NAME]", s->type);
			return -EINVAL;
		}
		if (!sec_types[i].named && s->name) {
			kv_err(p, s, NULL, "takes no name: [%s]", s->type);
			return -EINVAL;
		}
		if (s->name && !valid_name(s->name)) {
			kv_err(p, s, NULL, "names are letters, digits, '.', '_' and '-'");
			return -EINVAL;
		}
		return (int)i;
	}
	const char *m = did_you_mean(s->type, names, ELEMENTSOF(names));
	if (m)
		kv_err(p, s, NULL, "unknown section; did you mean [%s]?", m);
	else
		kv_err(p, s, NULL,
		       "unknown section: expected catalog, defaults, paths, root, source, "
		       "vectors, rule or daemon");
	return -EINVAL;
}

/* Earlier section of the same type and name, for duplicate checks. */
static const struct config_section *find_earlier(const struct parser *p, size_t upto)
{
	const struct config_section *s = &p->secs[upto];
	for (size_t i = 0; i < upto; i++)
		if (streq(p->secs[i].type, s->type) && streq_ptr(p->secs[i].name, s->name))
			return &p->secs[i];
	return NULL;
}

/* Whether the section names `key` at all: a key given with a bad value
 * has had its message already, "missing" would only repeat it. */
static bool has_key(const struct config_section *s, const char *key)
{
	for (size_t i = 0; i < s->n_kv; i++)
		if (streq(s->kv[i].key, key))
			return true;
	return false;
}

static void root_finish(struct parser *p, const struct config_section *s, struct config_root *r)
{
	if (!has_key(s, "path"))
		kv_err(p, s, NULL, "missing 'path': the absolute path of the directory");
	if (!has_key(s, "class"))
		kv_err(p, s, NULL, "missing 'class': expected upload|cache|log|backup|temp");
	if (r->key == _KEY_KIND_MAX)
		r->key = has_key(s, "key-regex") ? KEY_REGEX : KEY_NONE;
	if (r->key == KEY_REGEX && !has_key(s, "key-regex"))
		kv_err(p, s, NULL,
		       "key = regex needs 'key-regex' (a POSIX ERE over the file name)");
	if (r->key != KEY_REGEX && has_key(s, "key-regex"))
		kv_err(p, s, NULL, "'key-regex' is only used with key = regex, but key = %s",
		       key_kind_to_string(r->key));
	if (r->source && r->key == KEY_NONE)
		kv_err(p, s, NULL,
		       "source = %s needs a 'key' (path|basename|regex|hash) to match "
		       "files with the source's owner keys",
		       r->source);
}

static void source_finish(struct parser *p, const struct config_section *s,
			  struct config_source *src)
{
	if (!has_key(s, "url"))
		kv_err(p, s, NULL,
		       "missing 'url': expected sqlite:///ABSOLUTE/PATH or "
		       "postgresql://...");
	if (!src->key_pattern && set_string(&src->key_pattern, "uuid") < 0)
		p->oom = true;
}

static void vectors_finish(struct parser *p, const struct config_section *s,
			   struct config_vectors *v)
{
	if (!has_key(s, "type"))
		kv_err(p, s, NULL, "missing 'type': expected chroma|pgvector");
	else if (!v->type)
		; /* a bad type had its message */
	else if (streq(v->type, "chroma") && !has_key(s, "path"))
		kv_err(p, s, NULL, "type = chroma needs 'path' (the vector_db directory)");
	else if (streq(v->type, "chroma") && v->url)
		kv_err(p, s, NULL, "'url' is for type = pgvector; chroma takes 'path'");
	else if (streq(v->type, "pgvector") && v->path)
		kv_err(p, s, NULL, "'path' is for type = chroma; pgvector takes 'url'");
	if (!has_key(s, "source"))
		kv_err(p, s, NULL,
		       "missing 'source': the [source NAME] whose queries say which "
		       "collections are alive");
}

static void root_free(struct config_root *r)
{
	free(r->name);
	free(r->path);
	free(r->key_regex);
	free(r->source);
	strv_free(r->exclude);
	strv_free(r->protect);
	free(r->marker);
}

static void source_free(struct config_source *s)
{
	free(s->name);
	free(s->url);
	free(s->owners);
	strv_free(s->live);
	strv_free(s->live_text);
	free(s->key_pattern);
	strv_free(s->remove);
}

static void vectors_free(struct config_vectors *v)
{
	free(v->name);
	free(v->type);
	free(v->path);
	free(v->url);
	free(v->source);
	for (size_t i = 0; i < v->n_collections; i++) {
		free(v->collections[i].pattern);
		free(v->collections[i].query);
	}
	free(v->collections);
}

void config_free(struct config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_roots; i++)
		root_free(&c->roots[i]);
	for (size_t i = 0; i < c->n_sources; i++)
		source_free(&c->sources[i]);
	for (size_t i = 0; i < c->n_maps; i++) {
		free(c->maps[i].from);
		free(c->maps[i].to);
	}
	for (size_t i = 0; i < c->n_vectors; i++)
		vectors_free(&c->vectors[i]);
	for (size_t i = 0; i < c->n_sections; i++)
		section_done(&c->sections[i]);
	free(c->roots);
	free(c->sources);
	free(c->maps);
	free(c->vectors);
	free(c->sections);
	free(c->file);
	free(c->preset);
	free(c->catalog);
	free(c);
}

static int add_root(struct parser *p, struct config *c, struct config_section *s)
{
	struct config_root *nr = grow(c->roots, &c->n_roots, sizeof *nr);
	if (!nr)
		return -ENOMEM;
	c->roots = nr;
	struct config_root *r = &nr[c->n_roots - 1];
	r->class = _ROOT_CLASS_MAX;
	r->key = _KEY_KIND_MAX;
	r->one_file_system = true;
	r->line = s->line;
	r->name = strdup(s->name);
	if (!r->name)
		return -ENOMEM;
	parse_keys(p, s, root_keys, ELEMENTSOF(root_keys), r);
	root_finish(p, s, r);
	return 0;
}

static int add_source(struct parser *p, struct config *c, struct config_section *s)
{
	struct config_source *ns = grow(c->sources, &c->n_sources, sizeof *ns);
	if (!ns)
		return -ENOMEM;
	c->sources = ns;
	struct config_source *src = &ns[c->n_sources - 1];
	src->min_ratio = 0.5;
	src->busy_timeout_ms = 5000;
	src->line = s->line;
	src->name = strdup(s->name);
	if (!src->name)
		return -ENOMEM;
	parse_keys(p, s, source_keys, ELEMENTSOF(source_keys), src);
	source_finish(p, s, src);
	return 0;
}

static int add_vectors(struct parser *p, struct config *c, struct config_section *s)
{
	struct config_vectors *nv = grow(c->vectors, &c->n_vectors, sizeof *nv);
	if (!nv)
		return -ENOMEM;
	c->vectors = nv;
	struct config_vectors *v = &nv[c->n_vectors - 1];
	v->line = s->line;
	v->name = strdup(s->name);
	if (!v->name)
		return -ENOMEM;
	parse_keys(p, s, vectors_keys, ELEMENTSOF(vectors_keys), v);
	vectors_finish(p, s, v);
	return 0;
}

/* Raw sections move into the config as they are (the parser keeps the
 * header for later duplicate checks). */
static int add_raw(struct config *c, struct config_section *s)
{
	struct config_section *ns = grow(c->sections, &c->n_sections, sizeof *ns);
	if (!ns)
		return -ENOMEM;
	c->sections = ns;
	struct config_section *d = &ns[c->n_sections - 1];
	d->line = s->line;
	d->type = strdup(s->type);
	d->name = s->name ? strdup(s->name) : NULL;
	if (!d->type || (s->name && !d->name))
		return -ENOMEM;
	d->kv = TAKE_PTR(s->kv);
	d->n_kv = s->n_kv;
	s->n_kv = 0;
	return 0;
}

static int interpret_section(struct parser *p, struct config *c, size_t i)
{
	struct config_section *s = &p->secs[i];
	int kind = sec_kind_of(p, s);
	if (kind < 0)
		return 0;
	const struct config_section *dup = find_earlier(p, i);
	if (dup) {
		kv_err(p, s, NULL, "defined twice (first at line %d)", dup->line);
		return 0;
	}
	switch (kind) {
	case SEC_CATALOG:
		parse_keys(p, s, catalog_keys, ELEMENTSOF(catalog_keys), c);
		return 0;
	case SEC_DEFAULTS:
		parse_keys(p, s, defaults_keys, ELEMENTSOF(defaults_keys), c);
		return 0;
	case SEC_PATHS:
		parse_keys(p, s, paths_keys, ELEMENTSOF(paths_keys), c);
		return 0;
	case SEC_ROOT:
		return add_root(p, c, s);
	case SEC_SOURCE:
		return add_source(p, c, s);
	case SEC_VECTORS:
		return add_vectors(p, c, s);
	default:
		return add_raw(c, s);
	}
}

/* The line of `key` in section [type name], for messages about checks
 * that span sections; the section's own line if the key is absent. */
static int key_line(const struct parser *p, const char *type, const char *name, const char *key,
		    int fallback)
{
	for (size_t i = 0; i < p->n_secs; i++) {
		const struct config_section *s = &p->secs[i];
		if (!s->type || !streq(s->type, type) || !streq_ptr(s->name, name))
			continue;
		for (size_t k = 0; k < s->n_kv; k++)
			if (streq(s->kv[k].key, key))
				return s->kv[k].line;
	}
	return fallback;
}

static bool path_inside(const char *inner, const char *outer)
{
	const char *rest = startswith(inner, outer);
	return rest && (*rest == '/' || *rest == '\0');
}

static void check_roots(struct parser *p, const struct config *c)
{
	for (size_t i = 0; i < c->n_roots; i++) {
		const struct config_root *r = &c->roots[i];
		const struct config_source *src = config_find_source(c, r->source);
		int sline = key_line(p, "root", r->name, "source", r->line);
		if (r->source && !src)
			perr(p, sline, "[root %s] source: no [source %s] is defined", r->name,
			     r->source);
		else if (src && !src->owners)
			perr(p, sline,
			     "[root %s] source: [source %s] has no 'owners' query to "
			     "say which rows own files",
			     r->name, r->source);
		for (size_t j = 0; r->path && j < c->n_roots; j++) {
			const struct config_root *o = &c->roots[j];
			if (j == i || !o->path || !path_inside(r->path, o->path))
				continue;
			if (streq(r->path, o->path) && j > i)
				continue;
			perr(p, key_line(p, "root", r->name, "path", r->line),
			     "[root %s] path: %s is %s [root %s] (line %d); roots must not overlap",
			     r->name, r->path,
			     streq(r->path, o->path) ? "the same directory as" : "inside", o->name,
			     o->line);
		}
	}
}

static void check_vectors(struct parser *p, const struct config *c)
{
	for (size_t i = 0; i < c->n_vectors; i++) {
		const struct config_vectors *v = &c->vectors[i];
		const struct config_source *src =
		    v->source ? config_find_source(c, v->source) : NULL;
		if (v->source && !src) {
			perr(p, key_line(p, "vectors", v->name, "source", v->line),
			     "[vectors %s] source: no [source %s] is defined", v->name, v->source);
			continue;
		}
		if (src && streq_ptr(v->type, "pgvector") && !v->url &&
		    !startswith(src->url ? src->url : "", "postgres"))
			perr(p, v->line,
			     "[vectors %s]: type = pgvector needs 'url' (postgresql://...): "
			     "[source %s] is not PostgreSQL",
			     v->name, src->name);
		for (size_t k = 0; src && k < v->n_collections; k++)
			if (streq(v->collections[k].query, "owners") && !src->owners)
				perr(p, v->collections[k].line,
				     "[vectors %s] collection: 'owners' "
				     "but [source %s] has no 'owners' query",
				     v->name, src->name);
	}
}

static int parse_text(struct parser *p, struct config *c)
{
	int r = parse_raw(p);
	if (r < 0)
		return r;
	for (size_t i = 0; i < p->n_secs; i++) {
		r = interpret_section(p, c, i);
		if (r < 0)
			return r;
	}
	check_roots(p, c);
	check_vectors(p, c);
	return p->oom ? -ENOMEM : 0;
}

static void parser_done(struct parser *p)
{
	for (size_t i = 0; i < p->n_secs; i++)
		section_done(&p->secs[i]);
	free(p->secs);
	free(p->conts);
	for (size_t i = 0; i < p->n_errors; i++)
		free(p->errors[i].text);
	free(p->errors);
}

static int error_cmp(const void *a, const void *b)
{
	const struct parse_error *x = a, *y = b;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* All messages, sorted by line, as one string. */
static int errors_join(struct parser *p, char **ret)
{
	size_t total = 1;
	for (size_t i = 0; i < p->n_errors; i++)
		total += strlen(p->errors[i].text);
	char *out = malloc(total), *o = out;
	if (!out)
		return -ENOMEM;
	qsort(p->errors, p->n_errors, sizeof *p->errors, error_cmp);
	for (size_t i = 0; i < p->n_errors; i++)
		o = stpcpy(o, p->errors[i].text);
	*o = '\0';
	*ret = out;
	return 0;
}

int config_load_string(const char *text, const char *origin, struct config **ret, char **ret_error)
{
	struct parser p = {.origin = origin ? origin : "<string>", .text = text};
	struct config *c = NULL;
	int r;

	if (!text)
		return -EINVAL;
	p.len = strlen(text);
	c = calloc(1, sizeof *c);
	if (!c) {
		r = -ENOMEM;
		goto out;
	}
	c->grace_ns = 24LL * 3600 * 1000000000LL;
	c->file = strdup(p.origin);
	if (!c->file) {
		r = -ENOMEM;
		goto out;
	}
	r = parse_text(&p, c);
	if (r < 0)
		goto out;
	if (p.n_errors > 0) {
		r = -EINVAL;
		if (ret_error && errors_join(&p, ret_error) < 0)
			r = -ENOMEM;
		goto out;
	}
	*ret = TAKE_PTR(c);
	r = 0;
out:
	config_free(c);
	parser_done(&p);
	return r;
}

/* As root, a configuration that others may change would let them choose
 * what gets deleted: refuse one writable by other users (a group other
 * than root's counts as other users). */
static bool unsafe_for_root(const struct stat *st)
{
	return geteuid() == 0 &&
	       ((st->st_mode & S_IWOTH) || ((st->st_mode & S_IWGRP) && st->st_gid != 0));
}

static int read_file(const char *path, char **ret, mode_t *ret_mode)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct stat st;

	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	*ret_mode = st.st_mode;
	if (unsafe_for_root(&st))
		return -EPERM;
	if (st.st_size > CONFIG_MAX_SIZE)
		return -EFBIG;
	char *buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	ssize_t n = loop_read(fd, buf, (size_t)st.st_size);
	if (n < 0) {
		free(buf);
		return (int)n;
	}
	buf[n] = '\0';
	*ret = buf;
	return (int)n;
}

int config_load(const char *path, struct config **ret, char **ret_error)
{
	_cleanup_free_ char *text = NULL;
	mode_t mode = 0;

	int n = read_file(path, &text, &mode);
	if (n == -EPERM && ret_error &&
	    asprintf(ret_error,
		     "%s: writable by other users (mode %04o): refusing it as root, since it "
		     "decides what gets deleted; chmod go-w %s\n",
		     path, (unsigned)(mode & 07777), path) < 0)
		*ret_error = NULL;
	if (n < 0)
		return n;
	if (strlen(text) != (size_t)n) {
		if (ret_error &&
		    asprintf(ret_error, "%s: contains a NUL byte: not a text file\n", path) < 0)
			*ret_error = NULL;
		return -EINVAL;
	}
	return config_load_string(text, path, ret, ret_error);
}

/* ---- queries on a loaded config ---- */

const struct config_root *config_find_root(const struct config *c, const char *name)
{
	for (size_t i = 0; c && name && i < c->n_roots; i++)
		if (streq(c->roots[i].name, name))
			return &c->roots[i];
	return NULL;
}

const struct config_source *config_find_source(const struct config *c, const char *name)
{
	for (size_t i = 0; c && name && i < c->n_sources; i++)
		if (streq(c->sources[i].name, name))
			return &c->sources[i];
	return NULL;
}

int config_map_path(const struct config *c, const char *app_path, char **ret)
{
	const struct config_map *best = NULL;
	size_t best_len = 0;
	char *out;

	for (size_t i = 0; i < c->n_maps; i++) {
		const struct config_map *m = &c->maps[i];
		size_t l = strlen(m->from);
		if (streq(m->from, "/"))
			l = 0;
		if (strncmp(app_path, m->from, l) != 0 ||
		    (app_path[l] != '/' && app_path[l] != '\0'))
			continue;
		if (!best || l > best_len) {
			best = m;
			best_len = l;
		}
	}
	if (!best) {
		if (app_path[0] != '/')
			return -ENOENT;
		out = strdup(app_path);
	} else if (asprintf(&out, "%s%s",
			    streq(best->to, "/") && app_path[best_len] == '/' ? "" : best->to,
			    app_path + best_len) < 0)
		out = NULL;
	if (!out)
		return -ENOMEM;
	*ret = out;
	return 0;
}

/* Matches one glob against every leading directory of `path` and the
 * path itself (with '/' in the glob), or against each of their names. */
static bool glob_matches(const char *glob, char *path)
{
	bool whole = strchr(glob, '/');

	for (char *end = path;; end++) {
		if (*end != '/' && *end != '\0')
			continue;
		char saved = *end;
		*end = '\0';
		const char *name = strrchr(path, '/');
		name = name ? name + 1 : path;
		bool m = fnmatch(glob, whole ? path : name, 0) == 0;
		*end = saved;
		if (m)
			return true;
		if (saved == '\0')
			return false;
	}
}

int config_globs_match(char *const *globs, const char *path)
{
	_cleanup_free_ char *copy = NULL;

	if (!globs || !*globs)
		return 0;
	copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	for (char *const *g = globs; *g; g++)
		if (glob_matches(*g, copy))
			return 1;
	return 0;
}

/* ---- the default catalog place ---- */

/* What identifies this configuration: the config file's real path, or
 * the preset's name and the data directory's real path. */
static int config_identity(const struct config *c, char **ret_ident, char **ret_stem)
{
	_cleanup_free_ char *real = NULL;
	const char *rest = startswith(c->file, "preset:");
	int r;

	if (rest) {
		const char *colon = strchr(rest, ':');
		if (!colon)
			return -EINVAL;
		real = realpath(colon + 1, NULL);
		r = asprintf(ret_ident, "preset:%.*s:%s", (int)(colon - rest), rest,
			     real ? real : colon + 1);
		if (r < 0)
			return -ENOMEM;
		*ret_stem = strndup(rest, (size_t)(colon - rest));
	} else {
		real = realpath(c->file, NULL);
		*ret_ident = strdup(real ? real : c->file);
		const char *base = strrchr(c->file, '/');
		base = base ? base + 1 : c->file;
		*ret_stem = strndup(base, strcspn(base, "."));
	}
	if (!*ret_ident || !*ret_stem) {
		free(*ret_ident);
		free(*ret_stem);
		return -ENOMEM;
	}
	for (char *s = *ret_stem; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_-", *s))
			*s = '_';
	return 0;
}

/* An explicit $XDG_STATE_HOME wins even for root, so that a test suite or
 * a confined service can keep its catalog away from /var/lib/fsd. */
static int state_dir(char **ret)
{
	const char *xdg = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");

	if (xdg && xdg[0] == '/')
		return asprintf(ret, "%s/fsd", xdg) < 0 ? -ENOMEM : 0;
	else if (geteuid() == 0)
		*ret = strdup("/var/lib/fsd");
	else {
		if (!home || home[0] != '/') {
			struct passwd *pw = getpwuid(geteuid());
			if (!pw || !pw->pw_dir || pw->pw_dir[0] != '/')
				return -ENXIO;
			home = pw->pw_dir;
		}
		return asprintf(ret, "%s/.local/state/fsd", home) < 0 ? -ENOMEM : 0;
	}
	return *ret ? 0 : -ENOMEM;
}

int config_default_catalog(const struct config *c, char **ret)
{
	_cleanup_free_ char *ident = NULL, *stem = NULL, *dir = NULL;
	char *out;

	int r = config_identity(c, &ident, &stem);
	if (r < 0)
		return r;
	r = state_dir(&dir);
	if (r < 0)
		return r;
	unsigned long long id = (unsigned long long)XXH64(ident, strlen(ident), 0);
	if (asprintf(&out, "%s/%s-%016llx.db", dir, *stem ? stem : "fsd", id) < 0)
		return -ENOMEM;
	*ret = out;
	return 0;
}

/* ---- printing the effective configuration ---- */

/* A duration in the largest unit that holds it exactly, so that printing
 * and parsing again gives the same nanoseconds; hours below a week read
 * better than days ("24h", "48h", "7d"). */
static const char *format_duration_exact(char *buf, size_t len, int64_t ns)
{
	static const struct {
		const char *unit;
		int64_t ns;
	} units[] = {
	    {"d", 86400000000000LL}, {"h", 3600000000000LL}, {"m", 60000000000LL},
	    {"s", 1000000000LL},     {"ms", 1000000LL},	     {"us", 1000LL},
	};
	for (size_t i = 0; ns != 0 && i < ELEMENTSOF(units); i++)
		if (ns % units[i].ns == 0 && !(i == 0 && ns < 7 * units[0].ns)) {
			snprintf(buf, len, "%lld%s", (long long)(ns / units[i].ns), units[i].unit);
			return buf;
		}
	snprintf(buf, len, ns == 0 ? "0s" : "%lldns", (long long)ns);
	return buf;
}

/* Where a long value may be cut: one blank between two words, and no
 * '#', ';' or '[' after it (a continuation line starting so would read
 * as a comment or a header). Reading joins the pieces with one blank. */
static bool can_cut(const char *s, size_t i)
{
	return s[i] == ' ' && i > 0 && !isspace((unsigned char)s[i - 1]) && s[i + 1] &&
	       !isspace((unsigned char)s[i + 1]) && !strchr("#;[", s[i + 1]);
}

/* A value that may span lines (SQL, raw sections), printed from column
 * `width` on: one longer than a line may hold goes out over continuation
 * lines. */
static void print_long_value(FILE *f, size_t width, const char *value)
{
	for (const char *s = value;;) {
		size_t n = strlen(s), cut = 0;
		if (width + n <= PRINT_WRAP) {
			fputs(s, f);
			break;
		}
		for (size_t i = 1; i + 1 < n && (i + width <= PRINT_WRAP || !cut); i++)
			if (can_cut(s, i))
				cut = i;
		if (!cut) {
			fputs(s, f);
			break;
		}
		fwrite(s, 1, cut, f);
		fputs("\n    ", f);
		s += cut + 1;
		width = 4;
	}
	fputc('\n', f);
}

static void print_long(FILE *f, const char *key, const char *value)
{
	fprintf(f, "%s = ", key);
	print_long_value(f, strlen(key) + 3, value);
}

static void print_strv(FILE *f, const char *key, char *const *v)
{
	for (size_t i = 0; v && v[i]; i++)
		fprintf(f, "%s = %s\n", key, v[i]);
}

static void print_sqlv(FILE *f, const char *key, char *const *v)
{
	for (size_t i = 0; v && v[i]; i++)
		print_long(f, key, v[i]);
}

static void print_root(FILE *f, const struct config_root *r)
{
	fprintf(f, "\n[root %s]\npath = %s\nclass = %s\nkey = %s\n", r->name, r->path,
		root_class_to_string(r->class), key_kind_to_string(r->key));
	if (r->key_regex)
		fprintf(f, "key-regex = %s\n", r->key_regex);
	if (r->source)
		fprintf(f, "source = %s\n", r->source);
	print_strv(f, "exclude", r->exclude);
	print_strv(f, "protect", r->protect);
	if (r->marker)
		fprintf(f, "marker = %s\n", r->marker);
	fprintf(f, "one-file-system = %s\n", r->one_file_system ? "yes" : "no");
}

static void print_source(FILE *f, const struct config_source *s)
{
	char buf[64];

	fprintf(f, "\n[source %s]\nurl = %s\n", s->name, s->url);
	if (s->owners)
		print_long(f, "owners", s->owners);
	print_sqlv(f, "live", s->live);
	print_sqlv(f, "live-text", s->live_text);
	fprintf(f, "key-pattern = %s\n", s->key_pattern ? s->key_pattern : "uuid");
	print_sqlv(f, "remove", s->remove);
	snprintf(buf, sizeof buf, "%g", s->min_ratio);
	if (strtod(buf, NULL) != s->min_ratio)
		snprintf(buf, sizeof buf, "%.17g", s->min_ratio);
	fprintf(f, "min-ratio = %s\n", buf);
	fprintf(f, "busy-timeout = %s\n",
		format_duration_exact(buf, sizeof buf, (int64_t)s->busy_timeout_ms * 1000000));
}

static void print_vectors(FILE *f, const struct config_vectors *v)
{
	fprintf(f, "\n[vectors %s]\ntype = %s\n", v->name, v->type);
	if (v->path)
		fprintf(f, "path = %s\n", v->path);
	if (v->url)
		fprintf(f, "url = %s\n", v->url);
	if (v->source)
		fprintf(f, "source = %s\n", v->source);
	for (size_t i = 0; i < v->n_collections; i++) {
		fprintf(f, "collection = %s ", v->collections[i].pattern);
		print_long_value(f, strlen("collection = ") + strlen(v->collections[i].pattern) + 1,
				 v->collections[i].query);
	}
}

static void print_section(FILE *f, const struct config_section *s)
{
	fputc('\n', f);
	sec_label(f, s);
	fputc('\n', f);
	for (size_t i = 0; i < s->n_kv; i++)
		print_long(f, s->kv[i].key, s->kv[i].value);
}

int config_print(const struct config *c, FILE *f)
{
	char buf[64];

	fprintf(f, "# effective configuration of %s\n", c->file);
	if (c->catalog)
		fprintf(f, "\n[catalog]\npath = %s\n", c->catalog);
	fprintf(f, "\n[defaults]\ngrace = %s\n",
		format_duration_exact(buf, sizeof buf, c->grace_ns));
	if (c->n_maps > 0)
		fputs("\n[paths]\n", f);
	for (size_t i = 0; i < c->n_maps; i++)
		fprintf(f, "map = %s => %s\n", c->maps[i].from, c->maps[i].to);
	for (size_t i = 0; i < c->n_sources; i++)
		print_source(f, &c->sources[i]);
	for (size_t i = 0; i < c->n_roots; i++)
		print_root(f, &c->roots[i]);
	for (size_t i = 0; i < c->n_vectors; i++)
		print_vectors(f, &c->vectors[i]);
	for (size_t i = 0; i < c->n_sections; i++)
		print_section(f, &c->sections[i]);
	fflush(f);
	return ferror(f) ? -EIO : 0;
}
