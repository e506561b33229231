/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the hospital's alert acknowledgement parser
 * (edge/src/forward_intake.c, relais_forward_parse_ack()).  Each input is a
 * message body; aborts when the result breaks the contract of
 * relais/forward.h:
 *
 *   accepted: the body is at most 4096 bytes and jansson (with duplicate
 *             keys rejected) reads it as an object of exactly the four
 *             string members alert, action, by, at; alert and by are
 *             NUL-terminated within their capacity and equal the members;
 *             alert is not empty; *action is ack or resolve as the member
 *             says; err untouched;
 *   refused:  RELAIS_EINVAL, a NUL-terminated non-empty err, alert, by and
 *             *action untouched.
 *
 * Each input is parsed twice: with relaisd's capacities and with tiny ones
 * (so that every "longer than" path and a truncated err are reached).
 *
 * Seeds: tests/fuzz/corpus/ack/ (ok-*, bad-*).
 * Build (from the project root, clang: the dev preset) and run:
 *   cmake --preset dev && cmake --build build/dev --target fuzz_ack
 *   build/dev/tests/fuzz_ack -max_total_time=60 tests/fuzz/corpus/ack/
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relais/engine.h"
#include "relais/error.h"
#include "relais/forward.h"
#include "relais/store_care.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FILL 0xa5

static bool untouched(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] != FILL) return false;
    return true;
}

static bool terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

static const char *member(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static void check_accepted(const uint8_t *data, size_t size, const char *alert, size_t acap,
                           int action, const char *by, size_t bcap)
{
    if (size == 0 || size > 4096) abort();
    if (!terminated(alert, acap) || !alert[0] || !terminated(by, bcap)) abort();
    json_t *o = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!o || !json_is_object(o) || json_object_size(o) != 4) abort();
    const char *a = member(o, "alert"), *ac = member(o, "action"), *b = member(o, "by");
    if (!a || !ac || !b || !member(o, "at")) abort();
    if (strcmp(a, alert) != 0 || strcmp(b, by) != 0) abort();
    if (strcmp(ac, "ack") == 0) {
        if (action != RELAIS_ACT_ACK) abort();
    } else if (strcmp(ac, "resolve") == 0) {
        if (action != RELAIS_ACT_RESOLVE) abort();
    } else {
        abort();
    }
    json_decref(o);
}

static void run(const uint8_t *data, size_t size, size_t acap, size_t bcap, size_t ecap)
{
    char alert[RELAIS_ALERT_ID_MAX + 1], by[65], err[256];
    int action = -7;

    if (acap > sizeof alert || bcap > sizeof by || ecap > sizeof err) abort();
    memset(alert, FILL, sizeof alert);
    memset(by, FILL, sizeof by);
    memset(err, FILL, sizeof err);
    int rc = relais_forward_parse_ack(data, size, alert, acap, &action, by, bcap, err, ecap);
    /* nothing past the capacities given is ever written */
    if (!untouched(alert + acap, sizeof alert - acap) || !untouched(by + bcap, sizeof by - bcap) ||
        !untouched(err + ecap, sizeof err - ecap))
        abort();
    if (rc == RELAIS_OK) {
        check_accepted(data, size, alert, acap, action, by, bcap);
        if (!untouched(err, sizeof err)) abort();
        return;
    }
    if (rc != RELAIS_EINVAL) abort();
    if (!terminated(err, ecap) || (ecap > 1 && !err[0])) abort();
    if (action != -7 || !untouched(alert, sizeof alert) || !untouched(by, sizeof by)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(data, size, RELAIS_ALERT_ID_MAX + 1, 65, 256);
    run(data, size, 2, 2, 8);
    return 0;
}
