/* fsd, the daemon: keeps the catalog current from inotify events, runs the
 * scheduled job, and answers the control socket. One thread runs one epoll
 * loop over a signalfd, the inotify fd, a timerfd, the hashing queue's
 * eventfd and the control socket, and is the only writer of the catalog;
 * worker threads only hash. Signals only wake the loop. */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <systemd/sd-daemon.h>

#include "common/log.h"
#include "common/util.h"
#include "fsd/fsd.h"
#include "reaper/plan.h"

/* A batch is committed at 4,000 changes, when it is 50 ms old, or when
 * the loop has had nothing to do for a while and the batch is 10 ms old:
 * small enough for a close()-to-row latency well under 200 ms, large
 * enough that a steady stream does not pay one commit per file. */
#define TXN_MAX_OPS 4000
#define TXN_MAX_NS (50 * 1000 * 1000LL)
#define TXN_IDLE_NS (10 * 1000 * 1000LL)
#define EVENT_BATCH 256
#define EVENT_GATHER_NS (1 * 1000 * 1000L)

enum src { SRC_SIGNAL = 1, SRC_TIMER, SRC_INOTIFY, SRC_HASHQ, SRC_LISTEN, SRC_HTTP };

int daemon_txn(struct daemon *d)
{
	if (d->in_txn)
		return 0;
	int r = catalog_begin(d->cat);
	if (r < 0)
		return log_error_errno(r, "Failed to begin a catalog transaction: %s",
				       catalog_errmsg(d->cat));
	d->in_txn = true;
	d->txn_ops = 0;
	d->txn_start_ns = mono_ns();
	return 0;
}

int daemon_commit(struct daemon *d)
{
	if (!d->in_txn)
		return 0;
	int r = catalog_commit(d->cat);
	d->in_txn = false;
	if (r < 0) {
		(void)catalog_rollback(d->cat);
		/* what the batch held is on disk still; the next scan finds it */
		for (size_t i = 0; i < d->n_roots; i++)
			d->roots[i].rescan = true;
		return log_error_errno(r, "Failed to commit to the catalog: %s",
				       catalog_errmsg(d->cat));
	}
	d->n.commits++;
	return 0;
}

void daemon_set_status(struct daemon *d, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	sd_notifyf(0, "STATUS=%s", buf);
}

struct droot *daemon_root_by_name(struct daemon *d, const char *name)
{
	for (size_t i = 0; i < d->n_roots; i++)
		if (streq(d->roots[i].cfg->name, name))
			return &d->roots[i];
	return NULL;
}

bool daemon_idle(struct daemon *d)
{
	uint64_t queued, running, done;
	hashq_depths(d->hq, &queued, &running, &done);
	if (queued || running || done || watch_pending(d->wt) || watch_queued_bytes(d->wt) > 0)
		return false;
	for (size_t i = 0; i < d->n_roots; i++)
		if (d->roots[i].rescan)
			return false;
	return !d->in_txn;
}

static int usage(FILE *f, int ret)
{
	fprintf(f, "usage: fsd [--config FILE | --preset NAME --data-dir DIR] [--catalog PATH]\n"
		   "           [--socket PATH] [--foreground]\n\n"
		   "Keeps fsd's catalog current as files come and go, runs the reaper on its\n"
		   "schedule and answers 'fsdctl status'. See fsd(8).\n");
	return ret;
}

static int parse_args(struct daemon *d, int argc, char **argv)
{
	enum { OPT_PRESET = 0x100, OPT_DATA_DIR, OPT_SOCKET };
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"catalog", required_argument, NULL, 'C'},
		{"preset", required_argument, NULL, OPT_PRESET},
		{"data-dir", required_argument, NULL, OPT_DATA_DIR},
		{"socket", required_argument, NULL, OPT_SOCKET},
		{"foreground", no_argument, NULL, 'f'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	int c;
	while ((c = getopt_long(argc, argv, "c:C:fvh", opts, NULL)) >= 0) {
		switch (c) {
		case 'c': d->config_path = optarg; break;
		case 'C': d->catalog_opt = optarg; break;
		case OPT_PRESET: d->preset = optarg; break;
		case OPT_DATA_DIR: d->data_dir = optarg; break;
		case OPT_SOCKET: d->socket_opt = optarg; break;
		case 'f': d->foreground = true; break;
		case 'v': log_set_max_level(LOG_DEBUG); break;
		case 'h': return usage(stdout, 1);
		default: return usage(stderr, -EINVAL);
		}
	}
	if (optind < argc) {
		log_error("Unexpected argument '%s'.", argv[optind]);
		return -EINVAL;
	}
	if (d->preset && d->config_path)
		return log_error_errno(-EINVAL, "--preset and --config exclude each other.");
	if (!!d->preset != !!d->data_dir)
		return log_error_errno(-EINVAL, "--preset NAME and --data-dir DIR go together.");
	return 0;
}

