/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An MQTT connection on relaisd's loop (state machine in relais/mqtt_link.h).
 *
 * libmosquitto owns the socket and may close it inside any loop_* call; after
 * every call into it, link_sync_fd() re-reads mosquitto_socket() and moves the
 * fd watcher, and sets write interest from mosquitto_want_write().
 */
#include "relais/mqtt_link.h"
#include "relais/backoff.h"
#include "relais/crypto.h"
#include "relais/error.h"
#include "relais/fsutil.h"
#include "relais/log.h"

#include <errno.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

enum link_state {
    LINK_IDLE = 0,
    LINK_CONNECTING,
    LINK_CONNECTED,
    LINK_WAITING,
    LINK_STOPPED,
};

static const char *const state_names[] = {"idle", "connecting", "connected", "waiting", "stopped"};

struct relais_mqtt_link {
    struct relais_loop *loop;
    struct mosquitto *mosq;
    struct relais_mqtt_link_opts opts; /* strings owned (copies) */
    struct relais_mqtt_link_cbs cbs;
    void *ud;
    enum link_state state;
    struct relais_io io;
    struct relais_timer retry_timer;
    struct relais_timer misc_timer;
    struct relais_hook hook;
    struct relais_backoff backoff;
    struct relais_mqtt_link_stats stats;
    char log_sub[24];
};

static bool lib_ready;

void relais_mqtt_lib_init(void)
{
    if (!lib_ready) {
        mosquitto_lib_init();
        lib_ready = true;
    }
}

/* ---- options ---- */

/* The link's copy of the options owns its strings, declared const in the
 * public struct. */
static void free_owned(const void *p)
{
    free((void *)(uintptr_t)p);
}

static void opts_free(struct relais_mqtt_link_opts *o)
{
    free_owned(o->name);
    free_owned(o->host);
    free_owned(o->client_id);
    free_owned(o->username);
    free_owned(o->password_file);
    free_owned(o->ca_file);
    free_owned(o->cert_file);
    free_owned(o->key_file);
    free_owned(o->will_topic);
    free_owned(o->will_payload);
    memset(o, 0, sizeof *o);
}

static char *dup_or_null(const char *s)
{
    return s && s[0] ? strdup(s) : NULL;
}

static int opts_copy(struct relais_mqtt_link_opts *dst, const struct relais_mqtt_link_opts *src)
{
    *dst = *src;
    dst->name = strdup(src->name ? src->name : "mqtt");
    dst->host = strdup(src->host ? src->host : "127.0.0.1");
    dst->client_id = dup_or_null(src->client_id);
    dst->username = dup_or_null(src->username);
    dst->password_file = dup_or_null(src->password_file);
    dst->ca_file = dup_or_null(src->ca_file);
    dst->cert_file = dup_or_null(src->cert_file);
    dst->key_file = dup_or_null(src->key_file);
    dst->will_topic = dup_or_null(src->will_topic);
    dst->will_payload = NULL;
    if (src->will_topic && src->will_len) {
        void *p = malloc(src->will_len);
        if (p) memcpy(p, src->will_payload, src->will_len);
        dst->will_payload = p;
    }
    if (!dst->name || !dst->host || (src->will_topic && src->will_len && !dst->will_payload)) {
        opts_free(dst);
        return RELAIS_ENOMEM;
    }
    return RELAIS_OK;
}

/* ---- fd and state ---- */

static void link_set_state(struct relais_mqtt_link *link, enum link_state st)
{
    if (link->state == st) return;
    log_debug(link->log_sub, "%s -> %s", state_names[link->state], state_names[st]);
    link->state = st;
    link->stats.connected = st == LINK_CONNECTED;
    link->stats.state_since_ms = relais_clock_wall_ms(relais_loop_clock(link->loop));
}

static void link_io_cb(struct relais_io *io, unsigned revents);

