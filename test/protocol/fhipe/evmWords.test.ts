// EVM words of points (EIP-197 order): the standard generators, round-trips, and rejection of bad points.
import { beforeAll, describe, expect, it } from "vitest";
import * as mcl from "mcl-wasm";
import { G1_GENERATOR_WORDS, G2_GENERATOR_WORDS, initCurve, standardG1, standardG2 } from "../../../protocol/fhipe/curve.ts";
import { DimensionMismatchError, PointNotInSubgroupError, PointNotOnCurveError } from "../../../protocol/fhipe/errors.ts";
import {
  g1FromWords,
  g1ToWords,
  g1VectorFromWords,
  g1VectorToWords,
  g2FromWords,
  g2ToWords,
  g2VectorFromWords,
  g2VectorToWords,
} from "../../../protocol/fhipe/evmWords.ts";
import { randomScalar } from "../../../protocol/fhipe/fhipe.ts";
import { frFromBigint } from "../../../protocol/fhipe/curve.ts";
import { fp, twistB, twistPointOutsideSubgroup } from "./helpers.ts";
import { FP_ORDER } from "../../../protocol/fhipe/order.ts";

beforeAll(async () => {
  await initCurve();
});

// EIP-197 / go-ethereum bn256 generator of G2, written out here independently of the source under test.
const EIP197_G2 = {
  xIm: 11559732032986387107991004021392285783925812861821192530917403151452391805634n,
  xRe: 10857046999023057135944570762232829481370756359578518086990519993285655852781n,
  yIm: 4082367875863433681332203403145435568316851327593401208105741076214120093531n,
  yRe: 8495653923123431417604973247489272438418190587263600148770280649306958101930n,
};

describe("standard generators", () => {
  it("G1 = (1, 2) and G2 in (x_im, x_re, y_im, y_re) order", () => {
    expect(g1ToWords(standardG1())).toEqual([1n, 2n]);
    expect(g2ToWords(standardG2())).toEqual([EIP197_G2.xIm, EIP197_G2.xRe, EIP197_G2.yIm, EIP197_G2.yRe]);
    expect(G1_GENERATOR_WORDS).toEqual([1n, 2n]);
  });

  it("are points of order r on their curves, and the pairing of them is not degenerate", () => {
    const g1 = standardG1();
    const g2 = standardG2();
    expect(g1.isValid() && g1.isValidOrder()).toBe(true);
    expect(g2.isValid() && g2.isValidOrder()).toBe(true);
    // y^2 = x^3 + 3 for G1; y^2 = x^3 + 3/(9+i) for G2 (the D-type twist EIP-197 uses).
    const [x1, y1] = [G1_GENERATOR_WORDS[0], G1_GENERATOR_WORDS[1]];
    expect((y1 * y1) % FP_ORDER).toBe((x1 ** 3n + 3n) % FP_ORDER);
    const x = g2.getX();
    const y = g2.getY();
    expect(mcl.sqr(y).isEqual(mcl.add(mcl.mul(mcl.sqr(x), x), twistB()))).toBe(true);
    expect(fp(x.get_b())).toBe(G2_GENERATOR_WORDS[0]);
    expect(mcl.pairing(g1, g2).isOne()).toBe(false);
  });

  it("e(a·G1, b·G2) = e(G1, G2)^(ab) (bilinearity through the word form)", () => {
    const a = randomScalar();
    const b = randomScalar();
    const p = g1FromWords(g1ToWords(mcl.mul(standardG1(), frFromBigint(a))));
    const q = g2FromWords(g2ToWords(mcl.mul(standardG2(), frFromBigint(b))));
    const lhs = mcl.pairing(p, q);
    const rhs = mcl.pow(mcl.pairing(standardG1(), standardG2()), mcl.mul(frFromBigint(a), frFromBigint(b)));
    expect(lhs.isEqual(rhs)).toBe(true);
  });
});

describe("round-trips", () => {
  it("random points and vectors survive words → point → words", () => {
    const points1 = Array.from({ length: 4 }, () => mcl.mul(standardG1(), frFromBigint(randomScalar())));
    const points2 = Array.from({ length: 4 }, () => mcl.mul(standardG2(), frFromBigint(randomScalar())));
    for (const point of points1) expect(g1FromWords(g1ToWords(point)).isEqual(point)).toBe(true);
    for (const point of points2) expect(g2FromWords(g2ToWords(point)).isEqual(point)).toBe(true);
    const words1 = g1VectorToWords(points1);
    const words2 = g2VectorToWords(points2);
    expect(words1).toHaveLength(8);
    expect(words2).toHaveLength(16);
    expect(g1VectorToWords(g1VectorFromWords(words1))).toEqual(words1);
    expect(g2VectorToWords(g2VectorFromWords(words2))).toEqual(words2);
  });

  it("the point at infinity is all-zero words, as EIP-197 has it", () => {
    expect(g1ToWords(new mcl.G1())).toEqual([0n, 0n]);
    expect(g2ToWords(new mcl.G2())).toEqual([0n, 0n, 0n, 0n]);
    expect(g1FromWords([0n, 0n]).isZero()).toBe(true);
    expect(g2FromWords([0n, 0n, 0n, 0n]).isZero()).toBe(true);
  });
});

describe("bad points", () => {
  it("G1 off the curve or with coordinates ≥ p is rejected", () => {
    expect(() => g1FromWords([1n, 3n])).toThrow(PointNotOnCurveError);
    expect(() => g1FromWords([1n, 2n + FP_ORDER])).toThrow(PointNotOnCurveError);
    expect(() => g1FromWords([-1n, 2n])).toThrow(PointNotOnCurveError);
    expect(() => g1FromWords([0n, 1n])).toThrow(PointNotOnCurveError);
  });

  it("G2 off the curve is rejected", () => {
    const words = g2ToWords(standardG2());
    expect(() => g2FromWords([words[0], words[1], words[2], words[3] + 1n])).toThrow(PointNotOnCurveError);
    // Swapping real and imaginary parts (the classic ordering bug) leaves the curve.
    expect(() => g2FromWords([words[1], words[0], words[3], words[2]])).toThrow(PointNotOnCurveError);
  });

  it("G2 on the twist but outside the order-r subgroup is rejected", () => {
    const words = twistPointOutsideSubgroup();
    const [xIm, xRe, yIm, yRe] = words;
    // The point really is on the curve: only the subgroup check can reject it.
    const onCurve = new mcl.G2();
    mcl.verifyOrderG2(false);
    onCurve.setStr(`1 ${xRe!.toString(16)} ${xIm!.toString(16)} ${yRe!.toString(16)} ${yIm!.toString(16)}`, 16);
    // isValid() includes mcl's order check while it is switched on, so ask while it is off.
    const isOnCurve = onCurve.isValid();
    mcl.verifyOrderG2(true);
    expect(isOnCurve).toBe(true);
    expect(onCurve.isValidOrder()).toBe(false);
    expect(() => g2FromWords(words)).toThrow(PointNotInSubgroupError);
    // The order check is restored afterwards for everyone else's mcl calls.
    expect(() => {
      const again = new mcl.G2();
      again.setStr(onCurve.getStr(16), 16);
    }).toThrow();
  });

  it("word counts that are not whole points are rejected", () => {
    expect(() => g1FromWords([1n])).toThrow(DimensionMismatchError);
    expect(() => g2FromWords([1n, 2n, 3n])).toThrow(DimensionMismatchError);
    expect(() => g1VectorFromWords([1n, 2n, 1n])).toThrow(DimensionMismatchError);
    expect(() => g2VectorFromWords([])).toThrow(DimensionMismatchError);
  });
});
