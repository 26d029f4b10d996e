// The market's logs, read the same way by every party that follows the chain (PROTOCOL §5: the chain is the record
// of truth): the gateway publishes them as notices, the DSO and the meters read them to recover what NATS lost.
import { Interface, type JsonRpcProvider, type Log } from "ethers";
import { loadArtifact } from "../../contracts/client/artifact.ts";
import { decodeMarketEvents, type MarketEvent } from "../../contracts/client/index.ts";
import type { ChainEvent } from "../../machines/gateway.ts";
import { sideOfCode } from "../../protocol/domain.ts";

/** Which contract a market runs: version 1's GridveilMarket or version 2's SlotMarket (`MarketDescription.slots`). */
export type MarketDesign = "v1" | "v2";

/** The market's events of some logs, each with its position (rejections are left out: only a receipt reports them). */
export function chainEventsOf(logs: readonly Log[], contractAddress: string, design: MarketDesign = "v1"): ChainEvent[] {
  if (design === "v2") return slotChainEventsOf(logs, contractAddress);
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

let slotMarketInterface: Interface | undefined;
const SIDES = ["buy", "sell"] as const;

/** The same for the slot market (contracts/src/v2/ISlotMarket.sol): its events name bids by bidder, with their slot. */
function slotChainEventsOf(logs: readonly Log[], contractAddress: string): ChainEvent[] {
  slotMarketInterface ??= new Interface(loadArtifact("SlotMarket").abi);
  const events: ChainEvent[] = [];
  for (const log of logs) {
    if (log.address.toLowerCase() !== contractAddress.toLowerCase()) continue;
    const parsed = slotMarketInterface.parseLog({ topics: [...log.topics], data: log.data });
    if (parsed === null) continue;
    const position = { blockNumber: log.blockNumber, logIndex: log.index, txHash: log.transactionHash as `0x${string}` };
    const args = parsed.args;
    switch (parsed.name) {
      case "BidPlaced":
        events.push({ kind: "bidPlaced", bidder: String(args.bidder) as `0x${string}`, side: SIDES[Number(args.side)]!, ...position });
        break;
      case "Matched":
        events.push({ kind: "matched", buyBidder: String(args.buyBidder) as `0x${string}`, sellBidder: String(args.sellBidder) as `0x${string}`, ...position });
        break;
      case "BidExpired":
        events.push({ kind: "bidExpired", bidder: String(args.bidder) as `0x${string}`, ...position });
        break;
      case "BidCancelled":
        events.push({ kind: "bidCancelled", bidder: String(args.bidder) as `0x${string}`, ...position });
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
  design: MarketDesign = "v1",
): Promise<LogRange | null> {
  const head = await provider.getBlockNumber();
  if (head < fromBlock) return null;
  const toBlock = Math.min(head, fromBlock + maxBlockRange - 1);
  const logs = await provider.getLogs({ address: contractAddress, fromBlock, toBlock });
  return { fromBlock, toBlock, head, events: chainEventsOf(logs, contractAddress, design) };
}
