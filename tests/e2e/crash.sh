#!/bin/bash
# Crash safety: the applying process is killed (SIGKILL, through
# failpoints) at every step of every batch, and also made to fail there;
# then a second run settles the journal and finishes the work. After every
# iteration: no referenced file is missing, every removed file is in
# quarantine exactly once with its content, the rows removed are exactly
# those of the removed files, no journal action is left unfinished or done
# twice, and a rescan and audit agree with the disk and the app database.
. "$(dirname "$0")/../lib/tap.sh"

NOW=1795435200
N=24 # files of each kind: live, expirable (row nobody holds), orphan (no row)
TPL=$T/tpl
SCHEMA=$FIXTURES/open-webui/schema-sqlite.sql

id_of() { printf '%08x-%s-4000-8000-%012x' "$2" "$1" "$2"; }

mkdir -p "$TPL/uploads" "$TPL/cache"
{
	echo "PRAGMA journal_mode=WAL;"
	cat "$SCHEMA"
	echo "BEGIN;"
	for i in $(seq 1 $N); do
		for kind in 1111 2222; do
			id=$(id_of $kind "$i")
			echo "INSERT INTO file(id, user_id, filename, meta, created_at, path) VALUES('$id', 'u1', 'f$i.txt', '{\"size\":$i}', $((NOW - 40 * 86400)), '/app/backend/data/uploads/${id}_f$i.txt');"
		done
		id=$(id_of 1111 "$i")
		echo "INSERT INTO chat(id, user_id, title, created_at, updated_at, chat) VALUES('chat$i', 'u1', 't', $NOW, $NOW, '{}');"
		echo "INSERT INTO chat_file VALUES('cf$i', 'u1', 'chat$i', '$id', NULL, $NOW, $NOW);"
	done
	echo "COMMIT;"
} | sqlite3 "$TPL/webui.db" >/dev/null
for i in $(seq 1 $N); do
	for kind in 1111 2222 3333; do
		id=$(id_of $kind "$i")
		echo "$id content $i" >"$TPL/uploads/${id}_f$i.txt"
	done
done
touch -d "@$((NOW - 5 * 86400))" "$TPL/uploads/"*
live_ids=$(for i in $(seq 1 $N); do id_of 1111 "$i"; echo; done | LC_ALL=C sort)


# Hundreds of runs each fsync the journal several times: on tmpfs when there
# is one, so that the test measures the logic and not the disk.
S=$T
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	S=$(mktemp -d /dev/shm/fsd-crash.XXXXXX)
	at_exit rm -rf "$S"
fi
W=$S/w
CAT=$S/cat.db
A=(--preset open-webui --data-dir "$W" --catalog "$CAT")
REAP=(reap "${A[@]}" --now "$NOW" --apply --force --expire-rows 7d --batch 4)

live_names=$(cd "$TPL/uploads" && ls | grep -- -1111- | LC_ALL=C sort)
gone_names=$(cd "$TPL/uploads" && ls | grep -v -- -1111- | LC_ALL=C sort)
live_sums=$(cd "$TPL/uploads" && md5sum $live_names)
gone_sums=$(cd "$TPL/uploads" && md5sum $gone_names)

