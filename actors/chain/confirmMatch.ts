// A match notice is a claim about the chain (PROTOCOL §5 trading step 1): the gateway is trusted for liveness only, so
// a party that acts on a `market.matched` notice first finds the `Matched` log it names in the transaction's receipt.
import type { Provider } from "ethers";
import { decodeMarketEvents } from "../../contracts/client/index.ts";
import { sameAddress } from "../../protocol/base/hex.ts";

export type MatchClaim = { buyId: string; sellId: string; txHash: string; logIndex: number };

/**
 * Whether the market's `Matched(buyId, sellId)` is at `logIndex` of the receipt of `txHash`: "confirmed", "absent"
 * (the receipt exists and does not hold it: a false notice), or "unknown" (no receipt yet: ask again later).
 */
export async function confirmMatch(provider: Provider, contractAddress: string, claim: MatchClaim): Promise<"confirmed" | "absent" | "unknown"> {
  const receipt = await provider.getTransactionReceipt(claim.txHash);
  if (receipt === null) return "unknown";
  const log = receipt.logs.find((entry) => entry.index === claim.logIndex);
  if (log === undefined || receipt.status !== 1) return "absent";
  const [event] = decodeMarketEvents([log], contractAddress);
  return event?.type === "Matched" && sameAddress(event.buyBidder, claim.buyId) && sameAddress(event.sellBidder, claim.sellId) ? "confirmed" : "absent";
}
