// End to end (PROTOCOL §5): the real DSO, gateway and meters over a real nats-server, on a real in-process chain, with
// real pairings and the DSO's real SQLite file; checks outcomes, the books, and what the chain and gateway saw.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ethers } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getMarketInterface, decodeMarketEvents, type MatchedEvent } from "../../contracts/client/index.ts";
import { startLocalChain, type LocalChain } from "../../actors/chain/localChain.ts";
import { openDsoDatabase, type DsoDatabase } from "../../actors/db/dsoDatabase.ts";
import { runDemo, type DemoSummary } from "../../actors/demo/runDemo.ts";
import { startNatsServer, type NatsServerHandle } from "../../actors/nats/server.ts";
import { readSpanFile } from "../../actors/telemetry/readSpans.ts";
import { spanFilePath } from "../../actors/telemetry/telemetry.ts";
import { tradeSpans } from "../../actors/trace/tradeSpans.ts";
import { execFileSync } from "node:child_process";

type Recorded = { subject: string; data: string };

/** Records every message of a market (what a wiretap on the NATS server would see), as text. */
async function recordMarket(url: string, marketId: string): Promise<{ messages: Recorded[]; close(): Promise<void> }> {
  const nc: NatsConnection = await connect({ servers: url, name: "e2e-recorder" });
  const messages: Recorded[] = [];
  const sub = nc.subscribe(`gridveil.${marketId}.>`);
  void (async () => {
    for await (const msg of sub) messages.push({ subject: msg.subject, data: new TextDecoder().decode(msg.data) });
  })();
  await nc.flush();
  return { messages, close: () => nc.drain() };
}

/** Every transaction input sent to the chain, decoded where it calls the market. */
async function chainInputs(rpcUrl: string): Promise<{ data: string; to: string | null }[]> {
  const provider = new ethers.JsonRpcProvider(rpcUrl);
  const latest = await provider.getBlockNumber();
  const inputs: { data: string; to: string | null }[] = [];
  for (let number = 0; number <= latest; number++) {
    const block = await provider.getBlock(number, true);
    for (const tx of block?.prefetchedTransactions ?? []) inputs.push({ data: tx.data, to: tx.to });
  }
  provider.destroy();
  return inputs;
}

async function matchedEvents(rpcUrl: string, contract: string): Promise<MatchedEvent[]> {
  const provider = new ethers.JsonRpcProvider(rpcUrl);
  const logs = await provider.getLogs({ address: contract, fromBlock: 0, toBlock: "latest" });
  provider.destroy();
  return decodeMarketEvents(logs, contract).filter((event): event is MatchedEvent => event.type === "Matched");
}

const utf8Hex = (text: string) => Buffer.from(text, "utf8").toString("hex");
const SECRET_FIELDS = /"(priceLevel|quantityWh|salt|alpha|beta|meterId|msk|opening)"/;

