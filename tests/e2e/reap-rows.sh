#!/bin/bash
# Row rules: a rows query selects owner rows older than a cutoff; the
# source's remove statements delete them (children first), the files they
# owned go to quarantine in the same run, and a restore brings both back.
# Also keep-* buckets and max-size on real files through fsdctl.
. "$(dirname "$0")/../lib/tap.sh"

NOW=1795435200
R=$T/up
B=$T/backups
mkdir -p "$R" "$B/webui" "$B/pg"
sqlite3 "$T/app.db" "CREATE TABLE f(id TEXT PRIMARY KEY, path TEXT, created INTEGER);
	CREATE TABLE link(f_id TEXT);
	INSERT INTO f VALUES('old1', 'old1_a', $((NOW - 100 * 86400))), ('old2', 'old2_b', $((NOW - 100 * 86400))),
		('new1', 'new1_c', $((NOW - 86400))), ('gone1', 'gone1_x', $((NOW - 100 * 86400)));
	INSERT INTO link VALUES('old1'), ('new1');"
for n in old1_a old2_b new1_c; do echo "$n" >"$R/$n"; done
# Daily dumps for 10 days, two series; and a cache over quota.
for d in $(seq 0 9); do
	for s in webui pg; do
		f="$B/$s/$s-$d.sql"
		echo "$s $d" >"$f"
		touch -d "@$((NOW - d * 86400 - 3600))" "$f"
	done
done
cat >"$T/fsd.conf" <<CONF
[catalog]
path = $T/cat.db

[source app]
url = sqlite://$T/app.db
owners = SELECT id, path, created FROM f
live = SELECT 'nothing' WHERE 0
remove = DELETE FROM link WHERE f_id = :key
remove = DELETE FROM f WHERE id = :key

[root up]
path = $R
class = upload
key = regex
key-regex = ^([a-z0-9]+)_
source = app

[root backups]
path = $B
class = backup

[rule old-rows]
source = app
rows = SELECT id FROM f WHERE created < :cutoff
rows-age = 30d

[rule dumps]
classes = backup
group = ^([a-z]+)/
keep-daily = 3
keep-weekly = 1
max-delete = 100
CONF
C=(-c "$T/fsd.conf")
jqt() { jq -e "$@" >/dev/null; }
run_to() {
	local out=$1 err=$2
	shift 2
	"$@" >"$out" 2>"$err"
}
TZ=UTC
export TZ

check_exit "plan" 1 run_to "$T/plan.json" "$T/plan.err" "$FSDCTL" reap "${C[@]}" --now "$NOW" --json
check "plan: old rows with their files" jqt '[.plan.actions[] | select(.kind=="remove-file-rows") | .key] | sort == ["old1","old2"]' "$T/plan.json"
check "plan: a row without a file, rows only" jqt '[.plan.actions[] | select(.kind=="remove-rows") | .key] == ["gone1"]' "$T/plan.json"
check "plan: a young row is kept" jqt '[.plan.actions[] | select(.key=="new1")] | length == 0' "$T/plan.json"
# Dumps: 3 daily (days 0-2) + 1 weekly per series. Day 0 is Monday 2026-11-23;
# days 1 and 2 claimed ISO week 47 for the daily bucket, so the weekly bucket
# (exclusive, as in borg) takes the newest of week 46: day 8, Sunday Nov 15.
check "plan: each series keeps four dumps" jqt '[.plan.actions[] | select(.rule=="dumps")] | length == 12' "$T/plan.json"
check "plan: the newest three days kept" jqt '[.plan.actions[] | select(.rule=="dumps") | .path | select(test("-[012]\\.sql$"))] | length == 0' "$T/plan.json"
check "plan: the weekly one kept" jqt '[.plan.actions[] | select(.rule=="dumps") | .path | select(test("-8\\.sql$"))] | length == 0' "$T/plan.json"
check "plan: the rest of week 47 goes" jqt '[.plan.actions[] | select(.rule=="dumps") | .path | select(test("-3\\.sql$"))] | length == 2' "$T/plan.json"
check "plan: reasons name the group" jqt '[.plan.actions[] | select(.rule=="dumps") | .reason | select(test("group .(webui|pg)."))] | length == 12' "$T/plan.json"

check_exit "apply" 0 run_to "$T/apply.json" "$T/apply.err" "$FSDCTL" reap "${C[@]}" --now "$NOW" --apply --json
check_eq "rows: old rows and their links gone, young kept" "new1|new1" \
	"$(sqlite3 "$T/app.db" "SELECT group_concat(id) FROM f; SELECT group_concat(f_id) FROM link" | paste -sd'|')"
check "files: the old rows' files in quarantine" test -f "$R"/.fsd-quarantine/*/old1_a -a -f "$R"/.fsd-quarantine/*/old2_b
check "files: the young one in place" test -f "$R/new1_c"
check_eq "dumps: four of each series left" "4 4" "$(ls "$B/webui" | grep -c sql) $(ls "$B/pg" | grep -c sql)"

run=$(jq .applied.run "$T/apply.json")
check_exit "restore the run" 0 run_to "$T/rs.out" "$T/rs.err" "$FSDCTL" quarantine "${C[@]}" restore --run "$run"
check_eq "restore: rows and links back (parents first)" "gone1,new1,old1,old2|new1,old1" \
	"$(sqlite3 "$T/app.db" "SELECT group_concat(id) FROM (SELECT id FROM f ORDER BY id); SELECT group_concat(f_id) FROM (SELECT f_id FROM link ORDER BY f_id)" | paste -sd'|')"
check "restore: files back" test -f "$R/old1_a" -a -f "$R/old2_b"
check "restore: the dumps too" test -f "$B/webui/webui-9.sql"

# A remove statement that fails half-way through a key (after its link row
# went): that key is all or nothing, its file goes back, the others proceed.
sqlite3 "$T/app.db" "CREATE TRIGGER keep_old1 BEFORE DELETE ON f WHEN old.id = 'old1'
	BEGIN SELECT RAISE(ABORT, 'old1 is precious'); END;"
check_exit "a failing removal: partial run" 1 run_to "$T/apply2.json" "$T/apply2.err" "$FSDCTL" reap "${C[@]}" --now "$NOW" --apply --json
check "a failing removal: one failed, the others done" jqt '.applied.failed == 1 and .applied.rows >= 2' "$T/apply2.json"
check_eq "a failing removal: its link row is back" "new1,old1" \
	"$(sqlite3 "$T/app.db" "SELECT group_concat(f_id) FROM (SELECT f_id FROM link ORDER BY f_id)")"
check "a failing removal: its file is back in place" test -f "$R/old1_a"
check "a failing removal: the other file went" test ! -e "$R/old2_b"
done_testing
