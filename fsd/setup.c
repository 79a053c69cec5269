/* Setting the daemon up from its configuration: loading it (with the
 * [daemon] section), the one-daemon-per-catalog lock, and the roots as
 * the daemon runs them (an fd each, the key derivation, the reaper's
 * quarantine excluded, their watches). */
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/util.h"
#include "fsd/fsd.h"
#include "reaper/plan.h"

/* Loads the configuration named on the command line and its [daemon]
 * section; on failure the message names the place and nothing changes. */
int daemon_load_config(struct daemon *d, struct config **ret_cfg, struct daemon_settings *ret_set)
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
int daemon_take_lock(struct daemon *d)
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

void daemon_roots_done(struct daemon *d)
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

/* The root as configured, with a copy of its exclude list that reload
 * can swap. The reaper's quarantine at the root's top is skipped by
 * root_excluded() and the scanner alike. */
int daemon_root_effective(struct droot *r, const struct config_root *cfg)
{
	char **exclude = NULL;
	for (char **g = cfg->exclude; g && *g; g++)
		if (strv_extend(&exclude, *g) < 0)
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

int daemon_roots_init(struct daemon *d)
{
	d->roots = calloc(MAX(d->cfg->n_roots, 1), sizeof *d->roots);
	if (!d->roots)
		return log_error_errno(-ENOMEM, "Out of memory.");
	d->n_roots = d->cfg->n_roots;
	for (size_t i = 0; i < d->n_roots; i++) {
		struct droot *r = &d->roots[i];
		int k = daemon_root_effective(r, &d->cfg->roots[i]);
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
void daemon_watch_all(struct daemon *d)
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
