/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CoAP server: libcoap glue, sessions, DTLS-PSK per device, rate limits,
 * block-wise uploads and separate responses sent after the group commit.
 *
 * Exchange life (one POST of a pack):
 *
 *   request --hnd_post()--> registered async (empty ACK sent by libcoap)
 *           --relais_ingest_submit()--> PENDING
 *   PENDING --coap_reply() after the commit--> DONE, async triggered
 *   DONE    --hnd_post() called again by libcoap--> response sent, freed
 *   any     --session deleted--> orphan: the answer is counted as lost
 *
 * Peer (one libcoap server session):
 *   SERVER_SESSION_NEW -> peer_new(); DTLS_CONNECTED -> identity known;
 *   SERVER_SESSION_DEL -> peer_free() (its exchanges become orphans).
 */
#include "relais/coap_server.h"
#include "coap_internal.h"
#include "relais/crypto.h"
#include "relais/error.h"
#include "relais/log.h"
#include "relais/senml.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PEER_TRANSFERS   2
#define TRANSFER_IDLE_MS 60000
#define MAX_EXCHANGES    1024
#define AUDIT_RATE       10 /* refusal audit records per second, beyond: counted */

struct peer {
    struct relais_coap_server *srv;
    coap_session_t *session;
    struct peer *next;
    bool dtls;
    bool established;                      /* DTLS handshake done and not closed since */
    char identity[RELAIS_WIRE_ID_MAX + 1]; /* DTLS identity, "" until known */
    double tokens;
    uint64_t refill_ms;
    struct coap_transfer transfers[PEER_TRANSFERS];
};

struct exchange {
    uint32_t id; /* slot + 1 in the low 16 bits, a generation above */
    bool used, done;
    struct peer *peer; /* NULL: the session is gone */
    coap_async_t *async;
    int format;
    bool has_block1;
    coap_block_t block1;
    coap_pdu_code_t code;
    bool has_cf;
    unsigned cf;
    uint32_t max_age; /* 0: none */
    uint8_t body[RELAIS_WIRE_ACK_MAX];
    size_t body_len;
};

struct relais_coap_server {
    struct relais_loop *loop;
    struct relais_ingest *ing;
    struct relais_registry *reg;
    struct relais_coap_opts opts;
    char bind[64];
    coap_context_t *ctx;
    struct relais_io io;
    struct relais_timer timer;
    struct relais_hook hook;
    bool kick; /* asyncs were triggered: run libcoap before waiting */
    struct peer *peers;
    unsigned transfers;
    struct exchange *ex;
    uint16_t ex_gen;
    double hs_tokens;
    uint64_t hs_refill_ms;
    double audit_tokens;
    uint64_t audit_refill_ms;
    uint64_t unaudited;
    uint8_t psk[RELAIS_PSK_LEN];
    coap_bin_const_t psk_bin;
    struct relais_coap_stats stats;
};

/* libcoap's log handler is global: one server per process. */
static struct relais_coap_server *log_owner;

/* ---- small helpers ---- */

static uint64_t now_ms(const struct relais_coap_server *srv)
{
    return relais_clock_mono_ms(relais_loop_clock(srv->loop));
}

/* A token bucket: rate per second, burst of twice the rate. */
static bool bucket_take(double *tokens, uint64_t *refill_ms, unsigned rate, uint64_t now)
{
    double cap = 2.0 * rate;
    if (*refill_ms == 0) {
        *tokens = cap;
        *refill_ms = now;
    }
    *tokens += (double)(now - *refill_ms) * rate / 1000.0;
    if (*tokens > cap) *tokens = cap;
    *refill_ms = now;
    if (*tokens < 1.0) return false;
    *tokens -= 1.0;
    return true;
}

static void answer_count(struct relais_coap_server *srv, coap_pdu_code_t code)
{
    int i;
    switch (code) {
    case COAP_RESPONSE_CODE_CHANGED: i = 0; break;
    case COAP_RESPONSE_CODE_BAD_REQUEST: i = 1; break;
    case COAP_RESPONSE_CODE_UNAUTHORIZED: i = 2; break;
    case COAP_RESPONSE_CODE_FORBIDDEN: i = 3; break;
    case COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE: i = 5; break;
    default: i = 4; break;
    }
    srv->stats.answered[i]++;
}

