#!/bin/bash
# fsd end to end: startup reconciliation, new directory trees, renames,
# trees moved in and out, deletes, a file rewritten while it is hashed,
# restart, the control socket (status, metrics, reload with a bad config),
# and a second fsd on the same catalog refused. After each step fsd's
# catalog must equal a fresh `fsdctl scan`, file for file, hash for hash.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/daemon-common.bash"

# Files that exist before fsd starts: the start-up scan finds them.
mkdir -p "$ROOT/pre/sub"
for i in 1 2 3; do echo "pre $i" >"$ROOT/pre/sub/p$i"; done
printf 'x%.0s' {1..5000} >"$ROOT/big"

check_exit "fsdctl status without a daemon" 2 ctl status 2>"$T/none.err"
check_grep "says that fsd is not running" "fsd is not running \(no socket at $SOCK\)" "$T/none.err"

ROOT_EXTRA=$'exclude = *.tmp\nexclude = skip/*'
write_config
start_fsd
check "fsd answers on its socket" wait_ready
check "fsd becomes idle after its start-up scan" wait_idle
same_as_fresh_scan "start-up scan: catalog equals a fresh scan"

ctl status >"$T/status.txt"
check_grep "status names the root" "^  up +upload +4 files" "$T/status.txt"
ctl status --json >"$T/status.json"
check_eq "status --json: root name" "up" "$(jq -r '.roots[0].name' "$T/status.json")"
check_eq "status --json: catalog counts" "4" "$(jq -r '.roots[0].files' "$T/status.json")"
check_eq "status --json: job is scan" "scan" "$(jq -r '.job' "$T/status.json")"
check_eq "status --json: the last scan run" "scan ok" \
	"$(jq -r '.last_runs[] | select(.kind == "scan") | "\(.kind) \(.outcome)"' "$T/status.json")"
check_grep "status lists the last runs" "^runs +scan +ok " "$T/status.txt"
ctl metrics >"$T/metrics.txt"
check_grep "metrics: files per root and class" '^fsd_files\{root="up",class="upload"\} 4$' "$T/metrics.txt"
check_grep "metrics: overflows" '^fsd_overflows_total 0$' "$T/metrics.txt"
check_grep "metrics: runs by outcome" '^fsd_runs_total\{kind="scan",outcome="ok"\} [0-9]+$' "$T/metrics.txt"
check "metrics file written for node_exporter" wait_for 10 grep -q '^fsd_files{root="up"' "$T/metrics.prom"

# New directory trees with files written right after mkdir: the files
# written before the new directory's watch existed must not be missed.
for i in $(seq 1 20); do
	mkdir -p "$ROOT/new/t$i/a/b"
	echo "file $i" >"$ROOT/new/t$i/a/b/f"
	echo "file $i" >"$ROOT/new/t$i/g"
done
mkdir -p "$ROOT/skip/deep" "$ROOT/new/t5/tmpdir.tmp"
echo "excluded" >"$ROOT/skip/deep/x"
echo "excluded" >"$ROOT/new/t5/a.tmp"
echo "excluded" >"$ROOT/new/t5/tmpdir.tmp/y"
wait_idle
same_as_fresh_scan "new directory trees"
check_eq "excluded paths are not catalogued" 0 \
	"$(sqlite3 "$CAT" "SELECT count(*) FROM files WHERE state = 0 AND (CAST(path AS TEXT) LIKE 'skip/%' OR CAST(path AS TEXT) LIKE '%.tmp%')")"

# A rename storm (renames paired by cookie keep identity).
mkdir "$ROOT/storm"
"$BURST" create "$ROOT/storm" 2000 0 32
wait_idle
id_before=$(sqlite3 "$CAT" "SELECT id FROM files WHERE path = CAST('storm/f10' AS BLOB)")
"$BURST" rename "$ROOT/storm" 2000
wait_idle
same_as_fresh_scan "rename storm"
check_eq "a rename keeps the catalog row" "$id_before" \
	"$(sqlite3 "$CAT" "SELECT id FROM files WHERE path = CAST('storm/h10' AS BLOB)")"

