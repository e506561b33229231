// SPDX-License-Identifier: Apache-2.0
/*
 * relais-pillbox-sim: the pill box (firmware/pillbox) as a posix process, for
 * the demo and the tests.  The ring log lives in a file emulating NOR flash
 * (flash_file), so a killed process resumes with what it had not had
 * acknowledged; the sensors are a deterministic generator of lid cycles; the
 * transport is libcoap (coaps, DTLS-PSK with identity = device id): one
 * confirmable POST /dev/{device}/up/{seq} in flight, SenML CBOR.
 *
 *   relais-pillbox-sim --port P --device ID --psk-file F --flash FILE
 *       [--record-key-file F] [--host H] [--count N] [--interval-ms MS] [--bt-start S --bt-step D]
 *       [--resend-ms MS] [--resend-max-ms MS]
 *       [--scenario FILE [--speed N | --clock-file F [--progress-file F]]]
 *       [--poll-ms MS]
 *
 *   --port P           relaisd's DTLS port ([coap] dtls_port)
 *   --psk-file F       the key `relaisctl device add ID --kind pillbox` printed
 *   --record-key-file F  the record-signing key it printed (64 hex digits):
 *                      every POST then carries the pack's HMAC-SHA256 in the
 *                      Relais-Signature option (65000, docs/contract.md).
 *                      Without it the packs go unsigned, and relaisd rejects
 *                      each one holding a dose (unsigned_dose)
 *   --count N          dose events to generate, default 10; each is a lid
 *                      cycle (lid open, dose of slot am or pm alternately,
 *                      battery, lid closed): one pack
 *   --interval-ms MS   time between two dose events, default 0
 *   --bt-start/--bt-step  event i's time is S + i * D (default: now)
 *   --resend-ms, --resend-max-ms  first resend timeout and its cap
 *   --scenario FILE    play the pill box's events of a device scenario
 *                      (docs/device-scenarios.md) instead of the generator:
 *                      a dose is a lid cycle (open, the dose of its slot,
 *                      closed) at the event's time, one pack; `lid open` /
 *                      `lid closed` a pack of their own when the lid closes
 *                      (--count, --interval-ms, --bt-* are ignored)
 *   --poll-ms MS       ask relaisd for commands (GET /dev/{device}/cmd?after=N)
 *                      every MS ms, at once again after a command; default
 *                      1000, 0: never.  A reminder lights the LED and sounds
 *                      the buzzer until the lid opens, "call 15" shows on the
 *                      display: both are printed on stderr ("LED+buzzer",
 *                      "display")
 *   --speed N, --clock-file F, --progress-file F  the scenario clock, as for
 *                      relais-vitals-sim: N scenario seconds per real second
 *                      (0, the default: as fast as the acks allow), or driven
 *                      by the time a driver writes in F; the driven time
 *                      fully played is written in the progress file
 *
 * Exits 0 when every pack generated is acknowledged (or on SIGTERM/SIGINT:
 * the state is in the flash file at every moment), 1 on an error, 2 on a
 * usage error; prints "relais-pillbox-sim: generated=.. sent=.. resent=..
 * stored=.. duplicate=.. rejected=.. busy=.. unacked=.. commands=..
 * reminds=.. call15=.." on stdout.
 * Single-threaded: coap_io_process() in the main thread, signals through a
 * signalfd.
 *
 * Sessions: a session that stayed silent for a whole resend timeout is given
 * up and a new one (a new DTLS handshake) carries the resend: relaisd may
 * have restarted and forgotten the old one.  Tokens are the process's own,
 * unique across sessions, so a late answer on an old session is never taken
 * for the answer to a newer request.
 */
#include <arpa/inet.h>
#include <coap3/coap.h>
#include <errno.h>
#include <getopt.h>
#include <mbedtls/md.h>
#include <inttypes.h>
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
#include "relais/fw/pillbox.h"
#include "relais/wire.h"
#include "scn_player.h"

/* Flash geometry of the simulated pill box: 32 sectors of 4 KiB. */
#define PROG             "relais-pillbox-sim"
#define SIM_SECTOR_SIZE  4096u
#define SIM_SECTOR_COUNT 32u
#define SIM_WRITE_UNIT   4u
#define SIM_SEQ_BLOCK    16u
/* Sessions given up are released only at the end: libcoap 4.3.1 leaks the
 * queued PDUs of a client session released while it still holds some. */
