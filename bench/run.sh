#!/bin/bash
# fsd's benchmarks against the tools an operator would otherwise use, run
# back to back on a warm page cache and printed as one table of times and
# ratios (fsd vs peer) with the issues' targets. It is a measurement, not
# a test: a missed target is reported, and the exit status is non-zero
# only when something failed to run. See bench/README.md.
#
# usage: bench/run.sh [--clean]
# env:   BUILD (build), BENCH_DIR (/var/tmp/fsd-bench), BENCH_SCALE (1.0),
#        BENCH_RUNS (3), BENCH_SEED (1),
#        BENCH_ONLY ("scan rescan audit reap daemon fuse" or a subset),
#        BENCH_PERF=1 (also profile fsd's runs with perf into $BENCH_DIR/perf-*)
set -u
cd "$(dirname "$0")/.."
TOP=$PWD
# shellcheck source=bench/lib.sh
. bench/lib.sh

BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
BENCH_DIR=${BENCH_DIR:-/var/tmp/fsd-bench}
BENCH_SCALE=${BENCH_SCALE:-1.0}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_SEED=${BENCH_SEED:-1}
BENCH_ONLY=${BENCH_ONLY:-}
FSDCTL=$BUILD/fsdctl
MKTREE=$BUILD/bench/mktree
TREE=$BENCH_DIR/tree
WORK=$BENCH_DIR/work
MARK=$BENCH_DIR/.fsd-bench
failed=0
declare -a commands=() notes=()

die() {
	echo "bench: $*" >&2
	exit 2
}

selected() {
	[ -z "$BENCH_ONLY" ] && return 0
	case " $BENCH_ONLY " in *" $1 "*) return 0 ;; esac
	return 1
}

# note_command WHAT CMD: remembers the exact command behind a row.
note_command() {
	commands+=("$(printf '%-22s %s' "$1" "$2")")
}

# note TEXT: a line printed under the table (why a row was skipped).
note() {
	notes+=("$*")
}

fail() {
	echo "bench: FAILED: $*" >&2
	failed=$((failed + 1))
}

clean() {
	[ -d "$BENCH_DIR" ] || return 0
	[ -e "$MARK" ] || die "$BENCH_DIR has no $MARK: not removing a directory fsd's bench did not make"
	rm -rf "$BENCH_DIR"
	echo "removed $BENCH_DIR"
}

# Tree: generated once per parameter set; the stamp file beside it names
# the generator's source hash and the parameters, so a matching tree is
# reused and anything else is rebuilt from scratch.
make_tree() {
	local plan stamp bytes files need avail
	plan=$("$MKTREE" -n -s "$BENCH_SCALE" -S "$BENCH_SEED") || die "mktree -n failed"
	TREE_FILES=$(sed -n 's/.* files=\([0-9]*\).*/\1/p' <<<"$plan")
	stamp="mktree $(sha256sum bench/mktree.c | cut -c1-16) seed=$BENCH_SEED scale=$BENCH_SCALE $plan"
	if [ -d "$TREE" ] && [ "$(cat "$TREE.stamp" 2>/dev/null)" = "$stamp" ]; then
		bench_say "reusing $TREE ($plan)"
		return 0
	fi
	rm -rf "$TREE" "$TREE.stamp"
	bytes=$(sed -n 's/.* bytes=\([0-9]*\).*/\1/p' <<<"$plan")
	files=$(sed -n 's/.* files=\([0-9]*\).*/\1/p' <<<"$plan")
	need=$((bytes + files * 4096))
	avail=$(df -B1 --output=avail "$BENCH_DIR" | tail -n 1)
	if [ "$avail" -lt $((2 * need)) ]; then
		die "refusing to write the tree: it needs $((need >> 20)) MiB and $BENCH_DIR has" \
			"$((avail >> 20)) MiB free (less than twice that); set BENCH_DIR or BENCH_SCALE"
	fi
	bench_say "writing $TREE ($plan)"
	bench_time "$MKTREE" -s "$BENCH_SCALE" -S "$BENCH_SEED" -j "$(nproc)" "$TREE" ||
		die "mktree failed (see $BENCH_LOG)"
	bench_row "generate tree (mktree, $files files)" "$BENCH_T" - info
	sync
	echo "$stamp" >"$TREE.stamp"
}

warm_tree() {
	bench_time bash -c 'find "$1" -type f -print0 | xargs -0 -P2 cat >/dev/null' _ "$TREE" ||
		fail "warm read of $TREE"
	bench_row "warm read (find | xargs -P2 cat)" "$BENCH_T" - info
}

write_scan_config() {
	mkdir -p "$WORK"
	cat >"$WORK/scan.conf" <<EOF
[catalog]
path = $WORK/scan.db

[root bench]
path = $TREE
class = cache
key = none
EOF
}

