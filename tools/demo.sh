#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The README's run command.  Installs what is missing, builds relais (release
# preset), then plays a short scene on this machine and cleans up after itself:
#   - a local hospital broker from broker-config/hospital/ (TLS on free
#     loopback ports; its CA, server and client certificates and passwords
#     generated now, never committed) and the gateway broker from
#     broker-config/ on a free loopback port, with per-device passwords
#     generated now;
#   - relaisd with the capecitabine care plan of docs/careplans/ (day 1 is
#     today), forwarding to the hospital broker (TLS, the gateway's client
#     certificate), on a test clock that starts at 08:20 today, Paris time,
#     so that `relaisctl clock advance` can show in seconds what takes minutes;
#   - a hospital desk (tools/demo/hospital-desk.sh: mosquitto_sub with the
#     certificate of the HAD team's application, hospital-had) printing what
#     reaches the hospital as it arrives: FHIR alert messages (team, alert,
#     rule, priority, event), telemetry Bundles, the gateway's status;
#   - a vitals hub, a pill box and a symptom tablet publishing SenML packs with
#     mosquitto_pub (JSON and CBOR) and CoAP over DTLS, a malformed pack and a
#     resend; every acknowledgement as it arrives, then what relaisd stored;
#   - a fever with diarrhoea: two HIGH alerts to the HAD team; the hospital
#     broker down for a moment while they are escalated to the backup team,
#     the backlog arriving when it is back (alerts first); the
#     acknowledgements sent from the hospital desk and answered by relaisd,
#     one given at the gateway with relaisctl; the reminder of the evening
#     dose, the delays of care and the adherence of the day.
# Everything it starts is stopped when it ends (or on Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."

./tools/install-deps.sh
# openssl makes the hospital's certificates (on Debian it comes with
# ca-certificates; a bare system may lack it)
if ! command -v openssl >/dev/null; then
    echo "demo: installing openssl"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends openssl
fi
echo "== building relais (release preset)"
cmake --preset release >/dev/null
cmake --build --preset release >/dev/null
B=$PWD/build/release
export RELAIS_SRC=$PWD RELAISD=$B/edge/relaisd RELAISCTL=$B/tools/relaisctl
SENML=$B/tools/relais-senml
PACKS=$PWD/tools/demo/packs
RL_GATEWAY_ID=gw-demo
GW=$RL_GATEWAY_ID
. tests/integration/lib.sh
. tests/integration/hospital_lib.sh

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }

wait_for() { # TIMEOUT_S CMD...: until CMD succeeds (false after TIMEOUT_S)
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt "$deadline" ] || return 1
        sleep 0.05
    done
}
# the hospital desk has printed COUNT lines matching REGEX
desk_has() { [ "$(grep -c -- "$1" "$T/desk.txt" 2>/dev/null || true)" -ge "${2:-1}" ]; }
desk_wait() { # REGEX [COUNT]
    wait_for 15 desk_has "$@" || echo "  (the hospital desk did not show '$1' within 15 s)"
    sleep 0.2
}
# the telemetry Bundles expected so far: lets the desk show them beside their
# packs (a short wait only: how packs are grouped into Bundles may vary)
OBS=0
desk_obs() { # N more telemetry Bundles
    OBS=$((OBS + $1))
    wait_for 3 desk_has '  obs  ' "$OBS" || true
}
desk_quiet() { # until the desk has shown nothing new for 0.6 s (3 s at most)
    local size last=-1 still=0 deadline=$((SECONDS + 3))
    while [ $SECONDS -lt $deadline ] && [ $still -lt 6 ]; do
        size=$(stat -c %s "$T/desk.txt")
        if [ "$size" = "$last" ]; then still=$((still + 1)); else still=0 last=$size; fi
        sleep 0.1
    done
}
upstream() { rl_ctl --json status | jq -r ".upstream.$1"; }
clock_to() { # HH:MM[:SS] today, Paris time: advance the test clock to it
    local target
    target=$(TZ=Europe/Paris date -d "$today $1" +%s)
    rl_ctl clock advance $((target * 1000 - $(rl_ctl --json clock | jq -r .wall_ms))) >/dev/null
}

# the hospital: a CA, the broker's certificate (127.0.0.1), the gateway's
# (CN=gw-demo) and the HAD team application's (CN=hospital-had), made now
# (with the test library's expired and foreign ones, unused here); password
# users hospital-had, hospital-coord, hospital-careplan and gw-demo
hb_certs "$T/certs" "$GW"
hb_start hospital
mkdir -p "$T/broker"
for u in relaisd vitals-1 tablet-1; do rl_broker_user "$u"; done
BROKER_PORT=$(rl_free_port)
rl_broker_start
COAPS_PORT=$(rl_free_port)

