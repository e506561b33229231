// SPDX-License-Identifier: Apache-2.0
/*
 * The vitals hub's device logic (see relais/fw/vitals.h).
 *
 * A pack's life, one seq:
 *
 *   reading set --encode--> pending --seq_next+append--> IN LOG (unsent)
 *        step(): read_cb        submit()              |
 *                                                     | send_window(): among the
 *                                                     v RELAIS_FW_VITALS_WINDOW oldest
 *                               +--timeout--> SENT (win slot, due_ms, attempts)
 *                               |  resend,        |
 *                               |  backoff x2     | on_ack(): stored, duplicate, rejected
 *                               +-----------------+           -> ringlog_ack, slot freed
 *                                                 | on_ack(): busy -> hold every send
 *                                                               for retry_s, resend after
 *
 * Invariant: a pack is in the log before it is sent, and leaves it only when
 * relaisd answered stored, duplicate or rejected: a reboot at any point
 * resends what has no ack, under the same seq and with the same body (so
 * relaisd sees a duplicate, never a reused seq).  Every win[] slot holds a
 * seq among the WINDOW oldest unacknowledged packs, or 0.
 */
#include "relais/fw/vitals.h"

#include <string.h>

#include "relais/wire.h"

int relais_fw_vitals_init(struct relais_fw_vitals *v, struct relais_fw_ringlog *log,
                          const struct relais_fw_vitals_ops *ops, const char *device,
                          enum relais_fw_vitals_format format, uint32_t resend_ms,
                          uint32_t resend_max_ms, int64_t clock_offset_ms)
{
    if (!v || !log || !ops || !ops->read_cb || !ops->send_cb || !ops->log_cb || !device)
        return RELAIS_FW_EINVAL;
    if (!relais_wire_id_valid(device, strlen(device))) return RELAIS_FW_EINVAL;
    if (resend_ms < 1 || resend_max_ms < resend_ms) return RELAIS_FW_EINVAL;
    memset(v, 0, sizeof *v);
    v->log = log;
    v->ops = *ops;
    v->device = device;
    v->format = format;
    v->resend_ms = resend_ms;
    v->resend_max_ms = resend_max_ms;
    v->clock_offset_ms = clock_offset_ms;
    return RELAIS_FW_OK;
}

static void say(struct relais_fw_vitals *v, enum relais_fw_vitals_log_level lvl, uint64_t seq,
                const char *msg)
{
    v->ops.log_cb(v->ops.ctx, lvl, seq, msg);
}

int relais_fw_vitals_submit(struct relais_fw_vitals *v, const void *body, size_t len, uint64_t *seq)
{
    uint64_t s = 0;
    if (len > relais_fw_ringlog_max_payload(v->log)) return RELAIS_FW_ETOOBIG;
    int rc = relais_fw_ringlog_seq_next(v->log, &s);
    if (rc) return rc;
    /* A seq lost to a failed append is never used again: seqs only increase. */
    rc = relais_fw_ringlog_append(v->log, s, body, (uint32_t)len);
    if (rc) return rc;
    if (seq) *seq = s;
    return RELAIS_FW_OK;
}

/* Takes a reading set when one is due, unless one already waits for room. */
static int take_reading(struct relais_fw_vitals *v, uint64_t now_ms)
{
    if (!v->pending_len) {
        double device_s = (double)((int64_t)now_ms + v->clock_offset_ms) / 1000.0;
        double bt = 0;
        int n = v->ops.read_cb(v->ops.ctx, device_s, v->rec, RELAIS_FW_VITALS_MAX_RECORDS, &bt);
        if (n <= 0) return RELAIS_FW_OK;
        if (n > RELAIS_FW_VITALS_MAX_RECORDS) return RELAIS_FW_EINVAL;
        size_t len = 0;
        int rc;
        if (v->format == RELAIS_FW_VITALS_CBOR)
            rc = relais_fw_senml_cbor(v->pending, sizeof v->pending, &len, v->device, bt, v->rec,
                                      (size_t)n);
        else
            rc = relais_fw_senml_json((char *)v->pending, sizeof v->pending, &len, v->device, bt,
                                      v->rec, (size_t)n);
        if (rc) {
            /* The encoder refuses what relaisd would reject: a sensor fault. */
            say(v, RELAIS_FW_VITALS_ERROR, 0, relais_fw_strerror(rc));
            return RELAIS_FW_OK;
        }
        v->pending_len = len;
        v->stats.generated++;
    }
    int rc = relais_fw_vitals_submit(v, v->pending, v->pending_len, NULL);
    if (rc == RELAIS_FW_OK) v->pending_len = 0;
    return rc;
}

static struct relais_fw_vitals_inflight *slot_find(struct relais_fw_vitals *v, uint64_t seq)
{
    for (size_t i = 0; i < RELAIS_FW_VITALS_WINDOW; i++)
        if (v->win[i].seq == seq) return &v->win[i];
    return NULL;
}

static uint64_t backoff_ms(const struct relais_fw_vitals *v, uint32_t attempts)
{
    uint64_t d = v->resend_ms;
    for (uint32_t i = 1; i < attempts && d < v->resend_max_ms; i++)
        d *= 2;
    return d < v->resend_max_ms ? d : v->resend_max_ms;
}

