/**
 * The end-to-end test bed, proven with a minimal B2BUA (test/fixtures/apps/minimal-b2bua.ts):
 *
 *   sipp UAC --UDP--> drachtio (emulator, or real with DRACHTIO_BIN) <--TCP-- app --> drachtio --UDP--> sipp UAS
 *
 * Every verdict comes from sipp's statistics (calls created / successful / failed, and
 * per-message counts from -trace_counts) and exit codes.
 */
import { startDrachtio, type DrachtioServer } from '../harness/drachtio';
import { runUac, startApp, startUas, type AppProcess, type SippUas, type StartUasOptions, type UasBehaviour } from '../harness';

const APP = 'test/fixtures/apps/minimal-b2bua.ts';

let drachtio: DrachtioServer;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  drachtio = await startDrachtio();
});

afterAll(async () => {
  await drachtio?.stop();
});

afterEach(async () => {
  // app first (it holds the dialogs), then the sipp peers
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Bed {
  uas: SippUas;
  app: AppProcess;
  /** Where callers send: the drachtio SIP address. */
  sip: { host: string; port: number };
}

async function bed(behaviour: UasBehaviour, opts: { uas?: StartUasOptions; env?: Record<string, string>; server?: DrachtioServer } = {}): Promise<Bed> {
  const server = opts.server ?? drachtio;
  const uas = await startUas(behaviour, opts.uas);
  cleanups.push(() => uas.stop(500));
  const app = await startApp({
    entry: APP,
    env: {
      DRACHTIO_HOST: server.host,
      DRACHTIO_PORT: String(server.adminPort),
      DRACHTIO_SECRET: server.secret,
      TARGET_HOST: uas.host,
      TARGET_PORT: String(uas.port),
      ...opts.env,
    },
  });
  cleanups.push(() => app.stop());
  return { uas, app, sip: { host: server.sipAddress, port: server.sipPort } };
}

describe(`minimal B2BUA between sipp peers (drachtio: ${process.env.DRACHTIO_BIN ? 'real' : 'emulator'})`, () => {
  test('calls complete: INVITE/200/ACK reach the callee and the caller BYE ends both legs', async () => {
    const { uas, sip } = await bed('answer');
    const res = await runUac('call', { target: sip, calls: 3, rate: 10, holdMs: 300 });
    expect(res.exitCode).toBe(0);
    expect(res.stats.successfulCalls).toBe(3);
    expect(res.stats.failedCalls).toBe(0);
    const s = await uas.stop();
    expect(s.incomingCalls).toBe(3);
    expect(s.successfulCalls).toBe(3);
    expect(s.failedCalls).toBe(0);
    expect(s.messages.ACK_Recv).toBe(3);
    expect(s.messages.BYE_Recv).toBe(3);
  });

  test('a re-INVITE and an INFO from the caller are relayed to the callee', async () => {
    const { uas, sip } = await bed('answer');
    const res = await runUac('reinvite', { target: sip, calls: 1, holdMs: 200 });
    expect(res.exitCode).toBe(0);
    const s = await uas.stop();
    expect(s.successfulCalls).toBe(1);
    expect(s.messages.INVITE_Recv).toBe(2);
    expect(s.messages.INFO_Recv).toBe(1);
    expect(s.messages.BYE_Recv).toBe(1);
  });

  test('a caller CANCEL while ringing ends in 487; the callee saw CANCEL and answered 487; no leg left', async () => {
    const { uas, sip } = await bed('no-answer');
    const res = await runUac('cancel-after-ringing', { target: sip, calls: 2, holdMs: 300 });
    expect(res.exitCode).toBe(0);
    expect(res.stats.successfulCalls).toBe(2);
    expect(res.stats.messages['487_Recv']).toBe(2);
    // the B leg: CANCEL in, 200 + 487 out, ACK in => the callee's call ran to its end
    const s = await uas.waitForStats((x) => x.successfulCalls + x.failedCalls >= 2);
    expect(s.currentCalls).toBe(0);
    const final = await uas.stop();
    expect(final.incomingCalls).toBe(2);
    expect(final.successfulCalls).toBe(2);
    expect(final.messages.CANCEL_Recv).toBe(2);
    expect(final.messages['487_Sent']).toBe(2);
    expect(final.messages.ACK_Recv).toBe(2);
  });

  test('a 486 from the callee is relayed to the caller (and ACKed on the B leg)', async () => {
    const { uas, sip } = await bed('busy-486');
    const res = await runUac('expect-status', { target: sip, calls: 2, expectStatus: 486 });
    expect(res.exitCode).toBe(0);
    expect(res.stats.successfulCalls).toBe(2);
    const s = await uas.stop();
    expect(s.incomingCalls).toBe(2);
    expect(s.messages['486_Sent']).toBe(2);
    expect(s.successfulCalls).toBe(2);
  });

  test('the expect-status check fails the run when the relayed status is not the expected one', async () => {
    const { uas, sip } = await bed('unavailable-503');
    const res = await runUac('expect-status', { target: sip, calls: 1, expectStatus: 486 });
    expect(res.exitCode).not.toBe(0);
    expect(res.stats.failedCalls).toBe(1);
    const s = await uas.stop();
    expect(s.messages['503_Sent']).toBe(1);
  });

  test('a BYE from the callee ends both legs', async () => {
    const { uas, sip } = await bed('answer-then-bye', { uas: { delayMs: 300 } });
    const res = await runUac('callee-bye', { target: sip, calls: 2, timeoutMs: 5000 });
    expect(res.exitCode).toBe(0);
    expect(res.stats.successfulCalls).toBe(2);
    expect(res.stats.messages.BYE_Recv).toBe(2);
    const s = await uas.stop();
    expect(s.successfulCalls).toBe(2); // its BYE got a 200
    expect(s.messages.BYE_Sent).toBe(2);
  });

  test('a retransmitted INVITE is absorbed: the callee sees one call', async () => {
    const { uas, sip } = await bed('delayed-answer', { uas: { delayMs: 500 } });
    const res = await runUac('retransmit-invite', { target: sip, calls: 1, holdMs: 200 });
    expect(res.exitCode).toBe(0);
    expect(res.invitesDuplicated).toBe(1); // drachtio got the INVITE twice (loopback UDP)
    const s = await uas.stop();
    expect(s.incomingCalls).toBe(1);
    expect(s.messages.INVITE_Recv).toBe(1);
    expect(s.successfulCalls).toBe(1);
  });

  test('an unanswered (ringing) call times out in the app: 408 to the caller, CANCEL to the callee', async () => {
    const { uas, sip } = await bed('no-answer', { env: { NO_ANSWER_TIMEOUT_MS: '1500' } });
    const started = Date.now();
    const res = await runUac('expect-status', { target: sip, calls: 1, expectStatus: 408 });
    expect(res.exitCode).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    const s = await uas.waitForStats((x) => x.successfulCalls + x.failedCalls >= 1);
    expect(s.messages.CANCEL_Recv).toBe(1);
    expect(s.messages['487_Sent']).toBe(1);
    expect(s.successfulCalls).toBe(1);
  });
});

describe('an INVITE that gets no response at all (Timer B)', () => {
  // drachtio's transaction layer ends an unanswered INVITE client transaction after Timer B
  // (64*T1) with a locally generated 408 that reaches the app (drachtio sets NTATAG_PASS_408);
  // the app passes it to the caller. With the default T1 = 500 ms that is 32 s; here the server
  // runs with T1 = 100 ms (emulator: --t1; real drachtio-server: sip/timers in its config), so
  // Timer B = 6.4 s.
  let server: DrachtioServer;
  const T1 = 100;
  const timerB = 64 * T1;

  beforeAll(async () => {
    server = await startDrachtio({ t1: T1 });
  });
  afterAll(async () => {
    await server?.stop();
  });

  test(
    'the caller gets 408 after Timer B; the callee saw one INVITE and sent nothing',
    async () => {
      const { uas, sip } = await bed('silent', { server });
      const started = Date.now();
      const res = await runUac('expect-status', { target: sip, calls: 1, expectStatus: 408, timeoutMs: timerB + 8000 });
      expect(res.exitCode).toBe(0);
      expect(Date.now() - started).toBeGreaterThanOrEqual(timerB - 500);
      const s = await uas.stop(200);
      expect(s.incomingCalls).toBe(1);
      expect(s.messages['100_Sent'] ?? 0).toBe(0);
      expect(s.messages.INVITE_Retrans).toBeGreaterThan(0); // drachtio retransmitted (Timer A)
    },
    timerB + 30000,
  );
});
