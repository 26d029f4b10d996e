// A mirror of the v2 books from public chain data only (logs and placement calldata), on a real chain with real
// pairings: it holds exactly the contract's lists, and its public-data hints place bids where the reference puts them.
import { randomBytes } from "node:crypto";
import { JsonRpcProvider, NonceManager, Wallet, hexlify } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalChain, type LocalChain } from "../../actors/chain/localChain.ts";
import { SlotChainMirror } from "../../actors/chain/slotMirror.ts";
import { CANCEL_TYPES } from "../../contracts/client/eip712.ts";
import { bidTuple, certifyBid, deploySlotMarket, hintFromMirror, placeSlotBids, readBook, type MirroredBid, type SlotMarketHandle } from "../../contracts/client/v2/slotMarket.ts";
import { SlotBooks, type BookSideName, type SlotCalendar } from "../../protocol/book/slotBooks.ts";
import { encryptBlockBid } from "../../protocol/encoding/blockBid.ts";
import { blockParams } from "../../protocol/encoding/blockTokens.ts";
import { initCurve } from "../../protocol/fhipe/curve.ts";
import { setup } from "../../protocol/fhipe/fhipe.ts";

const params = blockParams(64, 2);
const calendar: SlotCalendar = { slotSeconds: 900, gateClosureSeconds: 300 };
const TX = { gasLimit: 16_777_216n };
let chain: LocalChain;
let provider: JsonRpcProvider;
let market: SlotMarketHandle;

beforeAll(async () => {
  await initCurve();
  chain = await startLocalChain({ network: "osaka" });
  provider = new JsonRpcProvider(chain.rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1 });
});

afterAll(async () => {
  provider?.destroy();
  await chain?.stop();
});

describe("v2 chain mirror", () => {
  it("rebuilds every list from logs and calldata, and places bids with hints from public data only", async () => {
    const dso = Wallet.createRandom();
    market = await deploySlotMarket(new NonceManager(new Wallet(chain.accountKeys[0]!, provider)), { ticketSigner: dso.address, params, calendar });
    const fromBlock = await provider.getBlockNumber();
    const msk = setup(params.dim);
    const tokenKey = randomBytes(32);
    const now = (await provider.getBlock("latest"))!.timestamp;
    const slots = [Math.floor(now / calendar.slotSeconds) + 5, Math.floor(now / calendar.slotSeconds) + 6];
    const books = new SlotBooks(calendar);
    const mirrored = new Map<number, MirroredBid>();
    const keys = new Map<string, Wallet>();
    const newKey = () => new Wallet(hexlify(randomBytes(32)));
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    const make = async (side: BookSideName, slot: number, level: number) => {
      const key = newKey();
      keys.set(key.address, key);
      const ciphertext = encryptBlockBid(msk, tokenKey, params, level, randomBytes(32));
      const bid = await certifyBid(dso, market, { bidder: key.address, side, slot, notAfter: now + 86_400, commitment: hexlify(randomBytes(32)), ciphertext });
      return { bid, level, key };
    };
    const mirrorPlace = (made: Awaited<ReturnType<typeof make>>, at: number) => {
      const result = books.place({ bidder: made.key.address, side: made.bid.side, slot: made.bid.slot, level: made.level, notAfter: made.bid.notAfter }, at);
      if (!result.ok) throw new Error(result.reason);
      mirrored.set(result.id, { level: made.level, ciphertext: made.bid.ciphertext });
      return result;
    };
    // Placements one by one (the DSO's hints), a batch, matches, a cancel.
    for (let i = 0; i < 16; i++) {
      const side: BookSideName = i % 2 === 0 ? "buy" : "sell";
      const made = await make(side, slots[i % 2]!, side === "buy" ? random(40) : 24 + random(40));
      const hint = hintFromMirror(books, mirrored, { side, slot: made.bid.slot, level: made.level }, now + 100, params);
      await (await market.contract.getFunction("placeBid")(bidTuple(made.bid, hint), TX)).wait();
      mirrorPlace(made, (await provider.getBlock("latest"))!.timestamp);
    }
    const trial = books.clone();
    const batch = [];
    for (let i = 0; i < 4; i++) {
      const made = await make(i % 2 === 0 ? "buy" : "sell", slots[0]!, i % 2 === 0 ? 63 : random(64));
      batch.push({ made, hint: hintFromMirror(trial, mirrored, { side: made.bid.side, slot: made.bid.slot, level: made.level }, now + 100, params) });
      const placed = trial.place({ bidder: made.key.address, side: made.bid.side, slot: made.bid.slot, level: made.level, notAfter: made.bid.notAfter }, now + 100);
      if (placed.ok) mirrored.set(placed.id, { level: made.level, ciphertext: made.bid.ciphertext });
    }
    const placedBatch = await placeSlotBids(market, batch.map((entry) => ({ bid: entry.made.bid, hint: entry.hint })), TX);
    expect(placedBatch.entries.every((entry) => entry.ok)).toBe(true);
    for (const entry of batch) mirrorPlace(entry.made, now + 100);
    const victim = books.book(slots[0]!, "buy").at(-1)!;
    const victimKey = keys.get(books.bid(victim)!.bidder)!;
    const prev = books.predecessor(victim)!;
    await (
      await market.contract.getFunction("cancelBid")(victimKey.address, prev === 0 ? "0x0000000000000000000000000000000000000000" : books.bid(prev)!.bidder, await victimKey.signTypedData(market.domain, CANCEL_TYPES, { bidder: victimKey.address }), TX)
    ).wait();
    books.cancel(victimKey.address);

    // A mirror that saw none of this, from public data.
    const mirror = new SlotChainMirror(market, params, fromBlock);
    expect(await mirror.follow(provider)).toBeGreaterThan(20);
    for (const slot of slots) {
      for (const side of ["buy", "sell"] as const) {
        const onChain = (await readBook(market, slot, side)).map((bidder) => bidder.toLowerCase());
        expect(mirror.book(slot, side), `${slot} ${side}`).toEqual(onChain);
        expect(onChain).toEqual(books.book(slot, side).map((id) => books.bid(id)!.bidder.toLowerCase()));
      }
    }

    // New bids hinted from the mirror alone: each placed where the reference puts it (rest or match).
    for (let i = 0; i < 6; i++) {
      const side: BookSideName = i % 2 === 0 ? "sell" : "buy";
      const made = await make(side, slots[i % 2]!, random(64));
      await mirror.follow(provider);
      const hint = mirror.hint({ side, slot: made.bid.slot, ciphertext: made.bid.ciphertext }, now + 100);
      expect(hint).toEqual(hintFromMirror(books, mirrored, { side, slot: made.bid.slot, level: made.level }, now + 100, params));
      await (await market.contract.getFunction("placeBid")(bidTuple(made.bid, hint), TX)).wait();
      mirrorPlace(made, now + 100);
    }
    await mirror.follow(provider);
    for (const slot of slots) for (const side of ["buy", "sell"] as const) expect(mirror.book(slot, side)).toEqual((await readBook(market, slot, side)).map((b) => b.toLowerCase()));
  }, 180_000);
});
