/* refs-probe: drives one reference source of a config file through the
 * refs.h API, for end-to-end tests on databases that a shell script
 * starts (PostgreSQL). Prints one line per result, exit 0 on success,
 * 2 with the source's message on stderr on failure.
 *
 *   refs-probe CONFIG SOURCE owners        KEY PATH CREATED LIVE per owner row
 *   refs-probe CONFIG SOURCE is-live KEY.. KEY 0|1
 *   refs-probe CONFIG SOURCE is-owner KEY.. KEY 0|1
 *   refs-probe CONFIG SOURCE remove KEY..  rows removed (read-write handle)
 *   refs-probe CONFIG SOURCE stats         owners, owners_live, live_rows, tokens */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/util.h"
#include "reaper/refs.h"

static int fail(struct refsource *rs, int r)
{
	fprintf(stderr, "refs-probe: %s\n", refsource_errmsg(rs));
	return r;
}

static int list_owners(struct refsource *rs)
{
	_cleanup_(refsource_owners_freep) struct refsource_owners *it = NULL;
	_cleanup_(refsource_live_freep) struct refsource_live *l = NULL;
	const struct refsource_owner *o;
	int r;

	if ((r = refsource_snapshot_begin(rs)) < 0 || (r = refsource_owners_open(rs, &it)) < 0 ||
	    (r = refsource_live_open(rs, &l)) < 0)
		return fail(rs, r);
	while ((r = refsource_owners_next(it, &o)) > 0) {
		int live = refsource_live_check(l, o->key, o->key_len);
		if (live < 0)
			return fail(rs, live);
		printf("%s\t%s\t%lld\t%d\n", o->key, o->path ? o->path : "-",
		       (long long)o->created_s, live);
	}
	if (r < 0)
		return fail(rs, r);
	refsource_live_free(TAKE_PTR(l));
	refsource_owners_free(TAKE_PTR(it));
	return refsource_snapshot_end(rs) < 0 ? fail(rs, -EIO) : 0;
}

static int check_keys(struct refsource *rs, bool owner, char **keys, int n)
{
	for (int i = 0; i < n; i++) {
		int r = owner ? refsource_is_owner(rs, keys[i], strlen(keys[i]))
			      : refsource_is_live(rs, keys[i], strlen(keys[i]));
		if (r < 0)
			return fail(rs, r);
		printf("%s\t%d\n", keys[i], r);
	}
	return 0;
}

static int run(struct refsource *rs, const char *cmd, char **args, int n)
{
	struct refsource_stats st;
	int r;

	if (streq(cmd, "owners"))
		return list_owners(rs);
	if (streq(cmd, "is-live") || streq(cmd, "is-owner"))
		return check_keys(rs, streq(cmd, "is-owner"), args, n);
	if (streq(cmd, "remove")) {
		r = refsource_remove(rs, (const char *const *)args, (size_t)n);
		if (r < 0)
			return fail(rs, r);
		printf("%d\n", r);
		return 0;
	}
	if (streq(cmd, "stats")) {
		if ((r = list_owners(rs)) < 0)
			return r;
		refsource_get_stats(rs, &st);
		printf("owners %llu live %llu live_rows %llu tokens %llu\n",
		       (unsigned long long)st.owners, (unsigned long long)st.owners_live,
		       (unsigned long long)st.live_rows, (unsigned long long)st.live_tokens);
		return 0;
	}
	fprintf(stderr, "refs-probe: unknown command '%s'\n", cmd);
	return -EINVAL;
}

int main(int argc, char **argv)
{
	struct config *cfg = NULL;
	struct refsource *rs = NULL;
	char *err = NULL;
	int r;

	if (argc < 4) {
		fprintf(stderr, "usage: refs-probe CONFIG SOURCE COMMAND [KEY...]\n");
		return 2;
	}
	if (config_load(argv[1], &cfg, &err) < 0) {
		fprintf(stderr, "refs-probe: %s\n", err ? err : "bad config");
		return 2;
	}
	const struct config_source *src = config_find_source(cfg, argv[2]);
	if (!src) {
		fprintf(stderr, "refs-probe: no source '%s'\n", argv[2]);
		config_free(cfg);
		return 2;
	}
	r = refsource_open(src, streq(argv[3], "remove") ? REFSOURCE_READWRITE : 0, &rs, &err);
	if (r < 0)
		fprintf(stderr, "refs-probe: %s\n", err ? err : "cannot open");
	else
		r = run(rs, argv[3], argv + 4, argc - 4);
	refsource_close(rs);
	config_free(cfg);
	free(err);
	return r < 0 ? 2 : 0;
}
