/* The reference sources of one reap run (see apply.h): each source's
 * database is opened once, on first use, read-write when the run applies
 * and read-only for a dry run, and the same connection then serves the
 * planner's streams, the re-checks and the removals of every batch. A
 * source that failed to open stays failed for the run, with its message,
 * so that planning and applying report the same reason and no later step
 * retries behind the planner's back. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "reaper/apply.h"
#include "reaper/refs.h"

struct reaper_sources {
	const struct config *cfg;
	unsigned flags;
	struct refsource **rs;
	int *err;
	char **msg;
};

int reaper_sources_new(const struct config *cfg, bool readwrite, struct reaper_sources **ret)
{
	struct reaper_sources *s = calloc(1, sizeof *s);
	size_t n = cfg->n_sources + 1;

	if (!s)
		return -ENOMEM;
	s->cfg = cfg;
	s->flags = readwrite ? REFSOURCE_READWRITE : 0;
	s->rs = calloc(n, sizeof *s->rs);
	s->err = calloc(n, sizeof *s->err);
	s->msg = calloc(n, sizeof *s->msg);
	if (!s->rs || !s->err || !s->msg) {
		reaper_sources_free(s);
		return -ENOMEM;
	}
	*ret = s;
	return 0;
}

void reaper_sources_free(struct reaper_sources *s)
{
	if (!s)
		return;
	for (size_t i = 0; s->rs && i < s->cfg->n_sources; i++)
		refsource_close(s->rs[i]);
	for (size_t i = 0; s->msg && i < s->cfg->n_sources; i++)
		free(s->msg[i]);
	free(s->rs);
	free(s->err);
	free(s->msg);
	free(s);
}

bool reaper_sources_writable(const struct reaper_sources *s)
{
	return s->flags & REFSOURCE_READWRITE;
}

int reaper_sources_get(struct reaper_sources *s, size_t i, struct refsource **ret,
		       const char **ret_error)
{
	int r;

	if (i >= s->cfg->n_sources)
		return -ENOENT;
	if (!s->rs[i] && !s->err[i]) {
		r = refsource_open(&s->cfg->sources[i], s->flags, &s->rs[i], &s->msg[i]);
		if (r < 0) {
			s->rs[i] = NULL;
			s->err[i] = r;
		}
	}
	if (s->err[i]) {
		if (ret_error)
			*ret_error = s->msg[i] ? s->msg[i] : strerror(-s->err[i]);
		return s->err[i];
	}
	*ret = s->rs[i];
	return 0;
}

struct refsource *reaper_sources_peek(const struct reaper_sources *s, size_t i)
{
	return i < s->cfg->n_sources ? s->rs[i] : NULL;
}
