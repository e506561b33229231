/* SPDX-License-Identifier: Apache-2.0 */
/*
 * relais-scenario: runs a scenario file (docs/scenarios.md) against the
 * rules engine in this process or against a running relaisd, and checks
 * every alert event it produces.
 *
 *   relais-scenario [--engine] FILE...
 *   relais-scenario --daemon --relaisd PATH --config FILE --socket PATH
 *                   --broker-port P --device-password PW [--log FILE] FILE
 *   options: --verbose (every line and event), --counts (print the alert
 *            counts per rule at the end)
 *
 * Exit status: 0 when every expectation held and no unexpected alert event
 * happened, 1 otherwise (the first failure is printed with its line).
 */
#include "scenario.h"

#include "relais/careplan.h"
#include "relais/error.h"
#include "relais/log.h"
#include "relais/tz.h"
#include "relais/wire.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOKENS 32
#define MIN_MS     INT64_C(60000)

struct observed {
    int64_t id;
    char alert[72];
    char rule[24];
    char event[16];
    char team[40];
    char priority[8];
    int64_t at_ms;
    bool consumed;
};

struct device_seq {
    char id[40];
    uint64_t seq;
};

struct run {
    const char *file;
    int lineno;
    bool verbose, counts, lenient;
    struct backend *b;
    /* the plan as sent (kept for D-day and slot lookups) */
    json_t *plan_json;
    struct relais_careplan plan;
    bool has_plan;
    json_t *last_plan_result;
    /* time: the true time of the scenario, and the gateway clock's offset */
    int64_t t_true;
    int64_t offset;
    bool started;
    /* events seen so far */
    struct observed *ev;
    size_t nev, cap;
    int64_t last_event_id;
    struct device_seq seqs[64];
    size_t nseqs;
    char dir[PATH_MAX];
    int failures;
};

static void fail(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct run *r, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: ", r->file, r->lineno);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    r->failures++;
}

/* ---- time ---- */

static const char *tz_of(const struct run *r)
{
    return r->has_plan ? r->plan.timezone : "UTC";
}

static void fmt_time(const struct run *r, int64_t ms, char *out, size_t cap)
{
    struct relais_local l;
    relais_tz_local(tz_of(r), ms, &l);
    int32_t d1 = r->has_plan ? r->plan.start_days : l.days;
    snprintf(out, cap, "D%d %02d:%02d:%02d (%04d-%02d-%02d)", (int)(l.days - d1 + 1), l.hour, l.min,
             l.sec, l.year, l.month, l.day);
}

/* "90s", "15m", "2h", "3d", "1h30m", with an optional sign. */
static int parse_duration(const char *s, int64_t *out)
{
    int sign = 1;
    if (*s == '+' || *s == '-') sign = *s++ == '-' ? -1 : 1;
    if (!*s) return -1;
    int64_t total = 0;
    while (*s) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (end == s || errno || v < 0) return -1;
        int64_t unit;
        switch (*end) {
        case 's': unit = 1000; break;
        case 'm': unit = MIN_MS; break;
        case 'h': unit = 60 * MIN_MS; break;
        case 'd': unit = 1440 * MIN_MS; break;
        default: return -1;
        }
        total += v * unit;
        s = end + 1;
    }
    *out = sign * total;
    return 0;
}

/* "D3" and "20:00[:ss]" in the plan's time zone, day 1 = the regimen's start */
static int parse_day_time(const struct run *r, const char *day, const char *hhmm, int64_t *out)
{
    int d, h, m, sec = 0;
    char extra;
    if (sscanf(day, "D%d%c", &d, &extra) != 1 || d < -400 || d > 4000) return -1;
    int n = sscanf(hhmm, "%d:%d:%d%c", &h, &m, &sec, &extra);
    if ((n != 2 && n != 3) || h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 59) return -1;
    if (!r->has_plan) return -1;
    *out = relais_tz_utc(r->plan.timezone, r->plan.start_days + d - 1, (uint32_t)(h * 60 + m)) +
           sec * 1000;
    return 0;
}

/* ---- events ---- */