/* Loads the configuration named on the command line and its [daemon]
 * section; on failure the message names the place and nothing changes. */
static int load_config(struct daemon *d, struct config **ret_cfg, struct daemon_settings *ret_set)
{
	struct config *cfg = NULL;
	char *msg = NULL;
	const char *path = d->config_path;
	int r;

	if (d->preset)
		r = config_load_preset(d->preset, d->data_dir, &cfg, &msg);
	else {
		if (!path)
			path = getenv("FSD_CONFIG");
		if (!path)
			path = "/etc/fsd/fsd.conf";
		r = config_load(path, &cfg, &msg);
	}
	if (r >= 0)
		r = daemon_settings_parse(cfg, ret_set, &msg);
	if (r < 0) {
		if (msg) {
			size_t l = strlen(msg);
			while (l > 0 && msg[l - 1] == '\n')
				msg[--l] = 0;
			log_error("%s", msg);
		} else
			log_error_errno(r, "Failed to load configuration '%s': %m",
					d->preset ? d->preset : path);
		free(msg);
		config_free(cfg);
		return r;
	}
	*ret_cfg = cfg;
	return 0;
}

static int mkdir_parents(const char *path)
{
	_cleanup_free_ char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = 0;
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return negative_errno();
		*s = '/';
	}
	return 0;
}

