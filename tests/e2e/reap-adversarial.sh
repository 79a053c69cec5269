#!/bin/bash
# Adversarial trees: between planning and applying (a failpoint pause in
# between), a directory is swapped for a symlink that points out of the
# root, a file is rewritten, a root is replaced by an empty directory
# (an unmounted volume); hard links to files outside the root. Nothing
# outside the roots is touched, changed files are skipped, and a root
# without its marker is not touched at all.
. "$(dirname "$0")/../lib/tap.sh"

NOW=$(date +%s)
OLD=$((NOW - 5 * 86400))
R=$T/root
O=$T/outside
mkdir -p "$R/sub" "$O"
sqlite3 "$T/app.db" "CREATE TABLE f(id TEXT PRIMARY KEY, path TEXT, live INTEGER);
	INSERT INTO f VALUES('kept', 'kept_a', 1);"
cat >"$T/fsd.conf" <<CONF
[catalog]
path = $T/cat.db

[source app]
url = sqlite://$T/app.db
owners = SELECT id, path FROM f
live = SELECT id FROM f WHERE live = 1
remove = DELETE FROM f WHERE id = :key

[root up]
path = $R
class = upload
key = regex
key-regex = ^([a-z0-9]+)_
source = app
marker = .marker

[rule orphans]
roots = up
unreferenced = yes
grace = 1h
max-delete = 100
CONF
touch "$R/.marker"
echo kept >"$R/kept_a"
echo "sub orphan" >"$R/sub/swap1_x"
echo "outside twin" >"$O/swap1_x"
echo "rewritten later" >"$R/rewrite1_x"
echo "hard" >"$O/hard"
ln "$O/hard" "$R/hard1_x"
echo "plain orphan" >"$R/plain1_x"
echo canary >"$T/canary"
touch -d "@$OLD" "$R/sub/swap1_x" "$R/rewrite1_x" "$O/hard" "$R/plain1_x" "$R/kept_a" "$O/swap1_x"
C=(-c "$T/fsd.conf")
jqt() { jq -e "$@" >/dev/null; }

check_exit "config checks" 0 "$FSDCTL" config "${C[@]}" check
"$FSDCTL" reap "${C[@]}" --json >"$T/plan.json" 2>"$T/plan.err"
check "plan: four orphans" jqt '.plan.totals.files == 4' "$T/plan.json"

# Apply with a pause after the journal: the tree changes underneath.
mkfifo "$T/fifo" "$T/fifo.reply"
FSD_FAILPOINTS="reap-after-journal=pause@1" FSD_FAILPOINT_FIFO="$T/fifo" \
	"$FSDCTL" reap "${C[@]}" --apply --json >"$T/apply.json" 2>"$T/apply.err" &
pid=$!
at_exit "kill $pid"
read -r -t 30 where <"$T/fifo"
check_eq "paused after journalling" "reap-after-journal" "$where"
mv "$R/sub" "$R/sub.real"
ln -s "$O" "$R/sub"
echo "appended while the reaper waited" >>"$R/rewrite1_x"
echo go >"$T/fifo.reply"
wait $pid
check_eq "apply: some actions skipped (exit 0)" 0 $?
check "apply: two removed, two skipped" jqt '.applied.files == 2 and .applied.skipped == 2' "$T/apply.json"
check_eq "symlink swap: the file outside is untouched" "outside twin" "$(cat "$O/swap1_x")"
check_eq "symlink swap: the real directory's file too" "sub orphan" "$(cat "$R/sub.real/swap1_x")"
check "rewritten file: skipped, still in place" grep -q appended "$R/rewrite1_x"
check "hard link: moved to quarantine" test -f "$R"/.fsd-quarantine/*/hard1_x
check_eq "hard link: the outside name keeps its content" "hard" "$(cat "$O/hard")"
check "plain orphan: quarantined" test -f "$R"/.fsd-quarantine/*/plain1_x
check_eq "referenced file kept" "kept" "$(cat "$R/kept_a")"
check_eq "canary outside the roots intact" "canary" "$(cat "$T/canary")"
run=$(jq .applied.run "$T/apply.json")
"$FSDCTL" log "${C[@]}" --run "$run" >"$T/log.txt"
check_grep "log: the symlink is named as the reason" 'skipped .*sub/swap1_x.*symlink' "$T/log.txt"
check_grep "log: the change is named as the reason" 'skipped .*rewrite1_x.*changed since planning' "$T/log.txt"

# A root that disappears (an unmounted volume): an empty directory without
# the marker takes its place between planning and applying.
rm -f "$R/sub"
mv "$R/sub.real" "$R/sub"
echo "another" >"$R/late1_x"
touch -d "@$OLD" "$R/late1_x"
FSD_FAILPOINTS="reap-after-journal=pause@1" FSD_FAILPOINT_FIFO="$T/fifo" \
	"$FSDCTL" reap "${C[@]}" --apply --json >"$T/apply2.json" 2>"$T/apply2.err" &
pid=$!
read -r -t 30 where <"$T/fifo"
mv "$R" "$T/root.unmounted"
mkdir "$R"
echo go >"$T/fifo.reply"
wait $pid
check_eq "vanished root: the run reports failures (exit 1)" 1 $?
check "vanished root: says the marker is missing" jqt '.applied.error | test("marker missing")' "$T/apply2.json"
check_eq "vanished root: nothing created in its place" "" "$(ls -A "$R")"
check_eq "vanished root: its files untouched" "another" "$(cat "$T/root.unmounted/late1_x")"
check "vanished root: the swapped file too" test -f "$T/root.unmounted/sub/swap1_x"
rmdir "$R"
mv "$T/root.unmounted" "$R"

# And planning itself refuses a root whose marker is missing.
rm "$R/.marker"
"$FSDCTL" reap "${C[@]}" --apply >"$T/apply3.out" 2>"$T/apply3.err"
check_eq "missing marker: nothing planned, nothing removed" 0 "$(grep -c remove-file "$T/apply3.out")"
check_grep "missing marker: says so" "marker '.*' is missing" "$T/apply3.err"
check "missing marker: the orphan is still there" test -f "$R/late1_x"
done_testing
