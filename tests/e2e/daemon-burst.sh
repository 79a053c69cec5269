#!/bin/bash
# fsd under a burst: tens of thousands of files (FSD_BURST_FILES, 60,000 by
# default to keep the suite quick; 100,000 passes too) created as fast as one
# process can, then the same with the kernel's event queue forced to
# overflow (event handling paused while more files arrive than the queue
# holds). Either way, once fsd says it is idle, its catalog must equal a
# fresh scan, file for file and hash for hash.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/daemon-common.bash"

# Under ASan every syscall and allocation costs several times more.
case "$BUILD" in *asan*) N=${FSD_BURST_FILES:-20000} ;; *) N=${FSD_BURST_FILES:-60000} ;; esac
QUEUE=$(cat /proc/sys/fs/inotify/max_queued_events)

write_config
start_fsd
check "fsd answers on its socket" wait_ready
wait_idle

start=$(date +%s%N)
"$BURST" create "$ROOT" "$N" 100 64
made=$(date +%s%N)
check "fsd becomes idle after a burst of $N files" wait_idle 120
idle=$(date +%s%N)
diag "created $N files in $(((made - start) / 1000000)) ms; fsd idle $(((idle - made) / 1000000)) ms after the last close()"
same_as_fresh_scan "after the burst the catalog equals a fresh scan"

# Overflow: with event handling paused, more events than the queue holds.
mkdir "$ROOT/flood"
wait_idle
check_exit "pause" 0 ctl daemon pause
"$BURST" create "$ROOT/flood" $((QUEUE + 4000)) 0 16
rm "$ROOT"/d0001/f1*
check_exit "resume" 0 ctl daemon resume
check "fsd becomes idle after the overflow" wait_idle 120
check "status counts the overflow" test "$(ctl status --json | jq -r .counters.overflows)" -ge 1
check_grep "the log says the queue overflowed" "event queue overflowed" "$T/fsd.log"
same_as_fresh_scan "after an overflow the catalog equals a fresh scan"
check_exit "SIGTERM stops fsd" 0 stop_fsd
done_testing
