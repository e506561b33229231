/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ring log of unacknowledged packs and the persisted pack seq
 * (relais/fw/ringlog.h), on NOR flash (relais/fw/flash.h).
 *
 * ---- Flash format (all integers little-endian; W = max(4, write_unit)) ----
 *
 * Sector (every sector of the region, used in ring order):
 *   [0, H)        header body, H = align(20, W), padding 0xFF:
 *                   u32 magic 'RLS1'   u32 gen (opening order, 1, 2, ...)
 *                   u64 floor (every seq handed out before this sector was
 *                              opened is below it)
 *                   u32 crc32 of the 16 bytes above
 *   [H, H+W)      COMMIT slot: u32 0x21544D43 then zeros, programmed last
 *   [H+W, H+2W)   OBSOLETE slot: erased while the sector is live; programmed
 *                 (zeros) before the sector is erased for reuse
 *   [H+2W, ...)   records, back to back, then erased space
 *
 * Record:
 *   [0, 20)       u32 tag ('RLP1' pack, 'RLQ1' seq reservation)
 *                 u32 len (payload bytes)  u64 seq (pack: its seq;
 *                 reservation: every seq below it may have been handed out)
 *                 u32 crc32 of the 16 bytes above then of the payload
 *   [20, 20+len)  payload, then 0xFF up to D = align(20 + len, W)
 *   [D, D+W)      COMMIT slot, programmed after the header and payload
 *   [D+W, D+2W)   ACK slot: erased = not acknowledged; any bit cleared =
 *                 acknowledged (ack() programs zeros)
 * Every write unit is programmed once between two erases (no read-modify-
 * write, no second program of a word: fine for flashes with ECC words).
 *
 * ---- States ----
 *
 *   sector: ERASED --open_head(): header, COMMIT--> LIVE, head
 *           --open_head() elsewhere--> LIVE, not head
 *           --last ack: reclaim() (ack(), mount(), open_head()):
 *             program OBSOLETE--> DIRTY --erase--> ERASED
 *           mount() finds each sector LIVE, FREE (reads all 0xFF) or DIRTY
 *           (anything else): it erases DIRTY ones; open_head() erases a FREE
 *           one before use (it may be an erase that a cut interrupted, whose
 *           bits read 0xFF but are not reliably erased).
 *   record: erased --write_record(): header+payload--> TORN --COMMIT-->
 *           UNACKED --ack()--> ACKED --reclaim of its sector--> erased
 *
 * ---- Recovery rules (mount) ----
 *
 * 1. A sector is LIVE when its header body has the magic, a nonzero gen and
 *    its CRC, its COMMIT slot is exact and its OBSOLETE slot erased; FREE when
 *    all of it is 0xFF (erased again before it is used); else DIRTY (a
 *    half-programmed header, a sector being reclaimed, a half-erased sector,
 *    garbage) and it is erased.
 * 2. In a LIVE sector, records are read from the start while each has a known
 *    tag, a length that fits, an exact COMMIT slot and a good CRC.  The first
 *    record without a COMMIT (a torn append: the only record a cut can tear,
 *    because the log never writes after it) ends the sector.  A committed
 *    record with a bad CRC (bit rot: a cut cannot cause it) is skipped and
 *    marked acknowledged so it is never sent.
 * 3. The head is the LIVE sector with the highest gen.  If anything after its
 *    last record is not erased (a torn record), it is sealed: appends go to a
 *    new sector, the torn bytes are never programmed again.
 * 4. A LIVE sector other than the head with no unacknowledged pack is
 *    reclaimed (a cut between the last ack and the erase).
 * 5. next seq = max(floor, pack seq + 1, reservation) over the LIVE sectors.
 *
 * ---- Why a power cut at any byte is safe ----
 *
 * - A record counts only once its COMMIT slot is complete, and append()
 *   returns OK only after that: a pack append() reported is whole, a torn one
 *   is invisible, and nothing is ever written after a torn record in its
 *   sector, so the scan cannot be misled past it.
 * - ack() writes one slot; a partly written ACK slot reads as acknowledged,
 *   which is what ack() was doing.  An ack is never needed again: relaisd
 *   deduplicates the (harmless) resend of a pack whose ack was lost.
 * - A sector is erased only when it holds no unacknowledged pack, and its
 *   header is invalidated (OBSOLETE) before the erase starts, so a half-erased
 *   sector is DIRTY whatever order the chip erases in.
 * - The head is never erased, and a new head is opened (erase, header,
 *   COMMIT) before the old one may be reclaimed: a valid head always exists
 *   once anything was written, with floor >= every seq handed out before it
 *   opened, and every later seq is below a reservation record in it or a
 *   pack record in it.  seq_next() writes the reservation before it returns a
 *   seq, so no seq is ever handed out twice.
 * - Mount only erases DIRTY sectors and reclaims acknowledged ones: a cut
 *   during mount leaves a flash mount recovers again.
 */
