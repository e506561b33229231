# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# A simulated home: the pill box (relais-pillbox-sim, CoAP over DTLS-PSK) and
# the vitals hub (relais-vitals-sim, MQTT) playing a device scenario
# (docs/device-scenarios.md) against the real relaisd, in lockstep with its
# test clock.  Sourced after lib.sh, by the end-to-end scenario test and by
# the demo (tools/demo.sh).
#
# The driver steps from event time to event time of the scenario
# (relais-devscn lists them): it moves relaisd's rules clock to the time
# (`relaisctl clock advance`), stopping on the way at each time relaisd's
# rules have something due (an escalation, a dose slot's reminder or end:
# `next_due_ms`) so that the pill box can take the commands made then;
# writes the time into the devices' clock file,
# and waits until both devices have sent every event up to it and had it
# acknowledged (their progress files), and until the pill box has taken every
# command relaisd has for it (a reminder, "call 15"; it polls every 100 ms).
# So each reading reaches the rules at its own time and each command the box
# before the clock moves on, whatever the machine's speed: a run is
# reproducible.
#
#   home_init SCENARIO         parse it (events, D1, the first time); before
#                              the gateway broker starts (adds the hub's user)
#   home_plan PLAN OUT         the care plan for this home: devices vitals-1
#                              and pillbox-1 only, the pill box not expected to
#                              report between doses (period_s one week)
#   home_clock_start           the --test-clock argument: a minute before the
#                              first event
#   home_devices_start PORT_COAPS PATIENT
#                              provisions pillbox-1 (relaisctl device add) and
#                              starts both devices (relaisd running)
#   home_play [HOOK]           plays every event, then HOME_TAIL_S more (3600);
#                              HOOK T is called before the clock moves to T
#                              (seconds since 1970); HOME_PACE_MS_PER_H (0):
#                              real milliseconds per scenario hour, for people
#   home_devices_wait          both devices have exited 0 (all acknowledged)
#   home_settle                relaisd judges what has arrived (from a HOOK)
#   home_local T               T as "D<n> HH:MM" in the scenario's local time

HOME_DEVSCN=${HOME_DEVSCN:-$RELAIS_BIN/firmware/relais-devscn}
HOME_VITALS_SIM=${HOME_VITALS_SIM:-$RELAIS_BIN/firmware/relais-vitals-sim}
HOME_PILLBOX_SIM=${HOME_PILLBOX_SIM:-$RELAIS_BIN/firmware/relais-pillbox-sim}

home_init() { # SCENARIO
    HOME_SCN=$1
    "$HOME_DEVSCN" "$HOME_SCN" >"$T/home.events" 2>"$T/home.devscn" ||
        rl_fail "relais-devscn refused $HOME_SCN: $(cat "$T/home.devscn")"
    HOME_D1=$(sed -n 's/.*: D1 \([0-9]*\) (UTC.*/\1/p' "$T/home.devscn")
    HOME_OFFSET=$(sed -n 's/.*(UTC\([-+][0-9]*\) s).*/\1/p' "$T/home.devscn")
    HOME_OFFSET=${HOME_OFFSET#+}
    HOME_FIRST=$(head -n 1 "$T/home.events" | cut -d' ' -f1)
    HOME_LAST=$(tail -n 1 "$T/home.events" | cut -d' ' -f1)
    [ -n "$HOME_D1" ] && [ -n "$HOME_FIRST" ] || rl_fail "$HOME_SCN: no events"
    rl_broker_user vitals-1
}

home_plan() { # PLAN OUT
    jq '.devices = [.devices[] | select(.id == "vitals-1" or .id == "pillbox-1")
                    | if .id == "pillbox-1" then .period_s = 604800 else . end]' "$1" >"$2"
}

home_clock_start() { date -u -d "@$((HOME_FIRST - 60))" +%FT%TZ; }

home_local() { # T -> D<n> HH:MM (scenario local time)
    local l=$(($1 + HOME_OFFSET)) d1=$((HOME_D1 + HOME_OFFSET))
    local day=$(((l - d1) / 86400 + 1))
    [ $l -ge $d1 ] || day=$(((l - d1 - 86399) / 86400 + 1))
    printf 'D%d %s' "$day" "$(date -u -d "@$l" +%H:%M)"
}

