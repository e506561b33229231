/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Housekeeping of the store (relais/store_evict.h): retention, then, over
 * the quota, pruning of acknowledged vitals, downsampling and eviction of
 * the others; and the drops table (relais/outbox.h).
 *
 * A pack's vitals (the records of "evictable" metrics, EVICTABLE below) may
 * go; its dose, lid and pro_* records never.  Record states of a pack:
 *
 *   stored --step 1/2: drop_vitals()----> vitals gone (clinical records kept)
 *     |  \--step 3: downsample_chunk()--> DOWNSAMPLED (one per bucket left)
 *     |   \-step 4: drop_vitals()-------> vitals gone
 *     \-- no record left: after_drop() --> PRUNED: body emptied, row kept
 *
 * The packs row is never deleted (it is the dedup key), nor is anything of
 * the audit, alert, dose or care tables.
 *
 * Cost: the candidate packs are found by walking readings in key order
 * (pack_id, idx), so packs already emptied cost nothing; what is walked
 * without being removed are the clinical records and, while the hospital
 * link is down, the vitals waiting for it.  The retention walk stops at the
 * first pack received after the cutoff.
 *
 * Downsampling works on chunks of about max_rows_per_call readings (oldest
 * packs first) and keeps the earliest reading of each (device, metric,
 * step) bucket of the chunk: a bucket split by a chunk boundary keeps one
 * reading per chunk.
 */
#include "store_internal.h"
#include "relais/error.h"
#include "relais/log.h"
#include "relais/outbox.h"
#include "relais/store_evict.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Readings that may be removed: not dose, not lid, not pro_* (symptoms);
 * the metric names are sealed, the store keeps this as a clear column
 * (store__evictable), and the outbox lane (relais_fhir_lane_of()) too. */
#define EVICTABLE(r)         "(" r "evictable = 1)"
/* Readings downsampled in one chunk at most (the window query sorts them). */
#define DOWNSAMPLE_CHUNK_MAX 8192

/* Slots 50..63 of the store's lazy statements are this file's. */
enum evict_stmt {
    EV_RETENTION_END = 50,
    EV_NEXT_PACK,
    EV_DROP_VITALS,
    EV_OUTBOX_LANES,
    EV_PACK_EMPTY,
    EV_CHUNK_END,
    EV_DUPES,
    EV_DELETE_ONE,
    EV_MARK_DOWNSAMPLED,
    EV_DROP_ADD,
    EV_DROPS_ALL,
    EV_END
};
_Static_assert(EV_END <= STORE_LAZY_MAX, "evict statements exceed the lazy slots");

static const char *const evict_sql[EV_END - EV_RETENTION_END] = {
    /* the first pack received at or after the cutoff: the retention walk
     * stops there (packs_received index) */
    [EV_RETENTION_END - EV_RETENTION_END] =
        "SELECT id FROM packs WHERE received_ms >= ?1 ORDER BY received_ms LIMIT 1",
    /* the oldest pack below ?1 received before ?2 holding vitals, that is
     * acknowledged (?3), not acknowledged (?4), not downsampled (?5); the
     * walk is over readings (CROSS JOIN keeps them outside) */
    [EV_NEXT_PACK - EV_RETENTION_END] =
        "SELECT r.pack_id FROM readings r CROSS JOIN packs p ON p.id = r.pack_id"
        " WHERE r.pack_id < ?1 AND " EVICTABLE(
            "r.") " AND +p.received_ms < ?2"
                  " AND (?3 = 0 OR p.forwarded_ms IS NOT NULL) AND (?4 = 0 OR p.forwarded_ms "
                  "IS NULL)"
                  " AND (?5 = 0 OR (p.flags & 4) = 0)"
                  " ORDER BY r.pack_id LIMIT 1",
    [EV_DROP_VITALS - EV_RETENTION_END] =
        "DELETE FROM readings WHERE pack_id = ?1 AND idx IN (SELECT idx FROM readings"
        " WHERE pack_id = ?1 AND " EVICTABLE("") " ORDER BY idx LIMIT ?2)",
    /* only the device and vitals lanes can lose records */
    [EV_OUTBOX_LANES - EV_RETENTION_END] =
        "DELETE FROM outbox WHERE kind = 1 AND ref = ?1 AND lane IN (2, 3) AND NOT EXISTS"
        " (SELECT 1 FROM readings WHERE pack_id = ?1 AND lane = outbox.lane)",
    [EV_PACK_EMPTY - EV_RETENTION_END] =
        "UPDATE packs SET body = zeroblob(0), flags = flags | 2 WHERE id = ?1"
        " AND NOT EXISTS (SELECT 1 FROM readings WHERE pack_id = ?1)",
    [EV_CHUNK_END - EV_RETENTION_END] =
        "SELECT pack_id FROM readings WHERE pack_id >= ?1 ORDER BY pack_id, idx LIMIT 1 OFFSET ?2",
    /* readings of packs ?1..?2 that are not the first of their (device,
     * metric, floor(t / step)) bucket; t is in seconds, ?3 in ms */
    [EV_DUPES - EV_RETENTION_END] =
        "SELECT pack_id, idx FROM (SELECT r.pack_id, r.idx, row_number() OVER"
        " (PARTITION BY p.device, r.mtag, CAST(r.t * 1000.0 / ?3 AS INTEGER)"
        "  ORDER BY r.t, r.pack_id, r.idx) AS n"
        " FROM packs p JOIN readings r ON r.pack_id = p.id"
        " WHERE p.id BETWEEN ?1 AND ?2 AND p.forwarded_ms IS NULL AND (p.flags & 4) = 0"
        " AND " EVICTABLE("r.") ")"
                                " WHERE n > 1 ORDER BY pack_id, idx LIMIT ?4",
    [EV_DELETE_ONE - EV_RETENTION_END] = "DELETE FROM readings WHERE pack_id = ?1 AND idx = ?2",
    [EV_MARK_DOWNSAMPLED - EV_RETENTION_END] =
        "UPDATE packs SET flags = flags | 4 WHERE id BETWEEN ?1 AND ?2 AND forwarded_ms IS NULL",
    [EV_DROP_ADD - EV_RETENTION_END] =
        "INSERT INTO drops(reason, count) VALUES(?1, ?2)"
        " ON CONFLICT(reason) DO UPDATE SET count = count + excluded.count",
    [EV_DROPS_ALL - EV_RETENTION_END] = "SELECT reason, count FROM drops ORDER BY reason",
};

