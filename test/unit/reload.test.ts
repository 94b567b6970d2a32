import { validateConfig } from '../../lib/config/load';
import { mergeForReload, reloadPlan } from '../../lib/config/reload-plan';
import { reloadAnswer, reloadExitCode, renderReload } from '../../lib/cli/reload';
import { parseCommandLine } from '../../lib/cli/args';

const base = {
  instanceId: 'a',
  drachtio: { servers: [{ host: '127.0.0.1' }] },
  routes: [{ name: 'r', targets: [{ host: '10.0.0.1' }] }],
};

describe('reloadPlan', () => {
  it('nothing changed: nothing applied or ignored', () => {
    expect(reloadPlan(validateConfig(base), validateConfig(base))).toEqual({ applied: [], ignored: [] });
  });

  it('live sections are applied, restart-only ones ignored, and the merged config keeps the running restart-only ones', () => {
    const cur = validateConfig(base);
    const next = validateConfig({
      ...base,
      instanceId: 'b',
      redis: { keyPrefix: 'x:' },
      call: { ringTimeoutS: 5 },
      log: { level: 'debug' },
      dns: { minTtlS: 1 },
      health: { downS: 5 },
      routes: [{ name: 'r', targets: [{ host: '10.0.0.2' }] }],
    });
    expect(reloadPlan(cur, next)).toEqual({ applied: ['routes', 'call', 'health', 'log', 'dns'], ignored: ['instanceId', 'redis'] });
    const merged = mergeForReload(cur, next);
    expect([merged.instanceId, merged.redis.keyPrefix, merged.call.ringTimeoutS, merged.routes[0].targets[0]]).toEqual([
      'a',
      'sipd:',
      5,
      expect.objectContaining({ host: '10.0.0.2' }),
    ]);
  });

  it('log.bufferBytes waits for a restart while log.level applies at once', () => {
    const cur = validateConfig(base);
    expect(reloadPlan(cur, validateConfig({ ...base, log: { bufferBytes: 0 } }))).toEqual({ applied: [], ignored: ['log.bufferBytes'] });
    const next = validateConfig({ ...base, log: { level: 'warn', bufferBytes: 0 } });
    expect(reloadPlan(cur, next)).toEqual({ applied: ['log'], ignored: ['log.bufferBytes'] });
    expect(mergeForReload(cur, next).log).toEqual({ level: 'warn', bufferBytes: 4096 });
  });
});

describe('reload CLI', () => {
  it('parses reload and its options', () => {
    expect(parseCommandLine(['reload'])).toEqual({ kind: 'reload', config: undefined, json: false, instance: undefined, waitMs: 10000 });
    expect(parseCommandLine(['reload', '--instance', 'n1', '--wait', '2', '--json', '-c', 'f.yaml'])).toEqual({
      kind: 'reload',
      config: 'f.yaml',
      json: true,
      instance: 'n1',
      waitMs: 2000,
    });
    expect(() => parseCommandLine(['reload', 'extra'])).toThrow(/unexpected argument "extra"/);
  });

  it('reads only the answers to its own request', () => {
    const ev = (type: string, fields: Record<string, string>) => ({ id: '1-0', type, fields });
    expect(reloadAnswer(ev('config-reloaded', { instance: 'a', request: 'q', applied: 'routes,call', ignored: '' }), 'q')).toEqual({
      instance: 'a',
      result: 'reloaded',
      applied: ['routes', 'call'],
      ignored: [],
    });
    expect(reloadAnswer(ev('config-reloaded', { instance: 'a', request: 'other' }), 'q')).toBeUndefined();
    expect(reloadAnswer(ev('answered', { instance: 'a', request: 'q' }), 'q')).toBeUndefined();
    expect(reloadAnswer(ev('config-refused', { instance: 'a', request: 'q', code: 'B2B_ERR_CONFIG_INVALID', error: 'bad\n  x: y' }), 'q')).toEqual({
      instance: 'a',
      result: 'refused',
      code: 'B2B_ERR_CONFIG_INVALID',
      error: 'bad\n  x: y',
    });
  });

  it('renders each instance and picks the exit code', () => {
    const ok = { instance: 'a', result: 'reloaded' as const, applied: ['routes'], ignored: ['redis'] };
    const same = { instance: 'b', result: 'reloaded' as const, applied: [], ignored: [] };
    const refused = { instance: 'c', result: 'refused' as const, code: 'B2B_ERR_CONFIG_INVALID', error: 'invalid:\n  routes: found 7' };
    const silent = { instance: 'd', result: 'no answer' as const };
    expect(renderReload([ok, same])).toBe('a: reloaded (applied: routes; ignored until restart: redis)\nb: reloaded (nothing changed)');
    expect(renderReload([refused])).toBe('c: refused, the running config keeps serving: B2B_ERR_CONFIG_INVALID\n  invalid:\n    routes: found 7');
    expect([reloadExitCode([ok, same]), reloadExitCode([ok, silent]), reloadExitCode([silent, refused])]).toEqual([0, 2, 3]);
  });
});
