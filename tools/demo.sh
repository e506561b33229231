#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The README's run command.  Installs what is missing, builds relais (release
# preset), then plays a short scene on this machine and cleans up after itself:
#   - the gateway broker from broker-config/ on a free loopback port, with
#     per-device passwords generated now;
#   - relaisd;
#   - a vitals hub, a pill box and a symptom tablet publishing SenML packs with
#     mosquitto_pub (JSON and CBOR), a malformed pack and a resend;
#   - every acknowledgement as it arrives, then what relaisd stored.
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
rl_relaisd_conf coap.dtls_port="$COAPS_PORT" coap.bind=127.0.0.1
rl_relaisd_start
say "gateway broker on 127.0.0.1:$BROKER_PORT (broker-config/mosquitto.conf), relaisd $("$RELAISD" --version | cut -d' ' -f2) connected, CoAP over DTLS on :$COAPS_PORT"

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

now=$(date +%s)
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

say "stopping relaisd (SIGTERM: commit, acknowledge, exit 0) and the broker"
rl_relaisd_stop
echo "done: nothing left running; the scene's files are removed"
