/* SPDX-License-Identifier: Apache-2.0 */
/*
 * relaisd's CoAP server (DESIGN 3.4): POST /dev/{device}/up/{seq} with a
 * SenML body, over DTLS-PSK (identity = device id, one key per device from
 * the registry) and, only when allowed, plain CoAP on loopback.  Same decoding,
 * store and acknowledgement semantics as MQTT: a pack is answered after the
 * group commit that holds it, with a separate response (empty ACK first).
 *
 *   2.04 stored | duplicate, with the ack body (JSON or CBOR like the request)
 *   4.00 rejected (diagnostic: "reason: detail")   4.01 no or unknown identity
 *   4.03 identity is not {device}                  4.04 no such resource
 *   4.05 not POST                                  4.13 over 64 KiB
 *   4.15 unsupported content-format                5.03 busy (Max-Age)
 *
 * libcoap runs inside relaisd's loop: coap_context_get_coap_fd() is watched,
 * coap_io_process(ctx, COAP_IO_NO_WAIT) runs when it is readable, and
 * libcoap's next timeout is a loop timer.  libcoap's log goes to relais's.
 */
#ifndef RELAIS_COAP_SERVER_H
#define RELAIS_COAP_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "relais/ingest.h"
#include "relais/loop.h"
#include "relais/registry.h"

struct relais_coap_server;

/* A device polls for its commands (GET dev/{device}/cmd?after=N, the
 * transport of commands for devices without an MQTT session, such as the pill
 * box): the commands up to id `after` are delivered (the device has them);
 * writes the next pending one (a JSON object with its "id") into body and
 * returns its length, 0 when there is none, or a negative relais error. */
typedef int (*relais_coap_cmd_cb)(void *ud, const char *device, uint64_t after, char *body,
                                  size_t cap);

struct relais_coap_opts {
    const char *bind;          /* address of the DTLS endpoint */
    unsigned dtls_port;        /* 0: no DTLS endpoint */
    unsigned port;             /* plain CoAP, on loopback only */
    bool allow_plain;          /* plain CoAP at all */
    unsigned max_sessions;     /* DTLS sessions at once */
    unsigned handshake_rate;   /* new DTLS sessions per second (burst: twice) */
    unsigned request_rate;     /* requests per second per session (burst: twice) */
    unsigned max_transfers;    /* block-wise uploads in progress */
    relais_coap_cmd_cb cmd_cb; /* NULL: GET dev/{device}/cmd answers 4.04 */
    void *cmd_ud;
};

struct relais_coap_stats {
    uint64_t requests;
    uint64_t answered[6]; /* 2.04, 4.00, 4.01, 4.03, 4.0x other, 5.03 */
    uint64_t continues;   /* 2.31 of block-wise uploads */
    uint64_t rate_limited;
    uint64_t handshakes_refused;
    uint64_t forbidden;
    uint64_t sessions; /* DTLS sessions established now */
    uint64_t sessions_total;
    uint64_t lost_answers; /* the session went before its pack was committed */
    uint64_t transfers;    /* block-wise uploads in progress */
    uint64_t cmd_polls;    /* GET dev/{device}/cmd answered */
    uint64_t cmds_given;   /* commands in those answers */
};

/* loop, ing and reg are borrowed for the server's lifetime. */
int relais_coap_server_create(struct relais_coap_server **out, struct relais_loop *loop,
                              struct relais_ingest *ing, struct relais_registry *reg,
                              const struct relais_coap_opts *opts);
void relais_coap_server_destroy(struct relais_coap_server *srv);
/* Closes every session of that device (after its removal). */
void relais_coap_server_close_device(struct relais_coap_server *srv, const char *id);
void relais_coap_server_get_stats(const struct relais_coap_server *srv,
                                  struct relais_coap_stats *out);

#endif
