/* Parsing and validation of [rule NAME] sections (see rules.h). Each key
 * is handled by one small parser in a table; a rule is then checked as a
 * whole (a condition, a binding, combinations that make sense), and every
 * problem is reported with the file and line it came from. */
#include "reaper/rules.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/parse.h"
#include "common/util.h"

#define DEFAULT_GRACE_NS (24LL * 3600 * 1000000000LL)

struct errs {
	FILE *f;
	char *buf;
	size_t len;
	unsigned n;
	const char *file;
};

_printf_(4, 5) static void err(struct errs *e, int line, const struct rule *r, const char *fmt, ...)
{
	va_list ap;

	e->n++;
	if (!e->f)
		return;
	fprintf(e->f, "%s:%d: rule %s: ", e->file, line, r->name ? r->name : "?");
	va_start(ap, fmt);
	vfprintf(e->f, fmt, ap);
	va_end(ap);
	fputc('\n', e->f);
}

static const char *const time_names[_RULE_TIME_MAX] = {
	[RULE_TIME_MTIME] = "mtime",
	[RULE_TIME_ATIME] = "atime",
	[RULE_TIME_CTIME] = "ctime",
	[RULE_TIME_BTIME] = "btime",
};

const char *rule_time_to_string(enum rule_time t)
{
	return t < _RULE_TIME_MAX ? time_names[t] : "?";
}

