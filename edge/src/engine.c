/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The rules engine (see relais/engine.h): care plan, rules, dose slots,
 * reminders, alert lifecycle, escalation.
 *
 * Alert timers (next_ms), by priority, from the raise (or upgrade) at T with
 * team X (delay a = X.ack_within_min):
 *
 *   HIGH:   T+a          not acknowledged -> re-notified and escalated to
 *                        X.escalate_to (level 1)
 *           T+call15     the patient's devices get {"cmd":"call15"} (level 2)
 *           then re-notified, never giving up, spaced by half the age
 *           of the alert: at least a' (the current team's delay), at most
 *           HIGH_REMIND_MAX (a nurse is reminded, not flooded)
 *   MEDIUM, LOW: every a, re-notified, at most max_renotify times
 *
 * An acknowledgement stops the timers; resolve or all clear closes.
 *
 * Hysteresis: a vital-sign alert clears only when the readings have been
 * normal for clear_after_min (by the readings' own times: at least two
 * normal readings that far apart, none abnormal between); an open alert is
 * upgraded (MEDIUM -> HIGH), never downgraded.  Event alerts (double dose,
 * rest-day dose, sequence reset) stay open until a professional resolves
 * them; a later occurrence adds to the open alert ("again").
 */
#include "relais/engine.h"
#include "relais/error.h"
#include "relais/log.h"
#include "relais/outbox.h"
#include "relais/tz.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SAMPLES        256
#define MAX_WEIGHT_DAYS    370
#define MAX_UNBOUND        8
#define MIN_MS             INT64_C(60000)
#define HOUR_MS            INT64_C(3600000)
#define DAY_MS             INT64_C(86400000)
#define TIME_SKEW_MS       INT64_C(120000) /* a device clock off by more gets a "time" command */
#define TIME_CMD_EVERY     HOUR_MS         /* at most that often per device */
#define HIGH_REMIND_MAX    HOUR_MS         /* the longest gap between reminders of a HIGH alert */
/* A dose slot is not judged "missed" while the pill box's clock and the
 * gateway's disagree by more than this, when the disagreement cannot be a
 * delivery delay (device ahead) or the gateway's clock jumped lately. */
#define SLOT_SKEW_MS       (30 * MIN_MS)
#define SKEW_VALID_MS      (36 * HOUR_MS) /* a skew seen longer ago is forgotten */
#define JUMP_SUSPECT_MS    (48 * HOUR_MS) /* after a jump, the gateway's clock is suspect */
#define CALL15_TTL_MS      (2 * HOUR_MS)
#define BP_PAIR_MS         (10 * MIN_MS) /* systolic and diastolic of one measurement */
#define BP_MEAN_MIN_N      3             /* readings needed for the 24 h mean */
#define FEVER_COMBO_MS     DAY_MS        /* "diarrhoea with fever": fever within 24 h */
#define MAX_EVENTS_PER_RUN 100000
#define SYMPTOM_VALID_MS   (2 * DAY_MS) /* a patient's report holds for two days */
/* Computed values (a loss in percent, a mean) meet a threshold within this:
 * 5 % of 72.0 kg is 68.4 kg, not 68.39999... */
#define EPS                1e-9

enum symptom {
    SYM_DIARRHOEA = 0,
    SYM_NAUSEA,
    SYM_HFS,
    SYM_FATIGUE,
    SYM_PAIN,
    SYM_MUCOSITIS,
    SYM_COUNT
};
static const char *const symptom_names[SYM_COUNT] = {"diarrhoea", "nausea", "hfs",
                                                     "fatigue",   "pain",   "mucositis"};

struct dev_state {
    char id[RELAIS_WIRE_ID_MAX + 1];
    int64_t last_seen_ms;
    int64_t time_cmd_ms;
    int64_t skew_ms;    /* device clock minus gateway clock, at its last timed reading */
    int64_t skew_at_ms; /* gateway time of that reading (0: never seen) */
    bool silent;
};

struct cond_state {
    bool active;
    int64_t since_ms;
    int64_t normal_since_ms;
    char detail[160];
};

struct sample {
    int64_t t;
    double v;
};

struct state {
    struct dev_state dev[RELAIS_CAREPLAN_MAX_DEVICES];
    size_t ndev;
    int64_t above_since;  /* first reading >= fever_sustained of the current run */
    int64_t last_fever_t; /* last reading >= fever_sustained */
    int64_t normal_since[RELAIS_RULE_COUNT];
    struct cond_state cond[2]; /* store busy, clock not synced */
    struct sample sys[MAX_SAMPLES], dia[MAX_SAMPLES];
    size_t nsys, ndia;
    struct {
        int32_t day;
        double kg;
    } weight[MAX_WEIGHT_DAYS];
    size_t nweight;
    int grade[SYM_COUNT];
    int64_t grade_t[SYM_COUNT];
    int64_t symptoms_handled_t; /* reports up to this time were resolved by a professional */
    int dose_free_days;
    int32_t dose_free_last; /* the last local day counted dose-free (replays count once) */
    int64_t jump_at_ms;     /* gateway time of its last clock jump (0: none) */
    char unbound[MAX_UNBOUND][RELAIS_WIRE_ID_MAX + 1];
    size_t nunbound;
};

struct cond_request {
    bool set, active;
    char detail[160];
};

struct relais_engine {
    struct relais_store *st;
    const struct relais_clock *clock;
    struct relais_engine_opts opts;
    char gateway[RELAIS_WIRE_ID_MAX + 1];
    struct relais_careplan plan;
    struct relais_careplan defaults;
    bool has_plan;
    char *plan_body;
    int64_t plan_since_ms; /* this patient's first plan: slots before it are not judged */
    int64_t watermark;     /* last pack evaluated */
    int64_t cursor;        /* slot events up to this wall time are done */
    struct state s;
    struct cond_request req[2];
    bool have_sample;
    int64_t last_wall;
    uint64_t last_mono;
    struct relais_engine_stats stats;
};

static int cond_index(enum relais_rule r)
{
    return r == RELAIS_RULE_STORE_BUSY ? 0 : r == RELAIS_RULE_CLOCK_NOT_SYNCED ? 1 : -1;
}

static const struct relais_careplan *plan_of(const struct relais_engine *e)
{
    return e->has_plan ? &e->plan : &e->defaults;
}

static const char *patient_of(const struct relais_engine *e)
{
    return e->has_plan ? e->plan.patient : "unbound";
}

static int64_t wall_now(const struct relais_engine *e)
{
    return relais_clock_wall_ms(e->clock);
}

/* ======================================================================
 * state persistence (engine_kv: "watermark", "cursor", "plan_since", "state")
 * ====================================================================== */

static json_t *samples_json(const struct sample *s, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("[I, f]", (json_int_t)s[i].t, s[i].v));
    return a;
}

static void samples_load(json_t *a, struct sample *s, size_t *n)
{
    size_t i;
    json_t *v;
    *n = 0;
    json_array_foreach(a, i, v)
    {
        if (*n == MAX_SAMPLES) break;
        s[*n].t = json_integer_value(json_array_get(v, 0));
        s[*n].v = json_number_value(json_array_get(v, 1));
        (*n)++;
    }
}

static json_t *state_json(const struct state *s)
{
    json_t *o = json_object();
    json_t *devs = json_array();
    for (size_t i = 0; i < s->ndev; i++)
        json_array_append_new(devs, json_pack("{s:s, s:I, s:I, s:I, s:I, s:b}", "id", s->dev[i].id,
                                              "seen", (json_int_t)s->dev[i].last_seen_ms,
                                              "time_cmd", (json_int_t)s->dev[i].time_cmd_ms, "skew",
                                              (json_int_t)s->dev[i].skew_ms, "skew_at",
                                              (json_int_t)s->dev[i].skew_at_ms, "silent",
                                              s->dev[i].silent));
    json_object_set_new(o, "devices", devs);
    json_object_set_new(o, "above_since", json_integer(s->above_since));
    json_object_set_new(o, "last_fever_t", json_integer(s->last_fever_t));
    json_t *ns = json_object();
    for (int r = 0; r < RELAIS_RULE_COUNT; r++)
        if (s->normal_since[r])
            json_object_set_new(ns, relais_rule_name((enum relais_rule)r),
                                json_integer(s->normal_since[r]));
    json_object_set_new(o, "normal_since", ns);
    json_t *conds = json_array();
    for (int i = 0; i < 2; i++)
        json_array_append_new(
            conds, json_pack("{s:b, s:I, s:I, s:s}", "active", s->cond[i].active, "since",
                             (json_int_t)s->cond[i].since_ms, "normal_since",
                             (json_int_t)s->cond[i].normal_since_ms, "detail", s->cond[i].detail));
    json_object_set_new(o, "conditions", conds);
    json_object_set_new(o, "sys", samples_json(s->sys, s->nsys));
    json_object_set_new(o, "dia", samples_json(s->dia, s->ndia));
    json_t *w = json_array();
    for (size_t i = 0; i < s->nweight; i++)
        json_array_append_new(w, json_pack("[i, f]", (int)s->weight[i].day, s->weight[i].kg));
    json_object_set_new(o, "weight", w);
    json_t *g = json_object();
    for (int i = 0; i < SYM_COUNT; i++)
        if (s->grade_t[i])
            json_object_set_new(g, symptom_names[i],
                                json_pack("[i, I]", s->grade[i], (json_int_t)s->grade_t[i]));
    json_object_set_new(o, "symptoms", g);
    json_object_set_new(o, "symptoms_handled_t", json_integer(s->symptoms_handled_t));
    json_object_set_new(o, "dose_free_days", json_integer(s->dose_free_days));
    json_object_set_new(o, "dose_free_last", json_integer(s->dose_free_last));
    json_object_set_new(o, "jump_at", json_integer(s->jump_at_ms));
    json_t *ub = json_array();
    for (size_t i = 0; i < s->nunbound; i++)
        json_array_append_new(ub, json_string(s->unbound[i]));
    json_object_set_new(o, "unbound", ub);
    return o;
}

static void state_from_json(struct state *s, json_t *o)
{
    memset(s, 0, sizeof *s);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(o, "devices"), i, v)
    {
        if (s->ndev == RELAIS_CAREPLAN_MAX_DEVICES) break;
        struct dev_state *d = &s->dev[s->ndev++];
        const char *id = json_string_value(json_object_get(v, "id"));
        snprintf(d->id, sizeof d->id, "%s", id ? id : "");
        d->last_seen_ms = json_integer_value(json_object_get(v, "seen"));
        d->time_cmd_ms = json_integer_value(json_object_get(v, "time_cmd"));
        d->skew_ms = json_integer_value(json_object_get(v, "skew"));
        d->skew_at_ms = json_integer_value(json_object_get(v, "skew_at"));
        d->silent = json_is_true(json_object_get(v, "silent"));
    }
    s->above_since = json_integer_value(json_object_get(o, "above_since"));
    s->last_fever_t = json_integer_value(json_object_get(o, "last_fever_t"));
    json_t *ns = json_object_get(o, "normal_since");
    for (int r = 0; r < RELAIS_RULE_COUNT; r++)
        s->normal_since[r] =
            json_integer_value(json_object_get(ns, relais_rule_name((enum relais_rule)r)));
    json_array_foreach(json_object_get(o, "conditions"), i, v)
    {
        if (i >= 2) break;
        s->cond[i].active = json_is_true(json_object_get(v, "active"));
        s->cond[i].since_ms = json_integer_value(json_object_get(v, "since"));
        s->cond[i].normal_since_ms = json_integer_value(json_object_get(v, "normal_since"));
        const char *d = json_string_value(json_object_get(v, "detail"));
        snprintf(s->cond[i].detail, sizeof s->cond[i].detail, "%s", d ? d : "");
    }
    samples_load(json_object_get(o, "sys"), s->sys, &s->nsys);
    samples_load(json_object_get(o, "dia"), s->dia, &s->ndia);
    json_array_foreach(json_object_get(o, "weight"), i, v)
    {
        if (s->nweight == MAX_WEIGHT_DAYS) break;
        s->weight[s->nweight].day = (int32_t)json_integer_value(json_array_get(v, 0));
        s->weight[s->nweight].kg = json_number_value(json_array_get(v, 1));
        s->nweight++;
    }
    json_t *g = json_object_get(o, "symptoms");
    for (int k = 0; k < SYM_COUNT; k++) {
        json_t *x = json_object_get(g, symptom_names[k]);
        if (x) {
            s->grade[k] = (int)json_integer_value(json_array_get(x, 0));
            s->grade_t[k] = json_integer_value(json_array_get(x, 1));
        }
    }
    s->symptoms_handled_t = json_integer_value(json_object_get(o, "symptoms_handled_t"));
    s->dose_free_days = (int)json_integer_value(json_object_get(o, "dose_free_days"));
    s->dose_free_last = (int32_t)json_integer_value(json_object_get(o, "dose_free_last"));
    s->jump_at_ms = json_integer_value(json_object_get(o, "jump_at"));
    json_array_foreach(json_object_get(o, "unbound"), i, v)
    {
        if (s->nunbound == MAX_UNBOUND || !json_is_string(v)) break;
        snprintf(s->unbound[s->nunbound++], sizeof s->unbound[0], "%s", json_string_value(v));
    }
}

