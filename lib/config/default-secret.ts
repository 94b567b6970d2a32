import { DEFAULTS, type Config } from './schema';

/**
 * Config paths of the drachtio secrets in use that are still `DEFAULTS.drachtioSecret`, the
 * well-known secret of drachtio-server's sample config: anyone who can reach the port can control
 * the connection. Only what the mode uses counts: the servers in inbound mode, `listen` in outbound.
 */
export function defaultSecretsInUse(config: Pick<Config, 'drachtio'>): string[] {
  const { mode, servers, listen } = config.drachtio;
  if (mode === 'outbound') return listen?.secret === DEFAULTS.drachtioSecret ? ['drachtio.listen.secret'] : [];
  return servers.flatMap((server, i) => (server.secret === DEFAULTS.drachtioSecret ? [`drachtio.servers[${i}].secret`] : []));
}
