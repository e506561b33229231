/* SPDX-License-Identifier: Apache-2.0 */
/*
 * relaisctl: the operator's tool.  Asks a running relaisd over its control
 * socket (status) or reads the store directly, read-only (readings, packs,
 * rejects).  Options and commands are documented once, in the tables below,
 * and --help is built from them (docs/cli.md follows).
 */
#include "relais/audit.h"
#include "relais/config.h"
#include "relais/control.h"
#include "relais/crypto.h"
#include "relais/error.h"
#include "relais/outbox.h"
#include "relais/registry.h"
#include "relais/store.h"
#include "relais/version.h"
#include "relaisctl.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_CONFIG "/etc/relais/relaisd.conf"

struct cli_option {
    const char *lng;
    int shrt;
    const char *arg;
    const char *help;
};

static const struct cli_option cli_options[] = {
    {"config", 'c', "FILE",
     "relaisd's configuration (default $RELAIS_CONFIG or " DEFAULT_CONFIG ")"},
    {"socket", 's', "PATH", "control socket (default: from the configuration)"},
    {"db", 'd', "PATH", "store database (default: {data_dir}/relais.db)"},
    {"head", 'H', "ID:SHA256",
     "a head of the audit trail kept elsewhere, e.g. from relaisd's status at the hospital "
     "(audit verify)"},
    {"key-file", 'K', "PATH",
     "the store key (default: [store] key_file, else store.key beside the database)"},
    {"device", 'D', "ID", "only this device"},
    {"metric", 'm', "NAME", "only this metric (readings)"},
    {"flagged", 'f', NULL, "only packs flagged for a reused seq (packs)"},
    {"kind", 'k', "KIND",
     "device kind: pillbox, vitals, tablet, thermometer, oximeter, bp-cuff, scale (device add)"},
    {"patient", 'p', "PSEUDONYM", "the patient the device is bound to (device add)"},
    {"by", 'b', "WHO", "the professional who acknowledges or resolves (ack, resolve)"},
    {"all", 'a', NULL, "every alert, closed ones too (alerts)"},
    {"limit", 'n', "N", "the newest N rows (default 50; 0 for all)"},
    {"json", 'j', NULL, "print JSON"},
    {"version", 'V', NULL, "print the version and exit"},
    {"help", 'h', NULL, "print this help and exit"},
    {NULL, 0, NULL, NULL},
};

static const struct {
    const char *name, *help;
} commands[] = {
    {"status", "relaisd's state: links, ingest counters, rejections by reason, store"},
    {"readings", "stored readings, oldest first (--device, --metric, --limit)"},
    {"packs", "stored packs with their seq and flags (--device, --flagged, --limit)"},
    {"rejects", "rejected inputs with their reason (--device, --limit)"},
    {"dead-letters", "what could not be forwarded to the hospital, with why (--limit)"},
    {"devices", "the device registry: id, kind, patient, active or removed"},
    {"device add ID", "register a device (--kind, --patient) and print its credentials"},
    {"device remove ID", "revoke a device: its keys are erased and its sessions closed"},
    {"audit verify", "check the audit trail's hash chain: which rows were modified, deleted, "
                     "inserted or reordered (exit 4)"},
    {"uplink csr", "make the gateway's key for the hospital broker ([upstream] key_file, 0600) "
                   "and print a certificate signing request for it (CN = gateway id)"},
    {"key rotate", "re-seal the store under a fresh key (relaisd stopped; exit 4 when a sealed "
                   "record fails its check)"},
    {"alerts", "open alerts (--all: every alert, --limit), newest last"},
    {"alert ID", "one alert, its evidence and its history"},
    {"ack ID", "acknowledge an alert in the name of --by WHO"},
    {"resolve ID", "close an alert in the name of --by WHO"},
    {"adherence PATIENT", "ABC adherence per cycle, drug holidays and the chronology"},
    {"delays", "delay of care: raise to acknowledgement and to resolution, per patient and team"},
    {"careplan", "the active care plan"},
    {"careplan apply FILE",
     "offer a care plan (validated whole; refused with its first bad field)"},
    {"commands", "commands sent to the devices (reminders, call 15, time), newest last"},
    {"clock", "the rules' clock; with --test-clock: clock advance|jump MS, clock sync on|off"},
    {NULL, NULL},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: relaisctl [OPTIONS] COMMAND\n\ncommands:\n");
    for (int i = 0; commands[i].name; i++)
        fprintf(out, "  %-18s %s\n", commands[i].name, commands[i].help);
    fprintf(out, "\noptions:\n");
    for (const struct cli_option *o = cli_options; o->lng; o++) {
        char left[40];
        snprintf(left, sizeof left, "-%c, --%s%s%s", o->shrt, o->lng, o->arg ? " " : "",
                 o->arg ? o->arg : "");
        fprintf(out, "  %-22s %s\n", left, o->help);
    }
    fprintf(out, "\nexit codes: 0 ok, 1 error, 2 usage error, 3 relaisd not running\n");
}

void iso_time(double t, char *buf, size_t cap)
{
    time_t s = (time_t)t;
    struct tm tm;
    gmtime_r(&s, &tm);
    unsigned ms = (unsigned)((t - (double)s) * 1000.0 + 0.5);
    if (ms > 999) ms = 999;
    if (snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms) >= (int)cap)
        buf[cap - 1] = '\0';
}

char relaisctl_gateway[40] = "gw";
char relaisctl_key_file[4096];
char relaisctl_upstream_key[4096];

