// The version 2 demo: a day of delivery slots in compressed time (PROTOCOL §5 v2). NATS, a chain kept on the market's
// clock, the DSO (key epochs, certified bids, hints), the gateway (slot placement) and N prosumer meters in one
// process. The meters bid day-ahead for every slot of the day; the clock then runs the day, slot by slot: matches
// trade at once, deliveries end with their slot, readings and settlements follow, unmatched bids expire at gate closure.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { JsonRpcProvider, Wallet } from "ethers";
import { parseMachineConfig, type MachineConfigInput } from "../../machines/config.ts";
import { parseMarketConfig } from "../../protocol/marketConfig.ts";
import { toAddress } from "../../protocol/base/hex.ts";
import { driveChainClock, type ChainClockDriver } from "../chain/chainClock.ts";
import { dayDemoDefaults } from "../config/tools.ts";
import { startDsoRuntime, type DsoRuntime } from "../dso/runtime.ts";
import { startGatewayRuntime, type GatewayRuntime } from "../gateway/runtime.ts";
import { buildDayPlans } from "../meter/profiles.ts";
import { gateClosureOf } from "../../protocol/book/slotBooks.ts";
import { startMeterRuntime, type MeterRuntime } from "../meter/runtime.ts";
import { compressedClock } from "../runtime/clock.ts";
import { latencyByStage, type StageLatency } from "../telemetry/latency.ts";
import { createLogger } from "../telemetry/logger.ts";
import { readSpanFile } from "../telemetry/readSpans.ts";
import { spanFilePath } from "../telemetry/telemetry.ts";
import { demoBills, startDemoInfra, type DemoBill, type DemoInfra } from "./demoInfra.ts";
import { DayDemoSettingError } from "./errors.ts";
import { demoMeterKey, mergeConfig, resetDataDir, waitFor } from "./runDemo.ts";

export type DayDemoOptions = {
  meters: number;
  /** Slots of the day (it is cut into this many; 96 = 15 minutes). Must divide 86,400 s into whole seconds. */
  slots: number;
  levels: number;
  width: number;
  encryptAt: "dso" | "meter";
  seed: number;
  dataDir: string;
  /** Wall seconds the day takes once bidding is over, and of the day-ahead bidding before it. */
  daySeconds?: number;
  biddingSeconds?: number;
  natsUrl?: string | undefined;
  rpcUrl?: string | undefined;
  accountKeys?: readonly string[] | undefined;
  marketId?: string | undefined;
  machineConfig?: MachineConfigInput;
  timeoutMs?: number;
  onProgress?: (progress: DayProgress) => void;
};

export type DayProgress = {
  phase: "starting" | "enrolling" | "bidding" | "delivering" | "finishing" | "stopping";
  /** The slot the market's clock is in (0-based within the day; -1 before the day). */
  slot: number;
  slots: number;
  submitted: number;
  placed: number;
  matches: number;
  settled: number;
};

export type SlotSummary = { slot: number; hour: string; bids: number; matches: number; settled: number; energyWh: number; meanPriceMicroPerKWh: number | null };

export type DaySummary = {
  design: "v2";
  marketId: string;
  contractAddress: string;
  meters: number;
  slots: number;
  levels: number;
  width: number;
  encryptAt: "dso" | "meter";
  seed: number;
  day: string;
  bids: number;
  matches: number;
  tradesSettled: number;
  voided: number;
  disputed: number;
  expired: number;
  energyWh: number;
  ledgerBalanced: boolean;
  perSlot: SlotSummary[];
  bills: DemoBill[];
  latencyMs: Record<string, StageLatency>;
  gasUsed: string;
  transactions: number;
  durationMs: number;
  sampleTradeId: string | null;
  dataDir: string;
};

/** Spans of the day's latency table, in protocol order. */
export const DAY_STAGES = ["meter.certify", "dso.certify", "meter.submit", "gateway.batch", "chain.tx", "meter.match", "meter.verify", "dso.settlement", "dso.trade", "meter.bid"];

const DAY_SECONDS = 86_400;

