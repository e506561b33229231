/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MQTT ingest (DESIGN.md 3.3): a persistent session on the gateway broker
 * (fixed client id, clean session off), subscribed to relais/dev/+/up/+ at
 * QoS 1.  Each pack goes to relais/ingest; its ack is published at QoS 1 on
 * relais/dev/{device}/ack/{seq} once the group commit holding it is done.
 * The device id comes from the topic, which the broker's ACL binds to the
 * device's own username.
 */
#ifndef RELAIS_MQTT_INGEST_H
#define RELAIS_MQTT_INGEST_H

#include "relais/ingest.h"
#include "relais/mqtt_link.h"

struct relais_mqtt_ingest;

/* loop and ing are borrowed; opts copied. */
int relais_mqtt_ingest_create(struct relais_mqtt_ingest **out, struct relais_loop *loop,
                              struct relais_ingest *ing, const struct relais_mqtt_link_opts *opts);
int relais_mqtt_ingest_start(struct relais_mqtt_ingest *mi);
int relais_mqtt_ingest_reconfigure(struct relais_mqtt_ingest *mi,
                                   const struct relais_mqtt_link_opts *opts);
/* Sends the acks still queued (bounded by timeout_ms) and disconnects. */
void relais_mqtt_ingest_shutdown(struct relais_mqtt_ingest *mi, unsigned timeout_ms);
void relais_mqtt_ingest_destroy(struct relais_mqtt_ingest *mi);
struct relais_mqtt_link *relais_mqtt_ingest_link(const struct relais_mqtt_ingest *mi);

/* A command for a device on relais/dev/{device}/cmd (QoS 1); *mid names it
 * in the published callback (the broker's PUBACK). */
int relais_mqtt_ingest_send_command(struct relais_mqtt_ingest *mi, const char *device,
                                    const char *body, int *mid);
typedef void (*relais_mqtt_ingest_published_cb)(void *ud, int mid);
/* Also called when the link (re)connects, with mid -1: what was in flight
 * may have to be sent again. */
void relais_mqtt_ingest_set_published_cb(struct relais_mqtt_ingest *mi,
                                         relais_mqtt_ingest_published_cb cb, void *ud);

#endif
