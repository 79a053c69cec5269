#!/bin/bash
# Bench: reap 100,000 unreferenced uploads with their rows from an Open
# WebUI database of 1,000,000 file rows (scale 1), against tmpreaper and
# find -delete removing the same tree. fsd's run is the whole command an
# operator types: quick-check scan, plan (merge of the catalog with the
# 1M owner rows), and apply with journal, quarantine and row deletion
# through one write connection. Target: >= 0.5x find -delete's files/s.
set -u
cd "$(dirname "$0")/.."
. bench/lib.sh

BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
BENCH_DIR=${BENCH_DIR:-/var/tmp/fsd-bench}
SCALE=${BENCH_SCALE:-1.0}
FSDCTL=$BUILD/fsdctl
SCHEMA=tests/fixtures/open-webui/schema-sqlite.sql
B=$BENCH_DIR/reap
FILES=$(awk -v s="$SCALE" 'BEGIN { printf "%d", 100000 * s }')
ROWS=$(awk -v s="$SCALE" 'BEGIN { printf "%d", 1000000 * s }')
OLD=$(($(date +%s) - 10 * 86400))

# The app database, built once: ROWS file rows, none referenced.
make_db() {
	[ -f "$B/webui.db" ] && [ "$(cat "$B/db.stamp" 2>/dev/null)" == "$ROWS" ] && return 0
	rm -f "$B/webui.db"*
	{
		cat "$SCHEMA"
		echo "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $ROWS)
		INSERT INTO file(id, user_id, filename, meta, created_at, path)
		SELECT printf('%08x-0000-4000-8000-%012x', i, i), 'u1', 'f.txt', '{}', $OLD,
		       printf('/app/backend/data/uploads/%08x-0000-4000-8000-%012x_f.txt', i, i) FROM c;"
		echo "PRAGMA journal_mode=WAL;"
	} | sqlite3 "$B/webui.db" >/dev/null || return 1
	echo "$ROWS" >"$B/db.stamp"
}

# A fresh tree of FILES uploads (the first FILES rows' files), back-dated.
make_tree() { # DIR
	rm -rf "$1"
	mkdir -p "$1"
	(
		cd "$1" || exit 1
		for ((i = 1; i <= FILES; i++)); do
			printf -v id '%08x-0000-4000-8000-%012x' "$i" "$i"
			printf '%s\n' "$id" >"${id}_f.txt"
		done
		find . -type f -print0 | xargs -0 touch -d "@$OLD"
	)
}

fsd_once() {
	local d=$B/data
	rm -rf "$d" "$B/cat.db"*
	mkdir -p "$d/cache"
	cp "$B/webui.db" "$d/webui.db"
	make_tree "$d/uploads"
	sync
	bench_time "$FSDCTL" reap --preset open-webui --data-dir "$d" --catalog "$B/cat.db" \
		--expire-rows 1d --apply --force --json || return 1
	# It must have done the work, not only timed something.
	local left
	left=$(find "$d/uploads" -path '*/.fsd-quarantine' -prune -o -type f -print | wc -l)
	local rows
	rows=$(sqlite3 "$d/webui.db" "SELECT count(*) FROM file")
	[ "$left" == 0 ] && [ "$rows" == $((ROWS - FILES)) ] || {
		bench_say "fsd left $left files and $rows rows"
		return 1
	}
	# The quarantine's eventual purge is the unlink find -delete does at once.
	local reap_t=$BENCH_T
	bench_time "$FSDCTL" quarantine --preset open-webui --data-dir "$d" --catalog "$B/cat.db" \
		purge --all || return 1
	PURGE_T=$BENCH_T
	BENCH_T=$reap_t
	[ "$(find "$d/uploads" -type f | wc -l)" == 0 ]
}

peer_once() { # find|tmpreaper
	make_tree "$B/peer"
	sync
	case "$1" in
	find) bench_time find "$B/peer" -type f -delete ;;
	tmpreaper) bench_time tmpreaper --mtime 1d "$B/peer" ;;
	esac
	[ "$(find "$B/peer" -type f | wc -l)" == 0 ] || return 1
}

main() {
	local fsd=() all=() fnd=() tmp=() i
	mkdir -p "$B"
	bench_say "reap: $FILES files, $ROWS rows"
	make_db || { bench_row "reap ${FILES} files + rows vs find -delete" FAIL - faster 0.5; exit 1; }
	for ((i = 0; i < BENCH_RUNS; i++)); do
		if fsd_once; then
			fsd+=("$BENCH_T")
			all+=("$(awk -v a="$BENCH_T" -v b="$PURGE_T" 'BEGIN { printf "%.3f", a + b }')")
		else
			fsd+=(FAIL)
			all+=(FAIL)
		fi
		peer_once find && fnd+=("$BENCH_T") || fnd+=(FAIL)
		if command -v tmpreaper >/dev/null; then
			peer_once tmpreaper && tmp+=("$BENCH_T") || tmp+=(FAIL)
		fi
	done
	local f p t
	f=$(bench_median "${fsd[@]}")
	p=$(bench_median "${fnd[@]}")
	t=${tmp:+$(bench_median "${tmp[@]}")}
	case " ${fsd[*]} " in *FAIL*) f=FAIL ;; esac
	# files/s ratio fsd/find is find's time over fsd's: "faster" with 0.5.
	bench_row "reap ${FILES} files + rows vs find -delete" "$f" "$p" faster 0.5
	local fa
	fa=$(bench_median "${all[@]}")
	case " ${all[*]} " in *FAIL*) fa=FAIL ;; esac
	bench_row "reap + quarantine purge vs find -delete" "$fa" "$p" faster 0.5
	bench_row "reap ${FILES} files + rows vs tmpreaper" "$f" "${t:--}" faster -
	bench_say "fsd files/s: $(awk -v n="$FILES" -v t="$f" 'BEGIN { if (t > 0) printf "%.0f", n / t }')," \
		"find -delete files/s: $(awk -v n="$FILES" -v t="$p" 'BEGIN { if (t > 0) printf "%.0f", n / t }')"
	rm -rf "$B/data" "$B/peer"
	[ "$f" != FAIL ]
}

main "$@"
