/* fsd-mkdemo's application side: webui.db from Open WebUI's real schema
 * (WAL, like the app since 0.9.0) and the uploads/ directory, with a
 * deliberate mix: live uploads kept alive through every place Open WebUI
 * references a file from, orphan blobs (old and within the grace period),
 * dangling and unreferenced rows, duplicates, a name with a space, a
 * newline and invalid UTF-8, and the vector collections that go with
 * them, dead and alive. Each deliberate finding is added to the manifest
 * as it is made, so the manifest cannot drift from the data. */
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "common/util.h"
#include "tests/gen/gen.h"

#define ALEMBIC_HEAD "42e2978c7933"

struct sb {
	char *s;
	size_t len, cap;
	int err;
};

static void sb_printf(struct sb *b, const char *fmt, ...) _printf_(2, 3);
static void sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->err)
		return;
	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->err = -EINVAL;
			return;
		}
		if ((size_t)n < room) {
			b->len += n;
			return;
		}
		size_t cap = MAX(b->cap * 2, b->len + n + 256);
		char *s = realloc(b->s, cap);
		if (!s) {
			b->err = -ENOMEM;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
}

enum {
	Q_USER,
	Q_AUTH,
	Q_FILE,
	Q_KNOWLEDGE,
	Q_KNOWLEDGE_FILE,
	Q_CHAT,
	Q_CHAT_FILE,
	Q_CHAT_MESSAGE,
	Q_CHANNEL,
	Q_MESSAGE,
	Q_CHANNEL_FILE,
	Q_NOTE,
	Q_FOLDER,
	Q_MODEL,
	Q_SHARED_CHAT,
	Q_MEMORY,
	_Q_MAX,
};

static const char *const queries[_Q_MAX] = {
	[Q_USER] = "INSERT INTO user (id, name, email, role, profile_image_url, last_active_at, "
		   "updated_at, created_at, settings, info) VALUES (?1, ?2, ?3, ?4, '/user.png', ?5, ?5, ?5, "
		   "'{\"ui\": {}}', '{}')",
	[Q_AUTH] = "INSERT INTO auth (id, email, password, active) VALUES (?1, ?2, ?3, 1)",
	[Q_FILE] = "INSERT INTO file (id, user_id, filename, meta, created_at, hash, data, updated_at, path) "
		   "VALUES (?1, ?2, ?3, ?4, ?5, NULL, '{\"status\": \"completed\"}', ?5, ?6)",
	[Q_KNOWLEDGE] = "INSERT INTO knowledge (id, user_id, name, description, meta, created_at, "
			"updated_at, data) VALUES (?1, ?2, ?3, ?4, '{}', ?5, ?5, '{}')",
	[Q_KNOWLEDGE_FILE] = "INSERT INTO knowledge_file (id, user_id, knowledge_id, file_id, "
			     "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
	[Q_CHAT] = "INSERT INTO chat (id, user_id, title, created_at, updated_at, share_id, archived, "
		   "chat, pinned, meta, folder_id) VALUES (?1, ?2, ?3, ?4, ?4, ?5, 0, ?6, 0, '{}', ?7)",
	[Q_CHAT_FILE] = "INSERT INTO chat_file (id, user_id, chat_id, file_id, message_id, created_at, "
			"updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
	[Q_CHAT_MESSAGE] = "INSERT INTO chat_message (id, chat_id, user_id, role, parent_id, content, "
			   "model_id, files, done, created_at, updated_at) "
			   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'llama3.1:8b', ?7, 1, ?8, ?8)",
	[Q_CHANNEL] = "INSERT INTO channel (id, user_id, name, description, data, meta, created_at, "
		      "updated_at, type, is_private) VALUES (?1, ?2, ?3, '', '{}', '{}', ?4, ?4, NULL, 0)",
	[Q_MESSAGE] = "INSERT INTO message (id, user_id, channel_id, content, data, meta, created_at, "
		      "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, '{}', ?6, ?6)",
	[Q_CHANNEL_FILE] = "INSERT INTO channel_file (id, user_id, channel_id, file_id, created_at, "
			   "updated_at, message_id) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
	[Q_NOTE] = "INSERT INTO note (id, user_id, title, data, meta, created_at, updated_at) "
		   "VALUES (?1, ?2, ?3, ?4, '{}', ?5, ?5)",
	[Q_FOLDER] = "INSERT INTO folder (id, parent_id, user_id, name, items, meta, is_expanded, "
		     "created_at, updated_at, data) VALUES (?1, NULL, ?2, ?3, ?4, '{}', 0, ?5, ?5, ?6)",
	[Q_MODEL] = "INSERT INTO model (id, user_id, base_model_id, name, params, meta, updated_at, "
		    "created_at, is_active) VALUES (?1, ?2, 'llama3.1:8b', ?3, '{}', ?4, ?5, ?5, 1)",
	[Q_SHARED_CHAT] = "INSERT INTO shared_chat (id, chat_id, user_id, title, chat, created_at, "
			  "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
	[Q_MEMORY] = "INSERT INTO memory (id, user_id, content, updated_at, created_at) "
		     "VALUES (?1, ?2, ?3, ?4, ?4)",
};

