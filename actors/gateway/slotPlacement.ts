// Version 2's placement of one machine batch (PROTOCOL §5 bidding and matching, v2): the batch grouped by slot, each
// slot's bids in transactions of at most `txMaxBids` handed to the slot placer (slotPlacer.ts) at once — it hints each
// against the lists the one before leaves and pipelines them — and different slots in parallel. Each bid's outcome in
// the machine's terms: placed; `BidderAlreadyUsed` (a redelivered bid placed before: the machine acks it as a
// duplicate); another contract rejection; or unknown (its hints or its transaction failed: the machine hands it back
// to the queue for later, and a bidder is single-use on chain, so it is placed once whatever happens).
import { MarketRevertError } from "../../contracts/client/index.ts";
import { isRetriedRejection, isReusedBidder, type SlotBid, type SubmitBidsOutput } from "../../machines/gateway.ts";
import type { BlockParams } from "../../protocol/encoding/blockTokens.ts";
import type { Logger } from "../telemetry/logger.ts";
import { certifiedBidOf } from "./bidWire.ts";
import { createSlotPlacer, type HintSource, type SlotPlacer } from "./slotPlacer.ts";
import type { SlotWriter } from "./slotWriter.ts";
import type { BatchTools, Placement } from "./submitter.ts";
import type { SlotLists } from "../../contracts/client/v2/slotMarket.ts";

export type SlotPlacementOptions = {
  writer: Pick<SlotWriter, "placeBids">;
  params: BlockParams;
  hints: HintSource;
  readLists(slot: number): Promise<SlotLists>;
  /** Market time, Unix seconds (the hints judge expiries by it). */
  now(): number;
  /** Placements of one bid at most (the first, and re-hinted ones after `StaleHint`). */
  attempts: number;
  /** Bids per `placeBids` transaction at most (every one must fit the node's per-transaction gas cap). */
  txMaxBids: number;
  logger: Logger;
  /** Each bid handed to the placer (the fallback hints need its public data). */
  onBid?(bid: SlotBid): void;
  /** A bid met more expired heads than a placement may drop: its slot wants a purge. */
  onExpiredBacklog?(slot: number): void;
};

/** The rule of retried rejections is the machine's; which ones apply is the design's (any version 2 token count). */
const SLOT_DESIGN = { version: 2, tokens: 0 } as const;

export type SlotPlacementCounters = ReturnType<SlotPlacer["counters"]> & { unknown: number; txMaxBids: number };

export function slotPlacement(options: SlotPlacementOptions): { placement: Placement<SlotBid>; counters(): SlotPlacementCounters } {
  const { logger } = options;
  // The transactions of one machine batch are traced under its span; the machine has one batch in flight at a time.
  let tools: BatchTools | undefined;
  let txMaxBids = options.txMaxBids;
  let unknown = 0;
  const placer = createSlotPlacer({
    hints: options.hints,
    readLists: options.readLists,
    now: () => Math.floor(options.now()),
    attempts: options.attempts,
    send: async (entries) => {
      const send = async () => {
        const mined = await options.writer.placeBids(entries);
        const placed = mined.entries.filter((entry) => entry.ok).length;
        return { tx: mined.tx, placed, rejected: entries.length - placed, entries: mined.entries };
      };
      const mined = tools === undefined ? await send() : await tools.transaction(entries.length, send);
      return mined.entries;
    },
  });

  const placement: Placement<SlotBid> = async (bids, batchTools) => {
    tools = batchTools;
    const bySlot = new Map<number, SlotBid[]>();
    const slotOf = new Map(bids.map((bid) => [bid.bidder.toLowerCase(), bid.slot]));
    for (const bid of bids) {
      options.onBid?.(bid);
      bySlot.set(bid.slot, [...(bySlot.get(bid.slot) ?? []), bid]);
    }
    const chunks: { slot: number; bids: SlotBid[] }[] = [];
    for (const [slot, ofSlot] of bySlot) for (let at = 0; at < ofSlot.length; at += txMaxBids) chunks.push({ slot, bids: ofSlot.slice(at, at + txMaxBids) });
    // All at once: the placer hands a slot's chunks over one after another and lets their transactions overlap.
    const placed = await Promise.all(chunks.map((chunk) => placer.place(chunk.slot, chunk.bids.map((bid) => certifiedBidOf(bid, options.params)))));
    const results: Extract<SubmitBidsOutput, { kind: "mined" }>["results"] = [];
    for (const placement of placed.flat()) {
      const bidder = placement.bidder as `0x${string}`;
      if (placement.outcome === "placed") results.push({ bidder, status: "placed" });
      else if (placement.outcome === "rejected") {
        // Kept for the rejection notice, unless the machine sends the bid again (a duplicate gets no notice either).
        if (!isReusedBidder(placement.reason) && !isRetriedRejection(placement.reason, SLOT_DESIGN)) batchTools.rejected(bidder, placement.reason);
        // The contract's remedy for a backlog of expired heads: a purge of the slot (the machine sends the bid again).
        if (placement.reason === "ExpiredBacklog") options.onExpiredBacklog?.(slotOf.get(placement.bidder.toLowerCase())!);
        results.push({ bidder, status: "rejected", reason: placement.reason });
      } else {
        unknown += 1;
        // A transaction that ran out of gas: later ones carry fewer bids (it placed the entries before `fits`).
        const error = placement.error;
        if (error instanceof MarketRevertError && error.errorName === "BatchEntryOutOfGas") {
          const fits = Math.max(1, Number(error.errorArgs[0] ?? 1));
          if (fits < txMaxBids) {
            logger.warn({ txMaxBids, fits }, "a slot batch ran out of gas; sending fewer bids per transaction");
            txMaxBids = fits;
          }
        }
        results.push({ bidder, status: "unknown" });
      }
    }
    return { kind: "mined", txHash: "", results };
  };

  return { placement, counters: () => ({ ...placer.counters(), unknown, txMaxBids }) };
}