static int kv_set_int(struct relais_store *st, const char *key, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    return relais_store_kv_set(st, key, buf);
}

static int kv_get_int(struct relais_store *st, const char *key, int64_t *v, bool *found)
{
    char *s = NULL;
    int rc = relais_store_kv_get(st, key, &s);
    *found = rc == RELAIS_OK;
    if (rc == RELAIS_OK) *v = strtoll(s, NULL, 10);
    free(s);
    return rc == RELAIS_ENOTFOUND ? RELAIS_OK : rc;
}

static int state_save(struct relais_engine *e)
{
    json_t *o = state_json(&e->s);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text) return RELAIS_ENOMEM;
    int rc = relais_store_kv_set(e->st, "state", text);
    free(text);
    if (!rc) rc = kv_set_int(e->st, "watermark", e->watermark);
    if (!rc) rc = kv_set_int(e->st, "cursor", e->cursor);
    if (!rc) rc = kv_set_int(e->st, "plan_since", e->plan_since_ms);
    return rc;
}

static int state_load(struct relais_engine *e)
{
    bool found;
    int rc;
    memset(&e->s, 0, sizeof e->s);
    e->watermark = e->cursor = e->plan_since_ms = 0;
    if ((rc = kv_get_int(e->st, "cursor", &e->cursor, &found)) ||
        (rc = kv_get_int(e->st, "plan_since", &e->plan_since_ms, &found)) ||
        (rc = kv_get_int(e->st, "watermark", &e->watermark, &found)))
        return rc;
    if (!found) {
        /* the first start of the engine on this store: what was stored before
         * it existed is history, not news */
        if ((rc = relais_store_last_pack_id(e->st, &e->watermark))) return rc;
    }
    char *text = NULL;
    rc = relais_store_kv_get(e->st, "state", &text);
    if (rc == RELAIS_OK) {
        json_error_t jerr;
        json_t *o = json_loads(text, 0, &jerr);
        free(text);
        if (!o) {
            log_error("rules", "the engine state in the store is unreadable: %s; starting afresh",
                      jerr.text);
            return RELAIS_OK;
        }
        state_from_json(&e->s, o);
        json_decref(o);
    } else if (rc != RELAIS_ENOTFOUND) {
        return rc;
    }
    return RELAIS_OK;
}

/* ======================================================================
 * alerts
 * ====================================================================== */

static const struct relais_team *team_of(const struct relais_engine *e, const char *name)
{
    const struct relais_team *t = relais_careplan_team(plan_of(e), name);
    return t ? t : relais_careplan_team(&e->defaults, name);
}

static uint32_t ack_delay_min(const struct relais_engine *e, const char *team)
{
    const struct relais_team *t = team_of(e, team);
    return t ? t->ack_within_min : 60;
}

static void set_evidence(struct relais_alert *a, json_t *ev)
{
    char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    if (text && strlen(text) < sizeof a->evidence)
        snprintf(a->evidence, sizeof a->evidence, "%s", text);
    else
        snprintf(a->evidence, sizeof a->evidence, "{\"truncated\":true}");
    free(text);
}

static int add_event(struct relais_engine *e, const struct relais_alert *a, int64_t at,
                     const char *event, const char *team, const char *by, const char *detail,
                     bool notify)
{
    (void)e;
    const struct relais_alert_event ev = {
        .alert = a->id,
        .at_ms = at,
        .event = event,
        .team = team ? team : a->team,
        .priority = a->priority,
        .by = by,
        .detail = detail,
        .notify = notify,
    };
    return relais_store_alert_event_add(e->st, &ev);
}

enum again_mode {
    AGAIN_SILENT = 0, /* a continuing condition: the evidence is kept, nobody is told again */
    AGAIN_NOTIFY,     /* a new occurrence (a second missed dose...): the team is told */
};

/* The first timer of a (re)raised alert: HIGH always escalates; MEDIUM and
 * LOW are re-notified only when max_renotify allows one. */
static int64_t first_timer(const struct relais_engine *e, const struct relais_alert *a, int64_t now)
{
    if (a->priority != RELAIS_PRIO_HIGH && e->opts.max_renotify == 0) return 0;
    return now + (int64_t)ack_delay_min(e, a->team) * MIN_MS;
}

/*
 * Raises (or upgrades, or adds to) the alert of rule r for patient.  ev is
 * the evidence (consumed).  *raised_out, when given, tells whether a new
 * alert was made.
 */
static int raise_alert(struct relais_engine *e, const char *patient, enum relais_rule r,
                       enum relais_priority prio, int64_t now, const char *why, json_t *ev,
                       enum again_mode again)
{
    struct relais_alert a;
    const char *rule = relais_rule_name(r);
    int rc = relais_store_alert_get_open(e->st, patient, rule, &a);
    if (rc && rc != RELAIS_ENOTFOUND) {
        json_decref(ev);
        return rc;
    }
    json_object_set_new(ev, "why", json_string(why));
    if (rc == RELAIS_ENOTFOUND) {
        int64_t n;
        if ((rc = relais_store_alert_next_number(e->st, &n))) {
            json_decref(ev);
            return rc;
        }
        memset(&a, 0, sizeof a);
        snprintf(a.id, sizeof a.id, "%s-%" PRId64, e->gateway, n);
        snprintf(a.patient, sizeof a.patient, "%s", patient);
        snprintf(a.rule, sizeof a.rule, "%s", rule);
        a.priority = (int)prio;
        snprintf(a.team, sizeof a.team, "%s", relais_careplan_team_for(plan_of(e), r, prio));
        snprintf(a.state, sizeof a.state, "raised");
        a.open = true;
        a.raised_ms = now;
        a.since_ms = now;
        a.next_ms = first_timer(e, &a, now);
        a.plan_version = e->has_plan ? e->plan.version : 0;
        json_object_set_new(ev, "count", json_integer(1));
        set_evidence(&a, ev);
        json_decref(ev);
        if ((rc = relais_store_alert_insert(e->st, &a)) ||
            (rc = add_event(e, &a, now, "raised", NULL, NULL, why, true)))
            return rc;
        e->stats.raised++;
        log_notice("rules", "alert %s raised: %s %s for %s, to %s", a.id, rule,
                   relais_priority_name(prio), patient, a.team);
        return RELAIS_OK;
    }
    /* one open alert per rule and patient: upgrade, or add to it */
    json_t *old = json_loads(a.evidence, 0, NULL);
    json_int_t count = old ? json_integer_value(json_object_get(old, "count")) : 0;
    json_decref(old);
    json_object_set_new(ev, "count", json_integer(count + 1));
    set_evidence(&a, ev);
    json_decref(ev);
    if ((int)prio > a.priority) {
        a.priority = (int)prio;
        snprintf(a.team, sizeof a.team, "%s", relais_careplan_team_for(plan_of(e), r, prio));
        snprintf(a.state, sizeof a.state, "raised");
        a.acked_ms = 0;
        a.acked_by[0] = '\0';
        a.level = 0;
        a.renotified = 0;
        a.since_ms = now; /* the escalation delays count from the upgrade */
        a.next_ms = first_timer(e, &a, now);
        if ((rc = relais_store_alert_update(e->st, &a)) ||
            (rc = add_event(e, &a, now, "upgraded", NULL, NULL, why, true)))
            return rc;
        e->stats.upgraded++;
        log_notice("rules", "alert %s upgraded: %s %s, to %s", a.id, rule,
                   relais_priority_name(prio), a.team);
        return RELAIS_OK;
    }
    if ((rc = relais_store_alert_update(e->st, &a))) return rc;
    if (again == AGAIN_NOTIFY) {
        if ((rc = add_event(e, &a, now, "again", NULL, NULL, why, true))) return rc;
        log_notice("rules", "alert %s: %s again", a.id, rule);
    }
    return RELAIS_OK;
}

/* Closes the open alert of rule r for patient with an all clear. */
static int clear_alert(struct relais_engine *e, const char *patient, enum relais_rule r,
                       int64_t now, const char *why)
{
    struct relais_alert a;
    int rc = relais_store_alert_get_open(e->st, patient, relais_rule_name(r), &a);
    if (rc == RELAIS_ENOTFOUND) return RELAIS_OK;
    if (rc) return rc;
    snprintf(a.state, sizeof a.state, "cleared");
    a.open = false;
    a.closed_ms = now;
    a.next_ms = 0;
    if ((rc = relais_store_alert_update(e->st, &a)) ||
        (rc = add_event(e, &a, now, "cleared", NULL, NULL, why, true)))
        return rc;
    e->stats.cleared++;
    log_notice("rules", "alert %s cleared: %s", a.id, a.rule);
    return RELAIS_OK;
}

static bool alert_open(struct relais_engine *e, const char *patient, enum relais_rule r)
{
    struct relais_alert a;
    return relais_store_alert_get_open(e->st, patient, relais_rule_name(r), &a) == RELAIS_OK;
}

/* ---- commands to devices ---- */

static bool device_kind_is(const struct relais_careplan *p, size_t i, const char *kind)
{
    return strcmp(p->devices[i].kind, kind) == 0;
}

/* Sends body to the plan's devices of the first kind of `kinds` that has
 * any (all the plan's devices when none has). */
static int command_to_kinds(struct relais_engine *e, const char *const kinds[], const char *body,
                            int64_t now, int64_t expires)
{
    const struct relais_careplan *p = plan_of(e);
    int rc;
    for (size_t k = 0; kinds[k]; k++) {
        bool any = false;
        for (size_t i = 0; i < p->ndevices; i++) {
            if (!device_kind_is(p, i, kinds[k])) continue;
            any = true;
            if ((rc = relais_store_command_add(e->st, p->devices[i].id, body, now, expires)))
                return rc;
            e->stats.commands++;
        }
        if (any) return RELAIS_OK;
    }
    for (size_t i = 0; i < p->ndevices; i++) {
        if ((rc = relais_store_command_add(e->st, p->devices[i].id, body, now, expires))) return rc;
        e->stats.commands++;
    }
    return RELAIS_OK;
}

/* ---- alert timers ---- */

