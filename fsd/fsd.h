/* The daemon's shared state and the seams between its parts: the event
 * loop (main.c), the inotify watcher (watch.c), the hashing workers
 * (hashq.c), the control socket (control.c), metrics (metrics.c) and the
 * schedule (schedule.c). Everything here is touched by the loop thread
 * only, except what hashq.c says it shares with its workers. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "catalog/catalog.h"
#include "catalog/key.h"
#include "common/config.h"
#include "common/util.h"
#include "fsd/schedule.h"

struct watch_tree;
struct hashq;
struct http;

/* One configured root as the daemon runs it. */
struct droot {
	const struct config_root *cfg; /* &eff */
	struct config_root eff;        /* the configured root, plus the quarantine excluded */
	char **exclude;                /* eff.exclude (owned) */
	int64_t id;                    /* catalog root id */
	int fd;                        /* O_PATH|O_DIRECTORY of the root, -1 if missing */
	struct keyer *keyer;
	bool degraded;          /* out of inotify watches: periodic quick-check scans instead */
	bool lost;              /* the root directory went away or could not be watched */
	bool rescan;            /* a quick-check scan is due (overflow, lost events) */
	bool rewatch;           /* the watches must be re-synced first (overflow) */
	int64_t next_rescan_ns; /* monotonic; 0 = none scheduled */
	bool exhausted_logged;
};

struct daemon_counters {
	uint64_t events;       /* inotify events read */
	uint64_t overflows;    /* IN_Q_OVERFLOW seen */
	uint64_t hashed;       /* files hashed by the workers */
	uint64_t bytes_hashed;
	uint64_t upserts, gone, renames;
	uint64_t stale;        /* results dropped because the file changed or went */
	uint64_t scans;        /* quick-check scans run */
	uint64_t watch_errors; /* directories that could not be watched */
	uint64_t commits;
	/* runs started by this daemon, by kind and outcome */
	uint64_t runs_ok, runs_failed, runs_findings;
	uint64_t reaped_files, reaped_bytes;
};

struct daemon {
	/* command line */
	const char *config_path, *preset, *data_dir, *catalog_opt, *socket_opt;
	bool foreground;

	struct config *cfg;
	struct daemon_settings set;
	char *catalog_path;
	char *socket_path;
	char *lock_path;
	struct catalog *cat;

	int lock_fd, epoll_fd, signal_fd, timer_fd, listen_fd;
	struct droot *roots;
	size_t n_roots;
	struct watch_tree *wt;
	struct hashq *hq;
	struct http *http;

	/* the open write batch */
	bool in_txn;
	unsigned txn_ops;
	int64_t txn_start_ns;

	bool paused, stopping, reload_requested;
	bool watches_exhausted_logged;
	int64_t started_ns;
	int64_t watchdog_usec, last_watchdog_ns;
	int64_t next_job_ns;     /* monotonic time of the next scheduled job, 0 = none */
	int64_t next_job_real_ns; /* the same as wall-clock time, for status */
	int64_t timer_armed_ns;   /* what the timerfd is set to (INT64_MAX: disarmed) */
	int64_t heartbeat_ns;     /* the loop's last turn (the watchdog thread reads it) */
	bool busy;                /* inside a scan (the watchdog thread reads it) */
	int64_t next_metrics_ns; /* monotonic */
	int64_t last_scan_ns, last_job_ns;
	int64_t min_free_checked_ns, min_free_ran_ns;
	uint64_t min_free_upserts; /* upserts at the last min-free check */
	char last_job_outcome[32];
	char *last_error;
	struct daemon_counters n;
};

/* main.c: the write batch. Every catalog write goes through these. */
int daemon_txn(struct daemon *d);
int daemon_commit(struct daemon *d);
/* Quick-check scan of one root (or every root with NULL), on the loop
 * thread; records the run. */
int daemon_scan_roots(struct daemon *d, struct droot *only);
/* Scans one path below a root (a new or renamed directory). */
int daemon_scan_path(struct daemon *d, struct droot *r, const char *path);
int daemon_reload(struct daemon *d);

/* setup.c */
int daemon_load_config(struct daemon *d, struct config **ret_cfg, struct daemon_settings *ret_set);
int daemon_take_lock(struct daemon *d);
int daemon_roots_init(struct daemon *d);
/* r->cfg := the configured root plus the reaper's quarantine excluded. */
int daemon_root_effective(struct droot *r, const struct config_root *cfg);
void daemon_roots_done(struct daemon *d);
/* Watches every root (or retries a lost one) and queues its rescan. */
void daemon_watch_all(struct daemon *d);
/* main.c: the inotify fd in or out of the loop; the next scheduled job. */
void daemon_watch_events(struct daemon *d, bool on);
void daemon_schedule_job(struct daemon *d);
void daemon_pause(struct daemon *d, bool pause);
bool daemon_idle(struct daemon *d);
struct droot *daemon_root_by_name(struct daemon *d, const char *name);
void daemon_set_status(struct daemon *d, const char *fmt, ...) _printf_(2, 3);
/* Runs the scheduled job now (as "fsdctl reap" would, or a scan). */
int daemon_run_job(struct daemon *d, const char *why);

