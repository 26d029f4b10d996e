// What the gateway knows of every slot's books from the chain's events alone (PROTOCOL §5 v2): how many bids rest on
// each side of each slot and how many matched. It tells the sweeper which closed slots still hold bids (their expiry
// must be announced) and `gridveil watch` every slot's book counts. Fed in block order from the contract's deployment
// on: first by a read at start, then by the follower's ranges (which start at the saved cursor). A range that does not
// join what it holds is left out (the read from the deployment covers it), blocks it has seen are skipped: nothing
// is missed and nothing counts twice, whichever comes first.
import type { BookSideName } from "../../protocol/book/slotBooks.ts";
import type { PositionedSlotEvent } from "./slotLogs.ts";

export type SlotCounts = { buy: number; sell: number };

export type SlotBookView = {
  /**
   * Applies the events of blocks `fromBlock..toBlock` (in order) when they join the blocks applied so far; events of
   * blocks already applied are skipped. Returns whether the range was taken.
   */
  apply(range: { fromBlock: number; toBlock: number; slotEvents: readonly PositionedSlotEvent[] }): boolean;
  /** The last block applied (`fromBlock` − 1: none). */
  lastBlock(): number;
  /** Slots with resting bids, ascending, with their counts. */
  slotsWithBids(): { slot: number; counts: SlotCounts }[];
  /** Totals for `gridveil watch`, and each of the first `perSlot` slots with bids: `slot<n>.buy`, `slot<n>.sell`. */
  watchCounts(perSlot: number): Record<string, number>;
};

/** A view of the books from `fromBlock` (the contract's deployment block) on. */
export function createSlotBookView(fromBlock: number): SlotBookView {
  const resting = new Map<number, SlotCounts>();
  const totals = { placed: 0, matched: 0, expired: 0, cancelled: 0 };
  let last = fromBlock - 1;
  const change = (slot: number, side: BookSideName, by: number) => {
    const counts = resting.get(slot) ?? { buy: 0, sell: 0 };
    // A removal the view did not see placed (never expected: it reads from the deployment on) cannot go below zero.
    counts[side] = Math.max(0, counts[side] + by);
    if (counts.buy === 0 && counts.sell === 0) resting.delete(slot);
    else resting.set(slot, counts);
  };
  const slotsWithBids = () => [...resting.entries()].sort(([a], [b]) => a - b).map(([slot, counts]) => ({ slot, counts: { ...counts } }));
  return {
    apply(range) {
      if (range.fromBlock > last + 1) return false;
      for (const { blockNumber, event } of range.slotEvents) {
        if (blockNumber <= last) continue;
        switch (event.type) {
          case "placed":
            totals.placed += 1;
            change(event.slot, event.side, +1);
            break;
          case "matched":
            // The arriving bid took the opposite list's head.
            totals.matched += 1;
            change(event.slot, event.arriving === "buy" ? "sell" : "buy", -1);
            break;
          case "expired":
          case "cancelled":
            totals[event.type] += 1;
            change(event.slot, event.side, -1);
            break;
          case "rejected":
            break;
        }
      }
      last = Math.max(last, range.toBlock);
      return true;
    },
    lastBlock: () => last,
    slotsWithBids,
    watchCounts(perSlot) {
      const slots = slotsWithBids();
      const counts: Record<string, number> = {
        slotsWithBids: slots.length,
        restingBuys: slots.reduce((sum, entry) => sum + entry.counts.buy, 0),
        restingSells: slots.reduce((sum, entry) => sum + entry.counts.sell, 0),
        matchesSeen: totals.matched,
        expiriesSeen: totals.expired,
        cancelsSeen: totals.cancelled,
      };
      for (const { slot, counts: each } of slots.slice(0, perSlot)) {
        counts[`slot${slot}.buy`] = each.buy;
        counts[`slot${slot}.sell`] = each.sell;
      }
      return counts;
    },
  };
}
