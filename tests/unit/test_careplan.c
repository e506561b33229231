/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the care plan (edge/src/careplan.c):
 *
 *   - every example plan (each .json of docs/careplans/, tests/scenarios/plans/base.json,
 *     found through $RELAIS_SRC) parses, with its key fields checked;
 *   - a table of invalid plans, each a small edit of one valid plan (or a
 *     whole text), each refused with the exact path of the first bad field
 *     ("regimen.slots[1].time: ...") and, for most, the reason;
 *   - the pathway profiles' teams, delays and routing, the plan's overrides,
 *     relais_careplan_defaults(), the team and device look-ups;
 *   - the cycle calendar: cycle_day()/on_day() over several cycles of
 *     capecitabine (14 on / 7 off) and sunitinib (28 on / 14 off).
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "relais/careplan.h"
#include "relais/error.h"
#include "relais/tz.h"

/* ---- helpers ---- */

/* A valid plan, built from pieces the cases below edit (mutate() checks
 * that each edited piece of text occurs once). */
#define DEV_PB  "{\"id\": \"pillbox-1\", \"kind\": \"pillbox\", \"period_s\": 3600}"
#define DEV_VS  "{\"id\": \"vitals-1\", \"kind\": \"vitals\", \"period_s\": 14400}"
#define DEVICES "\"devices\": [\n    " DEV_PB ",\n    " DEV_VS "\n  ],"
#define SLOT_AM "{\"id\": \"am\", \"time\": \"08:00\", \"window_min\": 120}"
#define SLOT_PM "{\"id\": \"pm\", \"time\": \"20:00\", \"window_min\": 120}"
#define SLOTS   "\"slots\": [\n      " SLOT_AM ",\n      " SLOT_PM "\n    ]"
#define REGIMEN                                                                                    \
    "\"regimen\": {\n"                                                                             \
    "    \"drug\": \"capecitabine\",\n"                                                            \
    "    \"dose_mg\": 2000,\n"                                                                     \
    "    \"start\": \"2026-11-23\",\n"                                                             \
    "    \"cycle_days\": 21,\n"                                                                    \
    "    \"days_on\": [[1, 14]],\n"                                                                \
    "    \"cycles\": 8,\n"                                                                         \
    "    " SLOTS "\n"                                                                              \
    "  },"
#define CLEAR "\"clear_after_min\": 30,"
#define FEVER "\"fever\": {\"high\": 38.3, \"sustained\": 38.0, \"sustained_min\": 60}"
#define HR    "\"heart_rate\": {\"high_above\": 131, \"high_below\": 40, \"medium_above\": 111}"
#define BP    "\"blood_pressure\": {\"sys_low\": 90, \"sys_medium\": 160, \"dia_medium\": 100}"
#define RULES                                                                                      \
    "\"rules\": {\n"                                                                               \
    "    " CLEAR "\n"                                                                              \
    "    " FEVER ",\n"                                                                             \
    "    " HR ",\n"                                                                                \
    "    \"desaturation\": {\"high_max\": 92, \"medium_max\": 94},\n"                              \
    "    " BP ",\n"                                                                                \
    "    \"symptom\": {\"medium_grade\": 2, \"high_grade\": 3},\n"                                 \
    "    \"weight_loss\": {\"percent\": 5, \"days\": 30, \"baseline_kg\": 68.5},\n"                \
    "    \"missed_dose\": {\"enabled\": true, \"grace_min\": 10},\n"                               \
    "    \"device_silent\": {\"periods\": 3}\n"                                                    \
    "  },"
#define TEAM_HAD                                                                                   \
    "\"had\": {\"ack_within_min\": 15, \"escalate_to\": \"had-backup\", \"call15_after_min\": 30}"
#define TEAM_BACKUP "\"had-backup\": {\"ack_within_min\": 15}"
#define TEAM_COORD  "\"coordination\": {\"ack_within_min\": 240}"
#define TEAMS                                                                                      \
    "\"teams\": {\n"                                                                               \
    "    " TEAM_HAD ",\n"                                                                          \
    "    " TEAM_BACKUP ",\n"                                                                       \
    "    " TEAM_COORD "\n"                                                                         \
    "  }\n"

static const char base_plan[] = "{\n"
                                "  \"version\": 3,\n"
                                "  \"patient\": \"p-0042\",\n"
                                "  \"pathway\": \"standard\",\n"
                                "  \"timezone\": \"Europe/Paris\",\n"
                                "  " DEVICES "\n"
                                "  " REGIMEN "\n"
                                "  " RULES "\n"
                                "  " TEAMS "}\n";

/* Texts of the current test, freed by its teardown (also when a check fails
 * and cmocka jumps out of the test). */
static char *texts[32];
static size_t ntexts;

static char *keep(char *text)
{
    assert_non_null(text);
    if (ntexts == sizeof texts / sizeof texts[0]) fail_msg("too many texts in one test");
    texts[ntexts++] = text;
    return text;
}

static void free_texts(void)
{
    while (ntexts)
        free(texts[--ntexts]);
}

static int teardown(void **state)
{
    (void)state;
    free_texts();
    return 0;
}

/* base with `old` (which must occur exactly once) replaced by `new_text`;
 * kept until the end of the test. */
static char *mutate(const char *base, const char *old, const char *new_text)
{
    const char *at = strstr(base, old);
    if (!at) fail_msg("'%s' is not in the plan", old);
    if (strstr(at + 1, old)) fail_msg("'%s' is in the plan more than once", old);
    size_t pre = (size_t)(at - base), olen = strlen(old), nlen = strlen(new_text);
    size_t post = strlen(at + olen);
    char *out = keep(malloc(pre + nlen + post + 1));
    memcpy(out, base, pre);
    memcpy(out + pre, new_text, nlen);
    memcpy(out + pre + nlen, at + olen, post + 1);
    return out;
}

/* cmocka's assert_float_equal() goes through float: compare doubles. */
#define assert_num(a, b) assert_num_at((a), (b), #a, __FILE__, __LINE__)

static void assert_num_at(double got, double want, const char *expr, const char *file, int line)
{
    if (got - want > 1e-9 || want - got > 1e-9)
        fail_msg("%s:%d: %s is %.17g, expected %.17g", file, line, expr, got, want);
}

static bool all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i]) return false;
    return true;
}

static void parse_ok(struct relais_careplan *plan, const char *text, size_t len, const char *what)
{
    struct relais_careplan_error err;
    int rc = relais_careplan_parse(plan, text, len, &err);
    if (rc != RELAIS_OK) fail_msg("%s: rejected (rc %d): %s", what, rc, err.message);
}

/* The plan is refused with RELAIS_EPARSE, "path: why..." naming `path`, the
 * reason containing `why` (when not NULL), and the plan left zeroed. */
static void expect_bad_len(const char *text, size_t len, const char *path, const char *why,
                           const char *what)
{
    static struct relais_careplan plan_buf; /* static: no leak when a check fails */
    struct relais_careplan *plan = &plan_buf;
    struct relais_careplan_error err;
    memset(plan, 0x5a, sizeof *plan);
    memset(&err, 0x5a, sizeof err);
    int rc = relais_careplan_parse(plan, text, len, &err);
    if (rc == RELAIS_OK) fail_msg("%s: accepted, expected an error at %s", what, path);
    if (rc != RELAIS_EPARSE) fail_msg("%s: rc %d, expected RELAIS_EPARSE", what, rc);
    if (!memchr(err.message, '\0', sizeof err.message))
        fail_msg("%s: message not terminated", what);
    size_t n = strlen(path);
    if (strncmp(err.message, path, n) != 0 || strncmp(err.message + n, ": ", 2) != 0 ||
        err.message[n + 2] == '\0')
        fail_msg("%s: \"%s\", expected the path %s", what, err.message, path);
    if (why && !strstr(err.message + n + 2, why))
        fail_msg("%s: \"%s\", expected a reason with \"%s\"", what, err.message, why);
    if (!all_zero(plan, sizeof *plan)) fail_msg("%s: the plan is not cleared on error", what);
}

static void expect_bad(const char *text, const char *path, const char *why, const char *what)
{
    expect_bad_len(text, strlen(text), path, why, what);
}

static void expect_team(const struct relais_careplan *plan, const char *name, uint32_t ack,
                        const char *esc, uint32_t call15)
{
    const struct relais_team *t = relais_careplan_team(plan, name);
    if (!t) fail_msg("no team %s", name);
    assert_int_equal(t->ack_within_min, ack);
    assert_string_equal(t->escalate_to, esc);
    assert_int_equal(t->call15_after_min, call15);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) fail_msg("cannot open %s", path);
    char *buf = keep(malloc(RELAIS_CAREPLAN_MAX_BYTES + 1));
    size_t n = fread(buf, 1, RELAIS_CAREPLAN_MAX_BYTES + 1, fp);
    assert_int_equal(fclose(fp), 0);
    assert_true(n <= RELAIS_CAREPLAN_MAX_BYTES);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static const char *src_dir(void)
{
    const char *src = getenv("RELAIS_SRC");
    if (!src || !src[0]) fail_msg("RELAIS_SRC is not set (ctest sets it to the source tree)");
    return src;
}

static void parse_file(struct relais_careplan *plan, const char *rel)
{
    char path[1024];
    size_t len;
    snprintf(path, sizeof path, "%s/%s", src_dir(), rel);
    char *text = read_file(path, &len);
    parse_ok(plan, text, len, path);
}

/* ---- the example plans ---- */

