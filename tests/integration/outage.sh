#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The hospital link down for three simulated days, then back; then relaisd
# SIGKILLed while it drains.  Real mosquitto for both brokers, relaisd on a
# test clock, the devices as relais-loadgen / mosquitto_pub, a professional's
# persistent mosquitto_sub session recording the order of arrival.
#
#  1. outage: 3 days of vitals (one pack a minute, 3 readings each), a fever
#     on day 2 and three days of pill box silence (missed doses, alerts) while
#     the hospital broker is down: every pack acknowledged to its device, all
#     of it waits in the outbox
#  2. the broker back: the alerts raised during the outage arrive before any
#     backlog telemetry; a desaturation raised while the backlog drains
#     arrives before the backlog's end; every reading arrives (each
#     Observation identifier of the store's readings, no other); missed doses
#     arrive as MedicationAdministration "not-done"
#  3. another outage, then relaisd SIGKILLed three times during the drain:
#     nothing lost; what arrived twice carries the same identifier and the
#     same content
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/hospital_lib.sh"

GW=gw1
PATIENT=p-7f3a
TC0=2026-11-23T05:00:00Z
TC0_S=$(date -u -d "$TC0" +%s)
DAY_MS=86400000
PER_DAY=${OUTAGE_PACKS_PER_DAY:-1440}
LOADGEN="$RELAIS_BIN/tools/relais-loadgen"
[ -x "$LOADGEN" ] || rl_fail "no $LOADGEN"

trap 'rl_fail "a check failed (see the FAIL above)"' USR1

calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; } # EXPR [DECIMALS]
upstream() { rl_ctl --json status | jq -r ".upstream.$1"; }
connected() { [ "$(upstream connected)" = true ]; }
disconnected() { [ "$(upstream connected)" = false ]; }
outbox_rows() { rl_sqlite "SELECT count(*) FROM outbox"; }
outbox_empty() { [ "$(outbox_rows)" = 0 ]; }

hb_certs "$T/certs" "$GW"
hb_start hospital
BROKER_PORT=$(rl_free_port)
rl_broker_render "$T/broker" "$BROKER_PORT"
for u in relaisd vitals-1 pillbox-1; do rl_broker_user "$u"; done
rl_broker_start
printf '%s\n' "${RL_PW[vitals-1]}" >"$T/vitals.pw"
chmod 600 "$T/vitals.pw"

SUB="$T/hospital.out"
hb_sub_bg "$SUB" cert:hospital-had -q 1 -c -i had-desk -t "relais/gw/$GW/obs/+" -t "relais/gw/$GW/alert/+" -v
sleep 0.5

jq '.rules.device_silent.enabled = false' "$RELAIS_SRC/tests/scenarios/plans/base.json" >"$T/plan.json"
conf() {
    RL_GATEWAY_ID=$GW rl_relaisd_conf \
        careplan.file="$T/plan.json" \
        upstream.host=127.0.0.1 upstream.port="$HB_CERT_PORT" upstream.tls=true \
        upstream.ca_file="$HB_CA" upstream.cert_file="$HB_GW_CERT" upstream.key_file="$HB_GW_KEY" \
        upstream.reconnect_min_ms=100 upstream.reconnect_max_ms=500 \
        upstream.backlog_rate="${OUTAGE_BACKLOG_RATE:-400}" upstream.bundle_max=50
}
conf
rl_relaisd_start --test-clock "$TC0"
rl_wait_for 15 "relaisd connected to the hospital" connected

SEQ=1
# DAYS days of vitals-1 packs, one a minute, starting at day FIRST (0-based)
vitals_days() { # FIRST DAYS
    local first=$1 days=$2 n
    n=$((days * PER_DAY))
    "$LOADGEN" pub --port "$BROKER_PORT" --device vitals-1 --password-file "$T/vitals.pw" \
        --count "$n" --start-seq "$SEQ" --records 3 --inflight 50 \
        --bt-start $((TC0_S + first * 86400)) --bt-step $((86400 / PER_DAY)) \
        >>"$T/loadgen.out" 2>&1 || rl_fail "relais-loadgen failed"
    SEQ=$((SEQ + n))
}
one() { # DEVICE BODY
    rl_ack_session "$1"
    rl_pub "$1" "$SEQ" -m "$2"
    rl_wait_ack "$1" "$SEQ" 10 >/dev/null || rl_fail "no ack for $1 pack $SEQ"
    SEQ=$((SEQ + 1))
}

# --- 1. three days without the hospital -------------------------------------

hb_stop
rl_wait_for 10 "relaisd to see the hospital gone" disconnected
OUTAGE_START_MS=$(rl_ctl --json clock | jq -r .wall_ms)
for day in 0 1 2; do
    vitals_days "$day" 1
    if [ "$day" = 1 ]; then
        one vitals-1 "[{\"bn\":\"urn:dev:relais:vitals-1:\",\"bt\":$((TC0_S + 86400 + 43230)),\"n\":\"temp\",\"u\":\"Cel\",\"v\":39.4}]"
    fi
    rl_ctl clock advance "$DAY_MS" >/dev/null
