#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The gateway broker from broker-config/ keeps devices to their own topics:
# a device cannot publish under another device's topic, nor read another's
# acks; anonymous clients and wrong passwords are refused.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/broker"
rl_broker_user relaisd
rl_broker_user vitals-1
rl_broker_user vitals-2
BROKER_PORT=$(rl_free_port)
rl_broker_start
rl_relaisd_conf
rl_relaisd_start
rl_ack_session vitals-1
rl_ack_session vitals-2

pack='[{"n":"temp","u":"Cel","v":37.1}]'
# vitals-2 tries to publish as vitals-1: the broker must drop it
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -u vitals-2 -P "${RL_PW[vitals-2]}" -q 1 \
    -t relais/dev/vitals-1/up/77 -m "$pack"
# vitals-2 tries to read vitals-1's acks
mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -u vitals-2 -P "${RL_PW[vitals-2]}" -q 1 \
    -t 'relais/dev/vitals-1/ack/+' -v -W 3 >"$T/spy.txt" 2>&1 &
spy=$!
sleep 0.5
# a legitimate pack from vitals-1, and one from vitals-2 under its own topic
rl_pub vitals-1 1 -m "$pack"
rl_pub vitals-2 1 -m "$pack"
rl_expect_match "vitals-1's ack" "$(rl_acks vitals-1 1 10)" '^relais/dev/vitals-1/ack/1 .*"status":"stored"'
rl_expect_match "vitals-2's ack" "$(rl_acks vitals-2 1 10)" '^relais/dev/vitals-2/ack/1 .*"status":"stored"'
wait "$spy" || true
rl_expect_eq "acks vitals-2 could read of vitals-1" "$(grep -c 'relais/dev/vitals-1/ack' "$T/spy.txt" || true)" 0
rl_expect_eq "packs stored under vitals-1" "$(rl_sqlite "SELECT group_concat(seq) FROM packs WHERE device='vitals-1'")" 1
rl_expect_eq "pack 77 forged by vitals-2" "$(rl_sqlite "SELECT count(*) FROM packs WHERE seq=77")" 0
rl_expect_eq "relaisd received" "$(rl_status_field ingest.received)" 2

# anonymous and wrong password
if mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t relais/dev/vitals-1/up/5 -m "$pack" 2>"$T/anon.err"; then
    rl_fail "an anonymous client could publish"
fi
rl_expect_match "anonymous refused" "$(cat "$T/anon.err")" 'not authorised|Connection Refused'
if mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -u vitals-1 -P wrong -q 1 -t relais/dev/vitals-1/up/6 -m "$pack" 2>"$T/pw.err"; then
    rl_fail "a wrong password could publish"
fi
rl_expect_match "wrong password refused" "$(cat "$T/pw.err")" 'not authorised|Connection Refused'
rl_expect_eq "packs 5 and 6" "$(rl_sqlite "SELECT count(*) FROM packs WHERE seq IN (5, 6)")" 0
rl_relaisd_stop
rl_log "PASS"
