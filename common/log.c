/* The stderr logger behind log.h. One write(2) per message so lines from
 * worker threads never interleave. */
#include "common/log.h"

#include <stdarg.h>

static int max_level = LOG_INFO;
static int prefix = -1;
static const char *ident;

void log_set_max_level(int level)
{
	max_level = level;
}

int log_get_max_level(void)
{
	return max_level;
}

void log_set_prefix(int on)
{
	prefix = on;
}

void log_set_ident(const char *id)
{
	ident = id;
}

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...)
{
	char buf[4096];
	size_t n = 0;
	int saved = errno;
	int e = abs(error);

	if (prefix < 0)
		prefix = !isatty(STDERR_FILENO);
	if (prefix)
		n += (size_t)snprintf(buf, sizeof buf, "<%d>", level);
	else if (ident)
		n += (size_t)snprintf(buf, sizeof buf, "%s: ", ident);
	if (level >= LOG_DEBUG && n < sizeof buf)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%s:%d: ", file, line);

	/* "%m" must print the error we were handed, not whatever errno
	 * the caller's cleanup left behind. */
	errno = e;
	va_list ap;
	va_start(ap, fmt);
	if (n < sizeof buf)
		n += (size_t)vsnprintf(buf + n, sizeof buf - n, fmt, ap);
	va_end(ap);
	if (n >= sizeof buf - 1)
		n = sizeof buf - 2;
	buf[n++] = '\n';
	(void)loop_write(STDERR_FILENO, buf, n);
	errno = saved;
	return -e;
}
