#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The backlog drain to the hospital, measured: relaisd buffers BENCH_READINGS
# readings (default 100 000: three simulated days of packs of 3 readings)
# while the hospital broker is down, then drains them unpaced
# ([upstream] backlog_rate = 0); a desaturation raised during the drain gives
# the alert's latency (reading acknowledged -> alert Bundle received by the
# professional's subscriber).  The baseline, in the same run on the same
# brokers: mosquitto_pub publishing the very same Bundles (same bytes, QoS 1,
# TLS) with no store and no rendering.  Prints one BENCH line:
#   readings, messages, drain_s, drain_readings_per_s, baseline_s,
#   baseline_readings_per_s, ratio (drain rate / baseline rate), alert_latency_ms
#
#   tools/bench/uplink-drain.sh [BUILD_DIR]     (default build/release)
#   BENCH_READINGS=N, BENCH_BACKLOG_RATE=R (rows/s; default 0: unpaced)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
B=${1:-$SRC/build/release}
[ -x "$B/edge/relaisd" ] || { echo "build first: cmake --preset release && cmake --build build/release" >&2; exit 2; }
READINGS=${BENCH_READINGS:-100000}
export RELAIS_SRC=$SRC RELAIS_BIN=$B RELAISD=$B/edge/relaisd RELAISCTL=$B/tools/relaisctl
export OUTAGE_PACKS_PER_DAY=$(((READINGS + 8) / 9)) OUTAGE_BACKLOG_RATE=${BENCH_BACKLOG_RATE:-0} OUTAGE_BENCH=1
bash "$SRC/tests/integration/outage.sh" | grep -E '^BENCH|drain:|outage:|FAIL'