#define SIM_OLD_SESSIONS 1024u

struct sim {
    struct relais_sim_opts o;
    char psk[128];
    size_t psk_len;
    bool has_record_key;
    uint8_t record_key[RELAIS_WIRE_RECORD_KEY_LEN];
    uint64_t events, next_ms;
    unsigned phase; /* step of the current lid cycle */
    coap_context_t *ctx;
    coap_session_t *session;
    bool session_heard; /* an answer came on session since the last send */
    bool session_used;  /* a request was sent on session */
    coap_session_t *old[SIM_OLD_SESSIONS];
    size_t n_old;
    uint64_t next_token;
    /* the request in flight */
    uint64_t req_seq;
    coap_session_t *req_session;
    uint8_t req_token[8];
    struct relais_fw_pillbox box;
    struct relais_fw_ringlog log;
    struct relais_fw_flash_file ff;
    uint8_t work[512];
    struct relais_scn_player player;
    /* the command poll (one in flight) */
    uint64_t poll_ms, next_poll_ms, poll_sent_ms;
    bool poll_inflight;
    coap_session_t *poll_session;
    uint8_t poll_token[8];
};

static struct sim g_sim; /* large (the flash work and packs): not on the stack */

static void log_line(void *ctx, enum relais_fw_pillbox_log_level level, uint64_t seq,
                     const char *msg)
{
    static const char *const lv[] = {"info", "warn", "error"};
    (void)ctx;
    fprintf(stderr, "relais-pillbox-sim: %s: seq %" PRIu64 ": %s\n", lv[level], seq, msg);
}

/* ---- sessions ---- */

static coap_session_t *new_session(struct sim *s)
{
    coap_address_t dst;
    coap_address_init(&dst);
    dst.addr.sin.sin_family = AF_INET;
    dst.addr.sin.sin_port = htons((uint16_t)s->o.port);
    if (inet_pton(AF_INET, s->o.host, &dst.addr.sin.sin_addr) != 1) return NULL;
    dst.size = sizeof(struct sockaddr_in);
    coap_dtls_cpsk_t c;
    memset(&c, 0, sizeof c);
    c.version = COAP_DTLS_CPSK_SETUP_VERSION;
    c.psk_info.identity.s = (const uint8_t *)s->o.device;
    c.psk_info.identity.length = strlen(s->o.device);
    c.psk_info.key.s = (const uint8_t *)s->psk;
    c.psk_info.key.length = s->psk_len;
    coap_session_t *cs = coap_new_client_session_psk2(s->ctx, NULL, &dst, COAP_PROTO_DTLS, &c);
    if (cs) {
        /* libcoap retransmits a little; the device logic owns the resends */
        coap_session_set_ack_timeout(cs, (coap_fixed_point_t){1, 0});
        coap_session_set_max_retransmit(cs, 1);
    }
    return cs;
}

static void drop_session(struct sim *s)
{
    if (!s->session) return;
    if (s->n_old < SIM_OLD_SESSIONS)
        s->old[s->n_old++] = s->session;
    else
        coap_session_release(s->session);
    s->session = NULL;
}

/* ---- the transport of the pill box ---- */

static void new_token(struct sim *s, uint8_t tok[8])
{
    uint64_t t = ++s->next_token;
    for (int i = 0; i < 8; i++)
        tok[i] = (uint8_t)(t >> (56 - 8 * i));
}

/* The record signature seam, with mbedtls: HMAC-SHA256 of head || body. */
static int sign_pack(void *ctx, const uint8_t *head, size_t head_len, const void *body, size_t len,
                     uint8_t mac[RELAIS_WIRE_SIG_LEN])
{
    struct sim *s = ctx;
    mbedtls_md_context_t md;
    mbedtls_md_init(&md);
    int rc = mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1);
    if (!rc) rc = mbedtls_md_hmac_starts(&md, s->record_key, sizeof s->record_key);
    if (!rc) rc = mbedtls_md_hmac_update(&md, head, head_len);
    if (!rc) rc = mbedtls_md_hmac_update(&md, body, len);
    if (!rc) rc = mbedtls_md_hmac_finish(&md, mac);
    mbedtls_md_free(&md);
    return rc ? -1 : 0;
}

