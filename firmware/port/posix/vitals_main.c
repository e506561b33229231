// SPDX-License-Identifier: Apache-2.0
/*
 * relais-vitals-sim: the vitals hub (firmware/vitals) as a posix process, for
 * the demo and the tests.  The ring log lives in a file emulating NOR flash
 * (flash_file), so a killed process resumes with what it had not had
 * acknowledged; the sensors are a deterministic generator; the transport is
 * libmosquitto with a persistent session (client id = device id, clean
 * session off, QoS 1), subscribed to the device's ack/+ and cmd topics.
 *
 *   relais-vitals-sim --port P --device ID --password-file F --flash FILE
 *       [--host H] [--count N] [--interval-ms MS] [--bt-start S --bt-step D]
 *       [--format json|cbor] [--inject-bad K] [--resend-ms MS]
 *       [--resend-max-ms MS] [--scenario FILE [--speed N | --clock-file F
 *       [--progress-file F]]] [--cafile CA]
 *
 *   --cafile CA        connect with TLS (1.2 or later) to the broker's TLS
 *                      listener (the home network's), the gateway's CA pinned
 *   --count N          reading sets to generate (one pack each), default 10
 *   --interval-ms MS   time between two reading sets, default 0
 *   --bt-start/--bt-step  reading set i's time is S + i * D (default: now)
 *   --inject-bad K     the K-th reading set (1-based) is a hand-made pack
 *                      with an implausible spo2, which relaisd rejects
 *   --resend-ms, --resend-max-ms  first resend timeout and its cap
 *   --scenario FILE    the sensors play the vitals hub's events of a device
 *                      scenario (docs/device-scenarios.md) instead of the
 *                      generator: one pack per event, its time the event's
 *                      absolute time (--count, --interval-ms and --bt-* are
 *                      ignored; --inject-bad is refused); a restarted sim
 *                      plays the file again from its start
 *   --speed N          scenario seconds per real second (default 0: as fast
 *                      as the acks allow)
 *   --clock-file F     the scenario clock is driven: an event is due when
 *                      its time is at most the number in F (seconds since
 *                      1970), written by a driver (tests/integration/
 *                      home_lib.sh); the sim stops only once F says "end"
 *   --progress-file F  the driven time fully played (every event up to it
 *                      sent and acknowledged) is written there
 *
 * Exits 0 when every pack generated is acknowledged (or on SIGTERM/SIGINT:
 * the state is in the flash file at every moment), 1 on an error, 2 on a
 * usage error; prints "relais-vitals-sim: generated=.. sent=.. resent=..
 * stored=.. duplicate=.. rejected=.. busy=.." on stdout.  Single-threaded:
 * mosquitto_loop() in the main thread, signals through a signalfd.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <mosquitto.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "relais/fw/flash_file.h"
#include "relais/fw/sim_common.h"
#include "relais/fw/vitals.h"
#include "relais/wire.h"
#include "scn_player.h"

/* Flash geometry of the simulated hub: 64 sectors of 4 KiB. */
#define PROG             "relais-vitals-sim"
#define SIM_SECTOR_SIZE  4096u
#define SIM_SECTOR_COUNT 64u
#define SIM_WRITE_UNIT   4u
#define SIM_SEQ_BLOCK    16u

struct sim {
    struct relais_sim_opts o;
    char password[256];
    uint64_t generated, inject_bad, next_ms;
    enum relais_fw_vitals_format format;
    struct mosquitto *mosq;
    bool connected;
    struct relais_fw_vitals hub;
    struct relais_fw_ringlog log;
    struct relais_fw_flash_file ff;
    uint8_t work[512];
    char topic_ack[RELAIS_WIRE_TOPIC_MAX], topic_cmd[RELAIS_WIRE_TOPIC_MAX];
    struct relais_scn_player player;
    const char *cafile; /* --cafile: TLS to the broker, this CA pinned */
};

/* Reading set i's time: --bt-start/--bt-step, else the device clock. */
static double reading_time(const struct sim *s, uint64_t i, double device_s)
{
    if (s->o.bt_step) return (double)(s->o.bt_start + i * s->o.bt_step);
    return (double)(uint64_t)device_s;
}

/* A reading set is due: not all generated, the interval elapsed. */
static bool reading_due(struct sim *s)
{
    if (s->generated >= s->o.count) return false;
    uint64_t now = relais_sim_mono_ms();
    if (now < s->next_ms) return false;
    s->next_ms = now + s->o.interval_ms;
    return true;
}