static sqlite3_stmt *q[_Q_MAX];

struct upload {
	char id[GEN_UUID_LEN + 1];
	const char *name;  /* original file name (bytes) */
	const char *user;  /* owner's user id */
	int64_t age;       /* seconds before --now */
	size_t size;
	char disk[512];    /* name under uploads/ */
};

struct user {
	char id[GEN_UUID_LEN + 1];
	const char *name;
};

static char *secs(struct gen *g, int64_t age, char buf[24])
{
	snprintf(buf, 24, "%lld", (long long)(g->now - age));
	return buf;
}

/* Channel messages, notes and message reactions use nanoseconds. */
static char *nsecs(struct gen *g, int64_t age, char buf[24])
{
	snprintf(buf, 24, "%lld", (long long)(g->now - age) * 1000000000LL);
	return buf;
}

static const char *new_id(struct gen *g, char buf[GEN_UUID_LEN + 1])
{
	rng_uuid(&g->rng, buf);
	return buf;
}

/* Open WebUI names a blob {id}_{name}, or {id}.{ext} when the name is
 * too long for the file system. */
static void upload_init(struct gen *g, struct upload *u, const char *name, const char *user,
			int64_t age, size_t size)
{
	const char *ext = strrchr(name, '.');

	*u = (struct upload){.name = name, .user = user, .age = age, .size = size};
	rng_uuid(&g->rng, u->id);
	if (strlen(name) > 200 && ext)
		snprintf(u->disk, sizeof(u->disk), "%s%s", u->id, ext);
	else
		snprintf(u->disk, sizeof(u->disk), "%s_%s", u->id, name);
}

static int upload_write(struct gen *g, const struct upload *u)
{
	char rel[600];
	int len = snprintf(rel, sizeof(rel), "uploads/%s", u->disk);

	return gen_write_file(g, rel, len, "upload ", u->size, u->age);
}

static int upload_row(struct gen *g, const struct upload *u)
{
	_cleanup_free_ char *meta = NULL, *path = NULL;
	char ts[24];

	if (asprintf(&meta,
		     "{\"name\": \"%s\", \"content_type\": \"application/octet-stream\", \"size\": %zu, "
		     "\"data\": {}, \"collection_name\": \"file-%s\"}",
		     u->name, u->size, u->id) < 0 ||
	    asprintf(&path, "%s/uploads/%s", g->app_prefix, u->disk) < 0)
		return -ENOMEM;
	return gen_run(q[Q_FILE], 6, u->id, u->user, u->name, meta, secs(g, u->age, ts), path);
}

/* A live upload: blob and row. */
static int upload_live(struct gen *g, struct upload *u, const char *name, const char *user,
		       int64_t age, size_t size)
{
	int r;

	upload_init(g, u, name, user, age, size);
	r = upload_write(g, u);
	if (r >= 0)
		r = upload_row(g, u);
	return r;
}

static int expect(struct gen *g, const char *category, const char *root, const char *item)
{
	return manifest_add(g, category, root, item, strlen(item));
}

static int expect_upload(struct gen *g, const char *category, const struct upload *u)
{
	return expect(g, category, g->upload_root, u->disk);
}

static int add_user(struct gen *g, struct user *u, const char *name, const char *role)
{
	char email[96], ts[24];
	int r;

	rng_uuid(&g->rng, u->id);
	u->name = name;
	snprintf(email, sizeof(email), "%s@example.org", name);
	r = gen_run(q[Q_USER], 5, u->id, name, email, role, secs(g, 400 * DAY, ts));
	if (r >= 0)
		r = gen_run(q[Q_AUTH], 3, u->id, email, "$2b$12$demo.password.hash.not.a.real.one");
	return r;
}

static int add_knowledge(struct gen *g, char id[], const char *user, const char *name)
{
	char ts[24];

	rng_uuid(&g->rng, id);
	return gen_run(q[Q_KNOWLEDGE], 5, id, user, name, "documents the team relies on",
		       secs(g, 200 * DAY, ts));
}

static int add_knowledge_file(struct gen *g, const char *knowledge, const char *user,
			      const char *file)
{
	char id[GEN_UUID_LEN + 1], ts[24];

	return gen_run(q[Q_KNOWLEDGE_FILE], 5, new_id(g, id), user, knowledge, file,
		       secs(g, 100 * DAY, ts));
}

