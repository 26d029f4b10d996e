// Follows the market's logs from a block on, in contiguous ranges, as the gateway machine's event source (PROTOCOL §5).
import type { JsonRpcProvider, Log } from "ethers";
import { decodeMarketEvents, type MarketEvent } from "../../contracts/client/index.ts";
import type { EventSource } from "../../machines/effects.ts";
import type { ChainEvent, FollowChainInput, FollowerEvent } from "../../machines/gateway.ts";
import { describeError } from "../../machines/types.ts";
import { machineSideOf } from "./bidWire.ts";

export type ChainFollowerOptions = {
  provider: JsonRpcProvider;
  contractAddress: string;
  /** How often to look for new blocks when caught up. */
  pollIntervalMs: number;
  /** Largest block range per `eth_getLogs` (nodes cap it). */
  maxBlockRange: number;
};

/**
 * Every range it reports starts right after the previous one and holds every market log of its blocks, as the
 * machine requires; empty ranges are reported too (they move the cursor). On any RPC failure it reports
 * `CHAIN.FOLLOW.FAILED` and stops: the machine restarts it after a backoff from the block after the last one received.
 */
export function chainFollower(options: ChainFollowerOptions): EventSource<FollowChainInput, FollowerEvent> {
  return ({ fromBlock }, sendBack) => {
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    let next = fromBlock;

    const schedule = (delayMs: number): void => {
      if (!stopped) timer = setTimeout(() => void tick(), delayMs);
    };

    const tick = async (): Promise<void> => {
      try {
        const head = await options.provider.getBlockNumber();
        if (stopped) return;
        if (head < next) {
          schedule(options.pollIntervalMs);
          return;
        }
        const toBlock = Math.min(head, next + options.maxBlockRange - 1);
        const logs = await options.provider.getLogs({ address: options.contractAddress, fromBlock: next, toBlock });
        if (stopped) return;
        sendBack({ type: "CHAIN.EVENTS.RECEIVED", fromBlock: next, toBlock, events: chainEventsOf(logs, options.contractAddress) });
        next = toBlock + 1;
        // Behind the head: read on at once; caught up: poll.
        schedule(toBlock < head ? 0 : options.pollIntervalMs);
      } catch (error) {
        if (!stopped) sendBack({ type: "CHAIN.FOLLOW.FAILED", error: describeError(error).slice(0, 2_000) });
        stopped = true;
      }
    };

    schedule(0);
    return () => {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    };
  };
}

/** The machine's chain events (rejections are not followed: the submitter learns them from its receipt). */
export function chainEventsOf(logs: readonly Log[], contractAddress: string): ChainEvent[] {
  const events: ChainEvent[] = [];
  for (const event of decodeMarketEvents(logs, contractAddress)) {
    const position = positionOf(event);
    if (position === null) continue;
    switch (event.type) {
      case "BidPlaced":
        events.push({ kind: "bidPlaced", bidder: event.bidder, side: machineSideOf(event.side), ...position });
        break;
      case "Matched":
        events.push({ kind: "matched", buyBidder: event.buyBidder, sellBidder: event.sellBidder, ...position });
        break;
      case "BidExpired":
        events.push({ kind: "bidExpired", bidder: event.bidder, ...position });
        break;
      case "BidCancelled":
        events.push({ kind: "bidCancelled", bidder: event.bidder, ...position });
        break;
      case "BidRejected":
        break;
    }
  }
  return events;
}

function positionOf(event: MarketEvent): { blockNumber: number; logIndex: number; txHash: `0x${string}` } | null {
  if (event.blockNumber === undefined || event.logIndex === undefined || event.transactionHash === undefined) return null;
  return { blockNumber: event.blockNumber, logIndex: event.logIndex, txHash: event.transactionHash };
}