/* Appends each whitespace-separated word of v to *list. */
static int split_words(char ***list, const char *v)
{
	_cleanup_free_ char *copy = strdup(v);
	char *save = NULL;
	int r;

	if (!copy)
		return -ENOMEM;
	for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		r = strv_extend(list, w);
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_count(const char *v, unsigned *ret)
{
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (errno || end == v || *end || n > 1000000 || v[0] == '-')
		return -EINVAL;
	*ret = (unsigned)n;
	return 0;
}

/* "10%" or a plain count/size. */
static int parse_percent(const char *v, unsigned *ret)
{
	size_t l = strlen(v);
	char buf[16];
	unsigned p;

	if (l < 2 || l >= sizeof buf || v[l - 1] != '%')
		return -ENOENT;
	memcpy(buf, v, l - 1);
	buf[l - 1] = 0;
	if (parse_count(buf, &p) < 0 || p == 0 || p > 100)
		return -EINVAL;
	*ret = p;
	return 0;
}

struct ctx {
	struct errs *e;
	struct rule *r;
	const struct config_kv *kv;
};

#define BAD(c, ...) (err((c)->e, (c)->kv->line, (c)->r, __VA_ARGS__), -EINVAL)

static int set_duration(struct ctx *c, int64_t *dst, bool *has)
{
	int64_t ns;
	if (parse_duration(c->kv->value, &ns) < 0)
		return BAD(c, "%s = '%s' is not a duration; expected e.g. 30d, 24h, 90m",
			   c->kv->key, c->kv->value);
	if (ns <= 0)
		return BAD(c, "%s = %s would match everything; expected a duration above zero",
			   c->kv->key, c->kv->value);
	*dst = ns;
	if (has)
		*has = true;
	return 0;
}

static int set_bool(struct ctx *c, bool *dst)
{
	if (parse_bool(c->kv->value, dst) < 0)
		return BAD(c, "%s = '%s': expected yes or no", c->kv->key, c->kv->value);
	return 0;
}

static int set_keep(struct ctx *c, unsigned *dst)
{
	if (parse_count(c->kv->value, dst) < 0)
		return BAD(c, "%s = '%s': expected a count (0-1000000)", c->kv->key, c->kv->value);
	c->r->has_keep = true;
	return 0;
}

static int set_string(struct ctx *c, char **dst)
{
	if (*dst)
		return BAD(c, "%s given twice", c->kv->key);
	*dst = strdup(c->kv->value);
	return *dst ? 0 : -ENOMEM;
}

static int set_timestamp(struct ctx *c)
{
	for (int t = 0; t < _RULE_TIME_MAX; t++)
		if (streq(c->kv->value, time_names[t])) {
			c->r->timestamp = (enum rule_time)t;
			return 0;
		}
	return BAD(c, "timestamp = '%s': expected mtime, atime, ctime or btime", c->kv->value);
}

static int set_order(struct ctx *c)
{
	if (streq(c->kv->value, "oldest"))
		c->r->order = RULE_ORDER_OLDEST;
	else if (streq(c->kv->value, "lru"))
		c->r->order = RULE_ORDER_LRU;
	else
		return BAD(c, "order = '%s': expected oldest or lru", c->kv->value);
	return 0;
}

static int set_size(struct ctx *c, uint64_t *dst, unsigned *pct)
{
	int r = pct ? parse_percent(c->kv->value, pct) : -ENOENT;
	if (r == 0)
		return 0;
	if (r == -ENOENT && parse_size(c->kv->value, dst) == 0 && *dst > 0)
		return 0;
	return BAD(c, "%s = '%s': expected a size above zero (e.g. 10G)%s", c->kv->key,
		   c->kv->value, pct ? " or a percentage (e.g. 10%)" : "");
}

static int set_max_delete(struct ctx *c)
{
	int r = parse_percent(c->kv->value, &c->r->max_delete_percent);
	unsigned n;
	if (r == 0)
		return 0;
	if (r == -ENOENT && parse_count(c->kv->value, &n) == 0 && n > 0) {
		c->r->max_delete = n;
		return 0;
	}
	return BAD(c, "max-delete = '%s': expected a count or a percentage of a root (e.g. 500 or 20%%)",
		   c->kv->value);
}

static int set_vectors(struct ctx *c)
{
	_cleanup_strv_free_ char **w = NULL;
	int r = split_words(&w, c->kv->value);
	if (r < 0)
		return r;
	for (char **p = w; p && *p; p++) {
		if (streq(*p, "dead"))
			c->r->vectors |= RULE_VECTORS_DEAD;
		else if (streq(*p, "orphans"))
			c->r->vectors |= RULE_VECTORS_ORPHANS;
		else
			return BAD(c, "vectors = '%s': expected 'dead', 'orphans' or both", *p);
	}
	return 0;
}

static int set_group(struct ctx *c)
{
	int r = set_string(c, &c->r->group);
	if (r < 0)
		return r;
	if (regcomp(&c->r->group_re, c->r->group, REG_EXTENDED) != 0)
		return BAD(c, "group = '%s' is not a POSIX extended regular expression",
			   c->r->group);
	c->r->group_compiled = true;
	return 0;
}

static int parse_kv(struct ctx *c)
{
	struct rule *r = c->r;
	const char *k = c->kv->key;

	if (streq(k, "roots") || streq(k, "root"))
		return split_words(&r->roots, c->kv->value);
	if (streq(k, "classes") || streq(k, "class"))
		return split_words(&r->classes, c->kv->value);
	if (streq(k, "match"))
		return split_words(&r->match, c->kv->value);
	if (streq(k, "exclude"))
		return split_words(&r->exclude, c->kv->value);
	if (streq(k, "protect"))
		return split_words(&r->protect, c->kv->value);
	if (streq(k, "older-than"))
		return set_duration(c, &r->older_than_ns, &r->has_older_than);
	if (streq(k, "timestamp"))
		return set_timestamp(c);
	if (streq(k, "unreferenced"))
		return set_bool(c, &r->unreferenced);
	if (streq(k, "grace"))
		return set_duration(c, &r->grace_ns, NULL);
	if (streq(k, "expire-rows"))
		return set_duration(c, &r->expire_rows_ns, &r->has_expire_rows);
	if (streq(k, "keep-last"))
		return set_keep(c, &r->keep.last);
	if (streq(k, "keep-hourly"))
		return set_keep(c, &r->keep.hourly);
	if (streq(k, "keep-daily"))
		return set_keep(c, &r->keep.daily);
	if (streq(k, "keep-weekly"))
		return set_keep(c, &r->keep.weekly);
	if (streq(k, "keep-monthly"))
		return set_keep(c, &r->keep.monthly);
	if (streq(k, "keep-yearly"))
		return set_keep(c, &r->keep.yearly);
	if (streq(k, "keep-within")) {
		r->has_keep = true;
		return set_duration(c, &r->keep.within_ns, NULL);
	}
	if (streq(k, "group"))
		return set_group(c);
	if (streq(k, "max-size"))
		return set_size(c, &r->max_size, NULL);
	if (streq(k, "order"))
		return set_order(c);
	if (streq(k, "min-free"))
		return set_size(c, &r->min_free, &r->min_free_percent);
	if (streq(k, "rows"))
		return set_string(c, &r->rows);
	if (streq(k, "source"))
		return set_string(c, &r->source);
	if (streq(k, "rows-age") || streq(k, "cutoff"))
		return set_duration(c, &r->rows_age_ns, NULL);
	if (streq(k, "vectors"))
		return set_vectors(c);
	if (streq(k, "store"))
		return set_string(c, &r->store);
	if (streq(k, "quarantine"))
		return set_bool(c, &r->quarantine);
	if (streq(k, "max-delete"))
		return set_max_delete(c);
	return BAD(c, "unknown key '%s'; expected one of roots, classes, match, exclude, protect, "
		      "older-than, timestamp, unreferenced, grace, expire-rows, keep-last, "
		      "keep-hourly, keep-daily, keep-weekly, keep-monthly, keep-yearly, keep-within, "
		      "group, max-size, order, min-free, rows, source, rows-age, vectors, store, "
		      "quarantine, max-delete",
		   k);
}

static bool has_condition(const struct rule *r)
{
	return r->has_older_than || r->unreferenced || r->has_expire_rows || r->has_keep ||
	       r->max_size || r->min_free || r->min_free_percent || r->rows || r->vectors;
}

static bool is_file_rule(const struct rule *r)
{
	return r->has_older_than || r->unreferenced || r->has_expire_rows || r->has_keep ||
	       r->max_size || r->min_free || r->min_free_percent;
}

static void check_roots(struct errs *e, const struct rule *r, const struct config *cfg)
{
	for (char **p = r->roots; p && *p; p++) {
		const struct config_root *root = config_find_root(cfg, *p);
		if (!root)
			err(e, r->line, r, "roots names '%s', which is no [root] section", *p);
		else if (isempty(root->path) || streq(root->path, "/"))
			err(e, r->line, r, "root '%s' is '/': refusing a rule over the whole system",
			    *p);
	}
	for (char **p = r->classes; p && *p; p++)
		if (root_class_from_string(*p) < 0)
			err(e, r->line, r,
			    "classes names '%s'; expected upload, cache, log, backup or temp", *p);
}

/* The sources a rule's roots point at must exist for reference rules. */
static void check_sources(struct errs *e, const struct rule *r, const struct config *cfg)
{
	if (r->source && !config_find_source(cfg, r->source))
		err(e, r->line, r, "source '%s' is no [source] section", r->source);
	if (!r->unreferenced && !r->has_expire_rows)
		return;
	for (size_t i = 0; i < cfg->n_roots; i++) {
		const struct config_root *root = &cfg->roots[i];
		if (!rule_applies_to_root(r, root))
			continue;
		if (!root->source && !r->source)
			err(e, r->line, r,
			    "%s needs references, but root '%s' has no source = NAME",
			    r->unreferenced ? "unreferenced" : "expire-rows", root->name);
		else if (root->key == KEY_NONE)
			err(e, r->line, r,
			    "%s needs keys, but root '%s' has key = none",
			    r->unreferenced ? "unreferenced" : "expire-rows", root->name);
	}
}

static void check_rule(struct errs *e, struct rule *r, const struct config *cfg)
{
	if (!has_condition(r))
		err(e, r->line, r,
		    "has no condition, so it would remove everything it binds to; expected "
		    "older-than, unreferenced, expire-rows, keep-*, max-size, min-free, rows or "
		    "vectors");
	if (is_file_rule(r) && !r->roots && !r->classes)
		err(e, r->line, r, "binds to no files; expected roots = NAME... or classes = ...");
	if (r->has_keep && retain_policy_empty(&r->keep))
		err(e, r->line, r, "keep-* all zero would drop every backup; keep at least one");
	if (r->has_keep && (r->max_size || r->unreferenced || r->has_expire_rows))
		err(e, r->line, r, "keep-* cannot be combined with max-size, unreferenced or "
				   "expire-rows; write two rules");
	if (r->max_size && (r->min_free || r->min_free_percent))
		err(e, r->line, r, "max-size and min-free in one rule; write two rules");
	if (r->group && !r->has_keep)
		err(e, r->line, r, "group = only applies to keep-* rules");
	if (r->grace_ns && !r->unreferenced)
		err(e, r->line, r, "grace = only applies with unreferenced = yes");
	if (!r->quarantine && (r->has_expire_rows || r->rows))
		err(e, r->line, r, "quarantine = no with %s: rows are removed with their files, "
				   "and only a quarantined file can be restored with them",
		    r->rows ? "rows" : "expire-rows");
	if (r->rows && !r->source)
		err(e, r->line, r, "rows = needs source = NAME (the database to run it on)");
	if (r->rows && !strstr(r->rows, ":cutoff") && r->rows_age_ns)
		err(e, r->line, r, "rows-age is set but the rows query has no :cutoff");
	if (r->rows && strstr(r->rows, ":cutoff") && !r->rows_age_ns)
		err(e, r->line, r, "the rows query uses :cutoff; expected rows-age = AGE");
	check_roots(e, r, cfg);
	check_sources(e, r, cfg);
	if (r->unreferenced && !r->grace_ns)
		r->grace_ns = cfg->grace_ns > 0 ? cfg->grace_ns : DEFAULT_GRACE_NS;
}

static void rule_done(struct rule *r)
{
	free(r->name);
	strv_free(r->roots);
	strv_free(r->classes);
	strv_free(r->match);
	strv_free(r->exclude);
	strv_free(r->protect);
	free(r->group);
	if (r->group_compiled)
		regfree(&r->group_re);
	free(r->rows);
	free(r->source);
	free(r->store);
}

void rules_free(struct rules *rs)
{
	if (!rs)
		return;
	for (size_t i = 0; i < rs->n; i++)
		rule_done(&rs->v[i]);
	free(rs->v);
	free(rs);
}

static int parse_section(struct errs *e, const struct config *cfg, const struct config_section *s,
			 struct rule *r)
{
	int ret = 0;

	*r = (struct rule){.line = s->line, .quarantine = true};
	r->name = strdup(s->name ? s->name : "");
	if (!r->name)
		return -ENOMEM;
	if (isempty(s->name))
		err(e, s->line, r, "a [rule] section needs a name: [rule NAME]");
	for (size_t i = 0; i < s->n_kv; i++) {
		struct ctx c = {.e = e, .r = r, .kv = &s->kv[i]};
		int k = parse_kv(&c);
		if (k == -ENOMEM)
			return k;
		if (k < 0 && ret == 0)
			ret = k;
	}
	check_rule(e, r, cfg);
	return ret;
}

static int rules_append(struct rules *rs, struct errs *e, const struct config *cfg,
			const struct config_section *s)
{
	struct rule *nv = realloc(rs->v, (rs->n + 1) * sizeof *nv);
	if (!nv)
		return -ENOMEM;
	rs->v = nv;
	for (size_t i = 0; i < rs->n; i++)
		if (s->name && streq(rs->v[i].name, s->name))
			err(e, s->line, &rs->v[i], "defined twice (first at line %d)",
			    rs->v[i].line);
	int r = parse_section(e, cfg, s, &rs->v[rs->n]);
	rs->n++; /* even on error, so rules_free() releases it */
	return r == -ENOMEM ? r : 0;
}

static int finish(struct errs *e, int r, char **ret_error)
{
	if (e->f)
		fclose(e->f);
	e->f = NULL;
	if (r >= 0 && e->n)
		r = -EINVAL;
	if (r < 0 && ret_error && e->buf)
		*ret_error = TAKE_PTR(e->buf);
	free(e->buf);
	return r;
}

int rules_parse(const struct config *cfg, struct rules **ret, char **ret_error)
{
	struct errs e = {.file = cfg->file ? cfg->file : "config"};
	struct rules *rs = calloc(1, sizeof *rs);
	int r = 0;

	if (!rs)
		return -ENOMEM;
	e.f = open_memstream(&e.buf, &e.len);
	for (size_t i = 0; i < cfg->n_sections && r >= 0; i++)
		if (streq_ptr(cfg->sections[i].type, "rule"))
			r = rules_append(rs, &e, cfg, &cfg->sections[i]);
	r = finish(&e, r, ret_error);
	if (r < 0) {
		rules_free(rs);
		return r;
	}
	*ret = rs;
	return 0;
}

/* Text of "key = value" lines into a raw section, for rules built from
 * command-line options. */
static int section_from_text(const char *name, const char *text, struct config_section *s)
{
	_cleanup_free_ char *copy = strdup(text);
	char *save = NULL;
	int line = 0;

	if (!copy)
		return -ENOMEM;
	s->type = (char *)"rule";
	s->name = (char *)name;
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(l, '=');
		line++;
		if (!eq)
			return -EINVAL;
		char *k = l, *v = eq + 1, *end = eq;
		while (end > k && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		*end = 0;
		while (*v == ' ' || *v == '\t')
			v++;
		struct config_kv *nv = realloc(s->kv, (s->n_kv + 1) * sizeof *nv);
		if (!nv)
			return -ENOMEM;
		s->kv = nv;
		s->kv[s->n_kv] = (struct config_kv){.key = strdup(k), .value = strdup(v), .line = line};
		if (!s->kv[s->n_kv].key || !s->kv[s->n_kv++].value)
			return -ENOMEM;
	}
	return 0;
}

int rules_add_text(struct rules *rs, const struct config *cfg, const char *name, const char *text,
		   char **ret_error)
{
	struct config_section s = {0};
	struct errs e = {.file = "command line"};
	int r;

	e.f = open_memstream(&e.buf, &e.len);
	r = section_from_text(name, text, &s);
	if (r >= 0)
		r = rules_append(rs, &e, cfg, &s);
	for (size_t i = 0; i < s.n_kv; i++) {
		free(s.kv[i].key);
		free(s.kv[i].value);
	}
	free(s.kv);
	r = finish(&e, r, ret_error);
	if (r < 0 && rs->n > 0 && streq(rs->v[rs->n - 1].name, name)) {
		rule_done(&rs->v[--rs->n]);
	}
	return r;
}

bool rule_applies_to_root(const struct rule *r, const struct config_root *root)
{
	for (char **p = r->roots; p && *p; p++)
		if (streq(*p, root->name))
			return true;
	for (char **p = r->classes; p && *p; p++)
		if (streq(*p, root_class_to_string(root->class)))
			return true;
	return false;
}

/* The one meaning of globs, fsd.conf(5): config_globs_match(). Out of
 * memory counts as a match, which protects and excludes: fail closed. */
static bool globs_match(char *const *globs, const char *path)
{
	return config_globs_match(globs, path) != 0;
}

bool rule_matches_path(const struct rule *r, const char *path)
{
	/* Out of memory selects nothing: a failed match never widens a rule. */
	if (r->match && config_globs_match(r->match, path) <= 0)
		return false;
	return !globs_match(r->exclude, path);
}

bool rules_path_protected(const struct rules *rs, const struct config_root *root,
			  const char *path)
{
	if (globs_match(root->protect, path))
		return true;
	for (size_t i = 0; rs && i < rs->n; i++)
		if (rs->v[i].protect && rule_applies_to_root(&rs->v[i], root) &&
		    globs_match(rs->v[i].protect, path))
			return true;
	return false;
}

int rule_group_of(const struct rule *r, const char *path, char **ret)
{
	regmatch_t m[2];
	char *s;

	if (!r->group_compiled) {
		s = strdup("");
	} else if (regexec(&r->group_re, path, 2, m, 0) != 0) {
		s = strdup(path); /* no match: the file is a group of its own */
	} else {
		int i = m[1].rm_so >= 0 ? 1 : 0;
		s = strndup(path + m[i].rm_so, (size_t)(m[i].rm_eo - m[i].rm_so));
	}
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}
