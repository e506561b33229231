/* SPDX-License-Identifier: Apache-2.0 */
/* relaisd's wiring and lifecycle (see relais/daemon.h). */
#include "relais/daemon.h"
#include "relais/care_report.h"
#include "relais/coap_server.h"
#include "relais/control.h"
#include "relais/broker_log.h"
#include "relais/crypto.h"
#include "relais/engine.h"
#include "relais/error.h"
#include "relais/fhir.h"
#include "relais/forward.h"
#include "relais/fsutil.h"
#include "relais/ingest.h"
#include "relais/log.h"
#include "relais/loop.h"
#include "relais/mqtt_ingest.h"
#include "relais/outbox.h"
#include "relais/registry.h"
#include "relais/store.h"
#include "relais/store_evict.h"
#include "relais/version.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timex.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

/* --test-clock: the rules' clock, moved only by the control socket. */
struct test_clock {
    int64_t wall_ms;
    uint64_t mono_ms;
    bool unsynced;
};

/* A command published to a device, waiting for the broker's PUBACK. */
struct cmd_flight {
    int mid;
    int64_t id;
};

#define MAX_CMD_FLIGHT 64

struct daemon {
    const char *config_path;
    struct relais_config cfg;
    struct relais_loop *loop;
    struct relais_store *store;
    struct relais_ingest *ingest;
    struct relais_mqtt_ingest *mqtt;
    struct relais_registry *registry;
    struct relais_coap_server *coap;
    struct relais_control *control;
    struct relais_forward *fwd; /* NULL: no [upstream] host */
    struct relais_io signal_io;
    struct relais_timer watchdog_timer;
    uint64_t watchdog_ms;
    int64_t started_wall_ms;
    uint64_t started_mono_ms;
    uint64_t reloads, reload_failures;
    int log_level_override; /* -1: none */
    /* the rules */
    struct relais_engine *engine;
    struct relais_clock rules_clock;
    struct test_clock tc;
    bool test_clock;
    struct relais_timer rules_timer;
    struct relais_timer housekeep_timer;
    struct relais_timer broker_log_timer;
    struct relais_broker_log *broker_log; /* [local] broker_log_file; NULL: none */
    uint64_t broker_refused, broker_refused_unaudited;
    int64_t broker_audit_sec; /* the wall second of the last audited refusals */
    int broker_audit_n;       /* refusals audited in that second */
    uint64_t housekeep_runs;
    struct relais_housekeep_result housekeep_last;
    bool housekeep_nothing_left;
    uint64_t notifications, rules_failures;
    bool clock_unsynced;
    struct cmd_flight flight[MAX_CMD_FLIGHT];
    size_t nflight;
    uint64_t commands_sent, commands_expired;
    char client_id[64];
    char socket_path[4096];
    char db_path[4096];
    uint64_t tampered_audited; /* sealed records that failed, audited so far */
};

/* ---- option mapping ---- */

static void local_opts(struct daemon *d, struct relais_mqtt_link_opts *o)
{
    const struct relais_config *c = &d->cfg;
    if (c->local_client_id && c->local_client_id[0])
        snprintf(d->client_id, sizeof d->client_id, "%s", c->local_client_id);
    else
        snprintf(d->client_id, sizeof d->client_id, "relaisd-%s", c->gateway_id);
    memset(o, 0, sizeof *o);
    o->name = "local";
    o->host = c->local_host;
    o->port = c->local_port;
    o->client_id = d->client_id;
    o->clean_session = false;
    /* v5: devices carry their record signatures as user properties */
    o->mqtt5 = true;
    o->username = c->local_username;
    o->password_file = c->local_password_file;
    o->keepalive_s = c->local_keepalive_s;
    o->reconnect_min_ms = c->local_reconnect_min_ms;
    o->reconnect_max_ms = c->local_reconnect_max_ms;
    o->max_inflight = c->local_max_inflight;
    o->library_log = c->log_level >= RELAIS_LOG_DEBUG;
}

static void forward_opts(const struct relais_config *c, struct relais_forward_opts *o)
{
    memset(o, 0, sizeof *o);
    o->gateway_id = c->gateway_id;
    o->link.name = "upstream";
    o->link.host = c->upstream_host;
    o->link.port = c->upstream_port;
    o->link.client_id = c->upstream_client_id;
    o->link.username = c->upstream_username;
    o->link.password_file = c->upstream_password_file;
    o->link.keepalive_s = c->upstream_keepalive_s;
    o->link.reconnect_min_ms = c->upstream_reconnect_min_ms;
    o->link.reconnect_max_ms = c->upstream_reconnect_max_ms;
    o->link.library_log = true; /* few packets; TLS failures say why only there */
    if (c->upstream_tls) {
        o->link.ca_file = c->upstream_ca_file;
        o->link.cert_file = c->upstream_cert_file;
        o->link.key_file = c->upstream_key_file;
    }
    o->window = c->upstream_window;
    o->bundle_max = c->upstream_bundle_max;
    o->backlog_rate = c->upstream_backlog_rate;
    o->status_interval_s = c->upstream_status_interval_s;
    o->stall_s = c->upstream_stall_s;
    o->max_attempts = c->upstream_max_attempts;
    o->max_message_bytes = (size_t)c->upstream_max_message_kb * 1024;
}

static void coap_opts(const struct relais_config *c, struct relais_coap_opts *o)
{
    memset(o, 0, sizeof *o);
    o->bind = c->coap_bind;
    o->dtls_port = c->coap_dtls_port;
    o->port = c->coap_port;
    o->allow_plain = c->coap_allow_plain;
    o->max_sessions = c->coap_max_sessions;
    o->handshake_rate = c->coap_handshake_rate;
    o->request_rate = c->coap_request_rate;
    o->max_transfers = c->coap_max_transfers;
}

static void ingest_opts(const struct relais_config *c, struct relais_ingest_opts *o)
{
    o->commit_window_ms = c->store_commit_window_ms;
    o->commit_linger_us = c->store_commit_linger_us;
    o->commit_max_packs = c->store_commit_max_packs;
    o->busy_retry_s = c->store_busy_retry_s;
}

/* ---- audit of daemon events (their own small transaction) ---- */

static void audit_now(struct daemon *d, const char *kind, const char *detail)
{
    /* with the open batch, committed now */
    if (relais_ingest_audit(d->ingest, kind, d->cfg.gateway_id, detail) == RELAIS_OK)
        relais_ingest_flush(d->ingest);
}

/* ---- the rules ---- */

static uint64_t tc_mono(void *ctx)
{
    return ((struct test_clock *)ctx)->mono_ms;
}

static int64_t tc_wall(void *ctx)
{
    return ((struct test_clock *)ctx)->wall_ms;
}

/* Notifications go to the outbox (the hospital, as FHIR message Bundles)
 * when there is an [upstream] host, in the engine's transaction; and
 * always to the log, without values. */
static int notify_cb(void *ud, const struct relais_alert_event *ev, const struct relais_alert *a)
{
    struct daemon *d = ud;
    if (d->fwd) {
        int rc = relais_store_outbox_add(d->store, RELAIS_LANE_ALERT, RELAIS_OUTBOX_ALERT, ev->id,
                                         "", ev->at_ms);
        if (rc) return RELAIS_EAGAIN; /* the next delivery tries again */
        relais_forward_kick(d->fwd);
    }
    d->notifications++;
    log_notice("alert", "to %s: %s %s %s %s (%s)", ev->team, a->id, a->rule,
               relais_priority_name((enum relais_priority)ev->priority), ev->event, a->patient);
    return RELAIS_OK;
}

static bool flight_has(const struct daemon *d, int64_t id)
{
    for (size_t i = 0; i < d->nflight; i++)
        if (d->flight[i].id == id) return true;
    return false;
}

