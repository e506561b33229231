/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the FHIR R4 rendering (edge/src/fhir.c): UUID-5 against the
 * RFC 4122 / Python test vector and the documented relais namespace,
 * deterministic identifiers, every metric's LOINC and UCUM codes, the blood
 * pressure panel (both components, a lone one, two pairs), doses, missed
 * doses, lanes, the device entry, alert messages of each priority with
 * reading evidence and with other evidence, unbound patients, time format
 * and number serialisation.  Validity against the R4 definitions is checked
 * separately by tests/fhir/validate.sh (an independent validator).
 */
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
#include "relais/fhir.h"

#define T0 1795334400.0 /* 2026-11-22T08:00:00Z */

/* The value at a dotted path ("entry.0.resource.code"), or NULL. */
static json_t *at(json_t *j, const char *path)
{
    while (j && *path) {
        const char *dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);
        char part[64];
        snprintf(part, sizeof part, "%.*s", (int)len, path);
        char *end;
        unsigned long i = strtoul(part, &end, 10);
        if (*end == '\0' && end != part)
            j = json_array_get(j, i);
        else
            j = json_object_get(j, part);
        path += len + (dot != NULL);
    }
    return j;
}

static const char *s_at(json_t *j, const char *path)
{
    return json_string_value(at(j, path));
}

static struct relais_stored_reading num(int idx, const char *metric, const char *unit, double v,
                                        double t)
{
    struct relais_stored_reading r = {
        .pack_id = 1,
        .device = "vitals-1",
        .seq = 42,
        .idx = idx,
        .metric = metric,
        .unit = unit,
        .kind = RELAIS_READING_NUMBER,
        .value = v,
        .time = t,
        .time_source = RELAIS_TIME_DEVICE,
        .received_ms = (int64_t)(T0 * 1000) + 1500,
    };
    return r;
}

static struct relais_stored_pack pack_of(const char *device, uint64_t seq, int records)
{
    struct relais_stored_pack p = {.id = 1,
                                   .device = device,
                                   .seq = seq,
                                   .received_ms = (int64_t)(T0 * 1000),
                                   .records = records,
                                   /* its record signature verified (doses count) */
                                   .flags = RELAIS_PACK_FLAG_SIGNED};
    return p;
}

/* Renders recs of one pack in lane; returns the entries (asserting the count). */
static json_t *render(const char *patient, uint64_t seq, const struct relais_stored_reading *recs,
                      size_t n, int lane, int expected)
{
    struct relais_stored_pack p = pack_of("vitals-1", seq, (int)n);
    json_t *e = json_array();
    assert_int_equal(relais_fhir_pack_entries(e, "gw-1", patient, &p, recs, n, lane), expected);
    assert_int_equal(json_array_size(e), (size_t)expected);
    return e;
}

static void test_uuid5_vectors(void **state)
{
    (void)state;
    /* NameSpace_DNS, "python.org": the vector of Python's uuid module docs */
    static const uint8_t dns[16] = {0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1,
                                    0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};
    static const uint8_t url[16] = {0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1,
                                    0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};
    char out[37];
    assert_int_equal(relais_fhir_uuid5_ns(dns, "python.org", out), RELAIS_OK);
    assert_string_equal(out, "886313e1-3b8a-5372-9b90-0c9aee199e5d");
    /* the documented derivation of the relais namespace */
    assert_int_equal(relais_fhir_uuid5_ns(url, "urn:relais", out), RELAIS_OK);
    assert_string_equal(out, RELAIS_FHIR_NAMESPACE);
    char a[37], b[37];
    relais_fhir_uuid5("obs/gw-1/vitals-1/42/0", a);
    relais_fhir_uuid5("obs/gw-1/vitals-1/42/0", b);
    assert_string_equal(a, b);
    assert_int_equal(strlen(a), 36);
    assert_int_equal(a[14], '5');               /* version */
    assert_true(strchr("89ab", a[19]) != NULL); /* variant */
    relais_fhir_uuid5("obs/gw-1/vitals-1/42/1", b);
    assert_string_not_equal(a, b);
}

