/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Configuration: the key table, strict parsing with inih, reload merging and
 * the generated example file.
 *
 * inih (Debian's build: multi-line values on, 200-byte lines, no line number
 * passed to the handler) is fed through our own line reader, which counts
 * lines, rejects lines inih would silently split, and checks section headers
 * (an empty unknown section never reaches the handler).
 */
#include "relais/config.h"
#include "relais/error.h"
#include "relais/wire.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define OFF(field) offsetof(struct relais_config, field)
#define RL         RELAIS_CFG_RELOADABLE
#define REQ        RELAIS_CFG_REQUIRED

const struct relais_config_key relais_config_keys[] = {
    {"gateway", "id", RELAIS_CFG_ID, NULL, 0, 0, OFF(gateway_id), REQ, "gw-example",
     "Gateway id, [a-z0-9][a-z0-9-]{0,31}; names this gateway in the hospital topics."},
    {"gateway", "data_dir", RELAIS_CFG_PATH, "/var/lib/relais", 0, 0, OFF(data_dir), 0, NULL,
     "Directory of the store (relais.db) and the control socket; created 0700."},
    {"gateway", "log_level", RELAIS_CFG_LOG_LEVEL, "info", 0, 0, OFF(log_level), RL, NULL,
     "error, warn, notice, info or debug. Patient values appear at debug only."},

    {"local", "host", RELAIS_CFG_HOST, "127.0.0.1", 0, 0, OFF(local_host), RL, NULL,
     "The gateway broker (mosquitto from broker-config/)."},
    {"local", "port", RELAIS_CFG_UINT, "1883", 1, 65535, OFF(local_port), RL, NULL,
     "Its loopback listener."},
    {"local", "username", RELAIS_CFG_STRING, "relaisd", 0, 0, OFF(local_username), RL, NULL,
     "relaisd's user on the gateway broker; empty for none."},
    {"local", "password_file", RELAIS_CFG_PATH, "", 0, 0, OFF(local_password_file), RL, NULL,
     "File holding that user's password (first line); must not be readable by others."},
    {"local", "client_id", RELAIS_CFG_STRING, "", 0, 0, OFF(local_client_id), RL, NULL,
     "MQTT client id of the persistent session; empty means relaisd-{gateway id}."},
    {"local", "keepalive_s", RELAIS_CFG_UINT, "30", 5, 3600, OFF(local_keepalive_s), RL, NULL,
     "MQTT keepalive in seconds."},
    {"local", "reconnect_min_ms", RELAIS_CFG_UINT, "250", 10, 60000, OFF(local_reconnect_min_ms),
     RL, NULL, "First reconnect delay; doubles on each failure, with jitter."},
    {"local", "reconnect_max_ms", RELAIS_CFG_UINT, "30000", 100, 3600000,
     OFF(local_reconnect_max_ms), RL, NULL, "Cap of the reconnect delay. relaisd never gives up."},
    {"local", "max_inflight", RELAIS_CFG_UINT, "1000", 1, 65535, OFF(local_max_inflight), RL, NULL,
     "Acknowledgements in flight to the broker at once (QoS 1); more wait in memory."},
    {"local", "broker_passwd_file", RELAIS_CFG_PATH, "", 0, 0, OFF(local_broker_passwd_file), RL,
     NULL,
     "The broker's password file: relaisctl device add/remove write each device's entry "
     "there. Empty: relaisctl leaves it alone."},
    {"local", "broker_pid_file", RELAIS_CFG_PATH, "", 0, 0, OFF(local_broker_pid_file), RL, NULL,
     "mosquitto's pid file: relaisctl sends it SIGHUP to reload its password file. Empty: "
     "reload it yourself."},
    {"local", "broker_log_file", RELAIS_CFG_PATH, "", 0, 0, OFF(local_broker_log_file), 0, NULL,
     "mosquitto's log file: relaisd follows it and audits each refused connection (wrong "
     "password, failed TLS). Empty: refusals stay in mosquitto's log only."},

    {"coap", "bind", RELAIS_CFG_HOST, "0.0.0.0", 0, 0, OFF(coap_bind), 0, NULL,
     "Address of the CoAP server (DTLS). Plain CoAP always binds loopback."},
    {"coap", "port", RELAIS_CFG_UINT, "5683", 0, 65535, OFF(coap_port), 0, NULL,
     "Plain CoAP port (loopback, only with allow_plain); 0 disables it."},
    {"coap", "dtls_port", RELAIS_CFG_UINT, "5684", 0, 65535, OFF(coap_dtls_port), 0, NULL,
     "CoAP over DTLS-PSK port; 0 disables it."},
    {"coap", "allow_plain", RELAIS_CFG_BOOL, "false", 0, 0, OFF(coap_allow_plain), 0, NULL,
     "Serve plain CoAP on loopback (tests, local tools). Never on the home network."},
    {"coap", "max_sessions", RELAIS_CFG_UINT, "32", 1, 4096, OFF(coap_max_sessions), 0, NULL,
     "DTLS sessions at once; further handshakes are refused."},
    {"coap", "handshake_rate", RELAIS_CFG_UINT, "10", 1, 100000, OFF(coap_handshake_rate), 0, NULL,
     "New DTLS sessions per second (bursts of twice as many); more are refused."},
    {"coap", "request_rate", RELAIS_CFG_UINT, "20", 1, 1000000, OFF(coap_request_rate), 0, NULL,
     "Requests per second on one session (bursts of twice as many); more get 5.03."},
    {"coap", "max_transfers", RELAIS_CFG_UINT, "8", 1, 1024, OFF(coap_max_transfers), 0, NULL,
     "Block-wise uploads in progress at once (64 KiB of memory each at most)."},

    {"upstream", "host", RELAIS_CFG_HOST, "", 0, 0, OFF(upstream_host), RL, NULL,
     "The hospital broker; empty: no forwarding (readings stay in the store)."},
    {"upstream", "port", RELAIS_CFG_UINT, "8883", 1, 65535, OFF(upstream_port), RL, NULL,
     "Its port."},
    {"upstream", "tls", RELAIS_CFG_BOOL, "true", 0, 0, OFF(upstream_tls), RL, NULL,
     "TLS to the hospital broker. Only tests turn it off."},
    {"upstream", "ca_file", RELAIS_CFG_PATH, "", 0, 0, OFF(upstream_ca_file), RL, NULL,
     "The pinned CA (PEM) the hospital broker's certificate must chain to."},
    {"upstream", "cert_file", RELAIS_CFG_PATH, "", 0, 0, OFF(upstream_cert_file), RL, NULL,
     "Client certificate (PEM), when the hospital uses certificates."},
    {"upstream", "key_file", RELAIS_CFG_PATH, "", 0, 0, OFF(upstream_key_file), RL, NULL,
     "Its private key; must not be readable by others."},
    {"upstream", "username", RELAIS_CFG_STRING, "", 0, 0, OFF(upstream_username), RL, NULL,
     "Username, when the hospital uses passwords."},
    {"upstream", "password_file", RELAIS_CFG_PATH, "", 0, 0, OFF(upstream_password_file), RL, NULL,
     "File holding that password; must not be readable by others."},
    {"upstream", "client_id", RELAIS_CFG_STRING, "", 0, 0, OFF(upstream_client_id), RL, NULL,
     "MQTT client id of the persistent session; empty means the gateway id."},
    {"upstream", "keepalive_s", RELAIS_CFG_UINT, "60", 5, 3600, OFF(upstream_keepalive_s), RL, NULL,
     "MQTT keepalive in seconds."},
    {"upstream", "reconnect_min_ms", RELAIS_CFG_UINT, "1000", 10, 600000,
     OFF(upstream_reconnect_min_ms), RL, NULL,
     "First reconnect delay; doubles on each failure, with jitter."},
    {"upstream", "reconnect_max_ms", RELAIS_CFG_UINT, "60000", 100, 3600000,
     OFF(upstream_reconnect_max_ms), RL, NULL,
     "Cap of the reconnect delay. relaisd never gives up."},
    {"upstream", "window", RELAIS_CFG_UINT, "8", 2, 1024, OFF(upstream_window), RL, NULL,
     "Messages in flight to the hospital broker (waiting for PUBACK); the backlog never takes the "
     "last two, so an alert always finds room."},
    {"upstream", "bundle_max", RELAIS_CFG_UINT, "100", 1, 1000, OFF(upstream_bundle_max), RL, NULL,
     "Most outbox rows (packs) in one transaction Bundle."},
    {"upstream", "backlog_rate", RELAIS_CFG_UINT, "5000", 0, 1000000, OFF(upstream_backlog_rate),
     RL, NULL, "Backlog replay pace, in outbox rows per second; 0: as fast as PUBACKs come."},
    {"upstream", "status_interval_s", RELAIS_CFG_UINT, "60", 1, 86400,
     OFF(upstream_status_interval_s), RL, NULL,
     "Period of the retained status message (it is also sent on changes)."},
    {"upstream", "stall_s", RELAIS_CFG_UINT, "30", 1, 3600, OFF(upstream_stall_s), RL, NULL,
     "No PUBACK for this long while messages are in flight: the connection is dropped and made "
     "again."},
    {"upstream", "max_attempts", RELAIS_CFG_UINT, "10", 1, 1000000, OFF(upstream_max_attempts), RL,
     NULL, "Sends of one message that ended without PUBACK before it goes to the dead letters."},
    {"upstream", "max_message_kb", RELAIS_CFG_UINT, "256", 4, 65536, OFF(upstream_max_message_kb),
     RL, NULL, "Largest message to the hospital broker (its message_size_limit or less)."},

    {"store", "quota_mb", RELAIS_CFG_UINT, "1024", 1, 1048576, OFF(store_quota_mb), RL, NULL,
     "Size the store may reach (database and WAL). Above it devices are told busy."},
    {"store", "key_file", RELAIS_CFG_PATH, "", 0, 0, OFF(store_key_file), 0, NULL,
     "The key sealing patient data at rest (64 hex digits, mode 0600); empty: "
     "{data_dir}/store.key, made with a new store."},
    {"store", "commit_window_ms", RELAIS_CFG_UINT, "5", 0, 1000, OFF(store_commit_window_ms), RL,
     NULL, "Longest a pack waits for its group commit (and so for its ack)."},
    {"store", "commit_linger_us", RELAIS_CFG_UINT, "300", 0, 1000000, OFF(store_commit_linger_us),
     RL, NULL,
     "After a loop turn that brought packs, wait this many microseconds for more before committing "
     "(within commit_window_ms); 0: commit at once."},
    {"store", "commit_max_packs", RELAIS_CFG_UINT, "512", 1, 65536, OFF(store_commit_max_packs), RL,
     NULL, "Most packs in one group commit."},
    {"store", "retention_days", RELAIS_CFG_UINT, "30", 0, 3650, OFF(store_retention_days), RL, NULL,
     "Vitals forwarded to the hospital are pruned after this many days (0: kept). Dose records, "
     "alerts and the audit log are never pruned."},
    {"store", "downsample_min", RELAIS_CFG_UINT, "15", 1, 1440, OFF(store_downsample_min), RL, NULL,
     "Over quota, vitals not yet forwarded keep one reading per device, metric and this many "
     "minutes before the oldest are evicted."},
    {"store", "busy_retry_s", RELAIS_CFG_UINT, "30", 1, 3600, OFF(store_busy_retry_s), RL, NULL,
     "Seconds a device is told to wait when the store is busy."},

    {"careplan", "file", RELAIS_CFG_PATH, "", 0, 0, OFF(careplan_file), RL, NULL,
     "A local care plan (JSON) loaded at start and on SIGHUP; optional."},

    {"rules", "eval_delay_ms", RELAIS_CFG_UINT, "20", 0, 10000, OFF(rules_eval_delay_ms), RL, NULL,
     "Milliseconds the rules wait after a commit, to judge a burst of packs at once."},
    {"rules", "tick_max_s", RELAIS_CFG_UINT, "60", 1, 3600, OFF(rules_tick_max_s), RL, NULL,
     "Longest time between two runs of the rules (clock checks, timers)."},
    {"rules", "clock_jump_ms", RELAIS_CFG_UINT, "5000", 100, 3600000, OFF(rules_clock_jump_ms), RL,
     NULL, "A step of the wall clock larger than this is a clock jump: the timers move with it."},
    {"rules", "clock_check", RELAIS_CFG_BOOL, "true", 0, 0, OFF(rules_clock_check), RL, NULL,
     "Ask the kernel whether the clock is synchronised (NTP); the clock_not_synced rule."},
    {"rules", "renotify_max", RELAIS_CFG_UINT, "3", 0, 100, OFF(rules_renotify_max), RL, NULL,
     "Re-notifications of an unacknowledged MEDIUM or LOW alert (HIGH alerts never stop)."},

    {"control", "socket", RELAIS_CFG_PATH, "", 0, 0, OFF(control_socket), 0, NULL,
     "relaisctl's Unix socket (0600); empty means {data_dir}/relaisd.sock."},

    {NULL, NULL, 0, NULL, 0, 0, 0, 0, NULL, NULL},
};

