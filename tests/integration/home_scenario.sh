#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# A shipped device scenario end to end: the simulated pill box (CoAP over
# DTLS-PSK) and vitals hub (MQTT through the gateway broker of
# broker-config/) play tests/device-scenarios/NAME.dev in lockstep with
# relaisd's test clock (tests/integration/home_lib.sh); relaisd runs the
# scenario's care plan and forwards to a local hospital broker
# (broker-config/hospital/, TLS with certificates made now).  Then:
#
#  - the alerts relaisd raised are exactly the file's `#> ` lines: raise time
#    (local), rule, priority, team, final state and when it closed;
#  - every alert's raise reached the hospital broker, on its team's topic, as
#    a FHIR message Bundle naming it;
#  - every event is stored exactly once: the packs of each device, their
#    readings, the doses; nothing flagged, rejected or left unacknowledged
#    on the devices; the devices' seqs unbroken.
#
#   home_scenario.sh NAME      (capecitabine_cycle, imatinib_month, ...)
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/hospital_lib.sh"
source "$(dirname "$0")/home_lib.sh"

NAME=${1:?usage: home_scenario.sh SCENARIO_NAME}
SCN=$RELAIS_SRC/tests/device-scenarios/$NAME.dev
[ -f "$SCN" ] || rl_fail "no $SCN"
GW=gw-home
RL_GATEWAY_ID=$GW

# the hospital, and the HAD team's application reading every alert
hb_certs "$T/certs" "$GW"
hb_start hospital
hb_sub_bg "$T/hospital.txt" cert:hospital-had -q 1 -c -i hospital-had -v -t "relais/gw/$GW/alert/+"

mkdir -p "$T/broker"
rl_broker_user relaisd
home_init "$SCN"
BROKER_PORT=$(rl_free_port)
rl_broker_start

PLAN=$RELAIS_SRC/$(sed -n 's/^plan  *\([^ #]*\).*/\1/p' "$SCN")
[ -f "$PLAN" ] || rl_fail "$SCN names no plan that exists"
home_plan "$PLAN" "$T/careplan.json"
PATIENT=$(jq -r .patient "$T/careplan.json")
DP=$(rl_free_port)
rl_relaisd_conf coap.dtls_port="$DP" coap.bind=127.0.0.1 careplan.file="$T/careplan.json" \
    upstream.host=127.0.0.1 upstream.port="$HB_CERT_PORT" upstream.tls=true \
    upstream.ca_file="$HB_CA" upstream.cert_file="$HB_GW_CERT" upstream.key_file="$HB_GW_KEY" \
    upstream.reconnect_min_ms=100 upstream.reconnect_max_ms=500
rl_relaisd_start --test-clock "$(home_clock_start)"
rl_wait_for 15 "relaisd connected to the hospital broker" \
    sh -c "[ \"\$(\"$RELAISCTL\" -c \"$T/relaisd.conf\" --json status | jq -r .upstream.connected)\" = true ]"

rl_log "playing $NAME: $(cat "$T/home.devscn")"
home_devices_start "$DP" "$PATIENT"
start=$SECONDS
home_play
home_devices_wait
rl_log "played in $((SECONDS - start)) s: $(cat "$T/vitals-sim.out") / $(cat "$T/pillbox-sim.out")"

# --- every event stored exactly once -----------------------------------------
q() { rl_sqlite "$1"; }
n_events() { grep -c " $1 " "$T/home.events" || true; }
n_records() { # DEVICE METRIC
    grep " $1 " "$T/home.events" | tr ' ' '\n' | grep -c "^$2=" || true
}
rl_expect_eq "vitals-1 packs" "$(q "SELECT count(*) FROM packs WHERE device='vitals-1'")" "$(n_events vitals)"
# a dose is one pack (a lid cycle); a `lid open` joins the pack its `lid closed` seals
rl_expect_eq "pillbox-1 packs" "$(q "SELECT count(*) FROM packs WHERE device='pillbox-1'")" \
    "$(($(n_records pillbox dose) + $(grep -c ' lid=false' "$T/home.events" || true)))"
for m in temp spo2 hr bp_sys bp_dia weight; do
    rl_expect_eq "$m readings" \
        "$(q "SELECT count(*) FROM readings r JOIN packs p ON p.id = r.pack_id WHERE p.device='vitals-1' AND r.mtag=$(rl_mtag $m)")" \
        "$(n_records vitals "$m")"
done
rl_expect_eq "symptom readings" \
    "$(q "SELECT count(*) FROM readings WHERE evictable = 0 AND lane = 3")" "$(grep -o ' pro_[a-z]*=' "$T/home.events" | wc -l)"
