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

/* A batch is committed at 4,000 changes, when it is 50 ms old, or when
 * the loop has had nothing to do for a while and the batch is 10 ms old:
 * small enough for a close()-to-row latency well under 200 ms, large
 * enough that a steady stream does not pay one commit per file. */
#define TXN_MAX_OPS 4000
#define TXN_MAX_NS (50 * 1000 * 1000LL)
#define TXN_IDLE_NS (10 * 1000 * 1000LL)
#define EVENT_BATCH 256
#define EVENT_GATHER_NS (5 * 1000 * 1000L)

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

static int epoll_add(struct daemon *d, int fd, enum src s)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)s};
	if (epoll_ctl(d->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return log_error_errno(negative_errno(), "epoll_ctl: %m");
	return 0;
}

/* Adds or removes the inotify fd from the loop (pause, reload). */
void daemon_watch_events(struct daemon *d, bool on)
{
	if (on)
		(void)epoll_add(d, watch_tree_fd(d->wt), SRC_INOTIFY);
	else
		(void)epoll_ctl(d->epoll_fd, EPOLL_CTL_DEL, watch_tree_fd(d->wt), NULL);
}

static void pause_watch(struct daemon *d, bool pause)
{
	if (pause == d->paused)
		return;
	d->paused = pause;
	if (pause)
		(void)epoll_ctl(d->epoll_fd, EPOLL_CTL_DEL, watch_tree_fd(d->wt), NULL);
	else
		daemon_watch_events(d, true);
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

void daemon_schedule_job(struct daemon *d)
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
	/* what the run changed shows in the metrics file at once */
	if (d->set.metrics_file)
		(void)metrics_write_file(d);
	return r;
}

/* Roots that inotify cannot cover (out of watches) or that went away get
 * a quick-check scan, or a new attempt to watch them, every
 * rescan-interval. */
static void recheck_roots(struct daemon *d, int64_t now)
{
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
	recheck_roots(d, now);
	if (d->next_job_ns > 0 && now >= d->next_job_ns && !d->paused) {
		(void)daemon_run_job(d, "schedule");
		daemon_schedule_job(d);
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
	r = daemon_take_lock(d);
	if (r < 0)
		return r;
	r = catalog_open(d->catalog_path, 0, &d->cat);
	if (r < 0)
		return log_error_errno(r, "Failed to open catalog '%s': %m", d->catalog_path);
	/* The daemon writes in small batches and lives for months: a 32 MiB
	 * page cache sized for bulk scans was half its peak RSS. */
	r = catalog_set_cache_size(d->cat, 8u << 20);
	if (r < 0)
		log_warning_errno(r, "Failed to shrink the catalog's page cache, ignoring: %m");
	return 0;
}

static int start(struct daemon *d)
{
	int r = daemon_load_config(d, &d->cfg, &d->set);
	if (r < 0)
		return r;
	r = open_catalog(d);
	if (r < 0)
		return r;
	r = daemon_roots_init(d);
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
	daemon_schedule_job(d);
	daemon_recover(d);
	/* Watch first, then scan: a change during the scan is an event. */
	daemon_watch_all(d);
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
	daemon_roots_done(d);
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
