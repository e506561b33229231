/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Forwarding to the hospital broker (the state and the order are described
 * in relais/forward.h).
 */
#include "relais/forward.h"
#include "relais/careplan.h"
#include "relais/crypto.h"
#include "relais/error.h"
#include "relais/fhir.h"
#include "relais/log.h"
#include "relais/store_care.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESERVED_FOR_LIVE 2 /* places of the window the backlog never takes */
#define STATUS_MIN_GAP_MS 2000
#define INTAKE_MAX_BYTES  (256 * 1024)

struct flight {
    int mid;
    int lane;
    bool backlog;
    int64_t *ids;
    size_t n;
    size_t entries;
    uint64_t sent_mono;
};

struct relais_forward {
    struct relais_loop *loop;
    struct relais_store *st;
    struct relais_engine *engine;
    struct relais_forward_opts o;
    char gateway[40];
    struct relais_forward_cbs cbs;
    void *ud;
    struct relais_mqtt_link *link;
    struct relais_hook hook;
    struct relais_timer tick;
    bool kicked;
    bool connected;
    /* the broker delivered our own status back: it accepts what we publish
     * (MQTT 3.1.1 acknowledges a publish its ACL drops: without this check
     * a wrong ACL or certificate name would swallow the outbox) */
    bool verified;
    char probe[20];
    uint64_t verify_since_mono;
    bool verify_warned;
    /* this connection: rows with id <= boundary are backlog */
    int64_t boundary;
    int64_t cur_live[RELAIS_OUTBOX_LANES], cur_back[RELAIS_OUTBOX_LANES];
    struct flight *flight;
    size_t nflight, cap_flight;
    unsigned backlog_in_flight;
    double tokens;
    uint64_t tokens_mono;
    uint64_t last_progress_mono;
    bool status_dirty;
    uint64_t status_last_mono;
    uint64_t start_mono;
    struct relais_forward_stats stats;
    char topic_status[96], topic_careplan[96], topic_ack[96];
};

static const char *const lane_names[RELAIS_OUTBOX_LANES] = {"alert", "adherence", "device",
                                                            "vitals"};

static uint64_t mono(const struct relais_forward *f)
{
    return relais_loop_now_ms(f->loop);
}

static int64_t wall(const struct relais_forward *f)
{
    return relais_clock_wall_ms(relais_loop_clock(f->loop));
}

static void flush(struct relais_forward *f)
{
    if (f->cbs.flush_cb) f->cbs.flush_cb(f->ud);
}

/* ---- in flight ---- */

static bool in_flight(const struct relais_forward *f, int64_t id)
{
    for (size_t i = 0; i < f->nflight; i++)
        for (size_t k = 0; k < f->flight[i].n; k++)
            if (f->flight[i].ids[k] == id) return true;
    return false;
}

static void flight_remove(struct relais_forward *f, size_t i)
{
    if (f->flight[i].backlog && f->backlog_in_flight) f->backlog_in_flight--;
    free(f->flight[i].ids);
    f->flight[i] = f->flight[--f->nflight];
    f->stats.in_flight = (unsigned)f->nflight;
}

/* The connection is gone: what was in flight failed once. */
static void flights_failed(struct relais_forward *f)
{
    if (f->nflight == 0) return;
    flush(f);
    int64_t now = wall(f);
    size_t rows = 0;
    for (size_t i = 0; i < f->nflight; i++) {
        if (relais_store_outbox_failed(f->st, f->flight[i].ids, f->flight[i].n, now) == RELAIS_OK)
            rows += f->flight[i].n;
    }
    log_info("forward", "%zu messages (%zu outbox rows) in flight without PUBACK: sent again later",
             f->nflight, rows);
    f->stats.resent_rows += rows;
    while (f->nflight)
        flight_remove(f, f->nflight - 1);
}

/* ---- rendering ---- */

static const char *patient_of(const struct relais_forward *f, const char *device)
{
    const struct relais_careplan *plan = relais_engine_plan(f->engine);
    if (plan && device && relais_careplan_device(plan, device)) return plan->patient;
    return "unbound";
}

struct batch {
    struct relais_forward *f;
    int lane;
    bool backlog;
    int64_t *ids;
    size_t n, cap;
    json_t *entries;
    json_t *message; /* alert: a whole message Bundle */
    char topic[160];
    char patient[RELAIS_PATIENT_MAX + 1];
    int64_t last_id; /* the cursor moves past it */
    int64_t dead_id; /* a row that cannot be rendered */
    char dead_why[160];
    bool full;
};

