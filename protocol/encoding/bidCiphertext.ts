// A bid's on-chain ciphertext (PROTOCOL §3–§4): left = K2 of x(price) as uint256[2d], right = C2 of y(price) as uint256[4d].
import type { MasterSecretKey } from "../fhipe/fhipe.ts";
import { compare, encryptLeftK2, encryptRightC2 } from "../fhipe/fhipe.ts";
import { DimensionMismatchError } from "../fhipe/errors.ts";
import { g1VectorFromWords, g1VectorToWords, g2VectorFromWords, g2VectorToWords } from "../fhipe/evmWords.ts";
import { dimensionFor, leftVector, rightVector } from "./priceEncoding.ts";

export type BidCiphertext = { left: bigint[]; right: bigint[] };
/** The per-bid secret randomizers, part of the opening. */
export type BidRandomizers = { alpha: bigint; beta: bigint };

/** Deterministic given (msk, price level, α, β): the DSO and the counterpart re-run it to verify an opening. */
export function encryptBid(msk: MasterSecretKey, levels: number, priceLevel: number, randomizers: BidRandomizers): BidCiphertext {
  checkMarketDimension(msk, levels);
  return {
    left: g1VectorToWords(encryptLeftK2(msk, leftVector(priceLevel, levels), randomizers.alpha)),
    right: g2VectorToWords(encryptRightC2(msk, rightVector(priceLevel, levels), randomizers.beta)),
  };
}

/** Off-chain Compare(L(a), R(b)), validating every point as the precompile does: true iff level(a) ≥ level(b). */
export function compareBids(a: BidCiphertext, b: BidCiphertext): boolean {
  return compare(g1VectorFromWords(a.left), g2VectorFromWords(b.right));
}

/** Word-for-word equality: how an opening is checked against the on-chain ciphertext. */
export function bidCiphertextsEqual(a: BidCiphertext, b: BidCiphertext): boolean {
  return (
    a.left.length === b.left.length &&
    a.right.length === b.right.length &&
    a.left.every((word, i) => word === b.left[i]) &&
    a.right.every((word, i) => word === b.right[i])
  );
}

export function checkMarketDimension(msk: MasterSecretKey, levels: number): void {
  const dim = dimensionFor(levels);
  if (dim !== msk.dim) {
    throw new DimensionMismatchError({ kind: "keyVsLevels", levels, expectedDim: dim, keyDim: msk.dim });
  }
}
