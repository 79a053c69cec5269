/* Unit tests of the unit parsers and formatters: durations, sizes,
 * booleans, human sizes and durations, ISO times. Bad input must leave
 * the output untouched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "common/parse.h"
#include "common/util.h"

#define SEC 1000000000LL

static void test_duration_ok(void **state)
{
	static const struct {
		const char *s;
		int64_t ns;
	} cases[] = {
	    {"90s", 90 * SEC},
	    {"15m", 15 * 60 * SEC},
	    {"24h", 24 * 3600 * SEC},
	    {"7d", 7 * 86400 * SEC},
	    {"2w", 14 * 86400 * SEC},
	    {"1y", 365 * 86400 * SEC},
	    {"1h30m", 5400 * SEC},
	    {"1h 30m 15s", 5415 * SEC},
	    {"1.5h", 5400 * SEC},
	    {"500ms", 500000000},
	    {"250us", 250000},
	    {"7ns", 7},
	    {"2min", 120 * SEC},
	    {"3sec", 3 * SEC},
	    {"5M", 5 * 60 * SEC}, /* units are case-insensitive: M is minutes */
	    {"42", 42 * SEC},
	    {"  42  ", 42 * SEC},
	    {"0", 0},
	    {"0s", 0},
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		int64_t ns = -1;
		if (parse_duration(cases[i].s, &ns) != 0)
			fail_msg("parse_duration(\"%s\") failed", cases[i].s);
		if (ns != cases[i].ns)
			fail_msg("parse_duration(\"%s\") = %lld, expected %lld", cases[i].s,
				 (long long)ns, (long long)cases[i].ns);
	}
}

static void test_duration_bad(void **state)
{
	static const char *bad[] = {
	    "",	     "   ",  "h",   "-1s", "5x", "1 day", "24 hours", "1 2",
	    "1.5.5", "1d 2", "nan", "inf", "s5", "1h-5m", "1h,5m",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		int64_t ns = 12345;
		if (parse_duration(bad[i], &ns) != -EINVAL)
			fail_msg("parse_duration(\"%s\") accepted", bad[i]);
		assert_true(ns == 12345);
	}
	int64_t ns = 12345;
	assert_int_equal(parse_duration(NULL, &ns), -EINVAL);
	assert_int_equal(parse_duration("1000y", &ns), -ERANGE);
	assert_true(ns == 12345);
}

static void test_size(void **state)
{
	static const struct {
		const char *s;
		uint64_t bytes;
	} cases[] = {
	    {"0", 0},
	    {"100", 100},
	    {"512K", 512 * 1024},
	    {"512k", 512 * 1024},
	    {"10G", 10ULL << 30},
	    {"1.5GiB", 3ULL << 29},
	    {"2 MiB", 2 << 20},
	    {"3MB", 3 << 20},
	    {"7B", 7},
	    {"1T", 1ULL << 40},
	    {"1P", 1ULL << 50},
	    {"1E", 1ULL << 60},
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		uint64_t b = 1;
		if (parse_size(cases[i].s, &b) != 0)
			fail_msg("parse_size(\"%s\") failed", cases[i].s);
		if (b != cases[i].bytes)
			fail_msg("parse_size(\"%s\") = %llu", cases[i].s, (unsigned long long)b);
	}
	static const char *bad[] = {"", "K", "-1", "-1K", "1Q", "1KX", "1iB", "nan", "inf", "1 2"};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		uint64_t b = 99;
		if (parse_size(bad[i], &b) >= 0)
			fail_msg("parse_size(\"%s\") accepted", bad[i]);
		assert_true(b == 99);
	}
	uint64_t b = 99;
	assert_int_equal(parse_size("16E", &b), -ERANGE);
	assert_int_equal(parse_size(NULL, &b), -EINVAL);
	assert_true(b == 99);
}

static void test_bool(void **state)
{
	static const char *yes[] = {"1", "yes", "YES", "y", "true", "True", "on"};
	static const char *no[] = {"0", "no", "N", "false", "off", "OFF"};
	bool v;
	for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
		v = false;
		assert_int_equal(parse_bool(yes[i], &v), 0);
		assert_true(v);
	}
	for (size_t i = 0; i < ELEMENTSOF(no); i++) {
		v = true;
		assert_int_equal(parse_bool(no[i], &v), 0);
		assert_false(v);
	}
	v = true;
	assert_int_equal(parse_bool("maybe", &v), -EINVAL);
	assert_int_equal(parse_bool("", &v), -EINVAL);
	assert_int_equal(parse_bool(NULL, &v), -EINVAL);
	assert_true(v);
}

static void test_format_bytes(void **state)
{
	char buf[32];
	assert_string_equal(format_bytes(buf, sizeof buf, 0), "0 B");
	assert_string_equal(format_bytes(buf, sizeof buf, 320), "320 B");
	assert_string_equal(format_bytes(buf, sizeof buf, 1023), "1023 B");
	assert_string_equal(format_bytes(buf, sizeof buf, 1024), "1.0 KiB");
	assert_string_equal(format_bytes(buf, sizeof buf, 1536), "1.5 KiB");
	assert_string_equal(format_bytes(buf, sizeof buf, 3ULL << 29), "1.5 GiB");
	/* never "1024.0 KiB": rounding moves it to the next unit */
	assert_string_equal(format_bytes(buf, sizeof buf, 1048575), "1.0 MiB");
	assert_string_equal(format_bytes(buf, sizeof buf, UINT64_MAX), "16.0 EiB");
	/* the buffer bounds the text */
	char small[4];
	assert_string_equal(format_bytes(small, sizeof small, 123456), "120");
}

static void test_format_duration(void **state)
{
	char buf[32];
	assert_string_equal(format_duration(buf, sizeof buf, 0), "0s");
	assert_string_equal(format_duration(buf, sizeof buf, 45 * SEC), "45s");
	assert_string_equal(format_duration(buf, sizeof buf, 12 * 60 * SEC + 5 * SEC), "12m");
	assert_string_equal(format_duration(buf, sizeof buf, 3 * 3600 * SEC + 7 * 60 * SEC),
			    "3h 7m");
	assert_string_equal(format_duration(buf, sizeof buf, (3 * 86400 + 4 * 3600) * SEC),
			    "3d 4h");
	assert_string_equal(format_duration(buf, sizeof buf, -90 * SEC), "-1m");
	assert_string_equal(format_duration(buf, sizeof buf, INT64_MIN), "-106751d 23h");
}

static void test_format_time(void **state)
{
	char buf[32];
	assert_string_equal(format_time(buf, sizeof buf, 0), "1970-01-01T00:00:00Z");
	assert_string_equal(format_time(buf, sizeof buf, 1795460366LL * SEC + 999999999),
			    "2026-11-23T18:59:26Z");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_duration_ok),	 cmocka_unit_test(test_duration_bad),
	    cmocka_unit_test(test_size),	 cmocka_unit_test(test_bool),
	    cmocka_unit_test(test_format_bytes), cmocka_unit_test(test_format_duration),
	    cmocka_unit_test(test_format_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
