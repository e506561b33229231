#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The README's run command: a capecitabine cycle at home, 21 days in about a
# minute and a half.  Installs what is missing, builds relais (release
# preset), then, on this machine, on free loopback ports:
#   - a local hospital broker from broker-config/hospital/ (TLS; its CA,
#     server and client certificates and passwords generated now, never
#     committed) and the gateway broker from broker-config/ (a password per
#     device, generated now);
#   - relaisd with the capecitabine care plan of docs/careplans/ (the
#     simulated home's devices: pill box and vitals hub), forwarding to the
#     hospital broker with the gateway's client certificate, its rules on a
#     test clock that the scenario drives;
#   - the simulated pill box (relais-pillbox-sim: CoAP over DTLS-PSK, its key
#     minted by `relaisctl device add`) and vitals hub (relais-vitals-sim:
#     MQTT with its own password), the devices' firmware on the posix port,
#     playing tests/device-scenarios/capecitabine_cycle.dev (a missed dose,
#     a double dose, a fever with diarrhoea, a late dose, a dose on a rest
#     day) in lockstep with relaisd's clock (tests/integration/home_lib.sh),
#     paced for people: DEMO_PACE_MS_PER_H real milliseconds per scenario
#     hour (default 150);
#   - a hospital desk (tools/demo/hospital-desk.sh with the certificate of
#     the HAD team's application) printing each alert message as it reaches
#     the hospital: day and time, team (had, had-backup, coordination),
#     alert, rule, priority, event, then the patient and the evidence; the
#     HAD nurse acknowledges the diarrhoea alert from the hospital on day 10
#     and relaisd answers; the fever, unacknowledged, escalates to the backup
#     team and the pill box's display tells the patient to call 15 (the box
#     takes its commands, reminders included, with GET /dev/pillbox-1/cmd);
#   - then a summary: what the devices sent and the hospital received, the
#     alerts, the delays of care, the adherence.
# It ends by itself; everything it started is stopped (also on Ctrl-C) and
# its files and certificates are removed.
set -euo pipefail
cd "$(dirname "$0")/.."

./tools/install-deps.sh
echo "== building relais (release preset)"
cmake --preset release >/dev/null
cmake --build --preset release >/dev/null
B=$PWD/build/release
export RELAIS_SRC=$PWD RELAIS_BIN=$B RELAISD=$B/edge/relaisd RELAISCTL=$B/tools/relaisctl
RL_GATEWAY_ID=gw-demo
GW=$RL_GATEWAY_ID
SCN=$PWD/tests/device-scenarios/capecitabine_cycle.dev
. tests/integration/lib.sh
. tests/integration/hospital_lib.sh
. tests/integration/home_lib.sh

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
wait_for() { # TIMEOUT_S CMD...: until CMD succeeds (false after TIMEOUT_S)
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt "$deadline" ] || return 1
        sleep 0.05
    done
}
desk_has() { grep -q -- "$1" "$T/desk.txt" 2>/dev/null; }

# the hospital: a CA, the broker's certificate (127.0.0.1), the gateway's
# (CN=gw-demo) and the HAD team application's (CN=hospital-had), made now;
# password users for the professionals and the gateway
hb_certs "$T/certs" "$GW"
hb_start hospital
mkdir -p "$T/broker"
rl_broker_user relaisd
home_init "$SCN"
BROKER_PORT=$(rl_free_port)
rl_broker_start
COAPS_PORT=$(rl_free_port)

# the hospital desk: the HAD team's application (client certificate
# CN=hospital-had, a persistent session), every message on the gateway's
# topics, kept raw for the summary
hb_sub_bg "$T/desk.raw" cert:hospital-had -q 1 -c -i hospital-had -v \
    -t 'relais/gw/+/alert/#' -t 'relais/gw/+/obs/+' -t 'relais/gw/+/status'
sleep 0.5

home_plan docs/careplans/capecitabine.json "$T/careplan.json"
PATIENT=$(jq -r .patient "$T/careplan.json")
rl_relaisd_conf coap.dtls_port="$COAPS_PORT" coap.bind=127.0.0.1 careplan.file="$T/careplan.json" \
    upstream.host=127.0.0.1 upstream.port="$HB_CERT_PORT" upstream.tls=true \
    upstream.ca_file="$HB_CA" upstream.cert_file="$HB_GW_CERT" upstream.key_file="$HB_GW_KEY" \
    upstream.reconnect_min_ms=100 upstream.reconnect_max_ms=500
rl_relaisd_start --test-clock "$(home_clock_start)"
up_connected() { [ "$(rl_status_field upstream.connected)" = true ]; }
wait_for 15 up_connected || rl_fail "relaisd did not connect to the hospital broker"

