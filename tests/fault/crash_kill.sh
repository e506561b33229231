#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SIGKILL relaisd at random moments, CRASH_CYCLES times (default 50), while a
# device publishes thousands of packs and resends whatever was not
# acknowledged.  Afterwards every acknowledged pack is in the store exactly
# once, nothing is flagged (resends are byte-identical), and
# PRAGMA integrity_check is ok.
. "$(dirname "$0")/../integration/lib.sh"
: "${RELAIS_LOADGEN:?}"
CYCLES=${CRASH_CYCLES:-50}

mkdir -p "$T/broker"
rl_broker_user relaisd
rl_broker_user crash-1
BROKER_PORT=$(rl_free_port)
rl_broker_start
rl_relaisd_conf
rl_relaisd_start
printf '%s\n' "${RL_PW[crash-1]}" >"$T/dev.pw"

"$RELAIS_LOADGEN" pub --port "$BROKER_PORT" --device crash-1 --password-file "$T/dev.pw" \
    --count 0 --inflight 64 --resend-ms 800 --records 4 --acked-file "$T/acked.txt" \
    >"$T/loadgen.out" 2>"$T/loadgen.log" &
LOADGEN_PID=$!
RL_PIDS+=("$LOADGEN_PID")

for cycle in $(seq "$CYCLES"); do
    # a random moment: 50..600 ms into this incarnation
    sleep "0.$(printf '%03d' $((50 + RANDOM % 550)))"
    kill -KILL "$RELAISD_PID" 2>/dev/null || rl_fail "relaisd was not running at cycle $cycle"
    wait "$RELAISD_PID" 2>/dev/null || true
    # restart at once half of the time, after a pause the other half
    [ $((RANDOM % 2)) -eq 0 ] || sleep "0.$((RANDOM % 3))"
    "$RELAISD" -c "$T/relaisd.conf" >>"$T/relaisd.log" 2>&1 &
    RELAISD_PID=$!
    RL_PIDS+=("$RELAISD_PID")
done
rl_log "$CYCLES SIGKILL cycles done; draining"

# stop publishing new packs; the device waits until every pack is acked
kill -USR1 "$LOADGEN_PID"
for _ in $(seq 600); do kill -0 "$LOADGEN_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$LOADGEN_PID" 2>/dev/null; then
    rl_fail "the device still has unacknowledged packs after 60 s: $(cat "$T/loadgen.out")"
fi
wait "$LOADGEN_PID" || rl_fail "loadgen failed: $(cat "$T/loadgen.log")"
cat "$T/loadgen.out"
rl_relaisd_stop

acked=$(wc -l <"$T/acked.txt")
[ "$acked" -ge 1000 ] || rl_fail "only $acked packs acknowledged: the test is too weak"
rl_log "$acked packs acknowledged across $CYCLES crashes"
grep -qv ' stored$\| duplicate$' "$T/acked.txt" && rl_fail "a pack was not stored: $(grep -v ' stored$\| duplicate$' "$T/acked.txt" | head -3)"

# every acknowledged seq exactly once in the store
cut -d' ' -f1 "$T/acked.txt" | sort -n >"$T/acked.seqs"
rl_sqlite "SELECT seq FROM packs WHERE device = 'crash-1' ORDER BY seq" >"$T/stored.seqs"
missing=$(comm -23 <(sort "$T/acked.seqs") <(sort "$T/stored.seqs") | wc -l)
rl_expect_eq "acknowledged packs missing from the store" "$missing" 0
rl_expect_eq "packs stored more than once" \
    "$(rl_sqlite "SELECT count(*) FROM (SELECT seq FROM packs WHERE device='crash-1' GROUP BY seq HAVING count(*) > 1)")" 0
rl_expect_eq "flagged packs" "$(rl_sqlite 'SELECT count(*) FROM packs WHERE flags != 0')" 0
rl_expect_eq "readings of stored packs" "$(rl_sqlite "SELECT count(*) FROM readings")" \
    "$(rl_sqlite "SELECT sum(records) FROM packs")"
rl_expect_eq "integrity_check" "$(rl_sqlite 'PRAGMA integrity_check')" ok
rl_log "PASS"
