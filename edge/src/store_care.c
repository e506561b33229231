/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The care tables' SQL (see relais/store_care.h): care plans, alerts and
 * their events, dose slots and dose events, device commands, the engine's
 * key/value state.  Every statement is prepared once (store__lazy) and every
 * value is bound, never formatted in.
 */
#include "store_internal.h"
#include "relais/error.h"
#include "relais/store_care.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relais/fhir.h"
#include "relais/outbox.h"

enum care_stmt {
    CS_PLAN_PUT = 0,
    CS_PLAN_LATEST,
    CS_KV_GET,
    CS_KV_SET,
    CS_LAST_PACK,
    CS_NEW_READINGS,
    CS_ALERT_NEXT_NUMBER,
    CS_ALERT_INSERT,
    CS_ALERT_UPDATE,
    CS_ALERT_GET,
    CS_ALERT_GET_OPEN,
    CS_ALERT_NEXT_DUE,
    CS_ALERT_SHIFT,
    CS_EVENT_ADD,
    CS_EVENTS_ALL,
    CS_EVENTS_OF,
    CS_UNDELIVERED,
    CS_DELIVERED,
    CS_SLOT_PUT,
    CS_SLOT_GET,
    CS_SLOTS_ALL,
    CS_SLOTS_RANGE,
    CS_DOSE_ADD,
    CS_DOSES,
    CS_CMD_ADD,
    CS_CMD_PENDING,
    CS_CMD_ALL,
    CS_CMD_STATE,
    CS_COUNT
};

#define ALERT_COLUMNS                                                                              \
    "id, patient, rule, priority, team, state, open, raised_ms, notified_ms, acked_ms,"            \
    " acked_by, closed_ms, closed_by, level, renotified, next_ms, plan_version, evidence,"         \
    " since_ms"

#define SLOT_COLUMNS                                                                               \
    "patient, slot_key, slot, local_date, cycle, day, on_day, due_ms, start_ms, end_ms, status,"   \
    " reminded_ms, doses, first_dose_ms"

