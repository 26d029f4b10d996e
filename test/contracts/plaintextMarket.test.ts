// PlaintextMarket (bench only): MarketBook with clear levels; its hooks store, read and compare a uint8 level.
import hre from "hardhat";
import { BrowserProvider, type BaseContract, type Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildPlaintextBid, deployPlaintextMarket } from "../../contracts/client/bench/plaintextMarket.ts";
import { BidStatus, cancelBid, ciphertextHash, getBid, getBidCiphertext, getHeapBidIds, MarketRevertError, placeBid, signCancel, signTicket, type MarketHandle, type SignedBid } from "../../contracts/client/index.ts";
import { randomWallet, resign, TX_GAS } from "./marketFixture.ts";
import { type SideCode } from "../../protocol/domain.ts";

const LEVELS = 4;

describe("PlaintextMarket", () => {
  let close: () => Promise<void>;
  let market: MarketHandle;
  let dso: Wallet;
  let notAfter: number;
  const makeBid = async (side: SideCode, priceLevel: number): Promise<{ bid: SignedBid; oneTimeKey: Wallet }> => {
    const oneTimeKey = randomWallet();
    const ticket = await signTicket(dso, market.domain, oneTimeKey.address, notAfter);
    return { bid: await buildPlaintextBid({ side, priceLevel, quantityWh: 1000, oneTimeKey, ticket, domain: market.domain }), oneTimeKey };
  };
  /** The revert's custom error, decoded with the plaintext market's own ABI (it adds PriceLevelOutOfRange). */
  const rejectionOf = async (bid: SignedBid) => {
    const error = await placeBid(market, bid, TX_GAS).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(MarketRevertError);
    const parsed = (market.contract as unknown as BaseContract).interface.parseError((error as MarketRevertError).revertData!);
    return { name: parsed?.name, args: [...(parsed?.args ?? [])] };
  };

  beforeAll(async () => {
    const connection = await hre.network.create();
    close = () => connection.close();
    const provider = new BrowserProvider(connection.provider, undefined, { cacheTimeout: -1 });
    dso = randomWallet();
    market = await deployPlaintextMarket(await provider.getSigner(0), { levels: LEVELS, ticketSigner: dso.address });
    notAfter = (await provider.getBlock("latest"))!.timestamp + 3600;
  });
  afterAll(async () => close());

  it("keeps each bid's level and header, orders its heaps by level and matches as the encrypted market does", async () => {
    expect(market.dim).toBe(1);
    const sellHigh = await makeBid(1, 3);
    const sellLow = await makeBid(1, 2);
    const buyLow = await makeBid(0, 0);
    const buyHigh = await makeBid(0, 1);
    for (const made of [sellHigh, sellLow, buyLow, buyHigh]) expect((await placeBid(market, made.bid, TX_GAS)).matched).toBeUndefined();
    // The best bid of each book is at the root: the lowest sell (id 2), the highest buy (id 4).
    expect(await getHeapBidIds(market, 1)).toEqual([2n, 1n]);
    expect(await getHeapBidIds(market, 0)).toEqual([4n, 3n]);
    expect(await getBid(market, 2n)).toMatchObject({
      bidder: sellLow.bid.bidder,
      side: 1,
      status: BidStatus.Open,
      notAfter: BigInt(notAfter),
      heapPosition: 0,
      commitment: sellLow.bid.commitment,
      ciphertextHash: ciphertextHash(sellLow.bid.left, sellLow.bid.right),
    });
    expect(await getBidCiphertext(market, 2n)).toEqual({ left: [2n, 0n], right: [0n, 0n, 0n, 0n] });

    // A buy at the lowest sell's level takes it (ge holds on equal levels), headers of both bids in the event.
    const taker = await makeBid(0, 2);
    const placed = await placeBid(market, taker.bid, TX_GAS);
    expect(placed.matched).toMatchObject({
      buyId: 5n,
      sellId: 2n,
      buyBidder: taker.bid.bidder,
      sellBidder: sellLow.bid.bidder,
      buyCommitment: taker.bid.commitment,
      sellCommitment: sellLow.bid.commitment,
      buyCiphertextHash: ciphertextHash(taker.bid.left, taker.bid.right),
      sellCiphertextHash: ciphertextHash(sellLow.bid.left, sellLow.bid.right),
    });
    expect(await getHeapBidIds(market, 1)).toEqual([1n]);

    // Cancel reads the bidder back from the store address.
    const cancelled = await cancelBid(market, 4n, await signCancel(buyHigh.oneTimeKey, market.domain), TX_GAS);
    expect(cancelled.events).toEqual([expect.objectContaining({ type: "BidCancelled", bidId: 4n, side: 0, bidder: buyHigh.bid.bidder })]);
    expect((await getBid(market, 4n)).status).toBe(BidStatus.Cancelled);
    expect(await getHeapBidIds(market, 0)).toEqual([3n]);
  });

  it("rejects a level out of range and vectors of another dimension, by name", async () => {
    expect(await rejectionOf((await makeBid(0, LEVELS)).bid)).toEqual({ name: "PriceLevelOutOfRange", args: [BigInt(LEVELS), BigInt(LEVELS)] });
    const { bid, oneTimeKey } = await makeBid(1, 1);
    const widened = await resign({ ...bid, left: [...bid.left, 0n, 0n] }, oneTimeKey, market);
    expect(await rejectionOf(widened)).toEqual({ name: "WrongVectorLength", args: [2n, 4n, 4n, 4n] });
  });
});