static void test_time_format(void **state)
{
    (void)state;
    char t[32];
    assert_int_equal(relais_fhir_time((int64_t)(T0 * 1000), t), RELAIS_OK);
    assert_string_equal(t, "2026-11-22T08:00:00.000Z");
    assert_int_equal(relais_fhir_time((int64_t)(T0 * 1000) + 1234, t), RELAIS_OK);
    assert_string_equal(t, "2026-11-22T08:00:01.234Z");
    assert_int_equal(relais_fhir_time(-1, t), RELAIS_OK);
    assert_string_equal(t, "1969-12-31T23:59:59.999Z");
    assert_int_equal(relais_fhir_time(INT64_MAX, t), RELAIS_ERANGE);
    assert_string_equal(t, "");
    /* fractional record time, rounded to the millisecond */
    struct relais_stored_reading r = num(0, "temp", "Cel", 37.2, T0 + 0.25);
    json_t *e = render("p-7f3a", 42, &r, 1, RELAIS_LANE_VITALS, 1);
    assert_string_equal(s_at(e, "0.resource.effectiveDateTime"), "2026-11-22T08:00:00.250Z");
    assert_string_equal(s_at(e, "0.resource.issued"), "2026-11-22T08:00:01.500Z");
    json_decref(e);
}

static void test_lanes(void **state)
{
    (void)state;
    assert_int_equal(relais_fhir_lane_of("dose"), RELAIS_LANE_ADHERENCE);
    assert_int_equal(relais_fhir_lane_of("battery"), RELAIS_LANE_DEVICE);
    assert_int_equal(relais_fhir_lane_of("lid"), -1);
    assert_int_equal(relais_fhir_lane_of(NULL), -1);
    static const char *const vit[] = {"temp",   "spo2", "hr",    "bp_sys",     "bp_dia",
                                      "weight", "resp", "steps", "pro_nausea", "co2"};
    for (size_t i = 0; i < sizeof vit / sizeof vit[0]; i++)
        assert_int_equal(relais_fhir_lane_of(vit[i]), RELAIS_LANE_VITALS);
    assert_string_equal(relais_lane_name(RELAIS_LANE_ALERT), "alert");
    assert_string_equal(relais_lane_name(RELAIS_LANE_ADHERENCE), "adherence");
    assert_string_equal(relais_lane_name(RELAIS_LANE_DEVICE), "device");
    assert_string_equal(relais_lane_name(RELAIS_LANE_VITALS), "vitals");
    assert_string_equal(relais_lane_name(7), "?");

    /* a pack of every lane: each lane takes its records only, lid none */
    struct relais_stored_reading recs[4] = {num(0, "temp", "Cel", 37.0, T0),
                                            num(1, "battery", "%EL", 80, T0),
                                            num(2, "lid", "", 0, T0), num(3, "dose", "", 0, T0)};
    recs[2].kind = RELAIS_READING_BOOL;
    recs[3].kind = RELAIS_READING_STRING;
    recs[3].str = "am";
    json_t *e = render("p-7f3a", 1, recs, 4, RELAIS_LANE_VITALS, 1);
    assert_string_equal(s_at(e, "0.resource.resourceType"), "Observation");
    json_decref(e);
    e = render("p-7f3a", 1, recs, 4, RELAIS_LANE_DEVICE, 1);
    assert_string_equal(s_at(e, "0.resource.code.coding.0.code"), "battery");
    assert_string_equal(s_at(e, "0.resource.valueQuantity.code"), "%");
    json_decref(e);
    e = render("p-7f3a", 1, recs, 4, RELAIS_LANE_ADHERENCE, 1);
    assert_string_equal(s_at(e, "0.resource.resourceType"), "MedicationAdministration");
    json_decref(e);
    e = render("p-7f3a", 1, recs, 4, RELAIS_LANE_ALERT, 0);
    json_decref(e);
}

struct metric_case {
    const char *metric, *unit;
    double v;
    const char *loinc, *ucum, *category;
};

