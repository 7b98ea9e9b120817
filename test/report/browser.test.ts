/**
 * report.html in a real browser: headless Chromium (Debian's /usr/bin/chromium, installed by
 * .ci/run) opens the file offline, every figure is there with data marks in it, the console shows
 * no error, and a screenshot is kept in test-artifacts/report.png.
 */
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { FIGURE_NAMES } from '../../src/report/figures.js';
import { writeReport } from '../../src/report/html.js';
import { ROOT, removeDir, tempDir } from '../experiment/helpers.js';
import { smallSweep } from './helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
let root: string;

beforeAll(async () => {
  root = tempDir('browser');
  await smallSweep(root, path.join(root, 'sweep'));
  await writeReport(path.join(root, 'sweep'));
}, 180_000);
afterAll(() => removeDir(root));

test('every figure is drawn with data, no console error; screenshot kept', async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium), as .ci/run does`);
  const profile = mkdtempSync(path.join(os.tmpdir(), 'collapse-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await context.newPage();
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('request', (r) => requests.push(r.url()));
    const file = path.join(root, 'sweep', 'report.html');
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    const figures = await page.$$eval('figure', (fs) =>
      fs.map((f) => {
        const svg = f.querySelector('svg');
        const box = svg?.getBoundingClientRect();
        const marks = [...f.querySelectorAll('g.mark-line path, g.mark-symbol path, g.mark-area path, g.mark-rule line, g.mark-rect path')].filter((p) => {
          const d = p.getAttribute('d');
          return p.tagName === 'line' || (d !== null && d.length > 3);
        }).length;
        return { name: f.getAttribute('data-figure'), width: box?.width ?? 0, height: box?.height ?? 0, marks };
      }),
    );
    expect(figures.map((f) => f.name).sort()).toEqual([...FIGURE_NAMES].sort());
    for (const f of figures) {
      expect({ name: f.name, drawn: f.width > 100 && f.height > 100 }).toEqual({ name: f.name, drawn: true });
      expect({ name: f.name, marks: f.marks > 3 }).toEqual({ name: f.name, marks: true });
    }
    expect(errors).toEqual([]);
    // Offline: the page fetched nothing but itself.
    expect(requests.filter((u) => !u.startsWith('file:') && !u.startsWith('data:'))).toEqual([]);
    const artifacts = path.join(ROOT, 'test-artifacts');
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: path.join(artifacts, 'report.png'), fullPage: true });
    expect(existsSync(path.join(artifacts, 'report.png'))).toBe(true);
  } finally {
    await context.close();
    removeDir(profile);
  }
});
