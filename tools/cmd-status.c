/* fsdctl status: what the running daemon is doing (roots, catalog counts,
 * queue depths, overflows, last and next runs), asked over its control
 * socket. Exit 2 with a clear message when no daemon runs. */
#include "common/log.h"
#include "tools/commands.h"
#include "tools/daemon-client.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: fsdctl status [--json] [--socket PATH] [--timeout SECONDS]\n"
		   "                    [--config FILE | --preset NAME --data-dir DIR]\n\n"
		   "Asks the running fsd for its state: roots and their catalog counts, the\n"
		   "hashing queue and inotify backlog, overflows, the last scan and the next\n"
		   "scheduled job. \"idle\" means every event seen so far is in the catalog.\n"
		   "The socket is --socket, $FSD_SOCKET, the configuration's [daemon] socket,\n"
		   "or /run/fsd/fsd.sock (root) / $XDG_RUNTIME_DIR/fsd.sock.\n"
		   "Exit codes: 0 answered, 2 no daemon or an error.\n");
}

int cmd_status(struct fsdctl *ctx, int argc, char **argv)
{
	const char *opt;
	_cleanup_free_ char *socket = NULL;
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
	return daemon_client_run(socket, ctx->json ? "status json" : "status", timeout);
}
