/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The wire contract (DESIGN.md section 3): identifiers, topics, CoAP paths,
 * the acknowledgement body and the metric table.  Portable: no heap, no stdio.
 */
#include "relais/wire.h"

#include <string.h>

/* ---- small helpers ---- */

/* Appends s[0..n) to buf at *off; sets *off past cap on overflow. */
static void put(char *buf, size_t cap, size_t *off, const char *s, size_t n)
{
    if (*off + n < cap) memcpy(buf + *off, s, n);
    *off += n;
}

static void puts_(char *buf, size_t cap, size_t *off, const char *s)
{
    put(buf, cap, off, s, strlen(s));
}

static void put_u64(char *buf, size_t cap, size_t *off, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + (v % 10));
        v /= 10;
    } while (v);
    char out[20];
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    put(buf, cap, off, out, n);
}

/* Finishes a buffer: NUL-terminates and returns the length, or -1 when the
 * text did not fit (buf then holds an empty string). */
static int finish(char *buf, size_t cap, size_t off)
{
    if (cap == 0) return -1;
    if (off >= cap) {
        buf[0] = '\0';
        return -1;
    }
    buf[off] = '\0';
    return (int)off;
}

/* ---- identifiers ---- */

bool relais_wire_id_valid(const char *s, size_t len)
{
    if (len == 0 || len > RELAIS_WIRE_ID_MAX) return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i > 0 && c == '-');
        if (!ok) return false;
    }
    return true;
}

int relais_wire_seq_parse(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > 16) return -1;
    if (s[0] == '0' && len > 1) return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > RELAIS_WIRE_SEQ_MAX) return -1;
    *out = v;
    return 0;
}

/* ---- topics ---- */

static const char topic_dev[] = "relais/dev/";

int relais_wire_topic_up_parse(const char *topic, size_t len, char device[RELAIS_WIRE_ID_MAX + 1],
                               uint64_t *seq)
{
    const size_t plen = sizeof topic_dev - 1;
    if (len <= plen || memcmp(topic, topic_dev, plen) != 0) return -1;
    const char *p = topic + plen;
    const char *end = topic + len;
    const char *slash = memchr(p, '/', (size_t)(end - p));
    if (!slash || !relais_wire_id_valid(p, (size_t)(slash - p))) return -1;
    size_t idlen = (size_t)(slash - p);
    const char *rest = slash + 1;
    if ((size_t)(end - rest) < 4 || memcmp(rest, "up/", 3) != 0) return -1;
    rest += 3;
    if (relais_wire_seq_parse(rest, (size_t)(end - rest), seq) != 0) return -1;
    memcpy(device, p, idlen);
    device[idlen] = '\0';
    return 0;
}

static int topic_dev_tail(char *buf, size_t cap, const char *device, const char *tail,
                          bool with_seq, uint64_t seq)
{
    size_t off = 0;
    if (!relais_wire_id_valid(device, strlen(device))) return finish(buf, cap, cap);
    puts_(buf, cap, &off, topic_dev);
    puts_(buf, cap, &off, device);
    puts_(buf, cap, &off, tail);
    if (with_seq) put_u64(buf, cap, &off, seq);
    return finish(buf, cap, off);
}

int relais_wire_topic_up(char *buf, size_t cap, const char *device, uint64_t seq)
{
    return topic_dev_tail(buf, cap, device, "/up/", true, seq);
}

int relais_wire_topic_ack(char *buf, size_t cap, const char *device, uint64_t seq)
{
    return topic_dev_tail(buf, cap, device, "/ack/", true, seq);
}

int relais_wire_topic_cmd(char *buf, size_t cap, const char *device)
{
    return topic_dev_tail(buf, cap, device, "/cmd", false, 0);
}

/* ---- CoAP paths ---- */

int relais_wire_path_up_parse(const char *const segs[], const size_t seg_lens[], size_t nsegs,
                              char device[RELAIS_WIRE_ID_MAX + 1], uint64_t *seq)
{
    if (nsegs != 4) return -1;
    if (seg_lens[0] != 3 || memcmp(segs[0], "dev", 3) != 0) return -1;
    if (seg_lens[2] != 2 || memcmp(segs[2], "up", 2) != 0) return -1;
    if (!relais_wire_id_valid(segs[1], seg_lens[1])) return -1;
    if (relais_wire_seq_parse(segs[3], seg_lens[3], seq) != 0) return -1;
    memcpy(device, segs[1], seg_lens[1]);
    device[seg_lens[1]] = '\0';
    return 0;
}

