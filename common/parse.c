/* Unit parsing and formatting for durations, sizes and booleans. */
#include "common/parse.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define NSEC_PER_SEC 1000000000LL

static int64_t duration_unit(const char *u, size_t n)
{
	static const struct {
		const char *name;
		int64_t ns;
	} units[] = {
	    {"ns", 1},
	    {"us", 1000},
	    {"ms", 1000000},
	    {"s", NSEC_PER_SEC},
	    {"sec", NSEC_PER_SEC},
	    {"m", 60 * NSEC_PER_SEC},
	    {"min", 60 * NSEC_PER_SEC},
	    {"h", 3600 * NSEC_PER_SEC},
	    {"d", 86400 * NSEC_PER_SEC},
	    {"w", 7 * 86400 * NSEC_PER_SEC},
	    {"y", 365 * 86400 * NSEC_PER_SEC},
	};
	if (n == 0)
		return NSEC_PER_SEC;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
		if (strlen(units[i].name) == n && strncasecmp(u, units[i].name, n) == 0)
			return units[i].ns;
	return -1;
}

int parse_duration(const char *s, int64_t *ret_ns)
{
	long double total = 0;
	bool any = false;

	if (!s)
		return -EINVAL;
	while (isspace((unsigned char)*s))
		s++;
	while (*s) {
		char *end;
		errno = 0;
		long double v = strtold(s, &end);
		if (end == s || errno || v < 0 || !isfinite((double)v))
			return -EINVAL;
		s = end;
		while (isspace((unsigned char)*s))
			s++;
		size_t n = 0;
		while (isalpha((unsigned char)s[n]))
			n++;
		int64_t unit = duration_unit(s, n);
		if (unit < 0)
			return -EINVAL;
		/* A bare number means seconds only on its own: "1 2" or "1.5.5"
		 * are typos, not sums. */
		if (n == 0 && (any || s[n]))
			return -EINVAL;
		s += n;
		while (isspace((unsigned char)*s))
			s++;
		total += v * (long double)unit;
		any = true;
	}
	if (!any)
		return -EINVAL;
	if (total > (long double)INT64_MAX)
		return -ERANGE;
	*ret_ns = (int64_t)total;
	return 0;
}

int parse_size(const char *s, uint64_t *ret_bytes)
{
	static const char suffixes[] = "KMGTPE";
	char *end;

	if (!s)
		return -EINVAL;
	while (isspace((unsigned char)*s))
		s++;
	if (*s == '-')
		return -EINVAL;
	errno = 0;
	long double v = strtold(s, &end);
	if (end == s || errno || v < 0 || !isfinite((double)v))
		return -EINVAL;
	while (isspace((unsigned char)*end))
		end++;
	long double mult = 1;
	if (*end) {
		const char *p = strchr(suffixes, toupper((unsigned char)*end));
		if (p) {
			for (long i = 0; i <= p - suffixes; i++)
				mult *= 1024;
			end++;
			if (*end == 'i' || *end == 'I')
				end++;
		}
		if (*end == 'B' || *end == 'b')
			end++;
		if (*end)
			return -EINVAL;
	}
	long double r = v * mult;
	if (r > (long double)UINT64_MAX)
		return -ERANGE;
	*ret_bytes = (uint64_t)r;
	return 0;
}

int parse_bool(const char *s, bool *ret)
{
	static const char *yes[] = {"1", "yes", "y", "true", "on"};
	static const char *no[] = {"0", "no", "n", "false", "off"};
	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

const char *format_bytes(char *buf, size_t len, uint64_t bytes)
{
	static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double v = (double)bytes;
	size_t u = 0;
	/* 1023.95 and up would print as "1024.0": move to the next unit. */
	while (v >= (u == 0 ? 1024 : 1023.95) && u + 1 < sizeof units / sizeof units[0]) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

const char *format_duration(char *buf, size_t len, int64_t ns)
{
	int64_t s = ns / NSEC_PER_SEC;
	const char *sign = "";
	if (s < 0) {
		sign = "-";
		s = -s;
	}
	if (s >= 86400)
		snprintf(buf, len, "%s%lldd %lldh", sign, (long long)(s / 86400),
			 (long long)(s % 86400 / 3600));
	else if (s >= 3600)
		snprintf(buf, len, "%s%lldh %lldm", sign, (long long)(s / 3600),
			 (long long)(s % 3600 / 60));
	else if (s >= 60)
		snprintf(buf, len, "%s%lldm", sign, (long long)(s / 60));
	else
		snprintf(buf, len, "%s%llds", sign, (long long)s);
	return buf;
}

const char *format_time(char *buf, size_t len, int64_t ns)
{
	time_t t = (time_t)(ns / NSEC_PER_SEC);
	struct tm tm;
	if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "%lld", (long long)t);
	return buf;
}
