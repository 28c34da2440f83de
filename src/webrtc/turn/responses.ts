/**
 * Building responses to a request: same method and transaction id, the integrity kind the request
 * used (when authenticated), FINGERPRINT when the request carried one.
 *
 * Unauthenticated answers (no key: challenges, Binding, 400/420 before authentication) carry only
 * what RFC 8489 requires: no SOFTWARE (§14.14: MAY), and an empty ERROR-CODE reason phrase (§14.8:
 * "fewer than 128 characters"; clients act on the code). Anyone can elicit them with a spoofed
 * source address over UDP, so every byte beyond the request is reflection amplification (issue 11
 * D3; see RFC 8489 §16 on denial of service). Authenticated responses keep SOFTWARE and
 * the reason phrases.
 */
import { encodeText } from '../stun/attributes.ts';
import { AttrType, StunClass } from '../stun/constants.ts';
import { encodeErrorCode } from '../stun/error-code.ts';
import { StunErrorCode, type StunErrorName } from '../stun/errors.ts';
import { hasFingerprint } from '../stun/fingerprint.ts';
import { integrityKind } from '../stun/integrity.ts';
import { encodeStunMessage, type DecodedStunMessage, type StunAttribute } from '../stun/message.ts';

export class Responder {
  constructor(private readonly software: string) {}

  /** A success response; `key` adds integrity of the kind the request used (RFC 8489 §9.2.4). */
  success(request: DecodedStunMessage, attributes: StunAttribute[], key?: Buffer): Buffer {
    return this.build(request, StunClass.success, attributes, key);
  }

  /** An error response with ERROR-CODE and its RFC reason phrase, then `attributes`. */
  error(request: DecodedStunMessage, name: StunErrorName, attributes: StunAttribute[] = [], key?: Buffer): Buffer {
    const { code, reason } = StunErrorCode[name];
    return this.build(request, StunClass.error, [{ type: AttrType.errorCode, value: encodeErrorCode(code, key ? reason : '') }, ...attributes], key);
  }

  private build(request: DecodedStunMessage, cls: StunClass, attributes: StunAttribute[], key: Buffer | undefined): Buffer {
    const attrs = this.software && key ? [...attributes, { type: AttrType.software, value: encodeText(this.software) }] : attributes;
    const kind = key ? integrityKind(request) : undefined;
    return encodeStunMessage(
      { method: request.method, cls, transactionId: request.transactionId, attributes: attrs },
      {
        integrityKey: kind === 'sha1' ? key : undefined,
        integritySha256Key: kind === 'sha256' ? key : undefined,
        fingerprint: hasFingerprint(request),
      },
    );
  }
}
