// Follows the market's logs from a block on, in contiguous ranges, as the gateway machine's event source (PROTOCOL §5).
import type { JsonRpcProvider } from "ethers";
import type { EventSource } from "../../machines/kit/effects.ts";
import type { FollowChainInput, FollowerEvent } from "../../machines/gateway.ts";
import { describeError } from "../../machines/kit/errors.ts";
import { readLogRange, type LogRange } from "../chain/marketLog.ts";

/** One read of the contract's logs from a block on (version 1: `readLogRange`; version 2: slotLogs.ts). */
export type ReadRange = (fromBlock: number, maxBlockRange: number) => Promise<LogRange | null>;

export type ChainFollowerOptions = {
  provider: JsonRpcProvider;
  contractAddress: string;
  /** The design's log reader (default: version 1's market logs). */
  readRange?: ReadRange;
  /** How often to look for new blocks when caught up. */
  pollIntervalMs: number;
  /** Largest block range per `eth_getLogs` (nodes cap it). */
  maxBlockRange: number;
  /**
   * Tells the follower that a block it has not seen is probably there (the gateway just mined a transaction): it
   * reads at once instead of at its next poll, so notices follow receipts without waiting up to `pollIntervalMs`.
   */
  wakeUps?: WakeUps;
};

/** A subscription point for "look now" nudges; `subscribe` returns the unsubscribe function. */
export type WakeUps = { subscribe(listener: () => void): () => void };

/** The gateway's side of `WakeUps`: `wake()` nudges every running follower. */
export function createWakeUps(): WakeUps & { wake(): void } {
  const listeners = new Set<() => void>();
  return {
    subscribe: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    wake: () => {
      for (const listener of [...listeners]) listener();
    },
  };
}

/**
 * Every range it reports starts right after the previous one and holds every market log of its blocks, as the
 * machine requires; empty ranges are reported too (they move the cursor). On any RPC failure it reports
 * `CHAIN.FOLLOW.FAILED` and stops: the machine restarts it after a backoff from the block after the last one received.
 */
export function chainFollower(options: ChainFollowerOptions): EventSource<FollowChainInput, FollowerEvent> {
  const readRange: ReadRange = options.readRange ?? ((fromBlock, maxBlockRange) => readLogRange(options.provider, options.contractAddress, fromBlock, maxBlockRange));
  return ({ fromBlock }, sendBack) => {
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    let next = fromBlock;
    // A nudge during a read: read again right after it (the new block may have been mined after its getBlockNumber).
    let reading = false;
    let nudged = false;

    const schedule = (delayMs: number): void => {
      if (stopped) return;
      if (nudged) {
        nudged = false;
        delayMs = 0;
      }
      timer = setTimeout(() => void tick(), delayMs);
    };

    const unsubscribe = options.wakeUps?.subscribe(() => {
      if (stopped) return;
      if (reading) {
        nudged = true;
        return;
      }
      if (timer !== undefined) clearTimeout(timer);
      timer = setTimeout(() => void tick(), 0);
    });

    const tick = async (): Promise<void> => {
      timer = undefined;
      reading = true;
      try {
        const range = await readRange(next, options.maxBlockRange);
        if (stopped) return;
        if (range === null) {
          schedule(options.pollIntervalMs);
          return;
        }
        sendBack({ type: "CHAIN.EVENTS.RECEIVED", fromBlock: range.fromBlock, toBlock: range.toBlock, events: range.events });
        next = range.toBlock + 1;
        // Behind the head: read on at once; caught up: poll.
        schedule(range.toBlock < range.head ? 0 : options.pollIntervalMs);
      } catch (error) {
        if (!stopped) sendBack({ type: "CHAIN.FOLLOW.FAILED", error: describeError(error).slice(0, 2_000) });
        stopped = true;
        unsubscribe?.();
      } finally {
        reading = false;
      }
    };

    schedule(0);
    return () => {
      stopped = true;
      unsubscribe?.();
      if (timer !== undefined) clearTimeout(timer);
    };
  };
}