/* --scenario: the next event of the vitals hub once the scenario clock has
 * reached it. */
static int read_scenario(struct sim *s, struct relais_fw_record *rec, size_t cap, double *bt)
{
    const struct relais_scn_event *e = relais_scn_player_due(&s->player, relais_sim_mono_ms());
    if (!e || e->n > cap) return 0;
    relais_scn_player_take(&s->player);
    s->generated++;
    *bt = (double)e->t;
    for (uint32_t k = 0; k < e->n; k++)
        rec[k] = (struct relais_fw_record){
            .name = e->rec[k].name, .kind = RELAIS_FW_V_NUM, .v = e->rec[k].v, .t = *bt};
    return (int)e->n;
}

/* The sensors: a deterministic set that varies with i. */
static int read_sensors(void *ctx, double device_s, struct relais_fw_record *rec, size_t cap,
                        double *bt)
{
    struct sim *s = ctx;
    if (s->o.scenario_path) return read_scenario(s, rec, cap, bt);
    static const char *const names[] = {"temp",   "spo2",   "hr",         "bp_sys",
                                        "bp_dia", "weight", "pro_nausea", "pro_fatigue"};
    if (cap < 8 || !reading_due(s)) return 0;
    uint64_t i = s->generated++;
    double w = (double)(i % 10);
    double v[8] = {36.5 + w / 10.0, 95.0 + (double)(i % 5), 60.0 + w,        120.0 + w,
                   75.0 + w,        72.0 + w / 10.0,        (double)(i % 3), (double)(i % 5)};
    *bt = reading_time(s, i, device_s);
    for (size_t k = 0; k < 8; k++) {
        rec[k] = (struct relais_fw_record){
            .name = names[k], .kind = RELAIS_FW_V_NUM, .v = v[k], .t = *bt};
    }
    return 8;
}

static int send_pack(void *ctx, uint64_t seq, const void *body, size_t len)
{
    struct sim *s = ctx;
    char topic[RELAIS_WIRE_TOPIC_MAX];
    if (!s->connected) return -1;
    if (relais_wire_topic_up(topic, sizeof topic, s->o.device, seq) < 0) return -1;
    int rc = mosquitto_publish(s->mosq, NULL, topic, (int)len, body, 1, false);
    return rc == MOSQ_ERR_SUCCESS ? 0 : -1;
}

static void log_line(void *ctx, enum relais_fw_vitals_log_level level, uint64_t seq,
                     const char *msg)
{
    static const char *const lv[] = {"info", "warn", "error"};
    (void)ctx;
    fprintf(stderr, "relais-vitals-sim: %s: seq %" PRIu64 ": %s\n", lv[level], seq, msg);
}

/* --inject-bad: reading set K as a pack relaisd rejects (spo2 of 150 %),
 * which the encoder would refuse to write. */
static int inject_bad(struct sim *s)
{
    char body[256];
    uint64_t i = s->generated++, seq = 0;
    double t = reading_time(s, i, (double)relais_sim_unix_ms() / 1000.0);
    int n = snprintf(body, sizeof body,
                     "[{\"bn\":\"urn:dev:relais:%s:\",\"bt\":%.0f,\"n\":\"spo2\",\"u\":\"%%\","
                     "\"v\":150}]",
                     s->o.device, t);
    if (n < 0 || (size_t)n >= sizeof body) return RELAIS_FW_EINTERNAL;
    int rc = relais_fw_vitals_submit(&s->hub, body, (size_t)n, &seq);
    if (rc == RELAIS_FW_OK)
        fprintf(stderr, "relais-vitals-sim: info: seq %" PRIu64 ": bad pack injected\n", seq);
    return rc;
}

static void on_connect(struct mosquitto *m, void *ud, int rc)
{
    struct sim *s = ud;
    if (rc != 0) {
        fprintf(stderr, "relais-vitals-sim: connection refused: %s\n",
                mosquitto_connack_string(rc));
        return;
    }
    s->connected = true;
    mosquitto_subscribe(m, NULL, s->topic_ack, 1);
    mosquitto_subscribe(m, NULL, s->topic_cmd, 1);
    relais_fw_vitals_link_up(&s->hub, relais_sim_mono_ms());
}

static void on_disconnect(struct mosquitto *m, void *ud, int rc)
{
    struct sim *s = ud;
    (void)m;
    (void)rc;
    s->connected = false;
}

