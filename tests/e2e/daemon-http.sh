#!/bin/bash
# fsd's HTTP API with curl, on the demo Open WebUI data: every endpoint,
# missing and wrong tokens (401, nothing done), malformed and oversized
# bodies (400, 413), wrong methods and paths, a stalled client that does
# not hold up the others, and a reap requested over HTTP that plans what
# `fsdctl reap` plans and applies only with "apply" and "confirm".
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/daemon-common.bash"

DATA=$T/data
"$MKDEMO" "$DATA" --fixtures "$FIXTURES" >/dev/null || { not_ok "fsd-mkdemo"; done_testing; exit; }
TOKEN=0123456789abcdef0123456789abcdef
(umask 077 && echo "$TOKEN" >"$T/token")
{
	echo "[catalog]"
	echo "path = $CAT"
	"$FSDCTL" config show --preset open-webui --data-dir "$DATA"
	printf '\n[daemon]\nsocket = %s\nhttp = 127.0.0.1:0\nhttp-token-file = %s\n' "$SOCK" "$T/token"
} >"$CONF"
start_fsd
check "fsd answers" wait_ready
wait_idle
URL=http://$(ctl status --json | jq -r .http)
check "status names the HTTP address" test "$URL" != "http://null"

# api METHOD PATH [curl args...]: prints the body, then the status code
# on a line of its own.
api() {
	local m=$1 p=$2
	shift 2
	curl -s --max-time 20 -X "$m" -H "Authorization: Bearer $TOKEN" -w '\n%{http_code}\n' "$@" "$URL$p"
}
code() { tail -n 1; }
body() { sed '$d'; }

check_eq "GET /v1/status" 200 "$(api GET /v1/status | code)"
check_eq "the status is the daemon's" "$FSD_PID" "$(api GET /v1/status | body | jq .pid)"
check_eq "no token: 401" 401 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/status")"
check_eq "a wrong token of the same length: 401" 401 \
	"$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${TOKEN%?}X" "$URL/v1/status")"
check_eq "a token prefix: 401" 401 \
	"$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${TOKEN:0:8}" "$URL/v1/status")"
check_eq "basic auth instead of bearer: 401" 401 \
	"$(curl -s -o /dev/null -w '%{http_code}' -u "x:$TOKEN" "$URL/v1/status")"
api GET /metrics >"$T/metrics.txt"
check_eq "GET /metrics" 200 "$(code <"$T/metrics.txt")"
check_grep "metrics per root and class" '^fsd_files\{root="uploads",class="upload"\} [0-9]+$' "$T/metrics.txt"
api GET /v1/runs >"$T/runs.txt"
check_eq "GET /v1/runs" 200 "$(code <"$T/runs.txt")"
check_eq "runs list the start-up scans" scan "$(body <"$T/runs.txt" | jq -r '.runs[-1].kind')"
api GET /v1/audit >"$T/audit.txt"
check_eq "GET /v1/audit" 200 "$(code <"$T/audit.txt")"
"$FSDCTL" audit --config "$CONF" --json >"$T/audit.json" 2>"$T/audit.err"
diag "$(head -3 "$T/audit.err")"
check_eq "orphans as fsdctl audit counts them" "$(jq .totals.orphan.count "$T/audit.json")" \
	"$(body <"$T/audit.txt" | jq .categories.orphan.count)"
check_eq "and their bytes" "$(jq .totals.orphan.bytes "$T/audit.json")" \
	"$(body <"$T/audit.txt" | jq .categories.orphan.bytes)"

check_eq "GET /v1/reap: 405" 405 "$(api GET /v1/reap | code)"
check_eq "an unknown path: 404" 404 "$(api GET /v1/nothing | code)"
check_eq "a malformed body: 400" 400 "$(api POST /v1/reap -d '{"apply": yes}' | code)"
check_eq "an unknown member: 400" 400 "$(api POST /v1/reap -d '{"apply": true, "force": true}' | code)"
check_eq "trailing garbage: 400" 400 "$(api POST /v1/reap -d '{"apply": false} x' | code)"
check_eq "apply without confirm: 400" 400 "$(api POST /v1/reap -d '{"apply": true}' | code)"
head -c 20000 /dev/zero | tr '\0' ' ' >"$T/big"
check_eq "an oversized body: 413" 413 "$(api POST /v1/reap --data-binary @"$T/big" | code)"
runs=$(sqlite3 "$CAT" "SELECT count(*) FROM runs")
check_eq "a reap with a wrong token: 401" 401 "$(curl -s -o /dev/null -w '%{http_code}' \
	-H "Authorization: Bearer nope-nope-nope-nope" -d '{"apply":true,"confirm":true}' "$URL/v1/reap")"
check_eq "and nothing was done" "$runs" "$(sqlite3 "$CAT" "SELECT count(*) FROM runs")"

# A client that sends half a request and stalls holds up nobody.
exec 7<>/dev/tcp/127.0.0.1/"${URL##*:}"
printf 'GET /v1/status HTTP/1.1\r\nHost: x\r\n' >&7
check_eq "another client is served meanwhile" 200 "$(api GET /v1/status | code)"
exec 7>&-

api POST /v1/reap >"$T/plan.txt"
check_eq "POST /v1/reap without a body is a dry run" "200 true" \
	"$(code <"$T/plan.txt") $(body <"$T/plan.txt" | jq .dry_run)"
"$FSDCTL" reap --config "$CONF" --catalog "$T/other.db" --json >"$T/plan.json" 2>/dev/null
want=$(jq '.plan.actions | length' "$T/plan.json")
check "fsdctl reap plans something on the demo" test "$want" -gt 0
check_eq "the HTTP plan equals fsdctl reap's" "$want" "$(body <"$T/plan.txt" | jq .actions)"
check "nothing went to quarantine yet" test ! -e "$DATA/uploads/.fsd-quarantine"
api POST /v1/reap -H 'Content-Type: application/json' -d '{"apply": true, "confirm": true}' >"$T/apply.txt"
check_eq "POST /v1/reap with apply and confirm applies" "200 false" \
	"$(code <"$T/apply.txt") $(body <"$T/apply.txt" | jq .dry_run)"
check_eq "it removed the planned files" "$(jq '[.plan.actions[] | select(.path)] | length' "$T/plan.json")" \
	"$(body <"$T/apply.txt" | jq .removed_files)"
check_eq "a dry run afterwards finds nothing" 0 "$(api POST /v1/reap -d '{}' | body | jq .actions)"
check_exit "SIGTERM stops fsd" 0 stop_fsd
done_testing
