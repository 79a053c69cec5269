/* The daemon's reaper job: the same plan and apply as `fsdctl reap`, run
 * on the schedule or on request. With apply = no (the default) the plan is
 * built, logged and recorded as a "reap-plan" run and nothing changes;
 * with apply = yes it is applied under the reaper lock, past the circuit
 * breaker (the daemon never forces). It runs on the loop thread after the
 * open batch is committed, so the catalog keeps one writer; events that
 * arrive meanwhile wait in the kernel queue (an overflow is rescanned). */
#include <inttypes.h>
#include <stdarg.h>
#include <sys/statvfs.h>

#include "common/log.h"
#include "common/util.h"
#include "fsd/fsd.h"
#include "reaper/apply.h"

static void set_error(struct daemon *d, const char *fmt, ...) _printf_(2, 3);
static void set_error(struct daemon *d, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	free(d->last_error);
	d->last_error = s;
}

static void report_inputs(const struct reaper_inputs *in)
{
	for (char **p = in->problems; p && *p; p++)
		log_warning("Reaper: %s", *p);
	for (size_t i = 0; i < in->n_sources; i++)
		if (in->sources[i].error)
			log_warning("Reaper: source '%s' failed, nothing that depends on it is "
				    "planned: %s",
				    in->sources[i].name, strempty(in->sources[i].message));
}

/* apply = no: the plan is the record. */
static int record_plan(struct daemon *d, const struct plan *pl, int64_t started)
{
	_cleanup_free_ char *detail = NULL;
	int64_t id;
	int r = catalog_run_begin(d->cat, "reap-plan", &id);
	if (r < 0)
		return r;
	if (asprintf(&detail, "{\"dry_run\":true,\"actions\":%zu,\"files\":%" PRIu64
			      ",\"bytes\":%" PRIu64 ",\"kept_by_grace\":%" PRIu64 "}",
		     pl->n_actions, pl->files, pl->bytes, pl->kept_by_grace) < 0)
		detail = NULL;
	struct catalog_run run = {
		.id = id,
		.ended_ns = now_ns(),
		.files = pl->files,
		.bytes = pl->bytes,
		.findings = pl->n_actions,
		.outcome = pl->n_actions ? "findings" : "ok",
		.detail = detail,
	};
	(void)started;
	return catalog_run_end(d->cat, &run);
}

static int apply_plan(struct daemon *d, const struct rules *rs, const struct plan *pl,
		      const struct reaper_inputs *in, struct reaper_sources *srcs,
		      struct reap_summary *sum)
{
	_cleanup_(reaper_lock_releasep) struct reaper_lock *lock = NULL;
	_cleanup_free_ char *why = NULL, *holder = NULL;
	struct reaper_options o = {.sources = srcs};
	struct reaper_result res = {0};

	if (reaper_breaker(pl, in, d->cfg, rs, &why) > 0) {
		set_error(d, "the circuit breaker refused to apply: %s", strempty(why));
		return -ECANCELED;
	}
	int r = reaper_lock_take(d->catalog_path, &lock, &holder);
	if (r == -EBUSY) {
		set_error(d, "another reaper holds the lock: %s", strempty(holder));
		return r;
	}
	if (r < 0) {
		set_error(d, "failed to take the reaper lock: %s", strerror(-r));
		return r;
	}
	r = reaper_apply(lock, d->cat, d->cfg, rs, pl, in, &o, &res);
	sum->applied = true;
	sum->run_id = res.run_id;
	sum->done_files = res.files;
	sum->done_bytes = res.bytes;
	sum->skipped = res.skipped;
	sum->failed = res.failed;
	sum->deferred = res.deferred;
	d->n.reaped_files += res.files;
	d->n.reaped_bytes += res.bytes;
	log_info("Reaper run %" PRId64 ": %" PRIu64 " actions, %" PRIu64 " files, %" PRIu64
		 " bytes, %" PRIu64 " rows, %" PRIu64 " vectors; %" PRIu64 " skipped, %" PRIu64
		 " failed, %" PRIu64 " deferred.",
		 res.run_id, res.actions, res.files, res.bytes, res.rows, res.vectors, res.skipped,
		 res.failed, res.deferred);
	if (r != 0 && res.error)
		set_error(d, "%s", res.error);
	reaper_result_done(&res);
	return r < 0 ? r : r > 0 ? 1 : 0;
}