/* Answers at once with a code and a diagnostic payload (RFC 7252 5.5.2). */
static void respond(struct relais_coap_server *srv, coap_pdu_t *resp, coap_pdu_code_t code,
                    const char *why, uint32_t max_age)
{
    coap_pdu_set_code(resp, code);
    if (max_age) {
        uint8_t buf[4];
        coap_add_option(resp, COAP_OPTION_MAXAGE, coap_encode_var_safe(buf, sizeof buf, max_age),
                        buf);
    }
    if (code == COAP_RESPONSE_CODE_REQUEST_TOO_LARGE) {
        uint8_t buf[4];
        coap_add_option(resp, COAP_OPTION_SIZE1,
                        coap_encode_var_safe(buf, sizeof buf, RELAIS_SENML_MAX_BYTES), buf);
    }
    if (why && why[0]) coap_add_data(resp, strlen(why), (const uint8_t *)why);
    answer_count(srv, code);
}

static void add_block1(coap_pdu_t *resp, const coap_block_t *b, bool more)
{
    uint8_t buf[4];
    unsigned v = (b->num << 4) | (more ? 0x08u : 0u) | b->szx;
    coap_add_option(resp, COAP_OPTION_BLOCK1, coap_encode_var_safe(buf, sizeof buf, v), buf);
}

/* Audit records (and warnings) for refusals, at most AUDIT_RATE a second: a
 * flood must not flood the audit log and the journal too.  The rest are
 * counted and summed up in the next record written. */
static void audit_refusal(struct relais_coap_server *srv, const char *kind, const char *subject,
                          const char *detail)
{
    if (!bucket_take(&srv->audit_tokens, &srv->audit_refill_ms, AUDIT_RATE, now_ms(srv))) {
        srv->unaudited++;
        return;
    }
    log_warn("coap", "%s %s: %s", kind, subject, detail);
    char d[256];
    if (srv->unaudited)
        snprintf(d, sizeof d, "%s (and %llu refusals not audited one by one before it)", detail,
                 (unsigned long long)srv->unaudited);
    else
        snprintf(d, sizeof d, "%s", detail);
    srv->unaudited = 0;
    relais_ingest_audit(srv->ing, kind, subject, d);
}

/* Printable id for logs and audit records: identities come from the network. */
static void safe_id(const uint8_t *s, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < cap && i < 40; i++)
        out[n++] = (s[i] >= 0x21 && s[i] < 0x7f) ? (char)s[i] : '?';
    out[n] = '\0';
}

/* ---- exchanges ---- */

static struct exchange *exchange_new(struct relais_coap_server *srv)
{
    for (uint32_t i = 0; i < MAX_EXCHANGES; i++) {
        struct exchange *e = &srv->ex[i];
        if (!e->used) {
            memset(e, 0, sizeof *e);
            e->used = true;
            srv->ex_gen++;
            e->id = (i + 1) | ((uint32_t)srv->ex_gen << 16);
            return e;
        }
    }
    return NULL;
}

static struct exchange *exchange_find(struct relais_coap_server *srv, uint32_t id)
{
    uint32_t slot = (id & 0xffffu);
    if (slot == 0 || slot > MAX_EXCHANGES) return NULL;
    struct exchange *e = &srv->ex[slot - 1];
    return e->used && e->id == id ? e : NULL;
}

static void exchange_free(struct exchange *e)
{
    memset(e, 0, sizeof *e);
}

/* After the commit: the pack's fate is known, trigger the separate response. */
static void coap_reply(void *ud, const char *device, const struct relais_wire_ack *ack,
                       const void *token, size_t token_len)
{
    struct relais_coap_server *srv = ud;
    uint32_t id;
    (void)device;
    if (token_len != sizeof id) return;
    memcpy(&id, token, sizeof id);
    struct exchange *e = exchange_find(srv, id);
    if (!e) return;
    if (!e->peer) {
        /* the session went away before the commit: the device resends */
        srv->stats.lost_answers++;
        exchange_free(e);
        return;
    }
    switch (ack->status) {
    case RELAIS_WIRE_ACK_STORED:
    case RELAIS_WIRE_ACK_DUPLICATE: {
        e->code = COAP_RESPONSE_CODE_CHANGED;
        e->has_cf = true;
        int n;
        if (e->format == RELAIS_SENML_CBOR) {
            e->cf = RELAIS_CF_CBOR;
            n = relais_wire_ack_format_cbor(e->body, sizeof e->body, ack);
        } else {
            e->cf = RELAIS_CF_JSON;
            n = relais_wire_ack_format((char *)e->body, sizeof e->body, ack);
        }
        e->body_len = n > 0 ? (size_t)n : 0;
        break;
    }
    case RELAIS_WIRE_ACK_REJECTED:
        e->code = COAP_RESPONSE_CODE_BAD_REQUEST;
        e->body_len = strlen(ack->error);
        memcpy(e->body, ack->error, e->body_len);
        break;
    case RELAIS_WIRE_ACK_BUSY:
        e->code = COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE;
        e->max_age = ack->retry_s ? ack->retry_s : 1;
        e->body_len = strlen(ack->error);
        memcpy(e->body, ack->error, e->body_len);
        break;
    }
    e->done = true;
    coap_async_trigger(e->async);
    srv->kick = true;
}

