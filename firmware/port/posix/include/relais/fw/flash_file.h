/* SPDX-License-Identifier: Apache-2.0 */
/*
 * posix port: NOR flash emulated in memory, optionally backed by a file, with
 * a power-cut injector -- the flash of the simulated devices and of the
 * firmware tests.
 *
 * NOR rules enforced (a breach is counted in violations and the call fails
 * with RELAIS_FW_EINVAL, nothing applied): program() only clears bits (a
 * 0 -> 1 bit is refused), addr and len are multiples of write_unit inside the
 * region, and a write unit is programmed at most once between two erases
 * (the rule of flashes with ECC words, and what the ring log promises).
 *
 * Power-cut model.  Program and erase cost one unit per byte, in ascending
 * address order; cut_after(n) lets n more units through.  The operation that
 * crosses the budget applies its bytes up to it and fails with RELAIS_FW_EIO;
 * from then on the power is off: every program and erase fails with
 * RELAIS_FW_EIO and applies nothing (reads still work, for the test) until
 * power_on().  A cut program leaves its first bytes programmed and the rest
 * untouched.  A cut erase is not atomic: the bytes before the cut are 0xFF,
 * those after keep their old content (RELAIS_FW_FLASH_CUT_KEEP) or become
 * garbage (RELAIS_FW_FLASH_CUT_GARBAGE: a deterministic pseudo-random pattern,
 * a chip that scrambles a sector it did not finish); either way a write unit
 * the cut erase did not wholly reach cannot be programmed until the sector
 * is erased again, even where it reads 0xFF.  Not modelled: bits
 * programmed or erased only half-way ("weak" bits that read back differently
 * later).
 *
 * The file, when given, holds the whole region and is written through after
 * every program and erase (no fsync: it survives the process being killed,
 * which is what a simulated device needs).
 */
#ifndef RELAIS_FW_FLASH_FILE_H
#define RELAIS_FW_FLASH_FILE_H

#include <stdbool.h>
#include <stdint.h>

#include "relais/fw/flash.h"

enum relais_fw_flash_cut_erase {
    RELAIS_FW_FLASH_CUT_KEEP = 0,    /* bytes after the cut keep their old content */
    RELAIS_FW_FLASH_CUT_GARBAGE = 1, /* bytes after the cut become garbage */
};

#define RELAIS_FW_FLASH_NO_CUT UINT64_MAX

struct relais_fw_flash_file {
    struct relais_fw_flash flash; /* give &ff->flash to the core */
    uint8_t *mem;                 /* the contents; owned, freed by close */
    uint8_t *programmed;          /* per write unit: programmed since its erase; owned */
    int fd;                       /* -1: memory only */
    uint64_t cost;                /* bytes programmed + erased so far (cut units) */
    uint64_t cut_at;              /* cost at which the power goes; NO_CUT: never */
    bool cut;                     /* the power is off */
    enum relais_fw_flash_cut_erase cut_erase;
    int exit_on_cut;           /* nonzero: _exit(exit_on_cut) at the cut (a device process) */
    uint32_t violations;       /* NOR rules broken by the caller */
    uint64_t programs, erases; /* calls that completed */
};

/*
 * Opens a flash of sector_count sectors of sector_size bytes, programmable in
 * write_unit bytes (a power of two).  path NULL: in memory, erased.  Else the
 * file holds the contents: created (0600) erased when missing, loaded when it
 * has exactly the region's size (its non-0xFF write units count as
 * programmed), refused otherwise.  Returns RELAIS_FW_OK, RELAIS_FW_EINVAL (bad
 * geometry, file of another size) or RELAIS_FW_EIO; close() in every case.
 */
int relais_fw_flash_file_open(struct relais_fw_flash_file *ff, const char *path,
                              uint32_t sector_size, uint32_t sector_count, uint32_t write_unit);
/* Frees the memory and closes the file; accepts a zeroed or half-opened ff. */
void relais_fw_flash_file_close(struct relais_fw_flash_file *ff);

/* Arms a power cut n program/erase bytes from now (RELAIS_FW_FLASH_NO_CUT:
 * disarms). */
void relais_fw_flash_file_cut_after(struct relais_fw_flash_file *ff, uint64_t n);
/* Power back on: clears the cut and disarms the injector. */
void relais_fw_flash_file_power_on(struct relais_fw_flash_file *ff);

#endif
