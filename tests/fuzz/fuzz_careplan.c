/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the care plan parser (edge/src/careplan.c).  Each
 * input is a plan text given to relais_careplan_parse(); aborts when the
 * result breaks the contract of relais/careplan.h and docs/careplan.schema.json:
 *
 *   accepted: every field within its range; device ids valid and unique;
 *             slots in the order of the day with windows that do not overlap
 *             (the last with the next day's first); days_on ranges in order
 *             within the cycle; the rules' cross-field orders hold; every
 *             routed team and escalation target is a team of the plan and no
 *             escalation loops; call 15 comes after the acknowledgement delay;
 *             cycle_day()/on_day() agree with the regimen over the days
 *             around the start and a few cycles;
 *   refused:  RELAIS_EPARSE, a NUL-terminated "path: why" message, and the
 *             plan cleared to zeros.
 *
 * Seeds: tests/fuzz/corpus/careplan/: the example plans of docs/careplans/
 * and tests/scenarios/plans/, and small valid and invalid variants (ok-*,
 * bad-*).
 * Build (from the project root, clang: the dev preset) and run:
 *   cmake --preset dev && cmake --build build/dev --target fuzz_careplan
 *   build/dev/tests/fuzz_careplan -max_total_time=60 tests/fuzz/corpus/careplan/
 * (ctest runs it for RELAIS_FUZZ_SECONDS; new inputs go to the build tree's fuzz-work/.)
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relais/careplan.h"
#include "relais/error.h"
#include "relais/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

static bool team_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > RELAIS_TEAM_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
              s[i] == '_'))
            return false;
    return true;
}

static void check_regimen(const struct relais_careplan *p)
{
    if (!terminated(p->drug, sizeof p->drug) || !p->drug[0]) abort();
    if (p->dose_mg != 0 && !(p->dose_mg >= 0.001 && p->dose_mg <= 100000)) abort();
    if (p->cycle_days < 1 || p->cycle_days > 365 || p->cycles > 1000) abort();
    if (p->ndays_on < 1 || p->ndays_on > RELAIS_CAREPLAN_MAX_RANGES) abort();
    for (size_t i = 0; i < p->ndays_on; i++) {
        if (p->days_on[i][0] < 1 || p->days_on[i][0] > p->days_on[i][1] ||
            p->days_on[i][1] > p->cycle_days)
            abort();
        if (i && p->days_on[i][0] <= p->days_on[i - 1][1]) abort();
    }
    if (p->nslots < 1 || p->nslots > RELAIS_CAREPLAN_MAX_SLOTS) abort();
    for (size_t i = 0; i < p->nslots; i++) {
        const struct relais_dose_slot *s = &p->slots[i];
        if (!terminated(s->id, sizeof s->id) || !team_name_ok(s->id) || strlen(s->id) > 16) abort();
        if (s->minute >= 1440 || s->window_min < 10 || s->window_min > 720) abort();
        if (i && s->minute <= p->slots[i - 1].minute) abort();
        for (size_t j = 0; j < i; j++)
            if (strcmp(p->slots[j].id, s->id) == 0) abort();
        if (p->nslots > 1) {
            const struct relais_dose_slot *n = &p->slots[(i + 1) % p->nslots];
            int64_t end = (int64_t)s->minute + s->window_min / 2;
            int64_t next = (int64_t)n->minute + (i + 1 == p->nslots ? 1440 : 0) - n->window_min / 2;
            if (end > next) abort();
        }
    }
}

static void check_rules(const struct relais_rule_settings *r)
{
    if (r->fever_sustained > r->fever_high || r->fever_borderline_low > r->fever_high) abort();
    if (r->hypothermia_low >= r->fever_borderline_low) abort();
    if (r->spo2_medium_max < r->spo2_high_max) abort();
    if (r->hr_medium_above > r->hr_high_above || r->hr_high_below >= r->hr_medium_above) abort();
    if (r->bp_sys_low >= r->bp_sys_low_band || r->bp_sys_low_band > r->bp_sys_medium ||
        r->bp_sys_medium > r->bp_sys_high)
        abort();
    if (r->bp_dia_low_band > r->bp_dia_medium || r->bp_dia_medium > r->bp_dia_high) abort();
    if (r->symptom_medium_grade < 1 || r->symptom_medium_grade > r->symptom_high_grade ||
        r->symptom_high_grade > 4)
        abort();
    if (r->clear_after_min > 1440 || r->missed_grace_min > 240 || r->silent_periods < 1) abort();
    if (r->fever_sustained_min < 1 || r->bp_low_window_h < 1 || r->weight_loss_days < 1) abort();
}

