/**
 * Starts a drachtio server for end-to-end tests: the in-repo emulator (test/emulator/main.ts,
 * spawned through tsx) or, when DRACHTIO_BIN points to one, a real drachtio-server binary with
 * equivalent command-line options (drachtio-server src/controller.cpp parseCmdArgs / usage())
 * plus a minimal generated config file, which drachtio always requires (src/drachtio-config.cpp).
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { killChild, trackChild } from './app';

export interface DrachtioServer {
  kind: 'emulator' | 'real';
  host: string;
  adminPort: number;
  sipAddress: string;
  sipPort: number;
  secret: string;
  stop(): Promise<void>;
  /**
   * Stops the server (`signal`, default SIGTERM; SIGKILL for a crash) and starts it again on the same
   * admin and SIP ports, with the same options: everything it held in memory (dialogs, transactions,
   * connections) is gone, as after a real restart. Resolves once the admin port accepts connections.
   */
  restart(opts?: { signal?: 'SIGTERM' | 'SIGKILL'; downMs?: number }): Promise<void>;
  /** captured stdout+stderr of the server process (last 200k chars, across restarts), for debugging failures */
  logs?(): string;
}

export interface StartDrachtioOptions {
  secret?: string;
  /** RFC 3261 T1 in ms (emulator: every timer scales from it; real binary: sip/timers in its config) */
  t1?: number;
  /** log level passed to the server (default info) */
  loglevel?: 'error' | 'warn' | 'info' | 'debug';
  /**
   * Outbound connection mode: http(s) URL of a request handler the server queries for each new
   * request of `requestHandlerSipMethod`; it answers e.g. `{"action":"route","data":{"uri":"127.0.0.1:<port>"}}`
   * and the server connects to an app doing `srf.listen({port, secret})`. Real binary: a
   * `<request-handlers><request-handler sip-method=".." http-method="..">url</request-handler>` config
   * section (src/drachtio-config.cpp); emulator: `--request-handler url` and its companions.
   */
  requestHandler?: string;
  /** SIP method routed by the request handler (default INVITE; `*` for every method) */
  requestHandlerSipMethod?: string;
  /** HTTP method of the query (default GET; POST carries the SIP message as the body) */
  requestHandlerHttpMethod?: 'GET' | 'POST';
}

const HOST = '127.0.0.1';
const REPO_ROOT = path.resolve(__dirname, '..', '..');
const MAX_LOG_CHARS = 200_000;

/** A free TCP port on the loopback interface. */
export function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** A free UDP port on the loopback interface, verified by binding it. */
export function freeUdpPort(exclude: number[] = []): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4');
    sock.once('error', reject);
    sock.bind(0, HOST, () => {
      const port = sock.address().port;
      sock.close(() => {
        if (exclude.includes(port)) freeUdpPort(exclude).then(resolve, reject);
        else resolve(port);
      });
    });
  });
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: HOST, port });
    const done = (ok: boolean) => {
      s.removeAllListeners();
      s.destroy();
      resolve(ok);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(500, () => done(false));
  });
}

export async function startDrachtio(opts: StartDrachtioOptions = {}): Promise<DrachtioServer> {
  // the ports are probed free but only taken by the child: retry on a (rare) race for them
  let lastErr: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      lastErr = err as Error;
      if (!/EADDRINUSE|address already in use|exited during startup/i.test(lastErr.message)) throw lastErr;
    }
  }
  throw lastErr ?? new Error('drachtio failed to start');
}

async function startOnce(opts: StartDrachtioOptions): Promise<DrachtioServer> {
  const adminPort = await freeTcpPort();
  const sipPort = await freeUdpPort([adminPort]);
  const kind: DrachtioServer['kind'] = process.env.DRACHTIO_BIN ? 'real' : 'emulator';
  let output = '';
  const capture = (b: Buffer | string) => {
    output += b.toString();
    if (output.length > MAX_LOG_CHARS) output = output.slice(-MAX_LOG_CHARS);
  };
  let running = await launch(opts, adminPort, sipPort, capture, () => output);
  let stopped = false;

  return {
    kind,
    host: HOST,
    adminPort,
    sipAddress: HOST,
    sipPort,
    secret: opts.secret ?? 'cymru',
    stop: async () => {
      stopped = true;
      await running.kill('SIGTERM');
    },
    restart: async ({ signal = 'SIGTERM', downMs = 0 } = {}) => {
      if (stopped) throw new Error('drachtio was stopped; it cannot be restarted');
      await running.kill(signal);
      capture(`\n----- drachtio restarted (${signal}) on admin ${String(adminPort)}, sip ${String(sipPort)} -----\n`);
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      // the same ports: another process may take one meanwhile only by chance; the admin port may still
      // be held for a moment by the old socket (a retry settles it)
      let lastErr: Error | undefined;
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          running = await launch(opts, adminPort, sipPort, capture, () => output);
          return;
        } catch (err) {
          lastErr = err as Error;
          if (!/EADDRINUSE|address already in use|exited during startup/i.test(lastErr.message)) throw lastErr;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      throw lastErr ?? new Error('drachtio failed to restart');
    },
    logs: () => output,
  };
}

