/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for SenML CBOR decoding (edge/src/senml.c, senml_cbor.c, cbor.c).
 * What is checked: tests/fuzz/fuzz_senml.h.
 *
 * Seeds: tests/fuzz/corpus/senml_cbor/: the JSON seeds converted with
 * `relais-senml cbor` (ok-*, bad-*), hand-made CBOR packs (half and single
 * floats, NaN, tags, indefinite lengths, duplicate labels, malformed items),
 * and the inputs that -merge=1 -use_counters=0 kept from a 60 s run.
 * Build (from the project root) and run:
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
 *     -Iedge/include -Ifirmware/wire/include -Iedge/src tests/fuzz/fuzz_senml_cbor.c \
 *     edge/src/senml.c edge/src/senml_json.c edge/src/senml_cbor.c edge/src/cbor.c \
 *     firmware/wire/wire.c -ljansson -lcbor -lm -o fuzz_senml_cbor
 *   ./fuzz_senml_cbor -max_total_time=60 tests/fuzz/corpus/senml_cbor/
 */
#include <stdint.h>

#include "fuzz_senml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(RELAIS_SENML_CBOR, data, size);
    return 0;
}