static int alert_timer(struct relais_engine *e, struct relais_alert *a, int64_t now)
{
    int rc;
    char why[200];
    const struct relais_team *team = team_of(e, a->team);
    uint32_t delay = team ? team->ack_within_min : 60;
    if (a->acked_ms || !a->open) {
        a->next_ms = 0;
        return relais_store_alert_update(e->st, a);
    }
    if (a->priority != RELAIS_PRIO_HIGH) {
        a->renotified++;
        a->next_ms =
            (uint32_t)a->renotified < e->opts.max_renotify ? now + (int64_t)delay * MIN_MS : 0;
        snprintf(why, sizeof why, "not acknowledged after %u min (reminder %d)", delay,
                 a->renotified);
        e->stats.renotified++;
        if ((rc = relais_store_alert_update(e->st, a))) return rc;
        return add_event(e, a, now, "renotified", NULL, NULL, why, true);
    }
    /* HIGH: escalate, then call 15, then keep reminding */
    int rule = relais_rule_from_name(a->rule);
    const struct relais_team *first =
        rule < 0 ? NULL
                 : team_of(e, relais_careplan_team_for(plan_of(e), (enum relais_rule)rule,
                                                       RELAIS_PRIO_HIGH));
    uint32_t call15 = first ? first->call15_after_min : 0;
    if (a->level == 0 && team && team->escalate_to[0]) {
        char from[33];
        snprintf(from, sizeof from, "%s", a->team);
        snprintf(a->team, sizeof a->team, "%s", team->escalate_to);
        a->level = 1;
        a->renotified++;
        const struct relais_team *backup = team_of(e, a->team);
        int64_t next_renotify = now + (int64_t)(backup ? backup->ack_within_min : delay) * MIN_MS;
        int64_t call15_at = call15 ? a->since_ms + (int64_t)call15 * MIN_MS : 0;
        a->next_ms = call15_at && call15_at < next_renotify ? call15_at : next_renotify;
        if (call15_at && call15_at <= now) a->next_ms = now;
        snprintf(why, sizeof why, "not acknowledged by %s after %u min: escalated to %s", from,
                 delay, a->team);
        e->stats.escalated++;
        log_notice("rules", "alert %s escalated from %s to %s", a->id, from, a->team);
        if ((rc = relais_store_alert_update(e->st, a))) return rc;
        return add_event(e, a, now, "escalated", NULL, NULL, why, true);
    }
    if (a->level <= 1 && call15 && now >= a->since_ms + (int64_t)call15 * MIN_MS) {
        static const char *const kinds[] = {"pillbox", "tablet", NULL};
        char body[160];
        snprintf(body, sizeof body, "{\"cmd\":\"call15\",\"alert\":\"%s\"}", a->id);
        if ((rc = command_to_kinds(e, kinds, body, now, now + CALL15_TTL_MS))) return rc;
        a->level = 2;
        a->next_ms = now + (int64_t)delay * MIN_MS;
        snprintf(why, sizeof why, "not acknowledged after %u min: the patient is told to call 15",
                 call15);
        e->stats.call15++;
        log_notice("rules", "alert %s: the patient's devices are told to call 15", a->id);
        if ((rc = relais_store_alert_update(e->st, a))) return rc;
        return add_event(e, a, now, "call15", NULL, NULL, why, true);
    }
    if (a->level == 0) a->level = 1; /* no backup team: keep reminding the same one */
    a->renotified++;
    int64_t gap = (now - a->since_ms) / 2;
    if (gap < (int64_t)delay * MIN_MS) gap = (int64_t)delay * MIN_MS;
    if (gap > HIGH_REMIND_MAX)
        gap = HIGH_REMIND_MAX > (int64_t)delay * MIN_MS ? HIGH_REMIND_MAX : (int64_t)delay * MIN_MS;
    int64_t next = now + gap;
    int64_t call15_at = call15 && a->level <= 1 ? a->since_ms + (int64_t)call15 * MIN_MS : 0;
    a->next_ms = call15_at && call15_at < next ? call15_at : next;
    snprintf(why, sizeof why, "not acknowledged after %" PRId64 " min (reminder %d)",
             (now - a->since_ms) / MIN_MS, a->renotified);
    e->stats.renotified++;
    if ((rc = relais_store_alert_update(e->st, a))) return rc;
    return add_event(e, a, now, "renotified", NULL, NULL, why, true);
}

/* ======================================================================
 * judging readings
 * ====================================================================== */

enum verdict {
    V_NORMAL = -1,
    V_HOLD = -2, /* neither normal nor (yet) alarming: the open alert stays */
};

/*
 * The common end of every vital-sign rule: raise at `level`, or count
 * towards the all clear.  t is the reading's time (hysteresis runs on the
 * readings' own clock).
 */
static int judge(struct relais_engine *e, enum relais_rule r, int level, int64_t t, int64_t now,
                 const char *why, json_t *ev)
{
    const struct relais_careplan *p = plan_of(e);
    if (!p->rules.enabled[r]) {
        json_decref(ev);
        return RELAIS_OK;
    }
    if (level >= 0) {
        e->s.normal_since[r] = 0;
        return raise_alert(e, patient_of(e), r, (enum relais_priority)level, now, why, ev,
                           AGAIN_SILENT);
    }
    json_decref(ev);
    if (level == V_HOLD) {
        e->s.normal_since[r] = 0;
        return RELAIS_OK;
    }
    if (!alert_open(e, patient_of(e), r)) {
        e->s.normal_since[r] = 0;
        return RELAIS_OK;
    }
    if (!e->s.normal_since[r] || t < e->s.normal_since[r]) e->s.normal_since[r] = t;
    if (t - e->s.normal_since[r] >= (int64_t)p->rules.clear_after_min * MIN_MS) {
        char msg[160];
        snprintf(msg, sizeof msg, "normal readings for %" PRId64 " min: all clear",
                 (t - e->s.normal_since[r]) / MIN_MS);
        e->s.normal_since[r] = 0;
        return clear_alert(e, patient_of(e), r, now, msg);
    }
    return RELAIS_OK;
}

static json_t *reading_ev(const char *device, const char *metric, double v, int64_t t)
{
    return json_pack("{s:{s:s, s:s, s:f, s:I}}", "reading", "device", device, "metric", metric,
                     "value", v, "t_ms", (json_int_t)t);
}

static int judge_symptoms(struct relais_engine *e, const char *device, int64_t t, int64_t now);
static int grade_at(const struct state *s, int k, int64_t t);

static int on_temperature(struct relais_engine *e, const char *device, double v, int64_t t,
                          int64_t now)
{
    const struct relais_rule_settings *rs = &plan_of(e)->rules;
    struct state *s = &e->s;
    char why[160];
    int rc;
    /* fever: >= high once, or >= sustained for sustained_min */
    int fever = V_NORMAL;
    if (v >= rs->fever_sustained) {
        if (!s->above_since || t < s->above_since) s->above_since = t;
        if (t > s->last_fever_t) s->last_fever_t = t;
        fever = V_HOLD;
    } else {
        s->above_since = 0;
    }
    if (v >= rs->fever_high) {
        fever = RELAIS_PRIO_HIGH;
        snprintf(why, sizeof why, "temperature %.1f >= %.1f", v, rs->fever_high);
    } else if (v >= rs->fever_sustained &&
               t - s->above_since >= (int64_t)rs->fever_sustained_min * MIN_MS) {
        fever = RELAIS_PRIO_HIGH;
        snprintf(why, sizeof why, "temperature >= %.1f for %" PRId64 " min", rs->fever_sustained,
                 (t - s->above_since) / MIN_MS);
    } else {
        snprintf(why, sizeof why, "temperature");
    }
    if ((rc = judge(e, RELAIS_RULE_FEVER, fever, t, now, why, reading_ev(device, "temp", v, t))))
        return rc;
    /* borderline: once in [low, high), unless the fever alert covers it */
    bool fever_open =
        rs->enabled[RELAIS_RULE_FEVER] && alert_open(e, patient_of(e), RELAIS_RULE_FEVER);
    if (fever_open) {
        if (alert_open(e, patient_of(e), RELAIS_RULE_FEVER_BORDERLINE)) {
            e->s.normal_since[RELAIS_RULE_FEVER_BORDERLINE] = 0;
            if ((rc = clear_alert(e, patient_of(e), RELAIS_RULE_FEVER_BORDERLINE, now,
                                  "superseded by the fever alert")))
                return rc;
        }
    } else {
        int border = V_NORMAL;
        if (v >= rs->fever_borderline_low && v < rs->fever_high) {
            border = RELAIS_PRIO_MEDIUM;
            snprintf(why, sizeof why,
                     "temperature %.1f in [%.1f, %.1f): re-measure within the hour", v,
                     rs->fever_borderline_low, rs->fever_high);
        }
        if ((rc = judge(e, RELAIS_RULE_FEVER_BORDERLINE, border, t, now, why,
                        reading_ev(device, "temp", v, t))))
            return rc;
    }
    /* hypothermia */
    int hypo = V_NORMAL;
    if (v <= rs->hypothermia_low) {
        hypo = RELAIS_PRIO_HIGH;
        snprintf(why, sizeof why, "temperature %.1f <= %.1f", v, rs->hypothermia_low);
    }
    if ((rc = judge(e, RELAIS_RULE_HYPOTHERMIA, hypo, t, now, why,
                    reading_ev(device, "temp", v, t))))
        return rc;
    /* a fever makes a reported diarrhoea worse */
    if (v >= rs->fever_sustained && grade_at(s, SYM_DIARRHOEA, t))
        return judge_symptoms(e, device, t, now);
    return RELAIS_OK;
}

static int on_spo2(struct relais_engine *e, const char *device, double v, int64_t t, int64_t now)
{
    const struct relais_rule_settings *rs = &plan_of(e)->rules;
    char why[120] = "SpO2";
    int level = V_NORMAL;
    if (v <= rs->spo2_high_max) {
        level = RELAIS_PRIO_HIGH;
        snprintf(why, sizeof why, "SpO2 %.0f %% <= %.0f %%", v, rs->spo2_high_max);
    } else if (v <= rs->spo2_medium_max) {
        level = RELAIS_PRIO_MEDIUM;
        snprintf(why, sizeof why, "SpO2 %.0f %% in (%.0f, %.0f] %%", v, rs->spo2_high_max,
                 rs->spo2_medium_max);
    }
    return judge(e, RELAIS_RULE_DESATURATION, level, t, now, why, reading_ev(device, "spo2", v, t));
}

static int on_heart_rate(struct relais_engine *e, const char *device, double v, int64_t t,
                         int64_t now)
{
    const struct relais_rule_settings *rs = &plan_of(e)->rules;
    char why[120] = "heart rate";
    int level = V_NORMAL;
    if (v >= rs->hr_high_above || v <= rs->hr_high_below) {
        level = RELAIS_PRIO_HIGH;
        snprintf(why, sizeof why, "heart rate %.0f/min %s %.0f", v,
                 v >= rs->hr_high_above ? ">=" : "<=",
                 v >= rs->hr_high_above ? rs->hr_high_above : rs->hr_high_below);
    } else if (v >= rs->hr_medium_above) {
        level = RELAIS_PRIO_MEDIUM;
        snprintf(why, sizeof why, "heart rate %.0f/min >= %.0f", v, rs->hr_medium_above);
    }
    return judge(e, RELAIS_RULE_HEART_RATE, level, t, now, why, reading_ev(device, "hr", v, t));
}

static void sample_add(struct sample *s, size_t *n, int64_t t, double v, int64_t keep_ms)
{
    /* drop what fell out of the window (and the oldest when full) */
    size_t k = 0;
    for (size_t i = 0; i < *n; i++)
        if (s[i].t > t - keep_ms) s[k++] = s[i];
    *n = k;
    if (*n == MAX_SAMPLES) {
        memmove(s, s + 1, (MAX_SAMPLES - 1) * sizeof *s);
        (*n)--;
    }
    s[(*n)++] = (struct sample){t, v};
}

