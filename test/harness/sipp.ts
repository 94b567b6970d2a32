/**
 * sipp peers for end-to-end tests: long-running UAS back-ends with a fixed behaviour, and UAC
 * runs that place a number of calls and exit. Results come from sipp's own statistics
 * (-trace_stat CSV, -trace_counts CSV) and exit code, never from its log text.
 *
 * Every sipp process runs in its own temporary directory (sipp writes its CSV files next to the
 * scenario file, so the scenario is copied there), listens on 127.0.0.1 only (-bind_local), and
 * is killed when the jest worker exits.
 *
 * Stopping a UAS: SIGUSR1 is sipp's graceful quit (no new calls; exit when the open calls have
 * ended); if calls are still open after a grace period, SIGTERM makes it exit at once. Either
 * way sipp writes a last stats line before exiting, which is what stop() returns.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { exitOf, REPO_ROOT, trackChild } from './app';
import { freeUdpPort, LOOPBACK } from './ports';

const SIPP_BIN = process.env.SIPP_BIN ?? 'sipp';
export const SCENARIO_DIR = path.join(REPO_ROOT, 'test', 'scenarios');

// ---------------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------------

export interface SippStats {
  /**
   * Calls received (UAS): IncomingCall(C), less the health probes (each of the dispatcher's out-of-dialog
   * OPTIONS starts a scenario "call" of its own, answered 200 and ended at once by the scenario's first step).
   */
  incomingCalls: number;
  /** Health probes received: out-of-dialog OPTIONS, each caught by a UAS scenario's first step (`0_OPTIONS_Recv`). */
  probes: number;
  /** Calls placed (UAC): OutgoingCall(C). */
  outgoingCalls: number;
  /** TotalCallCreated, less the probes (as incomingCalls). */
  totalCalls: number;
  /** Calls open when the line was written: CurrentCall. */
  currentCalls: number;
  /** Calls that ran the scenario to its end: SuccessfulCall(C), less the probes (each ends successfully). */
  successfulCalls: number;
  /** FailedCall(C). */
  failedCalls: number;
  /** Retransmissions(C). */
  retransmissions: number;
  /** Messages that arrived for calls already ended: DeadCallMsgs(C). */
  deadCallMessages: number;
  /** Every column of the last CSV line, by header name (e.g. "FailedUnexpectedMessage(C)"). */
  raw: Record<string, string>;
  /** A cumulative counter by base name: counter('FailedMaxUDPRetrans') reads "...(C)". */
  counter(name: string): number;
  /**
   * Message counts from -trace_counts, summed over scenario steps, keyed "<what>_<event>", e.g.
   * "INVITE_Recv", "CANCEL_Recv", "487_Sent", "BYE_Sent", "200_Recv", "INVITE_Retrans".
   */
  messages: Record<string, number>;
}

/** Split one sipp CSV line (';' separated; timestamps contain tabs, not ';'). */
function splitCsv(line: string): string[] {
  const cells = line.split(';');
  if (cells.length > 0 && cells[cells.length - 1] === '') cells.pop();
  return cells;
}

/** Header and last data line of a sipp CSV file, as a record; null if there is no data yet. */
export function lastCsvRecord(text: string): Record<string, string> | null {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length < 2) return null;
  const header = splitCsv(lines[0]);
  const values = splitCsv(lines[lines.length - 1]);
  const rec: Record<string, string> = {};
  header.forEach((h, i) => {
    rec[h] = values[i] ?? '';
  });
  return rec;
}

function toNumber(v: string | undefined): number {
  if (v === undefined || v === '') return 0;
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
}

/** Sum "-trace_counts" columns such as "3_CANCEL_Recv" into {"CANCEL_Recv": n}. */
export function sumMessageCounts(rec: Record<string, string> | null): Record<string, number> {
  const out: Record<string, number> = {};
  if (!rec) return out;
  for (const [key, value] of Object.entries(rec)) {
    // step 0 of a UAS scenario is the health probe's OPTIONS (see parseSippStats)
    if (key.startsWith('0_OPTIONS_')) continue;
    const m = /^\d+_(.+)$/.exec(key);
    if (!m) continue;
    out[m[1]] = (out[m[1]] ?? 0) + toNumber(value);
  }
  return out;
}

