/**
 * Starts apps/dispatcher/main.ts with a config object, written to a temporary JSON file.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApp, type AppProcess } from '../harness/app';
import type { DrachtioServer } from '../harness/drachtio';

const dir = mkdtempSync(join(tmpdir(), 'sipd-config-'));
let written = 0;

/**
 * Writes a config object to a fresh file and returns its path. Unless the test sets it, `log.bufferBytes`
 * is 0: tests read the log as lines are written (the buffered output is what test/integration/fatal-process
 * and the bench run).
 */
export function writeConfig(config: unknown): string {
  written += 1;
  const file = join(dir, `config-${written}.json`);
  writeFileSync(file, JSON.stringify(unbufferedLog(config)));
  return file;
}

function unbufferedLog(config: unknown): unknown {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) return config;
  const c = config as { log?: Record<string, unknown> };
  if (c.log !== undefined && (typeof c.log !== 'object' || c.log === null || 'bufferBytes' in c.log)) return config;
  return { ...c, log: { ...c.log, bufferBytes: 0 } };
}

/** The `drachtio` section that points a dispatcher at a test drachtio server. */
export function drachtioSection(d: DrachtioServer): { servers: Array<{ host: string; port: number; secret: string }> } {
  return { servers: [{ host: d.host, port: d.adminPort, secret: d.secret }] };
}

/** Starts the dispatcher and waits until it has connected to drachtio. */
export function startDispatcher(config: unknown, env: Record<string, string> = {}): Promise<AppProcess> {
  return startApp({ entry: 'apps/dispatcher/main.ts', args: ['--config', writeConfig(config)], env });
}

/** The dispatcher's id of a UDP target at this address (Redis keys, log lines): `udp:127.0.0.1:5070`. */
export function targetId(peer: { host: string; port: number }): string {
  return `udp:${peer.host}:${String(peer.port)}`;
}
