/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Minimal Cortex-M4 startup of the pill box image: the vector table (the
 * 16 system exceptions and the first external interrupts the port uses), a
 * reset handler that copies .data from flash, zeroes .bss, enables the FPU
 * (the image is built with -mfloat-abi=hard) and calls main(); every other
 * handler parks the core (a watchdog resets it on real hardware).
 */
#include <stdint.h>
#include <string.h>

#include "relais/pb/board.h"

/* from cortex-m4.ld */
extern uint32_t __data_start[], __data_end[], __data_load[];
extern uint32_t __bss_start[], __bss_end[];
extern uint32_t __stack_top[];

int main(void);
void Reset_Handler(void);
void Default_Handler(void);
void NMI_Handler(void) __attribute__((weak, alias("Default_Handler")));
void HardFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void MemManage_Handler(void) __attribute__((weak, alias("Default_Handler")));
void BusFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void UsageFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SVC_Handler(void) __attribute__((weak, alias("Default_Handler")));
void DebugMon_Handler(void) __attribute__((weak, alias("Default_Handler")));
void PendSV_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));
void EXTI_Lid_Handler(void) __attribute__((weak, alias("Default_Handler")));
void EXTI_Compartment_Handler(void) __attribute__((weak, alias("Default_Handler")));
void Radio_IRQHandler(void) __attribute__((weak, alias("Default_Handler")));

typedef void (*relais_vector)(void);

/* Index 0 is the initial stack pointer, then the exception handlers. */
__attribute__((section(".isr_vector"), used)) const relais_vector relais_vectors[16 + 32] = {
    (relais_vector)(uintptr_t)__stack_top,
    Reset_Handler,
    NMI_Handler,
    HardFault_Handler,
    MemManage_Handler,
    BusFault_Handler,
    UsageFault_Handler,
    0,
    0,
    0,
    0,
    SVC_Handler,
    DebugMon_Handler,
    0,
    PendSV_Handler,
    SysTick_Handler,
    /* external interrupts: the EXTI lines of the lid and the compartment
     * sensors and the radio's, at a typical STM32L4 position */
    [16 + 6] = EXTI_Lid_Handler,
    [16 + 23] = EXTI_Compartment_Handler,
    [16 + 31] = Radio_IRQHandler,
};

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

void Reset_Handler(void)
{
    size_t data_len = (size_t)((uintptr_t)__data_end - (uintptr_t)__data_start);
    size_t bss_len = (size_t)((uintptr_t)__bss_end - (uintptr_t)__bss_start);
    memcpy(__data_start, __data_load, data_len);
    memset(__bss_start, 0, bss_len);
    /* CP10 and CP11 full access: the FPU, before any float instruction */
    SCB_CPACR |= (0xFu << 20);
    __asm volatile("dsb\n\tisb" ::: "memory");
    (void)main();
    for (;;) {
        relais_pb_board_sleep();
    }
}

void Default_Handler(void)
{
    for (;;) {
    }
}
