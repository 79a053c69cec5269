/* fsdctl status: what the running daemon is doing (roots, catalog counts,
 * queue depths, overflows, last and next runs), asked over its control
 * socket. Exit 2 with a clear message when no daemon runs. */
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
	return daemon_client_command(ctx, argc, argv, usage, "status", "status json");
}