static int add_chat_file(struct gen *g, const char *chat, const char *user, const char *file)
{
	char id[GEN_UUID_LEN + 1], ts[24];

	return gen_run(q[Q_CHAT_FILE], 6, new_id(g, id), user, chat, file, NULL,
		       secs(g, 50 * DAY, ts));
}

/* The JSON Open WebUI keeps in chat.chat: one user message per file
 * list, each file entry carrying its id and its /api/v1/files/ URL. */
static void chat_json(struct sb *b, const char *title, char (*files)[GEN_UUID_LEN + 1],
		      size_t n, int64_t ts)
{
	sb_printf(b, "{\"title\": \"%s\", \"models\": [\"llama3.1:8b\"], \"params\": {}, "
		     "\"messages\": [{\"id\": \"m-1\", \"parentId\": null, \"role\": \"user\", "
		     "\"content\": \"Please summarise these.\", \"timestamp\": %lld, \"files\": [",
		  title, (long long)ts);
	for (size_t i = 0; i < n; i++)
		sb_printf(b, "%s{\"type\": \"file\", \"id\": \"%s\", \"url\": \"/api/v1/files/%s\", "
			     "\"status\": \"uploaded\"}",
			  i ? ", " : "", files[i], files[i]);
	sb_printf(b, "]}], \"tags\": [], \"timestamp\": %lld}", (long long)ts * 1000);
}

static int add_chat(struct gen *g, char id[], const char *user, const char *title,
		    char (*files)[GEN_UUID_LEN + 1], size_t n, const char *share_id)
{
	struct sb b = {0};
	char ts[24];
	int r;

	rng_uuid(&g->rng, id);
	chat_json(&b, title, files, n, g->now - 60 * DAY);
	r = b.err ? b.err
		  : gen_run(q[Q_CHAT], 7, id, user, title, secs(g, 60 * DAY, ts), share_id, b.s, NULL);
	free(b.s);
	return r;
}

struct mix {
	struct user alice, bob, carol;
	char dave[GEN_UUID_LEN + 1];   /* deleted user: no rows, a memory collection */
	char kb1[GEN_UUID_LEN + 1], kb2[GEN_UUID_LEN + 1];
	char kb_dead[GEN_UUID_LEN + 1];
	char chat_dead[GEN_UUID_LEN + 1];
	char chat1[GEN_UUID_LEN + 1], chat2[GEN_UUID_LEN + 1], chat3[GEN_UUID_LEN + 1];
	char channel[GEN_UUID_LEN + 1];
};

static int gen_people(struct gen *g, struct mix *m)
{
	int r = add_user(g, &m->alice, "alice", "admin");

	if (r >= 0)
		r = add_user(g, &m->bob, "bob", "user");
	if (r >= 0)
		r = add_user(g, &m->carol, "carol", "user");
	rng_uuid(&g->rng, m->dave);
	for (int i = 0; r >= 0 && i < 3; i++) {
		char id[GEN_UUID_LEN + 1], ts[24];
		r = gen_run(q[Q_MEMORY], 4, new_id(g, id), m->alice.id,
			    i == 0 ? "Prefers answers in French" : "Works on the billing service",
			    secs(g, 30 * DAY, ts));
	}
	if (r >= 0)
		r = add_knowledge(g, m->kb1, m->alice.id, "Team handbook");
	if (r >= 0)
		r = add_knowledge(g, m->kb2, m->bob.id, "Research");
	rng_uuid(&g->rng, m->kb_dead);
	rng_uuid(&g->rng, m->chat_dead);
	return r;
}

/* Live through the three link tables. The handbook is the upload that
 * --bit-rot damages later. */
static int link_knowledge(struct gen *g, struct mix *m, struct upload *handbook)
{
	static const char long_name[] =
		"Minutes of the annual general meeting of the association held in the main hall "
		"with every committee report, the treasurer's statement, the auditors' opinion and "
		"the full list of motions carried and defeated during the session.pdf";
	struct upload longname, daves;
	int r = upload_live(g, handbook, "handbook.pdf", m->alice.id, 120 * DAY, 40000);

	if (r >= 0)
		r = add_knowledge_file(g, m->kb1, m->alice.id, handbook->id);
	if (r >= 0)
		r = expect_upload(g, "changed", handbook);
	/* Owned by a deleted user, still in a knowledge base: alive. */
	if (r >= 0)
		r = upload_live(g, &daves, "old-contract.pdf", m->dave, 300 * DAY, 9000);
	if (r >= 0)
		r = add_knowledge_file(g, m->kb1, m->alice.id, daves.id);
	/* Too long for {id}_{name}: stored as {id}.pdf. */
	if (r >= 0)
		r = upload_live(g, &longname, long_name, m->bob.id, 80 * DAY, 12000);
	if (r >= 0)
		r = add_knowledge_file(g, m->kb2, m->bob.id, longname.id);
	return r;
}

