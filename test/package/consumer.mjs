#!/usr/bin/env node
// The consumer's view of the npm package (issue 18), end to end. Run by .ci/run and by
// `npm run test:package`; it needs the npm registry or a warm npm cache (the consumer installs the
// package's dependencies, --prefer-offline).
//
//  1. packs a copy of this working tree (tracked + untracked, not ignored files) in a temporary
//     folder, so nothing in the repository is written: `npm pack` runs prepack (the prebuilt
//     addon, scripts/prebuild.mjs), prepare (tsc) and postpack there;
//  2. checks the tarball's file list against a whitelist (no tests, benchmarks, runs, build
//     scratch, TypeScript sources or native test sources; every engine source and the prebuilt in);
//  3. consumer A installs the tarball with --ignore-scripts: the prebuilt must load
//     (nativeBinary().kind === 'prebuilt'); a strict tsc type-checks test/package/consumer/app.ts,
//     which then gives the known Brown KN-trigram perplexity (147.70, README); CommonJS require;
//     the error when no binary fits; `npx collapse run --generations 1`;
//  4. consumer B installs it normally: the install script must take the prebuilt without
//     compiling; then `npm rebuild collapse-lab --build-from-source` compiles it (the path of a
//     platform without a prebuilt) and the source build is the one loaded.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const fixture = join(repo, 'test', 'package', 'consumer');
const pkgJson = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
const typesNode = JSON.parse(readFileSync(join(repo, 'node_modules', '@types', 'node', 'package.json'), 'utf8')).version;
const started = Date.now();
const work = mkdtempSync(join(tmpdir(), 'collapse-consumer-'));
const keep = !!process.env.COLLAPSE_KEEP_CONSUMER;