/* The second call of the handler for an exchange: send what the commit said. */
static void exchange_answer(struct relais_coap_server *srv, struct exchange *e, coap_pdu_t *resp)
{
    coap_pdu_set_code(resp, e->code);
    uint8_t buf[4];
    if (e->has_cf)
        coap_add_option(resp, COAP_OPTION_CONTENT_FORMAT,
                        coap_encode_var_safe(buf, sizeof buf, e->cf), buf);
    if (e->max_age)
        coap_add_option(resp, COAP_OPTION_MAXAGE, coap_encode_var_safe(buf, sizeof buf, e->max_age),
                        buf);
    if (e->has_block1) add_block1(resp, &e->block1, false);
    if (e->body_len) coap_add_data(resp, e->body_len, e->body);
    answer_count(srv, e->code);
    exchange_free(e);
}

/* ---- peers ---- */

static struct peer *peer_of(coap_session_t *s)
{
    return coap_session_get_app_data(s);
}

static void peer_new(struct relais_coap_server *srv, coap_session_t *s)
{
    struct peer *p = calloc(1, sizeof *p);
    if (!p) {
        log_error("coap", "out of memory for a session");
        return;
    }
    p->srv = srv;
    p->session = s;
    p->dtls = coap_session_get_proto(s) == COAP_PROTO_DTLS;
    p->next = srv->peers;
    srv->peers = p;
    coap_session_set_app_data(s, p);
}

