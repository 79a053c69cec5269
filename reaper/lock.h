/* One reaper per catalog: an flock(2) on `<catalog>.reaper.lock`, taken
 * without waiting. The kernel drops it when the holder dies, so a crash
 * leaves no stale lock; the file's text says who holds it ("pid 123 on
 * host since ...") for the refusal message. Taken once, in one place (the
 * command or the daemon's reaper thread), and handed to apply and
 * recovery, which require it: there is no code path that takes it twice. */
#pragma once

#include "common/util.h"

struct reaper_lock;

/* -EBUSY when another process holds it; then *ret_holder (if not NULL)
 * gets a malloc'd description of the holder. */
int reaper_lock_take(const char *catalog_path, struct reaper_lock **ret, char **ret_holder);
void reaper_lock_release(struct reaper_lock *l); /* accepts NULL */

DEFINE_TRIVIAL_CLEANUP_FUNC(struct reaper_lock *, reaper_lock_release);
