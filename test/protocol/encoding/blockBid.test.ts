// Block tokens encrypted with real pairings (mcl-wasm, BN254; PROTOCOL §3.2): for every ordered pair of 20 random
// levels at n = 1,024 and w ∈ {1, 2, 5}, each true relation proves with its hint, no false one proves whatever
// token is tried, the hint found from public ciphertexts equals the one from clear levels, and a bid's ciphertext is
// reproduced word for word from (msk, token key, level, seed).
import { randomBytes } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { decodeBlockCiphertext, encryptBlockBid, hintFromCiphertexts, tokenTest } from "../../../protocol/encoding/blockBid.ts";
import { blockParams, equalityToken, firstDifferingBlock, hintFromLevels } from "../../../protocol/encoding/blockTokens.ts";
import { initCurve } from "../../../protocol/fhipe/curve.ts";
import { setup } from "../../../protocol/fhipe/fhipe.ts";

beforeAll(async () => {
  await initCurve();
});

describe("block tokens with real pairings", () => {
  for (const width of [1, 2, 5]) {
    it(`n = 1,024, w = ${width}: every ordered pair of 20 random levels`, () => {
      const params = blockParams(1024, width);
      const msk = setup(params.dim);
      const tokenKey = randomBytes(32);
      const levels = Array.from({ length: 20 }, () => randomBytes(2).readUInt16BE() % 1024);
      const bids = levels.map((level) => decodeBlockCiphertext(encryptBlockBid(msk, tokenKey, params, level, randomBytes(32))));
      for (const [i, a] of levels.entries()) {
        for (const [j, b] of levels.entries()) {
          const proving = Array.from({ length: params.tokens }, (_, token) => token).filter((token) => tokenTest(bids[i]!, bids[j]!, token));
          const expected = a === b ? [equalityToken(params)] : a < b ? [firstDifferingBlock(a, b, params)! - 1] : [];
          expect(proving, `${a} vs ${b}`).toEqual(expected);
          // The public-data hint finder on a sample of the pairs (its tests are those above).
          if ((i + j) % 4 === 0) expect(hintFromCiphertexts(bids[i]!, bids[j]!, params), `${a} vs ${b}`).toEqual(hintFromLevels(a, b, params));
        }
      }
    }, 180_000);
  }

  it("reproduces a ciphertext word for word from (msk, token key, level, seed), and another seed changes every token", () => {
    const params = blockParams(10, 1);
    const msk = setup(params.dim);
    const tokenKey = randomBytes(32);
    const seed = randomBytes(32);
    const first = encryptBlockBid(msk, tokenKey, params, 7, seed);
    expect(encryptBlockBid(msk, tokenKey, params, 7, Uint8Array.from(seed))).toEqual(first);
    const other = encryptBlockBid(msk, tokenKey, params, 7, randomBytes(32));
    for (let token = 0; token < params.tokens; token++) {
      expect(other.left[token]).not.toEqual(first.left[token]);
      expect(other.right[token]).not.toEqual(first.right[token]);
    }
  });
});