void ctl_key_path(const char *db, char *out, size_t cap)
{
    if (relaisctl_key_file[0]) {
        snprintf(out, cap, "%s", relaisctl_key_file);
    } else {
        /* beside the database, as relaisd keeps it by default */
        const char *slash = strrchr(db, '/');
        snprintf(out, cap, "%.*sstore.key", slash ? (int)(slash - db + 1) : 0, db);
    }
}

int ctl_store_open(const char *db, bool readonly, struct relais_store **st)
{
    char key[4200];
    ctl_key_path(db, key, sizeof key);
    const struct relais_store_opts so = {.readonly = readonly};
    if (!readonly) umask(077);
    int rc;
    if (readonly && access(key, R_OK) != 0) {
        /* what is not sealed stays readable (status, audit verify, devices) */
        rc = relais_store_open(st, db, &so);
    } else {
        /* a writable open may create the store: its key with it, as relaisd */
        rc = relais_store_open_keyed(st, db, key, !readonly, &so);
    }
    if (rc)
        fprintf(stderr, "relaisctl: cannot open the store %s (key %s): %s\n", db, key,
                relais_strerror(rc));
    return rc;
}

/* Paths from the options or the configuration. */
/* [local] broker_passwd_file and broker_pid_file ("" when not set) */
static char broker_passwd[4096], broker_pid[4096];

static int resolve_paths(const struct opts *o, char *sock, char *db, size_t cap)
{
    if (o->key_file) snprintf(relaisctl_key_file, sizeof relaisctl_key_file, "%s", o->key_file);
    if (o->socket && o->db) {
        snprintf(sock, cap, "%s", o->socket);
        snprintf(db, cap, "%s", o->db);
        return EXIT_OK;
    }
    const char *path = o->config ? o->config : getenv("RELAIS_CONFIG");
    if (!path) path = DEFAULT_CONFIG;
    struct relais_config cfg;
    struct relais_config_error err;
    if (relais_config_load(&cfg, path, &err) != RELAIS_OK) {
        if (!o->socket && !o->db) {
            fprintf(stderr, "relaisctl: %s\n", err.message);
            return EXIT_ERROR;
        }
        snprintf(sock, cap, "%s", o->socket ? o->socket : "");
        snprintf(db, cap, "%s", o->db ? o->db : "");
        return EXIT_OK;
    }
    snprintf(relaisctl_gateway, sizeof relaisctl_gateway, "%s", cfg.gateway_id);
    snprintf(relaisctl_upstream_key, sizeof relaisctl_upstream_key, "%s",
             cfg.upstream_key_file ? cfg.upstream_key_file : "");
    snprintf(broker_passwd, sizeof broker_passwd, "%s",
             cfg.local_broker_passwd_file ? cfg.local_broker_passwd_file : "");
    snprintf(broker_pid, sizeof broker_pid, "%s",
             cfg.local_broker_pid_file ? cfg.local_broker_pid_file : "");
    if (o->socket)
        snprintf(sock, cap, "%s", o->socket);
    else if (cfg.control_socket && cfg.control_socket[0])
        snprintf(sock, cap, "%s", cfg.control_socket);
    else
        snprintf(sock, cap, "%s/relaisd.sock", cfg.data_dir);
    if (o->db)
        snprintf(db, cap, "%s", o->db);
    else
        snprintf(db, cap, "%s/relais.db", cfg.data_dir);
    if (!o->key_file && cfg.store_key_file && cfg.store_key_file[0])
        snprintf(relaisctl_key_file, sizeof relaisctl_key_file, "%s", cfg.store_key_file);
    else if (!o->key_file && !o->db)
        snprintf(relaisctl_key_file, sizeof relaisctl_key_file, "%s/store.key", cfg.data_dir);
    relais_config_cleanup(&cfg);
    return EXIT_OK;
}

/* ---- status ---- */

