#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
//
// Independent FHIR R4 validation of what relais sends to the hospital
// (DESIGN.md 4: "checked in the tests by an independent validator").
//
//   node validate.js [-v] FILE...      one JSON document per file
//   node validate.js [-v] < LINES      one JSON document per line (NDJSON)
//
// Each document is validated, and for a Bundle each entry's resource too:
//   OK <resourceType> <identifier>
//   INVALID <resourceType> <identifier>
//     <severity> <location>: <message>     (one line per problem)
// Exit status: 0 all valid, 1 some resource invalid, 2 usage or parse error.
//
// Two layers, reported with their origin:
//  [fhir.js]  the npm package `fhir` (lantanagroup FHIR.js) with its bundled
//             R4 (4.0.1) structure definitions and value sets: known resource
//             types, known properties (unknown ones are errors here:
//             errorOnUnexpected), cardinality (required, array vs single),
//             primitive JSON types, required-strength bindings whose value set
//             it ships expanded (status codes, priorities, severities, bundle
//             type, HTTP verb, observation category...), Reference.type
//             against the target profiles.
//  [relais]   rules FHIR.js does not check, written here from the R4 spec:
//             anchored primitive formats (FHIR.js's regexes are not anchored,
//             so "x2026" passes as a dateTime; it has no instant check),
//             ele-1 (no empty objects, arrays or strings), qty-3, obs-6,
//             bdl-3/bdl-4 (request in batch/transaction only, response never
//             in a request), bdl-7 (unique fullUrl), bdl-12 (a message starts
//             with a MessageHeader), urn:uuid fullUrls are UUIDs, and in a
//             message Bundle every urn:uuid reference resolves to an entry.
// Not checked: FHIRPath invariants other than those above, terminology
// beyond the shipped expansions (LOINC and UCUM codes are not checked),
// profiles, extensions' definitions.
'use strict';

const fs = require('fs');
const { Fhir, Versions } = require('fhir');
const { ParseConformance } = require('fhir/parseConformance');

// The bundled cache (profiles/types.json) holds the R4 4.0.1 definitions and
// ParseConformance defaults to R4; say so explicitly.
const parser = new ParseConformance(true, Versions.R4);
const fhir = new Fhir(parser);

// R4 primitive formats (http://hl7.org/fhir/R4/datatypes.html), anchored.
const YEAR = '([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)';
const TZ = '(Z|(\\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))';
const TIME = '([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]+)?';
const DAY = '(0[1-9]|[1-2][0-9]|3[0-1])';
const MONTH = '(0[1-9]|1[0-2])';
const FORMATS = {
  date: new RegExp(`^${YEAR}(-${MONTH}(-${DAY})?)?$`),
  dateTime: new RegExp(`^${YEAR}(-${MONTH}(-${DAY}(T${TIME}${TZ})?)?)?$`),
  instant: new RegExp(`^${YEAR}-${MONTH}-${DAY}T${TIME}${TZ}$`),
  time: new RegExp(`^${TIME}$`),
  code: /^[^\s]+( [^\s]+)*$/,
  id: /^[A-Za-z0-9\-.]{1,64}$/,
  uri: /^\S+$/,
  url: /^\S+$/,
  canonical: /^\S+$/,
  oid: /^urn:oid:[0-2](\.(0|[1-9][0-9]*))+$/,
  uuid: /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
  string: /^[\r\n\t\S ]+$/,
  markdown: /^[\r\n\t\S ]+$/,
  base64Binary: /^(\s*([0-9a-zA-Z+=/]){4}\s*)+$/,
};
const UUID_URN = FORMATS.uuid;

function checkPrimitive(type, value) {
  switch (type) {
    case 'integer':
      return Number.isInteger(value) && value >= -2147483648 && value <= 2147483647;
    case 'unsignedInt':
      return Number.isInteger(value) && value >= 0 && value <= 2147483647;
    case 'positiveInt':
      return Number.isInteger(value) && value >= 1 && value <= 2147483647;
    case 'decimal':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
    default:
      if (!FORMATS[type]) return true;
      return typeof value === 'string' && FORMATS[type].test(value);
  }
}

