/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of the CoAP server shared by coap_server.c (libcoap glue) and
 * coap_request.c (what a request means, and block-wise assembly), which the
 * CoAP fuzz harness drives directly with raw PDUs.
 */
#ifndef RELAIS_COAP_INTERNAL_H
#define RELAIS_COAP_INTERNAL_H

#include <coap3/coap.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relais/wire.h"

#define COAP_MAX_SEGMENTS 8

/* What a request asks, read from its PDU; no session needed. */
struct coap_req {
    coap_pdu_code_t method;
    /* Uri-Path: dev/{device}/up/{seq} */
    bool path_is_up;  /* the path has that shape and parses */
    bool path_is_wkc; /* .well-known/core */
    bool path_is_cmd; /* dev/{device}/cmd: a device polling for its commands (GET) */
    uint64_t after;   /* cmd: Uri-Query after=N, the last command id the device has */
    char device[RELAIS_WIRE_ID_MAX + 1];
    uint64_t seq;
    /* body */
    int format; /* enum relais_senml_format, or -1: by the first byte */
    bool has_cf;
    unsigned cf;
    bool has_block1;
    coap_block_t block1;
    bool has_size1;
    uint64_t size1;
    const uint8_t *payload; /* borrowed from the PDU */
    size_t len;
    /* Relais-Signature (option RELAIS_WIRE_COAP_OPTION_SIG), borrowed from
     * the PDU: sig NULL when absent; nsig > 1 when carried more than once */
    const uint8_t *sig;
    size_t sig_len;
    unsigned nsig;
};

/*
 * Reads a request.  Returns 0 when it may go on (to block-wise assembly or
 * ingest), else the CoAP response code to answer with, and why receives the
 * diagnostic payload: 4.04 (no such path), 4.05 (a method other than POST on
 * an uplink path), 4.15 (content-format), 4.02 (a critical option relais
 * does not know), 4.13 (Size1 over the pack limit), 4.00 (malformed Block1).
 */
int coap__read_request(const coap_pdu_t *pdu, struct coap_req *req, char *why, size_t cap);

/* One block-wise upload (RFC 7959 Block1) being assembled.  Blocks come in
 * order; the body never grows beyond RELAIS_SENML_MAX_BYTES. */
struct coap_transfer {
    bool used;
    char device[RELAIS_WIRE_ID_MAX + 1];
    uint64_t seq;
    int format;
    unsigned szx;
    uint32_t next_num;
    uint8_t *buf; /* RELAIS_SENML_MAX_BYTES, allocated when the transfer starts */
    size_t len;
    uint64_t last_ms;
    /* the Relais-Signature of the last block that carried one */
    bool has_sig;
    bool sig_bad; /* of the wrong length or carried twice in one block */
    uint8_t sig[RELAIS_WIRE_SIG_LEN];
};

enum coap_block_verdict {
    COAP_BLOCK_CONTINUE = 0, /* stored: answer 2.31 Continue */
    COAP_BLOCK_COMPLETE,     /* the last block: t->buf[0..len) is the body */
    COAP_BLOCK_ERROR,        /* answer *code with why; the transfer is over */
};

/* Adds req's block to t (started by block 0; t->buf allocated then).
 * Returns the verdict; on COAP_BLOCK_ERROR, *code and why say what to answer. */
enum coap_block_verdict coap__transfer_add(struct coap_transfer *t, const struct coap_req *req,
                                           uint64_t now_ms, int *code, char *why, size_t cap);
void coap__transfer_end(struct coap_transfer *t);

#endif
