/* Turning what the workers and the scanner found into catalog rows, on the
 * loop thread. A hash result is trusted only if the file still has the
 * identity the worker read (inode, size, mtime, ctime): otherwise it
 * changed or went while queued, and either its own event or a new job
 * settles it. */
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <malloc.h>
#include <sys/stat.h>

#include "catalog/scan.h"
#include "common/log.h"
#include "common/util.h"
#include "fsd/fsd.h"

static bool same_file(const struct stat_lite *a, const struct stat *b)
{
	return a->ino == b->st_ino && a->dev == b->st_dev && a->size == b->st_size &&
	       a->mtime_ns == (int64_t)b->st_mtim.tv_sec * 1000000000LL + b->st_mtim.tv_nsec &&
	       a->ctime_ns == (int64_t)b->st_ctim.tv_sec * 1000000000LL + b->st_ctim.tv_nsec;
}

static int upsert(struct daemon *d, struct droot *r, const struct hash_result *res, bool hashed)
{
	char key[1024];
	int64_t now = now_ns();
	struct catalog_file f = {
		.root_id = r->id,
		.path = res->path,
		.path_len = res->path_len,
		.size = res->st.size,
		.mtime_ns = res->st.mtime_ns,
		.ctime_ns = res->st.ctime_ns,
		.ino = res->st.ino,
		.dev = res->st.dev,
		.mode = res->st.mode,
		.hashed = hashed,
		.first_seen_ns = now,
		.last_seen_ns = now,
		.state = hashed ? CATALOG_PRESENT : CATALOG_UNREADABLE,
		.error = hashed ? 0 : res->error,
	};
	if (hashed)
		f.hash = res->hash;
	int k = r->keyer ? keyer_derive(r->keyer, res->path, res->path_len,
					hashed ? &res->hash : NULL, key, sizeof key)
			 : 0;
	if (k > 0)
		f.key = key;

	int q = daemon_txn(d);
	if (q < 0)
		return q;
	q = catalog_file_upsert(d->cat, &f);
	if (q < 0)
		return log_warning_errno(q, "Failed to record '%s' in root '%s': %s", res->path,
					 r->cfg->name, catalog_errmsg(d->cat));
	d->txn_ops++;
	d->n.upserts++;
	return 0;
}

