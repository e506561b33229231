/* SPDX-License-Identifier: Apache-2.0 */
/*
 * FHIR R4 rendering (relais/fhir.h): stored packs become transaction entries
 * (Observation, MedicationAdministration), the device status a Device
 * conditional update, an alert event a message Bundle.  DESIGN.md 3.2's
 * metric table is normative for codes and units.
 *
 * Invariants: pure functions of their arguments (no clock, no I/O); every
 * resource has a deterministic identifier (UUID-5 of a name listed in
 * fhir.h); every document is valid R4 (checked by tests/fhir/validate.sh
 * with an independent validator).
 *
 * Construction: json_t values are built with obj_set()/arr_add(), which
 * steal their arguments and turn any failure (NULL in, out of memory) into
 * NULL out, so a chain of them needs one check at its end.
 */
#include "relais/fhir.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/md.h>

#include "relais/careplan.h"
#include "relais/error.h"

#define LOINC     "http://loinc.org"
#define UCUM      "http://unitsofmeasure.org"
#define OBS_CAT   "http://terminology.hl7.org/CodeSystem/observation-category"
#define ABSENT    "http://terminology.hl7.org/CodeSystem/data-absent-reason"
#define KIND_SYS  "urn:relais:device-kind"
#define PROP_SYS  "urn:relais:device-property"
#define NAME_MAX_ 512 /* longest UUID-5 name (ids are short, see DESIGN 3.1) */
#define UUID_URN_ 48

/* ---- building blocks ---- */

static json_t *obj_set(json_t *o, const char *key, json_t *v)
{
    if (!o || !v) {
        json_decref(o);
        json_decref(v);
        return NULL;
    }
    if (json_object_set_new(o, key, v)) { /* v is released by jansson */
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *arr_add(json_t *a, json_t *v)
{
    if (!a || !v) {
        json_decref(a);
        json_decref(v);
        return NULL;
    }
    if (json_array_append_new(a, v)) {
        json_decref(a);
        return NULL;
    }
    return a;
}

static json_t *arr1(json_t *v)
{
    return arr_add(json_array(), v);
}

static json_t *str(const char *s)
{
    return s ? json_string(s) : NULL;
}

static json_t *coding(const char *system, const char *code, const char *display)
{
    json_t *c = obj_set(json_object(), "system", str(system));
    c = obj_set(c, "code", str(code));
    if (display) c = obj_set(c, "display", str(display));
    return c;
}

/* A CodeableConcept of one coding (coding may be NULL: text only). */
static json_t *concept(json_t *coding_or_null, const char *text)
{
    json_t *c = json_object();
    if (coding_or_null) c = obj_set(c, "coding", arr1(coding_or_null));
    if (text) c = obj_set(c, "text", str(text));
    return c;
}

static json_t *quantity(double v, const char *unit, const char *ucum)
{
    json_t *q = obj_set(json_object(), "value", json_real(v));
    if (unit && *unit) q = obj_set(q, "unit", str(unit));
    if (ucum) {
        q = obj_set(q, "system", str(UCUM));
        q = obj_set(q, "code", str(ucum));
    }
    return q;
}

/* A logical reference: {type, identifier {system, value}}. */
static json_t *ident_ref(const char *type, const char *system, const char *value)
{
    json_t *id = obj_set(json_object(), "system", str(system));
    id = obj_set(id, "value", str(value));
    json_t *r = obj_set(json_object(), "type", str(type));
    return obj_set(r, "identifier", id);
}

static json_t *uuid_ref(const char *uuid)
{
    char urn[UUID_URN_];
    snprintf(urn, sizeof urn, "urn:uuid:%s", uuid);
    return obj_set(json_object(), "reference", str(urn));
}

static json_t *device_ref(const char *gateway, const char *device)
{
    char v[2 * RELAIS_WIRE_ID_MAX + 8];
    snprintf(v, sizeof v, "%s/%s", gateway, device);
    return ident_ref("Device", RELAIS_FHIR_DEVICE_SYSTEM, v);
}

static json_t *patient_ref(const char *patient)
{
    return ident_ref("Patient", RELAIS_FHIR_PATIENT_SYSTEM, patient);
}

static json_t *uuid_identifier(const char *uuid)
{
    char urn[UUID_URN_];
    snprintf(urn, sizeof urn, "urn:uuid:%s", uuid);
    json_t *id = obj_set(json_object(), "system", str(RELAIS_FHIR_ID_SYSTEM));
    return obj_set(id, "value", str(urn));
}

static json_t *note(const char *text, const char *time_or_null)
{
    json_t *n = json_object();
    if (time_or_null) n = obj_set(n, "time", str(time_or_null));
    return obj_set(n, "text", str(text));
}

static json_t *category(const char *code, const char *display)
{
    return arr1(concept(coding(OBS_CAT, code, display), NULL));
}

/* ---- lanes, identifiers, time ---- */

const char *relais_lane_name(int lane)
{
    switch (lane) {
    case RELAIS_LANE_ALERT: return "alert";
    case RELAIS_LANE_ADHERENCE: return "adherence";
    case RELAIS_LANE_DEVICE: return "device";
    case RELAIS_LANE_VITALS: return "vitals";
    default: return "?";
    }
}

int relais_fhir_lane_of(const char *metric)
{
    if (!metric) return -1;
    if (!strcmp(metric, "dose")) return RELAIS_LANE_ADHERENCE;
    if (!strcmp(metric, "battery")) return RELAIS_LANE_DEVICE;
    if (!strcmp(metric, "lid")) return -1;
    return RELAIS_LANE_VITALS;
}

int relais_fhir_uuid5_ns(const uint8_t ns[16], const char *name, char out[37])
{
    static const char hex[] = "0123456789abcdef";
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA1);
    mbedtls_md_context_t ctx;
    uint8_t h[20];
    int rc = RELAIS_EINTERNAL;

    out[0] = '\0';
    mbedtls_md_init(&ctx);
    if (!md || mbedtls_md_setup(&ctx, md, 0) || mbedtls_md_starts(&ctx) ||
        mbedtls_md_update(&ctx, ns, 16) ||
        mbedtls_md_update(&ctx, (const unsigned char *)name, strlen(name)) ||
        mbedtls_md_finish(&ctx, h))
        goto out;
    h[6] = (uint8_t)((h[6] & 0x0f) | 0x50); /* version 5 */
    h[8] = (uint8_t)((h[8] & 0x3f) | 0x80); /* variant RFC 4122 */
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
        out[o++] = hex[h[i] >> 4];
        out[o++] = hex[h[i] & 0xf];
    }
    out[o] = '\0';
    rc = RELAIS_OK;
out:
    mbedtls_md_free(&ctx);
    return rc;
}

