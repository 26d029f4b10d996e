// The gateway's version 2 placements (PROTOCOL §5 bidding and matching, v2): certified bids go to the slot market in
// batches with hints that reflect everything sent before them, so batches of one slot can be in flight together. The
// placer keeps, per slot, the lists it expects once its transactions are mined; when anything differs from what the
// hints predicted (a transaction that failed, an entry the contract answered otherwise), it forgets them, and the next
// batch of that slot waits for the slot's transactions in flight and reads the books again. An entry answered
// `StaleHint` (the book changed otherwise: an expiry, a cancel, another gateway) is hinted again and placed in a later
// transaction. A bidder is single-use on chain, so no bid is ever placed twice; every bid ends placed, rejected with the
// contract's reason, or — when its transaction's fate is not known — unknown, for the caller to retry.
import type { BatchHint, CertifiedBid, SlotBatchEntry, SlotHint, SlotLists } from "../../contracts/client/v2/slotMarket.ts";
import { sameAddress } from "../../protocol/base/hex.ts";
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

/**
 * How a bid ended: placed (resting, or matched with the head `matchedWith`), rejected with the contract's error (a
 * redelivered bid that was placed before is `BidderAlreadyUsed`), or unknown (the hint source or the transaction
 * failed: it may or may not be on chain; sending it again is safe).
 */
export type SlotPlacement = { bidder: string; attempts: number } & (
  | { outcome: "placed"; matchedWith: string | null }
  | { outcome: "rejected"; reason: string }
  | { outcome: "unknown"; error: unknown }
);

export type SlotPlacer = {
  /** Places bids of one slot, in order, in one transaction (re-hinted ones in later ones); one result per bid, in order. */
  place(slot: number, bids: readonly CertifiedBid[]): Promise<SlotPlacement[]>;
  /** Counters: transactions sent, entries re-hinted after `StaleHint`, times a slot's lists were read from the chain. */
  /** `expiredBeforeSending`: bids the hints found past their gate closure or ticket by the clock, never sent. */
  counters(): { transactions: number; stale: number; resyncs: number; expiredBeforeSending: number };
};

/** Refusals decided by the clock alone (PROTOCOL §5: a slot takes bids until its gate closure; a ticket until notAfter). */
const TIME_REFUSALS: ReadonlySet<string> = new Set(["SlotClosed", "TicketExpired"]);

export function createSlotPlacer(options: SlotPlacerOptions): SlotPlacer {
  const expected = new Map<number, SlotLists>();
  const counters = { transactions: 0, stale: 0, resyncs: 0, expiredBeforeSending: 0 };
  // Per slot, the hand-over of batches is serial (each is hinted against the lists the one before leaves); the
  // transactions themselves overlap.
  const queues = new Map<number, Promise<unknown>>();
  const inFlight = new Map<number, Set<Promise<unknown>>>();

  const listsOf = async (slot: number): Promise<SlotLists> => {
    const known = expected.get(slot);
    if (known !== undefined) return known;
    // The chain's books only mean something once this placer's own transactions of the slot are mined.
    await Promise.allSettled([...(inFlight.get(slot) ?? [])]);
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
      if (answer.hints.length !== bids.length || answer.hints.some((hint, index) => !sameAddress(hint.bidder, bids[index]!.bidder))) {
        expected.delete(slot);
        throw new SlotPlacementError({ kind: "hintsForOtherBids", slot, bids: bids.length, hints: answer.hints.length });
      }
      predicted = answer.hints;
      expected.set(slot, answer.lists);
      // A bid whose slot or ticket is over by the market's clock can never be placed (time only moves on): it is
      // refused here instead of spending the chain's time on it. The others' hints do not depend on it.
      const late = new Set(answer.hints.flatMap((hint, index) => (!hint.outcome.placed && TIME_REFUSALS.has(hint.outcome.reason) ? [index] : [])));
      counters.expiredBeforeSending += late.size;
      const toSend = bids.flatMap((bid, index) => (late.has(index) ? [] : [{ bid, hint: answer.hints[index]!.hint }]));
      if (toSend.length > 0) counters.transactions += 1;
      const onChain = toSend.length === 0 ? Promise.resolve([]) : options.send(toSend);
      sent = onChain.then((results) => {
        let next = 0;
        return bids.map((_bid, index): SlotBatchEntry => {
          if (!late.has(index)) return results[next++]!;
          const outcome = answer.hints[index]!.outcome;
          return { ok: false, reason: outcome.placed ? "StaleHint" : outcome.reason };
        });
      });
      const tracked = inFlight.get(slot) ?? new Set<Promise<unknown>>();
      inFlight.set(slot, tracked);
      tracked.add(sent);
      void sent.then(
        () => tracked.delete(sent),
        () => tracked.delete(sent),
      );
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
      const outcomes: (SlotPlacement | undefined)[] = bids.map(() => undefined);
      let pending = bids.map((_bid, index) => index);
      for (let round = 1; pending.length > 0; round++) {
        let results: SlotBatchEntry[];
        try {
          results = await attempt(
            slot,
            pending.map((index) => bids[index]!),
          );
        } catch (error) {
          for (const index of pending) outcomes[index] = { bidder: bids[index]!.bidder, attempts: round, outcome: "unknown", error };
          break;
        }
        const again: number[] = [];
        results.forEach((result, position) => {
          const index = pending[position]!;
          const bidder = bids[index]!.bidder;
          if (result.ok) outcomes[index] = { bidder, attempts: round, outcome: "placed", matchedWith: result.matchedWith };
          else if (result.reason === "StaleHint" && round < options.attempts) {
            counters.stale += 1;
            again.push(index);
          } else outcomes[index] = { bidder, attempts: round, outcome: "rejected", reason: result.reason };
        });
        pending = again;
      }
      return outcomes.map((outcome) => outcome!);
    },
    counters: () => ({ ...counters }),
  };
}
