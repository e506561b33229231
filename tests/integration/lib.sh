# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# The integration tests' harness: a real mosquitto started from
# broker-config/ on an ephemeral loopback port, the real relaisd, real clients
# (mosquitto_pub/sub, relaisctl).  Passwords are generated at test time.
# Everything started is stopped by the EXIT trap.
#
# Environment (set by ctest, see tests/CMakeLists.txt):
#   RELAIS_SRC    the source tree        RELAIS_BIN  the build tree
#   RELAISD, RELAISCTL, RELAIS_SENML     the binaries under test

set -euo pipefail
# files this harness writes are not group- or world-writable (relaisd refuses
# such a configuration), whatever the caller's umask
umask 022

: "${RELAIS_SRC:?}" "${RELAISD:?}" "${RELAISCTL:?}"

T=$(mktemp -d "${TMPDIR:-/tmp}/relais-test.XXXXXX")
RL_PIDS=()
RL_FAILED=0

rl_log() { printf '[%s] %s\n' "$(date +%H:%M:%S.%3N)" "$*"; }

rl_fail() {
    rl_log "FAIL: $*"
    RL_FAILED=1
    exit 1
}

rl_cleanup() {
    local rc=$?
    for pid in "${RL_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${RL_PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [ "$rc" -ne 0 ] || [ "$RL_FAILED" -ne 0 ]; then
        for f in "$T"/*.log; do
            [ -f "$f" ] || continue
            echo "----- $f (last 40 lines)"
            tail -n 40 "$f"
        done
    fi
    if [ "${RL_KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
    exit "$rc"
}
trap rl_cleanup EXIT

# A random port free for TCP and UDP on 127.0.0.1 (checked against /proc/net/{tcp,udp}*).
rl_free_port() {
    local p hex
    for _ in $(seq 100); do
        p=$((20000 + RANDOM % 40000))
        hex=$(printf ':%04X ' "$p")
        if ! grep -qi "$hex" /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

rl_secret() { head -c 24 /dev/urandom | base64 | tr -d '/+=\n' | head -c 24; }

rl_wait_port() { # PORT [TIMEOUT_S]
    local port=$1 deadline=$((SECONDS + ${2:-10}))
    while [ $SECONDS -lt "$deadline" ]; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    return 1
}

# The gateway broker's TLS files in DIR: a CA and the server's certificate
# for 127.0.0.1 (EC P-256, two days), made now.
rl_broker_tls() { # DIR
    local d=$1
    mkdir -p "$d"
    (
        cd "$d"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
            -out ca.crt -days 2 -subj "/CN=relais test gateway CA" 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key \
            -out server.csr -subj "/CN=127.0.0.1" 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt \
            -days 2 -extfile server.ext 2>/dev/null
        chmod 600 ca.key server.key
    ) || rl_fail "openssl could not make the gateway broker's certificates"
}

# Renders broker-config/mosquitto.conf for this test: only the lines the file
# marks "site:" change (ports, file locations, user).  The TLS listener (the
# home network's) listens on 127.0.0.1:$BROKER_TLS_PORT with a CA and
# certificate made now ($BROKER_CA).
rl_broker_render() { # OUTDIR PORT
    local out=$1 port=$2 user
    user=$(id -un)
    mkdir -p "$out/persist"
    cp "$RELAIS_SRC/broker-config/acl" "$out/acl"
    BROKER_TLS_PORT=${BROKER_TLS_PORT:-$(rl_free_port)}
    while [ "$BROKER_TLS_PORT" = "$port" ]; do BROKER_TLS_PORT=$(rl_free_port); done
    [ -f "$out/tls/server.crt" ] || rl_broker_tls "$out/tls"
    BROKER_CA=$out/tls/ca.crt
    sed -e "s|^password_file .*|password_file $out/passwd|" \
        -e "s|^acl_file .*|acl_file $out/acl|" \
        -e "s|^user .*|user $user|" \
        -e "s|^listener 1883 127.0.0.1|listener $port 127.0.0.1|" \
        -e "s|^listener 8883\$|listener $BROKER_TLS_PORT 127.0.0.1|" \
        -e "s|^cafile .*|cafile $out/tls/ca.crt|" \
        -e "s|^certfile .*|certfile $out/tls/server.crt|" \
        -e "s|^keyfile .*|keyfile $out/tls/server.key|" \
        -e "s|^persistence_location .*|persistence_location $out/persist/|" \
        "$RELAIS_SRC/broker-config/mosquitto.conf" >"$out/mosquitto.conf"
    grep -q "^listener $BROKER_TLS_PORT 127.0.0.1" "$out/mosquitto.conf" ||
        rl_fail "broker-config/mosquitto.conf has no 'listener 8883' line to render"
}

declare -A RL_PW

# Adds a broker user with a fresh password.
rl_broker_user() { # NAME
    local pw
    pw=$(rl_secret)
    RL_PW[$1]=$pw
    if [ -f "$T/broker/passwd" ]; then
        mosquitto_passwd -b "$T/broker/passwd" "$1" "$pw"
    else
        mosquitto_passwd -c -b "$T/broker/passwd" "$1" "$pw"
    fi
    chmod 600 "$T/broker/passwd"
}

rl_broker_start() { # start (or restart) the gateway broker on $BROKER_PORT
    BROKER_PORT=${BROKER_PORT:-$(rl_free_port)}
    if [ ! -f "$T/broker/mosquitto.conf" ]; then
        rl_broker_render "$T/broker" "$BROKER_PORT"
    fi
    mosquitto -c "$T/broker/mosquitto.conf" >>"$T/broker.log" 2>&1 &
    BROKER_PID=$!
    RL_PIDS+=("$BROKER_PID")
    rl_wait_port "$BROKER_PORT" 10 || rl_fail "mosquitto did not listen on $BROKER_PORT"
    rl_wait_port "$BROKER_TLS_PORT" 10 || rl_fail "mosquitto did not listen on $BROKER_TLS_PORT (TLS)"
}

rl_broker_stop() {
    kill -TERM "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
}

# Writes $T/relaisd.conf; "section.key=value" arguments add keys or override
# the defaults below.
rl_relaisd_conf() {
    local pwfile="$T/relaisd.pw"
    printf '%s\n' "${RL_PW[relaisd]}" >"$pwfile"
    chmod 600 "$pwfile"
    local -A kv=(
        [gateway.id]="${RL_GATEWAY_ID:-gw-test}"
        [gateway.data_dir]="$T/data"
        [gateway.log_level]="${RL_LOG_LEVEL:-info}"
        [local.port]="$BROKER_PORT"
        [local.username]=relaisd
        [local.password_file]="$pwfile"
        [local.reconnect_min_ms]=50
        [local.reconnect_max_ms]=500
        [coap.port]=0
        [coap.dtls_port]=0
    )
    local arg
    for arg in "$@"; do
        kv[${arg%%=*}]=${arg#*=}
    done
    local section key
    {
        for section in gateway local coap upstream store careplan rules control; do
            local first=1
            for key in $(printf '%s\n' "${!kv[@]}" | grep "^$section\." | sort); do
                [ $first = 1 ] && echo "[$section]" && first=0
                echo "${key#*.} = ${kv[$key]}"
            done
        done
    } >"$T/relaisd.conf"
}

# relaisctl finds relaisd through the configuration; with RL_CTL_DIRECT=1
# (while a test holds a broken configuration) it is given the paths instead.
rl_ctl() {
    if [ "${RL_CTL_DIRECT:-0}" = 1 ]; then
        "$RELAISCTL" --socket "$T/data/relaisd.sock" --db "$T/data/relais.db" "$@"
    else
        "$RELAISCTL" -c "$T/relaisd.conf" "$@"
    fi
}

# A field of `relaisctl status --json`, e.g. local.connected, coap.sessions.
rl_status_field() {
    local json
    json=$(rl_ctl --json status 2>/dev/null) || return 1
    jq -r ".$1" <<<"$json"
}

rl_relaisd_start() { # [RELAISD_ARGS...] start relaisd, wait until it is connected to the broker
    "$RELAISD" -c "$T/relaisd.conf" "$@" >>"$T/relaisd.log" 2>&1 &
    RELAISD_PID=$!
    RL_PIDS+=("$RELAISD_PID")
    local deadline=$((SECONDS + 15))
    while [ $SECONDS -lt "$deadline" ]; do
        if [ "$(rl_status_field local.connected 2>/dev/null)" = "true" ]; then return 0; fi
        kill -0 "$RELAISD_PID" 2>/dev/null || rl_fail "relaisd exited at start"
        sleep 0.05
    done
    rl_fail "relaisd did not connect to the broker"
}

rl_relaisd_stop() { # SIGTERM and check the exit status is 0
    kill -TERM "$RELAISD_PID"
    local rc=0
    wait "$RELAISD_PID" || rc=$?
    [ "$rc" -eq 0 ] || rl_fail "relaisd exited with $rc after SIGTERM"
}

# Publishes FILE (or -m TEXT) as DEVICE's pack SEQ, with DEVICE's credentials.
rl_pub() { # DEVICE SEQ (FILE | -m TEXT)
    local dev=$1 seq=$2
    shift 2
    local args=(-f "$1")
    [ "$1" = "-m" ] && args=(-m "$2")
    mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -u "$dev" -P "${RL_PW[$dev]}" -q 1 \
        -i "$dev-pub" -t "relais/dev/$dev/up/$seq" "${args[@]}"
}

# ---- signed dose records (docs/contract.md) ----
# A pill box's record-signing key (hex), minted at test time by relaisctl
# device add (the JSON answer's "record_key"); kept in RL_RK[DEVICE].
declare -A RL_RK RL_PSK
rl_record_key_of() { sed -n 's/.*"record_key": "\([0-9a-f]*\)".*/\1/p'; }
# Registers DEVICE as a pill box in the store (relaisd stopped or running)
# and keeps its record key and DTLS PSK.
rl_pillbox_add() { # DEVICE [PATIENT]
    local out
    out=$(rl_ctl --json device add "$1" --kind pillbox ${2:+--patient "$2"}) ||
        rl_fail "relaisctl device add $1 failed: $out"
    RL_RK[$1]=$(printf '%s' "$out" | rl_record_key_of)
    RL_PSK[$1]=$(printf '%s' "$out" | sed -n 's/.*"psk": "\([^"]*\)".*/\1/p')
    [ ${#RL_RK[$1]} -eq 64 ] || rl_fail "device add $1 printed no 64-digit record key"
}
# The record signature of FILE as DEVICE's pack SEQ: HMAC-SHA256 under KEY
# (hex) of "relais-dose-v1" 0 DEVICE 0 SEQ 0 then the body; 64 hex digits.
rl_sig() { # KEY DEVICE SEQ FILE
    { printf 'relais-dose-v1\0%s\0%s\0' "$2" "$3"; cat "$4"; } |
        openssl dgst -sha256 -mac HMAC -macopt "hexkey:$1" | sed 's/.*= *//'
}
# Publishes FILE as DEVICE's pack SEQ over MQTT v5 with its signature
# (DEVICE's record key, or KEY) in the user property relais-sig.
rl_pub_signed() { # DEVICE SEQ FILE [KEY]
    local key=${4:-${RL_RK[$1]}}
    mosquitto_pub -V mqttv5 -h 127.0.0.1 -p "$BROKER_PORT" -u "$1" -P "${RL_PW[$1]}" -q 1 \
        -i "$1-pub" -t "relais/dev/$1/up/$2" -f "$3" \
        -D publish user-property relais-sig "$(rl_sig "$key" "$1" "$2" "$3")"
}

# Creates DEVICE's persistent ack session (so no ack is missed), then later
# rl_acks collects what the broker queued for it.
rl_ack_session() { # DEVICE
    mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -u "$1" -P "${RL_PW[$1]}" -q 1 -c \
        -i "$1-acks" -t "relais/dev/$1/ack/+" -E
}

rl_acks() { # DEVICE COUNT [TIMEOUT_S] -> "topic body" lines
    mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -u "$1" -P "${RL_PW[$1]}" -q 1 -c \
        -i "$1-acks" -t "relais/dev/$1/ack/+" -v -C "$2" -W "${3:-10}"
}

# Polls CMD (quietly) until it succeeds, for up to TIMEOUT seconds.
rl_wait_for() { # TIMEOUT WHAT CMD...
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    while [ $SECONDS -lt "$deadline" ]; do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    rl_fail "timed out waiting for: $what"
}

rl_sqlite() { sqlite3 -readonly "$T/data/relais.db" "$@"; }

# The store keeps metric names sealed; its SQL compares keyed tags (docs/
# storage.md): rl_mtag METRIC prints the tag as an SQL blob literal, derived
# here from the store key with openssl, as relaisd derives it.
rl_hmac_hex() { # KEYHEX DATA
    printf '%s' "$2" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$1" -binary | od -An -v -tx1 | tr -d ' \n'
}
rl_mtag() {
    local key index
    key=$(tr -d '\n' <"${RL_STORE_KEY:-$T/data/store.key}")
    index=$(rl_hmac_hex "$key" relais/store/index/v1)
    printf "X'%s'" "$(rl_hmac_hex "$index" "$1" | cut -c1-16)"
}

rl_expect_eq() { # WHAT GOT WANT
    [ "$2" = "$3" ] || rl_fail "$1: got '$2', want '$3'"
    rl_log "ok: $1 = $3"
}

rl_expect_match() { # WHAT GOT REGEX
    [[ $2 =~ $3 ]] || rl_fail "$1: '$2' does not match /$3/"
    rl_log "ok: $1 ~ /$3/"
}

# Waits for DEVICE's ack of SEQ (other acks the session delivers meanwhile,
# such as a redelivery after a broker restart, are consumed and ignored).
rl_wait_ack() { # DEVICE SEQ [TIMEOUT_S] -> the ack line
    local out="$T/ack.$1.$2" deadline=$((SECONDS + ${3:-10})) pid line
    mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -u "$1" -P "${RL_PW[$1]}" -q 1 -c \
        -i "$1-acks" -t "relais/dev/$1/ack/+" -v -W "${3:-10}" >"$out" 2>/dev/null &
    pid=$!
    while [ $SECONDS -lt "$deadline" ]; do
        line=$(grep -m1 "/ack/$2 " "$out" || true)
        if [ -n "$line" ]; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            printf '%s\n' "$line"
            return 0
        fi
        sleep 0.05
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    return 1
}
