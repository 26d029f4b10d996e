// The v2 market (contracts/src/v2/SlotMarket.sol, real EDR chain, real pairings) against the reference book
// (protocol/book/slotBooks.ts), position for position after every transaction: random sequences (fast-check) of
// placements, cancels, time steps and purges over three slots; hints made the DSO's way from clear levels.
import { randomBytes } from "node:crypto";
import { fc, test } from "@fast-check/vitest";
import { JsonRpcProvider, NonceManager, Wallet, ZeroAddress, hexlify } from "ethers";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { startLocalChain, type LocalChain } from "../../actors/chain/localChain.ts";
import { CANCEL_TYPES } from "../../contracts/client/eip712.ts";
import { bidTuple, certifyBid, deploySlotMarket, hintFromMirror, readBook, slotMarketErrorOf, type MirroredBid, type SlotMarketHandle } from "../../contracts/client/v2/slotMarket.ts";
import { SlotBooks, type BookSideName, type SlotCalendar } from "../../protocol/book/slotBooks.ts";
import { encryptBlockBid } from "../../protocol/encoding/blockBid.ts";
import { blockParams, type BlockParams } from "../../protocol/encoding/blockTokens.ts";
import { initCurve } from "../../protocol/fhipe/curve.ts";
import { setup, type MasterSecretKey } from "../../protocol/fhipe/fhipe.ts";

const calendar: SlotCalendar = { slotSeconds: 900, gateClosureSeconds: 300 };
/** Version 2 runs with Osaka's per-transaction cap (EIP-7825) on: every transaction asks for at most 2^24 gas. */
const TX = { gasLimit: 16_777_216n };

let chain: LocalChain;
let provider: JsonRpcProvider;
let deployer: NonceManager;

beforeAll(async () => {
  await initCurve();
  chain = await startLocalChain({ network: "osaka" });
  provider = new JsonRpcProvider(chain.rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1 });
  deployer = new NonceManager(new Wallet(chain.accountKeys[0]!, provider));
});

afterAll(async () => {
  provider?.destroy();
  await chain?.stop();
});

type Op =
  | { kind: "place"; side: BookSideName; slot: number; level: number; lifetime: number }
  | { kind: "cancel"; pick: number }
  | { kind: "wait"; seconds: number }
  | { kind: "purge"; slot: number; side: BookSideName };

