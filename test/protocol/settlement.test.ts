// Settlement: every trade's postings sum to zero; bills match an independent reference on random cases (seeded).
import { describe, expect, it } from "vitest";
import { defaultMarketConfig, type FeePayer } from "../../actors/protocol/marketConfig.ts";
import {
  InvalidSettlementInputError,
  UnbalancedPostingsError,
  amountMicro,
  assertBalanced,
  netByAccount,
  settleTrade,
  type Tariffs,
} from "../../actors/protocol/settlement.ts";

const tariffs: Tariffs = defaultMarketConfig();

/** mulberry32: small, seeded, reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The reference: what each party's bill should be, written directly from PROTOCOL §5 step 7 with floating-point
 * division and Math.round (exact here: every product is an integer below 2^53, and x.5 is representable).
 */
function referenceBills(c: { price: number; q: number; fed: number; consumed: number; t: Tariffs }) {
  const delivered = c.fed < c.q ? c.fed : c.q;
  const shortfall = c.q - delivered;
  const needed = c.consumed < c.q ? c.consumed : c.q;
  const retailWh = needed > delivered ? needed - delivered : 0;
  const energy = Math.round((c.price * delivered) / 1000);
  const retail = Math.round((c.t.retailTariffMicroPerKWh * retailWh) / 1000);
  const imbalance = Math.round((c.t.imbalanceRateMicroPerKWh * shortfall) / 1000);
  const fee = Math.round((c.t.feeMicroPerKWh * delivered) / 1000);
  const sellerFee = c.t.feePayer === "seller" ? fee : c.t.feePayer === "split" ? Math.floor(fee / 2) : 0;
  // `+ 0` turns −0 into 0 for exact comparisons.
  return {
    buyer: -energy - retail - (fee - sellerFee) + 0,
    seller: energy - imbalance - sellerFee + 0,
    revenue: fee,
    retail,
    imbalance,
  };
}

