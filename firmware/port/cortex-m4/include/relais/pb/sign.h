/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pill box's record signature seam (docs/firmware.md, docs/contract.md
 * "Signed dose records"): HMAC-SHA256, under the box's 32-byte record key,
 * of the signature head followed by the pack's body.  Behind it, on a real
 * board: the MCU's hash accelerator or mbedtls, and the key in protected
 * flash, provisioned from what `relaisctl device add ID --kind pillbox`
 * printed.  DESIGN 9 keeps crypto out of the core's flash and RAM budget:
 * sign_stub.c implements it as a stub (compiled, not run) that signs
 * nothing.
 */
#ifndef RELAIS_PB_SIGN_H
#define RELAIS_PB_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "relais/wire.h"

/* Writes the MAC of head[0..head_len) || body[0..len) into mac.  Returns 0,
 * or -1 when the key or the hash engine is unavailable (the pack waits). */
int relais_pb_sign(const uint8_t *head, size_t head_len, const uint8_t *body, size_t len,
                   uint8_t mac[RELAIS_WIRE_SIG_LEN]);

#endif
