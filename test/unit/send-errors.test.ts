import { isRequestFault } from '../../lib/sip/send-errors';

describe('isRequestFault: drachtio-server refusing the request itself, as drachtio-srf reports it', () => {
  const refusal = (message: string, code?: string) => Object.assign(new Error(message), code === undefined ? {} : { code });

  it.each([
    'invalid request-uri: sip:+4940123;npdi@127.0.0.1:5060',
    'invalid request-uri: INVITE sip:+491111 SIP/',
    'invalid from value provided by client: <sip:x',
    'missing content-type',
  ])('is the request: %s', (message) => {
    expect(isRequestFault(refusal(message, 'EDRACHTIO'))).toBe(true);
  });

  it.each(['can not send request to myself', 'requested protocol/transport not available', 'Error creating sip transaction for uac request'])(
    'is the target (or drachtio) and fails over: %s',
    (message) => {
      expect(isRequestFault(refusal(message, 'EDRACHTIO'))).toBe(false);
    },
  );

  it('needs the EDRACHTIO error drachtio-srf makes, not any error with that text', () => {
    expect(isRequestFault(refusal('invalid request-uri: sip:x@y', 'ESOCKETDESTROYED'))).toBe(false);
    expect(isRequestFault(refusal('invalid request-uri: sip:x@y'))).toBe(false);
    expect(isRequestFault({ code: 'EDRACHTIO', message: 'invalid request-uri: sip:x@y' })).toBe(false);
    expect(isRequestFault(undefined)).toBe(false);
  });
});