export function parseSippStats(statCsv: string, countsCsv = ''): SippStats {
  const raw = lastCsvRecord(statCsv) ?? {};
  const num = (k: string): number => toNumber(raw[k]);
  // every UAS scenario's first step catches an out-of-dialog OPTIONS (a health probe), answers it (or
  // not: silent) and ends that "call" at once: counted in IncomingCall, TotalCallCreated and SuccessfulCall
  // the instant it arrives, as 0_OPTIONS_Recv in the counts written with the same statistics
  const counts = lastCsvRecord(countsCsv);
  const probes = toNumber(counts?.['0_OPTIONS_Recv']);
  return {
    incomingCalls: Math.max(0, num('IncomingCall(C)') - probes),
    probes,
    outgoingCalls: num('OutgoingCall(C)'),
    totalCalls: Math.max(0, num('TotalCallCreated') - probes),
    currentCalls: num('CurrentCall'),
    successfulCalls: Math.max(0, num('SuccessfulCall(C)') - probes),
    failedCalls: num('FailedCall(C)'),
    retransmissions: num('Retransmissions(C)'),
    deadCallMessages: num('DeadCallMsgs(C)'),
    raw,
    counter: (name: string) => num(name.endsWith(')') ? name : `${name}(C)`),
    messages: sumMessageCounts(counts),
  };
}

// ---------------------------------------------------------------------------------------------
// Process plumbing
// ---------------------------------------------------------------------------------------------

export interface SippRun {
  child: ChildProcess;
  dir: string;
  exited: Promise<number | null>;
  output: () => string;
  stats: () => SippStats;
}

function readIfExists(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function findCountsFile(dir: string): string | undefined {
  const name = fs.readdirSync(dir).find((f) => f.endsWith('_counts.csv'));
  return name === undefined ? undefined : path.join(dir, name);
}

/**
 * sipp binds an RTP echo socket pair, <p> (audio) and <p + 2> (video), whether or not media flows.
 * Left to itself it tries 6000, 6002, … 6198 and then exits 254 ("Unable to bind audio RTP socket"),
 * which happens once about 50 sipp processes are up at once, as in a full two-worker `npm test`
 * (src/sipp.cpp setup_media_sockets). So each one gets its own -mp: from a range per jest worker,
 * below the kernel's ephemeral ports (32768-60999, where freeUdpPort's SIP ports come from), and
 * checked free first.
 */
const MEDIA_PORT_BASE = 20000;
const MEDIA_PORT_SPAN = 2000;
let mediaPortCursor = 0;

function udpPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    sock.once('error', () => {
      sock.close();
      resolve(false);
    });
    sock.bind({ address: LOOPBACK, port, exclusive: true }, () => sock.close(() => resolve(true)));
  });
}

export async function freeMediaPort(): Promise<number> {
  const worker = Number(process.env.JEST_WORKER_ID ?? '1');
  const base = MEDIA_PORT_BASE + ((worker - 1) % 6) * MEDIA_PORT_SPAN;
  for (let i = 0; i < MEDIA_PORT_SPAN / 4; i += 1) {
    const port = base + ((mediaPortCursor * 4) % MEDIA_PORT_SPAN);
    mediaPortCursor += 1;
    if ((await udpPortFree(port)) && (await udpPortFree(port + 2))) return port;
  }
  throw new Error('no free RTP port pair for sipp');
}

/** sipp's exit when another process took its RTP ports between our check and its bind: worth one more try. */
const lostMediaPort = (output: string): boolean => /Unable to bind (audio|video) RTP socket/.test(output);
/** sipp could not bind its SIP port: another process took it between freeUdpPort() and sipp's bind (a shared machine) */
const lostMainPort = (output: string): boolean => /Unable to bind main socket/.test(output);

