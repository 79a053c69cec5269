#!/bin/bash
# fsdctl scan and fsdctl verify on real trees: byte names, symlinks out of
# the root, a bind mount inside it, excluded paths, a missing marker,
# unreadable files (as an unprivileged user), files deleted while the scan
# is paused at a failpoint, quick-check rescans, changed and vanished
# files, silent content changes found by verify, and a corrupt catalog.
. "$(dirname "$0")/../lib/tap.sh"

R=$T/root
CAT=$T/state/catalog.db
mkdir -p "$R/docs" "$R/deep/er/est" "$R/gone/sub" "$T/outside"
echo "secret outside the root" >"$T/outside/secret.txt"
echo alpha >"$R/docs/a.txt"
echo "with space" >"$R/docs/sp ace.txt"
printf 'nl' >"$R/docs/new"$'\n'"line"
printf 'bad utf8' >"$R/docs/"$'\xff\xfe'".bin"
echo deep >"$R/deep/er/est/file"
echo tmp >"$R/docs/scratch.tmp"
echo 1 >"$R/gone/one"
echo 2 >"$R/gone/sub/two"
echo upload >"$R/0b0c7a43-2a4e-4c1e-9b6e-2f7f1b0e9d11_report final.pdf"
ln -s "$T/outside" "$R/dirlink"
ln -s "$T/outside/secret.txt" "$R/filelink"
mkfifo "$R/docs/a-fifo"

cat >"$T/fsd.conf" <<EOF
[catalog]
path = $CAT

[root uploads]
path = $R
class = upload
key = regex
key-regex = ^([0-9a-f-]{36})_
exclude = *.tmp
EOF

scan_json() { "$FSDCTL" scan -c "$T/fsd.conf" --json "$@" >"$T/out.json" 2>"$T/err"; }
total() { jq -r ".total.$1" "$T/out.json"; }
q() { sqlite3 "$CAT" "$1"; }
hexof() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n' | tr a-f A-F; }
state_of() { q "SELECT state FROM files WHERE path = X'$(hexof "$1")'"; }

# ---- first scan ----
check_exit "first scan" 0 scan_json
check_eq "files catalogued" 8 "$(total files)"
check_eq "all of them new" 8 "$(total new)"
check_eq "all of them hashed" 8 "$(total hashed)"
check_eq "no errors" 0 "$(total errors)"
# Skipped: scratch.tmp, two symlinks, the fifo.
check_eq "skipped: excluded, symlinks, fifo" 4 "$(total skipped)"
check_eq "a run is recorded" "scan|ok|8" "$(q "SELECT kind, outcome, files FROM runs ORDER BY id DESC LIMIT 1")"

check_eq "name with a space, as bytes" 0 "$(state_of "docs/sp ace.txt")"
check_eq "name with a newline, as bytes" 0 "$(state_of "docs/new"$'\n'"line")"
check_eq "invalid UTF-8 name, as bytes" 0 "$(state_of "docs/"$'\xff\xfe'".bin")"
check_eq "path stored as a BLOB" blob "$(q "SELECT DISTINCT typeof(path) FROM files")"
check_eq "excluded file not catalogued" "" "$(state_of docs/scratch.tmp)"
check_eq "nothing through the directory symlink" 0 "$(q "SELECT count(*) FROM files WHERE path >= CAST('dirlink' AS BLOB) AND path < CAST('dirlinl' AS BLOB)")"
check_eq "the file symlink itself not catalogued" "" "$(state_of filelink)"
secret=$(xxhsum -H2 "$T/outside/secret.txt" 2>/dev/null | cut -c1-32 | tr a-f A-F)
check_eq "the symlink target was never hashed" 0 "$(q "SELECT count(*) FROM files WHERE hex(hash) = '$secret'")"
want=$(xxhsum -H2 "$R/docs/a.txt" 2>/dev/null | cut -c1-32 | tr a-f A-F)
check_eq "hash is XXH3-128 as xxhsum -H2 prints it" "$want" "$(q "SELECT hex(hash) FROM files WHERE path = CAST('docs/a.txt' AS BLOB)")"
check_eq "key from the regex's first group" "0b0c7a43-2a4e-4c1e-9b6e-2f7f1b0e9d11" \
	"$(q "SELECT key FROM files WHERE key IS NOT NULL")"