static int link_chat(struct gen *g, struct mix *m)
{
	struct upload report, young;
	int r = add_chat(g, m->chat1, m->bob.id, "Quarterly numbers", NULL, 0, NULL);

	if (r >= 0)
		r = upload_live(g, &report, "Quarterly report.docx", m->bob.id, 60 * DAY, 15000);
	if (r >= 0)
		r = add_chat_file(g, m->chat1, m->bob.id, report.id);
	/* Ten minutes old but owned and referenced: not pending. */
	if (r >= 0)
		r = upload_live(g, &young, "just-uploaded.png", m->bob.id, 10 * 60, 5000);
	if (r >= 0)
		r = add_chat_file(g, m->chat1, m->bob.id, young.id);
	return r;
}

/* The same spreadsheet uploaded twice: two rows, two blobs, one content. */
static int link_duplicates(struct gen *g, struct mix *m)
{
	struct upload dup[2];
	uint8_t budget[3000];
	int r = 0;

	for (size_t i = 0; i < sizeof(budget); i++)
		budget[i] = (uint8_t)(rng_next(&g->rng) >> 32);
	memcpy(budget, "PK\x03\x04", 4);
	upload_init(g, &dup[0], "budget.xlsx", m->bob.id, 70 * DAY, sizeof(budget));
	upload_init(g, &dup[1], "budget (1).xlsx", m->bob.id, 65 * DAY, sizeof(budget));
	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(dup); i++) {
		char rel[600];
		int len = snprintf(rel, sizeof(rel), "uploads/%s", dup[i].disk);
		r = gen_write_bytes(g, rel, len, budget, sizeof(budget), dup[i].age);
		if (r >= 0)
			r = upload_row(g, &dup[i]);
		if (r >= 0)
			r = expect_upload(g, "duplicate", &dup[i]);
	}
	if (r >= 0)
		r = add_knowledge_file(g, m->kb2, m->bob.id, dup[0].id);
	if (r >= 0)
		r = add_chat_file(g, m->chat1, m->bob.id, dup[1].id);
	return r;
}

static int link_channel(struct gen *g, struct mix *m)
{
	char ts[24], mid[GEN_UUID_LEN + 1], id[GEN_UUID_LEN + 1];
	struct upload diagram;
	int r = gen_run(q[Q_CHANNEL], 4, new_id(g, m->channel), m->carol.id, "design",
			nsecs(g, 90 * DAY, ts));

	if (r >= 0)
		r = upload_live(g, &diagram, "diagram.png", m->carol.id, 30 * DAY, 8000);
	if (r >= 0)
		r = gen_run(q[Q_MESSAGE], 6, new_id(g, mid), m->carol.id, m->channel,
			    "new version of the diagram", "{}", nsecs(g, 30 * DAY, ts));
	if (r >= 0)
		r = gen_run(q[Q_CHANNEL_FILE], 6, new_id(g, id), m->carol.id, m->channel, diagram.id,
			    secs(g, 30 * DAY, ts), mid);
	return r;
}

static int gen_linked(struct gen *g, struct mix *m, struct upload *handbook)
{
	int r = link_knowledge(g, m, handbook);

	if (r >= 0)
		r = link_chat(g, m);
	if (r >= 0)
		r = link_duplicates(g, m);
	if (r >= 0)
		r = link_channel(g, m);
	return r;
}

/* The uploads below are alive only through JSON, one place each. */

/* chat.chat's files list. The chat also still names a file whose row is
 * gone: an id in JSON keeps nothing alive unless a file row has it. */
static int ref_chat(struct gen *g, struct mix *m, const struct upload *orphan_ref)
{
	char files[2][GEN_UUID_LEN + 1];
	struct upload notes;
	int r = upload_live(g, &notes, "notes.md", m->bob.id, 50 * DAY, 3000);

	if (r < 0)
		return r;
	memcpy(files[0], notes.id, sizeof(files[0]));
	memcpy(files[1], orphan_ref->id, sizeof(files[1]));
	return add_chat(g, m->chat2, m->bob.id, "Meeting notes", files, 2, NULL);
}

static int add_chat_message(struct gen *g, const char *chat, const char *user, const char *role,
			    const char *content, const char *files, int64_t age)
{
	char id[GEN_UUID_LEN + 1], ts[24];

	return gen_run(q[Q_CHAT_MESSAGE], 8, new_id(g, id), chat, user, role, NULL, content, files,
		       secs(g, age, ts));
}

