/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ring log of unacknowledged packs (DESIGN.md 3.5 and 7), in NOR flash,
 * safe against a power cut at any byte; and the device's persisted pack
 * sequence number.  The flash format and the recovery rules are described at
 * the top of ringlog.c.
 *
 * Use:
 *   mount once at boot;
 *   per reading: seq_next() then append(seq, pack) -- RELAIS_FW_EFULL means
 *     the log is full of unacknowledged packs: stop taking readings (nothing
 *     is ever overwritten) until acks free a sector;
 *   send oldest_unacked() / iter_next() packs, read() their bodies;
 *   on an ack from relaisd (stored, duplicate or rejected): ack(seq).
 *
 * No heap: the caller owns the struct and the work buffer.  Not thread-safe:
 * one caller at a time.  After any RELAIS_FW_EIO the state in RAM stays
 * consistent with the flash (a torn record is never used again), but the
 * device may as well reboot and mount again.
 */
#ifndef RELAIS_FW_RINGLOG_H
#define RELAIS_FW_RINGLOG_H

#include <stdbool.h>
#include <stdint.h>

#include "relais/fw/error.h"
#include "relais/fw/flash.h"

/* Most sectors a log may span (RAM: 16 bytes each). */
#define RELAIS_FW_RINGLOG_MAX_SECTORS 64
/* Smallest work buffer mount() accepts (it must also hold 2 write units). */
#define RELAIS_FW_RINGLOG_WORK_MIN    64
/* The first seq a blank log hands out. */
#define RELAIS_FW_RINGLOG_SEQ_FIRST   1

/* Private: one sector as mount() found it and the log keeps it since. */
struct relais_fw_ringlog_sector {
    uint32_t gen;     /* LIVE: generation from its header (opening order) */
    uint32_t end;     /* LIVE: offset just past its last valid record */
    uint32_t unacked; /* LIVE: packs in it not yet acknowledged */
    uint8_t state;    /* free (erased), dirty (to erase), live */
    uint8_t spare[3];
};

/* Every field is private; the caller only owns the storage. */
struct relais_fw_ringlog {
    const struct relais_fw_flash *flash; /* borrowed until the log is dropped */
    uint8_t *work;                       /* borrowed until the log is dropped */
    uint32_t work_len;                   /* usable part: a multiple of slot */
    uint32_t slot;                       /* max(4, write_unit) */
    uint32_t first_rec;                  /* offset of the first record in a sector */
    uint32_t max_payload;
    uint32_t seq_block; /* seqs reserved per persisted reservation */
    uint32_t head;      /* sector being appended to, or RELAIS_FW_RINGLOG_NONE */
    uint32_t head_off;  /* next free offset in the head */
    bool head_sealed;   /* the head took a torn write: no more appends into it */
    uint32_t next_gen;
    uint64_t next_seq;   /* next seq seq_next() hands out */
    uint64_t seq_bound;  /* every seq below it may have been handed out (persisted) */
    uint64_t append_min; /* smallest seq append() still accepts */
    uint32_t unacked;    /* packs not acknowledged, whole log */
    uint32_t corrupt;    /* committed records skipped at mount for a bad CRC */
    struct relais_fw_ringlog_sector sect[RELAIS_FW_RINGLOG_MAX_SECTORS];
};

#define RELAIS_FW_RINGLOG_NONE 0xFFFFFFFFu

/* A pack in the log, as the iteration functions report it. */
struct relais_fw_ringlog_pack {
    uint64_t seq;
    uint32_t len;  /* payload bytes */
    uint32_t addr; /* flash address of its record (private, for read()) */
};

/* A position in the log for iter_next(); plain data, no cleanup. */
struct relais_fw_ringlog_iter {
    uint32_t gen; /* sector generation, 0 = before the first sector */
    uint32_t off; /* offset of the next record to look at in that sector */
};

/*
 * Mounts the log on flash (the whole region: give the port a partition view
 * to use part of a chip): scans every sector, recovers from a power cut (see
 * ringlog.c: torn records are ignored, half-erased or half-opened sectors
 * erased, fully acknowledged sectors reclaimed) and finds the next seq.
 * A blank or garbage region becomes an empty log.
 *
 * flash, work: borrowed until the log is no longer used.  work_len >=
 * RELAIS_FW_RINGLOG_WORK_MIN and >= 2 * write_unit; a larger buffer makes the
 * scan take fewer reads.  seq_block >= 1: seq_next() persists a reservation
 * once per seq_block seqs (a reboot then skips at most seq_block - 1 seqs;
 * seqs only need to increase).
 *
 * Returns RELAIS_FW_OK; RELAIS_FW_EINVAL for a geometry the log cannot use
 * (fewer than 2 or more than RELAIS_FW_RINGLOG_MAX_SECTORS sectors, write_unit
 * not a power of two up to 32, a sector too small for a record of 16 bytes,
 * a region past 4 GiB) or a too small work buffer; RELAIS_FW_EIO when the
 * flash fails (mount again: recovery is idempotent).
 */
