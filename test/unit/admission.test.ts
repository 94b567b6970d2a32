/**
 * The INVITE middleware chain, without sockets: each step gets a request and response object shaped
 * like drachtio-srf's (only what the step reads) and either calls next() or answers.
 */
import {
  admitted,
  chain,
  limitHops,
  parseMaxForwards,
  refuseMergedRequest,
  refuseUnsupportedExtensions,
  refuseWhileDraining,
  requiredExtensions,
  routeCall,
  type AdmissionContext,
} from '../../lib/call/admission';
import { validateConfig } from '../../lib/config/load';
import type { SrfRequest, SrfResponse } from '../../lib/drachtio/srf';
import { createLogger } from '../../lib/logger';
import { compileRoutes } from '../../lib/routing/match';

function fakeReq(uri: string, opts: { callId?: string; fromTag?: string; source?: string; maxForwards?: string } = {}): SrfRequest {
  const headers: Record<string, string> = { 'call-id': opts.callId ?? 'cid@test' };
  if (opts.maxForwards !== undefined) headers['max-forwards'] = opts.maxForwards;
  return {
    uri,
    source_address: opts.source ?? '192.0.2.10',
    get: (name: string) => headers[name.toLowerCase()],
    getParsedHeader: () => ({ params: { tag: opts.fromTag ?? 'ftag' } }),
  } as unknown as SrfRequest;
}

function fakeRes(): SrfResponse & { sent: Array<{ status: number; reason?: string; opts?: { headers?: Record<string, string> } }> } {
  const sent: Array<{ status: number; reason?: string; opts?: { headers?: Record<string, string> } }> = [];
  return { sent, send: (status: number, reason?: string, opts?: { headers?: Record<string, string> }) => sent.push({ status, reason, opts }) } as never;
}

const lines: Array<Record<string, unknown>> = [];
const logger = createLogger('info', { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) });
const ended: SrfRequest[] = [];
const ctx: AdmissionContext = { logger, endSession: (req) => ended.push(req) };

const config = validateConfig({
  drachtio: { servers: [{ host: '127.0.0.1', secret: 's3cret' }] },
  routes: [
    { name: 'fwd', match: { domains: ['fwd.test'] }, targets: [{ host: '10.0.0.1' }] },
    { name: 'strip', match: { domains: ['strip.test'] }, userParameters: 'strip', targets: [{ host: '10.0.0.2' }] },
    { name: 'reject', match: { domains: ['reject.test'] }, userParameters: 'reject', targets: [{ host: '10.0.0.3' }] },
    { name: 'pbx', match: { sources: ['10.10.10.0/24'] }, targets: [{ host: '10.0.0.4' }] },
    { name: 'unresolved', match: { domains: ['unresolved.test'] }, targets: [{ srv: '_sip._udp.pool.test' }] },
  ],
});
const routes = compileRoutes(config.routes);

/** Runs one step; returns whether it called next(). */
function run(step: (req: SrfRequest, res: SrfResponse, next: () => void) => void, req: SrfRequest, res: SrfResponse): boolean {
  let passed = false;
  step(req, res, () => {
    passed = true;
  });
  return passed;
}

beforeEach(() => {
  lines.length = 0;
  ended.length = 0;
});

describe('refuseWhileDraining', () => {
  it('passes while not draining; answers 503 with Retry-After while draining, and ends the outbound session', () => {
    let draining = false;
    const step = refuseWhileDraining(() => draining, 17, ctx);
    const res = fakeRes();
    expect(run(step, fakeReq('sip:1@fwd.test'), res)).toBe(true);
    expect(res.sent).toEqual([]);
    draining = true;
    const req = fakeReq('sip:1@fwd.test');
    expect(run(step, req, res)).toBe(false);
    expect(res.sent).toEqual([{ status: 503, reason: 'Shutting Down', opts: { headers: { 'Retry-After': '17' } } }]);
    expect(ended).toEqual([req]);
  });
});

