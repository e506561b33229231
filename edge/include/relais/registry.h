/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The device registry: who may send, as which kind of device, for which
 * patient, with which DTLS pre-shared key.  Kept in the store (devices table)
 * and mirrored in memory for the CoAP server's per-handshake lookups.
 *
 * A device id is also its MQTT user name and its DTLS-PSK identity
 * (DESIGN 3.1).  Each device has its own key, minted with mbedtls's
 * CTR-DRBG; removing a device erases its key and tells the listeners (the
 * CoAP server closes its sessions).  Every add and remove is audited.
 */
#ifndef RELAIS_REGISTRY_H
#define RELAIS_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relais/store.h"
#include "relais/wire.h"

struct relais_registry;

/* Called after a device was removed (its sessions must go). */
typedef void (*relais_registry_removed_cb)(void *ud, const char *id);

/* Device kinds relais knows: pillbox, vitals, tablet, thermometer, oximeter,
 * bp-cuff, scale. */
bool relais_device_kind_valid(const char *kind);
/* A patient pseudonym: [A-Za-z0-9._-]{1,32}; "" means none. */
bool relais_patient_valid(const char *patient);

/* Loads every device of st (borrowed for the registry's lifetime). */
int relais_registry_create(struct relais_registry **out, struct relais_store *st);
void relais_registry_destroy(struct relais_registry *r);
/* Reads the store again (after another process changed it). */
int relais_registry_reload(struct relais_registry *r);

/* The active device of that id, or NULL (unknown or revoked).  Borrowed until
 * the next add, remove or reload. */
const struct relais_device *relais_registry_active(const struct relais_registry *r, const char *id,
                                                   size_t len);
/* The record-signing key of the active device id (a pill box's, minted by
 * relais_registry_add) into key: RELAIS_OK, or RELAIS_ENOTFOUND (unknown,
 * revoked, or a kind without one; key zeroed).  Wipe key after use. */
int relais_registry_record_key(const struct relais_registry *r, const char *id,
                               uint8_t key[RELAIS_WIRE_RECORD_KEY_LEN]);
size_t relais_registry_count(const struct relais_registry *r, bool active_only);

/*
 * Adds a device with a fresh key (a revoked device may be added again and gets
 * a new key) and, for a pill box, a fresh 32-byte record-signing key
 * (relais_registry_record_key), in its own transaction, audited as device.added.  out (may be
 * NULL) receives the device with its key: wipe it after use.  Returns
 * RELAIS_OK, RELAIS_EINVAL (bad id, kind or patient), RELAIS_EEXIST (active
 * already), or a store error.  No other transaction may be open on the store.
 */
int relais_registry_add(struct relais_registry *r, const char *id, const char *kind,
                        const char *patient, int64_t now_ms, struct relais_device *out);
/* Revokes a device (its keys erased), audited as device.removed, then calls the
 * removed callback.  RELAIS_ENOTFOUND when no active device has that id. */
int relais_registry_remove(struct relais_registry *r, const char *id, int64_t now_ms);
void relais_registry_set_removed_cb(struct relais_registry *r, relais_registry_removed_cb cb,
                                    void *ud);

#endif
