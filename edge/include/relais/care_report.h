/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reports on the care tables as JSON, the same for relaisd's control socket,
 * relaisctl reading the store directly, and the scenario runner:
 *
 *   alerts      the alerts, newest last (open ones, or all)
 *   events      the alert history (raised, escalated, acknowledged...)
 *   adherence   the ABC taxonomy's implementation measures, per day and
 *               per cycle: taking adherence, timing adherence, correct-
 *               dosing days, drug holidays (docs/alerts.md#adherence)
 *   delays      delay of care: raise -> acknowledgement and raise ->
 *               resolution, per patient and per team
 *
 * docs/cli.md shows every field.
 */
#ifndef RELAIS_CARE_REPORT_H
#define RELAIS_CARE_REPORT_H

#include <jansson.h>
#include <stdint.h>

#include "relais/careplan.h"
#include "relais/store.h"
#include "relais/store_care.h"

json_t *relais_report_alert(const struct relais_alert *a);
/* NULL on a store error. */
json_t *relais_report_alerts(struct relais_store *st, const struct relais_alert_filter *f);
json_t *relais_report_events(struct relais_store *st, const char *alert, int64_t after_id);
json_t *relais_report_commands(struct relais_store *st, int64_t limit);
/* plan: the patient's care plan (the schedule); now_ms: days up to now. */
json_t *relais_report_adherence(struct relais_store *st, const struct relais_careplan *plan,
                                int64_t now_ms);
json_t *relais_report_delays(struct relais_store *st);

/* The newest stored plan, parsed (relaisctl).  RELAIS_ENOTFOUND when none. */
int relais_report_load_plan(struct relais_store *st, struct relais_careplan *out);

#endif
