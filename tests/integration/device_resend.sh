#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The vitals hub simulator (firmware/vitals on the posix port: ring log in an
# emulated NOR flash file) against the real broker and the real relaisd.
#
#  a. relaisd stopped while the hub generates 200 packs: they wait in its
#     ring log (a window of 8 is sent and resent with backoff); relaisd back:
#     every pack stored exactly once, no flagged pack, 200 x 8 readings
#  b. the hub SIGKILLed mid-way (some packs acknowledged, some not) and
#     restarted on the same flash file: it resumes the unacknowledged packs,
#     never reuses a seq (0 flagged packs, new seqs above the old ones), and
#     no reading set it had taken is lost (their times form an unbroken run)
#  c. (SenML CBOR) a pack relaisd rejects (--inject-bad) is logged and dropped:
#     never resent (relaisd's rejects table has it exactly once)
source "$(dirname "$0")/lib.sh"

SIM="$RELAIS_BIN/firmware/relais-vitals-sim"
[ -x "$SIM" ] || rl_fail "no $SIM"
RECORDS=8
BT0=1795000000

BROKER_PORT=$(rl_free_port)
rl_broker_render "$T/broker" "$BROKER_PORT"
for u in relaisd vitals-a vitals-b vitals-c; do rl_broker_user "$u"; done
rl_broker_start
for d in vitals-a vitals-b vitals-c; do
    printf '%s\n' "${RL_PW[$d]}" >"$T/$d.pw"
    chmod 600 "$T/$d.pw"
done
rl_relaisd_conf
rl_relaisd_start

sim() { # DEVICE LOGNAME ARGS... (runs in the foreground)
    local dev=$1 log=$2
    shift 2
    "$SIM" --port "$BROKER_PORT" --device "$dev" --password-file "$T/$dev.pw" \
        --flash "$T/$dev.flash" "$@" >>"$T/$log.out" 2>>"$T/$log.log"
}
sim_bg() { # DEVICE LOGNAME ARGS... -> SIM_PID, the simulator's own pid (for SIGKILL)
    local dev=$1 log=$2
    shift 2
    "$SIM" --port "$BROKER_PORT" --device "$dev" --password-file "$T/$dev.pw" \
        --flash "$T/$dev.flash" "$@" >>"$T/$log.out" 2>>"$T/$log.log" &
    SIM_PID=$!
    RL_PIDS+=("$SIM_PID")
}
q() { rl_sqlite "$1"; }
summary() { grep '^relais-vitals-sim: generated=' "$T/$1.out" | tail -n 1; }
field() { sed -n "s/.* $2=\([0-9]*\).*/\1/p" <<<"$1"; } # SUMMARY KEY

# --- a. relaisd down while 200 packs are generated ---------------------------

rl_relaisd_stop
sim_bg vitals-a sim-a --count 200 --bt-start "$BT0" --bt-step 60 \
    --resend-ms 300 --resend-max-ms 2000
sleep 3
kill -0 "$SIM_PID" 2>/dev/null || rl_fail "the hub exited while relaisd was down"
rl_relaisd_start
rc=0
timeout 90 tail --pid="$SIM_PID" -f /dev/null || rc=$?
[ "$rc" = 0 ] || rl_fail "the hub did not finish within 90 s"
wait "$SIM_PID" || rl_fail "the hub exited with $?"
S=$(summary sim-a)
rl_log "a: $S"
rl_expect_eq "a: generated" "$(field "$S" generated)" 200
[ "$(field "$S" resent)" -gt 0 ] || rl_fail "a: nothing was resent while relaisd was down"
rl_expect_eq "a: packs stored" "$(q "SELECT count(*) FROM packs WHERE device='vitals-a'")" 200
rl_expect_eq "a: distinct seqs" "$(q "SELECT count(DISTINCT seq) FROM packs WHERE device='vitals-a'")" 200
rl_expect_eq "a: flagged packs" "$(q "SELECT count(*) FROM packs WHERE device='vitals-a' AND flags != 0")" 0
rl_expect_eq "a: readings" "$(q "SELECT count(*) FROM readings r JOIN packs p ON p.id = r.pack_id WHERE p.device='vitals-a'")" $((200 * RECORDS))
rl_expect_eq "a: distinct reading times" "$(q "SELECT count(DISTINCT r.t) FROM readings r JOIN packs p ON p.id = r.pack_id WHERE p.device='vitals-a' AND r.mtag=$(rl_mtag temp)")" 200

# --- b. the hub SIGKILLed mid-way, restarted on its flash --------------------

BT1=$((BT0 + 1000000))
sim_bg vitals-b sim-b1 --count 400 --interval-ms 20 --bt-start "$BT1" --bt-step 60 \
    --resend-ms 300 --resend-max-ms 2000
