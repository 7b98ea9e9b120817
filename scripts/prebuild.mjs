#!/usr/bin/env node
// Builds the prebuilt addon that ships in the npm package (run by `prepack`, so `npm pack` and
// `npm publish` include it; the binary is never committed to git):
//   prebuilds/<platform>-<arch>/collapse-lab.glibc.node   (linux-x64 is the platform we ship)
// prebuildify drives node-gyp with --napi (one Node-API binary serves every Node >= 20) and --strip,
// in a scratch copy of binding.gyp + sources.json + native/, so the developer's own build/ is never
// touched. The build uses binding.gyp's portable flags (no -march=native: the kernels pick AVX2 or
// the generic path at run time). `--clean` (run by `postpack`) removes the files this script wrote,
// so that `npm install` in a checkout keeps building from source.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, rmdirSync, symlinkSync, copyFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tuple = `${process.platform}-${process.arch}`;
const outDir = join(root, 'prebuilds', tuple);
const isOurs = (name) => /^collapse-lab(\.[a-z0-9]+)*\.node$/.test(name);

if (process.argv.includes('--clean')) {
  // Only the binaries this script names, then the folders if that left them empty.
  if (existsSync(outDir)) {
    for (const f of readdirSync(outDir)) if (isOurs(f)) rmSync(join(outDir, f));
    if (readdirSync(outDir).length === 0) rmdirSync(outDir);
  }
  const top = join(root, 'prebuilds');
  if (existsSync(top) && readdirSync(top).length === 0) rmdirSync(top);
  process.exit(0);
}

if (tuple !== 'linux-x64') {
  console.error(`collapse-lab: warning: packing on ${tuple}; the published package is meant to carry linux-x64 prebuilts`);
}

const scratch = mkdtempSync(join(tmpdir(), 'collapse-prebuild-'));
try {
  for (const p of ['binding.gyp', 'sources.json', 'package.json', 'native']) cpSync(join(root, p), join(scratch, p), { recursive: true });
  // node-addon-api's headers and prebuildify's node-gyp, through the package's own node_modules.
  symlinkSync(join(root, 'node_modules'), join(scratch, 'node_modules'), 'dir');

  const env = { ...process.env };
  // Node's headers from the local installation when present (Debian's nodejs, the official
  // tarballs), so node-gyp downloads nothing.
  if (!env.npm_config_nodedir) {
    const prefix = dirname(dirname(process.execPath));
    if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) env.npm_config_nodedir = prefix;
  }
  // Never tune for the packing machine, whatever the caller's environment says.
  for (const k of ['CFLAGS', 'CXXFLAGS', 'LDFLAGS', 'GYP_DEFINES']) delete env[k];
  // node-gyp compiles one file at a time unless told otherwise.
  env.JOBS ??= 'max';

  const bin = join(root, 'node_modules', 'prebuildify', 'bin.js');
  const argv = [bin, '--napi', '--strip', '--tag-libc', '--name=collapse-lab', `--target=node@${process.versions.node}`, scratch];
  console.error(`collapse-lab: prebuildify ${argv.slice(1).join(' ')}`);
  const r = spawnSync(process.execPath, argv, { cwd: scratch, stdio: 'inherit', env });
  if (r.status !== 0) {
    console.error('collapse-lab: building the prebuilt addon failed (a C++17 compiler, make and python3 are needed to pack)');
    process.exit(1);
  }

  // The binary must not depend on the packing machine's CPU: no ISA flags in what node-gyp
  // compiled with (the AVX2 kernels carry their own target attributes and are chosen at run time).
  const makefiles = readdirSync(join(scratch, 'build')).filter((f) => f.endsWith('.mk'));
  for (const mk of makefiles) {
    const bad = readFileSync(join(scratch, 'build', mk), 'utf8').match(/-march=\S+|-mtune=native|-mavx\S*|-mfma\b/g);
    if (bad) throw new Error(`build/${mk} compiles with ${[...new Set(bad)].join(' ')}: the prebuilt would depend on this machine's CPU`);
  }
  if (makefiles.length === 0) throw new Error('node-gyp left no makefile to check the compiler flags in');

  const built = join(scratch, 'prebuilds', tuple);
  const files = readdirSync(built).filter(isOurs);
  if (files.length !== 1) throw new Error(`expected one prebuilt in ${built}, found ${files.join(', ') || 'none'}`);
  const name = files[0];
  // The binary must load in a fresh Node before it is shipped.
  const check = spawnSync(process.execPath, ['-e', `const a = require(${JSON.stringify(join(built, name))}); if (typeof a.abiVersion !== 'number') process.exit(3)`], { encoding: 'utf8' });
  if (check.status !== 0) {
    console.error(`collapse-lab: the prebuilt addon does not load: ${check.stderr.trim().split('\n')[0]}`);
    process.exit(1);
  }
  // What the binary asks of the system's C and C++ runtimes (it needs at least these versions).
  const syms = spawnSync('objdump', ['-T', join(built, name)], { encoding: 'utf8' });
  if (syms.status === 0) {
    const newest = (prefix) =>
      [...new Set(syms.stdout.match(new RegExp(`\\b${prefix}_[0-9.]+`, 'g')) ?? [])]
        .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
        .pop();
    console.error(`collapse-lab: the prebuilt needs ${[newest('GLIBC'), newest('GLIBCXX')].filter(Boolean).join(' and ')} or newer`);
  }
  mkdirSync(outDir, { recursive: true });
  // Copy next to the target, then rename: a reader never sees half a binary.
  const tmp = join(outDir, `.${name}.${process.pid}.tmp`);
  copyFileSync(join(built, name), tmp);
  renameSync(tmp, join(outDir, name));
  console.error(`collapse-lab: prebuilt addon ${relative(root, join(outDir, name))}`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
