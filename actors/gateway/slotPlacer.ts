// The gateway's version 2 placements (PROTOCOL §5 bidding and matching, v2): certified bids go to the slot market in
// batches with hints that reflect everything sent before them, so batches of one slot can be in flight together. The
// placer keeps, per slot, the lists it expects once its transactions are mined; a hint that went stale (the book
// changed otherwise: an expiry, a cancel, another gateway, a failed transaction) is answered `StaleHint` by the contract
// for that entry alone, and the placer re-reads the books and places it again. A bidder is single-use on chain, so no
// bid is ever placed twice, and every bid ends placed or rejected with the contract's reason.
import type { BatchHint, CertifiedBid, SlotBatchEntry, SlotHint, SlotLists } from "../../contracts/client/v2/slotMarket.ts";
import { SlotPlacementError } from "./errors.ts";

/** Where hints come from: the DSO (request/reply) or the public mirror; the lists after the batch come with them. */
export type HintSource = (slot: number, lists: SlotLists, bidders: readonly string[], now: number) => Promise<{ hints: BatchHint[]; lists: SlotLists }>;

export type SlotPlacerOptions = {
  hints: HintSource;
  /** The slot's lists as the chain holds them now (the contract's `book()` for both sides). */
  readLists: (slot: number) => Promise<SlotLists>;
  /** One `placeBids` transaction; resolves with each entry's result once mined. */
  send: (entries: readonly { bid: CertifiedBid; hint: SlotHint }[]) => Promise<SlotBatchEntry[]>;
  /** Unix seconds, for the hints' view of expiries. */
  now: () => number;
  /** Placements of one bid at most (the first and the re-hinted ones after `StaleHint`). */
  attempts: number;
};

/** How a bid ended: placed (resting, or matched with the head `matchedWith`), or rejected with the contract's error. */
export type SlotPlacement = { bidder: string } & ({ placed: true; matchedWith: string | null; attempts: number } | { placed: false; reason: string; attempts: number });

export type SlotPlacer = {
  /** Places bids of one slot, in order, in one transaction (re-hinted ones in later ones). */
  place(slot: number, bids: readonly CertifiedBid[]): Promise<SlotPlacement[]>;
  /** Counters: transactions sent, entries re-hinted after `StaleHint`, slots whose lists were read again. */
  counters(): { transactions: number; stale: number; resyncs: number };
};

export function createSlotPlacer(options: SlotPlacerOptions): SlotPlacer {
  const expected = new Map<number, SlotLists>();
  const counters = { transactions: 0, stale: 0, resyncs: 0 };
  // Per slot, the hand-over of batches is serial (each is hinted against the lists the one before leaves); the
  // transactions themselves overlap.
  const queues = new Map<number, Promise<unknown>>();

  const listsOf = async (slot: number): Promise<SlotLists> => {
    const known = expected.get(slot);
    if (known !== undefined) return known;
    counters.resyncs += 1;
    const read = await options.readLists(slot);
    expected.set(slot, read);
    return read;
  };

  const attempt = async (slot: number, bids: readonly CertifiedBid[]): Promise<SlotBatchEntry[]> => {
    let sent!: Promise<SlotBatchEntry[]>;
    let predicted!: BatchHint[];
    const handOver = async () => {
      const lists = await listsOf(slot);
      const answer = await options.hints(slot, lists, bids.map((bid) => bid.bidder), options.now());
      if (answer.hints.length !== bids.length) throw new SlotPlacementError({ kind: "hintCount", slot, bids: bids.length, hints: answer.hints.length });
      predicted = answer.hints;
      expected.set(slot, answer.lists);
      counters.transactions += 1;
      sent = options.send(bids.map((bid, index) => ({ bid, hint: answer.hints[index]!.hint })));
    };
    const turn = (queues.get(slot) ?? Promise.resolve()).then(handOver);
    queues.set(slot, turn.catch(() => undefined));
    await turn;
    let results: SlotBatchEntry[];
    try {
      results = await sent;
    } catch (error) {
      // Not mined (or not known to be): what the chain holds is unknown; read it again before the next hint.
      expected.delete(slot);
      throw error;
    }
    // Anything other than what the hints predicted means the lists differ from what we expect.
    const surprised = results.some((result, index) => {
      const outcome = predicted[index]!.outcome;
      if (!result.ok) return !(outcome.placed === false && outcome.reason === result.reason);
      return !(outcome.placed && (outcome.matchedWith ?? "").toLowerCase() === (result.matchedWith ?? "").toLowerCase());
    });
    if (surprised) expected.delete(slot);
    return results;
  };

  return {
    async place(slot, bids) {
      const outcome = new Map<string, SlotPlacement>();
      let pending = [...bids];
      for (let round = 1; pending.length > 0; round++) {
        const results = await attempt(slot, pending);
        const again: CertifiedBid[] = [];
        results.forEach((result, index) => {
          const bid = pending[index]!;
          if (result.ok) outcome.set(bid.bidder, { bidder: bid.bidder, placed: true, matchedWith: result.matchedWith, attempts: round });
          else if (result.reason === "StaleHint" && round < options.attempts) {
            counters.stale += 1;
            again.push(bid);
          } else outcome.set(bid.bidder, { bidder: bid.bidder, placed: false, reason: result.reason, attempts: round });
        });
        pending = again;
      }
      return bids.map((bid) => outcome.get(bid.bidder)!);
    },
    counters: () => ({ ...counters }),
  };
}
