// What a meter remembers of each of its matched trades while the bid session runs (keyed by trade and own bidder).
import { type Address, sameAddress, sameHex, toAddress, toHex } from "../../protocol/base/hex.ts";
import { type Side } from "../../protocol/domain.ts";

export type OwnTrade = {
  tradeId: string;
  bidder: Address;
  side: Side;
  counterpart: Address;
  txHash: string;
};

/**
 * A meter can be on both sides of one trade (its own buy and sell bids matched each other), so entries are keyed by
 * trade id and own bidder. Entries are dropped when the bidder's session ends.
 */
export class OwnTrades {
  readonly #trades = new Map<string, OwnTrade>();

  static key(tradeId: string, bidder: string): string {
    return `${toHex(tradeId)}|${toAddress(bidder)}`;
  }

  open(entry: Pick<OwnTrade, "tradeId" | "bidder" | "side" | "counterpart" | "txHash">): OwnTrade {
    const key = OwnTrades.key(entry.tradeId, entry.bidder);
    const existing = this.#trades.get(key);
    if (existing) return existing;
    const trade: OwnTrade = { ...entry };
    this.#trades.set(key, trade);
    return trade;
  }

  get(tradeId: string, bidder: string): OwnTrade | undefined {
    return this.#trades.get(OwnTrades.key(tradeId, bidder));
  }

  /** Our side of a trade, found from the counterpart (what `verifyCounterpartOpening` is given). */
  byCounterpart(tradeId: string, counterpart: string): OwnTrade | undefined {
    for (const trade of this.#trades.values())
      if (sameHex(trade.tradeId, tradeId) && sameAddress(trade.counterpart, counterpart))
        return trade;
    return undefined;
  }

  forgetBidder(bidder: string): void {
    for (const [key, trade] of this.#trades) if (sameAddress(trade.bidder, bidder)) this.#trades.delete(key);
  }

  clear(): void {
    this.#trades.clear();
  }
}
