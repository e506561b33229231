/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pill box image (DESIGN.md 7) on the Cortex-M4 port: the pill box's
 * device logic (firmware/pillbox, the same code as relais-pillbox-sim on the
 * posix port) on the portable core (ring log, SenML encoder) and the wire
 * library, behind three seams (board, internal flash, radio).  The loop:
 *   - polls the lid switch and the compartment sensors (debounced): a lid
 *     opening or closing, a compartment found empty that was full (a dose of
 *     its slot) go to the pill box logic, which gathers a lid cycle into one
 *     SenML CBOR pack and puts it in the ring log, under a fresh persisted
 *     seq, before anything is sent; the battery level every PB_BATTERY_MS
 *     (with the lid closed: its own pack);
 *   - runs the logic's step: one confirmable POST in flight, resent with a
 *     capped backoff until relaisd answers it for good;
 *   - asks for commands every PB_CMD_POLL_MS (GET dev/{device}/cmd?after=N,
 *     at once again after one came): a reminder lights the LED and sounds
 *     the buzzer until the lid opens, "call 15" shows on the display, "time"
 *     sets the clock the readings are stamped with;
 *   - hands every response to the logic (acks, 5.03 Max-Age, errors).
 * When the log is full of unacknowledged packs, a new lid cycle waits (the
 * logic refuses it: nothing is overwritten) and the LED stays on.  No heap:
 * every buffer is static.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relais/fw/error.h"
#include "relais/fw/flash.h"
#include "relais/fw/pillbox.h"
#include "relais/fw/ringlog.h"
#include "relais/pb/board.h"
#include "relais/pb/flash_int.h"
#include "relais/pb/radio.h"
#include "relais/pb/sign.h"
#include "relais/wire.h"

/* Provisioned per device on a real product; a constant here. */
#define PB_DEVICE_ID "pillbox-0001"

#define PB_POLL_MS       50u      /* sensor poll period */
#define PB_DEBOUNCE      3u       /* polls a changed input must hold */
#define PB_RESEND_MS     4000u    /* first resend timeout */
#define PB_RESEND_MAX_MS 300000u  /* the backoff's cap */
#define PB_CMD_POLL_MS   30000u   /* ask for commands */
#define PB_BATTERY_MS    3600000u /* report the battery level */
#define PB_SEQ_BLOCK     16u      /* seqs reserved per persisted reservation */
#define PB_WORK_LEN      128u     /* ring log scan buffer */
#define PB_RX_MAX        384u     /* a CBOR ack with an error text of 200 bytes fits */

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
static struct relais_fw_pillbox pb_box;
static uint8_t pb_rx[PB_RX_MAX];
static bool pb_log_full;

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

/* ---- the logic's callbacks ---- */

static int pb_send(void *ctx, uint64_t seq, const void *body, size_t len, const uint8_t *sig)
{
    (void)ctx;
    return relais_pb_radio_post(PB_DEVICE_ID, seq, body, len, sig);
}

static int pb_sign(void *ctx, const uint8_t *head, size_t head_len, const void *body, size_t len,
                   uint8_t mac[RELAIS_WIRE_SIG_LEN])
{
    (void)ctx;
    return relais_pb_sign(head, head_len, body, len, mac);
}

static void pb_log_line(void *ctx, enum relais_fw_pillbox_log_level level, uint64_t seq,
                        const char *msg)
{
    /* no console on this board: an error shows on the LED until the next ack */
    (void)ctx;
    (void)seq;
    (void)msg;
    if (level == RELAIS_FW_PILLBOX_ERROR) {
        relais_pb_led_set(true);
    }
}

static void pb_indicate(void *ctx, enum relais_fw_pillbox_indication what, const char *detail)
{
    (void)ctx;
    (void)detail;
    switch (what) {
    case RELAIS_FW_PILLBOX_REMIND_ON:
        relais_pb_led_set(true);
        relais_pb_buzzer_set(true);
        break;
    case RELAIS_FW_PILLBOX_REMIND_OFF:
        relais_pb_led_set(pb_log_full);
        relais_pb_buzzer_set(false);
        relais_pb_display_call15(false);
        break;
    case RELAIS_FW_PILLBOX_CALL15: relais_pb_display_call15(true); break;
    case RELAIS_FW_PILLBOX_TIME_SET: break;
    }
}

/* The readings' time: the clock set by the gateway, else the RTC. */
static double pb_time(uint32_t now)
{
    double t = relais_fw_pillbox_time(&pb_box, now);
    return t != 0 ? t : (double)relais_pb_rtc_now();
}

