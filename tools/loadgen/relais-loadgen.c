/* SPDX-License-Identifier: Apache-2.0 */
/*
 * relais-loadgen: a device that publishes SenML packs to the gateway broker as
 * fast as a window of unacknowledged packs allows, resends what relaisd did not
 * acknowledge, and reports rates.  Also the do-nothing subscriber of the
 * benchmark.  Used by the crash test, the benchmark and the demo.
 *
 *   relais-loadgen pub  --port P --device ID --password-file F [options]
 *       --count N        packs to publish (0: until SIGUSR1, then drain)
 *       --inflight K     packs awaiting their ack at once (default 100)
 *       --ack relais     wait for relaisd's ack on relais/dev/ID/ack/{seq} (default)
 *       --ack puback     count a pack done at the broker's PUBACK (baseline)
 *       --resend-ms T    resend a pack not acked after T ms (default 2000)
 *       --records R      records per pack (default 3)   --format json|cbor
 *       --start-seq S    first seq (default 1)
 *       --acked-file F   write "seq status" for every acked pack at exit
 *       --bt-start S --bt-step D   pack seq's base time is S + (seq - start) * D
 *                        (default 1790000000 + seq)
 *   relais-loadgen sink --port P --user U --password-file F --topic FILTER
 *       --count N        exit after N messages (0: until SIGTERM)
 *       --echo-ack       answer each uplink pack with a "stored" ack at once
 *
 * Single-threaded: mosquitto_loop() in the main thread, never a library thread.
 * On exit prints one line: key=value pairs (rate in packs or messages per second).
 */
#include "relais/wire.h"

#include <errno.h>
#include <getopt.h>
#include <mosquitto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct slot {
    uint64_t seq;
    int64_t sent_ms;
    int mid;
    bool used;
    bool published; /* the broker PUBACKed it */
};

struct gen {
    /* options */
    const char *host, *device, *user, *topic, *acked_file;
    char password[256];
    int port;
    uint64_t count, start_seq;
    uint64_t bt_start, bt_step; /* bt_step 0: 1790000000 + seq */
    unsigned inflight, resend_ms, records;
    bool cbor, ack_puback, sink, echo_ack;
    /* state */
    struct mosquitto *mosq;
    struct slot *slots;
    uint64_t next_seq;
    uint64_t published, resent, acked, stored, duplicate, rejected, busy, received;
    int64_t first_rx_ms, last_rx_ms; /* sink: the rate is measured between these */
    unsigned outstanding;
    bool connected;
    int64_t t0, t_end;
    FILE *acked_out;
};

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

/* ---- packs: deterministic per seq, so a resend is byte-identical ---- */

static uint64_t pack_bt(const struct gen *g, uint64_t seq)
{
    if (!g->bt_step) return 1790000000ULL + seq;
    return g->bt_start + (seq - g->start_seq) * g->bt_step;
}

static size_t pack_json(const struct gen *g, uint64_t seq, char *buf, size_t cap)
{
    static const char *const metric[] = {"temp", "spo2", "hr"};
    static const char *const unit[] = {"Cel", "%", "beat/min"};
    static const double base[] = {36.5, 97.0, 70.0};
    size_t off = 0;
    off += (size_t)snprintf(buf + off, cap - off, "[{\"bn\":\"urn:dev:relais:%s:\",\"bt\":%llu",
                            g->device, (unsigned long long)pack_bt(g, seq));
    for (unsigned r = 0; r < g->records && off < cap; r++) {
        unsigned m = r % 3;
        off += (size_t)snprintf(buf + off, cap - off,
                                "%s\"n\":\"%s\",\"u\":\"%s\",\"v\":%.1f,\"t\":%u}", r ? ",{" : ",",
                                metric[m], unit[m], base[m] + (double)((seq + r) % 10) / 10.0, r);
    }
    off += (size_t)snprintf(buf + off, cap - off, "]");
    return off < cap ? off : cap;
}

static void cbor_head(uint8_t **p, unsigned major, uint64_t v)
{
    uint8_t mt = (uint8_t)(major << 5);
    if (v < 24) {
        *(*p)++ = (uint8_t)(mt | v);
    } else if (v < 256) {
        *(*p)++ = mt | 24;
        *(*p)++ = (uint8_t)v;
    } else if (v < 65536) {
        *(*p)++ = mt | 25;
        *(*p)++ = (uint8_t)(v >> 8);
        *(*p)++ = (uint8_t)v;
    } else {
        *(*p)++ = mt | 27;
        for (int i = 7; i >= 0; i--)
            *(*p)++ = (uint8_t)(v >> (8 * i));
    }
}