static void peer_free(struct relais_coap_server *srv, coap_session_t *s)
{
    struct peer *p = peer_of(s);
    if (!p) return;
    for (struct peer **pp = &srv->peers; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    for (uint32_t i = 0; i < MAX_EXCHANGES; i++) {
        struct exchange *e = &srv->ex[i];
        if (e->used && e->peer == p) {
            e->peer = NULL;
            e->async = NULL; /* freed by libcoap with the session */
            if (e->done) {
                srv->stats.lost_answers++;
                exchange_free(e);
            }
        }
    }
    for (int i = 0; i < PEER_TRANSFERS; i++) {
        if (p->transfers[i].used) {
            coap__transfer_end(&p->transfers[i]);
            srv->transfers--;
        }
    }
    coap_session_set_app_data(s, NULL);
    free(p);
}

static int event_cb(coap_session_t *s, const coap_event_t ev)
{
    struct relais_coap_server *srv = coap_get_app_data(coap_session_get_context(s));
    struct peer *p = peer_of(s);
    switch (ev) {
    case COAP_EVENT_SERVER_SESSION_NEW: peer_new(srv, s); break;
    case COAP_EVENT_SERVER_SESSION_DEL: peer_free(srv, s); break;
    case COAP_EVENT_DTLS_CONNECTED:
        if (p && !p->established) {
            const coap_bin_const_t *id = coap_session_get_psk_identity(s);
            if (id && id->length <= RELAIS_WIRE_ID_MAX) {
                memcpy(p->identity, id->s, id->length);
                p->identity[id->length] = '\0';
                p->established = true;
                srv->stats.sessions_total++;
                log_info("coap", "DTLS session of %s established", p->identity);
            }
        }
        break;
    case COAP_EVENT_DTLS_CLOSED:
    case COAP_EVENT_DTLS_ERROR:
        if (p) p->established = false;
        break;
    default: break;
    }
    return 0;
}

/* ---- DTLS-PSK ---- */

static unsigned established_sessions(const struct relais_coap_server *srv)
{
    unsigned n = 0;
    for (const struct peer *p = srv->peers; p; p = p->next)
        n += p->dtls && p->established;
    return n;
}

static const coap_bin_const_t *psk_cb(coap_bin_const_t *identity, coap_session_t *s, void *arg)
{
    struct relais_coap_server *srv = arg;
    char id[48];
    (void)s;
    safe_id(identity->s, identity->length, id, sizeof id);
    const char *why = NULL;
    const struct relais_device *d = NULL;
    if (!relais_wire_id_valid((const char *)identity->s, identity->length))
        why = "identity is not a device id";
    else if (!(d = relais_registry_active(srv->reg, (const char *)identity->s, identity->length)))
        why = "unknown or removed device";
    else if (established_sessions(srv) >= srv->opts.max_sessions)
        why = "too many DTLS sessions";
    else if (!bucket_take(&srv->hs_tokens, &srv->hs_refill_ms, srv->opts.handshake_rate,
                          now_ms(srv)))
        why = "too many handshakes per second";
    if (why) {
        srv->stats.handshakes_refused++;
        audit_refusal(srv, "device.refused", id, why);
        return NULL;
    }
    memcpy(srv->psk, d->psk, RELAIS_PSK_LEN);
    srv->psk_bin.s = srv->psk; /* libcoap copies the key */
    srv->psk_bin.length = RELAIS_PSK_LEN;
    return &srv->psk_bin;
}

/* ---- requests ---- */

/* The upload this block belongs to; a free slot for a first block (or for a
 * stray later block, which coap__transfer_add() then refuses with 4.08);
 * NULL when no slot is free. */
static struct coap_transfer *transfer_for(struct relais_coap_server *srv, struct peer *p,
                                          const struct coap_req *req)
{
    struct coap_transfer *free_slot = NULL;
    for (int i = 0; i < PEER_TRANSFERS; i++) {
        struct coap_transfer *t = &p->transfers[i];
        if (t->used && t->seq == req->seq && strcmp(t->device, req->device) == 0) return t;
        if (!t->used && !free_slot) free_slot = t;
    }
    if (req->block1.num == 0 && srv->transfers >= srv->opts.max_transfers) return NULL;
    return free_slot;
}

/* The device a request may speak for, or NULL with the code to answer. */
static const struct relais_device *authorize(struct relais_coap_server *srv, struct peer *p,
                                             const struct coap_req *req, coap_pdu_code_t *code,
                                             const char **why)
{
    const struct relais_device *d;
    if (p && p->dtls) {
        if (!p->identity[0] || !p->established) {
            *code = COAP_RESPONSE_CODE_UNAUTHORIZED;
            *why = "no DTLS identity";
            return NULL;
        }
        d = relais_registry_active(srv->reg, p->identity, strlen(p->identity));
        if (!d) {
            *code = COAP_RESPONSE_CODE_UNAUTHORIZED;
            *why = "unknown or removed device";
            return NULL;
        }
        if (strcmp(p->identity, req->device) != 0) {
            char detail[128];
            *code = COAP_RESPONSE_CODE_FORBIDDEN;
            *why = "this identity may only use its own /dev/{device}";
            srv->stats.forbidden++;
            if (req->path_is_cmd)
                snprintf(detail, sizeof detail, "asked for /dev/%s/cmd", req->device);
            else
                snprintf(detail, sizeof detail, "posted to /dev/%s/up/%llu", req->device,
                         (unsigned long long)req->seq);
            audit_refusal(srv, "input.forbidden", p->identity, detail);
            return NULL;
        }
        return d;
    }
    /* plain CoAP (loopback, allow_plain): the path names a registered device */
    d = relais_registry_active(srv->reg, req->device, strlen(req->device));
    if (!d) {
        *code = COAP_RESPONSE_CODE_UNAUTHORIZED;
        *why = "unknown device";
    }
    return d;
}

static void hnd_post(coap_resource_t *res, coap_session_t *s, const coap_pdu_t *request,
                     const coap_string_t *query, coap_pdu_t *resp)
{
    struct relais_coap_server *srv = coap_get_app_data(coap_session_get_context(s));
    struct peer *p = peer_of(s);
    char why[160];
    (void)res;
    (void)query;

    /* the triggered second call, or a retransmission while the commit is due */
    coap_async_t *async = coap_find_async(s, coap_pdu_get_token(request));
    if (async) {
        struct exchange *e = coap_async_get_app_data(async);
        if (e && e->done) exchange_answer(srv, e, resp);
        return; /* not done yet: libcoap repeats the empty ACK */
    }

    srv->stats.requests++;
    if (p && !bucket_take(&p->tokens, &p->refill_ms, srv->opts.request_rate, now_ms(srv))) {
        srv->stats.rate_limited++;
        respond(srv, resp, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE,
                "rate_limited: too many requests on this session", 1);
        return;
    }
    struct coap_req req;
    int code = coap__read_request(request, &req, why, sizeof why);
    if (code) {
        respond(srv, resp, (coap_pdu_code_t)code, why, 0);
        return;
    }
    coap_pdu_code_t acode;
    const char *awhy;
    if (!authorize(srv, p, &req, &acode, &awhy)) {
        respond(srv, resp, acode, awhy, 0);
        return;
    }

    const uint8_t *body = req.payload;
    size_t len = req.len;
    const uint8_t *sig = req.sig;
    size_t sig_len = req.sig_len;
    bool sig_twice = req.nsig > 1;
    uint8_t tsig[RELAIS_WIRE_SIG_LEN];
    struct coap_transfer *t = NULL;
    if (req.has_block1) {
        t = p ? transfer_for(srv, p, &req) : NULL;
        if (!t) {
            respond(srv, resp, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE,
                    "too many block-wise uploads at once", 5);
            return;
        }
        bool was_used = t->used;
        int bcode = 0;
        enum coap_block_verdict v =
            coap__transfer_add(t, &req, now_ms(srv), &bcode, why, sizeof why);
        if (!was_used && t->used) srv->transfers++;
        if (was_used && !t->used) srv->transfers--;
        if (v == COAP_BLOCK_ERROR) {
            respond(srv, resp, (coap_pdu_code_t)bcode, why, 0);
            return;
        }
        if (v == COAP_BLOCK_CONTINUE) {
            coap_pdu_set_code(resp, COAP_RESPONSE_CODE_CONTINUE);
            add_block1(resp, &req.block1, true);
            srv->stats.continues++;
            return;
        }
        body = t->buf;
        len = t->len;
        if (req.format < 0) req.format = t->format;
        sig = NULL;
        sig_len = 0;
        sig_twice = false;
        if (t->has_sig) {
            /* copied: the transfer ends below, before ingest is done with it */
            memcpy(tsig, t->sig, sizeof tsig);
            sig = tsig;
            sig_len = sizeof tsig;
            sig_twice = t->sig_bad;
        }
    }

    enum relais_senml_format fmt;
    int format = req.format;
    if (format < 0 && relais_senml_sniff(body, len, &fmt) == 0) format = (int)fmt;

    struct exchange *e = exchange_new(srv);
    async = e ? coap_register_async(s, request, 0) : NULL;
    if (!async) {
        if (e) exchange_free(e);
        respond(srv, resp, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE, "too many answers pending", 1);
        goto out;
    }
    coap_async_set_app_data(async, e);
    e->peer = p;
    e->async = async;
    e->format = format;
    if (req.has_block1) {
        e->has_block1 = true;
        e->block1 = req.block1;
    }
    uint32_t id = e->id;
    struct relais_ingest_input in = {
        .transport = RELAIS_TRANSPORT_COAP,
        .device = req.device,
        .seq = req.seq,
        .body = body,
        .len = len,
        .format = req.format,
        .reply_cb = coap_reply,
        .reply_ud = srv,
        .token = &id,
        .token_len = sizeof id,
        .sig = sig,
        .sig_len = sig_len,
        .sig_malformed = sig_twice ? "the Relais-Signature option is carried twice, or a block's "
                                     "is not 32 bytes"
                                   : NULL,
    };
    /* no response code: libcoap sends an empty ACK now, the answer comes
     * after the commit (the handler is called again) */
    relais_ingest_submit(srv->ing, &in);
out:
    if (t && t->used) {
        coap__transfer_end(t);
        srv->transfers--;
    }
}

/* GET dev/{device}/cmd[?after=N]: the device's next pending command. */
static void cmd_poll(struct relais_coap_server *srv, coap_session_t *s, const struct coap_req *req,
                     coap_pdu_t *resp)
{
    struct peer *p = peer_of(s);
    if (p && !bucket_take(&p->tokens, &p->refill_ms, srv->opts.request_rate, now_ms(srv))) {
        srv->stats.rate_limited++;
        respond(srv, resp, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE,
                "rate_limited: too many requests on this session", 1);
        return;
    }
    if (!srv->opts.cmd_cb) {
        respond(srv, resp, COAP_RESPONSE_CODE_NOT_FOUND, "no commands here", 0);
        return;
    }
    coap_pdu_code_t acode;
    const char *awhy;
    if (!authorize(srv, p, req, &acode, &awhy)) {
        respond(srv, resp, acode, awhy, 0);
        return;
    }
    char body[RELAIS_WIRE_CMD_MAX + 32];
    int n = srv->opts.cmd_cb(srv->opts.cmd_ud, req->device, req->after, body, sizeof body);
    if (n < 0) {
        respond(srv, resp, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE, "the store is busy", 1);
        return;
    }
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE_CONTENT);
    srv->stats.cmd_polls++;
    if (n > 0) {
        uint8_t cf[2];
        coap_add_option(resp, COAP_OPTION_CONTENT_FORMAT,
                        coap_encode_var_safe(cf, sizeof cf, RELAIS_CF_JSON), cf);
        coap_add_data(resp, (size_t)n, (const uint8_t *)body);
        srv->stats.cmds_given++;
    }
}