struct cmd_walk {
    struct daemon *d;
    int64_t now;
    int64_t expired[64];
    size_t nexpired;
};

/* Devices that poll for their commands over CoAP (GET dev/{id}/cmd) rather
 * than hold an MQTT session: the pill box (DESIGN 7, CoAP over DTLS-PSK). */
static bool commands_by_coap(const struct daemon *d, const char *device)
{
    const struct relais_device *dev = relais_registry_active(d->registry, device, strlen(device));
    return dev && strcmp(dev->kind, "pillbox") == 0;
}

static int command_cb(const struct relais_command *c, void *ud)
{
    struct cmd_walk *w = ud;
    struct daemon *d = w->d;
    if (flight_has(d, c->id)) return 0;
    if (c->expires_ms <= w->now) {
        if (w->nexpired < sizeof w->expired / sizeof w->expired[0])
            w->expired[w->nexpired++] = c->id;
        return 0;
    }
    if (commands_by_coap(d, c->device)) return 0; /* it asks for them: coap_cmd_cb() */
    if (d->nflight == MAX_CMD_FLIGHT ||
        !relais_mqtt_link_connected(relais_mqtt_ingest_link(d->mqtt)))
        return 1; /* the rest waits for PUBACKs or the connection */
    int mid = 0;
    if (relais_mqtt_ingest_send_command(d->mqtt, c->device, c->body, &mid) == RELAIS_OK) {
        d->flight[d->nflight++] = (struct cmd_flight){mid, c->id};
        log_info("rules", "command %lld to %s: %s", (long long)c->id, c->device, c->body);
    }
    return 0;
}

/* Pending commands go out on the gateway broker; they are marked sent at
 * the broker's PUBACK, expired ones are marked so.  The store is free. */
static void commands_dispatch(struct daemon *d)
{
    struct cmd_walk w = {.d = d, .now = relais_clock_wall_ms(&d->rules_clock)};
    relais_store_foreach_pending_command(d->store, command_cb, &w);
    if (!w.nexpired) return;
    if (relais_store_begin(d->store)) return;
    int rc = RELAIS_OK;
    for (size_t i = 0; i < w.nexpired && !rc; i++)
        rc = relais_store_command_state(d->store, w.expired[i], "expired", w.now);
    if (!rc) rc = relais_store_commit(d->store);
    if (rc)
        relais_store_rollback(d->store);
    else
        d->commands_expired += w.nexpired;
}

struct cmd_poll {
    const char *device;
    uint64_t after;
    int64_t now;
    int64_t delivered[64];
    size_t ndelivered;
    char *body;
    size_t cap;
    int len;
};

static int cmd_poll_cb(const struct relais_command *c, void *ud)
{
    struct cmd_poll *w = ud;
    if (strcmp(c->device, w->device) != 0) return 0;
    if ((uint64_t)c->id <= w->after) {
        if (w->ndelivered < sizeof w->delivered / sizeof w->delivered[0])
            w->delivered[w->ndelivered++] = c->id;
        return 0;
    }
    if (w->len || c->expires_ms <= w->now) return 0;
    size_t bl = strlen(c->body);
    if (bl < 2 || c->body[0] != '{') return 0;
    int n = snprintf(w->body, w->cap, "{\"id\":%lld%s%s", (long long)c->id, bl > 2 ? "," : "",
                     c->body + 1);
    if (n > 0 && (size_t)n < w->cap) w->len = n;
    return 0;
}

/* GET dev/{device}/cmd?after=N from the CoAP server: what the device has
 * (ids up to N) is marked sent; the next pending command is its answer. */
static int coap_cmd_cb(void *ud, const char *device, uint64_t after, char *body, size_t cap)
{
    struct daemon *d = ud;
    struct cmd_poll w = {.device = device,
                         .after = after,
                         .now = relais_clock_wall_ms(&d->rules_clock),
                         .body = body,
                         .cap = cap};
    int rc = relais_store_foreach_pending_command(d->store, cmd_poll_cb, &w);
    if (rc < 0) return rc;
    if (w.ndelivered) {
        /* with the open batch if there is one, else on its own */
        bool own = !relais_store_in_transaction(d->store);
        rc = relais_store_begin(d->store);
        for (size_t i = 0; i < w.ndelivered && !rc; i++)
            rc = relais_store_command_state(d->store, w.delivered[i], "sent", w.now);
        if (own && !rc) rc = relais_store_commit(d->store);
        if (rc) {
            if (own) relais_store_rollback(d->store);
            return rc;
        }
        d->commands_sent += w.ndelivered;
        log_info("rules", "%zu command(s) delivered to %s over CoAP", w.ndelivered, device);
    }
    if (w.len) log_info("rules", "command to %s over CoAP: %s", device, body);
    return w.len;
}

static void command_published(void *ud, int mid)
{
    struct daemon *d = ud;
    if (mid < 0) {
        /* a new connection: what was in flight is sent again */
        d->nflight = 0;
        relais_loop_timer_arm(d->loop, &d->rules_timer, 0);
        return;
    }
    for (size_t i = 0; i < d->nflight; i++) {
        if (d->flight[i].mid != mid) continue;
        int64_t id = d->flight[i].id;
        d->flight[i] = d->flight[--d->nflight];
        /* with the open batch if there is one: the mark is not urgent */
        if (relais_store_begin(d->store) == RELAIS_OK &&
            relais_store_command_state(d->store, id, "sent",
                                       relais_clock_wall_ms(&d->rules_clock)) == RELAIS_OK)
            d->commands_sent++;
        return;
    }
}

static bool kernel_clock_unsynced(void)
{
    struct timex tx;
    memset(&tx, 0, sizeof tx);
    int state = adjtimex(&tx);
    return state == TIME_ERROR || (tx.status & STA_UNSYNC);
}

static void housekeep_soon(struct daemon *d);

/* Sealed records that failed their check were logged and counted where they
 * were read; here they reach the audit trail. */
static void tamper_flush(struct daemon *d)
{
    if (relais_store_tampered(d->store) == d->tampered_audited) return;
    int64_t now = relais_clock_wall_ms(relais_loop_clock(d->loop));
    int rc = relais_store_begin(d->store);
    if (!rc) rc = relais_store_tamper_flush(d->store, now);
    if (!rc)
        rc = relais_store_commit(d->store);
    else
        relais_store_rollback(d->store);
    if (!rc) d->tampered_audited = relais_store_tampered(d->store);
}

static void rules_run(struct daemon *d)
{
    relais_ingest_flush(d->ingest); /* commits the open batch: the store is the rules' now */
    tamper_flush(d);
    relais_engine_set_condition(d->engine, RELAIS_RULE_STORE_BUSY, relais_store_busy(d->store),
                                "the store is over its quota: devices are told busy");
    bool unsynced =
        d->test_clock ? d->tc.unsynced : d->cfg.rules_clock_check && kernel_clock_unsynced();
    if (unsynced != d->clock_unsynced)
        log_warn("relaisd", "the system clock is %s",
                 unsynced ? "not synchronised" : "synchronised");
    d->clock_unsynced = unsynced;
    relais_engine_set_condition(d->engine, RELAIS_RULE_CLOCK_NOT_SYNCED, unsynced,
                                "the gateway's clock is not synchronised (NTP)");
    bool more = false;
    int rc = relais_engine_run(d->engine, &more);
    if (rc) d->rules_failures++;
    /* the rules' own commits may cross the quota too */
    housekeep_soon(d);
    unsigned n;
    for (int i = 0; i < 16; i++)
        if (relais_engine_deliver(d->engine, notify_cb, d, &n) || n == 0) break;
    commands_dispatch(d);
    if (d->fwd) relais_forward_kick(d->fwd);
    uint64_t delay = (uint64_t)d->cfg.rules_tick_max_s * 1000;
    if (more) {
        delay = 0;
    } else if (rc) {
        delay = 1000;
    } else if (!d->test_clock) {
        int64_t next = relais_engine_next_due(d->engine);
        int64_t now = relais_clock_wall_ms(&d->rules_clock);
        if (next != INT64_MAX && next - now < (int64_t)delay)
            delay = next <= now ? 0 : (uint64_t)(next - now);
    }
    relais_loop_timer_arm(d->loop, &d->rules_timer, delay);
}

