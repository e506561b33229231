/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store's care tables (schema 4): care plan versions, alerts and their
 * history (which is also the notification outbox), dose slots and dose
 * events, commands to devices, and the rules engine's own state.  Writes go
 * inside a transaction (relais_store_begin/commit); reads may go anywhere,
 * relaisctl's read-only store included.
 *
 * Alert life (DESIGN.md 6):
 *
 *   raised --delivered--> notified --ack--> acknowledged --resolve--> resolved
 *      \                     \                  \
 *       +---------------------+------------------+--condition gone--> cleared
 *
 * `open` is 1 until resolved or cleared; at most one open alert per
 * (patient, rule), which a unique index enforces.
 */
#ifndef RELAIS_STORE_CARE_H
#define RELAIS_STORE_CARE_H

#include <stdbool.h>
#include <stdint.h>

#include "relais/store.h"

/* ---- care plans ---- */

struct relais_stored_plan {
    int64_t version;
    char patient[RELAIS_PATIENT_MAX + 1];
    char source[64];
    int64_t applied_ms;
    char *body; /* malloc'd JSON text */
};

int relais_store_plan_put(struct relais_store *st, int64_t version, const char *patient,
                          const char *body, const char *source, int64_t applied_ms);
/* The newest plan; RELAIS_ENOTFOUND when none.  Free out->body. */
int relais_store_plan_latest(struct relais_store *st, struct relais_stored_plan *out);

/* ---- the engine's key/value state ---- */

/* *value is malloc'd; RELAIS_ENOTFOUND when the key is absent. */
int relais_store_kv_get(struct relais_store *st, const char *key, char **value);
int relais_store_kv_set(struct relais_store *st, const char *key, const char *value);

/* ---- new packs for the rules engine ---- */

struct relais_engine_reading {
    int64_t pack_id;
    const char *device;
    int pack_flags;
    int idx; /* -1: a pack without readings */
    const char *metric;
    enum relais_reading_kind kind;
    double value;
    const char *str;
    bool boolean;
    double time;
    enum relais_time_source time_source;
};

/* Highest pack id (0: none). */
int relais_store_last_pack_id(struct relais_store *st, int64_t *out);
/* The readings of packs after_id < id <= upto_id, in pack and record order. */
int relais_store_foreach_new_reading(struct relais_store *st, int64_t after_id, int64_t upto_id,
                                     int (*cb)(const struct relais_engine_reading *r, void *ud),
                                     void *ud);

/* ---- alerts ---- */

#define RELAIS_ALERT_ID_MAX 64

struct relais_alert {
    char id[RELAIS_ALERT_ID_MAX + 1];
    char patient[RELAIS_PATIENT_MAX + 1];
    char rule[24];
    int priority; /* enum relais_priority */
    char team[33];
    char state[16]; /* raised, notified, acknowledged, resolved, cleared */
    bool open;
    int64_t raised_ms, notified_ms, acked_ms, closed_ms; /* 0: not yet */
    int64_t since_ms; /* since when at this priority (the raise, or the upgrade): the
                         escalation delays count from it */
    char acked_by[65], closed_by[65];
    int level;       /* escalation steps taken: 1 escalated, 2 call 15 */
    int renotified;  /* re-notifications sent */
    int64_t next_ms; /* next escalation or re-notification; 0: none */
    int64_t plan_version;
    char evidence[2048]; /* JSON */
};

/* The number of the next alert (its id is "{gateway}-{number}"). */
int relais_store_alert_next_number(struct relais_store *st, int64_t *out);
int relais_store_alert_insert(struct relais_store *st, const struct relais_alert *a);
int relais_store_alert_update(struct relais_store *st, const struct relais_alert *a);
/* RELAIS_ENOTFOUND when absent. */
int relais_store_alert_get(struct relais_store *st, const char *id, struct relais_alert *out);
int relais_store_alert_get_open(struct relais_store *st, const char *patient, const char *rule,
                                struct relais_alert *out);
/* Earliest next_ms of the open alerts; 0 when none. */
int relais_store_alert_next_due(struct relais_store *st, int64_t *out);

