/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the device ring log and persisted seq (firmware/core/ringlog.c) on
 * the posix flash emulation (firmware/port/posix/flash_file.c): the emulation's
 * NOR rules and cut model; append / iterate / read / ack / reclaim / full;
 * seq never reused; every write unit size; a corrupt record; a garbage flash;
 * and the exhaustive power-cut test: a scenario of 20 packs of varied sizes,
 * acks out of order, sector reclaims and a remount is run once to count the
 * bytes it programs and erases (B), then replayed with the power cut after k
 * bytes for every k in 0..B; after each cut the flash is mounted again and
 * checked (see check_reboot()).  Three runs: erase cuts keep the old bytes
 * and a reservation per seq; erase cuts leave garbage and reservations of 4
 * seqs; erase cuts keep the old bytes, reservations of 3 seqs, and the
 * recovery mount's own writes (erasing dirty sectors, reclaiming) are cut
 * too, once per k at a point spread over them, before the final check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "relais/fw/crc32.h"
#include "relais/fw/flash_file.h"
#include "relais/fw/ringlog.h"

#define WORK_LEN 96

struct rig {
    struct relais_fw_flash_file ff;
    struct relais_fw_ringlog log;
    uint8_t work[WORK_LEN];
    uint32_t seq_block;
};

static void rig_open(struct rig *r, uint32_t ss, uint32_t sc, uint32_t wu, uint32_t seq_block)
{
    memset(r, 0, sizeof(*r));
    assert_int_equal(relais_fw_flash_file_open(&r->ff, NULL, ss, sc, wu), RELAIS_FW_OK);
    r->seq_block = seq_block;
}

static int rig_mount(struct rig *r)
{
    return relais_fw_ringlog_mount(&r->log, &r->ff.flash, r->work, WORK_LEN, r->seq_block);
}

/* The body of pack seq: deterministic, with some 0xFF and 0x00 bytes. */
static void fill(uint8_t *buf, uint64_t seq, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++)
        buf[i] = (i % 29 == 5) ? 0xFF : (uint8_t)(seq * 131u + i * 17u + (i >> 3));
}

/* seq_next + append of a len-byte pack; returns append's code, *seq the seq. */
static int put_pack(struct rig *r, uint32_t len, uint64_t *seq)
{
    uint8_t buf[1024];
    int rc = relais_fw_ringlog_seq_next(&r->log, seq);
    if (rc) return rc;
    fill(buf, *seq, len);
    return relais_fw_ringlog_append(&r->log, *seq, buf, len);
}

/* Asserts that the unacknowledged packs are exactly seqs[0..n), in order,
 * each with its body. */
static void expect_packs(struct rig *r, const uint64_t *seqs, const uint32_t *lens, size_t n)
{
    struct relais_fw_ringlog_iter it;
    struct relais_fw_ringlog_pack p;
    uint8_t got[1024], want[1024];
    size_t i = 0;

    relais_fw_ringlog_iter_init(&it);
    while (relais_fw_ringlog_iter_next(&r->log, &it, &p) == RELAIS_FW_OK) {
        assert_true(i < n);
        assert_int_equal(p.seq, seqs[i]);
        assert_int_equal(p.len, lens[i]);
        assert_int_equal(relais_fw_ringlog_read(&r->log, &p, got, sizeof(got)), (int)lens[i]);
        fill(want, seqs[i], lens[i]);
        assert_memory_equal(got, want, lens[i]);
        i++;
    }
    assert_int_equal(i, n);
    assert_int_equal(relais_fw_ringlog_unacked(&r->log), n);
}

/* ---- CRC and flash emulation ---- */

static void test_crc32(void **state)
{
    (void)state;
    assert_int_equal(relais_fw_crc32(0, "123456789", 9), 0xCBF43926u);
    uint32_t c = relais_fw_crc32(0, "1234", 4);
    assert_int_equal(relais_fw_crc32(c, "56789", 5), 0xCBF43926u);
    assert_int_equal(relais_fw_crc32(0, NULL, 0), 0);
}

