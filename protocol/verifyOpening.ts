// The opening check the DSO and the counterpart meter run (PROTOCOL §4, §5 trading steps 3–4): pure, given msk.
import { bidCiphertextsEqual, encryptBid } from "./encoding/bidCiphertext.ts";
import { DimensionMismatchError, PriceLevelOutOfRangeError, ScalarOutOfRangeError } from "./fhipe/errors.ts";
import type { MasterSecretKey } from "./fhipe/fhipe.ts";
import { GridveilError } from "./base/errors.ts";
import { computeCommitment, computeSlotCommitment } from "./commitment.ts";
import { encryptBlockBid } from "./encoding/blockBid.ts";
import type { BlockParams } from "./encoding/blockTokens.ts";
import type { SlotOpening } from "./encoding/certify.ts";
import { ciphertextRoot } from "./encoding/ciphertextRoot.ts";
import type { OpeningRejection } from "./reasons.ts";
import { sameHex } from "./base/hex.ts";

/** What a bidder reveals after a match; α and β as bigints or as the wire's decimal strings. */
export type Opening = {
  priceLevel: number;
  quantityWh: number | bigint;
  salt: string;
  alpha: bigint | string;
  beta: bigint | string;
};

/** The bid as the chain holds it (`getBidCiphertext` and the commitment from `getBid` or the events). */
export type OnChainBid = { left: readonly bigint[]; right: readonly bigint[]; commitment: string };


export type OpeningCheck = { ok: true } | { ok: false; reason: OpeningRejection; detail: string };

/**
 * Re-encrypts the opening with msk and compares the words exactly, and recomputes the commitment for
 * (bidder, side). Never throws for a bad opening: a failed check is a value (it becomes a dispute, not a crash).
 */
export function verifyOpening(
  msk: MasterSecretKey,
  levels: number,
  bidder: string,
  side: 0 | 1,
  onChain: OnChainBid,
  opening: Opening,
): OpeningCheck {
  let alpha: bigint;
  let beta: bigint;
  try {
    alpha = BigInt(opening.alpha);
    beta = BigInt(opening.beta);
  } catch {
    return reject("malformed-opening", "alpha and beta must be integers");
  }
  let commitment: string;
  try {
    commitment = computeCommitment({ bidder, side, priceLevel: opening.priceLevel, quantityWh: opening.quantityWh, salt: opening.salt });
  } catch (error) {
    return reject("malformed-opening", error instanceof GridveilError ? error.shortMessage : String(error));
  }
  if (!sameHex(commitment, onChain.commitment)) {
    return reject("commitment-mismatch", "keccak256(bidder, side, priceLevel, quantityWh, salt) differs from the on-chain commitment");
  }
  let expected;
  try {
    expected = encryptBid(msk, levels, opening.priceLevel, { alpha, beta });
  } catch (error) {
    if (error instanceof PriceLevelOutOfRangeError) return reject("price-level-out-of-range", error.shortMessage);
    if (error instanceof ScalarOutOfRangeError) return reject("bad-randomizer", error.shortMessage);
    if (error instanceof DimensionMismatchError) return reject("dimension-mismatch", error.shortMessage);
    throw error;
  }
  if (!bidCiphertextsEqual(expected, { left: [...onChain.left], right: [...onChain.right] })) {
    return reject("ciphertext-mismatch", "re-encrypting the opening with msk does not give the on-chain ciphertext");
  }
  return { ok: true };
}

function reject(reason: OpeningRejection, detail: string): OpeningCheck {
  return { ok: false, reason, detail };
}

/** A v2 bid as the chain holds it: its commitment and its ciphertext root (from `BidPlaced` or `Matched`). */
export type OnChainSlotBid = { commitment: string; ciphertextRoot: string };

/**
 * The counterpart check of version 2 (PROTOCOL §5 trading step 3): the opening must reproduce the on-chain
 * commitment for (bidder, side, slot); in meter mode, where the meter holds the epoch's key, also the on-chain
 * ciphertext root (the paper's non-repudiation check). Never throws for a bad opening.
 */
export function verifySlotOpening(
  bidder: string,
  side: 0 | 1,
  onChain: OnChainSlotBid,
  opening: SlotOpening,
  reencrypt?: { epochKey: { msk: MasterSecretKey; tokenKey: Uint8Array }; params: BlockParams },
): OpeningCheck {
  if (opening.side !== side) return reject("malformed-opening", "the opening is for the other side");
  let commitment: string;
  try {
    commitment = computeSlotCommitment({ bidder, side, slot: opening.slot, priceLevel: opening.priceLevel, quantityWh: opening.quantityWh, salt: opening.salt });
  } catch (error) {
    return reject("malformed-opening", error instanceof GridveilError ? error.shortMessage : String(error));
  }
  if (!sameHex(commitment, onChain.commitment)) {
    return reject("commitment-mismatch", "keccak256(bidder, side, slot, priceLevel, quantityWh, salt) differs from the on-chain commitment");
  }
  if (reencrypt === undefined) return { ok: true };
  const { epochKey, params } = reencrypt;
  if (!Number.isSafeInteger(opening.priceLevel) || opening.priceLevel < 0 || opening.priceLevel >= params.levels) {
    return reject("price-level-out-of-range", `level ${opening.priceLevel} of ${params.levels}`);
  }
  if (opening.seed.length !== 32) return reject("malformed-opening", "the seed must be 32 bytes");
  const root = ciphertextRoot(encryptBlockBid(epochKey.msk, epochKey.tokenKey, params, opening.priceLevel, opening.seed));
  if (!sameHex(root, onChain.ciphertextRoot)) return reject("ciphertext-mismatch", "re-encrypting the opening under the epoch's key does not give the on-chain root");
  return { ok: true };
}
