// Function-hiding inner-product encryption on BN254 (PROTOCOL §2): Setup, left/right encryption, Decrypt, Compare.
import * as mcl from "mcl-wasm";
import { assertCurveReady, frFromBigint, standardG1, standardG2 } from "./curve.ts";
import { DimensionMismatchError, DiscreteLogNotFoundError, ScalarOutOfRangeError, SingularMatrixError } from "./errors.ts";
import { determinantAndInverse, modR, randomMatrix, randomScalar, transpose, vectorTimesMatrix, type Matrix, type RandomBytes } from "./field.ts";
import { FIXED_BASE_WINDOW_BITS, FixedBaseTable } from "./fixedBase.ts";
import { FR_ORDER } from "./order.ts";

export { randomScalar } from "./field.ts";

/** msk = (g1, g2, B, B*) with B* = det(B)·(B^-1)^T; detB is kept because K1 needs it. */
export type MasterSecretKey = {
  readonly dim: number;
  readonly g1: mcl.G1;
  readonly g2: mcl.G2;
  readonly B: Matrix;
  readonly Bstar: Matrix;
  readonly detB: bigint;
};

/** The paper's secret key (KeyGen output): K1 = g1^(α·det B), K2_j = g1^(α·(x·B)_j). */
export type LeftCiphertext = { readonly k1: mcl.G1; readonly k2: readonly mcl.G1[] };
/** The paper's ciphertext: C1 = g2^β, C2_j = g2^(β·(y·B*)_j). */
export type RightCiphertext = { readonly c1: mcl.G2; readonly c2: readonly mcl.G2[] };

// Resampling B happens with probability ~d/r; the bound only turns a broken CSPRNG into an error instead of a hang.
const MAX_SETUP_ATTEMPTS = 8;

/**
 * Setup(d): random generators (random multiples of the standard ones) and a uniform invertible B over F_r. `random`
 * replaces the OS CSPRNG only where a run must be reproducible (`bench gas --seed`).
 */
export function setup(dim: number, random?: RandomBytes): MasterSecretKey {
  assertCurveReady();
  if (!Number.isInteger(dim) || dim < 1) throw new DimensionMismatchError({ kind: "dimension", dim });
  const g1 = mcl.mul(standardG1(), frFromBigint(randomScalar(random)));
  const g2 = mcl.mul(standardG2(), frFromBigint(randomScalar(random)));
  for (let attempt = 1; ; attempt++) {
    try {
      return masterKeyFromParts(dim, g1, g2, randomMatrix(dim, random));
    } catch (error) {
      if (!(error instanceof SingularMatrixError) || attempt === MAX_SETUP_ATTEMPTS) throw error;
    }
  }
}

/** Completes msk from (g1, g2, B): used by Setup and by the binary decoder, which stores only B. */
export function masterKeyFromParts(dim: number, g1: mcl.G1, g2: mcl.G2, B: Matrix): MasterSecretKey {
  if (B.length !== dim) throw new DimensionMismatchError({ kind: "matrixRows", dim, rows: B.length });
  const { det, inverse } = determinantAndInverse(B);
  const Bstar = transpose(inverse).map((row) => row.map((entry) => (entry * det) % FR_ORDER));
  return { dim, g1: mcl.normalize(g1), g2: mcl.normalize(g2), B: B.map((row) => row.map(modR)), Bstar, detB: det };
}

type Tables = { g1?: FixedBaseTable<mcl.G1>; g2?: FixedBaseTable<mcl.G2> };
const tablesByKey = new WeakMap<MasterSecretKey, Tables>();

/** Builds both fixed-base tables now (otherwise each is built on its first use); keeps tables that already fit. */
export function precomputeTables(msk: MasterSecretKey, windowBits = FIXED_BASE_WINDOW_BITS): void {
  const tables = tablesFor(msk);
  if (tables.g1?.windowBits !== windowBits) tables.g1 = new FixedBaseTable(msk.g1, windowBits);
  if (tables.g2?.windowBits !== windowBits) tables.g2 = new FixedBaseTable(msk.g2, windowBits);
}

function tablesFor(msk: MasterSecretKey): Tables {
  let tables = tablesByKey.get(msk);
  if (tables === undefined) {
    tables = {};
    tablesByKey.set(msk, tables);
  }
  return tables;
}

export function g1Table(msk: MasterSecretKey): FixedBaseTable<mcl.G1> {
  const tables = tablesFor(msk);
  tables.g1 ??= new FixedBaseTable(msk.g1);
  return tables.g1;
}

export function g2Table(msk: MasterSecretKey): FixedBaseTable<mcl.G2> {
  const tables = tablesFor(msk);
  tables.g2 ??= new FixedBaseTable(msk.g2);
  return tables.g2;
}

