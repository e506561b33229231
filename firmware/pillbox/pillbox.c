// SPDX-License-Identifier: Apache-2.0
/*
 * The pill box's device logic (see relais/fw/pillbox.h).
 *
 * A pack's life, one seq:
 *
 *   events --gather--> ev[] --seal: encode--> pending --seq_next+append--> IN LOG
 *     lid/dose/battery        lid(false), flush     store()                   |
 *                                                                            | step(): the
 *                                                                            v oldest, alone
 *                               +--timeout--> IN FLIGHT (inflight_seq, due_ms, attempts)
 *                               |  resend,        |
 *                               |  backoff x2     | on_response(): 2.04 stored, duplicate,
 *                               +-----------------+   rejected; 4.00/4.13/4.15
 *                                                 |   -> ringlog_ack, nothing in flight
 *                                                 | on_response(): 5.03 or busy -> hold
 *                                                     every send for Max-Age / retry_s
 *
 * Invariant: a pack is in the log before it is sent, and leaves it only when
 * relaisd answered it for good: a reboot at any point resends what has no
 * answer, under the same seq and with the same body (relaisd sees a
 * duplicate, never a reused seq).  inflight_seq is 0 or the oldest
 * unacknowledged pack.
 */
#include "relais/fw/pillbox.h"

#include <string.h>

#include "relais/wire.h"

int relais_fw_pillbox_init(struct relais_fw_pillbox *pb, struct relais_fw_ringlog *log,
                           const struct relais_fw_pillbox_ops *ops, const char *device,
                           uint32_t resend_ms, uint32_t resend_max_ms)
{
    if (!pb || !log || !ops || !ops->send_cb || !ops->log_cb || !device) return RELAIS_FW_EINVAL;
    if (!relais_wire_id_valid(device, strlen(device))) return RELAIS_FW_EINVAL;
    if (resend_ms < 1 || resend_max_ms < resend_ms) return RELAIS_FW_EINVAL;
    memset(pb, 0, sizeof *pb);
    pb->log = log;
    pb->ops = *ops;
    pb->device = device;
    pb->resend_ms = resend_ms;
    pb->resend_max_ms = resend_max_ms;
    return RELAIS_FW_OK;
}

static void say(struct relais_fw_pillbox *pb, enum relais_fw_pillbox_log_level lvl, uint64_t seq,
                const char *msg)
{
    pb->ops.log_cb(pb->ops.ctx, lvl, seq, msg);
}

/* Puts the pending pack in the log under a fresh seq. */
static int store(struct relais_fw_pillbox *pb)
{
    uint64_t s = 0;
    if (!pb->pending_len) return RELAIS_FW_OK;
    int rc = relais_fw_ringlog_seq_next(pb->log, &s);
    if (rc) return rc;
    /* A seq lost to a failed append is never used again: seqs only increase. */
    rc = relais_fw_ringlog_append(pb->log, s, pb->pending, (uint32_t)pb->pending_len);
    if (rc) return rc;
    pb->pending_len = 0;
    return RELAIS_FW_OK;
}

/* Encodes the gathered records as one pack and stores it. */
static int seal(struct relais_fw_pillbox *pb)
{
    if (!pb->nev) return RELAIS_FW_OK;
    if (pb->pending_len) return RELAIS_FW_EFULL; /* unreachable: callers store first */
    /* bt: the first timed record; the encoder writes the others relative. */
    double bt = 0;
    for (size_t i = 0; i < pb->nev; i++) {
        pb->rec[i] = pb->ev[i].rec;
        if (pb->ev[i].rec.kind == RELAIS_FW_V_STR) pb->rec[i].vs = pb->ev[i].slot;
        if (bt == 0 && pb->rec[i].t != 0) bt = pb->rec[i].t;
    }
    size_t len = 0, n = pb->nev;
    pb->nev = 0;
    int rc =
        relais_fw_senml_cbor(pb->pending, sizeof pb->pending, &len, pb->device, bt, pb->rec, n);
    if (rc) {
        /* The encoder refuses what relaisd would reject: a sensor fault. */
        say(pb, RELAIS_FW_PILLBOX_ERROR, 0, relais_fw_strerror(rc));
        return RELAIS_FW_OK;
    }
    if (len > relais_fw_ringlog_max_payload(pb->log)) {
        say(pb, RELAIS_FW_PILLBOX_ERROR, 0, "pack larger than a log record, dropped");
        return RELAIS_FW_OK;
    }
    pb->pending_len = len;
    pb->stats.generated++;
    /* No room in the log: the pack waits in RAM (the event is taken), step()
     * stores it once acks have made room; the next event is refused. */
    int src = store(pb);
    return src == RELAIS_FW_EFULL ? RELAIS_FW_OK : src;
}

