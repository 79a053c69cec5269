#!/bin/bash
# End-to-end: the demo generator (fsd-mkdemo) and the audit on its output.
# The generator must be deterministic, build databases with exactly the
# real schemas, plant every kind of finding, back-date what it plants, and
# fsdctl audit --json must report exactly what its manifest says.
. "$(dirname "$0")/../lib/tap.sh"

NOW=$(date +%s)
gen() { "$MKDEMO" "$@" --fixtures "$FIXTURES"; }

# tree DIR: every file's path, size, mtime, mode and content hash; the
# databases by content (.dump), since SQLite pages may differ.
tree() {
	(cd "$1" && find . -type f ! -name webui.db ! -name chroma.sqlite3 \
		-printf '%P\t%s\t%T@\t%m\n' | LC_ALL=C sort &&
		find . -type f ! -name webui.db ! -name chroma.sqlite3 -print0 | LC_ALL=C sort -z |
		xargs -0 md5sum &&
		sqlite3 webui.db .dump && sqlite3 vector_db/chroma.sqlite3 .dump)
}

# --- determinism ---------------------------------------------------------
check "generates a data directory" gen "$T/a" --seed 42 --now "$NOW" --manifest "$T/a.tsv"
check "generates it again" gen "$T/b" --seed 42 --now "$NOW" --manifest "$T/b.tsv"
tree "$T/a" >"$T/a.tree"
tree "$T/b" >"$T/b.tree"
check "tree listing is not empty" test "$(wc -l <"$T/a.tree")" -gt 100
check "same seed and --now: same files, contents, times and rows" cmp -s "$T/a.tree" "$T/b.tree"
check "same seed and --now: same manifest" cmp -s "$T/a.tsv" "$T/b.tsv"
gen "$T/c" --seed 43 --now "$NOW" --manifest "$T/c.tsv" >/dev/null
differ() { ! cmp -s "$1" "$2"; }
check "another seed: another manifest" differ "$T/a.tsv" "$T/c.tsv"
check "manifest is sorted bytewise" bash -c "LC_ALL=C sort -c '$T/a.tsv'"

# --- every category planted ------------------------------------------------
for c in orphan pending unowned-referenced dangling unreferenced duplicate changed vector-collection \
	vector-dir vector-rows; do
	n=$(awk -F'\t' -v c="$c" '$1 == c' "$T/a.tsv" | wc -l)
	check "manifest has $c findings ($n)" test "$n" -gt 0
done
check_eq "manifest lines have three fields" "0" "$(awk -F'\t' 'NF != 3' "$T/a.tsv" | wc -l)"
check_grep "odd name escaped in the manifest" \
	'^orphan	uploads	[0-9a-f-]{36}_bad name\\x0aline two \\xff\\xfe\.txt$' "$T/a.tsv"
check "odd name on disk (space, newline, invalid UTF-8)" \
	bash -c "ls '$T/a/uploads/'*$'_bad name\nline two \xff\xfe.txt'"
check_grep "a live upload with a space in its name" '_Quarterly report\.docx' <(ls "$T/a/uploads")

# --- real schemas ------------------------------------------------------------
sqlite3 "$T/fixture-webui.db" <"$FIXTURES/open-webui/schema-sqlite.sql"
check_eq "webui.db schema is the fixture's" "$(sqlite3 "$T/fixture-webui.db" .schema)" \
	"$(sqlite3 "$T/a/webui.db" .schema)"
