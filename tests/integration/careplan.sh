#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The care plan and the relaisctl care commands through the real thing: the
# gateway's mosquitto from broker-config/, relaisd with [careplan] file and
# --test-clock, the devices as mosquitto_pub/sub clients with their own
# broker accounts.
#
#  1. the plan file is applied at start (relaisctl careplan, audit)
#  2. SIGHUP with a bad plan: refused with its first bad field named (log and
#     audit), the active plan stays, relaisd keeps running
#  3. SIGHUP with v2: applied; v2 changed without a new version: refused;
#     the same v2 again: unchanged (nothing stored, nothing audited)
#  4. relaisctl careplan apply: the same validation through the control socket
#  5. a fever reading -> HIGH alert to the plan's team, the notification in the
#     log, ack --by (names checked), delays; an unacknowledged HIGH alert
#     escalates to the backup team when the test clock passes its delay
#  6. a dose slot: the pill box's reminder (commands, and on its MQTT topic),
#     the slot missed (adherence)
#  7. relaisd stopped: ack / resolve work on the store (the engine's function)
source "$(dirname "$0")/lib.sh"

PATIENT=p-7f3a
# 06:00 in Europe/Paris on day 1 of the regimen (the plan's am slot is 08:00)
TC0=2026-11-23T05:00:00Z
PLAN="$T/careplan.json"
BASE="$RELAIS_SRC/tests/scenarios/plans/base.json"

# --- helpers ---------------------------------------------------------------

# A failure inside a command substitution would be lost: die reports it on
# stderr and makes the test's shell fail.
trap 'rl_fail "a check failed (see the FAIL above)"' USR1
die() {
    printf '[%s] FAIL: %s\n' "$(date +%H:%M:%S.%3N)" "$*" >&2
    kill -USR1 $$
    exit 1
}

# Runs relaisctl; fails the test unless it exits 0 (with CTL_SOFT=1 it only
# returns 1, for wait_until).  Output on stdout.
ctl() {
    local out rc=0
    out=$(rl_ctl "$@" 2>"$T/ctl.err") || rc=$?
    if [ "$rc" -ne 0 ]; then
        [ "${CTL_SOFT:-0}" = 1 ] && return 1
        die "relaisctl $* exited $rc: $(cat "$T/ctl.err")"
    fi
    printf '%s\n' "$out"
}

# Runs relaisctl expecting it to fail with exit code WANT; prints its stderr.
ctl_fails() { # WANT ARGS...
    local want=$1 rc=0
    shift
    rl_ctl "$@" >"$T/ctl.out" 2>"$T/ctl.err" || rc=$?
    [ "$rc" -eq "$want" ] ||
        die "relaisctl $* exited $rc, want $want (stdout: $(cat "$T/ctl.out"); stderr: $(cat "$T/ctl.err"))"
    cat "$T/ctl.err"
}

# Retries a command (quietly) until it succeeds, for up to TIMEOUT seconds.
wait_until() { # TIMEOUT WHAT CMD...
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    while [ $SECONDS -lt "$deadline" ]; do
        if CTL_SOFT=1 "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.05
    done
    rl_fail "timed out waiting for: $what"
}

audit_count() { # KIND [DETAIL-LIKE]
    rl_sqlite "SELECT count(*) FROM audit WHERE kind = '$1' AND detail LIKE '${2:-%}'"
}

plans_stored() { rl_sqlite "SELECT count(*) FROM careplans"; }

# The running plan as relaisd reports it (JSON).
plan_field() { ctl --json careplan | jq -r ".$1"; }

reloads() { rl_status_field config.reloads; }

# SIGHUP and wait for relaisd to have handled it (config.reloads moves on).
sighup() {
    local before
    before=$(reloads)
    kill -HUP "$RELAISD_PID"
    wait_until 10 "SIGHUP handled" test_reloads_above "$before"
    kill -0 "$RELAISD_PID" 2>/dev/null || rl_fail "relaisd died on SIGHUP"
}
test_reloads_above() { [ "$(reloads)" -gt "$1" ]; }

relaisd_start_test_clock() { rl_relaisd_start --test-clock "$TC0"; }

clock_ms() { ctl --json clock | jq -r .wall_ms; }

advance_min() { # MINUTES
    ctl clock advance $(($1 * 60000)) >/dev/null
    rl_log "test clock advanced $1 min: $(ctl clock)"
}

