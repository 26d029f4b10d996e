// End to end, version 2 (PROTOCOL §4 v2, §5 v2): a day of delivery slots in compressed time with the real DSO
// (epoch keys, certified bids, hints), gateway (slot market) and meters over a real nats-server, on the in-process
// chain kept on the market's clock. The DSO's database is the plaintext reference: every trade's terms must follow
// from the two certified openings, both of the same slot, and the ledger must balance.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDsoDatabase } from "../../actors/db/dsoDatabase.ts";
import { runDay, type DaySummary } from "../../actors/demo/runDay.ts";
import { parseMarketConfig } from "../../protocol/marketConfig.ts";
import { fixTradeTerms } from "../../protocol/clearing.ts";
import { dayDemoDefaults } from "../../actors/config/tools.ts";

// DSO mode (the default: the DSO encrypts) over 24 slots; meter mode (the paper's: the meter encrypts with the epoch key
// sealed to it at enrolment, the DSO re-encrypts to check, the counterpart's opening is re-encrypted against the chain's
// root) over a shorter day.
describe.each([
  { encryptAt: "dso" as const, SLOTS: 24, daySeconds: 16 },
  { encryptAt: "meter" as const, SLOTS: 12, daySeconds: 10 },
])("a day of version 2, encrypted at the $encryptAt (real DSO, gateway, meters, NATS and chain)", ({ encryptAt, SLOTS, daySeconds }) => {
  let dataDir: string;
  let summary: DaySummary;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "gridveil-day-"));
    summary = await runDay({ meters: 3, slots: SLOTS, levels: 1024, width: 1, encryptAt, seed: 3, dataDir, daySeconds, biddingSeconds: 3, timeoutMs: 120_000 });
  }, 180_000);

  afterAll(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("places bids per slot, trades, settles every trade it matched, and balances the ledger", () => {
    expect(summary.design).toBe("v2");
    expect(summary.encryptAt).toBe(encryptAt);
    expect(summary.bids).toBeGreaterThan(SLOTS);
    expect(summary.tradesSettled).toBeGreaterThan(0);
    expect(summary.tradesSettled + summary.voided + summary.disputed).toBe(summary.matches);
    expect(summary.voided + summary.disputed).toBe(0);
    expect(summary.ledgerBalanced).toBe(true);
    expect(summary.perSlot).toHaveLength(SLOTS);
    expect(summary.perSlot.reduce((sum, slot) => sum + slot.settled, 0)).toBe(summary.tradesSettled);
    expect(summary.bills.length).toBeGreaterThan(0);
    expect(summary.latencyMs["meter.certify"]?.count).toBeGreaterThan(0);
  });

  it("fixes each trade from the two certified openings of one slot (the plaintext reference), never across slots", () => {
    const db = openDsoDatabase(join(dataDir, "dso", "dso.sqlite"));
    try {
      const market = parseMarketConfig({
        priceLevels: { count: 1024, firstPriceMicroPerKWh: dayDemoDefaults.firstPriceMicroPerKWh, stepMicroPerKWh: dayDemoDefaults.stepMicroPerKWh },
      });
      const trades = db.listTrades({ stage: "settled" });
      expect(trades.length).toBe(summary.tradesSettled);
      for (const trade of trades) {
        const buy = db.certifiedBid(trade.buyId);
        const sell = db.certifiedBid(trade.sellId);
        expect(buy?.encryptAt).toBe(encryptAt);
        expect(buy?.side).toBe(0);
        expect(sell?.side).toBe(1);
        expect(buy?.slot).toBe(sell?.slot);
        expect(buy!.priceLevel).toBeGreaterThanOrEqual(sell!.priceLevel);
        const reference = fixTradeTerms({
          matchId: trade.tradeId,
          buyBidder: trade.buyId,
          sellBidder: trade.sellId,
          buyOpening: buy!,
          sellOpening: sell!,
          priceLevels: market.priceLevels,
          clearingRule: market.clearingRule,
        });
        expect(reference.ok).toBe(true);
        if (!reference.ok) continue;
        expect(trade.terms?.quantityWh).toBe(reference.terms.quantityWh);
        expect(trade.terms?.priceMicroPerKWh).toBe(reference.terms.priceMicroPerKWh);
      }
    } finally {
      db.close();
    }
  });
});
