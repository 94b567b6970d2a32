import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startApp } from './app';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'app-test-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function script(name: string, body: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, body);
  return file;
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('waits for the ready line, parses JSON logs, waitFor sees later lines, stop() returns the exit code', async () => {
  const entry = script(
    'ready.ts',
    `const v: number = Number(process.env.VALUE);
console.log('plain text line');
console.log(JSON.stringify({ msg: 'connected to drachtio', value: v }));
setTimeout(() => console.log(JSON.stringify({ msg: 'later', pid: process.pid })), 200);
process.on('SIGTERM', () => process.exit(7));
setInterval(() => undefined, 1000);
`,
  );
  const app = await startApp({ entry, env: { VALUE: '42' } });
  expect(app.lines[0]).toBe('plain text line');
  expect(app.logs()[0]).toEqual({ msg: 'connected to drachtio', value: 42 });
  const later = await app.waitFor((l) => l.includes('"later"'), 5000);
  const nodePid = Number((JSON.parse(later) as { pid: number }).pid);
  expect(isAlive(nodePid)).toBe(true);
  expect(await app.stop()).toBe(7);
  expect(await app.exited).toBe(7);
  await new Promise((r) => setTimeout(r, 100));
  expect(isAlive(nodePid)).toBe(false); // the node process under tsx is gone too
});

test('an app that exits before its ready line makes startApp reject with its output', async () => {
  const entry = script('dies.ts', `console.error('boom: missing config'); process.exit(3);\n`);
  await expect(startApp({ entry })).rejects.toThrow(/exited \(3\)[\s\S]*boom: missing config/);
});

test('an app that never gets ready is killed after timeoutMs', async () => {
  const entry = script('stuck.ts', `console.log(JSON.stringify({ pid: process.pid })); setInterval(() => undefined, 1000);\n`);
  const started = Date.now();
  await expect(startApp({ entry, timeoutMs: 1500, readyLine: (l) => l === 'never' })).rejects.toThrow(/no matching line within 1500 ms/);
  expect(Date.now() - started).toBeLessThan(8000);
});

test('a custom readyLine', async () => {
  const entry = script('custom.ts', `console.log('listening on 1234'); setInterval(() => undefined, 1000);\n`);
  const app = await startApp({ entry, readyLine: (l) => l.startsWith('listening on') });
  expect(app.lines).toContain('listening on 1234');
  expect(await app.stop('SIGKILL')).toBeNull();
});
