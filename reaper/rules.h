/* Retention rules: the [rule NAME] sections of the configuration, parsed
 * and validated into typed form. A rule says which files (roots or classes,
 * optional match globs) it governs and under which conditions they may go:
 * age, being unreferenced past a grace period, expired owner rows, backup
 * buckets, a size quota, a free-space trigger, or a row query. Parsing
 * refuses empty or over-broad rules with "FILE:LINE: ..." messages.
 * Nothing here touches the disk or a database. */
#pragma once

#include <regex.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"
#include "reaper/retain.h"

enum rule_time {
	RULE_TIME_MTIME,
	RULE_TIME_ATIME,
	RULE_TIME_CTIME,
	RULE_TIME_BTIME,
	_RULE_TIME_MAX,
};

enum rule_order {
	RULE_ORDER_OLDEST, /* max-size: oldest (by the rule's timestamp) first */
	RULE_ORDER_LRU,    /* max-size: least recently accessed (atime) first */
};

enum rule_vectors {
	RULE_VECTORS_NONE = 0,
	RULE_VECTORS_DEAD = 1 << 0,    /* collections whose owning row is gone */
	RULE_VECTORS_ORPHANS = 1 << 1, /* index directories / rows with no segment */
};

struct rule {
	char *name;
	int line;
	char **roots;   /* root names this rule binds to (NULL: none by name) */
	char **classes; /* root classes ("upload", "cache", ...) */
	char **match;   /* globs over the relative path; NULL = every file */
	char **exclude; /* globs: files the rule never considers */
	char **protect; /* globs: never planned by any rule (added to the roots' protect) */

	bool has_older_than;
	int64_t older_than_ns;
	enum rule_time timestamp;

	bool unreferenced;
	int64_t grace_ns;

	bool has_expire_rows;
	int64_t expire_rows_ns;

	bool has_keep; /* any keep-* */
	struct retain_policy keep;
	char *group; /* ERE over the relative path; capture 1 (or the match) names the group */
	regex_t group_re;
	bool group_compiled;

	uint64_t max_size; /* 0: none */
	enum rule_order order;

	uint64_t min_free;         /* bytes; 0: none */
	unsigned min_free_percent; /* 0: none */

	char *rows;   /* SELECT yielding keys; :cutoff bound to now - rows_age */
	char *source; /* source for rows= / expire-rows */
	int64_t rows_age_ns;

	unsigned vectors; /* enum rule_vectors */
	char *store;      /* [vectors NAME], NULL = every store */

	bool quarantine;     /* default yes */
	uint64_t max_delete; /* circuit breaker, 0 = default */
	unsigned max_delete_percent;
};

struct rules {
	struct rule *v;
	size_t n;
};

/* Parses every [rule NAME] section of `cfg`. On failure returns -EINVAL
 * and, if ret_error is not NULL, a malloc'd text with one line per
 * problem: "FILE:LINE: rule NAME: what was wrong; what was expected".
 * Roots named by a rule are checked against cfg (exists, not "/"). */
int rules_parse(const struct config *cfg, struct rules **ret, char **ret_error);
void rules_free(struct rules *r); /* accepts NULL */

/* Adds a rule built from options (e.g. fsdctl reap --expire-rows AGE):
 * `text` holds "key = value" lines as in a section. */
int rules_add_text(struct rules *r, const struct config *cfg, const char *name, const char *text,
		   char **ret_error);

/* True when the rule governs root `root` (by name or class). */
bool rule_applies_to_root(const struct rule *r, const struct config_root *root);
/* True when the rule considers the relative path (match, not excluded). */
bool rule_matches_path(const struct rule *r, const char *path);
/* True when the path is protected by the root or by any rule for that root. */
bool rules_path_protected(const struct rules *rs, const struct config_root *root,
			  const char *path);
/* The group name of a path for keep-* (malloc'd in *ret; "" without group=). */
int rule_group_of(const struct rule *r, const char *path, char **ret);

const char *rule_time_to_string(enum rule_time t);
