/* Backup retention in borg's manner: keep-last, then keep-hourly, -daily,
 * -weekly, -monthly and -yearly buckets, finest first and exclusive (an
 * item kept by a finer bucket does not also fill a coarser one), plus a
 * keep-within floor. Pure: items in, one decision per item out.
 *
 * Buckets are calendar periods in local time (localtime_r, so TZ is
 * honoured): hour = "%Y-%m-%d %H", day = "%Y-%m-%d", week = ISO 8601
 * "%G-%V", month = "%Y-%m", year = "%Y". Across a DST change the repeated
 * local hour (autumn) is one bucket, and the skipped hour (spring) simply
 * has no items. Items in the future count as newest. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum retain_bucket {
	RETAIN_DROP = 0,
	RETAIN_WITHIN,
	RETAIN_LAST,
	RETAIN_HOURLY,
	RETAIN_DAILY,
	RETAIN_WEEKLY,
	RETAIN_MONTHLY,
	RETAIN_YEARLY,
	_RETAIN_MAX,
};

struct retain_policy {
	unsigned last, hourly, daily, weekly, monthly, yearly; /* 0: bucket unused */
	int64_t within_ns; /* keep everything younger than this; 0: none */
};

struct retain_item {
	int64_t time_ns; /* the item's timestamp */
	size_t index;    /* caller's index, kept through sorting */
	enum retain_bucket kept_by; /* out: RETAIN_DROP or the reason it is kept */
	unsigned rank;   /* out: e.g. 3 for "3rd daily" */
};

/* Decides every item; reorders `items` newest first (ties by index, so
 * the result does not depend on input order). */
int retain_decide(const struct retain_policy *p, struct retain_item *items, size_t n,
		  int64_t now_ns);
const char *retain_bucket_to_string(enum retain_bucket b);
bool retain_policy_empty(const struct retain_policy *p);
