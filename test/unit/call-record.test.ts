import { buildCallRecord, callKey, legFacts } from '../../lib/call/call-record';

describe('call records', () => {
  it('keys a call by the caller Call-ID and From tag, so two calls sharing a Call-ID stay apart', () => {
    expect(callKey('abc@host', 't1')).toBe('abc@host;t1');
    expect(callKey('abc@host', 't1')).not.toBe(callKey('abc@host', 't2'));
  });

  it('takes a leg from what drachtio-srf dialogs have', () => {
    const dialog = { id: 'cid;from-tag=lt', sip: { callId: 'cid', localTag: 'lt', remoteTag: 'rt' }, remote: { uri: 'sip:x@10.0.0.1:5060' } };
    expect(legFacts(dialog)).toEqual({ callId: 'cid', localTag: 'lt', remoteTag: 'rt', dialogId: 'cid;from-tag=lt', remoteUri: 'sip:x@10.0.0.1:5060' });
  });

  it('builds the flat Redis record with both legs, route, target, owner and times', () => {
    const a = { callId: 'a-cid', localTag: 'a-lt', remoteTag: 'a-rt', dialogId: 'a-did', remoteUri: 'sip:caller@192.0.2.1' };
    const b = { callId: 'b-cid', localTag: 'b-lt', remoteTag: 'b-rt', dialogId: 'b-did', remoteUri: 'sip:sbc@10.0.0.1:5060' };
    const rec = buildCallRecord({
      key: 'a-cid;a-rt',
      route: 'r1',
      target: 'udp:10.0.0.1:5060',
      instance: 'node-1',
      server: '127.0.0.1:9022',
      startedAt: 10,
      answeredAt: 20,
      a,
      b,
    });
    expect(rec).toEqual({
      key: 'a-cid;a-rt',
      callId: 'a-cid',
      route: 'r1',
      target: 'udp:10.0.0.1:5060',
      instance: 'node-1',
      server: '127.0.0.1:9022',
      startedAt: 10,
      answeredAt: 20,
      aCallId: 'a-cid',
      aLocalTag: 'a-lt',
      aRemoteTag: 'a-rt',
      aDialogId: 'a-did',
      aUri: 'sip:caller@192.0.2.1',
      bCallId: 'b-cid',
      bLocalTag: 'b-lt',
      bRemoteTag: 'b-rt',
      bDialogId: 'b-did',
      bUri: 'sip:sbc@10.0.0.1:5060',
    });
  });
});
