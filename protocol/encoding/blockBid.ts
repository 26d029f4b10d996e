// A v2 bid's tokens encrypted (PROTOCOL §2, §3.2): m + 1 left tokens (K2, d G1 points each) and m + 1 right tokens
// (C2, d G2 points each), every randomizer and filler derived from the bid's seed, so (msk, token key, level, seed)
// reproduces the ciphertext word for word. Relations are proved off chain with the same zero test the contract runs.
import type * as mcl from "mcl-wasm";
import type { MasterSecretKey } from "../fhipe/fhipe.ts";
import { compare, encryptLeftK2, encryptRightC2 } from "../fhipe/fhipe.ts";
import { DimensionMismatchError } from "../fhipe/errors.ts";
import { g1VectorFromWords, g1VectorToWords, g2VectorFromWords, g2VectorToWords } from "../fhipe/evmWords.ts";
import { equalityToken, leftTokenVector, rightTokenVector, seedScalar, tokenOfHint, type BlockParams, type RelationHint } from "./blockTokens.ts";

/** Per token: left = K2 as 2d words, right = C2 as 4d words (EVM order, PROTOCOL §3.2 serialization). */
export type BlockCiphertext = { left: bigint[][]; right: bigint[][] };

export function encryptBlockBid(msk: MasterSecretKey, tokenKey: Uint8Array, params: BlockParams, level: number, seed: Uint8Array): BlockCiphertext {
  if (msk.dim !== params.dim) throw new DimensionMismatchError({ kind: "vector", name: "token", expected: msk.dim, actual: params.dim });
  const tokens = Array.from({ length: params.tokens }, (_, token) => token);
  return {
    left: tokens.map((token) => g1VectorToWords(encryptLeftK2(msk, leftTokenVector(tokenKey, level, token, params), seedScalar(seed, "alpha", token)))),
    right: tokens.map((token) =>
      g2VectorToWords(encryptRightC2(msk, rightTokenVector(tokenKey, seed, level, token, params), seedScalar(seed, "beta", token))),
    ),
  };
}

/** A ciphertext's points, decoded and checked once (on the curve, G2 in its subgroup) for any number of tests. */
export type BlockPoints = { left: mcl.G1[][]; right: mcl.G2[][] };

export function decodeBlockCiphertext(ciphertext: BlockCiphertext): BlockPoints {
  return { left: ciphertext.left.map(g1VectorFromWords), right: ciphertext.right.map(g2VectorFromWords) };
}

/** The zero test of token `token`: a's left against b's right (what the contract's relation check runs). */
export function tokenTest(a: BlockPoints, b: BlockPoints, token: number): boolean {
  const left = a.left[token];
  const right = b.right[token];
  if (left === undefined || right === undefined) return false;
  return compare(left, right);
}

/** Whether a hint proves its relation between two encrypted bids (`lt(a, b)` with its block, or `eq(a, b)`). */
export function provesRelation(a: BlockPoints, b: BlockPoints, hint: RelationHint, params: BlockParams): boolean {
  return tokenTest(a, b, tokenOfHint(hint, params));
}

/**
 * Any party's way, from public ciphertexts only (PROTOCOL §5): the proof that a ≤ b — `eq`, or `lt` with the block
 * whose test passes — or null when none passes (then a > b). At most m + 1 zero tests.
 */
/** The zero tests `hintFromCiphertexts` ran to give `answer`: the equality token, then blocks 1 … until one passes. */
export function zeroTestsOf(answer: RelationHint | null, params: BlockParams): number {
  if (answer === null) return params.tokens;
  return answer.relation === "eq" ? 1 : 1 + answer.block;
}

export function hintFromCiphertexts(a: BlockPoints, b: BlockPoints, params: BlockParams): RelationHint | null {
  if (tokenTest(a, b, equalityToken(params))) return { relation: "eq" };
  for (let block = 1; block <= params.blocks; block++) if (tokenTest(a, b, block - 1)) return { relation: "lt", block };
  return null;
}
