// SPDX-License-Identifier: Apache-2.0
/* A simulated device playing its share of a device scenario (scn_player.h). */
#define _POSIX_C_SOURCE 200809L
#include "scn_player.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FILE_REREAD_MS 5u

int relais_scn_player_open(struct relais_scn_player *p, const char *prog, const char *path,
                           enum relais_scn_device device, uint64_t speed, const char *clock_file,
                           const char *progress_file)
{
    memset(p, 0, sizeof *p);
    p->prog = prog;
    p->speed = speed;
    p->clock_file = clock_file;
    p->progress_file = progress_file;
    p->file_t = INT64_MIN;
    p->progress_t = INT64_MIN;
    struct relais_scn_error err;
    if (relais_scn_load(&p->scn, path, 0, &err)) {
        if (err.line)
            fprintf(stderr, "%s: %s:%" PRIu32 ": %s\n", prog, path, err.line, err.why);
        else
            fprintf(stderr, "%s: %s: %s\n", prog, path, err.why);
        relais_scn_free(&p->scn);
        return -1;
    }
    if (progress_file && !clock_file) {
        fprintf(stderr, "%s: --progress-file needs --clock-file\n", prog);
        relais_scn_free(&p->scn);
        return -1;
    }
    relais_scn_iter_init(&p->it, &p->scn, device);
    return 0;
}

void relais_scn_player_close(struct relais_scn_player *p)
{
    relais_scn_free(&p->scn);
}

size_t relais_scn_player_count(const struct relais_scn_player *p)
{
    return relais_scn_count(&p->scn, p->it.device);
}

bool relais_scn_player_done(const struct relais_scn_player *p)
{
    return p->taken >= relais_scn_player_count(p);
}

/* The driven time: the file's number, read again when FILE_REREAD_MS old. */
static int64_t driven_time(struct relais_scn_player *p, uint64_t now_ms)
{
    if (p->file_t != INT64_MIN && now_ms - p->file_read_ms < FILE_REREAD_MS) return p->file_t;
    p->file_read_ms = now_ms;
    int fd = open(p->clock_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return p->file_t;
    char buf[32];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return p->file_t;
    buf[n] = '\0';
    if (strncmp(buf, "end", 3) == 0) {
        p->ended = true;
        p->file_t = INT64_MAX;
        return p->file_t;
    }
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    while (*end == '\n' || *end == ' ')
        end++;
    if (errno || end == buf || *end) return p->file_t; /* half written: the last value */
    p->file_t = v;
    return p->file_t;
}

bool relais_scn_player_may_stop(struct relais_scn_player *p, uint64_t now_ms)
{
    if (!p->clock_file) return true;
    driven_time(p, now_ms);
    return p->ended;
}

const struct relais_scn_event *relais_scn_player_due(struct relais_scn_player *p, uint64_t now_ms)
{
    const struct relais_scn_event *e = relais_scn_peek(&p->it);
    if (!e) return NULL;
    if (p->clock_file) {
        int64_t t = driven_time(p, now_ms);
        return t != INT64_MIN && e->t <= t ? e : NULL;
    }
    if (!p->clock_set) {
        relais_scn_clock_init(&p->clock, p->speed, e->t, now_ms);
        p->clock_set = true;
    }
    return relais_scn_clock_due(&p->clock, e->t, now_ms) ? e : NULL;
}

void relais_scn_player_take(struct relais_scn_player *p)
{
    if (relais_scn_next(&p->it)) p->taken++;
}

void relais_scn_player_progress(struct relais_scn_player *p, uint64_t now_ms, bool device_idle)
{
    if (!p->progress_file || !device_idle) return;
    int64_t t = driven_time(p, now_ms);
    if (t == INT64_MIN || t == INT64_MAX || t == p->progress_t) return;
    const struct relais_scn_event *e = relais_scn_peek(&p->it);
    if (e && e->t <= t) return; /* still events to play up to t */
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp", p->progress_file);
    if (n < 0 || (size_t)n >= sizeof tmp) return;
    FILE *f = fopen(tmp, "w");
    if (!f) return;
    int ok = fprintf(f, "%" PRId64 "\n", t) > 0;
    ok = (fclose(f) == 0) && ok;
    if (ok && rename(tmp, p->progress_file) == 0) p->progress_t = t;
}
