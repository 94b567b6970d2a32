import type { Logger } from '../logger';
import { copyHeaders, type HeaderMatcher } from '../sip/headers';
import { SipError, type Dialog, type SipMethod, type SrfRequest, type SrfResponse } from '../drachtio/srf';

/** In-dialog requests relayed to the other leg; BYE is handled by the session's teardown. */
export const RELAYED_METHODS = ['info', 'notify', 'message', 'options', 'refer', 'update'] as const;

function statusOf(err: unknown): number {
  return err instanceof SipError ? err.status : 500;
}

/**
 * What to forward of a message to the other leg: the headers the policy allows, and the body with its
 * Content-Type (which the policy may not list). Without a body there is no Content-Type to forward,
 * whatever the message claimed.
 */
export function forwardedParts(msg: SrfRequest | SrfResponse, matcher: HeaderMatcher): { headers: Record<string, string>; body?: string } {
  const headers = copyHeaders(msg.headers, matcher);
  for (const name of Object.keys(headers)) if (name.toLowerCase() === 'content-type') delete headers[name];
  const contentType = msg.get('Content-Type');
  if (msg.body && contentType) headers['Content-Type'] = contentType;
  return msg.body ? { headers, body: msg.body } : { headers };
}

/** What a dialog's relay handlers need: the other leg, which side this one is, the header policy, the call's log. */
interface Relay {
  to: Dialog;
  side: 'caller' | 'target';
  matcher: HeaderMatcher;
  log: Logger;
}

const RELAY = Symbol('sipd.relay');
type RelayingDialog = Dialog & { [RELAY]?: Relay };
type Handler = (this: RelayingDialog, req: SrfRequest, res: SrfResponse) => void;

// One handler per method for every call, finding its call on the dialog it is called on (an emitter calls
// its listeners with itself as `this`): no closures per call, which would live as long as the call does
const onModify: Handler = function (req, res) {
  const r = this[RELAY];
  if (r) void relayReinvite(r.to, this, req, res, r.matcher, r.log.child({ from: r.side }));
};
const onRequest = new Map<(typeof RELAYED_METHODS)[number], Handler>(
  RELAYED_METHODS.map((method) => {
    const sipMethod = method.toUpperCase() as SipMethod;
    const handler: Handler = function (req, res) {
      const r = this[RELAY];
      if (r) void relayRequest(r.to, sipMethod, req, res, r.matcher, r.log.child({ from: r.side }));
    };
    return [method, handler];
  }),
);

/**
 * Relays re-INVITE, UPDATE, INFO, NOTIFY, MESSAGE, OPTIONS and REFER between the two legs of a call,
 * each answered with the other leg's response. Attach synchronously once both dialogs exist:
 * a re-INVITE is not held back by drachtio-srf (lib/dialog.js).
 */
export function relayInDialogRequests(a: Dialog, b: Dialog, matcher: HeaderMatcher, log: Logger): void {
  const wire = (from: RelayingDialog, to: Dialog): void => {
    from[RELAY] = { to, side: from.type === 'uas' ? 'caller' : 'target', matcher, log };
    from.on('modify', onModify);
    for (const [method, handler] of onRequest) from.on(method, handler);
  };
  wire(a, b);
  wire(b, a);
}

async function relayRequest(to: Dialog, method: SipMethod, req: SrfRequest, res: SrfResponse, matcher: HeaderMatcher, log: Logger): Promise<void> {
  try {
    const response = await to.request({ method, ...forwardedParts(req, matcher) });
    res.send(response.status, response.reason, forwardedParts(response, matcher));
    log.debug({ method, status: response.status }, 'in-dialog request relayed');
  } catch (err) {
    const status = to.connected ? statusOf(err) : 481;
    log.warn({ method, status, err }, 'relaying in-dialog request failed');
    res.send(status, 'Relay Failed');
  }
}

async function relayReinvite(to: Dialog, from: Dialog, req: SrfRequest, res: SrfResponse, matcher: HeaderMatcher, log: Logger): Promise<void> {
  // the policy's headers go on the re-INVITE; drachtio-srf's modify() returns only the SDP of the
  // response, so nothing of the other leg's 200 but its SDP comes back
  const { headers } = forwardedParts(req, matcher);
  try {
    if (req.body) {
      const answer = await to.modify(req.body, { headers });
      res.send(200, 'OK', { headers: { 'Content-Type': 'application/sdp' }, body: answer });
      log.debug('re-INVITE relayed');
      return;
    }
    // offer-less re-INVITE: the other leg's offer goes back in our 200, the answer comes in the caller's ACK
    const { sdp, ack } = await to.modify({ noAck: true, headers });
    from.once('ack', (ackReq: SrfRequest) => ack(ackReq.body));
    res.send(200, 'OK', { headers: { 'Content-Type': 'application/sdp' }, body: sdp });
    log.debug('offer-less re-INVITE relayed');
  } catch (err) {
    const status = to.connected ? statusOf(err) : 481;
    log.warn({ status, err }, 're-INVITE relay failed');
    res.send(status, 'Relay Failed');
  }
}
