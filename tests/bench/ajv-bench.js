// The ajv 8 peer of bench_validate: same schemas, same records, same two
// measurements. Usage: node ajv-bench.js SCHEMA_DIR RECORDS.jsonl
'use strict';
const fs = require('fs');
const path = require('path');
const Ajv2020 = require('ajv/dist/2020');
const addFormats = require('ajv-formats');

const [schemaDir, recordsFile] = process.argv.slice(2);
const ajv = new Ajv2020({allErrors: false, strict: false});
addFormats(ajv);
for (const f of ['defs', 'plan', 'task', 'progress', 'unit']) {
  ajv.addSchema(JSON.parse(fs.readFileSync(path.join(schemaDir, f + '.schema.json'), 'utf8')));
}
const validators = {};
for (const k of ['plan', 'task', 'progress', 'unit']) {
  validators[k] = ajv.getSchema('https://duikou.invalid/schemas/' + k + '.schema.json');
}
const lines = fs.readFileSync(recordsFile, 'utf8').split('\n').filter((l) => l.length > 0);
const recs = lines.map((l) => JSON.parse(l));
const vs = recs.map((r) => validators[r.kind]);

let best = Infinity, valid = 0;
for (let round = 0; round < 5; round++) {
  const t0 = process.hrtime.bigint();
  valid = 0;
  for (let i = 0; i < recs.length; i++) if (vs[i](recs[i])) valid++;
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  if (dt < best) best = dt;
}
console.log(`validate ${Math.round(recs.length / best)} rps (${recs.length} records, ${valid} valid)`);
let best2 = Infinity;
for (let round = 0; round < 3; round++) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < lines.length; i++) {
    const r = JSON.parse(lines[i]);
    validators[r.kind](r);
  }
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  if (dt < best2) best2 = dt;
}
console.log(`parse+validate ${Math.round(lines.length / best2)} rps`);
