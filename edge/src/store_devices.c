/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The device registry's SQL: one row per device (id, kind, patient binding,
 * DTLS pre-shared key, record-signing key, creation and revocation times).
 * A revoked row keeps its history but loses its keys.  Both keys are sealed
 * at rest (store_seal.c), the device id as associated data: a read-only
 * open without the store key sees the devices without their keys.
 */
#include "store_internal.h"
#include "relais/store_devices.h"
#include "relais/error.h"

#include <stdio.h>
#include <string.h>

static void key_aad(struct store_aad *a, const char *column, const char *id)
{
    store__aad_init(a, column);
    store__aad_str(a, id);
}

/* Opens the sealed key in column col into out (len bytes): false when there
 * is none, no store key, or it fails its check (reported). */
static bool key_col(struct relais_store *st, sqlite3_stmt *s, int col, const char *column,
                    const char *id, uint8_t *out, size_t len)
{
    if (sqlite3_column_type(s, col) == SQLITE_NULL || !st->key.set) return false;
    struct store_aad a;
    key_aad(&a, column, id);
    const uint8_t *p;
    size_t n;
    if (store__unseal_col(st, s, col, &a, column, &p, &n) != RELAIS_OK) return false;
    if (n != len) {
        store__tampered(st, &a, column);
        store__scratch_wipe_last(st);
        return false;
    }
    memcpy(out, p, len);
    store__scratch_wipe_last(st);
    return true;
}

static void row_to_device(struct relais_store *st, sqlite3_stmt *s, struct relais_device *d)
{
    memset(d, 0, sizeof *d);
    snprintf(d->id, sizeof d->id, "%s", (const char *)sqlite3_column_text(s, 0));
    snprintf(d->kind, sizeof d->kind, "%s", (const char *)sqlite3_column_text(s, 1));
    const unsigned char *patient = sqlite3_column_text(s, 2);
    snprintf(d->patient, sizeof d->patient, "%s", patient ? (const char *)patient : "");
    d->created_ms = sqlite3_column_int64(s, 3);
    d->revoked_ms = sqlite3_column_type(s, 4) == SQLITE_NULL ? 0 : sqlite3_column_int64(s, 4);
    d->has_psk = key_col(st, s, 5, "devices.psk", d->id, d->psk, RELAIS_PSK_LEN);
}

#define DEVICE_COLUMNS "id, kind, patient, created_ms, revoked_ms, psk"

int relais_store_device_put(struct relais_store *st, const struct relais_device *d)
{
    sqlite3_stmt *s = NULL;
    if (!st->in_txn || sqlite3_get_autocommit(st->db)) return RELAIS_EINVAL;
    int rc = sqlite3_prepare_v2(st->db,
                                "INSERT OR REPLACE INTO devices(" DEVICE_COLUMNS ")"
                                " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                                -1, &s, NULL);
    if (rc != SQLITE_OK) return store__error(st->db, rc, "device put");
    sqlite3_bind_text(s, 1, d->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, d->kind, -1, SQLITE_STATIC);
    if (d->patient[0]) sqlite3_bind_text(s, 3, d->patient, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, d->created_ms);
    if (d->revoked_ms) sqlite3_bind_int64(s, 5, d->revoked_ms);
    if (d->has_psk) {
        struct store_aad a;
        key_aad(&a, "devices.psk", d->id);
        if ((rc = store__seal_bind(st, s, 6, &a, d->psk, RELAIS_PSK_LEN))) {
            sqlite3_finalize(s);
            return rc;
        }
    }
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? RELAIS_OK : store__error(st->db, rc, "device put");
}

int relais_store_device_get(struct relais_store *st, const char *id, struct relais_device *out)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, "SELECT " DEVICE_COLUMNS " FROM devices WHERE id = ?1", -1,
                                &s, NULL);
    if (rc != SQLITE_OK) return store__error(st->db, rc, "device get");
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(s);
    int result = RELAIS_ENOTFOUND;
    if (rc == SQLITE_ROW) {
        row_to_device(st, s, out);
        result = RELAIS_OK;
    } else if (rc != SQLITE_DONE) {
        result = store__error(st->db, rc, "device get");
    }
    sqlite3_finalize(s);
    return result;
}