static void check_teams(const struct relais_careplan *p)
{
    if (p->nteams < 3 || p->nteams > RELAIS_CAREPLAN_MAX_TEAMS) abort();
    for (size_t i = 0; i < p->nteams; i++) {
        const struct relais_team *t = &p->teams[i];
        if (!terminated(t->name, sizeof t->name) || !team_name_ok(t->name)) abort();
        if (relais_careplan_team(p, t->name) != t) abort(); /* unique names */
        if (t->ack_within_min < 1 || t->ack_within_min > 10080) abort();
        if (t->call15_after_min && t->call15_after_min <= t->ack_within_min) abort();
        /* the escalation chain ends within the number of teams */
        const struct relais_team *e = t;
        for (size_t hops = 0; e->escalate_to[0]; hops++) {
            if (hops >= p->nteams) abort();
            e = relais_careplan_team(p, e->escalate_to);
            if (!e || e == t) abort();
        }
    }
    for (int r = 0; r < RELAIS_RULE_COUNT; r++)
        for (int prio = RELAIS_PRIO_LOW; prio <= RELAIS_PRIO_HIGH; prio++) {
            const char *team =
                relais_careplan_team_for(p, (enum relais_rule)r, (enum relais_priority)prio);
            if (!team || !relais_careplan_team(p, team)) abort();
        }
}

/* cycle_day()/on_day() over the days around the start and a few cycles. */
static void check_calendar(const struct relais_careplan *p)
{
    int64_t span = (int64_t)p->cycle_days * 3 + 3;
    for (int64_t i = -3; i < span; i++) {
        int32_t d = (int32_t)(p->start_days + i);
        uint32_t cycle = 0, day = 0;
        bool in = relais_careplan_cycle_day(p, d, &cycle, &day);
        bool on = relais_careplan_on_day(p, d);
        if (i < 0) {
            if (in || on) abort();
            continue;
        }
        uint32_t want_cycle = (uint32_t)(i / p->cycle_days) + 1;
        uint32_t want_day = (uint32_t)(i % p->cycle_days) + 1;
        if (in != (p->cycles == 0 || want_cycle <= p->cycles)) abort();
        if (!in) {
            if (on) abort();
            continue;
        }
        if (cycle != want_cycle || day != want_day) abort();
        bool want_on = false;
        for (size_t r = 0; r < p->ndays_on; r++)
            if (day >= p->days_on[r][0] && day <= p->days_on[r][1]) want_on = true;
        if (on != want_on) abort();
    }
}

static void check_plan(const struct relais_careplan *p)
{
    if (p->version < 1 || p->version > (INT64_C(1) << 53)) abort();
    if (!terminated(p->patient, sizeof p->patient) || !p->patient[0] ||
        strcmp(p->patient, "unbound") == 0)
        abort();
    if ((unsigned)p->pathway > RELAIS_PATHWAY_ADVANCED) abort();
    if (!terminated(p->timezone, sizeof p->timezone) || !p->timezone[0] || p->timezone[0] == '/' ||
        strstr(p->timezone, ".."))
        abort();
    if (p->ndevices < 1 || p->ndevices > RELAIS_CAREPLAN_MAX_DEVICES) abort();
    for (size_t i = 0; i < p->ndevices; i++) {
        const struct relais_careplan_device *d = &p->devices[i];
        if (!terminated(d->id, sizeof d->id) || !relais_wire_id_valid(d->id, strlen(d->id)))
            abort();
        if (relais_careplan_device(p, d->id) != d) abort(); /* unique ids */
        if (!terminated(d->kind, sizeof d->kind) || d->period_s < 60 || d->period_s > 604800)
            abort();
    }
    check_regimen(p);
    check_rules(&p->rules);
    check_teams(p);
    check_calendar(p);
}

static bool all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i]) return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct relais_careplan plan; /* about 5 KiB: not on the stack */
    struct relais_careplan_error err;

    memset(&plan, 0xa5, sizeof plan); /* the parser takes it uninitialised */
    memset(&err, 0xa5, sizeof err);
    int rc = relais_careplan_parse(&plan, (const char *)data, size, &err);
    if (rc == RELAIS_OK) {
        check_plan(&plan);
        return 0;
    }
    if (rc != RELAIS_EPARSE) abort();
    if (!terminated(err.message, sizeof err.message)) abort();
    /* the path may be empty: an unknown top-level key "" gives ": unknown field" */
    const char *colon = strstr(err.message, ": ");
    if (!colon || !colon[2]) abort();
    if (!all_zero(&plan, sizeof plan)) abort();
    return 0;
}
