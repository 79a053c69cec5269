/* Logging to stderr with syslog priority prefixes ("<3>") so journald
 * keeps levels. Library modules (catalog, reaper) log at debug at most;
 * the program that decides logs once. log_*_errno() return the negative
 * error they were given, and "%m" prints that error's text. */
#pragma once

#include <syslog.h>

#include "common/util.h"

void log_set_max_level(int level);
int log_get_max_level(void);
/* Prefix lines with "<N>" (on by default when stderr is not a TTY). */
void log_set_prefix(int on);
/* Program name printed before each message on a TTY. */
void log_set_ident(const char *ident);

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...)
	_printf_(5, 6);

#define log_full_errno(level, error, ...)                                                          \
	({                                                                                         \
		int _l = (level), _e = (error);                                                    \
		(log_get_max_level() >= _l) ? log_internal(_l, _e, __FILE__, __LINE__, __VA_ARGS__) \
					    : -abs(_e);                                            \
	})
#define log_full(level, ...) (void)log_full_errno(level, 0, __VA_ARGS__)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, e, __VA_ARGS__)
