import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { parseJsonLine, REPO_ROOT, trackChild } from '../harness/app';

const TSX = path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
const ENTRY = path.join(REPO_ROOT, 'test/fixtures/apps/fatal-fault.ts');
const FILLER_LINES = 2000; // as in the fixture

/** Runs the fixture to its end (SIGKILL after timeoutMs); resolves once its stdout is closed too. */
function runFixture(kind: string, timeoutMs = 15000): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const child = spawn(TSX, [ENTRY, kind], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

describe('a real process with the fatal handlers', () => {
  it.each([
    ['throw', 'uncaught exception; exiting'],
    ['reject', 'unhandled rejection; exiting'],
  ])('an asynchronous %s is logged at fatal after every earlier line, and the process exits 70', async (kind, msg) => {
    const { code, signal, stdout, stderr } = await runFixture(kind);
    expect({ code, signal, stderr }).toEqual({ code: 70, signal: null, stderr: '' });
    const logs = stdout
      .split('\n')
      .filter((l) => l !== '')
      .map(parseJsonLine);
    expect(logs.filter((l) => l?.msg === 'filler')).toHaveLength(FILLER_LINES);
    expect(logs[logs.length - 1]).toMatchObject({ level: 'fatal', msg, err: { type: 'Error', message: 'async boom' } });
  });
});