check_eq "size and inode recorded" "$(stat -c '%s %i' "$R/docs/a.txt")" \
	"$(q "SELECT size || ' ' || ino FROM files WHERE path = CAST('docs/a.txt' AS BLOB)")"

# ---- quick-check rescan ----
check_exit "rescan" 0 scan_json
check_eq "rescan of an unchanged tree hashes nothing" 0 "$(total hashed)"
check_eq "rescan: all unchanged" 8 "$(total unchanged)"
echo more >>"$R/docs/a.txt"
check_exit "scan after a change" 0 scan_json
check_eq "the modified file is hashed again" 1 "$(total hashed)"
check_eq "and counted as changed" 1 "$(total changed)"
want=$(xxhsum -H2 "$R/docs/a.txt" 2>/dev/null | cut -c1-32 | tr a-f A-F)
check_eq "its new hash is stored" "$want" "$(q "SELECT hex(hash) FROM files WHERE path = CAST('docs/a.txt' AS BLOB)")"

# ---- vanished files and directories ----
rm -r "$R/gone"
rm "$R/docs/sp ace.txt"
check_exit "scan after deletions" 0 scan_json
check_eq "vanished file and directory rows are gone" 3 "$(total gone)"
check_eq "gone rows keep their identity" "1|1|1" \
	"$(q "SELECT group_concat(state, '|') FROM files WHERE path IN (CAST('gone/one' AS BLOB), CAST('gone/sub/two' AS BLOB), CAST('docs/sp ace.txt' AS BLOB))")"
echo back >"$R/docs/sp ace.txt"
check_exit "a file that comes back" 0 scan_json
check_eq "is present again" 0 "$(state_of "docs/sp ace.txt")"

# ---- verify: content changed behind an unchanged size and mtime ----
check_exit "verify on a clean tree" 0 "$FSDCTL" verify -c "$T/fsd.conf"
f="$R/deep/er/est/file"
touch -r "$f" "$T/stamp"
echo DEEP >"$f"
touch -r "$T/stamp" "$f"
"$FSDCTL" verify -c "$T/fsd.conf" >"$T/verify.out" 2>&1
check_eq "verify finds the silent change (exit 1)" 1 $?
check_grep "verify names the file" '^changed: uploads/deep/er/est/file ' "$T/verify.out"
"$FSDCTL" verify -c "$T/fsd.conf" --json >"$T/verify.json" 2>/dev/null
check_eq "verify --json lists it" "deep/er/est/file" "$(jq -r '.changed_files[].path' "$T/verify.json")"
check_eq "the row carries the changed flag" 1 "$(q "SELECT flags & 1 FROM files WHERE path = CAST('deep/er/est/file' AS BLOB)")"
check_eq "a verify run is recorded" "verify|findings" "$(q "SELECT kind, outcome FROM runs ORDER BY id DESC LIMIT 1")"

# A plain scan notices it too when the ctime gives the change away.
f="$R/docs/new"$'\n'"line"
touch -r "$f" "$T/stamp"
printf 'NL' >"$f"
touch -r "$T/stamp" "$f"
check_exit "scan after a silent change" 0 scan_json
check_eq "the quick-check re-reads it (ctime moved) and counts a mismatch" "1 1" "$(total hashed) $(total mismatches)"
check_eq "and flags it" 1 "$(q "SELECT flags & 1 FROM files WHERE path = X'$(hexof "docs/new"$'\n'"line")'")"
"$FSDCTL" verify -c "$T/fsd.conf" >"$T/verify.out" 2>&1
check_grep "verify escapes the newline in the name" '^changed: uploads/docs/new\\x0aline ' "$T/verify.out"

