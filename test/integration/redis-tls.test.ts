/**
 * Redis over TLS: a real redis-server with --tls-port and a certificate made for the test.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../lib/config/load';
import { ConfigError } from '../../lib/errors';
import { createLogger } from '../../lib/logger';
import { CallStore } from '../../lib/store/call-store';
import { createRedis, waitForRedis } from '../../lib/store/redis-client';
import { killChild, trackChild } from '../harness/app';
import { freeTcpPort } from '../harness/ports';

function redisConfig(url: string, tls: Record<string, unknown>) {
  return validateConfig({
    drachtio: { servers: [{ host: 'x' }] },
    routes: [{ name: 'r', targets: [{ host: 'y' }] }],
    redis: { url, tls, connectTimeoutMs: 1000, commandTimeoutMs: 200 },
  }).redis;
}

describe('Redis over TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sipd-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const otherCa = join(dir, 'other.pem');
  let child: ChildProcess;
  let port: number;

  beforeAll(async () => {
    const makeCert = (certFile: string, keyFile: string) =>
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-keyout',
          keyFile,
          '-out',
          certFile,
          '-days',
          '1',
          '-subj',
          '/CN=127.0.0.1',
          '-addext',
          'subjectAltName=IP:127.0.0.1',
        ],
        { stdio: 'ignore' },
      );
    makeCert(cert, key);
    makeCert(otherCa, join(dir, 'other-key.pem'));
    port = await freeTcpPort();
    child = spawn(
      'redis-server',
      [
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--tls-cert-file',
        cert,
        '--tls-key-file',
        key,
        '--tls-ca-cert-file',
        cert,
        '--tls-auth-clients',
        'no',
        '--save',
        '',
        '--appendonly',
        'no',
      ],
      { stdio: 'ignore' },
    );
    trackChild(child);
    // ready once the TLS port accepts a verified connection
    const probe = createRedis(redisConfig(`rediss://127.0.0.1:${port}`, { caFile: cert }), createLogger('silent'));
    const ok = await waitForRedis(probe, 10000);
    probe.disconnect();
    if (!ok) throw new Error('TLS redis-server did not come up');
  }, 30000);

  afterAll(async () => {
    if (child) await killChild(child);
  });

  it('stores and ends calls over a verified TLS connection', async () => {
    const redis = createRedis(redisConfig(`rediss://127.0.0.1:${port}`, { caFile: cert }), createLogger('silent'));
    expect(await waitForRedis(redis, 5000)).toBe(true);
    const store = new CallStore(redis, 'tls:');
    await store.recordFailedAttempt('udp:10.0.0.1:5060', '503');
    expect((await store.targetCounters('udp:10.0.0.1:5060')).failed).toEqual({ '503': 1 });
    await redis.quit();
  });

  it('refuses a server whose certificate the configured CA did not sign, and says so', async () => {
    const lines: string[] = [];
    const redis = createRedis(redisConfig(`rediss://127.0.0.1:${port}`, { caFile: otherCa }), createLogger('warn', { write: (s: string) => lines.push(s) }));
    expect(await waitForRedis(redis, 1500)).toBe(false);
    redis.disconnect();
    const warn = lines.map((l) => JSON.parse(l) as { msg: string; err?: { message?: string } }).find((l) => l.msg.startsWith('redis unavailable'));
    expect(warn?.err?.message).toMatch(/certificate|self.signed/i);
  });

  it('names redis.tls.caFile when the CA file cannot be read', () => {
    const missing = join(dir, 'missing.pem');
    let thrown: unknown;
    try {
      createRedis(redisConfig(`rediss://127.0.0.1:${port}`, { caFile: missing }), createLogger('silent'));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).issues).toEqual([{ path: 'redis.tls.caFile', found: JSON.stringify(missing), expected: 'a readable PEM file' }]);
    expect((thrown as Error).message).toContain('ENOENT');
  });
});