static json_int_t jint(json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static int cmd_status(const struct opts *o, const char *sock)
{
    char *answer = NULL;
    int rc = relais_control_request(sock, "status", &answer, 5000);
    if (rc == RELAIS_ECONN) {
        fprintf(stderr, "relaisctl: relaisd is not running (nobody at %s)\n", sock);
        return EXIT_NOT_RUNNING;
    }
    if (rc != RELAIS_OK) {
        fprintf(stderr, "relaisctl: %s: %s\n", sock, relais_strerror(rc));
        return EXIT_ERROR;
    }
    if (o->json) {
        fputs(answer, stdout);
        free(answer);
        return EXIT_OK;
    }
    json_error_t jerr;
    json_t *st = json_loads(answer, 0, &jerr);
    free(answer);
    if (!st) {
        fprintf(stderr, "relaisctl: bad answer from relaisd: %s\n", jerr.text);
        return EXIT_ERROR;
    }
    json_t *local = json_object_get(st, "local"), *ing = json_object_get(st, "ingest"),
           *store = json_object_get(st, "store");
    printf("relaisd %s, gateway %s, up %lld s (pid %lld)\n",
           json_string_value(json_object_get(st, "version")),
           json_string_value(json_object_get(st, "gateway")), (long long)jint(st, "uptime_s"),
           (long long)jint(st, "pid"));
    printf("local broker  %s %s:%lld as %s (%lld connects, %lld lost, %lld failed)\n",
           json_is_true(json_object_get(local, "connected")) ? "connected to" : "NOT connected to",
           json_string_value(json_object_get(local, "host")), (long long)jint(local, "port"),
           json_string_value(json_object_get(local, "client_id")),
           (long long)jint(local, "connects"), (long long)jint(local, "disconnects"),
           (long long)jint(local, "connect_failures"));
    json_t *up = json_object_get(st, "upstream");
    if (json_is_object(up)) {
        json_t *q = json_object_get(up, "queue");
        printf("hospital      %s %s:%lld; outbox: alert %lld, adherence %lld, device %lld, vitals "
               "%lld, dead letters %lld; %lld in flight, %lld messages acknowledged\n",
               json_is_true(json_object_get(up, "connected")) ? "connected to" : "NOT connected to",
               json_string_value(json_object_get(up, "host")), (long long)jint(up, "port"),
               (long long)jint(q, "alert"), (long long)jint(q, "adherence"),
               (long long)jint(q, "device"), (long long)jint(q, "vitals"),
               (long long)jint(q, "dead_letters"), (long long)jint(up, "in_flight"),
               (long long)jint(up, "acked"));
        printf(
            "              care plans from the hospital: %lld applied, %lld rejected; acks: %lld "
            "applied, %lld rejected; %lld stalls\n",
            (long long)jint(up, "plans_applied"), (long long)jint(up, "plans_rejected"),
            (long long)jint(up, "acks_applied"), (long long)jint(up, "acks_rejected"),
            (long long)jint(up, "stalls"));
    } else {
        printf("hospital      no forwarding ([upstream] host is empty)\n");
    }
    json_t *coap = json_object_get(st, "coap");
    if (json_is_object(coap)) {
        json_t *ans = json_object_get(coap, "answered");
        printf("coap          %lld requests: 2.04 %lld, 4.00 %lld, 4.01 %lld, 4.03 %lld, other "
               "4.xx %lld, "
               "5.03 %lld; %lld DTLS sessions, %lld handshakes refused, %lld rate-limited\n",
               (long long)jint(coap, "requests"), (long long)jint(ans, "2.04"),
               (long long)jint(ans, "4.00"), (long long)jint(ans, "4.01"),
               (long long)jint(ans, "4.03"), (long long)jint(ans, "4.xx other"),
               (long long)jint(ans, "5.03"), (long long)jint(coap, "sessions"),
               (long long)jint(coap, "handshakes_refused"), (long long)jint(coap, "rate_limited"));
    }
    json_t *devs = json_object_get(st, "devices");
    printf("devices       %lld active, %lld known\n", (long long)jint(devs, "active"),
           (long long)jint(devs, "known"));
    printf("ingest        received %lld, stored %lld, duplicate %lld, flagged %lld, rejected "
           "%lld, busy %lld, unroutable %lld\n",
           (long long)jint(ing, "received"), (long long)jint(ing, "stored"),
           (long long)jint(ing, "duplicate"), (long long)jint(ing, "flagged"),
           (long long)jint(ing, "rejected"), (long long)jint(ing, "busy"),
           (long long)jint(ing, "unroutable"));
    printf("              readings %lld, commits %lld (failed %lld, largest %lld packs), acks "
           "%lld, pending %lld\n",
           (long long)jint(ing, "readings"), (long long)jint(ing, "commits"),
           (long long)jint(ing, "commit_failures"), (long long)jint(ing, "batch_max"),
           (long long)jint(ing, "acks_sent"), (long long)jint(ing, "pending"));
    json_t *by = json_object_get(ing, "rejected_by");
    if (json_object_size(by)) {
        const char *k;
        json_t *v;
        printf("rejected by  ");
        const char *sep = " ";
        json_object_foreach(by, k, v)
        {
            printf("%s%s %lld", sep, k, (long long)json_integer_value(v));
            sep = ", ";
        }
        printf("\n");
    }
    json_t *rules = json_object_get(st, "rules");
    if (json_is_object(rules)) {
        json_t *plan = json_object_get(rules, "plan");
        if (json_is_object(plan))
            printf("care plan     version %lld for %s (%s, %s pathway)\n",
                   (long long)jint(plan, "version"),
                   json_string_value(json_object_get(plan, "patient")),
                   json_string_value(json_object_get(plan, "drug")),
                   json_string_value(json_object_get(plan, "pathway")));
        else
            printf("care plan     none (readings are kept; devices count as unbound)\n");
        printf("alerts        %lld open; raised %lld, escalated %lld, call 15 %lld, acknowledged "
               "%lld, cleared %lld; reminders %lld; commands sent %lld%s%s\n",
               (long long)jint(rules, "open_alerts"), (long long)jint(rules, "raised"),
               (long long)jint(rules, "escalated"), (long long)jint(rules, "call15"),
               (long long)jint(rules, "acknowledged"), (long long)jint(rules, "cleared"),
               (long long)jint(rules, "reminders"), (long long)jint(rules, "commands_sent"),
               json_is_true(json_object_get(rules, "test_clock")) ? "; TEST CLOCK" : "",
               json_is_true(json_object_get(rules, "clock_unsynced")) ? "; CLOCK NOT SYNCHRONISED"
                                                                      : "");
    }
    printf("store         %s, %.1f MiB of %.0f MiB%s\n",
           json_string_value(json_object_get(store, "path")),
           (double)jint(store, "size_bytes") / 1048576.0,
           (double)jint(store, "quota_bytes") / 1048576.0,
           json_is_true(json_object_get(store, "over_quota")) ? " (OVER QUOTA: devices told busy)"
                                                              : "");
    json_decref(st);
    return EXIT_OK;
}

/* ---- store walks ---- */

struct walk {
    const struct opts *o;
    json_t *rows;
    long n;
};

static const char *const src_names[] = {"device", "relative", "gateway"};

static int print_reading(const struct relais_stored_reading *r, void *ud)
{
    struct walk *w = ud;
    char t[40], value[300];
    iso_time(r->time, t, sizeof t);
    switch (r->kind) {
    case RELAIS_READING_NUMBER: snprintf(value, sizeof value, "%.10g", r->value); break;
    case RELAIS_READING_STRING:
        snprintf(value, sizeof value, "\"%s\"", r->str ? r->str : "");
        break;
    case RELAIS_READING_BOOL:
        snprintf(value, sizeof value, "%s", r->boolean ? "true" : "false");
        break;
    case RELAIS_READING_DATA: snprintf(value, sizeof value, "(%zu bytes)", r->len); break;
    default: snprintf(value, sizeof value, "-"); break;
    }
    if (r->tampered) snprintf(value, sizeof value, "(its sealed record failed its check)");
    if (r->has_sum) {
        size_t n = strlen(value);
        snprintf(value + n, sizeof value - n, " sum=%.10g", r->sum);
    }
    const char *src = (unsigned)r->time_source < 3 ? src_names[r->time_source] : "?";
    if (w->rows) {
        json_t *row =
            json_pack("{s:s, s:I, s:i, s:s, s:s, s:s, s:s, s:f, s:s, s:I}", "device", r->device,
                      "seq", (json_int_t)r->seq, "idx", r->idx, "metric", r->metric, "value", value,
                      "unit", r->unit ? r->unit : "", "time", t, "t", r->time, "time_source", src,
                      "received_ms", (json_int_t)r->received_ms);
        if (r->kind == RELAIS_READING_NUMBER) json_object_set_new(row, "v", json_real(r->value));
        json_array_append_new(w->rows, row);
    } else {
        if (w->n++ == 0)
            printf("%-24s %-16s %8s %-14s %14s %-9s %s\n", "time", "device", "seq", "metric",
                   "value", "unit", "time from");
        printf("%-24s %-16s %8llu %-14s %14s %-9s %s%s\n", t, r->device, (unsigned long long)r->seq,
               r->metric, value, r->unit ? r->unit : "", src,
               r->flags & RELAIS_PACK_FLAG_SEQ_REUSED ? " (seq reused)" : "");
    }
    return 0;
}

static int print_pack(const struct relais_stored_pack *p, void *ud)
{
    struct walk *w = ud;
    char t[40], hash[17];
    iso_time((double)p->received_ms / 1000.0, t, sizeof t);
    for (int i = 0; i < 8; i++)
        snprintf(hash + 2 * i, 3, "%02x", p->hash ? p->hash[i] : 0);
    const char *fmt = p->format == RELAIS_SENML_CBOR ? "cbor" : "json";
    if (w->rows) {
        json_array_append_new(
            w->rows,
            json_pack("{s:I, s:s, s:I, s:s, s:s, s:s, s:i, s:b, s:s}", "id", (json_int_t)p->id,
                      "device", p->device, "seq", (json_int_t)p->seq, "format", fmt, "transport",
                      relais_transport_name(p->transport), "received", t, "records", p->records,
                      "seq_reused", (p->flags & RELAIS_PACK_FLAG_SEQ_REUSED) != 0, "sha256", hash));
    } else {
        if (w->n++ == 0)
            printf("%-8s %-24s %-16s %8s %-4s %-4s %7s %-16s %s\n", "id", "received", "device",
                   "seq", "fmt", "via", "records", "sha256", "flags");
        printf("%-8lld %-24s %-16s %8llu %-4s %-4s %7d %-16s %s\n", (long long)p->id, t, p->device,
               (unsigned long long)p->seq, fmt, relais_transport_name(p->transport), p->records,
               hash, p->flags & RELAIS_PACK_FLAG_SEQ_REUSED ? "seq-reused" : "-");
    }
    return 0;
}

static int print_reject(const struct relais_stored_reject *r, void *ud)
{
    struct walk *w = ud;
    char t[40], seq[24] = "-";
    iso_time((double)r->at_ms / 1000.0, t, sizeof t);
    if (r->has_seq) snprintf(seq, sizeof seq, "%llu", (unsigned long long)r->seq);
    if (w->rows) {
        json_array_append_new(
            w->rows, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "id", (json_int_t)r->id,
                               "at", t, "transport", relais_transport_name(r->transport), "device",
                               r->device ? r->device : "", "seq", seq, "reason", r->reason,
                               "detail", r->detail, "bytes", (json_int_t)r->len));
    } else {
        if (w->n++ == 0)
            printf("%-24s %-4s %-16s %8s %-18s %s\n", "at", "via", "device", "seq", "reason",
                   "detail");
        printf("%-24s %-4s %-16s %8s %-18s %s\n", t, relais_transport_name(r->transport),
               r->device ? r->device : "?", seq, r->reason, r->detail);
    }
    return 0;
}