static void cbor_int(uint8_t **p, int64_t v)
{
    if (v >= 0)
        cbor_head(p, 0, (uint64_t)v);
    else
        cbor_head(p, 1, (uint64_t)(-1 - v));
}

static void cbor_text(uint8_t **p, const char *s)
{
    size_t n = strlen(s);
    cbor_head(p, 3, n);
    memcpy(*p, s, n);
    *p += n;
}

static void cbor_double(uint8_t **p, double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    *(*p)++ = 0xfb;
    for (int i = 7; i >= 0; i--)
        *(*p)++ = (uint8_t)(u >> (8 * i));
}

static size_t pack_cbor(const struct gen *g, uint64_t seq, uint8_t *buf, size_t cap)
{
    static const char *const metric[] = {"temp", "spo2", "hr"};
    static const char *const unit[] = {"Cel", "%", "beat/min"};
    static const double base[] = {36.5, 97.0, 70.0};
    uint8_t *p = buf;
    char bn[64];
    if (cap < 64 + (size_t)g->records * 48) return 0;
    snprintf(bn, sizeof bn, "urn:dev:relais:%s:", g->device);
    cbor_head(&p, 4, g->records);
    for (unsigned r = 0; r < g->records; r++) {
        unsigned m = r % 3;
        cbor_head(&p, 5, r == 0 ? 6 : 4);
        if (r == 0) {
            cbor_int(&p, RELAIS_SENML_BN);
            cbor_text(&p, bn);
            cbor_int(&p, RELAIS_SENML_BT);
            cbor_int(&p, (int64_t)pack_bt(g, seq));
        }
        cbor_int(&p, RELAIS_SENML_N);
        cbor_text(&p, metric[m]);
        cbor_int(&p, RELAIS_SENML_U);
        cbor_text(&p, unit[m]);
        cbor_int(&p, RELAIS_SENML_V);
        cbor_double(&p, base[m] + (double)((seq + r) % 10) / 10.0);
        cbor_int(&p, RELAIS_SENML_T);
        cbor_int(&p, r);
    }
    return (size_t)(p - buf);
}

/* ---- publishing ---- */

static void publish_slot(struct gen *g, struct slot *s)
{
    char topic[RELAIS_WIRE_TOPIC_MAX];
    uint8_t body[16384];
    relais_wire_topic_up(topic, sizeof topic, g->device, s->seq);
    size_t len = g->cbor ? pack_cbor(g, s->seq, body, sizeof body)
                         : pack_json(g, s->seq, (char *)body, sizeof body);
    int rc = mosquitto_publish(g->mosq, &s->mid, topic, (int)len, body, 1, false);
    if (rc != MOSQ_ERR_SUCCESS)
        fprintf(stderr, "loadgen: publish %llu: %s\n", (unsigned long long)s->seq,
                mosquitto_strerror(rc));
    s->sent_ms = now_ms();
    s->published = false;
}

static void fill_window(struct gen *g)
{
    if (!g->connected) return;
    for (unsigned i = 0; i < g->inflight; i++) {
        struct slot *s = &g->slots[i];
        if (s->used) continue;
        if (stop_publishing || (g->count && g->next_seq >= g->start_seq + g->count)) return;
        s->used = true;
        s->seq = g->next_seq++;
        g->outstanding++;
        g->published++;
        publish_slot(g, s);
    }
}

static void resend_late(struct gen *g)
{
    int64_t now = now_ms();
    for (unsigned i = 0; i < g->inflight; i++) {
        struct slot *s = &g->slots[i];
        if (s->used && now - s->sent_ms >= (int64_t)g->resend_ms) {
            g->resent++;
            publish_slot(g, s);
        }
    }
}

static void done(struct gen *g, struct slot *s, const char *status)
{
    if (g->acked_out) fprintf(g->acked_out, "%llu %s\n", (unsigned long long)s->seq, status);
    s->used = false;
    g->outstanding--;
    g->acked++;
}

static struct slot *find_seq(struct gen *g, uint64_t seq)
{
    for (unsigned i = 0; i < g->inflight; i++)
        if (g->slots[i].used && g->slots[i].seq == seq) return &g->slots[i];
    return NULL;
}

static void on_publish(struct mosquitto *m, void *ud, int mid)
{
    struct gen *g = ud;
    (void)m;
    for (unsigned i = 0; i < g->inflight; i++) {
        struct slot *s = &g->slots[i];
        if (s->used && s->mid == mid) {
            s->published = true;
            if (g->ack_puback) done(g, s, "puback");
            return;
        }
    }
}

