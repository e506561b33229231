/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The device registry (see relais/registry.h): an array mirroring the
 * devices table.  A home has a handful of devices, so lookups are linear.
 *
 * Device life:  (none) --add--> ACTIVE --remove--> REVOKED --add--> ACTIVE
 *               relais_registry_add()   relais_registry_remove()
 */
#include "relais/registry.h"
#include "relais/crypto.h"
#include "relais/error.h"
#include "relais/log.h"
#include "relais/store_devices.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A device's record-signing key (a pill box's), beside devices[i]. */
struct record_key {
    uint8_t key[RELAIS_WIRE_RECORD_KEY_LEN];
    bool has;
};

struct relais_registry {
    struct relais_store *store;
    struct relais_device *devices;
    struct record_key *keys; /* keys[i] is devices[i]'s; cap entries */
    size_t count, cap;
    relais_registry_removed_cb removed_cb;
    void *removed_ud;
};

static const char *const kinds[] = {"pillbox",  "vitals",  "tablet", "thermometer",
                                    "oximeter", "bp-cuff", "scale",  NULL};

bool relais_device_kind_valid(const char *kind)
{
    for (size_t i = 0; kinds[i]; i++)
        if (strcmp(kinds[i], kind) == 0) return true;
    return false;
}

bool relais_patient_valid(const char *patient)
{
    size_t n = strlen(patient);
    if (n > RELAIS_PATIENT_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = patient[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static void wipe_all(struct relais_registry *r)
{
    if (r->devices) relais_zeroize(r->devices, r->cap * sizeof *r->devices);
    if (r->keys) relais_zeroize(r->keys, r->cap * sizeof *r->keys);
    r->count = 0;
}

static int load_one(const struct relais_device *d, void *ud)
{
    struct relais_registry *r = ud;
    if (r->count == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 16;
        struct relais_device *n = malloc(ncap * sizeof *n);
        struct record_key *k = malloc(ncap * sizeof *k);
        if (!n || !k) {
            free(n);
            free(k);
            return RELAIS_ENOMEM;
        }
        if (r->devices) {
            memcpy(n, r->devices, r->count * sizeof *n);
            memcpy(k, r->keys, r->count * sizeof *k);
            relais_zeroize(r->devices, r->cap * sizeof *r->devices);
            relais_zeroize(r->keys, r->cap * sizeof *r->keys);
            free(r->devices);
            free(r->keys);
        }
        r->devices = n;
        r->keys = k;
        r->cap = ncap;
    }
    struct record_key *k = &r->keys[r->count];
    int rc = relais_store_device_record_key_get(r->store, d->id, k->key);
    if (rc != RELAIS_OK && rc != RELAIS_ENOTFOUND) return rc;
    k->has = rc == RELAIS_OK;
    r->devices[r->count++] = *d;
    return RELAIS_OK;
}

int relais_registry_reload(struct relais_registry *r)
{
    wipe_all(r);
    int rc = relais_store_foreach_device(r->store, load_one, r);
    if (rc) wipe_all(r);
    return rc;
}

int relais_registry_create(struct relais_registry **out, struct relais_store *st)
{
    struct relais_registry *r = calloc(1, sizeof *r);
    if (!r) return RELAIS_ENOMEM;
    r->store = st;
    int rc = relais_registry_reload(r);
    if (rc) {
        relais_registry_destroy(r);
        return rc;
    }
    *out = r;
    return RELAIS_OK;
}

void relais_registry_destroy(struct relais_registry *r)
{
    if (!r) return;
    wipe_all(r);
    free(r->devices);
    free(r->keys);
    free(r);
}

static struct relais_device *find(const struct relais_registry *r, const char *id, size_t len)
{
    for (size_t i = 0; i < r->count; i++)
        if (strlen(r->devices[i].id) == len && memcmp(r->devices[i].id, id, len) == 0)
            return &r->devices[i];
    return NULL;
}

const struct relais_device *relais_registry_active(const struct relais_registry *r, const char *id,
                                                   size_t len)
{
    const struct relais_device *d = find(r, id, len);
    return d && !d->revoked_ms && d->has_psk ? d : NULL;
}

int relais_registry_record_key(const struct relais_registry *r, const char *id,
                               uint8_t key[RELAIS_WIRE_RECORD_KEY_LEN])
{
    const struct relais_device *d = relais_registry_active(r, id, strlen(id));
    const struct record_key *k = d ? &r->keys[d - r->devices] : NULL;
    if (!k || !k->has) {
        memset(key, 0, RELAIS_WIRE_RECORD_KEY_LEN);
        return RELAIS_ENOTFOUND;
    }
    memcpy(key, k->key, RELAIS_WIRE_RECORD_KEY_LEN);
    return RELAIS_OK;
}

size_t relais_registry_count(const struct relais_registry *r, bool active_only)
{
    size_t n = 0;
    for (size_t i = 0; i < r->count; i++)
        if (!active_only || (!r->devices[i].revoked_ms && r->devices[i].has_psk)) n++;
    return n;
}

void relais_registry_set_removed_cb(struct relais_registry *r, relais_registry_removed_cb cb,
                                    void *ud)
{
    r->removed_cb = cb;
    r->removed_ud = ud;
}

/* Runs one change in its own transaction with its audit record. */
static int commit_change(struct relais_registry *r, int rc)
{
    if (rc == RELAIS_OK)
        rc = relais_store_commit(r->store);
    else
        relais_store_rollback(r->store);
    return rc;
}

int relais_registry_add(struct relais_registry *r, const char *id, const char *kind,
                        const char *patient, int64_t now_ms, struct relais_device *out)
{
    struct relais_device d;
    uint8_t record_key[RELAIS_WIRE_RECORD_KEY_LEN];
    int rc;
    if (!relais_wire_id_valid(id, strlen(id)) || !relais_device_kind_valid(kind) ||
        !relais_patient_valid(patient ? patient : ""))
        return RELAIS_EINVAL;
    if (relais_store_in_transaction(r->store)) return RELAIS_EBUSY;
    if (relais_registry_active(r, id, strlen(id))) return RELAIS_EEXIST;
    memset(&d, 0, sizeof d);
    snprintf(d.id, sizeof d.id, "%s", id);
    snprintf(d.kind, sizeof d.kind, "%s", kind);
    snprintf(d.patient, sizeof d.patient, "%s", patient ? patient : "");
    d.created_ms = now_ms;
    /* 24 random bytes as 32 base64url characters: a text key of 192 bits */
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t raw[24];
    if ((rc = relais_random_bytes(raw, sizeof raw))) goto out;
    for (size_t i = 0; i < sizeof raw / 3; i++) {
        uint32_t v = (uint32_t)raw[3 * i] << 16 | (uint32_t)raw[3 * i + 1] << 8 | raw[3 * i + 2];
        for (int j = 0; j < 4; j++)
            d.psk[4 * i + (size_t)j] = (uint8_t)b64[(v >> (18 - 6 * j)) & 63];
    }
    relais_zeroize(raw, sizeof raw);
    d.has_psk = true;
    /* a pill box signs its dose records (docs/contract.md) */
    bool signs = strcmp(kind, "pillbox") == 0;
    if (signs && (rc = relais_random_bytes(record_key, sizeof record_key))) goto out;

    char detail[96];
    snprintf(detail, sizeof detail, "kind %s%s%s", kind, d.patient[0] ? ", patient " : "",
             d.patient);
    rc = relais_store_begin(r->store);
    if (!rc) {
        /* the table, not our copy, says whether the id is taken (relaisctl
         * may have added it while relaisd was stopped) */
        struct relais_device cur;
        int g = relais_store_device_get(r->store, id, &cur);
        if (g == RELAIS_OK && !cur.revoked_ms && cur.has_psk)
            rc = RELAIS_EEXIST;
        else if (g != RELAIS_OK && g != RELAIS_ENOTFOUND)
            rc = g;
        relais_zeroize(&cur, sizeof cur);
    }
    if (!rc) rc = relais_store_device_put(r->store, &d);
    if (!rc && signs) rc = relais_store_device_record_key_set(r->store, id, record_key);
    if (!rc) rc = relais_store_audit(r->store, now_ms, "device.added", id, detail);
    if ((rc = commit_change(r, rc))) goto out;
    if ((rc = relais_registry_reload(r))) goto out;
    log_notice("registry", "device %s added (%s)", id, detail);
    if (out) *out = d;
out:
    relais_zeroize(&d, sizeof d);
    relais_zeroize(record_key, sizeof record_key);
    return rc;
}

int relais_registry_remove(struct relais_registry *r, const char *id, int64_t now_ms)
{
    if (relais_store_in_transaction(r->store)) return RELAIS_EBUSY;
    if (!relais_registry_active(r, id, strlen(id))) return RELAIS_ENOTFOUND;
    int rc = relais_store_begin(r->store);
    if (!rc) rc = relais_store_device_revoke(r->store, id, now_ms);
    if (!rc) rc = relais_store_audit(r->store, now_ms, "device.removed", id, "keys erased");
    if ((rc = commit_change(r, rc))) return rc;
    if ((rc = relais_registry_reload(r))) return rc;
    log_notice("registry", "device %s removed: its keys are erased", id);
    if (r->removed_cb) r->removed_cb(r->removed_ud, id);
    return RELAIS_OK;
}