void relais_fhir_uuid5(const char *name, char out[37])
{
    /* RELAIS_FHIR_NAMESPACE = uuid5(NameSpace_URL, "urn:relais") */
    static const uint8_t ns[16] = {0x8f, 0xe9, 0x6a, 0xaf, 0x9c, 0x94, 0x5d, 0x08,
                                   0xa9, 0x77, 0xbd, 0x09, 0x91, 0xb6, 0x9d, 0x1a};
    (void)relais_fhir_uuid5_ns(ns, name, out);
}

int relais_fhir_time(int64_t ms, char out[32])
{
    out[0] = '\0';
    /* years 0001..9999 only: FHIR dateTime has four year digits */
    if (ms < -62135596800000LL || ms > 253402300799999LL) return RELAIS_ERANGE;
    int64_t s = ms / 1000, frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        s -= 1;
    }
    time_t t = (time_t)s;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) return RELAIS_ERANGE;
    int n = snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
    if (n < 0 || n >= 32) { /* cannot happen within the range checked above */
        out[0] = '\0';
        return RELAIS_ERANGE;
    }
    return RELAIS_OK;
}

static int64_t seconds_to_ms(double s)
{
    if (!isfinite(s) || s < -62135596800.0 || s > 253402300799.0) return INT64_MIN;
    return (int64_t)llround(s * 1000.0);
}

/* ---- the metric table (DESIGN 3.2) ---- */

struct vital {
    const char *metric;
    const char *loinc, *display;
    const char *loinc2, *display2; /* a second coding, or NULL */
    const char *unit, *ucum;
    const char *category, *category_display;
};

static const struct vital vitals[] = {
    {"temp", "8310-5", "Body temperature", NULL, NULL, "Cel", "Cel", "vital-signs", "Vital Signs"},
    {"spo2", "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "2708-6",
     "Oxygen saturation in Arterial blood", "%", "%", "vital-signs", "Vital Signs"},
    {"hr", "8867-4", "Heart rate", NULL, NULL, "beats/minute", "/min", "vital-signs",
     "Vital Signs"},
    {"weight", "29463-7", "Body weight", NULL, NULL, "kg", "kg", "vital-signs", "Vital Signs"},
    {"resp", "9279-1", "Respiratory rate", NULL, NULL, "breaths/minute", "/min", "vital-signs",
     "Vital Signs"},
    {"steps", "41950-7", "Number of steps in 24 hour Measured", NULL, NULL, "steps/day", "/d",
     "activity", "Activity"},
};

#define BP_PANEL   "85354-9"
#define BP_PANEL_D "Blood pressure panel with all children optional"

static const struct vital *vital_of(const char *metric)
{
    for (size_t i = 0; i < sizeof vitals / sizeof vitals[0]; i++)
        if (!strcmp(vitals[i].metric, metric)) return &vitals[i];
    return NULL;
}

