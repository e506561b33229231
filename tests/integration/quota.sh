#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The store's quota through the real relaisd (DESIGN.md 5 "Quota", 3.5 acks
# "busy"): the gateway's mosquitto, relaisd with a care plan on a test clock
# and a 1 MiB store, no hospital link (nothing is ever forwarded), the
# devices as relais-loadgen / mosquitto_pub clients.
#
#  1. a fever alert and dose records first
#  2. vitals until the store is over its quota, and on: relaisd makes room
#     (the store never stays over its quota while vitals are left); the
#     housekeeping downsamples (minute packs: fifteen to a bucket), then
#     evicts the oldest vitals (twenty-minute packs, one to a bucket); the
#     drops account for every reading that went; the alert, its events, the
#     dose records and the audit trail are all still there, every pack row too
#     (the dedup keys); every pack a device sent was answered and stored in
#     the end (busy, then stored on a resend), none lost silently; a
#     "store.evicted" audit record, the drops in the status
#  3. then only records that are never evicted (symptoms, doses) until no
#     vital is left: relaisd answers "busy" with retry_s, to every device and
#     kind of record, the status says nothing_to_evict, a store_busy
#     technical alert is open; nothing clinical was removed
source "$(dirname "$0")/lib.sh"

TC0=2026-11-23T05:00:00Z
TC0_S=$(date -u -d "$TC0" +%s)
LOADGEN="$RELAIS_BIN/tools/relais-loadgen"
[ -x "$LOADGEN" ] || rl_fail "no $LOADGEN"
PACKS_A=${QUOTA_PACKS_A:-800}  # minute packs: 15 to a downsampling bucket
PRO_RECORDS=500                # symptom records to a pack (phase 3)
STUCK_S=20                     # over the quota this long with nothing done: stuck

store_json() { rl_ctl --json status | jq -c '.store | del(.path)'; }
status() { rl_ctl --json status | jq -r ".store.$1"; }
q() { rl_sqlite "$1"; }
# the store's files as they are now, for the failure messages
files() {
    local f out=""
    for f in "$T"/data/relais.db*; do out+="$(basename "$f")=$(stat -c %s "$f") "; done
    echo "$out(pages in use: $(q "PRAGMA page_count") x $(q "PRAGMA page_size"), $(q "PRAGMA freelist_count") free)"
}
# (the tags need the store key: relaisd makes it with the store)
vitals_sql() { echo "mtag IN ($(rl_mtag temp), $(rl_mtag spo2), $(rl_mtag hr))"; }
# what is never evicted, one line
clinical() {
    q "SELECT (SELECT count(*) FROM alerts) || ' ' || (SELECT count(*) FROM alert_events) || ' ' ||
              (SELECT count(*) FROM readings WHERE mtag=$(rl_mtag dose)) || ' ' ||
              (SELECT count(*) FROM readings WHERE evictable = 0 AND lane = 3) || ' ' ||
              (SELECT count(*) FROM audit) || ' ' || (SELECT count(*) FROM dose_events)"
}
# every count of `clinical` at least the one before
never_fewer() { # WHAT BEFORE AFTER
    local -a b a
    read -ra b <<<"$2"
    read -ra a <<<"$3"
    local names=(alerts alert_events dose_readings pro_readings audit dose_events) i
    for i in 0 1 2 3 4 5; do
        [ "${a[$i]}" -ge "${b[$i]}" ] || rl_fail "$1: ${names[$i]} went from ${b[$i]} to ${a[$i]}"
    done
    rl_log "ok: $1: nothing clinical removed (alerts alert_events dose pro audit dose_events: $2 -> $3)"
}
open_store_busy() { rl_ctl --json alerts | jq -e 'map(select(.rule == "store_busy" and .open)) | length > 0'; }

