/* The daemon's [daemon] section and schedule: defaults, every key, the
 * errors with their line, and the next run for interval and daily times
 * with jitter, across a DST change. fsd/schedule.c is part of the fsd
 * program, not of a module library, so it is compiled into this test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "fsd/schedule.c"

#define S 1000000000LL

static struct config *load(const char *daemon_section)
{
	char text[2048];
	char *err = NULL;
	struct config *c = NULL;
	snprintf(text, sizeof text, "[root r]\npath = /srv/x\nclass = cache\n\n[daemon]\n%s",
		 daemon_section);
	int r = config_load_string(text, "t.conf", &c, &err);
	if (r < 0)
		fail_msg("config: %s", err ? err : "?");
	free(err);
	return c;
}

static void test_defaults(void **state)
{
	struct config *c = load("");
	struct daemon_settings s;
	assert_int_equal(daemon_settings_parse(c, &s, NULL), 0);
	assert_int_equal(s.interval_ns, 0);
	assert_int_equal(s.at_minute, -1);
	assert_int_equal(s.job, DAEMON_JOB_REAP);
	assert_false(s.apply);
	assert_int_equal(s.rescan_interval_ns, 3600 * S);
	assert_null(s.metrics_file);
	assert_int_equal(schedule_next(&s, 1000 * S, 7), 0);
	daemon_settings_done(&s);
	config_free(c);
}

static void test_keys(void **state)
{
	struct config *c = load("interval = 1h\njitter = 10m\njob = scan\napply = yes\n"
				"workers = 3\nmetrics-file = /var/lib/m.prom\nsocket = /run/x.sock\n"
				"rescan-interval = 5m\nmetrics-interval = 30s\n");
	struct daemon_settings s;
	assert_int_equal(daemon_settings_parse(c, &s, NULL), 0);
	assert_int_equal(s.interval_ns, 3600 * S);
	assert_int_equal(s.jitter_ns, 600 * S);
	assert_int_equal(s.job, DAEMON_JOB_SCAN);
	assert_true(s.apply);
	assert_int_equal(s.workers, 3);
	assert_string_equal(s.metrics_file, "/var/lib/m.prom");
	assert_string_equal(s.socket, "/run/x.sock");
	assert_int_equal(s.rescan_interval_ns, 300 * S);
	assert_int_equal(s.metrics_interval_ns, 30 * S);
	/* interval: now + 1h + (random % jitter) */
	assert_int_equal(schedule_next(&s, 1000 * S, 0), 1000 * S + 3600 * S);
	assert_int_equal(schedule_next(&s, 1000 * S, 600 * S + 5), 1000 * S + 3600 * S + 5);
	daemon_settings_done(&s);
	config_free(c);
}

static void expect_error(const char *section, const char *want)
{
	struct config *c = load(section);
	struct daemon_settings s;
	char *err = NULL;
	assert_int_equal(daemon_settings_parse(c, &s, &err), -EINVAL);
	assert_non_null(err);
	if (!strstr(err, want))
		fail_msg("error '%s' does not contain '%s'", err, want);
	free(err);
	config_free(c);
}

static void test_errors(void **state)
{
	expect_error("interval = soon\n", "t.conf:6: interval = 'soon': not a valid duration");
	expect_error("at = 25:00\n", "t.conf:6: at = '25:00': not a valid time of day");
	expect_error("apply = maybe\n", "not a valid boolean");
	expect_error("workers = -1\n", "not a valid number of threads");
	expect_error("metrics-file = rel/path\n", "t.conf:6: metrics-file must be an absolute path");
	expect_error("job = dance\n", "job = 'dance': expected reap or scan");
	expect_error("colour = blue\n", "t.conf:6: unknown key 'colour' in [daemon]");
	expect_error("interval = 1h\nat = 03:00\n", "both interval and at");
}

static void test_daily(void **state)
{
	if (access("/usr/share/zoneinfo/Europe/Berlin", R_OK) != 0)
		skip(); /* no tzdata: the DST case cannot be built */
	setenv("TZ", "Europe/Berlin", 1);
	tzset();
	struct config *c = load("at = 03:00\n");
	struct daemon_settings s;
	assert_int_equal(daemon_settings_parse(c, &s, NULL), 0);
	assert_int_equal(s.at_minute, 180);
	/* 2026-03-28 12:00 CET (UTC+1): next 03:00 is 2026-03-29 03:00 CEST
	 * (UTC+2), since DST starts at 02:00 that night: 01:00 UTC. */
	struct tm noon = {.tm_year = 126, .tm_mon = 2, .tm_mday = 28, .tm_hour = 12, .tm_isdst = -1};
	int64_t now = (int64_t)mktime(&noon) * S;
	int64_t next = schedule_next(&s, now, 0);
	time_t t = (time_t)(next / S);
	struct tm got;
	gmtime_r(&t, &got);
	assert_int_equal(got.tm_mday, 29);
	assert_int_equal(got.tm_hour, 1);
	assert_int_equal(got.tm_min, 0);
	/* Just after 03:00 the next run is the following day. */
	struct tm after = {.tm_year = 126, .tm_mon = 5, .tm_mday = 1, .tm_hour = 3, .tm_min = 1,
			   .tm_isdst = -1};
	now = (int64_t)mktime(&after) * S;
	next = schedule_next(&s, now, 0);
	assert_true(next - now > 23 * 3600 * S && next - now < 24 * 3600 * S);
	daemon_settings_done(&s);
	config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_daily),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
