#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# relaisd's side of the systemd unit's Type=notify and WatchdogSec
# (edge/relaisd.service), against a stand-in for the service manager's
# notify socket (tests/tools/notify_listen; no systemd runs here):
#   READY=1 once the store, the brokers' links and the control socket are
#   up; WATCHDOG=1 from the loop at half WATCHDOG_USEC; RELOADING=1 then
#   READY=1 on SIGHUP; STOPPING=1 on SIGTERM; every message from relaisd's
#   own pid; a stalled loop (SIGSTOP) sends no WATCHDOG=1 (what makes
#   systemd restart it).
source "$(dirname "$0")/lib.sh"
: "${RELAIS_NOTIFY_LISTEN:?}"

mkdir -p "$T/broker"
rl_broker_user relaisd
BROKER_PORT=$(rl_free_port)
rl_broker_start
rl_relaisd_conf

SOCK="$T/notify.sock"
"$RELAIS_NOTIFY_LISTEN" "$SOCK" 100 "$T/relaisd.pid" >"$T/notify.out" 2>&1 &
RL_PIDS+=("$!")
rl_wait_for 5 "the notify socket" test -S "$SOCK"

NOTIFY_SOCKET=$SOCK WATCHDOG_USEC=2000000 "$RELAISD" -c "$T/relaisd.conf" >>"$T/relaisd.log" 2>&1 &
RELAISD_PID=$!
echo "$RELAISD_PID" >"$T/relaisd.pid"
RL_PIDS+=("$RELAISD_PID")
count() { grep -c -- "$1" "$T/notify.out" || true; }
rl_wait_for 15 "READY=1" grep -q '^READY=1' "$T/notify.out"
[ "$(rl_status_field local.connected)" = true ] || rl_fail "READY=1 before the broker link was up"

# the watchdog at half its interval: about one a second
W0=$(count '^WATCHDOG=1')
sleep 3.2
W1=$(count '^WATCHDOG=1')
[ $((W1 - W0)) -ge 2 ] && [ $((W1 - W0)) -le 5 ] || rl_fail "$((W1 - W0)) WATCHDOG=1 in 3.2 s (want about 3)"
rl_log "ok: $((W1 - W0)) WATCHDOG=1 in 3.2 s"

# a stalled loop feeds no watchdog
kill -STOP "$RELAISD_PID"
S0=$(count '^WATCHDOG=1')
sleep 2.5
rl_expect_eq "WATCHDOG=1 while the loop is stopped" "$(count '^WATCHDOG=1')" "$S0"
kill -CONT "$RELAISD_PID"
rl_wait_for 5 "the watchdog again" sh -c "[ \$(grep -c '^WATCHDOG=1' '$T/notify.out') -gt $S0 ]"

# reload: RELOADING=1 (with its monotonic time) then READY=1
R0=$(count '^READY=1')
kill -HUP "$RELAISD_PID"
rl_wait_for 10 "RELOADING=1" grep -q '^RELOADING=1' "$T/notify.out"
rl_wait_for 10 "READY=1 after the reload" sh -c "[ \$(grep -c '^READY=1' '$T/notify.out') -gt $R0 ]"

# stop
rl_relaisd_stop
rl_wait_for 5 "STOPPING=1" grep -q '^STOPPING=1' "$T/notify.out"
rl_expect_eq "messages from another pid" "$(count '^FOREIGN')" 0
rl_log "sd_notify: $(tr '\n' '|' <"$T/notify.out" | cut -c1-300)"