/* 64 hex digits into key.  Returns 0 or -1 (said on stderr). */
static int read_record_key(const char *path, uint8_t key[RELAIS_WIRE_RECORD_KEY_LEN])
{
    char hex[2 * RELAIS_WIRE_RECORD_KEY_LEN + 8];
    int n = relais_sim_read_line(PROG, path, hex, sizeof hex);
    if (n < 0) return -1;
    if (n != 2 * RELAIS_WIRE_RECORD_KEY_LEN) goto bad;
    for (int i = 0; i < RELAIS_WIRE_RECORD_KEY_LEN; i++) {
        unsigned v = 0;
        for (int j = 0; j < 2; j++) {
            char c = hex[2 * i + j];
            unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                         : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                         : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                                : 16u;
            if (d > 15) goto bad;
            v = v << 4 | d;
        }
        key[i] = (uint8_t)v;
    }
    memset(hex, 0, sizeof hex);
    return 0;
bad:
    memset(hex, 0, sizeof hex);
    fprintf(stderr, "%s: %s: the record key must be 64 hex digits\n", PROG, path);
    return -1;
}

static int send_pack(void *ctx, uint64_t seq, const void *body, size_t len, const uint8_t *sig)
{
    struct sim *s = ctx;
    /* silence since the last send: the session is dead (or never came up) */
    if (s->session && s->session_used && !s->session_heard) drop_session(s);
    if (!s->session) {
        s->session = new_session(s);
        s->session_used = false;
        if (!s->session) return -1;
    }
    coap_pdu_t *pdu = coap_new_pdu(COAP_MESSAGE_CON, COAP_REQUEST_CODE_POST, s->session);
    if (!pdu) return -1;
    new_token(s, s->req_token);
    char seqs[24];
    int sl = snprintf(seqs, sizeof seqs, "%" PRIu64, seq);
    uint8_t cf[2];
    if (!coap_add_token(pdu, sizeof s->req_token, s->req_token) ||
        !coap_add_option(pdu, COAP_OPTION_URI_PATH, 3, (const uint8_t *)"dev") ||
        !coap_add_option(pdu, COAP_OPTION_URI_PATH, strlen(s->o.device),
                         (const uint8_t *)s->o.device) ||
        !coap_add_option(pdu, COAP_OPTION_URI_PATH, 2, (const uint8_t *)"up") ||
        !coap_add_option(pdu, COAP_OPTION_URI_PATH, (size_t)sl, (const uint8_t *)seqs) ||
        !coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
                         coap_encode_var_safe(cf, sizeof cf, RELAIS_CF_SENML_CBOR), cf) ||
        (sig && !coap_add_option(pdu, RELAIS_WIRE_COAP_OPTION_SIG, RELAIS_WIRE_SIG_LEN, sig)) ||
        !coap_add_data(pdu, len, body)) {
        coap_delete_pdu(pdu);
        return -1;
    }
    s->req_seq = seq;
    s->req_session = s->session;
    s->session_used = true;
    s->session_heard = false;
    if (coap_send(s->session, pdu) == COAP_INVALID_MID) return -1;
    return 0;
}

/* GET /dev/{device}/cmd?after=N when due and none is in flight. */
static void poll_commands(struct sim *s, uint64_t now)
{
    if (!s->poll_ms) return;
    if (s->poll_inflight && now - s->poll_sent_ms >= 5000) s->poll_inflight = false; /* lost */
    if (s->poll_inflight || now < s->next_poll_ms) return;
    s->next_poll_ms = now + s->poll_ms;
    if (!s->session) {
        s->session = new_session(s);
        s->session_used = false;
        if (!s->session) return;
    }
    coap_pdu_t *pdu = coap_new_pdu(COAP_MESSAGE_CON, COAP_REQUEST_CODE_GET, s->session);
    if (!pdu) return;
    new_token(s, s->poll_token);
    char q[32];
    int ql = snprintf(q, sizeof q, "after=%" PRIu64, relais_fw_pillbox_cmd_after(&s->box));
    if (!coap_add_token(pdu, sizeof s->poll_token, s->poll_token) ||
        !coap_add_option(pdu, COAP_OPTION_URI_PATH, 3, (const uint8_t *)"dev") ||
        !coap_add_option(pdu, COAP_OPTION_URI_PATH, strlen(s->o.device),
                         (const uint8_t *)s->o.device) ||
        !coap_add_option(pdu, COAP_OPTION_URI_PATH, 3, (const uint8_t *)"cmd") ||
        !coap_add_option(pdu, COAP_OPTION_URI_QUERY, (size_t)ql, (const uint8_t *)q)) {
        coap_delete_pdu(pdu);
        return;
    }
    s->poll_session = s->session;
    if (coap_send(s->session, pdu) == COAP_INVALID_MID) return;
    s->poll_inflight = true;
    s->poll_sent_ms = now;
}

