/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pill box's board seam (GPIO and time) on the Cortex-M4 port: reminder
 * LED and buzzer (outputs), lid switch and compartment sensors (inputs, one
 * per dose slot), a millisecond tick and the RTC.  board_stub.c implements it
 * on a simplified GPIO register block (compiled, not run); a real board
 * replaces that file, not the pill box logic.
 */
#ifndef RELAIS_PB_BOARD_H
#define RELAIS_PB_BOARD_H

#include <stdbool.h>
#include <stdint.h>

/* Compartments of the box: one per dose slot of a week, morning and evening. */
#define RELAIS_PB_COMPARTMENTS 14

void relais_pb_board_init(void);

/* outputs */
void relais_pb_led_set(bool on);
void relais_pb_buzzer_set(bool on);
/* the display's "call 15" message (the SAMU): on until the lid is opened */
void relais_pb_display_call15(bool on);

/* inputs: the lid switch (true when open) and the compartments' sensors
 * (bit i set when compartment i still holds its pills) */
bool relais_pb_lid_open(void);
uint32_t relais_pb_compartments_full(void);
/* the battery's charge, 0..100 % (from the ADC) */
uint32_t relais_pb_battery_percent(void);

/* Milliseconds since boot (wraps after 49 days: compare differences). */
uint32_t relais_pb_millis(void);
/* Seconds since 1970 from the RTC, or 0 when it was never set (the gateway
 * then stamps the readings with their receive time). */
uint32_t relais_pb_rtc_now(void);

/* Waits for an interrupt (a sensor edge, the tick, the radio). */
void relais_pb_board_sleep(void);

#endif