/* Any other method on an unknown path: 4.05 on an uplink path, else 4.04;
 * GET on a command path: the device's commands. */
static void hnd_other(coap_resource_t *res, coap_session_t *s, const coap_pdu_t *request,
                      const coap_string_t *query, coap_pdu_t *resp)
{
    struct relais_coap_server *srv = coap_get_app_data(coap_session_get_context(s));
    struct coap_req req;
    char why[160];
    (void)res;
    (void)query;
    srv->stats.requests++;
    int code = coap__read_request(request, &req, why, sizeof why);
    if (!code && req.path_is_cmd) {
        cmd_poll(srv, s, &req, resp);
        return;
    }
    if (!code) /* cannot happen for a method other than POST */
        code = COAP_RESPONSE_CODE_NOT_ALLOWED;
    respond(srv, resp, (coap_pdu_code_t)code, why, 0);
}

/* GET /.well-known/core (RFC 6690): the uplink of the asking device. */
static void hnd_wkc(coap_resource_t *res, coap_session_t *s, const coap_pdu_t *request,
                    const coap_string_t *query, coap_pdu_t *resp)
{
    struct relais_coap_server *srv = coap_get_app_data(coap_session_get_context(s));
    struct peer *p = peer_of(s);
    char links[256];
    uint8_t buf[4];
    (void)res;
    (void)request;
    (void)query;
    srv->stats.requests++;
    if (p && p->dtls && p->identity[0])
        snprintf(links, sizeof links,
                 "</dev/%s/up>;rt=\"relais.uplink\";ct=\"110 112\";"
                 "title=\"POST a SenML pack to /dev/%s/up/{seq}\"",
                 p->identity, p->identity);
    else
        snprintf(links, sizeof links,
                 "</dev>;rt=\"relais.uplink\";ct=\"110 112\";"
                 "title=\"POST a SenML pack to /dev/{device}/up/{seq}\"");
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE_CONTENT);
    coap_add_option(resp, COAP_OPTION_CONTENT_FORMAT,
                    coap_encode_var_safe(buf, sizeof buf, COAP_MEDIATYPE_APPLICATION_LINK_FORMAT),
                    buf);
    coap_add_data(resp, strlen(links), (const uint8_t *)links);
    answer_count(srv, COAP_RESPONSE_CODE_CONTENT);
}

