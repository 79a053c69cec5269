/* Small helpers shared by every module: scope-bound cleanup, ownership
 * transfer and a few string and fd utilities. Nothing here allocates
 * behind the caller's back or logs. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _warn_unused_ __attribute__((warn_unused_result))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Takes ownership of *p: returns it and leaves NULL behind, so the
 * cleanup attribute on the variable no longer frees it. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _p = (p);                                                            \
		(p) = NULL;                                                                        \
		_p;                                                                                \
	})
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _fd = (fd);                                                                    \
		(fd) = -1;                                                                         \
		_fd;                                                                               \
	})

static inline void freep(void *p)
{
	free(*(void **)p);
}
static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Declares a cleanup helper for a type's destructor, which must accept
 * NULL: DEFINE_TRIVIAL_CLEANUP_FUNC(struct catalog *, catalog_close). */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                    \
	static inline void func##p(type *p)                                                        \
	{                                                                                          \
		if (*p)                                                                            \
			func(*p);                                                                  \
	}

static inline bool streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}
static inline bool streq_ptr(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}
static inline bool isempty(const char *s)
{
	return !s || !*s;
}
static inline const char *strempty(const char *s)
{
	return s ? s : "";
}
static inline const char *startswith(const char *s, const char *prefix)
{
	size_t l = strlen(prefix);
	return strncmp(s, prefix, l) == 0 ? s + l : NULL;
}

/* errno as a negative return, never 0 even if errno was not set. */
static inline int negative_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

/* Frees a NULL-terminated array of strings and the array itself. */
void strv_free(char **v);
size_t strv_length(char *const *v);
/* Appends a copy of s; returns 0 or -ENOMEM. */
int strv_extend(char ***v, const char *s);
static inline void strv_freep(char ***v)
{
	strv_free(*v);
}
#define _cleanup_strv_free_ _cleanup_(strv_freep)

/* Reads or writes all of a buffer, retrying on EINTR and short counts. */
ssize_t loop_read(int fd, void *buf, size_t n);
int loop_write(int fd, const void *buf, size_t n);

/* CLOCK_REALTIME / CLOCK_MONOTONIC in nanoseconds. */
int64_t now_ns(void);
int64_t mono_ns(void);
