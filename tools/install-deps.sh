#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Installs every system package relais needs to build, test and run the demo,
# from Debian bookworm's archive.  Idempotent: installs only what is missing.
# Run as root, or as a user who may sudo.
set -eu

PACKAGES="
build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
mosquitto mosquitto-clients libmosquitto-dev
libcoap3-dev libcoap3-bin
libmbedtls-dev
sqlite3 libsqlite3-dev
libjansson-dev libcbor-dev libinih-dev
libcmocka-dev libsystemd-dev
libfaketime procps jq tzdata openssl ca-certificates
systemd
gcc-arm-none-eabi libnewlib-arm-none-eabi
"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    echo "install-deps: every system package is installed"
else
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo"
    fi
    echo "install-deps: installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -q --no-install-recommends $missing
fi

# Node.js for the tests only (node and npm come with the machine;
# Debian's own nodejs and npm when they do not).
if ! command -v npm >/dev/null 2>&1; then
    echo "install-deps: installing nodejs npm"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends nodejs npm
fi
# The npm packages: the independent FHIR R4 validator, pinned by its
# package-lock.json.
FHIR_VALIDATE="$(cd "$(dirname "$0")" && pwd)/fhir-validate"
if [ -d "$FHIR_VALIDATE/node_modules/fhir" ]; then
    echo "install-deps: tools/fhir-validate is installed"
else
    echo "install-deps: npm ci in tools/fhir-validate"
    (cd "$FHIR_VALIDATE" && npm ci --no-audit --no-fund)
fi