# relaisd makes room as soon as the store is over its quota while vitals are
# left: over it for STUCK_S seconds, nothing removed and nothing_to_evict
# false is a store stuck (every device told busy meanwhile)
STUCK_SINCE="" STUCK_DROPS=-1
not_stuck() { # WHAT STORE_JSON
    local drops
    if [ "$(jq -r .over_quota <<<"$2")" != true ] || [ "$(jq -r .nothing_to_evict <<<"$2")" = true ]; then
        STUCK_SINCE=""
        return 0
    fi
    drops=$(jq '[.drops[]] | add // 0' <<<"$2")
    if [ -z "$STUCK_SINCE" ] || [ "$drops" != "$STUCK_DROPS" ]; then
        STUCK_SINCE=$SECONDS
        STUCK_DROPS=$drops
    elif [ $((SECONDS - STUCK_SINCE)) -ge $STUCK_S ]; then
        rl_fail "$1: the store stayed over its quota for ${STUCK_S} s with vitals left ($(q "SELECT count(*) FROM readings WHERE $(vitals_sql)")), nothing removed and nothing_to_evict false (relaisd makes no room; devices told busy: $(jq -r "if has(\"busy\") then .busy else \"n/a\" end" <<<"$2")): $2; files: $(files)"
    fi
}

BROKER_PORT=$(rl_free_port)
rl_broker_render "$T/broker" "$BROKER_PORT"
for u in relaisd vitals-1 pillbox-1 tablet-1; do rl_broker_user "$u"; done
rl_broker_start
printf '%s\n' "${RL_PW[vitals-1]}" >"$T/vitals.pw"
chmod 600 "$T/vitals.pw"

jq '.rules.device_silent.enabled = false' "$RELAIS_SRC/tests/scenarios/plans/base.json" >"$T/plan.json"
rl_relaisd_conf careplan.file="$T/plan.json" \
    store.quota_mb=1 store.retention_days=0 store.downsample_min=15 store.busy_retry_s=1
rl_relaisd_start --test-clock "$TC0"
[ "$(status quota_bytes)" = 1048576 ] || rl_fail "quota_bytes $(status quota_bytes)"
[ "$(status over_quota)" = false ] || rl_fail "a fresh store is over a 1 MiB quota: $(store_json)"
rl_log "fresh store: $(store_json)"
rl_pillbox_add pillbox-1 # its record key signs the dose packs (docs/contract.md)

