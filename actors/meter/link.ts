// The meter's connections once enrolled: NATS with its reply-inbox prefix, read-only chain access, the DSO's identity.
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { JsonRpcProvider } from "ethers";
import type { MarketHandle } from "../../contracts/client/index.ts";
import { type Address, type Hex } from "../../protocol/base/hex.ts";
import { type MarketDescription } from "../../protocol/domain.ts";

export type MeterLink = {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** Opaque id the DSO assigned; the meter's NATS subtree `gridveil.<market>.meter.<inbox>.>`. */
  inboxId: string;
  market: MarketDescription;
  /** The market contract through a read-only provider (PROTOCOL §5 trading, step 4: verify the counterpart). */
  chain: MarketHandle;
  provider: JsonRpcProvider;
  dso: { address: Address; publicKey: Hex };
};
