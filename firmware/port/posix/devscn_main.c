// SPDX-License-Identifier: Apache-2.0
/*
 * relais-devscn: checks a device scenario (docs/device-scenarios.md) and
 * lists its events in time order, one per line, for people and for drivers
 * (tools/demo/home.sh steps the gateway's clock from event to event):
 *
 *   relais-devscn FILE [--seed N]
 *
 *   TIME DEVICE LINE RECORD...      e.g.
 *   1795424400 vitals 31 temp=36.7 spo2=97 hr=66
 *   1795424400 pillbox 36 dose=am
 *
 * TIME in seconds since 1970 (UTC), DEVICE `vitals` or `pillbox`, LINE the
 * file's line.  Then on stderr: the name, D1 and the counts.  Exits 0, or 2
 * with `relais-devscn: FILE:LINE: why` for a file the parser refuses.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"

static int usage(void)
{
    fprintf(stderr, "usage: relais-devscn FILE [--seed N]\n");
    return 2;
}

int main(int argc, char **argv)
{
    uint64_t seed = 0;
    if (argc != 2 && argc != 4) return usage();
    if (argc == 4) {
        char *end;
        if (strcmp(argv[2], "--seed") != 0) return usage();
        seed = strtoull(argv[3], &end, 10);
        if (!argv[3][0] || *end || !seed) return usage();
    }
    struct relais_scn s;
    struct relais_scn_error err;
    if (relais_scn_load(&s, argv[1], seed, &err)) {
        fprintf(stderr, "relais-devscn: %s:%" PRIu32 ": %s\n", argv[1], err.line, err.why);
        relais_scn_free(&s);
        return 2;
    }
    for (size_t i = 0; i < s.n_ev; i++) {
        const struct relais_scn_event *e = &s.ev[i];
        printf("%" PRId64 " %s %" PRIu32, e->t,
               e->device == RELAIS_SCN_PILLBOX ? "pillbox" : "vitals", e->line);
        for (uint32_t k = 0; k < e->n; k++) {
            const struct relais_scn_record *r = &e->rec[k];
            if (r->kind == RELAIS_SCN_STR)
                printf(" %s=%s", r->name, e->slot);
            else if (r->kind == RELAIS_SCN_BOOL)
                printf(" %s=%s", r->name, r->vb ? "true" : "false");
            else
                printf(" %s=%g", r->name, r->v);
        }
        putchar('\n');
    }
    fprintf(stderr,
            "relais-devscn: %s: D1 %" PRId64 " (UTC%+" PRId32
            " s), %zu vitals and %zu pill box events, "
            "%" PRIu32 " missed dose%s\n",
            s.name[0] ? s.name : argv[1], s.d1, s.utc_offset_s,
            relais_scn_count(&s, RELAIS_SCN_VITALS), relais_scn_count(&s, RELAIS_SCN_PILLBOX),
            s.missed, s.missed == 1 ? "" : "s");
    relais_scn_free(&s);
    return fflush(stdout) == 0 ? 0 : 1;
}