/** Starts sipp on a copy of `scenarioFile` (a name in test/scenarios, or an absolute path) in a fresh directory. */
export function launchSipp(scenarioFile: string, args: string[], mediaPort: number, remote?: string): SippRun {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipp-'));
  const scenario = path.join(dir, path.basename(scenarioFile));
  fs.copyFileSync(path.isAbsolute(scenarioFile) ? scenarioFile : path.join(SCENARIO_DIR, scenarioFile), scenario);
  const statFile = path.join(dir, 'stat.csv');
  const fullArgs = [
    '-sf',
    scenario,
    '-i',
    LOOPBACK,
    '-mi',
    LOOPBACK,
    '-bind_local',
    '-nostdin',
    '-trace_stat',
    '-stf',
    statFile,
    '-fd',
    '1',
    '-trace_counts',
    '-trace_err',
    '-error_file',
    path.join(dir, 'errors.log'),
    '-mp',
    String(mediaPort),
    ...args,
  ];
  if (remote !== undefined) fullArgs.push(remote);
  const child = spawn(SIPP_BIN, fullArgs, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);
  let tail = '';
  const keep = (d: Buffer): void => {
    tail = (tail + d.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', (err) => reject(new Error(`cannot start ${SIPP_BIN}: ${err.message}`)));
    void exitOf(child).then(resolve);
  });
  return {
    child,
    dir,
    exited,
    output: () => `${tail}\n${readIfExists(path.join(dir, 'errors.log')).slice(-4000)}`,
    stats: () => {
      const counts = findCountsFile(dir);
      return parseSippStats(readIfExists(statFile), counts ? readIfExists(counts) : '');
    },
  };
}

export function removeDir(dir: string): void {
  if (process.env.KEEP_SIPP_FILES) return;
  fs.rmSync(dir, { recursive: true, force: true });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function raceTimeout<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * SIGUSR1 (graceful: no new calls, exit once the open calls have ended); after graceMs SIGTERM
 * (sipp 3.6.1 exits at once, still writing its last stats and counts lines; a second SIGUSR1
 * does not reliably end calls stuck waiting for an ACK); SIGKILL 3 s later as a last resort.
 */
export async function quitSipp(run: SippRun, graceMs: number): Promise<number | null> {
  const { child } = run;
  const done = run.exited.catch(() => null);
  if (child.exitCode !== null || child.signalCode !== null) return done;
  child.kill('SIGUSR1');
  if ((await raceTimeout(done, graceMs)) !== 'timeout') return done;
  child.kill('SIGTERM');
  if ((await raceTimeout(done, 3000)) !== 'timeout') return done;
  child.kill('SIGKILL');
  return done;
}

// ---------------------------------------------------------------------------------------------
// UAS back-ends
// ---------------------------------------------------------------------------------------------

export type UasBehaviour =
  | 'answer'
  | 'answer-then-bye'
  | 'answer-then-bye-plain'
  | 'unavailable-503'
  | 'unavailable-503-retry-after'
  | 'busy-486'
  | 'no-answer'
  | 'delayed-answer'
  | 'ringing-then-answer'
  | 'silent'
  | 'answer-check-headers'
  | 'ringing-then-answer-x-header'
  | 'answer-ignore-bye'
  | 'answer-offerless-check'
  | 'in-dialog'
  | 'answer-then-bye-any';

export const UAS_SCENARIOS: Record<UasBehaviour, string> = {
  answer: 'uas-answer.xml',
  'answer-then-bye': 'uas-answer-then-bye.xml',
  // no _unexp.main: a caller's BYE during the hold fails the call (npm run soak)
  'answer-then-bye-plain': 'uas-answer-then-bye-plain.xml',
  'unavailable-503': 'uas-503.xml',
  'unavailable-503-retry-after': 'uas-503-retry-after.xml',
  'busy-486': 'uas-486.xml',
  'no-answer': 'uas-no-answer.xml',
  'delayed-answer': 'uas-delayed-answer.xml',
  'ringing-then-answer': 'uas-180-200.xml',
  silent: 'uas-silent.xml',
  'answer-check-headers': 'uas-answer-check-headers.xml',
  'ringing-then-answer-x-header': 'uas-180-200-x-header.xml',
  'answer-ignore-bye': 'uas-answer-ignore-bye.xml',
  'answer-then-bye-any': 'uas-answer-then-bye-any.xml',
  // fails the call unless the INVITE has no offer and the ACK carries the raw client's answer
  'answer-offerless-check': 'uas-answer-offerless-check.xml',
  // checks the caller's relayed in-dialog requests and answers each distinctively (see the file)
  'in-dialog': 'uas-in-dialog.xml',
};

/** Default pause (ms) of the behaviours that have one (sipp -d). */
export const UAS_DEFAULT_DELAY_MS: Partial<Record<UasBehaviour, number>> = {
  'answer-then-bye': 1000,
  'answer-then-bye-plain': 1000,
  'answer-then-bye-any': 1000,
  'delayed-answer': 2000,
  'ringing-then-answer': 500,
  'ringing-then-answer-x-header': 500,
};

export interface StartUasOptions {
  /** answer-then-bye: hold before the BYE; delayed-answer / ringing-then-answer: delay before 200. */
  delayMs?: number;
  /** unavailable-503-retry-after: the Retry-After value in seconds (default 30). */
  retryAfter?: number;
  /** A fixed port (default: a free one). */
  port?: number;
  /** Log every message (sipp -trace_msg), for requestsReceived(). */
  traceMessages?: boolean;
  extraArgs?: string[];
}

/** A request a UAS received, from its -trace_msg log. */
export interface ReceivedRequest {
  /** epoch ms (sipp logs local time to the microsecond) */
  at: number;
  method: string;
  /** header values by lower-case name (the first of each) */
  headers: Record<string, string>;
}

/** The requests in a sipp -trace_msg log, in arrival order. */
export function parseReceivedRequests(log: string): ReceivedRequest[] {
  const out: ReceivedRequest[] = [];
  for (const block of log.split(/^-{20,} /m).slice(1)) {
    const m = /^(\d{4}-\d\d-\d\d)\s+(\d\d:\d\d:\d\d\.\d{3})\d*\n\w+ message received \[\d+\] bytes :\n\n([A-Z]+) /.exec(block);
    if (!m) continue;
    const headers: Record<string, string> = {};
    for (const line of block.split('\n').slice(4)) {
      const i = line.indexOf(':');
      if (line.trim() === '') break;
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] ??= line.slice(i + 1).trim();
    }
    out.push({ at: new Date(`${m[1]}T${m[2]}`).getTime(), method: m[3], headers });
  }
  return out;
}