static const char *const sections[] = {"gateway",  "local", "coap",    "upstream", "store",
                                       "careplan", "rules", "control", NULL};

/* ---- values ---- */

static char **str_field(struct relais_config *cfg, const struct relais_config_key *k)
{
    return (char **)(void *)((char *)cfg + k->offset);
}

static bool is_string_type(enum relais_config_type t)
{
    return t == RELAIS_CFG_STRING || t == RELAIS_CFG_ID || t == RELAIS_CFG_HOST ||
           t == RELAIS_CFG_PATH;
}

static int parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(v, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(v, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

static bool printable(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p == 0x7f) return false;
    return true;
}

static bool host_valid(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > 253) return false;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == ':' || c == '_'))
            return false;
    }
    return true;
}

/* Joins a relative path to dir; absolute paths and "" are copied. */
static char *resolve_path(const char *dir, const char *v)
{
    if (v[0] == '\0' || v[0] == '/' || !dir || !dir[0]) return strdup(v);
    size_t n = strlen(dir) + 1 + strlen(v) + 1;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, v);
    return p;
}

/* Sets key k of cfg from text v.  why receives a reason on error. */
static int set_value(struct relais_config *cfg, const struct relais_config_key *k, const char *v,
                     const char *dir, char *why, size_t whylen)
{
    void *field = (char *)cfg + k->offset;
    switch (k->type) {
    case RELAIS_CFG_UINT: {
        char *end;
        if (v[0] < '0' || v[0] > '9') {
            snprintf(why, whylen, "'%s' is not a number", v);
            return -1;
        }
        errno = 0;
        unsigned long long n = strtoull(v, &end, 10);
        if (errno || *end) {
            snprintf(why, whylen, "'%s' is not a number", v);
            return -1;
        }
        if (n < k->min || n > k->max) {
            snprintf(why, whylen, "%llu is out of range [%llu, %llu]", n,
                     (unsigned long long)k->min, (unsigned long long)k->max);
            return -1;
        }
        *(uint32_t *)field = (uint32_t)n;
        return 0;
    }
    case RELAIS_CFG_BOOL:
        if (parse_bool(v, (bool *)field) != 0) {
            snprintf(why, whylen, "'%s' is not a boolean (true or false)", v);
            return -1;
        }
        return 0;
    case RELAIS_CFG_LOG_LEVEL:
        if (relais_log_level_parse(v, (enum relais_log_level *)field) != 0) {
            snprintf(why, whylen, "'%s' is not a log level (error, warn, notice, info, debug)", v);
            return -1;
        }
        return 0;
    case RELAIS_CFG_ID:
        if (!relais_wire_id_valid(v, strlen(v))) {
            snprintf(why, whylen, "'%s' is not an id ([a-z0-9][a-z0-9-]{0,31})", v);
            return -1;
        }
        break;
    case RELAIS_CFG_HOST:
        /* an optional host (default "") may stay empty: the feature is off */
        if (!(v[0] == '\0' && k->def && k->def[0] == '\0') && !host_valid(v)) {
            snprintf(why, whylen, "'%s' is not a host name or address", v);
            return -1;
        }
        break;
    case RELAIS_CFG_STRING:
    case RELAIS_CFG_PATH:
        if (strlen(v) > 255 || !printable(v)) {
            snprintf(why, whylen, "value is longer than 255 bytes or has control characters");
            return -1;
        }
        break;
    }
    char **s = (char **)field;
    char *copy = k->type == RELAIS_CFG_PATH ? resolve_path(dir, v) : strdup(v);
    if (!copy) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    free(*s);
    *s = copy;
    return 0;
}

