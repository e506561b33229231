/* SPDX-License-Identifier: Apache-2.0 */
/*
 * relaisctl's care commands: alerts and their history, acknowledgements,
 * adherence, delays of care, the care plan, device commands, the test clock.
 * Each asks the running relaisd; when none runs, the store answers (read-
 * only for reports; acknowledgements and plans go through the same engine
 * functions relaisd uses, on the store).
 */
#include "relaisctl.h"

#include "relais/care_report.h"
#include "relais/engine.h"
#include "relais/error.h"
#include "relais/store.h"
#include "relais/store_care.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

bool care_command_known(const char *cmd, int nargs, char **args)
{
    if (!strcmp(cmd, "alerts") || !strcmp(cmd, "delays") || !strcmp(cmd, "commands"))
        return nargs == 0;
    if (!strcmp(cmd, "alert") || !strcmp(cmd, "ack") || !strcmp(cmd, "resolve") ||
        !strcmp(cmd, "adherence"))
        return nargs == 1;
    if (!strcmp(cmd, "careplan")) return nargs == 0 || (nargs == 2 && !strcmp(args[0], "apply"));
    if (!strcmp(cmd, "clock"))
        return nargs == 0 || (nargs == 2 && (!strcmp(args[0], "advance") ||
                                             !strcmp(args[0], "jump") || !strcmp(args[0], "sync")));
    return false;
}

/* ---- helpers ---- */

static void print_json(json_t *j)
{
    json_dumpf(j, stdout, JSON_INDENT(1));
    printf("\n");
}

static void fmt_ms(int64_t ms, char *out, size_t cap)
{
    if (!ms) {
        snprintf(out, cap, "-");
        return;
    }
    iso_time((double)ms / 1000.0, out, cap);
}