// [relais] primitive formats, through FHIR.js's per-property hook.
function onBeforeValidateProperty(resource, property, location, value) {
  const type = property._type;
  if (!FORMATS[type] && !['integer', 'unsignedInt', 'positiveInt', 'decimal', 'boolean'].includes(type)) {
    return [];
  }
  const values = Array.isArray(value) ? value : [value];
  return values
    .filter((v) => !checkPrimitive(type, v))
    .map((v) => ({
      location,
      severity: 'error',
      message: `[relais] invalid ${type} ${JSON.stringify(v)}`,
    }));
}

// [relais] ele-1 everywhere, qty-3 and obs-6.
function structuralRules(node, location, out) {
  if (Array.isArray(node)) {
    if (node.length === 0) out.push(err(location, 'ele-1: empty array'));
    node.forEach((v, i) => structuralRules(v, `${location}[${i}]`, out));
  } else if (node !== null && typeof node === 'object') {
    const keys = Object.keys(node);
    if (keys.length === 0) out.push(err(location, 'ele-1: empty object'));
    if ('code' in node && 'value' in node && typeof node.value === 'number' && !('system' in node)) {
      out.push(err(location, 'qty-3: a Quantity with a code needs a system'));
    }
    if (node.resourceType === 'Observation' && node.dataAbsentReason &&
        keys.some((k) => k.startsWith('value'))) {
      out.push(err(location, 'obs-6: dataAbsentReason with a value'));
    }
    for (const k of keys) structuralRules(node[k], location ? `${location}.${k}` : k, out);
  } else if (node === null) {
    out.push(err(location, 'ele-1: null is not a FHIR value'));
  } else if (typeof node === 'string' && node.length === 0) {
    out.push(err(location, 'ele-1: empty string'));
  }
}

// [relais] Bundle rules.
function bundleRules(b, out) {
  const entries = Array.isArray(b.entry) ? b.entry : [];
  const fullUrls = new Set();
  entries.forEach((e, i) => {
    const loc = `Bundle.entry[${i}]`;
    const needsRequest = b.type === 'transaction' || b.type === 'batch';
    if (needsRequest && !e.request) out.push(err(loc, 'bdl-3: entry.request is mandatory in a ' + b.type));
    if (!needsRequest && b.type !== 'history' && e.request) {
      out.push(err(loc, 'bdl-3: entry.request only in batch, transaction or history'));
    }
    if (['transaction', 'batch', 'message', 'document', 'collection'].includes(b.type) && e.response) {
      out.push(err(loc, 'bdl-4: entry.response only in responses and history'));
    }
    if (e.fullUrl) {
      if (fullUrls.has(e.fullUrl)) out.push(err(loc, `bdl-7: duplicate fullUrl ${e.fullUrl}`));
      fullUrls.add(e.fullUrl);
      if (e.fullUrl.startsWith('urn:uuid:') && !UUID_URN.test(e.fullUrl)) {
        out.push(err(loc, `fullUrl ${e.fullUrl} is not a urn:uuid UUID`));
      }
    }
    if (!e.resource && !e.request) out.push(err(loc, 'an entry with neither resource nor request'));
  });
  if (b.type === 'message') {
    if (!entries.length || !entries[0].resource || entries[0].resource.resourceType !== 'MessageHeader') {
      out.push(err('Bundle.entry[0]', 'bdl-12: a message Bundle starts with a MessageHeader'));
    }
    // a message travels alone: its urn:uuid references must resolve inside it
    const walk = (node, loc) => {
      if (Array.isArray(node)) node.forEach((v, i) => walk(v, `${loc}[${i}]`));
      else if (node && typeof node === 'object') {
        if (typeof node.reference === 'string' && node.reference.startsWith('urn:uuid:') &&
            !fullUrls.has(node.reference)) {
          out.push(err(loc, `reference ${node.reference} resolves to no entry`));
        }
        for (const k of Object.keys(node)) walk(node[k], `${loc}.${k}`);
      }
    };
    walk(entries, 'Bundle.entry');
  }
}

function err(location, message) {
  return { location, severity: 'error', message: `[relais] ${message}` };
}