static int batch_add_id(struct batch *b, int64_t id)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        int64_t *p = realloc(b->ids, cap * sizeof *p);
        if (!p) return RELAIS_ENOMEM;
        b->ids = p;
        b->cap = cap;
    }
    b->ids[b->n++] = id;
    return RELAIS_OK;
}

struct pack_ctx {
    struct batch *b;
    int lane;
    int added;
    bool other_patient;
    char patient[RELAIS_PATIENT_MAX + 1];
    const char *bound; /* the row's patient: its device's at the pack's arrival */
};

static int pack_cb(const struct relais_stored_pack *p, const struct relais_stored_reading *recs,
                   size_t n, void *ud)
{
    struct pack_ctx *c = ud;
    struct batch *b = c->b;
    const char *patient = c->bound && c->bound[0] ? c->bound : patient_of(b->f, p->device);
    snprintf(c->patient, sizeof c->patient, "%s", patient);
    if (b->n > 0 && strcmp(patient, b->patient) != 0) {
        c->other_patient = true;
        return RELAIS_OK;
    }
    if (c->lane == RELAIS_LANE_DEVICE && !b->backlog) {
        /* the device's status now: its battery, last seen (a backlog's
         * older levels go as battery Observations below, so that they do
         * not overwrite a newer status) */
        const struct relais_careplan *plan = relais_engine_plan(b->f->engine);
        const struct relais_careplan_device *d =
            plan ? relais_careplan_device(plan, p->device) : NULL;
        bool has_battery = false;
        double battery = 0;
        for (size_t i = 0; i < n; i++)
            if (strcmp(recs[i].metric, "battery") == 0 && recs[i].kind == RELAIS_READING_NUMBER) {
                has_battery = true;
                battery = recs[i].value;
            }
        /* one Device per transaction: a later pack's status replaces an
         * earlier one's (two PUTs of one resource make a bad transaction) */
        size_t before = json_array_size(b->entries);
        int rc =
            relais_fhir_device_entry(b->entries, b->f->gateway, p->device, d ? d->kind : "device",
                                     patient, has_battery, battery, p->received_ms);
        if (rc > 0 && json_array_size(b->entries) == before + 1) {
            const char *url =
                json_string_value(json_object_get(json_array_get(b->entries, before), "fullUrl"));
            for (size_t i = 0; url && i < before; i++) {
                const char *u =
                    json_string_value(json_object_get(json_array_get(b->entries, i), "fullUrl"));
                if (u && strcmp(u, url) == 0) {
                    json_array_remove(b->entries, i);
                    break;
                }
            }
        }
        c->added = rc < 0 ? rc : 1;
        return RELAIS_OK;
    }
    size_t before = json_array_size(b->entries);
    c->added = relais_fhir_pack_entries(b->entries, b->f->gateway, patient, p, recs, n, c->lane);
    /* a dose of a bound pill box names the plan's drug */
    const struct relais_careplan *plan = relais_engine_plan(b->f->engine);
    if (c->added > 0 && c->lane == RELAIS_LANE_ADHERENCE && plan && plan->drug[0] &&
        relais_careplan_device(plan, p->device)) {
        for (size_t i = before; i < json_array_size(b->entries); i++) {
            json_t *res = json_object_get(json_array_get(b->entries, i), "resource");
            json_t *med = json_object_get(res, "medicationCodeableConcept");
            if (json_is_object(med)) json_object_set_new(med, "text", json_string(plan->drug));
        }
    }
    return RELAIS_OK;
}

static int missed_entry(struct batch *b, const struct relais_outbox_row *r, char *patient,
                        size_t cap)
{
    const char *bar = strchr(r->key, '|');
    if (!bar) return RELAIS_EINVAL;
    snprintf(patient, cap, "%.*s", (int)(bar - r->key), r->key);
    if (b->n > 0 && strcmp(patient, b->patient) != 0) return 0;
    const struct relais_careplan *plan = relais_engine_plan(b->f->engine);
    const char *drug = plan && plan->drug[0] ? plan->drug : NULL;
    return relais_fhir_missed_dose_entry(b->entries, b->f->gateway, patient, bar + 1, drug, r->ref);
}

struct alert_ctx {
    struct batch *b;
    int rc;
};

