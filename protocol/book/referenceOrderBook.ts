// Plaintext reference order book: the contract's heap algorithm on clear price levels (PROTOCOL §5), step for step.
// Mirrors contracts/src/MarketBook.sol, lib/EncryptedHeap.sol and lib/KnownOrder.sol: same sift order, same tie
// handling, same lazy expiry, the same ids and the same memory of Compare results, so that its matches agree with the
// contract's pair for pair and `compareCount` is the number of pairing checks the chain runs.
import { ReferenceBookError } from "../errors.ts";
import { KnownOrderFacts } from "./knownOrder.ts";

export type BookSide = 0 | 1;
export const BUY: BookSide = 0;
export const SELL: BookSide = 1;

export type BidStatus = "open" | "matched" | "cancelled" | "expired";

/** How many expired roots one placement may drop before it is rejected (the contract's MAX_EXPIRED_DROPS). */
export const MAX_EXPIRED_DROPS = 2;

export type ReferenceBidInput = {
  side: BookSide;
  priceLevel: number;
  /** Unix seconds; the bid is expired once `now > notAfter`. */
  notAfter: number;
};

/** The events the contract emits, in the same order. */
export type ReferenceEvent =
  | { type: "placed"; bidId: number; side: BookSide }
  | { type: "matched"; buyId: number; sellId: number }
  | { type: "expired"; bidId: number; side: BookSide }
  | { type: "cancelled"; bidId: number; side: BookSide };

export type PlaceResult =
  | { ok: true; bidId: number; matchedWith: number | undefined; events: ReferenceEvent[] }
  | { ok: false; reason: "TicketExpired" | "ExpiredBacklog"; events: [] };

type BidRecord = ReferenceBidInput & { status: BidStatus };

export class ReferenceOrderBook {
  private readonly bids = new Map<number, BidRecord>();
  private heaps: [number[], number[]] = [[], []];
  private nextId = 1;
  /**
   * Order questions that cost a pairing check on chain: those KnownOrder could not answer from earlier results
   * (right-ciphertext validations of a bid placed into an empty book are not counted).
   */
  compareCount = 0;
  /** Every order question the heaps asked (answered by a pairing check or by KnownOrder). */
  decisionCount = 0;
  private readonly facts: KnownOrderFacts | undefined;
  private readonly maxExpiredDrops: number;
  readonly events: ReferenceEvent[] = [];

  /**
   * `knownOrder: false` asks every question of a pairing check (the contract before KnownOrder): for comparisons
   * only; the decisions, and so the matches, are the same either way.
   */
  constructor(options: { maxExpiredDrops?: number; knownOrder?: boolean } = {}) {
    this.maxExpiredDrops = options.maxExpiredDrops ?? MAX_EXPIRED_DROPS;
    this.facts = options.knownOrder === false ? undefined : new KnownOrderFacts();
  }

  /** Places a bid at block time `now`; rejected placements change nothing and use no id, as on chain. */
  place(input: ReferenceBidInput, now: number): PlaceResult {
    if (now > input.notAfter) return { ok: false, reason: "TicketExpired", events: [] };
    const snapshot = this.snapshot();
    this.facts?.mark();
    const events: ReferenceEvent[] = [];
    const bidId = this.nextId++;
    this.bids.set(bidId, { ...input, status: "open" });
    events.push({ type: "placed", bidId, side: input.side });
    const opposite: BookSide = input.side === BUY ? SELL : BUY;
    if (!this.dropExpiredRoots(opposite, now, events)) {
      this.restore(snapshot);
      this.facts?.rollback();
      return { ok: false, reason: "ExpiredBacklog", events: [] };
    }
    this.facts?.commit();
    const oppositeHeap = this.heaps[opposite];
    if (oppositeHeap.length > 0) {
      const rootId = oppositeHeap[0]!;
      const [buyId, sellId] = input.side === BUY ? [bidId, rootId] : [rootId, bidId];
      if (this.ge(buyId, sellId)) {
        this.removeAt(opposite, 0);
        this.record(buyId).status = "matched";
        this.record(sellId).status = "matched";
        events.push({ type: "matched", buyId, sellId });
        this.events.push(...events);
        return { ok: true, bidId, matchedWith: rootId, events };
      }
    }
    this.insert(input.side, bidId);
    this.events.push(...events);
    return { ok: true, bidId, matchedWith: undefined, events };
  }

  /** Cancels an open bid (also one that expired but still sits in its heap, as on chain). */
  cancel(bidId: number): Extract<ReferenceEvent, { type: "cancelled" }> {
    const bid = this.record(bidId);
    if (bid.status !== "open") throw new ReferenceBookError({ kind: "notOpen", bidId, status: bid.status });
    this.removeAt(bid.side, this.positionOf(bid.side, bidId));
    bid.status = "cancelled";
    const event = { type: "cancelled", bidId, side: bid.side } as const;
    this.events.push(event);
    return event;
  }

  /** Removes the listed bids that are open and expired at `now`; others are skipped (the contract's purgeExpired). */
  purge(bidIds: readonly number[], now: number): number[] {
    const purged: number[] = [];
    for (const bidId of bidIds) {
      const bid = this.record(bidId);
      if (bid.status !== "open" || now <= bid.notAfter) continue;
      this.removeAt(bid.side, this.positionOf(bid.side, bidId));
      bid.status = "expired";
      this.events.push({ type: "expired", bidId, side: bid.side });
      purged.push(bidId);
    }
    return purged;
  }

