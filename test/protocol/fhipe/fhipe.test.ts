// FHIPE (PROTOCOL §2) with real pairings: decryption against plaintext inner products, Compare, determinism, bad input.
import { beforeAll, describe, expect, it } from "vitest";
import * as mcl from "mcl-wasm";
import { initCurve } from "../../../protocol/fhipe/curve.ts";
import {
  compare,
  decrypt,
  encryptLeft,
  encryptRight,
  masterKeyFromParts,
  randomScalar,
  setup,
} from "../../../protocol/fhipe/fhipe.ts";
import {
  DimensionMismatchError,
  DiscreteLogNotFoundError,
  ScalarOutOfRangeError,
  SingularMatrixError,
} from "../../../protocol/fhipe/errors.ts";
import { determinantAndInverse } from "../../../protocol/fhipe/field.ts";
import { innerProduct, smallVector } from "./helpers.ts";
import { FR_ORDER } from "../../../protocol/fhipe/order.ts";

beforeAll(async () => {
  await initCurve();
});

describe("setup", () => {
  it("produces B* = det(B)·(B^-1)^T, so B·B*^T = det(B)·I", () => {
    const msk = setup(5);
    for (let i = 0; i < 5; i++) {
      for (let j = 0; j < 5; j++) {
        const entry = msk.B[i]!.reduce((sum, b, k) => sum + b * msk.Bstar[j]![k]!, 0n) % FR_ORDER;
        expect(entry).toBe(i === j ? msk.detB : 0n);
      }
    }
    expect(msk.detB).toBe(determinantAndInverse(msk.B).det);
    expect(msk.detB).not.toBe(0n);
  });

  it("draws fresh generators and matrices each time", () => {
    const a = setup(3);
    const b = setup(3);
    expect(a.g1.isEqual(b.g1)).toBe(false);
    expect(a.g2.isEqual(b.g2)).toBe(false);
    expect(a.B).not.toEqual(b.B);
  });

  it("rejects a singular matrix", () => {
    const msk = setup(2);
    expect(() => masterKeyFromParts(2, msk.g1, msk.g2, [[1n, 2n], [2n, 4n]])).toThrow(SingularMatrixError);
    // Singular only mod r: the rows are proportional by r + 1 ≡ 1.
    expect(() => masterKeyFromParts(2, msk.g1, msk.g2, [[3n, 5n], [3n + FR_ORDER, 5n]])).toThrow(SingularMatrixError);
  });

  it("rejects a non-positive dimension", () => {
    expect(() => setup(0)).toThrow(DimensionMismatchError);
  });
});

describe("decrypt", () => {
  it("recovers the inner product of random small vectors", () => {
    for (const dim of [1, 3, 6]) {
      const msk = setup(dim);
      for (let trial = 0; trial < 4; trial++) {
        const x = smallVector(dim, 5);
        const y = smallVector(dim, 5);
        const expected = Number(innerProduct(x, y));
        const left = encryptLeft(msk, x, randomScalar());
        const right = encryptRight(msk, y, randomScalar());
        expect(decrypt(left, right, 25 * dim)).toBe(expected);
        expect(compare(left.k2, right.c2)).toBe(expected === 0);
      }
    }
  });

  it("treats negative entries as elements of F_r", () => {
    const msk = setup(2);
    const left = encryptLeft(msk, [3n, -1n], randomScalar());
    const right = encryptRight(msk, [1n, 1n], randomScalar());
    expect(decrypt(left, right, 5)).toBe(2);
  });

  it("throws when the inner product exceeds maxValue", () => {
    const msk = setup(2);
    const left = encryptLeft(msk, [3n, 4n], randomScalar());
    const right = encryptRight(msk, [1n, 1n], randomScalar());
    expect(() => decrypt(left, right, 6)).toThrow(DiscreteLogNotFoundError);
    expect(decrypt(left, right, 7)).toBe(7);
  });

  it("does not decrypt across master keys", () => {
    const left = encryptLeft(setup(2), [1n, 0n], randomScalar());
    const right = encryptRight(setup(2), [1n, 0n], randomScalar());
    expect(() => decrypt(left, right, 50)).toThrow(DiscreteLogNotFoundError);
  });
});

