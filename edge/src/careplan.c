/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Care plan parsing and validation (see relais/careplan.h).  The whole plan
 * is checked before anything is kept; the first bad field is named by its
 * JSON path.  Defaults come from the pathway profile (routing, team delays)
 * and DESIGN 6's table (thresholds), then the plan's overrides apply.
 */
#include "relais/careplan.h"
#include "relais/error.h"
#include "relais/registry.h"
#include "relais/tz.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const rule_names[RELAIS_RULE_COUNT] = {
    [RELAIS_RULE_FEVER] = "fever",
    [RELAIS_RULE_FEVER_BORDERLINE] = "fever_borderline",
    [RELAIS_RULE_HYPOTHERMIA] = "hypothermia",
    [RELAIS_RULE_DESATURATION] = "desaturation",
    [RELAIS_RULE_HEART_RATE] = "heart_rate",
    [RELAIS_RULE_BLOOD_PRESSURE] = "blood_pressure",
    [RELAIS_RULE_WEIGHT_LOSS] = "weight_loss",
    [RELAIS_RULE_SYMPTOM] = "symptom",
    [RELAIS_RULE_MISSED_DOSE] = "missed_dose",
    [RELAIS_RULE_DOUBLE_DOSE] = "double_dose",
    [RELAIS_RULE_REST_DAY_DOSE] = "rest_day_dose",
    [RELAIS_RULE_DRUG_HOLIDAY] = "drug_holiday",
    [RELAIS_RULE_DEVICE_SILENT] = "device_silent",
    [RELAIS_RULE_SEQ_RESET] = "seq_reset",
    [RELAIS_RULE_CLOCK_NOT_SYNCED] = "clock_not_synced",
    [RELAIS_RULE_STORE_BUSY] = "store_busy",
    [RELAIS_RULE_UNBOUND_DEVICE] = "unbound_device",
};

const char *relais_rule_name(enum relais_rule r)
{
    return (unsigned)r < RELAIS_RULE_COUNT ? rule_names[r] : "?";
}

int relais_rule_from_name(const char *name)
{
    for (int r = 0; r < RELAIS_RULE_COUNT; r++)
        if (strcmp(rule_names[r], name) == 0) return r;
    return -1;
}

const char *relais_priority_name(enum relais_priority p)
{
    static const char *const n[] = {"LOW", "MEDIUM", "HIGH"};
    return (unsigned)p < 3 ? n[p] : "?";
}

static const char *const pathway_names[] = {"standard", "rare", "non-standard", "advanced"};

const char *relais_pathway_name(enum relais_pathway p)
{
    return (unsigned)p < 4 ? pathway_names[p] : "?";
}

/* ---- errors ---- */

struct ctx {
    struct relais_careplan_error *err;
    bool failed;
};

