// The market demo: NATS, a chain, the DSO, the gateway and N prosumer meters in one process, round by round.
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { keccak256, toUtf8Bytes, Wallet } from "ethers";
import { parseMachineConfig, type MachineConfigInput } from "../../machines/config.ts";
import type { MasterSecretKey } from "../../protocol/fhipe/fhipe.ts";
import { startDsoRuntime, type DsoRuntime } from "../dso/runtime.ts";
import { MarketNotSettledError } from "./errors.ts";
import { startGatewayRuntime, type GatewayRuntime } from "../gateway/runtime.ts";
import { buildProfiles, bidsOfRound, type MeterProfile } from "../meter/profiles.ts";
import type { MeterFaults } from "../meter/bidEffects.ts";
import { startMeterRuntime, type MeterRuntime } from "../meter/runtime.ts";
import { parseMarketConfig } from "../../protocol/marketConfig.ts";
import { latencyByStage, type StageLatency } from "../telemetry/latency.ts";
import { createLogger } from "../telemetry/logger.ts";
import { readSpanFile } from "../telemetry/readSpans.ts";
import { spanFilePath } from "../telemetry/telemetry.ts";
import { demoBills, startDemoInfra, type DemoBill, type DemoInfra } from "./demoInfra.ts";
import { toAddress } from "../../protocol/base/hex.ts";

export type DemoOptions = {
  meters: number;
  rounds: number;
  levels: number;
  seed: number;
  /** Holds the span file, the DSO database and the gateway cursor; emptied at the start. */
  dataDir: string;
  natsUrl?: string | undefined;
  rpcUrl?: string | undefined;
  /** With `rpcUrl`: funded keys, [DSO, gateway] (else GRIDVEIL_DSO_KEY / GRIDVEIL_GATEWAY_KEY). */
  accountKeys?: readonly string[] | undefined;
  /** Market id (default: `demo-<random>`, so leftovers on an external NATS server never mix in). */
  marketId?: string | undefined;
  /** Fault injection per meter id (tests): a meter that never opens, or forges its opening. */
  meterFaults?: Readonly<Record<string, MeterFaults>>;
  /** Copies of each JetStream stream (3 on a 3-node NATS cluster, `natsUrl` listing its servers). */
  streamReplicas?: number;
  /** Machine settings over the demo's defaults (tests shorten timeouts). */
  machineConfig?: MachineConfigInput;
  /** Largest time to wait for one round, and for the market to become quiet at the end. */
  roundTimeoutMs?: number;
  onProgress?: (progress: DemoProgress) => void;
  /** Every trade that ended, as the DSO reports it (benchmarks time them). */
  onTradeEnded?: (trade: { tradeId: string; startedAt: number; endedAt: number; outcome: "settled" | "voided" | "disputed" }) => void;
};

export type DemoProgress = {
  phase: "starting" | "enrolling" | "trading" | "finishing" | "stopping";
  round: number;
  rounds: number;
  submitted: number;
  placed: number;
  matches: number;
  settled: number;
  voided: number;
};

export type { DemoBill } from "./demoInfra.ts";

export type DemoSummary = {
  marketId: string;
  contractAddress: string;
  meters: number;
  rounds: number;
  levels: number;
  seed: number;
  bids: number;
  matches: number;
  tradesSettled: number;
  voided: number;
  disputed: number;
  energyWh: number;
  ledgerBalanced: boolean;
  bills: DemoBill[];
  latencyMs: Record<string, StageLatency>;
  gasUsed: string;
  transactions: number;
  durationMs: number;
  sampleTradeId: string | null;
  dataDir: string;
};

/** Spans summarised in the demo's latency table, in protocol order. */
export const DEMO_STAGES = [
  "meter.ticket",
  "meter.encrypt",
  "meter.submit",
  "gateway.batch",
  "chain.tx",
  "meter.opening",
  "dso.verify",
  "meter.verify",
  "dso.settlement",
  "dso.trade",
  "meter.bid",
];

/** The demo market's machine settings: many bids per meter at once, bids that live through the whole run. */
const DEMO_MACHINE_CONFIG: MachineConfigInput = {
  meter: { maxConcurrentBids: 16, bidLifetimeSeconds: 900, deliveryDurationMs: 200 },
  dso: { disputeWindowMs: 500 },
  gateway: { batchMaxDelayMs: 50 },
};

/** A meter's long-term key, derived from the seed so that runs are reproducible. */
export function demoMeterKey(seed: number, index: number): string {
  return keccak256(toUtf8Bytes(`gridveil demo meter ${seed} ${index}`));
}