export interface SippUas {
  host: string;
  port: number;
  behaviour: UasBehaviour;
  pid: number;
  /** The latest statistics line sipp wrote (it writes one a second, and one at exit). */
  stats(): Promise<SippStats>;
  /** Polls stats() until pred holds (or throws after timeoutMs). */
  waitForStats(pred: (s: SippStats) => boolean, timeoutMs?: number): Promise<SippStats>;
  /** Quits sipp (see quitSipp) and returns its final statistics. */
  stop(graceMs?: number): Promise<SippStats>;
  /** sipp's recent stdout/stderr and error log, for failure messages. */
  output(): string;
  /** With traceMessages: every request received so far, in order (e.g. the dispatcher's OPTIONS probes). */
  requestsReceived(): ReceivedRequest[];
}

export async function startUas(behaviour: UasBehaviour, opts: StartUasOptions = {}): Promise<SippUas> {
  const port = opts.port ?? (await freeUdpPort());
  const args = ['-p', String(port)];
  const delay = opts.delayMs ?? UAS_DEFAULT_DELAY_MS[behaviour];
  if (delay !== undefined) args.push('-d', String(delay));
  if (behaviour === 'unavailable-503-retry-after') args.push('-key', 'retry_after', String(opts.retryAfter ?? 30));
  if (opts.traceMessages) args.push('-trace_msg');
  args.push(...(opts.extraArgs ?? []));

  // sipp writes its first statistics line right after binding its sockets: that is "ready".
  let run: SippRun | undefined;
  for (let attempt = 1; !run; attempt += 1) {
    const started = launchSipp(UAS_SCENARIOS[behaviour], args, await freeMediaPort());
    const deadline = Date.now() + 10000;
    const early = started.exited.then(
      (code) => new Error(`sipp UAS (${behaviour}) exited early with ${String(code)}:\n${started.output()}`),
      (err: Error) => err,
    );
    for (;;) {
      if (Object.keys(started.stats().raw).length > 0) {
        run = started;
        break;
      }
      const res = await raceTimeout(early, 50);
      if (res !== 'timeout') {
        removeDir(started.dir);
        if (attempt < 3 && lostMediaPort(res.message)) break;
        throw res;
      }
      if (Date.now() > deadline) {
        await quitSipp(started, 0);
        removeDir(started.dir);
        throw new Error(`sipp UAS (${behaviour}) did not start:\n${started.output()}`);
      }
    }
  }

  let final: SippStats | undefined;
  const uas: SippUas = {
    host: LOOPBACK,
    port,
    behaviour,
    pid: run.child.pid ?? -1,
    stats: () => Promise.resolve(final ?? run.stats()),
    async waitForStats(pred, timeoutMs = 10000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const s = await uas.stats();
        if (pred(s)) return s;
        if (Date.now() > until) {
          throw new Error(`sipp UAS (${behaviour}) stats never matched; last: ${JSON.stringify(s.raw)}`);
        }
        await sleep(100);
      }
    },
    async stop(graceMs = 2000) {
      if (final) return final;
      await quitSipp(run, graceMs);
      final = run.stats();
      removeDir(run.dir);
      return final;
    },
    output: () => run.output(),
    requestsReceived() {
      if (!fs.existsSync(run.dir)) return [];
      const log = fs.readdirSync(run.dir).find((f) => f.endsWith('_messages.log'));
      return log === undefined ? [] : parseReceivedRequests(readIfExists(path.join(run.dir, log)));
    },
  };
  return uas;
}

