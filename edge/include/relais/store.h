/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store: one SQLite database in WAL mode with synchronous=FULL, a schema
 * version and forward migrations, statements prepared once.  All of relais's
 * SQL lives in store*.c.
 *
 * Writing is transactional and batched by the caller (group commit, see
 * relais/ingest.h): relais_store_begin() once, any number of puts, then
 * relais_store_commit().  Nothing put is durable, and nothing may be
 * acknowledged, before commit returns RELAIS_OK.
 *
 * Record life (per pack):   put (in txn) --commit ok--> durable (ack may go)
 *                                        \--commit fails / rollback--> gone
 *                                           (the device resends: not acked)
 */
#ifndef RELAIS_STORE_H
#define RELAIS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relais/senml.h"

struct relais_store;

enum relais_transport {
    RELAIS_TRANSPORT_MQTT = 0,
    RELAIS_TRANSPORT_COAP = 1,
};

const char *relais_transport_name(enum relais_transport t);

/* What a put did with a pack. */
enum relais_store_put {
    RELAIS_PUT_STORED = 0,    /* new (device, seq) */
    RELAIS_PUT_DUPLICATE = 1, /* same (device, seq) and same body: nothing written */
    RELAIS_PUT_FLAGGED = 2,   /* same (device, seq), different body: stored and flagged */
};

#define RELAIS_PACK_FLAG_SEQ_REUSED 0x1 /* packs.flags: seq seen before with another body */
/* 0x2: emptied by eviction; 0x4: downsampled (store_evict.c) */
#define RELAIS_PACK_FLAG_SIGNED     0x8 /* its signature was verified (packs.sig holds it) */

#define RELAIS_STORE_KEY_LEN 32

struct relais_store_opts {
    uint64_t quota_bytes; /* 0: no quota */
    bool readonly;        /* relaisctl: read-only, no migration, no checks */
    /* the store key (RELAIS_STORE_KEY_LEN bytes): required for a writable
     * open; a read-only open without it reads only what is not sealed */
    const uint8_t *key;
};

/*
 * Opens (creating it 0600 if needed) the database at path.  A writable open
 * runs PRAGMA quick_check: a corrupt file is moved aside to
 * "<path>.corrupt-<unix time>" (never deleted), reported, and a fresh store
 * is created.  Migrates the schema forward; a schema newer than this build
 * fails with RELAIS_EVERSION.
 */
int relais_store_open(struct relais_store **out, const char *path,
                      const struct relais_store_opts *opts);
/*
 * The store key file: 64 hex digits and a newline, mode 0600 (refused when
 * group or others have any access).  relais_store_key_write creates it
 * (O_EXCL, 0600, fsync'd); relais_store_key_generate with a fresh key from
 * the CTR-DRBG.
 */
int relais_store_key_read(const char *path, uint8_t key[RELAIS_STORE_KEY_LEN]);
int relais_store_key_write(const char *path, const uint8_t key[RELAIS_STORE_KEY_LEN]);
int relais_store_key_generate(const char *path);
/*
 * Opens the store with the key in key_file (opts->key is ignored).  When the
 * store was re-sealed under "<key_file>.new" by a key rotation that stopped
 * before renaming it (see relais_store_rekey), that key is taken and renamed
 * into place.  create_key: a missing key file is created with a fresh key,
 * only when the database does not exist yet (a fresh store).
 */
int relais_store_open_keyed(struct relais_store **out, const char *path, const char *key_file,
                            bool create_key, const struct relais_store_opts *opts);
/* Re-seals every sealed value and recomputes every keyed tag under a new
 * key, in one transaction, audited ("store.key_rotated"); on failure
 * (RELAIS_ECORRUPT: a record failed its check) nothing changed. */
int relais_store_rekey(struct relais_store *st, const uint8_t key[RELAIS_STORE_KEY_LEN],
                       int64_t now_ms);
/* The id of the key in use (16 hex digits), RELAIS_ENOTFOUND without key. */
int relais_store_key_id(const struct relais_store *st, char out[17]);
/* Sealed values that failed their check since the store was opened (each
 * logged and, once relais_store_tamper_flush runs in a transaction, audited
 * as "store.tampered"). */
uint64_t relais_store_tampered(const struct relais_store *st);
int relais_store_tamper_flush(struct relais_store *st, int64_t now_ms);

/* Rolls back an open transaction, checkpoints the WAL (writable stores) and
 * closes.  NULL is fine. */
void relais_store_close(struct relais_store *st);

int relais_store_begin(struct relais_store *st);
/* Commits.  On failure the transaction is rolled back and RELAIS_ESTORE (or
 * RELAIS_EBUSY when the database was locked) is returned. */
int relais_store_commit(struct relais_store *st);
void relais_store_rollback(struct relais_store *st);
bool relais_store_in_transaction(const struct relais_store *st);

/* Puts a decoded pack with its body (inside a transaction). */
int relais_store_put_pack(struct relais_store *st, const struct relais_pack *pack,
                          const uint8_t *body, size_t len, enum relais_transport transport,
                          int64_t received_ms, enum relais_store_put *result);

struct relais_reject_record {
    const char *device; /* NULL when the input did not say */
    bool has_seq;
    uint64_t seq;
    enum relais_transport transport;
    int64_t at_ms;
    const char *reason; /* relais_reject_reason_name() */
    const char *detail;
    const uint8_t *body; /* kept when at most RELAIS_SENML_MAX_BYTES */
    size_t len;
};