struct relais_alert_filter {
    bool open_only;
    const char *patient; /* NULL: all */
    int64_t since_ms;    /* raised at or after; 0: all */
    int64_t limit;       /* <= 0: all (oldest first), else the newest `limit` */
};
int relais_store_foreach_alert(struct relais_store *st, const struct relais_alert_filter *f,
                               int (*cb)(const struct relais_alert *a, void *ud), void *ud);
/* Moves the time stamps and timers of open alerts by delta_ms (a clock jump). */
int relais_store_alerts_shift(struct relais_store *st, int64_t delta_ms);

struct relais_alert_event {
    int64_t id;
    const char *alert;
    int64_t at_ms;
    const char *event; /* raised, upgraded, again, renotified, escalated, call15,
                          acknowledged, resolved, cleared */
    const char *team;
    int priority;
    const char *by; /* NULL unless a professional's act */
    const char *detail;
    bool notify;          /* a message for the team (the outbox) */
    int64_t delivered_ms; /* 0: not yet */
};

int relais_store_alert_event_add(struct relais_store *st, const struct relais_alert_event *e);
/* Events of one alert (alert != NULL) or of all, oldest first, id > after_id. */
int relais_store_foreach_alert_event(struct relais_store *st, const char *alert, int64_t after_id,
                                     int (*cb)(const struct relais_alert_event *e, void *ud),
                                     void *ud);
/* Notifications not delivered yet, oldest first, at most limit. */
int relais_store_foreach_undelivered(struct relais_store *st, int limit,
                                     int (*cb)(const struct relais_alert_event *e, void *ud),
                                     void *ud);
int relais_store_alert_event_delivered(struct relais_store *st, int64_t event_id, int64_t at_ms);

/* ---- dose slots and dose events ---- */

struct relais_slot_row {
    char patient[RELAIS_PATIENT_MAX + 1];
    char key[40]; /* "YYYY-MM-DDTHH:MM/{slot}" (local time) */
    char slot[17];
    char date[11];
    int cycle, day;
    bool on_day;
    int64_t due_ms, start_ms, end_ms;
    char status[12];     /* pending, taken, early, late, missed, unknown */
    int64_t reminded_ms; /* 0: no reminder sent */
    int doses;
    int64_t first_dose_ms;
};

int relais_store_slot_put(struct relais_store *st, const struct relais_slot_row *s);
int relais_store_slot_get(struct relais_store *st, const char *patient, const char *key,
                          struct relais_slot_row *out);
/* Slots of a patient in due order (from_ms <= due_ms < to_ms; 0, 0: all). */
int relais_store_foreach_slot(struct relais_store *st, const char *patient, int64_t from_ms,
                              int64_t to_ms, int (*cb)(const struct relais_slot_row *s, void *ud),
                              void *ud);

struct relais_dose_event {
    const char *patient;
    const char *device;
    int64_t pack_id;
    int idx;
    int64_t t_ms;
    const char *date;     /* local date */
    const char *slot_key; /* NULL: no slot (a dose on a rest day) */
    const char *kind;     /* taken, early, late, double, rest_day */
};

int relais_store_dose_event_add(struct relais_store *st, const struct relais_dose_event *e);
int relais_store_foreach_dose_event(struct relais_store *st, const char *patient,
                                    int (*cb)(const struct relais_dose_event *e, void *ud),
                                    void *ud);

/* ---- commands to devices (relais/dev/{device}/cmd) ---- */

struct relais_command {
    int64_t id;
    const char *device;
    const char *body; /* JSON */
    int64_t created_ms, expires_ms;
    const char *state; /* pending, sent, expired */
    int64_t sent_ms;
};

int relais_store_command_add(struct relais_store *st, const char *device, const char *body,
                             int64_t created_ms, int64_t expires_ms);
/* Pending commands, oldest first (expired ones included: the caller decides). */
int relais_store_foreach_pending_command(struct relais_store *st,
                                         int (*cb)(const struct relais_command *c, void *ud),
                                         void *ud);
/* Every command, oldest first, or the newest `limit`. */
int relais_store_foreach_command(struct relais_store *st, int64_t limit,
                                 int (*cb)(const struct relais_command *c, void *ud), void *ud);
int relais_store_command_state(struct relais_store *st, int64_t id, const char *state,
                               int64_t at_ms);

#endif
