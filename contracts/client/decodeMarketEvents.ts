// Decodes the market's logs into typed events: what observers (gateway, DSO, meters) follow the books with.
import type { Log, LogDescription } from "ethers";
import { getMarketInterface } from "./artifact.ts";
import { decodeMarketError } from "./errors.ts";
import { type Hex, sameAddress } from "../../protocol/base/hex.ts";
import { type SideCode } from "../../protocol/domain.ts";

/** Where a log sits on chain (absent when decoding bare {topics, data}). */
export type LogPosition = { blockNumber?: number; transactionHash?: Hex; logIndex?: number };

export type BidPlacedEvent = LogPosition & {
  type: "BidPlaced";
  bidId: bigint;
  side: SideCode;
  bidder: Hex;
  notAfter: bigint;
  commitment: Hex;
  ciphertextHash: Hex;
};
export type MatchedEvent = LogPosition & {
  type: "Matched";
  buyId: bigint;
  sellId: bigint;
  buyBidder: Hex;
  sellBidder: Hex;
  buyCommitment: Hex;
  sellCommitment: Hex;
  buyCiphertextHash: Hex;
  sellCiphertextHash: Hex;
};
export type BidCancelledEvent = LogPosition & { type: "BidCancelled"; bidId: bigint; side: SideCode; bidder: Hex };
export type BidExpiredEvent = LogPosition & { type: "BidExpired"; bidId: bigint; side: SideCode; bidder: Hex };
export type BidRejectedEvent = LogPosition & {
  type: "BidRejected";
  /** Index of the entry in its placeBids batch. */
  index: number;
  bidder: Hex;
  reasonSelector: Hex;
  /** Full revert data of the entry. */
  reason: Hex;
  /** The custom error's name when the market's ABI knows it (e.g. "TicketExpired"). */
  reasonName: string | undefined;
};

export type MarketEvent = BidPlacedEvent | MatchedEvent | BidCancelledEvent | BidExpiredEvent | BidRejectedEvent;

/** The minimum of a log the decoder needs; ethers' Log and receipt logs fit. */
export type RawLog = Pick<Log, "topics" | "data"> & Partial<Pick<Log, "address" | "blockNumber" | "transactionHash" | "index">>;

/**
 * Decodes every market event among `logs`, in order; logs of other contracts (or of other addresses when
 * `marketAddress` is given) are skipped.
 */
export function decodeMarketEvents(logs: readonly RawLog[], marketAddress?: string): MarketEvent[] {
  const iface = getMarketInterface();
  const events: MarketEvent[] = [];
  for (const log of logs) {
    if (marketAddress !== undefined && log.address !== undefined && !sameAddress(log.address, marketAddress)) continue;
    let parsed: LogDescription | null;
    try {
      parsed = iface.parseLog({ topics: [...log.topics], data: log.data });
    } catch {
      continue;
    }
    if (parsed === null) continue;
    const event = toMarketEvent(parsed);
    if (event === undefined) continue;
    const position: LogPosition = {};
    if (log.blockNumber !== undefined) position.blockNumber = log.blockNumber;
    if (log.transactionHash !== undefined) position.transactionHash = log.transactionHash as Hex;
    if (log.index !== undefined) position.logIndex = log.index;
    events.push({ ...event, ...position });
  }
  return events;
}

function toMarketEvent(parsed: LogDescription): MarketEvent | undefined {
  const a = parsed.args;
  switch (parsed.name) {
    case "BidPlaced":
      return {
        type: "BidPlaced",
        bidId: a.getValue("bidId") as bigint,
        side: Number(a.getValue("side")) as SideCode,
        bidder: a.getValue("bidder") as Hex,
        notAfter: a.getValue("notAfter") as bigint,
        commitment: a.getValue("commitment") as Hex,
        ciphertextHash: a.getValue("ciphertextHash") as Hex,
      };
    case "Matched":
      return {
        type: "Matched",
        buyId: a.getValue("buyId") as bigint,
        sellId: a.getValue("sellId") as bigint,
        buyBidder: a.getValue("buyBidder") as Hex,
        sellBidder: a.getValue("sellBidder") as Hex,
        buyCommitment: a.getValue("buyCommitment") as Hex,
        sellCommitment: a.getValue("sellCommitment") as Hex,
        buyCiphertextHash: a.getValue("buyCiphertextHash") as Hex,
        sellCiphertextHash: a.getValue("sellCiphertextHash") as Hex,
      };
    case "BidCancelled":
    case "BidExpired":
      return {
        type: parsed.name,
        bidId: a.getValue("bidId") as bigint,
        side: Number(a.getValue("side")) as SideCode,
        bidder: a.getValue("bidder") as Hex,
      };
    case "BidRejected": {
      const reason = a.getValue("reason") as Hex;
      return {
        type: "BidRejected",
        index: Number(a.getValue("index") as bigint),
        bidder: a.getValue("bidder") as Hex,
        reasonSelector: a.getValue("reasonSelector") as Hex,
        reason,
        reasonName: decodeMarketError(reason)?.name,
      };
    }
    default:
      return undefined;
  }
}