static const char *const care_sql[CS_COUNT] = {
    [CS_PLAN_PUT] = "INSERT INTO careplans(version, patient, body, source, applied_ms)"
                    " VALUES(?1, ?2, ?3, ?4, ?5)",
    [CS_PLAN_LATEST] = "SELECT version, patient, body, source, applied_ms FROM careplans"
                       " ORDER BY version DESC LIMIT 1",
    [CS_KV_GET] = "SELECT value FROM engine_kv WHERE key = ?1",
    [CS_KV_SET] = "INSERT INTO engine_kv(key, value) VALUES(?1, ?2)"
                  " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [CS_LAST_PACK] = "SELECT coalesce(max(id), 0) FROM packs",
    [CS_NEW_READINGS] =
        "SELECT p.id, p.device, p.flags, r.idx, r.lane, r.evictable, r.mtag, r.t, r.t_src,"
        " r.sealed FROM packs p LEFT JOIN readings r ON r.pack_id = p.id"
        " WHERE p.id > ?1 AND p.id <= ?2 ORDER BY p.id, r.idx",
    [CS_ALERT_NEXT_NUMBER] = "SELECT coalesce(max(num), 0) + 1 FROM alerts",
    [CS_ALERT_INSERT] = "INSERT INTO alerts(num, " ALERT_COLUMNS ") VALUES(?20, ?1, ?2, ?3, ?4, ?5,"
                        " ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
    [CS_ALERT_UPDATE] = "UPDATE alerts SET patient = ?2, rule = ?3, priority = ?4, team = ?5,"
                        " state = ?6, open = ?7, raised_ms = ?8, notified_ms = ?9, acked_ms = ?10,"
                        " acked_by = ?11, closed_ms = ?12, closed_by = ?13, level = ?14,"
                        " renotified = ?15, next_ms = ?16, plan_version = ?17, evidence = ?18,"
                        " since_ms = ?19 WHERE id = ?1",
    [CS_ALERT_GET] = "SELECT " ALERT_COLUMNS " FROM alerts WHERE id = ?1",
    [CS_ALERT_GET_OPEN] = "SELECT " ALERT_COLUMNS " FROM alerts"
                          " WHERE patient = ?1 AND rule = ?2 AND open = 1",
    [CS_ALERT_NEXT_DUE] = "SELECT min(next_ms) FROM alerts WHERE next_ms IS NOT NULL AND open = 1",
    [CS_ALERT_SHIFT] = "UPDATE alerts SET raised_ms = raised_ms + ?1,"
                       " since_ms = since_ms + ?1, notified_ms = notified_ms + ?1,"
                       " acked_ms = acked_ms + ?1,"
                       " next_ms = next_ms + ?1 WHERE open = 1",
    [CS_EVENT_ADD] = "INSERT INTO alert_events(alert, at_ms, event, team, priority, by, detail,"
                     " notify) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [CS_EVENTS_ALL] = "SELECT id, alert, at_ms, event, team, priority, by, detail, notify,"
                      " delivered_ms FROM alert_events WHERE id > ?1 ORDER BY id",
    [CS_EVENTS_OF] = "SELECT id, alert, at_ms, event, team, priority, by, detail, notify,"
                     " delivered_ms FROM alert_events WHERE alert = ?2 AND id > ?1 ORDER BY id",
    [CS_UNDELIVERED] = "SELECT id, alert, at_ms, event, team, priority, by, detail, notify,"
                       " delivered_ms FROM alert_events"
                       " WHERE notify = 1 AND delivered_ms IS NULL ORDER BY id LIMIT ?1",
    [CS_DELIVERED] = "UPDATE alert_events SET delivered_ms = ?2 WHERE id = ?1",
    [CS_SLOT_PUT] = "INSERT OR REPLACE INTO dose_slots(" SLOT_COLUMNS ")"
                    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    [CS_SLOT_GET] = "SELECT " SLOT_COLUMNS " FROM dose_slots WHERE patient = ?1 AND slot_key = ?2",
    [CS_SLOTS_ALL] = "SELECT " SLOT_COLUMNS " FROM dose_slots WHERE patient = ?1 ORDER BY due_ms",
    [CS_SLOTS_RANGE] = "SELECT " SLOT_COLUMNS " FROM dose_slots"
                       " WHERE patient = ?1 AND due_ms >= ?2 AND due_ms < ?3 ORDER BY due_ms",
    [CS_DOSE_ADD] = "INSERT OR IGNORE INTO dose_events(patient, device, pack_id, idx, t_ms,"
                    " local_date, slot_key, kind) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [CS_DOSES] = "SELECT patient, device, pack_id, idx, t_ms, local_date, slot_key, kind"
                 " FROM dose_events WHERE patient = ?1 ORDER BY t_ms, id",
    [CS_CMD_ADD] = "INSERT INTO commands(device, body, created_ms, expires_ms, state)"
                   " VALUES(?1, ?2, ?3, ?4, 'pending')",
    [CS_CMD_PENDING] = "SELECT id, device, body, created_ms, expires_ms, state, sent_ms"
                       " FROM commands WHERE state = 'pending' ORDER BY id",
    [CS_CMD_ALL] = "SELECT * FROM (SELECT id, device, body, created_ms, expires_ms, state, sent_ms"
                   " FROM commands ORDER BY id DESC LIMIT ?1) ORDER BY id",
    [CS_CMD_STATE] = "UPDATE commands SET state = ?2, sent_ms = ?3 WHERE id = ?1",
};

static sqlite3_stmt *stmt(struct relais_store *st, enum care_stmt id)
{
    return store__lazy(st, (int)id, care_sql[id]);
}

static void text(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

/* 0 binds NULL: the care tables use NULL for "not yet". */
static void ms_or_null(sqlite3_stmt *s, int i, int64_t v)
{
    if (v)
        sqlite3_bind_int64(s, i, v);
    else
        sqlite3_bind_null(s, i);
}

static void col_copy(sqlite3_stmt *s, int i, char *out, size_t cap)
{
    const unsigned char *v = sqlite3_column_text(s, i);
    snprintf(out, cap, "%s", v ? (const char *)v : "");
}

static const char *col_str(sqlite3_stmt *s, int i)
{
    return (const char *)sqlite3_column_text(s, i);
}

/* Writes need a live transaction; the statement is stepped to its end. */
static int write_done(struct relais_store *st, sqlite3_stmt *s, const char *what)
{
    int rc = store__txn_alive(st);
    if (rc) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        return rc;
    }
    return store__step_done(st, s, what);
}

