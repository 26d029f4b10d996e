// Errors of the FHIPE / encoding / serialization core: one class per rejected condition, each building its message
// from what was rejected (protocol/base/errors.ts).
import { type ErrorText, GridveilError, errorClass } from "../base/errors.ts";

/** What did not have the length it needed; `expected`/`actual` are counts of entries, words or points. */
export type DimensionFault =
  | { kind: "dimension"; dim: unknown }
  | { kind: "matrixRows"; dim: number; rows: number }
  | { kind: "matrixNotSquare"; rows: number; columns: number }
  | { kind: "vectorVsMatrix"; vector: number; dim: number }
  | { kind: "vector"; name: string; expected: number; actual: number }
  | { kind: "ciphertextHalves"; left: number; right: number }
  | { kind: "emptyCiphertexts" }
  | { kind: "keyVsLevels"; levels: number; expectedDim: number; keyDim: number }
  | { kind: "words"; what: string; expected: number; actual: number }
  | { kind: "wordMultiple"; what: string; wordsPerPoint: number; actual: number };

/** A vector, ciphertext or matrix has the wrong length for the key or the other operand. */
export class DimensionMismatchError extends errorClass(GridveilError, (fault: DimensionFault) => {
  const { kind, ...value } = fault;
  return [
    DIMENSION_TEXT[kind](fault as never),
    {
      value: kind === "dimension" ? fault.dim : value,
      hint: kind === "vector" || kind === "keyVsLevels" ? "the master key was set up for a different number of price levels" : undefined,
    },
  ];
}) {}

const DIMENSION_TEXT: { [K in DimensionFault["kind"]]: (fault: Extract<DimensionFault, { kind: K }>) => string } = {
  dimension: () => "dimension must be a positive integer",
  matrixRows: () => "matrix B does not match the dimension",
  matrixNotSquare: () => "matrix is not square",
  vectorVsMatrix: () => "vector length differs from matrix size",
  vector: (f) => `vector ${f.name} has the wrong dimension`,
  ciphertextHalves: () => "left and right ciphertexts differ in dimension",
  emptyCiphertexts: () => "ciphertexts are empty",
  keyVsLevels: () => "master key dimension does not fit the market's price levels",
  words: (f) => `${f.what} needs ${f.expected} words`,
  wordMultiple: (f) => `${f.what} needs a positive multiple of ${f.wordsPerPoint} words`,
};

/** A price level index outside [0, levels), or a level count that cannot be encoded. */
export class PriceLevelOutOfRangeError extends errorClass(GridveilError, (params: { levels: unknown } | { priceLevel: unknown; levels: number }) =>
  "priceLevel" in params
    ? ([
        "price level is outside the market's levels",
        { value: params.priceLevel, hint: `a level is an index in [0, ${params.levels - 1}]` },
      ] as ErrorText)
    : (["the number of price levels must be a positive integer", { value: params.levels }] as ErrorText),
) {}

/** A scalar that must be a non-zero element of F_r (randomizer, matrix entry) is not. */
export class ScalarOutOfRangeError extends errorClass(GridveilError, (params: { name: string; value: bigint; unreduced?: true }) => [
  params.unreduced ? `${params.name} is not reduced mod r` : `${params.name} must be in [1, r)`,
  {
    value: params.value,
    hint: params.unreduced ? "the key is corrupt" : "draw it with randomScalar()",
  },
]) {}

/** Coordinates that are not field elements, or do not satisfy the curve equation. */
export class PointNotOnCurveError extends errorClass(
  GridveilError,
  (params: { point: string; words?: readonly unknown[]; coordinate?: unknown; atInfinity?: true; cause?: unknown }) =>
    params.atInfinity
      ? ([`${params.point} is the point at infinity`, { hint: "the key is corrupt" }] as ErrorText)
      : params.coordinate !== undefined
        ? ([`${params.point} coordinate is not an element of F_p`, { value: params.coordinate, hint: "coordinates are in [0, p)" }] as ErrorText)
        : ([`${params.point} is not on the curve`, { value: params.words, cause: params.cause }] as ErrorText),
) {}

/** A G2 point on the twist curve but outside the order-r subgroup (G2 has a cofactor; G1 does not). */
export class PointNotInSubgroupError extends errorClass(GridveilError, (params: { words: readonly bigint[] }) => [
  "G2 point is not in the order-r subgroup",
  { value: params.words, hint: "the EVM pairing precompile rejects it too" },
]) {}

/** A matrix with determinant 0 mod r where an invertible one is required. */
export class SingularMatrixError extends errorClass(GridveilError, (params: { zeroInverse: bigint } | { dim: number; column: number }) =>
  "zeroInverse" in params
    ? (["0 has no inverse in F_r", { value: params.zeroInverse }] as ErrorText)
    : (["matrix is singular mod r", { value: params, hint: "resample the matrix" }] as ErrorText),
) {}

/** A binary message shorter than its header says. */
export class TruncatedBufferError extends errorClass(
  GridveilError,
  (params: { headerBytes: number; bytes: Uint8Array } | { expected: number; actual: number }) =>
    "headerBytes" in params
      ? (["buffer ends inside the header", { value: params.bytes, hint: `need at least ${params.headerBytes} bytes` }] as ErrorText)
      : (["buffer is shorter than its header announces", { value: params }] as ErrorText),
) {}

/** What is wrong with a binary message's layout. */
export type BinaryFault =
  | { kind: "halves"; left: number; right: number }
  | { kind: "dimensionTooLarge"; dim: number }
  | { kind: "notUint256"; word: bigint }
  | { kind: "header"; found: number[]; expected: number[] }
  | { kind: "dimensionZero" }
  | { kind: "trailingBytes"; expected: number; actual: number };

/** A binary message with the wrong magic, kind or version, or with bytes after its end. */
export class BinaryFormatError extends errorClass(GridveilError, (fault: BinaryFault) => BINARY_TEXT[fault.kind](fault as never)) {}

const BINARY_TEXT: { [K in BinaryFault["kind"]]: (fault: Extract<BinaryFault, { kind: K }>) => ErrorText } = {
  halves: (f) => ["ciphertext halves do not have 2d and 4d words", { value: { left: f.left, right: f.right } }],
  dimensionTooLarge: (f) => ["dimension does not fit the header", { value: f.dim }],
  notUint256: (f) => ["word is not a uint256", { value: f.word }],
  header: (f) => ["unexpected magic, kind or version", { value: f.found, hint: `expected [${f.expected.join(", ")}]` }],
  dimensionZero: () => ["dimension 0", { value: 0 }],
  trailingBytes: (f) => ["trailing bytes after the message", { value: { expected: f.expected, actual: f.actual } }],
};

/** Decrypt found no z in [0, maxValue] with D1^z = D2. */
export class DiscreteLogNotFoundError extends errorClass(GridveilError, (params: { maxValue: unknown; badRange?: true }) =>
  params.badRange
    ? (["maxValue must be a non-negative integer", { value: params.maxValue }] as ErrorText)
    : ([
        "inner product is not in the searched range",
        { value: { maxValue: params.maxValue }, hint: "raise maxValue, or check that both ciphertexts come from the same master key" },
      ] as ErrorText),
) {}

/** A curve operation ran before `initCurve()` resolved. */
export class CurveNotInitializedError extends errorClass(GridveilError, () => [
  "mcl-wasm is not initialized",
  { hint: "await initCurve() before any curve operation" },
]) {}
