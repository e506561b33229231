/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The outbox in the store (relais/outbox.h): rows to forward, their
 * acknowledgement by the hospital broker, dead letters.
 */
#include "relais/outbox.h"
#include "relais/error.h"
#include "relais/log.h"
#include "relais/store_care.h"
#include "store_internal.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum outbox_stmt {
    OS_ADD = 40,
    OS_SCAN,
    OS_MAX_ID,
    OS_GET,
    OS_DELETE,
    OS_PACK_LEFT,
    OS_PACK_FORWARDED,
    OS_EVENT_FORWARDED,
    OS_FAILED,
    OS_DEAD,
    /* 50..63 are store_evict.c's */
    OS_STATS = 64,
    OS_DEAD_COUNT,
    OS_PACK,
    OS_PACK_RECORDS,
    OS_EVENT,
    OS_SEEN,
    OS_BATTERY,
    OS_DEAD_LIST,
};

static const char *const sql_add = "INSERT OR IGNORE INTO outbox(lane, kind, ref, key, created_ms)"
                                   " VALUES(?1, ?2, ?3, ?4, ?5)";
static const char *const sql_scan =
    "SELECT id, lane, kind, ref, key, created_ms, attempts FROM outbox"
    " WHERE lane = ?1 AND id > ?2 AND id <= ?3 ORDER BY id LIMIT ?4";
static const char *const sql_get = "SELECT lane, kind, ref, key, created_ms, attempts FROM outbox"
                                   " WHERE id = ?1";
static const char *const sql_delete = "DELETE FROM outbox WHERE id = ?1";
/* rows still to send, and lanes that went to the dead letters: a pack is
 * "forwarded" (and its vitals may be pruned after the retention) only when
 * every lane reached the hospital */
static const char *const sql_pack_left =
    "SELECT (SELECT count(*) FROM outbox WHERE kind = 1 AND ref = ?1)"
    " + (SELECT count(*) FROM dead_letters WHERE kind = 1 AND ref = ?1)";
static const char *const sql_pack_forwarded =
    "UPDATE packs SET forwarded_ms = ?2 WHERE id = ?1 AND forwarded_ms IS NULL";
static const char *const sql_event_forwarded =
    "UPDATE alert_events SET forwarded_ms = ?2 WHERE id = ?1 AND forwarded_ms IS NULL";
static const char *const sql_failed =
    "UPDATE outbox SET attempts = attempts + 1, last_ms = ?2 WHERE id = ?1";
static const char *const sql_dead =
    "INSERT INTO dead_letters(lane, kind, ref, key, created_ms, dead_ms, attempts, reason, topic,"
    " body) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
static const char *const sql_pack =
    "SELECT id, device, seq, format, transport, received_ms, records, flags, body_hash"
    " FROM packs WHERE id = ?1";
static const char *const sql_pack_records =
    "SELECT idx, lane, evictable, mtag, t, t_src, sealed FROM readings"
    " WHERE pack_id = ?1 ORDER BY idx";

void relais_store_outbox_enable(struct relais_store *st, bool on)
{
    st->outbox_on = on;
}

bool relais_store_outbox_enabled(const struct relais_store *st)
{
    return st->outbox_on;
}

int relais_store_outbox_bind(struct relais_store *st, const char *patient,
                             const char *const *devices, size_t n)
{
    char(*b)[RELAIS_WIRE_ID_MAX + 1] = n ? calloc(n, sizeof *b) : NULL;
    if (n && !b) return RELAIS_ENOMEM;
    for (size_t i = 0; i < n; i++)
        snprintf(b[i], sizeof b[i], "%s", devices[i]);
    free(st->bound);
    st->bound = b;
    st->nbound = n;
    snprintf(st->bound_patient, sizeof st->bound_patient, "%s", patient ? patient : "");
    return RELAIS_OK;
}

const char *relais_store_outbox_patient(const struct relais_store *st, const char *device)
{
    for (size_t i = 0; i < st->nbound; i++)
        if (strcmp(st->bound[i], device) == 0 && st->bound_patient[0]) return st->bound_patient;
    return "unbound";
}

