/**
 * Connections to the queue's Redis. Before anything is enqueued or taken, one probe connection
 * with no retries checks that Redis answers and accepts the password, so an unreachable server or a
 * wrong password is one clear line at once instead of ioredis's endless reconnect attempts.
 */
import type { ConnectionOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { createRequire } from 'node:module';
import { CollapseError } from '../errors.js';
import { PASSWORD_ENV, scrub, type QueueAddress } from './url.js';

/** The BullMQ queue every collapse-lab sweep and worker use (one per Redis database). */
export const QUEUE_NAME = 'collapse-lab';

export const PROBE_TIMEOUT_MS = 5000;

export const collapseVersion: string = (() => {
  try {
    return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();

/** Pings Redis once; throws a one-line CollapseError when it cannot be used. */
export async function probe(address: QueueAddress, timeoutMs = PROBE_TIMEOUT_MS): Promise<void> {
  let last: (Error & { code?: string }) | undefined;
  const r = new Redis({ ...address.redis, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: timeoutMs, enableOfflineQueue: false, disconnectTimeout: 50 });
  r.on('error', (e: Error) => {
    last ??= e;
  });
  const where = `Redis at ${address.display}`;
  try {
    await Promise.race([
      r.connect().then(() => r.ping()),
      new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), timeoutMs + 500).unref()),
    ]);
  } catch (err) {
    const e = last ?? (err as Error & { code?: string });
    const msg = scrub(e.message ?? String(e), address);
    if (/^NOAUTH/.test(msg)) throw new CollapseError('E_BAD_ARGUMENT', `${where} asks for a password: give it in the URL (redis://:PASSWORD@HOST:PORT) or in ${PASSWORD_ENV}`);
    if (/^WRONGPASS|invalid password/i.test(msg)) throw new CollapseError('E_BAD_ARGUMENT', `${where} refused the password${address.hasPassword ? '' : ' (none was given)'}: check the URL or ${PASSWORD_ENV}`);
    if (e.code === 'ECONNREFUSED') throw new CollapseError('E_QUEUE', `cannot reach ${where}: connection refused (is redis-server running there?)`);
    if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') throw new CollapseError('E_QUEUE', `cannot reach ${where}: unknown host`);
    throw new CollapseError('E_QUEUE', `cannot reach ${where}: no answer within ${(timeoutMs / 1000).toFixed(0)} s (${msg})`);
  } finally {
    r.disconnect();
  }
}

/** Connection options for BullMQ's own clients (workers need maxRetriesPerRequest: null). */
export function bullConnection(address: QueueAddress): ConnectionOptions {
  // ioredis's own options type is wider than BullMQ's copy of it; the object is plain ioredis options.
  return { ...address.redis, maxRetriesPerRequest: null } as ConnectionOptions;
}
