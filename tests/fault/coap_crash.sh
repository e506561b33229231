#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SIGKILL relaisd at random moments (COAP_CRASH_CYCLES times, default 20)
# while a device sends a stream of confirmable POSTs over DTLS and resends
# whatever got no answer (with a new session when the old one went silent):
# every pack that was answered 2.04 is in the store exactly once.
. "$(dirname "$0")/../integration/lib.sh"
: "${RELAIS_COAP:?}"
CYCLES=${COAP_CRASH_CYCLES:-20}

mkdir -p "$T/broker"
rl_broker_user relaisd
BROKER_PORT=$(rl_free_port)
rl_broker_start
DP=$(rl_free_port)
rl_relaisd_conf coap.dtls_port="$DP" coap.bind=127.0.0.1 coap.request_rate=100000 \
    coap.handshake_rate=1000
rl_relaisd_start
KEY=$(rl_ctl --json device add box-1 --kind pillbox | sed -n 's/.*"psk": "\([^"]*\)".*/\1/p')

"$RELAIS_COAP" post --port "$DP" --device box-1 --psk "$KEY" --count 0 --inflight 4 \
    --timeout-ms 400 --acked-file "$T/acked.txt" >"$T/client.out" 2>"$T/client.log" &
CLIENT=$!
RL_PIDS+=("$CLIENT")

for cycle in $(seq "$CYCLES"); do
    sleep "0.$(printf '%03d' $((100 + RANDOM % 600)))"
    kill -KILL "$RELAISD_PID" 2>/dev/null || rl_fail "relaisd was not running at cycle $cycle"
    wait "$RELAISD_PID" 2>/dev/null || true
    [ $((RANDOM % 2)) -eq 0 ] || sleep "0.$((RANDOM % 3))"
    "$RELAISD" -c "$T/relaisd.conf" >>"$T/relaisd.log" 2>&1 &
    RELAISD_PID=$!
    RL_PIDS+=("$RELAISD_PID")
done
rl_log "$CYCLES SIGKILL cycles done; draining"
kill -USR1 "$CLIENT"
for _ in $(seq 300); do kill -0 "$CLIENT" 2>/dev/null || break; sleep 0.1; done
kill -0 "$CLIENT" 2>/dev/null && rl_fail "packs still unanswered after 30 s: $(tail -3 "$T/client.log")"
wait "$CLIENT" || rl_fail "the client ended with unanswered packs: $(cat "$T/client.out")"
cat "$T/client.out"
rl_relaisd_stop

answered=$(grep -c ' 2\.04$' "$T/acked.txt" || true)
[ "$answered" -ge 200 ] || rl_fail "only $answered packs answered 2.04: the test is too weak"
rl_log "$answered packs answered 2.04 across $CYCLES crashes"
grep ' 2\.04$' "$T/acked.txt" | cut -d' ' -f1 | sort -n >"$T/answered.seqs"
rl_sqlite "SELECT seq FROM packs WHERE device = 'box-1'" | sort -n >"$T/stored.seqs"
comm -23 "$T/answered.seqs" "$T/stored.seqs" >"$T/missing.seqs"
rl_expect_eq "answered packs missing from the store ($(head -3 "$T/missing.seqs" | tr '\n' ' '))" \
    "$(wc -l <"$T/missing.seqs")" 0
rl_expect_eq "packs stored more than once" \
    "$(rl_sqlite "SELECT count(*) FROM (SELECT seq FROM packs WHERE device='box-1' GROUP BY seq HAVING count(*) > 1)")" 0
rl_expect_eq "integrity_check" "$(rl_sqlite 'PRAGMA integrity_check')" ok
rl_log "PASS"
