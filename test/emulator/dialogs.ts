/**
 * Dialog state, after drachtio-server src/sip-dialog.hpp (SipDialog::getDialogId etc.) and the
 * dialog maps of src/sip-dialog-controller.hpp / src/client-controller.cpp.
 */
import { parseNameAddr, parseUri } from './sip-message';
import type { ServerTransaction, ClientTransaction } from './transactions';
import type { Endpoint } from './udp-transport';
import type { AppClient } from './wire-server';

export type DialogType = 'uas' | 'uac';

export class Dialog {
  /** local / remote From-To header values (including their tag) */
  localParty = '';
  remoteParty = '';
  remoteTarget = '';
  /** route set (Record-Route as seen from our side, first hop first) */
  routeSet: string[] = [];
  localCSeq = 0;
  remoteCSeq = 0;
  /** CSeq number of the most recent INVITE we sent (ACK must reuse it) */
  lastInviteCSeq = 0;
  localContact = '';
  sipStatus = 0;
  /** drachtio transaction id of the request that created the dialog */
  transactionId = '';
  /** owning application connection (ClientController m_mapDialogs) */
  client?: AppClient;
  /** NAT handling: send in-dialog requests to the observed source instead of the Contact */
  natRoute?: Endpoint;
  /** UAS: the INVITE server transaction whose 2xx is being retransmitted until ACK */
  inviteStx?: ServerTransaction;
  timerG?: NodeJS.Timeout;
  timerH?: NodeJS.Timeout;
  /**
   * merged INVITEs sofia gave to this dialog while it was early; drachtio-server never routes them,
   * and they get 500 when the dialog ends (the irq is destroyed with it)
   */
  absorbedInvites: ServerTransaction[] = [];
  timerGInterval = 0;
  /** UAC: the INVITE (or re-INVITE) client transaction awaiting the app's ACK */
  ackTarget?: ClientTransaction;
  /** UAC: the ACK we sent for the last 2xx, re-sent when the 2xx is retransmitted */
  lastAck?: { raw: string; dest: Endpoint; cseq: number };
  /** set when a 200 OK arrives for an INVITE the app already CANCELed (ACK-BYE race) */
  ackBye = false;

  constructor(
    readonly type: DialogType,
    readonly callId: string,
    readonly localTag: string,
    public remoteTag: string,
  ) {}

  /** SipDialog::getDialogId: `<call-id>;from-tag=<tag of the From header of the initial request>` */
  get id(): string {
    return `${this.callId};from-tag=${this.type === 'uac' ? this.localTag : this.remoteTag}`;
  }

  /** Where to send an in-dialog request: first route hop, else NAT route, else remote target. */
  nextHop(): Endpoint | undefined {
    if (this.routeSet.length) {
      const u = parseUri(parseNameAddr(this.routeSet[0]).uri);
      if (u) return { address: u.host, port: u.port ?? 5060 };
    }
    if (this.natRoute) return this.natRoute;
    const u = parseUri(this.remoteTarget);
    return u ? { address: u.host, port: u.port ?? 5060 } : undefined;
  }
}

export class DialogStore {
  private readonly byId = new Map<string, Dialog>();

  add(d: Dialog): void {
    this.byId.set(d.id, d);
  }

  get(id: string): Dialog | undefined {
    return this.byId.get(id);
  }

  delete(d: Dialog): void {
    if (this.byId.get(d.id) === d) this.byId.delete(d.id);
  }

  /** Find the dialog an incoming in-dialog request belongs to (From tag = remote, To tag = local). */
  findForRequest(callId: string, fromTag: string | undefined, toTag: string | undefined): Dialog | undefined {
    if (!fromTag || !toTag) return undefined;
    const candidates = [this.byId.get(`${callId};from-tag=${fromTag}`), this.byId.get(`${callId};from-tag=${toTag}`)];
    return candidates.find((d) => d && d.localTag === toTag && d.remoteTag === fromTag);
  }

  ownedBy(client: AppClient): Dialog[] {
    return [...this.byId.values()].filter((d) => d.client === client);
  }

  all(): Dialog[] {
    return [...this.byId.values()];
  }

  get size(): number {
    return this.byId.size;
  }
}
