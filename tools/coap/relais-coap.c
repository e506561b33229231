/* SPDX-License-Identifier: Apache-2.0 */
/*
 * relais-coap: a CoAP device for tests and benchmarks, on libcoap.  It POSTs
 * SenML packs to /dev/{device}/up/{seq} over DTLS-PSK (or plain CoAP), keeps
 * a window of confirmable requests in flight, resends what got no answer
 * (opening a new session when the old one went silent), and reports rates.
 *
 *   relais-coap post --port P --device ID (--psk KEY | --plain) [options]
 *       --count N       packs (0: until SIGUSR1, then wait for every answer)
 *       --inflight K    requests in flight at once (default 1)
 *       --records R     records per pack (default 3)   --format json|cbor
 *       --start-seq S   first seq (default 1)          --timeout-ms T (default 2000)
 *       --size BYTES    pad each pack with records up to about BYTES (block-wise)
 *       --path-device D post under /dev/D instead of the device's own path
 *       --acked-file F  "seq status code" of every pack answered 2.04
 *       --method M      post (default) or put (for a generic CoAP server)
 *       --path P        post to P instead of /dev/{device}/up/{seq} (baselines)
 *   relais-coap handshakes --port P --device ID --psk KEY --count N
 *       N sessions one after the other, one POST each: DTLS handshakes per second
 *
 * Prints one line of key=value results (rate in answered packs per second).
 * Exit code 0 when every pack was answered, 1 otherwise, 2 for a usage error.
 */
#include "relais/wire.h"

#include <arpa/inet.h>
#include <coap3/coap.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct slot {
    bool used, answered;
    uint64_t seq;
    coap_session_t *session; /* the request went on this session */
    uint8_t token[8];
    size_t token_len;
    int64_t sent_ms;
    int64_t retry_at_ms; /* busy: not before */
};

static struct {
    const char *host, *device, *path_device, *psk, *acked_file, *path, *method;
    int port;
    bool plain, cbor;
    uint64_t count, start_seq;
    unsigned inflight, records, timeout_ms, size;
    /* state */
    coap_context_t *ctx;
    coap_session_t *session;
    struct slot *slots;
    uint64_t next_seq;
    uint64_t sent, resent, answered, stored, duplicate, rejected, busy, other, sessions;
    uint64_t next_token; /* tokens unique across sessions (libcoap's restart per session) */
    int64_t last_answer_ms;
    FILE *acked;
} g;

static volatile sig_atomic_t stop_publishing, stop_now;

static void on_usr1(int s)
{
    (void)s;
    stop_publishing = 1;
}