# ---- deleted while the scan is paused before hashing ----
touch "$R"/docs/* "$R"/deep/er/est/file   # new mtimes: every file is read again
mkfifo "$T/fp" "$T/fp.reply"
FSD_FAILPOINTS="scan-before-hash=pause@1" FSD_FAILPOINT_FIFO=$T/fp \
	"$FSDCTL" scan -c "$T/fsd.conf" --json --threads 1 >"$T/out.json" 2>"$T/err" &
pid=$!
at_exit "kill $pid"
line=$(timeout 20 head -n1 "$T/fp")
check_eq "scan paused at the failpoint" scan-before-hash "$line"
rm "$R/docs/a.txt" "$R/deep/er/est/file"
timeout 20 sh -c "echo go >'$T/fp.reply'"
wait $pid
check_eq "scan completes after files vanished under it (exit 0)" 0 $?
check_eq "no errors for vanished files" 0 "$(total errors)"
check_eq "the deleted files are gone" "1 1" "$(state_of docs/a.txt) $(state_of deep/er/est/file)"
check_eq "the others are present" "0 0" "$(state_of "docs/sp ace.txt") $(state_of "docs/new"$'\n'"line")"

# ---- interrupted: what was found is kept, the run says so ----
touch "$R/docs/sp ace.txt"
FSD_FAILPOINTS="scan-before-hash=pause@1" FSD_FAILPOINT_FIFO=$T/fp \
	"$FSDCTL" scan -c "$T/fsd.conf" --threads 1 >/dev/null 2>"$T/err" &
pid=$!
at_exit "kill $pid"
check_eq "paused again" scan-before-hash "$(timeout 20 head -n1 "$T/fp")"
kill -INT $pid
timeout 20 sh -c "echo go >'$T/fp.reply'"
wait $pid
check_eq "an interrupted scan exits 2" 2 $?
check_eq "the run is recorded as interrupted" "scan|interrupted" "$(q "SELECT kind, outcome FROM runs ORDER BY id DESC LIMIT 1")"
check_grep "and says so" "interrupted" "$T/err"

# ---- a failpoint error while hashing is recorded on the row ----
touch "$R/docs/sp ace.txt"
FSD_FAILPOINTS="scan-before-hash=error:EIO" scan_json
check_eq "an I/O error is not fatal (exit 0)" 0 $?
check_eq "it is counted" 1 "$(total errors)"
check_eq "and recorded as unreadable with EIO" "2|5" "$(q "SELECT state || '|' || error FROM files WHERE path = CAST('docs/sp ace.txt' AS BLOB)")"
check_exit "the next scan reads it again" 0 scan_json
check_eq "and it is present again" 0 "$(state_of "docs/sp ace.txt")"

# ---- marker: a root without it is refused, the others are scanned ----
mkdir -p "$T/r2"
echo x >"$T/r2/x"
cat >"$T/two.conf" <<EOF
[catalog]
path = $T/two.db
[root marked]
path = $T/r2
class = cache
marker = .fsd-root
[root plain]
path = $R
class = cache
EOF
"$FSDCTL" scan -c "$T/two.conf" >"$T/two.out" 2>&1
check_eq "a missing marker is an error (exit 2)" 2 $?
check_grep "the message names the marker" "marker '.fsd-root' is missing" "$T/two.out"
check_eq "the other root was scanned" 5 "$(sqlite3 "$T/two.db" "SELECT count(*) FROM files f JOIN roots r ON r.id = f.root_id WHERE r.name = 'plain' AND f.state = 0")"
check_eq "nothing of the refused root" 0 "$(sqlite3 "$T/two.db" "SELECT count(*) FROM files f JOIN roots r ON r.id = f.root_id WHERE r.name = 'marked'")"
touch "$T/r2/.fsd-root"
check_exit "with the marker it is scanned" 0 "$FSDCTL" scan -c "$T/two.conf" marked
"$FSDCTL" scan -c "$T/two.conf" nosuchroot >/dev/null 2>&1
check_eq "an unknown root name is an error" 2 $?

# ---- corrupt catalog: refused, untouched ----
head -c 16384 /dev/urandom >"$T/junk.db"
sum=$(sha256sum <"$T/junk.db")
"$FSDCTL" scan -c "$T/fsd.conf" -C "$T/junk.db" >"$T/junk.out" 2>&1
check_eq "a corrupt catalog is an error (exit 2)" 2 $?
check_grep "with a clear message" "junk.db: not a usable catalog" "$T/junk.out"
check_eq "the file is untouched" "$sum" "$(sha256sum <"$T/junk.db")"
check "no WAL left beside it" test ! -e "$T/junk.db-wal"
sqlite3 "$T/other.db" "CREATE TABLE chat (id TEXT)"
"$FSDCTL" scan -c "$T/fsd.conf" -C "$T/other.db" >"$T/other.out" 2>&1
check_eq "another program's database is refused" 2 $?
check_grep "and said so" "not an fsd catalog" "$T/other.out"

# ---- privileged parts: a bind mount inside the root, an unreadable file ----
if [ "$(id -u)" -ne 0 ]; then
	ok "bind mount skipped # SKIP needs root"
	ok "unreadable file # SKIP needs root"
	done_testing
	exit
fi

mkdir -p "$R/mnt" "$T/elsewhere"
echo "bound" >"$T/elsewhere/bound.txt"
if mount --bind "$T/elsewhere" "$R/mnt"; then
	at_exit "umount '$R/mnt'"
	check_exit "scan with a bind mount inside the root" 0 scan_json
	check_eq "nothing below the bind mount" 0 "$(q "SELECT count(*) FROM files WHERE path >= CAST('mnt/' AS BLOB) AND path < CAST('mnt0' AS BLOB)")"
	umount "$R/mnt"
else
	ok "bind mount # SKIP mount --bind not permitted here"
fi

# An unprivileged user scans a tree holding a file only root may read.
chmod 755 "$T"
U=$T/user
mkdir -p "$U/tree/sub" "$U/state"
echo readable >"$U/tree/sub/ok.txt"
echo private >"$U/tree/sub/private.txt"
chmod 000 "$U/tree/sub/private.txt"
chmod -R a+rX "$U/tree"
chmod 000 "$U/tree/sub/private.txt"
chown nobody "$U/state"
cat >"$U/fsd.conf" <<EOF
[catalog]
path = $U/state/catalog.db
[root tree]
path = $U/tree
class = cache
EOF
chmod 644 "$U/fsd.conf"
setpriv --reuid=nobody --regid=nogroup --clear-groups \
	"$FSDCTL" scan -c "$U/fsd.conf" --json >"$T/user.json" 2>"$T/user.err"
check_eq "the scan completes despite an unreadable file (exit 0)" 0 $?
check_eq "one error counted" 1 "$(jq -r .total.errors "$T/user.json")"
check_eq "the readable file is hashed" 1 "$(jq -r .total.hashed "$T/user.json")"
check_eq "the unreadable file is recorded with EACCES" "2|13|0" \
	"$(sqlite3 "$U/state/catalog.db" "SELECT state || '|' || error || '|' || (hash IS NOT NULL) FROM files WHERE path = CAST('sub/private.txt' AS BLOB)")"

# ---- exclude globs: the meaning every module shares (config_globs_match) ----
G=$T/globs
mkdir -p "$G/tree/logs/2026/11" "$G/tree/keep" "$G/tree/a/.git"
echo x >"$G/tree/logs/top.log"
echo x >"$G/tree/logs/2026/11/deep.log"
echo x >"$G/tree/keep/top.log"
echo x >"$G/tree/a/.git/HEAD"
echo x >"$G/tree/a/kept.txt"
cat >"$G/fsd.conf" <<EOF
[catalog]
path = $G/catalog.db
[root tree]
path = $G/tree
class = log
exclude = logs/*.log
exclude = .git
EOF
check_exit "scan with path and name globs" 0 "$FSDCTL" scan -c "$G/fsd.conf" --json >"$G/out.json" 2>"$G/err"
check_eq "'*' in a glob with '/' crosses directories; a name glob matches at any depth" \
	"a/kept.txt keep/top.log" \
	"$(sqlite3 "$G/catalog.db" "SELECT CAST(path AS TEXT) FROM files ORDER BY path" | tr '\n' ' ' | sed 's/ $//')"

# ---- the reaper's quarantine is never catalogued ----
Q=$T/quar
mkdir -p "$Q/tree/.fsd-quarantine/7/sub" "$Q/tree/sub/.fsd-quarantine"
echo held >"$Q/tree/.fsd-quarantine/7/sub/file"
echo mine >"$Q/tree/sub/.fsd-quarantine/x"
cat >"$Q/fsd.conf" <<EOF
[catalog]
path = $Q/catalog.db
[root tree]
path = $Q/tree
class = cache
EOF
check_exit "scan a root holding a quarantine" 0 "$FSDCTL" scan -c "$Q/fsd.conf" --json >"$Q/out.json" 2>"$Q/err"
check_eq "only the top-level quarantine is skipped" "sub/.fsd-quarantine/x" \
	"$(sqlite3 "$Q/catalog.db" "SELECT CAST(path AS TEXT) FROM files")"

done_testing