function identify(resource, fallback) {
  const id = Array.isArray(resource.identifier) ? resource.identifier[0] : resource.identifier;
  if (id && id.value) return id.system ? `${id.system}|${id.value}` : id.value;
  if (resource.id) return resource.id;
  return fallback || '-';
}

// Validates one resource; returns true when valid and prints its line(s).
function validateResource(resource, label, verbose) {
  const type = resource && typeof resource === 'object' && resource.resourceType;
  let messages = [];
  try {
    const r = fhir.validate(resource, { errorOnUnexpected: true, onBeforeValidateProperty });
    messages = r.messages.map((m) => ({ ...m, message: m.message.startsWith('[relais]') ? m.message : `[fhir.js] ${m.message}` }));
    if (!r.valid && !messages.some((m) => m.severity === 'error' || m.severity === 'fatal')) {
      messages.push({ location: '', severity: 'error', message: '[fhir.js] invalid' });
    }
  } catch (e) {
    messages.push({ location: '', severity: 'fatal', message: `[fhir.js] validator threw: ${e.message}` });
  }
  const extra = [];
  structuralRules(resource, type || '', extra);
  if (type === 'Bundle') bundleRules(resource, extra);
  messages = messages.concat(extra);
  const bad = messages.filter((m) => m.severity === 'error' || m.severity === 'fatal');
  const name = `${type || '(no resourceType)'} ${identify(resource || {}, label)}`;
  if (bad.length) {
    console.log(`INVALID ${name}`);
    for (const m of bad) console.log(`  ${m.severity} ${m.location || '-'}: ${m.message}`);
  } else {
    console.log(`OK ${name}`);
  }
  if (verbose) {
    for (const m of messages.filter((x) => !bad.includes(x))) {
      console.log(`  ${m.severity} ${m.location || '-'}: ${m.message}`);
    }
  }
  return bad.length === 0;
}

// Validates a document and, for a Bundle, each entry's resource.
function validateDocument(doc, label, verbose) {
  let ok = validateResource(doc, label, verbose);
  if (doc && doc.resourceType === 'Bundle' && Array.isArray(doc.entry)) {
    doc.entry.forEach((e, i) => {
      if (e && e.resource) ok = validateResource(e.resource, e.fullUrl || `${label} entry ${i}`, verbose) && ok;
    });
  }
  return ok;
}

async function main(argv) {
  let verbose = false;
  const files = [];
  for (const a of argv) {
    if (a === '-v' || a === '--verbose') verbose = true;
    else if (a === '-h' || a === '--help') {
      console.log('usage: validate.js [-v] [FILE...]   (no FILE: one JSON document per line on stdin)');
      return 0;
    } else if (a.startsWith('-') && a !== '-') {
      console.error(`validate.js: unknown option ${a}`);
      return 2;
    } else files.push(a);
  }
  const docs = []; // [label, text]
  if (files.length === 0) {
    if (process.stdin.isTTY) {
      console.error('usage: validate.js [-v] [FILE...]   (no FILE: one JSON document per line on stdin)');
      return 2;
    }
    (await readStdin()).split('\n').forEach((line, i) => {
      if (line.trim()) docs.push([`stdin:${i + 1}`, line]);
    });
  } else {
    for (const f of files) {
      try {
        docs.push([f, f === '-' ? await readStdin() : fs.readFileSync(f, 'utf8')]);
      } catch (e) {
        console.error(`validate.js: ${f}: ${e.message}`);
        return 2;
      }
    }
  }
  let invalid = 0;
  let parseErrors = 0;
  for (const [label, text] of docs) {
    let doc;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      console.log(`ERROR ${label}: not JSON: ${e.message}`);
      parseErrors++;
      continue;
    }
    if (!validateDocument(doc, label, verbose)) invalid++;
  }
  if (docs.length === 0) {
    console.error('validate.js: no document');
    return 2;
  }
  if (parseErrors) return 2;
  return invalid ? 1 : 0;
}

// stdin as a stream: fs.readFileSync(0) fails with EAGAIN on a non-blocking pipe
function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

main(process.argv.slice(2)).then(
  (rc) => {
    process.exitCode = rc;
  },
  (e) => {
    console.error(`validate.js: ${e.stack || e}`);
    process.exitCode = 2;
  },
);