struct example {
    const char *file; /* under $RELAIS_SRC */
    const char *patient;
    enum relais_pathway pathway;
    size_t ndevices;
    const char *drug;
    double dose_mg;
    uint32_t cycle_days, cycles;
    uint32_t on_first, on_last; /* the one days_on range */
    size_t nslots;
    uint32_t first_slot_minute, first_slot_window;
    uint32_t coordination_ack; /* from the pathway or the plan's teams */
};

static const struct example examples[] = {
    {"docs/careplans/capecitabine.json", "p-7f3a", RELAIS_PATHWAY_STANDARD, 3, "capecitabine", 2000,
     21, 8, 1, 14, 2, 8 * 60, 120, 240},
    {"docs/careplans/imatinib.json", "p-19b2", RELAIS_PATHWAY_STANDARD, 3, "imatinib", 400, 28, 0,
     1, 28, 1, 8 * 60 + 30, 180, 240},
    {"docs/careplans/sunitinib.json", "p-5d08", RELAIS_PATHWAY_ADVANCED, 4, "sunitinib", 50, 42, 0,
     1, 28, 1, 9 * 60, 120, 240},
    {"docs/careplans/temozolomide.json", "p-c41e", RELAIS_PATHWAY_RARE, 3, "temozolomide", 270, 28,
     6, 1, 5, 1, 21 * 60, 120, 120},
    {"tests/scenarios/plans/base.json", "p-7f3a", RELAIS_PATHWAY_STANDARD, 3, "capecitabine", 2000,
     21, 8, 1, 14, 2, 8 * 60, 120, 240},
};

static void test_examples_parse(void **state)
{
    (void)state;
    int32_t start = relais_tz_days_from_civil(2026, 11, 23);
    struct relais_careplan plan;

    for (size_t i = 0; i < sizeof examples / sizeof examples[0]; i++) {
        const struct example *e = &examples[i];
        parse_file(&plan, e->file);
        assert_int_equal(plan.version, 1);
        assert_string_equal(plan.patient, e->patient);
        assert_int_equal(plan.pathway, e->pathway);
        assert_string_equal(plan.timezone, "Europe/Paris");
        assert_int_equal(plan.ndevices, e->ndevices);
        assert_string_equal(plan.devices[0].id, "pillbox-1");
        assert_string_equal(plan.devices[0].kind, "pillbox");
        assert_int_equal(plan.devices[0].period_s, 3600);
        assert_string_equal(plan.drug, e->drug);
        assert_num(plan.dose_mg, e->dose_mg);
        assert_int_equal(plan.start_days, start);
        assert_int_equal(plan.cycle_days, e->cycle_days);
        assert_int_equal(plan.cycles, e->cycles);
        assert_int_equal(plan.ndays_on, 1);
        assert_int_equal(plan.days_on[0][0], e->on_first);
        assert_int_equal(plan.days_on[0][1], e->on_last);
        assert_int_equal(plan.nslots, e->nslots);
        assert_int_equal(plan.slots[0].minute, e->first_slot_minute);
        assert_int_equal(plan.slots[0].window_min, e->first_slot_window);
        const struct relais_team *coord = relais_careplan_team(&plan, "coordination");
        assert_non_null(coord);
        assert_int_equal(coord->ack_within_min, e->coordination_ack);
        /* no example changes these defaults */
        assert_num(plan.rules.fever_high, 38.3);
        assert_num(plan.rules.fever_sustained, 38.0);
        assert_int_equal(plan.rules.symptom_high_grade, 3);
        assert_num(plan.rules.hr_high_above, 131);
        assert_string_equal(relais_careplan_team_for(&plan, RELAIS_RULE_FEVER, RELAIS_PRIO_HIGH),
                            "had");
    }
}

/* Each example's own settings. */
static void test_examples_details(void **state)
{
    (void)state;
    struct relais_careplan plan;

    parse_file(&plan, "docs/careplans/capecitabine.json");
    assert_string_equal(plan.slots[1].id, "pm");
    assert_int_equal(plan.slots[1].minute, 20 * 60);
    assert_num(plan.rules.weight_baseline_kg, 68.5);
    assert_int_equal(plan.rules.clear_after_min, 30);
    assert_int_equal(plan.rules.missed_grace_min, 10);
    assert_true(plan.rules.enabled[RELAIS_RULE_REST_DAY_DOSE]);
    assert_non_null(relais_careplan_device(&plan, "tablet-1"));
    assert_null(relais_careplan_device(&plan, "scale-1"));

    parse_file(&plan, "tests/scenarios/plans/base.json");
    assert_num(plan.rules.weight_baseline_kg, 100.0);

    parse_file(&plan, "docs/careplans/imatinib.json");
    assert_false(plan.rules.enabled[RELAIS_RULE_REST_DAY_DOSE]);
    assert_true(plan.rules.enabled[RELAIS_RULE_MISSED_DOSE]);
    const struct relais_careplan_device *dev = relais_careplan_device(&plan, "scale-1");
    assert_non_null(dev);
    assert_string_equal(dev->kind, "scale");
    assert_int_equal(dev->period_s, 86400);
    assert_num(plan.rules.weight_baseline_kg, 0); /* the window's highest */

    parse_file(&plan, "docs/careplans/sunitinib.json");
    assert_num(plan.rules.bp_sys_low_band, 135);
    assert_num(plan.rules.bp_dia_low_band, 85);
    assert_int_equal(plan.rules.bp_low_window_h, 72);
    assert_num(plan.rules.bp_sys_medium, 160); /* default */
    assert_string_equal(
        relais_careplan_team_for(&plan, RELAIS_RULE_BLOOD_PRESSURE, RELAIS_PRIO_MEDIUM),
        "oncology-daytime");
    assert_string_equal(
        relais_careplan_team_for(&plan, RELAIS_RULE_BLOOD_PRESSURE, RELAIS_PRIO_HIGH), "had");
    /* advanced: MEDIUM symptom and desaturation go to had */
    assert_string_equal(relais_careplan_team_for(&plan, RELAIS_RULE_SYMPTOM, RELAIS_PRIO_MEDIUM),
                        "had");
    assert_string_equal(
        relais_careplan_team_for(&plan, RELAIS_RULE_FEVER_BORDERLINE, RELAIS_PRIO_MEDIUM),
        "coordination");
    const struct relais_team *t = relais_careplan_team(&plan, "oncology-daytime");
    assert_non_null(t);
    assert_int_equal(t->ack_within_min, 240);
    assert_string_equal(t->escalate_to, "");
    assert_int_equal(t->call15_after_min, 0);
    assert_int_equal(plan.nteams, 4);
    t = relais_careplan_team(&plan, "had");
    assert_int_equal(t->ack_within_min, 10);
    assert_int_equal(t->call15_after_min, 20);
    dev = relais_careplan_device(&plan, "bpcuff-1");
    assert_non_null(dev);
    assert_string_equal(dev->kind, "bp-cuff");

    parse_file(&plan, "docs/careplans/temozolomide.json");
    assert_string_equal(plan.slots[0].id, "evening");
    assert_int_equal(plan.rules.weight_loss_days, 30);
    t = relais_careplan_team(&plan, "had"); /* rare: quicker */
    assert_int_equal(t->ack_within_min, 10);
    assert_int_equal(t->call15_after_min, 25);
}

/* Every plan in docs/careplans/ parses, including ones added after this
 * test was written. */
static void test_every_docs_example_parses(void **state)
{
    (void)state;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/docs/careplans", src_dir());
    DIR *d = opendir(dir);
    if (!d) fail_msg("cannot open %s", dir);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0) continue;
        char rel[512];
        struct relais_careplan plan;
        snprintf(rel, sizeof rel, "docs/careplans/%s", e->d_name);
        parse_file(&plan, rel);
        assert_true(plan.ndevices >= 1 && plan.nslots >= 1 && plan.cycle_days >= 1);
        n++;
    }
    closedir(d);
    assert_true(n >= 4);
}

/* The base plan of this file and its exact values. */
static void test_base_plan(void **state)
{
    (void)state;
    struct relais_careplan plan;
    parse_ok(&plan, base_plan, strlen(base_plan), "base_plan");
    assert_int_equal(plan.version, 3);
    assert_string_equal(plan.patient, "p-0042");
    assert_int_equal(plan.ndevices, 2);
    assert_int_equal(plan.devices[1].period_s, 14400);
    assert_int_equal(plan.nslots, 2);
    assert_num(plan.rules.weight_baseline_kg, 68.5);
    /* dose_mg is optional */
    char *t = mutate(base_plan, "\"dose_mg\": 2000,", "");
    parse_ok(&plan, t, strlen(t), "no dose_mg");
    assert_num(plan.dose_mg, 0);
}

/* ---- invalid plans ---- */

struct bad_case {
    const char *old, *new_text;   /* edit of base_plan */
    const char *old2, *new_text2; /* a second edit, or NULL */
    const char *path;             /* the field the error must name */
    const char *why;              /* a piece of the reason, or NULL */
};

