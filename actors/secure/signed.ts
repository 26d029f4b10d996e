// Signed (not encrypted) requests: enrolment, tickets, readings and disputes carry `auth` = signer, signature, time.
import { AbiCoder, getAddress, getBytes, keccak256, toUtf8Bytes } from "ethers";
import type { Auth } from "../../protocol/wire/schemas.ts";
import { BadSignatureError, MalformedSecureMessageError, StaleMessageError, UnexpectedSenderError } from "./errors.ts";
import { recoverMessageSigner, type SigningWallet } from "./keys.ts";
import { type Address, type Hex, toHex } from "../../protocol/base/hex.ts";
import { adapterDefaults } from "../config/common.ts";

/**
 * The signature covers `keccak256(abi.encode("gridveil.signed", context, canonicalJson(message with auth minus
 * signature)))` under EIP-191. `context` is the subject the message is sent on, so a signed ticket request cannot be
 * replayed as something else. Canonical JSON sorts keys and lower-cases hex strings, so the normalisation the
 * schemas apply (checksummed addresses) does not change what was signed.
 */
const DOMAIN = "gridveil.signed";
const abi = AbiCoder.defaultAbiCoder();

/** Default tolerance for `issuedAt`: requests older or further ahead than this are stale. */

type Unsigned<T extends { auth: Auth }> = Omit<T, "auth">;

/** Deterministic JSON: sorted object keys, hex strings lower-cased, `undefined` members dropped. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === "number" || typeof value === "boolean") return JSON.stringify(value);
  if (typeof value === "string") return JSON.stringify(/^0x[0-9a-fA-F]*$/.test(value) ? toHex(value) : value);
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item ?? null)).join(",")}]`;
  if (typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, member]) => member !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, member]) => `${JSON.stringify(key)}:${canonicalJson(member)}`).join(",")}}`;
  }
  throw new MalformedSecureMessageError({ kind: "unsignable", type: typeof value });
}

function digestOf(message: object, signer: string, issuedAt: number, context: string): Uint8Array {
  const { auth: _auth, ...rest } = message as Record<string, unknown>;
  const body = canonicalJson({ ...rest, auth: { signer, issuedAt } });
  return getBytes(keccak256(abi.encode(["string", "string", "bytes"], [DOMAIN, context, toUtf8Bytes(body)])));
}

/** Adds `auth` to a message: signed by `wallet` for `context` (the subject it will be sent on). */
export function signMessageFields<T extends { auth: Auth }>(
  message: Unsigned<T>,
  wallet: SigningWallet,
  context: string,
  issuedAt: number = Date.now(),
): T {
  const signer = getAddress(wallet.address) as Address;
  const signature = wallet.signMessageSync(digestOf(message, signer, issuedAt, context)) as Hex;
  return { ...message, auth: { signer, signature, issuedAt } } as T;
}

export type VerifyOptions = {
  /** Accepted signers (e.g. the meter's registered address, or the bidder). */
  allowedSigners: string | readonly string[];
  maxAgeMs?: number;
  now?: number;
};

/** Verifies a message's `auth` for `context`; returns the signer, or throws a `SecureMessageError` subclass. */
export function verifyMessageFields<T extends { auth: Auth }>(message: T, context: string, options: VerifyOptions): Address {
  const { signer, signature, issuedAt } = message.auth;
  let recovered: string;
  try {
    recovered = recoverMessageSigner(digestOf(message, signer, issuedAt, context), signature);
  } catch (cause) {
    throw new BadSignatureError({ envelope: "signed", cause });
  }
  if (getAddress(recovered) !== getAddress(signer)) {
    throw new BadSignatureError({ envelope: "signed", claimed: signer, recovered });
  }
  const allowed = (typeof options.allowedSigners === "string" ? [options.allowedSigners] : options.allowedSigners).map((a) =>
    getAddress(a),
  );
  if (!allowed.includes(getAddress(signer))) {
    throw new UnexpectedSenderError({ envelope: "signed", signer, allowed });
  }
  const now = options.now ?? Date.now();
  const maxAgeMs = options.maxAgeMs ?? adapterDefaults.signedMessageMaxAgeMs;
  if (Math.abs(now - issuedAt) > maxAgeMs) {
    throw new StaleMessageError({ issuedAt, now, maxAgeMs });
  }
  return getAddress(signer) as Address;
}