/* ---- libcoap in the loop ---- */

static void coap_run(struct relais_coap_server *srv)
{
    srv->kick = false;
    coap_io_process(srv->ctx, COAP_IO_NO_WAIT);
    coap_tick_t now;
    coap_ticks(&now);
    unsigned next = coap_io_prepare_epoll(srv->ctx, now);
    /* 0: nothing scheduled; look again within a second (transfers expire) */
    relais_loop_timer_arm(srv->loop, &srv->timer, next ? next : 1000);
}

static void expire_transfers(struct relais_coap_server *srv)
{
    uint64_t now = now_ms(srv);
    for (struct peer *p = srv->peers; p; p = p->next) {
        for (int i = 0; i < PEER_TRANSFERS; i++) {
            struct coap_transfer *t = &p->transfers[i];
            if (t->used && now - t->last_ms > TRANSFER_IDLE_MS) {
                log_info("coap", "block-wise upload of %s/%llu abandoned", t->device,
                         (unsigned long long)t->seq);
                coap__transfer_end(t);
                srv->transfers--;
            }
        }
    }
}

static void coap_io_cb(struct relais_io *io, unsigned revents)
{
    struct relais_coap_server *srv =
        (struct relais_coap_server *)((char *)io - offsetof(struct relais_coap_server, io));
    (void)revents;
    /* libcoap reads one datagram per socket per call: go on while requests
     * keep coming (bounded), so that one group commit holds them all */
    for (int i = 0; i < 64; i++) {
        uint64_t before = srv->stats.requests + srv->stats.continues;
        coap_run(srv);
        if (srv->stats.requests + srv->stats.continues == before) break;
    }
}

