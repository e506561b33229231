#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# relaisd's and relaisctl's command lines: --check names file, line and key;
# --version; SIGHUP reloads (a bad file is refused, the running config
# stays); a second relaisd on the same data directory is refused; a password
# file others can read is refused; relaisctl's exit codes.
. "$(dirname "$0")/lib.sh"

rl_expect_match "relaisd --version" "$("$RELAISD" --version)" '^relaisd [0-9]+\.[0-9]+\.[0-9]+$'
rl_expect_match "relaisd --help" "$("$RELAISD" --help)" '--check'
rc=0; "$RELAISD" --bogus 2>/dev/null || rc=$?
rl_expect_eq "relaisd bad option exit code" "$rc" 2
rc=0; "$RELAISD" 2>/dev/null || rc=$?
rl_expect_eq "relaisd without -c" "$rc" 2

# every option --help prints is documented in docs/cli.md
for prog in "$RELAISD" "$RELAISCTL"; do
    for opt in $("$prog" --help | grep -oE -- '--[a-z-]+' | sort -u); do
        grep -q -- "\`$opt\b\|, \`$opt\b\|\`-.\`, \`$opt" "$RELAIS_SRC/docs/cli.md" ||
            rl_fail "$(basename "$prog") $opt is not documented in docs/cli.md"
    done
done
rl_log "ok: every option of relaisd and relaisctl is in docs/cli.md"

# --check
cat >"$T/good.conf" <<'CONF'
; a minimal valid configuration
[gateway]
id = gw-check
data_dir = data
CONF
rl_expect_eq "--check of a valid file" "$("$RELAISD" -c "$T/good.conf" --check)" "$T/good.conf: ok"
check_fails() { # FILE-CONTENT EXPECTED-MESSAGE
    printf '%b' "$1" >"$T/bad.conf"
    local out rc=0
    out=$("$RELAISD" -c "$T/bad.conf" --check 2>&1) || rc=$?
    rl_expect_eq "--check exit code for: $2" "$rc" 1
    rl_expect_eq "--check message" "$out" "relaisd: $T/bad.conf:$2"
}
check_fails '[gateway]\nid = gw-1\n[local]\nport = 70000\n' '4: [local] port: 70000 is out of range [1, 65535]'
# a configuration others may write is refused (they could point relaisd anywhere)
cp "$T/good.conf" "$T/open.conf"
chmod 0666 "$T/open.conf"
rc=0
out=$("$RELAISD" -c "$T/open.conf" --check 2>&1) || rc=$?
rl_expect_eq "--check exit code for a world-writable configuration" "$rc" 1
rl_expect_eq "--check message" "$out" "relaisd: $T/open.conf: writable by group or others (mode 0666): refusing it; chmod go-w it"
check_fails '[gateway]\nid = gw-1\n\n[stor]\nquota_mb = 5\n' '4: unknown section [stor]'
check_fails '[gateway]\nid = gw-1\ncolour = blue\n' '3: [gateway] colour: unknown key'
check_fails '[gateway]\nid = GW\n' '2: [gateway] id: '"'"'GW'"'"' is not an id ([a-z0-9][a-z0-9-]{0,31})'
check_fails '[gateway]\nid = gw-1\n[coap]\nallow_plain = maybe\n' "4: [coap] allow_plain: 'maybe' is not a boolean (true or false)"
check_fails '[gateway]\nid = gw-1\n[store]\nquota_mb = 12abc\n' "4: [store] quota_mb: '12abc' is not a number"
check_fails '[gateway]\nid = gw-1\nid = gw-2\n' '3: [gateway] id: duplicate key (or a continuation line)'
check_fails '[gateway]\ndata_dir = /tmp\n' ' [gateway] id: required key missing'
check_fails '[gateway]\nid = gw-1\nthis line has no equals sign\n' "3: expected 'key = value', '[section]' or a comment"
rc=0; out=$("$RELAISD" -c "$T/nonexistent.conf" --check 2>&1) || rc=$?
rl_expect_eq "--check of a missing file" "$rc" 1
rl_expect_match "--check of a missing file" "$out" 'nonexistent.conf: cannot open: No such file'
rl_expect_eq "the example configuration is valid" \
    "$("$RELAISD" -c "$RELAIS_SRC/edge/relaisd.conf.example" --check)" "$RELAIS_SRC/edge/relaisd.conf.example: ok"

# a running relaisd: reload, second instance, relaisctl
mkdir -p "$T/broker"
rl_broker_user relaisd
BROKER_PORT=$(rl_free_port)
rl_broker_start
rl_relaisd_conf
rl_relaisd_start
rc=0; "$RELAISD" -c "$T/relaisd.conf" >"$T/second.log" 2>&1 || rc=$?
rl_expect_eq "a second relaisd on the same data dir exits" "$rc" 1
rl_expect_match "and says why" "$(cat "$T/second.log")" 'is relaisd already running'
rl_expect_eq "the first one still runs" "$(rl_status_field local.connected)" true

sed -i 's/^log_level = .*/log_level = debug/' "$T/relaisd.conf"
kill -HUP "$RELAISD_PID"
for _ in $(seq 50); do [ "$(rl_status_field config.reloads)" = 1 ] && break; sleep 0.1; done
rl_expect_eq "reloads after SIGHUP" "$(rl_status_field config.reloads)" 1
cp "$T/relaisd.conf" "$T/relaisd.conf.good"
RL_CTL_DIRECT=1
printf '[gateway]\nid = gw-test\nnonsense = 1\n' >"$T/relaisd.conf"
kill -HUP "$RELAISD_PID"
for _ in $(seq 50); do [ "$(rl_status_field config.reload_failures)" = 1 ] && break; sleep 0.1; done
rl_expect_eq "reload failures after a bad SIGHUP" "$(rl_status_field config.reload_failures)" 1
rl_expect_eq "still connected with the previous config" "$(rl_status_field local.connected)" true
rl_expect_match "the bad reload is logged with file, line and key" "$(cat "$T/relaisd.log")" \
    'reload refused, the running configuration stays: .*relaisd.conf:3: \[gateway\] nonsense: unknown key'
rl_expect_eq "reload audited" \
    "$(rl_sqlite "SELECT count(*) FROM audit WHERE kind IN ('config.reloaded', 'config.reload_rejected')")" 2
cp "$T/relaisd.conf.good" "$T/relaisd.conf"
RL_CTL_DIRECT=0
rl_relaisd_stop

rc=0; rl_ctl status >/dev/null 2>"$T/ctl.err" || rc=$?
rl_expect_eq "relaisctl status with relaisd stopped" "$rc" 3
rc=0; rl_ctl frobnicate 2>/dev/null || rc=$?
rl_expect_eq "relaisctl unknown command" "$rc" 2
rl_expect_match "relaisctl readings from the store while relaisd is stopped" "$(rl_ctl readings)" '\(none\)'

# a password file others may read is refused at start
chmod 644 "$T/relaisd.pw"
rc=0; "$RELAISD" -c "$T/relaisd.conf" >"$T/pw.log" 2>&1 || rc=$?
rl_expect_eq "relaisd with a readable password file" "$rc" 1
rl_expect_match "and says why" "$(cat "$T/pw.log")" 'accessible to group or others .*chmod 600'
rl_log "PASS"
