/* What the daemon tells operators: the status report (text or JSON) behind
 * `fsdctl status`, and Prometheus text-format metrics behind
 * `fsdctl metrics` and the metrics-file that node_exporter's textfile
 * collector reads (written to a temporary file and renamed, so a reader
 * never sees half of it). */
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/parse.h"
#include "common/util.h"
#include "fsd/fsd.h"

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)strempty(s); *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

/* Prometheus label values escape backslash, quote and newline. */
static void label_str(FILE *f, const char *s)
{
	for (const char *p = strempty(s); *p; p++) {
		if (*p == '\\' || *p == '"')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else
			fputc(*p, f);
	}
}

struct run_tally {
	char kind[16][16];
	char outcome[16][16];
	uint64_t count[16];
	size_t n;
	uint64_t reaped_files, reaped_bytes;
	bool have_audit;
	uint64_t audit_findings;
	int64_t last_audit_ns;
};

static int tally_run(const struct catalog_run *r, void *ud)
{
	struct run_tally *t = ud;
	const char *kind = strempty(r->kind), *outcome = strempty(r->outcome);
	size_t i;
	for (i = 0; i < t->n; i++)
		if (streq(t->kind[i], kind) && streq(t->outcome[i], outcome))
			break;
	if (i == t->n && t->n < ELEMENTSOF(t->count)) {
		snprintf(t->kind[i], sizeof t->kind[i], "%s", kind);
		snprintf(t->outcome[i], sizeof t->outcome[i], "%s", outcome);
		t->n++;
	}
	if (i < t->n)
		t->count[i]++;
	if (streq(kind, "reap") && !streq(outcome, "running")) {
		t->reaped_files += r->files;
		t->reaped_bytes += r->bytes;
	}
	if (streq(kind, "audit") && !t->have_audit && !streq(outcome, "running")) {
		t->have_audit = true;
		t->audit_findings = r->findings;
		t->last_audit_ns = r->ended_ns;
	}
	return 0;
}

int metrics_write(struct daemon *d, FILE *f)
{
	uint64_t queued, running, done;
	struct run_tally t = {0};

	hashq_depths(d->hq, &queued, &running, &done);
	(void)catalog_runs_foreach(d->cat, NULL, 100000, tally_run, &t);

	fputs("# HELP fsd_files Present files in the catalog, by root and class.\n"
	      "# TYPE fsd_files gauge\n", f);
	_cleanup_free_ struct catalog_root_stats *st = calloc(MAX(d->n_roots, 1), sizeof *st);
	if (!st)
		return -ENOMEM;
	for (size_t i = 0; i < d->n_roots; i++) {
		struct droot *r = &d->roots[i];
		(void)catalog_root_stats(d->cat, r->id, &st[i]);
		fprintf(f, "fsd_files{root=\"");
		label_str(f, r->cfg->name);
		fprintf(f, "\",class=\"%s\"} %" PRIu64 "\n", root_class_to_string(r->cfg->class),
			st[i].files);
	}
	fputs("# HELP fsd_bytes Bytes of present files in the catalog, by root and class.\n"
	      "# TYPE fsd_bytes gauge\n", f);
	for (size_t i = 0; i < d->n_roots; i++) {
		fprintf(f, "fsd_bytes{root=\"");
		label_str(f, d->roots[i].cfg->name);
		fprintf(f, "\",class=\"%s\"} %" PRIu64 "\n",
			root_class_to_string(d->roots[i].cfg->class), st[i].bytes);
	}
	fputs("# HELP fsd_root_degraded 1 when a root is covered by periodic scans instead of "
	      "inotify.\n# TYPE fsd_root_degraded gauge\n", f);
	for (size_t i = 0; i < d->n_roots; i++) {
		fprintf(f, "fsd_root_degraded{root=\"");
		label_str(f, d->roots[i].cfg->name);
		fprintf(f, "\"} %d\n", d->roots[i].degraded || d->roots[i].lost);
	}
	if (t.have_audit)
		fprintf(f, "# HELP fsd_audit_findings Findings (orphans and others) of the last audit.\n"
			   "# TYPE fsd_audit_findings gauge\nfsd_audit_findings %" PRIu64 "\n",
			t.audit_findings);
	fprintf(f, "# HELP fsd_reaped_files_total Files removed by recorded reaper runs.\n"
		   "# TYPE fsd_reaped_files_total counter\nfsd_reaped_files_total %" PRIu64 "\n"
		   "# HELP fsd_reaped_bytes_total Bytes freed by recorded reaper runs.\n"
		   "# TYPE fsd_reaped_bytes_total counter\nfsd_reaped_bytes_total %" PRIu64 "\n",
		t.reaped_files, t.reaped_bytes);
	fputs("# HELP fsd_runs_total Recorded runs by kind and outcome.\n"
	      "# TYPE fsd_runs_total counter\n", f);
	for (size_t i = 0; i < t.n; i++)
		fprintf(f, "fsd_runs_total{kind=\"%s\",outcome=\"%s\"} %" PRIu64 "\n", t.kind[i],
			t.outcome[i], t.count[i]);
	fprintf(f,
		"# HELP fsd_hash_queue Files waiting to be hashed, being hashed, or hashed and not "
		"yet recorded.\n# TYPE fsd_hash_queue gauge\n"
		"fsd_hash_queue{state=\"queued\"} %" PRIu64 "\n"
		"fsd_hash_queue{state=\"running\"} %" PRIu64 "\n"
		"fsd_hash_queue{state=\"done\"} %" PRIu64 "\n"
		"# HELP fsd_event_queue_bytes Bytes of inotify events waiting in the kernel.\n"
		"# TYPE fsd_event_queue_bytes gauge\nfsd_event_queue_bytes %u\n"
		"# HELP fsd_events_total inotify events read.\n"
		"# TYPE fsd_events_total counter\nfsd_events_total %" PRIu64 "\n"
		"# HELP fsd_overflows_total inotify queue overflows (each followed by a rescan).\n"
		"# TYPE fsd_overflows_total counter\nfsd_overflows_total %" PRIu64 "\n"
		"# HELP fsd_watches Directories watched.\n"
		"# TYPE fsd_watches gauge\nfsd_watches %" PRIu64 "\n"
		"# HELP fsd_files_hashed_total Files hashed by the daemon.\n"
		"# TYPE fsd_files_hashed_total counter\nfsd_files_hashed_total %" PRIu64 "\n"
		"# HELP fsd_paused 1 while event handling is paused.\n"
		"# TYPE fsd_paused gauge\nfsd_paused %d\n"
		"# HELP fsd_start_time_seconds When the daemon started.\n"
		"# TYPE fsd_start_time_seconds gauge\nfsd_start_time_seconds %" PRId64 "\n",
		queued, running, done, watch_queued_bytes(d->wt), d->n.events, d->n.overflows,
		watch_count(d->wt), d->n.hashed, d->paused, (int64_t)(d->started_ns / 1000000000LL));
	if (d->last_scan_ns)
		fprintf(f, "# HELP fsd_last_scan_time_seconds End of the daemon's last scan.\n"
			   "# TYPE fsd_last_scan_time_seconds gauge\n"
			   "fsd_last_scan_time_seconds %" PRId64 "\n",
			(int64_t)(d->last_scan_ns / 1000000000LL));
	return ferror(f) ? -EIO : 0;
}