static const struct bad_case bad_cases[] = {
    /* version */
    {"\"version\": 3,", "", NULL, NULL, "version", "required"},
    {"\"version\": 3,", "\"version\": 0,", NULL, NULL, "version", "out of range"},
    {"\"version\": 3,", "\"version\": -3,", NULL, NULL, "version", "out of range"},
    {"\"version\": 3,", "\"version\": 3.0,", NULL, NULL, "version", "whole number"},
    {"\"version\": 3,", "\"version\": \"3\",", NULL, NULL, "version", "whole number"},
    {"\"version\": 3,", "\"version\": 9007199254740993,", NULL, NULL, "version", "out of range"},
    /* patient */
    {"\"p-0042\"", "\"unbound\"", NULL, NULL, "patient", "not a pseudonym"},
    {"\"p-0042\"", "\"\"", NULL, NULL, "patient", "not a pseudonym"},
    {"\"p-0042\"", "\"p 0042\"", NULL, NULL, "patient", "not a pseudonym"},
    {"\"p-0042\"", "\"p/0042\"", NULL, NULL, "patient", "not a pseudonym"},
    {"\"p-0042\"", "\"p-0042-0123456789-0123456789-0123\"", NULL, NULL, "patient",
     "longer than 32"},
    {"\"p-0042\"", "42", NULL, NULL, "patient", "must be a string"},
    {"\"patient\": \"p-0042\",", "", NULL, NULL, "patient", "required"},
    /* pathway */
    {"\"standard\"", "\"palliative\"", NULL, NULL, "pathway", "is not standard"},
    {"\"standard\"", "\"Standard\"", NULL, NULL, "pathway", "is not standard"},
    {"\"standard\"", "\"non_standard\"", NULL, NULL, "pathway", "is not standard"},
    {"\"pathway\": \"standard\",", "", NULL, NULL, "pathway", "required"},
    /* timezone: an IANA zone file of the system, nothing else */
    {"\"Europe/Paris\"", "\"Mars/Olympus_Mons\"", NULL, NULL, "timezone", "not a time zone"},
    {"\"Europe/Paris\"", "\"localtime\"", NULL, NULL, "timezone", "not a time zone"},
    {"\"Europe/Paris\"", "\"posixrules\"", NULL, NULL, "timezone", "not a time zone"},
    {"\"Europe/Paris\"", "\"Factory\"", NULL, NULL, "timezone", "not a time zone"},
    {"\"Europe/Paris\"", "\"posix/Factory\"", NULL, NULL, "timezone", "not a time zone"},
    {"\"Europe/Paris\"", "\"../etc/passwd\"", NULL, NULL, "timezone", "not a time zone"},
    {"\"Europe/Paris\"", "\"Europe/../../../etc/passwd\"", NULL, NULL, "timezone", NULL},
    {"\"Europe/Paris\"", "\"/usr/share/zoneinfo/Europe/Paris\"", NULL, NULL, "timezone", NULL},
    {"\"Europe/Paris\"", "\"right/Europe/Paris\"", NULL, NULL, "timezone", NULL},
    {"\"Europe/Paris\"", "\"Europe\"", NULL, NULL, "timezone", NULL}, /* a directory */
    {"\"Europe/Paris\"", "\"Europe/Paris/\"", NULL, NULL, "timezone", NULL},
    {"\"Europe/Paris\"", "\"europe/paris\"", NULL, NULL, "timezone", NULL},
    {"\"Europe/Paris\"", "\"CET-1CEST,M3.5.0,M10.5.0/3\"", NULL, NULL, "timezone", NULL},
    {"\"Europe/Paris\"", "\":Europe/Paris\"", NULL, NULL, "timezone", NULL},
    {"\"Europe/Paris\"", "\"zone.tab\"", NULL, NULL, "timezone", NULL}, /* not TZif */
    {"\"Europe/Paris\"", "\"leapseconds\"", NULL, NULL, "timezone", NULL},
    {"\"Europe/Paris\"", "\"\"", NULL, NULL, "timezone", NULL},
    {"\"Europe/Paris\"", "\"Europe/Paris\\n\"", NULL, NULL, "timezone", NULL},
    {"\"Europe/Paris\"", "[\"Europe/Paris\"]", NULL, NULL, "timezone", "must be a string"},
    {"\"timezone\": \"Europe/Paris\",", "", NULL, NULL, "timezone", "required"},
    /* devices */
    {DEVICES, "\"devices\": [],", NULL, NULL, "devices", "at least one"},
    {DEVICES, "\"devices\": {},", NULL, NULL, "devices", "must be an array"},
    {DEVICES, "\"devices\": null,", NULL, NULL, "devices", "must be an array"},
    {DEVICES, "", NULL, NULL, "devices", "required"},
    {"\"devices\": [", "\"x\": [", NULL, NULL, "x", "unknown field"},
    {"\"pillbox-1\"", "\"Pillbox-1\"", NULL, NULL, "devices[0].id", "not a device id"},
    {"\"pillbox-1\"", "\"-pillbox\"", NULL, NULL, "devices[0].id", "not a device id"},
    {"\"pillbox-1\"", "\"pillbox-0123456789-0123456789-012\"", NULL, NULL, "devices[0].id",
     "longer than 32"},
    {"\"vitals-1\"", "\"pillbox-1\", \"x\": 1", NULL, NULL, "devices[1].x", "unknown field"},
    {DEV_VS, "{\"id\": \"pillbox-1\", \"kind\": \"vitals\", \"period_s\": 14400}", NULL, NULL,
     "devices[1].id", "listed twice"},
    {"\"kind\": \"vitals\"", "\"kind\": \"toaster\"", NULL, NULL, "devices[1].kind",
     "not a device kind"},
    {"\"kind\": \"vitals\"", "\"kind\": \"Vitals\"", NULL, NULL, "devices[1].kind", NULL},
    {"\"kind\": \"vitals\",", "", NULL, NULL, "devices[1].kind", "required"},
    {"\"period_s\": 3600", "\"period_s\": 59", NULL, NULL, "devices[0].period_s", "out of range"},
    {"\"period_s\": 3600", "\"period_s\": 604801", NULL, NULL, "devices[0].period_s", NULL},
    {"\"period_s\": 3600", "\"period_s\": \"3600\"", NULL, NULL, "devices[0].period_s",
     "whole number"},
    {", \"period_s\": 14400", "", NULL, NULL, "devices[1].period_s", "required"},
    {DEV_VS, "\"vitals-1\"", NULL, NULL, "devices[1]", "must be an object"},
    {"\"pillbox\", \"period_s\"", "\"pillbox\", \"serial\": \"x\", \"period_s\"", NULL, NULL,
     "devices[0].serial", "unknown field"},
    /* regimen */
    {"\"regimen\": {", "\"regime\": {", NULL, NULL, "regime", "unknown field"},
    {"\"drug\": \"capecitabine\",", "\"drug\": \"\",", NULL, NULL, "regimen.drug", "empty"},
    {"\"drug\": \"capecitabine\",", "", NULL, NULL, "regimen.drug", "required"},
    {"\"capecitabine\"", "\"capecitabine-capecitabine-capecitabine-capecitabine-capecitabine1\"",
     NULL, NULL, "regimen.drug", "longer than 64"},
    {"\"drug\": \"capecitabine\",", "\"drug\": \"capecitabine\", \"route\": \"oral\",", NULL, NULL,
     "regimen.route", "unknown field"},
    {"\"dose_mg\": 2000", "\"dose_mg\": 0", NULL, NULL, "regimen.dose_mg", "out of range"},
    {"\"dose_mg\": 2000", "\"dose_mg\": -500", NULL, NULL, "regimen.dose_mg", "out of range"},
    {"\"dose_mg\": 2000", "\"dose_mg\": \"2000\"", NULL, NULL, "regimen.dose_mg", "a number"},
    {"\"dose_mg\": 2000", "\"dose_mg\": 100001", NULL, NULL, "regimen.dose_mg", NULL},
    /* bad dates */
    {"\"2026-11-23\"", "\"2026-02-29\"", NULL, NULL, "regimen.start", "not a date"},
    {"\"2026-11-23\"", "\"2100-02-29\"", NULL, NULL, "regimen.start", "not a date"},
    {"\"2026-11-23\"", "\"2026-04-31\"", NULL, NULL, "regimen.start", "not a date"},
    {"\"2026-11-23\"", "\"2026-13-01\"", NULL, NULL, "regimen.start", "not a date"},
    {"\"2026-11-23\"", "\"2026-00-10\"", NULL, NULL, "regimen.start", "not a date"},
    {"\"2026-11-23\"", "\"2026-11-00\"", NULL, NULL, "regimen.start", "not a date"},
    {"\"2026-11-23\"", "\"1999-12-31\"", NULL, NULL, "regimen.start", "not a date"},
    {"\"2026-11-23\"", "\"2201-01-01\"", NULL, NULL, "regimen.start", "not a date"},
    {"\"2026-11-23\"", "\"2026-1-23\"", NULL, NULL, "regimen.start", "not a date"},
    {"\"2026-11-23\"", "\"2026/11/23\"", NULL, NULL, "regimen.start", "not a date"},
    {"\"2026-11-23\"", "\"2026-11-23T08:00\"", NULL, NULL, "regimen.start", NULL},
    {"\"2026-11-23\"", "\"+026-11-23\"", NULL, NULL, "regimen.start", "not a date"},
    {"\"2026-11-23\"", "\"20261123\"", NULL, NULL, "regimen.start", "not a date"},
    {"\"2026-11-23\"", "20780", NULL, NULL, "regimen.start", "must be a string"},
    {"\"start\": \"2026-11-23\",", "", NULL, NULL, "regimen.start", "required"},
    /* the cycle */
    {"\"cycle_days\": 21", "\"cycle_days\": 0", NULL, NULL, "regimen.cycle_days", "out of range"},
    {"\"cycle_days\": 21", "\"cycle_days\": 366", NULL, NULL, "regimen.cycle_days", NULL},
    {"\"cycle_days\": 21,", "", NULL, NULL, "regimen.cycle_days", "required"},
    {"\"cycles\": 8", "\"cycles\": -1", NULL, NULL, "regimen.cycles", "out of range"},
    {"\"cycles\": 8", "\"cycles\": 1001", NULL, NULL, "regimen.cycles", "out of range"},
    {"[[1, 14]]", "[[1, 22]]", NULL, NULL, "regimen.days_on[0]", "not within day 1..21"},
    {"[[1, 14]]", "[[0, 14]]", NULL, NULL, "regimen.days_on[0]", "not within"},
    {"[[1, 14]]", "[[14, 1]]", NULL, NULL, "regimen.days_on[0]", "not within"},
    {"[[1, 14]]", "[[1, 7], [7, 14]]", NULL, NULL, "regimen.days_on[1]", "must not overlap"},
    {"[[1, 14]]", "[[8, 14], [1, 5]]", NULL, NULL, "regimen.days_on[1]", "in order"},
    {"[[1, 14]]", "[[1, 5], [8, 21], [22, 22]]", NULL, NULL, "regimen.days_on[2]", "not within"},
    {"[[1, 14]]", "[]", NULL, NULL, "regimen.days_on", "non-empty"},
    {"[[1, 14]]", "[1, 14]", NULL, NULL, "regimen.days_on[0]", "two whole numbers"},
    {"[[1, 14]]", "[[1, 14.0]]", NULL, NULL, "regimen.days_on[0]", "two whole numbers"},
    {"[[1, 14]]", "[[1]]", NULL, NULL, "regimen.days_on[0]", "two whole numbers"},
    {"[[1, 14]]", "[[1, 7, 14]]", NULL, NULL, "regimen.days_on[0]", "two whole numbers"},
    {"[[1, 14]]", "{\"first\": 1, \"last\": 14}", NULL, NULL, "regimen.days_on", "non-empty"},
    {"[[1, 14]]", "[[1, 1], [2, 2], [3, 3], [4, 4], [5, 5], [6, 6], [7, 7], [8, 8], [9, 9]]", NULL,
     NULL, "regimen.days_on", "at most 8"},
    {"\"days_on\": [[1, 14]],", "", NULL, NULL, "regimen.days_on", "required"},
    /* slots: bad HH:MM */
    {"\"20:00\"", "\"25:00\"", NULL, NULL, "regimen.slots[1].time", "is not HH:MM"},
    {"\"20:00\"", "\"24:00\"", NULL, NULL, "regimen.slots[1].time", "is not HH:MM"},
    {"\"08:00\"", "\"8:00\"", NULL, NULL, "regimen.slots[0].time", "is not HH:MM"},
    {"\"08:00\"", "\"08:60\"", NULL, NULL, "regimen.slots[0].time", "is not HH:MM"},
    {"\"08:00\"", "\"08h00\"", NULL, NULL, "regimen.slots[0].time", "is not HH:MM"},
    {"\"08:00\"", "\"08:00:00\"", NULL, NULL, "regimen.slots[0].time", NULL},
    {"\"08:00\"", "\" 8:00\"", NULL, NULL, "regimen.slots[0].time", "is not HH:MM"},
    {"\"08:00\"", "\"-8:00\"", NULL, NULL, "regimen.slots[0].time", "is not HH:MM"},
    {"\"08:00\"", "480", NULL, NULL, "regimen.slots[0].time", "must be a string"},
    {"\"time\": \"08:00\", ", "", NULL, NULL, "regimen.slots[0].time", "required"},
    /* slots: order, ids, windows */
    {"\"20:00\"", "\"07:00\"", NULL, NULL, "regimen.slots[1].time", "order of the day"},
    {"\"20:00\"", "\"08:00\"", NULL, NULL, "regimen.slots[1].time", "order of the day"},
    {"\"id\": \"pm\"", "\"id\": \"am\"", NULL, NULL, "regimen.slots[1].id", "used twice"},
    {"\"id\": \"am\"", "\"id\": \"AM\"", NULL, NULL, "regimen.slots[0].id", "not a slot id"},
    {"\"id\": \"am\"", "\"id\": \"\"", NULL, NULL, "regimen.slots[0].id", "not a slot id"},
    {"\"id\": \"am\"", "\"id\": \"morning-dose-0800\"", NULL, NULL, "regimen.slots[0].id",
     "longer than 16"},
    {"\"id\": \"am\", ", "", NULL, NULL, "regimen.slots[0].id", "required"},
    {"\"08:00\", \"window_min\": 120", "\"08:00\", \"window_min\": 9", NULL, NULL,
     "regimen.slots[0].window_min", "out of range"},
    {"\"20:00\", \"window_min\": 120", "\"20:00\", \"window_min\": 721", NULL, NULL,
     "regimen.slots[1].window_min", "out of range"},
    {"\"20:00\", \"window_min\": 120", "\"20:00\", \"window_min\": 120.5", NULL, NULL,
     "regimen.slots[1].window_min", "whole number"},
    {"\"08:00\", \"window_min\": 120", "\"08:00\", \"window_min\": 120, \"dose\": 1", NULL, NULL,
     "regimen.slots[0].dose", "unknown field"},
    /* overlapping windows: 08:00 +/- 60 min and 10:00 +/- 120 min */
    {SLOT_PM, "{\"id\": \"pm\", \"time\": \"10:00\", \"window_min\": 240}", NULL, NULL,
     "regimen.slots[0].window_min", "overlaps the next slot"},
    /* the defaults (120) overlap too: 08:00 and 09:00 */
    {SLOT_PM, "{\"id\": \"pm\", \"time\": \"09:00\"}", SLOT_AM,
     "{\"id\": \"am\", \"time\": \"08:00\"}", "regimen.slots[0].window_min", "overlaps"},
    /* the last window overlaps the next day's first: 23:00 +/- 90 min and 02:00 - 120 min */
    {SLOT_AM, "{\"id\": \"am\", \"time\": \"02:00\", \"window_min\": 240}", SLOT_PM,
     "{\"id\": \"pm\", \"time\": \"23:00\", \"window_min\": 180}", "regimen.slots[1].window_min",
     "overlaps the next slot"},
    {SLOTS, "\"slots\": []", NULL, NULL, "regimen.slots", "non-empty"},
    {SLOTS, "\"slots\": {\"am\": \"08:00\"}", NULL, NULL, "regimen.slots", "non-empty"},
    {SLOT_AM ",", "", SLOT_PM, "", "regimen.slots", "non-empty"},
    {SLOT_PM, "\"pm\"", NULL, NULL, "regimen.slots[1]", "must be an object"},
    {"\"slots\": [", "\"x\": [", NULL, NULL, "regimen.x", "unknown field"},
    {REGIMEN, "\"regimen\": \"capecitabine\",", NULL, NULL, "regimen", "must be an object"},
    {REGIMEN, "", NULL, NULL, "regimen", "required"},
    /* rules: unknown names and wrong types */
    {CLEAR, "\"clear_after_min\": 30, \"fevr\": {},", NULL, NULL, "rules.fevr", "unknown rule"},
    {CLEAR, "\"clear_after_min\": 1441,", NULL, NULL, "rules.clear_after_min", "out of range"},
    {CLEAR, "\"clear_after_min\": -1,", NULL, NULL, "rules.clear_after_min", "out of range"},
    {CLEAR, "\"clear_after_min\": 30, \"double_dose\": true,", NULL, NULL, "rules.double_dose",
     "must be an object"},
    {RULES, "\"rules\": [],", NULL, NULL, "rules", "must be an object"},
    {"\"sustained_min\": 60", "\"sustained_min\": 60, \"threshold\": 39", NULL, NULL,
     "rules.fever.threshold", "unknown field"},
    {CLEAR, "\"clear_after_min\": 30, \"store_busy\": {\"quota\": 1},", NULL, NULL,
     "rules.store_busy.quota", "unknown field"},
    {CLEAR, "\"clear_after_min\": 30, \"double_dose\": {\"enabled\": 1},", NULL, NULL,
     "rules.double_dose.enabled", "true or false"},
    {"\"missed_dose\": {\"enabled\": true", "\"missed_dose\": {\"enabled\": \"yes\"", NULL, NULL,
     "rules.missed_dose.enabled", "true or false"},
    /* out-of-range thresholds */
    {"\"high\": 38.3", "\"high\": 42.5", NULL, NULL, "rules.fever.high", "out of range"},
    {"\"high\": 38.3", "\"high\": \"38.3\"", NULL, NULL, "rules.fever.high", "must be a number"},
    {"\"sustained_min\": 60", "\"sustained_min\": 0", NULL, NULL, "rules.fever.sustained_min",
     "out of range"},
    {"\"sustained_min\": 60", "\"sustained_min\": 1.5", NULL, NULL, "rules.fever.sustained_min",
     "whole number"},
    {CLEAR, "\"clear_after_min\": 30, \"hypothermia\": {\"low\": 37.5},", NULL, NULL,
     "rules.hypothermia.low", "out of range"},
    {"\"high_max\": 92", "\"high_max\": 101", NULL, NULL, "rules.desaturation.high_max",
     "out of range"},
    {"\"high_below\": 40", "\"high_below\": 101", NULL, NULL, "rules.heart_rate.high_below",
     "out of range"},
    {"\"high_above\": 131", "\"high_above\": 301", NULL, NULL, "rules.heart_rate.high_above",
     "out of range"},
    {"\"sys_low\": 90", "\"sys_low\": 151", NULL, NULL, "rules.blood_pressure.sys_low",
     "out of range"},
    {"\"sys_medium\": 160", "\"sys_medium\": 160, \"window_h\": 0", NULL, NULL,
     "rules.blood_pressure.window_h", "out of range"},
    {"\"sys_medium\": 160", "\"sys_medium\": 160, \"window_h\": 169", NULL, NULL,
     "rules.blood_pressure.window_h", "out of range"},
    {"\"high_grade\": 3", "\"high_grade\": 5", NULL, NULL, "rules.symptom.high_grade",
     "out of range"},
    {"\"medium_grade\": 2", "\"medium_grade\": 0", NULL, NULL, "rules.symptom.medium_grade",
     "out of range"},
    {"\"percent\": 5", "\"percent\": 0.4", NULL, NULL, "rules.weight_loss.percent", "out of range"},
    {"\"baseline_kg\": 68.5", "\"baseline_kg\": 700", NULL, NULL, "rules.weight_loss.baseline_kg",
     "out of range"},
    {"\"days\": 30", "\"days\": 366", NULL, NULL, "rules.weight_loss.days", "out of range"},
    {"\"grace_min\": 10", "\"grace_min\": 241", NULL, NULL, "rules.missed_dose.grace_min",
     "out of range"},
    {"\"periods\": 3", "\"periods\": 0", NULL, NULL, "rules.device_silent.periods", "out of range"},
    {CLEAR, "\"clear_after_min\": 30, \"drug_holiday\": {\"days\": 61},", NULL, NULL,
     "rules.drug_holiday.days", "out of range"},
    {CLEAR, "\"clear_after_min\": 30, \"clock_not_synced\": {\"after_min\": 1441},", NULL, NULL,
     "rules.clock_not_synced.after_min", "out of range"},
    /* cross-field checks */
    {FEVER, "\"fever\": {\"high\": 37.9}", NULL, NULL, "rules.fever.high",
     "must not be below sustained"},
    {FEVER, "\"fever\": {\"high\": 38.3, \"sustained\": 38.5}", NULL, NULL, "rules.fever.high",
     "must not be below sustained"},
    {FEVER, "\"fever\": {\"sustained\": 38.5}", NULL, NULL, "rules.fever.sustained",
     "must not be above high"},
    {CLEAR, "\"clear_after_min\": 30, \"fever_borderline\": {\"low\": 38.5},", NULL, NULL,
     "rules.fever_borderline.low", "must not be above rules.fever.high"},
    {CLEAR,
     "\"clear_after_min\": 30, \"fever_borderline\": {\"low\": 36.4}, \"hypothermia\": "
     "{\"low\": 36.5},",
     NULL, NULL, "rules.hypothermia.low", "must be below rules.fever_borderline.low"},
    {CLEAR,
     "\"clear_after_min\": 30, \"fever_borderline\": {\"low\": 36.5}, \"hypothermia\": "
     "{\"low\": 36.5},",
     NULL, NULL, "rules.hypothermia.low", "must be below"},
    {"\"medium_max\": 94", "\"medium_max\": 90", NULL, NULL, "rules.desaturation.medium_max",
     "must not be below high_max"},
    {"\"medium_above\": 111", "\"medium_above\": 140", NULL, NULL, "rules.heart_rate.medium_above",
     "must not be above high_above"},
    {HR, "\"heart_rate\": {\"high_below\": 100, \"medium_above\": 95}", NULL, NULL,
     "rules.heart_rate.high_below", "must be below medium_above"},
    {HR, "\"heart_rate\": {\"high_below\": 90, \"medium_above\": 90}", NULL, NULL,
     "rules.heart_rate.high_below", "must be below medium_above"},
    {"\"sys_low\": 90", "\"sys_low\": 140", NULL, NULL, "rules.blood_pressure.sys_low",
     "must be below sys_low_band"},
    {"\"sys_medium\": 160", "\"sys_medium\": 190", NULL, NULL, "rules.blood_pressure.sys_medium",
     "sys_medium <= sys_high"},
    {"\"sys_medium\": 160", "\"sys_medium\": 130", NULL, NULL, "rules.blood_pressure.sys_medium",
     "sys_low_band <= sys_medium"},
    {"\"dia_medium\": 100", "\"dia_medium\": 115", NULL, NULL, "rules.blood_pressure.dia_medium",
     "dia_medium <= dia_high"},
    {BP, "\"blood_pressure\": {\"dia_low_band\": 105}", NULL, NULL,
     "rules.blood_pressure.dia_medium", "dia_low_band <= dia_medium"},
    {"\"medium_grade\": 2", "\"medium_grade\": 4", NULL, NULL, "rules.symptom.medium_grade",
     "must not be above high_grade"},
    /* one threshold moved past another's default: the error names the default's field */
    {HR, "\"heart_rate\": {\"high_above\": 100}", NULL, NULL, "rules.heart_rate.medium_above",
     "must not be above high_above (100)"},
    {"\"desaturation\": {\"high_max\": 92, \"medium_max\": 94}",
     "\"desaturation\": {\"high_max\": 95}", NULL, NULL, "rules.desaturation.medium_max",
     "must not be below high_max (95)"},
    {"\"symptom\": {\"medium_grade\": 2, \"high_grade\": 3}", "\"symptom\": {\"high_grade\": 1}",
     NULL, NULL, "rules.symptom.medium_grade", "must not be above high_grade (1)"},
    {BP, "\"blood_pressure\": {\"sys_high\": 150}", NULL, NULL, "rules.blood_pressure.sys_medium",
     "sys_medium <= sys_high"},
    /* routes */
    {"\"sustained_min\": 60", "\"sustained_min\": 60, \"route\": {\"URGENT\": \"had\"}", NULL, NULL,
     "rules.fever.route.URGENT", "not a priority"},
    {"\"sustained_min\": 60", "\"sustained_min\": 60, \"route\": {\"high\": \"had\"}", NULL, NULL,
     "rules.fever.route.high", "not a priority"},
    {"\"sustained_min\": 60", "\"sustained_min\": 60, \"route\": {\"HIGH\": \"oncology\"}", NULL,
     NULL, "rules.fever.route.HIGH", "not a team of the plan"},
    {"\"periods\": 3", "\"periods\": 3, \"route\": {\"LOW\": \"it-support\"}", NULL, NULL,
     "rules.device_silent.route.LOW", "not a team of the plan"},
    {"\"sustained_min\": 60", "\"sustained_min\": 60, \"route\": {\"HIGH\": \"Had\"}", NULL, NULL,
     "rules.fever.route.HIGH", "must be a team name"},
    {"\"sustained_min\": 60", "\"sustained_min\": 60, \"route\": {\"HIGH\": 1}", NULL, NULL,
     "rules.fever.route.HIGH", "must be a team name"},
    {"\"sustained_min\": 60", "\"sustained_min\": 60, \"route\": \"had\"", NULL, NULL,
     "rules.fever.route", "must be an object"},
    /* teams and escalation */
    {TEAM_BACKUP, "\"had-backup\": {\"ack_within_min\": 15, \"escalate_to\": \"had\"}", NULL, NULL,
     "teams.had.escalate_to", "a loop"},
    {TEAM_HAD, "\"had\": {\"escalate_to\": \"had\"}", NULL, NULL, "teams.had.escalate_to",
     "not another team's name"},
    {TEAM_HAD, "\"had\": {\"escalate_to\": \"nobody\"}", NULL, NULL, "teams.had.escalate_to",
     "not a team of the plan"},
    {TEAM_HAD, "\"had\": {\"escalate_to\": \"Had-Backup\"}", NULL, NULL, "teams.had.escalate_to",
     "not another team's name"},
    {TEAM_HAD, "\"had\": {\"escalate_to\": 2}", NULL, NULL, "teams.had.escalate_to",
     "must be a string"},
    /* a loop that does not pass through the first team that escalates */
    {TEAM_COORD,
     "\"coordination\": {\"escalate_to\": \"ops-a\"}, \"ops-a\": {\"escalate_to\": \"ops-b\"}, "
     "\"ops-b\": {\"escalate_to\": \"coordination\"}",
     NULL, NULL, "teams.coordination.escalate_to", "a loop"},
    {TEAM_COORD,
     "\"coordination\": {\"ack_within_min\": 240}, \"ops-a\": {\"escalate_to\": \"ops-b\"}, "
     "\"ops-b\": {\"escalate_to\": \"ops-a\"}",
     NULL, NULL, "teams.ops-a.escalate_to", "a loop"},
    {TEAM_COORD, "\"Coordination\": {\"ack_within_min\": 240}", NULL, NULL, "teams.Coordination",
     "not a team name"},
    {TEAM_COORD, "\"coordination\": {\"ack_within_min\": 240, \"phone\": \"15\"}", NULL, NULL,
     "teams.coordination.phone", "unknown field"},
    {TEAM_COORD, "\"coordination\": 240", NULL, NULL, "teams.coordination", "must be an object"},
    {TEAM_COORD, "\"coordination\": {\"ack_within_min\": 0}", NULL, NULL,
     "teams.coordination.ack_within_min", "out of range"},
    {TEAM_COORD, "\"coordination\": {\"ack_within_min\": 10081}", NULL, NULL,
     "teams.coordination.ack_within_min", "out of range"},
    {TEAM_HAD, "\"had\": {\"call15_after_min\": 15}", NULL, NULL, "teams.had.call15_after_min",
     "must come after ack_within_min"},
    /* the default call 15 (30 min) is no later than the new delay */
    {TEAM_HAD, "\"had\": {\"ack_within_min\": 40}", NULL, NULL, "teams.had.call15_after_min",
     "must come after ack_within_min (40)"},
    {TEAM_HAD, "\"had\": {\"call15_after_min\": 10081}", NULL, NULL, "teams.had.call15_after_min",
     "out of range"},
    {TEAMS, "\"teams\": []\n", NULL, NULL, "teams", "must be an object"},
    {TEAMS, "\"teams\": {\"had\": {\"ack_within_min\": 15}}, \"teams\": {}\n", NULL, NULL, "(plan)",
     "duplicate"},
    /* the whole text */
    {"\"teams\": {", "\"comment\": \"x\", \"teams\": {", NULL, NULL, "comment", "unknown field"},
    {"\"version\": 3,", "\"version\": 3, \"version\": 4,", NULL, NULL, "(plan)", "duplicate"},
    {"\"percent\": 5,", "\"percent\": 5, \"percent\": 6,", NULL, NULL, "(plan)", "duplicate"},
    {"\"am\", \"time\": \"08:00\"", "\"am\", \"time\": \"08:00\", \"time\": \"08:30\"", NULL, NULL,
     "(plan)", "duplicate"},
    {"  }\n}\n", "  }\n}\n}\n", NULL, NULL, "(plan)", "not valid JSON"},
    {"  }\n}\n", "  }\n}\n{}", NULL, NULL, "(plan)", "not valid JSON"},
    {"  }\n}\n", "  }\n}\nx", NULL, NULL, "(plan)", "not valid JSON"},
    {"  }\n}\n", "  }\n", NULL, NULL, "(plan)", "not valid JSON"},
    {"\"version\": 3,", "\"version\": 3", NULL, NULL, "(plan)", "not valid JSON"},
    {"\"version\": 3,", "'version': 3,", NULL, NULL, "(plan)", "not valid JSON"},
    {"\"version\": 3,", "\"version\": 3, /* v3 */", NULL, NULL, "(plan)", "not valid JSON"},
    {"\"p-0042\"", "\"p-00\\u000042\"", NULL, NULL, "(plan)", "not valid JSON"},
    {"\"high\": 38.3", "\"high\": NaN", NULL, NULL, "(plan)", "not valid JSON"},
    {"\"dose_mg\": 2000", "\"dose_mg\": 1e999", NULL, NULL, "(plan)", "not valid JSON"},
    {"\"version\": 3,", "\"version\": 99999999999999999999,", NULL, NULL, "(plan)",
     "not valid JSON"},
};

