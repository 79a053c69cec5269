/* Built-in presets: configuration text for well-known applications, with
 * ${DATA_DIR} standing for the application's data directory. A preset is
 * expanded into plain config text and read by the same parser as a file,
 * so `fsdctl config show --preset NAME` prints exactly what it means and
 * an operator can start a config file from it. The queries follow Open
 * WebUI 0.10's schema (tests/fixtures/open-webui/schema-sqlite.sql). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/util.h"

/* Open WebUI: uploads are {uuid}_{name}, {uuid}.{ext} or {uuid}; a file
 * row is alive while a knowledge base, chat or channel links it (a link
 * row whose parent is gone does not count: SQLite runs no ON DELETE
 * CASCADE, so deleting a chat leaves its chat_file rows), or while
 * the JSON of a chat, message, folder, note, model, knowledge base or
 * shared chat mentions its id. Model caches and plugin directories are
 * never reapable. The rules are what `fsdctl reap` does with no config:
 * quarantine unreferenced uploads after the grace period, drop dead
 * vector collections and orphan index directories, expire the audio
 * caches after 30 days. Rows are never expired by default. */
static const char preset_open_webui[] =
    "[defaults]\n"
    "grace = 24h\n"
    "\n"
    "[paths]\n"
    "map = /app/backend/data => ${DATA_DIR}\n"
    "\n"
    "[source webui]\n"
    "url = sqlite://${DATA_DIR}/webui.db\n"
    "owners = SELECT id, path, created_at FROM file\n"
    "live = SELECT file_id FROM knowledge_file WHERE knowledge_id IN (SELECT id FROM knowledge)\n"
    "live = SELECT file_id FROM chat_file WHERE chat_id IN (SELECT id FROM chat)\n"
    "live = SELECT file_id FROM channel_file WHERE channel_id IN (SELECT id FROM channel)\n"
    "live-text = SELECT chat FROM chat\n"
    "live-text = SELECT content FROM chat_message\n"
    "live-text = SELECT files FROM chat_message\n"
    "live-text = SELECT output FROM chat_message\n"
    "live-text = SELECT data FROM message\n"
    "live-text = SELECT data FROM folder\n"
    "live-text = SELECT items FROM folder\n"
    "live-text = SELECT data FROM note\n"
    "live-text = SELECT meta FROM model\n"
    "live-text = SELECT data FROM knowledge\n"
    "live-text = SELECT chat FROM shared_chat\n"
    "key-pattern = uuid\n"
    "remove = DELETE FROM knowledge_file WHERE file_id = :key\n"
    "remove = DELETE FROM chat_file WHERE file_id = :key\n"
    "remove = DELETE FROM channel_file WHERE file_id = :key\n"
    "remove = DELETE FROM file WHERE id = :key\n"
    "min-ratio = 0.5\n"
    "busy-timeout = 5s\n"
    "\n"
    "[root uploads]\n"
    "path = ${DATA_DIR}/uploads\n"
    "class = upload\n"
    "key = regex\n"
    "key-regex = ^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    "[0-9a-fA-F]{12})([_.]|$)\n"
    "source = webui\n"
    "\n"
    "[root cache]\n"
    "path = ${DATA_DIR}/cache\n"
    "class = cache\n"
    "key = none\n"
    "protect = embedding/models/**\n"
    "protect = whisper/models/**\n"
    "protect = tiktoken/**\n"
    "protect = functions/**\n"
    "protect = tools/**\n"
    "\n"
    "[vectors chroma]\n"
    "type = chroma\n"
    "path = ${DATA_DIR}/vector_db\n"
    "source = webui\n"
    "collection = file-{} owners\n"
    "collection = user-memory-{} SELECT id FROM \"user\"\n"
    "collection = {} SELECT id FROM knowledge\n"
    "\n"
    "[rule unreferenced-uploads]\n"
    "roots = uploads\n"
    "unreferenced = yes\n"
    "grace = 24h\n"
    "quarantine = yes\n"
    "\n"
    "[rule dead-vectors]\n"
    "vectors = dead orphans\n"
    "store = chroma\n"
    "\n"
    "[rule audio-cache]\n"
    "roots = cache\n"
    "match = audio/speech/**\n"
    "match = audio/transcriptions/**\n"
    "older-than = 30d\n"
    "quarantine = no\n";