int metrics_write_file(struct daemon *d)
{
	const char *path = d->set.metrics_file;
	_cleanup_free_ char *tmp = NULL;

	if (!path)
		return 0;
	if (asprintf(&tmp, "%s.%d.tmp", path, (int)getpid()) < 0)
		return -ENOMEM;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return log_warning_errno(negative_errno(), "Failed to write metrics to '%s': %m",
					 tmp);
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	int r = metrics_write(d, f);
	if (fflush(f) != 0 || fsync(fileno(f)) < 0)
		r = negative_errno();
	if (fclose(f) != 0 && r == 0)
		r = negative_errno();
	if (r == 0 && rename(tmp, path) < 0)
		r = negative_errno();
	if (r < 0) {
		(void)unlink(tmp);
		return log_warning_errno(r, "Failed to write metrics file '%s': %m", path);
	}
	return 0;
}

static bool rescans_due(struct daemon *d)
{
	for (size_t i = 0; i < d->n_roots; i++)
		if (d->roots[i].rescan)
			return true;
	return false;
}

static void status_root_json(FILE *f, struct droot *r, const struct catalog_root_stats *st)
{
	fputs("{\"name\":", f);
	json_str(f, r->cfg->name);
	fputs(",\"path\":", f);
	json_str(f, r->cfg->path);
	fprintf(f,
		",\"class\":\"%s\",\"files\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"hashed\":%" PRIu64
		",\"unreadable\":%" PRIu64 ",\"watching\":%s,\"degraded\":%s,\"lost\":%s}",
		root_class_to_string(r->cfg->class), st->files, st->bytes, st->hashed,
		st->unreadable, !r->degraded && !r->lost ? "true" : "false",
		r->degraded ? "true" : "false", r->lost ? "true" : "false");
}

/* The newest recorded run of each kind (scan, audit, reap, reap-plan,
 * verify...), from whichever program ran it. */
struct last_runs {
	struct {
		char kind[16], outcome[16];
		int64_t ended_ns;
		uint64_t files, findings, deferred;
	} v[8];
	size_t n;
};