/* Runs a walk: cb for each row until it returns non-zero. */
static int walk(struct relais_store *st, sqlite3_stmt *s, const char *what,
                int (*row)(struct relais_store *st, sqlite3_stmt *s, void *cb, void *ud), void *cb,
                void *ud)
{
    int rc, ret = RELAIS_OK;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if ((ret = row(st, s, cb, ud)) != 0) break;
    }
    if (ret == 0 && rc != SQLITE_DONE) ret = store__error(st->db, rc, what);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

#define PREP(st, id)                                                                               \
    sqlite3_stmt *s = stmt(st, id);                                                                \
    if (!s) return RELAIS_ESTORE

/* ---- care plans ---- */

static void plan_aad(struct store_aad *a, int64_t version, const char *patient)
{
    store__aad_init(a, "careplans.body");
    store__aad_int(a, version);
    store__aad_str(a, patient);
}

int relais_store_plan_put(struct relais_store *st, int64_t version, const char *patient,
                          const char *body, const char *source, int64_t applied_ms)
{
    PREP(st, CS_PLAN_PUT);
    sqlite3_bind_int64(s, 1, version);
    text(s, 2, patient);
    struct store_aad a;
    plan_aad(&a, version, patient);
    int rc = store__seal_bind_text(st, s, 3, &a, body);
    if (rc) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        return rc;
    }
    text(s, 4, source);
    sqlite3_bind_int64(s, 5, applied_ms);
    return write_done(st, s, "care plan put");
}

int relais_store_plan_latest(struct relais_store *st, struct relais_stored_plan *out)
{
    memset(out, 0, sizeof *out);
    PREP(st, CS_PLAN_LATEST);
    int rc = sqlite3_step(s);
    int ret = RELAIS_ENOTFOUND;
    if (rc == SQLITE_ROW) {
        out->version = sqlite3_column_int64(s, 0);
        col_copy(s, 1, out->patient, sizeof out->patient);
        struct store_aad a;
        const char *body = NULL;
        plan_aad(&a, out->version, col_str(s, 1));
        ret = store__unseal_text(st, s, 2, &a, "care plan", &body);
        if (!ret) {
            out->body = strdup(body ? body : "");
            col_copy(s, 3, out->source, sizeof out->source);
            out->applied_ms = sqlite3_column_int64(s, 4);
            ret = out->body ? RELAIS_OK : RELAIS_ENOMEM;
        }
    } else if (rc != SQLITE_DONE) {
        ret = store__error(st->db, rc, "care plan latest");
    }
    sqlite3_reset(s);
    return ret;
}

/* ---- key/value ---- */

