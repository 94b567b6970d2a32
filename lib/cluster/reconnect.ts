import type { Dialog, Srf, SrfResponse } from '../drachtio/srf';
import type { Logger } from '../logger';
import type { CallRecord } from '../store/call-store';

/**
 * What happens to a drachtio-server's calls when the connection to it comes back.
 *
 * drachtio-server keeps dialogs in memory only: one that restarts has none left, so the parties' BYEs
 * get 481 and nothing reaches this instance. Each call this instance holds on that server is checked
 * once after every reconnect (a local probe, lib/cluster/adopted-call.ts `dialogExists`): a call whose
 * dialogs are gone is ended here, and each party gets a BYE sent OUTSIDE a dialog, built from the
 * stored dialog data (below). A call whose dialogs survived (the connection dropped, the server did
 * not restart) has lost its owner there (drachtio-server ties a dialog to the connection that made
 * it): it is watched like an adopted call until a party hangs up.
 */

/**
 * The CSeq of a BYE sent for a dialog drachtio-server lost. It must be higher than any CSeq this side
 * used on the dialog, which only drachtio-server knew: sofia-sip starts a dialog's local CSeq at
 * `(sip_now() >> 1) & 0x7ffffff` (nta.c `nta_msg_request_complete`) and adds one per request, so the
 * largest CSeq RFC 3261 §8.1.1.5 allows (below 2**31) is above every value it can have used.
 */
export const LOST_DIALOG_CSEQ = 2 ** 31 - 1;

/** One leg of a lost dialog: where its BYE goes and the dialog identifiers it must carry. */
export interface LostLeg {
  /** the peer's Contact (the dialog's remote target); the BYE's Request-URI */
  target: string;
  callId: string;
  /** our side: the dialog's local URI with our tag */
  from: string;
  /** the peer: its URI with its tag */
  to: string;
}

/** A From/To value with its tag set to `tag` (the To of an initial INVITE has none); an addr-spec gets its brackets. */
export function withTag(value: string, tag: string): string {
  let v = value.trim();
  if (!v.includes('<')) {
    // addr-spec: what follows the first `;` are header parameters (RFC 3261 §20.10)
    const i = v.indexOf(';');
    v = i === -1 ? `<${v}>` : `<${v.slice(0, i)}>${v.slice(i)}`;
  }
  const close = v.lastIndexOf('>');
  const params = v.slice(close + 1).replace(/;\s*tag\s*=[^;]*/i, '');
  return `${v.slice(0, close + 1)}${params};tag=${tag}`;
}

/** The BYE data of a dialog drachtio-srf made: we are UAS (the caller's leg) or UAC (the target's leg). */
export function lostLegOf(d: Dialog, type: 'uas' | 'uac'): LostLeg {
  const dlg = d as Dialog & { req: { get(h: string): string }; res?: { get(h: string): string }; remote: { uri: string } };
  if (type === 'uas') {
    // the caller's INVITE: its To is our URI (no tag yet), its From the caller's, with the caller's tag
    return {
      target: dlg.remote.uri,
      callId: d.sip.callId,
      from: withTag(dlg.req.get('To'), d.sip.localTag),
      to: withTag(dlg.req.get('From'), d.sip.remoteTag),
    };
  }
  // our INVITE: its From carries our tag; the peer's tag is on the To of its 200
  const to = dlg.res?.get('To') ?? dlg.req.get('To');
  return { target: dlg.remote.uri, callId: d.sip.callId, from: withTag(dlg.req.get('From'), d.sip.localTag), to: withTag(to, d.sip.remoteTag) };
}

/**
 * The BYE data of one leg of a call record (another instance's call, or an adopted one). Records keep
 * the tags and the peer's Contact but not the dialog's URIs: the peer's Contact stands for its URI, and
 * `localhost` in From is replaced by drachtio-server with its own SIP address (drachtio.cpp
 * `replaceHostInUri`). Dialogs are matched on Call-ID and tags (RFC 3261 §12.2.2), not on these URIs.
 */
