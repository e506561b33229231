/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ingest: decode, store, group commit, then acknowledge (see relais/ingest.h).
 *
 * Pending ack life:  submit -> PENDING(kind) --commit ok--> sent as kind
 *                                            \--commit fails--> sent as busy
 * Counters move only when a batch's fate is known, so they always describe
 * what the devices were told.
 */
#include "relais/ingest.h"
#include "relais/error.h"
#include "relais/crypto.h"
#include "relais/log.h"
#include "relais/record_sig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum pending_kind {
    PK_STORED = 0,
    PK_FLAGGED,
    PK_DUPLICATE,
    PK_REJECTED,
    PK_BUSY,
};

struct pending {
    enum pending_kind kind;
    enum relais_reject_reason reason;
    char device[RELAIS_WIRE_ID_MAX + 1];
    struct relais_wire_ack ack;
    relais_ingest_reply_cb reply_cb;
    void *reply_ud;
    uint8_t token[RELAIS_INGEST_TOKEN_MAX];
    size_t token_len;
};

struct relais_ingest {
    struct relais_loop *loop;
    struct relais_store *store;
    struct relais_ingest_opts opts;
    struct pending *pending;
    size_t npending, cap;
    uint64_t batch_start_ms;
    size_t added_this_turn; /* packs submitted since the last end of turn */
    /* adaptive linger: how long to wait now, and what the wait brought */
    uint32_t linger_us;
    bool lingering;
    size_t pending_at_linger;
    unsigned batches_without_linger;
    struct relais_pack pack; /* reused by every decode */
    struct relais_hook hook;
    struct relais_timer window_timer;
    struct relais_ingest_counters counters;
    relais_ingest_commit_cb commit_cb;
    void *commit_ud;
    relais_ingest_record_key_cb key_cb;
    void *key_ud;
};

void relais_ingest_set_record_key_cb(struct relais_ingest *ing, relais_ingest_record_key_cb cb,
                                     void *ud)
{
    ing->key_cb = cb;
    ing->key_ud = ud;
}

void relais_ingest_set_commit_cb(struct relais_ingest *ing, relais_ingest_commit_cb cb, void *ud)
{
    ing->commit_cb = cb;
    ing->commit_ud = ud;
}

/*
 * End of a loop turn: commit, or linger.  A turn that brought packs may be
 * followed by more within commit_linger_us (a CoAP device sends its next
 * confirmable request as soon as the previous one is acknowledged, one at a
 * time): waiting that long, never beyond commit_window_ms from the batch's
 * first pack, lets one commit hold them all.  A turn that brought a burst, or
 * nothing, commits what is pending at once.
 */
static void ingest_hook_cb(struct relais_hook *h)
{
    struct relais_ingest *ing =
        (struct relais_ingest *)((char *)h - offsetof(struct relais_ingest, hook));
    size_t added = ing->added_this_turn;
    ing->added_this_turn = 0;
    if (!ing->npending && !relais_store_in_transaction(ing->store)) return;
    /* only a trickle lingers: a turn that read a burst (MQTT under load)
     * already batches by itself, and waiting would only delay its acks */
    if (added && added <= 2 && ing->npending && ing->linger_us) {
        uint64_t now = relais_clock_mono_us(relais_loop_clock(ing->loop));
        uint64_t deadline = (ing->batch_start_ms + ing->opts.commit_window_ms) * 1000u;
        if (now < deadline) {
            uint64_t wait = deadline - now;
            if (wait > ing->linger_us) wait = ing->linger_us;
            if (!ing->lingering) {
                ing->lingering = true;
                ing->pending_at_linger = ing->npending;
            }
            relais_loop_timer_arm_us(ing->loop, &ing->window_timer, wait);
            return;
        }
    }
    relais_ingest_flush(ing);
}

/* A linger that brought nothing is halved (a device with one request in
 * flight must not pay it for every pack); one that brought packs is
 * restored; after 32 commits without lingering it is tried again. */
