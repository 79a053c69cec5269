/* Bucket retention for backups (see retain.h): the newest item of each
 * calendar period is kept, finest rule first, each rule keeping at most
 * its count of periods, and an item kept by one rule is never counted by
 * a coarser one. When a rule cannot fill its count, it keeps the oldest
 * item left, as borg does, so that a young series still holds its first
 * backup. */
#include "reaper/retain.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"

static const char *const bucket_names[_RETAIN_MAX] = {
	[RETAIN_DROP] = "dropped",  [RETAIN_WITHIN] = "within",   [RETAIN_LAST] = "last",
	[RETAIN_HOURLY] = "hourly", [RETAIN_DAILY] = "daily",     [RETAIN_WEEKLY] = "weekly",
	[RETAIN_MONTHLY] = "monthly", [RETAIN_YEARLY] = "yearly",
};

const char *retain_bucket_to_string(enum retain_bucket b)
{
	return b < _RETAIN_MAX ? bucket_names[b] : "?";
}

bool retain_policy_empty(const struct retain_policy *p)
{
	return !p->last && !p->hourly && !p->daily && !p->weekly && !p->monthly && !p->yearly &&
	       p->within_ns <= 0;
}

static int cmp_newest_first(const void *a, const void *b)
{
	const struct retain_item *x = a, *y = b;
	if (x->time_ns != y->time_ns)
		return x->time_ns > y->time_ns ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* The local-time period an instant falls in, as a comparable string. */
static void period_of(enum retain_bucket b, int64_t t_ns, char *buf, size_t len)
{
	time_t s = (time_t)(t_ns / 1000000000LL - (t_ns % 1000000000LL < 0));
	struct tm tm;
	size_t k = 0;

	if (localtime_r(&s, &tm)) {
		switch (b) {
		case RETAIN_HOURLY:
			k = strftime(buf, len, "%Y-%m-%d %H", &tm);
			break;
		case RETAIN_DAILY:
			k = strftime(buf, len, "%Y-%m-%d", &tm);
			break;
		case RETAIN_WEEKLY:
			k = strftime(buf, len, "%G-%V", &tm);
			break;
		case RETAIN_MONTHLY:
			k = strftime(buf, len, "%Y-%m", &tm);
			break;
		default:
			k = strftime(buf, len, "%Y", &tm);
			break;
		}
	}
	if (k == 0)
		snprintf(buf, len, "%lld", (long long)s);
}

/* keep-within keeps without claiming: buckets still count those items,
 * as borg's prune does. */
static bool unclaimed(const struct retain_item *it)
{
	return it->kept_by == RETAIN_DROP || it->kept_by == RETAIN_WITHIN;
}

static void keep_split(struct retain_item *items, size_t n, enum retain_bucket b, unsigned count)
{
	char last[64] = "", cur[64];
	unsigned kept = 0;
	bool have_last = false;

	if (count == 0 || n == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		period_of(b, items[i].time_ns, cur, sizeof cur);
		if (have_last && streq(cur, last))
			continue;
		have_last = true;
		memcpy(last, cur, sizeof last);
		if (!unclaimed(&items[i]))
			continue;
		items[i].kept_by = b;
		items[i].rank = ++kept;
		if (kept == count)
			return;
	}
	/* Not enough periods: the oldest item stands for the rest. */
	if (unclaimed(&items[n - 1])) {
		items[n - 1].kept_by = b;
		items[n - 1].rank = ++kept;
	}
}

int retain_decide(const struct retain_policy *p, struct retain_item *items, size_t n,
		  int64_t now_ns)
{
	if (!p || (!items && n))
		return -EINVAL;
	if (n == 0)
		return 0;
	qsort(items, n, sizeof *items, cmp_newest_first);
	for (size_t i = 0; i < n; i++) {
		items[i].kept_by = RETAIN_DROP;
		items[i].rank = 0;
		if (p->within_ns > 0 && now_ns - items[i].time_ns < p->within_ns)
			items[i].kept_by = RETAIN_WITHIN;
	}
	/* keep-last counts items, not periods: identical timestamps are
	 * still distinct backups. */
	for (size_t i = 0; i < n && i < p->last; i++) {
		items[i].kept_by = RETAIN_LAST;
		items[i].rank = (unsigned)i + 1;
	}
	keep_split(items, n, RETAIN_HOURLY, p->hourly);
	keep_split(items, n, RETAIN_DAILY, p->daily);
	keep_split(items, n, RETAIN_WEEKLY, p->weekly);
	keep_split(items, n, RETAIN_MONTHLY, p->monthly);
	keep_split(items, n, RETAIN_YEARLY, p->yearly);
	return 0;
}
