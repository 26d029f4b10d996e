// Public data of version 2 bids for the fallback hint source (PROTOCOL §5 v2: "a gateway can compute them from public
// data"): the bids this gateway was given (their submissions) and, for resting bids it did not place, the calldata of
// the transaction that placed them (found by their `BidPlaced` log). Nothing here is secret: it is what the chain shows.
import { zeroPadValue, type JsonRpcProvider } from "ethers";
import { ciphertextFromWords, type SlotMarketHandle } from "../../contracts/client/v2/slotMarket.ts";
import type { BlockParams } from "../../protocol/encoding/blockTokens.ts";
import type { SlotBid } from "../../machines/gateway.ts";
import { toAddress } from "../../protocol/base/hex.ts";
import { SlotPlacementError } from "./errors.ts";
import type { PublicBid } from "./publicHints.ts";

export type PublicBids = {
  /** A bid given to this gateway (a submission it holds). */
  remember(bid: SlotBid): void;
  bidOf(bidder: string): PublicBid | undefined;
  /** Reads from the chain every one of `bidders` not known here (a resting bid another process placed). */
  load(bidders: readonly string[]): Promise<void>;
  /** Drops a slot's bids (its gate closure passed and its lists are empty). */
  forgetSlot(slot: number): void;
};

export function createPublicBids(options: { market: SlotMarketHandle; provider: JsonRpcProvider; params: BlockParams; fromBlock: number }): PublicBids {
  const { market, provider, params } = options;
  const bids = new Map<string, PublicBid & { slot: number }>();
  const placedTopic = market.contract.interface.getEvent("BidPlaced")!.topicHash;

  const readPlaced = async (bidder: string): Promise<PublicBid & { slot: number }> => {
    const logs = await provider.getLogs({ address: market.address, fromBlock: options.fromBlock, topics: [placedTopic, null, zeroPadValue(bidder, 32)] });
    const log = logs.at(-1);
    if (log === undefined) throw new SlotPlacementError({ kind: "unknownBid", bidder });
    const tx = await provider.getTransaction(log.transactionHash);
    const parsed = tx === null ? null : market.contract.interface.parseTransaction({ data: tx.data });
    const entries: { bidder: string; side: bigint; slot: bigint; notAfter: bigint; ciphertext: bigint[] }[] =
      parsed === null ? [] : parsed.name === "placeBid" ? [parsed.args[0]] : parsed.name === "placeBids" ? [...parsed.args[0]] : [];
    const entry = entries.find((candidate) => toAddress(candidate.bidder) === toAddress(bidder));
    if (entry === undefined) throw new SlotPlacementError({ kind: "unknownBid", bidder });
    return {
      side: Number(entry.side) === 0 ? "buy" : "sell",
      slot: Number(entry.slot),
      notAfter: Number(entry.notAfter),
      ciphertext: ciphertextFromWords([...entry.ciphertext], params),
    };
  };

  return {
    remember(bid) {
      const key = toAddress(bid.bidder);
      if (bids.has(key)) return;
      bids.set(key, { side: bid.side, slot: bid.slot, notAfter: bid.notAfter, ciphertext: ciphertextFromWords(bid.ciphertext.map(BigInt), params) });
    },
    bidOf: (bidder) => bids.get(toAddress(bidder)),
    async load(bidders) {
      const missing = [...new Set(bidders.map(toAddress))].filter((bidder) => !bids.has(bidder));
      for (const bidder of missing) bids.set(bidder, await readPlaced(bidder));
    },
    forgetSlot(slot) {
      for (const [bidder, bid] of bids) if (bid.slot === slot) bids.delete(bidder);
    },
  };
}
