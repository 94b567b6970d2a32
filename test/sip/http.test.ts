/**
 * The HTTP endpoints end to end: /health, /ready (flipping when drachtio-server or Redis is lost and
 * while draining), and /metrics in Prometheus text, parsed with a Prometheus text parser, counting the
 * calls that went through.
 */
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import type { AppProcess } from '../harness/app';
import { startDrachtio, type DrachtioServer } from '../harness/drachtio';
import { freeTcpPort } from '../harness/ports';
import { startRedis, type RedisServer } from '../harness/redis';
import { runUac, startUas, type SippUas } from '../harness/sipp';
import { drachtioSection, startDispatcher } from '../helpers/dispatcher';
import { until } from '../helpers/until';

const PREFIX = 'http:';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Ready {
  status: number;
  body: { ready: boolean; reasons: string[] };
}

describe('health, readiness and metrics over HTTP', () => {
  let redisServer: RedisServer;
  let drachtio: DrachtioServer;
  let uas: SippUas;
  let app: AppProcess;
  let httpPort: number;
  const sip = () => ({ host: drachtio.sipAddress, port: drachtio.sipPort });
  const url = (path: string) => `http://127.0.0.1:${String(httpPort)}${path}`;

  async function ready(): Promise<Ready> {
    const res = await fetch(url('/ready'));
    return { status: res.status, body: (await res.json()) as Ready['body'] };
  }

  const readyUntil = (pred: (r: Ready) => boolean, timeoutMs = 15000): Promise<Ready> => until(ready, pred, timeoutMs);

  async function metrics(): Promise<Map<string, ReturnType<typeof parsePrometheusTextFormat>[number]>> {
    const res = await fetch(url('/metrics'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return new Map(parsePrometheusTextFormat(await res.text()).map((f) => [f.name, f]));
  }

  const sample = (family: { metrics: Array<{ value?: string; labels?: Record<string, string> }> } | undefined, labels: Record<string, string> = {}) =>
    Number(family?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))?.value ?? NaN);

  beforeAll(async () => {
    [redisServer, drachtio, uas, httpPort] = await Promise.all([startRedis(), startDrachtio(), startUas('answer'), freeTcpPort()]);
    app = await startDispatcher({
      drachtio: { ...drachtioSection(drachtio), reconnectMaxDelayMs: 300 },
      redis: { url: redisServer.url, keyPrefix: PREFIX },
      http: { port: httpPort },
      call: { drainTimeoutMs: 5000, shutdownTimeoutMs: 8000 },
      routes: [{ name: 'known', match: { domains: ['known.test'] }, targets: [{ host: uas.host, port: uas.port }] }],
    });
    await readyUntil((r) => r.status === 200);
  }, 60000);

  afterAll(async () => {
    await app?.stop('SIGKILL');
    await uas?.stop();
    await drachtio?.stop();
    await redisServer?.stop();
  });

  it('answers /health, 404 elsewhere, 405 to other methods; listens on loopback by default', async () => {
    const health = await fetch(url('/health'));
    expect([health.status, await health.json()]).toEqual([200, { status: 'ok' }]);
    expect((await fetch(url('/nope'))).status).toBe(404);
    expect((await fetch(url('/health'), { method: 'POST' })).status).toBe(405);
    expect(app.logs().find((l) => l.msg === 'http endpoints listening: /health, /ready, /metrics')).toMatchObject({ host: '127.0.0.1', port: httpPort });
  });

  it('counts calls, attempts, set-up times and refusals in /metrics', async () => {
    const before = await metrics();
    const answered = sample(before.get('sipd_calls_total'), { route: 'known', status: '200' }) || 0;
    const noRoute = sample(before.get('sipd_admission_refusals_total'), { code: 'B2B_ERR_NO_ROUTE' }) || 0;
    expect((await runUac('call', { target: sip(), calls: 3, domain: 'known.test' })).exitCode).toBe(0);
    expect((await runUac('expect-status', { target: sip(), domain: 'unknown.test', expectStatus: 404 })).exitCode).toBe(0);
    const after = await metrics();
    const target = `udp:${uas.host}:${String(uas.port)}`;
    expect(sample(after.get('sipd_calls_total'), { route: 'known', status: '200' })).toBe(answered + 3);
    expect(sample(after.get('sipd_attempts_total'), { target, result: '200' })).toBe(answered + 3);
    expect(sample(after.get('sipd_admission_refusals_total'), { code: 'B2B_ERR_NO_ROUTE' })).toBe(noRoute + 1);
    const setup = after.get('sipd_setup_seconds');
    expect(setup?.type).toBe('HISTOGRAM');
    // (this parser keeps a histogram's buckets, not its labels: one route has answered calls here)
    expect(setup?.metrics.map((m) => Number(m.buckets?.['+Inf']))).toEqual([answered + 3]);
    expect(sample(after.get('sipd_drachtio_connected'))).toBe(1);
    expect(sample(after.get('sipd_redis_up'))).toBe(1);
    expect(sample(after.get('sipd_draining'))).toBe(0);
    expect(after.get('sipd_process_resident_memory_bytes')?.type).toBe('GAUGE');
    expect(after.get('sipd_nodejs_eventloop_lag_seconds')).toBeDefined();
  });

  it('shows the answered calls it holds per target in sipd_active_calls', async () => {
    const call = runUac('call', { target: sip(), calls: 1, domain: 'known.test', holdMs: 2500 });
    const target = `udp:${uas.host}:${String(uas.port)}`;
    let active = 0;
    for (let i = 0; i < 40 && active === 0; i += 1) {
      await sleep(50);
      active = sample((await metrics()).get('sipd_active_calls'), { target }) || 0;
    }
    expect(active).toBe(1);
    expect((await call).exitCode).toBe(0);
    // the caller's BYE is answered first; the call leaves the registry once the target's leg is ended too
    for (let i = 0; i < 40 && active !== 0; i += 1) {
      await sleep(50);
      active = sample((await metrics()).get('sipd_active_calls'), { target }) || 0;
    }
    expect(active).toBe(0);
  });

  it('is not ready while Redis is away, and ready again when it is back', async () => {
    const port = redisServer.port;
    await redisServer.stop();
    const down = await readyUntil((r) => r.status === 503);
    expect({ status: down.status, ready: down.body.ready, reasons: down.body.reasons }).toEqual({
      status: 503,
      ready: false,
      reasons: ['redis not connected'],
    });
    redisServer = await startRedis({ port });
    expect((await readyUntil((r) => r.status === 200)).body.reasons).toEqual([]);
  });

  it('is not ready while no drachtio-server is connected, and ready again after it reconnects', async () => {
    const restarting = drachtio.restart({ downMs: 1500 });
    const down = await readyUntil((r) => r.status === 503);
    expect(down.body.reasons).toEqual(['no drachtio-server connected']);
    await restarting;
    expect((await readyUntil((r) => r.status === 200)).status).toBe(200);
  });

  it('is not ready while draining (SIGTERM with a call up), still alive on /health', async () => {
    const call = runUac('call', { target: sip(), calls: 1, domain: 'known.test', holdMs: 2000 });
    for (let i = 0; i < 50 && (await redisServer.client().keys(`${PREFIX}call:*`)).length === 0; i += 1) await sleep(100);
    const exited = app.stop('SIGTERM', 10000);
    const draining = await readyUntil((r) => r.status === 503, 3000);
    expect(draining.body.reasons).toEqual(['draining']);
    expect((await fetch(url('/health'))).status).toBe(200);
    expect((await call).exitCode).toBe(0);
    expect(await exited).toBe(0);
  });
});
