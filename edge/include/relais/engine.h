/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The rules engine: the care plan, the clinical and technical rules, dose
 * schedules and reminders, and the alert lifecycle (DESIGN.md 6).
 *
 * Everything it knows lives in the store, so that a crash or a restart
 * changes nothing: the packs it has evaluated (a watermark on the pack log),
 * its per-patient state, the dose slots, the alerts with their timers, the
 * commands for devices.  Each call below is one transaction: the caller
 * must not hold one open (relaisd commits the ingest batch first).
 *
 *   relais_engine_run():  clock check -> time events due up to now, in time
 *                         order (reminders, windows, silences, escalations,
 *                         conditions) -> packs stored since the watermark
 *                         -> commit
 *   relais_engine_deliver(): hands undelivered notifications to a backend;
 *                         a delivered "raised" makes the alert "notified"
 *
 * Time: the engine reads one struct relais_clock.  Wall time (in the plan's
 * time zone) places the dose slots; every timer is a wall-clock deadline in
 * the store, and when the wall clock jumps against the monotonic one (by
 * more than jump_threshold_ms) the open timers move with it: a jump neither
 * fires an escalation early nor delays it, a forward jump marks the slots it
 * skipped "unknown" (no reminder, no missed-dose alert), a backward jump
 * brings the slot cursor back: the slots judged "unknown" with no dose are
 * watched again, what was seen stays, a dose-free day is counted once.  A
 * slot without a dose is "unknown", not "missed", while the pill box's clock
 * disagrees with the gateway's by more than 30 min (docs/careplan.md#time).
 */
#ifndef RELAIS_ENGINE_H
#define RELAIS_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relais/careplan.h"
#include "relais/clock.h"
#include "relais/store.h"
#include "relais/store_care.h"

struct relais_engine;

struct relais_engine_opts {
    const char *gateway_id;     /* alert ids are "{gateway}-{n}" */
    uint32_t jump_threshold_ms; /* a wall-clock step larger than this is a jump (5000) */
    uint32_t max_renotify;      /* MEDIUM and LOW: re-notifications when unacknowledged (0: none) */
    uint32_t max_packs_per_run; /* bounded work per transaction (4096) */
};

struct relais_engine_stats {
    uint64_t runs, packs, readings;
    uint64_t raised, upgraded, cleared, acknowledged, resolved, escalated, call15, renotified;
    uint64_t reminders, commands;
    uint64_t plans_applied, plans_rejected;
    uint64_t clock_jumps;
    int64_t last_jump_ms; /* size of the last jump (signed), 0 if none */
    uint64_t failures;    /* runs rolled back */
};

/* store and clock are borrowed.  Loads the newest plan and the state. */
int relais_engine_create(struct relais_engine **out, struct relais_store *store,
                         const struct relais_clock *clock, const struct relais_engine_opts *opts);
void relais_engine_destroy(struct relais_engine *e);

/* ---- care plans ---- */

enum relais_plan_status {
    RELAIS_PLAN_APPLIED = 0,
    RELAIS_PLAN_UNCHANGED, /* the same version and text as the active plan */
    RELAIS_PLAN_REJECTED,
};

struct relais_plan_result {
    enum relais_plan_status status;
    int64_t version; /* of the plan offered (0 when unreadable) */
    int64_t active_version;
    char error[256]; /* REJECTED: the first bad field and why */
};

/* The one path for every source (the [careplan] file, relaisctl, the
 * hospital): validate whole, refuse a version that is not newer than the
 * active one (the same text again is UNCHANGED), apply atomically, audit
 * either way.  Returns RELAIS_OK when res says what happened (applied,
 * unchanged or rejected), or a store error. */
int relais_engine_apply_plan(struct relais_engine *e, const char *json, size_t len,
                             const char *source, struct relais_plan_result *res);
/* The active plan, or NULL. */
const struct relais_careplan *relais_engine_plan(const struct relais_engine *e);

/* ---- running ---- */

/* Processes what is due and what was stored since the last run.  *more is
 * set when work is left (the pack bound was reached): run again soon. */
int relais_engine_run(struct relais_engine *e, bool *more);
/* Wall time (ms) of the next time event; INT64_MAX when none. */
int64_t relais_engine_next_due(struct relais_engine *e);

/* A gateway condition (RELAIS_RULE_STORE_BUSY, RELAIS_RULE_CLOCK_NOT_SYNCED)
 * became active or inactive; it is judged at the next run. */
/* The options a SIGHUP may change ([rules] clock_jump_ms, renotify_max);
 * the others stay as created.  Alerts already waiting keep their timer. */
void relais_engine_set_limits(struct relais_engine *e, uint32_t jump_threshold_ms,
                              uint32_t max_renotify);

void relais_engine_set_condition(struct relais_engine *e, enum relais_rule rule, bool active,
                                 const char *detail);

/* ---- professionals' acts ---- */

enum relais_alert_action { RELAIS_ACT_ACK = 0, RELAIS_ACT_RESOLVE };

/* Acknowledges or resolves an alert in the name of a professional (the
 * same function for relaisctl and, later, the hospital's ack topic).
 * RELAIS_ENOTFOUND (no such alert), RELAIS_EINVAL (bad name: why in err),
 * RELAIS_EEXIST (already done: err says by whom).  out, when not NULL,
 * receives the alert after the act. */
int relais_engine_act(struct relais_engine *e, const char *alert_id, enum relais_alert_action act,
                      const char *by, struct relais_alert *out, char *err, size_t errcap);

/* ---- notifications ---- */

/* Delivers one notification: RELAIS_OK when done (it is marked delivered
 * now), RELAIS_EAGAIN to try again later (the next deliver). */
typedef int (*relais_engine_notify_cb)(void *ud, const struct relais_alert_event *ev,
                                       const struct relais_alert *alert);
/* Hands the undelivered notifications to cb, oldest first; *delivered
 * counts them.  One transaction. */
int relais_engine_deliver(struct relais_engine *e, relais_engine_notify_cb cb, void *ud,
                          unsigned *delivered);

void relais_engine_get_stats(const struct relais_engine *e, struct relais_engine_stats *out);

#endif
