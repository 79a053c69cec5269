/* Rule parsing and validation: every key, the refusals of empty and
 * over-broad rules with FILE:LINE messages, globs, groups and defaults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "reaper/rules.h"

static struct config_root roots[] = {
	{.name = (char *)"uploads", .path = (char *)"/srv/webui/uploads", .class = ROOT_UPLOAD,
	 .key = KEY_REGEX, .source = (char *)"webui", .line = 3},
	{.name = (char *)"cache", .path = (char *)"/srv/webui/cache", .class = ROOT_CACHE,
	 .key = KEY_NONE, .line = 8},
	{.name = (char *)"slash", .path = (char *)"/", .class = ROOT_TEMP, .line = 12},
	{.name = (char *)"backups", .path = (char *)"/srv/backups", .class = ROOT_BACKUP,
	 .line = 14},
};
static struct config_source sources[] = {
	{.name = (char *)"webui", .url = (char *)"sqlite:///srv/webui/webui.db", .line = 20},
};

/* A config with one [rule NAME] section of "key=value" pairs at lines 30... */
static struct config *cfg_with(const char *name, const char *const *kv)
{
	struct config *c = calloc(1, sizeof *c);
	struct config_section *s = calloc(1, sizeof *s);
	size_t n = 0;
	while (kv[2 * n])
		n++;
	s->type = strdup("rule");
	s->name = name ? strdup(name) : NULL;
	s->line = 29;
	s->kv = calloc(n + 1, sizeof *s->kv);
	for (size_t i = 0; i < n; i++)
		s->kv[i] = (struct config_kv){strdup(kv[2 * i]), strdup(kv[2 * i + 1]), 30 + (int)i};
	s->n_kv = n;
	c->file = strdup("/etc/fsd/fsd.conf");
	c->roots = roots;
	c->n_roots = 4;
	c->sources = sources;
	c->n_sources = 1;
	c->sections = s;
	c->n_sections = 1;
	return c;
}

static void cfg_release(struct config *c)
{
	struct config_section *s = c->sections;
	for (size_t i = 0; i < s->n_kv; i++) {
		free(s->kv[i].key);
		free(s->kv[i].value);
	}
	free(s->kv);
	free(s->type);
	free(s->name);
	free(s);
	free(c->file);
	free(c);
}

/* Parses; returns the error text (malloc'd) or NULL and the rules. */
static char *parse(const char *name, const char *const *kv, struct rules **ret)
{
	struct config *c = cfg_with(name, kv);
	char *msg = NULL;
	int r = rules_parse(c, ret, &msg);
	cfg_release(c);
	if (r < 0) {
		assert_non_null(msg);
		return msg;
	}
	assert_null(msg);
	return NULL;
}

static void expect_error(const char *name, const char *const *kv, const char *needle)
{
	struct rules *rs = NULL;
	char *msg = parse(name, kv, &rs);
	assert_non_null(msg);
	if (!strstr(msg, needle))
		fail_msg("'%s' not in '%s'", needle, msg);
	assert_non_null(strstr(msg, "/etc/fsd/fsd.conf:"));
	free(msg);
	assert_null(rs);
}

static void test_full_rule(void **state)
{
	const char *kv[] = {"roots",     "uploads",  "unreferenced", "yes", "match", "*.pdf *.txt",
			    "protect",   "keep/*",   "quarantine",   "no",  "max-delete", "20%",
			    NULL};
	struct rules *rs = NULL;
	assert_null(parse("orphans", kv, &rs));
	assert_int_equal(rs->n, 1);
	const struct rule *r = &rs->v[0];
	assert_string_equal(r->name, "orphans");
	assert_true(r->unreferenced);
	assert_int_equal(r->grace_ns, 24LL * 3600 * 1000000000LL); /* default grace */
	assert_false(r->quarantine);
	assert_int_equal(r->max_delete_percent, 20);
	assert_true(rule_applies_to_root(r, &roots[0]));
	assert_false(rule_applies_to_root(r, &roots[1]));
	assert_true(rule_matches_path(r, "a/b.pdf"));
	assert_false(rule_matches_path(r, "a/b.doc"));
	assert_true(rules_path_protected(rs, &roots[0], "keep/x/y.pdf"));
	assert_false(rules_path_protected(rs, &roots[0], "other/y.pdf"));
	rules_free(rs);

	/* Globs mean what they mean for the scanner's excludes: a name glob
	 * matches a directory at any depth and covers what is below it. */
	const char *names[] = {"roots", "uploads", "older-than", "1d", "match", "drafts",
			       "exclude", ".git", NULL};
	assert_null(parse("names", names, &rs));
	assert_true(rule_matches_path(&rs->v[0], "drafts/a.txt"));
	assert_true(rule_matches_path(&rs->v[0], "u/7/drafts/a.txt"));
	assert_false(rule_matches_path(&rs->v[0], "u/7/drafts.txt"));
	assert_false(rule_matches_path(&rs->v[0], "u/drafts/.git/HEAD"));
	rules_free(rs);
}

