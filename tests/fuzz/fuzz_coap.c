/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for CoAP requests (edge/src/coap_request.c, DESIGN 3.4).
 * Each input is one CoAP-over-UDP PDU in raw bytes.  What libcoap parses goes
 * through coap__read_request(); an uplink POST it lets through goes, as in
 * coap_server.c's hnd_post(), either to block-wise assembly or straight to
 * the SenML decoder:
 *
 *   - with Block1: coap__transfer_add() on one static struct coap_transfer
 *     that persists from input to input, so that libFuzzer's runs make
 *     sequences of blocks (starts, continuations, restarts, size changes,
 *     blocks of another pack); an error or a complete body ends it;
 *   - the body (the request's payload, or the completed transfer) is decoded
 *     with relais_senml_decode() in the request's format (the first block's
 *     for a transfer), else the one relais_senml_sniff() tells, from an
 *     exactly-sized copy so that ASan sees any read past its end.
 *
 * Aborts when a result breaks the contract of coap_internal.h:
 *   read:     the code is 0 or one of 4.00 4.02 4.04 4.05 4.13 4.15; the
 *             diagnostic is NUL-terminated, empty exactly on 0; 0 means
 *             .well-known/core or a POST to /dev/{valid id}/up/{seq <= 2^53-1}
 *             with a known format (or none), Size1 and payload within 64 KiB
 *             and a Block1 of SZX 0..6;
 *   transfer: CONTINUE only with m=1 and a full block, COMPLETE only with
 *             m=0; the body never over 65536 bytes, its bytes are the
 *             blocks' bytes at num * size; errors are 4.00 4.08 4.13 (5.03
 *             when out of memory), leave the transfer ended, and 4.08 never
 *             answers block 0;
 *   decode:   RELAIS_OK with 1..1024 readings, from a body whose first byte
 *             tells the same format; RELAIS_EPARSE with a reason and a detail
 *             and no readings; the same outcome twice.
 *
 * Seeds: tests/fuzz/corpus/coap/: 42 PDUs generated once by a throwaway
 * program (post-* with SenML JSON and CBOR packs and every content-format,
 * get-/put-/delete-*, path-*, seq-*, opt-*, size1-*, block-wise sequences
 * blk-json-0..2 and blk-cbor-0..2, size changes, stray and short blocks,
 * SZX 7), and the inputs that -merge=1 -use_counters=0 kept from a 60 s run
 * (named by their SHA-1).  The transfer's state makes a run depend on the
 * inputs before it, so a crash file alone may not reproduce: give the blocks
 * before it as files, in order, in one run (./fuzz_coap blk-0 blk-1 crash-X).
 * Build (from the project root, after `cmake --build build/dev`, whose
 * library objects carry the coverage instrumentation) and run:
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
 *     -Iedge/include -Ibuild/dev/edge/include -Ifirmware/wire/include -Iedge/src \
 *     $(pkg-config --cflags libcoap-3-openssl) tests/fuzz/fuzz_coap.c \
 *     build/dev/edge/librelais_edge.a build/dev/firmware/librelais_wire.a \
 *     $(pkg-config --libs libcoap-3-openssl) -ljansson -lcbor -lm -o fuzz_coap
 *   ./fuzz_coap -max_total_time=60 scratch-dir/ tests/fuzz/corpus/coap/
 * (or, as the other harnesses, with the sources edge/src/coap_request.c,
 * senml.c, senml_json.c, senml_cbor.c, cbor.c and firmware/wire/wire.c.)
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coap_internal.h"
#include "relais/error.h"
#include "relais/senml.h"
#include "relais/wire.h"

#define NOW_S 1795000000.0

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct coap_transfer transfer; /* persists across inputs */
static struct relais_pack pack;
static uint64_t clock_ms;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    coap_startup();
    coap_set_log_level(LOG_EMERG); /* coap_pdu_parse() warns about every bad PDU */
    relais_pack_init(&pack);
    return 0;
}

/* ---- decoding a body ---- */

struct outcome {
    int rc;
    enum relais_reject_reason reason;
    size_t count;
};

static struct outcome decode_once(enum relais_senml_format fmt, const uint8_t *body, size_t len,
                                  const char *device)
{
    struct relais_senml_error err;
    struct outcome o;

    memset(&err, 0x5a, sizeof err);
    o.rc = relais_senml_decode(&pack, fmt, body, len, device, NOW_S, &err);
    o.reason = err.reason;
    o.count = pack.count;
    if (!memchr(err.detail, '\0', sizeof err.detail)) abort();
    if (o.rc == RELAIS_OK) {
        enum relais_senml_format sniffed;
        if (err.reason != RELAIS_REJECT_NONE) abort();
        if (pack.count < 1 || pack.count > RELAIS_SENML_MAX_RECORDS) abort();
        if (len > RELAIS_SENML_MAX_BYTES) abort();
        /* what decodes as a format starts as that format (the MQTT rule) */
        if (relais_senml_sniff(body, len, &sniffed) != 0 || sniffed != fmt) abort();
        for (size_t i = 0; i < pack.count; i++) {
            const struct relais_reading *r = &pack.readings[i];
            if (!r->metric || !r->metric[0] || strchr(r->metric, ':')) abort();
        }
    } else if (o.rc == RELAIS_EPARSE) {
        if (err.reason <= RELAIS_REJECT_NONE || err.reason >= RELAIS_REJECT_COUNT) abort();
        if (!err.detail[0] || pack.count != 0) abort();
    } else if (o.rc != RELAIS_ENOMEM) {
        abort();
    }
    return o;
}