static void rules_timer_cb(struct relais_timer *t)
{
    struct daemon *d = (struct daemon *)((char *)t - offsetof(struct daemon, rules_timer));
    rules_run(d);
}

/* ---- housekeeping: retention, and room over the quota ---- */

#define HOUSEKEEP_PERIOD_MS 60000

static void housekeep_cb(struct relais_timer *t)
{
    struct daemon *d = (struct daemon *)((char *)t - offsetof(struct daemon, housekeep_timer));
    relais_ingest_flush(d->ingest);
    const struct relais_housekeep_opts o = {
        .now_ms = relais_clock_wall_ms(relais_loop_clock(d->loop)),
        .retention_ms = (int64_t)d->cfg.store_retention_days * 86400000,
        .forwarding = d->fwd != NULL,
        .downsample_step_ms = (int64_t)d->cfg.store_downsample_min * 60000,
    };
    struct relais_housekeep_result r;
    int rc = relais_store_housekeep(d->store, &o, &r);
    d->housekeep_runs++;
    uint64_t next = HOUSEKEEP_PERIOD_MS;
    if (rc == RELAIS_OK) {
        d->housekeep_last = r;
        if (r.pruned || r.downsampled || r.evicted)
            log_notice("store",
                       "housekeeping: %llu readings pruned, %llu downsampled, %llu evicted%s",
                       (unsigned long long)r.pruned, (unsigned long long)r.downsampled,
                       (unsigned long long)r.evicted, r.over_quota ? " (still over quota)" : "");
        if (r.nothing_left && !d->housekeep_nothing_left)
            log_error("store", "over quota with nothing left to evict: devices are told busy");
        if (r.nothing_left != d->housekeep_nothing_left)
            relais_loop_timer_arm(d->loop, &d->rules_timer, 0); /* store_busy now */
        d->housekeep_nothing_left = r.nothing_left;
        relais_store_set_evictable(d->store, !r.nothing_left);
        if (r.more) next = 50;
        if (r.pruned || r.downsampled || r.evicted || r.outbox_dropped) {
            relais_loop_timer_arm(d->loop, &d->rules_timer, 0); /* store_busy may clear */
            relais_forward_status_changed(d->fwd);
        }
    } else {
        log_error("store", "housekeeping failed: %s", relais_strerror(rc));
        next = 5000;
    }
    relais_loop_timer_arm(d->loop, &d->housekeep_timer, next);
}

/* ---- the gateway broker's refusals, from its log ---- */

#define BROKER_LOG_PERIOD_MS    1000
#define BROKER_LOG_MAX_BYTES    (256 * 1024) /* read per period at most */
#define BROKER_AUDIT_PER_SECOND 10           /* more are counted, not audited */

/* What one poll found: refusals to audit (at most BROKER_AUDIT_PER_SECOND
 * in a wall second), the rest only counted. */
struct broker_poll {
    struct daemon *d;
    int64_t now;
    struct relais_broker_refusal keep[BROKER_AUDIT_PER_SECOND];
    int nkeep;
};

static void broker_refusal_cb(const struct relais_broker_refusal *r, void *ud)
{
    struct broker_poll *bp = ud;
    struct daemon *d = bp->d;
    d->broker_refused++;
    if (bp->now / 1000 != d->broker_audit_sec) {
        d->broker_audit_sec = bp->now / 1000;
        d->broker_audit_n = 0;
    }
    if (d->broker_audit_n >= BROKER_AUDIT_PER_SECOND || bp->nkeep >= BROKER_AUDIT_PER_SECOND) {
        d->broker_refused_unaudited++;
        return;
    }
    d->broker_audit_n++;
    bp->keep[bp->nkeep++] = *r;
}

static void broker_log_cb(struct relais_timer *t)
{
    struct daemon *d = (struct daemon *)((char *)t - offsetof(struct daemon, broker_log_timer));
    struct broker_poll bp = {.d = d, .now = relais_clock_wall_ms(relais_loop_clock(d->loop))};
    relais_broker_log_poll(d->broker_log, BROKER_LOG_MAX_BYTES, broker_refusal_cb, &bp);
    int rc = RELAIS_OK;
    if (bp.nkeep > 0) { /* a transaction only when there is something to write */
        relais_ingest_flush(d->ingest);
        rc = relais_store_begin(d->store);
        for (int i = 0; i < bp.nkeep && !rc; i++) {
            const struct relais_broker_refusal *r = &bp.keep[i];
            char subject[96], detail[256];
            snprintf(subject, sizeof subject, "mqtt %s", r->peer);
            snprintf(detail, sizeof detail,
                     "the gateway broker refused a connection on port %d%s%s: %s", r->listener_port,
                     r->client[0] ? " from client " : "", r->client, r->reason);
            log_warn("broker", "%s: %s", subject, detail);
            rc = relais_store_audit(d->store, bp.now, "device.refused", subject, detail);
        }
        if (!rc)
            rc = relais_store_commit(d->store);
        else if (relais_store_in_transaction(d->store))
            relais_store_rollback(d->store);
        if (rc) {
            d->broker_refused_unaudited += (uint64_t)bp.nkeep;
            log_error("broker", "the broker's refusals were not audited: %s", relais_strerror(rc));
        }
    }
    relais_loop_timer_arm(d->loop, &d->broker_log_timer, BROKER_LOG_PERIOD_MS);
}

/* Over the quota: make room now, not at the next period. */
static void housekeep_soon(struct daemon *d)
{
    if (relais_store_over_quota(d->store) && !d->housekeep_nothing_left &&
        (!d->housekeep_timer.armed ||
         d->housekeep_timer.due_us > (relais_loop_now_ms(d->loop) + 100) * 1000))
        relais_loop_timer_arm(d->loop, &d->housekeep_timer, 100);
}

/* A group commit stored packs: judge them soon (a burst at once). */
static void committed(void *ud, size_t stored)
{
    struct daemon *d = ud;
    (void)stored;
    if (d->fwd) relais_forward_kick(d->fwd);
    /* over quota: make room now, not at the next period */
    housekeep_soon(d);
    uint64_t due_us = (relais_loop_now_ms(d->loop) + d->cfg.rules_eval_delay_ms) * 1000;
    if (!d->rules_timer.armed || d->rules_timer.due_us > due_us)
        relais_loop_timer_arm(d->loop, &d->rules_timer, d->cfg.rules_eval_delay_ms);
}

static const char *const plan_status_names[] = {"applied", "unchanged", "rejected"};

/* Offers a plan to the rules (the one path for every source). */
static json_t *plan_offer(struct daemon *d, const char *json, size_t len, const char *source)
{
    struct relais_plan_result res;
    relais_ingest_flush(d->ingest);
    int rc = relais_engine_apply_plan(d->engine, json, len, source, &res);
    if (rc) return json_pack("{s:s}", "error", relais_strerror(rc));
    json_t *o =
        json_pack("{s:s, s:I, s:I}", "status", plan_status_names[res.status], "version",
                  (json_int_t)res.version, "active_version", (json_int_t)res.active_version);
    if (res.status == RELAIS_PLAN_REJECTED) json_object_set_new(o, "error", json_string(res.error));
    rules_run(d);
    return o;
}

