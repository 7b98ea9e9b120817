/**
 * A real Redis for the queue tests: `redis-server` on 127.0.0.1 on a free port, in a temp folder,
 * no persistence; stopped (and its folder removed) by stop(). Missing redis-server is a failure with
 * a clear message, never a skip: .ci/run installs it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TestRedis {
  port: number;
  /** redis://127.0.0.1:PORT (no password). */
  url: string;
  password: string | null;
  /** With tls: the self-signed certificate (PEM file) the server presents; the URL is rediss://. */
  cert: string | null;
  stop(): Promise<void>;
}

function redisServerPath(): string {
  for (const p of ['/usr/bin/redis-server', '/usr/local/bin/redis-server']) {
    if (spawnSync(p, ['--version']).status === 0) return p;
  }
  if (spawnSync('redis-server', ['--version']).status === 0) return 'redis-server';
  throw new Error('redis-server is not installed: the queue tests need a real Redis (apt-get install redis-server; .ci/run does it)');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

const canConnect = (port: number) =>
  new Promise<boolean>((resolve) => {
    const c = connect({ host: '127.0.0.1', port });
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });

/** A port nothing listens on (for the "unreachable" case). */
export const unusedPort = freePort;

export async function startRedis(opts: { password?: string; tls?: boolean } = {}): Promise<TestRedis> {
  const bin = redisServerPath();
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const dir = mkdtempSync(path.join(tmpdir(), 'collapse-redis-'));
    const args = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
    let cert: string | null = null;
    if (opts.tls) {
      cert = path.join(dir, 'cert.pem');
      const key = path.join(dir, 'key.pem');
      const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
      if (r.status !== 0) throw new Error(`openssl could not make a test certificate: ${r.error?.message ?? r.stderr.toString()}`);
      args.push('--port', '0', '--tls-port', String(port), '--tls-cert-file', cert, '--tls-key-file', key, '--tls-ca-cert-file', cert, '--tls-auth-clients', 'no');
    } else args.push('--port', String(port));
    if (opts.password) args.push('--requirepass', opts.password);
    const child: ChildProcess = spawn(bin, args, { stdio: 'ignore' });
    let exited = false;
    child.on('exit', () => (exited = true));
    const deadline = Date.now() + 15_000;
    while (!exited && Date.now() < deadline && !(await canConnect(port))) await new Promise((r) => setTimeout(r, 50));
    if (!exited && (await canConnect(port))) {
      const stop = async () => {
        if (!exited) {
          const gone = new Promise<void>((r) => child.once('exit', () => r()));
          child.kill('SIGTERM');
          const t = setTimeout(() => child.kill('SIGKILL'), 5000);
          await gone;
          clearTimeout(t);
        }
        rmSync(dir, { recursive: true, force: true });
      };
      return { port, url: `${opts.tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`, password: opts.password ?? null, cert, stop };
    }
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
  throw new Error('redis-server did not start on 127.0.0.1 (three free ports tried)');
}
