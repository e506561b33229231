/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NOR flash emulation for the posix port (relais/fw/flash_file.h): memory,
 * optionally written through to a file, with NOR rules enforced and a power
 * cut injected after a given number of programmed or erased bytes.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* pread, pwrite, O_CLOEXEC */
#endif
#include "relais/fw/flash_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "relais/fw/error.h"

static uint32_t region_size(const struct relais_fw_flash_file *ff)
{
    return ff->flash.sector_size * ff->flash.sector_count;
}

/* Writes mem[addr, addr + len) through to the file. */
static int persist(struct relais_fw_flash_file *ff, uint32_t addr, uint32_t len)
{
    if (ff->fd < 0) return RELAIS_FW_OK;
    while (len > 0) {
        ssize_t n = pwrite(ff->fd, ff->mem + addr, len, (off_t)addr);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return RELAIS_FW_EIO;
        addr += (uint32_t)n;
        len -= (uint32_t)n;
    }
    return RELAIS_FW_OK;
}

/* Bytes of a len-byte operation the power still lets through. */
static uint32_t budget(const struct relais_fw_flash_file *ff, uint32_t len)
{
    if (ff->cut_at == RELAIS_FW_FLASH_NO_CUT) return len;
    uint64_t left = ff->cut_at > ff->cost ? ff->cut_at - ff->cost : 0;
    return left < len ? (uint32_t)left : len;
}

/* The power goes: called by the operation that crossed the budget. */
static int power_cut(struct relais_fw_flash_file *ff)
{
    ff->cut = true;
    if (ff->exit_on_cut) _exit(ff->exit_on_cut);
    return RELAIS_FW_EIO;
}

static int ff_read(void *ctx, uint32_t addr, void *buf, uint32_t len)
{
    struct relais_fw_flash_file *ff = ctx;

    if (addr > region_size(ff) || len > region_size(ff) - addr) {
        ff->violations++;
        return RELAIS_FW_EINVAL;
    }
    memcpy(buf, ff->mem + addr, len);
    return RELAIS_FW_OK;
}

static int ff_program(void *ctx, uint32_t addr, const void *buf, uint32_t len)
{
    struct relais_fw_flash_file *ff = ctx;
    const uint8_t *src = buf;
    uint32_t wu = ff->flash.write_unit;

    if (ff->cut) return RELAIS_FW_EIO;
    if (addr % wu || len % wu || addr > region_size(ff) || len > region_size(ff) - addr) {
        ff->violations++;
        return RELAIS_FW_EINVAL;
    }
    for (uint32_t w = addr / wu; w < (addr + len) / wu; w++) {
        if (ff->programmed[w]) {
            ff->violations++;
            return RELAIS_FW_EINVAL;
        }
    }
    uint8_t *dst = ff->mem + addr;
    for (uint32_t i = 0; i < len; i++) {
        if ((dst[i] & src[i]) != src[i]) {
            ff->violations++;
            return RELAIS_FW_EINVAL;
        }
    }
    uint32_t n = budget(ff, len);
    memcpy(dst, src, n); /* == dst & src: no bit is set, checked above */
    memset(ff->programmed + addr / wu, 1, (n + wu - 1) / wu);
    ff->cost += n;
    int rc = persist(ff, addr, n);
    if (n < len) return power_cut(ff);
    if (rc) return rc;
    ff->programs++;
    return RELAIS_FW_OK;
}

static int ff_erase(void *ctx, uint32_t sector)
{
    struct relais_fw_flash_file *ff = ctx;
    uint32_t ss = ff->flash.sector_size, wu = ff->flash.write_unit;

    if (ff->cut) return RELAIS_FW_EIO;
    if (sector >= ff->flash.sector_count) {
        ff->violations++;
        return RELAIS_FW_EINVAL;
    }
    uint32_t base = sector * ss, n = budget(ff, ss);
    memset(ff->mem + base, 0xFF, n);
    if (n < ss && ff->cut_erase == RELAIS_FW_FLASH_CUT_GARBAGE) {
        uint32_t x = (uint32_t)ff->cost * 2654435761u + base + 1;
        for (uint32_t i = n; i < ss; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            ff->mem[base + i] = (uint8_t)x;
        }
    }
    /* A write unit is fresh again only when wholly erased; one the erase
     * touched without finishing is not. */
    uint8_t *pw = ff->programmed + base / wu;
    memset(pw, 0, n / wu);
    if (n % wu) pw[n / wu] = 1;
    if (n < ss && ff->cut_erase == RELAIS_FW_FLASH_CUT_GARBAGE)
        memset(pw + n / wu, 1, (ss - n + wu - 1) / wu);
    ff->cost += n;
    int rc = persist(ff, base, ss);
    if (n < ss) return power_cut(ff);
    if (rc) return rc;
    ff->erases++;
    return RELAIS_FW_OK;
}

static bool is_pow2(uint32_t x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

int relais_fw_flash_file_open(struct relais_fw_flash_file *ff, const char *path,
                              uint32_t sector_size, uint32_t sector_count, uint32_t write_unit)
{
    memset(ff, 0, sizeof(*ff));
    ff->fd = -1;
    ff->cut_at = RELAIS_FW_FLASH_NO_CUT;
    if (!is_pow2(write_unit) || sector_size == 0 || sector_size % write_unit || sector_count == 0 ||
        (uint64_t)sector_size * sector_count > 0x7FFFFFFFu)
        return RELAIS_FW_EINVAL;
    ff->flash = (struct relais_fw_flash){
        .sector_size = sector_size,
        .sector_count = sector_count,
        .write_unit = write_unit,
        .read = ff_read,
        .program = ff_program,
        .erase = ff_erase,
        .ctx = ff,
    };
    uint32_t size = sector_size * sector_count;
    ff->mem = malloc(size);
    ff->programmed = calloc(size / write_unit, 1);
    if (!ff->mem || !ff->programmed) return RELAIS_FW_EIO;
    memset(ff->mem, 0xFF, size);
    if (!path) return RELAIS_FW_OK;

    ff->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (ff->fd < 0) return RELAIS_FW_EIO;
    struct stat st;
    if (fstat(ff->fd, &st) != 0) return RELAIS_FW_EIO;
    if (st.st_size == 0) return persist(ff, 0, size);
    if (st.st_size != (off_t)size) return RELAIS_FW_EINVAL;
    for (uint32_t off = 0; off < size;) {
        ssize_t n = pread(ff->fd, ff->mem + off, size - off, (off_t)off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return RELAIS_FW_EIO;
        off += (uint32_t)n;
    }
    for (uint32_t w = 0; w < size / write_unit; w++)
        for (uint32_t i = 0; i < write_unit; i++)
            if (ff->mem[w * write_unit + i] != 0xFF) ff->programmed[w] = 1;
    return RELAIS_FW_OK;
}

void relais_fw_flash_file_close(struct relais_fw_flash_file *ff)
{
    if (!ff) return;
    if (ff->fd >= 0) close(ff->fd);
    free(ff->mem);
    free(ff->programmed);
    ff->fd = -1;
    ff->mem = NULL;
    ff->programmed = NULL;
}

void relais_fw_flash_file_cut_after(struct relais_fw_flash_file *ff, uint64_t n)
{
    ff->cut_at = n == RELAIS_FW_FLASH_NO_CUT ? n : ff->cost + n;
}

void relais_fw_flash_file_power_on(struct relais_fw_flash_file *ff)
{
    ff->cut = false;
    ff->cut_at = RELAIS_FW_FLASH_NO_CUT;
}
