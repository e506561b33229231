/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Housekeeping of the store (DESIGN.md 5 "Quota"): retention, and what goes
 * when the store is over its quota.
 *
 * Only vitals are ever removed: readings whose metric is not "dose", not
 * "lid" and not "pro_*" (temp, spo2, hr, bp_*, weight, resp, steps, battery
 * and unknown metrics).  Dose and lid records, symptoms (pro_*), alerts and
 * their events, dose slots and events, care plans, devices, rejects and the
 * audit trail are never removed.  A pack's row always stays: it is the dedup
 * key (device, seq, body hash), so a late resend is still a duplicate.  A
 * pack left with no reading at all loses its body (an empty blob) and is flagged
 * RELAIS_PACK_FLAG_PRUNED; one that still holds clinical records keeps its
 * body as their evidence.
 *
 * One call, one transaction, bounded work:
 *   1. retention: vitals of packs received before now - retention_ms that
 *      the hospital acknowledged (forwarded_ms set), or of every pack when
 *      there is no hospital link (reason "pruned_retention");
 *   while over the quota, until the store is back under the target:
 *   2. vitals of acknowledged packs, oldest first, whatever their age
 *      ("pruned_quota");
 *   3. vitals not yet acknowledged, oldest packs first, downsampled to one
 *      reading per (device, metric, step) ("downsampled_quota");
 *   4. vitals not yet acknowledged, oldest packs first ("evicted_quota").
 * An outbox row of a pack (kind RELAIS_OUTBOX_PACK) whose lane has no record
 * left is removed with it.  Every removal is counted by reason in the drops
 * table (relais/outbox.h) and each call that removed anything writes one
 * "store.evicted" audit record.
 */
#ifndef RELAIS_STORE_EVICT_H
#define RELAIS_STORE_EVICT_H

#include <stdbool.h>
#include <stdint.h>

#include "relais/store.h"

/* packs.flags: the pack's records were all removed and its body emptied; the
 * row stays as the dedup key. */
#define RELAIS_PACK_FLAG_PRUNED      0x2
/* packs.flags: the pack's vitals were downsampled (step 3 is done with it). */
#define RELAIS_PACK_FLAG_DOWNSAMPLED 0x4

/* Default bound of one call, in readings removed. */
#define RELAIS_HOUSEKEEP_DEFAULT_ROWS 5000

struct relais_housekeep_opts {
    int64_t now_ms;
    /* Acknowledged vitals received before now_ms - retention_ms are pruned;
     * 0: kept until the quota needs the room. */
    int64_t retention_ms;
    /* false: there is no hospital link, so nothing is ever acknowledged:
     * the retention then applies to every pack's vitals. */
    bool forwarding;
    /* Over quota, not yet acknowledged vitals keep one reading per (device,
     * metric, floor(t / step)); <= 0: no downsampling (straight to
     * eviction). */
    int64_t downsample_step_ms;
    /* Readings removed in one call at most; 0: RELAIS_HOUSEKEEP_DEFAULT_ROWS. */
    uint64_t max_rows_per_call;
    /* Once over the quota, remove until the database uses less than this
     * (pages in use); 0: 90 % of the quota.  Capped at the quota. */
    uint64_t target_bytes;
};

struct relais_housekeep_result {
    uint64_t pruned_packs;   /* packs that lost vitals in steps 1 and 2 */
    uint64_t pruned;         /* readings removed in steps 1 and 2 */
    uint64_t downsampled;    /* readings removed by downsampling */
    uint64_t evicted;        /* readings removed oldest first, never acknowledged */
    uint64_t outbox_dropped; /* outbox rows whose lane had no record left */
    bool over_quota;         /* still over the quota after this call */
    bool nothing_left;       /* over the quota and no vitals left to remove: devices
                                get busy, raise a technical alert */
    bool more;               /* the bound was reached: call again soon */
};

/*
 * Runs one bounded round of housekeeping in its own transaction (there must
 * be none open: RELAIS_EINVAL), then checkpoints the WAL when anything was
 * removed and checks the quota again.  On error the transaction is rolled
 * back and r describes nothing.  o and r are borrowed for the call.
 */
int relais_store_housekeep(struct relais_store *st, const struct relais_housekeep_opts *o,
                           struct relais_housekeep_result *r);

#endif
