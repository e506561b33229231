#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# edge/relaisd.service: systemd-analyze verify finds nothing to say about it
# (any warning fails: an unknown or misspelt key is only a warning to
# systemd), with ExecStart pointing at the relaisd under test; and the
# hardening issue 7 asks for is there: Type=notify with a watchdog, its own
# user, NoNewPrivileges, ProtectSystem=strict, ProtectHome, PrivateTmp,
# ReadWritePaths for the data directory only, an empty CapabilityBoundingSet,
# RestrictAddressFamilies, SystemCallFilter=@system-service.
set -euo pipefail
: "${RELAIS_SRC:?}" "${RELAISD:?}"
UNIT=$RELAIS_SRC/edge/relaisd.service
T=$(mktemp -d "${TMPDIR:-/tmp}/relais-unit.XXXXXX")
trap 'rm -rf "$T"' EXIT
command -v systemd-analyze >/dev/null || { echo "FAIL: systemd-analyze is missing (tools/install-deps.sh installs systemd)"; exit 1; }

sed "s|^ExecStart=/usr/local/sbin/relaisd|ExecStart=$RELAISD|" "$UNIT" >"$T/relaisd.service"
grep -q "^ExecStart=$RELAISD " "$T/relaisd.service" || { echo "FAIL: no ExecStart to rewrite"; exit 1; }
out=$(systemd-analyze verify "$T/relaisd.service" 2>&1) || { echo "FAIL: systemd-analyze verify: $out"; exit 1; }
# the unit's Documentation= and the After=/Wants= units may be missing here: those only
[ -z "$(grep -v -e 'mosquitto.service' -e 'Documentation' <<<"$out" | grep .)" ] ||
    { echo "FAIL: systemd-analyze verify said: $out"; exit 1; }
echo "ok: systemd-analyze verify"

want() { # KEY=VALUE as one line of the unit
    grep -qxF "$1" "$UNIT" || { echo "FAIL: $UNIT has no line '$1'"; exit 1; }
    echo "ok: $1"
}
want "Type=notify"
want "WatchdogSec=30s"
want "User=relais"
want "NoNewPrivileges=yes"
want "ProtectSystem=strict"
want "ProtectHome=yes"
want "PrivateTmp=yes"
want "ReadWritePaths=/var/lib/relais"
want "CapabilityBoundingSet="
want "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6"
want "SystemCallFilter=@system-service"
[ "$(grep -c '^ReadWritePaths=' "$UNIT")" = 1 ] || { echo "FAIL: more than one ReadWritePaths"; exit 1; }

# and it can fail: a misspelt key is reported
sed 's/^Type=notify/Tpye=notify/' "$T/relaisd.service" >"$T/bad.service"
bad=$(systemd-analyze verify "$T/bad.service" 2>&1 || true)
grep -q "Tpye" <<<"$bad" || { echo "FAIL: systemd-analyze did not report a misspelt key: $bad"; exit 1; }
echo "ok: a misspelt key is reported"
echo "systemd_unit: all checks passed"
