#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Signed dose records (docs/contract.md "Signed dose records") through the
# real relaisd, mosquitto and libcoap's client; the record keys are minted
# now by relaisctl device add, never committed.
#   CoAP/DTLS (option 65000, 32 bytes):
#   - a dose pack signed with the box's key: stored, acked stored, flagged
#     signed (packs.flags 0x8) with its signature kept;
#   - unsigned, a wrong MAC, signed with another box's key, the body changed
#     by one byte after signing, the same signed body replayed under another
#     seq, a signature of 2 bytes: each rejected (4.00, final) with its reason,
#     counted in the status, in the rejects table and the audit trail,
#     nothing stored;
#   - a pack without dose: stored unsigned; with a bad signature: rejected;
#   - a device that has no record key (a thermometer): no_record_key.
#   MQTT v5 (user property relais-sig, 64 lower-case hex digits): signed
#   stored and flagged; unsigned, another key, upper-case or short hex
#   rejected; after `relaisctl device remove` the key is gone: no_record_key.
# The MedicationAdministration of a signed dose at the hospital is checked by
# integration.uplink; none for an unsigned one by unit.test_fhir.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/broker"
BROKER_PORT=$(rl_free_port)
rl_broker_render "$T/broker" "$BROKER_PORT"
for u in relaisd pillbox-m; do rl_broker_user "$u"; done
rl_broker_start
CP=$(rl_free_port)
DP=$(rl_free_port)
rl_relaisd_conf coap.port="$CP" coap.dtls_port="$DP" coap.bind=127.0.0.1
rl_relaisd_start

rl_pillbox_add pillbox-1 p-7f3a
rl_pillbox_add pillbox-2
rl_pillbox_add pillbox-m
out=$(rl_ctl --json device add thermo-1 --kind thermometer)
[ -z "$(printf '%s' "$out" | rl_record_key_of)" ] || rl_fail "a thermometer got a record key"
K_THERMO=$(printf '%s' "$out" | sed -n 's/.*"psk": "\([^"]*\)".*/\1/p')
out=$(rl_ctl device add pillbox-3 --kind pillbox)
rl_expect_match "device add prints the record key" "$out" 'record-signing key \(HMAC-SHA256, hex\): [0-9a-f]{64}'

coaps() { # DEVICE SEQ FILE [SIG-HEX] -> the answer (code, payload)
    local opt=()
    [ -n "${4:-}" ] && opt=(-O "65000,0x$4")
    coap-client-openssl -B 3 -u "$1" -k "${RL_PSK[$1]:-$K_THERMO}" -m post -t 110 -f "$3" \
        "${opt[@]}" "coaps://127.0.0.1:$DP/dev/$1/up/$2" 2>&1
}
packs() { rl_sqlite "SELECT count(*) FROM packs WHERE device = '$1'"; }
rejects() { rl_sqlite "SELECT count(*) FROM rejects WHERE device = '$1' AND reason = '$2'"; }

printf '[{"bn":"urn:dev:relais:pillbox-1:","n":"lid","vb":true},{"n":"dose","vs":"am"},{"n":"battery","u":"%%EL","v":77}]' >"$T/dose.json"
printf '[{"bn":"urn:dev:relais:pillbox-1:","n":"lid","vb":true},{"n":"dose","vs":"pm"},{"n":"battery","u":"%%EL","v":77}]' >"$T/dose-pm.json"
printf '[{"bn":"urn:dev:relais:pillbox-1:","n":"battery","u":"%%EL","v":76}]' >"$T/battery.json"
[ "$(cmp -l "$T/dose.json" "$T/dose-pm.json" | wc -l)" = 1 ] || rl_fail "the two bodies differ by more than one byte"

# --- CoAP: signed ----------------------------------------------------------
SIG1=$(rl_sig "${RL_RK[pillbox-1]}" pillbox-1 1 "$T/dose.json")
rl_expect_match "coaps signed dose" "$(coaps pillbox-1 1 "$T/dose.json" "$SIG1")" '"status":"stored","records":3'
rl_expect_eq "stored flagged signed, its signature kept" \
    "$(rl_sqlite "SELECT flags & 8, hex(sig) FROM packs WHERE device = 'pillbox-1' AND seq = 1")" "8|${SIG1^^}"
rl_expect_match "the same again" "$(coaps pillbox-1 1 "$T/dose.json" "$SIG1")" '"status":"duplicate"'

# --- CoAP: forged, each rejected -------------------------------------------
reject_case() { # WHAT SEQ FILE SIG REASON
    local got
    got=$(coaps pillbox-1 "$2" "$3" "$4")
    rl_expect_match "$1: rejected (4.00, final)" "$got" "^4\.00 $5: "
}
reject_case "unsigned dose" 2 "$T/dose.json" "" unsigned_dose
reject_case "wrong MAC" 3 "$T/dose.json" "$(openssl rand -hex 32)" bad_signature
reject_case "another box's key" 4 "$T/dose.json" "$(rl_sig "${RL_RK[pillbox-2]}" pillbox-1 4 "$T/dose.json")" bad_signature
reject_case "body changed after signing" 5 "$T/dose-pm.json" "$(rl_sig "${RL_RK[pillbox-1]}" pillbox-1 5 "$T/dose.json")" bad_signature
reject_case "signed body replayed under another seq" 6 "$T/dose.json" "$SIG1" bad_signature
reject_case "a 2-byte signature" 7 "$T/dose.json" abcd bad_signature
reject_case "no dose, a bad signature" 8 "$T/battery.json" "$(openssl rand -hex 32)" bad_signature
rl_expect_match "no dose, unsigned: stored" "$(coaps pillbox-1 9 "$T/battery.json")" '"status":"stored"'
rl_expect_eq "stored unsigned" "$(rl_sqlite "SELECT flags & 8, sig IS NULL FROM packs WHERE device = 'pillbox-1' AND seq = 9")" "0|1"
SIG10=$(rl_sig "${RL_RK[pillbox-1]}" pillbox-1 10 "$T/battery.json")
rl_expect_match "no dose, signed: stored" "$(coaps pillbox-1 10 "$T/battery.json" "$SIG10")" '"status":"stored"'
rl_expect_eq "stored signed" "$(rl_sqlite "SELECT flags & 8 FROM packs WHERE device = 'pillbox-1' AND seq = 10")" 8

