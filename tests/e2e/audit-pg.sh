#!/bin/bash
# End-to-end: reference sources on a real PostgreSQL, started here in a
# private directory (unix socket only, a cluster whose default collation
# is ICU "en", so that bytewise order is not the database's natural one).
# The owner stream in bytewise order for text and integer keys, the live
# merge and JSON tokens, probes, removal in one transaction, read-only
# handles that cannot write even through a data-modifying query, a table
# locked by another session (-EBUSY within the busy timeout), bad SQL, a
# missing database, and fsdctl audit with a PostgreSQL source.
. "$(dirname "$0")/../lib/tap.sh"

PROBE=$BUILD/tests/refs-probe
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
	echo "ok 1 - # SKIP no PostgreSQL server binaries (scripts/install-deps.sh check)"
	done_testing
	exit 0
fi

# --- a private cluster ---------------------------------------------------------------
P=$T/pg
mkdir -p "$P"
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
	chmod 755 "$T"
	chown postgres "$P"
	as_pg=(runuser -u postgres --)
fi
"${as_pg[@]}" "$PGBIN/initdb" -D "$P/data" -A trust -U postgres --no-sync -E UTF8 \
	--locale=C.utf8 --locale-provider=icu --icu-locale=en >"$T/initdb.log" 2>&1
check_eq "initdb" 0 $?
"${as_pg[@]}" "$PGBIN/pg_ctl" -D "$P/data" -l "$P/log" -w \
	-o "-k $P -c listen_addresses='' -p 5432 -c fsync=off" start >/dev/null 2>&1
check_eq "server started" 0 $?
at_exit "${as_pg[*]} $PGBIN/pg_ctl -D $P/data -m immediate stop"
psql=(psql -X -q -v ON_ERROR_STOP=1 -h "$P" -p 5432 -U postgres)
"${psql[@]}" -d postgres -c "CREATE DATABASE webui"
check_eq "the cluster's own order is not bytewise" "t f" \
	"$("${psql[@]}" -d webui -Atc "SELECT 'a' < 'B', 'a' < 'B' COLLATE \"C\"" | tr '|' ' ')"

U4=0a1b2c3d-0000-4000-8000-000000000004
"${psql[@]}" -d webui <<EOF
CREATE TABLE file (id varchar PRIMARY KEY, path text, created_at bigint);
CREATE TABLE chat_file (id text PRIMARY KEY, file_id text NOT NULL);
CREATE TABLE knowledge_file (id text PRIMARY KEY, file_id text NOT NULL);
CREATE TABLE chat (id text PRIMARY KEY, chat json);
CREATE TABLE num (id integer PRIMARY KEY, path text);
CREATE SEQUENCE probe_seq;
INSERT INTO file VALUES ('B', '/app/uploads/B_b.txt', 1), ('a', '/app/uploads/a_a.txt', 2),
 ('A', '/app/uploads/A_a.txt', 3), ('$U4', '/app/uploads/${U4}_d.txt', NULL),
 ('zz', NULL, 5), ('gone', '/app/uploads/gone_x.txt', 6);
INSERT INTO chat_file VALUES ('c1', 'a'), ('c2', 'zz'), ('c3', 'gone');
INSERT INTO knowledge_file VALUES ('k1', 'B');
INSERT INTO chat VALUES ('h1', '{"x":"/api/v1/files/${U4^^}/content"}');
INSERT INTO num VALUES (9, 'n9'), (10, 'n10'), (100, 'n100');
EOF
URL="postgresql://postgres@/webui?host=$P&port=5432"

W=$T/data
mkdir -p "$W/uploads"
cat >"$T/fsd.conf" <<EOF
[catalog]
path = $T/catalog.db
[defaults]
grace = 1h
[paths]
map = /app => $W
[source webui]
url = $URL
owners = SELECT id, path, created_at FROM file
live = SELECT file_id FROM chat_file
live = SELECT file_id FROM knowledge_file
live-text = SELECT chat FROM chat
remove = DELETE FROM chat_file WHERE file_id = :key
remove = DELETE FROM file WHERE id = :key
busy-timeout = 300ms
[source num]
url = $URL
owners = SELECT id, path FROM num
[root uploads]
path = $W/uploads
class = upload
key = regex
key-regex = ^([^_]+)_
source = webui
EOF
probe() { "$PROBE" "$T/fsd.conf" "$@"; }
cat >"$T/writer.conf" <<EOF
[source writer]
url = $URL
owners = SELECT id, path FROM file
live-text = SELECT nextval('probe_seq')::text
EOF
# run_to OUT ERR CMD...: CMD's output into files (not check_exit's TAP line)
run_to() {
	local out=$1 err=$2
	shift 2
	"$@" >"$out" 2>"$err"
}

# --- streams and probes ------------------------------------------------------------------
check_eq "owners in bytewise order, with liveness" \
	"$(printf '%s\n' "$U4	/app/uploads/${U4}_d.txt	-1	1" "A	/app/uploads/A_a.txt	3	0" \
		"B	/app/uploads/B_b.txt	1	1" "a	/app/uploads/a_a.txt	2	1" \
		"gone	/app/uploads/gone_x.txt	6	1" "zz	-	5	1")" \
	"$(probe webui owners)"
