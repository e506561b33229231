/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Verification of the hash-chained audit trail (DESIGN 5; `relaisctl audit
 * verify`).  Each row of the `audit` table carries the SHA-256 of the row
 * before it (prev_hash; zeros for row 1) and its own hash over prev_hash, its
 * id, time, kind, subject and detail (store__audit_hash()).  The verifier
 * reads the whole table in id order and says what was done to it:
 *
 *   MODIFIED   row id's content no longer matches its hash;
 *   DELETED    rows id..id_to are missing (a gap in the ids, or the first
 *              rows);
 *   INSERTED   row id does not belong: the next row links over it to the
 *              row before it (the rows after it renumbered are not reported
 *              as modified when their content matches their old id);
 *   REORDERED  row id links to a row that comes after it;
 *   BROKEN     row id's link matches no row (its prev_hash was altered).
 *
 * A keyless chain cannot show rows cut off at the end or a whole chain
 * recomputed: the head (its id and hash, printed by the verifier) must be
 * kept elsewhere to catch those (docs/threat-model.md).
 */
#ifndef RELAIS_AUDIT_H
#define RELAIS_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "relais/crypto.h"
#include "relais/store.h"

enum relais_audit_problem {
    RELAIS_AUDIT_MODIFIED = 0,
    RELAIS_AUDIT_DELETED = 1,
    RELAIS_AUDIT_INSERTED = 2,
    RELAIS_AUDIT_REORDERED = 3,
    RELAIS_AUDIT_BROKEN = 4,
};

const char *relais_audit_problem_name(enum relais_audit_problem p);

struct relais_audit_finding {
    enum relais_audit_problem problem;
    int64_t id, id_to; /* id_to: the last of a DELETED range, else id */
};

#define RELAIS_AUDIT_MAX_FINDINGS 64

struct relais_audit_report {
    uint64_t rows;
    int64_t first_id, last_id;
    uint8_t head[RELAIS_SHA256_LEN]; /* the last row's hash */
    size_t nfindings;
    struct relais_audit_finding findings[RELAIS_AUDIT_MAX_FINDINGS];
    uint64_t more; /* findings beyond RELAIS_AUDIT_MAX_FINDINGS */
};

/* Verifies the audit trail of st (read-only use).  Returns RELAIS_OK with the
 * report filled (nfindings 0: intact), or an error (the store cannot be read,
 * RELAIS_ENOMEM). */
int relais_audit_verify(struct relais_store *st, struct relais_audit_report *out);

/* The stored hash of audit row id: RELAIS_OK, RELAIS_ENOTFOUND (no such
 * row), or an error.  With a head kept elsewhere (relaisd sends its head to
 * the hospital in its status) it shows a trail cut off at its end (the row
 * is gone) or recomputed whole (the row's hash differs). */
int relais_audit_row_hash(struct relais_store *st, int64_t id, uint8_t out[RELAIS_SHA256_LEN]);

#endif
