import { z } from 'zod';
import { isValidCidr } from '../routing/cidr';
import { targetId, USER_PARAMETERS_POLICIES } from '../sip/uri';
import { DEFAULT_SCANNER_USER_AGENTS } from '../security/scanners';

/**
 * The configuration schema and every default, in one place.
 * README.md "Configuration reference" documents each field; keep the two in step.
 */
export const DEFAULTS = {
  drachtioPort: 9022,
  drachtioSecret: 'cymru',
  redisUrl: 'redis://127.0.0.1:6379',
  redisKeyPrefix: 'sipd:',
  redisCommandTimeoutMs: 1000,
  redisConnectTimeoutMs: 2000,
  /** the call path's record and counter writes are gathered this long into one socket write (lib/store/write-batch.ts) */
  redisBatchMs: 20,
  logLevel: 'info',
  /** stdout log lines gathered before one write (lib/logger.ts); 0 = a write per line */
  logBufferBytes: 4096,
  provisionalTimeoutMs: 2000,
  /** failovers allowed as a share of new calls over 10 s, and at least this many a second (lib/call/failover-budget.ts) */
  failoverBudgetPercent: 20,
  failoverBudgetMinPerS: 10,
  maxAttempts: 5,
  failoverOn: [408, 500, 502, 503, 504],
  noRouteStatus: 404,
  allFailedStatus: 503,
  retryAfterSeconds: 30,
  drainTimeoutMs: 20000,
  /** cluster: how often an instance refreshes its registry key, and how long the key lives */
  heartbeatMs: 1000,
  instanceTtlMs: 5000,
  /** cluster: how often drachtio-server is asked whether each leg of an adopted call still exists */
  watchIntervalMs: 1000,
  /** cluster: how often each peer of an adopted call also gets an in-dialog OPTIONS (0 = never) */
  optionsIntervalMs: 30000,
  /** cluster: approximate length the event stream is capped at */
  streamMaxLen: 10000,
  /** from SIGTERM to exit, whatever is in flight: under a 30 s container kill grace */
  shutdownTimeoutMs: 25000,
  /** a target ringing this long without a final answer is cancelled and the caller gets 480 */
  ringTimeoutS: 120,
  /** an answered call is ended with BYE on both legs after this long (4 h) */
  maxDurationS: 14400,
  reconnectMaxDelayMs: 5000,
  /** health: consecutive failures on real calls that mark a target down (0 = off) */
  healthPassiveFailures: 3,
  /** health: how long a target marked down stays out of selection */
  healthDownS: 30,
  /** health: below this share of a route's targets usable, its down targets are tried as well (panic mode) */
  healthPanicBelowPercent: 50,
  /** health: the longest quarantine a 503's Retry-After can ask for */
  healthMaxQuarantineS: 3600,
  /** health: how often each instance reads the target states from Redis */
  healthRefreshMs: 1000,
  /** overload: calls being set up at once per instance before new ones get 503 (0 = no limit) */
  overloadMaxSettingUp: 100,
  /** overload: new calls per second per instance (0 = no limit) */
  overloadMaxCps: 0,
  /** overload: p99 event-loop delay in ms over a sample window above which new calls get 503 (0 = off) */
  overloadMaxEventLoopDelayMs: 300,
  overloadSampleMs: 500,
  overloadRetryAfterS: 5,
  /** security: new calls a second from one source address before it is blocked (0 = no limit) */
  securitySourceMaxCps: 0,
  /** security: how long a blocked source stays blocked */
  securityBlockS: 300,
  /** security: how often each instance reads the block list from Redis */
  securityRefreshMs: 1000,
  /** health.probe: SIP OPTIONS to every target, one instance per target at a time (lib/cluster/prober.ts) */
  probeEnabled: true,
  probeIntervalMs: 5000,
  probeTimeoutMs: 2000,
  /** probe failures in a row that mark a target down; alive probes in a row that bring it back */
  probeDownAfter: 3,
  probeUpAfter: 2,
  /** final responses to a probe that count as a failure (any other final response is alive) */
  probeDeadStatuses: [408, 503],
  /** dns: the shortest and longest time an answer is kept, whatever its TTL says */
  dnsMinTtlS: 5,
  dnsMaxTtlS: 300,
  /** dns: how long one query waits for an answer, per try (2 tries per server) */
  dnsTimeoutMs: 2000,
  /** dns: how long start-up waits for the first answers before taking calls */
  dnsStartWaitMs: 3000,
  targetPort: 5060,
  targetTransport: 'udp',
  targetPriority: 10,
  targetWeight: 1,
  parallelCount: 2,
  /** user parameters (`;npdi;rn=…`) in the forwarded Request-URI: see UserParametersPolicy in lib/sip/uri.ts */
  userParameters: 'forward',
  /** headers copied from the caller's INVITE to the INVITE sent to the target */
  requestHeaders: [
    'P-Asserted-Identity',
    'P-Preferred-Identity',
    'Privacy',
    'Diversion',
    'History-Info',
    'Remote-Party-ID',
    'User-Agent',
    'Subject',
    'Accept',
    'Allow',
    'Supported',
    'X-*',
  ],
  /** headers copied from the target's responses back to the caller */
  responseHeaders: ['P-Asserted-Identity', 'Privacy', 'Remote-Party-ID', 'Server', 'Allow', 'Supported', 'X-*'],
  /** headers copied on in-dialog requests (re-INVITE, UPDATE, INFO, …) in both directions */
  inDialogHeaders: [
    'Content-Type',
    'Event',
    'Subscription-State',
    'Refer-To',
    'Referred-By',
    'Replaces',
    'Info-Package',
    'Recv-Info',
    'Reason',
    'P-Asserted-Identity',
    'X-*',
  ],
} as const;

