#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The README's run command.  Installs what is missing, builds relais (release
# preset), then plays a short scene on this machine and cleans up after itself:
#   - the gateway broker from broker-config/ on a free loopback port, with
#     per-device passwords generated now;
#   - relaisd with the capecitabine care plan of docs/careplans/ (day 1 is
#     today), on a test clock that starts at 08:20 today, Paris time, so that
#     `relaisctl clock advance` can show in seconds what takes minutes;
#   - a vitals hub, a pill box and a symptom tablet publishing SenML packs with
#     mosquitto_pub (JSON and CBOR) and CoAP over DTLS, a malformed pack and a
#     resend; every acknowledgement as it arrives, then what relaisd stored;
#   - a fever with diarrhoea: the alerts as the teams receive them, the
#     escalation of an alert nobody acknowledged, the acknowledgement by a
#     nurse, the reminder of the evening dose, the delays of care and the
#     adherence of the day.
# Everything it starts is stopped when it ends (or on Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."

./tools/install-deps.sh
echo "== building relais (release preset)"
cmake --preset release >/dev/null
cmake --build --preset release >/dev/null
B=$PWD/build/release
export RELAIS_SRC=$PWD RELAISD=$B/edge/relaisd RELAISCTL=$B/tools/relaisctl
SENML=$B/tools/relais-senml
PACKS=$PWD/tools/demo/packs
RL_GATEWAY_ID=gw-demo
. tests/integration/lib.sh

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }

mkdir -p "$T/broker"
for u in relaisd vitals-1 tablet-1; do rl_broker_user "$u"; done
BROKER_PORT=$(rl_free_port)
rl_broker_start
COAPS_PORT=$(rl_free_port)
# the care plan: capecitabine 1000 mg/m2 twice a day, days 1-14 of 21, day 1 today
today=$(TZ=Europe/Paris date +%F)
sed "s/\"start\": \"[0-9-]*\"/\"start\": \"$today\"/" docs/careplans/capecitabine.json >"$T/careplan.json"
rl_relaisd_conf coap.dtls_port="$COAPS_PORT" coap.bind=127.0.0.1 careplan.file="$T/careplan.json"
# the gateway's clock: 08:20 this morning in Paris, running from there
now=$(TZ=Europe/Paris date -d "$today 08:20" +%s)
rl_relaisd_start --test-clock "$(date -u -d "@$now" +%FT%TZ)"
say "gateway broker on 127.0.0.1:$BROKER_PORT (broker-config/mosquitto.conf), relaisd $("$RELAISD" --version | cut -d' ' -f2) connected, CoAP over DTLS on :$COAPS_PORT"
rl_ctl careplan | head -4
# what the teams receive (relaisd's log backend until forwarding exists), as it comes
tail -n0 -F "$T/relaisd.log" 2>/dev/null > >(sed -un 's/.* alert: to \([^:]*\): /  \x1b[1;31malert => \1\x1b[0m: /p') &
RL_PIDS+=($!)

say "relaisctl device add pillbox-1 --kind pillbox --patient p-7f3a"
rl_ctl device add pillbox-1 --kind pillbox --patient p-7f3a | tee "$T/pillbox.txt"
PILLBOX_KEY=$(sed -n 's/.*DTLS-PSK key: //p' "$T/pillbox.txt")

# every MQTT device's acks, printed as they arrive
for d in vitals-1 tablet-1; do
    mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -u "$d" -P "${RL_PW[$d]}" -q 1 \
        -t "relais/dev/$d/ack/+" -v -F '  ack  <- %t %p' &
    RL_PIDS+=($!)
done
sleep 0.5

pub() { # DEVICE SEQ FILE WHAT
    printf '  pack -> relais/dev/%s/up/%s  (%s)\n' "$1" "$2" "$4"
    rl_pub "$1" "$2" "$3"
    sleep 0.3
}