static void link_sync_fd(struct relais_mqtt_link *link)
{
    int fd = link->mosq ? mosquitto_socket(link->mosq) : -1;
    if (link->io.active && link->io.fd != fd) relais_loop_io_remove(link->loop, &link->io);
    if (fd < 0) return;
    unsigned ev = RELAIS_IO_READ | (mosquitto_want_write(link->mosq) ? RELAIS_IO_WRITE : 0);
    if (!link->io.active)
        relais_loop_io_add(link->loop, &link->io, fd, ev, link_io_cb);
    else
        relais_loop_io_update(link->loop, &link->io, ev);
}

static void link_schedule_retry(struct relais_mqtt_link *link)
{
    if (link->state == LINK_STOPPED) return;
    uint32_t delay = relais_backoff_next(&link->backoff);
    link_set_state(link, LINK_WAITING);
    relais_loop_timer_cancel(link->loop, &link->misc_timer);
    relais_loop_timer_arm(link->loop, &link->retry_timer, delay);
    log_info(link->log_sub, "reconnecting to %s:%u in %u ms", link->opts.host, link->opts.port,
             delay);
}

/* The connection is gone (error, refusal, keepalive): tidy up and retry. */
static void link_lost(struct relais_mqtt_link *link)
{
    bool was_connected = link->state == LINK_CONNECTED;
    link_sync_fd(link);
    if (link->state == LINK_STOPPED || link->state == LINK_WAITING) return;
    if (was_connected) {
        link->stats.disconnects++;
        if (link->cbs.disconnected_cb) link->cbs.disconnected_cb(link, link->ud);
    } else {
        link->stats.connect_failures++;
    }
    link_schedule_retry(link);
}

/* Maps the return code of a mosquitto_loop_* call. */
static void link_check(struct relais_mqtt_link *link, int rc, const char *what)
{
    if (rc == MOSQ_ERR_SUCCESS) {
        link_sync_fd(link);
        return;
    }
    if (rc == MOSQ_ERR_ERRNO)
        log_warn(link->log_sub, "%s: %s", what, strerror(errno));
    else if (rc != MOSQ_ERR_NO_CONN)
        log_warn(link->log_sub, "%s: %s", what, mosquitto_strerror(rc));
    link_lost(link);
}

/* Bytes waiting on the socket (plain TCP); TLS buffers are drained by
 * mosquitto_loop_read itself. */
static int pending_bytes(int fd)
{
    int n = 0;
    if (ioctl(fd, FIONREAD, &n) != 0) return 0;
    return n;
}

/* TCP_CORK while a batch of packets is written (the PUBACKs of what we
 * read, the acks of a commit): the kernel sends them in a few segments
 * instead of one per packet, which halves relaisd's CPU per pack on the
 * loopback link.  Uncorking pushes out what is queued at once. */
static void link_cork(struct relais_mqtt_link *link, int on)
{
    int fd = link->mosq ? mosquitto_socket(link->mosq) : -1;
    if (fd >= 0) (void)setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
}

static void link_io_batch(struct relais_mqtt_link *link, unsigned revents);

static void link_io_cb(struct relais_io *io, unsigned revents)
{
    struct relais_mqtt_link *link =
        (struct relais_mqtt_link *)((char *)io - offsetof(struct relais_mqtt_link, io));
    link_cork(link, 1);
    link_io_batch(link, revents);
    link_cork(link, 0);
}

/* The socket's pending error (a connection refused or reset while
 * libmosquitto waits for a TLS handshake that will never come). */
static int socket_error(int fd)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return 0;
    return err;
}