/* [careplan] file, at start and on SIGHUP. */
static void careplan_file_load(struct daemon *d)
{
    const char *path = d->cfg.careplan_file;
    if (!path || !path[0]) return;
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0;
    if (f) {
        buf = malloc(RELAIS_CAREPLAN_MAX_BYTES + 2);
        if (buf) len = fread(buf, 1, RELAIS_CAREPLAN_MAX_BYTES + 1, f);
        if (ferror(f)) {
            free(buf);
            buf = NULL;
        }
        fclose(f);
    }
    char source[300];
    snprintf(source, sizeof source, "file:%.280s", path);
    if (!buf) {
        char why[400];
        snprintf(why, sizeof why, "%.280s: %s", path, strerror(errno));
        log_error("relaisd", "care plan file unreadable, the active plan stays: %s", why);
        audit_now(d, "careplan.unreadable", why);
        return;
    }
    json_t *res = plan_offer(d, buf, len, source);
    const char *status = json_string_value(json_object_get(res, "status"));
    if (status && strcmp(status, "rejected") == 0)
        log_error("relaisd", "care plan %s rejected: %s", path,
                  json_string_value(json_object_get(res, "error")));
    json_decref(res);
    free(buf);
}

static json_t *rules_json(struct daemon *d)
{
    struct relais_engine_stats es;
    relais_engine_get_stats(d->engine, &es);
    const struct relais_careplan *p = relais_engine_plan(d->engine);
    json_t *plan = p ? json_pack("{s:I, s:s, s:s, s:s, s:s}", "version", (json_int_t)p->version,
                                 "patient", p->patient, "pathway", relais_pathway_name(p->pathway),
                                 "drug", p->drug, "timezone", p->timezone)
                     : json_null();
    struct relais_alert_filter f = {.open_only = true};
    json_t *open = relais_report_alerts(d->store, &f);
    size_t nopen = open ? json_array_size(open) : 0;
    json_decref(open);
    return json_pack("{s:o, s:I, s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
                     "s:I, s:I, s:I, s:I, s:I, s:I}",
                     "plan", plan, "open_alerts", (json_int_t)nopen, "test_clock", d->test_clock,
                     "clock_unsynced", d->clock_unsynced, "runs", (json_int_t)es.runs, "packs",
                     (json_int_t)es.packs, "raised", (json_int_t)es.raised, "upgraded",
                     (json_int_t)es.upgraded, "cleared", (json_int_t)es.cleared, "acknowledged",
                     (json_int_t)es.acknowledged, "resolved", (json_int_t)es.resolved, "escalated",
                     (json_int_t)es.escalated, "call15", (json_int_t)es.call15, "reminders",
                     (json_int_t)es.reminders, "notifications", (json_int_t)d->notifications,
                     "commands_sent", (json_int_t)d->commands_sent, "commands_expired",
                     (json_int_t)d->commands_expired, "clock_jumps", (json_int_t)es.clock_jumps,
                     "plans_rejected", (json_int_t)es.plans_rejected, "failures",
                     (json_int_t)(es.failures + d->rules_failures));
}

/* ---- status ---- */

static json_t *ingest_json(const struct relais_ingest *ing)
{
    const struct relais_ingest_counters *c = relais_ingest_get_counters(ing);
    json_t *by = json_object();
    for (int r = 1; r < RELAIS_REJECT_COUNT; r++)
        if (c->rejected_by[r])
            json_object_set_new(by, relais_reject_reason_name((enum relais_reject_reason)r),
                                json_integer((json_int_t)c->rejected_by[r]));
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
                     "received", (json_int_t)c->received, "stored", (json_int_t)c->stored,
                     "duplicate", (json_int_t)c->duplicate, "flagged", (json_int_t)c->flagged,
                     "rejected", (json_int_t)c->rejected, "busy", (json_int_t)c->busy, "unroutable",
                     (json_int_t)c->unroutable, "readings", (json_int_t)c->readings, "commits",
                     (json_int_t)c->commits, "commit_failures", (json_int_t)c->commit_failures,
                     "batch_max", (json_int_t)c->batch_max, "acks_sent", (json_int_t)c->acks_sent,
                     "pending", (json_int_t)relais_ingest_pending(ing), "rejected_by", by);
}

static json_t *forward_json(struct daemon *d);
static int status_drop_cb(const char *reason, uint64_t n, void *ud);

static json_t *audit_head_json(struct daemon *d);

static json_t *status_json(struct daemon *d)
{
    struct relais_mqtt_link_stats ls;
    relais_mqtt_link_get_stats(relais_mqtt_ingest_link(d->mqtt), &ls);
    uint64_t size = 0;
    relais_store_size(d->store, &size);
    uint64_t uptime = (relais_loop_now_ms(d->loop) - d->started_mono_ms) / 1000;
    json_t *local = json_pack(
        "{s:b, s:s, s:i, s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "connected", ls.connected, "host",
        d->cfg.local_host, "port", (int)d->cfg.local_port, "client_id", d->client_id, "connects",
        (json_int_t)ls.connects, "disconnects", (json_int_t)ls.disconnects, "connect_failures",
        (json_int_t)ls.connect_failures, "received", (json_int_t)ls.received, "acks_published",
        (json_int_t)ls.published, "acks_unconfirmed", (json_int_t)ls.unacked);
    json_t *store = json_pack(
        "{s:s, s:I, s:I, s:b, s:b, s:b, s:I}", "path", d->db_path, "size_bytes", (json_int_t)size,
        "quota_bytes", (json_int_t)((uint64_t)d->cfg.store_quota_mb << 20), "over_quota",
        relais_store_over_quota(d->store), "busy", relais_store_busy(d->store), "nothing_to_evict",
        d->housekeep_nothing_left, "housekeeping_runs", (json_int_t)d->housekeep_runs);
    char key_id[17] = "";
    relais_store_key_id(d->store, key_id);
    json_object_set_new(store, "key_id", json_string(key_id));
    json_object_set_new(local, "refused", json_integer((json_int_t)d->broker_refused));
    json_object_set_new(local, "refused_unaudited",
                        json_integer((json_int_t)d->broker_refused_unaudited));
    json_object_set_new(store, "audit", audit_head_json(d));
    json_object_set_new(store, "sealed_failed",
                        json_integer((json_int_t)relais_store_tampered(d->store)));
    json_t *drops = json_object();
    relais_store_foreach_drop(d->store, status_drop_cb, drops);
    json_object_set_new(store, "drops", drops);
    json_t *coap = json_null();
    if (d->coap) {
        struct relais_coap_stats cs;
        relais_coap_server_get_stats(d->coap, &cs);
        coap = json_pack(
            "{s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
            "s:I}",
            "requests", (json_int_t)cs.requests, "answered", "2.04", (json_int_t)cs.answered[0],
            "4.00", (json_int_t)cs.answered[1], "4.01", (json_int_t)cs.answered[2], "4.03",
            (json_int_t)cs.answered[3], "4.xx other", (json_int_t)cs.answered[4], "5.03",
            (json_int_t)cs.answered[5], "continues", (json_int_t)cs.continues, "rate_limited",
            (json_int_t)cs.rate_limited, "handshakes_refused", (json_int_t)cs.handshakes_refused,
            "forbidden", (json_int_t)cs.forbidden, "sessions", (json_int_t)cs.sessions,
            "sessions_total", (json_int_t)cs.sessions_total, "lost_answers",
            (json_int_t)cs.lost_answers, "transfers", (json_int_t)cs.transfers, "cmd_polls",
            (json_int_t)cs.cmd_polls, "cmds_given", (json_int_t)cs.cmds_given);
    }
    json_t *devices =
        json_pack("{s:I, s:I}", "active", (json_int_t)relais_registry_count(d->registry, true),
                  "known", (json_int_t)relais_registry_count(d->registry, false));
    return json_pack("{s:s, s:s, s:i, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:{s:I, s:I}}",
                     "version", RELAIS_VERSION, "gateway", d->cfg.gateway_id, "pid", (int)getpid(),
                     "uptime_s", (json_int_t)uptime, "started_ms", (json_int_t)d->started_wall_ms,
                     "local", local, "upstream", forward_json(d), "coap", coap, "devices", devices,
                     "ingest", ingest_json(d->ingest), "store", store, "rules", rules_json(d),
                     "config", "reloads", (json_int_t)d->reloads, "reload_failures",
                     (json_int_t)d->reload_failures);
}

