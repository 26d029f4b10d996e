// The v2 plaintext reference book (PROTOCOL §5 bidding and matching): per delivery slot a buy list (descending price)
// and a sell list (ascending), each with price-time priority, on clear levels. One implementation for the tests that
// hold the contract to it position for position, and for whoever mirrors the chain's books from its events.
//
// A placement, for a new buy b (a sell is symmetric):
// - a closed slot (gate closure passed), an expired ticket or a bidder already used rejects it, changing nothing;
// - expired bids at the head of the sell list are unlinked first, at most `maxExpiredDrops` of them; if the head is
//   still expired after that, the placement is rejected (`ExpiredBacklog`: a purge clears the backlog);
// - if the sell head s exists and b ≥ s, s is unlinked and the pair matched (b does not rest: a remainder is re-bid
//   off chain, PROTOCOL §5 trading step 4);
// - otherwise b rests after the last bid p with p ≥ b (earlier equal bids stay ahead: time priority), before the first
//   bid q with q < b.
// Cancel and purge unlink without any comparison.

import { SlotBooksError } from "../errors.ts";

/** The slot calendar fixed at deployment: slot `s` starts at `s · slotSeconds` and closes `gateClosureSeconds` before. */
export type SlotCalendar = { slotSeconds: number; gateClosureSeconds: number };

export type BookSideName = "buy" | "sell";

/** What a placement carries, as the contract reads it from the certified bid. */
export type SlotBidInput = {
  bidder: string;
  side: BookSideName;
  slot: number;
  level: number;
  /** Unix seconds; the bid is expired once `now > notAfter`. */
  notAfter: number;
};

export type SlotBidStatus = "open" | "matched" | "cancelled" | "expired";

export type SlotBid = SlotBidInput & { id: number; status: SlotBidStatus };

/** Why a placement is rejected (the contract's custom errors of the same names). */
export type PlacementRejection = "SlotOutOfRange" | "ZeroBidder" | "SlotClosed" | "TicketExpired" | "BidderAlreadyUsed" | "ExpiredBacklog";

/** The contract's events of one operation, in order. */
export type SlotBookEvent =
  | { type: "placed"; id: number; slot: number; side: BookSideName; prevId: number }
  | { type: "matched"; slot: number; buyId: number; sellId: number }
  | { type: "expired"; id: number; slot: number; side: BookSideName }
  | { type: "cancelled"; id: number; slot: number; side: BookSideName };

export type SlotPlacement =
  | { ok: true; id: number; matchedWith: number | null; events: SlotBookEvent[] }
  | { ok: false; reason: PlacementRejection; events: [] };

/** Slots are numbered below 2^31 (the contract's MAX_SLOT: a list is slot · 2 + side in 32 bits). */
export const SLOT_MAX = 2 ** 31 - 1;

/** Expired heads one placement may unlink (the contract's MAX_EXPIRED_DROPS). */
export const SLOT_MAX_EXPIRED_DROPS = 4;

/** The first id the contract hands out; 0 means "none" (no previous bid: the head). */
export const FIRST_BID_ID = 1;

export function gateClosureOf(slot: number, calendar: SlotCalendar): number {
  return slot * calendar.slotSeconds - calendar.gateClosureSeconds;
}

/** Open for bids while `now` is before its gate closure. */
export function slotOpen(slot: number, now: number, calendar: SlotCalendar): boolean {
  return now < gateClosureOf(slot, calendar);
}

/** Whether a bid at `level` on `side` ranks strictly ahead of one at `other` (price only; time decides ties). */
function better(side: BookSideName, level: number, other: number): boolean {
  return side === "buy" ? level > other : level < other;
}

/** Whether a buy at `buyLevel` and a sell at `sellLevel` cross. */
export function crosses(buyLevel: number, sellLevel: number): boolean {
  return buyLevel >= sellLevel;
}

export class SlotBooks {
  readonly #bids = new Map<number, SlotBid>();
  readonly #books = new Map<number, { buy: number[]; sell: number[] }>();
  readonly #usedBidders = new Set<string>();
  #nextId = FIRST_BID_ID;
  readonly #maxExpiredDrops: number;

  constructor(
    readonly calendar: SlotCalendar,
    options: { maxExpiredDrops?: number } = {},
  ) {
    this.#maxExpiredDrops = options.maxExpiredDrops ?? SLOT_MAX_EXPIRED_DROPS;
  }

