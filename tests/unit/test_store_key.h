/* SPDX-License-Identifier: Apache-2.0 */
/* The tests' store key: made at random when the test process first asks. */
#ifndef RELAIS_TEST_STORE_KEY_H
#define RELAIS_TEST_STORE_KEY_H

#include "relais/crypto.h"
#include "relais/store.h"

#include <stdlib.h>

static inline const uint8_t *test_store_key(void)
{
    static uint8_t key[RELAIS_STORE_KEY_LEN];
    static int made;
    if (!made) {
        if (relais_random_bytes(key, sizeof key) != 0) abort();
        made = 1;
    }
    return key;
}

static inline const struct relais_store_opts *test_store_opts(void)
{
    static struct relais_store_opts o;
    o = (struct relais_store_opts){.key = test_store_key()};
    return &o;
}

#endif
