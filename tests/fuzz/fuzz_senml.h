/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The body of the SenML fuzz harnesses (fuzz_senml_json.c, fuzz_senml_cbor.c):
 * each input is decoded as relaisd does (device "dev-1", a fixed receive
 * time) into one static struct relais_pack that every run reuses, twice: the
 * second decode must give the same outcome (nothing leaks from one decode into
 * the next).  Aborts when a result breaks the contract of relais/senml.h and
 * DESIGN 3.2:
 *
 *   accepted: 1..1024 readings; each metric non-empty, at most 256 bytes, with
 *             no ':'; finite numbers; times within 1970..9999; a metric of the
 *             wire table has its canonical unit, its value kind, a value in
 *             its plausible range (whole when it must be);
 *   rejected: RELAIS_EPARSE with a reason and a detail, no readings kept,
 *             too_large exactly when the input is over 64 KiB (or ENOMEM).
 *
 * A harness includes this file once and calls run(FORMAT, data, size).
 */
#ifndef RELAIS_FUZZ_SENML_H
#define RELAIS_FUZZ_SENML_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relais/error.h"
#include "relais/senml.h"
#include "relais/wire.h"

#define DEVICE   "dev-1"
#define NOW      1795000000.0
#define MAX_TIME 253402300799.0 /* 9999-12-31T23:59:59Z */

/* What a decode gave, to compare two decodes of the same input. */
struct outcome {
    int rc;
    enum relais_reject_reason reason;
    int record;
    size_t count;
    uint64_t digest; /* FNV-1a over the readings' metrics, units and values */
};

static void digest(uint64_t *h, const void *p, size_t n)
{
    const uint8_t *b = p;

    for (size_t i = 0; i < n; i++)
        *h = (*h ^ b[i]) * 1099511628211u;
}

static void check_reading(const struct relais_reading *r)
{
    if (!r->metric || !r->unit) abort();
    size_t mlen = strlen(r->metric);
    if (mlen == 0 || mlen > RELAIS_SENML_MAX_STRING || strchr(r->metric, ':')) abort();
    if (strlen(r->unit) > RELAIS_SENML_MAX_STRING) abort();
    if ((unsigned)r->kind > RELAIS_READING_SUM_ONLY) abort();
    if ((unsigned)r->time_source > RELAIS_TIME_GATEWAY) abort();
    if (!isfinite(r->value) || !isfinite(r->time) || !isfinite(r->sum) || !isfinite(r->update_time))
        abort();
    if (r->time < 0 || r->time > MAX_TIME) abort();
    if (r->time_source == RELAIS_TIME_GATEWAY && r->time != NOW) abort();
    if (r->has_update_time && (r->update_time < 0 || r->update_time > MAX_TIME)) abort();
    if (r->kind == RELAIS_READING_SUM_ONLY && !r->has_sum) abort();
    if (r->kind == RELAIS_READING_STRING &&
        (!r->str || r->len > RELAIS_SENML_MAX_STRING || strlen(r->str) != r->len))
        abort();
    if (r->kind == RELAIS_READING_DATA &&
        ((!r->data && r->len) || r->len > RELAIS_SENML_MAX_STRING))
        abort();
    /* a metric relais understands is checked and canonical */
    const struct relais_wire_metric *m = relais_wire_metric_find(r->metric, mlen);
    if (m != r->known) abort();
    if (m) {
        if ((int)r->kind != (int)m->kind) abort();
        if (strcmp(r->unit, m->units[0].unit ? m->units[0].unit : "") != 0) abort();
        if (m->kind == RELAIS_WIRE_NUMBER &&
            (r->value < m->min || r->value > m->max || (m->integer && r->value != floor(r->value))))
            abort();
        if (m->kind == RELAIS_WIRE_STRING && r->len == 0) abort();
    }
}

static struct outcome decode(struct relais_pack *pack, enum relais_senml_format fmt,
                             const uint8_t *data, size_t size)
{
    struct relais_senml_error err;
    struct outcome o = {0};

    memset(&err, 0x5a, sizeof err);
    o.rc = relais_senml_decode(pack, fmt, data, size, DEVICE, NOW, &err);
    o.reason = err.reason;
    o.record = err.record;
    o.count = pack->count;
    o.digest = 14695981039346656037u;
    if (!memchr(err.detail, '\0', sizeof err.detail)) abort();
    if (pack->format != fmt) abort();
    if (o.rc == RELAIS_OK) {
        if (err.reason != RELAIS_REJECT_NONE || err.record != -1 || err.detail[0]) abort();
        if (pack->count < 1 || pack->count > RELAIS_SENML_MAX_RECORDS) abort();
        if (size > RELAIS_SENML_MAX_BYTES) abort();
        for (size_t i = 0; i < pack->count; i++) {
            const struct relais_reading *r = &pack->readings[i];

            check_reading(r);
            digest(&o.digest, r->metric, strlen(r->metric) + 1);
            digest(&o.digest, r->unit, strlen(r->unit) + 1);
            digest(&o.digest, &r->value, sizeof r->value);
            digest(&o.digest, &r->time, sizeof r->time);
            digest(&o.digest, &r->kind, sizeof r->kind);
            if (r->kind == RELAIS_READING_STRING) digest(&o.digest, r->str, r->len);
            if (r->kind == RELAIS_READING_DATA && r->len) digest(&o.digest, r->data, r->len);
        }
    } else if (o.rc == RELAIS_EPARSE) {
        if (err.reason <= RELAIS_REJECT_NONE || err.reason >= RELAIS_REJECT_COUNT) abort();
        if (err.reason == RELAIS_REJECT_FORMAT || err.reason == RELAIS_REJECT_TOPIC) abort();
        if (!err.detail[0] || err.record < -1 || err.record >= RELAIS_SENML_MAX_RECORDS) abort();
        if ((size > RELAIS_SENML_MAX_BYTES) != (err.reason == RELAIS_REJECT_TOO_LARGE)) abort();
        if (pack->count != 0) abort();
    } else if (o.rc != RELAIS_ENOMEM) {
        abort();
    }
    return o;
}

/* Decodes twice into the one pack every run reuses; both must agree. */
static void run(enum relais_senml_format fmt, const uint8_t *data, size_t size)
{
    static struct relais_pack pack;
    static bool ready;

    if (!ready) {
        relais_pack_init(&pack);
        ready = true;
    }
    struct outcome a = decode(&pack, fmt, data, size);
    struct outcome b = decode(&pack, fmt, data, size);
    if (a.rc == RELAIS_ENOMEM || b.rc == RELAIS_ENOMEM) return;
    if (a.rc != b.rc || a.reason != b.reason || a.record != b.record || a.count != b.count ||
        a.digest != b.digest)
        abort();
}

#endif
