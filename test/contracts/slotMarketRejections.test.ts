// The v2 market's rejections (real EDR chain, real pairings): every malformed or wrong placement, cancel or batch
// entry reverts with its named error and leaves the books as they were; a wrong hint never flips a conclusion.
import { randomBytes } from "node:crypto";
import { JsonRpcProvider, NonceManager, Wallet, ZeroAddress, hexlify } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalChain, type LocalChain } from "../../actors/chain/localChain.ts";
import { CANCEL_TYPES } from "../../contracts/client/eip712.ts";
import {
  bidTuple,
  certifyBid,
  ciphertextWords,
  deploySlotMarket,
  cancelSlotBid,
  decodeSlotMarketEvents,
  hintFromMirror,
  makeHint,
  placeSlotBids,
  placeWithFreshHints,
  proverFromLevels,
  purgeSlot,
  readBook,
  slotMarketErrorOf,
  type CertifiedBid,
  type MirroredBid,
  type SlotBatchEntry,
  type SlotHint,
  type SlotMarketHandle,
} from "../../contracts/client/v2/slotMarket.ts";
import { SlotBooks, type BookSideName, type SlotCalendar } from "../../protocol/book/slotBooks.ts";
import { encryptBlockBid } from "../../protocol/encoding/blockBid.ts";
import { blockParams } from "../../protocol/encoding/blockTokens.ts";
import { initCurve } from "../../protocol/fhipe/curve.ts";
import { setup, type MasterSecretKey } from "../../protocol/fhipe/fhipe.ts";

const calendar: SlotCalendar = { slotSeconds: 900, gateClosureSeconds: 300 };
const params = blockParams(10, 1);
/** Version 2 runs with Osaka's per-transaction cap (EIP-7825) on: every transaction asks for at most 2^24 gas. */
const TX = { gasLimit: 16_777_216n };

let chain: LocalChain;
let provider: JsonRpcProvider;
let market: SlotMarketHandle;
let dso: Wallet;
let msk: MasterSecretKey;
let tokenKey: Uint8Array;
let slot: number;
let now: number;
const books = new SlotBooks(calendar);
const mirrored = new Map<number, MirroredBid>();

beforeAll(async () => {
  await initCurve();
  chain = await startLocalChain({ network: "osaka" });
  provider = new JsonRpcProvider(chain.rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1 });
  dso = new Wallet(hexlify(randomBytes(32)));
  market = await deploySlotMarket(new NonceManager(new Wallet(chain.accountKeys[0]!, provider)), { ticketSigner: dso.address, params, calendar });
  msk = setup(params.dim);
  tokenKey = randomBytes(32);
  now = (await provider.getBlock("latest"))!.timestamp + 5;
  slot = Math.floor(now / calendar.slotSeconds) + 10;
});

afterAll(async () => {
  provider?.destroy();
  await chain?.stop();
});

type Made = { bid: CertifiedBid; key: Wallet; level: number; hint: SlotHint };

async function make(side: BookSideName, level: number, overrides: { slot?: number; notAfter?: number; signer?: Wallet; bidder?: string } = {}): Promise<Made> {
  const key = new Wallet(hexlify(randomBytes(32)));
  const ciphertext = encryptBlockBid(msk, tokenKey, params, level, randomBytes(32));
  const bid = await certifyBid(overrides.signer ?? dso, market, {
    bidder: overrides.bidder ?? key.address,
    side,
    slot: overrides.slot ?? slot,
    notAfter: overrides.notAfter ?? now + 10_000,
    commitment: hexlify(randomBytes(32)),
    ciphertext,
  });
  return { bid, key, level, hint: hintFromMirror(books, mirrored, { side, slot: bid.slot, level }, now + 1, params) };
}

/** Mines the call at the next second; its custom error's name, or undefined when it went through. */
async function outcome(call: () => Promise<{ wait(): Promise<unknown> }>): Promise<string | undefined> {
  now += 1;
  await provider.send("evm_setNextBlockTimestamp", [now]);
  try {
    await (await call()).wait();
    return undefined;
  } catch (error) {
    return slotMarketErrorOf(market, error)?.name ?? `unexpected: ${String(error).slice(0, 200)}`;
  }
}