int relais_wire_path_cmd_parse(const char *const segs[], const size_t seg_lens[], size_t nsegs,
                               char device[RELAIS_WIRE_ID_MAX + 1])
{
    if (nsegs != 3) return -1;
    if (seg_lens[0] != 3 || memcmp(segs[0], "dev", 3) != 0) return -1;
    if (seg_lens[2] != 3 || memcmp(segs[2], "cmd", 3) != 0) return -1;
    if (!relais_wire_id_valid(segs[1], seg_lens[1])) return -1;
    memcpy(device, segs[1], seg_lens[1]);
    device[seg_lens[1]] = '\0';
    return 0;
}

/* ---- record signatures ---- */

int relais_wire_sig_head(uint8_t *buf, size_t cap, const char *device, uint64_t seq)
{
    static const char ctx[] = RELAIS_WIRE_SIG_CONTEXT;
    char *b = (char *)buf;
    size_t off = 0;
    if (!buf || !device || !relais_wire_id_valid(device, strlen(device)) ||
        seq > RELAIS_WIRE_SEQ_MAX)
        return -1;
    put(b, cap, &off, ctx, sizeof ctx); /* the context and its 0 byte */
    puts_(b, cap, &off, device);
    put(b, cap, &off, "", 1);
    put_u64(b, cap, &off, seq);
    put(b, cap, &off, "", 1);
    /* put() writes only what fits below cap - 1: the whole head must fit */
    return off < cap ? (int)off : -1;
}

/* ---- acknowledgement ---- */

static const char *const ack_names[] = {"stored", "duplicate", "rejected", "busy"};

const char *relais_wire_ack_status_name(enum relais_wire_ack_status st)
{
    if ((unsigned)st < sizeof ack_names / sizeof ack_names[0]) return ack_names[st];
    return "?";
}

static void put_json_string(char *buf, size_t cap, size_t *off, const char *s, size_t maxlen)
{
    static const char hex[] = "0123456789abcdef";
    put(buf, cap, off, "\"", 1);
    for (size_t i = 0; i < maxlen && s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(buf, cap, off, e, 2);
        } else if (c < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put(buf, cap, off, e, 6);
        } else if (c >= 0x80) {
            put(buf, cap, off, "?", 1);
        } else {
            char e = (char)c;
            put(buf, cap, off, &e, 1);
        }
    }
    put(buf, cap, off, "\"", 1);
}

int relais_wire_ack_format(char *buf, size_t cap, const struct relais_wire_ack *ack)
{
    size_t off = 0;
    if ((unsigned)ack->status > RELAIS_WIRE_ACK_BUSY) return finish(buf, cap, cap);
    puts_(buf, cap, &off, "{\"seq\":");
    put_u64(buf, cap, &off, ack->seq);
    puts_(buf, cap, &off, ",\"status\":\"");
    puts_(buf, cap, &off, ack_names[ack->status]);
    puts_(buf, cap, &off, "\",\"records\":");
    put_u64(buf, cap, &off, ack->records);
    if ((ack->status == RELAIS_WIRE_ACK_REJECTED || ack->status == RELAIS_WIRE_ACK_BUSY) &&
        ack->error[0]) {
        puts_(buf, cap, &off, ",\"error\":");
        put_json_string(buf, cap, &off, ack->error, RELAIS_WIRE_ACK_ERROR_MAX);
    }
    if (ack->status == RELAIS_WIRE_ACK_BUSY && ack->retry_s) {
        puts_(buf, cap, &off, ",\"retry_s\":");
        put_u64(buf, cap, &off, ack->retry_s);
    }
    puts_(buf, cap, &off, "}");
    return finish(buf, cap, off);
}

/* A tiny strict scanner for the flat ack object. */
struct scan {
    const char *p, *end;
};

static void skip_ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool eat(struct scan *s, char c)
{
    skip_ws(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return true;
    }
    return false;
}

/* Reads a JSON string into out (capacity cap, truncating); returns false on
 * malformed input.  \uXXXX escapes outside ASCII are replaced by '?'. */
