/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Failure injection into the store (STYLE.md "Tests", after SQLite's
 * malloc_common.tcl): the Nth write, fsync or shared-memory map that SQLite
 * asks of the OS fails with an I/O error, for N = 1, 2, ... until a run
 * completes without the fault being reached; each run then checks that the
 * store comes back consistent and that nothing acknowledged was lost
 * (DESIGN.md 3.5).
 *
 * The fault sits in a SQLite VFS shim registered as the default VFS: it wraps
 * "unix" and counts xWrite and xTruncate (writes), xSync (syncs) and xShmMap
 * from the start of each scenario.  A transient fault fails the Nth call
 * only; a persistent one fails it and every later call (the disk went away).
 *
 * Two scenarios, each in a fresh directory with an ingest on a fake clock,
 * every ack recorded; a failed open ends a scenario:
 *   basic  about 25 small packs of two devices through relais_ingest_submit
 *          (commit_max_packs 3) with resends, one seq reused with another
 *          body, a malformed pack, an unroutable input, the packs acked busy
 *          resent, flushes between groups;
 *   spill  large packs (about 25 KiB) with a 12-page cache, so that SQLite
 *          writes in the middle of transactions, not only at COMMIT; devices
 *          first seen mid-batch; rejects and a reused seq (audit rows) in the
 *          same batches.
 * Then the fault is turned off and the devices resend what was told busy (at
 * most three rounds): the running gateway must take all of it.  Everything is
 * closed, the store is reopened without faults and checked: nothing was moved
 * aside as corrupt; PRAGMA integrity_check is ok; every pack acked stored or
 * duplicate is there exactly once with all its readings; every pack acked
 * rejected has its reject record; no pack is stored twice, none is partial,
 * every stored body is one that was sent; a row is flagged exactly when an
 * earlier row has its (device, seq); the audit chain verifies and matches the
 * rows it describes; the store still takes a pack.  Packs acked busy may be
 * there or not.  The run in which the fault is no longer reached must store
 * everything with no busy ack.
 *
 * Usage: test_store_faults [write|sync|shmmap ...] [basic|spill ...]
 *        (default: every kind, every scenario)
 * One line per run on stdout, and one per (scenario, kind, transient or
 * persistent) with the N range covered; SQLite's and relais's logs of a run
 * go to a file that is printed only when the run's checks fail.  Exit status
 * 0 when every check held and the write and sync faults really produced busy
 * acks (commit failures), so that the test cannot pass vacuously; xShmMap is
 * only called while opening, where its faults end the scenario.
 *
 * Expected to fail until the store handles a transaction that SQLite rolled
 * back by itself (with SQLite 3.40.1: spill, write, transient, N = 166 and
 * 167; see the report).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp */
#endif
#include "../unit/test_store_key.h"
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "relais/crypto.h"
#include "relais/error.h"
#include "relais/ingest.h"
#include "relais/log.h"
#include "relais/loop.h"
#include "relais/store.h"
#include "store_internal.h"

/* Sanitizer reports go to the real stderr while a run's stderr is a file. */
extern void __sanitizer_set_report_fd(void *fd) __attribute__((weak));

#define MAX_RUNS 5000 /* per mode: a scenario that never ends its faults is a bug */

/* ---- the VFS shim ---- */

enum fault_kind { FAULT_WRITE = 0, FAULT_SYNC, FAULT_SHMMAP, FAULT_KINDS };

static const char *const fault_name[FAULT_KINDS] = {"write", "sync", "shmmap"};

static struct {
    bool armed;
    enum fault_kind kind;
    bool persistent;
    long n;                  /* the call that fails (1-based) */
    long calls[FAULT_KINDS]; /* counted since the scenario started */
    long triggered;          /* failures injected */
} fault;

struct shim_file {
    sqlite3_file base;
    sqlite3_file *real; /* the unix VFS's file, allocated right after */
};

static sqlite3_vfs *real_vfs;
static sqlite3_vfs shim_vfs;
static sqlite3_io_methods shim_methods[3]; /* iVersion 1, 2, 3 like the real file's */

static sqlite3_file *real_of(sqlite3_file *f)
{
    return ((struct shim_file *)f)->real;
}

/* Counts a call of kind k and says whether it must fail. */
static bool fault_hit(enum fault_kind k)
{
    if (!fault.armed) return false;
    long c = ++fault.calls[k];
    if (k != fault.kind || c < fault.n || (c > fault.n && !fault.persistent)) return false;
    fault.triggered++;
    return true;
}

static int shim_close(sqlite3_file *f)
{
    sqlite3_file *r = real_of(f);
    return r->pMethods ? r->pMethods->xClose(r) : SQLITE_OK;
}

static int shim_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
    return real_of(f)->pMethods->xRead(real_of(f), buf, amt, off);
}

static int shim_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
    if (fault_hit(FAULT_WRITE)) return SQLITE_IOERR_WRITE;
    return real_of(f)->pMethods->xWrite(real_of(f), buf, amt, off);
}

static int shim_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    if (fault_hit(FAULT_WRITE)) return SQLITE_IOERR_TRUNCATE;
    return real_of(f)->pMethods->xTruncate(real_of(f), size);
}

