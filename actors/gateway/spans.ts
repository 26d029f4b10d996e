// Span names and attribute keys of the gateway (PROTOCOL §1: nothing secret in the spans): ids, hashes, gas and counts only, never a price or quantity.

export const GATEWAY_SPANS = {
  /** One delivered bid submission; child of the meter's `meter.submit` (context from the NATS headers). */
  bid: "gateway.bid",
  /** One batch handed to the chain; links to each bid's `gateway.bid`. */
  batch: "gateway.batch",
  /** One transaction; child of `gateway.batch` (or of `gateway.cancel`). */
  tx: "chain.tx",
  /** One published match; links to both bids' `gateway.bid` when this process saw them. */
  match: "gateway.match",
  /** One relayed cancel request; child of the requester's context. */
  cancel: "gateway.cancel",
} as const;

export const GATEWAY_ATTRIBUTES = {
  marketId: "gridveil.market.id",
  tradeId: "gridveil.trade.id",
  matchId: "gridveil.match.id",
  /** A one-time id (public on chain anyway). */
  bidder: "gridveil.bidder",
  buyBidder: "gridveil.buy.bidder",
  sellBidder: "gridveil.sell.bidder",
  streamSeq: "gridveil.stream.seq",
  deliveryCount: "gridveil.delivery.count",
  disposition: "gridveil.disposition",
  batchSize: "gridveil.batch.size",
  placed: "gridveil.bids.placed",
  duplicates: "gridveil.bids.duplicate",
  rejected: "gridveil.bids.rejected",
  txHash: "gridveil.tx.hash",
  blockNumber: "gridveil.block.number",
  gasUsed: "gridveil.gas.used",
  txBids: "gridveil.tx.bids",
  compares: "gridveil.tx.compares",
  error: "gridveil.error",
} as const;
