'use strict';
// Preloaded into the app under test by `npm run bench` (node --require bench/probe.js ...), in the
// dispatcher and the baseline alike. It answers the bench's questions over the IPC channel the bench
// opened (no inspector, no timers): { type: 'mem', id, gc } -> process.memoryUsage() (after a full
// garbage collection when `gc` is set and node runs with --expose-gc) and the number of writes the app
// made so far to the socket of BENCH_REDIS_PORT: ioredis writes each command, or each pipeline or
// MULTI/EXEC block, in one write, so writes are the requests the app sent Redis. Per call, the only
// cost is one comparison in net.Socket#write.
const net = require('node:net');

const redisPort = Number(process.env.BENCH_REDIS_PORT || 0);
let redisWrites = 0;
if (redisPort > 0) {
  const write = net.Socket.prototype.write;
  net.Socket.prototype.write = function benchCountedWrite(...args) {
    if (this.remotePort === redisPort) redisWrites += 1;
    return write.apply(this, args);
  };
}

if (typeof process.send === 'function') {
  process.on('message', (m) => {
    if (!m || m.type !== 'mem') return;
    if (m.gc && typeof globalThis.gc === 'function') globalThis.gc();
    const u = process.memoryUsage();
    process.send({ type: 'mem', id: m.id, rss: u.rss, heapUsed: u.heapUsed, heapTotal: u.heapTotal, external: u.external, redisWrites });
  });
  // the channel must not keep the app alive, nor its end stop it
  if (process.channel) process.channel.unref();
  process.on('disconnect', () => undefined);
}

// BENCH_ALLOC_PROF=<file> (bench --alloc-profile): V8's sampling heap profiler from start to exit, objects
// collected since included, so the profile shows what each call allocates, not only what it keeps. The
// inspector session is in-process and synchronous: the profile is written from the 'exit' handler.
if (process.env.BENCH_ALLOC_PROF) {
  const inspector = require('node:inspector');
  const fs = require('node:fs');
  const session = new inspector.Session();
  session.connect();
  session.post('HeapProfiler.startSampling', { samplingInterval: 8192, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  let written = false;
  const write = () => {
    if (written) return;
    written = true;
    session.post('HeapProfiler.stopSampling', (err, r) => {
      if (!err) fs.writeFileSync(process.env.BENCH_ALLOC_PROF, JSON.stringify(r.profile));
    });
  };
  process.on('exit', write);
}
