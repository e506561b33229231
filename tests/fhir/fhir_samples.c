/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fhir_samples DIR: renders representative FHIR documents with relais's own
 * renderer (edge/src/fhir.c) into DIR, one JSON file each, for
 * tests/fhir/validate.sh to check with an independent R4 validator:
 * transaction Bundles with every metric (BP panel, symptom, unknown metrics,
 * every SenML value kind, receive-time records), doses, a missed dose,
 * device entries, an unbound patient, and alert message Bundles for each
 * priority and each event, with reading and with other evidence.
 * Exit 0, or 1 when something could not be rendered or written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relais/careplan.h"
#include "relais/error.h"
#include "relais/fhir.h"

#define T0    1795334400.0 /* 2026-11-22T08:00:00Z */
#define T0_MS 1795334400000LL

static const char *dir;
static int failures;

static void write_doc(const char *name, json_t *doc)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.json", dir, name);
    char *text = doc ? relais_fhir_dumps(doc) : NULL;
    FILE *f = text ? fopen(path, "w") : NULL;
    if (!f || fputs(text, f) < 0 || fputc('\n', f) < 0) {
        fprintf(stderr, "fhir_samples: %s: cannot render or write\n", name);
        failures++;
    }
    if (f && fclose(f)) failures++;
    free(text);
    json_decref(doc);
}

static struct relais_stored_reading rec(int idx, const char *metric, const char *unit, double v)
{
    struct relais_stored_reading r = {
        .device = "vitals-1",
        .seq = 42,
        .idx = idx,
        .metric = metric,
        .unit = unit,
        .kind = RELAIS_READING_NUMBER,
        .value = v,
        .time = T0 + idx,
        .time_source = RELAIS_TIME_DEVICE,
        .received_ms = T0_MS + 60000,
    };
    return r;
}

static void add(json_t *entries, const char *patient, const struct relais_stored_reading *recs,
                size_t n, int lane)
{
    struct relais_stored_pack p = {
        .id = 1,
        .device = "vitals-1",
        .seq = 42,
        .received_ms = T0_MS + 60000,
        .records = (int)n,
        .flags = RELAIS_PACK_FLAG_SIGNED, /* verified: its doses are MedicationAdministrations */
    };
    if (relais_fhir_pack_entries(entries, "gw-1", patient, &p, recs, n, lane) < 0) {
        fprintf(stderr, "fhir_samples: pack_entries failed (lane %s)\n", relais_lane_name(lane));
        failures++;
    }
}

static void transactions(void)
{
    struct relais_stored_reading r[20];
    size_t n = 0;
    r[n] = rec((int)n, "temp", "Cel", 37.2), n++;
    r[n] = rec((int)n, "spo2", "%", 97), n++;
    r[n] = rec((int)n, "hr", "beat/min", 72), n++;
    r[n] = rec((int)n, "bp_sys", "mmHg", 128), n++;
    r[n] = rec((int)n, "bp_dia", "mmHg", 82), n++;
    r[n - 1].time = r[n - 2].time;                  /* one panel */
    r[n] = rec((int)n, "bp_sys", "mmHg", 131), n++; /* a lone component */
    r[n] = rec((int)n, "weight", "kg", 71.5), n++;
    r[n] = rec((int)n, "resp", "1/min", 16), n++;
    r[n] = rec((int)n, "steps", "count", 4200), n++;
    r[n] = rec((int)n, "pro_diarrhoea", "", 2), n++;
    r[n] = rec((int)n, "co2", "ppm", 412), n++;
    r[n] = rec((int)n, "glucose", "mmol/L", 5.4), n++;
    r[n] = rec((int)n, "mood", "", 0), r[n].kind = RELAIS_READING_STRING, r[n].str = "fine", n++;
    r[n] = rec((int)n, "fall", "", 0), r[n].kind = RELAIS_READING_BOOL, r[n].boolean = true, n++;
    static const uint8_t blob[3] = {1, 2, 3};
    r[n] = rec((int)n, "ecg", "", 0), r[n].kind = RELAIS_READING_DATA, r[n].data = blob,
    r[n].len = 3, n++;
    r[n] = rec((int)n, "energy", "J", 0), r[n].kind = RELAIS_READING_SUM_ONLY, r[n].has_sum = true,
    r[n].sum = 1200, n++;
    r[n] = rec((int)n, "temp", "Cel", 36.8), r[n].time_source = RELAIS_TIME_GATEWAY, n++;
    r[n] = rec((int)n, "dose", "", 0), r[n].kind = RELAIS_READING_STRING, r[n].str = "am", n++;
    r[n] = rec((int)n, "battery", "%EL", 81), n++;
    r[n] = rec((int)n, "lid", "", 0), r[n].kind = RELAIS_READING_BOOL, n++;

    json_t *e = json_array();
    for (int lane = 0; lane < RELAIS_LANE_COUNT; lane++)
        add(e, "p-7f3a", r, n, lane);
    if (relais_fhir_missed_dose_entry(e, "gw-1", "p-7f3a", "2026-11-22T20:00/pm", "capecitabine",
                                      T0_MS + 12 * 3600000LL) != 1 ||
        relais_fhir_device_entry(e, "gw-1", "pillbox-1", "pillbox", "p-7f3a", true, 76, T0_MS) !=
            1 ||
        relais_fhir_device_entry(e, "gw-1", "vitals-1", NULL, NULL, false, 0, 0) != 1)
        failures++;
    write_doc("tx-every-metric", relais_fhir_transaction(e));

    /* per lane, as the forwarder sends them */
    for (int lane = 0; lane < RELAIS_LANE_COUNT; lane++) {
        char name[64];
        e = json_array();
        add(e, "p-7f3a", r, n, lane);
        snprintf(name, sizeof name, "tx-lane-%s", relais_lane_name(lane));
        write_doc(name, relais_fhir_transaction(e));
    }

    /* an unbound device */
    e = json_array();
    add(e, NULL, r, n, RELAIS_LANE_VITALS);
    add(e, "", r, n, RELAIS_LANE_ADHERENCE);
    if (relais_fhir_missed_dose_entry(e, "gw-1", NULL, "2026-11-22T08:00/am", NULL, T0_MS) != 1)
        failures++;
    write_doc("tx-unbound", relais_fhir_transaction(e));

    e = json_array();
    if (relais_fhir_missed_dose_entry(e, "gw-1", "p-7f3a", "2026-11-22T08:00/am", NULL, T0_MS) != 1)
        failures++;
    write_doc("tx-missed-dose", relais_fhir_transaction(e));
}

