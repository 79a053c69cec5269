/* fsdctl metrics: the running daemon's metrics in Prometheus text format
 * (the same text it writes to metrics-file for node_exporter). */
#include "common/log.h"
#include "tools/commands.h"
#include "tools/daemon-client.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: fsdctl metrics [--socket PATH] [--timeout SECONDS]\n"
		   "                     [--config FILE | --preset NAME --data-dir DIR]\n\n"
		   "Prints the running fsd's metrics in Prometheus text format: files and\n"
		   "bytes per root and class, reaped files and bytes, runs by outcome, queue\n"
		   "depths, inotify overflows. See fsd(8) for every metric.\n");
}

int cmd_metrics(struct fsdctl *ctx, int argc, char **argv)
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
	return daemon_client_run(socket, "metrics", timeout);
}
