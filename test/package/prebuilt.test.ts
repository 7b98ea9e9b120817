/**
 * Which prebuilt binary the loader picks (src/native.ts findPrebuilt, node-gyp-build's matching
 * over prebuildify's names) on made-up prebuilds/ folders, and which binary this checkout loads.
 * The packed package itself is tested end to end by test/package/consumer.mjs (CI).
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findPrebuilt, loadNative, nativeBinary } from '../../src/native.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A package root whose prebuilds/ holds empty files with these relative paths. */
function fakeRoot(files: string[]): string {
  const root = mkdtempSync(join(tmpdir(), 'collapse-prebuilds-'));
  dirs.push(root);
  for (const f of files) {
    mkdirSync(join(root, 'prebuilds', f, '..'), { recursive: true });
    writeFileSync(join(root, 'prebuilds', f), '');
  }
  return root;
}

const here = `${process.platform}-${process.arch}`;
const libc = process.platform === 'linux' ? 'glibc' : undefined; // the test machines: Debian

describe('findPrebuilt', () => {
  it('takes the binary of this platform, architecture and libc, not the others', () => {
    const root = fakeRoot([
      'darwin-arm64/collapse-lab.node',
      'win32-x64/collapse-lab.node',
      `${here}/collapse-lab.musl.node`,
      `${here}/collapse-lab.${libc ?? 'glibc'}.node`,
      `${here}/README.txt`,
    ]);
    const picked = findPrebuilt(root);
    if (libc) expect(picked).toBe(join(root, 'prebuilds', here, 'collapse-lab.glibc.node'));
    else expect(picked).toBeDefined();
  });

  it('prefers the more specific name (libc tag) over an untagged one', () => {
    const root = fakeRoot([`${here}/collapse-lab.node`, `${here}/collapse-lab.glibc.node`]);
    expect(findPrebuilt(root)).toBe(join(root, 'prebuilds', here, libc ? 'collapse-lab.glibc.node' : 'collapse-lab.node'));
  });

  it('finds nothing for another platform, only musl on glibc, or no prebuilds/ at all', () => {
    expect(findPrebuilt(fakeRoot(['darwin-arm64/collapse-lab.node', 'linux-arm64/collapse-lab.glibc.node'].filter((f) => !f.startsWith(here))))).toBeUndefined();
    if (libc === 'glibc') expect(findPrebuilt(fakeRoot([`${here}/collapse-lab.musl.node`]))).toBeUndefined();
    expect(findPrebuilt(fakeRoot([]))).toBeUndefined();
  });
});

describe('nativeBinary in this checkout', () => {
  it('loads the build from source (there is no prebuilds/ folder in a checkout)', () => {
    const addon = loadNative();
    const bin = nativeBinary();
    expect(typeof addon.abiVersion).toBe('number');
    if (process.env.COLLAPSE_NATIVE_PATH) expect(bin).toEqual({ kind: 'override', path: process.env.COLLAPSE_NATIVE_PATH });
    else expect(bin.kind).toBe('source');
    expect(bin.path.endsWith('.node')).toBe(true);
  });
});
