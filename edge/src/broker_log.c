/* SPDX-License-Identifier: Apache-2.0 */
/* The gateway broker's refusals from its log file (see relais/broker_log.h). */
#include "relais/broker_log.h"
#include "relais/error.h"
#include "relais/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Copies n bytes of s into out (cap), printable ASCII only. */
static void copy_field(char *out, size_t cap, const char *s, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n && w + 1 < cap; i++)
        if (s[i] >= 0x20 && s[i] < 0x7f) out[w++] = s[i];
    out[w] = '\0';
}

/* The text after "TIMESTAMP: " when the line has one. */
static const char *body_of(const char *line, size_t len, size_t *blen)
{
    size_t i = 0;
    while (i < len && line[i] >= '0' && line[i] <= '9')
        i++;
    if (i > 0 && i + 1 < len && line[i] == ':' && line[i + 1] == ' ')
        i += 2;
    else
        i = 0;
    *blen = len - i;
    return line + i;
}

static bool starts(const char *s, size_t len, const char *prefix, size_t *plen)
{
    *plen = strlen(prefix);
    return len >= *plen && memcmp(s, prefix, *plen) == 0;
}

static const char *find(const char *s, size_t len, const char *needle)
{
    return memmem(s, len, needle, strlen(needle));
}

/* OpenSSL's reason: what follows the last ':' (without a final '.'). */
static void ssl_reason(char *out, size_t cap, const char *s, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] == ':') start = i + 1;
    size_t end = len;
    if (end > start && s[end - 1] == '.') end--;
    char r[RELAIS_BROKER_REASON_MAX - 8];
    copy_field(r, sizeof r, s + start, end - start);
    snprintf(out, cap, "TLS: %s", r[0] ? r : "handshake failed");
}

bool relais_broker_log_line(struct relais_broker_log_parser *p, const char *line, size_t len,
                            struct relais_broker_refusal *out)
{
    size_t n, k;
    const char *b = body_of(line, len, &n);
    memset(out, 0, sizeof *out);
    if (starts(b, n, "New connection from ", &k)) {
        const char *on = find(b + k, n - k, " on port ");
        size_t plen = on ? (size_t)(on - (b + k)) : n - k;
        copy_field(p->peer, sizeof p->peer, b + k, plen);
        p->listener_port = 0;
        if (on) {
            int port = 0;
            for (const char *c = on + 9; c < b + n && *c >= '0' && *c <= '9' && port < 100000; c++)
                port = port * 10 + (*c - '0');
            p->listener_port = port < 65536 ? port : 0;
        }
        p->tls_reported = false;
        return false;
    }
    if (starts(b, n, "Client ", &k)) {
        const char *na = find(b + k, n - k, " disconnected, not authorised");
        if (na) {
            size_t idlen = (size_t)(na - (b + k));
            if (!(idlen == 9 && memcmp(b + k, "<unknown>", 9) == 0))
                copy_field(out->client, sizeof out->client, b + k, idlen);
            snprintf(out->peer, sizeof out->peer, "%s", p->peer[0] ? p->peer : "?");
            out->listener_port = p->listener_port;
            snprintf(out->reason, sizeof out->reason, "not authorised");
            return true;
        }
        if (starts(b, n, "Client connection from ", &k)) {
            const char *fail = find(b + k, n - k, " failed: ");
            if (!fail) return false;
            copy_field(out->peer, sizeof out->peer, b + k, (size_t)(fail - (b + k)));
            out->listener_port = p->listener_port;
            const char *r = fail + 9;
            ssl_reason(out->reason, sizeof out->reason, r, (size_t)(b + n - r));
            p->tls_reported = true;
            return true;
        }
        return false;
    }
    if (starts(b, n, "OpenSSL Error[", &k)) {
        if (p->tls_reported) return false; /* one report per connection */
        const char *r = find(b + k, n - k, "]: ");
        if (!r) return false;
        r += 3;
        snprintf(out->peer, sizeof out->peer, "%s", p->peer[0] ? p->peer : "?");
        out->listener_port = p->listener_port;
        ssl_reason(out->reason, sizeof out->reason, r, (size_t)(b + n - r));
        p->tls_reported = true;
        return true;
    }
    return false;
}

/* ---- following the file ---- */

struct relais_broker_log {
    char *path;
    int fd;
    dev_t dev;
    ino_t ino;
    off_t off;
    struct relais_broker_log_parser parser;
    char line[RELAIS_BROKER_LINE_MAX];
    size_t line_len;
    bool line_overlong; /* the current line is longer than the buffer: skipped */
};

static void reopen(struct relais_broker_log *bl, bool at_end)
{
    if (bl->fd >= 0) close(bl->fd);
    bl->fd = open(bl->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    bl->off = 0;
    bl->line_len = 0;
    bl->line_overlong = false;
    struct stat st;
    if (bl->fd < 0 || fstat(bl->fd, &st) != 0) return;
    bl->dev = st.st_dev;
    bl->ino = st.st_ino;
    if (at_end) bl->off = st.st_size;
}

int relais_broker_log_open(struct relais_broker_log **out, const char *path)
{
    struct relais_broker_log *bl = calloc(1, sizeof *bl);
    if (!bl) return RELAIS_ENOMEM;
    bl->path = strdup(path);
    if (!bl->path) {
        free(bl);
        return RELAIS_ENOMEM;
    }
    bl->fd = -1;
    reopen(bl, true);
    if (bl->fd < 0)
        log_warn("broker-log", "cannot open %s yet: %s (looked for again)", path, strerror(errno));
    *out = bl;
    return RELAIS_OK;
}

int relais_broker_log_poll(struct relais_broker_log *bl, size_t max_bytes,
                           void (*cb)(const struct relais_broker_refusal *r, void *ud), void *ud)
{
    struct stat st;
    /* rotated (another file at the path) or truncated: from its start */
    if (stat(bl->path, &st) == 0 && (bl->fd < 0 || st.st_ino != bl->ino || st.st_dev != bl->dev))
        reopen(bl, false);
    if (bl->fd < 0) return 0;
    if (fstat(bl->fd, &st) == 0 && st.st_size < bl->off) {
        bl->off = 0;
        bl->line_len = 0;
    }
    int found = 0;
    char buf[4096];
    while (max_bytes > 0) {
        size_t want = max_bytes < sizeof buf ? max_bytes : sizeof buf;
        ssize_t n = pread(bl->fd, buf, want, bl->off);
        if (n < 0) {
            if (errno == EINTR) continue;
            log_error("broker-log", "cannot read %s: %s", bl->path, strerror(errno));
            return RELAIS_EIO;
        }
        if (n == 0) break;
        bl->off += n;
        max_bytes -= (size_t)n;
        for (ssize_t i = 0; i < n; i++) {
            char c = buf[i];
            if (c != '\n') {
                if (bl->line_len < sizeof bl->line)
                    bl->line[bl->line_len++] = c;
                else
                    bl->line_overlong = true;
                continue;
            }
            struct relais_broker_refusal r;
            if (!bl->line_overlong &&
                relais_broker_log_line(&bl->parser, bl->line, bl->line_len, &r)) {
                found++;
                cb(&r, ud);
            }
            bl->line_len = 0;
            bl->line_overlong = false;
        }
    }
    return found;
}

void relais_broker_log_close(struct relais_broker_log *bl)
{
    if (!bl) return;
    if (bl->fd >= 0) close(bl->fd);
    free(bl->path);
    free(bl);
}
