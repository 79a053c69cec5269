/* Parsing and formatting of the units operators write: durations
 * ("90s", "15m", "24h", "7d", "2w", "1h30m"), sizes ("512K", "10G",
 * "1.5GiB") and booleans. Parsers return 0 or -EINVAL/-ERANGE and leave
 * the output untouched on failure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Duration in nanoseconds; a bare number is seconds. */
int parse_duration(const char *s, int64_t *ret_ns);
/* Size in bytes; suffixes K/M/G/T (powers of 1024), optional "iB"/"B". */
int parse_size(const char *s, uint64_t *ret_bytes);
/* yes/no, true/false, on/off, 1/0. */
int parse_bool(const char *s, bool *ret);

/* "1.5 GiB", "320 B": human sizes into buf (returns buf). */
const char *format_bytes(char *buf, size_t len, uint64_t bytes);
/* "3d 4h", "12m", "45s": a rounded duration into buf (returns buf). */
const char *format_duration(char *buf, size_t len, int64_t ns);
/* ISO 8601 UTC "2026-11-23T18:59:26Z" from nanoseconds since the epoch. */
const char *format_time(char *buf, size_t len, int64_t ns);