static bool is_bp(const char *metric)
{
    return !strcmp(metric, "bp_sys") || !strcmp(metric, "bp_dia");
}

/* Units of unknown metrics that are UCUM codes as written (SenML's own
 * units, e.g. "%EL" or "beat/min", are not). */
static bool is_ucum(const char *unit)
{
    static const char *const known[] = {
        "Cel", "%",   "kg",   "g", "m", "cm", "mm", "s",  "min",    "h",      "d",     "L", "mL",
        "Pa",  "kPa", "/min", "W", "V", "A",  "J",  "Hz", "mm[Hg]", "mmol/L", "mg/dL", "/d"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(known[i], unit)) return true;
    return false;
}

static json_t *bp_component(const char *metric, double v)
{
    bool sys = !strcmp(metric, "bp_sys");
    json_t *c =
        obj_set(json_object(), "code",
                concept(coding(LOINC, sys ? "8480-6" : "8462-4",
                               sys ? "Systolic blood pressure" : "Diastolic blood pressure"),
                        NULL));
    return obj_set(c, "valueQuantity", quantity(v, "mmHg", "mm[Hg]"));
}

/* ---- Observation ---- */

/* What an Observation says, whatever its origin (a stored record or an
 * alert's evidence). */
struct obs {
    const char *uuid;
    const char *gateway, *device, *patient; /* patient NULL: no subject */
    const char *metric;
    enum relais_reading_kind kind;
    double value;
    const char *unit; /* as stored; NULL or "" for none */
    const char *str;
    bool boolean;
    int64_t t_ms;
    enum relais_time_source time_source;
    int64_t received_ms;                       /* 0: no Observation.issued */
    const struct relais_stored_reading *bp[2]; /* the panel's components (bp_sys, bp_dia) */
    double bp_value[2];
    bool bp_has[2];
};

/* The code, category and value of o into r.  Returns r or NULL. */
static json_t *obs_content(json_t *r, const struct obs *o)
{
    char text[96];
    const struct vital *v = vital_of(o->metric);
    if (is_bp(o->metric) && (o->bp_has[0] || o->bp_has[1])) {
        r = obj_set(r, "category", category("vital-signs", "Vital Signs"));
        r = obj_set(r, "code", concept(coding(LOINC, BP_PANEL, BP_PANEL_D), "Blood pressure"));
        json_t *comps = json_array();
        for (int k = 0; k < 2; k++)
            if (o->bp_has[k])
                comps = arr_add(comps, bp_component(k ? "bp_dia" : "bp_sys", o->bp_value[k]));
        return obj_set(r, "component", comps);
    }
    if (v && o->kind == RELAIS_READING_NUMBER) {
        json_t *code = concept(coding(LOINC, v->loinc, v->display), v->display);
        if (code && v->loinc2)
            code = obj_set(code, "coding",
                           arr_add(arr1(coding(LOINC, v->loinc, v->display)),
                                   coding(LOINC, v->loinc2, v->display2)));
        r = obj_set(r, "category", category(v->category, v->category_display));
        r = obj_set(r, "code", code);
        return obj_set(r, "valueQuantity", quantity(o->value, v->unit, v->ucum));
    }
    if (!strncmp(o->metric, "pro_", 4) && o->kind == RELAIS_READING_NUMBER) {
        snprintf(text, sizeof text, "patient-reported %s", o->metric + 4);
        r = obj_set(r, "category", category("survey", "Survey"));
        r = obj_set(r, "code", concept(coding(RELAIS_FHIR_METRIC_SYSTEM, o->metric, NULL), text));
        return obj_set(r, "valueInteger", json_integer((json_int_t)llround(o->value)));
    }
    if (!strcmp(o->metric, "battery") && o->kind == RELAIS_READING_NUMBER) {
        r = obj_set(
            r, "code",
            concept(coding(RELAIS_FHIR_METRIC_SYSTEM, "battery", NULL), "device battery level"));
        return obj_set(r, "valueQuantity", quantity(o->value, "%", "%"));
    }
    /* anything else: stored and forwarded as is */
    r = obj_set(r, "code", concept(coding(RELAIS_FHIR_METRIC_SYSTEM, o->metric, NULL), o->metric));
    switch (o->kind) {
    case RELAIS_READING_NUMBER:
    case RELAIS_READING_SUM_ONLY: {
        const char *u = o->unit && *o->unit ? o->unit : NULL;
        return obj_set(r, "valueQuantity", quantity(o->value, u, u && is_ucum(u) ? u : NULL));
    }
    case RELAIS_READING_STRING: return obj_set(r, "valueString", str(o->str ? o->str : ""));
    case RELAIS_READING_BOOL: return obj_set(r, "valueBoolean", json_boolean(o->boolean));
    case RELAIS_READING_DATA:
    default:
        return obj_set(r, "dataAbsentReason",
                       concept(coding(ABSENT, "unsupported", "Unsupported"),
                               "binary SenML value (vd) not rendered"));
    }
}