static int fail(struct ctx *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct ctx *c, const char *path, const char *fmt, ...)
{
    if (c->failed) return RELAIS_EPARSE;
    char why[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    snprintf(c->err->message, sizeof c->err->message, "%s: %s", path, why);
    c->failed = true;
    return RELAIS_EPARSE;
}

/* ---- defaults: DESIGN 6's table and the pathway profiles ---- */

static void default_rules(struct relais_rule_settings *r)
{
    memset(r, 0, sizeof *r);
    for (int i = 0; i < RELAIS_RULE_COUNT; i++)
        r->enabled[i] = true;
    r->fever_high = 38.3;
    r->fever_sustained = 38.0;
    r->fever_sustained_min = 60;
    r->fever_borderline_low = 38.0;
    r->hypothermia_low = 35.0;
    r->spo2_high_max = 92;
    r->spo2_medium_max = 94;
    r->hr_high_above = 131;
    r->hr_high_below = 40;
    r->hr_medium_above = 111;
    r->bp_sys_low = 90;
    r->bp_sys_high = 180;
    r->bp_dia_high = 110;
    r->bp_sys_medium = 160;
    r->bp_dia_medium = 100;
    r->bp_sys_low_band = 140;
    r->bp_dia_low_band = 90;
    r->bp_low_window_h = 24;
    r->weight_loss_percent = 5;
    r->weight_loss_days = 30;
    r->symptom_medium_grade = 2;
    r->symptom_high_grade = 3;
    r->missed_grace_min = 10;
    r->drug_holiday_days = 3;
    r->clock_unsynced_min = 60;
    r->silent_periods = 3;
    r->clear_after_min = 30;
}

static void set_team(struct relais_careplan *p, const char *name, uint32_t ack, const char *esc,
                     uint32_t call15)
{
    for (size_t i = 0; i < p->nteams; i++) {
        if (strcmp(p->teams[i].name, name) == 0) {
            p->teams[i].ack_within_min = ack;
            snprintf(p->teams[i].escalate_to, sizeof p->teams[i].escalate_to, "%s", esc);
            p->teams[i].call15_after_min = call15;
            return;
        }
    }
    struct relais_team *t = &p->teams[p->nteams++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ack_within_min = ack;
    snprintf(t->escalate_to, sizeof t->escalate_to, "%s", esc);
    t->call15_after_min = call15;
}

static void route(struct relais_careplan *p, enum relais_rule r, enum relais_priority prio,
                  const char *team)
{
    snprintf(p->route[r][prio], sizeof p->route[r][prio], "%s", team);
}

/* The pathway profile: who receives what, and how fast it escalates
 * (docs/careplan.md, "Pathway profiles"). */
static void apply_pathway(struct relais_careplan *p)
{
    p->nteams = 0;
    for (int r = 0; r < RELAIS_RULE_COUNT; r++) {
        route(p, (enum relais_rule)r, RELAIS_PRIO_HIGH, "had");
        route(p, (enum relais_rule)r, RELAIS_PRIO_MEDIUM, "coordination");
        route(p, (enum relais_rule)r, RELAIS_PRIO_LOW, "coordination");
    }
    switch (p->pathway) {
    case RELAIS_PATHWAY_STANDARD:
        set_team(p, "had", 15, "had-backup", 30);
        set_team(p, "had-backup", 15, "", 0);
        set_team(p, "coordination", 240, "", 0);
        break;
    case RELAIS_PATHWAY_RARE:
        /* shorter delays: the expert centre is further away */
        set_team(p, "had", 10, "had-backup", 25);
        set_team(p, "had-backup", 10, "", 0);
        set_team(p, "coordination", 120, "", 0);
        break;
    case RELAIS_PATHWAY_NON_STANDARD:
        /* outside protocols: the HAD team also takes the MEDIUM clinical alerts */
        set_team(p, "had", 15, "had-backup", 30);
        set_team(p, "had-backup", 15, "", 0);
        set_team(p, "coordination", 240, "", 0);
        for (int r = RELAIS_RULE_FEVER; r <= RELAIS_RULE_SYMPTOM; r++)
            route(p, (enum relais_rule)r, RELAIS_PRIO_MEDIUM, "had");
        break;
    case RELAIS_PATHWAY_ADVANCED:
        /* beyond standard lines: symptom burden first, quickest escalation */
        set_team(p, "had", 10, "had-backup", 20);
        set_team(p, "had-backup", 10, "", 0);
        set_team(p, "coordination", 240, "", 0);
        route(p, RELAIS_RULE_SYMPTOM, RELAIS_PRIO_MEDIUM, "had");
        route(p, RELAIS_RULE_DESATURATION, RELAIS_PRIO_MEDIUM, "had");
        break;
    }
}

/* ---- field readers ---- */

static bool name_ok(const char *s, size_t max, bool allow_upper)
{
    size_t n = strlen(s);
    if (n == 0 || n > max) return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
                  (allow_upper && ((ch >= 'A' && ch <= 'Z') || ch == '.'));
        if (!ok) return false;
    }
    return true;
}

static int get_int(struct ctx *c, json_t *obj, const char *key, const char *path, bool required,
                   int64_t min, int64_t max, int64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        if (required) return fail(c, path, "required");
        return RELAIS_OK;
    }
    if (!json_is_integer(v)) return fail(c, path, "must be a whole number");
    int64_t x = json_integer_value(v);
    if (x < min || x > max)
        return fail(c, path, "%lld is out of range [%lld, %lld]", (long long)x, (long long)min,
                    (long long)max);
    *out = x;
    return RELAIS_OK;
}

static int get_u32(struct ctx *c, json_t *obj, const char *key, const char *path, bool required,
                   uint32_t min, uint32_t max, uint32_t *out)
{
    int64_t v = *out;
    int rc = get_int(c, obj, key, path, required, min, max, &v);
    *out = (uint32_t)v;
    return rc;
}

static int get_num(struct ctx *c, json_t *obj, const char *key, const char *path, double min,
                   double max, double *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v) return RELAIS_OK;
    if (!json_is_number(v)) return fail(c, path, "must be a number");
    double x = json_number_value(v);
    if (!isfinite(x) || x < min || x > max)
        return fail(c, path, "%g is out of range [%g, %g]", x, min, max);
    *out = x;
    return RELAIS_OK;
}

static int get_str(struct ctx *c, json_t *obj, const char *key, const char *path, bool required,
                   char *out, size_t cap)
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        if (required) return fail(c, path, "required");
        return RELAIS_OK;
    }
    if (!json_is_string(v)) return fail(c, path, "must be a string");
    if (json_string_length(v) >= cap || memchr(json_string_value(v), '\0', json_string_length(v)))
        return fail(c, path, "longer than %zu characters", cap - 1);
    snprintf(out, cap, "%s", json_string_value(v));
    return RELAIS_OK;
}

/* Only the listed keys may appear in obj. */
static int only_keys(struct ctx *c, json_t *obj, const char *path, const char *const keys[])
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        size_t i;
        for (i = 0; keys[i]; i++)
            if (strcmp(keys[i], k) == 0) break;
        if (!keys[i]) {
            char p[128];
            snprintf(p, sizeof p, "%s%s%.40s", path, path[0] ? "." : "", k);
            return fail(c, p, "unknown field");
        }
    }
    return RELAIS_OK;
}

