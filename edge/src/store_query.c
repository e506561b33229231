/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The read side of the store, for relaisctl and the tests: totals and walks
 * over readings, packs and rejected inputs with simple filters.  Queries are
 * assembled from fixed fragments; every value is bound, never formatted in.
 */
#include "store_internal.h"
#include "relais/error.h"

#include <stdio.h>
#include <string.h>

static int count(struct relais_store *st, const char *sql, uint64_t *out)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK) return store__error(st->db, rc, sql);
    rc = sqlite3_step(s);
    *out = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? RELAIS_OK : store__error(st->db, rc, sql);
}

int relais_store_totals(struct relais_store *st, struct relais_store_totals *out)
{
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = store__schema_version(st->db, &out->schema_version))) return rc;
    if (out->schema_version == 0) return RELAIS_OK;
    if ((rc = count(st, "SELECT count(*) FROM packs", &out->packs)) ||
        (rc = count(st, "SELECT count(*) FROM packs WHERE flags & 1", &out->flagged)) ||
        (rc = count(st, "SELECT count(*) FROM readings", &out->readings)) ||
        (rc = count(st, "SELECT count(*) FROM rejects", &out->rejects)) ||
        (rc = count(st, "SELECT count(*) FROM audit", &out->audit)))
        return rc;
    return RELAIS_OK;
}

/* Builds "SELECT * FROM (<base> WHERE ... ORDER BY key DESC LIMIT n) ORDER BY key":
 * the newest n rows, returned oldest first. */
static int prepare_walk(struct relais_store *st, const char *base, const char *order_desc,
                        const char *order, const struct relais_store_filter *f, bool with_metric,
                        bool with_flagged, sqlite3_stmt **out)
{
    char sql[1024];
    char where[256] = "";
    size_t w = 0;
    if (f && f->device)
        w += (size_t)snprintf(where + w, sizeof where - w, "%s device = ?1", w ? " AND" : " WHERE");
    if (f && with_metric && f->metric)
        w += (size_t)snprintf(where + w, sizeof where - w, "%s mtag = ?2", w ? " AND" : " WHERE");
    if (f && with_flagged && f->flagged_only)
        w += (size_t)snprintf(where + w, sizeof where - w, "%s flags & 1", w ? " AND" : " WHERE");
    snprintf(sql, sizeof sql, "SELECT * FROM (%s%s ORDER BY %s LIMIT ?3) ORDER BY %s", base, where,
             order_desc, order);
    int rc = sqlite3_prepare_v2(st->db, sql, -1, out, NULL);
    if (rc != SQLITE_OK) return store__error(st->db, rc, "query");
    if (f && f->device) sqlite3_bind_text(*out, 1, f->device, -1, SQLITE_TRANSIENT);
    if (f && with_metric && f->metric) {
        /* metric names are sealed: their keyed tags are compared */
        uint8_t tag[STORE_MTAG_LEN];
        store__metric_tag(&st->key, f->metric, tag);
        sqlite3_bind_blob(*out, 2, tag, sizeof tag, SQLITE_TRANSIENT);
    }
    sqlite3_bind_int64(*out, 3, f && f->limit > 0 ? f->limit : -1);
    return RELAIS_OK;
}