say "devices publish their packs (QoS 1); relaisd answers once each pack is committed"
sed "s/\"v\":37.2}/\"v\":37.2,\"bt\":$((now - 600))}/" "$PACKS/vitals-morning.json" >"$T/p1.json"
pub vitals-1 101 "$T/p1.json" "SenML JSON: temperature, SpO2, heart rate"
"$SENML" cbor <"$PACKS/vitals-bp.json" >"$T/p2.cbor"
pub vitals-1 102 "$T/p2.cbor" "SenML CBOR: blood pressure (diastolic in Pa), weight"
printf '  pack -> coaps://127.0.0.1:%s/dev/pillbox-1/up/7  (pill box over DTLS-PSK: lid, morning dose, battery)\n' "$COAPS_PORT"
printf '  2.04 <- %s\n' "$(coap-client-openssl -B 5 -u pillbox-1 -k "$PILLBOX_KEY" -m post -t 110 \
    -f "$PACKS/pillbox-dose.json" "coaps://127.0.0.1:$COAPS_PORT/dev/pillbox-1/up/7" 2>&1)"
printf '  pack -> coaps://127.0.0.1:%s/dev/pillbox-1/up/8  (the same key, posting as another device)\n' "$COAPS_PORT"
printf '  %s\n' "$(coap-client-openssl -B 5 -u pillbox-1 -k "$PILLBOX_KEY" -m post -t 110 \
    -f "$PACKS/pillbox-dose.json" "coaps://127.0.0.1:$COAPS_PORT/dev/vitals-1/up/8" 2>&1)"
pub tablet-1 3 "$PACKS/tablet-symptoms.json" "patient-reported symptoms (CTCAE grades)"
pub vitals-1 101 "$T/p1.json" "the same pack again: a resend after a lost ack"
printf '[{"n":"temp","u":"Cel","v":37.9' >"$T/bad.json"
pub vitals-1 103 "$T/bad.json" "a truncated pack"
printf '[{"n":"temp","u":"degF","v":99.1}]' >"$T/unit.json"
pub vitals-1 104 "$T/unit.json" "a temperature in a unit relais refuses"
sleep 0.5

say "relaisctl status"
rl_ctl status
say "relaisctl readings (what is stored)"
rl_ctl readings
say "relaisctl rejects (refused packs, each audited)"
rl_ctl rejects

say "10:00: the patient feels hot: 38.6 degC, then reports grade 2 diarrhoea"
printf '[{"bn":"urn:dev:relais:vitals-1:","n":"temp","u":"Cel","v":38.6,"bt":%s}]' $((now + 100 * 60)) >"$T/fever.json"
rl_ctl clock advance $((100 * 60000)) >/dev/null
pub vitals-1 105 "$T/fever.json" "temperature 38.6"
printf '[{"bt":%s,"n":"pro_diarrhoea","v":2}]' $((now + 101 * 60)) >"$T/diarrhoea.json"
rl_ctl clock advance 60000 >/dev/null
pub tablet-1 4 "$T/diarrhoea.json" "diarrhoea grade 2 (with the fever: HIGH)"
sleep 0.5
say "16 minutes later (relaisctl clock advance 16m): nobody acknowledged, the backup team is called"
rl_ctl clock advance $((16 * 60000)) >/dev/null
sleep 0.5
fever=$(rl_ctl --json alerts | jq -r '.[] | select(.rule == "fever") | .id')
say "relaisctl ack $fever --by nurse.martin"
rl_ctl ack "$fever" --by nurse.martin
symptom=$(rl_ctl --json alerts | jq -r '.[] | select(.rule == "symptom") | .id')
say "relaisctl ack $symptom --by dr.leroy; later: relaisctl resolve $symptom --by dr.leroy"
rl_ctl ack "$symptom" --by dr.leroy
rl_ctl clock advance $((40 * 60000)) >/dev/null
rl_ctl resolve "$symptom" --by dr.leroy
say "relaisctl alerts --all"
rl_ctl alerts --all
say "20:00: the evening slot opens; the pill box is reminded"
rl_ctl clock advance $(((20 * 60 - 8 * 60 - 20 - 157) * 60000 + 30000)) >/dev/null
sleep 0.5
rl_ctl commands | tail -n 3
say "relaisctl delays (delays of care: raise -> acknowledge, raise -> resolve)"
rl_ctl delays
say "relaisctl adherence p-7f3a"
rl_ctl adherence p-7f3a

say "stopping relaisd (SIGTERM: commit, acknowledge, exit 0) and the broker"
rl_relaisd_stop
echo "done: nothing left running; the scene's files are removed"
