// `gridveil bench throughput` end to end at a tiny size (real nats-server, EDR chain, DSO, gateway, meter, pairings),
// version 1 and version 2 in one run: the rows' shape, that every bid of every setup is placed exactly once, and that
// version 1 beyond its bound reports why instead of running. Never timed: the machine is shared.
import { Command, CommanderError } from "commander";
import { describe, expect, it } from "vitest";
import { benchBids, benchSlot, defaultBatchSize, designModes, runThroughputBench, SLOT_LEAD_SECONDS, type ThroughputRow } from "../../bench/throughput.ts";
import type { BenchProgress } from "../../bench/progress.ts";
import { throughputTargets } from "../../bench/throughputTargets.ts";
import { termsLatency } from "../../bench/throughputTerms.ts";
import { registerBenchThroughput, renderThroughputTable } from "../../actors/cli/commands/benchThroughput.ts";
import { gatewayDefaults } from "../../actors/config/gateway.ts";
import type { SpanRecord } from "../../actors/telemetry/spanRecord.ts";
import { ReferenceOrderBook } from "../../protocol/book/referenceOrderBook.ts";
import { SlotBooks } from "../../protocol/book/slotBooks.ts";

const BIDS = 12;
const SEED = 7;
/** Version 1 fits at 4 levels, not at 200 (d = 201 > 127); version 2 runs at both. */
const SMALL = 4;
const LARGE = 200;

describe("bench throughput", () => {
  it("runs both designs, each bid placed exactly once; version 1 beyond its bound says why and runs only the plaintext baseline", async () => {
    const progress: BenchProgress[] = [];
    const rows = await runThroughputBench({ levels: [SMALL, LARGE], bids: BIDS, meters: 2, seed: SEED, onProgress: (step) => progress.push(step) });
    expect(rows.map((row) => [row.design, row.levels])).toEqual([
      ["v1", SMALL],
      ["v2", SMALL],
      ["v1", LARGE],
      ["v2", LARGE],
    ]);
    const [v1Small, v2Small, v1Large, v2Large] = rows as [ThroughputRow, ThroughputRow, ThroughputRow, ThroughputRow];

    // Version 1: unary, encrypted by its meters; every setup where it fits.
    expect(v1Small).toMatchObject({ width: null, encryptAt: null, fits: true, reason: null, bids: BIDS, paperSingleMeterBidsPerS: null });
    expect(Object.keys(v1Small.modes).sort()).toEqual(["plaintext", "pregenerated", "singleMeter"]);
    const v1Matches = matchesOfV1(benchBids(BIDS, SMALL, SEED));
    for (const result of Object.values(v1Small.modes)) placedOnce(result!, v1Matches);
    expect(v1Small.modes.singleMeter!.stagesMs["meter.encrypt"]?.count).toBe(BIDS);
    // One meter waits for each placement: one transaction per bid.
    expect(v1Small.modes.singleMeter!.txs).toBe(BIDS);
    expect(v1Small.modes.pregenerated!.batchSize).toBe(defaultBatchSize(SMALL));
    expect(v1Small.modes.pregenerated!.payloadBytes).toBeGreaterThan(v1Small.modes.plaintext!.payloadBytes * 2);

    // Beyond its bound: the reason, no encrypted setup, the plaintext baseline still measured (in version 1's row).
    expect(v1Large).toMatchObject({ fits: false, singleMeterBidsPerS: null, pregeneratedBidsPerS: null, singleMeterLatencyP50Ms: null });
    expect(v1Large.reason).toMatch(/d = 201/);
    expect(Object.keys(v1Large.modes)).toEqual(["plaintext"]);
    placedOnce(v1Large.modes.plaintext!, matchesOfV1(benchBids(BIDS, LARGE, SEED + 1)));
    expect(v1Large.plaintextBidsPerS).toBe(v1Large.modes.plaintext!.bidsPerS);

    // Version 2: the DSO encrypts (w = 1 by default), no plaintext setup; certified bids placed once, matched as the
    // reference slot books match them in plan order.
    for (const [row, levels, seed] of [[v2Small, SMALL, SEED], [v2Large, LARGE, SEED + 1]] as const) {
      expect(row).toMatchObject({ design: "v2", width: 1, encryptAt: "dso", fits: true, reason: null, plaintextBidsPerS: null });
      expect(Object.keys(row.modes).sort()).toEqual(["pregenerated", "singleMeter"]);
      const matches = matchesOfV2(benchBids(BIDS, levels, seed));
      for (const result of Object.values(row.modes)) placedOnce(result!, matches);
      const single = row.modes.singleMeter!;
      expect(single.stagesMs["meter.certify"]?.count).toBe(BIDS);
      expect(single.stagesMs["meter.encrypt"]).toBeUndefined();
      expect(single.txs).toBe(BIDS);
      expect(row.modes.pregenerated!.batchSize).toBe(gatewayDefaults.slotTxMaxBids);
      expect(row.modes.pregenerated!.gateway.slots?.placer.txMaxBids).toBe(gatewayDefaults.slotTxMaxBids);
      expect(row.singleMeterLatencyP50Ms).toBe(single.bidLatencyMs!.p50);
      // Every match of the one meter: both of its sessions got their terms, after the receipt.
      expect(single.termsLatencyMs).toMatchObject({ trades: matches });
      expect(single.termsLatencyMs!.p50).toBeGreaterThan(0);
      expect(row.termsLatencyP50Ms).toBe(single.termsLatencyMs!.p50);
    }
    // The same bids, so about the same payload in both v2 setups (its submittedAt and bidder differ).
    expect(Math.abs(v2Small.modes.singleMeter!.payloadBytes - v2Small.modes.pregenerated!.payloadBytes)).toBeLessThan(BIDS * 100);

    expect(progress.at(-1)).toMatchObject({ completed: progress.at(-1)!.total });
    const table = renderThroughputTable(rows, { bids: BIDS, meters: 2, batch: undefined });
    const lines = table.split("\n");
    expect(lines[3]).toMatch(/^\s*4\s/);
    expect(lines[4]).toMatch(/^\s*200\s+does not fit\s+does not fit\s/);
    expect(table).toContain("plaintext");
    expect(table).toContain("v2 Matched→terms p50 ms");
  }, 300_000);
});