int relais_store_outbox_add(struct relais_store *st, int lane, enum relais_outbox_kind kind,
                            int64_t ref, const char *key, int64_t created_ms)
{
    if (!relais_store_outbox_enabled(st)) return RELAIS_OK;
    sqlite3_stmt *s = store__lazy(st, OS_ADD, sql_add);
    if (!s) return RELAIS_ESTORE;
    sqlite3_bind_int(s, 1, lane);
    sqlite3_bind_int(s, 2, kind);
    sqlite3_bind_int64(s, 3, ref);
    sqlite3_bind_text(s, 4, key ? key : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, created_ms);
    return store__step_done(st, s, "outbox add");
}

int relais_store_outbox_scan(struct relais_store *st, int lane, int64_t after_id, int64_t upto_id,
                             int limit, int (*cb)(const struct relais_outbox_row *r, void *ud),
                             void *ud)
{
    sqlite3_stmt *s = store__lazy(st, OS_SCAN, sql_scan);
    if (!s) return RELAIS_ESTORE;
    sqlite3_bind_int(s, 1, lane);
    sqlite3_bind_int64(s, 2, after_id);
    sqlite3_bind_int64(s, 3, upto_id);
    sqlite3_bind_int(s, 4, limit);
    int rc, stop = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const struct relais_outbox_row r = {
            .id = sqlite3_column_int64(s, 0),
            .lane = sqlite3_column_int(s, 1),
            .kind = (enum relais_outbox_kind)sqlite3_column_int(s, 2),
            .ref = sqlite3_column_int64(s, 3),
            .key = (const char *)sqlite3_column_text(s, 4),
            .created_ms = sqlite3_column_int64(s, 5),
            .attempts = sqlite3_column_int(s, 6),
        };
        if ((stop = cb(&r, ud))) break;
    }
    int err = stop || rc == SQLITE_DONE ? RELAIS_OK : store__error(st->db, rc, "outbox scan");
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return err ? err : stop;
}

static int single_int64(struct relais_store *st, int slot, const char *sql, int64_t arg,
                        bool has_arg, int64_t *out)
{
    sqlite3_stmt *s = store__lazy(st, slot, sql);
    if (!s) return RELAIS_ESTORE;
    if (has_arg) sqlite3_bind_int64(s, 1, arg);
    int rc = sqlite3_step(s);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    int err = rc == SQLITE_ROW || rc == SQLITE_DONE ? RELAIS_OK : store__error(st->db, rc, sql);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return err;
}

int relais_store_outbox_max_id(struct relais_store *st, int64_t *out)
{
    return single_int64(st, OS_MAX_ID, "SELECT coalesce(max(id), 0) FROM outbox", 0, false, out);
}

struct row_copy {
    int lane, kind, attempts;
    int64_t ref, created_ms;
    char key[96];
};

