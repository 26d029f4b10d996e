// Every rejection of the market contract, by its custom error name, and proof that a rejected call changes nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContractFactory, Contract, ZeroAddress } from "ethers";
import { g2FromWords } from "../../protocol/fhipe/evmWords.ts";
import { PointNotInSubgroupError } from "../../protocol/fhipe/errors.ts";
import {
  buildBid,
  cancelBid,
  getBid,
  getBidCiphertext,
  getHeapBidIds,
  loadArtifact,
  MarketRevertError,
  placeBid,
  placeBids,
  purgeExpired,
  signCancel,
  signTicket,
  withMarketErrors,
  type MarketHandle,
  type SignedBid,
} from "../../contracts/client/index.ts";
import { createMarketFixture, randomWallet, resign, TX_GAS, type MadeBid, type MarketFixture, type MarketState } from "./marketFixture.ts";
import { twistPointOutsideSubgroup } from "./curvePoints.ts";
import { FP_ORDER } from "../../protocol/fhipe/order.ts";

const LEVELS = 10;
const HOUR = 3600;

/** Runs a call that must revert with `errorName`, and checks that the market's state and logs did not change. */
async function expectRejected(fixture: MarketFixture, errorName: string, call: () => Promise<unknown>): Promise<MarketRevertError> {
  const before: MarketState = await fixture.marketState();
  const fromBlock = (await fixture.provider.getBlockNumber()) + 1;
  let caught: unknown;
  try {
    await call();
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected a revert with ${errorName}`).toBeInstanceOf(MarketRevertError);
  expect((caught as MarketRevertError).errorName).toBe(errorName);
  expect(await fixture.marketState()).toEqual(before);
  expect(await fixture.provider.getLogs({ address: fixture.market.address, fromBlock })).toEqual([]);
  return caught as MarketRevertError;
}

describe("rejected bids", () => {
  let fixture: MarketFixture;
  let market: MarketHandle;
  let notAfter: number;
  const fresh = (side: 0 | 1, priceLevel: number): Promise<MadeBid> => fixture.makeBid({ side, priceLevel, notAfter });
  const place = (bid: SignedBid) => () => placeBid(market, bid, TX_GAS);

  beforeAll(async () => {
    fixture = await createMarketFixture(LEVELS);
    market = fixture.market;
    notAfter = (await fixture.latestTimestamp()) + 10 * HOUR;
  });
  afterAll(async () => fixture.close());

  it("WrongVectorLength for a short left or a long right", async () => {
    const made = await fresh(0, 3);
    const shortLeft = await resign({ ...made.bid, left: made.bid.left.slice(0, -2) }, made.oneTimeKey, market);
    const error = await expectRejected(fixture, "WrongVectorLength", place(shortLeft));
    expect(error.errorArgs).toEqual([22n, 44n, 20n, 44n]);
    const longRight = await resign({ ...made.bid, right: [...made.bid.right, 0n, 0n, 0n, 0n] }, made.oneTimeKey, market);
    await expectRejected(fixture, "WrongVectorLength", place(longRight));
  });

  it("PointNotOnCurve for a left point off y² = x³ + 3 or with a coordinate ≥ p", async () => {
    const made = await fresh(0, 3);
    const offCurve = [...made.bid.left];
    offCurve[2] = offCurve[2]! + 1n;
    const error = await expectRejected(fixture, "PointNotOnCurve", place(await resign({ ...made.bid, left: offCurve }, made.oneTimeKey, market)));
    expect(error.errorArgs).toEqual([1n]);
    const unreduced = [...made.bid.left];
    unreduced[0] = unreduced[0]! + FP_ORDER;
    await expectRejected(fixture, "PointNotOnCurve", place(await resign({ ...made.bid, left: unreduced }, made.oneTimeKey, market)));
  });

  it("InvalidSide for a side other than 0 or 1", async () => {
    const made = await fresh(0, 3);
    const bid = { ...made.bid, side: 2 } as unknown as SignedBid;
    await expectRejected(fixture, "InvalidSide", place(await resign(bid, made.oneTimeKey, market)));
  });

  it("TicketExpired once block.timestamp > notAfter", async () => {
    const now = (await fixture.latestTimestamp()) + 100;
    const made = await fixture.makeBid({ side: 1, priceLevel: 5, notAfter: now - 1 });
    await fixture.setNextTimestamp(now);
    await expectRejected(fixture, "TicketExpired", place(made.bid));
  });

  it("InvalidTicket for a ticket by another key, for another bidder, or with another notAfter", async () => {
    const made = await fresh(1, 5);
    const forged = await signTicket(randomWallet(), market.domain, made.bid.bidder, notAfter);
    await expectRejected(fixture, "InvalidTicket", place({ ...made.bid, ticketSignature: forged.signature }));
    const other = await fresh(1, 5);
    await expectRejected(fixture, "InvalidTicket", place({ ...made.bid, ticketSignature: other.bid.ticketSignature }));
    await expectRejected(fixture, "InvalidTicket", place({ ...made.bid, notAfter: made.bid.notAfter + 1n }));
  });

  it("InvalidBidderSignature when the gateway alters a signed bid or another key signed it", async () => {
    const made = await fresh(0, 3);
    const other = await fresh(0, 3);
    await expectRejected(fixture, "InvalidBidderSignature", place({ ...made.bid, commitment: other.bid.commitment }));
    await expectRejected(fixture, "InvalidBidderSignature", place({ ...made.bid, side: 1 }));
    await expectRejected(fixture, "InvalidBidderSignature", place({ ...made.bid, left: other.bid.left, right: other.bid.right }));
    await expectRejected(fixture, "InvalidBidderSignature", place({ ...made.bid, bidderSignature: other.bid.bidderSignature }));
  });

  it("BidderAlreadyUsed for a replayed bid and for a second bid of the same one-time key", async () => {
    const made = await fresh(0, 1);
    const placed = await placeBid(market, made.bid, TX_GAS);
    const error = await expectRejected(fixture, "BidderAlreadyUsed", place(made.bid));
    expect(error.errorArgs).toEqual([made.bid.bidder, placed.bidId]);
    const ticket = await signTicket(fixture.dso, market.domain, made.oneTimeKey.address, notAfter + 1);
    const second = await buildBid({ msk: fixture.msk, levels: LEVELS, side: 1, priceLevel: 9, quantityWh: 5, oneTimeKey: made.oneTimeKey, ticket, domain: market.domain });
    await expectRejected(fixture, "BidderAlreadyUsed", place(second.bid));
  });

  it("OnlySelf for a direct call of the batch hook", async () => {
    const made = await fresh(0, 3);
    await expectRejected(fixture, "OnlySelf", () => withMarketErrors("placeBidFromBatch", async () => {
      const tx = await market.contract.placeBidFromBatch(made.bid, TX_GAS);
      return tx.wait();
    }));
  });
});

describe("PairingCheckFailed: a bad right ciphertext never rests in a book", () => {
  it("the test point is on the twist but outside the subgroup", () => {
    expect(() => g2FromWords(twistPointOutsideSubgroup())).toThrow(PointNotInSubgroupError);
  });

  for (const kind of ["off-twist", "outside-subgroup"] as const) {
    it(`${kind}: rejected whether C2 meets a match attempt, a sift-up, or the contract's own check`, async () => {
      const fixture = await createMarketFixture(LEVELS);
      try {
        const market = fixture.market;
        const notAfter = (await fixture.latestTimestamp()) + 10 * HOUR;
        const badBid = async (side: 0 | 1, priceLevel: number): Promise<SignedBid> => {
          const made = await fixture.makeBid({ side, priceLevel, notAfter });
          const right = [...made.bid.right];
          if (kind === "off-twist") right[7] = right[7]! + 1n;
          else right.splice(4, 4, ...twistPointOutsideSubgroup());
          return resign({ ...made.bid, right }, made.oneTimeKey, market);
        };
        const rejectBad = (side: 0 | 1) =>
          expectRejected(fixture, "PairingCheckFailed", async () => placeBid(market, await badBid(side, 5), TX_GAS));
        const placeGood = async (side: 0 | 1, priceLevel: number) =>
          placeBid(market, (await fixture.makeBid({ side, priceLevel, notAfter })).bid, TX_GAS);

        // Empty books: no comparison uses R(new), so the contract checks it with Compare(L(new), R(new)).
        await rejectBad(1);
        await rejectBad(0);
        // Only a sell at 9: a buy at 5 compares Compare(L(buy), R(sell)), then enters an empty buy heap (own check).
        await placeGood(1, 9);
        await rejectBad(0);
        // And a buy at 0: a sell at 5 meets Compare(L(buyRoot), R(sell)); a buy at 5 meets Compare(L(parent), R(buy)).
        await placeGood(0, 0);
        await rejectBad(1);
        await rejectBad(0);
        // A well-formed bid on the same path is accepted.
        const good = await placeGood(0, 5);
        expect(good.matched).toBeUndefined();
        expect(await fixture.marketState()).toMatchObject({ bidCount: 3n, buys: 2, sells: 1 });
      } finally {
        await fixture.close();
      }
    });
  }
});