static int alert_event_cb(const struct relais_alert_event *ev, void *ud)
{
    struct alert_ctx *c = ud;
    struct batch *b = c->b;
    struct relais_alert *a = malloc(sizeof *a);
    if (!a) return RELAIS_ENOMEM;
    int rc = relais_store_alert_get(b->f->st, ev->alert, a);
    if (rc == RELAIS_OK) {
        b->message = relais_fhir_alert_message(b->f->gateway, a, ev);
        snprintf(b->topic, sizeof b->topic, "relais/gw/%s/alert/%s", b->f->gateway, ev->team);
        if (!b->message) rc = RELAIS_EINVAL;
    }
    free(a);
    c->rc = rc;
    return RELAIS_OK;
}

static int row_cb(const struct relais_outbox_row *r, void *ud)
{
    struct batch *b = ud;
    struct relais_forward *f = b->f;
    if (in_flight(f, r->id)) {
        if (b->n == 0) b->last_id = r->id;
        return 0;
    }
    if ((unsigned)r->attempts >= f->o.max_attempts) {
        if (b->n > 0) return 1;
        b->dead_id = r->id;
        snprintf(b->dead_why, sizeof b->dead_why,
                 "no PUBACK from the hospital broker after %d sends", r->attempts);
        return 1;
    }
    if (r->kind == RELAIS_OUTBOX_ALERT) {
        if (b->n > 0) return 1;
        struct alert_ctx c = {b, RELAIS_OK};
        int rc = relais_store_alert_event_load(f->st, r->ref, alert_event_cb, &c);
        if (rc || c.rc) {
            b->dead_id = r->id;
            snprintf(b->dead_why, sizeof b->dead_why, "alert event %" PRId64 " cannot be rendered",
                     r->ref);
            return 1;
        }
        b->last_id = r->id;
        return batch_add_id(b, r->id) ? -1 : 1; /* one alert per message */
    }
    int added;
    char patient[RELAIS_PATIENT_MAX + 1] = "";
    if (r->kind == RELAIS_OUTBOX_PACK) {
        struct pack_ctx c = {b, r->lane, 0, false, "", r->key};
        int rc = relais_store_pack_load(f->st, r->ref, pack_cb, &c);
        if (rc == RELAIS_ENOTFOUND) {
            if (b->n > 0) return 1;
            b->dead_id = r->id;
            snprintf(b->dead_why, sizeof b->dead_why, "pack %" PRId64 " is gone", r->ref);
            return 1;
        }
        if (rc) return -1;
        if (c.other_patient) return 1;
        snprintf(patient, sizeof patient, "%s", c.patient);
        added = c.added;
    } else if (r->kind == RELAIS_OUTBOX_MISSED) {
        added = missed_entry(b, r, patient, sizeof patient);
        if (added == 0 && b->n > 0) return 1;
    } else {
        added = RELAIS_EINVAL;
    }
    if (added < 0) {
        if (b->n > 0) return 1; /* alone next time, then dead-lettered */
        b->dead_id = r->id;
        snprintf(b->dead_why, sizeof b->dead_why, "outbox row cannot be rendered (kind %d): %s",
                 r->kind, relais_strerror(added));
        return 1;
    }
    if (b->n == 0) {
        snprintf(b->patient, sizeof b->patient, "%s", patient);
        snprintf(b->topic, sizeof b->topic, "relais/gw/%s/obs/%s", f->gateway, patient);
    }
    b->last_id = r->id;
    if (batch_add_id(b, r->id)) return -1;
    if (b->n >= f->o.bundle_max) {
        b->full = true;
        return 1;
    }
    return 0;
}

static void batch_free(struct batch *b)
{
    free(b->ids);
    json_decref(b->entries);
    json_decref(b->message);
}

/* ---- the pump ---- */

static void refill_tokens(struct relais_forward *f)
{
    if (!f->o.backlog_rate) return;
    uint64_t now = mono(f);
    double dt = (double)(now - f->tokens_mono) / 1000.0;
    f->tokens_mono = now;
    f->tokens += dt * f->o.backlog_rate;
    double cap = f->o.backlog_rate > f->o.bundle_max ? f->o.backlog_rate : f->o.bundle_max;
    if (f->tokens > cap) f->tokens = cap;
}

/* Fills b from one lane between after and upto.  Returns 1 when b holds
 * something to send (or a row to dead-letter), 0 when the range is empty. */