static bool scan_string(struct scan *s, char *out, size_t cap)
{
    size_t n = 0;
    if (!eat(s, '"')) return false;
    while (s->p < s->end) {
        char c = *s->p++;
        if (c == '"') {
            if (cap) out[n < cap ? n : cap - 1] = '\0';
            return true;
        }
        if ((unsigned char)c < 0x20) return false;
        if (c == '\\') {
            if (s->p >= s->end) return false;
            char e = *s->p++;
            switch (e) {
            case '"': c = '"'; break;
            case '\\': c = '\\'; break;
            case '/': c = '/'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u': {
                unsigned v = 0;
                if (s->end - s->p < 4) return false;
                for (int i = 0; i < 4; i++) {
                    char h = *s->p++;
                    v <<= 4;
                    if (h >= '0' && h <= '9')
                        v |= (unsigned)(h - '0');
                    else if (h >= 'a' && h <= 'f')
                        v |= (unsigned)(h - 'a' + 10);
                    else if (h >= 'A' && h <= 'F')
                        v |= (unsigned)(h - 'A' + 10);
                    else
                        return false;
                }
                c = (v > 0 && v < 0x80) ? (char)v : '?';
                break;
            }
            default: return false;
            }
        }
        if (cap && n + 1 < cap) out[n] = c;
        n++;
    }
    return false;
}

static bool scan_u64(struct scan *s, uint64_t *out)
{
    uint64_t v = 0;
    size_t digits = 0;
    skip_ws(s);
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
        if (digits == 0 && *s->p == '0' && s->p + 1 < s->end && s->p[1] >= '0' && s->p[1] <= '9')
            return false;
        if (v > (UINT64_MAX - 9) / 10) return false;
        v = v * 10 + (uint64_t)(*s->p - '0');
        s->p++;
        digits++;
    }
    if (digits == 0) return false;
    *out = v;
    return true;
}

/* Skips one scalar JSON value (string, number, true, false, null). */
static bool scan_skip_scalar(struct scan *s)
{
    skip_ws(s);
    if (s->p >= s->end) return false;
    if (*s->p == '"') {
        char dummy[1];
        return scan_string(s, dummy, 0);
    }
    const char *start = s->p;
    while (s->p < s->end && *s->p != ',' && *s->p != '}' && *s->p != ' ' && *s->p != '\n' &&
           *s->p != '\t' && *s->p != '\r') {
        char c = *s->p;
        bool ok = (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' ||
                  c == 'E' || (c >= 'a' && c <= 'z');
        if (!ok) return false;
        s->p++;
    }
    return s->p > start;
}

int relais_wire_ack_parse(const char *buf, size_t len, struct relais_wire_ack *out)
{
    struct scan s = {buf, buf + len};
    bool have_seq = false, have_status = false;
    memset(out, 0, sizeof *out);
    if (!eat(&s, '{')) return -1;
    if (eat(&s, '}')) return -1;
    do {
        char key[16];
        if (!scan_string(&s, key, sizeof key) || !eat(&s, ':')) return -1;
        uint64_t v;
        if (strcmp(key, "seq") == 0) {
            if (!scan_u64(&s, &out->seq) || out->seq > RELAIS_WIRE_SEQ_MAX) return -1;
            have_seq = true;
        } else if (strcmp(key, "status") == 0) {
            char st[16];
            if (!scan_string(&s, st, sizeof st)) return -1;
            size_t i;
            for (i = 0; i < sizeof ack_names / sizeof ack_names[0]; i++)
                if (strcmp(st, ack_names[i]) == 0) break;
            if (i == sizeof ack_names / sizeof ack_names[0]) return -1;
            out->status = (enum relais_wire_ack_status)i;
            have_status = true;
        } else if (strcmp(key, "records") == 0) {
            if (!scan_u64(&s, &v) || v > UINT32_MAX) return -1;
            out->records = (uint32_t)v;
        } else if (strcmp(key, "retry_s") == 0) {
            if (!scan_u64(&s, &v) || v > UINT32_MAX) return -1;
            out->retry_s = (uint32_t)v;
        } else if (strcmp(key, "error") == 0) {
            if (!scan_string(&s, out->error, sizeof out->error)) return -1;
        } else if (!scan_skip_scalar(&s)) {
            return -1;
        }
    } while (eat(&s, ','));
    if (!eat(&s, '}')) return -1;
    skip_ws(&s);
    if (s.p != s.end || !have_seq || !have_status) return -1;
    return 0;
}

/* ---- device commands ---- */

/* A string member of at most RELAIS_WIRE_CMD_TEXT_MAX bytes (longer: refused). */
static bool scan_text(struct scan *s, char out[RELAIS_WIRE_CMD_TEXT_MAX + 1])
{
    char tmp[RELAIS_WIRE_CMD_TEXT_MAX + 2];
    if (!scan_string(s, tmp, sizeof tmp)) return false;
    size_t n = strlen(tmp);
    if (n > RELAIS_WIRE_CMD_TEXT_MAX) return false;
    memcpy(out, tmp, n + 1);
    return true;
}

/* A time: whole seconds, optionally a fraction (kept to the ms); no sign, no
 * exponent. */
static bool scan_time_ms(struct scan *s, uint64_t *ms)
{
    uint64_t secs;
    if (!scan_u64(s, &secs) || secs > UINT64_MAX / 1000u) return false;
    uint64_t frac = 0;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        int n = 0;
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
            if (n < 3) frac = frac * 10u + (uint64_t)(*s->p - '0');
            n++;
            s->p++;
        }
        if (!n) return false;
        for (; n < 3; n++)
            frac *= 10u;
    }
    *ms = secs * 1000u + frac;
    return true;
}

