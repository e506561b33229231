#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The pill box image for the Cortex-M4 (cortex-m4 preset) configures, builds
# with -Werror, links without a heap and fits DESIGN 9's budget (flash <=
# 48 KiB, RAM <= 8 KiB: firmware/port/cortex-m4/size-check.sh).  Built in a
# temporary directory, not build/cortex-m4.  No skip: without
# arm-none-eabi-gcc (tools/install-deps.sh installs it) the test fails.
set -euo pipefail
src="${RELAIS_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}"
if ! command -v arm-none-eabi-gcc >/dev/null 2>&1; then
    echo "FAIL: arm-none-eabi-gcc not found (tools/install-deps.sh installs gcc-arm-none-eabi)"
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# the host test environment's sanitizer options mean nothing to the cross build
unset ASAN_OPTIONS UBSAN_OPTIONS
cd "$src"
cmake --preset cortex-m4 -B "$tmp/build" >"$tmp/configure.log" 2>&1 \
    || { cat "$tmp/configure.log"; echo "FAIL: configure"; exit 1; }
cmake --build "$tmp/build" >"$tmp/build.log" 2>&1 \
    || { cat "$tmp/build.log"; echo "FAIL: build"; exit 1; }
elf="$tmp/build/firmware/port/cortex-m4/relais-pillbox.elf"
for f in "$elf" "${elf%.elf}.bin" "${elf%.elf}.map"; do
    test -s "$f" || { echo "FAIL: $f missing"; exit 1; }
done
# nothing of the host build in the cross one
if [ -e "$tmp/build/edge" ] || [ -e "$tmp/build/tests" ] || [ -e "$tmp/build/tools" ]; then
    echo "FAIL: the cross build configured host parts"; exit 1
fi
# the check itself fails when over budget: a budget below the image must fail
if "$src/firmware/port/cortex-m4/size-check.sh" "$elf" 1024 1024 >/dev/null; then
    echo "FAIL: size-check.sh passed a 1 KiB budget"; exit 1
fi
exec "$src/firmware/port/cortex-m4/size-check.sh" "$elf"