export function lostLegOfRecord(record: CallRecord, leg: 'a' | 'b'): LostLeg {
  const [callId, localTag, remoteTag, uri] =
    leg === 'a' ? [record.aCallId, record.aLocalTag, record.aRemoteTag, record.aUri] : [record.bCallId, record.bLocalTag, record.bRemoteTag, record.bUri];
  return { target: uri, callId, from: `<sip:sip-dispatcher@localhost>;tag=${localTag}`, to: `<${uri}>;tag=${remoteTag}` };
}

/**
 * Sends a BYE outside any dialog that the peer takes as the BYE of its dialog. drachtio-server keeps the
 * app's Call-ID, From (with its tag), To (with the peer's tag) and CSeq on such a request
 * (sip-dialog-controller.cpp `doSendRequestOutsideDialog`: `nta_leg_tcreate` with the app's From, To and
 * Call-ID; `nta_leg_tag(leg, NULL)` keeps a tag already there; sofia `nta_msg_request_complete` keeps
 * the app's CSeq number on a leg without one) — checked on v0.9.10. It cannot carry the dialog's route
 * set (drachtio-server drops Route headers from apps): it goes straight to the peer's Contact.
 * Resolves once drachtio-server has sent it; `onFinal` gets the final status (408 when the peer is silent).
 */
export function sendByeOutsideDialog(srf: Srf, leg: LostLeg, onFinal?: (status: number) => void, headers: Record<string, string> = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    srf.request(
      leg.target,
      { method: 'BYE', headers: { ...headers, 'Call-ID': leg.callId, From: leg.from, To: leg.to, CSeq: `${String(LOST_DIALOG_CSEQ)} BYE` } },
      (err, req) => {
        if (err) {
          reject(err);
          return;
        }
        req.on('response', (res: SrfResponse) => {
          if (res.status >= 200) onFinal?.(res.status);
        });
        resolve();
      },
    );
  });
}

/**
 * Calls `onReconnect` each time `srf` is connected again after its connection to drachtio-server was
 * lost (a 'close' or 'error' after a successful 'connect'), once the connection is authenticated.
 */
export function whenReconnected(srf: Srf, onReconnect: () => void): void {
  let connected = false;
  let lost = false;
  srf.on('connect', (err) => {
    if (err) return;
    const again = lost;
    connected = true;
    lost = false;
    if (again) onReconnect();
  });
  const down = (): void => {
    if (connected) lost = true;
    connected = false;
  };
  srf.on('close', down);
  srf.on('error', down);
}

/** How a call came out of the check after a reconnect. */
export type DialogCheck =
  /** not answered (yet), or already over: nothing to check */
  | 'unanswered'
  /** both dialogs gone: the call was ended and each party sent a BYE */
  | 'lost'
  /** a dialog still exists: the call is watched until a party hangs up */
  | 'watched'
  /** drachtio-server could not be asked; checked again at the next reconnect */
  | 'unknown';

/** A call that can check its dialogs on a drachtio-server (lib/call/call-session.ts). */
export interface DialogChecked {
  isOn(srf: Srf): boolean;
  checkDialogs(): Promise<DialogCheck>;
}

/** Checks every given call held on `srf`, all at once; logs one summary line. */
export async function checkCallsAfterReconnect(srf: Srf, calls: readonly DialogChecked[], log: Logger): Promise<Record<DialogCheck, number>> {
  const mine = calls.filter((c) => c.isOn(srf));
  const results = await Promise.all(mine.map((c) => c.checkDialogs().catch((): DialogCheck => 'unknown')));
  const counts: Record<DialogCheck, number> = { unanswered: 0, lost: 0, watched: 0, unknown: 0 };
  for (const r of results) counts[r] += 1;
  log.info({ calls: mine.length, ...counts }, 'reconnected to drachtio-server: checked the calls held on it');
  return counts;
}
