/* fsdctl daemon: tells the running fsd to scan, pause or resume event
 * handling, reload its configuration, run its scheduled job now, or reap
 * (plan, or apply). */
#include "common/log.h"
#include "tools/commands.h"
#include "tools/daemon-client.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: fsdctl daemon COMMAND [--socket PATH] [--timeout SECONDS]\n\n"
		   "Commands for the running fsd:\n"
		   "  scan [ROOT]  quick-check scan of every root (or one) now\n"
		   "  pause        stop handling inotify events (they wait in the kernel queue;\n"
		   "               an overflow is followed by a rescan on resume)\n"
		   "  resume       handle events again\n"
		   "  reload       re-read the configuration (a bad one is refused, the old kept)\n"
		   "  run          run the scheduled job (reap or scan) now\n"
		   "  reap [apply] plan as fsdctl reap does (and record the plan); with\n"
		   "               'apply', apply it (breaker and reaper lock as for --apply)\n"
		   "  ping         check that the daemon answers\n");
}

int cmd_daemon(struct fsdctl *ctx, int argc, char **argv)
{
	static const char *const verbs[] = {"scan",   "pause", "resume", "reload",
					    "run",    "reap",  "ping"};
	const char *opt;
	_cleanup_free_ char *socket = NULL;
	char request[512];
	int timeout;

	int r = daemon_client_options(ctx, argc, argv, usage, &opt, &timeout);
	if (r != 0)
		return r > 0 ? EXIT_CLEAN : EXIT_ERROR;
	size_t n = (size_t)(argc - optind);
	bool known = false;
	for (size_t i = 0; n > 0 && i < ELEMENTSOF(verbs); i++)
		known = known || streq(argv[optind], verbs[i]);
	if (!known || n > 2 || (n == 2 && !streq(argv[optind], "scan") &&
				!(streq(argv[optind], "reap") && streq(argv[optind + 1], "apply")))) {
		usage(stderr);
		return EXIT_ERROR;
	}
	if (n == 2 && (strchr(argv[optind + 1], '\n') || strlen(argv[optind + 1]) > 400)) {
		log_error("Bad root name.");
		return EXIT_ERROR;
	}
	snprintf(request, sizeof request, "%s%s%s", argv[optind], n == 2 ? " " : "",
		 n == 2 ? argv[optind + 1] : "");
	if (daemon_client_socket(ctx, opt, &socket) < 0)
		return log_error("Out of memory."), EXIT_ERROR;
	return daemon_client_run(socket, request, timeout);
}
