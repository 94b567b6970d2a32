/** The background read behind the in-memory views of Redis (lib/store/refresher.ts). */
import { Refresher } from '../../lib/store/refresher';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Refresher', () => {
  it('never runs two reads at once: a run while one is in flight is skipped', async () => {
    let reads = 0;
    let release!: () => void;
    const read = () => {
      reads += 1;
      return new Promise<void>((r) => (release = r));
    };
    const r = new Refresher(
      () => true,
      () => undefined,
    );
    const first = r.run(read);
    await r.run(read);
    expect(reads).toBe(1);
    release();
    await first;
    const third = r.run(read);
    release();
    await third;
    expect(reads).toBe(2);
  });

  it('does not read while the store is away', async () => {
    let available = false;
    let reads = 0;
    const r = new Refresher(
      () => available,
      () => undefined,
    );
    await r.run(() => Promise.resolve(void (reads += 1)));
    available = true;
    await r.run(() => Promise.resolve(void (reads += 1)));
    expect(reads).toBe(1);
  });

  it('hands a failed read to onError, never rejects, and reads again next time', async () => {
    const errors: unknown[] = [];
    let reads = 0;
    const r = new Refresher(
      () => true,
      (err) => errors.push((err as Error).message),
    );
    await expect(
      r.run(() => {
        reads += 1;
        return Promise.reject(new Error('redis gone'));
      }),
    ).resolves.toBeUndefined();
    await r.run(() => Promise.resolve(void (reads += 1)));
    expect({ errors, reads }).toEqual({ errors: ['redis gone'], reads: 2 });
  });

  it('reads at start and then every interval until stopped; a second start replaces the first timer', async () => {
    let reads = 0;
    const r = new Refresher(
      () => true,
      () => undefined,
    );
    r.start(20, () => Promise.resolve(void (reads += 1)));
    r.start(20, () => Promise.resolve(void (reads += 1)));
    expect(r.started).toBe(true);
    await sleep(110);
    r.stop();
    expect(r.started).toBe(false);
    const atStop = reads;
    // two immediate reads (one per start) plus one per 20 ms from the one timer left: about 7, not 12
    expect(atStop).toBeGreaterThanOrEqual(4);
    expect(atStop).toBeLessThanOrEqual(8);
    await sleep(60);
    expect(reads).toBe(atStop);
  });
});
