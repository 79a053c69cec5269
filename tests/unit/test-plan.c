/* The planner: each rule kind, the never-plan guarantees (referenced,
 * protected, young, quarantined, failed source), totals and the circuit
 * breaker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "reaper/plan.h"

#define S 1000000000LL
#define H (3600 * S)
#define D (24 * H)
static const int64_t NOW = 1795435200LL * S;

static char *protect_models[] = {(char *)"models", NULL};
static struct config_root roots[] = {
	{.name = (char *)"uploads", .path = (char *)"/d/uploads", .class = ROOT_UPLOAD,
	 .key = KEY_REGEX, .source = (char *)"webui"},
	{.name = (char *)"cache", .path = (char *)"/d/cache", .class = ROOT_CACHE,
	 .protect = protect_models},
	{.name = (char *)"backups", .path = (char *)"/d/backups", .class = ROOT_BACKUP},
};
static struct config_source sources[] = {{.name = (char *)"webui", .url = (char *)"sqlite:///x"}};

struct fx {
	struct config cfg;
	struct config_section sec[4];
	struct rules *rs;
};

/* Sections given as NULL-separated "key=value" lists, NULL-NULL ended. */
static void setup_rules(struct fx *fx, const char *const *spec)
{
	size_t ns = 0;
	memset(fx, 0, sizeof *fx);
	while (*spec) {
		struct config_section *s = &fx->sec[ns++];
		s->type = (char *)"rule";
		s->name = (char *)*spec++;
		s->line = 1;
		s->kv = calloc(16, sizeof *s->kv);
		while (*spec) {
			const char *eq = strchr(*spec, '=');
			s->kv[s->n_kv++] = (struct config_kv){strndup(*spec, (size_t)(eq - *spec)),
							      strdup(eq + 1), 2};
			spec++;
		}
		spec++;
	}
	fx->cfg = (struct config){.file = (char *)"t.conf", .roots = roots, .n_roots = 3,
				  .sources = sources, .n_sources = 1, .sections = fx->sec,
				  .n_sections = ns};
	char *msg = NULL;
	int r = rules_parse(&fx->cfg, &fx->rs, &msg);
	if (r < 0)
		fail_msg("%s", msg);
}

static void teardown_rules(struct fx *fx)
{
	for (size_t i = 0; i < 4; i++) {
		for (size_t k = 0; k < fx->sec[i].n_kv; k++) {
			free(fx->sec[i].kv[k].key);
			free(fx->sec[i].kv[k].value);
		}
		free(fx->sec[i].kv);
	}
	rules_free(fx->rs);
}

static struct plan_file file(const char *path, const char *key, int64_t age, enum plan_ref ref)
{
	return (struct plan_file){.path = path, .path_len = strlen(path), .key = key, .size = 100,
				  .mtime_ns = NOW - age, .ctime_ns = NOW - age, .ref = ref,
				  .ino = 1};
}

static bool has(const struct plan *pl, const char *path)
{
	for (size_t i = 0; i < pl->n_actions; i++)
		if (pl->actions[i].path && streq(pl->actions[i].path, path))
			return true;
	return false;
}

/* The action for path; fails the test (and returns a blank) if none. */
static const struct plan_action *find(const struct plan *pl, const char *path)
{
	static const struct plan_action blank = {.reason = (char *)""};
	for (size_t i = 0; i < pl->n_actions; i++)
		if (pl->actions[i].path && streq(pl->actions[i].path, path))
			return &pl->actions[i];
	fail_msg("no action for %s", path);
	return &blank;
}