int relais_store_kv_get(struct relais_store *st, const char *key, char **value)
{
    *value = NULL;
    PREP(st, CS_KV_GET);
    text(s, 1, key);
    int rc = sqlite3_step(s);
    int ret = RELAIS_ENOTFOUND;
    if (rc == SQLITE_ROW) {
        struct store_aad a;
        const char *v = NULL;
        store__aad_init(&a, "engine_kv.value");
        store__aad_str(&a, key);
        ret = store__unseal_text(st, s, 0, &a, "engine state", &v);
        if (!ret) {
            *value = strdup(v ? v : "");
            ret = *value ? RELAIS_OK : RELAIS_ENOMEM;
        }
    } else if (rc != SQLITE_DONE) {
        ret = store__error(st->db, rc, "kv get");
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

int relais_store_kv_set(struct relais_store *st, const char *key, const char *value)
{
    PREP(st, CS_KV_SET);
    text(s, 1, key);
    struct store_aad a;
    store__aad_init(&a, "engine_kv.value");
    store__aad_str(&a, key);
    int rc = store__seal_bind_text(st, s, 2, &a, value);
    if (rc) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        return rc;
    }
    return write_done(st, s, "kv set");
}

/* ---- new readings ---- */

int relais_store_last_pack_id(struct relais_store *st, int64_t *out)
{
    *out = 0;
    PREP(st, CS_LAST_PACK);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *out = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? RELAIS_OK : store__error(st->db, rc, "last pack");
}

/* Copies the NUL-terminated src into dst, which has room for it. */
static void copy_str(char *dst, const char *src)
{
    memcpy(dst, src, strlen(src) + 1);
}

static int reading_row(struct relais_store *st, sqlite3_stmt *s, void *cb, void *ud)
{
    struct relais_engine_reading r;
    memset(&r, 0, sizeof r);
    r.pack_id = sqlite3_column_int64(s, 0);
    r.device = col_str(s, 1);
    r.pack_flags = sqlite3_column_int(s, 2);
    if (sqlite3_column_type(s, 3) == SQLITE_NULL) {
        r.idx = -1;
        r.metric = "";
    } else {
        r.idx = sqlite3_column_int(s, 3);
        r.time = sqlite3_column_double(s, 7);
        r.time_source = (enum relais_time_source)sqlite3_column_int(s, 8);
        struct store_reading_clear c;
        int rc = store__reading_unseal(st, s, 9, r.pack_id, r.idx, r.time, (int)r.time_source,
                                       sqlite3_column_int(s, 4), sqlite3_column_int(s, 5),
                                       sqlite3_column_blob(s, 6),
                                       (size_t)sqlite3_column_bytes(s, 6), &c);
        if (rc == RELAIS_ECORRUPT) return 0; /* reported; never judged */
        if (rc) return rc;
        /* copied: the callback may unseal more (the scratch buffers turn) */
        char *copy = malloc(strlen(c.metric) + 1 + (c.str ? strlen(c.str) + 1 : 0));
        if (!copy) return RELAIS_ENOMEM;
        copy_str(copy, c.metric);
        r.metric = copy;
        if (c.str) {
            char *str = copy + strlen(c.metric) + 1;
            copy_str(str, c.str);
            r.str = str;
        }
        r.kind = c.kind;
        r.value = c.value;
        r.boolean = c.boolean;
        int ret = ((int (*)(const struct relais_engine_reading *, void *))cb)(&r, ud);
        free(copy);
        return ret;
    }
    return ((int (*)(const struct relais_engine_reading *, void *))cb)(&r, ud);
}

int relais_store_foreach_new_reading(struct relais_store *st, int64_t after_id, int64_t upto_id,
                                     int (*cb)(const struct relais_engine_reading *r, void *ud),
                                     void *ud)
{
    PREP(st, CS_NEW_READINGS);
    sqlite3_bind_int64(s, 1, after_id);
    sqlite3_bind_int64(s, 2, upto_id);
    return walk(st, s, "new readings", reading_row, (void *)cb, ud);
}

/* ---- alerts ---- */

int relais_store_alert_next_number(struct relais_store *st, int64_t *out)
{
    PREP(st, CS_ALERT_NEXT_NUMBER);
    int rc = sqlite3_step(s);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? RELAIS_OK : store__error(st->db, rc, "alert number");
}

static void evidence_aad(struct store_aad *x, const char *id)
{
    store__aad_init(x, "alerts.evidence");
    store__aad_str(x, id);
}

static int bind_alert(struct relais_store *st, sqlite3_stmt *s, const struct relais_alert *a)
{
    text(s, 1, a->id);
    text(s, 2, a->patient);
    text(s, 3, a->rule);
    sqlite3_bind_int(s, 4, a->priority);
    text(s, 5, a->team);
    text(s, 6, a->state);
    sqlite3_bind_int(s, 7, a->open);
    sqlite3_bind_int64(s, 8, a->raised_ms);
    ms_or_null(s, 9, a->notified_ms);
    ms_or_null(s, 10, a->acked_ms);
    text(s, 11, a->acked_by[0] ? a->acked_by : NULL);
    ms_or_null(s, 12, a->closed_ms);
    text(s, 13, a->closed_by[0] ? a->closed_by : NULL);
    sqlite3_bind_int(s, 14, a->level);
    sqlite3_bind_int(s, 15, a->renotified);
    ms_or_null(s, 16, a->next_ms);
    ms_or_null(s, 17, a->plan_version);
    sqlite3_bind_int64(s, 19, a->since_ms ? a->since_ms : a->raised_ms);
    struct store_aad x;
    evidence_aad(&x, a->id);
    int rc = store__seal_bind_text(st, s, 18, &x, a->evidence);
    if (rc) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
    return rc;
}

/* An alert whose sealed evidence fails its check keeps its state (it still
 * reaches the team) and says so instead of the evidence. */
static const char evidence_unreadable[] =
    "{\"error\":\"the stored evidence failed its integrity check\"}";

static void row_alert(struct relais_store *st, sqlite3_stmt *s, struct relais_alert *a)
{
    memset(a, 0, sizeof *a);
    col_copy(s, 0, a->id, sizeof a->id);
    col_copy(s, 1, a->patient, sizeof a->patient);
    col_copy(s, 2, a->rule, sizeof a->rule);
    a->priority = sqlite3_column_int(s, 3);
    col_copy(s, 4, a->team, sizeof a->team);
    col_copy(s, 5, a->state, sizeof a->state);
    a->open = sqlite3_column_int(s, 6) != 0;
    a->raised_ms = sqlite3_column_int64(s, 7);
    a->notified_ms = sqlite3_column_int64(s, 8);
    a->acked_ms = sqlite3_column_int64(s, 9);
    col_copy(s, 10, a->acked_by, sizeof a->acked_by);
    a->closed_ms = sqlite3_column_int64(s, 11);
    col_copy(s, 12, a->closed_by, sizeof a->closed_by);
    a->level = sqlite3_column_int(s, 13);
    a->renotified = sqlite3_column_int(s, 14);
    a->next_ms = sqlite3_column_int64(s, 15);
    a->plan_version = sqlite3_column_int64(s, 16);
    struct store_aad x;
    const char *ev = NULL;
    evidence_aad(&x, a->id);
    int rc = store__unseal_text(st, s, 17, &x, "alert evidence", &ev);
    snprintf(a->evidence, sizeof a->evidence, "%s",
             rc == RELAIS_OK ? (ev ? ev : "") : evidence_unreadable);
    a->since_ms = sqlite3_column_int64(s, 18);
}

int relais_store_alert_insert(struct relais_store *st, const struct relais_alert *a)
{
    long long num = 0;
    const char *dash = strrchr(a->id, '-');
    if (!dash || sscanf(dash + 1, "%lld", &num) != 1 || num <= 0) return RELAIS_EINVAL;
    PREP(st, CS_ALERT_INSERT);
    int rc = bind_alert(st, s, a);
    if (rc) return rc;
    sqlite3_bind_int64(s, 20, num);
    return write_done(st, s, "alert insert");
}

int relais_store_alert_update(struct relais_store *st, const struct relais_alert *a)
{
    PREP(st, CS_ALERT_UPDATE);
    int rc = bind_alert(st, s, a);
    if (rc) return rc;
    rc = write_done(st, s, "alert update");
    if (rc == RELAIS_OK && sqlite3_changes(st->db) != 1) return RELAIS_ENOTFOUND;
    return rc;
}

static int get_one_alert(struct relais_store *st, sqlite3_stmt *s, struct relais_alert *out)
{
    int rc = sqlite3_step(s);
    int ret = RELAIS_ENOTFOUND;
    if (rc == SQLITE_ROW) {
        row_alert(st, s, out);
        ret = RELAIS_OK;
    } else if (rc != SQLITE_DONE) {
        ret = store__error(st->db, rc, "alert get");
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

int relais_store_alert_get(struct relais_store *st, const char *id, struct relais_alert *out)
{
    PREP(st, CS_ALERT_GET);
    text(s, 1, id);
    return get_one_alert(st, s, out);
}

int relais_store_alert_get_open(struct relais_store *st, const char *patient, const char *rule,
                                struct relais_alert *out)
{
    PREP(st, CS_ALERT_GET_OPEN);
    text(s, 1, patient);
    text(s, 2, rule);
    return get_one_alert(st, s, out);
}

int relais_store_alert_next_due(struct relais_store *st, int64_t *out)
{
    PREP(st, CS_ALERT_NEXT_DUE);
    int rc = sqlite3_step(s);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? RELAIS_OK : store__error(st->db, rc, "alert next due");
}

int relais_store_foreach_alert(struct relais_store *st, const struct relais_alert_filter *f,
                               int (*cb)(const struct relais_alert *a, void *ud), void *ud)
{
    /* a reporting walk, assembled from fixed fragments and prepared per call */
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT * FROM (SELECT " ALERT_COLUMNS ", num FROM alerts WHERE 1%s%s%s"
             " ORDER BY num DESC LIMIT ?3) ORDER BY num",
             f && f->open_only ? " AND open = 1" : "", f && f->patient ? " AND patient = ?1" : "",
             f && f->since_ms ? " AND raised_ms >= ?2" : "");
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK) return store__error(st->db, rc, "alerts walk");
    if (f && f->patient) text(s, 1, f->patient);
    if (f && f->since_ms) sqlite3_bind_int64(s, 2, f->since_ms);
    sqlite3_bind_int64(s, 3, f && f->limit > 0 ? f->limit : INT64_MAX);
    int ret = RELAIS_OK;
    struct relais_alert *a = malloc(sizeof *a);
    if (!a) {
        sqlite3_finalize(s);
        return RELAIS_ENOMEM;
    }
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        row_alert(st, s, a);
        if ((ret = cb(a, ud)) != 0) break;
    }
    if (ret == 0 && rc != SQLITE_DONE) ret = store__error(st->db, rc, "alerts walk");
    free(a);
    sqlite3_finalize(s);
    return ret;
}

int relais_store_alerts_shift(struct relais_store *st, int64_t delta_ms)
{
    PREP(st, CS_ALERT_SHIFT);
    sqlite3_bind_int64(s, 1, delta_ms);
    return write_done(st, s, "alerts shift");
}

int relais_store_alert_event_add(struct relais_store *st, const struct relais_alert_event *e)
{
    PREP(st, CS_EVENT_ADD);
    text(s, 1, e->alert);
    sqlite3_bind_int64(s, 2, e->at_ms);
    text(s, 3, e->event);
    text(s, 4, e->team);
    sqlite3_bind_int(s, 5, e->priority);
    text(s, 6, e->by);
    struct store_aad a;
    store__event_aad(&a, e->alert, e->at_ms, e->event);
    int rc = store__seal_bind_text(st, s, 7, &a, e->detail ? e->detail : "");
    if (rc) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        return rc;
    }
    sqlite3_bind_int(s, 8, e->notify);
    return write_done(st, s, "alert event");
}

