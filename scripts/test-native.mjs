#!/usr/bin/env node
// Builds and runs the engine's C++ unit tests (native/tests/*_test.cc, listed in sources.json)
// with plain CMake — no Node-API, no cmake-js: the engine builds and tests on its own — in
// build/native-tests, then runs them under ctest. Fails loudly (non-zero exit) when CMake or
// doctest is missing, with the command that installs them; never skips.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'build', 'native-tests');
const jobs = String(Math.max(1, Math.min(availableParallelism(), 8)));

function run(cmd, argv) {
  console.error(`collapse-lab: ${cmd} ${argv.join(' ')}`);
  const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit' });
  if (r.error || r.status !== 0) {
    if (r.error && r.error.code === 'ENOENT')
      console.error(`collapse-lab: ${cmd} not found. The C++ tests need CMake, a C++17 compiler and doctest. On Debian/Ubuntu: apt-get install -y build-essential cmake doctest-dev`);
    else console.error(`collapse-lab: the C++ tests failed (${cmd} ${argv[0]}). If doctest is missing: apt-get install -y doctest-dev`);
    process.exit(1);
  }
}

run('cmake', ['-S', root, '-B', dir, '-DCOLLAPSE_TESTS=ON', '-DCMAKE_BUILD_TYPE=Release']);
run('cmake', ['--build', dir, '--parallel', jobs]);
run('ctest', ['--test-dir', dir, '--output-on-failure', '--parallel', jobs]);