static void linger_learn(struct relais_ingest *ing)
{
    if (ing->lingering) {
        ing->lingering = false;
        if (ing->npending > ing->pending_at_linger)
            ing->linger_us = ing->opts.commit_linger_us;
        else
            ing->linger_us = ing->linger_us / 2 < 25 ? 0 : ing->linger_us / 2;
        ing->batches_without_linger = 0;
    } else if (ing->linger_us == 0 && ++ing->batches_without_linger >= 32) {
        ing->linger_us = ing->opts.commit_linger_us / 4;
        ing->batches_without_linger = 0;
    }
}

static void ingest_window_cb(struct relais_timer *t)
{
    struct relais_ingest *ing =
        (struct relais_ingest *)((char *)t - offsetof(struct relais_ingest, window_timer));
    if (ing->npending || relais_store_in_transaction(ing->store)) relais_ingest_flush(ing);
}

int relais_ingest_set_opts(struct relais_ingest *ing, const struct relais_ingest_opts *opts)
{
    size_t want = opts->commit_max_packs ? opts->commit_max_packs : 1;
    if (ing->npending) relais_ingest_flush(ing);
    if (want != ing->cap) {
        struct pending *p = realloc(ing->pending, want * sizeof *p);
        if (!p) return RELAIS_ENOMEM;
        ing->pending = p;
        ing->cap = want;
    }
    ing->opts = *opts;
    ing->opts.commit_max_packs = (uint32_t)want;
    ing->linger_us = opts->commit_linger_us;
    return RELAIS_OK;
}

int relais_ingest_create(struct relais_ingest **out, struct relais_loop *loop,
                         struct relais_store *store, const struct relais_ingest_opts *opts)
{
    struct relais_ingest *ing = calloc(1, sizeof *ing);
    if (!ing) return RELAIS_ENOMEM;
    ing->loop = loop;
    ing->store = store;
    relais_pack_init(&ing->pack);
    relais_timer_init(&ing->window_timer, ingest_window_cb);
    int rc = relais_ingest_set_opts(ing, opts);
    if (rc) {
        relais_pack_cleanup(&ing->pack);
        free(ing);
        return rc;
    }
    relais_loop_hook_add(loop, &ing->hook, ingest_hook_cb);
    *out = ing;
    return RELAIS_OK;
}

void relais_ingest_destroy(struct relais_ingest *ing)
{
    if (!ing) return;
    relais_ingest_flush(ing);
    relais_loop_hook_remove(ing->loop, &ing->hook);
    relais_loop_timer_cancel(ing->loop, &ing->window_timer);
    relais_pack_cleanup(&ing->pack);
    free(ing->pending);
    free(ing);
}

size_t relais_ingest_pending(const struct relais_ingest *ing)
{
    return ing->npending;
}

const struct relais_ingest_counters *relais_ingest_get_counters(const struct relais_ingest *ing)
{
    return &ing->counters;
}

/* ---- the batch ---- */

static struct pending *pending_add(struct relais_ingest *ing, const struct relais_ingest_input *in,
                                   enum pending_kind kind)
{
    if (ing->npending == 0) {
        /* the clock, not the loop's cached time: one turn may read many packs */
        ing->batch_start_ms = relais_clock_mono_ms(relais_loop_clock(ing->loop));
        if (ing->opts.commit_window_ms)
            relais_loop_timer_arm(ing->loop, &ing->window_timer, ing->opts.commit_window_ms);
    }
    struct pending *p = &ing->pending[ing->npending++];
    p->kind = kind;
    p->reason = RELAIS_REJECT_NONE;
    snprintf(p->device, sizeof p->device, "%s", in->device);
    memset(&p->ack, 0, sizeof p->ack);
    p->ack.seq = in->seq;
    p->reply_cb = in->reply_cb;
    p->reply_ud = in->reply_ud;
    p->token_len = in->token_len <= sizeof p->token ? in->token_len : sizeof p->token;
    if (p->token_len) memcpy(p->token, in->token, p->token_len);
    return p;
}

static void make_busy(struct relais_ingest *ing, struct pending *p, const char *why)
{
    p->kind = PK_BUSY;
    p->ack.status = RELAIS_WIRE_ACK_BUSY;
    p->ack.records = 0;
    p->ack.retry_s = ing->opts.busy_retry_s;
    snprintf(p->ack.error, sizeof p->ack.error, "%s", why);
}