describe("market end to end: real nats-server, real chain, real pairings, real SQLite", () => {
  let nats: NatsServerHandle;
  let chain: LocalChain;
  const dirs: string[] = [];

  beforeAll(async () => {
    nats = await startNatsServer();
    chain = await startLocalChain();
  });
  afterAll(async () => {
    await chain?.stop();
    await nats?.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  async function run(marketId: string, extra: Partial<Parameters<typeof runDemo>[0]> = {}) {
    const dataDir = mkdtempSync(join(tmpdir(), `gridveil-${marketId}-`));
    dirs.push(dataDir);
    const recorder = await recordMarket(nats.url, marketId);
    let summary: DemoSummary;
    try {
      summary = await runDemo({
        meters: 6,
        rounds: 3,
        levels: 8,
        seed: 7,
        dataDir,
        natsUrl: nats.url,
        rpcUrl: chain.rpcUrl,
        accountKeys: chain.accountKeys,
        marketId,
        roundTimeoutMs: 90_000,
        ...extra,
      });
    } finally {
      await recorder.close();
    }
    const db = openDsoDatabase(join(dataDir, "dso", "dso.sqlite"));
    return { summary, db, messages: recorder.messages, dataDir };
  }

  it("6 meters: every on-chain match becomes a verified, settled trade; books balance; the chain and gateway see nothing in clear", async () => {
    const { summary, db, messages, dataDir } = await run("e2e-happy");
    try {
      const contractAddress = summary.contractAddress;

      // Every on-chain match is a trade in the DSO's database, and each one is settled.
      const matched = await matchedEvents(chain.rpcUrl, contractAddress);
      expect(matched.length).toBeGreaterThan(0);
      const trades = db.listTrades({});
      expect(trades.length).toBe(matched.length);
      const tradeByBidders = new Map(trades.map((t) => [`${t.buyId.toLowerCase()}|${t.sellId.toLowerCase()}`, t]));
      for (const event of matched) {
        const trade = tradeByBidders.get(`${event.buyBidder.toLowerCase()}|${event.sellBidder.toLowerCase()}`);
        expect(trade, `trade for match ${event.buyBidder}/${event.sellBidder}`).toBeDefined();
        expect(trade!.stage).toBe("settled");
        expect(trade!.terms!.buyLevel).toBeGreaterThanOrEqual(trade!.terms!.sellLevel);
        expect(trade!.terms!.quantityWh).toBe(Math.min(trade!.buyOpening!.quantityWh, trade!.sellOpening!.quantityWh));
      }
      expect(summary.tradesSettled).toBe(matched.length);
      expect(summary.matches).toBe(matched.length);
      expect(summary.voided).toBe(0);

      // Double entry: the whole ledger and every trade sum to zero; each bill is the sum of its entries.
      expect(db.ledgerTotal()).toBe(0);
      expect(db.unbalancedTrades()).toEqual([]);
      expect(summary.ledgerBalanced).toBe(true);
      const bills = db.bills();
      expect(bills.length).toBeGreaterThan(0);
      for (const bill of bills) {
        expect(bill.totalMicro).toBe(bill.entries.reduce((sum, entry) => sum + entry.amountMicro, 0));
      }
      for (const bill of summary.bills) {
        expect(bill.totalMicro).toBe(db.bill(bill.meterId, bill.period).totalMicro);
      }

      // A partial fill re-bids its remainder: the meter with the larger side asks a ticket for a new one-time id
      // after the match.
      const partial = trades.find((t) => t.buyOpening!.quantityWh !== t.sellOpening!.quantityWh);
      expect(partial, "the seeded profiles produce at least one partial fill").toBeDefined();
      const larger = partial!.buyOpening!.quantityWh > partial!.sellOpening!.quantityWh ? partial!.buyerMeterId : partial!.sellerMeterId;
      // (Ticket requests are sealed to the DSO: its database, not the wire, says which one-time ids are whose.)
      const matchedAt = partial!.createdAt;
      const laterTickets = db
        .listOneTimeIds({ meterId: larger! })
        .filter((pair) => pair.issuedAt >= matchedAt && pair.bidder !== partial!.buyId && pair.bidder !== partial!.sellId);
      const issued = JSON.stringify({ matchedAt, larger, tickets: db.listOneTimeIds({ meterId: larger! }).map((pair) => [pair.issuedAt, pair.bidder]) });
      expect(laterTickets.length, issued).toBeGreaterThan(0);

      // What the gateway and the chain saw: the bids stream, the market events, the cancel requests, the gateway's
      // spans and every transaction's input. No price level, quantity, salt, randomizer or permanent id.
      const meterIds = bills.map((bill) => bill.meterId);
      expect(meterIds.length).toBeGreaterThanOrEqual(6);
      const gatewaySide = messages.filter((m) => /\.(gateway|market)\.[a-z.]+$/.test(m.subject) && !m.subject.endsWith(".state"));
      expect(gatewaySide.filter((m) => m.subject.endsWith(".gateway.submit")).length).toBe(summary.bids);
      for (const message of gatewaySide) {
        expect(message.data, message.subject).not.toMatch(SECRET_FIELDS);
        for (const id of meterIds) expect(message.data).not.toContain(id);
      }
      const gatewaySpans = readSpanFile(spanFilePath(dataDir)).filter((span) => span.service === "gridveil-gateway");
      expect(gatewaySpans.length).toBeGreaterThan(0);
      for (const span of gatewaySpans) {
        const text = JSON.stringify(span.attributes);
        expect(text).not.toMatch(/priceLevel|quantity|salt|alpha|beta|meter\.id/i);
        for (const id of meterIds) expect(text).not.toContain(id);
      }
      const iface = getMarketInterface();
      const inputs = await chainInputs(chain.rpcUrl);
      let placedBids = 0;
      for (const input of inputs) {
        for (const id of meterIds) expect(input.data).not.toContain(utf8Hex(id));
        if (input.to?.toLowerCase() !== contractAddress.toLowerCase()) continue;
        const call = iface.parseTransaction({ data: input.data });
        if (call?.name !== "placeBids" && call?.name !== "placeBid") continue;
        const bids = (call.name === "placeBids" ? call.args[0] : [call.args[0]]) as { left: bigint[]; right: bigint[] }[];
        for (const bid of bids) {
          placedBids += 1;
          // The only bid fields besides public metadata are ciphertext words: curve coordinates, never small clear numbers.
          for (const word of [...bid.left, ...bid.right]) expect(word > 2n ** 64n).toBe(true);
        }
      }
      expect(placedBids).toBeGreaterThanOrEqual(summary.bids);

      // Tracing (PROTOCOL §6 trace context): the sample trade's spans come from all three services; every parent is present, every
      // link points at a span of the set (the two bids' traces), and no attribute carries a secret of the trade.
      expect(summary.sampleTradeId).toMatch(/^0x[0-9a-f]{64}$/);
      const sample = db.getTrade(summary.sampleTradeId!)!;
      const spans = tradeSpans(readSpanFile(spanFilePath(dataDir)), summary.sampleTradeId!);
      expect(new Set(spans.map((span) => span.service))).toEqual(new Set(["gridveil-dso", "gridveil-gateway", "gridveil-meter"]));
      const ids = new Set(spans.map((span) => span.spanId));
      for (const span of spans) if (span.parentSpanId !== null) expect(ids.has(span.parentSpanId), `${span.name}'s parent`).toBe(true);
      const tradeSpan = spans.find((span) => span.name === "dso.trade")!;
      expect(tradeSpan.links).toHaveLength(2);
      const bidRoots = spans.filter((span) => span.name === "meter.bid" && span.attributes["gridveil.trade.id"] === summary.sampleTradeId);
      expect(new Set(bidRoots.map((span) => span.traceId))).toEqual(new Set(tradeSpan.links.map((link) => link.traceId)));
      for (const side of ["buy", "sell"] as const) {
        const bidTrace = spans.filter((span) => span.traceId === bidRoots.find((root) => root.attributes["gridveil.side"] === side)?.traceId);
        for (const name of ["meter.encrypt", "meter.ticket", "meter.submit", "gateway.bid", "meter.opening", "meter.verify", "meter.settled"]) {
          expect(bidTrace.map((span) => span.name), `${side} bid trace`).toContain(name);
        }
      }
      expect(spans.some((span) => span.name === "chain.tx" && Number(span.attributes["gridveil.gas.used"]) > 0)).toBe(true);
      expect(spans.some((span) => span.name === "dso.settlement")).toBe(true);
      const secrets = [sample.buyOpening!, sample.sellOpening!].flatMap((o) => [o.salt, o.alpha, o.beta]);
      const attributeText = JSON.stringify(spans.map((span) => [span.attributes, span.events.map((event) => event.attributes)]));
      for (const secret of secrets) expect(attributeText).not.toContain(String(secret));
      expect(attributeText).not.toMatch(/priceLevel|quantityWh|"salt"|"alpha"|"beta"/);

      // `gridveil trace --json` prints the same set of spans (the CLI as a user runs it).
      const printed = JSON.parse(
        execFileSync(process.execPath, ["--import", "tsx", "actors/cli/main.ts", "trace", summary.sampleTradeId!, "--spans", spanFilePath(dataDir), "--json"], {
          encoding: "utf8",
        }),
      ) as { spans: { spanId: string; service: string; parentSpanId: string | null; links: unknown[] }[] };
      expect(new Set(printed.spans.map((span) => span.spanId))).toEqual(ids);
    } finally {
      db.close();
    }
  });

  it("a meter that never opens voids its matches and the counterpart re-bids; a forged opening is detected", async () => {
    const { summary, db, messages } = await run("e2e-faults", {
      seed: 11,
      meterFaults: { "meter-002": { neverOpen: true }, "meter-001": { forgeOpening: true } },
      // Timeouts long enough that a forged opening still arrives in time on a loaded CI machine (it once did not at 1.5 s).
      machineConfig: { dso: { openingTimeoutMs: 3_000 }, meter: { termsTimeoutMs: 6_000, maxAttemptsPerPlan: 2 } },
    });
    try {
      const trades = db.listTrades({});
      const voided = trades.filter((t) => t.stage === "voided");
      expect(voided.length).toBe(summary.voided);
      // meter-002 (a consumer) never opens: its trades void on the opening timeout.
      const silent = voided.filter((t) => t.voidReason === "openingTimeout");
      expect(silent.length).toBeGreaterThan(0);
      // meter-001 (a PV household) forges its openings: the DSO's re-encryption check rejects them.
      const forged = voided.filter((t) => t.voidReason === "openingInvalid");
      expect(forged.length).toBeGreaterThan(0);
      for (const trade of voided) expect(trade.settledAt).toBeNull();
      // Nothing settled with a faulty meter; the ledger still balances.
      for (const trade of trades.filter((t) => t.stage === "settled")) {
        expect([trade.buyerMeterId, trade.sellerMeterId]).not.toContain("meter-002");
        expect([trade.buyerMeterId, trade.sellerMeterId]).not.toContain("meter-001");
      }
      expect(db.ledgerTotal()).toBe(0);
      // The honest counterpart of a silent match re-bids with a new one-time id (a new ticket after the void).
      const victim = silent[0]!;
      const honestSide = victim.buyerMeterId === "meter-002" ? victim.sellerMeterId! : victim.buyerMeterId!;
      // (Ticket requests and notices are sealed: the DSO's database says which one-time ids are whose, and when.)
      const voidedAt = victim.updatedAt;
      const ticketsOfHonest = db.listOneTimeIds({ meterId: honestSide }).filter((pair) => pair.issuedAt >= voidedAt);
      expect(messages.some((m) => m.subject.endsWith(".voided") && m.data.includes(victim.tradeId))).toBe(true);
      expect(ticketsOfHonest.length).toBeGreaterThan(0);
    } finally {
      db.close();
    }
  });
});
