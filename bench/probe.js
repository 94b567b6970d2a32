'use strict';
// Preloaded into the app under test by `npm run bench` (node --require bench/probe.js ...), in the
// dispatcher and the baseline alike. It answers the bench's questions over the IPC channel the bench
// opened (no inspector, no timers, nothing per call): { type: 'mem', id, gc } -> process.memoryUsage(),
// after a full garbage collection when `gc` is set and node runs with --expose-gc.
if (typeof process.send === 'function') {
  process.on('message', (m) => {
    if (!m || m.type !== 'mem') return;
    if (m.gc && typeof globalThis.gc === 'function') globalThis.gc();
    const u = process.memoryUsage();
    process.send({ type: 'mem', id: m.id, rss: u.rss, heapUsed: u.heapUsed, heapTotal: u.heapTotal, external: u.external });
  });
  // the channel must not keep the app alive, nor its end stop it
  if (process.channel) process.channel.unref();
  process.on('disconnect', () => undefined);
}