static int shim_sync(sqlite3_file *f, int flags)
{
    if (fault_hit(FAULT_SYNC)) return SQLITE_IOERR_FSYNC;
    return real_of(f)->pMethods->xSync(real_of(f), flags);
}

static int shim_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return real_of(f)->pMethods->xFileSize(real_of(f), size);
}

static int shim_lock(sqlite3_file *f, int lock)
{
    return real_of(f)->pMethods->xLock(real_of(f), lock);
}

static int shim_unlock(sqlite3_file *f, int lock)
{
    return real_of(f)->pMethods->xUnlock(real_of(f), lock);
}

static int shim_check_reserved_lock(sqlite3_file *f, int *out)
{
    return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}

static int shim_file_control(sqlite3_file *f, int op, void *arg)
{
    return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}

static int shim_sector_size(sqlite3_file *f)
{
    return real_of(f)->pMethods->xSectorSize(real_of(f));
}

static int shim_device_characteristics(sqlite3_file *f)
{
    return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}

static int shim_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **pp)
{
    if (fault_hit(FAULT_SHMMAP)) return SQLITE_IOERR_SHMMAP;
    return real_of(f)->pMethods->xShmMap(real_of(f), region, size, extend, pp);
}

static int shim_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}

static void shim_shm_barrier(sqlite3_file *f)
{
    real_of(f)->pMethods->xShmBarrier(real_of(f));
}

static int shim_shm_unmap(sqlite3_file *f, int delete_flag)
{
    return real_of(f)->pMethods->xShmUnmap(real_of(f), delete_flag);
}

static int shim_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp)
{
    return real_of(f)->pMethods->xFetch(real_of(f), off, amt, pp);
}

static int shim_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return real_of(f)->pMethods->xUnfetch(real_of(f), off, p);
}

static int shim_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                     int *out_flags)
{
    struct shim_file *sf = (struct shim_file *)file;
    (void)vfs;
    sf->real = (sqlite3_file *)(sf + 1);
    memset(sf->real, 0, (size_t)real_vfs->szOsFile);
    int rc = real_vfs->xOpen(real_vfs, name, sf->real, flags, out_flags);
    if (rc != SQLITE_OK || !sf->real->pMethods) {
        sf->base.pMethods = NULL;
        return rc;
    }
    int v = sf->real->pMethods->iVersion;
    sf->base.pMethods = &shim_methods[(v < 1 ? 1 : v > 3 ? 3 : v) - 1];
    return SQLITE_OK;
}

static int shim_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    (void)vfs;
    return real_vfs->xDelete(real_vfs, name, sync_dir);
}

static int shim_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    (void)vfs;
    return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int shim_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    (void)vfs;
    return real_vfs->xFullPathname(real_vfs, name, n, out);
}

static void *shim_dl_open(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return real_vfs->xDlOpen(real_vfs, name);
}

static void shim_dl_error(sqlite3_vfs *vfs, int n, char *msg)
{
    (void)vfs;
    real_vfs->xDlError(real_vfs, n, msg);
}

static void (*shim_dl_sym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
    (void)vfs;
    return real_vfs->xDlSym(real_vfs, h, sym);
}

static void shim_dl_close(sqlite3_vfs *vfs, void *h)
{
    (void)vfs;
    real_vfs->xDlClose(real_vfs, h);
}

static int shim_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return real_vfs->xRandomness(real_vfs, n, out);
}

static int shim_sleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return real_vfs->xSleep(real_vfs, us);
}

static int shim_current_time(sqlite3_vfs *vfs, double *out)
{
    (void)vfs;
    return real_vfs->xCurrentTime(real_vfs, out);
}

static int shim_get_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return real_vfs->xGetLastError(real_vfs, n, out);
}

static int shim_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    (void)vfs;
    return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

static int shim_register(void)
{
    real_vfs = sqlite3_vfs_find("unix");
    if (!real_vfs || real_vfs->iVersion < 2) return -1;
    for (int v = 1; v <= 3; v++) {
        sqlite3_io_methods *m = &shim_methods[v - 1];
        m->iVersion = v;
        m->xClose = shim_close;
        m->xRead = shim_read;
        m->xWrite = shim_write;
        m->xTruncate = shim_truncate;
        m->xSync = shim_sync;
        m->xFileSize = shim_file_size;
        m->xLock = shim_lock;
        m->xUnlock = shim_unlock;
        m->xCheckReservedLock = shim_check_reserved_lock;
        m->xFileControl = shim_file_control;
        m->xSectorSize = shim_sector_size;
        m->xDeviceCharacteristics = shim_device_characteristics;
        if (v >= 2) {
            m->xShmMap = shim_shm_map;
            m->xShmLock = shim_shm_lock;
            m->xShmBarrier = shim_shm_barrier;
            m->xShmUnmap = shim_shm_unmap;
        }
        if (v >= 3) {
            m->xFetch = shim_fetch;
            m->xUnfetch = shim_unfetch;
        }
    }
    shim_vfs.iVersion = 2;
    shim_vfs.szOsFile = (int)sizeof(struct shim_file) + real_vfs->szOsFile;
    shim_vfs.mxPathname = real_vfs->mxPathname;
    shim_vfs.zName = "relais-fault";
    shim_vfs.xOpen = shim_open;
    shim_vfs.xDelete = shim_delete;
    shim_vfs.xAccess = shim_access;
    shim_vfs.xFullPathname = shim_full_pathname;
    shim_vfs.xDlOpen = shim_dl_open;
    shim_vfs.xDlError = shim_dl_error;
    shim_vfs.xDlSym = shim_dl_sym;
    shim_vfs.xDlClose = shim_dl_close;
    shim_vfs.xRandomness = shim_randomness;
    shim_vfs.xSleep = shim_sleep;
    shim_vfs.xCurrentTime = shim_current_time;
    shim_vfs.xGetLastError = shim_get_last_error;
    shim_vfs.xCurrentTimeInt64 = shim_current_time_int64;
    return sqlite3_vfs_register(&shim_vfs, 1) == SQLITE_OK ? 0 : -1;
}