# Everything an iteration must find true; prints what is wrong, if anything.
verify() {
	local errs=() q
	[ "$(cd "$W/uploads" && md5sum $live_names 2>/dev/null)" == "$live_sums" ] ||
		errs+=("a live file is missing or changed")
	[ "$(cd "$W/uploads" && find . -maxdepth 1 -type f -printf '%f\n' | LC_ALL=C sort)" == "$live_names" ] ||
		errs+=("uploads holds more than the live files")
	q=$(cd "$W/uploads" && find .fsd-quarantine -type f -exec md5sum {} + 2>/dev/null | sed 's|  .*/|  |' | LC_ALL=C sort -k2)
	[ "$q" == "$gone_sums" ] || errs+=("quarantine does not hold each removed file exactly once, intact")
	[ "$(sqlite3 "$W/webui.db" 'SELECT id FROM file ORDER BY id; SELECT count(*) FROM chat_file')" == "$live_ids
$N" ] || errs+=("app rows are not exactly the live ones")
	local want="0|$((2 * N))|0|0"
	local got
	got=$(sqlite3 "$CAT.reaper" "SELECT (SELECT count(*) FROM actions WHERE state IN (0, 1)),
		(SELECT count(*) FROM actions WHERE state = 2 AND kind LIKE 'remove-file%'),
		(SELECT count(*) FROM (SELECT path FROM actions WHERE state = 2 GROUP BY path HAVING count(*) > 1)),
		(SELECT count(*) FROM actions a WHERE state = 2 AND kind = 'remove-file-rows' AND NOT EXISTS (SELECT 1 FROM saved_rows s WHERE s.action_id = a.id))")
	[ "$got" == "$want" ] || errs+=("journal (unfinished|done|twice|unsaved) is $got, not $want")
	[ ${#errs[@]} -eq 0 ] || printf '%s; ' "${errs[@]}"
}

iterate() { # FAILPOINT-SPEC [recovery-kill]
	rm -rf "$W" "$CAT" "$CAT".*
	cp -a "$TPL" "$W"
	local rc1
	rc1=$( (FSD_FAILPOINTS="$1" "$FSDCTL" "${REAP[@]}" >/dev/null 2>&1; echo $?) 2>/dev/null)
	if [ -n "${2:-}" ]; then
		local rc
		rc=$( (FSD_FAILPOINTS="$2" "$FSDCTL" "${REAP[@]}" >/dev/null 2>&1; echo $?) 2>/dev/null)
		[ "$rc" == 137 ] && kills=$((kills + 1))
	fi
	"$FSDCTL" "${REAP[@]}" >"$T/last.out" 2>&1
	local rc2=$?
	local bad
	bad=$(verify)
	[ "$rc2" == 0 ] || bad+="final run exit $rc2; "
	if [ -z "$bad" ]; then
		ok "$1${2:+ then $2} (first run exit $rc1)"
	else
		not_ok "$1${2:+ then $2}: $bad"
		sed 's/^/#   /' "$T/last.out" | head -5
	fi
	[ "$rc1" == 137 ] && kills=$((kills + 1))
}

kills=0
iterate "" # no fault: the reference outcome
per_batch="reap-after-journal reap-after-moved reap-after-commit"
per_file="reap-action reap-before-move reap-before-rename reap-after-move"
for fp in $per_batch; do
	for n in $(seq 1 $(((2 * N + 3) / 4))); do iterate "$fp=kill@$n"; done
done
for fp in $per_file; do
	for n in $(seq 1 $((2 * N))); do iterate "$fp=kill@$n"; done
done
# Faults that return an error instead of killing: the run goes on or stops
# cleanly, and the next one finishes.
for fp in reap-after-journal reap-before-rename reap-after-move reap-after-moved; do
	for n in 1 2 5; do iterate "$fp=error:EIO@$n"; done
done
# A kill, then another kill while the next run settles the journal.
for n in 1 3 5 7; do
	iterate "reap-after-moved=kill@$((n % 5 + 1))" "reap-recover=kill@1"
	iterate "reap-after-move=kill@$n" "reap-recover=kill@1"
done

check "hundreds of kills" test "$kills" -ge 200
diag "kills: $kills"

# After all that, the last state also passes a rescan and an audit.
"$FSDCTL" audit "${A[@]}" --now "$NOW" --json >"$T/audit.json" 2>/dev/null
jqt() { jq -e "$@" >/dev/null; }
check "audit: no dangling or unreferenced rows" \
	jqt '[.findings[] | select(.category == "dangling" or .category == "unreferenced")] | length == 0' "$T/audit.json"
check "audit: no orphan outside the quarantine" \
	jqt '[.findings[] | select(.category == "orphan") | select((.path | startswith(".fsd-quarantine/")) | not)] | length == 0' "$T/audit.json"
done_testing