static void alerts(void)
{
    static const char *const events[] = {"raised",       "upgraded", "renotified",
                                         "escalated",    "call15",   "again",
                                         "acknowledged", "resolved", "cleared"};
    static const char *const evidence[] = {
        /* one reading */
        "{\"reading\":{\"device\":\"vitals-1\",\"metric\":\"temp\",\"value\":38.6,"
        "\"t_ms\":1795334400000},\"why\":\"temp 38.6 >= 38.3\",\"count\":1}",
        /* several readings, BP and an unknown metric */
        "{\"reading\":[{\"device\":\"vitals-1\",\"metric\":\"bp_sys\",\"value\":185,"
        "\"t_ms\":1795334400000},{\"device\":\"vitals-1\",\"metric\":\"bp_dia\",\"value\":112,"
        "\"t_ms\":1795334400000},{\"device\":\"vitals-1\",\"metric\":\"co2\",\"value\":900,"
        "\"t_ms\":1795334401000},{\"device\":\"vitals-1\",\"metric\":\"pro_nausea\",\"value\":3,"
        "\"t_ms\":1795334402000}],\"why\":\"BP 185/112\",\"count\":2}",
        /* other evidence (engine.c's missed dose, symptom grades, silent devices) */
        "{\"slot\":\"2026-11-22T08:00/am\",\"window_start_ms\":1795327200000,"
        "\"why\":\"no dose in slot am\",\"count\":1}",
        "{\"device\":\"vitals-1\",\"t_ms\":1795334400000,\"grades\":{\"diarrhoea\":3},"
        "\"fever_within_24h\":false,\"why\":\"diarrhoea grade 3\"}",
        "{\"truncated\":true}",
    };
    static const int prios[] = {RELAIS_PRIO_HIGH, RELAIS_PRIO_MEDIUM, RELAIS_PRIO_LOW};
    int64_t id = 1;
    for (size_t p = 0; p < 3; p++)
        for (size_t k = 0; k < sizeof events / sizeof events[0]; k++) {
            struct relais_alert a;
            memset(&a, 0, sizeof a);
            snprintf(a.id, sizeof a.id, "gw-1-%zu", p + 1);
            snprintf(a.patient, sizeof a.patient, "%s", p == 2 ? "unbound" : "p-7f3a");
            snprintf(a.rule, sizeof a.rule, "%s", p == 0 ? "fever" : "blood_pressure");
            a.priority = prios[p];
            snprintf(a.team, sizeof a.team, "%s", p == 0 ? "had" : "coordination");
            snprintf(a.state, sizeof a.state, "raised");
            a.open = true;
            a.raised_ms = T0_MS;
            a.since_ms = T0_MS;
            const char *evt = evidence[(p + k) % (sizeof evidence / sizeof evidence[0])];
            snprintf(a.evidence, sizeof a.evidence, "%s", evt);
            struct relais_alert_event ev = {
                .id = id++,
                .alert = a.id,
                .at_ms = T0_MS + (int64_t)k * 60000,
                .event = events[k],
                .team = k == 3 ? "had-backup" : a.team,
                .priority = a.priority,
                .by = !strcmp(events[k], "acknowledged") ? "dr-martin" : NULL,
                .detail = k % 2 ? "a detail" : NULL,
                .notify = true,
            };
            char name[64];
            snprintf(name, sizeof name, "alert-%s-%s",
                     relais_priority_name((enum relais_priority)a.priority), events[k]);
            write_doc(name, relais_fhir_alert_message("gw-1", &a, &ev));
        }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fhir_samples DIR\n");
        return 2;
    }
    dir = argv[1];
    transactions();
    alerts();
    return failures ? 1 : 0;
}
