/** The queue URL: parsed into ioredis options, and never shown or stored with its password. */
import { CollapseError } from '../../src/errors.js';
import { parseQueueUrl, redactUrl, scrub } from '../../src/queue/url.js';

test('redis:// with host, port and database; the default port and database', () => {
  expect(parseQueueUrl('redis://127.0.0.1:6380/3', {})).toEqual({ redis: { host: '127.0.0.1', port: 6380, db: 3 }, display: 'redis://127.0.0.1:6380/3', hasPassword: false });
  expect(parseQueueUrl('redis://queue-host', {})).toEqual({ redis: { host: 'queue-host', port: 6379, db: 0 }, display: 'redis://queue-host', hasPassword: false });
});

test('a password from the URL or from COLLAPSE_REDIS_PASSWORD (the URL wins); the display never holds it', () => {
  const a = parseQueueUrl('redis://:s%40cret@h:1/2', { COLLAPSE_REDIS_PASSWORD: 'env-pw' });
  expect(a.redis.password).toBe('s@cret');
  expect(a.display).toBe('redis://h:1/2');
  const b = parseQueueUrl('redis://alice@h:1', { COLLAPSE_REDIS_PASSWORD: 'env-pw' });
  expect(b.redis).toEqual({ host: 'h', port: 1, db: 0, username: 'alice', password: 'env-pw' });
  expect(b.display).toBe('redis://alice@h:1');
  expect(b.hasPassword).toBe(true);
  expect(scrub('AUTH env-pw failed; env-pw', b)).toBe('AUTH *** failed; ***');
});

test('rediss:// is TLS', () => {
  const a = parseQueueUrl('rediss://:pw@secure.example:6390', {});
  expect(a.redis.tls).toEqual({ servername: 'secure.example' });
  expect(a.display).toBe('rediss://secure.example:6390');
});

test('redactUrl hides the password of any redis URL', () => {
  expect(redactUrl('redis://:pw@h:1/0')).toBe('redis://:***@h:1/0');
  expect(redactUrl('rediss://bob:pw@h')).toBe('rediss://bob:***@h');
  expect(redactUrl('redis://h:1')).toBe('redis://h:1');
});

test.each([
  ['http://h:1', 'unsupported scheme http:'],
  ['redis://:pw@h:1/x', 'the database must be a number, got "x"'],
  ['not a url', 'not a URL'],
])('bad URL %s: one line, exit-2 code, no password', (url, why) => {
  let err: unknown;
  try {
    parseQueueUrl(url, {});
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(CollapseError);
  expect((err as CollapseError).code).toBe('E_BAD_ARGUMENT');
  expect((err as CollapseError).message).toBe(`--queue ${redactUrl(url)}: ${why} (expected redis://HOST:PORT[/DB] or rediss://…)`);
  expect((err as CollapseError).message).not.toMatch(/:pw@/);
});
