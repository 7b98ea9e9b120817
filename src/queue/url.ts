/**
 * The queue's address: redis://[user][:password]@host[:port][/db] or rediss:// (TLS). The password
 * may also come from COLLAPSE_REDIS_PASSWORD. It is kept out of everything printed or stored: the
 * URL is shown and saved with its password removed (`redactUrl`), and error messages are built from
 * host and port only.
 */
import type { RedisOptions } from 'ioredis';
import { isIP } from 'node:net';
import { CollapseError } from '../errors.js';

/** Where a sweep's cells are queued. */
export interface QueueAddress {
  /** ioredis options (password included): never print them. */
  redis: RedisOptions;
  /** The URL without its password, safe to print and store. */
  display: string;
  /** Whether a password is used (from the URL or the environment). */
  hasPassword: boolean;
}

export const PASSWORD_ENV = 'COLLAPSE_REDIS_PASSWORD';

/** The URL with any password removed (user names are kept). Safe on any string. */
export function redactUrl(url: string): string {
  return url.replace(/^(rediss?:\/\/)([^@/]*)@/i, (_m, scheme: string, auth: string) => {
    const user = auth.split(':')[0] ?? '';
    return `${scheme}${user ? user + ':***@' : ':***@'}`;
  });
}

/** Removes the literal password from a message (ioredis errors should not hold it; belt and braces). */
export function scrub(message: string, address: QueueAddress): string {
  const pw = address.redis.password;
  let m = message;
  if (pw) m = m.split(pw).join('***');
  return m;
}

export function parseQueueUrl(raw: string, env: NodeJS.ProcessEnv = process.env): QueueAddress {
  const bad = (why: string) => new CollapseError('E_BAD_ARGUMENT', `--queue ${redactUrl(raw)}: ${why} (expected redis://HOST:PORT[/DB] or rediss://…)`);
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw bad('not a URL');
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw bad(`unsupported scheme ${u.protocol}`);
  if (!u.hostname) throw bad('no host');
  const port = u.port ? Number(u.port) : 6379;
  const path = u.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d{1,2}$/.test(path)) throw bad(`the database must be a number, got "${decodeURIComponent(path)}"`);
  const db = path === '' ? 0 : Number(path);
  const username = decodeURIComponent(u.username);
  const fromUrl = decodeURIComponent(u.password);
  const password = fromUrl || env[PASSWORD_ENV] || '';
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const redis: RedisOptions = {
    host,
    port,
    db,
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    // SNI takes a host name only (Node refuses an IP address there).
    ...(u.protocol === 'rediss:' ? { tls: isIP(host) ? {} : { servername: host } } : {}),
  };
  const display = `${u.protocol}//${username ? username + '@' : ''}${u.host}${db ? '/' + db : ''}`;
  return { redis, display, hasPassword: password !== '' };
}