const port = z.number().int().min(1).max(65535);
const sipStatus = z.number().int().min(300).max(699);
const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'a SIP header name (token characters, optionally ending in *)');

const domainPattern = z
  .string()
  .min(1)
  .regex(
    /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$|^\[?[0-9a-fA-F:.]+\]?$/,
    'a domain (example.com), a wildcard (*.example.com) or an IP address',
  );

const userParameters = z.enum(USER_PARAMETERS_POLICIES);

const cidr = z.string().refine(isValidCidr, { message: 'an IPv4/IPv6 address or CIDR block such as 10.0.0.0/8' });

/** A DNS SRV name as a target: `_sip._udp.`, `_sip._tcp.` or `_sips._tcp.` then the domain; the transport comes from it. */
export const SRV_NAME = /^_sips?\._(udp|tcp)\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/i;

/** A target with a fixed host (an IP address, or a name resolved to its A/AAAA records): port, transport, priority, weight as configured. */
export interface HostTargetConfig {
  host: string;
  port: number;
  transport: 'udp' | 'tcp' | 'tls';
  priority: number;
  weight: number;
}

/** A target given by a DNS SRV name: port, priority and weight come from its records (RFC 2782), the transport from the name. */
export interface SrvTargetConfig {
  srv: string;
}

/** Per target, whatever its kind: probing and capacity (for an SRV or host name, each address it expands to gets them). */
export interface TargetExtras {
  /** false: never probed (health.probe); a passive down then lasts health.downS. Unset = probed */
  probe?: boolean;
  /** capacity: most concurrent calls (being set up or answered) at this target, cluster-wide; absent = no limit (lib/cluster/capacity.ts) */
  maxCalls?: number;
  /** capacity: most new INVITEs per second (any sliding second) to this target, cluster-wide; absent = no limit */
  maxCps?: number;
}

export type TargetConfig = (HostTargetConfig | SrvTargetConfig) & TargetExtras;

const SRV_FIXED_FIELDS = ['port', 'transport', 'priority', 'weight'] as const;