static void fmt_duration(int64_t ms, char *out, size_t cap)
{
    int64_t s = ms / 1000;
    if (s < 0) s = 0;
    if (s < 120)
        snprintf(out, cap, "%llds", (long long)s);
    else if (s < 7200)
        snprintf(out, cap, "%lldm", (long long)(s / 60));
    else if (s < 172800)
        snprintf(out, cap, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
    else
        snprintf(out, cap, "%lldd%02lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "-";
}

static int64_t jms(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static int open_store(const char *db, bool readonly, struct relais_store **st)
{
    return ctl_store_open(db, readonly, st);
}

/* Asks relaisd; when it does not run, `local` answers from the store. */
static json_t *query(const char *sock, const char *request, const char *db,
                     json_t *(*local)(struct relais_store *st, const char *arg), const char *arg,
                     int *exit_code)
{
    json_t *a = NULL;
    int rc = ask(sock, request, &a);
    if (rc == RELAIS_ECONN && local) {
        struct relais_store *st;
        if (open_store(db, true, &st)) {
            *exit_code = EXIT_ERROR;
            return NULL;
        }
        a = local(st, arg);
        relais_store_close(st);
        if (!a) a = json_pack("{s:s}", "error", "the store cannot be read");
    } else if (rc) {
        fprintf(stderr, "relaisctl: %s: %s\n", sock, relais_strerror(rc));
        *exit_code = rc == RELAIS_ECONN ? EXIT_NOT_RUNNING : EXIT_ERROR;
        return NULL;
    }
    const char *err = json_string_value(json_object_get(a, "error"));
    if (err) {
        fprintf(stderr, "relaisctl: %s\n", err);
        json_decref(a);
        *exit_code = EXIT_ERROR;
        return NULL;
    }
    *exit_code = EXIT_OK;
    return a;
}

/* ---- alerts ---- */

/* "Now" for ages: relaisd's clock when it runs (a test clock may be far from
 * the system's), else the system's. */
static int64_t rules_now_ms(const char *sock)
{
    json_t *a = NULL;
    int64_t now = 0;
    if (ask(sock, "clock", &a) == RELAIS_OK) now = jms(a, "wall_ms");
    json_decref(a);
    return now > 0 ? now : wall_ms();
}

static json_t *local_alerts(struct relais_store *st, const char *arg)
{
    struct relais_alert_filter f = {.open_only = strcmp(arg, "open") == 0};
    return relais_report_alerts(st, &f);
}

static int cmd_alerts(const struct opts *o, const char *sock, const char *db)
{
    char req[64];
    snprintf(req, sizeof req, "alerts %s %ld", o->all ? "all" : "open", o->limit);
    int ec;
    json_t *arr = query(sock, req, db, local_alerts, o->all ? "all" : "open", &ec);
    if (!arr) return ec;
    /* the store's answer is not limited: keep the newest --limit */
    while (o->limit > 0 && json_array_size(arr) > (size_t)o->limit)
        json_array_remove(arr, 0);
    if (o->json) {
        print_json(arr);
    } else if (json_array_size(arr) == 0) {
        printf("%s\n", o->all ? "(no alert)" : "(no open alert)");
    } else {
        int64_t now = rules_now_ms(sock);
        printf("%-16s %-24s %-6s %-16s %-7s %-14s %-13s %-12s %s\n", "alert", "raised", "age",
               "rule", "prio", "team", "state", "patient", "by");
        size_t i;
        json_t *a;
        json_array_foreach(arr, i, a)
        {
            char raised[40], age[24];
            fmt_ms(jms(a, "raised_ms"), raised, sizeof raised);
            fmt_duration(now - jms(a, "raised_ms"), age, sizeof age);
            const char *by = json_string_value(json_object_get(a, "acked_by"));
            printf("%-16s %-24s %-6s %-16s %-7s %-14s %-13s %-12s %s\n", jstr(a, "id"), raised, age,
                   jstr(a, "rule"), jstr(a, "priority"), jstr(a, "team"), jstr(a, "state"),
                   jstr(a, "patient"), by ? by : "");
        }
    }
    json_decref(arr);
    return EXIT_OK;
}

struct one_alert {
    const char *id;
};

static json_t *local_alert(struct relais_store *st, const char *id)
{
    struct relais_alert a;
    if (relais_store_alert_get(st, id, &a) != RELAIS_OK)
        return json_pack("{s:s}", "error", "no such alert");
    json_t *o = relais_report_alert(&a);
    json_t *ev = relais_report_events(st, id, 0);
    json_object_set_new(o, "history", ev ? ev : json_array());
    return o;
}

static int cmd_alert(const struct opts *o, const char *sock, const char *db, const char *id)
{
    char req[128];
    snprintf(req, sizeof req, "alert %s", id);
    int ec;
    json_t *a = query(sock, req, db, local_alert, id, &ec);
    if (!a) return ec;
    if (o->json) {
        print_json(a);
        json_decref(a);
        return EXIT_OK;
    }
    char t[40];
    printf("alert %s: %s %s for %s, team %s, %s\n", jstr(a, "id"), jstr(a, "rule"),
           jstr(a, "priority"), jstr(a, "patient"), jstr(a, "team"), jstr(a, "state"));
    fmt_ms(jms(a, "raised_ms"), t, sizeof t);
    printf("  raised        %s\n", t);
    fmt_ms(jms(a, "notified_ms"), t, sizeof t);
    printf("  notified      %s\n", t);
    fmt_ms(jms(a, "acked_ms"), t, sizeof t);
    printf("  acknowledged  %s %s\n", t, json_string_value(json_object_get(a, "acked_by")) ?: "");
    fmt_ms(jms(a, "closed_ms"), t, sizeof t);
    printf("  closed        %s %s\n", t, json_string_value(json_object_get(a, "closed_by")) ?: "");
    if (jms(a, "next_ms")) {
        fmt_ms(jms(a, "next_ms"), t, sizeof t);
        printf("  next step     %s (escalation level %lld)\n", t, (long long)jms(a, "level"));
    }
    char *ev = json_dumps(json_object_get(a, "evidence"), JSON_COMPACT);
    printf("  evidence      %s\n", ev ? ev : "{}");
    free(ev);
    printf("  history:\n");
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(a, "history"), i, e)
    {
        fmt_ms(jms(e, "at_ms"), t, sizeof t);
        const char *by = json_string_value(json_object_get(e, "by"));
        printf("    %s %-12s %-6s to %-14s %s%s%s\n", t, jstr(e, "event"), jstr(e, "priority"),
               jstr(e, "team"), jstr(e, "detail"), by ? " by " : "", by ? by : "");
    }
    json_decref(a);
    return EXIT_OK;
}

/* ack / resolve: through relaisd (it stops the timers at once), else on the
 * store through the same engine function */
static int cmd_act(const struct opts *o, const char *sock, const char *db, const char *cmd,
                   const char *id)
{
    if (!o->by) {
        fprintf(stderr, "relaisctl: %s needs --by WHO (the professional's identifier)\n", cmd);
        return EXIT_USAGE;
    }
    bool ack = strcmp(cmd, "ack") == 0;
    char req[256];
    snprintf(req, sizeof req, "alert-%s %s %s", ack ? "ack" : "resolve", id, o->by);
    json_t *a = NULL;
    int rc = ask(sock, req, &a);
    if (rc == RELAIS_ECONN) {
        struct relais_store *st;
        if (open_store(db, false, &st)) return EXIT_ERROR;
        struct relais_engine *e;
        const struct relais_engine_opts eo = {.gateway_id = relaisctl_gateway};
        rc = relais_engine_create(&e, st, &relais_clock_system, &eo);
        if (!rc) {
            struct relais_alert al;
            char err[200] = "";
            rc = relais_engine_act(e, id, ack ? RELAIS_ACT_ACK : RELAIS_ACT_RESOLVE, o->by, &al,
                                   err, sizeof err);
            a = rc ? json_pack("{s:s}", "error", err[0] ? err : relais_strerror(rc))
                   : relais_report_alert(&al);
            relais_engine_destroy(e);
        } else {
            a = json_pack("{s:s}", "error", relais_strerror(rc));
        }
        relais_store_close(st);
        rc = RELAIS_OK;
    }
    if (rc) {
        fprintf(stderr, "relaisctl: %s: %s\n", sock, relais_strerror(rc));
        return EXIT_ERROR;
    }
    const char *err = json_string_value(json_object_get(a, "error"));
    if (err) {
        fprintf(stderr, "relaisctl: %s\n", err);
        json_decref(a);
        return EXIT_ERROR;
    }
    if (o->json) {
        print_json(a);
    } else {
        char d[24];
        int64_t at = jms(a, ack ? "acked_ms" : "closed_ms");
        fmt_duration(at - jms(a, "raised_ms"), d, sizeof d);
        printf("alert %s (%s %s) %s by %s, %s after it was raised\n", jstr(a, "id"),
               jstr(a, "rule"), jstr(a, "priority"), jstr(a, "state"), o->by, d);
    }
    json_decref(a);
    return EXIT_OK;
}

/* ---- adherence ---- */

static json_t *local_adherence(struct relais_store *st, const char *patient)
{
    struct relais_careplan plan;
    int rc = relais_report_load_plan(st, &plan);
    if (rc)
        return json_pack("{s:s}", "error",
                         rc == RELAIS_ENOTFOUND ? "no care plan" : "the care plan cannot be read");
    if (strcmp(plan.patient, patient) != 0)
        return json_pack("{s:s}", "error", "not the patient of the active care plan");
    return relais_report_adherence(st, &plan, wall_ms());
}

static void pct(json_t *v, char *out, size_t cap)
{
    if (json_is_number(v))
        snprintf(out, cap, "%.1f%%", json_number_value(v));
    else
        snprintf(out, cap, "-");
}

static void tally_line(const char *label, json_t *t)
{
    char tk[16], tm[16], cd[16];
    pct(json_object_get(t, "taking_pct"), tk, sizeof tk);
    pct(json_object_get(t, "timing_pct"), tm, sizeof tm);
    pct(json_object_get(t, "correct_days_pct"), cd, sizeof cd);
    printf("%-7s %10lld %6lld %8lld %5lld %6lld %7lld %8lld %7lld %9lld %8s %8s %5lld/%-3lld %s\n",
           label, (long long)jms(t, "prescribed"), (long long)jms(t, "taken"),
           (long long)jms(t, "on_time"), (long long)jms(t, "late"), (long long)jms(t, "early"),
           (long long)jms(t, "missed"), (long long)jms(t, "unknown"),
           (long long)jms(t, "double_doses"), (long long)jms(t, "rest_day_doses"), tk, tm,
           (long long)jms(t, "correct_days"), (long long)jms(t, "days"), cd);
}

static int cmd_adherence(const struct opts *o, const char *sock, const char *db,
                         const char *patient)
{
    char req[96];
    snprintf(req, sizeof req, "adherence %s", patient);
    int ec;
    json_t *a = query(sock, req, db, local_adherence, patient, &ec);
    if (!a) return ec;
    if (o->json) {
        print_json(a);
        json_decref(a);
        return EXIT_OK;
    }
    printf("patient %s, %s (care plan version %lld), from %s\n", jstr(a, "patient"),
           jstr(a, "drug"), (long long)jms(a, "plan_version"), jstr(a, "from"));
    printf("(ABC taxonomy, implementation: taking = doses taken / doses judged; timing = on\n"
           " time / judged; correct days = days with the prescribed doses, each in its slot)\n\n");
    printf("%-7s %10s %6s %8s %5s %6s %7s %8s %7s %9s %8s %8s %9s\n", "cycle", "prescribed",
           "taken", "on time", "late", "early", "missed", "unknown", "double", "rest-day", "taking",
           "timing", "correct days");
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(a, "cycles"), i, c)
    {
        char label[16];
        snprintf(label, sizeof label, "%lld", (long long)jms(c, "cycle"));
        tally_line(label, c);
    }
    tally_line("total", json_object_get(a, "total"));
    json_t *hol = json_object_get(a, "drug_holidays");
    printf("\ndrug holidays (>= %lld treatment days without a dose): ",
           (long long)jms(a, "drug_holiday_days"));
    if (json_array_size(hol) == 0)
        printf("none\n");
    else {
        printf("\n");
        json_array_foreach(hol, i, c) printf("  %s .. %s (%lld treatment days)\n", jstr(c, "from"),
                                             jstr(c, "to"), (long long)jms(c, "treatment_days"));
    }
    /* the chronology: a ruler of cycle days, then one line per slot */
    printf("\nchronology from %s (%s)\n", jstr(a, "from"), jstr(a, "legend"));
    json_t *days = json_object_get(a, "days");
    size_t n = json_array_size(days);
    printf("%-8s", "day");
    for (i = 0; i < n; i++) {
        json_int_t d = jms(json_array_get(days, i), "day");
        putchar(d == 1 ? '|' : d % 10 == 0 ? '0' : d % 5 == 0 ? '5' : ' ');
    }
    printf("\n");
    const char *slot;
    json_t *line;
    json_object_foreach(json_object_get(a, "chronology"), slot, line)
        printf("%-8s%s\n", slot, json_string_value(line));
    json_decref(a);
    return EXIT_OK;
}

/* ---- delays of care ---- */

static json_t *local_delays(struct relais_store *st, const char *arg)
{
    (void)arg;
    return relais_report_delays(st);
}

static void quant(json_t *q, char *out, size_t cap)
{
    if (!json_is_object(q)) {
        snprintf(out, cap, "%-8s %-8s %-8s", "-", "-", "-");
        return;
    }
    char a[16], b[16], c[16];
    fmt_duration(jms(q, "median_s") * 1000, a, sizeof a);
    fmt_duration(jms(q, "p90_s") * 1000, b, sizeof b);
    fmt_duration(jms(q, "max_s") * 1000, c, sizeof c);
    snprintf(out, cap, "%-8s %-8s %-8s", a, b, c);
}

static void delay_table(const char *title, json_t *groups)
{
    printf("%-16s %6s %8s   %-26s   %-26s\n", title, "alerts", "unacked",
           "raise->ack median p90 max", "raise->resolve median p90 max");
    const char *k;
    json_t *g;
    json_object_foreach(groups, k, g)
    {
        char qa[64], qr[64];
        quant(json_object_get(g, "raise_to_ack"), qa, sizeof qa);
        quant(json_object_get(g, "raise_to_resolve"), qr, sizeof qr);
        printf("%-16s %6lld %8lld   %-26s   %-26s\n", k, (long long)jms(g, "alerts"),
               (long long)jms(g, "open_unacknowledged"), qa, qr);
    }
}

static int cmd_delays(const struct opts *o, const char *sock, const char *db)
{
    int ec;
    json_t *a = query(sock, "delays", db, local_delays, NULL, &ec);
    if (!a) return ec;
    if (o->json) {
        print_json(a);
    } else {
        delay_table("team", json_object_get(a, "by_team"));
        printf("\n");
        delay_table("patient", json_object_get(a, "by_patient"));
    }
    json_decref(a);
    return EXIT_OK;
}

/* ---- care plan ---- */

static json_t *local_careplan(struct relais_store *st, const char *arg)
{
    (void)arg;
    struct relais_stored_plan sp;
    int rc = relais_store_plan_latest(st, &sp);
    if (rc == RELAIS_ENOTFOUND) return json_pack("{s:n}", "plan");
    if (rc) return NULL;
    json_t *body = json_loads(sp.body, 0, NULL);
    json_t *o = json_pack("{s:I, s:s, s:s, s:I, s:o}", "version", (json_int_t)sp.version, "patient",
                          sp.patient, "source", sp.source, "applied_ms", (json_int_t)sp.applied_ms,
                          "plan", body ? body : json_null());
    free(sp.body);
    return o;
}

static int cmd_careplan_show(const struct opts *o, const char *sock, const char *db)
{
    int ec;
    json_t *a = query(sock, "careplan", db, local_careplan, NULL, &ec);
    if (!a) return ec;
    if (o->json || json_is_null(json_object_get(a, "plan"))) {
        if (!o->json)
            printf("(no care plan)\n");
        else
            print_json(a);
        json_decref(a);
        return EXIT_OK;
    }
    char t[40];
    fmt_ms(jms(a, "applied_ms"), t, sizeof t);
    json_t *p = json_object_get(a, "plan");
    json_t *reg = json_object_get(p, "regimen");
    printf("care plan version %lld for %s, applied %s from %s\n", (long long)jms(a, "version"),
           jstr(a, "patient"), t, jstr(a, "source"));
    printf("  pathway %s, time zone %s\n", jstr(p, "pathway"), jstr(p, "timezone"));
    printf("  %s from %s, cycle of %lld days\n", jstr(reg, "drug"), jstr(reg, "start"),
           (long long)jms(reg, "cycle_days"));
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(p, "devices"), i, d)
        printf("  device %-16s %-10s expected every %llds\n", jstr(d, "id"), jstr(d, "kind"),
               (long long)jms(d, "period_s"));
    json_decref(a);
    return EXIT_OK;
}