static int row_get(struct relais_store *st, int64_t id, struct row_copy *out)
{
    sqlite3_stmt *s = store__lazy(st, OS_GET, sql_get);
    if (!s) return RELAIS_ESTORE;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    int err = RELAIS_OK;
    if (rc == SQLITE_ROW) {
        out->lane = sqlite3_column_int(s, 0);
        out->kind = sqlite3_column_int(s, 1);
        out->ref = sqlite3_column_int64(s, 2);
        const char *k = (const char *)sqlite3_column_text(s, 3);
        snprintf(out->key, sizeof out->key, "%s", k ? k : "");
        out->created_ms = sqlite3_column_int64(s, 4);
        out->attempts = sqlite3_column_int(s, 5);
    } else {
        err = rc == SQLITE_DONE ? RELAIS_ENOTFOUND : store__error(st->db, rc, "outbox get");
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return err;
}

static int bind_step(struct relais_store *st, int slot, const char *sql, int64_t a, int64_t b,
                     const char *what)
{
    sqlite3_stmt *s = store__lazy(st, slot, sql);
    if (!s) return RELAIS_ESTORE;
    sqlite3_bind_int64(s, 1, a);
    sqlite3_bind_int64(s, 2, b);
    return store__step_done(st, s, what);
}

static int row_done(struct relais_store *st, int64_t id, int64_t at_ms)
{
    struct row_copy r;
    int rc = row_get(st, id, &r);
    if (rc == RELAIS_ENOTFOUND) return RELAIS_OK; /* acknowledged twice, or evicted */
    if (rc) return rc;
    sqlite3_stmt *s = store__lazy(st, OS_DELETE, sql_delete);
    if (!s) return RELAIS_ESTORE;
    sqlite3_bind_int64(s, 1, id);
    if ((rc = store__step_done(st, s, "outbox delete"))) return rc;
    if (r.kind == RELAIS_OUTBOX_PACK) {
        int64_t left;
        if ((rc = single_int64(st, OS_PACK_LEFT, sql_pack_left, r.ref, true, &left))) return rc;
        if (left == 0)
            rc = bind_step(st, OS_PACK_FORWARDED, sql_pack_forwarded, r.ref, at_ms,
                           "pack forwarded");
    } else if (r.kind == RELAIS_OUTBOX_ALERT) {
        rc = bind_step(st, OS_EVENT_FORWARDED, sql_event_forwarded, r.ref, at_ms,
                       "alert event forwarded");
    }
    return rc;
}

static int in_txn(struct relais_store *st, const int64_t *ids, size_t n, int64_t at_ms,
                  int (*each)(struct relais_store *, int64_t, int64_t))
{
    bool own = !relais_store_in_transaction(st);
    int rc = own ? relais_store_begin(st) : store__txn_alive(st);
    for (size_t i = 0; i < n && !rc; i++)
        rc = each(st, ids[i], at_ms);
    if (own) {
        if (!rc) rc = relais_store_commit(st);
        if (rc) relais_store_rollback(st);
    }
    return rc;
}

int relais_store_outbox_done(struct relais_store *st, const int64_t *ids, size_t n, int64_t at_ms)
{
    return in_txn(st, ids, n, at_ms, row_done);
}

static int row_failed(struct relais_store *st, int64_t id, int64_t at_ms)
{
    return bind_step(st, OS_FAILED, sql_failed, id, at_ms, "outbox attempt");
}

int relais_store_outbox_failed(struct relais_store *st, const int64_t *ids, size_t n, int64_t at_ms)
{
    return in_txn(st, ids, n, at_ms, row_failed);
}

int relais_store_outbox_dead(struct relais_store *st, int64_t id, const char *reason,
                             const char *topic, const void *body, size_t len, int64_t at_ms)
{
    if (!reason) return RELAIS_EINVAL;
    bool own = !relais_store_in_transaction(st);
    int rc = own ? relais_store_begin(st) : store__txn_alive(st);
    struct row_copy r;
    if (!rc) rc = row_get(st, id, &r);
    sqlite3_stmt *s = rc ? NULL : store__lazy(st, OS_DEAD, sql_dead);
    if (!rc && !s) rc = RELAIS_ESTORE;
    if (!rc) {
        sqlite3_bind_int(s, 1, r.lane);
        sqlite3_bind_int(s, 2, r.kind);
        sqlite3_bind_int64(s, 3, r.ref);
        sqlite3_bind_text(s, 4, r.key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 5, r.created_ms);
        sqlite3_bind_int64(s, 6, at_ms);
        sqlite3_bind_int(s, 7, r.attempts);
        sqlite3_bind_text(s, 8, reason, -1, SQLITE_STATIC);
        if (topic) sqlite3_bind_text(s, 9, topic, -1, SQLITE_STATIC);
        if (body) {
            struct store_aad a;
            store__aad_init(&a, "dead_letters.body");
            store__aad_int(&a, r.lane);
            store__aad_int(&a, r.kind);
            store__aad_int(&a, r.ref);
            store__aad_str(&a, r.key);
            rc = store__seal_bind(st, s, 10, &a, body, len);
        }
        if (!rc) {
            rc = store__step_done(st, s, "dead letter");
        } else {
            sqlite3_reset(s);
            sqlite3_clear_bindings(s);
        }
    }
    if (!rc) {
        sqlite3_stmt *d = store__lazy(st, OS_DELETE, sql_delete);
        if (!d) rc = RELAIS_ESTORE;
        if (!rc) {
            sqlite3_bind_int64(d, 1, id);
            rc = store__step_done(st, d, "outbox delete");
        }
    }
    if (!rc) rc = relais_store_drop_add(st, "dead_letter", 1);
    if (!rc) {
        char subject[64], detail[512];
        snprintf(subject, sizeof subject, "outbox/%lld", (long long)id);
        snprintf(detail, sizeof detail, "lane %d kind %d ref %lld key '%s' after %d attempts: %s",
                 r.lane, r.kind, (long long)r.ref, r.key, r.attempts, reason);
        rc = relais_store_audit(st, at_ms, "forward.dead_letter", subject, detail);
    }
    if (own) {
        if (!rc) rc = relais_store_commit(st);
        if (rc) relais_store_rollback(st);
    }
    return rc;
}

int relais_store_outbox_stats(struct relais_store *st, struct relais_outbox_stats *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = store__lazy(
        st, OS_STATS, "SELECT lane, count(*), min(created_ms) FROM outbox GROUP BY lane");
    if (!s) return RELAIS_ESTORE;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int lane = sqlite3_column_int(s, 0);
        if (lane < 0 || lane >= RELAIS_OUTBOX_LANES) continue;
        out->depth[lane] = (uint64_t)sqlite3_column_int64(s, 1);
        out->oldest_ms[lane] = sqlite3_column_int64(s, 2);
    }
    int err = rc == SQLITE_DONE ? RELAIS_OK : store__error(st->db, rc, "outbox stats");
    sqlite3_reset(s);
    if (err) return err;
    int64_t dead;
    err = single_int64(st, OS_DEAD_COUNT, "SELECT count(*) FROM dead_letters", 0, false, &dead);
    out->dead = (uint64_t)dead;
    return err;
}

