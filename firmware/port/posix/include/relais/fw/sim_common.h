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
/* The options both device sims take. */
struct relais_sim_opts {
    const char *host, *device, *flash_path;
    int port;
    uint64_t count, interval_ms, bt_start, bt_step; /* the generator */
    uint32_t resend_ms, resend_max_ms;
    const char *scenario_path; /* --scenario: the sensors play it */
    uint64_t speed;
    const char *clock_file, *progress_file;
};

/* Their getopt_long entries (the letters relais_sim_opt() takes). */
#define RELAIS_SIM_OPTIONS                                                                         \
    {"host", 1, 0, 'h'}, {"port", 1, 0, 'p'}, {"device", 1, 0, 'd'}, {"flash", 1, 0, 'f'},         \
        {"count", 1, 0, 'n'}, {"interval-ms", 1, 0, 'i'}, {"bt-start", 1, 0, 'b'},                 \
        {"bt-step", 1, 0, 'B'}, {"resend-ms", 1, 0, 'r'}, {"resend-max-ms", 1, 0, 'R'},            \
        {"scenario", 1, 0, 'S'}, {"speed", 1, 0, 's'}, {"clock-file", 1, 0, 'C'},                  \
    {                                                                                              \
        "progress-file", 1, 0, 'G'                                                                 \
    }

/* One getopt result c with its argument: 1 when it was one of those
 * options, 0 when it is not, -1 for a bad value (said on stderr). */
int relais_sim_opt(const char *prog, int c, const char *arg, struct relais_sim_opts *o);

/* After the options: the clock options need --scenario and --speed excludes
 * --clock-file; --bt-step defaults to 60 with --bt-start; the resend cap is
 * at least the first timeout.  Returns 0, or -1 (said on stderr). */
int relais_sim_opts_finish(const char *prog, struct relais_sim_opts *o);

/* Opens (or creates) the flash file and mounts the ring log on it. */
int relais_sim_log_open(const char *prog, struct relais_fw_flash_file *ff,
                        struct relais_fw_ringlog *log, const char *path, uint32_t sector_size,
                        uint32_t sector_count, uint32_t write_unit, uint8_t *work, size_t work_len,
                        uint32_t seq_block);

#endif
