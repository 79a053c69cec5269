/* The [daemon] section of the configuration, and when the scheduled job
 * runs next. Pure functions of the settings and the clock, so that the
 * schedule can be tested without a daemon. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"

enum daemon_job {
	DAEMON_JOB_REAP, /* the reaper's plan (and apply, if apply = yes) */
	DAEMON_JOB_SCAN, /* a quick-check scan of every root */
};

struct daemon_settings {
	int64_t interval_ns;        /* interval = 1h; 0: none */
	int at_minute;              /* at = 03:00, minutes after local midnight; -1: none */
	int64_t jitter_ns;          /* jitter = 10m: a random delay in [0, jitter) */
	enum daemon_job job;        /* job = reap|scan */
	bool apply;                 /* apply = no: plan and record only */
	char *metrics_file;         /* metrics-file = PATH */
	char *socket;               /* socket = PATH */
	unsigned workers;           /* workers = N hashing threads (0: one per CPU, at most 4) */
	int64_t rescan_interval_ns; /* rescan-interval = 1h: quick-check scans of roots that
				       inotify cannot cover, and a safety net for all; 0 off */
	int64_t metrics_interval_ns; /* how often metrics-file is rewritten (60s) */
	char *http;                 /* http = ADDRESS:PORT of the HTTP API (NULL: off) */
	char *http_token_file;      /* http-token-file = PATH: the bearer token */
};

/* Reads the [daemon] section(s) of `c` into *ret (defaults for missing
 * keys). Unknown keys and bad values: -EINVAL and "FILE:LINE: ..." in
 * *ret_error. */
int daemon_settings_parse(const struct config *c, struct daemon_settings *ret, char **ret_error);
void daemon_settings_done(struct daemon_settings *s);

/* The realtime (ns since the epoch) of the next job after `now`, or 0 when
 * nothing is scheduled. `random` picks the jitter. `at` runs use local
 * time, so a DST change moves them with the wall clock. */
int64_t schedule_next(const struct daemon_settings *s, int64_t now, uint64_t random);
