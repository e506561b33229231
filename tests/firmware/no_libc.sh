#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The firmware core's objects call nothing outside the core and the wire
# library but memcpy/memmove/memset/memcmp/strlen (and the sanitizers' hooks): no heap,
# no stdio (DESIGN 7).  Usage: no_libc.sh NM "OBJ;OBJ;..." SYMBOL...
nm="$1"
objs=$(echo "$2" | tr ';' '\n' | grep -E '\.c\.o(bj)?$' | tr '\n' ' ')
shift 2
test -n "$objs" || { echo "no objects given"; exit 1; }
for sym in "$@"; do
    # shellcheck disable=SC2086
    "$nm" -g --defined-only $objs | grep -q " $sym\$" || { echo "$sym not found in: $objs"; exit 1; }
done
# what the objects define for each other is theirs
# shellcheck disable=SC2086
def=$("$nm" -g --defined-only $objs | awk 'NF == 3 {print $3}' | sort -u) || exit 1
# shellcheck disable=SC2086
und=$("$nm" -u $objs | awk '$1 == "U" {print $2}' | sort -u | grep -vxF "$def") || true
bad=$(echo "$und" | grep -vE '^(memcpy|memmove|memset|memcmp|strlen|relais_.*|__(asan|ubsan|sanitizer|sancov|msan)_.*|__(start|stop)___sancov_.*|__stack_chk_fail|_GLOBAL_OFFSET_TABLE_)$')
test -z "$bad" || { echo "forbidden symbols: $bad"; exit 1; }
echo "ok, undefined symbols:" $und
