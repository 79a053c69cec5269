/* The reaper lock (see lock.h). flock rather than O_EXCL creation: an
 * O_EXCL file outlives a killed holder and then needs stale-lock guessing,
 * while an flock is atomic and released by the kernel with the process. */
#include "reaper/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>

#include "common/parse.h"

struct reaper_lock {
	int fd;
	char *path;
};

static char *read_holder(int fd)
{
	char buf[256];
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	if (n <= 0)
		return strdup("another process (it has not written its name yet)");
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return strdup(buf);
}

static int write_holder(int fd)
{
	char host[128] = "?", when[64], buf[256];
	gethostname(host, sizeof host - 1);
	int n = snprintf(buf, sizeof buf, "pid %d on %s since %s\n", (int)getpid(), host,
			 format_time(when, sizeof when, now_ns()));
	if (ftruncate(fd, 0) < 0)
		return negative_errno();
	return loop_write(fd, buf, (size_t)n);
}

int reaper_lock_take(const char *catalog_path, struct reaper_lock **ret, char **ret_holder)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	if (asprintf(&path, "%s.reaper.lock", catalog_path) < 0)
		return -ENOMEM;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return negative_errno();
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : negative_errno();
		if (r == -EBUSY && ret_holder)
			*ret_holder = read_holder(fd);
		return r;
	}
	r = write_holder(fd);
	if (r < 0)
		return r;
	struct reaper_lock *l = malloc(sizeof *l);
	if (!l)
		return -ENOMEM;
	l->fd = TAKE_FD(fd);
	l->path = TAKE_PTR(path);
	*ret = l;
	return 0;
}

void reaper_lock_release(struct reaper_lock *l)
{
	if (!l)
		return;
	/* Empty the text before unlocking so nobody reads a stale holder. */
	if (ftruncate(l->fd, 0) < 0) {
		/* nothing to do: the lock goes with the fd anyway */
	}
	close(l->fd);
	free(l->path);
	free(l);
}