static void link_io_batch(struct relais_mqtt_link *link, unsigned revents)
{
    int rc = MOSQ_ERR_SUCCESS;
    /* libmosquitto 2.0 takes a refused or reset TLS connect for "handshake
     * in progress" (SSL_ERROR_SYSCALL): it would wait for ever while epoll
     * reports the hang-up at every turn */
    if ((revents & RELAIS_IO_ERROR) && link->state == LINK_CONNECTING) {
        int err = socket_error(mosquitto_socket(link->mosq));
        log_warn(link->log_sub, "connect to %s:%u: %s", link->opts.host, link->opts.port,
                 err ? strerror(err) : "connection refused or reset");
        link_lost(link);
        return;
    }
    if (revents & (RELAIS_IO_READ | RELAIS_IO_ERROR)) {
        /* read every whole packet waiting (bounded, so other fds get a turn);
         * what the callbacks queued (acks of a group commit that closed while
         * reading) is written as we go, not after the socket is drained */
        for (int i = 0; i < 256; i++) {
            rc = mosquitto_loop_read(link->mosq, 1);
            int fd = mosquitto_socket(link->mosq);
            if (rc != MOSQ_ERR_SUCCESS || fd < 0) break;
            if (mosquitto_want_write(link->mosq)) {
                rc = mosquitto_loop_write(link->mosq, 1);
                fd = mosquitto_socket(link->mosq);
                if (rc != MOSQ_ERR_SUCCESS || fd < 0) break;
            }
            if (pending_bytes(fd) == 0) break;
        }
        if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket(link->mosq) < 0) {
            link_check(link, rc ? rc : MOSQ_ERR_CONN_LOST, "read");
            return;
        }
    }
    if ((revents & RELAIS_IO_WRITE) || mosquitto_want_write(link->mosq)) {
        rc = mosquitto_loop_write(link->mosq, 1);
        if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket(link->mosq) < 0) {
            link_check(link, rc ? rc : MOSQ_ERR_CONN_LOST, "write");
            return;
        }
    }
    link_sync_fd(link);
}

/* End of each loop turn: write what callbacks queued (acks after a commit)
 * right away instead of waiting for the next epoll round. */
static void link_hook_cb(struct relais_hook *h)
{
    struct relais_mqtt_link *link =
        (struct relais_mqtt_link *)((char *)h - offsetof(struct relais_mqtt_link, hook));
    if (!link->mosq || mosquitto_socket(link->mosq) < 0 || !mosquitto_want_write(link->mosq))
        return;
    if (link->state != LINK_CONNECTED && link->state != LINK_CONNECTING) return;
    link_cork(link, 1);
    int rc = mosquitto_loop_write(link->mosq, 1);
    link_cork(link, 0);
    if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket(link->mosq) < 0)
        link_check(link, rc ? rc : MOSQ_ERR_CONN_LOST, "write");
    else
        link_sync_fd(link);
}

static void link_misc_cb(struct relais_timer *t)
{
    struct relais_mqtt_link *link =
        (struct relais_mqtt_link *)((char *)t - offsetof(struct relais_mqtt_link, misc_timer));
    if (link->state != LINK_CONNECTED && link->state != LINK_CONNECTING) return;
    if (link->state == LINK_CONNECTING &&
        relais_clock_wall_ms(relais_loop_clock(link->loop)) - link->stats.state_since_ms >
            RELAIS_MQTT_CONNECT_TIMEOUT_MS) {
        log_warn(link->log_sub, "connect to %s:%u: no CONNACK within %d s", link->opts.host,
                 link->opts.port, RELAIS_MQTT_CONNECT_TIMEOUT_MS / 1000);
        link_lost(link);
        return;
    }
    int rc = mosquitto_loop_misc(link->mosq);
    if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket(link->mosq) < 0) {
        link_check(link, rc ? rc : MOSQ_ERR_CONN_LOST, "keepalive");
        return;
    }
    link_sync_fd(link);
    relais_loop_timer_arm(link->loop, &link->misc_timer, 1000);
}

/* ---- libmosquitto callbacks ---- */

