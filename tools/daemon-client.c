/* The client half of the control socket: connect, send one line, read
 * everything until the daemon closes, and split "ok"/"error: ..." from
 * the body. */
#include "tools/daemon-client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "common/log.h"
#include "common/util.h"
#include "fsd/control-proto.h"

static int socket_from_config(struct fsdctl *ctx, char **ret)
{
	struct config *cfg = ctx->cfg;
	struct config *own = NULL;
	char *msg = NULL;

	if (!cfg) {
		/* Only a configuration the user named, or the usual file if it is
		 * there; a missing one is not an error for a status query. */
		const char *path = ctx->config_path ? ctx->config_path : getenv("FSD_CONFIG");
		int r;
		if (ctx->preset && ctx->data_dir)
			r = config_load_preset(ctx->preset, ctx->data_dir, &own, &msg);
		else if (path || access("/etc/fsd/fsd.conf", R_OK) == 0)
			r = config_load(path ? path : "/etc/fsd/fsd.conf", &own, &msg);
		else
			return 0;
		free(msg);
		if (r < 0)
			return 0;
		cfg = own;
	}
	for (size_t i = 0; i < cfg->n_sections && !*ret; i++) {
		const struct config_section *s = &cfg->sections[i];
		if (!streq_ptr(s->type, "daemon"))
			continue;
		for (size_t j = 0; j < s->n_kv; j++)
			if (streq(s->kv[j].key, "socket")) {
				free(*ret);
				*ret = strdup(s->kv[j].value);
			}
	}
	config_free(own);
	return 0;
}

int daemon_client_socket(struct fsdctl *ctx, const char *opt, char **ret)
{
	char *p = NULL;
	const char *env = getenv("FSD_SOCKET");

	if (opt)
		p = strdup(opt);
	else if (env && *env)
		p = strdup(env);
	else {
		(void)socket_from_config(ctx, &p);
		if (!p)
			return fsd_default_socket(ret);
	}
	if (!p)
		return -ENOMEM;
	*ret = p;
	return 0;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path)
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return negative_errno();
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int r = negative_errno();
		close(fd);
		return r;
	}
	return fd;
}

/* Reads until EOF, waiting at most timeout_s for each piece. */
static int read_all(int fd, int timeout_s, char **ret, size_t *ret_len)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int k = poll(&p, 1, timeout_s * 1000);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return negative_errno();
		if (k == 0)
			return -ETIMEDOUT;
		if (len + 4096 + 1 > cap) {
			cap = MAX(cap * 2, 8192);
			char *b = realloc(buf, cap);
			if (!b)
				return -ENOMEM;
			buf = b;
		}
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return negative_errno();
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (!buf && !(buf = calloc(1, 1)))
		return -ENOMEM;
	buf[len] = 0;
	*ret = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

int daemon_client_request(const char *socket, const char *request, int timeout_s, char **ret_body)
{
	_cleanup_close_ int fd = connect_to(socket);
	_cleanup_free_ char *resp = NULL;
	size_t len;

	if (fd < 0)
		return fd;
	char line[FSD_REQUEST_MAX];
	int n = snprintf(line, sizeof line, "%s\n", request);
	if (n < 0 || (size_t)n >= sizeof line)
		return -EMSGSIZE;
	int r = loop_write(fd, line, (size_t)n);
	if (r < 0)
		return r;
	r = read_all(fd, timeout_s, &resp, &len);
	if (r < 0)
		return r;
	char *nl = strchr(resp, '\n');
	const char *body = nl ? nl + 1 : "";
	if (nl)
		*nl = 0;
	const char *err = startswith(resp, "error: ");
	char *copy = strdup(err ? err : body);
	if (!copy)
		return -ENOMEM;
	*ret_body = copy;
	if (err)
		return -EREMOTEIO;
	return streq(resp, "ok") ? 0 : -EBADMSG;
}

int daemon_client_run(const char *socket, const char *request, int timeout_s)
{
	_cleanup_free_ char *body = NULL;
	int r = daemon_client_request(socket, request, timeout_s, &body);

	if (r == -ENOENT || r == -ECONNREFUSED) {
		log_error("fsd is not running (no socket at %s)", socket);
		return EXIT_ERROR;
	}
	if (r == -EREMOTEIO) {
		log_error("fsd: %s", body);
		return EXIT_ERROR;
	}
	if (r == -ETIMEDOUT) {
		log_error("fsd did not answer on %s within %ds (busy with a long scan?); "
			  "try --timeout", socket, timeout_s);
		return EXIT_ERROR;
	}
	if (r < 0) {
		log_error_errno(r, "Failed to talk to fsd on %s: %m", socket);
		return EXIT_ERROR;
	}
	fputs(body, stdout);
	return fflush(stdout) == 0 ? EXIT_CLEAN : EXIT_ERROR;
}

int daemon_client_options(struct fsdctl *ctx, int argc, char **argv, void (*usage)(FILE *f),
			  const char **ret_socket, int *ret_timeout)
{
	static const struct option options[] = {
		FSDCTL_COMMON_LONGOPTS,
		DAEMON_CLIENT_LONGOPTS,
		{},
	};
	int c;

	*ret_socket = NULL;
	*ret_timeout = 60;
	while ((c = getopt_long(argc, argv, FSDCTL_COMMON_SHORTOPTS, options, NULL)) >= 0) {
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		if (c == OPT_SOCKET) {
			*ret_socket = optarg;
			continue;
		}
		if (c == OPT_TIMEOUT) {
			char *end;
			long t = strtol(optarg, &end, 10);
			if (*end || t <= 0 || t > 86400) {
				log_error("--timeout wants seconds (1-86400), not '%s'.", optarg);
				return -EINVAL;
			}
			*ret_timeout = (int)t;
			continue;
		}
		int r = fsdctl_common_option(ctx, c, optarg);
		if (r == 0) {
			usage(stderr);
			return -EINVAL;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

int daemon_client_command(struct fsdctl *ctx, int argc, char **argv, void (*usage)(FILE *f),
			  const char *request, const char *request_json)
{
	_cleanup_free_ char *socket = NULL;
	const char *opt;
	int timeout;

	int r = daemon_client_options(ctx, argc, argv, usage, &opt, &timeout);
	if (r != 0)
		return r > 0 ? EXIT_CLEAN : EXIT_ERROR;
	if (optind != argc) {
		usage(stderr);
		return EXIT_ERROR;
	}
	if (daemon_client_socket(ctx, opt, &socket) < 0)
		return log_error("Out of memory."), EXIT_ERROR;
	return daemon_client_run(socket, ctx->json && request_json ? request_json : request,
				 timeout);
}
