#!/bin/bash
# End-to-end: fsdctl audit on real trees and real SQLite app databases.
# 1. The demo (fsd-mkdemo) with the open-webui preset: the JSON findings
#    equal the generator's manifest of what it planted, every category.
# 2. A hand-built Open WebUI data directory with an explicit config file:
#    the exact text report (names with spaces, a newline, invalid UTF-8),
#    the JSON encoding of such names, exit codes 0/1/2, a missing and a
#    locked app database failing closed, and the app database never
#    written (checksums and directory listings before and after).
. "$(dirname "$0")/../lib/tap.sh"

NOW=1795435200 # 2026-11-23T12:00:00Z
SCHEMA=$FIXTURES/open-webui/schema-sqlite.sql

# JSON report -> manifest lines "category<TAB>root<TAB>item" (items escaped
# as fsdctl prints names), sorted bytewise; unknown collections left out.
to_manifest() {
	jq -r '.findings[] | select(.category != "vector-unknown") |
	  [.category, (.root // .store),
	   (if .category == "dangling" or .category == "unreferenced" then (.key | @base64)
	    elif .category == "vector-collection" then (.collection | @base64)
	    elif (.category | startswith("vector-")) then (.id | @base64)
	    else (.path_base64 // (.path | @base64)) end)] | @tsv' "$1" |
		while IFS=$'\t' read -r c r b; do
			printf '%s\t%s\t%s\n' "$c" "$r" "$(printf '%s' "$b" | base64 -d | "$MKDEMO" --escape)"
		done | LC_ALL=C sort
}

jqt() { jq -e "$@" >/dev/null; }

# run_to OUT ERR CMD...: runs CMD with its output in files, returns its status
# (a redirection on check_exit would capture the TAP line too).
run_to() {
	local out=$1 err=$2
	shift 2
	"$@" >"$out" 2>"$err"
}

# ---- 1. the demo, with the preset ------------------------------------------------
D=$T/demo
mkdir -p "$D"
demo=(--preset open-webui --data-dir "$D/data" --catalog "$T/demo.db")
"$MKDEMO" "$D/data" --now "$NOW" --fixtures "$FIXTURES" --manifest "$D/expected.tsv" >/dev/null
check "the generator planted findings" test -s "$D/expected.tsv"
webui_sum=$(md5sum <"$D/data/webui.db")

check_exit "first audit scans and finds" 1 run_to "$D/first.json" "$D/first.err" "$FSDCTL" audit "${demo[@]}" --now "$NOW" --json
check "the JSON parses" jqt '.version == 1 and .complete == true' "$D/first.json"
"$MKDEMO" "$D/data" --bit-rot >/dev/null
"$FSDCTL" verify "${demo[@]}" >/dev/null 2>&1
check_exit "audit after bit rot" 1 run_to "$D/audit.json" "$D/audit.err" "$FSDCTL" audit "${demo[@]}" --now "$NOW" --json
to_manifest "$D/audit.json" >"$D/actual.tsv"
for c in orphan pending unowned-referenced dangling unreferenced changed duplicate \
	vector-collection vector-dir vector-rows; do
	check_eq "demo: $c findings equal the manifest" \
		"$(grep -P "^$c\t" "$D/expected.tsv")" "$(grep -P "^$c\t" "$D/actual.tsv")"
done
check_eq "demo: no finding beyond the manifest" "" \
	"$(LC_ALL=C comm -13 "$D/expected.tsv" "$D/actual.tsv")"
check_eq "demo: totals count the findings" \
	"$(jq '[.findings[] | select(.category != "pending" and .category != "vector-unknown")] | length' "$D/audit.json")" \
	"$(jq '.totals.findings' "$D/audit.json")"
check_eq "demo: webui.db unchanged by the audits" "$webui_sum" "$(md5sum <"$D/data/webui.db")"
check_eq "demo: audits recorded as runs" "audit|findings" \
	"$(sqlite3 "$T/demo.db" "SELECT kind, outcome FROM runs WHERE kind = 'audit' ORDER BY id DESC LIMIT 1")"

# ---- 2. a hand-built data directory and an explicit config ---------------------------
W=$T/webui
mkdir -p "$W/uploads/keep"
U1=11111111-0000-4000-8000-000000000001
U2=22222222-0000-4000-8000-000000000002
U3=33333333-0000-4000-8000-000000000003
U4=44444444-0000-4000-8000-000000000004
U5=55555555-0000-4000-8000-000000000005
U6=66666666-0000-4000-8000-000000000006
U7=77777777-0000-4000-8000-000000000007
U8=88888888-0000-4000-8000-000000000008
U9=99999999-0000-4000-8000-000000000009
UA=aaaaaaaa-0000-4000-8000-00000000000a
APP=/app/backend/data/uploads

sqlite3 "$W/webui.db" <"$SCHEMA"
sqlite3 "$W/webui.db" <<EOF
INSERT INTO file (id, filename, path, created_at) VALUES
 ('$U1', 'live.pdf',  '$APP/${U1}_live.pdf',  $((NOW - 86400 * 10))),
 ('$U2', 'json.txt',  '$APP/${U2}_json.txt',  $((NOW - 86400 * 9))),
 ('$U3', 'unref.pdf', '$APP/${U3}_unref.pdf', $((NOW - 86400 * 8))),
 ('$U4', 'lost.pdf',  '$APP/${U4}_lost.pdf',  $((NOW - 86400 * 7))),
 ('$UA', 'copy.pdf',  '$APP/${UA}_copy.pdf',  $((NOW - 86400 * 6)));
INSERT INTO chat_file (id, user_id, chat_id, file_id, created_at, updated_at) VALUES
 ('cf1', 'u', 'c1', '$U1', 0, 0), ('cf2', 'u', 'c1', '$UA', 0, 0);
INSERT INTO knowledge_file (id, user_id, knowledge_id, file_id, created_at, updated_at) VALUES
 ('kf1', 'u', 'k1', '$U4', 0, 0);
INSERT INTO chat (id, user_id, title, chat, meta) VALUES
 ('c1', 'u', 't', '{"messages":[{"content":"see /api/v1/files/${U2^^}/content"}]}', '{}');
EOF

mk() { # mk PATH CONTENT AGE_SECONDS
	printf '%s' "$2" >"$W/uploads/$1"
	touch -d "@$((NOW - $3))" "$W/uploads/$1"
}
mk "${U1}_live.pdf" "same bytes" 172800
mk "${UA}_copy.pdf" "same bytes" 172800
mk "${U2}_json.txt" "json" 172800
mk "${U3}_unref.pdf" "unref" 172800
mk "${U5}_orphan with spaces.pdf" "five" 259200
mk "${U6}_new"$'\n'"line.txt" "six" 345600
mk "${U7}_bad"$'\xff'".bin" "seven" 432000
mk "${U8}_young.txt" "eight" 3600
mk "keep/${U9}_protected.pdf" "nine" 864000
mk "notes.txt" "no key" 864000

cat >"$T/fsd.conf" <<EOF
[catalog]
path = $T/catalog.db

[defaults]
grace = 24h

[paths]
map = /app/backend/data => $W

[source webui]
url = sqlite://$W/webui.db
owners = SELECT id, path, created_at FROM file
live = SELECT file_id FROM chat_file
live = SELECT file_id FROM knowledge_file
live-text = SELECT chat FROM chat
busy-timeout = 300ms

[root uploads]
path = $W/uploads
class = upload
key = regex
key-regex = ^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})([_.]|\$)
source = webui
protect = keep/**
EOF
cfg=(--config "$T/fsd.conf")
listing() { (cd "$W" && find . -printf '%p %s %T@\n' | LC_ALL=C sort && md5sum webui.db); }

check_exit "text audit finds things" 1 run_to "$T/out.txt" "$T/err.txt" "$FSDCTL" audit "${cfg[@]}" \
	--now "$NOW"
cat >"$T/want.txt" <<EOF
Orphan files: on disk, owned by no row, older than the grace period
  3 found, 12 B
  ROOT           SIZE  AGE       PATH
  uploads         4 B  3d 0h     ${U5}_orphan with spaces.pdf
  uploads         3 B  4d 0h     ${U6}_new\\x0aline.txt
  uploads         5 B  5d 0h     ${U7}_bad\\xff.bin

Pending files: owned by no row yet, younger than the grace period (not findings)
  1 found, 5 B
  ROOT           SIZE  AGE       PATH
  uploads         5 B  1h 0m     ${U8}_young.txt

Dangling rows: the row's file is not on disk
  1 found, 0 B
  SOURCE  KEY                                   AGE       PATH
  webui   ${U4}  7d 0h     uploads:${U4}_lost.pdf  (no file at its recorded path)

Unreferenced rows: owner rows that no live reference holds
  1 found, 5 B
  SOURCE  KEY                                   AGE             SIZE  PATH
  webui   ${U3}  8d 0h            5 B  uploads:${U3}_unref.pdf

Duplicates: same content, different paths (the first of a group is kept)
  2 files in 1 group, 10 B reclaimable
  GROUP  ROOT           SIZE  PATH
      1  uploads        10 B  ${U1}_live.pdf
      1  uploads        10 B  ${UA}_copy.pdf

Totals
  CATEGORY                COUNT       BYTES
  orphan                      3        12 B
  pending                     1         5 B
  unowned-referenced          0         0 B
  dangling                    1         0 B
  unreferenced                1         5 B
  changed                     0         0 B
  duplicate                   2        10 B
  vector-collection           0         0 B
  vector-dir                  0         0 B
  vector-rows                 0         0 B
  vector-unknown              0         0 B
  findings                    7
EOF
check "the text report is exactly as expected" diff -u "$T/want.txt" "$T/out.txt"
check_eq "no message on stderr" "" "$(cat "$T/err.txt")"

check_exit "JSON audit" 1 run_to "$T/out.json" "$T/out.err" "$FSDCTL" audit "${cfg[@]}" --now "$NOW" --json
check "JSON parses and is complete" jqt '.complete == true and (.errors | length) == 0' "$T/out.json"
check_eq "JSON: orphans, names exact as bytes" \
	"$(printf '%s\n' "${U5}_orphan with spaces.pdf" "${U6}_new\\x0aline.txt" "${U7}_bad\\xff.bin")" \
	"$(jq -r '.findings[] | select(.category == "orphan") | (.path_base64 // (.path | @base64))' "$T/out.json" |
		while read -r b; do printf '%s' "$b" | base64 -d | "$MKDEMO" --escape; done)"
check_eq "JSON: path_base64 only for the name that is not UTF-8" "orphan ${U7}_bad\\xff.bin" \
	"$(jq -r '.findings[] | select(.path_base64) | "\(.category) \(.path_base64)"' "$T/out.json" |
		while read -r c b; do printf '%s %s' "$c" "$(printf '%s' "$b" | base64 -d | "$MKDEMO" --escape)"; done)"
check_eq "JSON: the newline is a JSON escape" 1 \
	"$(grep -c "\"path\":\"${U6}_new\\\\nline.txt\"" "$T/out.json")"
check_eq "JSON: dangling row with its app path and created time" \
	"uploads $U4 $APP/${U4}_lost.pdf $((NOW - 86400 * 7))" \
	"$(jq -r '.findings[] | select(.category == "dangling") | "\(.root) \(.key) \(.app_path) \(.created)"' "$T/out.json")"
check_eq "JSON: unreferenced row with its file's size" "$U3 5" \
	"$(jq -r '.findings[] | select(.category == "unreferenced") | "\(.key) \(.size)"' "$T/out.json")"
check_eq "JSON: duplicate group" "1/2/0 1/2/1" \
	"$(jq -r '[.findings[] | select(.category == "duplicate") | "\(.group)/\(.group_size)/\(.group_index)"] | join(" ")' "$T/out.json")"
check_eq "JSON: totals" '{"count":3,"bytes":12} 7 1' \
	"$(jq -c '.totals.orphan' "$T/out.json") $(jq '.totals.findings' "$T/out.json") $(jq '.totals.duplicate_groups' "$T/out.json")"

check_exit "--category selects" 0 run_to "$T/sel.txt" /dev/null "$FSDCTL" audit "${cfg[@]}" \
	--now "$NOW" --no-scan --category changed,vector
check_nogrep "--category: no other section" 'Orphan|Dangling' "$T/sel.txt"
check_exit "pending alone is no finding" 0 run_to /dev/null /dev/null "$FSDCTL" audit "${cfg[@]}" \
	--now "$NOW" --no-scan --category pending
check_exit "a day later the young file is an orphan" 1 run_to "$T/later.json" /dev/null \
	"$FSDCTL" audit "${cfg[@]}" --no-scan --now $((NOW + 86400)) --category orphan --json
check_eq "  four orphans then" 4 "$(jq '.totals.orphan.count' "$T/later.json")"
check_exit "a bad category is an error" 2 run_to /dev/null "$T/bad.err" "$FSDCTL" audit "${cfg[@]}" \
	--category nope
check_grep "  saying which" "Unknown category 'nope'" "$T/bad.err"
check_exit "a bad --now is an error" 2 run_to /dev/null /dev/null "$FSDCTL" audit "${cfg[@]}" \
	--now yesterday

# ---- fail closed ------------------------------------------------------------------------
mv "$W/webui.db" "$W/webui.db.away"
check_exit "missing app database" 2 run_to "$T/missing.json" "$T/missing.err" "$FSDCTL" audit "${cfg[@]}" --now "$NOW" --json
mv "$W/webui.db.away" "$W/webui.db"
check_grep "  the message names the source and the file" \
	"source 'webui': database '$W/webui.db': no such file" "$T/missing.err"
check "  JSON says incomplete, with the error" \
	jqt '.complete == false and .errors[0].error == "ENOENT"' "$T/missing.json"
check_eq "  nothing that depends on the source is reported" "" \
	"$(jq -r '.findings[] | select(.category | test("orphan|pending|dangling|unreferenced")) | .category' "$T/missing.json")"
check_eq "  the catalog's own findings still are" 2 \
	"$(jq '.totals.duplicate.count' "$T/missing.json")"
check_eq "  the run is recorded as failed, with the reason" \
	"failed|source 'webui': database '$W/webui.db': no such file" \
	"$(sqlite3 "$T/catalog.db" "SELECT outcome, error FROM runs WHERE kind = 'audit' ORDER BY id DESC LIMIT 1")"

coproc LOCKER { sqlite3 "$W/webui.db" 2>&1; }
locker=$LOCKER_PID
at_exit "kill $locker"
printf '%s\n' "BEGIN EXCLUSIVE;" "SELECT count(*) FROM file;" ".print locked" >&"${LOCKER[1]}"
read -r -t 10 line <&"${LOCKER[0]}"
read -r -t 10 line <&"${LOCKER[0]}"
check_eq "another process holds an exclusive lock" "locked" "$line"
check_exit "locked app database" 2 run_to "$T/locked.txt" "$T/locked.err" "$FSDCTL" audit "${cfg[@]}" --now "$NOW" --no-scan
check_grep "  the message says it is locked" "source 'webui'.*locked \(still busy after 300 ms\)" \
	"$T/locked.err"
check_nogrep "  no orphan reported" "Orphan files" "$T/locked.txt"
check_grep "  the report says it is incomplete" "The audit is incomplete" "$T/locked.txt"
printf '%s\n' "COMMIT;" ".quit" >&"${LOCKER[1]}"
wait "$locker" 2>/dev/null

sqlite3 "$W/webui.db" 'ALTER TABLE file RENAME TO file_old'
check_exit "an owners query that fails" 2 run_to /dev/null "$T/sql.err" "$FSDCTL" audit "${cfg[@]}" \
	--now "$NOW" --no-scan
sqlite3 "$W/webui.db" 'ALTER TABLE file_old RENAME TO file'
check_grep "  names the source, the query and SQLite's words" \
	"source 'webui': owners query: no such table: file" "$T/sql.err"

# ---- the app database is never written -------------------------------------------------
listing >"$T/before" # (the ALTERs above changed it: a new baseline)
"$FSDCTL" audit "${cfg[@]}" --now "$NOW" >/dev/null 2>&1
"$FSDCTL" audit "${cfg[@]}" --now "$NOW" --json >/dev/null 2>&1
listing >"$T/after"
check "app data directory and webui.db unchanged by audits" diff -u "$T/before" "$T/after"

# ---- WAL on a read-only mount ----------------------------------------------------------
# fsd may get a read-only view of the application's volume. A WAL database
# is then readable only while its -shm exists (the application holds it).
V=$T/walsrc
mkdir -p "$V" "$T/walro"
if [ "$(id -u)" -eq 0 ] && mount --bind "$V" "$T/walro" 2>/dev/null; then
	at_exit "umount -l $T/walro"
	mount -o remount,bind,ro "$T/walro"
	sqlite3 "$V/webui.db" "PRAGMA journal_mode=WAL; CREATE TABLE file (id TEXT PRIMARY KEY, path TEXT);
		INSERT INTO file VALUES ('$U1', '$APP/x');" >/dev/null
	printf '[source ro]\nurl = sqlite://%s\nowners = SELECT id, path FROM file\n' \
		"$T/walro/webui.db" >"$T/ro.conf"
	check_exit "WAL, read-only mount, no -shm: an error" 2 \
		"$BUILD/tests/refs-probe" "$T/ro.conf" ro owners 2>"$T/walro.err"
	check_grep "  that says why and what to do" "is in WAL mode and has no -shm file" "$T/walro.err"
	coproc HOLDER { sqlite3 "$V/webui.db" 2>&1; }
	holder=$HOLDER_PID
	at_exit "kill $holder"
	printf '%s\n' "INSERT INTO file VALUES ('$U2', '$APP/y');" "BEGIN;" \
		"INSERT INTO file VALUES ('$U3', '$APP/z');" ".print ready" >&"${HOLDER[1]}"
	read -r -t 10 line <&"${HOLDER[0]}"
	check_eq "  the application holds it open, mid-transaction" "ready" "$line"
	check_eq "  then it reads, committed rows only" "$U1 $U2" \
		"$("$BUILD/tests/refs-probe" "$T/ro.conf" ro owners | cut -f1 | xargs)"
	printf '%s\n' "ROLLBACK;" ".quit" >&"${HOLDER[1]}"
	wait "$holder" 2>/dev/null
else
	ok "# SKIP WAL on a read-only mount: needs root and bind mounts"
fi

# ---- clean ------------------------------------------------------------------------------------
rm -f "$W/uploads/${U3}"_* "$W/uploads/${U5}"_* "$W/uploads/${U6}"_* "$W/uploads/${U7}"_* \
	"$W/uploads/${U8}"_* "$W/uploads/${UA}_copy.pdf"
sqlite3 "$W/webui.db" "DELETE FROM file WHERE id IN ('$U3', '$U4', '$UA')"
check_exit "a clean tree exits 0" 0 run_to "$T/clean.txt" /dev/null "$FSDCTL" audit "${cfg[@]}" \
	--now "$NOW"
check_grep "  and says so in the totals" '^  findings +0$' "$T/clean.txt"

done_testing
