#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The pill box simulator (firmware/pillbox on the posix port: ring log in an
# emulated NOR flash file, libcoap client over coaps with DTLS-PSK) against
# the real relaisd's CoAP server.
#
#  a. relaisd stopped while the box generates 50 dose events (one pack each):
#     they wait in its ring log, one request in flight resent with backoff;
#     relaisd back: every pack stored exactly once, none flagged, 50 doses
#  b. the box SIGKILLed mid-way (some packs acknowledged, some not) and
#     restarted on the same flash file: it resumes the unacknowledged packs,
#     never reuses a seq (0 flagged packs, new seqs above the old ones), and
#     no dose event it had taken is lost (their times form an unbroken run)
#  c. a wrong PSK: no session, nothing stored; the box keeps its packs
#     (its summary shows them unacknowledged when SIGTERM stops it)
#  d. GET /dev/{device}/cmd (the pill box's commands): its own (2.05), a bad
#     query (4.00), another device's (4.03, audited), a wrong key (nothing)
source "$(dirname "$0")/lib.sh"

SIM="$RELAIS_BIN/firmware/relais-pillbox-sim"
[ -x "$SIM" ] || rl_fail "no $SIM"
RECORDS=4 # lid open, dose, battery, lid closed
BT0=1795000000

mkdir -p "$T/broker"
rl_broker_user relaisd
BROKER_PORT=$(rl_free_port)
rl_broker_start
DP=$(rl_free_port)
rl_relaisd_conf coap.dtls_port="$DP" coap.bind=127.0.0.1
rl_relaisd_start

psk_of() { sed -n 's/.*"psk": "\([^"]*\)".*/\1/p'; }
for d in pillbox-a pillbox-b pillbox-c; do
    out=$(rl_ctl --json device add "$d" --kind pillbox)
    psk_of <<<"$out" >"$T/$d.psk"
    rl_record_key_of <<<"$out" >"$T/$d.rk"
    chmod 600 "$T/$d.psk" "$T/$d.rk"
    [ "$(wc -c <"$T/$d.rk")" -eq 65 ] || rl_fail "relaisctl device add $d printed no record key"
    [ "$(wc -c <"$T/$d.psk")" -eq 33 ] || rl_fail "relaisctl device add $d printed no 32-character key"
done
printf 'wrong-key-wrong-key-wrong-key-00\n' >"$T/wrong.psk"

sim_bg() { # DEVICE PSKFILE LOGNAME ARGS... -> SIM_PID, the simulator's own pid
    local dev=$1 psk=$2 log=$3
    shift 3
    "$SIM" --port "$DP" --device "$dev" --psk-file "$psk" --record-key-file "$T/$dev.rk" \
        --flash "$T/$dev.flash" "$@" >>"$T/$log.out" 2>>"$T/$log.log" &
    SIM_PID=$!
    RL_PIDS+=("$SIM_PID")
}
wait_sim() { # WHAT TIMEOUT_S
    local rc=0
    timeout "$2" tail --pid="$SIM_PID" -f /dev/null || rc=$?
    [ "$rc" = 0 ] || rl_fail "$1: the box did not finish within $2 s"
    rc=0
    wait "$SIM_PID" || rc=$?
    [ "$rc" = 0 ] || rl_fail "$1: the box exited with $rc"
}
q() { rl_sqlite "$1"; }
summary() { grep '^relais-pillbox-sim: generated=' "$T/$1.out" | tail -n 1; }
field() { sed -n "s/.* $2=\([0-9]*\).*/\1/p" <<<"$1"; } # SUMMARY KEY
readings() { # DEVICE [METRIC] -> readings of the device's packs
    q "SELECT count(*) FROM readings r JOIN packs p ON p.id = r.pack_id WHERE p.device='$1'${2:+ AND r.mtag=$(rl_mtag $2)}"
}

# --- a. relaisd down while 50 dose events are generated ---------------------

rl_relaisd_stop
sim_bg pillbox-a "$T/pillbox-a.psk" sim-a --count 50 --bt-start "$BT0" --bt-step 3600 \
    --resend-ms 300 --resend-max-ms 1500
