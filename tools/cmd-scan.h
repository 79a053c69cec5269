/* What fsdctl scan and fsdctl verify share: scanning the configured (or
 * named) roots, recording the run, and printing the per-root summary. */
#pragma once

#include "tools/fsdctl.h"

/* Runs `fsdctl scan` (verify = false) or `fsdctl verify` (verify = true)
 * with the command's arguments; returns the exit code. */
int fsdctl_scan_command(struct fsdctl *ctx, int argc, char **argv, bool verify);
