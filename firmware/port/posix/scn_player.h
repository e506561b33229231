/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A simulated device playing its share of a device scenario
 * (docs/device-scenarios.md): the events of one device kind, each when its
 * time has come on one of two clocks:
 *
 *   - accelerated: `speed` scenario seconds per real second from the first
 *     event (0: every event is due at once, as fast as the acks allow);
 *   - driven (clock_file): the scenario time is whatever a driver last wrote
 *     in the file (seconds since 1970, decimal), so that the gateway's test
 *     clock and the devices move in lockstep (tests/integration/home_lib.sh).
 *     The file is read again at most every 5 ms; missing or unreadable,
 *     nothing is due; "end": everything is due and the device may stop once
 *     it has played all (until then it stays, to take commands).
 *
 * With a progress_file, the player writes there (atomically: a temporary file
 * renamed) the driven time it has fully played: every event up to it taken
 * and the device idle (all acknowledged).  A driver waits for it before
 * moving the clock on.
 *
 * Messages (a parse error with its line) go to stderr, prefixed with prog.
 */
#ifndef RELAIS_FW_SCN_PLAYER_H
#define RELAIS_FW_SCN_PLAYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scenario.h"

struct relais_scn_player {
    const char *prog;
    struct relais_scn scn;
    struct relais_scn_iter it;
    struct relais_scn_clock clock;
    bool clock_set;
    uint64_t speed;
    const char *clock_file;    /* NULL: accelerated */
    const char *progress_file; /* NULL: none */
    int64_t file_t;            /* the driven time last read (INT64_MIN: none yet) */
    uint64_t file_read_ms;     /* when it was read */
    int64_t progress_t;        /* last written (INT64_MIN: none yet) */
    size_t taken;
    bool ended; /* the clock file said "end" */
};

/* Loads path for device.  Returns 0, or -1 (said on stderr; 2 is then the
 * exit code of a usage error). */
int relais_scn_player_open(struct relais_scn_player *p, const char *prog, const char *path,
                           enum relais_scn_device device, uint64_t speed, const char *clock_file,
                           const char *progress_file);
void relais_scn_player_close(struct relais_scn_player *p);

/* The device's events in the scenario. */
size_t relais_scn_player_count(const struct relais_scn_player *p);

/* The next event if its time has come at monotonic time now_ms, else NULL.
 * It stays the next one until relais_scn_player_take(). */
const struct relais_scn_event *relais_scn_player_due(struct relais_scn_player *p, uint64_t now_ms);
void relais_scn_player_take(struct relais_scn_player *p);

/* True when every event has been taken. */
bool relais_scn_player_done(const struct relais_scn_player *p);
/* True when the device may stop once done: always with the accelerated
 * clock, after "end" with a driven one. */
bool relais_scn_player_may_stop(struct relais_scn_player *p, uint64_t now_ms);

/* Call each turn with whether the device is idle (nothing unacknowledged):
 * updates the progress file when there is one. */
void relais_scn_player_progress(struct relais_scn_player *p, uint64_t now_ms, bool device_idle);

#endif
