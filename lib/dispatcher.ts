import type { Redis } from 'ioredis';
import {
  admitted,
  chain,
  guardSources,
  limitHops,
  refuseMergedRequest,
  refuseWhenOverloaded,
  refuseUnsupportedExtensions,
  refuseWhileDraining,
  routeCall,
  type AdmissionContext,
  type SourceGuard,
} from './call/admission';
import { CallRegistry } from './call/registry';
import { startOverloadControl } from './call/overload-control';
import { BlockList } from './security/block-list';
import { compileScannerMatch } from './security/scanners';
import { SourceRate } from './security/source-rate';
import { BlockStore } from './store/block-store';
import type { OverloadGuard } from './call/overload';
import { CallSession, type CallDeps, type HeaderPolicy } from './call/call-session';
import type { Config } from './config/schema';
import { OUTBOUND_SERVER_ID, startDrachtio } from './drachtio/connection';
import { checkCallsAfterReconnect, whenReconnected } from './cluster/reconnect';
import type { Srf, SrfRequest, SrfResponse } from './drachtio/srf';
import type { Logger } from './logger';
import { RouteTable } from './routing/route-table';
import { compileHeaderPatterns } from './sip/headers';
import { WriteBatch } from './store/write-batch';
import { BUDGET_WINDOW_S, FailoverBudget } from './call/failover-budget';
import { CallStore } from './store/call-store';
import { ClusterStore } from './store/cluster-store';
import { HealthStore } from './store/health-store';
import { TargetHealth } from './cluster/target-health';
import { Capacity } from './cluster/capacity';
import { TargetLoad } from './cluster/target-load';
import { CapacityStore } from './store/capacity-store';
import { ClusterMember } from './cluster/cluster';
import { Prober } from './cluster/prober';
import { ProbeStore } from './store/probe-store';
import { packageVersion } from './version';
import { Metrics } from './metrics/metrics';
import type { ReadinessInputs } from './http/http-server';
import { DnsCache } from './dns/dns-cache';
import { dnsNames } from './dns/expand';
import { loadConfig } from './config/load';
import { mergeForReload, reloadPlan, type ConfigSection } from './config/reload-plan';
import { ConfigError, type ErrorCode } from './errors';

export interface Dispatcher {
  readonly registry: CallRegistry;
  readonly srfs: readonly Srf[];
  readonly cluster: ClusterMember;
  readonly health: TargetHealth;
  /** the routes in force (replaced on a config reload; targets given by DNS name expanded as answers come) */
  readonly routes: RouteTable;
  /** the Prometheus metrics; undefined when http.port is not set */
  readonly metrics?: Metrics;
  /** what /ready reports */
  readiness(): ReadinessInputs;
  /** the DNS answers for targets given by name */
  readonly dns: DnsCache;
  /** the config in force (replaced by a reload) */
  readonly config: Config;
  /** Re-reads the config file and applies it, or refuses it and keeps the running one; one event in Redis says which. */
  reload(source: 'SIGHUP' | 'operator', request?: string): Promise<ReloadResult>;
  /**
   * SIGTERM path: refuse new calls, let active ones run until drainTimeoutMs, then end the rest, all
   * before `deadline` (epoch ms): records are removed and BYEs sent by then, whatever is still in flight.
   */
  shutdown(deadline: number): Promise<void>;
}

export function compileHeaderPolicy(headers: Config['call']['headers']): HeaderPolicy {
  return {
    request: compileHeaderPatterns(headers.request),
    response: compileHeaderPatterns(headers.response),
    inDialog: compileHeaderPatterns(headers.inDialog),
  };
}

export type ReloadResult =
  | { ok: true; applied: ConfigSection[]; ignored: ConfigSection[] }
  | { ok: false; code: ErrorCode; error: string; issues: Array<{ path: string; found: string; expected: string }> };

export interface DispatcherOptions {
  /** the file `reload()` re-reads (apps/dispatcher/main.ts passes --config) */
  configFile?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)).unref());

/**
 * Wires config, Redis and drachtio together. Everything that can be computed once is computed here.
 * Waits up to `dns.startWaitMs` for the first DNS answers (targets given by name) before taking calls.
 */
