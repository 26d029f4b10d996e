// The market's TypeScript client: typed bindings, bid building, placement, cancel, purge, views and event decoding.
export * from "./types.ts";
export { loadArtifact, getMarketInterface, type ArtifactName, type MarketContractName } from "./artifact.ts";
export { marketDomain, readMarketDomain, TICKET_TYPES, BID_TYPES, CANCEL_TYPES, MARKET_DOMAIN_NAME, MARKET_DOMAIN_VERSION } from "./eip712.ts";
export { deployMarket, attachMarket, withRunner, type MarketHandle, type DeployMarketOptions } from "./market.ts";
export { signTicket } from "./signTicket.ts";
export { buildBid, ciphertextHash, signBid, ticketedBidder, type BuildBidParams, type BuiltBid, type BidOpening } from "./buildBid.ts";
export { placeBid, placeBids, type PlaceBidResult, type PlaceBidsResult, type BatchEntryResult } from "./placeBid.ts";
export { signCancel, cancelBid } from "./cancelBid.ts";
export { purgeExpired } from "./purgeExpired.ts";
export { getBidCiphertext, getBid, getHeapSizes, getHeapBidIds, getBidCount, getBidIdOf } from "./readMarket.ts";
export * from "./decodeMarketEvents.ts";
export * from "./errors.ts";
