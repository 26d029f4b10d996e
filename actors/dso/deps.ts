// What the DSO runtime's effects and handlers share: adapters, configuration and the runtime's own mutable state.
import type { Tracer } from "@opentelemetry/api";
import type { JsonRpcProvider, Wallet } from "ethers";
import type { MarketHandle } from "../../contracts/client/index.ts";
import type { SlotMarketHandle } from "../../contracts/client/v2/slotMarket.ts";
import type { BlockParams } from "../../protocol/encoding/blockTokens.ts";
import type { EpochCalendar } from "../../protocol/epochs.ts";
import type { Clock } from "../runtime/clock.ts";
import type { Certifier } from "./certifier.ts";
import type { EpochKeyVault } from "./epochKeys.ts";
import type { MachineConfig } from "../../machines/config.ts";
import type { MasterSecretKey } from "../../protocol/fhipe/fhipe.ts";
import type { DsoDatabase, MeterRecord } from "../db/dsoDatabase.ts";
import type { NatsClients } from "../nats/connect.ts";
import type { MarketConfig } from "../../protocol/marketConfig.ts";
import type { CertifyRequest, EnrolRequest, MatchEvent } from "../../protocol/wire/schemas.ts";
import type { MarketSubjects, StreamNames } from "../../protocol/wire/subjects.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { MeterRegistry } from "./registry.ts";
import type { TradeSpans } from "./tradeSpans.ts";
import { DsoNotReadyError } from "./errors.ts";
import { type MarketDescription as WireMarketDescription, type SideCode, type SlotMarketDescription } from "../../protocol/domain.ts";

/** Per-runtime state filled in during setup and by requests (never process-global: many runtimes per process). */
export type DsoState = {
  msk: MasterSecretKey | null;
  contract: MarketHandle | null;
  /** What `s.dso.market` and enrolment replies publish. */
  description: WireMarketDescription | null;
  /** Authenticated enrolment requests, by meter id, until their msk is sealed. */
  enrolments: Map<string, EnrolRequest>;
  /** Ticket requests by lower-case bidder: the side (for the one-time id record) and the fixed expiry. */
  ticketRequests: Map<string, { side: SideCode; notAfter?: number }>;
  /** Match events by trade id (the machine's Match has no block or log position; the database wants them). */
  matchEvents: Map<string, MatchEvent>;
  /** Version 2: the slot market, once deployed or attached, and the certifier that signs its tickets. */
  slotContract: SlotMarketHandle | null;
  certifier: Certifier | null;
  /** Version 2: authenticated certify requests by lower-case bidder, until certified (or refused: the certifier's error). */
  certifyRequests: Map<string, { request: CertifyRequest; refusal?: Error }>;
};

/** What a version 2 DSO runs with besides version 1's (PROTOCOL §3.2, §5 v2). */
export type SlotMarketDeps = {
  slots: SlotMarketDescription;
  params: BlockParams;
  calendar: EpochCalendar;
  vault: EpochKeyVault;
};

export type DsoDeps = {
  marketId: string;
  subjects: MarketSubjects;
  streams: StreamNames;
  db: DsoDatabase;
  /** The DSO's key: deployer, ticket signer, sender of sealed messages. Connected to `provider`. */
  wallet: Wallet;
  provider: JsonRpcProvider;
  nats: NatsClients;
  registry: MeterRegistry;
  market: MarketConfig;
  config: MachineConfig;
  dataDir: string;
  contractAddress: string | undefined;
  tracer: Tracer;
  logger: Logger;
  spans: TradeSpans;
  state: DsoState;
  /** The market's clock: epochs, gate closures, ticket lifetimes and slot ends are judged by it. */
  clock: Clock;
  /** Version 2's encoding, calendar and epoch keys; null: version 1. */
  slotMarket: SlotMarketDeps | null;
};

export function requireContract(deps: DsoDeps): MarketHandle {
  if (!deps.state.contract) throw new DsoNotReadyError({ reason: "contract" });
  return deps.state.contract;
}

/** The market contract's address, whichever version runs. */
export function contractAddressOf(deps: DsoDeps): string {
  const address = deps.state.contract?.address ?? deps.state.slotContract?.address;
  if (address === undefined) throw new DsoNotReadyError({ reason: "contract" });
  return address;
}

/** Version 2's parts, once the slot market is attached. */
export function requireSlotMarket(deps: DsoDeps): SlotMarketDeps & { contract: SlotMarketHandle; certifier: Certifier } {
  if (deps.slotMarket === null) throw new DsoNotReadyError({ reason: "slotMarket" });
  const { slotContract: contract, certifier } = deps.state;
  if (contract === null || certifier === null) throw new DsoNotReadyError({ reason: "contract" });
  return { ...deps.slotMarket, contract, certifier };
}

/** The market clock's now, in whole Unix seconds (what tickets and the calendar count in). */
export function nowSeconds(deps: Pick<DsoDeps, "clock">): number {
  return Math.floor(deps.clock.now());
}

export function requireMsk(deps: DsoDeps): MasterSecretKey {
  if (!deps.state.msk) throw new DsoNotReadyError({ reason: "masterKey" });
  return deps.state.msk;
}

/** The enrolled meter that holds a one-time id (the DSO's private link, PROTOCOL §4). */
export function meterOfBidder(deps: DsoDeps, bidder: string): MeterRecord | undefined {
  const pair = deps.db.lookupOneTimeId(bidder);
  return pair ? deps.db.getMeter(pair.meterId) : undefined;
}