describe("rejected cancels, purges, views, deployments and batches", () => {
  let fixture: MarketFixture;
  let market: MarketHandle;
  let notAfter: number;

  beforeAll(async () => {
    fixture = await createMarketFixture(LEVELS);
    market = fixture.market;
    notAfter = (await fixture.latestTimestamp()) + 10 * HOUR;
  });
  afterAll(async () => fixture.close());

  it("cancel: UnknownBid, NotBidOwner, then BidNotOpen once cancelled or matched", async () => {
    const sell = await fixture.makeBid({ side: 1, priceLevel: 6, notAfter });
    const placed = await placeBid(market, sell.bid, TX_GAS);
    const ownSignature = await signCancel(sell.oneTimeKey, market.domain);
    await expectRejected(fixture, "UnknownBid", () => cancelBid(market, 999n, ownSignature, TX_GAS));
    const stranger = await signCancel(randomWallet(), market.domain);
    const notOwner = await expectRejected(fixture, "NotBidOwner", () => cancelBid(market, placed.bidId, stranger, TX_GAS));
    expect(notOwner.errorArgs[0]).toBe(placed.bidId);
    // Another bid's valid cancel signature does not transfer.
    const other = await fixture.makeBid({ side: 1, priceLevel: 7, notAfter });
    const otherPlaced = await placeBid(market, other.bid, TX_GAS);
    const otherSignature = await signCancel(other.oneTimeKey, market.domain);
    await expectRejected(fixture, "NotBidOwner", () => cancelBid(market, placed.bidId, otherSignature, TX_GAS));
    await cancelBid(market, placed.bidId, ownSignature, TX_GAS);
    await expectRejected(fixture, "BidNotOpen", () => cancelBid(market, placed.bidId, ownSignature, TX_GAS));
    // Matched: a buy at 9 takes the remaining sell at 7.
    const buy = await placeBid(market, (await fixture.makeBid({ side: 0, priceLevel: 9, notAfter })).bid, TX_GAS);
    expect(buy.matched?.sellId).toBe(otherPlaced.bidId);
    await expectRejected(fixture, "BidNotOpen", async () =>
      cancelBid(market, otherPlaced.bidId, await signCancel(other.oneTimeKey, market.domain), TX_GAS),
    );
  });

  it("purge, getBid, getBidCiphertext: UnknownBid; heapBidIds: InvalidSide", async () => {
    await expectRejected(fixture, "UnknownBid", () => purgeExpired(market, [1n, 12345n], TX_GAS));
    await expect(getBid(market, 0n)).rejects.toMatchObject({ errorName: "UnknownBid" });
    await expect(getBidCiphertext(market, 999n)).rejects.toMatchObject({ errorName: "UnknownBid" });
    await expect(withMarketErrors("heapBidIds", () => market.contract.heapBidIds(2 as 0))).rejects.toMatchObject({ errorName: "InvalidSide" });
  });

  it("constructor: InvalidDimension (0 and 128) and ZeroTicketSigner", async () => {
    const artifact = loadArtifact("GridveilMarket");
    const factory = new ContractFactory(artifact.abi, artifact.bytecode, fixture.deployer);
    const deploy = (dim: number, signer: string) => withMarketErrors("deploy", async () => (await factory.deploy(dim, signer, TX_GAS)).waitForDeployment());
    await expect(deploy(0, fixture.dso.address)).rejects.toMatchObject({ errorName: "InvalidDimension" });
    await expect(deploy(128, fixture.dso.address)).rejects.toMatchObject({ errorName: "InvalidDimension", errorArgs: [128n] });
    await expect(deploy(11, ZeroAddress)).rejects.toMatchObject({ errorName: "ZeroTicketSigner" });
    const largest = await deploy(127, fixture.dso.address);
    expect(await new Contract(await largest.getAddress(), artifact.abi, fixture.deployer).getFunction("dim")()).toBe(127n);
  });

  it("BatchEntryOutOfGas: a batch that runs out of gas reverts as a whole instead of blaming a bid", async () => {
    const made = await fixture.makeBid({ side: 0, priceLevel: 0, notAfter });
    const error = await expectRejected(fixture, "BatchEntryOutOfGas", () => placeBids(market, [made.bid], { gasLimit: 700_000 }));
    expect(error.errorArgs).toEqual([0n]);
    // With enough gas the same bid goes through.
    const result = await placeBids(market, [made.bid], TX_GAS);
    expect(result.results[0]?.ok).toBe(true);
  });

  it("ExpiredBacklog: a bid drops at most MAX_EXPIRED_DROPS expired roots, then a purge clears the way", async () => {
    const now = (await fixture.latestTimestamp()) + 10;
    const soon = now + 5;
    const sells = [];
    for (const priceLevel of [3, 4, 5]) sells.push(await fixture.makeBid({ side: 1, priceLevel, notAfter: soon }));
    await fixture.setNextTimestamp(now);
    const placed = await placeBids(market, sells.map((made) => made.bid), TX_GAS);
    const sellIds = placed.results.map((result) => (result.ok ? result.bidId : -1n));
    expect(sellIds).not.toContain(-1n);
    expect(await market.contract.MAX_EXPIRED_DROPS()).toBe(2n);
    const buy = await fixture.makeBid({ side: 0, priceLevel: 9, notAfter: soon + HOUR });
    await fixture.setNextTimestamp(soon + 1);
    const error = await expectRejected(fixture, "ExpiredBacklog", () => placeBid(market, buy.bid, TX_GAS));
    expect(error.errorArgs[0]).toBe(1n);
    await fixture.setNextTimestamp(soon + 2);
    const purged = await purgeExpired(market, sellIds, TX_GAS);
    expect(purged.expired.map((event) => event.bidId)).toEqual(sellIds);
    await fixture.setNextTimestamp(soon + 3);
    const afterPurge = await placeBid(market, buy.bid, TX_GAS);
    expect(afterPurge.events.filter((event) => event.type === "BidExpired")).toEqual([]);
    expect(sellIds).not.toContain(afterPurge.matched?.sellId);
  });

  it("a batch skips each invalid entry with BidRejected and places the others", async () => {
    const before = await fixture.marketState();
    const now = (await fixture.latestTimestamp()) + 10;
    const first = await fixture.makeBid({ side: 0, priceLevel: 0, notAfter: now + HOUR });
    const expired = await fixture.makeBid({ side: 0, priceLevel: 0, notAfter: now - 1 });
    const tampered = await fixture.makeBid({ side: 0, priceLevel: 0, notAfter: now + HOUR });
    const last = await fixture.makeBid({ side: 0, priceLevel: 0, notAfter: now + HOUR });
    const batch = [first.bid, expired.bid, { ...tampered.bid, side: 1 as const }, first.bid, last.bid];
    await fixture.setNextTimestamp(now);
    const result = await placeBids(market, batch, TX_GAS);
    expect(result.results.map((entry) => (entry.ok ? "ok" : entry.rejection.reasonName))).toEqual([
      "ok",
      "TicketExpired",
      "InvalidBidderSignature",
      "BidderAlreadyUsed",
      "ok",
    ]);
    const rejection = result.results[1];
    expect(rejection?.ok === false && rejection.rejection.bidder).toBe(expired.bid.bidder);
    expect(result.events.map((event) => event.type)).toEqual(["BidPlaced", "BidRejected", "BidRejected", "BidRejected", "BidPlaced"]);
    const after = await fixture.marketState();
    expect(after.bidCount).toBe(before.bidCount + 2n);
    expect(after.buys).toBe(before.buys + 2);
  });
});