/* ---- the scenario ---- */

#define MAX_SENT 256

/* What was sent: a pack is (device, seq, variant); variant 1 is another body
 * for the same seq (a reset device); bad packs are malformed. */
struct sent {
    const char *device;
    uint64_t seq;
    int variant;
    bool bad;
    int nrec; /* readings in the body */
    bool acked;
    enum relais_wire_ack_status status;
    uint32_t records;
};

struct run {
    char dir[256], path[320], log[330];
    uint64_t mono_ms;
    struct relais_clock clock;
    struct relais_loop *loop;
    struct relais_store *store;
    struct relais_ingest *ing;
    struct sent sent[MAX_SENT];
    size_t nsent;
    bool open_failed;
    struct relais_ingest_counters counters;
    /* results */
    int failures;
    size_t acks[4];
    uint64_t packs;
};

static struct run *cur;

static void check_at(struct run *r, bool ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void check_at(struct run *r, bool ok, const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    if (ok) return;
    r->failures++;
    fprintf(stdout, "  FAIL %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
}

#define CHECK(r, cond, ...) check_at((r), (cond), __FILE__, __LINE__, __VA_ARGS__)

static uint64_t fake_mono_ms(void *ctx)
{
    return ((struct run *)ctx)->mono_ms;
}

static int64_t fake_wall_ms(void *ctx)
{
    return 1795000000000LL + (int64_t)((struct run *)ctx)->mono_ms;
}

#define BODY_MAX 65536

/* The body of a pack: s->nrec readings (temp and hr in turn); the variant
 * changes the values; a bad pack is cut short. */
static size_t body_of(const struct sent *s, char *buf, size_t cap)
{
    if (s->bad) return (size_t)snprintf(buf, cap, "[{\"n\":\"temp\",\"v\":");
    size_t w = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < s->nrec && w < cap; i++)
        w += (size_t)snprintf(buf + w, cap - w, "%s{\"n\":\"%s\",\"u\":\"%s\",\"v\":%d,\"t\":%llu}",
                              i ? "," : "", i % 2 ? "hr" : "temp", i % 2 ? "beat/min" : "Cel",
                              (i % 2 ? 60 : 36) + s->variant + i % 5,
                              1795000000ULL + s->seq * 1000 + (unsigned long long)i);
    w += (size_t)snprintf(buf + w, cap - w, "]");
    if (w >= cap) abort(); /* BODY_MAX too small for the scenario */
    return w;
}

static int records_of(const struct sent *s)
{
    return s->nrec;
}

static void on_reply(void *ud, const char *device, const struct relais_wire_ack *ack,
                     const void *token, size_t token_len)
{
    struct run *r = ud;
    uint32_t idx;

    CHECK(r, token_len == sizeof idx, "token of %zu bytes", token_len);
    memcpy(&idx, token, sizeof idx);
    CHECK(r, idx < r->nsent, "reply for unknown submit %u", idx);
    if (idx >= r->nsent) return;
    struct sent *s = &r->sent[idx];
    CHECK(r, strcmp(device, s->device) == 0 && ack->seq == s->seq, "reply for the wrong pack");
    CHECK(r, !s->acked, "%s/%llu acked twice", device, (unsigned long long)ack->seq);
    s->acked = true;
    s->status = ack->status;
    s->records = ack->records;
    r->acks[ack->status & 3]++;
}

static void submit_n(struct run *r, const char *device, uint64_t seq, int variant, bool bad,
                     int nrec)
{
    char body[BODY_MAX];

    if (r->nsent >= MAX_SENT) abort();
    uint32_t idx = (uint32_t)r->nsent;
    struct sent *s = &r->sent[r->nsent++];
    *s = (struct sent){.device = device, .seq = seq, .variant = variant, .bad = bad, .nrec = nrec};
    size_t len = body_of(s, body, sizeof body);
    struct relais_ingest_input in = {
        .transport = RELAIS_TRANSPORT_MQTT,
        .device = device,
        .seq = seq,
        .body = (const uint8_t *)body,
        .len = len,
        .format = -1,
        .reply_cb = on_reply,
        .reply_ud = r,
        .token = &idx,
        .token_len = sizeof idx,
    };
    relais_ingest_submit(r->ing, &in);
    r->mono_ms += 1;
}

/* A small pack: 1 to 3 readings. */
static void submit(struct run *r, const char *device, uint64_t seq, int variant, bool bad)
{
    submit_n(r, device, seq, variant, bad, 1 + (int)(seq % 3));
}

/* A large pack: 400 to 480 readings, about 25 KiB of body. */
static void submit_big(struct run *r, const char *device, uint64_t seq, int variant)
{
    submit_n(r, device, seq, variant, false, 400 + 40 * (int)(seq % 3));
}

static void flush(struct run *r)
{
    relais_ingest_flush(r->ing);
    r->mono_ms += 1;
}

/* A device resends what it was told busy (once per scenario step). */
static void resend_busy(struct run *r)
{
    size_t n = r->nsent;
    for (size_t i = 0; i < n; i++) {
        struct sent *s = &r->sent[i];
        if (!s->acked || s->status != RELAIS_WIRE_ACK_BUSY) continue;
        bool later = false; /* already resent */
        for (size_t j = i + 1; j < n; j++)
            if (r->sent[j].device == s->device && r->sent[j].seq == s->seq &&
                r->sent[j].variant == s->variant && r->sent[j].bad == s->bad)
                later = true;
        if (!later) submit_n(r, s->device, s->seq, s->variant, s->bad, s->nrec);
    }
    flush(r);
}

/* Packs whose last answer is busy (and not resent since). */
static size_t outstanding_busy(const struct run *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nsent; i++) {
        const struct sent *s = &r->sent[i];
        if (!s->acked || s->status != RELAIS_WIRE_ACK_BUSY) continue;
        bool later = false;
        for (size_t j = i + 1; j < r->nsent; j++)
            if (r->sent[j].device == s->device && r->sent[j].seq == s->seq &&
                r->sent[j].variant == s->variant && r->sent[j].bad == s->bad)
                later = true;
        n += !later;
    }
    return n;
}

