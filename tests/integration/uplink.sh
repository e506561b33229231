#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Forwarding to the hospital through the real thing: the gateway's mosquitto
# (broker-config/), the hospital's mosquitto (broker-config/hospital/, TLS,
# certificates made now), relaisd with a care plan on a test clock, devices
# as mosquitto_pub clients and a professional as a mosquitto_sub client.
#
#  1. readings of every kind and a dose -> transaction Bundles on
#     relais/gw/gw1/obs/{patient}; a fever -> a HIGH alert as a message Bundle
#     on relais/gw/gw1/alert/had; all valid FHIR R4 (the npm `fhir`
#     validator); deterministic identifiers (conditional create); the outbox
#     empties, packs and alert events get forwarded_ms
#  2. the retained status: online, queue per lane, devices, clock, drops
#  3. a care plan on the retained careplan topic: applied, answered; a bad one
#     answered "rejected" with its first bad field, the previous one stays
#  4. acknowledgements on alert/ack: applied by name, answered; bad ones
#     (unknown alert, bad action, unknown member, not JSON) answered with why
#     and audited; relaisd keeps running
#  5. the hospital broker presenting a certificate from another CA, then an
#     expired one: relaisd refuses to connect (nothing sent, the outbox keeps
#     the rows); a gateway certificate that expired: the broker refuses it
#  6. SIGTERM: the retained status says offline
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/hospital_lib.sh"

GW=gw1
PATIENT=p-7f3a
TC0=2026-11-23T05:00:00Z
VALIDATE="$RELAIS_SRC/tools/fhir-validate/validate.js"
[ -f "$VALIDATE" ] || rl_fail "no FHIR validator at $VALIDATE"
[ -d "$RELAIS_SRC/tools/fhir-validate/node_modules/fhir" ] ||
    rl_fail "the npm package fhir is not installed (tools/install-deps.sh installs it)"

trap 'rl_fail "a check failed (see the FAIL above)"' USR1
die() {
    printf '[%s] FAIL: %s\n' "$(date +%H:%M:%S.%3N)" "$*" >&2
    kill -USR1 $$
    exit 1
}


up_connected() { [ "$(rl_status_field upstream.connected)" = true ]; }
up_disconnected() { [ "$(rl_status_field upstream.connected)" = false ]; }
stalled() { [ "$(rl_status_field upstream.stalls)" -ge 1 ]; }
reloads_above() { [ "$(rl_status_field config.reloads)" -gt "$1" ]; }
outbox_empty() { [ "$(rl_sqlite "SELECT count(*) FROM outbox")" = 0 ]; }
dead_letters_exist() { [ "$(rl_sqlite "SELECT count(*) FROM dead_letters")" -ge 1 ]; }

# relaisd's configuration: the hospital's certificate listener with the
# gateway's certificate; further section.key=value arguments win
gw_conf() {
    RL_GATEWAY_ID=$GW rl_relaisd_conf \
        careplan.file="$T/v1.json" \
        upstream.host=127.0.0.1 upstream.port="$HB_CERT_PORT" upstream.tls=true \
        upstream.ca_file="$HB_CA" upstream.cert_file="$HB_GW_CERT" upstream.key_file="$HB_GW_KEY" \
        upstream.reconnect_min_ms=100 upstream.reconnect_max_ms=1000 "$@"
}

# --- the brokers and relaisd -------------------------------------------------

hb_certs "$T/certs" "$GW"
hb_start hospital
BROKER_PORT=$(rl_free_port)
rl_broker_render "$T/broker" "$BROKER_PORT"
for u in relaisd pillbox-1 vitals-1 tablet-1; do rl_broker_user "$u"; done
rl_broker_start

# the professional's persistent session, before anything is sent (the
# certificate listener makes the certificate's CN the client id: one session
# per certificate; the other reads use password accounts)
SUB="$T/hospital.out"
hb_sub_bg "$SUB" cert:hospital-had -q 1 -c -i had-desk -t "relais/gw/$GW/#" -v
sleep 0.5

