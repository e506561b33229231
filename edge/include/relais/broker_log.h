/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gateway broker's refusals, for relaisd's audit trail: mosquitto logs
 * a refused connection (wrong or missing password, a TLS handshake that
 * fails) only in its own log, without the user name.  relaisd follows that
 * log file ([local] broker_log_file), reads what was appended since the last
 * poll (bounded), and reports each refusal with the peer address and the
 * listener port from the "New connection" line before it.
 *
 * Lines understood (mosquitto 2.0, log_timestamp on or off):
 *   New connection from ADDR:PORT on port LPORT.
 *   Client ID disconnected, not authorised.
 *   Client connection from ADDR failed: error:...:REASON.
 *   OpenSSL Error[N]: error:...:REASON
 * Everything else is ignored.  The log is hostile text: lines are bounded,
 * fields copied with their lengths checked, control characters dropped.
 */
#ifndef RELAIS_BROKER_LOG_H
#define RELAIS_BROKER_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RELAIS_BROKER_PEER_MAX   64
#define RELAIS_BROKER_REASON_MAX 96
#define RELAIS_BROKER_LINE_MAX   1024

struct relais_broker_refusal {
    char peer[RELAIS_BROKER_PEER_MAX];     /* "ADDR:PORT", or "ADDR", or "?" */
    char client[RELAIS_BROKER_PEER_MAX];   /* the client id, "" when unknown */
    char reason[RELAIS_BROKER_REASON_MAX]; /* "not authorised", "TLS: unknown ca"... */
    int listener_port;                     /* 0 when unknown */
};

/* Parser state: the last "New connection" seen. */
struct relais_broker_log_parser {
    char peer[RELAIS_BROKER_PEER_MAX];
    int listener_port;
    bool tls_reported; /* this connection's TLS failure was reported already */
};

/* One line (without its newline).  Returns true and fills out when the line
 * is a refusal. */
bool relais_broker_log_line(struct relais_broker_log_parser *p, const char *line, size_t len,
                            struct relais_broker_refusal *out);

struct relais_broker_log;

/* Opens path and starts at its end (what was logged before relaisd started
 * is not reported again).  A missing file is not an error: it is looked for
 * at every poll. */
int relais_broker_log_open(struct relais_broker_log **out, const char *path);
/* Reads at most max_bytes appended since the last poll (a rotated or
 * truncated file is followed from its start) and calls cb for each refusal.
 * Returns the number of refusals, or an error. */
int relais_broker_log_poll(struct relais_broker_log *bl, size_t max_bytes,
                           void (*cb)(const struct relais_broker_refusal *r, void *ud), void *ud);
void relais_broker_log_close(struct relais_broker_log *bl);

#endif