export const targetSchema = z
  .strictObject({
    host: z
      .string()
      .min(1)
      .regex(/^[^\s;:@]+$|^\[[0-9a-fA-F:.]+\]$|^[0-9a-fA-F:]+$/, 'a host name or IP address (no port, no scheme)')
      .refine((h) => !h.startsWith('_'), 'a host name or IP address (for a DNS SRV name, write it as "srv:")')
      .optional(),
    /** a DNS SRV name, e.g. `_sip._udp.pool.example.com` */
    srv: z.string().regex(SRV_NAME, 'an SRV name "_sip._udp.<domain>", "_sip._tcp.<domain>" or "_sips._tcp.<domain>"').optional(),
    port: port.optional(),
    transport: z.enum(['udp', 'tcp', 'tls']).optional(),
    priority: z.number().int().min(0).max(65535).optional(),
    weight: z.number().int().min(0).max(65535).optional(),
    probe: z.boolean().optional(),
    maxCalls: z.number().int().min(1).max(1000000).optional(),
    maxCps: z.number().int().min(1).max(100000).optional(),
  })
  .superRefine((t, ctx) => {
    if ((t.host === undefined) === (t.srv === undefined)) {
      ctx.addIssue({ code: 'custom', path: [], input: t, message: 'exactly one of "host" (an IP address or host name) or "srv" (a DNS SRV name)' });
    }
    if (t.srv === undefined) return;
    for (const field of SRV_FIXED_FIELDS) {
      if (t[field] !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: [field],
          input: t[field],
          message: `no "${field}" on an "srv" target (its SRV records give port, priority and weight, its name the transport)`,
        });
      }
    }
  })
  .transform((t): TargetConfig => {
    const extras: TargetExtras = {
      ...(t.probe !== undefined && { probe: t.probe }),
      ...(t.maxCalls !== undefined && { maxCalls: t.maxCalls }),
      ...(t.maxCps !== undefined && { maxCps: t.maxCps }),
    };
    return t.srv !== undefined
      ? { srv: t.srv, ...extras }
      : {
          host: t.host ?? '',
          port: t.port ?? DEFAULTS.targetPort,
          transport: t.transport ?? DEFAULTS.targetTransport,
          priority: t.priority ?? DEFAULTS.targetPriority,
          weight: t.weight ?? DEFAULTS.targetWeight,
          ...extras,
        };
  });

export const matchSchema = z
  .strictObject({
    domains: z.array(domainPattern).min(1).optional(),
    sources: z.array(cidr).min(1).optional(),
  })
  .refine((m) => m.domains !== undefined || m.sources !== undefined, {
    message: 'at least one of "domains" or "sources" (omit "match" altogether for a default route)',
  });

const ringTimeoutS = z.number().int().min(0).max(3600);
const maxDurationS = z.number().int().min(0).max(604800);

const policyFields = {
  provisionalTimeoutMs: z.number().int().min(100).max(120000).optional(),
  ringTimeoutS: ringTimeoutS.optional(),
  maxDurationS: maxDurationS.optional(),
  maxAttempts: z.number().int().min(1).max(100).optional(),
  failoverOn: z.array(sipStatus).optional(),
  userParameters: userParameters.optional(),
};

export const routeSchema = z.strictObject({
  name: z
    .string()
    .min(1)
    .regex(/^[A-Za-z0-9_.-]+$/, 'a name of letters, digits, "_", "." or "-"'),
  match: matchSchema.optional(),
  strategy: z.enum(['weighted', 'parallel', 'least-loaded']).default('weighted'),
  /** with strategy "parallel": how many targets ring at once */
  parallelCount: z.number().int().min(1).max(32).default(DEFAULTS.parallelCount),
  targets: z.array(targetSchema).min(1),
  /** source networks allowed to use this route; absent = any */
  allowSources: z.array(cidr).min(1).optional(),
  /** a source not in allowSources: `reject` (403) or `drop` (403 and on the block list, which drachtio-server's <blacklist> can drop silently) */
  refuseSource: z.enum(['reject', 'drop']).default('reject'),
  ...policyFields,
});

export const drachtioServerSchema = z.strictObject({
  host: z.string().min(1),
  port: port.default(DEFAULTS.drachtioPort),
  secret: z.string().min(1).default(DEFAULTS.drachtioSecret),
});