static bool sample_mean(const struct sample *s, size_t n, int64_t from, int64_t to, double *mean)
{
    double sum = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i].t > from && s[i].t <= to) {
            sum += s[i].v;
            k++;
        }
    if (k < BP_MEAN_MIN_N) return false;
    *mean = sum / (double)k;
    return true;
}

/* The latest sample at most BP_PAIR_MS from t, or NULL. */
static const struct sample *sample_near(const struct sample *s, size_t n, int64_t t)
{
    const struct sample *best = NULL;
    for (size_t i = 0; i < n; i++)
        if (llabs(s[i].t - t) <= BP_PAIR_MS && (!best || s[i].t > best->t)) best = &s[i];
    return best;
}

static int on_blood_pressure(struct relais_engine *e, const char *device, bool systolic, double v,
                             int64_t t, int64_t now)
{
    const struct relais_rule_settings *rs = &plan_of(e)->rules;
    struct state *s = &e->s;
    int64_t window = (int64_t)rs->bp_low_window_h * HOUR_MS;
    if (systolic)
        sample_add(s->sys, &s->nsys, t, v, window);
    else
        sample_add(s->dia, &s->ndia, t, v, window);
    const struct sample *sys = sample_near(s->sys, s->nsys, t);
    const struct sample *dia = sample_near(s->dia, s->ndia, t);
    char why[160] = "blood pressure";
    int level = V_NORMAL;
    if (sys && (sys->v <= rs->bp_sys_low || sys->v >= rs->bp_sys_high)) {
        level = RELAIS_PRIO_HIGH;
        snprintf(why, sizeof why, "systolic %.0f mmHg %s %.0f", sys->v,
                 sys->v <= rs->bp_sys_low ? "<=" : ">=",
                 sys->v <= rs->bp_sys_low ? rs->bp_sys_low : rs->bp_sys_high);
    } else if (dia && dia->v >= rs->bp_dia_high) {
        level = RELAIS_PRIO_HIGH;
        snprintf(why, sizeof why, "diastolic %.0f mmHg >= %.0f", dia->v, rs->bp_dia_high);
    } else if (sys && sys->v >= rs->bp_sys_medium) {
        level = RELAIS_PRIO_MEDIUM;
        snprintf(why, sizeof why, "systolic %.0f mmHg >= %.0f", sys->v, rs->bp_sys_medium);
    } else if (dia && dia->v >= rs->bp_dia_medium) {
        level = RELAIS_PRIO_MEDIUM;
        snprintf(why, sizeof why, "diastolic %.0f mmHg >= %.0f", dia->v, rs->bp_dia_medium);
    } else {
        double ms, md;
        bool hs = sample_mean(s->sys, s->nsys, t - window, t, &ms);
        bool hd = sample_mean(s->dia, s->ndia, t - window, t, &md);
        if (hs && ms >= rs->bp_sys_low_band - EPS) {
            level = RELAIS_PRIO_LOW;
            snprintf(why, sizeof why, "mean systolic over %u h %.0f mmHg >= %.0f",
                     rs->bp_low_window_h, ms, rs->bp_sys_low_band);
        } else if (hd && md >= rs->bp_dia_low_band - EPS) {
            level = RELAIS_PRIO_LOW;
            snprintf(why, sizeof why, "mean diastolic over %u h %.0f mmHg >= %.0f",
                     rs->bp_low_window_h, md, rs->bp_dia_low_band);
        } else if (!hs && !hd &&
                   ((sys && sys->v >= rs->bp_sys_low_band) ||
                    (dia && dia->v >= rs->bp_dia_low_band))) {
            level = V_HOLD; /* raised, but too few readings to judge the mean yet */
        }
    }
    return judge(e, RELAIS_RULE_BLOOD_PRESSURE, level, t, now, why,
                 reading_ev(device, systolic ? "bp_sys" : "bp_dia", v, t));
}

static int on_weight(struct relais_engine *e, const char *device, double kg, int64_t t, int64_t now)
{
    const struct relais_rule_settings *rs = &plan_of(e)->rules;
    struct state *s = &e->s;
    struct relais_local loc;
    relais_tz_local(plan_of(e)->timezone, t, &loc);
    /* baseline: the plan's, or the highest daily weight of the window before today */
    double baseline = rs->weight_baseline_kg;
    if (baseline <= 0)
        for (size_t i = 0; i < s->nweight; i++)
            if (s->weight[i].day < loc.days &&
                s->weight[i].day >= loc.days - (int32_t)rs->weight_loss_days &&
                s->weight[i].kg > baseline)
                baseline = s->weight[i].kg;
    /* keep one value per day (the highest) within the window */
    size_t k = 0;
    bool today = false;
    for (size_t i = 0; i < s->nweight; i++) {
        if (s->weight[i].day < loc.days - (int32_t)rs->weight_loss_days) continue;
        s->weight[k] = s->weight[i];
        if (s->weight[k].day == loc.days) {
            today = true;
            if (kg > s->weight[k].kg) s->weight[k].kg = kg;
        }
        k++;
    }
    s->nweight = k;
    if (!today && s->nweight < MAX_WEIGHT_DAYS) {
        s->weight[s->nweight].day = loc.days;
        s->weight[s->nweight].kg = kg;
        s->nweight++;
    }
    int level = V_NORMAL;
    char why[160] = "weight";
    if (baseline > 0) {
        double loss = (baseline - kg) / baseline * 100.0;
        if (loss >= rs->weight_loss_percent - EPS) {
            level = RELAIS_PRIO_MEDIUM;
            snprintf(why, sizeof why, "weight loss %.1f %% (%.1f kg against %.1f kg) >= %.1f %%",
                     loss, kg, baseline, rs->weight_loss_percent);
        }
    }
    json_t *ev = reading_ev(device, "weight", kg, t);
    json_object_set_new(ev, "baseline_kg", json_real(baseline));
    return judge(e, RELAIS_RULE_WEIGHT_LOSS, level, t, now, why, ev);
}

/* The grade of symptom k that still holds at t: reported within two days
 * and not already handled by a professional; 0 otherwise. */
static int grade_at(const struct state *s, int k, int64_t t)
{
    if (!s->grade_t[k] || s->grade_t[k] <= s->symptoms_handled_t ||
        s->grade_t[k] < t - SYMPTOM_VALID_MS)
        return 0;
    return s->grade[k];
}

static int judge_symptoms(struct relais_engine *e, const char *device, int64_t t, int64_t now)
{
    const struct relais_rule_settings *rs = &plan_of(e)->rules;
    struct state *s = &e->s;
    int level = V_NORMAL;
    char why[200] = "symptoms";
    int g[SYM_COUNT];
    int worst = 0;
    for (int k = 0; k < SYM_COUNT; k++) {
        g[k] = grade_at(s, k, t);
        if (g[k] > g[worst]) worst = k;
    }
    bool fever = s->last_fever_t && s->last_fever_t >= t - FEVER_COMBO_MS;
    if (g[worst] >= (int)rs->symptom_high_grade) {
        level = RELAIS_PRIO_HIGH;
        snprintf(why, sizeof why, "%s grade %d >= %u", symptom_names[worst], g[worst],
                 rs->symptom_high_grade);
    } else if (g[SYM_DIARRHOEA] >= (int)rs->symptom_medium_grade && fever) {
        level = RELAIS_PRIO_HIGH;
        snprintf(why, sizeof why, "diarrhoea grade %d with fever", g[SYM_DIARRHOEA]);
    } else if (g[SYM_DIARRHOEA] >= (int)rs->symptom_medium_grade ||
               g[SYM_HFS] >= (int)rs->symptom_medium_grade) {
        level = RELAIS_PRIO_MEDIUM;
        int k = g[SYM_DIARRHOEA] >= g[SYM_HFS] ? SYM_DIARRHOEA : SYM_HFS;
        snprintf(why, sizeof why, "%s grade %d >= %u", symptom_names[k], g[k],
                 rs->symptom_medium_grade);
    }
    json_t *grades = json_object();
    for (int k = 0; k < SYM_COUNT; k++)
        if (grade_at(s, k, t)) json_object_set_new(grades, symptom_names[k], json_integer(g[k]));
    json_t *ev = json_pack("{s:s, s:I, s:o, s:b}", "device", device, "t_ms", (json_int_t)t,
                           "grades", grades, "fever_within_24h", fever);
    return judge(e, RELAIS_RULE_SYMPTOM, level, t, now, why, ev);
}

static int on_symptom(struct relais_engine *e, const char *device, const char *name, double g,
                      int64_t t, int64_t now)
{
    int k;
    for (k = 0; k < SYM_COUNT; k++)
        if (strcmp(symptom_names[k], name) == 0) break;
    if (k == SYM_COUNT || g < 0 || g > 4)
        return RELAIS_OK;                      /* stored and forwarded, not evaluated */
    if (t < e->s.grade_t[k]) return RELAIS_OK; /* an older report than the one we have */
    e->s.grade[k] = (int)g;
    e->s.grade_t[k] = t;
    return judge_symptoms(e, device, t, now);
}

/* ======================================================================
 * the dose schedule
 * ====================================================================== */

/* UTC ms of a local date and a minute that may be negative or >= 1440. */
static int64_t local_utc(const struct relais_careplan *p, int32_t days, int64_t minute)
{
    while (minute < 0) {
        minute += 1440;
        days--;
    }
    return relais_tz_utc(p->timezone, days, (uint32_t)minute);
}

struct occurrence {
    int32_t days;
    size_t slot;
    uint32_t cycle, day;
    int64_t due, start, end, judge;
    char key[40];
    char date[11];
};

static void occurrence_of(const struct relais_careplan *p, int32_t days, size_t slot,
                          struct occurrence *o)
{
    const struct relais_dose_slot *sl = &p->slots[slot];
    memset(o, 0, sizeof *o);
    o->days = days;
    o->slot = slot;
    relais_careplan_cycle_day(p, days, &o->cycle, &o->day);
    o->due = local_utc(p, days, sl->minute);
    o->start = local_utc(p, days, (int64_t)sl->minute - sl->window_min / 2);
    o->end = local_utc(p, days, (int64_t)sl->minute + sl->window_min / 2);
    o->judge = o->end + (int64_t)p->rules.missed_grace_min * MIN_MS;
    relais_tz_date(days, o->date);
    snprintf(o->key, sizeof o->key, "%sT%02u:%02u/%s", o->date, sl->minute / 60, sl->minute % 60,
             sl->id);
}

enum slot_event { SE_REMIND = 0, SE_JUDGE = 1 };

/* The first slot event strictly after `after` (within 120 days). */
static bool next_slot_event(const struct relais_engine *e, int64_t after, int64_t *at,
                            enum slot_event *kind, struct occurrence *occ)
{
    if (!e->has_plan) return false;
    const struct relais_careplan *p = &e->plan;
    struct relais_local loc;
    relais_tz_local(p->timezone, after, &loc);
    bool found = false;
    for (int32_t d = loc.days - 2; d <= loc.days + 120 && !(found && d > loc.days + 2); d++) {
        if (!relais_careplan_on_day(p, d)) continue;
        for (size_t i = 0; i < p->nslots; i++) {
            struct occurrence o;
            occurrence_of(p, d, i, &o);
            int64_t cand[2] = {o.due, o.judge};
            for (int k = 0; k < 2; k++) {
                if (cand[k] > after &&
                    (!found || cand[k] < *at || (cand[k] == *at && (enum slot_event)k < *kind))) {
                    found = true;
                    *at = cand[k];
                    *kind = (enum slot_event)k;
                    *occ = o;
                }
            }
        }
        if (found && d > loc.days + 2) break;
    }
    return found;
}

