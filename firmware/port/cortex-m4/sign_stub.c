/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The record signature seam (relais/pb/sign.h) as a stub: compiled, not run.
 * A real port computes HMAC-SHA256 here with its hash engine and the record
 * key from protected flash; this one has neither, so it refuses (a box
 * built from it sends nothing that relaisd would take as a dose).
 */
#include "relais/pb/sign.h"

int relais_pb_sign(const uint8_t *head, size_t head_len, const uint8_t *body, size_t len,
                   uint8_t mac[RELAIS_WIRE_SIG_LEN])
{
    (void)head;
    (void)head_len;
    (void)body;
    (void)len;
    for (size_t i = 0; i < RELAIS_WIRE_SIG_LEN; i++) {
        mac[i] = 0;
    }
    return -1;
}