/* Records a rejected input and its audit record (inside a transaction). */
/* Whether (device, seq) with this very body is stored already (a resend),
 * without writing: a busy store still answers "duplicate" to it. */
int relais_store_is_duplicate(struct relais_store *st, const char *device, uint64_t seq,
                              const uint8_t *body, size_t len, bool *dup);

int relais_store_put_reject(struct relais_store *st, const struct relais_reject_record *r);

/* Appends to the hash-chained audit trail (inside a transaction). */
int relais_store_audit(struct relais_store *st, int64_t at_ms, const char *kind,
                       const char *subject, const char *detail);
/* The committed head of the audit trail: its last row and that row's hash
 * (0 and zeros while it is empty).  relaisd sends it to the hospital in its
 * status, where relaisd cannot rewrite it: a trail cut off at its end, or
 * recomputed whole, shows against it (relaisctl audit verify --head). */
void relais_store_audit_head(const struct relais_store *st, int64_t *id, uint8_t hash[32]);

/* ---- the device registry ---- */

#define RELAIS_DEVICE_KIND_MAX 16
#define RELAIS_PATIENT_MAX     32
/* A device's DTLS pre-shared key: 32 characters of the base64url alphabet
 * (192 random bits), so that it can be typed, printed and configured as text. */
#define RELAIS_PSK_LEN         32

struct relais_device {
    char id[RELAIS_WIRE_ID_MAX + 1];
    char kind[RELAIS_DEVICE_KIND_MAX + 1];
    char patient[RELAIS_PATIENT_MAX + 1]; /* "" when not bound */
    uint8_t psk[RELAIS_PSK_LEN];
    bool has_psk;
    int64_t created_ms;
    int64_t revoked_ms; /* 0 while the device is active */
};

/* Inserts or replaces a device (inside a transaction). */
int relais_store_device_put(struct relais_store *st, const struct relais_device *d);
/* RELAIS_OK, or RELAIS_ENOTFOUND.  out holds the key: wipe it after use. */
int relais_store_device_get(struct relais_store *st, const char *id, struct relais_device *out);
/* Marks a device revoked and erases its key (inside a transaction).
 * RELAIS_ENOTFOUND when there is no such device. */
int relais_store_device_revoke(struct relais_store *st, const char *id, int64_t at_ms);
/* Every device, ordered by id; d (with its key) is valid during the call. */
int relais_store_foreach_device(struct relais_store *st,
                                int (*cb)(const struct relais_device *d, void *ud), void *ud);

/* ---- size and quota ---- */

void relais_store_set_quota(struct relais_store *st, uint64_t quota_bytes);
/* Bytes in use: database pages in use plus the WAL file. */
int relais_store_size(struct relais_store *st, uint64_t *bytes);
/* The answer of the last check (made after every commit and at open). */
bool relais_store_over_quota(const struct relais_store *st);
/* Housekeeping (relais/store_evict.h) says whether anything is left to
 * evict (true until it says otherwise). */
void relais_store_set_evictable(struct relais_store *st, bool evictable);
/* Devices must be told busy: over the quota with nothing left to evict, or
 * more than an eighth over it (DESIGN 5). */
bool relais_store_busy(const struct relais_store *st);
const char *relais_store_path(const struct relais_store *st);

/* ---- reading (relaisctl, tests) ---- */

struct relais_store_totals {
    uint64_t packs, flagged, readings, rejects, audit;
    int schema_version;
};
int relais_store_totals(struct relais_store *st, struct relais_store_totals *out);

struct relais_stored_reading {
    int64_t pack_id;
    const char *device;
    uint64_t seq;
    int idx;
    const char *metric;
    const char *unit;
    enum relais_reading_kind kind;
    double value;
    const char *str;
    bool boolean;
    const uint8_t *data;
    size_t len;
    bool has_sum;
    double sum;
    double time;
    enum relais_time_source time_source;
    bool has_update_time;
    double update_time;
    int64_t received_ms;
    int flags;
    bool tampered; /* its sealed record failed its check: metric "?", no value */
};

struct relais_stored_pack {
    int64_t id;
    const char *device;
    uint64_t seq;
    enum relais_senml_format format;
    enum relais_transport transport;
    int64_t received_ms;
    int records;
    int flags;
    const uint8_t *hash; /* 32 bytes */
};

struct relais_stored_reject {
    int64_t id;
    int64_t at_ms;
    enum relais_transport transport;
    const char *device; /* NULL when unknown */
    bool has_seq;
    uint64_t seq;
    const char *reason;
    const char *detail;
    size_t len;
};

struct relais_store_filter {
    const char *device; /* NULL: all */
    const char *metric; /* readings only; NULL: all */
    bool flagged_only;  /* packs only */
    int64_t limit;      /* <= 0: no limit */
};

/* Rows oldest first (the newest `limit` rows when a limit is set).  The
 * callback's pointers are valid during the call only; a non-zero return
 * stops the walk and is returned. */
int relais_store_foreach_reading(struct relais_store *st, const struct relais_store_filter *f,
                                 int (*cb)(const struct relais_stored_reading *r, void *ud),
                                 void *ud);
int relais_store_foreach_pack(struct relais_store *st, const struct relais_store_filter *f,
                              int (*cb)(const struct relais_stored_pack *p, void *ud), void *ud);
int relais_store_foreach_reject(struct relais_store *st, const struct relais_store_filter *f,
                                int (*cb)(const struct relais_stored_reject *r, void *ud),
                                void *ud);

#endif
