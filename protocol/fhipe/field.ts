// Arithmetic in F_r on bigints: reduction, inversion, CSPRNG scalars, determinant and inverse of matrices (PROTOCOL §2 Setup).
import { randomBytes } from "node:crypto";
import { DimensionMismatchError, SingularMatrixError } from "./errors.ts";
import { FR_ORDER } from "./order.ts";

export type Matrix = readonly (readonly bigint[])[];

/** Reduces any bigint (negative included) into [0, r). */
export function modR(value: bigint): bigint {
  const reduced = value % FR_ORDER;
  return reduced < 0n ? reduced + FR_ORDER : reduced;
}

/** Inverse of a non-zero element of F_r by the extended Euclidean algorithm. */
export function invR(value: bigint): bigint {
  let [oldR, r] = [modR(value), FR_ORDER];
  if (oldR === 0n) throw new SingularMatrixError({ zeroInverse: value });
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const quotient = oldR / r;
    [oldR, r] = [r, oldR - quotient * r];
    [oldS, s] = [s, oldS - quotient * s];
  }
  return modR(oldS);
}

// 64 bytes reduced mod r: the bias is below 2^-250, so the result is uniform for every practical purpose.
const SCALAR_BYTES = 64;

/** Where random bytes come from: the OS CSPRNG by default; a seeded generator only for reproducible benchmarks. */
export type RandomBytes = (length: number) => Uint8Array;

function uniformModR(random: RandomBytes): bigint {
  return modR(BigInt(`0x${Buffer.from(random(SCALAR_BYTES)).toString("hex")}`));
}

/** A uniform element of F_r \ {0} from the OS CSPRNG (or from `random`). */
export function randomScalar(random: RandomBytes = randomBytes): bigint {
  for (;;) {
    const scalar = uniformModR(random);
    if (scalar !== 0n) return scalar;
  }
}

/** A uniform d×d matrix over F_r (not necessarily invertible). */
export function randomMatrix(dim: number, random: RandomBytes = randomBytes): bigint[][] {
  return Array.from({ length: dim }, () => Array.from({ length: dim }, () => uniformModR(random)));
}

export type DeterminantAndInverse = { det: bigint; inverse: bigint[][] };

/**
 * Gauss–Jordan elimination mod r on [M | I]: yields det(M) (product of pivots, sign per swap) and M^-1 in
 * one O(d^3) pass. Throws SingularMatrixError when det(M) = 0.
 */
export function determinantAndInverse(matrix: Matrix): DeterminantAndInverse {
  const dim = matrix.length;
  for (const row of matrix) {
    if (row.length !== dim) throw new DimensionMismatchError({ kind: "matrixNotSquare", rows: dim, columns: row.length });
  }
  const left = matrix.map((row) => row.map(modR));
  const right = Array.from({ length: dim }, (_, i) => Array.from({ length: dim }, (_, j): bigint => (i === j ? 1n : 0n)));
  let det = 1n;
  for (let column = 0; column < dim; column++) {
    let pivotRow = column;
    while (pivotRow < dim && left[pivotRow]![column] === 0n) pivotRow++;
    if (pivotRow === dim) {
      throw new SingularMatrixError({ dim, column });
    }
    if (pivotRow !== column) {
      [left[pivotRow], left[column]] = [left[column]!, left[pivotRow]!];
      [right[pivotRow], right[column]] = [right[column]!, right[pivotRow]!];
      det = FR_ORDER - det;
    }
    const pivotLeft = left[column]!;
    const pivotRight = right[column]!;
    const pivot = pivotLeft[column]!;
    det = (det * pivot) % FR_ORDER;
    const pivotInverse = invR(pivot);
    for (let j = 0; j < dim; j++) {
      pivotLeft[j] = (pivotLeft[j]! * pivotInverse) % FR_ORDER;
      pivotRight[j] = (pivotRight[j]! * pivotInverse) % FR_ORDER;
    }
    for (let i = 0; i < dim; i++) {
      if (i === column) continue;
      const rowLeft = left[i]!;
      const factor = rowLeft[column]!;
      if (factor === 0n) continue;
      const rowRight = right[i]!;
      // Work with r - factor so that each entry stays non-negative: one addition and one reduction.
      const negated = FR_ORDER - factor;
      for (let j = column; j < dim; j++) rowLeft[j] = (rowLeft[j]! + negated * pivotLeft[j]!) % FR_ORDER;
      for (let j = 0; j < dim; j++) rowRight[j] = (rowRight[j]! + negated * pivotRight[j]!) % FR_ORDER;
    }
  }
  return { det: modR(det), inverse: right };
}

export function transpose(matrix: Matrix): bigint[][] {
  return matrix[0]?.map((_, j) => matrix.map((row) => row[j]!)) ?? [];
}

/**
 * Row vector times matrix, v·M, mod r. Zero entries are skipped and entries equal to 1 are added without a
 * multiplication: the unary price vectors are 0/1, which makes this nearly free next to the point arithmetic.
 */
export function vectorTimesMatrix(vector: readonly bigint[], matrix: Matrix): bigint[] {
  const dim = matrix.length;
  if (vector.length !== dim) throw new DimensionMismatchError({ kind: "vectorVsMatrix", vector: vector.length, dim });
  const sums = new Array<bigint>(matrix[0]?.length ?? 0).fill(0n);
  for (let i = 0; i < dim; i++) {
    const coefficient = vector[i]!;
    if (coefficient === 0n) continue;
    const row = matrix[i]!;
    if (coefficient === 1n) {
      for (let j = 0; j < sums.length; j++) sums[j] = sums[j]! + row[j]!;
    } else {
      for (let j = 0; j < sums.length; j++) sums[j] = sums[j]! + coefficient * row[j]!;
    }
  }
  return sums.map(modR);
}
