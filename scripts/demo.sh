#!/bin/bash
# make demo: generates a demo Open WebUI data directory in ./demo/data
# (fresh each time), scans it into ./demo/catalog.db, audits it with the
# built-in open-webui preset and shows the report, then prints the reap
# plan (a dry run: nothing is removed). The generator also writes what it
# planted (demo/expected.tsv), so the report can be checked by eye.
# Exit status: 0 when the demo ran (the audit finding things is the point),
# non-zero when a step failed.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
FSDCTL=$BUILD/fsdctl
MKDEMO=$BUILD/fsd-mkdemo
DEMO=${DEMO:-demo} # where the demo lives; tests point it elsewhere
DATA=$DEMO/data
CATALOG=$DEMO/catalog.db
common=(--preset open-webui --data-dir "$DATA" --catalog "$CATALOG")

if [ -t 1 ]; then
	say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
	say() { printf '\n== %s\n' "$*"; }
fi

# run CMD...: runs a step; 0 and 1 (findings) are fine, anything else stops the demo.
run() {
	printf '$ %s\n' "$*"
	"$@"
	local rc=$?
	if [ "$rc" -gt 1 ]; then
		echo "demo: '$*' failed with exit status $rc" >&2
		exit 2
	fi
	return 0
}

for p in "$FSDCTL" "$MKDEMO"; do
	[ -x "$p" ] || { echo "demo: $p is missing; run 'make demo'" >&2; exit 2; }
done

mkdir -p "$DEMO"
rm -f "$CATALOG" "$CATALOG-wal" "$CATALOG-shm" "$DEMO/expected.tsv"
say "1. A demo Open WebUI data directory"
"$MKDEMO" "$DATA" --force --fixtures tests/fixtures --manifest "$DEMO/expected.tsv" || exit 2
cat <<EOF
$DATA holds webui.db (Open WebUI's real schema), uploads/, vector_db/
(Chroma's real schema) and cache/. Planted in it, besides live files:
$(cut -f1 "$DEMO/expected.tsv" | sort | uniq -c | sed 's/^/  /')
($DEMO/expected.tsv lists each one.)
EOF

say "2. Scan: catalog every file, hashed"
run "$FSDCTL" scan "${common[@]}"

# A failing disk flips a bit in a live upload and leaves size and mtime
# alone; only the content hash in the catalog can tell.
"$MKDEMO" "$DATA" --bit-rot || exit 2

say "3. Audit: disk x catalog x webui.db x Chroma"
run "$FSDCTL" audit "${common[@]}"

if "$FSDCTL" --help 2>&1 | grep -qE '^ +reap '; then
	say "4. Reap plan (dry run: nothing is removed)"
	run "$FSDCTL" reap "${common[@]}"
fi

cat <<EOF

What you see:
  orphan        uploads no file row owns and nothing mentions, older than the
                24 h grace period: what the reaper removes
  pending       the same but younger: an upload whose row may not be committed yet
  unowned-referenced
                an upload with no file row that a chat still mentions: kept by
                the reaper, worth a look
  dangling      file rows whose upload is gone from disk
  unreferenced  file rows that no chat, knowledge base, channel, note, folder,
                model or shared chat references any more (their uploads too)
  duplicate     the same content under different names
  changed       a live upload whose content changed under an unchanged size and
                mtime (the bit flipped after the scan)
  vector-*      Chroma collections of deleted files, knowledge bases and users,
                an index directory with no segment, embeddings with no segment
Model caches (cache/embedding, cache/whisper, cache/tiktoken) are never reapable.
The audit read webui.db and chroma.sqlite3 read-only; its own state is $CATALOG.
Try: $FSDCTL audit --json ${common[*]} | jq .
EOF
exit 0