static int last_run(const struct catalog_run *r, void *ud)
{
	struct last_runs *l = ud;
	const char *kind = strempty(r->kind);
	for (size_t i = 0; i < l->n; i++)
		if (streq(l->v[i].kind, kind))
			return 0;
	if (l->n == ELEMENTSOF(l->v) || streq_ptr(r->outcome, "running"))
		return 0;
	size_t i = l->n++;
	snprintf(l->v[i].kind, sizeof l->v[i].kind, "%s", kind);
	snprintf(l->v[i].outcome, sizeof l->v[i].outcome, "%s", strempty(r->outcome));
	l->v[i].ended_ns = r->ended_ns;
	l->v[i].files = r->files;
	l->v[i].findings = r->findings;
	/* the reaper keeps its deferred (vector) work in the run's detail */
	const char *p = r->detail ? strstr(r->detail, "\"deferred\":") : NULL;
	l->v[i].deferred = p ? strtoull(p + 11, NULL, 10) : 0;
	return 0;
}

static void last_runs_json(struct daemon *d, FILE *f)
{
	struct last_runs l = {0};
	char when[64];
	(void)catalog_runs_foreach(d->cat, NULL, 200, last_run, &l);
	fputs(",\"last_runs\":[", f);
	for (size_t i = 0; i < l.n; i++)
		fprintf(f,
			"%s{\"kind\":\"%s\",\"outcome\":\"%s\",\"ended\":\"%s\",\"files\":%" PRIu64
			",\"findings\":%" PRIu64 ",\"deferred\":%" PRIu64 "}",
			i ? "," : "", l.v[i].kind, l.v[i].outcome,
			format_time(when, sizeof when, l.v[i].ended_ns), l.v[i].files,
			l.v[i].findings, l.v[i].deferred);
	fputc(']', f);
}

static void last_runs_text(struct daemon *d, FILE *f)
{
	struct last_runs l = {0};
	char when[64];
	(void)catalog_runs_foreach(d->cat, NULL, 200, last_run, &l);
	for (size_t i = 0; i < l.n; i++) {
		fprintf(f, "%-8s %-9s %-11s %s, %" PRIu64 " files, %" PRIu64 " findings",
			i ? "" : "runs", l.v[i].kind, l.v[i].outcome,
			format_time(when, sizeof when, l.v[i].ended_ns), l.v[i].files,
			l.v[i].findings);
		if (l.v[i].deferred)
			fprintf(f, ", %" PRIu64 " deferred", l.v[i].deferred);
		fputc('\n', f);
	}
}

static int status_json(struct daemon *d, FILE *f, const struct catalog_root_stats *st,
		       uint64_t queued, uint64_t running, uint64_t done, bool idle)
{
	char when[64];
	fprintf(f, "{\"pid\":%d,\"started\":\"%s\",\"catalog\":", (int)getpid(),
		format_time(when, sizeof when, d->started_ns));
	json_str(f, d->catalog_path);
	fputs(",\"config\":", f);
	json_str(f, d->cfg->file);
	fputs(",\"http\":", f);
	if (http_address(d))
		json_str(f, http_address(d));
	else
		fputs("null", f);
	fprintf(f, ",\"paused\":%s,\"idle\":%s,\"roots\":[", d->paused ? "true" : "false",
		idle ? "true" : "false");
	for (size_t i = 0; i < d->n_roots; i++) {
		if (i)
			fputc(',', f);
		status_root_json(f, &d->roots[i], &st[i]);
	}
	fprintf(f,
		"],\"queue\":{\"hash_queued\":%" PRIu64 ",\"hash_running\":%" PRIu64
		",\"hash_done\":%" PRIu64 ",\"event_bytes\":%u,\"pending_renames\":%s,"
		"\"rescans_due\":%s},",
		queued, running, done, watch_queued_bytes(d->wt),
		watch_pending(d->wt) ? "true" : "false", rescans_due(d) ? "true" : "false");
	fprintf(f,
		"\"counters\":{\"events\":%" PRIu64 ",\"overflows\":%" PRIu64 ",\"hashed\":%" PRIu64
		",\"bytes_hashed\":%" PRIu64 ",\"upserts\":%" PRIu64 ",\"gone\":%" PRIu64
		",\"renames\":%" PRIu64 ",\"stale\":%" PRIu64 ",\"scans\":%" PRIu64
		",\"watch_errors\":%" PRIu64 ",\"commits\":%" PRIu64 "},\"watches\":%" PRIu64,
		d->n.events, d->n.overflows, d->n.hashed, d->n.bytes_hashed, d->n.upserts,
		d->n.gone, d->n.renames, d->n.stale, d->n.scans, d->n.watch_errors, d->n.commits,
		watch_count(d->wt));
	fprintf(f, ",\"last_scan\":%s%s%s", d->last_scan_ns ? "\"" : "",
		d->last_scan_ns ? format_time(when, sizeof when, d->last_scan_ns) : "null",
		d->last_scan_ns ? "\"" : "");
	fprintf(f, ",\"job\":\"%s\",\"apply\":%s,\"next_job\":%s%s%s,\"last_job\":",
		d->set.job == DAEMON_JOB_SCAN ? "scan" : "reap", d->set.apply ? "true" : "false",
		d->next_job_real_ns ? "\"" : "",
		d->next_job_real_ns ? format_time(when, sizeof when, d->next_job_real_ns) : "null",
		d->next_job_real_ns ? "\"" : "");
	if (d->last_job_ns) {
		fprintf(f, "{\"time\":\"%s\",\"outcome\":",
			format_time(when, sizeof when, d->last_job_ns));
		json_str(f, d->last_job_outcome);
		fputs(",\"error\":", f);
		if (d->last_error)
			json_str(f, d->last_error);
		else
			fputs("null", f);
		fputc('}', f);
	} else
		fputs("null", f);
	last_runs_json(d, f);
	fputs("}\n", f);
	return ferror(f) ? -EIO : 0;
}