static int print_dead_letter(const struct relais_dead_letter *d, void *ud)
{
    static const char *const kinds[] = {"?", "pack", "alert", "missed", "device"};
    static const char *const lanes[] = {"alert", "adherence", "device", "vitals"};
    struct walk *w = ud;
    char t[40];
    iso_time((double)d->dead_ms / 1000.0, t, sizeof t);
    const char *kind = d->kind >= 1 && d->kind <= 4 ? kinds[d->kind] : kinds[0];
    const char *lane = d->lane >= 0 && d->lane < 4 ? lanes[d->lane] : "?";
    if (w->rows) {
        json_array_append_new(
            w->rows,
            json_pack("{s:I, s:s, s:s, s:s, s:I, s:s, s:i, s:s, s:s, s:I}", "id", (json_int_t)d->id,
                      "at", t, "lane", lane, "kind", kind, "ref", (json_int_t)d->ref, "key",
                      d->key ? d->key : "", "attempts", d->attempts, "reason", d->reason, "topic",
                      d->topic ? d->topic : "", "bytes", (json_int_t)d->body_len));
    } else {
        if (w->n++ == 0)
            printf("%-6s %-24s %-9s %-6s %10s %8s %s\n", "id", "at", "lane", "kind", "ref",
                   "attempts", "reason");
        printf("%-6lld %-24s %-9s %-6s %10lld %8d %s\n", (long long)d->id, t, lane, kind,
               (long long)d->ref, d->attempts, d->reason);
    }
    return 0;
}