export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const started = performance.now();
  const roundTimeoutMs = options.roundTimeoutMs ?? 60_000;
  const profiles = buildProfiles({ meters: options.meters, rounds: options.rounds, levels: options.levels, seed: options.seed });
  const progress: DemoProgress = { phase: "starting", round: 0, rounds: options.rounds, submitted: 0, placed: 0, matches: 0, settled: 0, voided: 0 };
  const report = () => options.onProgress?.({ ...progress });

  resetDataDir(options.dataDir);
  let infra: DemoInfra | undefined;
  let dso: DsoRuntime | undefined;
  let gateway: GatewayRuntime | undefined;
  const meters: MeterRuntime[] = [];
  try {
    report();
    infra = await startDemoInfra(options);
    const { rpcUrl, accountKeys } = infra;
    const nats = { url: infra.natsUrl };
    const telemetry = infra.tracer;
    const marketId = options.marketId ?? `demo-${randomBytes(3).toString("hex")}`;
    const config = parseMachineConfig(mergeConfig(DEMO_MACHINE_CONFIG, options.machineConfig ?? {}));
    const market = parseMarketConfig({ priceLevels: { count: options.levels } });
    const attributes = { "gridveil.market.id": marketId };

    // What every party of the demo shares: the market, the server, the chain, its own folder, spans and log.
    const basics = (party: "dso" | "gateway") => ({
      marketId,
      natsUrl: nats.url,
      rpcUrl,
      dataDir: join(options.dataDir, party),
      tracer: telemetry(`gridveil-${party}`, attributes),
      logger: createLogger({ actor: party, market: marketId }, "warn"),
      config,
    });
    dso = await startDsoRuntime({
      ...basics("dso"),
      dsoPrivateKey: accountKeys[0]!,
      market,
      ...(options.streamReplicas === undefined ? {} : { streams: { replicas: options.streamReplicas } }),
      registry: profiles.map((profile, index) => ({
        meterId: profile.meterId,
        name: profile.name,
        address: new Wallet(demoMeterKey(options.seed, index)).address as `0x${string}`,
      })),
    });
    dso.events.on("trade.settled", (event) => {
      progress.settled += 1;
      options.onTradeEnded?.({ tradeId: event.tradeId, startedAt: event.startedAt, endedAt: event.endedAt, outcome: "settled" });
      report();
    });
    dso.events.on("trade.voided", (event) => {
      progress.voided += 1;
      options.onTradeEnded?.({ tradeId: event.tradeId, startedAt: event.startedAt, endedAt: event.endedAt, outcome: "voided" });
      report();
    });
    dso.events.on("trade.disputed", (event) => {
      options.onTradeEnded?.({ tradeId: event.tradeId, startedAt: event.startedAt, endedAt: event.endedAt, outcome: "disputed" });
    });
    gateway = await startGatewayRuntime({ ...basics("gateway"), gatewayPrivateKey: accountKeys[1]!, contractAddress: dso.market.contractAddress });
    const placed = new Set<string>();
    gateway.events.on("notice", (notice) => {
      if (notice.duplicate) return;
      if (notice.kind === "placed" && notice.bidder) placed.add(toAddress(notice.bidder));
      if (notice.kind === "match") progress.matches += 1;
      progress.placed = placed.size;
      report();
    });

    progress.phase = "enrolling";
    report();
    // Meters in one process share the decoded master key and its fixed-base tables.
    const masterKeyCache = new Map<string, MasterSecretKey>();
    for (const [index, profile] of profiles.entries()) {
      const meter = await startMeterRuntime({
        marketId,
        natsUrl: nats.url,
        rpcUrl,
        meterId: profile.meterId,
        meterPrivateKey: demoMeterKey(options.seed, index),
        // Provisioned with the DSO's address: the meter seals its enrolment only to that key (no trust on first use).
        dsoAddress: dso.dso.address,
        name: profile.name,
        faults: options.meterFaults?.[profile.meterId],
        masterKeyCache,
        // No permanent id in the spans (PROTOCOL §1): a collector must not link a meter to its one-time ids.
        tracer: telemetry("gridveil-meter", attributes),
        logger: createLogger({ actor: `meter:${profile.meterId}`, market: marketId }, "warn"),
        config,
      });
      meter.events.on("submitted", () => {
        progress.submitted += 1;
        report();
      });
      meters.push(meter);
    }
    await Promise.all(meters.map((meter) => meter.enrolled));

    progress.phase = "trading";
    const byId = new Map(meters.map((meter) => [meter.meterId, meter]));
    for (let round = 0; round < options.rounds; round++) {
      progress.round = round + 1;
      report();
      const batch = bidsOfRound(profiles, round);
      for (const { meterId, bid } of batch) {
        const { round: _round, ...planned } = bid;
        byId.get(meterId)!.plan([planned]);
      }
      // A round is done when every session is resting on the book (placed, unmatched) or has ended.
      await waitFor(() => quiet(meters, placed, dso!), roundTimeoutMs, round + 1);
    }
    progress.phase = "finishing";
    report();
    await waitFor(() => quiet(meters, placed, dso!) && dso!.counters().tradesInFlight === 0, roundTimeoutMs);

    progress.phase = "stopping";
    report();
    // Meters first: their stop cancels the bids still resting on the book.
    await Promise.all(meters.map((meter) => meter.stop()));
    const summary = summarise(options, profiles, dso, gateway, marketId, performance.now() - started);
    await gateway.stop();
    await dso.stop();
    await infra.shutdownTelemetry();
    summary.latencyMs = latencyByStage(readSpanFile(spanFilePath(options.dataDir)), DEMO_STAGES);
    return summary;
  } finally {
    await Promise.allSettled(meters.map((meter) => meter.stop()));
    await gateway?.stop().catch(() => {});
    await dso?.stop().catch(() => {});
    await infra?.close();
  }
}