static int status_text(struct daemon *d, FILE *f, const struct catalog_root_stats *st,
		       uint64_t queued, uint64_t running, uint64_t done, bool idle)
{
	char a[64], b[64];
	fprintf(f, "fsd %d, up %s, %s%s\n", (int)getpid(),
		format_duration(a, sizeof a, now_ns() - d->started_ns),
		d->paused ? "paused" : "watching", idle ? ", idle" : ", busy");
	fprintf(f, "catalog  %s\nconfig   %s\n", d->catalog_path, strempty(d->cfg->file));
	if (http_address(d))
		fprintf(f, "http     http://%s/\n", http_address(d));
	fprintf(f, "roots:\n");
	for (size_t i = 0; i < d->n_roots; i++) {
		struct droot *r = &d->roots[i];
		fprintf(f, "  %-12s %-8s %10" PRIu64 " files %10s  %s%s\n", r->cfg->name,
			root_class_to_string(r->cfg->class), st[i].files,
			format_bytes(a, sizeof a, st[i].bytes), r->cfg->path,
			r->lost       ? "  (missing; rechecked every rescan-interval)"
			: r->degraded ? "  (out of watches: periodic scans)"
				      : "");
	}
	fprintf(f, "queue    %" PRIu64 " to hash, %" PRIu64 " hashing, %" PRIu64
		   " to record; %u bytes of events waiting%s\n",
		queued, running, done, watch_queued_bytes(d->wt),
		watch_pending(d->wt) ? "; renames pending" : "");
	fprintf(f, "events   %" PRIu64 " read, %" PRIu64 " overflows, %" PRIu64
		   " directories watched, %" PRIu64 " files hashed\n",
		d->n.events, d->n.overflows, watch_count(d->wt), d->n.hashed);
	fprintf(f, "scan     %s\n",
		d->last_scan_ns ? format_time(a, sizeof a, d->last_scan_ns) : "none yet");
	fprintf(f, "job      %s%s, next %s, last %s%s%s\n",
		d->set.job == DAEMON_JOB_SCAN ? "scan" : "reap",
		d->set.job == DAEMON_JOB_REAP ? (d->set.apply ? " (apply)" : " (plan only)") : "",
		d->next_job_real_ns ? format_time(a, sizeof a, d->next_job_real_ns)
				    : "not scheduled",
		d->last_job_ns ? format_time(b, sizeof b, d->last_job_ns) : "never",
		d->last_job_ns ? " " : "", d->last_job_ns ? d->last_job_outcome : "");
	last_runs_text(d, f);
	return ferror(f) ? -EIO : 0;
}

int status_write(struct daemon *d, FILE *f, bool json)
{
	uint64_t queued, running, done;

	/* A reader asking whether we are idle should not wait for the batch. */
	(void)daemon_commit(d);
	bool idle = daemon_idle(d);
	hashq_depths(d->hq, &queued, &running, &done);
	_cleanup_free_ struct catalog_root_stats *st = calloc(MAX(d->n_roots, 1), sizeof *st);
	if (!st)
		return -ENOMEM;
	for (size_t i = 0; i < d->n_roots; i++) {
		(void)catalog_root_stats(d->cat, d->roots[i].id, &st[i]);
	}
	return json ? status_json(d, f, st, queued, running, done, idle)
		    : status_text(d, f, st, queued, running, done, idle);
}