fsd_scan_empty() {
	rm -f "$WORK/scan.db" "$WORK/scan.db-wal" "$WORK/scan.db-shm"
	fsd_scan
}

fsd_scan() {
	bench_time_rss "$FSDCTL" scan -c "$WORK/scan.conf"
	[ "$BENCH_RC" -le 1 ]
}

# perf_profile NAME CMD...: one more run of CMD under perf, its profile
# kept in $BENCH_DIR/perf-NAME.{data,txt} (with BENCH_PERF=1 only).
perf_profile() {
	local name=$1
	shift
	[ "${BENCH_PERF:-0}" = 1 ] || return 0
	# perf exits with the command's status, and audit's 1 means findings.
	perf record -q -F 1999 -g -o "$BENCH_DIR/perf-$name.data" -- "$@" >>"$BENCH_LOG" 2>&1
	[ -s "$BENCH_DIR/perf-$name.data" ] || { fail "perf record $name"; return; }
	perf report -i "$BENCH_DIR/perf-$name.data" --no-children --sort dso,sym --stdio \
		-g none 2>/dev/null | grep -v '^#' | grep . | head -40 >"$BENCH_DIR/perf-$name.txt"
	note "$name: perf profile in $BENCH_DIR/perf-$name.txt"
}

# check_catalog: a fast scan must also be a complete one: every file of
# the tree present and hashed in the catalog.
check_catalog() {
	local got
	got=$(sqlite3 "$WORK/scan.db" "SELECT count(*) FROM files WHERE state = 0 AND hash IS NOT NULL" \
		2>>"$BENCH_LOG") || { fail "cannot read $WORK/scan.db"; return; }
	[ "$got" = "$TREE_FILES" ] ||
		fail "fsd scan catalogued $got hashed files, the tree has $TREE_FILES"
}

# The three ways to hash every file that an operator has at hand.
peer_xxh() {
	bench_time_rss bash -c 'find "$1" -type f -print0 | xargs -0 -P"$2" xxhsum -H2 >/dev/null' \
		_ "$TREE" "$1"
}

peer_rmlint() {
	# rmlint renames an existing output file aside instead of replacing it.
	rm -f "$WORK"/rmlint*.txt
	bench_time rmlint -T df -a xxhash --size 0 -o "summary:$WORK/rmlint.txt" "$TREE"
}

peer_stat_walk() {
	bench_time_rss bash -c 'find "$1" -printf "%s %T@ %p\n" >/dev/null' _ "$TREE"
}

fsd_ready() {
	if [ ! -x "$FSDCTL" ]; then
		echo "no $FSDCTL"
	elif ! bench_has_command "$FSDCTL" "$1"; then
		echo "fsdctl has no '$1' command yet"
	elif [ "$1" = scan ] && ! "$FSDCTL" config check -c "$WORK/scan.conf" >>"$BENCH_LOG" 2>&1; then
		echo "fsdctl config check rejects $WORK/scan.conf (see $BENCH_LOG)"
	fi
}