say "relais demo: a capecitabine cycle at home ($(sed -n 's/^name //p' "$SCN"), tests/device-scenarios/)"
echo "  hospital broker  127.0.0.1:$HB_CERT_PORT  broker-config/hospital/ (TLS, client certificates; CA made now)"
echo "  gateway broker   127.0.0.1:$BROKER_PORT (relaisd), TLS 127.0.0.1:$BROKER_TLS_PORT (devices)  broker-config/ (a password per device; CA made now)"
echo "  relaisd          $("$RELAISD" --version | cut -d' ' -f2), connected to both; CoAP over DTLS on :$COAPS_PORT"
echo "  care plan        $PATIENT: $(jq -r '"\(.regimen.drug) \(.regimen.dose_mg) mg, slots \([.regimen.slots[] | "\(.id) \(.time)"] | join(" and ")), days \(.regimen.days_on | map("\(.[0])-\(.[1])") | join(",")) of \(.regimen.cycle_days), from \(.regimen.start)"' "$T/careplan.json")"
home_devices_start "$COAPS_PORT" "$PATIENT"
echo "  pill box         pillbox-1: relais-pillbox-sim, CoAP over DTLS-PSK (key minted now by relaisctl device add)"
echo "  vitals hub       vitals-1: relais-vitals-sim, MQTT over TLS (its own password, the gateway's CA pinned)"
echo "  the scenario     D1 = $(date -u -d "@$((HOME_D1 + HOME_OFFSET))" +%F) (UTC$(printf '%+03d:00' $((HOME_OFFSET / 3600)))), $(sed 's/^relais-devscn: .*), //' "$T/home.devscn")"

say "what the hospital receives, as it happens (the HAD team's desk: alerts for had, had-backup and coordination)"
tail -n +1 -F "$T/desk.raw" 2>/dev/null > >(DESK_D1=$HOME_D1 DESK_OBS=0 tools/demo/hospital-desk.sh | tee "$T/desk.txt") &
RL_PIDS+=($!)
wait_for 10 desk_has "status .* online" || true
# at home: what the pill box shows the patient when relaisd says "call 15"
tail -n +1 -F "$T/pillbox-sim.log" 2>/dev/null |
    sed -u -n 's/^relais-pillbox-sim: display: \(.*\)/  \x1b[1;35mhome\x1b[0m      pill box display: \1/p' &
RL_PIDS+=($!)

# before the clock moves to T: a line per day with what the devices sent;
# on day 10, the HAD nurse acknowledges the diarrhoea alert from the
# hospital 8 minutes after it was raised
DEMO_DAY=""
ACKED=0
demo_hook() { # T
    local day at id
    day=$(home_local "$1" | cut -d' ' -f1)
    if [ "$day" != "$DEMO_DAY" ] && [ "$1" -le "$HOME_LAST" ]; then
        DEMO_DAY=$day
        printf '  \033[2m%s %s   packs stored: vitals hub %s, pill box %s\033[0m\n' "$day" \
            "$(TZ=Europe/Paris date -d "@$1" '+%a %d %b')" \
            "$(rl_sqlite "SELECT count(*) FROM packs WHERE device='vitals-1'")" \
            "$(rl_sqlite "SELECT count(*) FROM packs WHERE device='pillbox-1'")"
    fi
    if [ $ACKED = 0 ]; then
        home_settle
        id=$(rl_ctl --json alerts | jq -r '.[] | select(.rule == "symptom") | .id' | head -n 1)
        if [ -n "$id" ]; then
            ACKED=1
            at=$(($(rl_ctl --json alert "$id" | jq -r .raised_ms) / 1000 + 8 * 60))
            home__clock_to "$at"
            wait_for 5 desk_has "$id .* raised" || true
            printf '  \033[1;34mnurse.martin (HAD) acknowledges %s from the hospital desk\033[0m\n' "$id"
            hb_pub pw:hospital-had -q 1 -t "relais/gw/$GW/alert/ack" \
                -m "{\"alert\":\"$id\",\"action\":\"ack\",\"by\":\"nurse.martin\",\"at\":\"$(date -u -d "@$at" +%FT%TZ)\"}"
            wait_for 10 desk_has "$id .* acknowledged" || true
        fi
    fi
}
HOME_PACE_MS_PER_H=${DEMO_PACE_MS_PER_H:-150}
home_play demo_hook
home_devices_wait
sleep 1

say "summary"
echo "  devices (their own count of packs sent and acknowledged):"
sed 's/^/    /' "$T/vitals-sim.out" "$T/pillbox-sim.out"
jq -rR 'capture("^(?<topic>[^ ]+) (?<body>.*)$") | .topic as $t | (.body | fromjson? // {}) as $b
        | ($t | split("/")) as $p
        | if $p[3] == "obs" then ($b.entry // [] | map(.resource.resourceType)[])
          elif $p[3] == "alert" and ($p | length) == 5 and $p[4] != "ack" then "alert to \($p[4])"
          else empty end' "$T/desk.raw" | sort | uniq -c |
    awk 'BEGIN { print "  the hospital received (telemetry resources in transaction Bundles, alert messages):" }
         { printf "    %6d %s\n", $1, substr($0, index($0, $2)) }'
say "relaisctl alerts --all"
rl_ctl alerts --all
say "relaisctl delays (delays of care: raise -> acknowledgement, raise -> resolution)"
rl_ctl delays
say "relaisctl adherence $PATIENT"
rl_ctl adherence "$PATIENT"

say "stopping relaisd (SIGTERM: commit, acknowledge, a retained offline status, exit 0), the devices and the brokers"
rl_relaisd_stop
wait_for 10 desk_has "status .* offline" || true
echo "done: nothing left running; the scene's files and certificates are removed"