/** Machine settings of the day: every slot's bid at once per meter, sessions living until their slot ends. */
const DAY_MACHINE_CONFIG: MachineConfigInput = {
  meter: { maxConcurrentBids: 1_000, maxAttemptsPerPlan: 8, settlementTimeoutMs: 60_000 },
  // A ticket may live until its slot's gate closure (the certifier caps it there): bids are planned hours ahead.
  dso: { disputeWindowMs: 200, maxTicketLifetimeSeconds: 2 * DAY_SECONDS },
  gateway: { batchMaxDelayMs: 50 },
};


export function checkDayOptions(options: Pick<DayDemoOptions, "slots" | "daySeconds" | "biddingSeconds">): { slotSeconds: number } {
  if (!Number.isSafeInteger(options.slots) || options.slots < 1 || DAY_SECONDS % options.slots !== 0)
    throw new DayDemoSettingError({ setting: "--slots", value: options.slots, expected: "a number of slots that divides the day into whole seconds (96, 48, 24, …)" });
  const slotSeconds = DAY_SECONDS / options.slots;
  if (slotSeconds <= dayDemoDefaults.gateClosureSeconds)
    throw new DayDemoSettingError({ setting: "--slots", value: options.slots, expected: `slots longer than the ${dayDemoDefaults.gateClosureSeconds} s gate-closure lead (fewer than ${DAY_SECONDS / dayDemoDefaults.gateClosureSeconds} a day)` });
  for (const [setting, value] of [["daySeconds", options.daySeconds], ["biddingSeconds", options.biddingSeconds]] as const)
    if (value !== undefined && !(Number.isFinite(value) && value > 0)) throw new DayDemoSettingError({ setting, value, expected: "a positive number of seconds" });
  return { slotSeconds };
}