int relais_wire_cmd_parse(const char *buf, size_t len, struct relais_wire_cmd *out)
{
    memset(out, 0, sizeof *out);
    if (!buf) return -1;
    struct scan s = {buf, buf + len};
    char cmd[16] = "";
    bool have_cmd = false, have_t = false;
    if (!eat(&s, '{')) return -1;
    if (eat(&s, '}')) return -1;
    do {
        char key[16];
        if (!scan_string(&s, key, sizeof key) || !eat(&s, ':')) return -1;
        if (strcmp(key, "cmd") == 0) {
            if (!scan_string(&s, cmd, sizeof cmd)) return -1;
            have_cmd = true;
        } else if (strcmp(key, "id") == 0) {
            if (!scan_u64(&s, &out->id) || out->id > RELAIS_WIRE_SEQ_MAX) return -1;
        } else if (strcmp(key, "t") == 0) {
            if (!scan_time_ms(&s, &out->t_ms)) return -1;
            have_t = true;
        } else if (strcmp(key, "slot") == 0) {
            if (!scan_text(&s, out->slot)) return -1;
        } else if (strcmp(key, "alert") == 0) {
            if (!scan_text(&s, out->alert)) return -1;
        } else if (!scan_skip_scalar(&s)) {
            return -1;
        }
    } while (eat(&s, ','));
    if (!eat(&s, '}')) return -1;
    skip_ws(&s);
    if (s.p != s.end || !have_cmd) return -1;
    if (strcmp(cmd, "time") == 0) {
        if (!have_t || out->t_ms == 0) return -1;
        out->kind = RELAIS_WIRE_CMD_TIME;
    } else if (strcmp(cmd, "remind") == 0) {
        if (!out->slot[0]) return -1;
        out->kind = RELAIS_WIRE_CMD_REMIND;
    } else if (strcmp(cmd, "call15") == 0) {
        out->kind = RELAIS_WIRE_CMD_CALL15;
    } else {
        out->kind = RELAIS_WIRE_CMD_OTHER;
    }
    return 0;
}

/* ---- metrics ---- */

static const struct relais_wire_unit u_cel[] = {{"Cel", 1.0}, {0, 0}};
static const struct relais_wire_unit u_pct[] = {{"%", 1.0}, {0, 0}};
static const struct relais_wire_unit u_rate[] = {{"beat/min", 1.0}, {"1/min", 1.0}, {0, 0}};
static const struct relais_wire_unit u_resp[] = {{"1/min", 1.0}, {0, 0}};
/* 1 mmHg = 133.322387415 Pa */
static const struct relais_wire_unit u_bp[] = {{"mmHg", 1.0}, {"Pa", 1.0 / 133.322387415}, {0, 0}};
static const struct relais_wire_unit u_kg[] = {{"kg", 1.0}, {0, 0}};
static const struct relais_wire_unit u_count[] = {{"count", 1.0}, {0, 0}};
static const struct relais_wire_unit u_el[] = {{"%EL", 1.0}, {0, 0}};
static const struct relais_wire_unit u_none[] = {{0, 0}};

/* Plausible ranges reject what no body or device can produce (a unit or
 * sensor error), not what is clinically alarming: those are the rules' job. */