export const configSchema = z
  .strictObject({
    instanceId: z
      .string()
      .min(1)
      .regex(/^[A-Za-z0-9_.:-]+$/, 'letters, digits, "_", ".", ":" or "-"')
      .optional(),
    drachtio: z
      .strictObject({
        mode: z.enum(['inbound', 'outbound']).default('inbound'),
        /** inbound mode: drachtio-servers this instance connects to */
        servers: z.array(drachtioServerSchema).default([]),
        /** outbound mode: where this instance listens for drachtio-server connections */
        listen: z.strictObject({ host: z.string().min(1).default('127.0.0.1'), port, secret: z.string().min(1).default(DEFAULTS.drachtioSecret) }).optional(),
        reconnectMaxDelayMs: z.number().int().min(100).default(DEFAULTS.reconnectMaxDelayMs),
      })
      .prefault({}),
    redis: z
      .strictObject({
        // parsed here as ioredis will parse it, so a malformed URL (e.g. an unencoded "/" in the password) is a config error
        url: z
          .string()
          .refine((u) => /^rediss?:\/\//.test(u) && URL.canParse(u), 'a redis:// or rediss:// URL (user name and password percent-encoded)')
          .default(DEFAULTS.redisUrl),
        password: z.string().min(1).optional(),
        username: z.string().min(1).optional(),
        tls: z
          .strictObject({
            caFile: z.string().min(1).optional(),
            rejectUnauthorized: z.boolean().default(true),
          })
          .optional(),
        keyPrefix: z
          .string()
          .regex(/^[A-Za-z0-9_.:-]*$/, 'letters, digits, "_", ".", ":" or "-"')
          .default(DEFAULTS.redisKeyPrefix),
        commandTimeoutMs: z.number().int().min(50).default(DEFAULTS.redisCommandTimeoutMs),
        connectTimeoutMs: z.number().int().min(50).default(DEFAULTS.redisConnectTimeoutMs),
        batchMs: z.number().int().min(0).max(100).default(DEFAULTS.redisBatchMs),
      })
      .prefault({}),
    cluster: z
      .strictObject({
        heartbeatMs: z.number().int().min(100).max(60000).default(DEFAULTS.heartbeatMs),
        instanceTtlMs: z.number().int().min(300).max(300000).default(DEFAULTS.instanceTtlMs),
        watchIntervalMs: z.number().int().min(200).max(600000).default(DEFAULTS.watchIntervalMs),
        optionsIntervalMs: z.number().int().min(0).max(3600000).default(DEFAULTS.optionsIntervalMs),
        streamMaxLen: z.number().int().min(100).default(DEFAULTS.streamMaxLen),
      })
      .prefault({}),
    health: z
      .strictObject({
        passiveFailures: z.number().int().min(0).max(1000).default(DEFAULTS.healthPassiveFailures),
        downS: z.number().int().min(1).max(86400).default(DEFAULTS.healthDownS),
        panicBelowPercent: z.number().int().min(0).max(100).default(DEFAULTS.healthPanicBelowPercent),
        maxQuarantineS: z.number().int().min(1).max(86400).default(DEFAULTS.healthMaxQuarantineS),
        refreshMs: z.number().int().min(100).max(60000).default(DEFAULTS.healthRefreshMs),
        probe: z
          .strictObject({
            enabled: z.boolean().default(DEFAULTS.probeEnabled),
            intervalMs: z.number().int().min(100).max(3600000).default(DEFAULTS.probeIntervalMs),
            timeoutMs: z.number().int().min(50).max(3600000).default(DEFAULTS.probeTimeoutMs),
            downAfter: z.number().int().min(1).max(100).default(DEFAULTS.probeDownAfter),
            upAfter: z.number().int().min(1).max(100).default(DEFAULTS.probeUpAfter),
            deadStatuses: z.array(z.number().int().min(100).max(699)).default([...DEFAULTS.probeDeadStatuses]),
          })
          .refine((p) => p.timeoutMs < p.intervalMs, { message: 'timeoutMs below intervalMs (a probe ends before the next round)', path: ['timeoutMs'] })
          .prefault({}),
      })
      .prefault({}),
    overload: z
      .strictObject({
        maxSettingUp: z.number().int().min(0).default(DEFAULTS.overloadMaxSettingUp),
        maxCps: z.number().int().min(0).default(DEFAULTS.overloadMaxCps),
        maxEventLoopDelayMs: z.number().int().min(0).max(60000).default(DEFAULTS.overloadMaxEventLoopDelayMs),
        sampleMs: z.number().int().min(50).max(60000).default(DEFAULTS.overloadSampleMs),
        retryAfterS: z.number().int().min(0).max(86400).default(DEFAULTS.overloadRetryAfterS),
      })
      .prefault({}),
    security: z
      .strictObject({
        scannerUserAgents: z.array(z.string().min(1)).default([...DEFAULT_SCANNER_USER_AGENTS]),
        sourceMaxCps: z.number().int().min(0).default(DEFAULTS.securitySourceMaxCps),
        blockS: z.number().int().min(1).max(604800).default(DEFAULTS.securityBlockS),
        refreshMs: z.number().int().min(100).max(60000).default(DEFAULTS.securityRefreshMs),
      })
      .prefault({}),
    http: z
      .strictObject({
        /** absent = no HTTP endpoints */
        port: port.optional(),
        host: z.string().min(1).default('127.0.0.1'),
      })
      .prefault({}),
    dns: z
      .strictObject({
        /** resolvers, `ip` or `ip:port` (`[v6]:port`); empty = the system's (/etc/resolv.conf) */
        servers: z
          .array(
            z
              .string()
              .regex(
                /^(\d{1,3}(\.\d{1,3}){3}(:\d{1,5})?|\[[0-9a-fA-F:.]+\](:\d{1,5})?|[0-9a-fA-F:]+)$/,
                'an IP address, optionally with :port (IPv6 as [addr]:port)',
              ),
          )
          .default([]),
        timeoutMs: z.number().int().min(100).max(60000).default(DEFAULTS.dnsTimeoutMs),
        minTtlS: z.number().int().min(1).max(86400).default(DEFAULTS.dnsMinTtlS),
        maxTtlS: z.number().int().min(1).max(604800).default(DEFAULTS.dnsMaxTtlS),
        startWaitMs: z.number().int().min(0).max(60000).default(DEFAULTS.dnsStartWaitMs),
      })
      .prefault({}),
    log: z
      .strictObject({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default(DEFAULTS.logLevel),
        bufferBytes: z.number().int().min(0).max(16383).default(DEFAULTS.logBufferBytes),
      })
      .prefault({}),
    call: z
      .strictObject({
        provisionalTimeoutMs: z.number().int().min(100).max(120000).default(DEFAULTS.provisionalTimeoutMs),
        maxAttempts: z.number().int().min(1).max(100).default(DEFAULTS.maxAttempts),
        failoverOn: z.array(sipStatus).default([...DEFAULTS.failoverOn]),
        failoverBudget: z
          .strictObject({
            percent: z.number().min(0).max(10000).default(DEFAULTS.failoverBudgetPercent),
            minPerS: z.number().min(0).max(100000).default(DEFAULTS.failoverBudgetMinPerS),
          })
          .prefault({}),
        noRouteStatus: sipStatus.default(DEFAULTS.noRouteStatus),
        allFailedStatus: sipStatus.default(DEFAULTS.allFailedStatus),
        retryAfterSeconds: z.number().int().min(0).max(86400).default(DEFAULTS.retryAfterSeconds),
        drainTimeoutMs: z.number().int().min(0).default(DEFAULTS.drainTimeoutMs),
        shutdownTimeoutMs: z.number().int().min(100).default(DEFAULTS.shutdownTimeoutMs),
        ringTimeoutS: ringTimeoutS.default(DEFAULTS.ringTimeoutS),
        maxDurationS: maxDurationS.default(DEFAULTS.maxDurationS),
        userParameters: userParameters.default(DEFAULTS.userParameters),
        headers: z
          .strictObject({
            request: z.array(headerName).default([...DEFAULTS.requestHeaders]),
            response: z.array(headerName).default([...DEFAULTS.responseHeaders]),
            inDialog: z.array(headerName).default([...DEFAULTS.inDialogHeaders]),
          })
          .prefault({}),
      })
      .prefault({}),
    routes: z.array(routeSchema).min(1),
  })
  .superRefine((cfg, ctx) => {
    const names = new Set<string>();
    cfg.routes.forEach((route, i) => {
      if (names.has(route.name)) {
        ctx.addIssue({ code: 'custom', path: ['routes', i, 'name'], input: route.name, message: 'a route name not used by an earlier route' });
      }
      names.add(route.name);
      if (route.match === undefined && i !== cfg.routes.length - 1) {
        ctx.addIssue({
          code: 'custom',
          path: ['routes', i, 'match'],
          input: undefined,
          message: `a "match" (a route without one is the default route and must be last, or routes[${i + 1}..] can never match)`,
        });
      }
    });
    // one target's capacity is counted once for the cluster, so every route naming it must give it the same limits
    const limits = new Map<string, { maxCalls?: number; maxCps?: number; where: string }>();
    cfg.routes.forEach((route, i) =>
      route.targets.forEach((t, j) => {
        // (a target that failed its own checks is reported there: zod still runs this refinement)
        if (typeof (t as { srv?: unknown }).srv !== 'string' && typeof (t as { host?: unknown }).host !== 'string') return;
        const id = 'srv' in t ? `srv:${t.srv.toLowerCase()}` : targetId(t);
        const seen = limits.get(id);
        if (!seen) limits.set(id, { maxCalls: t.maxCalls, maxCps: t.maxCps, where: `routes[${String(i)}].targets[${String(j)}]` });
        else if (seen.maxCalls !== t.maxCalls || seen.maxCps !== t.maxCps)
          ctx.addIssue({
            code: 'custom',
            path: ['routes', i, 'targets', j],
            input: { maxCalls: t.maxCalls, maxCps: t.maxCps },
            message: `the same maxCalls and maxCps as ${seen.where} (the same target; its capacity is counted once for the cluster)`,
          });
      }),
    );
    if (cfg.cluster.heartbeatMs * 2 > cfg.cluster.instanceTtlMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['cluster', 'instanceTtlMs'],
        input: cfg.cluster.instanceTtlMs,
        message: `at least twice cluster.heartbeatMs (${String(cfg.cluster.heartbeatMs)}), so one late heartbeat does not make a live instance look dead`,
      });
    }
    if (cfg.call.drainTimeoutMs >= cfg.call.shutdownTimeoutMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['call', 'drainTimeoutMs'],
        input: cfg.call.drainTimeoutMs,
        message: `a value below call.shutdownTimeoutMs (${String(cfg.call.shutdownTimeoutMs)}): ending the calls left after the drain needs time before the shutdown deadline`,
      });
    }
    if (cfg.dns.minTtlS > cfg.dns.maxTtlS) {
      ctx.addIssue({
        code: 'custom',
        path: ['dns', 'minTtlS'],
        input: cfg.dns.minTtlS,
        message: `a value <= dns.maxTtlS (${String(cfg.dns.maxTtlS)})`,
      });
    }
    if (cfg.drachtio.mode === 'inbound' && cfg.drachtio.servers.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['drachtio', 'servers'],
        input: cfg.drachtio.servers,
        message: 'at least one drachtio server {host, port, secret} in inbound mode (or set DRACHTIO_HOST)',
      });
    }
    if (cfg.drachtio.mode === 'outbound' && cfg.drachtio.listen === undefined) {
      ctx.addIssue({ code: 'custom', path: ['drachtio', 'listen'], input: undefined, message: 'a {host, port, secret} to listen on in outbound mode' });
    }
  });

export type Config = z.output<typeof configSchema>;
export type RouteConfig = z.output<typeof routeSchema>;
export type DnsConfig = z.output<typeof configSchema>['dns'];
export type DrachtioServerConfig = z.output<typeof drachtioServerSchema>;
