import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { Config } from '../config/schema';
import type { Srf } from '../drachtio/srf';
import type { Logger } from '../logger';
import type { CallStore } from '../store/call-store';
import type { ClusterStore, ControlMessage, InstanceFacts } from '../store/cluster-store';
import { OUTBOUND_SERVER_ID } from '../drachtio/connection';
import { AdoptedCall, type ReleaseReason } from './adopted-call';
import { lostLegOfRecord, sendByeOutsideDialog } from './reconnect';

/** What the cluster runtime needs from the rest of the instance. */
export interface ClusterDeps {
  config: Config;
  instanceId: string;
  version: string;
  store: CallStore;
  cluster: ClusterStore;
  /** a second Redis connection for pub/sub (a subscribed connection can do nothing else) */
  subscriber: Redis;
  /** the Srf connected to each drachtio-server, by server id (`host:port`) */
  srfByServer: ReadonlyMap<string, Srf>;
  /** drachtio-servers connected now */
  connectedServers(): string[];
  /** calls this instance holds in memory (setting up or answered), for the registry key */
  localCalls(): number;
  isDraining(): boolean;
  /** whether a call this process set up (a CallSession) holds this call key */
  holdsLocally(key: string): boolean;
  /** ends a call this instance holds in memory, by call key; false when it holds none by that key */
  hangupLocal(key: string): Promise<boolean>;
  /** re-reads the config file (an operator's `reload`); `request` names the answering event */
  reload?(request: string): Promise<void>;
  logger: Logger;
}

/**
 * One instance's part in the cluster:
 * - a registry key with a short TTL, refreshed every `heartbeatMs` (`<prefix>instance:<id>`);
 * - a watcher that finds instances whose key expired while they still own calls, takes the one
 *   takeover lock (fencing token), adopts their calls and watches each until a leg hangs up;
 * - a subscriber for control messages (an operator's hangup) addressed to this instance.
 */
export class ClusterMember {
  private readonly adopted = new Map<string, AdoptedCall>();
  private readonly startedAt = Date.now();
  private heartbeatTimer?: NodeJS.Timeout;
  private watchTimer?: NodeJS.Timeout;
  private heartbeatFailing = false;
  private watching = false;
  private stopped = false;

  constructor(private readonly deps: ClusterDeps) {}

  /** Who answers a `reload` control message (set once the instance can reload). */
  setReload(reload: (request: string) => Promise<void>): void {
    this.deps.reload = reload;
  }

  get adoptedCount(): number {
    return this.adopted.size;
  }

  async start(): Promise<void> {
    const { config, subscriber, instanceId, logger } = this.deps;
    await this.beat();
    this.heartbeatTimer = setInterval(() => void this.beat(), config.cluster.heartbeatMs);
    this.watchTimer = setInterval(() => void this.watch(), config.cluster.heartbeatMs);
    subscriber.on('error', () => undefined); // the main connection logs Redis state changes
    subscriber.on('message', (_channel: string, text: string) => void this.onControl(text));
    // (re)subscribe each time the connection is ready: commands are not queued while it is not
    subscriber.on('ready', () => {
      subscriber.subscribe(controlChannel(config, instanceId)).catch((err: unknown) => logger.warn({ err }, 'could not subscribe to control messages'));
    });
    void this.watch();
  }

  /**
   * Clean shutdown: stops watching adopted calls without ending them (they stay recorded under this
   * instance, so once its registry key is gone another survivor adopts them) and removes the key.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeatTimer);
    clearInterval(this.watchTimer);
    for (const call of this.adopted.values()) call.stop();
    try {
      await this.deps.cluster.removeInstance(this.deps.instanceId);
    } catch (err) {
      this.deps.logger.warn({ err }, 'could not remove the registry key; it expires on its own');
    }
    this.deps.subscriber.disconnect();
  }

  private facts(): InstanceFacts {
    return {
      id: this.deps.instanceId,
      host: hostname(),
      pid: process.pid,
      version: this.deps.version,
      servers: this.deps.connectedServers(),
      calls: this.deps.localCalls() + this.adopted.size,
      startedAt: this.startedAt,
      draining: this.deps.isDraining(),
    };
  }

  private async beat(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.deps.cluster.heartbeat(this.facts(), this.deps.config.cluster.instanceTtlMs);
      if (this.heartbeatFailing) this.deps.logger.info('cluster heartbeat restored');
      this.heartbeatFailing = false;
    } catch (err) {
      if (!this.heartbeatFailing) this.deps.logger.warn({ err }, 'cluster heartbeat failed (redis unavailable?); other instances may take this one for dead');
      this.heartbeatFailing = true;
    }
  }

  /** Finds dead owners (and this instance's own calls from a previous life) and adopts their calls, one survivor each. */
  private async watch(): Promise<void> {
    if (this.watching || this.stopped || this.deps.isDraining()) return;
    this.watching = true;
    try {
      // never itself: after Redis lost everything (a restart without persistence), this instance's calls are
      // written back (listing it in the instance set) before its next heartbeat; taking itself for dead then
      // would "adopt" its own calls and empty its own call set under the active rebuild. Calls left under its
      // id by a previous process are adoptOwnLeftovers' business.
      for (const dead of await this.deps.cluster.deadOwners()) if (dead !== this.deps.instanceId) await this.takeOver(dead);
      await this.adoptOwnLeftovers();
    } catch (err) {
      this.deps.logger.debug({ err }, 'cluster watch skipped (redis unavailable?)');
    } finally {
      this.watching = false;
    }
  }