/** The d exponents α·(x·B)_j of K2: what a worker thread needs to compute K2 without the matrix. */
export function leftExponents(msk: MasterSecretKey, x: readonly bigint[], alpha: bigint): bigint[] {
  checkVector(msk, x, "x");
  const randomizer = checkRandomizer(alpha, "alpha");
  return vectorTimesMatrix(x.map(modR), msk.B).map((entry) => (entry * randomizer) % FR_ORDER);
}

/** The d exponents β·(y·B*)_j of C2. */
export function rightExponents(msk: MasterSecretKey, y: readonly bigint[], beta: bigint): bigint[] {
  checkVector(msk, y, "y");
  const randomizer = checkRandomizer(beta, "beta");
  return vectorTimesMatrix(y.map(modR), msk.Bstar).map((entry) => (entry * randomizer) % FR_ORDER);
}

/** K2 only: the d G1 points a meter publishes. */
export function encryptLeftK2(msk: MasterSecretKey, x: readonly bigint[], alpha: bigint): mcl.G1[] {
  assertCurveReady();
  const table = g1Table(msk);
  return leftExponents(msk, x, alpha).map((exponent) => table.mul(exponent));
}

/** C2 only: the d G2 points a meter publishes. */
export function encryptRightC2(msk: MasterSecretKey, y: readonly bigint[], beta: bigint): mcl.G2[] {
  assertCurveReady();
  const table = g2Table(msk);
  return rightExponents(msk, y, beta).map((exponent) => table.mul(exponent));
}

/** Left encryption (the paper's KeyGen) with randomizer α; deterministic given (msk, x, α). */
export function encryptLeft(msk: MasterSecretKey, x: readonly bigint[], alpha: bigint): LeftCiphertext {
  const k2 = encryptLeftK2(msk, x, alpha);
  return { k1: g1Table(msk).mul((modR(alpha) * msk.detB) % FR_ORDER), k2 };
}

/** Right encryption (the paper's Encrypt) with randomizer β; deterministic given (msk, y, β). */
export function encryptRight(msk: MasterSecretKey, y: readonly bigint[], beta: bigint): RightCiphertext {
  const c2 = encryptRightC2(msk, y, beta);
  return { c1: g2Table(msk).mul(modR(beta)), c2 };
}

/** Π_j e(K2_j, C2_j) as one product of Miller loops and a single final exponentiation. */
function pairingProduct(k2: readonly mcl.G1[], c2: readonly mcl.G2[]): mcl.GT {
  if (k2.length !== c2.length) {
    throw new DimensionMismatchError({ kind: "ciphertextHalves", left: k2.length, right: c2.length });
  }
  if (k2.length === 0) throw new DimensionMismatchError({ kind: "emptyCiphertexts" });
  let product = mcl.millerLoop(k2[0]!, c2[0]!);
  for (let j = 1; j < k2.length; j++) product = mcl.mul(product, mcl.millerLoop(k2[j]!, c2[j]!));
  return mcl.finalExp(product);
}

/** Decrypt: the z in [0, maxValue] with e(K1, C1)^z = Π_j e(K2_j, C2_j), by a linear search (z is small). */
export function decrypt(left: LeftCiphertext, right: RightCiphertext, maxValue: number): number {
  assertCurveReady();
  if (!Number.isSafeInteger(maxValue) || maxValue < 0) {
    throw new DiscreteLogNotFoundError({ maxValue, badRange: true });
  }
  const target = pairingProduct(left.k2, right.c2);
  const step = mcl.pairing(left.k1, right.c1);
  let power = new mcl.GT();
  power.setInt(1);
  for (let z = 0; z <= maxValue; z++) {
    if (power.isEqual(target)) return z;
    power = mcl.mul(power, step);
  }
  throw new DiscreteLogNotFoundError({ maxValue });
}

/** Compare (what the contract runs): true iff <x, y> = 0, i.e. Π_j e(K2_j, C2_j) = 1. */
export function compare(k2: readonly mcl.G1[], c2: readonly mcl.G2[]): boolean {
  assertCurveReady();
  return pairingProduct(k2, c2).isOne();
}

function checkVector(msk: MasterSecretKey, vector: readonly bigint[], name: string): void {
  if (vector.length !== msk.dim) {
    throw new DimensionMismatchError({ kind: "vector", name, expected: msk.dim, actual: vector.length });
  }
}

function checkRandomizer(value: bigint, name: string): bigint {
  // A zero randomizer would publish points at infinity, and an unreduced one would make openings ambiguous.
  if (value <= 0n || value >= FR_ORDER) {
    throw new ScalarOutOfRangeError({ name, value });
  }
  return value;
}
