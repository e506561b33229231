/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The outbox: what must reach the hospital broker, in the store (schema 5).
 *
 * One row per (pack, lane) written in the transaction that stores the pack,
 * one per alert notification, per missed dose slot and per device status
 * change.  A row leaves the table only when the hospital broker acknowledged
 * the message holding it (PUBACK): then the pack's (or alert event's)
 * forwarded_ms is set.  What cannot be sent is moved to dead_letters with its
 * reason, never deleted.  Lanes (relais/fhir.h): alert, adherence, device,
 * vitals, in that priority.
 */
#ifndef RELAIS_OUTBOX_H
#define RELAIS_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relais/store.h"

enum relais_outbox_kind {
    RELAIS_OUTBOX_PACK = 1,   /* ref = packs.id, lane = which of its records */
    RELAIS_OUTBOX_ALERT = 2,  /* ref = alert_events.id */
    RELAIS_OUTBOX_MISSED = 3, /* key = "{patient}|{slot_key}", ref = due_ms */
    RELAIS_OUTBOX_DEVICE = 4, /* key = device id, ref = 0 */
};

#define RELAIS_OUTBOX_LANES 4

struct relais_outbox_row {
    int64_t id;
    int lane;
    enum relais_outbox_kind kind;
    int64_t ref;
    const char *key;
    int64_t created_ms;
    int attempts;
};

/* Turns the writing of pack rows on (relaisd with an [upstream] host) or
 * off (no hospital: nothing would ever leave). */
void relais_store_outbox_enable(struct relais_store *st, bool on);
bool relais_store_outbox_enabled(const struct relais_store *st);

/* The devices the active care plan binds to patient (relais_engine keeps
 * it): the outbox rows of a pack name the patient of its device at arrival
 * ("unbound" for the others), so that a backlog sent after a new plan still
 * goes under the patient it was measured on.  Copies. */
int relais_store_outbox_bind(struct relais_store *st, const char *patient,
                             const char *const *devices, size_t n);
/* The patient a pack of device is forwarded under now ("unbound"). */
const char *relais_store_outbox_patient(const struct relais_store *st, const char *device);

/* Adds a row (in the open transaction, or its own).  The same (kind, ref,
 * key, lane) twice is one row.  Ignored when the outbox is off. */
int relais_store_outbox_add(struct relais_store *st, int lane, enum relais_outbox_kind kind,
                            int64_t ref, const char *key, int64_t created_ms);

/* Rows of one lane with after_id < id <= upto_id, by id, at most limit. */
int relais_store_outbox_scan(struct relais_store *st, int lane, int64_t after_id, int64_t upto_id,
                             int limit, int (*cb)(const struct relais_outbox_row *r, void *ud),
                             void *ud);
/* Highest row id (0: empty). */
int relais_store_outbox_max_id(struct relais_store *st, int64_t *out);

/* The hospital broker acknowledged these rows: they leave, and the packs
 * and alert events with no row left get forwarded_ms = at_ms.  One
 * transaction. */
int relais_store_outbox_done(struct relais_store *st, const int64_t *ids, size_t n, int64_t at_ms);
/* A send of these rows failed (connection lost before the PUBACK). */
int relais_store_outbox_failed(struct relais_store *st, const int64_t *ids, size_t n,
                               int64_t at_ms);
/* Moves a row to dead_letters with why, and what was sent (may be NULL). */
int relais_store_outbox_dead(struct relais_store *st, int64_t id, const char *reason,
                             const char *topic, const void *body, size_t len, int64_t at_ms);

struct relais_outbox_stats {
    uint64_t depth[RELAIS_OUTBOX_LANES];
    int64_t oldest_ms[RELAIS_OUTBOX_LANES]; /* created_ms of the oldest row; 0: none */
    uint64_t dead;
};
int relais_store_outbox_stats(struct relais_store *st, struct relais_outbox_stats *out);

struct relais_dead_letter {
    int64_t id;
    int lane;
    enum relais_outbox_kind kind;
    int64_t ref;
    const char *key;
    int64_t created_ms, dead_ms;
    int attempts;
    const char *reason;
    const char *topic; /* NULL: nothing was rendered */
    size_t body_len;
};
/* The dead letters, newest first, at most limit (<= 0: all). */
int relais_store_foreach_dead_letter(struct relais_store *st, int64_t limit,
                                     int (*cb)(const struct relais_dead_letter *d, void *ud),
                                     void *ud);

/* One stored pack and its records, for rendering. */
int relais_store_pack_load(struct relais_store *st, int64_t pack_id,
                           int (*cb)(const struct relais_stored_pack *p,
                                     const struct relais_stored_reading *recs, size_t n, void *ud),
                           void *ud);

/* One alert event by id (RELAIS_ENOTFOUND when absent); ev is borrowed. */
struct relais_alert_event;
int relais_store_alert_event_load(struct relais_store *st, int64_t id,
                                  int (*cb)(const struct relais_alert_event *ev, void *ud),
                                  void *ud);

/* A device's last pack (received_ms; 0: never) and newest battery level. */
int relais_store_device_last(struct relais_store *st, const char *device, int64_t *seen_ms,
                             bool *has_battery, double *battery);

/* Drops by reason (persisted): a reading evicted over quota, a dead letter... */
int relais_store_drop_add(struct relais_store *st, const char *reason, uint64_t n);
int relais_store_foreach_drop(struct relais_store *st,
                              int (*cb)(const char *reason, uint64_t n, void *ud), void *ud);

#endif