jq '.rules.device_silent.enabled = false' "$RELAIS_SRC/tests/scenarios/plans/base.json" >"$T/v1.json"
gw_conf upstream.status_interval_s=2
rl_relaisd_start --test-clock "$TC0"
rl_wait_for 15 "relaisd connected to the hospital broker" \
    up_connected

clock_s() { echo $(($(rl_ctl --json clock | jq -r .wall_ms) / 1000)); }

SEQ=0
pub() { # DEVICE BODY
    SEQ=$((SEQ + 1))
    rl_ack_session "$1"
    if [[ $2 == *'"dose"'* ]]; then
        # a dose pack is signed with the pill box's record key (docs/contract.md)
        [ -n "${RL_RK[$1]:-}" ] || rl_pillbox_add "$1" "$PATIENT"
        printf '%s' "$2" >"$T/pack.$SEQ"
        rl_pub_signed "$1" "$SEQ" "$T/pack.$SEQ"
    else
        rl_pub "$1" "$SEQ" -m "$2"
    fi
    local ack
    ack=$(rl_wait_ack "$1" "$SEQ" 10) || rl_fail "no ack for $1 pack $SEQ"
    rl_expect_match "ack of $1/$SEQ" "$ack" '"status":"stored"'
}

# --- 1. telemetry and an alert --------------------------------------------

