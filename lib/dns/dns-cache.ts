/**
 * DNS answers for targets given by name, kept in memory and refreshed in the background: a call never
 * waits on DNS (it reads the expanded routes, lib/routing/route-table.ts). Each name is asked again when
 * its answer's TTL (clamped to dns.minTtlS..maxTtlS) runs out; a failed lookup keeps the last good answer
 * and is asked again after dns.minTtlS. A failure is logged once, and the recovery once.
 *
 * SRV answers: node's resolver (c-ares) does not report their TTL, so an SRV name is asked again every
 * dns.minTtlS, the shortest time any answer is kept: a change is never seen later than its TTL (as
 * clamped) would allow, at the cost of one small query per SRV name every minTtlS. The A/AAAA answers
 * of the hosts an SRV answer names are kept for their own TTLs.
 */
import { Resolver } from 'node:dns/promises';
import type { DnsConfig } from '../config/schema';
import type { WarningCode } from '../errors';
import type { Logger } from '../logger';
import {
  addressAnswerTtl,
  hostsOfSrv,
  mergeAnswer,
  NO_RECORDS_CODES,
  type AddressRecord,
  type DnsLookup,
  type LookupOutcome,
  type NameState,
  type SrvRecord,
} from './expand';

type Kind = 'srv' | 'host';

interface Entry {
  kind: Kind;
  name: string;
  state?: NameState<SrvRecord> | NameState<AddressRecord>;
  timer?: NodeJS.Timeout;
  /** settles after the first lookup, answered or failed */
  first: Promise<void>;
  settleFirst: () => void;
  /** bumped when the entry is dropped, so a lookup in flight is ignored */
  live: boolean;
}

const errorCode = (err: unknown): string => (err as { code?: string }).code ?? (err as Error).message;

export class DnsCache implements DnsLookup {
  private readonly entries = new Map<string, Entry>();
  private resolver!: Resolver;
  private configHosts: readonly string[] = [];
  private configSrv: readonly string[] = [];
  private stopped = false;

  constructor(
    private cfg: DnsConfig,
    private readonly logger: Logger,
    /** called when a name's records change: the targets must be expanded again */
    private readonly onChange: () => void,
  ) {
    this.configure(cfg);
  }

  /** New resolver settings (a reload); the next lookups use them. */
  configure(cfg: DnsConfig): void {
    this.cfg = cfg;
    const resolver = new Resolver({ timeout: cfg.timeoutMs, tries: 2 });
    if (cfg.servers.length > 0) resolver.setServers(cfg.servers);
    this.resolver = resolver;
  }

  srv(name: string): readonly SrvRecord[] | undefined {
    return this.entries.get(`srv:${name}`)?.state?.records as readonly SrvRecord[] | undefined;
  }

  addresses(name: string): readonly AddressRecord[] | undefined {
    return this.entries.get(`host:${name}`)?.state?.records as readonly AddressRecord[] | undefined;
  }

  /** The names the config needs (lib/dns/expand.ts dnsNames): new ones are asked at once, names no longer needed are dropped. */
  want(names: { srv: readonly string[]; hosts: readonly string[] }): void {
    this.configSrv = names.srv;
    this.configHosts = names.hosts;
    this.sync();
  }

