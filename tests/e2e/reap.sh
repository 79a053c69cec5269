#!/bin/bash
# End-to-end: fsdctl reap on the demo data with the open-webui preset.
# Planning changes nothing; --apply removes exactly the plan (files to
# quarantine or unlinked, dead vectors), the app database keeps every row
# whose file was there, --expire-rows takes a row with its file, restore
# brings both back and refuses to overwrite a recreated file; the lock,
# the circuit breaker and fail-closed sources; log and quarantine listings.
. "$(dirname "$0")/../lib/tap.sh"

NOW=1795435200 # 2026-11-23T12:00:00Z
D=$T/data
CAT=$T/cat.db
A=(--preset open-webui --data-dir "$D" --catalog "$CAT")
"$MKDEMO" "$D" --now "$NOW" --fixtures "$FIXTURES" >/dev/null
echo canary >"$T/canary"
ln -s "$T/canary" "$D/uploads/aaaaaaaa-0000-0000-0000-000000000000_link"

jqt() { jq -e "$@" >/dev/null; }
# Counts the app database's opens. LeakSanitizer cannot run under ptrace
# and would end an ASan build's process early, so it sits this one out.
traced() {
	local trace=$1
	shift
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		strace -f -qq -e trace=openat -o "$trace" "$@"
}
run_to() {
	local out=$1 err=$2
	shift 2
	"$@" >"$out" 2>"$err"
}
# SQLite's -wal/-shm companions of a WAL database appear on any reader's open.
listing() { (cd "$D" && find . -path ./uploads/.fsd-quarantine -prune -o ! -name '*-wal' ! -name '*-shm' -print | LC_ALL=C sort | md5sum); }
rows() { sqlite3 "$D/webui.db" "$1"; }

# ---- the plan changes nothing ----
before_db=$(md5sum <"$D/webui.db")
before_vec=$(md5sum <"$D/vector_db/chroma.sqlite3")
before_tree=$(listing)
check_exit "plan: actions found" 1 run_to "$T/plan.json" "$T/plan.err" \
	traced "$T/plan.trace" "$FSDCTL" reap "${A[@]}" --now "$NOW" --json
check_eq "plan: one app-database connection" 1 "$(grep -c 'webui\.db", ' "$T/plan.trace")"
check_grep "plan: that connection is read-only" 'webui\.db", O_RDONLY' "$T/plan.trace"
check "plan: JSON parses" jqt '.plan.totals.actions == 16' "$T/plan.json"
check "plan: two unreferenced uploads" jqt '[.plan.actions[] | select(.rule=="unreferenced-uploads")] | length == 2' "$T/plan.json"
check "plan: audio caches unlinked, not quarantined" jqt '[.plan.actions[] | select(.rule=="audio-cache" and .quarantine==false)] | length == 8' "$T/plan.json"
check "plan: every action has a reason" jqt '[.plan.actions[] | select((.reason|length) < 10)] | length == 0' "$T/plan.json"
check "plan: the upload a chat still mentions is kept" jqt '[.plan.actions[] | select(.path? and (.path|test("forgotten")))] | length == 0' "$T/plan.json"
check "plan: the young upload is in grace" jqt '.plan.totals.within_grace == 1' "$T/plan.json"
check "plan: model caches never planned" jqt '[.plan.actions[] | select(.path? and (.path|test("models|tiktoken")))] | length == 0' "$T/plan.json"
check_eq "plan: app database untouched" "$before_db" "$(md5sum <"$D/webui.db")"
check_eq "plan: vector store untouched" "$before_vec" "$(md5sum <"$D/vector_db/chroma.sqlite3")"
check_eq "plan: tree untouched" "$before_tree" "$(listing)"
"$FSDCTL" reap "${A[@]}" --now "$NOW" >"$T/plan.txt" 2>&1
check_grep "plan: text names rule and reason" 'unreferenced-uploads .*removed-from-kb.pdf' "$T/plan.txt"
check_grep "plan: text says it is a dry run" '^Dry run' "$T/plan.txt"

# The plan removes from the uploads exactly what the audit calls orphans
# (names compared as bytes); the file a chat still names is neither.
uploads_of() { jq -r "$1 | select(.root == \"uploads\") | .path_base64 // (.path | @base64)" "$2" | LC_ALL=C sort; }
check_exit "audit before apply" 1 run_to "$T/audit0.json" "$T/audit0.err" "$FSDCTL" audit "${A[@]}" --now "$NOW" --json
check_eq "plan: removes from the uploads exactly the audit's orphans" \
	"$(uploads_of '.findings[] | select(.category == "orphan")' "$T/audit0.json")" \
	"$(uploads_of '.plan.actions[] | select(.kind == "remove-file" and .rule == "unreferenced-uploads")' "$T/plan.json")"
