import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseJsonLine, startApp } from '../harness/app';
import { freeTcpPort } from '../harness/ports';

/**
 * apps/dispatcher/main.ts started for real, with nothing to connect to (drachtio and Redis ports
 * closed): what it logs at start.
 */
describe('dispatcher start', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sipd-main-'));

  async function startWithSecret(secret: string | undefined): Promise<{ lines: string[] }> {
    const file = join(dir, `${secret ?? 'none'}.json`);
    const server = { host: '127.0.0.1', port: await freeTcpPort(), ...(secret === undefined ? {} : { secret }) };
    writeFileSync(
      file,
      JSON.stringify({
        drachtio: { servers: [server] },
        redis: { url: `redis://127.0.0.1:${await freeTcpPort()}`, connectTimeoutMs: 50 },
        routes: [{ name: 'r', targets: [{ host: '10.0.0.1' }] }],
      }),
    );
    const app = await startApp({
      entry: 'apps/dispatcher/main.ts',
      args: ['--config', file],
      env: { DRACHTIO_SECRET: '', LOG_LEVEL: 'info' },
      readyLine: (l) => parseJsonLine(l)?.msg === 'dispatcher started',
    });
    await app.stop();
    return { lines: app.lines };
  }

  it('warns once, by field and without the value, when a drachtio secret is the default', async () => {
    const { lines } = await startWithSecret(undefined);
    const warnings = lines.map(parseJsonLine).filter((l) => l?.code === 'B2B_WARN_CONFIG_DEFAULT_SECRET');
    expect(warnings).toEqual([expect.objectContaining({ level: 'warn', fields: ['drachtio.servers[0].secret'] })]);
    expect(lines.join('\n')).not.toContain('cymru');
  });

  it('does not warn when the secret was changed', async () => {
    const { lines } = await startWithSecret('Str0ng-and-private');
    expect(lines.join('\n')).not.toContain('B2B_WARN_CONFIG_DEFAULT_SECRET');
    expect(lines.join('\n')).not.toContain('Str0ng-and-private');
  });
});