static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
    struct sim *s = ud;
    bool is_cmd = strcmp(msg->topic, s->topic_cmd) == 0;
    (void)m;
    if (msg->payloadlen < 0) return;
    int rc = is_cmd ? relais_fw_vitals_on_cmd(&s->hub, msg->payload, (size_t)msg->payloadlen,
                                              relais_sim_mono_ms())
                    : relais_fw_vitals_on_ack(&s->hub, msg->payload, (size_t)msg->payloadlen,
                                              relais_sim_mono_ms());
    if (rc && rc != RELAIS_FW_EINVAL)
        fprintf(stderr, "relais-vitals-sim: ring log: %s\n", relais_fw_strerror(rc));
}

static int parse_args(struct sim *s, int argc, char **argv)
{
    static const struct option lo[] = {RELAIS_SIM_OPTIONS,    {"password-file", 1, 0, 'P'},
                                       {"format", 1, 0, 'F'}, {"inject-bad", 1, 0, 'x'},
                                       {"cafile", 1, 0, 'A'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        int taken = relais_sim_opt(PROG, c, optarg, &s->o);
        if (taken < 0) return -1;
        if (taken) continue;
        switch (c) {
        case 'P':
            if (relais_sim_read_line(PROG, optarg, s->password, sizeof s->password) < 0) return -1;
            break;
        case 'F':
            if (strcmp(optarg, "json") == 0) {
                s->format = RELAIS_FW_VITALS_JSON;
            } else if (strcmp(optarg, "cbor") == 0) {
                s->format = RELAIS_FW_VITALS_CBOR;
            } else {
                fprintf(stderr, "relais-vitals-sim: bad --format: %s\n", optarg);
                return -1;
            }
            break;
        case 'x':
            if (relais_sim_parse_u64(PROG, "--inject-bad", optarg, 100000000, &s->inject_bad))
                return -1;
            break;
        case 'A': s->cafile = optarg; break;
        default: return -1;
        }
    }
    if (relais_sim_opts_finish(PROG, &s->o)) return -1;
    if (s->o.scenario_path && s->inject_bad) {
        fprintf(stderr, "relais-vitals-sim: --inject-bad and --scenario exclude each other\n");
        return -1;
    }
    if (!s->o.port || !s->o.device || !s->o.flash_path || optind != argc) {
        fprintf(stderr, "usage: relais-vitals-sim --port P --device ID --password-file F "
                        "--flash FILE [options] (see the source's header)\n");
        return -1;
    }
    return 0;
}

static int open_hub(struct sim *s)
{
    static const struct relais_fw_vitals_ops ops = {
        .read_cb = read_sensors, .send_cb = send_pack, .log_cb = log_line};
    int rc = relais_sim_log_open(PROG, &s->ff, &s->log, s->o.flash_path, SIM_SECTOR_SIZE,
                                 SIM_SECTOR_COUNT, SIM_WRITE_UNIT, s->work, sizeof s->work,
                                 SIM_SEQ_BLOCK);
    if (rc) return rc;
    struct relais_fw_vitals_ops o = ops;
    o.ctx = s;
    uint64_t now = relais_sim_mono_ms();
    rc = relais_fw_vitals_init(&s->hub, &s->log, &o, s->o.device, s->format, s->o.resend_ms,
                               s->o.resend_max_ms, relais_sim_unix_ms() - (int64_t)now);
    if (rc) {
        fprintf(stderr, "relais-vitals-sim: bad device id %s\n", s->o.device);
        return rc;
    }
    fprintf(stderr, "relais-vitals-sim: resumed unacked=%" PRIu32 " next_seq=%" PRIu64 "\n",
            relais_fw_ringlog_unacked(&s->log), s->log.next_seq);
    return RELAIS_FW_OK;
}

static int open_mqtt(struct sim *s)
{
    relais_wire_topic_cmd(s->topic_cmd, sizeof s->topic_cmd, s->o.device);
    int n = snprintf(s->topic_ack, sizeof s->topic_ack, "relais/dev/%s/ack/+", s->o.device);
    if (n < 0 || (size_t)n >= sizeof s->topic_ack) return -1;
    s->mosq = mosquitto_new(s->o.device, false, s);
    if (!s->mosq) return -1;
    mosquitto_username_pw_set(s->mosq, s->o.device, s->password[0] ? s->password : NULL);
    mosquitto_connect_callback_set(s->mosq, on_connect);
    mosquitto_disconnect_callback_set(s->mosq, on_disconnect);
    mosquitto_message_callback_set(s->mosq, on_message);
    if (s->cafile) {
        /* the home network's listener: TLS 1.2+, the gateway's CA pinned */
        if (mosquitto_tls_set(s->mosq, s->cafile, NULL, NULL, NULL, NULL) != MOSQ_ERR_SUCCESS ||
            mosquitto_tls_opts_set(s->mosq, 1, "tlsv1.2", NULL) != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "relais-vitals-sim: cannot use the CA file %s\n", s->cafile);
            return -1;
        }
    }
    if (mosquitto_connect(s->mosq, s->o.host, s->o.port, 30) != MOSQ_ERR_SUCCESS)
        fprintf(stderr, "relais-vitals-sim: broker %s:%d not reachable yet\n", s->o.host,
                s->o.port);
    return 0;
}

