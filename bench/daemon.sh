#!/bin/bash
# The daemon's figures (issue 4), called by bench/run.sh or on its own:
#   - latency from close() of a new 1 KiB file to its hashed row in the
#     catalog, p50 and p99, under a steady 5,000 files/s for 10 s
#     (bench/daemon-latency.c polls the catalog every millisecond);
#   - CPU seconds (user + system, all of fsd's threads, hashing included)
#     per 100,000 files created as fast as one process can;
#   - RSS of fsd watching the shared bench tree (200,000 small files in
#     2,000 directories plus 2,000 big ones), after its start-up scan:
#     steady VmRSS (the target) and the peak VmHWM (the scan included).
# Environment as bench/README.md says: BUILD, BENCH_DIR, BENCH_SCALE,
# BENCH_TREE, BENCH_RESULTS, BENCH_LOG.
set -u
cd "$(dirname "$0")/.."
. bench/lib.sh
BUILD=${BUILD:-build}
BENCH_DIR=${BENCH_DIR:-/var/tmp/fsd-bench}
BENCH_SCALE=${BENCH_SCALE:-1.0}
BENCH_TREE=${BENCH_TREE:-$BENCH_DIR/tree}
FSD=$BUILD/fsd
FSDCTL=$BUILD/fsdctl
LAT=$BUILD/bench/daemon-latency
W=$BENCH_DIR/daemon
PID=

scaled() { awk -v n="$1" -v s="$BENCH_SCALE" 'BEGIN { v = int(n * s); print v < 100 ? 100 : v }'; }
die() { bench_say "daemon bench: $*"; stop; exit 1; }

for p in "$FSD" "$FSDCTL" "$LAT"; do
	[ -x "$p" ] || { bench_say "daemon bench: no $p (make $p)"; exit 1; }
done
command -v jq >/dev/null || { bench_say "daemon bench: needs jq"; exit 1; }

# start ROOT CATALOG: fsd in the background on one root.
start() {
	mkdir -p "$W"
	cat >"$W/fsd.conf" <<EOF
[catalog]
path = $2

[root ${3:-bench}]
path = $1
class = cache
key = none

[daemon]
socket = $W/fsd.sock
job = scan
EOF
	"$FSD" --config "$W/fsd.conf" >>"$BENCH_LOG" 2>&1 &
	PID=$!
}
stop() {
	[ -n "$PID" ] || return 0
	kill "$PID" 2>/dev/null
	wait "$PID" 2>/dev/null
	PID=
}
trap stop EXIT
idle() { [ "$("$FSDCTL" status --json --socket "$W/fsd.sock" --timeout 600 2>/dev/null | jq -r .idle)" = true ]; }
wait_idle() {
	local limit=$((SECONDS + ${1:-600}))
	until idle; do
		[ $SECONDS -lt $limit ] || return 1
		sleep 0.1
	done
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
status_kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$PID/status"; }

# 1. Latency at 5,000 files/s.
rm -rf "$W/root" "$W"/lat.db*
mkdir -p "$W/root/lat"
start "$W/root" "$W/lat.db"
wait_idle 60 || die "fsd did not become idle"
n=$(scaled 50000)
bench_say "daemon: $n files at 5,000/s, close() to catalog row"
read -r p50 p99 max missing < <("$LAT" "$W/lat.db" "$W/root/lat" "$n" 5000)
[ "${missing:-x}" = 0 ] || bench_say "daemon: $missing files never reached the catalog"
[ "${missing:-x}" = 0 ] || p99=FAIL
bench_row "daemon: close() to row, p50 (5k files/s)" "${p50:-FAIL}" - info - ms
bench_row "daemon: close() to row, p99 (5k files/s)" "${p99:-FAIL}" - below 200 ms
bench_row "daemon: close() to row, max (5k files/s)" "${max:-FAIL}" - info - ms

# 2. CPU per 100,000 files, on the bench filesystem and, where there is
# one, on tmpfs (the same work without the disk's own kernel costs).
# cpu_per_100k DIR: fsd's CPU seconds per 100k files created in DIR.
cpu_per_100k() {
	local n c0 c1 t0 t1
	n=$(scaled 100000)
	c0=$(cpu_ticks)
	t0=$(bench_now)
	"$LAT" --create "$1" "$n" || return 1
	wait_idle 600 || return 1
	t1=$(bench_now)
	c1=$(cpu_ticks)
	bench_say "daemon: $n files created in $1 and catalogued in $(bench_secs $((t1 - t0))) s"
	awk -v d=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v n="$n" \
		'BEGIN { printf "%.2f", d / hz * 100000 / n }'
}
rm -rf "$W/root/lat"
mkdir -p "$W/root/cpu"
wait_idle 60
cpu=$(cpu_per_100k "$W/root/cpu") || die "the CPU run failed"
bench_row "daemon: CPU s per 100k files (hashing incl.)" "$cpu" - below 2 s
stop
SHM=/dev/shm/fsd-bench-daemon.$$
if mkdir -p "$SHM/root" 2>/dev/null; then
	start "$SHM/root" "$SHM/cpu.db"
	wait_idle 60
	cpu=$(cpu_per_100k "$SHM/root") || cpu=FAIL
	bench_row "daemon: CPU s per 100k files, tmpfs" "$cpu" - below 2 s
	stop
	rm -rf "$SHM"
fi

# 3. RSS watching the shared tree (a copy of the scan bench's catalog, when
# there is one, makes the start-up scan a quick check).
if [ -d "$BENCH_TREE" ]; then
	rm -f "$W"/tree.db*
	[ -f "$BENCH_DIR/work/scan.db" ] && cp "$BENCH_DIR/work/scan.db" "$W/tree.db"
	start "$BENCH_TREE" "$W/tree.db" bench
	wait_idle 900 || die "fsd did not become idle on the tree"
	dirs=$("$FSDCTL" status --json --socket "$W/fsd.sock" | jq -r .watches)
	files=$("$FSDCTL" status --json --socket "$W/fsd.sock" | jq -r '.roots[0].files')
	rss=$(bench_mib "$(status_kib VmRSS)")
	hwm=$(bench_mib "$(status_kib VmHWM)")
	bench_say "daemon: watching $dirs directories, $files files"
	bench_row "daemon: RSS watching $files files" "$rss" - below 64 MiB
	bench_row "daemon: peak RSS incl. start-up scan" "$hwm" - info - MiB
	stop
else
	bench_say "daemon: no tree at $BENCH_TREE; RSS not measured"
	bench_row "daemon: RSS watching the tree" - - below 64 MiB
fi
exit 0