# Trees moved in from outside, out of the root, and within it; deletes.
mkdir -p "$T/outside/tree/x"
for i in 1 2 3 4; do echo "out $i" >"$T/outside/tree/x/o$i"; done
mv "$T/outside/tree" "$ROOT/moved-in"
mv "$ROOT/new/t1" "$T/outside/t1-out"
mv "$ROOT/new/t2" "$ROOT/renamed-t2"
echo "after" >"$ROOT/renamed-t2/a/b/late"
mv "$ROOT/pre/sub/p1" "$T/outside/p1-out"
rm -r "$ROOT/new/t3"
rm "$ROOT/storm/g11"
ln "$ROOT/big" "$ROOT/pre/big-link"
wait_idle
same_as_fresh_scan "trees moved in, out and within; deletes; a hard link"
echo "outside" >"$T/outside/t1-out/a/b/after-move"
rm -r "$T/outside/t1-out"
wait_idle
check_eq "no watch left on a tree moved out" "" \
	"$(sqlite3 "$CAT" "SELECT path FROM files WHERE state = 0 AND CAST(path AS TEXT) LIKE '%after-move%'")"

# Many rewrites of one file while fsd hashes it.
"$BURST" rewrite "$ROOT/rewritten" 300 &
for i in $(seq 1 50); do echo "$i" >"$ROOT/small-rewrite"; done
wait $!
wait_idle
same_as_fresh_scan "files rewritten while being hashed"

# A second fsd on the same catalog is refused and says who holds it.
"$FSD" --config "$CONF" --socket "$T/second.sock" --foreground >"$T/second.log" 2>&1
check_eq "a second fsd on the same catalog exits 1" 1 $?
check_grep "and names the pid that holds the catalog" "in use by another fsd \(pid $FSD_PID" "$T/second.log"

# Reload: a bad config is refused and the old one kept; a good one applies.
cp "$CONF" "$T/good.conf"
echo 'interval = soon' >>"$CONF"
check_exit "reload with a bad config is refused" 2 ctl daemon reload 2>"$T/reload.err"
check_grep "reload says the old configuration is kept" "old one is kept" "$T/reload.err"
kill -HUP "$FSD_PID"
check "after SIGHUP with a bad config fsd still answers" wait_ready
check_grep "the log names the bad line" "fsd.conf:[0-9]+: interval = 'soon'" "$T/fsd.log"
check_eq "the old configuration is still in force" "up" "$(ctl status --json | jq -r '.roots[0].name')"
cp "$T/good.conf" "$CONF"
sed -i 's/^job = scan$/job = scan\ninterval = 1h/' "$CONF"
check_exit "reload with a good config" 0 ctl daemon reload
check "the new schedule is in force" test "$(ctl status --json | jq -r .next_job)" != null

# A reload that adds a root watches and scans it; one that drops it stops.
mkdir -p "$T/two/sub"
echo "in two" >"$T/two/sub/a"
cp "$CONF" "$T/one-root.conf"
printf '\n[root two]\npath = %s\nclass = log\n' "$T/two" >>"$CONF"
check_exit "reload with a second root" 0 ctl daemon reload
wait_idle
check_eq "both roots are in the status" "up two" "$(ctl status --json | jq -r '[.roots[].name] | join(" ")')"
echo "after reload" >"$T/two/sub/b"
wait_idle
same_as_fresh_scan "the new root is watched and scanned"
cp "$T/one-root.conf" "$CONF"
check_exit "reload without it" 0 ctl daemon reload
check_eq "one root again" "up" "$(ctl status --json | jq -r '[.roots[].name] | join(" ")')"

# Pause and resume; run the scheduled (scan) job on request.
check_exit "pause" 0 ctl daemon pause
echo paused >"$ROOT/while-paused"
check_eq "status says paused" "true" "$(ctl status --json | jq -r .paused)"
check_exit "resume" 0 ctl daemon resume
wait_idle
check_exit "run the scheduled job now" 0 ctl daemon run
check_eq "the job's outcome is recorded" "ok" "$(ctl status --json | jq -r .last_job.outcome)"
same_as_fresh_scan "paused and resumed"

# Restart: changes made while fsd was stopped are picked up.
check_exit "SIGTERM stops fsd cleanly" 0 stop_fsd
check_grep "it says the catalog is consistent" "Stopped; the catalog is consistent" "$T/fsd.log"
check "the socket is removed on exit" test ! -e "$SOCK"
echo "while down" >"$ROOT/while-down"
rm "$ROOT/big"
echo "changed while down, longer" >"$ROOT/pre/sub/p2"
mv "$ROOT/renamed-t2" "$ROOT/renamed-again"
start_fsd
wait_ready
wait_idle
same_as_fresh_scan "restart picks up changes made while stopped"