/* ---- the hospital link ---- */

struct status_devices {
    struct daemon *d;
    json_t *arr;
};

static void status_device(struct status_devices *sd, const char *id, const char *kind)
{
    for (size_t i = 0; i < json_array_size(sd->arr); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(sd->arr, i), "id")), id) == 0)
            return;
    int64_t seen;
    bool has_battery;
    double battery;
    if (relais_store_device_last(sd->d->store, id, &seen, &has_battery, &battery)) return;
    json_t *o = json_pack("{s:s, s:s, s:o}", "id", id, "kind", kind, "last_seen_ms",
                          seen ? json_integer(seen) : json_null());
    if (o) json_object_set_new(o, "battery", has_battery ? json_real(battery) : json_null());
    json_array_append_new(sd->arr, o);
}

static int status_registry_cb(const struct relais_device *dev, void *ud)
{
    if (!dev->revoked_ms) status_device(ud, dev->id, dev->kind);
    return 0;
}

static int status_drop_cb(const char *reason, uint64_t n, void *ud)
{
    json_object_set_new(ud, reason, json_integer((json_int_t)n));
    return 0;
}

/* The audit trail's committed head: kept by the hospital with the status. */
static json_t *audit_head_json(struct daemon *d)
{
    int64_t id;
    uint8_t hash[RELAIS_SHA256_LEN];
    char hex[2 * RELAIS_SHA256_LEN + 1];
    relais_store_audit_head(d->store, &id, hash);
    relais_hex(hash, sizeof hash, hex);
    return json_pack("{s:I, s:s}", "last_id", (json_int_t)id, "head", hex);
}

/* The daemon's part of the retained status message (DESIGN 4). */
static json_t *hospital_status(void *ud)
{
    struct daemon *d = ud;
    relais_ingest_flush(d->ingest);
    struct status_devices sd = {d, json_array()};
    const struct relais_careplan *plan = relais_engine_plan(d->engine);
    for (size_t i = 0; plan && i < plan->ndevices; i++)
        status_device(&sd, plan->devices[i].id, plan->devices[i].kind);
    relais_store_foreach_device(d->store, status_registry_cb, &sd);
    json_t *drops = json_object();
    relais_store_foreach_drop(d->store, status_drop_cb, drops);
    const struct relais_ingest_counters *c = relais_ingest_get_counters(d->ingest);
    for (int r = 0; r < RELAIS_REJECT_COUNT; r++)
        if (c->rejected_by[r]) {
            char key[64];
            snprintf(key, sizeof key, "rejected_%s", relais_reject_reason_name(r));
            json_object_set_new(drops, key, json_integer((json_int_t)c->rejected_by[r]));
        }
    uint64_t uptime = (relais_loop_now_ms(d->loop) - d->started_mono_ms) / 1000;
    return json_pack("{s:s, s:I, s:o, s:o, s:{s:b, s:b}, s:o, s:o}", "version", RELAIS_VERSION,
                     "uptime_s", (json_int_t)uptime, "devices", sd.arr, "drops", drops, "clock",
                     "synced", !d->clock_unsynced, "test_clock", d->test_clock, "careplan",
                     plan ? json_integer(plan->version) : json_null(), "audit", audit_head_json(d));
}

static void hospital_intake(void *ud)
{
    struct daemon *d = ud;
    relais_loop_timer_arm(d->loop, &d->rules_timer, 0);
}

static void hospital_flush(void *ud)
{
    struct daemon *d = ud;
    relais_ingest_flush(d->ingest);
}

static int forward_start(struct daemon *d)
{
    if (d->cfg.upstream_tls && d->cfg.upstream_key_file && d->cfg.upstream_key_file[0]) {
        int rc = relais_secret_check(d->cfg.upstream_key_file);
        if (rc) return rc;
    }
    struct relais_forward_opts fo;
    forward_opts(&d->cfg, &fo);
    const struct relais_forward_cbs cbs = {hospital_status, hospital_intake, hospital_flush};
    int rc = relais_forward_create(&d->fwd, d->loop, d->store, d->engine, &fo, &cbs, d);
    if (rc) return rc;
    log_notice("relaisd", "forwarding to the hospital broker %s:%u (%s)", d->cfg.upstream_host,
               d->cfg.upstream_port, d->cfg.upstream_tls ? "TLS" : "plain, tests only");
    return relais_forward_start(d->fwd);
}

static json_t *forward_json(struct daemon *d)
{
    if (!d->fwd) return json_null();
    struct relais_forward_stats fs;
    relais_forward_get_stats(d->fwd, &fs);
    struct relais_outbox_stats os;
    json_t *q = json_object();
    if (relais_store_outbox_stats(d->store, &os) == RELAIS_OK) {
        static const char *const names[] = {"alert", "adherence", "device", "vitals"};
        for (int i = 0; i < RELAIS_OUTBOX_LANES; i++)
            json_object_set_new(q, names[i], json_integer((json_int_t)os.depth[i]));
        json_object_set_new(q, "dead_letters", json_integer((json_int_t)os.dead));
    }
    return json_pack(
        "{s:b, s:s, s:i, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
        "s:I, s:I, s:I, s:I, s:I}",
        "connected", fs.connected, "host", d->cfg.upstream_host, "port", (int)d->cfg.upstream_port,
        "queue", q, "in_flight", (json_int_t)fs.in_flight, "published", (json_int_t)fs.published,
        "acked", (json_int_t)fs.acked, "rows_acked", (json_int_t)fs.rows_acked, "resent_rows",
        (json_int_t)fs.resent_rows, "dead_letters", (json_int_t)fs.dead_letters, "stalls",
        (json_int_t)fs.stalls, "plans_applied", (json_int_t)fs.plans_applied, "plans_unchanged",
        (json_int_t)fs.plans_unchanged, "plans_rejected", (json_int_t)fs.plans_rejected,
        "acks_applied", (json_int_t)fs.acks_applied, "acks_rejected", (json_int_t)fs.acks_rejected,
        "intake_invalid", (json_int_t)fs.intake_invalid, "last_puback_ms",
        (json_int_t)fs.last_puback_ms, "render_failures", (json_int_t)fs.render_failures);
}

static int device_json(const struct relais_device *dev, void *ud)
{
    json_t *arr = ud;
    json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:I, s:I, s:b}", "id", dev->id, "kind",
                                         dev->kind, "patient", dev->patient, "created_ms",
                                         (json_int_t)dev->created_ms, "revoked_ms",
                                         (json_int_t)dev->revoked_ms, "active", !dev->revoked_ms));
    return 0;
}