static const char *time_source_note(enum relais_time_source ts)
{
    switch (ts) {
    case RELAIS_TIME_GATEWAY:
        return "time_source=gateway: the device sent no time; effective time is the "
               "gateway's receive time";
    case RELAIS_TIME_RELATIVE:
        return "time_source=relative: the device sent a relative time, resolved against the "
               "gateway's receive time";
    case RELAIS_TIME_DEVICE:
    default: return NULL;
    }
}

static json_t *observation(const struct obs *o)
{
    char when[32], issued[32];
    if (relais_fhir_time(o->t_ms, when)) return NULL;
    json_t *r = obj_set(json_object(), "resourceType", str("Observation"));
    r = obj_set(r, "identifier", arr1(uuid_identifier(o->uuid)));
    r = obj_set(r, "status", str("final"));
    r = obs_content(r, o);
    if (o->patient) r = obj_set(r, "subject", patient_ref(o->patient));
    r = obj_set(r, "effectiveDateTime", str(when));
    if (o->received_ms > 0 && !relais_fhir_time(o->received_ms, issued))
        r = obj_set(r, "issued", str(issued));
    r = obj_set(r, "device", device_ref(o->gateway, o->device));
    json_t *notes = json_array();
    if (o->kind == RELAIS_READING_SUM_ONLY)
        notes = arr_add(notes, note("the value is the SenML sum (s) of the record", NULL));
    const char *ts = time_source_note(o->time_source);
    if (ts) notes = arr_add(notes, note(ts, NULL));
    if (json_array_size(notes)) return obj_set(r, "note", notes);
    if (!notes) {
        json_decref(r);
        return NULL;
    }
    json_decref(notes);
    return r;
}

/* ---- transaction entries ---- */

static int append_entry(json_t *entries, const char *uuid, json_t *resource, const char *method,
                        const char *url, const char *if_none_exist)
{
    char full[UUID_URN_];
    snprintf(full, sizeof full, "urn:uuid:%s", uuid);
    json_t *req = obj_set(json_object(), "method", str(method));
    req = obj_set(req, "url", str(url));
    if (if_none_exist) req = obj_set(req, "ifNoneExist", str(if_none_exist));
    json_t *e = obj_set(json_object(), "fullUrl", str(full));
    e = obj_set(e, "resource", resource);
    e = obj_set(e, "request", req);
    if (!e) return RELAIS_ENOMEM;
    return json_array_append_new(entries, e) ? RELAIS_ENOMEM : 1;
}

static int append_create(json_t *entries, const char *uuid, json_t *resource, const char *type)
{
    char cond[UUID_URN_ + 32];
    snprintf(cond, sizeof cond, "identifier=%s|urn:uuid:%s", RELAIS_FHIR_ID_SYSTEM, uuid);
    return append_entry(entries, uuid, resource, "POST", type, cond);
}

static const char *medication_text(const char *drug)
{
    return drug && *drug ? drug : "care-plan medication";
}

static int dose_entry(json_t *entries, const char *gateway, const char *patient,
                      const struct relais_stored_pack *pack, const struct relais_stored_reading *r)
{
    char name[NAME_MAX_], uuid[37], when[32], text[320];
    snprintf(name, sizeof name, "dose/%s/%s/%" PRIu64 "/%d", gateway, pack->device, pack->seq,
             r->idx);
    relais_fhir_uuid5(name, uuid);
    if (relais_fhir_time(seconds_to_ms(r->time), when)) return RELAIS_EINVAL;
    const char *slot = r->kind == RELAIS_READING_STRING && r->str ? r->str : "?";
    snprintf(text, sizeof text, "dose taken from pill box slot %s", slot);
    json_t *m = obj_set(json_object(), "resourceType", str("MedicationAdministration"));
    m = obj_set(m, "identifier", arr1(uuid_identifier(uuid)));
    m = obj_set(m, "status", str("completed"));
    m = obj_set(m, "medicationCodeableConcept", concept(NULL, medication_text(NULL)));
    m = obj_set(m, "subject", patient_ref(patient ? patient : RELAIS_FHIR_UNBOUND));
    m = obj_set(m, "effectiveDateTime", str(when));
    m = obj_set(m, "device", arr1(device_ref(gateway, pack->device)));
    json_t *notes = arr1(note(text, NULL));
    const char *ts = time_source_note(r->time_source);
    if (ts) notes = arr_add(notes, note(ts, NULL));
    m = obj_set(m, "note", notes);
    if (!m) return RELAIS_ENOMEM;
    return append_create(entries, uuid, m, "MedicationAdministration");
}

