#!/usr/bin/env node
'use strict';
// The image's HEALTHCHECK (there is no HTTP health endpoint yet). Healthy when this instance's
// registry key <prefix>instance:<id> exists in Redis (the key its heartbeat refreshes every
// cluster.heartbeatMs and that expires after cluster.instanceTtlMs) and its facts name at least one
// drachtio-server it is connected to. Read with `sip-dispatcher status --json`, the operator CLI, so
// the config (SIPD_CONFIG), Redis AUTH/TLS and key prefix are the server's own.
// The instance is found by INSTANCE_ID when set, else by this container's hostname (the default
// instance id is <hostname>-<pid>, and the pid is not known here).
// SIPD_HEALTH_NO_DRACHTIO=1: do not require a drachtio connection (outbound mode, where
// drachtio-server connects per call). Exit 0 healthy, 1 unhealthy (the reason on stdout).
const { execFile } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');

/** @returns {{ healthy: boolean, reason: string }} */
function verdict(report, { instanceId, hostname, requireDrachtio }) {
  const mine = (report.instances || []).filter((i) => (instanceId ? i.id === instanceId : i.alive && i.host === hostname));
  const who = instanceId ? `instance ${instanceId}` : `no instance on host ${hostname}`;
  if (mine.length === 0) return { healthy: false, reason: instanceId ? `${who}: not in the registry` : `${who} in the registry` };
  const alive = mine.find((i) => i.alive);
  if (!alive) return { healthy: false, reason: `${who}: registry key expired (no heartbeat)` };
  if (alive.draining) return { healthy: false, reason: `instance ${alive.id}: draining` };
  if (requireDrachtio && (!alive.servers || alive.servers.length === 0))
    return { healthy: false, reason: `instance ${alive.id}: not connected to any drachtio-server` };
  return { healthy: true, reason: `instance ${alive.id}: alive, drachtio ${(alive.servers || []).join(', ') || '-'}` };
}

function main() {
  // the same layout in the repository and the image: <root>/docker/dispatcher/healthcheck.js, <root>/bin/
  const bin = path.join(__dirname, '..', '..', 'bin', 'sip-dispatcher.js');
  execFile(process.execPath, [bin, 'status', '--json'], { timeout: 8000 }, (err, stdout, stderr) => {
    if (err) {
      process.stdout.write(`unhealthy: status failed (${err.code ?? err.signal}): ${String(stderr).trim()}\n`);
      process.exit(1);
    }
    const v = verdict(JSON.parse(stdout), {
      instanceId: process.env.INSTANCE_ID || undefined,
      hostname: os.hostname(),
      requireDrachtio: process.env.SIPD_HEALTH_NO_DRACHTIO !== '1',
    });
    process.stdout.write(`${v.healthy ? 'healthy' : 'unhealthy'}: ${v.reason}\n`);
    process.exit(v.healthy ? 0 : 1);
  });
}

if (require.main === module) main();
module.exports = { verdict };
