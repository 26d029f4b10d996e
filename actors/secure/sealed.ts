// End-to-end sealed messages (PROTOCOL §6): ECIES to the recipient's secp256k1 key, signed by the sender, context-bound.
import { AbiCoder, getAddress, getBytes, hexlify, keccak256 } from "ethers";
import type { z } from "zod";
import { sealedSchema, type Sealed } from "../../protocol/wire/schemas.ts";
import {
  BadSignatureError,
  DecryptionFailedError,
  MalformedSecureMessageError,
  UnexpectedPayloadError,
  UnexpectedSenderError,
  WrongContextError,
  WrongRecipientError,
} from "./errors.ts";
import { eciesDecrypt, eciesEncrypt } from "./ecies.ts";
import { addressOfPrivateKey, addressOfPublicKey, recoverMessageSigner, type SigningWallet } from "./keys.ts";
import { type Address, type Hex } from "../../protocol/base/hex.ts";

/**
 * Construction (encrypt-then-sign, with the identities repeated inside the ciphertext):
 * - plaintext = JSON `{ v, sender, recipient, context, payload }`;
 * - ciphertext = ECIES(recipient public key, plaintext): ephemeral secp256k1 ECDH, HKDF-SHA256, AES-256-GCM, in
 *   eciesjs's format (actors/secure/ecies.ts: the same bytes on libsecp256k1, 50× faster than eciesjs here);
 * - signature = EIP-191 signature by the sender over
 *   keccak256(abi.encode("gridveil.sealed", v, sender, recipient, context, keccak256(ciphertext))).
 *
 * The signature binds the ciphertext to its context (e.g. the subject and trade) and recipient, so a sealed message
 * cannot be replayed elsewhere. The inner copy of sender/recipient/context stops an allowed party from stripping the
 * signature of someone else's ciphertext and re-signing it as its own (it cannot change what is inside).
 */
const VERSION = 1 as const;
const DOMAIN = "gridveil.sealed";
const abi = AbiCoder.defaultAbiCoder();
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export type SealArgs = {
  payload: JsonValue;
  senderWallet: SigningWallet;
  /** The recipient's secp256k1 public key (0x04… uncompressed or compressed). */
  recipientPublicKey: string;
  /** What the message is for, e.g. `gridveil.m1.dso.opening|<tradeId>`: opening it elsewhere fails. */
  context: string;
};

function signedDigest(sender: string, recipient: string, context: string, ciphertext: string): Uint8Array {
  const encoded = abi.encode(
    ["string", "uint8", "address", "address", "string", "bytes32"],
    [DOMAIN, VERSION, sender, recipient, context, keccak256(ciphertext)],
  );
  return getBytes(keccak256(encoded));
}

/** Encrypts `payload` to the recipient and signs it. */
export function seal({ payload, senderWallet, recipientPublicKey, context }: SealArgs): Sealed {
  const sender = getAddress(senderWallet.address) as Address;
  const recipient = addressOfPublicKey(recipientPublicKey);
  const plaintext = encoder.encode(JSON.stringify({ v: VERSION, sender, recipient, context, payload }));
  const ciphertext = hexlify(eciesEncrypt(recipientPublicKey, plaintext)) as Hex;
  const signature = senderWallet.signMessageSync(signedDigest(sender, recipient, context, ciphertext)) as Hex;
  return { v: VERSION, sender, recipient, context, ciphertext, signature };
}

/**
 * Checks and decrypts a sealed message, in this order: shape, context, recipient, signature, sender, decryption,
 * inner envelope. Each failure has its own error class (all `SecureMessageError`, replied as `unauthorized`).
 * `allowedSenders`: one address or a list (e.g. the bidder's one-time id, or the DSO's address).
 */
export function open(sealed: unknown, recipientPrivateKey: string, allowedSenders: string | readonly string[], context: string): JsonValue {
  const parsed = sealedSchema.safeParse(sealed);
  if (!parsed.success) {
    throw new MalformedSecureMessageError({ kind: "notSealed", issues: parsed.error.issues.map((i) => i.message) });
  }
  const envelope = parsed.data;
  if (envelope.context !== context) {
    throw new WrongContextError({ expected: context, got: envelope.context });
  }
  const self = addressOfPrivateKey(recipientPrivateKey);
  if (envelope.recipient !== self) {
    throw new WrongRecipientError({ expected: self, got: envelope.recipient });
  }
  let recovered: string;
  try {
    recovered = recoverMessageSigner(signedDigest(envelope.sender, envelope.recipient, envelope.context, envelope.ciphertext), envelope.signature);
  } catch (cause) {
    throw new BadSignatureError({ envelope: "sealed", cause });
  }
  if (getAddress(recovered) !== envelope.sender) {
    throw new BadSignatureError({ envelope: "sealed", claimed: envelope.sender, recovered });
  }
  const allowed = (typeof allowedSenders === "string" ? [allowedSenders] : allowedSenders).map((a) => getAddress(a));
  if (!allowed.includes(envelope.sender)) {
    throw new UnexpectedSenderError({ envelope: "sealed", sender: envelope.sender, allowed });
  }
  let inner: unknown;
  try {
    inner = JSON.parse(decoder.decode(eciesDecrypt(recipientPrivateKey, getBytes(envelope.ciphertext))));
  } catch (cause) {
    throw new DecryptionFailedError({ kind: "sealed", cause });
  }
  if (!isInnerEnvelope(inner)) throw new DecryptionFailedError({ kind: "notAnEnvelope" });
  if (inner.sender !== envelope.sender) {
    throw new UnexpectedSenderError({ resignedBy: envelope.sender, sealedBy: inner.sender });
  }
  if (inner.recipient !== envelope.recipient || inner.context !== envelope.context) {
    throw new WrongContextError({ inner: { recipient: inner.recipient, context: inner.context } });
  }
  return inner.payload;
}

/** `open` and validate the payload against a schema (`UnexpectedPayloadError` with the zod issues if it does not fit). */
export function openAs<S extends z.ZodType>(
  schema: S,
  sealed: unknown,
  recipientPrivateKey: string,
  allowedSenders: string | readonly string[],
  context: string,
): z.output<S> {
  const payload = open(sealed, recipientPrivateKey, allowedSenders, context);
  const result = schema.safeParse(payload);
  if (!result.success) {
    throw new UnexpectedPayloadError({ issues: result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`) });
  }
  return result.data;
}

type InnerEnvelope = { v: 1; sender: string; recipient: string; context: string; payload: JsonValue };

function isInnerEnvelope(value: unknown): value is InnerEnvelope {
  if (typeof value !== "object" || value === null) return false;
  const record = value as Record<string, unknown>;
  return (
    record.v === VERSION &&
    typeof record.sender === "string" &&
    typeof record.recipient === "string" &&
    typeof record.context === "string" &&
    "payload" in record
  );
}
