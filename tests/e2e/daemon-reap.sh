#!/bin/bash
# fsd's reaper job on the demo Open WebUI data: with apply = no it plans
# exactly what `fsdctl reap` plans and records it, changing nothing; with
# apply = yes (after a reload) it applies the plan, the metrics count what
# was reaped, `fsdctl reap` then finds nothing left to do, and the
# daemon's catalog still equals the disk.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/daemon-common.bash"

DATA=$T/data
"$MKDEMO" "$DATA" --fixtures "$FIXTURES" >/dev/null || { not_ok "fsd-mkdemo"; done_testing; exit; }
{
	echo "[catalog]"
	echo "path = $CAT"
	"$FSDCTL" config show --preset open-webui --data-dir "$DATA"
	printf '\n[daemon]\nsocket = %s\njob = reap\ninterval = 1h\njitter = 10m\nmetrics-file = %s\n' \
		"$SOCK" "$T/metrics.prom"
} >"$CONF"
check_exit "the config with a [daemon] section checks" 0 "$FSDCTL" config check --config "$CONF"

files_on_disk() { find "$DATA/uploads" "$DATA/cache" -type f -not -path "*/.fsd-quarantine/*" | wc -l; }
before=$(files_on_disk)
start_fsd
check "fsd answers" wait_ready
wait_idle
ctl status --json >"$T/s.json"
check_eq "the job is reap, plan only" "reap false" "$(jq -r '"\(.job) \(.apply)"' "$T/s.json")"
next=$(date -d "$(jq -r .next_job "$T/s.json")" +%s)
now=$(date +%s)
check "the next run is an hour away, plus less than the jitter" \
	test $((next - now)) -ge 3590 -a $((next - now)) -le 4210

check_exit "run the reap job now" 0 ctl daemon run
"$FSDCTL" reap --config "$CONF" --catalog "$T/other.db" --json >"$T/plan.json" 2>/dev/null
want=$(jq '.plan.actions | length' "$T/plan.json")
check "fsdctl reap plans something on the demo" test "$want" -gt 0
check_eq "the daemon recorded the same plan" "$want" \
	"$(sqlite3 "$CAT" "SELECT findings FROM runs WHERE kind = 'reap-plan' ORDER BY id DESC LIMIT 1")"
check_grep "fsdctl daemon reap plans the same" "^planned $want actions" <(ctl daemon reap)
check_exit "fsdctl daemon reap refuses a stray argument" 2 ctl daemon reap now 2>/dev/null
check_eq "apply = no changes nothing on disk" "$before" "$(files_on_disk)"
check "and nothing is quarantined" test ! -e "$DATA/uploads/.fsd-quarantine"

echo "apply = yes" >>"$CONF"
check_exit "reload with apply = yes" 0 ctl daemon reload
check_exit "run the reap job again" 0 ctl daemon run
check_eq "the job's outcome" "ok" "$(ctl status --json | jq -r .last_job.outcome)"
check "files went to quarantine" test -d "$DATA/uploads/.fsd-quarantine"
check_eq "the run is recorded as a reap" "ok" \
	"$(sqlite3 "$CAT" "SELECT outcome FROM runs WHERE kind = 'reap' ORDER BY id DESC LIMIT 1")"
"$FSDCTL" reap --config "$CONF" --catalog "$T/after.db" --json >"$T/after.json" 2>/dev/null
check_eq "afterwards fsdctl reap finds nothing to do" "0" "$(jq '.plan.actions | length' "$T/after.json")"
ctl metrics >"$T/metrics.txt"
check_grep "metrics count the reaped files" '^fsd_reaped_files_total [1-9][0-9]*$' "$T/metrics.txt"
check_grep "metrics count runs by outcome" '^fsd_runs_total\{kind="reap",outcome="ok"\} 1$' "$T/metrics.txt"
wait_idle
DUMP_EXCLUDE=.fsd-quarantine same_as_fresh_scan "after the reap the catalog equals the disk"
check_exit "SIGTERM stops fsd" 0 stop_fsd

# The min-free trigger: a root below its rule's threshold runs the job as
# soon as the watcher records new data (plan only: apply = no).
mkdir -p "$ROOT"
cat >"$CONF" <<EOF
[catalog]
path = $T/minfree.db

[root up]
path = $ROOT
class = cache

[rule full]
roots = up
min-free = 1000T

[daemon]
socket = $SOCK
job = reap
EOF
start_fsd
wait_ready
wait_idle
check_eq "no reaper run before anything is written" 0 \
	"$(sqlite3 "$T/minfree.db" "SELECT count(*) FROM runs WHERE kind LIKE 'reap%'")"
echo data >"$ROOT/new-file"
has_plan() { [ "$(sqlite3 "$T/minfree.db" "SELECT count(*) FROM runs WHERE kind = 'reap-plan'")" = 1 ]; }
check "writing below min-free runs the reaper job" wait_for 20 has_plan
check_grep "the log says why" "Root 'up' is below a min-free threshold" "$T/fsd.log"
check "and nothing was removed (apply = no)" test -f "$ROOT/new-file"
check_exit "SIGTERM stops fsd" 0 stop_fsd
done_testing
