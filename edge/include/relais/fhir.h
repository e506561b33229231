/* SPDX-License-Identifier: Apache-2.0 */
/*
 * FHIR R4 rendering of what relais sends to the hospital (DESIGN.md 3.2 and
 * 4): transaction Bundles of Observation / MedicationAdministration / Device
 * entries for `relais/gw/{gateway}/obs/{patient}`, and message Bundles
 * (MessageHeader + DetectedIssue + Communication + evidence Observations)
 * for `relais/gw/{gateway}/alert/{team}`.
 *
 * Pure functions: no I/O, no clock, no store.  The same input always gives
 * the same document, and every resource carries a deterministic identifier
 * (a name-based UUID, version 5, in the relais namespace) so that a server
 * deduplicates what a retry or a crash sends twice: transaction entries are
 * conditional creates (`ifNoneExist: identifier=urn:relais:id|urn:uuid:...`),
 * the device status a conditional update.
 *
 * Identifier names (the UUID-5 input; gateway G, device D, patient P):
 *   Observation               obs/G/D/{seq}/{idx}   (BP panel: idx of its first component)
 *   MedicationAdministration  dose/G/D/{seq}/{idx}
 *   missed dose               missed/G/P/{slot_key}
 *   Device                    device/G/D
 *   DetectedIssue (alert)     alert/{alert id}
 *   evidence Observation      alert/{alert id}/evidence/{index}/{device}/{metric}/{t_ms}
 *   MessageHeader             alert/{alert id}/event/{event id}/header
 *   Communication             alert/{alert id}/event/{event id}/communication
 *   message Bundle            alert/{alert id}/event/{event id}
 *
 * Patient: subject {identifier {system "urn:relais:patient", value P}}.  A
 * device that no care plan binds (patient NULL or "") has Observations
 * without subject; a MedicationAdministration, whose subject FHIR requires,
 * then names the pseudonym "unbound" (DESIGN.md 6).
 *
 * Numbers are jansson reals: serialise with relais_fhir_dumps() (15
 * significant digits) so that 37.2 is sent as 37.2, not 37.200000000000003.
 */
#ifndef RELAIS_FHIR_H
#define RELAIS_FHIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "relais/store.h"      /* struct relais_stored_pack, struct relais_stored_reading */
#include "relais/store_care.h" /* struct relais_alert, struct relais_alert_event */

/* Identifier systems. */
#define RELAIS_FHIR_ID_SYSTEM      "urn:relais:id"      /* value "urn:uuid:<uuid5>" */
#define RELAIS_FHIR_PATIENT_SYSTEM "urn:relais:patient" /* value: the pseudonym */
#define RELAIS_FHIR_DEVICE_SYSTEM  "urn:relais:device"  /* value "{gateway}/{device}" */
#define RELAIS_FHIR_ALERT_SYSTEM   "urn:relais:alert"   /* value: the alert id */
#define RELAIS_FHIR_TEAM_SYSTEM    "urn:relais:team"    /* value: the team name */
#define RELAIS_FHIR_METRIC_SYSTEM  "urn:relais:metric"  /* code: the SenML metric */
#define RELAIS_FHIR_EVENT_SYSTEM   "urn:relais:alert-event"
#define RELAIS_FHIR_RULE_SYSTEM    "urn:relais:rule"
#define RELAIS_FHIR_UNBOUND        "unbound"

/* The relais UUID namespace: uuid5(NameSpace_URL 6ba7b811-..., "urn:relais"). */
#define RELAIS_FHIR_NAMESPACE "8fe96aaf-9c94-5d08-a977-bd0991b69d1a"

/* Outbox lanes, in delivery order (DESIGN.md 4). */
enum relais_lane {
    RELAIS_LANE_ALERT = 0,
    RELAIS_LANE_ADHERENCE = 1,
    RELAIS_LANE_DEVICE = 2,
    RELAIS_LANE_VITALS = 3,
    RELAIS_LANE_COUNT = 4
};

/* "alert", "adherence", "device", "vitals"; "?" for anything else. */
const char *relais_lane_name(int lane);

/* Lane of one stored record's metric: dose -> ADHERENCE, battery -> DEVICE,
 * lid -> -1 (not forwarded), everything else (temp spo2 hr bp_sys bp_dia
 * weight resp steps pro_* and unknown metrics) -> VITALS.  NULL -> -1. */
int relais_fhir_lane_of(const char *metric);