  private async takeOver(dead: string): Promise<void> {
    const { cluster, instanceId, logger, config } = this.deps;
    const token = await cluster.acquireTakeover(dead, config.cluster.instanceTtlMs * 2);
    if (!token) return; // another survivor has it
    const keys = await cluster.adopt(dead, instanceId, token);
    if (!keys) return;
    logger.warn({ code: 'B2B_WARN_CLUSTER_TAKEOVER', dead, calls: keys.length, fence: token }, 'instance stopped heartbeating: adopted its calls');
    await this.watchCalls(keys);
  }

  /** Calls recorded under this instance's id that it does not hold: left by a previous process with the same id. */
  private async adoptOwnLeftovers(): Promise<void> {
    const { store, instanceId, logger } = this.deps;
    const owned = await store.callsOf(instanceId);
    const unknown: string[] = [];
    for (const key of owned) if (!this.adopted.has(key) && !this.deps.holdsLocally(key)) unknown.push(key);
    if (unknown.length === 0) return;
    logger.warn(
      { code: 'B2B_WARN_CLUSTER_TAKEOVER', dead: instanceId, calls: unknown.length },
      'calls recorded under this instance id from a previous process: watching them',
    );
    await this.watchCalls(unknown);
  }

  private async watchCalls(keys: readonly string[]): Promise<void> {
    const { store, srfByServer, config, logger } = this.deps;
    for (const key of keys) {
      if (this.adopted.has(key)) continue;
      const record = await store.getCall(key);
      if (!record) continue;
      const log = logger.child({ callId: record.callId, adopted: true });
      if (record.server === OUTBOUND_SERVER_ID) {
        // drachtio-server opened that call's connection to the dead instance; no other app can reach its
        // dialogs through a connection of its own, so the call cannot be watched: release the record
        log.warn({ code: 'B2B_WARN_CLUSTER_TAKEOVER' }, 'adopted an outbound-mode call, which cannot be watched: its record is released now');
        void this.release({ key, record } as unknown as AdoptedCall, 'unwatchable');
        continue;
      }
      const srf = srfByServer.get(record.server);
      if (!srf) {
        log.error(
          { code: 'B2B_ERR_CLUSTER_UNREACHABLE', server: record.server },
          'adopted call lives on a drachtio-server this instance is not connected to; it cannot be watched (connect every instance to every drachtio-server)',
        );
        continue;
      }
      const call = new AdoptedCall(record, srf, config.cluster.watchIntervalMs, config.cluster.optionsIntervalMs, log, (c, by) => void this.release(c, by));
      this.adopted.set(key, call);
      call.start();
    }
  }

  private async release(call: AdoptedCall, by: ReleaseReason): Promise<void> {
    this.adopted.delete(call.key);
    const { store, cluster, instanceId, logger } = this.deps;
    if (by === 'both') {
      // both dialogs gone at one probe: drachtio-server most likely restarted and lost them, so tell each
      // party with a BYE built from the record (a party that had hung up answers it 481)
      const srf = this.deps.srfByServer.get(call.record.server);
      if (srf) {
        await Promise.all(
          (['a', 'b'] as const).map((leg) =>
            sendByeOutsideDialog(srf, lostLegOfRecord(call.record, leg)).catch((err: unknown) => logger.debug({ err }, 'BYE outside the dialog failed')),
          ),
        );
      }
    }
    try {
      // null: the record was already gone (its owner ended the call meanwhile): nothing was released here
      if ((await store.endCall(call.key, by)) !== null) await cluster.event('released', { call: call.key, instance: instanceId, by });
    } catch (err) {
      logger.warn({ err, code: 'B2B_ERR_RECORD_LEFT', callId: call.record.callId }, 'could not remove an adopted call record from redis');
    }
  }

  private async onControl(text: string): Promise<void> {
    let msg: ControlMessage;
    try {
      msg = JSON.parse(text) as ControlMessage;
    } catch {
      return;
    }
    if (msg.action === 'reload' && typeof msg.request === 'string') {
      await this.deps.reload?.(msg.request);
      return;
    }
    if (msg.action !== 'hangup' || typeof msg.key !== 'string') return;
    const adopted = this.adopted.get(msg.key);
    if (adopted) {
      await adopted.end('operator');
      return;
    }
    await this.deps.hangupLocal(msg.key);
  }
}

function controlChannel(config: Config, instanceId: string): string {
  return `${config.redis.keyPrefix}control:${instanceId}`;
}