static int fetch_events(struct run *r)
{
    char after[32];
    snprintf(after, sizeof after, "%" PRId64, r->last_event_id);
    json_t *arr = r->b->query(r->b, "events", after);
    if (!json_is_array(arr)) {
        json_decref(arr);
        fail(r, "cannot read the alert events");
        return -1;
    }
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        if (r->nev == r->cap) {
            size_t cap = r->cap ? r->cap * 2 : 64;
            struct observed *n = realloc(r->ev, cap * sizeof *n);
            if (!n) {
                json_decref(arr);
                return -1;
            }
            r->ev = n;
            r->cap = cap;
        }
        struct observed *o = &r->ev[r->nev++];
        memset(o, 0, sizeof *o);
        o->id = json_integer_value(json_object_get(e, "id"));
        snprintf(o->alert, sizeof o->alert, "%s", json_string_value(json_object_get(e, "alert")));
        snprintf(o->rule, sizeof o->rule, "%s", json_string_value(json_object_get(e, "rule")));
        snprintf(o->event, sizeof o->event, "%s", json_string_value(json_object_get(e, "event")));
        snprintf(o->team, sizeof o->team, "%s", json_string_value(json_object_get(e, "team")));
        snprintf(o->priority, sizeof o->priority, "%s",
                 json_string_value(json_object_get(e, "priority")));
        o->at_ms = json_integer_value(json_object_get(e, "at_ms"));
        if (o->id > r->last_event_id) r->last_event_id = o->id;
        if (r->verbose) {
            char when[64];
            fmt_time(r, o->at_ms, when, sizeof when);
            printf("    event %s %s %s %s %s (%s)\n", when, o->event, o->rule, o->priority, o->team,
                   o->alert);
        }
    }
    json_decref(arr);
    return 0;
}

static void print_unconsumed(struct run *r, int64_t upto)
{
    for (size_t i = 0; i < r->nev; i++) {
        struct observed *o = &r->ev[i];
        if (o->consumed || o->at_ms > upto) continue;
        char when[64];
        fmt_time(r, o->at_ms, when, sizeof when);
        fprintf(stderr, "    unexpected: %s %s %s %s %s (%s)\n", when, o->event, o->rule,
                o->priority, o->team, o->alert);
    }
}

/* Every event up to the gateway time `upto` must have been expected. */
static void check_strict(struct run *r, int64_t upto)
{
    if (r->lenient) return;
    for (size_t i = 0; i < r->nev; i++)
        if (!r->ev[i].consumed && r->ev[i].at_ms <= upto) {
            fail(r, "alert events nobody expected:");
            print_unconsumed(r, upto);
            for (size_t k = 0; k < r->nev; k++)
                if (r->ev[k].at_ms <= upto) r->ev[k].consumed = true; /* reported once */
            return;
        }
}

/* ---- the plan ---- */

/* "a.b.0.c" = JSON value, into the plan object. */
static int json_set_path(json_t *root, const char *path, const char *value)
{
    json_error_t jerr;
    json_t *v = json_loads(value, JSON_DECODE_ANY, &jerr);
    if (!v) v = json_string(value); /* a bare word is a string */
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *cur = root;
    char *save = NULL;
    char *tok = strtok_r(buf, ".", &save);
    while (tok) {
        char *next = strtok_r(NULL, ".", &save);
        bool idx = isdigit((unsigned char)tok[0]);
        if (!next) {
            int rc = idx ? json_array_set_new(cur, strtoul(tok, NULL, 10), v)
                         : json_object_set_new(cur, tok, v);
            return rc;
        }
        json_t *child =
            idx ? json_array_get(cur, strtoul(tok, NULL, 10)) : json_object_get(cur, tok);
        if (!child) {
            if (idx) {
                json_decref(v);
                return -1;
            }
            child = json_object();
            json_object_set_new(cur, tok, child);
        }
        cur = child;
        tok = next;
    }
    json_decref(v);
    return -1;
}

static json_t *load_plan(struct run *r, const char *name)
{
    char path[PATH_MAX * 2];
    if (name[0] == '/')
        snprintf(path, sizeof path, "%s", name);
    else
        snprintf(path, sizeof path, "%s/%s", r->dir, name);
    json_error_t jerr;
    json_t *p = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!p) fail(r, "plan %s: %s (line %d)", path, jerr.text, jerr.line);
    return p;
}

static int remember_plan(struct run *r, json_t *plan)
{
    char *text = json_dumps(plan, JSON_COMPACT);
    struct relais_careplan_error err;
    struct relais_careplan p;
    int rc = text ? relais_careplan_parse(&p, text, strlen(text), &err) : RELAIS_ENOMEM;
    free(text);
    if (rc == RELAIS_OK) {
        r->plan = p;
        r->has_plan = true;
    }
    return rc;
}

static void send_plan(struct run *r, json_t *plan)
{
    char *text = json_dumps(plan, JSON_COMPACT);
    json_decref(r->last_plan_result);
    r->last_plan_result = text ? r->b->apply_plan(r->b, text) : NULL;
    free(text);
    const char *status = json_string_value(json_object_get(r->last_plan_result, "status"));
    if (r->verbose)
        printf("    plan: %s %s\n", status ? status : "?",
               json_string_value(json_object_get(r->last_plan_result, "error"))
                   ? json_string_value(json_object_get(r->last_plan_result, "error"))
                   : "");
    if (status && strcmp(status, "applied") == 0) remember_plan(r, plan);
}

/* ---- packs ---- */