  /** The heap array of one side (index 0 = best bid), as the contract's `heapBidIds`. */
  heap(side: BookSide): readonly number[] {
    return this.heaps[side];
  }

  status(bidId: number): BidStatus {
    return this.record(bidId).status;
  }

  priceLevel(bidId: number): number {
    return this.record(bidId).priceLevel;
  }

  notAfter(bidId: number): number {
    return this.record(bidId).notAfter;
  }

  /** Number of ids assigned so far (the contract's `bidCount`). */
  get bidCount(): number {
    return this.nextId - 1;
  }

  /** Open bids whose expiry has passed at `now`, i.e. what a purge would remove. */
  expiredOpenBids(now: number): number[] {
    return [...this.bids.entries()].filter(([, bid]) => bid.status === "open" && now > bid.notAfter).map(([bidId]) => bidId);
  }

  matches(): { buyId: number; sellId: number }[] {
    return this.events.flatMap((event) => (event.type === "matched" ? [{ buyId: event.buyId, sellId: event.sellId }] : []));
  }

  // ------------------------------------------------------------ the contract's algorithm

  /** Compare(L(a), R(b)): level(a) ≥ level(b); a pairing check unless earlier results settle it (KnownOrder). */
  private ge(a: number, b: number): boolean {
    this.decisionCount++;
    const known = this.facts?.lookup(a, b);
    if (known?.known === true) return known.result;
    this.compareCount++;
    const result = this.record(a).priceLevel >= this.record(b).priceLevel;
    this.facts?.record(a, b, result);
    return result;
  }

  /** Buy max-heap: a above b iff level(a) > level(b), i.e. !Compare(L(b), R(a)). Sell: iff !Compare(L(a), R(b)). */
  private above(side: BookSide, a: number, b: number): boolean {
    return side === BUY ? !this.ge(b, a) : !this.ge(a, b);
  }

  private dropExpiredRoots(side: BookSide, now: number, events: ReferenceEvent[]): boolean {
    const heap = this.heaps[side];
    for (let dropped = 0; heap.length > 0; dropped++) {
      const rootId = heap[0]!;
      const root = this.record(rootId);
      if (now <= root.notAfter) return true;
      if (dropped === this.maxExpiredDrops) return false;
      this.removeAt(side, 0);
      root.status = "expired";
      events.push({ type: "expired", bidId: rootId, side });
    }
    return true;
  }

  private insert(side: BookSide, bidId: number): void {
    const heap = this.heaps[side];
    heap.push(0);
    this.siftUpInto(side, heap.length - 1, bidId);
  }

  /** Bottom-up removal: the hole descends along the better child to a leaf, then the last bid climbs from there. */
  private removeAt(side: BookSide, position: number): void {
    const heap = this.heaps[side];
    const newSize = heap.length - 1;
    const last = heap.pop()!;
    if (position === newSize) return;
    let hole = position;
    for (;;) {
      let child = 2 * hole + 1;
      if (child >= newSize) break;
      let best = heap[child]!;
      if (child + 1 < newSize) {
        const right = heap[child + 1]!;
        if (this.above(side, right, best)) {
          best = right;
          child += 1;
        }
      }
      heap[hole] = best;
      hole = child;
    }
    this.siftUpInto(side, hole, last);
  }

  private siftUpInto(side: BookSide, start: number, bidId: number): void {
    const heap = this.heaps[side];
    let hole = start;
    while (hole > 0) {
      const parentPosition = (hole - 1) >> 1;
      const parent = heap[parentPosition]!;
      if (!this.above(side, bidId, parent)) break;
      heap[hole] = parent;
      hole = parentPosition;
    }
    heap[hole] = bidId;
  }

  private positionOf(side: BookSide, bidId: number): number {
    const position = this.heaps[side].indexOf(bidId);
    if (position < 0) throw new ReferenceBookError({ kind: "missingFromHeap", bidId });
    return position;
  }

  private record(bidId: number): BidRecord {
    const bid = this.bids.get(bidId);
    if (bid === undefined) throw new ReferenceBookError({ kind: "unknownBid", bidId });
    return bid;
  }

  private snapshot() {
    return {
      heaps: [[...this.heaps[0]], [...this.heaps[1]]] as [number[], number[]],
      statuses: new Map([...this.bids].map(([bidId, bid]) => [bidId, bid.status])),
      nextId: this.nextId,
      compareCount: this.compareCount,
      decisionCount: this.decisionCount,
    };
  }

  private restore(snapshot: ReturnType<ReferenceOrderBook["snapshot"]>): void {
    this.heaps = snapshot.heaps;
    for (const [bidId, status] of snapshot.statuses) this.record(bidId).status = status;
    for (const bidId of [...this.bids.keys()]) if (bidId >= snapshot.nextId) this.bids.delete(bidId);
    this.nextId = snapshot.nextId;
    this.compareCount = snapshot.compareCount;
    this.decisionCount = snapshot.decisionCount;
  }
}

/**
 * Heap-property violations of a heap array given each bid's clear level: for the buy max-heap a parent must be
 * ≥ each child, for the sell min-heap ≤. Returns the offending child positions (empty = valid).
 */
export function heapViolations(side: BookSide, bidIds: readonly number[], levelOf: (bidId: number) => number): number[] {
  const violations: number[] = [];
  for (let position = 1; position < bidIds.length; position++) {
    const parent = levelOf(bidIds[(position - 1) >> 1]!);
    const child = levelOf(bidIds[position]!);
    if (side === BUY ? parent < child : parent > child) violations.push(position);
  }
  return violations;
}
