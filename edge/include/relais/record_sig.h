/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signed dose records (docs/contract.md "Signed dose records"): a pack that
 * holds a dose record carries the HMAC-SHA256, under its device's 32-byte
 * record key, of the signature head (relais/wire.h relais_wire_sig_head:
 * context, device id, seq) followed by the exact body bytes.  relaisd
 * verifies it before storing the pack; a neighbour on the home network who
 * does not hold the key cannot forge a dose, nor replay a signed body under
 * another seq or device.
 */
#ifndef RELAIS_RECORD_SIG_H
#define RELAIS_RECORD_SIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relais/senml.h"
#include "relais/wire.h"

/* The MAC of body (len bytes) sent by device as seq, under key.  Everything
 * is borrowed for the call.  Returns RELAIS_OK, or RELAIS_EINVAL (bad device
 * id or seq; mac is then zeroed). */
int relais_record_sig_compute(const uint8_t key[RELAIS_WIRE_RECORD_KEY_LEN], const char *device,
                              uint64_t seq, const uint8_t *body, size_t len,
                              uint8_t mac[RELAIS_WIRE_SIG_LEN]);

/* Whether sig (sig_len bytes) is the MAC of that body, compared in constant
 * time.  Returns RELAIS_OK when it verifies, RELAIS_EINVAL when sig_len is
 * not RELAIS_WIRE_SIG_LEN, RELAIS_EPERM when the MAC differs. */
int relais_record_sig_verify(const uint8_t key[RELAIS_WIRE_RECORD_KEY_LEN], const char *device,
                             uint64_t seq, const uint8_t *body, size_t len, const uint8_t *sig,
                             size_t sig_len);

/* Whether a decoded pack holds a dose record (metric "dose"): such a pack
 * must be signed. */
bool relais_pack_has_dose(const struct relais_pack *pack);

#endif
