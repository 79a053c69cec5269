/* fsdctl config check|show: validates a configuration (a file or a preset
 * expanded for a data directory) and prints the effective configuration,
 * as config text that reads back the same, or as JSON. */
#include "common/log.h"
#include "common/parse.h"
#include "reaper/rules.h"
#include "tools/commands.h"

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: fsdctl config check [--config FILE | --preset NAME --data-dir DIR]\n"
	    "       fsdctl config show  [--config FILE | --preset NAME --data-dir DIR] [--json]\n"
	    "\n"
	    "check: reads the configuration and reports every problem as FILE:LINE: ...;\n"
	    "       exit 0 when it is valid, 2 otherwise.\n"
	    "show:  prints the effective configuration (presets expanded, defaults filled\n"
	    "       in) as config text that 'fsdctl config check' accepts again.\n"
	    "Presets: ");
	for (const char *const *p = config_presets(); *p; p++)
		fprintf(f, "%s%s", p == config_presets() ? "" : ", ", *p);
	fprintf(f, ". See fsd.conf(5).\n");
}

static void json_str(FILE *f, const char *s)
{
	if (s)
		json_print_string(f, s, strlen(s));
	else
		fputs("null", f);
}

static void json_key(FILE *f, bool *first, const char *key)
{
	if (!*first)
		fputc(',', f);
	*first = false;
	json_str(f, key);
	fputc(':', f);
}

static void json_kstr(FILE *f, bool *first, const char *key, const char *value)
{
	json_key(f, first, key);
	json_str(f, value);
}

static void json_kstrv(FILE *f, bool *first, const char *key, char *const *v)
{
	json_key(f, first, key);
	fputc('[', f);
	for (size_t i = 0; v && v[i]; i++) {
		if (i)
			fputc(',', f);
		json_str(f, v[i]);
	}
	fputc(']', f);
}

static void json_root(FILE *f, const struct config_root *r)
{
	bool first = true;
	fputc('{', f);
	json_kstr(f, &first, "name", r->name);
	json_kstr(f, &first, "path", r->path);
	json_kstr(f, &first, "class", root_class_to_string(r->class));
	json_kstr(f, &first, "key", key_kind_to_string(r->key));
	json_kstr(f, &first, "key_regex", r->key_regex);
	json_kstr(f, &first, "source", r->source);
	json_kstrv(f, &first, "exclude", r->exclude);
	json_kstrv(f, &first, "protect", r->protect);
	json_kstr(f, &first, "marker", r->marker);
	json_key(f, &first, "one_file_system");
	fputs(r->one_file_system ? "true" : "false", f);
	fprintf(f, ",\"line\":%d}", r->line);
}

static void json_source(FILE *f, const struct config_source *s)
{
	bool first = true;
	fputc('{', f);
	json_kstr(f, &first, "name", s->name);
	json_kstr(f, &first, "url", s->url);
	json_kstr(f, &first, "owners", s->owners);
	json_kstrv(f, &first, "live", s->live);
	json_kstrv(f, &first, "live_text", s->live_text);
	json_kstr(f, &first, "key_pattern", s->key_pattern);
	json_kstrv(f, &first, "remove", s->remove);
	fprintf(f, ",\"min_ratio\":%.17g,\"busy_timeout_ms\":%d,\"line\":%d}", s->min_ratio,
		s->busy_timeout_ms, s->line);
}

static void json_vectors(FILE *f, const struct config_vectors *v)
{
	bool first = true;
	fputc('{', f);
	json_kstr(f, &first, "name", v->name);
	json_kstr(f, &first, "type", v->type);
	json_kstr(f, &first, "path", v->path);
	json_kstr(f, &first, "url", v->url);
	json_kstr(f, &first, "source", v->source);
	json_key(f, &first, "collections");
	fputc('[', f);
	for (size_t i = 0; i < v->n_collections; i++) {
		bool cfirst = true;
		fputs(i ? ",{" : "{", f);
		json_kstr(f, &cfirst, "pattern", v->collections[i].pattern);
		json_kstr(f, &cfirst, "query", v->collections[i].query);
		fprintf(f, ",\"line\":%d}", v->collections[i].line);
	}
	fprintf(f, "],\"line\":%d}", v->line);
}

static void json_section(FILE *f, const struct config_section *s)
{
	bool first = true;
	fputc('{', f);
	json_kstr(f, &first, "type", s->type);
	json_kstr(f, &first, "name", s->name);
	fprintf(f, ",\"line\":%d,\"keys\":[", s->line);
	for (size_t i = 0; i < s->n_kv; i++) {
		bool kfirst = true;
		fputs(i ? ",{" : "{", f);
		json_kstr(f, &kfirst, "key", s->kv[i].key);
		json_kstr(f, &kfirst, "value", s->kv[i].value);
		fprintf(f, ",\"line\":%d}", s->kv[i].line);
	}
	fputs("]}", f);
}

