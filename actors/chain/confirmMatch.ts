// A match notice is a claim about the chain (PROTOCOL §5 trading step 1): the gateway is trusted for liveness only, so
// a party that acts on a `market.matched` notice first finds the `Matched` log it names in the transaction's receipt.
import { Interface, type Provider } from "ethers";
import { loadArtifact } from "../../contracts/client/artifact.ts";
import { decodeMarketEvents } from "../../contracts/client/index.ts";
import { sameAddress } from "../../protocol/base/hex.ts";

export type MatchClaim = { buyId: string; sellId: string; txHash: string; logIndex: number };

/**
 * Whether the market's `Matched(buyId, sellId)` is at `logIndex` of the receipt of `txHash`: "confirmed", "absent"
 * (the receipt exists and does not hold it: a false notice), or "unknown" (no receipt yet: ask again later).
 */
export async function confirmMatch(
  provider: Provider,
  contractAddress: string,
  claim: MatchClaim,
  design: "v1" | "v2" = "v1",
): Promise<"confirmed" | "absent" | "unknown"> {
  const receipt = await provider.getTransactionReceipt(claim.txHash);
  if (receipt === null) return "unknown";
  const log = receipt.logs.find((entry) => entry.index === claim.logIndex);
  if (log === undefined || receipt.status !== 1) return "absent";
  const matched = design === "v1" ? v1Match(log, contractAddress) : v2Match(log, contractAddress);
  return matched !== null && sameAddress(matched.buyBidder, claim.buyId) && sameAddress(matched.sellBidder, claim.sellId) ? "confirmed" : "absent";
}

type Log = { address: string; topics: readonly string[]; data: string };

function v1Match(log: Log, contractAddress: string): { buyBidder: string; sellBidder: string } | null {
  const [event] = decodeMarketEvents([log], contractAddress);
  return event?.type === "Matched" ? event : null;
}

let slotMarketInterface: Interface | undefined;

/** The slot market's `Matched(slot, buyBidder, sellBidder, …)` (contracts/src/v2/SlotMarket.sol). */
function v2Match(log: Log, contractAddress: string): { buyBidder: string; sellBidder: string } | null {
  if (!sameAddress(log.address, contractAddress)) return null;
  slotMarketInterface ??= new Interface(loadArtifact("SlotMarket").abi);
  const parsed = slotMarketInterface.parseLog({ topics: [...log.topics], data: log.data });
  return parsed?.name === "Matched" ? { buyBidder: String(parsed.args.buyBidder), sellBidder: String(parsed.args.sellBidder) } : null;
}
