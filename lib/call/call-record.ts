import type { CallRecord } from '../store/call-store';

/** What identifies a call uniquely (RFC 3261 §8.2.2.2): the caller's Call-ID and From tag. */
export function callKey(callId: string, fromTag: string): string {
  return `${callId};${fromTag}`;
}

/** One leg's identifiers, as drachtio-srf's Dialog has them. */
export interface LegFacts {
  callId: string;
  localTag: string;
  remoteTag: string;
  /** drachtio-server's dialog id */
  dialogId: string;
  /** the peer's Contact URI */
  remoteUri: string;
}

/** The subset of a drachtio-srf Dialog that call records read. */
export interface DialogLike {
  id: string;
  sip: { callId: string; localTag: string; remoteTag: string };
  remote: { uri: string };
}

export function legFacts(d: DialogLike): LegFacts {
  return { callId: d.sip.callId, localTag: d.sip.localTag, remoteTag: d.sip.remoteTag, dialogId: d.id, remoteUri: d.remote.uri };
}

export interface AnsweredCall {
  key: string;
  route: string;
  target: string;
  instance: string;
  /** the drachtio-server the call's dialogs live on */
  server: string;
  startedAt: number;
  answeredAt: number;
  /** the caller's leg (we are its UAS) */
  a: LegFacts;
  /** the target's leg (we are its UAC) */
  b: LegFacts;
}

/** The Redis record of an answered call: flat string-able fields, everything another instance needs to end it. Pure. */
export function buildCallRecord(call: AnsweredCall): CallRecord {
  return {
    key: call.key,
    callId: call.a.callId,
    route: call.route,
    target: call.target,
    instance: call.instance,
    server: call.server,
    answeredAt: call.answeredAt,
    startedAt: call.startedAt,
    aCallId: call.a.callId,
    aLocalTag: call.a.localTag,
    aRemoteTag: call.a.remoteTag,
    aDialogId: call.a.dialogId,
    aUri: call.a.remoteUri,
    bCallId: call.b.callId,
    bLocalTag: call.b.localTag,
    bRemoteTag: call.b.remoteTag,
    bDialogId: call.b.dialogId,
    bUri: call.b.remoteUri,
  };
}