static int obs_entry(json_t *entries, const struct obs *in, const struct relais_stored_pack *pack,
                     int idx)
{
    char name[NAME_MAX_], uuid[37];
    struct obs o = *in; /* with its uuid, which lives in this frame */
    snprintf(name, sizeof name, "obs/%s/%s/%" PRIu64 "/%d", o.gateway, pack->device, pack->seq,
             idx);
    relais_fhir_uuid5(name, uuid);
    o.uuid = uuid;
    if (o.t_ms == INT64_MIN) return RELAIS_EINVAL;
    json_t *r = observation(&o);
    if (!r) return RELAIS_ENOMEM;
    return append_create(entries, uuid, r, "Observation");
}

int relais_fhir_pack_entries(json_t *entries, const char *gateway, const char *patient,
                             const struct relais_stored_pack *pack,
                             const struct relais_stored_reading *recs, size_t n, int lane)
{
    if (!json_is_array(entries) || !gateway || !pack || !pack->device || (n && !recs) || lane < 0 ||
        lane >= RELAIS_LANE_COUNT)
        return RELAIS_EINVAL;
    if (patient && !*patient) patient = NULL;
    bool *used = n ? calloc(n, sizeof *used) : NULL;
    if (n && !used) return RELAIS_ENOMEM;
    int count = 0, rc = RELAIS_OK;
    for (size_t i = 0; i < n && rc >= 0; i++) {
        const struct relais_stored_reading *r = &recs[i];
        if (used[i] || !r->metric || relais_fhir_lane_of(r->metric) != lane) continue;
        used[i] = true;
        if (!strcmp(r->metric, "dose")) {
            /* only a dose whose pack's signature relaisd verified has the
             * weight of a MedicationAdministration (docs/contract.md) */
            if (!(pack->flags & RELAIS_PACK_FLAG_SIGNED)) continue;
            rc = dose_entry(entries, gateway, patient, pack, r);
            if (rc > 0) count += rc;
            continue;
        }
        struct obs o = {
            .gateway = gateway,
            .device = pack->device,
            .patient = patient,
            .metric = r->metric,
            .kind = r->kind,
            .value = r->kind == RELAIS_READING_SUM_ONLY ? r->sum : r->value,
            .unit = r->unit,
            .str = r->str,
            .boolean = r->boolean,
            .t_ms = seconds_to_ms(r->time),
            .time_source = r->time_source,
            .received_ms = r->received_ms,
        };
        if (is_bp(r->metric) && r->kind == RELAIS_READING_NUMBER) {
            /* one panel per (pack, time): this record and the first unused
             * record of the other kind with the same time */
            int k = !strcmp(r->metric, "bp_dia");
            o.bp_has[k] = true;
            o.bp_value[k] = r->value;
            for (size_t j = i + 1; j < n; j++) {
                const struct relais_stored_reading *q = &recs[j];
                if (used[j] || !q->metric || q->kind != RELAIS_READING_NUMBER ||
                    q->time != r->time || strcmp(q->metric, k ? "bp_sys" : "bp_dia"))
                    continue;
                used[j] = true;
                o.bp_has[!k] = true;
                o.bp_value[!k] = q->value;
                break;
            }
        }
        rc = obs_entry(entries, &o, pack, r->idx);
        if (rc > 0) count += rc;
    }
    free(used);
    return rc < 0 ? rc : count;
}

int relais_fhir_missed_dose_entry(json_t *entries, const char *gateway, const char *patient,
                                  const char *slot_key, const char *drug, int64_t due_ms)
{
    char name[NAME_MAX_], uuid[37], when[32], text[160];
    if (!json_is_array(entries) || !gateway || !slot_key) return RELAIS_EINVAL;
    if (!patient || !*patient) patient = RELAIS_FHIR_UNBOUND;
    if (relais_fhir_time(due_ms, when)) return RELAIS_EINVAL;
    snprintf(name, sizeof name, "missed/%s/%s/%s", gateway, patient, slot_key);
    relais_fhir_uuid5(name, uuid);
    snprintf(text, sizeof text, "dose slot %s: no dose taken within the slot's window", slot_key);
    json_t *m = obj_set(json_object(), "resourceType", str("MedicationAdministration"));
    m = obj_set(m, "identifier", arr1(uuid_identifier(uuid)));
    m = obj_set(m, "status", str("not-done"));
    m = obj_set(m, "statusReason", arr1(concept(NULL, "missed")));
    m = obj_set(m, "medicationCodeableConcept", concept(NULL, medication_text(drug)));
    m = obj_set(m, "subject", patient_ref(patient));
    m = obj_set(m, "effectiveDateTime", str(when));
    m = obj_set(m, "note", arr1(note(text, NULL)));
    if (!m) return RELAIS_ENOMEM;
    return append_create(entries, uuid, m, "MedicationAdministration");
}

