/**
 * Command-line parsing for the operator CLI (node:util parseArgs) and its help texts. Pure: argv in,
 * a parsed command (or a CliError with exit 64 and the usage) out.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CliError, EXIT } from './exit';

type Options = NonNullable<ParseArgsConfig['options']>;

export const BIN = 'sip-dispatcher';

/** Default for --wait: long enough for a survivor to adopt a dead owner's calls (instanceTtlMs + a heartbeat or two). */
export const DEFAULT_WAIT_S = 15;
export const DEFAULT_EVENT_COUNT = 20;
/** Default for reload --wait: a reload that adds DNS names waits up to dns.startWaitMs (3 s by default) for them. */
export const DEFAULT_RELOAD_WAIT_S = 10;

const GLOBAL_OPTIONS: Options = {
  config: { type: 'string', short: 'c' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
};

const COMMAND_OPTIONS = {
  status: { json: { type: 'boolean' } },
  calls: { json: { type: 'boolean' }, instance: { type: 'string' }, target: { type: 'string' } },
  hangup: { wait: { type: 'string' }, all: { type: 'boolean' } },
  events: { json: { type: 'boolean' }, follow: { type: 'boolean', short: 'f' }, count: { type: 'string', short: 'n' } },
  'drain-target': {},
  'undrain-target': {},
  reload: { instance: { type: 'string' }, wait: { type: 'string' }, json: { type: 'boolean' } },
  help: {},
} satisfies Record<string, Options>;

export type CommandName = keyof typeof COMMAND_OPTIONS;

const COMMON = `  -c, --config <file>  config file, the server's (default: $SIPD_CONFIG, else config/default.yaml)`;

export const HELP: Record<CommandName, string> = {
  status: `usage: ${BIN} status [--json]

Instances (alive or dead, host, pid, version, drachtio-servers, calls held, calls owned in Redis,
start time, draining), per-target counters (active, attempts, answered, canceled, failed by cause)
and the cluster totals.

  --json               one JSON document: {instances, targets, totals}
${COMMON}`,
  calls: `usage: ${BIN} calls [--instance <id>] [--target <id>] [--json]

Live (answered) calls, oldest first, from the call records of every instance's call set.

  --instance <id>      only calls owned by this instance
  --target <id>        only calls to this target (e.g. udp:10.0.0.1:5060)
  --json               one JSON array, each call's whole record with durationMs and adoptedFrom
${COMMON}`,
  hangup: `usage: ${BIN} hangup <Call-ID or call key> [--wait <seconds>] [--all]

Asks the instance that owns the call to end it (BYE on both legs) and waits until its record is
gone. A call key is "<Call-ID>;<From tag>" (as in \`calls\`); a Call-ID that matches several calls
needs the key, or --all. If the owner is dead and no survivor has adopted its calls yet, the
request is sent again to whichever instance owns the record, until --wait runs out.

  --wait <seconds>     how long to wait for the record to go (default ${DEFAULT_WAIT_S})
  --all                hang up every call with this Call-ID
${COMMON}

exit: 0 hung up, 1 no such call, 2 still up when --wait ran out, 64 ambiguous Call-ID`,
  events: `usage: ${BIN} events [--count <n>] [--follow] [--json]

The event stream (answered, attempt, ended, adopted, released): the last <n> events, oldest first,
one line each: time (UTC, from the stream id), type, fields.

  -n, --count <n>      how many past events (default ${DEFAULT_EVENT_COUNT}; 0 = none)
  -f, --follow         then keep printing new events as they come (XREAD BLOCK), until interrupted
  --json               one JSON object per line: {id, time, type, fields}
${COMMON}`,
  'drain-target': `usage: ${BIN} drain-target <target-id>

Takes a target out of selection for every instance until undrain-target: no new INVITE goes to it,
calls in progress are not touched, probes do not bring it back. A target id is
"<transport>:<host>:<port>", as in \`status\` (e.g. udp:10.0.0.1:5060).

${COMMON}`,
  'undrain-target': `usage: ${BIN} undrain-target <target-id>

Puts a drained target back in selection, for every instance.

${COMMON}`,
  reload: `usage: ${BIN} reload [--instance <id>] [--wait <seconds>] [--json]

Asks every live instance (or one) to re-read its config file, and reports each one's answer:
reloaded (which sections were applied, which need a restart) or refused (the errors; the running
config keeps serving).

  --instance <id>      only this instance
  --wait <seconds>     how long to wait for the answers (default ${DEFAULT_RELOAD_WAIT_S})
  --json               one JSON array, one object per instance
${COMMON}

exit: 0 every instance reloaded, 1 no such live instance, 2 an instance did not answer in time,
3 an instance refused the new config`,
  help: `usage: ${BIN} help [command]`,
};

export const USAGE = `usage: ${BIN} [--config <file>] <command> [options]
       ${BIN} [serve] [--config <file>]

With no command, or \`serve\`, runs the dispatcher server. The operator commands read the
server's config file for Redis (address, password, TLS, key prefix).

commands:
  serve                run the server (the default when no command is given)
  status               instances, per-target counters, cluster totals
  calls                live calls (filter with --instance, --target)
  hangup <call>        end a call through the instance that owns it
  events               recent events; --follow for new ones
  drain-target <id>    no new calls to a target, cluster-wide (undrain-target <id> ends it)
  reload               make the instances re-read their config file
  help [command]       this text, or a command's

options:
${COMMON}
  -h, --help           help (after a command: that command's)
  -v, --version        print the version

exit codes: 0 ok, 1 call (or instance) not found, 2 hangup or reload timed out, 3 reload refused, 64 usage error, 69 Redis unavailable,
70 internal error, 78 bad config`;

interface Common {
  /** --config, when given */
  config?: string;
}

export type Parsed =
  | { kind: 'help'; text: string }
  | { kind: 'version' }
  | (Common & { kind: 'status'; json: boolean })
  | (Common & { kind: 'calls'; json: boolean; instance?: string; target?: string })
  | (Common & { kind: 'hangup'; call: string; waitMs: number; all: boolean })
  | (Common & { kind: 'events'; json: boolean; follow: boolean; count: number })
  | (Common & { kind: 'drain-target' | 'undrain-target'; target: string })
  | (Common & { kind: 'reload'; json: boolean; instance?: string; waitMs: number });

/** A target id as lib/sip/uri.ts targetId() builds it: `udp:10.0.0.1:5060`, `tls:[2001:db8::1]:5061`. */
const TARGET_ID_RE = /^(udp|tcp|tls):(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):\d{1,5}$/;

function usageError(message: string, usage: string): CliError {
  return new CliError(`${BIN}: ${message}\n\n${usage}`, EXIT.USAGE);
}

function isCommand(name: string): name is CommandName {
  return Object.hasOwn(COMMAND_OPTIONS, name);
}

const ALL_OPTIONS: Options = Object.assign({}, GLOBAL_OPTIONS, ...Object.values(COMMAND_OPTIONS)) as Options;

function parseCount(text: string | undefined, usage: string): number {
  if (text === undefined) return DEFAULT_EVENT_COUNT;
  if (!/^\d+$/.test(text) || Number(text) > 100000) throw usageError(`--count: found "${text}", expected a whole number 0-100000`, usage);
  return Number(text);
}

function parseWait(text: string | undefined, usage: string, defaultS = DEFAULT_WAIT_S): number {
  if (text === undefined) return defaultS * 1000;
  const s = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || s <= 0 || s > 3600) throw usageError(`--wait: found "${text}", expected seconds, more than 0 and at most 3600`, usage);
  return Math.round(s * 1000);
}

