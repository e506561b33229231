/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Forwarding to the hospital broker (DESIGN 4): one MQTT connection (TLS,
 * persistent session, last will on the status topic) on relaisd's loop, fed
 * from the store's outbox (relais/outbox.h) and taking care plans and
 * acknowledgements back.
 *
 *   pump:   alerts (all), then live adherence, device, vitals (rows written
 *           since this connection began), then the backlog (older rows) in
 *           the same lane order, paced (backlog_rate) and never taking the
 *           last two places of the in-flight window, so a new alert is
 *           published at once even during a drain.  Rows of one lane and
 *           patient share a transaction Bundle (bundle_max).
 *   PUBACK: the rows leave the outbox (one transaction).  A connection lost
 *           with messages in flight counts an attempt on their rows; a row
 *           at max_attempts, or one message too large for the broker, or a
 *           row that cannot be rendered goes to the dead letters with why.
 *   stall:  messages in flight and no PUBACK for stall_s: reconnect.
 *   status: retained JSON on relais/gw/{gw}/status on connect, on change
 *           (at most every 2 s) and every status_interval_s; the last will
 *           says {"state":"offline"}.
 *   intake: relais/gw/{gw}/careplan -> relais_engine_apply_plan, answered
 *           on careplan/result; relais/gw/{gw}/alert/ack -> relais_engine_act,
 *           answered on alert/ack/result.  Bad input answered, counted and
 *           audited.
 */
#ifndef RELAIS_FORWARD_H
#define RELAIS_FORWARD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relais/engine.h"
#include "relais/loop.h"
#include "relais/mqtt_link.h"
#include "relais/outbox.h"
#include "relais/store.h"

struct relais_forward;

struct relais_forward_opts {
    const char *gateway_id;
    struct relais_mqtt_link_opts link; /* host, port, TLS, credentials, client id */
    unsigned window;                   /* messages in flight (>= 2) */
    unsigned bundle_max;               /* outbox rows per transaction Bundle */
    unsigned backlog_rate;             /* backlog rows per second; 0: unpaced */
    unsigned status_interval_s;
    unsigned stall_s;
    unsigned max_attempts;
    size_t max_message_bytes;
};

struct relais_forward_cbs {
    /* The daemon's part of the status (version, uptime, devices, clock,
     * drops): a new object the forwarder completes and publishes. */
    json_t *(*status_cb)(void *ud);
    /* A care plan or an acknowledgement from the hospital was applied:
     * the rules should run. */
    void (*intake_cb)(void *ud);
    /* The forwarder is about to write the store: commit the open batch. */
    void (*flush_cb)(void *ud);
};

struct relais_forward_stats {
    bool connected;
    uint64_t published, acked, rows_acked, entries_sent, resent_rows;
    uint64_t dead_letters, stalls, render_failures;
    uint64_t plans_applied, plans_unchanged, plans_rejected;
    uint64_t acks_applied, acks_rejected, intake_invalid;
    unsigned in_flight;
    int64_t last_puback_ms;
};

int relais_forward_create(struct relais_forward **out, struct relais_loop *loop,
                          struct relais_store *st, struct relais_engine *engine,
                          const struct relais_forward_opts *opts,
                          const struct relais_forward_cbs *cbs, void *ud);
void relais_forward_destroy(struct relais_forward *f);
int relais_forward_start(struct relais_forward *f);
/* New options (SIGHUP): reconnects with them. */
int relais_forward_reconfigure(struct relais_forward *f, const struct relais_forward_opts *opts);
/* New rows may be in the outbox: publish at the end of this loop turn. */
void relais_forward_kick(struct relais_forward *f);
/* Something the status shows changed. */
void relais_forward_status_changed(struct relais_forward *f);
/* The status object as it would be published (relaisctl status). */
json_t *relais_forward_status(struct relais_forward *f);
void relais_forward_get_stats(const struct relais_forward *f, struct relais_forward_stats *out);
/* Shutdown: a retained {"state":"offline"} and DISCONNECT (blocks, bounded). */
void relais_forward_shutdown(struct relais_forward *f, unsigned timeout_ms);

/*
 * Parses an acknowledgement from the hospital (relais/gw/{gw}/alert/ack):
 * {"alert":"<id>","action":"ack"|"resolve","by":"<name>","at":"<ISO 8601>"},
 * a JSON object of at most 4096 bytes with exactly these string members,
 * "at" required.  body (len bytes, not NUL-terminated) is borrowed for the
 * call.  On RELAIS_OK: alert (acap bytes) and by (bcap bytes) receive the
 * NUL-terminated id and name (each must fit, the id must not be empty),
 * *action an enum relais_alert_action.  On RELAIS_EINVAL: err (ecap bytes)
 * says why, and alert, by and *action are untouched.
 */
int relais_forward_parse_ack(const void *body, size_t len, char *alert, size_t acap,
                             int *action /* enum relais_alert_action */, char *by, size_t bcap,
                             char *err, size_t ecap);

#endif
