/**
 * AdoptedCall's watch loop without sockets: drachtio-srf's `request` is replaced by a script of what
 * drachtio-server answers (the same NOK texts its doSendRequestInsideDialog sends, which drachtio-srf
 * turns into ENODIALOG / EDRACHTIO errors). The end-to-end behaviour is in test/sip/cluster.test.ts.
 */
import { AdoptedCall, LOCAL_PROBE_METHOD, type ReleaseReason } from '../../lib/cluster/adopted-call';
import type { Srf } from '../../lib/drachtio/srf';
import { createLogger } from '../../lib/logger';
import type { CallRecord } from '../../lib/store/call-store';

const record: CallRecord = {
  key: 'c1@host;ftag',
  callId: 'c1@host',
  route: 'r',
  target: 'udp:10.0.0.5:5060',
  instance: 'node-b',
  server: '127.0.0.1:9022',
  answeredAt: 2,
  startedAt: 1,
  aCallId: 'c1@host',
  aLocalTag: 'al',
  aRemoteTag: 'ftag',
  aDialogId: 'A',
  aUri: 'sip:caller@10.0.0.1',
  bCallId: 'b1',
  bLocalTag: 'bl',
  bRemoteTag: 'br',
  bDialogId: 'B',
  bUri: 'sip:callee@10.0.0.5',
};

type Answer = 'up' | 'gone' | 'refused';

/** What drachtio-server answers a request on a dialog, as drachtio-srf hands it to the callback. */
function fakeSrf(answer: (dialogId: string) => Answer, sent: Array<{ method: string; dialogId: string }>): Srf {
  const request = (
    _uri: string,
    opts: { method: string; stackDialogId: string },
    cb: (err: (Error & { code?: string }) | null, req?: unknown) => void,
  ): void => {
    sent.push({ method: opts.method, dialogId: opts.stackDialogId });
    const state = answer(opts.stackDialogId);
    const nok = (text: string, code: string): void => {
      setImmediate(() => cb(Object.assign(new Error(text), { code })));
    };
    if (state === 'refused') return nok('Server error: Error creating sip transaction for request', 'EDRACHTIO');
    if (state === 'gone') return nok('Server error: unable to find dialog for dialog id provided', 'ENODIALOG');
    if (opts.method === LOCAL_PROBE_METHOD)
      return nok(`Server error: invalid or missing method supplied on start line: ${opts.method} sip:placeholder SIP/2.0`, 'EDRACHTIO');
    // a BYE: sent, and the peer answers 200
    setImmediate(() =>
      cb(null, {
        on: (_e: string, h: (res: { status: number }) => void) => setImmediate(() => h({ status: 200 })),
      }),
    );
  };
  return { request } as unknown as Srf;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('AdoptedCall', () => {
  let lines: Array<Record<string, unknown>>;
  let calls: AdoptedCall[];
  const logger = () => createLogger('info', { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) });

  beforeEach(() => {
    lines = [];
    calls = [];
  });
  afterEach(() => calls.forEach((c) => c.stop()));

  function watch(answer: (dialogId: string) => Answer, sent: Array<{ method: string; dialogId: string }> = []): Promise<ReleaseReason> {
    return new Promise((resolve) => {
      const call = new AdoptedCall(record, fakeSrf(answer, sent), 20, 0, logger().child({ callId: record.callId }), (_c, by) => resolve(by));
      calls.push(call);
      call.start();
    });
  }

  it('says, with the call id, that it watches the call', async () => {
    void watch(() => 'up');
    await sleep(5);
    expect(lines.find((l) => l.msg === 'watching an adopted call until a party hangs up')).toMatchObject({
      callId: record.callId,
      key: record.key,
      target: record.target,
    });
  });

  it('the caller leg gone: the target leg gets a BYE and the call is released as ended by the caller', async () => {
    const sent: Array<{ method: string; dialogId: string }> = [];
    let rounds = 0;
    const by = await watch((d) => (d === 'A' && (rounds += 1) > 2 ? 'gone' : 'up'), sent);
    expect(by).toBe('caller');
    expect(sent.filter((s) => s.method === 'BYE')).toEqual([{ method: 'BYE', dialogId: 'B' }]);
    expect(lines.find((l) => l.msg === 'adopted call ended: a leg hung up, the other was sent BYE')).toMatchObject({ by: 'caller', callId: record.callId });
  });

  it('a leg that cannot be probed: one warning for the streak, one line when probing works again, then the hangup is noticed', async () => {
    let round = 0;
    // rounds 1-4: B refused; 5-6: both up; from 7: A gone
    const answer = (d: string): Answer => {
      if (d === 'A') round += 1;
      if (round >= 7) return d === 'A' ? 'gone' : 'up';
      return d === 'B' && round <= 4 ? 'refused' : 'up';
    };
    expect(await watch(answer)).toBe('caller');
    const warned = lines.filter((l) => l.code === 'B2B_WARN_ADOPTED_UNPROBED');
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatchObject({ level: 'warn', callId: record.callId, dialogId: 'B', retryMs: 20 });
    expect(lines.filter((l) => l.msg === 'probing an adopted call works again')).toHaveLength(1);
    const order = lines.map((l) => l.msg);
    expect(order.indexOf('probing an adopted call works again')).toBeGreaterThan(
      order.findIndex((m) => typeof m === 'string' && m.startsWith('could not probe')),
    );
  });

  it('stop() during a probe: nothing more is sent and the call is not released (it stays recorded for a survivor)', async () => {
    const sent: Array<{ method: string; dialogId: string }> = [];
    let released = false;
    let rounds = 0;
    // the first round is in flight when the instance stops; it finds the caller gone
    void watch((d) => {
      if (d === 'A' && (rounds += 1) === 2) calls[0].stop();
      return rounds >= 2 && d === 'A' ? 'gone' : 'up';
    }, sent).then(() => (released = true));
    await sleep(150);
    expect(rounds).toBe(2);
    expect(sent.filter((s) => s.method === 'BYE')).toEqual([]);
    expect(released).toBe(false);
  });

  it('a probe that keeps failing never releases the call, and warns once', async () => {
    let released = false;
    void watch(() => 'refused').then(() => (released = true));
    await sleep(150);
    expect(released).toBe(false);
    expect(lines.filter((l) => l.code === 'B2B_WARN_ADOPTED_UNPROBED').length).toBeGreaterThanOrEqual(1);
    // both legs fail in the first round: at most one warning per leg, never one per round (about 7 rounds ran)
    expect(lines.filter((l) => l.code === 'B2B_WARN_ADOPTED_UNPROBED').length).toBeLessThanOrEqual(2);
  });
});