static int cmd_walk(const struct opts *o, const char *db, const char *cmd)
{
    struct relais_store *st = NULL;
    int rc = ctl_store_open(db, true, &st);
    if (rc) return EXIT_ERROR;
    struct relais_store_filter f = {o->device, o->metric, o->flagged, o->limit};
    struct walk w = {o, o->json ? json_array() : NULL, 0};
    if (strcmp(cmd, "readings") == 0)
        rc = relais_store_foreach_reading(st, &f, print_reading, &w);
    else if (strcmp(cmd, "packs") == 0)
        rc = relais_store_foreach_pack(st, &f, print_pack, &w);
    else if (strcmp(cmd, "dead-letters") == 0)
        rc = relais_store_foreach_dead_letter(st, o->limit, print_dead_letter, &w);
    else
        rc = relais_store_foreach_reject(st, &f, print_reject, &w);
    relais_store_close(st);
    if (rc) {
        fprintf(stderr, "relaisctl: %s: %s\n", cmd, relais_strerror(rc));
        json_decref(w.rows);
        return EXIT_ERROR;
    }
    if (w.rows) {
        json_dumpf(w.rows, stdout, JSON_INDENT(1));
        printf("\n");
        json_decref(w.rows);
    } else if (w.n == 0) {
        printf("(none)\n");
    }
    return EXIT_OK;
}

/* ---- the device registry ----
 * Through the running relaisd when there is one (it updates its sessions at
 * once), else directly in the store. */

int ask(const char *sock, const char *request, json_t **answer)
{
    char *text = NULL;
    *answer = NULL;
    int rc = relais_control_request(sock, request, &text, 10000);
    if (rc != RELAIS_OK) return rc;
    json_error_t jerr;
    *answer = json_loads(text, JSON_DECODE_ANY, &jerr);
    relais_zeroize(text, strlen(text));
    free(text);
    return *answer ? RELAIS_OK : RELAIS_EPROTO;
}

static int open_rw(const char *db, struct relais_store **st, struct relais_registry **reg)
{
    int rc = ctl_store_open(db, false, st);
    if (rc) return EXIT_ERROR;
    rc = relais_registry_create(reg, *st);
    if (rc) {
        fprintf(stderr, "relaisctl: cannot read the registry: %s\n", relais_strerror(rc));
        relais_store_close(*st);
        return EXIT_ERROR;
    }
    return EXIT_OK;
}

int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An MQTT device's broker password, written to the broker's password file
 * when relaisctl keeps it ([local] broker_passwd_file; not for a pill box,
 * which speaks CoAP): mqtt receives it, "" when none.  Returns an exit code. */
static int broker_add(const char *id, const char *kind, char *mqtt, size_t cap)
{
    mqtt[0] = '\0';
    if (!broker_passwd[0] || strcmp(kind, "pillbox") == 0) return EXIT_OK;
    uint8_t raw[18];
    if (relais_random_bytes(raw, sizeof raw) != RELAIS_OK || cap < 2 * sizeof raw + 1) {
        fprintf(stderr, "relaisctl: no random bytes for the MQTT password\n");
        return EXIT_ERROR;
    }
    relais_hex(raw, sizeof raw, mqtt);
    relais_zeroize(raw, sizeof raw);
    int rc = broker_passwd_update(broker_passwd, broker_pid, id, mqtt);
    if (rc) relais_zeroize(mqtt, cap);
    return rc;
}

/* record_key: a pill box's record-signing key in hex, "" or NULL when none. */
static void print_credentials(const struct opts *o, const char *id, const char *kind,
                              const char *patient, const char *psk, const char *mqtt,
                              const char *record_key)
{
    bool rk = record_key && record_key[0];
    if (o->json) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", id, "kind", kind, "patient",
                              patient, "psk_identity", id, "psk", psk);
        if (rk) json_object_set_new(j, "record_key", json_string(record_key));
        if (mqtt[0]) {
            json_object_set_new(j, "mqtt_username", json_string(id));
            json_object_set_new(j, "mqtt_password", json_string(mqtt));
        }
        json_dumpf(j, stdout, JSON_INDENT(1));
        printf("\n");
        json_decref(j);
        return;
    }
    printf("device %s added (kind %s%s%s)\n", id, kind, patient[0] ? ", patient " : "", patient);
    printf("  MQTT user name / DTLS-PSK identity: %s\n", id);
    printf("  DTLS-PSK key: %s\n", psk);
    if (mqtt[0]) printf("  MQTT password: %s\n", mqtt);
    if (rk) printf("  record-signing key (HMAC-SHA256, hex): %s\n", record_key);
    printf("Give the key%s to the device only; relais does not show %s again.\n",
           mqtt[0] || rk ? "s" : "", mqtt[0] || rk ? "them" : "it");
}

