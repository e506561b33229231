#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The CoAP server's bounds: DTLS sessions at once, handshakes per second;
# and a removed device's open DTLS session is closed at once.
. "$(dirname "$0")/lib.sh"
: "${RELAIS_COAP:?}"

mkdir -p "$T/broker"
rl_broker_user relaisd
BROKER_PORT=$(rl_free_port)
rl_broker_start
DP=$(rl_free_port)
rl_relaisd_conf coap.dtls_port="$DP" coap.bind=127.0.0.1 coap.max_sessions=2 coap.handshake_rate=3 \
    coap.request_rate=1000
rl_relaisd_start
psk_of() { sed -n 's/.*"psk": "\([^"]*\)".*/\1/p'; }
declare -A K
for d in box-a box-b box-c box-d; do K[$d]=$(rl_ctl --json device add "$d" --kind pillbox | psk_of); done

stream() { # DEVICE: a device posting until told to stop (SIGUSR1); its pid in STREAM_PID
    "$RELAIS_COAP" post --port "$DP" --device "$1" --psk "${K[$1]}" --count 0 --timeout-ms 500 \
        --acked-file "$T/$1.acked" >"$T/$1.out" 2>&1 &
    STREAM_PID=$!
    RL_PIDS+=("$STREAM_PID")
}
sessions() { rl_status_field coap.sessions; }

# two sessions: the limit
stream box-a
A=$STREAM_PID
stream box-b
B=$STREAM_PID
for _ in $(seq 50); do [ "$(sessions)" = 2 ] && break; sleep 0.1; done
rl_expect_eq "DTLS sessions" "$(sessions)" 2
# a third device is refused while they last
sleep 1 # let the handshake bucket refill
out=$(timeout 3 "$RELAIS_COAP" post --port "$DP" --device box-c --psk "${K[box-c]}" --count 1 --timeout-ms 800 || true)
rl_expect_match "the third session refused" "$out" '^$|answered=0'
rl_expect_match "audited with its reason" \
    "$(rl_sqlite "SELECT group_concat(detail) FROM audit WHERE kind='device.refused' AND subject='box-c'")" \
    'too many DTLS sessions'

# removing box-a closes its session at once; its next handshake is refused
rl_ctl device remove box-a >/dev/null
for _ in $(seq 50); do [ "$(sessions)" = 1 ] && break; sleep 0.1; done
rl_expect_eq "sessions after box-a's removal" "$(sessions)" 1
before=$(wc -l <"$T/box-a.acked")
sleep 1.5
rl_expect_eq "box-a answered after its removal" "$(wc -l <"$T/box-a.acked")" "$before"
rl_expect_match "box-a's new handshakes refused" \
    "$(rl_sqlite "SELECT group_concat(detail) FROM audit WHERE kind='device.refused' AND subject='box-a'")" \
    'unknown or removed device'
kill -USR1 "$B"
wait "$B" || rl_fail "box-b lost answers: $(cat "$T/box-b.out")"
kill -TERM "$A" 2>/dev/null || true

# handshakes per second: 3/s with bursts of 6; 15 in a row, some refused
sleep 2.5
out=$("$RELAIS_COAP" handshakes --port "$DP" --device box-d --psk "${K[box-d]}" --count 15 --timeout-ms 400 || true)
rl_log "$out"
answered=$(sed -n 's/.* answered=\([0-9]*\).*/\1/p' <<<"$out")
[ "$answered" -ge 3 ] && [ "$answered" -lt 15 ] || rl_fail "handshakes answered: $answered of 15 (want some, not all)"
rl_log "ok: $answered of 15 rapid handshakes accepted"
rl_expect_match "refused handshakes audited" \
    "$(rl_sqlite "SELECT group_concat(detail) FROM audit WHERE kind='device.refused' AND subject='box-d'")" \
    'too many handshakes per second'
kill -0 "$RELAISD_PID" || rl_fail "relaisd died"
rl_relaisd_stop
rl_log "PASS"