# Publishes one reading of DEVICE at the rules' (test) clock and waits for
# relaisd's ack "stored".
SEQ=0
reading() { # DEVICE METRIC UNIT VALUE
    local dev=$1 metric=$2 unit=$3 value=$4 bt ack
    SEQ=$((SEQ + 1))
    bt=$(($(clock_ms) / 1000))
    local body="[{\"bn\":\"urn:dev:relais:$dev:\",\"bt\":$bt,\"n\":\"$metric\",\"u\":\"$unit\",\"v\":$value}]"
    rl_ack_session "$dev"
    rl_pub "$dev" "$SEQ" -m "$body"
    ack=$(rl_wait_ack "$dev" "$SEQ" 10) || rl_fail "no ack for $dev pack $SEQ"
    rl_expect_match "ack of $dev $metric $value" "$ack" "^relais/dev/$dev/ack/$SEQ \{.*\"status\":\"stored\""
}

# The id of the newest alert of RULE (empty when none).
alert_id() { ctl --json alerts --all | jq -r --arg r "$1" '[.[] | select(.rule == $r)] | last | .id // empty'; }
has_alert() { [ -n "$(alert_id "$1")" ]; }
alert_json() { ctl --json alert "$1"; }
alert_field() { alert_json "$1" | jq -r ".$2"; }
has_event() { # ID EVENT TEAM
    [ "$(alert_json "$1" | jq --arg e "$2" --arg t "$3" \
        '[.history[] | select(.event == $e and .team == $t)] | length')" -ge 1 ]
}

# --- the plans ----------------------------------------------------------------

# v1: the scenarios' base plan; the silent-device rule off (the test clock
# moves hours without the devices reporting)
jq '.rules.device_silent.enabled = false' "$BASE" >"$T/v1.json"
jq -e '.version == 1' "$T/v1.json" >/dev/null || rl_fail "base.json is not version 1"
# invalid: a fever threshold out of range (36..42)
jq '.version = 2 | .rules.fever.high = 45' "$T/v1.json" >"$T/bad-threshold.json"
# v2: valid, another hysteresis
jq '.version = 2 | .rules.clear_after_min = 45' "$T/v1.json" >"$T/v2.json"
# v2 changed without a new version
jq '.version = 2 | .rules.clear_after_min = 50' "$T/v1.json" >"$T/v2-changed.json"
# invalid: an unknown top-level key
jq '.version = 3 | .colour = "blue"' "$T/v1.json" >"$T/bad-key.json"
# v3: valid
jq '.version = 3 | .rules.clear_after_min = 40' "$T/v1.json" >"$T/v3.json"
# v3 with another layout (indentation, key order): the same plan
jq -S -c . "$T/v3.json" >"$T/v3-compact.json"
printf '{"version": 4, "patient": ' >"$T/malformed.json"

# --- the broker and relaisd ----------------------------------------------------

mkdir -p "$T/broker"
BROKER_PORT=$(rl_free_port)
rl_broker_render "$T/broker" "$BROKER_PORT"
rl_broker_user relaisd
rl_broker_user vitals-1
rl_broker_user pillbox-1
rl_broker_start

cp "$T/v1.json" "$PLAN"
rl_relaisd_conf careplan.file="$PLAN" rules.clock_check=false rules.eval_delay_ms=0
"$RELAISD" -c "$T/relaisd.conf" --check >/dev/null || rl_fail "the configuration does not check"
relaisd_start_test_clock
rl_expect_match "relaisd warns of the test clock" "$(cat "$T/relaisd.log")" 'warn +relaisd: --test-clock'
rl_expect_eq "status: test clock" "$(rl_status_field rules.test_clock)" true

# --- 1. the plan file is applied at start -------------------------------------

rl_log "1. [careplan] file applied at start"
rl_expect_eq "careplan version" "$(plan_field version)" 1
rl_expect_eq "careplan patient" "$(plan_field patient)" "$PATIENT"
rl_expect_eq "careplan source" "$(plan_field source)" "file:$PLAN"
rl_expect_match "relaisctl careplan" "$(ctl careplan)" \
    "^care plan version 1 for $PATIENT, applied 2026-11-23T05:00:00[.0-9]*Z from file:$PLAN"