static int cmd_device_add(const struct opts *o, const char *sock, const char *db, const char *id)
{
    if (!o->kind) {
        fprintf(stderr, "relaisctl: device add needs --kind KIND\n");
        return EXIT_USAGE;
    }
    const char *patient = o->patient ? o->patient : "";
    char request[256];
    snprintf(request, sizeof request, "device-add %s %s %s", id, o->kind, patient);
    json_t *a;
    int rc = ask(sock, request, &a);
    if (rc == RELAIS_OK) {
        const char *err = json_string_value(json_object_get(a, "error"));
        if (err) {
            fprintf(stderr, "relaisctl: device add %s: %s\n", id, err);
            json_decref(a);
            return EXIT_ERROR;
        }
        char mqtt[64];
        int brc = broker_add(id, o->kind, mqtt, sizeof mqtt);
        print_credentials(o, id, o->kind, patient, json_string_value(json_object_get(a, "psk")),
                          mqtt, json_string_value(json_object_get(a, "record_key")));
        relais_zeroize(mqtt, sizeof mqtt);
        json_decref(a);
        return brc;
    }
    if (rc != RELAIS_ECONN) {
        fprintf(stderr, "relaisctl: %s: %s\n", sock, relais_strerror(rc));
        return EXIT_ERROR;
    }
    /* relaisd is not running: write the registry ourselves */
    struct relais_store *st;
    struct relais_registry *reg;
    if ((rc = open_rw(db, &st, &reg))) return rc;
    struct relais_device dev;
    rc = relais_registry_add(reg, id, o->kind, patient, wall_ms(), &dev);
    if (rc == RELAIS_OK) {
        char psk[RELAIS_PSK_LEN + 1];
        memcpy(psk, dev.psk, RELAIS_PSK_LEN);
        psk[RELAIS_PSK_LEN] = '\0';
        char mqtt[64], rk[2 * RELAIS_WIRE_RECORD_KEY_LEN + 1] = "";
        uint8_t key[RELAIS_WIRE_RECORD_KEY_LEN];
        if (relais_registry_record_key(reg, id, key) == RELAIS_OK) relais_hex(key, sizeof key, rk);
        relais_zeroize(key, sizeof key);
        int brc = broker_add(id, o->kind, mqtt, sizeof mqtt);
        print_credentials(o, id, o->kind, patient, psk, mqtt, rk);
        relais_zeroize(mqtt, sizeof mqtt);
        relais_zeroize(rk, sizeof rk);
        if (brc) rc = RELAIS_EIO;
        relais_zeroize(psk, sizeof psk);
        relais_zeroize(&dev, sizeof dev);
    } else {
        fprintf(stderr, "relaisctl: device add %s: %s\n", id,
                rc == RELAIS_EEXIST   ? "this device exists: remove it first"
                : rc == RELAIS_EINVAL ? "bad id ([a-z0-9][a-z0-9-]{0,31}), kind or patient"
                                      : relais_strerror(rc));
    }
    relais_registry_destroy(reg);
    relais_store_close(st);
    return rc ? EXIT_ERROR : EXIT_OK;
}

static int cmd_device_remove(const struct opts *o, const char *sock, const char *db, const char *id)
{
    char request[128];
    (void)o;
    snprintf(request, sizeof request, "device-remove %s", id);
    json_t *a;
    int rc = ask(sock, request, &a);
    if (rc == RELAIS_OK) {
        const char *err = json_string_value(json_object_get(a, "error"));
        if (err)
            fprintf(stderr, "relaisctl: device remove %s: %s\n", id, err);
        else
            printf("device %s removed: its keys are erased and its sessions closed\n", id);
        json_decref(a);
        if (err) return EXIT_ERROR;
        return broker_passwd[0] ? broker_passwd_update(broker_passwd, broker_pid, id, NULL)
                                : EXIT_OK;
    }
    if (rc != RELAIS_ECONN) {
        fprintf(stderr, "relaisctl: %s: %s\n", sock, relais_strerror(rc));
        return EXIT_ERROR;
    }
    struct relais_store *st;
    struct relais_registry *reg;
    if ((rc = open_rw(db, &st, &reg))) return rc;
    rc = relais_registry_remove(reg, id, wall_ms());
    if (rc)
        fprintf(stderr, "relaisctl: device remove %s: %s\n", id,
                rc == RELAIS_ENOTFOUND ? "no active device of that id" : relais_strerror(rc));
    else
        printf("device %s removed: its keys are erased\n", id);
    relais_registry_destroy(reg);
    relais_store_close(st);
    if (rc) return EXIT_ERROR;
    return broker_passwd[0] ? broker_passwd_update(broker_passwd, broker_pid, id, NULL) : EXIT_OK;
}

static int print_device(const struct relais_device *d, void *ud)
{
    json_t *arr = ud;
    json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:I, s:I, s:b}", "id", d->id, "kind",
                                         d->kind, "patient", d->patient, "created_ms",
                                         (json_int_t)d->created_ms, "revoked_ms",
                                         (json_int_t)d->revoked_ms, "active", !d->revoked_ms));
    return 0;
}

