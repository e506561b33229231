/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pill box image (DESIGN.md 7) on the Cortex-M4 port: the portable core
 * (ring log, SenML encoder) and the wire library behind three seams (board,
 * internal flash, radio).  The loop:
 *   - polls the lid switch and the compartment sensors (debounced);
 *   - a lid opening or closing is a "lid" reading (vb); a compartment found
 *     empty that was full is a "dose" reading (vs = slot id); the readings of
 *     one poll are one SenML CBOR pack, given the next persisted seq and
 *     appended to the ring log before anything is sent;
 *   - sends the unacknowledged packs, oldest first, a few at a time, again
 *     after a timeout until acknowledged;
 *   - parses each answer with the wire library (CBOR ack): stored, duplicate
 *     or rejected acknowledge the pack in the ring log; busy waits retry_s.
 * When the log is full of unacknowledged packs no reading is taken (nothing
 * is overwritten) and the LED stays on.  No heap: every buffer is static.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relais/fw/error.h"
#include "relais/fw/flash.h"
#include "relais/fw/ringlog.h"
#include "relais/fw/senml_enc.h"
#include "relais/pb/board.h"
#include "relais/pb/flash_int.h"
#include "relais/pb/radio.h"
#include "relais/wire.h"

/* Provisioned per device on a real product; a constant here. */
#define PB_DEVICE_ID "pillbox-0001"

#define PB_POLL_MS     50u    /* sensor poll period */
#define PB_DEBOUNCE    3u     /* polls a changed input must hold */
#define PB_RESEND_MS   10000u /* resend unacknowledged packs after */
#define PB_SEND_WINDOW 4u     /* packs sent per round */
#define PB_SEQ_BLOCK   16u    /* seqs reserved per persisted reservation */
#define PB_WORK_LEN    128u   /* ring log scan buffer */
#define PB_PACK_MAX    256u   /* largest pack: a lid event and a few doses */
#define PB_ACK_RX_MAX  384u   /* a CBOR ack with an error text of 200 bytes fits */
#define PB_MAX_RECORDS (1u + RELAIS_PB_COMPARTMENTS)

/* Slot ids of the 14 compartments: day and time of the week's doses. */
static const char *const pb_slots[RELAIS_PB_COMPARTMENTS] = {
    "mon-am", "mon-pm", "tue-am", "tue-pm", "wed-am", "wed-pm", "thu-am",
    "thu-pm", "fri-am", "fri-pm", "sat-am", "sat-pm", "sun-am", "sun-pm",
};

struct pb_input {
    uint32_t stable; /* debounced value */
    uint32_t last;   /* last raw value */
    uint32_t count;  /* polls the raw value has held */
};

static struct relais_fw_flash pb_flash;
static struct relais_fw_ringlog pb_log;
static uint8_t pb_work[PB_WORK_LEN] __attribute__((aligned(8)));
static uint8_t pb_pack[PB_PACK_MAX];
static uint8_t pb_rx[PB_ACK_RX_MAX];
static struct relais_wire_ack pb_ack;
static struct relais_fw_record pb_rec[PB_MAX_RECORDS];

static bool pb_debounce(struct pb_input *in, uint32_t raw)
{
    if (raw != in->last) {
        in->last = raw;
        in->count = 0;
        return false;
    }
    if (raw == in->stable || ++in->count < PB_DEBOUNCE) {
        return false;
    }
    in->stable = raw;
    return true;
}

/* Encodes the n readings as one pack and appends it to the ring log.
 * Returns RELAIS_FW_OK, RELAIS_FW_EFULL (log full: the readings are lost and
 * the LED says so) or another negative code. */
static int pb_record(size_t n)
{
    uint32_t now = relais_pb_rtc_now();
    size_t len = 0;
    int rc =
        relais_fw_senml_cbor(pb_pack, sizeof pb_pack, &len, PB_DEVICE_ID, (double)now, pb_rec, n);
    if (rc != RELAIS_FW_OK) {
        return rc;
    }
    uint64_t seq = 0;
    rc = relais_fw_ringlog_seq_next(&pb_log, &seq);
    if (rc == RELAIS_FW_OK) {
        rc = relais_fw_ringlog_append(&pb_log, seq, pb_pack, (uint32_t)len);
    }
    relais_pb_led_set(rc == RELAIS_FW_EFULL);
    return rc;
}