static uint64_t next_seq(struct run *r, const char *device)
{
    for (size_t i = 0; i < r->nseqs; i++)
        if (strcmp(r->seqs[i].id, device) == 0) return ++r->seqs[i].seq;
    if (r->nseqs == sizeof r->seqs / sizeof r->seqs[0]) return 1;
    snprintf(r->seqs[r->nseqs].id, sizeof r->seqs[0].id, "%s", device);
    r->seqs[r->nseqs].seq = 1;
    return r->seqs[r->nseqs++].seq;
}

/* A record {"n":..,"u":..,"v"|"vs":..} for metric=value. */
static json_t *record(struct run *r, const char *metric, const char *value)
{
    const struct relais_wire_metric *m = relais_wire_metric_find(metric, strlen(metric));
    json_t *rec = json_pack("{s:s}", "n", metric);
    if (m && m->units[0].unit) json_object_set_new(rec, "u", json_string(m->units[0].unit));
    if (m && m->kind == RELAIS_WIRE_STRING) {
        json_object_set_new(rec, "vs", json_string(value));
    } else if (m && m->kind == RELAIS_WIRE_BOOL) {
        json_object_set_new(rec, "vb", json_boolean(strcmp(value, "true") == 0));
    } else {
        char *end;
        double v = strtod(value, &end);
        if (*end) {
            fail(r, "'%s' is not a number", value);
            json_decref(rec);
            return NULL;
        }
        json_object_set_new(rec, "v", json_real(v));
    }
    return rec;
}