#define A "dev-a"
#define B "dev-b"

/* Opens the store and the ingest (commit_max_packs max_packs); false when the
 * open failed (the scenario ends). */
static bool start(struct run *r, uint32_t max_packs)
{
    r->mono_ms = 1000;
    r->clock.mono_ms_cb = fake_mono_ms;
    r->clock.wall_ms_cb = fake_wall_ms;
    r->clock.ctx = r;
    if (relais_loop_create(&r->loop, &r->clock) != RELAIS_OK) {
        CHECK(r, false, "loop create");
        return false;
    }
    if (relais_store_open(&r->store, r->path, test_store_opts()) != RELAIS_OK) {
        r->open_failed = true;
        return false;
    }
    struct relais_ingest_opts o = {
        .commit_window_ms = 5, .commit_max_packs = max_packs, .busy_retry_s = 10};
    if (relais_ingest_create(&r->ing, r->loop, r->store, &o) != RELAIS_OK) {
        CHECK(r, false, "ingest create");
        return false;
    }
    return true;
}

/* The scenario of the brief: small packs of two devices, three per commit. */
static void scenario_basic(struct run *r)
{
    if (!start(r, 3)) return;
    submit(r, A, 1, 0, false);
    submit(r, A, 2, 0, false);
    submit(r, B, 1, 0, false); /* 3: committed */
    submit(r, A, 3, 0, false);
    submit(r, B, 2, 0, false);
    flush(r);
    submit(r, A, 2, 0, false); /* resend: duplicate */
    submit(r, B, 3, 0, false);
    submit(r, A, 4, 0, false);
    submit(r, B, 2, 0, false); /* resend */
    submit(r, A, 5, 0, false);
    flush(r);
    resend_busy(r);
    submit(r, A, 3, 1, false); /* seq 3 reused with another body: flagged */
    submit(r, B, 4, 0, false);
    submit(r, B, 5, 0, false);
    relais_ingest_unroutable(r->ing, RELAIS_TRANSPORT_MQTT, "relais/dev/a/up/x", 9);
    submit(r, A, 6, 0, false);
    submit(r, A, 7, 0, true); /* malformed: rejected */
    submit(r, B, 6, 0, false);
    resend_busy(r);
    submit(r, A, 8, 0, false);
    submit(r, B, 7, 0, false);
    submit(r, A, 6, 0, false); /* resend */
    submit(r, B, 8, 0, false);
    flush(r);
    resend_busy(r);
    resend_busy(r);
}

/*
 * Large packs (400 to 480 readings, about 25 KiB) with a page cache of 12
 * pages: a test setting that stands in for production batches of up to 512
 * packs of up to 64 KiB, far beyond SQLite's default 2 MB cache.  SQLite then
 * spills dirty pages to the WAL in the middle of the transaction, so writes
 * (and their faults) happen inside puts and lookups, not only at COMMIT.
 * Devices first seen in the middle of a batch make the store look their max
 * seq up (seq_entry) while the cache is full; rejects and a reused seq add
 * audit rows before and after in the same batch.
 */
