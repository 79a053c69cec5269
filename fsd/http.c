/* The optional HTTP API for admin panels and monitoring, on libmicrohttpd
 * driven by the daemon's own epoll loop (MHD's epoll fd is one more source
 * there), so that requests run on the loop thread like everything else
 * that reads or writes the catalog. Bound to what [daemon] http says
 * (127.0.0.1:PORT normally); every request needs "Authorization: Bearer
 * TOKEN" with the token read from http-token-file, compared in constant
 * time. TLS is left to a reverse proxy.
 *
 *   GET  /v1/status   the status document (as `fsdctl status --json`)
 *   GET  /v1/audit    counts and bytes per audit category
 *   GET  /v1/runs     the last 100 recorded runs
 *   GET  /metrics     Prometheus text
 *   POST /v1/reap     the reaper's plan; applied only with a JSON body
 *                     {"apply": true, "confirm": true}
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/util.h"
#include "fsd/fsd.h"
#include "reaper/audit.h"

#define BODY_MAX 4096
#define TOKEN_MAX 4096

struct http {
	struct MHD_Daemon *mhd;
	char *token;
	size_t token_len;
	char address[80];
};

struct request {
	char body[BODY_MAX + 1];
	size_t len;
	bool too_big;
};

/* Compares every byte whatever the first difference, so the time taken
 * does not tell an attacker how much of a guess was right. */
static bool token_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char diff = alen != blen;
	for (size_t i = 0; i < alen; i++)
		diff |= (unsigned char)a[i] ^ (unsigned char)(i < blen ? b[i] : 0);
	return diff == 0;
}

static int read_token(const char *path, char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	char buf[TOKEN_MAX + 1];
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return negative_errno();
	if (st.st_mode & 0077)
		log_warning("Token file '%s' is readable by others; chmod 600 it.", path);
	ssize_t n = loop_read(fd, buf, TOKEN_MAX);
	if (n < 0)
		return (int)n;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	if (n < 16)
		return -EINVAL;
	char *t = malloc((size_t)n + 1);
	if (!t)
		return -ENOMEM;
	memcpy(t, buf, (size_t)n);
	t[n] = 0;
	*ret = t;
	*ret_len = (size_t)n;
	return 0;
}

static enum MHD_Result respond(struct MHD_Connection *c, unsigned code, const char *type,
			       char *body, size_t len)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	if (code == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"fsd\"");
	enum MHD_Result ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result respond_error(struct MHD_Connection *c, unsigned code, const char *msg)
{
	char *body = NULL;
	if (asprintf(&body, "{\"error\":\"%s\"}\n", msg) < 0)
		return MHD_NO;
	return respond(c, code, "application/json", body, strlen(body));
}

/* Runs `fn` into a memory stream and sends what it wrote. */
static enum MHD_Result respond_with(struct MHD_Connection *c, const char *type,
				    int (*fn)(struct daemon *d, FILE *f, void *ud),
				    struct daemon *d, void *ud)
{
	char *body = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&body, &len);
	if (!f)
		return respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	int r = fn(d, f, ud);
	if (fclose(f) != 0 || r < 0) {
		free(body);
		return respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
				     r == -ENOENT ? "no catalog data yet" : "internal error");
	}
	return respond(c, MHD_HTTP_OK, type, body, len);
}

static int do_status(struct daemon *d, FILE *f, void *ud)
{
	return status_write(d, f, true);
}

static int do_metrics(struct daemon *d, FILE *f, void *ud)
{
	return metrics_write(d, f);
}

static void json_text(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)strempty(s); *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

struct runs_ctx {
	FILE *f;
	bool first;
};

static int run_json(const struct catalog_run *r, void *ud)
{
	struct runs_ctx *x = ud;
	fprintf(x->f, "%s{\"id\":%" PRId64 ",\"kind\":", x->first ? "" : ",", r->id);
	json_text(x->f, r->kind);
	fprintf(x->f,
		",\"started_ns\":%" PRId64 ",\"ended_ns\":%" PRId64 ",\"files\":%" PRIu64
		",\"bytes\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"findings\":%" PRIu64 ",\"outcome\":",
		r->started_ns, r->ended_ns, r->files, r->bytes, r->errors, r->findings);
	json_text(x->f, r->outcome);
	fputs(",\"error\":", x->f);
	if (r->error)
		json_text(x->f, r->error);
	else
		fputs("null", x->f);
	fputc('}', x->f);
	x->first = false;
	return 0;
}

static int do_runs(struct daemon *d, FILE *f, void *ud)
{
	struct runs_ctx x = {.f = f, .first = true};
	fputs("{\"runs\":[", f);
	int r = catalog_runs_foreach(d->cat, NULL, 100, run_json, &x);
	fputs("]}\n", f);
	return r;
}