static void on_poll_answer(struct sim *s, const coap_pdu_t *recv)
{
    size_t len = 0;
    const uint8_t *data = NULL;
    s->poll_inflight = false;
    s->poll_session = NULL;
    coap_pdu_code_t code = coap_pdu_get_code(recv);
    if (code != COAP_RESPONSE_CODE_CONTENT) {
        fprintf(stderr, "relais-pillbox-sim: command poll answered %u.%02u\n", (unsigned)code >> 5,
                (unsigned)code & 31u);
        return;
    }
    if (!coap_get_data(recv, &len, &data) || !len) return; /* nothing pending */
    relais_fw_pillbox_on_cmd(&s->box, (const char *)data, len, relais_sim_mono_ms());
    s->next_poll_ms = relais_sim_mono_ms(); /* there may be more */
}

static void indicate(void *ctx, enum relais_fw_pillbox_indication what, const char *detail)
{
    (void)ctx;
    switch (what) {
    case RELAIS_FW_PILLBOX_REMIND_ON:
        fprintf(stderr, "relais-pillbox-sim: LED+buzzer: time for the dose of %s\n", detail);
        break;
    case RELAIS_FW_PILLBOX_REMIND_OFF:
        fprintf(stderr, "relais-pillbox-sim: lid opened: reminder of %s off\n", detail);
        break;
    case RELAIS_FW_PILLBOX_CALL15:
        fprintf(stderr, "relais-pillbox-sim: display: CALL 15 (alert %s)\n",
                detail[0] ? detail : "-");
        break;
    case RELAIS_FW_PILLBOX_TIME_SET:
        fprintf(stderr, "relais-pillbox-sim: clock set by the gateway\n");
        break;
    }
}

static coap_response_t on_response(coap_session_t *cs, const coap_pdu_t *sent,
                                   const coap_pdu_t *recv, const coap_mid_t mid)
{
    struct sim *s = &g_sim;
    (void)sent;
    (void)mid;
    if (cs == s->session) s->session_heard = true;
    coap_bin_const_t tok = coap_pdu_get_token(recv);
    if (s->poll_inflight && cs == s->poll_session && tok.length == sizeof s->poll_token &&
        memcmp(tok.s, s->poll_token, sizeof s->poll_token) == 0) {
        on_poll_answer(s, recv);
        return COAP_RESPONSE_OK;
    }
    if (cs != s->req_session || tok.length != sizeof s->req_token ||
        memcmp(tok.s, s->req_token, sizeof s->req_token) != 0)
        return COAP_RESPONSE_OK; /* an answer to an older request */
    size_t len = 0;
    const uint8_t *data = NULL;
    if (!coap_get_data(recv, &len, &data)) len = 0;
    uint32_t max_age = 60; /* RFC 7252 5.10.5 */
    coap_opt_iterator_t it;
    coap_opt_t *o = coap_check_option(recv, COAP_OPTION_MAXAGE, &it);
    if (o) max_age = coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o));
    uint64_t seq = s->req_seq;
    s->req_session = NULL; /* answered: a repeat of this answer is ignored */
    int rc = relais_fw_pillbox_on_response(&s->box, seq, (unsigned)coap_pdu_get_code(recv), data,
                                           len, max_age, relais_sim_mono_ms());
    if (rc && rc != RELAIS_FW_EINVAL)
        fprintf(stderr, "relais-pillbox-sim: ring log: %s\n", relais_fw_strerror(rc));
    return COAP_RESPONSE_OK;
}

/* ---- the sensors: lid cycles ---- */

/* --scenario: one step of the next event once the scenario clock has reached
 * it; a dose is a lid cycle (3 steps).  Advances only on success. */
