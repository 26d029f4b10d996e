// Removes expired open bids from anywhere in the books (PROTOCOL §5: expired bids are never matched).
import type { ContractTransactionReceipt, Overrides } from "ethers";
import { decodeMarketEvents, type BidExpiredEvent } from "./decodeMarketEvents.ts";
import { withMarketErrors } from "./errors.ts";
import { waitForReceipt } from "./receipt.ts";
import type { MarketHandle } from "./market.ts";

export async function purgeExpired(
  market: MarketHandle,
  bidIds: readonly bigint[],
  overrides: Overrides = {},
): Promise<{ expired: BidExpiredEvent[]; receipt: ContractTransactionReceipt }> {
  return withMarketErrors("purgeExpired", async () => {
    const tx = await market.contract.purgeExpired([...bidIds], overrides);
    const receipt = await waitForReceipt(tx);
    const expired = decodeMarketEvents(receipt.logs, market.address).filter((event): event is BidExpiredEvent => event.type === "BidExpired");
    return { expired, receipt };
  });
}
