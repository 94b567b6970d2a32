/** The soak's default rate (bench/soak-rate.ts): 80 % of the newest full bench's top, trial runs left out. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultRate, FALLBACK_RATE } from '../../bench/soak-rate';

function writeResult(dir: string, name: string, r: Record<string, unknown>): void {
  fs.writeFileSync(path.join(dir, name), JSON.stringify(r));
}

describe('soak default rate', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'soak-rate-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const full = (startedAt: string, top: number, notes: string[] = []) => ({
    startedAt,
    drachtio: 'real',
    mode: { name: 'full' },
    headline: { dispatcher: top },
    notes,
  });

  it('takes 80 % of the newest full result for the same drachtio kind', () => {
    writeResult(dir, 'a-full-real.json', full('2026-12-03T09:00:00Z', 500));
    writeResult(dir, 'b-full-real.json', full('2026-12-03T11:56:00Z', 400));
    writeResult(dir, 'c-quick-real.json', { ...full('2026-12-03T12:30:00Z', 100), mode: { name: 'quick' } });
    writeResult(dir, 'd-full-emulator.json', { ...full('2026-12-03T12:40:00Z', 200), drachtio: 'emulator' });
    expect(defaultRate('real', [dir]).rate).toBe(320);
    expect(defaultRate('emulator', [dir]).rate).toBe(160);
  });

  it('leaves out a run that tried the dispatcher with --set or --node-flag', () => {
    writeResult(dir, 'a-full-real.json', full('2026-12-03T11:56:00Z', 400));
    writeResult(dir, 'b-full-real.json', full('2026-12-03T12:04:00Z', 500, ['the dispatcher ran with overload.maxSettingUp = 200 (--set)']));
    writeResult(dir, 'c-full-real.json', full('2026-12-03T12:10:00Z', 600, ['the dispatcher ran with node --max-semi-space-size=32 (--node-flag)']));
    expect(defaultRate('real', [dir])).toEqual({ rate: 320, source: expect.stringContaining('a-full-real.json') as string });
    writeResult(dir, 'd-full-real.json', { ...full('2026-12-03T12:20:00Z', 700), trial: { set: { overload: { maxSettingUp: 200 } }, nodeFlags: [] } });
    expect(defaultRate('real', [dir]).rate).toBe(320);
  });

  it('falls back when there is no result, and skips soak reports and files that are not results', () => {
    writeResult(dir, 'x-soak-real.json', full('2026-12-03T13:00:00Z', 900));
    fs.writeFileSync(path.join(dir, 'broken.json'), '{');
    expect(defaultRate('real', [dir, path.join(dir, 'missing')]).rate).toBe(FALLBACK_RATE);
  });
});
