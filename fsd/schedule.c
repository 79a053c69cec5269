/* The [daemon] section: its keys, their defaults and checks, and the
 * computation of the next scheduled run (interval or a daily time, plus a
 * random jitter so that many hosts do not reap at the same second). */
#include "fsd/schedule.h"

#include <stdarg.h>
#include <time.h>

#include "common/parse.h"
#include "common/util.h"

#define NS_PER_SEC 1000000000LL

struct errbuf {
	char *text;
	size_t len;
};

_printf_(4, 5) static int add_error(struct errbuf *e, const struct config *c, int line,
				    const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	char *line_text = NULL;
	int n = asprintf(&line_text, "%s:%d: %s\n", strempty(c->file), line, msg);
	if (n < 0)
		return -ENOMEM;
	char *t = realloc(e->text, e->len + (size_t)n + 1);
	if (!t) {
		free(line_text);
		return -ENOMEM;
	}
	memcpy(t + e->len, line_text, (size_t)n + 1);
	e->text = t;
	e->len += (size_t)n;
	free(line_text);
	return -EINVAL;
}

static int parse_at(const char *v, int *ret)
{
	unsigned h, m;
	char end;
	if (sscanf(v, "%2u:%2u%c", &h, &m, &end) != 2 || h > 23 || m > 59)
		return -EINVAL;
	*ret = (int)(h * 60 + m);
	return 0;
}

static int parse_workers(const char *v, unsigned *ret)
{
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (errno || end == v || *end || n > 64 || v[0] == '-')
		return -EINVAL;
	*ret = (unsigned)n;
	return 0;
}

static int set_string(char **dst, const char *v)
{
	char *s = strdup(v);
	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

/* One key; returns 0, -ENOMEM, or -EINVAL after recording the message. */
static int parse_kv(struct daemon_settings *s, const struct config *c, const struct config_kv *kv,
		    struct errbuf *e)
{
	const char *k = kv->key, *v = kv->value;
	int r = 0;

	if (streq(k, "interval"))
		r = parse_duration(v, &s->interval_ns);
	else if (streq(k, "at"))
		r = parse_at(v, &s->at_minute);
	else if (streq(k, "jitter"))
		r = parse_duration(v, &s->jitter_ns);
	else if (streq(k, "rescan-interval"))
		r = parse_duration(v, &s->rescan_interval_ns);
	else if (streq(k, "metrics-interval"))
		r = parse_duration(v, &s->metrics_interval_ns);
	else if (streq(k, "apply"))
		r = parse_bool(v, &s->apply);
	else if (streq(k, "workers"))
		r = parse_workers(v, &s->workers);
	else if (streq(k, "metrics-file"))
		return v[0] == '/' ? set_string(&s->metrics_file, v)
				   : add_error(e, c, kv->line, "metrics-file must be an absolute path");
	else if (streq(k, "socket"))
		return v[0] == '/' ? set_string(&s->socket, v)
				   : add_error(e, c, kv->line, "socket must be an absolute path");
	else if (streq(k, "http"))
		return strrchr(v, ':') ? set_string(&s->http, v)
				       : add_error(e, c, kv->line,
						   "http = '%s': expected ADDRESS:PORT, e.g. 127.0.0.1:8470",
						   v);
	else if (streq(k, "http-token-file"))
		return v[0] == '/' ? set_string(&s->http_token_file, v)
				   : add_error(e, c, kv->line, "http-token-file must be an absolute path");
	else if (streq(k, "job")) {
		if (streq(v, "reap"))
			s->job = DAEMON_JOB_REAP;
		else if (streq(v, "scan"))
			s->job = DAEMON_JOB_SCAN;
		else
			return add_error(e, c, kv->line, "job = '%s': expected reap or scan", v);
	} else
		return add_error(e, c, kv->line,
				 "unknown key '%s' in [daemon]; expected interval, at, jitter, job, "
				 "apply, workers, metrics-file, metrics-interval, socket, "
				 "rescan-interval, http, http-token-file",
				 k);
	if (r < 0)
		return add_error(e, c, kv->line, "%s = '%s': not a valid %s", k, v,
				 streq(k, "at") ? "time of day (HH:MM)"
				 : streq(k, "apply") ? "boolean (yes/no)"
				 : streq(k, "workers") ? "number of threads (0-64)"
						       : "duration (e.g. 90s, 15m, 1h)");
	return 0;
}

int daemon_settings_parse(const struct config *c, struct daemon_settings *ret, char **ret_error)
{
	struct daemon_settings s = {
		.at_minute = -1,
		.job = DAEMON_JOB_REAP,
		.rescan_interval_ns = 3600 * NS_PER_SEC,
		.metrics_interval_ns = 60 * NS_PER_SEC,
	};
	struct errbuf e = {0};
	int r = 0;

	for (size_t i = 0; i < c->n_sections; i++) {
		const struct config_section *sec = &c->sections[i];
		if (!streq_ptr(sec->type, "daemon"))
			continue;
		for (size_t j = 0; j < sec->n_kv; j++) {
			int k = parse_kv(&s, c, &sec->kv[j], &e);
			if (k < 0 && r == 0)
				r = k;
		}
	}
	if (r == 0 && s.interval_ns > 0 && s.at_minute >= 0)
		r = add_error(&e, c, 0, "[daemon] has both interval and at; choose one");
	if (r == 0 && s.http && !s.http_token_file)
		r = add_error(&e, c, 0, "[daemon] http needs http-token-file (the API has no "
					"anonymous access)");
	if (r == 0 && s.interval_ns < 0)
		r = add_error(&e, c, 0, "[daemon] interval must be positive");
	if (r < 0) {
		daemon_settings_done(&s);
		if (ret_error)
			*ret_error = e.text;
		else
			free(e.text);
		return r;
	}
	*ret = s;
	return 0;
}

void daemon_settings_done(struct daemon_settings *s)
{
	free(s->metrics_file);
	free(s->socket);
	free(s->http);
	free(s->http_token_file);
	s->metrics_file = s->socket = s->http = s->http_token_file = NULL;
}

static int64_t next_daily(int at_minute, int64_t now)
{
	time_t t = (time_t)(now / NS_PER_SEC);
	struct tm tm;
	localtime_r(&t, &tm);
	for (int day = 0; day < 3; day++) {
		struct tm want = tm;
		want.tm_mday += day;
		want.tm_hour = at_minute / 60;
		want.tm_min = at_minute % 60;
		want.tm_sec = 0;
		want.tm_isdst = -1;
		time_t w = mktime(&want);
		if (w != (time_t)-1 && (int64_t)w * NS_PER_SEC > now)
			return (int64_t)w * NS_PER_SEC;
	}
	return 0;
}

int64_t schedule_next(const struct daemon_settings *s, int64_t now, uint64_t random)
{
	int64_t next;

	if (s->interval_ns > 0)
		next = now + s->interval_ns;
	else if (s->at_minute >= 0)
		next = next_daily(s->at_minute, now);
	else
		return 0;
	if (next > 0 && s->jitter_ns > 0)
		next += (int64_t)(random % (uint64_t)s->jitter_ns);
	return next;
}
