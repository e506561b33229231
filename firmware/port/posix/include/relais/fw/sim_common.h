/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the posix device processes (relais-vitals-sim, relais-pillbox-sim)
 * share: clocks, option numbers, a secret's first line, SIGTERM/SIGINT as a
 * signalfd, and the flash file with its ring log mounted.  Messages start
 * with the program's name.
 */
#ifndef RELAIS_FW_SIM_COMMON_H
#define RELAIS_FW_SIM_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "relais/fw/flash_file.h"
#include "relais/fw/ringlog.h"

uint64_t relais_sim_mono_ms(void);
int64_t relais_sim_unix_ms(void);
/* A decimal option value in 0..max; -1 (said on stderr) otherwise. */
int relais_sim_parse_u64(const char *prog, const char *what, const char *arg, uint64_t max,
                         uint64_t *out);
/* The first line of path into buf (NUL-terminated, newline stripped); its
 * length, or -1 (said on stderr) when there is none. */
int relais_sim_read_line(const char *prog, const char *path, char *buf, size_t cap);
/* SIGTERM and SIGINT blocked and delivered to the returned signalfd. */
int relais_sim_signals(void);
/* Opens (or creates) the flash file and mounts the ring log on it. */
int relais_sim_log_open(const char *prog, struct relais_fw_flash_file *ff,
                        struct relais_fw_ringlog *log, const char *path, uint32_t sector_size,
                        uint32_t sector_count, uint32_t write_unit, uint8_t *work, size_t work_len,
                        uint32_t seq_block);

#endif
