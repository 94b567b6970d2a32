/**
 * What a config reload changes (pure): each top-level section of the new config compared with the one
 * in force. Sections the running instance can take over at once for new calls are applied; the others
 * are set when the process starts (connections, identity, cluster timers) and wait for a restart.
 */
import type { Config } from './schema';

/** Taken over at once by a reload: new calls use them; calls in progress keep what they started with. */
export const LIVE_SECTIONS = ['routes', 'call', 'health', 'log', 'dns'] as const;
/** Read once at start: a reload that changes them says so, and they take effect at the next restart. */
export const RESTART_SECTIONS = ['instanceId', 'drachtio', 'redis', 'cluster', 'overload', 'security', 'http'] as const;

/** Restart-only fields inside a live section. */
export const RESTART_FIELDS = ['log.bufferBytes'] as const;

export type ConfigSection = (typeof LIVE_SECTIONS)[number] | (typeof RESTART_SECTIONS)[number] | (typeof RESTART_FIELDS)[number];

export interface ReloadPlan {
  /** live sections that differ: applied now */
  applied: ConfigSection[];
  /** restart-only sections that differ: ignored until a restart */
  ignored: ConfigSection[];
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

export function reloadPlan(current: Config, next: Config): ReloadPlan {
  const live = mergeForReload(current, next);
  return {
    applied: LIVE_SECTIONS.filter((s) => !same(current[s], live[s])),
    ignored: [
      ...RESTART_SECTIONS.filter((s) => !same(current[s], next[s])),
      ...(current.log.bufferBytes !== next.log.bufferBytes ? (['log.bufferBytes'] as const) : []),
    ],
  };
}

/**
 * The config to run after a reload: the new file's live sections with the running restart-only ones,
 * so what is in force always says what the process really uses.
 */
export function mergeForReload(current: Config, next: Config): Config {
  return Object.freeze({
    ...next,
    log: { ...next.log, bufferBytes: current.log.bufferBytes },
    instanceId: current.instanceId,
    drachtio: current.drachtio,
    redis: current.redis,
    cluster: current.cluster,
    overload: current.overload,
    security: current.security,
    http: current.http,
  });
}