static int slot_row_get(struct relais_engine *e, const struct occurrence *o,
                        struct relais_slot_row *row, bool *existed)
{
    int rc = relais_store_slot_get(e->st, e->plan.patient, o->key, row);
    *existed = rc == RELAIS_OK;
    if (rc == RELAIS_ENOTFOUND) {
        memset(row, 0, sizeof *row);
        snprintf(row->patient, sizeof row->patient, "%s", e->plan.patient);
        snprintf(row->key, sizeof row->key, "%s", o->key);
        snprintf(row->slot, sizeof row->slot, "%s", e->plan.slots[o->slot].id);
        snprintf(row->date, sizeof row->date, "%s", o->date);
        row->cycle = (int)o->cycle;
        row->day = (int)o->day;
        row->on_day = true;
        row->due_ms = o->due;
        row->start_ms = o->start;
        row->end_ms = o->end;
        snprintf(row->status, sizeof row->status, "pending");
        return RELAIS_OK;
    }
    return rc;
}

/* The last slot of an on-day has been judged: count days without any dose. */
static int judge_day(struct relais_engine *e, const struct occurrence *o, int64_t now)
{
    const struct relais_careplan *p = &e->plan;
    if (o->slot != p->nslots - 1) return RELAIS_OK;
    int doses = 0, unknown = 0, slots = 0;
    for (size_t i = 0; i < p->nslots; i++) {
        struct occurrence oi;
        struct relais_slot_row row;
        bool existed;
        occurrence_of(p, o->days, i, &oi);
        int rc = slot_row_get(e, &oi, &row, &existed);
        if (rc) return rc;
        slots++;
        doses += row.doses;
        if (strcmp(row.status, "unknown") == 0) unknown++;
    }
    if (doses > 0) {
        e->s.dose_free_days = 0;
        return RELAIS_OK;
    }
    if (unknown == slots)
        return RELAIS_OK; /* a day the gateway could not watch counts neither way */
    if (e->s.dose_free_last && o->days <= e->s.dose_free_last)
        return RELAIS_OK; /* judged again after a backward clock jump: counted once */
    e->s.dose_free_last = o->days;
    e->s.dose_free_days++;
    if (e->s.dose_free_days >= (int)p->rules.drug_holiday_days &&
        p->rules.enabled[RELAIS_RULE_DRUG_HOLIDAY]) {
        char why[120];
        snprintf(why, sizeof why, "%d treatment days in a row without a dose", e->s.dose_free_days);
        json_t *ev = json_pack("{s:i, s:s}", "days", e->s.dose_free_days, "last_day", o->date);
        return raise_alert(e, p->patient, RELAIS_RULE_DRUG_HOLIDAY, RELAIS_PRIO_MEDIUM, now, why,
                           ev, AGAIN_SILENT);
    }
    return RELAIS_OK;
}

/* The pill box's clock and the gateway's disagree: a slot without a dose
 * cannot be called missed, for the dose may lie in the true window still.
 * A device behind the gateway may only be late in sending, so that counts
 * only when the gateway's own clock jumped lately. */
static bool clocks_disagree(const struct relais_engine *e, int64_t now)
{
    const struct relais_careplan *p = &e->plan;
    bool jumped = e->s.jump_at_ms && now - e->s.jump_at_ms < JUMP_SUSPECT_MS;
    for (size_t i = 0; i < e->s.ndev; i++) {
        const struct dev_state *d = &e->s.dev[i];
        const struct relais_careplan_device *pd = relais_careplan_device(p, d->id);
        if (!pd || strcmp(pd->kind, "pillbox") != 0 || !d->skew_at_ms ||
            now - d->skew_at_ms > SKEW_VALID_MS)
            continue;
        if (d->skew_ms > SLOT_SKEW_MS || (jumped && d->skew_ms < -SLOT_SKEW_MS)) return true;
    }
    return false;
}

/* skipped: the clock jumped over this event (no reminder, no verdict). */
static int slot_event(struct relais_engine *e, enum slot_event kind, const struct occurrence *o,
                      int64_t now, bool skipped)
{
    struct relais_slot_row row;
    bool existed;
    int rc = slot_row_get(e, o, &row, &existed);
    if (rc) return rc;
    const struct relais_careplan *p = &e->plan;
    if (kind == SE_REMIND) {
        if (skipped || o->due < e->plan_since_ms)
            return existed ? RELAIS_OK : relais_store_slot_put(e->st, &row);
        if (row.doses == 0 && !row.reminded_ms) {
            static const char *const kinds[] = {"pillbox", "tablet", NULL};
            char body[128];
            snprintf(body, sizeof body, "{\"cmd\":\"remind\",\"slot\":\"%s\"}", o->key);
            if ((rc = command_to_kinds(e, kinds, body, now, o->end))) return rc;
            row.reminded_ms = now;
            e->stats.reminders++;
        }
        return relais_store_slot_put(e->st, &row);
    }
    /* SE_JUDGE */
    if (strcmp(row.status, "pending") != 0) return existed ? judge_day(e, o, now) : RELAIS_OK;
    if (row.doses > 0) {
        /* judged at the dose already; nothing to do */
        return judge_day(e, o, now);
    }
    if (skipped || o->start < e->plan_since_ms || clocks_disagree(e, now)) {
        snprintf(row.status, sizeof row.status, "unknown");
        if ((rc = relais_store_slot_put(e->st, &row))) return rc;
        return judge_day(e, o, now);
    }
    snprintf(row.status, sizeof row.status, "missed");
    if ((rc = relais_store_slot_put(e->st, &row))) return rc;
    if (p->rules.enabled[RELAIS_RULE_MISSED_DOSE]) {
        char why[120];
        snprintf(why, sizeof why, "no dose in the window of %s", o->key);
        json_t *ev = json_pack("{s:s, s:I, s:I}", "slot", o->key, "window_start_ms",
                               (json_int_t)o->start, "window_end_ms", (json_int_t)o->end);
        if ((rc = raise_alert(e, p->patient, RELAIS_RULE_MISSED_DOSE, RELAIS_PRIO_LOW, now, why, ev,
                              AGAIN_NOTIFY)))
            return rc;
    }
    return judge_day(e, o, now);
}

/* A dose reported by a device: which slot it belongs to, and its verdict. */
static int on_dose(struct relais_engine *e, const struct relais_engine_reading *r, int64_t t,
                   int64_t now)
{
    const struct relais_careplan *p = &e->plan;
    int rc;
    char why[160];
    struct relais_local loc;
    relais_tz_local(p->timezone, t, &loc);
    /* the slot named by the device, or the one nearest in time */
    long slot = -1;
    for (size_t i = 0; i < p->nslots; i++)
        if (r->str && strcmp(p->slots[i].id, r->str) == 0) slot = (long)i;
    struct occurrence best;
    bool have = false;
    for (int32_t d = loc.days - 1; d <= loc.days + 1; d++)
        for (size_t i = 0; i < p->nslots; i++) {
            if (slot >= 0 && (long)i != slot) continue;
            struct occurrence o;
            occurrence_of(p, d, i, &o);
            if (!have || llabs(o.due - t) < llabs(best.due - t)) {
                best = o;
                have = true;
            }
        }
    char date[11];
    relais_tz_date(loc.days, date);
    struct relais_dose_event de = {
        .patient = p->patient,
        .device = r->device,
        .pack_id = r->pack_id,
        .idx = r->idx,
        .t_ms = t,
        .date = date,
    };
    if (!have || !relais_careplan_on_day(p, best.days)) {
        /* a dose on a day without prescribed doses */
        de.kind = "rest_day";
        if ((rc = relais_store_dose_event_add(e->st, &de))) return rc;
        if (!p->rules.enabled[RELAIS_RULE_REST_DAY_DOSE]) return RELAIS_OK;
        uint32_t cycle = 0, day = 0;
        relais_careplan_cycle_day(p, loc.days, &cycle, &day);
        snprintf(why, sizeof why, "a dose on %s, a day without prescribed doses (cycle %u day %u)",
                 date, cycle, day);
        json_t *ev = json_pack("{s:s, s:I, s:s, s:i, s:i}", "device", r->device, "t_ms",
                               (json_int_t)t, "date", date, "cycle", (int)cycle, "day", (int)day);
        return raise_alert(e, p->patient, RELAIS_RULE_REST_DAY_DOSE, RELAIS_PRIO_MEDIUM, now, why,
                           ev, AGAIN_NOTIFY);
    }
    struct relais_slot_row row;
    bool existed;
    if ((rc = slot_row_get(e, &best, &row, &existed))) return rc;
    de.slot_key = best.key;
    de.date = best.date;
    row.doses++;
    if (row.doses == 1) {
        row.first_dose_ms = t;
        const char *status = t < best.start ? "early" : t > best.end ? "late" : "taken";
        snprintf(row.status, sizeof row.status, "%s", status);
        de.kind = status;
    } else {
        de.kind = "double";
    }
    if ((rc = relais_store_slot_put(e->st, &row)) || (rc = relais_store_dose_event_add(e->st, &de)))
        return rc;
    /* any dose ends a drug holiday and answers a missed dose */
    e->s.dose_free_days = 0;
    if ((rc = clear_alert(e, p->patient, RELAIS_RULE_DRUG_HOLIDAY, now, "a dose was taken")))
        return rc;
    if (row.doses == 1) {
        snprintf(why, sizeof why, "dose taken (%s, %s)", best.key, de.kind);
        if ((rc = clear_alert(e, p->patient, RELAIS_RULE_MISSED_DOSE, now, why))) return rc;
        return RELAIS_OK;
    }
    if (!p->rules.enabled[RELAIS_RULE_DOUBLE_DOSE]) return RELAIS_OK;
    snprintf(why, sizeof why, "%d doses for the slot %s", row.doses, best.key);
    json_t *ev = json_pack("{s:s, s:s, s:i, s:I}", "device", r->device, "slot", best.key, "doses",
                           row.doses, "t_ms", (json_int_t)t);
    return raise_alert(e, p->patient, RELAIS_RULE_DOUBLE_DOSE, RELAIS_PRIO_MEDIUM, now, why, ev,
                       AGAIN_NOTIFY);
}

/* ======================================================================
 * devices: unbound, silent, sequence reset, clock skew
 * ====================================================================== */

static struct dev_state *dev_state(struct relais_engine *e, const char *id)
{
    for (size_t i = 0; i < e->s.ndev; i++)
        if (strcmp(e->s.dev[i].id, id) == 0) return &e->s.dev[i];
    return NULL;
}

static int on_unbound(struct relais_engine *e, const char *device, int64_t now)
{
    for (size_t i = 0; i < e->s.nunbound; i++)
        if (strcmp(e->s.unbound[i], device) == 0)
            return RELAIS_OK; /* known: its alert is (or was) out */
    if (e->s.nunbound == MAX_UNBOUND) {
        memmove(e->s.unbound, e->s.unbound + 1, (MAX_UNBOUND - 1) * sizeof e->s.unbound[0]);
        e->s.nunbound--;
    }
    snprintf(e->s.unbound[e->s.nunbound++], sizeof e->s.unbound[0], "%s", device);
    if (!plan_of(e)->rules.enabled[RELAIS_RULE_UNBOUND_DEVICE]) return RELAIS_OK;
    json_t *list = json_array();
    for (size_t i = 0; i < e->s.nunbound; i++)
        json_array_append_new(list, json_string(e->s.unbound[i]));
    char why[120];
    snprintf(why, sizeof why, "device %s sends data but no care plan binds it", device);
    return raise_alert(e, "unbound", RELAIS_RULE_UNBOUND_DEVICE, RELAIS_PRIO_LOW, now, why,
                       json_pack("{s:o}", "devices", list), AGAIN_NOTIFY);
}

