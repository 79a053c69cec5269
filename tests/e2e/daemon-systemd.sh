#!/bin/bash
# fsd as a systemd service sees it: READY=1, STATUS= and WATCHDOG=1 on the
# notification socket (a stand-in listener), STOPPING=1 on SIGTERM; and
# the control socket's access rule: mode 0660, a peer in the socket's
# group is served, any other user cannot even connect.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/daemon-common.bash"

NOTIFY=$BUILD/tests/notify-listen
"$NOTIFY" "$T/notify.sock" "$T/notify.log" &
at_exit "kill $!"
wait_for 10 test -S "$T/notify.sock"

# A socket other users can reach (the test's scratch directory is private).
chmod 711 "$T"
mkdir -m 755 "$T/pub"
SOCK=$T/pub/fsd.sock
write_config
start_fsd NOTIFY_SOCKET="$T/notify.sock" WATCHDOG_USEC=400000
check "fsd answers" wait_ready
check "READY=1 is sent" wait_for 10 grep -qx READY=1 "$T/notify.log"
check_grep "STATUS= says what it watches" '^STATUS=Watching 1 root\(s\), [0-9]+ directories$' "$T/notify.log"
check "WATCHDOG=1 is sent within the watchdog period" wait_for 5 grep -qx WATCHDOG=1 "$T/notify.log"

check_eq "the control socket is mode 0660" 660 "$(stat -c %a "$SOCK")"
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
check_exit "a user outside the socket's group cannot connect" 2 \
	as_nobody "$FSDCTL" status --socket "$SOCK" 2>"$T/nobody.err"
check_grep "and is told why" "Permission denied" "$T/nobody.err"
chgrp nogroup "$SOCK"
check_exit "a member of the socket's group is served" 0 \
	as_nobody "$FSDCTL" status --socket "$SOCK" >/dev/null

check_exit "SIGTERM stops fsd" 0 stop_fsd
check "STOPPING=1 is sent" grep -qx STOPPING=1 "$T/notify.log"
done_testing
