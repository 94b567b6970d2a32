import type { Redis } from 'ioredis';
import { CallRegistry } from './call/registry';
import { CallSession, type CallDeps, type HeaderPolicy } from './call/call-session';
import type { Config } from './config/schema';
import { startDrachtio } from './drachtio/connection';
import type { Srf, SrfRequest, SrfResponse } from './drachtio/srf';
import type { Logger } from './logger';
import { compileRoutes } from './routing/match';
import { compileHeaderPatterns } from './sip/headers';
import { CallStore } from './store/call-store';

export interface Dispatcher {
  readonly registry: CallRegistry;
  readonly srfs: readonly Srf[];
  /** SIGTERM path: refuse new calls, wait for active ones up to drainTimeoutMs, end the rest, disconnect. */
  shutdown(): Promise<void>;
}

export function compileHeaderPolicy(headers: Config['call']['headers']): HeaderPolicy {
  return {
    request: compileHeaderPatterns(headers.request),
    response: compileHeaderPatterns(headers.response),
    inDialog: compileHeaderPatterns(headers.inDialog),
  };
}

/** Wires config, Redis and drachtio together. Everything that can be computed once is computed here. */
export function startDispatcher(config: Config, logger: Logger, redis: Redis): Dispatcher {
  const registry = new CallRegistry();
  const store = new CallStore(redis, config.redis.keyPrefix);
  const instanceId = config.instanceId ?? 'dispatcher';
  const deps: Omit<CallDeps, 'srf'> = {
    config,
    routes: compileRoutes(config.routes),
    store,
    registry,
    headers: compileHeaderPolicy(config.call.headers),
    logger,
    instanceId,
  };

  const install = (srf: Srf): void => {
    srf.invite((req: SrfRequest, res: SrfResponse) => {
      if (registry.isDraining) {
        res.send(503, 'Shutting Down', { headers: { 'Retry-After': String(config.call.retryAfterSeconds) } });
        logger.child({ callId: req.get('Call-ID') }).info({ code: 'B2B_ERR_SHUTTING_DOWN', status: 503 }, 'call rejected: instance is draining');
        return;
      }
      void new CallSession({ ...deps, srf }, req, res).handle();
    });
    srf.options((req: SrfRequest, res: SrfResponse) => {
      res.send(registry.isDraining ? 503 : 200);
    });
    // last resort for a fault thrown inside drachtio-srf's middleware chain: answer, log, carry on
    srf.use((err: unknown, req: SrfRequest, res: SrfResponse, _next: (err?: unknown) => void) => {
      logger.child({ callId: req.get('Call-ID') }).error({ err }, 'unexpected error handling request');
      if (!res.finalResponseSent) res.send(500);
    });
  };

  const srfs = startDrachtio(config.drachtio, logger, install);
  logger.info({ instanceId, routes: config.routes.map((r) => r.name), mode: config.drachtio.mode }, 'dispatcher started');

  return {
    registry,
    srfs,
    async shutdown(): Promise<void> {
      logger.info({ active: registry.size, drainTimeoutMs: config.call.drainTimeoutMs }, 'draining: new calls are refused');
      const left = await registry.drain(config.call.drainTimeoutMs);
      if (left > 0) {
        logger.warn({ left }, 'drain timeout: ending the remaining calls');
        await Promise.all(registry.all().map((c) => c.end('shutdown')));
      }
      for (const srf of srfs) {
        try {
          srf.disconnect();
        } catch (err) {
          // drachtio-srf asserts when there is no socket: this instance never connected
          logger.debug({ error: (err as Error).message }, 'drachtio was not connected');
        }
      }
      logger.info('drained; disconnected from drachtio');
    },
  };
}
