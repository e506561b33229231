# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# The hospital broker for the integration tests: a real mosquitto started from
# broker-config/hospital/ on two ephemeral loopback ports (TLS + client
# certificate, TLS + password), with certificates and passwords generated at
# test time (no key is ever committed).  Source lib.sh first: this file uses
# its $T, RL_PIDS (the EXIT trap stops what is started), rl_free_port,
# rl_wait_port, rl_secret, rl_log and rl_fail.
#
#   hb_certs DIR GATEWAY_ID   CA, server, client and broken certificates
#   hb_cert_client CN         one more client certificate from the CA
#   hb_start [NAME]           render the config, start, wait until it listens
#   hb_stop / hb_restart      an outage and the return (same ports, same data)
#   hb_start_with_server_cert CERT KEY
#                             (re)start presenting another server certificate
#   hb_user NAME              one more password user (HB_PW[NAME])
#   hb_pub AUTH ARGS... / hb_sub AUTH ARGS...
#                             mosquitto_pub/_sub over TLS, AUTH = cert:CN
#                             (certificate listener, $HB_CERTS/CN.crt) or
#                             pw:USER (password listener, HB_PW[USER])
#   hb_sub_bg OUT AUTH ARGS...  hb_sub in the background into file OUT
#                             (HB_BG_PID); hb_sub_stop PID
#
# Variables, set by hb_certs:
#   HB_CERTS            the certificate directory; for every client, CN.crt
#                       and CN.key there (keys 0600)
#   HB_GATEWAY_ID       the gateway of the client certificate (e.g. gw1)
#   HB_CA               the hospital CA (ca.crt), what clients pin
#   HB_SERVER_CERT/KEY  the broker's certificate (SAN 127.0.0.1, localhost)
#   HB_GW_CERT/KEY      client certificate CN=$HB_GATEWAY_ID
#   HB_PRO_CERT/KEY     client certificate CN=hospital-had (a professional)
#   HB_GW_EXPIRED_CERT/KEY      CN=$HB_GATEWAY_ID, expired (2021); also
#                               reachable as cert:$HB_GATEWAY_ID.expired
#   HB_SERVER_EXPIRED_CERT/KEY  the broker's certificate, expired
#   HB_WRONG_CA                 an unrelated CA
#   HB_WRONG_SERVER_CERT/KEY    a server certificate (127.0.0.1) from it
# and by hb_start:
#   HB_CERT_PORT        the certificate listener's port (127.0.0.1)
#   HB_PW_PORT          the password listener's port (127.0.0.1)
#   HB_DIR              the broker's directory (config, acl, passwd, persist/)
#   HB_LOG              its log ($T/NAME.log, shown when a test fails)
#   HB_PID              the running mosquitto
#   HB_PW[USER]         the password of each password user: hospital-had,
#                       hospital-coord, hospital-careplan and $HB_GATEWAY_ID
#   HB_PRO_USERS        "hospital-had hospital-coord hospital-careplan"

HB_PRO_USERS="hospital-had hospital-coord hospital-careplan"
declare -A HB_PW
HB_PID=""

# openssl, quietly; its messages go to $HB_CERTS/openssl.log.
hb__ssl() {
    openssl "$@" 2>>"$HB_CERTS/openssl.log" >/dev/null ||
        rl_fail "openssl $1 failed (see $HB_CERTS/openssl.log)"
}