describe("encryption", () => {
  it("is deterministic in (α, β) and fresh randomizers change every point", () => {
    const msk = setup(4);
    const x = [1n, 0n, 2n, 0n];
    const alpha = randomScalar();
    const beta = randomScalar();
    const left = encryptLeft(msk, x, alpha);
    const again = encryptLeft(msk, x, alpha);
    expect(left.k1.isEqual(again.k1)).toBe(true);
    left.k2.forEach((point, j) => expect(point.isEqual(again.k2[j]!)).toBe(true));
    const fresh = encryptLeft(msk, x, randomScalar());
    left.k2.forEach((point, j) => expect(point.isEqual(fresh.k2[j]!)).toBe(false));

    const right = encryptRight(msk, x, beta);
    const rightAgain = encryptRight(msk, x, beta);
    right.c2.forEach((point, j) => expect(point.isEqual(rightAgain.c2[j]!)).toBe(true));
    const rightFresh = encryptRight(msk, x, randomScalar());
    right.c2.forEach((point, j) => expect(point.isEqual(rightFresh.c2[j]!)).toBe(false));
  });

  it("matches the definition K2_j = g1^(α·(x·B)_j), C2_j = g2^(β·(y·B*)_j) computed with plain mcl.mul", () => {
    const msk = setup(3);
    const x = [2n, 1n, 7n];
    const alpha = randomScalar();
    const beta = randomScalar();
    const left = encryptLeft(msk, x, alpha);
    const right = encryptRight(msk, x, beta);
    const fr = (value: bigint) => {
      const scalar = new mcl.Fr();
      scalar.setStr((((value % FR_ORDER) + FR_ORDER) % FR_ORDER).toString(16), 16);
      return scalar;
    };
    for (let j = 0; j < 3; j++) {
      const xB = x.reduce((sum, value, i) => sum + value * msk.B[i]![j]!, 0n);
      const yBstar = x.reduce((sum, value, i) => sum + value * msk.Bstar[i]![j]!, 0n);
      expect(left.k2[j]!.isEqual(mcl.mul(msk.g1, fr(alpha * xB)))).toBe(true);
      expect(right.c2[j]!.isEqual(mcl.mul(msk.g2, fr(beta * yBstar)))).toBe(true);
    }
    expect(left.k1.isEqual(mcl.mul(msk.g1, fr(alpha * msk.detB)))).toBe(true);
    expect(right.c1.isEqual(mcl.mul(msk.g2, fr(beta)))).toBe(true);
  });

  it("rejects a vector of the wrong dimension", () => {
    const msk = setup(3);
    expect(() => encryptLeft(msk, [1n, 2n], randomScalar())).toThrow(DimensionMismatchError);
    expect(() => encryptRight(msk, [1n, 2n, 3n, 4n], randomScalar())).toThrow(DimensionMismatchError);
  });

  it("rejects randomizers outside [1, r)", () => {
    const msk = setup(2);
    expect(() => encryptLeft(msk, [1n, 0n], 0n)).toThrow(ScalarOutOfRangeError);
    expect(() => encryptRight(msk, [1n, 0n], FR_ORDER)).toThrow(ScalarOutOfRangeError);
    expect(() => encryptRight(msk, [1n, 0n], -5n)).toThrow(ScalarOutOfRangeError);
  });

  it("compare rejects ciphertexts of different dimensions", () => {
    const msk = setup(3);
    const left = encryptLeft(msk, [1n, 0n, 0n], randomScalar());
    const right = encryptRight(msk, [0n, 1n, 0n], randomScalar());
    expect(() => compare(left.k2.slice(0, 2), right.c2)).toThrow(DimensionMismatchError);
  });
});

describe("randomScalar", () => {
  it("returns distinct non-zero elements of F_r", () => {
    const scalars = Array.from({ length: 200 }, randomScalar);
    expect(new Set(scalars).size).toBe(200);
    for (const scalar of scalars) {
      expect(scalar > 0n && scalar < FR_ORDER).toBe(true);
    }
    // Uniform over F_r: the top bit of a 254-bit order is set in about 1/... of draws; just check both halves occur.
    expect(scalars.some((scalar) => scalar > FR_ORDER / 2n)).toBe(true);
    expect(scalars.some((scalar) => scalar < FR_ORDER / 2n)).toBe(true);
  });
});