static void scenario_spill(struct run *r)
{
    if (!start(r, 8)) return;
    if (sqlite3_exec(r->store->db, "PRAGMA cache_size = 12", NULL, NULL, NULL) != SQLITE_OK)
        CHECK(r, false, "cache_size");
    submit_big(r, A, 1, 0);
    flush(r);
    submit_big(r, A, 2, 0);
    submit(r, A, 3, 0, true); /* rejected: an audit row early in the batch */
    submit_big(r, A, 4, 0);
    submit(r, B, 1, 0, false); /* first seen */
    submit(r, B, 2, 0, true);
    flush(r);
    submit_big(r, A, 5, 0);
    submit(r, "dev-c", 1, 0, false); /* first seen, no audit row before it in the batch */
    submit(r, "dev-c", 2, 0, true);
    submit_big(r, A, 4, 1); /* seq reused */
    flush(r);
    resend_busy(r);
}

struct scenario {
    const char *name;
    void (*run)(struct run *r);
};

static const struct scenario scenarios[] = {
    {"basic", scenario_basic},
    {"spill", scenario_spill},
};
#define NSCENARIOS (sizeof scenarios / sizeof scenarios[0])

/* ---- checks after reopening without faults ---- */

static int64_t q_int(struct run *r, sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    int64_t v = -1;

    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    else
        CHECK(r, false, "%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_finalize(s);
    return v;
}

static size_t count_files_with(const char *dir, const char *needle)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;

    if (!d) return 0;
    while ((e = readdir(d)))
        if (strstr(e->d_name, needle)) n++;
    closedir(d);
    return n;
}

/* The sent pack a stored body is, or NULL. */
static const struct sent *sent_of_body(struct run *r, const char *device, uint64_t seq,
                                       const void *body, size_t len)
{
    char buf[BODY_MAX];

    for (size_t i = 0; i < r->nsent; i++) {
        const struct sent *s = &r->sent[i];
        if (strcmp(s->device, device) != 0 || s->seq != seq || s->bad) continue;
        size_t l = body_of(s, buf, sizeof buf);
        if (l == len && memcmp(buf, body, len) == 0) return s;
    }
    return NULL;
}

static void check_audit_chain(struct run *r, sqlite3 *db)
{
    sqlite3_stmt *s = NULL;
    uint8_t prev[RELAIS_SHA256_LEN] = {0};
    int64_t n = 0;

    if (sqlite3_prepare_v2(db,
                           "SELECT id, at_ms, kind, subject, detail, prev_hash, hash FROM audit"
                           " ORDER BY id",
                           -1, &s, NULL) != SQLITE_OK) {
        CHECK(r, false, "audit: %s", sqlite3_errmsg(db));
        return;
    }
    while (sqlite3_step(s) == SQLITE_ROW) {
        uint8_t h[RELAIS_SHA256_LEN];
        int64_t id = sqlite3_column_int64(s, 0);
        CHECK(r, id == n + 1, "audit id %lld follows %lld", (long long)id, (long long)n);
        n = id;
        CHECK(r,
              sqlite3_column_bytes(s, 5) == RELAIS_SHA256_LEN &&
                  memcmp(sqlite3_column_blob(s, 5), prev, RELAIS_SHA256_LEN) == 0,
              "audit row %lld: prev_hash is not the previous row's hash", (long long)id);
        store__audit_hash(
            prev, id, sqlite3_column_int64(s, 1), (const char *)sqlite3_column_text(s, 2),
            (const char *)sqlite3_column_text(s, 3), (const char *)sqlite3_column_text(s, 4), h);
        CHECK(r,
              sqlite3_column_bytes(s, 6) == RELAIS_SHA256_LEN &&
                  memcmp(sqlite3_column_blob(s, 6), h, RELAIS_SHA256_LEN) == 0,
              "audit row %lld: hash does not match", (long long)id);
        memcpy(prev, h, sizeof prev);
    }
    sqlite3_finalize(s);
}