  /** Resolves once every name wanted has been asked once (answered or failed), or after `ms`, whichever is first. */
  async ready(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      const pending = [...this.entries.values()].filter((e) => e.state === undefined);
      const left = deadline - Date.now();
      if (pending.length === 0 || left <= 0) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(pending.map((e) => e.first)), new Promise<void>((r) => (timer = setTimeout(r, left)))]);
      clearTimeout(timer);
    }
  }

  /** Names that have never been answered (their targets are missing from the routes). */
  unresolved(): string[] {
    return [...this.entries.values()].filter((e) => e.state?.records === undefined).map((e) => e.name);
  }

  stop(): void {
    this.stopped = true;
    for (const e of this.entries.values()) this.drop(e);
    this.entries.clear();
  }

  /** Adds the names wanted now (the config's, and the hosts of the SRV answers), drops the others. */
  private sync(): void {
    if (this.stopped) return;
    const wanted = new Map<string, { kind: Kind; name: string }>();
    for (const name of this.configSrv) wanted.set(`srv:${name}`, { kind: 'srv', name });
    for (const name of this.configHosts) wanted.set(`host:${name}`, { kind: 'host', name });
    for (const name of this.configSrv) {
      for (const host of hostsOfSrv(this.srv(name) ?? [])) wanted.set(`host:${host}`, { kind: 'host', name: host });
    }
    for (const [key, e] of this.entries) {
      if (!wanted.has(key)) {
        this.drop(e);
        this.entries.delete(key);
      }
    }
    for (const [key, { kind, name }] of wanted) {
      if (this.entries.has(key)) continue;
      let settleFirst = (): void => undefined;
      const first = new Promise<void>((r) => (settleFirst = r));
      const entry: Entry = { kind, name, first, settleFirst, live: true };
      this.entries.set(key, entry);
      void this.lookup(entry);
    }
  }

  private drop(e: Entry): void {
    e.live = false;
    clearTimeout(e.timer);
    e.settleFirst();
  }

  private async lookup(e: Entry): Promise<void> {
    const outcome = e.kind === 'srv' ? await this.querySrv(e.name) : await this.queryHost(e.name);
    if (!e.live || this.stopped) return;
    const { minTtlS, maxTtlS } = this.cfg;
    // TTLs are not part of what counts as a change: the same addresses with a fresh TTL change nothing
    const merged =
      e.kind === 'srv'
        ? mergeAnswer(e.state as NameState<SrvRecord> | undefined, outcome as LookupOutcome<SrvRecord>)
        : mergeAnswer(e.state as NameState<AddressRecord> | undefined, outcome as LookupOutcome<AddressRecord>, (r) => r.address);
    e.state = merged.state;
    const records = merged.state.records?.length ?? 0;
    if (merged.log === 'failed') {
      const code: WarningCode = 'B2B_WARN_DNS_FAILED';
      this.logger.warn(
        { code, name: e.name, type: e.kind === 'srv' ? 'SRV' : 'A/AAAA', error: merged.state.error, kept: merged.state.records === undefined ? null : records },
        'DNS lookup failed: keeping the last answer and retrying (logged once until it resolves again)',
      );
    } else if (merged.log === 'recovered') {
      this.logger.info({ name: e.name, type: e.kind === 'srv' ? 'SRV' : 'A/AAAA', records }, 'DNS lookup answered again');
    }
    let ttlS = minTtlS;
    if (outcome.ok && e.kind === 'host') ttlS = addressAnswerTtl(outcome.records as readonly AddressRecord[], minTtlS, maxTtlS);
    e.timer = setTimeout(() => void this.lookup(e), ttlS * 1000);
    e.timer.unref();
    e.settleFirst();
    if (merged.changed) {
      this.logger.info({ name: e.name, type: e.kind === 'srv' ? 'SRV' : 'A/AAAA', records: merged.state.records, ttlS }, 'DNS answer changed');
      if (e.kind === 'srv') this.sync();
      this.onChange();
    }
  }

  private async querySrv(name: string): Promise<LookupOutcome<SrvRecord>> {
    try {
      const records = await this.resolver.resolveSrv(name);
      return { ok: true, records: records.map((r) => ({ name: r.name, port: r.port, priority: r.priority, weight: r.weight })) };
    } catch (err) {
      const code = errorCode(err);
      return NO_RECORDS_CODES.includes(code) ? { ok: true, records: [] } : { ok: false, error: code };
    }
  }

  private async queryHost(name: string): Promise<LookupOutcome<AddressRecord>> {
    const answers = await Promise.allSettled([this.resolver.resolve4(name, { ttl: true }), this.resolver.resolve6(name, { ttl: true })]);
    const records: AddressRecord[] = [];
    for (const a of answers) {
      if (a.status === 'fulfilled') records.push(...a.value.map((r) => ({ address: r.address, ttl: r.ttl })));
      else if (!NO_RECORDS_CODES.includes(errorCode(a.reason))) return { ok: false, error: errorCode(a.reason) };
    }
    return { ok: true, records };
  }
}