static int fill(struct relais_forward *f, struct batch *b, int lane, int64_t *cursor, int64_t upto,
                bool backlog)
{
    for (;;) {
        memset(b, 0, sizeof *b);
        b->f = f;
        b->lane = lane;
        b->backlog = backlog;
        b->entries = json_array();
        if (!b->entries) return -1;
        b->last_id = *cursor;
        int limit = lane == RELAIS_LANE_ALERT ? 64 : (int)f->o.bundle_max * 2 + 16;
        int rc = relais_store_outbox_scan(f->st, lane, *cursor, upto, limit, row_cb, b);
        if (rc < 0) {
            batch_free(b);
            return -1;
        }
        if (b->n || b->dead_id) return 1;
        bool moved = b->last_id > *cursor;
        *cursor = b->last_id;
        batch_free(b);
        if (!moved) return 0; /* nothing left in range (all in flight or none) */
    }
}

static void dead_letter(struct relais_forward *f, int64_t id, const char *why, const char *topic,
                        const char *body, size_t len)
{
    flush(f);
    if (relais_store_outbox_dead(f->st, id, why, topic, body, len, wall(f)) == RELAIS_OK) {
        f->stats.dead_letters++;
        log_error("forward", "outbox row %" PRId64 " moved to the dead letters: %s", id, why);
        f->status_dirty = true;
    }
}

/* Publishes one batch; false when the link refused (try later). */
static bool send_batch(struct relais_forward *f, struct batch *b, int64_t *cursor)
{
    if (b->dead_id) {
        dead_letter(f, b->dead_id, b->dead_why, NULL, NULL, 0);
        return true;
    }
    json_t *doc = b->message;
    if (!doc) {
        doc = relais_fhir_transaction(b->entries);
        b->entries = NULL;
    } else {
        json_incref(doc);
    }
    char *body = doc ? relais_fhir_dumps(doc) : NULL;
    json_decref(doc);
    if (!body) {
        f->stats.render_failures++;
        return false;
    }
    size_t len = strlen(body);
    if (len > f->o.max_message_bytes) {
        if (b->n == 1) {
            char why[160];
            snprintf(why, sizeof why,
                     "message of %zu bytes exceeds [upstream] max_message_kb (%zu bytes)", len,
                     f->o.max_message_bytes);
            dead_letter(f, b->ids[0], why, b->topic, body, len);
            free(body);
            return true;
        }
        /* too big together: smaller Bundles from now on, the same rows again */
        free(body);
        *cursor = b->ids[0] - 1;
        f->o.bundle_max = f->o.bundle_max > 1 ? f->o.bundle_max / 2 : 1;
        log_warn("forward", "a Bundle of %zu bytes was over the limit: bundle_max now %u", len,
                 f->o.bundle_max);
        return true;
    }
    int mid = 0;
    int rc = relais_mqtt_link_publish(f->link, &mid, b->topic, body, len, 1, false);
    free(body);
    if (rc) return false;
    if (f->nflight == f->cap_flight) {
        size_t cap = f->cap_flight ? f->cap_flight * 2 : 16;
        struct flight *p = realloc(f->flight, cap * sizeof *p);
        if (!p) return false;
        f->flight = p;
        f->cap_flight = cap;
    }
    f->flight[f->nflight++] =
        (struct flight){mid, b->lane, b->backlog, b->ids, b->n, b->n, mono(f)};
    b->ids = NULL;
    if (b->backlog) {
        f->backlog_in_flight++;
        f->tokens -= (double)b->n;
    }
    if (f->nflight == 1) f->last_progress_mono = mono(f);
    f->stats.in_flight = (unsigned)f->nflight;
    f->stats.published++;
    f->stats.entries_sent += b->n;
    *cursor = b->last_id;
    return true;
}