done
sleep 1
rl_wait_for 20 "the rules to catch up" bash -c "[ \"\$(sqlite3 -readonly '$T/data/relais.db' \"SELECT count(*) FROM alerts WHERE rule = 'fever'\")\" -ge 1 ]"
OUTAGE_ALERTS=$(rl_sqlite "SELECT count(*) FROM alert_events WHERE notify = 1")
BACKLOG=$(outbox_rows)
VITALS_READINGS=$(rl_sqlite "SELECT count(*) FROM readings WHERE mtag IN ($(rl_mtag temp), $(rl_mtag spo2), $(rl_mtag hr))")
# (slot states are sealed: each missed slot has its outbox row, kind 3)
MISSED=$(rl_sqlite "SELECT count(*) FROM outbox WHERE kind = 3")
rl_log "outage: $VITALS_READINGS vitals readings, $OUTAGE_ALERTS notifications, $MISSED missed doses, $BACKLOG outbox rows"
[ "$VITALS_READINGS" -ge $((3 * 3 * PER_DAY)) ] || rl_fail "not every reading was stored"
[ "$OUTAGE_ALERTS" -ge 2 ] || rl_fail "the outage raised no alerts (fever, missed doses)"
[ "$MISSED" -ge 1 ] || rl_fail "no missed dose during the outage"
grep -q "^relais/" "$SUB" && rl_fail "something arrived while the hospital broker was down"
rl_ctl --json status | jq -e '.upstream.queue.alert >= 2 and .upstream.queue.vitals >= 4000' >/dev/null ||
    rl_fail "the status does not show the queue: $(rl_ctl --json status | jq -c .upstream.queue)"

# --- 2. the return: alerts first, a new alert before the backlog's end -------

LINES0=$(wc -l <"$SUB")
DRAIN_T0=$(date +%s.%N)
hb_restart
rl_wait_for 15 "relaisd back on the hospital broker" connected
rl_wait_for 20 "the backlog to start arriving" grep -q "^relais/gw/$GW/obs/" "$SUB"
# a desaturation now, while the backlog drains
NOW_S=$(($(rl_ctl --json clock | jq -r .wall_ms) / 1000))
one vitals-1 "[{\"bn\":\"urn:dev:relais:vitals-1:\",\"bt\":$NOW_S,\"n\":\"spo2\",\"u\":\"%\",\"v\":84}]"
RAISED_AT=$(date +%s.%N)
rl_wait_for 30 "the desaturation alert raised" bash -c "[ \"\$(sqlite3 -readonly '$T/data/relais.db' \"SELECT count(*) FROM alerts WHERE rule = 'desaturation'\")\" -ge 1 ]"
DESAT=$(rl_sqlite "SELECT id FROM alerts WHERE rule = 'desaturation' ORDER BY num DESC LIMIT 1")
rl_wait_for 30 "the desaturation alert delivered" grep -q "\"value\":\"$DESAT\"" "$SUB"
DESAT_ARRIVED=$(date +%s.%N)
rl_wait_for 180 "the backlog drained" outbox_empty
DRAIN_T1=$(date +%s.%N)
sleep 1
rl_log "drain: $BACKLOG rows in $(calc "$DRAIN_T1 - $DRAIN_T0") s; the desaturation alert arrived $(calc "($DESAT_ARRIVED - $RAISED_AT) * 1000" 0) ms after its reading was acknowledged (polled)"

tail -n +$((LINES0 + 1)) "$SUB" | nl -ba >"$T/drain.lines"
first_obs=$(grep -m1 -P "^\s*\d+\trelais/gw/$GW/obs/" "$T/drain.lines" | awk '{print $1}')
last_obs=$(grep -P "^\s*\d+\trelais/gw/$GW/obs/" "$T/drain.lines" | tail -1 | awk '{print $1}')
desat_line=$(grep -m1 "\"value\":\"$DESAT\"" "$T/drain.lines" | awk '{print $1}')
# every alert of the outage (raised before the drain) before the first obs
for id in $(rl_sqlite "SELECT DISTINCT alert FROM alert_events WHERE notify = 1 AND at_ms <= (SELECT max(at_ms) FROM alert_events WHERE alert != '$DESAT')" ); do
    [ "$id" = "$DESAT" ] && continue
    line=$(grep -m1 "\"value\":\"$id\"" "$T/drain.lines" | awk '{print $1}')
    [ -n "$line" ] || rl_fail "alert $id of the outage never arrived"
    [ "$line" -lt "$first_obs" ] || rl_fail "alert $id arrived at message $line, after the backlog began ($first_obs)"
done
rl_log "ok: the outage's alerts arrived before the first backlog Bundle (message $first_obs)"
[ "$desat_line" -lt "$last_obs" ] ||
    rl_fail "the desaturation alert (message $desat_line) did not pass the backlog (last at $last_obs)"
rl_log "ok: the alert raised during the drain (message $desat_line) passed the backlog (last Bundle at $last_obs)"