static void test_flash_nor_rules(void **state)
{
    struct relais_fw_flash_file ff;
    const struct relais_fw_flash *f = &ff.flash;
    uint8_t b[16];
    (void)state;

    assert_int_equal(relais_fw_flash_file_open(&ff, NULL, 64, 2, 4), RELAIS_FW_OK);
    assert_int_equal(f->read(f->ctx, 0, b, 16), RELAIS_FW_OK);
    for (int i = 0; i < 16; i++)
        assert_int_equal(b[i], 0xFF);
    uint8_t v[4] = {0x0F, 0xF0, 0x00, 0xAA};
    assert_int_equal(f->program(f->ctx, 4, v, 4), RELAIS_FW_OK);
    assert_int_equal(f->read(f->ctx, 4, b, 4), RELAIS_FW_OK);
    assert_memory_equal(b, v, 4);
    /* programming a word again, even clearing bits only, breaks the rule */
    uint8_t z[4] = {0, 0, 0, 0};
    assert_int_equal(f->program(f->ctx, 4, z, 4), RELAIS_FW_EINVAL);
    assert_int_equal(ff.violations, 1);
    /* misaligned address or length */
    assert_int_equal(f->program(f->ctx, 9, z, 4), RELAIS_FW_EINVAL);
    assert_int_equal(f->program(f->ctx, 8, z, 3), RELAIS_FW_EINVAL);
    assert_int_equal(f->program(f->ctx, 128, z, 4), RELAIS_FW_EINVAL);
    assert_int_equal(ff.violations, 4);
    /* a 0 -> 1 bit: set word 12 to 0x00 by poking, then try 0x01 */
    ff.mem[12] = 0x00;
    uint8_t one[4] = {0x01, 0xFF, 0xFF, 0xFF};
    assert_int_equal(f->program(f->ctx, 12, one, 4), RELAIS_FW_EINVAL);
    assert_int_equal(ff.violations, 5);
    assert_int_equal(ff.mem[12], 0x00);
    /* erase: 0xFF and programmable again */
    assert_int_equal(f->erase(f->ctx, 0), RELAIS_FW_OK);
    assert_int_equal(ff.mem[4], 0xFF);
    assert_int_equal(f->program(f->ctx, 4, z, 4), RELAIS_FW_OK);
    assert_int_equal(f->erase(f->ctx, 2), RELAIS_FW_EINVAL);
    relais_fw_flash_file_close(&ff);
}

static void test_flash_cut_model(void **state)
{
    struct relais_fw_flash_file ff;
    const struct relais_fw_flash *f = &ff.flash;
    uint8_t z[8] = {0};
    (void)state;

    assert_int_equal(relais_fw_flash_file_open(&ff, NULL, 64, 2, 4), RELAIS_FW_OK);
    /* a program cut after 5 bytes: 5 applied, then nothing */
    relais_fw_flash_file_cut_after(&ff, 5);
    assert_int_equal(f->program(f->ctx, 0, z, 8), RELAIS_FW_EIO);
    assert_true(ff.cut);
    for (int i = 0; i < 8; i++)
        assert_int_equal(ff.mem[i], i < 5 ? 0x00 : 0xFF);
    assert_int_equal(f->program(f->ctx, 16, z, 4), RELAIS_FW_EIO);
    assert_int_equal(f->erase(f->ctx, 1), RELAIS_FW_EIO);
    assert_int_equal(ff.mem[16], 0xFF);
    assert_int_equal(ff.cost, 5);
    relais_fw_flash_file_power_on(&ff);
    /* a cut exactly at the end of an operation: it completes, the next fails */
    relais_fw_flash_file_cut_after(&ff, 4);
    assert_int_equal(f->program(f->ctx, 16, z, 4), RELAIS_FW_OK);
    assert_int_equal(f->program(f->ctx, 20, z, 4), RELAIS_FW_EIO);
    assert_int_equal(ff.mem[20], 0xFF);
    relais_fw_flash_file_power_on(&ff);
    /* an erase cut after 10 bytes: the rest keeps its content */
    assert_int_equal(f->program(f->ctx, 32, z, 8), RELAIS_FW_OK);
    relais_fw_flash_file_cut_after(&ff, 10);
    assert_int_equal(f->erase(f->ctx, 0), RELAIS_FW_EIO);
    for (int i = 0; i < 10; i++)
        assert_int_equal(ff.mem[i], 0xFF);
    assert_int_equal(ff.mem[16], 0x00);
    assert_int_equal(ff.mem[32], 0x00);
    relais_fw_flash_file_power_on(&ff);
    /* the half-erased word 8..11 cannot be programmed again before an erase */
    assert_int_equal(f->program(f->ctx, 8, z, 4), RELAIS_FW_EINVAL);
    assert_int_equal(f->program(f->ctx, 4, z, 4), RELAIS_FW_OK);
    /* garbage model: the bytes after the cut change */
    ff.cut_erase = RELAIS_FW_FLASH_CUT_GARBAGE;
    relais_fw_flash_file_cut_after(&ff, 3);
    assert_int_equal(f->erase(f->ctx, 0), RELAIS_FW_EIO);
    int changed = 0;
    for (int i = 3; i < 64; i++)
        changed += ff.mem[i] != 0xFF && ff.mem[i] != 0x00;
    assert_true(changed > 10);
    relais_fw_flash_file_close(&ff);
}

