/* Declarations of the subcommand entry points listed in commands.def. */
#pragma once

#include "tools/fsdctl.h"

#define FSDCTL_COMMAND(name, fn, help) int fn(struct fsdctl *ctx, int argc, char **argv);
#include "tools/commands.def"
#undef FSDCTL_COMMAND