/* RFC 4122 version-5 (SHA-1) name-based UUID of name in namespace ns (16
 * bytes, network order).  out: 36 characters + NUL, lower case.  Returns
 * RELAIS_OK, or RELAIS_EINTERNAL when the hash fails (out is then ""). */
int relais_fhir_uuid5_ns(const uint8_t ns[16], const char *name, char out[37]);
/* The same in the relais namespace (RELAIS_FHIR_NAMESPACE); out is "" in the
 * (impossible for software SHA-1) case of a hash failure. */
void relais_fhir_uuid5(const char *name, char out[37]);

/* ms since 1970 as ISO 8601 UTC with milliseconds, "2026-11-22T08:00:00.000Z".
 * Returns RELAIS_OK or RELAIS_ERANGE (out is then ""). */
int relais_fhir_time(int64_t ms, char out[32]);

/*
 * Appends to entries (a JSON array of transaction Bundle.entry objects) the
 * entries for the records of one stored pack that belong to lane.
 * recs[0..n) are ALL the pack's records, in pack order (the BP panel pairs
 * bp_sys and bp_dia of the same pack and time).  patient NULL or "": the
 * device is not bound to a patient.  A dose record becomes a
 * MedicationAdministration only when pack->flags has RELAIS_PACK_FLAG_SIGNED
 * (its signature was verified); otherwise it yields nothing.  Everything is
 * borrowed for the call.
 * Returns the number of entries appended (>= 0), or RELAIS_EINVAL /
 * RELAIS_ENOMEM (entries may then hold some of the pack's entries: discard).
 */
int relais_fhir_pack_entries(json_t *entries, const char *gateway, const char *patient,
                             const struct relais_stored_pack *pack,
                             const struct relais_stored_reading *recs, size_t n, int lane);

/* Appends the entry for a dose slot the rules judged missed:
 * MedicationAdministration status "not-done" (statusReason text "missed"),
 * effectiveDateTime due_ms, the slot key in a note.  drug may be NULL
 * ("care-plan medication").  Returns 1 (entries appended), RELAIS_EINVAL or
 * RELAIS_ENOMEM. */
int relais_fhir_missed_dose_entry(json_t *entries, const char *gateway, const char *patient,
                                  const char *slot_key, const char *drug, int64_t due_ms);

/* Appends the device status entry: a Device, conditional update (request PUT
 * "Device?identifier=urn:relais:device|{gateway}/{device}"), status active,
 * the kind as Device.type (system "urn:relais:device-kind"), the patient
 * when bound (patient NULL or "": none), battery as Device.property
 * (valueQuantity %) when has_battery, last seen as a note (Annotation.time =
 * last_seen_ms; 0: no note).  Returns 1, RELAIS_EINVAL or RELAIS_ENOMEM. */
int relais_fhir_device_entry(json_t *entries, const char *gateway, const char *device_id,
                             const char *kind, const char *patient, bool has_battery,
                             double battery, int64_t last_seen_ms);

/* A transaction Bundle around entries (the reference is stolen, also on
 * failure); no entries gives a Bundle without `entry` (FHIR has no empty
 * arrays).  NULL when out of memory or entries is not an array. */
json_t *relais_fhir_transaction(json_t *entries);

/*
 * The message Bundle for one alert event (DESIGN.md 4): MessageHeader
 * (event = ev->event in "urn:relais:alert-event", source endpoint
 * "urn:relais:gateway:{gateway}", destination the team
 * "urn:relais:team:{team}", focus the DetectedIssue and the Communication),
 * the DetectedIssue (identifier[0] = {urn:relais:alert, a->id}, the patient,
 * severity from the priority, code = the rule, detail = the reason and any
 * evidence that is not a reading, evidence.detail = the evidence
 * Observations), a Communication to the team (priority stat / urgent /
 * routine, payload text with the event, rule, priority, by and detail), and
 * one Observation per reading in a->evidence ({"reading": {...}} or an array
 * of them, or "readings": [...]).  Bundle.identifier and timestamp come
 * from the event (ev->id, ev->at_ms).  ev->team NULL: a->team.
 * Returns a new reference, or NULL on bad arguments or out of memory.
 */
json_t *relais_fhir_alert_message(const char *gateway, const struct relais_alert *a,
                                  const struct relais_alert_event *ev);

/* Serialises a document compactly with 15 significant digits for reals
 * (jansson's default, 17, prints 37.2 as 37.200000000000003).  Free with
 * free(); NULL when out of memory. */
char *relais_fhir_dumps(const json_t *doc);

#endif