static int cmd_careplan_apply(const struct opts *o, const char *sock, const char *db,
                              const char *file)
{
    json_error_t jerr;
    /* the plan travels as one line: any JSON layout is accepted, checked by relaisd */
    json_t *plan = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
    if (!plan) {
        fprintf(stderr, "relaisctl: %s: line %d: %s\n", file, jerr.line, jerr.text);
        return EXIT_ERROR;
    }
    char *text = json_dumps(plan, JSON_COMPACT);
    json_decref(plan);
    if (!text) return EXIT_ERROR;
    size_t n = strlen(text) + 32;
    char *req = malloc(n);
    if (!req) {
        free(text);
        return EXIT_ERROR;
    }
    snprintf(req, n, "careplan-apply %s", text);
    json_t *a = NULL;
    int rc = ask(sock, req, &a);
    free(req);
    if (rc == RELAIS_ECONN) {
        /* relaisd is stopped: the same path, on the store */
        struct relais_store *st;
        if (open_store(db, false, &st)) {
            free(text);
            return EXIT_ERROR;
        }
        struct relais_engine *e;
        const struct relais_engine_opts eo = {.gateway_id = relaisctl_gateway};
        struct relais_plan_result res;
        rc = relais_engine_create(&e, st, &relais_clock_system, &eo);
        char source[300];
        snprintf(source, sizeof source, "relaisctl:%.280s", file);
        if (!rc) {
            rc = relais_engine_apply_plan(e, text, strlen(text), source, &res);
            relais_engine_destroy(e);
        }
        relais_store_close(st);
        if (!rc) {
            static const char *const names[] = {"applied", "unchanged", "rejected"};
            a = json_pack("{s:s, s:I, s:I}", "status", names[res.status], "version",
                          (json_int_t)res.version, "active_version",
                          (json_int_t)res.active_version);
            if (res.status == RELAIS_PLAN_REJECTED)
                json_object_set_new(a, "error", json_string(res.error));
        }
    }
    free(text);
    if (rc || !a) {
        fprintf(stderr, "relaisctl: careplan apply: %s\n",
                relais_strerror(rc ? rc : RELAIS_EPROTO));
        return EXIT_ERROR;
    }
    const char *err = json_string_value(json_object_get(a, "error"));
    const char *status = json_string_value(json_object_get(a, "status"));
    if (o->json)
        print_json(a);
    else if (status && strcmp(status, "rejected") == 0)
        fprintf(stderr, "relaisctl: care plan version %lld rejected: %s (version %lld stays)\n",
                (long long)jms(a, "version"), err ? err : "?", (long long)jms(a, "active_version"));
    else if (status)
        printf("care plan version %lld %s\n", (long long)jms(a, "version"), status);
    else
        fprintf(stderr, "relaisctl: %s\n", err ? err : "no answer");
    bool ok = status && strcmp(status, "rejected") != 0;
    json_decref(a);
    return ok ? EXIT_OK : EXIT_ERROR;
}