/* The store failed in the middle of a batch: nothing of it is durable. */
static void batch_fail(struct relais_ingest *ing, const char *why)
{
    relais_store_rollback(ing->store);
    ing->counters.commit_failures++;
    for (size_t i = 0; i < ing->npending; i++)
        if (ing->pending[i].kind != PK_BUSY) make_busy(ing, &ing->pending[i], why);
}

void relais_ingest_flush(struct relais_ingest *ing)
{
    relais_loop_timer_cancel(ing->loop, &ing->window_timer);
    if (ing->npending) linger_learn(ing);
    if (relais_store_in_transaction(ing->store)) {
        int rc = relais_store_commit(ing->store);
        if (rc != RELAIS_OK) {
            log_error("ingest", "group commit of %zu packs failed: %s; devices are told busy",
                      ing->npending, relais_strerror(rc));
            batch_fail(ing, "store_unavailable: the commit failed");
        } else {
            ing->counters.commits++;
        }
    }
    if (ing->npending == 0) return;
    if (ing->npending > ing->counters.batch_max) ing->counters.batch_max = ing->npending;
    struct relais_ingest_counters *c = &ing->counters;
    size_t stored = 0;
    for (size_t i = 0; i < ing->npending; i++)
        stored += ing->pending[i].kind == PK_STORED || ing->pending[i].kind == PK_FLAGGED;
    for (size_t i = 0; i < ing->npending; i++) {
        struct pending *p = &ing->pending[i];
        switch (p->kind) {
        case PK_FLAGGED: c->flagged++; __attribute__((fallthrough));
        case PK_STORED:
            c->stored++;
            c->readings += p->ack.records;
            break;
        case PK_DUPLICATE: c->duplicate++; break;
        case PK_REJECTED:
            c->rejected++;
            c->rejected_by[p->reason]++;
            break;
        case PK_BUSY: c->busy++; break;
        }
        if (p->reply_cb) {
            p->reply_cb(p->reply_ud, p->device, &p->ack, p->token, p->token_len);
            c->acks_sent++;
        }
    }
    ing->npending = 0;
    if (stored && ing->commit_cb) ing->commit_cb(ing->commit_ud, stored);
}

/* ---- submit ---- */

static int ensure_txn(struct relais_ingest *ing)
{
    return relais_store_begin(ing->store);
}

static void reject(struct relais_ingest *ing, const struct relais_ingest_input *in,
                   struct pending *p, enum relais_reject_reason reason, const char *detail,
                   int64_t now_ms)
{
    p->kind = PK_REJECTED;
    p->reason = reason;
    p->ack.status = RELAIS_WIRE_ACK_REJECTED;
    snprintf(p->ack.error, sizeof p->ack.error, "%s: %s", relais_reject_reason_name(reason),
             detail);
    log_info("ingest", "%s/%llu via %s rejected: %s", in->device, (unsigned long long)in->seq,
             relais_transport_name(in->transport), p->ack.error);
    struct relais_reject_record rec = {
        .device = in->device,
        .has_seq = true,
        .seq = in->seq,
        .transport = in->transport,
        .at_ms = now_ms,
        .reason = relais_reject_reason_name(reason),
        .detail = detail,
        /* over quota, keep the record but not the body */
        .body = relais_store_over_quota(ing->store) ? NULL : in->body,
        .len = in->len,
    };
    int rc = ensure_txn(ing);
    if (rc == RELAIS_OK) rc = relais_store_put_reject(ing->store, &rec);
    if (rc != RELAIS_OK) {
        /* the rejection could not be recorded: the device must retry */
        batch_fail(ing, "store_unavailable: cannot record the rejection");
        make_busy(ing, p, "store_unavailable: cannot record the rejection");
    }
}

/*
 * The record signature (docs/contract.md "Signed dose records"): a pack with
 * a dose record must carry one; any pack that carries one must verify.
 * Returns RELAIS_REJECT_NONE (pack->signed_ok and pack->sig set when it was
 * signed) or the reason, with detail filled.
 */
