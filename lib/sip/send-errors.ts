/**
 * drachtio-server's refusals to send a request, as their text reaches drachtio-srf (the `Error`
 * message a createUAC rejects with). Pure.
 *
 * Some say the request itself is unsendable, whichever target it goes to; they are not the target's
 * fault, so they neither move the hunt on nor count against the target. The texts are drachtio-server's
 * own (src/sip-dialog-controller.cpp, `doSendRequestOutsideDialog`): `invalid request-uri: …`,
 * `invalid from value provided by client: …`, `missing content-type`. Other refusals name a target
 * problem (`can not send request to myself`: the target is this drachtio-server; `requested
 * protocol/transport not available`: drachtio has no transport for the target's) and fail over.
 */
const REQUEST_FAULTS = [/^invalid request-uri\b/i, /^invalid from value\b/i, /^missing content-type\b/i];

export function isRequestFault(message: string): boolean {
  return REQUEST_FAULTS.some((re) => re.test(message.trim()));
}