export async function runDay(options: DayDemoOptions): Promise<DaySummary> {
  const started = performance.now();
  const { slotSeconds } = checkDayOptions(options);
  const daySeconds = options.daySeconds ?? dayDemoDefaults.daySeconds;
  const biddingSeconds = options.biddingSeconds ?? dayDemoDefaults.biddingSeconds;
  const timeoutMs = options.timeoutMs ?? dayDemoDefaults.timeoutMs;
  // The day after tomorrow (UTC): the chain can always be moved forward to it, never back.
  const day = Math.floor(Date.now() / 1000 / DAY_SECONDS) + 2;
  const dayStart = day * DAY_SECONDS;
  const speed = DAY_SECONDS / daySeconds;
  const firstSlot = dayStart / slotSeconds;
  const calendar = { slotSeconds, gateClosureSeconds: dayDemoDefaults.gateClosureSeconds };
  const plans = buildDayPlans({ meters: options.meters, levels: options.levels, seed: options.seed, day, slotsPerDay: options.slots });
  const progress: DayProgress = { phase: "starting", slot: -1, slots: options.slots, submitted: 0, placed: 0, matches: 0, settled: 0 };
  const report = () => options.onProgress?.({ ...progress });

  resetDataDir(options.dataDir);
  const cleanups: (() => Promise<void>)[] = [];
  let infra: DemoInfra | undefined;
  let dso: DsoRuntime | undefined;
  let gateway: GatewayRuntime | undefined;
  let driver: ChainClockDriver | undefined;
  const meters: MeterRuntime[] = [];
  try {
    report();
    infra = await startDemoInfra(options);
    const { rpcUrl, accountKeys } = infra;
    const nats = { url: infra.natsUrl };
    const telemetry = infra.tracer;
    // Market time starts the bidding window before the first slot's gate closure and runs `speed` times the wall.
    // It holds while the parties start and enrol, and runs from the first bid on.
    const clock = compressedClock({ start: dayStart - dayDemoDefaults.gateClosureSeconds - biddingSeconds * speed, speed });
    const provider = new JsonRpcProvider(rpcUrl, undefined, { staticNetwork: true });
    cleanups.push(async () => provider.destroy());
    driver = driveChainClock(provider, clock, { intervalMs: Math.max(20, Math.min(250, (slotSeconds * 1000) / speed / 4)) });
    await driver.sync();

    const marketId = options.marketId ?? `day-${randomBytes(3).toString("hex")}`;
    const config = parseMachineConfig(mergeConfig(DAY_MACHINE_CONFIG, options.machineConfig ?? {}));
    const market = parseMarketConfig({
      priceLevels: { count: options.levels, firstPriceMicroPerKWh: dayDemoDefaults.firstPriceMicroPerKWh, stepMicroPerKWh: dayDemoDefaults.stepMicroPerKWh },
    });
    const attributes = { "gridveil.market.id": marketId };
    const basics = (party: "dso" | "gateway") => ({
      marketId,
      natsUrl: nats.url,
      rpcUrl,
      dataDir: join(options.dataDir, party),
      tracer: telemetry(`gridveil-${party}`, attributes),
      logger: createLogger({ actor: party, market: marketId }, "warn"),
      config,
      clock,
    });
    dso = await startDsoRuntime({
      ...basics("dso"),
      dsoPrivateKey: accountKeys[0]!,
      market,
      design: "v2",
      width: options.width,
      encryptAt: options.encryptAt,
      slotSeconds,
      gateClosureSeconds: dayDemoDefaults.gateClosureSeconds,
      epochSlots: options.slots,
      registry: plans.map((plan, index) => ({ meterId: plan.meterId, name: plan.name, address: new Wallet(demoMeterKey(options.seed, index)).address as `0x${string}` })),
    });
    dso.events.on("trade.settled", () => {
      progress.settled += 1;
      report();
    });
    gateway = await startGatewayRuntime({ ...basics("gateway"), gatewayPrivateKey: accountKeys[1]!, market: dso.market, countCompares: false });
    const placed = new Set<string>();
    let expired = 0;
    gateway.events.on("notice", (notice) => {
      if (notice.duplicate) return;
      if (notice.kind === "expired") expired += 1;
      if (notice.kind === "placed" && notice.bidder) placed.add(toAddress(notice.bidder));
      if (notice.kind === "match") progress.matches += 1;
      progress.placed = placed.size;
      report();
    });

    progress.phase = "enrolling";
    report();
    for (const [index, plan] of plans.entries()) {
      const meter = await startMeterRuntime({
        marketId,
        natsUrl: nats.url,
        rpcUrl,
        meterId: plan.meterId,
        meterPrivateKey: demoMeterKey(options.seed, index),
        dsoAddress: dso.dso.address,
        name: plan.name,
        tracer: telemetry("gridveil-meter", attributes),
        logger: createLogger({ actor: `meter:${plan.meterId}`, market: marketId }, "warn"),
        config,
        clock,
      });
      meter.events.on("submitted", () => {
        progress.submitted += 1;
        report();
      });
      meters.push(meter);
    }
    await Promise.all(meters.map((meter) => meter.enrolled));

    // Each slot's bids are planned `planLeadSeconds` before its gate closure: the night's slots ahead of the day,
    // the rest intraday (PROTOCOL §5 v2: any open slot takes bids until its gate closure).
    progress.phase = "bidding";
    report();
    clock.run();
    const pending = plans
      .flatMap((plan, index) => plan.bids.map(({ round: _round, ...bid }) => ({ meter: meters[index]!, bid, at: gateClosureOf(bid.slot, calendar) - dayDemoDefaults.planLeadSeconds })))
      .sort((a, b) => a.at - b.at);
    const planDue = () => {
      const now = clock.now();
      while (pending.length > 0 && pending[0]!.at <= now) {
        const { meter, bid } = pending.shift()!;
        meter.plan([bid]);
      }
    };
    planDue();
    const planner = setInterval(planDue, 50);
    cleanups.push(async () => clearInterval(planner));

    const dayEnd = dayStart + DAY_SECONDS;
    const ticker = setInterval(() => {
      const now = clock.now();
      const slot = Math.min(Math.floor(now / slotSeconds) - firstSlot, options.slots);
      if (now >= dayStart - dayDemoDefaults.gateClosureSeconds && progress.phase === "bidding") progress.phase = "delivering";
      if (slot !== progress.slot) {
        progress.slot = slot;
        report();
      }
    }, 100);
    cleanups.push(async () => clearInterval(ticker));
    // The day runs to its end; then the last slot's readings and settlements come in.
    await new Promise((resolve) => setTimeout(resolve, clock.msUntil(dayEnd)));
    progress.phase = "finishing";
    report();
    await waitFor(() => meters.every((meter) => meter.idle()) && dso!.counters().tradesInFlight === 0, Math.max(10_000, timeoutMs - (performance.now() - started)));

    progress.phase = "stopping";
    report();
    await Promise.all(meters.map((meter) => meter.stop()));
    const summary = summariseDay({ options, plans, dso, gateway, marketId, day, slotSeconds, firstSlot, durationMs: performance.now() - started, expired });
    await driver.stop();
    await gateway.stop();
    await dso.stop();
    await infra.shutdownTelemetry();
    summary.latencyMs = latencyByStage(readSpanFile(spanFilePath(options.dataDir)), DAY_STAGES);
    return summary;
  } finally {
    await Promise.allSettled(meters.map((meter) => meter.stop()));
    await driver?.stop().catch(() => {});
    await gateway?.stop().catch(() => {});
    await dso?.stop().catch(() => {});
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    await infra?.close();
  }
}

