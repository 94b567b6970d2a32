import { startRedis, type RedisServer } from './redis';

describe('startRedis', () => {
  let server: RedisServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  test('runs a real redis-server on a loopback port; clients work; stop() ends it', async () => {
    server = await startRedis();
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
    const a = server.client();
    const b = server.client();
    await a.set('k', 'v1');
    expect(await b.get('k')).toBe('v1');
    const info = await a.info('server');
    expect(info).toMatch(new RegExp(`tcp_port:${server.port}\\r?\\n`));
    expect(await a.config('GET', 'save')).toEqual(['save', '']);
    const port = server.port;
    await server.stop();
    server = undefined;
    const { default: Redis } = await import('ioredis');
    const probe = new Redis({ host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, disconnectTimeout: 10 });
    probe.on('error', () => undefined);
    await expect(probe.connect()).rejects.toThrow();
    probe.disconnect();
  });

  test('requirepass: unauthenticated commands are refused, the helper client authenticates', async () => {
    server = await startRedis({ password: 's3cret' });
    expect(server.url).toBe(`redis://:s3cret@127.0.0.1:${server.port}`);
    expect(await server.client().ping()).toBe('PONG');
    const { default: Redis } = await import('ioredis');
    const anon = new Redis({ host: '127.0.0.1', port: server.port, maxRetriesPerRequest: 0, retryStrategy: () => null });
    anon.on('error', () => undefined);
    await expect(anon.get('x')).rejects.toThrow(/NOAUTH/);
    anon.disconnect();
  });

  test('two servers in one file get different ports and separate data', async () => {
    server = await startRedis();
    const other = await startRedis();
    try {
      expect(other.port).not.toBe(server.port);
      await server.client().set('only-here', '1');
      expect(await other.client().get('only-here')).toBeNull();
    } finally {
      await other.stop();
    }
  });
});