sed 's/pillbox-1/thermo-1/' "$T/dose.json" >"$T/thermo.json"
rl_expect_match "a device without a record key" \
    "$(coaps thermo-1 1 "$T/thermo.json" "$(openssl rand -hex 32)")" '^4\.00 no_record_key: '

rl_expect_eq "pillbox-1: only seq 1, 9 and 10 stored" "$(rl_sqlite "SELECT group_concat(seq) FROM packs WHERE device = 'pillbox-1' ORDER BY seq")" "1,9,10"
rl_expect_eq "rejects unsigned_dose" "$(rejects pillbox-1 unsigned_dose)" 1
rl_expect_eq "rejects bad_signature" "$(rejects pillbox-1 bad_signature)" 6
rl_expect_eq "rejects no_record_key" "$(rejects thermo-1 no_record_key)" 1
rl_expect_eq "no dose reading but seq 1's" "$(rl_sqlite "SELECT count(*) FROM readings WHERE mtag = $(rl_mtag dose)")" 1
rl_expect_eq "status: rejected_by unsigned_dose" "$(rl_status_field ingest.rejected_by.unsigned_dose)" 1
rl_expect_eq "status: rejected_by bad_signature" "$(rl_status_field ingest.rejected_by.bad_signature)" 6
rl_expect_eq "status: rejected_by no_record_key" "$(rl_status_field ingest.rejected_by.no_record_key)" 1
rl_wait_for 5 "the rejections audited" \
    bash -c "[ \"\$(sqlite3 -readonly '$T/data/relais.db' \"SELECT count(*) FROM audit WHERE detail LIKE '%bad_signature%'\")\" -ge 6 ]"

# --- MQTT v5 ---------------------------------------------------------------
sed 's/pillbox-1/pillbox-m/' "$T/dose.json" >"$T/m.json"
rl_ack_session pillbox-m
mqtt_ack() { rl_wait_ack pillbox-m "$1" 10 || rl_fail "no ack for pillbox-m/$1"; }
rl_pub_signed pillbox-m 1 "$T/m.json"
rl_expect_match "MQTT signed dose" "$(mqtt_ack 1)" '"status":"stored"'
rl_expect_eq "MQTT: flagged signed" "$(rl_sqlite "SELECT flags & 8, length(sig) FROM packs WHERE device = 'pillbox-m' AND seq = 1")" "8|32"
rl_pub pillbox-m 2 "$T/m.json"
rl_expect_match "MQTT unsigned dose" "$(mqtt_ack 2)" '"status":"rejected".*"unsigned_dose: '
rl_pub_signed pillbox-m 3 "$T/m.json" "${RL_RK[pillbox-2]}"
rl_expect_match "MQTT another box's key" "$(mqtt_ack 3)" '"status":"rejected".*"bad_signature: '
SIGM4=$(rl_sig "${RL_RK[pillbox-m]}" pillbox-m 4 "$T/m.json")
mosquitto_pub -V mqttv5 -h 127.0.0.1 -p "$BROKER_PORT" -u pillbox-m -P "${RL_PW[pillbox-m]}" -q 1 \
    -i pillbox-m-pub -t relais/dev/pillbox-m/up/4 -f "$T/m.json" -D publish user-property relais-sig "${SIGM4^^}"
rl_expect_match "MQTT upper-case hex" "$(mqtt_ack 4)" '"status":"rejected".*"bad_signature: '
mosquitto_pub -V mqttv5 -h 127.0.0.1 -p "$BROKER_PORT" -u pillbox-m -P "${RL_PW[pillbox-m]}" -q 1 \
    -i pillbox-m-pub -t relais/dev/pillbox-m/up/5 -f "$T/m.json" -D publish user-property relais-sig "${SIGM4:0:40}"
rl_expect_match "MQTT short hex" "$(mqtt_ack 5)" '"status":"rejected".*"bad_signature: '
rl_expect_eq "MQTT: only seq 1 stored" "$(packs pillbox-m)" 1

# --- revocation ------------------------------------------------------------
rl_ctl device remove pillbox-m >/dev/null
rl_pub_signed pillbox-m 6 "$T/m.json"
rl_expect_match "removed: its record key is gone" "$(mqtt_ack 6)" '"status":"rejected".*"no_record_key: '
rl_expect_eq "the devices table keeps no key of a removed box" \
    "$(rl_sqlite "SELECT record_key IS NULL, psk IS NULL FROM devices WHERE id = 'pillbox-m'")" "1|1"
rl_expect_eq "a thermometer has no record key" \
    "$(rl_sqlite "SELECT record_key IS NULL FROM devices WHERE id = 'thermo-1'")" 1

rl_relaisd_stop
rl_log "dose signing: ok"