static enum relais_reject_reason check_signature(struct relais_ingest *ing,
                                                 const struct relais_ingest_input *in, char *detail,
                                                 size_t cap)
{
    struct relais_pack *pack = &ing->pack;
    bool dose = relais_pack_has_dose(pack);
    uint8_t key[RELAIS_WIRE_RECORD_KEY_LEN];
    enum relais_reject_reason why = RELAIS_REJECT_NONE;
    if (in->sig_malformed) {
        snprintf(detail, cap, "%s", in->sig_malformed);
        return RELAIS_REJECT_BAD_SIGNATURE;
    }
    if (!in->sig) {
        if (!dose) return RELAIS_REJECT_NONE;
        snprintf(detail, cap,
                 "a pack with a dose record must be signed (HMAC-SHA256 beside the "
                 "body: CoAP option 65000 or MQTT user property relais-sig)");
        return RELAIS_REJECT_UNSIGNED_DOSE;
    }
    if (in->sig_len != RELAIS_WIRE_SIG_LEN) {
        snprintf(detail, cap, "the signature has %zu bytes, not %d", in->sig_len,
                 RELAIS_WIRE_SIG_LEN);
        return RELAIS_REJECT_BAD_SIGNATURE;
    }
    if (!ing->key_cb || ing->key_cb(ing->key_ud, in->device, key) != 0) {
        snprintf(detail, cap, "device %s has no record-signing key (add it as a pillbox)",
                 in->device);
        why = RELAIS_REJECT_NO_RECORD_KEY;
        goto out;
    }
    int rc =
        relais_record_sig_verify(key, in->device, in->seq, in->body, in->len, in->sig, in->sig_len);
    if (rc != RELAIS_OK) {
        snprintf(detail, cap, "the signature does not verify for %s seq %llu and this body",
                 in->device, (unsigned long long)in->seq);
        why = RELAIS_REJECT_BAD_SIGNATURE;
        goto out;
    }
    pack->signed_ok = true;
    memcpy(pack->sig, in->sig, RELAIS_WIRE_SIG_LEN);
out:
    relais_zeroize(key, sizeof key);
    return why;
}

int relais_ingest_submit(struct relais_ingest *ing, const struct relais_ingest_input *in)
{
    const struct relais_clock *clock = relais_loop_clock(ing->loop);
    int64_t now_ms = relais_clock_wall_ms(clock);

    if (ing->npending && ing->opts.commit_window_ms &&
        relais_clock_mono_ms(clock) - ing->batch_start_ms >= ing->opts.commit_window_ms)
        relais_ingest_flush(ing);

    ing->counters.received++;
    ing->added_this_turn++;
    struct pending *p = pending_add(ing, in, PK_STORED);
    char detail[sizeof p->ack.error];

    if (in->seq > RELAIS_WIRE_SEQ_MAX) {
        snprintf(detail, sizeof detail, "seq %llu above %llu", (unsigned long long)in->seq,
                 (unsigned long long)RELAIS_WIRE_SEQ_MAX);
        reject(ing, in, p, RELAIS_REJECT_TOPIC, detail, now_ms);
        goto out;
    }
    if (in->len > RELAIS_SENML_MAX_BYTES) {
        snprintf(detail, sizeof detail, "pack of %zu bytes exceeds %d", in->len,
                 RELAIS_SENML_MAX_BYTES);
        reject(ing, in, p, RELAIS_REJECT_TOO_LARGE, detail, now_ms);
        goto out;
    }
    enum relais_senml_format format;
    if (in->format >= 0) {
        format = (enum relais_senml_format)in->format;
    } else if (relais_senml_sniff(in->body, in->len, &format) != 0) {
        snprintf(detail, sizeof detail,
                 "first byte 0x%02x is neither JSON ('[' or whitespace) nor a CBOR array",
                 in->len ? in->body[0] : 0);
        reject(ing, in, p, RELAIS_REJECT_FORMAT, detail, now_ms);
        goto out;
    }
    struct relais_senml_error err;
    int rc = relais_senml_decode(&ing->pack, format, in->body, in->len, in->device,
                                 (double)now_ms / 1000.0, &err);
    if (rc == RELAIS_ENOMEM) {
        make_busy(ing, p, "out_of_memory: retry later");
        goto out;
    }
    if (rc != RELAIS_OK) {
        /* a bad pack is refused for good, quota or not: retrying cannot help */
        reject(ing, in, p, err.reason, err.detail, now_ms);
        goto out;
    }
    enum relais_reject_reason sig_why = check_signature(ing, in, detail, sizeof detail);
    if (sig_why != RELAIS_REJECT_NONE) {
        /* forged or unsigned: final, quota or not (a resend cannot help) */
        reject(ing, in, p, sig_why, detail, now_ms);
        goto out;
    }
    if (relais_store_busy(ing->store)) {
        /* what is stored already is safe: a resend is told so, not to retry */
        bool dup = false;
        if (relais_store_is_duplicate(ing->store, in->device, in->seq, in->body, in->len, &dup) ==
                RELAIS_OK &&
            dup) {
            p->ack.records = (uint32_t)ing->pack.count;
            p->kind = PK_DUPLICATE;
            p->ack.status = RELAIS_WIRE_ACK_DUPLICATE;
            goto out;
        }
        make_busy(ing, p, "store_full: the store reached its quota");
        goto out;
    }
    snprintf(ing->pack.device, sizeof ing->pack.device, "%s", in->device);
    ing->pack.seq = in->seq;

    enum relais_store_put put;
    rc = ensure_txn(ing);
    if (rc == RELAIS_OK)
        rc = relais_store_put_pack(ing->store, &ing->pack, in->body, in->len, in->transport, now_ms,
                                   &put);
    if (rc != RELAIS_OK) {
        batch_fail(ing, "store_unavailable: the store cannot write");
        make_busy(ing, p, "store_unavailable: the store cannot write");
        goto out;
    }
    p->ack.records = (uint32_t)ing->pack.count;
    switch (put) {
    case RELAIS_PUT_STORED:
        p->kind = PK_STORED;
        p->ack.status = RELAIS_WIRE_ACK_STORED;
        break;
    case RELAIS_PUT_FLAGGED:
        p->kind = PK_FLAGGED;
        p->ack.status = RELAIS_WIRE_ACK_STORED;
        log_warn("ingest", "%s reused seq %llu with a different body: stored and flagged",
                 in->device, (unsigned long long)in->seq);
        break;
    case RELAIS_PUT_DUPLICATE:
        p->kind = PK_DUPLICATE;
        p->ack.status = RELAIS_WIRE_ACK_DUPLICATE;
        break;
    }
out:
    if (ing->npending >= ing->cap) relais_ingest_flush(ing);
    return RELAIS_OK;
}