# the hospital desk: the HAD team's application (client certificate CN=hospital-had,
# a persistent session: the broker forces the client id to the CN), one line
# per message as it arrives; it publishes acknowledgements as the password
# user hospital-had (a second connection under the same certificate would
# take over the desk's session)
hb_sub_bg "$T/desk.raw" cert:hospital-had -q 1 -c -i hospital-had -v \
    -t 'relais/gw/+/alert/#' -t 'relais/gw/+/obs/+' -t 'relais/gw/+/status'
sleep 0.5

# the care plan: capecitabine 1000 mg/m2 twice a day, days 1-14 of 21, day 1 today
today=$(TZ=Europe/Paris date +%F)
sed "s/\"start\": \"[0-9-]*\"/\"start\": \"$today\"/" docs/careplans/capecitabine.json >"$T/careplan.json"
rl_relaisd_conf coap.dtls_port="$COAPS_PORT" coap.bind=127.0.0.1 careplan.file="$T/careplan.json" \
    upstream.host=127.0.0.1 upstream.port="$HB_CERT_PORT" upstream.tls=true \
    upstream.ca_file="$HB_CA" upstream.cert_file="$HB_GW_CERT" upstream.key_file="$HB_GW_KEY" \
    upstream.reconnect_min_ms=100 upstream.reconnect_max_ms=500
# the gateway's clock: 08:20 this morning in Paris, running from there
now=$(TZ=Europe/Paris date -d "$today 08:20" +%s)
rl_relaisd_start --test-clock "$(date -u -d "@$now" +%FT%TZ)"
up_connected() { [ "$(upstream connected)" = "$1" ]; }
wait_for 15 up_connected true || rl_fail "relaisd did not connect to the hospital broker"
say "hospital broker on 127.0.0.1:$HB_CERT_PORT (broker-config/hospital/mosquitto.conf, TLS, client certificates; CA made now)"
say "gateway broker on 127.0.0.1:$BROKER_PORT (broker-config/mosquitto.conf), relaisd $("$RELAISD" --version | cut -d' ' -f2) connected to both, CoAP over DTLS on :$COAPS_PORT"
rl_ctl careplan | head -4
say "the hospital desk (HAD team, certificate CN=hospital-had) follows relais/gw/+/alert/#, relais/gw/+/obs/+ and relais/gw/+/status"
tail -n +1 -F "$T/desk.raw" 2>/dev/null > >(tools/demo/hospital-desk.sh | tee "$T/desk.txt") &
RL_PIDS+=($!)
desk_wait "status .* online"

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

pub() { # DEVICE SEQ FILE WHAT [TELEMETRY_BUNDLES]
    printf '  pack -> relais/dev/%s/up/%s  (%s)\n' "$1" "$2" "$4"
    rl_pub "$1" "$2" "$3"
    sleep 0.3
    [ -z "${5:-}" ] || desk_obs "$5"
}

say "devices publish their packs (QoS 1); relaisd answers once each pack is committed"
sed "s/\"v\":37.2}/\"v\":37.2,\"bt\":$((now - 600))}/" "$PACKS/vitals-morning.json" >"$T/p1.json"
pub vitals-1 101 "$T/p1.json" "SenML JSON: temperature, SpO2, heart rate" 1
"$SENML" cbor <"$PACKS/vitals-bp.json" >"$T/p2.cbor"
pub vitals-1 102 "$T/p2.cbor" "SenML CBOR: blood pressure (diastolic in Pa), weight" 1
printf '  pack -> coaps://127.0.0.1:%s/dev/pillbox-1/up/7  (pill box over DTLS-PSK: lid, morning dose, battery)\n' "$COAPS_PORT"
printf '  2.04 <- %s\n' "$(coap-client-openssl -B 5 -u pillbox-1 -k "$PILLBOX_KEY" -m post -t 110 \
    -f "$PACKS/pillbox-dose.json" "coaps://127.0.0.1:$COAPS_PORT/dev/pillbox-1/up/7" 2>&1)"
desk_obs 2 # the dose (adherence) and the pill box's battery (device status)
printf '  pack -> coaps://127.0.0.1:%s/dev/pillbox-1/up/8  (the same key, posting as another device)\n' "$COAPS_PORT"
printf '  %s\n' "$(coap-client-openssl -B 5 -u pillbox-1 -k "$PILLBOX_KEY" -m post -t 110 \
    -f "$PACKS/pillbox-dose.json" "coaps://127.0.0.1:$COAPS_PORT/dev/vitals-1/up/8" 2>&1)"