int relais_fhir_device_entry(json_t *entries, const char *gateway, const char *device_id,
                             const char *kind, const char *patient, bool has_battery,
                             double battery, int64_t last_seen_ms)
{
    char name[NAME_MAX_], uuid[37], seen[32], gd[2 * RELAIS_WIRE_ID_MAX + 8], url[160], text[128];
    if (!json_is_array(entries) || !gateway || !device_id) return RELAIS_EINVAL;
    if (has_battery && !isfinite(battery)) return RELAIS_EINVAL;
    snprintf(name, sizeof name, "device/%s/%s", gateway, device_id);
    relais_fhir_uuid5(name, uuid);
    snprintf(gd, sizeof gd, "%s/%s", gateway, device_id);
    snprintf(url, sizeof url, "Device?identifier=%s|%s", RELAIS_FHIR_DEVICE_SYSTEM, gd);
    json_t *dev_id = obj_set(json_object(), "system", str(RELAIS_FHIR_DEVICE_SYSTEM));
    dev_id = obj_set(dev_id, "value", str(gd));
    json_t *d = obj_set(json_object(), "resourceType", str("Device"));
    d = obj_set(d, "identifier", arr_add(arr1(uuid_identifier(uuid)), dev_id));
    d = obj_set(d, "status", str("active"));
    json_t *dn = obj_set(json_object(), "name", str(device_id));
    d = obj_set(d, "deviceName", arr1(obj_set(dn, "type", str("other"))));
    if (kind && *kind) d = obj_set(d, "type", concept(coding(KIND_SYS, kind, NULL), kind));
    if (has_battery) {
        json_t *p = obj_set(json_object(), "type",
                            concept(coding(PROP_SYS, "battery", NULL), "battery level"));
        p = obj_set(p, "valueQuantity", arr1(quantity(battery, "%", "%")));
        d = obj_set(d, "property", arr1(p));
    }
    if (patient && *patient) d = obj_set(d, "patient", patient_ref(patient));
    if (last_seen_ms > 0) {
        if (relais_fhir_time(last_seen_ms, seen)) {
            json_decref(d);
            return RELAIS_EINVAL;
        }
        snprintf(text, sizeof text, "last seen by gateway %s at %s", gateway, seen);
        d = obj_set(d, "note", arr1(note(text, seen)));
    }
    if (!d) return RELAIS_ENOMEM;
    return append_entry(entries, uuid, d, "PUT", url, NULL);
}

json_t *relais_fhir_transaction(json_t *entries)
{
    if (!json_is_array(entries)) {
        json_decref(entries);
        return NULL;
    }
    json_t *b = obj_set(json_object(), "resourceType", str("Bundle"));
    b = obj_set(b, "type", str("transaction"));
    if (json_array_size(entries)) return obj_set(b, "entry", entries);
    json_decref(entries); /* FHIR has no empty arrays (ele-1) */
    return b;
}

char *relais_fhir_dumps(const json_t *doc)
{
    return json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
}

/* ---- alert messages ---- */

static const char *severity_of(int prio)
{
    return prio == RELAIS_PRIO_HIGH ? "high" : prio == RELAIS_PRIO_MEDIUM ? "moderate" : "low";
}

static const char *comm_priority_of(int prio)
{
    return prio == RELAIS_PRIO_HIGH ? "stat" : prio == RELAIS_PRIO_MEDIUM ? "urgent" : "routine";
}

static const char *prio_name(int prio)
{
    return prio == RELAIS_PRIO_HIGH ? "HIGH" : prio == RELAIS_PRIO_MEDIUM ? "MEDIUM" : "LOW";
}

/* One evidence reading {"device","metric","value","t_ms"} as a message
 * entry; its reference goes to refs.  Returns 0, 1 (added) or < 0. */
static int evidence_entry(json_t *entries, json_t *refs, const char *gateway,
                          const struct relais_alert *a, size_t index, const json_t *rd)
{
    const char *device = json_string_value(json_object_get(rd, "device"));
    const char *metric = json_string_value(json_object_get(rd, "metric"));
    const json_t *value = json_object_get(rd, "value");
    const json_t *t = json_object_get(rd, "t_ms");
    if (!device || !metric || !json_is_number(value) || !json_is_integer(t)) return 0;
    char name[NAME_MAX_], uuid[37], full[UUID_URN_];
    int64_t t_ms = (int64_t)json_integer_value(t);
    snprintf(name, sizeof name, "alert/%s/evidence/%zu/%s/%s/%" PRId64, a->id, index, device,
             metric, t_ms);
    relais_fhir_uuid5(name, uuid);
    struct obs o = {
        .uuid = uuid,
        .gateway = gateway,
        .device = device,
        .patient = a->patient[0] ? a->patient : NULL,
        .metric = metric,
        .kind = RELAIS_READING_NUMBER,
        .value = json_number_value(value),
        .unit = NULL, /* the evidence keeps no unit: known metrics have theirs */
        .t_ms = t_ms,
        .time_source = RELAIS_TIME_DEVICE,
    };
    if (is_bp(metric)) {
        int k = !strcmp(metric, "bp_dia");
        o.bp_has[k] = true;
        o.bp_value[k] = o.value;
    }
    json_t *r = observation(&o);
    if (!r) return RELAIS_EINVAL;
    snprintf(full, sizeof full, "urn:uuid:%s", uuid);
    json_t *e = obj_set(json_object(), "fullUrl", str(full));
    e = obj_set(e, "resource", r);
    if (!e || json_array_append_new(entries, e) || json_array_append_new(refs, uuid_ref(uuid)))
        return RELAIS_ENOMEM;
    return 1;
}