function step(msg) {
  console.log(`[consumer ${((Date.now() - started) / 1000).toFixed(0).padStart(3)} s] ${msg}`);
}
/** Runs a command; on failure prints its output and throws. Returns stdout + stderr. */
function sh(cmd, args, cwd, env = {}) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.status !== 0) {
    console.error(out);
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited with ${r.status ?? r.signal}`);
  }
  return out;
}
const npm = (args, cwd, env) => sh('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline'], cwd, env);
const lastJson = (out) => JSON.parse(out.trim().split('\n').filter((l) => l.startsWith('{')).pop() ?? 'null');

function stageCopy() {
  // The working tree as git sees it (so local edits are tested), without ignored files.
  const dest = join(work, 'pkg');
  let files;
  try {
    files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: repo, encoding: 'utf8' })
      .split('\0')
      .filter(Boolean);
  } catch {
    files = undefined;
  }
  if (files) {
    for (const f of files) {
      const src = join(repo, f);
      if (!existsSync(src) || !statSync(src).isFile()) continue; // deleted in the tree, or a submodule
      mkdirSync(dirname(join(dest, f)), { recursive: true });
      cpSync(src, join(dest, f));
    }
  } else {
    const skip = new Set(['node_modules', 'build', 'dist', 'prebuilds', 'runs', '.git', '.tmp', 'scratch']);
    cpSync(repo, dest, { recursive: true, filter: (src) => !skip.has(relative(repo, src).split('/')[0]) });
  }
  symlinkSync(join(repo, 'node_modules'), join(dest, 'node_modules'), 'dir');
  return dest;
}

function checkFileList(files) {
  const allowedTop = new Set(['package.json', 'README.md', 'LICENSE', 'CMakeLists.txt', 'binding.gyp', 'sources.json', 'scripts/build-native.mjs', 'docs/theory.md']);
  const stray = files.filter((f) => !(allowedTop.has(f) || /^(dist|native|prebuilds)\//.test(f)));
  assert.deepEqual(stray, [], `files outside the whitelist in the tarball: ${stray.join(', ')}`);
  const banned = files.filter(
    (f) => /(^|\/)(test|tests|bench|runs|build|scratch|\.tmp|node_modules)\//.test(f) || /\.map$|\.test\.|_test\.|\.log$/.test(f),
  );
  assert.deepEqual(banned, [], `test, benchmark, run or build files in the tarball: ${banned.join(', ')}`);
  // sources.json: every list of sources ships (a build from source needs them) except test lists.
  const sources = JSON.parse(readFileSync(join(repo, 'sources.json'), 'utf8'));
  // Source lists are the arrays of paths under native/ (cflags and other settings are not files).
  const lists = Object.entries(sources).filter(([, v]) => Array.isArray(v) && v.every((x) => typeof x === 'string' && x.startsWith('native/')));
  const engine = lists.filter(([k]) => !/test/i.test(k)).flatMap(([, v]) => v);
  const testSources = lists.filter(([k]) => /test/i.test(k)).flatMap(([, v]) => v);
  const published = testSources.filter((f) => files.includes(f));
  assert.deepEqual(published, [], `native test sources in the tarball: ${published.join(', ')}`);
  assert.ok(engine.length > 0, 'no engine sources listed in sources.json');
  const missing = [
    ...engine,
    'package.json',
    'README.md',
    'dist/index.js',
    'dist/index.d.ts',
    'dist/cli/main.js',
    'CMakeLists.txt',
    'binding.gyp',
    'sources.json',
    'scripts/build-native.mjs',
    'docs/theory.md', // `collapse --help` points to it
    'prebuilds/linux-x64/collapse-lab.glibc.node',
  ].filter((f) => !files.includes(f));
  assert.deepEqual(missing, [], `missing from the tarball: ${missing.join(', ')}`);
  // Headers the engine sources include must travel too (a source build in the consumer needs them).
  const headers = files.filter((f) => /^native\/.*\.(hh|h|hpp)$/.test(f));
  assert.ok(headers.length > 0, 'no native headers in the tarball');
}

function makeConsumer(name) {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `consumer-${name}`, private: true, type: 'module' }, null, 2));
  for (const f of ['app.ts', 'tsconfig.json', 'cjs.cjs', 'missing.mjs']) cpSync(join(fixture, f), join(dir, f));
  return dir;
}

/** Strict tsc over app.ts, then runs it; returns its JSON line. */
function runApp(dir) {
  sh(process.execPath, [tsc, '-p', 'tsconfig.json'], dir);
  return lastJson(sh(process.execPath, ['out/app.js'], dir));
}

function cpuHasAvx2() {
  if (process.arch !== 'x64' || !existsSync('/proc/cpuinfo')) return false;
  const flags = (readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '').split(/\s+/);
  return flags.includes('avx2') && flags.includes('fma');
}

function checkApp(out, kind, installed) {
  assert.equal(out.binary.kind, kind, `expected the ${kind} addon, loaded ${JSON.stringify(out.binary)}`);
  const expected = kind === 'prebuilt' ? join(installed, 'prebuilds', 'linux-x64', 'collapse-lab.glibc.node') : join(installed, 'build', 'Release', 'collapse_native.node');
  assert.equal(out.binary.path, expected);
  // The README's KN trigram on Brown (gen 0 of `collapse run`): 147.70.
  assert.equal(out.perplexity.toFixed(2), '147.70', `Brown KN-trigram perplexity ${out.perplexity}`);
  assert.equal(out.avx2, cpuHasAvx2(), 'the kernels did not follow the CPU (AVX2 detection at run time)');
}

function checkCli(dir) {
  const out = sh('npx', ['--no-install', 'collapse', 'run', '--generations', '1'], dir);
  assert.match(out, /Perplexity on the real test split/);
  assert.match(out, /^0\s+147\.70\s+147\.70\s+147\.70/m, 'gen-0 perplexity row');
  const runs = readdirSync(join(dir, 'runs'));
  assert.equal(runs.length, 1);
  const records = readFileSync(join(dir, 'runs', runs[0], 'metrics.jsonl'), 'utf8').trim().split('\n');
  assert.equal(records.length, 3, 'one record per paradigm for one generation');
}

try {
  assert.equal(process.platform === 'linux' && process.arch === 'x64', true, 'the package ships linux-x64 prebuilts; this test runs there');

  step(`packing a copy of the working tree in ${work}`);
  const pkg = stageCopy();
  const packOut = spawnSync('npm', ['pack', '--json', '--pack-destination', work, '--prefer-offline'], { cwd: pkg, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (packOut.status !== 0) {
    console.error(packOut.stdout, packOut.stderr);
    throw new Error(`npm pack exited with ${packOut.status}`);
  }
  // Lifecycle output (the compiler's) may come before npm's JSON on stdout: the JSON is the last
  // block that opens with a line '['.
  const at = packOut.stdout.startsWith('[\n') ? 0 : packOut.stdout.lastIndexOf('\n[\n') + 1;
  const packed = JSON.parse(packOut.stdout.slice(at));
  const tarball = join(work, packed[0].filename);
  const files = packed[0].files.map((f) => f.path).sort();
  step(`${packed[0].filename}: ${files.length} files, ${(packed[0].size / 1e6).toFixed(2)} MB packed, ${(packed[0].unpackedSize / 1e6).toFixed(2)} MB unpacked`);
  checkFileList(files);
  assert.equal(existsSync(join(pkg, 'prebuilds')), false, 'postpack left prebuilds/ behind');

  step('consumer A: npm install --ignore-scripts');
  const a = makeConsumer('a');
  npm(['install', '--ignore-scripts', tarball, `@types/node@${typesNode}`], a);
  const installedA = join(a, 'node_modules', 'collapse-lab');
  assert.equal(existsSync(join(installedA, 'build')), false, 'nothing was compiled');
  checkApp(runApp(a), 'prebuilt', installedA);
  step('consumer A: strict tsc, perplexity 147.70 from the prebuilt addon');

  const cjs = lastJson(sh(process.execPath, ['cjs.cjs'], a));
  if (process.features.require_module) assert.deepEqual(cjs, { loaded: true, NGramModel: 'function', loadCorpus: 'function' });
  else assert.equal(cjs.code, 'ERR_REQUIRE_ESM');
  step(`consumer A: require('collapse-lab') from CommonJS: ${cjs.loaded ? 'works' : cjs.code}`);

  // A platform without a fitting prebuilt and no compiler: the error says what to do.
  renameSync(join(installedA, 'prebuilds'), join(installedA, 'prebuilds.hidden'));
  const missing = lastJson(sh(process.execPath, ['missing.mjs'], a));
  renameSync(join(installedA, 'prebuilds.hidden'), join(installedA, 'prebuilds'));
  assert.equal(missing.loaded, false);
  assert.equal(missing.code, 'E_NATIVE_LOAD');
  assert.match(missing.message, /npm rebuild collapse-lab --build-from-source/);
  assert.match(missing.message, /C\+\+17 compiler/);
  step('consumer A: without a prebuilt, E_NATIVE_LOAD names the rebuild command');

  checkCli(a);
  step('consumer A: npx collapse run --generations 1');

  step('consumer B: npm install (install scripts on)');
  const b = makeConsumer('b');
  const installLog = npm(['install', '--foreground-scripts', tarball, `@types/node@${typesNode}`], b);
  assert.match(installLog, /collapse-lab: using the prebuilt addon prebuilds\/linux-x64\/collapse-lab\.glibc\.node/);
  const installedB = join(b, 'node_modules', 'collapse-lab');
  assert.equal(existsSync(join(installedB, 'build')), false, 'the install script compiled although a prebuilt fits');
  checkApp(runApp(b), 'prebuilt', installedB);
  step('consumer B: the install script took the prebuilt; perplexity 147.70');

  const rebuildLog = npm(['rebuild', 'collapse-lab', '--build-from-source', '--foreground-scripts'], b);
  assert.doesNotMatch(rebuildLog, /using the prebuilt addon/);
  assert.ok(existsSync(join(installedB, 'build', 'Release', 'collapse_native.node')), 'no build from source');
  checkApp(runApp(b), 'source', installedB);
  step('consumer B: npm rebuild collapse-lab --build-from-source compiled it; the source build loads, perplexity 147.70');

  step('all consumer checks passed');
} finally {
  if (keep) console.log(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