/* Exactly n ASCII digits at s. */
static bool digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static int parse_date(const char *s, int32_t *out)
{
    int y, m, d;
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4, &y) ||
        !digits(s + 5, 2, &m) || !digits(s + 8, 2, &d))
        return -1;
    if (y < 2000 || y > 2200 || m < 1 || m > 12 || d < 1 || d > 31) return -1;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[m - 1] || (m == 2 && d == 29 && !leap)) return -1;
    *out = relais_tz_days_from_civil(y, (unsigned)m, (unsigned)d);
    return 0;
}

static int parse_hhmm(const char *s, uint32_t *minute)
{
    int h, m;
    if (strlen(s) != 5 || s[2] != ':' || !digits(s, 2, &h) || !digits(s + 3, 2, &m)) return -1;
    if (h > 23 || m > 59) return -1;
    *minute = (uint32_t)(h * 60 + m);
    return 0;
}

static bool timezone_ok(const char *tz)
{
    /* an IANA name that exists in the system's zoneinfo, without tricks */
    if (!tz[0] || tz[0] == '/' || strstr(tz, "..") || strlen(tz) > 60) return false;
    for (const char *p = tz; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '/' || *p == '_' || *p == '-' || *p == '+'))
            return false;
    /* names that are files of the zone database but not zones to schedule by */
    static const char *const not_zones[] = {
        "localtime", "posixrules", "Factory",      "leapseconds", "leap-seconds.list",
        "tzdata.zi", "zone.tab",   "zone1970.tab", "iso3166.tab", NULL};
    /* by their last component: "posix/Factory" is Factory too */
    const char *last = strrchr(tz, '/');
    last = last ? last + 1 : tz;
    for (size_t i = 0; not_zones[i]; i++)
        if (strcmp(last, not_zones[i]) == 0) return false;
    if (strncmp(tz, "right/", 6) == 0) /* leap-second-counting clocks: not the gateway's */
        return false;
    char path[128];
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", tz);
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char magic[4];
    bool ok = fread(magic, 1, 4, f) == 4 && memcmp(magic, "TZif", 4) == 0;
    fclose(f);
    return ok;
}

/* ---- sections ---- */

static int parse_devices(struct ctx *c, json_t *arr, struct relais_careplan *p)
{
    static const char *const keys[] = {"id", "kind", "period_s", NULL};
    if (!json_is_array(arr)) return fail(c, "devices", "must be an array");
    if (json_array_size(arr) == 0) return fail(c, "devices", "at least one device");
    if (json_array_size(arr) > RELAIS_CAREPLAN_MAX_DEVICES)
        return fail(c, "devices", "at most %d devices", RELAIS_CAREPLAN_MAX_DEVICES);
    size_t i;
    json_t *d;
    json_array_foreach(arr, i, d)
    {
        char path[64];
        struct relais_careplan_device *dev = &p->devices[p->ndevices];
        snprintf(path, sizeof path, "devices[%zu]", i);
        if (!json_is_object(d)) return fail(c, path, "must be an object");
        if (only_keys(c, d, path, keys)) return RELAIS_EPARSE;
        snprintf(path, sizeof path, "devices[%zu].id", i);
        if (get_str(c, d, "id", path, true, dev->id, sizeof dev->id)) return RELAIS_EPARSE;
        if (!relais_wire_id_valid(dev->id, strlen(dev->id)))
            return fail(c, path, "'%s' is not a device id ([a-z0-9][a-z0-9-]{0,31})", dev->id);
        for (size_t j = 0; j < p->ndevices; j++)
            if (strcmp(p->devices[j].id, dev->id) == 0)
                return fail(c, path, "'%s' is listed twice", dev->id);
        snprintf(path, sizeof path, "devices[%zu].kind", i);
        if (get_str(c, d, "kind", path, true, dev->kind, sizeof dev->kind)) return RELAIS_EPARSE;
        if (!relais_device_kind_valid(dev->kind))
            return fail(c, path, "'%s' is not a device kind", dev->kind);
        snprintf(path, sizeof path, "devices[%zu].period_s", i);
        dev->period_s = 3600;
        if (get_u32(c, d, "period_s", path, true, 60, 604800, &dev->period_s)) return RELAIS_EPARSE;
        p->ndevices++;
    }
    return RELAIS_OK;
}