static void test_bad_plans(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const struct bad_case *c = &bad_cases[i];
        char what[64];
        char *t1 = mutate(base_plan, c->old, c->new_text);
        char *t2 = c->old2 ? mutate(t1, c->old2, c->new_text2) : NULL;
        snprintf(what, sizeof what, "bad_cases[%zu]", i);
        expect_bad(t2 ? t2 : t1, c->path, c->why, what);
        free_texts();
    }
}

/* Invalid plans that are not small edits: whole texts and limits. */
static void test_bad_whole_texts(void **state)
{
    (void)state;
    expect_bad("", "(plan)", "not valid JSON", "empty");
    expect_bad("   \n", "(plan)", "not valid JSON", "blank");
    expect_bad("[]", "(plan)", "must be a JSON object", "array");
    expect_bad("[{\"version\": 1}]", "(plan)", "must be a JSON object", "array of a plan");
    expect_bad("\"plan\"", "(plan)", NULL, "string");
    expect_bad("null", "(plan)", NULL, "null");
    expect_bad("{}", "version", "required", "empty object");
    expect_bad("{\"version\": 1}", "patient", "required", "version only");
    expect_bad("\xef\xbb\xbf{}", "(plan)", "not valid JSON", "BOM");
    expect_bad("{\"version\": 1, \"patient\": \"p-\xff\"}", "(plan)", "not valid JSON",
               "not UTF-8");

    /* a NUL inside the text: the length, not the NUL, ends the text */
    size_t n = strlen(base_plan);
    char *t = keep(malloc(n + 1));
    memcpy(t, base_plan, n + 1);
    t[n - 2] = '\0'; /* the last '}' */
    expect_bad_len(t, n, "(plan)", "not valid JSON", "NUL byte");
    expect_bad_len(base_plan, n - 3, "(plan)", "not valid JSON", "cut short");

    /* larger than 64 KiB: refused before parsing, even if it is only spaces */
    t = keep(malloc(RELAIS_CAREPLAN_MAX_BYTES + 2));
    memset(t, ' ', RELAIS_CAREPLAN_MAX_BYTES + 1);
    memcpy(t, base_plan, n);
    t[RELAIS_CAREPLAN_MAX_BYTES + 1] = '\0';
    expect_bad_len(t, RELAIS_CAREPLAN_MAX_BYTES + 1, "(plan)", "larger than 65536", "over 64 KiB");
    /* exactly 64 KiB is fine */
    struct relais_careplan plan;
    parse_ok(&plan, t, RELAIS_CAREPLAN_MAX_BYTES, "64 KiB of plan and spaces");
}

