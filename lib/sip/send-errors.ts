/**
 * drachtio-server's refusals to send a request, as they reach drachtio-srf. Pure.
 *
 * drachtio-server answers the app `NOK|<reason>` and drachtio-srf turns that into a plain Error with
 * that message and code `EDRACHTIO` (lib/drachtio-agent.js `_makeRequest`); the message is all that
 * tells one refusal from another. Some say the request itself is unsendable, whichever target it goes
 * to; those are not the target's fault, so they neither move the hunt on nor count against the target:
 * `invalid request-uri: …` (src/sip-dialog-controller.cpp:510 and :607), `invalid from value provided by
 * client: …` (:570), `missing content-type` (:299, :601). Other refusals name a target problem
 * (`can not send request to myself`: the target is this drachtio-server; `requested protocol/transport
 * not available`: drachtio has no transport for the target's) and fail over.
 */
const REQUEST_FAULTS = [/^invalid request-uri: /, /^invalid from value provided by client: /, /^missing content-type$/];

export function isRequestFault(err: unknown): boolean {
  return err instanceof Error && (err as { code?: unknown }).code === 'EDRACHTIO' && REQUEST_FAULTS.some((re) => re.test(err.message));
}
