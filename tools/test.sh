#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The README's test command: installs what is missing, builds relais with gcc
# and clang (both -Werror), and runs every test under the dev preset
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

echo "== tests"
exec ctest --preset dev "$@"