hb__key() { # FILE: a fresh EC P-256 key, 0600
    (umask 077 && hb__ssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1")
}

hb__ca() { # NAME CN: a self-signed CA NAME.crt / NAME.key
    hb__key "$HB_CERTS/$1.key"
    hb__ssl req -x509 -new -key "$HB_CERTS/$1.key" -out "$HB_CERTS/$1.crt" -days 30 \
        -subj "/O=relais test/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash"
}

# Signs NAME.crt for CN with CA (ca or wrongca); KIND is server or client.
# With START END (YYYYMMDDHHMMSSZ) the validity is those dates (openssl ca
# takes them; openssl x509 in 3.0 cannot backdate), else 30 days from now.
hb__sign() { # CA NAME CN KIND [START END]
    local ca=$1 name=$2 cn=$3 kind=$4 ext="$HB_CERTS/$2.ext"
    hb__key "$HB_CERTS/$name.key"
    hb__ssl req -new -key "$HB_CERTS/$name.key" -out "$HB_CERTS/$name.csr" \
        -subj "/O=relais test/CN=$cn"
    {
        echo "[ext]"
        echo "basicConstraints=critical,CA:FALSE"
        echo "keyUsage=critical,digitalSignature"
        echo "authorityKeyIdentifier=keyid"
        if [ "$kind" = server ]; then
            echo "extendedKeyUsage=serverAuth"
            echo "subjectAltName=IP:127.0.0.1,DNS:localhost"
        else
            echo "extendedKeyUsage=clientAuth"
        fi
    } >"$ext"
    if [ $# -ge 6 ]; then
        local db="$HB_CERTS/$ca.db"
        mkdir -p "$db"
        [ -f "$db/index.txt" ] || : >"$db/index.txt"
        [ -f "$db/serial" ] || openssl rand -hex 8 >"$db/serial"
        cat >"$db/ca.cnf" <<CNF
[ca]
default_ca = hb
[hb]
database = $db/index.txt
serial = $db/serial
new_certs_dir = $db
certificate = $HB_CERTS/$ca.crt
private_key = $HB_CERTS/$ca.key
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[anything]
commonName = supplied
organizationName = optional
CNF
        cat "$ext" >>"$db/ca.cnf"
        hb__ssl ca -batch -notext -config "$db/ca.cnf" -extensions ext \
            -startdate "$5" -enddate "$6" -in "$HB_CERTS/$name.csr" -out "$HB_CERTS/$name.crt"
    else
        hb__ssl x509 -req -in "$HB_CERTS/$name.csr" -CA "$HB_CERTS/$ca.crt" \
            -CAkey "$HB_CERTS/$ca.key" -CAcreateserial -days 30 -sha256 \
            -extfile "$ext" -extensions ext -out "$HB_CERTS/$name.crt"
    fi
    rm -f "$HB_CERTS/$name.csr" "$ext"
}

# All the test certificates, in DIR.
hb_certs() { # DIR GATEWAY_ID
    HB_CERTS=$1
    HB_GATEWAY_ID=$2
    mkdir -p "$HB_CERTS"
    chmod 700 "$HB_CERTS"
    hb__ca ca "relais test hospital CA"
    hb__sign ca server 127.0.0.1 server
    hb__sign ca "$HB_GATEWAY_ID" "$HB_GATEWAY_ID" client
    hb__sign ca hospital-had hospital-had client
    hb__sign ca "$HB_GATEWAY_ID.expired" "$HB_GATEWAY_ID" client 20200101000000Z 20210101000000Z
    hb__sign ca server.expired 127.0.0.1 server 20200101000000Z 20210101000000Z
    hb__ca wrongca "relais test unrelated CA"
    hb__sign wrongca server.wrongca 127.0.0.1 server
    HB_CA=$HB_CERTS/ca.crt
    HB_SERVER_CERT=$HB_CERTS/server.crt HB_SERVER_KEY=$HB_CERTS/server.key
    HB_GW_CERT=$HB_CERTS/$HB_GATEWAY_ID.crt HB_GW_KEY=$HB_CERTS/$HB_GATEWAY_ID.key
    HB_PRO_CERT=$HB_CERTS/hospital-had.crt HB_PRO_KEY=$HB_CERTS/hospital-had.key
    HB_GW_EXPIRED_CERT=$HB_CERTS/$HB_GATEWAY_ID.expired.crt
    HB_GW_EXPIRED_KEY=$HB_CERTS/$HB_GATEWAY_ID.expired.key
    HB_SERVER_EXPIRED_CERT=$HB_CERTS/server.expired.crt
    HB_SERVER_EXPIRED_KEY=$HB_CERTS/server.expired.key
    HB_WRONG_CA=$HB_CERTS/wrongca.crt
    HB_WRONG_SERVER_CERT=$HB_CERTS/server.wrongca.crt
    HB_WRONG_SERVER_KEY=$HB_CERTS/server.wrongca.key
    export HB_CERTS HB_GATEWAY_ID HB_CA HB_SERVER_CERT HB_SERVER_KEY HB_GW_CERT HB_GW_KEY \
        HB_PRO_CERT HB_PRO_KEY HB_GW_EXPIRED_CERT HB_GW_EXPIRED_KEY \
        HB_SERVER_EXPIRED_CERT HB_SERVER_EXPIRED_KEY HB_WRONG_CA \
        HB_WRONG_SERVER_CERT HB_WRONG_SERVER_KEY
}

# One more client certificate from the hospital CA: $HB_CERTS/CN.crt, CN.key.
hb_cert_client() { # CN
    hb__sign ca "$1" "$1" client
}

# Renders broker-config/hospital/mosquitto.conf into $HB_DIR: only the lines
# the file marks "site:" change (the two listener ports on loopback, file
# locations, user), and the server certificate is CERT KEY.
hb_render() { # CERT KEY
    local user
    user=$(id -un)
    mkdir -p "$HB_DIR/persist"
    cp "$RELAIS_SRC/broker-config/hospital/acl" "$HB_DIR/acl"
    sed -e "s|^password_file .*|password_file $HB_DIR/passwd|" \
        -e "s|^acl_file .*|acl_file $HB_DIR/acl|" \
        -e "s|^user .*|user $user|" \
        -e "s|^listener 8883\$|listener $HB_CERT_PORT 127.0.0.1|" \
        -e "s|^listener 8884\$|listener $HB_PW_PORT 127.0.0.1|" \
        -e "s|^cafile .*|cafile $HB_CA|" \
        -e "s|^certfile .*|certfile $1|" \
        -e "s|^keyfile .*|keyfile $2|" \
        -e "s|^persistence_location .*|persistence_location $HB_DIR/persist/|" \
        "$RELAIS_SRC/broker-config/hospital/mosquitto.conf" >"$HB_DIR/mosquitto.conf"
    if ! grep -q "^listener $HB_CERT_PORT 127.0.0.1\$" "$HB_DIR/mosquitto.conf" ||
        ! grep -q "^listener $HB_PW_PORT 127.0.0.1\$" "$HB_DIR/mosquitto.conf"; then
        rl_fail "hb_render: the listener lines of broker-config/hospital/mosquitto.conf changed"
    fi
}

# A password user with a fresh password (HB_PW[NAME]); a running broker
# rereads the file.
hb_user() { # NAME
    local pw
    pw=$(rl_secret)
    HB_PW[$1]=$pw
    if [ -f "$HB_DIR/passwd" ]; then
        mosquitto_passwd -b "$HB_DIR/passwd" "$1" "$pw"
    else
        mosquitto_passwd -c -b "$HB_DIR/passwd" "$1" "$pw"
    fi
    chmod 600 "$HB_DIR/passwd"
    if [ -n "$HB_PID" ] && kill -0 "$HB_PID" 2>/dev/null; then
        kill -HUP "$HB_PID"
        sleep 0.2
    fi
}

hb__launch() { # CERT KEY
    hb_render "$1" "$2"
    HB_ACTIVE_CERT=$1 HB_ACTIVE_KEY=$2
    mosquitto -c "$HB_DIR/mosquitto.conf" >>"$HB_LOG" 2>&1 &
    HB_PID=$!
    RL_PIDS+=("$HB_PID")
    if ! rl_wait_port "$HB_CERT_PORT" 10 || ! rl_wait_port "$HB_PW_PORT" 10; then
        rl_fail "the hospital broker did not listen on $HB_CERT_PORT and $HB_PW_PORT"
    fi
}

# Starts the hospital broker (certificates from hb_certs, made here for
# gateway ${HB_GATEWAY_ID:-gw1} if it was not called), with the password
# users $HB_PRO_USERS and $HB_GATEWAY_ID.
hb_start() { # [NAME]
    local name=${1:-hospital}
    [ -n "${HB_CA:-}" ] || hb_certs "$T/certs" "${HB_GATEWAY_ID:-gw1}"
    HB_DIR=$T/$name
    HB_LOG=$T/$name.log
    mkdir -p "$HB_DIR"
    HB_CERT_PORT=${HB_CERT_PORT:-$(rl_free_port)}
    HB_PW_PORT=${HB_PW_PORT:-$(rl_free_port)}
    while [ "$HB_PW_PORT" = "$HB_CERT_PORT" ]; do HB_PW_PORT=$(rl_free_port); done
    if [ ! -f "$HB_DIR/passwd" ]; then
        local u
        for u in $HB_PRO_USERS "$HB_GATEWAY_ID"; do hb_user "$u"; done
    fi
    export HB_DIR HB_LOG HB_CERT_PORT HB_PW_PORT
    hb__launch "$HB_SERVER_CERT" "$HB_SERVER_KEY"
}

hb_stop() {
    [ -n "$HB_PID" ] || return 0
    kill -TERM "$HB_PID" 2>/dev/null || true
    wait "$HB_PID" 2>/dev/null || true
    HB_PID=""
}

# The broker back after an outage: same ports, same persistence, same
# server certificate as before.
hb_restart() {
    hb_stop
    hb__launch "$HB_ACTIVE_CERT" "$HB_ACTIVE_KEY"
}

# (Re)starts the broker presenting CERT KEY, e.g. $HB_SERVER_EXPIRED_CERT
# $HB_SERVER_EXPIRED_KEY or $HB_WRONG_SERVER_CERT $HB_WRONG_SERVER_KEY;
# hb_start_with_server_cert "$HB_SERVER_CERT" "$HB_SERVER_KEY" goes back.
hb_start_with_server_cert() { # CERT KEY
    if [ -z "${HB_DIR:-}" ]; then
        hb_start hospital
    fi
    hb_stop
    hb__launch "$1" "$2"
}

# The connection arguments of AUTH: cert:CN or pw:USER.
hb__conn() { # AUTH
    case $1 in
    cert:*)
        local cn=${1#cert:}
        [ -f "$HB_CERTS/$cn.crt" ] || rl_fail "hb: no client certificate $HB_CERTS/$cn.crt"
        HB__ARGS=(-h 127.0.0.1 -p "$HB_CERT_PORT" --cafile "$HB_CA"
            --cert "$HB_CERTS/$cn.crt" --key "$HB_CERTS/$cn.key")
        ;;
    pw:*)
        local u=${1#pw:}
        HB__ARGS=(-h 127.0.0.1 -p "$HB_PW_PORT" --cafile "$HB_CA" -u "$u" -P "${HB_PW[$u]:-}")
        ;;
    *) rl_fail "hb: AUTH is cert:CN or pw:USER, not '$1'" ;;
    esac
}

# mosquitto_pub/_sub to the hospital broker over TLS (the CA pinned, the
# server's name checked); further arguments (later ones win, e.g. -p, --cafile)
# are passed on.
hb_pub() { # AUTH ARGS...
    hb__conn "$1"
    shift
    mosquitto_pub "${HB__ARGS[@]}" "$@"
}

# hb_sub's output is line buffered, so a test can follow it in a file.
hb_sub() { # AUTH ARGS...
    hb__conn "$1"
    shift
    stdbuf -oL -eL mosquitto_sub "${HB__ARGS[@]}" "$@"
}

# hb_sub in the background, writing to OUT (stdout and stderr); HB_BG_PID is
# mosquitto_sub itself (not a subshell), stopped by the EXIT trap or by
# hb_sub_stop.
hb_sub_bg() { # OUT AUTH ARGS...
    local out=$1
    shift
    (
        hb__conn "$1"
        shift
        exec stdbuf -oL -eL mosquitto_sub "${HB__ARGS[@]}" "$@"
    ) >"$out" 2>&1 &
    HB_BG_PID=$!
    RL_PIDS+=("$HB_BG_PID")
}

hb_sub_stop() { # PID
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