T0=$(clock_s)
pub vitals-1 "[{\"bn\":\"urn:dev:relais:vitals-1:\",\"bt\":$T0,\"n\":\"temp\",\"u\":\"Cel\",\"v\":37.1},
 {\"n\":\"spo2\",\"u\":\"%\",\"v\":97},{\"n\":\"hr\",\"u\":\"beat/min\",\"v\":72},
 {\"n\":\"bp_sys\",\"u\":\"mmHg\",\"v\":128},{\"n\":\"bp_dia\",\"u\":\"mmHg\",\"v\":81},
 {\"n\":\"weight\",\"u\":\"kg\",\"v\":99.5},{\"n\":\"resp\",\"u\":\"1/min\",\"v\":16},
 {\"n\":\"steps\",\"u\":\"count\",\"v\":1200},{\"n\":\"battery\",\"u\":\"%EL\",\"v\":83},
 {\"n\":\"skin_temp\",\"u\":\"Cel\",\"v\":33.2}]"
pub pillbox-1 "[{\"bn\":\"urn:dev:relais:pillbox-1:\",\"bt\":$((T0 + 600)),\"n\":\"dose\",\"vs\":\"am\"},{\"n\":\"lid\",\"vb\":true}]"
pub tablet-1 "[{\"bn\":\"urn:dev:relais:tablet-1:\",\"bt\":$T0,\"n\":\"pro_nausea\",\"v\":1}]"
pub vitals-1 "[{\"bn\":\"urn:dev:relais:vitals-1:\",\"bt\":$((T0 + 60)),\"n\":\"temp\",\"u\":\"Cel\",\"v\":39.2}]"

obs_msgs() { grep -c "^relais/gw/$GW/obs/$PATIENT " "$SUB" || true; }
alert_msgs() { grep -c "^relais/gw/$GW/alert/had " "$SUB" || true; }
outbox_rows() { rl_sqlite "SELECT count(*) FROM outbox"; }
rl_wait_for 20 "the alert on relais/gw/$GW/alert/had" bash -c "grep -q '^relais/gw/$GW/alert/had ' '$SUB'"
rl_wait_for 20 "the outbox to empty" outbox_empty
sleep 0.5

# every message's body, one JSON per line, by kind
grep "^relais/gw/$GW/obs/$PATIENT " "$SUB" | cut -d' ' -f2- >"$T/obs.jsonl"
grep "^relais/gw/$GW/alert/had " "$SUB" | cut -d' ' -f2- >"$T/alert.jsonl"
[ -s "$T/obs.jsonl" ] || rl_fail "no telemetry Bundle on relais/gw/$GW/obs/$PATIENT"
rl_log "$(wc -l <"$T/obs.jsonl") telemetry Bundles, $(wc -l <"$T/alert.jsonl") alert Bundles"

node "$VALIDATE" <"$T/obs.jsonl" >"$T/validate-obs.out" 2>&1 ||
    { cat "$T/validate-obs.out"; rl_fail "telemetry is not valid FHIR R4"; }
node "$VALIDATE" <"$T/alert.jsonl" >"$T/validate-alert.out" 2>&1 ||
    { cat "$T/validate-alert.out"; rl_fail "an alert Bundle is not valid FHIR R4"; }
rl_log "ok: the validator accepts every resource ($(grep -c '^OK' "$T/validate-obs.out") + $(grep -c '^OK' "$T/validate-alert.out"))"

ENTRIES="$T/entries.json"
jq -s '[.[] | select(.type == "transaction") | .entry[]]' "$T/obs.jsonl" >"$ENTRIES"
jq -e 'length > 0' "$ENTRIES" >/dev/null || rl_fail "no transaction Bundle"
count_code() { jq --arg c "$1" '[.[] | .resource | select(.code.coding[]?.code == $c)] | length' "$ENTRIES"; }
for code in 8310-5 59408-5 8867-4 85354-9 29463-7 9279-1 41950-7; do
    [ "$(count_code "$code")" -ge 1 ] || rl_fail "no Observation with LOINC $code"
done
rl_log "ok: Observations for temp, spo2, hr, BP panel, weight, resp, steps"
jq -e '[.[] | .resource | select(.code.coding[]?.code == "85354-9") | .component[].code.coding[0].code] | sort == ["8462-4", "8480-6"]' \
    "$ENTRIES" >/dev/null || rl_fail "the BP panel does not hold 8480-6 and 8462-4"
jq -e '[.[] | .resource | select(.code.coding[]?.code == "8310-5") | .valueQuantity | select(.system == "http://unitsofmeasure.org" and .code == "Cel")] | length == 2' \
    "$ENTRIES" >/dev/null || rl_fail "the two temperatures are not in UCUM Cel"
jq -e '[.[] | .resource | select(.resourceType == "MedicationAdministration" and .status == "completed" and .medicationCodeableConcept.text == "capecitabine")] | length == 1' \
    "$ENTRIES" >/dev/null || rl_fail "no completed MedicationAdministration for the dose"
jq -e '[.[] | select(.request.method == "POST" and (.request.ifNoneExist | startswith("identifier=")))] | length == ([.[] | select(.request.method == "POST")] | length)' \
    "$ENTRIES" >/dev/null || rl_fail "a POST without conditional create"
jq -e '[.[] | .resource.identifier[0].value] | (length == (unique | length))' "$ENTRIES" >/dev/null ||
    rl_fail "two resources share an identifier"
jq -e '[.[] | select(.resource.subject) | .resource.subject.identifier.value] | unique == ["p-7f3a"]' \
    "$ENTRIES" >/dev/null || rl_fail "the subject is not the patient's pseudonym"
jq -e '[.[] | select(.request.method == "PUT" and (.request.url | startswith("Device?identifier="))) | .resource | select(.resourceType == "Device")] | length >= 1' \
    "$ENTRIES" >/dev/null || rl_fail "no Device (conditional update) for the device status"
rl_log "ok: LOINC/UCUM, BP panel, dose, Device, conditional create, identifiers, subject"

# the alert: a message Bundle with MessageHeader first, the alert's id
ALERT=$(rl_ctl --json alerts --all | jq -r '[.[] | select(.rule == "fever")] | last | .id')
[ -n "$ALERT" ] && [ "$ALERT" != null ] || rl_fail "no fever alert in relaisctl"
jq -e --arg id "$ALERT" 'select(.type == "message") | .entry[0].resource.resourceType == "MessageHeader" and ([.entry[].resource | select(.identifier[0].value == $id)] | length >= 1)' \
    "$T/alert.jsonl" >/dev/null || rl_fail "the alert Bundle does not carry MessageHeader and alert $ALERT"
jq -e 'select(.type == "message") | [.entry[].resource | select(.resourceType == "DetectedIssue") | .severity] == ["high"]' \
    "$T/alert.jsonl" >/dev/null || rl_fail "the alert is not severity high"
rl_log "ok: alert $ALERT as a message Bundle (MessageHeader, DetectedIssue high)"
[ "$(rl_sqlite "SELECT count(*) FROM packs WHERE forwarded_ms IS NULL")" = 0 ] ||
    rl_fail "packs without forwarded_ms"
[ "$(rl_sqlite "SELECT count(*) FROM alert_events WHERE notify = 1 AND forwarded_ms IS NULL")" = 0 ] ||
    rl_fail "alert notifications without forwarded_ms"

# --- 2. the retained status ------------------------------------------------

status_fresh() {
    STATUS=$(hb_sub pw:hospital-careplan -t "relais/gw/$GW/status" -C 1 -W 10) || return 1
    jq -e '.devices[] | select(.id == "vitals-1") | .battery == 83' <<<"$STATUS" >/dev/null
}
rl_wait_for 15 "a status showing vitals-1's battery" status_fresh
STATUS=$(hb_sub pw:hospital-careplan -t "relais/gw/$GW/status" -C 1 -W 10) || rl_fail "no retained status"
rl_log "status: $STATUS"
jq -e '.state == "online" and .queue.alert == 0 and .queue.vitals == 0 and (.devices | length >= 3)
    and (.devices[] | select(.id == "vitals-1") | .battery == 83) and .clock.test_clock == true
    and (.uptime_s >= 0) and (.version | length > 0) and has("drops") and has("oldest_unsent_s")' \
    <<<"$STATUS" >/dev/null || rl_fail "the status lacks a field"
# the audit trail's head, kept by the hospital where relaisd cannot rewrite it
AUDIT_ID=$(jq -r .audit.last_id <<<"$STATUS")
[ "$AUDIT_ID" -ge 1 ] || rl_fail "the status carries no audit head: $STATUS"
rl_expect_eq "the status's audit head is the hash of its row" "$(jq -r .audit.head <<<"$STATUS")" \
    "$(rl_sqlite "SELECT lower(hex(hash)) FROM audit WHERE id = $AUDIT_ID")"
rl_log "ok: retained status"

# --- 3. care plans from the hospital --------------------------------------

RESULTS="$T/careplan-results.out"
hb_sub_bg "$RESULTS" pw:hospital-coord -q 1 -t "relais/gw/$GW/careplan/result" -t "relais/gw/$GW/alert/ack/result" -v
sleep 0.5
jq '.version = 2 | .rules.clear_after_min = 45' "$T/v1.json" >"$T/v2.json"
hb_pub pw:hospital-careplan -q 1 -r -t "relais/gw/$GW/careplan" -f "$T/v2.json"
rl_wait_for 10 "careplan v2 applied" grep -q '"version":2,"status":"applied"' "$RESULTS"
[ "$(rl_ctl --json careplan | jq -r .version)" = 2 ] || rl_fail "relaisd does not run plan v2"
jq '.version = 3 | .rules.fever.high = 45' "$T/v1.json" >"$T/v3-bad.json"
hb_pub pw:hospital-careplan -q 1 -r -t "relais/gw/$GW/careplan" -f "$T/v3-bad.json"
rl_wait_for 10 "careplan v3 rejected" grep -q '"version":3,"status":"rejected"' "$RESULTS"
grep '"version":3' "$RESULTS" | grep -q 'rules.fever.high' || rl_fail "the rejection does not name rules.fever.high"
[ "$(rl_ctl --json careplan | jq -r .version)" = 2 ] || rl_fail "the bad plan replaced v2"
hb_pub pw:hospital-careplan -q 1 -t "relais/gw/$GW/careplan" -m '{"version": 4, "patient": ' 
rl_wait_for 10 "broken JSON rejected" grep -q '"status":"rejected","error":"[^"]*' "$RESULTS"
kill -0 "$RELAISD_PID" || rl_fail "relaisd died on a bad care plan"
rl_log "ok: care plans from the hospital: v2 applied, v3 rejected (rules.fever.high), broken JSON rejected"

# --- 4. acknowledgements ---------------------------------------------------

ack() { hb_pub cert:hospital-had -q 1 -t "relais/gw/$GW/alert/ack" -m "$1"; }
ack "{\"alert\":\"$ALERT\",\"action\":\"ack\",\"by\":\"dr.martin@had\",\"at\":\"2026-11-23T06:05:00Z\"}"
rl_wait_for 10 "ack applied" grep -q "\"alert\":\"$ALERT\",\"action\":\"ack\",\"by\":\"dr.martin@had\",\"status\":\"done\"" "$RESULTS"
[ "$(rl_ctl --json alert "$ALERT" | jq -r .acked_by)" = dr.martin@had ] || rl_fail "the alert is not acknowledged by dr.martin@had"
ack '{"alert":"gw1-999","action":"ack","by":"dr.martin","at":"2026-11-23T06:05:00Z"}'
rl_wait_for 10 "unknown alert answered" grep -q '"alert":"gw1-999".*"status":"rejected","error":"alert: no such alert"' "$RESULTS"
ack "{\"alert\":\"$ALERT\",\"action\":\"delete\",\"by\":\"dr.martin\",\"at\":\"2026-11-23T06:05:00Z\"}"
rl_wait_for 10 "bad action answered" grep -q 'action: must be' "$RESULTS"
ack "{\"alert\":\"$ALERT\",\"action\":\"resolve\",\"by\":\"dr.martin\",\"at\":\"2026-11-23T06:05:00Z\",\"x\":\"1\"}"
rl_wait_for 10 "unknown member answered" grep -q 'x: unknown member' "$RESULTS"
ack 'not json'
rl_wait_for 10 "not JSON answered" grep -q 'not a JSON object' "$RESULTS"
ack "{\"alert\":\"$ALERT\",\"action\":\"resolve\",\"by\":\"bad name with spaces\",\"at\":\"2026-11-23T06:05:00Z\"}"
rl_wait_for 10 "bad name answered" bash -c "grep -c '\"status\":\"rejected\"' '$RESULTS' | grep -q '^[6-9]'"
ack "{\"alert\":\"$ALERT\",\"action\":\"resolve\",\"by\":\"dr.martin\",\"at\":\"2026-11-23T06:10:00Z\"}"
rl_wait_for 10 "resolve applied" grep -q '"action":"resolve","by":"dr.martin","status":"done"' "$RESULTS"
[ "$(rl_ctl --json alert "$ALERT" | jq -r .state)" = resolved ] || rl_fail "the alert is not resolved"
[ "$(rl_sqlite "SELECT count(*) FROM audit WHERE kind = 'intake.rejected'")" -ge 5 ] ||
    rl_fail "the bad inputs were not audited"
kill -0 "$RELAISD_PID" || rl_fail "relaisd died on a bad acknowledgement"
rl_log "ok: acknowledgements applied by name, bad ones answered and audited"

# --- 4b. a stalled broker, a message too large: dead letter ------------------

sighup_with() { # KEY=VALUE...: rewrite the config and reload
    local before
    before=$(rl_status_field config.reloads)
    gw_conf careplan.file="$T/v2.json" upstream.status_interval_s=2 "$@"
    kill -HUP "$RELAISD_PID"
    rl_wait_for 10 "the reload" reloads_above "$before"
}
sighup_with upstream.stall_s=2
rl_wait_for 15 "reconnected after the reload" up_connected
kill -STOP "$HB_PID"
pub vitals-1 "[{\"bn\":\"urn:dev:relais:vitals-1:\",\"bt\":$((T0 + 100)),\"n\":\"hr\",\"u\":\"beat/min\",\"v\":71}]"
rl_wait_for 15 "the stall detector" stalled
kill -CONT "$HB_PID"
rl_wait_for 30 "the stalled reading delivered" outbox_empty
grep -q "no PUBACK for 2 s" "$T/relaisd.log" || rl_fail "the stall is not logged"
rl_log "ok: a stalled hospital broker: connection dropped, made again, the reading delivered"

sighup_with upstream.max_message_kb=4
rl_wait_for 15 "reconnected after the reload" up_connected
BIG="[{\"bn\":\"urn:dev:relais:vitals-1:\",\"bt\":$((T0 + 200)),\"n\":\"hr\",\"u\":\"beat/min\",\"v\":70}"
for i in $(seq 1 40); do BIG="$BIG,{\"n\":\"hr\",\"u\":\"beat/min\",\"v\":70,\"t\":$i}"; done
pub vitals-1 "$BIG]"
rl_wait_for 15 "the dead letter" dead_letters_exist
REASON=$(rl_sqlite "SELECT reason FROM dead_letters ORDER BY id DESC LIMIT 1")
rl_expect_match "dead letter reason" "$REASON" "exceeds \\[upstream\\] max_message_kb"
[ "$(rl_sqlite "SELECT count(*) FROM dead_letters WHERE body IS NOT NULL AND topic = 'relais/gw/$GW/obs/$PATIENT'")" -ge 1 ] ||
    rl_fail "the dead letter does not keep its message"
[ "$(rl_sqlite "SELECT count(*) FROM audit WHERE kind = 'forward.dead_letter'")" -ge 1 ] || rl_fail "the dead letter is not audited"
rl_ctl --json status | jq -e '.upstream.queue.dead_letters >= 1 and .store.drops.dead_letter >= 1' >/dev/null ||
    rl_fail "the status does not count the dead letter"
rl_ctl --json dead-letters | jq -e '.[0] | .lane == "vitals" and .kind == "pack" and (.reason | test("max_message_kb")) and .bytes > 4096' >/dev/null ||
    rl_fail "relaisctl dead-letters: $(rl_ctl dead-letters)"
rl_log "relaisctl dead-letters: $(rl_ctl dead-letters | tail -1)"
sighup_with
rl_log "ok: a message too large for the hospital broker goes to the dead letters with its reason, audited and counted"

# --- 5. TLS refusals ---------------------------------------------------------

connects() { rl_ctl --json status | jq -r '.upstream.connected'; }
refused_for() { # WHAT: relaisd stays disconnected for 3 s and logs why
    local deadline=$((SECONDS + 3))
    while [ $SECONDS -lt "$deadline" ]; do
        [ "$(connects)" = false ] || rl_fail "$1: relaisd connected"
        sleep 0.2
    done
}
# another CA's server certificate: refused by relaisd (the CA is pinned)
hb_start_with_server_cert "$HB_WRONG_SERVER_CERT" "$HB_WRONG_SERVER_KEY"
rl_wait_for 10 "relaisd to notice the broker left" up_disconnected
refused_for "a server certificate from another CA"
pub vitals-1 "[{\"bn\":\"urn:dev:relais:vitals-1:\",\"bt\":$((T0 + 120)),\"n\":\"hr\",\"u\":\"beat/min\",\"v\":70}]"
refused_for "a server certificate from another CA"
[ "$(outbox_rows)" -ge 1 ] || rl_fail "the reading did not wait in the outbox"
grep -q "certificate verify failed" "$T/relaisd.log" || rl_fail "relaisd did not log the certificate failure"
rl_log "ok: a server certificate from another CA refused (outbox keeps $(outbox_rows) rows)"
# an expired server certificate: refused
hb_start_with_server_cert "$HB_SERVER_EXPIRED_CERT" "$HB_SERVER_EXPIRED_KEY"
refused_for "an expired server certificate"
rl_log "ok: an expired server certificate refused"
# the right certificate again: what waited is delivered
before=$(obs_msgs)
hb_start_with_server_cert "$HB_SERVER_CERT" "$HB_SERVER_KEY"
rl_wait_for 20 "the waiting reading delivered" outbox_empty
rl_log "ok: delivered after the broker came back with its right certificate"
# a gateway key others can read: relaisd refuses to start
rl_relaisd_stop
cp "$HB_GW_KEY" "$T/readable.key"
chmod 644 "$T/readable.key"
gw_conf upstream.key_file="$T/readable.key"
rc=0
timeout 20 "$RELAISD" -c "$T/relaisd.conf" --test-clock "$TC0" >>"$T/relaisd.log" 2>&1 || rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || rl_fail "relaisd started with a world-readable key (exit $rc)"
grep -q "readable.key is accessible to group or others" "$T/relaisd.log" || rl_fail "the refusal is not logged"
rl_log "ok: a gateway key others can read: relaisd refuses to start"
# TLS without a pinned CA: the configuration is refused
RL_GATEWAY_ID=$GW rl_relaisd_conf upstream.host=127.0.0.1 upstream.port="$HB_CERT_PORT" upstream.tls=true
rc=0
"$RELAISD" -c "$T/relaisd.conf" --check >"$T/check.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] && grep -q "\[upstream\] ca_file" "$T/check.out" || rl_fail "tls without ca_file accepted: $(cat "$T/check.out")"
rl_log "ok: TLS without a pinned CA refused by --check"
# an expired gateway certificate: the broker refuses relaisd
gw_conf upstream.cert_file="$HB_GW_EXPIRED_CERT" upstream.key_file="$HB_GW_EXPIRED_KEY"
rl_relaisd_start --test-clock "$TC0"
refused_for "an expired gateway certificate"
grep -qi "expired" "$HB_LOG" || rl_log "note: the broker's log does not say 'expired'"
rl_log "ok: an expired gateway certificate refused by the hospital broker"

# --- 5b. an identity the broker's ACL does not give the gateway's tree ------
# (hospital-coord may read relais/gw/+/# but not publish there: MQTT 3.1.1
# acknowledges what the ACL drops; relaisd must send nothing)
rl_relaisd_stop
printf '%s\n' "${HB_PW[hospital-coord]}" >"$T/coord.pw"
chmod 600 "$T/coord.pw"
RL_GATEWAY_ID=$GW rl_relaisd_conf \
    careplan.file="$T/v1.json" \
    upstream.host=127.0.0.1 upstream.port="$HB_PW_PORT" upstream.tls=true upstream.ca_file="$HB_CA" \
    upstream.username=hospital-coord upstream.password_file="$T/coord.pw" \
    upstream.reconnect_min_ms=100 upstream.reconnect_max_ms=1000
rl_relaisd_start --test-clock "$TC0"
rl_wait_for 15 "connected as hospital-coord" up_connected
pub vitals-1 "[{\"bn\":\"urn:dev:relais:vitals-1:\",\"bt\":$((T0 + 300)),\"n\":\"hr\",\"u\":\"beat/min\",\"v\":69}]"
rl_wait_for 20 "the unverified link reported" grep -q "does not deliver relaisd's own status back" "$T/relaisd.log"
[ "$(outbox_rows)" -ge 1 ] || rl_fail "relaisd sent into an ACL that drops its messages"
[ "$(rl_ctl --json status | jq -r .upstream.published)" = 0 ] || rl_fail "relaisd published outbox messages on an unverified link"
[ "$(rl_sqlite "SELECT count(*) FROM audit WHERE kind = 'forward.unverified'")" -ge 1 ] || rl_fail "not audited"
rl_log "ok: a broker that drops relaisd's messages: nothing sent, the outbox keeps $(outbox_rows) rows"

# --- 6. offline status on stop ---------------------------------------------
rl_relaisd_stop
gw_conf
rl_relaisd_start --test-clock "$TC0"
rl_wait_for 15 "reconnected" up_connected
rl_relaisd_stop
STATUS=$(hb_sub pw:hospital-careplan -t "relais/gw/$GW/status" -C 1 -W 10) || rl_fail "no retained status"
jq -e '.state == "offline"' <<<"$STATUS" >/dev/null || rl_fail "status after SIGTERM: $STATUS"
rl_log "ok: offline status after SIGTERM"
rl_log "PASS"