/* Limits on the number of devices, slots and teams. */
static void test_bad_counts(void **state)
{
    (void)state;
    char list[4096];
    size_t off = 0;

    /* 17 devices */
    for (int i = 0; i <= RELAIS_CAREPLAN_MAX_DEVICES; i++)
        off += (size_t)snprintf(list + off, sizeof list - off,
                                "%s{\"id\": \"dev-%d\", \"kind\": \"vitals\", \"period_s\": 600}",
                                i ? ", " : "", i);
    char *ok_list = keep(strdup(list));
    *strrchr(ok_list, '{') = '\0';
    ok_list[strlen(ok_list) - 2] = '\0'; /* the 16 first */
    char *t = mutate(base_plan, DEV_PB ",\n    " DEV_VS, list);
    expect_bad(t, "devices", "at most 16 devices", "17 devices");
    t = mutate(base_plan, DEV_PB ",\n    " DEV_VS, ok_list);
    struct relais_careplan plan;
    parse_ok(&plan, t, strlen(t), "16 devices");
    assert_int_equal(plan.ndevices, 16);
    assert_string_equal(plan.devices[15].id, "dev-15");

    /* 9 slots, every two hours, 60 min windows */
    off = 0;
    for (int i = 0; i <= RELAIS_CAREPLAN_MAX_SLOTS; i++)
        off += (size_t)snprintf(list + off, sizeof list - off,
                                "%s{\"id\": \"s%d\", \"time\": \"%02d:00\", \"window_min\": 60}",
                                i ? ", " : "", i, 2 * i);
    t = mutate(base_plan, SLOT_AM ",\n      " SLOT_PM, list);
    expect_bad(t, "regimen.slots", "at most 8 slots", "9 slots");
    *strrchr(list, '{') = '\0';
    list[strlen(list) - 2] = '\0';
    t = mutate(base_plan, SLOT_AM ",\n      " SLOT_PM, list);
    parse_ok(&plan, t, strlen(t), "8 slots");
    assert_int_equal(plan.nslots, 8);
    assert_int_equal(plan.slots[7].minute, 14 * 60);

    /* 3 teams of the pathway + 5 new ones is the limit */
    off = 0;
    for (int i = 1; i <= 6; i++)
        off += (size_t)snprintf(list + off, sizeof list - off,
                                ", \"team-%d\": {\"ack_within_min\": %d}", i, 60 + i);
    t = mutate(base_plan, TEAM_COORD, list + 2);
    expect_bad(t, "teams.team-6", "at most 8 teams", "9 teams");
    *strrchr(list, ',') = '\0';
    t = mutate(base_plan, TEAM_COORD, list + 2);
    parse_ok(&plan, t, strlen(t), "8 teams");
    assert_int_equal(plan.nteams, 8);
    expect_team(&plan, "team-5", 65, "", 0);
    expect_team(&plan, "coordination", 240, "", 0);
}

