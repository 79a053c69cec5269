/* The control socket: a Unix stream socket (mode 0660) on which root, the
 * daemon's own user or members of the socket's group ask for status and
 * metrics, a scan, the scheduled job, pause/resume or a reload. One
 * request line per connection, answered on the loop thread (see
 * fsd/control-proto.h for the protocol). */
#include <fcntl.h>
#include <inttypes.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "common/log.h"
#include "common/util.h"
#include "fsd/control-proto.h"
#include "fsd/fsd.h"

static int socket_path(struct daemon *d)
{
	if (d->socket_opt)
		d->socket_path = strdup(d->socket_opt);
	else if (d->set.socket)
		d->socket_path = strdup(d->set.socket);
	else
		return fsd_default_socket(&d->socket_path);
	return d->socket_path ? 0 : -ENOMEM;
}

/* A socket file left by a daemon that died is removed; one that answers
 * belongs to a live daemon (on another catalog) and is left alone. */
static int clear_stale(const struct sockaddr_un *sa)
{
	struct stat st;
	if (lstat(sa->sun_path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return negative_errno();
	if (connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0)
		return -EADDRINUSE;
	if (unlink(sa->sun_path) < 0 && errno != ENOENT)
		return negative_errno();
	return 0;
}

int control_open(struct daemon *d)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int r = socket_path(d);
	if (r < 0)
		return log_error_errno(r, "Failed to find a place for the control socket: %m");
	if (strlen(d->socket_path) >= sizeof sa.sun_path)
		return log_error_errno(-ENAMETOOLONG, "Socket path '%s' is too long.",
				       d->socket_path);
	strcpy(sa.sun_path, d->socket_path);

	_cleanup_free_ char *dir = strdup(d->socket_path);
	if (!dir)
		return -ENOMEM;
	*strrchr(dir, '/') = 0;
	if (*dir && mkdir(dir, 0755) < 0 && errno != EEXIST)
		return log_error_errno(negative_errno(), "Failed to create '%s': %m", dir);
	r = clear_stale(&sa);
	if (r == -EADDRINUSE)
		return log_error_errno(r, "Another fsd is listening on '%s'; pass --socket PATH.",
				       d->socket_path);
	if (r < 0)
		return log_error_errno(r, "Cannot use '%s' as the control socket: %m",
				       d->socket_path);

	d->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (d->listen_fd < 0)
		return log_error_errno(negative_errno(), "socket: %m");
	mode_t old = umask(0117);
	r = bind(d->listen_fd, (struct sockaddr *)&sa, sizeof sa);
	umask(old);
	if (r < 0)
		return log_error_errno(negative_errno(), "Failed to bind '%s': %m",
				       d->socket_path);
	if (listen(d->listen_fd, 16) < 0)
		return log_error_errno(negative_errno(), "listen: %m");
	return 0;
}

void control_close(struct daemon *d)
{
	if (d->listen_fd < 0)
		return;
	close(d->listen_fd);
	d->listen_fd = -1;
	if (d->socket_path)
		(void)unlink(d->socket_path);
}

/* Whether the peer's supplementary groups hold `gid` (SO_PEERGROUPS). */
static bool peer_in_group(int fd, gid_t gid)
{
	gid_t groups[256];
	socklen_t len = sizeof groups;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == gid)
			return true;
	return false;
}

static bool peer_allowed(struct daemon *d, int fd, struct ucred *cred)
{
	socklen_t len = sizeof *cred;
	struct stat st;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &len) < 0)
		return false;
	if (cred->uid == 0 || cred->uid == geteuid())
		return true;
	if (stat(d->socket_path, &st) < 0)
		return false;
	return cred->gid == st.st_gid || peer_in_group(fd, st.st_gid);
}

static int cmd_scan(struct daemon *d, const char *arg, FILE *out)
{
	struct droot *only = NULL;
	if (arg && *arg) {
		only = daemon_root_by_name(d, arg);
		if (!only) {
			fprintf(out, "error: no root named '%s'\n", arg);
			return -ENOENT;
		}
	}
	int r = daemon_scan_roots(d, only);
	if (r < 0) {
		fprintf(out, "error: scan failed: %s\n", strerror(-r));
		return r;
	}
	fprintf(out, "ok\nscanned %s\n", only ? only->cfg->name : "every root");
	return 0;
}

static int cmd_reload(struct daemon *d, FILE *out)
{
	int r = daemon_reload(d);
	if (r < 0)
		fprintf(out, "error: the new configuration was refused (%s); the old one is "
			     "kept, see the daemon's log\n",
			strerror(-r));
	else
		fprintf(out, "ok\nreloaded\n");
	return r;
}