static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
    struct gen *g = ud;
    (void)m;
    g->received++;
    g->last_rx_ms = now_ms();
    if (!g->first_rx_ms) g->first_rx_ms = g->last_rx_ms;
    if (g->sink) {
        if (g->echo_ack) {
            char device[RELAIS_WIRE_ID_MAX + 1], topic[RELAIS_WIRE_TOPIC_MAX], body[128];
            uint64_t seq;
            if (relais_wire_topic_up_parse(msg->topic, strlen(msg->topic), device, &seq) == 0) {
                struct relais_wire_ack ack = {
                    .seq = seq, .status = RELAIS_WIRE_ACK_STORED, .records = 1};
                int n = relais_wire_ack_format(body, sizeof body, &ack);
                relais_wire_topic_ack(topic, sizeof topic, device, seq);
                mosquitto_publish(g->mosq, NULL, topic, n, body, 1, false);
            }
        }
        return;
    }
    struct relais_wire_ack ack;
    if (relais_wire_ack_parse(msg->payload, (size_t)msg->payloadlen, &ack) != 0) {
        fprintf(stderr, "loadgen: bad ack on %s\n", msg->topic);
        return;
    }
    struct slot *s = find_seq(g, ack.seq);
    if (!s) return; /* an ack for a pack already done (a resend's second ack) */
    switch (ack.status) {
    case RELAIS_WIRE_ACK_STORED:
        g->stored++;
        done(g, s, "stored");
        break;
    case RELAIS_WIRE_ACK_DUPLICATE:
        g->duplicate++;
        done(g, s, "duplicate");
        break;
    case RELAIS_WIRE_ACK_REJECTED:
        g->rejected++;
        fprintf(stderr, "loadgen: seq %llu rejected: %s\n", (unsigned long long)ack.seq, ack.error);
        done(g, s, "rejected");
        break;
    case RELAIS_WIRE_ACK_BUSY:
        g->busy++;
        s->sent_ms = now_ms() + (int64_t)ack.retry_s * 1000 - (int64_t)g->resend_ms;
        break;
    }
}

static void on_connect(struct mosquitto *m, void *ud, int rc)
{
    struct gen *g = ud;
    if (rc != 0) {
        fprintf(stderr, "loadgen: connection refused: %s\n", mosquitto_connack_string(rc));
        return;
    }
    g->connected = true;
    if (g->sink) {
        mosquitto_subscribe(m, NULL, g->topic, 1);
    } else if (!g->ack_puback) {
        char filter[RELAIS_WIRE_TOPIC_MAX];
        snprintf(filter, sizeof filter, "relais/dev/%s/ack/+", g->device);
        mosquitto_subscribe(m, NULL, filter, 1);
    }
}

static void on_disconnect(struct mosquitto *m, void *ud, int rc)
{
    struct gen *g = ud;
    (void)m;
    (void)rc;
    g->connected = false;
}

static int read_password(struct gen *g, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f || !fgets(g->password, sizeof g->password, f)) {
        fprintf(stderr, "loadgen: cannot read %s\n", path);
        if (f) fclose(f);
        return -1;
    }
    fclose(f);
    g->password[strcspn(g->password, "\r\n")] = '\0';
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: relais-loadgen pub|sink --port P ... (see the source header)\n");
}