/* One fsd per catalog: an flock on "<catalog>.fsd.lock" holding our pid. */
static int take_lock(struct daemon *d)
{
	int r;
	if (asprintf(&d->lock_path, "%s.fsd.lock", d->catalog_path) < 0)
		return log_error_errno(-ENOMEM, "Out of memory.");
	r = mkdir_parents(d->lock_path);
	if (r < 0)
		return log_error_errno(r, "Failed to create the directory of '%s': %m",
				       d->lock_path);
	d->lock_fd = open(d->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (d->lock_fd < 0)
		return log_error_errno(negative_errno(), "Failed to open lock file '%s': %m",
				       d->lock_path);
	if (flock(d->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		r = negative_errno();
		if (r != -EWOULDBLOCK)
			return log_error_errno(r, "Failed to lock '%s': %m", d->lock_path);
		char pid[32] = "";
		ssize_t n = pread(d->lock_fd, pid, sizeof pid - 1, 0);
		pid[n > 0 ? n : 0] = 0;
		pid[strcspn(pid, "\n")] = 0;
		return log_error_errno(-EBUSY,
				       "Catalog '%s' is in use by another fsd (pid %s, lock %s); "
				       "refusing to start a second one.",
				       d->catalog_path, *pid ? pid : "unknown", d->lock_path);
	}
	char buf[32];
	int len = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
	if (ftruncate(d->lock_fd, 0) < 0 || pwrite(d->lock_fd, buf, (size_t)len, 0) != len)
		log_warning_errno(negative_errno(), "Failed to write our pid to '%s', ignoring: %m",
				  d->lock_path);
	return 0;
}

static void roots_done(struct daemon *d)
{
	for (size_t i = 0; i < d->n_roots; i++) {
		if (d->roots[i].fd >= 0)
			close(d->roots[i].fd);
		keyer_free(d->roots[i].keyer);
		strv_free(d->roots[i].exclude);
	}
	free(d->roots);
	d->roots = NULL;
	d->n_roots = 0;
}

/* The root as configured, with the reaper's quarantine excluded: what is
 * held there is not part of the root's files. */
static int root_effective(struct droot *r, const struct config_root *cfg)
{
	char **exclude = NULL;
	for (char **g = cfg->exclude; g && *g; g++)
		if (strv_extend(&exclude, *g) < 0)
			goto oom;
	if (strv_extend(&exclude, REAPER_QUARANTINE_DIR) < 0)
		goto oom;
	strv_free(r->exclude);
	r->exclude = exclude;
	r->eff = *cfg;
	r->eff.exclude = exclude;
	r->cfg = &r->eff;
	return 0;
oom:
	strv_free(exclude);
	return -ENOMEM;
}

static int roots_init(struct daemon *d)
{
	d->roots = calloc(MAX(d->cfg->n_roots, 1), sizeof *d->roots);
	if (!d->roots)
		return log_error_errno(-ENOMEM, "Out of memory.");
	d->n_roots = d->cfg->n_roots;
	for (size_t i = 0; i < d->n_roots; i++) {
		struct droot *r = &d->roots[i];
		int k = root_effective(r, &d->cfg->roots[i]);
		if (k < 0)
			return log_error_errno(k, "Out of memory.");
		r->fd = open(r->cfg->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (r->fd < 0) {
			log_warning_errno(negative_errno(),
					  "Root '%s' (%s) cannot be opened: %m; checking again every "
					  "rescan-interval.",
					  r->cfg->name, r->cfg->path);
			r->lost = true;
		}
		k = catalog_root_ensure(d->cat, r->cfg->name, r->cfg->path, &r->id);
		if (k < 0)
			return log_error_errno(k, "Failed to record root '%s' in the catalog: %s",
					       r->cfg->name, catalog_errmsg(d->cat));
		k = keyer_new(r->cfg, &r->keyer);
		if (k < 0)
			return log_error_errno(k, "Root '%s': bad key derivation: %m", r->cfg->name);
	}
	return 0;
}

/* Watches every root (or retries a lost one) and queues its rescan. */
static void watch_all(struct daemon *d)
{
	for (size_t i = 0; i < d->n_roots; i++) {
		struct droot *r = &d->roots[i];
		if (r->fd < 0)
			r->fd = open(r->cfg->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (r->fd < 0)
			continue;
		int k = watch_root(d, r);
		if (k < 0 && k != -ENOSPC)
			log_warning_errno(k, "Failed to watch root '%s' (%s): %m", r->cfg->name,
					  r->cfg->path);
		r->rescan = true;
	}
}

static int epoll_add(struct daemon *d, int fd, enum src s)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)s};
	if (epoll_ctl(d->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return log_error_errno(negative_errno(), "epoll_ctl: %m");
	return 0;
}

static void pause_watch(struct daemon *d, bool pause)
{
	if (pause == d->paused)
		return;
	d->paused = pause;
	if (pause)
		(void)epoll_ctl(d->epoll_fd, EPOLL_CTL_DEL, watch_tree_fd(d->wt), NULL);
	else
		(void)epoll_add(d, watch_tree_fd(d->wt), SRC_INOTIFY);
	log_info("%s.", pause ? "Paused: events wait in the kernel queue" : "Resumed");
}

void daemon_pause(struct daemon *d, bool pause)
{
	pause_watch(d, pause);
}

static void handled_signals(sigset_t *mask)
{
	sigemptyset(mask);
	sigaddset(mask, SIGTERM);
	sigaddset(mask, SIGINT);
	sigaddset(mask, SIGHUP);
}

static int setup_fds(struct daemon *d)
{
	sigset_t mask;
	handled_signals(&mask);
	d->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	d->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	d->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (d->signal_fd < 0 || d->timer_fd < 0 || d->epoll_fd < 0)
		return log_error_errno(negative_errno(), "Failed to set up the event loop: %m");
	int r = epoll_add(d, d->signal_fd, SRC_SIGNAL);
	if (r >= 0)
		r = epoll_add(d, d->timer_fd, SRC_TIMER);
	if (r >= 0)
		r = epoll_add(d, hashq_fd(d->hq), SRC_HASHQ);
	if (r >= 0)
		r = epoll_add(d, watch_tree_fd(d->wt), SRC_INOTIFY);
	if (r >= 0)
		r = epoll_add(d, d->listen_fd, SRC_LISTEN);
	if (r >= 0 && http_fd(d) >= 0)
		r = epoll_add(d, http_fd(d), SRC_HTTP);
	return r;
}

static unsigned default_workers(unsigned configured)
{
	if (configured > 0)
		return configured;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return (unsigned)MIN(MAX(n, 1), 4);
}

static uint64_t random_u64(void)
{
	uint64_t x = (uint64_t)now_ns() ^ ((uint64_t)getpid() << 32);
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

static void schedule_job(struct daemon *d)
{
	int64_t now = now_ns();
	int64_t next = schedule_next(&d->set, now, random_u64());
	d->next_job_ns = next > 0 ? mono_ns() + (next - now) : 0;
	d->next_job_real_ns = next;
}

/* Arms the timer for the earliest of: watchdog, next job, rescans of
 * roots inotify cannot cover, metrics file. */
static void arm_timer(struct daemon *d)
{
	int64_t next = INT64_MAX;
	if (d->watchdog_usec > 0)
		next = MIN(next, d->last_watchdog_ns + d->watchdog_usec * 1000 / 2);
	if (d->next_job_ns > 0 && !d->paused)
		next = MIN(next, d->next_job_ns);
	if (d->set.metrics_file)
		next = MIN(next, d->next_metrics_ns);
	for (size_t i = 0; i < d->n_roots; i++)
		if (d->roots[i].next_rescan_ns > 0)
			next = MIN(next, d->roots[i].next_rescan_ns);
	if (next == d->timer_armed_ns)
		return;
	d->timer_armed_ns = next;
	struct itimerspec its = {0};
	if (next != INT64_MAX) {
		next = MAX(next, 1);
		its.it_value.tv_sec = next / 1000000000LL;
		its.it_value.tv_nsec = next % 1000000000LL;
	}
	(void)timerfd_settime(d->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static bool strv_equal(char **a, char **b)
{
	size_t n = strv_length(a);
	if (n != strv_length(b))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!streq(a[i], b[i]))
			return false;
	return true;
}

static bool roots_equal(const struct config *a, const struct config *b)
{
	if (a->n_roots != b->n_roots)
		return false;
	for (size_t i = 0; i < a->n_roots; i++) {
		const struct config_root *x = &a->roots[i], *y = &b->roots[i];
		if (!streq(x->name, y->name) || !streq(x->path, y->path) || x->class != y->class ||
		    x->key != y->key || !streq_ptr(x->key_regex, y->key_regex) ||
		    !streq_ptr(x->marker, y->marker) || x->one_file_system != y->one_file_system ||
		    !strv_equal(x->exclude, y->exclude))
			return false;
	}
	return true;
}

/* Replaces roots, watches and queued work after the set of roots changed;
 * every root is rescanned, so nothing that happened meanwhile is lost. */
static int rebuild(struct daemon *d)
{
	(void)daemon_commit(d);
	hashq_drop_all(d->hq);
	if (!d->paused)
		(void)epoll_ctl(d->epoll_fd, EPOLL_CTL_DEL, watch_tree_fd(d->wt), NULL);
	watch_tree_free(d->wt);
	d->wt = NULL;
	roots_done(d);
	int r = roots_init(d);
	if (r >= 0)
		r = watch_tree_new(d, &d->wt);
	if (r < 0)
		return log_error_errno(r, "Failed to set up the new roots: %m");
	if (!d->paused)
		(void)epoll_add(d, watch_tree_fd(d->wt), SRC_INOTIFY);
	watch_all(d);
	return 0;
}

int daemon_reload(struct daemon *d)
{
	struct config *cfg = NULL;
	struct daemon_settings set;

	log_info("Reloading the configuration.");
	int r = load_config(d, &cfg, &set);
	if (r < 0) {
		log_error("The new configuration was refused; keeping the old one.");
		return r;
	}
	for (size_t i = 0; i < cfg->n_roots; i++) {
		struct keyer *k = NULL;
		r = keyer_new(&cfg->roots[i], &k);
		keyer_free(k);
		if (r < 0) {
			log_error_errno(r, "Root '%s': bad key derivation (%m); keeping the old "
					   "configuration.", cfg->roots[i].name);
			config_free(cfg);
			daemon_settings_done(&set);
			return r;
		}
	}
	if (!d->catalog_opt && !streq_ptr(cfg->catalog, d->cfg->catalog))
		log_warning("The catalog path changed; that takes a restart. Still using '%s'.",
			    d->catalog_path);
	if (!d->socket_opt && !streq_ptr(set.socket, d->set.socket))
		log_warning("The socket path changed; that takes a restart. Still listening on '%s'.",
			    d->socket_path);
	if (set.workers != d->set.workers)
		log_warning("workers changed; that takes a restart.");
	if (!streq_ptr(set.http, d->set.http) ||
	    !streq_ptr(set.http_token_file, d->set.http_token_file))
		log_warning("The HTTP API settings changed; that takes a restart.");
	bool same = roots_equal(cfg, d->cfg);
	struct config *old = d->cfg;
	d->cfg = cfg;
	daemon_settings_done(&d->set);
	d->set = set;
	if (same) {
		for (size_t i = 0; i < d->n_roots; i++) {
			if (root_effective(&d->roots[i], &cfg->roots[i]) < 0)
				log_error("Out of memory; root '%s' keeps its old excludes.",
					  cfg->roots[i].name);
			keyer_free(d->roots[i].keyer);
			d->roots[i].keyer = NULL;
			(void)keyer_new(d->roots[i].cfg, &d->roots[i].keyer);
		}
	} else
		r = rebuild(d);
	config_free(old);
	schedule_job(d);
	log_info("Configuration reloaded%s.", same ? "" : " with new roots; rescanning");
	return r;
}

int daemon_run_job(struct daemon *d, const char *why)
{
	int r;

	free(d->last_error);
	d->last_error = NULL;
	d->last_job_ns = now_ns();
	if (d->set.job == DAEMON_JOB_SCAN) {
		r = daemon_scan_roots(d, NULL);
	} else
		r = daemon_reap(d, why, d->set.apply, NULL);
	snprintf(d->last_job_outcome, sizeof d->last_job_outcome, "%s",
		 r < 0 ? "failed" : r > 0 ? "partial" : "ok");
	if (r < 0) {
		d->n.runs_failed++;
		log_error_errno(r, "The %s job (%s) failed: %s",
				d->set.job == DAEMON_JOB_SCAN ? "scan" : "reap", why,
				d->last_error ? d->last_error : strerror(-r));
	} else {
		d->n.runs_ok++;
		log_info("The %s job (%s) finished.", d->set.job == DAEMON_JOB_SCAN ? "scan" : "reap",
			 why);
	}
	return r;
}

static void on_timer(struct daemon *d)
{
	uint64_t n;
	(void)!read(d->timer_fd, &n, sizeof n);
	d->timer_armed_ns = 0; /* expired: arm again whatever comes next */
	int64_t now = mono_ns();

	if (d->watchdog_usec > 0 && now >= d->last_watchdog_ns + d->watchdog_usec * 1000 / 2) {
		sd_notify(0, "WATCHDOG=1");
		d->last_watchdog_ns = now;
	}
	for (size_t i = 0; i < d->n_roots; i++) {
		struct droot *r = &d->roots[i];
		if (r->next_rescan_ns == 0 || now < r->next_rescan_ns)
			continue;
		r->next_rescan_ns = (r->degraded || r->lost) && d->set.rescan_interval_ns > 0
					    ? now + d->set.rescan_interval_ns
					    : 0;
		if (r->lost) {
			r->lost = false;
			if (r->fd >= 0) {
				close(r->fd);
				r->fd = -1;
			}
			r->fd = open(r->cfg->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (r->fd < 0 || watch_root(d, r) < 0) {
				r->lost = true;
				continue;
			}
		}
		r->rescan = true;
	}
	if (d->next_job_ns > 0 && now >= d->next_job_ns && !d->paused) {
		(void)daemon_run_job(d, "schedule");
		schedule_job(d);
	}
	if (d->set.metrics_file && now >= d->next_metrics_ns) {
		(void)metrics_write_file(d);
		d->next_metrics_ns = mono_ns() + d->set.metrics_interval_ns;
	}
}

static void on_signal(struct daemon *d)
{
	struct signalfd_siginfo si;
	while (read(d->signal_fd, &si, sizeof si) == sizeof si) {
		if (si.ssi_signo == SIGHUP)
			d->reload_requested = true;
		else {
			log_info("Received %s, stopping after the current batch.",
				 strsignal((int)si.ssi_signo));
			d->stopping = true;
		}
	}
}

static void on_inotify(struct daemon *d)
{
	uint64_t before = d->n.events;

	/* A bounded number of reads per turn, so that results and the
	 * control socket get their share under a flood. */
	for (int i = 0; i < 16 && !d->paused; i++) {
		int r = watch_dispatch(d);
		if (r == -EAGAIN)
			break;
		if (r < 0)
			log_warning_errno(r, "Failed to handle inotify events: %m");
		if (d->txn_ops >= TXN_MAX_OPS)
			(void)daemon_commit(d);
	}
	/* A stream of single events would cost several thread switches per
	 * file (loop, worker, loop); letting a few milliseconds of events
	 * gather turns them into batches, at a small cost in latency. */
	watch_flush_moves(d, false);
	uint64_t got = d->n.events - before;
	if (got > 0 && got < EVENT_BATCH)
		nanosleep(&(struct timespec){.tv_nsec = EVENT_GATHER_NS}, NULL);
}

static void do_rescans(struct daemon *d)
{
	for (size_t i = 0; i < d->n_roots; i++) {
		struct droot *r = &d->roots[i];
		if (!r->rescan || d->paused)
			continue;
		if (r->fd < 0) {
			r->rescan = false;
			continue;
		}
		/* After an overflow the watches may be out of step too. */
		if (r->rewatch && !r->degraded && !r->lost)
			(void)watch_root(d, r);
		r->rewatch = false;
		(void)daemon_scan_roots(d, r);
	}
}

static void loop_turn(struct daemon *d)
{
	struct epoll_event evs[16];
	int timeout = -1;

	hashq_kick(d->hq);
	if (d->in_txn)
		timeout = (int)MAX(0, (d->txn_start_ns + TXN_IDLE_NS - mono_ns() + 999999) / 1000000);
	else if (watch_pending(d->wt))
		timeout = 5;
	int64_t ht = http_timeout_ms(d);
	if (ht >= 0 && (timeout < 0 || ht < timeout))
		timeout = (int)ht;
	__atomic_store_n(&d->heartbeat_ns, mono_ns(), __ATOMIC_RELAXED);
	arm_timer(d);
	int n = epoll_wait(d->epoll_fd, evs, ELEMENTSOF(evs), timeout);
	if (n < 0) {
		if (errno != EINTR)
			log_error_errno(negative_errno(), "epoll_wait: %m");
		return;
	}
	http_run(d); /* also expires idle or slow HTTP clients */
	if (n == 0) {
		watch_flush_moves(d, false);
		if (!watch_pending(d->wt) && mono_ns() - d->txn_start_ns >= TXN_IDLE_NS)
			(void)daemon_commit(d);
		return;
	}
	for (int i = 0; i < n; i++) {
		switch ((enum src)evs[i].data.u64) {
		case SRC_SIGNAL: on_signal(d); break;
		case SRC_TIMER: on_timer(d); break;
		case SRC_INOTIFY: on_inotify(d); break;
		case SRC_HASHQ: (void)hashq_collect(d->hq, daemon_file_result, d); break;
		case SRC_LISTEN: (void)control_accept(d); break;
		case SRC_HTTP: break; /* http_run() above */
		}
	}
	if (d->in_txn && (d->txn_ops >= TXN_MAX_OPS || mono_ns() - d->txn_start_ns > TXN_MAX_NS))
		(void)daemon_commit(d);
}

static int run_loop(struct daemon *d)
{
	while (!d->stopping) {
		if (d->reload_requested) {
			d->reload_requested = false;
			(void)daemon_reload(d);
		}
		do_rescans(d);
		loop_turn(d);
		if (!d->in_txn)
			daemon_check_min_free(d);
	}
	sd_notify(0, "STOPPING=1");
	watch_flush_moves(d, true);
	return daemon_commit(d);
}

/* Keeps systemd's watchdog fed while the loop is alive or inside a long
 * scan (which blocks the loop but makes progress on its own threads). */
static void *watchdog_main(void *arg)
{
	struct daemon *d = arg;
	int64_t period = d->watchdog_usec * 1000 / 3;
	struct timespec ts = {.tv_sec = period / 1000000000LL, .tv_nsec = period % 1000000000LL};
	for (;;) {
		nanosleep(&ts, NULL);
		int64_t beat = __atomic_load_n(&d->heartbeat_ns, __ATOMIC_RELAXED);
		if (__atomic_load_n(&d->busy, __ATOMIC_RELAXED) ||
		    mono_ns() - beat < d->watchdog_usec * 1000)
			sd_notify(0, "WATCHDOG=1");
	}
	return NULL;
}

static int open_catalog(struct daemon *d)
{
	int r;
	if (d->catalog_opt)
		d->catalog_path = strdup(d->catalog_opt);
	else if (d->cfg->catalog)
		d->catalog_path = strdup(d->cfg->catalog);
	else {
		r = config_default_catalog(d->cfg, &d->catalog_path);
		if (r < 0)
			return log_error_errno(r, "Failed to find a place for the catalog: %m");
	}
	if (!d->catalog_path)
		return log_error_errno(-ENOMEM, "Out of memory.");
	r = take_lock(d);
	if (r < 0)
		return r;
	r = catalog_open(d->catalog_path, 0, &d->cat);
	if (r < 0)
		return log_error_errno(r, "Failed to open catalog '%s': %m", d->catalog_path);
	return 0;
}

static int start(struct daemon *d)
{
	int r = load_config(d, &d->cfg, &d->set);
	if (r < 0)
		return r;
	r = open_catalog(d);
	if (r < 0)
		return r;
	r = roots_init(d);
	if (r < 0)
		return r;
	r = hashq_new(default_workers(d->set.workers), &d->hq);
	if (r < 0)
		return log_error_errno(r, "Failed to start hashing threads: %m");
	r = watch_tree_new(d, &d->wt);
	if (r < 0)
		return log_error_errno(r, "Failed to set up inotify: %m");
	r = control_open(d);
	if (r < 0)
		return r;
	r = http_start(d);
	if (r < 0)
		return r;
	r = setup_fds(d);
	if (r < 0)
		return r;
	if (sd_watchdog_enabled(0, (uint64_t *)&d->watchdog_usec) <= 0)
		d->watchdog_usec = 0;
	d->last_watchdog_ns = mono_ns();
	if (d->watchdog_usec > 0) {
		pthread_t t;
		if (pthread_create(&t, NULL, watchdog_main, d) == 0)
			pthread_detach(t);
	}
	d->started_ns = now_ns();
	d->next_metrics_ns = mono_ns();
	schedule_job(d);
	daemon_recover(d);
	/* Watch first, then scan: a change during the scan is an event. */
	watch_all(d);
	sd_notify(0, "READY=1");
	log_info("fsd %d watching %zu root(s), %" PRIu64 " directories; catalog %s; socket %s.",
		 (int)getpid(), d->n_roots, watch_count(d->wt), d->catalog_path, d->socket_path);
	daemon_set_status(d, "Watching %zu root(s), %" PRIu64 " directories", d->n_roots,
			  watch_count(d->wt));
	return 0;
}

static void stop(struct daemon *d)
{
	hashq_free(d->hq);
	http_stop(d);
	control_close(d);
	watch_tree_free(d->wt);
	roots_done(d);
	catalog_close(d->cat);
	config_free(d->cfg);
	daemon_settings_done(&d->set);
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	free(d->lock_path);
	free(d->catalog_path);
	free(d->socket_path);
	free(d->last_error);
	if (d->signal_fd >= 0)
		close(d->signal_fd);
	if (d->timer_fd >= 0)
		close(d->timer_fd);
	if (d->epoll_fd >= 0)
		close(d->epoll_fd);
}

int main(int argc, char **argv)
{
	struct daemon d = {
		.lock_fd = -1, .epoll_fd = -1, .signal_fd = -1, .timer_fd = -1, .listen_fd = -1,
	};
	sigset_t mask;

	/* Blocked before any thread starts, so that every thread inherits the
	 * mask and the signals reach only the signalfd. */
	handled_signals(&mask);
	if (pthread_sigmask(SIG_BLOCK, &mask, NULL) != 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	log_set_ident("fsd");
	int r = parse_args(&d, argc, argv);
	if (r != 0) {
		stop(&d);
		return r > 0 ? 0 : 1;
	}
	r = start(&d);
	if (r >= 0)
		r = run_loop(&d);
	if (r >= 0)
		log_info("Stopped; the catalog is consistent.");
	stop(&d);
	return r < 0 ? 1 : 0;
}
