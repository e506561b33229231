/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The care plan (DESIGN.md 6): which devices are the patient's, the regimen
 * and its dose slots, the rule thresholds, the teams and their delays, and
 * the pathway profile that picks the default routing and escalation.
 *
 * A plan is parsed and validated whole; the first bad field is named by its
 * path ("regimen.slots[1].time: '25:00' is not HH:MM").  A plan never half
 * applies: relais_careplan_parse() fills a fresh struct or fails.
 *
 * docs/careplan.md documents every field with its default and range;
 * docs/careplan.schema.json is its JSON Schema; docs/careplans/ has examples.
 */
#ifndef RELAIS_CAREPLAN_H
#define RELAIS_CAREPLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relais/wire.h"

#define RELAIS_CAREPLAN_MAX_BYTES    65536
#define RELAIS_CAREPLAN_MAX_DEVICES  16
#define RELAIS_CAREPLAN_MAX_SLOTS    8
#define RELAIS_CAREPLAN_MAX_RANGES   8
#define RELAIS_CAREPLAN_MAX_TEAMS    8
#define RELAIS_TEAM_MAX              32
#define RELAIS_PATIENT_PSEUDONYM_MAX 32

/* IEC 60601-1-8 alarm priorities. */
enum relais_priority {
    RELAIS_PRIO_LOW = 0,
    RELAIS_PRIO_MEDIUM = 1,
    RELAIS_PRIO_HIGH = 2,
};
const char *relais_priority_name(enum relais_priority p); /* "LOW", "MEDIUM", "HIGH" */

enum relais_pathway {
    RELAIS_PATHWAY_STANDARD = 0, /* a standard protocol */
    RELAIS_PATHWAY_RARE,         /* a rare cancer, followed with an expert centre */
    RELAIS_PATHWAY_NON_STANDARD, /* outside standard protocols (trial, adapted doses) */
    RELAIS_PATHWAY_ADVANCED,     /* advanced or metastatic, beyond standard lines */
};
const char *relais_pathway_name(enum relais_pathway p);

/* The rules of DESIGN 6 (ids as in the plan's "rules" object). */
enum relais_rule {
    RELAIS_RULE_FEVER = 0,
    RELAIS_RULE_FEVER_BORDERLINE,
    RELAIS_RULE_HYPOTHERMIA,
    RELAIS_RULE_DESATURATION,
    RELAIS_RULE_HEART_RATE,
    RELAIS_RULE_BLOOD_PRESSURE,
    RELAIS_RULE_WEIGHT_LOSS,
    RELAIS_RULE_SYMPTOM,
    RELAIS_RULE_MISSED_DOSE,
    RELAIS_RULE_DOUBLE_DOSE,
    RELAIS_RULE_REST_DAY_DOSE,
    RELAIS_RULE_DRUG_HOLIDAY,
    RELAIS_RULE_DEVICE_SILENT,
    RELAIS_RULE_SEQ_RESET,        /* technical */
    RELAIS_RULE_CLOCK_NOT_SYNCED, /* technical */
    RELAIS_RULE_STORE_BUSY,       /* technical */
    RELAIS_RULE_UNBOUND_DEVICE,   /* technical */
    RELAIS_RULE_COUNT
};
const char *relais_rule_name(enum relais_rule r);
/* -1 when the name is not a rule id. */
int relais_rule_from_name(const char *name);

/* Thresholds and settings of the rules, defaults from DESIGN 6 (their clinical
 * sources are in docs/clinical-rules.md). */
struct relais_rule_settings {
    bool enabled[RELAIS_RULE_COUNT];
    /* fever: >= high once, or >= sustained over sustained_min (HIGH) */
    double fever_high, fever_sustained;
    uint32_t fever_sustained_min;
    /* fever_borderline: in [borderline_low, fever_high) once (MEDIUM) */
    double fever_borderline_low;
    /* hypothermia: <= low (HIGH) */
    double hypothermia_low;
    /* desaturation: <= high_max (HIGH); <= medium_max (MEDIUM) */
    double spo2_high_max, spo2_medium_max;
    /* heart rate: >= high_above or <= high_below (HIGH); >= medium_above (MEDIUM) */
    double hr_high_above, hr_high_below, hr_medium_above;
    /* blood pressure: sys <= sys_low or sys >= sys_high or dia >= dia_high (HIGH);
     * sys >= sys_medium or dia >= dia_medium (MEDIUM); the mean over
     * low_window_h within [sys_low_band, sys_medium) or [dia_low_band, dia_medium) (LOW) */
    double bp_sys_low, bp_sys_high, bp_dia_high, bp_sys_medium, bp_dia_medium;
    double bp_sys_low_band, bp_dia_low_band;
    uint32_t bp_low_window_h;
    /* weight loss: >= percent over days against the baseline (MEDIUM) */
    double weight_loss_percent;
    uint32_t weight_loss_days;
    double weight_baseline_kg; /* 0: the highest weight of the last `days` */
    /* symptoms (CTCAE grades): medium_grade for diarrhoea or hand-foot syndrome
     * (MEDIUM); high_grade for any symptom, or diarrhoea >= medium_grade with fever (HIGH) */
    uint32_t symptom_medium_grade, symptom_high_grade;
    /* missed dose: a slot's window is judged this long after it ends (the
     * pill box's report may be on its way) */
    uint32_t missed_grace_min;
    /* drug holiday: at least this many treatment days in a row without a dose */
    uint32_t drug_holiday_days;
    /* device silent: no data for periods x the device's period */
    uint32_t silent_periods;
    /* clock not synced: for this long before the alert */
    uint32_t clock_unsynced_min;
    /* hysteresis: a condition must be gone this long before its alert clears */
    uint32_t clear_after_min;
};

