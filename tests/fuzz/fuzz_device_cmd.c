/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for what a device parses from the network, in the wire
 * library both devices link (firmware/wire): a command body
 * (relais_wire_cmd_parse: MQTT cmd messages, the answers to GET
 * /dev/{device}/cmd) and an ack, JSON and CBOR (relais_wire_ack_parse,
 * relais_wire_ack_parse_cbor).  Each input goes to all three; aborts when a
 * result breaks the contract of relais/wire.h:
 *
 *   a command accepted: jansson reads the body as an object with a string
 *     "cmd"; slot and alert NUL-terminated within their capacity and equal to
 *     the members when present; time has t_ms > 0, remind a non-empty slot;
 *     the kind matches "cmd";
 *   an ack accepted: seq <= 2^53 - 1, a known status, error NUL-terminated.
 *
 * Seeds: tests/fuzz/corpus/device_cmd/.
 * Build and run (the dev preset):
 *   cmake --build build/dev --target fuzz_device_cmd
 *   build/dev/tests/fuzz_device_cmd -max_total_time=60 tests/fuzz/corpus/device_cmd/
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relais/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_cmd(const uint8_t *data, size_t size, const struct relais_wire_cmd *c)
{
    if (!memchr(c->slot, '\0', sizeof c->slot) || !memchr(c->alert, '\0', sizeof c->alert)) abort();
    json_error_t err;
    json_t *o =
        json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    /* jansson may refuse what the small parser takes (e.g. a NUL in a
     * string, duplicate keys); what both read must agree */
    if (!o) return;
    if (!json_is_object(o)) abort();
    const char *cmd = json_string_value(json_object_get(o, "cmd"));
    if (!cmd) abort();
    enum relais_wire_cmd_kind want = !strcmp(cmd, "time")     ? RELAIS_WIRE_CMD_TIME
                                     : !strcmp(cmd, "remind") ? RELAIS_WIRE_CMD_REMIND
                                     : !strcmp(cmd, "call15") ? RELAIS_WIRE_CMD_CALL15
                                                              : RELAIS_WIRE_CMD_OTHER;
    if (c->kind != want) abort();
    if (c->kind == RELAIS_WIRE_CMD_TIME && c->t_ms == 0) abort();
    if (c->kind == RELAIS_WIRE_CMD_REMIND && !c->slot[0]) abort();
    const char *slot = json_string_value(json_object_get(o, "slot"));
    if (slot && strlen(slot) == strlen(c->slot) && strcmp(slot, c->slot) != 0) abort();
    const char *alert = json_string_value(json_object_get(o, "alert"));
    if (alert && strlen(alert) == strlen(c->alert) && strcmp(alert, c->alert) != 0) abort();
    json_decref(o);
}

static void check_ack(const struct relais_wire_ack *a)
{
    if (a->seq > RELAIS_WIRE_SEQ_MAX) abort();
    if (a->status > RELAIS_WIRE_ACK_BUSY) abort();
    if (!memchr(a->error, '\0', sizeof a->error)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact copy: the parsers must not read past size */
    char *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    struct relais_wire_cmd c;
    if (relais_wire_cmd_parse(buf, size, &c) == 0) check_cmd(data, size, &c);
    struct relais_wire_ack a;
    if (relais_wire_ack_parse(buf, size, &a) == 0) check_ack(&a);
    if (relais_wire_ack_parse_cbor((const uint8_t *)buf, size, &a) == 0) check_ack(&a);
    free(buf);
    return 0;
}
