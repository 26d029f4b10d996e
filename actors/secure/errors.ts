// Errors of the secure-message layer; all answer a request as `unauthorized` (see actors/nats/codec.ts). Each class
// builds its message from the facts of the failure (protocol/base/errors.ts).
import { GridveilError, errorClass, faultErrorClass } from "../../protocol/base/errors.ts";
import type { ErrorCode } from "../../protocol/wire/schemas.ts";

/** Which kind of protected message failed: a sealed envelope (sealed.ts) or a signed message's `auth` (signed.ts). */
export type SecureEnvelope = "sealed" | "signed";

/** The family of the secure-message errors; throw one of the classes below. */
export class SecureMessageError extends GridveilError {
  readonly replyCode: ErrorCode = "unauthorized";
}

/** The envelope is not a well-formed sealed or signed message (or a key or signature in it is not one). */
export class MalformedSecureMessageError extends faultErrorClass(SecureMessageError, {
  notSealed: (f: { issues: string[] }) => ["not a sealed message", { value: f.issues }],
  // A private key's value is never shown.
  notHex: (f: { what: "public key" | "private key"; hex: string }) => [
    `${f.what} is not hex`,
    { value: f.what === "private key" ? "<redacted>" : f.hex },
  ],
  notPublicKey: (f: { key: string }) => ["not a secp256k1 public key", { value: f.key }],
  notPrivateKey: () => ["not a secp256k1 private key", { value: "<redacted>" }],
  unrecoverableSignature: (f: { signature: string }) => ["no public key recovers from this signature", { value: f.signature }],
  unsignable: (f: { type: string }) => ["value cannot be signed", { value: f.type }],
}) {}

/** The signature does not verify for the claimed sender over this ciphertext, recipient and context. */
export class BadSignatureError extends SecureMessageError {
  constructor(params: { envelope: SecureEnvelope; cause: unknown } | { envelope: SecureEnvelope; claimed: string; recovered: string }) {
    const sealed = params.envelope === "sealed";
    if ("cause" in params) {
      super(sealed ? "sealed message signature is malformed" : "signature is malformed", { cause: params.cause });
    } else {
      super(sealed ? "sealed message signature does not match its sender" : "signature does not match the message", {
        value: { claimed: params.claimed, recovered: params.recovered },
        hint: sealed
          ? "The ciphertext, recipient, context or signature was altered."
          : "The message was altered, signed for another subject, or signed by another key.",
      });
    }
  }
}

/** Validly signed, but by someone this receiver does not accept for this message. */
export class UnexpectedSenderError extends SecureMessageError {
  constructor(
    params:
      | { envelope: "sealed"; sender: string; allowed: readonly string[] }
      | { envelope: "signed"; signer: string; allowed: readonly string[] }
      | { resignedBy: string; sealedBy: string },
  ) {
    if ("resignedBy" in params) {
      super("ciphertext was sealed by someone else and re-signed", { value: { signer: params.resignedBy, sealedBy: params.sealedBy } });
    } else if (params.envelope === "sealed") {
      super("sealed by an unexpected sender", { value: { sender: params.sender, allowed: params.allowed } });
    } else {
      super("signed by an unexpected key", { value: { signer: params.signer, allowed: params.allowed } });
    }
  }
}

/** Sealed for another recipient. */
export class WrongRecipientError extends errorClass(SecureMessageError, (params: { expected: string; got: string }) => [
  "sealed for another recipient",
  { value: { expected: params.expected, got: params.got } },
]) {}

/** Sealed or signed for another context (subject, trade): a replay onto the wrong subject. */
export class WrongContextError extends SecureMessageError {
  constructor(params: { expected: string; got: string } | { inner: { recipient: string; context: string } }) {
    if ("inner" in params) {
      super("inner and outer envelope disagree", { value: { recipient: params.inner.recipient, context: params.inner.context } });
    } else {
      super("sealed for another context", {
        value: { expected: params.expected, got: params.got },
        hint: "A sealed message is only valid on the subject and for the purpose it was sealed for.",
      });
    }
  }
}

const WRONG_KEY_HINT = "Wrong key, or a corrupted ciphertext.";

/** Signature fine, but the ciphertext does not decrypt (or not to a well-formed payload) with our key. */
export class DecryptionFailedError extends faultErrorClass(SecureMessageError, {
  pointAtInfinity: () => ["ECDH gave the point at infinity"],
  tooShort: (f: { length: number }) => ["ciphertext is shorter than its key, nonce and tag", { value: f.length }],
  ephemeralKeyNotOnCurve: () => ["the ephemeral key is not a secp256k1 point"],
  authenticationTag: (f: { cause: unknown }) => ["ciphertext fails its authentication tag", { cause: f.cause, hint: WRONG_KEY_HINT }],
  sealed: (f: { cause: unknown }) => ["sealed message does not decrypt", { cause: f.cause, hint: WRONG_KEY_HINT }],
  notAnEnvelope: () => ["decrypted content is not a sealed envelope"],
}) {}

/** A signed request older (or further in the future) than the receiver accepts. */
export class StaleMessageError extends errorClass(SecureMessageError, (params: { issuedAt: number; now: number; maxAgeMs: number }) => [
  "signed message is stale",
  { value: { issuedAt: params.issuedAt, now: params.now, maxAgeMs: params.maxAgeMs } },
]) {}

/** The decrypted payload does not match the schema the receiver expects. */
export class UnexpectedPayloadError extends errorClass(SecureMessageError, (params: { issues: string[] }) => [
  "sealed payload does not match its schema",
  { value: params.issues },
]) {}

/** A sealed trade message whose payload names another trade than the message it came in. */
export class MisaddressedSealedMessageError extends errorClass(SecureMessageError, (params: { subject: string; outside: string; inside: string }) => [
  "sealed message names another trade inside than outside",
  { value: { subject: params.subject, outside: params.outside, inside: params.inside } },
]) {}