static void pump(struct relais_forward *f)
{
    if (!f->connected || !f->verified) return;
    for (int guard = 0; guard < 256 && f->nflight < f->o.window; guard++) {
        struct batch b;
        int got = 0;
        int64_t *cursor = NULL;
        /* alerts: every one, old or new */
        cursor = &f->cur_live[RELAIS_LANE_ALERT];
        got = fill(f, &b, RELAIS_LANE_ALERT, cursor, INT64_MAX, false);
        for (int lane = 1; !got && lane < RELAIS_OUTBOX_LANES; lane++) {
            cursor = &f->cur_live[lane];
            if (*cursor < f->boundary) *cursor = f->boundary;
            got = fill(f, &b, lane, cursor, INT64_MAX, false);
        }
        if (!got) {
            refill_tokens(f);
            bool room = f->nflight + RESERVED_FOR_LIVE < f->o.window;
            bool paced = f->o.backlog_rate && f->tokens < 1.0;
            if (!room) break;
            if (paced) {
                uint64_t wait = (uint64_t)((1.0 - f->tokens) * 1000.0 / f->o.backlog_rate) + 1;
                relais_loop_timer_arm(f->loop, &f->tick, wait < 1000 ? wait : 1000);
                break;
            }
            for (int lane = 1; !got && lane < RELAIS_OUTBOX_LANES; lane++) {
                cursor = &f->cur_back[lane];
                got = fill(f, &b, lane, cursor, f->boundary, true);
            }
        }
        if (got <= 0) break;
        bool ok = send_batch(f, &b, cursor);
        batch_free(&b);
        if (!ok) break;
    }
}

static void hook_cb(struct relais_hook *h)
{
    struct relais_forward *f =
        (struct relais_forward *)((char *)h - offsetof(struct relais_forward, hook));
    if (!f->kicked) return;
    f->kicked = false;
    pump(f);
}

void relais_forward_kick(struct relais_forward *f)
{
    if (!f) return;
    f->kicked = true;
    f->status_dirty = true; /* new rows, a device seen */
}

/* ---- status ---- */

json_t *relais_forward_status(struct relais_forward *f)
{
    json_t *s = f->cbs.status_cb ? f->cbs.status_cb(f->ud) : NULL;
    if (!s) s = json_object();
    if (!s) return NULL;
    json_object_set_new(s, "state", json_string("online"));
    json_object_set_new(s, "gateway", json_string(f->gateway));
    json_object_set_new(s, "at", json_integer(wall(f)));
    struct relais_outbox_stats os;
    if (relais_store_outbox_stats(f->st, &os) == RELAIS_OK) {
        json_t *q = json_object();
        int64_t oldest = 0;
        for (int i = 0; i < RELAIS_OUTBOX_LANES; i++) {
            json_object_set_new(q, lane_names[i], json_integer((json_int_t)os.depth[i]));
            if (os.oldest_ms[i] && (!oldest || os.oldest_ms[i] < oldest)) oldest = os.oldest_ms[i];
        }
        json_object_set_new(s, "queue", q);
        int64_t age = oldest ? (wall(f) - oldest) / 1000 : 0;
        json_object_set_new(s, "oldest_unsent_s", json_integer(age > 0 ? age : 0));
        json_object_set_new(s, "dead_letters", json_integer((json_int_t)os.dead));
    }
    json_object_set_new(s, "in_flight", json_integer((json_int_t)f->nflight));
    if (f->connected) json_object_set_new(s, "probe", json_string(f->probe));
    return s;
}

static void publish_status(struct relais_forward *f)
{
    if (!f->connected) return;
    flush(f);
    json_t *s = relais_forward_status(f);
    char *body = s ? json_dumps(s, JSON_COMPACT) : NULL;
    json_decref(s);
    if (!body) return;
    relais_mqtt_link_publish(f->link, NULL, f->topic_status, body, strlen(body), 1, true);
    free(body);
    f->status_dirty = false;
    f->status_last_mono = mono(f);
}

void relais_forward_status_changed(struct relais_forward *f)
{
    if (f) f->status_dirty = true;
}

static void tick_cb(struct relais_timer *t)
{
    struct relais_forward *f =
        (struct relais_forward *)((char *)t - offsetof(struct relais_forward, tick));
    uint64_t now = mono(f);
    if (f->connected && f->nflight && now - f->last_progress_mono > (uint64_t)f->o.stall_s * 1000) {
        char why[96];
        snprintf(why, sizeof why, "no PUBACK for %u s with %zu messages in flight", f->o.stall_s,
                 f->nflight);
        f->stats.stalls++;
        relais_mqtt_link_drop(f->link, why);
    }
    if (f->connected && !f->verified && !f->verify_warned && now - f->verify_since_mono > 10000) {
        log_error("forward",
                  "the hospital broker does not deliver relaisd's own status back: its ACL or the "
                  "gateway's identity is wrong; nothing is sent until it does");
        f->verify_warned = true;
        flush(f);
        if (relais_store_begin(f->st) == RELAIS_OK) {
            if (relais_store_audit(f->st, wall(f), "forward.unverified", f->topic_status,
                                   "own status not delivered back by the hospital broker") ||
                relais_store_commit(f->st))
                relais_store_rollback(f->st);
        }
    }
    if (f->connected && !f->verified && now - f->status_last_mono >= 3000) publish_status(f);
    if (f->connected && ((f->status_dirty && now - f->status_last_mono >= STATUS_MIN_GAP_MS) ||
                         now - f->status_last_mono >= (uint64_t)f->o.status_interval_s * 1000))
        publish_status(f);
    pump(f);
    relais_loop_timer_arm(f->loop, &f->tick, 1000);
}

