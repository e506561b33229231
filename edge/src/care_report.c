/* SPDX-License-Identifier: Apache-2.0 */
/* Reports on alerts, adherence and delays of care (see relais/care_report.h). */
#include "relais/care_report.h"
#include "relais/error.h"
#include "relais/tz.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *ms_or_null(int64_t v)
{
    return v ? json_integer(v) : json_null();
}

static json_t *str_or_null(const char *s)
{
    return s && s[0] ? json_string(s) : json_null();
}

json_t *relais_report_alert(const struct relais_alert *a)
{
    json_t *ev = json_loads(a->evidence, 0, NULL);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(a->id));
    json_object_set_new(o, "patient", json_string(a->patient));
    json_object_set_new(o, "rule", json_string(a->rule));
    json_object_set_new(o, "priority",
                        json_string(relais_priority_name((enum relais_priority)a->priority)));
    json_object_set_new(o, "team", json_string(a->team));
    json_object_set_new(o, "state", json_string(a->state));
    json_object_set_new(o, "open", json_boolean(a->open));
    json_object_set_new(o, "raised_ms", json_integer(a->raised_ms));
    json_object_set_new(o, "notified_ms", ms_or_null(a->notified_ms));
    json_object_set_new(o, "acked_ms", ms_or_null(a->acked_ms));
    json_object_set_new(o, "acked_by", str_or_null(a->acked_by));
    json_object_set_new(o, "closed_ms", ms_or_null(a->closed_ms));
    json_object_set_new(o, "closed_by", str_or_null(a->closed_by));
    json_object_set_new(o, "level", json_integer(a->level));
    json_object_set_new(o, "renotified", json_integer(a->renotified));
    json_object_set_new(o, "next_ms", ms_or_null(a->next_ms));
    json_object_set_new(o, "plan_version",
                        a->plan_version ? json_integer(a->plan_version) : json_null());
    json_object_set_new(o, "evidence", ev ? ev : json_object());
    return o;
}

static int alert_cb(const struct relais_alert *a, void *ud)
{
    json_array_append_new(ud, relais_report_alert(a));
    return 0;
}

json_t *relais_report_alerts(struct relais_store *st, const struct relais_alert_filter *f)
{
    json_t *arr = json_array();
    if (relais_store_foreach_alert(st, f, alert_cb, arr) < 0) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

struct events_walk {
    struct relais_store *st;
    json_t *arr;
    struct relais_alert a; /* the last alert looked up */
};

static int event_cb(const struct relais_alert_event *ev, void *ud)
{
    struct events_walk *w = ud;
    if (strcmp(w->a.id, ev->alert) != 0 && relais_store_alert_get(w->st, ev->alert, &w->a) != 0)
        memset(&w->a, 0, sizeof w->a);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(ev->id));
    json_object_set_new(o, "alert", json_string(ev->alert));
    json_object_set_new(o, "rule", json_string(w->a.rule));
    json_object_set_new(o, "patient", json_string(w->a.patient));
    json_object_set_new(o, "at_ms", json_integer(ev->at_ms));
    json_object_set_new(o, "event", json_string(ev->event));
    json_object_set_new(o, "team", json_string(ev->team));
    json_object_set_new(o, "priority",
                        json_string(relais_priority_name((enum relais_priority)ev->priority)));
    json_object_set_new(o, "by", str_or_null(ev->by));
    json_object_set_new(o, "detail", json_string(ev->detail ? ev->detail : ""));
    json_object_set_new(o, "notify", json_boolean(ev->notify));
    json_object_set_new(o, "delivered_ms", ms_or_null(ev->delivered_ms));
    json_array_append_new(w->arr, o);
    return 0;
}

json_t *relais_report_events(struct relais_store *st, const char *alert, int64_t after_id)
{
    struct events_walk *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->st = st;
    w->arr = json_array();
    json_t *arr = w->arr;
    if (relais_store_foreach_alert_event(st, alert, after_id, event_cb, w) < 0) {
        json_decref(arr);
        arr = NULL;
    }
    free(w);
    return arr;
}