#include "relais/fw/ringlog.h"

#include <string.h>

#include "relais/fw/crc32.h"
#include "relais/wire.h"

#define SECTOR_MAGIC 0x31534C52u /* "RLS1" */
#define TAG_PACK     0x31504C52u /* "RLP1" */
#define TAG_SEQ      0x31514C52u /* "RLQ1" */
#define COMMIT_MAGIC 0x21544D43u /* "CMT!" */
#define BODY_LEN     20u         /* sector header body and record header */
#define PAYLOAD_MIN  16u         /* a geometry must hold a record this big */

/* FREE reads all 0xFF but may be an interrupted erase (weak bits, or write
 * units the chip refuses to program): open_head() erases it first.  ERASED
 * was erased by a completed erase since mount. */
enum { SECT_FREE = 0, SECT_DIRTY = 1, SECT_LIVE = 2, SECT_ERASED = 3 };
enum slot_state { SLOT_ERASED, SLOT_COMMIT, SLOT_OTHER };

/* ---- little helpers ---- */

static uint32_t align_up(uint32_t x, uint32_t a)
{
    return (x + a - 1) / a * a;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (unsigned i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint32_t sector_addr(const struct relais_fw_ringlog *log, uint32_t s)
{
    return s * log->flash->sector_size;
}

/* Bytes a record with len bytes of payload takes. */
static uint32_t rec_size(const struct relais_fw_ringlog *log, uint32_t len)
{
    return align_up(BODY_LEN + len, log->slot) + 2 * log->slot;
}

static int flash_read(struct relais_fw_ringlog *log, uint32_t addr, void *buf, uint32_t len)
{
    int rc = log->flash->read(log->flash->ctx, addr, buf, len);
    return rc < 0 ? rc : RELAIS_FW_OK;
}

static int flash_program(struct relais_fw_ringlog *log, uint32_t addr, const void *buf,
                         uint32_t len)
{
    int rc = log->flash->program(log->flash->ctx, addr, buf, len);
    return rc < 0 ? rc : RELAIS_FW_OK;
}

static int flash_erase(struct relais_fw_ringlog *log, uint32_t s)
{
    int rc = log->flash->erase(log->flash->ctx, s);
    return rc < 0 ? rc : RELAIS_FW_OK;
}

#define FF8 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF
static const uint8_t erased_block[32] = {FF8, FF8, FF8, FF8};

/* *erased = every byte of [addr, addr + len) is 0xFF. */
static int is_erased(struct relais_fw_ringlog *log, uint32_t addr, uint32_t len, bool *erased)
{
    *erased = true;
    while (len > 0) {
        uint32_t n = len < log->work_len ? len : log->work_len;
        int rc = flash_read(log, addr, log->work, n);
        if (rc) return rc;
        for (uint32_t i = 0; i < n; i += sizeof(erased_block)) {
            uint32_t k = n - i < sizeof(erased_block) ? n - i : sizeof(erased_block);
            if (memcmp(log->work + i, erased_block, k) != 0) {
                *erased = false;
                return RELAIS_FW_OK;
            }
        }
        addr += n;
        len -= n;
    }
    return RELAIS_FW_OK;
}

static int slot_read(struct relais_fw_ringlog *log, uint32_t addr, enum slot_state *st)
{
    int rc = flash_read(log, addr, log->work, log->slot);
    if (rc) return rc;
    bool erased = true, commit = get32(log->work) == COMMIT_MAGIC;
    for (uint32_t i = 0; i < log->slot; i++) {
        if (log->work[i] != 0xFF) erased = false;
        if (i >= 4 && log->work[i] != 0) commit = false;
    }
    *st = erased ? SLOT_ERASED : commit ? SLOT_COMMIT : SLOT_OTHER;
    return RELAIS_FW_OK;
}

/* Programs one slot: COMMIT_MAGIC then zeros, or all zeros. */
static int slot_program(struct relais_fw_ringlog *log, uint32_t addr, bool commit)
{
    memset(log->work, 0, log->slot);
    if (commit) put32(log->work, COMMIT_MAGIC);
    return flash_program(log, addr, log->work, log->slot);
}

/* Programs body[0..20) then payload[0..len) at addr, padded with 0xFF to a
 * multiple of the slot size, through the work buffer. */
static int program_stream(struct relais_fw_ringlog *log, uint32_t addr, const uint8_t *body,
                          const uint8_t *payload, uint32_t len)
{
    uint32_t total = align_up(BODY_LEN + len, log->slot);

    for (uint32_t pos = 0; pos < total;) {
        uint32_t n = total - pos < log->work_len ? total - pos : log->work_len;
        for (uint32_t i = 0; i < n;) {
            uint32_t at = pos + i, k;
            if (at < BODY_LEN) {
                k = BODY_LEN - at < n - i ? BODY_LEN - at : n - i;
                memcpy(log->work + i, body + at, k);
            } else if (at < BODY_LEN + len) {
                k = BODY_LEN + len - at < n - i ? BODY_LEN + len - at : n - i;
                memcpy(log->work + i, payload + (at - BODY_LEN), k);
            } else {
                k = n - i;
                memset(log->work + i, 0xFF, k);
            }
            i += k;
        }
        int rc = flash_program(log, addr + pos, log->work, n);
        if (rc) return rc;
        pos += n;
    }
    return RELAIS_FW_OK;
}

/* *ok = the CRC of the record at addr (header in hdr) matches. */
static int record_crc_ok(struct relais_fw_ringlog *log, uint32_t addr, const uint8_t *hdr, bool *ok)
{
    uint32_t len = get32(hdr + 4), crc = relais_fw_crc32(0, hdr, 16);

    for (uint32_t pos = 0; pos < len;) {
        uint32_t n = len - pos < log->work_len ? len - pos : log->work_len;
        int rc = flash_read(log, addr + BODY_LEN + pos, log->work, n);
        if (rc) return rc;
        crc = relais_fw_crc32(crc, log->work, n);
        pos += n;
    }
    *ok = crc == get32(hdr + 16);
    return RELAIS_FW_OK;
}

/* The LIVE sector with generation gen, or NONE. */
static uint32_t find_gen(const struct relais_fw_ringlog *log, uint32_t gen)
{
    for (uint32_t s = 0; gen != 0 && s < log->flash->sector_count; s++)
        if (log->sect[s].state == SECT_LIVE && log->sect[s].gen == gen) return s;
    return RELAIS_FW_RINGLOG_NONE;
}

/* The LIVE sector with the smallest generation above gen, or NONE. */
static uint32_t next_live(const struct relais_fw_ringlog *log, uint32_t gen)
{
    uint32_t best = RELAIS_FW_RINGLOG_NONE;
    for (uint32_t s = 0; s < log->flash->sector_count; s++) {
        const struct relais_fw_ringlog_sector *x = &log->sect[s];
        if (x->state == SECT_LIVE && x->gen > gen &&
            (best == RELAIS_FW_RINGLOG_NONE || x->gen < log->sect[best].gen))
            best = s;
    }
    return best;
}

/* ---- sectors ---- */

/* Invalidates then erases sector s, which holds no unacknowledged pack. */
static int reclaim(struct relais_fw_ringlog *log, uint32_t s)
{
    uint32_t h = align_up(BODY_LEN, log->slot);
    int rc = slot_program(log, sector_addr(log, s) + h + log->slot, false);

    log->sect[s].state = SECT_DIRTY;
    if (rc) return rc;
    rc = flash_erase(log, s);
    if (rc) return rc;
    log->sect[s].state = SECT_ERASED;
    return RELAIS_FW_OK;
}

/* Opens the next sector after the head that is not LIVE as the new head
 * (erasing it unless this mount erased it), then reclaims the old head if it
 * holds no unacknowledged pack. */
static int open_head(struct relais_fw_ringlog *log)
{
    uint32_t n = log->flash->sector_count,
             start = log->head == RELAIS_FW_RINGLOG_NONE ? 0 : log->head + 1;
    uint32_t s = RELAIS_FW_RINGLOG_NONE;
    uint8_t body[BODY_LEN];
    int rc;

    for (uint32_t i = 0; i < n && s == RELAIS_FW_RINGLOG_NONE; i++)
        if (log->sect[(start + i) % n].state != SECT_LIVE) s = (start + i) % n;
    if (s == RELAIS_FW_RINGLOG_NONE) return RELAIS_FW_EFULL;

    if (log->sect[s].state != SECT_ERASED) {
        log->sect[s].state = SECT_DIRTY;
        rc = flash_erase(log, s);
        if (rc) return rc;
    }
    put32(body, SECTOR_MAGIC);
    put32(body + 4, log->next_gen);
    put64(body + 8, log->seq_bound);
    put32(body + 16, relais_fw_crc32(0, body, 16));
    log->sect[s].state = SECT_DIRTY; /* until the COMMIT is written */
    rc = program_stream(log, sector_addr(log, s), body, NULL, 0);
    if (rc) return rc;
    rc = slot_program(log, sector_addr(log, s) + align_up(BODY_LEN, log->slot), true);
    if (rc) return rc;

    uint32_t old = log->head;
    log->sect[s] = (struct relais_fw_ringlog_sector){
        .gen = log->next_gen, .end = log->first_rec, .unacked = 0, .state = SECT_LIVE};
    log->next_gen++;
    log->head = s;
    log->head_off = log->first_rec;
    log->head_sealed = false;
    if (old != RELAIS_FW_RINGLOG_NONE && log->sect[old].unacked == 0) return reclaim(log, old);
    return RELAIS_FW_OK;
}

/* Writes one record into the head (opening a new head when it does not fit).
 * On failure the head is sealed: the torn bytes are never programmed again. */
static int write_record(struct relais_fw_ringlog *log, uint32_t tag, uint64_t seq,
                        const uint8_t *payload, uint32_t len)
{
    uint32_t rs = rec_size(log, len), ss = log->flash->sector_size;
    uint8_t hdr[BODY_LEN];
    int rc;

    if (log->head == RELAIS_FW_RINGLOG_NONE || log->head_sealed || log->head_off + rs > ss) {
        rc = open_head(log);
        if (rc) return rc;
    }
    put32(hdr, tag);
    put32(hdr + 4, len);
    put64(hdr + 8, seq);
    uint32_t crc = relais_fw_crc32(0, hdr, 16);
    put32(hdr + 16, relais_fw_crc32(crc, payload, len));

    uint32_t addr = sector_addr(log, log->head) + log->head_off;
    rc = program_stream(log, addr, hdr, payload, len);
    if (!rc) rc = slot_program(log, addr + align_up(BODY_LEN + len, log->slot), true);
    if (rc) {
        log->head_sealed = true;
        return rc;
    }
    log->head_off += rs;
    log->sect[log->head].end = log->head_off;
    return RELAIS_FW_OK;
}

/* ---- mount ---- */

static bool is_pow2(uint32_t x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

/* Classifies sector s; a LIVE one's header goes to gen and floor. */
static int classify(struct relais_fw_ringlog *log, uint32_t s, uint64_t *floor)
{
    uint32_t a = sector_addr(log, s), h = align_up(BODY_LEN, log->slot);
    uint8_t body[BODY_LEN];
    enum slot_state commit, obsolete;
    bool erased;
    int rc;

    if ((rc = flash_read(log, a, body, BODY_LEN)) || (rc = slot_read(log, a + h, &commit)) ||
        (rc = slot_read(log, a + h + log->slot, &obsolete)))
        return rc;
    if (get32(body) == SECTOR_MAGIC && get32(body + 4) != 0 &&
        get32(body + 16) == relais_fw_crc32(0, body, 16) && commit == SLOT_COMMIT &&
        obsolete == SLOT_ERASED) {
        log->sect[s].state = SECT_LIVE;
        log->sect[s].gen = get32(body + 4);
        *floor = get64(body + 8);
        return RELAIS_FW_OK;
    }
    rc = is_erased(log, a, log->flash->sector_size, &erased);
    if (rc) return rc;
    log->sect[s].state = erased ? SECT_FREE : SECT_DIRTY;
    return RELAIS_FW_OK;
}

/* Reads the records of LIVE sector s (recovery rule 2); raises *next_seq. */
static int scan(struct relais_fw_ringlog *log, uint32_t s, uint64_t *next_seq)
{
    uint32_t a = sector_addr(log, s), ss = log->flash->sector_size, off = log->first_rec;
    struct relais_fw_ringlog_sector *x = &log->sect[s];
    int rc;

    x->unacked = 0;
    while (off + rec_size(log, 0) <= ss) {
        uint8_t hdr[BODY_LEN];
        enum slot_state commit, ack;
        bool crc_ok;

        if ((rc = flash_read(log, a + off, hdr, BODY_LEN))) return rc;
        uint32_t tag = get32(hdr), len = get32(hdr + 4);
        uint64_t seq = get64(hdr + 8);
        if ((tag != TAG_PACK && tag != TAG_SEQ) || len > log->max_payload) break;
        uint32_t rs = rec_size(log, len), d = align_up(BODY_LEN + len, log->slot);
        if (off + rs > ss) break;
        if ((rc = slot_read(log, a + off + d, &commit))) return rc;
        if (commit != SLOT_COMMIT) break;
        if ((rc = record_crc_ok(log, a + off, hdr, &crc_ok))) return rc;
        if ((rc = slot_read(log, a + off + d + log->slot, &ack))) return rc;
        if (!crc_ok) {
            log->corrupt++;
            if (ack == SLOT_ERASED && (rc = slot_program(log, a + off + d + log->slot, false)))
                return rc;
        } else if (tag == TAG_SEQ) {
            if (seq > *next_seq) *next_seq = seq;
        } else {
            if (seq >= *next_seq) *next_seq = seq + 1;
            if (ack == SLOT_ERASED) x->unacked++;
        }
        off += rs;
    }
    x->end = off;
    return RELAIS_FW_OK;
}

int relais_fw_ringlog_mount(struct relais_fw_ringlog *log, const struct relais_fw_flash *flash,
                            uint8_t *work, uint32_t work_len, uint32_t seq_block)
{
    if (!log || !flash || !work || !flash->read || !flash->program || !flash->erase ||
        seq_block == 0)
        return RELAIS_FW_EINVAL;
    if (flash->sector_count < 2 || flash->sector_count > RELAIS_FW_RINGLOG_MAX_SECTORS ||
        !is_pow2(flash->write_unit) || flash->write_unit > 32 ||
        flash->sector_size % flash->write_unit != 0 ||
        (uint64_t)flash->sector_size * flash->sector_count > 0xFFFFFFFFu)
        return RELAIS_FW_EINVAL;

    memset(log, 0, sizeof(*log));
    log->flash = flash;
    log->work = work;
    log->slot = flash->write_unit < 4 ? 4 : flash->write_unit;
    log->work_len = work_len / log->slot * log->slot;
    if (work_len < RELAIS_FW_RINGLOG_WORK_MIN || log->work_len < 2 * log->slot)
        return RELAIS_FW_EINVAL;
    log->first_rec = align_up(BODY_LEN, log->slot) + 2 * log->slot;
    if (flash->sector_size < log->first_rec + rec_size(log, PAYLOAD_MIN)) return RELAIS_FW_EINVAL;
    log->max_payload =
        (flash->sector_size - log->first_rec - 2 * log->slot) / log->slot * log->slot - BODY_LEN;
    log->seq_block = seq_block;
    log->head = RELAIS_FW_RINGLOG_NONE;

    uint64_t next_seq = RELAIS_FW_RINGLOG_SEQ_FIRST;
    uint32_t max_gen = 0;
    int rc;
    for (uint32_t s = 0; s < flash->sector_count; s++) {
        uint64_t floor = 0;
        if ((rc = classify(log, s, &floor))) return rc;
        if (log->sect[s].state != SECT_LIVE) continue;
        if (floor > next_seq) next_seq = floor;
        if ((rc = scan(log, s, &next_seq))) return rc;
        log->unacked += log->sect[s].unacked;
        if (log->sect[s].gen > max_gen) {
            max_gen = log->sect[s].gen;
            log->head = s;
        }
    }
    log->next_gen = max_gen + 1;
    log->next_seq = log->seq_bound = log->append_min = next_seq;

    if (log->head != RELAIS_FW_RINGLOG_NONE) {
        bool erased;
        log->head_off = log->sect[log->head].end;
        rc = is_erased(log, sector_addr(log, log->head) + log->head_off,
                       flash->sector_size - log->head_off, &erased);
        if (rc) return rc;
        log->head_sealed = !erased;
    }
    /* Recovery writes last: the state above is already complete. */
    for (uint32_t s = 0; s < flash->sector_count; s++) {
        if (log->sect[s].state == SECT_DIRTY) {
            if ((rc = flash_erase(log, s))) return rc;
            log->sect[s].state = SECT_ERASED;
        } else if (log->sect[s].state == SECT_LIVE && s != log->head && log->sect[s].unacked == 0) {
            if ((rc = reclaim(log, s))) return rc;
        }
    }
    return RELAIS_FW_OK;
}

/* ---- seq, append, ack ---- */

int relais_fw_ringlog_seq_next(struct relais_fw_ringlog *log, uint64_t *seq)
{
    if (!log || !seq) return RELAIS_FW_EINVAL;
    if (log->next_seq > RELAIS_WIRE_SEQ_MAX) return RELAIS_FW_ERANGE;
    if (log->next_seq >= log->seq_bound) {
        uint64_t bound = log->next_seq + log->seq_block;
        if (bound > RELAIS_WIRE_SEQ_MAX + 1) bound = RELAIS_WIRE_SEQ_MAX + 1;
        int rc = write_record(log, TAG_SEQ, bound, NULL, 0);
        if (rc) return rc;
        log->seq_bound = bound;
    }
    *seq = log->next_seq++;
    return RELAIS_FW_OK;
}

int relais_fw_ringlog_append(struct relais_fw_ringlog *log, uint64_t seq, const void *payload,
                             uint32_t len)
{
    if (!log || (!payload && len > 0)) return RELAIS_FW_EINVAL;
    if (len > log->max_payload) return RELAIS_FW_ETOOBIG;
    if (seq < log->append_min || seq >= log->next_seq) return RELAIS_FW_EINVAL;
    int rc = write_record(log, TAG_PACK, seq, payload, len);
    if (rc) return rc;
    log->sect[log->head].unacked++;
    log->unacked++;
    log->append_min = seq + 1;
    return RELAIS_FW_OK;
}

int relais_fw_ringlog_ack(struct relais_fw_ringlog *log, uint64_t seq)
{
    if (!log) return RELAIS_FW_EINVAL;
    for (uint32_t s = next_live(log, 0); s != RELAIS_FW_RINGLOG_NONE;
         s = next_live(log, log->sect[s].gen)) {
        uint32_t a = sector_addr(log, s);
        for (uint32_t off = log->first_rec; off < log->sect[s].end;) {
            uint8_t hdr[BODY_LEN];
            int rc = flash_read(log, a + off, hdr, BODY_LEN);
            if (rc) return rc;
            uint32_t len = get32(hdr + 4), d = align_up(BODY_LEN + len, log->slot);
            if (get32(hdr) == TAG_PACK && get64(hdr + 8) == seq) {
                enum slot_state ack;
                if ((rc = slot_read(log, a + off + d + log->slot, &ack))) return rc;
                if (ack != SLOT_ERASED) return RELAIS_FW_OK;
                /* On failure the counts stay high: a reclaim is only delayed. */
                if ((rc = slot_program(log, a + off + d + log->slot, false))) return rc;
                if (log->sect[s].unacked > 0) log->sect[s].unacked--;
                if (log->unacked > 0) log->unacked--;
                if (log->sect[s].unacked == 0 && s != log->head) return reclaim(log, s);
                return RELAIS_FW_OK;
            }
            off += rec_size(log, len);
        }
    }
    return RELAIS_FW_ENOTFOUND;
}

/* ---- reading ---- */

void relais_fw_ringlog_iter_init(struct relais_fw_ringlog_iter *it)
{
    it->gen = 0;
    it->off = 0;
}

int relais_fw_ringlog_iter_next(struct relais_fw_ringlog *log, struct relais_fw_ringlog_iter *it,
                                struct relais_fw_ringlog_pack *out)
{
    if (!log || !it || !out) return RELAIS_FW_EINVAL;
    uint32_t s = find_gen(log, it->gen), off = it->off;
    if (s == RELAIS_FW_RINGLOG_NONE) {
        s = next_live(log, it->gen);
        off = log->first_rec;
    }
    while (s != RELAIS_FW_RINGLOG_NONE) {
        uint32_t a = sector_addr(log, s);
        it->gen = log->sect[s].gen;
        while (off < log->sect[s].end) {
            uint8_t hdr[BODY_LEN];
            enum slot_state ack;
            int rc = flash_read(log, a + off, hdr, BODY_LEN);
            if (rc) return rc;
            uint32_t len = get32(hdr + 4), d = align_up(BODY_LEN + len, log->slot);
            uint32_t here = off;
            off += rec_size(log, len);
            if (get32(hdr) != TAG_PACK) continue;
            if ((rc = slot_read(log, a + here + d + log->slot, &ack))) return rc;
            if (ack != SLOT_ERASED) continue;
            out->seq = get64(hdr + 8);
            out->len = len;
            out->addr = a + here;
            it->off = off;
            return RELAIS_FW_OK;
        }
        it->off = off;
        s = next_live(log, it->gen);
        off = log->first_rec;
    }
    return RELAIS_FW_ENOTFOUND;
}

int relais_fw_ringlog_oldest_unacked(struct relais_fw_ringlog *log,
                                     struct relais_fw_ringlog_pack *out)
{
    struct relais_fw_ringlog_iter it;

    relais_fw_ringlog_iter_init(&it);
    return relais_fw_ringlog_iter_next(log, &it, out);
}

int relais_fw_ringlog_read(struct relais_fw_ringlog *log, const struct relais_fw_ringlog_pack *p,
                           void *buf, uint32_t cap)
{
    uint8_t hdr[BODY_LEN];

    if (!log || !p || (!buf && cap > 0)) return RELAIS_FW_EINVAL;
    uint32_t ss = log->flash->sector_size;
    if (p->addr / ss >= log->flash->sector_count || p->len > log->max_payload ||
        p->addr % ss + rec_size(log, p->len) > ss)
        return RELAIS_FW_EINVAL;
    int rc = flash_read(log, p->addr, hdr, BODY_LEN);
    if (rc) return rc;
    if (get32(hdr) != TAG_PACK || get32(hdr + 4) != p->len || get64(hdr + 8) != p->seq)
        return RELAIS_FW_ECORRUPT;
    if (cap < p->len) return RELAIS_FW_ETOOBIG;
    if (p->len > 0 && (rc = flash_read(log, p->addr + BODY_LEN, buf, p->len))) return rc;
    uint32_t crc = relais_fw_crc32(relais_fw_crc32(0, hdr, 16), buf, p->len);
    if (crc != get32(hdr + 16)) return RELAIS_FW_ECORRUPT;
    return (int)p->len;
}

uint32_t relais_fw_ringlog_max_payload(const struct relais_fw_ringlog *log)
{
    return log->max_payload;
}

uint32_t relais_fw_ringlog_unacked(const struct relais_fw_ringlog *log)
{
    return log->unacked;
}