/* Room for one more event: a sealed pack waiting for the log goes first. */
static int make_room(struct relais_fw_pillbox *pb)
{
    if (pb->pending_len) {
        int rc = store(pb);
        if (rc) return rc;
    }
    if (pb->nev == RELAIS_FW_PILLBOX_MAX_RECORDS) return seal(pb);
    return RELAIS_FW_OK;
}

static struct relais_fw_pillbox_event *add(struct relais_fw_pillbox *pb, const char *name,
                                           enum relais_fw_value_kind kind, double t)
{
    struct relais_fw_pillbox_event *e = &pb->ev[pb->nev++];
    memset(e, 0, sizeof *e);
    e->rec.name = name;
    e->rec.kind = kind;
    e->rec.t = t;
    return e;
}

static void indicate(struct relais_fw_pillbox *pb, enum relais_fw_pillbox_indication what,
                     const char *detail)
{
    if (pb->ops.indicate_cb) pb->ops.indicate_cb(pb->ops.ctx, what, detail);
}

int relais_fw_pillbox_lid(struct relais_fw_pillbox *pb, bool open, double t)
{
    int rc = make_room(pb);
    if (rc) return rc;
    if (open && pb->reminding) {
        pb->reminding = false;
        indicate(pb, RELAIS_FW_PILLBOX_REMIND_OFF, pb->remind_slot);
    }
    add(pb, "lid", RELAIS_FW_V_BOOL, t)->rec.vb = open;
    pb->lid_open = open;
    if (!open || pb->nev == RELAIS_FW_PILLBOX_MAX_RECORDS) return seal(pb);
    return RELAIS_FW_OK;
}

int relais_fw_pillbox_dose(struct relais_fw_pillbox *pb, const char *slot, double t)
{
    size_t n = slot ? strlen(slot) : 0;
    if (n == 0 || n > RELAIS_FW_PILLBOX_SLOT_MAX) return RELAIS_FW_EINVAL;
    int rc = make_room(pb);
    if (rc) return rc;
    struct relais_fw_pillbox_event *e = add(pb, "dose", RELAIS_FW_V_STR, t);
    memcpy(e->slot, slot, n + 1);
    if (!pb->lid_open || pb->nev == RELAIS_FW_PILLBOX_MAX_RECORDS) return seal(pb);
    return RELAIS_FW_OK;
}

int relais_fw_pillbox_battery(struct relais_fw_pillbox *pb, double percent, double t)
{
    if (!(percent >= 0.0 && percent <= 100.0)) return RELAIS_FW_EINVAL;
    int rc = make_room(pb);
    if (rc) return rc;
    add(pb, "battery", RELAIS_FW_V_NUM, t)->rec.v = percent;
    if (!pb->lid_open || pb->nev == RELAIS_FW_PILLBOX_MAX_RECORDS) return seal(pb);
    return RELAIS_FW_OK;
}

int relais_fw_pillbox_flush(struct relais_fw_pillbox *pb)
{
    if (pb->pending_len) {
        int rc = store(pb);
        if (rc) return rc;
    }
    return seal(pb);
}

static uint64_t backoff_ms(const struct relais_fw_pillbox *pb, uint32_t attempts)
{
    uint64_t d = pb->resend_ms;
    for (uint32_t i = 1; i < attempts && d < pb->resend_max_ms; i++)
        d *= 2;
    return d < pb->resend_max_ms ? d : pb->resend_max_ms;
}