sleep 3
kill -0 "$SIM_PID" 2>/dev/null || rl_fail "a: the box exited while relaisd was down"
rl_relaisd_start
wait_sim a 90
S=$(summary sim-a)
rl_log "a: $S"
rl_expect_eq "a: generated" "$(field "$S" generated)" 50
[ "$(field "$S" resent)" -gt 0 ] || rl_fail "a: nothing was resent while relaisd was down"
rl_expect_eq "a: unacked at the end" "$(field "$S" unacked)" 0
rl_expect_eq "a: packs stored" "$(q "SELECT count(*) FROM packs WHERE device='pillbox-a'")" 50
rl_expect_eq "a: distinct seqs" "$(q "SELECT count(DISTINCT seq) FROM packs WHERE device='pillbox-a'")" 50
rl_expect_eq "a: flagged packs" "$(q "SELECT count(*) FROM packs WHERE device='pillbox-a' AND flags & 1")" 0
rl_expect_eq "a: every pack signed by the box (flag 0x8)" "$(q "SELECT count(*) FROM packs WHERE device='pillbox-a' AND (flags & 8) = 0")" 0
rl_expect_eq "a: dose readings" "$(readings pillbox-a dose)" 50
rl_expect_eq "a: readings" "$(readings pillbox-a)" $((50 * RECORDS))
rl_expect_eq "a: distinct dose times" "$(q "SELECT count(DISTINCT r.t) FROM readings r JOIN packs p ON p.id = r.pack_id WHERE p.device='pillbox-a' AND r.mtag=$(rl_mtag dose)")" 50
rl_expect_eq "a: slots am/pm" "$(rl_ctl readings --device pillbox-a --metric dose --limit 0 --json | jq -r '[group_by(.value)[] | length] | map(tostring) | join(",")')" 25,25

# --- b. the box SIGKILLed mid-way, restarted on its flash --------------------

BT1=$((BT0 + 10000000))
sim_bg pillbox-b "$T/pillbox-b.psk" sim-b1 --count 200 --interval-ms 20 --bt-start "$BT1" \
    --bt-step 3600 --resend-ms 300 --resend-max-ms 1500
sleep 1.5
# some acknowledged by now; stop relaisd so that some are surely not
rl_relaisd_stop
sleep 1
kill -KILL "$SIM_PID"
wait "$SIM_PID" 2>/dev/null || true
kill -0 "$SIM_PID" 2>/dev/null && rl_fail "b: the box survived SIGKILL"
grep -q '^relais-pillbox-sim: generated=' "$T/sim-b1.out" && rl_fail "b: the box had finished before the kill"
ACKED1=$(q "SELECT count(*) FROM packs WHERE device='pillbox-b'")
MAXSEQ1=$(q "SELECT coalesce(max(seq), 0) FROM packs WHERE device='pillbox-b'")
rl_log "b: killed; relaisd had stored $ACKED1 packs (max seq $MAXSEQ1)"
[ "$ACKED1" -gt 0 ] || rl_fail "b: nothing stored before the kill"
rl_relaisd_start
BT2=$((BT1 + 10000000))
sim_bg pillbox-b "$T/pillbox-b.psk" sim-b2 --count 20 --bt-start "$BT2" --bt-step 3600 \
    --resend-ms 300 --resend-max-ms 1500
wait_sim b 90
RESUMED=$(sed -n 's/.*resumed unacked=\([0-9]*\).*/\1/p' "$T/sim-b2.log" | tail -n 1)
rl_log "b: restarted with $RESUMED unacknowledged packs in its flash; $(summary sim-b2)"
[ "${RESUMED:-0}" -gt 0 ] || rl_fail "b: the restarted box had nothing to resume"
rl_expect_eq "b: flagged packs (a reused seq)" "$(q "SELECT count(*) FROM packs WHERE device='pillbox-b' AND flags & 1")" 0
TOTAL=$(q "SELECT count(*) FROM packs WHERE device='pillbox-b'")
rl_expect_eq "b: one pack per seq" "$(q "SELECT count(DISTINCT seq) FROM packs WHERE device='pillbox-b'")" "$TOTAL"
# run 1's dose events: times BT1 + 3600 i + 1 for i = 0..K-1, none missing
RUN1=$(q "SELECT count(*) || ' ' || coalesce(CAST((max(r.t) - $BT1) / 3600 AS INTEGER) + 1, 0) FROM readings r JOIN packs p ON p.id = r.pack_id WHERE p.device='pillbox-b' AND r.mtag=$(rl_mtag dose) AND r.t < $BT2")
read -r N1 SPAN1 <<<"$RUN1"
rl_expect_eq "b: run 1 dose events without a gap" "$N1" "$SPAN1"
[ "$N1" -gt "$ACKED1" ] || rl_fail "b: nothing was resumed from the flash ($N1 <= $ACKED1)"
rl_expect_eq "b: run 2 dose events" "$(q "SELECT count(*) FROM readings r JOIN packs p ON p.id = r.pack_id WHERE p.device='pillbox-b' AND r.mtag=$(rl_mtag dose) AND r.t >= $BT2")" 20
rl_expect_eq "b: packs = run 1 + run 2" "$TOTAL" $((N1 + 20))
MINSEQ2=$(q "SELECT min(p.seq) FROM packs p JOIN readings r ON p.id = r.pack_id WHERE p.device='pillbox-b' AND r.mtag=$(rl_mtag dose) AND r.t >= $BT2")
MAXSEQR1=$(q "SELECT max(p.seq) FROM packs p JOIN readings r ON p.id = r.pack_id WHERE p.device='pillbox-b' AND r.mtag=$(rl_mtag dose) AND r.t < $BT2")
[ "$MINSEQ2" -gt "$MAXSEQR1" ] || rl_fail "b: run 2 reused a seq ($MINSEQ2 <= $MAXSEQR1)"
rl_log "ok: b: run 2 seqs start at $MINSEQ2, above run 1's $MAXSEQR1"
rl_expect_eq "b: readings" "$(readings pillbox-b)" $((TOTAL * RECORDS))