static void on_term(int s)
{
    (void)s;
    stop_now = 1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- packs (deterministic per seq: a resend is the same body) ---- */

static size_t make_pack(uint64_t seq, uint8_t *buf, size_t cap)
{
    static const char *const metric[] = {"temp", "spo2", "hr"};
    static const char *const unit[] = {"Cel", "%", "beat/min"};
    static const double base[] = {36.5, 97.0, 70.0};
    unsigned records = g.records;
    if (g.size) records = g.size / 40 + 1;
    if (g.cbor) {
        /* SenML CBOR by hand: [ {bn, bt, n, u, v, t}, {n, u, v, t} ... ] */
        uint8_t *p = buf;
        char bn[64];
        int bl = snprintf(bn, sizeof bn, "urn:dev:relais:%s:", g.device);
        if (cap < (size_t)records * 40 + 64) return 0;
        *p++ = records < 24 ? (uint8_t)(0x80 | records) : 0x99;
        if (records >= 24) {
            *p++ = (uint8_t)(records >> 8);
            *p++ = (uint8_t)records;
        }
        for (unsigned r = 0; r < records; r++) {
            unsigned m = r % 3;
            *p++ = r == 0 ? 0xa6 : 0xa4;
            if (r == 0) {
                *p++ = 0x21; /* -2 bn */
                if (bl < 24) {
                    *p++ = (uint8_t)(0x60 | bl);
                } else {
                    *p++ = 0x78;
                    *p++ = (uint8_t)bl;
                }
                memcpy(p, bn, (size_t)bl);
                p += bl;
                *p++ = 0x22; /* -3 bt */
                *p++ = 0x1a;
                uint32_t bt = (uint32_t)(1790000000u + seq % 100000000u);
                for (int i = 3; i >= 0; i--)
                    *p++ = (uint8_t)(bt >> (8 * i));
            }
            size_t ml = strlen(metric[m]), ul = strlen(unit[m]);
            *p++ = 0x00; /* n */
            *p++ = (uint8_t)(0x60 | ml);
            memcpy(p, metric[m], ml);
            p += ml;
            *p++ = 0x01; /* u */
            *p++ = (uint8_t)(0x60 | ul);
            memcpy(p, unit[m], ul);
            p += ul;
            *p++ = 0x02; /* v */
            *p++ = 0xfb;
            double v = base[m] + (double)((seq + r) % 10) / 10.0;
            uint64_t u;
            memcpy(&u, &v, sizeof u);
            for (int i = 7; i >= 0; i--)
                *p++ = (uint8_t)(u >> (8 * i));
            *p++ = 0x06; /* t */
            *p++ = r < 24 ? (uint8_t)r : 0x18;
            if (r >= 24) *p++ = (uint8_t)r;
        }
        return (size_t)(p - buf);
    }
    size_t off = (size_t)snprintf((char *)buf, cap, "[{\"bn\":\"urn:dev:relais:%s:\",\"bt\":%llu",
                                  g.device, 1790000000ULL + seq);
    for (unsigned r = 0; r < records && off + 64 < cap; r++) {
        unsigned m = r % 3;
        off += (size_t)snprintf((char *)buf + off, cap - off,
                                "%s\"n\":\"%s\",\"u\":\"%s\",\"v\":%.1f,\"t\":%u}", r ? ",{" : ",",
                                metric[m], unit[m], base[m] + (double)((seq + r) % 10) / 10.0, r);
    }
    off += (size_t)snprintf((char *)buf + off, cap - off, "]");
    return off;
}

/* ---- sessions ---- */

static coap_session_t *new_session(void)
{
    coap_address_t dst;
    coap_address_init(&dst);
    dst.addr.sin.sin_family = AF_INET;
    dst.addr.sin.sin_port = htons((uint16_t)g.port);
    inet_pton(AF_INET, g.host, &dst.addr.sin.sin_addr);
    dst.size = sizeof(struct sockaddr_in);
    coap_session_t *s;
    if (g.plain) {
        s = coap_new_client_session(g.ctx, NULL, &dst, COAP_PROTO_UDP);
    } else {
        coap_dtls_cpsk_t c;
        memset(&c, 0, sizeof c);
        c.version = COAP_DTLS_CPSK_SETUP_VERSION;
        c.psk_info.identity.s = (const uint8_t *)g.device;
        c.psk_info.identity.length = strlen(g.device);
        c.psk_info.key.s = (const uint8_t *)g.psk;
        c.psk_info.key.length = strlen(g.psk);
        s = coap_new_client_session_psk2(g.ctx, NULL, &dst, COAP_PROTO_DTLS, &c);
    }
    if (s) {
        coap_session_set_ack_timeout(s, (coap_fixed_point_t){0, 500});
        coap_session_set_max_retransmit(s, 3);
        coap_session_set_mtu(s, 1152);
        g.sessions++;
    }
    return s;
}

/* Sessions given up are released only at the end: libcoap 4.3.1 leaks the
 * queued PDUs of a client session released while it still holds some. */
static coap_session_t *old_sessions[4096];
static size_t n_old;

static void renew_session(void)
{
    if (g.session) {
        if (n_old < sizeof old_sessions / sizeof old_sessions[0])
            old_sessions[n_old++] = g.session;
        else
            coap_session_release(g.session);
    }
    g.session = new_session();
}

/* ---- requests ---- */

static void send_slot(struct slot *sl)
{
    static uint8_t body[120000];
    if (!g.session && !(g.session = new_session())) return;
    coap_pdu_code_t method =
        g.method && strcmp(g.method, "put") == 0 ? COAP_REQUEST_CODE_PUT : COAP_REQUEST_CODE_POST;
    coap_pdu_t *pdu = coap_new_pdu(COAP_MESSAGE_CON, method, g.session);
    if (!pdu) return;
    /* our own tokens: a late answer on an old session must never match a
     * request of a new one (libcoap's per-session tokens can repeat) */
    uint64_t t = ++g.next_token;
    for (int i = 0; i < 8; i++)
        sl->token[i] = (uint8_t)(t >> (56 - 8 * i));
    sl->token_len = 8;
    sl->session = g.session;
    coap_add_token(pdu, sl->token_len, sl->token);
    char seqs[24];
    snprintf(seqs, sizeof seqs, "%llu", (unsigned long long)sl->seq);
    if (g.path) {
        coap_add_option(pdu, COAP_OPTION_URI_PATH, strlen(g.path), (const uint8_t *)g.path);
    } else {
        const char *dev = g.path_device ? g.path_device : g.device;
        coap_add_option(pdu, COAP_OPTION_URI_PATH, 3, (const uint8_t *)"dev");
        coap_add_option(pdu, COAP_OPTION_URI_PATH, strlen(dev), (const uint8_t *)dev);
        coap_add_option(pdu, COAP_OPTION_URI_PATH, 2, (const uint8_t *)"up");
        coap_add_option(pdu, COAP_OPTION_URI_PATH, strlen(seqs), (const uint8_t *)seqs);
    }
    uint8_t cf[2];
    coap_add_option(
        pdu, COAP_OPTION_CONTENT_FORMAT,
        coap_encode_var_safe(cf, sizeof cf, g.cbor ? RELAIS_CF_SENML_CBOR : RELAIS_CF_SENML_JSON),
        cf);
    size_t len = make_pack(sl->seq, body, sizeof body);
    coap_add_data_large_request(g.session, pdu, len, body, NULL, NULL);
    sl->sent_ms = now_ms();
    if (coap_send(g.session, pdu) == COAP_INVALID_MID)
        sl->sent_ms -= g.timeout_ms; /* retried at the next look */
}

static void fill(void)
{
    for (unsigned i = 0; i < g.inflight; i++) {
        struct slot *sl = &g.slots[i];
        if (sl->used) continue;
        if (stop_publishing || (g.count && g.next_seq >= g.start_seq + g.count)) return;
        memset(sl, 0, sizeof *sl);
        sl->used = true;
        sl->seq = g.next_seq++;
        g.sent++;
        send_slot(sl);
    }
}

static void check_timeouts(void)
{
    int64_t now = now_ms();
    bool stale = false;
    for (unsigned i = 0; i < g.inflight; i++) {
        struct slot *sl = &g.slots[i];
        if (sl->used && !sl->retry_at_ms && now - sl->sent_ms > (int64_t)g.timeout_ms) stale = true;
    }
    /* silence for a whole timeout: the session is dead (a restarted server) */
    if (stale && now - g.last_answer_ms > (int64_t)g.timeout_ms) renew_session();
    for (unsigned i = 0; i < g.inflight; i++) {
        struct slot *sl = &g.slots[i];
        if (!sl->used) continue;
        if (sl->retry_at_ms ? now >= sl->retry_at_ms : now - sl->sent_ms > (int64_t)g.timeout_ms) {
            sl->retry_at_ms = 0;
            g.resent++;
            send_slot(sl);
        }
    }
}

static struct slot *slot_of(const coap_session_t *s, const coap_pdu_t *pdu)
{
    coap_bin_const_t t = coap_pdu_get_token(pdu);
    for (unsigned i = 0; i < g.inflight; i++) {
        struct slot *sl = &g.slots[i];
        if (sl->used && sl->session == s && sl->token_len == t.length &&
            memcmp(sl->token, t.s, t.length) == 0)
            return sl;
    }
    return NULL;
}

static void done(struct slot *sl, const char *status, unsigned code)
{
    if (g.acked)
        fprintf(g.acked, "%llu %s %u.%02u\n", (unsigned long long)sl->seq, status, code >> 5,
                code & 31);
    sl->used = false;
    g.answered++;
}

static coap_response_t on_response(coap_session_t *s, const coap_pdu_t *sent,
                                   const coap_pdu_t *recv, const coap_mid_t mid)
{
    (void)sent;
    (void)mid;
    g.last_answer_ms = now_ms();
    struct slot *sl = slot_of(s, recv);
    if (!sl) return COAP_RESPONSE_OK;
    unsigned code = coap_pdu_get_code(recv);
    size_t len = 0, off = 0, total = 0;
    const uint8_t *data = NULL;
    coap_get_data_large(recv, &len, &data, &off, &total);
    if (code == COAP_RESPONSE_CODE_CHANGED || code == COAP_RESPONSE_CODE_CREATED) {
        struct relais_wire_ack ack;
        int ok = g.path ? 0
                        : (g.cbor ? relais_wire_ack_parse_cbor(data, len, &ack)
                                  : relais_wire_ack_parse((const char *)data, len, &ack));
        if (ok != 0) {
            fprintf(stderr, "relais-coap: seq %llu: unreadable ack\n", (unsigned long long)sl->seq);
            g.other++;
            done(sl, "unreadable", code);
        } else if (!g.path && ack.seq != sl->seq) {
            /* an answer about another pack: never count it for this one */
            fprintf(stderr, "relais-coap: seq %llu: the answer is about seq %llu\n",
                    (unsigned long long)sl->seq, (unsigned long long)ack.seq);
            g.other++;
        } else if (g.path || ack.status == RELAIS_WIRE_ACK_STORED) {
            g.stored++;
            done(sl, "stored", code);
        } else {
            g.duplicate++;
            done(sl, "duplicate", code);
        }
    } else if (code == COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE) {
        g.busy++;
        coap_opt_iterator_t it;
        coap_opt_t *o = coap_check_option(recv, COAP_OPTION_MAXAGE, &it);
        unsigned age = o ? coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o)) : 1;
        sl->retry_at_ms = now_ms() + (int64_t)(age ? age : 1) * 1000;
    } else {
        g.rejected++;
        fprintf(stderr, "relais-coap: seq %llu: %u.%02u %.*s\n", (unsigned long long)sl->seq,
                code >> 5, code & 31, (int)len, data ? (const char *)data : "");
        done(sl, "rejected", code);
    }
    return COAP_RESPONSE_OK;
}