for d in embeddings_queue sysdb metadb; do
	for f in "$FIXTURES/chroma-1.5.9/$d"/*.sql; do sqlite3 "$T/fixture-chroma.db" <"$f"; done
done
check_eq "chroma.sqlite3 schema is Chroma 1.5.9's" "$(sqlite3 "$T/fixture-chroma.db" .schema)" \
	"$(sqlite3 "$T/a/vector_db/chroma.sqlite3" .schema)"
check_eq "webui.db is in WAL mode like the app's" "wal" "$(sqlite3 "$T/a/webui.db" 'PRAGMA journal_mode')"
check_eq "alembic head recorded" "42e2978c7933" "$(sqlite3 "$T/a/webui.db" 'SELECT version_num FROM alembic_version')"
check_eq "chroma.sqlite3 passes integrity_check" "ok" \
	"$(sqlite3 "$T/a/vector_db/chroma.sqlite3" 'PRAGMA integrity_check')"
check_eq "full-text rowids are embedding ids" "0" "$(sqlite3 "$T/a/vector_db/chroma.sqlite3" \
	'SELECT count(*) FROM embedding_fulltext_search WHERE rowid NOT IN (SELECT id FROM embeddings)')"

# --- what the manifest says holds in the files ----------------------------------
ids() { awk -F'\t' -v c="$1" '$1 == c { print $3 }' "$T/a.tsv"; }
bad=0
for id in $(ids dangling); do
	[ "$(sqlite3 "$T/a/webui.db" "SELECT count(*) FROM file WHERE id = '$id'")" = 1 ] || bad=1
	compgen -G "$T/a/uploads/$id*" >/dev/null && bad=1
done
check "dangling: row present, no upload" test "$bad" = 0
bad=0
for id in $(ids unreferenced); do
	[ "$(sqlite3 "$T/a/webui.db" "SELECT count(*) FROM file WHERE id = '$id'")" = 1 ] || bad=1
	compgen -G "$T/a/uploads/$id*" >/dev/null || bad=1
done
check "unreferenced: row and upload present" test "$bad" = 0
bad=0
for p in $(ids orphan | grep -v 'bad name') $(ids pending); do
	[ -f "$T/a/uploads/$p" ] || bad=1
	[ "$(sqlite3 "$T/a/webui.db" "SELECT count(*) FROM file WHERE id = '${p:0:36}'")" = 0 ] || bad=1
done
check "orphans and pending: upload present, no row" test "$bad" = 0
bad=0
for p in $(ids unowned-referenced); do
	[ -f "$T/a/uploads/$p" ] || bad=1
	[ "$(sqlite3 "$T/a/webui.db" "SELECT count(*) FROM file WHERE id = '${p:0:36}'")" = 0 ] || bad=1
	[ "$(sqlite3 "$T/a/webui.db" "SELECT count(*) FROM chat WHERE instr(chat, '${p:0:36}') > 0")" -gt 0 ] || bad=1
done
check "unowned-referenced: upload present, no row, a chat names it" test "$bad" = 0
p=$(ids pending)
age=$((NOW - $(stat -c %Y "$T/a/uploads/$p")))
check "pending upload is younger than the grace period ($age s)" test "$age" -lt 86400
bad=0
for p in $(ids orphan | grep -v 'bad name'); do
	[ $((NOW - $(stat -c %Y "$T/a/uploads/$p"))) -gt 86400 ] || bad=1
done
check "orphans are older than the grace period" test "$bad" = 0
dups=$(ids duplicate | while read -r p; do md5sum <"$T/a/uploads/$p"; done | sort -u | wc -l)
check_eq "duplicates share one content" "1" "$dups"
bad=0
for c in $(ids vector-collection); do
	[ "$(sqlite3 "$T/a/vector_db/chroma.sqlite3" "SELECT count(*) FROM collections WHERE name = '$c'")" = 1 ] || bad=1
done
check "dead collections exist in Chroma" test "$bad" = 0
check "orphan index directory exists" test -d "$T/a/vector_db/$(ids vector-dir)"
check_eq "orphan index directory is no segment" "0" \
	"$(sqlite3 "$T/a/vector_db/chroma.sqlite3" "SELECT count(*) FROM segments WHERE id = '$(ids vector-dir)'")"
check_eq "a living user's memories stay" "1" "$(sqlite3 "$T/a/vector_db/chroma.sqlite3" \
	"SELECT count(*) FROM collections WHERE name = 'user-memory-' || '$(sqlite3 "$T/a/webui.db" "SELECT id FROM user WHERE name = 'alice'")'")"

# --- replacing a directory ---------------------------------------------------------
mkdir -p "$T/precious" && echo keep >"$T/precious/file"
check_exit "refuses to replace a directory that is not a demo" 1 gen "$T/precious" --force
check "and leaves it alone" test -f "$T/precious/file"
check_exit "refuses an existing demo without --force" 1 gen "$T/a"
check "replaces an earlier demo with --force" gen "$T/a" --force --seed 42 --now "$NOW"
check "replaced demo is the same" cmp -s "$T/a.tree" <(tree "$T/a")

# --- bench sizes ----------------------------------------------------------------------
check "bulk: 300 uploads, 200 rows" gen "$T/bulk" --files 300 --rows 200 --manifest "$T/bulk.tsv"
check_eq "bulk: 100 extra uploads are orphans" "$(($(ids orphan | wc -l) + 100))" \
	"$(awk -F'\t' '$1 == "orphan"' "$T/bulk.tsv" | wc -l)"
check_eq "bulk: 200 more file rows" "$(($(sqlite3 "$T/a/webui.db" 'SELECT count(*) FROM file') + 200))" \
	"$(sqlite3 "$T/bulk/webui.db" 'SELECT count(*) FROM file')"
gen "$T/bulk2" --files 100 --rows 250 --manifest "$T/bulk2.tsv" >/dev/null
check_eq "bulk: 150 extra rows dangle" "$(($(ids dangling | wc -l) + 150))" \
	"$(awk -F'\t' '$1 == "dangling"' "$T/bulk2.tsv" | wc -l)"
gen "$T/scaled" --scale 40 --manifest "$T/scaled.tsv" >/dev/null
check_eq "--scale 40: 40 more rows" "$(($(sqlite3 "$T/a/webui.db" 'SELECT count(*) FROM file') + 40))" \
	"$(sqlite3 "$T/scaled/webui.db" 'SELECT count(*) FROM file')"
check_eq "--scale 40: all of them live, the findings unchanged" "$(cut -f1 "$T/a.tsv" | sort | uniq -c)" \
	"$(cut -f1 "$T/scaled.tsv" | sort | uniq -c)"
check_eq "bulk: no bulk row is unreferenced" "$(ids unreferenced | wc -l)" \
	"$(awk -F'\t' '$1 == "unreferenced"' "$T/bulk2.tsv" | wc -l)"

# --- the audit reports exactly what was planted ------------------------------------------
# Findings as manifest lines: the item is the path (orphan, pending,
# duplicate, changed), the row's key (dangling, unreferenced), the
# collection name or the directory or segment id (vector-*), escaped by
# the same code that wrote the manifest.
findings_tsv() {
	jq -r '.findings[]
		| select(.category != "vector-unknown")
		| [.category, (.root // .store // "-"),
		   (if (.category == "dangling" or .category == "unreferenced") then (.key | @base64)
		    elif .category == "vector-collection" then (.collection | @base64)
		    elif (.category | startswith("vector-")) then ((.vector_id // .id) | @base64)
		    elif .path_base64 then .path_base64
		    else (.path | @base64) end)] | @tsv' "$1" |
		while IFS=$'\t' read -r c r b; do
			printf '%s\t%s\t%s\n' "$c" "$r" "$(printf '%s' "$b" | base64 -d | "$MKDEMO" --escape)"
		done | LC_ALL=C sort
}

D=$T/audit
common=(--preset open-webui --data-dir "$D" --catalog "$T/catalog.db")
gen "$D" --seed 7 --manifest "$T/expected.tsv" >/dev/null
check_exit "scan of the demo" 0 "$FSDCTL" scan "${common[@]}"
check "damage a live upload after the scan" "$MKDEMO" "$D" --bit-rot
# data_state: every file of the data directory but SQLite's -wal/-shm
# companions, with size, mtime and content.
data_state() {
	(cd "$D" && find . -type f ! -name '*-wal' ! -name '*-shm' -printf '%P %s %T@\n' | LC_ALL=C sort &&
		find . -type f ! -name '*-wal' ! -name '*-shm' -print0 | LC_ALL=C sort -z | xargs -0 md5sum)
}
data_state >"$T/data.before"
"$FSDCTL" audit --json "${common[@]}" >"$T/audit.json" 2>"$T/audit.err"
check_eq "audit --json finds things (exit 1)" 1 $?
check "audit --json is one JSON document" jq -e . "$T/audit.json" >/dev/null
findings_tsv "$T/audit.json" >"$T/actual.tsv"
if cmp -s "$T/expected.tsv" "$T/actual.tsv"; then
	ok "audit findings equal the manifest ($(wc -l <"$T/expected.tsv") lines)"
else
	not_ok "audit findings equal the manifest"
	diff "$T/expected.tsv" "$T/actual.tsv" | head -40 | sed 's/^/# /'
fi
"$FSDCTL" audit "${common[@]}" >"$T/audit.txt" 2>"$T/audit.err"
check_eq "text audit finds things too (exit 1)" 1 $?
# Bench shape, small: the extra uploads are orphans, the extra rows dangle.
for spec in "300 200" "100 250"; do
	read -r nf nr <<<"$spec"
	B=$T/bulk-$nf-$nr
	gen "$B" --files "$nf" --rows "$nr" --manifest "$B.tsv" >/dev/null
	"$FSDCTL" scan --preset open-webui --data-dir "$B" --catalog "$B.db" >/dev/null 2>&1
	"$MKDEMO" "$B" --bit-rot
	"$FSDCTL" audit --json --preset open-webui --data-dir "$B" --catalog "$B.db" >"$B.json" 2>/dev/null
	check_eq "$nf more uploads, $nr more rows: audit findings equal the manifest" \
		"$(cat "$B.tsv")" "$(findings_tsv "$B.json")"
done
check_eq "the audits changed nothing in the data directory" "$(cat "$T/data.before")" "$(data_state)"
check_grep "text report names the odd file on one line" 'bad name\\x0aline two \\xff\\xfe\.txt' "$T/audit.txt"

# --- make demo's script -----------------------------------------------------------------
DEMO=$T/demo BUILD=$BUILD "$FSD_TOP/scripts/demo.sh" >"$T/demo.out" 2>&1
check_eq "make demo's script runs to the end although the audit finds things" 0 $?
check_grep "it shows the audit of the odd file" 'bad name\\x0aline two' "$T/demo.out"
check_grep "it explains the categories" '^  vector-\*' "$T/demo.out"
check "it leaves the expected findings beside the data" test -s "$T/demo/expected.tsv"
# A failing step (exit 2) fails the demo.
mkdir -p "$T/badbuild"
ln -s "$MKDEMO" "$T/badbuild/fsd-mkdemo"
printf '#!/bin/sh\necho "fsdctl: broken" >&2\nexit 2\n' >"$T/badbuild/fsdctl"
chmod +x "$T/badbuild/fsdctl"
DEMO=$T/demo BUILD=$T/badbuild "$FSD_TOP/scripts/demo.sh" >"$T/demo-bad.out" 2>&1
check_eq "a step failing with exit 2 fails the demo" 2 $?

done_testing