/* Decodes body as hnd_post() hands it to ingest: in format (-1: sniffed). */
static void decode(int format, const uint8_t *body, size_t len, const char *device)
{
    enum relais_senml_format fmt;

    if (format >= 0)
        fmt = (enum relais_senml_format)format;
    else if (relais_senml_sniff(body, len, &fmt) != 0)
        return; /* ingest rejects it as of no format */
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) return;
    if (len) memcpy(copy, body, len);
    struct outcome a = decode_once(fmt, copy, len, device);
    struct outcome b = decode_once(fmt, copy, len, device);
    free(copy);
    if (a.rc == RELAIS_ENOMEM || b.rc == RELAIS_ENOMEM) return;
    if (a.rc != b.rc || a.reason != b.reason || a.count != b.count) abort();
}

/* ---- the request ---- */

static bool code_known(int code)
{
    switch (code) {
    case 0:
    case COAP_RESPONSE_CODE(400):
    case COAP_RESPONSE_CODE(402):
    case COAP_RESPONSE_CODE(404):
    case COAP_RESPONSE_CODE(405):
    case COAP_RESPONSE_CODE(413):
    case COAP_RESPONSE_CODE(415): return true;
    default: return false;
    }
}

static void check_request(int code, const struct coap_req *req, const char *why, size_t cap)
{
    if (!memchr(why, '\0', cap)) abort();
    if (!code_known(code)) abort();
    if ((code == 0) != (why[0] == '\0')) abort();
    if (code == COAP_RESPONSE_CODE(405) &&
        (!req->path_is_up || req->method == COAP_REQUEST_CODE_POST))
        abort();
    if (code != 0) return;
    if (req->path_is_up == req->path_is_wkc) abort();
    if (req->path_is_wkc) return;
    if (req->method != COAP_REQUEST_CODE_POST) abort();
    if (!relais_wire_id_valid(req->device, strlen(req->device))) abort();
    if (req->seq > RELAIS_WIRE_SEQ_MAX) abort();
    if (req->format < -1 || req->format > RELAIS_SENML_CBOR) abort();
    if ((req->format >= 0) != req->has_cf) abort();
    if (req->has_size1 && req->size1 > RELAIS_SENML_MAX_BYTES) abort();
    if (req->len > RELAIS_SENML_MAX_BYTES || (req->len && !req->payload)) abort();
    if (req->has_block1 && (req->block1.szx > 6 || req->block1.num > 0xFFFFF)) abort();
}

/* ---- block-wise assembly ---- */

static void add_block(const struct coap_req *req)
{
    const coap_block_t *b = &req->block1;
    size_t size = (size_t)16 << b->szx;
    size_t before = b->num == 0 ? 0 : transfer.len; /* block 0 starts afresh */
    int code = -1;
    char why[160];

    memset(why, 0x5a, sizeof why);
    enum coap_block_verdict v =
        coap__transfer_add(&transfer, req, ++clock_ms, &code, why, sizeof why);
    switch (v) {
    case COAP_BLOCK_ERROR:
        if (transfer.used || transfer.buf || transfer.len) abort();
        if (!memchr(why, '\0', sizeof why) || !why[0]) abort();
        if (code != COAP_RESPONSE_CODE(400) && code != COAP_RESPONSE_CODE(408) &&
            code != COAP_RESPONSE_CODE(413) && code != COAP_RESPONSE_CODE(503))
            abort();
        if (code == COAP_RESPONSE_CODE(408) && b->num == 0) abort();
        if (code == COAP_RESPONSE_CODE(413) && before + req->len <= RELAIS_SENML_MAX_BYTES) abort();
        return;
    case COAP_BLOCK_CONTINUE:
    case COAP_BLOCK_COMPLETE: break;
    default: abort();
    }
    if (!transfer.used || !transfer.buf) abort();
    if (transfer.len > RELAIS_SENML_MAX_BYTES) abort();
    if (strcmp(transfer.device, req->device) != 0 || transfer.seq != req->seq) abort();
    if (transfer.szx != b->szx || transfer.next_num != b->num + 1) abort();
    if (transfer.last_ms != clock_ms) abort();
    /* the block sits at num * size, right after what came before */
    if ((size_t)b->num * size != before || transfer.len != before + req->len) abort();
    if (req->len > size) abort();
    if (req->len && memcmp(transfer.buf + before, req->payload, req->len) != 0) abort();
    if (v == COAP_BLOCK_CONTINUE) {
        if (!b->m || req->len != size) abort();
        return;
    }
    if (b->m) abort(); /* COMPLETE only for the last block */
    decode(req->format >= 0 ? req->format : transfer.format, transfer.buf, transfer.len,
           transfer.device);
    coap__transfer_end(&transfer);
    if (transfer.used || transfer.buf) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    coap_pdu_t *pdu = coap_pdu_init(0, 0, 0, size);
    if (!pdu) return 0;
    if (!coap_pdu_parse(COAP_PROTO_UDP, data, size, pdu)) {
        coap_delete_pdu(pdu);
        return 0;
    }
    struct coap_req req;
    char why[160];
    memset(why, 0x5a, sizeof why);
    int code = coap__read_request(pdu, &req, why, sizeof why);
    check_request(code, &req, why, sizeof why);
    if (code == 0 && req.path_is_up) {
        if (req.has_block1)
            add_block(&req);
        else
            decode(req.format, req.payload, req.len, req.device);
    }
    coap_delete_pdu(pdu);
    return 0;
}