rl_expect_match "relaisctl careplan: devices" "$(ctl careplan)" 'device vitals-1 +vitals'
rl_expect_eq "status: plan version" "$(rl_status_field rules.plan.version)" 1
rl_expect_eq "audit careplan.applied v1" "$(audit_count careplan.applied "version 1 for $PATIENT % from file:$PLAN")" 1
rl_expect_match "relaisd logs the plan" "$(cat "$T/relaisd.log")" "notice rules: care plan applied: version 1 for $PATIENT"

# --- 2. SIGHUP with a bad plan -------------------------------------------------

rl_log "2. SIGHUP with an invalid plan"
cp "$T/bad-threshold.json" "$PLAN"
sighup
BAD='rules\.fever\.high: 45 is out of range \[36, 42\]'
rl_expect_match "relaisd names the first bad field" "$(cat "$T/relaisd.log")" \
    "error +relaisd: care plan $PLAN rejected: $BAD"
rl_expect_eq "audit careplan.rejected" \
    "$(audit_count careplan.rejected "version 2 from file:$PLAN: rules.fever.high: 45 is out of range [36, 42]")" 1
rl_expect_eq "careplan version after the bad plan" "$(plan_field version)" 1
rl_expect_eq "plans stored" "$(plans_stored)" 1
rl_expect_eq "relaisd still connected" "$(rl_status_field local.connected)" true
rl_expect_eq "status: plans rejected" "$(rl_status_field rules.plans_rejected)" 1

# --- 3. SIGHUP with v2, v2 changed, v2 again -----------------------------------

rl_log "3. SIGHUP with v2, then v2 changed without a new version, then v2 again"
cp "$T/v2.json" "$PLAN"
sighup
rl_expect_eq "careplan version after SIGHUP with v2" "$(plan_field version)" 2
rl_expect_eq "v2's content is active" "$(plan_field plan.rules.clear_after_min)" 45
rl_expect_eq "audit careplan.applied v2" "$(audit_count careplan.applied "version 2 for $PATIENT % from file:$PLAN")" 1
APPLIED_V2=$(plan_field applied_ms)

cp "$T/v2-changed.json" "$PLAN"
sighup
rl_expect_match "same version, other content: refused" "$(cat "$T/relaisd.log")" \
    "care plan $PLAN rejected: version: 2 is not newer than the active version 2"
rl_expect_eq "audit: not newer" \
    "$(audit_count careplan.rejected "version 2 from file:$PLAN: version: 2 is not newer than the active version 2")" 1
rl_expect_eq "v2 stays" "$(plan_field plan.rules.clear_after_min)" 45

cp "$T/v2.json" "$PLAN"
audits_before=$(rl_sqlite "SELECT count(*) FROM audit WHERE kind LIKE 'careplan.%'")
rejected_lines=$(grep -c 'care plan .* rejected' "$T/relaisd.log")
sighup
rl_expect_eq "same plan again: no careplan audit record" \
    "$(rl_sqlite "SELECT count(*) FROM audit WHERE kind LIKE 'careplan.%'")" "$audits_before"
rl_expect_eq "same plan again: nothing refused in the log" \
    "$(grep -c 'care plan .* rejected' "$T/relaisd.log")" "$rejected_lines"
rl_expect_eq "same plan again: not stored again" "$(plans_stored)" 2
rl_expect_eq "same plan again: applied time unchanged" "$(plan_field applied_ms)" "$APPLIED_V2"
rl_expect_eq "status: plans rejected" "$(rl_status_field rules.plans_rejected)" 2
kill -0 "$RELAISD_PID" || rl_fail "relaisd is not running"

# --- 4. relaisctl careplan apply -----------------------------------------------

rl_log "4. relaisctl careplan apply through the control socket"
err=$(ctl_fails 1 careplan apply "$T/bad-key.json")
rl_expect_match "apply of an unknown key" "$err" \
    'care plan version 3 rejected: colour: unknown field \(version 2 stays\)'
rl_expect_eq "audit: unknown key from relaisctl" \
    "$(audit_count careplan.rejected 'version 3 from relaisctl: colour: unknown field')" 1
err=$(ctl_fails 1 careplan apply "$T/bad-threshold.json")
rl_expect_match "apply of a bad threshold" "$err" "$BAD"
err=$(ctl_fails 1 careplan apply "$T/v1.json")
rl_expect_match "apply of an older version" "$err" \
    'care plan version 1 rejected: version: 1 is not newer than the active version 2'
