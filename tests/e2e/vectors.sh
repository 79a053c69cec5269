#!/bin/bash
# End-to-end: orphaned vectors in the demo's Chroma store, through
# fsdctl audit. Dead collections, the orphan index directory and the rows
# of a gone segment are reported exactly; live and unexplained collections
# are not findings; the store is never written, also in WAL mode with a
# writer holding it open; a broken store fails the audit closed.
. "$(dirname "$0")/../lib/tap.sh"

D=$T/data
STORE=$D/vector_db/chroma.sqlite3
common=(--preset open-webui --data-dir "$D" --catalog "$T/catalog.db")

"$MKDEMO" "$D" --fixtures "$FIXTURES" --manifest "$T/manifest.tsv" >/dev/null
grep -E '^vector-' "$T/manifest.tsv" >"$T/expected.tsv"
check "demo has vector findings planted" test -s "$T/expected.tsv"
"$FSDCTL" scan "${common[@]}" >/dev/null 2>"$T/scan.err"
check_eq "scan (exit 0)" 0 $?

# vector_tsv JSON: the vector findings as manifest lines.
vector_tsv() {
	jq -r '.findings[] | select(.category | startswith("vector-")) | select(.category != "vector-unknown")
		| [.category, (.store // .root), (if .category == "vector-collection" then .collection
		   else (.vector_id // .id) end)] | @tsv' "$1" | LC_ALL=C sort
}
snapshot() {
	(cd "$D/vector_db" && find . -printf '%P %s %T@\n' | LC_ALL=C sort && md5sum chroma.sqlite3)
}

audit() {
	"$FSDCTL" audit --json "${common[@]}" >"$T/audit.json" 2>"$T/audit.err"
	echo $?
}

# --- exact findings, nothing written ------------------------------------------
snapshot >"$T/before"
check_eq "audit finds things" 1 "$(audit)"
vector_tsv "$T/audit.json" >"$T/actual.tsv"
check_eq "vector findings equal what was planted" "$(cat "$T/expected.tsv")" "$(cat "$T/actual.tsv")"
alice=$(sqlite3 "$D/webui.db" "SELECT id FROM user WHERE name = 'alice'")
check_nogrep "a living user's memories are no finding" "user-memory-$alice" "$T/actual.tsv"
check_grep "unexplained collections are listed as unknown" 'knowledge-bases' \
	<(jq -r '.findings[] | select(.category == "vector-unknown") | .collection' "$T/audit.json")
check_eq "store and index directories untouched (no -wal, no -shm)" "$(cat "$T/before")" "$(snapshot)"

# --- WAL, with a writer holding the store open mid-transaction --------------------
sqlite3 "$STORE" 'PRAGMA journal_mode=WAL' >/dev/null
coproc WRITER { sqlite3 "$STORE" 2>&1; }
# bash unsets WRITER_PID once it reaps the coprocess: keep a copy.
writer_pid=$WRITER_PID
at_exit "kill $writer_pid"
printf '%s\n' "BEGIN IMMEDIATE;" \
	"INSERT INTO collections (id, name, database_id) VALUES ('c-uncommitted', 'file-uncommitted', '00000000-0000-0000-0000-000000000000');" \
	".print ready" >&"${WRITER[1]}"
read -r -t 10 line <&"${WRITER[0]}"
check_eq "writer holds an open write transaction" "ready" "$line"
check_eq "audit reads alongside the writer" 1 "$(audit)"
check_eq "same vector findings, none uncommitted" "$(cat "$T/expected.tsv")" "$(vector_tsv "$T/audit.json")"
printf '%s\n' "ROLLBACK;" ".quit" >&"${WRITER[1]}"
wait "$writer_pid" 2>/dev/null

# --- what the audit sees follows the store ------------------------------------------
dir=$(awk -F'\t' '$1 == "vector-dir" { print $3 }' "$T/expected.tsv")
rm -rf "${D:?}/vector_db/$dir"
audit >/dev/null
check_nogrep "a removed orphan directory is no longer reported" "$dir" <(vector_tsv "$T/audit.json")

# --- fail closed -------------------------------------------------------------------------
cp "$STORE" "$T/store.bak"
printf 'this is not a sqlite database at all, not one bit of it....' |
	dd of="$STORE" bs=1 seek=0 conv=notrunc status=none
check_eq "a corrupt store is an error" 2 "$(audit)"
check_eq "and no collection is reported dead" "" "$(vector_tsv "$T/audit.json" 2>/dev/null)"
check_grep "the error names the store" 'chroma' "$T/audit.err"
cp "$T/store.bak" "$STORE"
rm -f "$STORE-wal" "$STORE-shm"
sqlite3 "$D/webui.db" 'ALTER TABLE user RENAME TO user_gone' 2>/dev/null
check_eq "a failing liveness query is an error" 2 "$(audit)"
check_nogrep "and no user-memory collection is reported dead" 'user-memory-' <(vector_tsv "$T/audit.json" 2>/dev/null)

done_testing
