/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the hospital sends back through the forwarder (relais/forward.h,
 * "intake"), parsed apart from the connection so that it can be unit tested
 * and fuzzed (tests/fuzz/fuzz_ack.c): the acknowledgement of an alert.
 *
 * Invariant: on success alert and by are NUL-terminated within their
 * capacity and *action is an enum relais_alert_action; on failure nothing
 * but err is written.
 */
#include "relais/engine.h"
#include "relais/error.h"
#include "relais/forward.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* Digits only, n of them, into *out. */
static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* An FHIR/ISO 8601 instant: YYYY-MM-DDThh:mm:ss[.f+](Z|+hh:mm|-hh:mm), a real
 * calendar day. */
static bool iso_instant(const char *s)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, se, oh, om;
    if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || s[10] != 'T' || !digits(s + 11, 2, &h) || s[13] != ':' ||
        !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &se))
        return false;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 60)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap) return false;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9') return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'Z') return p[1] == '\0';
    if ((*p == '+' || *p == '-') && digits(p + 1, 2, &oh) && p[3] == ':' && digits(p + 4, 2, &om))
        return p[6] == '\0' && oh <= 14 && om <= 59;
    return false;
}

/* {"alert":"<id>","action":"ack"|"resolve","by":"<professional>","at":"<ISO 8601>"} */
int relais_forward_parse_ack(const void *body, size_t len, char *alert, size_t acap, int *action,
                             char *by, size_t bcap, char *err, size_t ecap)
{
    if (len == 0 || len > 4096) {
        snprintf(err, ecap, "body must be a JSON object of at most 4096 bytes");
        return RELAIS_EINVAL;
    }
    json_error_t je;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!o || !json_is_object(o)) {
        snprintf(err, ecap, "not a JSON object%s%s", o ? "" : ": ", o ? "" : je.text);
        json_decref(o);
        return RELAIS_EINVAL;
    }
    const char *key;
    json_t *v;
    int rc = RELAIS_OK;
    json_object_foreach(o, key, v)
    {
        if (strcmp(key, "alert") && strcmp(key, "action") && strcmp(key, "by") &&
            strcmp(key, "at")) {
            snprintf(err, ecap, "%.64s: unknown member", key);
            rc = RELAIS_EINVAL;
            break;
        }
        if (!json_is_string(v)) {
            snprintf(err, ecap, "%s: must be a string", key);
            rc = RELAIS_EINVAL;
            break;
        }
    }
    const char *a = json_string_value(json_object_get(o, "alert"));
    const char *ac = json_string_value(json_object_get(o, "action"));
    const char *b = json_string_value(json_object_get(o, "by"));
    const char *at = json_string_value(json_object_get(o, "at"));
    if (!rc && (!a || !a[0] || strlen(a) >= acap)) {
        snprintf(err, ecap, "alert: missing or longer than %zu", acap - 1);
        rc = RELAIS_EINVAL;
    }
    if (!rc && (!ac || (strcmp(ac, "ack") && strcmp(ac, "resolve")))) {
        snprintf(err, ecap, "action: must be \"ack\" or \"resolve\"");
        rc = RELAIS_EINVAL;
    }
    if (!rc && (!b || !b[0] || strlen(b) >= bcap)) {
        snprintf(err, ecap, "by: missing, empty or longer than %zu", bcap - 1);
        rc = RELAIS_EINVAL;
    }
    if (!rc && at) {
        if (!iso_instant(at)) {
            snprintf(err, ecap, "at: not an ISO 8601 instant (YYYY-MM-DDThh:mm:ss[.s]Z or +hh:mm)");
            rc = RELAIS_EINVAL;
        }
    } else if (!rc) {
        snprintf(err, ecap, "at: missing");
        rc = RELAIS_EINVAL;
    }
    if (!rc) {
        snprintf(alert, acap, "%s", a);
        snprintf(by, bcap, "%s", b);
        *action = strcmp(ac, "ack") == 0 ? RELAIS_ACT_ACK : RELAIS_ACT_RESOLVE;
    }
    json_decref(o);
    return rc;
}