static int silent_check_clear(struct relais_engine *e, int64_t now, const char *device)
{
    for (size_t i = 0; i < e->s.ndev; i++)
        if (e->s.dev[i].silent) return RELAIS_OK;
    char why[120];
    snprintf(why, sizeof why, "device %s reports again", device);
    return clear_alert(e, patient_of(e), RELAIS_RULE_DEVICE_SILENT, now, why);
}

static int device_seen(struct relais_engine *e, const struct relais_engine_reading *r, int64_t now)
{
    struct dev_state *d = dev_state(e, r->device);
    int rc;
    if (!d) return RELAIS_OK;
    d->last_seen_ms = now;
    if (d->silent) {
        d->silent = false;
        if ((rc = silent_check_clear(e, now, r->device))) return rc;
    }
    return RELAIS_OK;
}

static int maybe_time_command(struct relais_engine *e, const struct relais_engine_reading *r,
                              int64_t t, int64_t now)
{
    struct dev_state *d = dev_state(e, r->device);
    if (d && r->time_source == RELAIS_TIME_DEVICE) {
        d->skew_ms = t - now;
        d->skew_at_ms = now;
    }
    if (!d || r->time_source != RELAIS_TIME_DEVICE || llabs(t - now) <= TIME_SKEW_MS ||
        (d->time_cmd_ms && now - d->time_cmd_ms < TIME_CMD_EVERY))
        return RELAIS_OK;
    char body[80];
    snprintf(body, sizeof body, "{\"cmd\":\"time\",\"t\":%" PRId64 "}", now / 1000);
    d->time_cmd_ms = now;
    e->stats.commands++;
    log_info("rules", "device %s clock is %+" PRId64 " s off: time command", r->device,
             (t - now) / 1000);
    return relais_store_command_add(e->st, r->device, body, now, now + 10 * MIN_MS);
}

/* ======================================================================
 * packs
 * ====================================================================== */

struct pack_walk {
    struct relais_engine *e;
    int64_t now;
    int64_t last_pack;
    int rc;
};

static int reading_cb(const struct relais_engine_reading *r, void *ud)
{
    struct pack_walk *w = ud;
    struct relais_engine *e = w->e;
    int64_t now = w->now;
    int rc = RELAIS_OK;
    bool bound = e->has_plan && relais_careplan_device(&e->plan, r->device);
    bool first = r->pack_id != w->last_pack;
    if (first) {
        w->last_pack = r->pack_id;
        e->stats.packs++;
        if (!bound)
            rc = on_unbound(e, r->device, now);
        else
            rc = device_seen(e, r, now);
        if (!rc && (r->pack_flags & RELAIS_PACK_FLAG_SEQ_REUSED) &&
            plan_of(e)->rules.enabled[RELAIS_RULE_SEQ_RESET]) {
            char why[160];
            snprintf(why, sizeof why,
                     "device %s reused a sequence number with another content (reset?)", r->device);
            rc = raise_alert(
                e, bound ? e->plan.patient : "unbound", RELAIS_RULE_SEQ_RESET, RELAIS_PRIO_LOW, now,
                why, json_pack("{s:s, s:I}", "device", r->device, "pack", (json_int_t)r->pack_id),
                AGAIN_NOTIFY);
        }
    }
    if (rc || r->idx < 0 || !bound) return w->rc = rc;
    e->stats.readings++;
    /* the reading's own time; a reading without one was taken at its arrival */
    int64_t t = r->time_source == RELAIS_TIME_GATEWAY ? now : (int64_t)llround(r->time * 1000.0);
    if ((rc = maybe_time_command(e, r, t, now))) return w->rc = rc;
    const char *m = r->metric;
    bool num = r->kind == RELAIS_READING_NUMBER;
    if (num && strcmp(m, "temp") == 0)
        rc = on_temperature(e, r->device, r->value, t, now);
    else if (num && strcmp(m, "spo2") == 0)
        rc = on_spo2(e, r->device, r->value, t, now);
    else if (num && strcmp(m, "hr") == 0)
        rc = on_heart_rate(e, r->device, r->value, t, now);
    else if (num && strcmp(m, "bp_sys") == 0)
        rc = on_blood_pressure(e, r->device, true, r->value, t, now);
    else if (num && strcmp(m, "bp_dia") == 0)
        rc = on_blood_pressure(e, r->device, false, r->value, t, now);
    else if (num && strcmp(m, "weight") == 0)
        rc = on_weight(e, r->device, r->value, t, now);
    else if (num && strncmp(m, "pro_", 4) == 0)
        rc = on_symptom(e, r->device, m + 4, r->value, t, now);
    else if (strcmp(m, "dose") == 0 && r->kind == RELAIS_READING_STRING &&
             (r->pack_flags & RELAIS_PACK_FLAG_SIGNED)) /* an unsigned dose proves nothing */
        rc = on_dose(e, r, t, now);
    return w->rc = rc;
}

static int process_packs(struct relais_engine *e, int64_t now, bool *more)
{
    int64_t last;
    int rc = relais_store_last_pack_id(e->st, &last);
    if (rc) return rc;
    *more = false;
    if (last <= e->watermark) return RELAIS_OK;
    int64_t upto = last;
    if (upto - e->watermark > (int64_t)e->opts.max_packs_per_run) {
        upto = e->watermark + e->opts.max_packs_per_run;
        *more = true;
    }
    struct pack_walk w = {.e = e, .now = now, .last_pack = 0};
    rc = relais_store_foreach_new_reading(e->st, e->watermark, upto, reading_cb, &w);
    if (rc) return w.rc ? w.rc : rc;
    e->watermark = upto;
    return RELAIS_OK;
}

/* ======================================================================
 * time events
 * ====================================================================== */

enum tev { TEV_NONE = 0, TEV_SLOT, TEV_ALERT, TEV_SILENT, TEV_COND_RAISE, TEV_COND_CLEAR };

struct due {
    enum tev kind;
    int64_t at;
    enum slot_event slot_kind;
    struct occurrence occ;
    struct relais_alert alert;
    size_t index;
};

struct earliest_alert {
    struct relais_alert *best;
    bool found;
};

static int earliest_alert_cb(const struct relais_alert *a, void *ud)
{
    struct earliest_alert *w = ud;
    if (a->next_ms && (!w->found || a->next_ms < w->best->next_ms)) {
        *w->best = *a;
        w->found = true;
    }
    return 0;
}

static uint32_t cond_delay_min(const struct relais_engine *e, int i)
{
    return i == 1 ? plan_of(e)->rules.clock_unsynced_min : 0;
}

static enum relais_rule cond_rule(int i)
{
    return i == 0 ? RELAIS_RULE_STORE_BUSY : RELAIS_RULE_CLOCK_NOT_SYNCED;
}

/* The earliest time event (after the slot cursor for slots). */
static int next_due(struct relais_engine *e, struct due *d)
{
    memset(d, 0, sizeof *d);
    int64_t at = 0;
    enum slot_event sk = SE_REMIND;
    struct occurrence occ;
    if (next_slot_event(e, e->cursor, &at, &sk, &occ)) {
        d->kind = TEV_SLOT;
        d->at = at;
        d->slot_kind = sk;
        d->occ = occ;
    }
    const struct relais_careplan *p = plan_of(e);
    if (e->has_plan && p->rules.enabled[RELAIS_RULE_DEVICE_SILENT])
        for (size_t i = 0; i < e->s.ndev; i++) {
            const struct relais_careplan_device *pd = relais_careplan_device(p, e->s.dev[i].id);
            if (!pd || e->s.dev[i].silent) continue;
            int64_t t =
                e->s.dev[i].last_seen_ms + (int64_t)p->rules.silent_periods * pd->period_s * 1000;
            if (d->kind == TEV_NONE || t < d->at) {
                d->kind = TEV_SILENT;
                d->at = t;
                d->index = i;
            }
        }
    for (int i = 0; i < 2; i++) {
        struct cond_state *c = &e->s.cond[i];
        if (!p->rules.enabled[cond_rule(i)]) continue;
        int64_t t = 0;
        enum tev k = TEV_NONE;
        if (c->active && c->since_ms) {
            t = c->since_ms + (int64_t)cond_delay_min(e, i) * MIN_MS;
            k = TEV_COND_RAISE;
        } else if (!c->active && c->normal_since_ms) {
            t = c->normal_since_ms + (int64_t)p->rules.clear_after_min * MIN_MS;
            k = TEV_COND_CLEAR;
        }
        if (k != TEV_NONE && (d->kind == TEV_NONE || t < d->at)) {
            d->kind = k;
            d->at = t;
            d->index = (size_t)i;
        }
    }
    struct earliest_alert w = {.best = &d->alert};
    struct relais_alert cand;
    w.best = &cand;
    struct relais_alert_filter f = {.open_only = true};
    int rc = relais_store_foreach_alert(e->st, &f, earliest_alert_cb, &w);
    if (rc) return rc;
    if (w.found && (d->kind == TEV_NONE || cand.next_ms < d->at)) {
        d->kind = TEV_ALERT;
        d->at = cand.next_ms;
        d->alert = cand;
    }
    return RELAIS_OK;
}

static int cond_event(struct relais_engine *e, enum tev kind, int i, int64_t now)
{
    struct cond_state *c = &e->s.cond[i];
    enum relais_rule r = cond_rule(i);
    if (kind == TEV_COND_RAISE) {
        c->since_ms = 0; /* raised: nothing more to wait for */
        json_t *ev = json_pack("{s:s}", "detail", c->detail);
        return raise_alert(e, patient_of(e), r, RELAIS_PRIO_LOW, now, c->detail, ev, AGAIN_SILENT);
    }
    c->normal_since_ms = 0;
    return clear_alert(e, patient_of(e), r, now,
                       r == RELAIS_RULE_STORE_BUSY ? "the store accepts data again"
                                                   : "the clock is synchronised again");
}

static int silent_event(struct relais_engine *e, size_t i, int64_t now)
{
    struct dev_state *d = &e->s.dev[i];
    d->silent = true;
    const struct relais_careplan_device *pd = relais_careplan_device(&e->plan, d->id);
    json_t *silent = json_array();
    for (size_t k = 0; k < e->s.ndev; k++)
        if (e->s.dev[k].silent)
            json_array_append_new(silent,
                                  json_pack("{s:s, s:I}", "device", e->s.dev[k].id, "last_seen_ms",
                                            (json_int_t)e->s.dev[k].last_seen_ms));
    char why[160];
    snprintf(why, sizeof why, "device %s silent for %" PRId64 " min (%u x its period of %u s)",
             d->id, (now - d->last_seen_ms) / MIN_MS, e->plan.rules.silent_periods,
             pd ? pd->period_s : 0);
    return raise_alert(e, e->plan.patient, RELAIS_RULE_DEVICE_SILENT, RELAIS_PRIO_LOW, now, why,
                       json_pack("{s:o}", "devices", silent), AGAIN_NOTIFY);
}

/* Time events due up to `until`, in time order.  skip_slots: the clock
 * jumped over them (slots become "unknown"; other events fire now). */
static int process_due(struct relais_engine *e, int64_t until, bool skip_slots)
{
    int rc;
    for (int n = 0; n < MAX_EVENTS_PER_RUN; n++) {
        struct due d;
        if ((rc = next_due(e, &d))) return rc;
        if (d.kind == TEV_NONE || d.at > until) return RELAIS_OK;
        int64_t at = d.at;
        switch (d.kind) {
        case TEV_SLOT:
            rc = slot_event(e, d.slot_kind, &d.occ, skip_slots ? until : at, skip_slots);
            e->cursor = d.at;
            break;
        case TEV_ALERT: rc = alert_timer(e, &d.alert, at); break;
        case TEV_SILENT: rc = silent_event(e, d.index, at); break;
        case TEV_COND_RAISE:
        case TEV_COND_CLEAR: rc = cond_event(e, d.kind, (int)d.index, at); break;
        case TEV_NONE: break;
        }
        if (rc) return rc;
    }
    log_warn("rules", "more than %d time events in one run: the rest waits", MAX_EVENTS_PER_RUN);
    return RELAIS_OK;
}

