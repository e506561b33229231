/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a CoAP request means (DESIGN 3.4), independent of sessions and of
 * libcoap's I/O: the Uri-Path, the method, the content-format, Block1 and
 * Size1, and the assembly of a block-wise upload.  Everything here is driven
 * by tests/fuzz/fuzz_coap.c with raw PDUs.
 */
#include "coap_internal.h"
#include "relais/senml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Options relais understands in a request; any other critical option gets
 * 4.02 (RFC 7252 5.4.1).  Elective ones are ignored. */
static bool option_known(uint16_t num)
{
    switch (num) {
    case COAP_OPTION_URI_HOST:
    case COAP_OPTION_URI_PORT:
    case COAP_OPTION_URI_PATH:
    case COAP_OPTION_URI_QUERY:
    case COAP_OPTION_CONTENT_FORMAT:
    case COAP_OPTION_ACCEPT:
    case COAP_OPTION_BLOCK1:
    case COAP_OPTION_BLOCK2:
    case COAP_OPTION_SIZE1:
    case COAP_OPTION_SIZE2:
    case COAP_OPTION_RTAG: return true;
    default: return false;
    }
}

static int fail(char *why, size_t cap, int code, const char *msg)
{
    snprintf(why, cap, "%s", msg);
    return code;
}

int coap__read_request(const coap_pdu_t *pdu, struct coap_req *req, char *why, size_t cap)
{
    coap_opt_iterator_t it;
    coap_opt_t *opt;
    const uint8_t *seg[COAP_MAX_SEGMENTS];
    size_t seglen[COAP_MAX_SEGMENTS];
    size_t nseg = 0;
    bool too_many = false;
    const uint8_t *query = NULL;
    size_t query_len = 0, nquery = 0;

    memset(req, 0, sizeof *req);
    req->format = -1;
    req->method = coap_pdu_get_code(pdu);
    why[0] = '\0';

    coap_option_iterator_init(pdu, &it, COAP_OPT_ALL);
    while ((opt = coap_option_next(&it))) {
        uint16_t num = it.number;
        const uint8_t *v = coap_opt_value(opt);
        uint32_t l = coap_opt_length(opt);
        if (num == COAP_OPTION_URI_PATH) {
            if (nseg < COAP_MAX_SEGMENTS) {
                seg[nseg] = v;
                seglen[nseg] = l;
                nseg++;
            } else {
                too_many = true;
            }
        } else if (num == COAP_OPTION_URI_QUERY) {
            query = v;
            query_len = l;
            nquery++;
        } else if (num == COAP_OPTION_CONTENT_FORMAT) {
            if (req->has_cf)
                return fail(why, cap, COAP_RESPONSE_CODE_BAD_OPTION, "Content-Format twice");
            req->has_cf = true;
            req->cf = coap_decode_var_bytes(v, l);
        } else if (num == COAP_OPTION_SIZE1) {
            req->has_size1 = true;
            req->size1 = coap_decode_var_bytes8(v, l);
        } else if (num == RELAIS_WIRE_COAP_OPTION_SIG) {
            /* elective: read here, judged by ingest (a bad one rejects the
             * pack with a final ack, not a 4.02) */
            req->sig = v;
            req->sig_len = l;
            req->nsig++;
        } else if ((num & 1) && !option_known(num)) {
            char m[64];
            snprintf(m, sizeof m, "critical option %u not supported", num);
            return fail(why, cap, COAP_RESPONSE_CODE_BAD_OPTION, m);
        }
    }

    /* .well-known/core */
    if (nseg == 2 && seglen[0] == 11 && memcmp(seg[0], ".well-known", 11) == 0 && seglen[1] == 4 &&
        memcmp(seg[1], "core", 4) == 0) {
        req->path_is_wkc = true;
        return 0;
    }
    if (!too_many) {
        const char *s[COAP_MAX_SEGMENTS];
        for (size_t i = 0; i < nseg; i++)
            s[i] = (const char *)seg[i];
        req->path_is_up = relais_wire_path_up_parse(s, seglen, nseg, req->device, &req->seq) == 0;
        req->path_is_cmd =
            !req->path_is_up && relais_wire_path_cmd_parse(s, seglen, nseg, req->device) == 0;
    }
    /* GET dev/{device}/cmd[?after=N]: the device's pending commands */
    if (req->path_is_cmd) {
        if (req->method != COAP_REQUEST_CODE_GET)
            return fail(why, cap, COAP_RESPONSE_CODE_NOT_ALLOWED,
                        "a command resource takes GET only");
        if (nquery > 1 || (nquery == 1 && (query_len < 7 || memcmp(query, "after=", 6) != 0 ||
                                           relais_wire_seq_parse((const char *)query + 6,
                                                                 query_len - 6, &req->after))))
            return fail(why, cap, COAP_RESPONSE_CODE_BAD_REQUEST,
                        "the only query a command resource takes is after={last command id}");
        return 0;
    }
    if (!req->path_is_up)
        return fail(why, cap, COAP_RESPONSE_CODE_NOT_FOUND,
                    "no such resource: packs go to /dev/{device}/up/{seq}");
    if (req->method != COAP_REQUEST_CODE_POST)
        return fail(why, cap, COAP_RESPONSE_CODE_NOT_ALLOWED, "an uplink resource takes POST only");

    if (req->has_cf) {
        switch (req->cf) {
        case RELAIS_CF_SENML_JSON:
        case RELAIS_CF_JSON: req->format = RELAIS_SENML_JSON; break;
        case RELAIS_CF_SENML_CBOR:
        case RELAIS_CF_CBOR: req->format = RELAIS_SENML_CBOR; break;
        default: {
            char m[96];
            snprintf(m, sizeof m, "content-format %u: use 110 (senml+json) or 112 (senml+cbor)",
                     req->cf);
            return fail(why, cap, COAP_RESPONSE_CODE_UNSUPPORTED_CONTENT_FORMAT, m);
        }
        }
    }
    if (req->has_size1 && req->size1 > RELAIS_SENML_MAX_BYTES)
        return fail(why, cap, COAP_RESPONSE_CODE_REQUEST_TOO_LARGE,
                    "Size1 over the 65536-byte pack limit");

    /* coap_get_block() answers 0 for SZX 7 when it has no session (BERT is
     * for reliable transports): look at the option itself first */
    coap_opt_iterator_t bit;
    coap_opt_t *block1 = coap_check_option(pdu, COAP_OPTION_BLOCK1, &bit);
    if (block1) {
        coap_block_t b;
        if (COAP_OPT_BLOCK_SZX(block1) == 7)
            return fail(why, cap, COAP_RESPONSE_CODE_BAD_REQUEST,
                        "Block1 size 7 (BERT) is for reliable transports only");
        if (!coap_get_block(pdu, COAP_OPTION_BLOCK1, &b))
            return fail(why, cap, COAP_RESPONSE_CODE_BAD_REQUEST, "malformed Block1");
        req->has_block1 = true;
        req->block1 = b;
    }
    size_t len = 0;
    const uint8_t *data = NULL;
    if (!coap_get_data(pdu, &len, &data)) len = 0;
    req->payload = data;
    req->len = len;
    if (len > RELAIS_SENML_MAX_BYTES)
        return fail(why, cap, COAP_RESPONSE_CODE_REQUEST_TOO_LARGE, "pack over 65536 bytes");
    return 0;
}

