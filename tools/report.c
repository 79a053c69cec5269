/* Formatting of `fsdctl audit`: the aligned text report (sections spooled
 * per category to unlinked temporary files, printed in a fixed order at
 * the end) and the streamed JSON document described in docs/json.md. */
#include "tools/report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/hash.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/util.h"
#include "tools/fsdctl.h"

#define NSEC 1000000000LL
#define KEY_WIDTH 36

struct report {
	FILE *out;
	bool json;
	const struct config *cfg;
	int64_t now_ns;
	unsigned mask;
	size_t n_json;        /* findings written (JSON) */
	FILE *spool[_AUDIT_CATEGORY_MAX];
	int w_root, w_source, w_store;
	char **errors;        /* "ENAME\tmessage" */
	int write_error;
};

static const char *const section_titles[_AUDIT_CATEGORY_MAX] = {
	[AUDIT_ORPHAN] = "Orphan files: on disk, owned by no row, older than the grace period",
	[AUDIT_PENDING] = "Pending files: owned by no row yet, younger than the grace period "
			  "(not findings)",
	[AUDIT_DANGLING] = "Dangling rows: the row's file is not on disk",
	[AUDIT_UNREFERENCED] = "Unreferenced rows: owner rows that no live reference holds",
	[AUDIT_CHANGED] = "Changed files: content differs while size and mtime did not",
	[AUDIT_DUPLICATE] = "Duplicates: same content, different paths (the first of a group is "
			    "kept)",
	[AUDIT_VECTOR_COLLECTION] = "Dead vector collections: the row that owned them is gone",
	[AUDIT_VECTOR_DIR] = "Orphan vector index directories: no segment has them",
	[AUDIT_VECTOR_ROWS] = "Orphan embeddings: their segment is gone",
	[AUDIT_VECTOR_UNKNOWN] = "Unknown collections: match no pattern, never reaped (not findings)",
	[AUDIT_UNOWNED_REFERENCED] = "Unowned referenced files: owned by no row, but a live reference "
				     "still holds the key (kept, never reaped)",
};

static const char *const section_headers[_AUDIT_CATEGORY_MAX] = {
	[AUDIT_ORPHAN] = "ROOT\tSIZE\tAGE\tPATH",
	[AUDIT_PENDING] = "ROOT\tSIZE\tAGE\tPATH",
	[AUDIT_DANGLING] = "SOURCE\tKEY\tAGE\tPATH",
	[AUDIT_UNREFERENCED] = "SOURCE\tKEY\tAGE\tSIZE\tPATH",
	[AUDIT_CHANGED] = "ROOT\tSIZE\tAGE\tPATH",
	[AUDIT_DUPLICATE] = "GROUP\tROOT\tSIZE\tPATH",
	[AUDIT_VECTOR_COLLECTION] = "STORE\tEMBEDDINGS\tSIZE\tCOLLECTION / ID",
	[AUDIT_VECTOR_DIR] = "STORE\tEMBEDDINGS\tSIZE\tDIRECTORY",
	[AUDIT_VECTOR_ROWS] = "STORE\tEMBEDDINGS\tSIZE\tSEGMENT",
	[AUDIT_VECTOR_UNKNOWN] = "STORE\tEMBEDDINGS\tCOLLECTION / ID",
	[AUDIT_UNOWNED_REFERENCED] = "ROOT\tSIZE\tAGE\tPATH",
};

/* The order of the text sections and totals: the file categories
 * together, whatever their place in the enum. */
static const enum audit_category text_order[] = {
	AUDIT_ORPHAN,         AUDIT_PENDING,           AUDIT_UNOWNED_REFERENCED,
	AUDIT_DANGLING,       AUDIT_UNREFERENCED,      AUDIT_CHANGED,
	AUDIT_DUPLICATE,      AUDIT_VECTOR_COLLECTION, AUDIT_VECTOR_DIR,
	AUDIT_VECTOR_ROWS,    AUDIT_VECTOR_UNKNOWN,
};
_Static_assert(sizeof(text_order) / sizeof(text_order[0]) == _AUDIT_CATEGORY_MAX,
	       "every category has its place in the text report");

