/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The devices table's record-signing keys (signed dose records,
 * docs/contract.md): a pill box has a 32-byte key with which it signs its
 * packs; other kinds have none; a revoked device loses it with its PSK.
 * Kept apart from struct relais_device (relais/store.h) for now.
 */
#ifndef RELAIS_STORE_DEVICES_H
#define RELAIS_STORE_DEVICES_H

#include <stdint.h>

#include "relais/store.h"
#include "relais/wire.h"

/* Sets (key non-NULL, borrowed for the call) or erases (NULL) the record key
 * of device id, inside a transaction.  RELAIS_ENOTFOUND when there is no
 * such device. */
int relais_store_device_record_key_set(struct relais_store *st, const char *id,
                                       const uint8_t key[RELAIS_WIRE_RECORD_KEY_LEN]);
/* The record key of device id into key: RELAIS_OK, or RELAIS_ENOTFOUND when
 * the device is unknown, revoked or has none (key is then zeroed).  Wipe key
 * after use. */
int relais_store_device_record_key_get(struct relais_store *st, const char *id,
                                       uint8_t key[RELAIS_WIRE_RECORD_KEY_LEN]);

#endif