// ---------------------------------------------------------------------------------------------
// UAC callers
// ---------------------------------------------------------------------------------------------

export type UacScenario =
  | 'call'
  | 'cancel-after-ringing'
  | 'reinvite'
  | 'callee-bye'
  | 'call-bye-any'
  | 'expect-status'
  | 'retransmit-invite'
  | 'update-info'
  | 'reinvite-sdp'
  | 'reinvite-offerless'
  | 'notify'
  | 'message'
  | 'options'
  | 'refer';

export const UAC_SCENARIOS: Record<UacScenario, string> = {
  call: 'uac-call.xml',
  'cancel-after-ringing': 'uac-cancel-after-ringing-expect-487.xml',
  reinvite: 'uac-reinvite.xml',
  'callee-bye': 'uac-callee-bye.xml',
  'call-bye-any': 'uac-call-bye-any.xml',
  'expect-status': 'uac-expect-status.xml',
  // The plain call scenario, sent through a relay that duplicates each INVITE datagram.
  'retransmit-invite': 'uac-call.xml',
  'update-info': 'uac-update-info.xml',
  // in-dialog requests after the answer, each checked against the 'in-dialog' UAS (see the files)
  'reinvite-sdp': 'uac-reinvite-sdp.xml',
  'reinvite-offerless': 'uac-reinvite-offerless.xml',
  notify: 'uac-notify.xml',
  message: 'uac-message.xml',
  options: 'uac-options.xml',
  refer: 'uac-refer.xml',
};

export interface RunUacOptions {
  target: { host: string; port: number };
  /** Number of calls (sipp -m), default 1. */
  calls?: number;
  /** Calls per second (sipp -r), default 10. */
  rate?: number;
  /** Max simultaneous calls (sipp -l). */
  concurrency?: number;
  /** Request-URI user part (sipp -s), default "service". */
  user?: string;
  /** Request-URI host part; default the target's ip:port. */
  domain?: string;
  /** expect-status: the final status the calls must get. */
  expectStatus?: number;
  /** How long a call stays up (call/reinvite: before BYE; cancel-after-ringing: before CANCEL). */
  holdMs?: number;
  /** Per-message receive timeout (sipp -recv_timeout), default 10 s. */
  timeoutMs?: number;
  /** Local port (default: a free one). */
  port?: number;
  /** Call-IDs `<prefix>-<n>@sipp.test` for calls n = 1, 2, … (sipp -cid_str); see uacCallId. */
  callIdPrefix?: string;
  extraArgs?: string[];
}

/** The Call-ID of the n-th call (from 1) of a runUac run with `callIdPrefix`. */
export function uacCallId(prefix: string, n: number): string {
  return `${prefix}-${n}@sipp.test`;
}

export interface UacResult {
  /** sipp's exit code: 0 all calls succeeded, 1 some failed, other values: sipp error. */
  exitCode: number;
  stats: SippStats;
  /** sipp's recent output and error log, for failure messages. */
  output: string;
  /** retransmit-invite only: how many INVITEs the relay sent a second time. */
  invitesDuplicated?: number;
}