# A file rewritten while a worker hashes it (held there by a failpoint):
# the catalog must end with the new content.
stop_fsd
mkfifo "$T/fp" "$T/fp.reply"
mkdir "$ROOT/hold"
start_fsd FSD_FAILPOINTS=daemon-hash=pause@1 FSD_FAILPOINT_FIFO="$T/fp"
wait_ready
wait_idle
echo "first version" >"$ROOT/hold/held"
read -r -t 30 what <"$T/fp"
check_eq "the worker is held inside hashing" "daemon-hash" "$what"
echo "second version, different and longer" >"$ROOT/hold/held"
mv "$ROOT/hold" "$ROOT/hold-renamed"
echo go >"$T/fp.reply"
wait_idle
same_as_fresh_scan "a file rewritten during its hashing, its directory renamed meanwhile"
stop_fsd

# SIGTERM during a long scan stops it at its next batch (the scan is held
# inside hashing by a failpoint while the signal arrives).
rm -f "$T/fp" "$T/fp.reply"
mkfifo "$T/fp" "$T/fp.reply"
echo "changed while down again, to be hashed" >"$ROOT/pre/sub/p3"
start_fsd FSD_FAILPOINTS=scan-before-hash=pause@1 FSD_FAILPOINT_FIFO="$T/fp"
read -r -t 30 what <"$T/fp"
check_eq "the start-up scan is held inside hashing" "scan-before-hash" "$what"
kill -TERM "$FSD_PID"
# Release the held file only once the scan has been told to stop, or the
# scan could finish first.
wait_for 30 grep -q "the scan stops at its next batch" "$T/fsd.log"
echo go >"$T/fp.reply"
check_exit "fsd stops" 0 stop_fsd
check_grep "the scan was interrupted by the signal" "Scan of root 'up' interrupted by a signal" "$T/fsd.log"
check_eq "and recorded as interrupted" interrupted \
	"$(sqlite3 "$CAT" "SELECT outcome FROM runs WHERE kind = 'scan' ORDER BY id DESC LIMIT 1")"

# Out of inotify watches (the second inotify_add_watch fails with ENOSPC):
# fsd says so once and covers the root with periodic quick-check scans.
write_config "rescan-interval = 1s"
start_fsd FSD_FAILPOINTS=daemon-add-watch=error:ENOSPC@2
wait_ready
check_eq "status says the root is degraded" "true" "$(ctl status --json | jq -r '.roots[0].degraded')"
echo "found by a periodic scan" >"$ROOT/pre/sub/periodic"
has_periodic() { [ "$(sqlite3 "$CAT" "SELECT count(*) FROM files WHERE state = 0 AND path = CAST('pre/sub/periodic' AS BLOB)")" = 1 ]; }
check "a file in an unwatched directory is found by the periodic scan" wait_for 20 has_periodic
wait_for 10 grep -q "Quick-check scan of up.*1 new" "$T/fsd.log"
check_eq "the lack of watches is reported once" 1 "$(grep -c 'Out of inotify watches' "$T/fsd.log")"
check_grep "metrics show the degraded root" '^fsd_root_degraded\{root="up"\} 1$' <(ctl metrics)
check_eq "the socket is mode 0660" 660 "$(stat -c %a "$SOCK")"
stop_fsd

# A root that goes away is reported lost and rechecked; when it is back
# it is watched again.
write_config "rescan-interval = 1s"
start_fsd
wait_ready
wait_idle
mv "$ROOT" "$T/root-away"
is_lost() { [ "$(ctl status --json | jq -r '.roots[0].lost')" = "$1" ]; }
check "a root moved away is lost" wait_for 10 is_lost true
check_grep "the log says so" "Root 'up' \\(.*\\) was removed or moved away" "$T/fsd.log"
mv "$T/root-away" "$ROOT"
check "when it is back it is watched again" wait_for 20 is_lost false
echo "back" >"$ROOT/pre/back"
wait_idle
same_as_fresh_scan "the root that came back is kept current"
stop_fsd
done_testing