static const char *vector_kind_name(enum vector_finding_kind k)
{
	switch (k) {
	case VECTOR_DEAD_COLLECTION:
		return "dead-collection";
	case VECTOR_ORPHAN_DIR:
		return "orphan-dir";
	case VECTOR_ORPHAN_ROWS:
		return "orphan-rows";
	default:
		return "unknown";
	}
}

/* ---- JSON ---- */

/* Printable ASCII without quotes or backslashes needs no escaping: most
 * names and keys are, and printing them in one piece keeps a million
 * findings cheap. Everything else goes through the careful printers. */
static bool json_plain(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			return false;
	}
	return true;
}

static void json_string(FILE *f, const char *s, size_t len)
{
	if (!json_plain(s, len)) {
		json_print_string(f, s, len);
		return;
	}
	fputc('"', f);
	fwrite(s, 1, len, f);
	fputc('"', f);
}

static void json_name(FILE *f, const char *field, const char *s, size_t len)
{
	if (!json_plain(s, len)) {
		json_print_name_field(f, field, s, len);
		return;
	}
	fprintf(f, "\"%s\":", field);
	json_string(f, s, len);
}

static void json_str(FILE *f, const char *s)
{
	if (s)
		json_string(f, s, strlen(s));
	else
		fputs("null", f);
}

static void json_header(struct report *r)
{
	char when[64];
	FILE *f = r->out;

	fprintf(f, "{\"version\":1,\"generated_at\":\"%s\",\"now\":%lld,\"grace_s\":%lld,\"roots\":[",
		format_time(when, sizeof(when), r->now_ns), (long long)(r->now_ns / NSEC),
		(long long)(r->cfg->grace_ns / NSEC));
	for (size_t i = 0; i < r->cfg->n_roots; i++) {
		const struct config_root *root = &r->cfg->roots[i];
		fprintf(f, "%s{\"name\":", i ? "," : "");
		json_str(f, root->name);
		fputc(',', f);
		json_print_name_field(f, "path", root->path, strlen(root->path));
		fputs(",\"class\":", f);
		json_str(f, root_class_to_string(root->class));
		fputs(",\"key\":", f);
		json_str(f, key_kind_to_string(root->key));
		fputs(",\"source\":", f);
		json_str(f, root->source);
		fputc('}', f);
	}
	fputs("],\n\"findings\":[", f);
}

static void json_field_str(FILE *f, const char *name, const char *s)
{
	if (!s)
		return;
	fprintf(f, ",\"%s\":", name);
	json_string(f, s, strlen(s));
}

static void json_file_fields(FILE *f, const struct audit_finding *x)
{
	json_field_str(f, "root", x->root);
	if (x->path) {
		fputc(',', f);
		json_name(f, "path", x->path, x->path_len);
	}
	if (x->key) {
		fputc(',', f);
		json_name(f, "key", x->key, strlen(x->key));
	}
	if (x->size >= 0)
		fprintf(f, ",\"size\":%lld", (long long)x->size);
	if (x->mtime_ns)
		fprintf(f, ",\"mtime\":%lld,\"mtime_ns\":%lld", (long long)(x->mtime_ns / NSEC),
			(long long)x->mtime_ns);
}

static void json_row_fields(FILE *f, const struct audit_finding *x)
{
	json_field_str(f, "source", x->source);
	if (x->app_path) {
		fputc(',', f);
		json_name(f, "app_path", x->app_path, strlen(x->app_path));
	}
	if (x->created_s >= 0)
		fprintf(f, ",\"created\":%lld", (long long)x->created_s);
	else
		fputs(",\"created\":null", f);
	json_field_str(f, "reason", x->reason);
}

static void json_vector_fields(FILE *f, const struct audit_finding *x)
{
	json_field_str(f, "store", x->store);
	json_field_str(f, "source", x->source);
	json_field_str(f, "kind", vector_kind_name(x->vector_kind));
	if (x->collection) {
		fputc(',', f);
		json_name(f, "collection", x->collection, strlen(x->collection));
	}
	json_field_str(f, "id", x->vector_id);
	json_field_str(f, "key", x->key);
	fprintf(f, ",\"embeddings\":%llu,\"bytes\":%lld", (unsigned long long)x->embeddings,
		(long long)MAX(x->size, 0));
}

