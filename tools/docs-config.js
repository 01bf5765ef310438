#!/usr/bin/env node
'use strict';
/**
 * `npm run docs:config`: rewrites the generated part of docs/configuration.md (between the
 * config-reference markers) from the schema the validator enforces, through the compiled
 * renderer (dist/config/reference.js: run `npm run build` first). test/readme.test.ts fails
 * when the file and the schema drift apart.
 */
const fs = require('node:fs');
const { join } = require('node:path');
const { renderConfigReference } = require('../dist/config/reference.js');

const file = join(__dirname, '..', 'docs', 'configuration.md');
const start = '<!-- config-reference:start -->';
const end = '<!-- config-reference:end -->';
const text = fs.readFileSync(file, 'utf8');
const a = text.indexOf(start);
const b = text.indexOf(end);
if (a < 0 || b < a) {
  console.error(`docs-config: ${file}: the markers ${start} and ${end} are missing or out of order`);
  process.exit(1);
}
fs.writeFileSync(file, `${text.slice(0, a + start.length)}\n${renderConfigReference().trim()}\n${text.slice(b)}`);