function ops(levels: number, maxLength: number) {
  return fc.array(
    fc.oneof(
      { weight: 10, arbitrary: fc.record({ kind: fc.constant("place" as const), side: fc.constantFrom<BookSideName>("buy", "sell"), slot: fc.integer({ min: 0, max: 2 }), level: fc.integer({ min: 0, max: levels - 1 }), lifetime: fc.integer({ min: 5, max: 4_000 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("cancel" as const), pick: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("wait" as const), seconds: fc.integer({ min: 1, max: 900 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("purge" as const), slot: fc.integer({ min: 0, max: 2 }), side: fc.constantFrom<BookSideName>("buy", "sell") }) },
    ),
    { minLength: Math.floor(maxLength * 0.9), maxLength },
  );
}


/** One fresh market, a sequence run on chain and on the reference, the books compared after every transaction. */
async function runSequence(params: BlockParams, msk: MasterSecretKey, tokenKey: Uint8Array, sequence: Op[]): Promise<{ placed: number; matched: number; rejected: number }> {
  const dso = Wallet.createRandom();
  const market: SlotMarketHandle = await deploySlotMarket(deployer, { ticketSigner: dso.address, params, calendar });
  let now = (await provider.getBlock("latest"))!.timestamp + 10;
  // Three slots whose gate closures can come during the run (the last long after).
  const firstSlot = Math.floor((now + 1_200) / calendar.slotSeconds) + 1;
  const slots = [firstSlot, firstSlot + 1, firstSlot + 4];
  const books = new SlotBooks(calendar);
  const mirrored = new Map<number, MirroredBid>();
  const keys: { address: string; signTypedData: Wallet["signTypedData"] }[] = [];
  const tally = { placed: 0, matched: 0, rejected: 0 };
  /** The next transaction, mined at `now + 1` (the reference's clock). */
  const send = async (call: () => Promise<{ wait(): Promise<unknown> }>) => {
    now += 1;
    await provider.send("evm_setNextBlockTimestamp", [now]);
    await (await call()).wait();
  };
  const revertName = async (pending: Promise<unknown>): Promise<string | undefined> => {
    try {
      await pending;
      return undefined;
    } catch (error) {
      return slotMarketErrorOf(market, error)?.name ?? String(error).slice(0, 300);
    }
  };
  const sameBooks = async () => {
    for (const slot of slots)
      for (const side of ["buy", "sell"] as const) {
        expect(await readBook(market, slot, side), `slot ${slot} ${side}`).toEqual(books.book(slot, side).map((id) => books.bid(id)!.bidder));
      }
  };
  for (const step of sequence) {
    switch (step.kind) {
      case "place": {
        const slot = slots[step.slot]!;
        const key = Wallet.createRandom();
        const ciphertext = encryptBlockBid(msk, tokenKey, params, step.level, randomBytes(32));
        const bid = await certifyBid(dso, market, {
          bidder: key.address,
          side: step.side,
          slot,
          notAfter: now + 1 + step.lifetime,
          commitment: hexlify(randomBytes(32)),
          ciphertext,
        });
        const input = { bidder: key.address, side: step.side, slot, level: step.level, notAfter: bid.notAfter };
        // The hint is made from the books as the chain holds them before this placement.
        const hint = hintFromMirror(books, mirrored, input, now + 1, params);
        const expected = books.place(input, now + 1);
        const placing = send(() => market.contract.getFunction("placeBid")(bidTuple(bid, hint), TX));
        if (!expected.ok) {
          // The same named error, and nothing changes.
          expect(await revertName(placing)).toBe(expected.reason);
          tally.rejected += 1;
          break;
        }
        await placing;
        keys.push(key);
        mirrored.set(expected.id, { level: step.level, ciphertext });
        tally.placed += 1;
        if (expected.matchedWith !== null) tally.matched += 1;
        break;
      }
      case "cancel": {
        const key = keys[step.pick % Math.max(1, keys.length)];
        if (key === undefined) break;
        const signature = await key.signTypedData(market.domain, CANCEL_TYPES, { bidder: key.address });
        const id = books.idOf(key.address);
        const prevId = id === undefined ? 0 : (books.predecessor(id) ?? 0);
        const prev = prevId === 0 ? ZeroAddress : books.bid(prevId)!.bidder;
        const cancelled = books.cancel(key.address);
        const cancelling = send(() => market.contract.getFunction("cancelBid")(key.address, prev, signature, TX));
        if (cancelled === null) expect(await revertName(cancelling)).toBe("BidNotOpen");
        else await cancelling;
        break;
      }
      case "wait":
        now += step.seconds;
        break;
      case "purge": {
        const slot = slots[step.slot]!;
        books.purge(slot, step.side, 5, now + 1);
        await send(() => market.contract.getFunction("purge")(slot, step.side === "buy" ? 0 : 1, 5, TX));
        break;
      }
    }
    await sameBooks();
  }
  return tally;
}

/** Runs `numRuns` random sequences on fresh markets; a failure shrinks (within the time limit) to a minimal sequence. */
function holdsAgainstReference(levels: number, width: number, numRuns: number, maxLength: number) {
  const params = blockParams(levels, width);
  // The market's keys, made at the first run (the curve is initialised in beforeAll).
  let keys: { msk: MasterSecretKey; tokenKey: Uint8Array } | undefined;
  let submitted = 0;
  test.prop([ops(levels, maxLength)], { numRuns, interruptAfterTimeLimit: 400_000, markInterruptAsFailure: true })(
    `n = ${levels}, w = ${width}: the same books, events and rejections as the reference after every transaction`,
    async (sequence) => {
      keys ??= { msk: setup(params.dim), tokenKey: randomBytes(32) };
      const tally = await runSequence(params, keys.msk, keys.tokenKey, sequence);
      submitted += tally.placed + tally.rejected;
      expect(tally.placed + tally.rejected).toBe(sequence.filter((step) => step.kind === "place").length);
    },
    600_000,
  );
  return () => submitted;
}

describe("v2 market against the reference", () => {
  const submittedAt10 = holdsAgainstReference(10, 1, 7, 125);
  holdsAgainstReference(10, 2, 1, 80);
  holdsAgainstReference(1024, 1, 1, 80);
  holdsAgainstReference(1024, 2, 1, 40);
  test("submitted at least 500 random bids at n = 10, w = 1 (placed or rejected as the reference says)", () => {
    expect(submittedAt10()).toBeGreaterThanOrEqual(500);
  });
});