void coap__transfer_end(struct coap_transfer *t)
{
    free(t->buf);
    memset(t, 0, sizeof *t);
}

static enum coap_block_verdict block_fail(struct coap_transfer *t, int *code, int c, char *why,
                                          size_t cap, const char *msg)
{
    coap__transfer_end(t);
    *code = c;
    snprintf(why, cap, "%s", msg);
    return COAP_BLOCK_ERROR;
}

enum coap_block_verdict coap__transfer_add(struct coap_transfer *t, const struct coap_req *req,
                                           uint64_t now_ms, int *code, char *why, size_t cap)
{
    const coap_block_t *b = &req->block1;
    size_t size = (size_t)16 << b->szx;

    if (b->num == 0) {
        /* a (re)start: whatever was assembled for this pack before is dropped */
        uint8_t *buf = t->buf ? t->buf : malloc(RELAIS_SENML_MAX_BYTES);
        if (!buf)
            return block_fail(t, code, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE, why, cap,
                              "out of memory");
        memset(t, 0, sizeof *t);
        t->used = true;
        t->buf = buf;
        snprintf(t->device, sizeof t->device, "%s", req->device);
        t->seq = req->seq;
        t->format = req->format;
        t->szx = b->szx;
    } else if (!t->used || strcmp(t->device, req->device) != 0 || t->seq != req->seq) {
        return block_fail(t, code, COAP_RESPONSE_CODE_INCOMPLETE, why, cap,
                          "block out of order: start again at block 0");
    } else if (b->szx > t->szx) {
        return block_fail(t, code, COAP_RESPONSE_CODE_BAD_REQUEST, why, cap,
                          "block size grew during the transfer");
    } else {
        if (b->szx < t->szx) {
            /* the client took a smaller size (RFC 7959 2.5): the next block
             * is numbered in the new size */
            size_t old = (size_t)16 << t->szx;
            t->next_num = (uint32_t)(t->next_num * (old / size));
            t->szx = b->szx;
        }
        if (b->num != t->next_num)
            return block_fail(t, code, COAP_RESPONSE_CODE_INCOMPLETE, why, cap,
                              "block out of order: start again at block 0");
    }
    size_t offset = (size_t)b->num * size;
    if (offset != t->len)
        return block_fail(t, code, COAP_RESPONSE_CODE_INCOMPLETE, why, cap,
                          "block does not follow the previous one");
    if (b->m && req->len != size)
        return block_fail(t, code, COAP_RESPONSE_CODE_BAD_REQUEST, why, cap,
                          "a block before the last must fill its size");
    if (req->len > size)
        return block_fail(t, code, COAP_RESPONSE_CODE_BAD_REQUEST, why, cap,
                          "block payload larger than its size");
    if (t->len + req->len > RELAIS_SENML_MAX_BYTES)
        return block_fail(t, code, COAP_RESPONSE_CODE_REQUEST_TOO_LARGE, why, cap,
                          "pack over 65536 bytes");
    if (req->len) memcpy(t->buf + t->len, req->payload, req->len);
    t->len += req->len;
    if (req->sig) {
        /* any block may carry the signature; the last one that does counts */
        t->has_sig = true;
        t->sig_bad = req->nsig != 1 || req->sig_len != RELAIS_WIRE_SIG_LEN;
        if (!t->sig_bad) memcpy(t->sig, req->sig, RELAIS_WIRE_SIG_LEN);
    }
    t->next_num = b->num + 1;
    t->last_ms = now_ms;
    return b->m ? COAP_BLOCK_CONTINUE : COAP_BLOCK_COMPLETE;
}
