/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The engine backend: relais's rules engine in this process, on a store in
 * a temporary directory, with a fake clock the scenario moves.  Packs are
 * decoded and stored as ingest does (SenML decode, record signature, put,
 * commit), then the engine runs and its notifications are delivered.  Every
 * scenario device signs its dose packs with one record key minted for the
 * run, verified as relaisd does.
 */
#include "scenario.h"

#include "relais/care_report.h"
#include "relais/engine.h"
#include "relais/error.h"
#include "relais/senml.h"
#include "relais/crypto.h"
#include "relais/record_sig.h"
#include "relais/store.h"
#include "relais/store_care.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fake_clock {
    int64_t wall_ms;
    uint64_t mono_ms;
};

struct eng {
    uint8_t key[RELAIS_STORE_KEY_LEN];
    bool has_key;
    char dir[64];
    char db[128];
    char gateway[40];
    struct fake_clock fc;
    struct relais_clock clock;
    struct relais_store *st;
    struct relais_engine *e;
    struct relais_pack pack;
    bool clock_unsynced, store_busy;
    uint8_t record_key[RELAIS_WIRE_RECORD_KEY_LEN]; /* the scenario devices' */
};

static uint64_t fc_mono(void *ctx)
{
    return ((struct fake_clock *)ctx)->mono_ms;
}

static int64_t fc_wall(void *ctx)
{
    return ((struct fake_clock *)ctx)->wall_ms;
}

static int deliver_cb(void *ud, const struct relais_alert_event *ev, const struct relais_alert *a)
{
    (void)ud;
    (void)ev;
    (void)a;
    return RELAIS_OK;
}

static int run_rules(struct eng *g)
{
    bool more = true;
    int rc = RELAIS_OK;
    for (int i = 0; more && i < 1000; i++)
        if ((rc = relais_engine_run(g->e, &more))) return rc;
    unsigned n;
    do {
        if ((rc = relais_engine_deliver(g->e, deliver_cb, NULL, &n))) return rc;
    } while (n);
    return RELAIS_OK;
}

static int open_all(struct eng *g)
{
    /* a store of its own for one run: a key of its own, never written,
     * kept across the scenario's restarts */
    int rc;
    if (!g->has_key) {
        if ((rc = relais_random_bytes(g->key, sizeof g->key))) return rc;
        g->has_key = true;
    }
    const struct relais_store_opts so = {.key = g->key};
    rc = relais_store_open(&g->st, g->db, &so);
    if (rc) return rc;
    const struct relais_engine_opts eo = {.gateway_id = g->gateway, .max_renotify = 3};
    return relais_engine_create(&g->e, g->st, &g->clock, &eo);
}

static void close_all(struct eng *g)
{
    relais_engine_destroy(g->e);
    g->e = NULL;
    relais_store_close(g->st);
    g->st = NULL;
}

static int e_start(struct backend *b, int64_t wall_ms)
{
    struct eng *g = b->priv;
    snprintf(g->dir, sizeof g->dir, "/tmp/relais-scenario-XXXXXX");
    if (!mkdtemp(g->dir)) return RELAIS_EIO;
    snprintf(g->db, sizeof g->db, "%s/relais.db", g->dir);
    g->fc.wall_ms = wall_ms;
    g->fc.mono_ms = 1000000;
    g->clock = (struct relais_clock){.mono_ms_cb = fc_mono, .wall_ms_cb = fc_wall, .ctx = &g->fc};
    relais_pack_init(&g->pack);
    return open_all(g);
}

static void e_stop(struct backend *b)
{
    struct eng *g = b->priv;
    close_all(g);
    relais_pack_cleanup(&g->pack);
    if (g->dir[0] && !getenv("RELAIS_SCENARIO_KEEP")) {
        char path[160];
        static const char *const files[] = {"relais.db", "relais.db-wal", "relais.db-shm", NULL};
        for (size_t i = 0; files[i]; i++) {
            snprintf(path, sizeof path, "%s/%s", g->dir, files[i]);
            unlink(path);
        }
        rmdir(g->dir);
    } else if (g->dir[0]) {
        fprintf(stderr, "scenario: store kept in %s\n", g->dir);
    }
}

static int e_restart(struct backend *b, bool crash)
{
    struct eng *g = b->priv;
    (void)crash; /* in-process, every transaction is committed or not begun: a stop */
    close_all(g);
    g->fc.mono_ms += 5000; /* a new process: its own monotonic base */
    int rc = open_all(g);
    if (!rc) {
        relais_engine_set_condition(g->e, RELAIS_RULE_CLOCK_NOT_SYNCED, g->clock_unsynced,
                                    "the test clock is unsynchronised");
        relais_engine_set_condition(g->e, RELAIS_RULE_STORE_BUSY, g->store_busy,
                                    "the store is over its quota");
        rc = run_rules(g);
    }
    return rc;
}

static int e_advance(struct backend *b, int64_t delta)
{
    struct eng *g = b->priv;
    g->fc.wall_ms += delta;
    g->fc.mono_ms += (uint64_t)delta;
    return run_rules(g);
}

static int e_jump(struct backend *b, int64_t delta)
{
    struct eng *g = b->priv;
    g->fc.wall_ms += delta;
    return run_rules(g);
}

