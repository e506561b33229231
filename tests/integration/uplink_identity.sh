#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The gateway's own identity towards the hospital broker, provisioned by
# relaisctl: `relaisctl uplink csr` writes a fresh EC P-256 key to
# [upstream] key_file (0600) and prints a CSR (CN = the gateway id) that
# openssl verifies and that matches the key; the hospital's CA signs it (as
# the hospital would); relaisd connects to the real hospital broker's
# certificate listener with it and its status arrives there. A second run
# refuses to overwrite the key.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/hospital_lib.sh"

GW=gw-ident
hb_certs "$T/certs" "$GW"
hb_start hospital
BROKER_PORT=$(rl_free_port)
rl_broker_render "$T/broker" "$BROKER_PORT"
rl_broker_user relaisd
rl_broker_start

KEY="$T/uplink/gateway.key"
CERT="$T/uplink/gateway.crt"
mkdir -p "$T/uplink"
RL_GATEWAY_ID=$GW rl_relaisd_conf \
    upstream.host=127.0.0.1 upstream.port="$HB_CERT_PORT" upstream.tls=true \
    upstream.ca_file="$HB_CA" upstream.cert_file="$CERT" upstream.key_file="$KEY"

"$RELAISCTL" -c "$T/relaisd.conf" uplink csr >"$T/gw.csr" 2>"$T/csr.err" || rl_fail "uplink csr failed: $(cat "$T/csr.err")"
rl_expect_eq "key mode" "$(stat -c %a "$KEY")" 600
openssl req -in "$T/gw.csr" -noout -verify 2>&1 | grep -q "verify OK" || rl_fail "the CSR does not verify"
rl_expect_match "CSR subject" "$(openssl req -in "$T/gw.csr" -noout -subject)" "CN *= *$GW"
[ "$(openssl req -in "$T/gw.csr" -noout -pubkey)" = "$(openssl pkey -in "$KEY" -pubout)" ] ||
    rl_fail "the CSR is not for the key written"
rl_expect_match "EC P-256" "$(openssl pkey -in "$KEY" -noout -text)" "prime256v1|P-256"

# a second request would replace the identity: refused, the key untouched
SUM=$(sha256sum <"$KEY")
RC=0
"$RELAISCTL" -c "$T/relaisd.conf" uplink csr >/dev/null 2>"$T/csr2.err" || RC=$?
rl_expect_eq "second csr: exit" "$RC" 1
rl_expect_match "second csr: why" "$(cat "$T/csr2.err")" "exists"
rl_expect_eq "the key is untouched" "$(sha256sum <"$KEY")" "$SUM"

# the hospital's CA signs it; relaisd connects with it
printf '[ext]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >"$T/ext"
openssl x509 -req -in "$T/gw.csr" -CA "$HB_CA" -CAkey "$HB_CERTS/ca.key" -CAcreateserial -days 2 \
    -sha256 -extfile "$T/ext" -extensions ext -out "$CERT" 2>/dev/null || rl_fail "the CA refused the CSR"
hb_sub_bg "$T/status.out" cert:hospital-had -t "relais/gw/$GW/status" -C 1
rl_relaisd_start
rl_wait_for 15 "relaisd connected with its provisioned identity" \
    sh -c "[ \"\$(\"$RELAISCTL\" -c '$T/relaisd.conf' --json status | jq -r .upstream.connected)\" = true ]"
rl_wait_for 10 "its status at the hospital" grep -q '"state":"online"' "$T/status.out"
rl_log "ok: relaisd reached the hospital broker with the key and certificate relaisctl provisioned"
rl_relaisd_stop