static void json_finding(struct report *r, const struct audit_finding *x)
{
	FILE *f = r->out;

	fprintf(f, "%s\n{\"category\":\"%s\"", r->n_json++ ? "," : "",
		audit_category_to_string(x->category));
	switch (x->category) {
	case AUDIT_DANGLING:
	case AUDIT_UNREFERENCED:
		json_row_fields(f, x);
		json_file_fields(f, x);
		break;
	case AUDIT_VECTOR_COLLECTION:
	case AUDIT_VECTOR_DIR:
	case AUDIT_VECTOR_ROWS:
	case AUDIT_VECTOR_UNKNOWN:
		json_vector_fields(f, x);
		break;
	case AUDIT_DUPLICATE: {
		char hex[33];
		hash_to_hex(x->hash, hex);
		fprintf(f, ",\"group\":%llu,\"group_size\":%u,\"group_index\":%u,\"hash\":\"%s\"",
			(unsigned long long)x->group, x->group_size, x->group_index, hex);
		json_file_fields(f, x);
		break;
	}
	default:
		json_file_fields(f, x);
		if (x->category != AUDIT_CHANGED)
			json_field_str(f, "source", x->source);
		break;
	}
	fputc('}', f);
}

/* ---- text ---- */

static void text_age(FILE *f, int64_t now_ns, int64_t then_ns, bool known)
{
	char buf[32];
	fprintf(f, "%-8s", known ? format_duration(buf, sizeof(buf), now_ns - then_ns) : "-");
}

static void text_size(FILE *f, int64_t size)
{
	char buf[32];
	fprintf(f, "%10s", size >= 0 ? format_bytes(buf, sizeof(buf), (uint64_t)size) : "-");
}

static void text_place(FILE *f, const struct audit_finding *x)
{
	if (x->root)
		fprintf(f, "%s:", x->root);
	if (x->path)
		text_print_name(f, x->path, x->path_len);
	else
		fputc('-', f);
}

static void text_key(FILE *f, const char *key)
{
	size_t n = key ? strlen(key) : 1;
	if (key)
		text_print_name(f, key, n);
	else
		fputc('-', f);
	fprintf(f, "%*s", n < KEY_WIDTH ? (int)(KEY_WIDTH - n) : 0, "");
}

static void text_row_line(struct report *r, FILE *f, const struct audit_finding *x)
{
	fprintf(f, "  %-*s  ", r->w_source, strempty(x->source));
	text_key(f, x->key);
	fputs("  ", f);
	text_age(f, r->now_ns, x->created_s * NSEC, x->created_s >= 0);
	fputs("  ", f);
	if (x->category == AUDIT_UNREFERENCED) {
		text_size(f, x->size);
		fputs("  ", f);
	}
	text_place(f, x);
	if (x->reason)
		fprintf(f, "  (%s)", x->reason);
}

static void text_vector_line(struct report *r, FILE *f, const struct audit_finding *x)
{
	fprintf(f, "  %-*s  ", r->w_store, strempty(x->store));
	fprintf(f, "%10llu  ", (unsigned long long)x->embeddings);
	if (x->category != AUDIT_VECTOR_UNKNOWN) {
		text_size(f, x->size);
		fputs("  ", f);
	}
	if (x->collection)
		text_print_name(f, x->collection, strlen(x->collection));
	fprintf(f, "%s%s", x->collection && x->vector_id ? " / " : "", strempty(x->vector_id));
}

static void text_line(struct report *r, FILE *f, const struct audit_finding *x)
{
	switch (x->category) {
	case AUDIT_DANGLING:
	case AUDIT_UNREFERENCED:
		text_row_line(r, f, x);
		break;
	case AUDIT_VECTOR_COLLECTION:
	case AUDIT_VECTOR_DIR:
	case AUDIT_VECTOR_ROWS:
	case AUDIT_VECTOR_UNKNOWN:
		text_vector_line(r, f, x);
		break;
	case AUDIT_DUPLICATE:
		fprintf(f, "  %5llu  %-*s  ", (unsigned long long)x->group, r->w_root,
			strempty(x->root));
		text_size(f, x->size);
		fputs("  ", f);
		text_print_name(f, x->path, x->path_len);
		break;
	default:
		fprintf(f, "  %-*s  ", r->w_root, strempty(x->root));
		text_size(f, x->size);
		fputs("  ", f);
		text_age(f, r->now_ns, x->mtime_ns, x->mtime_ns != 0);
		fputs("  ", f);
		text_print_name(f, x->path, x->path_len);
		break;
	}
	fputc('\n', f);
}

