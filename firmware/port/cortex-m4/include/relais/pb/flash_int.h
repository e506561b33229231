/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The core's flash HAL (relais/fw/flash.h) on the MCU's internal flash: the
 * region the linker script reserves after the image (__ringlog_start ..
 * __ringlog_end: 8 pages of 2 KiB), erased by page and programmed by 64-bit
 * double words through the flash controller's registers (an STM32L4-like
 * interface, simplified: unlock, erase page, program double word, wait,
 * check errors).
 */
#ifndef RELAIS_PB_FLASH_INT_H
#define RELAIS_PB_FLASH_INT_H

#include "relais/fw/flash.h"

#define RELAIS_PB_FLASH_PAGE       2048u
#define RELAIS_PB_FLASH_WRITE_UNIT 8u

/* Fills *f with the ring log region: returns RELAIS_FW_OK, or
 * RELAIS_FW_EINVAL when the linker script's region is not page-aligned. */
int relais_pb_flash_int_init(struct relais_fw_flash *f);

#endif