static const struct {
	const char *name;
	const char *text;
} presets[] = {
    {"open-webui", preset_open_webui},
};

static const char *const preset_names[] = {"open-webui", NULL};

const char *const *config_presets(void)
{
	return preset_names;
}

/* Replaces every ${DATA_DIR} in `tmpl`. */
static int expand(const char *tmpl, const char *data_dir, char **ret)
{
	static const char var[] = "${DATA_DIR}";
	size_t n = 0, dl = strlen(data_dir);
	char *out, *o;

	for (const char *s = tmpl; (s = strstr(s, var)); s += sizeof var - 1)
		n++;
	out = malloc(strlen(tmpl) + n * dl + 1);
	if (!out)
		return -ENOMEM;
	o = out;
	for (const char *s = tmpl;;) {
		const char *v = strstr(s, var);
		size_t l = v ? (size_t)(v - s) : strlen(s);
		memcpy(o, s, l);
		o += l;
		if (!v)
			break;
		memcpy(o, data_dir, dl);
		o += dl;
		s = v + sizeof var - 1;
	}
	*o = '\0';
	*ret = out;
	return 0;
}

/* Appends the components of `path` to out[0..*len), resolving "." and
 * ".." lexically (as a shell's `cd -L` does). */
static void push_components(char *out, size_t *len, const char *path)
{
	for (const char *s = path; *s;) {
		const char *e = strchrnul(s, '/');
		size_t n = (size_t)(e - s);
		if (n == 2 && s[0] == '.' && s[1] == '.') {
			while (*len > 0 && out[*len - 1] != '/')
				(*len)--;
			if (*len > 0)
				(*len)--;
		} else if (n > 0 && !(n == 1 && s[0] == '.')) {
			out[(*len)++] = '/';
			memcpy(out + *len, s, n);
			*len += n;
		}
		s = *e ? e + 1 : e;
	}
}

/* The data directory as an absolute, clean path without touching it: a
 * relative one is taken from the working directory, and "." and ".."
 * are resolved lexically (the root paths built from it refuse ".."). */
static int absolute_dir(const char *dir, char **ret)
{
	_cleanup_free_ char *cwd = NULL;
	size_t len = 0;

	for (const char *s = dir; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return -EINVAL;
	if (dir[0] != '/') {
		cwd = getcwd(NULL, 0);
		if (!cwd)
			return negative_errno();
	}
	char *out = malloc((cwd ? strlen(cwd) : 0) + strlen(dir) + 3);
	if (!out)
		return -ENOMEM;
	if (cwd)
		push_components(out, &len, cwd);
	push_components(out, &len, dir);
	if (len == 0)
		out[len++] = '/';
	out[len] = '\0';
	*ret = out;
	return 0;
}

int config_load_preset(const char *preset, const char *data_dir, struct config **ret,
		       char **ret_error)
{
	_cleanup_free_ char *dir = NULL, *text = NULL, *origin = NULL;
	struct config *c = NULL;
	size_t i = 0;

	while (i < ELEMENTSOF(presets) && !streq(presets[i].name, preset))
		i++;
	if (i == ELEMENTSOF(presets)) {
		if (ret_error &&
		    asprintf(ret_error, "unknown preset '%s'; expected open-webui\n", preset) < 0)
			*ret_error = NULL;
		return -EINVAL;
	}
	int r = absolute_dir(data_dir, &dir);
	if (r == -EINVAL && ret_error &&
	    asprintf(ret_error, "--data-dir: control characters are not allowed in '%s'\n",
		     data_dir) < 0)
		*ret_error = NULL;
	if (r < 0)
		return r;
	if (expand(presets[i].text, dir, &text) < 0 ||
	    asprintf(&origin, "preset:%s:%s", preset, dir) < 0)
		return -ENOMEM;
	r = config_load_string(text, origin, &c, ret_error);
	if (r < 0)
		return r;
	c->preset = strdup(preset);
	if (!c->preset) {
		config_free(c);
		return -ENOMEM;
	}
	*ret = c;
	return 0;
}