/* A /api/v1/files/ URL in chat_message.content; chat_message.files. */
static int ref_chat_messages(struct gen *g, struct mix *m)
{
	_cleanup_free_ char *content = NULL, *files = NULL;
	struct upload chart, scan;
	int r = add_chat(g, m->chat3, m->carol.id, "Charts", NULL, 0, NULL);

	if (r >= 0)
		r = upload_live(g, &chart, "chart.png", m->carol.id, 45 * DAY, 6000);
	if (r >= 0)
		r = upload_live(g, &scan, "scan.jpg", m->carol.id, 44 * DAY, 7000);
	if (r < 0)
		return r;
	if (asprintf(&content, "\"Here it is: ![chart](/api/v1/files/%s/content)\"", chart.id) < 0 ||
	    asprintf(&files, "[{\"type\": \"image\", \"id\": \"%s\", \"name\": \"scan.jpg\"}]", scan.id) < 0)
		return -ENOMEM;
	r = add_chat_message(g, m->chat3, m->carol.id, "assistant", content, "[]", 45 * DAY);
	if (r >= 0)
		r = add_chat_message(g, m->chat3, m->carol.id, "user", "\"What is in this scan?\"",
				     files, 44 * DAY);
	return r;
}

/* A channel message's data. */
static int ref_message(struct gen *g, struct mix *m)
{
	_cleanup_free_ char *data = NULL;
	char id[GEN_UUID_LEN + 1], ts[24];
	struct upload minutes;
	int r = upload_live(g, &minutes, "minutes.txt", m->alice.id, 20 * DAY, 2000);

	if (r < 0)
		return r;
	if (asprintf(&data, "{\"files\": [{\"type\": \"file\", \"id\": \"%s\"}]}", minutes.id) < 0)
		return -ENOMEM;
	return gen_run(q[Q_MESSAGE], 6, new_id(g, id), m->alice.id, m->channel, "minutes attached",
		       data, nsecs(g, 20 * DAY, ts));
}

static int ref_note(struct gen *g, struct mix *m)
{
	_cleanup_free_ char *data = NULL;
	char id[GEN_UUID_LEN + 1], ts[24];
	struct upload recipe;
	int r = upload_live(g, &recipe, "recipe.txt", m->alice.id, 15 * DAY, 1500);

	if (r < 0)
		return r;
	if (asprintf(&data, "{\"content\": {\"json\": null, \"html\": \"<p>pancakes</p>\", \"md\": "
			    "\"pancakes\"}, \"files\": [{\"id\": \"%s\", \"type\": \"file\"}]}",
		     recipe.id) < 0)
		return -ENOMEM;
	return gen_run(q[Q_NOTE], 5, new_id(g, id), m->alice.id, "Pancakes", data,
		       nsecs(g, 15 * DAY, ts));
}

/* folder.data and folder.items. */
static int ref_folder(struct gen *g, struct mix *m)
{
	_cleanup_free_ char *data = NULL, *items = NULL;
	char id[GEN_UUID_LEN + 1], ts[24];
	struct upload brief, plan;
	int r = upload_live(g, &brief, "brief.pdf", m->bob.id, 25 * DAY, 11000);

	if (r >= 0)
		r = upload_live(g, &plan, "plan.xlsx", m->bob.id, 24 * DAY, 4000);
	if (r < 0)
		return r;
	if (asprintf(&data, "{\"files\": [{\"type\": \"file\", \"id\": \"%s\"}]}", brief.id) < 0 ||
	    asprintf(&items, "{\"chats\": [], \"files\": [{\"id\": \"%s\"}]}", plan.id) < 0)
		return -ENOMEM;
	return gen_run(q[Q_FOLDER], 6, new_id(g, id), m->bob.id, "Projects", items,
		       secs(g, 24 * DAY, ts), data);
}

/* A custom model's knowledge list: a file, and a whole knowledge base. */
static int ref_model(struct gen *g, struct mix *m)
{
	_cleanup_free_ char *meta = NULL;
	struct upload guide;
	char ts[24];
	int r = upload_live(g, &guide, "style-guide.pdf", m->alice.id, 100 * DAY, 16000);

	if (r < 0)
		return r;
	if (asprintf(&meta, "{\"profile_image_url\": \"/static/favicon.png\", \"description\": "
			    "\"Writes in the house style\", \"knowledge\": [{\"id\": \"%s\", \"type\": "
			    "\"file\", \"name\": \"style-guide.pdf\"}, {\"id\": \"%s\", \"type\": "
			    "\"collection\", \"name\": \"Team handbook\"}]}",
		     guide.id, m->kb1) < 0)
		return -ENOMEM;
	return gen_run(q[Q_MODEL], 5, "house-style", m->alice.id, "House style", meta,
		       secs(g, 100 * DAY, ts));
}