/* Valid edge values next to the invalid ones above (so the bad cases fail
 * for the reason they name). */
static void test_edges_accepted(void **state)
{
    (void)state;
    static const struct {
        const char *old, *new_text;
    } ok[] = {
        {"\"version\": 3,", "\"version\": 9007199254740992,"},
        {"\"p-0042\"", "\"P.0042_x-ABCDEFGHIJKLMNOPQRSTUVW\""}, /* 32 */
        {"\"Europe/Paris\"", "\"UTC\""},
        {"\"Europe/Paris\"", "\"America/Sao_Paulo\""},
        {"\"Europe/Paris\"", "\"Etc/GMT+12\""},
        {"\"Europe/Paris\"", "\"America/Argentina/Buenos_Aires\""},
        {"\"pillbox-1\"", "\"pillbox-0123456789-0123456789-01\""}, /* 32 */
        {"\"period_s\": 3600", "\"period_s\": 60"},
        {"\"period_s\": 3600", "\"period_s\": 604800"},
        {"\"dose_mg\": 2000", "\"dose_mg\": 0.001"},
        {"\"capecitabine\"",
         "\"capecitabine-capecitabine-capecitabine-capecitabine-capecitabine\""},
        {"\"2026-11-23\"", "\"2028-02-29\""},
        {"\"2026-11-23\"", "\"2000-02-29\""},
        {"\"2026-11-23\"", "\"2200-12-31\""},
        {"\"cycle_days\": 21", "\"cycle_days\": 365"},
        {"\"cycles\": 8", "\"cycles\": 0"},
        {"[[1, 14]]", "[[1, 1], [3, 5], [21, 21]]"},
        {"\"20:00\"", "\"23:59\""},
        {"\"id\": \"am\"", "\"id\": \"morning_dose-080\""}, /* 16 */
        /* windows that touch: 08:00 +/- 360 and 20:00 +/- 360 */
        {SLOTS, "\"slots\": [{\"id\": \"am\", \"time\": \"08:00\", \"window_min\": 720}, "
                "{\"id\": \"pm\", \"time\": \"20:00\", \"window_min\": 720}]"},
        {"\"high\": 38.3", "\"high\": 38.0"}, /* == sustained */
        {"\"medium_max\": 94", "\"medium_max\": 92"},
        {"\"medium_above\": 111", "\"medium_above\": 131"},
        {"\"medium_grade\": 2", "\"medium_grade\": 3"},
        {"\"sys_low\": 90", "\"sys_low\": 139"},
        {"\"clear_after_min\": 30", "\"clear_after_min\": 0"},
        {TEAM_HAD, "\"had\": {\"call15_after_min\": 0, \"ack_within_min\": 40}"},
        {TEAM_HAD, "\"had\": {\"escalate_to\": \"\"}"},
        {TEAM_COORD, "\"coordination\": {\"escalate_to\": \"had\"}"}, /* a chain, no loop */
        {"\"sustained_min\": 60", "\"sustained_min\": 60, \"route\": {}"},
        {"  }\n}\n", "  }\n}\n\n \t\r\n"},
    };
    struct relais_careplan plan;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char what[48];
        char *t = mutate(base_plan, ok[i].old, ok[i].new_text);
        snprintf(what, sizeof what, "ok[%zu]", i);
        parse_ok(&plan, t, strlen(t), what);
        free_texts();
    }
}