int daemon_file_result(struct daemon *d, const struct hash_result *res)
{
	if (res->root >= d->n_roots)
		return 0;
	struct droot *r = &d->roots[res->root];
	struct stat st;

	if (res->error == 0) {
		d->n.hashed++;
		d->n.bytes_hashed += res->bytes;
	}
	if (res->error == ENOENT || res->error == ENOTDIR) {
		d->n.stale++; /* its removal event does the rest */
		return 0;
	}
	if (res->error == ELOOP || res->error == EXDEV ||
	    (res->error == 0 && !S_ISREG(res->st.mode))) {
		/* now a symlink, a special file or a mount: the scanner skips those */
		int q = daemon_txn(d);
		if (q < 0)
			return q;
		q = catalog_file_gone(d->cat, r->id, res->path, res->path_len, false, now_ns());
		d->txn_ops++;
		return q < 0 ? q : 0;
	}
	if (res->error != 0) {
		/* Unreadable (EACCES, EIO): recorded with what stat says. */
		if (fstatat(r->fd, res->path, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			return 0;
		struct hash_result unreadable = *res;
		unreadable.st = (struct stat_lite){
			.size = st.st_size,
			.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec,
			.ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec,
			.ino = st.st_ino,
			.dev = st.st_dev,
			.mode = st.st_mode,
		};
		return upsert(d, r, &unreadable, false);
	}
	if (fstatat(r->fd, res->path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		d->n.stale++;
		return 0;
	}
	if (!same_file(&res->st, &st)) {
		d->n.stale++;
		return hashq_add(d->hq, res->root, r->fd, res->path, res->path_len);
	}
	return upsert(d, r, res, true);
}

static void scan_opts(struct daemon *d, struct scan_options *o)
{
	*o = (struct scan_options){
		.threads = d->set.workers,
		.cancel = NULL,
	};
}

int daemon_scan_path(struct daemon *d, struct droot *r, const char *path)
{
	struct scan_options o;
	struct scan_stats st = {0};

	int q = daemon_commit(d);
	if (q < 0)
		return q;
	scan_opts(d, &o);
	d->busy = true;
	q = scan_path(d->cat, r->id, r->cfg, path, &o, &st);
	d->busy = false;
	if (q < 0)
		return log_warning_errno(q, "Failed to scan '%s' in root '%s': %s", path,
					 r->cfg->name, catalog_errmsg(d->cat));
	d->n.hashed += st.hashed;
	d->n.bytes_hashed += st.bytes_hashed;
	return 0;
}

/* While a long scan blocks the loop, a signal (SIGTERM, SIGHUP) would
 * wait for its end. This thread only looks (poll, no read) at the
 * signalfd and asks the scan to stop at its next batch; the loop then
 * reads and handles the signal as usual. */
struct scan_guard {
	pthread_t thread;
	int signal_fd, stop_fd;
	volatile int cancel;
	bool running;
};

static void *guard_main(void *arg)
{
	struct scan_guard *g = arg;
	struct pollfd p[2] = {{.fd = g->signal_fd, .events = POLLIN},
			      {.fd = g->stop_fd, .events = POLLIN}};
	while (poll(p, 2, -1) < 0 && errno == EINTR)
		;
	if (p[0].revents & POLLIN) {
		__atomic_store_n(&g->cancel, 1, __ATOMIC_RELAXED);
		log_info("A signal arrived during a scan: the scan stops at its next batch.");
	}
	return NULL;
}

static void guard_start(struct daemon *d, struct scan_guard *g)
{
	*g = (struct scan_guard){.signal_fd = d->signal_fd};
	g->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (g->stop_fd >= 0 && d->signal_fd >= 0 &&
	    pthread_create(&g->thread, NULL, guard_main, g) == 0)
		g->running = true;
}

static void guard_stop(struct scan_guard *g)
{
	uint64_t one = 1;
	if (g->running) {
		(void)!write(g->stop_fd, &one, sizeof one);
		pthread_join(g->thread, NULL);
	}
	if (g->stop_fd >= 0)
		close(g->stop_fd);
}

static int scan_one(struct daemon *d, struct droot *r, struct scan_stats *total)
{
	struct scan_options o;
	struct scan_stats st = {0};
	struct scan_guard g;

	scan_opts(d, &o);
	guard_start(d, &g);
	o.cancel = &g.cancel;
	__atomic_store_n(&d->busy, true, __ATOMIC_RELAXED);
	int q = scan_root(d->cat, r->id, r->cfg, &o, &st);
	__atomic_store_n(&d->busy, false, __ATOMIC_RELAXED);
	guard_stop(&g);
	if (q < 0)
		return q;
	total->files += st.files;
	total->bytes += st.bytes;
	total->hashed += st.hashed;
	total->bytes_hashed += st.bytes_hashed;
	total->errors += st.errors;
	total->added += st.added;
	total->updated += st.updated;
	total->gone += st.gone;
	return 0;
}

int daemon_scan_roots(struct daemon *d, struct droot *only)
{
	struct scan_stats total = {0};
	int64_t run_id = 0;
	int ret = 0, q;
	char error[512] = "";

	q = daemon_commit(d);
	if (q < 0)
		return q;
	int64_t start = now_ns();
	if (catalog_run_begin(d->cat, "scan", &run_id) < 0)
		run_id = 0;
	for (size_t i = 0; i < d->n_roots; i++) {
		struct droot *r = &d->roots[i];
		if (only && r != only)
			continue;
		r->rescan = false;
		q = scan_one(d, r, &total);
		if (q == -ECANCELED) {
			/* a signal is waiting; the scan is done again after it */
			r->rescan = true;
			log_info("Scan of root '%s' interrupted by a signal.", r->cfg->name);
			if (ret == 0) {
				ret = q;
				snprintf(error, sizeof error, "interrupted");
			}
			break;
		}
		if (q < 0) {
			log_warning_errno(q, "Failed to scan root '%s' (%s): %m %s", r->cfg->name,
					  r->cfg->path, catalog_errmsg(d->cat));
			if (ret == 0) {
				ret = q;
				snprintf(error, sizeof error, "root %s: %s", r->cfg->name,
					 strerror(-q));
			}
		}
	}
	d->n.scans++;
	d->last_scan_ns = now_ns();
	/* A scan's buffers are freed but stay mapped in the allocator's
	 * arenas; a long-running daemon gives them back. */
	malloc_trim(0);
	log_info("Quick-check scan of %s: %" PRIu64 " files, %" PRIu64 " new, %" PRIu64
		 " changed, %" PRIu64 " gone, %" PRIu64 " hashed in %.1fs.",
		 only ? only->cfg->name : "every root", total.files, total.added, total.updated,
		 total.gone, total.hashed, (double)(d->last_scan_ns - start) / 1e9);
	if (run_id > 0) {
		struct catalog_run run = {
			.id = run_id,
			.ended_ns = d->last_scan_ns,
			.files = total.files,
			.bytes = total.bytes,
			.hashed = total.hashed,
			.bytes_hashed = total.bytes_hashed,
			.errors = total.errors,
			.outcome = ret == -ECANCELED ? "interrupted" : ret < 0 ? "failed" : "ok",
			.error = ret < 0 ? error : NULL,
			.detail = NULL,
		};
		(void)catalog_run_end(d->cat, &run);
	}
	return ret;
}
