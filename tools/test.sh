#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The README's test command: installs what is missing, builds relais with gcc
# and clang (both -Werror), cross-builds the Cortex-M4 pill box image and
# checks its size budget, and runs every test under the dev preset
# (clang, ASan+UBSan, libFuzzer harnesses run briefly).  Ends with ctest's
# summary; exits non-zero when anything fails.
set -eu
cd "$(dirname "$0")/.."

./tools/install-deps.sh

echo "== gcc build (dev-gcc: -Werror, ASan+UBSan)"
cmake --preset dev-gcc >/dev/null
cmake --build --preset dev-gcc

echo "== clang build (dev: -Werror, ASan+UBSan, fuzzers)"
cmake --preset dev >/dev/null
cmake --build --preset dev

echo "== cortex-m4 cross build (pill box image, DESIGN 9 flash/RAM budget)"
if command -v arm-none-eabi-gcc >/dev/null 2>&1; then
    cmake --preset cortex-m4 >/dev/null
    cmake --build --preset cortex-m4
    ./firmware/port/cortex-m4/size-check.sh build/cortex-m4/firmware/port/cortex-m4/relais-pillbox.elf
else
    echo "arm-none-eabi-gcc not found: no cross build (ctest's firmware.cortex_m4_size fails)"
fi

echo "== tests"
exec ctest --preset dev "$@"