pub tablet-1 3 "$PACKS/tablet-symptoms.json" "patient-reported symptoms (CTCAE grades)" 1
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
pub vitals-1 105 "$T/fever.json" "temperature 38.6" 1
desk_wait "fever .* raised"
printf '[{"bt":%s,"n":"pro_diarrhoea","v":2}]' $((now + 101 * 60)) >"$T/diarrhoea.json"
rl_ctl clock advance 60000 >/dev/null
pub tablet-1 4 "$T/diarrhoea.json" "diarrhoea grade 2 (with the fever: HIGH)" 1
desk_wait "symptom .* raised"

say "10:05: the hospital broker stops (an outage at the hospital); the home carries on"
rl_ctl clock advance $((4 * 60000)) >/dev/null
hb_stop
wait_for 15 up_connected false || echo "  (relaisd did not notice the outage within 15 s)"
printf '[{"bn":"urn:dev:relais:vitals-1:","bt":%s,"n":"spo2","u":"%%","v":96},{"n":"hr","u":"beat/min","v":98}]' \
    $((now + 110 * 60)) >"$T/vitals-1010.json"
rl_ctl clock advance $((5 * 60000)) >/dev/null
pub vitals-1 106 "$T/vitals-1010.json" "10:10, SpO2 and heart rate"
say "10:16: nobody acknowledged within 15 minutes: both alerts escalate to the backup team, queued in the outbox"
rl_ctl clock advance $((6 * 60000)) >/dev/null
sleep 0.3
rl_ctl --json status | jq -r '.upstream | "  relaisd: hospital \(if .connected then "connected" else "NOT connected" end); outbox: \(.queue | to_entries | map(select(.value | type == "number")) | map("\(.key) \(.value)") | join(", "))"'

say "10:17: the hospital broker is back: the backlog arrives, alerts first"
rl_ctl clock advance 60000 >/dev/null
hb_restart
wait_for 15 up_connected true || echo "  (relaisd did not reconnect within 15 s)"
desk_wait "symptom .* escalated"
desk_obs 1

ack_from_hospital() { # ALERT ACTION BY: the desk publishes, relaisd answers on alert/ack/result
    local at
    at=$(date -u -d "@$(($(rl_ctl --json clock | jq -r .wall_ms) / 1000))" +%FT%TZ)
    hb_pub pw:hospital-had -q 1 -t "relais/gw/$GW/alert/ack" \
        -m "{\"alert\":\"$1\",\"action\":\"$2\",\"by\":\"$3\",\"at\":\"$at\"}"
}
fever=$(rl_ctl --json alerts | jq -r '.[] | select(.rule == "fever") | .id')
symptom=$(rl_ctl --json alerts | jq -r '.[] | select(.rule == "symptom") | .id')
say "10:18: at the hospital, nurse.martin (HAD) acknowledges $fever from the desk (relais/gw/$GW/alert/ack)"
rl_ctl clock advance 60000 >/dev/null
ack_from_hospital "$fever" ack nurse.martin
desk_wait "$fever: done"
desk_wait "$fever .* acknowledged"
say "at the patient's home, dr.leroy acknowledges $symptom on the gateway: relaisctl ack $symptom --by dr.leroy"
rl_ctl ack "$symptom" --by dr.leroy
desk_wait "$symptom .* acknowledged"
say "11:00: back at the hospital, dr.leroy resolves $symptom from the desk"
rl_ctl clock advance $((42 * 60000)) >/dev/null
ack_from_hospital "$symptom" resolve dr.leroy
desk_wait "$symptom: done"
desk_wait "$symptom .* resolved"
say "relaisctl alerts --all"
rl_ctl alerts --all
say "20:00: the evening slot opens; the pill box is reminded"
clock_to 20:00:30
desk_quiet
rl_ctl commands | tail -n 3
say "relaisctl delays (delays of care: raise -> acknowledge, raise -> resolve)"
rl_ctl delays
say "relaisctl adherence p-7f3a"
rl_ctl adherence p-7f3a

say "stopping relaisd (SIGTERM: commit, acknowledge, a retained offline status, exit 0) and the brokers"
rl_relaisd_stop
desk_wait "status .* offline"
echo "done: nothing left running; the scene's files and certificates are removed"