err=$(ctl_fails 1 careplan apply "$T/malformed.json")
rl_expect_match "apply of a malformed file" "$err" 'malformed.json: line 1'
rl_expect_eq "still v2" "$(plan_field version)" 2
rl_expect_eq "apply v3" "$(ctl careplan apply "$T/v3.json")" "care plan version 3 applied"
rl_expect_eq "careplan version" "$(plan_field version)" 3
rl_expect_eq "careplan source" "$(plan_field source)" relaisctl
rl_expect_eq "audit careplan.applied v3" "$(audit_count careplan.applied "version 3 for $PATIENT % from relaisctl")" 1
rl_expect_eq "apply v3 again (another layout)" "$(ctl careplan apply "$T/v3-compact.json")" \
    "care plan version 3 unchanged"
json=$(ctl --json careplan apply "$T/v3.json")
rl_expect_eq "apply --json: status" "$(jq -r .status <<<"$json")" unchanged
rl_expect_eq "plans stored" "$(plans_stored)" 3
rl_expect_eq "status: plan version" "$(rl_status_field rules.plan.version)" 3

# --- 5. alerts --------------------------------------------------------------------

rl_log "5. a fever reading raises a HIGH alert to the plan's team"
rl_expect_eq "no open alert yet" "$(ctl alerts)" "(no open alert)"
reading vitals-1 temp Cel 39.5
wait_until 10 "a fever alert" has_alert fever
FEVER=$(alert_id fever)
rl_expect_eq "fever priority" "$(alert_field "$FEVER" priority)" HIGH
rl_expect_eq "fever team" "$(alert_field "$FEVER" team)" had
rl_expect_eq "fever patient" "$(alert_field "$FEVER" patient)" "$PATIENT"
rl_expect_eq "fever raised at the test clock" "$(alert_field "$FEVER" raised_ms)" \
    "$(jq -n "\"$TC0\" | fromdateiso8601 * 1000")"
rl_expect_match "relaisctl alerts" "$(ctl alerts)" "$FEVER +2026-11-23T05:00:00[.0-9]*Z .* fever +HIGH +had +(raised|notified) +$PATIENT"
wait_until 10 "the notification of $FEVER in the log" \
    grep -qE "notice alert: to had: $FEVER fever HIGH raised \($PATIENT\)" "$T/relaisd.log"
rl_log "ok: relaisd logged the notification: $(grep -m1 "alert: to had: $FEVER" "$T/relaisd.log")"

advance_min 2
out=$(ctl ack "$FEVER" --by nurse.dupont)
rl_expect_match "ack" "$out" "^alert $FEVER \(fever HIGH\) acknowledged by nurse.dupont, 2m after it was raised"
rl_expect_eq "acknowledged by" "$(alert_field "$FEVER" acked_by)" nurse.dupont
rl_expect_eq "state" "$(alert_field "$FEVER" state)" acknowledged
rl_expect_match "relaisctl alert" "$(ctl alert "$FEVER")" "acknowledged +2026-11-23T05:02:00[.0-9]*Z nurse.dupont"
has_event "$FEVER" acknowledged had || rl_fail "no 'acknowledged' event in $FEVER's history"
rl_expect_match "alerts lists who acknowledged" "$(ctl alerts)" "$FEVER .* acknowledged +$PATIENT +nurse.dupont"
err=$(ctl_fails 1 ack "$FEVER" --by nurse.other)
rl_expect_match "a second ack is refused" "$err" "acknowledged already by nurse.dupont"

delays=$(ctl --json delays)
rl_expect_eq "delays: had alerts" "$(jq -r .by_team.had.alerts <<<"$delays")" 1
rl_expect_eq "delays: had raise->ack median" "$(jq -r .by_team.had.raise_to_ack.median_s <<<"$delays")" 120
rl_expect_eq "delays: patient raise->ack max" \
    "$(jq -r --arg p "$PATIENT" '.by_patient[$p].raise_to_ack.max_s' <<<"$delays")" 120
rl_expect_match "relaisctl delays" "$(ctl delays)" 'had +1 +0 +2m +2m +2m'

rl_log "5b. a second HIGH alert, not acknowledged, escalates"
reading vitals-1 spo2 % 90
wait_until 10 "a desaturation alert" has_alert desaturation
DESAT=$(alert_id desaturation)
rl_expect_eq "desaturation priority" "$(alert_field "$DESAT" priority)" HIGH
rl_expect_eq "desaturation team" "$(alert_field "$DESAT" team)" had
# professionals' names are checked, through relaisd
for who in "nurse dupont" "$(printf 'x%.0s' $(seq 100))" "" "nurse;dupont" "$(printf 'a%.0s' $(seq 65))"; do
    err=$(ctl_fails 1 ack "$DESAT" --by "$who")
    rl_expect_match "ack --by '${who:0:20}' refused" "$err" "professional's id must be 1 to 64"
