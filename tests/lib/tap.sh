# Shell test harness for tests/e2e/*.sh: TAP lines that tests/run.sh
# counts, a scratch directory removed on every exit path, and paths to the
# built programs. Source it first:  . "$(dirname "$0")/../lib/tap.sh"
set -u
FSD_TOP=${FSD_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$FSD_TOP/$BUILD ;; esac
FSDCTL=$BUILD/fsdctl
FSD=$BUILD/fsd
MKDEMO=$BUILD/fsd-mkdemo
FIXTURES=$FSD_TOP/tests/fixtures

_tap_n=0
_tap_failed=0
_tap_cleanups=()

T=$(mktemp -d "${TMPDIR:-/tmp}/fsd-test.XXXXXX")
export XDG_STATE_HOME=$T/state

# Registers a command to run at exit (LIFO), e.g. an unmount or a server stop.
at_exit() { _tap_cleanups=("$*" "${_tap_cleanups[@]}"); }
_tap_exit() {
	local c
	for c in "${_tap_cleanups[@]}"; do eval "$c" >/dev/null 2>&1 || true; done
	rm -rf "$T"
}
trap _tap_exit EXIT
trap 'exit 130' INT TERM

ok() {
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n - $*"
}
not_ok() {
	_tap_n=$((_tap_n + 1))
	_tap_failed=$((_tap_failed + 1))
	echo "not ok $_tap_n - $*"
}
diag() { printf '# %s\n' "$@"; }

# check NAME CMD...: passes when CMD exits 0.
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}
# check_eq NAME EXPECTED ACTUAL
check_eq() {
	if [ "$2" == "$3" ]; then
		ok "$1"
	else
		not_ok "$1"
		diag "expected: $2" "actual:   $3"
	fi
}
# check_exit NAME CODE CMD...: passes when CMD exits with CODE.
check_exit() {
	local name=$1 want=$2
	shift 2
	"$@"
	local rc=$?
	check_eq "$name (exit $want)" "$want" "$rc"
}
# check_grep NAME PATTERN FILE: extended regex must match a line.
check_grep() {
	if grep -qE -- "$2" "$3"; then
		ok "$1"
	else
		not_ok "$1"
		diag "no line matches /$2/ in $3:"
		sed -n '1,30p' "$3" | sed 's/^/#   /'
	fi
}
check_nogrep() {
	if ! grep -qE -- "$2" "$3"; then
		ok "$1"
	else
		not_ok "$1"
		diag "a line matches /$2/ in $3:"
		grep -E -- "$2" "$3" | head -5 | sed 's/^/#   /'
	fi
}
done_testing() {
	echo "1..$_tap_n"
	[ "$_tap_failed" -eq 0 ]
}