static int command_cb(const struct relais_command *c, void *ud)
{
    json_t *body = json_loads(c->body, 0, NULL);
    json_array_append_new(
        ud, json_pack("{s:I, s:s, s:o, s:I, s:I, s:s, s:o}", "id", (json_int_t)c->id, "device",
                      c->device, "body", body ? body : json_string(c->body), "created_ms",
                      (json_int_t)c->created_ms, "expires_ms", (json_int_t)c->expires_ms, "state",
                      c->state, "sent_ms", ms_or_null(c->sent_ms)));
    return 0;
}

json_t *relais_report_commands(struct relais_store *st, int64_t limit)
{
    json_t *arr = json_array();
    if (relais_store_foreach_command(st, limit, command_cb, arr) < 0) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

int relais_report_load_plan(struct relais_store *st, struct relais_careplan *out)
{
    struct relais_stored_plan sp;
    int rc = relais_store_plan_latest(st, &sp);
    if (rc) return rc;
    struct relais_careplan_error err;
    rc = relais_careplan_parse(out, sp.body, strlen(sp.body), &err);
    free(sp.body);
    return rc;
}

/* ====================================================================== */
/* adherence                                                               */
/* ====================================================================== */

#define MAX_REPORT_DAYS 1100

struct day {
    int32_t days;
    uint32_t cycle, day;
    bool on;
    bool watched; /* on or after the gateway's first plan for the patient */
    const char *status[RELAIS_CAREPLAN_MAX_SLOTS];
    int slot_doses[RELAIS_CAREPLAN_MAX_SLOTS];
    char status_buf[RELAIS_CAREPLAN_MAX_SLOTS][12];
    int rest_doses; /* doses on a day without prescribed doses */
    int doses;      /* every dose of the day */
};

struct adh {
    const struct relais_careplan *plan;
    int32_t first;
    size_t ndays;
    struct day *d;
};

static struct day *day_at(struct adh *a, const char *date)
{
    int y, m, dd;
    if (!date || sscanf(date, "%d-%d-%d", &y, &m, &dd) != 3) return NULL;
    int32_t days = relais_tz_days_from_civil(y, (unsigned)m, (unsigned)dd);
    if (days < a->first || days >= a->first + (int32_t)a->ndays) return NULL;
    return &a->d[days - a->first];
}

static int slot_cb(const struct relais_slot_row *s, void *ud)
{
    struct adh *a = ud;
    struct day *d = day_at(a, s->date);
    if (!d) return 0;
    for (size_t i = 0; i < a->plan->nslots; i++)
        if (strcmp(a->plan->slots[i].id, s->slot) == 0) {
            snprintf(d->status_buf[i], sizeof d->status_buf[i], "%s", s->status);
            d->status[i] = d->status_buf[i];
            d->slot_doses[i] = s->doses;
        }
    return 0;
}

static int dose_cb(const struct relais_dose_event *e, void *ud)
{
    struct adh *a = ud;
    struct day *d = day_at(a, e->date);
    if (!d) return 0;
    d->doses++;
    if (strcmp(e->kind, "rest_day") == 0) d->rest_doses++;
    return 0;
}

static char slot_mark(const char *status, int doses)
{
    if (!status) return ' ';
    if (doses > 1) return '2';
    if (strcmp(status, "taken") == 0) return '+';
    if (strcmp(status, "late") == 0) return 'L';
    if (strcmp(status, "early") == 0) return 'E';
    if (strcmp(status, "missed") == 0) return '-';
    if (strcmp(status, "unknown") == 0) return '?';
    return '.'; /* pending */
}

struct tally {
    int prescribed, taken, on_time, late, early, missed, unknown, doubles, rest_doses;
    int judged_days, correct_days;
};

static json_t *tally_json(const struct tally *t)
{
    int judged = t->taken + t->missed; /* slots with a verdict (unknown excluded) */
    json_t *o = json_object();
    json_object_set_new(o, "prescribed", json_integer(t->prescribed));
    json_object_set_new(o, "judged", json_integer(judged));
    json_object_set_new(o, "taken", json_integer(t->taken));
    json_object_set_new(o, "on_time", json_integer(t->on_time));
    json_object_set_new(o, "early", json_integer(t->early));
    json_object_set_new(o, "late", json_integer(t->late));
    json_object_set_new(o, "missed", json_integer(t->missed));
    json_object_set_new(o, "unknown", json_integer(t->unknown));
    json_object_set_new(o, "double_doses", json_integer(t->doubles));
    json_object_set_new(o, "rest_day_doses", json_integer(t->rest_doses));
    json_object_set_new(o, "taking_pct",
                        judged ? json_real(round(1000.0 * t->taken / judged) / 10) : json_null());
    json_object_set_new(o, "timing_pct",
                        judged ? json_real(round(1000.0 * t->on_time / judged) / 10) : json_null());
    json_object_set_new(o, "days", json_integer(t->judged_days));
    json_object_set_new(o, "correct_days", json_integer(t->correct_days));
    json_object_set_new(o, "correct_days_pct",
                        t->judged_days
                            ? json_real(round(1000.0 * t->correct_days / t->judged_days) / 10)
                            : json_null());
    return o;
}

static void holiday_flush(json_t *holidays, const struct relais_careplan *plan, int *run,
                          int32_t from_days, int32_t to_days)
{
    if (*run >= (int)plan->rules.drug_holiday_days) {
        char from[11], to[11];
        relais_tz_date(from_days, from);
        relais_tz_date(to_days, to);
        json_array_append_new(
            holidays, json_pack("{s:s, s:s, s:i}", "from", from, "to", to, "treatment_days", *run));
    }
    *run = 0;
}

json_t *relais_report_adherence(struct relais_store *st, const struct relais_careplan *plan,
                                int64_t now_ms)
{
    struct relais_local today;
    relais_tz_local(plan->timezone, now_ms, &today);
    struct adh a = {.plan = plan, .first = plan->start_days};
    int64_t since_ms = 0;
    char *v = NULL;
    if (relais_store_kv_get(st, "plan_since", &v) == RELAIS_OK) since_ms = strtoll(v, NULL, 10);
    free(v);
    int32_t last = today.days;
    if (plan->cycles) {
        int32_t end = plan->start_days + (int32_t)(plan->cycles * plan->cycle_days) - 1;
        if (end < last) last = end;
    }
    a.ndays = last >= a.first ? (size_t)(last - a.first + 1) : 0;
    if (a.ndays > MAX_REPORT_DAYS) {
        a.first = last - MAX_REPORT_DAYS + 1;
        a.ndays = MAX_REPORT_DAYS;
    }
    a.d = calloc(a.ndays ? a.ndays : 1, sizeof *a.d);
    if (!a.d) return NULL;
    struct relais_local since;
    relais_tz_local(plan->timezone, since_ms, &since);
    for (size_t i = 0; i < a.ndays; i++) {
        struct day *d = &a.d[i];
        d->days = a.first + (int32_t)i;
        relais_careplan_cycle_day(plan, d->days, &d->cycle, &d->day);
        d->on = relais_careplan_on_day(plan, d->days);
        d->watched = since_ms == 0 || d->days >= since.days;
    }
    if (relais_store_foreach_slot(st, plan->patient, 0, 0, slot_cb, &a) < 0 ||
        relais_store_foreach_dose_event(st, plan->patient, dose_cb, &a) < 0) {
        free(a.d);
        return NULL;
    }

    json_t *days = json_array();
    json_t *cycles = json_array();
    json_t *holidays = json_array();
    struct tally total = {0}, cyc = {0};
    uint32_t cur_cycle = 0;
    int run = 0;
    int32_t run_start = 0, run_end = 0;
    char chron[RELAIS_CAREPLAN_MAX_SLOTS][MAX_REPORT_DAYS + 1];
    memset(chron, 0, sizeof chron);
    for (size_t i = 0; i <= a.ndays; i++) {
        struct day *d = i < a.ndays ? &a.d[i] : NULL;
        if (cur_cycle && (!d || d->cycle != cur_cycle)) {
            json_t *c = tally_json(&cyc);
            json_object_set_new(c, "cycle", json_integer(cur_cycle));
            json_array_append_new(cycles, c);
            memset(&cyc, 0, sizeof cyc);
        }
        if (!d) {
            holiday_flush(holidays, plan, &run, run_start, run_end);
            break;
        }
        cur_cycle = d->cycle;
        char date[11];
        relais_tz_date(d->days, date);
        json_t *slots = json_object();
        int judged = 0, pending = 0, unknown = 0, taken_once = 0;
        for (size_t k = 0; k < plan->nslots; k++) {
            const char *s = d->status[k];
            if (d->on && !s) s = d->watched && d->days <= today.days ? "pending" : "unwatched";
            if (!d->on) s = NULL;
            chron[k][i] = d->on ? (d->watched ? slot_mark(s, d->slot_doses[k]) : ' ')
                                : (d->rest_doses ? 'R' : '.');
            if (!s) continue;
            json_object_set_new(slots, plan->slots[k].id, json_string(s));
            struct tally *ts[2] = {&total, &cyc};
            for (int t = 0; t < 2; t++) {
                if (strcmp(s, "unwatched") == 0) continue;
                if (strcmp(s, "pending") != 0) ts[t]->prescribed++;
                if (strcmp(s, "taken") == 0) ts[t]->on_time++;
                if (strcmp(s, "late") == 0) ts[t]->late++;
                if (strcmp(s, "early") == 0) ts[t]->early++;
                if (!strcmp(s, "taken") || !strcmp(s, "late") || !strcmp(s, "early"))
                    ts[t]->taken++;
                if (strcmp(s, "missed") == 0) ts[t]->missed++;
                if (strcmp(s, "unknown") == 0) ts[t]->unknown++;
                if (d->slot_doses[k] > 1) ts[t]->doubles += d->slot_doses[k] - 1;
            }
            if (strcmp(s, "pending") == 0 || strcmp(s, "unwatched") == 0)
                pending++;
            else if (strcmp(s, "unknown") == 0)
                unknown++;
            else
                judged++;
            if (d->slot_doses[k] == 1) taken_once++;
        }
        if (d->rest_doses) {
            total.rest_doses += d->rest_doses;
            cyc.rest_doses += d->rest_doses;
        }
        /* correct-dosing day: the prescribed number of doses, each in its slot */
        bool complete = d->watched && d->days <= today.days && pending == 0 && unknown == 0 &&
                        (d->on || d->days < today.days);
        bool correct = d->on ? (complete && taken_once == (int)plan->nslots && d->rest_doses == 0)
                             : (complete && d->doses == 0);
        if (complete) {
            total.judged_days++;
            cyc.judged_days++;
            if (correct) {
                total.correct_days++;
                cyc.correct_days++;
            }
        }
        /* drug holidays: treatment days in a row without a dose (rest days
         * and days not fully judged neither count nor break the run) */
        if (d->on && complete) {
            if (d->doses == 0) {
                if (run++ == 0) run_start = d->days;
                run_end = d->days;
            } else {
                holiday_flush(holidays, plan, &run, run_start, run_end);
            }
        }
        json_array_append_new(
            days, json_pack("{s:s, s:i, s:i, s:b, s:o, s:i, s:i, s:o}", "date", date, "cycle",
                            (int)d->cycle, "day", (int)d->day, "treatment_day", d->on, "slots",
                            slots, "doses", d->doses, "prescribed", d->on ? (int)plan->nslots : 0,
                            "correct", complete ? json_boolean(correct) : json_null()));
    }
    /* the chronology: one line per slot, one character per day */
    json_t *chronology = json_object();
    for (size_t k = 0; k < plan->nslots; k++) {
        chron[k][a.ndays] = '\0';
        json_object_set_new(chronology, plan->slots[k].id, json_string(chron[k]));
    }
    json_t *o = json_object();
    json_object_set_new(o, "patient", json_string(plan->patient));
    json_object_set_new(o, "drug", json_string(plan->drug));
    json_object_set_new(o, "plan_version", json_integer(plan->version));
    char first[11];
    relais_tz_date(a.first, first);
    json_object_set_new(o, "from", json_string(first));
    json_object_set_new(o, "total", tally_json(&total));
    json_object_set_new(o, "cycles", cycles);
    json_object_set_new(o, "drug_holidays", holidays);
    json_object_set_new(o, "drug_holiday_days", json_integer(plan->rules.drug_holiday_days));
    json_object_set_new(o, "chronology", chronology);
    json_object_set_new(o, "legend",
                        json_string("+ on time, E early, L late, - missed, 2 double,"
                                    " ? unknown (clock), . rest day / pending,"
                                    " R dose on a rest day"));
    json_object_set_new(o, "days", days);
    free(a.d);
    return o;
}

/* ====================================================================== */
/* delays of care                                                          */
/* ====================================================================== */

#define MAX_DELAY_GROUPS  64
#define MAX_DELAY_SAMPLES 4096

struct group {
    char key[40];
    int alerts, open_unacked;
    int64_t ack[MAX_DELAY_SAMPLES];
    int nack;
    int64_t res[MAX_DELAY_SAMPLES];
    int nres;
};

struct delays {
    struct group *by_patient, *by_team;
    size_t np, nt;
};

static struct group *group_of(struct group *g, size_t *n, const char *key)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(g[i].key, key) == 0) return &g[i];
    if (*n == MAX_DELAY_GROUPS) return NULL;
    struct group *x = &g[(*n)++];
    memset(x, 0, sizeof *x);
    snprintf(x->key, sizeof x->key, "%s", key);
    return x;
}