int relais_ingest_audit(struct relais_ingest *ing, const char *kind, const char *subject,
                        const char *detail)
{
    int64_t now_ms = relais_clock_wall_ms(relais_loop_clock(ing->loop));
    int rc = ensure_txn(ing);
    if (rc == RELAIS_OK) rc = relais_store_audit(ing->store, now_ms, kind, subject, detail);
    if (rc != RELAIS_OK) {
        log_error("ingest", "cannot audit %s %s: %s", kind, subject, relais_strerror(rc));
        if (ing->npending)
            batch_fail(ing, "store_unavailable: the store cannot write");
        else
            relais_store_rollback(ing->store);
        return rc;
    }
    /* the end-of-turn hook commits it, with the batch if there is one */
    return RELAIS_OK;
}

void relais_ingest_unroutable(struct relais_ingest *ing, enum relais_transport transport,
                              const char *what, size_t len)
{
    int64_t now_ms = relais_clock_wall_ms(relais_loop_clock(ing->loop));
    char detail[200];
    ing->counters.received++;
    ing->counters.unroutable++;
    ing->counters.rejected_by[RELAIS_REJECT_TOPIC]++;
    snprintf(detail, sizeof detail, "'%.120s' is not relais/dev/{device}/up/{seq} (%zu bytes)",
             what, len);
    log_warn("ingest", "unroutable input via %s: %s", relais_transport_name(transport), detail);
    struct relais_reject_record rec = {
        .transport = transport,
        .at_ms = now_ms,
        .reason = relais_reject_reason_name(RELAIS_REJECT_TOPIC),
        .detail = detail,
        .len = len,
    };
    if (ensure_txn(ing) != RELAIS_OK || relais_store_put_reject(ing->store, &rec) != RELAIS_OK) {
        log_error("ingest", "cannot record an unroutable input");
        if (ing->npending)
            batch_fail(ing, "store_unavailable: the store cannot write");
        else
            relais_store_rollback(ing->store);
        return;
    }
    /* the end-of-turn hook commits the record, with the batch if there is one */
}