int main(int argc, char **argv)
{
    struct gen g = {.host = "127.0.0.1",
                    .port = 1883,
                    .inflight = 100,
                    .resend_ms = 2000,
                    .records = 3,
                    .start_seq = 1};
    if (argc < 2) {
        usage();
        return 2;
    }
    g.sink = strcmp(argv[1], "sink") == 0;
    if (!g.sink && strcmp(argv[1], "pub") != 0) {
        usage();
        return 2;
    }
    static const struct option lo[] = {
        {"host", 1, 0, 'H'},       {"port", 1, 0, 'p'},          {"device", 1, 0, 'd'},
        {"user", 1, 0, 'u'},       {"password-file", 1, 0, 'P'}, {"count", 1, 0, 'n'},
        {"inflight", 1, 0, 'k'},   {"ack", 1, 0, 'a'},           {"resend-ms", 1, 0, 'r'},
        {"records", 1, 0, 'R'},    {"format", 1, 0, 'f'},        {"start-seq", 1, 0, 's'},
        {"acked-file", 1, 0, 'o'}, {"topic", 1, 0, 't'},         {"echo-ack", 0, 0, 'e'},
        {"bt-start", 1, 0, 'b'},   {"bt-step", 1, 0, 'B'},       {0, 0, 0, 0},
    };
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'H': g.host = optarg; break;
        case 'p': g.port = (int)strtol(optarg, NULL, 10); break;
        case 'd': g.device = optarg; break;
        case 'u': g.user = optarg; break;
        case 'P':
            if (read_password(&g, optarg)) return 1;
            break;
        case 'n': g.count = strtoull(optarg, NULL, 10); break;
        case 'k': g.inflight = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'a': g.ack_puback = strcmp(optarg, "puback") == 0; break;
        case 'r': g.resend_ms = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'R': g.records = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'f': g.cbor = strcmp(optarg, "cbor") == 0; break;
        case 's': g.start_seq = strtoull(optarg, NULL, 10); break;
        case 'o': g.acked_file = optarg; break;
        case 't': g.topic = optarg; break;
        case 'e': g.echo_ack = true; break;
        case 'b': g.bt_start = strtoull(optarg, NULL, 10); break;
        case 'B': g.bt_step = strtoull(optarg, NULL, 10); break;
        default: usage(); return 2;
        }
    }
    if ((!g.sink && !g.device) || (g.sink && !g.topic) || g.inflight == 0 || g.records == 0 ||
        g.records > 200) {
        usage();
        return 2;
    }
    if (!g.user) g.user = g.device;
    g.next_seq = g.start_seq;
    g.slots = calloc(g.inflight, sizeof *g.slots);
    if (g.acked_file && !(g.acked_out = fopen(g.acked_file, "w"))) {
        fprintf(stderr, "loadgen: %s: %s\n", g.acked_file, strerror(errno));
        return 1;
    }
    signal(SIGUSR1, on_usr1);
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);

    mosquitto_lib_init();
    char id[64];
    snprintf(id, sizeof id, "%s-loadgen%s", g.sink ? g.user : g.device, g.sink ? "-sink" : "");
    /* a clean session: nothing queued by an earlier run reaches this one
     * (the device logic resends what a reconnect loses) */
    g.mosq = mosquitto_new(id, true, &g);
    mosquitto_username_pw_set(g.mosq, g.user, g.password[0] ? g.password : NULL);
    mosquitto_int_option(g.mosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_int_option(g.mosq, MOSQ_OPT_SEND_MAXIMUM, 65535);
    mosquitto_connect_callback_set(g.mosq, on_connect);
    mosquitto_disconnect_callback_set(g.mosq, on_disconnect);
    mosquitto_message_callback_set(g.mosq, on_message);
    mosquitto_publish_callback_set(g.mosq, on_publish);
    if (mosquitto_connect(g.mosq, g.host, g.port, 30) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "loadgen: cannot connect to %s:%d\n", g.host, g.port);
        return 1;
    }
    g.t0 = now_ms();
    int64_t last_resend_check = g.t0;
    while (!stop_now) {
        if (!g.sink) fill_window(&g);
        int rc = mosquitto_loop(g.mosq, 10, 1);
        if (rc != MOSQ_ERR_SUCCESS) {
            g.connected = false;
            struct timespec ts = {0, 100 * 1000000};
            nanosleep(&ts, NULL);
            mosquitto_reconnect(g.mosq);
        }
        if (g.sink) {
            if (g.count && g.received >= g.count) break;
            continue;
        }
        int64_t now = now_ms();
        if (now - last_resend_check >= 50) {
            resend_late(&g);
            last_resend_check = now;
        }
        bool all_sent = stop_publishing || (g.count && g.next_seq >= g.start_seq + g.count);
        if (all_sent && g.outstanding == 0) break;
    }
    g.t_end = now_ms();
    double secs = (double)(g.t_end - g.t0) / 1000.0;
    if (g.sink) {
        /* from the first message to the last: idle time before the publisher starts is not counted
         */
        double active = (double)(g.last_rx_ms - g.first_rx_ms) / 1000.0;
        printf("mode=sink received=%llu elapsed_s=%.3f rate=%.0f\n", (unsigned long long)g.received,
               active, active > 0 ? (double)(g.received - 1) / active : 0.0);
    } else
        printf("mode=pub ack=%s published=%llu acked=%llu stored=%llu duplicate=%llu rejected=%llu "
               "busy=%llu resent=%llu outstanding=%u elapsed_s=%.3f rate=%.0f\n",
               g.ack_puback ? "puback" : "relais", (unsigned long long)g.published,
               (unsigned long long)g.acked, (unsigned long long)g.stored,
               (unsigned long long)g.duplicate, (unsigned long long)g.rejected,
               (unsigned long long)g.busy, (unsigned long long)g.resent, g.outstanding, secs,
               secs > 0 ? (double)g.acked / secs : 0.0);
    if (g.acked_out && fclose(g.acked_out) != 0) return 1;
    mosquitto_disconnect(g.mosq);
    mosquitto_loop(g.mosq, 100, 1);
    mosquitto_destroy(g.mosq);
    mosquitto_lib_cleanup();
    free(g.slots);
    return stop_now && !g.sink ? 3 : 0;
}