/**
 * A loopback UDP relay between the UAC and its target that sends every INVITE it forwards
 * twice, 20 ms apart: the second copy is a byte-identical retransmission (same branch).
 * Datagrams from the target go back to the UAC.
 */
async function startDuplicatingRelay(target: { host: string; port: number }): Promise<{ port: number; duplicated(): number; stop(): Promise<void> }> {
  const sock = dgram.createSocket('udp4');
  let client: { address: string; port: number } | undefined;
  let duplicated = 0;
  sock.on('message', (msg, rinfo) => {
    if (rinfo.address === target.host && rinfo.port === target.port) {
      if (client) sock.send(msg, client.port, client.address);
      return;
    }
    client = { address: rinfo.address, port: rinfo.port };
    sock.send(msg, target.port, target.host);
    if (msg.subarray(0, 7).toString('latin1') === 'INVITE ') {
      setTimeout(() => {
        duplicated += 1;
        sock.send(msg, target.port, target.host);
      }, 20);
    }
  });
  await new Promise<void>((resolve) => sock.bind(0, LOOPBACK, resolve));
  return {
    port: sock.address().port,
    duplicated: () => duplicated,
    stop: () => new Promise<void>((resolve) => sock.close(() => resolve())),
  };
}

export async function runUac(scenario: UacScenario, opts: RunUacOptions): Promise<UacResult> {
  const calls = opts.calls ?? 1;
  const rate = opts.rate ?? 10;
  const port = opts.port ?? (await freeUdpPort());
  const user = opts.user ?? 'service';
  const domain = opts.domain ?? `${opts.target.host}:${opts.target.port}`;
  const recvTimeout = opts.timeoutMs ?? 10000;
  const args = [
    '-p',
    String(port),
    '-s',
    user,
    '-key',
    'ruri',
    `sip:${user}@${domain}`,
    '-m',
    String(calls),
    '-r',
    String(rate),
    '-recv_timeout',
    String(recvTimeout),
    '-d',
    String(opts.holdMs ?? (scenario === 'cancel-after-ringing' ? 200 : 500)),
  ];
  if (opts.concurrency !== undefined) args.push('-l', String(opts.concurrency));
  if (opts.callIdPrefix !== undefined) args.push('-cid_str', `${opts.callIdPrefix}-%u@sipp.test`);
  if (scenario === 'expect-status') {
    if (opts.expectStatus === undefined) throw new Error('runUac(expect-status) needs expectStatus');
    args.push('-set', 'expected', String(opts.expectStatus));
  }
  args.push(...(opts.extraArgs ?? []));

  const relay = scenario === 'retransmit-invite' ? await startDuplicatingRelay(opts.target) : undefined;
  const remote = relay ? `${LOOPBACK}:${relay.port}` : `${opts.target.host}:${opts.target.port}`;
  let run = launchSipp(UAC_SCENARIOS[scenario], args, await freeMediaPort(), remote);
  for (let attempt = 1; attempt < 3; attempt += 1) {
    // an exit before any call was placed, because its RTP ports were taken meanwhile: place them again
    if (
      (await raceTimeout(
        run.exited.catch(() => null),
        300,
      )) === 'timeout' ||
      run.stats().totalCalls > 0 ||
      !(lostMediaPort(run.output()) || (opts.port === undefined && lostMainPort(run.output())))
    )
      break;
    // its SIP port was taken meanwhile: a fresh one
    if (opts.port === undefined && lostMainPort(run.output())) args[1] = String(await freeUdpPort());
    removeDir(run.dir);
    run = launchSipp(UAC_SCENARIOS[scenario], args, await freeMediaPort(), remote);
  }

  // Watchdog: the time to place all calls, plus a generous per-call allowance.
  const budgetMs = (calls / rate) * 1000 + recvTimeout * 3 + (opts.holdMs ?? 500) + 30000;
  try {
    let code = await raceTimeout(run.exited, budgetMs);
    if (code === 'timeout') code = await quitSipp(run, 2000);
    // sipp may exit a moment before the last stats line is flushed; it is written before exit.
    const stats = run.stats();
    const result: UacResult = { exitCode: code ?? -1, stats, output: run.output() };
    if (relay) result.invitesDuplicated = relay.duplicated();
    return result;
  } finally {
    await relay?.stop();
    removeDir(run.dir);
  }
}
