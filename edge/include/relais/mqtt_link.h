/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One MQTT connection driven by relaisd's loop through libmosquitto's
 * external-loop API (mosquitto_socket, mosquitto_loop_read/write/misc,
 * mosquitto_want_write; never mosquitto_loop_start).  Reconnects forever with
 * capped exponential backoff and jitter.  Used for the gateway broker now and
 * the hospital broker later.
 *
 *   IDLE --start--> CONNECTING --CONNACK ok--> CONNECTED
 *                      |  ^                        |
 *       error, refused v  | backoff timer          | error, keepalive lost
 *                   WAITING <----------------------+
 *   any --stop--> STOPPED
 *
 *   start():        link_connect()      CONNECTING -> CONNECTED: on_connect()
 *   errors:         link_lost()         -> WAITING, timer armed from backoff
 *   backoff timer:  link_retry_cb()     WAITING -> CONNECTING
 */
#ifndef RELAIS_MQTT_LINK_H
#define RELAIS_MQTT_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relais/loop.h"

struct relais_mqtt_link;

/* A connection attempt without CONNACK for this long is abandoned (a broker
 * that accepted the TCP connection and then died, a TLS handshake that never
 * ends) and tried again after the backoff. */
#define RELAIS_MQTT_CONNECT_TIMEOUT_MS 10000

struct relais_mqtt_link_opts {
    const char *name; /* for logs: "local", "upstream" */
    const char *host;
    unsigned port;
    const char *client_id;
    bool clean_session;
    const char *username;      /* NULL: none */
    const char *password_file; /* NULL or "": none; first line is the password */
    unsigned keepalive_s;
    unsigned reconnect_min_ms, reconnect_max_ms;
    unsigned max_inflight; /* outgoing QoS 1/2 in flight */
    /* Route libmosquitto's own log into relais's.  It formats a line for
     * every packet before our level check can refuse it, which costs ~3 % of
     * relaisd's CPU at full ingest: the daemon routes it for the local broker
     * only at debug level (errors still come back as return codes). */
    bool library_log;
    /* TLS (NULL ca_file: plain TCP) */
    const char *ca_file, *cert_file, *key_file;
    /* last will (NULL topic: none) */
    const char *will_topic;
    const void *will_payload;
    size_t will_len;
    bool will_retain;
    /* A new libmosquitto client for every connection attempt: what the
     * previous one held unacknowledged is dropped with it, so the owner's
     * own bookkeeping of publishes in flight is the only one (the
     * forwarder resends from its outbox). */
    bool fresh_client;
    /* MQTT v5 instead of 3.1.1: messages then carry their properties (the
     * devices' record signatures).  A persistent session (clean_session
     * false) asks for a session that never expires, as 3.1.1 had.  The TCP
     * connect (and TLS handshake) then blocks: libmosquitto 2.0 sends v5
     * CONNECT properties only through mosquitto_connect_bind_v5, so it is for
     * the gateway's own broker, on the same host or LAN. */
    bool mqtt5;
};

struct relais_mqtt_msg {
    const char *topic;
    const void *payload;
    size_t len;
    int qos;
    bool retain;
    const void *props; /* const mosquitto_property *: v5 properties, NULL without */
};

/*
 * The user property name of msg (MQTT v5) into value (cap bytes,
 * NUL-terminated).  Returns the number of such properties (0: none, value "";
 * more than 1: value holds the first), or -1 when the first does not fit.
 */
int relais_mqtt_msg_user_property(const struct relais_mqtt_msg *msg, const char *name, char *value,
                                  size_t cap);

struct relais_mqtt_link_cbs {
    void (*connected_cb)(struct relais_mqtt_link *link, bool session_present, void *ud);
    void (*disconnected_cb)(struct relais_mqtt_link *link, void *ud);
    /* msg is borrowed for the call */
    void (*message_cb)(struct relais_mqtt_link *link, const struct relais_mqtt_msg *msg, void *ud);
    /* a QoS 1 publish was acknowledged by the broker (PUBACK) */
    void (*published_cb)(struct relais_mqtt_link *link, int mid, void *ud);
};

struct relais_mqtt_link_stats {
    bool connected;
    uint64_t connects, disconnects, connect_failures;
    uint64_t received, published, publish_failures;
    uint64_t unacked;       /* QoS 1 publishes waiting for PUBACK */
    int64_t state_since_ms; /* wall time of the last state change */
};

/* opts and cbs are copied (strings too); loop is borrowed. */
int relais_mqtt_link_create(struct relais_mqtt_link **out, struct relais_loop *loop,
                            const struct relais_mqtt_link_opts *opts,
                            const struct relais_mqtt_link_cbs *cbs, void *ud);
void relais_mqtt_link_destroy(struct relais_mqtt_link *link);

/* Starts connecting (errors are retried, never fatal). */
int relais_mqtt_link_start(struct relais_mqtt_link *link);
/* New options: disconnects and reconnects with them. */
int relais_mqtt_link_reconfigure(struct relais_mqtt_link *link,
                                 const struct relais_mqtt_link_opts *opts);

/* Publishes (queued while disconnected when qos > 0).  mid may be NULL. */
int relais_mqtt_link_publish(struct relais_mqtt_link *link, int *mid, const char *topic,
                             const void *payload, size_t len, int qos, bool retain);
int relais_mqtt_link_subscribe(struct relais_mqtt_link *link, const char *filter, int qos);
bool relais_mqtt_link_connected(const struct relais_mqtt_link *link);
/* Drops the connection now and reconnects after the backoff (a stalled
 * link).  why is logged. */
void relais_mqtt_link_drop(struct relais_mqtt_link *link, const char *why);
/* Turns the routing of libmosquitto's log on or off (see library_log). */
void relais_mqtt_link_set_library_log(struct relais_mqtt_link *link, bool on);
void relais_mqtt_link_get_stats(const struct relais_mqtt_link *link,
                                struct relais_mqtt_link_stats *out);

/* Shutdown: writes every queued publish to the socket (reading PUBACKs only
 * as far as the in-flight window needs), at most timeout_ms, then sends
 * DISCONNECT.  Messages arriving meanwhile are not handed to message_cb.
 * Blocks (the loop is no longer running). */
void relais_mqtt_link_shutdown(struct relais_mqtt_link *link, unsigned timeout_ms);

/* mosquitto_lib_init once per process (idempotent). */
void relais_mqtt_lib_init(void);

#endif
