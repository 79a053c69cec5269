/* Talking to a running fsd over its control socket (protocol in
 * fsd/control-proto.h): finding the socket, sending one request and
 * reading the answer. Used by status, metrics and daemon. */
#pragma once

#include "tools/fsdctl.h"

/* The socket to use: `opt` (--socket), $FSD_SOCKET, the configuration's
 * [daemon] socket (when a configuration was named or is found), or the
 * default place. malloc'd into *ret. */
int daemon_client_socket(struct fsdctl *ctx, const char *opt, char **ret);

/* Sends `request` and reads the answer. Returns 0 with the body in
 * *ret_body (malloc'd); -ENOENT/-ECONNREFUSED when no daemon listens;
 * -EREMOTEIO when the daemon answered with an error (its message, without
 * "error: ", in *ret_body); other -errno on I/O failure or timeout. */
int daemon_client_request(const char *socket, const char *request, int timeout_s,
			  char **ret_body);

/* Sends `request`, prints the body on stdout, and maps the outcome to an
 * exit code with a clear message (e.g. "fsd is not running (no socket at
 * PATH)" and exit 2). */
int daemon_client_run(const char *socket, const char *request, int timeout_s);

/* Options every daemon-facing command takes besides the common ones. */
enum {
	OPT_SOCKET = OPT_COMMON_LAST + 0x100,
	OPT_TIMEOUT,
};
#define DAEMON_CLIENT_LONGOPTS                                                                     \
	{"socket", required_argument, NULL, OPT_SOCKET},                                           \
		{"timeout", required_argument, NULL, OPT_TIMEOUT}

/* Parses the common and daemon options of a command; leaves optind at the
 * first operand. Returns 0, 1 after printing help, or -EINVAL after
 * printing usage. */
int daemon_client_options(struct fsdctl *ctx, int argc, char **argv, void (*usage)(FILE *f),
			  const char **ret_socket, int *ret_timeout);

/* A whole command that takes no operands and sends one request
 * (`request_json` with --json, when not NULL): parses the options, finds
 * the socket, runs the request. Returns an exit code. */
int daemon_client_command(struct fsdctl *ctx, int argc, char **argv, void (*usage)(FILE *f),
			  const char *request, const char *request_json);