static void verify(struct run *r)
{
    struct relais_store *st = NULL;

    CHECK(r, count_files_with(r->dir, ".corrupt-") == 0, "a store was moved aside as corrupt");
    int rc = relais_store_open(&st, r->path, test_store_opts());
    CHECK(r, rc == RELAIS_OK, "reopen without faults: %s", relais_strerror(rc));
    if (rc != RELAIS_OK) return;
    CHECK(r, count_files_with(r->dir, ".corrupt-") == 0, "reopen moved the store aside as corrupt");
    sqlite3 *db = st->db;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
        const char *ok = (const char *)sqlite3_column_text(s, 0);
        CHECK(r, ok && strcmp(ok, "ok") == 0, "integrity_check: %s", ok ? ok : "(null)");
    } else {
        CHECK(r, false, "integrity_check: %s", sqlite3_errmsg(db));
    }
    sqlite3_finalize(s);
    CHECK(r, q_int(r, db, "SELECT max(version) FROM schema_version") == STORE_SCHEMA_VERSION,
          "schema version");

    /* every stored pack: one that was sent, whole, once */
    r->packs = 0;
    s = NULL;
    sqlite3_prepare_v2(db,
                       "SELECT p.id, p.device, p.seq, p.body, p.body_hash, p.records, p.flags,"
                       " (SELECT count(*) FROM readings WHERE pack_id = p.id),"
                       " (SELECT coalesce(max(idx), -1) FROM readings WHERE pack_id = p.id),"
                       " (SELECT count(*) FROM packs q WHERE q.device = p.device AND"
                       "  q.seq = p.seq AND q.id < p.id), p.received_ms"
                       " FROM packs p ORDER BY p.id",
                       -1, &s, NULL);
    while (s && sqlite3_step(s) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(s, 0);
        const char *device = (const char *)sqlite3_column_text(s, 1);
        uint64_t seq = (uint64_t)sqlite3_column_int64(s, 2);
        /* the body is sealed: opened with the test's key and the row's key */
        struct store_keys keys;
        store__keys_derive(test_store_key(), &keys);
        struct store_aad aad;
        store__aad_init(&aad, "packs.body");
        store__aad_str(&aad, device);
        store__aad_int(&aad, (int64_t)seq);
        store__aad_int(&aad, sqlite3_column_int64(s, 10));
        size_t sealed_len = (size_t)sqlite3_column_bytes(s, 3);
        static uint8_t clear[BODY_MAX + RELAIS_SEAL_OVERHEAD];
        size_t len = sealed_len >= RELAIS_SEAL_OVERHEAD ? sealed_len - RELAIS_SEAL_OVERHEAD : 0;
        const void *body = clear;
        CHECK(r,
              sealed_len >= RELAIS_SEAL_OVERHEAD && len <= BODY_MAX &&
                  relais_unseal(keys.seal, aad.b, aad.n, sqlite3_column_blob(s, 3), sealed_len,
                                clear) == RELAIS_OK,
              "pack %lld: its sealed body does not open", (long long)sqlite3_column_int64(s, 0));
        uint8_t hash[RELAIS_SHA256_LEN];
        int records = sqlite3_column_int(s, 5), flags = sqlite3_column_int(s, 6);
        int nread = sqlite3_column_int(s, 7), maxidx = sqlite3_column_int(s, 8);
        int earlier = sqlite3_column_int(s, 9);

        r->packs++;
        const struct sent *snt = sent_of_body(r, device, seq, body, len);
        CHECK(r, snt != NULL, "pack %lld (%s/%llu) is not a body that was sent", (long long)id,
              device, (unsigned long long)seq);
        store__body_hash(&keys, body, len, hash);
        CHECK(r,
              sqlite3_column_bytes(s, 4) == RELAIS_SHA256_LEN &&
                  memcmp(sqlite3_column_blob(s, 4), hash, sizeof hash) == 0,
              "pack %lld: body_hash is not the body's", (long long)id);
        if (snt)
            CHECK(r, records == records_of(snt), "pack %lld: records %d", (long long)id, records);
        CHECK(r, nread == records && maxidx == records - 1,
              "pack %lld is partial: %d readings of %d", (long long)id, nread, records);
        /* flagged exactly when an earlier row has the same (device, seq) */
        CHECK(r, ((flags & RELAIS_PACK_FLAG_SEQ_REUSED) != 0) == (earlier > 0),
              "pack %lld (%s/%llu): flags %d with %d earlier rows", (long long)id, device,
              (unsigned long long)seq, flags, earlier);
    }
    sqlite3_finalize(s);
    CHECK(r,
          q_int(r, db,
                "SELECT count(*) FROM (SELECT 1 FROM packs GROUP BY device, seq, body_hash"
                " HAVING count(*) > 1)") == 0,
          "a pack is stored twice");
    CHECK(r,
          q_int(r, db,
                "SELECT count(*) FROM readings WHERE pack_id NOT IN (SELECT id FROM packs)") == 0,
          "readings without a pack");

    /* every ack kept its promise */
    char buf[BODY_MAX];
    for (size_t i = 0; i < r->nsent; i++) {
        const struct sent *snt = &r->sent[i];
        if (!snt->acked || snt->status == RELAIS_WIRE_ACK_BUSY) continue;
        size_t len = body_of(snt, buf, sizeof buf);
        sqlite3_stmt *q = NULL;
        if (snt->status == RELAIS_WIRE_ACK_REJECTED) {
            sqlite3_prepare_v2(db,
                               "SELECT count(*) FROM rejects WHERE device = ?1 AND seq = ?2"
                               " AND body_len = ?4",
                               -1, &q, NULL);
        } else {
            CHECK(r, snt->records == (uint32_t)records_of(snt), "%s/%llu acked %u records",
                  snt->device, (unsigned long long)snt->seq, snt->records);
            sqlite3_prepare_v2(db,
                               "SELECT count(*) FROM packs WHERE device = ?1 AND seq = ?2"
                               " AND body_hash = ?3",
                               -1, &q, NULL);
        }
        sqlite3_bind_text(q, 1, snt->device, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, (sqlite3_int64)snt->seq);
        /* bodies are sealed: a pack by its keyed hash, a reject by its length */
        struct store_keys keys;
        uint8_t hash[RELAIS_SHA256_LEN];
        store__keys_derive(test_store_key(), &keys);
        store__body_hash(&keys, (const uint8_t *)buf, len, hash);
        sqlite3_bind_blob(q, 3, hash, sizeof hash, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 4, (sqlite3_int64)len);
        int64_t n = q && sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
        sqlite3_finalize(q);
        if (snt->status == RELAIS_WIRE_ACK_REJECTED)
            CHECK(r, n >= 1, "%s/%llu acked rejected: %lld reject rows", snt->device,
                  (unsigned long long)snt->seq, (long long)n);
        else
            CHECK(r, n == 1, "%s/%llu (variant %d) acked %s: %lld rows", snt->device,
                  (unsigned long long)snt->seq, snt->variant,
                  relais_wire_ack_status_name(snt->status), (long long)n);
    }

    /* the audit chain, and the audit rows of what is there */
    check_audit_chain(r, db);
    CHECK(r,
          q_int(r, db, "SELECT count(*) FROM audit WHERE kind = 'input.rejected'") ==
              q_int(r, db, "SELECT count(*) FROM rejects"),
          "rejects and their audit rows differ");
    CHECK(r,
          q_int(r, db, "SELECT count(*) FROM audit WHERE kind = 'input.seq_reused'") ==
              q_int(r, db, "SELECT count(*) FROM packs WHERE flags & 1"),
          "flagged packs and their audit rows differ");
    CHECK(r,
          q_int(r, db,
                "SELECT count(*) FROM audit WHERE kind NOT IN ('input.rejected',"
                " 'input.seq_reused')") == 0,
          "unexpected audit rows");

    /* the reopened store still takes packs and keeps its chain */
    struct relais_pack pack;
    struct relais_senml_error err;
    enum relais_store_put put;
    struct sent extra = {.device = A, .seq = 1000, .nrec = 2};
    size_t len = body_of(&extra, buf, sizeof buf);
    relais_pack_init(&pack);
    CHECK(r,
          relais_senml_decode(&pack, RELAIS_SENML_JSON, (const uint8_t *)buf, len, A, 1795000000.0,
                              &err) == RELAIS_OK,
          "decode");
    snprintf(pack.device, sizeof pack.device, "%s", A);
    pack.seq = 1000;
    CHECK(r, relais_store_begin(st) == RELAIS_OK, "begin after reopen");
    CHECK(r,
          relais_store_put_pack(st, &pack, (const uint8_t *)buf, len, RELAIS_TRANSPORT_MQTT, 1,
                                &put) == RELAIS_OK &&
              put == RELAIS_PUT_STORED,
          "put after reopen");
    CHECK(r, relais_store_audit(st, 1, "test.after", "s", "d") == RELAIS_OK, "audit after reopen");
    CHECK(r, relais_store_commit(st) == RELAIS_OK, "commit after reopen");
    check_audit_chain(r, db);
    relais_pack_cleanup(&pack);
    relais_store_close(st);
}

