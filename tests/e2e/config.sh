#!/bin/bash
# fsdctl config check|show end to end: the open-webui preset validates for
# a data directory that does not exist (and is not created), its queries
# run against the real Open WebUI schema, every error of a bad file is
# reported with its line, and `config show` prints text that reads back.
. "$(dirname "$0")/../lib/tap.sh"

data=$T/webui-data
out=$T/out
err=$T/err
# run CMD...: stdout into $out, stderr into $err (a redirect on check_exit
# itself would swallow its TAP line).
run() { "$@" >"$out" 2>"$err"; }

# --- the preset ---
check_exit "preset validates without its data directory" 0 \
	run "$FSDCTL" config check --preset open-webui --data-dir "$data"
check_eq "check says ok" "preset:open-webui:$data: ok" "$(cat "$out")"
check "config check did not create the data directory" test ! -e "$data"
check "config check did not create the state directory" test ! -e "$XDG_STATE_HOME"

check_exit "preset shows as JSON" 0 \
	run "$FSDCTL" config show --preset open-webui --data-dir "$data" --json
cp "$out" "$T/preset.json"
check "preset JSON parses" run jq -e . "$T/preset.json"
check_eq "uploads root path" "$data/uploads" \
	"$(jq -r '.roots[] | select(.name=="uploads") | .path' "$T/preset.json")"
check_eq "cache root is class cache with key none" "cache none" \
	"$(jq -r '.roots[] | select(.name=="cache") | "\(.class) \(.key)"' "$T/preset.json")"
check_grep "model caches are protected" '"embedding/models/\*\*"' "$T/preset.json"
check_eq "default catalog under XDG_STATE_HOME" "$XDG_STATE_HOME/fsd/open-webui-" \
	"$(jq -r .catalog "$T/preset.json" | head -c $((${#XDG_STATE_HOME} + 16)))"
check_eq "relative --data-dir is made absolute" "preset:open-webui:$T/webui-data: ok" \
	"$(cd "$T" && "$FSDCTL" config check --preset open-webui --data-dir webui-data/ 2>&1)"
check_eq "'..' in --data-dir is resolved" "preset:open-webui:$T/webui-data: ok" \
	"$(cd "$T" && "$FSDCTL" config check --preset open-webui --data-dir ./x/../webui-data 2>&1)"

# Every query of the preset runs against the real schema (EXPLAIN would
# do for names; running them also checks that :key binds).
mkdir -p "$data"
sqlite3 "$data/webui.db" <"$FIXTURES/open-webui/schema-sqlite.sql"
queries=$T/queries
jq -r '.sources[0] | (.owners, .live[], .live_text[], .remove[])' "$T/preset.json" >"$queries"
jq -r '.vectors[0].collections[] | select(.query != "owners") | .query' \
	"$T/preset.json" >>"$queries"
check_eq "preset has 21 queries" 21 "$(wc -l <"$queries")"
bad=0
while IFS= read -r q; do
	if ! sqlite3 -bail "$data/webui.db" "$q" >/dev/null 2>"$err"; then
		diag "query failed: $q" "$(cat "$err")"
		bad=$((bad + 1))
	fi
done <"$queries"
check_eq "every preset query runs on the Open WebUI schema" 0 "$bad"

# A link row counts only while its chat, knowledge base or channel exists
# (SQLite runs no ON DELETE CASCADE: deleting a chat leaves chat_file rows).
sqlite3 "$data/webui.db" "
INSERT INTO chat (id, meta) VALUES ('c1', '{}');
INSERT INTO knowledge (id, user_id, name, created_at) VALUES ('k1', 'u', 'kb', 0);
INSERT INTO channel (id) VALUES ('ch1');
INSERT INTO chat_file VALUES ('1', 'u', 'c1', 'f-chat', NULL, 0, 0);
INSERT INTO chat_file VALUES ('2', 'u', 'c-gone', 'f-chat-gone', NULL, 0, 0);
INSERT INTO knowledge_file VALUES ('3', 'u', 'k1', 'f-kb', 0, 0, NULL);
INSERT INTO knowledge_file VALUES ('4', 'u', 'k-gone', 'f-kb-gone', 0, 0, NULL);
INSERT INTO channel_file VALUES ('5', 'u', 'ch1', 'f-ch', 0, 0, NULL);
INSERT INTO channel_file VALUES ('6', 'u', 'ch-gone', 'f-ch-gone', 0, 0, NULL);"
live=$(jq -r '.sources[0].live[]' "$T/preset.json" | while IFS= read -r q; do
	sqlite3 "$data/webui.db" "$q"
done | sort | tr '\n' ' ')
check_eq "live links need their chat, knowledge base or channel" "f-ch f-chat f-kb " "$live"

# The live-text queries cover every JSON place OPEN-WEBUI.md names.
for place in "chat FROM chat" "files FROM chat_message" "content FROM chat_message" \
	"data FROM message" "data FROM folder" "items FROM folder" "data FROM note" \
	"meta FROM model" "chat FROM shared_chat"; do
	check "live-text reads $place" grep -qx "SELECT $place" "$queries"
