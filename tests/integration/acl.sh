#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The gateway broker from broker-config/ keeps devices to their own topics:
# a device cannot publish under another device's topic, nor read another's
# acks; anonymous clients and wrong passwords are refused.  The home network's
# TLS listener: a device publishes over TLS with the gateway's CA; plain MQTT,
# another CA, a wrong password and anonymous clients are refused; subscribing
# to relais/#, $SYS/# or # as a device reads nothing, publishing under another
# device's topic is dropped.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/broker"
rl_broker_user relaisd
rl_broker_user vitals-1
rl_broker_user vitals-2
BROKER_PORT=$(rl_free_port)
rl_broker_start
# relaisd follows the broker's log (its stderr, here) for refusals
rl_relaisd_conf local.broker_log_file="$T/broker.log"
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

# --- the home network's TLS listener (broker-config/mosquitto.conf) ----------
tls() { # USER PASSWORD ARGS...: mosquitto_pub over TLS with the gateway's CA
    local u=$1 p=$2
    shift 2
    mosquitto_pub -h 127.0.0.1 -p "$BROKER_TLS_PORT" --cafile "$BROKER_CA" -u "$u" -P "$p" "$@"
}
tls vitals-1 "${RL_PW[vitals-1]}" -q 1 -i vitals-1-tls -t relais/dev/vitals-1/up/20 -m "$pack"
rl_wait_for 10 "pack 20 over TLS stored" sh -c \
    "[ \$(sqlite3 -readonly '$T/data/relais.db' \"SELECT count(*) FROM packs WHERE device='vitals-1' AND seq=20\") = 1 ]"
rl_log "ok: a device publishes over TLS"
# plain MQTT on the TLS port, another CA, a wrong password, anonymous: refused
if mosquitto_pub -h 127.0.0.1 -p "$BROKER_TLS_PORT" -u vitals-1 -P "${RL_PW[vitals-1]}" -q 1 \
    -t relais/dev/vitals-1/up/21 -m "$pack" 2>"$T/plain.err"; then
    rl_fail "plain MQTT was taken on the TLS listener"
fi
rl_log "ok: plain MQTT refused on the TLS listener ($(head -c 80 "$T/plain.err"))"
rl_broker_tls "$T/other-ca"
if mosquitto_pub -h 127.0.0.1 -p "$BROKER_TLS_PORT" --cafile "$T/other-ca/ca.crt" -u vitals-1 \
    -P "${RL_PW[vitals-1]}" -q 1 -t relais/dev/vitals-1/up/22 -m "$pack" 2>"$T/ca.err"; then
    rl_fail "a client pinning another CA connected"
fi
rl_expect_match "another CA refused" "$(cat "$T/ca.err")" 'certificate verify failed|TLS|SSL|rror'
if tls vitals-1 wrong -q 1 -t relais/dev/vitals-1/up/23 -m "$pack" 2>"$T/tlspw.err"; then
    rl_fail "a wrong password could publish over TLS"
fi
rl_expect_match "wrong password over TLS refused" "$(cat "$T/tlspw.err")" 'not authorised|Connection Refused'
if mosquitto_pub -h 127.0.0.1 -p "$BROKER_TLS_PORT" --cafile "$BROKER_CA" -q 1 \
    -t relais/dev/vitals-1/up/24 -m "$pack" 2>"$T/tlsanon.err"; then
    rl_fail "an anonymous client could publish over TLS"
fi
rl_expect_match "anonymous over TLS refused" "$(cat "$T/tlsanon.err")" 'not authorised|Connection Refused'
# ACL escapes over TLS: vitals-2 subscribes to everything and to $SYS, and
# publishes under vitals-1; it sees nothing of vitals-1 and its pack is dropped
mosquitto_sub -h 127.0.0.1 -p "$BROKER_TLS_PORT" --cafile "$BROKER_CA" -u vitals-2 \
    -P "${RL_PW[vitals-2]}" -q 1 -t 'relais/#' -t '$SYS/#' -t '#' -v -W 4 >"$T/wide.txt" 2>&1 &
wide=$!
sleep 0.5
tls vitals-2 "${RL_PW[vitals-2]}" -q 1 -t relais/dev/vitals-1/up/25 -m "$pack"
tls vitals-1 "${RL_PW[vitals-1]}" -q 1 -i vitals-1-tls -t relais/dev/vitals-1/up/26 -m "$pack"
rl_wait_for 10 "pack 26 over TLS stored" sh -c \
    "[ \$(sqlite3 -readonly '$T/data/relais.db' \"SELECT count(*) FROM packs WHERE device='vitals-1' AND seq=26\") = 1 ]"
wait "$wide" || true
rl_expect_eq "what vitals-2 read with relais/#, \$SYS/# and #" \
    "$(grep -c -e '^relais/' -e '^\$SYS' "$T/wide.txt" || true)" 0
rl_expect_eq "pack 25 forged over TLS" "$(rl_sqlite "SELECT count(*) FROM packs WHERE seq=25")" 0
rl_expect_eq "packs 21..24" "$(rl_sqlite "SELECT count(*) FROM packs WHERE seq BETWEEN 21 AND 24")" 0

# the broker's refusals reached relaisd's audit trail: four "not authorised"
# (anonymous and a wrong password, on each listener), the TLS failures
# (plain MQTT on the TLS port, another CA), each with its peer and port
refused() { rl_sqlite "SELECT count(*) FROM audit WHERE kind = 'device.refused' AND subject LIKE 'mqtt 127.0.0.1%' AND detail LIKE '%$1%'"; }
rl_wait_for 10 "four refusals for passwords audited" sh -c "[ \$(sqlite3 -readonly '$T/data/relais.db' \"SELECT count(*) FROM audit WHERE kind = 'device.refused' AND detail LIKE '%not authorised'\") -ge 4 ]"
rl_expect_eq "not authorised on the loopback listener" "$(refused "port $BROKER_PORT: not authorised")" 2
rl_expect_eq "not authorised on the TLS listener" "$(refused "port $BROKER_TLS_PORT: not authorised")" 2
[ "$(refused "port $BROKER_TLS_PORT: TLS: ")" -ge 2 ] ||
    rl_fail "the TLS refusals are not audited: $(rl_sqlite "SELECT detail FROM audit WHERE kind = 'device.refused'")"
rl_expect_eq "counted in the status" "$(rl_status_field local.refused)" "$(rl_sqlite "SELECT count(*) FROM audit WHERE kind = 'device.refused' AND subject LIKE 'mqtt %'")"
rl_relaisd_stop
rl_log "PASS"