/** Section-wise merge of two machine-config inputs (`meter`, `dso`, `gateway`, … objects merged one level deep). */
export function mergeConfig(base: MachineConfigInput, override: MachineConfigInput): MachineConfigInput {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    const current = merged[key];
    merged[key] =
      value && typeof value === "object" && !Array.isArray(value) && current && typeof current === "object"
        ? { ...(current as object), ...(value as object) }
        : value;
  }
  return merged as MachineConfigInput;
}

export function resetDataDir(dataDir: string): void {
  // Only what the demo itself writes: never the whole directory, which the user may have chosen.
  for (const entry of ["dso", "gateway", "spans.jsonl"]) rmSync(join(dataDir, entry), { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
}

/** Nothing is moving: no queued bids, every live session rests on the book, no trade is in flight at the DSO. */
function quiet(meters: readonly MeterRuntime[], placed: ReadonlySet<string>, dso: DsoRuntime): boolean {
  if (dso.counters().tradesInFlight > 0) return false;
  for (const meter of meters) {
    const snapshot = meter.actor.getSnapshot();
    if (snapshot.context.queue.length > 0) return false;
    const children = snapshot.children as Record<string, { getSnapshot(): { value: unknown; status: string } } | undefined>;
    for (const session of Object.values(snapshot.context.sessions)) {
      const child = children[session.sessionId]?.getSnapshot();
      if (!child || child.status !== "active") continue;
      const resting =
        typeof child.value === "object" &&
        child.value !== null &&
        (child.value as Record<string, unknown>).onChain === "awaitingMatch" &&
        session.bidder !== null &&
        placed.has(toAddress(session.bidder));
      if (!resting) return false;
    }
  }
  return true;
}

/** Waits until `condition` holds twice in a row; `round` names the round waited for (none: the last trades). */
export async function waitFor(condition: () => boolean, timeoutMs: number, round?: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // Two consecutive quiet checks: a settlement can queue a re-bid right after the first.
  let quietChecks = 0;
  while (quietChecks < 2) {
    if (Date.now() > deadline) {
      throw new MarketNotSettledError({ round, timeoutMs });
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
    quietChecks = condition() ? quietChecks + 1 : 0;
  }
}

function summarise(
  options: DemoOptions,
  profiles: readonly MeterProfile[],
  dso: DsoRuntime,
  gateway: GatewayRuntime,
  marketId: string,
  durationMs: number,
): DemoSummary {
  const db = dso.db;
  const settled = db.listTrades({ stage: "settled" });
  const voided = db.listTrades({ stage: "voided" });
  const disputed = db.listTrades({ stage: "disputed" });
  const all = db.listTrades({});
  let energyWh = 0;
  for (const trade of settled) {
    const readings = db.readingsOf(trade.tradeId);
    const quantity = trade.terms?.quantityWh ?? 0;
    energyWh += Math.min(quantity, readings.sell?.energyWh ?? 0);
  }
  const bills = demoBills(db, profiles);
  const counters = gateway.counters();
  return {
    marketId,
    contractAddress: dso.market.contractAddress,
    meters: options.meters,
    rounds: options.rounds,
    levels: options.levels,
    seed: options.seed,
    bids: counters.bidsPlaced,
    matches: all.length,
    tradesSettled: settled.length,
    voided: voided.length,
    disputed: disputed.length,
    energyWh,
    ledgerBalanced: db.ledgerTotal() === 0 && db.unbalancedTrades().length === 0,
    bills,
    latencyMs: {},
    gasUsed: counters.gasUsed.toString(),
    transactions: counters.txs,
    durationMs: Math.round(durationMs),
    sampleTradeId: settled.at(-1)?.tradeId ?? null,
    dataDir: options.dataDir,
  };
}
