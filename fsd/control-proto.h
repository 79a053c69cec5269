/* The control socket's address and protocol, shared by fsd and fsdctl.
 *
 * One request per connection: the client sends one line, "COMMAND [ARG]\n";
 * the daemon answers "ok\n" or "error: MESSAGE\n", then the body, and
 * closes the connection. Commands: status [json], metrics, scan [ROOT],
 * pause, resume, reload, run (the scheduled job), reap [apply] (the
 * reaper's plan, applied with "apply"), ping. */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FSD_SOCKET_SYSTEM "/run/fsd/fsd.sock"
#define FSD_REQUEST_MAX 1024

/* Default socket path: /run/fsd/fsd.sock as root, $XDG_RUNTIME_DIR/fsd.sock
 * (or /run/user/UID/fsd.sock) otherwise. malloc'd into *ret. */
static inline int fsd_default_socket(char **ret)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	char *p = NULL;
	int n;
	if (geteuid() == 0)
		n = asprintf(&p, "%s", FSD_SOCKET_SYSTEM);
	else if (xdg && xdg[0] == '/')
		n = asprintf(&p, "%s/fsd.sock", xdg);
	else
		n = asprintf(&p, "/run/user/%u/fsd.sock", (unsigned)geteuid());
	if (n < 0)
		return -ENOMEM;
	*ret = p;
	return 0;
}
