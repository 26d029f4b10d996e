// The gateway's view of every slot's books (version 2), on decoded events: counts per slot and side as placements,
// matches, expiries and cancels come; a range that does not join what the view holds (the follower, starting at the
// saved cursor, before the read from the deployment block) is left out and nothing counts twice, in either order.
import { describe, expect, it } from "vitest";
import { createSlotBookView } from "../../actors/gateway/slotBookView.ts";
import type { PositionedSlotEvent } from "../../actors/gateway/slotLogs.ts";
import type { SlotMarketEvent } from "../../contracts/client/v2/slotMarket.ts";

const ZERO = "0x0000000000000000000000000000000000000000";
const bidder = (n: number) => `0x${n.toString(16).padStart(40, "0")}`;
const placed = (blockNumber: number, n: number, slot: number, side: "buy" | "sell"): PositionedSlotEvent => ({
  blockNumber,
  event: { type: "placed", slot, bidder: bidder(n), side, prev: ZERO, commitment: "0x", ciphertextRoot: "0x" },
});
const at = (blockNumber: number, event: SlotMarketEvent): PositionedSlotEvent => ({ blockNumber, event });

// Blocks 10–14 of a market deployed at block 10.
const history: PositionedSlotEvent[] = [
  placed(10, 1, 7, "buy"),
  placed(11, 2, 7, "sell"),
  placed(11, 3, 8, "buy"),
  at(12, { type: "matched", slot: 7, buyBidder: bidder(4), sellBidder: bidder(2), arriving: "buy", commitment: "0x", ciphertextRoot: "0x" }),
  placed(13, 5, 8, "sell"),
  at(14, { type: "cancelled", slot: 8, bidder: bidder(3), side: "buy" }),
];
const expected = [
  { slot: 7, counts: { buy: 1, sell: 0 } },
  { slot: 8, counts: { buy: 0, sell: 1 } },
];

describe("the gateway's view of the slot books", () => {
  it("counts resting bids per slot and side, and the matches", () => {
    const view = createSlotBookView(10);
    expect(view.apply({ fromBlock: 10, toBlock: 14, slotEvents: history })).toBe(true);
    expect(view.slotsWithBids()).toEqual(expected);
    expect(view.watchCounts(1)).toEqual({ slotsWithBids: 2, restingBuys: 1, restingSells: 1, matchesSeen: 1, expiriesSeen: 0, cancelsSeen: 1, "slot7.buy": 1, "slot7.sell": 0 });
  });

  it("leaves out the follower's range that starts past what it holds, then takes the read from the deployment and what follows", () => {
    const view = createSlotBookView(10);
    // The follower resumed at the cursor (block 13) before the view was read from the deployment: left out.
    expect(view.apply({ fromBlock: 13, toBlock: 14, slotEvents: history.filter((e) => e.blockNumber >= 13) })).toBe(false);
    expect(view.lastBlock()).toBe(9);
    expect(view.apply({ fromBlock: 10, toBlock: 14, slotEvents: history })).toBe(true);
    // Read again (a follower restarted at its cursor): nothing counts twice.
    expect(view.apply({ fromBlock: 13, toBlock: 15, slotEvents: [...history.filter((e) => e.blockNumber >= 13), at(15, { type: "expired", slot: 7, bidder: bidder(1), side: "buy" })] })).toBe(true);
    expect(view.slotsWithBids()).toEqual([{ slot: 8, counts: { buy: 0, sell: 1 } }]);
    expect(view.lastBlock()).toBe(15);
  });
});
