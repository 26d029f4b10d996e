// Submits bids to the market, one (reverts by custom error) or a batch (bad entries skipped with BidRejected).
import type { ContractTransactionReceipt, Overrides } from "ethers";
import { decodeMarketEvents, type BidPlacedEvent, type BidRejectedEvent, type MarketEvent, type MatchedEvent } from "./decodeMarketEvents.ts";
import { UnexpectedReceiptError, withMarketErrors } from "./errors.ts";
import { waitForReceipt } from "./receipt.ts";
import type { MarketHandle } from "./market.ts";
import type { SignedBid } from "./types.ts";

export type PlaceBidResult = {
  bidId: bigint;
  /** Present when the bid matched on arrival. */
  matched: MatchedEvent | undefined;
  events: MarketEvent[];
  receipt: ContractTransactionReceipt;
};

/** Places one bid; a rejected bid throws MarketRevertError named by the contract's custom error. */
export async function placeBid(market: MarketHandle, bid: SignedBid, overrides: Overrides = {}): Promise<PlaceBidResult> {
  return withMarketErrors("placeBid", async () => {
    const tx = await market.contract.placeBid(bid, overrides);
    const receipt = await waitForReceipt(tx);
    const events = decodeMarketEvents(receipt.logs, market.address);
    const placed = events.find((event): event is BidPlacedEvent => event.type === "BidPlaced");
    if (placed === undefined) throw new UnexpectedReceiptError({ reason: "noBidPlaced", value: receipt.hash });
    return { bidId: placed.bidId, matched: matchOf(events, placed.bidId), events, receipt };
  });
}

export type BatchEntryResult =
  | { ok: true; bidId: bigint; matched: MatchedEvent | undefined }
  | { ok: false; rejection: BidRejectedEvent };

export type PlaceBidsResult = { results: BatchEntryResult[]; events: MarketEvent[]; receipt: ContractTransactionReceipt };

/** Places a batch in one transaction, in order; each entry is placed or rejected on its own. */
export async function placeBids(market: MarketHandle, bids: readonly SignedBid[], overrides: Overrides = {}): Promise<PlaceBidsResult> {
  return withMarketErrors("placeBids", async () => {
    const tx = await market.contract.placeBids([...bids], overrides);
    const receipt = await waitForReceipt(tx);
    const events = decodeMarketEvents(receipt.logs, market.address);
    // Entries are placed in order, so the k-th BidPlaced belongs to the k-th entry that was not rejected.
    const rejected = new Map(events.flatMap((event) => (event.type === "BidRejected" ? [[event.index, event] as const] : [])));
    const placed = events.filter((event): event is BidPlacedEvent => event.type === "BidPlaced");
    let next = 0;
    const results = bids.map((_, index): BatchEntryResult => {
      const rejection = rejected.get(index);
      if (rejection !== undefined) return { ok: false, rejection };
      const event = placed[next++];
      if (event === undefined) throw new UnexpectedReceiptError({ reason: "fewerBidPlaced", value: receipt.hash });
      return { ok: true, bidId: event.bidId, matched: matchOf(events, event.bidId) };
    });
    return { results, events, receipt };
  });
}

function matchOf(events: readonly MarketEvent[], bidId: bigint): MatchedEvent | undefined {
  return events.find((event): event is MatchedEvent => event.type === "Matched" && (event.buyId === bidId || event.sellId === bidId));
}