int relais_fw_pillbox_step(struct relais_fw_pillbox *pb, uint64_t now_ms)
{
    if (pb->pending_len) {
        int rc = store(pb);
        if (rc && rc != RELAIS_FW_EFULL) return rc;
    }
    if (now_ms < pb->hold_until_ms) return RELAIS_FW_OK;
    if (pb->inflight_seq && now_ms < pb->due_ms) return RELAIS_FW_OK;
    struct relais_fw_ringlog_pack p;
    int n = 0;
    for (;;) {
        int rc = relais_fw_ringlog_oldest_unacked(pb->log, &p);
        if (rc == RELAIS_FW_ENOTFOUND) {
            pb->inflight_seq = 0;
            return RELAIS_FW_OK;
        }
        if (rc) return rc;
        n = relais_fw_ringlog_read(pb->log, &p, pb->pack, sizeof pb->pack);
        if (n == RELAIS_FW_ECORRUPT || n == RELAIS_FW_ETOOBIG) {
            /* Unreadable for ever: resending it would block every later pack. */
            say(pb, RELAIS_FW_PILLBOX_ERROR, p.seq, "pack unreadable in flash, dropped");
            rc = relais_fw_ringlog_ack(pb->log, p.seq);
            if (rc && rc != RELAIS_FW_ENOTFOUND) return rc;
            continue;
        }
        if (n < 0) return n;
        break;
    }
    if (pb->inflight_seq != p.seq) {
        pb->inflight_seq = p.seq;
        pb->attempts = 0;
    }
    const uint8_t *sig = NULL;
    if (pb->ops.sign_cb) {
        /* every send is signed: the MAC binds this device and this seq */
        uint8_t head[RELAIS_WIRE_SIG_HEAD_MAX];
        int hl = relais_wire_sig_head(head, sizeof head, pb->device, p.seq);
        if (hl < 0 ||
            pb->ops.sign_cb(pb->ops.ctx, head, (size_t)hl, pb->pack, (size_t)n, pb->sig) != 0) {
            say(pb, RELAIS_FW_PILLBOX_ERROR, p.seq, "cannot sign the pack, not sent");
            pb->due_ms = now_ms + pb->resend_ms;
            return RELAIS_FW_OK;
        }
        sig = pb->sig;
    }
    if (pb->ops.send_cb(pb->ops.ctx, p.seq, pb->pack, (size_t)n, sig) != 0) {
        /* The link cannot take it: try again after the first timeout. */
        pb->due_ms = now_ms + pb->resend_ms;
        return RELAIS_FW_OK;
    }
    pb->attempts++;
    if (pb->attempts == 1)
        pb->stats.sent++;
    else
        pb->stats.resent++;
    pb->due_ms = now_ms + backoff_ms(pb, pb->attempts);
    return RELAIS_FW_OK;
}

/* The pack in flight is answered for good: it leaves the log. */
static int done(struct relais_fw_pillbox *pb, uint64_t seq)
{
    pb->inflight_seq = 0;
    pb->attempts = 0;
    int rc = relais_fw_ringlog_ack(pb->log, seq);
    return rc == RELAIS_FW_ENOTFOUND ? RELAIS_FW_OK : rc;
}

static void hold(struct relais_fw_pillbox *pb, uint64_t seq, uint64_t wait_ms, uint64_t now_ms)
{
    pb->stats.busy++;
    pb->hold_until_ms = now_ms + wait_ms;
    /* The same pack first when the hold ends (a resend), its backoff restarted. */
    pb->due_ms = pb->hold_until_ms;
    if (pb->attempts) pb->attempts = 1;
    say(pb, RELAIS_FW_PILLBOX_WARN, seq, "relaisd busy, holding back");
}

static int on_ack(struct relais_fw_pillbox *pb, uint64_t seq, const uint8_t *body, size_t len,
                  uint64_t now_ms)
{
    struct relais_wire_ack ack;
    /* The ack comes in the request's format (CBOR), JSON accepted too. */
    int bad = !body || !len ? 1
              : body[0] >= 0xa0 && body[0] <= 0xbf
                  ? relais_wire_ack_parse_cbor(body, len, &ack)
                  : relais_wire_ack_parse((const char *)body, len, &ack);
    if (bad || ack.seq != seq) {
        say(pb, RELAIS_FW_PILLBOX_WARN, seq,
            bad ? "unreadable ack, resending" : "ack for another seq");
        return RELAIS_FW_EINVAL;
    }
    switch (ack.status) {
    case RELAIS_WIRE_ACK_BUSY:
        hold(pb, seq, ack.retry_s ? (uint64_t)ack.retry_s * 1000u : pb->resend_ms, now_ms);
        return RELAIS_FW_OK;
    case RELAIS_WIRE_ACK_REJECTED:
        pb->stats.rejected++;
        say(pb, RELAIS_FW_PILLBOX_ERROR, seq, ack.error[0] ? ack.error : "rejected");
        break;
    case RELAIS_WIRE_ACK_DUPLICATE: pb->stats.duplicate++; break;
    case RELAIS_WIRE_ACK_STORED: pb->stats.stored++; break;
    }
    return done(pb, seq);
}