int relais_store_foreach_dead_letter(struct relais_store *st, int64_t limit,
                                     int (*cb)(const struct relais_dead_letter *d, void *ud),
                                     void *ud)
{
    sqlite3_stmt *s = store__lazy(st, OS_DEAD_LIST,
                                  "SELECT id, lane, kind, ref, key, created_ms, dead_ms, attempts,"
                                  " reason, topic, length(body) FROM dead_letters"
                                  " ORDER BY id DESC LIMIT ?1");
    if (!s) return RELAIS_ESTORE;
    sqlite3_bind_int64(s, 1, limit > 0 ? limit : -1);
    int rc, stop = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const struct relais_dead_letter d = {
            .id = sqlite3_column_int64(s, 0),
            .lane = sqlite3_column_int(s, 1),
            .kind = (enum relais_outbox_kind)sqlite3_column_int(s, 2),
            .ref = sqlite3_column_int64(s, 3),
            .key = (const char *)sqlite3_column_text(s, 4),
            .created_ms = sqlite3_column_int64(s, 5),
            .dead_ms = sqlite3_column_int64(s, 6),
            .attempts = sqlite3_column_int(s, 7),
            .reason = (const char *)sqlite3_column_text(s, 8),
            .topic = (const char *)sqlite3_column_text(s, 9),
            .body_len = (size_t)sqlite3_column_int64(s, 10),
        };
        if ((stop = cb(&d, ud))) break;
    }
    int err = stop || rc == SQLITE_DONE ? RELAIS_OK : store__error(st->db, rc, "dead letters");
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return err;
}

