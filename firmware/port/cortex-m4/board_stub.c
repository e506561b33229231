/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The board seam (relais/pb/board.h) on a simplified STM32-style GPIO block
 * and the Cortex-M SysTick: compiled, not run.  Pins: LED PA5, buzzer PA6,
 * the display's "call 15" segment PA7, lid switch PA8 (high when open), compartment sensors
 * PB0..PB13 (high while the compartment holds its pills).  The RTC is a stub that was never set.
 */
#include "relais/pb/board.h"

struct relais_pb_gpio {
    volatile uint32_t moder; /* 2 bits per pin: 00 input, 01 output */
    volatile uint32_t otyper;
    volatile uint32_t ospeedr;
    volatile uint32_t pupdr;
    volatile uint32_t idr;
    volatile uint32_t odr;
    volatile uint32_t bsrr; /* low half sets, high half resets */
};

#define GPIOA ((struct relais_pb_gpio *)0x48000000u)
#define GPIOB ((struct relais_pb_gpio *)0x48000400u)

#define PIN_LED    5u
#define PIN_BUZZER 6u
#define PIN_CALL15 7u
#define PIN_LID    8u

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)

/* the core clock after reset (MSI 4 MHz on an STM32L4) */
#define CORE_HZ 4000000u

static volatile uint32_t millis;

void SysTick_Handler(void);
void SysTick_Handler(void)
{
    millis++;
}

void relais_pb_board_init(void)
{
    /* LED, buzzer and the display's segment as outputs, off; the inputs
     * stay inputs (reset state) */
    GPIOA->moder = (GPIOA->moder & ~((3u << (2 * PIN_LED)) | (3u << (2 * PIN_BUZZER)) |
                                     (3u << (2 * PIN_CALL15)))) |
                   (1u << (2 * PIN_LED)) | (1u << (2 * PIN_BUZZER)) | (1u << (2 * PIN_CALL15));
    GPIOA->bsrr = (1u << (PIN_LED + 16)) | (1u << (PIN_BUZZER + 16)) | (1u << (PIN_CALL15 + 16));
    /* the lid switch with a pull-down */
    GPIOA->pupdr = (GPIOA->pupdr & ~(3u << (2 * PIN_LID))) | (2u << (2 * PIN_LID));
    /* 1 ms tick */
    SYST_RVR = CORE_HZ / 1000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = 7u; /* core clock, interrupt, enable */
}

void relais_pb_led_set(bool on)
{
    GPIOA->bsrr = on ? (1u << PIN_LED) : (1u << (PIN_LED + 16));
}

void relais_pb_buzzer_set(bool on)
{
    GPIOA->bsrr = on ? (1u << PIN_BUZZER) : (1u << (PIN_BUZZER + 16));
}

void relais_pb_display_call15(bool on)
{
    GPIOA->bsrr = on ? (1u << PIN_CALL15) : (1u << (PIN_CALL15 + 16));
}

bool relais_pb_lid_open(void)
{
    return (GPIOA->idr & (1u << PIN_LID)) != 0;
}

uint32_t relais_pb_compartments_full(void)
{
    return GPIOB->idr & ((1u << RELAIS_PB_COMPARTMENTS) - 1u);
}

uint32_t relais_pb_battery_percent(void)
{
    return 100u; /* stub: no ADC read */
}

uint32_t relais_pb_millis(void)
{
    return millis;
}

uint32_t relais_pb_rtc_now(void)
{
    return 0; /* stub: an RTC never set (the gateway stamps the readings) */
}

void relais_pb_board_sleep(void)
{
    __asm volatile("wfi" ::: "memory");
}
