/* SIGHUP and `fsdctl daemon reload`: the new configuration is loaded and
 * checked in full before anything changes; a bad one is refused and the
 * old one kept. Changed roots are re-watched and rescanned; settings that
 * need a restart say so. */
#include "common/log.h"
#include "common/util.h"
#include "fsd/fsd.h"

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
		daemon_watch_events(d, false);
	watch_tree_free(d->wt);
	d->wt = NULL;
	daemon_roots_done(d);
	int r = daemon_roots_init(d);
	if (r >= 0)
		r = watch_tree_new(d, &d->wt);
	if (r < 0)
		return log_error_errno(r, "Failed to set up the new roots: %m");
	if (!d->paused)
		daemon_watch_events(d, true);
	daemon_watch_all(d);
	return 0;
}

int daemon_reload(struct daemon *d)
{
	struct config *cfg = NULL;
	struct daemon_settings set;

	log_info("Reloading the configuration.");
	int r = daemon_load_config(d, &cfg, &set);
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
			if (daemon_root_effective(&d->roots[i], &cfg->roots[i]) < 0)
				log_error("Out of memory; root '%s' keeps its old excludes.",
					  cfg->roots[i].name);
			keyer_free(d->roots[i].keyer);
			d->roots[i].keyer = NULL;
			(void)keyer_new(d->roots[i].cfg, &d->roots[i].keyer);
		}
	} else
		r = rebuild(d);
	config_free(old);
	daemon_schedule_job(d);
	log_info("Configuration reloaded%s.", same ? "" : " with new roots; rescanning");
	return r;
}