/* "device-add ID KIND [PATIENT]": answers the credentials the device needs. */
static json_t *device_add(struct daemon *d, const char *args)
{
    char id[64] = "", kind[32] = "", patient[64] = "";
    if (sscanf(args, "%63s %31s %63s", id, kind, patient) < 2)
        return json_pack("{s:s}", "error", "usage: device-add ID KIND [PATIENT]");
    struct relais_device dev;
    relais_ingest_flush(d->ingest); /* the registry commits on its own */
    int64_t now = relais_clock_wall_ms(relais_loop_clock(d->loop));
    int rc = relais_registry_add(d->registry, id, kind, patient, now, &dev);
    if (rc == RELAIS_EEXIST)
        return json_pack("{s:s}", "error", "this device exists: remove it first");
    if (rc == RELAIS_EINVAL)
        return json_pack("{s:s}", "error",
                         "bad id ([a-z0-9][a-z0-9-]{0,31}), kind or patient pseudonym");
    if (rc) return json_pack("{s:s}", "error", relais_strerror(rc));
    char psk[RELAIS_PSK_LEN + 1];
    memcpy(psk, dev.psk, RELAIS_PSK_LEN);
    psk[RELAIS_PSK_LEN] = '\0';
    json_t *a = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", dev.id, "kind", dev.kind, "patient",
                          dev.patient, "psk_identity", dev.id, "psk", psk);
    /* a pill box's record-signing key, in hex (docs/contract.md) */
    uint8_t key[RELAIS_WIRE_RECORD_KEY_LEN];
    char rk[2 * RELAIS_WIRE_RECORD_KEY_LEN + 1];
    if (a && relais_registry_record_key(d->registry, id, key) == RELAIS_OK) {
        relais_hex(key, sizeof key, rk);
        json_object_set_new(a, "record_key", json_string(rk));
        relais_zeroize(rk, sizeof rk);
    }
    relais_zeroize(key, sizeof key);
    relais_zeroize(psk, sizeof psk);
    relais_zeroize(&dev, sizeof dev);
    return a;
}

static json_t *device_remove(struct daemon *d, const char *args)
{
    char id[64] = "";
    if (sscanf(args, "%63s", id) != 1)
        return json_pack("{s:s}", "error", "usage: device-remove ID");
    relais_ingest_flush(d->ingest);
    int rc =
        relais_registry_remove(d->registry, id, relais_clock_wall_ms(relais_loop_clock(d->loop)));
    if (rc == RELAIS_ENOTFOUND) return json_pack("{s:s}", "error", "no active device of that id");
    if (rc) return json_pack("{s:s}", "error", relais_strerror(rc));
    return json_pack("{s:s}", "removed", id);
}

/* ingest's record keys: the registry's (a pill box's, while it is active) */
static int record_key_of(void *ud, const char *device, uint8_t key[RELAIS_WIRE_RECORD_KEY_LEN])
{
    struct daemon *d = ud;
    return relais_registry_record_key(d->registry, device, key) == RELAIS_OK ? 0 : -1;
}

static void device_removed(void *ud, const char *id)
{
    struct daemon *d = ud;
    if (d->coap) relais_coap_server_close_device(d->coap, id);
}

/* ---- control: the care commands ---- */