static sqlite3_stmt *stmt(struct relais_store *st, enum evict_stmt id)
{
    return store__lazy(st, (int)id, evict_sql[id - EV_RETENTION_END]);
}

/* ---- drops ---- */

int relais_store_drop_add(struct relais_store *st, const char *reason, uint64_t n)
{
    if (!reason || n > (uint64_t)INT64_MAX) return RELAIS_EINVAL;
    if (n == 0) return RELAIS_OK;
    if (st->readonly) return RELAIS_EPERM;
    int rc;
    if (st->in_txn && (rc = store__txn_alive(st))) return rc;
    sqlite3_stmt *s = stmt(st, EV_DROP_ADD);
    if (!s) return RELAIS_ESTORE;
    sqlite3_bind_text(s, 1, reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)n);
    return store__step_done(st, s, "drop count");
}

int relais_store_foreach_drop(struct relais_store *st,
                              int (*cb)(const char *reason, uint64_t n, void *ud), void *ud)
{
    sqlite3_stmt *s = stmt(st, EV_DROPS_ALL);
    if (!s) return RELAIS_ESTORE;
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *reason = (const char *)sqlite3_column_text(s, 0);
        int64_t n = sqlite3_column_int64(s, 1);
        if ((ret = cb(reason ? reason : "", n > 0 ? (uint64_t)n : 0, ud)) != 0) break;
    }
    if (ret == 0 && rc != SQLITE_DONE) ret = store__error(st->db, rc, "drops walk");
    sqlite3_reset(s);
    return ret;
}

/* ---- one round ---- */

struct housekeep {
    struct relais_store *st;
    const struct relais_housekeep_opts *o;
    struct relais_housekeep_result *r;
    uint64_t budget; /* readings that may still be removed */
    uint64_t target; /* bytes in use to get under, once over the quota */
    uint64_t pruned_retention, pruned_quota;
    int64_t evicted_first, evicted_last; /* pack ids, for the audit record */
    bool was_over;                       /* over the quota when the call began */
};

/* Bytes of the database pages in use, as SQLite sees them inside the
 * transaction (the WAL is left to the checkpoint after the commit). */
static int db_bytes(struct relais_store *st, uint64_t *out)
{
    int64_t v[2] = {-1, -1};
    const enum store_stmt ids[2] = {ST_PAGE_COUNT, ST_FREELIST_COUNT};
    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *s = st->stmt[ids[i]];
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) v[i] = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
        if (rc != SQLITE_ROW) return store__error(st->db, rc, "page count");
    }
    *out = v[0] > v[1] ? (uint64_t)(v[0] - v[1]) * (uint64_t)st->page_size : 0;
    return RELAIS_OK;
}

