#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Encryption at rest through the real relaisd and relaisctl:
#   relaisd tightens its data directory to 0700 and makes its store key
#   (0600) with a fresh store; readings and a
#   rejected body are stored sealed: a copy of the database file (and its
#   WAL) holds no value, metric, unit or body; relaisctl reads them with the
#   key; `relaisctl key rotate` refuses while relaisd runs, then re-seals the
#   store (the old key is refused afterwards, every reading still reads); a
#   one-byte change to a sealed reading is reported, never shown as data;
#   relaisd refuses a key file others can read, and a missing key beside an
#   existing store.
source "$(dirname "$0")/lib.sh"

mkdir -p "$T/broker"
rl_broker_user relaisd
rl_broker_user vitals-1
BROKER_PORT=$(rl_free_port)
rl_broker_start
rl_relaisd_conf
mkdir -p "$T/data" && chmod 755 "$T/data" # as an installer might leave it
rl_relaisd_start
rl_expect_eq "the data directory tightened" "$(stat -c %a "$T/data")" 700

KEY="$T/data/store.key"
[ -f "$KEY" ] || rl_fail "relaisd made no store key"
rl_expect_eq "store key mode" "$(stat -c %a "$KEY")" 600
T0=$(date +%s)
for i in 1 2 3; do
    rl_pub vitals-1 "$i" -m "[{\"bn\":\"urn:dev:relais:vitals-1:\",\"bt\":$((T0 - 60 * i)),\"n\":\"temp\",\"u\":\"Cel\",\"v\":38.8$i},{\"n\":\"spo2\",\"u\":\"%\",\"v\":93.7$i}]"
done
rl_pub vitals-1 4 -m '[{"n":"temp","u":"Cel","v":"sealed-reject-marker"}]'
rl_wait_for 10 "6 readings" sh -c "[ \$(sqlite3 -readonly '$T/data/relais.db' 'SELECT count(*) FROM readings') -eq 6 ]"
rl_wait_for 10 "the reject" sh -c "[ \$(sqlite3 -readonly '$T/data/relais.db' 'SELECT count(*) FROM rejects') -eq 1 ]"

# relaisctl reads through the key; the file's bytes show nothing
OUT=$(rl_ctl readings --metric temp)
rl_expect_match "readings through the key" "$OUT" "38\\.81"
cp "$T/data/relais.db" "$T/copy.db"
cp "$T/data/relais.db-wal" "$T/copy.db-wal" 2>/dev/null || true
# ("temp" is left out: the schema's "attempts" holds it)
for s in 38.81 38.82 93.71 spo2 Cel urn:dev:relais sealed-reject-marker; do
    if grep -aqF -- "$s" "$T/copy.db" || { [ -f "$T/copy.db-wal" ] && grep -aqF -- "$s" "$T/copy.db-wal"; }; then
        rl_fail "'$s' is in clear in a copy of the database file"
    fi
done
rl_log "ok: a copy of the database file shows no value, metric, unit or body"

# key rotate: not while relaisd runs (it holds the key)
RC=0
rl_ctl key rotate >"$T/rot.out" 2>&1 || RC=$?
rl_expect_eq "rotate while relaisd runs: exit" "$RC" 1
rl_expect_match "rotate while relaisd runs: why" "$(cat "$T/rot.out")" "relaisd is running"
rl_relaisd_stop
cp "$KEY" "$T/old.key"
OUT=$(rl_ctl key rotate)
rl_expect_match "rotated" "$OUT" "store re-sealed: key [0-9a-f]{16} replaced by [0-9a-f]{16}"
cmp -s "$KEY" "$T/old.key" && rl_fail "the key file did not change"
rl_expect_eq "new key mode" "$(stat -c %a "$KEY")" 600
[ -e "$KEY.new" ] && rl_fail "the rotation left $KEY.new"
rl_expect_eq "readings after rotation" "$(rl_ctl readings --json | jq length)" 6
RC=0
rl_ctl --key-file "$T/old.key" readings >/dev/null 2>&1 || RC=$?
rl_expect_eq "the old key is refused: exit" "$RC" 1
rl_expect_eq "rotation audited" "$(rl_sqlite "SELECT count(*) FROM audit WHERE kind = 'store.key_rotated'")" 1

# one byte of a sealed reading changed: reported, never data
sqlite3 "$T/data/relais.db" "UPDATE readings SET sealed = substr(sealed, 1, 14) || x'00' || substr(sealed, 16) WHERE pack_id = (SELECT min(pack_id) FROM readings) AND idx = 0"
OUT=$(rl_ctl readings --metric temp 2>"$T/tamper.err" || true)
rl_expect_eq "temp readings still listed" "$(rl_ctl readings --json 2>/dev/null | jq '[.[] | select(.metric == "temp")] | length')" 2
rl_expect_match "the altered one shown as such" "$(rl_ctl readings 2>/dev/null)" "failed its check"
rl_expect_match "and logged" "$(cat "$T/tamper.err")" "failed its check"

# relaisd, restarted, serves and audits it when its rules read it? it reads
# only new readings; the status counts what failed so far
rl_relaisd_start
rl_expect_eq "relaisd restarted with the rotated key" "$(rl_status_field store.sealed_failed)" 0
rl_relaisd_stop

# refused: a key file others can read; no key beside an existing store
chmod 644 "$KEY"
RC=0
timeout 10 "$RELAISD" -c "$T/relaisd.conf" >"$T/refused.log" 2>&1 || RC=$?
[ "$RC" -ne 0 ] || rl_fail "relaisd started with a key file others can read"
rl_expect_match "mode refused" "$(cat "$T/refused.log")" "accessible to group or others"
chmod 600 "$KEY"
mv "$KEY" "$T/away.key"
RC=0
timeout 10 "$RELAISD" -c "$T/relaisd.conf" >"$T/refused2.log" 2>&1 || RC=$?
[ "$RC" -ne 0 ] || rl_fail "relaisd started without the key of an existing store"
rl_expect_match "missing key refused" "$(cat "$T/refused2.log")" "is missing and .* exists"
[ -e "$KEY" ] && rl_fail "relaisd made a new key for an existing store"
mv "$T/away.key" "$KEY"
rl_log "sealed store: ok"