static int parse_regimen(struct ctx *c, json_t *reg, struct relais_careplan *p)
{
    static const char *const keys[] = {"drug",    "dose_mg", "start", "cycle_days",
                                       "days_on", "cycles",  "slots", NULL};
    static const char *const slot_keys[] = {"id", "time", "window_min", NULL};
    if (!json_is_object(reg)) return fail(c, "regimen", "must be an object");
    if (only_keys(c, reg, "regimen", keys)) return RELAIS_EPARSE;
    if (get_str(c, reg, "drug", "regimen.drug", true, p->drug, sizeof p->drug))
        return RELAIS_EPARSE;
    if (!p->drug[0]) return fail(c, "regimen.drug", "must not be empty");
    if (get_num(c, reg, "dose_mg", "regimen.dose_mg", 0.001, 100000, &p->dose_mg))
        return RELAIS_EPARSE;
    char start[16];
    if (get_str(c, reg, "start", "regimen.start", true, start, sizeof start)) return RELAIS_EPARSE;
    if (parse_date(start, &p->start_days) != 0)
        return fail(c, "regimen.start", "'%s' is not a date YYYY-MM-DD", start);
    if (get_u32(c, reg, "cycle_days", "regimen.cycle_days", true, 1, 365, &p->cycle_days))
        return RELAIS_EPARSE;
    if (get_u32(c, reg, "cycles", "regimen.cycles", false, 0, 1000, &p->cycles))
        return RELAIS_EPARSE;

    json_t *on = json_object_get(reg, "days_on");
    if (!on) return fail(c, "regimen.days_on", "required");
    if (!json_is_array(on) || json_array_size(on) == 0)
        return fail(c, "regimen.days_on", "must be a non-empty array of [first, last] days");
    if (json_array_size(on) > RELAIS_CAREPLAN_MAX_RANGES)
        return fail(c, "regimen.days_on", "at most %d ranges", RELAIS_CAREPLAN_MAX_RANGES);
    size_t i;
    json_t *r;
    uint32_t prev_last = 0;
    json_array_foreach(on, i, r)
    {
        char path[48];
        snprintf(path, sizeof path, "regimen.days_on[%zu]", i);
        if (!json_is_array(r) || json_array_size(r) != 2 ||
            !json_is_integer(json_array_get(r, 0)) || !json_is_integer(json_array_get(r, 1)))
            return fail(c, path, "must be [first, last], two whole numbers");
        json_int_t a = json_integer_value(json_array_get(r, 0));
        json_int_t b = json_integer_value(json_array_get(r, 1));
        if (a < 1 || b < a || b > (json_int_t)p->cycle_days)
            return fail(c, path, "[%lld, %lld] is not within day 1..%u of the cycle, first <= last",
                        (long long)a, (long long)b, p->cycle_days);
        if ((uint32_t)a <= prev_last)
            return fail(c, path, "ranges must be in order and must not overlap");
        p->days_on[i][0] = (uint32_t)a;
        p->days_on[i][1] = (uint32_t)b;
        prev_last = (uint32_t)b;
        p->ndays_on++;
    }

    json_t *slots = json_object_get(reg, "slots");
    if (!slots) return fail(c, "regimen.slots", "required");
    if (!json_is_array(slots) || json_array_size(slots) == 0)
        return fail(c, "regimen.slots", "must be a non-empty array");
    if (json_array_size(slots) > RELAIS_CAREPLAN_MAX_SLOTS)
        return fail(c, "regimen.slots", "at most %d slots a day", RELAIS_CAREPLAN_MAX_SLOTS);
    json_t *s;
    json_array_foreach(slots, i, s)
    {
        char path[48];
        struct relais_dose_slot *slot = &p->slots[p->nslots];
        snprintf(path, sizeof path, "regimen.slots[%zu]", i);
        if (!json_is_object(s)) return fail(c, path, "must be an object");
        if (only_keys(c, s, path, slot_keys)) return RELAIS_EPARSE;
        snprintf(path, sizeof path, "regimen.slots[%zu].id", i);
        if (get_str(c, s, "id", path, true, slot->id, sizeof slot->id)) return RELAIS_EPARSE;
        if (!name_ok(slot->id, 16, false))
            return fail(c, path, "'%s' is not a slot id ([a-z0-9_-]{1,16})", slot->id);
        for (size_t j = 0; j < p->nslots; j++)
            if (strcmp(p->slots[j].id, slot->id) == 0)
                return fail(c, path, "'%s' is used twice", slot->id);
        char hhmm[8];
        snprintf(path, sizeof path, "regimen.slots[%zu].time", i);
        if (get_str(c, s, "time", path, true, hhmm, sizeof hhmm) ||
            parse_hhmm(hhmm, &slot->minute) != 0)
            return fail(c, path, "'%s' is not HH:MM", hhmm);
        if (p->nslots && slot->minute <= p->slots[p->nslots - 1].minute)
            return fail(c, path, "slots must be in the order of the day");
        snprintf(path, sizeof path, "regimen.slots[%zu].window_min", i);
        slot->window_min = 120;
        if (get_u32(c, s, "window_min", path, false, 10, 720, &slot->window_min))
            return RELAIS_EPARSE;
        p->nslots++;
    }
    /* windows must not overlap, the last one with the first of the next day */
    for (size_t k = 0; p->nslots > 1 && k < p->nslots; k++) {
        const struct relais_dose_slot *a = &p->slots[k];
        const struct relais_dose_slot *b = &p->slots[(k + 1) % p->nslots];
        int64_t a_end = (int64_t)a->minute + a->window_min / 2;
        int64_t b_start =
            (int64_t)b->minute + (k + 1 == p->nslots ? 1440 : 0) - (int64_t)(b->window_min / 2);
        if (a_end > b_start) {
            char path[48];
            snprintf(path, sizeof path, "regimen.slots[%zu].window_min", k);
            return fail(c, path, "the window of '%s' overlaps the next slot's", a->id);
        }
    }
    return RELAIS_OK;
}

