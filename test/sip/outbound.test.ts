/**
 * Outbound mode (`drachtio.mode: outbound`): drachtio-server asks an HTTP request handler where to
 * send each new INVITE, then connects to the dispatcher, which listens with srf.listen.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseJsonLine, startApp, type AppProcess } from '../harness/app';
import { startDrachtio, type DrachtioServer } from '../harness/drachtio';
import { freeTcpPort } from '../harness/ports';
import { startRedis, type RedisServer } from '../harness/redis';
import { runUac, startUas, type SippUas } from '../harness/sipp';
import { writeConfig } from '../helpers/dispatcher';

const PREFIX = 'out:';

describe('dispatcher in outbound mode', () => {
  let http: Server;
  let redisServer: RedisServer;
  let drachtio: DrachtioServer;
  let target: SippUas;
  let app: AppProcess;
  const queries: string[] = [];
  let listenPort: number;

  /** TCP connections in state ESTABLISHED whose local port is the dispatcher's listen port (the dispatcher's ends). */
  function establishedOnListenPort(): number {
    const hex = listenPort.toString(16).toUpperCase().padStart(4, '0');
    return ['/proc/net/tcp', '/proc/net/tcp6']
      .flatMap((f) => (existsSync(f) ? readFileSync(f, 'utf8').split('\n').slice(1) : []))
      .map((line) => line.trim().split(/\s+/))
      .filter((cols) => cols[1]?.endsWith(`:${hex}`) && cols[3] === '01').length;
  }

  beforeAll(async () => {
    listenPort = await freeTcpPort();
    http = createServer((req, res) => {
      queries.push(req.url ?? '');
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ action: 'route', data: { uri: `127.0.0.1:${listenPort}` } }));
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const handler = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    [redisServer, drachtio, target] = await Promise.all([startRedis(), startDrachtio({ requestHandler: handler }), startUas('answer')]);
    app = await startApp({
      entry: 'apps/dispatcher/main.ts',
      args: [
        '--config',
        writeConfig({
          drachtio: { mode: 'outbound', listen: { host: '127.0.0.1', port: listenPort, secret: drachtio.secret } },
          redis: { url: redisServer.url, keyPrefix: PREFIX },
          routes: [{ name: 'all', targets: [{ host: target.host, port: target.port }] }],
        }),
      ],
      readyLine: (l) => parseJsonLine(l)?.msg === 'listening for drachtio-server connections',
    });
  }, 60000);

  afterAll(async () => {
    await app?.stop('SIGTERM');
    await target?.stop();
    await drachtio?.stop();
    await redisServer?.stop();
    await new Promise((resolve) => http?.close(resolve));
  });

  it('takes calls over the connections drachtio opens to it, and ends them cleanly', async () => {
    const r = await runUac('call', { target: { host: drachtio.sipAddress, port: drachtio.sipPort }, calls: 3, rate: 3 });
    expect(r.exitCode).toBe(0);
    expect((await target.waitForStats((x) => x.successfulCalls >= 3)).incomingCalls).toBe(3);
    expect(queries.filter((q) => q.includes('method=INVITE'))).toHaveLength(3);
    const redis = redisServer.client();
    for (let i = 0; i < 30 && (await redis.keys(`${PREFIX}call:*`)).length > 0; i += 1) await new Promise((res) => setTimeout(res, 100));
    expect(await redis.keys(`${PREFIX}call:*`)).toEqual([]);
    expect(await redis.hget(`${PREFIX}target:udp:${target.host}:${target.port}`, 'answered')).toBe('3');
    await app.waitFor(() => app.logs().filter((l) => l.msg === 'call ended').length >= 3, 3000);
    expect(app.logs().filter((l) => l.msg === 'call ended')).toHaveLength(3);
  }, 60000);

  it('closes the connection drachtio opened for each call once the call is over (srf.endSession)', async () => {
    const calls = 4;
    const before = app.logs().filter((l) => l.msg === 'call ended').length;
    const r = await runUac('call', { target: { host: drachtio.sipAddress, port: drachtio.sipPort }, calls, rate: 4, holdMs: 200 });
    expect(r.exitCode).toBe(0);
    await app.waitFor(() => app.logs().filter((l) => l.msg === 'call ended').length >= before + calls, 5000);
    let open = establishedOnListenPort();
    for (let i = 0; i < 30 && open > 0; i += 1) {
      await new Promise((res) => setTimeout(res, 100));
      open = establishedOnListenPort();
    }
    expect(open).toBe(0);
  }, 60000);
});
