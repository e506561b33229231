/* SPDX-License-Identifier: Apache-2.0 */
/* What the posix device processes share (relais/fw/sim_common.h). */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, sigprocmask */

#include "relais/fw/sim_common.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>

uint64_t relais_sim_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int64_t relais_sim_unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int relais_sim_parse_u64(const char *prog, const char *what, const char *arg, uint64_t max,
                         uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (errno || !end || end == arg || *end || arg[0] == '-' || v > max) {
        fprintf(stderr, "%s: bad %s: %s\n", prog, what, arg);
        return -1;
    }
    *out = v;
    return 0;
}

int relais_sim_opt(const char *prog, int c, const char *arg, struct relais_sim_opts *o)
{
    uint64_t u = 0;
    switch (c) {
    case 'h': o->host = arg; return 1;
    case 'p':
        if (relais_sim_parse_u64(prog, "--port", arg, 65535, &u)) return -1;
        o->port = (int)u;
        return 1;
    case 'd': o->device = arg; return 1;
    case 'f': o->flash_path = arg; return 1;
    case 'n': return relais_sim_parse_u64(prog, "--count", arg, 100000000, &o->count) ? -1 : 1;
    case 'i':
        return relais_sim_parse_u64(prog, "--interval-ms", arg, 86400000, &o->interval_ms) ? -1 : 1;
    case 'b':
        return relais_sim_parse_u64(prog, "--bt-start", arg, 253402300799ULL, &o->bt_start) ? -1
                                                                                            : 1;
    case 'B': return relais_sim_parse_u64(prog, "--bt-step", arg, 86400, &o->bt_step) ? -1 : 1;
    case 'r':
        if (relais_sim_parse_u64(prog, "--resend-ms", arg, 3600000, &u) || !u) return -1;
        o->resend_ms = (uint32_t)u;
        return 1;
    case 'R':
        if (relais_sim_parse_u64(prog, "--resend-max-ms", arg, 3600000, &u) || !u) return -1;
        o->resend_max_ms = (uint32_t)u;
        return 1;
    case 'S': o->scenario_path = arg; return 1;
    case 's': return relais_sim_parse_u64(prog, "--speed", arg, 1000000, &o->speed) ? -1 : 1;
    case 'C': o->clock_file = arg; return 1;
    case 'G': o->progress_file = arg; return 1;
    default: return 0;
    }
}

int relais_sim_opts_finish(const char *prog, struct relais_sim_opts *o)
{
    if ((o->clock_file || o->progress_file || o->speed) && !o->scenario_path) {
        fprintf(stderr, "%s: --speed, --clock-file and --progress-file need --scenario\n", prog);
        return -1;
    }
    if (o->clock_file && o->speed) {
        fprintf(stderr, "%s: --speed and --clock-file exclude each other\n", prog);
        return -1;
    }
    if (o->bt_start && !o->bt_step) o->bt_step = 60;
    if (o->resend_max_ms < o->resend_ms) o->resend_max_ms = o->resend_ms;
    return 0;
}

int relais_sim_read_line(const char *prog, const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = '\0';
    n = strcspn(buf, "\r\n");
    buf[n] = '\0';
    if (!n) {
        fprintf(stderr, "%s: cannot read %s\n", prog, path);
        return -1;
    }
    return (int)n;
}

int relais_sim_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) return -1;
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int relais_sim_log_open(const char *prog, struct relais_fw_flash_file *ff,
                        struct relais_fw_ringlog *log, const char *path, uint32_t sector_size,
                        uint32_t sector_count, uint32_t write_unit, uint8_t *work, size_t work_len,
                        uint32_t seq_block)
{
    int rc = relais_fw_flash_file_open(ff, path, sector_size, sector_count, write_unit);
    if (rc == RELAIS_FW_OK)
        rc = relais_fw_ringlog_mount(log, &ff->flash, work, (uint32_t)work_len, seq_block);
    if (rc) fprintf(stderr, "%s: %s: %s\n", prog, path, relais_fw_strerror(rc));
    return rc;
}