static void group_add(struct group *g, const struct relais_alert *a)
{
    if (!g) return;
    g->alerts++;
    if (a->acked_ms && g->nack < MAX_DELAY_SAMPLES) g->ack[g->nack++] = a->acked_ms - a->raised_ms;
    if (a->open && !a->acked_ms) g->open_unacked++;
    if (!a->open && a->closed_ms && g->nres < MAX_DELAY_SAMPLES)
        g->res[g->nres++] = a->closed_ms - a->raised_ms;
}

static int delay_cb(const struct relais_alert *a, void *ud)
{
    struct delays *d = ud;
    group_add(group_of(d->by_patient, &d->np, a->patient), a);
    group_add(group_of(d->by_team, &d->nt, a->team), a);
    return 0;
}

static int cmp64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

static json_t *quantiles(int64_t *v, int n)
{
    if (n == 0) return json_null();
    qsort(v, (size_t)n, sizeof *v, cmp64);
    int p90 = (int)ceil(0.9 * n) - 1;
    return json_pack(
        "{s:i, s:I, s:I, s:I}", "n", n, "median_s", (json_int_t)(v[(n - 1) / 2] / 1000), "p90_s",
        (json_int_t)(v[p90 < 0 ? 0 : p90] / 1000), "max_s", (json_int_t)(v[n - 1] / 1000));
}

static json_t *groups_json(struct group *g, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, g[i].key,
                            json_pack("{s:i, s:i, s:o, s:o}", "alerts", g[i].alerts,
                                      "open_unacknowledged", g[i].open_unacked, "raise_to_ack",
                                      quantiles(g[i].ack, g[i].nack), "raise_to_resolve",
                                      quantiles(g[i].res, g[i].nres)));
    return o;
}

json_t *relais_report_delays(struct relais_store *st)
{
    struct delays d = {0};
    d.by_patient = calloc(MAX_DELAY_GROUPS, sizeof *d.by_patient);
    d.by_team = calloc(MAX_DELAY_GROUPS, sizeof *d.by_team);
    json_t *o = NULL;
    if (d.by_patient && d.by_team && relais_store_foreach_alert(st, NULL, delay_cb, &d) >= 0)
        o = json_pack("{s:o, s:o}", "by_patient", groups_json(d.by_patient, d.np), "by_team",
                      groups_json(d.by_team, d.nt));
    free(d.by_patient);
    free(d.by_team);
    return o;
}