int relais_store_pack_load(struct relais_store *st, int64_t pack_id,
                           int (*cb)(const struct relais_stored_pack *p,
                                     const struct relais_stored_reading *recs, size_t n, void *ud),
                           void *ud)
{
    sqlite3_stmt *ps = store__lazy(st, OS_PACK, sql_pack);
    sqlite3_stmt *rs = store__lazy(st, OS_PACK_RECORDS, sql_pack_records);
    if (!ps || !rs) return RELAIS_ESTORE;
    sqlite3_bind_int64(ps, 1, pack_id);
    int rc = sqlite3_step(ps);
    if (rc != SQLITE_ROW) {
        int err = rc == SQLITE_DONE ? RELAIS_ENOTFOUND : store__error(st->db, rc, "pack load");
        sqlite3_reset(ps);
        sqlite3_clear_bindings(ps);
        return err;
    }
    struct relais_stored_pack p = {
        .id = sqlite3_column_int64(ps, 0),
        .device = (const char *)sqlite3_column_text(ps, 1),
        .seq = (uint64_t)sqlite3_column_int64(ps, 2),
        .format = (enum relais_senml_format)sqlite3_column_int(ps, 3),
        .transport = (enum relais_transport)sqlite3_column_int(ps, 4),
        .received_ms = sqlite3_column_int64(ps, 5),
        .records = sqlite3_column_int(ps, 6),
        .flags = sqlite3_column_int(ps, 7),
        .hash = sqlite3_column_blob(ps, 8),
    };
    size_t cap = p.records > 0 ? (size_t)p.records : 1;
    struct relais_stored_reading *recs = calloc(cap, sizeof *recs);
    /* column texts live until the next step: each record's strings are
     * copied into one block per record */
    char **blocks = calloc(cap, sizeof *blocks);
    char device[64];
    snprintf(device, sizeof device, "%s", p.device ? p.device : "");
    p.device = device;
    uint8_t hash[32];
    if (p.hash && sqlite3_column_bytes(ps, 8) == 32) {
        memcpy(hash, p.hash, 32);
        p.hash = hash;
    } else {
        p.hash = NULL;
    }
    int err = recs && blocks ? RELAIS_OK : RELAIS_ENOMEM;
    size_t n = 0;
    sqlite3_bind_int64(rs, 1, pack_id);
    while (!err && (rc = sqlite3_step(rs)) == SQLITE_ROW && n < cap) {
        struct relais_stored_reading *r = &recs[n];
        struct store_reading_clear c;
        int idx = sqlite3_column_int(rs, 0);
        double t = sqlite3_column_double(rs, 4);
        int t_src = sqlite3_column_int(rs, 5);
        int urc = store__reading_unseal(st, rs, 6, p.id, idx, t, t_src, sqlite3_column_int(rs, 1),
                                        sqlite3_column_int(rs, 2), sqlite3_column_blob(rs, 3),
                                        (size_t)sqlite3_column_bytes(rs, 3), &c);
        if (urc == RELAIS_ECORRUPT) continue; /* reported; never forwarded */
        if (urc) {
            err = urc;
            break;
        }
        const char *metric = c.metric, *unit = c.unit;
        size_t ml = strlen(metric), ul = strlen(unit);
        r->kind = c.kind;
        const void *val = r->kind == RELAIS_READING_STRING ? (const void *)c.str : c.data;
        size_t vl = r->kind == RELAIS_READING_STRING || r->kind == RELAIS_READING_DATA ? c.len : 0;
        char *b = malloc(ml + ul + vl + 3);
        if (!b) {
            err = RELAIS_ENOMEM;
            break;
        }
        blocks[n++] = b;
        memcpy(b, metric ? metric : "", ml);
        b[ml] = '\0';
        memcpy(b + ml + 1, unit ? unit : "", ul);
        b[ml + 1 + ul] = '\0';
        char *v = b + ml + ul + 2;
        if (val && vl) memcpy(v, val, vl);
        v[vl] = '\0';
        r->pack_id = p.id;
        r->device = p.device;
        r->seq = p.seq;
        r->idx = idx;
        r->metric = b;
        r->unit = b + ml + 1;
        r->value = c.value;
        r->str = r->kind == RELAIS_READING_STRING ? v : NULL;
        r->boolean = c.boolean;
        r->data = r->kind == RELAIS_READING_DATA ? (const uint8_t *)v : NULL;
        r->len = vl;
        r->has_sum = c.has_sum;
        r->sum = c.sum;
        r->time = t;
        r->time_source = (enum relais_time_source)t_src;
        r->has_update_time = c.has_update_time;
        r->update_time = c.update_time;
        r->received_ms = p.received_ms;
        r->flags = p.flags;
    }
    if (!err && rc != SQLITE_ROW && rc != SQLITE_DONE)
        err = store__error(st->db, rc, "pack records");
    sqlite3_reset(rs);
    sqlite3_clear_bindings(rs);
    sqlite3_reset(ps);
    sqlite3_clear_bindings(ps);
    if (!err) err = cb(&p, recs, n, ud);
    for (size_t i = 0; blocks && i < n; i++)
        free(blocks[i]);
    free(blocks);
    free(recs);
    return err;
}