static int scenario_step(struct sim *s)
{
    const struct relais_scn_event *e = relais_scn_player_due(&s->player, relais_sim_mono_ms());
    if (!e) return RELAIS_FW_OK;
    double t = (double)e->t;
    bool dose = e->n && strcmp(e->rec[0].name, "dose") == 0;
    int rc;
    if (!dose)
        rc = relais_fw_pillbox_lid(&s->box, e->n && e->rec[0].vb, t);
    else if (s->phase == 0)
        rc = relais_fw_pillbox_lid(&s->box, true, t);
    else if (s->phase == 1)
        rc = relais_fw_pillbox_dose(&s->box, e->slot, t);
    else
        rc = relais_fw_pillbox_lid(&s->box, false, t);
    if (rc) return rc;
    if (dose && ++s->phase < 3) return RELAIS_FW_OK;
    s->phase = 0;
    s->events++;
    relais_scn_player_take(&s->player);
    return RELAIS_FW_OK;
}

/* One step of the current lid cycle when due; advances only on success (a
 * full log: the same step again later). */
static int sensors(struct sim *s)
{
    if (s->events >= s->o.count) return RELAIS_FW_OK;
    if (s->o.scenario_path) return scenario_step(s);
    uint64_t now = relais_sim_mono_ms();
    if (s->phase == 0 && now < s->next_ms) return RELAIS_FW_OK;
    uint64_t i = s->events;
    double t = s->o.bt_step ? (double)(s->o.bt_start + i * s->o.bt_step) : (double)time(NULL);
    int rc;
    switch (s->phase) {
    case 0: rc = relais_fw_pillbox_lid(&s->box, true, t); break;
    case 1: rc = relais_fw_pillbox_dose(&s->box, i % 2 ? "pm" : "am", t + 1); break;
    case 2: rc = relais_fw_pillbox_battery(&s->box, (double)(100 - i % 50), t + 2); break;
    default: rc = relais_fw_pillbox_lid(&s->box, false, t + 3); break;
    }
    if (rc) return rc;
    if (++s->phase == 4) {
        s->phase = 0;
        s->events++;
        s->next_ms = now + s->o.interval_ms;
    }
    return RELAIS_FW_OK;
}

/* ---- arguments ---- */

static int parse_args(struct sim *s, int argc, char **argv)
{
    static const struct option lo[] = {RELAIS_SIM_OPTIONS,
                                       {"psk-file", 1, 0, 'k'},
                                       {"poll-ms", 1, 0, 'Q'},
                                       {"record-key-file", 1, 0, 'K'},
                                       {0, 0, 0, 0}};
    int c, n;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        int taken = relais_sim_opt(PROG, c, optarg, &s->o);
        if (taken < 0) return -1;
        if (taken) continue;
        switch (c) {
        case 'k':
            if ((n = relais_sim_read_line(PROG, optarg, s->psk, sizeof s->psk)) < 0) return -1;
            s->psk_len = (size_t)n;
            break;
        case 'Q':
            if (relais_sim_parse_u64(PROG, "--poll-ms", optarg, 3600000, &s->poll_ms)) return -1;
            break;
        case 'K':
            if (read_record_key(optarg, s->record_key)) return -1;
            s->has_record_key = true;
            break;
        default: return -1;
        }
    }
    if (relais_sim_opts_finish(PROG, &s->o)) return -1;
    if (!s->o.port || !s->o.device || !s->o.flash_path || !s->psk_len || optind != argc) {
        fprintf(stderr, "usage: relais-pillbox-sim --port P --device ID --psk-file F "
                        "--flash FILE [options] (see the source's header)\n");
        return -1;
    }
    return 0;
}

/* ---- main ---- */

static int open_box(struct sim *s)
{
    int rc = relais_sim_log_open(PROG, &s->ff, &s->log, s->o.flash_path, SIM_SECTOR_SIZE,
                                 SIM_SECTOR_COUNT, SIM_WRITE_UNIT, s->work, sizeof s->work,
                                 SIM_SEQ_BLOCK);
    if (rc) return rc;
    const struct relais_fw_pillbox_ops ops = {.send_cb = send_pack,
                                              .sign_cb = s->has_record_key ? sign_pack : NULL,
                                              .log_cb = log_line,
                                              .indicate_cb = indicate,
                                              .ctx = s};
    rc = relais_fw_pillbox_init(&s->box, &s->log, &ops, s->o.device, s->o.resend_ms,
                                s->o.resend_max_ms);
    if (rc) {
        fprintf(stderr, "relais-pillbox-sim: bad device id %s\n", s->o.device);
        return rc;
    }
    fprintf(stderr, "relais-pillbox-sim: resumed unacked=%" PRIu32 " next_seq=%" PRIu64 "\n",
            relais_fw_ringlog_unacked(&s->log), s->log.next_seq);
    return RELAIS_FW_OK;
}

