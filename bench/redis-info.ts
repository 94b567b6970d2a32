/**
 * Redis' own counters (INFO), read before and after a measured interval: commands by name
 * (commandstats `calls`; commands run inside a Lua script are counted there too, under their own
 * names), read events on client connections (`total_reads_processed`: one per batch of bytes the
 * server read from a client, so one per round trip of a client that waits for each answer, fewer
 * when a client pipelines) and memory.
 */
import type Redis from 'ioredis';

export interface RedisSnapshot {
  /** cmdstat_<name>: calls */
  commands: Record<string, number>;
  /** total_commands_processed */
  totalCommands: number;
  /** total_reads_processed */
  reads: number;
  usedMemory: number;
  keys: number;
  pid: number;
}

export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\r\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

export async function redisSnapshot(client: Redis): Promise<RedisSnapshot> {
  // one INFO command per snapshot (INFO all: every section, commandstats included)
  const info = parseInfo(await client.info('everything'));
  const commands: Record<string, number> = {};
  for (const [k, v] of Object.entries(info)) {
    if (!k.startsWith('cmdstat_')) continue;
    const m = /calls=(\d+)/.exec(v);
    if (m) commands[k.slice('cmdstat_'.length)] = Number(m[1]);
  }
  const db0 = /keys=(\d+)/.exec(info.db0 ?? '');
  return {
    commands,
    totalCommands: Number(info.total_commands_processed ?? 0),
    reads: Number(info.total_reads_processed ?? 0),
    usedMemory: Number(info.used_memory ?? 0),
    keys: db0 ? Number(db0[1]) : 0,
    pid: Number(info.process_id ?? 0),
  };
}

export interface RedisDelta {
  /** commands by name, the bench's own INFO left out */
  commands: Record<string, number>;
  commandTotal: number;
  /** read events, the bench's own INFO left out */
  reads: number;
}

export function redisDelta(a: RedisSnapshot, b: RedisSnapshot): RedisDelta {
  const commands: Record<string, number> = {};
  let total = 0;
  for (const [name, calls] of Object.entries(b.commands)) {
    if (name === 'info') continue;
    const d = calls - (a.commands[name] ?? 0);
    if (d > 0) {
      commands[name] = d;
      total += d;
    }
  }
  // the snapshot's own INFO: one read event
  return { commands, commandTotal: total, reads: Math.max(0, b.reads - a.reads - 1) };
}
