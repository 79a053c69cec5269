/* Failpoints: named places where a test can inject an error, a crash or a
 * pause, so that fault and race tests are deterministic instead of timed.
 * Configured only through the environment; with FSD_FAILPOINTS unset the
 * check is one load and a branch.
 *
 *   FSD_FAILPOINTS="name=ACTION[@N][,name=ACTION[@N]...]"
 *     ACTION  error:EIO   the call site fails with -EIO (any errno name)
 *             kill        the process kills itself with SIGKILL
 *             pause       the process writes "name\n" to $FSD_FAILPOINT_FIFO
 *                         and blocks until a line comes back on
 *                         $FSD_FAILPOINT_FIFO.reply (test-driven sync)
 *     @N      act on the N-th hit only (default: every hit)
 */
#pragma once

/* Returns 0 to go on, or the injected -errno. `kill` does not return. */
int failpoint(const char *name);

#define FAILPOINT(name)                                                                            \
	({                                                                                         \
		extern int failpoint_enabled;                                                      \
		failpoint_enabled ? failpoint(name) : 0;                                           \
	})