int relais_store_device_revoke(struct relais_store *st, const char *id, int64_t at_ms)
{
    sqlite3_stmt *s = NULL;
    if (!st->in_txn || sqlite3_get_autocommit(st->db)) return RELAIS_EINVAL;
    int rc = sqlite3_prepare_v2(st->db,
                                "UPDATE devices SET revoked_ms = ?2, psk = NULL, record_key = NULL"
                                " WHERE id = ?1 AND revoked_ms IS NULL",
                                -1, &s, NULL);
    if (rc != SQLITE_OK) return store__error(st->db, rc, "device revoke");
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, at_ms);
    rc = sqlite3_step(s);
    int changed = sqlite3_changes(st->db);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return store__error(st->db, rc, "device revoke");
    return changed ? RELAIS_OK : RELAIS_ENOTFOUND;
}

int relais_store_foreach_device(struct relais_store *st,
                                int (*cb)(const struct relais_device *d, void *ud), void *ud)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, "SELECT " DEVICE_COLUMNS " FROM devices ORDER BY id", -1,
                                &s, NULL);
    if (rc != SQLITE_OK) return store__error(st->db, rc, "devices");
    struct relais_device d;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        row_to_device(st, s, &d);
        int stop = cb(&d, ud);
        relais_zeroize(&d, sizeof d);
        if (stop) {
            sqlite3_finalize(s);
            return stop;
        }
    }
    int result = rc == SQLITE_DONE ? RELAIS_OK : store__error(st->db, rc, "devices");
    sqlite3_finalize(s);
    return result;
}

int relais_store_device_record_key_set(struct relais_store *st, const char *id,
                                       const uint8_t key[RELAIS_WIRE_RECORD_KEY_LEN])
{
    sqlite3_stmt *s = NULL;
    if (!st->in_txn || sqlite3_get_autocommit(st->db)) return RELAIS_EINVAL;
    int rc = sqlite3_prepare_v2(st->db, "UPDATE devices SET record_key = ?2 WHERE id = ?1", -1, &s,
                                NULL);
    if (rc != SQLITE_OK) return store__error(st->db, rc, "record key set");
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    if (key) {
        struct store_aad a;
        key_aad(&a, "devices.record_key", id);
        if ((rc = store__seal_bind(st, s, 2, &a, key, RELAIS_WIRE_RECORD_KEY_LEN))) {
            sqlite3_finalize(s);
            return rc;
        }
    }
    rc = sqlite3_step(s);
    int changed = sqlite3_changes(st->db);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return store__error(st->db, rc, "record key set");
    return changed ? RELAIS_OK : RELAIS_ENOTFOUND;
}

int relais_store_device_record_key_get(struct relais_store *st, const char *id,
                                       uint8_t key[RELAIS_WIRE_RECORD_KEY_LEN])
{
    sqlite3_stmt *s = NULL;
    memset(key, 0, RELAIS_WIRE_RECORD_KEY_LEN);
    int rc = sqlite3_prepare_v2(
        st->db, "SELECT record_key FROM devices WHERE id = ?1 AND revoked_ms IS NULL", -1, &s,
        NULL);
    if (rc != SQLITE_OK) return store__error(st->db, rc, "record key get");
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(s);
    int result = RELAIS_ENOTFOUND;
    if (rc == SQLITE_ROW) {
        if (key_col(st, s, 0, "devices.record_key", id, key, RELAIS_WIRE_RECORD_KEY_LEN))
            result = RELAIS_OK;
    } else if (rc != SQLITE_DONE) {
        result = store__error(st->db, rc, "record key get");
    }
    sqlite3_finalize(s);
    return result;
}