/* The slides were removed from the chat after it was shared: only the
 * shared snapshot still holds them. */
static int ref_shared_chat(struct gen *g, struct mix *m)
{
	char files[1][GEN_UUID_LEN + 1], share[GEN_UUID_LEN + 1], chat[GEN_UUID_LEN + 1], ts[24];
	struct upload slides;
	struct sb b = {0};
	int r = upload_live(g, &slides, "slides.pptx", m->carol.id, 35 * DAY, 20000);

	rng_uuid(&g->rng, share);
	if (r >= 0)
		r = add_chat(g, chat, m->carol.id, "Launch deck", NULL, 0, share);
	if (r < 0)
		return r;
	memcpy(files[0], slides.id, sizeof(files[0]));
	chat_json(&b, "Launch deck", files, 1, g->now - 35 * DAY);
	r = b.err ? b.err
		  : gen_run(q[Q_SHARED_CHAT], 6, share, chat, m->carol.id, "Launch deck", b.s,
			    secs(g, 35 * DAY, ts));
	free(b.s);
	return r;
}

static int gen_json_refs(struct gen *g, struct mix *m, const struct upload *orphan_ref)
{
	int r = ref_chat(g, m, orphan_ref);

	if (r >= 0)
		r = ref_chat_messages(g, m);
	if (r >= 0)
		r = ref_message(g, m);
	if (r >= 0)
		r = ref_note(g, m);
	if (r >= 0)
		r = ref_folder(g, m);
	if (r >= 0)
		r = ref_model(g, m);
	if (r >= 0)
		r = ref_shared_chat(g, m);
	return r;
}

/* Rows without blobs, rows nothing references, blobs without rows. */
static int gen_leftovers(struct gen *g, struct mix *m, struct upload *o_ref, struct upload *o_dead)
{
	struct upload lost, missing, draft, shot, dataset, removed, weird, young;
	int r;

	upload_init(g, &lost, "lost.pdf", m->bob.id, 90 * DAY, 9000);
	r = upload_row(g, &lost);
	if (r >= 0)
		r = add_chat_file(g, m->chat1, m->bob.id, lost.id);
	if (r >= 0)
		r = expect(g, "dangling", g->upload_root, lost.id);
	upload_init(g, &missing, "missing.csv", m->alice.id, 150 * DAY, 900);
	if (r >= 0)
		r = upload_row(g, &missing);
	if (r >= 0)
		r = add_knowledge_file(g, m->kb1, m->alice.id, missing.id);
	if (r >= 0)
		r = expect(g, "dangling", g->upload_root, missing.id);
	if (r < 0)
		return r;

	/* Unreferenced: uploaded and never used; kept only by a chat_file
	 * row of a deleted chat; kept only by a knowledge_file row of a
	 * deleted knowledge base (SQLite runs no ON DELETE CASCADE, so link
	 * rows outlive what they link to and keep nothing alive). */
	r = upload_live(g, &draft, "draft.txt", m->alice.id, 20 * DAY, 2500);
	if (r >= 0)
		r = expect(g, "unreferenced", g->upload_root, draft.id);
	if (r >= 0)
		r = upload_live(g, &shot, "screenshot.png", m->bob.id, 40 * DAY, 9500);
	if (r >= 0)
		r = add_chat_file(g, m->chat_dead, m->bob.id, shot.id);
	if (r >= 0)
		r = expect(g, "unreferenced", g->upload_root, shot.id);
	if (r >= 0)
		r = upload_live(g, &dataset, "dataset.csv", m->alice.id, 110 * DAY, 14000);
	if (r >= 0)
		r = add_knowledge_file(g, m->kb_dead, m->alice.id, dataset.id);
	if (r >= 0)
		r = expect(g, "unreferenced", g->upload_root, dataset.id);
	if (r < 0)
		return r;

	/* Orphans: blobs whose rows are gone, past the 24 h grace (one of
	 * them still named by a chat)... */
	upload_init(g, &removed, "removed-from-kb.pdf", m->alice.id, 3 * DAY, 10000);
	upload_init(g, o_ref, "forgotten.docx", m->bob.id, 40 * DAY, 7000);
	upload_init(g, &weird, "bad name\nline two \xff\xfe.txt", m->carol.id, 10 * DAY, 1200);
	/* ...and one younger than it: pending, its row may not be committed yet. */
	upload_init(g, &young, "uploading.bin", m->carol.id, 2 * HOUR, 50000);
	rng_uuid(&g->rng, o_dead->id);
	for (struct upload *u = &removed; r >= 0 && u; u = u == &removed ? o_ref : u == o_ref ? &weird : NULL) {
		r = upload_write(g, u);
		/* A chat's JSON still names forgotten.docx (gen_json_refs()):
		 * without a row it is no orphan, the reaper keeps it. */
		if (r >= 0)
			r = expect_upload(g, u == o_ref ? "unowned-referenced" : "orphan", u);
	}
	if (r >= 0)
		r = upload_write(g, &young);
	if (r >= 0)
		r = expect_upload(g, "pending", &young);
	return r;
}

