/**
 * Every error code the dispatcher raises or logs on purpose (and the warnings, `B2B_WARN_…`,
 * it logs on purpose), declared in one table so that callers
 * branch on `code` (never on message text) and operators can grep for it.
 * The table is documented in README.md ("Error codes"); test/unit/errors.test.ts keeps the two in sync.
 */
export const ERROR_CODES = {
  B2B_ERR_CONFIG_READ: 'The configuration file could not be read or parsed',
  B2B_ERR_CONFIG_INVALID: 'The configuration does not match the schema',
  B2B_ERR_NO_ROUTE: 'No route matches the request',
  B2B_ERR_NO_TARGET: 'Every target of the route was tried and none answered',
  B2B_ERR_ALL_TARGETS_DOWN: 'Every target of the route is quarantined or down; the caller got allFailedStatus at once, nothing was tried',
  B2B_ERR_CALL_CANCELED: 'The caller cancelled the call while it was being set up',
  B2B_ERR_ATTEMPT_TIMEOUT: 'A target sent no provisional response in time',
  B2B_ERR_SHUTTING_DOWN: 'The instance is draining and takes no new calls',
  B2B_ERR_RING_TIMEOUT: 'A target rang for ringTimeoutS without a final answer; the caller gets 480',
  B2B_ERR_MAX_DURATION: 'An answered call reached maxDurationS and was ended with BYE on both legs',
  B2B_ERR_BAD_EXTENSION: 'An INVITE requires a SIP extension (Require option tag) the dispatcher does not support (420)',
  B2B_ERR_TOO_MANY_HOPS: 'An INVITE arrived with Max-Forwards 0 and was refused with 483 (a forwarding loop, or too long a path)',
  B2B_ERR_SOURCE_BLOCKED: "An INVITE from a source on the cluster's block list, or one that took its source over security.sourceMaxCps, was refused with 403",
  B2B_ERR_SOURCE_SCANNER: 'An INVITE whose User-Agent is on security.scannerUserAgents was refused with 403 and its source blocked',
  B2B_ERR_SOURCE_NOT_ALLOWED: "An INVITE from a source outside its route's allowSources was refused with 403",
  B2B_ERR_MERGED_REQUEST: 'An INVITE arrived with the Call-ID and From tag of a call already in progress (482)',
  B2B_ERR_UNSENDABLE_REQUEST: 'drachtio-server refused to send the INVITE itself (e.g. its Request-URI); not a target failure',
  B2B_ERR_USER_PARAMETERS: "The dialled number carries user parameters and the route's userParameters policy is reject (403)",
  B2B_ERR_URI_TOO_LONG: 'The forwarded Request-URI would be longer than drachtio-server sends (414)',
  B2B_ERR_RECORD_LEFT: 'A call ended but its Redis record could not be removed (Redis unreachable)',
  B2B_ERR_CLUSTER_UNREACHABLE: 'An adopted call lives on a drachtio-server this instance is not connected to, so it cannot be watched',
  B2B_WARN_ADMISSION_OVERLOAD:
    'This instance is overloaded (calls being set up, new calls per second, or event-loop delay over its limit) and answers new INVITEs 503 at once',
  B2B_WARN_SOURCE_BLOCKED: 'A source address was put on the block list (a scanner, over its call rate, or refused by a route with refuseSource: drop)',
  B2B_WARN_CLUSTER_TAKEOVER: 'An instance stopped heartbeating and this one adopted the calls it owned',
  B2B_WARN_ADOPTED_UNPROBED:
    "A leg of an adopted call could not be probed (drachtio-server unreachable or refused the probe): a party's hangup goes unnoticed until a probe works; retried every cluster.watchIntervalMs, logged once per streak",
  B2B_WARN_CONFIG_DEFAULT_SECRET: "A drachtio connection uses drachtio-server's well-known default secret",
  // target health (lib/cluster/target-health.ts)
  B2B_WARN_TARGET_QUARANTINED: 'A target answered 503 with Retry-After and is out of selection, cluster-wide, for that long',
  B2B_WARN_FAILOVER_BUDGET:
    'Failovers reached call.failoverBudget (a share of new calls over 10 s): calls whose attempt fails get its failure instead of another attempt until they fall back within it',
  B2B_WARN_ROUTE_PANIC:
    "Fewer than health.panicBelowPercent of a route's targets were usable, so its targets marked down are tried as well (quarantined and drained ones are not)",
  B2B_WARN_TARGET_DOWN: 'A target failed health.passiveFailures real calls in a row and is out of selection, cluster-wide, for health.downS',
  // active probing and operator drain (lib/cluster/prober.ts, sip-dispatcher drain-target)
  B2B_WARN_TARGET_PROBE_DOWN:
    'A target failed health.probe.downAfter OPTIONS probes in a row and is out of selection, cluster-wide, until probes bring it back',
  B2B_WARN_TARGET_DRAINED: 'An operator drained a target: it gets no new calls, cluster-wide, until undrained; calls in progress go on',
  // capacity (lib/cluster/capacity.ts)
  B2B_ERR_ALL_TARGETS_FULL:
    'Every usable target of the route is full (maxCalls or maxCps, cluster-wide); the caller got allFailedStatus with Retry-After at once, nothing was tried',
  B2B_WARN_TARGET_FULL: 'A target reached its maxCalls or maxCps, cluster-wide; new calls skip it until it has room',
  B2B_WARN_CAPACITY_LOCAL: 'Redis is unreachable: target capacity is counted by each instance alone until it is back (fail open)',
  // drachtio-server restarts (lib/cluster/reconnect.ts)
  B2B_WARN_DIALOG_LOST:
    "After a reconnect, drachtio-server no longer had an answered call's dialogs (it restarted): the call was ended, each party sent a BYE outside the dialog",
  B2B_WARN_DIALOG_ORPHANED:
    "After a reconnect, drachtio-server still had a call's dialogs but no longer routes their requests to this instance: the call is watched until a party hangs up",
  // DNS targets (lib/dns/dns-cache.ts) and config reload (lib/reload.ts)
  B2B_WARN_DNS_FAILED: 'A DNS lookup for a target name failed; the last good answer is kept (logged once until the name resolves again)',
  B2B_ERR_CONFIG_RELOAD_REFUSED: 'A config reload was refused (invalid or unreadable file); the running config keeps serving',
} as const;

/** Codes an error carries (raised, or logged with a call's outcome). */
export type ErrorCode = Extract<keyof typeof ERROR_CODES, `B2B_ERR_${string}`>;
/** Codes of warnings logged on purpose: the process goes on. */
export type WarningCode = Extract<keyof typeof ERROR_CODES, `B2B_WARN_${string}`>;

export class DispatcherError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? ERROR_CODES[code], options);
    this.name = 'DispatcherError';
    this.code = code;
  }
}

export interface ConfigIssue {
  /** dotted path of the field, e.g. `routes[0].targets[1].weight` */
  path: string;
  /** what was found there, JSON-encoded (or `undefined`) */
  found: string;
  /** what was expected instead */
  expected: string;
}

export class ConfigError extends DispatcherError {
  readonly issues: ConfigIssue[];
  constructor(code: 'B2B_ERR_CONFIG_READ' | 'B2B_ERR_CONFIG_INVALID', message: string, issues: ConfigIssue[] = [], options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}