describe('limitHops', () => {
  it('parses Max-Forwards: digits only, else undefined', () => {
    expect(parseMaxForwards('70')).toBe(70);
    expect(parseMaxForwards(' 0 ')).toBe(0);
    expect(parseMaxForwards(undefined)).toBeUndefined();
    expect(parseMaxForwards('')).toBeUndefined();
    expect(parseMaxForwards('-1')).toBeUndefined();
    expect(parseMaxForwards('7a')).toBeUndefined();
  });

  it('answers 483 to Max-Forwards 0 without passing it on, and logs the loop once at warn', () => {
    const req = fakeReq('sip:1@fwd.test', { maxForwards: '0' });
    const res = fakeRes();
    expect(run(limitHops(ctx), req, res)).toBe(false);
    expect(res.sent).toEqual([{ status: 483, reason: 'Too Many Hops', opts: undefined }]);
    expect(ended).toEqual([req]);
    expect(lines.filter((l) => l.code === 'B2B_ERR_TOO_MANY_HOPS')).toEqual([expect.objectContaining({ level: 'warn', status: 483, callId: 'cid@test' })]);
  });

  it.each([
    ['1', 0],
    ['5', 4],
    ['70', 69],
    [undefined, 70],
    ['junk', 70],
    ['4000000000', 255],
  ])('passes Max-Forwards %s on as %d', (value, forwarded) => {
    const req = fakeReq('sip:1@fwd.test', { maxForwards: value });
    const res = fakeRes();
    expect(run(limitHops(ctx), req, res)).toBe(true);
    expect(res.sent).toEqual([]);
    expect((req as unknown as Record<symbol, { maxForwards?: number }>)[Object.getOwnPropertySymbols(req)[0]].maxForwards).toBe(forwarded);
  });
});

describe('refuseMergedRequest', () => {
  it('answers 482 to an INVITE whose Call-ID and From tag belong to a call in progress, and passes others', () => {
    const inProgress = new Set(['cid@test;ftag']);
    const step = refuseMergedRequest({ has: (k) => inProgress.has(k) }, ctx);
    const res = fakeRes();
    expect(run(step, fakeReq('sip:1@fwd.test', { fromTag: 'other' }), res)).toBe(true);
    expect(run(step, fakeReq('sip:1@fwd.test', { callId: 'new@test' }), res)).toBe(true);
    expect(res.sent).toEqual([]);
    expect(run(step, fakeReq('sip:1@fwd.test'), res)).toBe(false);
    expect(res.sent.map((s) => s.status)).toEqual([482]);
    expect(lines.find((l) => l.code === 'B2B_ERR_MERGED_REQUEST')).toMatchObject({ status: 482, callId: 'cid@test' });
  });
});

describe('routeCall', () => {
  const counted: string[] = [];
  const step = routeCall(
    () => routes,
    config,
    ctx,
    (r) => counted.push(r),
  );
  beforeEach(() => {
    counted.length = 0;
  });

  /** runs merge detection (which records the call key) then routing */
  function admit(req: SrfRequest, res: SrfResponse): boolean {
    return run(limitHops(ctx), req, res) && run(refuseMergedRequest({ has: () => false }, ctx), req, res) && run(step, req, res);
  }

  it('routes by Request-URI domain, keeping user parameters, and by source network', () => {
    const req = fakeReq('sip:+4940123;npdi;rn=+4940999@fwd.test;user=phone');
    expect(admit(req, fakeRes())).toBe(true);
    expect(admitted(req)).toMatchObject({ key: 'cid@test;ftag', user: '+4940123;npdi;rn=+4940999' });
    expect(admitted(req).route.name).toBe('fwd');
    const fromPbx = fakeReq('sip:0049401234@198.51.100.1', { source: '10.10.10.7' });
    expect(admit(fromPbx, fakeRes())).toBe(true);
    expect(admitted(fromPbx).route.name).toBe('pbx');
  });

  it('answers noRouteStatus when no route matches', () => {
    const res = fakeRes();
    expect(admit(fakeReq('sip:1@nowhere.test'), res)).toBe(false);
    expect(res.sent.map((s) => s.status)).toEqual([404]);
  });

  it('strips user parameters on a strip route, counts every call, warns once per route', () => {
    for (let i = 0; i < 3; i += 1) {
      const req = fakeReq('sip:+4940123;npdi;rn=+4940999@strip.test');
      expect(admit(req, fakeRes())).toBe(true);
      expect(admitted(req).user).toBe('+4940123');
    }
    const plain = fakeReq('sip:+4940123@strip.test');
    expect(admit(plain, fakeRes())).toBe(true);
    expect(counted).toEqual(['strip', 'strip', 'strip']);
    expect(lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('stripping user parameters'))).toHaveLength(1);
  });

  it('answers 403 on a reject route when the number carries user parameters, and passes one without', () => {
    const res = fakeRes();
    expect(admit(fakeReq('sip:+4940123;npdi@reject.test'), res)).toBe(false);
    expect(res.sent.map((s) => s.status)).toEqual([403]);
    expect(lines.some((l) => l.code === 'B2B_ERR_USER_PARAMETERS')).toBe(true);
    expect(admit(fakeReq('sip:+4940123@reject.test'), fakeRes())).toBe(true);
  });

  it('answers allFailedStatus with Retry-After, trying nothing, when the route has no resolved target (a DNS name not answered)', () => {
    const res = fakeRes();
    expect(admit(fakeReq('sip:1@unresolved.test'), res)).toBe(false);
    expect(res.sent).toEqual([{ status: 503, reason: 'No Target Available', opts: { headers: { 'Retry-After': '30' } } }]);
    expect(lines.some((l) => l.code === 'B2B_ERR_NO_TARGET' && l.route === 'unresolved')).toBe(true);
  });

  it('answers 414 when the forwarded Request-URI would be longer than drachtio-server sends', () => {
    const res = fakeRes();
    expect(admit(fakeReq(`sip:+49${'1'.repeat(600)}@fwd.test`), res)).toBe(false);
    expect(res.sent.map((s) => s.status)).toEqual([414]);
  });
});