static int gen_collection(struct gen *g, const char *name, const char *file_id, unsigned n,
			  bool dir, const char *dead_category)
{
	struct gen_collection c = {.name = name, .file_id = file_id, .embeddings = n, .with_dir = dir};
	int r = gen_chroma_collection(g, &c, NULL);

	if (r >= 0 && dead_category)
		r = expect(g, dead_category, g->vector_root, name);
	return r;
}

static int gen_vectors(struct gen *g, struct mix *m, const struct upload *handbook,
		       const struct upload *o_ref, const struct upload *o_dead)
{
	char name[80], seg[GEN_UUID_LEN + 1], h[65];
	int r;

	r = gen_chroma_open(g);
	/* Alive: a live file's collection, the knowledge bases, the
	 * knowledge-bases index, a living user's memories. */
	snprintf(name, sizeof(name), "file-%s", handbook->id);
	if (r >= 0)
		r = gen_collection(g, name, handbook->id, 4, true, NULL);
	if (r >= 0)
		r = gen_collection(g, m->kb1, handbook->id, 4, true, NULL);
	if (r >= 0)
		r = gen_collection(g, m->kb2, NULL, 2, false, NULL);
	if (r >= 0)
		r = gen_collection(g, "knowledge-bases", NULL, 2, false, NULL);
	snprintf(name, sizeof(name), "user-memory-%s", m->alice.id);
	if (r >= 0)
		r = gen_collection(g, name, NULL, 3, true, NULL);
	/* Web search results: no row owns them, no pattern covers them. */
	rng_hex(&g->rng, h, 64);
	snprintf(name, sizeof(name), "web-search-%.56s", h);
	if (r >= 0)
		r = gen_collection(g, name, NULL, 2, false, NULL);
	if (r < 0)
		return r;

	/* Dead: collections of rows that are gone, a deleted knowledge
	 * base, a deleted user's memories. */
	snprintf(name, sizeof(name), "file-%s", o_ref->id);
	r = gen_collection(g, name, o_ref->id, 3, true, "vector-collection");
	snprintf(name, sizeof(name), "file-%s", o_dead->id);
	if (r >= 0)
		r = gen_collection(g, name, o_dead->id, 5, true, "vector-collection");
	if (r >= 0)
		r = gen_collection(g, m->kb_dead, NULL, 6, true, "vector-collection");
	snprintf(name, sizeof(name), "user-memory-%s", m->dave);
	if (r >= 0)
		r = gen_collection(g, name, NULL, 2, false, "vector-collection");
	if (r >= 0)
		r = gen_chroma_orphan_dir(g, seg);
	if (r >= 0)
		r = expect(g, "vector-dir", g->vector_root, seg);
	if (r >= 0)
		r = gen_chroma_orphan_rows(g, 3, seg);
	if (r >= 0)
		r = expect(g, "vector-rows", g->vector_root, seg);
	return r;
}

/* Bench size: n blobs and n rows beyond the crafted mix. Paired ones are
 * live, referenced in turn through knowledge_file, chat_file and chat
 * JSON; extra blobs are orphans, extra rows dangle (and are referenced
 * from chat JSON, so that they are nothing else). Every hundredth row has
 * a live file-<id> collection, so that the vector audit has work too. */
struct bulk {
	const char *user;
	char kb[GEN_UUID_LEN + 1], chat[GEN_UUID_LEN + 1];
	char group[50][GEN_UUID_LEN + 1];
	size_t in_group;
};

static int bulk_flush(struct gen *g, struct bulk *b)
{
	char c[GEN_UUID_LEN + 1];
	int r;

	if (b->in_group == 0)
		return 0;
	r = add_chat(g, c, b->user, "Archive review", b->group, b->in_group, NULL);
	b->in_group = 0;
	return r;
}

static int bulk_reference(struct gen *g, struct bulk *b, uint64_t i, bool paired, const char *id)
{
	if (paired && i % 4 == 0)
		return add_knowledge_file(g, b->kb, b->user, id);
	if (paired && i % 4 == 1)
		return add_chat_file(g, b->chat, b->user, id);
	memcpy(b->group[b->in_group++], id, GEN_UUID_LEN + 1);
	return b->in_group == ELEMENTSOF(b->group) ? bulk_flush(g, b) : 0;
}

