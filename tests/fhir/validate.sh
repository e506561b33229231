#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# fhir.validate: renders representative documents with relais's FHIR module
# (tests/fhir/fhir_samples.c) and checks them with the independent R4
# validator in tools/fhir-validate; then checks that the validator rejects
# deliberately invalid resources, so that a validator accepting everything
# fails this test.
#   validate.sh PATH/TO/fhir_samples
set -euo pipefail

SAMPLES=${1:?usage: validate.sh FHIR_SAMPLES}
SRC=${RELAIS_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
VALIDATOR="$SRC/tools/fhir-validate/validate.js"

fail() { echo "FAIL: $*" >&2; exit 1; }

command -v node >/dev/null || fail "node is not installed (tools/install-deps.sh)"
[ -d "$SRC/tools/fhir-validate/node_modules/fhir" ] ||
    fail "tools/fhir-validate/node_modules missing: run tools/install-deps.sh (npm ci)"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

"$SAMPLES" "$WORK" || fail "fhir_samples could not render the samples"
n=$(find "$WORK" -name '*.json' | wc -l)
[ "$n" -ge 30 ] || fail "only $n sample documents"

# 1. everything relais renders is valid R4
if ! node "$VALIDATOR" "$WORK"/*.json >"$WORK/out.txt" 2>&1; then
    grep -v '^OK ' "$WORK/out.txt" >&2 || true
    fail "relais's FHIR documents are not valid R4 (above)"
fi
ok=$(grep -c '^OK ' "$WORK/out.txt")
echo "validated $n documents, $ok resources OK"
grep -q '^OK Observation ' "$WORK/out.txt" || fail "no Observation was validated"
grep -q '^OK MedicationAdministration ' "$WORK/out.txt" || fail "no MedicationAdministration"
grep -q '^OK MessageHeader ' "$WORK/out.txt" || fail "no MessageHeader"
grep -q '^OK DetectedIssue ' "$WORK/out.txt" || fail "no DetectedIssue"
grep -q '^OK Communication ' "$WORK/out.txt" || fail "no Communication"
grep -q '^OK Device ' "$WORK/out.txt" || fail "no Device"

# 2. the same through stdin, one document per line
cat "$WORK"/*.json | node "$VALIDATOR" >/dev/null || fail "stdin mode rejects valid documents"

# 3. the validator is not a yes-man: each of these must be INVALID (exit 1)
mkdir "$WORK/bad"
good_obs='"resourceType":"Observation","status":"final","code":{"text":"t"},"effectiveDateTime":"2026-11-22T08:00:00.000Z"'
cat >"$WORK/bad/status.json" <<JSON
{"resourceType":"Observation","status":"bogus","code":{"text":"t"}}
JSON
cat >"$WORK/bad/no-code.json" <<JSON
{"resourceType":"Observation","status":"final"}
JSON
cat >"$WORK/bad/unknown-property.json" <<JSON
{$good_obs,"colour":"blue"}
JSON
cat >"$WORK/bad/date.json" <<JSON
{"resourceType":"Observation","status":"final","code":{"text":"t"},"effectiveDateTime":"22/11/2026"}
JSON
cat >"$WORK/bad/not-array.json" <<JSON
{$good_obs,"category":{"text":"vital-signs"}}
JSON
cat >"$WORK/bad/severity.json" <<JSON
{"resourceType":"DetectedIssue","status":"final","severity":"urgent"}
JSON
cat >"$WORK/bad/med-no-subject.json" <<JSON
{"resourceType":"MedicationAdministration","status":"completed","medicationCodeableConcept":{"text":"x"},"effectiveDateTime":"2026-11-22"}
JSON
cat >"$WORK/bad/tx-no-request.json" <<JSON
{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:0f0e0d0c-0b0a-5908-8706-050403020100","resource":{$good_obs}}]}
JSON
cat >"$WORK/bad/bundle-bad-entry.json" <<JSON
{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Observation","status":"bogus","code":{"text":"t"}},"request":{"method":"POST","url":"Observation"}}]}
JSON
cat >"$WORK/bad/message-no-header.json" <<JSON
{"resourceType":"Bundle","type":"message","entry":[{"fullUrl":"urn:uuid:0f0e0d0c-0b0a-5908-8706-050403020100","resource":{$good_obs}}]}
JSON
cat >"$WORK/bad/comm-priority.json" <<JSON
{"resourceType":"Communication","status":"completed","priority":"asap-ish"}
JSON
cat >"$WORK/bad/not-a-type.json" <<JSON
{"resourceType":"Observatoin","status":"final"}
JSON
for f in "$WORK"/bad/*.json; do
    set +e
    node "$VALIDATOR" "$f" >"$WORK/bad.txt" 2>&1
    rc=$?
    set -e
    if [ "$rc" -ne 1 ] || ! grep -q '^INVALID ' "$WORK/bad.txt"; then
        cat "$WORK/bad.txt" >&2
        fail "the validator accepted $(basename "$f") (exit $rc)"
    fi
done
echo "the validator rejects $(ls "$WORK"/bad/*.json | wc -l) invalid resources"

# 4. usage and parse errors exit 2
echo '{not json' >"$WORK/garbage.json"
set +e
node "$VALIDATOR" "$WORK/garbage.json" >/dev/null 2>&1
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "a parse error exits $rc, not 2"
echo "fhir.validate: OK"