static void test_flash_file_persists(void **state)
{
    char path[] = "/tmp/relais-flash-XXXXXX";
    struct relais_fw_flash_file ff;
    uint8_t v[4] = {1, 2, 3, 4}, b[4];
    (void)state;

    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(relais_fw_flash_file_open(&ff, path, 64, 2, 4), RELAIS_FW_OK);
    assert_int_equal(ff.flash.program(ff.flash.ctx, 68, v, 4), RELAIS_FW_OK);
    relais_fw_flash_file_close(&ff);
    assert_int_equal(relais_fw_flash_file_open(&ff, path, 64, 2, 4), RELAIS_FW_OK);
    assert_int_equal(ff.flash.read(ff.flash.ctx, 68, b, 4), RELAIS_FW_OK);
    assert_memory_equal(b, v, 4);
    assert_int_equal(ff.flash.program(ff.flash.ctx, 68, v, 4), RELAIS_FW_EINVAL);
    assert_int_equal(ff.mem[0], 0xFF);
    relais_fw_flash_file_close(&ff);
    /* another geometry: refused */
    assert_int_equal(relais_fw_flash_file_open(&ff, path, 64, 4, 4), RELAIS_FW_EINVAL);
    relais_fw_flash_file_close(&ff);
    unlink(path);
}

/* ---- the log ---- */

static void test_mount_geometry(void **state)
{
    struct rig r;
    (void)state;

    rig_open(&r, 512, 1, 4, 1);
    assert_int_equal(rig_mount(&r), RELAIS_FW_EINVAL);
    relais_fw_flash_file_close(&r.ff);
    rig_open(&r, 64, 2, 4, 1); /* too small for a 16-byte pack */
    assert_int_equal(rig_mount(&r), RELAIS_FW_EINVAL);
    relais_fw_flash_file_close(&r.ff);
    rig_open(&r, 512, 2, 4, 1);
    assert_int_equal(relais_fw_ringlog_mount(&r.log, &r.ff.flash, r.work, 32, 1), RELAIS_FW_EINVAL);
    assert_int_equal(rig_mount(&r) == RELAIS_FW_OK ? 0 : 1, 0);
    r.seq_block = 0;
    assert_int_equal(rig_mount(&r), RELAIS_FW_EINVAL);
    relais_fw_flash_file_close(&r.ff);
    rig_open(&r, 512, RELAIS_FW_RINGLOG_MAX_SECTORS + 1, 4, 1);
    assert_int_equal(rig_mount(&r), RELAIS_FW_EINVAL);
    relais_fw_flash_file_close(&r.ff);
}

static void test_blank(void **state)
{
    struct rig r;
    struct relais_fw_ringlog_pack p;
    uint64_t s;
    (void)state;

    rig_open(&r, 512, 2, 4, 1);
    assert_int_equal(rig_mount(&r), RELAIS_FW_OK);
    assert_int_equal(r.ff.cost, 0); /* a blank flash is mounted without a write */
    assert_int_equal(relais_fw_ringlog_unacked(&r.log), 0);
    assert_int_equal(relais_fw_ringlog_oldest_unacked(&r.log, &p), RELAIS_FW_ENOTFOUND);
    assert_int_equal(relais_fw_ringlog_ack(&r.log, 1), RELAIS_FW_ENOTFOUND);
    assert_int_equal(relais_fw_ringlog_seq_next(&r.log, &s), RELAIS_FW_OK);
    assert_int_equal(s, RELAIS_FW_RINGLOG_SEQ_FIRST);
    assert_int_equal(relais_fw_ringlog_seq_next(&r.log, &s), RELAIS_FW_OK);
    assert_int_equal(s, RELAIS_FW_RINGLOG_SEQ_FIRST + 1);
    assert_int_equal(relais_fw_ringlog_max_payload(&r.log), 512 - 28 - 8 - 20);
    assert_int_equal(r.ff.violations, 0);
    relais_fw_flash_file_close(&r.ff);
}

