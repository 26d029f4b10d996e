// Cancels an open bid with its one-time key's signature; anyone (the gateway) may relay it (PROTOCOL §5).
import type { ContractTransactionReceipt, Overrides, Signer } from "ethers";
import { decodeMarketEvents, type MarketEvent } from "./decodeMarketEvents.ts";
import { CANCEL_TYPES } from "./eip712.ts";
import { withMarketErrors } from "./errors.ts";
import { waitForReceipt } from "./receipt.ts";
import type { MarketHandle } from "./market.ts";
import type { MarketDomain } from "./types.ts";
import { type Hex } from "../../protocol/base/hex.ts";

/** The one-time key signs `Cancel(address bidder)` with its own address; it needs no bid id. */
export async function signCancel(oneTimeKey: Signer, domain: MarketDomain): Promise<Hex> {
  return (await oneTimeKey.signTypedData(domain, CANCEL_TYPES, { bidder: await oneTimeKey.getAddress() })) as Hex;
}

export async function cancelBid(
  market: MarketHandle,
  bidId: bigint,
  signature: Hex,
  overrides: Overrides = {},
): Promise<{ events: MarketEvent[]; receipt: ContractTransactionReceipt }> {
  return withMarketErrors("cancelBid", async () => {
    const tx = await market.contract.cancelBid(bidId, signature, overrides);
    const receipt = await waitForReceipt(tx);
    return { events: decodeMarketEvents(receipt.logs, market.address), receipt };
  });
}
