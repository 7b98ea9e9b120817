/**
 * src/util/paths.ts, and the loaders that go through it: anything but a regular file is refused
 * with a typed one-line error before it is opened (a FIFO would block the open or the read, a
 * device never ends), sizes are bounded, folders are made one level at a time, and file-system
 * errors read as words naming the path.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, unlinkSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CollapseError } from '../../src/errors.js';
import { Transformer } from '../../src/models/transformer.js';
import { readHfConfig } from '../../src/models/hf-config.js';
import { SafetensorsFile } from '../../src/models/safetensors.js';
import { HfTokenizer } from '../../src/tokenizers/hf.js';
import { ensureFolder, fsReason, readRegularFile, readRegularText, writeError } from '../../src/util/paths.js';
import { writeFileAtomic } from '../../src/util/fs.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const TOK_FIX = join(HERE, '..', 'fixtures', 'tokenizers', 'tiny-gpt2-tokenizer.json');

let root: string;
let fifo: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'collapse-paths-'));
  fifo = join(root, 'fifo');
  execFileSync('mkfifo', [fifo]);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function errorOf(p: Promise<unknown>): Promise<CollapseError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(CollapseError);
  expect((e as Error).message).not.toMatch(/\n/);
  return e as CollapseError;
}

describe('readRegularFile', () => {
  test('reads a regular file whole, through a symbolic link too', async () => {
    const f = join(root, 'data.bin');
    const bytes = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 31) & 255));
    writeFileSync(f, bytes);
    expect((await readRegularFile(f)).equals(bytes)).toBe(true);
    const link = join(root, 'link.bin');
    symlinkSync(f, link);
    expect((await readRegularFile(link)).equals(bytes)).toBe(true);
    expect(await readRegularText(f, { maxBytes: 3000 })).toBe(bytes.toString('utf8'));
  });

  test.each([
    ['a FIFO', () => fifo, /it is a FIFO \(named pipe\), not a regular file/],
    ['/dev/zero', () => '/dev/zero', /it is a character device, not a regular file/],
    ['/dev/null', () => '/dev/null', /it is a character device/],
    ['a folder', () => root, /it is a folder, not a regular file/],
    ['a missing file', () => join(root, 'none'), /ENOENT/],
    ['a path through a file', () => join(TOK_FIX, 'x'), /ENOTDIR/],
  ] as [string, () => string, RegExp][])('%s is refused with a typed line naming it', async (_label, p, why) => {
    const e = await errorOf(readRegularFile(p(), { code: 'E_BAD_MODEL_FILE', what: 'model file' }));
    expect(e.code).toBe('E_BAD_MODEL_FILE');
    expect(e.message).toMatch(why);
    expect(e.message).toContain(`cannot read model file ${p()}: `);
  });

  test('a symbolic link to a FIFO is refused too', async () => {
    const link = join(root, 'fifo-link');
    symlinkSync(fifo, link);
    expect((await errorOf(readRegularFile(link))).message).toMatch(/FIFO/);
  });

  test('sizes are bounded before anything is read', async () => {
    const f = join(root, 'big.txt');
    writeFileSync(f, 'x'.repeat(5000));
    const e = await errorOf(readRegularText(f, { what: '--config', maxBytes: 4096 }));
    expect(e.message).toMatch(/5000 bytes, more than the 4096 bytes/);
  });
});

describe('ensureFolder', () => {
  test('makes the missing levels one by one and accepts an existing folder', async () => {
    const d = join(root, 'a', 'b', 'c');
    await ensureFolder(d);
    expect(statSync(d).isDirectory()).toBe(true);
    await ensureFolder(d);
  });

  test('/proc/nope and a path under a file are errors, not endless loops', async () => {
    expect((await errorOf(ensureFolder('/proc/nope/deeper', { what: '--out' }))).message).toMatch(/cannot create folder --out \/proc\/nope\/deeper: .*\/proc\/nope/);
    const f = join(root, 'plain');
    writeFileSync(f, '');
    expect((await errorOf(ensureFolder(join(f, 'x')))).message).toMatch(/plain is a regular file/);
    expect((await errorOf(ensureFolder(fifo))).message).toMatch(/is a FIFO/);
  });
});

describe('file-system errors in words', () => {
  const errno = (code: string) => Object.assign(new Error(`${code}: something, open '/x'`), { code, syscall: 'open', errno: -1 });
  test.each([
    ['EROFS', /^cannot write \/runs\/a: read-only file system \(EROFS\)$/],
    ['ENOSPC', /^cannot write \/runs\/a: no space left on device \(ENOSPC\)$/],
    ['EACCES', /permission denied/],
    ['EDQUOT', /disk quota exceeded/],
  ])('%s', (code, line) => {
    const e = writeError(errno(code), '/runs/a') as CollapseError;
    expect(e).toBeInstanceOf(CollapseError);
    expect(e.code).toBe('E_IO');
    expect(e.message).toMatch(line);
    expect(fsReason(errno(code))).toContain(code);
  });

  test('an error that is not a system error passes through unchanged', () => {
    const bug = new TypeError('not a file-system problem');
    expect(writeError(bug, '/x')).toBe(bug);
  });

  test('writeFileAtomic names the target when the folder is gone', async () => {
    const e = await errorOf(writeFileAtomic(join(root, 'gone', 'file.json'), '{}'));
    expect(e.code).toBe('E_IO');
    expect(e.message).toMatch(/cannot write .*gone\/file\.json: no such file or folder/);
  });
});

describe('model and tokenizer loaders refuse special files', () => {
  let ckpt: string;
  beforeAll(async () => {
    const hf = await HfTokenizer.fromFile(TOK_FIX);
    const m = new Transformer({ vocabSize: 24, hidden: 16, layers: 1, heads: 2, window: 4, contextLength: 8, threads: 1, bos: hf.bos, eos: hf.eos, tokenizer: hf });
    await m.init(1);
    ckpt = join(root, 'ckpt');
    await m.save(ckpt);
    // The checkpoint loads as saved.
    expect((await Transformer.load(ckpt)).config.vocabSize).toBe(24);
  });

  /** A copy of the checkpoint with `file` replaced by a FIFO. */
  async function withFifo(file: string): Promise<string> {
    const d = join(root, `ckpt-fifo-${file}`);
    mkdirSync(d);
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) execFileSync('cp', [join(ckpt, f), join(d, f)]);
    unlinkSync(join(d, file));
    execFileSync('mkfifo', [join(d, file)]);
    return d;
  }

  test.each([
    ['config.json', 'E_BAD_CONFIG'],
    ['model.safetensors', 'E_BAD_MODEL_FILE'],
    ['tokenizer.json', 'E_BAD_MODEL_FILE'],
  ])('Transformer.load with %s a FIFO', async (file, code) => {
    const d = await withFifo(file);
    const e = await errorOf(Transformer.load(d));
    expect(e.code).toBe(code);
    expect(e.message).toContain(join(d, file));
    expect(e.message).toMatch(/FIFO/);
  });

  test('readHfConfig, SafetensorsFile.open and HfTokenizer.fromFile on devices and FIFOs', async () => {
    expect((await errorOf(readHfConfig('/dev/zero'))).message).toMatch(/character device/);
    expect((await errorOf(SafetensorsFile.open('/dev/zero'))).message).toMatch(/character device/);
    expect((await errorOf(SafetensorsFile.open(fifo))).message).toMatch(/FIFO/);
    expect((await errorOf(HfTokenizer.fromFile(fifo))).message).toMatch(/FIFO/);
    // A folder means the tokenizer.json inside it.
    const d = join(root, 'tokdir');
    mkdirSync(d);
    execFileSync('mkfifo', [join(d, 'tokenizer.json')]);
    expect((await errorOf(HfTokenizer.fromFile(d))).message).toMatch(/tokdir\/tokenizer\.json.*FIFO/);
  });

  test('a tokenizer_config.json that is a FIFO is refused, not waited on', async () => {
    const d = join(root, 'tokcfg');
    mkdirSync(d);
    execFileSync('cp', [TOK_FIX, join(d, 'tokenizer.json')]);
    execFileSync('mkfifo', [join(d, 'tokenizer_config.json')]);
    expect((await errorOf(HfTokenizer.fromFile(d))).message).toMatch(/tokenizer_config\.json.*FIFO/);
  });
});