check_eq "integer keys ordered as text" "$(printf '10\n100\n9')" "$(probe num owners | cut -f1)"
check_eq "stats: owners, live, live rows, tokens" "owners 6 live 5 live_rows 4 tokens 1" \
	"$(probe webui stats | tail -1)"
check_eq "random probes" "$(printf 'a\t1\nA\t0\n%s\t1\nnope\t0' "$U4")" \
	"$(probe webui is-live a A "$U4" nope)"
check_eq "owner probes" "$(printf 'A\t1\nnope\t0')" "$(probe webui is-owner A nope)"

# --- read-only ----------------------------------------------------------------------------
check_exit "a query that writes fails on a read-only handle" 2 \
	"$PROBE" "$T/writer.conf" writer owners 2>"$T/ro.err"
check_grep "  as a read-only transaction" "live-text query #1: .*read-only transaction" "$T/ro.err"
check_eq "  and wrote nothing" "f" "$("${psql[@]}" -d webui -Atc "SELECT is_called FROM probe_seq")"

# --- fsdctl audit with a PostgreSQL source -------------------------------------------------
old=$(($(date +%s) - 7200))
for f in "B_b.txt" "a_a.txt" "A_a.txt" "orphan_o.txt" "zz_z.txt"; do
	echo "$f" >"$W/uploads/$f"
	touch -d "@$old" "$W/uploads/$f"
done
check_exit "audit finds things" 1 run_to "$T/audit.json" "$T/audit.err" \
	"$FSDCTL" audit -c "$T/fsd.conf" --json --category orphan,dangling,unreferenced
check_eq "exact findings" \
	"$(printf '%s\n' "dangling $U4" "unreferenced A" "dangling gone" "orphan orphan" \
		"dangling 10" "unreferenced 10" "dangling 100" "unreferenced 100" "dangling 9" \
		"unreferenced 9")" \
	"$(jq -r '.findings[] | "\(.category) \(.key)"' "$T/audit.json")"

# --- errors -------------------------------------------------------------------------------
coproc LOCKER { "${psql[@]}" -d webui 2>&1; }
locker=$LOCKER_PID
at_exit "kill $locker"
printf '%s\n' "BEGIN;" "LOCK TABLE file IN ACCESS EXCLUSIVE MODE;" "\\echo locked" >&"${LOCKER[1]}"
read -r -t 10 line <&"${LOCKER[0]}"
check_eq "another session locks the file table" "locked" "$line"
start=$(date +%s%N)
check_exit "a locked table is -EBUSY" 2 probe webui owners 2>"$T/busy.err"
check "  within the busy timeout, not the default 5 s" test $((($(date +%s%N) - start) / 1000000)) -lt 4500
check_grep "  and says so" "source 'webui': owners query: database 'postgresql://postgres@/webui.*' is locked \(still busy after 300 ms\)" "$T/busy.err"
check_exit "fsdctl audit on a locked table exits 2" 2 run_to "$T/locked.txt" "$T/locked.err" \
	"$FSDCTL" audit -c "$T/fsd.conf" --no-scan --category orphan,dangling,unreferenced
check_grep "  saying the source is locked" "source 'webui'.*locked" "$T/locked.err"
check_nogrep "  and reporting no orphan" "Orphan" "$T/locked.txt"
printf '%s\n' "ROLLBACK;" "\\q" >&"${LOCKER[1]}"
wait "$locker" 2>/dev/null

sed 's/FROM file$/FROM files/' "$T/fsd.conf" >"$T/bad.conf"
check_exit "bad SQL" 2 "$PROBE" "$T/bad.conf" webui owners 2>"$T/bad.err"
check_grep "  names the query and the server's words" \
	"source 'webui': owners query: relation \"files\" does not exist" "$T/bad.err"
sed 's|/webui?|/nodb?|' "$T/fsd.conf" >"$T/nodb.conf"
check_exit "a database that does not exist" 2 "$PROBE" "$T/nodb.conf" webui owners 2>"$T/nodb.err"
check_grep "  says which" 'database "nodb" does not exist' "$T/nodb.err"

# --- removal, one transaction --------------------------------------------------------------
check_eq "remove two keys: two owner rows" 2 "$(probe webui remove gone zz)"
check_eq "  their rows and chat_file rows are gone" "0 0" \
	"$("${psql[@]}" -d webui -Atc "SELECT count(*) FROM file WHERE id IN ('gone','zz')") $(
		"${psql[@]}" -d webui -Atc "SELECT count(*) FROM chat_file WHERE file_id IN ('gone','zz')")"
sed 's/^remove = DELETE FROM file WHERE id = :key$/remove = DELETE FROM nosuch WHERE id = :key/' \
	"$T/fsd.conf" >"$T/badrm.conf"
check_exit "a failing remove statement" 2 "$PROBE" "$T/badrm.conf" webui remove a 2>/dev/null
check_eq "  rolls the whole batch back" 1 \
	"$("${psql[@]}" -d webui -Atc "SELECT count(*) FROM chat_file WHERE file_id = 'a'")"

done_testing