static void test_append_iterate_ack(void **state)
{
    static const uint32_t lens[] = {0, 1, 3, 4, 5, 17, 64, 100, 200, 456};
    uint64_t seqs[10];
    uint32_t left_lens[10];
    uint64_t left[10];
    struct rig r;
    uint8_t buf[1024];
    uint64_t s;
    (void)state;

    rig_open(&r, 512, 8, 4, 1);
    assert_int_equal(rig_mount(&r), RELAIS_FW_OK);
    for (int i = 0; i < 10; i++)
        assert_int_equal(put_pack(&r, lens[i], &seqs[i]), RELAIS_FW_OK);
    expect_packs(&r, seqs, lens, 10);

    /* refused appends */
    assert_int_equal(relais_fw_ringlog_append(&r.log, seqs[9], buf, 4), RELAIS_FW_EINVAL);
    assert_int_equal(relais_fw_ringlog_append(&r.log, seqs[9] + 5, buf, 4), RELAIS_FW_EINVAL);
    assert_int_equal(relais_fw_ringlog_seq_next(&r.log, &s), RELAIS_FW_OK);
    assert_int_equal(relais_fw_ringlog_append(&r.log, s, buf, 457), RELAIS_FW_ETOOBIG);
    assert_int_equal(relais_fw_ringlog_append(&r.log, s, NULL, 4), RELAIS_FW_EINVAL);

    /* acks out of order, twice, unknown */
    assert_int_equal(relais_fw_ringlog_ack(&r.log, seqs[3]), RELAIS_FW_OK);
    assert_int_equal(relais_fw_ringlog_ack(&r.log, seqs[0]), RELAIS_FW_OK);
    assert_int_equal(relais_fw_ringlog_ack(&r.log, seqs[3]), RELAIS_FW_OK);
    assert_int_equal(relais_fw_ringlog_ack(&r.log, seqs[8]), RELAIS_FW_OK);
    assert_int_equal(relais_fw_ringlog_ack(&r.log, 999), RELAIS_FW_ENOTFOUND);
    size_t n = 0;
    for (int i = 0; i < 10; i++) {
        if (i == 0 || i == 3 || i == 8) continue;
        left[n] = seqs[i];
        left_lens[n++] = lens[i];
    }
    expect_packs(&r, left, left_lens, n);
    struct relais_fw_ringlog_pack p;
    assert_int_equal(relais_fw_ringlog_oldest_unacked(&r.log, &p), RELAIS_FW_OK);
    assert_int_equal(p.seq, seqs[1]);
    assert_int_equal(relais_fw_ringlog_read(&r.log, &p, buf, 0), RELAIS_FW_ETOOBIG);

    /* the same after a reboot, and the next seq goes on */
    assert_int_equal(rig_mount(&r), RELAIS_FW_OK);
    expect_packs(&r, left, left_lens, n);
    assert_int_equal(relais_fw_ringlog_seq_next(&r.log, &s), RELAIS_FW_OK);
    assert_true(s > seqs[9] + 1);
    assert_int_equal(r.ff.violations, 0);
    relais_fw_flash_file_close(&r.ff);
}

static void test_iter_during_changes(void **state)
{
    struct rig r;
    struct relais_fw_ringlog_iter it;
    struct relais_fw_ringlog_pack p;
    uint64_t a, b, c;
    (void)state;

    rig_open(&r, 512, 4, 4, 4);
    assert_int_equal(rig_mount(&r), RELAIS_FW_OK);
    assert_int_equal(put_pack(&r, 300, &a), RELAIS_FW_OK);
    assert_int_equal(put_pack(&r, 300, &b), RELAIS_FW_OK); /* another sector */
    relais_fw_ringlog_iter_init(&it);
    assert_int_equal(relais_fw_ringlog_iter_next(&r.log, &it, &p), RELAIS_FW_OK);
    assert_int_equal(p.seq, a);
    /* a's sector is reclaimed under the iterator, a new pack arrives */
    uint64_t erases = r.ff.erases;
    assert_int_equal(relais_fw_ringlog_ack(&r.log, a), RELAIS_FW_OK);
    assert_int_equal(r.ff.erases, erases + 1);
    assert_int_equal(relais_fw_ringlog_iter_next(&r.log, &it, &p), RELAIS_FW_OK);
    assert_int_equal(p.seq, b);
    assert_int_equal(relais_fw_ringlog_iter_next(&r.log, &it, &p), RELAIS_FW_ENOTFOUND);
    assert_int_equal(put_pack(&r, 10, &c), RELAIS_FW_OK);
    assert_int_equal(relais_fw_ringlog_iter_next(&r.log, &it, &p), RELAIS_FW_OK);
    assert_int_equal(p.seq, c);
    relais_fw_flash_file_close(&r.ff);
}

static void test_full_and_reclaim(void **state)
{
    struct rig r;
    uint64_t seqs[64];
    uint32_t lens[64];
    int n = 0, rc;
    (void)state;

    rig_open(&r, 512, 3, 4, 1);
    assert_int_equal(rig_mount(&r), RELAIS_FW_OK);
    for (;;) {
        lens[n] = 100;
        rc = put_pack(&r, 100, &seqs[n]);
        if (rc != RELAIS_FW_OK) break;
        n++;
        assert_true(n < 64);
    }
    assert_int_equal(rc, RELAIS_FW_EFULL);
    assert_true(n >= 9); /* 3 sectors of ~3.5 packs each, minus reservations */
    /* nothing was overwritten */
    expect_packs(&r, seqs, lens, (size_t)n);
    assert_int_equal(rig_mount(&r), RELAIS_FW_OK);
    expect_packs(&r, seqs, lens, (size_t)n);
    uint64_t s;
    assert_int_equal(put_pack(&r, 100, &s) == RELAIS_FW_EFULL ? 0 : 1, 0);

    /* acking the first sector's packs erases it and makes room */
    uint64_t erases = r.ff.erases;
    int i = 0;
    while (r.ff.erases == erases) {
        assert_true(i < n);
        assert_int_equal(relais_fw_ringlog_ack(&r.log, seqs[i++]), RELAIS_FW_OK);
    }
    assert_int_equal(put_pack(&r, 100, &s), RELAIS_FW_OK);
    assert_true(s > seqs[n - 1]);
    /* everything acked: every sector but the head is free again */
    for (int j = i; j < n; j++)
        assert_int_equal(relais_fw_ringlog_ack(&r.log, seqs[j]), RELAIS_FW_OK);
    assert_int_equal(relais_fw_ringlog_ack(&r.log, s), RELAIS_FW_OK);
    assert_int_equal(relais_fw_ringlog_unacked(&r.log), 0);
    assert_int_equal(rig_mount(&r), RELAIS_FW_OK);
    assert_int_equal(relais_fw_ringlog_unacked(&r.log), 0);
    int live = 0;
    for (uint32_t k = 0; k < 3; k++)
        live += r.log.sect[k].state == 2;
    assert_int_equal(live, 1);
    assert_int_equal(r.ff.violations, 0);
    relais_fw_flash_file_close(&r.ff);
}