static json_t *error_json(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static json_t *error_json(const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return json_pack("{s:s}", "error", msg);
}

/* "alert-ack ID WHO", "alert-resolve ID WHO" */
static json_t *alert_act(struct daemon *d, const char *args, enum relais_alert_action act)
{
    /* WHO is the rest of the line, whole: the engine checks it (a name with
     * a space or a long one is refused, never cut to a valid-looking one) */
    char id[80] = "";
    const char *sp = strchr(args, ' ');
    if (!sp || sp == args || (size_t)(sp - args) >= sizeof id)
        return error_json("usage: %s ID WHO",
                          act == RELAIS_ACT_ACK ? "alert-ack" : "alert-resolve");
    memcpy(id, args, (size_t)(sp - args));
    id[sp - args] = '\0';
    const char *who = sp + 1;
    relais_ingest_flush(d->ingest);
    struct relais_alert a;
    char err[200];
    int rc = relais_engine_act(d->engine, id, act, who, &a, err, sizeof err);
    if (rc) return error_json("%s", err[0] ? err : relais_strerror(rc));
    rules_run(d);
    return relais_report_alert(&a);
}

/* Runs the rules until they have judged every stored pack (bounded). */
static void rules_settle(struct daemon *d)
{
    bool more = true;
    for (int i = 0; i < 64 && more; i++)
        if (relais_engine_run(d->engine, &more)) break;
    rules_run(d);
}

/* "clock", "clock-advance MS", "clock-jump MS", "clock-sync on|off" (--test-clock only) */
static json_t *clock_cmd(struct daemon *d, const char *cmd, const char *args)
{
    if (strcmp(cmd, "clock") != 0) {
        if (!d->test_clock)
            return error_json("the clock is the system's: relaisd runs without --test-clock");
        if (strcmp(cmd, "clock-sync") == 0) {
            if (strcmp(args, "on") != 0 && strcmp(args, "off") != 0)
                return error_json("usage: clock-sync on|off");
            d->tc.unsynced = strcmp(args, "off") == 0;
        } else {
            char *end;
            long long ms = strtoll(args, &end, 10);
            if (!args[0] || *end || ms > INT64_C(400) * 86400000 || ms < -INT64_C(400) * 86400000)
                return error_json("usage: %s MILLISECONDS", cmd);
            /* what arrived before the move is judged at the time it
             * arrived, before the timers that the move makes due */
            relais_ingest_flush(d->ingest);
            rules_settle(d);
            if (strcmp(cmd, "clock-advance") == 0) {
                if (ms < 0)
                    return error_json("the monotonic clock never goes back: use clock-jump");
                d->tc.mono_ms += (uint64_t)ms;
                d->tc.wall_ms += ms;
            } else if (strcmp(cmd, "clock-jump") == 0) {
                d->tc.wall_ms += ms;
            } else {
                return error_json("unknown clock command");
            }
            char detail[80];
            snprintf(detail, sizeof detail, "%s %lld ms", cmd, ms);
            log_info("relaisd", "test clock: %s", detail);
        }
        rules_run(d);
    }
    int64_t next = relais_engine_next_due(d->engine);
    return json_pack("{s:b, s:I, s:I, s:b, s:o}", "test_clock", d->test_clock, "wall_ms",
                     (json_int_t)relais_clock_wall_ms(&d->rules_clock), "mono_ms",
                     (json_int_t)relais_clock_mono_ms(&d->rules_clock), "synchronised",
                     !d->clock_unsynced, "next_due_ms",
                     next == INT64_MAX ? json_null() : json_integer(next));
}

static json_t *careplan_json(struct daemon *d)
{
    struct relais_stored_plan sp;
    int rc = relais_store_plan_latest(d->store, &sp);
    if (rc == RELAIS_ENOTFOUND) return json_pack("{s:n}", "plan");
    if (rc) return error_json("%s", relais_strerror(rc));
    json_t *body = json_loads(sp.body, 0, NULL);
    json_t *o = json_pack("{s:I, s:s, s:s, s:I, s:o}", "version", (json_int_t)sp.version, "patient",
                          sp.patient, "source", sp.source, "applied_ms", (json_int_t)sp.applied_ms,
                          "plan", body ? body : json_null());
    free(sp.body);
    return o;
}

static json_t *care_command(struct daemon *d, const char *cmd, const char *args, bool *known)
{
    *known = true;
    if (strcmp(cmd, "alerts") == 0) {
        /* "alerts" (open), "alerts all [N]" */
        char which[8] = "";
        long long n = 0;
        sscanf(args, "%7s %lld", which, &n);
        struct relais_alert_filter f = {.open_only = strcmp(which, "all") != 0, .limit = n};
        json_t *a = relais_report_alerts(d->store, &f);
        return a ? a : error_json("the store cannot be read");
    }
    if (strcmp(cmd, "alert") == 0) {
        struct relais_alert a;
        int rc = relais_store_alert_get(d->store, args, &a);
        if (rc)
            return error_json("%s", rc == RELAIS_ENOTFOUND ? "no such alert" : relais_strerror(rc));
        json_t *o = relais_report_alert(&a);
        json_t *ev = relais_report_events(d->store, args, 0);
        json_object_set_new(o, "history", ev ? ev : json_array());
        return o;
    }
    if (strcmp(cmd, "alert-events") == 0) {
        json_t *a = relais_report_events(d->store, NULL, strtoll(args, NULL, 10));
        return a ? a : error_json("the store cannot be read");
    }
    if (strcmp(cmd, "alert-ack") == 0) return alert_act(d, args, RELAIS_ACT_ACK);
    if (strcmp(cmd, "alert-resolve") == 0) return alert_act(d, args, RELAIS_ACT_RESOLVE);
    if (strcmp(cmd, "careplan") == 0) return careplan_json(d);
    if (strcmp(cmd, "careplan-apply") == 0) return plan_offer(d, args, strlen(args), "relaisctl");
    if (strcmp(cmd, "adherence") == 0) {
        const struct relais_careplan *p = relais_engine_plan(d->engine);
        if (!p) return error_json("no care plan");
        if (args[0] && strcmp(args, p->patient) != 0)
            return error_json("%s is not the patient of the active care plan", args);
        json_t *a = relais_report_adherence(d->store, p, relais_clock_wall_ms(&d->rules_clock));
        return a ? a : error_json("the store cannot be read");
    }
    if (strcmp(cmd, "delays") == 0) {
        json_t *a = relais_report_delays(d->store);
        return a ? a : error_json("the store cannot be read");
    }
    if (strcmp(cmd, "commands") == 0) {
        json_t *a = relais_report_commands(d->store, strtoll(args, NULL, 10));
        return a ? a : error_json("the store cannot be read");
    }
    if (strcmp(cmd, "rules-run") == 0) {
        rules_run(d);
        return rules_json(d);
    }
    if (strncmp(cmd, "clock", 5) == 0) return clock_cmd(d, cmd, args);
    *known = false;
    return NULL;
}

static int control_cb(void *ud, const char *cmd, const char *args, char **out)
{
    struct daemon *d = ud;
    json_t *answer = NULL;
    bool known;
    if (strcmp(cmd, "status") == 0)
        answer = status_json(d);
    else if (strcmp(cmd, "device-add") == 0)
        answer = device_add(d, args);
    else if (strcmp(cmd, "device-remove") == 0)
        answer = device_remove(d, args);
    else if (strcmp(cmd, "devices") == 0) {
        answer = json_array();
        relais_store_foreach_device(d->store, device_json, answer);
    } else if (strcmp(cmd, "ping") == 0) {
        answer = json_pack("{s:b}", "pong", 1);
    } else {
        answer = care_command(d, cmd, args, &known);
        if (!known) answer = json_pack("{s:s}", "error", "unknown command");
    }
    if (!answer) return RELAIS_ENOMEM;
    *out = json_dumps(answer, JSON_COMPACT);
    json_decref(answer);
    return *out ? RELAIS_OK : RELAIS_ENOMEM;
}

/* ---- reload ---- */

static void reload(struct daemon *d)
{
    struct relais_config next;
    struct relais_config_error err;
    sd_notify(0, "RELOADING=1");
    log_notice("relaisd", "SIGHUP: reloading %s", d->config_path);
    if (relais_config_load(&next, d->config_path, &err) != RELAIS_OK) {
        d->reload_failures++;
        log_error("relaisd", "reload refused, the running configuration stays: %s", err.message);
        audit_now(d, "config.reload_rejected", err.message);
        sd_notify(0, "READY=1");
        return;
    }
    relais_config_merge_reload(&d->cfg, &next);
    bool local_changed = relais_config_section_changed(&d->cfg, &next, "local");
    bool upstream_changed = relais_config_section_changed(&d->cfg, &next, "upstream");
    struct relais_config old = d->cfg;
    d->cfg = next;
    relais_config_cleanup(&old);

    if (d->log_level_override >= 0) d->cfg.log_level = (enum relais_log_level)d->log_level_override;
    relais_log_set_level(d->cfg.log_level);
    struct relais_ingest_opts io;
    ingest_opts(&d->cfg, &io);
    relais_ingest_set_opts(d->ingest, &io);
    relais_store_set_quota(d->store, (uint64_t)d->cfg.store_quota_mb << 20);
    if (local_changed) {
        struct relais_mqtt_link_opts lo;
        local_opts(d, &lo);
        relais_mqtt_ingest_reconfigure(d->mqtt, &lo);
    } else {
        relais_mqtt_link_set_library_log(relais_mqtt_ingest_link(d->mqtt),
                                         d->cfg.log_level >= RELAIS_LOG_DEBUG);
    }
    relais_engine_set_limits(d->engine, d->cfg.rules_clock_jump_ms, d->cfg.rules_renotify_max);
    if (upstream_changed) {
        bool want = d->cfg.upstream_host && d->cfg.upstream_host[0];
        if (d->fwd && !want) {
            relais_forward_shutdown(d->fwd, 2000);
            relais_forward_destroy(d->fwd);
            d->fwd = NULL;
            relais_store_outbox_enable(d->store, false);
            log_notice("relaisd", "forwarding stopped ([upstream] host is empty)");
        } else if (d->fwd) {
            struct relais_forward_opts fo;
            forward_opts(&d->cfg, &fo);
            if (d->cfg.upstream_tls && d->cfg.upstream_key_file && d->cfg.upstream_key_file[0] &&
                relais_secret_check(d->cfg.upstream_key_file))
                log_error("relaisd", "[upstream] key_file refused: the hospital link keeps its "
                                     "previous settings");
            else
                relais_forward_reconfigure(d->fwd, &fo);
        } else if (want && forward_start(d)) {
            log_error("relaisd", "forwarding could not start");
        }
    }
    d->reloads++;
    audit_now(d, "config.reloaded", d->config_path);
    careplan_file_load(d);
    rules_run(d);
    sd_notify(0, "READY=1");
}

/* ---- signals and watchdog ---- */

static void signal_cb(struct relais_io *io, unsigned revents)
{
    struct daemon *d = (struct daemon *)((char *)io - offsetof(struct daemon, signal_io));
    struct signalfd_siginfo si;
    (void)revents;
    while (read(io->fd, &si, sizeof si) == (ssize_t)sizeof si) {
        switch (si.ssi_signo) {
        case SIGHUP: reload(d); break;
        case SIGTERM:
        case SIGINT:
            log_notice("relaisd", "%s: stopping", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
            relais_loop_stop(d->loop);
            break;
        default: break;
        }
    }
}

static void watchdog_cb(struct relais_timer *t)
{
    struct daemon *d = (struct daemon *)((char *)t - offsetof(struct daemon, watchdog_timer));
    sd_notify(0, "WATCHDOG=1");
    relais_loop_timer_arm(d->loop, t, d->watchdog_ms);
}

static int signals_open(struct daemon *d)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) {
        log_errno("relaisd", "sigprocmask");
        return RELAIS_EIO;
    }
    signal(SIGPIPE, SIG_IGN);
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
        log_errno("relaisd", "signalfd");
        return RELAIS_EIO;
    }
    int rc = relais_loop_io_add(d->loop, &d->signal_io, fd, RELAIS_IO_READ, signal_cb);
    if (rc) close(fd);
    return rc;
}

/* ---- run ---- */