/* Renders the readings of the evidence as entries (refs: their references)
 * and the rest as text into detail.  Returns 0 or < 0. */
static int render_evidence(json_t *entries, json_t *refs, char *detail, size_t size,
                           const char *gateway, const struct relais_alert *a)
{
    json_t *ev = json_loads(a->evidence, JSON_REJECT_DUPLICATES, NULL);
    size_t index = 0, used = strlen(detail);
    int rc = RELAIS_OK;
    if (!json_is_object(ev)) {
        if (a->evidence[0])
            snprintf(detail + used, size - used, "; evidence: %.*s", (int)(size / 2), a->evidence);
        json_decref(ev);
        return RELAIS_OK;
    }
    const char *key;
    json_t *v, *rest = json_object();
    if (!rest) rc = RELAIS_ENOMEM;
    json_object_foreach(ev, key, v)
    {
        if (rc < 0) break;
        if (!strcmp(key, "why")) continue; /* already the detail's first sentence */
        if (!strcmp(key, "reading") || !strcmp(key, "readings")) {
            if (json_is_object(v)) {
                int k = evidence_entry(entries, refs, gateway, a, index++, v);
                if (k < 0)
                    rc = k;
                else if (k == 0 && json_object_set(rest, key, v))
                    rc = RELAIS_ENOMEM;
                continue;
            }
            if (json_is_array(v)) {
                size_t i;
                json_t *item;
                bool all = true;
                json_array_foreach(v, i, item)
                {
                    int k = evidence_entry(entries, refs, gateway, a, index++, item);
                    if (k < 0) {
                        rc = k;
                        break;
                    }
                    all = all && k;
                }
                /* items that are not readings stay as text (with the rest) */
                if (!all && json_object_set(rest, key, v)) rc = RELAIS_ENOMEM;
                continue;
            }
        }
        if (json_object_set(rest, key, v)) rc = RELAIS_ENOMEM;
    }
    if (!rc && json_object_size(rest)) {
        char *text = json_dumps(rest, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
        if (!text)
            rc = RELAIS_ENOMEM;
        else
            snprintf(detail + used, size - used, "; evidence: %s", text);
        free(text);
    }
    json_decref(rest);
    json_decref(ev);
    return rc;
}

json_t *relais_fhir_alert_message(const char *gateway, const struct relais_alert *a,
                                  const struct relais_alert_event *ev)
{
    if (!gateway || !a || !ev || !ev->event || !a->id[0]) return NULL;
    char name[NAME_MAX_], issue[37], header[37], comm[37], bundle[37];
    char when[32], raised[32], text[1024], detail[2600], source[96], dest[96];
    const char *team = ev->team && *ev->team ? ev->team : a->team[0] ? a->team : "unassigned";
    const char *patient = a->patient[0] ? a->patient : RELAIS_FHIR_UNBOUND;
    if (relais_fhir_time(ev->at_ms, when) || relais_fhir_time(a->raised_ms, raised)) return NULL;

    snprintf(name, sizeof name, "alert/%s", a->id);
    relais_fhir_uuid5(name, issue);
    snprintf(name, sizeof name, "alert/%s/event/%" PRId64 "/header", a->id, ev->id);
    relais_fhir_uuid5(name, header);
    snprintf(name, sizeof name, "alert/%s/event/%" PRId64 "/communication", a->id, ev->id);
    relais_fhir_uuid5(name, comm);
    snprintf(name, sizeof name, "alert/%s/event/%" PRId64, a->id, ev->id);
    relais_fhir_uuid5(name, bundle);
    snprintf(source, sizeof source, "urn:relais:gateway:%s", gateway);
    snprintf(dest, sizeof dest, "urn:relais:team:%s", team);

    /* the reason: "why" of the evidence, else the event's detail */
    json_t *evj = json_loads(a->evidence, 0, NULL);
    const char *why = json_string_value(json_object_get(evj, "why"));
    snprintf(detail, sizeof detail, "%s alert (%s) for patient %s: %s", a->rule,
             prio_name(a->priority), patient,
             why          ? why
             : ev->detail ? ev->detail
                          : a->rule);
    json_decref(evj);

    json_t *entries = json_array(), *refs = json_array(), *b = NULL;
    if (!entries || !refs) goto fail;
    /* slots 0..2: header, issue, communication; evidence Observations follow */
    if (json_array_append_new(entries, json_null()) ||
        json_array_append_new(entries, json_null()) || json_array_append_new(entries, json_null()))
        goto fail;
    if (render_evidence(entries, refs, detail, sizeof detail, gateway, a) < 0) goto fail;

    json_t *alert_id = obj_set(json_object(), "system", str(RELAIS_FHIR_ALERT_SYSTEM));
    alert_id = obj_set(alert_id, "value", str(a->id));
    json_t *di = obj_set(json_object(), "resourceType", str("DetectedIssue"));
    di = obj_set(di, "identifier", arr_add(arr1(alert_id), uuid_identifier(issue)));
    di = obj_set(di, "status", str("final"));
    di = obj_set(di, "code", concept(coding(RELAIS_FHIR_RULE_SYSTEM, a->rule, NULL), a->rule));
    di = obj_set(di, "severity", str(severity_of(a->priority)));
    di = obj_set(di, "patient", patient_ref(patient));
    di = obj_set(di, "identifiedDateTime", str(raised));
    if (json_array_size(refs)) {
        di = obj_set(di, "evidence", arr1(obj_set(json_object(), "detail", refs)));
        refs = NULL;
    }
    di = obj_set(di, "detail", str(detail));

    int n = snprintf(text, sizeof text, "relais alert %s: %s; rule %s; priority %s; team %s", a->id,
                     ev->event, a->rule, prio_name(ev->priority), team);
    if (ev->by && n > 0 && (size_t)n < sizeof text)
        n += snprintf(text + n, sizeof text - (size_t)n, "; by %s", ev->by);
    if (ev->detail && n > 0 && (size_t)n < sizeof text)
        snprintf(text + n, sizeof text - (size_t)n, "; %s", ev->detail);
    json_t *c = obj_set(json_object(), "resourceType", str("Communication"));
    c = obj_set(c, "identifier", arr1(uuid_identifier(comm)));
    c = obj_set(c, "status", str("completed"));
    c = obj_set(c, "category",
                arr1(concept(coding(RELAIS_FHIR_EVENT_SYSTEM, ev->event, NULL), NULL)));
    c = obj_set(c, "priority", str(comm_priority_of(ev->priority)));
    c = obj_set(c, "subject", patient_ref(patient));
    c = obj_set(c, "about", arr1(uuid_ref(issue)));
    c = obj_set(c, "sent", str(when));
    c = obj_set(c, "recipient", arr1(ident_ref("CareTeam", RELAIS_FHIR_TEAM_SYSTEM, team)));
    c = obj_set(c, "payload", arr1(obj_set(json_object(), "contentString", str(text))));

    json_t *dst = obj_set(json_object(), "name", str(team));
    dst = obj_set(dst, "endpoint", str(dest));
    json_t *src = obj_set(json_object(), "name", str(gateway));
    src = obj_set(src, "software", str("relais"));
    src = obj_set(src, "endpoint", str(source));
    json_t *h = obj_set(json_object(), "resourceType", str("MessageHeader"));
    h = obj_set(h, "eventCoding", coding(RELAIS_FHIR_EVENT_SYSTEM, ev->event, NULL));
    h = obj_set(h, "destination", arr1(dst));
    h = obj_set(h, "source", src);
    h = obj_set(h, "focus", arr_add(arr1(uuid_ref(issue)), uuid_ref(comm)));

    const char *uuids[3] = {header, issue, comm};
    json_t *res[3] = {h, di, c};
    bool ok = h && di && c;
    for (int i = 0; i < 3; i++) {
        char full[UUID_URN_];
        snprintf(full, sizeof full, "urn:uuid:%s", uuids[i]);
        json_t *e = ok ? obj_set(json_object(), "fullUrl", str(full)) : NULL;
        if (e)
            e = obj_set(e, "resource", res[i]);
        else
            json_decref(res[i]);
        if (!e || json_array_set_new(entries, (size_t)i, e)) ok = false;
    }
    if (!ok) goto fail;

    json_t *bid = uuid_identifier(bundle);
    b = obj_set(json_object(), "resourceType", str("Bundle"));
    b = obj_set(b, "identifier", bid);
    b = obj_set(b, "type", str("message"));
    b = obj_set(b, "timestamp", str(when));
    b = obj_set(b, "entry", entries);
    json_decref(refs);
    return b;
fail:
    json_decref(entries);
    json_decref(refs);
    return NULL;
}