static const struct relais_wire_metric metrics[] = {
    {"temp", RELAIS_WIRE_NUMBER, u_cel, 20.0, 46.0, false},
    {"spo2", RELAIS_WIRE_NUMBER, u_pct, 0.0, 100.0, false},
    {"hr", RELAIS_WIRE_NUMBER, u_rate, 0.0, 350.0, false},
    {"bp_sys", RELAIS_WIRE_NUMBER, u_bp, 0.0, 400.0, false},
    {"bp_dia", RELAIS_WIRE_NUMBER, u_bp, 0.0, 400.0, false},
    {"weight", RELAIS_WIRE_NUMBER, u_kg, 0.2, 650.0, false},
    {"resp", RELAIS_WIRE_NUMBER, u_resp, 0.0, 150.0, false},
    {"steps", RELAIS_WIRE_NUMBER, u_count, 0.0, 1000000.0, true},
    {"dose", RELAIS_WIRE_STRING, u_none, 0.0, 0.0, false},
    {"lid", RELAIS_WIRE_BOOL, u_none, 0.0, 0.0, false},
    {"pro_diarrhoea", RELAIS_WIRE_NUMBER, u_none, 0.0, 4.0, true},
    {"pro_nausea", RELAIS_WIRE_NUMBER, u_none, 0.0, 4.0, true},
    {"pro_hfs", RELAIS_WIRE_NUMBER, u_none, 0.0, 4.0, true},
    {"pro_fatigue", RELAIS_WIRE_NUMBER, u_none, 0.0, 4.0, true},
    {"pro_pain", RELAIS_WIRE_NUMBER, u_none, 0.0, 4.0, true},
    {"pro_mucositis", RELAIS_WIRE_NUMBER, u_none, 0.0, 4.0, true},
    {"battery", RELAIS_WIRE_NUMBER, u_el, 0.0, 100.0, false},
};

const struct relais_wire_metric *relais_wire_metric_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof metrics / sizeof metrics[0]; i++) {
        if (strlen(metrics[i].name) == len && memcmp(metrics[i].name, name, len) == 0)
            return &metrics[i];
    }
    return NULL;
}

const struct relais_wire_metric *relais_wire_metric_at(size_t i)
{
    return i < sizeof metrics / sizeof metrics[0] ? &metrics[i] : NULL;
}

/* ---- the ack in CBOR ---- */

static void cbor_put_head(uint8_t *buf, size_t cap, size_t *off, unsigned major, uint64_t v)
{
    uint8_t tmp[9];
    size_t n;
    uint8_t mt = (uint8_t)(major << 5);
    if (v < 24) {
        tmp[0] = (uint8_t)(mt | v);
        n = 1;
    } else if (v <= 0xff) {
        tmp[0] = mt | 24;
        tmp[1] = (uint8_t)v;
        n = 2;
    } else if (v <= 0xffff) {
        tmp[0] = mt | 25;
        tmp[1] = (uint8_t)(v >> 8);
        tmp[2] = (uint8_t)v;
        n = 3;
    } else if (v <= 0xffffffffu) {
        tmp[0] = mt | 26;
        for (int i = 0; i < 4; i++)
            tmp[1 + i] = (uint8_t)(v >> (24 - 8 * i));
        n = 5;
    } else {
        tmp[0] = mt | 27;
        for (int i = 0; i < 8; i++)
            tmp[1 + i] = (uint8_t)(v >> (56 - 8 * i));
        n = 9;
    }
    put((char *)buf, cap, off, (const char *)tmp, n);
}

static void cbor_put_text(uint8_t *buf, size_t cap, size_t *off, const char *s, size_t n)
{
    cbor_put_head(buf, cap, off, 3, n);
    put((char *)buf, cap, off, s, n);
}

int relais_wire_ack_format_cbor(uint8_t *buf, size_t cap, const struct relais_wire_ack *ack)
{
    size_t off = 0;
    if ((unsigned)ack->status > RELAIS_WIRE_ACK_BUSY) return -1;
    bool with_error =
        (ack->status == RELAIS_WIRE_ACK_REJECTED || ack->status == RELAIS_WIRE_ACK_BUSY) &&
        ack->error[0];
    bool with_retry = ack->status == RELAIS_WIRE_ACK_BUSY && ack->retry_s;
    cbor_put_head(buf, cap, &off, 5, 3u + with_error + with_retry);
    cbor_put_text(buf, cap, &off, "seq", 3);
    cbor_put_head(buf, cap, &off, 0, ack->seq);
    cbor_put_text(buf, cap, &off, "status", 6);
    const char *st = ack_names[ack->status];
    cbor_put_text(buf, cap, &off, st, strlen(st));
    cbor_put_text(buf, cap, &off, "records", 7);
    cbor_put_head(buf, cap, &off, 0, ack->records);
    if (with_error) {
        /* as in JSON: ASCII only, cut at RELAIS_WIRE_ACK_ERROR_MAX */
        char e[RELAIS_WIRE_ACK_ERROR_MAX];
        size_t n = 0;
        for (; n < sizeof e && ack->error[n]; n++) {
            unsigned char c = (unsigned char)ack->error[n];
            e[n] = c >= 0x80 ? '?' : (char)c;
        }
        cbor_put_text(buf, cap, &off, "error", 5);
        cbor_put_text(buf, cap, &off, e, n);
    }
    if (with_retry) {
        cbor_put_text(buf, cap, &off, "retry_s", 7);
        cbor_put_head(buf, cap, &off, 0, ack->retry_s);
    }
    /* put() copies only while one byte stays free (for the NUL of text) */
    return off < cap ? (int)off : -1;
}

