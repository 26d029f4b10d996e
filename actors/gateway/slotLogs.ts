// The slot market's logs as the gateway machine's chain events (PROTOCOL §5 v2): `decodeSlotMarketEvents`, each with its
// position, in the version 1 event kinds the notices are made of; an expiry carries its side and its slot's gate closure.
import type { JsonRpcProvider } from "ethers";
import { decodeSlotMarketEvents, type SlotMarketEvent, type SlotMarketHandle } from "../../contracts/client/v2/slotMarket.ts";
import { gateClosureOf, type SlotCalendar } from "../../protocol/book/slotBooks.ts";
import type { ChainEvent } from "../../machines/gateway.ts";
import type { LogRange } from "../chain/marketLog.ts";

/** A slot market event and the block it is in (what the gateway's view of the books follows). */
export type PositionedSlotEvent = { blockNumber: number; event: SlotMarketEvent };

export type SlotLogRange = LogRange & { slotEvents: PositionedSlotEvent[] };

/** A slot's gate closure as the contract computes it (0 for the first slots, where the reference formula goes below 0). */
export function slotGateClosure(slot: number, calendar: SlotCalendar): number {
  return Math.max(0, gateClosureOf(slot, calendar));
}

/** The machine's event of one decoded log (a batch entry's rejection has none: only its receipt reports it). */
export function chainEventOf(event: SlotMarketEvent, at: { blockNumber: number; logIndex: number; txHash: `0x${string}` }, calendar: SlotCalendar): ChainEvent | null {
  switch (event.type) {
    case "placed":
      return { kind: "bidPlaced", bidder: event.bidder as `0x${string}`, side: event.side, ...at };
    case "matched":
      return { kind: "matched", buyBidder: event.buyBidder as `0x${string}`, sellBidder: event.sellBidder as `0x${string}`, ...at };
    case "expired":
      return { kind: "bidExpired", bidder: event.bidder as `0x${string}`, side: event.side, notAfter: slotGateClosure(event.slot, calendar), ...at };
    case "cancelled":
      return { kind: "bidCancelled", bidder: event.bidder as `0x${string}`, ...at };
    case "rejected":
      return null;
  }
}

/**
 * Reads the slot market's logs from `fromBlock`, at most `maxBlockRange` blocks; null when the chain has no block
 * `fromBlock` yet. Ranges read one after another (`toBlock + 1` next) miss no log (as `readLogRange` for version 1).
 */
export async function readSlotLogRange(
  provider: JsonRpcProvider,
  market: SlotMarketHandle,
  calendar: SlotCalendar,
  fromBlock: number,
  maxBlockRange: number,
): Promise<SlotLogRange | null> {
  const head = await provider.getBlockNumber();
  if (head < fromBlock) return null;
  const toBlock = Math.min(head, fromBlock + maxBlockRange - 1);
  const logs = await provider.getLogs({ address: market.address, fromBlock, toBlock });
  const events: ChainEvent[] = [];
  const slotEvents: PositionedSlotEvent[] = [];
  for (const log of logs) {
    for (const event of decodeSlotMarketEvents(market, [log])) {
      slotEvents.push({ blockNumber: log.blockNumber, event });
      const chainEvent = chainEventOf(event, { blockNumber: log.blockNumber, logIndex: log.index, txHash: log.transactionHash as `0x${string}` }, calendar);
      if (chainEvent !== null) events.push(chainEvent);
    }
  }
  return { fromBlock, toBlock, head, events, slotEvents };
}