static int run(struct sim *s, int sfd)
{
    for (;;) {
        struct signalfd_siginfo si;
        if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
            fprintf(stderr, "relais-pillbox-sim: signal %" PRIu32 ", stopping\n", si.ssi_signo);
            return 0;
        }
        int rc = sensors(s);
        if (rc && rc != RELAIS_FW_EFULL) {
            fprintf(stderr, "relais-pillbox-sim: event: %s\n", relais_fw_strerror(rc));
            return 1;
        }
        rc = relais_fw_pillbox_step(&s->box, relais_sim_mono_ms());
        poll_commands(s, relais_sim_mono_ms());
        if (rc) {
            fprintf(stderr, "relais-pillbox-sim: ring log: %s\n", relais_fw_strerror(rc));
            return 1;
        }
        bool idle = relais_fw_pillbox_idle(&s->box);
        /* for the driver: everything sealed is acknowledged (an open lid's
         * records wait for the lid to close) */
        bool settled = relais_fw_ringlog_unacked(&s->log) == 0 && s->box.pending_len == 0;
        if (s->o.scenario_path)
            relais_scn_player_progress(&s->player, relais_sim_mono_ms(), settled);
        if (s->events >= s->o.count && idle &&
            (!s->o.scenario_path || relais_scn_player_may_stop(&s->player, relais_sim_mono_ms())))
            return 0;
        coap_io_process(s->ctx, 10);
    }
}

int main(int argc, char **argv)
{
    struct sim *s = &g_sim;
    s->o.host = "127.0.0.1";
    s->o.count = 10;
    s->o.resend_ms = 2000;
    s->o.resend_max_ms = 30000;
    s->poll_ms = 1000;
    s->ff.fd = -1;
    if (parse_args(s, argc, argv)) return 2;
    if (s->o.scenario_path) {
        if (relais_scn_player_open(&s->player, PROG, s->o.scenario_path, RELAIS_SCN_PILLBOX,
                                   s->o.speed, s->o.clock_file, s->o.progress_file))
            return 2;
        s->o.count = relais_scn_player_count(&s->player);
    }
    int sfd = relais_sim_signals();
    if (sfd < 0) {
        perror("relais-pillbox-sim: signalfd");
        return 1;
    }
    coap_startup();
    coap_set_log_level(LOG_ERR);
    coap_dtls_set_log_level(LOG_EMERG);
    int rc = 1;
    s->ctx = coap_new_context(NULL);
    if (!s->ctx) goto out;
    coap_register_response_handler(s->ctx, on_response);
    s->next_token = relais_sim_mono_ms() << 20;
    if (open_box(s) != RELAIS_FW_OK) goto out;
    rc = run(s, sfd);
    const struct relais_fw_pillbox_stats *st = &s->box.stats;
    printf("relais-pillbox-sim: generated=%" PRIu32 " sent=%" PRIu32 " resent=%" PRIu32
           " stored=%" PRIu32 " duplicate=%" PRIu32 " rejected=%" PRIu32 " busy=%" PRIu32
           " unacked=%" PRIu32 " commands=%" PRIu32 " reminds=%" PRIu32 " call15=%" PRIu32 "\n",
           st->generated, st->sent, st->resent, st->stored, st->duplicate, st->rejected, st->busy,
           relais_fw_ringlog_unacked(&s->log), st->commands, st->reminds, st->call15s);
    fflush(stdout);
out:
    if (s->session) coap_session_release(s->session);
    for (size_t i = 0; i < s->n_old; i++)
        coap_session_release(s->old[i]);
    if (s->ctx) coap_free_context(s->ctx);
    coap_cleanup();
    relais_fw_flash_file_close(&s->ff);
    relais_scn_player_close(&s->player);
    close(sfd);
    return rc;
}
