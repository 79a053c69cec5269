/* Inside reference sources: the handle shared by the generic layer
 * (refs-source.c: owners, live merge, probes, removal) and the database
 * backends (refs-sqlite.c, refs-pg.c), and the small statement interface
 * a backend offers. No SQLite or libpq type appears here. */
#pragma once

#include "reaper/refs.h"

struct refs_stmt; /* a backend's prepared statement */

struct refs_backend {
	int (*connect)(struct refsource *rs);
	void (*disconnect)(struct refsource *rs);
	/* A statement without rows (BEGIN, COMMIT, settings). */
	int (*exec)(struct refsource *rs, const char *sql, const char *what);
	/* One statement; more than one is -EINVAL. `what` names it in errors. */
	int (*prepare)(struct refsource *rs, const char *sql, const char *what,
		       struct refs_stmt **ret);
	int (*ncols)(struct refs_stmt *st);
	int (*nparams)(struct refs_stmt *st);
	bool (*key_is_text)(struct refs_stmt *st); /* column 1 already sorts as text */
	/* Runs the statement, `param` (NULL: none) bound to its one parameter;
	 * rows then come from step(). */
	int (*run)(struct refs_stmt *st, const char *param, size_t len);
	int (*step)(struct refs_stmt *st); /* 1 row, 0 done, <0 error */
	const char *(*column)(struct refs_stmt *st, int col, size_t *ret_len); /* NULL: NULL */
	bool (*column_int)(struct refs_stmt *st, int col, int64_t *ret); /* false: NULL */
	int64_t (*changes)(struct refs_stmt *st); /* rows the last run changed */
	void (*reset)(struct refs_stmt *st);      /* ends the run, keeps the statement */
	void (*finalize)(struct refs_stmt *st);   /* accepts NULL */
	const char *order_bytewise; /* appended to "ORDER BY 1" for memcmp order */
	const char *param;          /* the placeholder of the one parameter */
	const char *begin_read, *begin_write;
};

extern const struct refs_backend refs_sqlite_backend;
extern const struct refs_backend refs_pg_backend;

struct refsource {
	const struct config_source *src;
	const struct refs_backend *be;
	void *db;   /* the backend's connection */
	char *path; /* SQLite: the file; PostgreSQL: the URL without password */
	unsigned flags;
	char *err;
	bool in_snapshot;
	struct refscan *scan;
	struct refkeys *tokens;           /* live-text tokens for is_live(); per snapshot */
	struct refs_stmt **live_probes;   /* is_live(): one per live query */
	struct refs_stmt *owner_probe;    /* is_owner() */
	struct refsource_stats stats;
};

/* Live-text tokens kept before the set is narrowed to owner keys. */
extern size_t refs_token_limit;

/* Sets the handle's message ("source 'NAME': ...") and returns r. */
int refs_fail(struct refsource *rs, int r, const char *fmt, ...) _printf_(3, 4);
int refs_busy_ms(const struct refsource *rs);
