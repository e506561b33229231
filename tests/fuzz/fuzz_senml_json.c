/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for SenML JSON decoding (edge/src/senml.c, senml_json.c).
 * What is checked: tests/fuzz/fuzz_senml.h.
 *
 * Seeds: tests/fuzz/corpus/senml_json/: hand-written packs (ok-*, bad-*), the
 * smallest JSONTestSuite y_ and n_ files, and the inputs that -merge=1
 * -use_counters=0 kept from a 60 s run (named by their SHA-1).
 * Build (from the project root) and run:
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
 *     -Iedge/include -Ifirmware/wire/include -Iedge/src tests/fuzz/fuzz_senml_json.c \
 *     edge/src/senml.c edge/src/senml_json.c edge/src/senml_cbor.c edge/src/cbor.c \
 *     firmware/wire/wire.c -ljansson -lcbor -lm -o fuzz_senml_json
 *   ./fuzz_senml_json -max_total_time=60 tests/fuzz/corpus/senml_json/
 */
#include <stdint.h>

#include "fuzz_senml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(RELAIS_SENML_JSON, data, size);
    return 0;
}