static int count_finding(const struct audit_finding *f, void *ud)
{
	return 0; /* the totals are all this endpoint reports */
}

static int do_audit(struct daemon *d, FILE *f, void *ud)
{
	struct audit_options o = {.now_ns = now_ns()};
	struct audit_sink sink = {.finding = count_finding};
	struct audit_totals t;

	int r = daemon_commit(d);
	if (r < 0)
		return r;
	r = audit_run(d->cat, d->cfg, &o, &sink, &t);
	fputs("{\"categories\":{", f);
	for (int c = 0; c < _AUDIT_CATEGORY_MAX; c++)
		fprintf(f, "%s\"%s\":{\"count\":%" PRIu64 ",\"bytes\":%" PRIu64 "}", c ? "," : "",
			audit_category_to_string((enum audit_category)c), t.count[c], t.bytes[c]);
	fprintf(f, "},\"findings\":%" PRIu64 ",\"duplicate_groups\":%" PRIu64 ",\"errors\":%" PRIu64
		   ",\"complete\":%s}\n",
		t.findings, t.groups, t.errors, r < 0 ? "false" : "true");
	return 0;
}

/* The body of POST /v1/reap: empty, or a JSON object whose members are
 * "apply" and "confirm" with boolean values. Anything else is refused. */
static int parse_reap_body(const char *s, bool *ret_apply, bool *ret_confirm)
{
	bool apply = false, confirm = false;
	const char *p = s + strspn(s, " \t\r\n");
	if (!*p)
		goto done;
	if (*p++ != '{')
		return -EINVAL;
	for (bool first = true;; first = false) {
		p += strspn(p, " \t\r\n");
		if (*p == '}' && first)
			break;
		char key[16];
		int n = 0;
		if (sscanf(p, "\"%15[a-z]\"%n", key, &n) != 1 || n == 0)
			return -EINVAL;
		p += n;
		p += strspn(p, " \t\r\n");
		if (*p++ != ':')
			return -EINVAL;
		p += strspn(p, " \t\r\n");
		bool v;
		if (startswith(p, "true"))
			v = true, p += 4;
		else if (startswith(p, "false"))
			v = false, p += 5;
		else
			return -EINVAL;
		if (streq(key, "apply"))
			apply = v;
		else if (streq(key, "confirm"))
			confirm = v;
		else
			return -EINVAL;
		p += strspn(p, " \t\r\n");
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p == '}')
			break;
		return -EINVAL;
	}
	p++;
	if (p[strspn(p, " \t\r\n")])
		return -EINVAL;
done:
	*ret_apply = apply;
	*ret_confirm = confirm;
	return 0;
}

static enum MHD_Result do_reap(struct MHD_Connection *c, struct daemon *d, struct request *rq)
{
	bool apply, confirm;
	struct reap_summary sum;
	char *body = NULL;

	if (parse_reap_body(rq->body, &apply, &confirm) < 0)
		return respond_error(c, MHD_HTTP_BAD_REQUEST,
				     "the body must be empty or a JSON object with boolean "
				     "\\\"apply\\\" and \\\"confirm\\\"");
	if (apply && !confirm)
		return respond_error(c, MHD_HTTP_BAD_REQUEST,
				     "applying needs \\\"confirm\\\": true as well");
	int r = daemon_reap(d, "http", apply, &sum);
	if (r < 0 && !sum.applied)
		return respond_error(c, MHD_HTTP_CONFLICT, "the reaper could not run; see "
							    "the daemon's log or /v1/status");
	if (asprintf(&body,
		     "{\"dry_run\":%s,\"actions\":%zu,\"files\":%" PRIu64 ",\"bytes\":%" PRIu64
		     ",\"run_id\":%" PRId64 ",\"removed_files\":%" PRIu64 ",\"freed_bytes\":%" PRIu64
		     ",\"skipped\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"deferred\":%" PRIu64 "}\n",
		     apply ? "false" : "true", sum.actions, sum.files, sum.bytes, sum.run_id,
		     sum.done_files, sum.done_bytes, sum.skipped, sum.failed, sum.deferred) < 0)
		return MHD_NO;
	return respond(c, MHD_HTTP_OK, "application/json", body, strlen(body));
}

static bool authorized(struct MHD_Connection *c, struct http *h)
{
	const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	const char *t = v ? startswith(v, "Bearer ") : NULL;
	if (!t)
		return false;
	return token_equal(t, strlen(t), h->token, h->token_len);
}