/** Each bid has one placement notice, the contract holds exactly the bench's bids, matches as the reference says. */
function placedOnce(result: NonNullable<ThroughputRow["modes"]["singleMeter"]>, expectedMatches: number): void {
  expect(result.bids).toBe(BIDS);
  expect(result.placed).toBe(BIDS);
  expect(result.placedNotices).toBe(BIDS);
  expect(result.onChainBids).toBe(BIDS);
  expect(result.matches).toBe(expectedMatches);
  expect(result.txs).toBeGreaterThanOrEqual(1);
  expect(result.txs).toBeLessThanOrEqual(BIDS);
  expect(result.bidsPerS).toBeGreaterThan(0);
  expect(result.payloadBytes).toBeGreaterThan(0);
  expect(result.onChainShare).toBeGreaterThan(0);
  expect(result.onChainShare).toBeLessThanOrEqual(1);
  expect(result.stagesMs["chain.tx"]?.count).toBe(result.txs);
  // The gateway's own count agrees: each bid placed once, none refused.
  expect(result.gateway).toMatchObject({ bidsPlaced: BIDS, rejected: 0, refused: 0 });
}

describe("bench throughput bids", () => {
  it("draws random sides and levels (some cross), or with `resting` bids that never match", () => {
    const random = benchBids(200, 10, 3);
    expect(random.every((bid) => bid.priceLevel >= 0 && bid.priceLevel < 10)).toBe(true);
    expect(matchesOfV1(random)).toBeGreaterThan(0);
    expect(benchBids(200, 10, 3)).toEqual(random);
    const resting = benchBids(200, 10, 3, true);
    expect(resting.filter((bid) => bid.side === 0).every((bid) => bid.priceLevel < 5)).toBe(true);
    expect(resting.filter((bid) => bid.side === 1).every((bid) => bid.priceLevel >= 5 && bid.priceLevel < 10)).toBe(true);
    expect(matchesOfV1(resting)).toBe(0);
  });

  it("puts version 2's bids in one slot hours ahead, and runs the plaintext baseline with version 1 only", () => {
    const calendar = { slotSeconds: 900, gateClosureSeconds: 300 };
    const now = 1_800_000_123;
    const slot = benchSlot(calendar, now);
    expect(slot * calendar.slotSeconds - calendar.gateClosureSeconds - now).toBeGreaterThan(SLOT_LEAD_SECONDS - calendar.slotSeconds - calendar.gateClosureSeconds);
    expect(designModes("v2", 1024, ["singleMeter", "pregenerated", "plaintext"])).toEqual(["singleMeter", "pregenerated"]);
    expect(designModes("v1", 50, ["singleMeter", "plaintext"])).toEqual(["singleMeter", "plaintext"]);
    expect(designModes("v1", 200, ["singleMeter", "pregenerated", "plaintext"])).toEqual(["plaintext"]);
    // Beyond the plaintext market's uint8 levels, nothing of version 1 runs.
    expect(designModes("v1", 1024, ["singleMeter", "pregenerated", "plaintext"])).toEqual([]);
  });
});

