/**
 * The Binding method (RFC 8489 §3, §6.3): answer with the request's source transport address as
 * XOR-MAPPED-ADDRESS. Pure; the server's socket adapters call it.
 */
import { AttrType, StunClass, StunMethod } from './constants.ts';
import { encodeXorAddress } from './address.ts';
import { encodeText } from './attributes.ts';
import { hasFingerprint } from './fingerprint.ts';
import type { TransportAddress } from './ip.ts';
import { encodeStunMessage, type DecodedStunMessage, type StunAttribute } from './message.ts';

/**
 * The success response to a Binding request from `source`. Carries SOFTWARE when given and
 * FINGERPRINT when the request had one (RFC 8489 §7.3: a server "SHOULD include" it then).
 */
export function bindingSuccess(request: DecodedStunMessage, source: TransportAddress, software = ''): Buffer {
  const attributes: StunAttribute[] = [{ type: AttrType.xorMappedAddress, value: encodeXorAddress(source, request.transactionId) }];
  if (software) attributes.push({ type: AttrType.software, value: encodeText(software) });
  return encodeStunMessage(
    { method: StunMethod.binding, cls: StunClass.success, transactionId: request.transactionId, attributes },
    { fingerprint: hasFingerprint(request) },
  );
}