/* audit verify: reads the store itself (relaisd need not run). */
static int cmd_audit_verify(const struct opts *o, const char *db)
{
    struct relais_store *st;
    const struct relais_store_opts so = {.readonly = true};
    int rc = relais_store_open(&st, db, &so);
    if (rc) {
        fprintf(stderr, "relaisctl: cannot open the store %s: %s\n", db, relais_strerror(rc));
        return EXIT_ERROR;
    }
    /* a head kept elsewhere: its row must be there with that very hash */
    long long head_id = 0;
    uint8_t head_want[RELAIS_SHA256_LEN], head_have[RELAIS_SHA256_LEN];
    int head_rc = RELAIS_OK;
    if (o->head) {
        char hex[2 * RELAIS_SHA256_LEN + 2];
        int used = 0;
        if (sscanf(o->head, "%lld:%65[0-9a-fA-F]%n", &head_id, hex, &used) != 2 ||
            o->head[used] != '\0' || head_id <= 0 ||
            relais_unhex(hex, head_want, sizeof head_want)) {
            relais_store_close(st);
            fprintf(stderr, "relaisctl: --head: '%s' is not ID:SHA256 (64 hex digits)\n", o->head);
            return EXIT_USAGE;
        }
        head_rc = relais_audit_row_hash(st, head_id, head_have);
    }
    struct relais_audit_report *r = malloc(sizeof *r);
    rc = r ? relais_audit_verify(st, r) : RELAIS_ENOMEM;
    relais_store_close(st);
    if (rc) {
        fprintf(stderr, "relaisctl: audit verify: %s\n", relais_strerror(rc));
        free(r);
        return EXIT_ERROR;
    }
    char head[2 * RELAIS_SHA256_LEN + 1];
    for (size_t i = 0; i < RELAIS_SHA256_LEN; i++)
        snprintf(head + 2 * i, 3, "%02x", r->head[i]);
    if (o->head && head_rc != RELAIS_OK && head_rc != RELAIS_ENOTFOUND) {
        fprintf(stderr, "relaisctl: audit verify: %s\n", relais_strerror(head_rc));
        free(r);
        return EXIT_ERROR;
    }
    /* against the head: cut off (its row is gone), rewritten (another hash) */
    const char *head_verdict = NULL;
    if (o->head && head_rc == RELAIS_ENOTFOUND)
        head_verdict = "cut off: the row of the head kept elsewhere is not in the trail";
    else if (o->head && memcmp(head_have, head_want, sizeof head_want) != 0)
        head_verdict = "rewritten: the row of the head kept elsewhere has another hash";
    else if (o->head)
        head_verdict = "matches the head kept elsewhere";
    bool head_ok =
        !o->head || (head_rc == RELAIS_OK && memcmp(head_have, head_want, sizeof head_want) == 0);
    bool intact = r->nfindings == 0 && head_ok;
    if (o->json) {
        json_t *f = json_array();
        for (size_t i = 0; i < r->nfindings; i++)
            json_array_append_new(f, json_pack("{s:s, s:I, s:I}", "problem",
                                               relais_audit_problem_name(r->findings[i].problem),
                                               "id", (json_int_t)r->findings[i].id, "id_to",
                                               (json_int_t)r->findings[i].id_to));
        json_t *out = json_pack("{s:I, s:I, s:I, s:s, s:b, s:o, s:I}", "rows", (json_int_t)r->rows,
                                "first_id", (json_int_t)r->first_id, "last_id",
                                (json_int_t)r->last_id, "head", r->rows ? head : "", "intact",
                                intact, "findings", f, "more", (json_int_t)r->more);
        if (o->head)
            json_object_set_new(out, "against_head",
                                json_pack("{s:I, s:b, s:s}", "id", (json_int_t)head_id, "ok",
                                          head_ok, "verdict", head_verdict));
        json_dumpf(out, stdout, JSON_INDENT(1));
        printf("\n");
        json_decref(out);
    } else if (r->rows == 0) {
        printf("audit trail: empty\n");
        if (o->head) printf("against row %lld: %s\n", head_id, head_verdict);
    } else {
        printf("audit trail: %llu rows (%lld..%lld): %s\n", (unsigned long long)r->rows,
               (long long)r->first_id, (long long)r->last_id, intact ? "intact" : "NOT INTACT");
        for (size_t i = 0; i < r->nfindings; i++) {
            const struct relais_audit_finding *x = &r->findings[i];
            static const char *const why[] = {
                "modified: its content no longer matches its hash",
                "deleted",
                "inserted: the next row links over it",
                "reordered: it links to a row that comes after it",
                "broken: its link to the row before matches no row",
            };
            if (x->id_to != x->id)
                printf("  rows %lld..%lld: %s\n", (long long)x->id, (long long)x->id_to,
                       why[x->problem]);
            else
                printf("  row %lld: %s\n", (long long)x->id, why[x->problem]);
        }
        if (r->more) printf("  ... and %llu more\n", (unsigned long long)r->more);
        printf("head: row %lld, sha256 %s (keep it elsewhere: rows cut off at the end "
               "show only against it)\n",
               (long long)r->last_id, head);
        if (o->head) printf("against row %lld: %s\n", head_id, head_verdict);
    }
    free(r);
    return intact ? EXIT_OK : EXIT_TAMPERED;
}

