import type { Dialog, Srf, SrfRequest, SrfResponse } from '../drachtio/srf';
import type { Logger } from '../logger';
import { release, type Answer } from './ring-group';

/** How long the caller may take to ACK our 200 for an offer-less INVITE (64 × T1, RFC 3261 Timer H). */
export const ACK_WAIT_MS = 32_000;

export interface Bridged {
  uas: Dialog;
  uac: Dialog;
}

/**
 * Answers the caller with a target's answer, making the call's two dialogs. With an offer in the
 * caller's INVITE the target's leg is already up: the caller gets its SDP in our 200, and requests
 * from the target are held until the caller's ACK (as drachtio-srf's createB2BUA does). Without an
 * offer, the caller gets the target's offer in our 200 and its ACK carries the answer, which goes
 * into the ACK to the target. Rejects when the caller's leg cannot be made (the caller cancelled or
 * never ACKed); the target's leg is then released (ACK and BYE), never left up.
 */
export async function bridge(
  srf: Srf,
  req: SrfRequest,
  res: SrfResponse,
  answer: Answer,
  headers: Record<string, string>,
  log: Logger,
  ackWaitMs = ACK_WAIT_MS,
): Promise<Bridged> {
  if (answer.kind === 'dialog') {
    const { uac } = answer;
    (uac as unknown as { queueRequests: boolean }).queueRequests = true;
    let uas: Dialog;
    try {
      uas = await srf.createUAS(req, res, { localSdp: uac.remote.sdp, headers });
    } catch (err) {
      await release(answer, log);
      throw err;
    }
    uas.once('ack', () => {
      (uac as unknown as { queueRequests: boolean }).queueRequests = false;
    });
    return { uas, uac };
  }

  let uas: Dialog;
  try {
    uas = await srf.createUAS(req, res, { localSdp: answer.sdp, headers });
  } catch (err) {
    await release(answer, log);
    throw err;
  }
  let ackReq: SrfRequest;
  try {
    ackReq = await callerAck(uas, ackWaitMs);
  } catch (err) {
    await release(answer, log);
    if (uas.connected) await uas.destroy().catch(() => undefined);
    throw err;
  }
  try {
    return { uas, uac: await answer.ack(ackReq.body) };
  } catch (err) {
    await uas.destroy().catch(() => undefined);
    throw err;
  }
}

/** The caller's ACK of our 200; rejects if the caller hangs up first or sends none in time. */
function callerAck(uas: Dialog, timeoutMs: number): Promise<SrfRequest> {
  return new Promise((resolve, reject) => {
    const emitter = uas as unknown as NodeJS.EventEmitter;
    const cleanup = (): void => {
      clearTimeout(timer);
      emitter.removeListener('ack', onAck);
      emitter.removeListener('destroy', onDestroy);
    };
    const onAck = (ack: SrfRequest): void => {
      cleanup();
      resolve(ack);
    };
    const onDestroy = (): void => {
      cleanup();
      reject(new Error('caller hung up before ACKing the answer'));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no ACK from the caller within ${String(timeoutMs)} ms`));
    }, timeoutMs);
    emitter.on('ack', onAck);
    emitter.on('destroy', onDestroy);
  });
}