check "audit: two orphans in the uploads" test "$(uploads_of '.findings[] | select(.category == "orphan")' "$T/audit0.json" | wc -l)" -eq 2
check "audit: the upload a chat still mentions is unowned-referenced" \
	jqt '[.findings[] | select(.category == "unowned-referenced") | .path] == ["4ced4002-1a8a-4902-ad27-69ef38687a2b_forgotten.docx"]' "$T/audit0.json"

# ---- the lock: a second reaper is refused and told who holds it ----
exec 9>"$CAT.reaper.lock"
flock -n 9 && echo "pid 4242 on testhost since then" >&9
check_exit "lock: held elsewhere, refused" 2 run_to "$T/lock.out" "$T/lock.err" "$FSDCTL" reap "${A[@]}" --now "$NOW" --apply
check_grep "lock: says who holds it" 'Another reaper.*pid 4242' "$T/lock.err"
check_eq "lock: nothing changed" "$before_tree" "$(listing)"
exec 9>&-

# ---- apply ----
files_rows_before=$(rows "SELECT count(*) FROM file")
# Chroma open in another process (this shell holds it): vectors deferred.
exec 8<"$D/vector_db/chroma.sqlite3"
check_exit "apply with the vector store open: partial" 1 run_to "$T/apply.json" "$T/apply.err" "$FSDCTL" reap "${A[@]}" --now "$NOW" --apply --json
exec 8<&-
check "apply: files done, vector work deferred" jqt '.applied.files == 10 and .applied.failed == 0 and .applied.deferred == 6' "$T/apply.json"
check_eq "apply: the open store untouched" "$before_vec" "$(md5sum <"$D/vector_db/chroma.sqlite3")"
check "apply: the open store's orphan directory kept" test -d "$D/vector_db/690e9e0b-a914-43f9-9c0e-e09b7ba03c87"
check_exit "apply again with the store closed" 0 run_to "$T/apply-v.json" "$T/apply-v.err" "$FSDCTL" reap "${A[@]}" --now "$NOW" --apply --json
check "apply: the six vector actions done" jqt '.applied.actions == 6 and .applied.deferred == 0 and .applied.vectors > 0' "$T/apply-v.json"
R1=$(jq .applied.run "$T/apply.json")
check "apply: orphan in quarantine" test -f "$D/uploads/.fsd-quarantine/$R1/06bdf6c0-a1e2-4ca7-a9a3-3b134679e930_removed-from-kb.pdf"
check "apply: orphan gone from uploads" test ! -e "$D/uploads/06bdf6c0-a1e2-4ca7-a9a3-3b134679e930_removed-from-kb.pdf"
check "apply: odd name quarantined byte-exact" test -f "$D/uploads/.fsd-quarantine/$R1/43543ba7-9ec4-4c66-98d0-2aa31c277b9c_bad name"$'\n'"line two "$'\xff\xfe'".txt"
check_eq "apply: audio caches unlinked" "0" "$(find "$D/cache/audio" -type f -mtime +30 | wc -l)"
check "apply: model cache kept" test -n "$(find "$D/cache" -path '*models*' -type f | head -1)"
check_eq "apply: no file row removed" "$files_rows_before" "$(rows "SELECT count(*) FROM file")"
check_eq "apply: canary outside the roots intact" "canary" "$(cat "$T/canary")"
check "apply: symlink in the root left alone" test -L "$D/uploads/aaaaaaaa-0000-0000-0000-000000000000_link"
check_eq "apply: dead collections gone" "0" "$(sqlite3 "$D/vector_db/chroma.sqlite3" "SELECT count(*) FROM collections WHERE name LIKE 'file-4ced4002%' OR name LIKE 'user-memory-e610%'")"
check_eq "apply: live collections kept" "$(sqlite3 "$D/vector_db/chroma.sqlite3" "SELECT count(*) FROM collections WHERE name = 'knowledge-bases'")" "1"
check_eq "apply: FTS rows of dead embeddings gone, none orphaned" "0" \
	"$(sqlite3 "$D/vector_db/chroma.sqlite3" "SELECT count(*) FROM embedding_fulltext_search WHERE rowid NOT IN (SELECT id FROM embeddings)")"
check_eq "apply: orphan index directory removed" "" "$(ls -d "$D/vector_db/690e9e0b-a914-43f9-9c0e-e09b7ba03c87" 2>/dev/null)"

# Every file row that had its file still has it.
missing=0
while IFS= read -r p; do
	f="$D/uploads/${p##*/}"
	[ -e "$f" ] || missing=$((missing + 1))
done < <(rows "SELECT path FROM file")
check_eq "apply: only the two dangling rows lack a file" 2 "$missing"

