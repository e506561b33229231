#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# relaisctl device add / remove keep the gateway broker's password file
# ([local] broker_passwd_file, broker_pid_file):
#  - an MQTT device gets a fresh password, written in mosquitto_passwd's
#    format, every other line kept, the file's mode kept; mosquitto reloads it
#    (SIGHUP) and the device publishes over TLS with it;
#  - a pill box gets no broker entry (it speaks CoAP with its DTLS key);
#  - a removed device's entry is gone and its next connection is refused;
#    the other users (relaisd, a device added by hand) still connect.
source "$(dirname "$0")/lib.sh"

mkdir -p "$T/broker"
rl_broker_user relaisd
rl_broker_user handmade
BROKER_PORT=$(rl_free_port)
rl_broker_start
echo "$BROKER_PID" >"$T/broker.pid"
rl_relaisd_conf local.broker_passwd_file="$T/broker/passwd" local.broker_pid_file="$T/broker.pid"
rl_relaisd_start
before=$(grep -c . "$T/broker/passwd")

pub() { # USER PASSWORD SEQ -> exit status of a QoS 1 publish over TLS
    mosquitto_pub -h 127.0.0.1 -p "$BROKER_TLS_PORT" --cafile "$BROKER_CA" -u "$1" -P "$2" -q 1 \
        -i "$1-pub" -t "relais/dev/$1/up/$3" -m '[{"n":"temp","u":"Cel","v":36.9}]' 2>>"$T/pub.err"
}

J=$(rl_ctl --json device add vitals-7 --kind vitals --patient p-1)
PW=$(jq -r '.mqtt_password // empty' <<<"$J")
rl_expect_match "the password printed" "$PW" '^[0-9a-f]{36}$'
rl_expect_match "the entry written" "$(grep '^vitals-7:' "$T/broker/passwd")" '^vitals-7:\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$'
rl_expect_eq "lines: the others kept, one added" "$(grep -c . "$T/broker/passwd")" $((before + 1))
rl_expect_eq "relaisd's line kept" "$(grep -c '^relaisd:' "$T/broker/passwd")" 1
rl_expect_eq "the file's mode" "$(stat -c %a "$T/broker/passwd")" 600
# mosquitto reloads on SIGHUP: the new device publishes over TLS
rl_wait_for 10 "vitals-7 publishes with its new password" pub vitals-7 "$PW" 1
rl_wait_for 10 "vitals-7's pack stored" sh -c \
    "[ \$(sqlite3 -readonly '$T/data/relais.db' \"SELECT count(*) FROM packs WHERE device='vitals-7'\") = 1 ]"
rl_log "ok: vitals-7 publishes over TLS with the password relaisctl made"

J=$(rl_ctl --json device add pillbox-7 --kind pillbox)
rl_expect_eq "a pill box gets no MQTT password" "$(jq -r '.mqtt_password // "none"' <<<"$J")" none
rl_expect_eq "nor a broker entry" "$(grep -c '^pillbox-7:' "$T/broker/passwd" || true)" 0

rl_ctl device remove vitals-7 >/dev/null
rl_expect_eq "the entry removed" "$(grep -c '^vitals-7:' "$T/broker/passwd" || true)" 0
refused() { ! pub vitals-7 "$PW" 2; }
rl_wait_for 10 "vitals-7 refused after its removal" refused
rl_expect_match "why" "$(tail -n 1 "$T/pub.err")" 'not authori[sz]ed|[Rr]efused'
rl_expect_eq "pack 2 of the removed device" "$(rl_sqlite "SELECT count(*) FROM packs WHERE device='vitals-7' AND seq=2")" 0
pub handmade "${RL_PW[handmade]}" 1 || rl_fail "a user added by hand lost its entry"
rl_expect_eq "relaisd still connected" "$(rl_status_field local.connected)" true
# a device re-added gets a new password; the old one stays refused
J=$(rl_ctl --json device add vitals-7 --kind vitals)
PW2=$(jq -r '.mqtt_password // empty' <<<"$J")
[ -n "$PW2" ] && [ "$PW2" != "$PW" ] || rl_fail "a re-added device did not get a new password"
rl_wait_for 10 "vitals-7 publishes with its new password" pub vitals-7 "$PW2" 3
refused_old() { ! pub vitals-7 "$PW" 4; }
rl_wait_for 10 "the old password refused" refused_old
rl_relaisd_stop
rl_log "provisioning: all checks passed"