static void teardown(struct daemon *d)
{
    /* the open batch commits and its acks are queued, then sent */
    if (d->ingest) relais_ingest_flush(d->ingest);
    if (d->mqtt) relais_mqtt_ingest_shutdown(d->mqtt, 2000);
    if (d->fwd) relais_forward_shutdown(d->fwd, 2000);
    relais_forward_destroy(d->fwd);
    relais_coap_server_destroy(d->coap);
    relais_ingest_destroy(d->ingest);
    relais_mqtt_ingest_destroy(d->mqtt);
    relais_registry_destroy(d->registry);
    relais_control_close(d->control);
    if (d->signal_io.active) {
        int fd = d->signal_io.fd;
        relais_loop_io_remove(d->loop, &d->signal_io);
        close(fd);
    }
    if (d->loop) {
        relais_loop_timer_cancel(d->loop, &d->watchdog_timer);
        relais_loop_timer_cancel(d->loop, &d->rules_timer);
        relais_loop_timer_cancel(d->loop, &d->housekeep_timer);
        relais_loop_timer_cancel(d->loop, &d->broker_log_timer);
    }
    relais_broker_log_close(d->broker_log);
    relais_engine_destroy(d->engine);
    relais_store_close(d->store);
    relais_loop_destroy(d->loop);
    relais_config_cleanup(&d->cfg);
}

int relais_daemon_run(const char *config_path, struct relais_config *cfg,
                      const struct relais_daemon_opts *opts)
{
    struct daemon d;
    int rc;
    memset(&d, 0, sizeof d);
    d.config_path = config_path;
    d.log_level_override = opts->log_level_override;
    d.cfg = *cfg;
    if (d.log_level_override >= 0) d.cfg.log_level = (enum relais_log_level)d.log_level_override;
    memset(cfg, 0, sizeof *cfg);
    d.signal_io.fd = -1;
    relais_timer_init(&d.watchdog_timer, watchdog_cb);
    relais_timer_init(&d.rules_timer, rules_timer_cb);
    relais_timer_init(&d.housekeep_timer, housekeep_cb);
    relais_timer_init(&d.broker_log_timer, broker_log_cb);

    umask(077);
    relais_log_set_level(d.cfg.log_level);
    log_notice("relaisd", "relais %s starting: gateway %s, config %s", RELAIS_VERSION,
               d.cfg.gateway_id, config_path);

    if ((rc = relais_dir_ensure(d.cfg.data_dir, 0700))) goto out;
    snprintf(d.db_path, sizeof d.db_path, "%s/relais.db", d.cfg.data_dir);
    if (d.cfg.control_socket && d.cfg.control_socket[0])
        snprintf(d.socket_path, sizeof d.socket_path, "%s", d.cfg.control_socket);
    else
        snprintf(d.socket_path, sizeof d.socket_path, "%s/relaisd.sock", d.cfg.data_dir);

    if ((rc = relais_loop_create(&d.loop, NULL))) goto out;
    /* the control socket first: it refuses to start a second relaisd on this data dir */
    if ((rc = relais_control_open(&d.control, d.loop, d.socket_path, control_cb, &d))) goto out;
    const struct relais_store_opts so = {.quota_bytes = (uint64_t)d.cfg.store_quota_mb << 20};
    /* patient data is sealed at rest: the key file given, or the data
     * directory's own, made with the store */
    char key_path[4096];
    if (d.cfg.store_key_file && d.cfg.store_key_file[0])
        snprintf(key_path, sizeof key_path, "%s", d.cfg.store_key_file);
    else
        snprintf(key_path, sizeof key_path, "%s/store.key", d.cfg.data_dir);
    if ((rc = relais_store_open_keyed(&d.store, d.db_path, key_path, true, &so))) goto out;
    if ((rc = signals_open(&d))) goto out;
    struct relais_ingest_opts io;
    ingest_opts(&d.cfg, &io);
    if ((rc = relais_ingest_create(&d.ingest, d.loop, d.store, &io))) goto out;
    struct relais_mqtt_link_opts lo;
    local_opts(&d, &lo);
    if ((rc = relais_mqtt_ingest_create(&d.mqtt, d.loop, d.ingest, &lo))) goto out;
    if ((rc = relais_registry_create(&d.registry, d.store))) goto out;
    relais_registry_set_removed_cb(d.registry, device_removed, &d);
    if (opts->test_clock_ms) {
        d.test_clock = true;
        d.tc.wall_ms = opts->test_clock_ms;
        d.tc.mono_ms = relais_clock_mono_ms(&relais_clock_system);
        d.rules_clock =
            (struct relais_clock){.mono_ms_cb = tc_mono, .wall_ms_cb = tc_wall, .ctx = &d.tc};
        log_warn("relaisd", "--test-clock: the rules run on a test clock (tests only)");
    } else {
        d.rules_clock = relais_clock_system;
    }
    const struct relais_engine_opts eo = {
        .gateway_id = d.cfg.gateway_id,
        .jump_threshold_ms = d.cfg.rules_clock_jump_ms,
        .max_renotify = d.cfg.rules_renotify_max,
    };
    if ((rc = relais_engine_create(&d.engine, d.store, &d.rules_clock, &eo))) goto out;
    relais_ingest_set_commit_cb(d.ingest, committed, &d);
    relais_ingest_set_record_key_cb(d.ingest, record_key_of, &d);
    relais_mqtt_ingest_set_published_cb(d.mqtt, command_published, &d);
    if (d.cfg.coap_dtls_port || (d.cfg.coap_allow_plain && d.cfg.coap_port)) {
        struct relais_coap_opts co;
        coap_opts(&d.cfg, &co);
        co.cmd_cb = coap_cmd_cb;
        co.cmd_ud = &d;
        if ((rc = relais_coap_server_create(&d.coap, d.loop, d.ingest, d.registry, &co))) goto out;
    }

    d.started_wall_ms = relais_clock_wall_ms(relais_loop_clock(d.loop));
    d.started_mono_ms = relais_loop_now_ms(d.loop);
    /* before the first run of the rules: its notifications go to the outbox */
    if (d.cfg.upstream_host && d.cfg.upstream_host[0] && (rc = forward_start(&d))) goto out;
    audit_now(&d, "relaisd.started", RELAIS_VERSION);
    careplan_file_load(&d);
    rules_run(&d);
    if ((rc = relais_mqtt_ingest_start(d.mqtt))) goto out;
    relais_loop_timer_arm(d.loop, &d.housekeep_timer, 1000);
    if (d.cfg.local_broker_log_file && d.cfg.local_broker_log_file[0]) {
        if ((rc = relais_broker_log_open(&d.broker_log, d.cfg.local_broker_log_file))) goto out;
        relais_loop_timer_arm(d.loop, &d.broker_log_timer, BROKER_LOG_PERIOD_MS);
    }

    uint64_t wd_usec = 0;
    if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec >= 2000) {
        d.watchdog_ms = wd_usec / 2000;
        relais_loop_timer_arm(d.loop, &d.watchdog_timer, d.watchdog_ms);
    }
    sd_notify(0, "READY=1");
    log_notice("relaisd", "ready: store %s, control %s", d.db_path, d.socket_path);

    rc = relais_loop_run(d.loop);
    sd_notify(0, "STOPPING=1");
    /* finish the current commit and send its acks */
    relais_ingest_flush(d.ingest);
    audit_now(&d, "relaisd.stopped", rc == RELAIS_OK ? "signal" : relais_strerror(rc));
out:
    if (rc) log_error("relaisd", "stopping on error: %s", relais_strerror(rc));
    teardown(&d);
    if (!rc) log_notice("relaisd", "stopped");
    return rc ? 1 : 0;
}