rl_expect_eq "dose readings" "$(q "SELECT count(*) FROM readings WHERE mtag=$(rl_mtag dose)")" "$(n_records pillbox dose)"
rl_expect_eq "flagged packs" "$(q "SELECT count(*) FROM packs WHERE flags & 1")" 0
rl_expect_eq "the pill box's packs all signed (flag 0x8)" "$(q "SELECT count(*) FROM packs WHERE device = 'pillbox-1' AND (flags & 8) = 0")" 0
rl_expect_eq "rejected packs" "$(rl_status_field ingest.rejected)" 0
for d in vitals-1 pillbox-1; do
    rl_expect_eq "$d seqs unbroken" \
        "$(q "SELECT max(seq) - min(seq) + 1 = count(*) FROM packs WHERE device='$d'")" 1
done
for f in vitals-sim pillbox-sim; do
    rl_expect_match "$f summary" "$(cat "$T/$f.out")" ' rejected=0 .*unacked=0( |$)'
done

# --- the pill box took its commands (GET /dev/pillbox-1/cmd) -------------------
# every reminder and "call 15" relaisd made for it was delivered, none expired,
# and the box carried each out once
field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" "$T/pillbox-sim.out"; }
cmds() { # KIND STATE
    q "SELECT count(*) FROM commands WHERE device='pillbox-1' AND state='$2'
       AND json_extract(body, '$.cmd')='$1'"
}
rl_expect_eq "reminders expired undelivered" "$(cmds remind expired)" 0
rl_expect_eq "reminders carried out" "$(field reminds)" "$(cmds remind sent)"
rl_expect_eq "call 15 carried out" "$(field call15)" "$(cmds call15 sent)"
rl_log "the pill box: $(field reminds) reminders, $(field call15) \"call 15\""

# --- exactly the documented alerts --------------------------------------------
# a line per alert, from its history: the raise (time, rule, priority, team),
# then every later event with its time (and its priority or team when it
# changes them); a run of the same event is one item with its count, first
# and last time, e.g.
#   D10 14:00 fever HIGH had | escalated D10 14:15 had-backup | call15 D10 14:30
#     | renotified x3 D10 14:45..D10 15:41 | cleared D10 15:45
rl_ctl --json alerts --all --limit 1000 | jq -r '.[].id' >"$T/alert.ids"
while read -r id; do
    rl_ctl --json alert "$id" >"$T/alert.json"
    jq -r '.rule as $rule | .history[] | [(.at_ms / 1000 | floor), .event, $rule, .priority, .team] | @tsv' \
        "$T/alert.json" >"$T/alert.tsv"
    items=() prio="" team="" last="" n=0 first=""
    while IFS=$'\t' read -r at ev rule p tm; do
        when=$(home_local "$at")
        if [ ${#items[@]} -eq 0 ]; then
            items=("$when $rule $p $tm")
        elif [ "$ev" = "$last" ] && [ "$p" = "$prio" ] && [ "$tm" = "$team" ]; then
            n=$((n + 1))
            items[-1]="$last x$n $first..$when"
        else
            items+=("$ev $when")
            [ "$p" = "$prio" ] || items[-1]="${items[-1]} $p"
            [ "$tm" = "$team" ] || items[-1]="${items[-1]} $tm"
            n=1 first=$when
        fi
        prio=$p team=$tm last=$ev
    done <"$T/alert.tsv"
    (IFS='|' && printf '%s\n' "${items[*]}") | sed 's/|/ | /g'
done <"$T/alert.ids" | sort -V >"$T/alerts.got"
sed -n 's/^#> *//p' "$SCN" | sed 's/ *$//' | sort -V >"$T/alerts.want"
rl_log "alerts raised: $(wc -l <"$T/alerts.got"), documented: $(wc -l <"$T/alerts.want")"
if ! diff -u "$T/alerts.want" "$T/alerts.got" >"$T/alerts.diff"; then
    cat "$T/alerts.diff"
    rl_fail "the alerts differ from the ones $NAME.dev documents (- documented, + raised)"
fi
rl_log "ok: the alerts are the documented ones"
sed 's/^/    /' "$T/alerts.got"

# --- every raise reached the hospital, on its team's topic ---------------------
raised_at_hospital() { # ID TEAM
    grep "^relais/gw/$GW/alert/$2 " "$T/hospital.txt" |
        jq -R 'sub("^[^ ]+ "; "") | fromjson | select(.entry[].resource
               | select(.resourceType == "DetectedIssue") | .identifier[0].value == $id)
               | select(.entry[0].resource.eventCoding.code == "raised")' --arg id "$1" |
        grep -q .
}
# the team an alert was raised for: its first event
while read -r id; do
    team=$(rl_ctl --json alert "$id" | jq -r '.history[0].team')
    rl_wait_for 30 "$id raised at the hospital on alert/$team" raised_at_hospital "$id" "$team"
done <"$T/alert.ids"
rl_log "ok: $(wc -l <"$T/alert.ids") alerts reached the hospital broker"