#define JSON_ARRAY(f, name, arr, n, fn)                                                            \
	do {                                                                                       \
		fputs(",\"" name "\":[", f);                                                       \
		for (size_t _i = 0; _i < (n); _i++) {                                              \
			if (_i)                                                                    \
				fputc(',', f);                                                     \
			fn(f, &(arr)[_i]);                                                         \
		}                                                                                  \
		fputc(']', f);                                                                     \
	} while (0)

static void json_map(FILE *f, const struct config_map *m)
{
	bool first = true;
	fputc('{', f);
	json_kstr(f, &first, "from", m->from);
	json_kstr(f, &first, "to", m->to);
	fprintf(f, ",\"line\":%d}", m->line);
}

static int show_json(const struct config *c, const char *catalog)
{
	bool first = true;
	fputc('{', stdout);
	json_kstr(stdout, &first, "file", c->file);
	json_kstr(stdout, &first, "preset", c->preset);
	json_kstr(stdout, &first, "catalog", catalog);
	fprintf(stdout, ",\"grace_s\":%lld", (long long)(c->grace_ns / 1000000000LL));
	JSON_ARRAY(stdout, "maps", c->maps, c->n_maps, json_map);
	JSON_ARRAY(stdout, "sources", c->sources, c->n_sources, json_source);
	JSON_ARRAY(stdout, "roots", c->roots, c->n_roots, json_root);
	JSON_ARRAY(stdout, "vectors", c->vectors, c->n_vectors, json_vectors);
	JSON_ARRAY(stdout, "sections", c->sections, c->n_sections, json_section);
	fputs("}\n", stdout);
	return fflush(stdout) == 0 ? 0 : -EIO;
}

static int config_show(struct fsdctl *ctx)
{
	_cleanup_free_ char *def = NULL;
	const char *catalog = ctx->catalog_path ? ctx->catalog_path : ctx->cfg->catalog;
	int r;

	if (!catalog && config_default_catalog(ctx->cfg, &def) >= 0)
		catalog = def;
	if (ctx->json)
		r = show_json(ctx->cfg, catalog);
	else {
		if (ctx->catalog_path)
			printf("# catalog (--catalog): %s\n", catalog);
		else if (def)
			printf("# catalog (default place): %s\n", catalog);
		r = config_print(ctx->cfg, stdout);
	}
	if (r < 0)
		return log_error_errno(r, "Failed to print the configuration: %m");
	return 0;
}

/* The parser has checked everything but the [rule] sections, which the
 * reaper reads: check them the way `fsdctl reap` will. */
static int config_check(struct fsdctl *ctx)
{
	_cleanup_free_ char *msg = NULL;
	struct rules *rules = NULL;

	int r = rules_parse(ctx->cfg, &rules, &msg);
	rules_free(rules);
	if (r < 0) {
		if (msg)
			fprintf(stderr, "%s%s", msg,
				*msg && msg[strlen(msg) - 1] != '\n' ? "\n" : "");
		else
			log_error_errno(r, "Failed to check the rules: %m");
		return EXIT_ERROR;
	}
	printf("%s: ok\n", ctx->cfg->file);
	return EXIT_CLEAN;
}

int cmd_config(struct fsdctl *ctx, int argc, char **argv)
{
	static const struct option options[] = {
	    FSDCTL_COMMON_LONGOPTS,
	    {},
	};
	int c, r;

	while ((c = getopt_long(argc, argv, FSDCTL_COMMON_SHORTOPTS, options, NULL)) >= 0) {
		if (c == 'h') {
			usage(stdout);
			return EXIT_CLEAN;
		}
		r = fsdctl_common_option(ctx, c, optarg);
		if (r == 0) {
			usage(stderr);
			return EXIT_ERROR;
		}
		if (r < 0)
			return EXIT_ERROR;
	}
	if (optind + 1 != argc || (!streq(argv[optind], "check") && !streq(argv[optind], "show"))) {
		usage(stderr);
		return EXIT_ERROR;
	}
	if (fsdctl_load_config(ctx) < 0)
		return EXIT_ERROR;
	if (streq(argv[optind], "show"))
		return config_show(ctx) < 0 ? EXIT_ERROR : EXIT_CLEAN;
	return config_check(ctx);
}
