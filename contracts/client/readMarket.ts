// Read-only views of the market: a bid's record and ciphertext, heap sizes and contents, ids by bidder.
import { withMarketErrors } from "./errors.ts";
import type { MarketHandle } from "./market.ts";
import type { BidInfo, BidStatus } from "./types.ts";
import { type Hex } from "../../protocol/base/hex.ts";
import { type SideCode } from "../../protocol/domain.ts";

/** A bid's ciphertext exactly as placed (also after it matched): what openings are verified against. */
export async function getBidCiphertext(market: MarketHandle, bidId: bigint): Promise<{ left: bigint[]; right: bigint[] }> {
  return withMarketErrors("getBidCiphertext", async () => {
    const result = await market.contract.getBidCiphertext(bidId);
    return { left: [...(result[0] as bigint[])], right: [...(result[1] as bigint[])] };
  });
}

export async function getBid(market: MarketHandle, bidId: bigint): Promise<BidInfo> {
  return withMarketErrors("getBid", async () => {
    const info = (await market.contract.getBid(bidId)).toObject() as Record<string, unknown>;
    return {
      bidder: info["bidder"] as Hex,
      side: Number(info["side"]) as SideCode,
      status: Number(info["status"]) as BidStatus,
      notAfter: BigInt(info["notAfter"] as bigint),
      heapPosition: Number(info["heapPosition"]),
      commitment: info["commitment"] as Hex,
      ciphertextHash: info["ciphertextHash"] as Hex,
    };
  });
}

export async function getHeapSizes(market: MarketHandle): Promise<{ buys: number; sells: number }> {
  const sizes = await market.contract.heapSizes();
  return { buys: Number(sizes[0]), sells: Number(sizes[1]) };
}

/** One book in heap-array order (index 0 = its best bid). */
export async function getHeapBidIds(market: MarketHandle, side: SideCode): Promise<bigint[]> {
  return [...(await market.contract.heapBidIds(side))];
}

export async function getBidCount(market: MarketHandle): Promise<bigint> {
  return market.contract.bidCount();
}

/** The id of the bid a one-time address placed, or undefined. */
export async function getBidIdOf(market: MarketHandle, bidder: string): Promise<bigint | undefined> {
  const bidId = await market.contract.bidIdOf(bidder);
  return bidId === 0n ? undefined : bidId;
}