int relais_store_foreach_reading(struct relais_store *st, const struct relais_store_filter *f,
                                 int (*cb)(const struct relais_stored_reading *r, void *ud),
                                 void *ud)
{
    sqlite3_stmt *s = NULL;
    int rc = prepare_walk(st,
                          "SELECT r.pack_id AS pack_id, r.idx AS idx, p.device AS device, p.seq,"
                          " r.mtag AS mtag, r.lane, r.evictable, r.sealed,"
                          " r.t, r.t_src, p.received_ms, p.flags"
                          " FROM readings r JOIN packs p ON p.id = r.pack_id",
                          "pack_id DESC, idx DESC", "pack_id, idx", f, true, false, &s);
    if (rc) return rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct relais_stored_reading r;
        memset(&r, 0, sizeof r);
        r.pack_id = sqlite3_column_int64(s, 0);
        r.idx = sqlite3_column_int(s, 1);
        r.device = (const char *)sqlite3_column_text(s, 2);
        r.seq = (uint64_t)sqlite3_column_int64(s, 3);
        r.time = sqlite3_column_double(s, 8);
        r.time_source = (enum relais_time_source)sqlite3_column_int(s, 9);
        r.received_ms = sqlite3_column_int64(s, 10);
        r.flags = sqlite3_column_int(s, 11);
        struct store_reading_clear c;
        int urc = store__reading_unseal(st, s, 7, r.pack_id, r.idx, r.time, (int)r.time_source,
                                        sqlite3_column_int(s, 5), sqlite3_column_int(s, 6),
                                        sqlite3_column_blob(s, 4),
                                        (size_t)sqlite3_column_bytes(s, 4), &c);
        if (urc == RELAIS_ECORRUPT) {
            /* reported (logged, counted): shown as what it is, never as data */
            r.metric = "?";
            r.unit = "";
            r.kind = RELAIS_READING_SUM_ONLY;
            r.tampered = true;
        } else if (urc) {
            sqlite3_finalize(s);
            return urc;
        } else {
            r.metric = c.metric;
            r.unit = c.unit;
            r.kind = c.kind;
            r.value = c.value;
            r.str = c.str;
            r.boolean = c.boolean;
            r.data = c.data;
            r.len = c.len;
            r.has_sum = c.has_sum;
            r.sum = c.sum;
            r.has_update_time = c.has_update_time;
            r.update_time = c.update_time;
        }
        int stop = cb(&r, ud);
        if (stop) {
            sqlite3_finalize(s);
            return stop;
        }
    }
    int result = rc == SQLITE_DONE ? RELAIS_OK : store__error(st->db, rc, "readings");
    sqlite3_finalize(s);
    return result;
}

int relais_store_foreach_pack(struct relais_store *st, const struct relais_store_filter *f,
                              int (*cb)(const struct relais_stored_pack *p, void *ud), void *ud)
{
    sqlite3_stmt *s = NULL;
    int rc = prepare_walk(st,
                          "SELECT id, device, seq, format, transport, received_ms, records,"
                          " flags, body_hash FROM packs",
                          "id DESC", "id", f, false, true, &s);
    if (rc) return rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct relais_stored_pack p;
        p.id = sqlite3_column_int64(s, 0);
        p.device = (const char *)sqlite3_column_text(s, 1);
        p.seq = (uint64_t)sqlite3_column_int64(s, 2);
        p.format = (enum relais_senml_format)sqlite3_column_int(s, 3);
        p.transport = (enum relais_transport)sqlite3_column_int(s, 4);
        p.received_ms = sqlite3_column_int64(s, 5);
        p.records = sqlite3_column_int(s, 6);
        p.flags = sqlite3_column_int(s, 7);
        p.hash = sqlite3_column_blob(s, 8);
        int stop = cb(&p, ud);
        if (stop) {
            sqlite3_finalize(s);
            return stop;
        }
    }
    int result = rc == SQLITE_DONE ? RELAIS_OK : store__error(st->db, rc, "packs");
    sqlite3_finalize(s);
    return result;
}

int relais_store_foreach_reject(struct relais_store *st, const struct relais_store_filter *f,
                                int (*cb)(const struct relais_stored_reject *r, void *ud), void *ud)
{
    sqlite3_stmt *s = NULL;
    int rc = prepare_walk(st,
                          "SELECT id, at_ms, transport, device, seq, reason, detail, body_len"
                          " FROM rejects",
                          "id DESC", "id", f, false, false, &s);
    if (rc) return rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct relais_stored_reject r;
        r.id = sqlite3_column_int64(s, 0);
        r.at_ms = sqlite3_column_int64(s, 1);
        r.transport = (enum relais_transport)sqlite3_column_int(s, 2);
        r.device = (const char *)sqlite3_column_text(s, 3);
        r.has_seq = sqlite3_column_type(s, 4) != SQLITE_NULL;
        r.seq = (uint64_t)sqlite3_column_int64(s, 4);
        r.reason = (const char *)sqlite3_column_text(s, 5);
        struct store_aad a;
        store__reject_aad(&a, "rejects.detail", r.at_ms, (int)r.transport, r.device, r.has_seq,
                          r.seq);
        int urc = store__unseal_text(st, s, 6, &a, "reject detail", &r.detail);
        if (urc == RELAIS_ECORRUPT) {
            r.detail = "(the stored detail failed its integrity check)";
        } else if (urc) {
            sqlite3_finalize(s);
            return urc;
        }
        r.len = (size_t)sqlite3_column_int64(s, 7);
        int stop = cb(&r, ud);
        if (stop) {
            sqlite3_finalize(s);
            return stop;
        }
    }
    int result = rc == SQLITE_DONE ? RELAIS_OK : store__error(st->db, rc, "rejects");
    sqlite3_finalize(s);
    return result;
}