/* ======================================================================
 * the clock
 * ====================================================================== */

static int shift_state(struct relais_engine *e, int64_t delta)
{
    for (size_t i = 0; i < e->s.ndev; i++) {
        if (e->s.dev[i].last_seen_ms) e->s.dev[i].last_seen_ms += delta;
        if (e->s.dev[i].time_cmd_ms) e->s.dev[i].time_cmd_ms += delta;
        /* the device's clock did not move: against the new gateway clock it
         * is off by delta less */
        if (e->s.dev[i].skew_at_ms) {
            e->s.dev[i].skew_at_ms += delta;
            e->s.dev[i].skew_ms -= delta;
        }
    }
    for (int i = 0; i < 2; i++) {
        if (e->s.cond[i].since_ms) e->s.cond[i].since_ms += delta;
        if (e->s.cond[i].normal_since_ms) e->s.cond[i].normal_since_ms += delta;
    }
    return relais_store_alerts_shift(e->st, delta);
}

#define REOPEN_MAX 64

struct reopen_walk {
    struct relais_slot_row rows[REOPEN_MAX];
    size_t n;
};

static int reopen_cb(const struct relais_slot_row *r, void *ud)
{
    struct reopen_walk *w = ud;
    if (r->doses == 0 && strcmp(r->status, "unknown") == 0 && w->n < REOPEN_MAX)
        w->rows[w->n++] = *r;
    return RELAIS_OK;
}

static int reopen_slots(struct relais_engine *e, int64_t wall)
{
    if (!e->has_plan || e->cursor <= wall) return RELAIS_OK;
    struct reopen_walk *w = calloc(1, sizeof *w);
    if (!w) return RELAIS_ENOMEM;
    int rc = relais_store_foreach_slot(e->st, e->plan.patient, wall + 1, INT64_MAX, reopen_cb, w);
    for (size_t i = 0; !rc && i < w->n; i++) {
        snprintf(w->rows[i].status, sizeof w->rows[i].status, "pending");
        w->rows[i].reminded_ms = 0;
        rc = relais_store_slot_put(e->st, &w->rows[i]);
    }
    if (!rc) {
        log_info("rules", "clock back by %" PRId64 " s: %zu unknown dose slot(s) watched again",
                 (e->cursor - wall) / 1000, w->n);
        e->cursor = wall;
    }
    free(w);
    return rc;
}

/* Reads the clock; a jump of the wall clock against the monotonic one moves
 * the open timers with it (inside the run's transaction). */
static int clock_check(struct relais_engine *e, int64_t *now_out)
{
    int64_t wall = relais_clock_wall_ms(e->clock);
    uint64_t mono = relais_clock_mono_ms(e->clock);
    *now_out = wall;
    if (!e->have_sample) {
        e->have_sample = true;
        e->last_wall = wall;
        e->last_mono = mono;
        return RELAIS_OK;
    }
    int64_t expected = e->last_wall + (int64_t)(mono - e->last_mono);
    int64_t delta = wall - expected;
    e->last_wall = wall;
    e->last_mono = mono;
    if (llabs(delta) < (int64_t)e->opts.jump_threshold_ms) return RELAIS_OK;
    int rc;
    e->stats.clock_jumps++;
    e->stats.last_jump_ms = delta;
    log_warn("rules", "the wall clock jumped by %+" PRId64 " s: timers move with it", delta / 1000);
    char detail[160];
    snprintf(detail, sizeof detail, "%+" PRId64 " ms (expected %" PRId64 ", read %" PRId64 ")",
             delta, expected, wall);
    if ((rc = relais_store_audit(e->st, wall, "clock.jump", e->gateway, detail))) return rc;
    /* what was due before the jump happens as it would have */
    if ((rc = process_due(e, expected, false))) return rc;
    if ((rc = shift_state(e, delta))) return rc;
    e->s.jump_at_ms = wall;
    if (delta > 0) {
        /* slots the jump skipped: judged "unknown", never reminded nor missed */
        return process_due(e, wall, true);
    }
    /* backward: the slots the gateway will live through again were judged
     * under a wrong clock.  What was seen stays (doses, "taken", "missed");
     * what could not be known is watched again, and the cursor comes back so
     * that their reminders and verdicts happen at their time. */
    return reopen_slots(e, wall);
}

/* ======================================================================
 * public
 * ====================================================================== */

static void apply_condition_requests(struct relais_engine *e, int64_t now)
{
    for (int i = 0; i < 2; i++) {
        struct cond_request *q = &e->req[i];
        struct cond_state *c = &e->s.cond[i];
        if (!q->set) continue;
        if (q->active && !c->active) {
            c->active = true;
            c->since_ms = now;
            c->normal_since_ms = 0;
            snprintf(c->detail, sizeof c->detail, "%s", q->detail);
        } else if (!q->active && c->active) {
            c->active = false;
            c->since_ms = 0;
            c->normal_since_ms = now;
        }
    }
}

static void plan_devices_sync(struct relais_engine *e, int64_t now)
{
    struct state *s = &e->s;
    struct dev_state keep[RELAIS_CAREPLAN_MAX_DEVICES];
    size_t n = 0;
    for (size_t i = 0; i < e->plan.ndevices; i++) {
        struct dev_state *old = dev_state(e, e->plan.devices[i].id);
        if (old) {
            keep[n] = *old;
        } else {
            memset(&keep[n], 0, sizeof keep[n]);
            snprintf(keep[n].id, sizeof keep[n].id, "%s", e->plan.devices[i].id);
            keep[n].last_seen_ms = now; /* the silence is counted from the plan */
        }
        n++;
    }
    memcpy(s->dev, keep, n * sizeof keep[0]);
    s->ndev = n;
}

static int fail_run(struct relais_engine *e, int rc, const char *what)
{
    log_error("rules", "%s failed (%s): rolled back, the engine retries", what,
              relais_strerror(rc));
    relais_store_rollback(e->st);
    e->stats.failures++;
    int lrc = state_load(e);
    if (lrc) log_error("rules", "cannot reload the engine state: %s", relais_strerror(lrc));
    return rc;
}

/* The store names the patient of each pack's outbox rows at arrival. */
static void bind_store(struct relais_engine *e)
{
    const char *ids[RELAIS_CAREPLAN_MAX_DEVICES];
    size_t n = 0;
    for (size_t i = 0; e->has_plan && i < e->plan.ndevices && n < RELAIS_CAREPLAN_MAX_DEVICES; i++)
        ids[n++] = e->plan.devices[i].id;
    if (relais_store_outbox_bind(e->st, e->has_plan ? e->plan.patient : NULL, ids, n))
        log_error("rules", "out of memory binding the plan's devices for forwarding");
}

static int load_active_plan(struct relais_engine *e)
{
    struct relais_stored_plan sp;
    int rc = relais_store_plan_latest(e->st, &sp);
    if (rc == RELAIS_ENOTFOUND) return RELAIS_OK;
    if (rc) return rc;
    struct relais_careplan_error err;
    rc = relais_careplan_parse(&e->plan, sp.body, strlen(sp.body), &err);
    if (rc) {
        /* it was valid when applied: a newer relais may judge differently */
        log_error("rules", "the stored care plan version %" PRId64 " no longer validates: %s",
                  sp.version, err.message);
        free(sp.body);
        return RELAIS_OK;
    }
    e->has_plan = true;
    free(e->plan_body);
    e->plan_body = sp.body;
    bind_store(e);
    log_notice("rules", "care plan version %" PRId64 " (%s, %s) from %s", sp.version, e->plan.drug,
               relais_pathway_name(e->plan.pathway), sp.source);
    return RELAIS_OK;
}

int relais_engine_create(struct relais_engine **out, struct relais_store *store,
                         const struct relais_clock *clock, const struct relais_engine_opts *opts)
{
    struct relais_engine *e = calloc(1, sizeof *e);
    if (!e) return RELAIS_ENOMEM;
    e->st = store;
    e->clock = clock;
    e->opts = *opts;
    if (!e->opts.jump_threshold_ms) e->opts.jump_threshold_ms = 5000;
    if (!e->opts.max_packs_per_run) e->opts.max_packs_per_run = 4096;
    snprintf(e->gateway, sizeof e->gateway, "%s", opts->gateway_id ? opts->gateway_id : "gw");
    e->opts.gateway_id = e->gateway;
    relais_careplan_defaults(&e->defaults);
    int rc = load_active_plan(e);
    if (!rc) rc = state_load(e);
    if (rc) {
        relais_engine_destroy(e);
        return rc;
    }
    *out = e;
    return RELAIS_OK;
}

void relais_engine_destroy(struct relais_engine *e)
{
    if (!e) return;
    free(e->plan_body);
    free(e);
}

const struct relais_careplan *relais_engine_plan(const struct relais_engine *e)
{
    return e->has_plan ? &e->plan : NULL;
}

int relais_engine_run(struct relais_engine *e, bool *more)
{
    bool dummy;
    if (!more) more = &dummy;
    *more = false;
    if (relais_store_in_transaction(e->st)) return RELAIS_EBUSY;
    int rc = relais_store_begin(e->st);
    if (rc) return rc;
    int64_t now;
    e->stats.runs++;
    if ((rc = clock_check(e, &now))) return fail_run(e, rc, "clock check");
    apply_condition_requests(e, now);
    if ((rc = process_due(e, now, false))) return fail_run(e, rc, "time events");
    if ((rc = process_packs(e, now, more))) return fail_run(e, rc, "pack evaluation");
    if ((rc = state_save(e))) return fail_run(e, rc, "state save");
    if ((rc = relais_store_commit(e->st))) return fail_run(e, rc, "commit");
    for (int i = 0; i < 2; i++)
        e->req[i].set = false;
    return RELAIS_OK;
}

int64_t relais_engine_next_due(struct relais_engine *e)
{
    struct due d;
    if (next_due(e, &d) || d.kind == TEV_NONE) return INT64_MAX;
    return d.at;
}

void relais_engine_set_limits(struct relais_engine *e, uint32_t jump_threshold_ms,
                              uint32_t max_renotify)
{
    e->opts.jump_threshold_ms = jump_threshold_ms ? jump_threshold_ms : 5000;
    e->opts.max_renotify = max_renotify;
}

void relais_engine_set_condition(struct relais_engine *e, enum relais_rule rule, bool active,
                                 const char *detail)
{
    int i = cond_index(rule);
    if (i < 0) return;
    e->req[i].set = true;
    e->req[i].active = active;
    snprintf(e->req[i].detail, sizeof e->req[i].detail, "%s", detail ? detail : "");
}

/* ---- plans ---- */

static int audit_plan(struct relais_engine *e, int64_t now, const char *kind, const char *detail)
{
    int rc = relais_store_begin(e->st);
    if (!rc) rc = relais_store_audit(e->st, now, kind, e->gateway, detail);
    if (!rc) rc = relais_store_commit(e->st);
    if (rc) relais_store_rollback(e->st);
    return rc;
}

/* The same plan, whatever its layout: equal as JSON values. */
static bool same_plan_text(const char *active, const char *json, size_t len)
{
    if (!active) return false;
    json_t *a = json_loads(active, 0, NULL);
    json_t *b = json_loadb(json, len, 0, NULL);
    bool same = a && b && json_equal(a, b);
    json_decref(a);
    json_decref(b);
    return same;
}

