// F_r arithmetic and matrices, checked against independent definitions (cofactor expansion, M·M^-1 = I).
import { describe, expect, it } from "vitest";
import { DimensionMismatchError, SingularMatrixError } from "../../../protocol/fhipe/errors.ts";
import { determinantAndInverse, invR, modR, randomMatrix, vectorTimesMatrix, type Matrix } from "../../../protocol/fhipe/field.ts";
import { FR_ORDER } from "../../../protocol/fhipe/order.ts";

/** Laplace expansion: slow, obviously correct, and sharing no code with Gauss–Jordan. */
function laplaceDet(matrix: Matrix): bigint {
  if (matrix.length === 1) return modR(matrix[0]![0]!);
  let det = 0n;
  matrix[0]!.forEach((entry, j) => {
    const minor = matrix.slice(1).map((row) => row.filter((_, k) => k !== j));
    det += (j % 2 === 0 ? 1n : -1n) * entry * laplaceDet(minor);
  });
  return modR(det);
}

describe("field", () => {
  it("modR and invR", () => {
    expect(modR(-1n)).toBe(FR_ORDER - 1n);
    expect(modR(FR_ORDER)).toBe(0n);
    for (const value of [1n, 2n, FR_ORDER - 1n, 123456789n]) expect((invR(value) * value) % FR_ORDER).toBe(1n);
    expect(() => invR(FR_ORDER)).toThrow(SingularMatrixError);
  });

  it("determinant and inverse of random matrices", () => {
    for (const dim of [1, 2, 3, 5]) {
      const matrix = randomMatrix(dim);
      const { det, inverse } = determinantAndInverse(matrix);
      expect(det).toBe(laplaceDet(matrix));
      for (let i = 0; i < dim; i++) {
        for (let j = 0; j < dim; j++) {
          const entry = matrix[i]!.reduce((sum, value, k) => sum + value * inverse[k]![j]!, 0n) % FR_ORDER;
          expect(entry).toBe(i === j ? 1n : 0n);
        }
      }
    }
  });

  it("needs a row swap when the first pivot is zero, and flips the sign", () => {
    const { det } = determinantAndInverse([[0n, 1n], [1n, 0n]]);
    expect(det).toBe(FR_ORDER - 1n);
  });

  it("rejects singular and non-square matrices", () => {
    expect(() => determinantAndInverse([[0n, 0n], [0n, 0n]])).toThrow(SingularMatrixError);
    expect(() => determinantAndInverse([[1n, 2n, 3n], [4n, 5n, 6n], [7n, 8n, 9n]])).toThrow(SingularMatrixError);
    expect(() => determinantAndInverse([[1n, 2n], [3n]])).toThrow(DimensionMismatchError);
  });

  it("vectorTimesMatrix agrees with the plain definition for 0/1 and general entries", () => {
    const matrix = randomMatrix(4);
    for (const vector of [[1n, 0n, 1n, 1n], [5n, FR_ORDER - 2n, 0n, 7n]]) {
      const expected = [0, 1, 2, 3].map((j) => modR(vector.reduce((sum, value, i) => sum + value * matrix[i]![j]!, 0n)));
      expect(vectorTimesMatrix(vector, matrix)).toEqual(expected);
    }
    expect(() => vectorTimesMatrix([1n], matrix)).toThrow(DimensionMismatchError);
  });
});