static void coap_timer_cb(struct relais_timer *t)
{
    struct relais_coap_server *srv =
        (struct relais_coap_server *)((char *)t - offsetof(struct relais_coap_server, timer));
    expire_transfers(srv);
    coap_run(srv);
}

/* After the ingest's end-of-turn flush triggered asyncs: answer them now. */
static void coap_hook_cb(struct relais_hook *h)
{
    struct relais_coap_server *srv =
        (struct relais_coap_server *)((char *)h - offsetof(struct relais_coap_server, hook));
    if (srv->kick) coap_run(srv);
}

static void coap_log_cb(coap_log_t level, const char *message)
{
    enum relais_log_level l;
    if (level <= LOG_ERR)
        l = RELAIS_LOG_ERROR;
    else if (level == LOG_WARNING)
        l = RELAIS_LOG_WARN;
    else if (level == LOG_NOTICE)
        l = RELAIS_LOG_NOTICE;
    else if (level == LOG_INFO)
        l = RELAIS_LOG_INFO;
    else
        l = RELAIS_LOG_DEBUG;
    relais_log(l, "coap", "libcoap: %s", message);
}

/* libcoap logs each packet at INFO and DEBUG: only at relais's debug level. */
static coap_log_t coap_level(void)
{
    switch (relais_log_threshold) {
    case RELAIS_LOG_ERROR: return LOG_ERR;
    case RELAIS_LOG_WARN: return LOG_WARNING;
    case RELAIS_LOG_NOTICE:
    case RELAIS_LOG_INFO: return LOG_NOTICE;
    default: return LOG_DEBUG;
    }
}

static int endpoint(struct relais_coap_server *srv, const char *host, unsigned port,
                    coap_proto_t proto)
{
    coap_address_t a;
    coap_address_init(&a);
    if (inet_pton(AF_INET, host, &a.addr.sin.sin_addr) == 1) {
        a.addr.sin.sin_family = AF_INET;
        a.addr.sin.sin_port = htons((uint16_t)port);
        a.size = sizeof(struct sockaddr_in);
    } else if (inet_pton(AF_INET6, host, &a.addr.sin6.sin6_addr) == 1) {
        a.addr.sin6.sin6_family = AF_INET6;
        a.addr.sin6.sin6_port = htons((uint16_t)port);
        a.size = sizeof(struct sockaddr_in6);
    } else {
        log_error("coap", "'%s' is not a numeric IPv4 or IPv6 address", host);
        return RELAIS_EINVAL;
    }
    if (!coap_new_endpoint(srv->ctx, &a, proto)) {
        log_error("coap", "cannot listen on %s:%u (%s)", host, port,
                  proto == COAP_PROTO_DTLS ? "coaps" : "coap");
        return RELAIS_EIO;
    }
    log_notice("coap", "listening on %s://%s:%u", proto == COAP_PROTO_DTLS ? "coaps" : "coap", host,
               port);
    return RELAIS_OK;
}