  /** An independent copy (to try placements, e.g. a batch's hints, without changing this one). */
  clone(): SlotBooks {
    const copy = new SlotBooks(this.calendar, { maxExpiredDrops: this.#maxExpiredDrops });
    for (const [id, bid] of this.#bids) copy.#bids.set(id, { ...bid });
    for (const [slot, lists] of this.#books) copy.#books.set(slot, { buy: [...lists.buy], sell: [...lists.sell] });
    for (const bidder of this.#usedBidders) copy.#usedBidders.add(bidder);
    copy.#nextId = this.#nextId;
    return copy;
  }

  /**
   * Loads a slot's lists as the chain holds them (best first, by bidder, each with its level and expiry), without any
   * comparison: a mirror that learns the books from the chain (`book()`) and the levels from elsewhere (the DSO's
   * certified bids). The slot must be empty here; the bidders count as used. Returns each loaded bid's id.
   */
  restore(slot: number, lists: { buy: readonly SlotBidInput[]; sell: readonly SlotBidInput[] }): Map<string, number> {
    const target = this.#lists(slot);
    if (target.buy.length > 0 || target.sell.length > 0) throw new SlotBooksError({ kind: "restoreNotEmpty", slot });
    const ids = new Map<string, number>();
    for (const side of ["buy", "sell"] as const) {
      for (const input of lists[side]) {
        const bidder = input.bidder.toLowerCase();
        if (input.slot !== slot || input.side !== side || this.#usedBidders.has(bidder)) throw new SlotBooksError({ kind: "restoreMismatch", slot, bidder: input.bidder });
        const id = this.#nextId++;
        this.#usedBidders.add(bidder);
        this.#bids.set(id, { ...input, id, status: "open" });
        target[side].push(id);
        ids.set(bidder, id);
      }
    }
    return ids;
  }

  /** A slot's list on one side, best first (ids). */
  book(slot: number, side: BookSideName): readonly number[] {
    return this.#books.get(slot)?.[side] ?? [];
  }

  bid(id: number): SlotBid | undefined {
    return this.#bids.get(id);
  }

  /** The id a placement would take and the bid it would rest after (0 = the head), if it rests: the hint's position. */
  positionFor(input: Pick<SlotBidInput, "side" | "slot" | "level">): number {
    const list = this.book(input.slot, input.side);
    let prevId = 0;
    for (const id of list) {
      if (better(input.side, input.level, this.#bids.get(id)!.level)) break;
      prevId = id;
    }
    return prevId;
  }

  place(input: SlotBidInput, now: number): SlotPlacement {
    const bidder = input.bidder.toLowerCase();
    if (!Number.isSafeInteger(input.slot) || input.slot < 0 || input.slot > SLOT_MAX) return { ok: false, reason: "SlotOutOfRange", events: [] };
    if (/^0x0{40}$/i.test(input.bidder)) return { ok: false, reason: "ZeroBidder", events: [] };
    if (!slotOpen(input.slot, now, this.calendar)) return { ok: false, reason: "SlotClosed", events: [] };
    if (now > input.notAfter) return { ok: false, reason: "TicketExpired", events: [] };
    if (this.#usedBidders.has(bidder)) return { ok: false, reason: "BidderAlreadyUsed", events: [] };
    const lists = this.#lists(input.slot);
    const opposite = lists[input.side === "buy" ? "sell" : "buy"];
    // Expired heads of the opposite list go first (bounded); a longer backlog rejects the placement, changing nothing.
    let expiredHeads = 0;
    while (expiredHeads < opposite.length && now > this.#bids.get(opposite[expiredHeads]!)!.notAfter) expiredHeads += 1;
    if (expiredHeads > this.#maxExpiredDrops) return { ok: false, reason: "ExpiredBacklog", events: [] };
    const events: SlotBookEvent[] = [];
    for (const id of opposite.splice(0, expiredHeads)) events.push(this.#end(id, "expired"));

    const id = this.#nextId++;
    this.#usedBidders.add(bidder);
    const bid: SlotBid = { ...input, id, status: "open" };
    this.#bids.set(id, bid);
    const head = opposite[0] === undefined ? undefined : this.#bids.get(opposite[0])!;
    if (head !== undefined && (input.side === "buy" ? crosses(input.level, head.level) : crosses(head.level, input.level))) {
      opposite.shift();
      head.status = "matched";
      bid.status = "matched";
      const buyId = input.side === "buy" ? id : head.id;
      const sellId = input.side === "buy" ? head.id : id;
      events.push({ type: "matched", slot: input.slot, buyId, sellId });
      return { ok: true, id, matchedWith: head.id, events };
    }
    const prevId = this.positionFor(input);
    const list = lists[input.side];
    list.splice(prevId === 0 ? 0 : list.indexOf(prevId) + 1, 0, id);
    events.push({ type: "placed", id, slot: input.slot, side: input.side, prevId });
    return { ok: true, id, matchedWith: null, events };
  }

  /** The id of the bid of `bidder` (a one-time key has one), or undefined when it never placed one. */
  idOf(bidder: string): number | undefined {
    return [...this.#bids.values()].find((candidate) => candidate.bidder.toLowerCase() === bidder.toLowerCase())?.id;
  }

  /** The bid before `id` in its list (0: `id` is the head), or undefined when it does not rest. */
  predecessor(id: number): number | undefined {
    const bid = this.#bids.get(id);
    if (bid === undefined || bid.status !== "open") return undefined;
    const list = this.book(bid.slot, bid.side);
    const index = list.indexOf(id);
    return index <= 0 ? 0 : list[index - 1];
  }

  /** The bidder's open bid is withdrawn (no comparison); false when it has none. */
  cancel(bidder: string): SlotBookEvent | null {
    const id = this.idOf(bidder);
    const bid = id === undefined ? undefined : this.#bids.get(id);
    if (bid === undefined || bid.status !== "open") return null;
    this.#unlink(bid);
    return this.#end(bid.id, "cancelled");
  }

  /** Unlinks up to `max` expired bids of a slot's list, from the head (a slot past its gate closure: all of them). */
  purge(slot: number, side: BookSideName, max: number, now: number): SlotBookEvent[] {
    const list = this.book(slot, side);
    const closed = !slotOpen(slot, now, this.calendar);
    const expired = list.filter((id) => closed || now > this.#bids.get(id)!.notAfter).slice(0, max);
    return expired.map((id) => {
      this.#unlink(this.#bids.get(id)!);
      return this.#end(id, "expired");
    });
  }

  #lists(slot: number): { buy: number[]; sell: number[] } {
    let lists = this.#books.get(slot);
    if (lists === undefined) {
      lists = { buy: [], sell: [] };
      this.#books.set(slot, lists);
    }
    return lists;
  }

  #unlink(bid: SlotBid): void {
    const list = this.#lists(bid.slot)[bid.side];
    list.splice(list.indexOf(bid.id), 1);
  }

  #end(id: number, status: "expired" | "cancelled"): SlotBookEvent {
    const bid = this.#bids.get(id)!;
    bid.status = status;
    return { type: status, id, slot: bid.slot, side: bid.side };
  }
}