static void test_seq_never_reused(void **state)
{
    struct rig r;
    uint64_t s, last = 0;
    (void)state;

    /* many cycles of append + ack + reclaim with reboots in between */
    rig_open(&r, 256, 2, 4, 8);
    assert_int_equal(rig_mount(&r), RELAIS_FW_OK);
    for (int round = 0; round < 200; round++) {
        if (round % 7 == 3) assert_int_equal(rig_mount(&r), RELAIS_FW_OK);
        if (round % 5 == 1) {
            /* a seq handed out and never appended is not handed out again */
            assert_int_equal(relais_fw_ringlog_seq_next(&r.log, &s), RELAIS_FW_OK);
            assert_true(s > last);
            last = s;
            continue;
        }
        assert_int_equal(put_pack(&r, (uint32_t)(round * 37 % 150), &s), RELAIS_FW_OK);
        assert_true(s > last);
        last = s;
        assert_int_equal(relais_fw_ringlog_ack(&r.log, s), RELAIS_FW_OK);
    }
    /* a reboot skips at most seq_block - 1 seqs */
    assert_int_equal(rig_mount(&r), RELAIS_FW_OK);
    assert_int_equal(relais_fw_ringlog_seq_next(&r.log, &s), RELAIS_FW_OK);
    assert_true(s > last && s <= last + 8);
    assert_true(r.ff.erases > 50);
    assert_int_equal(r.ff.violations, 0);
    relais_fw_flash_file_close(&r.ff);
}

static void test_write_units(void **state)
{
    static const uint32_t units[] = {1, 2, 4, 8, 16, 32};
    (void)state;

    for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
        struct rig r;
        uint64_t seqs[8];
        uint32_t lens[8] = {1, 33, 7, 64, 0, 90, 15, 31};
        rig_open(&r, 1024, 3, units[u], 2);
        assert_int_equal(rig_mount(&r), RELAIS_FW_OK);
        for (int i = 0; i < 8; i++)
            assert_int_equal(put_pack(&r, lens[i], &seqs[i]), RELAIS_FW_OK);
        assert_int_equal(relais_fw_ringlog_ack(&r.log, seqs[0]), RELAIS_FW_OK);
        assert_int_equal(rig_mount(&r), RELAIS_FW_OK);
        expect_packs(&r, seqs + 1, lens + 1, 7);
        assert_int_equal(r.ff.violations, 0);
        relais_fw_flash_file_close(&r.ff);
    }
}