static json_t *e_apply_plan(struct backend *b, const char *json)
{
    struct eng *g = b->priv;
    struct relais_plan_result res;
    int rc = relais_engine_apply_plan(g->e, json, strlen(json), "scenario", &res);
    if (rc) return json_pack("{s:s}", "error", relais_strerror(rc));
    static const char *const st[] = {"applied", "unchanged", "rejected"};
    json_t *o =
        json_pack("{s:s, s:I, s:I}", "status", st[res.status], "version", (json_int_t)res.version,
                  "active_version", (json_int_t)res.active_version);
    if (res.status == RELAIS_PLAN_REJECTED) json_object_set_new(o, "error", json_string(res.error));
    if (run_rules(g)) json_object_set_new(o, "run_error", json_true());
    return o;
}

static int e_send(struct backend *b, const char *device, uint64_t seq, const char *senml)
{
    struct eng *g = b->priv;
    struct relais_senml_error err;
    size_t len = strlen(senml);
    int rc = relais_senml_decode(&g->pack, RELAIS_SENML_JSON, (const uint8_t *)senml, len, device,
                                 (double)g->fc.wall_ms / 1000.0, &err);
    if (rc) {
        fprintf(stderr, "scenario: the pack does not decode: %s\n", err.detail);
        return rc;
    }
    if (relais_pack_has_dose(&g->pack)) {
        /* the device signs, ingest verifies (relais/record_sig.h) */
        uint8_t sig[RELAIS_WIRE_SIG_LEN];
        if ((rc = relais_record_sig_compute(g->record_key, device, seq, (const uint8_t *)senml, len,
                                            sig)) ||
            (rc = relais_record_sig_verify(g->record_key, device, seq, (const uint8_t *)senml, len,
                                           sig, sizeof sig))) {
            fprintf(stderr, "scenario: the dose pack's signature: %s\n", relais_strerror(rc));
            return rc;
        }
        g->pack.signed_ok = true;
        memcpy(g->pack.sig, sig, sizeof sig);
    }
    snprintf(g->pack.device, sizeof g->pack.device, "%s", device);
    g->pack.seq = seq;
    enum relais_store_put put;
    if ((rc = relais_store_begin(g->st)) ||
        (rc = relais_store_put_pack(g->st, &g->pack, (const uint8_t *)senml, len,
                                    RELAIS_TRANSPORT_MQTT, g->fc.wall_ms, &put)) ||
        (rc = relais_store_commit(g->st))) {
        relais_store_rollback(g->st);
        return rc;
    }
    return run_rules(g);
}

static json_t *e_act(struct backend *b, const char *id, const char *action, const char *who)
{
    struct eng *g = b->priv;
    struct relais_alert a;
    char err[200];
    int rc = relais_engine_act(g->e, id,
                               strcmp(action, "resolve") == 0 ? RELAIS_ACT_RESOLVE : RELAIS_ACT_ACK,
                               who, &a, err, sizeof err);
    if (rc) return json_pack("{s:s}", "error", err[0] ? err : relais_strerror(rc));
    if (run_rules(g)) return json_pack("{s:s}", "error", "the rules failed after the act");
    return relais_report_alert(&a);
}

static int e_condition(struct backend *b, const char *rule, bool active)
{
    struct eng *g = b->priv;
    if (strcmp(rule, "clock_not_synced") == 0) {
        g->clock_unsynced = active;
        relais_engine_set_condition(g->e, RELAIS_RULE_CLOCK_NOT_SYNCED, active,
                                    "the test clock is unsynchronised");
    } else if (strcmp(rule, "store_busy") == 0) {
        g->store_busy = active;
        relais_engine_set_condition(g->e, RELAIS_RULE_STORE_BUSY, active,
                                    "the store is over its quota");
    } else {
        return RELAIS_EINVAL;
    }
    return run_rules(g);
}

static json_t *e_query(struct backend *b, const char *what, const char *arg)
{
    struct eng *g = b->priv;
    if (strcmp(what, "events") == 0)
        return relais_report_events(g->st, NULL, arg ? strtoll(arg, NULL, 10) : 0);
    if (strcmp(what, "alerts") == 0) return relais_report_alerts(g->st, NULL);
    if (strcmp(what, "commands") == 0) return relais_report_commands(g->st, 0);
    if (strcmp(what, "delays") == 0) return relais_report_delays(g->st);
    if (strcmp(what, "adherence") == 0) {
        const struct relais_careplan *p = relais_engine_plan(g->e);
        return p ? relais_report_adherence(g->st, p, g->fc.wall_ms) : json_null();
    }
    return NULL;
}

static bool e_device_got(struct backend *b, const char *device, const char *cmd)
{
    (void)b;
    (void)device;
    (void)cmd;
    return true;
}

static int e_connect(struct backend *b, const char *device)
{
    (void)b;
    (void)device;
    return RELAIS_OK;
}

int backend_engine_init(struct backend *b, const char *gateway_id)
{
    struct eng *g = calloc(1, sizeof *g);
    if (!g) return RELAIS_ENOMEM;
    snprintf(g->gateway, sizeof g->gateway, "%s", gateway_id);
    int rc = relais_random_bytes(g->record_key, sizeof g->record_key);
    if (rc) {
        free(g);
        return rc;
    }
    *b = (struct backend){
        .name = "engine",
        .start = e_start,
        .stop = e_stop,
        .restart = e_restart,
        .advance = e_advance,
        .jump = e_jump,
        .apply_plan = e_apply_plan,
        .send = e_send,
        .act = e_act,
        .condition = e_condition,
        .query = e_query,
        .device_got = e_device_got,
        .connect = e_connect,
        .priv = g,
    };
    return RELAIS_OK;
}