const place = (made: Made, hint: SlotHint = made.hint) => outcome(() => market.contract.getFunction("placeBid")(bidTuple(made.bid, hint), TX));

/** Places a valid bid on chain and in the reference. */
async function placed(side: BookSideName, level: number): Promise<Made> {
  const made = await make(side, level);
  expect(await place(made)).toBeUndefined();
  const result = books.place({ bidder: made.key.address, side, slot, level, notAfter: made.bid.notAfter }, now);
  if (!result.ok) throw new Error(result.reason);
  mirrored.set(result.id, { level, ciphertext: made.bid.ciphertext });
  return made;
}

const snapshot = async () => JSON.stringify([await readBook(market, slot, "buy"), await readBook(market, slot, "sell")]);
/** The reference's books in the contract's terms: bids named by their one-time bidder. */
const bidderOf = (id: number) => books.bid(id)!.bidder;
const expectedSnapshot = () => JSON.stringify([books.book(slot, "buy").map(bidderOf), books.book(slot, "sell").map(bidderOf)]);

describe("v2 market rejections", () => {
  it("refuses each malformed placement with its named error and changes nothing", async () => {
    await placed("sell", 7);
    await placed("sell", 8);
    await placed("buy", 2);
    const before = await snapshot();
    expect(before).toBe(expectedSnapshot());

    // A ticket the DSO did not sign.
    expect(await place(await make("buy", 3, { signer: new Wallet(hexlify(randomBytes(32))) }))).toBe("BadTicket");
    // The gateway changed one word of a token: the root no longer matches the ticket's.
    const altered = await make("buy", 3);
    altered.bid.ciphertext.left[0]![0]! += 1n;
    expect(await place(altered)).toBe("BadTicket");
    // Too few tokens.
    const short = await make("buy", 3);
    expect(await outcome(() => market.contract.getFunction("placeBid")({ ...bidTuple(short.bid, short.hint), ciphertext: ciphertextWords(short.bid.ciphertext).slice(6) }, TX))).toBe("WrongLength");
    // A hint naming another head, or a position that is not in the list.
    const stale = await make("buy", 3);
    expect(await place(stale, { ...stale.hint, head: Wallet.createRandom().address })).toBe("StaleHint");
    expect(await place(stale, { ...stale.hint, prev: Wallet.createRandom().address })).toBe("StaleHint");
    // A proof of another token, or a token of another bid under this one's proof.
    const bad = await make("buy", 3);
    expect(await place(bad, { ...bad.hint, headToken: { ...bad.hint.headToken, proof: [...bad.hint.headToken.proof].reverse() } })).toBe("BadMerkleProof");
    // The relation proved with the wrong block, or the equality token for a strict relation: never a conclusion.
    const wrong = await make("buy", 3);
    expect(await place(wrong, { ...wrong.hint, headToken: { ...wrong.hint.headToken, token: (wrong.hint.headToken.token + 1) % (params.tokens - 1) } })).toBe("BadMerkleProof");
    // A true relation proved with another resting bid's token (its own valid proof): the contract reads the token of
    // the bid the book holds at that place, whatever the hint would like it to be, so the proof fails.
    const sells = books.book(slot, "sell");
    const other = await make("buy", 3);
    const otherHint = hintFromMirror(books, mirrored, { side: "buy", slot, level: 3 }, now + 1, params);
    const fromSecond = makeHint({
      side: "buy",
      ownList: [],
      oppositeList: [sells[1]!],
      notAfterOf: () => now + 10_000,
      bidderOf: (id) => books.bid(id)!.bidder,
      ciphertextOf: (id) => mirrored.get(id)!.ciphertext,
      prove: proverFromLevels((id) => mirrored.get(id)!.level, 3, params),
      now: now + 1,
      params,
    });
    expect(await place(other, { ...otherHint, headToken: fromSecond.headToken })).toBe("BadMerkleProof");
    // Claiming a match that is not there: the relation does not prove, the bid is not matched.
    const notCrossing = await make("buy", 3);
    const lie = hintFromMirror(books, mirrored, { side: "buy", slot, level: 9 }, now + 1, params);
    expect(await place(notCrossing, { ...lie, headToken: { ...lie.headToken } })).toBe("RelationNotProved");
    // Expired ticket, closed slot.
    expect(await place(await make("buy", 3, { notAfter: now - 1 }))).toBe("TicketExpired");
    expect(await place(await make("buy", 3, { slot: Math.floor(now / calendar.slotSeconds) }))).toBe("SlotClosed");
    // Slots are numbered below 2^31 (a list is slot · 2 + side in 32 bits); the reference refuses the same.
    expect(await place(await make("buy", 3, { slot: 2 ** 31 }))).toBe("SlotOutOfRange");
    expect(books.place({ bidder: Wallet.createRandom().address, side: "buy", slot: 2 ** 31, level: 3, notAfter: now + 10_000 }, now)).toMatchObject({ ok: false, reason: "SlotOutOfRange" });
    // Such a slot has no list (its number would alias another's): empty, nothing to purge.
    expect(await readBook(market, 2 ** 31 + slot, "buy")).toEqual([]);
    // A ticket for the zero address (which marks "no bid" in a record) is refused, as by the reference.
    expect(await place(await make("buy", 3, { bidder: ZeroAddress }))).toBe("ZeroBidder");
    expect(books.place({ bidder: ZeroAddress, side: "buy", slot, level: 3, notAfter: now + 10_000 }, now)).toMatchObject({ ok: false, reason: "ZeroBidder" });
    expect(await snapshot()).toBe(before);
  });

  it("places a bidder once, cancels only with its own key, and reports a bad batch entry without losing the others", async () => {
    const resting = await placed("buy", 1);
    const before = await snapshot();
    expect(await place(resting)).toBe("BidderAlreadyUsed");
    const stranger = new Wallet(hexlify(randomBytes(32)));
    expect(await outcome(async () => market.contract.getFunction("cancelBid")(resting.key.address, ZeroAddress, await stranger.signTypedData(market.domain, CANCEL_TYPES, { bidder: resting.key.address }), TX))).toBe("NotOwner");
    expect(await outcome(async () => market.contract.getFunction("cancelBid")(stranger.address, ZeroAddress, await stranger.signTypedData(market.domain, CANCEL_TYPES, { bidder: stranger.address }), TX))).toBe("UnknownBid");
    expect(await outcome(() => market.contract.getFunction("placeBidFromBatch")(bidTuple(resting.bid, resting.hint), TX))).toBe("OnlySelf");
    expect(await snapshot()).toBe(before);

    // A batch: a forged entry is reported, the good one is placed.
    const good = await make("sell", 9);
    const forged = await make("sell", 9, { signer: new Wallet(hexlify(randomBytes(32))) });
    now += 1;
    await provider.send("evm_setNextBlockTimestamp", [now]);
    const receipt = await (await market.contract.getFunction("placeBids")([bidTuple(forged.bid, forged.hint), bidTuple(good.bid, good.hint)], TX)).wait();
    const logs = receipt.logs.map((log: { topics: string[]; data: string }) => market.contract.interface.parseLog(log)).filter(Boolean);
    const rejected = logs.find((log: { name: string }) => log.name === "BidRejected");
    expect(rejected?.args.index).toBe(0n);
    expect(market.contract.interface.parseError(rejected?.args.reason)?.name).toBe("BadTicket");
    expect(logs.filter((log: { name: string }) => log.name === "BidPlaced")).toHaveLength(1);
    expect((await readBook(market, slot, "sell")).length).toBe(JSON.parse(before)[1].length + 1);
    // The reference follows the chain (the next test builds on this book).
    const mirroredGood = books.place({ bidder: good.key.address, side: "sell", slot, level: 9, notAfter: good.bid.notAfter }, now);
    if (!mirroredGood.ok) throw new Error(mirroredGood.reason);
    mirrored.set(mirroredGood.id, { level: 9, ciphertext: good.bid.ciphertext });
    expect(await snapshot()).toBe(expectedSnapshot());
  });

  it("places a batch of 12 resting bids in one transaction under Osaka's cap, each where the reference puts it", async () => {
    const entries = [];
    for (let i = 0; i < 12; i++) {
      const side: BookSideName = i % 2 === 0 ? "buy" : "sell";
      const level = side === "buy" ? i % 3 : 7 + (i % 3);
      const made = await make(side, level);
      // Each entry's hint sees the entries before it placed (the reference places them in order).
      const hint = hintFromMirror(books, mirrored, { side, slot, level }, now + 1, params);
      const result = books.place({ bidder: made.key.address, side, slot, level, notAfter: made.bid.notAfter }, now + 1);
      if (!result.ok || result.matchedWith !== null) throw new Error("every entry must rest");
      mirrored.set(result.id, { level, ciphertext: made.bid.ciphertext });
      entries.push(bidTuple(made.bid, hint));
    }
    now += 1;
    await provider.send("evm_setNextBlockTimestamp", [now]);
    const receipt = await (await market.contract.getFunction("placeBids")(entries, TX)).wait();
    expect(receipt.gasUsed).toBeLessThanOrEqual(16_777_216n);
    const logs = receipt.logs.map((log: { topics: string[]; data: string }) => market.contract.interface.parseLog(log)).filter(Boolean);
    expect(logs.filter((log: { name: string }) => log.name === "BidRejected")).toHaveLength(0);
    expect(logs.filter((log: { name: string }) => log.name === "BidPlaced")).toHaveLength(12);
    expect(await snapshot()).toBe(expectedSnapshot());
  });

  it("a hint gone stale is refused (StaleHint), made anew and placed exactly once", async () => {
    // Two sells hinted against the same book: the first takes the buy head, so the second's hint names a head gone.
    const head = books.book(slot, "buy")[0]!;
    const first = await make("sell", 0);
    const second = await make("sell", 0);
    expect(second.hint.head).toBe(bidderOf(head));
    expect(await place(first)).toBeUndefined();
    const taken = books.place({ bidder: first.key.address, side: "sell", slot, level: 0, notAfter: first.bid.notAfter }, now);
    if (!taken.ok || taken.matchedWith !== head) throw new Error("the first sell must take the head");
    mirrored.set(taken.id, { level: 0, ciphertext: first.bid.ciphertext });
    let hints = 0;
    const placed = await placeWithFreshHints(
      market,
      second.bid,
      () => (++hints === 1 ? second.hint : hintFromMirror(books, mirrored, { side: "sell", slot, level: 0 }, now + 1, params)),
      {
        attempts: 3,
        gasLimit: TX.gasLimit,
        beforeSend: async () => {
          now += 1;
          await provider.send("evm_setNextBlockTimestamp", [now]);
        },
      },
    );
    expect(placed.attempts).toBe(2);
    const result = books.place({ bidder: second.key.address, side: "sell", slot, level: 0, notAfter: second.bid.notAfter }, now);
    if (!result.ok) throw new Error(result.reason);
    mirrored.set(result.id, { level: 0, ciphertext: second.bid.ciphertext });
    // Placed (it took the next buy head): its record is its single-use mark, closed (status 2).
    expect(((await market.contract.getFunction("getBid")(second.key.address)) as unknown[])[0]).toBe(result.matchedWith === null ? 1n : 2n);
    expect(await snapshot()).toBe(expectedSnapshot());
    // Once placed, a further attempt is refused as a reused bidder: never placed twice.
    expect(await place(second)).toBe("BidderAlreadyUsed");
  });

  it("the client batch-places, cancels (a stale predecessor is refused), purges and decodes every event", async () => {
    // A batch: one bid that takes the sell head, one that rests; the client reports each entry from the events.
    const sellHead = books.book(slot, "sell")[0]!;
    const trial = books.clone();
    const entries: { bid: CertifiedBid; hint: SlotHint; made: Made; level: number; side: BookSideName }[] = [];
    const expected: SlotBatchEntry[] = [];
    for (const [side, level] of [["buy", 9], ["buy", 1]] as const) {
      const made = await make(side, level);
      const hint = hintFromMirror(trial, mirrored, { side, slot, level }, now + 1, params);
      const result = trial.place({ bidder: made.key.address, side, slot, level, notAfter: made.bid.notAfter }, now + 1);
      if (!result.ok) throw new Error(result.reason);
      expected.push({ ok: true, matchedWith: result.matchedWith === null ? null : trial.bid(result.matchedWith)!.bidder });
      entries.push({ bid: made.bid, hint, made, level, side });
    }
    now += 1;
    await provider.send("evm_setNextBlockTimestamp", [now]);
    const batch = await placeSlotBids(market, entries, TX);
    expect(batch.entries).toEqual(expected);
    expect(batch.entries[0]).toMatchObject({ matchedWith: bidderOf(sellHead) });
    const matched = batch.events.find((event) => event.type === "matched");
    expect(matched).toMatchObject({ type: "matched", sellBidder: bidderOf(sellHead), buyBidder: entries[0]!.bid.bidder, arriving: "buy", commitment: entries[0]!.bid.commitment });
    expect(batch.events.filter((event) => event.type === "placed")).toEqual([
      expect.objectContaining({ type: "placed", bidder: entries[1]!.bid.bidder, side: "buy", commitment: entries[1]!.bid.commitment }),
    ]);
    for (const entry of entries) {
      const result = books.place({ bidder: entry.made.key.address, side: entry.side, slot, level: entry.level, notAfter: entry.bid.notAfter }, now);
      if (!result.ok) throw new Error(result.reason);
      mirrored.set(result.id, { level: entry.level, ciphertext: entry.bid.ciphertext });
    }
    expect(await snapshot()).toBe(expectedSnapshot());
    // The same bid twice in a batch (a redelivery): the first is placed, the second refused as a reused bidder.
    const twice = await make("buy", 0);
    now += 1;
    await provider.send("evm_setNextBlockTimestamp", [now]);
    const repeated = await placeSlotBids(market, [{ bid: twice.bid, hint: twice.hint }, { bid: twice.bid, hint: twice.hint }], TX);
    const twicePlaced = books.place({ bidder: twice.key.address, side: "buy", slot, level: 0, notAfter: twice.bid.notAfter }, now);
    if (!twicePlaced.ok) throw new Error(twicePlaced.reason);
    mirrored.set(twicePlaced.id, { level: 0, ciphertext: twice.bid.ciphertext });
    expect(repeated.entries).toEqual([
      { ok: true, matchedWith: null },
      { ok: false, reason: "BidderAlreadyUsed" },
    ]);
    expect(await snapshot()).toBe(expectedSnapshot());

    // Cancel the resting one: a predecessor that is not its own is refused and changes nothing; the right one works.
    if (!batch.entries[1]!.ok) throw new Error("the second entry rests");
    const restingId = books.book(slot, "buy").find((id) => bidderOf(id) === entries[1]!.bid.bidder)!;
    const buyList = books.book(slot, "buy");
    const wrongPrev = bidderOf(buyList.find((id) => id !== books.predecessor(restingId) && id !== restingId)!);
    const before = await snapshot();
    expect(
      await outcome(async () => {
        await cancelSlotBid(market, entries[1]!.made.key, { slot, side: "buy", prev: wrongPrev }, TX);
        return { wait: async () => undefined };
      }),
    ).toBe("StaleHint");
    expect(await snapshot()).toBe(before);
    now += 1;
    await provider.send("evm_setNextBlockTimestamp", [now]);
    const cancelled = await cancelSlotBid(market, entries[1]!.made.key, { slot, side: "buy" }, TX);
    expect(cancelled.events).toEqual([{ type: "cancelled", slot, bidder: entries[1]!.bid.bidder, side: "buy" }]);
    books.cancel(entries[1]!.made.key.address);
    expect(await snapshot()).toBe(expectedSnapshot());

    // Past the slot's gate closure, a purge unlinks the open bids of a list from its head on, and says which.
    const buys = books.book(slot, "buy");
    now = books.calendar.slotSeconds * slot;
    await provider.send("evm_setNextBlockTimestamp", [now]);
    const purged = await purgeSlot(market, slot, "buy", 2, TX);
    expect(purged).toEqual(buys.slice(0, 2).map((id) => ({ type: "expired", slot, bidder: bidderOf(id), side: "buy" })));
    books.purge(slot, "buy", 2, now);
    expect(await snapshot()).toBe(expectedSnapshot());
    // Logs of another contract are not the market's.
    expect(decodeSlotMarketEvents(market, [{ address: dso.address, topics: [], data: "0x" }])).toEqual([]);
  });
});