/* The header line's columns padded like the lines below them: a positive
 * width is left-aligned, a negative one right-aligned. */
static void text_header(struct report *r, enum audit_category c)
{
	_cleanup_free_ char *h = strdup(section_headers[c]);
	int widths[8] = {0};
	int n = 0;

	switch (c) {
	case AUDIT_DANGLING:
		memcpy(widths, (int[]){r->w_source, KEY_WIDTH, 8}, 3 * sizeof(int));
		break;
	case AUDIT_UNREFERENCED:
		memcpy(widths, (int[]){r->w_source, KEY_WIDTH, 8, -10}, 4 * sizeof(int));
		break;
	case AUDIT_DUPLICATE:
		memcpy(widths, (int[]){-5, r->w_root, -10}, 3 * sizeof(int));
		break;
	case AUDIT_VECTOR_COLLECTION:
	case AUDIT_VECTOR_DIR:
	case AUDIT_VECTOR_ROWS:
		memcpy(widths, (int[]){r->w_store, -10, -10}, 3 * sizeof(int));
		break;
	case AUDIT_VECTOR_UNKNOWN:
		memcpy(widths, (int[]){r->w_store, -10}, 2 * sizeof(int));
		break;
	default:
		memcpy(widths, (int[]){r->w_root, -10, 8}, 3 * sizeof(int));
		break;
	}
	fputs("  ", r->out);
	for (char *s = h, *tab; s; s = tab ? tab + 1 : NULL, n++) {
		tab = strchr(s, '\t');
		if (tab)
			*tab = 0;
		int w = widths[n];
		if (!tab)
			fputs(s, r->out);
		else if (w >= 0)
			fprintf(r->out, "%-*s  ", w, s);
		else
			fprintf(r->out, "%*s  ", -w, s);
	}
	fputc('\n', r->out);
}

/* ---- the report ---- */

int report_new(FILE *out, bool json, const struct config *cfg, int64_t now_ns,
	       unsigned categories, struct report **ret)
{
	struct report *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	*r = (struct report){
		.out = out,
		.json = json,
		.cfg = cfg,
		.now_ns = now_ns,
		.mask = categories ? categories : AUDIT_ALL_CATEGORIES,
	};
	r->w_root = 4;
	r->w_source = 6;
	r->w_store = 5;
	for (size_t i = 0; i < cfg->n_roots; i++)
		r->w_root = MAX(r->w_root, (int)strlen(cfg->roots[i].name));
	for (size_t i = 0; i < cfg->n_sources; i++)
		r->w_source = MAX(r->w_source, (int)strlen(cfg->sources[i].name));
	for (size_t i = 0; i < cfg->n_vectors; i++)
		r->w_store = MAX(r->w_store, (int)strlen(cfg->vectors[i].name));
	if (json)
		json_header(r);
	*ret = r;
	return 0;
}

void report_free(struct report *r)
{
	if (!r)
		return;
	for (int i = 0; i < _AUDIT_CATEGORY_MAX; i++)
		if (r->spool[i])
			fclose(r->spool[i]);
	strv_free(r->errors);
	free(r);
}

int report_finding(const struct audit_finding *f, void *ud)
{
	struct report *r = ud;

	if (r->json) {
		json_finding(r, f);
		return ferror(r->out) ? -EIO : 0;
	}
	if (!r->spool[f->category]) {
		r->spool[f->category] = tmpfile();
		if (!r->spool[f->category])
			return negative_errno();
	}
	text_line(r, r->spool[f->category], f);
	return ferror(r->spool[f->category]) ? -EIO : 0;
}

void report_error(int error, const char *message, void *ud)
{
	struct report *r = ud;
	_cleanup_free_ char *e = NULL;
	const char *name = strerrorname_np(-error);

	if (asprintf(&e, "%s\t%s", name ? name : "EIO", message) >= 0)
		(void)strv_extend(&r->errors, e);
	log_error("%s", message);
}