interface Running {
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** Starts one drachtio process on the given ports; resolves once its admin port accepts connections. */
async function launch(
  opts: StartDrachtioOptions,
  adminPort: number,
  sipPort: number,
  capture: (b: Buffer | string) => void,
  output: () => string,
): Promise<Running> {
  const secret = opts.secret ?? 'cymru';
  const loglevel = opts.loglevel ?? 'info';
  const bin = process.env.DRACHTIO_BIN;
  const handlerSipMethod = (opts.requestHandlerSipMethod ?? 'INVITE').toUpperCase();
  const handlerHttpMethod = opts.requestHandlerHttpMethod ?? 'GET';
  const kind: DrachtioServer['kind'] = bin ? 'real' : 'emulator';

  let command: string;
  let args: string[];
  let configDir: string | undefined;
  if (bin) {
    // drachtio always reads a config file (DrachtioController ctor exits when DrachtioConfig is
    // invalid, e.g. missing) - write a minimal one; the command-line options override it.
    configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'drachtio-'));
    const configFile = path.join(configDir, 'drachtio.conf.xml');
    const t1 = opts.t1;
    const timers = t1 ? `<timers><t1>${t1}</t1><t2>${8 * t1}</t2><t4>${10 * t1}</t4><t1x64>${64 * t1}</t1x64></timers>` : '';
    const handlers = opts.requestHandler
      ? `  <request-handlers><request-handler sip-method="${xmlEscape(handlerSipMethod)}" http-method="${handlerHttpMethod}">` +
        `${xmlEscape(opts.requestHandler)}</request-handler></request-handlers>\n`
      : '';
    fs.writeFileSync(
      configFile,
      `<drachtio>\n  <admin port="${adminPort}" secret="${secret}">${HOST}</admin>\n` +
        `  <sip><contacts><contact>sip:${HOST}:${sipPort};transport=udp</contact></contacts>${timers}</sip>\n` +
        handlers +
        `  <logging><console/><loglevel>${loglevel === 'warn' ? 'warning' : loglevel}</loglevel></logging>\n</drachtio>\n`,
    );
    command = bin;
    args = [
      '-f',
      configFile,
      '--contact',
      `sip:${HOST}:${sipPort};transport=udp`,
      '--address',
      HOST,
      '--port',
      String(adminPort),
      '--secret',
      secret,
      '--stdout',
      '--loglevel',
      loglevel === 'warn' ? 'warning' : loglevel,
    ];
  } else {
    command = path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
    args = [
      path.join(REPO_ROOT, 'test', 'emulator', 'main.ts'),
      '--address',
      HOST,
      '--port',
      String(adminPort),
      '--sip-address',
      HOST,
      '--sip-port',
      String(sipPort),
      '--secret',
      secret,
      '--loglevel',
      loglevel,
      // the emulator exits by itself if this (jest) process dies without cleaning up
      '--parent-pid',
      String(process.pid),
    ];
    if (opts.t1) args.push('--t1', String(opts.t1));
    if (opts.requestHandler) {
      args.push('--request-handler', opts.requestHandler, '--request-handler-sip-method', handlerSipMethod, '--request-handler-http-method', handlerHttpMethod);
    }
  }

  const child = spawn(command, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  trackChild(child, true); // killed with its process group (node under tsx) when jest exits
  child.stdout?.on('data', capture);
  child.stderr?.on('data', capture);

  const lastLines = (n = 40) => output().split('\n').slice(-n).join('\n');
  const removeConfig = () => {
    if (configDir) fs.rmSync(configDir, { recursive: true, force: true });
  };
  const kill = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) await killChild(child, signal, 3000);
    removeConfig();
  };

  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      removeConfig();
      throw new Error(`drachtio (${kind}) exited during startup (code ${child.exitCode}):\n${lastLines()}`);
    }
    if (await canConnect(adminPort)) break;
    if (Date.now() > deadline) {
      await kill('SIGTERM');
      throw new Error(`drachtio (${kind}) admin port ${adminPort} not accepting connections after 20s:\n${lastLines()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { kill };
}
