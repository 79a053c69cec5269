/* Bucket retention: borg's exclusive, finest-first buckets in local time,
 * with keep-last, keep-within, identical and future timestamps, and both
 * DST transitions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <time.h>

#include "reaper/retain.h"

#define S 1000000000LL
#define H (3600 * S)
#define D (24 * H)

/* 2026-11-23T12:00:00Z */
static const int64_t NOW = 1795435200LL * S;

static void set_tz(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

static void fill(struct retain_item *it, const int64_t *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		it[i] = (struct retain_item){.time_ns = t[i], .index = i};
}

/* Decision for the caller's index i. */
static enum retain_bucket kept(const struct retain_item *it, size_t n, size_t i)
{
	for (size_t k = 0; k < n; k++)
		if (it[k].index == i)
			return it[k].kept_by;
	fail();
	return RETAIN_DROP;
}

static void test_daily_keeps_newest_days(void **state)
{
	struct retain_policy p = {.daily = 7};
	struct retain_item it[10];
	int64_t t[10];
	set_tz("UTC");
	for (size_t i = 0; i < 10; i++)
		t[i] = NOW - (int64_t)i * D; /* one a day, index 0 newest */
	fill(it, t, 10);
	assert_int_equal(retain_decide(&p, it, 10, NOW), 0);
	for (size_t i = 0; i < 10; i++)
		assert_int_equal(kept(it, 10, i), i < 7 ? RETAIN_DAILY : RETAIN_DROP);
}

static void test_exclusive_buckets(void **state)
{
	/* Two a day for 21 days: daily=3 claims days 0..2; weekly=2 must
	 * then take the newest of weeks not already claimed. */
	struct retain_policy p = {.daily = 3, .weekly = 2};
	struct retain_item it[42];
	int64_t t[42];
	unsigned daily = 0, weekly = 0;
	set_tz("UTC");
	for (size_t i = 0; i < 42; i++)
		t[i] = NOW - (int64_t)(i / 2) * D - (int64_t)(i % 2) * H;
	fill(it, t, 42);
	assert_int_equal(retain_decide(&p, it, 42, NOW), 0);
	for (size_t i = 0; i < 42; i++) {
		enum retain_bucket b = kept(it, 42, i);
		daily += b == RETAIN_DAILY;
		weekly += b == RETAIN_WEEKLY;
		if (b == RETAIN_DAILY)
			assert_true(i % 2 == 0 && i < 6);
	}
	assert_int_equal(daily, 3);
	assert_int_equal(weekly, 2);
}

static void test_identical_timestamps(void **state)
{
	int64_t t[3] = {NOW - D, NOW - D, NOW - D};
	struct retain_item it[3];
	struct retain_policy daily = {.daily = 1}, last = {.last = 2};

	set_tz("UTC");
	fill(it, t, 3);
	assert_int_equal(retain_decide(&daily, it, 3, NOW), 0);
	/* One period: the first by index is kept, deterministically. */
	assert_int_equal(kept(it, 3, 0), RETAIN_DAILY);
	assert_int_equal(kept(it, 3, 1), RETAIN_DROP);
	assert_int_equal(kept(it, 3, 2), RETAIN_DROP);
	fill(it, t, 3);
	assert_int_equal(retain_decide(&last, it, 3, NOW), 0);
	assert_int_equal(kept(it, 3, 0), RETAIN_LAST);
	assert_int_equal(kept(it, 3, 1), RETAIN_LAST);
	assert_int_equal(kept(it, 3, 2), RETAIN_DROP);
}

static void test_future_counts_as_newest(void **state)
{
	int64_t t[3] = {NOW - 2 * D, NOW + 30 * D, NOW - D};
	struct retain_item it[3];
	struct retain_policy p = {.last = 1};
	fill(it, t, 3);
	assert_int_equal(retain_decide(&p, it, 3, NOW), 0);
	assert_int_equal(kept(it, 3, 1), RETAIN_LAST);
	assert_int_equal(kept(it, 3, 2), RETAIN_DROP);
	assert_int_equal(kept(it, 3, 0), RETAIN_DROP);
}

static void test_within_floor(void **state)
{
	int64_t t[4] = {NOW - H, NOW - 20 * H, NOW - 3 * D, NOW - 5 * D};
	struct retain_item it[4];
	struct retain_policy p = {.within_ns = 2 * D, .last = 1};
	fill(it, t, 4);
	assert_int_equal(retain_decide(&p, it, 4, NOW), 0);
	assert_int_equal(kept(it, 4, 0), RETAIN_LAST);
	assert_int_equal(kept(it, 4, 1), RETAIN_WITHIN);
	assert_int_equal(kept(it, 4, 2), RETAIN_DROP);
	assert_int_equal(kept(it, 4, 3), RETAIN_DROP);
}

static void test_oldest_fills_short_series(void **state)
{
	/* Three in one month, keep-monthly 5: the newest for the month and
	 * the oldest standing in for the months that do not exist yet. */
	int64_t t[3] = {NOW - D, NOW - 2 * D, NOW - 3 * D};
	struct retain_item it[3];
	struct retain_policy p = {.monthly = 5};
	set_tz("UTC");
	fill(it, t, 3);
	assert_int_equal(retain_decide(&p, it, 3, NOW), 0);
	assert_int_equal(kept(it, 3, 0), RETAIN_MONTHLY);
	assert_int_equal(kept(it, 3, 1), RETAIN_DROP);
	assert_int_equal(kept(it, 3, 2), RETAIN_MONTHLY);
}

static void test_dst_autumn_repeated_hour(void **state)
{
	/* Europe/Berlin, 2026-10-25: 02:00-03:00 local happens twice
	 * (00:00-01:00Z as CEST, 01:00-02:00Z as CET): one hourly bucket. */
	const int64_t base = 1792886400LL * S; /* 2026-10-25T00:00:00Z */
	int64_t t[5] = {base + 150 * 60 * S, base + 90 * 60 * S, base + 30 * 60 * S,
			base - 30 * 60 * S, base - 4 * H};
	struct retain_item it[5];
	struct retain_policy p = {.hourly = 10};
	set_tz("Europe/Berlin");
	fill(it, t, 5);
	assert_int_equal(retain_decide(&p, it, 5, base + 3 * H), 0);
	assert_int_equal(kept(it, 5, 0), RETAIN_HOURLY); /* 03:30 CET */
	assert_int_equal(kept(it, 5, 1), RETAIN_HOURLY); /* 02:30 CET */
	assert_int_equal(kept(it, 5, 2), RETAIN_DROP);   /* 02:30 CEST: same local hour */
	assert_int_equal(kept(it, 5, 3), RETAIN_HOURLY); /* 01:30 CEST */
	assert_int_equal(kept(it, 5, 4), RETAIN_HOURLY);
	set_tz("UTC");
	fill(it, t, 5);
	assert_int_equal(retain_decide(&p, it, 5, base + 3 * H), 0);
	assert_int_equal(kept(it, 5, 2), RETAIN_HOURLY); /* in UTC they are distinct */
}

static void test_dst_spring_skipped_hour(void **state)
{
	/* Europe/Berlin, 2026-03-29: 02:00-03:00 local does not exist. The
	 * items at 01:30 CET and 03:30 CEST are an hour apart in real time and
	 * two hourly buckets, and one daily bucket. */
	const int64_t base = 1774742400LL * S; /* 2026-03-29T00:00:00Z */
	int64_t t[2] = {base + 90 * 60 * S, base + 30 * 60 * S};
	struct retain_item it[2];
	struct retain_policy hourly = {.hourly = 1}, daily = {.daily = 1};
	set_tz("Europe/Berlin");
	fill(it, t, 2);
	assert_int_equal(retain_decide(&hourly, it, 2, base + 5 * H), 0);
	assert_int_equal(kept(it, 2, 0), RETAIN_HOURLY);
	assert_int_equal(kept(it, 2, 1), RETAIN_DROP);
	fill(it, t, 2);
	assert_int_equal(retain_decide(&daily, it, 2, base + 5 * H), 0);
	assert_int_equal(kept(it, 2, 0), RETAIN_DAILY);
	assert_int_equal(kept(it, 2, 1), RETAIN_DROP);
	set_tz("UTC");
}

static void test_empty_and_names(void **state)
{
	struct retain_policy p = {0};
	assert_true(retain_policy_empty(&p));
	assert_int_equal(retain_decide(&p, NULL, 0, NOW), 0);
	assert_string_equal(retain_bucket_to_string(RETAIN_WEEKLY), "weekly");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_daily_keeps_newest_days),
		cmocka_unit_test(test_exclusive_buckets),
		cmocka_unit_test(test_identical_timestamps),
		cmocka_unit_test(test_future_counts_as_newest),
		cmocka_unit_test(test_within_floor),
		cmocka_unit_test(test_oldest_fills_short_series),
		cmocka_unit_test(test_dst_autumn_repeated_hour),
		cmocka_unit_test(test_dst_spring_skipped_hour),
		cmocka_unit_test(test_empty_and_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