static int event_row(struct relais_store *st, sqlite3_stmt *s, void *cb, void *ud)
{
    struct relais_alert_event e = {
        .id = sqlite3_column_int64(s, 0),
        .alert = col_str(s, 1),
        .at_ms = sqlite3_column_int64(s, 2),
        .event = col_str(s, 3),
        .team = col_str(s, 4),
        .priority = sqlite3_column_int(s, 5),
        .by = col_str(s, 6),
        .detail = NULL,
        .notify = sqlite3_column_int(s, 8) != 0,
        .delivered_ms = sqlite3_column_int64(s, 9),
    };
    struct store_aad a;
    const char *detail = NULL;
    store__event_aad(&a, e.alert, e.at_ms, e.event);
    if (store__unseal_text(st, s, 7, &a, "alert event detail", &detail) != RELAIS_OK)
        detail = "(the stored detail failed its integrity check)";
    /* copied: the callback may unseal more (the scratch buffers turn) */
    char *copy = strdup(detail ? detail : "");
    if (!copy) return RELAIS_ENOMEM;
    e.detail = copy;
    int ret = ((int (*)(const struct relais_alert_event *, void *))cb)(&e, ud);
    free(copy);
    return ret;
}

int relais_store_foreach_alert_event(struct relais_store *st, const char *alert, int64_t after_id,
                                     int (*cb)(const struct relais_alert_event *e, void *ud),
                                     void *ud)
{
    PREP(st, alert ? CS_EVENTS_OF : CS_EVENTS_ALL);
    sqlite3_bind_int64(s, 1, after_id);
    if (alert) text(s, 2, alert);
    return walk(st, s, "alert events", event_row, (void *)cb, ud);
}

