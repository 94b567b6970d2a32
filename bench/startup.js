#!/usr/bin/env node
'use strict';
// Start-up time and memory of the dispatcher run from the TypeScript sources through tsx
// (`npm run dev`) and from the compiled build (`npm start`). Needs a build: `npm run build`.
//   node bench/startup.js [runs]      (default 7 runs of each, alternating; medians printed)
// Measures, per way:
//   help ms   `--help`, spawn to process exit (module loading and nothing else)
//   ready ms  spawn to the "dispatcher started" log line, with drachtio and Redis ports closed
//             (redis.connectTimeoutMs 50 is waited out the same in both ways)
//   rss MB    VmRSS of the server process 1 s after that line (one process in both ways: node
//             --import tsx loads tsx in-process)
const { spawn } = require('node:child_process');
const { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const WAYS = {
  tsx: ['--import', 'tsx', 'apps/dispatcher/main.ts'],
  compiled: ['--enable-source-maps', 'dist/apps/dispatcher/main.js'],
};

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function rssMb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function helpMs(args) {
  const t0 = process.hrtime.bigint();
  const child = spawn(process.execPath, [...args, '--help'], { cwd: ROOT, stdio: 'ignore' });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => (code === 0 ? resolve(Number(process.hrtime.bigint() - t0) / 1e6) : reject(new Error(`--help exited ${code}`))));
  });
}

function ready(args, config) {
  const t0 = process.hrtime.bigint();
  const child = spawn(process.execPath, [...args, '--config', config], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, LOG_LEVEL: 'info' },
  });
  let buf = '';
  let started = false;
  return new Promise((resolve, reject) => {
    const onData = (d) => {
      buf += d.toString();
      if (!buf.includes('"msg":"dispatcher started"')) return;
      started = true;
      child.stdout.off('data', onData);
      child.stdout.resume();
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      setTimeout(() => {
        const rss = rssMb(child.pid);
        child.once('exit', () => resolve({ ms, rss }));
        child.kill('SIGTERM');
      }, 1000);
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => started || reject(new Error(`exited ${code} before "dispatcher started":\n${buf}`)));
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const runs = Number(process.argv[2] ?? 7);
  if (!existsSync(path.join(ROOT, 'dist/apps/dispatcher/main.js'))) {
    process.stderr.write('no build: run `npm run build` first\n');
    process.exit(1);
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sipd-bench-'));
  const config = path.join(dir, 'config.json');
  writeFileSync(
    config,
    JSON.stringify({
      drachtio: { servers: [{ host: '127.0.0.1', port: await freePort(), secret: 'bench-not-default' }] },
      redis: { url: `redis://127.0.0.1:${await freePort()}`, connectTimeoutMs: 50 },
      log: { level: 'info' },
      routes: [{ name: 'r', targets: [{ host: '10.0.0.1' }] }],
    }),
  );
  const res = { tsx: { help: [], ready: [], rss: [] }, compiled: { help: [], ready: [], rss: [] } };
  for (let i = 0; i < runs; i += 1) {
    for (const way of Object.keys(WAYS)) {
      res[way].help.push(await helpMs(WAYS[way]));
      const r = await ready(WAYS[way], config);
      res[way].ready.push(r.ms);
      res[way].rss.push(r.rss);
    }
  }
  rmSync(dir, { recursive: true, force: true });
  const m = (way, k) => median(res[way][k]);
  const row = (label, k, unit, digits) => {
    const t = m('tsx', k);
    const c = m('compiled', k);
    return `${label.padEnd(22)} ${t.toFixed(digits).padStart(8)} ${c.toFixed(digits).padStart(10)}   ${(t / c).toFixed(2)}x  (${unit})`;
  };
  process.stdout.write(`node ${process.version}, ${os.cpus().length} CPUs, ${runs} runs each, medians\n`);
  process.stdout.write(`${''.padEnd(22)} ${'tsx'.padStart(8)} ${'compiled'.padStart(10)}   tsx/compiled\n`);
  process.stdout.write(`${row('--help to exit', 'help', 'ms', 0)}\n`);
  process.stdout.write(`${row('"dispatcher started"', 'ready', 'ms', 0)}\n`);
  process.stdout.write(`${row('RSS 1 s after ready', 'rss', 'MB', 1)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
