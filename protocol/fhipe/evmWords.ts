// EVM word (uint256) form of G1/G2 points and ciphertext halves, in EIP-197 order (PROTOCOL §3, EVM serialization).
import * as mcl from "mcl-wasm";
import { assertCurveReady } from "./curve.ts";
import { DimensionMismatchError, PointNotInSubgroupError, PointNotOnCurveError } from "./errors.ts";
import { FP_ORDER } from "./order.ts";

export type G1Words = readonly [bigint, bigint];
export type G2Words = readonly [bigint, bigint, bigint, bigint];

/** (x, y); the point at infinity is (0, 0) as in EIP-197. */
export function g1ToWords(point: mcl.G1): [bigint, bigint] {
  if (point.isZero()) return [0n, 0n];
  // getStr normalizes to affine: "1 x y".
  const [, x, y] = point.getStr(16).split(" ");
  return [BigInt(`0x${x}`), BigInt(`0x${y}`)];
}

/** (x_im, x_re, y_im, y_re); the point at infinity is four zeros. */
export function g2ToWords(point: mcl.G2): [bigint, bigint, bigint, bigint] {
  if (point.isZero()) return [0n, 0n, 0n, 0n];
  // mcl prints F_p2 as "real imaginary".
  const [, xRe, xIm, yRe, yIm] = point.getStr(16).split(" ");
  return [BigInt(`0x${xIm}`), BigInt(`0x${xRe}`), BigInt(`0x${yIm}`), BigInt(`0x${yRe}`)];
}

/** Parses and validates (on the curve; G1 has cofactor 1, so that is also the subgroup check). */
export function g1FromWords(words: readonly bigint[]): mcl.G1 {
  assertCurveReady();
  checkWordCount(words, 2, "G1");
  checkCoordinates(words, "G1");
  const point = new mcl.G1();
  if (words.every((word) => word === 0n)) return point;
  const [x, y] = words as G1Words;
  try {
    point.setStr(`1 ${x.toString(16)} ${y.toString(16)}`, 16);
  } catch (cause) {
    throw new PointNotOnCurveError({ point: "G1 point", words, cause });
  }
  return point;
}

/** Parses and validates on the twist curve and in the order-r subgroup (the twist has a large cofactor). */
export function g2FromWords(words: readonly bigint[]): mcl.G2 {
  assertCurveReady();
  checkWordCount(words, 4, "G2");
  checkCoordinates(words, "G2");
  const point = new mcl.G2();
  if (words.every((word) => word === 0n)) return point;
  const [xIm, xRe, yIm, yRe] = words as G2Words;
  // With mcl's own order check on, setStr fails the same way for both faults; check the two separately.
  mcl.verifyOrderG2(false);
  try {
    point.setStr(`1 ${xRe.toString(16)} ${xIm.toString(16)} ${yRe.toString(16)} ${yIm.toString(16)}`, 16);
  } catch (cause) {
    throw new PointNotOnCurveError({ point: "G2 point", words, cause });
  } finally {
    mcl.verifyOrderG2(true);
  }
  if (!point.isValidOrder()) {
    throw new PointNotInSubgroupError({ words });
  }
  return point;
}

/** K2 as uint256[2d]. */
export function g1VectorToWords(points: readonly mcl.G1[]): bigint[] {
  normalizeInBatches(points);
  return points.flatMap((point) => g1ToWords(point));
}

/** C2 as uint256[4d]. */
export function g2VectorToWords(points: readonly mcl.G2[]): bigint[] {
  normalizeInBatches(points);
  return points.flatMap((point) => g2ToWords(point));
}

// One shared field inversion per batch (Montgomery's trick) instead of one per point inside getStr. It changes
// only the points' internal representation, never their value; batches stay under mcl's wasm stack limit.
const NORMALIZE_BATCH = 256;

function normalizeInBatches<P extends mcl.G1 | mcl.G2>(points: readonly P[]): void {
  for (let start = 0; start < points.length; start += NORMALIZE_BATCH) {
    mcl.normalizeVec(points.slice(start, start + NORMALIZE_BATCH));
  }
}

export function g1VectorFromWords(words: readonly bigint[]): mcl.G1[] {
  checkVectorWordCount(words, 2, "G1 vector");
  return Array.from({ length: words.length / 2 }, (_, j) => g1FromWords(words.slice(2 * j, 2 * j + 2)));
}

export function g2VectorFromWords(words: readonly bigint[]): mcl.G2[] {
  checkVectorWordCount(words, 4, "G2 vector");
  return Array.from({ length: words.length / 4 }, (_, j) => g2FromWords(words.slice(4 * j, 4 * j + 4)));
}

function checkWordCount(words: readonly bigint[], expected: number, what: string): void {
  if (words.length !== expected) {
    throw new DimensionMismatchError({ kind: "words", what, expected, actual: words.length });
  }
}

function checkVectorWordCount(words: readonly bigint[], wordsPerPoint: number, what: string): void {
  if (words.length === 0 || words.length % wordsPerPoint !== 0) {
    throw new DimensionMismatchError({ kind: "wordMultiple", what, wordsPerPoint, actual: words.length });
  }
}

function checkCoordinates(words: readonly bigint[], what: string): void {
  for (const word of words) {
    if (typeof word !== "bigint" || word < 0n || word >= FP_ORDER) {
      throw new PointNotOnCurveError({ point: what, coordinate: word });
    }
  }
}
