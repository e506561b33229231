/* SPDX-License-Identifier: Apache-2.0 */
/* relaisd's wiring and lifecycle (see relais/daemon.h). */
#include "relais/daemon.h"
#include "relais/coap_server.h"
#include "relais/control.h"
#include "relais/crypto.h"
#include "relais/error.h"
#include "relais/fsutil.h"
#include "relais/ingest.h"
#include "relais/log.h"
#include "relais/loop.h"
#include "relais/mqtt_ingest.h"
#include "relais/registry.h"
#include "relais/store.h"
#include "relais/version.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

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
    struct relais_io signal_io;
    struct relais_timer watchdog_timer;
    uint64_t watchdog_ms;
    int64_t started_wall_ms;
    uint64_t started_mono_ms;
    uint64_t reloads, reload_failures;
    int log_level_override; /* -1: none */
    char client_id[64];
    char socket_path[4096];
    char db_path[4096];
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
    o->username = c->local_username;
    o->password_file = c->local_password_file;
    o->keepalive_s = c->local_keepalive_s;
    o->reconnect_min_ms = c->local_reconnect_min_ms;
    o->reconnect_max_ms = c->local_reconnect_max_ms;
    o->max_inflight = c->local_max_inflight;
    o->library_log = c->log_level >= RELAIS_LOG_DEBUG;
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
                     "rejected", (json_int_t)c->rejected, "busy", (json_int_t)c->busy,
                     "unroutable", (json_int_t)c->unroutable, "readings",
                     (json_int_t)c->readings, "commits", (json_int_t)c->commits,
                     "commit_failures", (json_int_t)c->commit_failures, "batch_max",
                     (json_int_t)c->batch_max, "acks_sent", (json_int_t)c->acks_sent, "pending",
                     (json_int_t)relais_ingest_pending(ing), "rejected_by", by);
}

static json_t *status_json(struct daemon *d)
{
    struct relais_mqtt_link_stats ls;
    relais_mqtt_link_get_stats(relais_mqtt_ingest_link(d->mqtt), &ls);
    uint64_t size = 0;
    relais_store_size(d->store, &size);
    uint64_t uptime = (relais_loop_now_ms(d->loop) - d->started_mono_ms) / 1000;
    json_t *local = json_pack("{s:b, s:s, s:i, s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "connected",
                              ls.connected, "host", d->cfg.local_host, "port",
                              (int)d->cfg.local_port, "client_id", d->client_id, "connects",
                              (json_int_t)ls.connects, "disconnects", (json_int_t)ls.disconnects,
                              "connect_failures", (json_int_t)ls.connect_failures, "received",
                              (json_int_t)ls.received, "acks_published", (json_int_t)ls.published,
                              "acks_unconfirmed", (json_int_t)ls.unacked);
    json_t *store = json_pack("{s:s, s:I, s:I, s:b}", "path", d->db_path, "size_bytes",
                              (json_int_t)size, "quota_bytes",
                              (json_int_t)((uint64_t)d->cfg.store_quota_mb << 20), "over_quota",
                              relais_store_over_quota(d->store));
    json_t *coap = json_null();
    if (d->coap) {
        struct relais_coap_stats cs;
        relais_coap_server_get_stats(d->coap, &cs);
        coap = json_pack("{s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                         "requests", (json_int_t)cs.requests, "answered", "2.04",
                         (json_int_t)cs.answered[0], "4.00", (json_int_t)cs.answered[1], "4.01",
                         (json_int_t)cs.answered[2], "4.03", (json_int_t)cs.answered[3],
                         "4.xx other", (json_int_t)cs.answered[4], "5.03",
                         (json_int_t)cs.answered[5], "continues", (json_int_t)cs.continues,
                         "rate_limited", (json_int_t)cs.rate_limited, "handshakes_refused",
                         (json_int_t)cs.handshakes_refused, "forbidden", (json_int_t)cs.forbidden,
                         "sessions", (json_int_t)cs.sessions, "sessions_total",
                         (json_int_t)cs.sessions_total, "lost_answers",
                         (json_int_t)cs.lost_answers, "transfers", (json_int_t)cs.transfers);
    }
    json_t *devices = json_pack("{s:I, s:I}", "active",
                                (json_int_t)relais_registry_count(d->registry, true), "known",
                                (json_int_t)relais_registry_count(d->registry, false));
    return json_pack("{s:s, s:s, s:i, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:{s:I, s:I}}", "version",
                     RELAIS_VERSION, "gateway", d->cfg.gateway_id, "pid", (int)getpid(),
                     "uptime_s", (json_int_t)uptime, "started_ms", (json_int_t)d->started_wall_ms,
                     "local", local, "coap", coap, "devices", devices, "ingest",
                     ingest_json(d->ingest), "store", store, "config",
                     "reloads", (json_int_t)d->reloads, "reload_failures",
                     (json_int_t)d->reload_failures);
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
    if (rc)
        return json_pack("{s:s}", "error", relais_strerror(rc));
    char psk[RELAIS_PSK_LEN + 1];
    memcpy(psk, dev.psk, RELAIS_PSK_LEN);
    psk[RELAIS_PSK_LEN] = '\0';
    json_t *a = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", dev.id, "kind", dev.kind, "patient",
                          dev.patient, "psk_identity", dev.id, "psk", psk);
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
    int rc = relais_registry_remove(d->registry, id,
                                    relais_clock_wall_ms(relais_loop_clock(d->loop)));
    if (rc == RELAIS_ENOTFOUND)
        return json_pack("{s:s}", "error", "no active device of that id");
    if (rc)
        return json_pack("{s:s}", "error", relais_strerror(rc));
    return json_pack("{s:s}", "removed", id);
}