static void on_connect(struct mosquitto *mosq, void *obj, int rc, int flags)
{
    struct relais_mqtt_link *link = obj;
    (void)mosq;
    if (rc != 0) {
        log_error(link->log_sub, "%s:%u refused the connection: %s", link->opts.host,
                  link->opts.port, mosquitto_connack_string(rc));
        /* libmosquitto closes the socket after this callback; link_check retries */
        return;
    }
    bool session_present = (flags & 1) != 0;
    relais_backoff_reset(&link->backoff);
    link_set_state(link, LINK_CONNECTED);
    link->stats.connects++;
    log_notice(link->log_sub, "connected to %s:%u as %s (session %s)", link->opts.host,
               link->opts.port, link->opts.client_id ? link->opts.client_id : "(auto)",
               session_present ? "resumed" : "new");
    if (link->cbs.connected_cb) link->cbs.connected_cb(link, session_present, link->ud);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    struct relais_mqtt_link *link = obj;
    (void)mosq;
    if (link->state == LINK_STOPPED) return;
    if (link->state == LINK_CONNECTED)
        log_warn(link->log_sub, "connection to %s:%u lost: %s", link->opts.host, link->opts.port,
                 mosquitto_strerror(rc));
}

static void on_message_v5(struct mosquitto *mosq, void *obj, const struct mosquitto_message *m,
                          const mosquitto_property *props)
{
    struct relais_mqtt_link *link = obj;
    (void)mosq;
    link->stats.received++;
    if (!link->cbs.message_cb || link->state == LINK_STOPPED) {
        if (link->state == LINK_STOPPED)
            log_info(link->log_sub, "shutdown: %s not handled (its device will resend it)",
                     m->topic);
        return;
    }
    struct relais_mqtt_msg msg = {
        m->topic, m->payload, (size_t)(m->payloadlen > 0 ? m->payloadlen : 0),
        m->qos,   m->retain,  props};
    link->cbs.message_cb(link, &msg, link->ud);
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *m)
{
    on_message_v5(mosq, obj, m, NULL);
}

int relais_mqtt_msg_user_property(const struct relais_mqtt_msg *msg, const char *name, char *value,
                                  size_t cap)
{
    int n = 0, rc = 0;
    char *k = NULL, *v = NULL;
    if (cap) value[0] = '\0';
    const mosquitto_property *p = msg->props;
    for (p = p ? mosquitto_property_read_string_pair(p, MQTT_PROP_USER_PROPERTY, &k, &v, false)
               : NULL;
         p; p = mosquitto_property_read_string_pair(p, MQTT_PROP_USER_PROPERTY, &k, &v, true)) {
        if (strcmp(k, name) == 0 && n++ == 0) {
            size_t l = strlen(v);
            if (l < cap)
                memcpy(value, v, l + 1);
            else
                rc = -1;
        }
        free(k);
        free(v);
        k = v = NULL;
    }
    return rc ? rc : n;
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid)
{
    struct relais_mqtt_link *link = obj;
    (void)mosq;
    if (link->stats.unacked) link->stats.unacked--;
    if (link->cbs.published_cb) link->cbs.published_cb(link, mid, link->ud);
}

static void on_log(struct mosquitto *mosq, void *obj, int level, const char *str)
{
    struct relais_mqtt_link *link = obj;
    enum relais_log_level l;
    (void)mosq;
    if (level & MOSQ_LOG_ERR)
        l = RELAIS_LOG_ERROR;
    else if (level & MOSQ_LOG_WARNING)
        l = RELAIS_LOG_WARN;
    else if (level & MOSQ_LOG_NOTICE)
        l = RELAIS_LOG_NOTICE;
    else if (level & MOSQ_LOG_INFO)
        l = RELAIS_LOG_INFO;
    else
        l = RELAIS_LOG_DEBUG;
    relais_log(l, link->log_sub, "libmosquitto: %s", str);
}

/* ---- connecting ---- */

