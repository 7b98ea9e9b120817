#!/usr/bin/env node
// Builds the native addon from source: cmake-js when CMake is on the PATH (CUDA kernels too when a
// CUDA toolkit is found), else node-gyp with the same source list. Output:
// build/Release/collapse_native.node. Nothing is downloaded: Node's headers come from the local
// installation (npm's `nodedir`) or node-gyp's cache.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const useGyp = args.includes('--gyp') || process.env.COLLAPSE_BUILD === 'gyp';

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
      'python3 and CMake (or node-gyp). On Debian/Ubuntu: apt-get install -y build-essential cmake python3',
  );
  process.exit(1);
}