function summariseDay(args: {
  options: DayDemoOptions;
  plans: ReturnType<typeof buildDayPlans>;
  dso: DsoRuntime;
  gateway: GatewayRuntime;
  marketId: string;
  day: number;
  slotSeconds: number;
  firstSlot: number;
  durationMs: number;
  expired: number;
}): DaySummary {
  const { options, plans, dso, gateway, firstSlot, slotSeconds } = args;
  const db = dso.db;
  const settled = db.listTrades({ stage: "settled" });
  const perSlot = new Map<number, SlotSummary>();
  const slotOf = (index: number): SlotSummary => {
    let entry = perSlot.get(index);
    if (entry === undefined) {
      const minutes = Math.round((index * slotSeconds) / 60);
      entry = { slot: index, hour: `${String(Math.floor(minutes / 60)).padStart(2, "0")}:${String(minutes % 60).padStart(2, "0")}`, bids: 0, matches: 0, settled: 0, energyWh: 0, meanPriceMicroPerKWh: null };
      perSlot.set(index, entry);
    }
    return entry;
  };
  for (let index = 0; index < options.slots; index++) {
    const entry = slotOf(index);
    entry.bids = db.certifiedBidsOfSlot(firstSlot + index).length;
  }
  const priceSums = new Map<number, { micro: number; wh: number }>();
  let energyWh = 0;
  const all = db.listTrades({});
  for (const trade of all) {
    const slot = db.certifiedBid(trade.buyId)?.slot;
    if (slot === undefined) continue;
    const entry = slotOf(slot - firstSlot);
    entry.matches += 1;
    if (trade.stage !== "settled") continue;
    entry.settled += 1;
    const readings = db.readingsOf(trade.tradeId);
    const delivered = Math.min(trade.terms?.quantityWh ?? 0, readings.sell?.energyWh ?? 0);
    entry.energyWh += delivered;
    energyWh += delivered;
    const sum = priceSums.get(entry.slot) ?? { micro: 0, wh: 0 };
    sum.micro += (trade.terms?.priceMicroPerKWh ?? 0) * (trade.terms?.quantityWh ?? 0);
    sum.wh += trade.terms?.quantityWh ?? 0;
    priceSums.set(entry.slot, sum);
  }
  for (const [slot, sum] of priceSums) if (sum.wh > 0) slotOf(slot).meanPriceMicroPerKWh = Math.round(sum.micro / sum.wh);
  const counters = gateway.counters();
  return {
    design: "v2",
    marketId: args.marketId,
    contractAddress: dso.market.contractAddress,
    meters: options.meters,
    slots: options.slots,
    levels: options.levels,
    width: options.width,
    encryptAt: options.encryptAt,
    seed: options.seed,
    day: new Date(args.day * DAY_SECONDS * 1000).toISOString().slice(0, 10),
    bids: counters.bidsPlaced,
    matches: all.length,
    tradesSettled: settled.length,
    voided: db.listTrades({ stage: "voided" }).length,
    disputed: db.listTrades({ stage: "disputed" }).length,
    expired: args.expired,
    energyWh,
    ledgerBalanced: db.ledgerTotal() === 0 && db.unbalancedTrades().length === 0,
    perSlot: [...perSlot.values()].sort((a, b) => a.slot - b.slot),
    bills: demoBills(db, plans),
    latencyMs: {},
    gasUsed: counters.gasUsed.toString(),
    transactions: counters.txs,
    durationMs: Math.round(args.durationMs),
    sampleTradeId: settled.at(-1)?.tradeId ?? null,
    dataDir: options.dataDir,
  };
}