done
err=$(ctl_fails 2 ack "$DESAT")
rl_expect_match "ack without --by" "$err" 'needs --by'
rl_expect_eq "still not acknowledged" "$(alert_field "$DESAT" acked_by)" null
rl_expect_eq "no audit of a refused ack" "$(audit_count alert.acknowledged)" 1
advance_min 14
rl_expect_eq "not escalated after 14 min" "$(alert_field "$DESAT" team)" had
advance_min 2
wait_until 5 "$DESAT escalated" has_event "$DESAT" escalated had-backup
rl_expect_eq "escalated: team" "$(alert_field "$DESAT" team)" had-backup
rl_expect_eq "escalated: level" "$(alert_field "$DESAT" level)" 1
rl_expect_match "relaisctl alert shows the escalation" "$(ctl alert "$DESAT")" \
    'escalated +HIGH +to had-backup +not acknowledged by had after 15 min: escalated to had-backup'
wait_until 10 "the escalation in the log" \
    grep -qE "notice alert: to had-backup: $DESAT desaturation HIGH escalated \($PATIENT\)" "$T/relaisd.log"
rl_expect_eq "the acknowledged fever did not escalate" "$(alert_field "$FEVER" team)" had
rl_expect_eq "status: escalated" "$(rl_status_field rules.escalated)" 1
out=$(ctl ack "$DESAT" --by nurse.martin)
rl_expect_match "ack of the escalated alert" "$out" "acknowledged by nurse.martin, 16m after"
rl_expect_match "relaisctl delays: the backup team" "$(ctl delays)" 'had-backup +1 +0 +16m +16m +16m'

# --- 6. dose slots: reminder, missed slot, adherence ---------------------------------

rl_log "6. a dose slot: the reminder to the pill box, then the slot missed"
# the pill box's persistent command session (so the reminder is not missed)
mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -u pillbox-1 -P "${RL_PW[pillbox-1]}" -q 1 -c \
    -i pillbox-1-cmd -t relais/dev/pillbox-1/cmd -E
rl_expect_eq "no command yet" "$(ctl --json commands | jq 'map(select(.body.cmd == "remind")) | length')" 0
# 06:18 -> 08:01 (Paris): past the am slot's time
advance_min 103
remind_sent() {
    [ "$(ctl --json commands | jq '[.[] | select(.device == "pillbox-1" and .body.cmd == "remind" and .state == "sent")] | length')" = 1 ]
}
wait_until 10 "the remind command sent" remind_sent
rl_expect_match "relaisctl commands" "$(ctl commands)" \
    '2026-11-23T07:00:00[.0-9]*Z +pillbox-1 +sent +\{"cmd": ?"remind", ?"slot": ?"[^"]*am[^"]*"\}'
got=$(mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -u pillbox-1 -P "${RL_PW[pillbox-1]}" -q 1 -c \
    -i pillbox-1-cmd -t relais/dev/pillbox-1/cmd -C 1 -W 10 -v) || rl_fail "the pill box got no command"
rl_expect_match "the pill box got the reminder" "$got" '^relais/dev/pillbox-1/cmd \{"cmd":"remind","slot":"'
rl_expect_eq "only the pill box is reminded" \
    "$(ctl --json commands | jq '[.[] | select(.body.cmd == "remind" and .device != "pillbox-1")] | length')" 0

# [rules] renotify_max = 0 on SIGHUP (reloadable): LOW and MEDIUM alerts
# raised from now on are never re-notified
rl_relaisd_conf careplan.file="$PLAN" rules.clock_check=false rules.eval_delay_ms=0 \
    rules.renotify_max=0
