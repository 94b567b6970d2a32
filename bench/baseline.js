'use strict';
// The benchmark's baseline (`npm run bench`): the least a drachtio-srf B2BUA does for a call.
// Each INVITE is srf.createB2BUA() to the next back-end in turn (round robin), the B leg's failure
// passed back to the caller; once answered, a BYE on either leg ends the other. No Redis, no logs,
// no header policy, no failover. Plain JavaScript: nothing to compile, no loader.
//
// Environment: DRACHTIO_HOST, DRACHTIO_PORT, DRACHTIO_SECRET; BENCH_TARGETS "host:port,host:port,...".
// Prints one line, {"msg":"connected to drachtio"}, once connected.
const Srf = require('drachtio-srf');

const targets = (process.env.BENCH_TARGETS || '').split(',').filter(Boolean);
if (targets.length === 0) {
  process.stderr.write('baseline: BENCH_TARGETS is empty\n');
  process.exit(2);
}

const srf = new Srf();
srf.on('connect', (err) => {
  if (!err) process.stdout.write('{"msg":"connected to drachtio"}\n');
});
srf.on('error', () => undefined);
srf.connect({
  host: process.env.DRACHTIO_HOST || '127.0.0.1',
  port: Number(process.env.DRACHTIO_PORT || 9022),
  secret: process.env.DRACHTIO_SECRET || 'cymru',
});

const ignore = () => undefined;
let next = 0;
srf.invite((req, res) => {
  const target = targets[next];
  next = (next + 1) % targets.length;
  srf
    .createB2BUA(req, res, `sip:${req.calledNumber || 'bench'}@${target}`, { passFailure: true })
    .then(({ uas, uac }) => {
      uas.on('destroy', () => uac.destroy().catch(ignore));
      uac.on('destroy', () => uas.destroy().catch(ignore));
    })
    .catch(ignore);
});

const stop = () => {
  srf.disconnect();
  setTimeout(() => process.exit(0), 50).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