export async function startDispatcher(config: Config, logger: Logger, redis: Redis, opts: DispatcherOptions = {}): Promise<Dispatcher> {
  const registry = new CallRegistry();
  const instanceId = config.instanceId ?? 'dispatcher';
  /** the config in force: new calls read it, calls in progress keep the one they started with */
  let current = config;
  const writes = new WriteBatch(redis, config.redis.batchMs);
  const store = new CallStore(redis, config.redis.keyPrefix, instanceId, config.cluster.streamMaxLen, writes);
  // routes are expanded again whenever a DNS answer changes (never on the call path: calls read `table.routes`);
  // the first answer comes after `table` exists (lookups are asynchronous, started by `want`)
  const dns = new DnsCache(config.dns, logger, () => table.refresh());
  const table = new RouteTable(config.routes, dns);
  const names = dnsNames(config.routes);
  dns.want(names);
  if (names.srv.length + names.hosts.length > 0) {
    await dns.ready(config.dns.startWaitMs);
    const unresolved = dns.unresolved();
    if (unresolved.length > 0) logger.warn({ names: unresolved }, 'DNS names not resolved at start: their targets take calls once they resolve');
  }
  const healthStore = new HealthStore(redis, store.keys, instanceId, config.cluster.streamMaxLen, Math.max(5000, 10 * config.health.refreshMs));
  // active probing (lib/cluster/prober.ts): a probed target marked down passively stays down until probes bring it back
  const probed = (id: string): boolean => config.health.probe.enabled && table.allTargets().some((t) => t.id === id && t.probe !== false);
  const prober = new Prober({
    store: new ProbeStore(redis, store.keys, instanceId, config.cluster.streamMaxLen),
    probe: config.health.probe,
    instanceId,
    targets: () => table.allTargets(),
    // through the first connected drachtio-server (outbound mode has none to send from)
    srf: () => {
      const id = [...connected].sort().find((s) => s !== OUTBOUND_SERVER_ID && srfByServer.has(s));
      return id === undefined ? undefined : srfByServer.get(id);
    },
    logger,
    userAgent: `sip-dispatcher/${packageVersion()}`,
  });
  const health = new TargetHealth(
    healthStore,
    config.health,
    () => table.allTargets().map((t) => t.id),
    logger,
    probed,
    (id) => prober.holds(id),
  );
  health.start();
  const capacityStore = new CapacityStore(redis, store.keys, instanceId, config.cluster.streamMaxLen, writes);
  const capacity = new Capacity(capacityStore, logger);
  // loads are read only for the targets of least-loaded routes (none: no reads)
  const leastLoadedIds = (): string[] => [
    ...new Set(table.routes.filter((r) => r.route.strategy === 'least-loaded').flatMap((r) => r.targets.map((t) => t.id))),
  ];
  const load = new TargetLoad(capacityStore, config.health.refreshMs, leastLoadedIds, logger);
  load.start();
  const failoverBudget = new FailoverBudget(config.call.failoverBudget, (state, refused) => {
    if (state === 'spent')
      logger.warn(
        { code: 'B2B_WARN_FAILOVER_BUDGET', ...current.call.failoverBudget, windowS: BUDGET_WINDOW_S },
        'failover budget spent: failed calls are not failed over until failovers fall back within it',
      );
    else logger.info({ refused }, 'failover budget available again');
  });
  const deps: Omit<CallDeps, 'srf' | 'serverId'> & { metrics?: Metrics } = {
    failoverBudget,
    health,
    capacity,
    load,
    config,
    store,
    registry,
    headers: compileHeaderPolicy(config.call.headers),
    logger,
    instanceId,
  };

  const countStripped = (route: string): void => {
    store.countRoute(route, 'stripped-user-parameters').catch((err: unknown) => {
      if (store.available) logger.warn({ err, route }, 'could not count in redis');
    });
  };

  const overload = startOverloadControl(config.overload, store, logger);
  const sources = startSourceGuard(config, redis, store, instanceId, logger);
  const srfByServer = new Map<string, Srf>();
  const connected = new Set<string>();
  const metrics = config.http.port === undefined ? undefined : startMetrics(redis, registry, connected, overload.guard, logger);
  if (metrics) deps.metrics = metrics;
  /** bumped whenever `deps` changes, so each srf's invite handler makes a fresh copy for the calls after it */
  let depsVersion = 0;

  const install = (srf: Srf, serverId: string): void => {
    srfByServer.set(serverId, srf);
    srf.on('connect', (err) => {
      if (!err) connected.add(serverId);
    });
    srf.on('close', () => connected.delete(serverId));
    // a drachtio-server that restarted has lost every dialog: check the calls held on it (lib/cluster/reconnect.ts)
    if (serverId !== OUTBOUND_SERVER_ID) {
      whenReconnected(srf, () => {
        const calls = registry.all().filter((c): c is CallSession => c instanceof CallSession);
        void checkCallsAfterReconnect(srf, calls, logger.child({ drachtio: serverId }));
      });
    }
    const ctx: AdmissionContext = { logger, endSession: (req) => srf.endSession(req), refused: metrics && ((code) => metrics.refused(code)) };
    srf.use(
      'invite',
      chain([
        guardSources(sources.guard, ctx),
        refuseWhenOverloaded(overload.guard, () => registry.waiting, config.overload.retryAfterS, ctx),
        refuseWhileDraining(
          () => registry.isDraining,
          () => current.call.retryAfterSeconds,
          ctx,
        ),
        limitHops(ctx),
        refuseUnsupportedExtensions(ctx),
        refuseMergedRequest(registry, ctx),
        routeCall(
          () => table.routes,
          () => current,
          ctx,
          countStripped,
          (address, cause) => sources.guard.block(address, cause),
        ),
      ]),
    );
    // a call takes the deps in force when it starts (a reload replaces them for later calls): one copy per reload, not per call
    let callDeps: CallDeps | undefined;
    let callDepsVersion = -1;
    srf.invite((req: SrfRequest, res: SrfResponse) => {
      if (callDepsVersion !== depsVersion) {
        callDeps = { ...deps, srf, serverId };
        callDepsVersion = depsVersion;
      }
      void new CallSession(callDeps as CallDeps, req, res, admitted(req)).handle();
    });
    srf.options((req: SrfRequest, res: SrfResponse) => {
      res.send(registry.isDraining ? 503 : 200);
      srf.endSession(req);
    });
    // last resort for a fault thrown inside drachtio-srf's middleware chain: answer, log, carry on
    srf.use((err: unknown, req: SrfRequest, res: SrfResponse, _next: (err?: unknown) => void) => {
      logger.child({ callId: req.get('Call-ID') }).error({ err }, 'unexpected error handling request');
      if (!res.finalResponseSent) res.send(500);
      srf.endSession(req);
    });
  };

  const srfs = startDrachtio(config.drachtio, logger, install);
  const clusterStore = new ClusterStore(redis, store.keys, config.cluster.streamMaxLen);
  const cluster = new ClusterMember({
    config,
    instanceId,
    version: packageVersion(),
    store,
    cluster: clusterStore,
    subscriber: redis.duplicate(),
    srfByServer,
    connectedServers: () => [...connected].sort(),
    localCalls: () => registry.size,
    isDraining: () => registry.isDraining,
    holdsLocally: (key) => registry.has(key),
    hangupLocal: async (key) => (await registry.get(key)?.end('operator')) ?? false,
    logger,
  });
  /** Applies a validated config to new calls: routes (and their DNS names), call settings, health, log level, DNS resolver. */
  const apply = async (next: Config, applied: readonly ConfigSection[]): Promise<void> => {
    if (applied.includes('dns')) dns.configure(next.dns);
    if (applied.includes('routes')) {
      // ask for the new names first (keeping the old ones meanwhile), so a new name's targets are there when the routes switch
      const oldNames = dnsNames(table.config);
      const newNames = dnsNames(next.routes);
      dns.want({ srv: [...new Set([...oldNames.srv, ...newNames.srv])], hosts: [...new Set([...oldNames.hosts, ...newNames.hosts])] });
      await dns.ready(next.dns.startWaitMs);
      table.replace(next.routes);
      dns.want(newNames);
    }
    // calls take a copy of `deps` when they start (see srf.invite above): those in progress keep their config
    deps.config = next;
    if (applied.includes('call')) {
      deps.headers = compileHeaderPolicy(next.call.headers);
      failoverBudget.configure(next.call.failoverBudget);
    }
    if (applied.includes('health')) health.configure(next.health);
    if (applied.includes('log')) logger.level = next.log.level;
    depsVersion += 1;
    current = next;
  };

  let reloading: Promise<ReloadResult> = Promise.resolve({ ok: true, applied: [], ignored: [] });
  const reloadOnce = async (source: 'SIGHUP' | 'operator', request: string | undefined): Promise<ReloadResult> => {
    const tag = { instance: instanceId, ...(request !== undefined && { request }) };
    let next: Config;
    try {
      if (opts.configFile === undefined) throw new ConfigError('B2B_ERR_CONFIG_READ', 'no config file to reload (started without --config)');
      next = loadConfig(opts.configFile);
    } catch (err) {
      const e = err instanceof ConfigError ? err : new ConfigError('B2B_ERR_CONFIG_READ', String(err));
      logger.warn(
        { code: 'B2B_ERR_CONFIG_RELOAD_REFUSED', source, reason: e.code, issues: e.issues, error: e.message },
        'config reload refused: the running config keeps serving',
      );
      await clusterStore.event('config-refused', { ...tag, code: e.code, error: e.message }).catch((ev: unknown) => logger.debug({ err: ev }, 'no event'));
      return { ok: false, code: e.code, error: e.message, issues: e.issues };
    }
    const plan = reloadPlan(current, next);
    try {
      await apply(mergeForReload(current, next), plan.applied);
    } catch (err) {
      // not expected (the config validated); what was applied before the fault stays
      logger.error({ err, source, applied: plan.applied }, 'config reload failed while applying');
      await clusterStore.event('config-refused', { ...tag, code: 'B2B_ERR_CONFIG_RELOAD_REFUSED', error: String(err) }).catch(() => undefined);
      return { ok: false, code: 'B2B_ERR_CONFIG_RELOAD_REFUSED', error: String(err), issues: [] };
    }
    logger.info({ source, applied: plan.applied, ignored: plan.ignored, routes: next.routes.map((r) => r.name) }, 'config reloaded');
    if (plan.ignored.length > 0) {
      logger.warn({ ignored: plan.ignored }, 'config reload: these sections changed but are read only at start; they take effect after a restart');
    }
    await clusterStore
      .event('config-reloaded', { ...tag, applied: plan.applied.join(','), ignored: plan.ignored.join(',') })
      .catch((ev: unknown) => logger.debug({ err: ev }, 'no event'));
    return { ok: true, ...plan };
  };
  // one reload at a time, in the order asked
  const reload = (source: 'SIGHUP' | 'operator', request?: string): Promise<ReloadResult> => {
    reloading = reloading.then(() => reloadOnce(source, request));
    return reloading;
  };
  cluster.setReload((request) => reload('operator', request).then(() => undefined));
  void cluster.start();
  prober.start();
  resyncAfterRedisOutage(redis, registry, store, clusterStore, logger);
  logger.info({ instanceId, routes: config.routes.map((r) => r.name), mode: config.drachtio.mode }, 'dispatcher started');

  return {
    registry,
    srfs,
    cluster,
    health,
    metrics,
    readiness: () => ({
      drachtioConnected: connected.size,
      redisReady: redis.status === 'ready',
      draining: registry.isDraining,
      overloaded: overload.guard.underPressure(registry.waiting),
    }),
    routes: table,
    dns,
    get config() {
      return current;
    },
    reload,
    async shutdown(deadline: number): Promise<void> {
      const config = current;
      const drainMs = Math.min(config.call.drainTimeoutMs, deadline - Date.now());
      logger.info(
        { active: registry.size, drainTimeoutMs: config.call.drainTimeoutMs, shutdownTimeoutMs: config.call.shutdownTimeoutMs },
        'draining: new calls are refused',
      );
      const left = await registry.drain(Math.max(0, drainMs));
      if (left > 0) {
        logger.warn({ left }, 'drain timeout: ending the remaining calls');
        const ending = Promise.all(registry.all().map((c) => c.end('shutdown')));
        const inTime = await Promise.race([ending.then(() => true), sleep(deadline - Date.now()).then(() => false)]);
        if (!inTime) logger.warn({ left: registry.size }, 'shutdown deadline reached with BYE transactions still open; exiting anyway');
      }
      health.stop();
      overload.stop();
      sources.stop();
      await Promise.race([prober.stop(), sleep(deadline - Date.now())]);
      load.stop();
      dns.stop();
      await Promise.race([cluster.stop(), sleep(deadline - Date.now())]);
      for (const srf of srfs) {
        try {
          srf.disconnect();
        } catch (err) {
          // drachtio-srf asserts when there is no socket: this instance never connected
          logger.debug({ err }, 'drachtio was not connected');
        }
      }
      logger.info('drained; disconnected from drachtio');
    },
  };
}