/* ---- runs ---- */

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (!d) return;
    while ((e = readdir(d))) {
        char p[600];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static void print_file(const char *path)
{
    FILE *fp = fopen(path, "r");
    char line[512];

    if (!fp) return;
    fprintf(stdout, "  ---- log of the run ----\n");
    while (fgets(line, sizeof line, fp))
        fprintf(stdout, "  | %s", line);
    fclose(fp);
}

struct totals {
    long runs, failed_runs, busy_runs, busy_acks, commit_failures, failed_opens;
};

/* One run of scenario sc with the fault at call n of kind; returns whether
 * the fault was reached. */
static bool run_one(const struct scenario *sc, enum fault_kind kind, bool persistent, long n,
                    struct totals *t)
{
    struct run *r = calloc(1, sizeof *r);
    const char *tmp = getenv("TMPDIR");

    if (!r) abort();
    cur = r;
    snprintf(r->dir, sizeof r->dir, "%s/relais-fault-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(r->dir)) {
        perror("mkdtemp");
        exit(2);
    }
    snprintf(r->path, sizeof r->path, "%s/relais.db", r->dir);
    snprintf(r->log, sizeof r->log, "%s.log", r->dir);

    /* the run's logs to a file; stdout keeps the summary */
    fflush(stderr);
    int saved = dup(2);
    int lfd = open(r->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (saved < 0 || lfd < 0) {
        perror("log");
        exit(2);
    }
    if (__sanitizer_set_report_fd) __sanitizer_set_report_fd((void *)(intptr_t)saved);
    dup2(lfd, 2);
    close(lfd);

    memset(&fault, 0, sizeof fault);
    fault.kind = kind;
    fault.persistent = persistent;
    fault.n = n;
    fault.armed = true;
    sc->run(r);
    fault.armed = false;
    long reached = fault.triggered;
    long calls = fault.calls[kind];
    size_t busy_during = r->acks[RELAIS_WIRE_ACK_BUSY];

    /* the disk is back: the devices resend what was told busy, and the
     * running gateway must take it (no restart needed) */
    size_t left = 0;
    if (r->ing) {
        for (int round = 0; round < 3 && outstanding_busy(r); round++)
            resend_busy(r);
        left = outstanding_busy(r);
        CHECK(r, left == 0, "the fault is gone but %zu packs are still told busy", left);
        CHECK(r, relais_ingest_pending(r->ing) == 0, "packs left pending");
        r->counters = *relais_ingest_get_counters(r->ing);
        relais_ingest_destroy(r->ing);
    }
    relais_store_close(r->store);
    if (r->loop) relais_loop_destroy(r->loop);
    verify(r);

    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    if (__sanitizer_set_report_fd) __sanitizer_set_report_fd((void *)(intptr_t)2);

    size_t unacked = 0;
    for (size_t i = 0; i < r->nsent; i++)
        unacked += !r->sent[i].acked;
    if (!r->open_failed) CHECK(r, unacked == 0, "%zu packs never acked", unacked);
    if (!reached)
        CHECK(r, !r->open_failed && busy_during == 0 && unacked == 0,
              "the run without a fault did not store everything");
    printf("%-5s %-6s %-10s N=%-4ld %s: %s%zu acks (stored %zu, duplicate %zu, rejected %zu,"
           " busy %zu), %llu commits, %llu failed; %llu packs kept; %ld of %ld %s calls"
           " failed%s\n",
           sc->name, fault_name[kind], persistent ? "persistent" : "transient", n,
           r->failures ? "FAIL" : "ok", r->open_failed ? "open failed; " : "",
           r->acks[0] + r->acks[1] + r->acks[2] + r->acks[3], r->acks[RELAIS_WIRE_ACK_STORED],
           r->acks[RELAIS_WIRE_ACK_DUPLICATE], r->acks[RELAIS_WIRE_ACK_REJECTED],
           r->acks[RELAIS_WIRE_ACK_BUSY], (unsigned long long)r->counters.commits,
           (unsigned long long)r->counters.commit_failures, (unsigned long long)r->packs, reached,
           calls, fault_name[kind], reached ? "" : " (fault not reached: done)");
    if (r->failures) print_file(r->log);
    fflush(stdout);

    t->runs++;
    t->failed_runs += r->failures != 0;
    t->busy_runs += busy_during != 0;
    t->busy_acks += (long)busy_during;
    t->commit_failures += (long)r->counters.commit_failures;
    t->failed_opens += r->open_failed;
    unlink(r->log);
    remove_dir(r->dir);
    cur = NULL;
    free(r);
    return reached != 0;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(const char *argv0)
{
    fprintf(stderr, "usage: %s [write|sync|shmmap ...] [basic|spill ...]\n", argv0);
}

int main(int argc, char **argv)
{
    bool want[FAULT_KINDS] = {false}, want_sc[NSCENARIOS] = {false};
    bool any_kind = false, any_sc = false;
    int status = 0;

    for (int i = 1; i < argc; i++) {
        int k = 0;
        size_t c = 0;
        while (k < FAULT_KINDS && strcmp(argv[i], fault_name[k]) != 0)
            k++;
        while (c < NSCENARIOS && strcmp(argv[i], scenarios[c].name) != 0)
            c++;
        if (k < FAULT_KINDS) {
            want[k] = any_kind = true;
        } else if (c < NSCENARIOS) {
            want_sc[c] = any_sc = true;
        } else {
            usage(argv[0]);
            return 2;
        }
    }
    for (int k = 0; k < FAULT_KINDS; k++)
        want[k] = want[k] || !any_kind;
    for (size_t c = 0; c < NSCENARIOS; c++)
        want_sc[c] = want_sc[c] || !any_sc;
    relais_log_set_level(RELAIS_LOG_ERROR);
    if (shim_register() != 0) {
        fprintf(stderr, "cannot register the fault VFS\n");
        return 2;
    }
    long t0 = now_ms();
    for (size_t c = 0; c < NSCENARIOS; c++) {
        for (int k = 0; k < FAULT_KINDS && want_sc[c]; k++) {
            if (!want[k]) continue;
            struct totals all = {0};
            for (int p = 0; p < 2; p++) {
                struct totals t = {0};
                long n = 1;
                while (run_one(&scenarios[c], (enum fault_kind)k, p == 1, n, &t)) {
                    if (++n > MAX_RUNS) {
                        printf("FAIL: the fault is still reached after %d runs\n", MAX_RUNS);
                        status = 1;
                        break;
                    }
                }
                printf("== %s %s %s: N = 1..%ld (N = %ld reached no fault), %ld runs failed,"
                       " %ld with busy acks (%ld busy acks, %ld commit failures), %ld failed"
                       " opens\n",
                       scenarios[c].name, fault_name[k], p ? "persistent" : "transient", n - 1, n,
                       t.failed_runs, t.busy_runs, t.busy_acks, t.commit_failures, t.failed_opens);
                if (t.failed_runs) status = 1;
                all.busy_runs += t.busy_runs;
                all.commit_failures += t.commit_failures;
            }
            /* not vacuous: write and sync faults really failed commits and made
             * busy acks (xShmMap is called only while opening: no busy there) */
            if (k != FAULT_SHMMAP && (all.busy_runs == 0 || all.commit_failures == 0)) {
                printf("FAIL: %s %s faults produced no busy ack or no commit failure\n",
                       scenarios[c].name, fault_name[k]);
                status = 1;
            }
        }
    }
    printf("%s in %.1f s\n", status ? "FAILED" : "passed", (double)(now_ms() - t0) / 1000.0);
    return status;
}
