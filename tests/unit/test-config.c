/* Unit tests of the configuration reader: the typed sections, every kind
 * of error with its line, continuation and long lines, the open-webui
 * preset (its upload-name regex included), printing that reads back the
 * same, path maps and the default catalog place. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <regex.h>
#include <sys/stat.h>

#include "common/config.h"
#include "common/util.h"

static struct config *load_ok(const char *text)
{
	struct config *c = NULL;
	char *err = NULL;
	int r = config_load_string(text, "t.conf", &c, &err);
	if (r < 0)
		print_error("unexpected errors:\n%s", strempty(err));
	assert_int_equal(r, 0);
	assert_null(err);
	assert_non_null(c);
	return c;
}

/* Loads text that must fail and returns the error report. */
static char *load_bad(const char *text)
{
	struct config *c = NULL;
	char *err = NULL;
	assert_int_equal(config_load_string(text, "t.conf", &c, &err), -EINVAL);
	assert_null(c);
	assert_non_null(err);
	return err;
}

static void assert_has(const char *haystack, const char *needle)
{
	if (!strstr(haystack, needle))
		fail_msg("'%s' not found in:\n%s", needle, haystack);
}

static size_t count_lines(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static const char full[] = "# a full configuration\n"
			   "[catalog]\n"
			   "path = /var/lib/fsd//test.db\n"
			   "[defaults]\n"
			   "grace = 36h\n"
			   "[paths]\n"
			   "map = /app/backend/data => /srv/webui/\n"
			   "map = /app => /opt/app\n"
			   "[source db]\n"
			   "url = sqlite:///srv/webui/webui.db\n"
			   "owners = SELECT id, path FROM file\n"
			   "live = SELECT file_id FROM a\n"
			   "live = SELECT file_id FROM b\n"
			   "remove = DELETE FROM file WHERE id = :key\n"
			   "min-ratio = 25%\n"
			   "busy-timeout = 1500ms\n"
			   "[root up]\n"
			   "path = /srv/webui/./uploads/\n"
			   "class = upload\n"
			   "key-regex = ^([0-9a-f]+)_\n"
			   "source = db\n"
			   "exclude = tmp/**\n"
			   "protect = keep/*\n"
			   "protect = *.lock\n"
			   "marker = .mounted\n"
			   "one-file-system = no\n"
			   "[vectors v]\n"
			   "type = chroma\n"
			   "path = /srv/webui/vector_db\n"
			   "source = db\n"
			   "collection = file-{} owners\n"
			   "collection = {} SELECT id FROM knowledge\n"
			   "[rule old]\n"
			   "roots = up\n"
			   "older-than = 30d\n"
			   "[daemon]\n"
			   "socket = /run/fsd.sock\n";

static void test_typed_sections(void **state)
{
	struct config *c = load_ok(full);

	assert_string_equal(c->catalog, "/var/lib/fsd/test.db");
	assert_true(c->grace_ns == 36LL * 3600 * 1000000000LL);
	assert_int_equal(c->n_maps, 2);
	assert_string_equal(c->maps[0].to, "/srv/webui");
	assert_int_equal(c->maps[0].line, 7);

	const struct config_source *s = config_find_source(c, "db");
	assert_non_null(s);
	assert_string_equal(s->url, "sqlite:///srv/webui/webui.db");
	assert_int_equal(strv_length(s->live), 2);
	assert_null(s->live_text);
	assert_string_equal(s->key_pattern, "uuid");
	assert_true(s->min_ratio == 0.25);
	assert_int_equal(s->busy_timeout_ms, 1500);
	assert_int_equal(s->line, 9);

	const struct config_root *r = config_find_root(c, "up");
	assert_non_null(r);
	assert_string_equal(r->path, "/srv/webui/uploads");
	assert_int_equal(r->class, ROOT_UPLOAD);
	assert_int_equal(r->key, KEY_REGEX); /* implied by key-regex */
	assert_string_equal(r->source, "db");
	assert_int_equal(strv_length(r->protect), 2);
	assert_string_equal(r->marker, ".mounted");
	assert_false(r->one_file_system);
	assert_null(config_find_root(c, "nope"));

	assert_int_equal(c->n_vectors, 1);
	assert_int_equal(c->vectors[0].n_collections, 2);
	assert_string_equal(c->vectors[0].collections[0].pattern, "file-{}");
	assert_string_equal(c->vectors[0].collections[0].query, "owners");
	assert_string_equal(c->vectors[0].collections[1].query, "SELECT id FROM knowledge");

	assert_int_equal(c->n_sections, 2);
	assert_string_equal(c->sections[0].type, "rule");
	assert_string_equal(c->sections[0].name, "old");
	assert_int_equal(c->sections[0].n_kv, 2);
	assert_int_equal(c->sections[0].kv[1].line, 35);
	assert_string_equal(c->sections[1].type, "daemon");
	assert_null(c->sections[1].name);
	config_free(c);
}

static void test_defaults(void **state)
{
	struct config *c = load_ok("[root c]\npath = /var/cache/app\nclass = cache\n"
				   "[source s]\nurl = postgresql://u@h/db\n");
	assert_null(c->catalog);
	assert_true(c->grace_ns == 24LL * 3600 * 1000000000LL);
	assert_int_equal(c->roots[0].key, KEY_NONE);
	assert_true(c->roots[0].one_file_system);
	assert_true(c->sources[0].min_ratio == 0.5);
	assert_int_equal(c->sources[0].busy_timeout_ms, 5000);
	config_free(c);
}

/* Every mistake is reported, each with its line, in file order. */
static void test_errors_collected(void **state)
{
	char *err = load_bad("[root uploads]\n"		   /* 1 */
			     "path = uploads\n"		   /* 2 */
			     "class = foo\n"		   /* 3 */
			     "clas = upload\n"		   /* 4 */
			     "key = regex\n"		   /* 5 */
			     "key-regex = ([a-z\n"	   /* 6 */
			     "source = nosuch\n"	   /* 7 */
			     "[root top]\n"		   /* 8 */
			     "path = /\n"		   /* 9 */
			     "class = cache\n"		   /* 10 */
			     "[source s]\n"		   /* 11 */
			     "url = mysql://h/db\n"	   /* 12 */
			     "min-ratio = 2\n"		   /* 13 */
			     "busy-timeout = soon\n"	   /* 14 */
			     "remove = DELETE FROM file\n" /* 15 */
			     "owners = DELETE FROM file\n" /* 16 */
			     "[defaults]\n"		   /* 17 */
			     "grace = 1 day\n"		   /* 18 */
			     "[nonsense]\n"		   /* 19 */
			     "[roots x]\n"		   /* 20 */
			     "[rule]\n"			   /* 21 */
			     "[root top]\n"		   /* 22 */
			     "no equals sign here\n"	   /* 23 */
			     "[unclosed\n");		   /* 24 */
	assert_has(err,
		   "t.conf:2: [root uploads] path: expected an absolute path, got 'uploads'\n");
	assert_has(err, "t.conf:3: [root uploads] class: expected upload|cache|log|backup|temp, "
			"got 'foo'\n");
	assert_has(err, "t.conf:4: [root uploads] clas: unknown key; did you mean 'class'?\n");
	assert_has(err, "t.conf:6: [root uploads] key-regex: expected a POSIX extended regular "
			"expression, got '([a-z'");
	assert_has(err, "t.conf:7: [root uploads] source: no [source nosuch] is defined\n");
	assert_has(err, "t.conf:9: [root top] path: the root directory '/' cannot be a root");
	assert_has(err, "t.conf:12: [source s] url: expected sqlite:///ABSOLUTE/PATH or "
			"postgresql://..., got 'mysql://h/db'\n");
	assert_has(err, "t.conf:13: [source s] min-ratio:");
	assert_has(err, "t.conf:14: [source s] busy-timeout: expected a duration");
	assert_has(err, "t.conf:15: [source s] remove: the statement must use :key");
	assert_has(err, "t.conf:16: [source s] owners: expected a SELECT statement");
	assert_has(err, "t.conf:18: [defaults] grace: expected a duration above zero such as 24h");
	assert_has(err, "t.conf:19: [nonsense]: unknown section");
	assert_has(err, "t.conf:20: [roots x]: unknown section; did you mean [root]?\n");
	assert_has(err, "t.conf:21: [rule]: needs a name: [rule NAME]\n");
	assert_has(err, "t.conf:22: [root top]: defined twice (first at line 8)\n");
	assert_has(err, "t.conf:23: expected 'key = value'");
	assert_has(err, "t.conf:24: section header without ']'");
	/* a bad value is reported once, not again as "missing" */
	assert_null(strstr(err, "missing 'class'"));
	assert_null(strstr(err, "missing 'path'"));
	assert_null(strstr(err, "missing 'url'"));
	assert_int_equal(count_lines(err), 18);
	/* file order */
	assert_true(strstr(err, "t.conf:2:") < strstr(err, "t.conf:24:"));
	assert_true(strstr(err, "t.conf:7:") < strstr(err, "t.conf:9:"));
	free(err);
}

static void test_missing_and_cross(void **state)
{
	char *err = load_bad("[root a]\n"
			     "source = s\n"
			     "[source s]\n"
			     "live = SELECT 1\n"
			     "[root b]\n"
			     "path = /srv/a/b\n"
			     "class = temp\n"
			     "[root c]\n"
			     "path = /srv/a\n"
			     "class = log\n"
			     "[vectors v]\n"
			     "type = chroma\n"
			     "collection = x-{}\n"
			     "[vectors w]\n"
			     "type = pgvector\n"
			     "path = /x\n"
			     "source = nope\n");
	assert_has(err, "t.conf:1: [root a]: missing 'path'");
	assert_has(err, "t.conf:1: [root a]: missing 'class'");
	assert_has(err, "t.conf:1: [root a]: source = s needs a 'key'");
	assert_has(err, "t.conf:2: [root a] source: [source s] has no 'owners' query");
	assert_has(err, "t.conf:3: [source s]: missing 'url'");
	assert_has(err, "t.conf:6: [root b] path: /srv/a/b is inside [root c] (line 8); roots "
			"must not overlap\n");
	assert_has(err, "t.conf:11: [vectors v]: type = chroma needs 'path'");
	assert_has(err, "t.conf:11: [vectors v]: missing 'source'");
	assert_has(err, "t.conf:13: [vectors v] collection: expected 'PATTERN QUERY'");
	assert_has(err, "t.conf:14: [vectors w]: 'path' is for type = chroma");
	assert_has(err, "t.conf:17: [vectors w] source: no [source nope] is defined");
	free(err);

	err = load_bad("[root a]\npath = /srv/x\nclass = cache\n"
		       "[root b]\npath = /srv//x/\nclass = cache\n");
	assert_has(err, "t.conf:5: [root b] path: /srv/x is the same directory as [root a]");
	free(err);

	err = load_bad("[root a]\npath = /srv/../etc\nclass = cache\nkey = path\n"
		       "key-regex = x\nmarker = ../m\nexclude = /abs\none-file-system = maybe\n"
		       "path = /srv/b\n");
	assert_has(err, "t.conf:2: [root a] path: '..' is not allowed");
	assert_has(err, "t.conf:1: [root a]: 'key-regex' is only used with key = regex");
	assert_has(err, "t.conf:6: [root a] marker: expected a path relative to the root");
	assert_has(err, "t.conf:7: [root a] exclude: expected a pattern relative to the root");
	assert_has(err, "t.conf:8: [root a] one-file-system: expected yes|no, got 'maybe'");
	assert_has(err, "t.conf:9: [root a] path: given twice (first at line 2)");
	free(err);

	err = load_bad("[catalog x]\n[defaults]\ngrace = 1h\n[catalog]\npath = db.sqlite\n"
		       "[source s]\nurl = sqlite://relative.db\nkey-pattern = (\n"
		       "[paths]\nmap = /a -> /b\nmap = rel => /b\n[root bad name]\n");
	assert_has(err, "t.conf:1: [catalog x]: takes no name: [catalog]");
	assert_has(err, "t.conf:5: [catalog] path: expected an absolute path");
	assert_has(err, "t.conf:7: [source s] url: expected sqlite:///ABSOLUTE/PATH (three "
			"slashes)");
	assert_has(err, "t.conf:8: [source s] key-pattern: expected a POSIX extended regular");
	assert_has(err, "t.conf:10: [paths] map: expected 'APP_PATH => HOST_PATH'");
	assert_has(err, "t.conf:11: [paths] map: expected two absolute paths");
	assert_has(err, "t.conf:12: [root bad name]: names are letters");
	free(err);

	err = load_bad("[source s]\nurl = sqlite:///d.db\n"
		       "owners = SELECT id, path FROM file; DELETE FROM file\n"
		       "live = SELECT ';' FROM x; SELECT 1;\n"
		       "remove = ;\n"
		       "live-text = ;\n"
		       "[vectors v]\ntype = chroma\npath = /v\nsource = s\n"
		       "collection = f-{} SELECT 1; SELECT 2\n");
	assert_has(err, "t.conf:3: [source s] owners: one SQL statement per value");
	assert_has(err, "t.conf:4: [source s] live: one SQL statement per value");
	assert_has(err, "t.conf:5: [source s] remove: the statement must use :key");
	assert_has(err, "t.conf:6: [source s] live-text: expected a SELECT statement");
	assert_has(err, "t.conf:11: [vectors v] collection: one SQL statement per value");
	assert_int_equal(count_lines(err), 5);
	free(err);

	err = load_bad("[paths]\nmap = /app => /a\nmap = /app/ => /b\n"
		       "[source s]\nurl = sqlite:///d.db\n"
		       "[vectors pg]\ntype = pgvector\nsource = s\n");
	assert_has(err, "t.conf:3: [paths] map: /app is mapped twice (first at line 2)");
	assert_has(err, "t.conf:6: [vectors pg]: type = pgvector needs 'url'");
	assert_int_equal(count_lines(err), 2);
	free(err);

	/* an indented key is swallowed by the value above: refused unless SQL */
	err = load_bad("[root a]\n  path = /srv/a\n  class = cache\n"
		       "[source s]\nurl = sqlite:///d.db\n  busy-timeout = 1s\n");
	assert_has(err, "t.conf:3: [root a] path: this indented line continues the value of "
			"'path'; only SQL may span lines");
	assert_has(err, "t.conf:6: [source s] url: this indented line continues");
	free(err);

	/* as inih reads it, an indented header after a key continues the key */
	err = load_bad("[root a]\npath = /srv/a\n  [root b]\nclass = log\n");
	assert_has(err, "t.conf:3: [root a] path: this indented line continues");
	assert_int_equal(count_lines(err), 1);
	free(err);

	err = load_bad("[defaults]\ngrace = 0\n");
	assert_has(err, "t.conf:2: [defaults] grace: expected a duration above zero");
	free(err);

	err = load_bad("grace = 1h\n");
	assert_has(err, "t.conf:1: 'grace' outside any section");
	free(err);
}

/* Indented lines continue the previous value (long SQL); ';' and '#'
 * inside values are kept; lines far beyond inih's default 200 bytes. */
static void test_continuation_and_long_lines(void **state)
{
	char big[5000], text[6000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	snprintf(text, sizeof text,
		 "[source s]\n"
		 "url = sqlite:///d.db\n"
		 "owners = SELECT id, path\n"
		 "   FROM file\n"
		 "\n"
		 "   WHERE id != 'a;b' # not a comment\n"
		 "live = SELECT '%s'\n"
		 "; a comment\n"
		 "# another\n"
		 "live = SELECT 2\n",
		 big);
	struct config *c = load_ok(text);
	assert_string_equal(c->sources[0].owners,
			    "SELECT id, path FROM file WHERE id != 'a;b' # not a comment");
	assert_int_equal(strv_length(c->sources[0].live), 2);
	assert_int_equal(strlen(c->sources[0].live[0]), strlen(big) + 9);
	assert_string_equal(c->sources[0].live[1], "SELECT 2");
	config_free(c);

	/* a trailing ';' is dropped; quoted ones are kept */
	c = load_ok("[source s]\nurl = sqlite:///d.db\nlive = SELECT 'a;' || \"b;\" ; \n"
		    "remove = DELETE FROM t WHERE k = :key;;\n"
		    "[vectors v]\ntype = chroma\npath = /v\nsource = s\n"
		    "collection = f-{} SELECT ';';\n");
	assert_string_equal(c->sources[0].live[0], "SELECT 'a;' || \"b;\"");
	assert_string_equal(c->sources[0].remove[0], "DELETE FROM t WHERE k = :key");
	assert_string_equal(c->vectors[0].collections[0].query, "SELECT ';'");
	config_free(c);
}

static void test_file_io(void **state)
{
	char path[] = "/tmp/test-config.XXXXXX";
	struct config *c = NULL;
	char *err = NULL;
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(config_load("/nonexistent/fsd.conf", &c, &err), -ENOENT);
	assert_null(err);
	assert_int_equal(config_load("/tmp", &c, &err), -EISDIR);
	assert_int_equal(loop_write(fd, "[root a]\0\n", 10), 0);
	assert_int_equal(config_load(path, &c, &err), -EINVAL);
	assert_non_null(err);
	assert_has(err, "contains a NUL byte");
	free(err);
	err = NULL;
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	static const char bom[] = "\xEF\xBB\xBF[root a]\npath=/a\nclass=log\n";
	assert_int_equal(loop_write(fd, bom, strlen(bom)), 0);
	assert_int_equal(config_load(path, &c, &err), 0);
	assert_string_equal(c->file, path);
	assert_string_equal(c->roots[0].path, "/a");
	config_free(c);
	c = NULL;

	/* as root, a file other users may write is refused */
	assert_int_equal(fchmod(fd, 0666), 0);
	if (geteuid() == 0) {
		assert_int_equal(config_load(path, &c, &err), -EPERM);
		assert_has(err, "writable by other users (mode 0666): refusing it as root");
		free(err);
		err = NULL;
		assert_int_equal(fchmod(fd, 0620), 0);
		assert_int_equal(fchown(fd, 0, 0), 0);
		assert_int_equal(config_load(path, &c, &err), 0); /* root's group */
	} else
		assert_int_equal(config_load(path, &c, &err), 0);
	config_free(c);
	close(fd);
	unlink(path);
}

static void test_preset(void **state)
{
	struct config *c = NULL;
	char *err = NULL;

	assert_string_equal(config_presets()[0], "open-webui");
	assert_int_equal(config_load_preset("nope", "/x", &c, &err), -EINVAL);
	assert_has(err, "unknown preset 'nope'");
	free(err);
	err = NULL;
	assert_int_equal(config_load_preset("open-webui", "/srv/a\nb", &c, &err), -EINVAL);
	free(err);
	err = NULL;

	assert_int_equal(config_load_preset("open-webui", "//a/./b/../c/", &c, &err), 0);
	assert_string_equal(c->file, "preset:open-webui:/a/c");
	config_free(c);
	assert_int_equal(config_load_preset("open-webui", "/..", &c, &err), 0);
	assert_string_equal(c->file, "preset:open-webui:/");
	assert_string_equal(c->roots[0].path, "/uploads");
	config_free(c);

	assert_int_equal(config_load_preset("open-webui", "/no/such/dir/", &c, &err), 0);
	assert_string_equal(c->file, "preset:open-webui:/no/such/dir");
	assert_string_equal(c->preset, "open-webui");
	const struct config_root *up = config_find_root(c, "uploads");
	const struct config_root *cache = config_find_root(c, "cache");
	assert_non_null(up);
	assert_non_null(cache);
	assert_string_equal(up->path, "/no/such/dir/uploads");
	assert_int_equal(up->key, KEY_REGEX);
	assert_string_equal(up->source, "webui");
	assert_int_equal(cache->class, ROOT_CACHE);
	assert_int_equal(cache->key, KEY_NONE);
	assert_int_equal(strv_length(cache->protect), 5);
	const struct config_source *s = config_find_source(c, "webui");
	assert_string_equal(s->url, "sqlite:///no/such/dir/webui.db");
	assert_int_equal(strv_length(s->live), 3);
	assert_true(strv_length(s->live_text) >= 9);
	assert_int_equal(strv_length(s->remove), 4);
	assert_string_equal(s->remove[3], "DELETE FROM file WHERE id = :key");
	assert_string_equal(c->vectors[0].path, "/no/such/dir/vector_db");
	assert_string_equal(c->maps[0].from, "/app/backend/data");
	assert_string_equal(c->maps[0].to, "/no/such/dir");
	assert_int_equal(c->n_sections, 3);
	config_free(c);
}

/* The uploads regex captures the uuid of {uuid}_{name}, {uuid}.{ext} and
 * {uuid}, and nothing from other names. */
static void test_preset_upload_regex(void **state)
{
	static const struct {
		const char *name, *key;
	} cases[] = {
	    {"0b7e1c52-9d5f-4a0e-8c3b-2f6a1d9e4b70_report.pdf",
	     "0b7e1c52-9d5f-4a0e-8c3b-2f6a1d9e4b70"},
	    {"0b7e1c52-9d5f-4a0e-8c3b-2f6a1d9e4b70_a_b.c.txt",
	     "0b7e1c52-9d5f-4a0e-8c3b-2f6a1d9e4b70"},
	    {"0b7e1c52-9d5f-4a0e-8c3b-2f6a1d9e4b70.pdf", "0b7e1c52-9d5f-4a0e-8c3b-2f6a1d9e4b70"},
	    {"0b7e1c52-9d5f-4a0e-8c3b-2f6a1d9e4b70", "0b7e1c52-9d5f-4a0e-8c3b-2f6a1d9e4b70"},
	    {"0B7E1C52-9D5F-4A0E-8C3B-2F6A1D9E4B70_x", "0B7E1C52-9D5F-4A0E-8C3B-2F6A1D9E4B70"},
	    {"0b7e1c52-9d5f-4a0e-8c3b-2f6a1d9e4b70x", NULL},
	    {"0b7e1c52-9d5f-4a0e-8c3b-2f6a1d9e4b7_x", NULL},
	    {"x0b7e1c52-9d5f-4a0e-8c3b-2f6a1d9e4b70_x", NULL},
	    {"report.pdf", NULL},
	};
	struct config *c = NULL;
	regex_t re;
	regmatch_t m[2];

	assert_int_equal(config_load_preset("open-webui", "/d", &c, NULL), 0);
	assert_int_equal(regcomp(&re, config_find_root(c, "uploads")->key_regex, REG_EXTENDED), 0);
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		int r = regexec(&re, cases[i].name, 2, m, 0);
		if (!cases[i].key) {
			assert_int_equal(r, REG_NOMATCH);
			continue;
		}
		assert_int_equal(r, 0);
		assert_int_equal(m[1].rm_eo - m[1].rm_so, 36);
		assert_memory_equal(cases[i].name + m[1].rm_so, cases[i].key, 36);
	}
	regfree(&re);
	config_free(c);
}

static char *print_to_string(const struct config *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(config_print(c, f), 0);
	fclose(f);
	/* the first line names the origin, which differs between rounds */
	char *nl = strchr(buf, '\n');
	memmove(buf, nl + 1, strlen(nl + 1) + 1);
	return buf;
}

/* What config_print() writes reads back into the same configuration. */
static void test_print_round_trip(void **state)
{
	struct config *a = NULL, *b = NULL, *d = NULL;

	assert_int_equal(config_load_preset("open-webui", "/srv/webui", &a, NULL), 0);
	char *ta = print_to_string(a);
	b = load_ok(ta);
	char *tb = print_to_string(b);
	assert_string_equal(ta, tb);
	assert_has(ta, "[root uploads]\n");
	assert_has(ta, "grace = 24h\n");
	assert_has(ta, "map = /app/backend/data => /srv/webui\n");
	assert_int_equal(b->n_sections, a->n_sections);

	d = load_ok(full);
	char *td = print_to_string(d);
	struct config *e = load_ok(td);
	char *te = print_to_string(e);
	assert_string_equal(td, te);
	assert_has(td, "min-ratio = 0.25\n");
	assert_has(td, "busy-timeout = 1500ms\n");
	assert_has(td, "grace = 36h\n");
	assert_has(td, "one-file-system = no\n");
	assert_has(td, "[daemon]\nsocket = /run/fsd.sock\n");
	free(ta);
	free(tb);
	free(td);
	free(te);
	config_free(a);
	config_free(b);
	config_free(d);
	config_free(e);
}

/* SQL longer than PRINT_WRAP goes out over continuation lines and reads
 * back the same, also where blanks are doubled or a word starts with '#'. */
static void test_print_long_sql(void **state)
{
	size_t n = 20000;
	char *sql = malloc(n + 64), *text = NULL;
	assert_non_null(sql);
	char *o = stpcpy(sql, "SELECT id FROM t WHERE x IN (");
	for (size_t i = 0; o - sql < (ptrdiff_t)n; i++)
		o += sprintf(o, i % 7 == 3 ? "'a  b', " : i % 5 == 1 ? "#x, " : "[y], ");
	strcpy(o, "1)");
	assert_true(asprintf(&text,
			     "[source s]\nurl = sqlite:///d.db\nlive = %s\n"
			     "[rule r]\nrows = %s\n",
			     sql, sql) > 0);
	struct config *a = load_ok(text);
	char *ta = print_to_string(a);
	size_t longest = 0, cur = 0;
	for (const char *s = ta; *s; s++) {
		cur = *s == '\n' ? 0 : cur + 1;
		longest = MAX(longest, cur);
	}
	assert_true(longest < 4200);
	struct config *b = load_ok(ta);
	assert_string_equal(b->sources[0].live[0], sql);
	assert_string_equal(b->sections[0].kv[0].value, sql);
	config_free(a);
	config_free(b);
	free(ta);
	free(text);
	free(sql);
}

static void test_map_path(void **state)
{
	struct config *c = load_ok("[paths]\n"
				   "map = /app => /opt/app\n"
				   "map = /app/backend/data => /srv/webui\n"
				   "map = /data/ => /\n");
	char *out = NULL;

	assert_int_equal(config_map_path(c, "/app/backend/data/uploads/x_y.pdf", &out), 0);
	assert_string_equal(out, "/srv/webui/uploads/x_y.pdf");
	free(out);
	assert_int_equal(config_map_path(c, "/app/backend/data", &out), 0);
	assert_string_equal(out, "/srv/webui");
	free(out);
	/* component boundaries: /app/backend/database is not under .../data */
	assert_int_equal(config_map_path(c, "/app/backend/database/f", &out), 0);
	assert_string_equal(out, "/opt/app/backend/database/f");
	free(out);
	assert_int_equal(config_map_path(c, "/application/f", &out), 0);
	assert_string_equal(out, "/application/f");
	free(out);
	assert_int_equal(config_map_path(c, "/data/f", &out), 0);
	assert_string_equal(out, "/f");
	free(out);
	out = NULL;
	assert_int_equal(config_map_path(c, "uploads/f", &out), -ENOENT);
	assert_null(out);
	config_free(c);
}

static void test_default_catalog(void **state)
{
	struct config *a = NULL, *b = NULL, *d = NULL;
	char *pa = NULL, *pb = NULL, *pd = NULL;

	setenv("XDG_STATE_HOME", "/tmp/state-test", 1);
	assert_int_equal(config_load_preset("open-webui", "/srv/one", &a, NULL), 0);
	assert_int_equal(config_load_preset("open-webui", "/srv/one/", &b, NULL), 0);
	assert_int_equal(config_load_preset("open-webui", "/srv/two", &d, NULL), 0);
	assert_int_equal(config_default_catalog(a, &pa), 0);
	assert_int_equal(config_default_catalog(b, &pb), 0);
	assert_int_equal(config_default_catalog(d, &pd), 0);
	assert_string_equal(pa, pb);
	assert_string_not_equal(pa, pd);
	assert_non_null(startswith(pa, "/tmp/state-test/fsd/open-webui-"));
	assert_int_equal(strlen(pa), strlen("/tmp/state-test/fsd/open-webui-") + 16 + 3);
	assert_string_equal(pa + strlen(pa) - 3, ".db");
	free(pa);
	free(pb);
	free(pd);
	config_free(a);
	config_free(b);
	config_free(d);

	/* a config file: named after its stem, keyed by its real path */
	struct config *c = load_ok("[defaults]\n");
	free(c->file);
	c->file = strdup("/etc/fsd/../fsd/my.site.conf");
	assert_int_equal(config_default_catalog(c, &pa), 0);
	assert_non_null(startswith(pa, "/tmp/state-test/fsd/my-"));
	free(pa);
	config_free(c);
}

static void test_globs(void **state)
{
	char *none[] = {NULL};
	char g0[] = "embedding/models/**", g1[] = "*.part", g2[] = "audio/speech", g3[] = "tmp";
	char *g[] = {g0, g1, g2, g3, NULL};

	assert_int_equal(config_globs_match(NULL, "a"), 0);
	assert_int_equal(config_globs_match(none, "a"), 0);
	assert_int_equal(config_globs_match(g, "embedding/models/x/y.bin"), 1);
	assert_int_equal(config_globs_match(g, "embedding/models"), 0);
	assert_int_equal(config_globs_match(g, "embedding/other/y.bin"), 0);
	assert_int_equal(config_globs_match(g, "x.part"), 1);
	assert_int_equal(config_globs_match(g, "deep/down/x.part"), 1);
	assert_int_equal(config_globs_match(g, "deep/x.part/inside"), 1);
	assert_int_equal(config_globs_match(g, "x.partial"), 0);
	assert_int_equal(config_globs_match(g, "audio/speech"), 1);
	assert_int_equal(config_globs_match(g, "audio/speech/a.mp3"), 1);
	assert_int_equal(config_globs_match(g, "audio/speeches/a.mp3"), 0);
	assert_int_equal(config_globs_match(g, "x/audio/speech/a.mp3"), 0);
	assert_int_equal(config_globs_match(g, "a/tmp/b"), 1);
	assert_int_equal(config_globs_match(g, "a/tmpx/b"), 0);
	assert_int_equal(config_globs_match(g, "bad\xff\nname.part"), 1);
}

static void test_enum_strings(void **state)
{
	for (int i = 0; i < _ROOT_CLASS_MAX; i++)
		assert_int_equal(root_class_from_string(root_class_to_string(i)), i);
	for (int i = 0; i < _KEY_KIND_MAX; i++)
		assert_int_equal(key_kind_from_string(key_kind_to_string(i)), i);
	assert_int_equal(root_class_from_string("Upload"), -EINVAL);
	assert_int_equal(key_kind_from_string(NULL), -EINVAL);
	assert_null(root_class_to_string(_ROOT_CLASS_MAX));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_typed_sections),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_errors_collected),
	    cmocka_unit_test(test_missing_and_cross),
	    cmocka_unit_test(test_continuation_and_long_lines),
	    cmocka_unit_test(test_file_io),
	    cmocka_unit_test(test_preset),
	    cmocka_unit_test(test_preset_upload_regex),
	    cmocka_unit_test(test_print_round_trip),
	    cmocka_unit_test(test_print_long_sql),
	    cmocka_unit_test(test_map_path),
	    cmocka_unit_test(test_default_catalog),
	    cmocka_unit_test(test_globs),
	    cmocka_unit_test(test_enum_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