int relais_fw_ringlog_mount(struct relais_fw_ringlog *log, const struct relais_fw_flash *flash,
                            uint8_t *work, uint32_t work_len, uint32_t seq_block);

/*
 * The next pack sequence number, strictly greater than every seq handed out
 * before, by this boot or any earlier one, whatever power cuts happened: the
 * reservation is in flash before *seq is set.  Returns RELAIS_FW_OK,
 * RELAIS_FW_EFULL (no room left for the reservation record: acks needed),
 * RELAIS_FW_ERANGE (seq space 2^53 exhausted) or RELAIS_FW_EIO.
 */
int relais_fw_ringlog_seq_next(struct relais_fw_ringlog *log, uint64_t *seq);

/*
 * Appends pack seq (from seq_next() during this mount, greater than every
 * seq appended before) with its body payload[0..len) (borrowed for the call).
 * When it returns RELAIS_FW_OK the pack is in flash and survives any power
 * cut until ack(seq).  Returns RELAIS_FW_OK; RELAIS_FW_EINVAL (seq not handed
 * out or not increasing, payload NULL with len > 0); RELAIS_FW_ETOOBIG (len >
 * relais_fw_ringlog_max_payload()); RELAIS_FW_EFULL (no sector left without
 * unacknowledged packs: the pack is not stored, nothing was overwritten);
 * RELAIS_FW_EIO (the pack is not stored; the part written is never used).
 */
int relais_fw_ringlog_append(struct relais_fw_ringlog *log, uint64_t seq, const void *payload,
                             uint32_t len);

/*
 * Marks pack seq acknowledged (relaisd stored it, or rejected it for good).
 * When that leaves a sector other than the one being appended to without an
 * unacknowledged pack, the sector is erased.  Returns RELAIS_FW_OK (also
 * when seq was already acknowledged); RELAIS_FW_ENOTFOUND when seq is not in
 * the log (an ack for a pack reclaimed long ago: harmless); RELAIS_FW_EIO.
 */
int relais_fw_ringlog_ack(struct relais_fw_ringlog *log, uint64_t seq);

/* The oldest unacknowledged pack.  RELAIS_FW_OK, RELAIS_FW_ENOTFOUND when
 * every pack is acknowledged, or RELAIS_FW_EIO. */
int relais_fw_ringlog_oldest_unacked(struct relais_fw_ringlog *log,
                                     struct relais_fw_ringlog_pack *out);

/* Iteration over the unacknowledged packs, oldest first (increasing seq).
 * Acks and appends between two calls are fine: a pack acknowledged meanwhile
 * is skipped, one appended meanwhile is reached. */
void relais_fw_ringlog_iter_init(struct relais_fw_ringlog_iter *it);
/* RELAIS_FW_OK with *out set, RELAIS_FW_ENOTFOUND past the last one, or
 * RELAIS_FW_EIO. */
int relais_fw_ringlog_iter_next(struct relais_fw_ringlog *log, struct relais_fw_ringlog_iter *it,
                                struct relais_fw_ringlog_pack *out);

/*
 * Reads the body of pack p (from the functions above, the log not remounted
 * since) into buf[0..cap), checking its CRC again.  Returns the length (>= 0),
 * RELAIS_FW_ETOOBIG when cap < p->len, RELAIS_FW_ECORRUPT when the record no
 * longer matches its CRC, RELAIS_FW_EIO.
 */
int relais_fw_ringlog_read(struct relais_fw_ringlog *log, const struct relais_fw_ringlog_pack *p,
                           void *buf, uint32_t cap);

/* The largest payload append() takes with this geometry. */
uint32_t relais_fw_ringlog_max_payload(const struct relais_fw_ringlog *log);
/* Packs appended and not yet acknowledged. */
uint32_t relais_fw_ringlog_unacked(const struct relais_fw_ringlog *log);

#endif