check_exit "audit after apply: findings remain (dangling, duplicates)" 1 run_to "$T/audit.json" "$T/audit.err" "$FSDCTL" audit "${A[@]}" --now "$NOW" --json
check "audit after apply: no vector findings" jqt '[.findings[] | select(.category|startswith("vector-")) | select(.category != "vector-unknown")] | length == 0' "$T/audit.json"
check "audit after apply: no orphan outside quarantine" \
	jqt '[.findings[] | select(.category=="orphan") | select((.path|startswith(".fsd-quarantine/"))|not)] == []' "$T/audit.json"
check "audit after apply: the mentioned upload kept, unowned-referenced" \
	jqt '[.findings[] | select(.category=="unowned-referenced") | .path] == ["4ced4002-1a8a-4902-ad27-69ef38687a2b_forgotten.docx"]' "$T/audit.json"
check_exit "second plan: nothing left to do" 0 run_to "$T/plan2.json" "$T/plan2.err" "$FSDCTL" reap "${A[@]}" --now "$NOW" --json

# ---- expire-rows: a row nothing holds, with its file ----
K=82848553-997a-460c-a93b-b07e58a45000
row_k=$(rows "SELECT quote(id), quote(user_id), quote(filename), quote(meta), quote(created_at), quote(hash), quote(data), quote(updated_at), quote(path) FROM file WHERE id='$K'")
check_eq "expire: the row exists" 1 "$(rows "SELECT count(*) FROM file WHERE id='$K'")"
# The run holds one connection to the app database for everything: the
# plan's owners, live references and rows query, the re-checks, the saved
# rows and the deletes. strace counts the opens of the database file
# itself (its -wal/-shm/-journal companions are not connections).
check_exit "expire: applied" 0 run_to "$T/exp.json" "$T/exp.err" \
	traced "$T/exp.trace" "$FSDCTL" reap "${A[@]}" --now "$NOW" --expire-rows 7d --apply --json
check_eq "expire: one app-database connection for the whole run" 1 "$(grep -c 'webui\.db", ' "$T/exp.trace")"
check_grep "expire: that connection is read-write" 'webui\.db", O_RDWR' "$T/exp.trace"
check "expire: the three unreferenced rows with their files" jqt '.applied.files == 3 and .applied.rows >= 3' "$T/exp.json"
check_eq "expire: the row is gone" 0 "$(rows "SELECT count(*) FROM file WHERE id='$K'")"
R2=$(jq .applied.run "$T/exp.json")
check "expire: the file is in quarantine" test -f "$D/uploads/.fsd-quarantine/$R2/${K}_draft.txt"
check_eq "expire: other rows kept" $((files_rows_before - 3)) "$(rows "SELECT count(*) FROM file")"

# ---- quarantine list, log ----
"$FSDCTL" quarantine "${A[@]}" list --json >"$T/ql.json" 2>"$T/ql.err"
check "quarantine list: five files held" jqt '.files == 5' "$T/ql.json"
check "quarantine list: says why" jqt '[.quarantine[] | select(.rule=="expire-rows" and .rows >= 1)] | length == 3' "$T/ql.json"
"$FSDCTL" log "${A[@]}" --json >"$T/log.json"
check "log: three reap runs, one partial" jqt '[.runs[] | select(.kind=="reap")] | (length == 3 and ([.[] | select(.outcome=="partial")] | length == 1))' "$T/log.json"
check "log: run detail counts rows" jqt '.runs[0].detail.rows >= 1' "$T/log.json"
"$FSDCTL" log "${A[@]}" --run "$R1" >"$T/log1.txt"
check_grep "log --run: actions with their state" 'done +remove-file +unreferenced-uploads' "$T/log1.txt"

# ---- restore: file and row come back ----
row_before=$(rows "SELECT count(*) FROM file")
check_exit "restore: run 2" 0 run_to "$T/rs.out" "$T/rs.err" "$FSDCTL" quarantine "${A[@]}" restore --run "$R2"
check "restore: file back in place" test -f "$D/uploads/${K}_draft.txt"
check_eq "restore: row back" 1 "$(rows "SELECT count(*) FROM file WHERE id='$K'")"
check_eq "restore: row count back" $((row_before + 3)) "$(rows "SELECT count(*) FROM file")"
check_eq "restore: the row is identical, column for column" "$row_k" \
	"$(rows "SELECT quote(id), quote(user_id), quote(filename), quote(meta), quote(created_at), quote(hash), quote(data), quote(updated_at), quote(path) FROM file WHERE id='$K'")"

