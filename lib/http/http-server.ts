/**
 * Health, readiness and metrics over HTTP, for a load balancer, Kubernetes or Prometheus:
 *
 *   GET /health   200 while the process runs (liveness)
 *   GET /ready    200 when this instance should be sent calls: connected to at least one
 *                 drachtio-server and to Redis, not draining, not overloaded; else 503 with the reasons
 *   GET /metrics  Prometheus text (lib/metrics/metrics.ts)
 *
 * Off unless `http.port` is set; bound to `http.host` (default 127.0.0.1). GET and HEAD only.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../logger';

/** Why an instance is not ready; empty when it is. */
export interface ReadinessInputs {
  drachtioConnected: number;
  redisReady: boolean;
  draining: boolean;
  overloaded: boolean;
}

/** The reasons an instance is not ready (pure). */
export function notReadyReasons(r: ReadinessInputs): string[] {
  const reasons: string[] = [];
  if (r.drachtioConnected === 0) reasons.push('no drachtio-server connected');
  if (!r.redisReady) reasons.push('redis not connected');
  if (r.draining) reasons.push('draining');
  if (r.overloaded) reasons.push('overloaded');
  return reasons;
}

export interface HttpEndpoints {
  readiness(): ReadinessInputs;
  metrics(): Promise<string>;
  readonly metricsContentType: string;
}

export interface HttpServer {
  /** the port actually bound (useful with port 0) */
  readonly port: number;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, type: string, body: string, head: boolean): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(head ? undefined : body);
}

export async function startHttpServer(opts: { host: string; port: number }, endpoints: HttpEndpoints, logger: Logger): Promise<HttpServer> {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) {
      res.setHeader('Allow', 'GET, HEAD');
      send(res, 405, 'text/plain', 'method not allowed\n', head);
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    switch (path) {
      case '/health':
        send(res, 200, 'application/json', '{"status":"ok"}\n', head);
        return;
      case '/ready': {
        const inputs = endpoints.readiness();
        const reasons = notReadyReasons(inputs);
        const body = JSON.stringify({ ready: reasons.length === 0, reasons, ...inputs });
        send(res, reasons.length === 0 ? 200 : 503, 'application/json', `${body}\n`, head);
        return;
      }
      case '/metrics':
        send(res, 200, endpoints.metricsContentType, await endpoints.metrics(), head);
        return;
      default:
        send(res, 404, 'text/plain', 'not found: try /health, /ready or /metrics\n', head);
    }
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      logger.warn({ err, url: req.url }, 'http endpoint failed');
      if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n', false);
      else res.destroy();
    });
  });
  // a scraper that keeps connections open must not hold up a shutdown
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  logger.info({ host: opts.host, port }, 'http endpoints listening: /health, /ready, /metrics');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
