// The meter's connections once enrolled: NATS with its reply-inbox prefix, read-only chain access, the DSO's identity.
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { JsonRpcProvider } from "ethers";
import type { MarketHandle } from "../../contracts/client/index.ts";
import type { SlotMarketHandle } from "../../contracts/client/v2/slotMarket.ts";
import { BidSessionStateError } from "./errors.ts";
import { type Address, type Hex } from "../../protocol/base/hex.ts";
import { type MarketDescription } from "../../protocol/domain.ts";

export type MeterLink = {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** Opaque id the DSO assigned; the meter's NATS subtree `gridveil.<market>.meter.<inbox>.>`. */
  inboxId: string;
  market: MarketDescription;
  /** Version 1: the market contract through a read-only provider (PROTOCOL §5 trading, step 4: verify the counterpart). */
  chain: MarketHandle | null;
  /** Version 2: the slot market, read-only (the counterpart's commitment and root, the cancel's EIP-712 domain). */
  slotMarket: SlotMarketHandle | null;
  provider: JsonRpcProvider;
  dso: { address: Address; publicKey: Hex };
};

/** The version 1 market contract (throws in a version 2 market). */
export function v1ChainOf(link: MeterLink): MarketHandle {
  if (link.chain === null) throw new BidSessionStateError({ reason: "otherDesign", value: link.market.contractAddress });
  return link.chain;
}

/** The version 2 slot market (throws in a version 1 market). */
export function slotMarketOf(link: MeterLink): SlotMarketHandle {
  if (link.slotMarket === null) throw new BidSessionStateError({ reason: "otherDesign", value: link.market.contractAddress });
  return link.slotMarket;
}
