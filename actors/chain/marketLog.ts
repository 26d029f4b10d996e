// The market's logs, read the same way by every party that follows the chain (PROTOCOL §5: the chain is the record
// of truth): the gateway publishes them as notices, the DSO and the meters read them to recover what NATS lost.
import type { JsonRpcProvider, Log } from "ethers";
import { decodeMarketEvents, type MarketEvent } from "../../contracts/client/index.ts";
import type { ChainEvent } from "../../machines/gateway.ts";
import { sideOfCode } from "../../protocol/domain.ts";

/** The market's events of some logs, each with its position (rejections are left out: only a receipt reports them). */
export function chainEventsOf(logs: readonly Log[], contractAddress: string): ChainEvent[] {
  const events: ChainEvent[] = [];
  for (const event of decodeMarketEvents(logs, contractAddress)) {
    const position = positionOf(event);
    if (position === null) continue;
    switch (event.type) {
      case "BidPlaced":
        events.push({ kind: "bidPlaced", bidder: event.bidder, side: sideOfCode(event.side), ...position });
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

/** One read: blocks `fromBlock..toBlock` (every market log of them), and the head it was read against. */
export type LogRange = { fromBlock: number; toBlock: number; head: number; events: ChainEvent[] };

/**
 * Reads the market's logs from `fromBlock`, at most `maxBlockRange` blocks (nodes cap `eth_getLogs`); null when the
 * chain has no block `fromBlock` yet. Ranges read one after another (`toBlock + 1` next) miss no log.
 */
export async function readLogRange(
  provider: JsonRpcProvider,
  contractAddress: string,
  fromBlock: number,
  maxBlockRange: number,
): Promise<LogRange | null> {
  const head = await provider.getBlockNumber();
  if (head < fromBlock) return null;
  const toBlock = Math.min(head, fromBlock + maxBlockRange - 1);
  const logs = await provider.getLogs({ address: contractAddress, fromBlock, toBlock });
  return { fromBlock, toBlock, head, events: chainEventsOf(logs, contractAddress) };
}