static int run(struct sim *s, int sfd)
{
    uint64_t last_try = 0;
    for (;;) {
        struct signalfd_siginfo si;
        if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
            fprintf(stderr, "relais-vitals-sim: signal %" PRIu32 ", stopping\n", si.ssi_signo);
            return 0;
        }
        int rc = RELAIS_FW_OK;
        if (s->inject_bad && s->generated + 1 == s->inject_bad && reading_due(s))
            rc = inject_bad(s);
        if (rc == RELAIS_FW_OK) rc = relais_fw_vitals_step(&s->hub, relais_sim_mono_ms());
        if (rc && rc != RELAIS_FW_EFULL) {
            fprintf(stderr, "relais-vitals-sim: ring log: %s\n", relais_fw_strerror(rc));
            return 1;
        }
        bool idle = relais_fw_vitals_idle(&s->hub);
        if (s->o.scenario_path) relais_scn_player_progress(&s->player, relais_sim_mono_ms(), idle);
        if (s->generated >= s->o.count && idle &&
            (!s->o.scenario_path || relais_scn_player_may_stop(&s->player, relais_sim_mono_ms())))
            return 0;
        rc = mosquitto_loop(s->mosq, 10, 1);
        if (rc != MOSQ_ERR_SUCCESS) {
            s->connected = false;
            uint64_t now = relais_sim_mono_ms();
            if (now - last_try >= 200) {
                last_try = now;
                mosquitto_reconnect(s->mosq);
            } else {
                struct timespec ts = {0, 10 * 1000000};
                nanosleep(&ts, NULL);
            }
        }
    }
}

int main(int argc, char **argv)
{
    static struct sim s; /* large (the flash work and packs): not on the stack */
    s.o.host = "127.0.0.1";
    s.o.count = 10;
    s.o.resend_ms = 2000;
    s.o.resend_max_ms = 60000;
    s.ff.fd = -1;
    if (parse_args(&s, argc, argv)) return 2;
    if (s.o.scenario_path) {
        if (relais_scn_player_open(&s.player, PROG, s.o.scenario_path, RELAIS_SCN_VITALS, s.o.speed,
                                   s.o.clock_file, s.o.progress_file))
            return 2;
        s.o.count = relais_scn_player_count(&s.player);
    }
    int sfd = relais_sim_signals();
    if (sfd < 0) {
        perror("relais-vitals-sim: signalfd");
        relais_scn_player_close(&s.player);
        return 1;
    }
    mosquitto_lib_init();
    int rc = 1;
    if (open_hub(&s) != RELAIS_FW_OK || open_mqtt(&s) != 0) goto out;
    rc = run(&s, sfd);
    const struct relais_fw_vitals_stats *st = &s.hub.stats;
    printf("relais-vitals-sim: generated=%" PRIu64 " sent=%" PRIu32 " resent=%" PRIu32
           " stored=%" PRIu32 " duplicate=%" PRIu32 " rejected=%" PRIu32 " busy=%" PRIu32
           " unacked=%" PRIu32 "\n",
           s.generated, st->sent, st->resent, st->stored, st->duplicate, st->rejected, st->busy,
           relais_fw_ringlog_unacked(&s.log));
    fflush(stdout);
out:
    if (s.mosq) {
        mosquitto_disconnect(s.mosq);
        mosquitto_loop(s.mosq, 100, 1);
        mosquitto_destroy(s.mosq);
    }
    mosquitto_lib_cleanup();
    relais_fw_flash_file_close(&s.ff);
    relais_scn_player_close(&s.player);
    close(sfd);
    return rc;
}
