// EIP-712 domain and typed-data definitions the contract verifies (PROTOCOL §4: tickets, bid and cancel signatures).
import type { TypedDataField } from "ethers";
import type { GridveilMarketContract, MarketDomain } from "./types.ts";
import { type Hex } from "../../protocol/base/hex.ts";

export const MARKET_DOMAIN_NAME = "GridveilMarket";
export const MARKET_DOMAIN_VERSION = "1";

/** Signed by the DSO's ticket key. */
export const TICKET_TYPES: Record<string, TypedDataField[]> = {
  Ticket: [
    { name: "bidder", type: "address" },
    { name: "notAfter", type: "uint64" },
  ],
};

/** Signed by the bid's one-time key; ciphertextHash = keccak256(abi.encodePacked(left, right)). */
export const BID_TYPES: Record<string, TypedDataField[]> = {
  Bid: [
    { name: "side", type: "uint8" },
    { name: "ciphertextHash", type: "bytes32" },
    { name: "commitment", type: "bytes32" },
  ],
};

/** Signed by the bid's one-time key to withdraw its bid (bidders are single-use, so the address names the bid). */
export const CANCEL_TYPES: Record<string, TypedDataField[]> = {
  Cancel: [{ name: "bidder", type: "address" }],
};

export function marketDomain(chainId: bigint, verifyingContract: string): MarketDomain {
  return { name: MARKET_DOMAIN_NAME, version: MARKET_DOMAIN_VERSION, chainId, verifyingContract: verifyingContract as Hex };
}

/** Reads the domain from the contract itself (ERC-5267), so a client never guesses the chain id. */
export async function readMarketDomain(market: GridveilMarketContract): Promise<MarketDomain> {
  const domain = await market.eip712Domain();
  return { name: String(domain[1]), version: String(domain[2]), chainId: BigInt(domain[3]), verifyingContract: String(domain[4]) as Hex };
}