/* Sends what is due among the WINDOW oldest unacknowledged packs. */
static int send_window(struct relais_fw_vitals *v, uint64_t now_ms)
{
    if (now_ms < v->hold_until_ms) return RELAIS_FW_OK;
    struct relais_fw_ringlog_iter it;
    struct relais_fw_ringlog_pack p;
    relais_fw_ringlog_iter_init(&it);
    for (size_t k = 0; k < RELAIS_FW_VITALS_WINDOW; k++) {
        int rc = relais_fw_ringlog_iter_next(v->log, &it, &p);
        if (rc == RELAIS_FW_ENOTFOUND) return RELAIS_FW_OK;
        if (rc) return rc;
        struct relais_fw_vitals_inflight *s = slot_find(v, p.seq);
        if (s && now_ms < s->due_ms) continue;
        if (!s) s = slot_find(v, 0);
        if (!s) return RELAIS_FW_EINTERNAL; /* the invariant above broke */
        int n = relais_fw_ringlog_read(v->log, &p, v->pack, sizeof v->pack);
        if (n == RELAIS_FW_ECORRUPT) {
            /* Unreadable for ever: resending it would block the window. */
            say(v, RELAIS_FW_VITALS_ERROR, p.seq, "pack corrupt in flash, dropped");
            s->seq = 0;
            rc = relais_fw_ringlog_ack(v->log, p.seq);
            if (rc && rc != RELAIS_FW_ENOTFOUND) return rc;
            continue;
        }
        if (n < 0) return n;
        if (v->ops.send_cb(v->ops.ctx, p.seq, v->pack, (size_t)n) != 0) {
            /* Link down: try again after the first timeout. */
            if (s->seq == 0) s->seq = p.seq;
            s->due_ms = now_ms + v->resend_ms;
            return RELAIS_FW_OK;
        }
        if (s->seq == 0) {
            s->seq = p.seq;
            s->attempts = 0;
        }
        s->attempts++;
        if (s->attempts == 1)
            v->stats.sent++;
        else
            v->stats.resent++;
        s->due_ms = now_ms + backoff_ms(v, s->attempts);
    }
    return RELAIS_FW_OK;
}

int relais_fw_vitals_step(struct relais_fw_vitals *v, uint64_t now_ms)
{
    int rc = take_reading(v, now_ms);
    if (rc && rc != RELAIS_FW_EFULL) return rc;
    int rc2 = send_window(v, now_ms);
    return rc2 ? rc2 : rc;
}

int relais_fw_vitals_on_ack(struct relais_fw_vitals *v, const char *body, size_t len,
                            uint64_t now_ms)
{
    struct relais_wire_ack ack;
    if (relais_wire_ack_parse(body, len, &ack) != 0) {
        say(v, RELAIS_FW_VITALS_WARN, 0, "not an ack, ignored");
        return RELAIS_FW_EINVAL;
    }
    struct relais_fw_vitals_inflight *s = ack.seq ? slot_find(v, ack.seq) : NULL;
    switch (ack.status) {
    case RELAIS_WIRE_ACK_BUSY: {
        uint64_t wait = ack.retry_s ? (uint64_t)ack.retry_s * 1000u : v->resend_ms;
        v->stats.busy++;
        v->hold_until_ms = now_ms + wait;
        if (s) s->due_ms = v->hold_until_ms;
        say(v, RELAIS_FW_VITALS_WARN, ack.seq, "relaisd busy, holding back");
        return RELAIS_FW_OK;
    }
    case RELAIS_WIRE_ACK_REJECTED:
        v->stats.rejected++;
        say(v, RELAIS_FW_VITALS_ERROR, ack.seq, ack.error[0] ? ack.error : "rejected");
        break;
    case RELAIS_WIRE_ACK_DUPLICATE: v->stats.duplicate++; break;
    case RELAIS_WIRE_ACK_STORED: v->stats.stored++; break;
    }
    if (s) s->seq = 0;
    int rc = relais_fw_ringlog_ack(v->log, ack.seq);
    return rc == RELAIS_FW_ENOTFOUND ? RELAIS_FW_OK : rc;
}

int relais_fw_vitals_on_cmd(struct relais_fw_vitals *v, const char *body, size_t len,
                            uint64_t now_ms)
{
    struct relais_wire_cmd c;
    if (relais_wire_cmd_parse(body, len, &c) != 0) {
        say(v, RELAIS_FW_VITALS_WARN, 0, "unreadable command, ignored");
        return RELAIS_FW_EINVAL;
    }
    if (c.kind != RELAIS_WIRE_CMD_TIME) {
        say(v, RELAIS_FW_VITALS_INFO, 0, "command ignored");
        return RELAIS_FW_EINVAL;
    }
    v->clock_offset_ms = (int64_t)c.t_ms - (int64_t)now_ms;
    say(v, RELAIS_FW_VITALS_INFO, 0, "device clock set");
    return RELAIS_FW_OK;
}

void relais_fw_vitals_link_up(struct relais_fw_vitals *v, uint64_t now_ms)
{
    for (size_t i = 0; i < RELAIS_FW_VITALS_WINDOW; i++)
        if (v->win[i].seq) v->win[i].due_ms = now_ms;
}

int relais_fw_vitals_idle(const struct relais_fw_vitals *v)
{
    return v->pending_len == 0 && relais_fw_ringlog_unacked(v->log) == 0;
}