static int over_target(struct housekeep *h, bool *over)
{
    uint64_t bytes = 0;
    int rc = db_bytes(h->st, &bytes);
    if (rc) return rc;
    *over = bytes >= h->target;
    return RELAIS_OK;
}

enum pack_filter {
    PF_FORWARDED = 1,
    PF_UNFORWARDED = 2,
    PF_NOT_DOWNSAMPLED = 4,
};

/* The oldest pack with id < below, received before received_before, with
 * vitals left, matching filter; *found false when there is none. */
static int next_pack(struct housekeep *h, int64_t below, int64_t received_before, int filter,
                     int64_t *id, bool *found)
{
    sqlite3_stmt *s = stmt(h->st, EV_NEXT_PACK);
    if (!s) return RELAIS_ESTORE;
    sqlite3_bind_int64(s, 1, below);
    sqlite3_bind_int64(s, 2, received_before);
    sqlite3_bind_int(s, 3, (filter & PF_FORWARDED) != 0);
    sqlite3_bind_int(s, 4, (filter & PF_UNFORWARDED) != 0);
    sqlite3_bind_int(s, 5, (filter & PF_NOT_DOWNSAMPLED) != 0);
    int rc = sqlite3_step(s);
    *found = rc == SQLITE_ROW;
    if (*found) *id = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? RELAIS_OK
                                                 : store__error(h->st->db, rc, "next pack");
}

/* After records of pack went: its outbox rows of lanes left without a
 * record go too, and a pack without any record loses its body. */
static int after_drop(struct housekeep *h, int64_t pack)
{
    sqlite3_stmt *s = stmt(h->st, EV_OUTBOX_LANES);
    if (!s) return RELAIS_ESTORE;
    sqlite3_bind_int64(s, 1, pack);
    int rc = store__step_done(h->st, s, "outbox rows of a pruned pack");
    if (rc) return rc;
    h->r->outbox_dropped += (uint64_t)sqlite3_changes(h->st->db);
    if (!(s = stmt(h->st, EV_PACK_EMPTY))) return RELAIS_ESTORE;
    sqlite3_bind_int64(s, 1, pack);
    return store__step_done(h->st, s, "pruned pack body");
}

/* Removes up to the budget of pack's vitals; *n: how many went. */
static int drop_vitals(struct housekeep *h, int64_t pack, uint64_t *n)
{
    sqlite3_stmt *s = stmt(h->st, EV_DROP_VITALS);
    if (!s) return RELAIS_ESTORE;
    sqlite3_bind_int64(s, 1, pack);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)h->budget);
    int rc = store__step_done(h->st, s, "vitals of a pack");
    if (rc) return rc;
    *n = (uint64_t)sqlite3_changes(h->st->db);
    h->budget = *n < h->budget ? h->budget - *n : 0;
    return after_drop(h, pack);
}

/* Step 1: acknowledged (or, without a hospital link, all) vitals past the
 * retention. */
static int prune_retention(struct housekeep *h)
{
    const struct relais_housekeep_opts *o = h->o;
    if (o->retention_ms <= 0 || o->now_ms < o->retention_ms) return RELAIS_OK;
    int64_t cutoff = o->now_ms - o->retention_ms;
    int64_t end = INT64_MAX;
    sqlite3_stmt *s = stmt(h->st, EV_RETENTION_END);
    if (!s) return RELAIS_ESTORE;
    sqlite3_bind_int64(s, 1, cutoff);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) end = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return store__error(h->st->db, rc, "retention end");

    while (h->budget > 0) {
        int64_t pack;
        bool found;
        uint64_t n;
        if ((rc = next_pack(h, end, cutoff, o->forwarding ? PF_FORWARDED : 0, &pack, &found)))
            return rc;
        if (!found) return RELAIS_OK;
        if ((rc = drop_vitals(h, pack, &n))) return rc;
        h->pruned_retention += n;
        h->r->pruned_packs++;
    }
    h->r->more = true;
    return RELAIS_OK;
}

/* Step 2 (filter PF_FORWARDED) and step 4 (PF_UNFORWARDED): vitals of the
 * oldest packs until under the target.  *none: no such pack was left. */