static void test_every_metric(void **state)
{
    (void)state;
    static const struct metric_case cases[] = {
        {"temp", "Cel", 38.4, "8310-5", "Cel", "vital-signs"},
        {"spo2", "%", 97, "59408-5", "%", "vital-signs"},
        {"hr", "beat/min", 72, "8867-4", "/min", "vital-signs"},
        {"weight", "kg", 71.5, "29463-7", "kg", "vital-signs"},
        {"resp", "1/min", 16, "9279-1", "/min", "vital-signs"},
        {"steps", "count", 4200, "41950-7", "/d", "activity"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct metric_case *c = &cases[i];
        struct relais_stored_reading r = num(0, c->metric, c->unit, c->v, T0);
        json_t *e = render("p-7f3a", 42, &r, 1, RELAIS_LANE_VITALS, 1);
        json_t *o = at(e, "0.resource");
        assert_string_equal(s_at(o, "resourceType"), "Observation");
        assert_string_equal(s_at(o, "status"), "final");
        assert_string_equal(s_at(o, "code.coding.0.system"), "http://loinc.org");
        assert_string_equal(s_at(o, "code.coding.0.code"), c->loinc);
        assert_string_equal(s_at(o, "category.0.coding.0.code"), c->category);
        assert_string_equal(s_at(o, "category.0.coding.0.system"),
                            "http://terminology.hl7.org/CodeSystem/observation-category");
        assert_string_equal(s_at(o, "valueQuantity.system"), "http://unitsofmeasure.org");
        assert_string_equal(s_at(o, "valueQuantity.code"), c->ucum);
        assert_true(json_real_value(at(o, "valueQuantity.value")) == c->v);
        assert_string_equal(s_at(o, "subject.identifier.system"), "urn:relais:patient");
        assert_string_equal(s_at(o, "subject.identifier.value"), "p-7f3a");
        assert_string_equal(s_at(o, "device.identifier.system"), "urn:relais:device");
        assert_string_equal(s_at(o, "device.identifier.value"), "gw-1/vitals-1");
        assert_string_equal(s_at(o, "effectiveDateTime"), "2026-11-22T08:00:00.000Z");
        assert_null(at(o, "note")); /* device time: nothing to say */
        /* the conditional create on the identifier */
        char uuid[37], want[128];
        relais_fhir_uuid5("obs/gw-1/vitals-1/42/0", uuid);
        snprintf(want, sizeof want, "urn:uuid:%s", uuid);
        assert_string_equal(s_at(e, "0.fullUrl"), want);
        assert_string_equal(s_at(o, "identifier.0.system"), "urn:relais:id");
        assert_string_equal(s_at(o, "identifier.0.value"), want);
        assert_string_equal(s_at(e, "0.request.method"), "POST");
        assert_string_equal(s_at(e, "0.request.url"), "Observation");
        snprintf(want, sizeof want, "identifier=urn:relais:id|urn:uuid:%s", uuid);
        assert_string_equal(s_at(e, "0.request.ifNoneExist"), want);
        if (!strcmp(c->metric, "spo2")) {
            assert_string_equal(s_at(o, "code.coding.1.code"), "2708-6");
            assert_string_equal(s_at(o, "code.coding.1.system"), "http://loinc.org");
        } else {
            assert_null(at(o, "code.coding.1"));
        }
        json_decref(e);
    }
}

static void test_symptom_and_unknown(void **state)
{
    (void)state;
    struct relais_stored_reading recs[4] = {
        num(0, "pro_diarrhoea", "", 2, T0), num(1, "co2", "ppm", 412, T0),
        num(2, "glucose", "mmol/L", 5.4, T0), num(3, "mood", "", 0, T0)};
    recs[3].kind = RELAIS_READING_STRING;
    recs[3].str = "fine";
    json_t *e = render("p-7f3a", 42, recs, 4, RELAIS_LANE_VITALS, 4);
    assert_string_equal(s_at(e, "0.resource.code.text"), "patient-reported diarrhoea");
    assert_string_equal(s_at(e, "0.resource.code.coding.0.system"), "urn:relais:metric");
    assert_string_equal(s_at(e, "0.resource.code.coding.0.code"), "pro_diarrhoea");
    assert_int_equal(json_integer_value(at(e, "0.resource.valueInteger")), 2);
    assert_string_equal(s_at(e, "0.resource.category.0.coding.0.code"), "survey");
    /* unknown metric, unit not UCUM as far as relais knows: no system */
    assert_string_equal(s_at(e, "1.resource.code.coding.0.code"), "co2");
    assert_string_equal(s_at(e, "1.resource.valueQuantity.unit"), "ppm");
    assert_null(at(e, "1.resource.valueQuantity.system"));
    assert_null(at(e, "1.resource.valueQuantity.code"));
    /* unknown metric with a UCUM unit */
    assert_string_equal(s_at(e, "2.resource.valueQuantity.code"), "mmol/L");
    assert_string_equal(s_at(e, "2.resource.valueQuantity.system"), "http://unitsofmeasure.org");
    assert_string_equal(s_at(e, "3.resource.valueString"), "fine");
    json_decref(e);
}

static void test_bp_panel(void **state)
{
    (void)state;
    /* sys+dia at T0, a temp, then another pair at T0+60 given dia first */
    struct relais_stored_reading recs[5] = {
        num(0, "bp_sys", "mmHg", 128, T0), num(1, "temp", "Cel", 36.9, T0),
        num(2, "bp_dia", "mmHg", 82, T0), num(3, "bp_dia", "mmHg", 80, T0 + 60),
        num(4, "bp_sys", "mmHg", 125, T0 + 60)};
    json_t *e = render("p-7f3a", 42, recs, 5, RELAIS_LANE_VITALS, 3);
    json_t *p = at(e, "0.resource");
    assert_string_equal(s_at(p, "code.coding.0.code"), "85354-9");
    assert_null(at(p, "valueQuantity"));
    assert_int_equal(json_array_size(at(p, "component")), 2);
    assert_string_equal(s_at(p, "component.0.code.coding.0.code"), "8480-6");
    assert_string_equal(s_at(p, "component.0.valueQuantity.code"), "mm[Hg]");
    assert_true(json_real_value(at(p, "component.0.valueQuantity.value")) == 128);
    assert_string_equal(s_at(p, "component.1.code.coding.0.code"), "8462-4");
    assert_true(json_real_value(at(p, "component.1.valueQuantity.value")) == 82);
    char uuid[37], want[64];
    relais_fhir_uuid5("obs/gw-1/vitals-1/42/0", uuid);
    snprintf(want, sizeof want, "urn:uuid:%s", uuid);
    assert_string_equal(s_at(e, "0.fullUrl"), want);
    assert_string_equal(s_at(e, "1.resource.code.coding.0.code"), "8310-5");
    /* the second panel: named after its first record (idx 3), sys listed first */
    p = at(e, "2.resource");
    relais_fhir_uuid5("obs/gw-1/vitals-1/42/3", uuid);
    snprintf(want, sizeof want, "urn:uuid:%s", uuid);
    assert_string_equal(s_at(e, "2.fullUrl"), want);
    assert_string_equal(s_at(p, "component.0.code.coding.0.code"), "8480-6");
    assert_true(json_real_value(at(p, "component.0.valueQuantity.value")) == 125);
    assert_string_equal(s_at(p, "effectiveDateTime"), "2026-11-22T08:01:00.000Z");
    json_decref(e);

    /* a lone component still goes as the panel */
    struct relais_stored_reading lone = num(0, "bp_dia", "mmHg", 95, T0);
    e = render("p-7f3a", 43, &lone, 1, RELAIS_LANE_VITALS, 1);
    assert_string_equal(s_at(e, "0.resource.code.coding.0.code"), "85354-9");
    assert_int_equal(json_array_size(at(e, "0.resource.component")), 1);
    assert_string_equal(s_at(e, "0.resource.component.0.code.coding.0.code"), "8462-4");
    json_decref(e);

    /* sys and dia at different times: two panels */
    struct relais_stored_reading apart[2] = {num(0, "bp_sys", "mmHg", 120, T0),
                                             num(1, "bp_dia", "mmHg", 80, T0 + 1)};
    e = render("p-7f3a", 44, apart, 2, RELAIS_LANE_VITALS, 2);
    json_decref(e);
}

static void test_deterministic_ids(void **state)
{
    (void)state;
    struct relais_stored_reading r[2] = {num(0, "temp", "Cel", 37.0, T0),
                                         num(1, "hr", "beat/min", 70, T0)};
    json_t *a = render("p-7f3a", 42, r, 2, RELAIS_LANE_VITALS, 2);
    json_t *b = render("p-7f3a", 42, r, 2, RELAIS_LANE_VITALS, 2);
    json_t *c = render("p-7f3a", 43, r, 2, RELAIS_LANE_VITALS, 2);
    assert_true(json_equal(a, b));
    assert_string_equal(s_at(a, "0.fullUrl"), s_at(b, "0.fullUrl"));
    assert_string_not_equal(s_at(a, "0.fullUrl"), s_at(a, "1.fullUrl")); /* idx */
    assert_string_not_equal(s_at(a, "0.fullUrl"), s_at(c, "0.fullUrl")); /* seq */
    /* another gateway or device: another id */
    struct relais_stored_pack p = pack_of("vitals-2", 42, 2);
    json_t *d = json_array();
    assert_int_equal(relais_fhir_pack_entries(d, "gw-1", "p-7f3a", &p, r, 2, RELAIS_LANE_VITALS),
                     2);
    assert_string_not_equal(s_at(a, "0.fullUrl"), s_at(d, "0.fullUrl"));
    json_t *g = json_array();
    p = pack_of("vitals-1", 42, 2);
    assert_int_equal(relais_fhir_pack_entries(g, "gw-2", "p-7f3a", &p, r, 2, RELAIS_LANE_VITALS),
                     2);
    assert_string_not_equal(s_at(a, "0.fullUrl"), s_at(g, "0.fullUrl"));
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(d);
    json_decref(g);
}

static void test_dose(void **state)
{
    (void)state;
    struct relais_stored_reading r = num(2, "dose", "", 0, T0 + 300);
    r.kind = RELAIS_READING_STRING;
    r.str = "am";
    json_t *e = render("p-7f3a", 42, &r, 1, RELAIS_LANE_ADHERENCE, 1);
    json_t *m = at(e, "0.resource");
    assert_string_equal(s_at(m, "resourceType"), "MedicationAdministration");
    assert_string_equal(s_at(m, "status"), "completed");
    assert_non_null(s_at(m, "medicationCodeableConcept.text"));
    assert_string_equal(s_at(m, "subject.identifier.value"), "p-7f3a");
    assert_string_equal(s_at(m, "effectiveDateTime"), "2026-11-22T08:05:00.000Z");
    assert_string_equal(s_at(m, "device.0.identifier.value"), "gw-1/vitals-1");
    assert_non_null(strstr(s_at(m, "note.0.text"), "slot am"));
    assert_string_equal(s_at(e, "0.request.url"), "MedicationAdministration");
    char uuid[37], want[64];
    relais_fhir_uuid5("dose/gw-1/vitals-1/42/2", uuid);
    snprintf(want, sizeof want, "urn:uuid:%s", uuid);
    assert_string_equal(s_at(e, "0.fullUrl"), want);
    assert_string_equal(s_at(m, "identifier.0.value"), want);
    json_decref(e);

    /* a dose of a pack whose signature was not verified is no
     * MedicationAdministration: nothing at all */
    struct relais_stored_pack p = pack_of("pillbox-1", 43, 1);
    p.flags = RELAIS_PACK_FLAG_SEQ_REUSED;
    e = json_array();
    assert_int_equal(
        relais_fhir_pack_entries(e, "gw-1", "p-7f3a", &p, &r, 1, RELAIS_LANE_ADHERENCE), 0);
    assert_int_equal(json_array_size(e), 0);
    p.flags |= RELAIS_PACK_FLAG_SIGNED;
    assert_int_equal(
        relais_fhir_pack_entries(e, "gw-1", "p-7f3a", &p, &r, 1, RELAIS_LANE_ADHERENCE), 1);
    json_decref(e);
}

static void test_missed_dose(void **state)
{
    (void)state;
    json_t *e = json_array();
    int64_t due = (int64_t)(T0 * 1000);
    assert_int_equal(relais_fhir_missed_dose_entry(e, "gw-1", "p-7f3a", "2026-11-22T08:00/am",
                                                   "capecitabine", due),
                     1);
    assert_int_equal(relais_fhir_missed_dose_entry(e, "gw-1", "p-7f3a", "2026-11-22T20:00/pm", NULL,
                                                   due + 12 * 3600000),
                     1);
    json_t *m = at(e, "0.resource");
    assert_string_equal(s_at(m, "status"), "not-done");
    assert_string_equal(s_at(m, "statusReason.0.text"), "missed");
    assert_string_equal(s_at(m, "medicationCodeableConcept.text"), "capecitabine");
    assert_string_equal(s_at(m, "effectiveDateTime"), "2026-11-22T08:00:00.000Z");
    assert_string_equal(s_at(e, "1.resource.medicationCodeableConcept.text"),
                        "care-plan medication");
    char uuid[37], want[64];
    relais_fhir_uuid5("missed/gw-1/p-7f3a/2026-11-22T08:00/am", uuid);
    snprintf(want, sizeof want, "urn:uuid:%s", uuid);
    assert_string_equal(s_at(e, "0.fullUrl"), want);
    assert_string_not_equal(s_at(e, "0.fullUrl"), s_at(e, "1.fullUrl"));
    assert_int_equal(relais_fhir_missed_dose_entry(e, "gw-1", "p-7f3a", NULL, NULL, due),
                     RELAIS_EINVAL);
    json_decref(e);
}

static void test_device_entry(void **state)
{
    (void)state;
    json_t *e = json_array();
    int64_t seen = (int64_t)(T0 * 1000);
    assert_int_equal(
        relais_fhir_device_entry(e, "gw-1", "pillbox-1", "pillbox", "p-7f3a", true, 76, seen), 1);
    assert_int_equal(relais_fhir_device_entry(e, "gw-1", "vitals-1", NULL, NULL, false, 0, 0), 1);
    json_t *d = at(e, "0.resource");
    assert_string_equal(s_at(d, "resourceType"), "Device");
    assert_string_equal(s_at(d, "status"), "active");
    assert_string_equal(s_at(d, "identifier.1.system"), "urn:relais:device");
    assert_string_equal(s_at(d, "identifier.1.value"), "gw-1/pillbox-1");
    assert_string_equal(s_at(d, "type.coding.0.code"), "pillbox");
    assert_string_equal(s_at(d, "property.0.valueQuantity.0.code"), "%");
    assert_true(json_real_value(at(d, "property.0.valueQuantity.0.value")) == 76);
    assert_string_equal(s_at(d, "patient.identifier.value"), "p-7f3a");
    assert_string_equal(s_at(d, "note.0.time"), "2026-11-22T08:00:00.000Z");
    assert_string_equal(s_at(e, "0.request.method"), "PUT");
    assert_string_equal(s_at(e, "0.request.url"),
                        "Device?identifier=urn:relais:device|gw-1/pillbox-1");
    char uuid[37], want[64];
    relais_fhir_uuid5("device/gw-1/pillbox-1", uuid);
    snprintf(want, sizeof want, "urn:uuid:%s", uuid);
    assert_string_equal(s_at(e, "0.fullUrl"), want);
    d = at(e, "1.resource");
    assert_null(at(d, "property"));
    assert_null(at(d, "patient"));
    assert_null(at(d, "note"));
    assert_null(at(d, "type"));

    json_t *b = relais_fhir_transaction(e);
    assert_non_null(b);
    assert_string_equal(s_at(b, "resourceType"), "Bundle");
    assert_string_equal(s_at(b, "type"), "transaction");
    assert_int_equal(json_array_size(at(b, "entry")), 2);
    json_decref(b);
    assert_null(relais_fhir_transaction(json_object())); /* not an array: released */
}

static void fill_alert(struct relais_alert *a, int prio, const char *evidence)
{
    memset(a, 0, sizeof *a);
    snprintf(a->id, sizeof a->id, "gw-1-7");
    snprintf(a->patient, sizeof a->patient, "p-7f3a");
    snprintf(a->rule, sizeof a->rule, "fever");
    a->priority = prio;
    snprintf(a->team, sizeof a->team, "had");
    snprintf(a->state, sizeof a->state, "raised");
    a->open = true;
    a->raised_ms = (int64_t)(T0 * 1000);
    snprintf(a->evidence, sizeof a->evidence, "%s", evidence);
}

static json_t *find_entry(json_t *b, const char *type, int nth)
{
    size_t i;
    json_t *e;
    json_array_foreach(at(b, "entry"), i, e)
    {
        if (!strcmp(s_at(e, "resource.resourceType"), type) && nth-- == 0) return at(e, "resource");
    }
    return NULL;
}

static void test_alert_priorities(void **state)
{
    (void)state;
    static const struct {
        int prio;
        const char *severity, *comm;
    } cases[] = {{RELAIS_PRIO_HIGH, "high", "stat"},
                 {RELAIS_PRIO_MEDIUM, "moderate", "urgent"},
                 {RELAIS_PRIO_LOW, "low", "routine"}};
    const char *ev_text =
        "{\"reading\":{\"device\":\"vitals-1\",\"metric\":\"temp\",\"value\":38.6,"
        "\"t_ms\":1795334400000},\"why\":\"temp 38.6 >= 38.3\",\"count\":1}";
    for (size_t i = 0; i < 3; i++) {
        struct relais_alert a;
        fill_alert(&a, cases[i].prio, ev_text);
        struct relais_alert_event ev = {.id = 11,
                                        .alert = a.id,
                                        .at_ms = a.raised_ms + 1000,
                                        .event = "raised",
                                        .team = "had",
                                        .priority = cases[i].prio,
                                        .detail = "temp 38.6 >= 38.3",
                                        .notify = true};
        json_t *b = relais_fhir_alert_message("gw-1", &a, &ev);
        assert_non_null(b);
        assert_string_equal(s_at(b, "type"), "message");
        assert_string_equal(s_at(b, "timestamp"), "2026-11-22T08:00:01.000Z");
        char uuid[37], want[64];
        relais_fhir_uuid5("alert/gw-1-7/event/11", uuid);
        snprintf(want, sizeof want, "urn:uuid:%s", uuid);
        assert_string_equal(s_at(b, "identifier.value"), want);
        assert_int_equal(json_array_size(at(b, "entry")), 4);
        json_t *h = at(b, "entry.0.resource");
        assert_string_equal(s_at(h, "resourceType"), "MessageHeader");
        assert_string_equal(s_at(h, "eventCoding.system"), "urn:relais:alert-event");
        assert_string_equal(s_at(h, "eventCoding.code"), "raised");
        assert_string_equal(s_at(h, "source.endpoint"), "urn:relais:gateway:gw-1");
        assert_string_equal(s_at(h, "destination.0.endpoint"), "urn:relais:team:had");
        json_t *di = find_entry(b, "DetectedIssue", 0);
        assert_non_null(di);
        assert_string_equal(s_at(di, "identifier.0.system"), "urn:relais:alert");
        assert_string_equal(s_at(di, "identifier.0.value"), "gw-1-7");
        assert_string_equal(s_at(di, "patient.identifier.value"), "p-7f3a");
        assert_string_equal(s_at(di, "severity"), cases[i].severity);
        assert_string_equal(s_at(di, "code.text"), "fever");
        assert_string_equal(s_at(di, "identifiedDateTime"), "2026-11-22T08:00:00.000Z");
        assert_non_null(strstr(s_at(di, "detail"), "temp 38.6 >= 38.3"));
        /* focus -> the DetectedIssue; evidence -> the Observation */
        assert_string_equal(s_at(h, "focus.0.reference"), s_at(b, "entry.1.fullUrl"));
        json_t *obs = find_entry(b, "Observation", 0);
        assert_non_null(obs);
        assert_string_equal(s_at(obs, "code.coding.0.code"), "8310-5");
        assert_true(json_real_value(at(obs, "valueQuantity.value")) == 38.6);
        assert_string_equal(s_at(di, "evidence.0.detail.0.reference"), s_at(b, "entry.3.fullUrl"));
        json_t *c = find_entry(b, "Communication", 0);
        assert_string_equal(s_at(c, "priority"), cases[i].comm);
        assert_string_equal(s_at(c, "about.0.reference"), s_at(b, "entry.1.fullUrl"));
        assert_string_equal(s_at(c, "recipient.0.identifier.value"), "had");
        const char *payload = s_at(c, "payload.0.contentString");
        assert_non_null(strstr(payload, "raised"));
        assert_non_null(strstr(payload, "fever"));
        assert_non_null(strstr(payload, relais_priority_name((enum relais_priority)cases[i].prio)));
        json_decref(b);
    }
}

static void test_alert_events_and_evidence(void **state)
{
    (void)state;
    struct relais_alert a;
    /* an array of readings (a BP pair) */
    fill_alert(&a, RELAIS_PRIO_HIGH,
               "{\"reading\":[{\"device\":\"vitals-1\",\"metric\":\"bp_sys\",\"value\":185,"
               "\"t_ms\":1795334400000},{\"device\":\"vitals-1\",\"metric\":\"bp_dia\","
               "\"value\":112,\"t_ms\":1795334400000}],\"why\":\"BP 185/112\"}");
    struct relais_alert_event ev = {.id = 12,
                                    .alert = a.id,
                                    .at_ms = a.raised_ms + 900000,
                                    .event = "acknowledged",
                                    .team = "had",
                                    .priority = RELAIS_PRIO_HIGH,
                                    .by = "dr-martin"};
    json_t *b = relais_fhir_alert_message("gw-1", &a, &ev);
    assert_non_null(b);
    assert_string_equal(s_at(b, "entry.0.resource.eventCoding.code"), "acknowledged");
    assert_int_equal(json_array_size(at(b, "entry")), 5);
    json_t *di = find_entry(b, "DetectedIssue", 0);
    assert_int_equal(json_array_size(at(di, "evidence.0.detail")), 2);
    assert_string_equal(s_at(find_entry(b, "Observation", 1), "component.0.code.coding.0.code"),
                        "8462-4");
    assert_non_null(
        strstr(s_at(find_entry(b, "Communication", 0), "payload.0.contentString"), "dr-martin"));
    /* same alert, other event: same DetectedIssue, another bundle */
    ev.id = 13;
    ev.event = "resolved";
    json_t *b2 = relais_fhir_alert_message("gw-1", &a, &ev);
    assert_string_equal(s_at(b, "entry.1.fullUrl"), s_at(b2, "entry.1.fullUrl"));
    assert_string_not_equal(s_at(b, "identifier.value"), s_at(b2, "identifier.value"));
    assert_string_not_equal(s_at(b, "entry.0.fullUrl"), s_at(b2, "entry.0.fullUrl"));
    json_decref(b);
    json_decref(b2);

    /* evidence that is not a reading: text in the detail, no Observation */
    fill_alert(&a, RELAIS_PRIO_LOW,
               "{\"slot\":\"2026-11-22T08:00/am\",\"window_start_ms\":1795327200000,"
               "\"why\":\"no dose in slot am\",\"count\":2}");
    snprintf(a.rule, sizeof a.rule, "missed_dose");
    ev = (struct relais_alert_event){.id = 14,
                                     .alert = a.id,
                                     .at_ms = a.raised_ms,
                                     .event = "renotified",
                                     .team = "coordination",
                                     .priority = RELAIS_PRIO_LOW};
    b = relais_fhir_alert_message("gw-1", &a, &ev);
    assert_non_null(b);
    assert_int_equal(json_array_size(at(b, "entry")), 3);
    di = find_entry(b, "DetectedIssue", 0);
    assert_null(at(di, "evidence"));
    const char *detail = s_at(di, "detail");
    assert_non_null(strstr(detail, "no dose in slot am"));
    assert_non_null(strstr(detail, "2026-11-22T08:00/am"));
    assert_string_equal(s_at(b, "entry.0.resource.destination.0.name"), "coordination");
    json_decref(b);

    /* evidence that is not JSON at all (truncated): kept as text */
    fill_alert(&a, RELAIS_PRIO_MEDIUM, "not json");
    b = relais_fhir_alert_message("gw-1", &a, &ev);
    assert_non_null(b);
    assert_non_null(strstr(s_at(find_entry(b, "DetectedIssue", 0), "detail"), "not json"));
    json_decref(b);
    assert_null(relais_fhir_alert_message("gw-1", NULL, &ev));
}

static void test_unbound_patient(void **state)
{
    (void)state;
    struct relais_stored_reading r[2] = {num(0, "temp", "Cel", 37.0, T0),
                                         num(1, "dose", "", 0, T0)};
    r[0].time_source = RELAIS_TIME_GATEWAY;
    r[1].kind = RELAIS_READING_STRING;
    r[1].str = "pm";
    json_t *e = render("", 42, r, 2, RELAIS_LANE_VITALS, 1);
    assert_null(at(e, "0.resource.subject"));
    assert_non_null(strstr(s_at(e, "0.resource.note.0.text"), "gateway"));
    json_decref(e);
    e = render(NULL, 42, r, 2, RELAIS_LANE_ADHERENCE, 1);
    assert_string_equal(s_at(e, "0.resource.subject.identifier.value"), "unbound");
    json_decref(e);
}

static void test_bad_arguments_and_numbers(void **state)
{
    (void)state;
    struct relais_stored_pack p = pack_of("vitals-1", 1, 1);
    struct relais_stored_reading r = num(0, "temp", "Cel", 37.2, T0);
    json_t *e = json_array();
    assert_int_equal(relais_fhir_pack_entries(NULL, "gw-1", NULL, &p, &r, 1, RELAIS_LANE_VITALS),
                     RELAIS_EINVAL);
    assert_int_equal(relais_fhir_pack_entries(e, "gw-1", NULL, &p, &r, 1, 9), RELAIS_EINVAL);
    assert_int_equal(relais_fhir_pack_entries(e, "gw-1", NULL, &p, NULL, 1, RELAIS_LANE_VITALS),
                     RELAIS_EINVAL);
    assert_int_equal(relais_fhir_pack_entries(e, "gw-1", NULL, &p, &r, 0, RELAIS_LANE_VITALS), 0);
    r.time = 1e300;
    assert_int_equal(relais_fhir_pack_entries(e, "gw-1", NULL, &p, &r, 1, RELAIS_LANE_VITALS),
                     RELAIS_EINVAL);
    r.time = T0;
    assert_int_equal(relais_fhir_pack_entries(e, "gw-1", NULL, &p, &r, 1, RELAIS_LANE_VITALS), 1);
    char *text = relais_fhir_dumps(e);
    assert_non_null(text);
    assert_non_null(strstr(text, "\"value\":37.2,"));
    free(text);
    json_decref(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uuid5_vectors),
        cmocka_unit_test(test_time_format),
        cmocka_unit_test(test_lanes),
        cmocka_unit_test(test_every_metric),
        cmocka_unit_test(test_symptom_and_unknown),
        cmocka_unit_test(test_bp_panel),
        cmocka_unit_test(test_deterministic_ids),
        cmocka_unit_test(test_dose),
        cmocka_unit_test(test_missed_dose),
        cmocka_unit_test(test_device_entry),
        cmocka_unit_test(test_alert_priorities),
        cmocka_unit_test(test_alert_events_and_evidence),
        cmocka_unit_test(test_unbound_patient),
        cmocka_unit_test(test_bad_arguments_and_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