int relais_store_foreach_undelivered(struct relais_store *st, int limit,
                                     int (*cb)(const struct relais_alert_event *e, void *ud),
                                     void *ud)
{
    PREP(st, CS_UNDELIVERED);
    sqlite3_bind_int(s, 1, limit > 0 ? limit : 1000);
    return walk(st, s, "undelivered", event_row, (void *)cb, ud);
}

int relais_store_alert_event_delivered(struct relais_store *st, int64_t event_id, int64_t at_ms)
{
    PREP(st, CS_DELIVERED);
    sqlite3_bind_int64(s, 1, event_id);
    sqlite3_bind_int64(s, 2, at_ms);
    return write_done(st, s, "alert delivered");
}

/* ---- dose slots and events ---- */

static void slot_aad(struct store_aad *a, const char *patient, const char *key)
{
    store__aad_init(a, "dose_slots.status");
    store__aad_str(a, patient);
    store__aad_str(a, key);
}

int relais_store_slot_put(struct relais_store *st, const struct relais_slot_row *r)
{
    PREP(st, CS_SLOT_PUT);
    text(s, 1, r->patient);
    text(s, 2, r->key);
    text(s, 3, r->slot);
    text(s, 4, r->date);
    sqlite3_bind_int(s, 5, r->cycle);
    sqlite3_bind_int(s, 6, r->day);
    sqlite3_bind_int(s, 7, r->on_day);
    sqlite3_bind_int64(s, 8, r->due_ms);
    sqlite3_bind_int64(s, 9, r->start_ms);
    sqlite3_bind_int64(s, 10, r->end_ms);
    ms_or_null(s, 12, r->reminded_ms);
    /* what the slot says of the patient (status, doses, first dose) is
     * sealed in the status column; doses and first_dose_ms stay 0 / NULL */
    char clear[64];
    snprintf(clear, sizeof clear, "%s %d %lld", r->status, r->doses, (long long)r->first_dose_ms);
    struct store_aad a;
    slot_aad(&a, r->patient, r->key);
    int rc = store__seal_bind_text(st, s, 11, &a, clear);
    if (rc) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        return rc;
    }
    sqlite3_bind_int(s, 13, 0);
    rc = write_done(st, s, "slot put");
    /* a missed dose goes to the hospital as a MedicationAdministration
     * "not-done" (once: the outbox keeps one row per slot) */
    if (!rc && strcmp(r->status, "missed") == 0) {
        char key[RELAIS_PATIENT_MAX + 48];
        snprintf(key, sizeof key, "%s|%s", r->patient, r->key);
        rc = relais_store_outbox_add(st, RELAIS_LANE_ADHERENCE, RELAIS_OUTBOX_MISSED, r->due_ms,
                                     key, r->end_ms);
    }
    return rc;
}

