#!/usr/bin/env node
// Builds the native addon from source: cmake-js when CMake is on the PATH (CUDA kernels too when a
// CUDA toolkit is found), else node-gyp with the same source list. Output:
// build/Release/collapse_native.node. Nothing is downloaded: Node's headers come from the local
// installation (npm's `nodedir`) or node-gyp's cache.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const useGyp = args.includes('--gyp') || process.env.COLLAPSE_BUILD === 'gyp';

// As the package's `install` script: an installed package carries a prebuilt binary
// (prebuilds/linux-x64/, see scripts/prebuild.mjs); when one fits this machine and loads, there is
// nothing to compile. A checkout has no prebuilds/ and always builds. --force (npm run
// build:native), `npm rebuild collapse-lab --build-from-source` (npm_config_build_from_source) or
// COLLAPSE_BUILD_FROM_SOURCE=1 build from source regardless.
const truthy = (v) => v !== undefined && v !== '' && v !== '0' && v !== 'false';
const fromSource =
  args.includes('--force') || truthy(process.env.npm_config_build_from_source) || truthy(process.env.COLLAPSE_BUILD_FROM_SOURCE);
if (!fromSource && existsSync(join(root, 'prebuilds')) && existsSync(join(root, 'dist', 'native.js'))) {
  const { findPrebuilt } = await import(pathToFileURL(join(root, 'dist', 'native.js')).href);
  const prebuilt = findPrebuilt(root);
  if (prebuilt) {
    // Loaded in a child process: a binary that cannot load here must not take the install down.
    const probe = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(prebuilt)})`], { encoding: 'utf8' });
    if (probe.status === 0) {
      console.error(
        `collapse-lab: using the prebuilt addon ${relative(root, prebuilt)} ` +
          '(to compile it on this machine instead: npm rebuild collapse-lab --build-from-source)',
      );
      process.exit(0);
    }
    const line = (probe.stderr || '').split('\n').find((l) => /Error/.test(l)) ?? `exit status ${probe.status}`;
    console.error(`collapse-lab: the prebuilt addon ${relative(root, prebuilt)} does not load here (${line.trim()}); building from source`);
  } else {
    console.error(`collapse-lab: no prebuilt addon for ${process.platform}-${process.arch} in this package; building from source`);
  }
}

function has(cmd) {
  return spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
}
// Build against the headers of the running Node when they are installed beside it (Debian's
// nodejs, the official tarballs), so neither cmake-js nor node-gyp downloads anything.
const env = { ...process.env };
if (!env.npm_config_nodedir) {
  const prefix = dirname(dirname(process.execPath));
  if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) env.npm_config_nodedir = prefix;
}
function run(cmd, argv) {
  console.error(`collapse-lab: ${cmd} ${argv.join(' ')}`);
  const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', env, shell: process.platform === 'win32' });
  return r.status === 0;
}
const bin = (name) => join(root, 'node_modules', '.bin', name);

let ok;
if (!useGyp && has('cmake')) {
  const cmakeJs = existsSync(bin('cmake-js')) ? bin('cmake-js') : 'cmake-js';
  const extra = process.env.COLLAPSE_NO_CUDA ? ['--CDCOLLAPSE_NO_CUDA=ON'] : [];
  ok = run(cmakeJs, ['compile', '--out', 'build', ...extra]);
} else {
  if (!useGyp) console.error('collapse-lab: cmake not found; building with node-gyp instead');
  const gyp = existsSync(bin('node-gyp')) ? bin('node-gyp') : 'node-gyp';
  ok = run(gyp, ['rebuild']);
}
if (!ok) {
  console.error(
    'collapse-lab: building the native addon failed. It needs a C++17 compiler (g++ or clang++), make, ' +
      'python3 and CMake (or node-gyp). On Debian/Ubuntu: apt-get install -y build-essential cmake python3; ' +
      'then run the install again (in a project using collapse-lab: npm rebuild collapse-lab --build-from-source)',
  );
  process.exit(1);
}