bench_scan() {
	local -a fsd=() rss=() cpu=() x1=() x1cpu=() x2=() rm=()
	local why r
	why=$(fsd_ready scan)
	[ -n "$why" ] && note "scan: fsd not measured: $why"
	note_command "fsd scan" "fsdctl scan -c $WORK/scan.conf   (empty catalog: rm $WORK/scan.db* first)"
	note_command "find|xargs xxhsum" "find TREE -type f -print0 | xargs -0 -P1 xxhsum -H2 >/dev/null   (and -P2)"
	note_command "rmlint" "rmlint -T df -a xxhash --size 0 -o summary:FILE TREE"
	warm_tree
	for ((r = 1; r <= BENCH_RUNS; r++)); do
		bench_say "hash round $r/$BENCH_RUNS"
		if [ -z "$why" ]; then
			if fsd_scan_empty; then
				fsd+=("$BENCH_T") rss+=("$BENCH_RSS_KIB") cpu+=("$BENCH_CPU")
			else
				fail "fsdctl scan exited $BENCH_RC (see $BENCH_LOG)"
				why=failed
			fi
		fi
		peer_xxh 1 && x1+=("$BENCH_T") x1cpu+=("$BENCH_CPU") || fail "find|xargs xxhsum -P1"
		peer_xxh 2 && x2+=("$BENCH_T") || fail "find|xargs xxhsum -P2"
		# rmlint takes ten times longer than the rest; once keeps the
		# rounds that the targets rest on close together.
		[ "$r" -eq 1 ] && { peer_rmlint && rm+=("$BENCH_T") || fail "rmlint exited $BENCH_RC"; }
	done
	local f=-
	[ "$why" = failed ] && f=FAIL
	[ ${#fsd[@]} -gt 0 ] && [ "$why" != failed ] && f=$(bench_median "${fsd[@]}")
	[ -z "$why" ] && check_catalog
	if [ -z "$why" ]; then
		rm -f "$WORK/scan.db" "$WORK/scan.db-wal" "$WORK/scan.db-shm"
		perf_profile scan-empty "$FSDCTL" scan -c "$WORK/scan.conf"
	fi
	bench_row "scan, empty catalog vs find|xargs xxhsum" "$f" "$(bench_median "${x1[@]}")" faster 1.5
	bench_row "scan, empty catalog vs ... xargs -P2" "$f" "$(bench_median "${x2[@]}")" faster -
	bench_row "scan, empty catalog vs rmlint" "$f" "$(bench_median "${rm[@]}")" faster -
	if [ ${#rss[@]} -gt 0 ]; then
		bench_row "scan, empty catalog: peak RSS" "$(bench_mib "$(bench_max "${rss[@]}")")" - \
			info - MiB
		bench_row "scan CPU (user+sys) vs find|xargs xxhsum" "$(bench_median "${cpu[@]}")" \
			"$(bench_median "${x1cpu[@]}")" time -
	fi
}

bench_rescan() {
	local -a fsd=() rss=() cpu=() walk=() walkcpu=()
	local why r f=-
	why=$(fsd_ready scan)
	[ -n "$why" ] && note "rescan: fsd not measured: $why"
	note_command "fsd rescan" "fsdctl scan -c $WORK/scan.conf   (catalog from the scan before, nothing changed)"
	note_command "stat walk" "find TREE -printf '%s %T@ %p\\n' >/dev/null"
	if [ -z "$why" ] && [ ! -e "$WORK/scan.db" ]; then
		bench_say "filling the catalog for the rescan"
		fsd_scan || { fail "fsdctl scan exited $BENCH_RC"; why=failed; }
	fi
	for ((r = 1; r <= BENCH_RUNS; r++)); do
		bench_say "rescan round $r/$BENCH_RUNS"
		if [ -z "$why" ]; then
			if fsd_scan; then
				fsd+=("$BENCH_T") rss+=("$BENCH_RSS_KIB") cpu+=("$BENCH_CPU")
			else
				fail "fsdctl scan (rescan) exited $BENCH_RC"
				why=failed
			fi
		fi
		peer_stat_walk && walk+=("$BENCH_T") walkcpu+=("$BENCH_CPU") || fail "find -printf"
	done
	[ "$why" = failed ] && f=FAIL
	[ ${#fsd[@]} -gt 0 ] && [ "$why" != failed ] && f=$(bench_median "${fsd[@]}")
	[ -z "$why" ] && perf_profile rescan "$FSDCTL" scan -c "$WORK/scan.conf"
	bench_row "rescan, nothing changed vs find -printf" "$f" "$(bench_median "${walk[@]}")" time 1.5
	[ ${#cpu[@]} -gt 0 ] && bench_row "rescan CPU (user+sys) vs find -printf" \
		"$(bench_median "${cpu[@]}")" "$(bench_median "${walkcpu[@]}")" time -
	[ ${#rss[@]} -gt 0 ] &&
		bench_row "rescan: peak RSS" "$(bench_mib "$(bench_max "${rss[@]}")")" - info - MiB
}

# The audit bench needs a catalog and an app database of 1,000,000 rows
# each; bench/mkaudit.c makes them (and the config naming them).
bench_audit() {
	local rows=$(awk -v s="$BENCH_SCALE" 'BEGIN { printf "%d", 1000000 * s }')
	local dir=$BENCH_DIR/audit-$rows mk=$BUILD/bench/mkaudit why="" r
	local -a t=() rss=()
	if [ ! -x "$mk" ]; then
		why="no $mk"
	else
		why=$(fsd_ready audit)
	fi
	# The generator links the catalog code: a new binary may mean a new
	# catalog schema, so the data is made again.
	local stamp="$rows $(sha256sum "$mk" 2>/dev/null | cut -c1-16)"
	if [ -z "$why" ] && [ "$(cat "$dir/stamp" 2>/dev/null)" != "$stamp" ]; then
		rm -rf "$dir"
		bench_say "mkaudit: $rows rows into $dir"
		if bench_time "$mk" -n "$rows" "$dir"; then
			bench_row "generate audit data ($rows rows)" "$BENCH_T" - info
			echo "$stamp" >"$dir/stamp"
		else
			fail "mkaudit exited $BENCH_RC (see $BENCH_LOG)"
			why=failed
		fi
	fi
	note_command "fsd audit" "fsdctl audit --no-scan -c $dir/fsd.conf   ($rows catalog rows, $rows owner rows)"
	if [ -n "$why" ] && [ "$why" != failed ]; then
		note "audit: not measured: $why"
	fi
	for ((r = 1; r <= BENCH_RUNS && ${#why} == 0; r++)); do
		bench_say "audit round $r/$BENCH_RUNS"
		bench_time_rss "$FSDCTL" audit --no-scan -c "$dir/fsd.conf"
		if [ "$BENCH_RC" -gt 1 ]; then
			fail "fsdctl audit exited $BENCH_RC (see $BENCH_LOG)"
			why=failed
			break
		fi
		t+=("$BENCH_T") rss+=("$BENCH_RSS_KIB")
	done
	[ -z "$why" ] && perf_profile audit "$FSDCTL" audit --no-scan -c "$dir/fsd.conf"
	local ft=- fr=-
	[ "$why" = failed ] && ft=FAIL fr=FAIL
	if [ ${#t[@]} -gt 0 ] && [ "$why" != failed ]; then
		ft=$(bench_median "${t[@]}") fr=$(bench_mib "$(bench_max "${rss[@]}")")
	fi
	bench_row "audit, $rows x $rows rows: time" "$ft" - below 3
	bench_row "audit, $rows x $rows rows: peak RSS" "$fr" - below 100 MiB
}

# Benches of later issues live in their own scripts; each sources
# bench/lib.sh, records rows with bench_row, keeps its files under
# $BENCH_DIR, treats $BENCH_TREE as read-only, and exits non-zero only when
# something failed to run.
run_sub_bench() {
	local name=$1 script=$2 what=$3
	if [ ! -e "$script" ]; then
		bench_row "$what" - - info
		note "$name: not measured: no $script yet"
		return 0
	fi
	bench_say "running $script"
	BUILD=$BUILD BENCH_DIR=$BENCH_DIR BENCH_SCALE=$BENCH_SCALE BENCH_RUNS=$BENCH_RUNS \
		BENCH_TREE=$TREE BENCH_RESULTS=$BENCH_RESULTS BENCH_LOG=$BENCH_LOG \
		bash "$script" || {
		fail "$script exited $?"
		bench_row "$what" FAIL - info
	}
	note_command "$name" "bash $script"
}

print_summary() {
	local n
	echo
	echo "== fsd bench: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs," \
		"$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
		"$(uname -r), scale $BENCH_SCALE, median of $BENCH_RUNS =="
	echo "load average at start: $LOAD_START, at end: $(cut -d' ' -f1-3 /proc/loadavg)" \
		"(other work on the machine slows fsd's threads and the peers alike)"
	{
		printf 'bench\tfsd\tpeer\tratio\ttarget\tresult\n'
		cat "$BENCH_RESULTS"
	} | column -t -s $'\t'
	echo
	for n in PASS MISS FAIL SKIP INFO; do
		printf '%s %d  ' "$n" "$(awk -F'\t' -v n="$n" '$6 == n' "$BENCH_RESULTS" | wc -l)"
	done
	echo
	echo
	[ ${#notes[@]} -eq 0 ] || printf '%s\n' "${notes[@]}"
	echo "commands:"
	printf '  %s\n' "${commands[@]}"
	echo "log: $BENCH_LOG"
}

main() {
	case "${1:-}" in
	--clean) clean; exit 0 ;;
	-h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0"; exit 0 ;;
	"") ;;
	*) die "unknown argument '$1' (try --help)" ;;
	esac
	[ -x "$MKTREE" ] || die "no $MKTREE: run 'make bench' (or make BUILD=... $MKTREE)"
	mkdir -p "$BENCH_DIR" && touch "$MARK" || die "cannot use $BENCH_DIR"
	BENCH_RESULTS=$BENCH_DIR/results.tsv
	BENCH_LOG=$BENCH_DIR/bench.log
	: >"$BENCH_RESULTS"
	: >"$BENCH_LOG"
	export BENCH_RUNS
	LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
	make_tree
	write_scan_config
	selected scan && bench_scan
	selected rescan && bench_rescan
	selected audit && bench_audit
	selected reap && run_sub_bench reap bench/reap.sh "reap 100k files vs tmpreaper, find -delete"
	selected daemon && run_sub_bench daemon bench/daemon.sh "daemon latency, CPU, RSS"
	selected fuse && run_sub_bench fuse bench/fuse.sh "FUSE overlay vs bindfs"
	print_summary
	[ "$failed" -eq 0 ] || { echo "bench: $failed step(s) failed to run" >&2; exit 1; }
}

main "$@"
