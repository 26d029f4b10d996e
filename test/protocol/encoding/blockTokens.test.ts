// Block tokens (PROTOCOL §3.2) in the clear: the inner product of a left and a right token over F_r is zero exactly
// when the relation the token stands for holds — lt with the first differing block, or eq — for every ordered pair.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  blockParams,
  digitsOf,
  equalityToken,
  firstDifferingBlock,
  hintFromLevels,
  leftTokenVector,
  rightTokenVector,
  tokenOfHint,
  type BlockParams,
} from "../../../protocol/encoding/blockTokens.ts";
import { BlockWidthError } from "../../../protocol/encoding/errors.ts";
import { modR } from "../../../protocol/fhipe/field.ts";

const dot = (x: readonly bigint[], y: readonly bigint[]) => modR(x.reduce((sum, value, j) => sum + value * y[j]!, 0n));

function zeroTokens(tokenKey: Uint8Array, a: number, b: number, params: BlockParams): number[] {
  const seed = randomBytes(32);
  return Array.from({ length: params.tokens }, (_, token) => token).filter(
    (token) => dot(leftTokenVector(tokenKey, a, token, params), rightTokenVector(tokenKey, seed, b, token, params)) === 0n,
  );
}

describe("block tokens", () => {
  it("has the shape of PROTOCOL §3.2: m = ⌈log2 n / w⌉ blocks, d = 2^w + 1, digits most significant first", () => {
    expect(blockParams(10, 1)).toMatchObject({ base: 2, blocks: 4, dim: 3, tokens: 5 });
    expect(blockParams(1024, 1)).toMatchObject({ blocks: 10, dim: 3 });
    expect(blockParams(1024, 2)).toMatchObject({ blocks: 5, dim: 5 });
    expect(blockParams(1024, 5)).toMatchObject({ blocks: 2, dim: 33 });
    expect(blockParams(10, 4)).toMatchObject({ blocks: 1, dim: 17 });
    expect(digitsOf(6, blockParams(10, 1))).toEqual([0, 1, 1, 0]);
    expect(digitsOf(1023, blockParams(1024, 5))).toEqual([31, 31]);
    expect(() => blockParams(10, 5)).toThrow(BlockWidthError);
    expect(() => blockParams(10, 0)).toThrow(BlockWidthError);
  });

  for (const [levels, width] of [
    [10, 1],
    [10, 2],
    [16, 4],
  ] as const) {
    it(`n = ${levels}, w = ${width}: for every ordered pair, exactly the token of the true relation is zero`, () => {
      const params = blockParams(levels, width);
      const tokenKey = randomBytes(32);
      for (let a = 0; a < levels; a++) {
        for (let b = 0; b < levels; b++) {
          const expected = a === b ? [equalityToken(params)] : a < b ? [firstDifferingBlock(a, b, params)! - 1] : [];
          expect(zeroTokens(tokenKey, a, b, params), `${a} vs ${b}`).toEqual(expected);
          const hint = hintFromLevels(a, b, params);
          expect(hint === null ? [] : [tokenOfHint(hint, params)]).toEqual(expected);
        }
      }
    });
  }

  it("n = 1,024 (w = 1, 2, 5): 20 random levels, every ordered pair", () => {
    for (const width of [1, 2, 5]) {
      const params = blockParams(1024, width);
      const tokenKey = randomBytes(32);
      const levels = Array.from({ length: 20 }, () => randomBytes(2).readUInt16BE() % 1024);
      for (const a of levels) {
        for (const b of levels) {
          const expected = a === b ? [equalityToken(params)] : a < b ? [firstDifferingBlock(a, b, params)! - 1] : [];
          expect(zeroTokens(tokenKey, a, b, params), `w=${width}: ${a} vs ${b}`).toEqual(expected);
        }
      }
    }
  });
});
