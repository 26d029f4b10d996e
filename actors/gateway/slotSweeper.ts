// Expiry at gate closure (PROTOCOL §5 delivery slots: "then no bid of that slot matches or rests any more and its open
// bids expire"). The contract drops expired bids only lazily (the heads a placement meets), and nobody places in a
// closed slot, so a closed slot's resting bids would never be announced. Once a slot's gate closure has passed by the
// market's clock, the sweeper purges its lists on chain (`purge`, a bounded number of bids per transaction, until the
// list is empty): every bid gets its `BidExpired` log, which the follower publishes as `market.expired` like any other.
import { readBook, type SlotMarketHandle } from "../../contracts/client/v2/slotMarket.ts";
import type { BookSideName, SlotCalendar } from "../../protocol/book/slotBooks.ts";
import { describeError } from "../../machines/kit/errors.ts";
import type { Clock } from "../runtime/clock.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { SlotBookView } from "./slotBookView.ts";
import { slotGateClosure } from "./slotLogs.ts";
import type { SlotWriter } from "./slotWriter.ts";

export type SlotSweeperOptions = {
  market: SlotMarketHandle;
  calendar: SlotCalendar;
  view: SlotBookView;
  writer: Pick<SlotWriter, "purge">;
  clock: Clock;
  logger: Logger;
  /** How often to look for closed slots that hold bids (wall ms). */
  intervalMs: number;
  /** Bids one purge transaction unlinks at most. */
  purgeMaxPerTx: number;
  /** The longest wait before trying a list again whose purge expired nothing (the chain's time lags the clock). */
  retryMaxMs: number;
  /** A purge transaction was mined (the follower reads at once). */
  onPurged?(): void;
  /** A closed slot's lists are empty on chain: nothing of it is needed any more. */
  onSlotSwept?(slot: number): void;
};

export type SlotSweeper = {
  /** Sweeps now (also runs every `intervalMs`); resolves when this round is done. */
  sweep(): Promise<void>;
  /**
   * Purges an open slot's expired bids soon (a placement met more expired heads than it may drop: `ExpiredBacklog`);
   * the contract unlinks only those whose tickets expired.
   */
  purgeExpired(slot: number): void;
  counters(): { purges: number; purged: number; failures: number };
  /** Stops the timer and waits for a round in progress. */
  stop(): Promise<void>;
};

export function startSlotSweeper(options: SlotSweeperOptions): SlotSweeper {
  const { market, calendar, view, writer, clock, logger } = options;
  const counters = { purges: 0, purged: 0, failures: 0 };
  // A list the chain still holds although its slot is closed by our clock (the chain's time lags): wait before the next try.
  const waitUntil = new Map<string, { at: number; delayMs: number }>();
  let round: Promise<void> | null = null;
  let stopped = false;

  const sweepList = async (slot: number, side: BookSideName): Promise<void> => {
    const key = `${slot}:${side}`;
    const wait = waitUntil.get(key);
    if (wait !== undefined && Date.now() < wait.at) return;
    // The chain decides: the view may lag behind a purge the follower has not read yet.
    while (!stopped && (await readBook(market, slot, side)).length > 0) {
      const { expired } = await writer.purge(slot, side, options.purgeMaxPerTx);
      counters.purges += 1;
      counters.purged += expired;
      options.onPurged?.();
      if (expired === 0) {
        // The chain's time has not reached the gate closure yet: only expired tickets go before it.
        const delayMs = Math.min((wait?.delayMs ?? options.intervalMs / 2) * 2, options.retryMaxMs);
        waitUntil.set(key, { at: Date.now() + delayMs, delayMs });
        return;
      }
    }
    waitUntil.delete(key);
  };

  const backlogs = new Set<number>();
  const sweepOnce = async (): Promise<void> => {
    for (const slot of [...backlogs]) {
      backlogs.delete(slot);
      try {
        for (const side of ["buy", "sell"] as const) {
          const { expired } = await writer.purge(slot, side, options.purgeMaxPerTx);
          counters.purges += 1;
          counters.purged += expired;
        }
        options.onPurged?.();
      } catch (error) {
        counters.failures += 1;
        logger.warn({ slot, err: describeError(error) }, "purging a slot's expired bids failed");
      }
    }
    const now = clock.now();
    for (const { slot, counts } of view.slotsWithBids()) {
      if (stopped) return;
      if (slotGateClosure(slot, calendar) > now) continue;
      try {
        for (const side of ["buy", "sell"] as const) if (counts[side] > 0) await sweepList(slot, side);
        if ((await readBook(market, slot, "buy")).length === 0 && (await readBook(market, slot, "sell")).length === 0) options.onSlotSwept?.(slot);
      } catch (error) {
        counters.failures += 1;
        logger.warn({ slot, err: describeError(error) }, "purging a closed slot failed; trying again at the next round");
      }
    }
  };

  const sweep = (): Promise<void> => {
    round ??= sweepOnce().finally(() => {
      round = null;
    });
    return round;
  };
  const timer = setInterval(() => void sweep(), options.intervalMs);

  return {
    sweep,
    purgeExpired(slot) {
      backlogs.add(slot);
      void sweep();
    },
    counters: () => ({ ...counters }),
    async stop() {
      stopped = true;
      clearInterval(timer);
      await round;
    },
  };
}
