#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The hospital broker from broker-config/hospital/, with the real mosquitto
# and mosquitto_pub/_sub only: a gateway reaches only relais/gw/{its id}/#
# (publishing elsewhere is refused with MQTT v5 PUBACK reason 0x87, reading
# elsewhere or $SYS delivers nothing); professionals read every gateway and
# write only acks and care plans; anonymous clients, wrong passwords, expired
# or foreign certificates are refused on either side; payloads over 1 MiB
# are refused (0x95); retained care plans and a persistent consumer's queue
# survive a broker restart.  Every refusal is checked against a message sent
# after it that does arrive.
# $SYS is a literal topic; "A && B || rl_fail" is meant (rl_fail exits).
# shellcheck disable=SC2016,SC2015
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hospital_lib.sh"

hb_certs "$T/certs" gw1
hb_cert_client gw2
hb_start
hb_user gw2

# A background subscriber writing "topic payload" lines (and its -d debug
# lines) to $T/NAME.out; returns once the broker has answered SUBSCRIBE.
watch() { # NAME AUTH TOPIC...
    local name=$1 auth=$2 t args=()
    shift 2
    for t in "$@"; do args+=(-t "$t"); done
    hb_sub_bg "$T/$name.out" "$auth" -V mqttv5 -q 1 -d -F '%t %p' "${args[@]}" -W 300
    eval "WATCH_$name=$HB_BG_PID"
    wait_line "$T/$name.out" 'received SUBACK' 10 || rl_fail "$name: no SUBACK"
}

unwatch() { # NAME
    local pid
    eval "pid=\$WATCH_$1"
    hb_sub_stop "$pid"
}