describe("Matched → both sessions hold their terms", () => {
  const span = (name: string, startMs: number, durationMs: number, attributes: SpanRecord["attributes"], events: SpanRecord["events"] = [], spanId = name + startMs): SpanRecord => ({
    service: "test",
    name,
    traceId: "t",
    spanId,
    parentSpanId: null,
    links: [],
    startMs,
    durationMs,
    attributes,
    events,
    status: "ok",
  });
  const terms = (tradeId: string, atMs: number, spanId: string) => span("meter.bid", atMs - 5, 10_000, {}, [{ name: "terms.received", offsetMs: 5, attributes: { "gridveil.trade.id": tradeId } }], spanId);

  it("runs from the receipt of the Matched transaction to the later session's terms, trades with one session left out", () => {
    const spans = [
      span("chain.tx", 1_000, 40, { "gridveil.tx.hash": "0xAA" }),
      span("gateway.match", 1_050, 10, { "gridveil.trade.id": "t1", "gridveil.tx.hash": "0xaa" }),
      span("dso.terms", 1_070, 5, { "gridveil.trade.id": "t1" }),
      span("dso.terms", 1_072, 6, { "gridveil.trade.id": "t1" }),
      terms("t1", 1_080, "buy"),
      terms("t1", 1_090, "sell"),
      // A second terms.received on the same session is not a second session.
      terms("t1", 1_200, "sell"),
      span("chain.tx", 2_000, 20, { "gridveil.tx.hash": "0xbb" }),
      span("gateway.match", 2_030, 1, { "gridveil.trade.id": "t2", "gridveil.tx.hash": "0xbb" }),
      terms("t2", 2_100, "only"),
    ];
    expect(termsLatency(spans)).toEqual({ trades: 1, p50: 50, p90: 50, max: 50, noticeP50: 20, termsSentP50: 38 });
    expect(termsLatency(spans.slice(7))).toBeNull();
  });
});

describe("version 2 targets", () => {
  it("judges the ratios and latencies of one run, and leaves out what it did not measure", () => {
    const row = (design: "v1" | "v2", levels: number, figures: Partial<ThroughputRow>) => ({ design, levels, ...figures }) as ThroughputRow;
    const targets = throughputTargets([
      row("v1", 10, { pregeneratedBidsPerS: 50 }),
      row("v2", 10, { pregeneratedBidsPerS: 120 }),
      row("v2", 1024, { pregeneratedBidsPerS: 140, singleMeterLatencyP50Ms: 35, termsLatencyP50Ms: 60 }),
    ]);
    expect(targets.map((target) => [target.measured, target.met])).toEqual([
      [2.8, false],
      [2.4, true],
      [null, null],
      [35, true],
      [60, false],
    ]);
  });
});

describe("gridveil bench throughput flags", () => {
  const parse = async (...args: string[]): Promise<unknown> => {
    const program = new Command().exitOverride().configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
    const bench = program.command("bench");
    registerBenchThroughput(bench);
    return program.parseAsync(["bench", "throughput", ...args], { from: "user" }).catch((error: unknown) => error);
  };

  it("refuses bad values with a usage error naming the flag, before anything runs", async () => {
    for (const [args, message] of [
      [["--width", "0"], /--width must be between 1 and 8/],
      [["--width", "5", "--levels", "10,1024"], /--width 5 does not fit n = 10/],
      [["--encrypt-at", "hsm"], /--encrypt-at must be dso or meter/],
      [["--designs", "v1,v3"], /--designs takes a comma-separated subset of v1,v2/],
      [["--slot-batch", "0"], /--slot-batch must be between/],
      [["--levels", "1025"], /--levels must be between 2 and 1024/],
    ] as const) {
      const error = await parse(...args);
      expect(error, args.join(" ")).toBeInstanceOf(CommanderError);
      expect(error).toMatchObject({ code: "commander.invalidArgument", message: expect.stringMatching(message) });
    }
  });
});

/** Matches of the plaintext reference order book (version 1's algorithm on clear levels), bids in plan order. */
function matchesOfV1(bids: readonly { side: 0 | 1; priceLevel: number }[]): number {
  const book = new ReferenceOrderBook();
  const now = Math.floor(Date.now() / 1000);
  return bids.filter((bid) => {
    const placed = book.place({ side: bid.side, priceLevel: bid.priceLevel, notAfter: now + 3_600 }, now);
    return placed.ok && placed.matchedWith !== undefined;
  }).length;
}

/** Matches of the reference slot books (version 2's price-time priority), bids in plan order in one open slot. */
function matchesOfV2(bids: readonly { side: 0 | 1; priceLevel: number }[]): number {
  const calendar = { slotSeconds: 900, gateClosureSeconds: 300 };
  const books = new SlotBooks(calendar);
  const now = Math.floor(Date.now() / 1000);
  const slot = benchSlot(calendar, now);
  return bids.filter((bid, index) => {
    const placed = books.place({ bidder: `0x${(index + 1).toString(16).padStart(40, "0")}`, side: bid.side === 0 ? "buy" : "sell", slot, level: bid.priceLevel, notAfter: now + 3_600 }, now);
    return placed.ok && placed.matchedWith !== null;
  }).length;
}
