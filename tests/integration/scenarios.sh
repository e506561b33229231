#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Every scenario of tests/scenarios/ through the real thing: the gateway's
# mosquitto from broker-config/, relaisd with --test-clock (a fresh store per
# scenario), each scenario device an MQTT client with its own broker account.
# The same files run in-process as unit tests (unit.scenario.*); here they
# prove the wiring: ingest -> commit -> rules -> alerts, acknowledgements and
# care plans through the control socket, commands to the devices over MQTT,
# a real restart of relaisd.
#
# Files whose first lines say "# engine-only: WHY" are not run here (they
# drive a condition only the in-process backend can set); the list is printed.
source "$(dirname "$0")/lib.sh"
: "${RELAIS_SCENARIO:?}"

files=()
while IFS= read -r f; do files+=("$f"); done < <(find "$RELAIS_SRC/tests/scenarios" -name '*.scn' | sort)
[ "${#files[@]}" -gt 0 ] || rl_fail "no scenario files"

DEV_PW=$(rl_secret)
mkdir -p "$T/broker"
rl_broker_render "$T/broker" "${BROKER_PORT:=$(rl_free_port)}"
rl_broker_user relaisd
for dev in $("$RELAIS_SCENARIO" --list-devices "${files[@]}" | sort -u); do
    if [ -f "$T/broker/passwd" ]; then
        mosquitto_passwd -b "$T/broker/passwd" "$dev" "$DEV_PW"
    else
        mosquitto_passwd -c -b "$T/broker/passwd" "$dev" "$DEV_PW"
    fi
done
rl_broker_start

ran=0
for f in "${files[@]}"; do
    name=$(basename "$f" .scn)
    if head -5 "$f" | grep -q '^# engine-only:'; then
        rl_log "not through relaisd: $name ($(head -5 "$f" | sed -n 's/^# engine-only: //p'))"
        continue
    fi
    n=$((ran + 1))
    rl_relaisd_conf gateway.data_dir="$T/data-$n" rules.clock_check=false \
        rules.eval_delay_ms=0
    rl_log "scenario $name"
    "$RELAIS_SCENARIO" --daemon --relaisd "$RELAISD" --config "$T/relaisd.conf" \
        --socket "$T/data-$n/relaisd.sock" --broker-port "$BROKER_PORT" \
        --device-password "$DEV_PW" --log "$T/relaisd.log" "$f" || {
        # this test's output is long: ctest may cut the logs rl_fail prints
        echo "----- relaisd.log of $name (last 30 lines)"
        tail -n 30 "$T/relaisd.log"
        rl_fail "scenario $name failed through relaisd"
    }
    ran=$n
done
rl_log "$ran scenarios passed through relaisd"