static void on_nack(coap_session_t *s, const coap_pdu_t *sent, const coap_nack_reason_t reason,
                    const coap_mid_t mid)
{
    (void)mid;
    (void)reason;
    struct slot *sl = sent ? slot_of(s, sent) : NULL;
    if (sl) sl->sent_ms -= g.timeout_ms; /* resend at the next look */
}

/* ---- main ---- */

static void usage(void)
{
    fprintf(stderr, "usage: relais-coap post|handshakes --port P --device ID (--psk KEY|--plain) "
                    "[options] (see the source header)\n");
}

int main(int argc, char **argv)
{
    g.host = "127.0.0.1";
    g.inflight = 1;
    g.records = 3;
    g.timeout_ms = 2000;
    g.start_seq = 1;
    if (argc < 2) {
        usage();
        return 2;
    }
    bool handshakes = strcmp(argv[1], "handshakes") == 0;
    if (!handshakes && strcmp(argv[1], "post") != 0) {
        usage();
        return 2;
    }
    static const struct option lo[] = {
        {"host", 1, 0, 'H'},
        {"port", 1, 0, 'p'},
        {"device", 1, 0, 'd'},
        {"psk", 1, 0, 'k'},
        {"plain", 0, 0, 'P'},
        {"count", 1, 0, 'n'},
        {"inflight", 1, 0, 'i'},
        {"records", 1, 0, 'r'},
        {"format", 1, 0, 'f'},
        {"start-seq", 1, 0, 's'},
        {"timeout-ms", 1, 0, 't'},
        {"size", 1, 0, 'S'},
        {"path-device", 1, 0, 'D'},
        {"acked-file", 1, 0, 'o'},
        {"path", 1, 0, 'x'},
        {"method", 1, 0, 'm'},
        {0, 0, 0, 0},
    };
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'H': g.host = optarg; break;
        case 'p': g.port = (int)strtol(optarg, NULL, 10); break;
        case 'd': g.device = optarg; break;
        case 'k': g.psk = optarg; break;
        case 'P': g.plain = true; break;
        case 'n': g.count = strtoull(optarg, NULL, 10); break;
        case 'i': g.inflight = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'r': g.records = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'f': g.cbor = strcmp(optarg, "cbor") == 0; break;
        case 's': g.start_seq = strtoull(optarg, NULL, 10); break;
        case 't': g.timeout_ms = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'S': g.size = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'D': g.path_device = optarg; break;
        case 'o': g.acked_file = optarg; break;
        case 'x': g.path = optarg; break;
        case 'm': g.method = optarg; break;
        default: usage(); return 2;
        }
    }
    if (!g.device || !g.port || (!g.plain && !g.psk) || g.inflight == 0 || g.inflight > 1024 ||
        g.records == 0 || g.records > 2000 || g.size > 100000) {
        usage();
        return 2;
    }
    signal(SIGUSR1, on_usr1);
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    coap_startup();
    coap_set_log_level(LOG_ERR);
    coap_dtls_set_log_level(LOG_EMERG);
    g.ctx = coap_new_context(NULL);
    coap_context_set_block_mode(g.ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
    coap_register_response_handler(g.ctx, on_response);
    coap_register_nack_handler(g.ctx, on_nack);
    if (g.acked_file && !(g.acked = fopen(g.acked_file, "w"))) {
        perror(g.acked_file);
        return 1;
    }
    g.slots = calloc(g.inflight, sizeof *g.slots);
    g.next_seq = g.start_seq;
    g.next_token = (uint64_t)now_ms() << 20;
    int64_t t0 = now_ms();
    g.last_answer_ms = t0;

    if (handshakes) {
        /* one session per pack: each answer needed a full DTLS handshake;
         * each session is closed (close_notify) before the next one */
        g.inflight = 1;
        for (uint64_t i = 0; i < g.count && !stop_now; i++) {
            if (g.session) {
                coap_session_release(g.session);
                g.session = NULL;
                coap_io_process(g.ctx, COAP_IO_NO_WAIT);
            }
            renew_session();
            fill();
            while (g.slots[0].used && !stop_now) {
                coap_io_process(g.ctx, 10);
                if (now_ms() - g.slots[0].sent_ms > (int64_t)g.timeout_ms) break;
            }
            if (g.slots[0].used) g.slots[0].used = false; /* no answer: counted as not answered */
        }
    } else {
        int64_t last_check = t0;
        while (!stop_now) {
            fill();
            coap_io_process(g.ctx, 5);
            int64_t now = now_ms();
            if (now - last_check >= 50) {
                check_timeouts();
                last_check = now;
            }
            bool all_sent = stop_publishing || (g.count && g.next_seq >= g.start_seq + g.count);
            bool idle = true;
            for (unsigned i = 0; i < g.inflight; i++)
                idle &= !g.slots[i].used;
            if (all_sent && idle) break;
        }
    }
    double secs = (double)(now_ms() - t0) / 1000.0;
    printf("mode=%s sent=%llu answered=%llu stored=%llu duplicate=%llu rejected=%llu busy=%llu "
           "other=%llu resent=%llu sessions=%llu elapsed_s=%.3f rate=%.0f\n",
           handshakes ? "handshakes" : "post", (unsigned long long)g.sent,
           (unsigned long long)g.answered, (unsigned long long)g.stored,
           (unsigned long long)g.duplicate, (unsigned long long)g.rejected,
           (unsigned long long)g.busy, (unsigned long long)g.other, (unsigned long long)g.resent,
           (unsigned long long)g.sessions, secs, secs > 0 ? (double)g.answered / secs : 0.0);
    fflush(stdout);
    if (g.acked && fclose(g.acked) != 0) return 1;
    if (g.session) coap_session_release(g.session);
    for (size_t i = 0; i < n_old; i++)
        coap_session_release(old_sessions[i]);
    coap_free_context(g.ctx);
    coap_cleanup();
    free(g.slots);
    return g.answered == g.sent ? 0 : 1;
}
