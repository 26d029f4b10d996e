// Hints for the v2 market made two ways (contracts/client/v2 makeHint): the DSO's from clear levels, and anyone's from
// the public ciphertexts with off-chain zero tests (real pairings). For new bids against random books at n = 1,024
// (w = 1 and 2) both ways give the same hint: the same head decision, position, tokens and proofs.
import { randomBytes } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { makeHint, proverFromCiphertexts, proverFromLevels } from "../../contracts/client/v2/slotMarket.ts";
import { SlotBooks, type BookSideName } from "../../protocol/book/slotBooks.ts";
import { decodeBlockCiphertext, encryptBlockBid, type BlockCiphertext, type BlockPoints } from "../../protocol/encoding/blockBid.ts";
import { blockParams } from "../../protocol/encoding/blockTokens.ts";
import { initCurve } from "../../protocol/fhipe/curve.ts";
import { setup } from "../../protocol/fhipe/fhipe.ts";

beforeAll(async () => {
  await initCurve();
});

const calendar = { slotSeconds: 900, gateClosureSeconds: 300 };

describe("v2 hints", () => {
  for (const width of [1, 2]) {
    it(`n = 1,024, w = ${width}: the hint from public ciphertexts equals the hint from clear levels`, () => {
      const params = blockParams(1024, width);
      const msk = setup(params.dim);
      const tokenKey = randomBytes(32);
      const books = new SlotBooks(calendar);
      const now = 1_000;
      const slot = 100;
      const levels = new Map<number, number>();
      const ciphertexts = new Map<number, BlockCiphertext>();
      const points = new Map<number, BlockPoints>();
      const random = () => randomBytes(2).readUInt16BE() % 1024;
      // A book: buys below 600, sells above 400 (some cross and match on the way, as on chain).
      for (let i = 0; i < 30; i++) {
        const side: BookSideName = i % 2 === 0 ? "buy" : "sell";
        const level = side === "buy" ? random() % 600 : 400 + (random() % 624);
        const placed = books.place({ bidder: `0x${(i + 1).toString(16).padStart(40, "0")}`, side, slot, level, notAfter: now + 10_000 }, now);
        if (!placed.ok) throw new Error(placed.reason);
        const ciphertext = encryptBlockBid(msk, tokenKey, params, level, randomBytes(32));
        levels.set(placed.id, level);
        ciphertexts.set(placed.id, ciphertext);
        points.set(placed.id, decodeBlockCiphertext(ciphertext));
      }
      let matches = 0;
      for (let i = 0; i < 12; i++) {
        const side: BookSideName = i % 2 === 0 ? "buy" : "sell";
        // Every fourth buy at the top and sell at the bottom: they cross the opposite head; the rest at random.
        const level = i % 4 === 0 ? 1023 : i % 4 === 1 ? 0 : random();
        const ciphertext = encryptBlockBid(msk, tokenKey, params, level, randomBytes(32));
        const common = {
          side,
          ownList: books.book(slot, side),
          oppositeList: books.book(slot, side === "buy" ? "sell" : "buy"),
          notAfterOf: (id: number) => books.bid(id)!.notAfter,
          bidderOf: (id: number) => books.bid(id)!.bidder,
          ciphertextOf: (id: number) => ciphertexts.get(id)!,
          now,
          params,
        };
        const clear = makeHint({ ...common, prove: proverFromLevels((id) => levels.get(id)!, level, params) });
        const fromPublic = makeHint({ ...common, prove: proverFromCiphertexts((id) => points.get(id)!, decodeBlockCiphertext(ciphertext), params) });
        expect(fromPublic, `${side} at ${level}`).toEqual(clear);
        if (clear.matchHead) matches += 1;
      }
      expect(matches).toBeGreaterThanOrEqual(6);
    }, 180_000);
  }
});