/* ---- link callbacks ---- */

static void on_connected(struct relais_mqtt_link *link, bool session_present, void *ud)
{
    struct relais_forward *f = ud;
    (void)session_present;
    f->connected = true;
    f->stats.connected = true;
    relais_mqtt_link_subscribe(link, f->topic_careplan, 1);
    relais_mqtt_link_subscribe(link, f->topic_ack, 1);
    relais_mqtt_link_subscribe(link, f->topic_status, 1);
    f->verified = false;
    f->verify_warned = false;
    f->verify_since_mono = mono(f);
    uint8_t rnd[8];
    if (relais_random_bytes(rnd, sizeof rnd)) memset(rnd, 0x5a, sizeof rnd);
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(f->probe + 2 * i, sizeof f->probe - 2 * i, "%02x", rnd[i]);
    int64_t max = 0;
    flush(f);
    relais_store_outbox_max_id(f->st, &max);
    f->boundary = max;
    memset(f->cur_live, 0, sizeof f->cur_live);
    memset(f->cur_back, 0, sizeof f->cur_back);
    f->tokens = 0;
    f->tokens_mono = mono(f);
    publish_status(f);
    struct relais_outbox_stats os;
    if (relais_store_outbox_stats(f->st, &os) == RELAIS_OK) {
        uint64_t total = os.depth[0] + os.depth[1] + os.depth[2] + os.depth[3];
        if (total)
            log_notice(
                "forward",
                "backlog to send: %llu alerts, %llu adherence, %llu device, %llu vitals rows",
                (unsigned long long)os.depth[0], (unsigned long long)os.depth[1],
                (unsigned long long)os.depth[2], (unsigned long long)os.depth[3]);
    }
    pump(f);
}

static void on_disconnected(struct relais_mqtt_link *link, void *ud)
{
    struct relais_forward *f = ud;
    (void)link;
    f->connected = false;
    f->stats.connected = false;
    flights_failed(f);
}

static void on_published(struct relais_mqtt_link *link, int mid, void *ud)
{
    struct relais_forward *f = ud;
    (void)link;
    for (size_t i = 0; i < f->nflight; i++) {
        if (f->flight[i].mid != mid) continue;
        flush(f);
        int rc = relais_store_outbox_done(f->st, f->flight[i].ids, f->flight[i].n, wall(f));
        if (rc) {
            log_error("forward", "recording a PUBACK failed (%s): the rows will be sent again",
                      relais_strerror(rc));
        } else {
            f->stats.acked++;
            f->stats.rows_acked += f->flight[i].n;
        }
        f->stats.last_puback_ms = wall(f);
        f->last_progress_mono = mono(f);
        flight_remove(f, i);
        f->kicked = true;
        f->status_dirty = true; /* the queue changed */
        return;
    }
}

/* ---- intake ---- */

static void answer(struct relais_forward *f, const char *topic, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) return;
    relais_mqtt_link_publish(f->link, NULL, topic, text, strlen(text), 1, false);
    free(text);
}

static void intake_refused(struct relais_forward *f, const char *what, const char *why)
{
    f->stats.intake_invalid++;
    log_warn("forward", "%s from the hospital refused: %s", what, why);
    flush(f);
    if (relais_store_begin(f->st) == RELAIS_OK) {
        if (relais_store_audit(f->st, wall(f), "intake.rejected", what, why) ||
            relais_store_commit(f->st))
            relais_store_rollback(f->st);
    }
}