/* An event's result: a full log keeps the LED on (the event is not taken). */
static void pb_event_rc(int rc)
{
    pb_log_full = rc == RELAIS_FW_EFULL;
    if (pb_log_full) {
        relais_pb_led_set(true);
    }
}

/* One poll of the sensors: the lid and the compartments that emptied. */
static void pb_poll(struct pb_input *lid, struct pb_input *comp, uint32_t now)
{
    double t = pb_time(now);
    if (pb_debounce(lid, relais_pb_lid_open() ? 1u : 0u)) {
        bool open = lid->stable != 0;
        if (open) {
            relais_pb_display_call15(false);
        }
        pb_event_rc(relais_fw_pillbox_lid(&pb_box, open, t));
    }
    uint32_t before = comp->stable;
    if (pb_debounce(comp, relais_pb_compartments_full())) {
        uint32_t emptied = before & ~comp->stable;
        for (uint32_t i = 0; i < RELAIS_PB_COMPARTMENTS; i++) {
            if (emptied & (1u << i)) {
                pb_event_rc(relais_fw_pillbox_dose(&pb_box, pb_slots[i], t));
            }
        }
    }
}

/* Every response received goes to the logic.  Returns true when a command
 * came (ask again at once: there may be more). */
static bool pb_receive(uint32_t now, bool *cmd_answered)
{
    struct relais_pb_response r;
    bool more = false;
    for (;;) {
        int got = relais_pb_radio_recv(&r, pb_rx, sizeof pb_rx);
        if (got == 0) {
            return more;
        }
        if (got < 0) {
            continue; /* dropped: the request is made again */
        }
        if (r.is_cmd) {
            *cmd_answered = true;
            if (r.code == 0x45u /* 2.05 */ && r.len > 0 &&
                relais_fw_pillbox_on_cmd(&pb_box, (const char *)pb_rx, r.len, now) ==
                    RELAIS_FW_OK) {
                more = true;
            }
            continue;
        }
        (void)relais_fw_pillbox_on_response(&pb_box, r.seq, r.code, pb_rx, r.len, r.max_age_s, now);
    }
}

int main(void)
{
    relais_pb_board_init();
    relais_pb_radio_init();
    static const struct relais_fw_pillbox_ops ops = {.send_cb = pb_send,
                                                     .sign_cb = pb_sign,
                                                     .log_cb = pb_log_line,
                                                     .indicate_cb = pb_indicate,
                                                     .ctx = NULL};
    if (relais_pb_flash_int_init(&pb_flash) != RELAIS_FW_OK ||
        relais_fw_ringlog_mount(&pb_log, &pb_flash, pb_work, sizeof pb_work, PB_SEQ_BLOCK) !=
            RELAIS_FW_OK ||
        relais_fw_pillbox_init(&pb_box, &pb_log, &ops, PB_DEVICE_ID, PB_RESEND_MS,
                               PB_RESEND_MAX_MS) != RELAIS_FW_OK) {
        /* no log: no dose record can be kept; signal it and wait for service */
        relais_pb_led_set(true);
        relais_pb_buzzer_set(true);
        return 1;
    }
    struct pb_input lid = {0}, comp = {0};
    comp.stable = comp.last = relais_pb_compartments_full();
    uint32_t last_poll = relais_pb_millis();
    uint32_t last_cmd = last_poll - PB_CMD_POLL_MS;
    uint32_t last_battery = last_poll - PB_BATTERY_MS;
    bool cmd_inflight = false;
    for (;;) {
        uint32_t now = relais_pb_millis();
        if (now - last_poll >= PB_POLL_MS) {
            last_poll = now;
            pb_poll(&lid, &comp, now);
        }
        if (now - last_battery >= PB_BATTERY_MS && lid.stable == 0) {
            int rc = relais_fw_pillbox_battery(&pb_box, (double)relais_pb_battery_percent(),
                                               pb_time(now));
            pb_event_rc(rc);
            if (rc != RELAIS_FW_EFULL) {
                last_battery = now; /* a full log: again at the next turn */
            }
        }
        bool answered = false;
        if (pb_receive(now, &answered)) {
            last_cmd = now - PB_CMD_POLL_MS; /* ask again now */
        }
        if (answered) {
            cmd_inflight = false;
        }
        if (now - last_cmd >= PB_CMD_POLL_MS &&
            (!cmd_inflight || now - last_cmd >= 2u * PB_CMD_POLL_MS)) {
            last_cmd = now;
            cmd_inflight =
                relais_pb_radio_get_cmd(PB_DEVICE_ID, relais_fw_pillbox_cmd_after(&pb_box)) == 0;
        }
        (void)relais_fw_pillbox_step(&pb_box, now);
        relais_pb_board_sleep();
    }
}
