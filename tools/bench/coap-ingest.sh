#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Benchmark of durable CoAP ingest (DESIGN.md section 9): the same client
# (relais-coap, libcoap, DTLS-PSK, confirmable requests of a 3-record pack)
# against relaisd — which answers 2.04 only after the group commit that holds
# the pack (WAL, synchronous=FULL) — and against libcoap's own
# coap-server-openssl answering a PUT of the same bytes from memory, with 1 and
# 8 requests in flight; then DTLS handshakes per second against both.
#
#   tools/bench/coap-ingest.sh [PACKS]    (default 5000; builds the release preset)
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-5000}
ROUNDS=${ROUNDS:-3}
HS=${HANDSHAKES:-300}

cmake --preset release >/dev/null
cmake --build --preset release >/dev/null
B=build/release
export RELAIS_SRC=$PWD RELAISD=$PWD/$B/edge/relaisd RELAISCTL=$PWD/$B/tools/relaisctl
COAP=$PWD/$B/tools/relais-coap
. tests/integration/lib.sh

mkdir -p "$T/broker"
rl_broker_user relaisd
BROKER_PORT=$(rl_free_port)
rl_broker_start
DP=$(rl_free_port)
rl_relaisd_conf coap.dtls_port="$DP" coap.bind=127.0.0.1 coap.request_rate=1000000 \
    coap.handshake_rate=100000 coap.max_sessions=4096 gateway.log_level=warn
rl_relaisd_start
KEY=$(rl_ctl --json device add bench-1 --kind pillbox | sed -n 's/.*"psk": "\([^"]*\)".*/\1/p')

# libcoap's server on its own port pair (DTLS on port + 1), the same key
LP=$(rl_free_port)
coap-server-openssl -A 127.0.0.1 -p "$LP" -k "$KEY" -v 0 >"$T/coap-server.log" 2>&1 &
RL_PIDS+=($!)
sleep 0.5

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
run_relaisd() { # INFLIGHT FIRST-SEQ
    local out
    out=$("$COAP" post --port "$DP" --device bench-1 --psk "$KEY" --count "$N" --inflight "$1" \
        --start-seq "$2")
    [ "$(field stored <<<" $out")" = "$N" ] || rl_fail "relaisd did not store every pack: $out"
    field rate <<<" $out"
}
run_libcoap() { # INFLIGHT
    local out
    out=$("$COAP" post --port $((LP + 1)) --device bench-1 --psk "$KEY" --count "$N" \
        --inflight "$1" --method put --path example_data)
    [ "$(field answered <<<" $out")" = "$N" ] || rl_fail "coap-server did not answer: $out"
    field rate <<<" $out"
}

declare -a R1 L1 R8 L8
seq0=1
for r in $(seq "$ROUNDS"); do
    L1[$r]=$(run_libcoap 1)
    R1[$r]=$(run_relaisd 1 "$seq0")
    L8[$r]=$(run_libcoap 8)
    R8[$r]=$(run_relaisd 8 $((seq0 + N)))
    seq0=$((seq0 + 2 * N))
    printf 'round %d: 1 in flight: coap-server %s/s, relaisd %s/s; 8 in flight: coap-server %s/s, relaisd %s/s\n' \
        "$r" "${L1[$r]}" "${R1[$r]}" "${L8[$r]}" "${R8[$r]}"
done
hs_r=$("$COAP" handshakes --port "$DP" --device bench-1 --psk "$KEY" --count "$HS" --start-seq "$seq0" | field rate)
hs_l=$("$COAP" handshakes --port $((LP + 1)) --device bench-1 --psk "$KEY" --count "$HS" --method put --path example_data | field rate)
rss=$(awk '/^VmHWM/ {print $2}' "/proc/$RELAISD_PID/status")
rl_relaisd_stop

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
l1=$(median "${L1[@]}"); r1=$(median "${R1[@]}"); l8=$(median "${L8[@]}"); r8=$(median "${R8[@]}")
echo
echo "durable CoAP ingest over DTLS-PSK, $N confirmable packs of 3 records per run, median of $ROUNDS rounds"
printf '  %-52s %8s %8s\n' "" "1 in flight" "8 in flight"
printf '  %-52s %8s %8s packs/s\n' "coap-server-openssl (PUT from memory)" "$l1" "$l8"
printf '  %-52s %8s %8s packs/s\n' "relaisd (stored, synchronous=FULL, then 2.04)" "$r1" "$r8"
awk -v l1="$l1" -v r1="$r1" -v l8="$l8" -v r8="$r8" 'BEGIN {
    printf "  relaisd / coap-server = %.2f (1 in flight), %.2f (8 in flight)   (DESIGN 9 target >= 0.60)\n", r1 / l1, r8 / l8 }'
printf '  DTLS handshakes (a new session and one request each): relaisd %s/s, coap-server %s/s\n' "$hs_r" "$hs_l"
printf '  relaisd peak RSS: %d KiB\n' "$rss"
