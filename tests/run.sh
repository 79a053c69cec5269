#!/bin/bash
# Runs the whole suite: every unit test binary (cmocka, TAP output) and
# every end-to-end script in tests/e2e/ (TAP output from tests/lib/tap.sh).
# Prints one summary line per file and, last, "N passed, N failed".
# TESTS="name ..." limits the run to files whose name contains one of them.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
export FSD_TOP=$PWD
logdir=$BUILD/test-logs
mkdir -p "$logdir"

passed=0
failed=0
failed_files=()

selected() {
	[ -z "${TESTS:-}" ] && return 0
	local t
	for t in $TESTS; do
		case "$1" in *"$t"*) return 0 ;; esac
	done
	return 1
}

run_one() {
	local name=$1
	shift
	local log=$logdir/$name.log
	local start=$SECONDS
	CMOCKA_MESSAGE_OUTPUT=TAP "$@" >"$log" 2>&1
	local rc=$?
	local p f
	p=$(grep -cE '^ok [0-9]+' "$log")
	f=$(grep -cE '^not ok [0-9]+' "$log")
	# A crash or a non-zero exit without a failing test line still fails.
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "not ok - $name exited with status $rc" >>"$log"
	fi
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "not ok - $name ran no test" >>"$log"
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	printf '%-28s %4d passed %3d failed  %3ds\n' "$name" "$p" "$f" $((SECONDS - start))
	if [ "$f" -ne 0 ]; then
		failed_files+=("$name")
		grep -E '^not ok|^# ' "$log" | grep -vE '^# (ok|PASS)' | head -40 | sed 's/^/    /'
	fi
}

for t in "$BUILD"/tests/test-*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	selected "$name" || continue
	run_one "$name" "$t"
done

for t in tests/e2e/*.sh; do
	[ -f "$t" ] || continue
	name=$(basename "$t" .sh)
	selected "$name" || continue
	run_one "$name" bash "$t"
done

if [ ${#failed_files[@]} -gt 0 ]; then
	echo "failing: ${failed_files[*]} (logs in $logdir/)"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
