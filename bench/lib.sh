# Timing and reporting helpers for fsd's benchmarks (bash; sourced by
# bench/run.sh and by every bench/*.sh it calls). A bench times each
# contender several times back to back, keeps the median wall time, and
# records one row per comparison with bench_row: fsd's time, the peer's,
# their ratio in the form the target is written in, and PASS or MISS.
# Rows go to $BENCH_RESULTS (tab-separated) so that run.sh can print one
# table at the end; they are echoed on stderr as they come too.
#
# Times are wall-clock seconds from $EPOCHREALTIME (microseconds); peak
# RSS and CPU come from /usr/bin/time when asked for.

BENCH_RESULTS=${BENCH_RESULTS:-/dev/null}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_LOG=${BENCH_LOG:-/dev/null}

# bench_say TEXT: a progress line on stderr.
bench_say() {
	printf '# %s\n' "$*" >&2
}

# bench_now: the wall clock in microseconds.
bench_now() {
	local t=${EPOCHREALTIME/[.,]/}
	echo "$((10#$t))"
}

# bench_secs USEC: microseconds as seconds with three decimals.
bench_secs() {
	printf '%d.%03d' $(($1 / 1000000)) $((($1 % 1000000) / 1000))
}

# bench_time CMD...: runs CMD once with its output in $BENCH_LOG and sets
# BENCH_T (seconds) and BENCH_RC. Returns CMD's status.
bench_time() {
	local t0 t1
	t0=$(bench_now)
	"$@" >>"$BENCH_LOG" 2>&1
	BENCH_RC=$?
	t1=$(bench_now)
	BENCH_T=$(bench_secs $((t1 - t0)))
	return "$BENCH_RC"
}

# bench_time_rss CMD...: like bench_time, and sets BENCH_RSS_KIB (peak RSS
# of the largest process, from /usr/bin/time) and BENCH_CPU (user+sys s).
bench_time_rss() {
	local tf t0 t1 e m u s
	tf=$(mktemp)
	t0=$(bench_now)
	/usr/bin/time -q -f '%e %M %U %S' -o "$tf" "$@" >>"$BENCH_LOG" 2>&1
	BENCH_RC=$?
	t1=$(bench_now)
	BENCH_T=$(bench_secs $((t1 - t0)))
	read -r e m u s <"$tf"
	rm -f "$tf"
	BENCH_RSS_KIB=${m:-0}
	BENCH_CPU=$(awk -v u="${u:-0}" -v s="${s:-0}" 'BEGIN { printf "%.2f", u + s }')
	return "$BENCH_RC"
}

# bench_median X...: the median of the numbers given.
bench_median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "-"; exit }
		if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# bench_max X...: the largest of the numbers given.
bench_max() {
	printf '%s\n' "$@" | sort -g | tail -n 1
}

# bench_row NAME FSD PEER FORM LIMIT [UNIT]: records one comparison.
# FORM says how the target is written:
#   faster  ratio = PEER/FSD, target ratio >= LIMIT  ("1.5x faster")
#   time    ratio = FSD/PEER, target ratio <= LIMIT  ("at most 1.5x the time")
#   below   no peer, target FSD < LIMIT (absolute, in UNIT, default s)
#   info    a figure with no target (PEER may be "-")
# LIMIT "-" with faster or time: the ratio is shown, there is no target.
# FSD or PEER "-" (not measured) gives SKIP; "FAIL" gives FAIL.
bench_row() {
	local name=$1 fsd=$2 peer=$3 form=$4 limit=${5:-} unit=${6:-s}
	local ratio=- target=- verdict
	case "$fsd $peer" in
	*FAIL*) verdict=FAIL ;;
	*) verdict=$(bench_verdict "$fsd" "$peer" "$form" "$limit") ;;
	esac
	case "$form" in
	faster)
		target=">=${limit}x faster"
		[ "$limit" = - ] && target=-
		bench_measured "$verdict" &&
			ratio=$(awk -v f="$fsd" -v p="$peer" 'BEGIN { if (f > 0) printf "%.2fx faster", p / f; else print "-" }')
		;;
	time)
		target="<=${limit}x time"
		[ "$limit" = - ] && target=-
		bench_measured "$verdict" &&
			ratio=$(awk -v f="$fsd" -v p="$peer" 'BEGIN { if (p > 0) printf "%.2fx time", f / p; else print "-" }')
		;;
	below) target="<${limit} ${unit}" ;;
	esac
	local fs=$fsd ps=$peer
	[[ $fs =~ ^[0-9.]+$ ]] && fs="$fsd $unit"
	[[ $ps =~ ^[0-9.]+$ ]] && ps="$peer $unit"
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$fs" "$ps" "$ratio" "$target" "$verdict" \
		>>"$BENCH_RESULTS"
	printf '# %-44s %12s %12s %16s %18s  %s\n' "$name" "$fs" "$ps" "$ratio" "$target" \
		"$verdict" >&2
}

bench_measured() {
	case "$1" in PASS | MISS | INFO) return 0 ;; *) return 1 ;; esac
}

bench_verdict() {
	local fsd=$1 peer=$2 form=$3 limit=$4
	[ "$fsd" = - ] && { echo SKIP; return; }
	case "$form" in
	info) echo INFO; return ;;
	faster | time) [ "$peer" = - ] && { echo SKIP; return; } ;;
	esac
	[ "$limit" = - ] && { echo INFO; return; }
	awk -v f="$fsd" -v p="$peer" -v l="$limit" -v form="$form" 'BEGIN {
		if (form == "faster") ok = f > 0 && p / f >= l
		else if (form == "time") ok = p > 0 && f / p <= l
		else ok = f < l
		print ok ? "PASS" : "MISS" }'
}

# bench_mib KIB: kibibytes as MiB with one decimal.
bench_mib() {
	awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'
}

# bench_has_command FSDCTL NAME: whether fsdctl lists subcommand NAME.
bench_has_command() {
	"$1" --help 2>/dev/null | awk -v n="$2" '$1 == n { found = 1 } END { exit !found }'
}
