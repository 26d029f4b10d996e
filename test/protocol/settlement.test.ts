// Settlement (PROTOCOL §5 trading step 6): every trade's lines sum to zero; each party's net equals an independent
// reference on thousands of seeded random trades; rounding, fees, shortfalls and bad inputs.
import { describe, expect, it } from "vitest";
import { InvalidSettlementInputError } from "../../protocol/errors.ts";
import type { TradeTerms } from "../../protocol/clearing.ts";
import { defaultMarketConfig, type FeePayer, type Tariffs } from "../../protocol/marketConfig.ts";
import { amountMicro, entriesSum, linesOf, settleTrade, type LedgerEntry } from "../../protocol/settlement.ts";
import { address, config } from "../machines/helpers.ts";
import { mulberry32 } from "../../actors/runtime/mulberry32.ts";

const tariffs: Tariffs = config().market;
const BUYER = address(1);
const SELLER = address(2);

function terms(quantityWh: number, priceMicroPerKWh = 150_000): TradeTerms {
  return { matchId: "m", buyBidder: BUYER, sellBidder: SELLER, buyLevel: 6, sellLevel: 4, quantityWh, priceMicroPerKWh, clearingRule: "midpoint" };
}

/** Net amount per account: a bidder, or a DSO book. */
function netByAccount(entries: readonly LedgerEntry[]): Map<string, number> {
  const net = new Map<string, number>();
  for (const entry of entries) {
    const key = entry.account.kind === "bidder" ? entry.account.bidder : entry.account.book;
    net.set(key, (net.get(key) ?? 0) + Number(entry.amountMicro));
  }
  return net;
}


/**
 * The reference: what each party's bill should be, written directly from PROTOCOL §5 step 6 with floating-point
 * division and Math.floor (exact here: every product is an integer below 2^53).
 */
function referenceBills(c: { price: number; q: number; fed: number; t: Tariffs }) {
  const delivered = c.fed < c.q ? c.fed : c.q;
  const shortfall = c.q - delivered;
  const energy = Math.floor((c.price * delivered) / 1000);
  const retail = Math.floor((c.t.retailTariffMicroPerKWh * shortfall) / 1000);
  const imbalance = Math.floor((c.t.imbalanceRateMicroPerKWh * shortfall) / 1000);
  const fee = Math.floor((c.t.networkFeeMicroPerKWh * delivered) / 1000);
  const sellerFee = c.t.feePayer === "seller" ? fee : c.t.feePayer === "split" ? Math.floor(fee / 2) : 0;
  // `+ 0` turns −0 into 0 for exact comparisons.
  return { buyer: -energy - retail - (fee - sellerFee) + 0, seller: energy - imbalance - sellerFee + 0, revenue: fee, retail, imbalance };
}