static void on_careplan(struct relais_forward *f, const struct relais_mqtt_msg *m)
{
    char topic[128];
    snprintf(topic, sizeof topic, "%s/result", f->topic_careplan);
    if (m->len == 0) return; /* the retained plan was cleared: the active one stays */
    if (m->len > INTAKE_MAX_BYTES) {
        intake_refused(f, "careplan", "larger than 256 KiB");
        answer(f, topic,
               json_pack("{s:I, s:s, s:s}", "version", (json_int_t)0, "status", "rejected", "error",
                         "care plan larger than 256 KiB"));
        f->stats.plans_rejected++;
        return;
    }
    flush(f);
    struct relais_plan_result res;
    int rc = relais_engine_apply_plan(f->engine, m->payload, m->len, "hospital", &res);
    if (rc) {
        log_error("forward", "care plan from the hospital: %s", relais_strerror(rc));
        return; /* the store failed: the retained plan comes again at the next connection */
    }
    const char *status = res.status == RELAIS_PLAN_APPLIED     ? "applied"
                         : res.status == RELAIS_PLAN_UNCHANGED ? "unchanged"
                                                               : "rejected";
    json_t *body = json_pack("{s:I, s:s}", "version", (json_int_t)res.version, "status", status);
    if (body && res.status == RELAIS_PLAN_REJECTED) {
        json_object_set_new(body, "error", json_string(res.error));
        f->stats.plans_rejected++;
    } else if (res.status == RELAIS_PLAN_APPLIED) {
        f->stats.plans_applied++;
    } else {
        f->stats.plans_unchanged++;
    }
    if (body) json_object_set_new(body, "active_version", json_integer(res.active_version));
    answer(f, topic, body);
    if (f->cbs.intake_cb) f->cbs.intake_cb(f->ud);
    f->status_dirty = true;
}

static void on_ack(struct relais_forward *f, const struct relais_mqtt_msg *m)
{
    char topic[128], alert[RELAIS_ALERT_ID_MAX + 1] = "", by[65] = "", err[256] = "";
    snprintf(topic, sizeof topic, "%s/result", f->topic_ack);
    int act = RELAIS_ACT_ACK;
    int rc = relais_forward_parse_ack(m->payload, m->len, alert, sizeof alert, &act, by, sizeof by,
                                      err, sizeof err);
    if (rc) {
        intake_refused(f, "alert/ack", err);
        f->stats.acks_rejected++;
        answer(f, topic, json_pack("{s:s, s:s}", "status", "rejected", "error", err));
        return;
    }
    flush(f);
    rc = relais_engine_act(f->engine, alert, (enum relais_alert_action)act, by, NULL, err,
                           sizeof err);
    const char *action = act == RELAIS_ACT_ACK ? "ack" : "resolve";
    if (rc == RELAIS_OK) {
        f->stats.acks_applied++;
        answer(f, topic,
               json_pack("{s:s, s:s, s:s, s:s}", "alert", alert, "action", action, "by", by,
                         "status", "done"));
        if (f->cbs.intake_cb) f->cbs.intake_cb(f->ud);
        return;
    }
    if (rc == RELAIS_ENOTFOUND) snprintf(err, sizeof err, "alert: no such alert");
    if (!err[0]) snprintf(err, sizeof err, "%s", relais_strerror(rc));
    f->stats.acks_rejected++;
    if (rc != RELAIS_EEXIST) intake_refused(f, "alert/ack", err);
    answer(f, topic,
           json_pack("{s:s, s:s, s:s, s:s}", "alert", alert, "action", action, "status",
                     rc == RELAIS_EEXIST ? "already" : "rejected", "error", err));
}

static void on_message(struct relais_mqtt_link *link, const struct relais_mqtt_msg *m, void *ud)
{
    struct relais_forward *f = ud;
    (void)link;
    if (strcmp(m->topic, f->topic_status) == 0) {
        char needle[40];
        snprintf(needle, sizeof needle, "\"probe\":\"%s\"", f->probe);
        if (!f->verified && m->len < 65536 && memmem(m->payload, m->len, needle, strlen(needle))) {
            f->verified = true;
            log_info("forward", "the hospital broker delivers what relaisd publishes: sending");
            f->kicked = true;
        }
    } else if (strcmp(m->topic, f->topic_careplan) == 0)
        on_careplan(f, m);
    else if (strcmp(m->topic, f->topic_ack) == 0)
        on_ack(f, m);
    else
        f->stats.intake_invalid++;
}

/* ---- life ---- */