done
check_eq "remove deletes the links before the file row" \
	"knowledge_file chat_file channel_file file" \
	"$(jq -r '.sources[0].remove[]' "$T/preset.json" | awk '{print $3}' | tr '\n' ' ' | sed 's/ $//')"

# --- round trip: show prints a config that checks and shows the same ---
"$FSDCTL" config show --preset open-webui --data-dir "$data" >"$T/shown.conf"
check_exit "shown preset checks as a file" 0 run "$FSDCTL" config check -c "$T/shown.conf"
check_eq "file check says ok" "$T/shown.conf: ok" "$(cat "$out")"
"$FSDCTL" config show -c "$T/shown.conf" >"$T/shown2.conf"
check_eq "show of the shown file is the same text" \
	"$(grep -v '^#' "$T/shown.conf")" "$(grep -v '^#' "$T/shown2.conf")"

# --- a bad file: every error, with its line, exit 2 ---
cat >"$T/bad.conf" <<'EOF'
[catalog]
path = catalog.db
[root uploads]
path = /srv/webui/uploads
class = uplod
key = regex
key-regex = ^([0-9a-f
source = webui
[root everything]
path = /
class = cache
[source webui]
url = sqlite://webui.db
owners = SELECT id, path FROM file
busy-timeout = 5 seconds
[vectors chroma]
type = chroma
source = webui
[rule old]
roots = uploads
EOF
check_exit "bad config exits 2" 2 run "$FSDCTL" config check -c "$T/bad.conf"
check_eq "nothing on stdout for a bad config" "" "$(cat "$out")"
check_grep "relative catalog path" "^$T/bad.conf:2: \[catalog\] path: expected an absolute path, got 'catalog.db'$" "$err"
check_grep "bad class" "^$T/bad.conf:5: \[root uploads\] class: expected upload\|cache\|log\|backup\|temp, got 'uplod'$" "$err"
check_grep "bad regex" "^$T/bad.conf:7: \[root uploads\] key-regex: expected a POSIX extended regular expression" "$err"
check_grep "root /" "^$T/bad.conf:10: \[root everything\] path: the root directory '/' cannot be a root" "$err"
check_grep "relative sqlite url" "^$T/bad.conf:13: \[source webui\] url: expected sqlite:///ABSOLUTE/PATH" "$err"
check_grep "bad duration" "^$T/bad.conf:15: \[source webui\] busy-timeout: expected a duration" "$err"
check_grep "chroma without path" "^$T/bad.conf:16: \[vectors chroma\]: type = chroma needs 'path'" "$err"
check_eq "exactly seven errors" 7 "$(wc -l <"$err")"

printf '[root a]\npath = /srv/a\nclass = cache\n[rule r]\nroots = a\n' >"$T/rule.conf"
check_exit "a rule without a condition is refused" 2 run "$FSDCTL" config check -c "$T/rule.conf"
check_grep "the rule's error names its line" "^$T/rule.conf:4: rule r: has no condition" "$err"

# --- the man page's example is a valid configuration ---
awk '/^\.SH EXAMPLES/ { e = 1 } e && /^\.fi/ { exit } e && p { print } e && /^\.nf/ { p = 1 }' \
	"$FSD_TOP/docs/fsd.conf.5" >"$T/example.conf"
check_grep "example extracted from fsd.conf(5)" '^\[root uploads\]$' "$T/example.conf"
check_exit "fsd.conf(5) example checks" 0 run "$FSDCTL" config check -c "$T/example.conf"

# --- so is the README's ---
awk '/^```ini/ { p = 1; next } /^```/ { p = 0 } p' "$FSD_TOP/README.md" >"$T/readme.conf"
if [ -s "$T/readme.conf" ]; then
	check_exit "README's config file checks" 0 run "$FSDCTL" config check -c "$T/readme.conf"
fi

# --- as root, a configuration others may write is refused ---
if [ "$(id -u)" -eq 0 ]; then
	cp "$T/shown.conf" "$T/open.conf"
	chmod 0666 "$T/open.conf"
	check_exit "world-writable config refused as root" 2 run "$FSDCTL" config check -c "$T/open.conf"
	check_grep "and told how to fix it" "chmod go-w $T/open.conf" "$err"
fi

# --- how the configuration is found ---
check_exit "missing file" 2 run "$FSDCTL" config check -c "$T/nope.conf"
check_grep "missing file is named" "nope.conf" "$err"
check_exit "FSD_CONFIG is read" 0 run env FSD_CONFIG="$T/shown.conf" "$FSDCTL" config check
check_exit "--preset needs --data-dir" 2 run "$FSDCTL" config check --preset open-webui
check_exit "--preset and --config exclude each other" 2 \
	run "$FSDCTL" config check --preset open-webui --data-dir "$data" -c "$T/shown.conf"
check_exit "unknown preset" 2 run "$FSDCTL" config check --preset nope --data-dir "$data"
check_grep "unknown preset is named" "unknown preset 'nope'" "$err"
check_exit "unknown subcommand" 2 run "$FSDCTL" config frobnicate
check_exit "help" 0 run "$FSDCTL" config --help
check_grep "help names the presets" "Presets: open-webui" "$out"

done_testing