int relais_store_alert_event_load(struct relais_store *st, int64_t id,
                                  int (*cb)(const struct relais_alert_event *ev, void *ud),
                                  void *ud)
{
    sqlite3_stmt *s = store__lazy(st, OS_EVENT,
                                  "SELECT alert, at_ms, event, team, priority, by, detail, notify,"
                                  " delivered_ms FROM alert_events WHERE id = ?1");
    if (!s) return RELAIS_ESTORE;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s), err;
    if (rc == SQLITE_ROW) {
        struct relais_alert_event ev = {
            .id = id,
            .alert = (const char *)sqlite3_column_text(s, 0),
            .at_ms = sqlite3_column_int64(s, 1),
            .event = (const char *)sqlite3_column_text(s, 2),
            .team = (const char *)sqlite3_column_text(s, 3),
            .priority = sqlite3_column_int(s, 4),
            .by = (const char *)sqlite3_column_text(s, 5),
            .detail = NULL,
            .notify = sqlite3_column_int(s, 7) != 0,
            .delivered_ms = sqlite3_column_int64(s, 8),
        };
        struct store_aad a;
        store__event_aad(&a, ev.alert, ev.at_ms, ev.event);
        const char *detail = NULL;
        if (store__unseal_text(st, s, 6, &a, "alert event detail", &detail) != RELAIS_OK)
            detail = "(the stored detail failed its integrity check)";
        /* copied: the callback may unseal more (the scratch buffers turn) */
        char *copy = strdup(detail ? detail : "");
        ev.detail = copy ? copy : "";
        err = copy ? cb(&ev, ud) : RELAIS_ENOMEM;
        free(copy);
    } else {
        err = rc == SQLITE_DONE ? RELAIS_ENOTFOUND : store__error(st->db, rc, "alert event");
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return err;
}

int relais_store_device_last(struct relais_store *st, const char *device, int64_t *seen_ms,
                             bool *has_battery, double *battery)
{
    *seen_ms = 0;
    *has_battery = false;
    *battery = 0;
    sqlite3_stmt *s = store__lazy(st, OS_SEEN,
                                  "SELECT received_ms FROM packs WHERE device = ?1"
                                  " ORDER BY id DESC LIMIT 1");
    if (!s) return RELAIS_ESTORE;
    sqlite3_bind_text(s, 1, device, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *seen_ms = sqlite3_column_int64(s, 0);
    int err = rc == SQLITE_ROW || rc == SQLITE_DONE ? RELAIS_OK : store__error(st->db, rc, "seen");
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (err) return err;
    /* the newest battery reading among the device's last 256 packs */
    s = store__lazy(st, OS_BATTERY,
                    "SELECT r.pack_id, r.idx, r.lane, r.evictable, r.mtag, r.t, r.t_src, r.sealed"
                    " FROM (SELECT id FROM packs WHERE device = ?1"
                    " ORDER BY id DESC LIMIT 256) p JOIN readings r ON r.pack_id = p.id"
                    " WHERE r.mtag = ?2 ORDER BY p.id DESC, r.idx DESC");
    if (!s) return RELAIS_ESTORE;
    uint8_t tag[STORE_MTAG_LEN];
    store__metric_tag(&st->key, "battery", tag);
    sqlite3_bind_text(s, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, tag, sizeof tag, SQLITE_STATIC);
    /* the newest battery reading with a number that passes its check */
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_reading_clear c;
        if (store__reading_unseal(st, s, 7, sqlite3_column_int64(s, 0), sqlite3_column_int(s, 1),
                                  sqlite3_column_double(s, 5), sqlite3_column_int(s, 6),
                                  sqlite3_column_int(s, 2), sqlite3_column_int(s, 3),
                                  sqlite3_column_blob(s, 4), (size_t)sqlite3_column_bytes(s, 4),
                                  &c) == RELAIS_OK &&
            c.kind == RELAIS_READING_NUMBER) {
            *has_battery = true;
            *battery = c.value;
            rc = SQLITE_ROW;
            break;
        }
    }
    err = rc == SQLITE_ROW || rc == SQLITE_DONE ? RELAIS_OK : store__error(st->db, rc, "battery");
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return err;
}