static void test_corrupt_record(void **state)
{
    struct rig r;
    uint64_t seqs[3];
    uint32_t lens[3] = {40, 40, 40};
    (void)state;

    rig_open(&r, 512, 2, 4, 4);
    assert_int_equal(rig_mount(&r), RELAIS_FW_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(put_pack(&r, 40, &seqs[i]), RELAIS_FW_OK);
    /* bit rot in the second pack's payload: sector header 28, reservation
     * record 28, first pack 68, second pack header 20 */
    r.ff.mem[28 + 28 + 68 + 20 + 5] ^= 0x10;
    struct relais_fw_ringlog_iter it;
    struct relais_fw_ringlog_pack p;
    uint8_t buf[64];
    relais_fw_ringlog_iter_init(&it);
    assert_int_equal(relais_fw_ringlog_iter_next(&r.log, &it, &p), RELAIS_FW_OK);
    assert_int_equal(relais_fw_ringlog_iter_next(&r.log, &it, &p), RELAIS_FW_OK);
    assert_int_equal(p.seq, seqs[1]);
    assert_int_equal(relais_fw_ringlog_read(&r.log, &p, buf, sizeof(buf)), RELAIS_FW_ECORRUPT);
    /* after a reboot it is skipped, the packs around it stay */
    assert_int_equal(rig_mount(&r), RELAIS_FW_OK);
    assert_int_equal(r.log.corrupt, 1);
    uint64_t s2[2] = {seqs[0], seqs[2]};
    expect_packs(&r, s2, lens, 2);
    assert_int_equal(rig_mount(&r), RELAIS_FW_OK);
    expect_packs(&r, s2, lens, 2);
    uint64_t s;
    assert_int_equal(put_pack(&r, 10, &s), RELAIS_FW_OK);
    assert_true(s > seqs[2]);
    assert_int_equal(r.ff.violations, 0);
    relais_fw_flash_file_close(&r.ff);
}

static void test_garbage_flash(void **state)
{
    struct rig r;
    uint64_t s;
    uint32_t x = 12345;
    (void)state;

    rig_open(&r, 512, 4, 4, 1);
    for (uint32_t i = 0; i < 2048; i++) {
        x = x * 1103515245u + 12345u;
        r.ff.mem[i] = (uint8_t)(x >> 16);
        r.ff.programmed[i / 4] = 1;
    }
    assert_int_equal(rig_mount(&r), RELAIS_FW_OK);
    assert_int_equal(r.ff.erases, 4);
    assert_int_equal(relais_fw_ringlog_unacked(&r.log), 0);
    assert_int_equal(put_pack(&r, 50, &s), RELAIS_FW_OK);
    assert_int_equal(s, RELAIS_FW_RINGLOG_SEQ_FIRST);
    assert_int_equal(r.ff.violations, 0);
    relais_fw_flash_file_close(&r.ff);
}

/* ---- the exhaustive power-cut test ---- */

enum { OP_APPEND, OP_ACK, OP_REMOUNT };
struct op {
    int kind;
    uint32_t arg; /* APPEND: payload bytes; ACK: which append */
};

/* 22 appends of varied sizes (up to nearly a sector), acks out of order and
 * repeated, a clean remount; 4 sectors of 512 bytes: the ring wraps, sectors
 * are reclaimed, and the log runs full (appends 15 and 16 are refused). */
static const struct op scenario[] = {
    {OP_APPEND, 40},  {OP_APPEND, 7},   {OP_APPEND, 120}, {OP_ACK, 0},      {OP_APPEND, 1},
    {OP_APPEND, 64},  {OP_ACK, 2},      {OP_ACK, 1},      {OP_APPEND, 200}, {OP_APPEND, 33},
    {OP_ACK, 3},      {OP_ACK, 4},      {OP_ACK, 0},      {OP_REMOUNT, 0},  {OP_APPEND, 90},
    {OP_APPEND, 0},   {OP_ACK, 6},      {OP_ACK, 5},      {OP_APPEND, 150}, {OP_ACK, 7},
    {OP_APPEND, 17},  {OP_APPEND, 250}, {OP_ACK, 9},      {OP_ACK, 8},      {OP_APPEND, 60},
    {OP_APPEND, 400}, {OP_APPEND, 300}, {OP_APPEND, 300}, {OP_APPEND, 450}, {OP_ACK, 12},
    {OP_ACK, 10},     {OP_ACK, 11},     {OP_APPEND, 5},   {OP_ACK, 14},     {OP_APPEND, 100},
    {OP_ACK, 13},     {OP_APPEND, 45},  {OP_ACK, 15},     {OP_APPEND, 80},  {OP_ACK, 17},
    {OP_APPEND, 128}, {OP_ACK, 19},
};
#define NAPPEND 22

struct model {
    bool dead;
    int inflight; /* append in progress when the power went, or -1 */
    uint64_t max_handed;
    bool ok[NAPPEND], acked[NAPPEND], full[NAPPEND];
    uint64_t seq[NAPPEND];
    uint32_t len[NAPPEND];
};

static const char *g_config = "";
static uint64_t g_cut, g_cut2 = RELAIS_FW_FLASH_NO_CUT;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            print_message("cut after %llu bytes, recovery cut after %lld (%s): %s\n",              \
                          (unsigned long long)g_cut, (long long)g_cut2, g_config, #cond);          \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

/* An operation's code: EIO means the power went (the model stops). */
static bool alive(struct model *m, int rc, bool cutting)
{
    if (rc == RELAIS_FW_EIO && cutting) {
        m->dead = true;
        return false;
    }
    return true;
}

/* Runs the scenario on a mounted rig until the end or the power cut. */
static void run_scenario(struct rig *r, struct model *m, bool cutting)
{
    uint8_t buf[512];
    int n = 0, rc;

    memset(m, 0, sizeof(*m));
    m->inflight = -1;
    for (size_t i = 0; i < sizeof(scenario) / sizeof(scenario[0]); i++) {
        const struct op *o = &scenario[i];
        if (o->kind == OP_APPEND) {
            uint64_t s;
            rc = relais_fw_ringlog_seq_next(&r->log, &s);
            if (!alive(m, rc, cutting)) return;
            if (rc == RELAIS_FW_EFULL) {
                m->full[n++] = true;
                continue;
            }
            CHECK(rc == RELAIS_FW_OK);
            CHECK(s > m->max_handed);
            m->max_handed = s;
            m->seq[n] = s;
            m->len[n] = o->arg;
            fill(buf, s, o->arg);
            m->inflight = n;
            rc = relais_fw_ringlog_append(&r->log, s, buf, o->arg);
            if (!alive(m, rc, cutting)) return;
            m->inflight = -1;
            if (rc == RELAIS_FW_EFULL)
                m->full[n] = true;
            else
                CHECK(rc == RELAIS_FW_OK);
            m->ok[n] = rc == RELAIS_FW_OK;
            n++;
        } else if (o->kind == OP_ACK) {
            if (!m->ok[o->arg]) continue;
            bool again = m->acked[o->arg];
            m->acked[o->arg] = true;
            rc = relais_fw_ringlog_ack(&r->log, m->seq[o->arg]);
            if (!alive(m, rc, cutting)) return;
            /* a second ack may find the pack's sector reclaimed */
            CHECK(rc == RELAIS_FW_OK || (again && rc == RELAIS_FW_ENOTFOUND));
        } else {
            rc = rig_mount(r);
            if (!alive(m, rc, cutting)) return;
            CHECK(rc == RELAIS_FW_OK);
        }
    }
    CHECK(n == NAPPEND);
}

/* After a cut: mount, then every appended unacked pack is there with its
 * body, nothing else is (an acked one may come back), in seq order; new
 * seqs are above every seq handed out; a new pack can be stored and
 * survives a reboot. */
static void check_reboot(struct rig *r, const struct model *m)
{
    struct relais_fw_ringlog_iter it;
    struct relais_fw_ringlog_pack p;
    uint8_t got[512], want[512];
    bool present[NAPPEND] = {false};
    uint64_t prev = 0, s;
    uint32_t count = 0;

    relais_fw_flash_file_power_on(&r->ff);
    CHECK(rig_mount(r) == RELAIS_FW_OK);
    CHECK(r->ff.violations == 0);
    relais_fw_ringlog_iter_init(&it);
    while (relais_fw_ringlog_iter_next(&r->log, &it, &p) == RELAIS_FW_OK) {
        int who = -1;
        for (int i = 0; i < NAPPEND; i++)
            if ((m->ok[i] || m->inflight == i) && m->seq[i] == p.seq) who = i;
        CHECK(who >= 0); /* never a pack that was not appended */
        CHECK(p.seq > prev);
        prev = p.seq;
        CHECK(p.len == m->len[who]);
        CHECK(relais_fw_ringlog_read(&r->log, &p, got, sizeof(got)) == (int)p.len);
        fill(want, p.seq, p.len);
        CHECK(memcmp(got, want, p.len) == 0);
        present[who] = true;
        count++;
    }
    CHECK(count == relais_fw_ringlog_unacked(&r->log));
    for (int i = 0; i < NAPPEND; i++)
        if (m->ok[i] && !m->acked[i]) CHECK(present[i]);

    /* mounting again changes nothing */
    uint64_t next_seq = r->log.next_seq;
    CHECK(rig_mount(r) == RELAIS_FW_OK);
    CHECK(r->log.next_seq == next_seq && relais_fw_ringlog_unacked(&r->log) == count);

    /* the device goes on: acks everything, takes a new reading */
    for (int i = 0; i < NAPPEND; i++)
        if (present[i]) CHECK(relais_fw_ringlog_ack(&r->log, m->seq[i]) == RELAIS_FW_OK);
    CHECK(relais_fw_ringlog_seq_next(&r->log, &s) == RELAIS_FW_OK);
    CHECK(s > m->max_handed);
    fill(want, s, 77);
    CHECK(relais_fw_ringlog_append(&r->log, s, want, 77) == RELAIS_FW_OK);
    CHECK(rig_mount(r) == RELAIS_FW_OK);
    CHECK(relais_fw_ringlog_oldest_unacked(&r->log, &p) == RELAIS_FW_OK);
    CHECK(p.seq == s && relais_fw_ringlog_unacked(&r->log) == 1);
    CHECK(relais_fw_ringlog_read(&r->log, &p, got, sizeof(got)) == 77);
    CHECK(memcmp(got, want, 77) == 0);
    uint64_t s2;
    CHECK(relais_fw_ringlog_seq_next(&r->log, &s2) == RELAIS_FW_OK && s2 > s);
    CHECK(r->ff.violations == 0);
}

struct snapshot {
    uint8_t mem[2048], programmed[512];
    uint64_t cost;
};

static void snap_take(const struct rig *r, struct snapshot *sn)
{
    memcpy(sn->mem, r->ff.mem, sizeof(sn->mem));
    memcpy(sn->programmed, r->ff.programmed, sizeof(sn->programmed));
    sn->cost = r->ff.cost;
}

static void snap_restore(struct rig *r, const struct snapshot *sn)
{
    memcpy(r->ff.mem, sn->mem, sizeof(sn->mem));
    memcpy(r->ff.programmed, sn->programmed, sizeof(sn->programmed));
    r->ff.cost = sn->cost;
}

/* Returns the number of cut points checked. */
static uint64_t exhaustive(enum relais_fw_flash_cut_erase model, uint32_t seq_block,
                           bool cut_recovery)
{
    static struct rig r;
    static struct snapshot sn;
    struct model m;
    uint64_t checked = 0;

    /* the uncut run: B bytes */
    g_cut = RELAIS_FW_FLASH_NO_CUT;
    rig_open(&r, 512, 4, 4, seq_block);
    CHECK(rig_mount(&r) == RELAIS_FW_OK);
    run_scenario(&r, &m, false);
    CHECK(!m.dead && r.ff.violations == 0);
    int full = 0, acked = 0;
    for (int i = 0; i < NAPPEND; i++) {
        full += m.full[i];
        acked += m.acked[i];
    }
    if (getenv("RINGLOG_DEBUG"))
        for (int i = 0; i < NAPPEND; i++)
            print_message("append %d: %u bytes %s%s\n", i, m.len[i], m.full[i] ? "FULL" : "ok",
                          m.acked[i] ? " acked" : "");
    CHECK(full >= 1 && acked >= 15); /* the scenario does what it says */
    uint64_t total = r.ff.cost;
    CHECK(r.ff.erases >= 4);
    relais_fw_flash_file_close(&r.ff);

    for (uint64_t k = 0; k <= total; k++) {
        g_cut = k;
        rig_open(&r, 512, 4, 4, seq_block);
        r.ff.cut_erase = model;
        relais_fw_flash_file_cut_after(&r.ff, k);
        CHECK(rig_mount(&r) == RELAIS_FW_OK);
        run_scenario(&r, &m, true);
        CHECK(m.dead == (k < total));
        if (cut_recovery && m.dead) {
            /* cut the recovery mount's writes too */
            relais_fw_flash_file_power_on(&r.ff);
            snap_take(&r, &sn);
            CHECK(rig_mount(&r) == RELAIS_FW_OK);
            uint64_t rec = r.ff.cost - sn.cost;
            /* one cut point of the recovery per k, spread over it */
            uint64_t js[] = {(k * 7919u) % (rec ? rec : 1)};
            for (size_t j = 0; j < sizeof(js) / sizeof(js[0]); j++) {
                if (js[j] >= rec) continue;
                snap_restore(&r, &sn);
                relais_fw_flash_file_power_on(&r.ff);
                relais_fw_flash_file_cut_after(&r.ff, js[j]);
                g_cut2 = js[j];
                CHECK(rig_mount(&r) == RELAIS_FW_EIO);
                check_reboot(&r, &m);
                checked++;
            }
            snap_restore(&r, &sn);
            g_cut2 = RELAIS_FW_FLASH_NO_CUT;
        }
        check_reboot(&r, &m);
        checked++;
        relais_fw_flash_file_close(&r.ff);
    }
    print_message("%s: B = %llu bytes programmed/erased, %llu cut points checked\n", g_config,
                  (unsigned long long)total, (unsigned long long)checked);
    return checked;
}

static void test_power_cut_keep(void **state)
{
    (void)state;
    g_config = "erase cut keeps old bytes, seq_block 1";
    exhaustive(RELAIS_FW_FLASH_CUT_KEEP, 1, false);
}

static void test_power_cut_garbage(void **state)
{
    (void)state;
    g_config = "erase cut leaves garbage, seq_block 4";
    exhaustive(RELAIS_FW_FLASH_CUT_GARBAGE, 4, false);
}

static void test_power_cut_during_recovery(void **state)
{
    (void)state;
    g_config = "cut, then cut again during the recovery mount, seq_block 3";
    exhaustive(RELAIS_FW_FLASH_CUT_KEEP, 3, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32),
        cmocka_unit_test(test_flash_nor_rules),
        cmocka_unit_test(test_flash_cut_model),
        cmocka_unit_test(test_flash_file_persists),
        cmocka_unit_test(test_mount_geometry),
        cmocka_unit_test(test_blank),
        cmocka_unit_test(test_append_iterate_ack),
        cmocka_unit_test(test_iter_during_changes),
        cmocka_unit_test(test_full_and_reclaim),
        cmocka_unit_test(test_seq_never_reused),
        cmocka_unit_test(test_write_units),
        cmocka_unit_test(test_corrupt_record),
        cmocka_unit_test(test_garbage_flash),
        cmocka_unit_test(test_power_cut_keep),
        cmocka_unit_test(test_power_cut_garbage),
        cmocka_unit_test(test_power_cut_during_recovery),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
