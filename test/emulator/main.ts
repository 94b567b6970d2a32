/**
 * CLI entry of the drachtio-server emulator:
 *   npx tsx test/emulator/main.ts --port <adminTcpPort> --sip-address 127.0.0.1 --sip-port <udpPort> \
 *       --secret <secret> [--address 127.0.0.1] [--loglevel info|debug] [--t1 500] [--parent-pid <pid>]
 * Also accepts drachtio-style `--contact "sip:ADDR:PORT;transport=udp"`. Logs go to stderr.
 * Outbound connection mode (HTTP request handler for new requests):
 *   --request-handler <url> [--request-handler-sip-method <METHOD|*>] [--request-handler-http-method GET|POST]
 *     (one `<request-handler sip-method=.. http-method=..>url</request-handler>`; defaults `*` / GET, as drachtio-config.cpp)
 *   --http-handler <url> [--http-method GET|POST]   (drachtio's own flags: a handler for every method, `*`)
 */
import { startEmulator, type EmulatorOptions } from './emulator';
import type { RequestHandlerConfig } from './request-handler';
import type { LogLevel } from './util';

function usage(): never {
  process.stderr.write(
    'usage: main.ts --port <adminTcpPort> --sip-address <addr> --sip-port <udpPort> --secret <secret> [--address <adminAddr>] [--loglevel error|warn|info|debug] [--t1 <ms>]\n' +
      '         [--request-handler <url> [--request-handler-sip-method <METHOD|*>] [--request-handler-http-method GET|POST]] [--http-handler <url> [--http-method GET|POST]]\n',
  );
  process.exit(2);
}

let parentPid: number | undefined;

function httpMethodArg(v: string): 'GET' | 'POST' {
  // controller.cpp parseCmdArgs: POST when it says so (case-insensitive), GET otherwise
  return v.toUpperCase() === 'POST' ? 'POST' : 'GET';
}

function parseArgs(argv: string[]): EmulatorOptions {
  const opts: EmulatorOptions = { secret: 'cymru', adminPort: 9022, sipAddress: '127.0.0.1', sipPort: 5060 };
  let handler: RequestHandlerConfig | undefined;
  let httpHandler: RequestHandlerConfig | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) usage();
      return v;
    };
    switch (a) {
      case '--port':
      case '-p':
        opts.adminPort = parseInt(next(), 10);
        break;
      case '--address':
        opts.adminAddress = next();
        break;
      case '--sip-address':
        opts.sipAddress = next();
        break;
      case '--sip-port':
        opts.sipPort = parseInt(next(), 10);
        break;
      case '--contact':
      case '-c': {
        const m = /^sip:([^:;]+)(?::(\d+))?/.exec(next());
        if (!m) usage();
        opts.sipAddress = m[1];
        opts.sipPort = m[2] ? parseInt(m[2], 10) : 5060;
        break;
      }
      case '--secret':
        opts.secret = next();
        break;
      case '--loglevel':
      case '-l':
        opts.loglevel = next() as LogLevel;
        break;
      case '--t1':
        opts.t1 = parseInt(next(), 10);
        break;
      case '--request-handler':
        handler = { sipMethod: handler?.sipMethod ?? '*', httpMethod: handler?.httpMethod ?? 'GET', url: next() };
        break;
      case '--request-handler-sip-method':
        handler = { sipMethod: next(), httpMethod: handler?.httpMethod ?? 'GET', url: handler?.url ?? '' };
        break;
      case '--request-handler-http-method':
        handler = { sipMethod: handler?.sipMethod ?? '*', httpMethod: httpMethodArg(next()), url: handler?.url ?? '' };
        break;
      case '--http-handler':
      case '-a':
        httpHandler = { sipMethod: '*', httpMethod: httpHandler?.httpMethod ?? 'GET', url: next() };
        break;
      case '--http-method':
      case '-m':
        httpHandler = { sipMethod: '*', httpMethod: httpMethodArg(next()), url: httpHandler?.url ?? '' };
        break;
      case '--parent-pid':
        parentPid = parseInt(next(), 10);
        break;
      case '--stdout':
        break; // accepted for drachtio CLI compatibility; we always log to stderr
      case '--help':
      case '-h':
        usage();
        break;
      default:
        process.stderr.write(`unknown option ${a}\n`);
        usage();
    }
  }
  if (handler && !handler.url) usage();
  // the command-line handler replaces the configured ones (DrachtioController::installConfig)
  const handlers = httpHandler?.url ? [httpHandler] : handler ? [handler] : [];
  if (handlers.length) opts.requestHandlers = handlers;
  return opts;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const handle = await startEmulator(opts);
  process.stderr.write(`drachtio emulator ready: admin tcp/${handle.adminPort}, sip udp/${handle.sipAddress}:${handle.sipPort}\n`);
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`drachtio emulator: received ${sig}, shutting down\n`);
    const force = setTimeout(() => process.exit(0), 2000);
    force.unref();
    handle.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  if (parentPid) {
    const pid = parentPid;
    const watch = setInterval(() => {
      try {
        process.kill(pid, 0);
      } catch {
        clearInterval(watch);
        stop(`exit of parent process ${pid}`);
      }
    }, 1000);
    watch.unref();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`drachtio emulator failed to start: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
