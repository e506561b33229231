/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of what the hospital sends back (edge/src/forward_intake.c):
 * the alert acknowledgement {"alert","action","by","at"}.  Accepted: ack and
 * resolve, members in any order, fractional seconds and an offset.
 * Refused with RELAIS_EINVAL and a reason, leaving the outputs untouched:
 * an unknown member, a member that is not a string, "at" missing or not a
 * date and time, another action, an alert id or name too long for its
 * buffer, an empty alert id, duplicate keys, not an object, invalid JSON,
 * an empty body and one over 4096 bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "relais/engine.h"
#include "relais/error.h"
#include "relais/forward.h"
#include "relais/store_care.h"

#define AT "2026-03-01T08:15:00Z"

struct parsed {
    char alert[RELAIS_ALERT_ID_MAX + 1];
    char by[65];
    char err[256];
    int action;
};

static int parse(struct parsed *p, const char *body)
{
    memset(p, 0, sizeof *p);
    snprintf(p->alert, sizeof p->alert, "untouched");
    snprintf(p->by, sizeof p->by, "untouched");
    p->action = -1;
    return relais_forward_parse_ack(body, strlen(body), p->alert, sizeof p->alert, &p->action,
                                    p->by, sizeof p->by, p->err, sizeof p->err);
}

/* Refused, err contains why, nothing else written. */
static void refused(const char *body, const char *why)
{
    struct parsed p;

    int rc = parse(&p, body);
    if (rc != RELAIS_EINVAL) fail_msg("accepted (%d): %s", rc, body);
    if (!strstr(p.err, why)) fail_msg("'%s' does not say '%s' for %s", p.err, why, body);
    assert_string_equal(p.alert, "untouched");
    assert_string_equal(p.by, "untouched");
    assert_int_equal(p.action, -1);
}

static void test_ack_accepted(void **state)
{
    struct parsed p;

    (void)state;
    assert_int_equal(parse(&p, "{\"alert\":\"gw-1-42\",\"action\":\"ack\",\"by\":\"dr.martin\","
                               "\"at\":\"" AT "\"}"),
                     RELAIS_OK);
    assert_string_equal(p.alert, "gw-1-42");
    assert_string_equal(p.by, "dr.martin");
    assert_int_equal(p.action, RELAIS_ACT_ACK);
    assert_string_equal(p.err, "");
}

static void test_resolve_accepted(void **state)
{
    struct parsed p;

    (void)state;
    /* any member order, fractional seconds, an offset, a name with spaces */
    assert_int_equal(parse(&p, " {\"at\":\"2026-03-01T08:15:30.250+01:00\",\"by\":\"IDE Durand\","
                               "\"action\":\"resolve\",\"alert\":\"gw-1-7\"} "),
                     RELAIS_OK);
    assert_string_equal(p.alert, "gw-1-7");
    assert_string_equal(p.by, "IDE Durand");
    assert_int_equal(p.action, RELAIS_ACT_RESOLVE);
}

static void test_unknown_member(void **state)
{
    (void)state;
    refused("{\"alert\":\"a\",\"action\":\"ack\",\"by\":\"b\",\"at\":\"" AT "\",\"note\":\"x\"}",
            "note: unknown member");
    /* a long unknown key is cut in the message */
    char body[512], key[201];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    snprintf(body, sizeof body, "{\"%s\":\"x\"}", key);
    refused(body, "kkkk: unknown member");
}

static void test_member_not_string(void **state)
{
    (void)state;
    refused("{\"alert\":42,\"action\":\"ack\",\"by\":\"b\",\"at\":\"" AT "\"}",
            "alert: must be a string");
    refused("{\"alert\":\"a\",\"action\":\"ack\",\"by\":null,\"at\":\"" AT "\"}",
            "by: must be a string");
    refused("{\"alert\":\"a\",\"action\":[\"ack\"],\"by\":\"b\",\"at\":\"" AT "\"}",
            "action: must be a string");
    refused("{\"alert\":\"a\",\"action\":\"ack\",\"by\":\"b\",\"at\":1772352900}",
            "at: must be a string");
}

static void test_missing_members(void **state)
{
    (void)state;
    refused("{\"alert\":\"a\",\"action\":\"ack\",\"by\":\"b\"}", "at: missing");
    refused("{\"action\":\"ack\",\"by\":\"b\",\"at\":\"" AT "\"}", "alert: missing");
    refused("{\"alert\":\"\",\"action\":\"ack\",\"by\":\"b\",\"at\":\"" AT "\"}", "alert: missing");
    refused("{\"alert\":\"a\",\"by\":\"b\",\"at\":\"" AT "\"}", "action: must be");
    refused("{\"alert\":\"a\",\"action\":\"ack\",\"at\":\"" AT "\"}", "by: missing");
    refused("{\"alert\":\"a\",\"action\":\"ack\",\"by\":\"\",\"at\":\"" AT "\"}",
            "by: missing, empty");
    refused("{}", "alert: missing");
}

