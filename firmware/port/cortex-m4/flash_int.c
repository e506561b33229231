/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The core's flash HAL on the internal flash (relais/pb/flash_int.h): an
 * STM32L4-like controller, simplified (single bank, no ECC status, no
 * cache flush): compiled, not run.  Reads are plain memory reads of the
 * memory-mapped flash.  Program: unlock, PG, two 32-bit writes per double
 * word, wait for BSY to clear, check the error flags.  Erase: PER with the
 * page number, STRT, wait, check.  The region is the linker script's
 * (__ringlog_start .. __ringlog_end), outside the image.
 */
#include "relais/pb/flash_int.h"

#include <stddef.h>
#include <string.h>

#include "relais/fw/error.h"

extern const uint8_t __ringlog_start[], __ringlog_end[];

#define FLASH_BASE_ADDR 0x08000000u

struct relais_pb_flash_regs {
    volatile uint32_t acr;
    volatile uint32_t pdkeyr;
    volatile uint32_t keyr;
    volatile uint32_t optkeyr;
    volatile uint32_t sr;
    volatile uint32_t cr;
};

#define FLASH_REGS ((struct relais_pb_flash_regs *)0x40022000u)

#define FLASH_KEY1 0x45670123u
#define FLASH_KEY2 0xCDEF89ABu

#define SR_EOP    (1u << 0)
#define SR_ERRORS 0x0000C3FAu /* OPERR PROGERR WRPERR PGAERR SIZERR PGSERR MISERR FASTERR RDERR */
#define SR_BSY    (1u << 16)

#define CR_PG        (1u << 0)
#define CR_PER       (1u << 1)
#define CR_PNB_SHIFT 3u
#define CR_PNB_MASK  (0xFFu << CR_PNB_SHIFT)
#define CR_STRT      (1u << 16)
#define CR_LOCK      (1u << 31)

/* Longest wait for BSY, in status reads (a page erase takes ~25 ms). */
#define FLASH_SPIN_MAX 4000000u

struct flash_int {
    uintptr_t base; /* address of the region's first byte */
    uint32_t size;
};

static struct flash_int flash_int_region;

static int flash_wait(void)
{
    for (uint32_t i = 0; i < FLASH_SPIN_MAX; i++) {
        uint32_t sr = FLASH_REGS->sr;
        if ((sr & SR_BSY) == 0) {
            FLASH_REGS->sr = sr & (SR_ERRORS | SR_EOP); /* write 1 to clear */
            return (sr & SR_ERRORS) ? RELAIS_FW_EIO : RELAIS_FW_OK;
        }
    }
    return RELAIS_FW_EIO;
}

static void flash_unlock(void)
{
    if (FLASH_REGS->cr & CR_LOCK) {
        FLASH_REGS->keyr = FLASH_KEY1;
        FLASH_REGS->keyr = FLASH_KEY2;
    }
}

static void flash_lock(void)
{
    FLASH_REGS->cr = CR_LOCK;
}

static int fi_read(void *ctx, uint32_t addr, void *buf, uint32_t len)
{
    const struct flash_int *fi = ctx;
    if (addr > fi->size || len > fi->size - addr) {
        return RELAIS_FW_EINVAL;
    }
    memcpy(buf, (const void *)(fi->base + addr), len);
    return RELAIS_FW_OK;
}

static int fi_program(void *ctx, uint32_t addr, const void *buf, uint32_t len)
{
    const struct flash_int *fi = ctx;
    if (addr > fi->size || len > fi->size - addr || addr % RELAIS_PB_FLASH_WRITE_UNIT != 0 ||
        len % RELAIS_PB_FLASH_WRITE_UNIT != 0) {
        return RELAIS_FW_EINVAL;
    }
    const uint8_t *src = buf;
    int rc = flash_wait();
    if (rc != RELAIS_FW_OK) {
        return rc;
    }
    flash_unlock();
    FLASH_REGS->cr = CR_PG;
    for (uint32_t off = 0; off < len && rc == RELAIS_FW_OK; off += RELAIS_PB_FLASH_WRITE_UNIT) {
        uint32_t w[2];
        memcpy(w, src + off, sizeof w);
        volatile uint32_t *dst = (volatile uint32_t *)(fi->base + addr + off);
        dst[0] = w[0];
        dst[1] = w[1];
        rc = flash_wait();
    }
    flash_lock();
    return rc;
}

static int fi_erase(void *ctx, uint32_t sector)
{
    const struct flash_int *fi = ctx;
    if (sector >= fi->size / RELAIS_PB_FLASH_PAGE) {
        return RELAIS_FW_EINVAL;
    }
    uint32_t page = (uint32_t)((fi->base - FLASH_BASE_ADDR) / RELAIS_PB_FLASH_PAGE) + sector;
    int rc = flash_wait();
    if (rc != RELAIS_FW_OK) {
        return rc;
    }
    flash_unlock();
    FLASH_REGS->cr = CR_PER | ((page << CR_PNB_SHIFT) & CR_PNB_MASK);
    FLASH_REGS->cr |= CR_STRT;
    rc = flash_wait();
    flash_lock();
    return rc;
}

int relais_pb_flash_int_init(struct relais_fw_flash *f)
{
    uintptr_t start = (uintptr_t)__ringlog_start;
    uintptr_t end = (uintptr_t)__ringlog_end;
    if (f == NULL || end <= start || start % RELAIS_PB_FLASH_PAGE != 0 ||
        (end - start) % RELAIS_PB_FLASH_PAGE != 0) {
        return RELAIS_FW_EINVAL;
    }
    flash_int_region.base = start;
    flash_int_region.size = (uint32_t)(end - start);
    f->sector_size = RELAIS_PB_FLASH_PAGE;
    f->sector_count = flash_int_region.size / RELAIS_PB_FLASH_PAGE;
    f->write_unit = RELAIS_PB_FLASH_WRITE_UNIT;
    f->read = fi_read;
    f->program = fi_program;
    f->erase = fi_erase;
    f->ctx = &flash_int_region;
    return RELAIS_FW_OK;
}