describe("settleTrade", () => {
  it("posts a full delivery: buyer pays price × delivered plus its fee share, seller earns it minus its share", () => {
    const s = settleTrade({ buyerMeterId: "b", sellerMeterId: "s", priceMicroPerKWh: 190_000, quantityWh: 1_500, fedWh: 1_600, consumedWh: 1_500 }, tariffs);
    expect(s).toMatchObject({ deliveredWh: 1_500, shortfallWh: 0, retailSuppliedWh: 0 });
    const net = netByAccount(s.postings);
    // energy 285000; fee 15000 µ/kWh × 1.5 kWh = 22500 split 11250/11250
    expect(net.get("meter:b")).toBe(-285_000 - 11_250);
    expect(net.get("meter:s")).toBe(285_000 - 11_250);
    expect(net.get("dso:revenue")).toBe(22_500);
    expect(net.has("dso:retail")).toBe(false);
  });

  it("supplies a shortfall to the buyer at retail and charges the seller imbalance", () => {
    const s = settleTrade({ buyerMeterId: "b", sellerMeterId: "s", priceMicroPerKWh: 200_000, quantityWh: 1_000, fedWh: 600, consumedWh: 900 }, tariffs);
    expect(s).toMatchObject({ deliveredWh: 600, shortfallWh: 400, retailSuppliedWh: 300 });
    const net = netByAccount(s.postings);
    expect(net.get("dso:retail")).toBe(96_000); // 300 Wh × 0.32 €/kWh
    expect(net.get("dso:imbalance")).toBe(160_000); // 400 Wh × 0.40 €/kWh
    expect(net.get("meter:b")).toBe(-120_000 - 96_000 - 4_500);
    expect(net.get("meter:s")).toBe(120_000 - 160_000 - 4_500);
  });

  it("keeps a meter that trades with itself balanced (distinct kinds per role)", () => {
    const s = settleTrade({ buyerMeterId: "x", sellerMeterId: "x", priceMicroPerKWh: 111_111, quantityWh: 7, fedWh: 3, consumedWh: 7 }, tariffs);
    const keys = s.postings.map((p) => `${p.account}|${p.kind}`);
    expect(new Set(keys).size).toBe(keys.length);
    assertBalanced(s.postings);
  });

  it("rounds each amount half up to a whole µ-unit", () => {
    expect(amountMicro(1, 500)).toBe(1); // 0.5 → 1
    expect(amountMicro(1, 499)).toBe(0);
    expect(amountMicro(3, 1_500)).toBe(5); // 4.5 → 5
    expect(amountMicro(280_000, 9_007_199)).toBe(2_522_015_720);
  });

  it("rejects invalid inputs", () => {
    const base = { buyerMeterId: "b", sellerMeterId: "s", priceMicroPerKWh: 1, quantityWh: 1, fedWh: 1, consumedWh: 1 };
    expect(() => settleTrade({ ...base, quantityWh: 0 }, tariffs)).toThrow(InvalidSettlementInputError);
    expect(() => settleTrade({ ...base, fedWh: -1 }, tariffs)).toThrow(InvalidSettlementInputError);
    expect(() => settleTrade({ ...base, consumedWh: 0.5 }, tariffs)).toThrow(InvalidSettlementInputError);
    expect(() => settleTrade({ ...base, priceMicroPerKWh: -5 }, tariffs)).toThrow(InvalidSettlementInputError);
    expect(() => assertBalanced([{ amountMicro: 1 }, { amountMicro: -2 }])).toThrow(UnbalancedPostingsError);
  });

  it("property: on 5000 random trades the postings sum to zero and every bill equals the reference", () => {
    const random = rng(20_260_524);
    const int = (max: number) => Math.floor(random() * (max + 1));
    const payers: FeePayer[] = ["buyer", "seller", "split"];
    const ledger = new Map<string, number>();
    const expectedLedger = new Map<string, number>();
    const add = (map: Map<string, number>, key: string, amount: number) => map.set(key, (map.get(key) ?? 0) + amount);
    for (let i = 0; i < 5_000; i++) {
      const t: Tariffs = {
        retailTariffMicroPerKWh: int(600_000),
        imbalanceRateMicroPerKWh: int(900_000),
        feeMicroPerKWh: int(50_000),
        feePayer: payers[int(2)],
      };
      const q = 1 + int(random() < 0.2 ? 20 : 200_000);
      const c = { price: int(500_000), q, fed: int(Math.ceil(q * 1.3)), consumed: int(Math.ceil(q * 1.3)), t };
      const buyer = `m${int(9)}`;
      let seller = `m${int(9)}`;
      if (seller === buyer) seller = `${buyer}x`;
      const s = settleTrade({ buyerMeterId: buyer, sellerMeterId: seller, priceMicroPerKWh: c.price, quantityWh: q, fedWh: c.fed, consumedWh: c.consumed }, t);

      expect(s.postings.reduce((sum, p) => sum + p.amountMicro, 0)).toBe(0);
      expect(s.postings.every((p) => Number.isSafeInteger(p.amountMicro) && p.amountMicro !== 0)).toBe(true);
      const net = netByAccount(s.postings);
      const ref = referenceBills(c);
      expect(net.get(`meter:${buyer}`) ?? 0).toBe(ref.buyer);
      expect(net.get(`meter:${seller}`) ?? 0).toBe(ref.seller);
      expect(net.get("dso:revenue") ?? 0).toBe(ref.revenue);
      expect(net.get("dso:retail") ?? 0).toBe(ref.retail);
      expect(net.get("dso:imbalance") ?? 0).toBe(ref.imbalance);

      for (const p of s.postings) add(ledger, p.account, p.amountMicro);
      add(expectedLedger, `meter:${buyer}`, ref.buyer);
      add(expectedLedger, `meter:${seller}`, ref.seller);
      for (const [account, amount] of [["dso:revenue", ref.revenue], ["dso:retail", ref.retail], ["dso:imbalance", ref.imbalance]] as const) {
        add(expectedLedger, account, amount);
      }
    }
    // Bills over the whole random ledger: per-account sums agree, and the ledger as a whole sums to zero.
    for (const [account, amount] of expectedLedger) expect(ledger.get(account) ?? 0).toBe(amount);
    expect([...ledger.values()].reduce((a, b) => a + b, 0)).toBe(0);
  });
});
