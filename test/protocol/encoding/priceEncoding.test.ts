// Unary price encoding (PROTOCOL §3) and Compare on encrypted bids: true iff level(a) ≥ level(b).
import { beforeAll, describe, expect, it } from "vitest";
import { randomInt } from "node:crypto";
import { initCurve } from "../../../protocol/fhipe/curve.ts";
import { compareBids, encryptBid, type BidCiphertext } from "../../../protocol/encoding/bidCiphertext.ts";
import { DimensionMismatchError, PriceLevelOutOfRangeError } from "../../../protocol/fhipe/errors.ts";
import { compare, decrypt, encryptLeft, encryptRight, randomScalar, setup } from "../../../protocol/fhipe/fhipe.ts";
import { dimensionFor, leftVector, rightVector } from "../../../protocol/encoding/priceEncoding.ts";
import { innerProduct } from "../fhipe/helpers.ts";

beforeAll(async () => {
  await initCurve();
});

describe("vectors", () => {
  it("have <x(a), y(b)> = 1 iff a < b, and every y non-zero", () => {
    const levels = 12;
    expect(dimensionFor(levels)).toBe(13);
    for (let a = 0; a < levels; a++) {
      for (let b = 0; b < levels; b++) {
        expect(innerProduct(leftVector(a, levels), rightVector(b, levels))).toBe(a < b ? 1n : 0n);
      }
      expect(rightVector(a, levels).at(-1)).toBe(1n);
      expect(leftVector(a, levels).at(-1)).toBe(0n);
    }
  });

  it("reject levels outside [0, n) and bad level counts", () => {
    expect(() => leftVector(10, 10)).toThrow(PriceLevelOutOfRangeError);
    expect(() => rightVector(-1, 10)).toThrow(PriceLevelOutOfRangeError);
    expect(() => leftVector(1.5, 10)).toThrow(PriceLevelOutOfRangeError);
    expect(() => dimensionFor(0)).toThrow(PriceLevelOutOfRangeError);
  });
});

function randomizers() {
  return { alpha: randomScalar(), beta: randomScalar() };
}

describe("compare on encrypted bids", () => {
  it("is a ≥ b for every pair at n = 10, and the decrypted inner product agrees", () => {
    const levels = 10;
    const msk = setup(dimensionFor(levels));
    const bids = Array.from({ length: levels }, (_, level) => encryptBid(msk, levels, level, randomizers()));
    for (let a = 0; a < levels; a++) {
      for (let b = 0; b < levels; b++) {
        expect(compareBids(bids[a]!, bids[b]!), `Compare(L(${a}), R(${b}))`).toBe(a >= b);
      }
    }
    // Cross-check one pair through full decryption against the plaintext inner product.
    const left = encryptLeft(msk, leftVector(3, levels), randomScalar());
    const right = encryptRight(msk, rightVector(7, levels), randomScalar());
    expect(decrypt(left, right, 2)).toBe(1);
    expect(compare(left.k2, right.c2)).toBe(false);
  });

  it("is a ≥ b on a random sample at n = 50, including the extremes", () => {
    const levels = 50;
    const msk = setup(dimensionFor(levels));
    const cache = new Map<number, BidCiphertext>();
    const bid = (level: number) => {
      let ciphertext = cache.get(level);
      if (ciphertext === undefined) {
        ciphertext = encryptBid(msk, levels, level, randomizers());
        cache.set(level, ciphertext);
      }
      return ciphertext;
    };
    const pairs: [number, number][] = [[0, 0], [49, 49], [0, 49], [49, 0], [24, 25], [25, 24]];
    for (let i = 0; i < 14; i++) pairs.push([randomInt(levels), randomInt(levels)]);
    for (const [a, b] of pairs) {
      expect(compareBids(bid(a), bid(b)), `Compare(L(${a}), R(${b}))`).toBe(a >= b);
    }
  });

  it("encryptBid gives fresh ciphertexts for fresh randomizers and reproduces them for the same (α, β)", () => {
    const levels = 5;
    const msk = setup(dimensionFor(levels));
    const opening = randomizers();
    const first = encryptBid(msk, levels, 2, opening);
    expect(encryptBid(msk, levels, 2, opening)).toEqual(first);
    const fresh = encryptBid(msk, levels, 2, randomizers());
    expect(fresh.left.some((word, i) => word === first.left[i])).toBe(false);
    expect(fresh.right.some((word, i) => word === first.right[i])).toBe(false);
    expect(first.left).toHaveLength(2 * 6);
    expect(first.right).toHaveLength(4 * 6);
    // A different level under the same randomizers is a different ciphertext (the opening binds the price).
    expect(encryptBid(msk, levels, 3, opening)).not.toEqual(first);
  });

  it("encryptBid rejects a key of another dimension and a level out of range", () => {
    const msk = setup(dimensionFor(5));
    expect(() => encryptBid(msk, 6, 2, randomizers())).toThrow(DimensionMismatchError);
    expect(() => encryptBid(msk, 5, 5, randomizers())).toThrow(PriceLevelOutOfRangeError);
  });
});