int relais_coap_server_create(struct relais_coap_server **out, struct relais_loop *loop,
                              struct relais_ingest *ing, struct relais_registry *reg,
                              const struct relais_coap_opts *opts)
{
    int rc = RELAIS_EIO;
    struct relais_coap_server *srv = calloc(1, sizeof *srv);
    if (!srv) return RELAIS_ENOMEM;
    srv->loop = loop;
    srv->ing = ing;
    srv->reg = reg;
    srv->opts = *opts;
    snprintf(srv->bind, sizeof srv->bind, "%s", opts->bind ? opts->bind : "0.0.0.0");
    srv->opts.bind = srv->bind;
    srv->io.fd = -1;
    relais_timer_init(&srv->timer, coap_timer_cb);
    srv->ex = calloc(MAX_EXCHANGES, sizeof *srv->ex);
    if (!srv->ex) {
        free(srv);
        return RELAIS_ENOMEM;
    }

    coap_startup();
    log_owner = srv;
    coap_set_log_handler(coap_log_cb);
    coap_set_log_level(coap_level());
    /* every refused handshake is an OpenSSL alert: our own (rate-limited)
     * line says it once, so the DTLS layer speaks at debug level only */
    coap_dtls_set_log_level(relais_log_threshold >= RELAIS_LOG_DEBUG ? LOG_DEBUG : LOG_ERR);
    srv->ctx = coap_new_context(NULL);
    if (!srv->ctx) {
        log_error("coap", "cannot create the CoAP context");
        goto fail;
    }
    coap_set_app_data(srv->ctx, srv);
    coap_context_set_block_mode(srv->ctx, 0); /* Block1 assembled here, with the pack limit */
    coap_context_set_max_idle_sessions(srv->ctx, opts->max_sessions + 8);
    /* handshakes in progress at once (established sessions are bounded by
     * max_sessions in psk_cb, their rate by handshake_rate) */
    coap_context_set_max_handshake_sessions(srv->ctx, 16);
    coap_context_set_session_timeout(srv->ctx, 300);
    coap_register_event_handler(srv->ctx, event_cb);

    if (opts->dtls_port) {
        if (!coap_dtls_is_supported()) {
            log_error("coap", "this libcoap has no DTLS: install libcoap-3-openssl");
            goto fail;
        }
        coap_dtls_spsk_t sp;
        memset(&sp, 0, sizeof sp);
        sp.version = COAP_DTLS_SPSK_SETUP_VERSION;
        sp.validate_id_call_back = psk_cb;
        sp.id_call_back_arg = srv;
        if (!coap_context_set_psk2(srv->ctx, &sp)) {
            log_error("coap", "cannot set up DTLS-PSK");
            goto fail;
        }
        if ((rc = endpoint(srv, srv->bind, opts->dtls_port, COAP_PROTO_DTLS))) goto fail;
    }
    if (opts->allow_plain && opts->port) {
        if ((rc = endpoint(srv, "127.0.0.1", opts->port, COAP_PROTO_UDP))) goto fail;
    }

    coap_resource_t *r = coap_resource_unknown_init2(hnd_other, 0);
    coap_register_request_handler(r, COAP_REQUEST_POST, hnd_post);
    coap_register_request_handler(r, COAP_REQUEST_GET, hnd_other);
    coap_register_request_handler(r, COAP_REQUEST_DELETE, hnd_other);
    coap_register_request_handler(r, COAP_REQUEST_FETCH, hnd_other);
    coap_register_request_handler(r, COAP_REQUEST_PATCH, hnd_other);
    coap_register_request_handler(r, COAP_REQUEST_IPATCH, hnd_other);
    coap_add_resource(srv->ctx, r);
    r = coap_resource_init(coap_make_str_const(".well-known/core"), 0);
    coap_register_request_handler(r, COAP_REQUEST_GET, hnd_wkc);
    coap_add_resource(srv->ctx, r);

    int fd = coap_context_get_coap_fd(srv->ctx);
    if (fd < 0) {
        log_error("coap", "this libcoap has no epoll support");
        rc = RELAIS_EIO;
        goto fail;
    }
    if ((rc = relais_loop_io_add(loop, &srv->io, fd, RELAIS_IO_READ, coap_io_cb))) goto fail;
    relais_loop_hook_add(loop, &srv->hook, coap_hook_cb);
    coap_run(srv);
    *out = srv;
    return RELAIS_OK;
fail:
    relais_coap_server_destroy(srv);
    return rc ? rc : RELAIS_EIO;
}

void relais_coap_server_destroy(struct relais_coap_server *srv)
{
    if (!srv) return;
    if (srv->io.active) {
        relais_loop_io_remove(srv->loop, &srv->io);
        relais_loop_hook_remove(srv->loop, &srv->hook);
    }
    relais_loop_timer_cancel(srv->loop, &srv->timer);
    if (srv->ctx && srv->kick)
        coap_io_process(srv->ctx, COAP_IO_NO_WAIT); /* answers of the last commit */
    if (srv->ctx) coap_free_context(srv->ctx); /* deletes the sessions: peers are freed by events */
    while (srv->peers) {
        struct peer *p = srv->peers;
        srv->peers = p->next;
        for (int i = 0; i < PEER_TRANSFERS; i++)
            coap__transfer_end(&p->transfers[i]);
        free(p);
    }
    if (log_owner == srv) {
        coap_set_log_handler(NULL);
        log_owner = NULL;
    }
    relais_zeroize(srv->psk, sizeof srv->psk);
    free(srv->ex);
    free(srv);
}

void relais_coap_server_close_device(struct relais_coap_server *srv, const char *id)
{
    for (struct peer *p = srv->peers; p; p = p->next) {
        if (p->dtls && p->established && strcmp(p->identity, id) == 0) {
            log_notice("coap", "closing the DTLS session of removed device %s", id);
            p->established = false;
            coap_session_disconnected(p->session, COAP_NACK_TLS_FAILED);
        }
    }
}

void relais_coap_server_get_stats(const struct relais_coap_server *srv,
                                  struct relais_coap_stats *out)
{
    *out = srv->stats;
    out->transfers = srv->transfers;
    out->sessions = established_sessions(srv);
}