static void row_slot(struct relais_store *st, sqlite3_stmt *s, struct relais_slot_row *r)
{
    memset(r, 0, sizeof *r);
    col_copy(s, 0, r->patient, sizeof r->patient);
    col_copy(s, 1, r->key, sizeof r->key);
    col_copy(s, 2, r->slot, sizeof r->slot);
    col_copy(s, 3, r->date, sizeof r->date);
    r->cycle = sqlite3_column_int(s, 4);
    r->day = sqlite3_column_int(s, 5);
    r->on_day = sqlite3_column_int(s, 6) != 0;
    r->due_ms = sqlite3_column_int64(s, 7);
    r->start_ms = sqlite3_column_int64(s, 8);
    r->end_ms = sqlite3_column_int64(s, 9);
    r->reminded_ms = sqlite3_column_int64(s, 11);
    struct store_aad a;
    const char *clear = NULL;
    slot_aad(&a, r->patient, r->key);
    long long first = 0;
    int doses = 0, used = 0;
    char status[sizeof r->status];
    if (store__unseal_text(st, s, 10, &a, "dose slot", &clear) != RELAIS_OK || !clear ||
        sscanf(clear, "%11s %d %lld%n", status, &doses, &first, &used) != 3 ||
        clear[used] != '\0' || doses < 0) {
        /* reported (or no key): judged as unknown, never as taken or missed */
        snprintf(r->status, sizeof r->status, "unknown");
        return;
    }
    snprintf(r->status, sizeof r->status, "%s", status);
    r->doses = doses;
    r->first_dose_ms = first;
}

