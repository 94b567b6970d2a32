/**
 * This instance's Prometheus metrics (prom-client, own registry, `sipd_` prefix). Counters are fed
 * from the one outcome each call logs (`callOutcome`) and from admission refusals (`refused`); gauges
 * are read when scraped (`collect`), so the call path pays one object update per call and nothing more.
 * Per instance, as Prometheus expects: sum over instances for the cluster.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** What one finished call attempt list looks like in the outcome log line. */
export interface CallOutcome {
  route: string;
  /** the final status the caller got (200 when answered) */
  status: number;
  setupMs: number;
  tried: readonly { target: string; result: string }[];
}

/** Readings taken at scrape time. */
export interface MetricsSources {
  /** answered calls held by this instance, per target id */
  activeByTarget(): Map<string, number>;
  settingUp(): number;
  drachtioConnected(): number;
  redisReady(): boolean;
  draining(): boolean;
  overloaded(): boolean;
  /** refused by overload control since start, by cause */
  overloadRefused(): Record<string, number>;
}

/** Set-up time buckets (s): a local answer takes milliseconds; a failover after a timeout, seconds. */
const SETUP_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class Metrics {
  readonly registry = new Registry();
  private readonly calls: Counter<'route' | 'status'>;
  private readonly attempts: Counter<'target' | 'result'>;
  private readonly failovers: Counter<'route'>;
  private readonly setup: Histogram<'route'>;
  private readonly refusals: Counter<'code'>;
  private readonly redisErrors: Counter;
  private readonly redisPing: Gauge;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'sipd_' });
    this.calls = new Counter({
      name: 'sipd_calls_total',
      help: 'Calls finished setting up, by route and the final status the caller got (200 = answered)',
      labelNames: ['route', 'status'],
      registers,
    });
    this.attempts = new Counter({
      name: 'sipd_attempts_total',
      help: 'INVITEs sent to targets, by target and result (200, a status, timeout, error, canceled, no-answer)',
      labelNames: ['target', 'result'],
      registers,
    });
    this.failovers = new Counter({
      name: 'sipd_failovers_total',
      help: 'Attempts after the first of a call (each one a failover to another target)',
      labelNames: ['route'],
      registers,
    });
    this.setup = new Histogram({
      name: 'sipd_setup_seconds',
      help: "Answered calls' set-up time, from the caller's INVITE to the answer",
      labelNames: ['route'],
      buckets: SETUP_BUCKETS,
      registers,
    });
    this.refusals = new Counter({
      name: 'sipd_admission_refusals_total',
      help: 'INVITEs refused before any target was tried, by error code (B2B_ERR_NO_ROUTE, B2B_ERR_TOO_MANY_HOPS, …; overload has its own metric)',
      labelNames: ['code'],
      registers,
    });
    this.redisErrors = new Counter({ name: 'sipd_redis_errors_total', help: 'Errors reported by the Redis connection', registers });
    this.redisPing = new Gauge({ name: 'sipd_redis_ping_seconds', help: 'Round trip of the last background PING to Redis', registers });
    new Gauge({
      name: 'sipd_active_calls',
      help: 'Answered calls held by this instance, by target',
      labelNames: ['target'],
      registers,
      collect() {
        this.reset();
        for (const [target, n] of sources.activeByTarget()) this.set({ target }, n);
      },
    });
    new Gauge({
      name: 'sipd_calls_setting_up',
      help: 'Calls admitted and not answered or failed yet',
      registers,
      collect() {
        this.set(sources.settingUp());
      },
    });
    new Counter({
      name: 'sipd_overload_refusals_total',
      help: 'INVITEs refused with 503 by overload control, by cause (setting-up, cps, event-loop)',
      labelNames: ['cause'],
      registers,
      collect() {
        this.reset();
        for (const [cause, n] of Object.entries(sources.overloadRefused())) this.inc({ cause }, n);
      },
    });
    const flag = (name: string, help: string, read: () => boolean | number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(Number(read()));
        },
      });
    };
    flag('sipd_drachtio_connected', 'drachtio-servers this instance is connected to', () => sources.drachtioConnected());
    flag('sipd_redis_up', '1 when the Redis connection is ready', () => sources.redisReady());
    flag('sipd_draining', '1 while this instance drains (SIGTERM)', () => sources.draining());
    flag('sipd_overloaded', '1 while overload control refuses new calls', () => sources.overloaded());
  }

  callOutcome(o: CallOutcome): void {
    const route = o.route;
    this.calls.inc({ route, status: String(o.status) });
    for (const t of o.tried) this.attempts.inc({ target: t.target, result: t.result });
    if (o.tried.length > 1) this.failovers.inc({ route }, o.tried.length - 1);
    if (o.status >= 200 && o.status < 300) this.setup.observe({ route }, o.setupMs / 1000);
  }

  refused(code: string): void {
    this.refusals.inc({ code });
  }

  redisError(): void {
    this.redisErrors.inc();
  }

  redisPinged(seconds: number): void {
    this.redisPing.set(seconds);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