/* reap.c: plan (and with `apply`, apply) as `fsdctl reap` does. */
struct reap_summary {
	size_t actions; /* planned */
	uint64_t files, bytes;
	bool applied;
	int64_t run_id;
	uint64_t done_files, done_bytes, skipped, failed, deferred;
};
int daemon_reap(struct daemon *d, const char *why, bool apply, struct reap_summary *ret);
/* Settles reaper actions a crash left unfinished (at start). */
void daemon_recover(struct daemon *d);
/* Runs the job when a root falls below a min-free rule (rate-limited). */
void daemon_check_min_free(struct daemon *d);

/* watch.c */
int watch_tree_new(struct daemon *d, struct watch_tree **ret);
void watch_tree_free(struct watch_tree *wt);
int watch_tree_fd(const struct watch_tree *wt);
/* Adds watches on a root's directory tree. */
int watch_root(struct daemon *d, struct droot *r);
/* Reads one buffer of events and handles them; -EAGAIN when none was
 * waiting. */
int watch_dispatch(struct daemon *d);
/* Called when nothing else is ready: settles renames whose other half
 * never came (moves out of the roots). */
void watch_flush_moves(struct daemon *d, bool all);
bool watch_pending(const struct watch_tree *wt);
uint64_t watch_count(const struct watch_tree *wt);
unsigned watch_queued_bytes(const struct watch_tree *wt);

struct hash_result {
	size_t root;
	const char *path;
	size_t path_len;
	int error; /* 0, or the errno that stopped hashing */
	struct stat_lite {
		int64_t size, mtime_ns, ctime_ns;
		uint64_t ino, dev;
		uint32_t mode;
	} st;
	struct catalog_hash hash;
	uint64_t bytes;
};

/* hashq.c: a path set deduplicating queued work, and worker threads that
 * hash and hand results back through an eventfd. */
int hashq_new(unsigned workers, struct hashq **ret);
void hashq_free(struct hashq *q); /* stops the workers */
int hashq_fd(const struct hashq *q);
/* Queues (root index, path) for hashing; a path already queued is not
 * queued twice, a path being hashed is hashed again afterwards. */
int hashq_add(struct hashq *q, size_t root, int root_fd, const char *path, size_t len);
bool hashq_contains(struct hashq *q, size_t root, const char *path, size_t len);
/* Whether a job is under directory `dir` (a rename must follow it). */
bool hashq_any_under(struct hashq *q, size_t root, const char *dir, size_t len);
/* Wakes the workers for the jobs queued since the last call. */
void hashq_kick(struct hashq *q);
/* Handles finished jobs with `cb` (on the calling thread). */
int hashq_collect(struct hashq *q, int (*cb)(struct daemon *d, const struct hash_result *res),
		  struct daemon *d);
/* Forgets every job (after a reload replaced the roots). */
void hashq_drop_all(struct hashq *q);
void hashq_depths(struct hashq *q, uint64_t *ret_queued, uint64_t *ret_running,
		  uint64_t *ret_done);

/* Opens `path` below the directory `dirfd` without following symlinks in
 * any component and without leaving the filesystem, where the kernel
 * allows it (openat2), else O_NOFOLLOW on the last component. */
int open_beneath(int dirfd, const char *path, int flags);

/* watch/hash results into the catalog (main.c) */
int daemon_file_result(struct daemon *d, const struct hash_result *res);
bool root_excluded(const struct config_root *r, const char *path);

/* control.c */
int control_open(struct daemon *d);
void control_close(struct daemon *d);
int control_accept(struct daemon *d);

/* http.c: the optional HTTP API (libmicrohttpd, driven by the loop). */
int http_start(struct daemon *d);
void http_stop(struct daemon *d);
int http_fd(struct daemon *d);       /* -1 when off */
void http_run(struct daemon *d);
int64_t http_timeout_ms(struct daemon *d); /* -1: none */
const char *http_address(struct daemon *d);

/* metrics.c */
int metrics_write(struct daemon *d, FILE *f);
int metrics_write_file(struct daemon *d);
int status_write(struct daemon *d, FILE *f, bool json);
