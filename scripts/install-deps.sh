#!/bin/sh
# Installs the Debian packages fsd needs to build, test, demo or bench.
# Usage: scripts/install-deps.sh [build|check|bench]
# As root it runs apt-get; otherwise it prints the exact command and stops.
set -eu

build="gcc make pkg-config libfuse3-dev fuse3 libsqlite3-dev sqlite3 libpq-dev
       libxxhash-dev libinih-dev libsystemd-dev libmicrohttpd-dev"
check="$build libcmocka-dev postgresql jq xxhash curl strace"
bench="$check rmlint tmpreaper bindfs time"

case "${1:-build}" in
build) want=$build ;;
check) want=$check ;;
bench) want=$bench ;;
*) echo "usage: $0 [build|check|bench]" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
	s=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	case "$s" in ii*) ;; *) missing="$missing $p" ;; esac
done
[ -n "$missing" ] || exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "fsd needs these Debian packages:$missing" >&2
	echo "install them with:" >&2
	echo "  sudo apt-get update && sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >&2