/* ---- commands, clock ---- */

static json_t *local_commands(struct relais_store *st, const char *arg)
{
    return relais_report_commands(st, strtoll(arg, NULL, 10));
}

static int cmd_commands(const struct opts *o, const char *sock, const char *db)
{
    char req[48], lim[24];
    snprintf(lim, sizeof lim, "%ld", o->limit);
    snprintf(req, sizeof req, "commands %ld", o->limit);
    int ec;
    json_t *arr = query(sock, req, db, local_commands, lim, &ec);
    if (!arr) return ec;
    if (o->json) {
        print_json(arr);
    } else {
        printf("%-6s %-24s %-16s %-9s %s\n", "id", "created", "device", "state", "command");
        size_t i;
        json_t *c;
        json_array_foreach(arr, i, c)
        {
            char t[40];
            fmt_ms(jms(c, "created_ms"), t, sizeof t);
            char *body = json_dumps(json_object_get(c, "body"), JSON_COMPACT);
            printf("%-6lld %-24s %-16s %-9s %s\n", (long long)jms(c, "id"), t, jstr(c, "device"),
                   jstr(c, "state"), body ? body : "");
            free(body);
        }
    }
    json_decref(arr);
    return EXIT_OK;
}

static int cmd_clock(const struct opts *o, const char *sock, int nargs, char **args)
{
    char req[96];
    if (nargs == 0)
        snprintf(req, sizeof req, "clock");
    else if (strcmp(args[0], "sync") == 0)
        snprintf(req, sizeof req, "clock-sync %s", args[1]);
    else
        snprintf(req, sizeof req, "clock-%s %s", args[0], args[1]);
    int ec;
    json_t *a = query(sock, req, NULL, NULL, NULL, &ec);
    if (!a) return ec;
    if (o->json) {
        print_json(a);
    } else {
        char t[40];
        fmt_ms(jms(a, "wall_ms"), t, sizeof t);
        printf("%s clock: %s, %s\n",
               json_is_true(json_object_get(a, "test_clock")) ? "test" : "system", t,
               json_is_true(json_object_get(a, "synchronised")) ? "synchronised"
                                                                : "NOT synchronised");
    }
    json_decref(a);
    return EXIT_OK;
}

int care_command(const struct opts *o, const char *sock, const char *db, const char *cmd, int nargs,
                 char **args)
{
    if (!strcmp(cmd, "alerts")) return cmd_alerts(o, sock, db);
    if (!strcmp(cmd, "alert")) return cmd_alert(o, sock, db, args[0]);
    if (!strcmp(cmd, "ack") || !strcmp(cmd, "resolve")) return cmd_act(o, sock, db, cmd, args[0]);
    if (!strcmp(cmd, "adherence")) return cmd_adherence(o, sock, db, args[0]);
    if (!strcmp(cmd, "delays")) return cmd_delays(o, sock, db);
    if (!strcmp(cmd, "careplan"))
        return nargs == 0 ? cmd_careplan_show(o, sock, db)
                          : cmd_careplan_apply(o, sock, db, args[1]);
    if (!strcmp(cmd, "commands")) return cmd_commands(o, sock, db);
    if (!strcmp(cmd, "clock")) return cmd_clock(o, sock, nargs, args);
    return EXIT_USAGE;
}