/* "route": {"HIGH": team, "MEDIUM": team, "LOW": team} of one rule; the team
 * names are checked once the teams are known. */
static int parse_route(struct ctx *c, json_t *o, enum relais_rule r, struct relais_careplan *p)
{
    char base[80];
    snprintf(base, sizeof base, "rules.%s.route", rule_names[r]);
    if (!json_is_object(o))
        return fail(c, base, "must be an object {\"HIGH\": team, \"MEDIUM\": team, \"LOW\": team}");
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        char path[128];
        snprintf(path, sizeof path, "%s.%.16s", base, k);
        int prio = strcmp(k, "LOW") == 0      ? RELAIS_PRIO_LOW
                   : strcmp(k, "MEDIUM") == 0 ? RELAIS_PRIO_MEDIUM
                   : strcmp(k, "HIGH") == 0   ? RELAIS_PRIO_HIGH
                                              : -1;
        if (prio < 0) return fail(c, path, "not a priority (HIGH, MEDIUM, LOW)");
        if (!json_is_string(v) || !name_ok(json_string_value(v), RELAIS_TEAM_MAX, false))
            return fail(c, path, "must be a team name ([a-z0-9_-]{1,32})");
        route(p, r, (enum relais_priority)prio, json_string_value(v));
    }
    return RELAIS_OK;
}