home_devices_start() { # COAPS_PORT PATIENT
    local psk out
    out=$(rl_ctl --json device add pillbox-1 --kind pillbox --patient "$2")
    psk=$(jq -r .psk <<<"$out")
    [ ${#psk} -eq 32 ] || rl_fail "relaisctl device add pillbox-1 printed no key"
    (umask 077 && printf '%s\n' "$psk" >"$T/pillbox-1.psk")
    # the record-signing key: the box signs every pack (its doses must be)
    (umask 077 && jq -r .record_key <<<"$out" >"$T/pillbox-1.rk")
    [ "$(wc -c <"$T/pillbox-1.rk")" -eq 65 ] || rl_fail "relaisctl device add pillbox-1 printed no record key"
    (umask 077 && printf '%s\n' "${RL_PW[vitals-1]}" >"$T/vitals-1.pw")
    rm -f "$T/home.clock" "$T"/home.*.progress
    "$HOME_VITALS_SIM" --port "$BROKER_TLS_PORT" --cafile "$BROKER_CA" --device vitals-1 \
        --password-file "$T/vitals-1.pw" \
        --flash "$T/vitals-1.flash" --scenario "$HOME_SCN" --clock-file "$T/home.clock" \
        --progress-file "$T/home.vitals.progress" --resend-ms 500 --resend-max-ms 2000 \
        >"$T/vitals-sim.out" 2>"$T/vitals-sim.log" &
    HOME_VITALS_PID=$!
    RL_PIDS+=("$HOME_VITALS_PID")
    "$HOME_PILLBOX_SIM" --port "$1" --device pillbox-1 --psk-file "$T/pillbox-1.psk" \
        --record-key-file "$T/pillbox-1.rk" \
        --flash "$T/pillbox-1.flash" --scenario "$HOME_SCN" --clock-file "$T/home.clock" \
        --progress-file "$T/home.pillbox.progress" --resend-ms 500 --resend-max-ms 2000 \
        --poll-ms 100 \
        >"$T/pillbox-sim.out" 2>"$T/pillbox-sim.log" &
    HOME_PILLBOX_PID=$!
    RL_PIDS+=("$HOME_PILLBOX_PID")
    HOME_NOW=$((HOME_FIRST - 60))
    HOME_NOW_MS=$((HOME_NOW * 1000))
    HOME_DUE_MS=""
}

home__advance() { # MS: relaisd's rules clock to MS (ms since 1970); HOME_DUE_MS: its next due time
    local out
    out=$(rl_ctl --json clock advance $(($1 - HOME_NOW_MS))) || rl_fail "relaisctl clock advance failed"
    HOME_NOW_MS=$1
    HOME_NOW=$((HOME_NOW_MS / 1000))
    HOME_DUE_MS=$(jq -r '.next_due_ms // empty' <<<"$out")
}

home__clock_to() { # T: relaisd's rules clock to T (seconds), stopping at each due time
    local target=$(($1 * 1000))
    [ "$target" -gt "$HOME_NOW_MS" ] || return 0
    while [ -n "$HOME_DUE_MS" ] && [ "$HOME_DUE_MS" -gt "$HOME_NOW_MS" ] && [ "$HOME_DUE_MS" -lt "$target" ]; do
        home__advance "$HOME_DUE_MS"
        home__wait_commands
    done
    home__advance "$target"
}

home_settle() { # relaisd judges what has arrived (the clock stays)
    home__advance "$HOME_NOW_MS"
}

home__played() { # T: both devices have played everything up to T (a device
    # that exited before "end" crashed: home_devices_wait reports its status)
    local v="" p=""
    [ -f "$T/home.vitals.progress" ] && read -r v <"$T/home.vitals.progress"
    [ -f "$T/home.pillbox.progress" ] && read -r p <"$T/home.pillbox.progress"
    { [ "$v" = "$1" ] || ! kill -0 "$HOME_VITALS_PID" 2>/dev/null; } &&
        { [ "$p" = "$1" ] || ! kill -0 "$HOME_PILLBOX_PID" 2>/dev/null; }
}

home__commands_taken() { # no command for the pill box waits (unexpired at the rules' time)
    [ "$(rl_sqlite "SELECT count(*) FROM commands WHERE device = 'pillbox-1' AND state = 'pending'
                    AND expires_ms > $HOME_NOW_MS")" = 0 ]
}

home__wait_commands() { # until the pill box has taken its commands (60 s at most)
    local deadline=$((SECONDS + 60))
    until home__commands_taken; do
        [ $SECONDS -lt $deadline ] ||
            rl_fail "the pill box did not take its commands at $(home_local "$HOME_NOW") within 60 s"
        kill -0 "$HOME_PILLBOX_PID" 2>/dev/null || return 0
        sleep 0.01
    done
}

home_play() { # [HOOK]
    local hook=${1:-} pace=${HOME_PACE_MS_PER_H:-0} t deadline ms
    for t in $(cut -d' ' -f1 "$T/home.events" | uniq); do
        [ -z "$hook" ] || "$hook" "$t"
        if [ "$pace" -gt 0 ]; then
            ms=$(((t - HOME_NOW) * pace / 3600))
            [ $ms -le 0 ] || sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
        fi
        home__clock_to "$t"
        printf '%s\n' "$t" >"$T/home.clock.tmp"
        mv "$T/home.clock.tmp" "$T/home.clock"
        deadline=$((SECONDS + 60))
        until home__played "$t"; do
            [ $SECONDS -lt $deadline ] ||
                rl_fail "the devices did not play $(home_local "$t") within 60 s (see vitals-sim.log, pillbox-sim.log)"
            sleep 0.005
        done
        home__wait_commands
    done
    t=$((HOME_LAST + ${HOME_TAIL_S:-3600}))
    [ -z "$hook" ] || "$hook" "$t"
    home__clock_to "$t"
    # the devices may stop once they have played everything
    printf 'end\n' >"$T/home.clock.tmp"
    mv "$T/home.clock.tmp" "$T/home.clock"
}

home_devices_wait() {
    local pid rc
    for pid in "$HOME_VITALS_PID" "$HOME_PILLBOX_PID"; do
        rc=0
        timeout 30 tail --pid="$pid" -f /dev/null || rc=$?
        [ $rc = 0 ] || rl_fail "a device did not finish within 30 s of the last event"
        rc=0
        wait "$pid" || rc=$?
        [ $rc = 0 ] || rl_fail "a device exited with $rc (see vitals-sim.log, pillbox-sim.log)"
    done
}
