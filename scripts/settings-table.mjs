#!/usr/bin/env node
// Writes the README's settings table from the one spec (src/experiment/spec.ts, built to dist/);
// with --check, exits 1 when the README's table is not the spec's (test/experiment/spec.test.ts
// checks the same from the sources).
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { withSettingsTable } from '../dist/experiment/spec.js';

const readme = fileURLToPath(new URL('../README.md', import.meta.url));
const text = readFileSync(readme, 'utf8');
const next = withSettingsTable(text);
if (process.argv.includes('--check')) {
  if (next !== text) {
    process.stderr.write('README.md: the settings table is out of date; run `npm run docs:settings`\n');
    process.exit(1);
  }
} else if (next !== text) writeFileSync(readme, next);