/* One CBOR head: major type and argument (no indefinite lengths). */
static bool cbor_get_head(const uint8_t **p, const uint8_t *end, unsigned *major, uint64_t *v)
{
    if (*p >= end) return false;
    uint8_t ib = *(*p)++;
    unsigned ai = ib & 31u;
    *major = ib >> 5;
    if (ai < 24) {
        *v = ai;
        return true;
    }
    if (ai > 27) return false;
    size_t n = (size_t)1 << (ai - 24);
    if ((size_t)(end - *p) < n) return false;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++)
        x = (x << 8) | *(*p)++;
    *v = x;
    return true;
}

static bool cbor_get_text(const uint8_t **p, const uint8_t *end, const char **s, size_t *n)
{
    unsigned major;
    uint64_t len;
    if (!cbor_get_head(p, end, &major, &len) || major != 3 || len > (uint64_t)(end - *p))
        return false;
    *s = (const char *)*p;
    *n = (size_t)len;
    *p += len;
    return true;
}

int relais_wire_ack_parse_cbor(const uint8_t *buf, size_t len, struct relais_wire_ack *out)
{
    const uint8_t *p = buf, *end = buf + len;
    unsigned major;
    uint64_t npairs, v;
    bool have_seq = false, have_status = false;
    memset(out, 0, sizeof *out);
    if (!cbor_get_head(&p, end, &major, &npairs) || major != 5 || npairs > 16) return -1;
    for (uint64_t i = 0; i < npairs; i++) {
        const char *k, *s;
        size_t kn, sn;
        if (!cbor_get_text(&p, end, &k, &kn)) return -1;
        if (kn == 6 && memcmp(k, "status", 6) == 0) {
            if (!cbor_get_text(&p, end, &s, &sn)) return -1;
            size_t j;
            for (j = 0; j < sizeof ack_names / sizeof ack_names[0]; j++)
                if (strlen(ack_names[j]) == sn && memcmp(ack_names[j], s, sn) == 0) break;
            if (j == sizeof ack_names / sizeof ack_names[0]) return -1;
            out->status = (enum relais_wire_ack_status)j;
            have_status = true;
        } else if (kn == 5 && memcmp(k, "error", 5) == 0) {
            if (!cbor_get_text(&p, end, &s, &sn)) return -1;
            size_t n = sn < RELAIS_WIRE_ACK_ERROR_MAX ? sn : RELAIS_WIRE_ACK_ERROR_MAX;
            memcpy(out->error, s, n);
            out->error[n] = '\0';
        } else {
            const uint8_t *save = p;
            bool number = (kn == 3 && memcmp(k, "seq", 3) == 0) ||
                          (kn == 7 && memcmp(k, "records", 7) == 0) ||
                          (kn == 7 && memcmp(k, "retry_s", 7) == 0);
            if (!cbor_get_head(&p, end, &major, &v)) return -1;
            if (major == 3 && !number) { /* an unknown text member: skip it */
                p = save;
                if (!cbor_get_text(&p, end, &s, &sn)) return -1;
                continue;
            }
            if (major == 1 && !number) /* an unknown negative integer member */
                continue;
            if (major != 0) return -1;
            if (kn == 3 && memcmp(k, "seq", 3) == 0) {
                if (v > RELAIS_WIRE_SEQ_MAX) return -1;
                out->seq = v;
                have_seq = true;
            } else if (kn == 7 && memcmp(k, "records", 7) == 0) {
                if (v > UINT32_MAX) return -1;
                out->records = (uint32_t)v;
            } else if (kn == 7 && memcmp(k, "retry_s", 7) == 0) {
                if (v > UINT32_MAX) return -1;
                out->retry_s = (uint32_t)v;
            }
        }
    }
    if (p != end || !have_seq || !have_status) return -1;
    return 0;
}