int relais_fw_pillbox_on_response(struct relais_fw_pillbox *pb, uint64_t seq, unsigned code,
                                  const uint8_t *body, size_t len, uint32_t max_age_s,
                                  uint64_t now_ms)
{
    if (seq == 0 || seq != pb->inflight_seq) return RELAIS_FW_OK; /* a late answer */
    if (!body) len = 0;
    switch (code) {
    case RELAIS_FW_COAP_CHANGED:
    case RELAIS_FW_COAP_CREATED: return on_ack(pb, seq, body, len, now_ms);
    case RELAIS_FW_COAP_UNAVAILABLE:
        hold(pb, seq, max_age_s ? (uint64_t)max_age_s * 1000u : pb->resend_ms, now_ms);
        return RELAIS_FW_OK;
    case RELAIS_FW_COAP_BAD_REQUEST:
    case RELAIS_FW_COAP_TOO_LARGE:
    case RELAIS_FW_COAP_UNSUPPORTED: {
        /* Final: the diagnostic payload says why (bounded, may lack a NUL). */
        char msg[RELAIS_WIRE_ACK_ERROR_MAX + 1];
        size_t n = len < sizeof msg - 1 ? len : sizeof msg - 1;
        if (n) memcpy(msg, body, n);
        msg[n] = '\0';
        pb->stats.rejected++;
        say(pb, RELAIS_FW_PILLBOX_ERROR, seq, n ? msg : "refused by relaisd");
        return done(pb, seq);
    }
    default:
        /* Credentials or gateway trouble: the pack is kept, the backoff runs. */
        say(pb, RELAIS_FW_PILLBOX_WARN, seq, "error response, the pack is kept");
        return RELAIS_FW_OK;
    }
}

int relais_fw_pillbox_on_cmd(struct relais_fw_pillbox *pb, const char *body, size_t len,
                             uint64_t now_ms)
{
    struct relais_wire_cmd c;
    if (relais_wire_cmd_parse(body, len, &c) != 0) {
        pb->stats.bad_commands++;
        say(pb, RELAIS_FW_PILLBOX_WARN, 0, "unreadable command, ignored");
        return RELAIS_FW_EINVAL;
    }
    if (c.id) {
        if (c.id <= pb->cmd_after) return RELAIS_FW_OK; /* carried out already */
        pb->cmd_after = c.id;
    }
    pb->stats.commands++;
    switch (c.kind) {
    case RELAIS_WIRE_CMD_REMIND: {
        size_t n = strlen(c.slot);
        if (n > RELAIS_FW_PILLBOX_SLOT_MAX) n = RELAIS_FW_PILLBOX_SLOT_MAX;
        memcpy(pb->remind_slot, c.slot, n);
        pb->remind_slot[n] = '\0';
        pb->reminding = true;
        pb->stats.reminds++;
        indicate(pb, RELAIS_FW_PILLBOX_REMIND_ON, pb->remind_slot);
        break;
    }
    case RELAIS_WIRE_CMD_CALL15:
        pb->call15 = true;
        pb->stats.call15s++;
        indicate(pb, RELAIS_FW_PILLBOX_CALL15, c.alert);
        break;
    case RELAIS_WIRE_CMD_TIME:
        pb->clock_offset_ms = (int64_t)c.t_ms - (int64_t)now_ms;
        pb->clock_set = true;
        indicate(pb, RELAIS_FW_PILLBOX_TIME_SET, "");
        break;
    default: say(pb, RELAIS_FW_PILLBOX_INFO, 0, "unknown command, ignored"); break;
    }
    return RELAIS_FW_OK;
}

uint64_t relais_fw_pillbox_cmd_after(const struct relais_fw_pillbox *pb)
{
    return pb->cmd_after;
}

double relais_fw_pillbox_time(const struct relais_fw_pillbox *pb, uint64_t now_ms)
{
    if (!pb->clock_set) return 0;
    return (double)((int64_t)now_ms + pb->clock_offset_ms) / 1000.0;
}

void relais_fw_pillbox_link_up(struct relais_fw_pillbox *pb, uint64_t now_ms)
{
    if (pb->inflight_seq) pb->due_ms = now_ms;
}

int relais_fw_pillbox_idle(const struct relais_fw_pillbox *pb)
{
    return pb->nev == 0 && pb->pending_len == 0 && relais_fw_ringlog_unacked(pb->log) == 0;
}
