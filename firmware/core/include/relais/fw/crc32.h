/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, the one of zlib and
 * Ethernet).
 */
#ifndef RELAIS_FW_CRC32_H
#define RELAIS_FW_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC: crc is 0 for the first chunk, then the previous result.
 * relais_fw_crc32(0, "123456789", 9) == 0xCBF43926. */
uint32_t relais_fw_crc32(uint32_t crc, const void *buf, size_t len);

#endif