int relais_engine_apply_plan(struct relais_engine *e, const char *json, size_t len,
                             const char *source, struct relais_plan_result *res)
{
    memset(res, 0, sizeof *res);
    res->active_version = e->has_plan ? e->plan.version : 0;
    if (relais_store_in_transaction(e->st)) return RELAIS_EBUSY;
    int64_t now = wall_now(e);
    struct relais_careplan *next = malloc(sizeof *next);
    if (!next) return RELAIS_ENOMEM;
    struct relais_careplan_error err;
    char detail[512];
    int rc = relais_careplan_parse(next, json, len, &err);
    if (rc) {
        /* the version, when it can be read, helps the sender */
        json_t *root = json_loadb(json, len, 0, NULL);
        res->version = json_integer_value(json_object_get(root, "version"));
        json_decref(root);
        res->status = RELAIS_PLAN_REJECTED;
        snprintf(res->error, sizeof res->error, "%s", err.message);
        goto rejected;
    }
    res->version = next->version;
    if (e->has_plan && next->version <= e->plan.version) {
        if (next->version == e->plan.version && same_plan_text(e->plan_body, json, len)) {
            res->status = RELAIS_PLAN_UNCHANGED;
            free(next);
            return RELAIS_OK;
        }
        res->status = RELAIS_PLAN_REJECTED;
        snprintf(res->error, sizeof res->error,
                 "version: %" PRId64 " is not newer than the active version %" PRId64,
                 next->version, e->plan.version);
        goto rejected;
    }
    char *body = malloc(len + 1);
    if (!body) {
        free(next);
        return RELAIS_ENOMEM;
    }
    memcpy(body, json, len);
    body[len] = '\0';

    /* apply: the plan, the state it implies, the audit record; one transaction */
    struct relais_careplan old_plan = e->plan;
    bool old_has = e->has_plan;
    bool new_patient = !e->has_plan || strcmp(e->plan.patient, next->patient) != 0;
    if ((rc = relais_store_begin(e->st))) {
        free(body);
        free(next);
        return rc;
    }
    if (new_patient) {
        /* another patient: what was known of the previous one does not carry over */
        struct state keep = e->s;
        memset(&e->s, 0, sizeof e->s);
        memcpy(e->s.cond, keep.cond, sizeof keep.cond);
        memcpy(e->s.unbound, keep.unbound, sizeof keep.unbound);
        e->s.nunbound = keep.nunbound;
        e->plan_since_ms = now;
        /* from the day's start: the slots already past today get their row
         * ("unknown": the plan was not there to watch them) */
        struct relais_local loc;
        relais_tz_local(next->timezone, now, &loc);
        e->cursor = relais_tz_utc(next->timezone, loc.days, 0) - 1;
        if (e->cursor > now) e->cursor = now;
    }
    e->plan = *next;
    e->has_plan = true;
    plan_devices_sync(e, now);
    snprintf(detail, sizeof detail, "version %" PRId64 " for %s (%s, %s) from %s", next->version,
             next->patient, next->drug, relais_pathway_name(next->pathway), source);
    rc = relais_store_plan_put(e->st, next->version, next->patient, body, source, now);
    if (!rc) rc = relais_store_audit(e->st, now, "careplan.applied", e->gateway, detail);
    /* alerts of rules the plan turns off are closed */
    for (int r = 0; !rc && r < RELAIS_RULE_COUNT; r++)
        if (!next->rules.enabled[r])
            rc = clear_alert(e, next->patient, (enum relais_rule)r, now,
                             "the rule is turned off by the care plan");
    /* devices it now binds no longer count as unbound */
    if (!rc && e->s.nunbound) {
        size_t k = 0;
        for (size_t i = 0; i < e->s.nunbound; i++)
            if (!relais_careplan_device(next, e->s.unbound[i]))
                memmove(e->s.unbound[k++], e->s.unbound[i], sizeof e->s.unbound[0]);
        e->s.nunbound = k;
        if (k == 0)
            rc = clear_alert(e, "unbound", RELAIS_RULE_UNBOUND_DEVICE, now,
                             "every device is bound by the care plan");
    }
    if (!rc) rc = state_save(e);
    if (!rc) rc = relais_store_commit(e->st);
    if (rc) {
        relais_store_rollback(e->st);
        e->plan = old_plan;
        e->has_plan = old_has;
        state_load(e);
        free(body);
        free(next);
        return rc;
    }
    free(e->plan_body);
    e->plan_body = body;
    free(next);
    bind_store(e);
    e->stats.plans_applied++;
    res->status = RELAIS_PLAN_APPLIED;
    res->active_version = e->plan.version;
    log_notice("rules", "care plan applied: %s", detail);
    return RELAIS_OK;

rejected:
    free(next);
    e->stats.plans_rejected++;
    snprintf(detail, sizeof detail, "version %" PRId64 " from %s: %s", res->version, source,
             res->error);
    log_warn("rules", "care plan rejected, version %" PRId64 " stays: %s", res->active_version,
             detail);
    return audit_plan(e, now, "careplan.rejected", detail);
}

/* ---- professionals' acts ---- */

static bool professional_ok(const char *by)
{
    size_t n = by ? strlen(by) : 0;
    if (n == 0 || n > 64) return false;
    for (size_t i = 0; i < n; i++) {
        char c = by[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '@' || c == ':'))
            return false;
    }
    return true;
}

int relais_engine_act(struct relais_engine *e, const char *alert_id, enum relais_alert_action act,
                      const char *by, struct relais_alert *out, char *err, size_t errcap)
{
    struct relais_alert a;
    if (errcap) err[0] = '\0';
    if (!professional_ok(by)) {
        snprintf(err, errcap, "the professional's id must be 1 to 64 of [A-Za-z0-9._@:-]");
        return RELAIS_EINVAL;
    }
    if (relais_store_in_transaction(e->st)) return RELAIS_EBUSY;
    int rc = relais_store_begin(e->st);
    if (rc) return rc;
    int64_t now = wall_now(e);
    rc = relais_store_alert_get(e->st, alert_id, &a);
    if (rc) {
        relais_store_rollback(e->st);
        if (rc == RELAIS_ENOTFOUND) snprintf(err, errcap, "no alert %s", alert_id);
        return rc;
    }
    if (!a.open) {
        relais_store_rollback(e->st);
        snprintf(err, errcap, "alert %s is %s already%s%s", a.id, a.state,
                 a.closed_by[0] ? " by " : "", a.closed_by);
        return RELAIS_EEXIST;
    }
    if (act == RELAIS_ACT_ACK && a.acked_ms) {
        relais_store_rollback(e->st);
        snprintf(err, errcap, "alert %s was acknowledged already by %s", a.id, a.acked_by);
        return RELAIS_EEXIST;
    }
    const char *event = act == RELAIS_ACT_ACK ? "acknowledged" : "resolved";
    if (!a.acked_ms) {
        a.acked_ms = now;
        snprintf(a.acked_by, sizeof a.acked_by, "%s", by);
    }
    a.next_ms = 0;
    snprintf(a.state, sizeof a.state, "%s", event);
    if (act == RELAIS_ACT_RESOLVE) {
        a.open = false;
        a.closed_ms = now;
        snprintf(a.closed_by, sizeof a.closed_by, "%s", by);
    }
    char detail[200];
    snprintf(detail, sizeof detail, "%s %s %" PRId64 " s after it was raised", a.rule, event,
             (now - a.raised_ms) / 1000);
    char kind[32];
    snprintf(kind, sizeof kind, "alert.%s", event);
    /* a resolved symptom alert: the reports that raised it are handled, a
     * later report of another symptom does not bring them back */
    bool state_changed = false;
    if (act == RELAIS_ACT_RESOLVE && strcmp(a.rule, relais_rule_name(RELAIS_RULE_SYMPTOM)) == 0 &&
        strcmp(a.patient, patient_of(e)) == 0) {
        for (int k = 0; k < SYM_COUNT; k++)
            if (e->s.grade_t[k] > e->s.symptoms_handled_t)
                e->s.symptoms_handled_t = e->s.grade_t[k];
        state_changed = true;
    }
    rc = relais_store_alert_update(e->st, &a);
    if (!rc) rc = add_event(e, &a, now, event, NULL, by, detail, true);
    if (!rc) rc = relais_store_audit(e->st, now, kind, a.id, detail);
    if (!rc && state_changed) rc = state_save(e);
    if (!rc) rc = relais_store_commit(e->st);
    if (rc) {
        relais_store_rollback(e->st);
        if (state_changed) state_load(e);
        return rc;
    }
    if (act == RELAIS_ACT_ACK)
        e->stats.acknowledged++;
    else
        e->stats.resolved++;
    log_notice("rules", "alert %s %s by %s", a.id, event, by);
    if (out) *out = a;
    return RELAIS_OK;
}

/* ---- delivery ---- */

struct pending_ev {
    int64_t id;
    char alert[RELAIS_ALERT_ID_MAX + 1];
    int64_t at_ms;
    char event[16];
    char team[33];
    int priority;
    char by[65];
    bool has_by;
    char detail[256];
};

struct collect {
    struct pending_ev *ev;
    size_t n, cap;
};

static int collect_cb(const struct relais_alert_event *ev, void *ud)
{
    struct collect *c = ud;
    if (c->n == c->cap) return 1;
    struct pending_ev *p = &c->ev[c->n++];
    p->id = ev->id;
    snprintf(p->alert, sizeof p->alert, "%s", ev->alert);
    p->at_ms = ev->at_ms;
    snprintf(p->event, sizeof p->event, "%s", ev->event);
    snprintf(p->team, sizeof p->team, "%s", ev->team);
    p->priority = ev->priority;
    p->has_by = ev->by != NULL;
    snprintf(p->by, sizeof p->by, "%s", ev->by ? ev->by : "");
    snprintf(p->detail, sizeof p->detail, "%s", ev->detail ? ev->detail : "");
    return 0;
}

int relais_engine_deliver(struct relais_engine *e, relais_engine_notify_cb cb, void *ud,
                          unsigned *delivered)
{
    enum { BATCH = 64 };
    struct pending_ev *evs = calloc(BATCH, sizeof *evs);
    struct relais_alert *a = malloc(sizeof *a);
    *delivered = 0;
    if (!evs || !a) {
        free(evs);
        free(a);
        return RELAIS_ENOMEM;
    }
    struct collect c = {evs, 0, BATCH};
    int rc = relais_store_foreach_undelivered(e->st, BATCH, collect_cb, &c);
    if (rc < 0 || c.n == 0) goto out;
    if ((rc = relais_store_begin(e->st))) goto out;
    int64_t now = wall_now(e);
    for (size_t i = 0; i < c.n && !rc; i++) {
        struct pending_ev *p = &evs[i];
        if ((rc = relais_store_alert_get(e->st, p->alert, a))) break;
        const struct relais_alert_event ev = {
            .id = p->id,
            .alert = p->alert,
            .at_ms = p->at_ms,
            .event = p->event,
            .team = p->team,
            .priority = p->priority,
            .by = p->has_by ? p->by : NULL,
            .detail = p->detail,
            .notify = true,
        };
        int dr = cb(ud, &ev, a);
        if (dr == RELAIS_EAGAIN) continue;
        if ((rc = relais_store_alert_event_delivered(e->st, p->id, now))) break;
        (*delivered)++;
        if (strcmp(a->state, "raised") == 0) {
            snprintf(a->state, sizeof a->state, "notified");
            if (!a->notified_ms) a->notified_ms = now;
            rc = relais_store_alert_update(e->st, a);
        }
    }
    if (!rc) rc = relais_store_commit(e->st);
    if (rc) {
        relais_store_rollback(e->st);
        *delivered = 0;
    }
out:
    free(evs);
    free(a);
    return rc < 0 ? rc : RELAIS_OK;
}

void relais_engine_get_stats(const struct relais_engine *e, struct relais_engine_stats *out)
{
    *out = e->stats;
}