static void text_section(struct report *r, enum audit_category c, const struct audit_totals *t)
{
	FILE *s = r->spool[c];
	char buf[4096], bytes[32];
	size_t n;

	if (!s)
		return;
	fprintf(r->out, "%s\n", section_titles[c]);
	if (c == AUDIT_DUPLICATE)
		fprintf(r->out, "  %llu files in %llu group%s, %s reclaimable\n",
			(unsigned long long)t->count[c], (unsigned long long)t->groups,
			t->groups == 1 ? "" : "s", format_bytes(bytes, sizeof(bytes), t->bytes[c]));
	else
		fprintf(r->out, "  %llu found, %s\n", (unsigned long long)t->count[c],
			format_bytes(bytes, sizeof(bytes), t->bytes[c]));
	text_header(r, c);
	rewind(s);
	while ((n = fread(buf, 1, sizeof(buf), s)) > 0)
		fwrite(buf, 1, n, r->out);
	fputc('\n', r->out);
}

static void text_totals(struct report *r, const struct audit_totals *t)
{
	char bytes[32];

	fprintf(r->out, "Totals\n  %-18s  %9s  %10s\n", "CATEGORY", "COUNT", "BYTES");
	for (int i = 0; i < _AUDIT_CATEGORY_MAX; i++) {
		enum audit_category c = text_order[i];
		if (!(r->mask & (1u << c)))
			continue;
		fprintf(r->out, "  %-18s  %9llu  %10s\n", audit_category_to_string(c),
			(unsigned long long)t->count[c], format_bytes(bytes, sizeof(bytes), t->bytes[c]));
	}
	fprintf(r->out, "  %-18s  %9llu\n", "findings", (unsigned long long)t->findings);
}

static void json_finish(struct report *r, const struct audit_totals *t, bool complete)
{
	FILE *f = r->out;

	fputs("\n],\n\"errors\":[", f);
	for (size_t i = 0; r->errors && r->errors[i]; i++) {
		char *tab = strchr(r->errors[i], '\t');
		fprintf(f, "%s{\"error\":\"%.*s\",\"message\":", i ? "," : "",
			(int)(tab - r->errors[i]), r->errors[i]);
		json_str(f, tab + 1);
		fputc('}', f);
	}
	fprintf(f, "],\n\"complete\":%s,\n\"totals\":", complete ? "true" : "false");
	for (int c = 0, n = 0; c < _AUDIT_CATEGORY_MAX; c++) {
		if (!(r->mask & (1u << c)))
			continue;
		fprintf(f, "%s\"%s\":{\"count\":%llu,\"bytes\":%llu}", n++ ? "," : "{",
			audit_category_to_string(c), (unsigned long long)t->count[c],
			(unsigned long long)t->bytes[c]);
	}
	fprintf(f, ",\"findings\":%llu,\"duplicate_groups\":%llu}}\n",
		(unsigned long long)t->findings, (unsigned long long)t->groups);
}

int report_finish(struct report *r, const struct audit_totals *t, bool complete)
{
	if (r->json)
		json_finish(r, t, complete);
	else {
		for (int i = 0; i < _AUDIT_CATEGORY_MAX; i++)
			text_section(r, text_order[i], t);
		text_totals(r, t);
		if (!complete)
			fputs("\nThe audit is incomplete: see the errors above. Nothing that depends "
			      "on a failed part was reported.\n",
			      r->out);
	}
	fflush(r->out);
	return ferror(r->out) ? -EIO : 0;
}

char *report_totals_json(const struct audit_totals *t)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (!f)
		return NULL;
	for (int c = 0; c < _AUDIT_CATEGORY_MAX; c++)
		fprintf(f, "%s\"%s\":{\"count\":%llu,\"bytes\":%llu}", c ? "," : "{",
			audit_category_to_string(c), (unsigned long long)t->count[c],
			(unsigned long long)t->bytes[c]);
	fprintf(f, ",\"findings\":%llu,\"errors\":%llu}", (unsigned long long)t->findings,
		(unsigned long long)t->errors);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}