/* ---- defaults and pathway profiles ---- */

/* A plan with no rules and no teams, of the given pathway. */
static void parse_pathway(struct relais_careplan *plan, const char *pathway)
{
    char repl[64];
    snprintf(repl, sizeof repl, "\"pathway\": \"%s\",", pathway);
    char *t1 = mutate(base_plan, "\"pathway\": \"standard\",", repl);
    char *t2 = mutate(t1, RULES, "");
    char *t3 = mutate(t2, TEAMS, "\"teams\": {}\n");
    parse_ok(plan, t3, strlen(t3), pathway);
}

static const char *route_of(const struct relais_careplan *plan, enum relais_rule r,
                            enum relais_priority p)
{
    return relais_careplan_team_for(plan, r, p);
}

static void test_pathway_profiles(void **state)
{
    (void)state;
    struct relais_careplan plan;

    parse_pathway(&plan, "standard");
    assert_int_equal(plan.pathway, RELAIS_PATHWAY_STANDARD);
    assert_int_equal(plan.nteams, 3);
    expect_team(&plan, "had", 15, "had-backup", 30);
    expect_team(&plan, "had-backup", 15, "", 0);
    expect_team(&plan, "coordination", 240, "", 0);
    for (int r = 0; r < RELAIS_RULE_COUNT; r++) {
        assert_string_equal(route_of(&plan, (enum relais_rule)r, RELAIS_PRIO_HIGH), "had");
        assert_string_equal(route_of(&plan, (enum relais_rule)r, RELAIS_PRIO_MEDIUM),
                            "coordination");
        assert_string_equal(route_of(&plan, (enum relais_rule)r, RELAIS_PRIO_LOW), "coordination");
        assert_true(plan.rules.enabled[r]);
    }
    /* DESIGN 6's thresholds */
    assert_num(plan.rules.fever_high, 38.3);
    assert_num(plan.rules.spo2_high_max, 92);
    assert_num(plan.rules.hr_high_below, 40);
    assert_num(plan.rules.bp_sys_high, 180);
    assert_int_equal(plan.rules.fever_sustained_min, 60);
    assert_int_equal(plan.rules.clear_after_min, 30);
    assert_int_equal(plan.rules.drug_holiday_days, 3);
    assert_int_equal(plan.rules.silent_periods, 3);
    assert_int_equal(plan.rules.clock_unsynced_min, 60);

    parse_pathway(&plan, "rare");
    assert_int_equal(plan.pathway, RELAIS_PATHWAY_RARE);
    expect_team(&plan, "had", 10, "had-backup", 25);
    expect_team(&plan, "had-backup", 10, "", 0);
    expect_team(&plan, "coordination", 120, "", 0);
    assert_string_equal(route_of(&plan, RELAIS_RULE_SYMPTOM, RELAIS_PRIO_MEDIUM), "coordination");

    parse_pathway(&plan, "non-standard");
    assert_int_equal(plan.pathway, RELAIS_PATHWAY_NON_STANDARD);
    expect_team(&plan, "had", 15, "had-backup", 30);
    expect_team(&plan, "had-backup", 15, "", 0);
    expect_team(&plan, "coordination", 240, "", 0);
    for (int r = RELAIS_RULE_FEVER; r <= RELAIS_RULE_SYMPTOM; r++)
        assert_string_equal(route_of(&plan, (enum relais_rule)r, RELAIS_PRIO_MEDIUM), "had");
    for (int r = RELAIS_RULE_MISSED_DOSE; r < RELAIS_RULE_COUNT; r++)
        assert_string_equal(route_of(&plan, (enum relais_rule)r, RELAIS_PRIO_MEDIUM),
                            "coordination");
    assert_string_equal(route_of(&plan, RELAIS_RULE_WEIGHT_LOSS, RELAIS_PRIO_LOW), "coordination");

    parse_pathway(&plan, "advanced");
    assert_int_equal(plan.pathway, RELAIS_PATHWAY_ADVANCED);
    expect_team(&plan, "had", 10, "had-backup", 20);
    expect_team(&plan, "had-backup", 10, "", 0);
    expect_team(&plan, "coordination", 240, "", 0);
    assert_string_equal(route_of(&plan, RELAIS_RULE_SYMPTOM, RELAIS_PRIO_MEDIUM), "had");
    assert_string_equal(route_of(&plan, RELAIS_RULE_DESATURATION, RELAIS_PRIO_MEDIUM), "had");
    assert_string_equal(route_of(&plan, RELAIS_RULE_FEVER_BORDERLINE, RELAIS_PRIO_MEDIUM),
                        "coordination");
    assert_string_equal(route_of(&plan, RELAIS_RULE_HEART_RATE, RELAIS_PRIO_MEDIUM),
                        "coordination");
    assert_string_equal(route_of(&plan, RELAIS_RULE_SYMPTOM, RELAIS_PRIO_LOW), "coordination");
    assert_string_equal(route_of(&plan, RELAIS_RULE_DESATURATION, RELAIS_PRIO_HIGH), "had");
}

/* The plan's "teams" and "route" change the profile's values. */
static void test_overrides(void **state)
{
    (void)state;
    struct relais_careplan plan;

    /* an existing team keeps the fields left out; a new team starts with
     * ack 60, no escalation, no call 15 */
    char *t1 = mutate(base_plan, TEAM_HAD, "\"had\": {\"ack_within_min\": 5}");
    char *t2 = mutate(t1, TEAM_COORD,
                      "\"coordination\": {\"escalate_to\": \"night-desk\"}, \"night-desk\": {}");
    char *t3 = mutate(t2, "\"periods\": 3", "\"periods\": 3, \"route\": {\"LOW\": \"night-desk\"}");
    char *t4 = mutate(t3, "\"pathway\": \"standard\"", "\"pathway\": \"rare\"");
    parse_ok(&plan, t4, strlen(t4), "overrides");
    expect_team(&plan, "had", 5, "had-backup", 25); /* rare's escalation and call 15 */
    expect_team(&plan, "had-backup", 15, "", 0);    /* the plan's 15 over rare's 10 */
    expect_team(&plan, "coordination", 120, "night-desk", 0);
    expect_team(&plan, "night-desk", 60, "", 0);
    assert_int_equal(plan.nteams, 4);
    assert_string_equal(route_of(&plan, RELAIS_RULE_DEVICE_SILENT, RELAIS_PRIO_LOW), "night-desk");
    assert_string_equal(route_of(&plan, RELAIS_RULE_DEVICE_SILENT, RELAIS_PRIO_HIGH), "had");
    assert_string_equal(route_of(&plan, RELAIS_RULE_SEQ_RESET, RELAIS_PRIO_LOW), "coordination");
    assert_null(relais_careplan_team(&plan, "nobody"));
    assert_null(relais_careplan_team(&plan, ""));

    /* thresholds and "enabled" */
    t1 = mutate(base_plan, FEVER, "\"fever\": {\"high\": 39.0, \"enabled\": false}");
    t2 = mutate(t1, HR, "\"heart_rate\": {\"high_below\": 45}");
    parse_ok(&plan, t2, strlen(t2), "thresholds");
    assert_false(plan.rules.enabled[RELAIS_RULE_FEVER]);
    assert_true(plan.rules.enabled[RELAIS_RULE_FEVER_BORDERLINE]);
    assert_num(plan.rules.fever_high, 39.0);
    assert_num(plan.rules.fever_sustained, 38.0);
    assert_num(plan.rules.hr_high_below, 45);
    assert_num(plan.rules.hr_high_above, 131);
}

