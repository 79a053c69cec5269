/* fsdctl metrics: the running daemon's metrics in Prometheus text format
 * (the same text it writes to metrics-file for node_exporter). */
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
	return daemon_client_command(ctx, argc, argv, usage, "metrics", NULL);
}