declare -A SEQ=([vitals-1]=0 [pillbox-1]=0 [tablet-1]=0)
# DEVICE's pack SEQ, its ack -> ACK (the body)
send() { # DEVICE SEQ BODY
    local line
    rl_ack_session "$1"
    if [[ $3 == *'"dose"'* ]]; then
        printf '%s' "$3" >"$T/pack.$1.$2"
        rl_pub_signed "$1" "$2" "$T/pack.$1.$2"
    else
        rl_pub "$1" "$2" -m "$3"
    fi
    line=$(rl_wait_ack "$1" "$2" 15) || rl_fail "no ack for $1 pack $2"
    ACK=${line#* }
}
ack_status() { jq -r .status <<<"$ACK"; }
stored() { # DEVICE BODY: the next pack of DEVICE, stored
    SEQ[$1]=$((SEQ[$1] + 1))
    send "$1" "${SEQ[$1]}" "$2"
    [ "$(ack_status)" = stored ] || rl_fail "$1 pack ${SEQ[$1]}: $ACK"
}
dose_pack() { # DAY
    echo "[{\"bn\":\"urn:dev:relais:pillbox-1:\",\"bt\":$((TC0_S + $1 * 86400 + 7200)),\"n\":\"dose\",\"vs\":\"am\"}]"
}

# --- 1. an alert and doses ---------------------------------------------------

stored vitals-1 "[{\"bn\":\"urn:dev:relais:vitals-1:\",\"bt\":$((TC0_S + 60)),\"n\":\"temp\",\"u\":\"Cel\",\"v\":39.5}]"
for d in 0 1 2; do stored pillbox-1 "$(dose_pack "$d")"; done
rl_wait_for 20 "the fever alert" bash -c "[ \"\$(sqlite3 -readonly '$T/data/relais.db' \"SELECT count(*) FROM alerts WHERE rule = 'fever'\")\" -ge 1 ]"
rl_expect_eq "dose readings" "$(q "SELECT count(*) FROM readings WHERE mtag=$(rl_mtag dose)")" 3
C0=$(clinical)
rl_log "before the fill: alerts alert_events dose pro audit dose_events = $C0"

# --- 2. vitals over the quota ----------------------------------------------

# COUNT packs of vitals-1 (0: until the store's status matches the jq
# filter UNTIL), STEP seconds apart from BT, resent by loadgen after retry_s
# when busy; meanwhile the store must not stay over its quota with nothing
# done about it (STUCK_S seconds), and every pack must end acknowledged
# "stored" -> N (packs sent)
BUSY=0
vitals() { # COUNT BT STEP NAME [UNTIL]
    local out="$T/loadgen.$4" lg j stopped=0
    STUCK_SINCE=""
    "$LOADGEN" pub --port "$BROKER_PORT" --device vitals-1 --password-file "$T/vitals.pw" \
        --count "$1" --start-seq $((SEQ[vitals-1] + 1)) --records 3 --inflight 50 \
        --bt-start "$2" --bt-step "$3" --acked-file "$out.acked" >"$out.out" 2>"$out.err" &
    lg=$!
    RL_PIDS+=("$lg")
    local deadline=$((SECONDS + 90))
    while kill -0 "$lg" 2>/dev/null; do
        [ $SECONDS -lt "$deadline" ] || rl_fail "loadgen $4 still running after 90 s: $(store_json)"
        j=$(store_json) || j='{}'
        [ "$(jq -r .nothing_to_evict <<<"$j")" = true ] &&
            rl_fail "loadgen $4: nothing left to evict during the fill (the packs rows, kept as dedup keys, fill the store?): $j; vitals readings: $(q "SELECT count(*) FROM readings WHERE $(vitals_sql)")"
        not_stuck "loadgen $4" "$j"
        if [ "$1" = 0 ] && [ $stopped = 0 ] && jq -e "$5" <<<"$j" >/dev/null 2>&1; then
            rl_log "loadgen $4: $5: stopping it"
            kill -USR1 "$lg"
            stopped=1
        fi
        sleep 0.5
    done
    wait "$lg" || rl_fail "relais-loadgen ($4) failed: $(cat "$out.out" "$out.err")"
    rl_log "loadgen $4: $(cat "$out.out")"
    kv() { grep -o " $1=[0-9]*" "$out.out" | cut -d= -f2; }
    N=$1
    [ "$N" != 0 ] || N=$(kv published)
    [ "$(kv published)" = "$N" ] && [ "$(kv acked)" = "$N" ] && [ "$(kv stored)" = "$N" ] &&
        [ "$(kv outstanding)" = 0 ] || rl_fail "loadgen $4: not every pack stored: $(cat "$out.out")"
    [ "$(wc -l <"$out.acked")" = "$N" ] && ! grep -qv ' stored$' "$out.acked" ||
        rl_fail "loadgen $4: the acked file does not list $N stored packs"
    SEQ[vitals-1]=$((SEQ[vitals-1] + N))
    BUSY=$((BUSY + $(kv busy)))
}
# minute packs (15 to a downsampling bucket), then 20-minute packs (one to
# a bucket: nothing to downsample) until relaisd has evicted
vitals "$PACKS_A" $((TC0_S + 120)) 60 minutes
rl_log "after $PACKS_A minute packs: $(store_json)"
vitals 0 $((TC0_S + 120 + PACKS_A * 60)) 1200 twenty-minutes '.drops.evicted_quota > 0'
PACKS_B=$N
rl_log "after $PACKS_B twenty-minute packs: $(store_json)"
rl_wait_for 30 "the housekeeping to bring the store under its quota" \
    bash -c "[ \"\$(\"$RELAISCTL\" -c '$T/relaisd.conf' --json status | jq -r .store.over_quota)\" = false ]"
ST=$(store_json)
rl_log "after the fill: $ST; $BUSY busy answers to loadgen (each resent after retry_s)"

SENT_VITALS=$((1 + PACKS_A + PACKS_B))
VIT_ACKED=$((1 + 3 * (PACKS_A + PACKS_B)))
VIT_LEFT=$(q "SELECT count(*) FROM readings WHERE $(vitals_sql)")
rl_log "vitals readings: $VIT_LEFT in the store of $VIT_ACKED acknowledged"
[ "$VIT_LEFT" -lt "$VIT_ACKED" ] || rl_fail "no vitals reading was removed"
[ "$VIT_LEFT" -gt 0 ] || rl_fail "every vitals reading was removed"
jq -e '.drops.downsampled_quota > 0' <<<"$ST" >/dev/null || rl_fail "nothing downsampled: $ST"
jq -e '.drops.evicted_quota > 0' <<<"$ST" >/dev/null || rl_fail "nothing evicted: $ST"
jq -e '(.drops.pruned_retention // 0) == 0 and (.drops.pruned_quota // 0) == 0' <<<"$ST" >/dev/null ||
    rl_fail "pruned, without a retention and with nothing forwarded: $ST"
jq -e '.nothing_to_evict == false' <<<"$ST" >/dev/null || rl_fail "nothing_to_evict with vitals left: $ST"
# the drops account for every reading that went
DROPPED=$(jq '[.drops[]] | add' <<<"$ST")
rl_expect_eq "vitals acknowledged - vitals left" "$((VIT_ACKED - VIT_LEFT))" "$DROPPED"
rl_expect_eq "the drops table" "$(q "SELECT sum(count) FROM drops")" "$DROPPED"
# the dedup keys: one packs row per stored pack
rl_expect_eq "packs rows of vitals-1" "$(q "SELECT count(*) FROM packs WHERE device = 'vitals-1'")" "$SENT_VITALS"
rl_expect_eq "vitals-1 seqs" "$(q "SELECT min(seq) || '..' || max(seq) FROM packs WHERE device = 'vitals-1'")" "1..$SENT_VITALS"
rl_expect_eq "packs rows of pillbox-1" "$(q "SELECT count(*) FROM packs WHERE device = 'pillbox-1'")" 3
# downsampled before evicted: every minute pack was downsampled (14 of 15
# readings go, give or take a bucket split by a chunk boundary,
# store_evict.c), the 20-minute packs lost nothing to it; what is left of
# the minute packs is one reading per (metric, 15 min) bucket
DS=$(jq .drops.downsampled_quota <<<"$ST")
[ "$DS" -ge $((3 * PACKS_A * 14 * 9 / 150)) ] && [ "$DS" -le $((3 * PACKS_A)) ] ||
    rl_fail "downsampled $DS readings, want about 14/15 of the $((3 * PACKS_A)) of the minute packs"
read -r DS_READINGS DS_BUCKETS <<<"$(q "SELECT count(*), count(DISTINCT hex(r.mtag) || '/' || CAST(r.t / 900 AS INTEGER))
    FROM readings r JOIN packs p ON p.id = r.pack_id
    WHERE p.device = 'vitals-1' AND p.seq BETWEEN 2 AND $((1 + PACKS_A)) AND r.$(vitals_sql)" | tr '|' ' ')"
rl_log "ok: $DS readings downsampled; the minute packs keep $DS_READINGS readings in $DS_BUCKETS (metric, 15 min) buckets"
[ "$DS_READINGS" -le $((DS_BUCKETS + 3 * 5)) ] ||
    rl_fail "the minute packs hold $DS_READINGS readings for $DS_BUCKETS (metric, 15 min) buckets"
# evicted oldest first: the oldest packs lost their vitals, the newest kept theirs
OLDEST=$(q "SELECT min(p.seq) FROM readings r JOIN packs p ON p.id = r.pack_id WHERE p.device = 'vitals-1' AND r.$(vitals_sql)")
rl_log "the oldest vitals-1 pack with vitals left: seq $OLDEST of 1..$SENT_VITALS"
[ "$OLDEST" -gt 1 ] || rl_fail "the oldest vitals survived the eviction"
rl_expect_eq "vitals-1 packs older than seq $OLDEST evicted without being downsampled first" \
    "$(q "SELECT count(*) FROM packs WHERE device = 'vitals-1' AND seq < $OLDEST AND (flags & 4) = 0")" 0
rl_expect_eq "vitals readings of the newest pack" \
    "$(q "SELECT count(*) FROM readings r JOIN packs p ON p.id = r.pack_id WHERE p.device = 'vitals-1' AND p.seq = $SENT_VITALS")" 3
# a pack left without records: its body emptied, its row kept
[ "$(q "SELECT count(*) FROM packs p WHERE (flags & 2) <> 0 AND length(body) = 0")" -gt 0 ] ||
    rl_fail "no emptied pack"
rl_expect_eq "emptied packs still holding records" \
    "$(q "SELECT count(*) FROM packs p WHERE (flags & 2) <> 0 AND EXISTS (SELECT 1 FROM readings WHERE pack_id = p.id)")" 0
C1=$(clinical)
never_fewer "after the fill" "$C0" "$C1"
rl_expect_eq "fever alerts" "$(q "SELECT count(*) FROM alerts WHERE rule = 'fever'")" 1
[ "$(q "SELECT count(*) FROM audit WHERE kind = 'store.evicted'")" -ge 1 ] || rl_fail "no store.evicted audit record"
rl_log "ok: store.evicted audit records: $(q "SELECT count(*) FROM audit WHERE kind = 'store.evicted'"), the last: $(q "SELECT detail FROM audit WHERE kind = 'store.evicted' ORDER BY id DESC LIMIT 1")"

# a store_busy alert raised while the store was over its quota clears once it
# has been under it for clear_after_min (30) on the rules' clock
for _ in $(seq 10); do
    open_store_busy >/dev/null 2>&1 || break
    rl_ctl clock advance $((31 * 60000)) >/dev/null
    sleep 0.5
done
open_store_busy >/dev/null 2>&1 && rl_fail "store_busy still open under the quota: $(rl_ctl --json alerts | jq -c 'map(select(.rule == "store_busy"))')"
rl_log "no store_busy alert open under the quota ($(q "SELECT count(*) FROM alerts WHERE rule = 'store_busy'") raised and cleared during the fill)"

# --- 3. only records that are never evicted: nothing left to evict -------------

C2=$(clinical)
NOW_S=$(($(rl_ctl --json clock | jq -r .wall_ms) / 1000))
pro_pack() { # SEQ
    local i recs="{\"bn\":\"urn:dev:relais:tablet-1:\",\"bt\":$((NOW_S + $1)),\"n\":\"pro_fatigue\",\"v\":1,\"t\":0}"
    for ((i = 1; i < PRO_RECORDS; i++)); do recs+=",{\"n\":\"pro_fatigue\",\"v\":1,\"t\":-$i}"; done
    echo "[$recs]"
}
PRO_STORED=0 DOSES_STORED=3 TRANSIENT_BUSY=0 FULL_ACK="" STUCK_SINCE=""
deadline=$((SECONDS + 60))
while :; do
    [ $SECONDS -lt "$deadline" ] || rl_fail "60 s of symptom packs and relaisd never ran out of room: $(store_json); files: $(files)"
    seq=$((SEQ[tablet-1] + 1))
    send tablet-1 "$seq" "$(pro_pack "$seq")"
    case "$(ack_status)" in
    stored | duplicate) # duplicate: a busy ack redelivered was read, the resend was stored
        SEQ[tablet-1]=$seq
        PRO_STORED=$((PRO_STORED + 1))
        if [ $((PRO_STORED % 2)) = 0 ]; then
            seq=$((SEQ[pillbox-1] + 1))
            send pillbox-1 "$seq" "$(dose_pack $((2 + seq)))"
            if [ "$(ack_status)" != busy ]; then
                [[ "$(ack_status)" =~ ^(stored|duplicate)$ ]] || rl_fail "pillbox-1 pack $seq: $ACK"
                SEQ[pillbox-1]=$seq
                DOSES_STORED=$((DOSES_STORED + 1))
            fi
        fi
        ;;
    busy)
        jq -e '.retry_s == 1' <<<"$ACK" >/dev/null || rl_fail "a busy ack without retry_s = 1: $ACK"
        if [ "$(status nothing_to_evict)" = true ]; then
            FULL_ACK=$ACK
            FULL_AT=$(date +%H:%M:%S.%3N)
            break
        fi
        # over the quota for now: relaisd is making room; resent after retry_s
        not_stuck "symptom packs" "$(store_json)"
        TRANSIENT_BUSY=$((TRANSIENT_BUSY + 1))
        sleep 1
        ;;
    *) rl_fail "tablet-1 pack $seq: $ACK" ;;
    esac