static enum MHD_Result route(struct MHD_Connection *c, struct daemon *d, const char *url,
			     const char *method, struct request *rq)
{
	bool get = streq(method, "GET"), post = streq(method, "POST");

	if (!authorized(c, d->http))
		return respond_error(c, MHD_HTTP_UNAUTHORIZED, "a valid bearer token is needed");
	if (rq->too_big)
		return respond_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "the body is too large");
	if (streq(url, "/v1/reap"))
		return post ? do_reap(c, d, rq)
			    : respond_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
	if (!get)
		return respond_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
	if (streq(url, "/v1/status"))
		return respond_with(c, "application/json", do_status, d, NULL);
	if (streq(url, "/v1/audit"))
		return respond_with(c, "application/json", do_audit, d, NULL);
	if (streq(url, "/v1/runs"))
		return respond_with(c, "application/json", do_runs, d, NULL);
	if (streq(url, "/metrics"))
		return respond_with(c, "text/plain; version=0.0.4", do_metrics, d, NULL);
	return respond_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint");
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version, const char *upload,
			       size_t *upload_size, void **con_cls)
{
	struct daemon *d = cls;
	struct request *rq = *con_cls;

	if (!rq) {
		rq = calloc(1, sizeof *rq);
		if (!rq)
			return MHD_NO;
		*con_cls = rq;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		size_t n = *upload_size;
		if (rq->len + n > BODY_MAX)
			rq->too_big = true;
		else {
			memcpy(rq->body + rq->len, upload, n);
			rq->len += n;
			rq->body[rq->len] = 0;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (memchr(rq->body, 0, rq->len))
		return respond_error(c, MHD_HTTP_BAD_REQUEST, "the body holds a NUL byte");
	return route(c, d, url, method, rq);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode code)
{
	free(*con_cls);
	*con_cls = NULL;
}

static int parse_address(const char *spec, struct sockaddr_in *sa)
{
	const char *colon = strrchr(spec, ':');
	char host[64];
	char *end;
	if (!colon || (size_t)(colon - spec) >= sizeof host)
		return -EINVAL;
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (*end || port > 65535 || inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return -EINVAL;
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return 0;
}

int http_start(struct daemon *d)
{
	struct sockaddr_in sa = {0};
	_cleanup_free_ struct http *h = NULL;

	if (!d->set.http)
		return 0;
	if (parse_address(d->set.http, &sa) < 0)
		return log_error_errno(-EINVAL, "http = '%s': expected IPV4-ADDRESS:PORT.",
				       d->set.http);
	h = calloc(1, sizeof *h);
	if (!h)
		return -ENOMEM;
	int r = read_token(d->set.http_token_file, &h->token, &h->token_len);
	if (r == -EINVAL)
		return log_error_errno(r, "Token file '%s' holds less than 16 characters.",
				       d->set.http_token_file);
	if (r < 0)
		return log_error_errno(r, "Failed to read token file '%s': %m",
				       d->set.http_token_file);
	h->mhd = MHD_start_daemon(MHD_USE_EPOLL, 0, NULL, NULL, handler, d,
				  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)32,
				  MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)16,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
				  MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
	if (!h->mhd) {
		free(h->token);
		return log_error_errno(-EADDRNOTAVAIL, "Failed to start the HTTP API on %s.",
				       d->set.http);
	}
	const union MHD_DaemonInfo *port = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
	char ip[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof ip);
	snprintf(h->address, sizeof h->address, "%s:%u", ip,
		 port ? (unsigned)port->port : (unsigned)ntohs(sa.sin_port));
	log_info("HTTP API on http://%s/ (bearer token from %s).", h->address,
		 d->set.http_token_file);
	d->http = TAKE_PTR(h);
	return 0;
}

void http_stop(struct daemon *d)
{
	if (!d->http)
		return;
	MHD_stop_daemon(d->http->mhd);
	if (d->http->token) {
		explicit_bzero(d->http->token, d->http->token_len);
		free(d->http->token);
	}
	free(d->http);
	d->http = NULL;
}

int http_fd(struct daemon *d)
{
	if (!d->http)
		return -1;
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(d->http->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	return i ? i->epoll_fd : -1;
}

void http_run(struct daemon *d)
{
	if (d->http)
		(void)MHD_run(d->http->mhd);
}

int64_t http_timeout_ms(struct daemon *d)
{
	MHD_UNSIGNED_LONG_LONG ms;
	if (!d->http || MHD_get_timeout(d->http->mhd, &ms) != MHD_YES)
		return -1;
	return (int64_t)MIN(ms, (MHD_UNSIGNED_LONG_LONG)INT32_MAX);
}

const char *http_address(struct daemon *d)
{
	return d->http ? d->http->address : NULL;
}