int relais_store_slot_get(struct relais_store *st, const char *patient, const char *key,
                          struct relais_slot_row *out)
{
    PREP(st, CS_SLOT_GET);
    text(s, 1, patient);
    text(s, 2, key);
    int rc = sqlite3_step(s);
    int ret = RELAIS_ENOTFOUND;
    if (rc == SQLITE_ROW) {
        row_slot(st, s, out);
        ret = RELAIS_OK;
    } else if (rc != SQLITE_DONE) {
        ret = store__error(st->db, rc, "slot get");
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

static int slot_row(struct relais_store *st, sqlite3_stmt *s, void *cb, void *ud)
{
    (void)st;
    struct relais_slot_row r;
    row_slot(st, s, &r);
    return ((int (*)(const struct relais_slot_row *, void *))cb)(&r, ud);
}

int relais_store_foreach_slot(struct relais_store *st, const char *patient, int64_t from_ms,
                              int64_t to_ms, int (*cb)(const struct relais_slot_row *s, void *ud),
                              void *ud)
{
    bool range = from_ms || to_ms;
    PREP(st, range ? CS_SLOTS_RANGE : CS_SLOTS_ALL);
    text(s, 1, patient);
    if (range) {
        sqlite3_bind_int64(s, 2, from_ms);
        sqlite3_bind_int64(s, 3, to_ms);
    }
    return walk(st, s, "slots", slot_row, (void *)cb, ud);
}

static void dose_aad(struct store_aad *a, int64_t pack_id, int idx)
{
    store__aad_init(a, "dose_events.kind");
    store__aad_int(a, pack_id);
    store__aad_int(a, idx);
}

int relais_store_dose_event_add(struct relais_store *st, const struct relais_dose_event *e)
{
    PREP(st, CS_DOSE_ADD);
    text(s, 1, e->patient);
    text(s, 2, e->device);
    sqlite3_bind_int64(s, 3, e->pack_id);
    sqlite3_bind_int(s, 4, e->idx);
    sqlite3_bind_int64(s, 5, e->t_ms);
    text(s, 6, e->date);
    text(s, 7, e->slot_key);
    struct store_aad a;
    dose_aad(&a, e->pack_id, e->idx);
    int rc = store__seal_bind_text(st, s, 8, &a, e->kind);
    if (rc) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        return rc;
    }
    return write_done(st, s, "dose event");
}

static int dose_row(struct relais_store *st, sqlite3_stmt *s, void *cb, void *ud)
{
    struct relais_dose_event e = {
        .patient = col_str(s, 0),
        .device = col_str(s, 1),
        .pack_id = sqlite3_column_int64(s, 2),
        .idx = sqlite3_column_int(s, 3),
        .t_ms = sqlite3_column_int64(s, 4),
        .date = col_str(s, 5),
        .slot_key = col_str(s, 6),
        .kind = NULL,
    };
    struct store_aad a;
    dose_aad(&a, e.pack_id, e.idx);
    const char *kind = NULL;
    int rc = store__unseal_text(st, s, 7, &a, "dose event", &kind);
    if (rc == RELAIS_ECORRUPT) return 0; /* reported; never counted */
    if (rc) return rc;
    char *copy = strdup(kind ? kind : ""); /* the callback may unseal more */
    if (!copy) return RELAIS_ENOMEM;
    e.kind = copy;
    rc = ((int (*)(const struct relais_dose_event *, void *))cb)(&e, ud);
    free(copy);
    return rc;
}

int relais_store_foreach_dose_event(struct relais_store *st, const char *patient,
                                    int (*cb)(const struct relais_dose_event *e, void *ud),
                                    void *ud)
{
    PREP(st, CS_DOSES);
    text(s, 1, patient);
    return walk(st, s, "dose events", dose_row, (void *)cb, ud);
}

/* ---- commands ---- */

int relais_store_command_add(struct relais_store *st, const char *device, const char *body,
                             int64_t created_ms, int64_t expires_ms)
{
    PREP(st, CS_CMD_ADD);
    text(s, 1, device);
    text(s, 2, body);
    sqlite3_bind_int64(s, 3, created_ms);
    sqlite3_bind_int64(s, 4, expires_ms);
    return write_done(st, s, "command add");
}

static int command_row(struct relais_store *st, sqlite3_stmt *s, void *cb, void *ud)
{
    (void)st;
    struct relais_command c = {
        .id = sqlite3_column_int64(s, 0),
        .device = col_str(s, 1),
        .body = col_str(s, 2),
        .created_ms = sqlite3_column_int64(s, 3),
        .expires_ms = sqlite3_column_int64(s, 4),
        .state = col_str(s, 5),
        .sent_ms = sqlite3_column_int64(s, 6),
    };
    return ((int (*)(const struct relais_command *, void *))cb)(&c, ud);
}

int relais_store_foreach_pending_command(struct relais_store *st,
                                         int (*cb)(const struct relais_command *c, void *ud),
                                         void *ud)
{
    PREP(st, CS_CMD_PENDING);
    return walk(st, s, "pending commands", command_row, (void *)cb, ud);
}

int relais_store_foreach_command(struct relais_store *st, int64_t limit,
                                 int (*cb)(const struct relais_command *c, void *ud), void *ud)
{
    PREP(st, CS_CMD_ALL);
    sqlite3_bind_int64(s, 1, limit > 0 ? limit : INT64_MAX);
    return walk(st, s, "commands", command_row, (void *)cb, ud);
}

int relais_store_command_state(struct relais_store *st, int64_t id, const char *state,
                               int64_t at_ms)
{
    PREP(st, CS_CMD_STATE);
    sqlite3_bind_int64(s, 1, id);
    text(s, 2, state);
    ms_or_null(s, 3, at_ms);
    return write_done(st, s, "command state");
}