done
ST=$(store_json)
rl_log "nothing left to evict after $PRO_STORED symptom packs of $PRO_RECORDS records ($TRANSIENT_BUSY busy on the way): $FULL_ACK; $ST"
jq -e '.over_quota and .nothing_to_evict and (.busy // true)' <<<"$ST" >/dev/null || rl_fail "status: $ST"
rl_expect_eq "vitals readings left" "$(q "SELECT count(*) FROM readings WHERE $(vitals_sql)")" 0
# busy for every device and every kind of record while it lasts.  The ack
# sessions are drained first: a QoS 1 redelivery of an earlier ack of the
# same seq would be indistinguishable.
drain_acks() { # DEVICE...
    local d pids=()
    for d; do
        rl_acks "$d" 100000 1 >/dev/null 2>&1 &
        pids+=("$!")
    done
    wait "${pids[@]}" || true
}
drain_acks tablet-1 pillbox-1 vitals-1
send tablet-1 $((SEQ[tablet-1] + 1)) "$(pro_pack $((SEQ[tablet-1] + 1)))"
rl_expect_match "a symptom pack" "$ACK" '"status":"busy".*"retry_s":1'
send pillbox-1 $((SEQ[pillbox-1] + 1)) "$(dose_pack 20)"
rl_expect_match "a dose pack" "$ACK" '"status":"busy".*"retry_s":1'
send vitals-1 $((SEQ[vitals-1] + 1)) "[{\"bn\":\"urn:dev:relais:vitals-1:\",\"bt\":$NOW_S,\"n\":\"temp\",\"u\":\"Cel\",\"v\":36.9}]"
rl_expect_match "a vitals pack" "$ACK" '"status":"busy".*"retry_s":1'
# a resend of a pack already stored is answered "duplicate" even now: it is
# safe, the device must drop it rather than retry
send tablet-1 "${SEQ[tablet-1]}" "$(pro_pack "${SEQ[tablet-1]}")"
rl_expect_match "a resend of a stored symptom pack" "$ACK" '"status":"duplicate"'
# raised by the rules once the store is busy (relaisd must run them when that
# changes, not only at its next tick: [rules] tick_max_s is 60 s)
rl_wait_for 20 "an open store_busy alert, the store busy with nothing to evict since $FULL_AT (status: $(store_json))" open_store_busy
rl_log "ok: store_busy open: $(rl_ctl --json alerts | jq -c 'map(select(.rule == "store_busy" and .open))[0] | {id, priority, team, state}')"
# answered, none lost: a packs row per stored pack, the records of each
rl_expect_eq "packs rows of tablet-1" "$(q "SELECT count(*) FROM packs WHERE device = 'tablet-1'")" "$PRO_STORED"
rl_expect_eq "packs rows of pillbox-1" "$(q "SELECT count(*) FROM packs WHERE device = 'pillbox-1'")" "$DOSES_STORED"
rl_expect_eq "packs rows of vitals-1" "$(q "SELECT count(*) FROM packs WHERE device = 'vitals-1'")" "$SENT_VITALS"
rl_expect_eq "symptom readings" "$(q "SELECT count(*) FROM readings WHERE mtag=$(rl_mtag pro_fatigue)")" $((PRO_STORED * PRO_RECORDS))
rl_expect_eq "dose readings" "$(q "SELECT count(*) FROM readings WHERE mtag=$(rl_mtag dose)")" "$DOSES_STORED"
C3=$(clinical)
never_fewer "with nothing left to evict" "$C2" "$C3"
never_fewer "from the start" "$C0" "$C3"
rl_expect_eq "the fever alert" "$(q "SELECT count(*) FROM alerts WHERE rule = 'fever'")" 1
rl_relaisd_stop
rl_log "PASS"