static void device_removed(void *ud, const char *id)
{
    struct daemon *d = ud;
    if (d->coap)
        relais_coap_server_close_device(d->coap, id);
}

static int control_cb(void *ud, const char *cmd, const char *args, char **out)
{
    struct daemon *d = ud;
    json_t *answer = NULL;
    if (strcmp(cmd, "status") == 0)
        answer = status_json(d);
    else if (strcmp(cmd, "device-add") == 0)
        answer = device_add(d, args);
    else if (strcmp(cmd, "device-remove") == 0)
        answer = device_remove(d, args);
    else if (strcmp(cmd, "devices") == 0) {
        answer = json_array();
        relais_store_foreach_device(d->store, device_json, answer);
    } else if (strcmp(cmd, "ping") == 0)
        answer = json_pack("{s:b}", "pong", 1);
    else
        answer = json_pack("{s:s}", "error", "unknown command");
    if (!answer)
        return RELAIS_ENOMEM;
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
    struct relais_config old = d->cfg;
    d->cfg = next;
    relais_config_cleanup(&old);

    if (d->log_level_override >= 0)
        d->cfg.log_level = (enum relais_log_level)d->log_level_override;
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
    d->reloads++;
    audit_now(d, "config.reloaded", d->config_path);
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
    if (rc)
        close(fd);
    return rc;
}

/* ---- run ---- */

static void teardown(struct daemon *d)
{
    /* the open batch commits and its acks are queued, then sent */
    if (d->ingest)
        relais_ingest_flush(d->ingest);
    if (d->mqtt)
        relais_mqtt_ingest_shutdown(d->mqtt, 2000);
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
    if (d->loop)
        relais_loop_timer_cancel(d->loop, &d->watchdog_timer);
    relais_store_close(d->store);
    relais_loop_destroy(d->loop);
    relais_config_cleanup(&d->cfg);
}

int relais_daemon_run(const char *config_path, struct relais_config *cfg, int log_level_override)
{
    struct daemon d;
    int rc;
    memset(&d, 0, sizeof d);
    d.config_path = config_path;
    d.log_level_override = log_level_override;
    d.cfg = *cfg;
    if (log_level_override >= 0)
        d.cfg.log_level = (enum relais_log_level)log_level_override;
    memset(cfg, 0, sizeof *cfg);
    d.signal_io.fd = -1;
    relais_timer_init(&d.watchdog_timer, watchdog_cb);

    umask(077);
    relais_log_set_level(d.cfg.log_level);
    log_notice("relaisd", "relais %s starting: gateway %s, config %s", RELAIS_VERSION,
               d.cfg.gateway_id, config_path);

    if ((rc = relais_dir_ensure(d.cfg.data_dir, 0700)))
        goto out;
    snprintf(d.db_path, sizeof d.db_path, "%s/relais.db", d.cfg.data_dir);
    if (d.cfg.control_socket && d.cfg.control_socket[0])
        snprintf(d.socket_path, sizeof d.socket_path, "%s", d.cfg.control_socket);
    else
        snprintf(d.socket_path, sizeof d.socket_path, "%s/relaisd.sock", d.cfg.data_dir);

    if ((rc = relais_loop_create(&d.loop, NULL)))
        goto out;
    /* the control socket first: it refuses to start a second relaisd on this data dir */
    if ((rc = relais_control_open(&d.control, d.loop, d.socket_path, control_cb, &d)))
        goto out;
    const struct relais_store_opts so = {.quota_bytes = (uint64_t)d.cfg.store_quota_mb << 20};
    if ((rc = relais_store_open(&d.store, d.db_path, &so)))
        goto out;
    if ((rc = signals_open(&d)))
        goto out;
    struct relais_ingest_opts io;
    ingest_opts(&d.cfg, &io);
    if ((rc = relais_ingest_create(&d.ingest, d.loop, d.store, &io)))
        goto out;
    struct relais_mqtt_link_opts lo;
    local_opts(&d, &lo);
    if ((rc = relais_mqtt_ingest_create(&d.mqtt, d.loop, d.ingest, &lo)))
        goto out;
    if ((rc = relais_registry_create(&d.registry, d.store)))
        goto out;
    relais_registry_set_removed_cb(d.registry, device_removed, &d);
    if (d.cfg.coap_dtls_port || (d.cfg.coap_allow_plain && d.cfg.coap_port)) {
        struct relais_coap_opts co;
        coap_opts(&d.cfg, &co);
        if ((rc = relais_coap_server_create(&d.coap, d.loop, d.ingest, d.registry, &co)))
            goto out;
    }

    d.started_wall_ms = relais_clock_wall_ms(relais_loop_clock(d.loop));
    d.started_mono_ms = relais_loop_now_ms(d.loop);
    audit_now(&d, "relaisd.started", RELAIS_VERSION);
    if ((rc = relais_mqtt_ingest_start(d.mqtt)))
        goto out;

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
    if (rc)
        log_error("relaisd", "stopping on error: %s", relais_strerror(rc));
    teardown(&d);
    if (!rc)
        log_notice("relaisd", "stopped");
    return rc ? 1 : 0;
}