/**
 * When Redis comes back after an outage: write back the answered calls this instance holds (their
 * records may be missing: stored while Redis was away, or lost with it), then rebuild every target's
 * `active` from the records (one script), so the counters are exact again within a round trip or two.
 */
function resyncAfterRedisOutage(redis: Redis, registry: CallRegistry, store: CallStore, cluster: ClusterStore, logger: Logger): void {
  let down = false;
  redis.on('error', () => {
    down = true;
  });
  redis.on('close', () => {
    down = true;
  });
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    void (async () => {
      try {
        const records = registry.all().flatMap((c) => (c.record ? [c.record] : []));
        for (const rec of records) await store.recordAnswered(rec);
        const counted = await cluster.rebuildActive();
        logger.info({ rewritten: records.length, active: counted }, 'redis is back: call records written back and active counters rebuilt');
      } catch (err) {
        logger.warn({ err }, 'could not resync redis after the outage; retrying when it is next back');
        down = true;
      }
    })();
  });
}

/** The metrics and their scrape-time sources; a background PING measures Redis's round trip every 5 s. */
function startMetrics(redis: Redis, registry: CallRegistry, connected: ReadonlySet<string>, guard: OverloadGuard, logger: Logger): Metrics {
  const metrics = new Metrics({
    activeByTarget: () => {
      const byTarget = new Map<string, number>();
      for (const c of registry.all()) if (c.record) byTarget.set(c.record.target, (byTarget.get(c.record.target) ?? 0) + 1);
      return byTarget;
    },
    settingUp: () => registry.settingUp,
    drachtioConnected: () => connected.size,
    redisReady: () => redis.status === 'ready',
    draining: () => registry.isDraining,
    overloaded: () => guard.underPressure(registry.waiting),
    overloadRefused: () => ({ ...guard.refused }),
  });
  redis.on('error', () => metrics.redisError());
  const ping = setInterval(() => {
    if (redis.status !== 'ready') return;
    const t0 = process.hrtime.bigint();
    redis.ping().then(
      () => metrics.redisPinged(Number(process.hrtime.bigint() - t0) / 1e9),
      (err: unknown) => logger.debug({ err }, 'redis ping failed'),
    );
  }, 5000);
  ping.unref();
  return metrics;
}

/** The source guard of admission: the cluster's block list (refreshed in the background), the per-source rate, the scanner list. */
function startSourceGuard(config: Config, redis: Redis, store: CallStore, instanceId: string, logger: Logger): { guard: SourceGuard; stop(): void } {
  const { security } = config;
  const blockList = new BlockList(new BlockStore(redis, store.keys, instanceId, config.cluster.streamMaxLen), security.refreshMs, logger);
  blockList.start();
  const rate = new SourceRate(security.sourceMaxCps);
  const prune = setInterval(() => rate.prune(Date.now()), 5000);
  prune.unref();
  return {
    guard: {
      isBlocked: (address) => blockList.isBlocked(address),
      block: (address, cause) => blockList.block(address, Date.now() + security.blockS * 1000, cause),
      overRate: (address) => rate.hit(address, Date.now()),
      maxCps: security.sourceMaxCps,
      scanner: compileScannerMatch(security.scannerUserAgents),
    },
    stop: () => {
      blockList.stop();
      clearInterval(prune);
    },
  };
}