static void test_bad_at(void **state)
{
    static const char *const bad[] = {
        "",
        "yesterday",
        "2026-03-01",
        "2026-03-01 08:15:00",
        "2026-13-01T08:15:00Z",
        "2026-00-01T08:15:00Z",
        "2026-03-32T08:15:00Z",
        "2026-03-00T08:15:00Z",
        "2026-03-01T24:00:00Z",
        "2026-03-01T08:60:00Z",
        "2026-03-01T08:15:61Z",
        "2026-03-01T08:15:-1Z",
        "2026-03-01T08:15Z",
        /* what a scanf-based check let through */
        "2026-03-01T-1:-5:00Z",
        "2026-03-01T08:15:nanZ",
        "2026-02-31T08:15:00Z",
        "2025-02-29T08:15:00Z",
        "  26- 3- 1T 8: 5: 0",
        "2026-03-01T08:15:00Zjunk",
        "2026-03-01T08:15:00",
        "2026-03-01T08:15:00+1:00",
        "2026-03-01T08:15:00.Z",
    };
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"alert\":\"a\",\"action\":\"ack\",\"by\":\"b\",\"at\":\"%s\"}", bad[i]);
        refused(body, "at: not an ISO 8601 instant");
    }
}

static void test_bad_action(void **state)
{
    (void)state;
    refused("{\"alert\":\"a\",\"action\":\"close\",\"by\":\"b\",\"at\":\"" AT "\"}",
            "action: must be \"ack\" or \"resolve\"");
    refused("{\"alert\":\"a\",\"action\":\"ACK\",\"by\":\"b\",\"at\":\"" AT "\"}",
            "action: must be");
    refused("{\"alert\":\"a\",\"action\":\"\",\"by\":\"b\",\"at\":\"" AT "\"}", "action: must be");
}

static void test_too_long(void **state)
{
    char id[RELAIS_ALERT_ID_MAX + 2], name[66], body[512];
    struct parsed p;

    (void)state;
    /* the longest alert id and name that fit are taken whole */
    memset(id, 'i', RELAIS_ALERT_ID_MAX);
    id[RELAIS_ALERT_ID_MAX] = '\0';
    memset(name, 'n', 64);
    name[64] = '\0';
    snprintf(body, sizeof body,
             "{\"alert\":\"%s\",\"action\":\"ack\",\"by\":\"%s\",\"at\":\"" AT "\"}", id, name);
    assert_int_equal(parse(&p, body), RELAIS_OK);
    assert_string_equal(p.alert, id);
    assert_string_equal(p.by, name);
    /* one more character is refused, never cut */
    id[RELAIS_ALERT_ID_MAX] = 'i';
    id[RELAIS_ALERT_ID_MAX + 1] = '\0';
    snprintf(body, sizeof body,
             "{\"alert\":\"%s\",\"action\":\"ack\",\"by\":\"%s\",\"at\":\"" AT "\"}", id, name);
    refused(body, "alert: missing or longer than 64");
    id[RELAIS_ALERT_ID_MAX] = '\0';
    name[64] = 'n';
    name[65] = '\0';
    snprintf(body, sizeof body,
             "{\"alert\":\"%s\",\"action\":\"ack\",\"by\":\"%s\",\"at\":\"" AT "\"}", id, name);
    refused(body, "by: missing, empty or longer than 64");
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    refused("{\"alert\":\"a\",\"alert\":\"b\",\"action\":\"ack\",\"by\":\"b\",\"at\":\"" AT "\"}",
            "not a JSON object: ");
    refused("{\"alert\":\"a\",\"action\":\"ack\",\"by\":\"b\",\"at\":\"" AT "\",\"at\":\"" AT "\"}",
            "not a JSON object: ");
}

static void test_not_an_object(void **state)
{
    (void)state;
    refused("[\"a\",\"ack\",\"b\"]", "not a JSON object");
    refused("\"ack\"", "not a JSON object");
    refused("42", "not a JSON object");
    refused("null", "not a JSON object");
    refused("{\"alert\":\"a\"", "not a JSON object: ");
    refused("{\"alert\":\"a\",\"action\":\"ack\",\"by\":\"b\",\"at\":\"" AT "\"} trailing",
            "not a JSON object: ");
    refused("not json", "not a JSON object: ");
}

static void test_body_size(void **state)
{
    struct parsed p;
    char body[4200];

    (void)state;
    refused("", "at most 4096 bytes");
    /* a valid ack padded with spaces: 4096 bytes is taken, 4097 is not */
    const char *ack = "{\"alert\":\"a\",\"action\":\"ack\",\"by\":\"b\",\"at\":\"" AT "\"}";
    size_t n = strlen(ack);
    memset(body, ' ', sizeof body);
    memcpy(body, ack, n);
    body[4096] = '\0';
    assert_int_equal(parse(&p, body), RELAIS_OK);
    assert_string_equal(p.alert, "a");
    body[4096] = ' ';
    body[4097] = '\0';
    refused(body, "at most 4096 bytes");
    /* the length given is what counts, not a NUL */
    assert_int_equal(relais_forward_parse_ack(ack, 0, p.alert, sizeof p.alert, &p.action, p.by,
                                              sizeof p.by, p.err, sizeof p.err),
                     RELAIS_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ack_accepted),    cmocka_unit_test(test_resolve_accepted),
        cmocka_unit_test(test_unknown_member),  cmocka_unit_test(test_member_not_string),
        cmocka_unit_test(test_missing_members), cmocka_unit_test(test_bad_at),
        cmocka_unit_test(test_bad_action),      cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_duplicate_keys),  cmocka_unit_test(test_not_an_object),
        cmocka_unit_test(test_body_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