static int parse_rule(struct ctx *c, json_t *o, enum relais_rule r, struct relais_careplan *p)
{
    struct relais_rule_settings *s = &p->rules;
    char base[48], path[96];
    snprintf(base, sizeof base, "rules.%s", rule_names[r]);
#define P(key) (snprintf(path, sizeof path, "%s.%s", base, key), path)
    if (!json_is_object(o)) return fail(c, base, "must be an object");
    json_t *rt = json_object_get(o, "route");
    if (rt) {
        if (parse_route(c, rt, r, p)) return RELAIS_EPARSE;
        json_object_del(o, "route"); /* checked: the keys below need not list it */
    }
    json_t *en = json_object_get(o, "enabled");
    if (en) {
        if (!json_is_boolean(en)) return fail(c, P("enabled"), "must be true or false");
        s->enabled[r] = json_is_true(en);
    }
    int rc = 0;
    switch (r) {
    case RELAIS_RULE_FEVER: {
        static const char *const k[] = {"enabled", "high", "sustained", "sustained_min", NULL};
        rc = only_keys(c, o, base, k) || get_num(c, o, "high", P("high"), 36, 42, &s->fever_high) ||
             get_num(c, o, "sustained", P("sustained"), 36, 42, &s->fever_sustained) ||
             get_u32(c, o, "sustained_min", P("sustained_min"), false, 1, 1440,
                     &s->fever_sustained_min);
        if (!rc && s->fever_sustained > s->fever_high)
            rc = json_object_get(o, "high")
                     ? fail(c, P("high"), "must not be below sustained (%g)", s->fever_sustained)
                     : fail(c, P("sustained"), "must not be above high (%g)", s->fever_high);
        break;
    }
    case RELAIS_RULE_FEVER_BORDERLINE: {
        static const char *const k[] = {"enabled", "low", NULL};
        rc = only_keys(c, o, base, k) ||
             get_num(c, o, "low", P("low"), 36, 42, &s->fever_borderline_low);
        break;
    }
    case RELAIS_RULE_HYPOTHERMIA: {
        static const char *const k[] = {"enabled", "low", NULL};
        rc =
            only_keys(c, o, base, k) || get_num(c, o, "low", P("low"), 30, 37, &s->hypothermia_low);
        break;
    }
    case RELAIS_RULE_DESATURATION: {
        static const char *const k[] = {"enabled", "high_max", "medium_max", NULL};
        rc = only_keys(c, o, base, k) ||
             get_num(c, o, "high_max", P("high_max"), 50, 100, &s->spo2_high_max) ||
             get_num(c, o, "medium_max", P("medium_max"), 50, 100, &s->spo2_medium_max);
        if (!rc && s->spo2_medium_max < s->spo2_high_max)
            rc = fail(c, P("medium_max"), "must not be below high_max (%g)", s->spo2_high_max);
        break;
    }
    case RELAIS_RULE_HEART_RATE: {
        static const char *const k[] = {"enabled", "high_above", "high_below", "medium_above",
                                        NULL};
        rc = only_keys(c, o, base, k) ||
             get_num(c, o, "high_above", P("high_above"), 60, 300, &s->hr_high_above) ||
             get_num(c, o, "high_below", P("high_below"), 20, 100, &s->hr_high_below) ||
             get_num(c, o, "medium_above", P("medium_above"), 50, 300, &s->hr_medium_above);
        if (!rc && s->hr_medium_above > s->hr_high_above)
            rc = fail(c, P("medium_above"), "must not be above high_above (%g)", s->hr_high_above);
        if (!rc && s->hr_high_below >= s->hr_medium_above)
            rc = fail(c, P("high_below"), "must be below medium_above (%g)", s->hr_medium_above);
        break;
    }
    case RELAIS_RULE_BLOOD_PRESSURE: {
        static const char *const k[] = {"enabled",    "sys_low",    "sys_high",     "dia_high",
                                        "sys_medium", "dia_medium", "sys_low_band", "dia_low_band",
                                        "window_h",   NULL};
        rc = only_keys(c, o, base, k) ||
             get_num(c, o, "sys_low", P("sys_low"), 50, 150, &s->bp_sys_low) ||
             get_num(c, o, "sys_high", P("sys_high"), 100, 300, &s->bp_sys_high) ||
             get_num(c, o, "dia_high", P("dia_high"), 60, 200, &s->bp_dia_high) ||
             get_num(c, o, "sys_medium", P("sys_medium"), 100, 300, &s->bp_sys_medium) ||
             get_num(c, o, "dia_medium", P("dia_medium"), 60, 200, &s->bp_dia_medium) ||
             get_num(c, o, "sys_low_band", P("sys_low_band"), 100, 300, &s->bp_sys_low_band) ||
             get_num(c, o, "dia_low_band", P("dia_low_band"), 60, 200, &s->bp_dia_low_band) ||
             get_u32(c, o, "window_h", P("window_h"), false, 1, 168, &s->bp_low_window_h);
        if (!rc && s->bp_sys_low >= s->bp_sys_low_band)
            rc = fail(c, P("sys_low"), "must be below sys_low_band (%g)", s->bp_sys_low_band);
        if (!rc && !(s->bp_sys_low_band <= s->bp_sys_medium && s->bp_sys_medium <= s->bp_sys_high))
            rc = fail(c, P("sys_medium"), "needs sys_low_band <= sys_medium <= sys_high");
        if (!rc && !(s->bp_dia_low_band <= s->bp_dia_medium && s->bp_dia_medium <= s->bp_dia_high))
            rc = fail(c, P("dia_medium"), "needs dia_low_band <= dia_medium <= dia_high");
        break;
    }
    case RELAIS_RULE_WEIGHT_LOSS: {
        static const char *const k[] = {"enabled", "percent", "days", "baseline_kg", NULL};
        rc = only_keys(c, o, base, k) ||
             get_num(c, o, "percent", P("percent"), 0.5, 50, &s->weight_loss_percent) ||
             get_u32(c, o, "days", P("days"), false, 1, 365, &s->weight_loss_days) ||
             get_num(c, o, "baseline_kg", P("baseline_kg"), 1, 650, &s->weight_baseline_kg);
        break;
    }
    case RELAIS_RULE_SYMPTOM: {
        static const char *const k[] = {"enabled", "medium_grade", "high_grade", NULL};
        rc = only_keys(c, o, base, k) ||
             get_u32(c, o, "medium_grade", P("medium_grade"), false, 1, 4,
                     &s->symptom_medium_grade) ||
             get_u32(c, o, "high_grade", P("high_grade"), false, 1, 4, &s->symptom_high_grade);
        if (!rc && s->symptom_medium_grade > s->symptom_high_grade)
            rc = fail(c, P("medium_grade"), "must not be above high_grade (%u)",
                      s->symptom_high_grade);
        break;
    }
    case RELAIS_RULE_DRUG_HOLIDAY: {
        static const char *const k[] = {"enabled", "days", NULL};
        rc = only_keys(c, o, base, k) ||
             get_u32(c, o, "days", P("days"), false, 1, 60, &s->drug_holiday_days);
        break;
    }
    case RELAIS_RULE_MISSED_DOSE: {
        static const char *const k[] = {"enabled", "grace_min", NULL};
        rc = only_keys(c, o, base, k) ||
             get_u32(c, o, "grace_min", P("grace_min"), false, 0, 240, &s->missed_grace_min);
        break;
    }
    case RELAIS_RULE_CLOCK_NOT_SYNCED: {
        static const char *const k[] = {"enabled", "after_min", NULL};
        rc = only_keys(c, o, base, k) ||
             get_u32(c, o, "after_min", P("after_min"), false, 0, 1440, &s->clock_unsynced_min);
        break;
    }
    case RELAIS_RULE_DEVICE_SILENT: {
        static const char *const k[] = {"enabled", "periods", NULL};
        rc = only_keys(c, o, base, k) ||
             get_u32(c, o, "periods", P("periods"), false, 1, 100, &s->silent_periods);
        break;
    }
    default: {
        static const char *const k[] = {"enabled", NULL};
        rc = only_keys(c, o, base, k);
        break;
    }
    }
#undef P
    return rc ? RELAIS_EPARSE : RELAIS_OK;
}