static int set_opts(struct relais_forward *f, const struct relais_forward_opts *o,
                    struct relais_mqtt_link_opts *lo, char *will, size_t wcap)
{
    f->o = *o;
    if (f->o.window < 2) f->o.window = 2;
    if (!f->o.bundle_max) f->o.bundle_max = 1;
    if (!f->o.stall_s) f->o.stall_s = 30;
    if (!f->o.status_interval_s) f->o.status_interval_s = 60;
    if (!f->o.max_attempts) f->o.max_attempts = 10;
    if (!f->o.max_message_bytes) f->o.max_message_bytes = 256 * 1024;
    snprintf(f->gateway, sizeof f->gateway, "%s", o->gateway_id);
    snprintf(f->topic_status, sizeof f->topic_status, "relais/gw/%s/status", f->gateway);
    snprintf(f->topic_careplan, sizeof f->topic_careplan, "relais/gw/%s/careplan", f->gateway);
    snprintf(f->topic_ack, sizeof f->topic_ack, "relais/gw/%s/alert/ack", f->gateway);
    *lo = o->link;
    lo->name = "upstream";
    lo->clean_session = false;
    lo->fresh_client = true;
    if (!lo->client_id || !lo->client_id[0]) lo->client_id = f->gateway;
    if (lo->max_inflight < f->o.window + 4) lo->max_inflight = f->o.window + 4;
    snprintf(will, wcap, "{\"state\":\"offline\",\"gateway\":\"%s\"}", f->gateway);
    lo->will_topic = f->topic_status;
    lo->will_payload = will;
    lo->will_len = strlen(will);
    lo->will_retain = true;
    f->o.link = *lo;
    return RELAIS_OK;
}

int relais_forward_create(struct relais_forward **out, struct relais_loop *loop,
                          struct relais_store *st, struct relais_engine *engine,
                          const struct relais_forward_opts *opts,
                          const struct relais_forward_cbs *cbs, void *ud)
{
    struct relais_forward *f = calloc(1, sizeof *f);
    if (!f) return RELAIS_ENOMEM;
    f->loop = loop;
    f->st = st;
    f->engine = engine;
    f->cbs = *cbs;
    f->ud = ud;
    char will[128];
    struct relais_mqtt_link_opts lo;
    set_opts(f, opts, &lo, will, sizeof will);
    const struct relais_mqtt_link_cbs lcbs = {on_connected, on_disconnected, on_message,
                                              on_published};
    int rc = relais_mqtt_link_create(&f->link, loop, &lo, &lcbs, f);
    if (rc) {
        free(f);
        return rc;
    }
    relais_timer_init(&f->tick, tick_cb);
    relais_loop_hook_add(loop, &f->hook, hook_cb);
    f->start_mono = mono(f);
    relais_store_outbox_enable(st, true);
    *out = f;
    return RELAIS_OK;
}

int relais_forward_start(struct relais_forward *f)
{
    relais_loop_timer_arm(f->loop, &f->tick, 1000);
    return relais_mqtt_link_start(f->link);
}

int relais_forward_reconfigure(struct relais_forward *f, const struct relais_forward_opts *opts)
{
    char will[128];
    struct relais_mqtt_link_opts lo;
    set_opts(f, opts, &lo, will, sizeof will);
    flights_failed(f);
    f->connected = false;
    return relais_mqtt_link_reconfigure(f->link, &lo);
}

void relais_forward_get_stats(const struct relais_forward *f, struct relais_forward_stats *out)
{
    *out = f->stats;
}

void relais_forward_shutdown(struct relais_forward *f, unsigned timeout_ms)
{
    if (f->connected) {
        char body[128];
        snprintf(body, sizeof body,
                 "{\"state\":\"offline\",\"gateway\":\"%s\",\"reason\":\"stopped\"}", f->gateway);
        relais_mqtt_link_publish(f->link, NULL, f->topic_status, body, strlen(body), 1, true);
    }
    relais_mqtt_link_shutdown(f->link, timeout_ms);
    f->connected = false;
}

void relais_forward_destroy(struct relais_forward *f)
{
    if (!f) return;
    relais_loop_timer_cancel(f->loop, &f->tick);
    relais_loop_hook_remove(f->loop, &f->hook);
    relais_mqtt_link_destroy(f->link);
    while (f->nflight)
        flight_remove(f, f->nflight - 1);
    free(f->flight);
    free(f);
}