/* Sends one pack of records (metric=value) from device at the true time. */
static int send_pack(struct run *r, const char *device, char **mv, int n, uint64_t seq)
{
    json_t *pack = json_array();
    char bn[80];
    snprintf(bn, sizeof bn, "urn:dev:relais:%s:", device);
    for (int i = 0; i < n; i++) {
        char metric[64];
        const char *eq = strchr(mv[i], '=');
        if (!eq || eq == mv[i] || (size_t)(eq - mv[i]) >= sizeof metric) {
            fail(r, "'%s' is not metric=value", mv[i]);
            json_decref(pack);
            return -1;
        }
        memcpy(metric, mv[i], (size_t)(eq - mv[i]));
        metric[eq - mv[i]] = '\0';
        json_t *rec = record(r, metric, eq + 1);
        if (!rec) {
            json_decref(pack);
            return -1;
        }
        if (i == 0) {
            json_object_set_new(rec, "bn", json_string(bn));
            json_object_set_new(rec, "bt", json_real((double)r->t_true / 1000.0));
        }
        json_array_append_new(pack, rec);
    }
    char *text = json_dumps(pack, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(pack);
    if (!seq) seq = next_seq(r, device);
    int rc = text ? r->b->send(r->b, device, seq, text) : -1;
    if (rc) fail(r, "the pack from %s was not stored (%s)", device, relais_strerror(rc));
    free(text);
    return rc ? -1 : 0;
}

/* ---- alerts ---- */

/* The newest alert of rule (an open one first). */
static json_t *find_alert(struct run *r, const char *rule)
{
    json_t *arr = r->b->query(r->b, "alerts", NULL);
    json_t *best = NULL;
    size_t i;
    json_t *a;
    json_array_foreach(arr, i, a)
    {
        if (strcmp(json_string_value(json_object_get(a, "rule")), rule) != 0) continue;
        if (!best || json_is_true(json_object_get(a, "open")) ||
            !json_is_true(json_object_get(best, "open")))
            best = a;
    }
    json_incref(best);
    json_decref(arr);
    return best;
}

static const char *const event_names[] = {"raised",    "upgraded", "again",        "renotified",
                                          "escalated", "call15",   "acknowledged", "resolved",
                                          "cleared",   NULL};

static bool is_event_name(const char *s)
{
    for (size_t i = 0; event_names[i]; i++)
        if (strcmp(event_names[i], s) == 0) return true;
    return false;
}

static void expect_event(struct run *r, char **tok, int n)
{
    /* expect EVENT RULE [PRIORITY [TEAM]] */
    if (n < 2 || !is_event_name(tok[0]) || relais_rule_from_name(tok[1]) < 0) {
        fail(r, "expect EVENT RULE [PRIORITY [TEAM]]: bad event or rule");
        return;
    }
    int64_t at = r->t_true + r->offset;
    for (size_t i = 0; i < r->nev; i++) {
        struct observed *o = &r->ev[i];
        if (o->consumed || o->at_ms != at || strcmp(o->event, tok[0]) != 0 ||
            strcmp(o->rule, tok[1]) != 0)
            continue;
        if (n >= 3 && strcmp(o->priority, tok[2]) != 0) continue;
        if (n >= 4 && strcmp(o->team, tok[3]) != 0) continue;
        o->consumed = true;
        return;
    }
    char when[64];
    fmt_time(r, at, when, sizeof when);
    fail(r, "expected %s %s %s %s at %s; what happened then or later:", tok[0], tok[1],
         n >= 3 ? tok[2] : "", n >= 4 ? tok[3] : "", when);
    print_unconsumed(r, INT64_MAX);
}

static void do_act(struct run *r, const char *action, const char *rule, const char *who,
                   bool want_refusal)
{
    json_t *a = find_alert(r, rule);
    if (!a) {
        fail(r, "no alert of rule %s to %s", rule, action);
        return;
    }
    const char *id = json_string_value(json_object_get(a, "id"));
    json_t *res = r->b->act(r->b, id, action, who);
    const char *err = json_string_value(json_object_get(res, "error"));
    if (want_refusal && !err)
        fail(r, "%s of %s by %s was accepted; a refusal was expected", action, id, who);
    if (!want_refusal && err) fail(r, "%s of %s by %s refused: %s", action, id, who, err);
    if (r->verbose && err) printf("    refused: %s\n", err);
    json_decref(res);
    json_decref(a);
}

/* "cycles.0.taking_pct", "drug_holidays.#" */
static json_t *json_path(json_t *root, const char *path, json_int_t *len_out, bool *is_len)
{
    char buf[200];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *cur = root;
    char *save = NULL;
    *is_len = false;
    for (char *tok = strtok_r(buf, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save)) {
        if (strcmp(tok, "#") == 0) {
            *is_len = true;
            *len_out =
                (json_int_t)(json_is_array(cur) ? json_array_size(cur) : json_object_size(cur));
            return cur;
        }
        cur = isdigit((unsigned char)tok[0]) ? json_array_get(cur, strtoul(tok, NULL, 10))
                                             : json_object_get(cur, tok);
    }
    return cur;
}

static void expect_value(struct run *r, const char *what, const char *path, const char *want)
{
    json_t *doc = r->b->query(r->b, what, NULL);
    json_int_t len = 0;
    bool is_len;
    json_t *v = json_path(doc, path, &len, &is_len);
    char got[128];
    if (is_len)
        snprintf(got, sizeof got, "%lld", (long long)len);
    else if (json_is_string(v))
        snprintf(got, sizeof got, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(got, sizeof got, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(got, sizeof got, "%g", json_real_value(v));
    else if (json_is_true(v) || json_is_false(v))
        snprintf(got, sizeof got, "%s", json_is_true(v) ? "true" : "false");
    else
        snprintf(got, sizeof got, "%s", v ? "(object)" : "(none)");
    bool ok = strcmp(got, want) == 0;
    if (!ok) {
        char *end;
        double a = strtod(want, &end);
        if (!*end && (json_is_number(v) || is_len))
            ok = fabs(a - (is_len ? (double)len : json_number_value(v))) < 1e-6;
    }
    if (!ok) {
        fail(r, "%s %s: expected %s, got %s", what, path, want, got);
        if (r->verbose) {
            char *dump = json_dumps(doc, JSON_INDENT(1));
            fprintf(stderr, "%s\n", dump ? dump : "");
            free(dump);
        }
    }
    json_decref(doc);
}

static void expect_command(struct run *r, const char *device, const char *cmd, bool none)
{
    json_t *arr = r->b->query(r->b, "commands", NULL);
    int64_t at = r->t_true + r->offset;
    bool found = false;
    size_t i;
    json_t *c;
    json_array_foreach(arr, i, c)
    {
        json_t *body = json_object_get(c, "body");
        if (json_integer_value(json_object_get(c, "created_ms")) == at &&
            strcmp(json_string_value(json_object_get(c, "device")), device) == 0 &&
            strcmp(json_string_value(json_object_get(body, "cmd")) ?: "", cmd) == 0)
            found = true;
    }
    json_decref(arr);
    if (none && found) fail(r, "a %s command for %s was not expected now", cmd, device);
    if (!none && !found) fail(r, "expected a %s command for %s now", cmd, device);
    if (!none && found && !r->b->device_got(r->b, device, cmd))
        fail(r, "the %s command was not received by %s", cmd, device);
}

static void expect_count(struct run *r, char **tok, int n)
{
    /* expect count EVENT RULE OP N */
    if (n != 5) {
        fail(r, "expect count EVENT RULE OP N");
        return;
    }
    long want = strtol(tok[4], NULL, 10);
    long got = 0;
    for (size_t i = 0; i < r->nev; i++)
        if (strcmp(r->ev[i].event, tok[1]) == 0 && strcmp(r->ev[i].rule, tok[2]) == 0) {
            got++;
            r->ev[i].consumed = true;
        }
    bool ok = strcmp(tok[3], "==") == 0   ? got == want
              : strcmp(tok[3], "<=") == 0 ? got <= want
              : strcmp(tok[3], ">=") == 0 ? got >= want
                                          : false;
    printf("  count %s %s = %ld\n", tok[1], tok[2], got);
    if (!ok) fail(r, "count of %s %s is %ld, expected %s %ld", tok[1], tok[2], got, tok[3], want);
}

static void expect_delay(struct run *r, const char *rule, const char *which, const char *dur)
{
    int64_t want;
    json_t *a = find_alert(r, rule);
    if (!a || parse_duration(dur, &want)) {
        fail(r, "expect delay RULE ack|resolve DURATION: no alert or bad duration");
        json_decref(a);
        return;
    }
    int64_t raised = json_integer_value(json_object_get(a, "raised_ms"));
    int64_t t = json_integer_value(
        json_object_get(a, strcmp(which, "ack") == 0 ? "acked_ms" : "closed_ms"));
    if (!t || t - raised != want)
        fail(r, "the %s delay of %s is %" PRId64 " s, expected %" PRId64 " s", which, rule,
             t ? (t - raised) / 1000 : -1, want / 1000);
    json_decref(a);
}

static void expect_slot(struct run *r, const char *day, const char *slot, const char *status)
{
    int64_t t;
    size_t i;
    for (i = 0; i < r->plan.nslots; i++)
        if (strcmp(r->plan.slots[i].id, slot) == 0) break;
    if (i == r->plan.nslots || parse_day_time(r, day, "00:00", &t)) {
        fail(r, "expect slot DAY SLOT STATUS: unknown day or slot");
        return;
    }
    struct relais_local l;
    relais_tz_local(r->plan.timezone, t, &l);
    char date[11];
    relais_tz_date(l.days, date);
    json_t *adh = r->b->query(r->b, "adherence", NULL);
    json_t *days = json_object_get(adh, "days");
    json_t *d;
    const char *got = "(no such day)";
    size_t k;
    json_array_foreach(days, k, d)
    {
        if (strcmp(json_string_value(json_object_get(d, "date")), date) == 0) {
            const char *s = json_string_value(json_object_get(json_object_get(d, "slots"), slot));
            got = s ? s : "(none)";
        }
    }
    if (strcmp(got, status) != 0)
        fail(r, "slot %s %s: expected %s, got %s", day, slot, status, got);
    json_decref(adh);
}

static void expect_plan(struct run *r, char **tok, int n)
{
    const char *status = json_string_value(json_object_get(r->last_plan_result, "status"));
    const char *err = json_string_value(json_object_get(r->last_plan_result, "error"));
    if (!status || strcmp(status, tok[1]) != 0) {
        fail(r, "plan: expected %s, got %s%s%s", tok[1], status ? status : "no answer",
             err ? ": " : "", err ? err : "");
        return;
    }
    /* the rest of the line must appear in the error */
    char want[256] = "";
    for (int i = 2; i < n; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%s", i > 2 ? " " : "", tok[i]);
    if (want[0] && (!err || !strstr(err, want)))
        fail(r, "plan: the error '%s' does not say '%s'", err ? err : "", want);
}

/* ---- the line interpreter ---- */

static int tokenize(char *line, char **tok)
{
    int n = 0;
    char *p = line;
    while (*p && n < MAX_TOKENS) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p || *p == '#') break;
        if (*p == '"') {
            tok[n++] = ++p;
            while (*p && *p != '"')
                p++;
        } else {
            tok[n++] = p;
            while (*p && !isspace((unsigned char)*p))
                p++;
        }
        if (*p) *p++ = '\0';
    }
    return n;
}

static int move_to(struct run *r, int64_t t)
{
    if (t < r->t_true) {
        fail(r, "time goes backwards (use 'jump' to move the gateway's clock)");
        return -1;
    }
    if (t > r->t_true) {
        check_strict(r, r->t_true + r->offset);
        int rc = r->b->advance(r->b, t - r->t_true);
        r->t_true = t;
        if (rc) {
            fail(r, "the clock advance failed: %s", relais_strerror(rc));
            return -1;
        }
        return fetch_events(r);
    }
    return 0;
}

static void command(struct run *r, char **tok, int n);

static void do_repeat(struct run *r, char **tok, int n)
{
    /* repeat N every DUR CMD ARGS... ; reading values may be a,b,c (cycled) */
    long count = n >= 5 ? strtol(tok[1], NULL, 10) : 0;
    int64_t every;
    if (count <= 0 || count > 100000 || strcmp(tok[2], "every") != 0 ||
        parse_duration(tok[3], &every) || every <= 0) {
        fail(r, "repeat N every DURATION COMMAND...");
        return;
    }
    char *values = NULL;
    int vi = -1;
    if (strcmp(tok[4], "reading") == 0 && n >= 8) {
        vi = 7;
        values = strdup(tok[7]);
    }
    for (long i = 0; i < count && !r->failures; i++) {
        char *sub[MAX_TOKENS];
        char vbuf[64];
        for (int k = 4; k < n; k++)
            sub[k - 4] = tok[k];
        if (values) {
            /* the i-th of the comma-separated values, cycling */
            int nv = 1;
            for (const char *p = values; *p; p++)
                nv += *p == ',';
            const char *p = values;
            for (long k = 0; k < i % nv; k++)
                p = strchr(p, ',') + 1;
            size_t len = strcspn(p, ",");
            snprintf(vbuf, sizeof vbuf, "%.*s", (int)len, p);
            sub[vi - 4] = vbuf;
        }
        if (i > 0 && move_to(r, r->t_true + every)) break;
        command(r, sub, n - 4);
    }
    free(values);
}

static void command(struct run *r, char **tok, int n)
{
    const char *c = tok[0];
    if (strcmp(c, "tick") == 0) return;
    if (strcmp(c, "reading") == 0 && n >= 4) {
        /* reading DEV METRIC VALUE [seq=N] */
        char mv[128];
        uint64_t seq = 0;
        if (n >= 5 && strncmp(tok[4], "seq=", 4) == 0) seq = strtoull(tok[4] + 4, NULL, 10);
        snprintf(mv, sizeof mv, "%s=%s", tok[2], tok[3]);
        char *one[1] = {mv};
        send_pack(r, tok[1], one, 1, seq);
    } else if (strcmp(c, "pack") == 0 && n >= 3) {
        uint64_t seq = 0;
        int k = n;
        if (strncmp(tok[n - 1], "seq=", 4) == 0) {
            seq = strtoull(tok[n - 1] + 4, NULL, 10);
            k--;
        }
        send_pack(r, tok[1], tok + 2, k - 2, seq);
    } else if (strcmp(c, "dose") == 0 && n == 3) {
        char mv[64];
        snprintf(mv, sizeof mv, "dose=%s", tok[2]);
        char *one[1] = {mv};
        send_pack(r, tok[1], one, 1, 0);
    } else if (strcmp(c, "symptom") == 0 && n == 4) {
        char mv[96];
        snprintf(mv, sizeof mv, "pro_%s=%s", tok[2], tok[3]);
        char *one[1] = {mv};
        send_pack(r, tok[1], one, 1, 0);
    } else if ((strcmp(c, "ack") == 0 || strcmp(c, "resolve") == 0) && n == 3) {
        do_act(r, c, tok[1], tok[2], false);
    } else if (strcmp(c, "jump") == 0 && n == 2) {
        int64_t d;
        if (parse_duration(tok[1], &d)) {
            fail(r, "jump +DURATION or -DURATION");
            return;
        }
        check_strict(r, r->t_true + r->offset);
        r->offset += d;
        int rc = r->b->jump(r->b, d);
        if (rc) fail(r, "the clock jump failed: %s", relais_strerror(rc));
        fetch_events(r);
    } else if ((strcmp(c, "restart") == 0 || strcmp(c, "crash") == 0) && n == 1) {
        int rc = r->b->restart(r->b, strcmp(c, "crash") == 0);
        if (rc) fail(r, "the restart failed: %s", relais_strerror(rc));
        fetch_events(r);
    } else if (strcmp(c, "condition") == 0 && n == 3) {
        if (r->b->condition(r->b, tok[1], strcmp(tok[2], "on") == 0))
            fail(r, "condition %s: not supported by the %s backend", tok[1], r->b->name);
        fetch_events(r);
    } else if (strcmp(c, "apply") == 0 && n >= 2) {
        /* apply PLANFILE [path=value]... */
        json_t *p = load_plan(r, tok[1]);
        if (!p) return;
        for (int i = 2; i < n; i++) {
            char *eq = strchr(tok[i], '=');
            if (!eq) {
                fail(r, "'%s' is not path=value", tok[i]);
                continue;
            }
            *eq = '\0';
            if (json_set_path(p, tok[i], eq + 1)) fail(r, "cannot set %s", tok[i]);
        }
        send_plan(r, p);
        json_decref(p);
        fetch_events(r);
    } else if (strcmp(c, "repeat") == 0) {
        do_repeat(r, tok, n);
    } else if (strcmp(c, "expect") == 0 && n >= 2) {
        const char *what = tok[1];
        if (is_event_name(what))
            expect_event(r, tok + 1, n - 1);
        else if (strcmp(what, "alert") == 0 && n == 4) {
            json_t *a = find_alert(r, tok[2]);
            const char *st = a ? json_string_value(json_object_get(a, "state")) : "(none)";
            if (strcmp(st, tok[3]) != 0)
                fail(r, "alert %s: expected %s, got %s", tok[2], tok[3], st);
            json_decref(a);
        } else if (strcmp(what, "no-alert") == 0 && n == 3) {
            json_t *a = find_alert(r, tok[2]);
            if (a)
                fail(r, "an alert of rule %s exists (%s)", tok[2],
                     json_string_value(json_object_get(a, "state")));
            json_decref(a);
        } else if (strcmp(what, "command") == 0 && n == 4)
            expect_command(r, tok[2], tok[3], false);
        else if (strcmp(what, "no-command") == 0 && n == 4)
            expect_command(r, tok[2], tok[3], true);
        else if (strcmp(what, "slot") == 0 && n == 5)
            expect_slot(r, tok[2], tok[3], tok[4]);
        else if (strcmp(what, "adherence") == 0 && n == 4)
            expect_value(r, "adherence", tok[2], tok[3]);
        else if (strcmp(what, "delays") == 0 && n == 4)
            expect_value(r, "delays", tok[2], tok[3]);
        else if (strcmp(what, "plan") == 0 && n >= 3)
            expect_plan(r, tok + 1, n - 1);
        else if (strcmp(what, "count") == 0)
            expect_count(r, tok + 1, n - 1);
        else if (strcmp(what, "delay") == 0 && n == 5)
            expect_delay(r, tok[2], tok[3], tok[4]);
        else if (strcmp(what, "refused") == 0 && n == 5)
            do_act(r, tok[2], tok[3], tok[4], true);
        else
            fail(r, "unknown expectation '%s'", what);
    } else {
        fail(r, "unknown or malformed command '%s'", c);
    }
}

/* ---- the file ---- */

static int run_lines(struct run *r, FILE *f, json_t **planp)
{
    char line[4096];
    int64_t start = INT64_MIN;
    bool body = false;
    while (fgets(line, sizeof line, f)) {
        r->lineno++;
        line[strcspn(line, "\n")] = '\0';
        char copy[4096];
        snprintf(copy, sizeof copy, "%s", line);
        char *tok[MAX_TOKENS];
        int n = tokenize(line, tok);
        if (n == 0) continue;
        if (!body) {
            /* the header: name, plan, set, start, lenient */
            if (strcmp(tok[0], "name") == 0) continue;
            if (strcmp(tok[0], "lenient") == 0) {
                r->lenient = true;
                continue;
            }
            if (strcmp(tok[0], "plan") == 0 && n == 2) {
                json_decref((*planp));
                (*planp) = load_plan(r, tok[1]);
                if (!(*planp)) return -1;
                continue;
            }
            if (strcmp(tok[0], "set") == 0 && n == 3 && (*planp)) {
                if (json_set_path((*planp), tok[1], tok[2])) {
                    fail(r, "cannot set %s", tok[1]);
                    return -1;
                }
                continue;
            }
            if (strcmp(tok[0], "start") == 0 && n == 3 && (*planp)) {
                if (remember_plan(r, (*planp)) != RELAIS_OK) {
                    fail(r, "the scenario's plan does not validate");
                    return -1;
                }
                if (parse_day_time(r, tok[1], tok[2], &start)) {
                    fail(r, "start D<n> HH:MM");
                    return -1;
                }
                continue;
            }
            /* the first timed line: start the backend and apply the plan */
            if (!(*planp)) {
                fail(r, "no plan before the timeline");
                return -1;
            }
            if (remember_plan(r, (*planp)) != RELAIS_OK) {
                fail(r, "the scenario's plan does not validate");
                return -1;
            }
            if (start == INT64_MIN) parse_day_time(r, "D1", "00:00", &start);
            int rc = r->b->start(r->b, start);
            if (rc) {
                fail(r, "the %s backend does not start: %s", r->b->name, relais_strerror(rc));
                return -1;
            }
            r->started = true;
            r->t_true = start;
            send_plan(r, (*planp));
            const char *st = json_string_value(json_object_get(r->last_plan_result, "status"));
            if (!st || strcmp(st, "applied") != 0) {
                fail(r, "the scenario's plan was not applied: %s",
                     json_string_value(json_object_get(r->last_plan_result, "error")) ?: "?");
                return -1;
            }
            for (size_t i = 0; i < r->plan.ndevices; i++)
                if (r->b->connect(r->b, r->plan.devices[i].id)) {
                    fail(r, "device %s cannot come online", r->plan.devices[i].id);
                    return -1;
                }
            if (fetch_events(r)) return -1;
            body = true;
        }
        /* TIME COMMAND... */
        int64_t t;
        int first;
        if (tok[0][0] == 'D' && n >= 2 && parse_day_time(r, tok[0], tok[1], &t) == 0) {
            first = 2;
        } else if (tok[0][0] == '+' && parse_duration(tok[0], &t) == 0) {
            t += r->t_true;
            first = 1;
        } else if (strcmp(tok[0], "=") == 0) {
            t = r->t_true;
            first = 1;
        } else {
            fail(r, "a line starts with its time: D<n> HH:MM, +DURATION or =");
            return -1;
        }
        if (n <= first) {
            fail(r, "a time without a command");
            return -1;
        }
        if (r->verbose) {
            char when[64];
            fmt_time(r, t + r->offset, when, sizeof when);
            printf("%4d %s | %s\n", r->lineno, when, copy);
        }
        if (move_to(r, t)) return -1;
        command(r, tok + first, n - first);
        if (fetch_events(r)) return -1;
        if (r->failures) return -1;
    }
    if (!body) {
        fail(r, "no timeline");
        return -1;
    }
    r->lineno++;
    check_strict(r, INT64_MAX);
    return r->failures ? -1 : 0;
}

static int run_file(struct run *r, FILE *f)
{
    json_t *plan = NULL;
    int rc = run_lines(r, f, &plan);
    json_decref(plan);
    return rc;
}

static void print_counts(struct run *r)
{
    int total = 0;
    for (size_t i = 0; i < r->nev; i++)
        total += strcmp(r->ev[i].event, "raised") == 0;
    printf("  alerts raised: %d, alert events: %zu\n", total, r->nev);
}

/* The devices a scenario's timeline speaks for (their broker accounts). */
static int list_devices(int n, char **files)
{
    for (int i = 0; i < n; i++) {
        FILE *f = fopen(files[i], "r");
        if (!f) {
            fprintf(stderr, "%s: %s\n", files[i], strerror(errno));
            return 1;
        }
        char line[4096];
        while (fgets(line, sizeof line, f)) {
            char *tok[MAX_TOKENS];
            int k = tokenize(line, tok);
            for (int j = 0; j + 1 < k; j++)
                if (!strcmp(tok[j], "reading") || !strcmp(tok[j], "pack") ||
                    !strcmp(tok[j], "dose") || !strcmp(tok[j], "symptom")) {
                    printf("%s\n", tok[j + 1]);
                    break;
                }
        }
        fclose(f);
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: relais-scenario [--engine] [--verbose] [--counts] FILE...\n"
                    "       relais-scenario --daemon --relaisd PATH --config FILE --socket PATH\n"
                    "                       --broker-port P --device-password PW [--log FILE]\n"
                    "                       [--verbose] [--counts] FILE\n"
                    "       relais-scenario --list-devices FILE...\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"engine", no_argument, NULL, 'e'},
        {"daemon", no_argument, NULL, 'd'},
        {"relaisd", required_argument, NULL, 'r'},
        {"config", required_argument, NULL, 'c'},
        {"socket", required_argument, NULL, 's'},
        {"broker-port", required_argument, NULL, 'p'},
        {"device-password", required_argument, NULL, 'w'},
        {"log", required_argument, NULL, 'l'},
        {"verbose", no_argument, NULL, 'v'},
        {"counts", no_argument, NULL, 'n'},
        {"list-devices", no_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool daemon = false, verbose = false, counts = false, list = false;
    struct daemon_opts d = {.broker_host = "127.0.0.1"};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'e': daemon = false; break;
        case 'd': daemon = true; break;
        case 'r': d.relaisd = optarg; break;
        case 'c': d.config = optarg; break;
        case 's': d.socket = optarg; break;
        case 'p': {
            char *end;
            long port = strtol(optarg, &end, 10);
            d.broker_port = *end == '\0' && port > 0 && port < 65536 ? (int)port : 0;
            break;
        }
        case 'w': d.device_password = optarg; break;
        case 'l': d.log = optarg; break;
        case 'v': verbose = true; break;
        case 'n': counts = true; break;
        case 'L': list = true; break;
        case 'h': usage(); return 0;
        default: usage(); return 2;
        }
    }
    if (optind >= argc) {
        usage();
        return 2;
    }
    if (daemon && (!d.relaisd || !d.config || !d.socket || !d.broker_port || !d.device_password)) {
        usage();
        return 2;
    }
    if (list) return list_devices(argc - optind, argv + optind);
    relais_log_set_level(verbose ? RELAIS_LOG_INFO : RELAIS_LOG_WARN);
    int failed = 0;
    for (int i = optind; i < argc; i++) {
        struct backend b;
        struct run r;
        memset(&r, 0, sizeof r);
        r.file = argv[i];
        r.verbose = verbose;
        r.counts = counts;
        r.b = &b;
        char tmp[PATH_MAX];
        snprintf(tmp, sizeof tmp, "%s", argv[i]);
        snprintf(r.dir, sizeof r.dir, "%s", dirname(tmp));
        int rc = daemon ? backend_daemon_init(&b, &d) : backend_engine_init(&b, "gw");
        if (rc) {
            fprintf(stderr, "%s: backend: %s\n", argv[i], relais_strerror(rc));
            return 1;
        }
        FILE *f = fopen(argv[i], "r");
        if (!f) {
            fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
            failed++;
            free(b.priv);
            continue;
        }
        rc = run_file(&r, f);
        fclose(f);
        if (r.started) b.stop(&b);
        free(b.priv);
        if (counts || verbose) print_counts(&r);
        printf("%s: %s (%s backend, %zu alert events)\n", argv[i], rc ? "FAILED" : "passed", b.name,
               r.nev);
        failed += rc != 0;
        free(r.ev);
        json_decref(r.plan_json);
        json_decref(r.last_plan_result);
    }
    return failed ? 1 : 0;
}
