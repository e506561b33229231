#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Benchmark of durable MQTT ingest (DESIGN.md section 9), as ratios against
# baselines run beside it on the same broker in the same run:
#   sink   a do-nothing subscriber: the rate the broker delivers QoS 1 packs
#          from a publisher keeping 100 in flight (PUBACK window);
#   echo   a subscriber answering each pack with a "stored" ack at once,
#          without storing it: the same message pattern as relaisd, no durability;
#   relaisd  the real thing: stored (WAL, synchronous=FULL, group commit),
#          then acked; the publisher keeps 100 packs waiting for their ack.
# Also relaisd's RSS idle (10 devices known) and its peak under load.
#
#   tools/bench/mqtt-ingest.sh [PACKS]      (default 50000; builds the release preset)
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-50000}
ROUNDS=${ROUNDS:-3}

cmake --preset release >/dev/null
cmake --build --preset release >/dev/null
B=build/release
export RELAIS_SRC=$PWD RELAISD=$PWD/$B/edge/relaisd RELAISCTL=$PWD/$B/tools/relaisctl
LOADGEN=$PWD/$B/tools/relais-loadgen
. tests/integration/lib.sh

mkdir -p "$T/broker"
rl_broker_user relaisd
for i in $(seq 0 9); do rl_broker_user "dev-$i"; done
BROKER_PORT=$(rl_free_port)
rl_broker_start
printf '%s\n' "${RL_PW[relaisd]}" >"$T/relaisd.pw"
printf '%s\n' "${RL_PW[dev-0]}" >"$T/dev.pw"
chmod 600 "$T"/*.pw

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

# relaisd's persistent session would queue every pack of the baselines for
# it: end that session (a clean-session connect with its client id) first.
drop_relaisd_session() {
    mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -u relaisd -P "${RL_PW[relaisd]}" \
        -i relaisd-gw-test -t relais/none -E >/dev/null
}

sink_run() { # ECHO(0|1) SEQ0 -> rate measured at the publisher (echo) or the sink (plain)
    local echo=$1 seq0=$2 sink_out pub_out
    local args=(--count "$N") ack=puback
    # the echo subscriber runs until the publisher has all its acks
    [ "$echo" = 1 ] && args=(--echo-ack) && ack=relais
    "$LOADGEN" sink --port "$BROKER_PORT" --user relaisd --password-file "$T/relaisd.pw" \
        --topic 'relais/dev/+/up/+' "${args[@]}" >"$T/sink.out" &
    local spid=$!
    sleep 0.3
    pub_out=$("$LOADGEN" pub --port "$BROKER_PORT" --device dev-0 --password-file "$T/dev.pw" \
        --count "$N" --start-seq "$seq0" --inflight 100 --ack "$ack")
    [ "$echo" = 1 ] && kill -TERM "$spid"
    wait "$spid"
    sink_out=$(cat "$T/sink.out")
    if [ "$echo" = 1 ]; then field rate <<<" $pub_out"; else field rate <<<" $sink_out"; fi
}

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }

rl_relaisd_conf ${BENCH_RELAISD_CONF:-}
rl_relaisd_start
# 10 devices, one pack each: the idle gateway of a home
for i in $(seq 0 9); do
    rl_pub "dev-$i" 1 -m '[{"n":"temp","u":"Cel","v":36.8}]'
done
sleep 1
idle_rss=$(rss_kb "$RELAISD_PID")
rl_relaisd_stop

declare -a S E R
seq0=1000
for r in $(seq "$ROUNDS"); do
    drop_relaisd_session
    S[$r]=$(sink_run 0 "$seq0"); seq0=$((seq0 + N))
    E[$r]=$(sink_run 1 "$seq0"); seq0=$((seq0 + N))
    rl_relaisd_start
    out=$("$LOADGEN" pub --port "$BROKER_PORT" --device dev-0 --password-file "$T/dev.pw" \
        --count "$N" --start-seq "$seq0" --inflight 100 --ack relais)
    seq0=$((seq0 + N))
    R[$r]=$(field rate <<<" $out")
    [ "$(field stored <<<" $out")" = "$N" ] || rl_fail "relaisd did not store every pack: $out"
    load_hwm=$(hwm_kb "$RELAISD_PID")
    batch=$(rl_status_field ingest.batch_max)
    rl_relaisd_stop
    printf 'round %d: sink %s/s, echo %s/s, relaisd %s/s (largest group commit %s packs)\n' \
        "$r" "${S[$r]}" "${E[$r]}" "${R[$r]}" "$batch"
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
s=$(median "${S[@]}"); e=$(median "${E[@]}"); r=$(median "${R[@]}")
echo
echo "durable MQTT ingest, $N packs of 3 records per run, 100 in flight, median of $ROUNDS rounds"
printf '  %-46s %8s packs/s\n' "do-nothing subscriber (QoS 1 delivery)" "$s"
printf '  %-46s %8s packs/s\n' "ack-echo subscriber (no storage)" "$e"
printf '  %-46s %8s packs/s\n' "relaisd (stored, synchronous=FULL, then acked)" "$r"
awk -v s="$s" -v e="$e" -v r="$r" 'BEGIN {
    printf "  relaisd / do-nothing subscriber = %.2f   (DESIGN 9 target >= 0.70)\n", r / s
    printf "  relaisd / ack-echo subscriber   = %.2f\n", r / e }'
printf '  relaisd RSS idle (10 devices): %d KiB; peak under load: %d KiB\n' "$idle_rss" "$load_hwm"
