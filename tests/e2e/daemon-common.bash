# Shared pieces of the daemon tests (sourced after tests/lib/tap.sh): a
# config over a temporary root, starting fsd in the background with its
# stop registered at exit, bounded waits on the control socket, and the
# comparison of fsd's catalog with a fresh `fsdctl scan` of the same tree.
# Not a test itself, hence not named *.sh (tests/run.sh runs those).

BURST=$BUILD/tests/burst
ROOT=$T/root
SOCK=$T/fsd.sock
CAT=$T/fsd.db
CONF=$T/fsd.conf
FSD_PID=
mkdir -p "$ROOT"

write_config() {
	cat >"$CONF" <<EOF
[catalog]
path = $CAT

[root up]
path = $ROOT
class = upload
${ROOT_EXTRA:-}

[daemon]
socket = $SOCK
workers = 2
metrics-file = $T/metrics.prom
metrics-interval = 1s
job = scan
$*
EOF
}

# start_fsd [ENV=VALUE...]: starts fsd in the background, log in $T/fsd.log.
start_fsd() {
	env "$@" "$FSD" --config "$CONF" --foreground >>"$T/fsd.log" 2>&1 &
	FSD_PID=$!
	at_exit "kill -9 $FSD_PID"
}

ctl() { "$FSDCTL" "$@" --socket "$SOCK"; }

# wait_for SECONDS CMD...: polls CMD until it succeeds, at most SECONDS.
wait_for() {
	local limit=$(($(date +%s%N) + $1 * 1000000000))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s%N)" -lt "$limit" ] || return 1
		sleep 0.05
	done
}

is_idle() { [ "$(ctl status --json 2>/dev/null | jq -r .idle)" = true ]; }
wait_ready() { wait_for "${1:-30}" ctl daemon ping; }
wait_idle() { wait_for "${1:-60}" is_idle; }

stop_fsd() {
	[ -n "$FSD_PID" ] || return 0
	kill -TERM "$FSD_PID" 2>/dev/null
	wait "$FSD_PID"
	local rc=$?
	FSD_PID=
	return $rc
}

# dump DB: every present file as "root path size hash", sorted. Paths
# under $DUMP_EXCLUDE (a top-level directory, e.g. the reaper's quarantine,
# which fsd does not catalogue) are left out.
dump() {
	sqlite3 "$1" "SELECT r.name, hex(f.path), f.size, hex(f.hash) FROM files f
		JOIN roots r ON r.id = f.root_id WHERE f.state = 0
		AND substr(f.path, 1, length(CAST('${DUMP_EXCLUDE:-/}/' AS BLOB)))
		    <> CAST('${DUMP_EXCLUDE:-/}/' AS BLOB) ORDER BY 1, 2"
}

# same_as_fresh_scan NAME: fsd's catalog equals a fresh scan, file for file
# and hash for hash.
same_as_fresh_scan() {
	local fresh=$T/fresh-$RANDOM.db
	"$FSDCTL" scan --config "$CONF" --catalog "$fresh" >/dev/null 2>"$T/scan.err" ||
		{ not_ok "$1 (fsdctl scan failed)"; sed 's/^/# /' "$T/scan.err"; return; }
	# Rows of roots no longer configured stay in fsd's catalog; compare the
	# roots a fresh scan knows.
	sqlite3 "$fresh" "SELECT name FROM roots" >"$T/roots.txt"
	dump "$CAT" | awk -F'|' 'NR == FNR { keep[$1] = 1; next } keep[$1]' "$T/roots.txt" - \
		>"$T/daemon.dump"
	dump "$fresh" >"$T/fresh.dump"
	local n
	n=$(wc -l <"$T/fresh.dump")
	if cmp -s "$T/daemon.dump" "$T/fresh.dump"; then
		ok "$1 ($n files)"
	else
		not_ok "$1"
		diag "fsd has $(wc -l <"$T/daemon.dump") files, a fresh scan $n; first differences:"
		diff "$T/daemon.dump" "$T/fresh.dump" | head -10 | sed 's/^/#   /'
	fi
	rm -f "$fresh" "$fresh-wal" "$fresh-shm"
}
