import type { Config } from '../config/schema';
import type { Logger } from '../logger';
import { createSrf, type Srf } from './srf';

/**
 * Connects one Srf per configured drachtio-server (inbound mode) or listens for drachtio-servers
 * (outbound mode). drachtio-srf reconnects by itself with backoff; this logs once per state change.
 * `install` registers the request handlers on each Srf before it connects.
 */
/** How call records name a drachtio-server: the `host:port` of its admin connection, as every instance configures it. */
export function serverIdOf(server: { host: string; port: number }): string {
  return `${server.host}:${server.port}`;
}

/** Call records of calls taken in outbound mode name this instead of a server. */
export const OUTBOUND_SERVER_ID = 'outbound';

export function startDrachtio(cfg: Config['drachtio'], logger: Logger, install: (srf: Srf, serverId: string) => void): Srf[] {
  if (cfg.mode === 'outbound' && cfg.listen) {
    const srf = createSrf();
    install(srf, OUTBOUND_SERVER_ID);
    const where = `${cfg.listen.host}:${cfg.listen.port}`;
    srf.on('error', (err: Error) => logger.warn({ err, listen: where }, 'drachtio listener error'));
    // returns the listening net.Server, not the Promise drachtio-srf's typings claim (types/drachtio-srf.d.ts)
    void srf.listen({ host: cfg.listen.host, port: cfg.listen.port, secret: cfg.listen.secret });
    srf.on('listening', () => logger.info({ listen: where }, 'listening for drachtio-server connections'));
    // drachtio-server opens a connection per call it routes here; each one authenticates with the secret
    srf.on('connect', (err, hostport) => {
      if (err) logger.warn({ err, listen: where }, 'a drachtio-server connection failed to authenticate (check the secret)');
      else logger.debug({ sip: hostport }, 'drachtio-server connected (outbound mode)');
    });
    return [srf];
  }
  return cfg.servers.map((server) => {
    const srf = createSrf();
    install(srf, serverIdOf(server));
    const where = `${server.host}:${server.port}`;
    const log = logger.child({ drachtio: where });
    let state: 'connecting' | 'connected' | 'down' = 'connecting';
    srf.on('connect', (err, hostport) => {
      if (err) {
        log.error({ err }, 'drachtio refused the connection (check the secret); retrying');
        state = 'down';
        return;
      }
      log.info({ sip: hostport }, 'connected to drachtio');
      state = 'connected';
    });
    srf.on('error', (err: Error) => {
      if (state !== 'down') log.warn({ err }, 'drachtio unreachable; retrying');
      state = 'down';
    });
    srf.on('close', () => {
      if (state === 'connected') log.warn('lost connection to drachtio; reconnecting');
      state = 'down';
    });
    srf.connect({ host: server.host, port: server.port, secret: server.secret, reconnect: { retryMaxDelay: cfg.reconnectMaxDelayMs } });
    return srf;
  });
}