static struct plan *run(struct fx *fx, size_t root, const struct plan_file *f, size_t n,
			bool failed, uint64_t fs_free)
{
	struct planner *p = NULL;
	struct plan *pl = NULL;
	assert_int_equal(planner_new(&fx->cfg, fx->rs, NOW, &p), 0);
	assert_int_equal(planner_root_begin(p, root, 7, fs_free, 1000, failed), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(planner_add_file(p, &f[i]), 0);
	assert_int_equal(planner_root_end(p), 0);
	assert_int_equal(planner_finish(p, &pl), 0);
	return pl;
}

static const char *const orphans[] = {"orphans", "roots=uploads", "unreferenced=yes", NULL, NULL};

static void test_unreferenced(void **state)
{
	struct fx fx;
	setup_rules(&fx, orphans);
	struct plan_file f[] = {
		file("a_old.pdf", "a", 3 * D, PLAN_REF_NONE),
		file("b_young.pdf", "b", 2 * H, PLAN_REF_NONE),
		file("c_held.pdf", "c", 30 * D, PLAN_REF_HELD),
		file("d_owned.pdf", "d", 30 * D, PLAN_REF_OWNED_DEAD),
		file(".fsd-quarantine/1/e.pdf", "e", 30 * D, PLAN_REF_NONE),
		file("f_nokey", NULL, 30 * D, PLAN_REF_NONE),
	};
	struct plan *pl = run(&fx, 0, f, ELEMENTSOF(f), false, 0);
	assert_int_equal(pl->n_actions, 1);
	const struct plan_action *a = find(pl, "a_old.pdf");
	assert_int_equal(a->kind, PLAN_REMOVE_FILE);
	assert_true(a->quarantine);
	assert_int_equal(a->root_id, 7);
	assert_non_null(strstr(a->reason, "no row owns key 'a'"));
	assert_non_null(strstr(a->reason, "grace"));
	assert_int_equal(pl->kept_by_grace, 1);
	assert_int_equal(pl->rules[0].files, 1);
	assert_int_equal(pl->rules[0].bytes, 100);
	assert_int_equal(pl->roots[0].files_present, 6);
	plan_free(pl);
	/* A failed source: nothing at all. */
	pl = run(&fx, 0, f, ELEMENTSOF(f), true, 0);
	assert_int_equal(pl->n_actions, 0);
	plan_free(pl);
	teardown_rules(&fx);
}

static void test_grace_by_mtime(void **state)
{
	struct fx fx;
	setup_rules(&fx, orphans);
	struct plan_file f[2] = {file("a_x", "a", 10 * D, PLAN_REF_NONE),
				 file("b_x", "b", 20 * H, PLAN_REF_NONE)};
	f[0].ctime_ns = NOW - H; /* back-dated: the mtime decides, as in the audit */
	f[1].ctime_ns = NOW - 30 * D;
	struct plan *pl = run(&fx, 0, f, 2, false, 0);
	assert_int_equal(pl->n_actions, 1);
	assert_true(has(pl, "a_x"));
	assert_int_equal(pl->kept_by_grace, 1);
	plan_free(pl);
	teardown_rules(&fx);
}

static void test_grace_restarts_when_dereferenced(void **state)
{
	struct fx fx;
	setup_rules(&fx, orphans);
	struct plan_file f[2] = {file("a_x", "a", 10 * D, PLAN_REF_NONE),
				 file("b_x", "b", 10 * D, PLAN_REF_NONE)};
	f[0].unref_since_ns = NOW - 2 * H; /* was referenced until two hours ago */
	f[1].unref_since_ns = NOW - 3 * D; /* unreferenced for three days */
	struct plan *pl = run(&fx, 0, f, 2, false, 0);
	assert_int_equal(pl->n_actions, 1);
	assert_true(has(pl, "b_x"));
	assert_non_null(strstr(find(pl, "b_x")->reason, "unreferenced for 3d"));
	assert_int_equal(pl->kept_by_grace, 1);
	plan_free(pl);
	teardown_rules(&fx);
}

static void test_age_rules_never_take_owned(void **state)
{
	static const char *const spec[] = {"old", "roots=uploads", "older-than=1d", NULL, NULL};
	struct fx fx;
	setup_rules(&fx, spec);
	struct plan_file f[] = {file("a", "a", 9 * D, PLAN_REF_OWNED_DEAD),
				file("b", "b", 9 * D, PLAN_REF_HELD),
				file("c", "c", 9 * D, PLAN_REF_NONE)};
	struct plan *pl = run(&fx, 0, f, 3, false, 0);
	assert_int_equal(pl->n_actions, 1);
	assert_true(has(pl, "c"));
	plan_free(pl);
	teardown_rules(&fx);
}

static void test_older_than_and_protect(void **state)
{
	static const char *const spec[] = {"audio", "classes=cache", "older-than=30d",
					   "match=audio", "quarantine=no", NULL, NULL};
	struct fx fx;
	setup_rules(&fx, spec);
	struct plan_file f[] = {
		file("audio/speech/x.mp3", NULL, 31 * D, PLAN_REF_UNKNOWN),
		file("audio/speech/y.mp3", NULL, 29 * D, PLAN_REF_UNKNOWN),
		file("models/m.bin", NULL, 300 * D, PLAN_REF_UNKNOWN),
		file("image/z.png", NULL, 300 * D, PLAN_REF_UNKNOWN),
		file("audio/future.mp3", NULL, -5 * D, PLAN_REF_UNKNOWN),
	};
	struct plan *pl = run(&fx, 1, f, ELEMENTSOF(f), false, 0);
	assert_int_equal(pl->n_actions, 1);
	assert_true(has(pl, "audio/speech/x.mp3"));
	assert_false(pl->actions[0].quarantine);
	assert_non_null(strstr(pl->actions[0].reason, "older-than 30d"));
	plan_free(pl);
	teardown_rules(&fx);
}

static void test_expire_rows(void **state)
{
	static const char *const spec[] = {"expire", "roots=uploads", "expire-rows=30d", NULL,
					   NULL};
	struct fx fx;
	setup_rules(&fx, spec);
	struct plan_file f[] = {
		file("a_old", "a", 40 * D, PLAN_REF_OWNED_DEAD),
		file("b_young", "b", 40 * D, PLAN_REF_OWNED_DEAD),
		file("c_held", "c", 40 * D, PLAN_REF_HELD),
		file("d_none", "d", 40 * D, PLAN_REF_NONE),
	};
	f[1].owner_created_ns = NOW - 2 * D;
	struct plan *pl = run(&fx, 0, f, ELEMENTSOF(f), false, 0);
	assert_int_equal(pl->n_actions, 1);
	assert_int_equal(pl->actions[0].kind, PLAN_REMOVE_FILE_ROWS);
	assert_string_equal(pl->actions[0].key, "a");
	assert_int_equal(pl->rules[0].rows, 1);
	plan_free(pl);
	teardown_rules(&fx);
}

static void test_keep_daily_grouped(void **state)
{
	static const char *const spec[] = {"dumps", "roots=backups", "keep-daily=2",
					   "group=^([a-z]+)-", NULL, NULL};
	struct fx fx;
	setenv("TZ", "UTC", 1);
	setup_rules(&fx, spec);
	struct plan_file f[] = {
		file("web-1.sql", NULL, 1 * D, PLAN_REF_UNKNOWN),
		file("web-2.sql", NULL, 2 * D, PLAN_REF_UNKNOWN),
		file("web-3.sql", NULL, 3 * D, PLAN_REF_UNKNOWN),
		file("web-4.sql", NULL, 4 * D, PLAN_REF_UNKNOWN),
		file("pg-1.sql", NULL, 5 * D, PLAN_REF_UNKNOWN),
		file("pg-2.sql", NULL, 6 * D, PLAN_REF_UNKNOWN),
	};
	struct plan *pl = run(&fx, 2, f, ELEMENTSOF(f), false, 0);
	/* web: 1 and 2 kept by days, 4 kept as the oldest is not needed
	 * (count reached), so 3 and 4 go; pg: both kept. */
	assert_int_equal(pl->n_actions, 2);
	assert_true(has(pl, "web-3.sql"));
	assert_true(has(pl, "web-4.sql"));
	assert_non_null(strstr(find(pl, "web-3.sql")->reason, "group 'web'"));
	plan_free(pl);
	teardown_rules(&fx);
}

static void test_max_size_oldest_first(void **state)
{
	static const char *const spec[] = {"quota", "roots=cache", "max-size=250", NULL, NULL};
	struct fx fx;
	setup_rules(&fx, spec);
	struct plan_file f[] = {
		file("n1", NULL, 1 * D, PLAN_REF_UNKNOWN), file("n2", NULL, 2 * D, PLAN_REF_UNKNOWN),
		file("n3", NULL, 3 * D, PLAN_REF_UNKNOWN), file("n4", NULL, 4 * D, PLAN_REF_UNKNOWN),
		file("models/big", NULL, 9 * D, PLAN_REF_UNKNOWN),
	};
	struct plan *pl = run(&fx, 1, f, ELEMENTSOF(f), false, 0);
	/* 400 bytes (protected not counted), quota 250: n4 then n3 go. */
	assert_int_equal(pl->n_actions, 2);
	assert_true(has(pl, "n4"));
	assert_true(has(pl, "n3"));
	assert_non_null(strstr(find(pl, "n4")->reason, "over max-size"));
	plan_free(pl);
	teardown_rules(&fx);
}

static void test_min_free(void **state)
{
	static const char *const spec[] = {"space", "roots=cache", "min-free=50%", NULL, NULL};
	struct fx fx;
	setup_rules(&fx, spec);
	struct plan_file f[] = {file("a", NULL, 1 * D, PLAN_REF_UNKNOWN),
				file("b", NULL, 2 * D, PLAN_REF_UNKNOWN),
				file("c", NULL, 3 * D, PLAN_REF_UNKNOWN)};
	struct plan *pl = run(&fx, 1, f, 3, false, 400); /* want 500 of 1000 free */
	assert_int_equal(pl->n_actions, 1);
	assert_true(has(pl, "c"));
	plan_free(pl);
	pl = run(&fx, 1, f, 3, false, 600);
	assert_int_equal(pl->n_actions, 0);
	plan_free(pl);
	teardown_rules(&fx);
}

static void test_breaker(void **state)
{
	struct fx fx;
	size_t root = 99;
	setup_rules(&fx, orphans);
	struct plan_file f[40];
	char names[40][16];
	for (int i = 0; i < 40; i++) {
		snprintf(names[i], sizeof names[i], "f%d", i);
		f[i] = file(names[i], names[i], 3 * D, i < 25 ? PLAN_REF_NONE : PLAN_REF_HELD);
	}
	struct plan *pl = run(&fx, 0, f, 40, false, 0);
	assert_int_equal(pl->n_actions, 25);
	assert_int_equal(plan_breaker_max_delete(pl, &fx.cfg, fx.rs, &root), 1);
	assert_int_equal(root, 0);
	plan_free(pl);
	pl = run(&fx, 0, f, 15, false, 0);
	assert_int_equal(plan_breaker_max_delete(pl, &fx.cfg, fx.rs, &root), 0);
	plan_free(pl);
	teardown_rules(&fx);
	assert_true(breaker_ratio_ok(0, 0, 0.5));
	assert_true(breaker_ratio_ok(1000, 500, 0.5));
	assert_false(breaker_ratio_ok(1000, 499, 0.5));
}

static void test_vectors_and_rows(void **state)
{
	static const char *const spec[] = {"vec", "vectors=dead orphans", NULL,
					   "chats", "source=webui", "rows=SELECT id FROM chat", NULL,
					   NULL};
	struct fx fx;
	struct planner *p = NULL;
	struct plan *pl = NULL;
	setup_rules(&fx, spec);
	assert_int_equal(planner_new(&fx.cfg, fx.rs, NOW, &p), 0);
	assert_int_equal(planner_add_vector(p, "chroma", 0, "file-abc", "cid", "abc", 12, 0), 0);
	assert_int_equal(planner_add_vector(p, "chroma", 1, NULL, "segdir", NULL, 0, 4096), 0);
	assert_int_equal(planner_add_vector(p, "chroma", 3, "user-memory-x", "id", NULL, 3, 0), 0);
	assert_int_equal(planner_add_row_key(p, 1, "chat-1"), 0);
	assert_int_equal(planner_finish(p, &pl), 0);
	assert_int_equal(pl->n_actions, 3);
	assert_int_equal(pl->actions[0].kind, PLAN_REMOVE_COLLECTION);
	assert_int_equal(pl->actions[1].kind, PLAN_REMOVE_VECTOR_DIR);
	assert_int_equal(pl->actions[2].kind, PLAN_REMOVE_ROWS);
	assert_int_equal(pl->rules[0].vectors, 13);
	assert_int_equal(pl->bytes, 4096);
	plan_free(pl);
	teardown_rules(&fx);
}

static void test_row_rule_takes_its_files(void **state)
{
	static const char *const spec[] = {"old-files", "source=webui",
					   "rows=SELECT id FROM file WHERE created_at < 0", NULL,
					   NULL};
	struct fx fx;
	struct planner *p = NULL;
	struct plan *pl = NULL;
	setup_rules(&fx, spec);
	assert_int_equal(planner_new(&fx.cfg, fx.rs, NOW, &p), 0);
	assert_int_equal(planner_add_row_key(p, 0, "k1"), 0);
	assert_int_equal(planner_add_row_key(p, 0, "k2"), 0);
	assert_int_equal(planner_add_row_key(p, 0, "k3"), 0);
	assert_int_equal(planner_root_begin(p, 0, 7, 0, 0, false), 0);
	struct plan_file f1 = file("k1_a", "k1", 1 * H, PLAN_REF_OWNED_DEAD);
	struct plan_file f2 = file("k2_b", "k2", 1 * H, PLAN_REF_HELD);
	assert_int_equal(planner_add_file(p, &f1), 0);
	assert_int_equal(planner_add_file(p, &f2), 0);
	assert_int_equal(planner_root_end(p), 0);
	assert_int_equal(planner_finish(p, &pl), 0);
	/* k1: file and rows together; k2: its file is live, rows only; k3: rows only. */
	assert_int_equal(pl->n_actions, 3);
	assert_int_equal(pl->actions[0].kind, PLAN_REMOVE_FILE_ROWS);
	assert_string_equal(pl->actions[0].key, "k1");
	assert_int_equal(pl->actions[1].kind, PLAN_REMOVE_ROWS);
	assert_string_equal(pl->actions[1].key, "k2");
	assert_int_equal(pl->actions[2].kind, PLAN_REMOVE_ROWS);
	assert_string_equal(pl->actions[2].key, "k3");
	plan_free(pl);
	teardown_rules(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unreferenced),
		cmocka_unit_test(test_grace_by_mtime),
		cmocka_unit_test(test_age_rules_never_take_owned),
		cmocka_unit_test(test_grace_restarts_when_dereferenced),
		cmocka_unit_test(test_older_than_and_protect),
		cmocka_unit_test(test_expire_rows),
		cmocka_unit_test(test_keep_daily_grouped),
		cmocka_unit_test(test_max_size_oldest_first),
		cmocka_unit_test(test_min_free),
		cmocka_unit_test(test_breaker),
		cmocka_unit_test(test_vectors_and_rows),
		cmocka_unit_test(test_row_rule_takes_its_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