sighup
# 08:01 -> 09:11: the window (07:00-09:00) and its grace (10 min) are over
advance_min 70
wait_until 10 "a missed_dose alert" has_alert missed_dose
MISSED=$(alert_id missed_dose)
rl_expect_eq "missed_dose priority" "$(alert_field "$MISSED" priority)" LOW
rl_expect_eq "missed_dose team" "$(alert_field "$MISSED" team)" coordination
adh=$(ctl --json adherence "$PATIENT")
rl_expect_eq "adherence: missed" "$(jq -r .total.missed <<<"$adh")" 1
rl_expect_eq "adherence: taken" "$(jq -r .total.taken <<<"$adh")" 0
rl_expect_eq "adherence: plan version" "$(jq -r .plan_version <<<"$adh")" 3
table=$(ctl adherence "$PATIENT")
rl_expect_match "adherence: heading" "$table" "patient $PATIENT, capecitabine \(care plan version 3\)"
rl_expect_match "adherence: columns" "$table" 'cycle +prescribed +taken +on time +late +early +missed'
rl_expect_match "adherence: the total line" "$table" $'\ntotal +[0-9]+ +0 +0 +0 +0 +1 '
rl_expect_match "adherence: the am slot missed on day 1" "$table" $'\nam +-'
err=$(ctl_fails 1 adherence p-other)
rl_expect_match "adherence of another patient" "$err" 'not the patient of the active care plan'
# coordination's delay is 240 min: with renotify_max 3 the alert would be
# re-notified at 13:11; with 0 it is not
advance_min 245
has_event "$MISSED" renotified coordination && rl_fail "renotify_max 0 (reloaded): the missed dose was re-notified"
rl_expect_eq "missed_dose still open, not acknowledged" "$(alert_field "$MISSED" state)" notified

# --- 7. relaisd stopped: ack and resolve on the store --------------------------------

rl_log "7. relaisd stopped: ack and resolve through the store"
rl_relaisd_stop
rl_expect_match "relaisd stopped cleanly" "$(tail -n 1 "$T/relaisd.log")" 'notice +relaisd: stopped'
rc=0; rl_ctl status >/dev/null 2>&1 || rc=$?
rl_expect_eq "status with relaisd stopped" "$rc" 3
rl_expect_eq "careplan from the store" "$(plan_field version)" 3
out=$(ctl ack "$MISSED" --by nurse.durand)
rl_expect_match "ack on the store" "$out" "^alert $MISSED \(missed_dose LOW\) acknowledged by nurse.durand"
rl_expect_eq "acknowledged on the store: by" "$(alert_field "$MISSED" acked_by)" nurse.durand
rl_expect_eq "acknowledged on the store: state" "$(alert_field "$MISSED" state)" acknowledged
rl_expect_match "relaisctl alert after the ack" "$(ctl alert "$MISSED")" 'acknowledged +[-0-9T:.]+Z nurse.durand'
err=$(ctl_fails 1 ack "$MISSED" --by nurse.other)
rl_expect_match "a second ack on the store is refused" "$err" "acknowledged already by nurse.durand"
err=$(ctl_fails 1 resolve "$FEVER" --by "dr house")
rl_expect_match "a bad name on the store is refused" "$err" "professional's id must be 1 to 64"
out=$(ctl resolve "$FEVER" --by dr.house)
rl_expect_match "resolve on the store" "$out" "^alert $FEVER \(fever HIGH\) resolved by dr.house"
rl_expect_eq "resolved: state" "$(alert_field "$FEVER" state)" resolved
rl_expect_eq "resolved: closed by" "$(alert_field "$FEVER" closed_by)" dr.house
rl_expect_eq "resolved: acknowledged by stays" "$(alert_field "$FEVER" acked_by)" nurse.dupont
rl_expect_eq "resolved: no longer open" "$(alert_field "$FEVER" open)" false
rl_expect_match "relaisctl alert after the resolve" "$(ctl alert "$FEVER")" 'closed +[-0-9T:.]+Z dr.house'
has_event "$FEVER" resolved had || rl_fail "no 'resolved' event in $FEVER's history"
err=$(ctl_fails 1 resolve "$FEVER" --by dr.house)
rl_expect_match "resolving a closed alert" "$err" "is resolved already by dr.house"
rl_expect_match "relaisctl alerts --all" "$(ctl alerts --all)" "$FEVER .* fever +HIGH +had +resolved"
rl_expect_eq "audit of the acts on the store" \
    "$(rl_sqlite "SELECT count(*) FROM audit WHERE (kind = 'alert.acknowledged' AND subject = '$MISSED') OR (kind = 'alert.resolved' AND subject = '$FEVER')")" 2
err=$(ctl_fails 1 careplan apply "$T/bad-threshold.json")
rl_expect_match "careplan apply on the store: the same validation" "$err" "$BAD"
rl_expect_eq "careplan apply on the store: v3 stays" "$(plan_field version)" 3

rl_log "PASS"