# --- c. a wrong PSK: nothing stored, the box keeps its packs ------------------

sim_bg pillbox-c "$T/wrong.psk" sim-c --count 5 --bt-start $((BT2 + 10000000)) --bt-step 3600 \
    --resend-ms 300 --resend-max-ms 1000
sleep 4
kill -0 "$SIM_PID" 2>/dev/null || rl_fail "c: the box exited with a wrong key"
kill -TERM "$SIM_PID"
wait_sim c 10
S=$(summary sim-c)
rl_log "c: $S"
rl_expect_eq "c: generated" "$(field "$S" generated)" 5
rl_expect_eq "c: stored" "$(field "$S" stored)" 0
rl_expect_eq "c: unacked" "$(field "$S" unacked)" 5
[ "$(field "$S" resent)" -gt 0 ] || rl_fail "c: the box did not keep trying"
rl_expect_eq "c: packs stored" "$(q "SELECT count(*) FROM packs WHERE device='pillbox-c'")" 0

# --- d. the command resource: GET /dev/{device}/cmd ----------------------------
# a pill box asks for its commands with its own identity (2.05, empty while
# none is pending); asking for another device's is refused and audited; an
# unknown key gets nothing
cget() { # DEVICE PSKFILE PATH -> what coap-client prints (the payload or the error code)
    coap-client-openssl -B 5 -u "$1" -k "$(head -n 1 "$2")" -m get -v 0 \
        "coaps://127.0.0.1:$DP$3" 2>&1 || true
}
OUT=$(cget pillbox-a "$T/pillbox-a.psk" /dev/pillbox-a/cmd)
[ -z "$(printf '%s' "$OUT" | tr -d '[:space:]')" ] || rl_fail "d: own commands: '$OUT', want an empty 2.05"
rl_log "ok: d: own commands, none pending: empty answer"
OUT=$(cget pillbox-a "$T/pillbox-a.psk" '/dev/pillbox-a/cmd?after=x')
rl_expect_match "d: a bad query" "$OUT" '4\.00'
OUT=$(cget pillbox-a "$T/pillbox-a.psk" /dev/pillbox-b/cmd)
rl_expect_match "d: another device's commands" "$OUT" '4\.03'
rl_wait_for 10 "d: the refusal audited" sh -c \
    "sqlite3 -readonly '$T/data/relais.db' \"SELECT detail FROM audit WHERE kind='input.forbidden'\" | grep -q 'asked for /dev/pillbox-b/cmd'"
OUT=$(cget pillbox-a "$T/wrong.psk" /dev/pillbox-a/cmd)
rl_expect_eq "d: a wrong key gets no payload" "$(printf '%s' "$OUT" | grep -c '"cmd"' || true)" 0

sleep 1
rl_expect_eq "flagged packs at the end" "$(q "SELECT count(*) FROM packs WHERE flags & 1")" 0
rl_expect_eq "packs at the end" "$(q "SELECT count(*) FROM packs")" $((50 + TOTAL))
rl_relaisd_stop
rl_log "pillbox_resend: all checks passed"
