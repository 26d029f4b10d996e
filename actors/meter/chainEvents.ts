// What a meter learns from the chain itself (PROTOCOL §5: the chain is the record of truth): the matches, expiries and
// cancellations of its own bidders, read over read-only RPC from the block it enrolled at. The gateway's notices on
// NATS stay the fast path (they carry the trade's trace context); an event of the meter's that no notice brought within
// one read interval is handed to the same handler, so a lost notice never leaves a session waiting for its timeout.
import type { JsonRpcProvider } from "ethers";
import type { ChainEvent } from "../../machines/gateway.ts";
import { readLogRange, type MarketDesign } from "../chain/marketLog.ts";
import type { Logger } from "../telemetry/logger.ts";

/** The events a meter acts on (placements come with the submission's ack; rejections only in a receipt). */
export type OwnChainEvent = Extract<ChainEvent, { kind: "matched" | "bidExpired" | "bidCancelled" }>;

export type ChainEventsOptions = {
  provider: JsonRpcProvider;
  contractAddress: string;
  /** Version 1's market or version 2's slot market (default v1). */
  design?: MarketDesign;
  /** The first block to read: the head when the meter enrolled (its bidders are all newer). */
  fromBlock: number;
  intervalMs: number;
  maxBlockRange: number;
  logger: Logger;
  /** Whether a bidder is one of this meter's. */
  owns(bidder: string): boolean;
  /** Whether a notice already brought this event (the runtime's record of what it handled). */
  handled(event: OwnChainEvent): boolean;
  /** Hands the event to the path a notice takes. */
  handle(event: OwnChainEvent): void;
};

export type ChainEvents = { stop(): Promise<void> };

function isOwn(event: ChainEvent, owns: (bidder: string) => boolean): event is OwnChainEvent {
  switch (event.kind) {
    case "matched":
      return owns(event.buyBidder) || owns(event.sellBidder);
    case "bidExpired":
    case "bidCancelled":
      return owns(event.bidder);
    case "bidPlaced":
      return false;
  }
}

export function startChainEvents(options: ChainEventsOptions): ChainEvents {
  const { logger } = options;
  let next = options.fromBlock;
  let stopped = false;
  // Found on chain, not yet brought by a notice: handed over at the next tick if still unhandled, so the notice,
  // which carries the trade's trace, normally wins.
  let waiting: OwnChainEvent[] = [];

  const readToHead = async (): Promise<OwnChainEvent[]> => {
    const found: OwnChainEvent[] = [];
    for (;;) {
      const range = await readLogRange(options.provider, options.contractAddress, next, options.maxBlockRange, options.design ?? "v1");
      if (range === null) return found;
      for (const event of range.events) if (isOwn(event, options.owns)) found.push(event);
      next = range.toBlock + 1;
      if (range.toBlock >= range.head || stopped) return found;
    }
  };

  let reading: Promise<void> | null = null;
  const tick = (): Promise<void> => {
    reading ??= (async () => {
      try {
        const due = waiting;
        waiting = [];
        for (const event of due) {
          if (stopped || options.handled(event)) continue;
          logger.warn({ event: event.kind, txHash: event.txHash, block: event.blockNumber }, "an event of ours on chain had no notice: taking it from the chain");
          options.handle(event);
        }
        waiting = (await readToHead()).filter((event) => !options.handled(event));
      } catch (error) {
        logger.warn({ err: error }, "reading the market's events from the chain failed; trying again later");
      } finally {
        reading = null;
      }
    })();
    return reading;
  };

  const timer = setInterval(() => void tick(), options.intervalMs);
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await reading;
    },
  };
}