static int bulk_one(struct gen *g, struct bulk *b, uint64_t i)
{
	bool file = i < g->bulk_files, row = i < g->bulk_rows;
	struct upload u;
	char name[64];
	int r = 0;

	snprintf(name, sizeof(name), "doc-%07llu.txt", (unsigned long long)i);
	upload_init(g, &u, name, b->user, (int64_t)rng_range(&g->rng, 2 * DAY, 400 * DAY),
		    rng_range(&g->rng, 64, 4096));
	if (file)
		r = upload_write(g, &u);
	if (r >= 0 && !row)
		return expect_upload(g, "orphan", &u);
	if (r >= 0)
		r = upload_row(g, &u);
	if (r >= 0 && !file)
		r = expect(g, "dangling", g->upload_root, u.id);
	if (r >= 0)
		r = bulk_reference(g, b, i, file, u.id);
	if (r >= 0 && i % 100 == 0) {
		char coll[GEN_UUID_LEN + 8];
		snprintf(coll, sizeof(coll), "file-%s", u.id);
		r = gen_collection(g, coll, u.id, 1, false, NULL);
	}
	return r;
}

static int gen_bulk(struct gen *g, const char *user)
{
	uint64_t n = MAX(g->bulk_files, g->bulk_rows);
	struct bulk b = {.user = user};
	char ts[24];
	int r;

	if (n == 0)
		return 0;
	r = add_knowledge(g, b.kb, user, "Archive");
	rng_uuid(&g->rng, b.chat);
	for (uint64_t i = 0; r >= 0 && i < n; i++)
		r = bulk_one(g, &b, i);
	if (r >= 0)
		r = bulk_flush(g, &b);
	if (r >= 0)
		r = gen_run(q[Q_CHAT], 7, b.chat, user, "Archive uploads", secs(g, 60 * DAY, ts), NULL,
			    "{\"title\": \"Archive uploads\", \"messages\": []}", NULL);
	return r;
}

static int open_db(struct gen *g)
{
	_cleanup_free_ char *path = NULL, *schema = NULL;
	int r;

	if (asprintf(&path, "%s/webui.db", g->dir) < 0 ||
	    asprintf(&schema, "%s/open-webui/schema-sqlite.sql", g->fixtures) < 0)
		return -ENOMEM;
	if (sqlite3_open_v2(path, &g->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		fprintf(stderr, "fsd-mkdemo: cannot create %s: %s\n", path, sqlite3_errmsg(g->db));
		return -EIO;
	}
	/* Built without a journal (a failed run is thrown away anyway), then
	 * switched to WAL like the app's; see close_db(). */
	if (sqlite3_exec(g->db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; "
				"PRAGMA cache_size=-65536", NULL, NULL, NULL) != SQLITE_OK)
		return -EIO;
	r = gen_exec_file(g->db, schema);
	if (r < 0)
		return r;
	if (sqlite3_exec(g->db, "BEGIN; INSERT INTO alembic_version VALUES ('" ALEMBIC_HEAD "')",
			 NULL, NULL, NULL) != SQLITE_OK)
		return -EIO;
	for (size_t i = 0; i < _Q_MAX; i++)
		if (!(q[i] = gen_prepare(g->db, queries[i])))
			return -EIO;
	return 0;
}

static int close_db(struct gen *g, int r)
{
	for (size_t i = 0; i < _Q_MAX; i++) {
		sqlite3_finalize(q[i]);
		q[i] = NULL;
	}
	if (r >= 0 && sqlite3_exec(g->db, "COMMIT; PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "fsd-mkdemo: webui.db commit: %s\n", sqlite3_errmsg(g->db));
		r = -EIO;
	}
	sqlite3_close(g->db);
	g->db = NULL;
	return r;
}

int gen_webui(struct gen *g)
{
	struct mix m = {0};
	struct upload handbook, o_ref, o_dead;
	int r;

	r = gen_mkdirs(g, "uploads");
	if (r >= 0)
		r = open_db(g);
	if (r >= 0)
		r = gen_people(g, &m);
	if (r >= 0)
		r = gen_linked(g, &m, &handbook);
	if (r >= 0)
		r = gen_leftovers(g, &m, &o_ref, &o_dead);
	if (r >= 0)
		r = gen_json_refs(g, &m, &o_ref);
	if (r >= 0)
		r = gen_vectors(g, &m, &handbook, &o_ref, &o_dead);
	if (r >= 0)
		r = gen_bulk(g, m.alice.id);
	r = close_db(g, r);
	if (g->chroma) {
		int k = gen_chroma_close(g);
		r = r < 0 ? r : k;
	}
	return r;
}
