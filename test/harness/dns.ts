/**
 * A real DNS server per test file: Debian's dnsmasq (package dnsmasq-base) on a free loopback port,
 * answering only the records a test gives it (`srv-host=` and `host-record=` lines), authoritative for
 * `.test` (`local=/test/`: a missing name or type is NXDOMAIN/NODATA, not REFUSED), with a short TTL.
 *
 * dnsmasq's SIGHUP re-reads /etc/hosts, --addn-hosts and a few other files, not the main conf file
 * where `srv-host=` lines live (and no hosts file can hold an SRV record), so `setRecords` restarts it
 * on the same port with the new file; `stop` and `start` leave the port silent in between, the way
 * a resolver that went away looks to a client (ECONNREFUSED on loopback).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { Resolver } from 'node:dns/promises';
import { exitOf, killChild, trackChild } from './app';
import { freeUdpPort, LOOPBACK } from './ports';

// Debian installs it in /usr/sbin, which a non-root PATH may lack
const DNSMASQ_BIN = process.env.DNSMASQ_BIN ?? (existsSync('/usr/sbin/dnsmasq') ? '/usr/sbin/dnsmasq' : 'dnsmasq');

export interface DnsServer {
  port: number;
  /** `127.0.0.1:<port>`, for the config's `dns.servers` */
  address: string;
  /** Replaces the records (a restart on the same port); resolves when the new ones are answered. */
  setRecords(records: readonly string[]): Promise<void>;
  /** Stops answering (the process exits). */
  stop(): Promise<void>;
  /** Starts again on the same port with the last records. */
  start(): Promise<void>;
}

export interface StartDnsOptions {
  /** config lines, e.g. `srv-host=_sip._udp.pool.test,a.pool.test,5070,10,60` and `host-record=a.pool.test,127.0.0.1` */
  records: readonly string[];
  /** TTL of every answer, seconds (default 1) */
  ttlS?: number;
}

/** A name every test server answers, to know it is up. */
const PROBE_NAME = 'dnsmasq-probe.test';

async function waitForAnswer(port: number, deadline: number): Promise<void> {
  const r = new Resolver({ timeout: 200, tries: 1 });
  r.setServers([`${LOOPBACK}:${port}`]);
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      await r.resolve4(PROBE_NAME);
      return;
    } catch (err) {
      last = err;
      await new Promise((res) => setTimeout(res, 50));
    }
  }
  throw new Error(`dnsmasq on ${port} did not answer: ${String(last)}`);
}

export async function startDns(opts: StartDnsOptions): Promise<DnsServer> {
  const port = await freeUdpPort();
  const dir = mkdtempSync(join(tmpdir(), 'sipd-dns-'));
  const conf = join(dir, 'dnsmasq.conf');
  const ttl = String(opts.ttlS ?? 1);
  let records = [...opts.records];
  let child: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    writeFileSync(conf, [`host-record=${PROBE_NAME},127.0.0.254`, 'local=/test/', ...records, ''].join('\n'));
    const args = [
      '--keep-in-foreground',
      `--port=${port}`,
      `--listen-address=${LOOPBACK}`,
      '--bind-interfaces',
      '--no-resolv',
      '--no-hosts',
      `--conf-file=${conf}`,
      `--local-ttl=${ttl}`,
      `--auth-ttl=${ttl}`,
      '--no-negcache',
      '--cache-size=0',
      '--pid-file=',
      '--log-facility=-',
      // run as the user we are (dnsmasq started as root would switch to "nobody"; as another user it cannot switch)
      `--user=${userInfo().username}`,
    ];
    const proc = spawn(DNSMASQ_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    trackChild(proc);
    const output: string[] = [];
    proc.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
    proc.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
    const failed = new Promise<never>((_, reject) => {
      proc.once('error', (err) => reject(new Error(`cannot start ${DNSMASQ_BIN} (apt-get install dnsmasq-base): ${err.message}`)));
      void exitOf(proc).then((code) => reject(new Error(`dnsmasq exited (${String(code)}): ${output.join('')}`)));
    });
    failed.catch(() => undefined);
    try {
      await Promise.race([waitForAnswer(port, Date.now() + 10000), failed]);
    } catch (err) {
      await killChild(proc, 'SIGKILL');
      throw err;
    }
    child = proc;
  };

  const stop = async (): Promise<void> => {
    if (child) await killChild(child, 'SIGTERM', 3000);
    child = undefined;
  };

  await launch();
  return {
    port,
    address: `${LOOPBACK}:${port}`,
    async setRecords(next) {
      records = [...next];
      await stop();
      await launch();
    },
    stop,
    start: launch,
  };
}
