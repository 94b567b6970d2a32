import { randomBytes } from 'node:crypto';
import type { Config } from '../config/schema';
import type { Srf, SrfResponse } from '../drachtio/srf';
import type { Logger } from '../logger';
import { probeResult, type ProbeResult } from '../routing/health';
import type { RoutedTarget } from '../routing/match';
import { targetUri } from '../sip/uri';
import type { ProbeStore } from '../store/probe-store';

/** The header naming the instance that sent a probe (for the back-end's logs, and the tests). */
export const PROBE_INSTANCE_HEADER = 'X-Probe-Instance';

/**
 * Sends one out-of-dialog OPTIONS to `uri` and waits for its final response, at most `timeoutMs`.
 * A late response is ignored; drachtio-server's own 408 (Timer F, 32 s) comes long after.
 */
export function sendOptions(srf: Srf, uri: string, headers: Record<string, string>, timeoutMs: number): Promise<{ status: number } | 'timeout' | 'error'> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: { status: number } | 'timeout' | 'error'): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(r);
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    try {
      srf.request(uri, { method: 'OPTIONS', headers }, (err, req) => {
        if (err) {
          finish('error');
          return;
        }
        req.on('response', (res: SrfResponse) => {
          if (res.status >= 200) finish({ status: res.status });
        });
      });
    } catch {
      finish('error');
    }
  });
}

export interface ProberDeps {
  store: ProbeStore;
  probe: Config['health']['probe'];
  instanceId: string;
  /** every current target (a reload or DNS may change them): read each round */
  targets: () => readonly RoutedTarget[];
  /** a drachtio connection to send the OPTIONS through, or undefined when none is up */
  srf: () => Srf | undefined;
  logger: Logger;
  /** the User-Agent of the probes */
  userAgent: string;
}

/**
 * Active health: every `probe.intervalMs` this instance takes or renews the probe lease of each probed
 * target (`<prefix>target:<id>:probe`, one Redis round trip for all) and sends an OPTIONS to the targets
 * whose lease it holds; each result is applied in Redis by one script (PROBE_RESULT), which writes the
 * state every instance follows and, on a change, its event. So each target is probed by one instance at
 * a time; when it dies or stops renewing, its leases run out (2 × intervalMs) and another takes them.
 */
export class Prober {
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private running?: Promise<void>;
  /** targets this instance held at its last round */
  private held = new Set<string>();

  constructor(private readonly deps: ProberDeps) {}

  /** How long a lease lives unrenewed: two rounds, so one late round does not lose it. */
  get leaseMs(): number {
    return 2 * this.deps.probe.intervalMs;
  }

  /** Whether this instance held the target's lease at its last round. */
  holds(targetId: string): boolean {
    return this.held.has(targetId);
  }

  start(): void {
    if (!this.deps.probe.enabled) return;
    const loop = (): void => {
      if (this.stopped) return;
      const started = Date.now();
      this.running = this.round().finally(() => {
        if (this.stopped) return;
        this.timer = setTimeout(loop, Math.max(0, started + this.deps.probe.intervalMs - Date.now()));
        this.timer.unref();
      });
    };
    loop();
  }

  /** Stops probing and gives up this instance's leases, so another instance takes over at its next round. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    const held = [...this.held];
    this.held.clear();
    if (held.length > 0 && this.deps.store.available) await this.deps.store.releaseLeases(held).catch(() => undefined);
  }

  /** One round: take the leases, probe the targets held, apply the results. Never throws. */
  async round(): Promise<void> {
    const { store, logger } = this.deps;
    const srf = this.deps.srf();
    if (!srf || !store.available) {
      this.held.clear();
      return;
    }
    const targets = this.deps.targets().filter((t) => t.probe !== false);
    let held: string[];
    try {
      held = await store.takeLeases(
        targets.map((t) => t.id),
        this.leaseMs,
      );
    } catch (err) {
      logger.debug({ err }, 'could not take probe leases');
      this.held.clear();
      return;
    }
    this.held = new Set(held);
    await Promise.all(targets.filter((t) => this.held.has(t.id)).map((t) => this.probeOne(srf, t)));
  }

  private async probeOne(srf: Srf, target: RoutedTarget): Promise<void> {
    const { probe, store, logger, instanceId } = this.deps;
    const reply = await sendOptions(
      srf,
      targetUri(target, ''),
      // a new Call-ID per probe, naming when it was sent: a retransmission of an earlier, timed-out probe
      // (sofia-sip retransmits until Timer F, 32 s) is told from a new one by the back-end and in traces
      { 'Call-ID': `probe-${String(Date.now())}-${randomBytes(4).toString('hex')}`, 'User-Agent': this.deps.userAgent, [PROBE_INSTANCE_HEADER]: instanceId },
      probe.timeoutMs,
    );
    const result: ProbeResult = probeResult(reply, probe.deadStatuses);
    try {
      const r = await store.applyResult(target.id, result, probe);
      if (r.kind === 'down') {
        logger.warn(
          { code: 'B2B_WARN_TARGET_PROBE_DOWN', target: target.id, cause: r.cause },
          'target marked down by probes: out of selection until they bring it back',
        );
      } else if (r.kind === 'up') {
        logger.info({ target: target.id, was: r.was, cause: r.cause, by: 'probe' }, 'target back up: in selection again');
      } else if (r.kind === 'lost') {
        this.held.delete(target.id);
      }
      if (!result.alive) logger.debug({ target: target.id, label: result.label }, 'probe failed');
    } catch (err) {
      logger.debug({ err, target: target.id }, 'could not apply a probe result in redis');
    }
  }
}
