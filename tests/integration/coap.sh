#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# CoAP ingest (DESIGN 3.4) with libcoap's own clients (coap-client-openssl,
# coap-client-notls) and the project's (relais-coap):
#   - coaps with the device's PSK: stored, answered 2.04 with the ack body in
#     the request's format; the same seq again: duplicate; wrong key: no
#     session; unknown identity: refused and audited; device A's identity
#     posting to B's path: 4.03 and audited;
#   - every negative of 3.4 gets its code and relaisd stays up;
#   - a large pack sent block-wise is stored once, a pack over 64 KiB is
#     refused 4.13 before it is buffered whole;
#   - a removed device is refused at its next attempt.
. "$(dirname "$0")/lib.sh"
: "${RELAIS_COAP:?}" "${RELAIS_SENML:?}"

mkdir -p "$T/broker"
rl_broker_user relaisd
BROKER_PORT=$(rl_free_port)
rl_broker_start
CP=$(rl_free_port)
DP=$(rl_free_port)
rl_relaisd_conf coap.port="$CP" coap.dtls_port="$DP" coap.allow_plain=true coap.bind=127.0.0.1
rl_relaisd_start

psk_of() { sed -n 's/.*"psk": "\([^"]*\)".*/\1/p'; }
out=$(rl_ctl --json device add pillbox-1 --kind pillbox --patient p-7f3a)
K1=$(psk_of <<<"$out")
RK1=$(rl_record_key_of <<<"$out") # signs the dose packs (docs/contract.md)
K2=$(rl_ctl --json device add pillbox-2 --kind pillbox | psk_of)
[ ${#K1} -eq 32 ] && [ ${#K2} -eq 32 ] || rl_fail "relaisctl device add printed no 32-character key"
rl_expect_match "relaisctl devices" "$(rl_ctl devices)" 'pillbox-1 +pillbox +p-7f3a .* active'

coaps() { # IDENTITY KEY PATH ARGS... -> the answer (code, then payload), libcoap's client
    local id=$1 key=$2 path=$3
    shift 3
    coap-client-openssl -B 3 -u "$id" -k "$key" "$@" "coaps://127.0.0.1:$DP$path" 2>&1
}
coap() { # PATH ARGS...
    local path=$1
    shift
    coap-client-notls -B 5 "$@" "coap://127.0.0.1:$CP$path" 2>&1
}

printf '[{"bn":"urn:dev:relais:pillbox-1:","n":"lid","vb":true},{"n":"dose","vs":"am"},{"n":"battery","u":"%%EL","v":77}]' >"$T/dose.json"
"$RELAIS_SENML" cbor <"$T/dose.json" >"$T/dose.cbor"

# --- coaps with the right key ---
SIG1=(-O "65000,0x$(rl_sig "$RK1" pillbox-1 1 "$T/dose.json")")
SIG2=(-O "65000,0x$(rl_sig "$RK1" pillbox-1 2 "$T/dose.cbor")")
rl_expect_eq "coaps JSON pack" "$(coaps pillbox-1 "$K1" /dev/pillbox-1/up/1 -m post -t 110 -f "$T/dose.json" "${SIG1[@]}")" \
    '{"seq":1,"status":"stored","records":3}'
rl_expect_eq "the same seq again" "$(coaps pillbox-1 "$K1" /dev/pillbox-1/up/1 -m post -t 110 -f "$T/dose.json" "${SIG1[@]}")" \
    '{"seq":1,"status":"duplicate","records":3}'
coaps pillbox-1 "$K1" /dev/pillbox-1/up/2 -m post -t 112 -f "$T/dose.cbor" "${SIG2[@]}" -o "$T/ack.cbor" >/dev/null
rl_expect_eq "coaps CBOR pack: a CBOR ack" "$("$RELAIS_SENML" diag <"$T/ack.cbor")" \
    '{"seq": 2, "status": "stored", "records": 3}'
rl_expect_eq "packs stored over coaps" "$(rl_sqlite "SELECT group_concat(seq) FROM packs WHERE device='pillbox-1' AND transport=1")" 1,2

# --- wrong key, unknown identity, another device's path ---
out=$(coaps pillbox-1 "wrong-key-wrong-key-wrong-key-00" /dev/pillbox-1/up/3 -m post -t 110 -f "$T/dose.json")
rl_expect_match "wrong key: no session" "$out" 'decrypt|handshake|alert|cannot send'
out=$(coaps pillbox-9 "$K1" /dev/pillbox-9/up/3 -m post -t 110 -f "$T/dose.json")
rl_expect_match "unknown identity refused" "$out" 'unknown psk identity|alert|cannot send'
rl_expect_eq "pack 3 stored by neither" "$(rl_sqlite "SELECT count(*) FROM packs WHERE seq=3")" 0
sleep 0.2
rl_expect_match "the refusal is audited" \
    "$(rl_sqlite "SELECT subject || ': ' || detail FROM audit WHERE kind='device.refused'")" \
    'pillbox-9: unknown or removed device'
rl_expect_eq "pillbox-1 posting under pillbox-2" \
    "$(coaps pillbox-1 "$K1" /dev/pillbox-2/up/4 -m post -t 110 -f "$T/dose.json")" \
    '4.03 this identity may only use its own /dev/{device}'
sleep 0.2
rl_expect_match "the forbidden post is audited" \
    "$(rl_sqlite "SELECT subject || ': ' || detail FROM audit WHERE kind='input.forbidden'")" \
    'pillbox-1: posted to /dev/pillbox-2/up/4'

# --- every negative of 3.4 (plain CoAP on loopback) ---
rl_expect_eq "unsupported content-format" "$(coap /dev/pillbox-1/up/10 -m post -t 0 -e 'hello')" \
    '4.15 content-format 0: use 110 (senml+json) or 112 (senml+cbor)'
rl_expect_match "malformed SenML JSON" "$(coap /dev/pillbox-1/up/11 -m post -t 110 -e '[{"n":"temp","u":"Cel"')" \
    '^4\.00 malformed_json: '
printf '\x81\xa2\x00\x64temp' >"$T/bad.cbor"
rl_expect_match "malformed SenML CBOR" "$(coap /dev/pillbox-1/up/12 -m post -t 112 -f "$T/bad.cbor")" \
    '^4\.00 malformed_cbor: '
rl_expect_match "not SenML" "$(coap /dev/pillbox-1/up/13 -m post -t 110 -e '{"temp":37}')" \
    '^4\.00 not_senml: the pack is not an array of records'
rl_expect_match "no content-format, neither JSON nor CBOR" "$(coap /dev/pillbox-1/up/13 -m post -e 'temp=37')" \
    '^4\.00 unknown_format: '
rl_expect_eq "wrong method" "$(coap /dev/pillbox-1/up/14 -m put -t 110 -f "$T/dose.json")" \
    '4.05 an uplink resource takes POST only'
rl_expect_eq "wrong method (GET)" "$(coap /dev/pillbox-1/up/14 -m get)" '4.05 an uplink resource takes POST only'
rl_expect_eq "unknown path" "$(coap /dev/pillbox-1/down/15 -m post -t 110 -f "$T/dose.json")" \
    '4.04 no such resource: packs go to /dev/{device}/up/{seq}'
rl_expect_eq "unknown device over plain CoAP" "$(coap /dev/nobody/up/16 -m post -t 110 -f "$T/dose.json")" \
    '4.01 unknown device'
head -c 70000 /dev/zero | tr '\0' ' ' >"$T/huge.json"
rl_expect_match "too large (block-wise, over 64 KiB)" "$(coap /dev/pillbox-1/up/17 -m post -t 110 -b 1024 -f "$T/huge.json")" \
    '4\.13'
rl_expect_match "/.well-known/core" "$(coap /.well-known/core -m get)" '</dev>;rt="relais.uplink";ct="110 112"'
rl_expect_match "/.well-known/core over coaps names the device's uplink" \
    "$(coaps pillbox-2 "$K2" /.well-known/core -m get)" '</dev/pillbox-2/up>'
kill -0 "$RELAISD_PID" || rl_fail "relaisd died"

# --- block-wise: a large pack (about 30 KB, 700 records) is stored once ---
out=$("$RELAIS_COAP" post --port "$DP" --device pillbox-2 --psk "$K2" --count 1 --start-seq 100 --size 30000)
rl_expect_match "block-wise upload over coaps" "$out" 'answered=1 stored=1'
rl_expect_eq "the large pack, once, all its records" \
    "$(rl_sqlite "SELECT count(*) || ' ' || sum(records) FROM packs WHERE device='pillbox-2' AND seq=100")" "1 751"
{
    printf '['
    for i in $(seq 300); do printf '{"n":"temp","u":"Cel","v":36.%d},' $((i % 10)); done
    printf '{"n":"hr","u":"1/min","v":70}]'
} >"$T/big.json"
rl_expect_match "block-wise upload with coap-client -b 256" \
    "$(coap /dev/pillbox-1/up/101 -m post -t 110 -b 256 -f "$T/big.json")" '"status":"stored","records":301'
rl_expect_eq "stored once" "$(rl_sqlite "SELECT count(*) FROM packs WHERE device='pillbox-1' AND seq=101")" 1

# --- a flooding device is slowed down (5.03), the other is not starved ---
"$RELAIS_COAP" post --port "$DP" --device pillbox-2 --psk "$K2" --count 150 --inflight 8 \
    --start-seq 1000 >"$T/flood.out" &
flood=$!
out=$("$RELAIS_COAP" post --port "$DP" --device pillbox-1 --psk "$K1" --count 10 --start-seq 200 --format cbor)
rl_expect_match "the other device, during the flood" "$out" 'answered=10 stored=10 duplicate=0 rejected=0 busy=0'
wait "$flood" || rl_fail "the flooding device lost packs: $(cat "$T/flood.out")"
rl_expect_match "the flooding device: told busy, everything stored in the end" "$(cat "$T/flood.out")" \
    'answered=150 stored=150 duplicate=0 rejected=0 busy=[1-9]'
rl_expect_eq "flood stored once each" \
    "$(rl_sqlite "SELECT count(DISTINCT seq) || '/' || count(*) FROM packs WHERE device='pillbox-2' AND seq >= 1000")" 150/150

# --- a removed device is refused at its next attempt ---
rl_ctl device remove pillbox-2 >/dev/null
out=$(coaps pillbox-2 "$K2" /dev/pillbox-2/up/3000 -m post -t 110 -f "$T/dose.json")
rl_expect_match "removed device refused" "$out" 'unknown psk identity|alert|cannot send'
rl_expect_eq "its pack not stored" "$(rl_sqlite "SELECT count(*) FROM packs WHERE seq=3000")" 0
rl_expect_match "relaisctl devices" "$(rl_ctl devices)" 'pillbox-2 +pillbox .* removed'

status=$(rl_ctl --json status)
rl_expect_match "status: CoAP counters" "$status" '"coap":\{"requests":[0-9]+'
rl_expect_match "status: refused handshakes counted" "$status" '"handshakes_refused":[1-9]'
rl_relaisd_stop
rl_log "PASS"