wait_line() { # FILE REGEX [TIMEOUT_S]
    local deadline=$((SECONDS + ${3:-10}))
    while [ $SECONDS -lt "$deadline" ]; do
        grep -qE -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

expect_line() { # WHAT FILE REGEX
    wait_line "$2" "$3" 10 || rl_fail "$1: no line /$3/ in $(basename "$2")"
    rl_log "ok: $1"
}

expect_no_line() { # WHAT FILE REGEX
    if grep -qE -- "$3" "$2"; then rl_fail "$1: got /$3/ in $(basename "$2")"; fi
    rl_log "ok: $1"
}

# Runs a client; OUT holds its output (debug lines included), RC its status.
run() {
    RC=0
    OUT=$("$@" 2>&1) || RC=$?
}

# A QoS 1 MQTT v5 publish whose PUBACK reason code must be WANT (0 = accepted,
# 135 = 0x87 not authorized, 149 = 0x95 packet too large).
pub_rc() { # WHAT WANT AUTH ARGS...
    local what=$1 want=$2 auth=$3
    shift 3
    run hb_pub "$auth" -V mqttv5 -q 1 -d "$@"
    [ "$RC" -eq 0 ] || rl_fail "$what: mosquitto_pub exited $RC: $OUT"
    [[ $OUT =~ received\ PUBACK\ \(Mid:\ 1,\ RC:([0-9]+)\) ]] || rl_fail "$what: no PUBACK: $OUT"
    rl_expect_eq "$what: PUBACK reason" "${BASH_REMATCH[1]}" "$want"
}

# A connection that must fail; the message it would publish is checked
# absent by the caller after a sentinel.
refused() { # WHAT REGEX CMD...
    local what=$1 re=$2
    shift 2
    run "$@"
    [ "$RC" -ne 0 ] || rl_fail "$what: the client was accepted: $OUT"
    [[ $OUT =~ $re ]] || rl_fail "$what: exit $RC but not /$re/: $OUT"
    rl_log "ok: $what refused (exit $RC: $(tr '\n' ' ' <<<"$OUT" | cut -c1-120))"
}

SEQ=0
# A message the watchers must get: everything published before it has been
# handled by the broker (QoS 1, PUBACKed) and would have been delivered first.
sentinel() { # FILE... (waits in each)
    SEQ=$((SEQ + 1))
    pub_rc "sentinel $SEQ" 0 pw:hospital-careplan -t relais/gw/gw1/alert/ack -m "sentinel-$SEQ"
    local f
    for f in "$@"; do
        wait_line "$f" "^relais/gw/gw1/alert/ack sentinel-$SEQ\$" 10 ||
            rl_fail "sentinel $SEQ did not reach $(basename "$f")"
    done
}

# W: a professional reading every gateway.
watch W pw:hospital-had 'relais/gw/+/#'

# ---- 1. a gateway publishes under its own id only ----
pub_rc "gw1 publishes its observation" 0 cert:gw1 -t relais/gw/gw1/obs/p1 -m obs-1
expect_line "the professional receives it" "$T/W.out" '^relais/gw/gw1/obs/p1 obs-1$'
pub_rc "gw1 publishes as gw2 (v5)" 135 cert:gw1 -t relais/gw/gw2/obs/p1 -m forged-v5
pub_rc "gw1 publishes a gw2 alert (v5)" 135 cert:gw1 -t relais/gw/gw2/alert/had -m forged-alert
pub_rc "gw1 publishes an ack for gw2 (v5)" 135 cert:gw1 -t relais/gw/gw2/alert/ack -m forged-ack
pub_rc "gw1 publishes outside relais/gw (v5)" 135 cert:gw1 -t relais/other -m forged-other
pub_rc "gw1 by password publishes as gw2 (v5)" 135 pw:gw1 -t relais/gw/gw2/obs/p1 -m forged-pw
# MQTT 3.1.1 has no reason code: the refused QoS 1 publish is PUBACKed like
# an accepted one (so relaisd must speak v5 to see refusals).
run hb_pub cert:gw1 -V mqttv311 -q 1 -d -t relais/gw/gw2/obs/p1 -m forged-v311
[ "$RC" -eq 0 ] || rl_fail "v3.1.1 publish exited $RC: $OUT"
rl_log "observed: v3.1.1 refused publish: $(grep -o 'received PUBACK.*' <<<"$OUT")"
sentinel "$T/W.out"
expect_no_line "nothing forged by gw1 was delivered" "$T/W.out" 'forged'

# ---- 2. a gateway reads only its own topics ----
# Retained care plans for both gateways: an allowed subscription gets its
# retained message at once.
pub_rc "care plan for gw1 (retained)" 0 cert:hospital-had -r -t relais/gw/gw1/careplan -m plan-gw1
pub_rc "care plan for gw2 (retained)" 0 cert:hospital-had -r -t relais/gw/gw2/careplan -m plan-gw2
# gw1 (certificate) subscribes to everything it might hope for; $SYS has
# retained topics ($SYS/broker/version) that any allowed subscription gets at
# once.  mosquitto 2.0 grants such subscriptions (SUBACK 0) and filters each
# message by the ACL on delivery.
watch G1 cert:gw1 'relais/#' '$SYS/#' 'relais/gw/gw2/#'
rl_log "observed: gw1's SUBACK for relais/#, \$SYS/#, relais/gw/gw2/#: $(grep -o 'Subscribed.*' "$T/G1.out")"
# gw1 by password (the client id is its own there, so both run at once).
watch G2 pw:gw1 'relais/gw/gw2/#' 'relais/gw/+/careplan' 'relais/gw/gw1/alert/ack'
expect_line "gw1 gets its own retained care plan" "$T/G1.out" '^relais/gw/gw1/careplan plan-gw1$'
expect_line "gw1 (password) gets its own retained care plan" "$T/G2.out" '^relais/gw/gw1/careplan plan-gw1$'
pub_rc "gw2 publishes its observation" 0 cert:gw2 -t relais/gw/gw2/obs/p9 -m gw2-obs
pub_rc "gw2 publishes its status" 0 cert:gw2 -t relais/gw/gw2/status -m gw2-status
pub_rc "an ack for gw2" 0 pw:hospital-coord -t relais/gw/gw2/alert/ack -m gw2-ack
expect_line "the professional gets gw2's observation" "$T/W.out" '^relais/gw/gw2/obs/p9 gw2-obs$'
sentinel "$T/G1.out" "$T/G2.out"
sleep 1 # $SYS topics are also republished every 10 s; give them a chance
for w in G1 G2; do
    expect_no_line "$w: nothing of gw2 (retained care plan, obs, status, ack)" "$T/$w.out" \
        '^relais/gw/gw2/|gw2-'
done
expect_no_line "G1: nothing of \$SYS" "$T/G1.out" '^\$SYS'
unwatch G1
unwatch G2

# ---- 3. professionals write acks and care plans, nothing else ----
for who in cert:hospital-had pw:hospital-had pw:hospital-coord pw:hospital-careplan; do
    tag=${who#*:}-${who%%:*}
    pub_rc "$who acks an alert" 0 "$who" -t relais/gw/gw1/alert/ack -m "ack-$tag"
    pub_rc "$who sends a care plan" 0 "$who" -t relais/gw/gw2/careplan -m "plan-$tag"
    expect_line "$who's ack delivered" "$T/W.out" "^relais/gw/gw1/alert/ack ack-$tag\$"
    expect_line "$who's care plan delivered" "$T/W.out" "^relais/gw/gw2/careplan plan-$tag\$"
    for t in relais/gw/gw1/obs/x relais/gw/gw1/alert/had relais/gw/gw1/status \
        relais/gw/gw1/careplan/result relais/gw/gw1/obs relais/x '$SYS/x'; do
        pub_rc "$who publishes $t" 135 "$who" -t "$t" -m "forged-$tag"
    done
done
sentinel "$T/W.out"
expect_no_line "nothing forged by a professional was delivered" "$T/W.out" 'forged'

# ---- 4. who may not connect ----
tls=(-h 127.0.0.1 --cafile "$HB_CA" -t relais/gw/gw1/alert/ack -q 1)
refused "anonymous (v5, password listener)" 'Not authorized' \
    mosquitto_pub "${tls[@]}" -p "$HB_PW_PORT" -V mqttv5 -m intruder-anon5
refused "anonymous (v3.1.1, password listener)" 'not authori[sz]ed' \
    mosquitto_pub "${tls[@]}" -p "$HB_PW_PORT" -m intruder-anon3
refused "no client certificate (certificate listener)" 'rror' \
    mosquitto_pub "${tls[@]}" -p "$HB_CERT_PORT" -m intruder-nocert
refused "a password on the certificate listener, without certificate" 'rror' \
    mosquitto_pub "${tls[@]}" -p "$HB_CERT_PORT" -u hospital-had -P "${HB_PW[hospital-had]}" -m intruder-pwcert
refused "plain TCP (no TLS)" 'rror' \
    mosquitto_pub -h 127.0.0.1 -p "$HB_PW_PORT" -u hospital-had -P "${HB_PW[hospital-had]}" \
    -t relais/gw/gw1/alert/ack -m intruder-plain
refused "wrong password (v5)" 'Not authorized' \
    hb_pub pw:hospital-had -P "${HB_PW[hospital-had]}x" -V mqttv5 -t relais/gw/gw1/alert/ack -m intruder-pw5
refused "wrong password (v3.1.1)" 'not authori[sz]ed' \
    hb_pub pw:hospital-had -P "${HB_PW[hospital-coord]}" -t relais/gw/gw1/alert/ack -m intruder-pw3
refused "unknown user" 'not authori[sz]ed' \
    hb_pub pw:hospital-had -u hospital-nobody -t relais/gw/gw1/alert/ack -m intruder-user
refused "expired client certificate" 'rror' \
    hb_pub "cert:gw1.expired" -q 1 -t relais/gw/gw1/obs/p1 -m intruder-expired
# and the broker says why (TLS 1.2, where the client reads the alert
# during the handshake)
run openssl s_client -connect "127.0.0.1:$HB_CERT_PORT" -CAfile "$HB_CA" -tls1_2 \
    -cert "$HB_GW_EXPIRED_CERT" -key "$HB_GW_EXPIRED_KEY" </dev/null
[ "$RC" -ne 0 ] && [[ $OUT =~ alert\ certificate\ expired ]] ||
    rl_fail "expired client certificate: no 'certificate expired' alert: $OUT"
rl_log "ok: the broker answered the expired client certificate with alert 'certificate expired'"
refused "client pinning another CA (certificate listener)" 'certificate verify failed' \
    hb_pub cert:gw1 --cafile "$HB_WRONG_CA" -d -q 1 -t relais/gw/gw1/obs/p1 -m intruder-wrongca
refused "client pinning another CA (password listener)" 'certificate verify failed' \
    hb_pub pw:hospital-had --cafile "$HB_WRONG_CA" -d -q 1 -t relais/gw/gw1/alert/ack -m intruder-wrongca2
# TLS 1.1 is refused by the broker (OpenSSL's client lowered to allow it);
# TLS 1.2 with the same client is accepted.
run openssl s_client -connect "127.0.0.1:$HB_CERT_PORT" -CAfile "$HB_CA" -verify_return_error \
    -cert "$HB_GW_CERT" -key "$HB_GW_KEY" -tls1_1 -cipher 'DEFAULT@SECLEVEL=0' </dev/null
[ "$RC" -ne 0 ] && [[ $OUT =~ alert\ protocol\ version ]] || rl_fail "TLS 1.1 accepted: $OUT"
rl_log "ok: TLS 1.1 refused"
run openssl s_client -connect "127.0.0.1:$HB_CERT_PORT" -CAfile "$HB_CA" -verify_return_error \
    -verify_ip 127.0.0.1 -cert "$HB_GW_CERT" -key "$HB_GW_KEY" -tls1_2 </dev/null
[ "$RC" -eq 0 ] && [[ $OUT =~ Protocol\ *:\ TLSv1\.2 ]] || rl_fail "TLS 1.2 refused: $OUT"
rl_log "ok: TLS 1.2 accepted"
sentinel "$T/W.out"
expect_no_line "nothing from a refused client was delivered" "$T/W.out" 'intruder'

# ---- 5. the certificate listener ties the client id to the certificate ----
# gw2 asking for gw1's client id gets its own: it cannot take over gw1's
# persistent session.
pub_rc "gw2 connecting with client id gw1" 0 cert:gw2 -i gw1 -t relais/gw/gw2/obs/p9 -m as-gw1
grep -q "as gw2 (p5.*u'gw2')" "$HB_LOG" || rl_fail "gw2's client id was not forced to gw2"
grep -q "as gw1 (p5.*u'gw2')" "$HB_LOG" && rl_fail "gw2 connected with client id gw1"
rl_log "ok: client id forced to the certificate's CN"

# ---- 6. payload limit: 1 MiB ----
# S prints "topic payload-length".
hb_sub_bg "$T/S.out" pw:hospital-coord -V mqttv5 -q 1 -d -F '%t %l' -t relais/gw/gw1/obs/big -W 120
eval "WATCH_S=$HB_BG_PID"
wait_line "$T/S.out" 'received SUBACK' 10 || rl_fail "S: no SUBACK"
head -c 1048576 /dev/zero | tr '\0' x >"$T/1mib"
head -c 1048577 /dev/zero | tr '\0' y >"$T/1mib+1"
pub_rc "a 1 MiB payload" 0 cert:gw1 -t relais/gw/gw1/obs/big -f "$T/1mib"
pub_rc "a 1 MiB + 1 byte payload" 149 cert:gw1 -t relais/gw/gw1/obs/big -f "$T/1mib+1"
pub_rc "a small one after it" 0 cert:gw1 -t relais/gw/gw1/obs/big -m small
expect_line "the small one delivered" "$T/S.out" '^relais/gw/gw1/obs/big 5$'
expect_line "1 MiB delivered" "$T/S.out" '^relais/gw/gw1/obs/big 1048576$'
expect_no_line "1 MiB + 1 not delivered" "$T/S.out" ' 1048577$'
unwatch S

# ---- 7. the server's certificate: expired, or from another CA ----
unwatch W
hb_start_with_server_cert "$HB_SERVER_EXPIRED_CERT" "$HB_SERVER_EXPIRED_KEY"
for who in cert:gw1 pw:hospital-had; do
    refused "$who: an expired server certificate" 'TLS error' \
        hb_pub "$who" -q 1 -t relais/gw/gw1/alert/ack -m to-expired-server
done
run openssl s_client -connect "127.0.0.1:$HB_PW_PORT" -CAfile "$HB_CA" -verify_return_error </dev/null
[[ $OUT =~ Verify\ return\ code:\ 10\ \(certificate\ has\ expired\) ]] ||
    rl_fail "expired server certificate: $OUT"
rl_log "ok: the client saw why: certificate has expired"
hb_start_with_server_cert "$HB_WRONG_SERVER_CERT" "$HB_WRONG_SERVER_KEY"
for who in cert:gw1 pw:hospital-had; do
    refused "$who: a server certificate from another CA" 'TLS error' \
        hb_pub "$who" -q 1 -t relais/gw/gw1/alert/ack -m to-wrong-server
done
run openssl s_client -connect "127.0.0.1:$HB_PW_PORT" -CAfile "$HB_CA" -verify_return_error </dev/null
[[ $OUT =~ Verify\ return\ code:\ (20|21)\  ]] || rl_fail "foreign server certificate: $OUT"
rl_log "ok: the client saw why: $(grep -o 'Verify return code: .*' <<<"$OUT")"
hb_start_with_server_cert "$HB_SERVER_CERT" "$HB_SERVER_KEY"

# ---- 8. an outage: retained care plans and a consumer's queue survive ----
hb_sub pw:hospital-coord -V mqttv5 -q 1 -c -x 86400 -i coord-queue -t 'relais/gw/+/obs/+' -E
for i in 1 2 3; do
    pub_rc "gw1 observation q$i for the offline consumer" 0 cert:gw1 -t relais/gw/gw1/obs/q -m "queued-$i"
done
hb_stop
hb_restart
run hb_sub pw:hospital-coord -V mqttv5 -q 1 -c -x 86400 -i coord-queue -t 'relais/gw/+/obs/+' \
    -F '%t %p' -C 3 -W 10
rl_expect_eq "the consumer's queue after a restart" "$OUT" \
    "$(printf 'relais/gw/gw1/obs/q queued-%s\n' 1 2 3)"
run hb_sub cert:gw1 -V mqttv5 -q 1 -F '%t %p' -t relais/gw/gw1/careplan -C 1 -W 10
rl_expect_eq "gw1's retained care plan after a restart" "$OUT" "relais/gw/gw1/careplan plan-gw1"

rl_log "PASS"