static int parse_rules(struct ctx *c, json_t *rules, struct relais_careplan *p)
{
    if (!json_is_object(rules)) return fail(c, "rules", "must be an object");
    const char *k;
    json_t *v;
    json_object_foreach(rules, k, v)
    {
        if (strcmp(k, "clear_after_min") == 0) {
            if (get_u32(c, rules, k, "rules.clear_after_min", false, 0, 1440,
                        &p->rules.clear_after_min))
                return RELAIS_EPARSE;
            continue;
        }
        int r = relais_rule_from_name(k);
        if (r < 0) {
            char path[80];
            snprintf(path, sizeof path, "rules.%.40s", k);
            return fail(c, path, "unknown rule");
        }
        if (parse_rule(c, v, (enum relais_rule)r, p)) return RELAIS_EPARSE;
    }
    const struct relais_rule_settings *s = &p->rules;
    if (s->fever_borderline_low > s->fever_high)
        return fail(c, "rules.fever_borderline.low", "must not be above rules.fever.high (%g)",
                    s->fever_high);
    if (s->hypothermia_low >= s->fever_borderline_low)
        return fail(c, "rules.hypothermia.low", "must be below rules.fever_borderline.low (%g)",
                    s->fever_borderline_low);
    return RELAIS_OK;
}

static int parse_teams(struct ctx *c, json_t *teams, struct relais_careplan *p)
{
    static const char *const keys[] = {"ack_within_min", "escalate_to", "call15_after_min", NULL};
    if (!json_is_object(teams)) return fail(c, "teams", "must be an object");
    const char *name;
    json_t *t;
    json_object_foreach(teams, name, t)
    {
        char path[96];
        snprintf(path, sizeof path, "teams.%.40s", name);
        if (!name_ok(name, RELAIS_TEAM_MAX, false))
            return fail(c, path, "not a team name ([a-z0-9_-]{1,32})");
        if (!json_is_object(t)) return fail(c, path, "must be an object");
        if (only_keys(c, t, path, keys)) return RELAIS_EPARSE;
        const struct relais_team *cur = relais_careplan_team(p, name);
        if (!cur && p->nteams == RELAIS_CAREPLAN_MAX_TEAMS)
            return fail(c, path, "at most %d teams", RELAIS_CAREPLAN_MAX_TEAMS);
        uint32_t ack = cur ? cur->ack_within_min : 60, call15 = cur ? cur->call15_after_min : 0;
        char esc[RELAIS_TEAM_MAX + 1];
        snprintf(esc, sizeof esc, "%s", cur ? cur->escalate_to : "");
        char sub[128];
        snprintf(sub, sizeof sub, "%s.ack_within_min", path);
        if (get_u32(c, t, "ack_within_min", sub, false, 1, 10080, &ack)) return RELAIS_EPARSE;
        snprintf(sub, sizeof sub, "%s.escalate_to", path);
        if (get_str(c, t, "escalate_to", sub, false, esc, sizeof esc)) return RELAIS_EPARSE;
        if (esc[0] && (!name_ok(esc, RELAIS_TEAM_MAX, false) || strcmp(esc, name) == 0))
            return fail(c, sub, "'%s' is not another team's name", esc);
        snprintf(sub, sizeof sub, "%s.call15_after_min", path);
        if (get_u32(c, t, "call15_after_min", sub, false, 0, 10080, &call15)) return RELAIS_EPARSE;
        if (call15 && call15 <= ack)
            return fail(c, sub, "must come after ack_within_min (%u)", ack);
        set_team(p, name, ack, esc, call15);
    }
    return RELAIS_OK;
}

/* Every routed team and every escalation target must be a team of the plan. */
static int check_teams(struct ctx *c, const struct relais_careplan *p)
{
    static const char *const prio[] = {"LOW", "MEDIUM", "HIGH"};
    for (int r = 0; r < RELAIS_RULE_COUNT; r++)
        for (int k = 0; k < 3; k++)
            if (!relais_careplan_team(p, p->route[r][k])) {
                char path[96];
                snprintf(path, sizeof path, "rules.%s.route.%s", rule_names[r], prio[k]);
                return fail(c, path, "'%s' is not a team of the plan (see \"teams\")",
                            p->route[r][k]);
            }
    for (size_t i = 0; i < p->nteams; i++) {
        if (!p->teams[i].escalate_to[0]) continue;
        char path[96];
        snprintf(path, sizeof path, "teams.%s.escalate_to", p->teams[i].name);
        if (!relais_careplan_team(p, p->teams[i].escalate_to))
            return fail(c, path, "'%s' is not a team of the plan", p->teams[i].escalate_to);
        /* the escalation chain must end: no team may escalate back into itself */
        const struct relais_team *t = &p->teams[i];
        for (size_t hops = 0; t && t->escalate_to[0]; hops++) {
            t = relais_careplan_team(p, t->escalate_to);
            if (t == &p->teams[i] || hops > RELAIS_CAREPLAN_MAX_TEAMS)
                return fail(c, path, "escalation comes back to '%s' (a loop)", p->teams[i].name);
        }
    }
    return RELAIS_OK;
}