describe('refuseUnsupportedExtensions', () => {
  const step = refuseUnsupportedExtensions(ctx);
  const withRequire = (value: string | undefined): SrfRequest => {
    const req = fakeReq('sip:1@fwd.test');
    const get = req.get.bind(req);
    return Object.assign(req, { get: (name: string) => (name.toLowerCase() === 'require' ? value : get(name)) });
  };

  it('passes an INVITE that requires nothing', () => {
    const res = fakeRes();
    expect(run(step, withRequire(undefined), res)).toBe(true);
    expect(res.sent).toEqual([]);
  });

  it('answers 420 with Unsupported listing every required option tag it does not implement', () => {
    const res = fakeRes();
    expect(run(step, withRequire('100rel, X-Frobnicate'), res)).toBe(false);
    expect(res.sent).toEqual([{ status: 420, reason: 'Bad Extension', opts: { headers: { Unsupported: '100rel, x-frobnicate' } } }]);
    expect(requiredExtensions(' timer ,,replaces')).toEqual(['timer', 'replaces']);
  });
});

describe('chain', () => {
  const req = fakeReq('sip:1@fwd.test');
  const record = (name: string, seen: string[], then: 'next' | 'answer' | 'fail') => (_q: SrfRequest, res: SrfResponse, next: (err?: unknown) => void) => {
    seen.push(name);
    if (then === 'next') next();
    else if (then === 'fail') next(new Error(name));
    else res.send(403);
  };

  it('runs the steps in order and then leaves the chain', () => {
    const seen: string[] = [];
    const outcome: unknown[] = [];
    chain([record('a', seen, 'next'), record('b', seen, 'next'), record('c', seen, 'next')])(req, fakeRes(), (err) => outcome.push(err));
    expect({ seen, outcome }).toEqual({ seen: ['a', 'b', 'c'], outcome: [undefined] });
  });

  it('stops at a step that answers: neither the later steps nor the handler run', () => {
    const seen: string[] = [];
    const outcome: unknown[] = [];
    const res = fakeRes();
    chain([record('a', seen, 'next'), record('b', seen, 'answer'), record('c', seen, 'next')])(req, res, (err) => outcome.push(err));
    expect({ seen, outcome, sent: res.sent.map((s) => s.status) }).toEqual({ seen: ['a', 'b'], outcome: [], sent: [403] });
  });

  it("leaves with a step's error, skipping the rest", () => {
    const seen: string[] = [];
    const outcome: unknown[] = [];
    chain([record('a', seen, 'fail'), record('b', seen, 'next')])(req, fakeRes(), (err) => outcome.push((err as Error).message));
    expect({ seen, outcome }).toEqual({ seen: ['a'], outcome: ['a'] });
  });

  it('is reusable: each request starts at the first step', () => {
    const seen: string[] = [];
    const m = chain([record('a', seen, 'next'), record('b', seen, 'next')]);
    m(req, fakeRes(), () => seen.push('end'));
    m(req, fakeRes(), () => seen.push('end'));
    expect(seen).toEqual(['a', 'b', 'end', 'a', 'b', 'end']);
  });
});