static void test_defaults(void **state)
{
    (void)state;
    struct relais_careplan plan;
    memset(&plan, 0x5a, sizeof plan);
    relais_careplan_defaults(&plan);
    assert_string_equal(plan.patient, "unbound");
    assert_string_equal(plan.timezone, "UTC");
    assert_int_equal(plan.pathway, RELAIS_PATHWAY_STANDARD);
    assert_int_equal(plan.version, 0);
    assert_int_equal(plan.ndevices, 0);
    assert_int_equal(plan.nslots, 0);
    assert_int_equal(plan.ndays_on, 0);
    assert_int_equal(plan.cycle_days, 0);
    assert_int_equal(plan.nteams, 3);
    expect_team(&plan, "had", 15, "had-backup", 30);
    expect_team(&plan, "had-backup", 15, "", 0);
    expect_team(&plan, "coordination", 240, "", 0);
    assert_string_equal(route_of(&plan, RELAIS_RULE_UNBOUND_DEVICE, RELAIS_PRIO_LOW),
                        "coordination");
    assert_string_equal(route_of(&plan, RELAIS_RULE_FEVER, RELAIS_PRIO_HIGH), "had");
    assert_num(plan.rules.fever_high, 38.3);
    assert_num(plan.rules.weight_loss_percent, 5);
    assert_int_equal(plan.rules.weight_loss_days, 30);
    assert_int_equal(plan.rules.symptom_medium_grade, 2);
    assert_int_equal(plan.rules.missed_grace_min, 10);
    assert_null(relais_careplan_device(&plan, "pillbox-1"));
    /* no regimen: no treatment day, ever */
    uint32_t cycle = 99, day = 99;
    int32_t today = relais_tz_days_from_civil(2026, 11, 23);
    assert_false(relais_careplan_cycle_day(&plan, today, &cycle, &day));
    assert_false(relais_careplan_on_day(&plan, today));
    assert_false(relais_careplan_on_day(&plan, 0));
    assert_int_equal(cycle, 99);
    assert_int_equal(day, 99);
}

static void test_names(void **state)
{
    (void)state;
    for (int r = 0; r < RELAIS_RULE_COUNT; r++)
        assert_int_equal(relais_rule_from_name(relais_rule_name((enum relais_rule)r)), r);
    assert_string_equal(relais_rule_name(RELAIS_RULE_FEVER), "fever");
    assert_string_equal(relais_rule_name(RELAIS_RULE_UNBOUND_DEVICE), "unbound_device");
    assert_string_equal(relais_rule_name(RELAIS_RULE_COUNT), "?");
    assert_int_equal(relais_rule_from_name("Fever"), -1);
    assert_int_equal(relais_rule_from_name(""), -1);
    assert_int_equal(relais_rule_from_name("clear_after_min"), -1);
    assert_string_equal(relais_priority_name(RELAIS_PRIO_LOW), "LOW");
    assert_string_equal(relais_priority_name(RELAIS_PRIO_MEDIUM), "MEDIUM");
    assert_string_equal(relais_priority_name(RELAIS_PRIO_HIGH), "HIGH");
    assert_string_equal(relais_pathway_name(RELAIS_PATHWAY_STANDARD), "standard");
    assert_string_equal(relais_pathway_name(RELAIS_PATHWAY_RARE), "rare");
    assert_string_equal(relais_pathway_name(RELAIS_PATHWAY_NON_STANDARD), "non-standard");
    assert_string_equal(relais_pathway_name(RELAIS_PATHWAY_ADVANCED), "advanced");
}

/* ---- the cycle calendar ---- */

/* The plan's cycle_day()/on_day() against the expected cycle/day, over
 * `days` days from the start. */
static void expect_calendar(const struct relais_careplan *plan, uint32_t cycle_days,
                            uint32_t on_last, uint32_t cycles, int32_t days)
{
    for (int32_t i = 0; i < days; i++) {
        uint32_t cycle = 0, day = 0;
        int32_t d = plan->start_days + i;
        uint32_t want_cycle = (uint32_t)i / cycle_days + 1;
        uint32_t want_day = (uint32_t)i % cycle_days + 1;
        bool in_plan = cycles == 0 || want_cycle <= cycles;
        bool got = relais_careplan_cycle_day(plan, d, &cycle, &day);
        if (got != in_plan) fail_msg("day %d of the plan: cycle_day %d", i, got);
        if (got && (cycle != want_cycle || day != want_day))
            fail_msg("day %d of the plan: cycle %u day %u, expected %u/%u", i, cycle, day,
                     want_cycle, want_day);
        bool on = relais_careplan_on_day(plan, d);
        if (on != (in_plan && want_day <= on_last))
            fail_msg("day %d of the plan (C%uD%u): on_day %d", i, want_cycle, want_day, on);
    }
}

static void test_capecitabine_calendar(void **state)
{
    (void)state;
    struct relais_careplan plan;
    uint32_t cycle, day;
    parse_file(&plan, "docs/careplans/capecitabine.json");
    int32_t start = relais_tz_days_from_civil(2026, 11, 23);
    assert_int_equal(plan.start_days, start);

    /* before the start: nothing */
    for (int32_t d = start - 60; d < start; d++) {
        assert_false(relais_careplan_cycle_day(&plan, d, &cycle, &day));
        assert_false(relais_careplan_on_day(&plan, d));
    }
    assert_false(relais_careplan_on_day(&plan, 0));
    assert_false(relais_careplan_on_day(&plan, -1));
    assert_false(relais_careplan_on_day(&plan, INT32_MIN));

    /* 8 cycles of 14 days on, 7 off, then nothing */
    expect_calendar(&plan, 21, 14, 8, 8 * 21 + 42);
    assert_true(relais_careplan_cycle_day(&plan, start + 13, &cycle, &day));
    assert_int_equal(cycle, 1);
    assert_int_equal(day, 14);
    assert_true(relais_careplan_on_day(&plan, start + 13));
    assert_false(relais_careplan_on_day(&plan, start + 14)); /* day 15: rest */
    assert_false(relais_careplan_on_day(&plan, start + 20)); /* day 21: rest */
    assert_true(relais_careplan_on_day(&plan, start + 21));  /* cycle 2 day 1 */
    assert_true(relais_careplan_cycle_day(&plan, start + 8 * 21 - 1, &cycle, &day));
    assert_int_equal(cycle, 8);
    assert_int_equal(day, 21);
    assert_false(relais_careplan_cycle_day(&plan, start + 8 * 21, &cycle, &day));
    assert_false(relais_careplan_on_day(&plan, start + 8 * 21));
    assert_false(relais_careplan_on_day(&plan, INT32_MAX));
    /* the new year falls in cycle 2 (2026-11-23 + 21 = 2026-12-14) */
    assert_true(
        relais_careplan_cycle_day(&plan, relais_tz_days_from_civil(2027, 1, 1), &cycle, &day));
    assert_int_equal(cycle, 2);
    assert_int_equal(day, 19);
    assert_false(relais_careplan_on_day(&plan, relais_tz_days_from_civil(2027, 1, 1)));
}

static void test_sunitinib_calendar(void **state)
{
    (void)state;
    struct relais_careplan plan;
    uint32_t cycle, day;
    parse_file(&plan, "docs/careplans/sunitinib.json");
    int32_t start = plan.start_days;

    assert_false(relais_careplan_cycle_day(&plan, start - 1, &cycle, &day));
    /* 28 days on, 14 off, cycles until a new plan */
    expect_calendar(&plan, 42, 28, 0, 12 * 42);
    assert_true(relais_careplan_on_day(&plan, start + 27));
    assert_false(relais_careplan_on_day(&plan, start + 28));
    assert_false(relais_careplan_on_day(&plan, start + 41));
    assert_true(relais_careplan_on_day(&plan, start + 42));
    /* far on: cycle 1001 */
    assert_true(relais_careplan_cycle_day(&plan, start + 1000 * 42 + 5, &cycle, &day));
    assert_int_equal(cycle, 1001);
    assert_int_equal(day, 6);
    assert_true(relais_careplan_cycle_day(&plan, INT32_MAX, &cycle, &day));
    assert_true(day >= 1 && day <= 42);
}

/* Several ranges in a cycle, and a one-day cycle. */
static void test_ranges_calendar(void **state)
{
    (void)state;
    struct relais_careplan plan;
    char *t1 = mutate(base_plan, "[[1, 14]]", "[[1, 5], [8, 12], [21, 21]]");
    char *t2 = mutate(t1, "\"cycles\": 8", "\"cycles\": 2");
    parse_ok(&plan, t2, strlen(t2), "ranges");
    static const bool on[21] = {1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    for (int32_t i = 0; i < 42; i++)
        if (relais_careplan_on_day(&plan, plan.start_days + i) != on[i % 21])
            fail_msg("day %d: on_day is %d", i % 21 + 1, !on[i % 21]);
    assert_false(relais_careplan_on_day(&plan, plan.start_days + 42));

    t1 = mutate(base_plan, "\"cycle_days\": 21", "\"cycle_days\": 1");
    t2 = mutate(t1, "[[1, 14]]", "[[1, 1]]");
    char *t3 = mutate(t2, "\"cycles\": 8", "\"cycles\": 3");
    parse_ok(&plan, t3, strlen(t3), "daily");
    expect_calendar(&plan, 1, 1, 3, 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_examples_parse, teardown),
        cmocka_unit_test_teardown(test_examples_details, teardown),
        cmocka_unit_test_teardown(test_every_docs_example_parses, teardown),
        cmocka_unit_test_teardown(test_base_plan, teardown),
        cmocka_unit_test_teardown(test_bad_plans, teardown),
        cmocka_unit_test_teardown(test_bad_whole_texts, teardown),
        cmocka_unit_test_teardown(test_bad_counts, teardown),
        cmocka_unit_test_teardown(test_edges_accepted, teardown),
        cmocka_unit_test_teardown(test_pathway_profiles, teardown),
        cmocka_unit_test_teardown(test_overrides, teardown),
        cmocka_unit_test_teardown(test_defaults, teardown),
        cmocka_unit_test_teardown(test_names, teardown),
        cmocka_unit_test_teardown(test_capecitabine_calendar, teardown),
        cmocka_unit_test_teardown(test_sunitinib_calendar, teardown),
        cmocka_unit_test_teardown(test_ranges_calendar, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