int relais_careplan_parse(struct relais_careplan *p, const char *text, size_t len,
                          struct relais_careplan_error *err)
{
    static const char *const keys[] = {"version", "patient", "pathway", "timezone", "devices",
                                       "regimen", "rules",   "teams",   NULL};
    struct ctx c = {err, false};
    json_error_t jerr;
    int rc = RELAIS_EPARSE;
    memset(p, 0, sizeof *p);
    err->message[0] = '\0';
    if (len > RELAIS_CAREPLAN_MAX_BYTES)
        return fail(&c, "(plan)", "larger than %d bytes", RELAIS_CAREPLAN_MAX_BYTES);
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return fail(&c, "(plan)", "not valid JSON: line %d column %d: %s", jerr.line, jerr.column,
                    jerr.text);
    if (!json_is_object(root)) {
        fail(&c, "(plan)", "must be a JSON object");
        goto out;
    }
    if (only_keys(&c, root, "", keys)) goto out;
    if (get_int(&c, root, "version", "version", true, 1, INT64_C(1) << 53, &p->version)) goto out;
    if (get_str(&c, root, "patient", "patient", true, p->patient, sizeof p->patient)) goto out;
    if (!relais_patient_valid(p->patient) || !p->patient[0] || strcmp(p->patient, "unbound") == 0) {
        fail(&c, "patient", "'%s' is not a pseudonym ([A-Za-z0-9._-]{1,32}, not 'unbound')",
             p->patient);
        goto out;
    }
    char pathway[24];
    if (get_str(&c, root, "pathway", "pathway", true, pathway, sizeof pathway)) goto out;
    size_t i;
    for (i = 0; i < 4; i++)
        if (strcmp(pathway_names[i], pathway) == 0) break;
    if (i == 4) {
        fail(&c, "pathway", "'%s' is not standard, rare, non-standard or advanced", pathway);
        goto out;
    }
    p->pathway = (enum relais_pathway)i;
    if (get_str(&c, root, "timezone", "timezone", true, p->timezone, sizeof p->timezone)) goto out;
    if (!timezone_ok(p->timezone)) {
        fail(&c, "timezone", "'%s' is not a time zone of this system (e.g. Europe/Paris)",
             p->timezone);
        goto out;
    }
    json_t *dev = json_object_get(root, "devices");
    if (!dev) {
        fail(&c, "devices", "required");
        goto out;
    }
    if (parse_devices(&c, dev, p)) goto out;
    json_t *reg = json_object_get(root, "regimen");
    if (!reg) {
        fail(&c, "regimen", "required");
        goto out;
    }
    if (parse_regimen(&c, reg, p)) goto out;
    default_rules(&p->rules);
    apply_pathway(p);
    json_t *rules = json_object_get(root, "rules");
    if (rules && parse_rules(&c, rules, p)) goto out;
    json_t *teams = json_object_get(root, "teams");
    if (teams && parse_teams(&c, teams, p)) goto out;
    if (check_teams(&c, p)) goto out;
    rc = RELAIS_OK;
out:
    json_decref(root);
    if (rc) memset(p, 0, sizeof *p);
    return rc;
}

void relais_careplan_defaults(struct relais_careplan *p)
{
    memset(p, 0, sizeof *p);
    snprintf(p->patient, sizeof p->patient, "unbound");
    snprintf(p->timezone, sizeof p->timezone, "UTC");
    p->pathway = RELAIS_PATHWAY_STANDARD;
    default_rules(&p->rules);
    apply_pathway(p);
}

const struct relais_team *relais_careplan_team(const struct relais_careplan *p, const char *name)
{
    for (size_t i = 0; i < p->nteams; i++)
        if (strcmp(p->teams[i].name, name) == 0) return &p->teams[i];
    return NULL;
}

const char *relais_careplan_team_for(const struct relais_careplan *p, enum relais_rule r,
                                     enum relais_priority prio)
{
    return p->route[r][prio];
}

const struct relais_careplan_device *relais_careplan_device(const struct relais_careplan *p,
                                                            const char *id)
{
    for (size_t i = 0; i < p->ndevices; i++)
        if (strcmp(p->devices[i].id, id) == 0) return &p->devices[i];
    return NULL;
}

bool relais_careplan_cycle_day(const struct relais_careplan *p, int32_t local_days, uint32_t *cycle,
                               uint32_t *day)
{
    if (p->cycle_days == 0 || local_days < p->start_days) return false;
    uint32_t since = (uint32_t)(local_days - p->start_days);
    uint32_t cy = since / p->cycle_days + 1;
    if (p->cycles && cy > p->cycles) return false;
    *cycle = cy;
    *day = since % p->cycle_days + 1;
    return true;
}

bool relais_careplan_on_day(const struct relais_careplan *p, int32_t local_days)
{
    uint32_t cycle, day;
    if (!relais_careplan_cycle_day(p, local_days, &cycle, &day)) return false;
    for (size_t i = 0; i < p->ndays_on; i++)
        if (day >= p->days_on[i][0] && day <= p->days_on[i][1]) return true;
    return false;
}
