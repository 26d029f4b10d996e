// Errors of the secure-message layer; all answer a request as `unauthorized` (see actors/nats/codec.ts).
import { GridveilError } from "../../protocol/base/errors.ts";
import type { ErrorCode } from "../../protocol/wire/schemas.ts";

export class SecureMessageError extends GridveilError {
  override name = "SecureMessageError";
  readonly replyCode: ErrorCode = "unauthorized";
}

/** The envelope is not a well-formed sealed or signed message. */
export class MalformedSecureMessageError extends SecureMessageError {
  override name = "MalformedSecureMessageError";
}

/** The signature does not verify for the claimed sender over this ciphertext, recipient and context. */
export class BadSignatureError extends SecureMessageError {
  override name = "BadSignatureError";
}

/** Validly signed, but by someone this receiver does not accept for this message. */
export class UnexpectedSenderError extends SecureMessageError {
  override name = "UnexpectedSenderError";
}

/** Sealed for another recipient. */
export class WrongRecipientError extends SecureMessageError {
  override name = "WrongRecipientError";
}

/** Sealed or signed for another context (subject, trade): a replay onto the wrong subject. */
export class WrongContextError extends SecureMessageError {
  override name = "WrongContextError";
}

/** Signature fine, but the ciphertext does not decrypt (or not to a well-formed payload) with our key. */
export class DecryptionFailedError extends SecureMessageError {
  override name = "DecryptionFailedError";
}

/** A signed request older (or further in the future) than the receiver accepts. */
export class StaleMessageError extends SecureMessageError {
  override name = "StaleMessageError";
}

/** The decrypted payload does not match the schema the receiver expects. */
export class UnexpectedPayloadError extends SecureMessageError {
  override name = "UnexpectedPayloadError";
}