describe("settleTrade", () => {
  it("full delivery: energy buyer→seller and the fee buyer→DSO, nothing else", () => {
    const settlement = settleTrade({ terms: terms(600), buyReadingWh: 600, sellReadingWh: 600, tariffs });
    expect(settlement).toMatchObject({ deliveredWh: 600, shortfallWh: 0 });
    expect(settlement.entries).toEqual([
      { account: { kind: "bidder", bidder: BUYER }, amountMicro: "-90000", kind: "energy.buy" },
      { account: { kind: "bidder", bidder: SELLER }, amountMicro: "90000", kind: "energy.sell" },
      { account: { kind: "bidder", bidder: BUYER }, amountMicro: "-12000", kind: "fee.buyer" },
      { account: { kind: "dso", book: "dso:revenue" }, amountMicro: "12000", kind: "fee.revenue" },
    ]);
  });

  it("posts a full delivery above the quantity: buyer pays price × quantity plus the fee, seller earns price × quantity", () => {
    const s = settleTrade({ terms: terms(1_500, 190_000), buyReadingWh: 1_500, sellReadingWh: 1_600, tariffs: defaultMarketConfig() });
    expect(s).toMatchObject({ deliveredWh: 1_500, shortfallWh: 0 });
    const net = netByAccount(s.entries);
    // energy 285000; fee 20000 µ/kWh × 1.5 kWh = 30000, paid by the buyer (default)
    expect(net.get(BUYER)).toBe(-285_000 - 30_000);
    expect(net.get(SELLER)).toBe(285_000);
    expect(net.get("dso:revenue")).toBe(30_000);
    expect(net.has("dso:retail")).toBe(false);
  });

  it("shortfall: supplied to the buyer at retail, charged to the seller as imbalance", () => {
    const settlement = settleTrade({ terms: terms(600), buyReadingWh: 600, sellReadingWh: 400, tariffs });
    expect(settlement).toMatchObject({ deliveredWh: 400, shortfallWh: 200 });
    const debits = Object.fromEntries(settlement.entries.filter((e) => e.amountMicro.startsWith("-")).map((e) => [e.kind, e.amountMicro]));
    expect(debits).toEqual({ "energy.buy": "-60000", "fee.buyer": "-8000", "shortfall.supply": "-60000", "imbalance.charge": "-40000" });
    expect(entriesSum(settlement.entries)).toBe(0n);
    const net = netByAccount(settleTrade({ terms: terms(1_000, 200_000), buyReadingWh: null, sellReadingWh: 600, tariffs }).entries);
    expect(net.get("dso:retail")).toBe(120_000); // 400 Wh × 0.30 €/kWh
    expect(net.get("dso:imbalance")).toBe(80_000); // 400 Wh × 0.20 €/kWh
    expect(net.get(BUYER)).toBe(-120_000 - 120_000 - 12_000);
    expect(net.get(SELLER)).toBe(120_000 - 80_000);
  });

  it("a missing seller reading counts as nothing delivered; the buyer's reading does not change amounts", () => {
    const missing = settleTrade({ terms: terms(600), buyReadingWh: 600, sellReadingWh: null, tariffs });
    expect(missing).toMatchObject({ deliveredWh: 0, shortfallWh: 600, buyReadingWh: 600, sellReadingWh: null });
    expect(missing.entries.map((e) => e.kind)).not.toContain("energy.buy");
    const noBuyer = settleTrade({ terms: terms(600), buyReadingWh: null, sellReadingWh: 600, tariffs });
    expect(noBuyer.entries).toEqual(settleTrade({ terms: terms(600), buyReadingWh: 1, sellReadingWh: 600, tariffs }).entries);
  });

  it("charges the fee to the seller, or splits it with the seller's half rounded down", () => {
    const fees = (feePayer: FeePayer) =>
      settleTrade({ terms: terms(601), buyReadingWh: 601, sellReadingWh: 601, tariffs: { ...tariffs, feePayer, networkFeeMicroPerKWh: 15 } })
        .entries.filter((e) => e.kind.startsWith("fee.") && e.account.kind === "bidder")
        .map((e) => [e.account.kind === "bidder" ? e.account.bidder : "", e.amountMicro]);
    expect(fees("buyer")).toEqual([[BUYER, "-9"]]);
    expect(fees("seller")).toEqual([[SELLER, "-9"]]);
    expect(fees("split")).toEqual([
      [BUYER, "-5"],
      [SELLER, "-4"],
    ]);
    const split = netByAccount(settleTrade({ terms: terms(1_000, 1), buyReadingWh: 1_000, sellReadingWh: 1_000, tariffs: { ...tariffs, networkFeeMicroPerKWh: 3, feePayer: "split" } }).entries);
    expect([split.get(BUYER), split.get(SELLER), split.get("dso:revenue")]).toEqual([-1 - 2, 1 - 1, 3]);
  });

  it("keeps the two sides' lines distinct by kind (a meter that trades with itself stays balanced)", () => {
    const s = settleTrade({ terms: terms(7, 111_111), buyReadingWh: 7, sellReadingWh: 3, tariffs });
    const keys = s.entries.map((e) => `${e.account.kind === "bidder" ? "meter" : e.account.book}|${e.kind}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(entriesSum(s.entries)).toBe(0n);
  });

  it("over-delivery is capped at the traded quantity", () => {
    expect(settleTrade({ terms: terms(600), buyReadingWh: 900, sellReadingWh: 900, tariffs }).deliveredWh).toBe(600);
  });

  it("every settlement sums to exactly zero (many quantities, prices, readings)", () => {
    for (let q = 1; q < 5000; q += 373)
      for (let price = 0; price < 400_000; price += 33_333)
        for (const reading of [null, 0, 1, q - 1, q, q + 7])
          for (const feePayer of ["buyer", "seller", "split"] as const) {
            const settlement = settleTrade({ terms: terms(q, price), buyReadingWh: q, sellReadingWh: reading, tariffs: { ...tariffs, feePayer } });
            expect(entriesSum(settlement.entries)).toBe(0n);
            expect(settlement.deliveredWh + settlement.shortfallWh).toBe(q);
          }
  });

  it("rounds each amount down to a whole micro-unit", () => {
    expect(amountMicro(1, 999)).toBe(0n);
    expect(amountMicro(1, 1_000)).toBe(1n);
    expect(amountMicro(3, 1_500)).toBe(4n); // 4.5 → 4
    expect(amountMicro(150_000, 1)).toBe(150n);
    expect(amountMicro(280_000, 9_007_199)).toBe(2_522_015_720n);
  });

  it("refuses inputs that no validated trade has", () => {
    const ok = { buyReadingWh: 1, sellReadingWh: 1, tariffs };
    expect(() => settleTrade({ ...ok, terms: terms(0) })).toThrow(InvalidSettlementInputError);
    expect(() => settleTrade({ ...ok, sellReadingWh: -1, terms: terms(1) })).toThrow(InvalidSettlementInputError);
    expect(() => settleTrade({ ...ok, buyReadingWh: 0.5, terms: terms(1) })).toThrow(InvalidSettlementInputError);
    expect(() => settleTrade({ ...ok, terms: terms(1, -5) })).toThrow(InvalidSettlementInputError);
  });

  it("gives each party its own lines", () => {
    const s = settleTrade({ terms: terms(600), buyReadingWh: 600, sellReadingWh: 400, tariffs });
    expect(linesOf(s.entries, BUYER).map((e) => e.kind)).toEqual(["energy.buy", "fee.buyer", "shortfall.supply"]);
    expect(linesOf(s.entries, SELLER.toLowerCase() as typeof SELLER).map((e) => e.kind)).toEqual(["energy.sell", "imbalance.charge"]);
  });

  it("property: on 5000 random trades the lines sum to zero and every party's net equals the reference", () => {
    const random = mulberry32(20_260_524);
    const int = (max: number) => Math.floor(random() * (max + 1));
    const payers: FeePayer[] = ["buyer", "seller", "split"];
    const ledger = new Map<string, number>();
    const expectedLedger = new Map<string, number>();
    const add = (map: Map<string, number>, key: string, amount: number) => map.set(key, (map.get(key) ?? 0) + amount);
    for (let i = 0; i < 5_000; i++) {
      const t: Tariffs = {
        retailTariffMicroPerKWh: int(600_000),
        imbalanceRateMicroPerKWh: int(900_000),
        networkFeeMicroPerKWh: int(50_000),
        feePayer: payers[int(2)]!,
      };
      const q = 1 + int(random() < 0.2 ? 20 : 200_000);
      const c = { price: int(500_000), q, fed: int(Math.ceil(q * 1.3)), t };
      const buyer = address(100 + int(9));
      let seller = address(100 + int(9));
      if (seller === buyer) seller = address(200 + int(9));
      const s = settleTrade({
        terms: { ...terms(q, c.price), buyBidder: buyer, sellBidder: seller },
        buyReadingWh: int(q),
        sellReadingWh: c.fed,
        tariffs: t,
      });

      expect(entriesSum(s.entries)).toBe(0n);
      expect(s.entries.every((e) => Number.isSafeInteger(Number(e.amountMicro)) && e.amountMicro !== "0")).toBe(true);
      const net = netByAccount(s.entries);
      const ref = referenceBills(c);
      expect(net.get(buyer) ?? 0).toBe(ref.buyer);
      expect(net.get(seller) ?? 0).toBe(ref.seller);
      expect(net.get("dso:revenue") ?? 0).toBe(ref.revenue);
      expect(net.get("dso:retail") ?? 0).toBe(ref.retail);
      expect(net.get("dso:imbalance") ?? 0).toBe(ref.imbalance);

      for (const [account, amount] of net) add(ledger, account, amount);
      add(expectedLedger, buyer, ref.buyer);
      add(expectedLedger, seller, ref.seller);
      for (const [account, amount] of [["dso:revenue", ref.revenue], ["dso:retail", ref.retail], ["dso:imbalance", ref.imbalance]] as const) {
        add(expectedLedger, account, amount);
      }
    }
    // Bills over the whole random ledger: per-account sums agree, and the ledger as a whole sums to zero.
    for (const [account, amount] of expectedLedger) expect(ledger.get(account) ?? 0).toBe(amount);
    expect([...ledger.values()].reduce((a, b) => a + b, 0)).toBe(0);
  });
});