static int cmd_devices(const struct opts *o, const char *sock, const char *db)
{
    json_t *arr = NULL;
    int rc = ask(sock, "devices", &arr);
    if (rc == RELAIS_ECONN) {
        struct relais_store *st;
        const struct relais_store_opts so = {.readonly = true};
        if ((rc = relais_store_open(&st, db, &so))) {
            fprintf(stderr, "relaisctl: cannot open the store %s: %s\n", db, relais_strerror(rc));
            return EXIT_ERROR;
        }
        arr = json_array();
        rc = relais_store_foreach_device(st, print_device, arr);
        relais_store_close(st);
    }
    if (rc || !json_is_array(arr)) {
        fprintf(stderr, "relaisctl: devices: %s\n", relais_strerror(rc ? rc : RELAIS_EPROTO));
        json_decref(arr);
        return EXIT_ERROR;
    }
    if (o->json) {
        json_dumpf(arr, stdout, JSON_INDENT(1));
        printf("\n");
    } else if (json_array_size(arr) == 0) {
        printf("(none)\n");
    } else {
        printf("%-20s %-12s %-16s %-24s %s\n", "device", "kind", "patient", "added", "state");
        size_t i;
        json_t *d;
        json_array_foreach(arr, i, d)
        {
            char t[40];
            iso_time((double)json_integer_value(json_object_get(d, "created_ms")) / 1000.0, t,
                     sizeof t);
            const char *patient = json_string_value(json_object_get(d, "patient"));
            printf("%-20s %-12s %-16s %-24s %s\n", json_string_value(json_object_get(d, "id")),
                   json_string_value(json_object_get(d, "kind")),
                   patient && patient[0] ? patient : "-", t,
                   json_is_true(json_object_get(d, "active")) ? "active" : "removed");
        }
    }
    json_decref(arr);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    struct opts o = {.limit = 50};
    struct option longopts[sizeof cli_options / sizeof cli_options[0]];
    char shortopts[64];
    size_t s = 0, i;
    for (i = 0; cli_options[i].lng; i++) {
        longopts[i].name = cli_options[i].lng;
        longopts[i].has_arg = cli_options[i].arg ? required_argument : no_argument;
        longopts[i].flag = NULL;
        longopts[i].val = cli_options[i].shrt;
        shortopts[s++] = (char)cli_options[i].shrt;
        if (cli_options[i].arg) shortopts[s++] = ':';
    }
    memset(&longopts[i], 0, sizeof longopts[i]);
    shortopts[s] = '\0';

    int c;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'c': o.config = optarg; break;
        case 's': o.socket = optarg; break;
        case 'd': o.db = optarg; break;
        case 'K': o.key_file = optarg; break;
        case 'H': o.head = optarg; break;
        case 'D': o.device = optarg; break;
        case 'm': o.metric = optarg; break;
        case 'f': o.flagged = true; break;
        case 'k': o.kind = optarg; break;
        case 'p': o.patient = optarg; break;
        case 'b': o.by = optarg; break;
        case 'a': o.all = true; break;
        case 'j': o.json = true; break;
        case 'n':
            o.limit = strtol(optarg, &end, 10);
            if (*end || end == optarg || o.limit < 0) {
                fprintf(stderr, "relaisctl: --limit: '%s' is not a count\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'V': printf("relaisctl %s\n", RELAIS_VERSION); return EXIT_OK;
        case 'h': usage(stdout); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind == argc) {
        fprintf(stderr, "relaisctl: no command\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[optind];
    bool is_device = strcmp(cmd, "device") == 0;
    int nargs = argc - optind;
    int known = is_device && nargs == 3 &&
                (strcmp(argv[optind + 1], "add") == 0 || strcmp(argv[optind + 1], "remove") == 0);
    bool is_audit = strcmp(cmd, "audit") == 0;
    known |= is_audit && nargs == 2 && strcmp(argv[optind + 1], "verify") == 0;
    bool is_key = strcmp(cmd, "key") == 0;
    known |= is_key && nargs == 2 && strcmp(argv[optind + 1], "rotate") == 0;
    bool is_uplink = strcmp(cmd, "uplink") == 0;
    known |= is_uplink && nargs == 2 && strcmp(argv[optind + 1], "csr") == 0;
    for (int k = 0; commands[k].name && !is_device && !is_audit && !is_key && !is_uplink; k++)
        known |= nargs == 1 && strcmp(cmd, commands[k].name) == 0;
    bool care = care_command_known(cmd, nargs - 1, argv + optind + 1);
    known |= care;
    if (!known) {
        fprintf(stderr, "relaisctl: unknown command or wrong arguments: '%s'\n", cmd);
        usage(stderr);
        return EXIT_USAGE;
    }
    char sock[4096], db[4096];
    int rc = resolve_paths(&o, sock, db, sizeof sock);
    if (rc) return rc;
    if (care) return care_command(&o, sock, db, cmd, nargs - 1, argv + optind + 1);
    if (is_audit) return cmd_audit_verify(&o, db);
    if (is_key) return cmd_key_rotate(&o, sock, db);
    if (is_uplink) return cmd_uplink_csr(&o, relaisctl_upstream_key, relaisctl_gateway);
    if (strcmp(cmd, "status") == 0) return cmd_status(&o, sock);
    if (strcmp(cmd, "devices") == 0) return cmd_devices(&o, sock, db);
    if (is_device && strcmp(argv[optind + 1], "add") == 0)
        return cmd_device_add(&o, sock, db, argv[optind + 2]);
    if (is_device) return cmd_device_remove(&o, sock, db, argv[optind + 2]);
    return cmd_walk(&o, db, cmd);
}
