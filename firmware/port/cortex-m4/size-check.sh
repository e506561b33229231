#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The pill box image's size against DESIGN.md 9's budget for the core on a
# Cortex-M4: flash <= 48 KiB, RAM <= 8 KiB (crypto excluded: the image has
# none yet).  From arm-none-eabi-size's Berkeley figures:
#   flash = text + data   (text: .isr_vector + .text + .rodata + .ARM.exidx;
#                          data: the initial values of .data, stored in flash)
#   RAM   = data + bss    (bss: .bss + .stack, the 2 KiB main stack reserve
#                          of cortex-m4.ld, which is counted: it is the stack)
# Also checks that the image has no heap (no malloc and friends, no _sbrk)
# and that the stack reserve is there.
# Usage: size-check.sh ELF [FLASH_MAX_BYTES [RAM_MAX_BYTES]]
# Environment: SIZE, NM (default arm-none-eabi-size, arm-none-eabi-nm).
# Exits 1 when over budget or on a heap symbol, 2 on a usage or tool error.
set -eu
elf="${1:?usage: size-check.sh ELF [FLASH_MAX_BYTES [RAM_MAX_BYTES]]}"
flash_max="${2:-49152}"
ram_max="${3:-8192}"
stack_min=2048
size="${SIZE:-arm-none-eabi-size}"
nm="${NM:-arm-none-eabi-nm}"
command -v "$size" >/dev/null 2>&1 || { echo "size-check: $size not found"; exit 2; }
command -v "$nm" >/dev/null 2>&1 || { echo "size-check: $nm not found"; exit 2; }
test -f "$elf" || { echo "size-check: no such file: $elf"; exit 2; }

# shellcheck disable=SC2046
set -- $("$size" -B -d "$elf" | awk 'NR == 2 {print $1, $2, $3}')
text="$1" data="$2" bss="$3"
stack=$("$size" -A -d "$elf" | awk '$1 == ".stack" {print $2}')
stack="${stack:-0}"
flash=$((text + data))
ram=$((data + bss))

echo "size-check: $(basename "$elf")"
# the allocated sections (address != 0), not the debug ones
"$size" -A -d "$elf" | awk 'NR > 2 && NF == 3 && $3 != 0 {printf "  %-12s %7d B\n", $1, $2}'
awk -v f="$flash" -v fm="$flash_max" -v r="$ram" -v rm="$ram_max" -v t="$text" -v d="$data" \
    -v b="$bss" -v s="$stack" 'BEGIN {
    printf "  flash: %6d B = %5.1f KiB of %5.1f KiB (text %d + data %d)\n", f, f / 1024, fm / 1024, t, d
    printf "  RAM:   %6d B = %5.1f KiB of %5.1f KiB (data %d + bss %d, of which stack reserve %d)\n", \
        r, r / 1024, rm / 1024, d, b, s
}'

fail=0
if [ "$stack" -lt "$stack_min" ]; then
    echo "size-check: FAIL: stack reserve $stack B < $stack_min B (cortex-m4.ld .stack)"
    fail=1
fi
heap=$("$nm" "$elf" | awk '{print $NF}' \
    | grep -xE '_?(malloc|calloc|realloc|free|_malloc_r|_calloc_r|_realloc_r|_free_r|_sbrk|_sbrk_r|sbrk)' || true)
if [ -n "$heap" ]; then
    echo "size-check: FAIL: heap symbols linked in: $(echo "$heap" | tr "\n" " ")"
    fail=1
fi
if [ "$flash" -gt "$flash_max" ]; then
    echo "size-check: FAIL: flash $flash B over the budget of $flash_max B by $((flash - flash_max)) B"
    fail=1
fi
if [ "$ram" -gt "$ram_max" ]; then
    echo "size-check: FAIL: RAM $ram B over the budget of $ram_max B by $((ram - ram_max)) B"
    fail=1
fi
if [ "$fail" -ne 0 ]; then
    exit 1
fi
echo "size-check: ok (no heap; flash and RAM within budget)"