# every reading arrived: the identifiers of the Observations of vitals-1
grep "^relais/gw/$GW/obs/" "$SUB" | cut -d' ' -f2- |
    jq -r '.entry[].resource | select(.resourceType == "Observation") | .identifier[0].value' | sort >"$T/ids.all"
sort -u "$T/ids.all" >"$T/ids.uniq"
OBS=$(rl_sqlite "SELECT count(*) FROM readings WHERE lane = 3")
# the BP panel would merge two readings in one Observation; none here
[ "$(wc -l <"$T/ids.uniq")" -eq "$OBS" ] ||
    rl_fail "$(wc -l <"$T/ids.uniq") distinct Observations arrived for $OBS readings"
grep "^relais/gw/$GW/obs/" "$SUB" | cut -d' ' -f2- |
    jq -r '.entry[].resource | select(.resourceType == "MedicationAdministration" and .status == "not-done") | .identifier[0].value' |
    sort -u >"$T/missed.ids"
[ "$(wc -l <"$T/missed.ids")" -eq "$MISSED" ] || rl_fail "$(wc -l <"$T/missed.ids") not-done for $MISSED missed doses"
rl_log "ok: all $OBS readings and $MISSED missed doses arrived ($(wc -l <"$T/ids.all") Observations received)"

# --- benchmark (tools/bench/uplink-drain.sh): the same messages from a plain
# publisher, the baseline of the drain rate -----------------------------------
if [ "${OUTAGE_BENCH:-0}" = 1 ]; then
    rl_relaisd_stop
    grep "^relais/gw/$GW/obs/" "$SUB" | cut -d' ' -f2- >"$T/bundles.txt"
    MSGS=$(wc -l <"$T/bundles.txt")
    B0=$(date +%s.%N)
    hb_pub pw:"$GW" -q 1 -i "$GW" -t "relais/gw/$GW/bench" -l <"$T/bundles.txt" ||
        rl_fail "the baseline publisher failed"
    B1=$(date +%s.%N)
    DRAIN_S=$(calc "$DRAIN_T1 - $DRAIN_T0")
    BASE_S=$(calc "$B1 - $B0")
    printf 'BENCH readings=%s messages=%s drain_s=%s drain_readings_per_s=%s baseline_s=%s baseline_readings_per_s=%s ratio=%s alert_latency_ms=%s\n' \
        "$OBS" "$MSGS" "$DRAIN_S" "$(calc "$OBS / $DRAIN_S" 0)" "$BASE_S" \
        "$(calc "$OBS / $BASE_S" 0)" "$(calc "$BASE_S / $DRAIN_S")" \
        "$(calc "($DESAT_ARRIVED - $RAISED_AT) * 1000" 0)"
    rl_log "PASS (benchmark)"
    exit 0
fi

# --- 3. SIGKILL during the drain ---------------------------------------------

hb_stop
rl_wait_for 10 "relaisd to see the hospital gone" disconnected
vitals_days 3 1
LINES1=$(wc -l <"$SUB")
BACKLOG2=$(outbox_rows)
hb_restart
for k in 1 2 3; do
    rl_wait_for 15 "relaisd draining (kill $k)" connected
    sleep 0.4
    kill -KILL "$RELAISD_PID"
    wait "$RELAISD_PID" 2>/dev/null || true
    left=$(outbox_rows)
    rl_log "SIGKILL $k with $left outbox rows left"
    [ "$k" != 1 ] || [ "$left" -gt 0 ] || rl_fail "the first SIGKILL came after the drain"
    rl_relaisd_start --test-clock "$(date -u -d "@$((TC0_S + 3 * 86400))" +%Y-%m-%dT%H:%M:%SZ)"
done
rl_wait_for 120 "the second backlog drained" outbox_empty
sleep 1
OBS2=$(rl_sqlite "SELECT count(*) FROM readings WHERE lane = 3")
grep "^relais/gw/$GW/obs/" "$SUB" | cut -d' ' -f2- |
    jq -c '.entry[].resource | select(.resourceType == "Observation") | {id: .identifier[0].value, v: .valueQuantity.value, t: .effectiveDateTime}' |
    sort >"$T/obs.all"
sort -u "$T/obs.all" >"$T/obs.uniq"
jq -r .id "$T/obs.uniq" | sort -u >"$T/ids2.uniq"
[ "$(wc -l <"$T/ids2.uniq")" -eq "$OBS2" ] ||
    rl_fail "after the kills: $(wc -l <"$T/ids2.uniq") distinct Observations for $OBS2 readings"
[ "$(wc -l <"$T/obs.uniq")" -eq "$(wc -l <"$T/ids2.uniq")" ] ||
    rl_fail "an identifier arrived twice with different content"
DUPS=$(($(wc -l <"$T/obs.all") - $(wc -l <"$T/obs.uniq")))
rl_log "ok: $BACKLOG2 rows drained across 3 SIGKILLs: all $OBS2 readings arrived; $DUPS sent twice, each with the same identifier and content"
rl_log "PASS"