struct relais_careplan_device {
    char id[RELAIS_WIRE_ID_MAX + 1];
    char kind[17];
    uint32_t period_s;
};

struct relais_dose_slot {
    char id[17];
    uint32_t minute;     /* minutes after local midnight */
    uint32_t window_min; /* the dose is on time within +/- window_min / 2 */
};

struct relais_team {
    char name[RELAIS_TEAM_MAX + 1];
    uint32_t ack_within_min; /* re-notified (HIGH: escalated) when not acknowledged in time */
    char escalate_to[RELAIS_TEAM_MAX + 1]; /* "" : no escalation */
    uint32_t call15_after_min; /* HIGH only: the patient is told to call 15; 0 = never */
};

struct relais_careplan {
    int64_t version;
    char patient[RELAIS_PATIENT_PSEUDONYM_MAX + 1];
    enum relais_pathway pathway;
    char timezone[64];
    struct relais_careplan_device devices[RELAIS_CAREPLAN_MAX_DEVICES];
    size_t ndevices;
    /* regimen */
    char drug[65];
    double dose_mg;     /* 0: not given */
    int32_t start_days; /* day 1 of cycle 1, as days since 1970-01-01 (local date) */
    uint32_t cycle_days;
    uint32_t cycles; /* 0: until a new plan */
    uint32_t days_on[RELAIS_CAREPLAN_MAX_RANGES][2];
    size_t ndays_on;
    struct relais_dose_slot slots[RELAIS_CAREPLAN_MAX_SLOTS];
    size_t nslots;
    /* rules, with the plan's overrides applied */
    struct relais_rule_settings rules;
    /* routing: the team of each rule by priority, and the teams */
    char route[RELAIS_RULE_COUNT][3][RELAIS_TEAM_MAX + 1];
    struct relais_team teams[RELAIS_CAREPLAN_MAX_TEAMS];
    size_t nteams;
};

struct relais_careplan_error {
    char message[256]; /* "field.path: why" */
};

/*
 * Parses and validates a plan (JSON text, at most 64 KiB).  Defaults come
 * from the pathway profile, then the plan's "rules" and "teams" override
 * them.  Returns RELAIS_OK, or RELAIS_EPARSE with the first bad field named.
 */
int relais_careplan_parse(struct relais_careplan *plan, const char *json, size_t len,
                          struct relais_careplan_error *err);

/* The settings that hold where no plan binds (pathway "standard", default
 * rules and teams; the "unbound" pseudonym, time zone UTC, no devices, no
 * regimen). */
void relais_careplan_defaults(struct relais_careplan *plan);

/* The team that receives an alert of rule r at priority p. */
const char *relais_careplan_team_for(const struct relais_careplan *plan, enum relais_rule r,
                                     enum relais_priority p);
/* A team of the plan (or of the pathway's defaults), or NULL. */
const struct relais_team *relais_careplan_team(const struct relais_careplan *plan,
                                               const char *name);
/* The plan's device of that id, or NULL (the device is then "unbound"). */
const struct relais_careplan_device *relais_careplan_device(const struct relais_careplan *plan,
                                                            const char *id);

/* ---- the dose schedule (local time in the plan's timezone) ---- */

/* Cycle and day (1-based) of a local date given as days since 1970-01-01;
 * returns false before the start or after the last cycle. */
bool relais_careplan_cycle_day(const struct relais_careplan *plan, int32_t local_days,
                               uint32_t *cycle, uint32_t *day);
/* True when doses are prescribed that local date. */
bool relais_careplan_on_day(const struct relais_careplan *plan, int32_t local_days);

#endif