static int cmd_job(struct daemon *d, FILE *out)
{
	int r = daemon_run_job(d, "request");
	if (r < 0)
		fprintf(out, "error: %s\n", d->last_error ? d->last_error : strerror(-r));
	else
		fprintf(out, "ok\n%s\n", d->last_job_outcome);
	return r;
}

/* "reap" plans (and records the plan); "reap apply" applies it, past the
 * breaker, under the reaper lock, whatever [daemon] apply says: whoever
 * may use this socket may run fsdctl reap --apply too. */
static int cmd_reap(struct daemon *d, const char *arg, FILE *out)
{
	struct reap_summary sum;
	bool apply = arg && streq(arg, "apply");

	if (arg && !apply) {
		fprintf(out, "error: 'reap' takes nothing or 'apply', not '%s'\n", arg);
		return -EINVAL;
	}
	free(d->last_error);
	d->last_error = NULL;
	int r = daemon_reap(d, "request", apply, &sum);
	if (r < 0 && !sum.applied) {
		fprintf(out, "error: %s\n", d->last_error ? d->last_error : strerror(-r));
		return r;
	}
	fprintf(out, "ok\nplanned %zu actions, %" PRIu64 " files, %" PRIu64 " bytes\n",
		sum.actions, sum.files, sum.bytes);
	if (sum.applied)
		fprintf(out, "applied (run %" PRId64 "): %" PRIu64 " files, %" PRIu64
			     " bytes; %" PRIu64 " skipped, %" PRIu64 " failed, %" PRIu64 " deferred\n",
			sum.run_id, sum.done_files, sum.done_bytes, sum.skipped, sum.failed,
			sum.deferred);
	return 0;
}

static void handle(struct daemon *d, char *line, FILE *out)
{
	char *arg = strchr(line, ' ');
	if (arg)
		*arg++ = 0;

	if (streq(line, "status")) {
		fprintf(out, "ok\n");
		(void)status_write(d, out, arg && streq(arg, "json"));
	} else if (streq(line, "metrics")) {
		fprintf(out, "ok\n");
		(void)metrics_write(d, out);
	} else if (streq(line, "scan"))
		(void)cmd_scan(d, arg, out);
	else if (streq(line, "pause") || streq(line, "resume")) {
		daemon_pause(d, streq(line, "pause"));
		fprintf(out, "ok\n%s\n", d->paused ? "paused" : "running");
	} else if (streq(line, "reload"))
		(void)cmd_reload(d, out);
	else if (streq(line, "run"))
		(void)cmd_job(d, out);
	else if (streq(line, "reap"))
		(void)cmd_reap(d, arg, out);
	else if (streq(line, "ping"))
		fprintf(out, "ok\npong\n");
	else
		fprintf(out, "error: unknown command '%s'; expected status, metrics, scan, pause, "
			     "resume, reload, run, reap or ping\n",
			line);
}

/* Reads the request line; the client sends it right after connecting. */
static int read_request(int fd, char *buf, size_t size)
{
	size_t n = 0;
	while (n < size - 1) {
		ssize_t k = read(fd, buf + n, size - 1 - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? negative_errno() : -EPIPE;
		n += (size_t)k;
		char *nl = memchr(buf, '\n', n);
		if (nl) {
			*nl = 0;
			return 0;
		}
	}
	return -EMSGSIZE;
}

static void serve(struct daemon *d, int fd)
{
	/* Clients send their line right after connecting; one that does not
	 * must not hold up the loop for long. */
	struct timeval tv = {.tv_usec = 500 * 1000};
	char req[FSD_REQUEST_MAX];
	struct ucred cred;
	char *resp = NULL;
	size_t len = 0;

	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	tv.tv_sec = 5;
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	FILE *out = open_memstream(&resp, &len);
	if (!out)
		return;
	if (!peer_allowed(d, fd, &cred)) {
		fprintf(out, "error: permission denied (uid %u is not root, the daemon's user or in "
			     "the socket's group)\n",
			(unsigned)cred.uid);
		log_notice("Refused a control request from uid %u.", (unsigned)cred.uid);
	} else if (read_request(fd, req, sizeof req) < 0)
		fprintf(out, "error: no request line\n");
	else
		handle(d, req, out);
	if (fclose(out) == 0 && resp)
		(void)loop_write(fd, resp, len);
	free(resp);
}

int control_accept(struct daemon *d)
{
	for (;;) {
		int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			return errno == EAGAIN ? 0 : negative_errno();
		serve(d, fd);
		close(fd);
	}
}
