// End-to-end sealed messages (PROTOCOL §6): ECIES to the recipient's secp256k1 key, signed by the sender, context-bound,
// with nothing in clear but the ciphertext.
import { AbiCoder, getAddress, getBytes, hexlify, keccak256, toUtf8Bytes } from "ethers";
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
import { addressOfPrivateKey, recoverMessageSignerKey, type SigningWallet } from "./keys.ts";
import { addressOfPublicKey } from "./keys.ts";
import { type Address, type Hex } from "../../protocol/base/hex.ts";

/**
 * Construction (sign-then-encrypt, every identity inside):
 * - signature = EIP-191 signature by the sender over
 *   keccak256(abi.encode("gridveil.sealed", v, sender, recipient, context, keccak256(payloadJson)));
 * - plaintext = JSON `{ v, sender, recipient, context, payload: payloadJson, signature }`;
 * - on the wire: `{ v, ciphertext }`, ciphertext = ECIES(recipient public key, plaintext): ephemeral secp256k1 ECDH,
 *   HKDF-SHA256, AES-256-GCM, in eciesjs's format (actors/secure/ecies.ts).
 *
 * An observer of the wire learns neither who sealed a message nor for whom or what (a sender's long-term address next
 * to a one-time id would link them, PROTOCOL §4). The signature covers the recipient and the context, so the
 * recipient cannot re-encrypt a message to someone else or for another subject as if it had been sealed there.
 * Opening also recovers the sender's public key: a reply can be sealed back to whoever asked (`sealedRpc.ts`).
 */
const VERSION = 2 as const;
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

function signedDigest(sender: string, recipient: string, context: string, payloadJson: string): Uint8Array {
  const encoded = abi.encode(
    ["string", "uint8", "address", "address", "string", "bytes32"],
    [DOMAIN, VERSION, sender, recipient, context, keccak256(toUtf8Bytes(payloadJson))],
  );
  return getBytes(keccak256(encoded));
}

/** Signs `payload` and encrypts it, with the sender's and recipient's identities, to the recipient. */
export function seal({ payload, senderWallet, recipientPublicKey, context }: SealArgs): Sealed {
  const sender = getAddress(senderWallet.address) as Address;
  const recipient = addressOfPublicKey(recipientPublicKey);
  const payloadJson = JSON.stringify(payload);
  const signature = senderWallet.signMessageSync(signedDigest(sender, recipient, context, payloadJson));
  const plaintext = encoder.encode(JSON.stringify({ v: VERSION, sender, recipient, context, payload: payloadJson, signature }));
  return { v: VERSION, ciphertext: hexlify(eciesEncrypt(recipientPublicKey, plaintext)) as Hex };
}

/** An opened message: its payload, who sealed it and that sender's public key (to seal a reply to). */
export type Opened = { payload: JsonValue; sender: Address; senderPublicKey: Hex };

/**
 * Decrypts and checks a sealed message, in this order: shape, decryption, inner envelope, recipient, context,
 * signature, sender, payload. Each failure has its own error class (all `SecureMessageError`, replied as
 * `unauthorized`). `allowedSenders`: one address, a list (e.g. the bidder's one-time id, or the DSO's address), or
 * `"anyone"` when the payload authenticates itself (a request signed inside by a registered key).
 */
export function openSealed(sealed: unknown, recipientPrivateKey: string, allowedSenders: string | readonly string[] | "anyone", context: string): Opened {
  const parsed = sealedSchema.safeParse(sealed);
  if (!parsed.success) {
    throw new MalformedSecureMessageError({ kind: "notSealed", issues: parsed.error.issues.map((i) => i.message) });
  }
  let inner: unknown;
  try {
    inner = JSON.parse(decoder.decode(eciesDecrypt(recipientPrivateKey, getBytes(parsed.data.ciphertext))));
  } catch (cause) {
    throw new DecryptionFailedError({ kind: "sealed", cause });
  }
  if (!isInnerEnvelope(inner)) throw new DecryptionFailedError({ kind: "notAnEnvelope" });
  const self = addressOfPrivateKey(recipientPrivateKey);
  if (inner.recipient !== self) throw new WrongRecipientError({ expected: self, got: inner.recipient });
  if (inner.context !== context) throw new WrongContextError({ expected: context, got: inner.context });
  let senderPublicKey: Hex;
  try {
    senderPublicKey = recoverMessageSignerKey(signedDigest(inner.sender, inner.recipient, inner.context, inner.payload), inner.signature);
  } catch (cause) {
    throw new BadSignatureError({ envelope: "sealed", cause });
  }
  const recovered = addressOfPublicKey(senderPublicKey);
  if (recovered !== inner.sender) throw new BadSignatureError({ envelope: "sealed", claimed: inner.sender, recovered });
  if (allowedSenders !== "anyone") {
    const allowed = (typeof allowedSenders === "string" ? [allowedSenders] : allowedSenders).map((a) => getAddress(a));
    if (!allowed.includes(recovered)) throw new UnexpectedSenderError({ envelope: "sealed", sender: recovered, allowed });
  }
  let payload: JsonValue;
  try {
    payload = JSON.parse(inner.payload) as JsonValue;
  } catch {
    throw new DecryptionFailedError({ kind: "notAnEnvelope" });
  }
  return { payload, sender: recovered, senderPublicKey };
}

/** `openSealed`'s payload alone. */
export function open(sealed: unknown, recipientPrivateKey: string, allowedSenders: string | readonly string[] | "anyone", context: string): JsonValue {
  return openSealed(sealed, recipientPrivateKey, allowedSenders, context).payload;
}

/** The payload validated against a schema (`UnexpectedPayloadError` with the zod issues if it does not fit). */
export function payloadAs<S extends z.ZodType>(schema: S, payload: JsonValue): z.output<S> {
  const result = schema.safeParse(payload);
  if (!result.success) {
    throw new UnexpectedPayloadError({ issues: result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`) });
  }
  return result.data;
}

/** `open` and validate the payload against a schema. */
export function openAs<S extends z.ZodType>(
  schema: S,
  sealed: unknown,
  recipientPrivateKey: string,
  allowedSenders: string | readonly string[] | "anyone",
  context: string,
): z.output<S> {
  return payloadAs(schema, open(sealed, recipientPrivateKey, allowedSenders, context));
}

type InnerEnvelope = { v: 2; sender: Address; recipient: Address; context: string; payload: string; signature: string };

function isInnerEnvelope(value: unknown): value is InnerEnvelope {
  if (typeof value !== "object" || value === null) return false;
  const record = value as Record<string, unknown>;
  const address = (field: unknown) => typeof field === "string" && /^0x[0-9a-fA-F]{40}$/.test(field) && getAddress(field) === field;
  return (
    record.v === VERSION &&
    address(record.sender) &&
    address(record.recipient) &&
    typeof record.context === "string" &&
    typeof record.payload === "string" &&
    typeof record.signature === "string"
  );
}
