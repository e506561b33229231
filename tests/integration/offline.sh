#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Packs published while relaisd is stopped wait in its persistent session on
# the broker and are stored and acknowledged when it comes back.  relaisd
# survives the broker going away (reconnects with backoff, never gives up).
# SIGTERM in the middle of a stream commits, acknowledges and exits 0; after a
# restart every pack the device sent is in the store exactly once.
. "$(dirname "$0")/lib.sh"
: "${RELAIS_LOADGEN:?}"

mkdir -p "$T/broker"
rl_broker_user relaisd
rl_broker_user vitals-1
BROKER_PORT=$(rl_free_port)
rl_broker_start
rl_relaisd_conf
rl_relaisd_start
rl_ack_session vitals-1
rl_relaisd_stop
rl_log "relaisd stopped; publishing 40 packs"

now=$(date +%s)
for seq in $(seq 1 40); do
    if [ $((seq % 2)) -eq 0 ]; then
        rl_pub vitals-1 "$seq" -m "[{\"n\":\"temp\",\"u\":\"Cel\",\"v\":36.$((seq % 10)),\"t\":$((now + seq))}]"
    else
        printf '[{"n":"spo2","u":"%%","v":9%d,"t":%d}]' $((seq % 10)) $((now + seq)) | "$RELAIS_SENML" cbor >"$T/p.cbor"
        rl_pub vitals-1 "$seq" "$T/p.cbor"
    fi
done
rl_expect_eq "packs stored while relaisd is down" "$(rl_sqlite 'SELECT count(*) FROM packs' 2>/dev/null || echo 0)" 0
rl_relaisd_start
acks=$(rl_acks vitals-1 40 20)
rl_expect_eq "acks after the restart" "$(grep -c '"status":"stored"' <<<"$acks")" 40
rl_expect_eq "packs stored" "$(rl_sqlite 'SELECT count(*) FROM packs')" 40
rl_expect_eq "CBOR packs" "$(rl_sqlite 'SELECT count(*) FROM packs WHERE format = 1')" 20

# the broker goes away for a while: relaisd keeps trying, then resumes
rl_broker_stop
sleep 2
kill -0 "$RELAISD_PID" || rl_fail "relaisd died when the broker went away"
rl_expect_eq "connected while the broker is down" "$(rl_status_field local.connected)" false
rl_broker_start
for _ in $(seq 100); do
    [ "$(rl_status_field local.connected)" = true ] && break
    sleep 0.1
done
rl_expect_eq "connected again" "$(rl_status_field local.connected)" true
rl_pub vitals-1 41 -m "[{\"n\":\"temp\",\"u\":\"Cel\",\"v\":37.0}]"
rl_expect_match "ack after the broker came back" "$(rl_wait_ack vitals-1 41 10)" '/ack/41 .*"stored"'

# SIGTERM in the middle of a stream, then a restart
printf '%s\n' "${RL_PW[vitals-1]}" >"$T/dev.pw"
"$RELAIS_LOADGEN" pub --port "$BROKER_PORT" --device vitals-1 --password-file "$T/dev.pw" \
    --count 3000 --start-seq 1000 --inflight 50 --resend-ms 1500 --acked-file "$T/acked.txt" \
    >"$T/loadgen.out" 2>"$T/loadgen.log" &
LG=$!
RL_PIDS+=("$LG")
sleep 0.4
rl_relaisd_stop
rl_log "relaisd stopped cleanly in the middle of the stream"
rl_expect_eq "stopping audited" "$(rl_sqlite "SELECT count(*) FROM audit WHERE kind = 'relaisd.stopped'")" 2
sleep 0.5
rl_relaisd_start
wait "$LG" || rl_fail "loadgen: $(cat "$T/loadgen.log")"
cat "$T/loadgen.out"
rl_expect_eq "acknowledged packs" "$(wc -l <"$T/acked.txt")" 3000
rl_expect_eq "stream packs stored once each" \
    "$(rl_sqlite "SELECT count(DISTINCT seq) || '/' || count(*) FROM packs WHERE seq >= 1000")" 3000/3000
rl_relaisd_stop
rl_log "PASS"
