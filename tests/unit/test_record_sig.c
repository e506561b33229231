/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of signed dose records (relais/record_sig.h, the wire library's
 * relais_wire_sig_head): the head's exact bytes and its refusals; a MAC
 * vector computed independently (openssl dgst -sha256 -mac HMAC); the
 * verification refusing another key, seq, device, a body changed by one
 * byte or cut short, a signature of the wrong length; relais_pack_has_dose.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "relais/error.h"
#include "relais/record_sig.h"
#include "relais/senml.h"
#include "relais/wire.h"

static const char BODY[] = "[{\"n\":\"dose\",\"vs\":\"am\"}]";

/* key 00 01 .. 1f, pillbox-1, seq 42, BODY:
 * { printf 'relais-dose-v1\0pillbox-1\042\0'; printf BODY; } |
 *   openssl dgst -sha256 -mac HMAC -macopt hexkey:000102..1f */
static const uint8_t VECTOR[32] = {0x6b, 0x89, 0xd8, 0x96, 0x03, 0x78, 0xc2, 0xa3, 0x63, 0x0d, 0x09,
                                   0x29, 0xe4, 0x3c, 0x68, 0x94, 0x0e, 0xc0, 0x80, 0xba, 0x47, 0x54,
                                   0xf1, 0xbf, 0x63, 0x42, 0xa7, 0xbb, 0x93, 0x5c, 0x06, 0x1a};

static void key_of(uint8_t key[RELAIS_WIRE_RECORD_KEY_LEN])
{
    for (int i = 0; i < RELAIS_WIRE_RECORD_KEY_LEN; i++)
        key[i] = (uint8_t)i;
}

static void test_head(void **state)
{
    uint8_t h[RELAIS_WIRE_SIG_HEAD_MAX];
    (void)state;
    static const char want[] = "relais-dose-v1\0pillbox-1\0"
                               "42";
    assert_int_equal(relais_wire_sig_head(h, sizeof h, "pillbox-1", 42), (int)sizeof want);
    assert_memory_equal(h, want, sizeof want); /* the final 0 byte included */
    assert_int_equal(relais_wire_sig_head(h, sizeof h, "b", 0), 15 + 2 + 2);
    assert_memory_equal(h,
                        "relais-dose-v1\0b\0"
                        "0\0",
                        19);
    /* the longest head fits RELAIS_WIRE_SIG_HEAD_MAX */
    assert_true(relais_wire_sig_head(h, sizeof h, "abcdefghijklmnopqrstuvwxyz012345",
                                     RELAIS_WIRE_SEQ_MAX) > 0);
    /* refusals: a bad id, a seq over 2^53-1, no room */
    assert_int_equal(relais_wire_sig_head(h, sizeof h, "Pillbox", 1), -1);
    assert_int_equal(relais_wire_sig_head(h, sizeof h, "", 1), -1);
    assert_int_equal(relais_wire_sig_head(h, sizeof h, "a", RELAIS_WIRE_SEQ_MAX + 1), -1);
    assert_int_equal(relais_wire_sig_head(h, 19, "b", 0), -1);
    assert_int_equal(relais_wire_sig_head(h, 20, "b", 0), 19);
}

static void test_vector_and_verify(void **state)
{
    uint8_t key[RELAIS_WIRE_RECORD_KEY_LEN], mac[RELAIS_WIRE_SIG_LEN];
    const uint8_t *b = (const uint8_t *)BODY;
    size_t n = strlen(BODY);
    (void)state;
    key_of(key);
    assert_int_equal(relais_record_sig_compute(key, "pillbox-1", 42, b, n, mac), RELAIS_OK);
    assert_memory_equal(mac, VECTOR, sizeof mac);
    assert_int_equal(relais_record_sig_verify(key, "pillbox-1", 42, b, n, VECTOR, 32), RELAIS_OK);
    /* another seq, device, key; the body cut short or changed by one byte */
    assert_int_equal(relais_record_sig_verify(key, "pillbox-1", 43, b, n, VECTOR, 32),
                     RELAIS_EPERM);
    assert_int_equal(relais_record_sig_verify(key, "pillbox-2", 42, b, n, VECTOR, 32),
                     RELAIS_EPERM);
    assert_int_equal(relais_record_sig_verify(key, "pillbox-1", 42, b, n - 1, VECTOR, 32),
                     RELAIS_EPERM);
    char changed[sizeof BODY];
    memcpy(changed, BODY, sizeof BODY);
    changed[19] = 'p'; /* "am" -> "pm" */
    assert_int_equal(
        relais_record_sig_verify(key, "pillbox-1", 42, (const uint8_t *)changed, n, VECTOR, 32),
        RELAIS_EPERM);
    uint8_t other[RELAIS_WIRE_RECORD_KEY_LEN];
    key_of(other);
    other[0] ^= 0x80;
    assert_int_equal(relais_record_sig_verify(other, "pillbox-1", 42, b, n, VECTOR, 32),
                     RELAIS_EPERM);
    /* every bit of the MAC counts */
    uint8_t flipped[32];
    for (size_t i = 0; i < sizeof flipped; i++) {
        memcpy(flipped, VECTOR, sizeof flipped);
        flipped[i] ^= 1;
        assert_int_equal(relais_record_sig_verify(key, "pillbox-1", 42, b, n, flipped, 32),
                         RELAIS_EPERM);
    }
    /* the wrong length, none at all; a bad device or seq */
    assert_int_equal(relais_record_sig_verify(key, "pillbox-1", 42, b, n, VECTOR, 31),
                     RELAIS_EINVAL);
    assert_int_equal(relais_record_sig_verify(key, "pillbox-1", 42, b, n, VECTOR, 33),
                     RELAIS_EINVAL);
    assert_int_equal(relais_record_sig_verify(key, "pillbox-1", 42, b, n, NULL, 32), RELAIS_EINVAL);
    assert_int_equal(relais_record_sig_compute(key, "Bad", 42, b, n, mac), RELAIS_EINVAL);
    assert_int_equal(
        relais_record_sig_verify(key, "pillbox-1", RELAIS_WIRE_SEQ_MAX + 1, b, n, VECTOR, 32),
        RELAIS_EINVAL);
}

static void test_has_dose(void **state)
{
    struct relais_pack p;
    struct relais_senml_error err;
    (void)state;
    relais_pack_init(&p);
    assert_int_equal(relais_senml_decode(&p, RELAIS_SENML_JSON, (const uint8_t *)BODY, strlen(BODY),
                                         "pillbox-1", 1795000000.0, &err),
                     RELAIS_OK);
    assert_true(relais_pack_has_dose(&p));
    assert_false(p.signed_ok); /* every decode resets it */
    static const char bat[] =
        "[{\"n\":\"lid\",\"vb\":true},{\"n\":\"battery\",\"u\":\"%EL\",\"v\":70}]";
    assert_int_equal(relais_senml_decode(&p, RELAIS_SENML_JSON, (const uint8_t *)bat, strlen(bat),
                                         "pillbox-1", 1795000000.0, &err),
                     RELAIS_OK);
    assert_false(relais_pack_has_dose(&p));
    relais_pack_cleanup(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head),
        cmocka_unit_test(test_vector_and_verify),
        cmocka_unit_test(test_has_dose),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
