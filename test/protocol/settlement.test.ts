// Settlement: every trade's postings sum to zero; bills match an independent reference on random cases (seeded).
import { describe, expect, it } from "vitest";
import { settleTrade as machineSettle } from "../../machines/tradeTerms.ts";
import { defaultMarketConfig, type FeePayer } from "../../protocol/marketConfig.ts";
import {
  InvalidSettlementInputError,
  UnbalancedPostingsError,
  amountMicro,
  assertBalanced,
  netByAccount,
  settleTrade,
  type Tariffs,
} from "../../protocol/settlement.ts";

const tariffs: Tariffs = defaultMarketConfig();
const BUY = "0x00000000000000000000000000000000000000b1";
const SELL = "0x00000000000000000000000000000000000000a5";

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
  return {
    buyer: -energy - retail - (fee - sellerFee) + 0,
    seller: energy - imbalance - sellerFee + 0,
    revenue: fee,
    retail,
    imbalance,
  };
}

describe("settleTrade", () => {
  it("posts a full delivery: buyer pays price × delivered plus the network fee, seller earns price × delivered", () => {
    const s = settleTrade({ buyerMeterId: "b", sellerMeterId: "s", priceMicroPerKWh: 190_000, quantityWh: 1_500, fedWh: 1_600, consumedWh: 1_500 }, tariffs);
    expect(s).toMatchObject({ deliveredWh: 1_500, shortfallWh: 0 });
    const net = netByAccount(s.postings);
    // energy 285000; fee 20000 µ/kWh × 1.5 kWh = 30000, paid by the buyer (default)
    expect(net.get("meter:b")).toBe(-285_000 - 30_000);
    expect(net.get("meter:s")).toBe(285_000);
    expect(net.get("dso:revenue")).toBe(30_000);
    expect(net.has("dso:retail")).toBe(false);
  });

  it("supplies a shortfall to the buyer at retail and charges the seller imbalance; a missing reading is nothing fed", () => {
    const s = settleTrade({ buyerMeterId: "b", sellerMeterId: "s", priceMicroPerKWh: 200_000, quantityWh: 1_000, fedWh: 600, consumedWh: null }, tariffs);
    expect(s).toMatchObject({ deliveredWh: 600, shortfallWh: 400 });
    const net = netByAccount(s.postings);
    expect(net.get("dso:retail")).toBe(120_000); // 400 Wh × 0.30 €/kWh
    expect(net.get("dso:imbalance")).toBe(80_000); // 400 Wh × 0.20 €/kWh
    expect(net.get("meter:b")).toBe(-120_000 - 120_000 - 12_000);
    expect(net.get("meter:s")).toBe(120_000 - 80_000);
    const split = netByAccount(settleTrade({ buyerMeterId: "b", sellerMeterId: "s", priceMicroPerKWh: 1, quantityWh: 1_000, fedWh: 1_000 }, { ...tariffs, networkFeeMicroPerKWh: 3, feePayer: "split" }).postings);
    expect([split.get("meter:b"), split.get("meter:s"), split.get("dso:revenue")]).toEqual([-1 - 2, 1 - 1, 3]);
  });

  it("keeps a meter that trades with itself balanced (distinct kinds per role)", () => {
    const s = settleTrade({ buyerMeterId: "x", sellerMeterId: "x", priceMicroPerKWh: 111_111, quantityWh: 7, fedWh: 3, consumedWh: 7 }, tariffs);
    const keys = s.postings.map((p) => `${p.account}|${p.kind}`);
    expect(new Set(keys).size).toBe(keys.length);
    assertBalanced(s.postings);
  });

  it("rounds each amount down to a whole µ-unit", () => {
    expect(amountMicro(1, 999)).toBe(0);
    expect(amountMicro(1, 1_000)).toBe(1);
    expect(amountMicro(3, 1_500)).toBe(4); // 4.5 → 4
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
        networkFeeMicroPerKWh: int(50_000),
        feePayer: payers[int(2)],
      };
      const q = 1 + int(random() < 0.2 ? 20 : 200_000);
      const c = { price: int(500_000), q, fed: int(Math.ceil(q * 1.3)), t };
      const buyer = `m${int(9)}`;
      let seller = `m${int(9)}`;
      if (seller === buyer) seller = `${buyer}x`;
      const s = settleTrade({ buyerMeterId: buyer, sellerMeterId: seller, priceMicroPerKWh: c.price, quantityWh: q, fedWh: c.fed, consumedWh: int(q) }, t);

      expect(s.postings.reduce((sum, p) => sum + p.amountMicro, 0)).toBe(0);
      expect(s.postings.every((p) => Number.isSafeInteger(p.amountMicro) && p.amountMicro !== 0)).toBe(true);
      const net = netByAccount(s.postings);
      const ref = referenceBills(c);
      expect(net.get(`meter:${buyer}`) ?? 0).toBe(ref.buyer);
      expect(net.get(`meter:${seller}`) ?? 0).toBe(ref.seller);
      expect(net.get("dso:revenue") ?? 0).toBe(ref.revenue);
      expect(net.get("dso:retail") ?? 0).toBe(ref.retail);
      expect(net.get("dso:imbalance") ?? 0).toBe(ref.imbalance);

      // The DSO machine computes settlements with machines/tradeTerms.ts: both must agree on every bill.
      if (t.feePayer === "buyer") {
        const machine = machineSettle({
          terms: { matchId: "m", buyBidder: BUY, sellBidder: SELL, buyLevel: 1, sellLevel: 0, quantityWh: q, priceMicroPerKWh: c.price, clearingRule: "midpoint" },
          buyReadingWh: null,
          sellReadingWh: c.fed,
          tariffs: t,
        });
        const machineNet = (match: (e: (typeof machine.entries)[number]) => boolean) =>
          Number(machine.entries.filter(match).reduce((sum, e) => sum + BigInt(e.amountMicro), 0n));
        expect(machineNet((e) => e.account.kind === "bidder" && e.account.bidder === BUY)).toBe(ref.buyer);
        expect(machineNet((e) => e.account.kind === "bidder" && e.account.bidder === SELL)).toBe(ref.seller);
        expect(machineNet((e) => e.account.kind === "dso" && e.account.book === "networkFees")).toBe(ref.revenue);
        expect(machineNet((e) => e.account.kind === "dso" && e.account.book === "retailSupply")).toBe(ref.retail);
        expect(machineNet((e) => e.account.kind === "dso" && e.account.book === "imbalance")).toBe(ref.imbalance);
      }

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