/* One poll of the sensors: the lid and the compartments that emptied. */
static void pb_poll(struct pb_input *lid, struct pb_input *comp)
{
    size_t n = 0;
    if (pb_debounce(lid, relais_pb_lid_open() ? 1u : 0u)) {
        pb_rec[n] = (struct relais_fw_record){
            .name = "lid", .kind = RELAIS_FW_V_BOOL, .vb = lid->stable != 0};
        n++;
    }
    uint32_t before = comp->stable;
    if (pb_debounce(comp, relais_pb_compartments_full())) {
        uint32_t emptied = before & ~comp->stable;
        for (uint32_t i = 0; i < RELAIS_PB_COMPARTMENTS; i++) {
            if (emptied & (1u << i)) {
                pb_rec[n] = (struct relais_fw_record){
                    .name = "dose", .kind = RELAIS_FW_V_STR, .vs = pb_slots[i]};
                n++;
            }
        }
    }
    if (n > 0) {
        (void)pb_record(n);
    }
}

/* Sends up to PB_SEND_WINDOW unacknowledged packs, oldest first. */
static void pb_send(void)
{
    struct relais_fw_ringlog_iter it;
    struct relais_fw_ringlog_pack p;
    relais_fw_ringlog_iter_init(&it);
    for (uint32_t sent = 0; sent < PB_SEND_WINDOW; sent++) {
        if (relais_fw_ringlog_iter_next(&pb_log, &it, &p) != RELAIS_FW_OK) {
            return;
        }
        int len = relais_fw_ringlog_read(&pb_log, &p, pb_pack, sizeof pb_pack);
        if (len < 0) {
            continue; /* a corrupt record: never sent; a reboot's mount drops it */
        }
        if (relais_pb_radio_send(PB_DEVICE_ID, p.seq, pb_pack, (size_t)len) != 0) {
            return; /* link down: try again next round */
        }
    }
}

/* Handles the answers received.  Returns the milliseconds relaisd asked to
 * wait before sending again (busy), else 0. */
static uint32_t pb_receive(void)
{
    uint32_t wait_ms = 0;
    for (;;) {
        int len = relais_pb_radio_recv(pb_rx, sizeof pb_rx);
        if (len == 0) {
            return wait_ms;
        }
        if (len < 0 || relais_wire_ack_parse_cbor(pb_rx, (size_t)len, &pb_ack) != 0) {
            continue; /* not an ack we can read: the pack is sent again */
        }
        switch (pb_ack.status) {
        case RELAIS_WIRE_ACK_STORED:
        case RELAIS_WIRE_ACK_DUPLICATE:
        case RELAIS_WIRE_ACK_REJECTED:
            /* ENOTFOUND: an ack for a pack reclaimed long ago, harmless */
            (void)relais_fw_ringlog_ack(&pb_log, pb_ack.seq);
            relais_pb_led_set(false);
            break;
        case RELAIS_WIRE_ACK_BUSY: wait_ms = (pb_ack.retry_s ? pb_ack.retry_s : 1u) * 1000u; break;
        }
    }
}

int main(void)
{
    relais_pb_board_init();
    relais_pb_radio_init();
    if (relais_pb_flash_int_init(&pb_flash) != RELAIS_FW_OK ||
        relais_fw_ringlog_mount(&pb_log, &pb_flash, pb_work, sizeof pb_work, PB_SEQ_BLOCK) !=
            RELAIS_FW_OK) {
        /* no log: no dose record can be kept; signal it and wait for service */
        relais_pb_led_set(true);
        relais_pb_buzzer_set(true);
        return 1;
    }
    struct pb_input lid = {0}, comp = {0};
    comp.stable = comp.last = relais_pb_compartments_full();
    uint32_t last_poll = relais_pb_millis();
    uint32_t last_send = last_poll - PB_RESEND_MS;
    uint32_t hold_ms = 0;
    for (;;) {
        uint32_t now = relais_pb_millis();
        if (now - last_poll >= PB_POLL_MS) {
            last_poll = now;
            pb_poll(&lid, &comp);
        }
        uint32_t wait = pb_receive();
        if (wait != 0) {
            hold_ms = wait;
            last_send = now;
        }
        if (relais_fw_ringlog_unacked(&pb_log) > 0 &&
            now - last_send >= (hold_ms ? hold_ms : PB_RESEND_MS)) {
            hold_ms = 0;
            last_send = now;
            pb_send();
        }
        relais_pb_board_sleep();
    }
}
