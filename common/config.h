/* fsd's configuration: one INI file (parsed with inih) or a built-in
 * preset expanded into the same text. The typed parts every module needs
 * (catalog, roots, sources, path maps, vector stores) are parsed here;
 * [rule NAME] and [daemon] sections stay as raw key/value lists with line
 * numbers for the reaper and the daemon to interpret and validate.
 *
 * Ownership: a struct config owns every string below; config_free()
 * releases all of it. Nothing here opens a database or a root. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Reserved at the top of every root: the reaper's quarantine
 * (<root>/.fsd-quarantine/<run>/<relpath>). Never scanned or watched,
 * so what was moved aside is not catalogued as an orphan again. */
#define FSD_QUARANTINE_DIR ".fsd-quarantine"

enum root_class {
	ROOT_UPLOAD,
	ROOT_CACHE,
	ROOT_LOG,
	ROOT_BACKUP,
	ROOT_TEMP,
	_ROOT_CLASS_MAX,
};

/* How a file on disk maps to a reference key (see catalog/key.h). */
enum key_kind {
	KEY_NONE,     /* the root's files are not matched against references */
	KEY_PATH,     /* the path relative to the root */
	KEY_BASENAME, /* the file name */
	KEY_REGEX,    /* first capture group (or whole match) of key-regex over the name */
	KEY_HASH,     /* hex XXH3-128 of the content */
	_KEY_KIND_MAX,
};

struct config_kv {
	char *key;
	char *value;
	int line;
};

/* A section kept raw: [rule NAME], [daemon]. */
struct config_section {
	char *type; /* "rule", "daemon" */
	char *name; /* NULL for unnamed sections */
	int line;
	struct config_kv *kv;
	size_t n_kv;
};

struct config_root {
	char *name;
	char *path; /* absolute, normalised, no trailing slash */
	enum root_class class;
	enum key_kind key;
	char *key_regex;     /* KEY_REGEX: POSIX ERE over the file name */
	char *source;        /* [source NAME] whose owners own these files, or NULL */
	char **exclude;      /* globs over the relative path: not scanned at all */
	char **protect;      /* globs over the relative path: scanned, never reaped */
	char *marker;        /* relative path that must exist or the root is refused */
	bool one_file_system; /* default true: never cross into another mount */
	int line;
};

struct config_source {
	char *name;
	char *url;        /* sqlite:///abs/path.db or postgresql://... */
	char *owners;     /* SQL yielding (key, path[, created epoch s]) of rows that own files */
	char **live;      /* SQL each yielding keys still in use */
	char **live_text; /* SQL each yielding text (JSON) scanned for key-shaped tokens */
	char *key_pattern; /* token shape for live_text: "uuid" (default) or a POSIX ERE */
	char **remove;    /* reaper: statements run in order with :key bound, one per owner */
	double min_ratio; /* fail closed if owners/live shrink below this fraction of last good run (default 0.5) */
	int busy_timeout_ms; /* default 5000 */
	int line;
};

/* Path prefix map: paths the application stores under `from` live on this
 * host under `to` (a container's /app/backend/data is the host's /srv/webui). */
struct config_map {
	char *from;
	char *to;
	int line;
};

/* One pattern of a vector store: collections named like `pattern` (with a
 * single "{}" standing for a key) are alive while `query` (on the store's
 * source; the literal "owners" means the source's owner keys) yields that key. */
struct config_collection {
	char *pattern;
	char *query;
	int line;
};

struct config_vectors {
	char *name;
	char *type; /* "chroma" or "pgvector" */
	char *path; /* chroma: the vector_db directory */
	char *url;  /* pgvector: database URL (defaults to the source's) */
	char *source;
	struct config_collection *collections;
	size_t n_collections;
	int line;
};

struct config {
	char *file;         /* config file path, or "preset:NAME:DATA_DIR" */
	char *preset;       /* preset name, if one was expanded */
	char *catalog;      /* catalog path; NULL = default place (see config_default_catalog) */
	int64_t grace_ns;   /* default grace period for unreferenced files (24h) */
	struct config_root *roots;
	size_t n_roots;
	struct config_source *sources;
	size_t n_sources;
	struct config_map *maps;
	size_t n_maps;
	struct config_vectors *vectors;
	size_t n_vectors;
	struct config_section *sections; /* raw [rule ...] and [daemon] sections */
	size_t n_sections;
};

/* Parses a config file. On failure returns -EINVAL (or -errno for I/O) and,
 * if ret_error is not NULL, a malloc'd message of one or more lines, each
 * "FILE:LINE: what was wrong, what was expected". */
int config_load(const char *path, struct config **ret, char **ret_error);

/* Parses config text; `origin` names it in error messages. */
int config_load_string(const char *text, const char *origin, struct config **ret, char **ret_error);

/* Expands a built-in preset ("open-webui") for a data directory. */
int config_load_preset(const char *preset, const char *data_dir, struct config **ret,
		       char **ret_error);

/* NULL-terminated list of preset names. */
const char *const *config_presets(void);

void config_free(struct config *c);

/* Prints the effective configuration (presets expanded) as config text
 * that config_load_string() accepts again. */
int config_print(const struct config *c, FILE *f);

/* Default catalog path for this configuration: /var/lib/fsd/<id>.db as
 * root, $XDG_STATE_HOME/fsd/<id>.db (or ~/.local/state/fsd) otherwise,
 * where <id> is stable for the same config file or preset+data dir.
 * Returns a malloc'd string in *ret.
 * Details: an absolute $XDG_STATE_HOME, when set, is used even as root
 * (test suites, confined services); <id> is "<stem>-<16 hex digits>", the
 * stem being the preset name or the config file's name up to its first
 * '.', the digits XXH64 of realpath(config file) or of
 * "preset:NAME:realpath(DATA_DIR)". The directory is not created here. */
int config_default_catalog(const struct config *c, char **ret);

const struct config_root *config_find_root(const struct config *c, const char *name);
const struct config_source *config_find_source(const struct config *c, const char *name);
const char *root_class_to_string(enum root_class c);
int root_class_from_string(const char *s); /* -EINVAL if unknown */
const char *key_kind_to_string(enum key_kind k);
int key_kind_from_string(const char *s);

/* The one meaning of exclude, protect and match globs (fsd.conf(5)):
 * does `path` (relative to its root) match one of `globs`? A glob with a
 * '/' is matched by fnmatch(3) without flags ('*' crosses '/') against
 * the path and each of its leading directories (so "audio/speech" covers
 * everything below it); a glob without '/' against the name of the file
 * and of each directory above it ("*.part" at any depth). 1 match, 0 not
 * (also for NULL or empty globs), -ENOMEM. */
int config_globs_match(char *const *globs, const char *path);

/* Maps an application path through the prefix maps. Returns a malloc'd
 * host path in *ret, or -ENOENT if no map applies and the path is not
 * already absolute on this host. */
int config_map_path(const struct config *c, const char *app_path, char **ret);
