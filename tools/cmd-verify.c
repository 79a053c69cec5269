/* fsdctl verify: re-reads and re-hashes every file of the roots, whatever
 * the quick-check says, and lists the files whose content changed while
 * their size and mtime did not: bit rot, or a writer that put the mtime
 * back. Exit 1 when there are such files. The work is fsdctl scan's with
 * scan_options.verify set (tools/cmd-scan.c). */
#include "tools/cmd-scan.h"
#include "tools/commands.h"

int cmd_verify(struct fsdctl *ctx, int argc, char **argv)
{
	return fsdctl_scan_command(ctx, argc, argv, true);
}