/** Parses argv (without node and the script). Throws CliError (exit 64) with the usage on any mistake. */
export function parseCommandLine(argv: readonly string[]): Parsed {
  // first pass, lenient: only to find the command (the first positional)
  const loose = parseArgs({ args: [...argv], options: ALL_OPTIONS, strict: false, allowPositionals: true });
  const name = loose.positionals[0];
  if (name === undefined) {
    if (loose.values.version === true) return { kind: 'version' };
    if (loose.values.help === true) return { kind: 'help', text: USAGE };
    throw usageError('no command given', USAGE);
  }
  if (!isCommand(name)) throw usageError(`unknown command "${name}"`, USAGE);
  const usage = HELP[name];

  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options: { ...GLOBAL_OPTIONS, ...COMMAND_OPTIONS[name] }, strict: true, allowPositionals: true });
  } catch (err) {
    // ERR_PARSE_ARGS_UNKNOWN_OPTION, ERR_PARSE_ARGS_INVALID_OPTION_VALUE: node's message names the option
    throw usageError((err as Error).message, usage);
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  const args = parsed.positionals.slice(1);
  if (v.version === true) return { kind: 'version' };
  if (v.help === true) return { kind: 'help', text: usage };
  const config = v.config as string | undefined;
  const str = (k: string): string | undefined => v[k] as string | undefined;
  const expectArgs = (n: number, what: string): void => {
    if (args.length < n) throw usageError(`${name}: missing ${what}`, usage);
    if (args.length > n) throw usageError(`${name}: unexpected argument "${args[n]}"`, usage);
  };

  switch (name) {
    case 'help': {
      if (args.length > 1) throw usageError(`help: unexpected argument "${args[1]}"`, HELP.help);
      const topic = args[0];
      if (topic === undefined) return { kind: 'help', text: USAGE };
      if (!isCommand(topic)) throw usageError(`help: unknown command "${topic}"`, USAGE);
      return { kind: 'help', text: HELP[topic] };
    }
    case 'status':
      expectArgs(0, '');
      return { kind: 'status', config, json: v.json === true };
    case 'calls':
      expectArgs(0, '');
      return { kind: 'calls', config, json: v.json === true, instance: str('instance'), target: str('target') };
    case 'hangup':
      expectArgs(1, 'the Call-ID or call key');
      return { kind: 'hangup', config, call: args[0], waitMs: parseWait(str('wait'), usage), all: v.all === true };
    case 'events':
      expectArgs(0, '');
      return { kind: 'events', config, json: v.json === true, follow: v.follow === true, count: parseCount(str('count'), usage) };
    case 'drain-target':
    case 'undrain-target':
      expectArgs(1, 'the target id');
      if (!TARGET_ID_RE.test(args[0])) throw usageError(`${name}: found "${args[0]}", expected a target id such as udp:10.0.0.1:5060`, usage);
      return { kind: name, config, target: args[0] };
    case 'reload':
      expectArgs(0, '');
      return { kind: 'reload', config, json: v.json === true, instance: str('instance'), waitMs: parseWait(str('wait'), usage, DEFAULT_RELOAD_WAIT_S) };
  }
}

/**
 * Which program a \`sip-dispatcher\` command line runs (bin/sip-dispatcher.js): the server when there is
 * no command (and no --help/--version) or the command is \`serve\` (then \`argv\` is the server's, without
 * \`serve\`); otherwise the operator CLI, with the command line as given.
 */
export function programFor(argv: readonly string[]): { program: 'server' | 'cli'; argv: string[] } {
  const { values, tokens } = parseArgs({ args: [...argv], options: ALL_OPTIONS, strict: false, allowPositionals: true, tokens: true });
  const first = tokens.find((t) => t.kind === 'positional');
  if (first === undefined) {
    const cli = values.help === true || values.version === true;
    return { program: cli ? 'cli' : 'server', argv: [...argv] };
  }
  if (first.value !== 'serve') return { program: 'cli', argv: [...argv] };
  return { program: 'server', argv: argv.filter((_, i) => i !== first.index) };
}
