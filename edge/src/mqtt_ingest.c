/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MQTT ingest: the gateway broker's uplink topics into relais/ingest.  The
 * link speaks MQTT v5 so that a pack's record signature arrives with it, as
 * the user property relais-sig (64 lower-case hex digits).
 */
#include "relais/mqtt_ingest.h"
#include "relais/crypto.h"
#include "relais/error.h"
#include "relais/log.h"
#include "relais/wire.h"

#include <stdlib.h>
#include <string.h>

struct relais_mqtt_ingest {
    struct relais_mqtt_link *link;
    struct relais_ingest *ing;
    relais_mqtt_ingest_published_cb published_cb;
    void *published_ud;
};

static void on_connected(struct relais_mqtt_link *link, bool session_present, void *ud)
{
    struct relais_mqtt_ingest *mi = ud;
    (void)session_present;
    /* always (re)subscribe: harmless with a resumed session, needed with a new one */
    relais_mqtt_link_subscribe(link, RELAIS_WIRE_TOPIC_UP_FILTER, 1);
    if (mi->published_cb) mi->published_cb(mi->published_ud, -1);
}

static void on_published(struct relais_mqtt_link *link, int mid, void *ud)
{
    struct relais_mqtt_ingest *mi = ud;
    (void)link;
    if (mi->published_cb) mi->published_cb(mi->published_ud, mid);
}

void relais_mqtt_ingest_set_published_cb(struct relais_mqtt_ingest *mi,
                                         relais_mqtt_ingest_published_cb cb, void *ud)
{
    mi->published_cb = cb;
    mi->published_ud = ud;
}

int relais_mqtt_ingest_send_command(struct relais_mqtt_ingest *mi, const char *device,
                                    const char *body, int *mid)
{
    char topic[RELAIS_WIRE_TOPIC_MAX];
    if (relais_wire_topic_cmd(topic, sizeof topic, device) < 0) return RELAIS_EINVAL;
    return relais_mqtt_link_publish(mi->link, mid, topic, body, strlen(body), 1, false);
}

static void send_ack(void *ud, const char *device, const struct relais_wire_ack *ack,
                     const void *token, size_t token_len)
{
    struct relais_mqtt_ingest *mi = ud;
    char topic[RELAIS_WIRE_TOPIC_MAX];
    char body[RELAIS_WIRE_ACK_MAX];
    (void)token;
    (void)token_len;
    int tl = relais_wire_topic_ack(topic, sizeof topic, device, ack->seq);
    int bl = relais_wire_ack_format(body, sizeof body, ack);
    if (tl < 0 || bl < 0) {
        log_error("mqtt", "cannot format the ack of %s/%llu", device, (unsigned long long)ack->seq);
        return;
    }
    /* a failed publish loses only the ack: the device resends, gets "duplicate" */
    relais_mqtt_link_publish(mi->link, NULL, topic, body, (size_t)bl, 1, false);
}

static void on_message(struct relais_mqtt_link *link, const struct relais_mqtt_msg *msg, void *ud)
{
    struct relais_mqtt_ingest *mi = ud;
    char device[RELAIS_WIRE_ID_MAX + 1];
    uint64_t seq;
    (void)link;
    if (relais_wire_topic_up_parse(msg->topic, strlen(msg->topic), device, &seq) != 0) {
        relais_ingest_unroutable(mi->ing, RELAIS_TRANSPORT_MQTT, msg->topic, msg->len);
        return;
    }
    /* the record signature: 64 lower-case hex digits, once */
    char hex[2 * RELAIS_WIRE_SIG_LEN + 2];
    uint8_t sig[RELAIS_WIRE_SIG_LEN];
    const char *malformed = NULL;
    bool has_sig = false;
    int n = relais_mqtt_msg_user_property(msg, RELAIS_WIRE_MQTT_SIG_PROPERTY, hex, sizeof hex);
    if (n > 1) {
        malformed = "the user property relais-sig is carried twice";
    } else if (n == 1 || n < 0) {
        bool lower = true;
        for (const char *c = hex; *c; c++)
            lower = lower && !(*c >= 'A' && *c <= 'F');
        if (n < 0 || strlen(hex) != 2 * RELAIS_WIRE_SIG_LEN || !lower ||
            relais_unhex(hex, sig, sizeof sig) != 0)
            malformed = "the user property relais-sig is not 64 lower-case hex digits";
        else
            has_sig = true;
    }
    struct relais_ingest_input in = {
        .transport = RELAIS_TRANSPORT_MQTT,
        .device = device,
        .seq = seq,
        .body = msg->payload,
        .len = msg->len,
        .format = -1,
        .reply_cb = send_ack,
        .reply_ud = mi,
        .sig = has_sig ? sig : NULL,
        .sig_len = has_sig ? sizeof sig : 0,
        .sig_malformed = malformed,
    };
    relais_ingest_submit(mi->ing, &in);
}

int relais_mqtt_ingest_create(struct relais_mqtt_ingest **out, struct relais_loop *loop,
                              struct relais_ingest *ing, const struct relais_mqtt_link_opts *opts)
{
    struct relais_mqtt_ingest *mi = calloc(1, sizeof *mi);
    if (!mi) return RELAIS_ENOMEM;
    mi->ing = ing;
    const struct relais_mqtt_link_cbs cbs = {
        .connected_cb = on_connected,
        .message_cb = on_message,
        .published_cb = on_published,
    };
    int rc = relais_mqtt_link_create(&mi->link, loop, opts, &cbs, mi);
    if (rc) {
        free(mi);
        return rc;
    }
    *out = mi;
    return RELAIS_OK;
}

int relais_mqtt_ingest_start(struct relais_mqtt_ingest *mi)
{
    return relais_mqtt_link_start(mi->link);
}

int relais_mqtt_ingest_reconfigure(struct relais_mqtt_ingest *mi,
                                   const struct relais_mqtt_link_opts *opts)
{
    /* acks of the open batch go out on the old connection first */
    relais_ingest_flush(mi->ing);
    return relais_mqtt_link_reconfigure(mi->link, opts);
}

void relais_mqtt_ingest_shutdown(struct relais_mqtt_ingest *mi, unsigned timeout_ms)
{
    relais_mqtt_link_shutdown(mi->link, timeout_ms);
}

void relais_mqtt_ingest_destroy(struct relais_mqtt_ingest *mi)
{
    if (!mi) return;
    relais_mqtt_link_destroy(mi->link);
    free(mi);
}

struct relais_mqtt_link *relais_mqtt_ingest_link(const struct relais_mqtt_ingest *mi)
{
    return mi->link;
}