static int drop_oldest(struct housekeep *h, int filter, bool *none)
{
    bool over = true;
    int rc;
    *none = false;
    while (h->budget > 0) {
        int64_t pack;
        bool found;
        uint64_t n;
        if ((rc = over_target(h, &over))) return rc;
        if (!over) return RELAIS_OK;
        if ((rc = next_pack(h, INT64_MAX, INT64_MAX, filter, &pack, &found))) return rc;
        if (!found) {
            *none = true;
            return RELAIS_OK;
        }
        if ((rc = drop_vitals(h, pack, &n))) return rc;
        if (filter & PF_FORWARDED) {
            h->pruned_quota += n;
            h->r->pruned_packs++;
        } else {
            h->r->evicted += n;
            if (!h->evicted_first) h->evicted_first = pack;
            h->evicted_last = pack;
        }
    }
    if ((rc = over_target(h, &over))) return rc;
    if (over) h->r->more = true;
    return RELAIS_OK;
}

struct reading_key {
    int64_t pack;
    int idx;
};

/* Downsamples the not yet acknowledged packs from lo on holding about as
 * many readings as the budget allows (DOWNSAMPLE_CHUNK_MAX at most). */
static int downsample_chunk(struct housekeep *h, int64_t lo)
{
    struct relais_store *st = h->st;
    int64_t hi = INT64_MAX;
    struct reading_key *keys = NULL;
    size_t n = 0;
    uint64_t chunk = h->budget < DOWNSAMPLE_CHUNK_MAX ? h->budget : DOWNSAMPLE_CHUNK_MAX;
    int rc = RELAIS_ESTORE;

    sqlite3_stmt *s = stmt(st, EV_CHUNK_END);
    if (!s) goto out;
    sqlite3_bind_int64(s, 1, lo);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)chunk);
    int src = sqlite3_step(s);
    if (src == SQLITE_ROW) {
        int64_t at = sqlite3_column_int64(s, 0);
        hi = at > lo ? at - 1 : lo;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (src != SQLITE_ROW && src != SQLITE_DONE) {
        rc = store__error(st->db, src, "downsample chunk");
        goto out;
    }

    /* collected first: the rows are deleted once the walk is over */
    rc = RELAIS_ENOMEM;
    keys = malloc(chunk * sizeof *keys);
    if (!keys) goto out;
    rc = RELAIS_ESTORE;
    if (!(s = stmt(st, EV_DUPES))) goto out;
    sqlite3_bind_int64(s, 1, lo);
    sqlite3_bind_int64(s, 2, hi);
    sqlite3_bind_int64(s, 3, h->o->downsample_step_ms);
    sqlite3_bind_int64(s, 4, (sqlite3_int64)chunk);
    while (n < chunk && (src = sqlite3_step(s)) == SQLITE_ROW) {
        keys[n].pack = sqlite3_column_int64(s, 0);
        keys[n].idx = sqlite3_column_int(s, 1);
        n++;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (src != SQLITE_ROW && src != SQLITE_DONE) {
        rc = store__error(st->db, src, "downsample walk");
        goto out;
    }

    for (size_t i = 0; i < n; i++) {
        if (!(s = stmt(st, EV_DELETE_ONE))) goto out;
        sqlite3_bind_int64(s, 1, keys[i].pack);
        sqlite3_bind_int(s, 2, keys[i].idx);
        if ((rc = store__step_done(st, s, "downsampled reading"))) goto out;
        h->r->downsampled += (uint64_t)sqlite3_changes(st->db);
        if ((i + 1 == n || keys[i + 1].pack != keys[i].pack) && (rc = after_drop(h, keys[i].pack)))
            goto out;
    }
    h->budget -= n;
    rc = RELAIS_OK;
    if (n == chunk) { /* maybe more of this chunk: it is not done */
        if (h->budget == 0) h->r->more = true;
        goto out;
    }
    rc = RELAIS_ESTORE;
    if (!(s = stmt(st, EV_MARK_DOWNSAMPLED))) goto out;
    sqlite3_bind_int64(s, 1, lo);
    sqlite3_bind_int64(s, 2, hi);
    rc = store__step_done(st, s, "downsampled packs");
out:
    free(keys);
    return rc;
}

/* Step 3. */
static int downsample(struct housekeep *h)
{
    if (h->o->downsample_step_ms <= 0) return RELAIS_OK;
    int rc;
    while (h->budget > 0) {
        bool over, found;
        int64_t lo;
        if ((rc = over_target(h, &over))) return rc;
        if (!over) return RELAIS_OK;
        if ((rc = next_pack(h, INT64_MAX, INT64_MAX, PF_UNFORWARDED | PF_NOT_DOWNSAMPLED, &lo,
                            &found)))
            return rc;
        if (!found) return RELAIS_OK;
        if ((rc = downsample_chunk(h, lo))) return rc;
    }
    return RELAIS_OK;
}

static int count_and_audit(struct housekeep *h)
{
    struct relais_housekeep_result *r = h->r;
    int rc;
    if ((rc = relais_store_drop_add(h->st, "pruned_retention", h->pruned_retention)) ||
        (rc = relais_store_drop_add(h->st, "pruned_quota", h->pruned_quota)) ||
        (rc = relais_store_drop_add(h->st, "downsampled_quota", r->downsampled)) ||
        (rc = relais_store_drop_add(h->st, "evicted_quota", r->evicted)))
        return rc;
    if (r->pruned + r->downsampled + r->evicted == 0) return RELAIS_OK;

    char detail[320];
    int len = snprintf(detail, sizeof detail,
                       "pruned %llu (retention %llu, quota %llu) of %llu packs, downsampled %llu,"
                       " evicted %llu readings",
                       (unsigned long long)r->pruned, (unsigned long long)h->pruned_retention,
                       (unsigned long long)h->pruned_quota, (unsigned long long)r->pruned_packs,
                       (unsigned long long)r->downsampled, (unsigned long long)r->evicted);
    if (r->evicted && len > 0 && (size_t)len < sizeof detail)
        len += snprintf(detail + len, sizeof detail - (size_t)len,
                        " (oldest first, never forwarded: packs %lld..%lld)",
                        (long long)h->evicted_first, (long long)h->evicted_last);
    if (r->outbox_dropped && len > 0 && (size_t)len < sizeof detail)
        snprintf(detail + len, sizeof detail - (size_t)len, "; %llu outbox rows dropped",
                 (unsigned long long)r->outbox_dropped);
    if (r->evicted)
        log_warn("store", "over quota: %s", detail);
    else
        log_info("store", "%s", detail);
    return relais_store_audit(h->st, h->o->now_ms, "store.evicted", "store", detail);
}

static int housekeep_txn(struct housekeep *h)
{
    struct relais_store *st = h->st;
    bool none_forwarded = false, none_left = false, over = false;
    int rc;

    if ((rc = prune_retention(h))) return rc;
    if (st->quota && (st->over_quota || h->was_over)) {
        if ((rc = drop_oldest(h, PF_FORWARDED, &none_forwarded))) return rc;
        if ((rc = downsample(h))) return rc;
        if ((rc = drop_oldest(h, PF_UNFORWARDED, &none_left))) return rc;
        if ((rc = over_target(h, &over))) return rc;
        /* step 2 found nothing acknowledged, step 4 nothing else */
        h->r->nothing_left = over && none_forwarded && none_left;
    }
    h->r->pruned = h->pruned_retention + h->pruned_quota;
    return count_and_audit(h);
}

int relais_store_housekeep(struct relais_store *st, const struct relais_housekeep_opts *o,
                           struct relais_housekeep_result *r)
{
    struct housekeep h = {.st = st, .o = o, .r = r};
    int rc;

    memset(r, 0, sizeof *r);
    if (st->in_txn) return RELAIS_EINVAL;
    h.budget = o->max_rows_per_call ? o->max_rows_per_call : RELAIS_HOUSEKEEP_DEFAULT_ROWS;
    if (h.budget > (uint64_t)INT64_MAX) h.budget = (uint64_t)INT64_MAX;
    h.target = o->target_bytes ? o->target_bytes : st->quota - st->quota / 10;
    if (h.target > st->quota) h.target = st->quota;
    store__refresh_quota(st);
    /* The quota counts the WAL, the steps below count pages: a WAL that
     * alone holds the store over its quota would be evicted around for
     * ever.  Fold it back first; what was over still goes down to the
     * target. */
    h.was_over = st->over_quota;
    if (h.was_over) {
        int crc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        if (crc != SQLITE_OK && crc != SQLITE_BUSY && crc != SQLITE_LOCKED)
            store__error(st->db, crc, "checkpoint before housekeeping");
        store__refresh_quota(st);
    }

    if ((rc = relais_store_begin(st))) return rc;
    if ((rc = housekeep_txn(&h)) || (rc = relais_store_commit(st))) {
        relais_store_rollback(st);
        memset(r, 0, sizeof *r);
        return rc;
    }
    if (r->pruned + r->downsampled + r->evicted + r->outbox_dropped > 0) {
        /* the deletes went to the WAL: fold it back so that the size drops */
        int crc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        if (crc != SQLITE_OK && crc != SQLITE_BUSY && crc != SQLITE_LOCKED)
            store__error(st->db, crc, "checkpoint after housekeeping");
        store__refresh_quota(st);
    }
    r->over_quota = relais_store_over_quota(st);
    r->nothing_left = r->nothing_left && r->over_quota;
    return RELAIS_OK;
}