# ---- restore refuses to overwrite a recreated file ----
"$FSDCTL" reap "${A[@]}" --now "$NOW" --expire-rows 7d --apply --json >"$T/exp3.json" 2>&1
R3=$(jq .applied.run "$T/exp3.json")
echo "new content" >"$D/uploads/${K}_draft.txt"
check_exit "restore over a recreated file: refused" 1 run_to "$T/rs2.out" "$T/rs2.err" "$FSDCTL" quarantine "${A[@]}" restore --run "$R3"
check_grep "restore: says why" 'refusing to overwrite' "$T/rs2.err"
check_eq "restore: the new file is untouched" "new content" "$(cat "$D/uploads/${K}_draft.txt")"
check "restore: the old one still in quarantine" test -f "$D/uploads/.fsd-quarantine/$R3/${K}_draft.txt"
check_eq "restore: its row stays removed" 0 "$(rows "SELECT count(*) FROM file WHERE id='$K'")"
rm -f "$D/uploads/${K}_draft.txt"

# ---- purge ----
check_exit "purge: everything" 0 run_to "$T/pg.out" "$T/pg.err" "$FSDCTL" quarantine "${A[@]}" purge --all
check_grep "purge: counted" '^Purged 3 files' "$T/pg.out"
check_eq "purge: quarantine empty" "" "$(find "$D/uploads/.fsd-quarantine" -type f)"
"$FSDCTL" log "${A[@]}" --run "$R1" >"$T/log1b.txt"
check_grep "purge: logged" 'purged +remove-file' "$T/log1b.txt"

# ---- the grace clock restarts when a reference goes away ----
# The upload a chat mentioned was kept while mentioned; once the mention
# goes, it is unreferenced from now on, not since its (old) mtime.
F=4ced4002-1a8a-4902-ad27-69ef38687a2b
sqlite3 "$D/webui.db" "UPDATE chat SET chat = replace(chat, '$F', 'removed')"
check_exit "dereferenced: in grace, nothing to do" 0 run_to "$T/g1.json" "$T/g1.err" "$FSDCTL" reap "${A[@]}" --now "$NOW" --apply --json
check "dereferenced: counted within grace" jqt '.plan.totals.within_grace >= 1 and .applied.files == 0' "$T/g1.json"
check "dereferenced: still in place" test -f "$D/uploads/${F}_forgotten.docx"
check_exit "a day later, still in grace" 0 run_to "$T/g2.json" "$T/g2.err" "$FSDCTL" reap "${A[@]}" --now "$((NOW + 20 * 3600))" --apply --json
check "a day later: kept" test -f "$D/uploads/${F}_forgotten.docx"
check_exit "past the grace period: reaped" 0 run_to "$T/g3.json" "$T/g3.err" "$FSDCTL" reap "${A[@]}" --now "$((NOW + 25 * 3600))" --apply --json
check "past the grace period: quarantined, the reason says since when" \
	jqt '([.plan.actions[] | select(.path | test("forgotten")) | .reason | test("unreferenced for 1d")] == [true])' "$T/g3.json"
check "past the grace period: the file is quarantined" test -f "$D"/uploads/.fsd-quarantine/*/"${F}_forgotten.docx"

# ---- the breaker: a source that shrank, a source that fails ----
held=$(find "$D/uploads/.fsd-quarantine" -type f | wc -l)
sqlite3 "$D/webui.db" "DELETE FROM file WHERE id IN (SELECT id FROM file ORDER BY id LIMIT (SELECT count(*)*3/4 FROM file))"
touch -d "@$((NOW - 5 * 86400))" "$D/uploads/"*
check_exit "breaker: shrunk owners refused" 2 run_to "$T/br.out" "$T/br.err" "$FSDCTL" reap "${A[@]}" --now "$NOW" --apply
check_grep "breaker: says why" "source 'webui' shrank" "$T/br.err"
check_eq "breaker: nothing quarantined" "$held" "$(find "$D/uploads/.fsd-quarantine" -type f | wc -l)"
mv "$D/webui.db" "$D/webui.db.away"
check_exit "breaker: missing database refused" 2 run_to "$T/br2.out" "$T/br2.err" "$FSDCTL" reap "${A[@]}" --now "$NOW" --apply
check_grep "breaker: names the failed source" "source 'webui' failed" "$T/br2.err"
check_eq "breaker: nothing quarantined" "$held" "$(find "$D/uploads/.fsd-quarantine" -type f | wc -l)"
mv "$D/webui.db.away" "$D/webui.db"
check_exit "breaker: --force proceeds" 0 run_to "$T/br3.json" "$T/br3.err" "$FSDCTL" reap "${A[@]}" --now "$((NOW + 25 * 3600))" --apply --force --json
check "breaker: uploads whose rows just went wait for their grace" jqt '.applied.files == 0 and .plan.totals.within_grace >= 1' "$T/br3.json"
check_exit "breaker: past their grace they go" 0 run_to "$T/br4.json" "$T/br4.err" "$FSDCTL" reap "${A[@]}" --now "$((NOW + 50 * 3600))" --apply --force --json
check "breaker: the unowned uploads removed" jqt '.applied.files >= 1' "$T/br4.json"
check_eq "canary still intact" "canary" "$(cat "$T/canary")"

done_testing
