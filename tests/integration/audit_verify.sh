#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# relaisctl audit verify against a trail the real relaisd wrote (devices
# added and removed, rejected packs, a care plan), then tampered with through
# sqlite3 as someone holding the database file would:
#   intact (exit 0, the head printed); a row's detail modified; a row
#   deleted; two rows swapped; each named by its row (exit 4), also in --json.
source "$(dirname "$0")/lib.sh"

mkdir -p "$T/broker"
rl_broker_user relaisd
rl_broker_user vitals-1
BROKER_PORT=$(rl_free_port)
rl_broker_start
rl_relaisd_conf careplan.file="$RELAIS_SRC/docs/careplans/capecitabine.json"
rl_relaisd_start

# audited events: devices added and removed, refused packs
rl_ctl device add pillbox-9 --kind pillbox >/dev/null
rl_ctl device remove pillbox-9 >/dev/null
for i in 1 2 3 4 5; do rl_pub vitals-1 "$i" -m "not senml $i"; done
rl_wait_for 10 "5 rejections audited" sh -c \
    "[ \$(sqlite3 -readonly '$T/data/relais.db' \"SELECT count(*) FROM audit WHERE kind = 'input.rejected'\") -ge 5 ]"
rl_relaisd_stop

N=$(rl_sqlite "SELECT count(*) FROM audit")
[ "$N" -ge 8 ] || rl_fail "only $N audit rows"
rl_log "the trail has $N rows"

verify() { # -> OUT, RC
    RC=0
    OUT=$(rl_ctl audit verify 2>&1) || RC=$?
}
verify
rl_expect_eq "intact: exit" "$RC" 0
rl_expect_match "intact: verdict" "$OUT" "audit trail: $N rows \\(1\\.\\.$N\\): intact"
rl_expect_match "intact: head" "$OUT" "head: row $N, sha256 [0-9a-f]{64}"

db() { sqlite3 "$T/data/relais.db" "$1"; }
cp "$T/data/relais.db" "$T/pristine.db"
restore() { cp "$T/pristine.db" "$T/data/relais.db"; rm -f "$T/data/relais.db-wal" "$T/data/relais.db-shm"; }

# a detail changed: the device that was removed "was never added"
db "UPDATE audit SET detail = 'nothing' WHERE id = 3"
verify
rl_expect_eq "modified: exit" "$RC" 4
rl_expect_match "modified: verdict" "$OUT" "NOT INTACT"
rl_expect_match "modified: the row" "$OUT" "row 3: modified"
J=$(rl_ctl --json audit verify || true)
rl_expect_eq "modified: json" "$(jq -c '[.intact, .findings]' <<<"$J")" '[false,[{"problem":"modified","id":3,"id_to":3}]]'
restore

db "DELETE FROM audit WHERE id = 4"
verify
rl_expect_eq "deleted: exit" "$RC" 4
rl_expect_match "deleted: the row" "$OUT" "row 4: deleted"
restore

db "UPDATE audit SET id = 1000 WHERE id = 5; UPDATE audit SET id = 5 WHERE id = 6; UPDATE audit SET id = 6 WHERE id = 1000"
verify
rl_expect_eq "reordered: exit" "$RC" 4
rl_expect_match "reordered: the row" "$OUT" "row 5: reordered"
restore

verify
rl_expect_eq "restored: exit" "$RC" 0

# the head kept elsewhere (relaisd sends it to the hospital in its status):
# rows cut off at the end, or a chain recomputed whole, show only against it
HEAD=$(rl_ctl --json audit verify | jq -r '"\(.last_id):\(.head)"')
OUT=$(rl_ctl --head "$HEAD" audit verify) || rl_fail "the head's own trail is not intact"
rl_expect_match "against its head" "$OUT" "against row $N: matches the head kept elsewhere"
db "DELETE FROM audit WHERE id = $N"
verify
rl_expect_eq "cut off, without the head: not seen (exit)" "$RC" 0
RC=0
OUT=$(rl_ctl --head "$HEAD" audit verify 2>&1) || RC=$?
rl_expect_eq "cut off, against the head: exit" "$RC" 4
rl_expect_match "cut off, against the head" "$OUT" "against row $N: cut off"
restore
# the last row's hash replaced (the chain check sees it too; a chain
# recomputed whole would pass it, not the head)
db "UPDATE audit SET hash = randomblob(32) WHERE id = $N"
verify
rl_expect_eq "rewritten last row, without the head: exit" "$RC" 4
RC=0
OUT=$(rl_ctl --json --head "$HEAD" audit verify 2>&1) || RC=$?
rl_expect_eq "rewritten, against the head: exit" "$RC" 4
rl_expect_eq "rewritten, against the head: verdict" "$(jq -r .against_head.verdict <<<"$OUT")" \
    "rewritten: the row of the head kept elsewhere has another hash"
restore
RC=0
rl_ctl --head "12:nothex" audit verify >/dev/null 2>&1 || RC=$?
rl_expect_eq "a malformed head: usage" "$RC" 2
rl_log "audit_verify: all checks passed"