static void test_older_than_timestamps(void **state)
{
	const char *kv[] = {"classes", "cache", "older-than", "30d", "timestamp", "atime",
			    "match", "audio/*", NULL};
	struct rules *rs = NULL;
	assert_null(parse("audio", kv, &rs));
	assert_true(rs->v[0].has_older_than);
	assert_int_equal(rs->v[0].older_than_ns, 30LL * 86400 * 1000000000LL);
	assert_int_equal(rs->v[0].timestamp, RULE_TIME_ATIME);
	assert_true(rule_applies_to_root(&rs->v[0], &roots[1]));
	assert_true(rule_matches_path(&rs->v[0], "audio/speech/x.mp3"));
	assert_false(rule_matches_path(&rs->v[0], "embedding/models/m.bin"));
	rules_free(rs);
	const char *bad[] = {"classes", "cache", "older-than", "30d", "timestamp", "birth", NULL};
	expect_error("audio", bad, ":32: rule audio: timestamp = 'birth'");
}

static void test_keep_and_group(void **state)
{
	const char *kv[] = {"roots", "backups", "keep-daily", "7", "keep-weekly", "4",
			    "keep-within", "2d", "group", "^([a-z]+)-[0-9]+\\.sql", NULL};
	struct rules *rs = NULL;
	char *g = NULL;
	assert_null(parse("dumps", kv, &rs));
	assert_int_equal(rs->v[0].keep.daily, 7);
	assert_int_equal(rs->v[0].keep.weekly, 4);
	assert_int_equal(rule_group_of(&rs->v[0], "webui-20261101.sql", &g), 0);
	assert_string_equal(g, "webui");
	free(g);
	assert_int_equal(rule_group_of(&rs->v[0], "README", &g), 0);
	assert_string_equal(g, "README");
	free(g);
	rules_free(rs);
}

static void test_refuse_no_condition(void **state)
{
	const char *kv[] = {"roots", "uploads", "quarantine", "yes", NULL};
	expect_error("all", kv, ":29: rule all: has no condition");
}

static void test_refuse_slash_root(void **state)
{
	const char *kv[] = {"roots", "slash", "older-than", "1d", NULL};
	expect_error("tmp", kv, "is '/'");
}

static void test_refuse_unknown_root_and_key(void **state)
{
	const char *kv[] = {"roots", "nosuch", "older-than", "1d", NULL};
	expect_error("x", kv, "'nosuch', which is no [root] section");
	const char *kv2[] = {"roots", "cache", "older-then", "1d", NULL};
	expect_error("x", kv2, ":31: rule x: unknown key 'older-then'");
}

static void test_refuse_zero_and_bad_values(void **state)
{
	const char *z[] = {"roots", "cache", "older-than", "0", NULL};
	expect_error("x", z, "above zero");
	const char *d[] = {"roots", "cache", "older-than", "soon", NULL};
	expect_error("x", d, "is not a duration");
	const char *k[] = {"roots", "backups", "keep-daily", "-3", NULL};
	expect_error("x", k, "expected a count");
	const char *k0[] = {"roots", "backups", "keep-daily", "0", NULL};
	expect_error("x", k0, "keep at least one");
	const char *q[] = {"roots", "cache", "older-than", "1d", "quarantine", "maybe", NULL};
	expect_error("x", q, "expected yes or no");
}