int daemon_reap(struct daemon *d, const char *why, bool apply, struct reap_summary *ret)
{
	_cleanup_(reaper_sources_freep) struct reaper_sources *srcs = NULL;
	struct reap_summary sum = {0};
	_cleanup_free_ char *msg = NULL;
	struct rules *rs = NULL;
	struct plan *pl = NULL;
	struct reaper_inputs *in = NULL;
	int64_t now = now_ns();

	int r = daemon_commit(d);
	if (r < 0)
		return r;
	r = rules_parse(d->cfg, &rs, &msg);
	if (r < 0) {
		set_error(d, "the rules do not parse: %s", msg ? msg : strerror(-r));
		return r;
	}
	__atomic_store_n(&d->busy, true, __ATOMIC_RELAXED);
	/* One connection per source for the run, shared by plan and apply. */
	r = reaper_sources_new(d->cfg, apply, &srcs);
	if (r >= 0)
		r = reaper_build_plan_on(d->cat, d->cfg, rs, now, srcs, &pl, &in);
	if (r < 0)
		set_error(d, "failed to build the plan: %s", catalog_errmsg(d->cat));
	else {
		report_inputs(in);
		log_info("Reaper plan (%s): %zu actions, %" PRIu64 " files, %" PRIu64
			 " bytes to free%s.",
			 why, pl->n_actions, pl->files, pl->bytes,
			 apply ? "; applying" : "; not applied, nothing changed");
		sum.actions = pl->n_actions;
		sum.files = pl->files;
		sum.bytes = pl->bytes;
		r = apply ? apply_plan(d, rs, pl, in, srcs, &sum) : record_plan(d, pl, now);
		if (r < 0 && !d->last_error)
			set_error(d, "%s", strerror(-r));
	}
	__atomic_store_n(&d->busy, false, __ATOMIC_RELAXED);
	plan_free(pl);
	reaper_inputs_free(in);
	rules_free(rs);
	if (ret)
		*ret = sum;
	return r;
}

void daemon_recover(struct daemon *d)
{
	_cleanup_(reaper_lock_releasep) struct reaper_lock *lock = NULL;
	_cleanup_free_ char *holder = NULL;
	struct reaper_recovery rec = {0};

	int r = reaper_lock_take(d->catalog_path, &lock, &holder);
	if (r == -EBUSY) {
		log_notice("A reaper is running (%s); its own run settles its journal.",
			   strempty(holder));
		return;
	}
	if (r < 0) {
		log_warning_errno(r, "Failed to take the reaper lock for recovery: %m");
		return;
	}
	r = reaper_recover(lock, d->cfg, d->catalog_path, &rec);
	if (r < 0)
		log_warning_errno(r, "Failed to recover unfinished reaper actions: %m");
	else if (rec.completed || rec.rolled_back || rec.failed || rec.pending)
		log_notice("Reaper recovery: %" PRIu64 " actions completed, %" PRIu64
			   " rolled back, %" PRIu64 " failed, %" PRIu64 " pending.",
			   rec.completed, rec.rolled_back, rec.failed, rec.pending);
}

/* Whether a min-free rule for root `r` is under its threshold now. */
static bool below_min_free(struct daemon *d, const struct rules *rs, struct droot *r)
{
	struct statvfs sv;
	bool have = false;

	for (size_t i = 0; i < rs->n; i++) {
		const struct rule *u = &rs->v[i];
		if ((u->min_free || u->min_free_percent) && rule_applies_to_root(u, r->cfg))
			have = true;
	}
	if (!have || r->fd < 0 || fstatvfs(r->fd, &sv) < 0)
		return false;
	uint64_t avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	uint64_t size = (uint64_t)sv.f_blocks * sv.f_frsize;
	for (size_t i = 0; i < rs->n; i++) {
		const struct rule *u = &rs->v[i];
		if (!rule_applies_to_root(u, r->cfg))
			continue;
		if (u->min_free && avail < u->min_free)
			return true;
		if (u->min_free_percent && size > 0 && avail * 100 / size < u->min_free_percent)
			return true;
	}
	return false;
}

/* The min-free trigger: as the watcher records new data, check (at most
 * every MIN_FREE_CHECK_NS) whether a root fell below a min-free rule's
 * threshold, and run the reaper job then (at most every
 * MIN_FREE_RUN_NS, so that a disk that stays full is not planned over and
 * over). */
#define MIN_FREE_CHECK_NS (10 * 1000000000LL)
#define MIN_FREE_RUN_NS (300 * 1000000000LL)

void daemon_check_min_free(struct daemon *d)
{
	int64_t now = mono_ns();
	_cleanup_free_ char *msg = NULL;
	struct rules *rs = NULL;

	if (d->set.job != DAEMON_JOB_REAP || d->paused || d->n.upserts == d->min_free_upserts)
		return;
	if (d->min_free_checked_ns && now - d->min_free_checked_ns < MIN_FREE_CHECK_NS)
		return;
	if (d->min_free_ran_ns && now - d->min_free_ran_ns < MIN_FREE_RUN_NS)
		return;
	d->min_free_checked_ns = now;
	d->min_free_upserts = d->n.upserts;
	if (rules_parse(d->cfg, &rs, &msg) < 0)
		return; /* the scheduled job reports that */
	bool low = false;
	for (size_t i = 0; i < d->n_roots && !low; i++)
		if (below_min_free(d, rs, &d->roots[i])) {
			low = true;
			log_notice("Root '%s' is below a min-free threshold; running the reaper job.",
				   d->roots[i].cfg->name);
		}
	rules_free(rs);
	if (low) {
		d->min_free_ran_ns = now;
		(void)daemon_run_job(d, "min-free");
	}
}
