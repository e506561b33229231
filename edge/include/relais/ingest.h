/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ingest: the durable path every uplink pack takes, whatever its transport.
 *
 *   submit: size check -> format -> SenML decode -> record signature
 *           (relais/record_sig.h) -> quota -> store put
 *           (in the open group-commit transaction) -> pending ack
 *   flush:  COMMIT -> acks sent (stored | duplicate | rejected)
 *           or, when the commit fails, every pending ack becomes busy
 *
 * A pack is acknowledged only after the transaction holding it (or holding
 * the record of its rejection) has committed (DESIGN.md 3.5).  A batch is
 * committed when it holds commit_max_packs packs, when its first pack has
 * waited commit_window_ms, at the end of a loop turn that brought no pack, or
 * commit_linger_us after the last turn that did.
 */
#ifndef RELAIS_INGEST_H
#define RELAIS_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relais/loop.h"
#include "relais/senml.h"
#include "relais/store.h"
#include "relais/wire.h"

struct relais_ingest;

struct relais_ingest_opts {
    uint32_t commit_window_ms;
    uint32_t commit_linger_us; /* wait this long for more packs after a turn brought some */
    uint32_t commit_max_packs;
    uint32_t busy_retry_s;
};

/* Sends one ack back through the transport the pack came by.  device and
 * ack are borrowed for the call; token is the transport's own data given at
 * submit (e.g. a CoAP session and token). */
typedef void (*relais_ingest_reply_cb)(void *ud, const char *device,
                                       const struct relais_wire_ack *ack, const void *token,
                                       size_t token_len);

#define RELAIS_INGEST_TOKEN_MAX 48

struct relais_ingest_input {
    enum relais_transport transport;
    const char *device; /* authenticated device id (broker ACL, DTLS identity) */
    uint64_t seq;
    const uint8_t *body; /* borrowed for the call */
    size_t len;
    int format; /* enum relais_senml_format, or -1: told by the first byte */
    relais_ingest_reply_cb reply_cb;
    void *reply_ud;
    const void *token; /* copied; at most RELAIS_INGEST_TOKEN_MAX bytes */
    size_t token_len;
    /* The record signature carried beside the body (CoAP option 65000, MQTT
     * v5 user property relais-sig), borrowed for the call: NULL when none.
     * sig_malformed non-NULL: the transport found one it cannot read (not
     * hex, carried twice), and says why; the pack is rejected. */
    const uint8_t *sig;
    size_t sig_len;
    const char *sig_malformed;
};

/* Fills key with the record-signing key of the active device (borrowed for
 * the call) and returns 0, or returns -1 when it has none (unknown, revoked,
 * not a pill box). */
typedef int (*relais_ingest_record_key_cb)(void *ud, const char *device,
                                           uint8_t key[RELAIS_WIRE_RECORD_KEY_LEN]);

struct relais_ingest_counters {
    uint64_t received;  /* packs submitted */
    uint64_t stored;    /* committed (flagged ones included) */
    uint64_t duplicate; /* same (device, seq) and body: acked duplicate */
    uint64_t flagged;   /* same (device, seq), other body: stored and flagged */
    uint64_t rejected;  /* acked rejected (final) */
    uint64_t rejected_by[RELAIS_REJECT_COUNT];
    uint64_t busy;       /* acked busy (quota, store failure) */
    uint64_t unroutable; /* inputs that cannot be acked (bad topic): audited */
    uint64_t readings;   /* readings committed */
    uint64_t commits, commit_failures;
    uint64_t batch_max; /* largest group commit so far */
    uint64_t acks_sent;
};

/* loop and store are borrowed for the ingest's lifetime. */
int relais_ingest_create(struct relais_ingest **out, struct relais_loop *loop,
                         struct relais_store *store, const struct relais_ingest_opts *opts);
/* Flushes what is pending, then frees. */
void relais_ingest_destroy(struct relais_ingest *ing);
int relais_ingest_set_opts(struct relais_ingest *ing, const struct relais_ingest_opts *opts);

/* Takes one pack; its ack comes through in->reply_cb after the commit.
 * Returns RELAIS_OK (the pack is accounted for, whatever its fate). */
int relais_ingest_submit(struct relais_ingest *ing, const struct relais_ingest_input *in);

/* An input that cannot be acknowledged (no valid device or seq in its topic):
 * counted and audited with what (the topic, shortened) and its size. */
void relais_ingest_unroutable(struct relais_ingest *ing, enum relais_transport transport,
                              const char *what, size_t len);

/* Appends an audit record to the open batch (committed with it, at the end
 * of the turn at the latest).  For events of the ingest path that have no
 * ack of their own: refused handshakes, forbidden requests. */
int relais_ingest_audit(struct relais_ingest *ing, const char *kind, const char *subject,
                        const char *detail);

/* Where the record keys come from (the device registry).  Without it no
 * device has one: every dose pack and every signed pack is rejected. */
void relais_ingest_set_record_key_cb(struct relais_ingest *ing, relais_ingest_record_key_cb cb,
                                     void *ud);

/* Called after every successful group commit with the number of packs it
 * stored (the rules engine judges them then). */
typedef void (*relais_ingest_commit_cb)(void *ud, size_t stored);
void relais_ingest_set_commit_cb(struct relais_ingest *ing, relais_ingest_commit_cb cb, void *ud);

/* Commits the open batch and sends its acks now. */
void relais_ingest_flush(struct relais_ingest *ing);
size_t relais_ingest_pending(const struct relais_ingest *ing);

const struct relais_ingest_counters *relais_ingest_get_counters(const struct relais_ingest *ing);

#endif