static void test_refuse_unreferenced_without_source(void **state)
{
	const char *kv[] = {"roots", "cache", "unreferenced", "yes", NULL};
	expect_error("x", kv, "root 'cache' has no source");
	const char *g[] = {"roots", "cache", "older-than", "1d", "grace", "1h", NULL};
	expect_error("x", g, "grace = only applies");
}

static void test_refuse_combinations(void **state)
{
	const char *kv[] = {"roots", "backups", "keep-last", "3", "max-size", "1G", NULL};
	expect_error("x", kv, "write two rules");
	const char *nb[] = {"older-than", "1d", NULL};
	expect_error("x", nb, "binds to no files");
	const char *nn[] = {"roots", "cache", "older-than", "1d", NULL};
	expect_error(NULL, nn, "needs a name");
}

static void test_rows_rule(void **state)
{
	const char *kv[] = {"source", "webui", "rows",
			    "SELECT id FROM chat WHERE updated_at < :cutoff AND archived = 0",
			    "rows-age", "90d", NULL};
	struct rules *rs = NULL;
	assert_null(parse("old-chats", kv, &rs));
	assert_non_null(rs->v[0].rows);
	assert_int_equal(rs->v[0].rows_age_ns, 90LL * 86400 * 1000000000LL);
	rules_free(rs);
	const char *noq[] = {"roots", "uploads", "expire-rows", "30d", "quarantine", "no", NULL};
	expect_error("x", noq, "only a quarantined file can be restored");
	const char *nos[] = {"rows", "SELECT id FROM chat", NULL};
	expect_error("x", nos, "needs source");
	const char *nc[] = {"source", "webui", "rows", "SELECT id FROM chat WHERE t < :cutoff",
			    NULL};
	expect_error("x", nc, "rows-age");
}

static void test_min_free_and_max_size(void **state)
{
	const char *kv[] = {"roots", "cache", "min-free", "10%", "order", "lru", NULL};
	struct rules *rs = NULL;
	assert_null(parse("space", kv, &rs));
	assert_int_equal(rs->v[0].min_free_percent, 10);
	assert_int_equal(rs->v[0].order, RULE_ORDER_LRU);
	rules_free(rs);
	const char *m[] = {"roots", "cache", "max-size", "2G", NULL};
	assert_null(parse("quota", m, &rs));
	assert_int_equal(rs->v[0].max_size, 2ULL << 30);
	rules_free(rs);
}

static void test_add_text(void **state)
{
	const char *kv[] = {"roots", "cache", "older-than", "1d", NULL};
	struct config *c = cfg_with("a", kv);
	struct rules *rs = NULL;
	char *msg = NULL;
	assert_int_equal(rules_parse(c, &rs, &msg), 0);
	assert_int_equal(rules_add_text(rs, c, "expire", "roots = uploads\nexpire-rows = 30d", &msg),
			 0);
	assert_int_equal(rs->n, 2);
	assert_true(rs->v[1].has_expire_rows);
	assert_int_equal(rules_add_text(rs, c, "bad", "roots = uploads", &msg), -EINVAL);
	assert_non_null(strstr(msg, "command line:"));
	free(msg);
	assert_int_equal(rs->n, 2);
	rules_free(rs);
	cfg_release(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_rule),
		cmocka_unit_test(test_older_than_timestamps),
		cmocka_unit_test(test_keep_and_group),
		cmocka_unit_test(test_refuse_no_condition),
		cmocka_unit_test(test_refuse_slash_root),
		cmocka_unit_test(test_refuse_unknown_root_and_key),
		cmocka_unit_test(test_refuse_zero_and_bad_values),
		cmocka_unit_test(test_refuse_unreferenced_without_source),
		cmocka_unit_test(test_refuse_combinations),
		cmocka_unit_test(test_rows_rule),
		cmocka_unit_test(test_min_free_and_max_size),
		cmocka_unit_test(test_add_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