int relais_config_init_defaults(struct relais_config *cfg)
{
    char why[128];
    memset(cfg, 0, sizeof *cfg);
    for (const struct relais_config_key *k = relais_config_keys; k->key; k++) {
        if (!k->def) continue;
        if (set_value(cfg, k, k->def, NULL, why, sizeof why) != 0) {
            relais_config_cleanup(cfg);
            return RELAIS_ENOMEM;
        }
    }
    return RELAIS_OK;
}

void relais_config_cleanup(struct relais_config *cfg)
{
    for (const struct relais_config_key *k = relais_config_keys; k->key; k++) {
        if (is_string_type(k->type)) {
            char **s = str_field(cfg, k);
            free(*s);
            *s = NULL;
        }
    }
}

/* ---- parsing ---- */

#define MAX_KEYS 64

struct parse_ctx {
    struct relais_config *cfg;
    const char *path;
    char dir[4096];
    FILE *fp;
    int line;            /* line last handed to inih */
    bool seen[MAX_KEYS]; /* keys already set in this file */
    struct relais_config_error *err;
    bool failed;
};

static void fail(struct parse_ctx *pc, int line, const char *section, const char *key,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void fail(struct parse_ctx *pc, int line, const char *section, const char *key,
                 const char *fmt, ...)
{
    if (pc->failed && (line == 0 || pc->err->line == 0 || pc->err->line <= line))
        return; /* keep the first error */
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    char where[128] = "";
    if (section && key)
        snprintf(where, sizeof where, " [%s] %s:", section, key);
    else if (section)
        snprintf(where, sizeof where, " [%s]:", section);
    else if (key)
        snprintf(where, sizeof where, " %s:", key);
    if (line > 0)
        snprintf(pc->err->message, sizeof pc->err->message, "%s:%d:%s %s", pc->path, line, where,
                 why);
    else
        snprintf(pc->err->message, sizeof pc->err->message, "%s:%s %s", pc->path, where, why);
    pc->err->line = line;
    pc->failed = true;
}

static bool section_known(const char *s, size_t n)
{
    for (size_t i = 0; sections[i]; i++)
        if (strlen(sections[i]) == n && memcmp(sections[i], s, n) == 0) return true;
    return false;
}

/* inih's reader: fgets with line counting and checks inih cannot do. */
static char *reader(char *str, int num, void *stream)
{
    struct parse_ctx *pc = stream;
    long start = ftell(pc->fp);
    if (!fgets(str, num, pc->fp)) return NULL;
    pc->line++;
    size_t n = strlen(str);
    long end = ftell(pc->fp);
    if (start >= 0 && end >= start && (size_t)(end - start) != n) {
        /* fgets read past a NUL byte: the line would be cut silently */
        size_t got = (size_t)(end - start);
        fail(pc, pc->line, NULL, NULL, "NUL byte in the line");
        if (str[got - 1] != '\n') {
            int ch;
            while ((ch = fgetc(pc->fp)) != EOF && ch != '\n') {
            }
        }
        str[0] = '\0';
        return str;
    }
    if (n == (size_t)num - 1 && str[n - 1] != '\n' && !feof(pc->fp)) {
        fail(pc, pc->line, NULL, NULL, "line longer than %d bytes", num - 2);
        /* swallow the rest of the line so that inih does not parse it */
        int c;
        while ((c = fgetc(pc->fp)) != EOF && c != '\n') {
        }
        str[0] = '\0';
        return str;
    }
    /* inih skips a BOM on line 1 and leading whitespace before '[' */
    const char *h = str;
    if (pc->line == 1 && strncmp(h, "\xEF\xBB\xBF", 3) == 0) h += 3;
    while (*h == ' ' || *h == '\t')
        h++;
    if (h[0] == '[') {
        const char *close = strchr(h, ']');
        if (close && !section_known(h + 1, (size_t)(close - h - 1)))
            fail(pc, pc->line, NULL, NULL, "unknown section [%.*s]", (int)(close - h - 1), h + 1);
    }
    return str;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    struct parse_ctx *pc = user;
    size_t i = 0;
    const struct relais_config_key *k;
    for (k = relais_config_keys; k->key; k++, i++) {
        if (strcmp(k->section, section) == 0 && strcmp(k->key, name) == 0) break;
    }
    if (!section_known(section, strlen(section))) {
        if (section[0])
            fail(pc, pc->line, section, NULL, "unknown section");
        else
            fail(pc, pc->line, NULL, name, "key outside any section");
        return 0;
    }
    if (!k->key) {
        fail(pc, pc->line, section, name, "unknown key");
        return 0;
    }
    if (pc->seen[i]) {
        fail(pc, pc->line, section, name, "duplicate key (or a continuation line)");
        return 0;
    }
    pc->seen[i] = true;
    char why[256];
    if (set_value(pc->cfg, k, value, pc->dir, why, sizeof why) != 0) {
        fail(pc, pc->line, section, name, "%s", why);
        return 0;
    }
    return 1;
}

int relais_config_load(struct relais_config *cfg, const char *path, struct relais_config_error *err)
{
    struct parse_ctx pc;
    int rc = RELAIS_ECONFIG;

    memset(&pc, 0, sizeof pc);
    memset(err, 0, sizeof *err);
    pc.cfg = cfg;
    pc.path = path;
    pc.err = err;
    if (relais_config_init_defaults(cfg) != RELAIS_OK) {
        snprintf(err->message, sizeof err->message, "%s: out of memory", path);
        return RELAIS_ENOMEM;
    }
    const char *slash = strrchr(path, '/');
    if (slash) snprintf(pc.dir, sizeof pc.dir, "%.*s", (int)(slash - path), path);
    if (slash == path) snprintf(pc.dir, sizeof pc.dir, "/");

    pc.fp = fopen(path, "r");
    if (!pc.fp) {
        fail(&pc, 0, NULL, NULL, "cannot open: %s", strerror(errno));
        goto out;
    }
    /* whoever may write it may point relaisd at another broker, store or plan */
    struct stat st;
    if (fstat(fileno(pc.fp), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 022)) {
        fail(&pc, 0, NULL, NULL,
             "writable by group or others (mode %04o): refusing it; chmod go-w it",
             (unsigned)(st.st_mode & 07777));
        goto out;
    }
    int ir = ini_parse_stream(reader, &pc, handler, &pc);
    if (ir < 0) {
        fail(&pc, 0, NULL, NULL, "cannot parse (%s)", ir == -2 ? "out of memory" : "read error");
        goto out;
    }
    if (ir > 0) fail(&pc, ir, NULL, NULL, "expected 'key = value', '[section]' or a comment");
    if (ferror(pc.fp)) fail(&pc, 0, NULL, NULL, "read error");
    if (pc.failed) goto out;
    size_t i = 0;
    for (const struct relais_config_key *k = relais_config_keys; k->key; k++, i++) {
        if ((k->flags & RELAIS_CFG_REQUIRED) && !pc.seen[i]) {
            fail(&pc, 0, k->section, k->key, "required key missing");
            goto out;
        }
    }
    /* keys that only make sense together */
    if (cfg->upstream_host && cfg->upstream_host[0] && cfg->upstream_tls &&
        !(cfg->upstream_ca_file && cfg->upstream_ca_file[0])) {
        fail(&pc, 0, "upstream", "ca_file",
             "required with tls = true: the hospital broker's CA must be pinned");
        goto out;
    }
    if (cfg->upstream_cert_file && cfg->upstream_cert_file[0] &&
        !(cfg->upstream_key_file && cfg->upstream_key_file[0])) {
        fail(&pc, 0, "upstream", "key_file", "required with cert_file");
        goto out;
    }
    rc = RELAIS_OK;
out:
    if (pc.fp) fclose(pc.fp);
    if (rc != RELAIS_OK) relais_config_cleanup(cfg);
    return rc;
}

/* ---- reload ---- */

static bool key_differs(const struct relais_config *a, const struct relais_config *b,
                        const struct relais_config_key *k)
{
    const char *pa = (const char *)a + k->offset;
    const char *pb = (const char *)b + k->offset;
    if (is_string_type(k->type)) {
        const char *sa = *(char *const *)(const void *)pa;
        const char *sb = *(char *const *)(const void *)pb;
        return strcmp(sa ? sa : "", sb ? sb : "") != 0;
    }
    switch (k->type) {
    case RELAIS_CFG_UINT:
        return *(const uint32_t *)(const void *)pa != *(const uint32_t *)(const void *)pb;
    case RELAIS_CFG_BOOL: return *(const bool *)(const void *)pa != *(const bool *)(const void *)pb;
    case RELAIS_CFG_LOG_LEVEL:
        return *(const enum relais_log_level *)(const void *)pa !=
               *(const enum relais_log_level *)(const void *)pb;
    default: return false;
    }
}

int relais_config_merge_reload(const struct relais_config *cur, struct relais_config *next)
{
    int restart = 0;
    for (const struct relais_config_key *k = relais_config_keys; k->key; k++) {
        if ((k->flags & RELAIS_CFG_RELOADABLE) || !key_differs(cur, next, k)) continue;
        log_warn("config", "[%s] %s changed: takes effect at the next restart", k->section, k->key);
        restart++;
        char *pn = (char *)next + k->offset;
        const char *pc = (const char *)cur + k->offset;
        if (is_string_type(k->type)) {
            char **sn = (char **)(void *)pn;
            const char *sc = *(char *const *)(const void *)pc;
            char *copy = strdup(sc ? sc : "");
            if (copy) {
                free(*sn);
                *sn = copy;
            }
        } else if (k->type == RELAIS_CFG_UINT) {
            memcpy(pn, pc, sizeof(uint32_t));
        } else if (k->type == RELAIS_CFG_BOOL) {
            memcpy(pn, pc, sizeof(bool));
        } else {
            memcpy(pn, pc, sizeof(enum relais_log_level));
        }
    }
    return restart;
}

bool relais_config_section_changed(const struct relais_config *a, const struct relais_config *b,
                                   const char *section)
{
    for (const struct relais_config_key *k = relais_config_keys; k->key; k++)
        if (strcmp(k->section, section) == 0 && key_differs(a, b, k)) return true;
    return false;
}

/* ---- the example file ---- */

static const char *type_name(const struct relais_config_key *k)
{
    switch (k->type) {
    case RELAIS_CFG_STRING: return "text";
    case RELAIS_CFG_ID: return "id";
    case RELAIS_CFG_HOST: return "host";
    case RELAIS_CFG_PATH: return "path";
    case RELAIS_CFG_UINT: return "number";
    case RELAIS_CFG_BOOL: return "boolean";
    case RELAIS_CFG_LOG_LEVEL: return "log level";
    }
    return "?";
}

int relais_config_write_example(FILE *out)
{
    const char *section = NULL;
    fprintf(out, "# relaisd configuration.\n"
                 "# Generated from relaisd's key table (relaisd --config-example); a test keeps\n"
                 "# this file and the table in step. Every key is listed with its default:\n"
                 "# a line starting with ';' shows the default; remove the ';' to change it.\n"
                 "# Relative paths are relative to this file's directory.\n"
                 "# Unknown sections or keys, duplicates and bad values are errors\n"
                 "# (relaisd -c FILE --check names the file, line and key).\n");
    for (const struct relais_config_key *k = relais_config_keys; k->key; k++) {
        if (!section || strcmp(section, k->section) != 0) {
            section = k->section;
            fprintf(out, "\n[%s]\n", section);
        }
        fprintf(out, "# %s\n# (%s", k->help, type_name(k));
        if (k->type == RELAIS_CFG_UINT)
            fprintf(out, ", %llu..%llu", (unsigned long long)k->min, (unsigned long long)k->max);
        fprintf(out, "%s%s)\n", k->flags & RELAIS_CFG_REQUIRED ? ", required" : "",
                k->flags & RELAIS_CFG_RELOADABLE ? ", reloadable" : ", needs restart");
        if (k->flags & RELAIS_CFG_REQUIRED)
            fprintf(out, "%s = %s\n", k->key, k->example);
        else
            fprintf(out, ";%s =%s%s\n", k->key, k->def[0] ? " " : "", k->def);
    }
    return ferror(out) ? RELAIS_EIO : RELAIS_OK;
}