sleep 1.5
# some acknowledged by now; stop relaisd so that some are surely not
rl_relaisd_stop
sleep 1
kill -KILL "$SIM_PID"
wait "$SIM_PID" 2>/dev/null || true
kill -0 "$SIM_PID" 2>/dev/null && rl_fail "b: the hub survived SIGKILL"
grep -q '^relais-vitals-sim: generated=' "$T/sim-b1.out" && rl_fail "b: the hub had finished before the kill"
ACKED1=$(q "SELECT count(*) FROM packs WHERE device='vitals-b'")
MAXSEQ1=$(q "SELECT coalesce(max(seq), 0) FROM packs WHERE device='vitals-b'")
rl_log "b: killed; relaisd had stored $ACKED1 packs (max seq $MAXSEQ1)"
[ "$ACKED1" -gt 0 ] || rl_fail "b: nothing stored before the kill"
rl_relaisd_start
BT2=$((BT1 + 1000000))
timeout 90 "$SIM" --port "$BROKER_PORT" --device vitals-b --password-file "$T/vitals-b.pw" \
    --flash "$T/vitals-b.flash" --count 50 --bt-start "$BT2" --bt-step 60 \
    --resend-ms 300 --resend-max-ms 2000 >>"$T/sim-b2.out" 2>>"$T/sim-b2.log" ||
    rl_fail "b: the restarted hub failed ($?)"
RESUMED=$(sed -n 's/.*resumed unacked=\([0-9]*\).*/\1/p' "$T/sim-b2.log" | tail -n 1)
rl_log "b: restarted with $RESUMED unacknowledged packs in its flash; $(summary sim-b2)"
[ "${RESUMED:-0}" -gt 0 ] || rl_fail "b: the restarted hub had nothing to resume"
rl_expect_eq "b: flagged packs (a reused seq)" "$(q "SELECT count(*) FROM packs WHERE device='vitals-b' AND flags != 0")" 0
TOTAL=$(q "SELECT count(*) FROM packs WHERE device='vitals-b'")
rl_expect_eq "b: one pack per seq" "$(q "SELECT count(DISTINCT seq) FROM packs WHERE device='vitals-b'")" "$TOTAL"
# run 1's reading sets: times BT1 + 60 i for i = 0..K-1, none missing
RUN1=$(q "SELECT count(*) || ' ' || coalesce((max(r.t) - $BT1) / 60 + 1, 0) FROM readings r JOIN packs p ON p.id = r.pack_id WHERE p.device='vitals-b' AND r.mtag=$(rl_mtag temp) AND r.t < $BT2")
read -r N1 SPAN1 <<<"$RUN1"
SPAN1=${SPAN1%.*}
rl_expect_eq "b: run 1 reading sets without a gap" "$N1" "$SPAN1"
[ "$N1" -ge "$ACKED1" ] || rl_fail "b: run 1 packs lost ($N1 < $ACKED1)"
[ "$N1" -gt "$ACKED1" ] || rl_fail "b: nothing was resumed from the flash"
rl_expect_eq "b: run 2 reading sets" "$(q "SELECT count(*) FROM readings r JOIN packs p ON p.id = r.pack_id WHERE p.device='vitals-b' AND r.mtag=$(rl_mtag temp) AND r.t >= $BT2")" 50
rl_expect_eq "b: packs = run 1 + run 2" "$TOTAL" $((N1 + 50))
MINSEQ2=$(q "SELECT min(p.seq) FROM packs p JOIN readings r ON p.id = r.pack_id WHERE p.device='vitals-b' AND r.mtag=$(rl_mtag temp) AND r.t >= $BT2")
MAXSEQR1=$(q "SELECT max(p.seq) FROM packs p JOIN readings r ON p.id = r.pack_id WHERE p.device='vitals-b' AND r.mtag=$(rl_mtag temp) AND r.t < $BT2")
[ "$MINSEQ2" -gt "$MAXSEQR1" ] || rl_fail "b: run 2 reused a seq ($MINSEQ2 <= $MAXSEQR1)"
rl_log "ok: b: run 2 seqs start at $MINSEQ2, above run 1's $MAXSEQR1"
rl_expect_eq "b: readings" "$(q "SELECT count(*) FROM readings r JOIN packs p ON p.id = r.pack_id WHERE p.device='vitals-b'")" $((TOTAL * RECORDS))

# --- c. a rejected pack is logged and dropped, not resent ---------------------

sim vitals-c sim-c --format cbor --count 10 --inject-bad 4 --bt-start $((BT2 + 1000000)) --bt-step 60 \
    --resend-ms 1000 --resend-max-ms 2000 || rl_fail "c: the hub failed"
S=$(summary sim-c)
rl_log "c: $S"
rl_expect_eq "c: rejected acks" "$(field "$S" rejected)" 1
rl_expect_eq "c: resent" "$(field "$S" resent)" 0
grep -q 'error: seq [0-9]*: .*spo2' "$T/sim-c.log" || rl_fail "c: the hub did not log the rejection: $(cat "$T/sim-c.log")"
rl_log "ok: c: logged: $(grep 'error: seq' "$T/sim-c.log")"
rl_expect_eq "c: rejects" "$(q "SELECT count(*) FROM rejects WHERE device='vitals-c'")" 1
rl_expect_eq "c: packs stored" "$(q "SELECT count(*) FROM packs WHERE device='vitals-c'")" 9
sleep 2.5 # past two resend timeouts: the rejected pack must not come again
rl_expect_eq "c: rejects after the resend timeout" "$(q "SELECT count(*) FROM rejects WHERE device='vitals-c'")" 1

# late arrivals (a resend of an old pack) would show here
sleep 1
rl_expect_eq "flagged packs at the end" "$(q "SELECT count(*) FROM packs WHERE flags != 0")" 0
rl_expect_eq "packs at the end" "$(q "SELECT count(*) FROM packs")" $((200 + TOTAL + 9))
rl_log "device_resend: all checks passed"
