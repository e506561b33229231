/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The flash HAL of the device core: a NOR flash region as the core sees it.
 * A port fills one in (port/posix: a file with a power-cut injector; a real
 * MCU: its flash controller or an SPI NOR chip, or a partition of either).
 *
 * NOR semantics the core relies on:
 * - erase(sector) sets every byte of the sector to 0xFF;
 * - program() can only clear bits (1 -> 0); addr and len are multiples of
 *   write_unit, and the core programs each write unit at most once between
 *   two erases (so flashes with ECC words that forbid a second program work);
 * - read() may read any byte range.
 * Addresses are relative to the start of the region: 0 .. sector_size *
 * sector_count - 1.  Every callback returns 0 or a negative RELAIS_FW_* code
 * (RELAIS_FW_EIO when the hardware failed).
 */
#ifndef RELAIS_FW_FLASH_H
#define RELAIS_FW_FLASH_H

#include <stdint.h>

struct relais_fw_flash {
    uint32_t sector_size;  /* bytes in an erase sector */
    uint32_t sector_count; /* sectors in the region */
    uint32_t write_unit;   /* smallest programmable unit: 1, 2, 4, 8, 16 or 32 bytes */
    int (*read)(void *ctx, uint32_t addr, void *buf, uint32_t len);
    int (*program)(void *ctx, uint32_t addr, const void *buf, uint32_t len);
    int (*erase)(void *ctx, uint32_t sector);
    void *ctx; /* passed back to the callbacks; owned by the port */
};

#endif