static int link_configure(struct relais_mqtt_link *link)
{
    const struct relais_mqtt_link_opts *o = &link->opts;
    int rc;
    if (link->mosq) mosquitto_destroy(link->mosq);
    link->mosq = mosquitto_new(o->client_id, o->clean_session, link);
    if (!link->mosq) {
        log_error(link->log_sub, "mosquitto_new: %s", strerror(errno));
        return errno == ENOMEM ? RELAIS_ENOMEM : RELAIS_EINVAL;
    }
    mosquitto_connect_with_flags_callback_set(link->mosq, on_connect);
    mosquitto_disconnect_callback_set(link->mosq, on_disconnect);
    if (o->mqtt5) {
        mosquitto_int_option(link->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
        mosquitto_message_v5_callback_set(link->mosq, on_message_v5);
    } else {
        mosquitto_message_callback_set(link->mosq, on_message);
    }
    mosquitto_publish_callback_set(link->mosq, on_publish);
    if (o->library_log) mosquitto_log_callback_set(link->mosq, on_log);
    mosquitto_int_option(link->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_int_option(link->mosq, MOSQ_OPT_SEND_MAXIMUM,
                         (int)(o->max_inflight ? o->max_inflight : 20));

    if (o->username || o->password_file) {
        char password[256];
        password[0] = '\0';
        if (o->password_file &&
            (rc = relais_secret_read(o->password_file, password, sizeof password)))
            return rc;
        rc = mosquitto_username_pw_set(link->mosq, o->username, o->password_file ? password : NULL);
        relais_zeroize(password, sizeof password);
        if (rc != MOSQ_ERR_SUCCESS) {
            log_error(link->log_sub, "username/password: %s", mosquitto_strerror(rc));
            return RELAIS_EINVAL;
        }
    }
    if (o->ca_file) {
        rc = mosquitto_tls_set(link->mosq, o->ca_file, NULL, o->cert_file, o->key_file, NULL);
        if (rc != MOSQ_ERR_SUCCESS) {
            log_error(link->log_sub, "TLS setup (ca %s): %s", o->ca_file, mosquitto_strerror(rc));
            return RELAIS_EINVAL;
        }
    }
    if (o->will_topic) {
        rc = mosquitto_will_set(link->mosq, o->will_topic, (int)o->will_len, o->will_payload, 1,
                                o->will_retain);
        if (rc != MOSQ_ERR_SUCCESS) {
            log_error(link->log_sub, "last will: %s", mosquitto_strerror(rc));
            return RELAIS_EINVAL;
        }
    }
    return RELAIS_OK;
}

static void link_connect(struct relais_mqtt_link *link)
{
    if (link->opts.fresh_client && link->stats.connects + link->stats.connect_failures > 0) {
        relais_loop_io_remove(link->loop, &link->io);
        link->stats.unacked = 0;
        if (link_configure(link)) {
            link_set_state(link, LINK_CONNECTING);
            link_lost(link);
            return;
        }
    }
    link_set_state(link, LINK_CONNECTING);
    /* connect_async (not reconnect_async) every time: it also works when the
     * previous attempt failed before libmosquitto recorded the host */
    int rc;
    if (link->opts.mqtt5) {
        /* v5: a persistent session must say how long it outlives the
         * connection (absent means 0, gone at disconnect); only the blocking
         * connect takes CONNECT properties */
        mosquitto_property *props = NULL;
        rc = link->opts.clean_session ? MOSQ_ERR_SUCCESS
                                      : mosquitto_property_add_int32(
                                            &props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, UINT32_MAX);
        if (rc == MOSQ_ERR_SUCCESS)
            rc = mosquitto_connect_bind_v5(link->mosq, link->opts.host, (int)link->opts.port,
                                           (int)link->opts.keepalive_s, NULL, props);
        mosquitto_property_free_all(&props);
    } else {
        rc = mosquitto_connect_async(link->mosq, link->opts.host, (int)link->opts.port,
                                     (int)link->opts.keepalive_s);
    }
    if (rc != MOSQ_ERR_SUCCESS) {
        log_warn(link->log_sub, "connect to %s:%u: %s", link->opts.host, link->opts.port,
                 rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
        link_lost(link);
        return;
    }
    link_sync_fd(link);
    relais_loop_timer_arm(link->loop, &link->misc_timer, 1000);
}

static void link_retry_cb(struct relais_timer *t)
{
    struct relais_mqtt_link *link =
        (struct relais_mqtt_link *)((char *)t - offsetof(struct relais_mqtt_link, retry_timer));
    if (link->state != LINK_WAITING) return;
    link_connect(link);
}

int relais_mqtt_link_create(struct relais_mqtt_link **out, struct relais_loop *loop,
                            const struct relais_mqtt_link_opts *opts,
                            const struct relais_mqtt_link_cbs *cbs, void *ud)
{
    relais_mqtt_lib_init();
    struct relais_mqtt_link *link = calloc(1, sizeof *link);
    if (!link) return RELAIS_ENOMEM;
    link->loop = loop;
    link->cbs = *cbs;
    link->ud = ud;
    link->io.fd = -1;
    relais_timer_init(&link->retry_timer, link_retry_cb);
    relais_timer_init(&link->misc_timer, link_misc_cb);
    int rc = opts_copy(&link->opts, opts);
    if (rc) {
        free(link);
        return rc;
    }
    snprintf(link->log_sub, sizeof link->log_sub, "mqtt.%s", link->opts.name);
    relais_backoff_init(&link->backoff, opts->reconnect_min_ms, opts->reconnect_max_ms, 0);
    relais_loop_hook_add(loop, &link->hook, link_hook_cb);
    if ((rc = link_configure(link))) {
        relais_mqtt_link_destroy(link);
        return rc;
    }
    *out = link;
    return RELAIS_OK;
}

void relais_mqtt_link_destroy(struct relais_mqtt_link *link)
{
    if (!link) return;
    link->state = LINK_STOPPED;
    relais_loop_timer_cancel(link->loop, &link->retry_timer);
    relais_loop_timer_cancel(link->loop, &link->misc_timer);
    relais_loop_io_remove(link->loop, &link->io);
    relais_loop_hook_remove(link->loop, &link->hook);
    if (link->mosq) mosquitto_destroy(link->mosq);
    opts_free(&link->opts);
    free(link);
}

int relais_mqtt_link_start(struct relais_mqtt_link *link)
{
    if (link->state != LINK_IDLE) return RELAIS_EINVAL;
    link_connect(link);
    return RELAIS_OK;
}

int relais_mqtt_link_reconfigure(struct relais_mqtt_link *link,
                                 const struct relais_mqtt_link_opts *opts)
{
    struct relais_mqtt_link_opts copy;
    int rc = opts_copy(&copy, opts);
    if (rc) return rc;
    if (link->mosq && link->state == LINK_CONNECTED) {
        mosquitto_disconnect(link->mosq);
        mosquitto_loop_write(link->mosq, 1);
    }
    relais_loop_io_remove(link->loop, &link->io);
    relais_loop_timer_cancel(link->loop, &link->retry_timer);
    relais_loop_timer_cancel(link->loop, &link->misc_timer);
    bool was_connected = link->state == LINK_CONNECTED;
    opts_free(&link->opts);
    link->opts = copy;
    relais_backoff_set_bounds(&link->backoff, opts->reconnect_min_ms, opts->reconnect_max_ms);
    relais_backoff_reset(&link->backoff);
    link->stats.unacked = 0; /* a new client: what the old one held is resent by the devices */
    link->state = LINK_IDLE;
    if (was_connected) {
        link->stats.disconnects++;
        if (link->cbs.disconnected_cb) link->cbs.disconnected_cb(link, link->ud);
    }
    if ((rc = link_configure(link))) {
        /* keep trying: a fixed password file or config comes with the next reload */
        link_set_state(link, LINK_WAITING);
        return rc;
    }
    log_notice(link->log_sub, "reconfigured: connecting to %s:%u", link->opts.host,
               link->opts.port);
    link_connect(link);
    return RELAIS_OK;
}

int relais_mqtt_link_publish(struct relais_mqtt_link *link, int *mid, const char *topic,
                             const void *payload, size_t len, int qos, bool retain)
{
    if (!link->mosq || len > INT32_MAX) return RELAIS_EINVAL;
    int rc = mosquitto_publish(link->mosq, mid, topic, (int)len, payload, qos, retain);
    if (rc == MOSQ_ERR_SUCCESS) {
        link->stats.published++;
        if (qos > 0) link->stats.unacked++;
        return RELAIS_OK;
    }
    link->stats.publish_failures++;
    log_warn(link->log_sub, "publish to %s: %s", topic, mosquitto_strerror(rc));
    if (rc == MOSQ_ERR_NOMEM) return RELAIS_ENOMEM;
    if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST) return RELAIS_ECONN;
    return RELAIS_EINVAL;
}

int relais_mqtt_link_subscribe(struct relais_mqtt_link *link, const char *filter, int qos)
{
    int rc = mosquitto_subscribe(link->mosq, NULL, filter, qos);
    if (rc != MOSQ_ERR_SUCCESS) {
        log_warn(link->log_sub, "subscribe %s: %s", filter, mosquitto_strerror(rc));
        return RELAIS_ECONN;
    }
    link_sync_fd(link);
    return RELAIS_OK;
}

void relais_mqtt_link_set_library_log(struct relais_mqtt_link *link, bool on)
{
    link->opts.library_log = on;
    if (link->mosq) mosquitto_log_callback_set(link->mosq, on ? on_log : NULL);
}

void relais_mqtt_link_drop(struct relais_mqtt_link *link, const char *why)
{
    if (link->state != LINK_CONNECTED && link->state != LINK_CONNECTING) return;
    log_warn(link->log_sub, "dropping the connection to %s:%u: %s", link->opts.host,
             link->opts.port, why);
    if (link->mosq) mosquitto_disconnect(link->mosq);
    link_lost(link);
}

bool relais_mqtt_link_connected(const struct relais_mqtt_link *link)
{
    return link->state == LINK_CONNECTED;
}

void relais_mqtt_link_get_stats(const struct relais_mqtt_link *link,
                                struct relais_mqtt_link_stats *out)
{
    *out = link->stats;
}

void relais_mqtt_link_shutdown(struct relais_mqtt_link *link, unsigned timeout_ms)
{
    const struct relais_clock *clock = relais_loop_clock(link->loop);
    uint64_t deadline = relais_clock_mono_ms(clock) + timeout_ms;
    bool was_connected = link->state == LINK_CONNECTED;
    /* from here on, messages still arriving are not handed to the owner:
     * nobody would commit or acknowledge them (their devices resend) */
    link->state = LINK_STOPPED;
    if (was_connected) {
        /* Everything queued must reach the socket.  QoS 1 publishes beyond
         * the in-flight window wait inside libmosquitto for PUBACKs, so read
         * while more are unacknowledged than the window holds.  Once written,
         * the broker handles them before our DISCONNECT: no need to wait for
         * the last PUBACKs. */
        unsigned window = link->opts.max_inflight ? link->opts.max_inflight : 20;
        while (mosquitto_want_write(link->mosq) || link->stats.unacked > window) {
            int fd = mosquitto_socket(link->mosq);
            uint64_t now = relais_clock_mono_ms(clock);
            if (fd < 0 || now >= deadline) break;
            struct pollfd pfd = {
                fd, (short)(POLLIN | (mosquitto_want_write(link->mosq) ? POLLOUT : 0)), 0};
            int n = poll(&pfd, 1, (int)(deadline - now));
            if (n < 0 && errno != EINTR) break;
            if (n <= 0) continue;
            int rc = MOSQ_ERR_SUCCESS;
            if (pfd.revents & (POLLIN | POLLERR | POLLHUP)) rc = mosquitto_loop_read(link->mosq, 1);
            if (rc == MOSQ_ERR_SUCCESS && (pfd.revents & POLLOUT))
                rc = mosquitto_loop_write(link->mosq, 1);
            if (rc != MOSQ_ERR_SUCCESS) break;
        }
        if (mosquitto_want_write(link->mosq) || link->stats.unacked > window)
            log_warn(link->log_sub, "shutdown: %llu publishes could not be written in time",
                     (unsigned long long)link->stats.unacked);
        mosquitto_disconnect(link->mosq);
        mosquitto_loop_write(link->mosq, 1);
    }
    relais_loop_timer_cancel(link->loop, &link->retry_timer);
    relais_loop_timer_cancel(link->loop, &link->misc_timer);
    relais_loop_io_remove(link->loop, &link->io);
}
