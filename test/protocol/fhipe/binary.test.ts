// Binary serialization of msk and bid ciphertexts: round-trips that still decrypt, and every malformed buffer rejected.
import { beforeAll, describe, expect, it } from "vitest";
import { initCurve } from "../../../protocol/fhipe/curve.ts";
import { decodeBidCiphertext, decodeMsk, encodeBidCiphertext, encodeMsk } from "../../../protocol/fhipe/binary.ts";
import { compareBids, encryptBid } from "../../../protocol/encoding/bidCiphertext.ts";
import {
  BinaryFormatError,
  PointNotInSubgroupError,
  PointNotOnCurveError,
  ScalarOutOfRangeError,
  SingularMatrixError,
  TruncatedBufferError,
} from "../../../protocol/fhipe/errors.ts";
import { g2ToWords } from "../../../protocol/fhipe/evmWords.ts";
import { decrypt, encryptLeft, encryptRight, randomScalar, setup } from "../../../protocol/fhipe/fhipe.ts";
import { dimensionFor } from "../../../protocol/encoding/priceEncoding.ts";
import { standardG2 } from "../../../protocol/fhipe/curve.ts";
import { twistPointOutsideSubgroup } from "./helpers.ts";
import { FR_ORDER } from "../../../protocol/fhipe/order.ts";

beforeAll(async () => {
  await initCurve();
});

const HEADER = 6;
const WORD = 32;

function writeWord(bytes: Uint8Array, index: number, word: bigint): Uint8Array {
  const copy = bytes.slice();
  copy.set(Buffer.from(word.toString(16).padStart(64, "0"), "hex"), HEADER + index * WORD);
  return copy;
}

describe("msk", () => {
  it("round-trips: same key material, and ciphertexts under the decoded key are identical", () => {
    const msk = setup(4);
    const bytes = encodeMsk(msk);
    expect(bytes.length).toBe(HEADER + (6 + 16) * WORD);
    const decoded = decodeMsk(bytes);
    expect(decoded.dim).toBe(4);
    expect(decoded.B).toEqual(msk.B);
    expect(decoded.Bstar).toEqual(msk.Bstar);
    expect(decoded.detB).toBe(msk.detB);
    expect(decoded.g1.isEqual(msk.g1) && decoded.g2.isEqual(msk.g2)).toBe(true);
    const alpha = randomScalar();
    const beta = randomScalar();
    const x = [1n, 2n, 0n, 3n];
    const y = [4n, 0n, 1n, 1n];
    const left = encryptLeft(decoded, x, alpha);
    expect(left.k2.every((point, j) => point.isEqual(encryptLeft(msk, x, alpha).k2[j]!))).toBe(true);
    expect(decrypt(left, encryptRight(msk, y, beta), 20)).toBe(7);
    expect(encodeMsk(decoded)).toEqual(bytes);
  });

  it("rejects a truncated buffer, including a bare header", () => {
    const bytes = encodeMsk(setup(3));
    expect(() => decodeMsk(bytes.subarray(0, bytes.length - 1))).toThrow(TruncatedBufferError);
    expect(() => decodeMsk(bytes.subarray(0, HEADER))).toThrow(TruncatedBufferError);
    expect(() => decodeMsk(bytes.subarray(0, 3))).toThrow(TruncatedBufferError);
  });

  it("rejects trailing bytes, a wrong magic or version, and a ciphertext passed as a key", () => {
    const bytes = encodeMsk(setup(2));
    expect(() => decodeMsk(new Uint8Array([...bytes, 0]))).toThrow(BinaryFormatError);
    const badVersion = bytes.slice();
    badVersion[3] = 9;
    expect(() => decodeMsk(badVersion)).toThrow(BinaryFormatError);
    const ciphertext = encodeBidCiphertext({ left: [1n, 2n], right: g2ToWords(standardG2()) });
    expect(() => decodeMsk(ciphertext)).toThrow(BinaryFormatError);
  });

  it("rejects a singular B, an unreduced entry and bad generators", () => {
    const bytes = encodeMsk(setup(2));
    // Row 1 := row 0 makes B singular.
    const msk = decodeMsk(bytes);
    const singular = writeWord(writeWord(bytes, 8, msk.B[0]![0]!), 9, msk.B[0]![1]!);
    expect(() => decodeMsk(singular)).toThrow(SingularMatrixError);
    expect(() => decodeMsk(writeWord(bytes, 6, FR_ORDER + 1n))).toThrow(ScalarOutOfRangeError);
    expect(() => decodeMsk(writeWord(bytes, 1, 12345n))).toThrow(PointNotOnCurveError);
    const outside = twistPointOutsideSubgroup();
    let withBadG2 = bytes;
    outside.forEach((word, i) => (withBadG2 = writeWord(withBadG2, 2 + i, word)));
    expect(() => decodeMsk(withBadG2)).toThrow(PointNotInSubgroupError);
    expect(() => decodeMsk(writeWord(writeWord(bytes, 0, 0n), 1, 0n))).toThrow(PointNotOnCurveError);
  });
});

describe("bid ciphertext", () => {
  it("round-trips to identical words that still compare correctly", () => {
    const levels = 6;
    const msk = setup(dimensionFor(levels));
    const high = encryptBid(msk, levels, 4, { alpha: randomScalar(), beta: randomScalar() });
    const low = encryptBid(msk, levels, 1, { alpha: randomScalar(), beta: randomScalar() });
    const bytes = encodeBidCiphertext(high);
    expect(bytes.length).toBe(HEADER + 6 * 7 * WORD);
    const decoded = decodeBidCiphertext(bytes);
    expect(decoded).toEqual(high);
    expect(compareBids(decoded, low)).toBe(true);
    expect(compareBids(low, decoded)).toBe(false);
  });

  it("rejects truncation, trailing bytes, off-curve and out-of-subgroup points", () => {
    const levels = 3;
    const msk = setup(dimensionFor(levels));
    const bytes = encodeBidCiphertext(encryptBid(msk, levels, 0, { alpha: randomScalar(), beta: randomScalar() }));
    expect(() => decodeBidCiphertext(bytes.subarray(0, bytes.length - WORD))).toThrow(TruncatedBufferError);
    expect(() => decodeBidCiphertext(new Uint8Array([...bytes, 1, 2]))).toThrow(BinaryFormatError);
    expect(() => decodeBidCiphertext(writeWord(bytes, 1, 7n))).toThrow(PointNotOnCurveError);
    let outside = bytes;
    twistPointOutsideSubgroup().forEach((word, i) => (outside = writeWord(outside, 2 * 4 + 4 + i, word)));
    expect(() => decodeBidCiphertext(outside)).toThrow(PointNotInSubgroupError);
  });

  it("refuses to encode halves of inconsistent length", () => {
    expect(() => encodeBidCiphertext({ left: [1n, 2n], right: [1n, 2n, 3n] })).toThrow(BinaryFormatError);
  });
});
